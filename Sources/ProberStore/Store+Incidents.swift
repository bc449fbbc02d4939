import CSQLite3
import Foundation
import ProberCore
import ProberStorage

extension Store {
    /// Version 2: incidents, their timelines and the outbox.
    static let schemaV2 = """
        CREATE TABLE incidents(
            id INTEGER PRIMARY KEY,
            probe_id INTEGER NOT NULL,
            service_id INTEGER,
            title TEXT NOT NULL,
            description TEXT NOT NULL,            -- the first update's text
            status TEXT NOT NULL,                 -- minor | major
            stage TEXT NOT NULL,                  -- investigating | monitoring | resolved
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            resolved_at INTEGER,
            degraded_since INTEGER NOT NULL,      -- the evaluator's evidence, to continue after a restart
            failed_checks INTEGER NOT NULL,
            worst_p95 INTEGER,
            worst_failures INTEGER NOT NULL,
            isdown_id TEXT                        -- the id IsDown returned for the create
        );
        CREATE INDEX incidents_open ON incidents(probe_id) WHERE resolved_at IS NULL;
        CREATE INDEX incidents_created ON incidents(created_at);
        CREATE TABLE incident_updates(
            incident_id INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            kind TEXT NOT NULL,                   -- opened | escalated | deescalated | monitoring | relapsed | resolved
            stage TEXT NOT NULL,
            status TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            description TEXT NOT NULL,
            PRIMARY KEY (incident_id, seq)
        ) WITHOUT ROWID;
        CREATE TABLE outbox(
            id INTEGER PRIMARY KEY,
            incident_id INTEGER NOT NULL,
            sink TEXT NOT NULL,
            method TEXT NOT NULL,
            body TEXT NOT NULL,
            state TEXT NOT NULL,                  -- pending | delivered | failed
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at INTEGER NOT NULL,
            last_error TEXT,
            created_at INTEGER NOT NULL,
            delivered_at INTEGER
        );
        CREATE INDEX outbox_pending ON outbox(incident_id, sink, id) WHERE state != 'delivered';
        """

    /// Version 3: the evaluator's evidence (JSON) kept with each timeline entry.
    static let schemaV3 = """
        ALTER TABLE incident_updates ADD COLUMN evidence TEXT NOT NULL DEFAULT '';
        """

    // MARK: Writing incident changes

    /// Writes one incident change and its outbox rows in one transaction (see `IncidentStorage.record`).
    @discardableResult
    public func record(_ change: IncidentChange) throws -> Int64 {
        if change.opens {
            return try openIncident(change.incident, tracking: change.tracking, outbox: change.outbox)
        }
        try appendUpdate(incidentID: change.incident.id, change.update, tracking: change.tracking, outbox: change.outbox,
                         members: change.incident)
        return change.incident.id
    }

    /// Stores a newly opened incident with its first update and its outgoing calls, in one transaction.
    /// Returns the incident's id.
    @discardableResult
    public func openIncident(_ incident: Incident, tracking: OpenIncident, outbox: [OutboxItem]) throws -> Int64 {
        try write { db in
            guard let probeID = try probeID(incident.probe, create: true, db) else { return 0 }
            let insert = try db.prepare("""
                INSERT INTO incidents(probe_id, service_id, title, description, status, stage, created_at, updated_at,
                    resolved_at, degraded_since, failed_checks, worst_p95, worst_failures)
                VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
                """)
            try insert.bind(1, probeID)
            try insert.bind(2, incident.serviceID.map(Int64.init))
            try insert.bind(3, incident.title)
            try insert.bind(4, incident.description)
            try insert.bind(5, incident.status.rawValue)
            try insert.bind(6, incident.stage.rawValue)
            try insert.bind(7, incident.createdAt)
            try insert.bind(8, incident.updatedAt)
            try insert.bind(9, incident.resolvedAt)
            try insert.bind(10, tracking.degradedSince)
            try insert.bind(11, Int64(tracking.failedChecks))
            try insert.bind(12, tracking.worstP95)
            try insert.bind(13, Int64(tracking.worstFailures))
            try insert.run()
            let id = sqlite3_last_insert_rowid(db.handle)
            for update in incident.updates { try insertUpdate(update, incidentID: id, db) }
            for item in outbox { try insertOutbox(item, incidentID: id, db) }
            try writeMembers(incident, incidentID: id, db)
            return id
        }
    }

