import Foundation
import ProberCore
import ProberDelivery
import ProberStorage
import Testing

/// The PagerDuty preset's events, exactly as docs/incidents.md ("Sinks") shows them.
@Suite("PagerDuty sink")
struct PagerDutySinkTests {
    static let at: Int64 = 1_796_126_400_000_000 // 2026-12-01T12:00:00.000Z
    static let routingKey = "R0UT1NGKEYabcdef0123456789ABCDEF"
    let entry = NotifySink(webhook: PagerDutySink.defaultURL, headers: [], probes: ["api"], format: .pagerduty,
                           routingKey: PagerDutySinkTests.routingKey)

    func incident(id: Int64 = 42) -> Incident {
        Incident(id: id, probe: "api", serviceID: nil, title: "Checkout API: checks failing", description: "", status: .minor,
                 stage: .investigating, createdAt: Self.at, updatedAt: Self.at, resolvedAt: nil, updates: [])
    }

    func update(_ kind: IncidentEvent.Kind, _ status: Severity, _ stage: ResolutionStage, _ description: String) -> IncidentUpdate {
        IncidentUpdate(kind: kind, stage: stage, status: status, createdAt: Self.at, description: description)
    }

    func spec(_ name: String) -> ProbeSpec {
        ProbeSpec(name: name, target: .http(HTTPTarget(url: "http://127.0.0.1:9/")), interval: .seconds(10), timeout: .seconds(1))
    }

    @Test("a change that does not resolve triggers, its severity from the level; the resolution resolves; one dedup_key")
    func bodies() {
        let opened = update(.opened, .minor, .investigating, "8 of the last 10 checks failed.")
        #expect(PagerDutySink.body(for: opened, incident: incident(), location: "eu-1").encoded
            == #"{"client":"prober","dedup_key":"42","event_action":"trigger","payload":{"custom_details":{"event":"opened","resolution_stage":"investigating"},"#
            + #""severity":"warning","source":"api / eu-1","summary":"Checkout API: checks failing - 8 of the last 10 checks failed.","timestamp":"2026-12-01T12:00:00.000Z"}}"#)
        let escalated = update(.escalated, .major, .investigating, "Escalated to major.")
        #expect(PagerDutySink.body(for: escalated, incident: incident(), location: "eu-1").encoded
            == #"{"client":"prober","dedup_key":"42","event_action":"trigger","payload":{"custom_details":{"event":"escalated","resolution_stage":"investigating"},"#
            + #""severity":"critical","source":"api / eu-1","summary":"Checkout API: checks failing - Escalated to major.","timestamp":"2026-12-01T12:00:00.000Z"}}"#)
        let monitoring = update(.monitoring, .major, .monitoring, "Recovering.")
        #expect(PagerDutySink.body(for: monitoring, incident: incident(), location: "eu-1").encoded.contains(#""event_action":"trigger""#))
        let resolved = update(.resolved, .major, .resolved, "Resolved: healthy since 12:06 UTC.")
        #expect(PagerDutySink.body(for: resolved, incident: incident(), location: "eu-1").encoded
            == #"{"dedup_key":"42","event_action":"resolve"}"#)
    }

    @Test("the summary is cut to PagerDuty's 1024 characters, ending in …")
    func summaryLimit() throws {
        let long = update(.opened, .minor, .investigating, String(repeating: "é", count: 2_000))
        let body = PagerDutySink.body(for: long, incident: incident(), location: "eu-1").encoded
        let json = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
        let summary = try #require((json["payload"] as? [String: Any])?["summary"] as? String)
        #expect(summary.unicodeScalars.count == 1024 && summary.count == 1024)
        #expect(summary.hasPrefix("Checkout API: checks failing - éé") && summary.hasSuffix("é…"))
        let short = update(.opened, .minor, .investigating, "x")
        #expect(PagerDutySink.body(for: short, incident: incident(), location: "l").encoded.contains(#""summary":"Checkout API: checks failing - x""#))
    }

    @Test("the routing key is added at send time, first, and is never in the stored call or its name")
    func routingKeyAtSendTime() throws {
        let sink = PagerDutySink(entry, location: "eu-1")
        let u = update(.resolved, .minor, .resolved, "Resolved.")
        #expect(sink.call(for: u, of: incident(), probe: spec("billing")) == nil)
        let item = try #require(sink.call(for: u, of: incident(), probe: spec("api")))
        #expect(!item.body.contains(Self.routingKey) && !item.sink.contains(Self.routingKey))
        #expect(item.sink.hasPrefix("pagerduty:") && item.method == "POST")
        guard case .send(let request) = sink.request(for: item, remoteID: nil) else { Issue.record("not sent"); return }
        #expect(request.url == "https://events.pagerduty.com/v2/enqueue")
        #expect(String(decoding: request.body, as: UTF8.self)
            == #"{"routing_key":"R0UT1NGKEYabcdef0123456789ABCDEF","dedup_key":"42","event_action":"resolve"}"#)
        #expect(request.headers.contains(Header(name: "Content-Type", value: "application/json")))
        #expect(sink.secrets.contains(Self.routingKey))
        #expect(entry.sink(location: "eu-1") is PagerDutySink)
    }

    @Test("an opening's dedup_key is the placeholder the store replaces with the incident's id")
    func placeholder() throws {
        let item = try #require(PagerDutySink(entry, location: "eu-1")
            .call(for: update(.opened, .minor, .investigating, "Failing."), of: incident(id: 0), probe: spec("api")))
        let filled = item.body.replacingOccurrences(of: OutboxItem.incidentIDPlaceholder, with: "7")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(filled.utf8)) as? [String: Any])
        #expect(json["dedup_key"] as? String == "7")
    }

    @Test("without a key the calls wait, and a call is never sent with an empty one")
    func noKey() throws {
        var keyless = entry
        keyless.routingKey = nil
        let sink = PagerDutySink(keyless, location: "eu-1")
        #expect(sink.waitReason != nil)
        let item = OutboxItem(sink: sink.name, method: "POST", body: #"{"dedup_key":"1","event_action":"resolve"}"#, nextAttemptAt: 0, createdAt: 0)
        guard case .fail = sink.request(for: item, remoteID: nil) else { Issue.record("sent without a key"); return }
    }

    @Test("PagerDuty's error message and errors are the detail")
    func errors() {
        let sink = PagerDutySink(entry, location: "eu-1")
        let body = #"{"status":"invalid event","message":"Event object is invalid","errors":["Length of 'routing_key' is incorrect (should be 32 characters)"]}"#
        #expect(sink.errorDetail(from: Array(body.utf8)) == "Event object is invalid: Length of 'routing_key' is incorrect (should be 32 characters)")
        #expect(sink.errorDetail(from: Array("<html>".utf8)) == nil)
    }
}
