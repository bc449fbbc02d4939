import ProberCore
import ProberStorage

/// The worst level of one day on the uptime bars.
public enum DayLevel: String, Sendable, Equatable, Comparable {
    case noData = "nodata", healthy, minor, major

    private var rank: Int {
        switch self {
        case .noData: 0
        case .healthy: 1
        case .minor: 2
        case .major: 3
        }
    }

    public static func < (a: DayLevel, b: DayLevel) -> Bool { a.rank < b.rank }

    /// The word shown with it (never colour alone).
    public var word: String {
        switch self {
        case .noData: "no checks"
        case .healthy: "no incident"
        case .minor: "minor incident"
        case .major: "major incident"
        }
    }
}

/// One bar of the uptime bars.
public struct UptimeDay: Sendable, Equatable {
    public var start: Int64
    public var checks: Int
    public var failures: Int
    public var level: DayLevel

    public init(start: Int64, checks: Int, failures: Int, level: DayLevel) {
        self.start = start
        self.checks = checks
        self.failures = failures
        self.level = level
    }

    public var uptime: Double? { checks > 0 ? Double(checks - failures) * 100 / Double(checks) : nil }
}

/// An incident drawn as a band on a time axis.
public struct IncidentBand: Sendable, Equatable {
    public var id: Int64
    public var start: Int64
    /// Nil while open (drawn to the axis' end).
    public var end: Int64?
    public var severity: Severity
    public var title: String

    public init(id: Int64, start: Int64, end: Int64?, severity: Severity, title: String) {
        self.id = id
        self.start = start
        self.end = end
        self.severity = severity
        self.title = title
    }
}

/// One bucket of the latency chart: percentiles of total latency and the phase means.
public struct LatencyPoint: Sendable, Equatable {
    public var start: Int64
    public var p50: Int64?
    public var p95: Int64?
    public var p99: Int64?
    public var checks: Int
    public var failures: Int
    public var topReason: FailureReason?
    public var phases: [PhaseFigure]

    public init(start: Int64, p50: Int64?, p95: Int64?, p99: Int64?, checks: Int, failures: Int, topReason: FailureReason?,
                phases: [PhaseFigure]) {
        self.start = start
        self.p50 = p50
        self.p95 = p95
        self.p99 = p99
        self.checks = checks
        self.failures = failures
        self.topReason = topReason
        self.phases = phases
    }

    public init(_ bucket: HistoryBucket) {
        self.init(start: bucket.start, p50: bucket.latency.p50 ?? bucket.latency.mean, p95: bucket.latency.p95,
                  p99: bucket.latency.p99, checks: bucket.checks, failures: bucket.failures, topReason: bucket.topReason,
                  phases: bucket.phaseMeans)
    }
}

/// Inline SVG charts: pure functions from plain values to markup. Each chart is `role="img"` with an
/// `aria-label` and a `<title>` giving the numbers a reader needs, and `data-series`/`data-points` on each
/// drawn series so that a test can count them. Colours come from `Theme` through classes; every state also
/// has a word. A `series` label may carry a location later (`p95 eu-west`): the charts draw any number of
/// lines.
public enum Charts {
    /// The phases stacked beneath the latency lines, bottom first.
    public static let stackedPhases: [Phases.Name] = [.dns, .connect, .tls, .processing, .transfer]

    // MARK: Sparkline

