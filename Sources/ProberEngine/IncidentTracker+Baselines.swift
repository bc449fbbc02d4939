import ProberCore
import ProberStorage

/// Baselines read for a whole batch of checks: when many probes open at once (a wave), each opening's description
/// needs its probe's baseline, and read inside each evaluator step that was one read per probe (on PostgreSQL 26
/// statements a probe: 4,000 probes opening took over 100,000 round trips on the tracker's queue).
extension IncidentTracker {
    /// Runs on the queue: takes every check handed over so far, reads the baselines their evaluator steps will ask
    /// for in one `IncidentStorage.baselines`, then evaluates them in order.
    func evaluateIncoming() {
        let checks = incoming.withLock { waiting in
            defer { waiting = [] }
            return waiting
        }
        if !cutShort.current { readBaselines(for: checks) }
        for check in checks { evaluate(check.sample, quiet: check.quiet) }
    }

    /// Whether a passing check could take a healthy probe's window over a latency threshold: slower than the lowest
    /// one (a window's p95 rises only with such a check), or any check of a probe whose thresholds follow its reference.
    static func slow(_ sample: Sample, _ policy: IncidentPolicy) -> Bool {
        if policy.usesAutoLatency { return true }
        // Runs for every check of the batch: no array of the two limits (an allocation per check).
        guard let total = sample.phases.total else { return false }
        let lowest = min(policy.minor.latency?.microseconds ?? .max, policy.major.latency?.microseconds ?? .max)
        return total > lowest
    }

    /// Fills `baselines` with what the evaluator will ask for while it takes `checks`: each probe that may open or
    /// change an incident is stepped ahead on a copy of its state, noting the episodes whose baseline is not read
    /// yet. A healthy probe's passing check within its latency thresholds is skipped (no event can come of it), and so is
    /// an open incident whose baseline is read, so a quiet batch or a long outage costs a few comparisons a check;
    /// were one missed, its step would read its own baseline as before.
    ///
    /// A failed read is not logged here: each step then reads its own baseline, and logs its failure, as before.
    func readBaselines(for checks: [Check]) {
        var ahead: [String: EvaluatorState] = [:]
        var wanted: [String: Int64] = [:]
        for check in checks {
            let sample = check.sample
            guard let spec = probes[sample.probe] else { continue }
            let state: EvaluatorState
            if let stepped = ahead[sample.probe] {
                state = stepped
            } else {
                guard let current = states[sample.probe] else { continue }
                guard current.incident != nil || current.degradedSince != nil || current.level != .healthy
                        || sample.failure != nil || Self.slow(sample, spec.incident) else { continue }
                // An open incident's steps ask for its episode's baseline, read at its first change: in a long
                // outage every check would otherwise be evaluated twice. (Were it resolved and opened again within
                // this batch, the new episode's step reads its own baseline.)
                if let incident = current.incident, baselines[spec.name]?.since == incident.degradedSince { continue }
                state = current
            }
            // The reference as kept: refreshing it here would read storage twice (the step refreshes it).
            let evaluator = Evaluator(policy: spec.incident, interval: spec.interval,
                                      reference: autoReferences[spec.name]?.reference)
            let (next, _) = evaluator.evaluate(state, sample, quiet: check.quiet) { since in
                if baselines[spec.name]?.since != since { wanted[spec.name] = since }
                return Baseline()
            }
            ahead[sample.probe] = next
        }
        guard !wanted.isEmpty, let read = try? storage.baselines(wanted) else { return }
        for (probe, since) in wanted {
            if let baseline = read[probe] { baselines[probe] = (since, baseline) }
        }
    }
}
