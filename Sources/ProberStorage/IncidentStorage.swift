import ProberCore

/// What the incident tracker needs from storage: writing changes, the incidents still open, and the
/// history it rebuilds and describes from.
public protocol IncidentStorage: AnyObject, Sendable {
    /// Writes one change (a new incident, or an update of a stored one) with its outbox rows, in one
    /// transaction; all or nothing. Returns the incident's id (assigned when the change opens it).
    @discardableResult
    func record(_ change: IncidentChange) throws -> Int64
    /// The open incident of every probe that has one, keyed by probe name.
    func openIncidents() throws -> [String: StoredIncident]
    /// Incidents created at or after `since` (µs), or still open, newest first.
    func incidents(since: Int64?, openOnly: Bool) throws -> [StoredIncident]
    /// One incident with its whole timeline and deliveries.
    func incident(id: Int64) throws -> StoredIncident?
    /// Failed checks of a probe at or after `since` (to recount an open incident's impact after a restart).
    func failureCount(probe: String, since: Int64) throws -> Int
    /// The probe's latest checks, oldest first (to refill the evaluator's window after a restart).
    func recentSamples(probe: String, limit: Int) throws -> [Sample]
    /// The probe's baseline for an episode that began at `until` (see `Baseline`).
    func baseline(probe: String, until: Int64) throws -> Baseline
    /// The baselines of several probes' episodes (`until` of each, by probe name), each as `baseline(probe:until:)`
    /// reads it: what a wave of probes opening together needs, in one read where the backend can (PostgreSQL: one
    /// query instead of ~26 per probe). The default reads them one by one.
    func baselines(_ episodes: [String: Int64]) throws -> [String: Baseline]
    /// The reference of the probe's automatic latency thresholds as of `at` (see `AutoReference`): its passing
    /// checks at the same hour (±30 min) on each of the previous 7 days when at least 6 of them have some (and 30
    /// in all), else
    /// its baseline for an episode beginning at `at`. `location` keeps one location's checks (a fleet's
    /// prober); nil takes every check.
    func autoReference(probe: String, location: String?, at: Int64) throws -> AutoReference
    /// The registered probes with `latency: auto` with fewer than 30 passing checks in the 24 h before `now`: what
    /// `status` calls learning (cheaper than each probe's reference, which it matches but after an incident).
    func learningProbes(now: Int64) throws -> Set<String>
}

extension IncidentStorage {
    public func baselines(_ episodes: [String: Int64]) throws -> [String: Baseline] {
        var out: [String: Baseline] = [:]
        for (probe, until) in episodes { out[probe] = try baseline(probe: probe, until: until) }
        return out
    }

    /// Incidents created at or after `since`, or still open.
    public func incidents(since: Int64?) throws -> [StoredIncident] { try incidents(since: since, openOnly: false) }
}
