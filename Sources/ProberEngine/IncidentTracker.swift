import Dispatch
import Foundation
import Logging
import ProberCore
import ProberStore

/// Runs every probe's evaluator and turns its events into stored incidents and queued deliveries.
///
/// Samples arrive from the probe engine's thread; evaluation and the incident writes run on the
/// tracker's own serial queue, so a slow database never delays a probe. `@unchecked Sendable`: all
/// mutable state (`probes`, `states`, `open`, `baselines`, `sinks`) is touched only on `queue`.
public final class IncidentTracker: @unchecked Sendable {
    private let store: Store
    private let logger: Logger
    private let queue = DispatchQueue(label: "prober.incidents")
    private var probes: [String: ProbeSpec] = [:]
    private var states: [String: EvaluatorState] = [:]
    /// The open incident of each probe, as stored.
    private var open: [String: Incident] = [:]
    /// The baseline of each open incident's episode, read from the store at its first change (it cannot
    /// change: it ends where the episode began).
    private var baselines: [String: (since: Int64, baseline: Baseline)] = [:]
    private var sinks: [NotifySink] = []
    /// Called on the tracker's queue after each stored change (the delivery worker wakes on it).
    private let onChange: @Sendable () -> Void

    public init(store: Store, logger: Logger, onChange: @escaping @Sendable () -> Void = {}) {
        self.store = store
        self.logger = logger
        self.onChange = onChange
    }