    /// A small line of `values` (oldest first; nil where unknown), scaled to its own range. Its accessible name
    /// is its `<title>` (no `aria-label` repeating it: 200 rows of `/` carry two charts each). Drawn in CSS pixels
    /// (`svg.spark` is 120 × 28, so no viewBox) with integer coordinates, each run one `M` and relative steps;
    /// its class names the chart (no `data-chart`/`data-series`/`data-points` as on the larger charts: 200 rows
    /// again; a test counts the points drawn).
    public static func sparkline(_ values: [Int64?], what: String) -> HTML {
        let width = 120, height = 28, pad = 2
        let present = values.compactMap { $0 }
        let label: String
        if let lo = present.min(), let hi = present.max(), let last = values.last(where: { $0 != nil }) ?? nil {
            label = "\(what): \(Human.latency(microseconds: lo)) to \(Human.latency(microseconds: hi)), latest \(Human.latency(microseconds: last))"
        } else {
            label = "\(what): no successful checks"
        }
        let lo = Double(present.min() ?? 0), hi = Double(present.max() ?? 1)
        let step = values.count > 1 ? (width - 2 * pad) / (values.count - 1) : 0
        func y(_ v: Int64) -> Int {
            hi == lo ? height / 2 : Int((Double(height - pad) - (Double(v) - lo) / (hi - lo) * Double(height - 2 * pad)).rounded())
        }
        // Runs of consecutive values: a run of two or more is `M` then relative steps, a lone value a dot.
        var runs: [[(x: Int, y: Int)]] = [[]]
        for (i, v) in values.enumerated() {
            if let v { runs[runs.count - 1].append((pad + i * step, y(v))) } else if !runs[runs.count - 1].isEmpty { runs.append([]) }
        }
        var path = ""
        for run in runs where run.count > 1 {
            path += "M\(run[0].x) \(run[0].y)l"
            for (i, (a, b)) in zip(run, run.dropFirst()).enumerated() {
                let dy = b.y - a.y
                path += (i == 0 ? "" : " ") + "\(b.x - a.x)" + (dy < 0 ? "\(dy)" : " \(dy)")
            }
        }
        let dots: [HTML] = runs.filter { $0.count == 1 }.map { "<circle cx=\"\($0[0].x)\" cy=\"\($0[0].y)\" r=\"1.5\"/>" }
        return """
            <svg class="spark" role="img">\
            <title>\(label)</title>\(path.isEmpty ? "" as HTML : "<path d=\"\(path)\"/>")\(dots)</svg>
            """
    }

    // MARK: Uptime bars

    /// One bar a day, oldest first, coloured by the day's worst level. With `detail`, each day is a focusable
    /// group whose `<title>` says the day, its uptime and its level (the probe page, the report); without, see
    /// `compactBars` (the status page).
    public static func uptimeBars(_ days: [UptimeDay], probe: String, detail: Bool) -> HTML {
        guard detail else { return compactBars(days) }
        let barWidth = 2.0, gap = 1.0, height = 28.0
        let checks = days.reduce(0) { $0 + $1.checks }, failures = days.reduce(0) { $0 + $1.failures }
        let uptime = checks > 0 ? Double(checks - failures) * 100 / Double(checks) : nil
        let degraded = days.filter { $0.level == .minor || $0.level == .major }
        let minor = degraded.filter { $0.level == .minor }.count, major = degraded.count - minor
        var label = "\(probe), uptime over \(days.count) days: " + (uptime.map { percent($0) } ?? "no checks")
        label += degraded.isEmpty ? "; no incident"
            : "; \(Human.count(major, "day")) with a major incident, \(Human.count(minor, "day")) with a minor one"
        // State not by colour alone: a day without checks is a short stub, a minor day a bar lowered at the
        // top, a major day a bar split in two.
        var marks: [HTML] = []
        for (i, d) in days.enumerated() {
            let x = Double(i) * (barWidth + gap)
            let text = "\(day(d.start)): " + (d.uptime.map { percent($0) + " uptime" } ?? "no checks")
                + (d.level == .minor || d.level == .major ? ", \(d.level.word)" : "")
            let rects: HTML
            switch d.level {
            case .major:
                rects = "<rect class=\"f-major\" x=\"\(x)\" y=\"0\" width=\"\(barWidth)\" height=\"\(height / 2 - 2)\"/><rect class=\"f-major\" x=\"\(x)\" y=\"\(height / 2 + 2)\" width=\"\(barWidth)\" height=\"\(height / 2 - 2)\"/>"
            case .noData:
                rects = "<rect class=\"f-nodata\" x=\"\(x)\" y=\"\(height - 6)\" width=\"\(barWidth)\" height=\"6.0\"/>"
            case .minor:
                rects = "<rect class=\"f-minor\" x=\"\(x)\" y=\"6.0\" width=\"\(barWidth)\" height=\"\(height - 6)\"/>"
            case .healthy:
                rects = "<rect class=\"f-ok\" x=\"\(x)\" y=\"0.0\" width=\"\(barWidth)\" height=\"\(height)\"/>"
            }
            marks.append("<g class=\"day\" tabindex=\"0\" data-level=\"\(d.level.rawValue)\"><title>\(text)</title>\(rects)</g>")
        }
        let width = max(Double(days.count) * (barWidth + gap) - gap, 1)
        return """
            <svg class="chart bars" viewBox="0 0 \(width) \(height)" preserveAspectRatio="none" role="img" aria-label="\(label)"\
             data-chart="uptime" data-series="uptime" data-points="\(days.count)"><title>\(label)</title>\(marks)</svg>
            """
    }

