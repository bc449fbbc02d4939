import Foundation
import ProberCore
@testable import ProberStore
import ProberTestSupport
import XCTest

/// `prober history` and `prober status` run as a user would, against a database filled through the Store API.
final class HistoryStatusCLITests: XCTestCase {
    var dir: TemporaryDirectory!
    var db: String { dir.url.appendingPathComponent("prober.db").path }
    /// Taken in setUp, not when XCTest creates the test objects: under load a test may start well over 30 s
    /// after that, and its oldest sample would fall out of the 2-day window.
    var now: Int64 = 0

    override func setUpWithError() throws {
        dir = try TemporaryDirectory()
        now = SystemWallClock().now()
    }

    override func tearDown() {
        dir.remove()
    }

    /// Two probes: `web-frontend` every 60 s for 2 days with a few failures, `payments-api` failing last.
    func fillDatabase() throws {
        let store = try Store(path: db)
        try store.register([
            ProbeSpec(name: "web-frontend", target: .http(HTTPTarget(url: "https://user:pw@example.test/health?key=secret"))),
            ProbeSpec(name: "payments-api", target: .tcp(TCPTarget(host: "10.1.2.3", port: 443))),
        ])
        let writer = SampleWriter(store: store)
        let start = now - 2 * 86_400_000_000 + 30_000_000
        for i in 0..<2_880 {
            let t = start + Int64(i) * 60_000_000
            if i % 100 == 7 {
                writer.append(Sample(probe: "web-frontend", startedAt: t, failure: Failure(.httpStatus, "expected 200, got 503"),
                                     phases: Phases(dns: 100, connect: 200, total: 900), status: 503))
            } else {
                let total = Int64(20_000 + (i % 10) * 1_000)
                writer.append(Sample(probe: "web-frontend", startedAt: t,
                                     phases: Phases(dns: 100, connect: 200, tls: 1_000, processing: total - 1_400, transfer: 100, total: total),
                                     status: 200, bytes: 512, ipFamily: .ipv4))
            }
        }
        for i in 0..<10 {
            let t = now - Int64(10 - i) * 30_000_000
            writer.append(Sample(probe: "payments-api", startedAt: t,
                                 failure: i == 9 ? Failure(.connectRefused, "refused") : nil,
                                 phases: Phases(dns: 50, connect: 3_000, total: 3_050)))
        }
        try writer.close()
    }

