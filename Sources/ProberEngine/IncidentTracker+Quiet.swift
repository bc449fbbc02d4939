import Logging
import ProberCore
import ProberStorage

/// Maintenance windows and silences in the tracker: a probe in one is evaluated with `quiet: .maintenance` (its
/// checks count, nothing opens, escalates or relapses, and a degradation holds its whole `for` again after it), and
/// an incident already open when one begins gets one timeline note saying so.
extension IncidentTracker {
    /// The silences in force, the current quiet period of each quiet probe, and a copy of those for `/metrics`.
    struct QuietState {
        /// Set by `SilenceWatcher` (through `silence(_:)`), read on the queue.
        var silences: [Silence] = []
        var periods: [String: QuietPeriod] = [:]
    }

    /// Replaces the silences in force (from `SilenceWatcher`); the next check of each probe applies them.
    public func silence(_ silences: [Silence]) {
        queue.async { self.quietState.silences = silences }
    }

    /// Each quiet probe's period, for `/metrics`. Never waits for the tracker's queue.
    public func quietPeriods() -> [String: QuietPeriod] {
        let specs = specs()  // a probe removed on a reload keeps its last period here; it is no longer shown
        return publishedQuiet.withLock { $0 }.filter { specs[$0.key] != nil }
    }

    /// The quiet the probe's check is evaluated with, on the queue: notes the start (and the end) of a quiet period.
    func quiet(_ spec: ProbeSpec, _ sample: Sample) -> Quiet? {
        let period = QuietPeriod.of(probe: spec.name, at: sample.startedAt, silences: quietState.silences, windows: spec.maintenance)
        let before = quietState.periods[spec.name]
        if period != before {
            quietState.periods[spec.name] = period
            let periods = quietState.periods
            publishedQuiet.withLock { $0 = periods }
            if let period, before == nil {
                began(period, spec: spec, at: sample.startedAt)
            } else if period == nil, let before {
                logger.notice("maintenance ended (\(before.cause)): a degradation must now hold for \(Human.duration(spec.incident.holdFor)) to open an incident",
                              metadata: ["probe.name": "\(spec.name)"])
            }
        }
        return period == nil ? nil : .maintenance
    }

    /// Logs the start, and notes it on the probe's open incident (when not in fleet mode: there the fleet's decision
    /// owns the incident, and this location simply publishes no new degradation).
    private func began(_ period: QuietPeriod, spec: ProbeSpec, at: Int64) {
        logger.notice("maintenance started (\(period.cause), until \(UTCTime.iso8601(period.until))): checks go on, no incident opens or escalates",
                      metadata: ["probe.name": "\(spec.name)", "quiet.reason": "\(period.reason.rawValue)"])
        guard fleet == nil, var incident = open[spec.name], let tracking = states[spec.name]?.incident else { return }
        var evidence: [String: JSONValue] = [
            "at": .string(UTCTime.iso8601(at)), "quiet": .string(period.reason.rawValue), "until": .string(UTCTime.iso8601(period.until)),
        ]
        if let id = period.silenceID { evidence["silence_id"] = .int(id) }
        let update = IncidentUpdate(kind: .noted, stage: incident.stage, status: incident.status, createdAt: at,
                                    description: period.note(now: at), evidence: JSONValue.object(evidence).encoded)
        incident.updatedAt = at
        incident.updates.append(update)
        open[spec.name] = incident
        store(IncidentChange(incident: incident, update: update, tracking: tracking,
                             outbox: sinks.compactMap { $0.call(for: update, of: incident, probe: spec) }), probe: spec.name)
        onChange()
    }
}