    /// Days listed by name in the compact bars' title at most (the lowest uptime first).
    static let listedDays = 3

    /// The status page's bars: one focusable chart (`tabindex`), one path per level (a horizontal stroke as thick
    /// as the bar is tall, dashed into 2-pixel bars, so a run of days is one `h`), its title the uptime of the
    /// whole span and the days below 100 % or with an incident, lowest first. 90 days at 3 pixels are
    /// `svg.bars`' 269 × 28 CSS pixels, so no viewBox then; the stroke widths and colours come from the
    /// `u-LEVEL` classes (`Theme`). About 180 bytes for a quiet probe; per-day titles here would weigh ~1.4 MB.
    static func compactBars(_ days: [UptimeDay]) -> HTML {
        let checks = days.reduce(0) { $0 + $1.checks }, failures = days.reduce(0) { $0 + $1.failures }
        var label = "uptime, \(days.count) days: " + (checks > 0 ? percent(Double(checks - failures) * 100 / Double(checks)) : "no checks")
        // The lowest `listedDays` of the days below 100 % or with an incident (lowest uptime, worst level, earliest
        // first), picked in one pass rather than sorting all of them: 200 rows a page.
        func before(_ a: UptimeDay, _ b: UptimeDay) -> Bool { (a.uptime ?? 100, b.level, a.start) < (b.uptime ?? 100, a.level, b.start) }
        var lowest: [UptimeDay] = []
        var notable = 0
        for d in days where (d.uptime ?? 100) < 100 || d.level == .minor || d.level == .major {
            notable += 1
            guard lowest.count < listedDays || before(d, lowest[lowest.count - 1]) else { continue }
            lowest.insert(d, at: lowest.firstIndex { before(d, $0) } ?? lowest.count)
            if lowest.count > listedDays { lowest.removeLast() }
        }
        if notable == 0 {
            label += "; every day 100 %"
        } else {
            label += "; " + lowest.map { d in
                "\(day(d.start)) \(d.uptime.map { percent($0) } ?? "no checks")"
                    + (d.level == .minor || d.level == .major ? " \(d.level.rawValue)" : "")
            }.joined(separator: ", ") + (notable > listedDays ? " and \(notable - listedDays) more" : "")
        }
        // State not by colour alone: a day without checks is a short stub (y 22-28), a minor day a bar lowered
        // at the top (6-28), a major day a bar split in two (0-12 and 16-28).
        let centres: [(DayLevel, [Int])] = [(.noData, [25]), (.healthy, [14]), (.minor, [17]), (.major, [6, 22])]
        // Each level's runs of consecutive days, in one pass over the days.
        var runs = [[(from: Int, to: Int)]](repeating: [], count: centres.count)
        var i = 0
        while i < days.count {
            var j = i
            while j + 1 < days.count, days[j + 1].level == days[i].level { j += 1 }
            if let k = centres.firstIndex(where: { $0.0 == days[i].level }) { runs[k].append((i, j)) }
            i = j + 1
        }
        var marks: [HTML] = []
        for (k, (level, ys)) in centres.enumerated() where !runs[k].isEmpty {
            var d = ""
            for y in ys {
                for run in runs[k] { d += "M\(run.from * 3) \(y)h\((run.to - run.from + 1) * 3 - 1)" }
            }
            marks.append("<path class=\"u-\(level.rawValue)\" d=\"\(d)\"/>")
        }
        let width = max(days.count * 3 - 1, 1)
        let box: HTML = width == 269 ? .empty : " viewBox=\"0 0 \(width) 28\" preserveAspectRatio=\"none\""
        return """
            <svg class="bars"\(box) role="img" tabindex="0">\
            <title>\(label)</title>\(marks)</svg>
            """
    }

