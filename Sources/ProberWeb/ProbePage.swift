import ProberCore
import ProberStorage

/// `/probes/NAME`: latency over a range (p50/p95/p99 over the stacked phases), failures by reason, the
/// incidents on the same axis, and the probe's configuration (redacted when it was registered).
public enum ProbePage {
    /// A range of the probe page: its length and the bucket width the chart uses.
    public struct Range: Sendable, Equatable {
        public var name: String
        public var length: Int64
        public var every: Int64

        static let minute: Int64 = 60_000_000
        public static let all: [Range] = [
            Range(name: "1h", length: 60 * minute, every: minute),
            Range(name: "24h", length: 1_440 * minute, every: 5 * minute),
            Range(name: "7d", length: 7 * 1_440 * minute, every: 60 * minute),
            Range(name: "30d", length: 30 * 1_440 * minute, every: 180 * minute),
            Range(name: "1y", length: 365 * 1_440 * minute, every: 1_440 * minute),
        ]

        /// The range named `name`, or 24 h.
        public static func named(_ name: String?) -> Range { all.first { $0.name == name } ?? all[1] }
    }

    /// What the page shows of one probe over one range; nil history for an unknown probe.
    public struct Content: Sendable {
        public var name: String
        public var info: ProbeInfo?
        public var history: History
        public var incidents: [StoredIncident]
        public var last: ProbeStatus.LastCheck?
        public var open: StoredIncident?
        /// The last 90 days for the uptime bars (empty in the report).
        public var days: [UptimeDay] = []
        /// Each location's share of `history` (a fleet's probe; empty on SQLite): a p95 line each and a table.
        public var locations: [LocatedHistory] = []
    }

    /// Reads what the page needs; nil for an unknown probe. Buckets are aligned to the range's width, so the
    /// range ends at the end of the bucket holding `now`.
    public static func load(_ name: String, range: Range, storage: some ProbeRegistry & HistoryReading & IncidentStorage & LocationReading,
                            now: Int64) throws -> Content? {
        let until = (now / range.every + 1) * range.every
        let since = until - range.length
        guard let found = try storage.locationHistory(probe: name, location: nil, since: since, until: until, every: range.every,
                                                      phase: .total) else {
            return nil
        }
        let history = found.total
        let daysSince = now - Int64(StatusPage.days) * 86_400_000_000
        let recent = try storage.incidents(since: min(since, daysSince)).filter { $0.incident.probe == name }
        let incidents = recent.filter { ($0.incident.resolvedAt ?? now) >= since }
        let counts = try storage.overview(probes: [name], days: StatusPage.days, now: now)[name]?.days ?? []
        return Content(name: name, info: try storage.probeInfo(name), history: history, incidents: incidents,
                       last: try storage.recentSamples(probe: name, limit: 1).last.map(lastCheck), open: recent.first { !$0.incident.resolved },
                       days: Layout.uptimeDays(counts, incidents: recent, now: now), locations: found.locations)
    }

    static func lastCheck(_ s: Sample) -> ProbeStatus.LastCheck {
        ProbeStatus.LastCheck(at: s.startedAt, reason: s.failure?.reason, status: s.status, latency: s.phases.total)
    }

