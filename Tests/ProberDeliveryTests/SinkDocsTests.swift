import Foundation
import ProberCore
import ProberDelivery
import Testing

/// docs/incidents.md ("Sinks") shows the exact body each preset sends for one example incident: the sinks
/// must produce those bytes, so the page cannot drift from the code.
@Suite("Documented sink bodies")
struct SinkDocsTests {
    /// The example of the page: incident 42 of probe `api`, seen from location `eu-1`.
    static let updates = [
        IncidentUpdate(kind: .opened, stage: .investigating, status: .minor, createdAt: 1_796_133_780_000_000,
                       description: "Checkout API (https://checkout.internal:8443/health) is degraded. 8 of the last 10 checks failed since 14:02 UTC: 5 timed out after 2 s, 3 returned HTTP 503."),
        IncidentUpdate(kind: .escalated, stage: .investigating, status: .major, createdAt: 1_796_133_870_000_000,
                       description: "Escalated to major. 10 of the last 10 checks failed since 14:02 UTC: 7 timed out after 2 s, 3 returned HTTP 503."),
        IncidentUpdate(kind: .monitoring, stage: .monitoring, status: .major, createdAt: 1_796_133_990_000_000,
                       description: "Recovering: checks healthy since 14:06 UTC (0 of the last 10 checks failed, p95 120 ms). Resolving after 5 min healthy."),
        IncidentUpdate(kind: .resolved, stage: .resolved, status: .major, createdAt: 1_796_134_290_000_000,
                       description: "Resolved: healthy since 14:06 UTC. Impact: 4 min (14:02 UTC to 14:06 UTC), 14 failed checks, worst p95 2 s."),
    ]
    static let incident = Incident(id: 42, probe: "api", serviceID: nil, title: "Checkout API: checks failing", description: updates[0].description,
                                   status: .major, stage: .resolved, createdAt: updates[0].createdAt, updatedAt: updates[3].createdAt,
                                   resolvedAt: updates[3].createdAt, updates: updates)

    /// The "Sinks" section of docs/incidents.md.
    func section() throws -> String {
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let page = try String(contentsOf: repo.appendingPathComponent("docs/incidents.md"), encoding: .utf8)
        let start = try #require(page.range(of: "\n## Sinks\n"), "docs/incidents.md has a '## Sinks' section")
        let rest = page[start.upperBound...]
        return String(rest[..<(rest.range(of: "\n## ")?.lowerBound ?? rest.endIndex)])
    }

    @Test func slackBodiesAreTheDocumentedOnes() throws {
        let text = try section()
        for update in Self.updates {
            let body = SlackSink.body(for: update, incident: Self.incident).encoded
            #expect(text.contains(body), "docs/incidents.md lacks the Slack body of '\(update.kind)':\n\(body)")
        }
    }

    @Test func pagerDutyEventsAreTheDocumentedOnes() throws {
        let text = try section()
        let entry = NotifySink(webhook: PagerDutySink.defaultURL, headers: [], probes: ["api"], format: .pagerduty,
                               routingKey: "0123456789abcdef0123456789abcdef")
        let sink = PagerDutySink(entry, location: "eu-1")
        for update in Self.updates {
            let item = try #require(sink.followUp(update, of: Self.incident))
            guard case .send(let request) = sink.request(for: item, remoteID: nil) else { Issue.record("not sent"); continue }
            let sent = String(decoding: request.body, as: UTF8.self).replacingOccurrences(of: entry.routingKey!, with: "<routing key>")
            #expect(text.contains(sent), "docs/incidents.md lacks the PagerDuty event of '\(update.kind)':\n\(sent)")
        }
    }
}
