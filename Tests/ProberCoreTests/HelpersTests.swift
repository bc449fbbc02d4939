import ProberCore
import Testing

/// The one-of-each helpers: pluraliser, JSON values, the time format of every `--json`, "did you mean".
@Suite("Shared helpers")
struct HelpersTests {
    @Test func counts() {
        #expect(Human.count(0, "probe") == "0 probes")
        #expect(Human.count(1, "probe") == "1 probe")
        #expect(Human.count(3, "file") == "3 files")
        #expect(Human.count(2, "entry", plural: "entries") == "2 entries")
    }

    @Test func latenciesAndSpans() {
        #expect(Human.latency(microseconds: 0) == "0 µs")
        #expect(Human.latency(microseconds: 850) == "850 µs")
        #expect(Human.latency(microseconds: 1_000) == "1 ms")
        #expect(Human.latency(microseconds: 4_249) == "4.2 ms")
        #expect(Human.latency(microseconds: 9_960) == "10 ms")
        #expect(Human.latency(microseconds: 12_499) == "12 ms")
        #expect(Human.latency(microseconds: 999_600) == "1000 ms")
        #expect(Human.latency(microseconds: 1_850_000) == "1.9 s")
        #expect(Human.latency(microseconds: 59_990_000) == "60 s")
        #expect(Human.latency(microseconds: 185_000_000) == "3 min")
        #expect(Human.latency(microseconds: -5) == "-5 µs")
        #expect(Human.span(seconds: 45) == "45 s")
        #expect(Human.span(seconds: 7_500) == "2 h 5 min")
        #expect(Human.span(seconds: 7_200) == "2 h")
        #expect(Human.span(seconds: 3 * 86_400 + 4 * 3_600 + 59) == "3 d 4 h")
        #expect(Human.span(seconds: Int64.max) == "106751991167300 d 15 h")
        #expect(Human.ago(seconds: 61) == "1 min ago")
        // Written byte by byte, the same text as interpolating the rounded figures.
        func interpolated(_ us: Int64) -> String {
            func trim(_ v: Double) -> String { let r = (v * 10).rounded() / 10; return r == r.rounded() ? String(Int(r)) : String(r) }
            let v = Double(us)
            if us < 1_000 { return "\(us) µs" }
            if us < 10_000 { return trim(v / 1_000) + " ms" }
            if us < 1_000_000 { return "\(Int((v / 1_000).rounded())) ms" }
            if us < 60_000_000 { return trim(v / 1_000_000) + " s" }
            return Human.span(seconds: Int64(v / 1_000_000))
        }
        var us: Int64 = 1
        while us < 200_000_000 {
            for d in [-1, 0, 1, 49, 50, 51] as [Int64] { #expect(Human.latency(microseconds: us + d) == interpolated(us + d)) }
            us = us * 21 / 20 + 1
        }
    }

    @Test func jsonTimesHaveMilliseconds() {
        let t: Int64 = 1_710_496_800_000_000 + 42_999 // 2024-03-15 10:00:00.042999 UTC
        #expect(JSONValue.time(t) == .string("2024-03-15T10:00:00.042Z"))
        #expect(JSONValue.time(nil) == .null)
    }

    @Test func optionalsBecomeNull() {
        let none: Int64? = nil
        #expect(JSONValue(none) == .null)
        #expect(JSONValue(Int64(5)) == .int(5))
        #expect(JSONValue(Optional(7)) == .int(7))
        #expect(JSONValue(Optional("a")) == .string("a"))
        #expect(JSONValue(Optional(99.5)) == .double(99.5))
        #expect(JSONValue.object(["b": .int(1), "a": JSONValue(none)]).encoded == #"{"a":null,"b":1}"#)
    }

    @Test func didYouMean() {
        #expect(Suggest.closeNames(to: "chekout-api", in: ["checkout-api", "web", "checkout-db"]) == ["checkout-api"])
        #expect(Suggest.nearest(to: "Follow-Redirects", in: ["follow_redirects", "url"]) == "follow_redirects")
        #expect(Suggest.nearest(to: "cold", in: ["raw", "rollup_5m", "rollup_1h"]) == nil)
    }
}
