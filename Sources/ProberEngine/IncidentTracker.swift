import Dispatch
import Foundation
import Logging
import ProberCore
import ProberDelivery
import ProberStorage

/// Runs every probe's evaluator and turns its events into stored incident changes with their outbox rows.
///
/// One way through: sample -> evaluator (handed the baseline) -> `IncidentChange` (with a call per sink
/// that takes it) -> `IncidentStorage.record`, one transaction -> `onChange` wakes the delivery worker.
/// A change storage refuses is held, in order with the probe's later changes, and stored before anything
/// else once storage works again: none is lost and none overtakes another.
///
/// In fleet mode (storage shared by several probers, `FleetStorage`, and a location given) the evaluator's
/// events do not become changes directly: this location publishes its episode and the fleet's one incident
/// per probe is decided from every location's (see IncidentTracker+Fleet.swift).
///
/// Samples arrive from the probe engine's thread; evaluation and the incident writes run on the
/// tracker's own serial queue, so a slow database never delays a probe. Readers that must answer at once
/// (`/metrics`) read `levels()` and `specs()`, a copy the queue publishes, and never wait behind it.
/// `@unchecked Sendable`: all mutable state (`probes`, `states`, `open`, `baselines`, `autoReferences`, `sinks`, `unstored`,
/// `retryHeldAt`, `opened`, `retired`, `removedSinceTracked`, `fleetState`, `quietState`, `levelsDirty`, `levelsPublishedAt`,
/// `groups`, `groupIncidents`) is touched only on `queue`; `sweepTimer` is set in `init`, then only cancelled on
/// `queue`; `published`, `publishedQuiet`, `cutShort` and `incoming` are `Locked`.
public final class IncidentTracker: @unchecked Sendable {
    let storage: any IncidentStorage
    let logger: Logger
    let queue = DispatchQueue(label: "prober.incidents")
    /// Dense, like `states` (a dictionary of specs cost 3.1 MB at 60,000 probes).
    var probes: ProbeTable<ProbeSpec> = [:]
    /// Written on a check (`evaluate`, which notes a change of level) and in `update` (which publishes at its end):
    /// no `didSet` here, since a check rarely moves the level and publishing costs a copy of every probe's.
    var states: ProbeTable<EvaluatorState> = [:]
    /// The open incident of each probe, as stored (or held to be stored: then an opening's id is 0).
    var open: [String: Incident] = [:] { didSet { levelsChanged() } }
    /// What `levels()` and `specs()` return: copied from `states`, `open` and `probes` on the queue, at most
    /// every `levelsEvery` while they change and at once by `sync()`.
    private let published = Locked(Published())
    /// Checks handed to `record` and not yet taken by the queue (IncidentTracker+Baselines.swift).
    let incoming = Locked<[Check]>([])
    /// Checks dropped unevaluated after `stop(deadline:)` cut the tracker short.
    private var skippedChecks = 0
    private struct Published {
        var levels: ProbeTable<(level: Level, incident: Severity?)> = [:]
        var specs: ProbeTable<ProbeSpec> = [:]
    }
    /// Whether `states` or `open` changed since the last publication, and when (uptime, ns) that was.
    private var levelsDirty = false
    private var levelsPublishedAt: UInt64 = 0
    /// How stale `levels()` may be while the queue keeps up (a copy of 10,000 probes costs about a millisecond).
    static let levelsEvery: UInt64 = 250_000_000
    /// Set when `stop(deadline:)` gave up waiting: the work still queued returns at once.
    let cutShort = Locked(false)
    /// The baseline of each open incident's episode, read from storage at its first change (it cannot
    /// change: it ends where the episode began).
    var baselines: [String: (since: Int64, baseline: Baseline)] = [:]
    /// Each `latency: auto` probe's reference and when it was read (a check's `elapsedTime`, µs): IncidentTracker+Auto.swift.
    var autoReferences: [String: (reference: AutoReference, readAt: Int64)] = [:]
    var sinks: [any Sink] = []
    /// Changes storage refused, oldest first, with their probe: stored before any later change.
    private var unstored: [(probe: String, change: IncidentChange)] = []
    /// When (a check's time, µs) held changes are tried again: at most once a second, since each refused
    /// write may have waited out the busy timeout.
    private var retryHeldAt: Int64 = .min
    /// The id and opening time of each probe's latest stored opening, for the later changes of an incident
    /// whose opening was held (they were made before its id was known).
    private var opened: [String: (createdAt: Int64, id: Int64)] = [:]
    /// Incidents resolved because their probe was removed (the resolution may still be held), so a later
    /// reload that still finds them open in the database does not resolve them twice.
    private var retired: Set<Retired> = []
    /// The probes this process tracked that the probe files no longer have. (Not every probe tracked: the
    /// configured ones are `probes`' keys, and a set of them all cost 2 MB at 60,000 probes.)
    private var removedSinceTracked: Set<String> = []
    private struct Retired: Hashable {
        var probe: String
        var createdAt: Int64
    }
    /// Called on the tracker's queue after each stored change (the delivery worker wakes on it).
    let onChange: @Sendable () -> Void
    /// Wall time (µs) for changes no check dates: the resolution of a removed probe's incident.
    let now: @Sendable () -> Int64
    /// The shared storage and this prober's location in fleet mode; nil otherwise.
    let fleet: Fleet?
    /// What this location published and saw, in fleet mode.
    var fleetState = FleetState()
    /// Decides again, in fleet mode, for the probes other locations may have changed.
    private var sweepTimer: DispatchSourceTimer?
    /// Silences and quiet periods (IncidentTracker+Quiet.swift); `publishedQuiet` is their copy for `/metrics`.
    var quietState = QuietState()
    let publishedQuiet = Locked<[String: QuietPeriod]>([:])
    /// The incidents probes share (IncidentTracker+Groups.swift), and the incident of each open one.
    var groups = IncidentGroups()
    var groupIncidents: [IncidentCause: Incident] = [:]

