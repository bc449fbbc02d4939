import Foundation
import ProberCore
import ProberStorage

extension PostgresStore: IncidentStorage, OutboxStorage {
    // MARK: Writing incident changes

    /// Writes one change and its outbox rows in one transaction (see `IncidentStorage.record`). Opening an
    /// incident for a probe that has one open (another prober opened it first) fails with a `PostgresError` of
    /// kind `conflict` naming the open incident, and writes nothing: the unique index `incidents_one_open`
    /// decides, so two probers racing get exactly one incident.
    @discardableResult
    public func record(_ change: IncidentChange) throws -> Int64 {
        do {
            return try write { db in
                if change.opens { return try open(change, db) }
                try append(change, db)
                return change.incident.id
            }
        } catch let error as PostgresError where error.kind == .conflict {
            let open = try? openIncidents()[change.incident.probe]
            throw PostgresError(sqlState: error.sqlState, message: "probe '\(change.incident.probe)' already has an open incident"
                + (open.map { " #\($0.incident.id)" } ?? "") + " (opened by another prober?); not opening a second",
                database: database, kind: .conflict)
        }
    }

    func open(_ change: IncidentChange, _ db: PGConnection) throws -> Int64 {
        let incident = change.incident, tracking = change.tracking
        try db.query("INSERT INTO probes(name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                     [.text(incident.probe), .int(clock.now())])
        guard let probeID = try probeID(incident.probe, db) else { return 0 }
        let r = try db.query("""
            INSERT INTO incidents(probe_id, service_id, title, description, status, stage, created_at, updated_at,
                resolved_at, degraded_since, failed_checks, worst_p95, worst_failures)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id
            """, [.int(probeID), PGParam(incident.serviceID.map(Int64.init)), .text(incident.title), .text(incident.description),
                  .text(incident.status.rawValue), .text(incident.stage.rawValue), .int(incident.createdAt),
                  .int(incident.updatedAt), PGParam(incident.resolvedAt), .int(tracking.degradedSince),
                  .int(Int64(tracking.failedChecks)), PGParam(tracking.worstP95), .int(Int64(tracking.worstFailures))])
        let id = r.int64(0, 0)
        for update in incident.updates { try insertUpdate(update, incidentID: id, db) }
        for item in change.outbox { try insertOutbox(item, incidentID: id, db) }
        try writeMembers(incident, incidentID: id, db)
        return id
    }

    func append(_ change: IncidentChange, _ db: PGConnection) throws {
        let update = change.update, tracking = change.tracking, id = change.incident.id
        let set = try db.query("""
            UPDATE incidents SET status = $2, stage = $3, updated_at = $4,
                resolved_at = CASE WHEN $3 = 'resolved' THEN $4::bigint ELSE NULL END,
                failed_checks = $5, worst_p95 = $6, worst_failures = $7
            WHERE id = $1
            """, [.int(id), .text(update.status.rawValue), .text(update.stage.rawValue), .int(update.createdAt),
                  .int(Int64(tracking.failedChecks)), PGParam(tracking.worstP95), .int(Int64(tracking.worstFailures))])
        guard set.affected == 1 else {
            throw PostgresError(message: "no incident \(id) to update", database: database)
        }
        try insertUpdate(update, incidentID: id, db)
        for item in change.outbox { try insertOutbox(item, incidentID: id, db) }
        try writeMembers(change.incident, incidentID: id, db)
    }

    private func insertUpdate(_ update: IncidentUpdate, incidentID: Int64, _ db: PGConnection) throws {
        try db.query("""
            INSERT INTO incident_updates(incident_id, seq, kind, stage, status, created_at, description, evidence)
            VALUES ($1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM incident_updates WHERE incident_id = $1), $2, $3, $4, $5, $6, $7)
            """, [.int(incidentID), .text(update.kind.rawValue), .text(update.stage.rawValue), .text(update.status.rawValue),
                  .int(update.createdAt), .text(update.description), .text(update.evidence)])
    }

    private func insertOutbox(_ item: OutboxItem, incidentID: Int64, _ db: PGConnection) throws {
        try db.query("""
            INSERT INTO outbox(incident_id, sink, method, body, state, attempts, next_attempt_at, created_at)
            VALUES ($1, $2, $3, $4, 'pending', 0, $5, $6)
            """, [.int(incidentID), .text(item.sink), .text(item.method),
                  .text(item.body.replacingOccurrences(of: OutboxItem.incidentIDPlaceholder, with: String(incidentID))),
                  .int(item.nextAttemptAt), .int(item.createdAt)])
    }

    // MARK: Reading incidents

    public func openIncidents() throws -> [String: StoredIncident] {
        StoredIncident.byProbe(try incidents(where: "i.resolved_at IS NULL", []))
    }

    public func incidents(since: Int64?, openOnly: Bool) throws -> [StoredIncident] {
        var clauses: [String] = []
        var values: [PGParam] = []
        if openOnly { clauses.append("i.resolved_at IS NULL") }
        if let since {
            values.append(.int(since))
            clauses.append("(i.created_at >= $1 OR i.resolved_at IS NULL OR i.resolved_at >= $1)")
        }
        return try incidents(where: clauses.isEmpty ? "true" : clauses.joined(separator: " AND "), values)
    }

    public func incident(id: Int64) throws -> StoredIncident? {
        try incidents(where: "i.id = $1", [.int(id)]).first
    }

    public func failureCount(probe: String, since: Int64) throws -> Int {
        try read { db in
            guard let id = try probeID(probe, db) else { return 0 }
            return Int(try db.scalar("SELECT count(*) FROM samples WHERE probe_id = $1 AND at >= $2 AND reason <> 0",
                                     [.int(id), .int(since)]) ?? 0)
        }
    }

    /// The columns `storedIncident(_:_:)` reads, and their join (`i` incidents, `p` probes).
    static let incidentColumns = """
        i.id, p.name, i.service_id, i.title, i.description, i.status, i.stage, i.created_at, i.updated_at,
        i.resolved_at, i.degraded_since, i.failed_checks, i.worst_p95, i.worst_failures, i.isdown_id
        FROM incidents i JOIN probes p ON p.id = i.probe_id
        """

    /// An incident row selected with `incidentColumns`, without its updates and deliveries.
    static func storedIncident(_ r: PGResult, _ row: Int) -> StoredIncident {
        let stage = ResolutionStage(rawValue: r.string(row, 6)) ?? .investigating
        let status = Severity(rawValue: r.string(row, 5)) ?? .minor
        let incident = Incident(
            id: r.int64(row, 0), probe: r.string(row, 1), serviceID: r.int64OrNil(row, 2).map { Int($0) },
            title: r.string(row, 3), description: r.string(row, 4), status: status, stage: stage,
            createdAt: r.int64(row, 7), updatedAt: r.int64(row, 8), resolvedAt: r.int64OrNil(row, 9), updates: [])
        let tracking = OpenIncident(status: status, stage: stage, openedAt: r.int64(row, 7),
                                    degradedSince: r.int64(row, 10), failedChecks: Int(r.int64(row, 11)),
                                    worstP95: r.int64OrNil(row, 12), worstFailures: Int(r.int64(row, 13)))
        return StoredIncident(incident: incident, tracking: tracking, isdownID: r.stringOrNil(row, 14), deliveries: [])
    }

    private func incidents(where clause: String, _ values: [PGParam]) throws -> [StoredIncident] {
        try read { db in
            let r = try db.query("""
                SELECT \(Self.incidentColumns)
                WHERE \(clause) ORDER BY i.created_at DESC, i.id DESC
                """, values)
            var out: [StoredIncident] = []
            for row in 0..<r.count {
                out.append(Self.storedIncident(r, row))
            }
            for i in out.indices {
                let u = try db.query("""
                    SELECT kind, stage, status, created_at, description, evidence FROM incident_updates
                    WHERE incident_id = $1 ORDER BY seq
                    """, [.int(out[i].incident.id)])
                for row in 0..<u.count {
                    out[i].incident.updates.append(IncidentUpdate(
                        kind: IncidentEvent.Kind(rawValue: u.string(row, 0)) ?? .opened,
                        stage: ResolutionStage(rawValue: u.string(row, 1)) ?? .investigating,
                        status: Severity(rawValue: u.string(row, 2)) ?? .minor,
                        createdAt: u.int64(row, 3), description: u.string(row, 4), evidence: u.string(row, 5)))
                }
                out[i].deliveries = Self.outboxItems(try db.query("""
                    SELECT \(Self.outboxColumns) FROM outbox WHERE incident_id = $1 ORDER BY id
                    """, [.int(out[i].incident.id)]))
                (out[i].incident.cause, out[i].incident.members) = try readMembers(incidentID: out[i].incident.id, db)
            }
            return out
        }
    }

    // MARK: The outbox

    /// The calls this prober may attempt now, claimed for it: for each incident and sink only the oldest call
    /// not delivered, when it is pending, due, and not leased to another prober. Claiming takes the rows with
    /// `FOR UPDATE SKIP LOCKED` and leases them to `claimant` until `now + lease`, so two probers never get
    /// the same call; a call whose prober died is taken by another once its lease ran out. A read-only store
    /// only reads (claims nothing).
    public func dueDeliveries(now: Int64, limit: Int, excluding: Set<String>) throws -> [OutboxItem] {
        let params: [PGParam] = [.int(now), .text(claimant), .int(Int64(limit)), .text(pgTextArray(excluding.sorted())),
                                 .int(now + lease.microseconds)]
        let picked = """
            SELECT o.id FROM outbox o
            WHERE o.id IN (SELECT min(id) FROM outbox WHERE state <> 'delivered' GROUP BY incident_id, sink)
              AND o.state = 'pending' AND o.next_attempt_at <= $1 AND o.sink <> ALL($4::text[])
              AND (o.lease_until IS NULL OR o.lease_until <= $1 OR o.claimed_by = $2)
            ORDER BY o.next_attempt_at, o.id LIMIT $3
            """
        let items: [OutboxItem]
        if isReadOnly {
            items = try read { db in
                Self.outboxItems(try db.query("SELECT \(Self.outboxColumns) FROM outbox WHERE id IN (\(picked)) AND $5::bigint IS NOT NULL", params))
            }
        } else {
            items = try write { db in
                Self.outboxItems(try db.query("""
                    UPDATE outbox SET claimed_by = $2, lease_until = $5
                    WHERE id IN (\(picked) FOR UPDATE OF o SKIP LOCKED)
                    RETURNING \(Self.outboxColumns)
                    """, params))
            }
        }
        return items.sorted { ($0.nextAttemptAt, $0.id) < ($1.nextAttemptAt, $1.id) }
    }

    public func hasPending(sink: String) throws -> Bool {
        try read { db in
            try db.query("SELECT EXISTS(SELECT 1 FROM outbox WHERE state = 'pending' AND sink = $1)", [.text(sink)]).string(0, 0) == "t"
        }
    }

    /// When the earliest pending call is due; a call leased to another prober is due when its lease ends.
    public func nextDeliveryDue() throws -> Int64? {
        try read { db in
            try db.scalar("""
                SELECT min(CASE WHEN claimed_by IS DISTINCT FROM $1 THEN greatest(next_attempt_at, lease_until)
                                ELSE next_attempt_at END)
                FROM outbox WHERE state = 'pending'
                AND id IN (SELECT min(id) FROM outbox WHERE state <> 'delivered' GROUP BY incident_id, sink)
                """, [.text(claimant)])
        }
    }

    public func undelivered() throws -> [OutboxItem] {
        try read { db in
            Self.outboxItems(try db.query("SELECT \(Self.outboxColumns) FROM outbox WHERE state <> 'delivered' ORDER BY id"))
        }
    }

    public func undeliveredCounts() throws -> OutboxCounts {
        try read { db in
            let rows = try db.query("""
                SELECT count(*) FILTER (WHERE state = 'pending'), count(*) FILTER (WHERE state = 'failed')
                FROM outbox WHERE state <> 'delivered'
                """)
            return OutboxCounts(pending: Int(rows.int64(0, 0)), failed: Int(rows.int64(0, 1)))
        }
    }

    /// Records the outcome of an attempt and ends this prober's lease on the call.
    public func recordAttempt(_ itemID: Int64, state: OutboxItem.State, nextAttemptAt: Int64, error: String?,
                              at now: Int64, remoteID: String?) throws {
        try write { db in
            try db.query("""
                UPDATE outbox SET state = $2, attempts = attempts + 1, next_attempt_at = $3, last_error = $4,
                    delivered_at = CASE WHEN $2 = 'delivered' THEN $5::bigint ELSE NULL END,
                    claimed_by = NULL, lease_until = NULL
                WHERE id = $1
                """, [.int(itemID), .text(state.rawValue), .int(nextAttemptAt), PGParam(error), .int(now)])
            if let remoteID {
                try db.query("UPDATE incidents SET isdown_id = $2 WHERE id = (SELECT incident_id FROM outbox WHERE id = $1)",
                             [.int(itemID), .text(remoteID)])
            }
        }
    }

    public func markSending(_ itemID: Int64) throws {
        _ = try write { db in
            try db.query("UPDATE outbox SET last_error = $2 WHERE id = $1 AND state = 'pending'",
                         [.int(itemID), .text(OutboxItem.sentMarker)])
        }
    }

    public func remoteID(incident: Int64) throws -> String? {
        try read { db in
            let r = try db.query("SELECT isdown_id FROM incidents WHERE id = $1", [.int(incident)])
            return r.count > 0 ? r.stringOrNil(0, 0) : nil
        }
    }

    public func probe(incident: Int64) throws -> String? {
        try read { db in
            let r = try db.query("SELECT p.name FROM incidents i JOIN probes p ON p.id = i.probe_id WHERE i.id = $1", [.int(incident)])
            return r.count > 0 ? r.string(0, 0) : nil
        }
    }

    @discardableResult
    public func retryFailed(id: Int64?, now: Int64) throws -> Int {
        try write { db in
            if let id {
                return try db.query("""
                    UPDATE outbox SET state = 'pending', next_attempt_at = $1, attempts = 0 WHERE state = 'failed' AND id = $2
                    """, [.int(now), .int(id)]).affected
            }
            return try db.query("UPDATE outbox SET state = 'pending', next_attempt_at = $1, attempts = 0 WHERE state = 'failed'",
                                [.int(now)]).affected
        }
    }

    static let outboxColumns = """
        id, incident_id, sink, method, body, state, attempts, next_attempt_at, last_error, created_at, delivered_at
        """

    static func outboxItems(_ r: PGResult) -> [OutboxItem] {
        (0..<r.count).map { i in
            OutboxItem(id: r.int64(i, 0), incidentID: r.int64(i, 1), sink: r.string(i, 2), method: r.string(i, 3),
                       body: r.string(i, 4), state: OutboxItem.State(rawValue: r.string(i, 5)) ?? .pending,
                       attempts: Int(r.int64(i, 6)), nextAttemptAt: r.int64(i, 7), lastError: r.stringOrNil(i, 8),
                       createdAt: r.int64(i, 9), deliveredAt: r.int64OrNil(i, 10))
        }
    }
}
