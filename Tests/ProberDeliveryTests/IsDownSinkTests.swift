import Testing
import ProberCore
@testable import ProberDelivery
import ProberStorage

@Suite("IsDown sink and retry policy")
struct IsDownSinkTests {
    let incident = Incident(id: 7, probe: "checkout-api", serviceID: 1234, title: "Checkout API: checks failing",
                            description: "first", status: .minor, stage: .investigating,
                            createdAt: 1_710_496_800_000_000, updatedAt: 1_710_496_800_000_000, resolvedAt: nil, updates: [])

    func update(_ kind: IncidentEvent.Kind, _ stage: ResolutionStage, _ status: Severity) -> IncidentUpdate {
        IncidentUpdate(kind: kind, stage: stage, status: status, createdAt: 0, description: "text \"quoted\"")
    }

    @Test("open is a create with every required field")
    func openBody() {
        let body = JSONValue.object(IsDownSink.body(for: update(.opened, .investigating, .minor), incident: incident)).encoded
        #expect(body == #"{"description":"text \"quoted\"","resolution_stage":"investigating","service_id":1234,"status":"minor","title":"Checkout API: checks failing"}"#)
    }

    @Test("later changes send status only when it changes, always a description + stage pair")
    func patchBodies() {
        func body(_ k: IncidentEvent.Kind, _ st: ResolutionStage, _ s: Severity) -> String {
            JSONValue.object(IsDownSink.body(for: update(k, st, s), incident: incident)).encoded
        }
        #expect(body(.escalated, .investigating, .major) == #"{"description":"text \"quoted\"","resolution_stage":"investigating","status":"major"}"#)
        #expect(body(.deescalated, .investigating, .minor) == #"{"description":"text \"quoted\"","resolution_stage":"investigating","status":"minor"}"#)
        #expect(body(.monitoring, .monitoring, .minor) == #"{"description":"text \"quoted\"","resolution_stage":"monitoring"}"#)
        #expect(body(.relapsed, .investigating, .major) == #"{"description":"text \"quoted\"","resolution_stage":"investigating","status":"major"}"#)
        #expect(body(.resolved, .resolved, .minor) == #"{"description":"text \"quoted\"","resolution_stage":"resolved"}"#)
    }

