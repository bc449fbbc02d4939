import ProberCore
import ProberStorage
import ProberStore

/// `prober status`, per probe and per location: each location's hour read as the overview reads it (5-minute
/// rollups below its `rolled_5m` watermark, raw samples only above), a fixed number of statements whatever the
/// number of probes and locations.
extension PostgresStore {
    /// Each location that checked a probe in the day before `now`: its last check, its last hour and its published
    /// episode (see `LocationReading`).
    public func locationStatus(now: Int64, probes: [String]?, lastHour: Bool) throws -> [String: [LocationStatus]] {
        try read { db in
            var ids: [Int64]?
            var names: [Int64: String] = [:]
            let known = try probes.map { try db.query("SELECT id, name FROM probes WHERE name = ANY($1::text[])", [.text(pgTextArray($0))]) }
                ?? db.query("SELECT id, name FROM probes")
            for r in 0..<known.count { names[known.int64(r, 0)] = known.string(r, 1) }
            if probes != nil { ids = Array(names.keys) }
            let located = try locatedHours(now: now, probes: ids, lastHour: lastHour, db)
                .filter { ($0.last?.at ?? .min) >= now - Self.day && names[$0.probe] != nil }
                .sorted { (names[$0.probe]!, $0.location) < (names[$1.probe]!, $1.location) }
            guard !located.isEmpty else { return [:] }
            struct Key: Hashable { var probe: Int64, location: String }
            var index: [Key: Int] = [:]
            var rows: [LocationStatus] = []
            for l in located {
                index[Key(probe: l.probe, location: l.location)] = rows.count
                var status = LocationStatus(location: l.location, last: l.last)
                status.setHour(l.hour)
                rows.append(status)
            }
            let episodes = try db.query("SELECT probe_id, location, status, stage, summary FROM fleet_episodes WHERE probe_id = ANY($1::bigint[])",
                                        [.text(Self.idArray(Set(located.map(\.probe))))])
            for r in 0..<episodes.count {
                guard let i = index[Key(probe: episodes.int64(r, 0), location: episodes.string(r, 1))] else { continue }
                let status = episodes.stringOrNil(r, 2).flatMap(Severity.init(rawValue:))
                rows[i].episode = LocationEpisode(
                    location: episodes.string(r, 1), status: status,
                    stage: status == nil ? nil : episodes.stringOrNil(r, 3).flatMap(ResolutionStage.init(rawValue:)),
                    summary: episodes.stringOrNil(r, 4))
            }
            var out: [String: [LocationStatus]] = [:]
            for (l, row) in zip(located, rows) { out[names[l.probe]!, default: []].append(row) }
            return out
        }
    }

    /// One location's checks of a probe as `status` shows them.
    struct LocatedHour {
        var probe: Int64
        var location: String
        /// The location's newest check, of any age.
        var last: ProbeStatus.LastCheck?
        /// The hour's checks (see `locatedHours`); empty without `lastHour`.
        var hour = Aggregate()
    }

