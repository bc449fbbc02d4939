import Foundation
import ProberCore
import Testing

/// `UTCTime` formats by arithmetic; Foundation's Gregorian calendar in UTC is the reference it must agree with
/// (`prober history` and `report` formatted their minutes with it before).
struct UTCTimeTests {
    static let calendar: Calendar = {
        var c = Calendar(identifier: .gregorian)
        c.timeZone = TimeZone(identifier: "UTC")!
        return c
    }()

    static func reference(_ us: Int64) -> String {
        let date = Date(timeIntervalSince1970: TimeInterval(us.floorDivided(by: 1_000_000)))
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute], from: date)
        func pad(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(c.year!)-\(pad(c.month!))-\(pad(c.day!)) \(pad(c.hour!)):\(pad(c.minute!))"
    }

    @Test func minutesAgreeWithFoundationsCalendar() {
        var random = SystemRandomNumberGenerator()
        // 1900-01-01 to 2200-01-01, in microseconds, and the edges that break a day, month or leap year calculation.
        let span: ClosedRange<Int64> = -2_208_988_800_000_000...7_258_118_400_000_000
        let edges: [Int64] = [0, -1, 951_782_400_000_000, 951_868_799_999_999, 4_107_542_400_000_000, 1_796_169_599_999_999]
        for us in edges + (0..<20_000).map({ _ in Int64.random(in: span, using: &random) }) {
            #expect(UTCTime.minute(us) == Self.reference(us), "at \(us) µs")
        }
        #expect(UTCTime.minute(951_782_400_000_000) == "2000-02-29 00:00")
        #expect(UTCTime.dateTime(-1) == "1969-12-31 23:59 UTC")
    }
}

private extension Int64 {
    func floorDivided(by d: Int64) -> Int64 { self >= 0 ? self / d : -((-self + d - 1) / d) }
}
