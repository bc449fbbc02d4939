import ProberCore
import ProberStorage

/// Fleet decisions on PostgreSQL (see `FleetStorage`): each location's episode of a probe in
/// `fleet_episodes`, and the fleet's incident changed only by a prober that saw its latest version.
///
/// `record` serialises the decisions of one probe with a transaction-scoped advisory lock on the probe's name,
/// then checks the open incident (its row locked `FOR UPDATE`) and its number of updates against the view the
/// decision was taken on; the unique index `incidents_one_open` backs the
/// "one open incident per probe" rule whatever else writes.
extension PostgresStore: FleetStorage {
    /// Schema step: each location's published episode of each probe.
    static let schemaFleet = """
        CREATE TABLE fleet_episodes(
            probe_id bigint NOT NULL REFERENCES probes(id),
            location text NOT NULL,
            status text,                          -- minor | major; NULL: healthy
            stage text,                           -- investigating | monitoring while status is set
            summary text,                         -- the location's evidence, one line
            opened_at bigint,                     -- the location evaluator's tracking (NULL when none),
            degraded_since bigint,                -- to rebuild it after a restart
            failed_checks integer,
            worst_p95 bigint,
            worst_failures integer,
            at bigint NOT NULL,                   -- the location's latest check: it counts while this is recent
            PRIMARY KEY (probe_id, location)
        );
        CREATE INDEX fleet_episodes_active ON fleet_episodes(at) WHERE status IS NOT NULL;
        """

    /// The advisory lock namespace of fleet decisions (the second key is `hashtext(probe)`).
    static let fleetLock: Int32 = 0x666C74 // "flt"

    public func publish(_ publications: [EpisodePublication], location: String) throws {
        guard !publications.isEmpty else { return }
        // One statement for every probe, columns as arrays (`unnest`): a heartbeat sweep of thousands of probes is
        // one round trip, not one per probe.
        let names = publications.map(\.probe)
        let tracked = publications.map { $0.episode.status == nil ? nil : $0.tracking }
        func ints(_ f: (OpenIncident) -> Int64?) -> PGParam { .text(pgArray(tracked.map { $0.flatMap(f).map(String.init) })) }
        try write { db in
            try db.query("INSERT INTO probes(name, created_at) SELECT unnest($1::text[]), $2 ON CONFLICT (name) DO NOTHING",
                         [.text(pgTextArray(names)), .int(clock.now())])
            try db.query("""
                INSERT INTO fleet_episodes(probe_id, location, status, stage, summary, opened_at, degraded_since,
                    failed_checks, worst_p95, worst_failures, at)
                SELECT p.id, $2, u.status, u.stage, u.summary, u.opened_at, u.degraded_since, u.failed_checks, u.worst_p95,
                    u.worst_failures, u.at
                FROM unnest($1::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::integer[],
                            $9::bigint[], $10::integer[], $11::bigint[])
                    AS u(name, status, stage, summary, opened_at, degraded_since, failed_checks, worst_p95, worst_failures, at)
                JOIN probes p ON p.name = u.name
                ON CONFLICT (probe_id, location) DO UPDATE SET status = excluded.status, stage = excluded.stage,
                    summary = excluded.summary, opened_at = excluded.opened_at, degraded_since = excluded.degraded_since,
                    failed_checks = excluded.failed_checks, worst_p95 = excluded.worst_p95,
                    worst_failures = excluded.worst_failures, at = greatest(fleet_episodes.at, excluded.at)
                """, [.text(pgTextArray(names)), .text(location),
                      .text(pgArray(publications.map { $0.episode.status?.rawValue })),
                      .text(pgArray(publications.map { $0.episode.stage?.rawValue })),
                      .text(pgArray(publications.map(\.episode.summary))),
                      ints(\.openedAt), ints(\.degradedSince), ints { Int64($0.failedChecks) }, ints(\.worstP95),
                      ints { Int64($0.worstFailures) }, .text(pgArray(publications.map { String($0.at) }))])
        }
    }

