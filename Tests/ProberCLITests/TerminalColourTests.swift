import Foundation
import ProberCore
import ProberStore
import ProberTestSupport
import Testing

/// States in colour on a terminal, and only there: `prober status` and `prober incidents` run by the built
/// binary under a pseudo-terminal (util-linux `script`), with NO_COLOR, and into a pipe.
@Suite("Colour on a terminal")
struct TerminalColourTests {
    static let green = "\u{1B}[32m", yellow = "\u{1B}[33m", red = "\u{1B}[31m", cyan = "\u{1B}[36m"

    /// Four probes, one in each coloured state: web healthy, api failing, db degraded (major), cache
    /// recovering (minor).
    static func database(in directory: TemporaryDirectory) throws -> String {
        let path = directory.url.appendingPathComponent("prober.db").path
        let store = try Store(path: path)
        try store.register(["web", "api", "db", "cache"].map { ProbeSpec(name: $0, target: .tcp(TCPTarget(host: "127.0.0.1", port: 1))) })
        let now = SystemWallClock().now()
        let writer = SampleWriter(store: store)
        for (probe, ok) in [("web", true), ("api", false), ("db", false), ("cache", true)] {
            writer.append(Sample(probe: probe, startedAt: now - 5_000_000, failure: ok ? nil : Failure(.connectRefused, "refused"),
                                 phases: Phases(connect: 1_000, total: 1_000)))
        }
        try writer.close()
        for (probe, severity, stage) in [("db", Severity.major, ResolutionStage.investigating), ("cache", .minor, .monitoring)] {
            let incident = Incident(id: 0, probe: probe, serviceID: nil, title: "\(probe) is down", description: "\(probe) refuses connections",
                                    status: severity, stage: stage, createdAt: now - 60_000_000, updatedAt: now - 60_000_000,
                                    resolvedAt: nil, updates: [])
            try store.openIncident(incident, tracking: OpenIncident(status: severity, stage: stage, openedAt: now - 60_000_000,
                                                                      degradedSince: now - 120_000_000, failedChecks: 3,
                                                                      worstP95: nil, worstFailures: 3), outbox: [])
        }
        return path
    }

    /// Runs `prober ARGS` with its stdout on a pseudo-terminal; returns what it printed.
    static func underTerminal(_ args: [String], environment: [String: String?] = [:]) throws -> String {
        let script = "/usr/bin/script"
        try #require(FileManager.default.isExecutableFile(atPath: script), "util-linux `script` is missing: make test-deps")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: script)
        // -q: no start/done lines; -e: the command's exit status; -c: the command; /dev/null: no typescript file.
        process.arguments = ["-qec", ([ProberBinary.url.path] + args).map { "'\($0)'" }.joined(separator: " "), "/dev/null"]
        var env = ProcessInfo.processInfo.environment
        for (name, value) in environment { env[name] = value }
        process.environment = env
        let out = Pipe()
        process.standardOutput = out
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        return String(decoding: data, as: UTF8.self).replacingOccurrences(of: "\r\n", with: "\n")
    }

    @Test func statusColoursEachStateOnATerminalAndKeepsTheColumnsAligned() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let db = try Self.database(in: directory)
        let out = try Self.underTerminal(["status", "--db", db], environment: ["NO_COLOR": nil])
        #expect(out.contains(Self.green + "healthy"), "\(out)")
        #expect(out.contains(Self.red + "failing"), "\(out)")
        #expect(out.contains(Self.red + "degraded (major)"), "\(out)")
        #expect(out.contains(Self.cyan + "recovering (minor)"), "\(out)")
        // Colour adds no width: without the sequences, every row's third column starts under its header.
        let plain = out.replacingOccurrences(of: "\u{1B}\\[[0-9;]*m", with: "", options: .regularExpression)
        let lines = plain.split(separator: "\n").map(String.init)
        let header = try #require(lines.first { $0.hasPrefix("PROBE") })
        let column = try #require(header.range(of: "LAST CHECK")).lowerBound.utf16Offset(in: header)
        for row in lines where row != header {
            let index = row.index(row.startIndex, offsetBy: column)
            #expect(row[row.index(before: index)] == " " && row[index] != " ", "misaligned: \(row)")
        }
    }

    /// Names are padded by characters, however many bytes or Unicode scalars they take: Latin (`µ`, `é`), a letter
    /// and its combining accent (one character of two scalars), Greek, box drawing, an emoji.
    @Test func statusPadsNamesByCharacters() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.url.appendingPathComponent("prober.db").path
        let store = try Store(path: path)
        let names = ["µs-café", "cafe\u{301}-decomposed", "Ωmega", "└box", "👍🏽ok", "plain"]
        try store.register(names.map { ProbeSpec(name: $0, target: .tcp(TCPTarget(host: "127.0.0.1", port: 1))) })
        let run = try ProberBinary.run(["status", "--db", path])
        #expect(run.status == 0)
        let lines = run.stdout.split(separator: "\n").map(String.init)
        let header = try #require(lines.first { $0.hasPrefix("PROBE") })
        let column = header.distance(from: header.startIndex, to: try #require(header.range(of: "STATE")).lowerBound)
        #expect(lines.count == names.count + 1)
        for row in lines where row != header {
            let index = row.index(row.startIndex, offsetBy: column)
            #expect(row[row.index(before: index)] == " " && row[index] != " ", "misaligned: \(row)")
        }
    }

    @Test func incidentsColourTheOpenSeverityAndTheRecoveringStage() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let db = try Self.database(in: directory)
        let out = try Self.underTerminal(["incidents", "--db", db], environment: ["NO_COLOR": nil])
        #expect(out.contains(Self.red + "major"), "\(out)")
        #expect(out.contains(Self.yellow + "minor"), "\(out)")
        #expect(out.contains(Self.cyan + "monitoring"), "\(out)")
    }

    @Test(arguments: ["1", ""])
    func noColourWhenNoColorIsSetToAnyValue(value: String) throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let db = try Self.database(in: directory)
        for command in [["status"], ["incidents"]] {
            let out = try Self.underTerminal(command + ["--db", db], environment: ["NO_COLOR": value])
            #expect(!out.contains("\u{1B}["), "\(out)")
            #expect(out.contains(command == ["status"] ? "degraded (major)" : "monitoring"), "\(out)")
        }
    }

    @Test func noColourIntoAPipe() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let db = try Self.database(in: directory)
        for command in [["status"], ["incidents"]] {
            let r = try ProberBinary.run(command + ["--db", db], environment: ["NO_COLOR": nil])
            #expect(r.status == 0, "\(r.stderr)")
            #expect(!r.stdout.contains("\u{1B}["), "\(r.stdout)")
            #expect(r.stdout.contains(command == ["status"] ? "healthy" : "major"), "\(r.stdout)")
        }
    }
}
