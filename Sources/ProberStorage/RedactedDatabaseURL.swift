/// The `--db` value as every message, log line, error and JSON shows it: a PostgreSQL URL with its password
/// (in the user part or a `password=` parameter) replaced by `***`; a SQLite path unchanged.
public struct RedactedDatabaseURL: Sendable, Hashable, CustomStringConvertible {
    public let description: String

    public init(_ database: String) {
        description = Self.isServerURL(database) ? Self.redact(database) : database
    }

    /// Whether `database` names a PostgreSQL server (`postgres://` or `postgresql://`), not a SQLite file.
    public static func isServerURL(_ database: String) -> Bool {
        let lower = database.lowercased()
        return lower.hasPrefix("postgres://") || lower.hasPrefix("postgresql://")
    }

    private static func redact(_ url: String) -> String {
        guard let schemeEnd = url.range(of: "://") else { return url }
        let scheme = url[..<schemeEnd.upperBound]
        var rest = Substring(url[schemeEnd.upperBound...])
        var query: Substring = ""
        if let q = rest.firstIndex(of: "?") {
            query = rest[q...]
            rest = rest[..<q]
        }
        // The authority ends at the first '/' after the last '@' (a password may hold '/' and '@').
        var authority = rest
        if let at = rest.lastIndex(of: "@") {
            let userInfo = rest[..<at]
            if let colon = userInfo.firstIndex(of: ":") {
                authority = userInfo[..<colon] + ":***" + rest[at...]
            }
        }
        return String(scheme) + authority + redactQuery(query)
    }

    private static func redactQuery(_ query: Substring) -> String {
        guard !query.isEmpty else { return "" }
        let pairs = query.dropFirst().split(separator: "&", omittingEmptySubsequences: false).map { pair -> String in
            let key = pair.split(separator: "=", maxSplits: 1).first.map { $0.lowercased() } ?? ""
            return key == "password" ? "password=***" : String(pair)
        }
        return "?" + pairs.joined(separator: "&")
    }
}
