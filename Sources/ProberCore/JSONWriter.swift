/// JSON written straight into UTF-8 bytes, object by object, byte for byte as `JSONValue.encoded` and `.pretty`
/// write the same document: for documents too large to build as `JSONValue`s first (a fleet's `status --json` is
/// 3,000 probes × 10 locations, and a dictionary per object, sorted to be written, was half of its CPU).
///
/// The caller writes each object's keys in `JSONValue`'s order (sorted by `String`'s `<`); tests compare the output
/// with `JSONValue`'s for the documents written this way.
public struct JSONWriter {
    public private(set) var bytes: [UInt8] = []
    /// Spaces a level (as `JSONValue.pretty`), nil for compact JSON (`JSONValue.encoded`).
    let indent: Int?
    var level = 0
    /// Whether the innermost open array or object has an element yet (`[]` and `{}` are written without a newline).
    var started: [Bool] = []

    public init(pretty: Bool, capacity: Int = 0) {
        indent = pretty ? 2 : nil
        bytes.reserveCapacity(capacity)
    }

    // MARK: Containers

    public mutating func beginObject() { open(UInt8(ascii: "{")) }
    public mutating func endObject() { close(UInt8(ascii: "}")) }
    public mutating func beginArray() { open(UInt8(ascii: "[")) }
    public mutating func endArray() { close(UInt8(ascii: "]")) }