    /// `location` (this prober's, `--location`) turns fleet mode on when `storage` is also a `FleetStorage`;
    /// the fleet is then swept every `sweepInterval`.
    public init(store storage: any IncidentStorage, logger: Logger, location: String? = nil,
                sweepInterval: Duration = .seconds(2), onChange: @escaping @Sendable () -> Void = {},
                now: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1_000_000) }) {
        self.storage = storage
        self.logger = logger
        self.onChange = onChange
        self.now = now
        if let location, let shared = storage as? any FleetStorage {
            fleet = Fleet(storage: shared, location: location)
            let timer = DispatchSource.makeTimerSource(queue: queue)
            let every = DispatchTimeInterval.microseconds(Int(max(sweepInterval.microseconds, 10_000)))
            timer.schedule(deadline: .now() + every, repeating: every, leeway: .milliseconds(50))
            timer.setEventHandler { [weak self] in self?.sweep() }
            timer.resume()
            sweepTimer = timer
        } else {
            fleet = nil
        }
    }

    deinit { sweepTimer?.cancel() }

    /// Whether incidents are decided by the fleet (shared storage and a location).
    public var fleetMode: Bool { fleet != nil }

    /// Sets the probes (at start and on reload) and rebuilds the state of each probe not seen before from
    /// the database: its latest checks refill the window, its open incident continues. `sinks` are where
    /// incident changes go (each decides whether it takes a probe's incidents).
    ///
    /// The open incident of a probe no longer in the set (removed or renamed, on a reload or while prober was
    /// stopped) is resolved with a note saying so, delivered to every sink that was told of it: nothing checks
    /// it any more, and left open it would stay open in the database and on IsDown for ever.
    public func update(probes specs: [ProbeSpec], sinks: [any Sink]) {
        queue.sync {
            let previousSinks = self.sinks
            self.sinks = sinks
            let previous = probes
            var configured = ProbeTable<ProbeSpec>()
            for spec in specs where configured[spec.name] == nil { configured[spec.name] = spec }
            probes = configured
            for name in previous.keys where probes[name] == nil { removedSinceTracked.insert(name) }
            defer {
                levelsDirty = true
                publishLevels()
            }
            var resolvedAny = false
            for name in states.keys where probes[name] == nil && fleet != nil {
                withdraw(name, spec: previous[name], sinks: previousSinks)
            }
            for name in states.keys where probes[name] == nil {
                if fleet == nil, leaveGroup(name, spec: previous[name], sinks: previousSinks) {
                    resolvedAny = true
                } else if fleet == nil, let incident = open[name], let spec = previous[name] {
                    let tracking = states[name]?.incident ?? OpenIncident(
                        status: incident.status, stage: incident.stage, openedAt: incident.createdAt,
                        degradedSince: incident.createdAt, failedChecks: 0, worstP95: nil, worstFailures: 0)
                    resolveRemoved(incident, tracking: tracking) { update, incident in
                        previousSinks.compactMap { $0.call(for: update, of: incident, probe: spec) }
                    }
                    resolvedAny = true
                }
                states[name] = nil
                open[name] = nil
                baselines[name] = nil
                autoReferences[name] = nil
            }
            let stored = (try? storage.openIncidents()) ?? [:]
            // Open in the database for a probe this process never tracked: removed while prober was stopped. (For
            // a probe it tracked, memory is right and the database may lag behind held changes.) In a fleet, other
            // probers may still run it: its incident is theirs to decide.
            for (name, incident) in stored where fleet == nil && probes[name] == nil && !removedSinceTracked.contains(name)
                && !retired.contains(Retired(probe: name, createdAt: incident.incident.createdAt))
                && !retired.contains(Retired(probe: incident.incident.probe, createdAt: incident.incident.createdAt))
                && !incident.incident.probes.contains(where: { probes[$0] != nil }) {
                let told = Set(incident.deliveries.map(\.sink))
                var seen: Set<String> = []
                let announcing = sinks.filter { told.contains($0.name) && seen.insert($0.name).inserted }
                resolveRemoved(incident.incident, tracking: incident.tracking) { update, incident in
                    announcing.compactMap { $0.followUp(update, of: incident) }
                }
                resolvedAny = true
            }
            var fleetRebuilds: [ProbeSpec] = []
            var rebuilt: Set<String> = []
            for spec in specs {
                if let old = previous[spec.name], old.incident == spec.incident, states[spec.name] != nil { continue }
                removedSinceTracked.remove(spec.name)
                autoReferences[spec.name] = nil
                rebuilt.insert(spec.name)
                if fleet != nil { fleetRebuilds.append(spec) } else { rebuild(spec, stored: stored[spec.name]) }
            }
            // In a fleet, all of them at once: a fixed number of queries whatever the number of probes.
            if !fleetRebuilds.isEmpty { rebuildFleet(fleetRebuilds, open: stored) }
            if fleet == nil, restoreGroups(stored, rebuilt: rebuilt) { resolvedAny = true }
            if resolvedAny { onChange() }
        }
    }

    /// Resolves the open incident of a probe that is gone from the probe files, with the calls `calls` makes
    /// for the resolution (stored, or held like any change when storage refuses it).
    private func resolveRemoved(_ current: Incident, tracking: OpenIncident,
                                calls: (IncidentUpdate, Incident) -> [OutboxItem]) {
        let at = now()
        let update = IncidentUpdate(
            kind: .resolved, stage: .resolved, status: current.status, createdAt: at,
            description: "Resolved: the probe \(current.probe) was removed from the probe files, so prober no longer checks it.",
            evidence: JSONValue.object(["at": .string(UTCTime.iso8601(at)), "probe_removed": .bool(true)]).encoded)
        var incident = current
        incident.stage = .resolved
        incident.updatedAt = at
        incident.resolvedAt = at
        incident.updates.append(update)
        var resolvedTracking = tracking
        resolvedTracking.stage = .resolved
        retired.insert(Retired(probe: current.probe, createdAt: current.createdAt))
        logger.notice("resolving the open incident of a probe removed from the probe files", metadata: [
            "probe.name": "\(current.probe)", "incident.id": "\(current.id)",
        ])
        store(IncidentChange(incident: incident, update: update, tracking: resolvedTracking, outbox: calls(update, incident)),
              probe: current.probe)
    }

    private func rebuild(_ spec: ProbeSpec, stored: StoredIncident?) {
        let evaluator = Evaluator(policy: spec.incident, interval: spec.interval)
        let history = (try? storage.recentSamples(probe: spec.name, limit: spec.incident.window)) ?? []
        var tracking = stored?.tracking
        if let t = tracking, let recount = try? storage.failureCount(probe: spec.name, since: t.degradedSince) {
            tracking?.failedChecks = max(t.failedChecks, recount)
        }
        states[spec.name] = evaluator.rebuild(from: history, openIncident: tracking)
        open[spec.name] = stored?.incident
        if let stored {
            logger.info("continuing open incident", metadata: [
                "probe.name": "\(spec.name)", "incident.id": "\(stored.incident.id)",
                "incident.status": "\(stored.incident.status.rawValue)", "incident.stage": "\(stored.incident.stage.rawValue)",
            ])
        }
    }

    /// Feeds one check to its probe's evaluator (asynchronously, in order). `quiet`: the check was taken during a
    /// quiet period (see Evaluator+Quiet.swift).
    public func record(_ sample: Sample, quiet: Quiet? = nil) {
        record(contentsOf: [Check(sample: sample, quiet: quiet)])
    }

    /// A check for `record(contentsOf:)`: its sample, and whether it was taken during a quiet period.
    public struct Check: Sendable {
        public var sample: Sample
        public var quiet: Quiet?
        public init(sample: Sample, quiet: Quiet? = nil) {
            self.sample = sample
            self.quiet = quiet
        }
    }

    /// `record` for several checks, in order, with one hop to the tracker's queue for all of them. Checks handed over
    /// while earlier ones still wait for the queue join them (IncidentTracker+Baselines.swift): the busier the queue,
    /// the larger the batch whose baselines are read together.
    public func record(contentsOf checks: [Check]) {
        guard !checks.isEmpty else { return }
        let first = incoming.withLock { waiting in
            defer { waiting.append(contentsOf: checks) }
            return waiting.isEmpty
        }
        if first { queue.async { self.evaluateIncoming() } }
    }

    /// Waits until every sample handed to `record` so far has been evaluated, and its fleet decisions taken.
    public func sync() {
        queue.sync {
            flushWave()
            releaseGathered(at: nil)
            publishLevels()
        }
    }

    /// Stops the fleet sweep and waits for the samples already handed over (shutdown), at most `deadline`: in a
    /// mass outage thousands of fleet decisions may be queued. Cut short, what is still queued is dropped (logged);
    /// the checks are stored, so a restarted prober's evaluators rebuild from them, and the fleet's sweep (this
    /// prober's after a restart, or another's) decides what this one did not.
    public func stop(deadline: Duration = .seconds(10)) {
        let done = DispatchSemaphore(value: 0)
        queue.async {
            self.sweepTimer?.cancel()
            self.flushWave()
            self.releaseGathered(at: nil)
            done.signal()
        }
        guard done.wait(timeout: .now() + .microseconds(Int(deadline.microseconds))) == .timedOut else { return }
        cutShort.withLock { $0 = true }
        // What is still queued now returns at once; a statement in flight finishes first (within lock_timeout).
        let (checks, undecided) = queue.sync { (skippedChecks, fleetState.wave.count) }
        logger.warning("""
            the incident tracker's last evaluation was cut short after \(Human.duration(deadline)): \(checks) checks not \
            evaluated and \(undecided) changed episodes not published; the checks are stored, a restart rebuilds from \
            them, and the fleet's sweep (another prober's, or this one's after a restart) decides
            """, metadata: [
                "checks.unevaluated": "\(checks)", "episodes.unpublished": "\(undecided)",
            ])
    }

    /// The configured probes by name (as last given to `update`), for metrics that depend on a probe's kind.
    /// Never waits for the tracker's queue.
    public func specs() -> ProbeTable<ProbeSpec> { published.withLock { $0.specs } }

    /// The level and open incident of every probe, for status and metrics.
    public func snapshot() -> [String: (level: Level, incident: Incident?)] {
        queue.sync {
            var out: [String: (level: Level, incident: Incident?)] = [:]
            for (name, state) in states { out[name] = (state.level, open[name]) }
            return out
        }
    }

    /// The level of every probe and the level of its open incident (nil when none): what `/metrics` shows,
    /// without copying each open `Incident` (at 10,000 probes `snapshot()` allocated 3.5 MB per scrape). Never
    /// waits for the tracker's queue: a copy it published at most `levelsEvery` ago while it keeps up, older while
    /// a wave of decisions holds it (a scrape answers at once either way).
    public func levels() -> ProbeTable<(level: Level, incident: Severity?)> { published.withLock { $0.levels } }

    /// Notes that a level changed; publishes when the last copy is older than `levelsEvery`, and otherwise
    /// makes sure a publication follows.
    private func levelsChanged() {
        if !levelsDirty {
            levelsDirty = true
            queue.asyncAfter(deadline: .now() + .nanoseconds(Int(Self.levelsEvery))) { self.publishLevels() }
        }
    }

    /// Copies the levels (when they changed) and the specs for readers that must not wait on the queue.
    private func publishLevels() {
        guard levelsDirty else { return }
        // Dense, in `states`' index: a dictionary of the levels cost 2.4 MB at 60,000 probes, copied every 250 ms.
        var levels = ProbeTable<(level: Level, incident: Severity?)>(indexedLike: states)
        for (name, state) in states { levels[name] = (state.level, open[name]?.status) }
        let specs = probes
        published.withLock { $0 = Published(levels: levels, specs: specs) }
        levelsDirty = false
        levelsPublishedAt = DispatchTime.now().uptimeNanoseconds
    }

    func evaluate(_ sample: Sample, quiet: Quiet? = nil) {
        if cutShort.current {
            skippedChecks += 1
            return
        }
        defer {
            if levelsDirty, DispatchTime.now().uptimeNanoseconds - levelsPublishedAt >= Self.levelsEvery { publishLevels() }
        }
        if !unstored.isEmpty, sample.elapsedTime >= retryHeldAt {
            if !storeHeldChanges() { retryHeldAt = sample.elapsedTime + 1_000_000 }
        }
        releaseGathered(at: sample.elapsedTime)
        // Of the state before the check, its level and incident are kept, not its window: a second reference to
        // the window would make the check's change copy it.
        guard let spec = probes[sample.probe],
              let (state, reference) = states[sample.probe].map({
                  ($0.withoutWindow, autoReference(spec, state: $0, at: sample.startedAt, elapsed: sample.elapsedTime))
              }) else { return }
        // A lost connection outranks maintenance, whose start and end are noted all the same.
        let maintenance = self.quiet(spec, sample)  // IncidentTracker+Quiet.swift
        let events = Evaluator(policy: spec.incident, interval: spec.interval, reference: reference)
            .evaluate(&states[sample.probe]!, sample, quiet: quiet ?? maintenance) { self.baseline(spec.name, since: $0) }
        let next = states[sample.probe]!
        if next.level != state.level { levelsChanged() }
        if fleet != nil {
            evaluated(sample, spec: spec, state: next, events: events)
            return
        }
        if routeToGroups(sample, spec: spec, before: state, next: next, events: events) { return }
        guard !events.isEmpty else { return }
        let writer = IncidentWriter(probe: spec)
        for event in events {
            if event.stage == .resolved { baselines[spec.name] = nil }
            guard let change = change(event, spec: spec, writer: writer, tracking: next.incident ?? resolvedTracking(event, state)) else {
                continue
            }
            store(change, probe: spec.name)
        }
        onChange()
    }

    /// Stores the changes held since storage refused them, in order; stops (false) at the first still refused.
    private func storeHeldChanges() -> Bool {
        while let (probe, change) = unstored.first {
            guard write(change, probe: probe) else { return false }
            unstored.removeFirst()
        }
        logger.notice("stored the incident changes held while storage was failing")
        onChange()
        return true
    }

    /// Stores one change now, or holds it (behind those already held) when storage refuses it.
    func store(_ change: IncidentChange, probe: String) {
        if !unstored.isEmpty || !write(change, probe: probe) { unstored.append((probe, change)) }
    }

    /// Writes one change; false (logged) when storage refused it. An opening's id goes to the probe's open
    /// incident; a later change of an incident opened while storage was failing gets that id here.
    private func write(_ change: IncidentChange, probe: String) -> Bool {
        var change = change
        if !change.opens, change.incident.id == 0, let o = opened[probe], o.createdAt == change.incident.createdAt {
            change.incident.id = o.id
        }
        var metadata: Logger.Metadata = [
            "probe.name": "\(probe)", "incident.status": "\(change.update.status.rawValue)",
            "incident.stage": "\(change.update.stage.rawValue)",
        ]
        do {
            let id = try storage.record(change)
            metadata["incident.id"] = "\(id)"
            if change.opens {
                opened[probe] = (change.incident.createdAt, id)
                if open[probe]?.createdAt == change.incident.createdAt { open[probe]?.id = id }
                if let cause = change.incident.cause { groupStored(cause, createdAt: change.incident.createdAt, id: id) }
                logger.warning("incident opened: \(change.incident.title)", metadata: metadata)
            } else {
                logger.notice("incident \(change.update.kind.rawValue): \(change.incident.title)", metadata: metadata)
            }
            return true
        } catch {
            metadata["event"] = "\(change.update.kind.rawValue)"
            metadata["error"] = "\(error)"
            logger.error("could not store incident change; holding it until storage works again", metadata: metadata)
            return false
        }
    }

    /// The baseline for the probe's episode that began at `since`, read once per episode. A storage error
    /// leaves it empty (the description then has no baseline sentence); it is logged, not fatal.
    func baseline(_ probe: String, since: Int64) -> Baseline {
        if let cached = baselines[probe], cached.since == since { return cached.baseline }
        do {
            let baseline = try storage.baseline(probe: probe, until: since)
            baselines[probe] = (since, baseline)
            return baseline
        } catch {
            logger.error("could not read the baseline", metadata: ["probe.name": "\(probe)", "error": "\(error)"])
            return Baseline()
        }
    }

    /// The tracking to store with a resolution (the evaluator no longer holds an incident then).
    func resolvedTracking(_ event: IncidentEvent, _ before: EvaluatorState) -> OpenIncident {
        var t = before.incident ?? OpenIncident(status: event.status, stage: .resolved, openedAt: event.evidence.openedAt,
                                                degradedSince: event.evidence.degradedSince, failedChecks: 0,
                                                worstP95: nil, worstFailures: 0)
        t.stage = .resolved
        t.failedChecks = event.evidence.failedChecks
        t.worstP95 = event.evidence.worstP95
        return t
    }

    /// The change an event makes to the probe's incident, with the call of every sink that takes it; the
    /// probe's open incident moves with it. Nil (logged) for a change of an incident that is not open.
    private func change(_ event: IncidentEvent, spec: ProbeSpec, writer: IncidentWriter, tracking: OpenIncident) -> IncidentChange? {
        let at = event.evidence.at
        let update = IncidentUpdate(kind: event.kind, stage: event.stage, status: event.status, createdAt: at,
                                    description: writer.description(event), evidence: event.evidence.json.encoded)
        var incident: Incident
        if event.kind == .opened {
            incident = Incident(id: 0, probe: spec.name, serviceID: spec.incident.serviceID, title: writer.title(event),
                                description: update.description, status: event.status, stage: event.stage,
                                createdAt: at, updatedAt: at, resolvedAt: nil, updates: [update])
        } else {
            guard let current = open[spec.name] else {
                logger.error("incident change without an open incident", metadata: [
                    "probe.name": "\(spec.name)", "incident.status": "\(event.status.rawValue)", "incident.stage": "\(event.stage.rawValue)",
                ])
                return nil
            }
            incident = current
            incident.status = event.status
            incident.stage = event.stage
            incident.updatedAt = at
            if event.stage == .resolved { incident.resolvedAt = at }
            incident.updates.append(update)
        }
        open[spec.name] = event.stage == .resolved ? nil : incident
        let outbox = sinks.compactMap { $0.call(for: update, of: incident, probe: spec) }
        return IncidentChange(incident: incident, update: update, tracking: tracking, outbox: outbox)
    }
}
