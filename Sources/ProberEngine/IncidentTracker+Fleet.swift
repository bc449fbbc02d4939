import Dispatch
import Foundation
import Logging
import ProberCore
import ProberDelivery
import ProberStorage

/// Fleet mode: several probers share one database, and each probe has one incident per episode for the whole
/// fleet, decided by quorum (`FleetDecision`).
///
/// The local evaluator runs as without a fleet; its state is this location's episode, which is published
/// (`FleetStorage.publish`) when it changes and, as a heartbeat, every third of the probe's window span. The
/// changes of the local episodes, and a sweep every couple of seconds over the probes the fleet has in an
/// episode, read the fleet's views, ask `FleetDecision.target` what each incident should become and write those
/// transitions with `record(_:)`: each refused (`.conflict`) when another prober changed that incident since
/// the view, after which its view is read again. Decisions depend only on the state in the database, so a
/// write that fails is not held: the next sweep decides again.
///
/// A wave (a shared dependency down: thousands of probes changing at once) is handled in batches: the episodes
/// that changed while the queue was busy are published in one statement and decided together when it gets to
/// them (`flushWave`), with one query for all their views and a transaction per group of probes, so the queue
/// keeps up however many change.
extension IncidentTracker {
    struct Fleet {
        let storage: any FleetStorage
        let location: String
    }

    /// Fleet bookkeeping, touched only on the tracker's queue.
    struct FleetState {
        /// Per probe: the episode last published and when (the check time it carried, µs).
        var published: [String: (episode: LocationEpisode, at: Int64)] = [:]
        /// Per probe: this location's latest evaluator event and its description, to describe a fleet
        /// transition of the same kind in this location's own words.
        var lastEvents: [String: (event: IncidentEvent, description: String)] = [:]
        /// Per probe: the summary line of this location's current episode.
        var summaries: [String: String] = [:]
        /// Probes whose last publication failed (published again by the sweep).
        var unpublished: Set<String> = []
        /// Probes whose heartbeat is due (published together by the next sweep).
        var heartbeats: Set<String> = []
        /// When the publication of `heartbeats` is queued for (uptime ns); nil when none is queued.
        var heartbeatsAt: UInt64?
        /// When the sweep last looked for incidents of probes no location runs (µs).
        var abandonedCheckedAt: Int64 = .min / 2
        /// Per probe: this location's latest check (µs), the time a publication carries.
        var checkedAt: [String: Int64] = [:]
        /// Whether the last sweep could not read the fleet (logged once, not every sweep).
        var sweepFailing = false
        /// Per probe: its changed episode, waiting for the queue's next `flushWave` to publish and decide it.
        var wave: [String: EpisodePublication] = [:]
        /// Whether a `flushWave` is queued.
        var flushQueued = false
    }

    /// How long a due heartbeat waits for others to publish with (a transaction a second, not one per tick), at most
    /// a third of its probe's span: due a third of the span after the last one, it is then published within two
    /// thirds, before the fleet stops counting this location as running the probe.
    static let heartbeatBatching: Int64 = 1_000_000

    /// Decisions tried per occasion when other probers keep changing the incident first.
    static let fleetAttempts = 3

    /// How long a location counts as running a probe after its last published check: the window's span
    /// (window × interval), at least three intervals.
    static func span(_ spec: ProbeSpec) -> Int64 {
        let interval = spec.interval.microseconds
        return max(Int64(spec.incident.window), 3) * interval
    }

