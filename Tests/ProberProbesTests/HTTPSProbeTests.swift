import Foundation
import ProberCore
@testable import ProberProbes
import ProberTestSupport
import Testing

@Suite(.serialized, .enabled(if: opensslAvailable, "needs the openssl command")) struct HTTPSProbeTests {
    static let certificates = try! TestCertificates()

    @Test func trustedThroughCAFile() async throws {
        // openssl runs as a child process: wait for it off the cooperative pool.
        let server = try await offPool { try TestTLSServer(leaf: Self.certificates.leaf(days: 30, name: "month")) }
        defer { server.stop() }
        let sample = await engine.check(httpSpec(server.url) { $0.tls.caFile = Self.certificates.caFile })
        #expect(sample.failure == nil, "\(String(describing: sample.failure))")
        #expect(sample.phases.tls != nil)
        let now = SystemWallClock().now() / 1_000_000
        let expiry = try #require(sample.certificateExpiry)
        #expect(abs(expiry - (now + 30 * 86_400)) < 3_600)
        #expect(sample.chainEarliestExpiry != nil && sample.chainEarliestExpiry! <= expiry)

        // The same server without the CA: verification fails; insecure still records the expiry.
        let untrusted = await engine.check(httpSpec(server.url))
        #expect(untrusted.failure?.reason == .tls)
        let insecure = await engine.check(httpSpec(server.url) { $0.tls.insecure = true })
        #expect(insecure.failure == nil)
        #expect(insecure.certificateExpiry == expiry)
    }

    @Test func expiringWithinTheWindow() async throws {
        // openssl runs as a child process: wait for it off the cooperative pool.
        let server = try await offPool { try TestTLSServer(leaf: Self.certificates.leaf(days: 3, name: "short")) }
        defer { server.stop() }
        let sample = await engine.check(httpSpec(server.url) {
            $0.tls.caFile = Self.certificates.caFile
            $0.expect.certificateValidFor = .seconds(14 * 86_400)
        })
        #expect(sample.failure == Failure(.certificateExpiring, "certificate expires in 3 days"))
        let within = await engine.check(httpSpec(server.url) {
            $0.tls.caFile = Self.certificates.caFile
            $0.expect.certificateValidFor = .seconds(86_400)
        })
        #expect(within.failure == nil)
    }
}
