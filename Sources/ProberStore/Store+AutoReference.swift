import ProberCore
import ProberStorage

extension Store {
    /// The reference of the probe's automatic latency thresholds as of `at` (see `IncidentStorage.autoReference`).
    /// `location` is ignored: a SQLite history is one prober's.
    ///
    /// The same-hour reading is 7 reads of an hour (each day's hour as four quarters, the newest 15 passing checks
    /// of each: at most 420 rows); the fallback is `baseline(probe:until:)`. The tracker calls it every few
    /// minutes per auto probe, never per check.
    public func autoReference(probe name: String, location: String?, at: Int64) throws -> AutoReference {
        let sameHour: (checks: [PackedPhases], days: Int)? = try read { db in
            guard let id = try probeID(name, create: false, db) else { return nil }
            let slices = AutoReferenceSlices(at: at)
            let excluded = try incidentSpans(of: id, from: slices.from, until: at, db)
            return try sameHourChecks(probe: id, slices, excluding: excluded, db)
        }
        guard let sameHour else { return AutoReference(p95: nil, checks: 0) }
        if sameHour.days >= AutoReferenceSlices.daysNeeded, sameHour.checks.count >= AutoThresholds.learningChecks {
            return AutoReference(Baseline(sameHour.checks, oldest: at, until: at), sameHour: true)
        }
        return AutoReference(try baseline(probe: name, until: at), sameHour: false)
    }

    /// The newest `AutoReferenceSlices.perSlice` passing checks of each slice outside `excluded`, slice by slice,
    /// and how many days they come from.
    func sameHourChecks(probe id: Int64, _ slices: AutoReferenceSlices, excluding excluded: [ClosedRange<Int64>],
                        _ db: Connection) throws -> (checks: [PackedPhases], days: Int) {
        var checks: [PackedPhases] = []
        var days: Set<Int> = []
        // A day's quarters are one hour: read it once, newest first, each sample to its quarter (an archived day
        // is decoded once, not four times), and take the same checks as a read of each quarter would.
        var first = slices.slices.startIndex
        while first < slices.slices.endIndex {
            let day = slices.slices[first].day
            let end = slices.slices[first...].firstIndex { $0.day != day } ?? slices.slices.endIndex
            let quarters = slices.slices[first..<end]
            first = end
            var taken = [[PackedPhases]](repeating: [], count: quarters.count)
            var full = 0
            try forEachSample(probe: id, from: quarters.first!.start, to: quarters.last!.end, newestFirst: true, db) { sample in
                guard sample.reason == 0, sample.hasPhases,
                      let q = quarters.lastIndex(where: { $0.start <= sample.ts && sample.ts < $0.end }) else { return true }
                let k = q - quarters.startIndex
                guard taken[k].count < AutoReferenceSlices.perSlice else { return true }
                if excluded.contains(where: { $0.contains(sample.ts) }) { return true }
                taken[k].append(PackedPhases(sample.phases))
                if taken[k].count == AutoReferenceSlices.perSlice { full += 1 }
                return full < quarters.count
            }
            for k in taken.indices where !taken[k].isEmpty {
                checks += taken[k]
                days.insert(day)
            }
        }
        return (checks, days.count)
    }

    /// The registered probes with `latency: auto` that have fewer than 30 passing checks in the 24 h before `now`:
    /// one query, at most 30 rows read per such probe (`status` answers for thousands of probes). It does not
    /// leave out earlier incidents' checks nor look at previous days as the tracker's reference does, so it can
    /// differ from it only for a probe whose last day was mostly an incident.
    public func learningProbes(now: Int64) throws -> Set<String> {
        try read { db in
            let select = try db.prepare("""
                SELECT id, name FROM probes WHERE instr(char(10) || settings, char(10) || ?1 || char(9)) > 0
                """)
            try select.bind(1, ProbeInfo.autoThresholdsKey)
            defer { select.reset() }
            var names: Set<String> = []
            while try select.step() {
                var passing = 0
                try forEachSample(probe: select.int64(0), from: now - Baseline.span, to: now, db) { sample in
                    if sample.reason == 0, sample.hasPhases { passing += 1 }
                    return passing < AutoThresholds.learningChecks
                }
                if passing < AutoThresholds.learningChecks { names.insert(select.string(1)) }
            }
            return names
        }
    }
}

/// The slices of history a same-hour reference reads (both backends): the hour around `at` (±30 min) on each
/// of the previous 7 days, each hour as four quarters. Used when at least 6 of the days have passing checks there
/// and they are at least 30 (a probe checked hourly has 7: the previous 24 h then serve, or nothing does).
package struct AutoReferenceSlices {
    /// Days back it looks.
    package static let days = 7
    /// Days of the 7 that must have passing checks in their hour for the same-hour reference to be used: a
    /// week of history, allowing for the oldest day being partly past retention (30 d by default) or excluded.
    package static let daysNeeded = 6
    /// Newest passing checks taken from each quarter hour: 60 per day, 420 in all.
    package static let perSlice = 15
    private static let day: Int64 = 86_400_000_000
    private static let quarter: Int64 = 900_000_000

    package var slices: [(day: Int, start: Int64, end: Int64)] = []
    /// The oldest time read.
    package var from: Int64

    package init(at: Int64) {
        for k in 1...Self.days {
            let start = at - Int64(k) * Self.day - 2 * Self.quarter
            for q in 0..<4 {
                slices.append((k, start + Int64(q) * Self.quarter, start + Int64(q + 1) * Self.quarter))
            }
        }
        from = at - Int64(Self.days) * Self.day - 2 * Self.quarter
    }
}
