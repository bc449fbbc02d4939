import Foundation
import ProberCore
import ProberStorage

/// A `notify:` entry with `format: slack`: every change of its probes' incidents is POSTed to a Slack incoming
/// webhook as one message, the title and level in bold over the update's description, with the file's headers
/// added at send time.
///
/// Slack answers `200 ok`, or a plain-text error (`400 invalid_payload`, `403 action_prohibited`,
/// `404 no_service`, `410 channel_is_archived`: not retried; `429` with `Retry-After` and 5xx: retried). See
/// https://api.slack.com/messaging/webhooks#handling_errors.
public struct SlackSink: Sink {
    public let webhook: NotifySink
    public let label = "Slack"

    public init(_ webhook: NotifySink) { self.webhook = webhook }

    /// `slack:` and a hash of the URL: the URL's path is Slack's secret.
    public var name: String { webhook.key }
    public var waitReason: String? { nil }
    public var secrets: [String] { webhook.headers.map(\.value) + WebhookSink.urlSecrets(webhook.webhook) }

    public func serves(probe: String) -> Bool { webhook.probes.contains(probe) }

    public func call(for update: IncidentUpdate, of incident: Incident, probe spec: ProbeSpec) -> OutboxItem? {
        guard serves(probe: spec.name) else { return nil }
        return followUp(update, of: incident)
    }

    public func followUp(_ update: IncidentUpdate, of incident: Incident) -> OutboxItem? {
        OutboxItem(sink: name, method: "POST", body: Self.body(for: update, incident: incident).encoded,
                   nextAttemptAt: update.createdAt, createdAt: update.createdAt)
    }

    /// `{"text": "*[<level>] <title>*\n<description>", "unfurl_links": false, "unfurl_media": false}`: the level
    /// is the severity after the change (`minor`, `major`), or `resolved`. No link is added and previews are off;
    /// Slack may still show a URL the description names (the probe's target) as a link.
    public static func body(for update: IncidentUpdate, incident: Incident) -> JSONValue {
        let level = update.kind == .resolved ? "resolved" : update.status.rawValue
        return .object([
            "text": .string("*[\(level)] \(escaped(incident.title))*\n\(escaped(update.description))"),
            "unfurl_links": .bool(false),
            "unfurl_media": .bool(false),
        ])
    }

    /// Slack's mrkdwn reads `<…>` as links and mentions and `&` as the start of an entity: the three are
    /// escaped as its formatting page asks, so a title or target cannot ping a channel or make a link.
    static func escaped(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            default: out.append(c)
            }
        }
        return out
    }

    public func request(for item: OutboxItem, remoteID: String?) -> SinkRequest {
        .send(DeliveryRequest(method: item.method, url: webhook.webhook, headers: jsonHeaders + webhook.headers, body: Array(item.body.utf8)))
    }

    /// Slack's error is the plain-text body (`invalid_payload`, `no_service`); a longer or HTML body is not kept.
    public func errorDetail(from body: [UInt8]) -> String? {
        let text = String(decoding: body, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty, text.count <= 200, !text.contains("<"),
              !text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else { return nil }
        return text
    }
}
