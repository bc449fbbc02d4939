import CPostgres

/// Columns of a result asked for in binary format (`PGConnection.query(_:_:binary: true)`), read in place from
/// libpq's buffer: integers as network-order bytes, `bytea` and `text` as their bytes, no hex or digits to parse and no
/// copy (`status` reads 30,000 summary rows at a fleet's size).
/// https://www.postgresql.org/docs/15/libpq-exec.html#LIBPQ-PQGETVALUE
extension PGResult {
    /// A `smallint`, `integer` or `bigint` column (by its length: 2, 4 or 8 bytes); nil for NULL (whose length libpq
    /// gives as 0, so `PQgetisnull`, a third of the calls, is not asked).
    func binaryInt(_ row: Int, _ column: Int) -> Int64? {
        let r = Int32(row), c = Int32(column)
        guard let p = PQgetvalue(handle, r, c) else { return nil }
        let raw = UnsafeRawPointer(p)
        switch PQgetlength(handle, r, c) {
        case 8: return Int64(bigEndian: raw.loadUnaligned(as: Int64.self))
        case 4: return Int64(Int32(bigEndian: raw.loadUnaligned(as: Int32.self)))
        case 2: return Int64(Int16(bigEndian: raw.loadUnaligned(as: Int16.self)))
        default: return nil
        }
    }

    /// The bytes of a `bytea` or `text` column, valid only inside `body`; nil for NULL (`body` is not called).
    func withBinary<T>(_ row: Int, _ column: Int, _ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T? {
        let r = Int32(row), c = Int32(column)
        guard PQgetisnull(handle, r, c) == 0, let p = PQgetvalue(handle, r, c) else { return nil }
        return try body(UnsafeRawBufferPointer(start: UnsafeRawPointer(p), count: Int(PQgetlength(handle, r, c))))
    }

    /// Whether a `text` column holds exactly `text`'s bytes (false for NULL), compared in place.
    func binaryEquals(_ row: Int, _ column: Int, _ text: String) -> Bool {
        var text = text
        return withBinary(row, column) { bytes in text.withUTF8 { $0.elementsEqual(bytes) } } ?? false
    }

    /// A `text` column; nil for NULL.
    func binaryString(_ row: Int, _ column: Int) -> String? {
        withBinary(row, column) { String(decoding: $0, as: UTF8.self) }
    }
}
