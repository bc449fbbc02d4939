import ProberCore
import ProberStorage
import ProberStore

/// `prober status` per location: three statements whatever the number of probes and locations, as `status` reads.
extension PostgresStore {
    /// Each location that checked a probe in the day before `now`: its last check, its last hour and its published
    /// episode (see `LocationReading`).
    public func locationStatus(now: Int64, probes: [String]?, lastHour: Bool) throws -> [String: [LocationStatus]] {
        try read { db in
            var params: [PGParam] = [.int(now - Self.day)]
            if let probes { params.append(.text(pgTextArray(probes))) }
            let last = try db.query("""
                SELECT l.probe_id, p.name, l.location, s.at, s.reason, s.status, s.phases FROM probe_locations l
                JOIN probes p ON p.id = l.probe_id
                CROSS JOIN LATERAL (SELECT at, reason, status, phases FROM samples
                    WHERE probe_id = l.probe_id AND location = l.location ORDER BY at DESC LIMIT 1) s
                WHERE s.at >= $1\(probes == nil ? "" : " AND p.name = ANY($2::text[])")
                ORDER BY p.name COLLATE "C", l.location COLLATE "C"
                """, params)
            struct Key: Hashable { var probe: Int64, location: String }
            var rows: [(name: String, status: LocationStatus)] = []
            var index: [Key: Int] = [:]
            for r in 0..<last.count {
                let reason = Int(last.int64(r, 4))
                index[Key(probe: last.int64(r, 0), location: last.string(r, 2))] = rows.count
                rows.append((last.string(r, 1), LocationStatus(location: last.string(r, 2), last: .init(
                    at: last.int64(r, 3), reason: reason == 0 ? nil : FailureReason(code: reason) ?? .other,
                    status: last.int64OrNil(r, 5).map(Int.init), latency: Self.phases(last, r, 6).total))))
            }
            guard !rows.isEmpty else { return [:] }
            var latencies = [[Int64]](repeating: [], count: rows.count)
            let ids = "{" + Set(index.keys.map(\.probe)).map(String.init).joined(separator: ",") + "}"
            let hour = !lastHour ? nil : try db.query("""
                SELECT s.probe_id, s.location, s.reason, s.phases FROM probe_locations l
                JOIN samples s ON s.probe_id = l.probe_id AND s.location = l.location AND s.at >= $1 AND s.at <= $2
                WHERE l.probe_id = ANY($3::bigint[])
                """, [.int(now - Self.bucket1h), .int(now), .text(ids)])
            for r in 0..<(hour?.count ?? 0) {
                guard let hour else { break }
                guard let i = index[Key(probe: hour.int64(r, 0), location: hour.string(r, 1))] else { continue }
                rows[i].status.checks1h += 1
                if hour.int64(r, 2) != 0 {
                    rows[i].status.failures1h += 1
                } else if let t = Self.phases(hour, r, 3).total {
                    latencies[i].append(t)
                }
            }
            let episodes = try db.query("SELECT probe_id, location, status, stage, summary FROM fleet_episodes WHERE probe_id = ANY($1::bigint[])",
                                        [.text(ids)])
            for r in 0..<episodes.count {
                guard let i = index[Key(probe: episodes.int64(r, 0), location: episodes.string(r, 1))] else { continue }
                let status = episodes.stringOrNil(r, 2).flatMap(Severity.init(rawValue:))
                rows[i].status.episode = LocationEpisode(
                    location: episodes.string(r, 1), status: status,
                    stage: status == nil ? nil : episodes.stringOrNil(r, 3).flatMap(ResolutionStage.init(rawValue:)),
                    summary: episodes.stringOrNil(r, 4))
            }
            var out: [String: [LocationStatus]] = [:]
            for (i, row) in rows.enumerated() {
                var status = row.status
                if status.checks1h > 0 {
                    status.uptime1h = Double(status.checks1h - status.failures1h) * 100 / Double(status.checks1h)
                }
                if !latencies[i].isEmpty {
                    latencies[i].sort()
                    status.p95_1h = latencies[i][Aggregate.rank(0.95, count: latencies[i].count) - 1]
                }
                out[row.name, default: []].append(status)
            }
            return out
        }
    }
}
