/// A probe's own baseline, which descriptions compare the window against: the passing checks in the day
/// before the episode began.
///
/// The evaluator keeps no history for it. `Store.baseline` reads it when an incident changes: the passing
/// checks in the `span` (24 h) before the episode's first degraded check, at most `perHour` from each hour
/// (the newest), leaving out checks made while an earlier incident of the probe was open. At 10,000 probes,
/// 64 checks per probe kept in memory were 15 MB of the daemon's resident memory and covered only the last
/// 11 minutes at a 10 s interval.
public struct Baseline: Sendable, Equatable {
    /// How far back it looks from the episode's start (µs): 24 h.
    public static let span: Int64 = 86_400_000_000
    /// Most checks taken from each hour of the span (the newest of the hour): at most 1,440 for a day.
    public static let perHour = 60

    /// Median of each phase.
    public var phases: Phases
    /// p95 of the total latency.
    public var p95: Int64?
    /// Checks it is made of.
    public var checks: Int
    /// The time it covers: from its oldest check to the episode's start (µs); 0 when empty.
    public var covers: Int64

    public init(phases: Phases = Phases(), p95: Int64? = nil, checks: Int = 0, covers: Int64 = 0) {
        self.phases = phases
        self.p95 = p95
        self.checks = checks
        self.covers = covers
    }

    /// The baseline of `checks` (passing checks' phases, any order) whose oldest started at `oldest`, for an
    /// episode that began at `until`.
    public init(_ checks: [PackedPhases], oldest: Int64, until: Int64) {
        var phases = Phases()
        var values: [Int64] = []
        values.reserveCapacity(checks.count)
        for name in Phases.Name.allCases {
            values.removeAll(keepingCapacity: true)
            for check in checks { if let v = check[name] { values.append(v) } }
            phases[name] = Stats.percentile(values, 0.5)
            if name == .total { p95 = Stats.percentile(values, 0.95) }
        }
        self.phases = phases
        self.checks = checks.count
        covers = checks.isEmpty ? 0 : max(until - oldest, 0)
    }

    /// Whether it covers (nearly) the whole `span`, so a description may call it the 24 h baseline.
    public var coversDay: Bool { covers >= Self.span - 3_600_000_000 }
}
