import Foundation
import ProberCore
import ProberProbes

/// Fires every probe on its grid (see `Schedule`) and hands each tick to a `CheckRunner`. The probes wait in
/// a min-heap of due times under one one-shot `DispatchSourceTimer`, set for the earliest, on one serial
/// queue (a timer per probe cost ~300 bytes each, 3 MB at 10,000 probes). A runner that starts checks at their
/// due time itself (the libcurl engine) gets them ahead, a window at a time (Scheduler+Lookahead.swift).
///
/// - A probe never overlaps itself: a tick whose previous check is still running (or still waiting for a
///   slot) is skipped and counted.
/// - At most `maxInFlight` checks run at once; ticks beyond that wait in FIFO order and their wait counts
///   as lateness.
/// - Lateness (start minus due time) is summarised per probe and kept as a histogram overall, readable
///   from any thread via `stats`.
///
/// All mutable scheduling state lives on `queue`. `stats` is a lock-guarded copy, so reading it never
/// waits for the queue (a stalled queue shows as a stale `lastHeartbeat`).
public final class Scheduler: Sendable {
    public struct Configuration: Sendable {
        /// Checks running at once across all probes. Default 256.
        public var maxInFlight: Int = 256
        /// Extra time `stop(drain: true)` waits beyond the longest in-flight check's timeout. Default 2 s.
        public var drainGrace: Duration = .seconds(2)
        /// How often the scheduler's queue proves it is alive (`stats.lastHeartbeat`) and looks for lost checks.
        /// Default 1 s.
        public var heartbeat: Duration = .seconds(1)
        /// A check whose runner has not answered this long after its timeout is given up: it is recorded as a
        /// failed sample (`timeout`) and its slot freed, so a runner bug cannot silence a probe forever.
        /// Default 10 s.
        public var abandonAfter: Duration = .seconds(10)
        /// A tick that waited longer than this past its due time (or half its probe's interval, if less) is skipped
        /// as `.overload` instead of started (Scheduler+Overload.swift). Default 2 s.
        public var overloadAfter: Duration = .seconds(2)
        /// A finished check is marked `Sample.delayedByProber` when prober's own delay around it (start, hand-offs)
        /// passed this, or such a delay was seen while it ran. Default 250 ms.
        public var distortedAfter: Duration = .milliseconds(250)
        /// With a runner that starts checks at their due time (`SchedulingCheckRunner`), how far ahead the scheduler
        /// hands ticks over: it wakes every half of this and hands over, in one batch, every tick due within it
        /// (Scheduler+Lookahead.swift). Zero hands each tick over at its due time. This is the shortest: with few
        /// checks a second the window grows up to `longestLookahead` (`Core.adaptLookahead`). Default 20 ms.
        public var lookahead: Duration = .milliseconds(20)
        /// The longest the lookahead grows to when few checks are due (no longer than a fifth of the shortest
        /// interval or than the least interval less timeout, nor shorter than `lookahead`). Default 100 ms.
        public var longestLookahead: Duration = .milliseconds(100)
        /// The ticks a window (half a lookahead) should hold on average before the lookahead stops growing. Default 64:
        /// at 10,000 probes at 10 s it makes the lookahead 100 ms rather than 64, so the engine holds the checks due
        /// in the next 50-100 ms and starts up to `EarlyStartBudget.perTurn` of them a turn (two daemons side by side
        /// took 0.96x the CPU per check of the same build with 32, 2026-12-04).
        public var ticksPerWindow: Int = 64
        public init(maxInFlight: Int = 256, drainGrace: Duration = .seconds(2), heartbeat: Duration = .seconds(1),
                    abandonAfter: Duration = .seconds(10), overloadAfter: Duration = .seconds(2),
                    distortedAfter: Duration = .milliseconds(250), lookahead: Duration = .milliseconds(20),
                    longestLookahead: Duration = .milliseconds(100), ticksPerWindow: Int = 64) {
            self.maxInFlight = maxInFlight
            self.drainGrace = drainGrace
            self.heartbeat = heartbeat
            self.abandonAfter = abandonAfter
            self.overloadAfter = overloadAfter
            self.distortedAfter = distortedAfter
            self.lookahead = lookahead
            self.longestLookahead = longestLookahead
            self.ticksPerWindow = ticksPerWindow
        }
    }

    /// Why a tick did not run.
    public enum SkipReason: String, Sendable {
        /// The probe's previous check was still running or waiting for a slot.
        case overlap
        /// The tick's time passed while the scheduler's queue was stalled (or the machine suspended).
        case missed
        /// The tick waited past its bound for a slot or for the scheduler's queue: prober has more probes than it can
        /// run (see `Configuration.overloadAfter`).
        case overload
    }

