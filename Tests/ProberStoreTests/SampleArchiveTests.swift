import Foundation
import ProberCore
@testable import ProberStore
import ProberStorage
import ProberTestSupport
import Testing

/// Issue 16 item 2, bytes per sample: a probe's 5-minute blocks of a day merged into one archived day
/// (`SampleArchive`, `Store.archiveOldestDay`), read back as the same history and rolled up to the same rows.
@Suite struct SampleArchiveTests {
    let day: Int64 = 86_400_000_000
    /// A Monday at 00:00 UTC.
    let start: Int64 = 1_700_438_400_000_000

    // MARK: The encoding

    /// Random samples the encoding must keep exactly: failures, missing phases and fields, equal and decreasing
    /// starts, values at the ends of Int64.
    func randomSamples(_ random: inout SeededRandom, count: Int) -> [RawSample] {
        let huge: [Int64] = [Int64.max, Int64.min, Int64.max - 1, Int64.min + 1, -1, 0, 1 << 40]
        func value(_ typical: ClosedRange<Int64>) -> Int64 {
            switch Int.random(in: 0..<20, using: &random) {
            case 0: huge.randomElement(using: &random)!
            case 1: Int64.random(in: Int64.min...Int64.max, using: &random)
            default: Int64.random(in: typical, using: &random)
            }
        }
        func maybe(_ v: @autoclosure () -> Int64) -> Int64? { Int.random(in: 0..<5, using: &random) == 0 ? nil : v() }
        var ts = start + Int64.random(in: -1_000...day, using: &random)
        return (0..<count).map { _ in
            switch Int.random(in: 0..<10, using: &random) {
            case 0: break                                                  // the same microsecond
            case 1: ts = ts &- Int64.random(in: 0...50_000_000, using: &random)   // backwards
            case 2: ts = value(0...1_000_000)                              // anywhere
            default: ts &+= 10_000_000 + Int64.random(in: -2_000...2_000, using: &random)
            }
            var phases = Phases()
            for name in Phases.Name.allCases where Int.random(in: 0..<6, using: &random) > 0 {
                phases[name] = value(0...200_000)
            }
            return RawSample(ts: ts, reason: Int.random(in: 0..<8, using: &random) == 0 ? Int.random(in: -3...40, using: &random) : 0,
                             status: maybe(value(100...599)), phases: phases, bytes: maybe(value(0...100_000)),
                             family: Int.random(in: 0..<4, using: &random) == 0 ? nil : Int64.random(in: 0...1, using: &random))
        }
    }

    func roundTrip(_ samples: [RawSample], start: Int64) -> [RawSample] {
        SampleArchive.encode(samples, start: start).withUnsafeBytes { SampleArchive.decode($0, start: start) }
    }

    @Test func randomSamplesRoundTripExactly() {
        var random = SeededRandom(seed: 16)
        for round in 0..<300 {
            let count = round < 5 ? round : Int.random(in: 0..<(round % 10 == 0 ? 5_000 : 200), using: &random)
            let samples = randomSamples(&random, count: count)
            let decoded = roundTrip(samples, start: start)
            #expect(decoded.map { "\($0)" } == samples.map { "\($0)" }, "round \(round), \(count) samples")
            #expect(SampleArchive.encode(samples, start: start).withUnsafeBytes { SampleArchive.count($0) } == count)
            // A slice builds only its samples, the same as the whole day's.
            let from = start + Int64.random(in: -day...day, using: &random), to = from + Int64.random(in: 0...day / 4, using: &random)
            let slice = SampleArchive.encode(samples, start: start).withUnsafeBytes { SampleArchive.decode($0, start: start, from: from, to: to) }
            #expect(slice.map { "\($0)" } == samples.filter { $0.ts >= from && $0.ts < to }.map { "\($0)" }, "round \(round)")
        }
    }

    @Test func aDamagedBlockDecodesToNothingOrItsSamplesWithoutCrashing() {
        var random = SeededRandom(seed: 7)
        let samples = randomSamples(&random, count: 500)
        let block = SampleArchive.encode(samples, start: start)
        for cut in stride(from: 0, to: block.count, by: max(1, block.count / 97)) {
            let decoded = Array(block.prefix(cut)).withUnsafeBytes { SampleArchive.decode($0, start: start) }
            #expect(decoded.isEmpty, "cut at \(cut)")
        }
        for _ in 0..<300 {
            var damaged = block
            damaged[Int.random(in: 0..<damaged.count, using: &random)] ^= UInt8.random(in: 1...255, using: &random)
            _ = damaged.withUnsafeBytes { SampleArchive.decode($0, start: start) }
        }
    }

