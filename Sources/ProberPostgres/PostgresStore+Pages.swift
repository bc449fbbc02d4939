import Foundation
import ProberCore
import ProberStorage
import ProberStore

/// The reads the pages add (the probe listing, every probe's last check, the status page's days and hours), each
/// a fixed number of statements whatever the number of probes: a page of 200 probes must not cost 200 round trips.
extension PostgresStore {
    static let day: Int64 = 86_400_000_000

    public func probeInfos() throws -> [ProbeInfo] {
        try read { db in
            // The settings are left out, as SQLite does: the listing needs names, kinds, targets and files.
            let r = try db.query("SELECT name, kind, target, file FROM probes ORDER BY name COLLATE \"C\"")
            return (0..<r.count).map { ProbeInfo(name: r.string($0, 0), kind: r.string($0, 1), target: r.string($0, 2), file: r.string($0, 3)) }
        }
    }

    /// The newest check of any location, per probe: one statement over `location_summary`, as `status` reads it.
    public func lastChecks() throws -> [String: ProbeStatus.LastCheck] {
        try read { db in
            let names = try db.query("SELECT id, name FROM probes")
            var name: [Int64: String] = [:]
            for i in 0..<names.count { name[names.int64(i, 0)] = names.string(i, 1) }
            var out: [String: ProbeStatus.LastCheck] = [:]
            for located in try locatedHours(now: clock.now(), probes: nil, lastHour: false, db) {
                guard let probe = name[located.probe], let last = located.last, last.at > out[probe]?.at ?? .min else { continue }
                out[probe] = last
            }
            return out
        }
    }

