import Foundation
import ProberTestSupport
import Testing

@Suite("prober check shows incident quorums")
struct CheckQuorumTests {
    @Test func checkShowsQuorumsOtherThanTheDefault() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("probes/p.yaml", """
            probes:
              - name: api
                tcp: { host: a, port: 1 }
                incident: { quorum: 2 }
              - name: db
                tcp: { host: a, port: 2 }
                incident: { quorum: 50% }
              - name: web
                tcp: { host: a, port: 3 }
                incident: { quorum: 50% }
              - name: plain
                tcp: { host: a, port: 4 }
            """)
        let result = try ProberBinary.run(["check", "probes"], currentDirectory: dir.url)
        #expect(result.status == 0)
        #expect(result.stdout == "4 probes in 1 file\nincident quorum: 2 for api; 50% for db, web (the others: majority)\n")
        let json = try ProberBinary.run(["check", "--json", "probes"], currentDirectory: dir.url)
        #expect(json.stdout.contains("\"quorum\":{\"api\":\"2\",\"db\":\"50%\",\"web\":\"50%\"}"))
    }
}