    /// Every location of every probe (of `ids`, or all), with its last check and, with `lastHour`, its hour before
    /// `now`: three statements whatever the number of probes and locations.
    ///
    /// Per location, as the overview reads it: 5-minute rollups from the first bucket that begins in the hour up to
    /// its `rolled_5m` watermark, raw samples from the watermark to `now`, so no check counts twice and a fleet's
    /// status reads some minutes of raw samples per location, not the hour's (360,000 rows at 10 locations × 1,000
    /// probes). Until a location has rolled up part of the hour its hour is exactly `[now - 1 h, now]` from raw
    /// samples; after, it begins at that first whole bucket (55 to 60 minutes) and its p95 comes from the rollups'
    /// histogram (within `LatencyHistogram.relativeError`). The raw rows give each location's last check too; only
    /// the locations without a raw check since their watermark look theirs up (a backward primary-key seek).
    func locatedHours(now: Int64, probes ids: [Int64]?, lastHour: Bool, _ db: PGConnection) throws -> [LocatedHour] {
        struct Key: Hashable { var probe: Int64, location: String }
        var out: [LocatedHour] = []
        var index: [Key: Int] = [:]
        func row(_ probe: Int64, _ location: String) -> Int {
            let key = Key(probe: probe, location: location)
            if let i = index[key] { return i }
            index[key] = out.count
            out.append(LocatedHour(probe: probe, location: location))
            return out.count - 1
        }
        // With `ids`, each statement's last parameter is them.
        func only(_ params: [PGParam], _ glue: String) -> (String, [PGParam]) {
            guard let ids else { return ("", params) }
            return ("\n\(glue) l.probe_id = ANY($\(params.count + 1)::bigint[])", params + [.text(Self.idArray(ids))])
        }
        if lastHour {
            // $1: the hour's start; $2: the first 5-minute bucket that begins in it; $3: the first bucket that ends
            // after `now`. A location's split point: its watermark clamped to [$2, $3], or $1 (raw samples only) when
            // nothing of the hour is rolled up. Raw samples past `now` are read too, for the last check only.
            // `OFFSET 0` keeps each lateral a primary-key range scan per location: flattened into a hash join, the
            // planner scans the whole day partition instead.
            let split = "CASE WHEN l.rolled_5m > $2 THEN least(l.rolled_5m, $3) ELSE $1 END"
            let from = now - Self.bucket1h
            let params: [PGParam] = [.int(from), .int(Self.ceil(from, Self.bucket5m)), .int(Self.floor(now + 1, Self.bucket5m))]
            let (rollupsOnly, rollupsParams) = only(params, "AND")
            let rollups = try db.query("""
                SELECT l.probe_id, l.location, r.checks, r.failures, r.reasons, r.lat_n, r.lat_min, r.lat_max, r.lat_sum,
                    r.hist, r.phases FROM probe_locations l
                CROSS JOIN LATERAL (SELECT * FROM rollup_5m WHERE probe_id = l.probe_id AND location = l.location
                    AND bucket >= $2 AND bucket < \(split) OFFSET 0) r
                WHERE l.rolled_5m > $2\(rollupsOnly)
                """, rollupsParams)
            for r in 0..<rollups.count {
                let i = row(rollups.int64(r, 0), rollups.string(r, 1))
                out[i].hour.mergeRollup(checks: Int(rollups.int64(r, 2)), failures: Int(rollups.int64(r, 3)),
                                        reasons: rollups.bytes(r, 4) ?? [], latencyCount: Int(rollups.int64(r, 5)),
                                        min: rollups.int64OrNil(r, 6), max: rollups.int64OrNil(r, 7), sum: rollups.int64(r, 8),
                                        histogram: rollups.bytes(r, 9) ?? [], phases: rollups.bytes(r, 10) ?? [])
            }
            let (rawOnly, rawParams) = only(params, "WHERE")
            let raw = try db.query("""
                SELECT l.probe_id, l.location, s.at, s.reason, s.status, s.phases FROM probe_locations l
                CROSS JOIN LATERAL (SELECT at, reason, status, phases FROM samples WHERE probe_id = l.probe_id
                    AND location = l.location AND at >= \(split) OFFSET 0) s
                \(rawOnly)
                """, rawParams)
            for r in 0..<raw.count {
                let i = row(raw.int64(r, 0), raw.string(r, 1))
                let reason = Int(raw.int64(r, 3))
                let phases = Self.phases(raw, r, 5)
                let at = raw.int64(r, 2)
                if at <= now { out[i].hour.add(reason: reason, phases: phases) }
                if at >= out[i].last?.at ?? .min {
                    out[i].last = .init(at: at, reason: reason == 0 ? nil : FailureReason(code: reason) ?? .other,
                                        status: raw.int64OrNil(r, 4).map(Int.init), latency: phases.total)
                }
            }
        }
        // The locations whose last check is not among the raw rows read (all of them without `lastHour`).
        let found = out.filter { $0.last != nil }
        let (lastOnly, lastParams) = only([.text(Self.idArray(found.map(\.probe))), .text(pgTextArray(found.map(\.location)))], "AND")
        let last = try db.query("""
            SELECT l.probe_id, l.location, s.at, s.reason, s.status, s.phases FROM probe_locations l
            CROSS JOIN LATERAL (SELECT at, reason, status, phases FROM samples
                WHERE probe_id = l.probe_id AND location = l.location ORDER BY at DESC LIMIT 1) s
            WHERE NOT EXISTS (SELECT 1 FROM unnest($1::bigint[], $2::text[]) f(probe_id, location)
                WHERE f.probe_id = l.probe_id AND f.location = l.location)\(lastOnly)
            """, lastParams)
        for r in 0..<last.count {
            let i = row(last.int64(r, 0), last.string(r, 1))
            let reason = Int(last.int64(r, 3))
            out[i].last = .init(at: last.int64(r, 2), reason: reason == 0 ? nil : FailureReason(code: reason) ?? .other,
                                status: last.int64OrNil(r, 4).map(Int.init), latency: Self.phases(last, r, 5).total)
        }
        return out
    }

    /// A `bigint[]` literal.
    static func idArray<S: Sequence>(_ ids: S) -> String where S.Element == Int64 {
        "{" + ids.map(String.init).joined(separator: ",") + "}"
    }
}

extension LocationStatus {
    /// Checks, failures, uptime and p95 from the location's hour.
    mutating func setHour(_ hour: Aggregate) {
        checks1h = hour.checks
        failures1h = hour.failures
        if checks1h > 0 { uptime1h = Double(checks1h - failures1h) * 100 / Double(checks1h) }
        p95_1h = hour.percentile(0.95)
    }
}

extension ProbeStatus {
    /// Checks, failures, uptime and p95 from the probe's hour (every location merged).
    mutating func setHour(_ hour: Aggregate) {
        checks1h = hour.checks
        failures1h = hour.failures
        if checks1h > 0 { uptime1h = Double(checks1h - failures1h) * 100 / Double(checks1h) }
        p95_1h = hour.percentile(0.95)
    }
}
