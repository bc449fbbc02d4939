import ProberCore

/// One incident change as plain values: what `IncidentStorage.record` writes in one transaction.
public struct IncidentChange: Sendable, Equatable {
    /// The incident after the change. Its `id` is 0 when the change opens it (the store assigns one);
    /// its `updates` hold at least `update`.
    public var incident: Incident
    /// The timeline entry this change appends (for an opening, the first).
    public var update: IncidentUpdate
    /// What the evaluator tracks for the incident after the change (to continue it after a restart).
    public var tracking: OpenIncident
    /// The calls announcing the change, one per sink that takes it. In an opening's bodies
    /// `OutboxItem.incidentIDPlaceholder` stands for the id the store assigns.
    public var outbox: [OutboxItem]

    public init(incident: Incident, update: IncidentUpdate, tracking: OpenIncident, outbox: [OutboxItem]) {
        self.incident = incident
        self.update = update
        self.tracking = tracking
        self.outbox = outbox
    }

    /// Whether this change opens the incident (and so creates it in the store).
    public var opens: Bool { update.kind == .opened }
}
