import Foundation
import ProberCore
@testable import ProberStore
import ProberStorage
import ProberTestSupport
import Testing

/// Issue 16 item 2, ~9 bytes a sample: archived days in format 2 (`SampleArchive+RangeCoded.swift`, `RangeCoder`)
/// keep every field exactly, and days written in format 1 (deflate, version 12) keep reading after the upgrade.
@Suite struct SampleArchiveFormatTests {
    let day: Int64 = 86_400_000_000
    /// A Monday at 00:00 UTC.
    let start: Int64 = 1_700_438_400_000_000

    // MARK: The range coder

    @Test func theRangeCoderKeepsValuesOfEveryLengthAndBitsExactly() {
        var random = SeededRandom(seed: 21)
        var values: [UInt64] = [0, 1, 2, 3, UInt64.max, UInt64.max - 1, 1 << 63, (1 << 63) - 1]
        for length in 1...64 {
            let top: UInt64 = length == 64 ? .max : (1 << UInt64(length)) - 1
            values += (0..<20).map { _ in UInt64.random(in: (top >> 1)...top, using: &random) }
        }
        values += (0..<2_000).map { _ in UInt64(random.latency(median: 40_000)) }
        let bits = (0..<values.count).map { _ in Int.random(in: 0..<100, using: &random) < 97 }
        let models = 3 * RangeModels.valueSlots + 2
        var encoder = RangeEncoder(models: models)
        for (i, v) in values.enumerated() {
            encoder.encode(v, value: (i % 3) * RangeModels.valueSlots)
            encoder.encode(bits[i], model: 3 * RangeModels.valueSlots + i % 2)
            encoder.encodeDirect(v, bits: i % 65)
        }
        let coded = encoder.finish()
        coded.withUnsafeBytes { data in
            var decoder = RangeDecoder(data, models: models)
            for (i, v) in values.enumerated() {
                #expect(decoder.decode(value: (i % 3) * RangeModels.valueSlots) == v, "value \(i)")
                #expect(decoder.decode(model: 3 * RangeModels.valueSlots + i % 2) == bits[i], "bit \(i)")
                let direct = decoder.decodeDirect(bits: i % 65)
                #expect(direct == (i % 65 == 64 ? v : v & ((1 << UInt64(i % 65)) - 1)), "direct \(i)")
            }
            #expect(decoder.overrun == 0 && !decoder.damaged)
        }
    }

    // MARK: Format 2

    /// Days as probes leave them, and worse: a grid with jitter, missed ticks, a restart that moves the phase,
    /// a clock that drifts, an interval changed mid-day, bursts at the same microsecond, failures without phases,
    /// fields that come and go, and values at the ends of Int64.
    func day(_ random: inout SeededRandom, count: Int, interval: Int64) -> [RawSample] {
        var phase = Int64.random(in: 0..<interval, using: &random), grid = start + phase, drift: Int64 = 0
        var interval = interval
        let huge: [Int64] = [.max, .min, .max - 1, .min + 1, -1, 0]
        return (0..<count).map { i in
            switch Int.random(in: 0..<200, using: &random) {
            case 0: grid += interval * Int64.random(in: 1...40, using: &random)           // missed ticks
            case 1: phase = Int64.random(in: 0..<interval, using: &random); grid += phase  // restart
            case 2: interval = Int64.random(in: 1_000_000...120_000_000, using: &random)    // the probe file changed
            case 3: drift = Int64.random(in: -300...300, using: &random)                   // NTP slews
            case 4: break                                                                  // the same microsecond again
            default: grid += interval + drift
            }
            let ts = grid + Int64.random(in: 0..<3_000, using: &random)
            var phases = Phases()
            let failed = Int.random(in: 0..<30, using: &random) == 0
            if failed {
                if Bool.random(using: &random) { phases.dns = 200; phases.total = 5_000_000 }
            } else {
                phases = Phases(dns: random.latency(median: 300), connect: random.latency(median: 800),
                                tls: random.latency(median: 3_000), processing: random.latency(median: 40_000),
                                transfer: random.latency(median: 500))
                phases.total = Phases.Name.allCases.dropLast().reduce(0) { $0 + (phases[$1] ?? 0) }
                    + (Int.random(in: 0..<10, using: &random) == 0 ? Int64.random(in: -50...5_000, using: &random) : 0)
                for name in Phases.Name.allCases where Int.random(in: 0..<50, using: &random) == 0 { phases[name] = nil }
                if Int.random(in: 0..<100, using: &random) == 0 { phases.processing = huge.randomElement(using: &random)! }
            }
            return RawSample(ts: i % 500 == 7 ? huge.randomElement(using: &random)! : ts,
                             reason: failed ? [4, 6, 2, -1, 1 << 40].randomElement(using: &random)! : 0,
                             status: failed && Bool.random(using: &random) ? nil : [200, 200, 503, 301, -7].randomElement(using: &random)!,
                             phases: phases,
                             bytes: Int.random(in: 0..<20, using: &random) == 0 ? nil : [1_234, 0, 99_999_999, .min].randomElement(using: &random)!,
                             family: Int.random(in: 0..<20, using: &random) == 0 ? nil : [0, 1, 0, 7].randomElement(using: &random)!)
        }
    }

