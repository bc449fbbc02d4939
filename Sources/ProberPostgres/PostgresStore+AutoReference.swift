import ProberCore
import ProberStorage
import ProberStore

extension PostgresStore {
    /// The reference of the probe's automatic latency thresholds as of `at` (see `IncidentStorage.autoReference`),
    /// from `location`'s checks only when one is given (each location of a fleet has its own).
    ///
    /// One round trip: the same-hour slices (`AutoReferenceSlices`) and the 24 hourly slices of the baseline
    /// (the newest `Baseline.perHour` of each) in one lateral query, without the checks of earlier incidents.
    public func autoReference(probe name: String, location: String?, at: Int64) throws -> AutoReference {
        try read { db in
            guard let id = try probeID(name, db) else { return AutoReference(p95: nil, checks: 0) }
            let sameHour = AutoReferenceSlices(at: at)
            var lows: [Int64] = [], highs: [Int64] = [], kinds: [Int64] = [], limits: [Int64] = []
            for s in sameHour.slices {
                lows.append(s.start)
                highs.append(s.end)
                kinds.append(Int64(s.day))
                limits.append(Int64(AutoReferenceSlices.perSlice))
            }
            let hour: Int64 = 3_600_000_000
            var end = at
            while end > at - Baseline.span {
                lows.append(max(end - hour, at - Baseline.span))
                highs.append(end)
                kinds.append(0)
                limits.append(Int64(Baseline.perHour))
                end -= hour
            }
            let from = min(sameHour.from, at - Baseline.span)
            let incidents = try db.query("""
                SELECT degraded_since, COALESCE(resolved_at, $3) FROM incidents
                WHERE probe_id = $1 AND degraded_since < $3 AND COALESCE(resolved_at, $3) >= $2
                """, [.int(id), .int(from), .int(at)])
            func array(_ values: [Int64]) -> PGParam { .text("{" + values.map(String.init).joined(separator: ",") + "}") }
            var params: [PGParam] = [.int(id), array(lows), array(highs), array(kinds), array(limits),
                                     location.map { .text($0) } ?? .null]
            var exclusion = ""
            for i in 0..<incidents.count {
                let start = incidents.int64(i, 0), stop = incidents.int64(i, 1)
                guard start <= stop else { continue }
                params.append(.int(start))
                params.append(.int(stop))
                exclusion += " AND NOT (at BETWEEN $\(params.count - 1) AND $\(params.count))"
            }
            let r = try db.query("""
                SELECT s.k, x.at, x.phases
                FROM unnest($2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[]) AS s(lo, hi, k, n)
                CROSS JOIN LATERAL (
                    SELECT at, phases FROM samples
                    WHERE probe_id = $1 AND at >= s.lo AND at < s.hi AND reason = 0 AND phases IS NOT NULL
                      AND ($6::text IS NULL OR location = $6::text)\(exclusion)
                    ORDER BY at DESC LIMIT s.n
                ) x
                """, params)
            var hourChecks: [PackedPhases] = [], dayChecks: [PackedPhases] = []
            var days: Set<Int64> = []
            var oldest = at
            for i in 0..<r.count {
                let kind = r.int64(i, 0)
                let phases = PackedPhases(Self.phases(r, i, 2))
                if kind == 0 {
                    dayChecks.append(phases)
                    oldest = min(oldest, r.int64(i, 1))
                } else {
                    hourChecks.append(phases)
                    days.insert(kind)
                }
            }
            if days.count >= AutoReferenceSlices.daysNeeded, hourChecks.count >= AutoThresholds.learningChecks {
                return AutoReference(Baseline(hourChecks, oldest: at, until: at), sameHour: true)
            }
            return AutoReference(Baseline(dayChecks, oldest: oldest, until: at), sameHour: false)
        }
    }

    /// The registered probes with `latency: auto` that have fewer than 30 passing checks (every location's) in the
    /// 24 h before `now`, in one query (see `Store.learningProbes`).
    public func learningProbes(now: Int64) throws -> Set<String> {
        try read { db in
            let r = try db.query("""
                SELECT p.name FROM probes p
                WHERE position($1 in E'\\n' || p.settings) > 0
                  AND (SELECT count(*) FROM (SELECT 1 FROM samples s
                       WHERE s.probe_id = p.id AND s.at >= $2 AND s.at < $3 AND s.reason = 0 AND s.phases IS NOT NULL
                       LIMIT $4) AS recent) < $4
                """, [.text("\n" + ProbeInfo.autoThresholdsKey + "\t"), .int(now - Baseline.span), .int(now),
                      .int(Int64(AutoThresholds.learningChecks))])
            return Set((0..<r.count).map { r.string($0, 0) })
        }
    }
}
