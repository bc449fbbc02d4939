/// The URLs nearly every probe file holds, recognised on their bytes: `http://` or `https://`, a host name,
/// maybe a port, then a path, query and fragment of characters that need no encoding.
///
/// Foundation's `URLComponents` parses a URL in several microseconds (its host alone goes through IDNA), the
/// largest single cost of reading an HTTP probe. Every URL of this shape is one `URLComponents` accepts with
/// an http or https scheme, a host and a port within 1-65535, and one `unsendable` has nothing against
/// (ProberConfigTests' `plainURLsReadAsURLComponentsReadsThem` holds both to it). Anything else, user names,
/// IPv6 addresses, percent signs, international or punycode names, goes the long way.
enum PlainWebURL {
    static func matches(_ url: String) -> Bool {
        var url = url
        return url.withUTF8 { matches(bytes: $0) }
    }

    private static func matches(bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var i = 0
        let n = bytes.count
        // Scheme: http or https, any case, then ://
        func lower(_ b: UInt8) -> UInt8 { b | 0x20 }
        guard n > 7, lower(bytes[0]) == UInt8(ascii: "h"), lower(bytes[1]) == UInt8(ascii: "t"),
              lower(bytes[2]) == UInt8(ascii: "t"), lower(bytes[3]) == UInt8(ascii: "p") else { return false }
        i = 4
        if lower(bytes[i]) == UInt8(ascii: "s") { i += 1 }
        guard i + 3 <= n, bytes[i] == UInt8(ascii: ":"), bytes[i + 1] == UInt8(ascii: "/"), bytes[i + 2] == UInt8(ascii: "/")
        else { return false }
        i += 3

        // Host: letters, digits, '-' and '.', not empty, no punycode label.
        let hostStart = i
        while i < n, isHostByte(bytes[i]) { i += 1 }
        guard i > hostStart, !holdsPunycode(bytes, hostStart, i) else { return false }

        // Port: 1 to 5 digits, 1 to 65535.
        if i < n, bytes[i] == UInt8(ascii: ":") {
            i += 1
            var port = 0
            let portStart = i
            while i < n, i - portStart < 6, bytes[i] >= 0x30, bytes[i] <= 0x39 {
                port = port * 10 + Int(bytes[i] - 0x30)
                i += 1
            }
            guard i > portStart, i - portStart <= 5, (1...65535).contains(port) else { return false }
        }

        // Path, query and fragment: what RFC 3986 allows unencoded, one '#' at most.
        guard i == n || bytes[i] == UInt8(ascii: "/") || bytes[i] == UInt8(ascii: "?") || bytes[i] == UInt8(ascii: "#")
        else { return false }
        var fragment = false
        while i < n {
            let b = bytes[i]
            if b == UInt8(ascii: "#") {
                if fragment { return false }
                fragment = true
            } else if !isPathByte(b) {
                return false
            }
            i += 1
        }
        return true
    }

    private static func isHostByte(_ b: UInt8) -> Bool {
        b.isASCIILetterOrDigit || b == UInt8(ascii: "-") || b == UInt8(ascii: ".")
    }

    /// Unreserved, sub-delims, ':', '@', '/' and '?': what a path, query or fragment may hold unencoded.
    private static func isPathByte(_ b: UInt8) -> Bool {
        if b.isASCIILetterOrDigit { return true }
        switch b {
        case UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"),
             UInt8(ascii: "!"), UInt8(ascii: "$"), UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "("), UInt8(ascii: ")"),
             UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: "="),
             UInt8(ascii: ":"), UInt8(ascii: "@"), UInt8(ascii: "/"), UInt8(ascii: "?"):
            return true
        default:
            return false
        }
    }

    /// Whether the host has `--` anywhere (`xn--` labels are punycode, which `URLComponents` decodes and may refuse).
    private static func holdsPunycode(_ bytes: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> Bool {
        var i = start + 1
        while i < end {
            if bytes[i] == UInt8(ascii: "-") && bytes[i - 1] == UInt8(ascii: "-") { return true }
            i += 1
        }
        return false
    }
}