    /// What `update(probes:)` did.
    public struct UpdateSummary: Sendable, Equatable {
        public var unchanged: [String] = []
        public var added: [String] = []
        public var changed: [String] = []
        public var removed: [String] = []
    }

    /// What `stop(drain:)` saw.
    public struct StopResult: Sendable, Equatable {
        /// Checks that were in flight when ticking stopped.
        public var inFlightAtStop: Int
        /// Checks still not finished when the drain bound ran out (0 when all finished, or when not draining).
        public var unfinished: Int
    }

    /// The queue every tick, completion callback and heartbeat runs on.
    public let queue: DispatchQueue
    private let core: Core
    private let published: Locked<SchedulerStats>
    /// Held through an `update`, whose plan must not be overtaken by another one.
    private let updating = Locked(())

    /// A finished check and its probe, as `onSamples` gets them.
    public typealias Finished = (spec: ProbeSpec, sample: Sample)

    /// - Parameters:
    ///   - onSamples: called on `queue` with finished checks (including checks of probes removed meanwhile), in
    ///     batches: those the runner handed over together, in the order they finished.
    ///   - onSkip: called on `queue` for every tick skipped as `.overlap` or `.missed` (`count` > 1 when several grid
    ///     points were missed).
    ///   - onOverload: called on `queue` once per turn of the queue that skipped ticks as `.overload`, with how many
    ///     (past capacity that is thousands a second, of every probe: a call per tick would cost what shedding saves).
    ///   - wall: labels a check the runner never answered (its sample's `startedAt`), as the runner labels the
    ///     others; `clock` only measures.
    public init(runner: any CheckRunner,
                clock: any SchedulerClock = MonotonicEpochClock(),
                wall: any WallClock = SystemWallClock(),
                configuration: Configuration = Configuration(),
                onSamples: @escaping @Sendable ([Finished]) -> Void,
                onSkip: @escaping @Sendable (ProbeSpec, SkipReason, Int) -> Void = { _, _, _ in },
                onOverload: @escaping @Sendable (Int) -> Void = { _ in }) {
        precondition(configuration.maxInFlight > 0, "maxInFlight must be positive")
        queue = DispatchQueue(label: "prober.scheduler", qos: .userInitiated)
        published = Locked(SchedulerStats())
        core = Core(queue: queue, runner: runner, clock: clock, wall: wall, configuration: configuration,
                    stats: published, onSamples: onSamples, onSkip: onSkip, onOverload: onOverload)
    }

    /// `init(onSamples:)` with one call of `onSample` per finished check.
    public convenience init(runner: any CheckRunner,
                            clock: any SchedulerClock = MonotonicEpochClock(),
                            wall: any WallClock = SystemWallClock(),
                            configuration: Configuration = Configuration(),
                            onSample: @escaping @Sendable (ProbeSpec, Sample) -> Void = { _, _ in },
                            onSkip: @escaping @Sendable (ProbeSpec, SkipReason, Int) -> Void = { _, _, _ in },
                            onOverload: @escaping @Sendable (Int) -> Void = { _ in }) {
        self.init(runner: runner, clock: clock, wall: wall, configuration: configuration,
                  onSamples: { batch in for (spec, sample) in batch { onSample(spec, sample) } }, onSkip: onSkip,
                  onOverload: onOverload)
    }

    /// Starts ticking the given probes (and the heartbeat). Call once.
    @discardableResult
    public func start(probes: [ProbeSpec]) -> UpdateSummary {
        dispatchPrecondition(condition: .notOnQueue(queue))
        return queue.sync { core.start(probes) }
    }

    /// Replaces the probe set: unchanged probes keep their timer, phase and counters; removed ones stop
    /// (a check already running still finishes and is delivered); added ones start; changed ones restart.
    ///
    /// The new set is compared with the running one on the caller's thread; the queue only swaps the entries
    /// that differ, `applySlice` at a time, so ticks stay on time through a reload of tens of thousands of
    /// probes (the whole comparison and every arming used to run in one turn of the queue, every tick
    /// waiting behind it). Calls are serialised.
    @discardableResult
    public func update(probes: [ProbeSpec]) -> UpdateSummary {
        dispatchPrecondition(condition: .notOnQueue(queue))
        return updating.withLock { _ in
            // The snapshot is dropped before the queue changes `entries`, which would otherwise copy them all.
            let plan: Core.Plan? = {
                guard let current = queue.sync(execute: { core.running ? core.entries : nil }) else { return nil }
                return Core.plan(probes, against: current)
            }()
            guard let plan else { return UpdateSummary() }
            var retiring = plan.retiring[...], arming = plan.arming[...]
            while !retiring.isEmpty || !arming.isEmpty {
                let retire = retiring.prefix(Self.applySlice)
                let arm = arming.prefix(Self.applySlice - retire.count)
                queue.sync { core.apply(retiring: retire, arming: arm) }
                retiring = retiring.dropFirst(retire.count)
                arming = arming.dropFirst(arm.count)
            }
            return plan.summary
        }
    }

