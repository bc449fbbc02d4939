import Foundation
import ProberCore
import ProberStorage

extension Store {
    /// History of one probe over `[since, until)` (microseconds), in buckets of `every` (automatic when
    /// nil; see `HistoryReading`). Reads raw samples for ranges up to 3 days (exact percentiles); beyond, 1-hour rollups when
    /// buckets are an hour or wider, else 5-minute rollups; and always the finer tables for what is
    /// not rolled up yet, and the coarser ones where the finer are already pruned. Returns nil for an
    /// unknown probe.
    public func history(probe name: String, since: Int64, until: Int64, every: Int64? = nil,
                        phase: Phases.Name = .total) throws -> History? {
        try read { db in
            guard let id = try probeID(name, create: false, db) else { return nil }
            let range = max(until - since, 1)
            let requested = every ?? History.automaticEvery(range: range)
            let preferred: HistoryResolution = range <= 3 * 86_400_000_000 ? .raw
                : requested >= Self.bucket1h ? .rollup1h : .rollup5m
            let plan = try self.plan(probe: id, preferred: preferred, db)

            // Clip each table's stretch to the range.
            let rawFrom = max(since, plan.rawFrom)
            let fiveFrom = max(Self.floor(since, Self.bucket5m), plan.fiveFrom)
            let fiveTo = min(until, plan.rawFrom)
            let hourFrom = Self.floor(since, Self.bucket1h)
            let hourTo = min(until, plan.fiveFrom)
            var sources: [HistoryResolution] = []
            if hourFrom < hourTo, plan.has1h { sources.append(.rollup1h) }
            if fiveFrom < fiveTo, plan.has5m { sources.append(.rollup5m) }
            if rawFrom < until { sources.append(.raw) }

            var width = requested
            let coarsest = sources.first?.width ?? 1
            if width % coarsest != 0 { width = (width / coarsest + 1) * coarsest }
            width = max(width, 1)
            // Bound the work and memory of one answer: at most `maxBuckets` buckets.
            if range / width > History.maxBuckets {
                width = (range / History.maxBuckets / coarsest + 1) * coarsest
            }

            let first = Self.floor(since, width)
            let count = Int((until - first + width - 1) / width)
            var buckets = [Aggregate](repeating: Aggregate(), count: max(count, 0))
            func add(_ t: Int64, _ row: RollupRow) {
                let i = Int((t - first) / width)
                guard i >= 0, i < buckets.count else { return }
                row.merge(into: &buckets[i])
            }
            if sources.contains(.rollup1h) {
                try forEachRollup(table: "rollup_1h", probe: id, from: hourFrom, to: hourTo, db, add)
            }
            if sources.contains(.rollup5m) {
                try forEachRollup(table: "rollup_5m", probe: id, from: fiveFrom, to: fiveTo, db, add)
            }
            if rawFrom < until {
                try forEachSample(probe: id, from: rawFrom, to: until, db) { sample in
                    let i = Int((sample.ts - first) / width)
                    if i >= 0, i < buckets.count { buckets[i].add(reason: sample.reason, phases: sample.phases) }
                    return true
                }
            }
            return Aggregate.history(probe: name, since: since, until: until, first: first, every: width, phase: phase,
                                     sources: sources, buckets: buckets)
        }
    }

    /// Which table covers which stretch for one probe: 1-hour rollups before `fiveFrom`, 5-minute rollups
    /// in `[fiveFrom, rawFrom)`, raw samples from `rawFrom`. Boundaries are chosen so that no check is
    /// counted twice: a coarser bucket is used whole, and only when it is complete.
    private func plan(probe id: Int64, preferred: HistoryResolution, _ db: Connection)
        throws -> (fiveFrom: Int64, rawFrom: Int64, has5m: Bool, has1h: Bool) {
        let marks = try db.prepare("SELECT rolled_5m, rolled_1h FROM rollup_marks WHERE probe_id = ?1")
        try marks.bind(1, id)
        let marked = try marks.step() // no row: nothing rolled up yet
        let rolled5m = marked ? marks.int64OrNil(0) : nil, rolled1h = marked ? marks.int64OrNil(1) : nil
        marks.reset()
        let minRaw = try firstSampleTime(probe: id, db)
        let min5m = try firstRollup(table: "rollup_5m", probe: id, db)
        let min1h = try firstRollup(table: "rollup_1h", probe: id, db)
        let never = Int64.max / 2

        var rawFrom: Int64
        if preferred == .raw, let minRaw {
            // Raw from its first sample; a partly pruned 5-minute bucket is read from its rollup instead.
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
        return (fiveFrom, rawFrom, min5m != nil, min1h != nil)
    }

    static func ceil(_ t: Int64, _ width: Int64) -> Int64 { floor(t + width - 1, width) }
}
