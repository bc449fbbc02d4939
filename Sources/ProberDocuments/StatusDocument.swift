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
        /// Set while every running prober has lost its own connectivity (one prober on SQLite): nothing judges
        /// this probe's checks, its incidents are held.
        public var connectivityLost: ConnectivityLoss?
        /// The locations (among `locations`) whose prober has lost its own connectivity.
        public var lostLocations: [String: ConnectivityLoss]
        /// Set when a running prober skipped ticks because it was overloaded (StatusDocument+Overload.swift).
        public var overload: Overload?

        public init(status: ProbeStatus, incident: StoredIncident?, locations: [LocationStatus] = [], learning: Bool = false,
                    quiet: QuietPeriod? = nil, connectivityLost: ConnectivityLoss? = nil,
                    lostLocations: [String: ConnectivityLoss] = [:], overload: Overload? = nil) {
            self.overload = overload
            self.status = status
            self.incident = incident
            self.locations = locations
            self.learning = learning
            self.quiet = quiet
            self.connectivityLost = connectivityLost
            self.lostLocations = lostLocations
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

    /// A running prober whose connectivity canaries all fail, as its heartbeat says.
    public struct ConnectivityLoss: Sendable, Equatable {
        public var location: String
        public var since: Int64
        /// Why each canary fails: `tcp 10.0.0.1:53: connect: Network is unreachable`.
        public var failures: String

        /// `prober's own connectivity lost since 2026-12-01T05:00:00.000Z (3 min): tcp ...`.
        public func line(now: Int64) -> String {
            "prober's own connectivity lost since \(UTCTime.iso8601(since)) (\(Human.span(seconds: max(0, now - since) / 1_000_000))): "
                + "\(failures); incidents are held until a canary passes"
        }

        public var json: JSONValue {
            .object(["location": .string(location), "since": .time(since), "failures": .string(failures)])
        }
    }

    /// The running probers (heartbeat not stale, not stopped) that have lost their own connectivity, by location.
    public static func connectivityLosses(_ directory: some ProberDirectory, now: Int64) throws -> [ConnectivityLoss] {
        connectivityLosses(of: try directory.probers().filter { $0.state(now: now) == .up })
    }

    private static func connectivityLosses(of running: [ProberHeartbeat]) -> [ConnectivityLoss] {
        running.compactMap { p in
            p.connectivityLostSince.map { ConnectivityLoss(location: p.location, since: $0, failures: p.connectivityFailures ?? "") }
        }
    }

    /// The rows of every probe `storage` knows, with their open incidents, quiet periods and whether connectivity is lost.
    public static func rows(_ storage: some HistoryReading & IncidentStorage & LocationReading & SilenceStorage & ProberDirectory,
                            now: Int64) throws -> [Row] {
        try storage.snapshot { try read(storage, now: now) }
    }

    private static func read(_ storage: some HistoryReading & IncidentStorage & LocationReading & SilenceStorage & ProberDirectory,
                             now: Int64) throws -> [Row] {
        let (statuses, locations) = try (storage as? any CombinedStatusReading)?.statusAndLocations(now: now)
            ?? (storage.status(now: now), storage.locationStatus(now: now))
        let open = try storage.openIncidents()
        let learning = try storage.learningProbes(now: now)
        let silences = try storage.silences(now: now, endedSince: now)
        let windows = try storage.maintenanceWindows()
        let running = try storage.probers().filter { $0.state(now: now) == .up }
        let losses = connectivityLosses(of: running)
        let lostLocations = Dictionary(losses.map { ($0.location, $0) }, uniquingKeysWith: { a, _ in a })
        // Every running prober blind: nobody judges the probe. (Some of them: their locations' lines say so.)
        let everyone = !losses.isEmpty && losses.count == running.count ? losses.min { $0.since < $1.since } : nil
        let overload = Overload(running)
        return statuses.map {
            Row(status: $0, incident: open[$0.name], locations: locations[$0.name] ?? [], learning: learning.contains($0.name),
                quiet: QuietPeriod.of(probe: $0.name, at: now, silences: silences, windows: windows[$0.name] ?? []),
                connectivityLost: everyone, lostLocations: lostLocations, overload: overload)
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
    public static func json(_ l: LocationStatus, now: Int64, lost: ConnectivityLoss? = nil) -> JSONValue {
        .object([
            "location": .string(l.location), "state": .string(l.state.description), "last_check": json(l.last, now: now),
            "checks_1h": JSONValue(l.checks1h), "failures_1h": JSONValue(l.failures1h),
            "uptime_1h_percent": JSONValue(l.uptime1h), "p95_1h_us": JSONValue(l.p95_1h),
            "connectivity_lost": lost?.json ?? .null,
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
            "locations": .array(row.locations.map { json($0, now: now, lost: row.lostLocations[$0.location]) }),
            "quiet": row.quiet.map { q in
                .object(["reason": .string(q.reason.rawValue), "until": .time(q.until), "cause": .string(q.cause),
                         "silence_id": JSONValue(q.silenceID)])
            } ?? .null,
            "connectivity_lost": row.connectivityLost?.json ?? .null,
            "overload": row.overload?.json ?? .null,
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
