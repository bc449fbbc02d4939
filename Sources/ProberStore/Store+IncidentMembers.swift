import ProberCore
import ProberStorage

/// The probes of incidents shared by several (`IncidentGroups`): one row per incident and probe, with what
/// the probe's own evaluator tracks, so a restart continues each member where it was.
extension Store {
    /// Version 7: the cause an incident stands for and its member probes.
    static let schemaIncidentMembers = """
        ALTER TABLE incidents ADD COLUMN cause TEXT;       -- IncidentCause.encoded; NULL for a probe's own incident
        CREATE TABLE incident_members(
            incident_id INTEGER NOT NULL,
            probe_id INTEGER NOT NULL,
            seq INTEGER NOT NULL,                          -- its place in the order members joined
            joined_at INTEGER NOT NULL,
            left_at INTEGER,                               -- NULL while the probe is in the incident
            status TEXT NOT NULL,                          -- the probe's own episode, as its evaluator tracks it
            stage TEXT NOT NULL,
            opened_at INTEGER NOT NULL,
            degraded_since INTEGER NOT NULL,
            failed_checks INTEGER NOT NULL,
            worst_p95 INTEGER,
            worst_failures INTEGER NOT NULL,
            PRIMARY KEY (incident_id, probe_id)
        ) WITHOUT ROWID;
        CREATE INDEX incident_members_in ON incident_members(probe_id) WHERE left_at IS NULL;
        """

    /// Writes the incident's cause and members as they are after a change (every member, those that left
    /// included), and makes its probe the lead.
    func writeMembers(_ incident: Incident, incidentID: Int64, _ db: Connection) throws {
        guard incident.cause != nil || !incident.members.isEmpty else { return }
        guard let lead = try probeID(incident.probe, create: true, db) else { return }
        let set = try db.prepare("UPDATE incidents SET cause = ?2, probe_id = ?3 WHERE id = ?1")
        try set.bind(1, incidentID)
        try set.bind(2, incident.cause)
        try set.bind(3, lead)
        try set.run()
        let upsert = try db.prepare("""
            INSERT INTO incident_members(incident_id, probe_id, joined_at, left_at, status, stage, opened_at, degraded_since,
                failed_checks, worst_p95, worst_failures, seq)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
            ON CONFLICT(incident_id, probe_id) DO UPDATE SET seq = excluded.seq, joined_at = excluded.joined_at, left_at = excluded.left_at,
                status = excluded.status, stage = excluded.stage, opened_at = excluded.opened_at,
                degraded_since = excluded.degraded_since, failed_checks = excluded.failed_checks,
                worst_p95 = excluded.worst_p95, worst_failures = excluded.worst_failures
            """)
        for (seq, member) in incident.members.enumerated() {
            guard let probeID = try probeID(member.probe, create: true, db) else { continue }
            let t = member.tracking
            upsert.reset()
            try upsert.bind(1, incidentID)
            try upsert.bind(2, probeID)
            try upsert.bind(3, member.joinedAt)
            try upsert.bind(4, member.leftAt)
            try upsert.bind(5, t.status.rawValue)
            try upsert.bind(6, t.stage.rawValue)
            try upsert.bind(7, t.openedAt)
            try upsert.bind(8, t.degradedSince)
            try upsert.bind(9, Int64(t.failedChecks))
            try upsert.bind(10, t.worstP95)
            try upsert.bind(11, Int64(t.worstFailures))
            try upsert.bind(12, Int64(seq))
            try upsert.run()
        }
    }

    /// The cause and members of an incident, in the order they joined.
    func readMembers(incidentID: Int64, _ db: Connection) throws -> (cause: String?, members: [IncidentMember]) {
        let cause = try db.prepare("SELECT cause FROM incidents WHERE id = ?1")
        try cause.bind(1, incidentID)
        let text = try cause.step() && !cause.isNull(0) ? cause.string(0) : nil
        cause.reset()
        let select = try db.prepare("""
            SELECT p.name, m.joined_at, m.left_at, m.status, m.stage, m.opened_at, m.degraded_since, m.failed_checks,
                   m.worst_p95, m.worst_failures
            FROM incident_members m JOIN probes p ON p.id = m.probe_id
            WHERE m.incident_id = ?1 ORDER BY m.seq
            """)
        try select.bind(1, incidentID)
        var members: [IncidentMember] = []
        while try select.step() {
            let tracking = OpenIncident(
                status: Severity(rawValue: select.string(3)) ?? .minor,
                stage: ResolutionStage(rawValue: select.string(4)) ?? .investigating,
                openedAt: select.int64(5), degradedSince: select.int64(6), failedChecks: Int(select.int64(7)),
                worstP95: select.int64OrNil(8), worstFailures: Int(select.int64(9)))
            members.append(IncidentMember(probe: select.string(0), joinedAt: select.int64(1), leftAt: select.int64OrNil(2),
                                          tracking: tracking))
        }
        select.reset()
        return (text, members)
    }
}