    func decode(_ row: [UInt8], from: Int64 = .min, to: Int64 = .max) -> [RawSample] {
        row.withUnsafeBytes { SampleArchive.decode($0, start: start, from: from, to: to) }
    }

    @Test func irregularDaysRoundTripExactly() {
        var random = SeededRandom(seed: 2026)
        for round in 0..<120 {
            let interval: Int64 = [100_000, 10_000_000, 30_000_000, 60_000_000, 300_000_000][round % 5]
            let samples = day(&random, count: Int.random(in: 0..<(round % 20 == 0 ? 8_640 : 600), using: &random), interval: interval)
            let row = SampleArchive.encode(samples, start: start)
            #expect(row[row.withUnsafeBytes { headerLength($0) }] == SampleArchive.rangeCoded)
            #expect(decode(row).map { "\($0)" } == samples.map { "\($0)" }, "round \(round), \(samples.count) samples")
            let from = start + Int64.random(in: 0...day, using: &random), to = from + Int64.random(in: 0...day / 3, using: &random)
            #expect(decode(row, from: from, to: to).map { "\($0)" } == samples.filter { $0.ts >= from && $0.ts < to }.map { "\($0)" })
        }
    }

    /// The bytes before the method byte (two varints).
    func headerLength(_ data: UnsafeRawBufferPointer) -> Int {
        var reader = Varint.Reader(data)
        _ = reader.next()
        _ = reader.next()
        return reader.offset
    }

