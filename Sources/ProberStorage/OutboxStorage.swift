/// What the delivery worker needs from storage: the calls due, recording each attempt, and the id a
/// remote API gave an incident.
public protocol OutboxStorage: AnyObject, Sendable {
    /// For each incident and sink only the oldest call not yet delivered (calls go out in order), when it is
    /// pending and due at `now`, at most `limit`. Calls to the sinks in `excluding` are left out (a sink that
    /// cannot be served now must not fill the limit and starve the others).
    func dueDeliveries(now: Int64, limit: Int, excluding: Set<String>) throws -> [OutboxItem]
    /// Whether any call to `sink` is waiting to be delivered.
    func hasPending(sink: String) throws -> Bool
    /// When the earliest pending call is due, if any.
    func nextDeliveryDue() throws -> Int64?
    /// Records the outcome of an attempt; `remoteID` (a delivered create's answer) is kept with the incident.
    func recordAttempt(_ itemID: Int64, state: OutboxItem.State, nextAttemptAt: Int64, error: String?,
                       at now: Int64, remoteID: String?) throws
    /// Notes that a call is being sent (`OutboxItem.sentMarker` as its last error) before it goes out, so a
    /// process that dies before storing the answer leaves a trace: the next one then looks for what the
    /// call made before sending it again.
    func markSending(_ itemID: Int64) throws
    /// The id the remote API gave the incident, once its create was delivered.
    func remoteID(incident: Int64) throws -> String?
    /// The probe an incident belongs to (to pick between sinks of one name).
    func probe(incident: Int64) throws -> String?
    /// Every call not delivered (pending or failed), oldest first (`prober deliveries`).
    func undelivered() throws -> [OutboxItem]
    /// How many calls are not delivered, counted without reading them (`/metrics`).
    func undeliveredCounts() throws -> OutboxCounts
    /// Puts failed calls back in the queue (all, or the one with `id`), due at `now`; returns how many
    /// (`prober deliveries retry`).
    func retryFailed(id: Int64?, now: Int64) throws -> Int
}

/// Calls not yet delivered: pending (to be tried) and failed (given up until `prober deliveries retry`).
public struct OutboxCounts: Sendable, Equatable {
    public var pending: Int
    public var failed: Int

    public init(pending: Int, failed: Int) {
        self.pending = pending
        self.failed = failed
    }
}

extension OutboxStorage {
    /// The calls due at `now`, at most 64, from every sink.
    public func dueDeliveries(now: Int64) throws -> [OutboxItem] { try dueDeliveries(now: now, limit: 64, excluding: []) }
    /// Records an attempt that brought no remote id.
    public func recordAttempt(_ itemID: Int64, state: OutboxItem.State, nextAttemptAt: Int64, error: String?, at now: Int64) throws {
        try recordAttempt(itemID, state: state, nextAttemptAt: nextAttemptAt, error: error, at: now, remoteID: nil)
    }
    /// Puts every failed call back in the queue.
    public func retryFailed(now: Int64) throws -> Int { try retryFailed(id: nil, now: now) }
}
