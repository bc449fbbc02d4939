import ProberCore

/// What `prober status`, `prober history` and the pages show of each location that checks a probe. A backend that
/// keeps no location (SQLite: one file is one prober) answers with none, and the documents then read as before.
public protocol LocationReading: AnyObject, Sendable {
    /// Per probe (of `probes`, or every one when nil), each location that checked it in the day before `now` (µs),
    /// sorted by location: its last check, its hour before `now` (left at zero without `lastHour`, which spares the
    /// status page reading every check of the hour) and the episode it published. Probes without such a location
    /// are left out.
    func locationStatus(now: Int64, probes: [String]?, lastHour: Bool) throws -> [String: [LocationStatus]]

    /// The locations that have checks of `probe` in the history, sorted; empty for an unknown probe and for a
    /// backend without locations.
    func locations(probe: String) throws -> [String]

    /// The history of a probe as `HistoryReading.history` answers it, and the same buckets for each location
    /// from its own checks. With `location` set, only that location's checks count (the total is its history).
    /// Nil for an unknown probe or a `location` without checks of it. A backend without locations answers the
    /// total with no locations (and nil for any `location`).
    func locationHistory(probe: String, location: String?, since: Int64, until: Int64, every: Int64?,
                         phase: Phases.Name) throws -> LocationHistory?
}

extension LocationReading {
    /// Every probe's locations with their last hour.
    public func locationStatus(now: Int64) throws -> [String: [LocationStatus]] {
        try locationStatus(now: now, probes: nil, lastHour: true)
    }
}

/// One location's line under a probe in `prober status`.
public struct LocationStatus: Sendable, Equatable {
    public var location: String
    /// The location's most recent check.
    public var last: ProbeStatus.LastCheck?
    /// Checks from this location in the hour before `now`.
    public var checks1h: Int
    public var failures1h: Int
    /// Percentage of passed checks in the last hour; nil without checks.
    public var uptime1h: Double?
    /// p95 total latency of this location's successful checks in the last hour (as `ProbeStatus.p95_1h`).
    public var p95_1h: Int64?
    /// The episode the location published for the fleet's decisions (nil status: healthy); nil when it published
    /// none (a prober that does not take part in fleet decisions, or withdrew the probe).
    public var episode: LocationEpisode?

    public init(location: String, last: ProbeStatus.LastCheck? = nil, checks1h: Int = 0, failures1h: Int = 0,
                uptime1h: Double? = nil, p95_1h: Int64? = nil, episode: LocationEpisode? = nil) {
        self.location = location
        self.last = last
        self.checks1h = checks1h
        self.failures1h = failures1h
        self.uptime1h = uptime1h
        self.p95_1h = p95_1h
        self.episode = episode
    }

    /// The location's state: from its published episode when it is in one, else from its last check.
    public var state: ProbeState {
        let incident = episode.flatMap { e in e.status.map { (status: $0, stage: e.stage ?? .investigating) } }
        return ProbeState(lastCheckPassed: last?.ok, incident: incident)
    }
}

/// A probe's history with each location's share of it, bucket for bucket (the same range and width).
public struct LocationHistory: Sendable, Equatable {
    /// Every location's checks together (or the one asked for).
    public var total: History
    /// Each location's own history, sorted by location; empty for a backend without locations.
    public var locations: [LocatedHistory]

    public init(total: History, locations: [LocatedHistory]) {
        self.total = total
        self.locations = locations
    }
}

/// One location's history of a probe.
public struct LocatedHistory: Sendable, Equatable {
    public var location: String
    public var history: History

    public init(location: String, history: History) {
        self.location = location
        self.history = history
    }
}
