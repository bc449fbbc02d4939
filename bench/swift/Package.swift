// swift-tools-version:6.0
// The CurlEngine benchmark: its own package so `swift test` at the root never builds it.
import PackageDescription

let package = Package(
    name: "probe-bench",
    dependencies: [.package(name: "prober", path: "../..")],
    targets: [
        .executableTarget(name: "probe-bench", dependencies: [.product(name: "ProberProbes", package: "prober")]),
    ]
)
