@testable import ProberPostgres
import ProberCore
import ProberStore
import ProberTestSupport
import Testing

/// `PGResult` reads a column the same in text and in binary format (`query(binary:)`: `history`, the 1-hour rollup
/// and the pages read rollup rows that way and merge their BLOBs in place).
@Suite struct PGResultFormatTests {
    static let select = """
        SELECT 9007199254740993::bigint, 'fra-1 ü'::text, NULL::text, (-2)::smallint, 70000::integer,
            '\\x00ff10'::bytea, ''::bytea, NULL::bytea, (-9007199254740993)::bigint
        """

    @Test func everyColumnReadsTheSameInBothFormats() throws {
        try CopiedRowsTests.withConnection { db in
            let text = try db.query(Self.select)
            let binary = try db.query(Self.select, binary: true)
            for r in [text, binary] {
                #expect(r.int64OrNil(0, 0) == 9_007_199_254_740_993)
                #expect(r.string(0, 1) == "fra-1 ü")
                #expect(r.isNull(0, 2) && r.stringOrNil(0, 2) == nil)
                #expect(r.int64OrNil(0, 3) == -2)
                #expect(r.int64OrNil(0, 4) == 70_000)
                #expect(r.bytes(0, 5) == [0x00, 0xFF, 0x10])
                #expect(r.withBytes(0, 5) { Array($0) } == [0x00, 0xFF, 0x10])
                #expect(r.bytes(0, 6) == [] && r.withBytes(0, 6) { $0.count } == 0)
                #expect(r.bytes(0, 7) == nil && r.withBytes(0, 7) { $0.count } == 0)
                #expect(r.int64OrNil(0, 8) == -9_007_199_254_740_993)
                #expect(r.int64OrNil(0, 2) == nil)
            }
        }
    }

    /// A stored rollup row merged in place from either format is the aggregate it was encoded from.
    @Test func aRollupRowMergesTheSameFromEitherFormat() throws {
        try CopiedRowsTests.withConnection { db in
            var original = Aggregate()
            for i in 0..<200 {
                original.add(reason: i % 17 == 0 ? 3 : 0, phases: Phases(dns: Int64(i), connect: 40 + Int64(i % 9), total: 900 + Int64(i * 37)))
            }
            try db.execute("CREATE TEMP TABLE r(checks integer, failures integer, reasons bytea, lat_n integer, lat_min bigint, lat_max bigint, lat_sum bigint, hist bytea, phases bytea)")
            try db.query("INSERT INTO r VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)", [
                .int(Int64(original.checks)), .int(Int64(original.failures)), PGParam(bytes: original.encodedReasons()),
                .int(Int64(original.latencyCount)), PGParam(original.latencyMin), PGParam(original.latencyMax),
                .int(original.latencySum), PGParam(bytes: original.encodedHistogram()), PGParam(bytes: original.encodedPhases())])
            var expected = Aggregate.rollupEmpty
            expected.merge(original)
            for binary in [false, true] {
                let r = try db.query("SELECT * FROM r", binary: binary)
                var merged = Aggregate.rollupEmpty
                merged.mergeRollup(r, 0, from: 0)
                #expect(merged.checks == 200 && merged.failures == expected.failures)
                #expect(merged.reasons == expected.reasons)
                #expect(merged.latencyMin == expected.latencyMin && merged.latencyMax == expected.latencyMax)
                #expect(merged.latencySum == expected.latencySum)
                #expect(merged.encodedHistogram() == expected.encodedHistogram())
                #expect(merged.encodedPhases() == expected.encodedPhases())
                #expect(merged.percentile(0.95) == expected.percentile(0.95) && merged.percentile(0.95) != nil)
            }
        }
    }
}