    /// Entries retired or armed per turn on the queue during `update`: ticks due meanwhile wait for one turn.
    static let applySlice = 1_000

    /// Stops ticking; with `drain`, waits for the checks in flight to finish, at most their longest timeout
    /// plus `drainGrace`. Blocks the caller: never call it on `queue`.
    @discardableResult
    public func stop(drain: Bool = true) -> StopResult {
        dispatchPrecondition(condition: .notOnQueue(queue))
        let (inFlight, bound) = queue.sync { core.stopTicking() }
        var unfinished = 0
        if drain, inFlight > 0 {
            if core.group.wait(timeout: .now() + bound) == .timedOut {
                unfinished = queue.sync { core.inFlight }
            }
        }
        queue.sync { core.stopHeartbeats() }
        return StopResult(inFlightAtStop: inFlight, unfinished: drain ? unfinished : inFlight)
    }

    /// Runs `action` on the scheduler's own queue every `interval` from `start` until `stop` finishes:
    /// if the queue hangs, the action stops (that is the point for the systemd watchdog).
    public func addHeartbeat(every interval: Duration, _ action: @escaping @Sendable () -> Void) {
        queue.async { self.core.addHeartbeat(every: interval, action) }
    }

    /// A snapshot of counters and lateness, from any thread, without waiting for the queue.
    public var stats: SchedulerStats { published.current }

    /// `stats` without the per-probe part: a copy to hold for a while. Holding a full `stats` while ticks run
    /// makes the scheduler's next update copy every probe's counters (1.1 MB at 10,000 probes).
    public var totals: SchedulerStats {
        published.withLock { stats in
            var totals = stats
            totals.probes = [:]
            return totals
        }
    }

    /// Each probe's skipped ticks (overlap, missed and overload), copied under the stats lock for the same reason.
    public func skippedTicks() -> [(name: String, count: Int)] {
        published.withLock { stats in
            var skipped: [(name: String, count: Int)] = []
            skipped.reserveCapacity(stats.probes.count)
            for (name, probe) in stats.probes { skipped.append((name, probe.skipped)) }
            return skipped
        }
    }

    /// True while running and the queue has run its heartbeat within `staleAfter`: false when stopped or
    /// stalled (for `/healthz`). Never waits for the queue.
    public func isLive(staleAfter: Duration = .seconds(5)) -> Bool {
        let stats = published.current
        return stats.running && core.clock.now() - stats.lastHeartbeat <= staleAfter.microseconds
    }

    deinit {
        // Timers and heartbeats hold the core; without a stop they would tick forever.
        let core = self.core
        queue.async {
            _ = core.stopTicking()
            core.stopHeartbeats()
        }
    }
}

/// Counters and lateness: a summary per probe, the distribution overall.
public struct SchedulerStats: Sendable {
    /// One probe's counters, in 64 bytes.
    ///
    /// There is one per probe in `probes`, keyed by name; at 60,000 probes that table has 131,072 slots, and the
    /// 96-byte layout (Int counters, an optional due time) cost 4 MB more. Counters wrap past 2^32 (13 years of
    /// checks every 100 ms), which Prometheus reads as a counter reset.
    public struct Probe: Sendable {
        /// Position in each interval, microseconds from the epoch grid.
        public var phaseMicros: Int64 = 0
        public var intervalMicros: Int64 = 0
        /// Count, sum and maximum; the distribution is kept overall (`SchedulerStats.lateness`).
        public var lateness = LatenessSummary()
        /// `lastDue`, with `Int64.min` for none.
        private var lastDueMicros = Int64.min
        private var startedCount: UInt32 = 0
        private var finishedCount: UInt32 = 0
        private var overlapCount: UInt32 = 0
        private var missedCount: UInt32 = 0
        private var overloadCount: UInt32 = 0

        /// Checks started.
        public var started: Int {
            get { Int(startedCount) }
            set { startedCount = UInt32(truncatingIfNeeded: newValue) }
        }
        /// Checks finished (sample delivered).
        public var finished: Int {
            get { Int(finishedCount) }
            set { finishedCount = UInt32(truncatingIfNeeded: newValue) }
        }
        /// Ticks skipped because the previous check was still running.
        public var skippedOverlap: Int {
            get { Int(overlapCount) }
            set { overlapCount = UInt32(truncatingIfNeeded: newValue) }
        }
        /// Ticks missed because the queue was stalled.
        public var missed: Int {
            get { Int(missedCount) }
            set { missedCount = UInt32(truncatingIfNeeded: newValue) }
        }
        /// Ticks skipped because prober was overloaded (`SkipReason.overload`).
        public var overload: Int {
            get { Int(overloadCount) }
            set { overloadCount = UInt32(truncatingIfNeeded: newValue) }
        }
        /// Due time of the latest started check, microseconds since the epoch.
        public var lastDue: Int64? {
            get { lastDueMicros == .min ? nil : lastDueMicros }
            set { lastDueMicros = newValue ?? .min }
        }
        public var skipped: Int { skippedOverlap + missed + overload }
    }

