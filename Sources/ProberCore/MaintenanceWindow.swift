import Foundation

/// A time when planned work is expected (`maintenance:` in a probe file): checks run, no incident opens or
/// escalates (see `Quiet.maintenance`).
///
/// Either weekly, on some days of the week from a local start time for a duration, in an IANA time zone
/// (the start is local wall time, so it follows daylight saving time), or once, between two instants.
public struct MaintenanceWindow: Sendable, Equatable, CustomStringConvertible {
    public enum Schedule: Sendable, Equatable {
        /// `days` in the zone's calendar, starting `start` after local midnight (hour and minute), lasting
        /// `duration` (at most 7 days). A start time a DST change skips begins at the first instant after the
        /// skip, moved on by the gap's length (02:30 on the spring-forward day in Berlin begins at 03:30 CEST); a
        /// start time it repeats begins at its first occurrence (02:30 CEST on the fall-back day).
        case weekly(days: Set<Weekday>, hour: Int, minute: Int, duration: Duration, zone: TimeZone)
        /// From `start` (inclusive) to `end` (exclusive), µs since the epoch.
        case once(start: Int64, end: Int64)
    }

    /// Days of the week, numbered as Foundation's `Calendar` numbers them (Sunday is 1).
    public enum Weekday: Int, Sendable, CaseIterable, Comparable {
        case sun = 1, mon, tue, wed, thu, fri, sat

        /// `sat`: how probe files and `description` write it.
        public var name: String { "\(self)" }
        static let fullNames = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]

        /// `sat`, `Sat` or `saturday`.
        public init?(name: String) {
            let lower = name.lowercased()
            guard let day = Self.allCases.first(where: { $0.name == lower || Self.fullNames[$0.rawValue - 1] == lower }) else { return nil }
            self = day
        }
        public static func < (a: Weekday, b: Weekday) -> Bool { a.rawValue < b.rawValue }
    }

    public var schedule: Schedule

    public init(_ schedule: Schedule) { self.schedule = schedule }

    /// The longest weekly window: longer ones would overlap themselves.
    public static let longestWeekly = Duration.seconds(7 * 86_400)

    /// Whether `wallTime` (µs since the epoch) falls in the window.
    public func contains(_ wallTime: Int64) -> Bool { end(containing: wallTime) != nil }

    /// The end (µs) of the occurrence of the window that contains `wallTime`; nil when it is outside.
    public func end(containing wallTime: Int64) -> Int64? {
        switch schedule {
        case .once(let start, let end):
            return wallTime >= start && wallTime < end ? end : nil
        case .weekly(let days, let hour, let minute, let duration, let zone):
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = zone
            let date = Date(timeIntervalSince1970: Double(wallTime) / 1_000_000)
            let today = calendar.dateComponents([.year, .month, .day], from: date)
            let length = duration.microseconds
            // An occurrence containing `wallTime` began at most `duration` before it: on today or one of the days before.
            let daysBack = Int(length / 86_400_000_000) + 1
            var noonComponents = today
            noonComponents.hour = 12  // noon exists on every day in every zone (some skip midnight)
            guard let todayNoon = calendar.date(from: noonComponents) else { return nil }
            var latestEnd: Int64?
            for back in 0...daysBack {
                guard let noon = calendar.date(byAdding: .day, value: -back, to: todayNoon),
                      let weekday = Weekday(rawValue: calendar.component(.weekday, from: noon)), days.contains(weekday),
                      let start = Self.start(on: noon, hour: hour, minute: minute, calendar: calendar) else { continue }
                let end = start + length
                if wallTime >= start, wallTime < end { latestEnd = max(latestEnd ?? end, end) }
            }
            return latestEnd
        }
    }

    /// The instant (µs) of `hour:minute` local time on the day of `noon`: the first after a DST gap that skips it,
    /// the first of the two when DST repeats it.
    static func start(on noon: Date, hour: Int, minute: Int, calendar: Calendar) -> Int64? {
        let c = calendar.dateComponents([.year, .month, .day], from: noon)
        // Local wall time as if it were UTC, then corrected by the zone's offsets around it.
        var utc = calendar
        utc.timeZone = TimeZone(identifier: "UTC")!
        guard let naive = utc.date(from: DateComponents(year: c.year, month: c.month, day: c.day, hour: hour, minute: minute)) else { return nil }
        let wall = Int64(naive.timeIntervalSince1970)
        let zone = calendar.timeZone
        // The offsets in force a day before and a day after cover every transition near this day.
        let before = Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(wall - 86_400))))
        let after = Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(wall + 86_400))))
        // Candidates in order: as under the earlier offset (the first occurrence of a repeated time), then the later.
        for offset in [before, after] {
            let t = wall - offset
            if Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(t)))) == offset { return t * 1_000_000 }
        }
        // In a gap: the wall time read with the offset before the gap, which lands as far after the gap's end.
        return (wall - before) * 1_000_000
    }

    /// `sat,sun 02:00 for 2h in Europe/Berlin` or `2026-12-24T20:00:00.000Z until 2026-12-25T02:00:00.000Z`:
    /// what `status`, the probe page and `init(parsing:)` read.
    public var description: String {
        switch schedule {
        case .once(let start, let end):
            return "\(UTCTime.iso8601(start)) until \(UTCTime.iso8601(end))"
        case .weekly(let days, let hour, let minute, let duration, let zone):
            let names = days.sorted { ($0.rawValue + 5) % 7 < ($1.rawValue + 5) % 7 }.map(\.name).joined(separator: ",")  // Monday first
            return "\(names) \(hour < 10 ? "0" : "")\(hour):\(minute < 10 ? "0" : "")\(minute) for \(Human.duration(duration)) in \(zone.identifier == "GMT" ? "UTC" : zone.identifier)"  // Foundation names UTC GMT
        }
    }

    /// Reads `description` back.
    public init?(parsing text: String) {
        let words = text.split(separator: " ").map(String.init)
        if words.count == 3, words[1] == "until", let start = Self.instant(words[0]), let end = Self.instant(words[2]) {
            self.init(.once(start: start, end: end))
            return
        }
        guard words.count == 6, words[2] == "for", words[4] == "in" else { return nil }
        let days = words[0].split(separator: ",").compactMap { Weekday(name: String($0)) }
        let hm = words[1].split(separator: ":").compactMap { Int($0) }
        guard !days.isEmpty, hm.count == 2, let duration = Duration(parsing: words[3]),
              let zone = TimeZone(identifier: words[5]) else { return nil }
        self.init(.weekly(days: Set(days), hour: hm[0], minute: hm[1], duration: duration, zone: zone))
    }

    /// An ISO 8601 instant with its offset (`2026-12-24T20:00:00Z`, `…+01:00`, fractions allowed), µs.
    public static func instant(_ text: String) -> Int64? {
        let formatter = ISO8601DateFormatter()
        for options: ISO8601DateFormatter.Options in [[.withInternetDateTime, .withFractionalSeconds], [.withInternetDateTime]] {
            formatter.formatOptions = options
            if let date = formatter.date(from: text) { return Int64((date.timeIntervalSince1970 * 1_000_000).rounded()) }
        }
        return nil
    }
}

extension [MaintenanceWindow] {
    /// The latest end of the windows that contain `wallTime`; nil when none does.
    public func end(containing wallTime: Int64) -> Int64? {
        var latest: Int64?
        for window in self { if let end = window.end(containing: wallTime) { latest = Swift.max(latest ?? end, end) } }
        return latest
    }
}
