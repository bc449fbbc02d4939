import ProberCore
import ProberStorage

/// `prober status --json` and `/api/v1/status`: one object per probe, sorted by name.
public enum StatusDocument {
    /// One probe's line: its status row, its open incident, and what is derived from both.
    ///
    /// `location` is nil on a single prober; a fleet reader sets it, and the document gains a `location`
    /// key (rows of one probe from several locations are then several rows).
    public struct Row: Sendable {
        public var status: ProbeStatus
        public var incident: StoredIncident?
        public var location: String?

        public init(status: ProbeStatus, incident: StoredIncident?, location: String? = nil) {
            self.status = status
            self.incident = incident
            self.location = location
        }

        /// From the open incident when there is one, else from the last check.
        public var state: ProbeState { ProbeState(status, incident: incident) }

        /// `#12 major, 14 min`, or `-` without an open incident.
        public func incidentCell(now: Int64) -> String {
            guard let i = incident?.incident else { return "-" }
            return "#\(i.id) \(i.status.rawValue), \(Human.span(seconds: max(0, now - i.createdAt) / 1_000_000))"
        }
    }

    /// The rows of every probe `storage` knows, with their open incidents.
    public static func rows(_ storage: some HistoryReading & IncidentStorage, now: Int64) throws -> [Row] {
        let statuses = try storage.status(now: now)
        let open = try storage.openIncidents()
        return statuses.map { Row(status: $0, incident: open[$0.name]) }
    }

    public static func json(_ rows: [Row], now: Int64) -> JSONValue {
        .array(rows.map { json($0, now: now) })
    }

    public static func json(_ row: Row, now: Int64) -> JSONValue {
        let s = row.status
        let last: JSONValue = s.last.map { l in
            .object(["at": .time(l.at), "age_seconds": .int(max(0, now - l.at) / 1_000_000), "ok": .bool(l.ok),
                     "reason": JSONValue(l.reason?.rawValue), "status": JSONValue(l.status), "latency_us": JSONValue(l.latency)])
        } ?? .null
        var fields: [String: JSONValue] = [
            "name": .string(s.name), "kind": .string(s.kind), "target": .string(s.target),
            "state": .string(row.state.description), "last_check": last,
            "checks_1h": JSONValue(s.checks1h), "failures_1h": JSONValue(s.failures1h),
            "uptime_1h_percent": JSONValue(s.uptime1h), "p95_1h_us": JSONValue(s.p95_1h),
            "incident": row.incident.map { i in
                .object(["id": .int(i.incident.id), "title": .string(i.incident.title), "status": .string(i.incident.status.rawValue),
                         "resolution_stage": .string(i.incident.stage.rawValue), "created_at": .time(i.incident.createdAt)])
            } ?? .null,
        ]
        if let location = row.location { fields["location"] = .string(location) }
        return .object(fields)
    }
}

extension ProbeState {
    /// A probe's state from its status row and its open incident (nil when none is open).
    public init(_ status: ProbeStatus, incident: StoredIncident?) {
        self.init(lastCheckPassed: status.last?.ok, incident: incident.map { ($0.incident.status, $0.incident.stage) })
    }
}