    /// Log-normal phases (sigma 0.6) and starts jittered by up to 3 ms carry about 9 bytes of entropy a sample;
    /// the archive takes about 10.8 (a 5-minute block 14-15).
    @Test func aDayOfTypicalChecksTakesAtMostTwelveBytesPerSample() {
        for interval: Int64 in [10_000_000, 30_000_000, 60_000_000] {
            let samples = makeSamples(probe: "api", start: start, interval: interval, count: Int(day / interval), seed: 5)
                .map { RawSample(ts: $0.startedAt + Int64.random(in: 0..<3_000), reason: $0.failure?.reason.code ?? 0,
                                 status: $0.status.map(Int64.init), phases: $0.phases, bytes: $0.bytes,
                                 family: $0.ipFamily.map { $0 == .ipv6 ? 1 : 0 }) }
            let bytes = SampleArchive.encode(samples, start: start).count
            #expect(bytes <= 12 * samples.count, "\(bytes) bytes for \(samples.count) samples every \(interval / 1_000_000) s")
            #expect(roundTrip(samples, start: start).map { "\($0)" } == samples.map { "\($0)" })
        }
    }

    // MARK: The merge fold

    func makeStore(_ directory: TemporaryDirectory, _ name: String, samples: [Sample]) throws -> Store {
        let store = try Store(path: directory.path + "/\(name).db")
        try store.write { try store.insert(samples, $0) }
        try store.queue.sync { try store.fold(before: samples.last!.startedAt + 1) }
        return store
    }

    func id(_ store: Store, _ name: String = "api") throws -> Int64 {
        try store.read { try $0.scalar("SELECT id FROM probes WHERE name = '\(name)'") }!
    }

    /// Every raw sample of the probe as text, and the first and newest as the store finds them.
    func history(_ store: Store) throws -> [String] {
        let probe = try id(store)
        return try store.read { db in
            try store.samples(probe: probe, from: .min, to: .max, db).map { "\($0)" }
                + ["\(try store.firstSampleTime(probe: probe, db) as Any)", "\(try store.lastSample(probe: probe, db) as Any)",
                   "\(try store.lastSamples(db)[probe] as Any)"]
        }
    }

    /// Merges days until none is left; returns how many calls did something.
    @discardableResult
    func archiveAll(_ store: Store, now: Int64) throws -> Int {
        let probe = try id(store)
        var calls = 0
        while try store.write({ try store.archiveOldestDay(probe: probe, now: now, $0) }) { calls += 1 }
        return calls
    }

    func count(_ store: Store, _ table: String) throws -> Int64 {
        try store.read { try $0.scalar("SELECT count(*) FROM \(table)") } ?? 0
    }

    @Test func mergingDaysKeepsTheHistoryAndIsIdempotentAndResumable() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let samples = makeSamples(probe: "api", start: start + 7_000, interval: 30_000_000, count: 3 * 2_880 + 100,
                                  failureRate: 0.1, seed: 11)
        let store = try makeStore(directory, "a", samples: samples)
        let before = try history(store)
        #expect(before.count == samples.count + 3)
        let now = start + 4 * day

