import Foundation
import ProberCore
import ProberStorage
import ProberWeb
import Testing

/// The SVG charts: pure functions, so each is checked on its markup: series and point counts, the text a
/// reader gets, escaping of hostile names, and the palette's contrast.
@Suite struct ChartTests {
    static let hour: Int64 = 3_600_000_000
    static let t0: Int64 = 1_799_971_200_000_000
    static let hostile = #"<script>x("1")</script>'é"#

    /// Occurrences of `needle` in `text`.
    func count(_ needle: String, in text: String) -> Int { text.components(separatedBy: needle).count - 1 }

    func attribute(_ name: String, of text: String) -> String? {
        guard let r = text.range(of: " \(name)=\"") else { return nil }
        return String(text[r.upperBound...].prefix { $0 != "\"" })
    }

    @Test func sparklineCountsItsPointsAndSaysItsRange() {
        let values: [Int64?] = [1_000, 2_000, nil, 4_000, nil, 8_000] + Array(repeating: nil, count: 18)
        let svg = Charts.sparkline(values, what: "api, p95 per hour").markup
        #expect(CompactCharts.sparkPoints(svg[...]) == 4)
        #expect(attribute("role", of: svg) == "img")
        #expect(svg.contains("<title>api, p95 per hour: 1 ms to 8 ms, latest 8 ms</title>"))
        #expect(count("<title>", in: svg) == 1)
        // Two segments (1,2 and 4 alone is a dot, 8 alone is a dot): one path with one M, two lone dots.
        #expect(count("<circle", in: svg) == 2)
        let empty = Charts.sparkline(Array(repeating: nil, count: 24), what: "idle").markup
        #expect(CompactCharts.sparkPoints(empty[...]) == 0)
        #expect(!empty.contains("<path"))
        #expect(empty.contains("idle: no successful checks"))
    }

    func days(_ levels: [DayLevel]) -> [UptimeDay] {
        levels.enumerated().map { i, level in
            UptimeDay(start: Self.t0 + Int64(i) * 24 * Self.hour, checks: level == .noData ? 0 : 1_000,
                      failures: level == .major ? 50 : level == .minor ? 3 : 0, level: level)
        }
    }

    @Test func uptimeBarsInDetailHaveAFocusableTitledBarPerDay() {
        let levels: [DayLevel] = Array(repeating: .noData, count: 10) + Array(repeating: .healthy, count: 77) + [.minor, .major, .healthy]
        let svg = Charts.uptimeBars(days(levels), probe: Self.hostile, detail: true).markup
        #expect(attribute("data-points", of: svg) == "90")
        #expect(count("<g class=\"day\" tabindex=\"0\"", in: svg) == 90)
        #expect(count("data-level=\"healthy\"", in: svg) == 78)
        #expect(count("data-level=\"nodata\"", in: svg) == 10)
        #expect(svg.contains("<title>2027-04-12: 99.7 % uptime, minor incident</title>"))
        #expect(svg.contains("<title>2027-04-13: 95 % uptime, major incident</title>"))
        #expect(svg.contains("<title>2027-01-15: no checks</title>"))
        #expect(svg.contains("1 day with a major incident, 1 day with a minor one"))
        #expect(!svg.contains("<script>"), "the probe's name is escaped inside SVG")
        #expect(svg.contains("&lt;script&gt;x(&quot;1&quot;)&lt;/script&gt;&#39;é"))
    }

