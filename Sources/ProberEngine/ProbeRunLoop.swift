import Foundation
import Logging
import ProberCore

/// The run loop: schedules the probes, passes every sample to the sink, logs what people need to know
/// (start, each probe's healthy <-> failing change, rate-limited skip warnings, reloads) and keeps
/// systemd informed (`STATUS=`, and `WATCHDOG=1` from the scheduler's queue). `Daemon` owns it.
public final class ProbeRunLoop: Sendable {
    public struct Configuration: Sendable {
        public var scheduler: Scheduler.Configuration
        /// The database path, for the start line.
        public var database: String
        /// systemd notifications (`READY=1`, `STATUS=`, `WATCHDOG=1`...); nil or disabled: none.
        public var notifier: SystemdNotifier?
        /// At most one skipped-tick warning per probe per this period. Default 60 s.
        public var skipWarningInterval: Duration

        public init(scheduler: Scheduler.Configuration = Scheduler.Configuration(), database: String = "",
                    notifier: SystemdNotifier? = nil, skipWarningInterval: Duration = .seconds(60)) {
            self.scheduler = scheduler
            self.database = database
            self.notifier = notifier
            self.skipWarningInterval = skipWarningInterval
        }
    }

    /// A probe's state from its last check, and its streak of failed checks while failing.
    struct Tracked {
        var state: ProbeState
        var streak: FailureStreak?
    }

    /// The consecutive failed checks of a failing probe, for the "healthy again after N failed checks" line.
    struct FailureStreak {
        /// When the first failed check of the streak started, µs on the checks' `elapsedTime` (a wall-clock step
        /// does not lengthen the streak).
        var since: Int64
        var failures: Int
    }

    public let scheduler: Scheduler
    private let logger: Logger
    private let configuration: Configuration
    private let clock: any SchedulerClock
    private let state: Locked<State>

    struct State {
        var probes: [ProbeSpec]
        /// `probes`' names, set with them: built outside the lock, which `track` takes on the scheduler's queue.
        var names: Set<String>
        var files: [String]
        /// The connectivity canaries: scheduled with the probes, but neither counted nor logged as probes.
        var canaries: [ProbeSpec] = []
        /// Each probe's state from its last check (`.unknown`, `.healthy` or `.failing`: incidents are the tracker's),
        /// and its failure streak while failing: one table, so a check costs one lookup here.
        var tracked: [String: Tracked] = [:]
        var skipWarnings: [String: (last: Int64, pending: Int)] = [:]
        /// Ticks skipped for overload: one summary line for all probes, at most once per `skipWarningInterval`.
        var overloadWarning = OverloadWarning()
    }

    public init(probes: ProbeSet, runner: any CheckRunner, sink: any SampleSink, logger: Logger,
                configuration: Configuration = Configuration(), clock: any SchedulerClock = MonotonicEpochClock()) {
        let state = Locked(State(probes: probes.probes, names: Set(probes.probes.map(\.name)), files: probes.files,
                                 canaries: probes.canaries))
        self.state = state
        self.logger = logger
        self.configuration = configuration
        self.clock = clock
        let notifier = configuration.notifier
        let warnEvery = configuration.skipWarningInterval.microseconds
        scheduler = Scheduler(
            runner: runner, clock: clock, configuration: configuration.scheduler,
            onSamples: { batch in
                sink.record(contentsOf: batch.map(\.sample))
                Self.track(batch, state: state, logger: logger, notifier: notifier)
            },
            onSkip: { spec, reason, count in
                Self.warnSkipped(spec, reason, count, now: clock.now(), every: warnEvery, state: state, logger: logger)
            },
            onOverload: { count in
                let due = state.withLock { $0.overloadWarning.add(count, now: clock.now(), every: warnEvery) }
                if let due { Self.logOverload(due, logger: logger) }
            })
    }

    public convenience init(probes: [ProbeSpec], runner: any CheckRunner, sink: any SampleSink, logger: Logger,
                            configuration: Configuration = Configuration()) {
        self.init(probes: ProbeSet(probes: probes, files: []), runner: runner, sink: sink, logger: logger,
                  configuration: configuration)
    }

