import ProberCore
import ProberStorage

/// The probes of incidents shared by several (`IncidentGroups`), as in SQLite (Store+IncidentMembers.swift).
/// Fleet mode does not group (docs/incidents.md), so a fleet's incidents have none; the rows are written
/// by a prober that groups (`IncidentChange` carrying members) and read by every reader.
extension PostgresStore {
    /// Version 6: the cause an incident stands for and its member probes.
    static let schemaIncidentMembers = """
        ALTER TABLE incidents ADD COLUMN cause text;       -- IncidentCause.encoded; NULL for a probe's own incident
        CREATE TABLE incident_members(
            incident_id bigint NOT NULL REFERENCES incidents(id),
            probe_id bigint NOT NULL REFERENCES probes(id),
            seq integer NOT NULL,                          -- its place in the order members joined
            joined_at bigint NOT NULL,
            left_at bigint,                                -- NULL while the probe is in the incident
            status text NOT NULL,                          -- the probe's own episode, as its evaluator tracks it
            stage text NOT NULL,
            opened_at bigint NOT NULL,
            degraded_since bigint NOT NULL,
            failed_checks bigint NOT NULL,
            worst_p95 bigint,
            worst_failures bigint NOT NULL,
            PRIMARY KEY (incident_id, probe_id)
        );
        CREATE INDEX incident_members_in ON incident_members(probe_id) WHERE left_at IS NULL;
        """

    /// Writes the incident's cause and members as they are after a change, and makes its probe the lead
    /// (a member still in it, so `incidents_one_open` keeps one open incident per probe).
    func writeMembers(_ incident: Incident, incidentID: Int64, _ db: PGConnection) throws {
        guard incident.cause != nil || !incident.members.isEmpty else { return }
        for name in [incident.probe] + incident.members.map(\.probe) {
            try db.query("INSERT INTO probes(name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                         [.text(name), .int(clock.now())])
        }
        guard let lead = try probeID(incident.probe, db) else { return }
        try db.query("UPDATE incidents SET cause = $2, probe_id = $3 WHERE id = $1",
                     [.int(incidentID), PGParam(incident.cause), .int(lead)])
        for (seq, member) in incident.members.enumerated() {
            guard let probeID = try probeID(member.probe, db) else { continue }
            let t = member.tracking
            try db.query("""
                INSERT INTO incident_members(incident_id, probe_id, joined_at, left_at, status, stage, opened_at, degraded_since,
                    failed_checks, worst_p95, worst_failures, seq)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
                ON CONFLICT (incident_id, probe_id) DO UPDATE SET seq = excluded.seq, joined_at = excluded.joined_at, left_at = excluded.left_at,
                    status = excluded.status, stage = excluded.stage, opened_at = excluded.opened_at,
                    degraded_since = excluded.degraded_since, failed_checks = excluded.failed_checks,
                    worst_p95 = excluded.worst_p95, worst_failures = excluded.worst_failures
                """, [.int(incidentID), .int(probeID), .int(member.joinedAt), PGParam(member.leftAt), .text(t.status.rawValue),
                      .text(t.stage.rawValue), .int(t.openedAt), .int(t.degradedSince), .int(Int64(t.failedChecks)),
                      PGParam(t.worstP95), .int(Int64(t.worstFailures)), .int(Int64(seq))])
        }
    }

    /// The cause and members of an incident, in the order they joined.
    func readMembers(incidentID: Int64, _ db: PGConnection) throws -> (cause: String?, members: [IncidentMember]) {
        let cause = try db.query("SELECT cause FROM incidents WHERE id = $1", [.int(incidentID)])
        let text = cause.count > 0 ? cause.stringOrNil(0, 0) : nil
        let r = try db.query("""
            SELECT p.name, m.joined_at, m.left_at, m.status, m.stage, m.opened_at, m.degraded_since, m.failed_checks,
                   m.worst_p95, m.worst_failures
            FROM incident_members m JOIN probes p ON p.id = m.probe_id
            WHERE m.incident_id = $1 ORDER BY m.seq
            """, [.int(incidentID)])
        var members: [IncidentMember] = []
        for row in 0..<r.count {
            let tracking = OpenIncident(
                status: Severity(rawValue: r.string(row, 3)) ?? .minor,
                stage: ResolutionStage(rawValue: r.string(row, 4)) ?? .investigating,
                openedAt: r.int64(row, 5), degradedSince: r.int64(row, 6), failedChecks: Int(r.int64(row, 7)),
                worstP95: r.int64OrNil(row, 8), worstFailures: Int(r.int64(row, 9)))
            members.append(IncidentMember(probe: r.string(row, 0), joinedAt: r.int64(row, 1), leftAt: r.int64OrNil(row, 2),
                                          tracking: tracking))
        }
        return (text, members)
    }
}
