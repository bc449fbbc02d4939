/// The threshold evaluator: a pure function of (state, sample) -> (state, events). No clock, no I/O:
/// time is the samples' own. Durations (`for`, `resolve_after`, gaps) are measured on `Sample.elapsedTime`
/// (the scheduler's monotonic timeline), so a wall-clock step neither opens nor resolves an incident, nor
/// freezes one; the times in incidents (`openedAt`, evidence) are wall-clock labels: the check's `startedAt`
/// minus the monotonic time elapsed since.
///
/// After each check it looks at the last `window` checks, computes the failures and the p95 latency of the
/// checks that passed, and the level that applies (healthy, minor, major). Levels become incident changes
/// only when they persist:
/// - open: a degraded level held continuously for `for` opens an incident at that level;
/// - escalate / de-escalate: while investigating, a worse (or better but still degraded) level held for `for`;
/// - monitoring: healthy held for `for`; resolved: healthy held for `resolve_after` (counted from the first
///   healthy check, so hysteresis restarts whenever the level leaves healthy);
/// - relapse: degraded again for `for` while monitoring returns the same incident to investigating.
/// A flapping target keeps failures in its window, so its level stays degraded: one incident per episode.
///
/// A gap in checking (prober stopped, or stalled) is neither health nor degradation: when `interval` is known
/// and a check comes at least `gapIntervals` intervals after the previous one, the checks older than the
/// window's span (`window` intervals) leave the window and every "held since" restarts at that check.
public struct Evaluator: Sendable {
    /// The probe's policy, with its automatic latency limits set from `reference` (Evaluator+Auto.swift).
    public let policy: IncidentPolicy
    /// The probe's reference for `latency: auto`, handed in by the tracker; nil (learning) otherwise.
    public let reference: AutoReference?
    /// The probe's interval; nil disables gap handling (every check counts as following the previous one).
    public let interval: Duration?
    /// Intervals between two checks from which they are apart by a gap: two missed checks in a row (one is
    /// scheduling noise).
    public static let gapIntervals: Int64 = 3

    public init(policy: IncidentPolicy, interval: Duration? = nil, reference: AutoReference? = nil) {
        self.policy = policy.resolved(with: reference)
        self.interval = interval
        self.reference = reference
    }

    /// Feeds one check; returns the new state and the incident changes it caused (usually none).
    /// `baseline` gives the probe's baseline for an episode that began at the given time (µs); it is asked
    /// only when there is a change to describe (the evaluator keeps no history of its own).
    /// `quiet`, when given, holds back the changes it names for this check (see Evaluator+Quiet.swift).
    public func evaluate(_ state: EvaluatorState, _ sample: Sample, quiet: Quiet? = nil,
                         baseline: (_ degradedSince: Int64) -> Baseline = { _ in Baseline() }) -> (EvaluatorState, [IncidentEvent]) {
        var s = state
        let events = evaluate(&s, sample, quiet: quiet, baseline: baseline)
        return (s, events)
    }