    /// Rebuilds this location's evaluators of `specs` from its own latest checks and its published tracking, and
    /// publishes their episodes: three queries for all of them (at 10,000 probes one per probe and kind was
    /// 40,000 round trips at start). `open` is the fleet's open incidents, by probe.
    func rebuildFleet(_ specs: [ProbeSpec], open stored: [String: StoredIncident]) {
        guard let fleet else { return }
        var recent: [String: [Sample]] = [:]
        var mine: [String: PublishedEpisode] = [:]
        do {
            recent = try fleet.storage.recentSamples(probes: specs.map(\.name), location: fleet.location,
                                                     limit: specs.map(\.incident.window).max() ?? 0)
            mine = try fleet.storage.episodes(location: fleet.location)
        } catch {
            logger.error("could not read this location's state of its probes; starting them afresh", metadata: [
                "probes": "\(specs.count)", "error": "\(error)",
            ])
        }
        let at = now()
        var publications: [EpisodePublication] = []
        for spec in specs {
            let evaluator = Evaluator(policy: spec.incident, interval: spec.interval)
            let published = mine[spec.name]
            let samples = Array((recent[spec.name] ?? []).suffix(spec.incident.window))
            let state = evaluator.rebuild(from: samples, openIncident: published?.episode.status == nil ? nil : published?.tracking)
            states[spec.name] = state
            open[spec.name] = stored[spec.name]?.incident
            if let summary = published?.episode.summary { fleetState.summaries[spec.name] = summary }
            // Published at once, so the fleet counts this location as running the probe before its first check: a
            // location that failed first would otherwise be a quorum of one.
            let episode = ownEpisode(spec.name, state)
            publications.append(EpisodePublication(probe: spec.name, episode: episode, tracking: state.incident, at: at))
            if let status = episode.status {
                logger.info("continuing this location's episode", metadata: [
                    "probe.name": "\(spec.name)", "location": "\(fleet.location)",
                    "episode.status": "\(status.rawValue)", "episode.stage": "\(episode.stage?.rawValue ?? "")",
                ])
            }
        }
        publish(publications)
    }

    /// This location's episode of a probe in evaluator state `state`.
    func ownEpisode(_ probe: String, _ state: EvaluatorState) -> LocationEpisode {
        LocationEpisode(location: fleet?.location ?? "", status: state.incident?.status, stage: state.incident?.stage,
                        summary: state.incident == nil ? nil : fleetState.summaries[probe])
    }

    /// After the local evaluator took a check: remembers its events, publishes the episode when it changed or
    /// the heartbeat is due, and decides when it changed.
    func evaluated(_ sample: Sample, spec: ProbeSpec, state: EvaluatorState, events: [IncidentEvent]) {
        guard fleet != nil else { return }
        fleetState.checkedAt[spec.name] = sample.startedAt
        let writer = IncidentWriter(probe: spec)
        for event in events {
            if event.stage == .resolved { baselines[spec.name] = nil }
            fleetState.lastEvents[spec.name] = (event, writer.description(event))
            fleetState.summaries[spec.name] = event.stage == .resolved ? nil : writer.locationSummary(event.evidence)
        }
        let episode = ownEpisode(spec.name, state)
        if let waiting = fleetState.wave[spec.name] {
            guard waiting.episode != episode else { return }
            // Changed again before its batch was decided (a backlog of several ticks): that change is decided first,
            // as it would have been alone, so the incident takes each step.
            flushWave()
        }
        let last = fleetState.published[spec.name]
        guard last?.episode != episode else {
            // Unchanged: a heartbeat when due, published a second later with every other one due by then in one
            // statement (probes' ticks are spread over their interval: published at once, each tick was a transaction).
            if last.map({ sample.startedAt - $0.at >= Self.span(spec) / 3 }) ?? true,
               fleetState.heartbeats.insert(spec.name).inserted {
                let wait = max(0, min(Self.heartbeatBatching, Self.span(spec) / 3))
                let at = DispatchTime.now() + .microseconds(Int(wait))
                // A probe with a shorter span than those waiting brings the publication forward.
                if fleetState.heartbeatsAt.map({ at.uptimeNanoseconds < $0 }) ?? true {
                    fleetState.heartbeatsAt = at.uptimeNanoseconds
                    queue.asyncAfter(deadline: at) { self.publishHeartbeats() }
                }
            }
            return
        }
        fleetState.wave[spec.name] = EpisodePublication(probe: spec.name, episode: episode, tracking: state.incident, at: sample.startedAt)
        if !fleetState.flushQueued {
            // Behind the checks already queued: every episode they change joins this batch.
            fleetState.flushQueued = true
            queue.async { self.flushWave() }
        }
    }

