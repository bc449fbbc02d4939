import Foundation
import Logging
import ProberCore
import ProberStore
import ProberTestSupport
import Testing
@testable import ProberEngine

/// The daemon in-process: real probe files, a loopback target, a SQLite file in a temporary folder.
@Suite struct DaemonTests {
    let folder: URL
    let target: TestHTTPServer

    init() throws {
        folder = try TemporaryDirectory().url
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("probes"), withIntermediateDirectories: true)
        target = try TestHTTPServer { _ in .respond(status: 200, body: "ok") }
    }

    func writeProbes(_ names: [String]) throws {
        let probes = names.map { "  - { name: \($0), interval: 200ms, timeout: 150ms, http: { url: \"http://127.0.0.1:\(target.port)/\($0)\" } }" }
        try ("probes:\n" + probes.joined(separator: "\n") + "\n")
            .write(to: folder.appendingPathComponent("probes/p.yaml"), atomically: true, encoding: .utf8)
    }

    func configuration() -> Daemon.Configuration {
        Daemon.Configuration(probes: folder.appendingPathComponent("probes").path,
                             database: folder.appendingPathComponent("prober.db").path, environment: [:])
    }

    func stored(_ probe: String) throws -> Int {
        let store = try Store(path: folder.appendingPathComponent("prober.db").path, readOnly: true)
        return try store.recentSamples(probe: probe, limit: 1_000).count
    }

    @Test func startsReloadsAndStopsWithEverySampleStored() throws {
        defer { target.stop(); try? FileManager.default.removeItem(at: folder) }
        try writeProbes(["a"])
        let (logger, entries) = CapturingLogHandler.logger()
        let daemon = try Daemon(configuration: configuration(), logger: logger)
        daemon.start()
        #expect(waitUntil { target.requests.contains { $0.path == "/a" } })

        try writeProbes(["a", "b"])
        daemon.reload()
        #expect(waitUntil { target.requests.contains { $0.path == "/b" } })
        daemon.stop()
        daemon.stop() // idempotent

        // Stopping drained the run loop and closed the writer: every check the target answered is stored.
        let answered = target.requests.filter { $0.path == "/a" }.count
        #expect(try stored("a") == answered)
        #expect(try stored("b") >= 1)
        #expect(entries.withLock { $0.contains { $0.message.hasPrefix("reloaded: 2 probes; added b") } })

        // The instance lock went with it: a second daemon can take the same database.
        let next = try Daemon(configuration: configuration(), logger: logger)
        next.stop()
    }

    @Test func aReloadRegistersOnlyTheProbesThatChanged() throws {
        defer { target.stop(); try? FileManager.default.removeItem(at: folder) }
        try writeProbes(["a", "b"])
        let (logger, entries) = CapturingLogHandler.logger()
        let daemon = try Daemon(configuration: configuration(), logger: logger)
        defer { daemon.stop() }
        // An edit of `a`'s row behind the daemon's back shows whether a reload writes it again. Made after the
        // daemon registered its probes (in `init`) and before it starts writing samples, which locked the file
        // against the edit in a fresh-clone run.
        let store = try Store(path: folder.appendingPathComponent("prober.db").path)
        try store.register([ProbeSpec(name: "a", target: .http(HTTPTarget(url: "http://edited.invalid/a")))])
        daemon.start()
        let edited = try #require(try store.probeInfo("a")).target
        let b = try #require(try store.probeInfo("b")).target

        // `a` unchanged, `b` checks another path.
        try ("probes:\n  - { name: a, interval: 200ms, timeout: 150ms, http: { url: \"http://127.0.0.1:\(target.port)/a\" } }\n"
             + "  - { name: b, interval: 200ms, timeout: 150ms, http: { url: \"http://127.0.0.1:\(target.port)/b2\" } }\n")
            .write(to: folder.appendingPathComponent("probes/p.yaml"), atomically: true, encoding: .utf8)
        daemon.reload()
        #expect(entries.withLock { $0.contains { $0.message.hasPrefix("reloaded: 2 probes; changed b") } })
        #expect(try store.probeInfo("a")?.target == edited)
        let registered = try #require(try store.probeInfo("b")).target
        #expect(registered != b && registered.hasSuffix("/b2"))
    }

    @Test func changedProbesAreTheNewAndTheDifferentIncludingWhereDeclared() {
        func spec(_ name: String, _ path: String, line: Int = 1) -> ProbeSpec {
            ProbeSpec(name: name, target: .http(HTTPTarget(url: "http://127.0.0.1:9/\(path)")),
                      source: SourceLocation(file: "p.yaml", line: line, column: 3))
        }
        let previous = [spec("same", "x"), spec("url", "x"), spec("moved", "x", line: 2), spec("removed", "x")]
        let next = [spec("same", "x"), spec("url", "y"), spec("moved", "x", line: 3), spec("new", "x")]
        #expect(Daemon.changed(next, since: previous).map(\.name) == ["url", "moved", "new"])
        #expect(Daemon.changed(next, since: next).isEmpty)
    }

    @Test func aSecondDaemonOnTheSameDatabaseIsRefusedWithExitCode1() throws {
        defer { target.stop(); try? FileManager.default.removeItem(at: folder) }
        try writeProbes(["a"])
        let first = try Daemon(configuration: configuration(), logger: Logger(label: "test"))
        defer { first.stop() }
        #expect { try Daemon(configuration: configuration(), logger: Logger(label: "test")) } throws: { error in
            (error as? DaemonError)?.exitCode == 1
        }
    }

    @Test func invalidProbeFilesAreAConfigurationErrorWithExitCode2() throws {
        defer { target.stop(); try? FileManager.default.removeItem(at: folder) }
        try "probes:\n  - { name: x, http: { url: 42 } }\n"
            .write(to: folder.appendingPathComponent("probes/p.yaml"), atomically: true, encoding: .utf8)
        #expect { try Daemon(configuration: configuration(), logger: Logger(label: "test")) } throws: { error in
            guard let error = error as? DaemonError else { return false }
            return error.exitCode == 2 && error.description.contains("p.yaml:2:")
        }
    }

    @Test func aReloadThatOutlastsItsDeadlineIsAbandonedAndTheCurrentSetKeepsRunning() throws {
        defer { target.stop(); try? FileManager.default.removeItem(at: folder) }
        try writeProbes(["a"])
        var configuration = configuration()
        configuration.reloadDeadline = .milliseconds(1)
        let (logger, entries) = CapturingLogHandler.logger()
        let daemon = try Daemon(configuration: configuration, logger: logger)
        daemon.start()
        defer { daemon.stop() }
        #expect(waitUntil { target.requests.contains { $0.path == "/a" } })

        // 5,000 probes (1 MB of YAML): loading them takes far longer than 1 ms.
        try writeProbes((0..<5_000).map { "slow-\($0)" })
        daemon.reload()
        #expect(entries.withLock { $0.contains { $0.level == .error && $0.message.hasPrefix("reload abandoned: loading ") } })
        // The current set runs on, unchanged: `a` is still checked, none of the new probes is.
        let before = target.requests.filter { $0.path == "/a" }.count
        #expect(waitUntil { target.requests.filter { $0.path == "/a" }.count > before })
        #expect(!target.requests.contains { $0.path.hasPrefix("/slow-") })
        #expect(!entries.withLock { $0.contains { $0.message.hasPrefix("reloaded:") } })
    }
}
