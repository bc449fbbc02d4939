import CPostgres

/// The rows of a `COPY (query) TO STDOUT (FORMAT binary)` (`PGConnection.copyOut`), kept as the server sent them and
/// read in place: integers as network-order bytes, `bytea` and `text` as their bytes.
///
/// `status` reads 30,000 summary rows and 30,000 published episodes at a fleet's size (10 locations × 3,000 probes).
/// As a `PGresult`, each row cost a descriptor per column (16 bytes) and a copy of each value in 2 KiB blocks: 10 MB
/// the process faulted in page by page, half of its page faults. Here a row is its wire bytes, copied once into
/// 256 KiB chunks as each arrives (libpq hands them over one at a time), with nothing per column.
/// https://www.postgresql.org/docs/15/sql-copy.html#id-1.9.3.55.9.4 (binary format)
final class CopiedRows {
    /// Each row's tuple: a 16-bit field count, then per field a 32-bit length (-1 for NULL) and that many bytes.
    /// Constants: read without the exclusivity checks a `var` of a class costs at each of 240,000 reads.
    private let tuples: [UnsafeRawPointer]
    private let chunks: [UnsafeMutableRawBufferPointer]

    static let chunkSize = 1 << 18
    /// "PGCOPY\n\377\r\n\0", then 32-bit flags and the length of a header extension.
    private static let signature: [UInt8] = [0x50, 0x47, 0x43, 0x4F, 0x50, 0x59, 0x0A, 0xFF, 0x0D, 0x0A, 0x00]

    /// Takes the rows `builder` kept (and the memory they are in).
    init(_ builder: Builder) {
        tuples = builder.tuples
        chunks = builder.chunks
    }

    var count: Int { tuples.count }

    deinit { chunks.forEach { $0.deallocate() } }

    /// The rows as they come, one CopyData message at a time. Its memory goes to the `CopiedRows` made of it, or is
    /// given back with `deallocate()`.
    struct Builder {
        fileprivate var tuples: [UnsafeRawPointer] = []
        fileprivate var chunks: [UnsafeMutableRawBufferPointer] = []
        private var used = 0
        private var sawHeader = false
        /// Whether the end-of-data marker came.
        private(set) var ended = false

        /// Takes one CopyData message: the file header (first), whole tuples, or the end marker (-1).
        mutating func append(_ message: UnsafeRawBufferPointer) throws(MalformedCopy) {
            var at = 0
            if !sawHeader {
                guard message.count >= 19, message.prefix(11).elementsEqual(CopiedRows.signature) else { throw MalformedCopy() }
                let extensionLength = Int(UInt32(bigEndian: message.loadUnaligned(fromByteOffset: 15, as: UInt32.self)))
                at = 19 + extensionLength
                guard at <= message.count else { throw MalformedCopy() }
                sawHeader = true
            }
            while at < message.count {
                guard !ended, at + 2 <= message.count else { throw MalformedCopy() }
                let fields = Int16(bigEndian: message.loadUnaligned(fromByteOffset: at, as: Int16.self))
                if fields == -1 { ended = true; at += 2; continue }
                guard fields >= 0 else { throw MalformedCopy() }
                var end = at + 2
                for _ in 0..<fields {
                    guard end + 4 <= message.count else { throw MalformedCopy() }
                    let length = Int(Int32(bigEndian: message.loadUnaligned(fromByteOffset: end, as: Int32.self)))
                    end += 4 + max(0, length)
                    guard end <= message.count else { throw MalformedCopy() }
                }
                keep(UnsafeRawBufferPointer(rebasing: message[at..<end]))
                at = end
            }
        }

        /// Copies a tuple into the current chunk (a new one when it does not fit).
        private mutating func keep(_ tuple: UnsafeRawBufferPointer) {
            if chunks.isEmpty || used + tuple.count > chunks[chunks.count - 1].count {
                chunks.append(.allocate(byteCount: max(CopiedRows.chunkSize, tuple.count), alignment: 8))
                used = 0
            }
            let destination = chunks[chunks.count - 1].baseAddress! + used
            destination.copyMemory(from: tuple.baseAddress!, byteCount: tuple.count)
            used += tuple.count
            tuples.append(UnsafeRawPointer(destination))
        }

        /// Gives back the memory of rows that will not be read.
        func deallocate() { chunks.forEach { $0.deallocate() } }
    }

    /// The bytes of a column, valid only inside `body`; nil for NULL or a column the row lacks (`body` is not called).
    func withBinary<T>(_ row: Int, _ column: Int, _ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T? {
        var p = tuples[row]
        guard column < Int(Int16(bigEndian: p.loadUnaligned(as: Int16.self))) else { return nil }
        p += 2
        for _ in 0..<column { p += 4 + max(0, Int(Int32(bigEndian: p.loadUnaligned(as: Int32.self)))) }
        let length = Int(Int32(bigEndian: p.loadUnaligned(as: Int32.self)))
        guard length >= 0 else { return nil }
        return try body(UnsafeRawBufferPointer(start: p + 4, count: length))
    }

    /// A `smallint`, `integer` or `bigint` column (by its length: 2, 4 or 8 bytes); nil for NULL.
    func int(_ row: Int, _ column: Int) -> Int64? {
        withBinary(row, column) { bytes -> Int64? in
            switch bytes.count {
            case 8: Int64(bigEndian: bytes.loadUnaligned(as: Int64.self))
            case 4: Int64(Int32(bigEndian: bytes.loadUnaligned(as: Int32.self)))
            case 2: Int64(Int16(bigEndian: bytes.loadUnaligned(as: Int16.self)))
            default: nil
            }
        } ?? nil
    }

    /// A `text` column; nil for NULL.
    func string(_ row: Int, _ column: Int) -> String? {
        withBinary(row, column) { String(decoding: $0, as: UTF8.self) }
    }

    /// Whether a `text` column holds exactly `text`'s bytes (false for NULL), compared in place.
    func equals(_ row: Int, _ column: Int, _ text: String) -> Bool {
        var text = text
        return withBinary(row, column) { bytes in text.withUTF8 { $0.elementsEqual(bytes) } } ?? false
    }

    /// Data that is not COPY's binary format.
    struct MalformedCopy: Error {}
}
