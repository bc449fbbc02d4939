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
