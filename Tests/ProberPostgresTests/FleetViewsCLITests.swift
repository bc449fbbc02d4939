import Foundation
import ProberBackends
import ProberCore
import ProberPostgres
import ProberStorage
import ProberTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `prober status`, `history` and `fleet` through the built binary on a fleet's PostgreSQL history (issue 14,
/// "Command line"): samples from three locations written through the storage interface, and real probers for
/// the heartbeats.
@Suite("Fleet views: status, history and fleet per location", .serialized)
final class FleetViewsCLITests {
    let directory: TemporaryDirectory

    init() throws { directory = try TemporaryDirectory() }
    deinit { directory.remove() }

    static var now: Int64 { Int64(Date().timeIntervalSince1970 * 1_000_000) }

    /// api from a, b and c over the last 30 minutes (b failing one check in two, and degraded by its published
    /// episode); solo from a only.
    func fill(_ url: String) throws -> (a: Int, b: Int, c: Int) {
        let start = Self.now - 30 * 60_000_000
        func samples(_ probe: String, offset: Int64, every: Int64, failing: (Int) -> Bool, latency: Int64) -> [Sample] {
            let times: [Int64] = Array(stride(from: start + offset, to: Self.now - 1_000_000, by: Int(every)))
            return times.enumerated().map { i, at -> Sample in
                failing(i) ? Sample(probe: probe, startedAt: at, failure: Failure(.timeout, "timed out"), phases: Phases(total: 900_000))
                    : Sample(probe: probe, startedAt: at, phases: Phases(connect: latency / 4, total: latency), status: 200)
            }
        }
        let a = samples("api", offset: 0, every: 10_000_000, failing: { _ in false }, latency: 2_000)
        let b = samples("api", offset: 3_000_000, every: 20_000_000, failing: { $0 % 2 == 1 }, latency: 40_000)
        let c = samples("api", offset: 6_000_000, every: 30_000_000, failing: { _ in false }, latency: 9_000)
        let solo = samples("solo", offset: 1_000_000, every: 60_000_000, failing: { _ in false }, latency: 1_000)
        for (site, batch) in [("a", a + solo), ("b", b), ("c", c)] {
            let store = try PostgresStore(url: url, site: site)
            let recorder = store.makeSampleRecorder(warning: { _ in })
            for s in batch { recorder.append(s) }
            try recorder.close()
            if site == "b" {
                try store.publish(probe: "api", location: "b", episode: LocationEpisode(location: "b", status: .minor, stage: .investigating,
                                  summary: "15 failures of 30"), tracking: nil, at: Self.now)
            }
        }
        return (a.count, b.count, c.count)
    }

    func json(_ text: String) throws -> Any { try JSONSerialization.jsonObject(with: Data(text.utf8)) }

