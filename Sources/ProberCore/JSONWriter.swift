/// JSON written straight into UTF-8 bytes, object by object, byte for byte as `JSONValue.encoded` and `.pretty`
/// write the same document: for documents too large to build as `JSONValue`s first (a fleet's `status --json` is
/// 3,000 probes × 10 locations, and a dictionary per object, sorted to be written, was half of its CPU).
///
/// The caller writes each object's keys in `JSONValue`'s order (sorted by `String`'s `<`); tests compare the output
/// with `JSONValue`'s for the documents written this way.
///
/// Non-copyable: it owns the buffer it writes into (appending to an `[UInt8]` piece by piece, with its uniqueness and
/// capacity checks and generic copies, was a third of `status --json`'s CPU at fleet size).
public struct JSONWriter: ~Copyable {
    private var base: UnsafeMutablePointer<UInt8>
    private var capacity: Int
    /// Bytes written and not flushed.
    public private(set) var count = 0
    /// A copy of the bytes written and not flushed.
    public var bytes: [UInt8] { Array(UnsafeBufferPointer(start: base, count: count)) }
    /// Spaces a level (as `JSONValue.pretty`), nil for compact JSON (`JSONValue.encoded`).
    let indent: Int?
    var level = 0
    /// Whether the innermost open array or object has an element yet (`[]` and `{}` are written without a newline);
    /// `outer` holds the same for the containers around it (the innermost's is asked at every element: kept apart).
    var started = false
    var outer: [Bool] = []

    public init(pretty: Bool, capacity: Int = 0) {
        indent = pretty ? 2 : nil
        self.capacity = max(capacity, 256)
        base = .allocate(capacity: self.capacity)
    }

    deinit { base.deallocate() }

    // MARK: The buffer

    private mutating func reserve(_ n: Int) {
        guard count + n > capacity else { return }
        let grown = max(count + n, capacity * 2)
        let moved = UnsafeMutablePointer<UInt8>.allocate(capacity: grown)
        moved.initialize(from: base, count: count)
        base.deallocate()
        base = moved
        capacity = grown
    }

    private mutating func put(_ byte: UInt8) {
        reserve(1)
        base[count] = byte
        count += 1
    }

    private mutating func put(_ piece: UnsafeRawBufferPointer) {
        guard let from = piece.baseAddress, !piece.isEmpty else { return }
        reserve(piece.count)
        UnsafeMutableRawPointer(base + count).copyMemory(from: from, byteCount: piece.count)
        count += piece.count
    }

    private mutating func put(_ piece: UnsafeBufferPointer<UInt8>) { put(UnsafeRawBufferPointer(piece)) }
    private mutating func put(_ piece: [UInt8]) { piece.withUnsafeBytes { put($0) } }

    // MARK: Containers

    public mutating func beginObject() { open(UInt8(ascii: "{")) }
    public mutating func endObject() { close(UInt8(ascii: "}")) }
    public mutating func beginArray() { open(UInt8(ascii: "[")) }
    public mutating func endArray() { close(UInt8(ascii: "]")) }

    /// Starts an object's member: its key (a literal, written as it is: it needs no escaping), then its value is
    /// written next.
    public mutating func key(_ name: StaticString) {
        // The comma, newline and indent, and `"name": ` in one reservation: a fleet's `status --json` has 1.2 million
        // keys.
        let n = name.utf8CodeUnitCount
        let pad = indent.map { level * $0 } ?? 0
        reserve(pad + n + 6)
        var p = base + count
        if started { p.pointee = UInt8(ascii: ","); p += 1 } else { started = true }
        if indent != nil {
            p.pointee = UInt8(ascii: "\n")
            (p + 1).initialize(repeating: UInt8(ascii: " "), count: pad)
            p += 1 + pad
        }
        p.pointee = UInt8(ascii: "\"")
        (p + 1).initialize(from: name.utf8Start, count: n)
        p += 1 + n
        p[0] = UInt8(ascii: "\"")
        p[1] = UInt8(ascii: ":")
        if indent != nil { p[2] = UInt8(ascii: " "); p += 3 } else { p += 2 }
        count = p - base
        pendingValue = true
    }

    /// A key that is not a literal (escaped as a string).
    ///
    /// Disfavoured so that a literal key is the `StaticString` one: a literal's default type is `String`, and this
    /// overload chosen for every key of `status --json` (30,000 objects) was a quarter of its CPU.
    @_disfavoredOverload
    public mutating func key(_ name: String) {
        element()
        escape(name)
        put(UInt8(ascii: ":"))
        if indent != nil { put(UInt8(ascii: " ")) }
        pendingValue = true
    }

    // MARK: Values (an array's element, or the value of the key just written)

    public mutating func null() { value(); put(Self.nullText) }

    public mutating func bool(_ b: Bool) {
        value()
        if b { put(Self.trueText) } else { put(Self.falseText) }
    }

    public mutating func int(_ i: Int64) {
        value()
        digits(i)
    }

    public mutating func int(_ i: Int64?) { if let i { int(i) } else { null() } }
    public mutating func int(_ i: Int?) { if let i { int(Int64(i)) } else { null() } }