    /// Starts ticking, logs the start line, tells systemd `READY=1` and starts petting its watchdog from the
    /// scheduler's queue.
    public func start() {
        let (probes, files, canaries) = state.withLock { ($0.probes, $0.files, $0.canaries) }
        scheduler.start(probes: probes + canaries)
        var metadata: Logger.Metadata = [
            "probes": "\(probes.count)",
            "database": "\(configuration.database)",
            "max_in_flight": "\(configuration.scheduler.maxInFlight)",
        ]
        if !files.isEmpty { metadata["files"] = "\(files.joined(separator: ", "))" }
        if !canaries.isEmpty { metadata["connectivity_canaries"] = "\(canaries.count)" }
        logger.info("prober started: \(Human.count(probes.count, "probe")) from \(Human.count(files.count, "file")), database \(configuration.database)",
                    metadata: metadata)
        if let notifier = configuration.notifier, notifier.isEnabled {
            notifier.ready(status: statusLine())
            if let interval = notifier.watchdogInterval {
                scheduler.addHeartbeat(every: interval) { notifier.petWatchdog() }
            }
        }
    }

    /// Replaces the probes: unchanged ones keep their schedule and health, removed ones stop, added ones start.
    @discardableResult
    public func reload(_ new: ProbeSet) -> Scheduler.UpdateSummary {
        configuration.notifier?.reloading()
        var summary = scheduler.update(probes: new.probes + new.canaries)
        // The canaries are the connectivity monitor's to announce, not probes added or removed.
        summary.unchanged.removeAll(where: Connectivity.isCanary)
        summary.added.removeAll(where: Connectivity.isCanary)
        summary.changed.removeAll(where: Connectivity.isCanary)
        summary.removed.removeAll(where: Connectivity.isCanary)
        let names = Set(new.probes.map(\.name))
        state.withLock { s in
            s.probes = new.probes
            s.names = names
            s.files = new.files
            s.canaries = new.canaries
            for name in summary.removed + summary.changed {
                s.tracked[name] = nil
                s.skipWarnings[name] = nil
            }
        }
        var parts = ["\(Human.count(new.probes.count, "probe"))"]
        if !summary.added.isEmpty { parts.append("added \(summary.added.sorted().joined(separator: ", "))") }
        if !summary.changed.isEmpty { parts.append("changed \(summary.changed.sorted().joined(separator: ", "))") }
        if !summary.removed.isEmpty { parts.append("removed \(summary.removed.sorted().joined(separator: ", "))") }
        logger.info("reloaded: \(parts.joined(separator: "; "))", metadata: [
            "probes": "\(new.probes.count)", "added": "\(summary.added.count)",
            "changed": "\(summary.changed.count)", "removed": "\(summary.removed.count)",
        ])
        configuration.notifier?.ready(status: statusLine())
        return summary
    }

    @discardableResult
    public func reload(_ new: [ProbeSpec]) -> Scheduler.UpdateSummary {
        let (files, canaries) = state.withLock { ($0.files, $0.canaries) }
        return reload(ProbeSet(probes: new, files: files, canaries: canaries))
    }

    /// Loads a new probe set and applies it. If loading throws, the current set keeps running and every line
    /// of the error's description (the loader's `path:line:column: message` lines) is logged. Returns
    /// whether the new set was applied.
    @discardableResult
    public func reload(loading load: () throws -> ProbeSet) -> Bool {
        let loaded: ProbeSet
        do {
            loaded = try load()
        } catch {
            let current = state.withLock { $0.probes.count }
            logger.error("reload failed: keeping the current \(Human.count(current, "probe"))")
            for line in String(describing: error).split(separator: "\n") where !line.isEmpty {
                logger.error("\(line)")
            }
            return false
        }
        reload(loaded)
        return true
    }

    /// `reload(loading:)` for a loader that returns bare specs (the files list stays as it was).
    @discardableResult
    public func reload(loadingProbes load: () throws -> [ProbeSpec]) -> Bool {
        reload(loading: {
            let (files, canaries) = state.withLock { ($0.files, $0.canaries) }
            return ProbeSet(probes: try load(), files: files, canaries: canaries)
        })
    }

    /// Stops ticking and waits for checks in flight (bounded by their timeouts). Blocks; call it from a
    /// signal handler's queue or the main thread, never from the scheduler's queue. Flush the store after.
    @discardableResult
    public func shutdown(drain: Bool = true) -> Scheduler.StopResult {
        configuration.notifier?.stopping()
        let inFlight = scheduler.stats.inFlight
        if inFlight > 0 && drain {
            logger.info("stopping: waiting for \(Human.count(inFlight, "check")) in flight")
        }
        let result = scheduler.stop(drain: drain)
        if result.unfinished > 0 {
            logger.warning("stopped with \(Human.count(result.unfinished, "check")) still unfinished past their timeout")
        } else {
            logger.info("stopped")
        }
        return result
    }

