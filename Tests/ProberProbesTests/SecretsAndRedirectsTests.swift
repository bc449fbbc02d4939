import Foundation
import ProberCore
@testable import ProberProbes
import ProberTestSupport
import Testing

/// Issue 13, items 6, 7, 8 and 20: values from `${VAR}` never appear in failure messages, redirects do
/// not downgrade https or carry custom headers to another host, and proxies come only from the probe.
@Suite struct SecretsInFailuresTests {
    /// A probe whose file took `value` from `$TOKEN`.
    func withSecret(_ spec: ProbeSpec, _ value: String) -> ProbeSpec {
        var spec = spec
        spec.secrets = [Secret(name: "TOKEN", value: value)]
        return spec
    }

    @Test func bodyContainsIsShownByName() async throws {
        let secret = "s3cr3t-body-needle-0123456789-abcdefghijklmnopqrstuvwxyz-0123456789"
        let server = try TestHTTPServer { _ in .respond(status: 200, body: "something else") }
        defer { server.stop() }
        let sample = await engine.check(withSecret(httpSpec(server.url) { $0.expect.bodyContains = secret }, secret))
        let failure = try #require(sample.failure)
        #expect(failure.reason == .bodyMismatch)
        // The excerpt cuts the needle at 60 characters: no prefix of it may remain either.
        #expect(!failure.message.contains(String(secret.prefix(8))), "\(failure.message)")
        #expect(failure.message.contains("${TOKEN}"), "\(failure.message)")
    }

    @Test func expectedHeaderIsShownByName() async throws {
        let secret = "hdr-secret-42"
        let server = try TestHTTPServer { _ in .respond(status: 200, headers: [("X-Version", "other")]) }
        defer { server.stop() }
        let sample = await engine.check(withSecret(httpSpec(server.url) {
            $0.expect.headers = [Header(name: "X-Version", value: secret)]
        }, secret))
        let failure = try #require(sample.failure)
        #expect(failure.reason == .headerMismatch)
        #expect(!failure.message.contains(secret), "\(failure.message)")
        #expect(failure.message.contains("${TOKEN}"))
    }

    @Test func shortSecretsAreHiddenToo() async throws {
        let server = try TestHTTPServer { _ in .respond(status: 200, body: "nothing") }
        defer { server.stop() }
        let sample = await engine.check(withSecret(httpSpec(server.url) { $0.expect.bodyContains = "pw9" }, "pw9"))
        #expect(sample.failure?.message.contains("pw9") == false, "\(String(describing: sample.failure))")
    }

    @Test func tcpSendEchoedByTheServerIsShownByName() async throws {
        // The echo starts the reply; the secret runs past the 60-character excerpt.
        let secret = "tcp-secret-" + String(repeating: "k", count: 80)
        let server = try TestTCPServer(.echo)
        defer { server.stop() }
        let spec = withSecret(tcpSpec(port: server.port, send: "AUTH \(secret)\n", expect: "+OK", timeout: .milliseconds(500)), secret)
        let sample = await engine.check(spec)
        let failure = try #require(sample.failure)
        #expect(failure.reason == .mismatch)
        #expect(!failure.message.contains("tcp-secret"), "\(failure.message)")
        #expect(failure.message.contains("${TOKEN}"), "\(failure.message)")
    }
}

@Suite struct RedirectHeaderTests {
    @Test func customHeadersStayWithTheirHost() async throws {
        let other = try TestHTTPServer { _ in .respond(status: 200) }
        defer { other.stop() }
        let origin = try TestHTTPServer { request in
            request.path == "/same" ? .respond(status: 200) : .redirect(to: request.path == "/" ? "/same" : other.url + "/landed")
        }
        defer { origin.stop() }

        // A redirect on the same host keeps the headers.
        let same = await engine.check(httpSpec(origin.url + "/") { $0.headers = [Header(name: "X-Api-Key", value: "k-123")] })
        #expect(same.failure == nil)
        #expect(origin.requests.last?.header("X-Api-Key") == "k-123")

        // Another host (here another port) gets the request without them.
        let away = await engine.check(httpSpec(origin.url + "/away") { $0.headers = [Header(name: "X-Api-Key", value: "k-123")] })
        #expect(away.failure == nil, "\(String(describing: away.failure))")
        #expect(other.requests.count == 1)
        #expect(other.requests.last?.header("X-Api-Key") == nil)

        // Opting out sends them on.
        let forwarded = await engine.check(httpSpec(origin.url + "/away") {
            $0.headers = [Header(name: "X-Api-Key", value: "k-123")]
            $0.forwardHeadersAcrossHosts = true
        })
        #expect(forwarded.failure == nil)
        #expect(other.requests.last?.header("X-Api-Key") == "k-123")
    }

    @Test func environmentProxiesAreIgnoredAndAProbesProxyIsUsed() async throws {
        let target = try TestHTTPServer { _ in .respond(status: 200, body: "direct") }
        defer { target.stop() }
        let proxy = try TestHTTPServer { _ in .respond(status: 200, body: "via proxy") }
        defer { proxy.stop() }
        // A probe's own proxy: the request goes to it, as an absolute URL.
        let viaProxy = await engine.check(httpSpec(target.url + "/p") { $0.proxy = proxy.url })
        #expect(viaProxy.failure == nil)
        #expect(proxy.requests.count == 1)
        #expect(target.requests.isEmpty)
        // (The environment's proxies are ignored: tested with the binary, whose environment a test may set.)
    }
}

@Suite(.serialized, .enabled(if: opensslAvailable, "needs the openssl command")) struct RedirectDowngradeTests {
    static let certificates = try! TestCertificates()

    @Test func httpsFollowsOnlyHTTPSRedirects() async throws {
        let plain = try TestHTTPServer { _ in .respond(status: 200) }
        defer { plain.stop() }
        let response = "HTTP/1.0 302 Found\r\nLocation: \(plain.url)/clear\r\nContent-Length: 0\r\n\r\n"
        let server = try await offPool {
            try TestTLSServer(leaf: Self.certificates.leaf(days: 30, name: "redirecting"), responses: ["down": response])
        }
        defer { server.stop() }
        let refused = await engine.check(httpSpec(server.url + "down") {
            $0.tls.caFile = Self.certificates.caFile
            $0.headers = [Header(name: "X-Api-Key", value: "k-123")]
        })
        let failure = try #require(refused.failure)
        #expect(failure.message.hasPrefix("redirected to \(plain.url)/clear, a scheme this probe does not follow"), "\(failure)")
        #expect(failure.message.contains("allow_http_redirects"), "\(failure)")
        #expect(plain.requests.isEmpty)

        let allowed = await engine.check(httpSpec(server.url + "down") {
            $0.tls.caFile = Self.certificates.caFile
            $0.allowHTTPRedirects = true
            $0.headers = [Header(name: "X-Api-Key", value: "k-123")]
        })
        #expect(allowed.failure == nil, "\(String(describing: allowed.failure))")
        #expect(plain.requests.count == 1)
        // Another port is another host: the key did not go out in clear.
        #expect(plain.requests.last?.header("X-Api-Key") == nil)
    }
}
