import Foundation
import ProberCore
import ProberStorage
import ProberStore

extension PostgresStore {
    /// History of one probe over `[since, until)`, every location's checks together (see `HistoryReading`).
    /// Each location is planned as SQLite plans a probe (raw samples, 5-minute and 1-hour rollups, no check
    /// counted twice) and the answers are merged bucket by bucket.
    public func history(probe name: String, since: Int64, until: Int64, every: Int64?, phase: Phases.Name) throws -> History? {
        try histories(probe: name, only: nil, perLocation: false, since: since, until: until, every: every, phase: phase)?.total
    }

    /// The history and each location's share of it (see `LocationReading`).
    public func locationHistory(probe name: String, location: String?, since: Int64, until: Int64, every: Int64?,
                                phase: Phases.Name) throws -> LocationHistory? {
        try histories(probe: name, only: location, perLocation: true, since: since, until: until, every: every, phase: phase)
    }

    /// The locations with checks of a probe (a row in `probe_locations`), sorted.
    public func locations(probe name: String) throws -> [String] {
        try read { db in
            let r = try db.query("""
                SELECT l.location FROM probe_locations l JOIN probes p ON p.id = l.probe_id WHERE p.name = $1
                ORDER BY l.location COLLATE "C"
                """, [.text(name)])
            return (0..<r.count).map { r.string($0, 0) }
        }
    }

    /// One read for `history` and `locationHistory`: every location's plan, one width for all, the buckets summed
    /// and, with `perLocation`, kept apart too. `only` restricts it to one location (nil when it has no checks).
    private func histories(probe name: String, only: String?, perLocation: Bool, since: Int64, until: Int64, every: Int64?,
                           phase: Phases.Name) throws -> LocationHistory? {
        try read { db in
            let range = max(until - since, 1)
            let requested = every ?? History.automaticEvery(range: range)
            let preferred: HistoryResolution = range <= Self.rawHistoryRange ? .raw
                : requested >= Self.bucket1h && range > 3 * Self.day ? .rollup1h : .rollup5m
            // The probe's id and every location's watermarks and oldest rows in one statement (a statement per location
            // and table cost 70 round trips at 10 locations): no row for an unknown probe, one without a location for
            // a probe with no checks yet.
            let sites = try db.query("""
                SELECT p.id, l.location, l.rolled_5m, l.rolled_1h,
                    (SELECT min(at) FROM samples s WHERE s.probe_id = l.probe_id AND s.location = l.location),
                    (SELECT min(bucket) FROM rollup_5m r WHERE r.probe_id = l.probe_id AND r.location = l.location),
                    (SELECT min(bucket) FROM rollup_1h r WHERE r.probe_id = l.probe_id AND r.location = l.location)
                FROM probes p LEFT JOIN probe_locations l ON l.probe_id = p.id WHERE p.name = $1
                ORDER BY l.location COLLATE "C"
                """, [.text(name)], binary: true)
            guard sites.count > 0 else { return nil }
            let id = sites.int64(0, 0)
            var plans: [(site: String, plan: Plan)] = []
            for i in 0..<sites.count where !sites.isNull(i, 1) {
                let site = sites.string(i, 1)
                if let only, site != only { continue }
                plans.append((site, Self.plan(rolled5m: sites.int64OrNil(i, 2), rolled1h: sites.int64OrNil(i, 3), minRaw: sites.int64OrNil(i, 4),
                                              min5m: sites.int64OrNil(i, 5), min1h: sites.int64OrNil(i, 6), preferred: preferred,
                                              since: since, until: until)))
            }
            if only != nil, plans.isEmpty { return nil }
            func resolutions(_ plans: [(site: String, plan: Plan)]) -> [HistoryResolution] {
                [HistoryResolution.rollup1h, .rollup5m, .raw].filter { r in plans.contains { $0.plan.sources.contains(r) } }
            }
            let sources = resolutions(plans)

            var width = requested
            let coarsest = sources.first?.width ?? 1
            if width % coarsest != 0 { width = (width / coarsest + 1) * coarsest }
            width = max(width, 1)
            if range / width > History.maxBuckets {
                width = (range / History.maxBuckets / coarsest + 1) * coarsest
            }
            let first = Self.floor(since, width)
            let count = max(Int((until - first + width - 1) / width), 0)
            var buckets = [Aggregate](repeating: Aggregate(), count: count)
            // Each table read once for every location's stretch of it, by location (and each location's rows
            // merged in the order they were read one location at a time: 1-hour, 5-minute, raw).
            let hours = try rollups(table: "rollup_1h", probe: id, plans.filter { $0.plan.sources.contains(.rollup1h) }
                .map { ($0.site, $0.plan.hourFrom, $0.plan.hourTo) }, db)
            let fives = try rollups(table: "rollup_5m", probe: id, plans.filter { $0.plan.sources.contains(.rollup5m) }
                .map { ($0.site, $0.plan.fiveFrom, $0.plan.fiveTo) }, db)
            let rawPlans = plans.filter { $0.plan.sources.contains(.raw) }
            var raw: [String: [Int]] = [:]
            let r = rawPlans.isEmpty ? nil : try db.query(Self.historyRawSQL, [
                .int(id), .text(pgTextArray(rawPlans.map(\.site))), .text(Self.idArray(rawPlans.map(\.plan.rawFrom))),
                .int(rawPlans.map(\.plan.rawFrom).min() ?? until), .int(until)])
            if let r { for row in 0..<r.count { raw[r.string(row, 0), default: []].append(row) } }
            var located: [LocatedHistory] = []
            for (site, plan) in plans {
                // With `perLocation` the location's buckets are filled alone and merged into the total after (merging
                // keeps raw percentiles exact), so no check is aggregated twice.
                var own = [Aggregate](repeating: Aggregate(), count: perLocation ? count : 0)
                for rollups in [hours, fives] {
                    guard let result = rollups.result else { continue }
                    for row in rollups.rows[site] ?? [] {
                        let i = Int((result.int64(row, 1) - first) / width)
                        guard i >= 0, i < buckets.count else { continue }
                        if perLocation {
                            own[i].mergeRollup(result, row, from: 2)
                        } else {
                            buckets[i].mergeRollup(result, row, from: 2)
                        }
                    }
                }
                if let r, let rows = raw[site] {
                    for row in rows {
                        let i = Int((r.int64(row, 1) - first) / width)
                        guard i >= 0, i < buckets.count else { continue }
                        if perLocation {
                            own[i].add(reason: Int(r.int64(row, 2)), phases: Self.phases(r, row, 3))
                        } else {
                            buckets[i].add(reason: Int(r.int64(row, 2)), phases: Self.phases(r, row, 3))
                        }
                    }
                }
                if perLocation {
                    for i in own.indices { buckets[i].merge(own[i]) }
                    located.append(LocatedHistory(location: site, history: Aggregate.history(
                        probe: name, since: since, until: until, first: first, every: width, phase: phase,
                        sources: resolutions([(site, plan)]), buckets: own)))
                }
            }
            let total = Aggregate.history(probe: name, since: since, until: until, first: first, every: width, phase: phase,
                                          sources: sources, buckets: buckets)
            return LocationHistory(total: total, locations: located)
        }
    }

