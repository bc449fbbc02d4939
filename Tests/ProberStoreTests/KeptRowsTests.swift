@testable import ProberStore
import ProberTestSupport
import Testing

/// The rows a fold keeps while it empties `sample_recent` come back exactly as they went in, NULLs, negative and
/// extreme values and empty phase blobs included, in a few bytes each.
struct KeptRowsTests {
    typealias Row = (seq: Int64, probe: Int64, ts: Int64, reason: Int64, status: Int64?, phases: [UInt8]?, bytes: Int64?, family: Int64?)

    @Test func rowsComeBackAsTheyWentIn() {
        var random = SeededRandom(seed: 16)
        var rows: [Row] = []
        var seq: Int64 = 1, ts: Int64 = 1_700_000_000_000_000
        for i in 0..<5_000 {
            if i % 600 == 0 { seq += 1 }
            ts += Int64(random.next() % 2_000_000) - 500_000
            func maybe(_ v: Int64) -> Int64? { random.next() % 5 == 0 ? nil : v }
            let phases: [UInt8]? = random.next() % 7 == 0 ? nil : (0..<Int(random.next() % 14)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            rows.append((seq, Int64(random.next() % 60_000) + 1, ts, Int64(random.next() % 9), maybe(Int64(random.next() % 600)),
                         phases, maybe(Int64(random.next() % 100_000) - 1), maybe(Int64(random.next() % 2))))
        }
        rows.append((Int64.max, Int64.min, Int64.min, Int64.max, Int64.min, [], Int64.max, Int64.min))
        rows.append((0, 0, 0, 0, 0, nil, 0, 0))

        var kept = KeptRows()
        for row in rows {
            if let phases = row.phases {
                phases.withUnsafeBytes { kept.append((row.seq, row.probe, row.ts, row.reason, row.status, $0, row.bytes, row.family)) }
            } else {
                kept.append((row.seq, row.probe, row.ts, row.reason, row.status, nil, row.bytes, row.family))
            }
        }
        var back: [Row] = []
        kept.forEach { back.append($0) }
        #expect(back.count == rows.count)
        for (a, b) in zip(back, rows) {
            #expect(a.seq == b.seq && a.probe == b.probe && a.ts == b.ts && a.reason == b.reason && a.status == b.status
                    && a.phases == b.phases && a.bytes == b.bytes && a.family == b.family, "\(a) != \(b)")
        }
        #expect(kept.count < 24 * rows.count, "\(kept.count) bytes for \(rows.count) rows")
    }
}
