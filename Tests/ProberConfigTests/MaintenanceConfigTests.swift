import Foundation
import ProberConfig
import ProberCore
import ProberTestSupport
import Testing

@Suite("maintenance: in probe files")
struct MaintenanceConfigTests {
    static func at(_ text: String) -> Int64 { MaintenanceWindow.instant(text)! }

    @Test("top level applies to every probe of its file, defaults to probes without their own, a probe's replaces the defaults'")
    func whereWindowsApply() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("p.yaml", """
            maintenance:
              - { start: 2026-12-24T20:00:00Z, end: 2026-12-25T02:00:00Z }
            defaults:
              maintenance: { days: [sat, sun], start: "02:00", duration: 2h, zone: Europe/Berlin }
            probes:
              - name: a
                tcp: { host: a, port: 1 }
              - name: b
                tcp: { host: b, port: 1 }
                maintenance:
                  - { days: weekdays, start: "23:30", duration: 90m }
                  - { start: "2026-12-31T23:00:00+01:00", duration: 1h }
              - name: c
                tcp: { host: c, port: 1 }
                maintenance: []
            """)
        try dir.write("q.yaml", "probes:\n  - name: d\n    tcp: { host: d, port: 1 }\n")
        let set = try ProbeLoader.load(directory: dir.path, environment: [:])
        let windows = Dictionary(uniqueKeysWithValues: set.probes.map { ($0.name, $0.maintenance.map(\.description)) })
        let christmas = "2026-12-24T20:00:00.000Z until 2026-12-25T02:00:00.000Z"
        #expect(windows["a"] == [christmas, "sat,sun 02:00 for 2h in Europe/Berlin"])
        #expect(windows["b"] == [christmas, "mon,tue,wed,thu,fri 23:30 for 90m in UTC",
                                 "2026-12-31T22:00:00.000Z until 2026-12-31T23:00:00.000Z"])
        #expect(windows["c"] == [christmas])
        #expect(windows["d"] == [])
        let a = try #require(set.probes.first { $0.name == "a" })
        #expect(a.maintenance.end(containing: Self.at("2026-12-05T01:30:00Z")) == Self.at("2026-12-05T03:00:00Z"))
    }

    struct Broken: CustomTestStringConvertible, Sendable {
        var name: String
        var window: String
        var expected: String
        var testDescription: String { name }
    }

    /// Each window is written at line 4 of `p.yaml`, as `    maintenance: <window>` under probe `a` (column 18 is the window).
    static let broken: [Broken] = [
        Broken(name: "unknown zone, close to one", window: #"{ days: [sat], start: "02:00", duration: 2h, zone: Europe/Berln }"#,
               expected: "4:63: 'zone' is 'Europe/Berln', which is not an IANA time zone; did you mean 'Europe/Berlin', 'Europe/Dublin', 'Europe/Jersey'?"),
        Broken(name: "not a zone at all", window: #"{ days: [sat], start: "02:00", duration: 2h, zone: CEST }"#,
               expected: "4:63: 'zone' is 'CEST', which is not an IANA time zone; write e.g. Europe/Berlin, America/New_York or UTC"),
        Broken(name: "bad day", window: #"{ days: [sat, sonday], start: "02:00", duration: 2h }"#,
               expected: "4:32: 'days' has 'sonday', which is not a day of the week; write mon, tue, wed, thu, fri, sat, sun (or daily, weekdays, weekends)"),
        Broken(name: "bad time of day", window: #"{ days: [sat], start: "25:00", duration: 2h }"#,
               expected: "4:33: 'start' of a weekly window is '25:00'; write the local time of day as HH:MM (\"02:00\")"),
        Broken(name: "weekly without a duration", window: #"{ days: [sat], start: "02:00" }"#,
               expected: "4:18: a 'maintenance' window with 'days' is missing required key 'duration'"),
        Broken(name: "weekly longer than a week", window: #"{ days: [sat], start: "02:00", duration: 8d }"#,
               expected: "4:49: 'duration' is 8d; a weekly window lasts at most 7d"),
        Broken(name: "one-off without an offset", window: "{ start: 2026-12-24T20:00:00, end: 2026-12-25T02:00:00Z }",
               expected: "4:20: 'start' of a one-off window is '2026-12-24T20:00:00'; write a date and time with its offset, e.g. 2026-12-24T20:00:00Z or 2026-12-24T21:00:00+01:00"),
        Broken(name: "one-off ending before it starts", window: "{ start: 2026-12-24T20:00:00Z, end: 2026-12-24T19:00:00Z }",
               expected: "4:49: 'end' (2026-12-24T19:00:00Z) must be after 'start' (2026-12-24T20:00:00Z)"),
        Broken(name: "one-off with a zone", window: "{ start: 2026-12-24T20:00:00Z, end: 2026-12-25T02:00:00Z, zone: UTC }",
               expected: "4:76: 'zone' applies to weekly windows (with 'days'); a one-off window's 'start' and 'end' carry their own offset (2026-12-24T20:00:00Z)"),
        Broken(name: "neither days nor end", window: "{ start: 2026-12-24T20:00:00Z }",
               expected: "4:18: a 'maintenance' window needs 'days' (weekly: days, start, duration, zone) or 'end' (once: start, end)"),
        Broken(name: "unknown key", window: #"{ days: [sat], start: "02:00", duration: 2h, tz: UTC }"#,
               expected: "4:63: unknown key 'tz' in a 'maintenance' window; expected one of: days, start, duration, end, zone"),
    ]

    @Test("invalid windows are reported at their key", arguments: broken)
    func reportsBrokenWindows(_ c: Broken) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("p.yaml", "probes:\n  - name: a\n    tcp: { host: a, port: 1 }\n    maintenance: \(c.window)\n")
        #expect(diagnostics(loading: dir.path) == ["\(dir.path)/p.yaml:\(c.expected)"])
    }
}
