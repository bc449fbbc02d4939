import Foundation
import ProberCore
import ProberStorage

extension Store {
    static let day: Int64 = 86_400_000_000

    /// The last check of every probe that has one: one query, a primary-key seek per probe. `CROSS JOIN` keeps
    /// probes the outer loop: with a plain join SQLite scanned every sample (180 ms at 2,000 probes, 10 ms now).
    public func lastChecks() throws -> [String: ProbeStatus.LastCheck] {
        try read { db in
            let select = try db.prepare("""
                SELECT p.name, s.ts, s.reason, s.status, s.phases FROM probes p
                CROSS JOIN samples s ON s.probe_id = p.id AND s.ts = (SELECT max(ts) FROM samples WHERE probe_id = p.id)
                """)
            var out: [String: ProbeStatus.LastCheck] = [:]
            out.reserveCapacity(Int(try db.scalar("SELECT max(id) FROM probes") ?? 0))
            while try select.step() {
                let reason = Int(select.int64(2))
                out[select.string(0)] = .init(at: select.int64(1), reason: reason == 0 ? nil : FailureReason(code: reason) ?? .other,
                                              status: select.int64OrNil(3).map(Int.init), latency: Self.phases(select, from: 4).total)
            }
            return out
        }
    }

    /// The last check of each of `probes` that has one: a seek by name and a backward seek of the samples' key each.
    public func lastChecks(of probes: [String]) throws -> [String: ProbeStatus.LastCheck] {
        guard !probes.isEmpty else { return [:] }
        return try read { db in
            let select = try db.prepare("""
                SELECT s.ts, s.reason, s.status, s.phases FROM probes p
                CROSS JOIN samples s ON s.probe_id = p.id WHERE p.name = ?1 ORDER BY s.ts DESC LIMIT 1
                """)
            var out: [String: ProbeStatus.LastCheck] = [:]
            for name in probes {
                try select.bind(1, name)
                if try select.step() {
                    let reason = Int(select.int64(1))
                    out[name] = .init(at: select.int64(0), reason: reason == 0 ? nil : FailureReason(code: reason) ?? .other,
                                      status: select.int64OrNil(2).map(Int.init), latency: Self.phases(select, from: 3).total)
                }
                select.reset()
            }
            return out
        }
    }

    /// Daily checks and hourly p95 of each probe (see `HistoryReading.overview`).
    ///
    /// Each stretch is read from one table, by the probe's watermarks: daily rows before `rolled_1d`, 1-hour
    /// rollups in `[rolled_1d, rolled_1h)`, 5-minute rollups in `[rolled_1h, rolled_5m)`, raw samples from
    /// `rolled_5m` (finer rows are deleted only once rolled up, so the four cover the range without overlap).
    /// The days read at most one row a day from the key; only the last 24 hours decode latency histograms,
    /// from the rollups (raw samples only for the minutes not rolled up yet).
    public func overview(probes names: [String], days: Int, now: Int64) throws -> [String: ProbeOverview] {
        let days = max(days, 1)
        let today = Self.floor(now, Self.day)
        let from = today - Int64(days - 1) * Self.day
        let hourFrom = Self.floor(now, Self.bucket1h) - 23 * Self.bucket1h
        return try read { db in
            let probe = try db.prepare("SELECT id, rolled_5m, rolled_1h, rolled_1d FROM probes WHERE name = ?1")
            // Summed here in key order: SQLite's GROUP BY on the day sorted every row through a temporary B-tree
            // (about twice the time of the scan itself).
            let daily = ["rollup_1d", "rollup_1h", "rollup_5m"].map { table in
                "SELECT bucket, checks, failures FROM \(table) WHERE probe_id = ?1 AND bucket >= ?2 AND bucket < ?3"
            }
            let raw = try db.prepare("SELECT ts, reason, phases FROM samples WHERE probe_id = ?1 AND ts >= ?2 AND ts < ?3")
            var out: [String: ProbeOverview] = [:]
            for name in names {
                try probe.bind(1, name)
                guard try probe.step() else { probe.reset(); continue }
                let id = probe.int64(0)
                let never = Int64.max / 2
                let rolled5m = probe.int64OrNil(1) ?? -never
                let rolled1h = min(probe.int64OrNil(2) ?? -never, rolled5m)
                let rolled1d = min(probe.int64OrNil(3) ?? -never, rolled1h)
                probe.reset()

                var counts = [DayCount](repeating: DayCount(start: 0, checks: 0, failures: 0), count: days)
                for i in counts.indices { counts[i].start = from + Int64(i) * Self.day }
                let stretches = [(daily[0], from, min(rolled1d, now + 1)), (daily[1], max(from, rolled1d), min(rolled1h, now + 1)),
                                 (daily[2], max(from, rolled1h), min(rolled5m, now + 1))]
                for (sql, start, end) in stretches where start < end {
                    let select = try db.prepare(sql)
                    try select.bind(1, id)
                    try select.bind(2, start)
                    try select.bind(3, end)
                    while try select.step() {
                        let i = Int((select.int64(0) - from) / Self.day)
                        guard i >= 0, i < days else { continue }
                        counts[i].checks += Int(select.int64(1))
                        counts[i].failures += Int(select.int64(2))
                    }
                    select.reset()
                }

                var hours = [Aggregate](repeating: .rollupEmpty, count: 24)
                func hour(_ t: Int64) -> Int? {
                    let i = Int((t - hourFrom) / Self.bucket1h)
                    return t >= hourFrom && i < 24 ? i : nil
                }
                if hourFrom < rolled1h {
                    try forEachRollup(table: "rollup_1h", probe: id, from: hourFrom, to: min(rolled1h, now + 1), db) { bucket, row in
                        if let i = hour(bucket) { row.merge(into: &hours[i]) }
                    }
                }
                if max(hourFrom, rolled1h) < rolled5m {
                    try forEachRollup(table: "rollup_5m", probe: id, from: max(hourFrom, rolled1h), to: min(rolled5m, now + 1), db) { bucket, row in
                        if let i = hour(bucket) { row.merge(into: &hours[i]) }
                    }
                }
                // Raw samples: the days' counts and the hours' latencies from `rolled_5m` on (the 24 hours may begin
                // before the first day when `days` is 1).
                try raw.bind(1, id)
                try raw.bind(2, max(min(from, hourFrom), rolled5m))
                try raw.bind(3, now + 1)
                while try raw.step() {
                    let ts = raw.int64(0)
                    let reason = Int(raw.int64(1))
                    let d = Int((ts - from) / Self.day)
                    if ts >= from, d < days {
                        counts[d].checks += 1
                        if reason != 0 { counts[d].failures += 1 }
                    }
                    if let i = hour(ts) { hours[i].add(reason: reason, phases: Self.phases(raw, from: 2)) }
                }
                raw.reset()
                out[name] = ProbeOverview(days: counts, hourlyP95: hours.map { $0.percentile(0.95) })
            }
            return out
        }
    }
}
