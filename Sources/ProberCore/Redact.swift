/// Making targets safe to show: descriptions, logs and the database never carry secrets.
public enum Redact {
    /// The URL without user info, query string or fragment: `https://u:p@h/x?token=1` -> `https://h/x`.
    public static func url(_ url: String) -> String {
        var s = Substring(url)
        if let q = s.firstIndex(where: { $0 == "?" || $0 == "#" }) { s = s[..<q] }
        guard let schemeEnd = s.range(of: "://") else { return String(s) }
        let afterScheme = s[schemeEnd.upperBound...]
        let authorityEnd = afterScheme.firstIndex(of: "/") ?? afterScheme.endIndex
        let authority = afterScheme[..<authorityEnd]
        if let at = authority.lastIndex(of: "@") {
            return String(s[..<schemeEnd.upperBound]) + authority[authority.index(after: at)...] + afterScheme[authorityEnd...]
        }
        return String(s)
    }
}
