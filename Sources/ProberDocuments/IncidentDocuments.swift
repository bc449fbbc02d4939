import ProberCore
import ProberStorage

/// `prober incidents --json`, `prober incidents show ID --json`, `/api/v1/incidents[/ID]`: the IsDown document
/// shape of each incident, with its delivery state beside the attributes.
public enum IncidentDocuments {
    /// `{"data": [...]}`, newest first.
    public static func list(_ incidents: [StoredIncident], now: Int64) -> JSONValue {
        .object(["data": .array(incidents.map { document($0, now: now) })])
    }

    /// `{"data": {...}}`.
    public static func one(_ incident: StoredIncident, now: Int64) -> JSONValue {
        .object(["data": document(incident, now: now)])
    }

    /// `local` (nothing to send), `delivered`, `pending (next in 30 s: HTTP 503)` or `failed: HTTP 401: …`.
    public static func delivery(_ s: StoredIncident, now: Int64) -> String {
        guard !s.deliveries.isEmpty else { return "local" }
        if let failed = s.deliveries.first(where: { $0.state == .failed }) {
            return "failed: " + (failed.lastError ?? "unknown")
        }
        if let pending = s.deliveries.first(where: { $0.state == .pending }) {
            let wait = max(0, pending.nextAttemptAt - now) / 1_000_000
            var text = "pending (" + (wait == 0 ? "due now" : "next in \(Human.span(seconds: wait))")
            if let error = pending.lastError { text += ": \(error)" }
            return text + ")"
        }
        return "delivered"
    }

    /// One incident's document (what `data` holds).
    public static func document(_ s: StoredIncident, now: Int64) -> JSONValue {
        let deliveries: [JSONValue] = s.deliveries.map { d in
            .object([
                "sink": .string(d.sink), "method": .string(d.method), "state": .string(d.state.rawValue),
                "attempts": .int(Int64(d.attempts)),
                "next_attempt_at": d.state == .pending ? .string(UTCTime.iso8601(d.nextAttemptAt)) : .null,
                "last_error": d.lastError.map { .string($0) } ?? .null,
            ])
        }
        return IncidentDocument.json(s.incident, remoteID: s.isdownID, extra: [
            "delivery": .string(delivery(s, now: now)),
            "deliveries": .array(deliveries),
        ])
    }
}

/// `prober deliveries --json`: every call not delivered, oldest first.
public enum DeliveriesDocument {
    public static func json(_ items: [OutboxItem]) -> JSONValue {
        .array(items.map { d in
            .object([
                "id": .int(d.id), "incident_id": .int(d.incidentID), "sink": .string(d.sink), "method": .string(d.method),
                "state": .string(d.state.rawValue), "attempts": .int(Int64(d.attempts)),
                "next_attempt_at": .string(UTCTime.iso8601(d.nextAttemptAt)),
                "last_error": d.lastError.map { .string($0) } ?? .null,
            ])
        })
    }
}