    /// Appends a timeline entry to an incident, updates its status, stage and evidence, and queues its
    /// outgoing calls, in one transaction.
    /// `members`, when given, is the incident after the change: its cause and members are written with it.
    public func appendUpdate(incidentID: Int64, _ update: IncidentUpdate, tracking: OpenIncident, outbox: [OutboxItem],
                             members: Incident? = nil) throws {
        try write { db in
            let set = try db.prepare("""
                UPDATE incidents SET status = ?2, stage = ?3, updated_at = ?4,
                    resolved_at = CASE WHEN ?3 = 'resolved' THEN ?4 ELSE NULL END,
                    failed_checks = ?5, worst_p95 = ?6, worst_failures = ?7
                WHERE id = ?1
                """)
            try set.bind(1, incidentID)
            try set.bind(2, update.status.rawValue)
            try set.bind(3, update.stage.rawValue)
            try set.bind(4, update.createdAt)
            try set.bind(5, Int64(tracking.failedChecks))
            try set.bind(6, tracking.worstP95)
            try set.bind(7, Int64(tracking.worstFailures))
            try set.run()
            guard db.changes == 1 else {
                throw StoreError(code: 0, message: "no incident \(incidentID) to update", path: path)
            }
            try insertUpdate(update, incidentID: incidentID, db)
            for item in outbox { try insertOutbox(item, incidentID: incidentID, db) }
            if let members { try writeMembers(members, incidentID: incidentID, db) }
        }
    }

    private func insertUpdate(_ update: IncidentUpdate, incidentID: Int64, _ db: Connection) throws {
        let insert = try db.prepare("""
            INSERT INTO incident_updates(incident_id, seq, kind, stage, status, created_at, description, evidence)
            VALUES (?1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM incident_updates WHERE incident_id = ?1), ?2, ?3, ?4, ?5, ?6, ?7)
            """)
        try insert.bind(1, incidentID)
        try insert.bind(2, update.kind.rawValue)
        try insert.bind(3, update.stage.rawValue)
        try insert.bind(4, update.status.rawValue)
        try insert.bind(5, update.createdAt)
        try insert.bind(6, update.description)
        try insert.bind(7, update.evidence)
        try insert.run()
    }

    /// `OutboxItem.incidentIDPlaceholder` in the body becomes the incident's id.
    private func insertOutbox(_ item: OutboxItem, incidentID: Int64, _ db: Connection) throws {
        let insert = try db.prepare("""
            INSERT INTO outbox(incident_id, sink, method, body, state, attempts, next_attempt_at, created_at)
            VALUES (?1, ?2, ?3, ?4, 'pending', 0, ?5, ?6)
            """)
        try insert.bind(1, incidentID)
        try insert.bind(2, item.sink)
        try insert.bind(3, item.method)
        try insert.bind(4, item.body.replacingOccurrences(of: OutboxItem.incidentIDPlaceholder, with: String(incidentID)))
        try insert.bind(5, item.nextAttemptAt)
        try insert.bind(6, item.createdAt)
        try insert.run()
    }

    // MARK: Reading incidents

    /// The open incident of every probe that has one, with the evaluator's tracking, keyed by probe name.
    public func openIncidents() throws -> [String: StoredIncident] {
        StoredIncident.byProbe(try incidents(where: "i.resolved_at IS NULL", []))
    }

    /// Incidents created at or after `since` (µs), or still open, newest first.
    public func incidents(since: Int64?, openOnly: Bool = false) throws -> [StoredIncident] {
        var clauses: [String] = []
        var values: [Int64?] = []
        if openOnly { clauses.append("i.resolved_at IS NULL") }
        if let since {
            values.append(since)
            clauses.append("(i.created_at >= ?\(values.count) OR i.resolved_at IS NULL OR i.resolved_at >= ?\(values.count))")
        }
        return try incidents(where: clauses.isEmpty ? "1" : clauses.joined(separator: " AND "), values)
    }

    /// One incident with its whole timeline and deliveries.
    public func incident(id: Int64) throws -> StoredIncident? {
        try incidents(where: "i.id = ?1", [id]).first
    }

    /// Failed checks of a probe at or after `since` (to recount an open incident's impact after a restart).
    public func failureCount(probe: String, since: Int64) throws -> Int {
        try read { db in
            guard let id = try probeID(probe, create: false, db) else { return 0 }
            var failures = 0
            try forEachSample(probe: id, from: since, to: Int64.max, db) { sample in
                if sample.reason != 0 { failures += 1 }
                return true
            }
            return failures
        }
    }

