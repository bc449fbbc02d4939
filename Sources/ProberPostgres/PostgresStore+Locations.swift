import ProberCore
import ProberStorage
import ProberStore

/// `prober status`, per probe and per location: each location's last check and hour from `location_summary`
/// (see `PostgresStore+Summary.swift`), a fixed number of statements whatever the number of probes and locations.
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
            return try locationLines(try locatedHours(now: now, probes: ids, lastHour: lastHour, db), names: names, now: now, db)
        }
    }

    /// `status` and the per-location lines from one read of the summary (see `CombinedStatusReading`, `fleetStatus`).
    public func statusAndLocations(now: Int64) throws -> (probes: [ProbeStatus], locations: [String: [LocationStatus]]) {
        try read { db in try fleetStatus(now: now, db) }
    }

    /// The per-location lines of the probes in `names`: each location that checked one in the day before `now`,
    /// with its published episode.
    func locationLines(_ located: [LocatedHour], names: [Int64: String], now: Int64, _ db: PGConnection) throws
        -> [String: [LocationStatus]] {
        let located = located
            .filter { ($0.last?.at ?? .min) >= now - Self.day && names[$0.probe] != nil }
            .sorted { $0.probe != $1.probe ? $0.probe < $1.probe : $0.location < $1.location } // by location within a probe
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

    /// One location's checks of a probe as `status` shows them.
    struct LocatedHour {
        var probe: Int64
        var location: String
        /// The location's newest check, of any age.
        var last: ProbeStatus.LastCheck?
        /// The hour's checks (see `locatedHours`); empty without `lastHour`.
        var hour = SummaryHour()
    }

    /// A `bigint[]` literal.
    static func idArray<S: Sequence>(_ ids: S) -> String where S.Element == Int64 {
        "{" + ids.map(String.init).joined(separator: ",") + "}"
    }
}

extension PostgresStore: CombinedStatusReading {}

extension LocationStatus {
    /// Checks, failures, uptime and p95 from the location's hour.
    mutating func setHour(_ hour: SummaryHour) {
        setHour(hour.counts, p95: hour.percentile(0.95))
    }

    mutating func setHour(_ counts: HourCounts, p95: Int64?) {
        checks1h = counts.checks
        failures1h = counts.failures
        if checks1h > 0 { uptime1h = Double(checks1h - failures1h) * 100 / Double(checks1h) }
        p95_1h = p95
    }
}

extension ProbeStatus {
    /// Checks, failures, uptime and p95 from the probe's hour (every location merged).
    mutating func setHour(_ hour: SummaryHour) {
        checks1h = hour.counts.checks
        failures1h = hour.counts.failures
        if checks1h > 0 { uptime1h = Double(checks1h - failures1h) * 100 / Double(checks1h) }
        p95_1h = hour.percentile(0.95)
    }
}