    /// `evaluate` on the state in place: the same decisions, but a state whose window no one else holds keeps its
    /// window (a copy of the state kept meanwhile made every check copy the window into a new block).
    public func evaluate(_ s: inout EvaluatorState, _ sample: Sample, quiet: Quiet? = nil,
                         baseline: (_ degradedSince: Int64) -> Baseline = { _ in Baseline() }) -> [IncidentEvent] {
        if quiet == .connectivityLost {
            s = ignoring(s, sample)
            return []
        }
        if quiet == .overloaded {
            s = leavingOut(s, sample)
            return []
        }
        observe(&s, sample)
        if quiet == .maintenance { s.forgetDegradation() }
        let t = sample.elapsedTime
        let now = Labels(wall: sample.startedAt, elapsed: t)
        var events: [IncidentEvent] = []

        func held(_ since: Int64?, _ d: Duration) -> Bool { since.map { t - $0 >= d.microseconds } ?? false }
        let hold = policy.holdFor

        if var incident = s.incident {
            if !sample.ok { incident.failedChecks += 1 }
            if let p95 = Self.impactP95(s.window) { incident.worstP95 = max(incident.worstP95 ?? 0, p95) }
            incident.worstFailures = max(incident.worstFailures, s.windowFailures)
            s.incident = incident

            switch incident.stage {
            case .investigating, .identified:
                if held(s.healthySince, policy.resolveAfter) {
                    events.append(resolve(&s, at: now))
                } else if held(s.healthySince, hold) {
                    s.incident!.stage = .monitoring
                    events.append(event(.monitoring, s, previous: nil, at: now))
                } else if incident.status == .minor, held(s.majorSince, hold) {
                    s.incident!.status = .major
                    events.append(event(.escalated, s, previous: .minor, at: now))
                } else if incident.status == .major, s.level == .minor, held(s.belowMajorSince, hold) {
                    s.incident!.status = .minor
                    events.append(event(.deescalated, s, previous: .major, at: now))
                }
            case .monitoring:
                if held(s.healthySince, policy.resolveAfter) {
                    events.append(resolve(&s, at: now))
                } else if held(s.degradedSince, hold) {
                    let status: Severity = held(s.majorSince, hold) ? .major : .minor
                    let previous = incident.status
                    s.incident!.stage = .investigating
                    s.incident!.status = status
                    events.append(event(.relapsed, s, previous: previous, at: now))
                }
            case .resolved:
                s.incident = nil
            }
        } else if let since = s.degradedSince, held(since, hold) {
            let status: Severity = held(s.majorSince, hold) ? .major : .minor
            s.incident = OpenIncident(status: status, stage: .investigating, openedAt: now.wall, degradedSince: now.label(since),
                                      failedChecks: s.window.filter { !$0.ok }.count,
                                      worstP95: Self.impactP95(s.window), worstFailures: s.windowFailures)
            events.append(event(.opened, s, previous: nil, at: now))
        }
        for i in events.indices { events[i].evidence.baseline = baseline(events[i].evidence.degradedSince) }
        return events
    }

    /// p95 of every check's duration in the window, failed ones included (a timeout cost its whole timeout):
    /// the latency users felt, reported as the impact when an incident resolves.
    static func impactP95(_ window: [Observation]) -> Int64? {
        Stats.percentile(window.compactMap { $0.phases[.total] }, 0.95)
    }

    /// Rebuilds the state after a restart: replays the latest stored checks (oldest first) to refill the window
    /// and the "held since" anchors, then attaches the incident that is still open in the database. The time
    /// prober was down is a gap like any other: the first check after the restart drops what is older than the
    /// window's span and restarts the anchors (see the type's comment).
    public func rebuild(from samples: [Sample], openIncident: OpenIncident?) -> EvaluatorState {
        var s = EvaluatorState()
        for sample in samples { observe(&s, sample) }
        s.incident = openIncident
        return s
    }

    /// Updates the window, level and anchors with one check.
    func observe(_ s: inout EvaluatorState, _ sample: Sample) {
        let t = sample.elapsedTime
        if let step = interval?.microseconds, step > 0, let last = s.lastCheckAt, t - last >= Self.gapIntervals * step {
            // Only the checks still within `window` intervals of this one describe the present.
            let keep = max(0, policy.window - Int((t - last) / step))
            if s.window.count > keep { s.window.removeFirst(s.window.count - keep) }
            s.degradedSince = nil
            s.majorSince = nil
            s.belowMajorSince = nil
            s.healthySince = nil
        }
        s.lastCheckAt = t
        Self.push(Observation(sample), onto: &s.window, keeping: max(policy.window, 1))

        let (failures, p95) = Self.failuresAndP95(s.window)
        s.windowFailures = failures
        s.windowP95 = p95
        s.level = level(failures: failures, p95: p95)

        s.degradedSince = s.level >= .minor ? (s.degradedSince ?? t) : nil
        s.majorSince = s.level == .major ? (s.majorSince ?? t) : nil
        s.belowMajorSince = s.level <= .minor ? (s.belowMajorSince ?? t) : nil
        s.healthySince = s.level == .healthy ? (s.healthySince ?? t) : nil
    }

    /// The window's failed checks, and the p95 of the passed checks' totals (`Stats.percentile`'s rank): counted and
    /// sorted in a buffer on the stack, since this runs for every check (two arrays per check before).
    static func failuresAndP95(_ window: [Observation]) -> (failures: Int, p95: Int64?) {
        withUnsafeTemporaryAllocation(of: Int64.self, capacity: max(window.count, 1)) { totals in
            var failures = 0, n = 0
            for observation in window {
                if !observation.ok {
                    failures += 1
                } else if let total = observation.phases[.total] {
                    totals[n] = total
                    n += 1
                }
            }
            guard n > 0 else { return (failures, nil) }
            var passed = UnsafeMutableBufferPointer(rebasing: totals[..<n])
            passed.sort()
            let rank = Int((0.95 * Double(n)).rounded(.up))
            return (failures, passed[min(max(rank, 1), n) - 1])
        }
    }

