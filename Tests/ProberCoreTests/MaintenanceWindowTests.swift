import Foundation
import ProberCore
import Testing

/// `MaintenanceWindow.contains`: weekly windows in a zone (across midnight, across DST changes) and one-off ones.
@Suite("Maintenance windows")
struct MaintenanceWindowTests {
    static func at(_ text: String) -> Int64 { MaintenanceWindow.instant(text)! }

    static func weekly(_ days: Set<MaintenanceWindow.Weekday>, _ hour: Int, _ minute: Int, _ duration: Duration,
                       _ zone: String) -> MaintenanceWindow {
        MaintenanceWindow(.weekly(days: days, hour: hour, minute: minute, duration: duration, zone: TimeZone(identifier: zone)!))
    }

    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var window: MaintenanceWindow
        var instant: String
        /// The end of the occurrence containing the instant; nil when outside.
        var end: String?
        var testDescription: String { name }
    }

    static let weekend = weekly([.sat, .sun], 2, 0, .seconds(7_200), "Europe/Berlin")
    static let cases: [Case] = [
        // Winter: 02:00 CET is 01:00Z.
        Case(name: "Saturday, a second before the start", window: weekend, instant: "2026-12-05T00:59:59Z", end: nil),
        Case(name: "Saturday, at the start", window: weekend, instant: "2026-12-05T01:00:00Z", end: "2026-12-05T03:00:00Z"),
        Case(name: "Saturday, a second before the end", window: weekend, instant: "2026-12-05T02:59:59Z", end: "2026-12-05T03:00:00Z"),
        Case(name: "Saturday, at the end (exclusive)", window: weekend, instant: "2026-12-05T03:00:00Z", end: nil),
        Case(name: "Sunday too", window: weekend, instant: "2026-12-06T01:30:00Z", end: "2026-12-06T03:00:00Z"),
        Case(name: "not on Monday", window: weekend, instant: "2026-12-07T01:30:00Z", end: nil),
        // Summer: 02:00 CEST is 00:00Z.
        Case(name: "summer time moves it an hour earlier in UTC", window: weekend, instant: "2026-07-04T00:30:00Z", end: "2026-07-04T02:00:00Z"),
        Case(name: "summer, outside", window: weekend, instant: "2026-07-04T02:30:00Z", end: nil),
        // Across midnight: Friday 23:00 for 3h reaches into Saturday (the day it started counts, not the day it is).
        Case(name: "into the next day", window: weekly([.fri], 23, 0, .seconds(10_800), "UTC"), instant: "2026-12-05T01:30:00Z",
             end: "2026-12-05T02:00:00Z"),
        Case(name: "not a Saturday start", window: weekly([.fri], 23, 0, .seconds(10_800), "UTC"), instant: "2026-12-05T23:30:00Z", end: nil),
        Case(name: "another zone: New York, 22:00 EST is 03:00Z the next day", window: weekly([.mon], 22, 0, .seconds(3_600), "America/New_York"),
             instant: "2026-12-08T03:15:00Z", end: "2026-12-08T04:00:00Z"),
        // DST in Berlin: 2026-03-29 02:00 CET jumps to 03:00 CEST (01:00Z); 2026-10-25 03:00 CEST falls back to 02:00 CET (01:00Z).
        Case(name: "spring forward: a duration is elapsed time (01:00 CET + 3h ends 05:00 CEST)",
             window: weekly([.sun], 1, 0, .seconds(10_800), "Europe/Berlin"), instant: "2026-03-29T02:59:00Z", end: "2026-03-29T03:00:00Z"),
        Case(name: "spring forward: a start the gap skips moves on by the gap (02:30 -> 03:30 CEST)",
             window: weekly([.sun], 2, 30, .seconds(1_800), "Europe/Berlin"), instant: "2026-03-29T01:30:00Z", end: "2026-03-29T02:00:00Z"),
        Case(name: "spring forward: not before that",
             window: weekly([.sun], 2, 30, .seconds(1_800), "Europe/Berlin"), instant: "2026-03-29T01:29:59Z", end: nil),
        Case(name: "fall back: a repeated start time begins at its first occurrence (02:30 CEST)",
             window: weekly([.sun], 2, 30, .seconds(1_800), "Europe/Berlin"), instant: "2026-10-25T00:30:00Z", end: "2026-10-25T01:00:00Z"),
        Case(name: "fall back: and not again at the second (02:30 CET)",
             window: weekly([.sun], 2, 30, .seconds(1_800), "Europe/Berlin"), instant: "2026-10-25T01:30:00Z", end: nil),
        Case(name: "fall back: the day after keeps the new offset (02:30 CET is 01:30Z)",
             window: weekly(Set(MaintenanceWindow.Weekday.allCases), 2, 30, .seconds(1_800), "Europe/Berlin"),
             instant: "2026-10-26T01:30:00Z", end: "2026-10-26T02:00:00Z"),
        // Once.
        Case(name: "once, inside", window: MaintenanceWindow(.once(start: at("2026-12-24T20:00:00Z"), end: at("2026-12-25T02:00:00Z"))),
             instant: "2026-12-25T01:59:59Z", end: "2026-12-25T02:00:00Z"),
        Case(name: "once, at its start", window: MaintenanceWindow(.once(start: at("2026-12-24T20:00:00Z"), end: at("2026-12-25T02:00:00Z"))),
             instant: "2026-12-24T20:00:00Z", end: "2026-12-25T02:00:00Z"),
        Case(name: "once, at its end", window: MaintenanceWindow(.once(start: at("2026-12-24T20:00:00Z"), end: at("2026-12-25T02:00:00Z"))),
             instant: "2026-12-25T02:00:00Z", end: nil),
    ]

    @Test("contains and the end of the occurrence", arguments: cases)
    func table(_ c: Case) {
        let t = Self.at(c.instant)
        #expect(c.window.end(containing: t) == c.end.map(Self.at))
        #expect(c.window.contains(t) == (c.end != nil))
    }

    @Test("a week-long window ends where the next begins, and the latest end wins")
    func overlapping() {
        let week = Self.weekly([.mon], 0, 0, .seconds(7 * 86_400), "UTC")
        #expect(week.end(containing: Self.at("2026-12-13T23:59:00Z")) == Self.at("2026-12-14T00:00:00Z"))
        #expect(week.end(containing: Self.at("2026-12-14T00:00:00Z")) == Self.at("2026-12-21T00:00:00Z"))
        let windows = [Self.weekend, MaintenanceWindow(.once(start: Self.at("2026-12-05T00:00:00Z"), end: Self.at("2026-12-05T05:00:00Z")))]
        #expect(windows.end(containing: Self.at("2026-12-05T01:30:00Z")) == Self.at("2026-12-05T05:00:00Z"))
        #expect(windows.end(containing: Self.at("2026-12-05T06:00:00Z")) == nil)
    }

    @Test("the description reads back", arguments: [
        weekend, weekly([.mon, .fri], 23, 5, .milliseconds(90_000), "America/New_York"),
        MaintenanceWindow(.once(start: 1_800_000_000_123_000, end: 1_800_000_600_000_000)),
    ])
    func roundTrip(_ window: MaintenanceWindow) {
        #expect(MaintenanceWindow(parsing: window.description) == window)
    }

    @Test("descriptions")
    func descriptions() {
        #expect(Self.weekend.description == "sat,sun 02:00 for 2h in Europe/Berlin")
        #expect(MaintenanceWindow(.once(start: Self.at("2026-12-24T20:00:00Z"), end: Self.at("2026-12-25T02:00:00Z"))).description
            == "2026-12-24T20:00:00.000Z until 2026-12-25T02:00:00.000Z")
    }
}
