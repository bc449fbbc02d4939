import ProberCore
import ProberStorage

extension PostgresStore {
    /// The baselines of several probes' episodes in one statement (see `IncidentStorage.baselines`): the same rows
    /// `baseline(probe:until:span:perHour:)` reads with two statements and one per hour of the span (26 a probe for a
    /// day), so a wave of probes opening together costs one round trip instead of 26 per probe.
    ///
    /// Each probe's span is cut into the same one-hour slices, newest first, and each slice keeps its newest
    /// `perHour` passing checks outside the probe's earlier incidents, as the per-probe read does.
    public func baselines(_ episodes: [String: Int64], span: Int64 = Baseline.span,
                          perHour: Int = Baseline.perHour) throws -> [String: Baseline] {
        guard !episodes.isEmpty else { return [:] }
        let names = Array(episodes.keys)
        return try read { db in
            let r = try db.query("""
                WITH req AS MATERIALIZED (
                    SELECT p.id, p.name, e.until FROM unnest($1::text[], $2::bigint[]) AS e(name, until)
                    JOIN probes p ON p.name = e.name),
                excluded AS MATERIALIZED (
                    SELECT i.probe_id, i.degraded_since AS lo, COALESCE(i.resolved_at, req.until) AS hi FROM req
                    JOIN incidents i ON i.probe_id = req.id AND i.degraded_since < req.until
                        AND COALESCE(i.resolved_at, req.until) >= req.until - $3),
                slices AS (
                    SELECT req.id, req.name, e AS slice_end, greatest(e - $4, req.until - $3) AS slice_start FROM req,
                    generate_series(req.until, req.until - $3 + 1, -$4::bigint) AS e)
                SELECT slices.name, s.at, s.phases FROM slices LEFT JOIN LATERAL (
                    SELECT at, phases FROM samples
                    WHERE probe_id = slices.id AND at >= slices.slice_start AND at < slices.slice_end AND reason = 0
                        AND phases IS NOT NULL
                        AND NOT EXISTS (SELECT 1 FROM excluded x WHERE x.probe_id = slices.id AND samples.at BETWEEN x.lo AND x.hi)
                    ORDER BY at DESC LIMIT $5) s ON true
                ORDER BY slices.id, slices.slice_end DESC, s.at DESC
                """, [.text(pgTextArray(names)), .text("{" + names.map { String(episodes[$0]!) }.joined(separator: ",") + "}"),
                      .int(span), .int(Self.bucket1h), .int(Int64(perHour))])
            // A probe the database does not know has no row, and the empty baseline, as `baseline` gives it.
            var checks: [String: (phases: [PackedPhases], oldest: Int64)] = [:]
            for i in 0..<r.count {
                let name = r.string(i, 0)
                var found = checks[name] ?? ([], episodes[name]!)
                if let at = r.int64OrNil(i, 1) {
                    found.phases.append(PackedPhases(Self.phases(r, i, 2)))
                    found.oldest = at
                }
                checks[name] = found
            }
            var out: [String: Baseline] = [:]
            for name in names {
                out[name] = checks[name].map { Baseline($0.phases, oldest: $0.oldest, until: episodes[name]!) } ?? Baseline()
            }
            return out
        }
    }

    public func baselines(_ episodes: [String: Int64]) throws -> [String: Baseline] {
        try baselines(episodes, span: Baseline.span, perHour: Baseline.perHour)
    }
}