    private func incidents(where clause: String, _ values: [Int64?]) throws -> [StoredIncident] {
        try read { db in
            let select = try db.prepare("""
                SELECT i.id, p.name, i.service_id, i.title, i.description, i.status, i.stage, i.created_at, i.updated_at,
                       i.resolved_at, i.degraded_since, i.failed_checks, i.worst_p95, i.worst_failures, i.isdown_id
                FROM incidents i JOIN probes p ON p.id = i.probe_id
                WHERE \(clause) ORDER BY i.created_at DESC, i.id DESC
                """)
            for (i, v) in values.enumerated() { try select.bind(i + 1, v) }
            var out: [StoredIncident] = []
            while try select.step() {
                let stage = ResolutionStage(rawValue: select.string(6)) ?? .investigating
                let status = Severity(rawValue: select.string(5)) ?? .minor
                let incident = Incident(
                    id: select.int64(0), probe: select.string(1), serviceID: select.int64OrNil(2).map { Int($0) },
                    title: select.string(3), description: select.string(4), status: status, stage: stage,
                    createdAt: select.int64(7), updatedAt: select.int64(8), resolvedAt: select.int64OrNil(9), updates: [])
                let tracking = OpenIncident(status: status, stage: stage, openedAt: select.int64(7),
                                            degradedSince: select.int64(10), failedChecks: Int(select.int64(11)),
                                            worstP95: select.int64OrNil(12), worstFailures: Int(select.int64(13)))
                out.append(StoredIncident(incident: incident, tracking: tracking,
                                          isdownID: select.isNull(14) ? nil : select.string(14), deliveries: []))
            }
            select.reset()
            let updates = try db.prepare("""
                SELECT kind, stage, status, created_at, description, evidence FROM incident_updates WHERE incident_id = ?1 ORDER BY seq
                """)
            for i in out.indices {
                updates.reset()
                try updates.bind(1, out[i].incident.id)
                while try updates.step() {
                    out[i].incident.updates.append(IncidentUpdate(
                        kind: IncidentEvent.Kind(rawValue: updates.string(0)) ?? .opened,
                        stage: ResolutionStage(rawValue: updates.string(1)) ?? .investigating,
                        status: Severity(rawValue: updates.string(2)) ?? .minor,
                        createdAt: updates.int64(3), description: updates.string(4), evidence: updates.string(5)))
                }
                out[i].deliveries = try outboxItems(where: "incident_id = ?1 ORDER BY id", [out[i].incident.id], db)
                (out[i].incident.cause, out[i].incident.members) = try readMembers(incidentID: out[i].incident.id, db)
            }
            return out
        }
    }

    // MARK: The outbox

    /// The calls that may be attempted now: for each incident and sink, only the oldest call not yet
    /// delivered (calls go out in order), and only when it is pending and due. `excluding` leaves out
    /// sinks that cannot be served now (IsDown without a key), so their calls, always due and oldest, do
    /// not fill the `limit` and starve the others.
    public func dueDeliveries(now: Int64, limit: Int = 64, excluding: Set<String> = []) throws -> [OutboxItem] {
        try read { db in
            let names = excluding.sorted()
            let notIn = names.isEmpty ? "" : " AND sink NOT IN (" + names.indices.map { "?\($0 + 2)" }.joined(separator: ", ") + ")"
            return try outboxItems(where: """
                id IN (SELECT MIN(id) FROM outbox WHERE state != 'delivered' GROUP BY incident_id, sink)
                AND state = 'pending' AND next_attempt_at <= ?1\(notIn)
                ORDER BY next_attempt_at, id LIMIT \(limit)
                """, [now], db, texts: names)
        }
    }

    /// Whether any call to `sink` is waiting to be delivered.
    public func hasPending(sink: String) throws -> Bool {
        try read { db in
            let stmt = try db.prepare("SELECT EXISTS(SELECT 1 FROM outbox WHERE state = 'pending' AND sink = ?1)")
            try stmt.bind(1, sink)
            defer { stmt.reset() }
            return try stmt.step() && stmt.int64(0) == 1
        }
    }

    /// When the earliest pending call is due, if any (the delivery worker sleeps until then).
    public func nextDeliveryDue() throws -> Int64? {
        try read { db in
            try db.scalar("""
                SELECT MIN(next_attempt_at) FROM outbox WHERE state = 'pending'
                AND id IN (SELECT MIN(id) FROM outbox WHERE state != 'delivered' GROUP BY incident_id, sink)
                """)
        }
    }

    /// Every call not delivered (pending or failed), oldest first.
    public func undelivered() throws -> [OutboxItem] {
        try read { db in try outboxItems(where: "state != 'delivered' ORDER BY id", [], db) }
    }

    public func undeliveredCounts() throws -> OutboxCounts {
        try read { db in
            let statement = try db.prepare("""
                SELECT count(*) FILTER (WHERE state = 'pending'), count(*) FILTER (WHERE state = 'failed')
                FROM outbox WHERE state != 'delivered'
                """)
            guard try statement.step() else { return OutboxCounts(pending: 0, failed: 0) }
            return OutboxCounts(pending: Int(statement.int64(0)), failed: Int(statement.int64(1)))
        }
    }

