import Testing
@testable import ProberEngine

/// The Prometheus text writer: label values escaped as the format wants, labels in name order whatever order the
/// caller gave, numbers as a scraper reads them.
struct ExpositionTests {
    private func line(_ labels: KeyValuePairs<String, String>, _ value: Double) -> String {
        var out = Exposition()
        out.sample("m", labels, value)
        return String(decoding: out.bytes, as: UTF8.self)
    }

    @Test func labelValuesAreEscapedByteForByte() {
        #expect(line(["probe": #"a"b\c"#], 1) == #"m{probe="a\"b\\c"} 1"# + "\n")
        #expect(line(["probe": "two\nlines"], 1) == #"m{probe="two\nlines"} 1"# + "\n")
        // Multi-byte UTF-8 passes through untouched; a backslash right after it is still escaped.
        #expect(line(["probe": "café\\ü"], 1) == #"m{probe="café\\ü"} 1"# + "\n")
        #expect(line(["probe": ""], 0) == #"m{probe=""} 0"# + "\n")
    }

    @Test func labelsAreWrittenInNameOrder() {
        #expect(line(["probe": "p", "phase": "connect"], 0.5) == #"m{phase="connect",probe="p"} 0.5"# + "\n")
        #expect(line(["phase": "connect", "probe": "p"], 0.5) == #"m{phase="connect",probe="p"} 0.5"# + "\n")
        #expect(line(["c": "3", "a": "1", "b": "2"], 2) == #"m{a="1",b="2",c="3"} 2"# + "\n")
        #expect(line([:], 7) == "m 7\n")
    }

    @Test func numbersReadAsAScraperExpects() {
        #expect(line([:], 1_700_000_000) == "m 1700000000\n")
        #expect(line([:], 0.000123) == "m 0.000123\n")
        #expect(line([:], .infinity) == "m +Inf\n")
        #expect(line([:], .nan) == "m NaN\n")
    }
}
