import ProberCore
import ProberDocuments
import ProberStorage
import Testing

/// The shared pieces of the documents: the history query's parameters and a status row's derived values.
@Suite struct DocumentTests {
    static let now: Int64 = 1_764_576_000_000_000 // 2025-12-01T08:00:00Z

    @Test(arguments: [
        ("24h", nil, nil, nil, nil),
        ("nope", nil, nil, nil, "since"),
        ("1h", "soon", nil, nil, "until"),
        ("1h", "2h", nil, nil, "since"),
        ("2025-11-30", "2025-12-01T06:00:00Z", "5m", "connect", nil),
        ("1h", nil, "500ms", nil, "every"),
        ("1h", nil, "1s", nil, nil),
        ("1h", nil, nil, "latency", "phase"),
    ] as [(String, String?, String?, String?, String?)])
    func historyParameters(since: String, until: String?, every: String?, phase: String?, refused: String?) {
        switch HistoryQuery.parse(since: since, until: until, every: every, phase: phase, now: Self.now) {
        case .success(let query):
            #expect(refused == nil, "accepted \(since) \(String(describing: until)) \(String(describing: every))")
            #expect(query.since < query.until)
        case .failure(let problem):
            #expect(problem.parameter == refused)
            #expect(problem.message(prefix: "--").contains("--") || problem.parameter == "phase")
            #expect(!problem.message(prefix: "").contains("\u{1}"))
        }
    }

    @Test func theDefaultsAreTheFlagsDefaults() throws {
        let query = try HistoryQuery.parse(since: nil, until: nil, every: nil, phase: nil, now: Self.now).get()
        #expect(query == HistoryQuery(since: Self.now - 86_400_000_000, until: Self.now, every: nil, phase: .total))
    }

    @Test func aRowsStateAndIncidentCellComeFromTheOpenIncident() {
        let status = ProbeStatus(name: "a", kind: "tcp", target: "h:1",
                                 last: .init(at: Self.now - 5_000_000, reason: .connectRefused, status: nil, latency: nil))
        let row = StatusDocument.Row(status: status, incident: nil)
        #expect(row.state == .failing)
        #expect(row.incidentCell(now: Self.now) == "-")
        let json = StatusDocument.json(row, now: Self.now).encoded
        #expect(json.contains(#""age_seconds":5"#) && json.contains(#""state":"failing""#) && json.contains(#""locations":[]"#))
        var located = row
        located.locations = [LocationStatus(location: "eu-west", last: .init(at: Self.now - 2_000_000, reason: nil, status: 200, latency: 900),
                                            episode: LocationEpisode(location: "eu-west", status: .major, stage: .monitoring))]
        let fleet = StatusDocument.json(located, now: Self.now).encoded
        #expect(fleet.contains(#""location":"eu-west""#) && fleet.contains(#""state":"recovering (major)""#), "a fleet row lists its locations: \(fleet)")
    }
}
