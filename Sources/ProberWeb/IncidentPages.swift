import ProberCore
import ProberStorage

/// `/incidents` (open ones first, then the last 90 days) and `/incidents/ID` (the timeline with each
/// update's description and evidence, and the deliveries).
public enum IncidentPages {
    public static let listDays = 90

    public static func list(storage: some IncidentStorage, now: Int64, openOnly: Bool) throws -> HTML {
        let all = try storage.incidents(since: now - Int64(listDays) * 86_400_000_000, openOnly: openOnly)
        let sorted = all.filter { !$0.incident.resolved } + all.filter { $0.incident.resolved }
        let rows: [HTML] = sorted.map { s in
            let i = s.incident
            let duration = Human.span(seconds: ((i.resolvedAt ?? now) - i.createdAt) / 1_000_000)
            return """
                <tr data-incident="\(i.id)"><td><a href="\(Layout.incidentHref(i.id))">#\(i.id)</a></td>\
                <td><a href="\(Layout.probeHref(i.probe))">\(i.probe)</a></td><td>\(Layout.severity(i.status))</td>\
                <td>\(i.resolved ? "✓ resolved" : "● \(i.stage.rawValue)")</td><td>\(Layout.time(i.createdAt))</td>\
                <td class="num">\(duration)</td><td>\(i.title)</td></tr>
                """
        }
        let filter: HTML = openOnly
            ? "<p><a href=\"/incidents\">Show resolved ones too</a></p>"
            : "<p><a href=\"/incidents?open=true\">Show open ones only</a></p>"
        let body: HTML = """
            <h1>Incidents</h1>
            <p class="muted" data-refresh="30">\(Human.count(sorted.filter { !$0.incident.resolved }.count, "open incident")); \
            \(openOnly ? "" : "resolved ones of the last \(listDays) days below. ")Updated \(UTCTime.dateTime(now)).</p>
            \(filter)
            <table class="incidents"><thead><tr><th>#</th><th>Probe</th><th>Severity</th><th>Stage</th><th>Opened</th>\
            <th class="num">Duration</th><th>Title</th></tr></thead><tbody>\(rows)</tbody></table>
            \(sorted.isEmpty ? "<p>No incident.</p>" as HTML : .empty)
            """
        return Layout.document(title: "Incidents", scripting: .served, current: "/incidents", body: body)
    }

    /// The timeline and deliveries of one incident (also a section of `prober report`).
    static func section(_ s: StoredIncident, now: Int64, links: Bool) -> HTML {
        let i = s.incident
        let updates: [HTML] = i.updates.map { u in
            let evidence: HTML = u.evidence.isEmpty ? .empty
                : "<details><summary>Evidence</summary><pre>\(prettyJSON(u.evidence))</pre></details>"
            return """
                <li data-kind="\(u.kind.rawValue)"><strong>\(u.kind.rawValue)</strong> · \(Layout.severity(u.status)) · \
                \(u.stage.rawValue) · \(Layout.time(u.createdAt))<p class="description">\(u.description)</p>\(evidence)</li>
                """
        }
        let deliveries: [HTML] = s.deliveries.map { d in
            """
            <tr><td>\(d.sink)</td><td>\(d.method)</td><td>\(d.state == .delivered ? "✓" : d.state == .failed ? "✗" : "…") \
            \(d.state.rawValue)</td><td class="num">\(d.attempts)</td><td>\(Layout.time(d.createdAt))</td>\
            <td>\(d.deliveredAt.map { Layout.time($0) })</td><td>\(d.lastError ?? "")</td></tr>
            """
        }
        let probe: HTML = links ? "<a href=\"\(Layout.probeHref(i.probe))\">\(i.probe)</a>" : "\(i.probe)"
        return """
            <p>\(probe) · \(Layout.severity(i.status)) · \(i.resolved ? "✓ resolved" : "● \(i.stage.rawValue)") · opened \
            \(Layout.time(i.createdAt))\(i.resolvedAt.map { t -> HTML in ", resolved \(Layout.time(t))" }) · \
            \(Human.span(seconds: ((i.resolvedAt ?? now) - i.createdAt) / 1_000_000))\(s.isdownID.map { " · IsDown id \($0)" } ?? "")</p>
            <p class="description">\(i.description)</p>
            <h2>Timeline</h2>
            <ol class="timeline">\(updates)</ol>
            <h2>Deliveries</h2>
            \(deliveries.isEmpty ? "<p class=\"muted\">None (no sink takes this probe's incidents).</p>" as HTML : """
                <table class="deliveries"><thead><tr><th>Sink</th><th>Call</th><th>State</th><th class="num">Attempts</th>\
                <th>Queued</th><th>Delivered</th><th>Last error</th></tr></thead><tbody>\(deliveries)</tbody></table>
                """)
            """
    }

    public static func page(_ s: StoredIncident, now: Int64) -> HTML {
        let body: HTML = """
            <h1>Incident #\(s.incident.id): \(s.incident.title)</h1>
            <div data-refresh="30">\(section(s, now: now, links: true))</div>
            """
        return Layout.document(title: "Incident #\(s.incident.id)", scripting: .served, current: "", body: body)
    }

    /// Evidence is compact JSON: one member a line for reading, by a plain re-indent (strings kept intact).
    static func prettyJSON(_ json: String) -> String {
        var out = "", indent = 0, inString = false, escaped = false
        func newline() { out += "\n" + String(repeating: "  ", count: max(indent, 0)) }
        for ch in json {
            if inString {
                out.append(ch)
                if escaped { escaped = false } else if ch == "\\" { escaped = true } else if ch == "\"" { inString = false }
                continue
            }
            switch ch {
            case "\"": inString = true; out.append(ch)
            case "{", "[": out.append(ch); indent += 1; newline()
            case "}", "]": indent -= 1; newline(); out.append(ch)
            case ",": out.append(ch); newline()
            case ":": out += ": "
            default: out.append(ch)
            }
        }
        return out
    }
}