    /// Dense (`ProbeTable`): a dictionary's slack cost 7 MB at 60,000 probes.
    public var probes: ProbeTable<Probe> = [:]
    /// Every started check's lateness.
    public var lateness = LatenessHistogram()
    /// Totals since start (including probes since removed).
    public var started: Int = 0
    public var finished: Int = 0
    public var skippedOverlap: Int = 0
    public var missed: Int = 0
    /// Ticks skipped because prober was overloaded, and finished checks prober's own delay distorted
    /// (`Sample.delayedByProber`: the evaluator leaves them out).
    public var overload: Int = 0
    public var distorted: Int = 0
    public var skipped: Int { skippedOverlap + missed + overload }
    /// Checks running now, and ticks waiting for a slot.
    public var inFlight: Int = 0
    public var queued: Int = 0
    /// Highest `inFlight` seen.
    public var peakInFlight: Int = 0
    /// Checks given up because the runner never answered (see `Configuration.abandonAfter`).
    public var abandoned: Int = 0
    /// True between `start` and `stop`.
    public var running = false
    /// Clock time (µs since the epoch) the scheduler's queue last ran its heartbeat.
    public var lastHeartbeat: Int64 = 0
}

extension Scheduler {
    /// One probe's timer and state. `@unchecked Sendable` because a runner's completion carries it across
    /// threads, but it is only ever read or written on the scheduler's queue.
    final class Entry: @unchecked Sendable {
        let spec: ProbeSpec
        let interval: Int64
        /// The next tick's due time, while the entry is in `Core.deadlines`.
        var due: Int64 = 0
        /// The check running or waiting for this probe; nil when idle.
        var ticket: Ticket?
        /// Where this probe's counters are in `SchedulerStats.probes`: changed without hashing its name. Before
        /// `removed`, so that the object fits a 64-byte block.
        var statsPosition = ProbeTable<SchedulerStats.Probe>.Position.unknown
        var removed = false

        init(spec: ProbeSpec) {
            self.spec = spec
            interval = max(1, spec.interval.microseconds)
        }
    }

    /// One tick's check: completes at most once, whatever the runner does. `@unchecked Sendable` for the same
    /// reason as `Entry`: carried across threads, touched only on the scheduler's queue.
    final class Ticket: @unchecked Sendable {
        let due: Int64
        /// On the scheduler's clock.
        var startedAt: Int64 = 0
        /// On the wall clock, for the sample of a check that is abandoned.
        var wallStartedAt: Int64 = 0
        var started = false
        var done = false
        /// Set while the check is handed to the runner ahead (`ScheduledCheck.id`) and has not answered.
        var scheduledID: UInt64?
        init(due: Int64) { self.due = due }
    }

    /// The scheduling state. `@unchecked Sendable` is safe because every member except the immutable ones
    /// and `group` (itself thread-safe) is touched only on `queue`, which each entry point asserts.
    final class Core: @unchecked Sendable {
        let queue: DispatchQueue
        let runner: any CheckRunner
        let clock: any SchedulerClock
        let wall: any WallClock
        let configuration: Configuration
        let stats: Locked<SchedulerStats>
        let onSamples: @Sendable ([Finished]) -> Void
        let onSkip: @Sendable (ProbeSpec, SkipReason, Int) -> Void
        let onOverload: @Sendable (Int) -> Void
        /// Marks each finished check that prober's own delay distorted, as it joins the batch.
        let distortion: DistortionWatch
        /// Entered per started check, left when it finishes: `stop(drain:)` waits on it.
        let group = DispatchGroup()
        /// Where the runner hands finished checks: one hop onto `queue` per batch. With ticks handed over ahead, the
        /// engine gathers them for half a lookahead (the queue wakes once per window for them too): a slot frees that
        /// much later, and a check ending within that of its probe's next due time makes that tick an overlap.
        private(set) lazy var completions = BatchedCompletions(gathering: scheduling == nil ? .zero : .microseconds(lookahead / 2)) { [weak self] batch in
            guard let self else { return }
            queue.async { self.finish(batch) }
        }
        /// Checks completed in the current batch, handed on together by `handOver()`.
        private var completed: [(entry: Entry, sample: Sample)] = []

