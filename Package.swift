// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "prober",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "prober", targets: ["prober"]),
        // For the benchmarks under bench/ (separate packages depending on this one by path).
        .library(name: "ProberStore", targets: ["ProberStore", "ProberCore"]),
        .library(name: "ProberProbes", targets: ["ProberProbes"]),
        .library(name: "ProberWeb", targets: ["ProberWeb"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        // C libraries at the edge: typed shims for the calls Swift cannot import.
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),
        .systemLibrary(
            name: "CSQLite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        // gzip for the listener's responses. The only module that imports it is ProberHTTP.
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        // The allocator: jemalloc replaces glibc's malloc for the whole process (libcurl allocates a check on the
        // probe thread, its sample is freed on others). ProberEngine imports it, for `mallctl`.
        .systemLibrary(
            name: "CJemalloc",
            providers: [.apt(["libjemalloc-dev"])]
        ),
        // jemalloc's options for the executable (`malloc_conf`: one arena, freed pages handed back after 1 s), linked
        // into `prober` only: jemalloc reads the symbol when it starts.
        .target(name: "CJemallocOptions", dependencies: ["CJemalloc"]),
        .systemLibrary(
            name: "CPostgres",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),

        // The domain: probe specs, samples, thresholds, evaluator, incidents, descriptions. No C, no I/O.
        .target(name: "ProberCore"),
        // Probe files: YAML -> validated specs, with path:line:column diagnostics.
        .target(name: "ProberConfig", dependencies: [
            "ProberCore",
            .product(name: "Yams", package: "Yams"),
        ]),
        // HTTP (libcurl multi) and TCP probes. The only module that imports CCurl.
        .target(name: "ProberProbes", dependencies: ["ProberCore", "CCurl"]),
        // The storage interface: protocols and plain values, no C and no I/O.
        .target(name: "ProberStorage", dependencies: ["ProberCore"]),
        // SQLite: samples, rollups, incidents, outbox. The only module that imports CSQLite3.
        .target(name: "ProberStore", dependencies: ["ProberCore", "ProberStorage", "CSQLite3", "CZlib"]),
        // PostgreSQL (libpq): the shared history of a fleet. The only module that imports CPostgres; it shares
        // the rollup encoding (Aggregate, PhaseCodec) with ProberStore, so both backends store the same bytes.
        .target(name: "ProberPostgres", dependencies: ["ProberCore", "ProberStorage", "ProberStore", "CPostgres"]),
        // `StorageBackend.open`: the one place that picks a backend for `--db` (a path or a postgres:// URL).
        .target(name: "ProberBackends", dependencies: ["ProberStorage", "ProberStore", "ProberPostgres"]),
        // Incident delivery: the outbox worker and one file per sink.
        .target(name: "ProberDelivery", dependencies: [
            "ProberCore", "ProberStorage",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // A small HTTP/1.1 server (sockets, parsing, routing) for `--listen`.
        .target(name: "ProberHTTP", dependencies: ["CZlib"]),
        // The documents of `--json` and `/api/v1`, built from the storage interface's values.
        .target(name: "ProberDocuments", dependencies: ["ProberCore", "ProberStorage"]),
        // The pages (HTML with inline SVG) served on `--listen` and written by `prober report`.
        .target(name: "ProberWeb", dependencies: ["ProberCore", "ProberStorage", "ProberDocuments", "ProberHTTP"]),
        // Scheduler and the run loop: probes -> store -> evaluator -> incidents.
        .target(name: "ProberEngine", dependencies: [
            "ProberCore", "ProberConfig", "ProberProbes", "ProberStorage", "ProberStore", "ProberDelivery", "ProberHTTP",
            "ProberDocuments", "ProberWeb", "ProberBackends", "CJemalloc",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The command line: one file per subcommand.
        .executableTarget(name: "prober", dependencies: [
            "ProberCore", "ProberConfig", "ProberProbes", "ProberStorage", "ProberStore", "ProberDelivery", "ProberEngine", "ProberHTTP",
            "ProberDocuments", "ProberWeb", "ProberBackends", "CJemallocOptions",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        // Loopback HTTP/TCP servers for tests (real sockets, port 0).
        .target(name: "ProberTestSupport", path: "Tests/ProberTestSupport"),
        .testTarget(name: "ProberCoreTests", dependencies: ["ProberCore", "ProberTestSupport"]),
        .testTarget(name: "ProberDocumentsTests", dependencies: [
            "ProberDocuments", "ProberStorage", "ProberStore", "ProberBackends", "ProberCore", "ProberTestSupport",
        ]),
        .testTarget(name: "ProberConfigTests", dependencies: ["ProberConfig", "ProberCore", "ProberTestSupport"]),
        .testTarget(name: "ProberProbesTests", dependencies: ["ProberProbes", "ProberCore", "ProberTestSupport"]),
        // The storage conformance suite, run against every backend by Tests/ProberStoreTests/SQLiteConformanceTests.swift.
        .target(name: "ProberStorageConformance", dependencies: ["ProberStorage", "ProberCore", "ProberTestSupport"],
                path: "Tests/ProberStorageConformance"),
        .testTarget(name: "ProberStoreTests", dependencies: [
            "ProberStore", "ProberStorage", "ProberStorageConformance", "ProberCore", "CSQLite3", "ProberTestSupport",
            "ProberBackends", "ProberPostgres",
        ]),
        // PostgreSQL-only behaviour (partitions, two probers racing, leases, start-up errors) on a throwaway cluster.
        .testTarget(name: "ProberPostgresTests", dependencies: [
            "prober", "ProberPostgres", "ProberBackends", "ProberStorage", "ProberCore", "ProberTestSupport", "ProberEngine",
            "ProberDocuments",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "ProberDeliveryTests", dependencies: [
            "ProberDelivery", "ProberStorage", "ProberStore", "ProberCore", "ProberEngine", "ProberProbes", "ProberTestSupport",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "ProberEngineTests", dependencies: [
            "prober", "ProberEngine", "ProberCore", "ProberProbes", "ProberStorage", "ProberStore", "ProberDelivery", "ProberHTTP", "ProberWeb", "ProberTestSupport",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // "prober": the built binary runs a listener in a child process (a lowered descriptor limit).
        .testTarget(name: "ProberHTTPTests", dependencies: ["prober", "ProberHTTP", "ProberTestSupport", "CZlib"]),
        // libFuzzer over the probe-file loader: `make fuzz` builds it with -sanitize=fuzzer in .build-fuzz.
        .executableTarget(name: "ProberFuzz", dependencies: ["ProberConfig"], path: "Tests/ProberFuzz", exclude: ["corpus"]),
        // The pages: HTML and charts as values, pages from a real SQLite file, and in headless Chromium.
        .testTarget(name: "ProberWebTests", dependencies: [
            "prober", "ProberWeb", "ProberDocuments", "ProberHTTP", "ProberStorage", "ProberStore", "ProberBackends", "ProberCore",
            "ProberTestSupport",
        ]),
        .testTarget(name: "ProberCLITests", dependencies: ["prober", "ProberTestSupport", "ProberStorage", "ProberStore", "ProberCore", "CSQLite3"]),
    ]
)