    @Test("create responses and error documents are read")
    func parsing() {
        #expect(IsDownSink.createdID(from: Array(#"{"data":{"id":"55001","type":"incidents"}}"#.utf8)) == "55001")
        #expect(IsDownSink.createdID(from: Array(#"{"data":{"id":55002}}"#.utf8)) == "55002")
        #expect(IsDownSink.createdID(from: Array("garbage".utf8)) == nil)
        #expect(IsDownSink().errorDetail(from: Array(#"{"errors":[{"status":422,"title":"Unprocessable Entity","detail":"Status must be 'minor' or 'major'"}]}"#.utf8))
                == "Status must be 'minor' or 'major'")
    }

    @Test("5xx, 429 and network errors retry; other 4xx fail with the API's detail")
    func decisions() {
        let p = RetryPolicy()
        let sink = IsDownSink()
        #expect(p.decide(status: 201, transportError: nil, detail: sink.errorDetail(from: []), retryAfter: nil, attempt: 1, jitter: 1, now: 0) == .delivered)
        #expect(p.decide(status: 500, transportError: nil, detail: sink.errorDetail(from: []), retryAfter: nil, attempt: 1, jitter: 1, now: 0)
                == .retry(after: .seconds(1), reason: "HTTP 500"))
        #expect(p.decide(status: 429, transportError: nil, detail: sink.errorDetail(from: []), retryAfter: "7", attempt: 3, jitter: 1, now: 0)
                == .retry(after: .seconds(7), reason: "HTTP 429"))
        #expect(p.decide(status: nil, transportError: "Connection refused", detail: sink.errorDetail(from: []), retryAfter: nil, attempt: 2, jitter: 1, now: 0)
                == .retry(after: .seconds(2), reason: "Connection refused"))
        let unauthorized = Array(#"{"errors":[{"status":401,"title":"Unauthorized","detail":"Unauthorized access"}]}"#.utf8)
        #expect(p.decide(status: 401, transportError: nil, detail: sink.errorDetail(from: unauthorized), retryAfter: nil, attempt: 1, jitter: 1, now: 0)
                == .failed(reason: "HTTP 401: Unauthorized access"))
        #expect(p.decide(status: 404, transportError: nil, detail: sink.errorDetail(from: []), retryAfter: nil, attempt: 1, jitter: 1, now: 0)
                == .failed(reason: "HTTP 404: no detail"))
    }

    @Test("backoff doubles, is capped, and jitter scales it to 50–100 %")
    func backoff() {
        let p = RetryPolicy(initial: .seconds(1), cap: .seconds(60))
        #expect(p.backoff(attempt: 1, jitter: 1) == .seconds(1))
        #expect(p.backoff(attempt: 4, jitter: 1) == .seconds(8))
        #expect(p.backoff(attempt: 40, jitter: 1) == .seconds(60))
        #expect(p.backoff(attempt: 4, jitter: 0) == .seconds(4))
    }

    @Test("Retry-After as seconds or an HTTP date")
    func retryAfter() {
        #expect(RetryPolicy.parseRetryAfter("120", now: 0) == .seconds(120))
        // Wed, 21 Oct 2015 07:28:00 GMT = 1445412480
        #expect(RetryPolicy.parseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT", now: 1_445_412_470_000_000) == .seconds(10))
        #expect(RetryPolicy.parseRetryAfter("soon", now: 0) == nil)
    }

    @Test("a create goes to the incidents path, an update to the created id, the key added at send time")
    func requests() throws {
        let sink = IsDownSink(baseURL: "http://127.0.0.1:8080/", apiKey: "key-123456")
        let spec = ProbeSpec(name: "checkout-api", target: .http(HTTPTarget(url: "http://127.0.0.1:9/")), interval: .seconds(10), timeout: .seconds(1))
        #expect(sink.call(for: update(.opened, .investigating, .minor), of: incident, probe: spec) == nil, "no service_id, no call")
        var withService = spec
        withService.incident.serviceID = 1234
        let post = try #require(sink.call(for: update(.opened, .investigating, .minor), of: incident, probe: withService))
        #expect(post.sink == sink.name && post.method == "POST" && !post.body.contains("key-123456"))
        guard case .send(let create) = sink.request(for: post, remoteID: nil) else { Issue.record("not sent"); return }
        #expect(create.url == "http://127.0.0.1:8080/api/v2/incidents")
        #expect(create.headers.contains(Header(name: "Authorization", value: "Bearer key-123456")))
        let patch = try #require(sink.call(for: update(.resolved, .resolved, .minor), of: incident, probe: withService))
        guard case .send(let update) = sink.request(for: patch, remoteID: "55 01") else { Issue.record("not sent"); return }
        #expect(update.method == "PATCH" && update.url == "http://127.0.0.1:8080/api/v2/incidents/55%2001")
        guard case .fail = sink.request(for: patch, remoteID: nil) else { Issue.record("a PATCH without an id was sent"); return }
        #expect(IsDownSink(apiKey: nil).waitReason != nil && sink.waitReason == nil)
    }

    @Test("ISDOWN_API_URL is a scheme and host only")
    func baseURL() {
        #expect(IsDownSink.validateBaseURL("https://isdown.app") == nil)
        #expect(IsDownSink.validateBaseURL("http://127.0.0.1:8080/") == nil)
        #expect(IsDownSink.validateBaseURL("https://isdown.app/api/v2")?.contains("scheme and host only") == true)
        #expect(IsDownSink.validateBaseURL("https://user:secret@isdown.app")?.contains("secret") == false)
    }

    @Test("ISDOWN_API_URL over plain http is warned about unless it is loopback (issue 13, item 8)")
    func plainHTTPBaseURL() {
        #expect(IsDownSink.plainHTTPWarning("https://isdown.app") == nil)
        #expect(IsDownSink.plainHTTPWarning("http://127.0.0.1:8080") == nil)
        #expect(IsDownSink.plainHTTPWarning("http://localhost:8080") == nil)
        #expect(IsDownSink.plainHTTPWarning("http://[::1]:8080") == nil)
        #expect(IsDownSink.plainHTTPWarning("http://isdown.internal")?.contains("sent in clear") == true)
    }
}