    /// Records the outcome of an attempt. `remoteID` is stored on the incident when a create succeeded.
    public func recordAttempt(_ itemID: Int64, state: OutboxItem.State, nextAttemptAt: Int64, error: String?,
                              at now: Int64, remoteID: String? = nil) throws {
        try write { db in
            let set = try db.prepare("""
                UPDATE outbox SET state = ?2, attempts = attempts + 1, next_attempt_at = ?3, last_error = ?4,
                    delivered_at = CASE WHEN ?2 = 'delivered' THEN ?5 ELSE NULL END
                WHERE id = ?1
                """)
            try set.bind(1, itemID)
            try set.bind(2, state.rawValue)
            try set.bind(3, nextAttemptAt)
            try set.bind(4, error)
            try set.bind(5, now)
            try set.run()
            if let remoteID {
                let remote = try db.prepare("UPDATE incidents SET isdown_id = ?2 WHERE id = (SELECT incident_id FROM outbox WHERE id = ?1)")
                try remote.bind(1, itemID)
                try remote.bind(2, remoteID)
                try remote.run()
            }
        }
    }

    /// Marks a pending call as sent, its answer not stored yet (see `OutboxStorage.markSending`).
    public func markSending(_ itemID: Int64) throws {
        try write { db in
            let set = try db.prepare("UPDATE outbox SET last_error = ?2 WHERE id = ?1 AND state = 'pending'")
            try set.bind(1, itemID)
            try set.bind(2, OutboxItem.sentMarker)
            try set.run()
        }
    }

    /// The id the remote API (IsDown) gave an incident, once its create was delivered.
    public func remoteID(incident: Int64) throws -> String? {
        try read { db in
            let stmt = try db.prepare("SELECT isdown_id FROM incidents WHERE id = ?1")
            try stmt.bind(1, incident)
            guard try stmt.step(), !stmt.isNull(0) else { return nil }
            return stmt.string(0)
        }
    }

    /// The probe an incident belongs to.
    public func probe(incident: Int64) throws -> String? {
        try read { db in
            let stmt = try db.prepare("SELECT p.name FROM incidents i JOIN probes p ON p.id = i.probe_id WHERE i.id = ?1")
            try stmt.bind(1, incident)
            defer { stmt.reset() }
            guard try stmt.step() else { return nil }
            return stmt.string(0)
        }
    }

    /// Puts failed calls back in the queue (all, or one by id), due now. Returns how many.
    @discardableResult
    public func retryFailed(id: Int64? = nil, now: Int64) throws -> Int {
        try write { db in
            let stmt = try db.prepare(id == nil
                ? "UPDATE outbox SET state = 'pending', next_attempt_at = ?1, attempts = 0 WHERE state = 'failed'"
                : "UPDATE outbox SET state = 'pending', next_attempt_at = ?1, attempts = 0 WHERE state = 'failed' AND id = ?2")
            try stmt.bind(1, now)
            if let id { try stmt.bind(2, id) }
            try stmt.run()
            return db.changes
        }
    }

    /// `texts` are bound after `values` (from `?\(values.count + 1)` on).
    private func outboxItems(where clause: String, _ values: [Int64?], _ db: Connection, texts: [String] = []) throws -> [OutboxItem] {
        let select = try db.prepare("""
            SELECT id, incident_id, sink, method, body, state, attempts, next_attempt_at, last_error, created_at, delivered_at
            FROM outbox WHERE \(clause)
            """)
        for (i, v) in values.enumerated() { try select.bind(i + 1, v) }
        for (i, text) in texts.enumerated() { try select.bind(values.count + 1 + i, text) }
        var out: [OutboxItem] = []
        while try select.step() {
            out.append(OutboxItem(
                id: select.int64(0), incidentID: select.int64(1), sink: select.string(2), method: select.string(3),
                body: select.string(4), state: OutboxItem.State(rawValue: select.string(5)) ?? .pending,
                attempts: Int(select.int64(6)), nextAttemptAt: select.int64(7),
                lastError: select.isNull(8) ? nil : select.string(8), createdAt: select.int64(9),
                deliveredAt: select.int64OrNil(10)))
        }
        select.reset()
        return out
    }
}

extension Store: IncidentStorage, OutboxStorage {
    /// The baseline over the standard span (`Baseline.span`, `Baseline.perHour`).
    public func baseline(probe: String, until: Int64) throws -> Baseline {
        try baseline(probe: probe, until: until, span: Baseline.span, perHour: Baseline.perHour)
    }
}
