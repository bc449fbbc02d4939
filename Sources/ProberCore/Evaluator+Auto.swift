/// Automatic latency thresholds (`latency: auto` in `minor` or `major`): a level's latency limit relative to
/// the probe's own usual p95, its reference. The level applies when the window's p95 is above `factor` times
/// the reference p95 and at least `floor` above it (the floor keeps a 2 ms probe from paging at 6 ms).
///
/// The evaluator stays pure: the tracker reads each auto probe's reference from storage (every few minutes,
/// never per check) and hands it in; `Evaluator.needsReference` says when to read it again, so the reference
/// stays frozen while an episode is in progress (a slow period must not raise its own threshold).
public struct AutoThresholds: Sendable, Equatable {
    /// `auto: { minor: 3x }`. Default 3.
    public var minorFactor: Double = 3
    /// `auto: { minor_floor: 50ms }`. Default 50 ms.
    public var minorFloor: Duration = .milliseconds(50)
    /// `auto: { major: 10x }`. Default 10.
    public var majorFactor: Double = 10
    /// `auto: { major_floor: 500ms }`. Default 500 ms.
    public var majorFloor: Duration = .milliseconds(500)
    /// Passing checks the reference needs before an automatic threshold applies; until then the probe is
    /// "learning" (its failures count from the first check).
    public static let learningChecks = 30

    public init() {}

    /// The factor and floor of a level (`major`, else `minor`).
    public func rule(_ level: Level) -> (factor: Double, floor: Duration) {
        level == .major ? (majorFactor, majorFloor) : (minorFactor, minorFloor)
    }

    /// The latency limit (µs) for a reference p95: above `factor` times it and at least `floor` above it.
    public static func limit(reference p95: Int64, factor: Double, floor: Duration) -> Int64 {
        max(Int64((Double(p95) * factor).rounded()), p95 + floor.microseconds)
    }
}

/// What an automatic threshold is relative to: the p95 of the probe's passing checks before now (or before the
/// episode), from the same hour on previous days when a week of history exists, else the previous 24 h.
public struct AutoReference: Sendable, Equatable {
    /// p95 of the total latency (µs); nil without checks.
    public var p95: Int64?
    /// Passing checks it is made of.
    public var checks: Int
    /// Whether it comes from the same hour of the day on the previous days (else from the previous 24 h).
    public var sameHour: Bool

    public init(p95: Int64?, checks: Int, sameHour: Bool = false) {
        self.p95 = p95
        self.checks = checks
        self.sameHour = sameHour
    }

    /// The reference a baseline makes.
    public init(_ baseline: Baseline, sameHour: Bool) {
        self.init(p95: baseline.p95, checks: baseline.checks, sameHour: sameHour)
    }

    /// Too few passing checks yet for an automatic threshold to apply.
    public var learning: Bool { p95 == nil || checks < AutoThresholds.learningChecks }
}

/// An automatic threshold as it applied to a change: what the description and the stored evidence say.
public struct AutoEvidence: Sendable, Equatable {
    public var factor: Double
    public var floor: Duration
    public var reference: AutoReference
}

extension IncidentPolicy {
    /// Whether either level's latency is `auto` (only such probes have a reference to read).
    public var usesAutoLatency: Bool { minor.autoLatency || major.autoLatency }

    /// The policy with each automatic latency limit set from `reference`; left nil (no latency level) while
    /// the reference is learning or absent.
    public func resolved(with reference: AutoReference?) -> IncidentPolicy {
        guard usesAutoLatency else { return self }
        var p = self
        func apply(_ t: inout Threshold, _ level: Level) {
            guard t.autoLatency else { return }
            guard let reference, !reference.learning, let p95 = reference.p95 else { t.latency = nil; return }
            let rule = auto.rule(level)
            t.latency = .microseconds(AutoThresholds.limit(reference: p95, factor: rule.factor, floor: rule.floor))
        }
        apply(&p.minor, .minor)
        apply(&p.major, .major)
        return p
    }
}

extension Evaluator {
    /// Whether the state is in an episode: degraded now, or an incident open.
    public static func inEpisode(_ state: EvaluatorState) -> Bool {
        state.degradedSince != nil || state.incident != nil
    }

    /// Whether the tracker reads the probe's reference again now: never while an episode is in progress, so the
    /// reference stays what came before it and a slow period cannot raise its own threshold; else when none was
    /// read yet, or the last is older than `refreshEvery`, or, while learning, than 10 intervals (at least 1 s),
    /// so a new probe's threshold applies soon after its 30th check. `readAt` and `now` are checks' times on one
    /// timeline (µs; the tracker uses `elapsedTime`, which a clock step does not move). A tracker that starts in
    /// the middle of an episode has none: it reads one as of the episode's start.
    public static func needsReference(_ current: AutoReference?, readAt: Int64, now: Int64, interval: Duration,
                                      state: EvaluatorState) -> Bool {
        guard let current else { return true }
        if inEpisode(state) { return false }
        let every = current.learning ? min(max(10 * interval.microseconds, 1_000_000), refreshEvery) : refreshEvery
        return now - readAt >= every
    }

    /// How often a probe's reference is read again while it is not learning (µs): 5 min.
    public static let refreshEvery: Int64 = 300_000_000

    /// The automatic threshold behind a level's latency limit, when it is one and applies.
    func autoEvidence(_ level: Level) -> AutoEvidence? {
        let threshold = level == .major ? policy.major : policy.minor
        guard threshold.autoLatency, threshold.latency != nil, let reference else { return nil }
        let rule = policy.auto.rule(level)
        return AutoEvidence(factor: rule.factor, floor: rule.floor, reference: reference)
    }
}

extension AutoEvidence {
    /// `8×`, `2.5×`, `12×`: a ratio as descriptions write it.
    public static func ratio(_ value: Double) -> String {
        let v = value < 10 ? (value * 10).rounded() / 10 : value.rounded()
        return (v == v.rounded() ? String(Int(v)) : String(v)) + "×"
    }

    /// The evidence JSON's `auto` object.
    var json: JSONValue {
        .object([
            "factor": .double(factor),
            "floor_us": .int(floor.microseconds),
            "reference_p95_us": reference.p95.map { .int($0) } ?? .null,
            "reference_checks": .int(Int64(reference.checks)),
            "reference": .string(reference.sameHour ? "same_hour" : "previous_24h"),
        ])
    }
}
