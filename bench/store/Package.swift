// swift-tools-version:6.0
// The store benchmark: a separate package so `swift test` at the root never builds it. Run ./run.
import PackageDescription

let package = Package(
    name: "store-bench",
    platforms: [.macOS(.v13)],
    dependencies: [.package(name: "prober", path: "../..")],
    targets: [
        .executableTarget(name: "store-bench", dependencies: [.product(name: "ProberStore", package: "prober")]),
    ]
)
