import Foundation

/// Durations as people write them in probe files and on the command line.
extension Duration {
    /// Parses `250ms`, `10s`, `5m`, `1h`, `14d`, or a sum such as `1m30s`; units `us`, `ms`, `s`, `m`, `h`, `d`, `w`.
    /// Decimals are accepted (`1.5s`). Returns nil for anything else, including negatives and a bare number.
    public init?(parsing text: String) {
        let s = text.trimmingSpaces
        guard !s.isEmpty else { return nil }
        // ASCII (nearly every duration written) read on its bytes: Character's Unicode work cost most of the time.
        guard let total = s.utf8.allSatisfy({ $0 < 0x80 }) ? Self.microseconds(ascii: s) : Self.microseconds(characters: s),
              total.isFinite, total < 1e17 else { return nil }
        self = .microseconds(Int64(total.rounded()))
    }

    private static func microseconds(characters s: String) -> Double? {
        var total: Double = 0
        var index = s.startIndex
        while index < s.endIndex {
            let numberStart = index
            while index < s.endIndex, s[index].isASCII, s[index].isNumber || s[index] == "." { index = s.index(after: index) }
            guard numberStart < index, let value = Double(s[numberStart..<index]) else { return nil }
            let unitStart = index
            while index < s.endIndex, s[index].isLetter || s[index] == "µ" { index = s.index(after: index) }
            guard let factor = factor(s[unitStart..<index]) else { return nil }
            total += value * factor
        }
        return total
    }

    /// `microseconds(characters:)` for ASCII text, where a Character is a byte (a CR LF pair ends a number or unit
    /// either way), a digit `0`-`9` and a letter `a`-`z` or `A`-`Z`. A whole number of up to 15 digits is read
    /// without `Double(_:)` (`strtod`): it is exact as a `Double` either way.
    private static func microseconds(ascii text: String) -> Double? {
        var text = text
        return text.withUTF8 { bytes -> Double? in
            func isLetter(_ b: UInt8) -> Bool { (b | 0x20) >= 0x61 && (b | 0x20) <= 0x7A }
            var total: Double = 0
            var i = 0
            while i < bytes.count {
                let numberStart = i
                var whole = 0
                var decimal = false
                while i < bytes.count {
                    let b = bytes[i]
                    if b >= 0x30 && b <= 0x39 {
                        if i - numberStart < 15 { whole = whole * 10 + Int(b - 0x30) }
                    } else if b == UInt8(ascii: ".") {
                        decimal = true
                    } else {
                        break
                    }
                    i += 1
                }
                guard numberStart < i else { return nil }
                let value: Double
                if !decimal && i - numberStart <= 15 {
                    value = Double(whole)
                } else {
                    guard let v = Double(String(decoding: UnsafeBufferPointer(rebasing: bytes[numberStart..<i]), as: UTF8.self))
                    else { return nil }
                    value = v
                }
                let unitStart = i
                while i < bytes.count, isLetter(bytes[i]) { i += 1 }
                guard let factor = factor(UnsafeBufferPointer(rebasing: bytes[unitStart..<i])) else { return nil }
                total += value * factor
            }
            return total
        }
    }

    /// Microseconds in one ASCII unit, on its bytes: `us`, `ms`, `s`, `m`, `h`, `d`, `w`.
    private static func factor(_ unit: UnsafeBufferPointer<UInt8>) -> Double? {
        switch unit.count {
        case 1:
            switch unit[0] {
            case UInt8(ascii: "s"): return 1_000_000
            case UInt8(ascii: "m"): return 60_000_000
            case UInt8(ascii: "h"): return 3_600_000_000
            case UInt8(ascii: "d"): return 86_400_000_000
            case UInt8(ascii: "w"): return 604_800_000_000
            default: return nil
            }
        case 2 where unit[1] == UInt8(ascii: "s"):
            switch unit[0] {
            case UInt8(ascii: "u"): return 1
            case UInt8(ascii: "m"): return 1_000
            default: return nil
            }
        default:
            return nil
        }
    }

    /// Microseconds in one `unit`: `µs`, or an ASCII unit (`factor(_:)` on its bytes).
    private static func factor(_ unit: Substring) -> Double? {
        if unit == "µs" { return 1 }
        var unit = unit
        return unit.withUTF8 { factor($0) }
    }

    /// Whole microseconds, the unit samples and the store use.
    public var microseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000 + attoseconds / 1_000_000_000_000
    }

    /// Whole milliseconds, rounded down.
    public var milliseconds: Int64 { microseconds / 1_000 }

    /// Seconds as a Double (for Dispatch and libcurl options).
    public var seconds: Double { Double(microseconds) / 1_000_000 }
}