    /// Daily checks and hourly p95 of each probe, every location summed (see `HistoryReading.overview`).
    ///
    /// Per location, as SQLite per probe: 1-hour rollups before its `rolled_1h`, 5-minute rollups in
    /// `[rolled_1h, rolled_5m)`, raw samples from `rolled_5m`, so no check counts twice. The watermarks are joined
    /// in SQL, so each table is one statement for all the probes: five statements and the probe lookup.
    public func overview(probes names: [String], days: Int, now: Int64) throws -> [String: ProbeOverview] {
        let days = max(days, 1)
        let from = Self.floor(now, Self.day) - Int64(days - 1) * Self.day
        let hourFrom = Self.floor(now, Self.bucket1h) - 23 * Self.bucket1h
        return try read { db in
            let probes = try db.query("SELECT id, name FROM probes WHERE name = ANY($1::text[])", [.text(pgTextArray(names))])
            guard probes.count > 0 else { return [:] }
            var index: [Int64: Int] = [:]
            var counts: [[DayCount]] = []
            let empty = (0..<days).map { DayCount(start: from + Int64($0) * Self.day, checks: 0, failures: 0) }
            for i in 0..<probes.count {
                index[probes.int64(i, 0)] = i
                counts.append(empty)
            }
            var hours = [[Aggregate]](repeating: [Aggregate](repeating: .rollupEmpty, count: 24), count: probes.count)
            func day(_ t: Int64) -> Int? {
                let d = Int((t - from) / Self.day)
                return t >= from && d < days ? d : nil
            }
            func hour(_ t: Int64) -> Int? {
                let h = Int((t - hourFrom) / Self.bucket1h)
                return t >= hourFrom && h < 24 ? h : nil
            }

            // A location's stretches: `rolled1h` is min(rolled_1h, rolled_5m), `rolled1d` min(rolled_1d, rolled1h), a
            // missing watermark is -never (nothing rolled up). least() skips NULLs, hence the coalesce. The days
            // read one row a day before `rolled1d` (`rollup_1d`, schema v5), then hours and 5-minute rows; the 24
            // hours read hours (kept past `rolled1d`) and 5-minute rows.
            let never = Int64.max / 2
            let rolled5m = "coalesce(l.rolled_5m, $2)"
            let rolled1h = "least(coalesce(l.rolled_1h, $2), \(rolled5m))"
            let rolled1d = "least(coalesce(l.rolled_1d, $2), \(rolled1h))"
            let fiveMinutes = ("rollup_5m", "r.bucket >= \(rolled1h) AND r.bucket < least(\(rolled5m), $4)")
            let ids = "{" + index.keys.map(String.init).joined(separator: ",") + "}"
            // $1: the probes; $2: -never; $3: the first bucket wanted (days, then hours); $4: now + 1.
            for (table, stretch) in [("rollup_1d", "r.bucket < least(\(rolled1d), $4)"),
                                     ("rollup_1h", "r.bucket >= \(rolled1d) AND r.bucket < least(\(rolled1h), $4)"), fiveMinutes] {
                let daily = try db.query("""
                    SELECT l.probe_id, r.bucket, r.checks, r.failures FROM probe_locations l
                    JOIN \(table) r ON r.probe_id = l.probe_id AND r.location = l.location
                    WHERE l.probe_id = ANY($1::bigint[]) AND r.bucket >= $3 AND \(stretch)
                    """, [.text(ids), .int(-never), .int(from), .int(now + 1)])
                for r in 0..<daily.count {
                    guard let p = index[daily.int64(r, 0)], let d = day(daily.int64(r, 1)) else { continue }
                    counts[p][d].checks += Int(daily.int64(r, 2))
                    counts[p][d].failures += Int(daily.int64(r, 3))
                }
            }
            for (table, stretch) in [("rollup_1h", "r.bucket < least(\(rolled1h), $4)"), fiveMinutes] {
                let hourly = try db.query("""
                    SELECT l.probe_id, r.bucket, r.checks, r.failures, r.reasons, r.lat_n, r.lat_min, r.lat_max, r.lat_sum,
                        r.hist, r.phases FROM probe_locations l
                    JOIN \(table) r ON r.probe_id = l.probe_id AND r.location = l.location
                    WHERE l.probe_id = ANY($1::bigint[]) AND r.bucket >= $3 AND \(stretch)
                    """, [.text(ids), .int(-never), .int(hourFrom), .int(now + 1)], binary: true)
                for r in 0..<hourly.count {
                    guard let p = index[hourly.int64(r, 0)], let h = hour(hourly.int64(r, 1)) else { continue }
                    hours[p][h].mergeRollup(hourly, r, from: 2)
                }
            }
            // Raw samples from `rolled_5m` on: the days' counts and the hours' latencies (the 24 hours may begin
            // before the first day when `days` is 1). The subquery's bound (the oldest watermark) is known before the
            // scan, so the executor skips the day partitions before it: 32 -> 12 ms at 200 probes and 2 locations.
            let raw = try db.query("""
                SELECT l.probe_id, s.at, s.reason, s.phases FROM probe_locations l
                JOIN samples s ON s.probe_id = l.probe_id AND s.location = l.location
                WHERE l.probe_id = ANY($1::bigint[]) AND s.at < $4 AND s.at >= coalesce(l.rolled_5m, $3)
                    AND s.at >= (SELECT greatest($2, min(coalesce(rolled_5m, $3))) FROM probe_locations WHERE probe_id = ANY($1::bigint[]))
                """, [.text(ids), .int(min(from, hourFrom)), .int(-never), .int(now + 1)])
            for r in 0..<raw.count {
                guard let p = index[raw.int64(r, 0)] else { continue }
                let at = raw.int64(r, 1)
                let reason = Int(raw.int64(r, 2))
                if let d = day(at) {
                    counts[p][d].checks += 1
                    if reason != 0 { counts[p][d].failures += 1 }
                }
                if let h = hour(at) { hours[p][h].add(reason: reason, phases: Self.phases(raw, r, 3)) }
            }

            var out: [String: ProbeOverview] = [:]
            for i in 0..<probes.count {
                let p = index[probes.int64(i, 0)]!
                out[probes.string(i, 1)] = ProbeOverview(days: counts[p], hourlyP95: hours[p].map { $0.percentile(0.95) })
            }
            return out
        }
    }
}
