import Foundation
import ProberCore
import ProberStorage

extension Store {
    static let day: Int64 = 86_400_000_000

    /// The last check of every probe that has one.
    public func lastChecks() throws -> [String: ProbeStatus.LastCheck] {
        try read { db in
            let names = try db.prepare("SELECT id, name FROM probes")
            defer { names.reset() }
            let last = try lastSamples(db)
            var out: [String: ProbeStatus.LastCheck] = [:]
            out.reserveCapacity(last.count)
            while try names.step() {
                if let sample = last[names.int64(0)] { out[names.string(1)] = Self.lastCheck(sample) }
            }
            return out
        }
    }

    /// The last check of each of `probes` that has one.
    public func lastChecks(of probes: [String]) throws -> [String: ProbeStatus.LastCheck] {
        guard !probes.isEmpty else { return [:] }
        return try read { db in
            var out: [String: ProbeStatus.LastCheck] = [:]
            for name in probes {
                if let id = try probeID(name, create: false, db), let last = try lastSample(probe: id, db) {
                    out[name] = Self.lastCheck(last)
                }
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
            let probe = try db.prepare("""
                SELECT p.id, m.rolled_5m, m.rolled_1h, m.rolled_1d FROM probes p LEFT JOIN rollup_marks m ON m.probe_id = p.id
                WHERE p.name = ?1
                """)
            // Summed here in key order: SQLite's GROUP BY on the day sorted every row through a temporary B-tree
            // (about twice the time of the scan itself).
            let day = try db.prepare("SELECT bucket, checks, failures FROM rollup_1d WHERE probe_id = ?1 AND bucket >= ?2 AND bucket < ?3")
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
                // The days before `rolled_1d` from `rollup_1d`.
                if from < min(rolled1d, now + 1) {
                    try day.bind(1, id)
                    try day.bind(2, from)
                    try day.bind(3, min(rolled1d, now + 1))
                    while try day.step() {
                        let i = Int((day.int64(0) - from) / Self.day)
                        guard i >= 0, i < days else { continue }
                        counts[i].checks += Int(day.int64(1))
                        counts[i].failures += Int(day.int64(2))
                    }
                    day.reset()
                }

                var hours = [LatencyTally](repeating: LatencyTally(), count: 24)
                func hour(_ t: Int64) -> Int? {
                    let i = Int((t - hourFrom) / Self.bucket1h)
                    return t >= hourFrom && i < 24 ? i : nil
                }
                // 1-hour rows in `[rolled_1d, rolled_1h)` count in their days, and those of the 24 hours in their hour;
                // 5-minute rows the same in `[rolled_1h, rolled_5m)`: each row read once for both.
                for (table, dayFrom, hourStart, end) in [("rollup_1h", max(from, rolled1d), hourFrom, min(rolled1h, now + 1)),
                                                          ("rollup_5m", max(from, rolled1h), max(hourFrom, rolled1h), min(rolled5m, now + 1))] {
                    let start = min(dayFrom, hourStart)
                    guard start < end else { continue }
                    try forEachRollupRow(table: table, columns: "checks, failures, lat_n, lat_min, lat_max, hist", probe: id,
                                         from: start, to: end, db) { select in
                        let bucket = select.int64(0)
                        if bucket >= dayFrom {
                            let i = Int((bucket - from) / Self.day)
                            if i >= 0, i < days {
                                counts[i].checks += Int(select.int64(1))
                                counts[i].failures += Int(select.int64(2))
                            }
                        }
                        if bucket >= hourStart, let i = hour(bucket) {
                            select.withBlob(6) { histogram in
                                hours[i].merge(count: Int(select.int64(3)), min: select.int64OrNil(4), max: select.int64OrNil(5),
                                               histogram: histogram)
                            }
                        }
                    }
                }
                // Raw samples: the days' counts and the hours' latencies from `rolled_5m` on (the 24 hours may begin
                // before the first day when `days` is 1).
                try forEachSample(probe: id, from: max(min(from, hourFrom), rolled5m), to: now + 1, db) { sample in
                    let d = Int((sample.ts - from) / Self.day)
                    if sample.ts >= from, d < days {
                        counts[d].checks += 1
                        if sample.reason != 0 { counts[d].failures += 1 }
                    }
                    if sample.reason == 0, let i = hour(sample.ts), let total = sample.phases.total { hours[i].add(total) }
                    return true
                }
                out[name] = ProbeOverview(days: counts, hourlyP95: hours.map { $0.percentile(0.95) })
            }
            return out
        }
    }
}

/// One hour of the overview's sparkline: the latency part of an `Aggregate` of rollups and raw samples (count, range
/// and histogram), without the reasons and phases it does not show; its p95 is the one `Aggregate` gives.
struct LatencyTally {
    var count = 0
    var min: Int64?
    var max: Int64?
    /// Empty until the first latency.
    var histogram: [Int32] = []

    mutating func merge(count: Int, min: Int64?, max: Int64?, histogram blob: UnsafeRawBufferPointer) {
        self.count += count
        if let min { self.min = Swift.min(self.min ?? min, min) }
        if let max { self.max = Swift.max(self.max ?? max, max) }
        if histogram.isEmpty, !blob.isEmpty { histogram = [Int32](repeating: 0, count: LatencyHistogram.bucketCount) }
        var h = Varint.Reader(blob)
        var index = 0
        while let delta = h.next(), let n = h.next() {
            guard delta < UInt64(histogram.count - index) else { break } // past the last bucket, or a damaged BLOB
            index += Int(delta)
            histogram[index] &+= Int32(clamping: n)
        }
    }

    /// A successful raw check's total latency.
    mutating func add(_ total: Int64) {
        count += 1
        min = Swift.min(min ?? total, total)
        max = Swift.max(max ?? total, total)
        if histogram.isEmpty { histogram = [Int32](repeating: 0, count: LatencyHistogram.bucketCount) }
        histogram[LatencyHistogram.index(total)] += 1
    }

    /// As `Aggregate.percentile` of a rollup aggregate: the bucket's representative within [min, max].
    func percentile(_ p: Double) -> Int64? {
        guard count > 0, let lo = min, let hi = max else { return nil }
        return LatencyHistogram.percentile(p, of: histogram, count: count, min: lo, max: hi)
    }
}
