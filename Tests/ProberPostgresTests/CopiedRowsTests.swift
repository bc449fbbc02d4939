@testable import ProberPostgres
import ProberTestSupport
import Testing

/// `PGConnection.copyOut`: binary COPY rows as the server sends them, read in place (`status` reads a fleet's summary
/// and episodes this way).
@Suite struct CopiedRowsTests {
    static func withConnection(_ body: (PGConnection) throws -> Void) throws {
        let cluster = try TestPostgres.shared()
        let database = try cluster.makeDatabase()
        defer { cluster.dropDatabase(database) }
        let db = try PGConnection(url: cluster.socketURL(database), password: nil, readOnly: false, lockTimeout: .seconds(5))
        try body(db)
    }

    @Test func readsEveryTypeStatusReadsAndNulls() throws {
        try Self.withConnection { db in
            let rows = try db.copyOut("""
                COPY (SELECT 9007199254740993::bigint, 'fra-1 ü'::text, NULL::text, (-2)::smallint, 70000::integer,
                    '\\x00ff10'::bytea, ''::text
                UNION ALL SELECT -1, NULL, 'x', NULL, NULL, NULL, NULL) TO STDOUT (FORMAT binary)
                """)
            #expect(rows.count == 2)
            #expect(rows.int(0, 0) == 9_007_199_254_740_993)
            #expect(rows.string(0, 1) == "fra-1 ü")
            #expect(rows.equals(0, 1, "fra-1 ü") && !rows.equals(0, 1, "fra-1") && !rows.equals(0, 2, ""))
            #expect(rows.string(0, 2) == nil)
            #expect(rows.int(0, 3) == -2)
            #expect(rows.int(0, 4) == 70_000)
            #expect(rows.withBinary(0, 5) { Array($0) } == [0x00, 0xFF, 0x10])
            #expect(rows.string(0, 6) == "" && rows.equals(0, 6, ""))
            #expect(rows.withBinary(0, 7) { _ in true } == nil, "a column the row lacks")
            #expect(rows.int(1, 0) == -1)
            #expect(rows.string(1, 1) == nil && rows.string(1, 2) == "x")
            #expect((3...6).allSatisfy { rows.withBinary(1, $0) { _ in true } == nil })
        }
    }

    /// Rows across several of the 256 KiB chunks, one row larger than a chunk, and no rows at all.
    @Test func keepsRowsAcrossChunksAndLargerThanOne() throws {
        try Self.withConnection { db in
            let big = CopiedRows.chunkSize + 1_000
            let rows = try db.copyOut("""
                COPY (SELECT i, repeat('x', CASE WHEN i = 15000 THEN \(big) ELSE i % 100 END) FROM generate_series(1, 30000) i)
                TO STDOUT (FORMAT binary)
                """)
            #expect(rows.count == 30_000)
            var wrong = 0
            for r in 0..<rows.count {
                let i = Int(rows.int(r, 0) ?? 0)
                let length = rows.withBinary(r, 1) { bytes in bytes.allSatisfy { $0 == UInt8(ascii: "x") } ? bytes.count : -1 }
                if i != r + 1 || length != (i == 15_000 ? big : i % 100) { wrong += 1 }
            }
            #expect(wrong == 0)
            let none = try db.copyOut("COPY (SELECT 1 WHERE false) TO STDOUT (FORMAT binary)")
            #expect(none.count == 0)
        }
    }

    /// An error the server meets midway is thrown, and the connection goes on serving.
    @Test func anErrorMidwayIsThrownAndTheConnectionStaysUsable() throws {
        try Self.withConnection { db in
            #expect(throws: PostgresError.self) {
                try db.copyOut("COPY (SELECT 1 / (5000 - i) FROM generate_series(1, 10000) i) TO STDOUT (FORMAT binary)")
            }
            #expect(throws: PostgresError.self) { try db.copyOut("SELECT 1") }
            let answer = try db.scalar("SELECT 42")
            #expect(answer == 42)
        }
    }
}
