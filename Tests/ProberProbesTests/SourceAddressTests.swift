import Foundation
import ProberCore
@testable import ProberProbes
import ProberTestSupport
import Testing

/// `--source-address`: every probe's connection leaves from the chosen local address, and servers on loopback
/// see it. Linux routes all of 127.0.0.0/8 to loopback, so 127.0.0.2, .3, … need no setup.
@Suite struct SourceAddressTests {
    /// One check on a fresh engine bound to `source`.
    func check(_ spec: ProbeSpec, from source: String?) async throws -> Sample {
        let bound = try CurlEngine(sourceAddress: source.map { try #require(SourceAddress($0)) })
        defer { bound.shutdown() }
        return await bound.check(spec)
    }

    @Test func httpProbeLeavesFromTheSourceAddress() async throws {
        let server = try TestHTTPServer { _ in .respond(status: 200, body: "ok") }
        defer { server.stop() }
        let sample = try await check(httpSpec(server.url + "/"), from: "127.0.0.3")
        #expect(sample.failure == nil, "\(String(describing: sample.failure))")
        #expect(server.requests.map(\.client) == ["127.0.0.3"])
    }

    @Test func unboundProbeLeavesFromTheDefaultAddress() async throws {
        // The other half of the test above: the server reports the real peer, not a constant.
        let server = try TestHTTPServer { _ in .respond(status: 200) }
        defer { server.stop() }
        let sample = try await check(httpSpec(server.url + "/"), from: nil)
        #expect(sample.failure == nil)
        #expect(server.clients == ["127.0.0.1"])
    }

    @Test func tcpProbeLeavesFromTheSourceAddress() async throws {
        let server = try TestTCPServer(.silent)
        defer { server.stop() }
        let sample = try await check(tcpSpec(port: server.port), from: "127.0.0.3")
        #expect(sample.failure == nil, "\(String(describing: sample.failure))")
        #expect(server.waitForClients(1))
        #expect(server.clients == ["127.0.0.3"])
    }

    @Test func tcpProbeWithSendAndExpectLeavesFromTheSourceAddress() async throws {
        let server = try TestTCPServer(.echo)
        defer { server.stop() }
        let sample = try await check(tcpSpec(port: server.port, send: "PING\r\n", expect: "PING"), from: "127.0.0.4")
        #expect(sample.failure == nil, "\(String(describing: sample.failure))")
        #expect(server.clients == ["127.0.0.4"])
    }

    @Test func aServerFailingForOneClientFailsOnlyTheProbeBoundThere() async throws {
        let faults = ClientFaults(failing: ["127.0.0.2"])
        let server = try TestHTTPServer(faults: faults) { _ in .respond(status: 200, body: "ok") }
        defer { server.stop() }
        let failing = try await check(httpSpec(server.url + "/"), from: "127.0.0.2")
        let passing = try await check(httpSpec(server.url + "/"), from: "127.0.0.3")
        #expect(failing.failure?.reason == .httpStatus && failing.status == 503, "\(String(describing: failing.failure))")
        #expect(passing.failure == nil, "\(String(describing: passing.failure))")

        // Faults change for connections accepted after: now .3 is cut off with a reset, .2 is served.
        faults.set(["127.0.0.3": .reset])
        let reset = try await check(httpSpec(server.url + "/"), from: "127.0.0.3")
        let healed = try await check(httpSpec(server.url + "/"), from: "127.0.0.2")
        // The RST may arrive while libcurl still checks the connect, or after: connect, send or receive.
        #expect(reset.failure != nil && reset.status == nil, "\(String(describing: reset.failure))")
        #expect(healed.failure == nil, "\(String(describing: healed.failure))")
        #expect(server.clients == ["127.0.0.2", "127.0.0.3", "127.0.0.3", "127.0.0.2"])
    }

    @Test func aTCPServerCutsOffOnlyTheFailingClient() async throws {
        let faults = ClientFaults(failing: ["127.0.0.2"], with: .close)
        let server = try TestTCPServer(.banner("READY\r\n"), faults: faults)
        defer { server.stop() }
        let spec = tcpSpec(port: server.port, expect: "READY")
        let failing = try await check(spec, from: "127.0.0.2")
        let passing = try await check(spec, from: "127.0.0.3")
        #expect(failing.failure?.reason == .mismatch, "\(String(describing: failing.failure))")
        #expect(passing.failure == nil, "\(String(describing: passing.failure))")
    }

    @Test func anAddressNotOnThisHostIsAClearFailureNamingTheAddressAndTarget() async throws {
        let server = try TestHTTPServer { _ in .respond(status: 200) }
        defer { server.stop() }
        // 192.0.2.0/24 is TEST-NET-1: never an address of this host.
        let http = try await check(httpSpec(server.url + "/health"), from: "192.0.2.1")
        #expect(http.failure?.reason == .connect)
        let message = http.failure?.message ?? ""
        #expect(message.contains("cannot bind to source address 192.0.2.1"), "\(message)")
        #expect(message.contains(server.url + "/health"), "\(message)")
        #expect(message.contains("Cannot assign requested address"), "\(message)")

        let tcp = try await check(tcpSpec(port: server.port), from: "192.0.2.1")
        #expect(tcp.failure?.reason == .connect)
        #expect(tcp.failure?.message.contains("cannot bind to source address 192.0.2.1 (--source-address) to reach 127.0.0.1:\(server.port)") == true,
                "\(String(describing: tcp.failure))")
        #expect(server.clients.isEmpty)
    }

    @Test func aSourceOfTheOtherFamilyIsAClearFailure() async throws {
        let sample = try await check(httpSpec("http://127.0.0.1:1/"), from: "::1")
        #expect(sample.failure?.reason == .connect)
        #expect(sample.failure?.message == "source address ::1 (--source-address) is IPv6 and 127.0.0.1 is an IPv4 address: no connection is possible")

        var tcp = TCPTarget(host: "localhost", port: 1)
        tcp.ip = .ipv6
        let spec = ProbeSpec(name: "tcp-test", target: .tcp(tcp), interval: .seconds(30), timeout: .seconds(5))
        let asked = try await check(spec, from: "127.0.0.3")
        #expect(asked.failure?.message.contains("the probe asks for IPv6 (ip: ipv6)") == true, "\(String(describing: asked.failure))")
    }

    @Test func outboxRequestsAreNotBound() async throws {
        // Deliveries reach IsDown and webhooks through the default route, whatever the probes are bound to.
        let server = try TestHTTPServer { _ in .respond(status: 200) }
        defer { server.stop() }
        let bound = try CurlEngine(sourceAddress: SourceAddress("127.0.0.3"))
        defer { bound.shutdown() }
        let response = await bound.send(HTTPRequest(url: server.url + "/", method: "POST", body: [], timeout: .seconds(5)))
        #expect(response.status == 200, "\(String(describing: response.error))")
        #expect(server.clients == ["127.0.0.1"])
    }

    @Test(arguments: [("127.0.0.3", IPFamily.ipv4), ("0.0.0.0", .ipv4), ("::1", .ipv6), ("2001:db8::10", .ipv6)])
    func literalAddressesAreAccepted(_ text: String, _ family: IPFamily) {
        #expect(SourceAddress(text)?.family == family)
        #expect(SourceAddress.problem(text) == nil)
    }

    @Test(arguments: ["", "eth0", "localhost", "127.0.0", "127.0.0.256", "[::1]", "fe80::1%eth0", " 127.0.0.1", "127.0.0.1:80"])
    func anythingElseIsRefused(_ text: String) {
        #expect(SourceAddress(text) == nil)
        #expect(SourceAddress.problem(text)?.contains("'\(text)' is not a literal") == true)
    }
}
