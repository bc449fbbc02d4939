import Foundation
import ProberCore

/// Where a `pagerduty` entry sends when it sets no `webhook:` (PagerDuty Events API v2). ProberDelivery's
/// `PagerDutySink.defaultURL` says the same; the loader cannot import the delivery module.
let pagerDutyEventsURL = "https://events.pagerduty.com/v2/enqueue"

extension FileReader {
    /// The top-level `notify:` block: one entry (a mapping) or a list of them, each sending every incident change
    /// of `probes` (the file's) to one destination. Two entries of one file may not share a format and URL: the
    /// outbox names a destination by both, so their calls could not be told apart.
    func readNotify(_ field: Field, probes: [String]) -> [NotifySink] {
        let entries: [YAMLNode]
        switch document.kind(field.value) {
        case .mapping: entries = [field.value]
        case .sequence: entries = Array(document.items(field.value) ?? [])
        case .scalar:
            report(field.key, "'notify' must be a mapping (webhook: URL, ...) or a list of them, not \(describe(field.value))")
            return []
        }
        var sinks: [NotifySink] = []
        var seen: [String: SourceLocation] = [:]
        for node in entries {
            guard var sink = readNotifyEntry(node) else { continue }
            sink.probes = probes
            let id = "\(sink.format.rawValue) \(sink.webhook)"
            if let first = seen[id] {
                // The URL is not quoted: it may carry a token.
                report(node, "this 'notify' entry sends to the same \(sink.format.rawValue) URL as the one at \(first); give each entry its own URL or format")
                continue
            }
            seen[id] = location(node)
            sinks.append(sink)
        }
        return sinks
    }

    /// One `notify:` entry: `format` (default `webhook`), `webhook` (required, except for `pagerduty`, whose
    /// default is PagerDuty's events URL), `headers`, and for `pagerduty` a `routing_key` (required).
    private func readNotifyEntry(_ node: YAMLNode) -> NotifySink? {
        guard let f = fields(node, what: "'notify'", keys: Keys.notify) else { return nil }
        // Nil when the format is unreadable: what the other keys must be depends on it, so only their values are checked.
        let format: NotifySink.Format? = f["format"].map { notifyFormat($0) } ?? .webhook
        var ok = format != nil
        var url = format == .pagerduty ? pagerDutyEventsURL : nil
        if let field = f["webhook"] {
            url = webURL(field)
            ok = ok && url != nil
        } else if format != nil && format != .pagerduty {
            require(["webhook"], in: f, what: "'notify'")
            ok = false
        }
        let headers = f["headers"].map { requestHeaders($0) } ?? []
        ok = ok && headers != nil
        var routingKey: String?
        if let field = f["routing_key"] {
            routingKey = self.routingKey(field)
            ok = ok && routingKey != nil
            if let format, format != .pagerduty {
                report(field.key, "'routing_key' is for 'format: pagerduty'; this entry's format is \(format.rawValue)")
                ok = false
            }
        } else if format == .pagerduty {
            report(node, "'notify' with 'format: pagerduty' is missing required key 'routing_key' (the integration key, e.g. routing_key: ${PAGERDUTY_ROUTING_KEY})")
            ok = false
        }
        guard ok, let format, let url, let headers else { return nil }
        return NotifySink(webhook: url, headers: headers, probes: [], format: format, routingKey: routingKey)
    }

    /// `webhook`, `slack` or `pagerduty`. `isdown` gets its own answer: IsDown is configured elsewhere.
    private func notifyFormat(_ field: Field) -> NotifySink.Format? {
        guard let text = string(field) else { return nil }
        let value = text.value.trimmingSpaces.lowercased()
        if let format = NotifySink.Format(rawValue: value) { return format }
        let options = NotifySink.Format.allCases.map(\.rawValue)
        if value.caseInsensitiveCompare("IsDown") == .orderedSame {
            report(field.key, "'format' isdown is not a notify format: IsDown receives the incidents of probes with 'incident: { service_id: N }' "
                + "when ISDOWN_API_KEY is set; 'format' is one of: \(options.joined(separator: ", "))")
        } else if let near = Suggest.nearest(to: value, in: options) {
            report(field.key, "'format' is \(describe(field.value)); did you mean '\(near)'? It is one of: \(options.joined(separator: ", "))")
        } else {
            report(field.key, "'format' is \(describe(field.value)); it must be one of: \(options.joined(separator: ", "))")
        }
        return nil
    }

    /// PagerDuty's integration key: 32 letters and digits. A secret: never quoted in a message.
    private func routingKey(_ field: Field) -> String? {
        guard let text = string(field, allowEmpty: false) else { return nil }
        let key = text.value.trimmingSpaces
        let alphanumeric = key.utf8.allSatisfy(\.isASCIILetterOrDigit)
        guard key.utf8.count == 32, alphanumeric else {
            report(field.key, "'routing_key' must be a PagerDuty integration key, 32 letters and digits; this one has "
                + "\(Human.count(key.count, "character"))\(alphanumeric ? "" : ", not all letters or digits")")
            return nil
        }
        return key
    }
}