    @Test func compactUptimeBarsDrawOnePathPerLevelAndNameTheDegradedDays() {
        let levels: [DayLevel] = Array(repeating: .healthy, count: 40) + [.minor] + Array(repeating: .healthy, count: 47) + [.major, .noData]
        let svg = Charts.uptimeBars(days(levels), probe: "api", detail: false).markup
        #expect(CompactCharts.barDays(svg[...]) == ["healthy": 87, "minor": 1, "major": 1, "nodata": 1])
        #expect(count("<path class=\"u-", in: svg) == 4, "one path per level")
        #expect(svg.contains("<path class=\"u-major\" d=\"M264 6h2M264 22h2\"/>"), "a major day is split in two, so not by colour alone")
        #expect(attribute("tabindex", of: svg) == "0", "focusable, to read the title")
        #expect(svg.contains("<title>uptime, 90 days: 99.94 %; 2027-04-13 95 % major, 2027-02-24 99.7 % minor</title>"),
                "the days below 100 % or with an incident, lowest first")
        #expect(count("<title>", in: svg) == 1)
        // A run of 40 healthy days is one subpath of 40 bars: 40 * 3 - 1 wide.
        #expect(svg.contains("M0 14h119M123 14h140"))
    }

    func points(_ n: Int, every: Int64) -> [LatencyPoint] {
        (0..<n).map { i in
            let base = Int64(20_000 + i * 100)
            return LatencyPoint(start: Self.t0 + Int64(i) * every, p50: i == 3 ? nil : base, p95: base * 2, p99: i % 2 == 0 ? base * 3 : nil,
                                checks: 10, failures: i % 5 == 0 ? 2 : 0, topReason: i % 5 == 0 ? .timeout : nil,
                                phases: [PhaseFigure(phase: .dns, microseconds: 300), PhaseFigure(phase: .connect, microseconds: 800),
                                         PhaseFigure(phase: .processing, microseconds: base - 1_100)])
        }
    }

    @Test func latencyChartHasItsSeriesPhasesAndIncidentBands() {
        let every: Int64 = 300_000_000
        let p = points(288, every: every)
        let bands = [IncidentBand(id: 7, start: Self.t0 + 2 * Self.hour, end: Self.t0 + 3 * Self.hour, severity: .major, title: Self.hostile),
                     IncidentBand(id: 9, start: Self.t0 + 20 * Self.hour, end: nil, severity: .minor, title: "slow")]
        let svg = Charts.latency(p, since: Self.t0, until: Self.t0 + 24 * Self.hour, every: every, incidents: bands, probe: "api").markup
        #expect(svg.contains("data-series=\"p50\" data-points=\"287\""))
        #expect(svg.contains("data-series=\"p95\" data-points=\"288\""))
        #expect(svg.contains("data-series=\"p99\" data-points=\"144\""))
        #expect(svg.contains("data-series=\"phase-dns\" data-points=\"288\""))
        #expect(svg.contains("data-series=\"phase-processing\" data-points=\"288\""))
        #expect(!svg.contains("phase-tls"), "a phase never measured draws nothing")
        #expect(count("data-incident=", in: svg) == 2)
        #expect(svg.contains("incident #7 (major): &lt;script&gt;"))
        #expect(svg.contains("still open"))
        #expect(!svg.contains("<script>"))
        #expect(attribute("aria-label", of: svg)?.contains("288 buckets of 5 min") == true)
        #expect(attribute("aria-label", of: svg)?.contains("2 incidents in the range") == true)
        #expect(attribute("role", of: svg) == "img")
    }

    @Test func failureChartsCountBucketsAndReasons() {
        let every: Int64 = 300_000_000
        let p = points(20, every: every)
        let svg = Charts.failures(p, since: Self.t0, until: Self.t0 + 20 * every, every: every, probe: "api").markup
        #expect(attribute("data-points", of: svg) == "4")
        #expect(svg.contains("2 of 10 checks failed, mostly timeout"))
        #expect(attribute("aria-label", of: svg) == "api, failed checks over time: 8 in 4 of 20 buckets")
        let reasons = Charts.failureReasons([FailureReasonCount(reason: .timeout, count: 6), FailureReasonCount(reason: .httpStatus, count: 2)],
                                            probe: "api").markup
        #expect(attribute("data-points", of: reasons) == "2")
        #expect(reasons.contains("data-reason=\"timeout\""))
        #expect(attribute("aria-label", of: reasons) == "api, failed checks by reason: timeout 6, http_status 2")
        #expect(reasons.contains(">6 (75 %)<"))
        let none = Charts.failureReasons([], probe: "api").markup
        #expect(none.contains("no failed checks"))
    }

    @Test func everyColourHasAtLeast4Point5ToOneAgainstItsBackground() {
        for colour in Theme.colours {
            let light = Theme.contrast(colour.light, Theme.lightBackground)
            let dark = Theme.contrast(colour.dark, Theme.darkBackground)
            #expect(light >= 4.5, "\(colour.name) in light: \(light)")
            #expect(dark >= 4.5, "\(colour.name) in dark: \(dark)")
        }
        #expect(abs(Theme.contrast("#000000", "#ffffff") - 21) < 0.01)
        #expect(Theme.css.contains("prefers-color-scheme:dark"))
    }
}