    /// The raw samples of `history`: `$1` the probe, `$2` and `$3` the locations and where each one's raw stretch
    /// begins, `$4` the earliest of those and `$5` the end. A range of the primary key (probe, location, time) per
    /// location (see `rollups`); `$4` and `$5` bound the day partitions scanned before the plan is made.
    static let historyRawSQL = """
        SELECT u.location, s.at, s.reason, s.phases FROM unnest($2::text[], $3::bigint[]) AS u(location, lo)
        CROSS JOIN LATERAL (SELECT at, reason, phases FROM samples WHERE probe_id = $1 AND location = u.location
            AND at >= u.lo AND at >= $4 AND at < $5 ORDER BY at) s
        """

    /// A rollup table's rows for `history`: `location, bucket` and the rollup columns, in binary format (merged into
    /// the buckets in place, as they are read); each location's rows, oldest first.
    private struct RollupRows {
        var result: PGResult?
        var rows: [String: [Int]] = [:]
    }

    /// The rows of a rollup table in each location's `[from, to)`: one statement.
    ///
    /// Each location's stretch is a range of the primary key (probe, location, bucket), read as one (a lateral join).
    /// Joined on the location instead, the planner bounded the scan by the probe alone, and the time filtered what it
    /// read: every row of the probe in the table or the day partition. With a probe's share of a partition misjudged
    /// (`bench/fleet/run` seeds a day of one probe's checks beside the others' minutes), the raw samples' read became
    /// a parallel scan of the whole day: 40-85 ms of a 150 ms `history`, against 0.5 ms this way.
    private func rollups(table: String, probe: Int64, _ ranges: [(site: String, from: Int64, to: Int64)], _ db: PGConnection) throws
        -> RollupRows {
        guard !ranges.isEmpty else { return RollupRows() }
        let r = try db.query("""
            SELECT u.location, r.bucket, r.checks, r.failures, r.reasons, r.lat_n, r.lat_min, r.lat_max, r.lat_sum, r.hist, r.phases
            FROM unnest($2::text[], $3::bigint[], $4::bigint[]) AS u(location, lo, hi)
            CROSS JOIN LATERAL (SELECT * FROM \(table) WHERE probe_id = $1 AND location = u.location AND bucket >= u.lo
                AND bucket < u.hi ORDER BY bucket) r
            """, [.int(probe), .text(pgTextArray(ranges.map(\.site))), .text(Self.idArray(ranges.map(\.from))),
                  .text(Self.idArray(ranges.map(\.to)))], binary: true)
        var out = RollupRows(result: r)
        for i in 0..<r.count { out.rows[r.string(i, 0), default: []].append(i) }
        return out
    }