    /// `2026-11-30`.
    static func day(_ t: Int64) -> String { String(UTCTime.dateTime(t).prefix(10)) }

    // MARK: Latency over time

    /// p50/p95/p99 lines over the phases' stacked means, with incidents as bands, on `[since, until)`.
    /// `locations`: each location's p95 per bucket (the same buckets as `points`), drawn as one more line each
    /// (`data-series="p95 NAME"`), named at its end and in the text alternative.
    public static func latency(_ points: [LatencyPoint], since: Int64, until: Int64, every: Int64,
                               incidents: [IncidentBand], probe: String, locations: [(name: String, p95: [Int64?])] = []) -> HTML {
        let frame = Frame(since: since, until: until, width: 760, height: 240)
        let top = (points.flatMap { p in [p.p99, p.p95, p.p50, p.phases.reduce(0) { $0 + $1.microseconds }] }
            + locations.flatMap(\.p95)).compactMap { $0 }.max() ?? 0
        let scale = niceCeiling(max(top, 1))
        func y(_ v: Int64) -> Double { frame.bottom - Double(v) / Double(scale) * (frame.bottom - frame.top) }

        var layers: [HTML] = []
        // Incidents first, beneath everything.
        for band in incidents {
            let x0 = frame.x(max(band.start, since)), x1 = frame.x(min(band.end ?? until, until))
            guard x1 >= x0 else { continue }
            let text = "incident #\(band.id) (\(band.severity.rawValue)): \(band.title), \(UTCTime.dateTime(band.start))"
                + (band.end.map { " to \(UTCTime.dateTime($0))" } ?? ", still open")
            layers.append("""
                <rect class="band f-\(band.severity.rawValue)" data-incident="\(band.id)" x="\(x0)" y="\(frame.top)" \
                width="\(max(x1 - x0, 2))" height="\(frame.bottom - frame.top)"><title>\(text)</title></rect>
                """)
        }
        // Grid and the latency axis.
        for i in 0...4 {
            let v = scale * Int64(i) / 4
            layers.append("""
                <line class="grid" x1="\(frame.left)" x2="\(frame.right)" y1="\(y(v))" y2="\(y(v))"/>\
                <text x="\(frame.left - 4)" y="\(y(v) + 4)" text-anchor="end">\(v == 0 ? "0" : Human.latency(microseconds: v))</text>
                """)
        }
        layers.append(frame.timeLabels())

        // Phases: stacked areas of the means, bottom first.
        let xs = points.map { frame.x($0.start + every / 2) }
        var below = [Int64](repeating: 0, count: points.count)
        for phase in stackedPhases {
            var upper: [(Double, Double)] = [], lower: [(Double, Double)] = []
            var count = 0
            for (i, p) in points.enumerated() {
                guard let v = p.phases.first(where: { $0.phase == phase })?.microseconds else { continue }
                count += 1
                lower.append((xs[i], y(below[i])))
                below[i] += v
                upper.append((xs[i], y(below[i])))
            }
            guard count > 0 else { continue }
            let d = "M" + (upper + lower.reversed()).map { HTML.number($0.0) + " " + HTML.number($0.1) }.joined(separator: "L") + "Z"
            layers.append("""
                <path class="area f-\(phase.rawValue)" data-series="phase-\(phase.rawValue)" data-points="\(count)" d="\(d)">\
                <title>\(phase.label) (mean)</title></path>
                """)
        }
        // Percentile lines: a dash pattern each and a label at the line's end, so not by colour.
        // Each location's p95 after them, a dash-dot line each (`loc`), labelled with its name.
        let series: [(name: String, css: String, values: [Int64?])] = [("p50", "p50", points.map(\.p50)), ("p95", "p95", points.map(\.p95)),
                                                                       ("p99", "p99", points.map(\.p99))]
            + locations.map { ("p95 \($0.name)", "loc", $0.p95) }
        var labelYs: [Double] = []
        for (name, css, values) in series {
            var d = "", penDown = false, count = 0, lastPoint: (Double, Double)?
            for (i, value) in values.enumerated() where i < xs.count {
                guard let v = value else { penDown = false; continue }
                count += 1
                d += (penDown ? "L" : "M") + HTML.number(xs[i]) + " " + HTML.number(y(v))
                if !penDown, i + 1 < values.count, values[i + 1] == nil { d += "h1" } // a lone point stays visible
                penDown = true
                lastPoint = (xs[i], y(v))
            }
            guard count > 0 else { continue }
            layers.append("<path class=\"line \(css)\" data-series=\"\(name)\" data-points=\"\(count)\" d=\"\(d)\"/>")
            if let (lx, ly) = lastPoint {
                // Labels of lines ending close together are moved apart, so each stays readable.
                var labelY = ly + 4
                for taken in labelYs where abs(taken - labelY) < 11 { labelY = min(labelY, taken - 11) }
                labelYs.append(labelY)
                layers.append("<text x=\"\(min(lx + 4, frame.right + 4))\" y=\"\(labelY)\">\(name)</text>")
            }
        }

        let all = points.flatMap { [$0.p50, $0.p95, $0.p99] }.compactMap { $0 }
        var label = "\(probe), latency from \(UTCTime.dateTime(since)) to \(UTCTime.dateTime(until)) in \(points.count) buckets of \(Human.span(seconds: every / 1_000_000))"
        if let p95 = points.compactMap(\.p95).max(), let p50s = Optional(points.compactMap(\.p50)), !p50s.isEmpty {
            label += ": p50 from \(Human.latency(microseconds: p50s.min()!)) to \(Human.latency(microseconds: p50s.max()!)), highest p95 \(Human.latency(microseconds: p95))"
        } else if all.isEmpty {
            label += ": no successful checks"
        }
        for l in locations {
            label += "; \(l.name): highest p95 " + (l.p95.compactMap { $0 }.max().map { Human.latency(microseconds: $0) } ?? "none")
        }
        label += "; \(Human.count(incidents.count, "incident")) in the range"
        return """
            <svg class="chart latency" viewBox="0 0 \(frame.width) \(frame.height)" role="img" aria-label="\(label)" \
            data-chart="latency" data-points="\(points.count)"><title>\(label)</title>\(layers)</svg>
            """
    }

