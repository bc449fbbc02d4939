import Foundation

extension StringProtocol {
    /// `trimmingCharacters(in: .whitespaces)`, without Foundation's bridging when neither end is white space,
    /// as in nearly every probe-file value.
    public var trimmingSpaces: String {
        guard let first = unicodeScalars.first, let last = unicodeScalars.last else { return "" }
        if !Self.mayBeSpace(first) && !Self.mayBeSpace(last) { return String(self) }
        return trimmingCharacters(in: .whitespaces)
    }

    /// Whether `c` is white space; ASCII answered without looking up Unicode properties.
    private static func mayBeSpace(_ c: Unicode.Scalar) -> Bool {
        c.isASCII ? c == " " || (c.value >= 0x09 && c.value <= 0x0D) : c.properties.isWhitespace
    }
}
