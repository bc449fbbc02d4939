import Foundation
import ProberCore
import ProberStorage

/// A `notify:` entry with `format: pagerduty`: PagerDuty Events API v2
/// (https://developer.pagerduty.com/docs/events-api-v2/trigger-events/). Every change of an incident but its
/// resolution is a `trigger` event, the resolution a `resolve`, all with `dedup_key` = the incident's id, so
/// PagerDuty keeps one alert per incident. The routing key is added at send time: the outbox stores events
/// without it.
///
/// PagerDuty answers `202` with `{"status":"success","dedup_key":…}`; `400` (an invalid event or key) is
/// not retried; `429` and 5xx are.
public struct PagerDutySink: Sink {
    /// Where `webhook:` points when a `pagerduty` entry does not set it.
    public static let defaultURL = "https://events.pagerduty.com/v2/enqueue"
    /// PagerDuty's limit on `payload.summary`, in characters.
    public static let summaryLimit = 1024

    public let webhook: NotifySink
    /// Where this prober probes from (`--location`): half of each event's `source`.
    public let location: String
    public let label = "PagerDuty"

    public init(_ webhook: NotifySink, location: String) {
        self.webhook = webhook
        self.location = location
    }

    /// `pagerduty:` and a hash of the URL: never the routing key.
    public var name: String { webhook.key }
    /// The loader refuses a `pagerduty` entry without a key, so this only guards a sink built by hand.
    public var waitReason: String? { (webhook.routingKey ?? "").isEmpty ? "the notify entry has no routing_key" : nil }
    public var secrets: [String] {
        [webhook.routingKey].compactMap { $0 } + webhook.headers.map(\.value) + WebhookSink.urlSecrets(webhook.webhook)
    }

    public func serves(probe: String) -> Bool { webhook.probes.contains(probe) }

    public func call(for update: IncidentUpdate, of incident: Incident, probe spec: ProbeSpec) -> OutboxItem? {
        guard serves(probe: spec.name) else { return nil }
        return followUp(update, of: incident)
    }

    public func followUp(_ update: IncidentUpdate, of incident: Incident) -> OutboxItem? {
        OutboxItem(sink: name, method: "POST", body: Self.body(for: update, incident: incident, location: location).encoded,
                   nextAttemptAt: update.createdAt, createdAt: update.createdAt)
    }

    /// The stored event, without `routing_key`:
    /// - resolution: `{"dedup_key": "<id>", "event_action": "resolve"}`;
    /// - any other change: `{"client": "prober", "dedup_key": "<id>", "event_action": "trigger", "payload": {…}}`
    ///   with `summary` (title and description, at most 1024 characters), `source` (`<probe> / <location>`),
    ///   `severity` (minor: `warning`, major: `critical`), `timestamp` and `custom_details` (the event and stage).
    ///
    /// An opening's incident has no id yet (0): its `dedup_key` is the placeholder the store replaces.
    public static func body(for update: IncidentUpdate, incident: Incident, location: String) -> JSONValue {
        let dedupKey: JSONValue = incident.id == 0 ? .raw("\"\(OutboxItem.incidentIDPlaceholder)\"") : .string(String(incident.id))
        guard update.kind != .resolved else {
            return .object(["dedup_key": dedupKey, "event_action": .string("resolve")])
        }
        return .object([
            "client": .string("prober"),
            "dedup_key": dedupKey,
            "event_action": .string("trigger"),
            "payload": .object([
                "summary": .string(summary(incident.title + " - " + update.description)),
                "source": .string(incident.probe + " / " + location),
                "severity": .string(update.status == .major ? "critical" : "warning"),
                "timestamp": .string(UTCTime.iso8601(update.createdAt)),
                "custom_details": .object([
                    "event": .string(update.kind.rawValue),
                    "resolution_stage": .string(update.stage.rawValue),
                ]),
            ]),
        ])
    }

    /// `text` cut to PagerDuty's 1024 characters, ending in `…` when cut. Counted in Unicode scalars, which are
    /// never fewer than the characters PagerDuty counts.
    static func summary(_ text: String) -> String {
        let scalars = text.unicodeScalars
        guard scalars.count > summaryLimit else { return text }
        var out = String.UnicodeScalarView(scalars.prefix(summaryLimit - 1))
        out.append("…")
        return String(out)
    }

    /// The stored event with `"routing_key"` put first: the key exists only in memory and in this request.
    public func request(for item: OutboxItem, remoteID: String?) -> SinkRequest {
        guard let key = webhook.routingKey, !key.isEmpty else { return .fail("the notify entry has no routing_key") }
        guard item.body.hasPrefix("{"), item.body.count > 2 else { return .fail("the stored event is not a JSON object") }
        let body = "{\"routing_key\":" + JSONValue.string(key).encoded + "," + item.body.dropFirst()
        return .send(DeliveryRequest(method: item.method, url: webhook.webhook, headers: jsonHeaders + webhook.headers, body: Array(body.utf8)))
    }

    /// `message` and `errors` of PagerDuty's error answer: `{"status":"invalid event","message":"Event object is
    /// invalid","errors":["Length of 'routing_key' is incorrect (should be 32 characters)"]}`.
    public func errorDetail(from body: [UInt8]) -> String? {
        guard let json = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else { return nil }
        let message = (json["message"] as? String) ?? (json["status"] as? String)
        let errors = (json["errors"] as? [String]) ?? []
        let parts = [message].compactMap { $0 } + errors
        return parts.isEmpty ? nil : parts.joined(separator: ": ")
    }
}
