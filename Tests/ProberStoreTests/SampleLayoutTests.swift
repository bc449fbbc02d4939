import CSQLite3
import Foundation
import ProberCore
@testable import ProberStore
import ProberStorage
import ProberTestSupport
import Testing

/// Issue 16 item 2: raw samples appended in commit order to `sample_recent`, folded into per-probe 5-minute blocks
/// (`SampleBlock`), read back as one history whatever part of it is folded.
@Suite struct SampleLayoutTests {
    let minute: Int64 = 60_000_000
    /// A Monday at 00:00 UTC.
    let start: Int64 = 1_700_438_400_000_000

    func write(_ store: Store, _ samples: [Sample]) throws {
        try store.write { try store.insert(samples, $0) }
    }

    func fold(_ store: Store, before horizon: Int64) throws {
        try store.queue.sync { try store.fold(before: horizon) }
    }

    /// 200 probes every 10 s for 10 minutes from `start`, one commit a tick as the sample writer commits, then a
    /// checkpoint that empties the WAL. Returns each probe's samples.
    func writeTenMinutesOfTwoHundredProbes(_ store: Store) throws -> [[Sample]] {
        let probes = (0..<200).map { p in
            makeSamples(probe: "p\(p)", start: start + Int64(p) * 1_000, interval: 10_000_000, count: 60, seed: UInt64(p))
        }
        for tick in 0..<60 { try write(store, probes.map { $0[tick] }) }
        #expect(store.queue.sync { store.checkpoint(truncate: true) })
        return probes
    }

    func count(_ store: Store, _ table: String) throws -> Int64 {
        try store.read { try $0.scalar("SELECT count(*) FROM \(table)") } ?? 0
    }

    @Test func foldedSamplesReadBackWithEveryFieldAndTheLaterOfTwoAtOneMicrosecondWins() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(path: directory.path + "/prober.db")
        var samples = makeSamples(probe: "api", start: start, interval: 10_000_000, count: 200, failureRate: 0.2, seed: 3)
        samples[7].ipFamily = .ipv6
        samples[8].status = nil
        samples[9].bytes = -1
        samples[10].phases = Phases()
        try write(store, samples)
        // A second sample at the microsecond of the 5th, in a later commit, replaces it.
        let replacement = Sample(probe: "api", startedAt: samples[4].startedAt, failure: Failure(.timeout, "timeout"),
                                 phases: Phases(total: 5_000_000))
        try write(store, [replacement])
        var expected = samples.map { $0.startedAt }
        let before = try store.recentSamples(probe: "api", limit: .max)
        #expect(before.map(\.startedAt) == expected)
        #expect(before[4].failure?.reason == .timeout)