/// Short human forms: microsecond quantities (`850 µs`, `12 ms`, `1.8 s`, `3 min`) and counts (`3 probes`).
public enum Human {
    /// `1 probe`, `3 probes`; `plural` for nouns that do not just take an `s`.
    public static func count(_ n: Int, _ noun: String, plural: String? = nil) -> String {
        "\(n) " + (n == 1 ? noun : plural ?? noun + "s")
    }

    /// `850 µs`, `4.2 ms`, `12 ms`, `1.8 s`, then as `span`. Written byte by byte (`ShortText`): a fleet's `status`
    /// formats 66,000 of them, and interpolating them was a tenth of its CPU.
    public static func latency(microseconds us: Int64) -> String {
        let v = Double(us)
        return ShortText.make { t in
            if us < 1_000 {
                t.int(us); t.literal(" µs")
            } else if us < 10_000 {
                t.tenths((v / 1_000 * 10).rounded()); t.literal(" ms")
            } else if us < 1_000_000 {
                t.int(Int64((v / 1_000).rounded())); t.literal(" ms")
            } else if us < 60_000_000 {
                t.tenths((v / 1_000_000 * 10).rounded()); t.literal(" s")
            } else {
                t.span(Int64(v / 1_000_000))
            }
        }
    }

    /// `45 s`, `3 min`, `2 h 5 min`, `3 d 4 h`.
    public static func span(seconds s: Int64) -> String {
        ShortText.make { $0.span(s) }
    }

    /// `span` and ` ago`: `3 min ago`.
    public static func ago(seconds s: Int64) -> String {
        ShortText.make { t in t.span(s); t.literal(" ago") }
    }

    /// A duration as a probe file would write it: `250ms`, `2s`, `5m`.
    public static func duration(_ d: Duration) -> String {
        let us = d.microseconds
        if us % 86_400_000_000 == 0, us > 0 { return "\(us / 86_400_000_000)d" }
        if us % 3_600_000_000 == 0, us > 0 { return "\(us / 3_600_000_000)h" }
        if us % 60_000_000 == 0, us > 0 { return "\(us / 60_000_000)m" }
        if us % 1_000_000 == 0 { return "\(us / 1_000_000)s" }
        if us % 1_000 == 0 { return "\(us / 1_000)ms" }
        return "\(us)us"
    }
}

/// A short string (at most 32 bytes) written as integers and literals into bytes on the stack, then made a `String` once
/// (one of up to 15 bytes is stored inline, without an allocation): no interpolation, no intermediate strings.
struct ShortText {
    private var bytes: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    private var count = 0

    static func make(_ body: (inout ShortText) -> Void) -> String {
        var text = ShortText()
        body(&text)
        let count = text.count
        return withUnsafeBytes(of: &text.bytes) { String(decoding: $0.prefix(count), as: UTF8.self) }
    }

    private init() {}

    private mutating func append(_ byte: UInt8) {
        guard count < MemoryLayout.size(ofValue: bytes) else { return }
        let at = count
        withUnsafeMutableBytes(of: &bytes) { $0[at] = byte }
        count += 1
    }

    mutating func literal(_ s: StaticString) {
        for i in 0..<s.utf8CodeUnitCount { append(s.utf8Start[i]) }
    }

    /// Decimal digits, with a minus sign below zero.
    mutating func int(_ v: Int64) {
        if v < 0 { append(UInt8(ascii: "-")) }
        var m = v.magnitude, divisor: UInt64 = 1
        while m / divisor >= 10 { divisor *= 10 }
        repeat {
            append(UInt8(truncatingIfNeeded: m / divisor) + 0x30)
            m %= divisor
            divisor /= 10
        } while divisor > 0
    }

    /// A whole, non-negative number of tenths as `String(tenths / 10)` writes it: `42` as `4.2`, `40` as `4`.
    mutating func tenths(_ tenths: Double) {
        let k = Int64(tenths)
        int(k / 10)
        if k % 10 != 0 { literal("."); int(k % 10) }
    }

    /// `45 s`, `3 min`, `2 h 5 min`, `3 d 4 h`.
    mutating func span(_ s: Int64) {
        if s < 60 { int(s); literal(" s"); return }
        if s < 3_600 { int(s / 60); literal(" min"); return }
        if s < 86_400 {
            int(s / 3_600); literal(" h")
            let m = (s % 3_600) / 60
            if m != 0 { literal(" "); int(m); literal(" min") }
            return
        }
        int(s / 86_400); literal(" d")
        let h = (s % 86_400) / 3_600
        if h != 0 { literal(" "); int(h); literal(" h") }
    }
}
