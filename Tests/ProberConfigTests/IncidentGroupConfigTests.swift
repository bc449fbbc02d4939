import Foundation
import ProberConfig
import ProberCore
import ProberTestSupport
import Testing

@Suite("incident.group in probe files")
struct IncidentGroupConfigTests {
    @Test func defaultsOverlaidPerProbe() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("p.yaml", """
            defaults:
              incident: { group: payments }
            probes:
              - name: a
                tcp: { host: a, port: 1 }
              - name: b
                tcp: { host: b, port: 1 }
                incident: { group: "ledger db" }
              - name: n
                tcp: { host: n, port: 1 }
                incident: { group: none }
            """)
        try dir.write("q.yaml", "probes:\n  - name: c\n    tcp: { host: c, port: 1 }\n")
        let set = try ProbeLoader.load(directory: dir.path, environment: [:])
        let groups = Dictionary(uniqueKeysWithValues: set.probes.map { ($0.name, $0.incident.grouping) })
        #expect(groups == ["a": .named("payments"), "b": .named("ledger db"), "n": IncidentGrouping.none, "c": .automatic])
    }

    @Test(arguments: [
        ("\"\"", "'group' must not be empty"),
        ("\"a\\tb\"", "'group' must be a name of 1 to 100 characters without control characters (it names the incident the group's probes share), or none"),
        (String(repeating: "x", count: 101),
         "'group' must be a name of 1 to 100 characters without control characters (it names the incident the group's probes share), or none"),
    ])
    func refusesWhatIsNotAName(_ value: String, _ message: String) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("p.yaml", "probes:\n  - name: a\n    tcp: { host: a, port: 1 }\n    incident:\n      group: \(value)\n")
        let lines = diagnostics(loading: dir.path, environment: [:])
        #expect(lines == ["\(dir.path)/p.yaml:5:7: \(message)"])
    }

    @Test func misplacedGroupIsPointedUnderIncident() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("p.yaml", "probes:\n  - name: a\n    tcp: { host: a, port: 1 }\n    group: payments\n")
        let lines = diagnostics(loading: dir.path, environment: [:])
        #expect(lines.count == 1)
        #expect(lines.first?.hasPrefix("\(dir.path)/p.yaml:4:5: unknown key 'group'") == true)
        #expect(lines.first?.contains("it belongs under 'incident:'") == true)
    }
}