    /// A regular probe's starts cost only their jitter: against format 1 on the same day, and against the entropy
    /// of its timings (about 9 bytes: 7.6 the five log-normal phases at microsecond resolution, 1.4 a start
    /// jittered uniformly over 3 ms).
    @Test func aDayOfTypicalChecksTakesAtMostNineAndAHalfBytesPerSample() {
        for interval: Int64 in [10_000_000, 30_000_000, 60_000_000] {
            var random = SeededRandom(seed: UInt64(interval))
            let samples = makeSamples(probe: "api", start: start, interval: interval, count: Int(day / interval), failureRate: 0.02, seed: 9)
                .map { RawSample(ts: $0.startedAt + Int64.random(in: 0..<3_000, using: &random), reason: $0.failure?.reason.code ?? 0,
                                 status: $0.status.map(Int64.init), phases: $0.phases, bytes: $0.bytes,
                                 family: $0.ipFamily.map { $0 == .ipv6 ? 1 : 0 }) }
            let coded = SampleArchive.encode(samples, start: start).count, deflated = SampleArchive.encodeDeflated(samples, start: start).count
            #expect(Double(coded) <= 9.5 * Double(samples.count),
                    "\(coded) bytes for \(samples.count) samples every \(interval / 1_000_000) s (format 1: \(deflated))")
            #expect(coded < deflated)
            #expect(decode(SampleArchive.encode(samples, start: start)).map { "\($0)" } == samples.map { "\($0)" })
        }
    }

    @Test func aDamagedDayDecodesToNothing() {
        var random = SeededRandom(seed: 8)
        let row = SampleArchive.encode(day(&random, count: 700, interval: 10_000_000), start: start)
        for cut in stride(from: 0, to: row.count, by: max(1, row.count / 89)) {
            #expect(decode(Array(row.prefix(cut))).isEmpty, "cut at \(cut)")
        }
        for _ in 0..<300 {
            var damaged = row
            damaged[Int.random(in: 0..<damaged.count, using: &random)] ^= UInt8.random(in: 1...255, using: &random)
            #expect(decode(damaged).isEmpty)   // the checksum covers the count and the coded bytes
        }
    }

    // MARK: Format 1 still reads

    @Test func daysDeflatedByVersion12StillDecode() {
        var random = SeededRandom(seed: 12)
        for round in 0..<40 {
            let samples = day(&random, count: Int.random(in: 0..<2_000, using: &random), interval: 30_000_000)
                .map { s in var s = s; s.family = s.family.map { $0 == 1 ? 1 : 0 }; return s }   // format 1 kept 0 and 1 only
            #expect(decode(SampleArchive.encodeDeflated(samples, start: start)).map { "\($0)" } == samples.map { "\($0)" }, "round \(round)")
        }
    }

    /// A version 12 file whose days were deflated: after the upgrade it reads the same; the next archived day is
    /// written in format 2; a late sample in an old day makes the archive step write that day again, in format 2.
    @Test func aVersion12FileWithDeflatedDaysKeepsReadingAfterTheUpgrade() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path + "/prober.db"
        let samples = makeSamples(probe: "api", start: start, interval: 30_000_000, count: 3 * 2_880, failureRate: 0.1, seed: 6)
        let raw = samples.map { RawSample(ts: $0.startedAt, reason: $0.failure?.reason.code ?? 0, status: $0.status.map(Int64.init),
                                          phases: $0.phases, bytes: $0.bytes, family: $0.ipFamily.map { $0 == .ipv6 ? 1 : 0 }) }
        do {
            let connection = try migratedConnection(at: path, version: 12)
            try connection.execute("INSERT INTO probes(id, name, created_at) VALUES (1, 'api', 0)")
            let insert = try connection.prepare("INSERT INTO sample_archive(probe_id, start, data) VALUES (1, ?1, ?2)")
            for d in 0..<2 {
                let daySamples = raw.filter { $0.ts >= start + Int64(d) * day && $0.ts < start + Int64(d + 1) * day }
                try insert.bind(1, start + Int64(d) * day)
                try insert.bind(2, blob: SampleArchive.encodeDeflated(daySamples, start: start + Int64(d) * day))
                try insert.run()
                insert.reset()
            }
            for window in Dictionary(grouping: raw.filter { $0.ts >= start + 2 * day }, by: { Store.floor($0.ts, Store.blockWidth) })
                .sorted(by: { $0.key < $1.key }) {
                try Store.insertBlock(probe: 1, start: window.key, window.value, connection)
            }
        }
        let store = try Store(path: path)
        #expect(try store.read { try $0.scalar("PRAGMA user_version") } == Int64(Store.migrations.count))
        func all() throws -> [String] {
            try store.read { try store.samples(probe: 1, from: .min, to: .max, $0).map { "\($0)" } }
        }
        #expect(try all() == raw.map { "\($0)" })
        func methods() throws -> [Int64] {
            try store.read { db in
                let select = try db.prepare("SELECT data FROM sample_archive ORDER BY start")
                defer { select.reset() }
                var out: [Int64] = []
                while try select.step() { out.append(select.withBlob(0) { Int64($0[headerLength($0)]) }) }
                return out
            }
        }
        #expect(try methods() == [1, 1])
        try store.maintain(now: start + 4 * day, policy: StoragePolicy(), budget: .seconds(600))
        #expect(try methods() == [1, 1, 2])
        #expect(try all() == raw.map { "\($0)" })

        let late = Sample(probe: "api", startedAt: start + day + 7, phases: Phases(dns: 1, total: 1), status: 200)
        try store.write { try store.insert([late], $0) }
        try store.queue.sync { try store.fold(before: start + 4 * day) }
        try store.maintain(now: start + 4 * day + 60_000_000, policy: StoragePolicy(), budget: .seconds(600))
        #expect(try methods() == [1, 2, 2])
        let withLate = (raw + [RawSample(ts: late.startedAt, reason: 0, status: 200, phases: late.phases, bytes: nil, family: nil)])
            .sorted { $0.ts < $1.ts }
        #expect(try all() == withLate.map { "\($0)" })
    }

    // MARK: Retention

    /// The default keeps 30 days of raw samples (archived days are deleted whole once they ended before the
    /// cutoff), and its 5-minute rollups outlive them.
    @Test func theDefaultRetentionKeepsThirtyDaysOfArchivedSamples() throws {
        let policy = StoragePolicy()
        #expect(policy.raw == .seconds(30 * 86_400))
        #expect(policy.rollup5m > policy.raw)
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(path: directory.path + "/prober.db")
        let samples = makeSamples(probe: "api", start: start, interval: 3_600_000_000, count: 40 * 24, seed: 30)
        try store.write { try store.insert(samples, $0) }
        try store.queue.sync { try store.fold(before: samples.last!.startedAt + 1) }
        let now = start + 40 * day + 2 * 3_600_000_000
        while try !store.maintain(now: now, policy: policy, budget: .seconds(600)).finished {}
        let kept = try store.read { try store.samples(probe: 1, from: .min, to: .max, $0) }.map(\.ts)
        let cutoff = now - 30 * day
        #expect(kept == samples.map(\.startedAt).filter { $0 >= Store.floor(cutoff, day) })
        #expect(try store.read { try $0.scalar("SELECT count(*) FROM sample_archive") } == Int64(39 - 9))
    }
}