    /// Appends `element`, keeping the newest `count`, in at most `count` slots: the oldest leave before the
    /// newest arrives and growth stops at `count`. Plain appends double the capacity (a 10-check window held
    /// 16 slots; measured with heaptrack).
    static func push<Element>(_ element: Element, onto array: inout [Element], keeping count: Int) {
        if array.count >= count { array.removeFirst(array.count - count + 1) }
        if array.capacity == array.count { array.reserveCapacity(min(count, max(1, 2 * array.count))) }
        array.append(element)
    }

    /// The level for a window's failures and p95.
    public func level(failures: Int, p95: Int64?) -> Level {
        if breaches(policy.major, failures: failures, p95: p95) { return .major }
        if breaches(policy.minor, failures: failures, p95: p95) { return .minor }
        return .healthy
    }

    /// What made `level` apply: failures, latency, or both.
    public func trigger(for level: Level, failures: Int, p95: Int64?) -> Trigger {
        let threshold = level == .major ? policy.major : policy.minor
        let byFailures = threshold.failures.map { failures >= $0 } ?? false
        var byLatency = false
        if let limit = threshold.latency, let p95 { byLatency = p95 > limit.microseconds }
        switch (byFailures, byLatency) {
        case (true, true): return .both
        case (false, true): return .latency
        default: return .failures
        }
    }

    private func breaches(_ threshold: Threshold, failures: Int, p95: Int64?) -> Bool {
        if let n = threshold.failures, failures >= n { return true }
        if let latency = threshold.latency, let p95, p95 > latency.microseconds { return true }
        return false
    }

    /// Turns a time on the monotonic timeline into a wall-clock label, as of one check.
    struct Labels {
        /// The check's `startedAt` and `elapsedTime`.
        var wall: Int64
        var elapsed: Int64

        func label(_ t: Int64) -> Int64 { wall - (elapsed - t) }
    }

    private func resolve(_ s: inout EvaluatorState, at t: Labels) -> IncidentEvent {
        s.incident!.stage = .resolved
        let e = event(.resolved, s, previous: nil, at: t)
        s.incident = nil
        return e
    }

    private func event(_ kind: IncidentEvent.Kind, _ s: EvaluatorState, previous: Severity?, at t: Labels) -> IncidentEvent {
        let incident = s.incident!
        return IncidentEvent(kind: kind, status: incident.status, previous: previous, stage: incident.stage,
                             evidence: evidence(s, incident: incident, at: t))
    }

    /// What the description writer needs, taken from the state at the moment of the change.
    func evidence(_ s: EvaluatorState, incident: OpenIncident, at now: Labels) -> Evidence {
        let t = now.wall
        let okPhases = s.window.filter(\.ok).map(\.phases.unpacked)
        var causes: [FailureCount] = []
        for check in s.window {
            guard let reason = check.reason else { continue }
            let status = reason == .httpStatus ? check.status : nil
            if let i = causes.firstIndex(where: { $0.reason == reason && $0.status == status }) {
                causes[i].count += 1
            } else {
                causes.append(FailureCount(reason: reason, status: status, count: 1))
            }
        }
        causes.sort { ($0.count, -$0.reason.code) > ($1.count, -$1.reason.code) }
        // Describe the incident's own level: a minor incident opened while the window was already major
        // quotes the minor threshold it was opened for.
        let effectiveLevel = Level(incident.status)
        let thresholdFor = effectiveLevel == .major ? policy.major : policy.minor
        return Evidence(
            at: t,
            level: s.level,
            checks: s.window.count,
            failures: s.windowFailures,
            causes: causes,
            p95: s.windowP95,
            trigger: trigger(for: effectiveLevel, failures: s.windowFailures, p95: s.windowP95),
            threshold: thresholdFor,
            degradedSince: incident.degradedSince,
            healthySince: s.healthySince.map(now.label),
            phases: Stats.medianPhases(okPhases),
            baseline: Baseline(),
            certificateExpiry: s.window.last(where: { $0.reason == .certificateExpiring })?.certificateExpiry,
            failedChecks: incident.failedChecks,
            worstP95: incident.worstP95,
            openedAt: incident.openedAt,
            auto: autoEvidence(effectiveLevel)
        )
    }
}

