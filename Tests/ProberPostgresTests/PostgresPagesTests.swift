import Foundation
import ProberBackends
import ProberCore
@testable import ProberPostgres
import ProberStorage
import ProberTestSupport
import Testing

/// The pages' reads on PostgreSQL where it differs from SQLite: several locations write one probe, and the
/// status page shows the fleet's probe (every location summed, the newest check of any).
@Suite struct PostgresPagesTests {
    static let day: Int64 = 86_400_000_000
    /// Midnight UTC (2027-01-15).
    static let t0: Int64 = 1_799_971_200_000_000

    /// Two locations' checks over three and a half days, rolled up as maintenance does: the overview equals
    /// SQLite's for the same checks in one file (days exactly, hours' p95 from the same rollups), and the last
    /// check is the newest of either location.
    @Test func overviewSumsLocationsAsOneSQLiteFileWould() throws {
        let cluster = try TestPostgres.shared()
        let database = try cluster.makeDatabase()
        defer { cluster.dropDatabase(database) }
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let now = Self.t0 + 3 * Self.day + Self.day / 2
        // fra: every 10 minutes, one in six refused; nyc: every 30 minutes, 25 minutes later (so last), slower, all passing.
        let fra = stride(from: Self.t0, to: now, by: 600_000_000).enumerated().map { i, at in
            Sample(probe: "api", startedAt: at, failure: i % 6 == 5 ? Failure(.connectRefused, "refused") : nil,
                   phases: Phases(connect: 400, total: 1_000 + Int64(i % 50) * 100), status: i % 6 == 5 ? nil : 200)
        }
        let nyc = stride(from: Self.t0 + 1_500_000_000, to: now, by: 1_800_000_000).enumerated().map { i, at in
            Sample(probe: "api", startedAt: at, phases: Phases(connect: 9_000, total: 20_000 + Int64(i % 7) * 1_000), status: 200)
        }
        let url = cluster.socketURL(database)
        let stores = [try PostgresStore(url: url, site: "fra"), try PostgresStore(url: url, site: "nyc")]
        let sqlite = try StorageBackend.open(database: dir.path + "/prober.db", readOnly: false)
        for (store, samples) in [(stores[0] as any Storage, fra), (stores[1], nyc), (sqlite, fra + nyc)] {
            let recorder = store.makeSampleRecorder(warning: { _ in })
            for s in samples.sorted(by: { $0.startedAt < $1.startedAt }) { recorder.append(s) }
            try recorder.close()
        }
        var policy = StoragePolicy()
        policy.raw = .seconds(86_400)
        policy.rollup5m = .seconds(86_400)
        for store in [stores[0] as any Storage, sqlite] {
            while try !store.maintain(now: now, policy: policy, budget: .seconds(30)).finished {}
        }
        #expect(try cluster.psql("SELECT count(DISTINCT location) FROM rollup_1h", database: database) == "2\n")

        let pg = try #require(try stores[0].overview(probes: ["api", "nope"], days: 5, now: now)["api"])
        let lite = try #require(try sqlite.overview(probes: ["api"], days: 5, now: now)["api"])
        #expect(try stores[0].overview(probes: ["nope"], days: 5, now: now).isEmpty)
        #expect(pg.days.map(\.checks) == [0, 144 + 48, 144 + 48, 144 + 48, 72 + 24], "\(pg.days)")
        #expect(pg.days.map(\.failures) == [0, 24, 24, 24, 12], "\(pg.days)")
        #expect(pg.days == lite.days)
        #expect(pg.hourlyP95 == lite.hourlyP95)
        #expect(pg.hourlyP95.dropLast().allSatisfy { $0 != nil && $0! > 19_000 }, "nyc's slower checks weigh in every hour: \(pg.hourlyP95)")
        #expect(pg.hourlyP95.last == .some(nil), "the hour holding now (noon) has no check yet")

        let last = try #require(try stores[1].lastChecks()["api"])
        #expect(last.at == max(fra.last!.startedAt, nyc.last!.startedAt))
        #expect(last.at == nyc.last!.startedAt, "nyc checked last")
        #expect(last.latency == nyc.last!.phases.total)
        #expect(try stores[0].lastChecks() == sqlite.lastChecks())
    }
}

/// `prober run --db postgres://… --listen`: the pages and `/api/v1/status` are served from PostgreSQL, and the
/// API's status is what `prober status --json` prints for the same database.
@Suite struct PostgresListenTests {
    @Test func pagesAndStatusServeTheProbeFromPostgreSQL() throws {
        let cluster = try TestPostgres.shared()
        let database = try cluster.makeDatabase()
        defer { cluster.dropDatabase(database) }
        let url = cluster.socketURL(database)
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let server = try TestHTTPServer { _ in .respond(status: 200, body: "ok") }
        defer { server.stop() }
        try dir.write("probes/shop.yaml", """
            probes:
              - name: checkout
                http:
                  url: \(server.url)/health
                  headers: { X-Api-Key: page-secret-7 }
                interval: 200ms
                timeout: 180ms
            """)
        let daemon = try ProberDaemon(["--probes", dir.path + "/probes", "--db", url, "--listen", "127.0.0.1:0",
                                       "--spool", dir.path + "/spool"], logIn: dir.url)
        let port = try #require(daemon.listenPort(), "no listen line; stderr:\n\(daemon.stderr)")
        #expect(waitUntil { httpGet(port: port, "/api/v1/status")?.body.contains("\"age_seconds\"") == true },
                "no check in the status within 30 s: \(daemon.output)")

        for path in ["/", "/probes/checkout"] {
            let page = try #require(httpGet(port: port, path), "no answer to \(path)")
            #expect(page.status == 200, "\(path): \(page.body)")
            #expect(page.body.contains("checkout"), "\(path): \(page.body)")
            #expect(!page.body.contains("page-secret-7"), "\(path) shows no header value")
        }
        let probePage = try #require(httpGet(port: port, "/probes/checkout")).body
        #expect(probePage.contains("X-Api-Key"), "the settings registered in PostgreSQL are shown: \(probePage)")
        #expect(probePage.contains("shop.yaml"), "the probe's file: \(probePage)")
        #expect(httpGet(port: port, "/probes/nope")?.status == 404)

        // The daemon keeps checking: the CLI runs between two reads of the API and must equal one of them.
        var last = ("", "")
        var same = false
        for _ in 0..<10 where !same {
            let before = try #require(httpGet(port: port, "/api/v1/status"))
            let printed = try ProberBinary.run(["status", "--db", url, "--json"])
            let after = try #require(httpGet(port: port, "/api/v1/status"))
            #expect(before.status == 200, "\(before.body)")
            #expect(printed.status == 0, "\(printed.stderr)")
            same = printed.stdout == before.body || printed.stdout == after.body
            last = (before.body, printed.stdout)
        }
        #expect(same, "/api/v1/status differs from prober status --json:\n\(last.0)\n---\n\(last.1)")
        #expect(last.1.contains("checkout"), "\(last.1)")
        #expect(daemon.terminate() == 0, "\(daemon.output)")
        #expect(!daemon.output.contains("page-secret-7"), "\(daemon.output)")
        #expect(try cluster.psql("SELECT count(*) FROM probes WHERE settings LIKE '%page-secret-7%'", database: database) == "0\n")
    }
}
