import Foundation
import ProberConfig
import ProberCore
import ProberTestSupport
import Testing

@Suite("latency: auto and incident.auto in probe files")
struct AutoThresholdConfigTests {
    @Test func autoFromDefaultsWithFactorsOverlaidPerProbe() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("p.yaml", """
            defaults:
              incident:
                minor: { latency: auto }
                auto: { minor: 4x, minor_floor: 80ms }
            probes:
              - name: a
                tcp: { host: a, port: 1 }
              - name: b
                tcp: { host: b, port: 1 }
                incident:
                  major: { latency: AUTO }
                  auto: { major: 12×, major_floor: 1s }
              - name: c
                tcp: { host: c, port: 1 }
                incident: { minor: { latency: 2s } }
            """)
        let set = try ProbeLoader.load(directory: dir.path, environment: [:])
        let byName = Dictionary(uniqueKeysWithValues: set.probes.map { ($0.name, $0.incident) })
        let a = try #require(byName["a"]), b = try #require(byName["b"]), c = try #require(byName["c"])
        #expect(a.minor.autoLatency && a.minor.latency == nil && !a.major.autoLatency)
        #expect(a.auto.minorFactor == 4 && a.auto.minorFloor == .milliseconds(80))
        #expect(a.auto.majorFactor == 10 && a.auto.majorFloor == .milliseconds(500))
        #expect(b.minor.autoLatency && b.major.autoLatency)
        #expect(b.auto.minorFactor == 4 && b.auto.majorFactor == 12 && b.auto.majorFloor == .seconds(1))
        // A fixed latency on the probe replaces the defaults' auto.
        #expect(!c.minor.autoLatency && c.minor.latency == .seconds(2) && !c.usesAutoLatency)
    }

    @Test(arguments: [
        ("auto: { minor: 0.5x }", "p.yaml:7:15: 'minor' is 0.5x; a factor of the usual p95 must be above 1x and at most 1000x"),
        ("auto: { major: lots }", "p.yaml:7:15: 'major' is 'lots'; write a factor of the usual p95 such as 3x"),
        ("auto: { minor_floor: 50 }", "p.yaml:7:15: 'minor_floor' is '50', which has no unit; write e.g. 50s or 50ms"),
        ("auto: { floor: 50ms }", "p.yaml:7:15: unknown key 'floor' in 'auto'; write minor_floor and/or major_floor (the least rise above the usual p95 for each level)"),
        ("auto: { minor: 10x, major: 5x }", "p.yaml:7:15: auto minor factor (10×) must be below auto major factor (5×)"),
        ("auto: { minor_floor: 2s, major_floor: 1s }", "p.yaml:7:15: auto minor_floor (2s) must not be above auto major_floor (1s)"),
        ("auto: 3x", "p.yaml:7:13: 'auto' must be a mapping (key: value lines), not '3x'"),
    ])
    func refusesBadAutoBlocks(_ block: String, _ expected: String) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("p.yaml", """
            probes:
              - name: a
                tcp: { host: a, port: 1 }
                incident:
                  minor: { latency: auto }
                  major: { latency: auto }
                  \(block)
            """)
        let lines = diagnostics(loading: dir.path, environment: [:])
        #expect(lines == ["\(dir.path)/\(expected)"])
    }

    @Test func latencyAutoIsNamedInTheZeroLatencyError() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("p.yaml", "probes:\n  - name: a\n    tcp: { host: a, port: 1 }\n    incident: { minor: { latency: 0s } }\n")
        let lines = diagnostics(loading: dir.path, environment: [:])
        #expect(lines == ["\(dir.path)/p.yaml:4:26: 'latency' must be longer than 0 (write 'none' for no latency threshold, 'auto' for an automatic one)"])
    }
}