    /// Publishes the changed episodes in one statement and decides their probes together.
    func flushWave() {
        fleetState.flushQueued = false
        guard !fleetState.wave.isEmpty, !cutShort.current else { return }
        let wave = fleetState.wave.values.sorted { $0.probe < $1.probe }
        fleetState.wave = [:]
        guard publish(wave) else { return }
        decide(wave.compactMap { p in probes[p.probe].map { ($0, p.at) } })
    }

    /// Publishes the heartbeats due, in one statement (a failure leaves them to the sweep).
    func publishHeartbeats() {
        let due = fleetState.heartbeats
        fleetState.heartbeats = []
        fleetState.heartbeatsAt = nil
        publish(due.sorted().compactMap { probe in
            guard let state = states[probe] else { return nil }
            return EpisodePublication(probe: probe, episode: ownEpisode(probe, state), tracking: state.incident,
                                      at: fleetState.checkedAt[probe] ?? now())
        })
    }

    /// Publishes episodes of this location in one statement; false (logged, retried by the sweep) when storage
    /// refused them.
    @discardableResult
    func publish(_ publications: [EpisodePublication]) -> Bool {
        guard let fleet, !publications.isEmpty else { return true }
        do {
            try fleet.storage.publish(publications, location: fleet.location)
            for p in publications {
                fleetState.published[p.probe] = (p.episode, p.at)
                fleetState.unpublished.remove(p.probe)
            }
            return true
        } catch {
            let failing = publications.filter { fleetState.unpublished.insert($0.probe).inserted }
            if let first = failing.first {
                logger.error("could not publish this location's episodes; trying again", metadata: [
                    "probe.name": "\(first.probe)", "probes": "\(failing.count)", "error": "\(error)",
                ])
            }
            return false
        }
    }

    /// Takes this location out of a probe's fleet (the probe left its probe files). When no other location runs the
    /// probe any more, its open incident is resolved with a note saying so, as a single prober does: nothing
    /// checks it, and left open it would stay open for ever.
    func withdraw(_ probe: String, spec: ProbeSpec?, sinks: [any Sink]) {
        guard let fleet else { return }
        fleetState.published[probe] = nil
        fleetState.lastEvents[probe] = nil
        fleetState.summaries[probe] = nil
        fleetState.unpublished.remove(probe)
        fleetState.heartbeats.remove(probe)
        fleetState.checkedAt[probe] = nil
        do {
            try fleet.storage.withdraw(probe: probe, location: fleet.location)
        } catch {
            logger.error("could not withdraw this location from a removed probe; it stops counting after its window",
                         metadata: ["probe.name": "\(probe)", "error": "\(error)"])
            return
        }
        guard let spec else { return }
        let at = now()
        for _ in 1...Self.fleetAttempts {
            guard let view = try? fleet.storage.fleetView(probe: probe, runningSince: at - Self.span(spec)),
                  view.locations.isEmpty, let stored = view.incident else { return }
            let update = IncidentUpdate(
                kind: .resolved, stage: .resolved, status: stored.incident.status, createdAt: at,
                description: "Resolved: the probe \(probe) was removed from the probe files of every location that ran it, so no prober checks it any more.",
                evidence: JSONValue.object(["at": .string(UTCTime.iso8601(at)), "probe_removed": .bool(true)]).encoded)
            var incident = stored.incident
            incident.stage = .resolved
            incident.updatedAt = at
            incident.resolvedAt = at
            incident.updates.append(update)
            var tracking = stored.tracking
            tracking.stage = .resolved
            let change = IncidentChange(incident: incident, update: update, tracking: tracking,
                                        outbox: sinks.compactMap { $0.call(for: update, of: incident, probe: spec) })
            do {
                try fleet.storage.record(change, expectingUpdates: view.version)
                logger.notice("resolved the fleet incident of a probe no location runs any more", metadata: [
                    "probe.name": "\(probe)", "incident.id": "\(stored.incident.id)",
                ])
                onChange()
                return
            } catch let error as any StorageError where error.kind == .conflict {
                continue
            } catch {
                logger.error("could not resolve the fleet incident of a removed probe", metadata: ["probe.name": "\(probe)", "error": "\(error)"])
                return
            }
        }
    }

