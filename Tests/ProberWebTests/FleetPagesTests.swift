import Foundation
import ProberBackends
import ProberCore
import ProberStorage
import ProberTestSupport
@testable import ProberWeb
import Testing

/// The pages of a fleet's PostgreSQL history (issue 15, "the pages show locations"): `/` gets a column of each
/// location's state for a probe checked from more than one, `/probes/NAME` a p95 line per location (named at its
/// end and in the text alternative) and a table. Raw HTML: the browser adds nothing to what is asserted here.
@Suite struct FleetPagesTests {
    static let minute: Int64 = 60_000_000
    static let now: Int64 = 1_800_000_000_000_000

    /// api from a (fast), b (slow, degraded by its episode) and c (from the last 20 minutes only); solo from a.
    func fill(_ url: String) throws {
        for (site, latency, minutes) in [("a", Int64(2_000), 60), ("b", Int64(80_000), 60), ("c", Int64(9_000), 20)] {
            let storage = try StorageBackend.open(database: url, readOnly: false, site: site)
            let recorder = storage.makeSampleRecorder(warning: { _ in })
            for i in 0..<minutes {
                let at = Self.now - Int64(minutes - i) * Self.minute + 1_000_000
                recorder.append(Sample(probe: "api", startedAt: at, phases: Phases(connect: latency / 4, total: latency), status: 200))
                if site == "a" { recorder.append(Sample(probe: "solo", startedAt: at, phases: Phases(total: 500), status: 200)) }
            }
            try recorder.close()
            if site == "b", let fleet = storage as? any FleetStorage {
                try fleet.publish(probe: "api", location: "b", episode: LocationEpisode(location: "b", status: .minor, stage: .investigating),
                                  tracking: nil, at: Self.now)
            }
        }
    }

    @Test func statusColumnAndProbePageSeriesPerLocation() throws {
        let cluster = try TestPostgres.shared()
        let database = try cluster.makeDatabase()
        defer { cluster.dropDatabase(database) }
        let url = cluster.socketURL(database)
        try fill(url)
        let storage = try StorageBackend.open(database: url, readOnly: true)

        let status = try StatusPage.render(.init(), storage: storage, now: Self.now).markup
        #expect(status.contains("<th>Locations</th>"))
        let apiRow = try #require(status.components(separatedBy: "<tr data-probe=\"api\">").dropFirst().first?.components(separatedBy: "</tr>").first)
        #expect(apiRow.contains(#"<td class="locs"><span class="state healthy" title="a: healthy">✓ a</span> "#), "\(apiRow)")
        #expect(apiRow.contains(#"title="b: degraded (minor)""#), "the state is a word and a symbol, not a colour alone: \(apiRow)")
        #expect(apiRow.contains(#"title="c: healthy">✓ c</span>"#))
        let soloRow = try #require(status.components(separatedBy: "<tr data-probe=\"solo\">").dropFirst().first?.components(separatedBy: "</tr>").first)
        #expect(soloRow.contains(#"<td class="locs"></td>"#), "one location: an empty cell: \(soloRow)")

        let content = try #require(try ProbePage.load("api", range: .named("1h"), storage: storage, now: Self.now))
        let page = ProbePage.render(content, range: .named("1h"), now: Self.now).markup
        // The hour shown begins 59 minutes before now: a and b's first checks are before it.
        for (location, points) in [("a", 59), ("b", 59), ("c", 20)] {
            #expect(page.contains(#"data-series="p95 \#(location)" data-points="\#(points)""#), "p95 \(location)")
            #expect(page.contains(">p95 \(location)</text>"), "the line is named at its end")
        }
        #expect(page.contains("b: highest p95 80 ms"), "the text alternative names each location's highest p95")
        let table = try #require(page.components(separatedBy: "<table class=\"locations\">").dropFirst().first?.components(separatedBy: "</table>").first)
        #expect(table.components(separatedBy: "<tr><td>").count - 1 == 3, "\(table)")
        #expect(table.contains("<tr><td>c</td><td>20</td><td>0</td>"), "\(table)")

        let solo = ProbePage.render(try #require(try ProbePage.load("solo", range: .named("1h"), storage: storage, now: Self.now)),
                                    range: .named("1h"), now: Self.now).markup
        #expect(!solo.contains("data-series=\"p95 a\"") && !solo.contains("class=\"locations\""), "one location adds nothing")
    }

    @Test func sqlitePagesHaveNoLocations() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let storage = try StorageBackend.open(database: dir.path + "/prober.db", readOnly: false)
        let recorder = storage.makeSampleRecorder(warning: { _ in })
        recorder.append(Sample(probe: "api", startedAt: Self.now - Self.minute, phases: Phases(total: 900), status: 200))
        try recorder.close()
        let status = try StatusPage.render(.init(), storage: storage, now: Self.now).markup
        #expect(!status.contains("Locations") && !status.contains("class=\"locs\""))
    }
}