    @Test func statusAndHistoryBreakDownByLocation() throws {
        let cluster = try TestPostgres.shared()
        let name = try cluster.makeDatabase()
        defer { cluster.dropDatabase(name) }
        let url = cluster.socketURL(name)
        let counts = try fill(url)

        // status: a line per location under api, none under solo (one location); b's state from its episode.
        let status = try ProberBinary.run(["status", "--db", url], environment: ["NO_COLOR": "1"])
        #expect(status.status == 0, "\(status.stderr)")
        let lines = status.stdout.split(separator: "\n").map(String.init)
        let api = try #require(lines.firstIndex { $0.hasPrefix("api ") }, "\(status.stdout)")
        #expect(lines[api + 1].hasPrefix("  └ a ") && lines[api + 1].contains("healthy"), "\(status.stdout)")
        #expect(lines[api + 2].hasPrefix("  └ b ") && lines[api + 2].contains("degraded (minor)"), "\(status.stdout)")
        #expect(lines[api + 3].hasPrefix("  └ c ") && lines[api + 3].contains("healthy"), "\(status.stdout)")
        #expect(lines[api + 4].hasPrefix("solo "), "\(status.stdout)")
        #expect(lines.count == api + 5, "\(status.stdout)")

        let statusJSON = try ProberBinary.run(["status", "--db", url, "--json"])
        let rows = try #require(try json(statusJSON.stdout) as? [[String: Any]])
        let apiRow = try #require(rows.first { $0["name"] as? String == "api" })
        let locations = try #require(apiRow["locations"] as? [[String: Any]])
        #expect(locations.map { $0["location"] as? String } == ["a", "b", "c"])
        #expect(locations.map { $0["state"] as? String } == ["healthy", "degraded (minor)", "healthy"])
        #expect(locations.map { $0["checks_1h"] as? Int } == [counts.a, counts.b, counts.c])
        #expect(apiRow["checks_1h"] as? Int == counts.a + counts.b + counts.c)
        #expect((locations[1]["episode"] as? [String: Any])?["summary"] as? String == "15 failures of 30")
        let solo = try #require(rows.first { $0["name"] as? String == "solo" })
        #expect((solo["locations"] as? [Any])?.count == 1)

        // history: the probe's summary, then a line per location.
        let history = try ProberBinary.run(["history", "api", "--db", url, "--since", "1h"], environment: ["NO_COLOR": "1"])
        #expect(history.status == 0, "\(history.stderr)")
        #expect(history.stdout.contains("checks    \(counts.a + counts.b + counts.c) "), "\(history.stdout)")
        let table = history.stdout.split(separator: "\n").drop { !$0.hasPrefix("LOCATION") }.prefix(4).map(String.init)
        #expect(table.count == 4, "\(history.stdout)")
        #expect(table.dropFirst().map { String($0.prefix(1)) } == ["a", "b", "c"], "\(history.stdout)")
        #expect(table[2].contains(" \(counts.b) ") && table[2].contains(" \(counts.b / 2) "), "b: its checks and failures\n\(history.stdout)")

        let onlyB = try ProberBinary.run(["history", "api", "--db", url, "--since", "1h", "--location", "b", "--json"])
        #expect(onlyB.status == 0, "\(onlyB.stderr)")
        let document = try #require(try json(onlyB.stdout) as? [String: Any])
        #expect(document["location"] as? String == "b")
        #expect((document["summary"] as? [String: Any])?["checks"] as? Int == counts.b)
        #expect((document["summary"] as? [String: Any])?["failures"] as? Int == counts.b / 2)
        let all = try #require(try json(try ProberBinary.run(["history", "api", "--db", url, "--since", "1h", "--json"]).stdout) as? [String: Any])
        #expect(all["location"] is NSNull)
        #expect((all["locations"] as? [[String: Any]])?.map { ($0["summary"] as? [String: Any])?["checks"] as? Int }
                == [counts.a, counts.b, counts.c])

