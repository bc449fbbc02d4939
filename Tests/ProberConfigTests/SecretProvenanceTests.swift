import Foundation
@testable import ProberConfig
import ProberCore
import ProberTestSupport
import Testing

/// Issue 13, items 6 and 7: every `${VAR}` value a file used is known to its probes (and shown by name),
/// and the redirect and proxy keys load.
@Suite struct SecretProvenanceTests {
    @Test func everyValueFromTheEnvironmentIsShownByItsName() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("p.yaml", """
            probes:
              - name: api
                http:
                  url: https://${API_HOST}/v1/${API_PATH}/health?key=${API_KEY}
                  headers: { X-Api-Key: "${API_KEY}" }
                  expect: { body_contains: "${NEEDLE:-fallback}" }
              - name: db
                tcp: { host: "${DB_HOST}", port: 5432 }
            notify:
              webhook: https://hooks.example/${HOOK_TOKEN}
            """)
        let env = ["API_HOST": "h0st-secret.example", "API_PATH": "p4th", "API_KEY": "k", "DB_HOST": "db-secret.internal",
                   "HOOK_TOKEN": "hook-secret"]
        let set = try ProbeLoader.load(directory: dir.path, environment: env)
        let api = try #require(set.probes.first { $0.name == "api" })
        let db = try #require(set.probes.first { $0.name == "db" })
        #expect(api.displayTarget == "https://${API_HOST}/v1/${API_PATH}/health")
        #expect(db.displayTarget == "${DB_HOST}:5432")
        // A fallback written in the file is no secret; every environment value is, once.
        #expect(Set(api.secrets.map(\.name)) == ["API_HOST", "API_PATH", "API_KEY", "DB_HOST", "HOOK_TOKEN"])
        #expect(api.secrets.count == 5)
        #expect("\(api.secrets)".contains("hook-secret") == false)
    }

    @Test func aURLWhollyFromTheEnvironmentStaysWhole() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("p.yaml", "probes:\n  - name: a\n    http: { url: \"${BASE}/health\" }\n")
        let set = try ProbeLoader.load(directory: dir.path, environment: ["BASE": "https://user:pw@host.example"])
        #expect(set.probes.first?.displayTarget == "${BASE}/health")
    }

    @Test func redirectAndProxyKeys() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("p.yaml", """
            probes:
              - name: a
                http:
                  url: https://a.example/
                  allow_http_redirects: true
                  forward_headers_across_hosts: true
                  proxy: http://proxy.internal:3128
              - name: b
                http: { url: https://b.example/ }
            """)
        let set = try ProbeLoader.load(directory: dir.path, environment: [:])
        guard case .http(let a) = set.probes[0].target, case .http(let b) = set.probes[1].target else {
            Issue.record("not http probes")
            return
        }
        #expect(a.allowHTTPRedirects && a.forwardHeadersAcrossHosts && a.proxy == "http://proxy.internal:3128")
        #expect(!b.allowHTTPRedirects && !b.forwardHeadersAcrossHosts && b.proxy == nil)
    }

    @Test func misplacedRedirectAndProxyKeysAreReported() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("p.yaml", """
            probes:
              - name: a
                http: { url: http://a.example/, allow_http_redirects: true, proxy: "ftp://x" }
            """)
        #expect(throws: ConfigErrors.self) { try ProbeLoader.load(directory: dir.path, environment: [:]) }
        do {
            _ = try ProbeLoader.load(directory: dir.path, environment: [:])
        } catch {
            let text = error.diagnostics.map(\.message).joined(separator: "\n")
            #expect(text.contains("'allow_http_redirects' is for https:// URLs"))
            #expect(text.contains("'proxy' 'ftp://x' must be a URL"))
        }
    }
}
