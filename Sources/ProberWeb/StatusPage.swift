import ProberCore
import ProberStorage

/// `/`: every probe with its state, last check, 24 h p95 sparkline and 90 days of uptime bars, open
/// incidents first; filtered by name, state and file through a GET form, 200 probes a page.
public enum StatusPage {
    public static let pageSize = 200
    public static let days = 90

    /// The form's values, from the query string.
    public struct Query: Sendable, Equatable {
        /// Part of the name, any case.
        public var name = ""
        /// A state word: healthy, failing, degraded, recovering, unknown (prefix of `ProbeState.description`).
        public var state = ""
        /// The probe file, exactly as listed.
        public var file = ""
        /// 1-based.
        public var page = 1

        public init(name: String = "", state: String = "", file: String = "", page: Int = 1) {
            self.name = name
            self.state = state
            self.file = file
            self.page = page
        }

        public init(query: String?) {
            let values = URLText.query(query)
            name = values["name"] ?? ""
            state = values["state"] ?? ""
            file = values["file"] ?? ""
            page = max(Int(values["page"] ?? "") ?? 1, 1)
        }

        func href(page: Int) -> String {
            "/" + URLText.queryString([("name", name), ("state", state), ("file", file), ("page", page > 1 ? "\(page)" : "")])
        }
    }

    /// One row's values (a location column comes in as one more field).
    struct Row {
        var info: ProbeInfo
        var state: ProbeState
        var last: ProbeStatus.LastCheck?
        var incident: StoredIncident?
    }

    /// The state filter's choices; each matches the states it begins (`degraded` both severities).
    public static let stateWords = ["healthy", "failing", "degraded", "degraded (minor)", "degraded (major)", "recovering", "unknown"]

