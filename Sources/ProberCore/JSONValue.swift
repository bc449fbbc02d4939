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
        var out = ""
        write(into: &out, indent: nil, level: 0)
        return out
    }

    /// Indented JSON with keys sorted, for people.
    public var pretty: String {
        var out = ""
        write(into: &out, indent: "  ", level: 0)
        return out
    }

    private func write(into out: inout String, indent: String?, level: Int) {
        let newline = indent == nil ? "" : "\n"
        let pad = { (n: Int) in indent.map { String(repeating: $0, count: n) } ?? "" }
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .double(let d): out += d.isFinite ? String(d) : "null"
        case .string(let s): JSONValue.escape(s, into: &out)
        case .raw(let json): out += json
        case .array(let items):
            if items.isEmpty { out += "[]"; return }
            out += "[" + newline
            for (i, item) in items.enumerated() {
                out += pad(level + 1)
                item.write(into: &out, indent: indent, level: level + 1)
                out += (i < items.count - 1 ? "," : "") + newline
            }
            out += pad(level) + "]"
        case .object(let fields):
            if fields.isEmpty { out += "{}"; return }
            out += "{" + newline
            let keys = fields.keys.sorted()
            for (i, key) in keys.enumerated() {
                out += pad(level + 1)
                JSONValue.escape(key, into: &out)
                out += indent == nil ? ":" : ": "
                fields[key]!.write(into: &out, indent: indent, level: level + 1)
                out += (i < keys.count - 1 ? "," : "") + newline
            }
            out += pad(level) + "}"
        }
    }

    private static func escape(_ s: String, into out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
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