    /// The charts and tables of one probe (also a section of `prober report`).
    static func section(_ c: Content, range: Range, now: Int64, links: Bool) -> HTML {
        let h = c.history
        let points = h.buckets.map(LatencyPoint.init)
        let bands = c.incidents.map { s in
            IncidentBand(id: s.incident.id, start: s.incident.createdAt, end: s.incident.resolvedAt, severity: s.incident.status,
                         title: s.incident.title)
        }
        let s = h.summary
        let sources = h.sources.isEmpty ? "no data" : h.sources.map { $0 == .raw ? "raw samples" : "\($0.rawValue) rollups" }
            .joined(separator: " + ")
        func lat(_ v: Int64?) -> String { v.map { Human.latency(microseconds: $0) } ?? "–" }
        let legend: HTML = """
            <div class="legend">\(Charts.stackedPhases.map { p -> HTML in
                "<span><span class=\"swatch\" style=\"background:var(--\(p.rawValue))\"></span>\(p.label)</span>"
            })<span>— p50</span><span>- - p95</span><span>··· p99</span>\
            <span><span class="swatch" style="background:var(--minor);opacity:.4"></span>minor incident</span>\
            <span><span class="swatch" style="background:var(--major);opacity:.4"></span>major incident</span>\
            \(c.locations.count > 1 ? "<span>·-· p95 of each location, named at its end</span>" as HTML : .empty)</div>
            """
        let incidentItems: [HTML] = c.incidents.map { s in
            let i = s.incident
            let link: HTML = links ? "<a href=\"\(Layout.incidentHref(i.id))\">#\(i.id)</a>" : "#\(i.id)"
            return """
                <li>\(link) \(Layout.severity(i.status)) \(i.stage.rawValue), \(Layout.time(i.createdAt))\
                \(i.resolvedAt.map { t -> HTML in " to \(Layout.time(t))" }): <strong>\(i.title)</strong>\
                <br>\(i.updates.last?.description ?? i.description)</li>
                """
        }
        // One location: its line would repeat the probe's p95.
        let located = c.locations.count > 1 ? c.locations : []
        let locationRows: [HTML] = located.map { l in
            let s = l.history.summary
            return """
                <tr><td>\(l.location)</td><td>\(s.checks)</td><td>\(s.failures)</td><td>\(s.uptime.map { Charts.percent($0) } ?? "–")</td>\
                <td>\(lat(s.latency.p50))</td><td>\(lat(s.latency.p95))</td><td>\(lat(s.latency.p99))</td></tr>
                """
        }
        let locationTable: HTML = located.isEmpty ? .empty : """
            <h2>Locations</h2>
            <div class="scroll"><table class="locations"><thead><tr><th>Location</th><th>Checks</th><th>Failed</th><th>Uptime</th>\
            <th>p50</th><th>p95</th><th>p99</th></tr></thead><tbody>\(locationRows)</tbody></table></div>
            """
        let phaseFigures = s.phaseMedians.filter { $0.phase != .total }
            .map { "\($0.phase.label) \(Human.latency(microseconds: $0.microseconds))" }.joined(separator: " · ")
        return """
            <p>\(s.checks) checks, \(s.failures) failed, uptime \(s.uptime.map { Charts.percent($0) } ?? "–"); \
            p50 \(lat(s.latency.p50)), p95 \(lat(s.latency.p95)), p99 \(lat(s.latency.p99)), max \(lat(s.latency.max))\
            \(s.exact ? "" : " (from rollups, within 4.4 %)").<br><span class="muted">Phases (\(s.exact ? "medians" : "means")): \
            \(phaseFigures.isEmpty ? "–" : phaseFigures). Buckets of \(Human.span(seconds: h.every / 1_000_000)) from \(sources).</span></p>
            <h2>Latency</h2>
            \(Charts.latency(points, since: h.since, until: h.until, every: h.every, incidents: bands, probe: c.name,
                             locations: located.map { ($0.location, $0.history.buckets.map(\.latency.p95)) }))
            \(legend)
            \(locationTable)
            <h2>Failures</h2>
            \(Charts.failures(points, since: h.since, until: h.until, every: h.every, probe: c.name))
            \(Charts.failureReasons(s.failuresByReason, probe: c.name))
            <h2>Incidents in the range</h2>
            \(incidentItems.isEmpty ? "<p class=\"muted\">None.</p>" as HTML : "<ul class=\"incidents\">\(incidentItems)</ul>")
            """
    }

    public static func render(_ c: Content, range: Range, now: Int64) -> HTML {
        let state = ProbeState(lastCheckPassed: c.last?.ok, incident: c.open.map { ($0.incident.status, $0.incident.stage) })
        let ranges: [HTML] = Range.all.map { r in
            r == range
                ? "<a href=\"\(Layout.probeHref(c.name, range: r.name))\" aria-current=\"true\">\(r.name)</a>"
                : "<a href=\"\(Layout.probeHref(c.name, range: r.name))\">\(r.name)</a>"
        }
        let settings: [HTML] = (c.info?.settings ?? []).map { "<dt>\($0.key)</dt><dd>\($0.value)</dd>" }
        let last: HTML = c.last.map { l in
            "Last check \(Layout.ago(l.at, now: now)): \(l.reason.map { "✗ \($0.rawValue)" } ?? "✓ ok")\(l.latency.map { ", \(Human.latency(microseconds: $0))" } ?? "")."
        } ?? "No check yet."
        let body: HTML = """
            <h1>\(c.name) \(Layout.state(state))</h1>
            <p class="muted" data-refresh="30">\(c.info.map { "\($0.kind) \($0.target)" } ?? "") · \(last) Updated \(UTCTime.dateTime(now)).</p>
            <h2 id="uptime">Uptime, \(StatusPage.days) days</h2>
            <div class="uptime">\(Charts.uptimeBars(c.days, probe: c.name, detail: true))</div>
            <nav class="ranges" aria-label="range">\(ranges)</nav>
            <div id="range-content">\(section(c, range: range, now: now, links: true))</div>
            <h2>Configuration</h2>
            \(settings.isEmpty ? "<p class=\"muted\">Not registered by a running prober yet.</p>" as HTML : "<dl class=\"settings\">\(settings)</dl>")
            """
        return Layout.document(title: c.name, scripting: .served, current: "", body: body)
    }
}
