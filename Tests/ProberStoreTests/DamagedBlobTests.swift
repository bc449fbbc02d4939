import Foundation
import ProberCore
@testable import ProberStore
import ProberStorage
import ProberTestSupport
import Testing

/// The rollup and sample BLOBs are read as written, but a damaged one (a bad disk, a hand-edited file) must give
/// wrong figures, not a trap: `history` on rows of random bytes (bench/steady-writes' seed) crashed on a varint past
/// `Int.max` ("Not enough bits to represent the passed value"), and the daemon reads the same rows for its pages.
@Suite struct DamagedBlobTests {
    /// A Monday at 00:00 UTC.
    let start: Int64 = 1_700_438_400_000_000
    /// A varint of 2^63 + 2^62 + …: past `Int.max`, then a varint of 1.
    let huge = "X'FFFFFFFFFFFFFFFFFF01FFFFFFFFFFFFFFFFFF0101'"
    /// Histogram bucket 0 counted 2^63 + …: clamped to `Int32.max`, which two such rows overflow when merged.
    let full = "X'00FFFFFFFFFFFFFFFFFF01'"

    @Test func damagedRollupAndBlockBytesGiveFiguresNotATrap() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try Store(path: directory.path + "/prober.db")
        try fill(store, makeSamples(probe: "api", start: start, interval: 60_000_000, count: 10, seed: 3))
        try store.write { db in
            try db.execute("""
                INSERT INTO rollup_5m(probe_id, bucket, checks, failures, reasons, lat_n, lat_min, lat_max, lat_sum, hist, phases)
                VALUES (1, \(start - 300_000_000), 30, 2, \(huge), 28, 1000, 2000, 42000, \(huge), \(huge)),
                       (1, \(start - 900_000_000), 30, 0, NULL, 30, 1000, 2000, 45000, \(full), \(huge)),
                       (1, \(start - 1_200_000_000), 30, 0, NULL, 30, 1000, 2000, 45000, \(full), \(huge));
                INSERT INTO rollup_1h(probe_id, bucket, checks, failures, reasons, lat_n, lat_min, lat_max, lat_sum, hist, phases)
                VALUES (1, \(start - 3_600_000_000), 360, 0, NULL, 360, 1000, 2000, 500000, \(huge), \(huge)),
                       (1, \(start - 7_200_000_000), 360, 0, NULL, 360, 1000, 2000, 500000, \(full), \(huge)),
                       (1, \(start - 10_800_000_000), 360, 0, NULL, 360, 1000, 2000, 500000, \(full), \(huge));
                INSERT INTO rollup_marks(probe_id, rolled_5m, rolled_1h, rolled_1d) VALUES (1, \(start), \(start - 1_800_000_000), NULL);
                INSERT INTO sample_blocks(start, probe_id, data) VALUES (\(start - 600_000_000), 1, \(huge));
                """)
        }
        let now = start + 10 * 60_000_000
        let day = try #require(try store.history(probe: "api", since: start - 86_400_000_000, until: now, every: 3_600_000_000))
        #expect(day.buckets.reduce(0) { $0 + $1.checks } >= 10)
        let month = try #require(try store.history(probe: "api", since: start - 30 * 86_400_000_000, until: now))
        #expect(month.buckets.reduce(0) { $0 + $1.checks } >= 30)
        let overview = try #require(try store.overview(probes: ["api"], days: 2, now: now)["api"])
        #expect(overview.days.reduce(0) { $0 + $1.checks } >= 10)
    }
}
