import Foundation
import ProberCore
@testable import ProberProbes
import ProberTestSupport
import Testing

@Suite struct HTTPProbeTests {
    @Test func healthyRecordsEveryPlainHTTPPhase() async throws {
        let server = try TestHTTPServer { _ in .respond(status: 200, body: "ok") }
        defer { server.stop() }
        let sample = await engine.check(httpSpec(server.url + "/health"))
        #expect(sample.failure == nil)
        #expect(sample.status == 200)
        #expect(sample.bytes == 2)
        #expect(sample.httpVersion == "1.1")
        #expect(sample.remoteAddress == "127.0.0.1")
        #expect(sample.ipFamily == .ipv4)
        #expect(sample.phases.tls == nil, "no TLS on plain http: absent, not 0")
        #expect(sample.phases.dns != nil && sample.phases.connect != nil)
        #expect(sample.phases.processing != nil && sample.phases.transfer != nil)
        let p = sample.phases
        let sum = p.dns! + p.connect! + p.processing! + p.transfer!
        #expect(sum <= p.total!, "phases are separate slices of the total")
        #expect(sample.certificateExpiry == nil)
        #expect(server.requests.first?.path == "/health")
        #expect(server.requests.first?.method == "GET")
    }

    @Test func slowServerShowsUpInProcessing() async throws {
        let server = try TestHTTPServer { _ in .delay(.milliseconds(300), .respond(status: 200, body: "ok")) }
        defer { server.stop() }
        let sample = await engine.check(httpSpec(server.url))
        #expect(sample.failure == nil)
        let p = sample.phases
        #expect(p.processing! >= 300_000)
        #expect(p.connect! < 300_000)
        #expect(p.transfer! < 300_000)
    }

