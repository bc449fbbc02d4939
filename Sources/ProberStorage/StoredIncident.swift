import ProberCore

/// An incident with what the evaluator tracks for it and its delivery state.
public struct StoredIncident: Sendable, Equatable {
    public var incident: Incident
    public var tracking: OpenIncident
    /// The id the remote API (IsDown) gave it, once the create was delivered.
    public var isdownID: String?
    /// Its outgoing calls, oldest first.
    public var deliveries: [OutboxItem]

    public init(incident: Incident, tracking: OpenIncident, isdownID: String?, deliveries: [OutboxItem]) {
        self.incident = incident
        self.tracking = tracking
        self.isdownID = isdownID
        self.deliveries = deliveries
    }
}

extension StoredIncident {
    /// The open incidents keyed by each probe in them: a shared incident under every member still in it, with
    /// that member's own tracking; a probe's own incident under its probe. The newest wins a tie.
    public static func byProbe(_ incidents: [StoredIncident]) -> [String: StoredIncident] {
        var out: [String: StoredIncident] = [:]
        for stored in incidents.sorted(by: { $0.incident.id < $1.incident.id }) {
            if stored.incident.members.isEmpty {
                out[stored.incident.probe] = stored
                continue
            }
            for member in stored.incident.members where member.leftAt == nil {
                var mine = stored
                mine.tracking = member.tracking
                out[member.probe] = mine
            }
        }
        return out
    }
}