    public func withdraw(probe: String, location: String) throws {
        _ = try write { db in
            try db.query("""
                DELETE FROM fleet_episodes e USING probes p WHERE e.probe_id = p.id AND p.name = $1 AND e.location = $2
                """, [.text(probe), .text(location)])
        }
    }

    public func recentSamples(probes: [String], location: String, limit: Int) throws -> [String: [Sample]] {
        guard !probes.isEmpty else { return [:] }
        return try read { db in
            // Each probe's newest checks from the primary key (probe_id, location, at), walked backwards.
            let r = try db.query("""
                SELECT s.at, s.reason, s.status, s.phases, s.bytes, s.family, p.name
                FROM probes p CROSS JOIN LATERAL (
                    SELECT at, reason, status, phases, bytes, family FROM samples
                    WHERE probe_id = p.id AND location = $2 ORDER BY at DESC LIMIT $3) s
                WHERE p.name = ANY($1::text[])
                ORDER BY p.name, s.at
                """, [.text(pgTextArray(probes)), .text(location), .int(Int64(limit))])
            var out: [String: [Sample]] = [:]
            for i in 0..<r.count {
                let name = r.string(i, 6)
                let code = Int(r.int64(i, 1))
                let failure = code == 0 ? nil : FailureReason(code: code).map { Failure($0, $0.rawValue) } ?? Failure(.other, "other")
                let family = r.int64OrNil(i, 5).map { $0 == 1 ? IPFamily.ipv6 : .ipv4 }
                out[name, default: []].append(Sample(probe: name, startedAt: r.int64(i, 0), failure: failure,
                                                     phases: Self.phases(r, i, 3), status: r.int64OrNil(i, 2).map(Int.init),
                                                     bytes: r.int64OrNil(i, 4), ipFamily: family))
            }
            return out
        }
    }

    public func episodes(location: String) throws -> [String: PublishedEpisode] {
        try read { db in
            let r = try db.query("""
                SELECT e.location, e.status, e.stage, e.summary, e.opened_at, e.degraded_since, e.failed_checks, e.worst_p95,
                    e.worst_failures, e.at, p.name
                FROM fleet_episodes e JOIN probes p ON p.id = e.probe_id WHERE e.location = $1
                """, [.text(location)])
            var out: [String: PublishedEpisode] = [:]
            for i in 0..<r.count { out[r.string(i, 10)] = Self.episode(r, i) }
            return out
        }
    }

    public func fleetView(probe: String, runningSince: Int64) throws -> FleetView {
        try fleetViews(probes: [probe], runningSince: runningSince)[probe] ?? FleetView(incident: nil, locations: [])
    }

    public func fleetViews(probes: [String], runningSince: Int64) throws -> [String: FleetView] {
        guard !probes.isEmpty else { return [:] }
        let names = PGParam.text(pgTextArray(probes))
        var views = Dictionary(probes.map { ($0, FleetView(incident: nil, locations: [])) }, uniquingKeysWith: { a, _ in a })
        try read { db in
            let e = try db.query("""
                SELECT e.location, e.status, e.stage, e.summary, e.opened_at, e.degraded_since, e.failed_checks, e.worst_p95,
                    e.worst_failures, e.at, p.name
                FROM fleet_episodes e JOIN probes p ON p.id = e.probe_id
                WHERE p.name = ANY($1::text[]) AND e.at >= $2 ORDER BY p.name, e.location COLLATE "C"
                """, [names, .int(runningSince)])
            for i in 0..<e.count { views[e.string(i, 10)]?.locations.append(Self.episode(e, i)) }
            for stored in try Self.openIncidents(names, db) { views[stored.incident.probe]?.incident = stored }
        }
        return views
    }

