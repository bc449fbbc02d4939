import Foundation
import ProberCore
@testable import ProberPostgres
import ProberStore
import ProberTestSupport
import Testing

/// The sample recorder against a PostgreSQL server stopped and started again (a cluster of the test's own):
/// samples spill to the on-disk spool during the outage and all arrive afterwards, and a recorder closed
/// while the server is down leaves them on disk for the next one.
@Suite(.serialized) struct SpoolOutageTests {
    let t0: Int64 = 1_700_000_000_000_000
    let probes = ["a", "b", "c"]

    func sample(_ i: Int) -> Sample {
        Sample(probe: probes[i % probes.count], startedAt: t0 + Int64(i) * 1_000, phases: Phases(dns: 1, total: 2), status: 200)
    }

    /// The `at` of every stored sample per probe name.
    func stored(_ cluster: TestPostgres, _ database: String) throws -> [String: [Int64]] {
        let text = try cluster.psql("SELECT p.name, s.at FROM samples s JOIN probes p ON p.id = s.probe_id ORDER BY 1, 2",
                                    database: database)
        var out: [String: [Int64]] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: "|")
            out[String(parts[0]), default: []].append(Int64(parts[1])!)
        }
        return out
    }

    func expected(_ n: Int) -> [String: [Int64]] {
        Dictionary(grouping: (0..<n).map(sample), by: \.probe).mapValues { $0.map(\.startedAt) }
    }

    func writer(_ store: PostgresStore, _ spool: SampleSpool) -> SampleWriter {
        SampleWriter(batches: PostgresSampleBatches(store: store), spool: spool,
                     configuration: .init(batchSize: 50, flushInterval: .milliseconds(20), maxBackoff: .milliseconds(200),
                                          spillAfter: .milliseconds(100)))
    }

    @Test func noSampleIsLostWhileTheServerIsDown() throws {
        let cluster = try TestPostgres()
        defer { cluster.stop() }
        let database = try cluster.makeDatabase()
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let store = try PostgresStore(url: cluster.socketURL(database), site: "here")
        let spool = try SampleSpool(.init(directory: dir.path + "/spool"))
        let recorder = writer(store, spool)
        var n = 0
        func feed(_ count: Int) {
            for _ in 0..<count {
                recorder.append(sample(n))
                n += 1
            }
        }
        feed(300)
        #expect(waitUntil(timeout: .seconds(20)) { recorder.statistics.written == 300 })
        try cluster.stopServer()
        // Checks go on during the outage: they spill to disk, and newer ones queue behind them.
        feed(200)
        #expect(waitUntil(timeout: .seconds(20)) { recorder.statistics.spooled == 200 }, "\(recorder.statistics)")
        feed(200)
        #expect(waitUntil(timeout: .seconds(20)) { recorder.statistics.spooled == 400 }, "\(recorder.statistics)")
        #expect(recorder.statistics.spooledBytes > 0)
        try cluster.startServer()
        feed(100)
        #expect(waitUntil(timeout: .seconds(30)) { recorder.statistics.pending == 0 }, "\(recorder.statistics)")
        try recorder.close()
        #expect(recorder.statistics.written == 800)
        #expect(recorder.statistics.dropped == 0)
        #expect(try stored(cluster, database) == expected(800))
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: dir.path + "/spool")) ?? []).filter { $0.hasSuffix(".spool") }.isEmpty)
    }

    @Test func aRecorderClosedWhileTheServerIsDownLeavesItsSamplesForTheNextStart() throws {
        let cluster = try TestPostgres()
        defer { cluster.stop() }
        let database = try cluster.makeDatabase()
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let store = try PostgresStore(url: cluster.socketURL(database), site: "here")
        do {
            let recorder = writer(store, try SampleSpool(.init(directory: dir.path + "/spool")))
            for i in 0..<100 { recorder.append(sample(i)) }
            try recorder.flush()
            try cluster.stopServer()
            for i in 100..<250 { recorder.append(sample(i)) }
            // Shutdown while the server is down: what is in memory goes to disk, and nothing is reported lost.
            try recorder.close()
            #expect(recorder.statistics.spooled == 150)
            #expect(recorder.statistics.pending == 150)
        }
        try cluster.startServer()
        let next = writer(store, try SampleSpool(.init(directory: dir.path + "/spool")))
        #expect(next.statistics.spooled == 150)
        next.append(sample(250))
        #expect(waitUntil(timeout: .seconds(30)) { next.statistics.pending == 0 }, "\(next.statistics)")
        try next.close()
        #expect(try stored(cluster, database) == expected(251))
    }
}