    /// One 8 MB header line: libcurl refuses it (its per-line limit), which it reports as "Out of
    /// memory"; the sample says what really happened.
    @Test func hugeResponseHeaderIsNamed() async throws {
        let huge = String(repeating: "a", count: 8 * 1024 * 1024)
        let server = try TestHTTPServer { _ in .respond(status: 200, headers: [("X-Huge", huge)], body: "ok") }
        defer { server.stop() }
        let sample = await engine.check(httpSpec(server.url))
        #expect(sample.failure == Failure(.other, "a response header line is larger than 100 KB, libcurl's limit (CURL_MAX_HTTP_HEADER)"),
                "\(String(describing: sample.failure))")
    }

    @Test func hangEndsAtTheTimeout() async throws {
        let server = try TestHTTPServer { _ in .hang }
        defer { server.stop() }
        let (sample, waited) = await timedCheck(httpSpec(server.url, timeout: .milliseconds(400)))
        #expect(sample.failure?.reason == .timeout)
        #expect(sample.failure?.message.contains("timed out") == true)
        #expect(waited >= 399_000, "not before the timeout (libcurl keeps its timers in milliseconds)")
        #expect(waited < 400_000 + 1_000_000, "bounded by the timeout (generous margin for a busy machine)")
        #expect(sample.phases.connect != nil)
        #expect(sample.phases.processing == nil, "no first byte arrived")
    }

    @Test func dripEndsAtTheTimeout() async throws {
        let server = try TestHTTPServer { _ in .drip(status: 200, body: Array(repeating: 65, count: 100), interval: .seconds(1)) }
        defer { server.stop() }
        let (sample, waited) = await timedCheck(httpSpec(server.url, timeout: .milliseconds(1_500)))
        #expect(sample.failure?.reason == .timeout)
        #expect(sample.status == 200)
        #expect((sample.bytes ?? 0) >= 1 && (sample.bytes ?? 0) < 100)
        #expect(waited >= 1_500_000)
        #expect(waited < 1_500_000 + 1_000_000)
    }

    @Test func otherTransfersOnTheEngineDoNotDelayATimeout() async throws {
        // One engine thread serves every check: a 50 MiB body and 200 quick checks in flight beside
        // a hang must not push the hang's end past its timeout (measured where the engine ends it).
        let big = try TestHTTPServer { _ in .stream(status: 200, bytes: 50 << 20) }
        defer { big.stop() }
        let quick = try TestHTTPServer { _ in .respond(status: 200, body: "ok") }
        defer { quick.stop() }
        let hang = try TestHTTPServer { _ in .hang }
        defer { hang.stop() }
        let local = try CurlEngine()
        defer { local.shutdown() }
        async let streamed = local.check(httpSpec(big.url, timeout: .seconds(30)))
        async let others = withTaskGroup(of: Sample.self) { group in
            for _ in 0..<200 { group.addTask { await local.check(httpSpec(quick.url)) } }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(try await offPool { big.waitForRequests(1) })
        let (sample, waited) = await timedCheck(httpSpec(hang.url, timeout: .milliseconds(400)), on: local)
        #expect(sample.failure?.reason == .timeout)
        #expect(waited >= 399_000, "not before the timeout (libcurl keeps its timers in milliseconds)")
        #expect(waited < 400_000 + 1_000_000, "bounded by the timeout (generous margin for a busy machine)")
        #expect(await streamed.bytes == 50 << 20)
        #expect(await others.allSatisfy(\.ok))
    }

    @Test func connectionRefused() async throws {
        let port = try closedLoopbackPort()
        let sample = await engine.check(httpSpec("http://127.0.0.1:\(port)/"))
        #expect(sample.failure?.reason == .connectRefused)
        #expect(sample.phases.connect == nil)
        #expect(sample.phases.total != nil)
    }

    @Test func resetMidResponse() async throws {
        let server = try TestHTTPServer { _ in .reset(sent: 1_000, announced: 100_000) }
        defer { server.stop() }
        let sample = await engine.check(httpSpec(server.url))
        #expect(sample.failure?.reason == .receive)
        #expect(sample.status == 200)
    }

    @Test func wrongStatus() async throws {
        let server = try TestHTTPServer { _ in .respond(status: 503, body: "down") }
        defer { server.stop() }
        let sample = await engine.check(httpSpec(server.url))
        #expect(sample.failure == Failure(.httpStatus, "expected 200-299, got 503"))
        #expect(sample.status == 503)

        let accepted = await engine.check(httpSpec(server.url) { $0.expect.status = StatusSet([200...200, 503...503]) })
        #expect(accepted.failure == nil)
    }

    @Test func bodyContainsAndMatches() async throws {
        let server = try TestHTTPServer { _ in .respond(status: 200, body: "{\"status\": \"degraded\"}") }
        defer { server.stop() }
        let contains = await engine.check(httpSpec(server.url) { $0.expect.bodyContains = "\"up\"" })
        #expect(contains.failure?.reason == .bodyMismatch)
        #expect(contains.failure?.message == "body does not contain \"\"up\"\"")
        let matches = await engine.check(httpSpec(server.url) { $0.expect.bodyMatches = #""status":\s*"up""# })
        #expect(matches.failure?.reason == .bodyMismatch)
        let good = await engine.check(httpSpec(server.url) {
            $0.expect.bodyMatches = #""status":\s*"degraded""#
            $0.expect.bodyContains = "degraded"
        })
        #expect(good.failure == nil)
        let invalid = await engine.check(httpSpec(server.url) { $0.expect.bodyMatches = "(unclosed" })
        #expect(invalid.failure == Failure(.other, "body_matches is not a valid regular expression"))
    }

    @Test func headerExpectations() async throws {
        let server = try TestHTTPServer { _ in .respond(status: 200, headers: [("Content-Type", "text/plain; charset=utf-8")], body: "ok") }
        defer { server.stop() }
        let wrong = await engine.check(httpSpec(server.url) { $0.expect.headers = [Header(name: "content-type", value: "application/json")] })
        #expect(wrong.failure?.reason == .headerMismatch)
        #expect(wrong.failure?.message.contains("text/plain") == true)
        let missing = await engine.check(httpSpec(server.url) { $0.expect.headers = [Header(name: "X-Version", value: "2")] })
        #expect(missing.failure == Failure(.headerMismatch, "header X-Version missing"))
        let good = await engine.check(httpSpec(server.url) { $0.expect.headers = [Header(name: "CONTENT-TYPE", value: "text/plain")] })
        #expect(good.failure == nil)
    }

    @Test func oversizedBodyIsCountedButNotKept() async throws {
        let size = 50 << 20
        let server = try TestHTTPServer { _ in .stream(status: 200, bytes: size) }
        defer { server.stop() }
        // The memory bound is asserted in a child process: OnceCommandTests.aLargeBodyIsNotKeptInMemory.
        let sample = await engine.check(httpSpec(server.url, timeout: .seconds(30)) { $0.expect.bodyContains = "y" })
        #expect(sample.bytes == Int64(size))
        #expect(sample.failure == Failure(.bodyMismatch, "body does not contain \"y\" (first 1048576 of 52428800 bytes checked)"))
        let passes = await engine.check(httpSpec(server.url, timeout: .seconds(30)) { $0.expect.bodyContains = "xxx" })
        #expect(passes.failure == nil)
    }

    @Test func redirectLoop() async throws {
        let server = try TestHTTPServer { _ in .redirect(to: "/loop") }
        defer { server.stop() }
        let sample = await engine.check(httpSpec(server.url) { $0.maxRedirects = 3 })
        #expect(sample.failure?.reason == .tooManyRedirects)
        #expect(server.requests.count == 4)
        let notFollowed = await engine.check(httpSpec(server.url) { $0.followRedirects = false })
        #expect(notFollowed.failure == Failure(.httpStatus, "expected 200-299, got 302"))
    }

    @Test func dnsFailureOnInvalidName() async throws {
        let sample = await engine.check(httpSpec("http://nothing.invalid/", timeout: .seconds(3)))
        #expect(sample.failure?.reason == .dns)
        #expect(sample.phases.connect == nil)
    }

    @Test(.enabled(if: ipv6LoopbackAvailable, "::1 is not available here"))
    func ipv6Loopback() async throws {
        let server = try TestHTTPServer(host: "::1") { _ in .respond(status: 200, body: "ok") }
        defer { server.stop() }
        let sample = await engine.check(httpSpec(server.url) { $0.ip = .ipv6 })
        #expect(sample.failure == nil)
        #expect(sample.remoteAddress == "::1")
        #expect(sample.ipFamily == .ipv6)
        let v4only = await engine.check(httpSpec(server.url, timeout: .seconds(2)) { $0.ip = .ipv4 })
        #expect(v4only.failure != nil, "an IPv6 literal cannot be reached with ip: ipv4")
    }

    @Test func requestHeadersAndBodyAreSentButNeverInMessages() async throws {
        let server = try TestHTTPServer { _ in .respond(status: 500) }
        defer { server.stop() }
        let sample = await engine.check(httpSpec(server.url + "/hook") {
            $0.method = "PUT"
            $0.headers = [Header(name: "Authorization", value: "Bearer s3cr3t-token")]
            $0.body = "{\"ping\":1}"
        })
        #expect(sample.failure?.reason == .httpStatus)
        #expect(sample.failure?.message.contains("s3cr3t") == false)
        let request = try #require(server.requests.first)
        #expect(request.method == "PUT")
        #expect(request.header("authorization") == "Bearer s3cr3t-token")
        #expect(request.bodyText == "{\"ping\":1}")
    }

    @Test func manyConcurrentChecks() async throws {
        let server = try TestHTTPServer { _ in .respond(status: 200, body: "ok") }
        defer { server.stop() }
        let samples = await withTaskGroup(of: Sample.self) { group in
            for _ in 0..<200 { group.addTask { await engine.check(httpSpec(server.url)) } }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(samples.count == 200)
        #expect(samples.allSatisfy { $0.failure == nil }, "\(samples.compactMap(\.failure).prefix(3))")
    }

    @Test func badURLIsASampleNotACrash() async throws {
        let sample = await engine.check(httpSpec("http://[::1/"))
        #expect(sample.failure?.reason == .other)
    }
}