    // MARK: Failures

    /// Failed checks per bucket on the same time axis as the latency chart, with the most frequent reason
    /// of each bucket in its `<title>`.
    public static func failures(_ points: [LatencyPoint], since: Int64, until: Int64, every: Int64, probe: String) -> HTML {
        let frame = Frame(since: since, until: until, width: 760, height: 110)
        let top = max(points.map(\.failures).max() ?? 0, 1)
        let barWidth = max(frame.x(since + every) - frame.x(since) - 1, 1)
        var layers: [HTML] = [
            "<line class=\"grid\" x1=\"\(frame.left)\" x2=\"\(frame.right)\" y1=\"\(frame.bottom)\" y2=\"\(frame.bottom)\"/>",
            "<text x=\"\(frame.left - 4)\" y=\"\(frame.top + 8)\" text-anchor=\"end\">\(top)</text>",
            frame.timeLabels(),
        ]
        var count = 0
        for p in points where p.failures > 0 {
            count += 1
            let h = Double(p.failures) / Double(top) * (frame.bottom - frame.top)
            let text = "\(UTCTime.dateTime(p.start)): \(p.failures) of \(p.checks) checks failed"
                + (p.topReason.map { ", mostly \($0.rawValue)" } ?? "")
            layers.append("""
                <rect class="f-major" x="\(frame.x(p.start))" y="\(frame.bottom - h)" width="\(barWidth)" height="\(h)"><title>\(text)</title></rect>
                """)
        }
        let total = points.reduce(0) { $0 + $1.failures }
        let label = "\(probe), failed checks over time: \(total) in \(count) of \(points.count) buckets"
        return """
            <svg class="chart failures" viewBox="0 0 \(frame.width) \(frame.height)" role="img" aria-label="\(label)" \
            data-chart="failures" data-series="failures" data-points="\(count)"><title>\(label)</title>\(layers)</svg>
            """
    }