/// A probe's evaluator state. Rebuilt from the store after a restart (see `Evaluator.rebuild`).
///
/// Kept in 64 bytes (times with a sentinel instead of optionals, the rare open incident boxed, the latest
/// check's time in 40 bits): there is one per probe, and at 10,000 probes the optional-laden layout (168
/// bytes) cost 3 MB in the tracker's table.
public struct EvaluatorState: Sendable, Equatable {
    /// The last `window` checks, oldest first.
    public var window: [Observation] = []
    @Sentinel public var windowP95: Int64? = nil
    /// The level has been at least minor continuously since (µs on the checks' `elapsedTime`), or nil.
    @Sentinel public var degradedSince: Int64? = nil
    /// The level has been major continuously since.
    @Sentinel public var majorSince: Int64? = nil
    /// The level has been at most minor continuously since.
    @Sentinel public var belowMajorSince: Int64? = nil
    /// The level has been healthy continuously since.
    @Sentinel public var healthySince: Int64? = nil
    /// The incident being tracked, if one is open.
    @Boxed public var incident: OpenIncident? = nil
    /// At most 10,000 (the largest window).
    private var failures: Int16 = 0
    public var level: Level = .healthy
    /// The latest check's start in 4 ms units since the epoch, as 40 bits (until 2109; 0 when none): precise
    /// enough to tell a gap of 100 ms intervals, and 5 bytes so the state stays within 64.
    private var lastCheckHigh: UInt8 = 0
    private var lastCheckLow: UInt32 = 0

    public init() {}

    /// The state without its window: level, anchors and incident.
    public var withoutWindow: EvaluatorState {
        var s = self
        s.window = []
        return s
    }

    public var windowFailures: Int {
        get { Int(failures) }
        set { failures = Int16(clamping: newValue) }
    }

    /// When the latest check started (µs on its `elapsedTime`, to 4 ms), nil before the first.
    public var lastCheckAt: Int64? {
        get {
            let units = Int64(lastCheckHigh) << 32 | Int64(lastCheckLow)
            return units == 0 ? nil : units * 4_000
        }
        set {
            let units = newValue.map { min(max($0 / 4_000, 1), (1 << 40) - 1) } ?? 0
            lastCheckHigh = UInt8(truncatingIfNeeded: units >> 32)
            lastCheckLow = UInt32(truncatingIfNeeded: units)
        }
    }
}

/// An optional time in 8 bytes instead of 16: `Int64.min` stands for nil.
@propertyWrapper
public struct Sentinel: Sendable, Equatable {
    private var raw: Int64

    public init(wrappedValue: Int64?) { raw = wrappedValue ?? .min }

    public var wrappedValue: Int64? {
        get { raw == .min ? nil : raw }
        set { raw = newValue ?? .min }
    }
}

/// A rarely present value behind a pointer: most probes have no open incident, so the state holds 8 bytes
/// rather than the incident's 56. Immutable boxes; a change stores a new one.
@propertyWrapper
public struct Boxed<Value: Sendable & Equatable>: Sendable, Equatable {
    private final class Box: Sendable {
        let value: Value
        init(_ value: Value) { self.value = value }
    }

    private var box: Box?

    public init(wrappedValue: Value?) { box = wrappedValue.map(Box.init) }

    public var wrappedValue: Value? {
        get { box?.value }
        set { box = newValue.map(Box.init) }
    }

    public static func == (a: Boxed, b: Boxed) -> Bool { a.wrappedValue == b.wrappedValue }
}

/// The evaluator's view of an open incident; the store persists these fields with the incident.
public struct OpenIncident: Sendable, Equatable {
    public var status: Severity
    /// `investigating` or `monitoring` while open.
    public var stage: ResolutionStage
    public var openedAt: Int64
    /// When the episode began (the first degraded check).
    public var degradedSince: Int64
    /// Failed checks since the episode began (those in the window at opening, then every one after).
    public var failedChecks: Int
    public var worstP95: Int64?
    public var worstFailures: Int

    public init(status: Severity, stage: ResolutionStage, openedAt: Int64, degradedSince: Int64,
                failedChecks: Int, worstP95: Int64?, worstFailures: Int) {
        self.status = status
        self.stage = stage
        self.openedAt = openedAt
        self.degradedSince = degradedSince
        self.failedChecks = failedChecks
        self.worstP95 = worstP95
        self.worstFailures = worstFailures
    }
}