    /// The open incidents of the probes named in `names` (a `text[]`) with their updates and outbox rows: three
    /// queries however many there are (a wave opens thousands at once).
    static func openIncidents(_ names: PGParam, _ db: PGConnection) throws -> [StoredIncident] {
        let r = try db.query("""
            SELECT \(incidentColumns)
            WHERE p.name = ANY($1::text[]) AND i.resolved_at IS NULL
            """, [names])
        var out: [StoredIncident] = []
        var index: [Int64: Int] = [:]
        for row in 0..<r.count {
            let stored = storedIncident(r, row)
            index[stored.incident.id] = out.count
            out.append(stored)
        }
        guard !out.isEmpty else { return [] }
        let ids = PGParam.text(pgArray(out.map { String($0.incident.id) }))
        let u = try db.query("""
            SELECT incident_id, kind, stage, status, created_at, description, evidence FROM incident_updates
            WHERE incident_id = ANY($1::bigint[]) ORDER BY incident_id, seq
            """, [ids])
        for row in 0..<u.count {
            guard let i = index[u.int64(row, 0)] else { continue }
            out[i].incident.updates.append(IncidentUpdate(
                kind: IncidentEvent.Kind(rawValue: u.string(row, 1)) ?? .opened,
                stage: ResolutionStage(rawValue: u.string(row, 2)) ?? .investigating,
                status: Severity(rawValue: u.string(row, 3)) ?? .minor,
                createdAt: u.int64(row, 4), description: u.string(row, 5), evidence: u.string(row, 6)))
        }
        for item in Self.outboxItems(try db.query("""
            SELECT \(Self.outboxColumns) FROM outbox WHERE incident_id = ANY($1::bigint[]) ORDER BY id
            """, [ids])) {
            if let i = index[item.incidentID] { out[i].deliveries.append(item) }
        }
        return out
    }

    @discardableResult
    public func record(_ change: IncidentChange, expectingUpdates: Int?) throws -> Int64 {
        try record([FleetChange(change, expectingUpdates: expectingUpdates)])[0].get()
    }

    /// How many probes' decisions one transaction writes: a group holds the store's connection (and its probes'
    /// locks) for a few tens of milliseconds, so other readers of the store (`/metrics`) wait no longer.
    static let fleetGroup = 20

    public func record(_ changes: [FleetChange]) -> [Result<Int64, any Error>] {
        var results: [Result<Int64, any Error>] = []
        results.reserveCapacity(changes.count)
        var start = 0
        while start < changes.count {
            let group = Array(changes[start..<min(start + Self.fleetGroup, changes.count)])
            do {
                results += try write { db in try recordGroup(group, db) }
            } catch {
                // The transaction failed as a whole: nothing of it is written, and the rest would fail alike.
                results += Array(repeating: .failure(error), count: changes.count - start)
                break
            }
            start += group.count
        }
        return results
    }

