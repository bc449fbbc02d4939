import ProberCore
import ProberStorage

extension IncidentTracker {
    /// The reference to evaluate a probe with `latency: auto` with (nil for other probes, which cost nothing):
    /// kept in memory, read again from storage when `Evaluator.needsReference` says so (every 5 min, sooner
    /// while learning, never during an episode). In a fleet, this location's checks only. A storage error keeps
    /// the last one (logged) and tries again at the next refresh. Runs on the tracker's queue.
    /// `now` is the check's start (wall clock, what storage is read as of); `elapsed` its monotonic time, which
    /// the refresh is timed on.
    func autoReference(_ spec: ProbeSpec, state: EvaluatorState, at now: Int64, elapsed: Int64) -> AutoReference? {
        guard spec.incident.usesAutoLatency else { return nil }
        let current = autoReferences[spec.name]
        guard Evaluator.needsReference(current?.reference, readAt: current?.readAt ?? 0, now: elapsed,
                                       interval: spec.interval, state: state) else { return current?.reference }
        // A tracker started during an episode reads the reference as it stood when the episode began.
        let asOf = current == nil ? (state.incident?.degradedSince ?? now) : now
        do {
            let fresh = try storage.autoReference(probe: spec.name, location: fleet?.location, at: asOf)
            autoReferences[spec.name] = (fresh, elapsed)
            if current?.reference.learning ?? true, !fresh.learning, let p95 = fresh.p95 {
                let limits = spec.incident.resolved(with: fresh)
                logger.info("automatic latency thresholds active: usual p95 \(Human.latency(microseconds: p95)) over \(fresh.checks) passing checks", metadata: [
                    "probe.name": "\(spec.name)",
                    "threshold.minor": "\(limits.minor.latency.map { Human.latency(microseconds: $0.microseconds) } ?? "-")",
                    "threshold.major": "\(limits.major.latency.map { Human.latency(microseconds: $0.microseconds) } ?? "-")",
                ])
            }
            return fresh
        } catch {
            logger.error("could not read the reference of the automatic thresholds", metadata: [
                "probe.name": "\(spec.name)", "error": "\(error)",
            ])
            autoReferences[spec.name] = (current?.reference ?? AutoReference(p95: nil, checks: 0), elapsed)
            return current?.reference
        }
    }
}