/// An incident change the evaluator decided on.
public struct IncidentEvent: Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable, Codable, CaseIterable {
        case opened, escalated, deescalated, monitoring, relapsed, resolved
        /// A timeline note that changes neither status nor stage (maintenance started); never made by the evaluator.
        case noted
        /// A probe joined or left an incident shared by several (`IncidentGroups`); never the evaluator's.
        case joined, left
    }
    public var kind: Kind
    /// Severity after the change.
    public var status: Severity
    /// Severity before, when it changed.
    public var previous: Severity?
    /// Stage after the change.
    public var stage: ResolutionStage
    public var evidence: Evidence
}

/// What made a level apply.
public enum Trigger: String, Sendable, Equatable, Codable {
    case failures, latency, both
}

/// Failed checks of one kind in the window ("5 timed out", "2 returned HTTP 503").
public struct FailureCount: Sendable, Equatable {
    public var reason: FailureReason
    /// The HTTP status, for `http_status`.
    public var status: Int?
    public var count: Int
}

/// The facts behind an incident change, from which titles and descriptions are written.
public struct Evidence: Sendable, Equatable {
    /// Time of the check that caused the change (µs).
    public var at: Int64
    public var level: Level
    /// Checks in the window.
    public var checks: Int
    public var failures: Int
    public var causes: [FailureCount]
    /// p95 of the passing checks' total latency in the window (µs).
    public var p95: Int64?
    public var trigger: Trigger
    /// The threshold of the level that applies (or applied, when healthy again).
    public var threshold: Threshold
    public var degradedSince: Int64
    public var healthySince: Int64?
    /// Median of each phase over the window's passing checks.
    public var phases: Phases
    /// The probe's own baseline, as handed to `Evaluator.evaluate` (the tracker reads it from storage).
    public var baseline: Baseline
    /// Leaf expiry (seconds since the epoch) when the certificate is the cause.
    public var certificateExpiry: Int64?
    public var failedChecks: Int
    public var worstP95: Int64?
    public var openedAt: Int64
    /// The automatic threshold behind `threshold.latency`, when it is one (`latency: auto`).
    public var auto: AutoEvidence? = nil
}

extension Evidence {
    /// The evidence as a JSON object (times as ISO 8601, durations in microseconds), stored with each
    /// incident update so the numbers behind a description stay inspectable.
    public var json: JSONValue {
        func us(_ v: Int64?) -> JSONValue { v.map { .int($0) } ?? .null }
        func phases(_ p: Phases) -> JSONValue {
            .object(Dictionary(uniqueKeysWithValues: Phases.Name.allCases.map { ($0.rawValue, us(p[$0])) }))
        }
        return .object([
            "at": .string(UTCTime.iso8601(at)),
            "level": .string(["healthy", "minor", "major"][level.rawValue]),
            "checks": .int(Int64(checks)),
            "failures": .int(Int64(failures)),
            "causes": .array(causes.map { c in
                .object(["reason": .string(c.reason.rawValue), "status": c.status.map { .int(Int64($0)) } ?? .null,
                         "count": .int(Int64(c.count))])
            }),
            "p95_us": us(p95),
            "trigger": .string(trigger.rawValue),
            "threshold": .object(["latency_us": us(threshold.latency?.microseconds),
                                  "failures": threshold.failures.map { .int(Int64($0)) } ?? .null]),
            "degraded_since": .string(UTCTime.iso8601(degradedSince)),
            "healthy_since": healthySince.map { .string(UTCTime.iso8601($0)) } ?? .null,
            "phases_median_us": phases(self.phases),
            "baseline_median_us": phases(baseline.phases),
            "baseline_p95_us": us(baseline.p95),
            "baseline_checks": .int(Int64(baseline.checks)),
            "certificate_expiry": certificateExpiry.map { .string(UTCTime.iso8601($0 * 1_000_000)) } ?? .null,
            "failed_checks": .int(Int64(failedChecks)),
            "worst_p95_us": us(worstP95),
            "auto": auto?.json ?? .null,
        ])
    }
}

/// Small statistics used by the evaluator and the store.
public enum Stats {
    /// Nearest-rank percentile (`q` in 0...1) of unsorted values; nil when empty.
    public static func percentile(_ values: [Int64], _ q: Double) -> Int64? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        let rank = Int((q * Double(sorted.count)).rounded(.up))
        return sorted[min(max(rank, 1), sorted.count) - 1]
    }

    /// The median of each phase, over the checks where the phase happened.
    public static func medianPhases(_ phases: [Phases]) -> Phases {
        var out = Phases()
        for name in Phases.Name.allCases {
            out[name] = percentile(phases.compactMap { $0[name] }, 0.5)
        }
        return out
    }
}
