import ProberCore
import ProberStorage

/// `prober report`: one self-contained HTML file (inline style, no script, no link outside it) with the
/// probe page's charts for each chosen probe over the range, and the incidents of the range in full.
public enum ReportPage {
    /// Bucket widths the report picks from: the smallest giving at most 300 buckets over the range.
    static let widths: [Int64] = [60, 300, 900, 3_600, 10_800, 21_600, 86_400].map { $0 * 1_000_000 }

    public static func every(range: Int64) -> Int64 { widths.first { range / $0 <= 300 } ?? widths.last! }

    /// Nil history entries (unknown names) are reported as such; `names` empty means every probe.
    public static func render(names: [String], since: Int64, storage: some ProbeRegistry & HistoryReading & IncidentStorage,
                              now: Int64) throws -> HTML {
        let chosen = names.isEmpty ? try storage.probeNames() : names
        let every = every(range: now - since)
        let range = ProbePage.Range(name: "report", length: now - since, every: every)
        let incidents = try storage.incidents(since: since).filter { names.isEmpty || names.contains($0.incident.probe) }
        let last = try storage.lastChecks()
        var sections: [HTML] = []
        for name in chosen {
            guard let history = try storage.history(probe: name, since: since, until: now, every: every, phase: .total) else {
                sections.append("<section><h2>\(name)</h2><p>No probe by this name in the history.</p></section>")
                continue
            }
            let mine = incidents.filter { $0.incident.probe == name }
            let content = ProbePage.Content(name: name, info: try storage.probeInfo(name), history: history, incidents: mine,
                                            last: last[name], open: mine.first { !$0.incident.resolved })
            let target: HTML = content.info.map { "<p class=\"muted\">\($0.kind) \($0.target)</p>" } ?? .empty
            sections.append("""
                <section class="probe" id="probe-\(URLText.component(name))"><h2>\(name)</h2>\(target)\
                \(ProbePage.section(content, range: range, now: now, links: false))</section>
                """)
        }
        let incidentSections: [HTML] = incidents.map { s in
            "<section class=\"incident\" id=\"incident-\(s.incident.id)\"><h3>Incident #\(s.incident.id): \(s.incident.title)</h3>\(IncidentPages.section(s, now: now, links: false))</section>"
        }
        let body: HTML = """
            <h1>prober report</h1>
            <p class="muted">\(UTCTime.dateTime(since)) to \(UTCTime.dateTime(now)) · \(Human.count(chosen.count, "probe")) · \
            \(Human.count(incidents.count, "incident")) · written \(UTCTime.dateTime(now))</p>
            \(sections)
            <h2>Incidents of the range</h2>
            \(incidentSections.isEmpty ? "<p class=\"muted\">None.</p>" as HTML : "\(incidentSections)")
            """
        return Layout.document(title: "Report", scripting: .none, current: "", body: body)
    }
}