    /// `cache` (the served pages share one) reuses the listing for a few seconds and each probe's earlier days.
    public static func render(_ query: Query, storage: some ProbeRegistry & HistoryReading & IncidentStorage & LocationReading, now: Int64,
                              cache: StatusCache = StatusCache()) throws -> HTML {
        let listing = try cache.listing(now: now) { try cache.read(storage, now: now) }
        let infos = listing.infos, last = listing.last, open = listing.open
        let files = Array(Set(infos.map(\.file).filter { !$0.isEmpty })).sorted()

        let needle = query.name.lowercased()
        // Probes with an open incident apart from the others, counted by state as they pass: at 10,000 probes
        // every copy of the whole list (a concatenation, a grouping) costs about a millisecond.
        var flagged: [Row] = [], quiet: [Row] = []
        quiet.reserveCapacity(infos.count)
        var counts: [String: Int] = [:]
        for info in infos {
            if !needle.isEmpty, !info.name.lowercased().contains(needle) { continue }
            if !query.file.isEmpty, info.file != query.file { continue }
            let incident = open.isEmpty ? nil : open[info.name]
            let check = last[info.name]
            let state = ProbeState(lastCheckPassed: check?.ok, incident: incident.map { ($0.incident.status, $0.incident.stage) },
                                   learning: listing.learning.contains(info.name))
            if !query.state.isEmpty, !state.description.hasPrefix(query.state) { continue }
            counts[Layout.stateClass(state), default: 0] += 1
            let row = Row(info: info, state: state, last: check, incident: incident)
            if incident == nil { quiet.append(row) } else { flagged.append(row) }
        }
        // Open incidents first (major before minor, oldest first), then by name (already sorted).
        flagged.sort { a, b in
            let x = a.incident!.incident, y = b.incident!.incident
            return x.status != y.status ? x.status > y.status : x.createdAt < y.createdAt
        }
        let total = flagged.count + quiet.count

        let pages = max((total + pageSize - 1) / pageSize, 1)
        let page = min(query.page, pages)
        let first = (page - 1) * pageSize
        let shown = (first..<min(first + pageSize, total)).map { i in i < flagged.count ? flagged[i] : quiet[i - flagged.count] }
        let names = shown.map(\.info.name)
        let overview = try cache.overview(names, days: days, now: now, storage: storage)
        let day: Int64 = 86_400_000_000
        let shownSet = Set(names)
        let recent = try storage.incidents(since: now - Int64(days) * day).filter { shownSet.contains($0.incident.probe) }
        let incidentsByProbe = Dictionary(grouping: recent, by: \.incident.probe)
        // A fleet's probes checked from more than one location get a column of their locations' states (none on SQLite).
        let located = try storage.locationStatus(now: now, probes: names, lastHour: false).filter { $0.value.count > 1 }

        let tableRows: [HTML] = shown.map { row in
            let name = row.info.name
            let o = overview[name]
            let lastCell: HTML = row.last.map { l in
                "\(Layout.ago(l.at, now: now)) <small>\(l.reason.map { "✗ \($0.rawValue)" } ?? "✓ ok")</small>"
            } ?? "<small>never</small>"
            let spark = Charts.sparkline(o?.hourlyP95 ?? Array(repeating: nil, count: 24), what: "p95 per hour")
            let bars = Charts.uptimeBars(Layout.uptimeDays(o?.days ?? [], incidents: incidentsByProbe[name] ?? [], now: now),
                                         probe: name, detail: false)
            let incidentCell: HTML
            if let i = row.incident?.incident {
                let latest = i.updates.last?.description ?? i.description
                incidentCell = """
                    <td class="inc"><div class="incident-open"><a href="\(Layout.incidentHref(i.id))">#\(i.id)</a> \(Layout.severity(i.status)) \
                    \(i.stage.rawValue), \(Layout.ago(i.createdAt, now: now))<br><strong>\(i.title)</strong><br>\(latest)</div></td>
                    """
            } else {
                incidentCell = "<td></td>" // "none", from the style sheet
            }
            // Every byte here is 200 times on a page: classes rather than attributes (see `Theme.css`).
            let state = Layout.stateClass(row.state)
            // The kind only where the target does not say it (`https://…` does).
            let kind = row.info.target.hasPrefix(row.info.kind) ? "" : row.info.kind + " "
            return """
                <tr data-probe="\(name)"><td><a href="\(Layout.probeHref(name))">\(name)</a>\
                <p>\(kind)\(row.info.target)<br>\(row.info.file)</p></td>\
                <td class="state \(state)">\(Layout.stateSymbol(row.state)) \(row.state.description)</td>\
                \(located.isEmpty ? HTML.empty : Layout.locations(located[name] ?? []))<td>\(lastCell)</td>\
                <td>\(spark)</td><td>\(bars)</td>\(incidentCell)</tr>
                """
        }

        let stateOptions: [HTML] = stateWords.map { w in
            w == query.state ? "<option selected>\(w)</option>" : "<option>\(w)</option>"
        }
        let fileOptions: [HTML] = files.map { f in
            f == query.file ? "<option selected>\(f)</option>" : "<option>\(f)</option>"
        }
        let form: HTML = """
            <form class="filter" method="get" action="/" role="search">\
            <label>Name<input type="search" name="name" value="\(query.name)" placeholder="part of a name"></label>\
            <label>State<select name="state"><option value="">any</option>\(stateOptions)</select></label>\
            <label>File<select name="file"><option value="">any</option>\(fileOptions)</select></label>\
            <button type="submit">Filter</button></form>
            """
        var pager: [HTML] = []
        if page > 1 { pager.append("<a rel=\"prev\" href=\"\(query.href(page: page - 1))\">← previous</a>") }
        pager.append("<span class=\"muted\">page \(page) of \(pages)</span>")
        if page < pages { pager.append("<a rel=\"next\" href=\"\(query.href(page: page + 1))\">next →</a>") }

        let summary = ["healthy", "failing", "minor", "major", "recovering", "unknown"].compactMap { k in
            counts[k].map { "\($0) \(k == "minor" || k == "major" ? "degraded (\(k))" : k)" }
        }.joined(separator: ", ")
        let body: HTML = """
            <h1>Probes</h1>
            <p class="muted" data-refresh="30">\(Human.count(total, "probe"))\(total == infos.count ? "" : " of \(infos.count)")\
            \(summary.isEmpty ? "" : ": \(summary)"). Updated \(UTCTime.dateTime(now)).</p>
            \(form)
            <div class="scroll"><table class="probes"><thead><tr><th>Probe</th><th>State</th>\
            \(located.isEmpty ? HTML.empty : "<th>Locations</th>")<th>Last check</th><th>p95, 24 h</th>\
            <th>Uptime, \(days) days</th><th>Open incident</th></tr></thead>
            <tbody>\(tableRows)</tbody></table></div>
            \(total == 0 ? "<p>No probe matches.</p>" as HTML : .empty)
            <nav class="pager" aria-label="pages">\(pager)</nav>
            """
        return Layout.document(title: "Probes", scripting: .served, current: "/", body: body)
    }
}