    /// Failed checks by reason, most frequent first: a labelled horizontal bar each.
    public static func failureReasons(_ reasons: [FailureReasonCount], probe: String) -> HTML {
        let rowHeight = 20.0, width = 760.0, labelWidth = 170.0
        let top = max(reasons.map(\.count).max() ?? 0, 1)
        let total = reasons.reduce(0) { $0 + $1.count }
        let label = "\(probe), failed checks by reason: "
            + (reasons.isEmpty ? "none" : reasons.map { "\($0.reason.rawValue) \($0.count)" }.joined(separator: ", "))
        let rows: [HTML] = reasons.enumerated().map { i, r in
            let y = Double(i) * rowHeight
            let w = Double(r.count) / Double(top) * (width - labelWidth - 60)
            return """
                <g data-reason="\(r.reason.rawValue)"><text x="0" y="\(y + 14)">\(r.reason.rawValue)</text>\
                <rect class="f-major" x="\(labelWidth)" y="\(y + 4)" width="\(max(w, 1))" height="\(rowHeight - 8)"/>\
                <text x="\(labelWidth + w + 6)" y="\(y + 14)">\(r.count) (\(percent(Double(r.count) * 100 / Double(max(total, 1)))))</text></g>
                """
        }
        let height = max(Double(reasons.count) * rowHeight, rowHeight)
        let empty: HTML = reasons.isEmpty ? "<text x=\"0\" y=\"14\">no failed checks</text>" : .empty
        return """
            <svg class="chart reasons" viewBox="0 0 \(width) \(height)" role="img" aria-label="\(label)" \
            data-chart="reasons" data-series="reasons" data-points="\(reasons.count)"><title>\(label)</title>\(rows)\(empty)</svg>
            """
    }

    // MARK: Helpers

    /// `99.95 %`, `100 %`.
    public static func percent(_ v: Double) -> String {
        v >= 100 ? "100 %" : HTML.number(min(v, 99.99), digits: 2) + " %"
    }

    /// 1, 2 or 5 times a power of ten, at least `v`.
    static func niceCeiling(_ v: Int64) -> Int64 {
        var magnitude: Int64 = 1
        while magnitude * 10 <= v { magnitude *= 10 }
        for m in [1, 2, 5, 10] as [Int64] where m * magnitude >= v { return m * magnitude }
        return 10 * magnitude
    }

    /// The plotting area of a time chart.
    struct Frame {
        let since: Int64, until: Int64
        let width: Double, height: Double
        let left = 64.0, top = 8.0
        var right: Double { width - 36 }
        var bottom: Double { height - 22 }

        init(since: Int64, until: Int64, width: Double, height: Double) {
            self.since = since
            self.until = max(until, since + 1)
            self.width = width
            self.height = height
        }

        func x(_ t: Int64) -> Double { left + Double(t - since) / Double(until - since) * (right - left) }

        /// Start, middle and end of the axis, in UTC.
        func timeLabels() -> HTML {
            let times = [since, since + (until - since) / 2, until]
            let anchors = ["start", "middle", "end"]
            let labels: [HTML] = zip(times, anchors).map { t, anchor in
                "<text x=\"\(x(t))\" y=\"\(height - 6)\" text-anchor=\"\(anchor)\">\(UTCTime.time(t, relativeTo: until))</text>"
            }
            return "\(labels)"
        }
    }
}