        /// Dense (`ProbeTable`): a dictionary of references cost 3.1 MB at 60,000 probes.
        var entries: ProbeTable<Entry> = [:]
        var waiting: [(entry: Entry, ticket: Ticket)] = []
        var waitingHead = 0
        /// The FIFO's length as last published (`SchedulerStats.queued`), and the ticks skipped as `.overload` since
        /// then, with the probe of each that still counts it: published once per turn of the queue (`publishTurn`),
        /// not per tick.
        var queuedPublished = 0
        var shedSince = 0
        var shedProbes: [Entry] = []
        var inFlight = 0
        /// Started, unfinished checks (at most `maxInFlight`), swept for lost ones on each heartbeat.
        var inFlightChecks: [ObjectIdentifier: (entry: Entry, ticket: Ticket)] = [:]
        var running = false
        var heartbeats: [DispatchSourceTimer] = []
        /// Every armed entry once, by its next due time. Retired entries leave when they come up.
        var deadlines = DeadlineHeap()
        /// Set for the earliest due time, `wakeAt`; nil when stopped.
        var wake: DispatchSourceTimer?
        var wakeAt = Int64.max
        /// The runner ticks are handed to ahead, when it can take them and `lookahead` is not zero.
        let scheduling: (any SchedulingCheckRunner)?
        /// How far ahead ticks are handed over (µs), between `Configuration.lookahead` and `longestLookahead`.
        var lookahead: Int64
        /// The armed entries' intervals (µs) and how many entries have each: the rate of ticks and the shortest
        /// interval, for `adaptLookahead`.
        var intervals: [Int64: Int] = [:]
        /// The same for each entry's slack, its interval less its timeout (µs, at least 1): the least time between a
        /// check that runs to its timeout and its probe's next tick.
        var slacks: [Int64: Int] = [:]
        /// Entries whose tick could not be handed over ahead (busy, or no slot): fired at their due time instead.
        var atDue = DeadlineHeap()
        /// When the scheduler last handed a window over, and the id of the next check it hands over.
        var lastHandOver = Int64.min
        var nextCheckID: UInt64 = 0

        init(queue: DispatchQueue, runner: any CheckRunner, clock: any SchedulerClock, wall: any WallClock, configuration: Configuration,
             stats: Locked<SchedulerStats>, onSamples: @escaping @Sendable ([Finished]) -> Void,
             onSkip: @escaping @Sendable (ProbeSpec, SkipReason, Int) -> Void, onOverload: @escaping @Sendable (Int) -> Void) {
            self.queue = queue
            self.runner = runner
            self.clock = clock
            self.wall = wall
            self.configuration = configuration
            self.stats = stats
            self.onSamples = onSamples
            self.onSkip = onSkip
            self.onOverload = onOverload
            distortion = DistortionWatch(configuration: configuration, clock: clock, stats: stats)
            lookahead = configuration.lookahead.microseconds
            scheduling = lookahead > 0 ? runner as? any SchedulingCheckRunner : nil
        }

        func start(_ probes: [ProbeSpec]) -> UpdateSummary {
            dispatchPrecondition(condition: .onQueue(queue))
            guard !running else { return apply(probes) }
            running = true
            let wake = DispatchSource.makeTimerSource(queue: queue)
            wake.setEventHandler { [weak self] in self?.wakeUp() }
            wake.resume()
            self.wake = wake
            let now = clock.now()
            stats.withLock {
                $0.running = true
                $0.lastHeartbeat = now
            }
            addHeartbeat(every: configuration.heartbeat) { [self] in
                let now = clock.now()
                stats.withLock { $0.lastHeartbeat = now }
                abandonLostChecks(now: now)
                shedStaleWaiting(now: now)
                publishTurn()
            }
            return apply(probes)
        }

        /// What an update changes: worked out from a snapshot of `entries`, off the queue, then applied on it.
        struct Plan {
            var summary = UpdateSummary()
            /// The current entries of removed and changed probes.
            var retiring: [Entry] = []
            /// New entries for added and changed probes.
            var arming: [Entry] = []
        }

        /// Compares `probes` with `current` by name. Touches only `Entry.spec`, which never changes, so any
        /// thread may call it.
        static func plan(_ probes: [ProbeSpec], against current: ProbeTable<Entry>) -> Plan {
            var plan = Plan()
            var wanted: [String: ProbeSpec] = [:]
            for spec in probes { wanted[spec.name] = spec }

            for (name, entry) in current where wanted[name] == nil {
                plan.retiring.append(entry)
                plan.summary.removed.append(name)
            }
            for spec in probes where wanted[spec.name] == spec {
                wanted[spec.name] = nil // first occurrence of a duplicate name only
                if let old = current[spec.name] {
                    if sameSchedule(old.spec, spec) {
                        plan.summary.unchanged.append(spec.name)
                        continue
                    }
                    plan.retiring.append(old)
                    plan.summary.changed.append(spec.name)
                } else {
                    plan.summary.added.append(spec.name)
                }
                plan.arming.append(Entry(spec: spec))
            }
            return plan
        }

