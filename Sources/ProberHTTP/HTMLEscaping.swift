/// The one rule for putting text into HTML: element content or a quoted attribute value. NUL becomes U+FFFD.
/// The listener's error pages and every page of ProberWeb use it.
public enum HTMLEscaping {
    public static func escape(_ text: String) -> String {
        var out = ""
        escape(text, into: &out)
        return out
    }

    public static func escape(_ text: String, into out: inout String) {
        // Fast path: most values need nothing.
        if !text.utf8.contains(where: { $0 == 0x26 || $0 == 0x3C || $0 == 0x3E || $0 == 0x22 || $0 == 0x27 || $0 == 0 }) {
            out += text
            return
        }
        out.reserveCapacity(out.utf8.count + text.utf8.count + 16)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            case "\u{0}": out += "\u{FFFD}"
            default: out.unicodeScalars.append(scalar)
            }
        }
    }
}
