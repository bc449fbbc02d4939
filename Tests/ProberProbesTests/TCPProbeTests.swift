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
        #expect(sample.failure?.reason == .mismatch)
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
