/// The JSON document of an incident: `{"id": …, "type": "incidents", "attributes": {…}}`, the shape the
/// IsDown incidents API returns. `prober incidents --json` prints it and webhooks receive it, so it lives
/// here, beside `Incident`, for both.
public enum IncidentDocument {
    /// The document of `incident`. `id` replaces the incident's own id (a placeholder when it is not known
    /// yet); `remoteID` is the id IsDown gave it; `extra` adds attributes.
    public static func json(_ incident: Incident, id: JSONValue? = nil, remoteID: String? = nil,
                            extra: [String: JSONValue] = [:]) -> JSONValue {
        var attributes: [String: JSONValue] = [
            "title": .string(incident.title),
            "description": .string(incident.description),
            "status": .string(incident.status.rawValue),
            "resolution_stage": .string(incident.stage.rawValue),
            "resolved": .bool(incident.resolved),
            "created_at": .string(UTCTime.iso8601(incident.createdAt)),
            "updated_at": .string(UTCTime.iso8601(incident.updatedAt)),
            "resolved_at": incident.resolvedAt.map { .string(UTCTime.iso8601($0)) } ?? .null,
            "service_id": incident.serviceID.map { .int(Int64($0)) } ?? .null,
            "probe": .string(incident.probe),
            "updates": .array(incident.updates.reversed().map { u in
                .object([
                    "status": .string(u.stage.rawValue),
                    "severity": .string(u.status.rawValue),
                    "event": .string(u.kind.rawValue),
                    "created_at": .string(UTCTime.iso8601(u.createdAt)),
                    "description": .string(u.description),
                    "evidence": u.evidence.isEmpty ? .null : .raw(u.evidence),
                ])
            }),
        ]
        if !incident.members.isEmpty {
            // Every probe that shared it, in the order they joined (IncidentGroups).
            var seen: Set<String> = []
            attributes["probes"] = .array(incident.members.filter { seen.insert($0.probe).inserted }.map { .string($0.probe) })
        }
        for (k, v) in extra { attributes[k] = v }
        return .object([
            "id": id ?? .string(String(incident.id)),
            "type": .string("incidents"),
            "isdown_id": remoteID.map { .string($0) } ?? .null,
            "attributes": .object(attributes),
        ])
    }
}
