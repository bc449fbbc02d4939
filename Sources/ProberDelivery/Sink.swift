import Foundation
import ProberCore
import ProberStorage

/// One destination of incident changes (the IsDown API, a webhook): how a change becomes a stored call,
/// how a stored call becomes an HTTP request, and how the answer is read. The outbox worker knows
/// nothing else about a destination, so adding one is one file conforming to this.
public protocol Sink: Sendable {
    /// The name its calls carry in the outbox (`OutboxItem.sink`): stable across restarts, never a secret.
    var name: String { get }
    /// How logs and messages call it (`IsDown`, `webhook`).
    var label: String { get }
    /// Why its calls must wait now (a missing key), or nil when they can go.
    var waitReason: String? { get }
    /// What must never be stored or logged (keys, header values): redacted from the reasons an API echoes.
    var secrets: [String] { get }

    /// The call announcing `update` of `incident` (of probe `spec`), or nil when this sink does not take
    /// the probe's incidents. When the update opens the incident, its id is `OutboxItem.incidentIDPlaceholder`
    /// in the body.
    func call(for update: IncidentUpdate, of incident: Incident, probe spec: ProbeSpec) -> OutboxItem?
    /// The call announcing a later change of an incident this sink already announced, whatever the probe
    /// files say now (a probe removed with its incident open is resolved on every sink that was told of it),
    /// or nil when it cannot take it.
    func followUp(_ update: IncidentUpdate, of incident: Incident) -> OutboxItem?
    /// Whether it takes the incidents of `probe` (two webhooks of one name may serve different files).
    func serves(probe: String) -> Bool
    /// The HTTP request for a stored call, with the secrets added now; `remoteID` is the id a delivered
    /// create of the same incident returned.
    func request(for item: OutboxItem, remoteID: String?) -> SinkRequest
    /// What a delivered call created at the destination.
    func created(by item: OutboxItem, response: DeliveryResponse) -> CreatedID
    /// The destination's own explanation in an error body, if it gave one.
    func errorDetail(from body: [UInt8]) -> String?

    /// A request listing what creates made at the destination, to find the one a create (`item`) whose answer
    /// was lost made before sending it again; nil when the destination cannot be asked (then the create is
    /// simply sent again).
    func listingRequest(for item: OutboxItem) -> DeliveryRequest?
    /// The ids of the open incidents in `listing` that the create `item` made, oldest first; nil when the
    /// listing cannot be read.
    func createdIncidents(by item: OutboxItem, listing: DeliveryResponse) -> [String]?
    /// A request resolving incident `id`, a duplicate of `adopted` made by a create whose answer was lost.
    func resolveDuplicateRequest(id: String, adopted: String) -> DeliveryRequest?
}

/// A stored call made ready to send, or the reason it cannot be.
public enum SinkRequest: Sendable {
    /// The request, without its timeout (the worker sets it).
    case send(DeliveryRequest)
    /// Not sendable at all (not retried): the operator must act.
    case fail(String)
}

/// What a delivered call created, to be kept with the incident for later calls.
public enum CreatedID: Sendable, Equatable {
    /// The call creates nothing.
    case none
    case id(String)
    /// It should have returned an id but did not.
    case missing
}

extension Sink {
    public func serves(probe: String) -> Bool { true }
    public func created(by item: OutboxItem, response: DeliveryResponse) -> CreatedID { .none }
    public func followUp(_ update: IncidentUpdate, of incident: Incident) -> OutboxItem? { nil }
    public func listingRequest(for item: OutboxItem) -> DeliveryRequest? { nil }
    public func createdIncidents(by item: OutboxItem, listing: DeliveryResponse) -> [String]? { nil }
    public func resolveDuplicateRequest(id: String, adopted: String) -> DeliveryRequest? { nil }

    /// `errors[].detail` (or `title`) of a JSON:API error document, joined; nil when the body is not one.
    /// IsDown answers errors this way, and so do many webhook receivers.
    public func errorDetail(from body: [UInt8]) -> String? {
        guard let json = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
              let errors = json["errors"] as? [[String: Any]] else { return nil }
        let details = errors.compactMap { ($0["detail"] as? String) ?? ($0["title"] as? String) }
        return details.isEmpty ? nil : details.joined(separator: "; ")
    }
}

/// The headers every JSON call carries.
let jsonHeaders = [Header(name: "Content-Type", value: "application/json"), Header(name: "Accept", value: "application/json")]

/// One outgoing HTTP call of the outbox, as handed to the HTTP client.
public struct DeliveryRequest: Sendable {
    public var method: String
    public var url: String
    /// Includes `Authorization`: never log or store these.
    public var headers: [Header]
    public var body: [UInt8]
    public var timeout: Duration

    public init(method: String, url: String, headers: [Header], body: [UInt8], timeout: Duration = .seconds(10)) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
    }
}

/// What came back: a status and body, or a transport error (no response).
public struct DeliveryResponse: Sendable {
    public var status: Int?
    public var body: [UInt8]
    public var retryAfter: String?
    public var error: String?
    /// Whether the request may have reached the receiver (the client got as far as sending it). With no
    /// answer, a create that may have reached it may have made an incident there.
    public var requestSent: Bool

    public init(status: Int?, body: [UInt8], retryAfter: String?, error: String?, requestSent: Bool = true) {
        self.status = status
        self.body = body
        self.retryAfter = retryAfter
        self.error = error
        self.requestSent = requestSent
    }

    /// Sent, and no answer came back: whatever the call does may or may not have happened.
    public var answerLost: Bool { status == nil && requestSent }
}
