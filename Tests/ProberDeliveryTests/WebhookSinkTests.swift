import Foundation
import ProberCore
import ProberDelivery
import ProberEngine
import ProberStorage
import Testing

@Suite("Webhook sink")
struct WebhookSinkTests {
    let hook = NotifySink(webhook: "https://hooks.example.com/prober?token=abc", headers: [Header(name: "X-Hook-Token", value: "hook-secret-1")],
                          probes: ["api"])
    let update = IncidentUpdate(kind: .opened, stage: .investigating, status: .minor, createdAt: 1_000, description: "Checks are failing.")

    func incident(id: Int64) -> Incident {
        Incident(id: id, probe: "api", serviceID: nil, title: "api: checks failing", description: "Checks are failing.",
                 status: .minor, stage: .investigating, createdAt: 1_000, updatedAt: 1_000, resolvedAt: nil, updates: [update])
    }

    func spec(_ name: String) -> ProbeSpec {
        ProbeSpec(name: name, target: .http(HTTPTarget(url: "http://127.0.0.1:9/")), interval: .seconds(10), timeout: .seconds(1))
    }

    @Test("its outbox name is the hash of its URL the scheduler uses, so names stored before stay valid")
    func name() {
        let h = String(Schedule.fnv1a(hook.webhook), radix: 16)
        #expect(WebhookSink(hook).name == "webhook:" + String(repeating: "0", count: 16 - h.count) + h)
        #expect(!WebhookSink(hook).name.contains("token"))
    }

    @Test("it takes its file's probes only; the headers are added at send time, never stored")
    func calls() throws {
        let sink = WebhookSink(hook)
        #expect(sink.call(for: update, of: incident(id: 3), probe: spec("billing")) == nil)
        let item = try #require(sink.call(for: update, of: incident(id: 3), probe: spec("api")))
        #expect(item.method == "POST" && item.sink == sink.name && !item.body.contains("hook-secret-1"))
        #expect(item.body.contains(#""id":"3""#))
        guard case .send(let request) = sink.request(for: item, remoteID: nil) else { Issue.record("not sent"); return }
        #expect(request.url == hook.webhook)
        #expect(request.headers.contains(Header(name: "X-Hook-Token", value: "hook-secret-1")))
        // The header values and, since issue 13 item 20, the URL's query (echoed URLs are redacted too).
        #expect(sink.secrets == ["hook-secret-1", "token=abc", "abc"])
    }

    @Test("an opening's document carries the id placeholder, valid JSON once the store puts the id in")
    func placeholder() throws {
        let item = try #require(WebhookSink(hook).call(for: update, of: incident(id: 0), probe: spec("api")))
        #expect(item.body.contains(OutboxItem.incidentIDPlaceholder))
        let filled = item.body.replacingOccurrences(of: OutboxItem.incidentIDPlaceholder, with: "42")
        let document = try #require(try JSONSerialization.jsonObject(with: Data(filled.utf8)) as? [String: Any])
        #expect((document["data"] as? [String: Any])?["id"] as? String == "42")
        #expect(document["event"] as? String == "opened")
    }
}
