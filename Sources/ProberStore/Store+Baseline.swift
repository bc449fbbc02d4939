import ProberCore
import ProberStorage

extension Store {
    /// The probe's baseline for an episode that began at `until`: its passing checks in the `span` before,
    /// without the checks made while an earlier incident of the probe was open (from its first degraded check
    /// to its resolution). Empty for an unknown probe or when there are no such checks.
    ///
    /// The span is read as one-hour slices, the newest `perHour` checks of each: a whole day at any interval,
    /// in at most 24 index seeks and 1,440 rows (about 0.7 ms; reading every check of the day took 1.25 ms for
    /// the ~2,800 of a 30 s interval, so ~3.8 ms at 10 s, which a 10,000-probe outage would spend 38 s on).
    /// See `Baseline`.
    public func baseline(probe name: String, until: Int64, span: Int64 = Baseline.span,
                         perHour: Int = Baseline.perHour) throws -> Baseline {
        try read { db in try baseline(probe: name, until: until, span: span, perHour: perHour, db) }
    }

    /// The baselines of several probes' episodes (see `IncidentStorage.baselines`), in one read of the store's queue
    /// rather than one per probe (each is an index seek per hour of the span, cheap on a local file).
    public func baselines(_ episodes: [String: Int64]) throws -> [String: Baseline] {
        try read { db in
            var out: [String: Baseline] = [:]
            for (name, until) in episodes {
                out[name] = try baseline(probe: name, until: until, span: Baseline.span, perHour: Baseline.perHour, db)
            }
            return out
        }
    }

    private func baseline(probe name: String, until: Int64, span: Int64, perHour: Int, _ db: Connection) throws -> Baseline {
        guard let id = try probeID(name, create: false, db) else { return Baseline() }
        let from = until - span

        let excluded = try incidentSpans(of: id, from: from, until: until, db)

        var checks: [PackedPhases] = []
        var oldest = until
        var sliceEnd = until
        while sliceEnd > from {
            let sliceStart = max(sliceEnd - Self.hour, from)
            var taken = 0
            try forEachSample(probe: id, from: sliceStart, to: sliceEnd, newestFirst: true, db) { sample in
                guard sample.reason == 0, sample.hasPhases else { return true }
                if excluded.contains(where: { $0.contains(sample.ts) }) { return true }
                checks.append(PackedPhases(sample.phases))
                oldest = sample.ts
                taken += 1
                return taken < perHour
            }
            sliceEnd = sliceStart
        }
        return Baseline(checks, oldest: oldest, until: until)
    }

    private static let hour: Int64 = 3_600_000_000
}

extension Store {
    /// The episodes of the probe's incidents that overlap [from, until) (from `degraded_since` to the resolution,
    /// or `until` while open): the checks made during them are not the probe's usual ones.
    func incidentSpans(of id: Int64, from: Int64, until: Int64, _ db: Connection) throws -> [ClosedRange<Int64>] {
        let incidents = try db.prepare("""
            SELECT degraded_since, COALESCE(resolved_at, ?3) FROM incidents
            WHERE probe_id = ?1 AND degraded_since < ?3 AND COALESCE(resolved_at, ?3) >= ?2
            """)
        try incidents.bind(1, id)
        try incidents.bind(2, from)
        try incidents.bind(3, until)
        defer { incidents.reset() }
        var spans: [ClosedRange<Int64>] = []
        while try incidents.step() {
            let start = incidents.int64(0), end = incidents.int64(1)
            if start <= end { spans.append(start...end) }
        }
        return spans
    }
}