    /// Runs on the tracker's queue every `sweepInterval`: publishes what failed to publish, then decides for
    /// every probe the fleet has in an episode (another location's change may have moved the quorum) and for
    /// every probe this prober last saw with an open incident (someone may have resolved it).
    func sweep() {
        guard let fleet, !probes.isEmpty else { return }
        let at = now()
        let due = fleetState.unpublished.union(fleetState.heartbeats)
        fleetState.heartbeats = []
        publish(due.sorted().compactMap { probe in
            guard let state = states[probe] else { fleetState.unpublished.remove(probe); return nil }
            return EpisodePublication(probe: probe, episode: ownEpisode(probe, state), tracking: state.incident,
                                      at: fleetState.checkedAt[probe] ?? at)
        })
        let longest = probes.values.map(Self.span).max() ?? 0
        let active: Set<String>
        do {
            active = try fleet.storage.activeFleetProbes(runningSince: at - longest)
        } catch {
            if !fleetState.sweepFailing {
                logger.error("could not read the fleet's active probes; sweeping again every few seconds", metadata: ["error": "\(error)"])
            }
            fleetState.sweepFailing = true
            return
        }
        if fleetState.sweepFailing {
            logger.notice("reading the fleet again")
            fleetState.sweepFailing = false
        }
        decide(active.union(open.keys).sorted().compactMap { probes[$0].map { ($0, at) } })
        closeAbandoned(at: at)
    }

    /// How long no location may have published a probe's episode (µs) before a sweeping prober resolves the
    /// probe's open fleet incident: an hour, much longer than any heartbeat (every third of a window span).
    public static let abandonedAfter: Int64 = 3_600_000_000
    /// How often (µs) the sweep looks for such incidents.
    static let abandonedCheckEvery: Int64 = 60_000_000

    /// Resolves the open fleet incidents of probes no location has run for `abandonedAfter` (every prober that ran
    /// them stopped for good, or dropped them without the last one seeing it), as a single prober resolves the
    /// incident of a probe removed from its files, and announces it to every sink that was told of the incident.
    /// Left open, nothing would ever resolve them.
    func closeAbandoned(at: Int64) {
        guard let fleet, at - fleetState.abandonedCheckedAt >= Self.abandonedCheckEvery else { return }
        fleetState.abandonedCheckedAt = at
        let names: Set<String>
        let stored: [String: StoredIncident]
        do {
            names = try fleet.storage.abandonedFleetProbes(runningSince: at - Self.abandonedAfter).subtracting(probes.keys)
            stored = names.isEmpty ? [:] : try storage.openIncidents()
        } catch {
            logger.error("could not look for fleet incidents no location runs", metadata: ["error": "\(error)"])
            return
        }
        for name in names.sorted() {
            guard let current = stored[name] else { continue }
            let update = IncidentUpdate(
                kind: .resolved, stage: .resolved, status: current.incident.status, createdAt: at,
                description: "Resolved: no location has run the probe \(name) for over an hour (every prober that ran it "
                    + "stopped or dropped it), so no prober checks it any more.",
                evidence: JSONValue.object(["at": .string(UTCTime.iso8601(at)), "probe_abandoned": .bool(true)]).encoded)
            var incident = current.incident
            incident.stage = .resolved
            incident.updatedAt = at
            incident.resolvedAt = at
            incident.updates.append(update)
            var tracking = current.tracking
            tracking.stage = .resolved
            let told = Set(current.deliveries.map(\.sink))
            var seen: Set<String> = []
            let outbox = sinks.filter { told.contains($0.name) && seen.insert($0.name).inserted }
                .compactMap { $0.followUp(update, of: incident) }
            do {
                try fleet.storage.record(IncidentChange(incident: incident, update: update, tracking: tracking, outbox: outbox),
                                         expectingUpdates: current.incident.updates.count)
                logger.notice("resolved the fleet incident of a probe no location runs any more", metadata: [
                    "probe.name": "\(name)", "incident.id": "\(current.incident.id)",
                ])
                onChange()
            } catch let error as any StorageError where error.kind == .conflict {
                continue  // another prober resolved or changed it first
            } catch {
                logger.error("could not resolve the fleet incident of a probe no location runs", metadata: [
                    "probe.name": "\(name)", "error": "\(error)",
                ])
            }
        }
    }