    /// The longest range read from raw samples where rollups exist (SQLite: 3 days). A day partition holds every
    /// probe's checks in arrival order, so one probe's checks of a day are a heap page each (8,640 per location at
    /// 10 s, 86,400 random reads at 10 locations); past this, the 5-minute rollups below each location's watermark
    /// (288 rows a day) answer, with percentiles within `LatencyHistogram.relativeError`.
    static let rawHistoryRange: Int64 = 6 * 3_600_000_000

    /// Which table covers which stretch of one location's checks, clipped to the range.
    struct Plan {
        var hourFrom: Int64, hourTo: Int64, fiveFrom: Int64, fiveTo: Int64, rawFrom: Int64
        var sources: Set<HistoryResolution>
    }

    /// SQLite's plan (`Store.plan`) for one location: 1-hour rollups before `fiveFrom`, 5-minute rollups in
    /// `[fiveFrom, rawFrom)`, raw samples from `rawFrom`; a coarser bucket only whole and complete.
    private static func plan(rolled5m: Int64?, rolled1h: Int64?, minRaw: Int64?, min5m: Int64?, min1h: Int64?,
                             preferred: HistoryResolution, since: Int64, until: Int64) -> Plan {
        let never = Int64.max / 2

        var rawFrom: Int64
        if preferred == .raw, let minRaw {
            rawFrom = minRaw
            if let min5m, min5m < minRaw, let rolled5m {
                rawFrom = min(Self.ceil(minRaw, Self.bucket5m), rolled5m)
            }
        } else {
            rawFrom = rolled5m ?? minRaw ?? never
            if let minRaw, rolled5m == nil || minRaw > rolled5m! { rawFrom = minRaw }
        }
        var fiveFrom: Int64
        if preferred != .rollup1h, let min5m {
            fiveFrom = min5m
            if let min1h, min1h < min5m, let rolled1h {
                fiveFrom = min(Self.ceil(min5m, Self.bucket1h), rolled1h)
            }
        } else {
            fiveFrom = rolled1h ?? min5m ?? rawFrom
            if let min5m, rolled1h == nil || min5m > rolled1h! { fiveFrom = min5m }
        }
        fiveFrom = min(fiveFrom, rawFrom)

        var plan = Plan(hourFrom: Self.floor(since, Self.bucket1h), hourTo: min(until, fiveFrom),
                        fiveFrom: max(Self.floor(since, Self.bucket5m), fiveFrom), fiveTo: min(until, rawFrom),
                        rawFrom: max(since, rawFrom), sources: [])
        if plan.hourFrom < plan.hourTo, min1h != nil { plan.sources.insert(.rollup1h) }
        if plan.fiveFrom < plan.fiveTo, min5m != nil { plan.sources.insert(.rollup5m) }
        if plan.rawFrom < until { plan.sources.insert(.raw) }
        return plan
    }

    // MARK: Status, recent samples, baseline

    /// Per probe: the last check (of any location) and the last hour of every location's checks merged, each location
    /// read from its `location_summary` row (see `locatedHours`). Two statements whatever the number of probes (a
    /// fleet's status must not cost a round trip per probe, nor the hour's raw samples).
    public func status(now: Int64) throws -> [ProbeStatus] {
        try read { db in try probeLines(try locatedHours(now: now, probes: nil, lastHour: true, db), db).lines }
    }

