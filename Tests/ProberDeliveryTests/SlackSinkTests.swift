import Foundation
import ProberCore
import ProberDelivery
import ProberStorage
import Testing

/// The Slack preset's message, exactly as docs/incidents.md ("Sinks") shows it.
@Suite("Slack sink")
struct SlackSinkTests {
    static let at: Int64 = 1_796_126_400_000_000 // 2026-12-01T12:00:00.000Z
    let hook = NotifySink(webhook: "https://hooks.slack.com/services/T0001/B0002/XyZsecret123", headers: [], probes: ["api"], format: .slack)

    func incident(id: Int64 = 42, title: String = "Checkout API: checks failing") -> Incident {
        Incident(id: id, probe: "api", serviceID: nil, title: title, description: "", status: .minor, stage: .investigating,
                 createdAt: Self.at, updatedAt: Self.at, resolvedAt: nil, updates: [])
    }

    func update(_ kind: IncidentEvent.Kind, _ status: Severity, _ stage: ResolutionStage, _ description: String) -> IncidentUpdate {
        IncidentUpdate(kind: kind, stage: stage, status: status, createdAt: Self.at, description: description)
    }

    func spec(_ name: String) -> ProbeSpec {
        ProbeSpec(name: name, target: .http(HTTPTarget(url: "http://127.0.0.1:9/")), interval: .seconds(10), timeout: .seconds(1))
    }

    @Test("each change is one message: the level and title in bold, then the update's description")
    func bodies() {
        let opened = update(.opened, .minor, .investigating, "8 of the last 10 checks failed since 12:00 UTC: 8 returned HTTP 503.")
        #expect(SlackSink.body(for: opened, incident: incident()).encoded
            == #"{"text":"*[minor] Checkout API: checks failing*\n8 of the last 10 checks failed since 12:00 UTC: 8 returned HTTP 503.","unfurl_links":false,"unfurl_media":false}"#)
        let escalated = update(.escalated, .major, .investigating, "Escalated to major.")
        #expect(SlackSink.body(for: escalated, incident: incident()).encoded
            == #"{"text":"*[major] Checkout API: checks failing*\nEscalated to major.","unfurl_links":false,"unfurl_media":false}"#)
        let resolved = update(.resolved, .major, .resolved, "Resolved: healthy since 12:06 UTC.")
        #expect(SlackSink.body(for: resolved, incident: incident()).encoded
            == #"{"text":"*[resolved] Checkout API: checks failing*\nResolved: healthy since 12:06 UTC.","unfurl_links":false,"unfurl_media":false}"#)
    }

    @Test("<, > and & are escaped, so a title cannot mention @channel or make a link")
    func escaping() {
        let u = update(.opened, .minor, .investigating, "a <b> & c")
        let body = SlackSink.body(for: u, incident: incident(title: "<!channel> <https://x|y>")).encoded
        #expect(body == #"{"text":"*[minor] &lt;!channel&gt; &lt;https://x|y&gt;*\na &lt;b&gt; &amp; c","unfurl_links":false,"unfurl_media":false}"#)
    }

    @Test("it takes its file's probes only; its outbox name and stored body hold no part of the URL's token")
    func calls() throws {
        let sink = SlackSink(hook)
        let u = update(.opened, .minor, .investigating, "Checks are failing.")
        #expect(sink.call(for: u, of: incident(), probe: spec("billing")) == nil)
        let item = try #require(sink.call(for: u, of: incident(), probe: spec("api")))
        #expect(item.sink.hasPrefix("slack:") && item.sink != WebhookSink(NotifySink(webhook: hook.webhook, headers: [], probes: [])).name,
                "a format change never sends a stored call in another format")
        #expect(!item.sink.contains("XyZ") && !item.body.contains("XyZ"))
        guard case .send(let request) = sink.request(for: item, remoteID: nil) else { Issue.record("not sent"); return }
        #expect(request.method == "POST" && request.url == hook.webhook)
        #expect(String(decoding: request.body, as: UTF8.self) == item.body)
        #expect(sink.secrets.contains("XyZsecret123"), "the token in the path is redacted from echoed errors")
        #expect(NotifySink(webhook: hook.webhook, headers: [], probes: ["api"], format: .slack).sink(location: "here") is SlackSink)
    }

    @Test("Slack's plain-text error is the detail; an HTML page is not")
    func errors() {
        let sink = SlackSink(hook)
        #expect(sink.errorDetail(from: Array("no_service".utf8)) == "no_service")
        #expect(sink.errorDetail(from: Array("invalid_payload\n".utf8)) == "invalid_payload")
        #expect(sink.errorDetail(from: Array("<html><body>502 Bad Gateway</body></html>".utf8)) == nil)
        #expect(sink.errorDetail(from: []) == nil)
    }
}