        try fold(store, before: start + 15 * minute)
        #expect(try count(store, "sample_blocks") == 3)
        let after = try store.recentSamples(probe: "api", limit: .max)
        #expect(after.count == before.count)
        for (a, b) in zip(after, before) {
            #expect(a.startedAt == b.startedAt && a.failure?.reason == b.failure?.reason && a.status == b.status
                    && a.bytes == b.bytes && a.ipFamily == b.ipFamily && a.phases == b.phases, "\(a) != \(b)")
        }

        // A late sample and a replacement after the fold are merged into their block by the next fold.
        let late = Sample(probe: "api", startedAt: start + 5, phases: Phases(total: 7), status: 204)
        let again = Sample(probe: "api", startedAt: samples[0].startedAt, failure: Failure(.connectRefused, "refused"))
        try write(store, [late, again])
        expected.insert(late.startedAt, at: 1)
        #expect(try store.recentSamples(probe: "api", limit: .max).map(\.startedAt) == expected)
        try fold(store, before: start + 15 * minute)
        let merged = try store.recentSamples(probe: "api", limit: .max)
        #expect(merged.map(\.startedAt) == expected)
        #expect(merged[0].failure?.reason == .connectRefused && merged[1].status == 204)
        #expect(try store.status(now: samples.last!.startedAt + 1).first?.checks1h == expected.count)
    }

    /// A fold removes the rows it folded by emptying `sample_recent` and putting back the few that stay: deleting them
    /// by range rewrote every page it emptied, so a fold wrote the recent rows to the WAL once more besides the blocks
    /// (and the checkpoint as much again).
    @Test func aFoldWritesLessWALThanTheRecentRowsItRemovesTake() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(path: directory.path + "/prober.db")
        let probes = try writeTenMinutesOfTwoHundredProbes(store)
        #expect(store.walBytes == 0)
        let pageSize = try store.read { try $0.scalar("PRAGMA page_size") } ?? 0
        let recentPages = try store.read { try $0.scalar("SELECT count(*) FROM dbstat WHERE name = 'sample_recent'") } ?? 0

        try fold(store, before: start + 9 * minute)
        let frames = (store.walBytes - 32) / (pageSize + 24)
        let blockPages = try store.read { try $0.scalar("SELECT count(*) FROM dbstat WHERE name = 'sample_blocks'") } ?? 0
        // Besides the blocks it made, a fold writes the rows that stay and a few pages of the free list.
        #expect((frames - blockPages) * 2 < recentPages,
                "the fold wrote \(frames) pages, \(blockPages) of them blocks; sample_recent took \(recentPages)")
        #expect(try count(store, "sample_recent") == 200 * 6)
        #expect(try store.recentSamples(probe: "p7", limit: .max).map(\.startedAt) == probes[7].map(\.startedAt))
    }

    /// A fold reads the probes in ranges of ids (`rowsPerPass`), so its memory does not grow with the probes. Folded
    /// in passes of 7 rows or in one, the same recent rows (two windows, a sample replaced at its microsecond by a
    /// later commit, a late one) make the same blocks, byte for byte, and leave the same rows behind.
    @Test func aFoldInManyPassesMakesTheBlocksOfAFoldInOne() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        var blocks: [[String]] = [], left: [Int64] = []
        for rowsPerPass in [Store.foldRowsPerPass, 7] {
            let store = try Store(path: directory.path + "/prober-\(rowsPerPass).db")
            let probes = try writeTenMinutesOfTwoHundredProbes(store)
            try write(store, [Sample(probe: "p3", startedAt: probes[3][2].startedAt, failure: Failure(.timeout, "timeout")),
                              Sample(probe: "p150", startedAt: start + 1, phases: Phases(total: 9), status: 204)])
            try store.queue.sync { try store.fold(before: start + 8 * minute, rowsPerPass: rowsPerPass) }
            blocks.append(try store.read { db in
                let select = try db.prepare("SELECT start, probe_id, hex(data) FROM sample_blocks ORDER BY start, probe_id")
                var rows: [String] = []
                while try select.step() { rows.append("\(select.int64(0)) \(select.int64(1)) \(select.string(2))") }
                return rows
            })
            left.append(try count(store, "sample_recent"))
            let p3 = try store.recentSamples(probe: "p3", limit: .max)
            #expect(p3.map(\.startedAt) == probes[3].map(\.startedAt))
            #expect(p3[2].failure?.reason == .timeout, "the later commit's sample at that microsecond")
            #expect(try store.recentSamples(probe: "p150", limit: .max).first?.status == 204)
        }
        #expect(blocks[0].count == 400, "two windows of 200 probes: \(blocks[0].count) blocks")
        #expect(blocks[0] == blocks[1])
        #expect(left[0] == 200 * 12 && left[0] == left[1], "rows from 8 minutes on stay: \(left)")
    }

    /// A fold stopped after its blocks were written and before its rows were deleted (each pass and the delete are
    /// transactions of their own; here the delete fails) leaves every sample readable once, and the next fold ends
    /// with the blocks and the rows an uninterrupted fold leaves.
    @Test func aFoldStoppedBeforeItsDeleteLosesAndRepeatsNothing() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        var ends: [(blocks: [String], left: Int64)] = []
        for interrupted in [false, true] {
            let store = try Store(path: directory.path + "/prober-\(interrupted).db")
            let probes = try writeTenMinutesOfTwoHundredProbes(store)
            if interrupted {
                try store.write { try $0.execute("CREATE TRIGGER refuse BEFORE DELETE ON sample_recent BEGIN SELECT RAISE(ABORT, 'refused'); END") }
                #expect(throws: (any Error).self) { try store.queue.sync { try store.fold(before: start + 5 * minute, rowsPerPass: 500) } }
                #expect(try count(store, "sample_blocks") == 200, "the passes committed their blocks")
                #expect(try count(store, "sample_recent") == 200 * 60, "and no row was deleted")
                for p in [0, 99, 199] {
                    #expect(try store.recentSamples(probe: "p\(p)", limit: .max).map(\.startedAt) == probes[p].map(\.startedAt))
                }
                try store.write { try $0.execute("DROP TRIGGER refuse") }
            }
            try store.queue.sync { try store.fold(before: start + 5 * minute, rowsPerPass: 500) }
            ends.append((try store.read { db in
                let select = try db.prepare("SELECT start, probe_id, hex(data) FROM sample_blocks ORDER BY start, probe_id")
                var rows: [String] = []
                while try select.step() { rows.append("\(select.int64(0)) \(select.int64(1)) \(select.string(2))") }
                return rows
            }, try count(store, "sample_recent")))
            #expect(try store.recentSamples(probe: "p42", limit: .max).map(\.startedAt) == probes[42].map(\.startedAt))
        }
        #expect(ends[0].blocks == ends[1].blocks)
        #expect(ends[0].left == 200 * 30 && ends[1].left == ends[0].left)
    }

    /// The fold puts the rows that stay back into `sample_recent` in one transaction. With `cache_spill` off (it was
    /// until the fold's rewrite was seen holding ~13 MB at 60,000 probes) that transaction kept every page it wrote
    /// in memory until its commit; with it on, SQLite writes them to the WAL once they outgrow the 4 MiB cache. Here
    /// 250,000 rows stay (~10 MB of pages, beyond the cache full of clean pages the writes recycle) and SQLite's own
    /// count of its memory (`SQLITE_STATUS_MEMORY_USED`, for the whole process: `make test` runs the tests one at a
    /// time) may grow by 2 MiB at most during the fold: it grew by 61 KB, and by 7.0 MB with spilling off.
    @Test func aFoldHoldsNoMoreThanThePageCacheOfTheRowsThatStay() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(path: directory.path + "/prober.db")
        // 2,500 probes every 10 s for 2,000 s, a commit each 10 s; the fold takes the first 1,000 s, half the rows.
        try store.write { db in
            try db.execute("""
                WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 499999)
                INSERT INTO sample_recent(seq, probe_id, ts, reason, status, phases, bytes, family)
                SELECT i / 2500 + 1, i % 2500 + 1, \(start) + (i / 2500) * 10000000 + (i % 2500) * 100, 0, 200,
                       X'0102030405', 2, 0 FROM n
                """)
        }
        #expect(store.queue.sync { store.checkpoint(truncate: true) })
        var before: Int64 = 0, peak: Int64 = 0
        sqlite3_status64(SQLITE_STATUS_MEMORY_USED, &before, &peak, 1) // resets the high-water mark to `before`
        #expect(before > 0, "SQLite counts its memory (SQLITE_CONFIG_MEMSTATUS)")

        try fold(store, before: start + 1_000_000_000)
        var now: Int64 = 0
        sqlite3_status64(SQLITE_STATUS_MEMORY_USED, &now, &peak, 0)
        #expect(try count(store, "sample_recent") == 250_000)
        #expect(peak - before < 2 << 20, "SQLite's memory grew by \(peak - before) bytes during the fold")
    }

    /// Blocks live in a rowid table: in the `WITHOUT ROWID` table a block of a probe checked every 10 s (30 samples)
    /// overflowed its 1 KiB leaf into a page of its own, half empty, so the fold wrote about 39 bytes of pages a sample.
    @Test func aFoldOfTenSecondProbesWritesAtMostTwentyFourBytesOfBlocksASample() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(path: directory.path + "/prober.db")
        let probes = try writeTenMinutesOfTwoHundredProbes(store)

        try fold(store, before: start + 10 * minute)
        #expect(try count(store, "sample_recent") == 0)
        let pageSize = try store.read { try $0.scalar("PRAGMA page_size") } ?? 0
        let blockPages = try store.read {
            try $0.scalar("SELECT count(*) FROM dbstat WHERE name IN ('sample_blocks', 'sample_blocks_key')")
        } ?? 0
        let samples = Int64(200 * 60)
        #expect(blockPages * pageSize <= 24 * samples, "\(blockPages) pages of blocks for \(samples) samples")
        let written = (store.walBytes - 32) / (pageSize + 24) * pageSize
        #expect(written <= 26 * samples, "the fold wrote \(written) bytes of pages for \(samples) samples")
        #expect(try store.recentSamples(probe: "p7", limit: .max).map(\.startedAt) == probes[7].map(\.startedAt))
    }

    @Test func aVersion13FileKeepsItsBlocks() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path + "/prober.db"
        let samples = makeSamples(probe: "api", start: start, interval: 10_000_000, count: 100, failureRate: 0.1, seed: 5)
        do {
            let connection = try migratedConnection(at: path, version: 13)
            try connection.execute("INSERT INTO probes(id, name, created_at) VALUES (1, 'api', 0)")
            for window in Dictionary(grouping: samples.map(rawSample), by: { Store.floor($0.ts, Store.blockWidth) }) {
                try Store.insertBlock(probe: 1, start: window.key, window.value, connection)
            }
        }
        let store = try Store(path: path)
        let read = try store.recentSamples(probe: "api", limit: .max)
        #expect(read.map(\.startedAt) == samples.map(\.startedAt))
        #expect(read.map(\.phases) == samples.map(\.phases))
        #expect(try store.read { try $0.scalar("SELECT count(*) FROM sqlite_master WHERE name = 'sample_blocks' AND sql LIKE '%WITHOUT ROWID%'") } == 0)
        #expect(try store.read { try $0.scalar("SELECT count(*) FROM sqlite_master WHERE name = 'sample_blocks_key'") } == 1)
    }

    @Test func aBlockTakesAtMostTwentyBytesPerTypicalSample() {
        let samples = makeSamples(probe: "api", start: start, interval: 10_000_000, count: 30, failureRate: 0.05, seed: 9)
            .map { RawSample(ts: $0.startedAt + Int64.random(in: 0..<3_000), reason: $0.failure?.reason.code ?? 0,
                             status: $0.status.map(Int64.init), phases: $0.phases, bytes: $0.bytes, family: 0) }
        let block = SampleBlock.encode(samples, start: start)
        #expect(block.count <= 20 * samples.count, "\(block.count) bytes for \(samples.count) samples")
        let decoded = block.withUnsafeBytes { SampleBlock.decode($0, start: start) }
        #expect(decoded.map(\.ts) == samples.map(\.ts))
        #expect(decoded.map(\.phases) == samples.map(\.phases))
    }

    @Test func aVersion9FileKeepsItsSamples() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path + "/prober.db"
        let samples = makeSamples(probe: "api", start: start, interval: 30_000_000, count: 100, failureRate: 0.1, seed: 4)
        do {
            let connection = try migratedConnection(at: path, version: 9)
            try connection.execute("INSERT INTO probes(id, name, created_at) VALUES (1, 'api', 0)")
            let insert = try connection.prepare("""
                INSERT INTO samples(probe_id, ts, reason, status, phases, bytes, family) VALUES (1, ?1, ?2, ?3, ?4, ?5, 0)
                """)
            for s in samples {
                insert.reset()
                try insert.bind(1, s.startedAt)
                try insert.bind(2, Int64(s.failure?.reason.code ?? 0))
                try insert.bind(3, s.status.map(Int64.init))
                try insert.bind(4, blob: PhaseCodec.encode(s.phases))
                try insert.bind(5, s.bytes)
                try insert.run()
            }
        }
        let store = try Store(path: path)
        let read = try store.recentSamples(probe: "api", limit: .max)
        #expect(read.map(\.startedAt) == samples.map(\.startedAt))
        #expect(read.map(\.phases) == samples.map(\.phases))
        #expect(read.map { $0.failure?.reason } == samples.map { $0.failure?.reason })
        #expect(try store.read { try $0.scalar("SELECT count(*) FROM sqlite_master WHERE name = 'samples'") } == 0)
    }
}