    func testHistoryPrintsSummarySparklineAndBuckets() throws {
        try fillDatabase()
        let r = try ProberBinary.run(["history", "web-frontend", "--db", db])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("web-frontend (http https://example.test/health)"), r.stdout)
        XCTAssertFalse(r.stdout.contains("secret") || r.stdout.contains("pw@"), r.stdout)
        XCTAssertTrue(r.stdout.contains("checks    1440   failed 14"), r.stdout)
        XCTAssertTrue(r.stdout.contains("http_status 14"), r.stdout)
        XCTAssertTrue(r.stdout.contains("p50 24 ms"), r.stdout)
        XCTAssertTrue(r.stdout.contains("buckets of 30m, from raw samples"), r.stdout)
        XCTAssertTrue(r.stdout.contains("START (UTC)"), r.stdout)
        let spark = try XCTUnwrap(r.stdout.split(separator: "\n").first { $0.hasPrefix("p95 ") })
        XCTAssertTrue(spark.contains { "▁▂▃▄▅▆▇█".contains($0) }, String(spark))
    }

    func testRunsOfBucketsWithoutChecksAreOneLine() throws {
        try fillDatabase()
        // payments-api has checks only in the last 5 minutes: the hours before are one line, not 23 rows of dashes.
        let r = try ProberBinary.run(["history", "payments-api", "--since", "2h", "--every", "5m", "--db", db])
        XCTAssertEqual(r.status, 0, r.stderr)
        let rows = r.stdout.split(separator: "\n").filter { $0.hasPrefix("20") }
        let gaps = rows.filter { $0.contains("no checks until") }
        XCTAssertEqual(gaps.count, 1, r.stdout)
        XCTAssertLessThanOrEqual(rows.count, 4, r.stdout)
        XCTAssertTrue(rows.last.map { !$0.contains("no checks") } ?? false, r.stdout)
    }

    func testHistoryJSONAndCSV() throws {
        try fillDatabase()
        let j = try ProberBinary.run(["history", "web-frontend", "--since", "2d", "--every", "1h", "--json", "--db", db])
        XCTAssertEqual(j.status, 0, j.stderr)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(j.stdout.utf8)) as? [String: Any])
        let summary = try XCTUnwrap(object["summary"] as? [String: Any])
        XCTAssertEqual(summary["checks"] as? Int, 2_880)
        XCTAssertEqual(summary["failures"] as? Int, 29)
        XCTAssertEqual((summary["failures_by_reason"] as? [String: Int])?["http_status"], 29)
        XCTAssertEqual(object["every_seconds"] as? Int, 3_600)
        XCTAssertEqual((object["buckets"] as? [Any])?.count, 49)
        // Every --json writes times as ISO 8601 UTC with milliseconds.
        let since = try XCTUnwrap(object["since"] as? String)
        XCTAssertNotNil(since.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"#, options: .regularExpression), since)
        XCTAssertTrue(((object["buckets"] as? [[String: Any]])?.first?["start"] as? String)?.hasSuffix(":00.000Z") ?? false)

        let c = try ProberBinary.run(["history", "web-frontend", "--since", "6h", "--every", "1h", "--phase", "dns", "--csv", "--db", db])
        XCTAssertEqual(c.status, 0, c.stderr)
        let lines = c.stdout.split(separator: "\n")
        XCTAssertEqual(lines.first, "start,checks,failed,p50_us,p95_us,p99_us,max_us,mean_us,top_reason")
        XCTAssertEqual(lines.count, 1 + 7)
        XCTAssertTrue(lines[2].contains(",100,100,100,100,100,"), String(lines[2]))

        let bad = try ProberBinary.run(["history", "web-frontend", "--json", "--csv", "--db", db])
        XCTAssertNotEqual(bad.status, 0)
        let iso = try ProberBinary.run(["history", "web-frontend", "--since", "2020-01-01T00:00:00Z", "--until", "2020-01-02", "--db", db])
        XCTAssertEqual(iso.status, 0, iso.stderr)
        XCTAssertTrue(iso.stdout.contains("checks    0"), iso.stdout)
    }

    func testBadOptionsAreRejectedWithTheirName() throws {
        try fillDatabase()
        for (args, expected) in [(["--phase", "latency"], "unknown phase 'latency'"), (["--since", "yesterday"], "--since 'yesterday'"),
                                 (["--since", "1h", "--until", "2h"], "range is empty"), (["--every", "0s"], "--every '0s'")] {
            let r = try ProberBinary.run(["history", "web-frontend", "--db", db] + args)
            XCTAssertNotEqual(r.status, 0, args.joined(separator: " "))
            XCTAssertTrue(r.stderr.contains(expected), r.stderr)
        }
        let ms = try ProberBinary.run(["history", "web-frontend", "--since", "90000000ms", "--db", db])
        XCTAssertEqual(ms.status, 0, ms.stderr)
    }

    func testUnknownProbeSuggestsCloseNames() throws {
        try fillDatabase()
        let r = try ProberBinary.run(["history", "web-frontent", "--db", db])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("no probe named 'web-frontent'"), r.stderr)
        XCTAssertTrue(r.stderr.contains("did you mean 'web-frontend'"), r.stderr)
    }

    func testMissingDatabaseIsAClearErrorAndIsNotCreated() throws {
        for args in [["history", "web"], ["status"]] {
            let r = try ProberBinary.run(args + ["--db", db])
            XCTAssertEqual(r.status, 1, args.joined(separator: " "))
            XCTAssertTrue(r.stderr.contains(db) && r.stderr.contains("no database"), r.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: db))
        }
    }

    func testStatusOneLinePerProbe() throws {
        try fillDatabase()
        let r = try ProberBinary.run(["status", "--db", db])
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 3, r.stdout)
        XCTAssertTrue(lines[0].hasPrefix("PROBE") && lines[0].hasSuffix("INCIDENT"), lines[0])
        XCTAssertTrue(lines[1].hasPrefix("payments-api") && lines[1].contains("failing") && lines[1].contains("connect_refused"), lines[1])
        XCTAssertTrue(lines[1].contains("90.00 %") && lines[1].hasSuffix("-"), lines[1])
        XCTAssertTrue(lines[2].hasPrefix("web-frontend") && lines[2].contains("healthy"), lines[2])

        let j = try ProberBinary.run(["status", "--json", "--db", db])
        XCTAssertEqual(j.status, 0, j.stderr)
        let array = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(j.stdout.utf8)) as? [[String: Any]])
        XCTAssertEqual(array.map { $0["name"] as? String }, ["payments-api", "web-frontend"])
        XCTAssertEqual(array[0]["state"] as? String, "failing")
        XCTAssertTrue(array[0]["incident"] is NSNull)
        XCTAssertEqual(array[0]["checks_1h"] as? Int, 10)
        XCTAssertEqual((array[0]["last_check"] as? [String: Any])?["reason"] as? String, "connect_refused")
        XCTAssertEqual(array[1]["target"] as? String, "https://example.test/health")
        let lastAt = try XCTUnwrap((array[0]["last_check"] as? [String: Any])?["at"] as? String)
        XCTAssertNotNil(lastAt.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"#, options: .regularExpression), lastAt)
    }

    func testStatusAndHistoryReadWhileTheDaemonHoldsAWriteTransaction() throws {
        try fillDatabase()
        // The daemon's connection mid-transaction, with uncommitted changes in the WAL.
        let store = try Store(path: db)
        try store.queue.sync { try store.connection.execute("BEGIN IMMEDIATE; DELETE FROM sample_recent; DELETE FROM sample_blocks;") }
        defer { try? store.queue.sync { try store.connection.execute("ROLLBACK") } }
        let status = try ProberBinary.run(["status", "--db", db])
        XCTAssertEqual(status.status, 0, status.stderr)
        XCTAssertTrue(status.stdout.contains("90.00 %"), status.stdout) // the committed data, not the pending delete
        let history = try ProberBinary.run(["history", "web-frontend", "--db", db])
        XCTAssertEqual(history.status, 0, history.stderr)
        XCTAssertTrue(history.stdout.contains("checks    1440"), history.stdout)
    }
}
