import Foundation

/// The times `--since`/`--until` and the API's `since`/`until` take: `24h` (that long before now), `now`, or
/// an ISO 8601 time (`2026-11-27T06:00:00Z`, `2026-11-27`).
public enum TimeArgument {
    /// Microseconds since the epoch, or nil when `text` is none of the accepted forms.
    public static func parse(_ text: String, now: Int64) -> Int64? {
        if text == "now" { return now }
        if let d = Duration(parsing: text) { return now - d.microseconds }
        let formatter = ISO8601DateFormatter()
        for options: ISO8601DateFormatter.Options in [[.withInternetDateTime, .withFractionalSeconds], [.withInternetDateTime],
                                                      [.withFullDate, .withTime, .withColonSeparatorInTime],
                                                      [.withFullDate]] {
            formatter.formatOptions = options
            if let date = formatter.date(from: text) { return Int64(date.timeIntervalSince1970 * 1_000_000) }
        }
        return nil
    }
}