        /// Replaces the probe set at once (at start, when nothing runs yet).
        func apply(_ probes: [ProbeSpec]) -> UpdateSummary {
            dispatchPrecondition(condition: .onQueue(queue))
            guard running else { return UpdateSummary() }
            let plan = Self.plan(probes, against: entries)
            apply(retiring: plan.retiring[...], arming: plan.arming[...])
            return plan.summary
        }

        /// One turn of an update: retires the entries that are still the current ones, arms the new ones.
        func apply(retiring: ArraySlice<Entry>, arming: ArraySlice<Entry>) {
            dispatchPrecondition(condition: .onQueue(queue))
            guard running else { return }
            var gone: [String] = []
            var cancelled: [UInt64] = []
            for old in retiring where entries[old.spec.name] === old {
                retire(old, cancelling: &cancelled)
                entries[old.spec.name] = nil
                count(old, -1)
                gone.append(old.spec.name)
            }
            if !gone.isEmpty { stats.withLock { s in for name in gone { s.probes[name] = nil } } }
            for entry in arming {
                if let existing = entries[entry.spec.name] {
                    retire(existing, cancelling: &cancelled)
                    count(existing, -1)
                }
                entries[entry.spec.name] = entry
                count(entry, 1)
            }
            scheduling?.cancel(cancelled)
            adaptLookahead()
            if !arming.isEmpty { arm(arming) }
        }

        private func count(_ entry: Entry, _ change: Int) {
            func add(_ key: Int64, to counts: inout [Int64: Int]) {
                let left = counts[key, default: 0] + change
                counts[key] = left > 0 ? left : nil
            }
            add(entry.interval, to: &intervals)
            add(max(1, entry.interval - entry.spec.timeout.microseconds), to: &slacks)
        }

        /// Grows the lookahead when few ticks are due, so that each window (half a lookahead) hands over about
        /// `ticksPerWindow` of them: at 300 checks a second a 20 ms lookahead woke the scheduler, the engine and
        /// the completions' hop 100 times a second each for three ticks a window, more wake-ups than checks. It
        /// stays between `lookahead` and `longestLookahead`, within a fifth of the shortest interval and within the
        /// least slack (a check's answer is gathered for half a lookahead: a check that runs to its timeout must
        /// still be answered before its probe's next tick, or that tick is skipped as an overlap).
        func adaptLookahead() {
            guard scheduling != nil else { return }
            let shortest = configuration.lookahead.microseconds
            let longest = max(shortest, configuration.longestLookahead.microseconds)
            let perSecond = intervals.reduce(0.0) { $0 + Double($1.value) * 1e6 / Double($1.key) }
            var wanted = perSecond > 0 ? Int64(min(Double(longest), 2e6 * Double(configuration.ticksPerWindow) / perSecond)) : longest
            if let fastest = intervals.keys.min() { wanted = min(wanted, fastest / 5) }
            if let tightest = slacks.keys.min() { wanted = min(wanted, tightest) }
            let chosen = max(shortest, min(longest, Self.steadyLookahead(atMost: wanted)))
            guard chosen != lookahead else { return }
            lookahead = chosen
            completions.gather(for: .microseconds(chosen / 2))
        }

        /// The lookaheads the window grows to: twice a divisor of 100 ms, so that an interval of whole tenths of a
        /// second is a whole number of windows and each probe's ticks fall at the same point of the hand-over grid
        /// every interval (`nextWake`). 30,000 probes at 10 s want 43 ms and take 40.
        static let steadyLookaheads: [Int64] = [2, 4, 8, 10, 20, 40, 50, 100, 200].map { $0 * 1_000 }

        /// The longest of `steadyLookaheads` within `micros`, or `micros` below them all.
        static func steadyLookahead(atMost micros: Int64) -> Int64 {
            steadyLookaheads.last { $0 <= micros } ?? micros
        }

        /// Equal for scheduling purposes: everything but where the probe was declared.
        static func sameSchedule(_ a: ProbeSpec, _ b: ProbeSpec) -> Bool {
            var a = a
            a.source = b.source
            return a == b
        }

