// swift-tools-version:6.0
// The pages benchmark: a separate package so `swift test` at the root never builds it. Run ./run.
import PackageDescription

let package = Package(
    name: "pages-bench",
    platforms: [.macOS(.v13)],
    dependencies: [.package(name: "prober", path: "../..")],
    targets: [
        .executableTarget(name: "pages-bench", dependencies: [
            .product(name: "ProberStore", package: "prober"),
            .product(name: "ProberWeb", package: "prober"),
        ]),
    ]
)
