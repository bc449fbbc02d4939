import ProberCore

/// What the incident tracker needs from a database shared by several probers (a fleet): each location
/// publishes its own episode of a probe, and the fleet's one incident per probe is decided from all of them
/// under optimistic concurrency. Only a server backend (PostgreSQL) implements it; with SQLite there is one
/// prober and the tracker turns its own evaluator's events into incidents as before.
public protocol FleetStorage: AnyObject, Sendable {
    /// Upserts this location's episodes of many probes in one statement (a start-up, the sweep's heartbeats):
    /// per probe its status and stage (nil status: healthy), its summary line, the local evaluator's tracking
    /// (to rebuild it after a restart) and `at`, the time of the location's latest check (µs): a location
    /// counts as running the probe while `at` is recent.
    func publish(_ publications: [EpisodePublication], location: String) throws

    /// Removes this location's episode of a probe it no longer runs (it then stops counting at once).
    func withdraw(probe: String, location: String) throws

    /// The latest `limit` checks of each of `probes` made from `location`, oldest first, in one query (to refill
    /// that location's evaluators after a restart: `IncidentStorage.recentSamples` mixes every location's).
    /// A probe without checks from there is absent.
    func recentSamples(probes: [String], location: String, limit: Int) throws -> [String: [Sample]]

    /// Every episode `location` published, by probe (what a restarted prober continues from).
    func episodes(location: String) throws -> [String: PublishedEpisode]

    /// The fleet's open incident of a probe and the episode of every location that published at or after
    /// `runningSince` (µs), sorted by location.
    func fleetView(probe: String, runningSince: Int64) throws -> FleetView

    /// `fleetView(probe:runningSince:)` of many probes in one read snapshot and a fixed number of queries (a wave of
    /// changes, the sweep), by probe; a probe the database does not know has an empty view.
    func fleetViews(probes: [String], runningSince: Int64) throws -> [String: FleetView]

    /// Writes a change like `IncidentStorage.record` (the change and its outbox rows in one transaction), but
    /// only if the probe's fleet incident is still the one the decision was taken on: `expectingUpdates` is
    /// the number of updates of the open incident in that view (nil: none was open). Otherwise it throws a
    /// `StorageError` of kind `.conflict` and writes nothing, so two probers never open two incidents nor apply
    /// one transition twice. Returns the incident's id.
    @discardableResult
    func record(_ change: IncidentChange, expectingUpdates: Int?) throws -> Int64

    /// Writes many decisions as `record(_:expectingUpdates:)` does each, in a few transactions (groups of probes):
    /// per change, in order, the incident's id or the error that refused it (a `StorageError` of kind `.conflict`
    /// when the incident is no longer the one decided on, or another prober is deciding it at that moment: it is
    /// refused rather than waited for, so two probers deciding one wave do not queue behind each other). One change refused leaves the others written. When a transaction fails as a whole
    /// (the database went away), its changes and those after it carry that error and none of them is written.
    func record(_ changes: [FleetChange]) -> [Result<Int64, any Error>]

    /// Probes with an open incident, or with a location in an episode that published at or after
    /// `runningSince`: those a fleet decision may change.
    func activeFleetProbes(runningSince: Int64) throws -> Set<String>

    /// Probes with an open incident that no location has published an episode of at or after `runningSince`
    /// (µs): probes nobody runs any more, whose incident nothing would ever resolve.
    func abandonedFleetProbes(runningSince: Int64) throws -> Set<String>
}

extension FleetStorage {
    /// Upserts this location's episode of one probe (see `publish(_:location:)`).
    public func publish(probe: String, location: String, episode: LocationEpisode, tracking: OpenIncident?, at: Int64) throws {
        try publish([EpisodePublication(probe: probe, episode: episode, tracking: tracking, at: at)], location: location)
    }
}

/// One probe's episode as a location publishes it.
public struct EpisodePublication: Sendable, Equatable {
    public var probe: String
    public var episode: LocationEpisode
    /// The location's evaluator tracking (stored only while the episode lasts).
    public var tracking: OpenIncident?
    /// The location's latest check of the probe (µs since the epoch).
    public var at: Int64

    public init(probe: String, episode: LocationEpisode, tracking: OpenIncident?, at: Int64) {
        self.probe = probe
        self.episode = episode
        self.tracking = tracking
        self.at = at
    }
}

/// A decision to write: the change, if the probe's open incident still has `expectingUpdates` updates (nil: none
/// is open), as in `FleetStorage.record(_:expectingUpdates:)`.
public struct FleetChange: Sendable {
    public var change: IncidentChange
    public var expectingUpdates: Int?

    public init(_ change: IncidentChange, expectingUpdates: Int?) {
        self.change = change
        self.expectingUpdates = expectingUpdates
    }
}

/// A probe as the fleet sees it: its open incident and where each running location stands.
public struct FleetView: Sendable, Equatable {
    /// The open incident, if any.
    public var incident: StoredIncident?
    /// Every location that published recently enough, sorted by location.
    public var locations: [PublishedEpisode]

    public init(incident: StoredIncident?, locations: [PublishedEpisode]) {
        self.incident = incident
        self.locations = locations
    }

    /// The open incident's number of updates: the version a `record(_:expectingUpdates:)` expects.
    public var version: Int? { incident?.incident.updates.count }
}

/// One location's published episode of a probe.
public struct PublishedEpisode: Sendable, Equatable {
    public var episode: LocationEpisode
    /// The location's evaluator tracking while its episode lasts.
    public var tracking: OpenIncident?
    /// The location's latest check (µs since the epoch).
    public var at: Int64

    public init(episode: LocationEpisode, tracking: OpenIncident?, at: Int64) {
        self.episode = episode
        self.tracking = tracking
        self.at = at
    }
}
