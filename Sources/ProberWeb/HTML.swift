import ProberHTTP

/// A piece of markup in which text cannot go unescaped.
///
/// The literal parts of an `HTML` string are markup (they are in the source); every `String` interpolated
/// into it is escaped for text and for quoted attribute values alike (`&`, `<`, `>`, `"`, `'`), so a value
/// from a probe file or a target can only ever be text. Markup built elsewhere is interpolated as `HTML`;
/// markup from a `String` needs the explicit `HTML(trusted:)`, used only for constants of this module (the
/// style sheet, the script). Attribute values in literals are always quoted.
public struct HTML: Sendable, Equatable, CustomStringConvertible, ExpressibleByStringInterpolation {
    public private(set) var markup: String

    /// Markup written in this module's source, never a value from outside.
    public init(trusted markup: String) { self.markup = markup }

    public init(stringLiteral value: String) { markup = value }

    public init(stringInterpolation: Interpolation) { markup = stringInterpolation.markup }

    public static let empty = HTML(trusted: "")

    /// `text`, escaped.
    public static func text(_ text: String) -> HTML { HTML(trusted: escape(text)) }

    public var description: String { markup }

    public static func + (a: HTML, b: HTML) -> HTML { HTML(trusted: a.markup + b.markup) }

    public static func += (a: inout HTML, b: HTML) { a.markup += b.markup }

    public struct Interpolation: StringInterpolationProtocol {
        var markup = ""

        public init(literalCapacity: Int, interpolationCount: Int) {
            markup.reserveCapacity(literalCapacity + interpolationCount * 16)
        }

        public mutating func appendLiteral(_ literal: String) { markup += literal }

        /// Text: escaped.
        public mutating func appendInterpolation(_ text: String) { HTML.escape(text, into: &markup) }

        public mutating func appendInterpolation(_ text: Substring) { HTML.escape(String(text), into: &markup) }

        /// Text when present, nothing otherwise.
        public mutating func appendInterpolation(_ text: String?) { if let text { HTML.escape(text, into: &markup) } }

        public mutating func appendInterpolation(_ html: HTML) { markup += html.markup }

        public mutating func appendInterpolation(_ html: HTML?) { if let html { markup += html.markup } }

        public mutating func appendInterpolation(_ parts: [HTML]) { for part in parts { markup += part.markup } }

        public mutating func appendInterpolation(_ n: Int) { markup += String(n) }

        public mutating func appendInterpolation(_ n: Int64) { markup += String(n) }

        /// A coordinate or a measure: at most `digits` decimals, no exponent, no locale.
        public mutating func appendInterpolation(_ x: Double, digits: Int = 1) { markup += HTML.number(x, digits: digits) }
    }

    /// Escapes text for an element's content or a quoted attribute value (`HTMLEscaping`, shared with the listener).
    public static func escape(_ text: String) -> String { HTMLEscaping.escape(text) }

    static func escape(_ text: String, into out: inout String) { HTMLEscaping.escape(text, into: &out) }

    /// `12`, `12.5`, `-0.3`: rounded to `digits` decimals, trailing zeros dropped; never `nan` or `inf`.
    public static func number(_ x: Double, digits: Int = 1) -> String {
        guard x.isFinite else { return "0" }
        var scale = 1.0
        for _ in 0..<max(0, digits) { scale *= 10 }
        let scaled = (x * scale).rounded()
        if scaled == 0 { return "0" }
        let negative = scaled < 0
        let magnitude = Int64(abs(scaled))
        let whole = magnitude / Int64(scale)
        var fraction = magnitude % Int64(scale)
        var text = (negative ? "-" : "") + String(whole)
        guard fraction != 0 else { return text }
        var width = digits
        while fraction % 10 == 0 { fraction /= 10; width -= 1 }
        let digitsText = String(fraction)
        text += "." + String(repeating: "0", count: width - digitsText.count) + digitsText
        return text
    }
}

/// Building URLs of the pages: a path segment or a query value percent-encoded, so a name can never end
/// a path, start a query or carry a scheme.
public enum URLText {
    /// Percent-encodes everything but RFC 3986's unreserved characters.
    public static func component(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(UnicodeScalar(byte))
            default:
                let hex = Array("0123456789ABCDEF")
                out += "%" + String(hex[Int(byte >> 4)]) + String(hex[Int(byte & 15)])
            }
        }
        return out
    }

    /// Decodes percent-escapes (and `+` as a space when `plusIsSpace`); nil for a broken escape or bytes that
    /// are not UTF-8.
    public static func decode(_ text: Substring, plusIsSpace: Bool = false) -> String? {
        var bytes: [UInt8] = []
        var i = text.utf8.startIndex
        let utf8 = text.utf8
        while i < utf8.endIndex {
            let b = utf8[i]
            if b == UInt8(ascii: "%") {
                let h = utf8.index(after: i)
                guard h < utf8.endIndex, utf8.index(after: h) < utf8.endIndex,
                      let hi = hexValue(utf8[h]), let lo = hexValue(utf8[utf8.index(after: h)]) else { return nil }
                bytes.append(hi << 4 | lo)
                i = utf8.index(h, offsetBy: 2)
                continue
            }
            bytes.append(plusIsSpace && b == UInt8(ascii: "+") ? UInt8(ascii: " ") : b)
            i = utf8.index(after: i)
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ b: UInt8) -> UInt8? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): b - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): b - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): b - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// The values of a query string (`a=1&b=x+y`), the first of each name; names and values decoded.
    public static func query(_ query: String?) -> [String: String] {
        var out: [String: String] = [:]
        for pair in (query ?? "").split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = decode(parts[0], plusIsSpace: true) else { continue }
            let value = parts.count > 1 ? decode(parts[1], plusIsSpace: true) : ""
            if let value, out[name] == nil { out[name] = value }
        }
        return out
    }

    /// `?a=1&b=x` from pairs whose value is not empty; "" when none.
    public static func queryString(_ pairs: [(String, String)]) -> String {
        let kept = pairs.filter { !$0.1.isEmpty }
        guard !kept.isEmpty else { return "" }
        return "?" + kept.map { component($0.0) + "=" + component($0.1) }.joined(separator: "&")
    }
}
