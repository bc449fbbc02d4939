import Foundation
import ProberCore

/// `maintenance:` windows: at the top of a file (every probe of the file), in `defaults:` (probes without
/// their own), or on a probe (replacing the defaults'). Documented in docs/probe-files.md.
extension Keys {
    static let maintenance = ["days", "start", "duration", "end", "zone"]
}

extension FileReader {
    /// The windows of one `maintenance:` key: a list of windows, or one window. Nil when any is invalid (each
    /// problem reported); the probes it applies to are then dropped like any invalid probe.
    func readMaintenance(_ field: Field) -> [MaintenanceWindow]? {
        if isNull(field.value) { return [] }
        let nodes: [YAMLNode] = document.kind(field.value) == .mapping ? [field.value] : list(field)
        var windows: [MaintenanceWindow] = []
        var ok = true
        for node in nodes {
            if let window = readWindow(node) { windows.append(window) } else { ok = false }
        }
        return ok ? windows : nil
    }

    /// One window: `{ days: [sat, sun], start: "02:00", duration: 2h, zone: Europe/Berlin }` (weekly) or
    /// `{ start: 2026-12-24T20:00:00Z, end: 2026-12-25T02:00:00Z }` (once; `duration` may stand for `end`).
    private func readWindow(_ node: YAMLNode) -> MaintenanceWindow? {
        let what = "a 'maintenance' window"
        guard let f = fields(node, what: what, keys: Keys.maintenance) else { return nil }
        guard require(["start"], in: f, what: what), let start = f["start"], let startText = string(start) else { return nil }
        let length: Located<Duration>? = f["duration"].flatMap { duration($0) }
        if f["duration"] != nil && length == nil { return nil }
        if let d = length, d.value <= .zero {
            report(at: d.location, "'duration' must be longer than 0")
            return nil
        }

        guard let daysField = f["days"] else {
            // Once: two instants.
            if let zone = f["zone"] {
                report(zone.key, "'zone' applies to weekly windows (with 'days'); a one-off window's 'start' and 'end' carry their own offset (2026-12-24T20:00:00Z)")
                return nil
            }
            guard let from = instant(start, text: startText) else { return nil }
            switch (f["end"], length) {
            case (let end?, nil):
                guard let endText = string(end), let to = instant(end, text: endText) else { return nil }
                guard to > from else {
                    report(end.key, "'end' (\(endText.value)) must be after 'start' (\(startText.value))")
                    return nil
                }
                return MaintenanceWindow(.once(start: from, end: to))
            case (nil, let d?):
                return MaintenanceWindow(.once(start: from, end: from + d.value.microseconds))
            case (let end?, _?):
                report(end.key, "a one-off window has 'end' or 'duration', not both")
                return nil
            case (nil, nil):
                report(node, "\(what) needs 'days' (weekly: days, start, duration, zone) or 'end' (once: start, end)")
                return nil
            }
        }

        // Weekly.
        if let end = f["end"] {
            report(end.key, "a weekly window (with 'days') lasts a 'duration'; 'end' is for one-off windows")
            return nil
        }
        guard let d = length else {
            report(node, "\(what) with 'days' is missing required key 'duration'")
            return nil
        }
        if d.value > MaintenanceWindow.longestWeekly {
            report(at: d.location, "'duration' is \(Human.duration(d.value)); a weekly window lasts at most 7d")
            return nil
        }
        let days = weekdays(daysField)
        let time = timeOfDay(start, text: startText)
        var zone = TimeZone(identifier: "UTC")!
        if let field = f["zone"] {
            guard let text = string(field) else { return nil }
            guard let found = Self.timeZone(text.value) else {
                let close = Suggest.closeNames(to: text.value, in: TimeZone.knownTimeZoneIdentifiers)
                report(field.key, "'zone' is \(describe(field.value)), which is not an IANA time zone"
                    + (close.isEmpty ? "; write e.g. Europe/Berlin, America/New_York or UTC" : "; did you mean \(close.map { "'\($0)'" }.joined(separator: ", "))?"))
                return nil
            }
            zone = found
        }
        guard let days, let time else { return nil }
        return MaintenanceWindow(.weekly(days: days, hour: time.hour, minute: time.minute, duration: d.value, zone: zone))
    }

    /// A zone by its IANA name (`UTC` too); never a zone Foundation invents from an abbreviation or offset.
    static func timeZone(_ name: String) -> TimeZone? {
        guard name == "UTC" || TimeZone.knownTimeZoneIdentifiers.contains(name) else { return nil }
        return TimeZone(identifier: name)
    }

    /// `[sat, sun]`, `saturday`, `daily`, `weekdays` or `weekends`.
    private func weekdays(_ field: Field) -> Set<MaintenanceWindow.Weekday>? {
        typealias Day = MaintenanceWindow.Weekday
        if let word = document.text(field.value)?.lowercased() {
            switch word {
            case "daily": return Set(Day.allCases)
            case "weekdays": return [.mon, .tue, .wed, .thu, .fri]
            case "weekends": return [.sat, .sun]
            default: break
            }
        }
        var days: Set<Day> = []
        var ok = true
        for node in list(field) {
            let text = document.text(node) ?? ""
            if let day = Day(name: text) {
                days.insert(day)
            } else {
                report(node, "'days' has \(describe(node)), which is not a day of the week; write mon, tue, wed, thu, fri, sat, sun (or daily, weekdays, weekends)")
                ok = false
            }
        }
        if ok, days.isEmpty {
            report(field.key, "'days' is empty; write the days the window recurs on (mon, tue, ... or daily)")
            return nil
        }
        return ok ? days : nil
    }

    /// `02:00`: local hour and minute. YAML 1.1 reads an unquoted `02:00` as a sexagesimal number, but files
    /// are composed without a resolver, so the text is what was written.
    private func timeOfDay(_ field: Field, text: Located<String>) -> (hour: Int, minute: Int)? {
        let parts = text.value.split(separator: ":", omittingEmptySubsequences: false)
        if parts.count == 2, parts[0].count <= 2, parts[1].count == 2, let h = Int(parts[0]), let m = Int(parts[1]),
           (0..<24).contains(h), (0..<60).contains(m) {
            return (h, m)
        }
        report(field.key, "'start' of a weekly window is \(describe(field.value)); write the local time of day as HH:MM (\"02:00\")")
        return nil
    }

    /// An instant with its offset: `2026-12-24T20:00:00Z` or `2026-12-24T21:00:00+01:00`.
    private func instant(_ field: Field, text: Located<String>) -> Int64? {
        if let t = MaintenanceWindow.instant(text.value) { return t }
        report(field.key, "'\(field.name)' of a one-off window is \(describe(field.value)); write a date and time with its offset, e.g. 2026-12-24T20:00:00Z or 2026-12-24T21:00:00+01:00")
        return nil
    }
}
