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

@Suite struct ProbeSpecBoxTests {
    /// glibc hands out blocks of 16-byte steps with an 8-byte header: at most 120 bytes take a 128-byte block.
    @Test func theBoxFitsA128ByteBlock() {
        #expect(ProbeSpec.boxSize <= 120)
    }

    @Test func durationsAndSourceReadBack() {
        var spec = ProbeSpec(name: "a", target: .http(HTTPTarget(url: "http://a/")), interval: .milliseconds(1_500),
                             timeout: .microseconds(250_001), source: SourceLocation(file: "probes/a.yaml", line: 12, column: 5))
        #expect(spec.interval == .milliseconds(1_500) && spec.timeout == .microseconds(250_001))
        #expect(spec.source == SourceLocation(file: "probes/a.yaml", line: 12, column: 5))
        spec.interval = .seconds(10)
        spec.source.line = 40
        #expect(spec.interval == .seconds(10) && spec.source.line == 40 && spec.source.column == 5)
    }
}