        private func arm(_ batch: ArraySlice<Entry>) {
            let now = clock.now()
            stats.withLock { s in
                for entry in batch {
                    var probe = SchedulerStats.Probe()
                    probe.phaseMicros = Schedule.phase(name: entry.spec.name, intervalMicros: entry.interval)
                    probe.intervalMicros = entry.interval
                    s.probes[entry.spec.name] = probe
                    s.probes.change(entry.spec.name, at: &entry.statsPosition) { _ in }
                }
            }
            for entry in batch {
                entry.due = Schedule.firstDeadline(name: entry.spec.name, intervalMicros: entry.interval, now: now)
                deadlines.push(entry)
            }
            setWake()
        }

        /// Sets the timer for the earliest due entry (with a scheduling runner: see `nextWake`), unless it is
        /// already set for that time.
        func setWake() {
            guard running, let wake else { return }
            let next = scheduling == nil ? deadlines.first?.due : nextWake()
            guard let next, next != wakeAt else { return }
            wakeAt = next
            wake.schedule(deadline: clock.dispatchTime(at: next), repeating: .never)
        }

        /// Fires every entry that is due (with a scheduling runner, hands over those due within the lookahead:
        /// `handOverAhead`), then sets the timer for the next one.
        private func wakeUp() {
            guard running else { return }
            wakeAt = .max
            let now = clock.now()
            defer { publishTurn() }
            if scheduling != nil { return handOverAhead(now: now) }
            while let entry = deadlines.first, entry.due <= now {
                deadlines.removeFirst()
                if !entry.removed { fire(entry) }
            }
            setWake()
        }

        /// Marks a removed or replaced entry; its tick handed over ahead, if any, is cancelled (`cancelled` collects
        /// the ids, for one `cancel` call per turn).
        private func retire(_ entry: Entry, cancelling cancelled: inout [UInt64]) {
            entry.removed = true
            if let id = entry.ticket?.scheduledID { cancelled.append(id) }
        }

        /// Runs (or skips) the entry's tick and puts it back in `deadlines` for the next one, which is always
        /// after now, so `wakeUp` ends.
        func fire(_ entry: Entry) {
            let now = clock.now()
            let tick = Schedule.tick(due: entry.due, intervalMicros: entry.interval, now: now)
            entry.due = tick.next
            deadlines.push(entry)

            if tick.missed > 0 {
                stats.withLock {
                    $0.missed += tick.missed
                    $0.probes.change(entry.spec.name, at: &entry.statsPosition) { $0.missed += tick.missed }
                }
                onSkip(entry.spec, .missed, tick.missed)
            }
            if let waiting = entry.ticket, !waiting.started {
                shed(entry, waiting) // waited a whole interval for a slot: the new tick takes its place
            }
            if entry.ticket != nil {
                stats.withLock {
                    $0.skippedOverlap += 1
                    $0.probes.change(entry.spec.name, at: &entry.statsPosition) { $0.skippedOverlap += 1 }
                }
                onSkip(entry.spec, .overlap, 1)
                return
            }
            let ticket = Ticket(due: tick.run)
            entry.ticket = ticket
            if shedIfLate(entry, ticket, now: now) { return }
            if inFlight < configuration.maxInFlight {
                begin(entry, ticket)
            } else {
                shedStaleWaiting(now: now)
                waiting.append((entry, ticket)) // counted in `queued` at the end of the turn
            }
        }

        func begin(_ entry: Entry, _ ticket: Ticket) {
            let started = clock.now()
            let lateness = Schedule.lateness(deadline: ticket.due, started: started)
            ticket.started = true
            ticket.startedAt = started
            ticket.wallStartedAt = wall.now()
            occupySlot(entry, ticket) {
                $0.lateness.record(lateness)
                guard !entry.removed else { return }
                $0.probes.change(entry.spec.name, at: &entry.statsPosition) {
                    $0.started += 1
                    $0.lastDue = ticket.due
                    $0.lateness.record(lateness)
                }
            }
            runner.run(entry.spec, batches: completions) { [self] sample in complete(entry, ticket, sample) }
        }

        /// Counts `ticket` in flight: its slot, the drain group's count and the stats, where `alsoRecord` adds its own
        /// figures under the same lock.
        func occupySlot(_ entry: Entry, _ ticket: Ticket, alsoRecord: (inout SchedulerStats) -> Void) {
            inFlight += 1
            inFlightChecks[ObjectIdentifier(ticket)] = (entry, ticket)
            group.enter()
            let inFlightNow = inFlight
            stats.withLock {
                $0.started += 1
                $0.inFlight = inFlightNow
                $0.peakInFlight = max($0.peakInFlight, inFlightNow)
                alsoRecord(&$0)
            }
        }

        /// A batch of finished checks from the runner, on the queue: each completes, then all are handed on at once.
        private func finish(_ batch: [BatchedCompletions.Finished]) {
            for finished in batch { finished.complete() } // `complete(_:_:_:)`, below
            handOver()
            publishTurn()
        }

