import Foundation
import ProberCore
@testable import ProberDelivery
import ProberStorage
import ProberStore
import ProberTestSupport
import Testing

/// A receiver that echoes the request (URL, headers, key) in its error: none of the sinks' secrets reaches
/// the outbox's last error, however short.
extension OutboxWorkerTests {
    @Test("secrets a webhook receiver echoes in its error are redacted before the error is stored")
    func echoedWebhookSecrets() throws {
        // Echoes the request line, every header and the body in a JSON:API error, and refuses the call.
        let server = try receiver { request in
            let headers = request.headers.map { "\($0.name): \($0.value)" }.joined(separator: ", ")
            let detail = "rejected \(request.method) \(request.path) with \(headers)"
            let body = try! JSONSerialization.data(withJSONObject: ["errors": [["detail": detail]]])
            return .respond(status: 400, headers: [("Content-Type", "application/json")], body: String(decoding: body, as: UTF8.self))
        }
        let port = server.url.split(separator: ":").last!
        let url = "http://hk:pw9@127.0.0.1:\(port)/hooks/T0k3nPath/Secr3tSeg?token=abc&sig=q%2F1#frag"
        let webhook = WebhookSink(NotifySink(webhook: url, headers: [Header(name: "X-Key", value: "k9")], probes: ["api"]))
        let id = try store.record(opening(sinks: [webhook]))
        start(store, sinks: [webhook])
        try waitUntil("the refusal recorded") { try store.incident(id: id)?.deliveries.first?.state == .failed }
        let error = try #require(try store.incident(id: id)?.deliveries.first?.lastError)
        #expect(error.contains("HTTP 400: rejected POST /hooks/"), "the receiver's explanation is kept: \(error)")
        for secret in ["T0k3nPath", "Secr3tSeg", "token=abc", "abc", "q%2F1", "q/1", "k9", "pw9"] {
            #expect(!error.contains(secret), "\(secret) leaked into: \(error)")
        }
        #expect(try store.undelivered().allSatisfy { !($0.lastError ?? "").contains("k9") })
    }

    @Test("an API key echoed by IsDown is redacted, even when shorter than 6 characters")
    func echoedShortKey() throws {
        let api = try receiver { request in
            .respond(status: 401, headers: [("Content-Type", "application/json")],
                     body: #"{"errors":[{"status":401,"detail":"invalid token \#(request.header("Authorization") ?? "")"}]}"#)
        }
        let isdown = IsDownSink(baseURL: api.url, apiKey: "k3y")
        let id = try store.record(opening(sinks: [isdown]))
        start(store, sinks: [isdown])
        try waitUntil("the refusal recorded") { try store.incident(id: id)?.deliveries.first?.state == .failed }
        let error = try #require(try store.incident(id: id)?.deliveries.first?.lastError)
        #expect(error == "HTTP 401: invalid token Bearer [redacted]")
    }

    @Test("redaction is one pass, longest secret first", arguments: [
        ("token abc and abcdef", ["abc", "abcdef"], "token [redacted] and [redacted]"),
        ("abc", ["abc", "red"], "[redacted]"),
        ("nothing here", [""], "nothing here"),
        ("é-k9-é", ["k9"], "é-[redacted]-é"),
    ])
    func redactTable(_ text: String, _ secrets: [String], _ expected: String) {
        #expect(OutboxWorker.redact(text, secrets: secrets) == expected)
    }

    @Test("a webhook URL's credentials, query values and token-like path segments are its secrets")
    func webhookURLSecrets() {
        let secrets = Set(WebhookSink.urlSecrets("https://u:p@hooks.example/services/T01/B02/XyZtoken?key=v%20w"))
        #expect(secrets.isSuperset(of: ["u", "p", "T01", "B02", "XyZtoken", "key=v%20w", "v%20w", "v w"]))
        #expect(!secrets.contains("services") && !secrets.contains("hooks.example"))
    }
}
