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