    /// Each probe's state from its last check.
    public var states: [String: ProbeState] { state.withLock { $0.tracked.mapValues(\.state) } }

    /// How many probes run now.
    public var probeCount: Int { state.withLock { $0.probes.count } }

    /// The probes running now (not the connectivity canaries).
    public var probes: [ProbeSpec] { state.withLock { $0.probes } }

    /// Counters and lateness (see `Scheduler.stats`).
    public var stats: SchedulerStats { scheduler.stats }

    /// `watching 12 probes, 2 failing`: the systemd `STATUS=` line.
    public func statusLine() -> String { state.withLock { Self.statusLine($0) } }

    private static func statusLine(_ s: State) -> String {
        let failing = s.tracked.values.filter { $0.state == .failing }.count
        return "watching \(Human.count(s.probes.count, "probe"))" + (failing > 0 ? ", \(failing) failing" : "")
    }

    // MARK: - Called on the scheduler's queue

    /// Moves each checked probe's state, under one lock for the batch; logs the changes after.
    private static func track(_ batch: [Scheduler.Finished], state: Locked<State>, logger: Logger, notifier: SystemdNotifier?) {
        var changes: [(spec: ProbeSpec, sample: Sample, change: Change)] = []
        state.withLock { s in
            for (spec, sample) in batch {
                // Samples of probes removed (or changed) meanwhile do not move the state of the current set.
                guard s.names.contains(spec.name) else { continue }
                if let change = move(&s.tracked[spec.name, default: Tracked(state: .unknown)], by: sample) {
                    changes.append((spec, sample, change))
                }
            }
        }
        guard !changes.isEmpty else { return }
        for (spec, sample, change) in changes {
            // Built only for a change: `displayTarget` redacts the URL, which cost more than the rest of the check's path here.
            var metadata: Logger.Metadata = ["probe.name": "\(spec.name)", "probe.target": "\(spec.displayTarget)"]
            switch change {
            case .failing(let failure):
                metadata["failure.reason"] = "\(failure.reason.rawValue)"
                logger.warning("probe \(spec.name) failing: \(failure.reason.rawValue): \(failure.message)", metadata: metadata)
            case .recovered(let streak):
                let seconds = max(0, (sample.elapsedTime - streak.since) / 1_000_000)
                logger.notice("probe \(spec.name) healthy again after \(Human.count(streak.failures, "failed check")) over \(Human.span(seconds: seconds))",
                              metadata: metadata)
            }
        }
        if let notifier, notifier.isEnabled {
            notifier.status(state.withLock { statusLine($0) })
        }
    }

    /// What a check changed that is worth a log line.
    enum Change {
        case failing(Failure)
        case recovered(FailureStreak)
    }

    /// One check's effect on its probe's state: the change to log, if any.
    static func move(_ tracked: inout Tracked, by sample: Sample) -> Change? {
        let streak = tracked.streak
        if let failure = sample.failure {
            tracked.state = .failing
            tracked.streak = FailureStreak(since: streak?.since ?? sample.elapsedTime, failures: (streak?.failures ?? 0) + 1)
            return streak == nil ? .failing(failure) : nil
        }
        tracked.state = .healthy
        tracked.streak = nil
        return streak.map { .recovered($0) }
    }

    private static func warnSkipped(_ spec: ProbeSpec, _ reason: Scheduler.SkipReason, _ n: Int, now: Int64, every: Int64,
                                    state: Locked<State>, logger: Logger) {
        let total: Int? = state.withLock { s in
            var entry = s.skipWarnings[spec.name] ?? (last: Int64.min, pending: 0)
            entry.pending += n
            defer { s.skipWarnings[spec.name] = entry }
            guard entry.last == Int64.min || now - entry.last >= every else { return nil }
            let total = entry.pending
            entry = (now, 0)
            return total
        }
        guard let total else { return }
        let why = reason == .overlap
            ? "its previous check was still running (interval \(Human.duration(spec.interval)), timeout \(Human.duration(spec.timeout)))"
            : "the scheduler was stalled"
        logger.warning("probe \(spec.name): skipped \(Human.count(total, "tick")) because \(why)", metadata: [
            "probe.name": "\(spec.name)", "skip.reason": "\(reason.rawValue)", "skipped": "\(total)",
        ])
    }

}