        /// Ends one check's ticket and keeps its sample for `handOver()`.
        func complete(_ entry: Entry, _ ticket: Ticket, _ sample: Sample) {
            guard !ticket.done else { return } // a runner that completes twice is ignored the second time
            ticket.done = true
            if let id = ticket.scheduledID { // abandoned before the runner answered: it need not start any more
                ticket.scheduledID = nil
                scheduling?.cancel([id])
            }
            inFlight -= 1
            inFlightChecks[ObjectIdentifier(ticket)] = nil
            if entry.ticket === ticket { entry.ticket = nil }
            // Durations between checks are measured on the scheduler's monotonic clock, not the runner's wall clock.
            var sample = sample
            sample.monotonicAt = ticket.startedAt
            completed.append((entry, distortion.judge(entry.spec, sample)))
        }

        /// Counts the completed checks, hands their samples on, then frees their slots for waiting ticks.
        func handOver() {
            guard !completed.isEmpty else { return }
            let batch = completed
            completed = []
            let inFlightNow = inFlight
            stats.withLock {
                $0.finished += batch.count
                $0.inFlight = inFlightNow
                for (entry, _) in batch where !entry.removed {
                    $0.probes.change(entry.spec.name, at: &entry.statsPosition) { $0.finished += 1 }
                }
            }
            onSamples(batch.map { ($0.entry.spec, $0.sample) })
            for _ in batch { group.leave() }
            startWaiting()
        }

        /// Finishes, with a failed sample, every check whose runner is past its timeout by `abandonAfter`.
        private func abandonLostChecks(now: Int64) {
            let grace = configuration.abandonAfter.microseconds
            for (entry, ticket) in inFlightChecks.values where now - ticket.startedAt > entry.spec.timeout.microseconds + grace {
                let waited = Human.latency(microseconds: now - ticket.startedAt)
                let sample = Sample(probe: entry.spec.name, startedAt: ticket.wallStartedAt,
                                    failure: Failure(.timeout, "no result after \(waited) (timeout \(Human.duration(entry.spec.timeout))): check abandoned"))
                stats.withLock { $0.abandoned += 1 }
                complete(entry, ticket, sample)
            }
            handOver()
        }

        func startWaiting() {
            while running, inFlight < configuration.maxInFlight, waitingHead < waiting.count {
                let next = waiting[waitingHead]
                waitingHead += 1
                if next.entry.removed || next.entry.ticket !== next.ticket { continue }
                if shedIfLate(next.entry, next.ticket, now: clock.now()) { continue }
                begin(next.entry, next.ticket)
            }
            if waitingHead == waiting.count {
                waiting.removeAll(keepingCapacity: true)
                waitingHead = 0
            } else if waitingHead > 1024, waitingHead * 2 > waiting.count {
                waiting.removeFirst(waitingHead)
                waitingHead = 0
            }
        }

        /// Cancels the timer and drops waiting ticks; returns the checks in flight and how long to wait for them.
        func stopTicking() -> (inFlight: Int, bound: DispatchTimeInterval) {
            dispatchPrecondition(condition: .onQueue(queue))
            running = false
            wake?.cancel()
            wake = nil
            wakeAt = .max
            deadlines = DeadlineHeap()
            atDue = DeadlineHeap()
            var longest: Int64 = 0
            var cancelled: [UInt64] = []
            for entry in entries.values {
                if let ticket = entry.ticket {
                    // A check handed over ahead is in flight until the runner answers, cancelled or ran.
                    if let id = ticket.scheduledID { cancelled.append(id) }
                    if ticket.started {
                        longest = max(longest, entry.spec.timeout.microseconds)
                    } else {
                        entry.ticket = nil
                    }
                }
            }
            scheduling?.cancel(cancelled)
            publishTurn()
            waiting.removeAll()
            waitingHead = 0
            queuedPublished = 0
            stats.withLock {
                $0.running = false
                $0.queued = 0
            }
            let bound = longest + configuration.drainGrace.microseconds
            return (inFlight, .microseconds(Int(clamping: bound)))
        }

        func addHeartbeat(every interval: Duration, _ action: @escaping @Sendable () -> Void) {
            dispatchPrecondition(condition: .onQueue(queue))
            let timer = DispatchSource.makeTimerSource(queue: queue)
            let period = DispatchTimeInterval.microseconds(Int(clamping: max(1_000, interval.microseconds)))
            timer.schedule(deadline: .now() + period, repeating: period)
            timer.setEventHandler(handler: action)
            heartbeats.append(timer)
            timer.resume()
        }

        func stopHeartbeats() {
            dispatchPrecondition(condition: .onQueue(queue))
            for timer in heartbeats { timer.cancel() }
            heartbeats.removeAll()
        }
    }
}