        // An unknown location: exit 1, naming it and the known ones.
        let unknown = try ProberBinary.run(["history", "api", "--db", url, "--location", "bb"])
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("no checks of 'api' from location 'bb'; did you mean 'b'?; known locations: a, b, c"), "\(unknown.stderr)")
        #expect(try ProberBinary.run(["history", "nope", "--db", url, "--location", "a"]).stderr.contains("no probe named 'nope'"))
        #expect(try ProberBinary.run(["history", "api", "--db", url, "--location", ""]).status == 64, "an empty location is a usage error")
    }

    @Test func sqliteKeepsItsOutputAndHasNoLocations() throws {
        let db = directory.path + "/prober.db"
        let store = try StorageBackend.open(database: db, readOnly: false)
        let recorder = store.makeSampleRecorder(warning: { _ in })
        recorder.append(Sample(probe: "api", startedAt: Self.now - 5_000_000, phases: Phases(total: 1_000), status: 200))
        try recorder.close()
        let status = try ProberBinary.run(["status", "--db", db], environment: ["NO_COLOR": "1"])
        #expect(status.status == 0 && !status.stdout.contains("└"), "\(status.stdout)")
        #expect(try ProberBinary.run(["status", "--db", db, "--json"]).stdout.contains(#""locations": [],"#))
        let history = try ProberBinary.run(["history", "api", "--db", db, "--location", "a"])
        #expect(history.status == 1)
        #expect(history.stderr.contains("this history keeps no locations"), "\(history.stderr)")
        #expect(!(try ProberBinary.run(["history", "api", "--db", db]).stdout.contains("LOCATION")))
    }

    /// Two probers beat every 200 ms; the one killed turns stale after three intervals, the one stopped cleanly
    /// says so. With SQLite, the one prober of the file is listed the same way.
    @Test func fleetListsTheProbersAndCallsAKilledOneStale() throws {
        let cluster = try TestPostgres.shared()
        let name = try cluster.makeDatabase()
        defer { cluster.dropDatabase(name) }
        let url = cluster.socketURL(name)
        let target = try TestHTTPServer { _ in .respond(status: 200, body: "ok") }
        defer { target.stop() }
        try directory.write("probes/api.yaml", """
            probes:
              - name: api
                http: { url: "\(target.url)/health" }
                interval: 100ms
                timeout: 90ms
              - name: tcp
                tcp: { host: 127.0.0.1, port: \(target.port) }
                interval: 1s
            """)
        let environment: [String: String?] = ["PROBER_HEARTBEAT_INTERVAL": "200ms"]
        let a = try ProberDaemon(["--probes", directory.path + "/probes", "--db", url, "--location", "a",
                                  "--spool", directory.path + "/spool-a"], environment: environment,
                                 logIn: directory.url)
        let b = try ProberDaemon(["--probes", directory.path + "/probes", "--db", url, "--location", "b",
                                  "--spool", directory.path + "/spool-b"], environment: environment,
                                 logIn: directory.url)
        defer {
            _ = a.terminate()
            _ = b.terminate()
        }
        #expect(a.waitForStart() && b.waitForStart(), "\(a.output)\n\(b.output)")

        func fleet() -> [String: [String: Any]] {
            guard let out = try? ProberBinary.run(["fleet", "--db", url, "--json"]).stdout,
                  let rows = (try? json(out)) as? [[String: Any]] else { return [:] }
            return Dictionary(rows.map { ($0["location"] as? String ?? "", $0) }, uniquingKeysWith: { x, _ in x })
        }
        func states() -> [String: String] { fleet().mapValues { $0["state"] as? String ?? "" } }
        #expect(waitUntil(timeout: .seconds(15)) { states() == ["a": "up", "b": "up"] && fleet()["a"]?["tick_lateness_p99_us"] is Int },
                "\(fleet())\n\(a.output)")
        let row = try #require(fleet()["a"])
        #expect(row["probes"] as? Int == 2)
        #expect(row["version"] as? String == proberVersion)
        #expect(row["heartbeat_every_us"] as? Int == 200_000)
        #expect(row["pending_samples"] is Int && row["spooled_samples"] as? Int == 0)
        #expect(row["pid"] as? Int == Int(a.process.processIdentifier))

        b.signal(SIGKILL)
        #expect(b.waitForExit(timeout: .seconds(10)) != nil)
        #expect(waitUntil(timeout: .seconds(10)) { states() == ["a": "up", "b": "stale"] }, "\(fleet())")
        let text = try ProberBinary.run(["fleet", "--db", url], environment: ["NO_COLOR": "1"])
        #expect(text.status == 0)
        let lines = text.stdout.split(separator: "\n")
        #expect(lines.first?.hasPrefix("LOCATION  STATE") == true, "\(text.stdout)")
        #expect(lines.count == 3 && lines[1].hasPrefix("a ") && lines[1].contains(" up ") && lines[2].hasPrefix("b ")
                && lines[2].contains(" stale "), "\(text.stdout)")

        #expect(a.terminate() == 0)
        #expect(states() == ["a": "stopped", "b": "stale"], "a clean stop writes its last heartbeat")

        // SQLite: the one prober of the file.
        let db = directory.path + "/prober.db"
        let local = try ProberDaemon(["--probes", directory.path + "/probes", "--db", db, "--location", "here"], environment: environment,
                                     logIn: directory.url)
        defer { _ = local.terminate() }
        #expect(local.waitForStart(), "\(local.output)")
        #expect(waitUntil(timeout: .seconds(10)) {
            let lines = (try? ProberBinary.run(["fleet", "--db", db], environment: ["NO_COLOR": "1"]).stdout)?.split(separator: "\n") ?? []
            return lines.count == 2 && lines[1].hasPrefix("here ") && lines[1].contains(" up ")
        })
    }
}
