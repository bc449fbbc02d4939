import ProberCore

/// A table written straight into bytes, the same text as `StoreCommandSupport.table` (left-aligned first columns, the
/// others right-aligned, two spaces apart, no trailing blanks, lines joined by newlines): a fleet's `status` is
/// 33,000 lines, and a `[String]` per line, padded cells and joined lines were most of its CPU.
struct TextTable {
    let header: [String]
    let leftColumns: Int
    /// The cells' bytes one after another, row-major, `header.count` a row; where each ends, and its width (measured
    /// once). A fleet's table has 264,000 cells: a `String` each, and their widths measured twice, was half its CPU.
    private var text: [UInt8] = []
    private var ends: [UInt32] = []
    private var cellWidths: [UInt32] = []
    private var widths: [Int]

    init(_ header: [String], leftColumns: Int = 1, capacity: Int = 0) {
        self.header = header
        self.leftColumns = leftColumns
        widths = header.map(Self.width)
        ends.reserveCapacity(capacity * header.count)
        cellWidths.reserveCapacity(capacity * header.count)
        text.reserveCapacity(capacity * header.count * 8)
    }

    /// Adds a row of `header.count` cells.
    mutating func append(_ row: String...) {
        precondition(row.count == header.count)
        for (i, cell) in row.enumerated() {
            let width = Self.width(cell)
            widths[i] = max(widths[i], width)
            text.append(contentsOf: cell.utf8)
            ends.append(UInt32(text.count))
            cellWidths.append(UInt32(width))
        }
    }

    /// The header and the rows, without a final newline, handed to `sink` in pieces of about `chunk` bytes (a fleet's
    /// table is 2.6 MB).
    func write(chunk: Int = 1 << 16, to sink: (UnsafeRawBufferPointer) -> Void) {
        let columns = header.count
        var out: [UInt8] = []
        out.reserveCapacity(min(chunk, (ends.count / max(columns, 1) + 1) * (widths.reduce(0, +) + 2 * columns + 1)) + 1_024)
        func line(_ cells: Range<Int>, cell: (Int) -> (bytes: ArraySlice<UInt8>, width: Int)) {
            let start = out.count
            for (i, c) in zip(0..., cells) {
                if i > 0 { out.append(contentsOf: [0x20, 0x20]) }
                let (bytes, width) = cell(c)
                let pad = widths[i] - width
                if i >= leftColumns { out.append(contentsOf: repeatElement(0x20, count: pad)) }
                out.append(contentsOf: bytes)
                if i < leftColumns { out.append(contentsOf: repeatElement(0x20, count: pad)) }
            }
            // No trailing blanks (the padding of a last left column, an empty last cell).
            while out.count > start, let last = out.last, last == 0x20 || (0x09...0x0D).contains(last) { out.removeLast() }
        }
        line(header.indices) { (Array(header[$0].utf8)[...], Self.width(header[$0])) }
        for first in stride(from: 0, to: ends.count, by: columns) {
            out.append(0x0A)
            line(first..<first + columns) { c in
                (text[(c == 0 ? 0 : Int(ends[c - 1]))..<Int(ends[c])], Int(cellWidths[c]))
            }
            if out.count >= chunk {
                out.withUnsafeBytes(sink)
                out.removeAll(keepingCapacity: true)
            }
        }
        if !out.isEmpty { out.withUnsafeBytes(sink) }
    }

    /// `Terminal.width` without Foundation: the characters outside the colour sequences (`ESC [ digits/; m`), counted
    /// as UTF-8 bytes when they are ASCII. A fleet's location lines start with `└` and are coloured on a terminal;
    /// Foundation's search and regular expression for them were a quarter of the table's CPU.
    static func width(_ cell: String) -> Int {
        var ascii = true, coloured = false
        for byte in cell.utf8 {
            if byte == 0x1B { coloured = true }
            if byte >= 0x80 { ascii = false }
        }
        if !coloured { return ascii ? cell.utf8.count : characters(cell) }
        var plain: [UInt8] = []
        plain.reserveCapacity(cell.utf8.count)
        var rest = cell.utf8[...]
        while let byte = rest.popFirst() {
            if byte == 0x1B, let end = colourSequenceEnd(rest) {
                rest = rest[end...]
            } else {
                plain.append(byte)
            }
        }
        return ascii ? plain.count : characters(String(decoding: plain, as: UTF8.self))
    }

    /// `text.count` (characters), counted as Unicode scalars when each one is a character of its own: those below
    /// U+0300 (Latin, `µ`) and the box drawing of the location lines (`└`). Counting characters by grapheme breaking
    /// was a fifth of a fleet table's CPU; any other scalar (a combining mark, an emoji) is counted that way still.
    static func characters(_ text: String) -> Int {
        var n = 0
        for scalar in text.unicodeScalars {
            guard scalar.value < 0x300 || (0x2500...0x257F).contains(scalar.value) else { return text.count }
            n += 1
        }
        return n
    }

    /// After an escape: the index past `[`, digits and semicolons, `m`, when that is what follows.
    private static func colourSequenceEnd(_ bytes: Substring.UTF8View) -> Substring.UTF8View.Index? {
        guard bytes.first == UInt8(ascii: "[") else { return nil }
        var i = bytes.index(after: bytes.startIndex)
        while i < bytes.endIndex, bytes[i] == UInt8(ascii: ";") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[i]) {
            i = bytes.index(after: i)
        }
        return i < bytes.endIndex && bytes[i] == UInt8(ascii: "m") ? bytes.index(after: i) : nil
    }
}