    /// Reads the fleet's views of `due` (each probe with the time it is decided at) in one query and writes the
    /// transitions the quorum asks for in a few transactions; the probes whose write met a conflict are read and
    /// decided again, at most `fleetAttempts` times (the next sweep carries on).
    func decide(_ due: [(spec: ProbeSpec, at: Int64)]) {
        guard let fleet else { return }
        var due = due
        for attempt in 1...Self.fleetAttempts {
            guard let earliest = due.map({ $0.at - Self.span($0.spec) }).min(), !cutShort.current else { return }
            let views: [String: FleetView]
            do {
                views = try fleet.storage.fleetViews(probes: due.map(\.spec.name), runningSince: earliest)
            } catch {
                logger.error("could not read the fleet's view of probes; the next sweep decides again", metadata: [
                    "probe.name": "\(due[0].spec.name)", "probes": "\(due.count)", "error": "\(error)",
                ])
                return
            }
            var decided: [(spec: ProbeSpec, at: Int64, change: FleetChange)] = []
            for (spec, at) in due {
                var view = views[spec.name] ?? FleetView(incident: nil, locations: [])
                let since = at - Self.span(spec)
                view.locations.removeAll { $0.at < since }
                open[spec.name] = view.incident?.incident
                if let change = fleetChange(spec, view: view, at: at) {
                    decided.append((spec, at, FleetChange(change, expectingUpdates: view.version)))
                }
            }
            guard !decided.isEmpty else { return }
            var stored = false
            due = []
            // In slices, so a stop cut short (`cutShort`) is not held up by the rest of a large wave.
            var results: [Result<Int64, any Error>] = []
            for first in stride(from: 0, to: decided.count, by: 250) where !cutShort.current {
                results += fleet.storage.record(decided[first..<min(first + 250, decided.count)].map(\.change))
            }
            for (decision, result) in zip(decided, results) {
                let change = decision.change.change, name = decision.spec.name
                var metadata: Logger.Metadata = [
                    "probe.name": "\(name)", "location": "\(fleet.location)",
                    "incident.status": "\(change.update.status.rawValue)", "incident.stage": "\(change.update.stage.rawValue)",
                ]
                switch result {
                case .success(let id):
                    metadata["incident.id"] = "\(id)"
                    var incident = change.incident
                    incident.id = id
                    open[name] = incident.resolved ? nil : incident
                    if change.opens {
                        logger.warning("fleet incident opened: \(change.incident.title)", metadata: metadata)
                    } else {
                        logger.notice("fleet incident \(change.update.kind.rawValue): \(change.incident.title)", metadata: metadata)
                    }
                    stored = true
                case .failure(let error as any StorageError) where error.kind == .conflict:
                    logger.info("another prober changed the fleet incident first; deciding again", metadata: [
                        "probe.name": "\(name)", "attempt": "\(attempt)",
                    ])
                    due.append((decision.spec, decision.at))
                case .failure(let error):
                    metadata["error"] = "\(error)"
                    logger.error("could not store the fleet's incident change; the next sweep decides again", metadata: metadata)
                }
            }
            if stored { onChange() }
        }
    }

