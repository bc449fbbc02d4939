import Foundation
import ProberCore
@testable import ProberProbes
import ProberTestSupport
import Testing

@Suite struct TCPProbeTests {
    @Test func listening() async throws {
        let server = try TestTCPServer(.silent)
        defer { server.stop() }
        let sample = await engine.check(tcpSpec(port: server.port))
        #expect(sample.failure == nil)
        #expect(sample.phases.connect != nil)
        #expect(sample.phases.tls == nil && sample.phases.processing == nil)
        #expect(sample.remoteAddress == "127.0.0.1")
    }

    @Test func refused() async throws {
        let sample = await engine.check(tcpSpec(port: try closedLoopbackPort()))
        #expect(sample.failure?.reason == .connectRefused)
    }

    @Test func sendExpectMatch() async throws {
        let server = try TestTCPServer(.echo)
        defer { server.stop() }
        let sample = await engine.check(tcpSpec(port: server.port, send: "PING\r\n", expect: "PING"))
        #expect(sample.failure == nil, "\(String(describing: sample.failure))")
        #expect(sample.phases.processing != nil)
    }

    @Test func bannerExpectWithoutSend() async throws {
        let server = try TestTCPServer(.banner("SSH-2.0-test\r\n"))
        defer { server.stop() }
        let sample = await engine.check(tcpSpec(port: server.port, expect: "SSH-2.0"))
        #expect(sample.failure == nil)
    }

    @Test func sendExpectMismatch() async throws {
        let server = try TestTCPServer(.echo)
        defer { server.stop() }
        let (sample, waited) = await timedCheck(tcpSpec(port: server.port, send: "hello", expect: "world", timeout: .milliseconds(300)))
        #expect(sample.failure?.reason == .mismatch, "\(String(describing: sample.failure))")
        #expect(sample.failure?.message.contains("got \"hello\"") == true)
        #expect(waited < 300_000 + 1_000_000)
    }

    @Test func silentServerTimesOut() async throws {
        let server = try TestTCPServer(.silent)
        defer { server.stop() }
        let (sample, waited) = await timedCheck(tcpSpec(port: server.port, send: "hi", expect: "x", timeout: .milliseconds(300)))
        #expect(sample.failure?.reason == .timeout)
        #expect(waited >= 300_000 && waited < 300_000 + 1_000_000)
    }

    /// A target that never stops sending: the read loop must still look at the clock (it used to
    /// read for as long as bytes kept arriving, past the deadline).
    @Test func endlessStreamEndsAtTheTimeout() async throws {
        let server = try TestTCPServer(.endless)
        defer { server.stop() }
        let timeout: Int64 = 300_000
        let (sample, waited) = await timedCheck(tcpSpec(port: server.port, expect: "never", timeout: .microseconds(timeout)))
        print("TCP expect against an endless stream: ended \((waited - timeout) / 1_000) ms after its timeout")
        #expect(sample.failure?.reason == .mismatch)
        #expect(sample.failure?.message.contains("expected \"never\" within 300 ms") == true, "\(String(describing: sample.failure))")
        #expect(waited >= timeout && waited < timeout + 1_000_000)
    }

    /// A target that never stops sending takes turns on the engine thread: another session's reply
    /// is read while it streams (it used to wait until the stream's deadline, and then time out).
    @Test func endlessStreamDoesNotStarveOtherSessions() async throws {
        let endless = try TestTCPServer(.endless)
        let echo = try TestTCPServer(.echo)
        defer { endless.stop(); echo.stop() }
        async let streamed = timedCheck(tcpSpec(port: endless.port, expect: "never", timeout: .seconds(1)))
        let (sample, waited) = await timedCheck(tcpSpec(port: echo.port, send: "PING\r\n", expect: "PING", timeout: .seconds(1)))
        #expect(sample.failure == nil, "\(String(describing: sample.failure))")
        #expect(waited < 500_000, "the echo took \(waited / 1_000) ms")
        #expect(await streamed.0.failure?.reason == .mismatch)
    }

    @Test func dnsFailure() async throws {
        let sample = await engine.check(tcpSpec(host: "nothing.invalid", port: 5432, timeout: .seconds(3)))
        #expect(sample.failure?.reason == .dns)
    }

    @Test(.enabled(if: ipv6LoopbackAvailable, "::1 is not available here"))
    func ipv6() async throws {
        let server = try TestTCPServer(host: "::1", .echo)
        defer { server.stop() }
        let sample = await engine.check(tcpSpec(host: "::1", port: server.port, send: "a", expect: "a"))
        #expect(sample.failure == nil)
        #expect(sample.ipFamily == .ipv6)
    }
}
