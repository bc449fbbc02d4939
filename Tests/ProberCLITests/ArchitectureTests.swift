import Foundation
import Testing

/// The module rules of docs/architecture.md, read from the sources: who may import whom, and what exists once.
@Suite struct ArchitectureTests {
    static let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Sources")

    /// Every Swift file of each module, with its text.
    static func files() throws -> [(module: String, path: String, text: String)] {
        let fm = FileManager.default
        var out: [(String, String, String)] = []
        for module in try fm.contentsOfDirectory(atPath: sources.path).sorted() {
            let dir = sources.appendingPathComponent(module)
            guard let walker = fm.enumerator(atPath: dir.path) else { continue }
            for case let file as String in walker where file.hasSuffix(".swift") {
                let path = dir.appendingPathComponent(file).path
                out.append((module, "\(module)/\(file)", try String(contentsOfFile: path, encoding: .utf8)))
            }
        }
        return out
    }

    /// The modules a file imports.
    static func imports(_ text: String) -> Set<String> {
        Set(text.split(separator: "\n").compactMap { line -> String? in
            let words = line.split(separator: " ")
            guard let i = words.firstIndex(of: "import"), i + 1 < words.count else { return nil }
            return words[..<i].allSatisfy { $0.hasPrefix("@") } ? String(words[i + 1]) : nil
        })
    }

    /// Which of our modules each module may import (system modules and other packages are not listed).
    static let allowed: [String: Set<String>] = [
        "ProberCore": [],
        "ProberConfig": ["ProberCore"],
        "ProberStorage": ["ProberCore"],
        "ProberProbes": ["ProberCore", "CCurl"],
        "ProberStore": ["ProberCore", "ProberStorage", "CSQLite3", "CZlib"],
        // ProberStore for the rollup encoding both backends share (package access: Aggregate, PhaseCodec).
        "ProberPostgres": ["ProberCore", "ProberStorage", "ProberStore", "CPostgres"],
        "ProberBackends": ["ProberStorage", "ProberStore", "ProberPostgres"],
        "ProberDelivery": ["ProberCore", "ProberStorage"],
        "ProberHTTP": ["CZlib"],
        "ProberDocuments": ["ProberCore", "ProberStorage"],
        "ProberWeb": ["ProberCore", "ProberStorage", "ProberDocuments", "ProberHTTP"],
        "ProberEngine": ["ProberCore", "ProberConfig", "ProberProbes", "ProberStorage", "ProberStore", "ProberDelivery", "ProberHTTP",
                         "ProberDocuments", "ProberWeb", "ProberBackends", "CJemalloc"],
    ]

    @Test func modulesImportOnlyWhatTheirLayerAllows() throws {
        let ours = Set(try FileManager.default.contentsOfDirectory(atPath: Self.sources.path))
        var violations: [String] = []
        for file in try Self.files() {
            guard let allowed = Self.allowed[file.module] else { continue }
            for module in Self.imports(file.text).intersection(ours) where module != file.module && !allowed.contains(module) {
                violations.append("\(file.path) imports \(module)")
            }
        }
        #expect(violations.isEmpty, "\(violations.joined(separator: "\n"))")
    }

    @Test func onlyTheStoreTouchesSQLiteAndOnlyTheProbesTouchLibcurl() throws {
        for file in try Self.files() {
            let imports = Self.imports(file.text)
            if imports.contains("CSQLite3") { #expect(file.module == "ProberStore", "\(file.path)") }
            if imports.contains("CPostgres") { #expect(file.module == "ProberPostgres", "\(file.path)") }
            if imports.contains("CCurl") { #expect(file.module == "ProberProbes", "\(file.path)") }
            if imports.contains("CZlib") { #expect(["ProberHTTP", "ProberStore"].contains(file.module), "\(file.path)") }
            if imports.contains("CJemalloc") { #expect(file.module == "ProberEngine", "\(file.path)") }
        }
    }

    @Test func theIsDownPathAndSinkNameAreWrittenOnce() throws {
        let all = try Self.files().map(\.text).joined(separator: "\n")
        #expect(all.components(separatedBy: "\"/api/v2/incidents\"").count - 1 == 1)
        #expect(all.components(separatedBy: "\"isdown\"").count - 1 == 1)
    }

    @Test func theRunCommandOwnsNoComponent() throws {
        let run = try String(contentsOf: Self.sources.appendingPathComponent("prober/Run.swift"), encoding: .utf8)
        for owned in ["SampleWriter(", "OutboxWorker(", "IncidentTracker(", "Scheduler(", "MetricsServer(", "SignalHandling(",
                      "InstanceLock(", "dispatchMain()"] {
            #expect(!run.contains(owned), "Run.swift builds \(owned)")
        }
    }
}
