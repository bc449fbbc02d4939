import Foundation
import ProberConfig
import ProberCore
import ProberTestSupport
import Testing

@Suite("incident.quorum in probe files")
struct QuorumConfigTests {
    @Test func defaultsToMajorityAndOverlaysPerProbe() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("p.yaml", """
            defaults:
              incident: { quorum: 50% }
            probes:
              - name: a
                tcp: { host: a, port: 1 }
              - name: b
                tcp: { host: b, port: 1 }
                incident: { quorum: 2 }
              - name: c
                tcp: { host: c, port: 1 }
                incident: { quorum: Majority }
            """)
        try dir.write("q.yaml", "probes:\n  - name: d\n    tcp: { host: d, port: 1 }\n")
        let set = try ProbeLoader.load(directory: dir.path, environment: [:])
        let quorum = Dictionary(uniqueKeysWithValues: set.probes.map { ($0.name, $0.incident.quorum) })
        #expect(quorum == ["a": .percent(50), "b": .locations(2), "c": .majority, "d": .majority])
    }

    @Test(arguments: [("0", "'0'"), ("101%", "'101%'"), ("most", "'most'"), ("1.5", "'1.5'"), ("-2", "'-2'")])
    func refusesWhatIsNotAQuorum(_ value: String, _ shown: String) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("p.yaml", "probes:\n  - name: a\n    tcp: { host: a, port: 1 }\n    incident:\n      quorum: \(value)\n")
        let lines = diagnostics(loading: dir.path, environment: [:])
        #expect(lines == ["\(dir.path)/p.yaml:5:7: 'quorum' is \(shown); write a number of locations (2), a share of them (50%) or majority"])
    }

    @Test func misplacedQuorumIsPointedUnderIncident() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("p.yaml", "probes:\n  - name: a\n    tcp: { host: a, port: 1 }\n    quorum: 2\n")
        let lines = diagnostics(loading: dir.path, environment: [:])
        #expect(lines.count == 1)
        #expect(lines.first?.contains("it belongs under 'incident:'") == true)
    }
}