    /// The probe lines of `status` from every location's summary row, and every probe's name by id.
    func probeLines(_ located: [LocatedHour], _ db: PGConnection) throws -> (lines: [ProbeStatus], names: [Int64: String]) {
        let probes = try db.query("SELECT id, name, kind, target FROM probes ORDER BY name COLLATE \"C\"")
        var rows: [ProbeStatus] = []
        var index: [Int64: Int] = [:]
        var names: [Int64: String] = [:]
        for p in 0..<probes.count {
            let name = probes.string(p, 1)
            index[probes.int64(p, 0)] = rows.count
            names[probes.int64(p, 0)] = name
            rows.append(ProbeStatus(name: name, kind: probes.string(p, 2), target: probes.string(p, 3)))
        }
        var hours = [SummaryHour](repeating: SummaryHour(), count: rows.count)
        for located in located {
            guard let i = index[located.probe] else { continue }
            hours[i].merge(located.hour)
            if let last = located.last, last.at > rows[i].last?.at ?? .min { rows[i].last = last }
        }
        for i in rows.indices { rows[i].setHour(hours[i]) }
        return (rows, names)
    }

    /// The probe's last `limit` samples of every location, oldest first (see `HistoryReading`).
    public func recentSamples(probe name: String, limit: Int) throws -> [Sample] {
        try read { db in
            guard let id = try probeID(name, db) else { return [] }
            let r = try db.query("""
                SELECT s.at, s.reason, s.status, s.phases, s.bytes, s.family FROM probe_locations l
                CROSS JOIN LATERAL (SELECT at, reason, status, phases, bytes, family FROM samples
                    WHERE probe_id = l.probe_id AND location = l.location ORDER BY at DESC LIMIT $2) s
                WHERE l.probe_id = $1 ORDER BY s.at DESC LIMIT $2
                """, [.int(id), .int(Int64(limit))])
            var samples: [Sample] = []
            for i in 0..<r.count {
                let code = Int(r.int64(i, 1))
                let failure = code == 0 ? nil : FailureReason(code: code).map { Failure($0, $0.rawValue) } ?? Failure(.other, "other")
                let family = r.int64OrNil(i, 5).map { $0 == 1 ? IPFamily.ipv6 : .ipv4 }
                samples.append(Sample(probe: name, startedAt: r.int64(i, 0), failure: failure, phases: Self.phases(r, i, 3),
                                      status: r.int64OrNil(i, 2).map(Int.init), bytes: r.int64OrNil(i, 4), ipFamily: family))
            }
            return samples.reversed()
        }
    }

    /// The probe's baseline for an episode that began at `until`, from every location's passing checks
    /// (see `HistoryReading.baseline`): hour by hour, the newest `perHour`, without earlier incidents' checks.
    public func baseline(probe name: String, until: Int64, span: Int64, perHour: Int) throws -> Baseline {
        try read { db in
            guard let id = try probeID(name, db) else { return Baseline() }
            let from = until - span
            let incidents = try db.query("""
                SELECT degraded_since, COALESCE(resolved_at, $3) FROM incidents
                WHERE probe_id = $1 AND degraded_since < $3 AND COALESCE(resolved_at, $3) >= $2
                """, [.int(id), .int(from), .int(until)])
            var excluded: [ClosedRange<Int64>] = []
            for i in 0..<incidents.count {
                let start = incidents.int64(i, 0), end = incidents.int64(i, 1)
                if start <= end { excluded.append(start...end) }
            }
            var exclusion = ""
            var params: [PGParam] = [.int(id), .int(0), .int(0), .int(Int64(perHour))]
            for range in excluded {
                params.append(.int(range.lowerBound))
                params.append(.int(range.upperBound))
                exclusion += " AND NOT (at BETWEEN $\(params.count - 1) AND $\(params.count))"
            }
            let sql = """
                SELECT at, phases FROM samples
                WHERE probe_id = $1 AND at >= $2 AND at < $3 AND reason = 0 AND phases IS NOT NULL\(exclusion)
                ORDER BY at DESC LIMIT $4
                """
            var checks: [PackedPhases] = []
            var oldest = until
            var sliceEnd = until
            while sliceEnd > from {
                let sliceStart = max(sliceEnd - Self.bucket1h, from)
                params[1] = .int(sliceStart)
                params[2] = .int(sliceEnd)
                let r = try db.query(sql, params)
                for i in 0..<r.count {
                    checks.append(PackedPhases(Self.phases(r, i, 1)))
                    oldest = r.int64(i, 0)
                }
                sliceEnd = sliceStart
            }
            return Baseline(checks, oldest: oldest, until: until)
        }
    }

    public func baseline(probe: String, until: Int64) throws -> Baseline {
        try baseline(probe: probe, until: until, span: Baseline.span, perHour: Baseline.perHour)
    }
}