        // A merge rolled back (a crash) leaves everything as it was.
        struct Crash: Error {}
        let probe = try id(store)
        #expect(throws: Crash.self) {
            try store.write { db in
                _ = try store.archiveOldestDay(probe: probe, now: now, db)
                throw Crash()
            }
        }
        #expect(try history(store) == before)
        #expect(try count(store, "sample_archive") == 0)

        // One day, then the rest: the fourth day has not ended an hour ago and stays in blocks.
        #expect(try store.write { try store.archiveOldestDay(probe: probe, now: now, $0) })
        #expect(try count(store, "sample_archive") == 1)
        #expect(try history(store) == before)
        #expect(try archiveAll(store, now: now) == 2)
        #expect(try count(store, "sample_archive") == 3)
        #expect(try count(store, "sample_blocks") == 10)
        #expect(try history(store) == before)
        // Again: nothing to do.
        #expect(try archiveAll(store, now: now) == 0)
        #expect(try history(store) == before)

        // A late sample and a replacement inside an archived day: blocks laid over the day, then merged into it.
        let late = Sample(probe: "api", startedAt: start + day + 5, phases: Phases(total: 7), status: 204)
        let replacement = Sample(probe: "api", startedAt: samples[10].startedAt, failure: Failure(.connectRefused, "refused"))
        try store.write { try store.insert([late, replacement], $0) }
        try store.queue.sync { try store.fold(before: now) }
        let after = try history(store)
        #expect(after.count == before.count + 1)
        let read = try store.read { try store.samples(probe: probe, from: .min, to: .max, $0) }
        #expect(read[10].reason == FailureReason.connectRefused.code && read[10].status == nil)
        #expect(read.contains { $0.ts == late.startedAt && $0.status == 204 })
        #expect(try archiveAll(store, now: now) == 3)    // days 0 and 1, and day 2 passed over (no block in it)
        #expect(try count(store, "sample_blocks") == 10)
        #expect(try history(store) == after)

        // Retention drops archived days whole.
        let dropped = try store.write { try store.deleteSamples(probe: probe, before: start + 2 * day + 1, limit: 100_000, $0) }
        #expect(dropped == 2 * 2_880 + 1)
        #expect(try count(store, "sample_archive") == 1)
        #expect(try store.read { try store.samples(probe: probe, from: .min, to: .max, $0) }.first?.ts == samples[2 * 2_880].startedAt)
    }

    /// The rollup rows as text, every column.
    func rollups(_ store: Store, _ table: String) throws -> [String] {
        let latency = table == "rollup_1d" ? "" : """
             || ' ' || quote(reasons) || ' ' || lat_n || ' ' || quote(lat_min) || ' ' || quote(lat_max) || ' ' ||
            quote(lat_sum) || ' ' || quote(hist) || ' ' || quote(phases)
            """
        return try store.read { db in
            let select = try db.prepare("""
                SELECT probe_id || ' ' || bucket || ' ' || checks || ' ' || failures\(latency)
                FROM \(table) ORDER BY probe_id, bucket
                """)
            var rows: [String] = []
            while try select.step() { rows.append(select.string(0)) }
            select.reset()
            return rows
        }
    }

    @Test func rollupsFromArchivedDaysAreTheRollupsFromBlocks() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let samples = makeSamples(probe: "api", start: start + 3_000, interval: 10_000_000, count: 3 * 8_640, failureRate: 0.1, seed: 12)
        let now = start + 3 * day + 30 * 60_000_000
        let blocks = try makeStore(directory, "blocks", samples: samples)
        let archived = try makeStore(directory, "archived", samples: samples)
        // `blocks` rolls up from blocks (it merges only its first day, between chunks), `archived` from archived days.
        let lastDay = start + 2 * day
        try blocks.maintain(now: lastDay + 30 * 60_000_000, policy: StoragePolicy(), budget: .seconds(600))
        #expect(try count(blocks, "sample_archive") == 1)
        try archiveAll(archived, now: now + day)
        #expect(try count(archived, "sample_archive") == 3)
        try archived.maintain(now: lastDay + 30 * 60_000_000, policy: StoragePolicy(), budget: .seconds(600))
        #expect(try rollups(archived, "rollup_5m") == rollups(blocks, "rollup_5m"))
        #expect(try rollups(archived, "rollup_5m").count > 500)
        try blocks.maintain(now: now, policy: StoragePolicy(), budget: .seconds(600))
        try archived.maintain(now: now, policy: StoragePolicy(), budget: .seconds(600))
        for table in ["rollup_5m", "rollup_1h", "rollup_1d"] {
            #expect(try rollups(archived, table) == rollups(blocks, table), "\(table)")
        }
        #expect(try history(archived) == history(blocks))
        let a = try archived.history(probe: "api", since: start, until: now, every: 3_600_000_000)
        let b = try blocks.history(probe: "api", since: start, until: now, every: 3_600_000_000)
        #expect(String(describing: a) == String(describing: b))
    }

    @Test func aVersion11FileIsUpgradedAndItsBlocksArchived() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path + "/prober.db"
        let samples = makeSamples(probe: "api", start: start, interval: 30_000_000, count: 2 * 2_880, failureRate: 0.1, seed: 4)
        do {
            let connection = try migratedConnection(at: path, version: 11)
            try connection.execute("INSERT INTO probes(id, name, created_at) VALUES (1, 'api', 0)")
            let raw = samples.map { RawSample(ts: $0.startedAt, reason: $0.failure?.reason.code ?? 0, status: $0.status.map(Int64.init),
                                              phases: $0.phases, bytes: $0.bytes, family: $0.ipFamily.map { $0 == .ipv6 ? 1 : 0 }) }
            for window in Dictionary(grouping: raw, by: { Store.floor($0.ts, Store.blockWidth) }).sorted(by: { $0.key < $1.key }) {
                try Store.insertBlock(probe: 1, start: window.key, window.value, connection)
            }
        }
        let store = try Store(path: path)
        #expect(try store.read { try $0.scalar("PRAGMA user_version") } == Int64(Store.migrations.count))
        let before = try history(store)
        #expect(before.count == samples.count + 3)
        try store.maintain(now: start + 3 * day, policy: StoragePolicy(), budget: .seconds(600))
        #expect(try count(store, "sample_archive") == 2)
        #expect(try count(store, "sample_blocks") == 0)
        #expect(try history(store) == before)
        #expect(try store.recentSamples(probe: "api", limit: .max).map(\.startedAt) == samples.map(\.startedAt))
    }
}