    /// Starts an object's member: its key (a literal, written as it is: it needs no escaping), then its value is
    /// written next.
    public mutating func key(_ name: StaticString) {
        element()
        bytes.append(UInt8(ascii: "\""))
        name.withUTF8Buffer { bytes.append(contentsOf: $0) }
        Self.keyEnd.withUTF8Buffer { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: $0[..<(indent == nil ? 2 : 3)])) }
        pendingValue = true
    }

    /// A key that is not a literal (escaped as a string).
    ///
    /// Disfavoured so that a literal key is the `StaticString` one: a literal's default type is `String`, and this
    /// overload chosen for every key of `status --json` (30,000 objects) was a quarter of its CPU.
    @_disfavoredOverload
    public mutating func key(_ name: String) {
        element()
        Self.escape(name, into: &bytes)
        bytes.append(UInt8(ascii: ":"))
        if indent != nil { bytes.append(UInt8(ascii: " ")) }
        pendingValue = true
    }

    // MARK: Values (an array's element, or the value of the key just written)

    public mutating func null() { value(); bytes.append(contentsOf: [0x6E, 0x75, 0x6C, 0x6C]) }

    public mutating func bool(_ b: Bool) {
        value()
        if b { bytes.append(contentsOf: [0x74, 0x72, 0x75, 0x65]) } else { bytes.append(contentsOf: [0x66, 0x61, 0x6C, 0x73, 0x65]) }
    }

    public mutating func int(_ i: Int64) {
        value()
        Self.digits(i, into: &bytes)
    }

    public mutating func int(_ i: Int64?) { if let i { int(i) } else { null() } }
    public mutating func int(_ i: Int?) { if let i { int(Int64(i)) } else { null() } }

    /// As `JSONValue.double`: Swift's shortest text, `null` when not finite.
    public mutating func double(_ d: Double?) {
        guard let d, d.isFinite else { return null() }
        value()
        bytes.append(contentsOf: String(d).utf8)
    }

    public mutating func string(_ s: String) {
        value()
        Self.escape(s, into: &bytes)
    }

    public mutating func string(_ s: String?) { if let s { string(s) } else { null() } }

    /// As `JSONValue.time`: ISO 8601 UTC with milliseconds, written without an intermediate `String`.
    public mutating func time(_ us: Int64?) {
        guard let us else { return null() }
        value()
        let c = UTCTime.civil(us)
        let ms = Int((us % 1_000_000 + 1_000_000) % 1_000_000 / 1_000)
        bytes.append(UInt8(ascii: "\""))
        Self.digits(Int64(c.year), into: &bytes)
        for (separator, v) in [(UInt8(ascii: "-"), c.month), (UInt8(ascii: "-"), c.day), (UInt8(ascii: "T"), c.hour),
                               (UInt8(ascii: ":"), c.minute), (UInt8(ascii: ":"), c.second)] {
            bytes.append(separator)
            bytes.append(UInt8(ascii: "0") + UInt8(v / 10))
            bytes.append(UInt8(ascii: "0") + UInt8(v % 10))
        }
        bytes.append(UInt8(ascii: "."))
        bytes.append(UInt8(ascii: "0") + UInt8(ms / 100))
        bytes.append(UInt8(ascii: "0") + UInt8(ms / 10 % 10))
        bytes.append(UInt8(ascii: "0") + UInt8(ms % 10))
        bytes.append(contentsOf: [UInt8(ascii: "Z"), UInt8(ascii: "\"")])
    }

    /// A whole `JSONValue` at this point of the document (nested at the writer's level).
    public mutating func value(_ v: JSONValue) {
        value()
        v.write(into: &bytes, indent: indent, level: level)
    }

    /// Appends raw bytes after the document (e.g. the newline `--json` ends with).
    public mutating func append(_ byte: UInt8) { bytes.append(byte) }

    /// Hands the bytes written so far to `body` and drops them, keeping the buffer's storage and the place in the
    /// document: a large document goes out in pieces through one buffer.
    public mutating func flush(_ body: (UnsafeRawBufferPointer) -> Void) {
        bytes.withUnsafeBytes(body)
        bytes.removeAll(keepingCapacity: true)
    }

    // MARK: Layout

    /// A key was written and its value not yet: the value follows it on the same line.
    private var pendingValue = false

    private mutating func open(_ bracket: UInt8) {
        value()
        bytes.append(bracket)
        level += 1
        started.append(false)
    }

    private mutating func close(_ bracket: UInt8) {
        level -= 1
        if started.removeLast() { newlineAndPad(level) }
        bytes.append(bracket)
    }

    /// Before a value: nothing after a key, else it is an array's element (or the document itself).
    private mutating func value() {
        if pendingValue { pendingValue = false; return }
        if !started.isEmpty { element() }
    }

    /// Before an element of the innermost container: the comma after the previous one, a newline and the indent.
    private mutating func element() {
        if started[started.count - 1] { bytes.append(UInt8(ascii: ",")) } else { started[started.count - 1] = true }
        newlineAndPad(level)
    }

    private mutating func newlineAndPad(_ level: Int) {
        guard let indent else { return }
        var pad = level * indent
        Self.newlineAndSpaces.withUTF8Buffer { line in
            let spaces = line.count - 1
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: line[...min(pad, spaces)]))
            pad -= min(pad, spaces)
            while pad > 0 { // deeper than the literal: the rest in runs of its spaces
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: line[1...min(pad, spaces)]))
                pad -= min(pad, spaces)
            }
        }
    }

    /// What follows a key's name: its closing quote, the colon, and the space of indented JSON.
    private static let keyEnd: StaticString = "\": "
    /// A newline and the indent of up to 32 levels (a literal: copied from the binary, not padded byte by byte).
    private static let newlineAndSpaces: StaticString = "\n                                                                "

    /// As `JSONValue.escape`, with a fast path for the usual string, with nothing to escape: its bytes scanned and
    /// copied as one buffer rather than byte by byte through the `String`'s UTF-8 view.
    static func escape(_ s: String, into out: inout [UInt8]) {
        let plain = s.utf8.withContiguousStorageIfAvailable { utf8 -> Bool in
            guard !utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) else { return false }
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: utf8)
            out.append(UInt8(ascii: "\""))
            return true
        }
        if plain != true { JSONValue.escape(s, into: &out) }
    }

    /// The decimal digits of `i`, as `String(i)` writes them.
    static func digits(_ i: Int64, into out: inout [UInt8]) {
        if i < 0 {
            guard i != .min else { out.append(contentsOf: String(i).utf8); return }
            out.append(UInt8(ascii: "-"))
        }
        var v = i.magnitude
        var buffer: (UInt64, UInt64, UInt64) = (0, 0, 0) // 24 bytes: room for 20 digits
        withUnsafeMutableBytes(of: &buffer) { raw in
            var n = 0
            repeat {
                raw[23 - n] = UInt8(ascii: "0") + UInt8(v % 10)
                v /= 10
                n += 1
            } while v > 0
            out.append(contentsOf: raw[(24 - n)...])
        }
    }
}
