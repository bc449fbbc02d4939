/// UTC wall-clock formatting without Foundation's formatters (deterministic, locale-free).
public enum UTCTime {
    /// `14:02 UTC`, or `Nov 26 14:02 UTC` when not on the same UTC day as `reference` (both µs).
    public static func time(_ us: Int64, relativeTo reference: Int64) -> String {
        let a = civil(us), b = civil(reference)
        let hm = pad(a.hour) + ":" + pad(a.minute) + " UTC"
        if (a.year, a.month, a.day) == (b.year, b.month, b.day) { return hm }
        return "\(months[a.month - 1]) \(a.day) " + hm
    }

    /// `2026-11-30 12:00 UTC`.
    public static func dateTime(_ us: Int64) -> String { minute(us) + " UTC" }

    /// `2026-11-30 12:00` (UTC, not said).
    public static func minute(_ us: Int64) -> String {
        let c = civil(us)
        return "\(c.year)-\(pad(c.month))-\(pad(c.day)) \(pad(c.hour)):\(pad(c.minute))"
    }

    /// ISO 8601 with milliseconds, as the IsDown API writes timestamps: `2024-03-15T10:00:00.000Z`.
    public static func iso8601(_ us: Int64) -> String {
        let c = civil(us)
        let ms = Int((us % 1_000_000 + 1_000_000) % 1_000_000 / 1_000)
        let msText = ms < 10 ? "00\(ms)" : ms < 100 ? "0\(ms)" : "\(ms)"
        return "\(c.year)-\(pad(c.month))-\(pad(c.day))T\(pad(c.hour)):\(pad(c.minute)):\(pad(c.second)).\(msText)Z"
    }

    static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    private static func pad(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }

    /// Gregorian date and time of an instant (Howard Hinnant's days-from-civil inverse).
    static func civil(_ us: Int64) -> (year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) {
        let secs = us >= 0 ? us / 1_000_000 : (us - 999_999) / 1_000_000
        var days = secs >= 0 ? secs / 86_400 : (secs - 86_399) / 86_400
        let rem = Int(secs - days * 86_400)
        days += 719_468
        let era = (days >= 0 ? days : days - 146_096) / 146_097
        let doe = days - era * 146_097
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = Int(doy - (153 * mp + 2) / 5 + 1)
        let month = Int(mp < 10 ? mp + 3 : mp - 9)
        let year = Int(yoe + era * 400) + (month <= 2 ? 1 : 0)
        return (year, month, day, rem / 3_600, (rem % 3_600) / 60, rem % 60)
    }
}