    /// As `JSONValue.double`: Swift's shortest text, `null` when not finite.
    public mutating func double(_ d: Double?) {
        guard let d, d.isFinite else { return null() }
        value()
        // A whole number below 2^53 (an uptime of 100 %) is its digits and ".0", as Swift writes it; no `String`.
        if d.rounded(.towardZero) == d && d.magnitude < 9_007_199_254_740_992 && !(d == 0 && d.sign == .minus) {
            digits(Int64(d))
            put(UInt8(ascii: "."))
            put(UInt8(ascii: "0"))
            return
        }
        var text = String(d)
        text.withUTF8 { put($0) }
    }

    public mutating func string(_ s: String) {
        value()
        escape(s)
    }

    public mutating func string(_ s: String?) { if let s { string(s) } else { null() } }

    /// As `JSONValue.time`: ISO 8601 UTC with milliseconds, written without an intermediate `String`.
    public mutating func time(_ us: Int64?) {
        guard let us else { return null() }
        value()
        let c = UTCTime.civil(us)
        let ms = Int((us % 1_000_000 + 1_000_000) % 1_000_000 / 1_000)
        put(UInt8(ascii: "\""))
        digits(Int64(c.year))
        // -MM-DDTHH:MM:SS.mmmZ" in place: 21 bytes.
        reserve(21)
        let p = base + count
        func two(_ at: Int, _ separator: UInt8, _ v: Int) {
            p[at] = separator
            p[at + 1] = UInt8(ascii: "0") + UInt8(v / 10)
            p[at + 2] = UInt8(ascii: "0") + UInt8(v % 10)
        }
        two(0, UInt8(ascii: "-"), c.month)
        two(3, UInt8(ascii: "-"), c.day)
        two(6, UInt8(ascii: "T"), c.hour)
        two(9, UInt8(ascii: ":"), c.minute)
        two(12, UInt8(ascii: ":"), c.second)
        p[15] = UInt8(ascii: ".")
        p[16] = UInt8(ascii: "0") + UInt8(ms / 100)
        p[17] = UInt8(ascii: "0") + UInt8(ms / 10 % 10)
        p[18] = UInt8(ascii: "0") + UInt8(ms % 10)
        p[19] = UInt8(ascii: "Z")
        p[20] = UInt8(ascii: "\"")
        count += 21
    }

    /// A whole `JSONValue` at this point of the document (nested at the writer's level).
    public mutating func value(_ v: JSONValue) {
        if case .null = v { return null() } // most of them (a fleet's status has two a line), without a buffer
        value()
        var written: [UInt8] = []
        v.write(into: &written, indent: indent, level: level)
        put(written)
    }

    /// Appends raw bytes after the document (e.g. the newline `--json` ends with).
    public mutating func append(_ byte: UInt8) { put(byte) }

    /// Hands the bytes written so far to `body` and drops them, keeping the buffer's storage and the place in the
    /// document: a large document goes out in pieces through one buffer.
    public mutating func flush(_ body: (UnsafeRawBufferPointer) -> Void) {
        body(UnsafeRawBufferPointer(start: base, count: count))
        count = 0
    }

    // MARK: Layout

    /// A key was written and its value not yet: the value follows it on the same line.
    private var pendingValue = false

    private mutating func open(_ bracket: UInt8) {
        value()
        put(bracket)
        level += 1
        outer.append(started)
        started = false
    }

    private mutating func close(_ bracket: UInt8) {
        level -= 1
        if started { newlineAndPad(level) }
        started = outer.removeLast()
        put(bracket)
    }

    /// Before a value: nothing after a key, else it is an array's element (or the document itself).
    private mutating func value() {
        if pendingValue { pendingValue = false; return }
        if !outer.isEmpty { element() }
    }

    /// Before an element of the innermost container: the comma after the previous one, a newline and the indent.
    private mutating func element() {
        if started { put(UInt8(ascii: ",")) } else { started = true }
        newlineAndPad(level)
    }

    private mutating func newlineAndPad(_ level: Int) {
        guard let indent else { return }
        let pad = level * indent
        reserve(1 + pad)
        base[count] = UInt8(ascii: "\n")
        (base + count + 1).initialize(repeating: UInt8(ascii: " "), count: pad)
        count += 1 + pad
    }

    private static let nullText: StaticString = "null"
    private static let trueText: StaticString = "true"
    private static let falseText: StaticString = "false"
    private mutating func put(_ literal: StaticString) { literal.withUTF8Buffer { put($0) } }

    /// As `JSONValue.escape`, with a fast path for the usual string, with nothing to escape: its bytes scanned and
    /// copied as one buffer rather than byte by byte through the `String`'s UTF-8 view.
    private mutating func escape(_ s: String) {
        let plain = s.utf8.withContiguousStorageIfAvailable { utf8 -> Bool in
            guard !utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) else { return false }
            put(UInt8(ascii: "\""))
            put(utf8)
            put(UInt8(ascii: "\""))
            return true
        }
        if plain != true {
            var escaped: [UInt8] = []
            JSONValue.escape(s, into: &escaped)
            put(escaped)
        }
    }

    /// The decimal digits of `i`, as `String(i)` writes them.
    private mutating func digits(_ i: Int64) {
        if i < 0 {
            guard i != .min else { var text = String(i); text.withUTF8 { put($0) }; return }
            put(UInt8(ascii: "-"))
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
            put(UnsafeRawBufferPointer(rebasing: raw[(24 - n)...]))
        }
    }
}
