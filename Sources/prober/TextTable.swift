import ProberCore

/// A table written straight into bytes, the same text as `StoreCommandSupport.table` (left-aligned first columns, the
/// others right-aligned, two spaces apart, no trailing blanks, lines joined by newlines): a fleet's `status` is
/// 33,000 lines, and a `[String]` per line, padded cells and joined lines were most of its CPU.
struct TextTable {
    let header: [String]
    let leftColumns: Int
    /// Row-major, `header.count` a row.
    private var cells: [String] = []
    private var widths: [Int]

    init(_ header: [String], leftColumns: Int = 1, capacity: Int = 0) {
        self.header = header
        self.leftColumns = leftColumns
        widths = header.map(Self.width)
        cells.reserveCapacity(capacity * header.count)
    }

    /// Adds a row of `header.count` cells.
    mutating func append(_ row: String...) {
        precondition(row.count == header.count)
        for (i, cell) in row.enumerated() {
            widths[i] = max(widths[i], Self.width(cell))
            cells.append(cell)
        }
    }

    /// The header and the rows, without a final newline.
    var bytes: [UInt8] {
        let columns = header.count
        var out: [UInt8] = []
        out.reserveCapacity((cells.count / max(columns, 1) + 1) * (widths.reduce(0, +) + 2 * columns + 1))
        func line(_ row: ArraySlice<String>) {
            let start = out.count
            for (i, cell) in zip(0..., row) {
                if i > 0 { out.append(contentsOf: [0x20, 0x20]) }
                let pad = widths[i] - Self.width(cell)
                if i >= leftColumns { out.append(contentsOf: repeatElement(0x20, count: pad)) }
                out.append(contentsOf: cell.utf8)
                if i < leftColumns { out.append(contentsOf: repeatElement(0x20, count: pad)) }
            }
            // No trailing blanks (the padding of a last left column, an empty last cell).
            while out.count > start, let last = out.last, last == 0x20 || (0x09...0x0D).contains(last) { out.removeLast() }
        }
        line(header[...])
        var at = 0
        while at < cells.count {
            out.append(0x0A)
            line(cells[at..<at + columns])
            at += columns
        }
        return out
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
        if !coloured { return ascii ? cell.utf8.count : cell.count }
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
        return ascii ? plain.count : String(decoding: plain, as: UTF8.self).count
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