    /// The change that takes the fleet's incident to what the quorum asks for; nil when it is there already.
    func fleetChange(_ spec: ProbeSpec, view: FleetView, at: Int64) -> IncidentChange? {
        guard let location = fleet?.location else { return nil }
        let episodes = view.locations.map(\.episode)
        let stored = view.incident
        let current = stored.map { FleetDecision.Target(status: $0.incident.status, stage: $0.incident.stage) }
        let target = FleetDecision.target(current: current, locations: episodes, quorum: spec.incident.quorum)
        guard target != current, let kind = Self.transition(from: current, to: target) else { return nil }
        let status = target?.status ?? current?.status ?? .minor
        let stage = target?.stage ?? .resolved
        let writer = IncidentWriter(probe: spec)
        let local = fleetState.lastEvents[spec.name]
        // This location's own words when its evaluator made the same change during the probe's window span.
        let own = local.flatMap { $0.event.kind == kind && at - $0.event.evidence.at <= Self.span(spec) ? $0 : nil }
        // This location's evidence is already in its own description: the line then gives only the others'.
        let line = FleetDecision.locationsLine(own == nil ? episodes : episodes.map { e in
            var e = e
            if e.location == location { e.summary = nil }
            return e
        })
        let description = (own?.description ?? writer.fleetSentence(kind, status: status)) + " "
            + line.prefix(1).uppercased() + line.dropFirst() + "."
        var evidence: [String: JSONValue] = [:]
        if let own, case .object(let fields) = own.event.evidence.json { evidence = fields }
        evidence["at"] = .string(UTCTime.iso8601(at))
        evidence["quorum"] = .string(spec.incident.quorum.description)
        evidence["required"] = .int(Int64(spec.incident.quorum.required(running: episodes.count)))
        evidence["locations"] = .array(episodes.map { e in
            .object(["location": .string(e.location), "status": e.status.map { .string($0.rawValue) } ?? .null,
                     "stage": e.stage.map { .string($0.rawValue) } ?? .null, "summary": e.summary.map { .string($0) } ?? .null])
        })
        let update = IncidentUpdate(kind: kind, stage: stage, status: status, createdAt: at, description: description,
                                    evidence: JSONValue.object(evidence).encoded)
        let mine = states[spec.name]?.incident
        var incident: Incident
        var tracking: OpenIncident
        if let stored {
            incident = stored.incident
            incident.status = status
            incident.stage = stage
            incident.updatedAt = at
            if stage == .resolved { incident.resolvedAt = at }
            incident.updates.append(update)
            tracking = stored.tracking
            tracking.status = status
            tracking.stage = stage
            if let mine {
                tracking.failedChecks = max(tracking.failedChecks, mine.failedChecks)
                if let p95 = mine.worstP95 { tracking.worstP95 = max(tracking.worstP95 ?? p95, p95) }
                tracking.worstFailures = max(tracking.worstFailures, mine.worstFailures)
            }
        } else {
            let degradedSince = view.locations.compactMap { $0.tracking?.degradedSince }.min() ?? at
            tracking = mine ?? OpenIncident(status: status, stage: stage, openedAt: at, degradedSince: degradedSince,
                                            failedChecks: 0, worstP95: nil, worstFailures: 0)
            tracking.status = status
            tracking.stage = stage
            tracking.openedAt = at
            tracking.degradedSince = min(tracking.degradedSince, degradedSince)
            let title = own.map { writer.title($0.event) } ?? "\(writer.name): degraded from \(FleetDecision.list(episodes.filter(\.degraded).map(\.location)))"
            incident = Incident(id: 0, probe: spec.name, serviceID: spec.incident.serviceID, title: title,
                                description: description, status: status, stage: stage, createdAt: at, updatedAt: at,
                                resolvedAt: nil, updates: [update])
        }
        let outbox = sinks.compactMap { $0.call(for: update, of: incident, probe: spec) }
        return IncidentChange(incident: incident, update: update, tracking: tracking, outbox: outbox)
    }

    /// The kind of change from one fleet state to another; nil when they are the same.
    static func transition(from current: FleetDecision.Target?, to target: FleetDecision.Target?) -> IncidentEvent.Kind? {
        switch (current, target) {
        case (nil, nil): return nil
        case (nil, .some): return .opened
        case (.some, nil): return .resolved
        case (.some(let c), .some(let t)):
            if c.stage == .monitoring, t.stage != .monitoring { return .relapsed }
            if c.stage != .monitoring, t.stage == .monitoring { return .monitoring }
            if t.status > c.status { return .escalated }
            if t.status < c.status { return .deescalated }
            return nil
        }
    }
}
