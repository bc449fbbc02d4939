import ProberCore
import ProberStorage

/// `prober status --json` and `/api/v1/status`: one object per probe, sorted by name.
public enum StatusDocument {
    /// One probe's line: its status row, its open incident, and what is derived from both.
    ///
    /// `locations` holds each location that checked the probe in the last day (sorted); empty on a backend that
    /// keeps no location (SQLite), where one prober is the whole picture.
    public struct Row: Sendable {
        public var status: ProbeStatus
        public var incident: StoredIncident?
        public var locations: [LocationStatus]
        /// The probe has `latency: auto` and its reference is still learning (`ProbeState.learning`).
        public var learning: Bool
        /// The maintenance window or silence the probe is in, when one is.
        public var quiet: QuietPeriod?

        public init(status: ProbeStatus, incident: StoredIncident?, locations: [LocationStatus] = [], learning: Bool = false,
                    quiet: QuietPeriod? = nil) {
            self.status = status
            self.incident = incident
            self.locations = locations
            self.learning = learning
            self.quiet = quiet
        }

        /// `silenced until 14:30 UTC` or `maintenance until 04:00 UTC` while quiet, else the state.
        public func stateText(now: Int64) -> String { quiet?.state(now: now) ?? state.description }

        /// From the open incident when there is one, else from the last check (`learning` instead of healthy
        /// while an automatic threshold learns).
        public var state: ProbeState { ProbeState(status, incident: incident, learning: learning) }

        /// `#12 major, 14 min`, or `-` without an open incident.
        public func incidentCell(now: Int64) -> String {
            guard let i = incident?.incident else { return "-" }
            return "#\(i.id) \(i.status.rawValue), \(Human.span(seconds: max(0, now - i.createdAt) / 1_000_000))"
        }
    }

    /// The rows of every probe `storage` knows, with their open incidents.
    public static func rows(_ storage: some HistoryReading & IncidentStorage & LocationReading & SilenceStorage, now: Int64) throws -> [Row] {
        let statuses = try storage.status(now: now)
        let open = try storage.openIncidents()
        let locations = try storage.locationStatus(now: now)
        let learning = try storage.learningProbes(now: now)
        let silences = try storage.silences(now: now, endedSince: now)
        let windows = try storage.maintenanceWindows()
        return statuses.map {
            Row(status: $0, incident: open[$0.name], locations: locations[$0.name] ?? [], learning: learning.contains($0.name),
                quiet: QuietPeriod.of(probe: $0.name, at: now, silences: silences, windows: windows[$0.name] ?? []))
        }
    }

    public static func json(_ rows: [Row], now: Int64) -> JSONValue {
        .array(rows.map { json($0, now: now) })
    }

    static func json(_ last: ProbeStatus.LastCheck?, now: Int64) -> JSONValue {
        last.map { l in
            .object(["at": .time(l.at), "age_seconds": .int(max(0, now - l.at) / 1_000_000), "ok": .bool(l.ok),
                     "reason": JSONValue(l.reason?.rawValue), "status": JSONValue(l.status), "latency_us": JSONValue(l.latency)])
        } ?? .null
    }

    /// One location's figures under a probe: its state, last check, last hour and published episode.
    public static func json(_ l: LocationStatus, now: Int64) -> JSONValue {
        .object([
            "location": .string(l.location), "state": .string(l.state.description), "last_check": json(l.last, now: now),
            "checks_1h": JSONValue(l.checks1h), "failures_1h": JSONValue(l.failures1h),
            "uptime_1h_percent": JSONValue(l.uptime1h), "p95_1h_us": JSONValue(l.p95_1h),
            "episode": l.episode.map { e in
                .object(["status": JSONValue(e.status?.rawValue), "stage": JSONValue(e.stage?.rawValue), "summary": JSONValue(e.summary)])
            } ?? .null,
        ])
    }

    public static func json(_ row: Row, now: Int64) -> JSONValue {
        let s = row.status
        let last = json(s.last, now: now)
        let fields: [String: JSONValue] = [
            "name": .string(s.name), "kind": .string(s.kind), "target": .string(s.target),
            "state": .string(row.quiet?.reason.rawValue ?? row.state.description), "last_check": last,
            "checks_1h": JSONValue(s.checks1h), "failures_1h": JSONValue(s.failures1h),
            "uptime_1h_percent": JSONValue(s.uptime1h), "p95_1h_us": JSONValue(s.p95_1h),
            "incident": row.incident.map { i in
                .object(["id": .int(i.incident.id), "title": .string(i.incident.title), "status": .string(i.incident.status.rawValue),
                         "resolution_stage": .string(i.incident.stage.rawValue), "created_at": .time(i.incident.createdAt)])
            } ?? .null,
            "locations": .array(row.locations.map { json($0, now: now) }),
            "quiet": row.quiet.map { q in
                .object(["reason": .string(q.reason.rawValue), "until": .time(q.until), "cause": .string(q.cause),
                         "silence_id": JSONValue(q.silenceID)])
            } ?? .null,
        ]
        return .object(fields)
    }
}

extension ProbeState {
    /// A probe's state from its status row and its open incident (nil when none is open).
    public init(_ status: ProbeStatus, incident: StoredIncident?, learning: Bool = false) {
        self.init(lastCheckPassed: status.last?.ok, incident: incident.map { ($0.incident.status, $0.incident.stage) },
                  learning: learning)
    }
}