    /// Writes one group's changes in the open transaction: the advisory locks of all its probes tried in one
    /// statement (a probe another prober is deciding at this moment is a conflict, not a wait: two probers
    /// deciding the same wave would otherwise queue behind each other's groups, and its decision is read again),
    /// their open incidents' versions in one query (rows locked `FOR UPDATE`), then each change whose version still
    /// matches under its own savepoint, so a change that fails rolls back alone.
    private func recordGroup(_ group: [FleetChange], _ db: PGConnection) throws -> [Result<Int64, any Error>] {
        let locks = try db.query("""
            SELECT n, pg_try_advisory_xact_lock($1, hashtext(n)) FROM unnest($2::text[]) n
            """, [.int(Int64(Self.fleetLock)), .text(pgTextArray(group.map(\.change.incident.probe)))])
        var busy: Set<String> = []
        for i in 0..<locks.count where locks.string(i, 1) != "t" { busy.insert(locks.string(i, 0)) }
        let names = PGParam.text(pgTextArray(Array(Set(group.map(\.change.incident.probe)).subtracting(busy))))
        let r = try db.query("""
            SELECT p.name, i.id, (SELECT count(*) FROM incident_updates u WHERE u.incident_id = i.id)
            FROM incidents i JOIN probes p ON p.id = i.probe_id
            WHERE p.name = ANY($1::text[]) AND i.resolved_at IS NULL ORDER BY i.id FOR UPDATE OF i
            """, [names])
        var current: [String: (id: Int64, updates: Int)] = [:]
        for i in 0..<r.count { current[r.string(i, 0)] = (r.int64(i, 1), Int(r.int64(i, 2))) }
        var results: [Result<Int64, any Error>] = []
        for (n, item) in group.enumerated() {
            let change = item.change, probe = change.incident.probe
            guard !busy.contains(probe) else {
                results.append(.failure(PostgresError(message: "another prober is deciding the fleet's incident of probe '\(probe)' "
                    + "at this moment", database: database, kind: .conflict)))
                continue
            }
            let seen = current[probe]
            let expected = change.opens ? nil : item.expectingUpdates.map { (id: change.incident.id, updates: $0) }
            guard seen?.id == expected?.id, seen?.updates == expected?.updates else {
                let was = seen.map { "#\($0.id) with \($0.updates) updates" } ?? "none"
                let wanted = expected.map { "#\($0.id) with \($0.updates) updates" } ?? "none"
                results.append(.failure(PostgresError(message: "the fleet's open incident of probe '\(probe)' is \(was), not "
                    + "\(wanted) (another prober changed it first)", database: database, kind: .conflict)))
                continue
            }
            try db.execute("SAVEPOINT fleet_change_\(n)")
            do {
                let id: Int64
                if change.opens { id = try open(change, db) } else { try append(change, db); id = change.incident.id }
                try db.execute("RELEASE SAVEPOINT fleet_change_\(n)")
                // The probe's incident moved on: a second change of it in this group is decided on the new version.
                current[probe] = change.incident.resolved ? nil : (id, (seen?.updates ?? 0) + (change.opens ? change.incident.updates.count : 1))
                results.append(.success(id))
            } catch {
                try db.execute("ROLLBACK TO SAVEPOINT fleet_change_\(n)")
                results.append(.failure(error))
            }
        }
        return results
    }

    public func activeFleetProbes(runningSince: Int64) throws -> Set<String> {
        try read { db in
            let r = try db.query("""
                SELECT p.name FROM probes p
                WHERE EXISTS (SELECT 1 FROM incidents i WHERE i.probe_id = p.id AND i.resolved_at IS NULL)
                   OR EXISTS (SELECT 1 FROM fleet_episodes e WHERE e.probe_id = p.id AND e.status IS NOT NULL AND e.at >= $1)
                """, [.int(runningSince)])
            return Set((0..<r.count).map { r.string($0, 0) })
        }
    }

    public func abandonedFleetProbes(runningSince: Int64) throws -> Set<String> {
        try read { db in
            let r = try db.query("""
                SELECT p.name FROM incidents i JOIN probes p ON p.id = i.probe_id
                WHERE i.resolved_at IS NULL
                  AND NOT EXISTS (SELECT 1 FROM fleet_episodes e WHERE e.probe_id = p.id AND e.at >= $1)
                """, [.int(runningSince)])
            return Set((0..<r.count).map { r.string($0, 0) })
        }
    }

    /// One `fleet_episodes` row read as location, status, stage, summary, opened_at, degraded_since, failed_checks,
    /// worst_p95, worst_failures, at (columns 0-9).
    static func episode(_ r: PGResult, _ i: Int) -> PublishedEpisode {
        let status = r.stringOrNil(i, 1).flatMap(Severity.init(rawValue:))
        let stage = status == nil ? nil : r.stringOrNil(i, 2).flatMap(ResolutionStage.init(rawValue:))
        var tracking: OpenIncident?
        if let status, let stage, let openedAt = r.int64OrNil(i, 4) {
            tracking = OpenIncident(status: status, stage: stage, openedAt: openedAt, degradedSince: r.int64(i, 5),
                                    failedChecks: Int(r.int64(i, 6)), worstP95: r.int64OrNil(i, 7),
                                    worstFailures: Int(r.int64(i, 8)))
        }
        return PublishedEpisode(
            episode: LocationEpisode(location: r.string(i, 0), status: status, stage: stage, summary: r.stringOrNil(i, 3)),
            tracking: tracking, at: r.int64(i, 9))
    }
}
