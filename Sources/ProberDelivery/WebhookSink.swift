import Foundation
import ProberCore
import ProberStorage

/// A `notify:` webhook of a probe file: every change of its probes' incidents is POSTed as
/// `{"event": …, "data": <incident document>}`, with the file's headers added at send time.
public struct WebhookSink: Sink {
    public let webhook: NotifySink
    public let label = "webhook"

    public init(_ webhook: NotifySink) { self.webhook = webhook }

    /// `webhook:` and a hash of the URL, so no secret in the URL reaches the database.
    public var name: String { webhook.key }
    public var waitReason: String? { nil }
    /// Its header values and the tokens of its URL: an echoed request line or URL must not reach the outbox's
    /// last error, the log or the CLI.
    public var secrets: [String] { webhook.headers.map(\.value) + Self.urlSecrets(webhook.webhook) }

    /// The parts of a webhook URL that may be credentials: userinfo, every query value (and the whole query),
    /// the fragment, and the path segments that look like tokens (see `isToken`), each as written and
    /// percent-decoded.
    public static func urlSecrets(_ url: String) -> [String] {
        guard let c = URLComponents(string: url) else { return [url] }
        var raw: [String?] = [c.percentEncodedUser, c.percentEncodedPassword, c.percentEncodedQuery, c.percentEncodedFragment]
        raw += (c.percentEncodedQueryItems ?? []).map(\.value)
        raw += c.percentEncodedPath.split(separator: "/").map(String.init).filter(isToken)
        var out: [String] = []
        for case let text? in raw where !text.isEmpty {
            out.append(text)
            if let decoded = text.removingPercentEncoding, decoded != text, !decoded.isEmpty { out.append(decoded) }
        }
        return out
    }

    /// Whether a path segment looks like a token rather than a word: it has a digit or mixes cases (Slack's
    /// `/services/T0001/B0002/XyZ…`, Discord's `/api/webhooks/123/abc…`), or is longer than 20 characters.
    /// Plain words (`hooks`, `services`) are left alone so error messages stay readable.
    static func isToken(_ segment: String) -> Bool {
        let hasDigit = segment.contains(where: \.isNumber)
        let mixedCase = segment.contains(where: \.isUppercase) && segment.contains(where: \.isLowercase)
        return hasDigit || mixedCase || segment.count > 20
    }

    public func serves(probe: String) -> Bool { webhook.probes.contains(probe) }

    public func call(for update: IncidentUpdate, of incident: Incident, probe spec: ProbeSpec) -> OutboxItem? {
        guard serves(probe: spec.name) else { return nil }
        return followUp(update, of: incident)
    }

    public func followUp(_ update: IncidentUpdate, of incident: Incident) -> OutboxItem? {
        let id: JSONValue = incident.id == 0 ? .raw("\"\(OutboxItem.incidentIDPlaceholder)\"") : .string(String(incident.id))
        let document = JSONValue.object([
            "event": .string(update.kind.rawValue),
            "data": IncidentDocument.json(incident, id: id),
        ])
        return OutboxItem(sink: name, method: "POST", body: document.encoded, nextAttemptAt: update.createdAt, createdAt: update.createdAt)
    }

    public func request(for item: OutboxItem, remoteID: String?) -> SinkRequest {
        .send(DeliveryRequest(method: item.method, url: webhook.webhook, headers: jsonHeaders + webhook.headers, body: Array(item.body.utf8)))
    }
}

extension NotifySink {
    /// How the outbox names this webhook: its format (`webhook:`, `slack:`, `pagerduty:`) and the FNV-1a hash of
    /// its URL (the scheduler's `Schedule.fnv1a`; stored names depend on it, so it must not change). The format
    /// is part of it so a call stored in one format is never sent by a sink of another after the file changed.
    public var key: String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in webhook.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        let h = String(hash, radix: 16)
        return format.rawValue + ":" + String(repeating: "0", count: 16 - h.count) + h
    }
}
