import ProberCore

/// An outgoing call waiting in (or done with) the outbox. Written in the same transaction as the
/// incident change it announces, so no change is ever lost between the two.
public struct OutboxItem: Sendable, Equatable {
    public enum State: String, Sendable, Equatable, CaseIterable {
        case pending, delivered, failed
    }

    /// Stands for the incident's id in a `body` queued with the change that opens the incident (its id
    /// is not known before the store assigns it): the store replaces it with the id's decimal digits.
    /// The control characters keep it from ever occurring in encoded JSON text, which escapes them.
    public static let incidentIDPlaceholder = "\u{1}incident.id\u{1}"

    /// The last error of a call sent whose answer was not stored yet (`OutboxStorage.markSending`).
    public static let sentMarker = "sent; no answer stored yet (prober stopped while the call was in flight?)"
    /// Ends the last error of a create sent whose answer was lost (a timeout, a dropped connection).
    public static let answerLostNote = " (sent, the answer lost: looked for at the receiver before it is sent again)"

    /// Whether this call may have reached its receiver without its answer being stored: marked as sent by a
    /// process that died, or its answer lost. A create like this is looked for before it is sent again.
    public var mayHaveBeenSent: Bool {
        guard let lastError else { return false }
        return lastError == Self.sentMarker || lastError.hasSuffix(Self.answerLostNote)
    }

    public var id: Int64
    public var incidentID: Int64
    /// The sink's stable name (`Sink.name`): the IsDown sink's, or `<format>:<key>` naming a `notify:` entry
    /// (`webhook:`, `slack:`, `pagerduty:`; the key is a hash of its URL: no secret is stored).
    public var sink: String
    /// `POST` (create) or `PATCH` (update of the incident the POST created).
    public var method: String
    /// The JSON body, without secrets (keys and header values are added at delivery).
    public var body: String
    public var state: State
    public var attempts: Int
    /// When the next attempt is due (µs since the epoch).
    public var nextAttemptAt: Int64
    /// Why the last attempt did not deliver (never a secret).
    public var lastError: String?
    public var createdAt: Int64
    public var deliveredAt: Int64?

    public init(id: Int64 = 0, incidentID: Int64 = 0, sink: String, method: String, body: String, state: State = .pending,
                attempts: Int = 0, nextAttemptAt: Int64, lastError: String? = nil, createdAt: Int64, deliveredAt: Int64? = nil) {
        self.id = id
        self.incidentID = incidentID
        self.sink = sink
        self.method = method
        self.body = body
        self.state = state
        self.attempts = attempts
        self.nextAttemptAt = nextAttemptAt
        self.lastError = lastError
        self.createdAt = createdAt
        self.deliveredAt = deliveredAt
    }
}
