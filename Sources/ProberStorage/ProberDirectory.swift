/// The probers that write a history (`prober fleet`): each `prober run` upserts its row at start, every
/// `ProberHeartbeat.defaultEvery` and at a clean stop, so a reader tells the running from the stale.
public protocol ProberDirectory: AnyObject, Sendable {
    /// Upserts the row of `beat.location` (one row per location: a prober restarted there replaces it).
    func heartbeat(_ beat: ProberHeartbeat) throws

    /// Every prober's latest heartbeat, sorted by location.
    func probers() throws -> [ProberHeartbeat]

    /// Records a span during which the prober at `span.location` had lost its own connectivity (every canary
    /// failing): open (`until` nil) when it begins, then the same location and `since` with `until` when it ends.
    func recordConnectivityLoss(_ span: ConnectivityLossSpan) throws

    /// The spans that overlap `since...until` (µs), oldest first: `history` marks the checks taken in them.
    func connectivityLosses(since: Int64, until: Int64) throws -> [ConnectivityLossSpan]
}

/// A span during which one prober's connectivity canaries all failed: its checks then judged nothing.
public struct ConnectivityLossSpan: Sendable, Equatable {
    public var location: String
    /// µs since the epoch; `until` nil while it lasts.
    public var since: Int64
    public var until: Int64?

    public init(location: String, since: Int64, until: Int64?) {
        self.location = location
        self.since = since
        self.until = until
    }
}

/// One prober as its latest heartbeat left it.
public struct ProberHeartbeat: Sendable, Equatable {
    /// Where it probes from (`prober run --location`); the row's key.
    public var location: String
    public var host: String
    public var pid: Int
    /// `proberVersion` of its binary.
    public var version: String
    /// When it started and when it last wrote this row (µs since the epoch).
    public var startedAt: Int64
    public var at: Int64
    /// The heartbeat interval it runs with (µs): a reader calls it stale after three without a beat.
    public var every: Int64
    /// Probes it runs.
    public var probes: Int
    /// p99 of its ticks' lateness since its previous heartbeat (µs); nil when no tick started in between.
    public var latenessP99: Int64?
    /// Samples waiting to be written (`IngestStatistics.pending`), of which `spooled` are in its on-disk spool.
    public var pending: Int
    public var spooled: Int
    /// Set by its last heartbeat at a clean stop.
    public var stopped: Bool
    /// While every connectivity canary of this prober fails: since when (µs), and why each fails
    /// (`tcp 10.0.0.1:53: connect: ...`); both nil while its network works or it has no canaries.
    public var connectivityLostSince: Int64?
    public var connectivityFailures: String?
    /// Ticks it skipped because it had more probes than it could run (`Scheduler.SkipReason.overload`): since its
    /// start, and since its previous heartbeat (above 0: overloaded now).
    public var overloadSkipped: Int
    public var overloadSkippedRecent: Int
    /// Checks since its start that its own delay distorted, left out by its evaluator (`Quiet.overloaded`).
    public var delayedChecks: Int

    public init(location: String, host: String, pid: Int, version: String, startedAt: Int64, at: Int64, every: Int64,
                probes: Int, latenessP99: Int64?, pending: Int, spooled: Int, stopped: Bool,
                connectivityLostSince: Int64? = nil, connectivityFailures: String? = nil,
                overloadSkipped: Int = 0, overloadSkippedRecent: Int = 0, delayedChecks: Int = 0) {
        self.overloadSkipped = overloadSkipped
        self.overloadSkippedRecent = overloadSkippedRecent
        self.delayedChecks = delayedChecks
        self.connectivityLostSince = connectivityLostSince
        self.connectivityFailures = connectivityFailures
        self.location = location
        self.host = host
        self.pid = pid
        self.version = version
        self.startedAt = startedAt
        self.at = at
        self.every = every
        self.probes = probes
        self.latenessP99 = latenessP99
        self.pending = pending
        self.spooled = spooled
        self.stopped = stopped
    }

    /// The interval `prober run` beats at.
    public static let defaultEvery: Int64 = 10_000_000

    /// `stopped` after a clean stop, `stale` when the last beat is older than three intervals, else `up`.
    public func state(now: Int64) -> ProberLiveness {
        if stopped { return .stopped }
        return now - at > 3 * max(every, 1) ? .stale : .up
    }
}

/// Whether a prober is running, as far as its heartbeats tell.
public enum ProberLiveness: String, Sendable, Equatable {
    case up
    case stale
    case stopped
}
