import Foundation

/// A small JSON value with deterministic (sorted-key) encoding, for documents whose shape is fixed here.
public indirect enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])
    /// Text that is already JSON (written as it is).
    case raw(String)

    /// Compact JSON with keys sorted.
    public var encoded: String {
        var out: [UInt8] = []
        write(into: &out, indent: nil, level: 0)
        return String(decoding: out, as: UTF8.self)
    }

    /// Indented JSON with keys sorted, for people.
    public var pretty: String {
        var out: [UInt8] = []
        write(into: &out, indent: 2, level: 0)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the JSON as UTF-8 (`indent`: spaces a level, nil for compact JSON). Bytes, not `String` appends: a
    /// fleet's `status --json` is 11,000 objects (6 MB), and appending to a `String` scalar by scalar was most of its CPU.
    func write(into out: inout [UInt8], indent: Int?, level: Int) {
        func newline() { if indent != nil { out.append(0x0A) } }
        func pad(_ n: Int) { if let indent { out.append(contentsOf: repeatElement(UInt8(ascii: " "), count: n * indent)) } }
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .int(let i): out.append(contentsOf: String(i).utf8)
        case .double(let d): out.append(contentsOf: (d.isFinite ? String(d) : "null").utf8)
        case .string(let s): JSONValue.escape(s, into: &out)
        case .raw(let json): out.append(contentsOf: json.utf8)
        case .array(let items):
            if items.isEmpty { out.append(contentsOf: "[]".utf8); return }
            out.append(UInt8(ascii: "["))
            newline()
            for (i, item) in items.enumerated() {
                pad(level + 1)
                item.write(into: &out, indent: indent, level: level + 1)
                if i < items.count - 1 { out.append(UInt8(ascii: ",")) }
                newline()
            }
            pad(level)
            out.append(UInt8(ascii: "]"))
        case .object(let fields):
            if fields.isEmpty { out.append(contentsOf: "{}".utf8); return }
            out.append(UInt8(ascii: "{"))
            newline()
            for (i, field) in fields.sorted(by: { $0.key < $1.key }).enumerated() {
                pad(level + 1)
                JSONValue.escape(field.key, into: &out)
                out.append(UInt8(ascii: ":"))
                if indent != nil { out.append(UInt8(ascii: " ")) }
                field.value.write(into: &out, indent: indent, level: level + 1)
                if i < fields.count - 1 { out.append(UInt8(ascii: ",")) }
                newline()
            }
            pad(level)
            out.append(UInt8(ascii: "}"))
        }
    }

    /// A JSON string: `"`, `\`, newline, return and tab escaped by name, other controls as `\u00XX`; the rest of
    /// the UTF-8 as it is.
    static func escape(_ s: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        let utf8 = s.utf8
        if !utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            out.append(contentsOf: utf8)
            out.append(UInt8(ascii: "\""))
            return
        }
        for byte in utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x0A: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case ..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                        hex[Int(byte >> 4)], hex[Int(byte & 15)]])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

extension JSONValue {
    /// `.int`, or `.null` for nil.
    public init(_ value: Int64?) { self = value.map { .int($0) } ?? .null }
    /// `.int`, or `.null` for nil.
    public init(_ value: Int?) { self = value.map { .int(Int64($0)) } ?? .null }
    /// `.double`, or `.null` for nil.
    public init(_ value: Double?) { self = value.map { .double($0) } ?? .null }
    /// `.string`, or `.null` for nil.
    public init(_ value: String?) { self = value.map { .string($0) } ?? .null }

    /// An instant (µs since the epoch) in the one time format of every `--json`: ISO 8601 UTC with
    /// milliseconds, `2024-03-15T10:00:00.000Z` (what the IsDown API writes); `.null` for nil.
    public static func time(_ us: Int64?) -> JSONValue { us.map { .string(UTCTime.iso8601($0)) } ?? .null }
}