    /// Sets the probes (at start and on reload) and rebuilds the state of each probe not seen before from
    /// the database: its latest checks refill the window, its open incident continues.
    public func update(probes specs: [ProbeSpec], notify: [NotifySink]) {
        queue.sync {
            sinks = notify
            let previous = probes
            probes = Dictionary(specs.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            for name in states.keys where probes[name] == nil {
                states[name] = nil
                open[name] = nil
                baselines[name] = nil
            }
            let stored = (try? store.openIncidents()) ?? [:]
            for spec in specs {
                if let old = previous[spec.name], old.incident == spec.incident, states[spec.name] != nil { continue }
                rebuild(spec, stored: stored[spec.name])
            }
        }
    }

    private func rebuild(_ spec: ProbeSpec, stored: StoredIncident?) {
        let evaluator = Evaluator(policy: spec.incident)
        let history = (try? store.recentSamples(probe: spec.name, limit: spec.incident.window)) ?? []
        var tracking = stored?.tracking
        if let t = tracking, let recount = try? store.failureCount(probe: spec.name, since: t.degradedSince) {
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

    /// Feeds one check to its probe's evaluator (asynchronously, in order).
    public func record(_ sample: Sample) {
        queue.async { self.evaluate(sample) }
    }

    /// Waits until every sample handed to `record` so far has been evaluated.
    public func sync() { queue.sync {} }

    /// The configured probes by name (as last given to `update`), for metrics that depend on a probe's kind.
    public func specs() -> [String: ProbeSpec] { queue.sync { probes } }

    /// The level and open incident of every probe, for status and metrics.
    public func snapshot() -> [String: (level: Level, incident: Incident?)] {
        queue.sync {
            var out: [String: (level: Level, incident: Incident?)] = [:]
            for (name, state) in states { out[name] = (state.level, open[name]) }
            return out
        }
    }

    /// The level of every probe and the level of its open incident (nil when none): what `/metrics` shows,
    /// without copying each open `Incident` (at 10,000 probes `snapshot()` allocated 3.5 MB per scrape).
    public func levels() -> [String: (level: Level, incident: Severity?)] {
        queue.sync {
            var out: [String: (level: Level, incident: Severity?)] = [:]
            out.reserveCapacity(states.count)
            for (name, state) in states { out[name] = (state.level, open[name]?.status) }
            return out
        }
    }

    private func evaluate(_ sample: Sample) {
        guard let spec = probes[sample.probe], let state = states[sample.probe] else { return }
        let (next, events) = Evaluator(policy: spec.incident).evaluate(state, sample)
        states[sample.probe] = next
        guard !events.isEmpty else { return }
        let writer = IncidentWriter(probe: spec)
        for var event in events {
            event.evidence.baseline = baseline(spec.name, since: event.evidence.degradedSince)
            if event.stage == .resolved { baselines[spec.name] = nil }
            do {
                try apply(event, spec: spec, writer: writer, tracking: next.incident ?? resolvedTracking(event, state))
            } catch {
                // The evaluator moved on; the change is logged so an operator sees what was not stored.
                logger.error("could not store incident change", metadata: [
                    "probe.name": "\(spec.name)", "event": "\(event.kind.rawValue)", "error": "\(error)",
                ])
            }
        }
        onChange()
    }

    /// The baseline for the probe's episode that began at `since`, read once per episode. A store error
    /// leaves it empty (the description then has no baseline sentence); it is logged, not fatal.
    private func baseline(_ probe: String, since: Int64) -> Baseline {
        if let cached = baselines[probe], cached.since == since { return cached.baseline }
        do {
            let baseline = try store.baseline(probe: probe, until: since)
            baselines[probe] = (since, baseline)
            return baseline
        } catch {
            logger.error("could not read the baseline", metadata: ["probe.name": "\(probe)", "error": "\(error)"])
            return Baseline()
        }
    }

    /// The tracking to store with a resolution (the evaluator no longer holds an incident then).
    private func resolvedTracking(_ event: IncidentEvent, _ before: EvaluatorState) -> OpenIncident {
        var t = before.incident ?? OpenIncident(status: event.status, stage: .resolved, openedAt: event.evidence.openedAt,
                                                degradedSince: event.evidence.degradedSince, failedChecks: 0,
                                                worstP95: nil, worstFailures: 0)
        t.stage = .resolved
        t.failedChecks = event.evidence.failedChecks
        t.worstP95 = event.evidence.worstP95
        return t
    }

    private func apply(_ event: IncidentEvent, spec: ProbeSpec, writer: IncidentWriter, tracking: OpenIncident) throws {
        let at = event.evidence.at
        let update = IncidentUpdate(kind: event.kind, stage: event.stage, status: event.status, createdAt: at,
                                    description: writer.description(event), evidence: event.evidence.json.encoded)
        var metadata: Logger.Metadata = [
            "probe.name": "\(spec.name)", "incident.status": "\(event.status.rawValue)", "incident.stage": "\(event.stage.rawValue)",
        ]
        if event.kind == .opened {
            var incident = Incident(id: 0, probe: spec.name, serviceID: spec.incident.serviceID, title: writer.title(event),
                                    description: update.description, status: event.status, stage: event.stage,
                                    createdAt: at, updatedAt: at, resolvedAt: nil, updates: [update])
            // The calls are made once the id is known: the webhook document carries it.
            incident.id = try store.openIncident(incident, tracking: tracking) { id in
                var stored = incident
                stored.id = id
                return calls(update, stored, spec)
            }
            open[spec.name] = incident
            metadata["incident.id"] = "\(incident.id)"
            logger.warning("incident opened: \(incident.title)", metadata: metadata)
            return
        }
        guard var incident = open[spec.name] else {
            logger.error("incident change without an open incident", metadata: metadata)
            return
        }
        incident.status = event.status
        incident.stage = event.stage
        incident.updatedAt = at
        if event.stage == .resolved { incident.resolvedAt = at }
        incident.updates.append(update)
        try store.appendUpdate(incidentID: incident.id, update, tracking: tracking, outbox: calls(update, incident, spec))
        open[spec.name] = event.stage == .resolved ? nil : incident
        metadata["incident.id"] = "\(incident.id)"
        logger.notice("incident \(event.kind.rawValue): \(incident.title)", metadata: metadata)
    }

    /// The outgoing calls for one change: IsDown when the probe has a `service_id`, and every webhook of its file.
    private func calls(_ update: IncidentUpdate, _ incident: Incident, _ spec: ProbeSpec) -> [OutboxItem] {
        var items: [OutboxItem] = []
        let at = update.createdAt
        if spec.incident.serviceID != nil {
            let body = JSONValue.object(IsDown.body(for: update, incident: incident)).encoded
            items.append(OutboxItem(sink: "isdown", method: update.kind == .opened ? "POST" : "PATCH", body: body,
                                    nextAttemptAt: at, createdAt: at))
        }
        for sink in sinks where sink.probes.contains(spec.name) {
            let document = JSONValue.object([
                "event": .string(update.kind.rawValue),
                "data": IsDown.document(incident),
            ])
            items.append(OutboxItem(sink: sink.key, method: "POST", body: document.encoded, nextAttemptAt: at, createdAt: at))
        }
        return items
    }
}

extension NotifySink {
    /// How the outbox names this webhook: a hash of its URL (the scheduler's FNV-1a), so no secret in
    /// the URL reaches the database.
    public var key: String {
        let h = String(Schedule.fnv1a(webhook), radix: 16)
        return "webhook:" + String(repeating: "0", count: 16 - h.count) + h
    }
}
