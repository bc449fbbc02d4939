import ProberCore

/// Reading the history back: `prober history`, `prober status`, and the evaluator's state after a restart.
///
/// Every call reads one consistent snapshot, and a read-only backend answers while the daemon writes
/// (it neither blocks the writer nor waits for it beyond the backend's busy timeout).
public protocol HistoryReading: AnyObject, Sendable {
    /// History of one probe over `[since, until)` (microseconds since the epoch) in buckets of `every`
    /// (chosen by `History.automaticEvery` when nil, widened to a multiple of the coarsest resolution read
    /// and to at most `History.maxBuckets` buckets). Raw samples answer exactly; where they are gone,
    /// rollups answer (`exact` false) and no check is ever counted twice. Nil for an unknown probe.
    func history(probe: String, since: Int64, until: Int64, every: Int64?, phase: Phases.Name) throws -> History?

    /// One row per known probe, sorted by name: the last check and the hour before `now` (microseconds).
    func status(now: Int64) throws -> [ProbeStatus]

    /// The last check of every probe that has one, keyed by name (the status page's states, one query).
    func lastChecks() throws -> [String: ProbeStatus.LastCheck]

    /// `lastChecks()` of `probes` alone (names without a check are left out): the status page's fallback for the
    /// probes the daemon has not checked since it started.
    func lastChecks(of probes: [String]) throws -> [String: ProbeStatus.LastCheck]

    /// The status page's figures for each of `probes` that is known (unknown names are left out): checks and
    /// failures per UTC day for the `days` days ending with the one holding `now` (today included), and the
    /// p95 total latency of successful checks per hour for the 24 hours ending with the one holding `now`.
    /// Read from rollups where raw samples are rolled up (a p95 within 4.4 %), never counting a check twice.
    func overview(probes: [String], days: Int, now: Int64) throws -> [String: ProbeOverview]

    /// The probe's last `limit` samples, oldest first; empty for an unknown probe. Failure messages, remote
    /// addresses, HTTP versions and certificate dates are not kept: a failed sample comes back with its
    /// reason's name as its message.
    func recentSamples(probe: String, limit: Int) throws -> [Sample]

    /// The probe's baseline for an episode that began at `until`: its passing checks in the `span` before,
    /// the newest `perHour` of each hour, without those made while an earlier incident of the probe was
    /// open. Empty for an unknown probe or when there are no such checks.
    func baseline(probe: String, until: Int64, span: Int64, perHour: Int) throws -> Baseline

    /// Runs `body`, whose reads of this storage (of any of its protocols) all see one snapshot: one read transaction
    /// for them all, where each read would take its own (on PostgreSQL, two round trips each, which a loaded machine
    /// makes milliseconds). `body` only reads; a write in it is a programming error.
    func snapshot<T>(_ body: () throws -> T) throws -> T
}

extension HistoryReading {
    /// A backend without transactions of its own runs `body` as it is.
    public func snapshot<T>(_ body: () throws -> T) throws -> T { try body() }

    /// Every probe's last check, kept for `probes`: a backend with a cheaper lookup per probe implements its own.
    public func lastChecks(of probes: [String]) throws -> [String: ProbeStatus.LastCheck] {
        let all = try lastChecks()
        var out: [String: ProbeStatus.LastCheck] = [:]
        for name in probes { if let check = all[name] { out[name] = check } }
        return out
    }
}
