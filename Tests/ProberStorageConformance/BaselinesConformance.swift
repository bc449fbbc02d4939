import ProberCore
import ProberStorage
import Testing

extension IncidentConformance {
    /// `baselines` (a wave's read, one statement on PostgreSQL) gives each probe exactly what `baseline` gives it:
    /// the newest `perHour` passing checks of each hour, without an earlier incident's, for probes with and without
    /// checks, and the empty baseline for a probe storage does not know.
    static func baselinesMatchEachProbesBaseline(_ backend: ConformanceBackend) throws {
        try backend.withStorage { storage, _ in
            let hour: Int64 = 3_600_000_000
            // api: 6 h every minute with failures and an incident from t+1h to t+2h; web: 3 h every 30 s (more than
            // `perHour` an hour); down: every check failed.
            try record(makeSamples(probe: "api", start: t, interval: 60_000_000, count: 360, failureRate: 0.1)
                + makeSamples(probe: "web", start: t + 2 * hour, interval: 30_000_000, count: 360, failureRate: 0.05, seed: 2)
                + makeSamples(probe: "down", start: t, interval: 600_000_000, count: 30, failureRate: 1, seed: 3),
                into: storage)
            var resolved = tracking(at: t + hour + 600_000_000)
            resolved.degradedSince = t + hour
            let id = try open(storage, incident(at: t + hour + 600_000_000), tracking: resolved, outbox: [])
            resolved.stage = .resolved
            try append(storage, incidentID: id, update(.resolved, at: t + 2 * hour, stage: .resolved), tracking: resolved,
                       outbox: [])

            let episodes: [String: Int64] = ["api": t + 6 * hour, "web": t + 4 * hour + 1, "down": t + 5 * hour,
                                             "nope": t + 5 * hour]
            let together = try storage.baselines(episodes)
            #expect(Set(together.keys) == Set(episodes.keys))
            for (probe, until) in episodes {
                #expect(together[probe] == (try storage.baseline(probe: probe, until: until)), "\(probe)")
            }
            #expect((together["api"]?.checks ?? 0) > 0 && (together["web"]?.checks ?? 0) > 0)
            #expect(together["down"]?.checks == 0)
            #expect(together["nope"] == Baseline())
            #expect(try storage.baselines([:]).isEmpty)
        }
    }
}
