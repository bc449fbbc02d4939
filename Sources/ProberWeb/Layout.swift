import ProberCore
import ProberStorage

/// The frame every page shares: head, style sheet, navigation.
enum Layout {
    /// Where the served pages load their script from (`Script.path`); the report has none.
    enum Scripting: Sendable { case served, none }

    static func document(title: String, scripting: Scripting, current: String, body: HTML) -> HTML {
        let script: HTML = scripting == .served ? "<script src=\"\(Script.path)\" defer></script>" : .empty
        func nav(_ href: String, _ text: String) -> HTML {
            href == current ? "<a href=\"\(href)\" aria-current=\"page\">\(text)</a>" : "<a href=\"\(href)\">\(text)</a>"
        }
        let links: HTML = scripting == .served ? "\(nav("/", "Probes"))\(nav("/incidents", "Incidents"))" : .empty
        return """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8">\
            <meta name="viewport" content="width=device-width,initial-scale=1">\
            <title>\(title) · prober</title><style>\(HTML(trusted: Theme.css))</style>\(script)</head>
            <body><header class="top"><a class="brand" href="\(scripting == .served ? "/" : "#")">prober</a>\(links)</header>
            <main id="main">\(body)</main></body></html>
            """
    }

    /// The probe's state word with its class (the word says it; the colour only repeats it).
    static func state(_ state: ProbeState) -> HTML {
        "<span class=\"state \(stateClass(state))\">\(stateSymbol(state)) \(state.description)</span>"
    }

    /// A cell of each location's state, symbol and name (the word in its `title`): `✓ a ✗ b`.
    static func locations(_ locations: [LocationStatus]) -> HTML {
        let items: [HTML] = locations.map { l in
            "<span class=\"state \(stateClass(l.state))\" title=\"\(l.location): \(l.state.description)\">\(stateSymbol(l.state)) \(l.location)</span> "
        }
        return "<td class=\"locs\">\(items)</td>"
    }

    static func stateClass(_ state: ProbeState) -> String {
        switch state {
        case .unknown: "unknown"
        case .healthy: "healthy"
        case .learning: "learning"
        case .failing: "failing"
        case .degraded(let s): s.rawValue
        case .recovering: "recovering"
        }
    }

    /// A symbol per state, beside the word: ✓ healthy, ✗ failing, ▲ degraded, ↗ recovering, ? unknown.
    static func stateSymbol(_ state: ProbeState) -> String {
        switch state {
        case .unknown: "?"
        case .healthy, .learning: "✓"
        case .failing: "✗"
        case .degraded: "▲"
        case .recovering: "↗"
        }
    }

    static func severity(_ s: Severity) -> HTML {
        "<span class=\"state \(s.rawValue)\">▲ \(s.rawValue)</span>"
    }

    /// `3 min ago` (or `in 2 s` for a time ahead of `now`).
    static func ago(_ t: Int64, now: Int64) -> String {
        t <= now ? Human.ago(seconds: (now - t) / 1_000_000) : "in " + Human.span(seconds: (t - now) / 1_000_000)
    }

    static func time(_ t: Int64) -> HTML {
        "<time datetime=\"\(UTCTime.iso8601(t))\">\(UTCTime.dateTime(t))</time>"
    }

    static func probeHref(_ name: String, range: String? = nil) -> String {
        "/probes/" + URLText.component(name) + (range.map { "?range=" + URLText.component($0) } ?? "")
    }

    static func incidentHref(_ id: Int64) -> String { "/incidents/\(id)" }

    /// The worst level of each UTC day from `days`' counts and the incidents that overlap the day.
    static func uptimeDays(_ days: [DayCount], incidents: [StoredIncident], now: Int64) -> [UptimeDay] {
        let day: Int64 = 86_400_000_000
        return days.map { d in
            var level: DayLevel = d.checks > 0 ? .healthy : .noData
            for stored in incidents {
                let i = stored.incident
                let end = i.resolvedAt ?? now
                guard i.createdAt < d.start + day, end >= d.start else { continue }
                let worst = ([i.status] + i.updates.map(\.status)).max() ?? i.status
                level = max(level, worst == .major ? .major : .minor)
            }
            return UptimeDay(start: d.start, checks: d.checks, failures: d.failures, level: level)
        }
    }
}
