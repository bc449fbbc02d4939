import ProberCore

/// A table written straight into bytes, the same text as `StoreCommandSupport.table` printed (left-aligned first
/// columns, the others right-aligned, two spaces apart, no trailing blanks, each line ending with a newline): a
/// fleet's `status` is 33,000 lines, and a `[String]` per line, padded cells and joined lines were most of its CPU.
struct TextTable: ~Copyable {
    let header: [String]
    let leftColumns: Int
    /// The cells' bytes one after another, row-major, `header.count` a row, the header's first; where each ends, and its
    /// width (measured once). A fleet's table has 264,000 cells: a `String` each, and their widths measured twice, was
    /// half its CPU; appending each cell's bytes to an `[UInt8]` (its uniqueness and capacity checked, a generic copy)
    /// was a fifth of the rest.
    private var text: UnsafeMutablePointer<UInt8>
    private var textCount = 0, textCapacity: Int
    private var ends: [UInt32] = []
    private var cellWidths: [UInt32] = []
    private var widths: [Int]

    init(_ header: [String], leftColumns: Int = 1, capacity: Int = 0) {
        self.header = header
        self.leftColumns = leftColumns
        widths = Array(repeating: 0, count: header.count)
        ends.reserveCapacity((capacity + 1) * header.count)
        cellWidths.reserveCapacity((capacity + 1) * header.count)
        textCapacity = max((capacity + 1) * header.count * 8, 256)
        text = .allocate(capacity: textCapacity)
        append(cells: header)
    }

    deinit { text.deallocate() }

    /// Adds a row of `header.count` cells.
    mutating func append(_ row: String...) { append(cells: row) }

    private mutating func append(cells row: [String]) {
        precondition(row.count == header.count)
        for i in row.indices {
            var cell = row[i]
            // The bytes copied and measured in one pass (a String's UTF-8 view, byte by byte, was most of the cost).
            let plain = cell.withUTF8 { bytes in
                put(bytes)
                return Self.plainWidth(bytes)
            }
            let width = plain ?? Self.width(cell)
            if width > widths[i] { widths[i] = width }
            ends.append(UInt32(textCount))
            cellWidths.append(UInt32(width))
        }
    }

    private mutating func put(_ bytes: UnsafeBufferPointer<UInt8>) {
        if textCount + bytes.count > textCapacity {
            textCapacity = max(textCapacity * 2, textCount + bytes.count)
            let grown = UnsafeMutablePointer<UInt8>.allocate(capacity: textCapacity)
            grown.initialize(from: text, count: textCount)
            text.deallocate()
            text = grown
        }
        if let base = bytes.baseAddress { (text + textCount).initialize(from: base, count: bytes.count) }
        textCount += bytes.count
    }

    /// The header and the rows, each line ending with a newline, handed to `sink` in pieces of about `chunk` bytes (a
    /// fleet's table is 2.6 MB).
    func write(chunk: Int = 1 << 16, to sink: (UnsafeRawBufferPointer) -> Void) {
        let columns = header.count
        // Written through a pointer: appending to an `[UInt8]` piece by piece (its capacity and uniqueness checked
        // each time) was two thirds of the table's writing.
        var capacity = chunk + 4_096, count = 0
        var out = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
        defer { out.deallocate() }
        func reserve(_ n: Int) {
            guard count + n > capacity else { return }
            capacity = max(capacity * 2, count + n)
            let grown = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
            grown.initialize(from: out, count: count)
            out.deallocate()
            out = grown
        }
        let text = UnsafeBufferPointer(start: self.text, count: textCount)
        for first in stride(from: 0, to: ends.count, by: columns) {
            let start = count
            for (i, c) in zip(0..., first..<first + columns) {
                let bytes = UnsafeBufferPointer(rebasing: text[(c == 0 ? 0 : Int(ends[c - 1]))..<Int(ends[c])])
                let pad = widths[i] - Int(cellWidths[c])
                reserve(2 + pad + bytes.count)
                let spaces = (i > 0 ? 2 : 0) + (i >= leftColumns ? pad : 0)
                (out + count).initialize(repeating: 0x20, count: spaces)
                count += spaces
                if let base = bytes.baseAddress { (out + count).initialize(from: base, count: bytes.count) }
                count += bytes.count
                if i < leftColumns {
                    (out + count).initialize(repeating: 0x20, count: pad)
                    count += pad
                }
            }
            // No trailing blanks (the padding of a last left column, an empty last cell).
            while count > start, out[count - 1] == 0x20 || (0x09...0x0D).contains(out[count - 1]) { count -= 1 }
            reserve(1)
            out[count] = 0x0A
            count += 1
            if count >= chunk {
                sink(UnsafeRawBufferPointer(start: out, count: count))
                count = 0
            }
        }
        if count > 0 { sink(UnsafeRawBufferPointer(start: out, count: count)) }
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

    /// The width of an uncoloured cell whose characters are each one Unicode scalar below U+0300 or of the box drawing
    /// block (`└`): its scalars, counted from the UTF-8 bytes (what `width` answers, without a `String`'s views); nil
    /// for any other cell.
    static func plainWidth(_ bytes: UnsafeBufferPointer<UInt8>) -> Int? {
        var n = 0, i = 0
        while i < bytes.count {
            let b = bytes[i]
            switch b {
            case 0x1B: return nil
            case ..<0x80: i += 1
            case 0xC2...0xCB: i += 2 // U+0080-U+02FF
            case 0xE2 where i + 1 < bytes.count && (bytes[i + 1] == 0x94 || bytes[i + 1] == 0x95): i += 3 // U+2500-U+257F
            default: return nil
            }
            n += 1
        }
        return i == bytes.count ? n : nil
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
