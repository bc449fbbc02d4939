import Testing
@testable import ProberCore

/// A spec is held once per probe (docs/architecture.md, "Memory per probe"): its inline size is memory at 60,000 probes.
@Suite struct ProbeSpecLayoutTests {
    @Test func anHTTPTargetDoesNotCarryRoomForATCPOne() {
        #expect(MemoryLayout<ProbeSpec.Target>.size <= 32)
    }

    @Test func aTCPTargetReadsBackWhole() {
        var tcp = TCPTarget(host: "db.internal", port: 5432)
        tcp.send = "PING\r\n"
        tcp.expect = "PONG"
        let spec = ProbeSpec(name: "db", target: .tcp(tcp))
        guard case .tcp(let back) = spec.target else {
            Issue.record("not a tcp target")
            return
        }
        #expect(back == tcp)
        #expect(spec.displayTarget == "db.internal:5432" && spec.kind == "tcp")
        #expect(spec != ProbeSpec(name: "db", target: .tcp(TCPTarget(host: "db.internal", port: 5433))))
    }
}
