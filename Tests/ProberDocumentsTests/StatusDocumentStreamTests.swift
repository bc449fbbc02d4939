import ProberCore
@testable import ProberDocuments
import ProberStorage
import ProberTestSupport
import Testing

/// `StatusDocument.bytes` (written object by object) is byte for byte `ProberDocuments.bytes(StatusDocument.json(…))`,
/// the document `status --json` and `/api/v1/status` wrote before, for every field present and absent.
@Suite struct StatusDocumentStreamTests {
    static let now: Int64 = 1_764_576_000_123_456

    static func rows(_ random: inout SeededRandom, count: Int) -> [StatusDocument.Row] {
        func pick<T>(_ options: [T]) -> T { options.randomElement(using: &random)! }
        func last() -> ProbeStatus.LastCheck? {
            pick([nil, ProbeStatus.LastCheck(at: now - Int64.random(in: 0...90_000_000_000, using: &random), reason: pick([nil, .timeout, .connectRefused]),
                                            status: pick([nil, 200, 503]), latency: pick([nil, 0, 1_234, 987_654_321]))])
        }
        let loss = StatusDocument.ConnectivityLoss(location: "fra-1", since: now - 300_000_000, failures: "tcp 10.0.0.1:53: \"unreachable\"")
        let incident = Incident(id: 12, probe: "p", serviceID: nil, title: "api \"quoted\": checks failing", description: "d", status: .major,
                                stage: .monitoring, createdAt: now - 840_000_000, updatedAt: now, resolvedAt: nil, updates: [])
        let stored = StoredIncident(incident: incident, tracking: OpenIncident(status: .major, stage: .monitoring, openedAt: now,
                                                                               degradedSince: now, failedChecks: 3, worstP95: nil, worstFailures: 3),
                                    isdownID: nil, deliveries: [])
        let overload = StatusDocument.Overload([ProberHeartbeat(
            location: "fra-1", host: "h", pid: 1, version: "v", startedAt: now, at: now, every: 10_000_000, probes: 3, latenessP99: nil,
            pending: 0, spooled: 0, stopped: false, overloadSkipped: 4, overloadSkippedRecent: 1, delayedChecks: 2)])
        return (0..<count).map { i in
            var status = ProbeStatus(name: pick(["api", "p\(i)", "é \"x\"\t"]), kind: pick(["http", "tcp"]), target: pick(["https://h/x?y", "h:1"]),
                                     last: last(), checks1h: Int.random(in: 0...400, using: &random), failures1h: Int.random(in: 0...3, using: &random),
                                     uptime1h: pick([nil, 100, 99.72222222222223, 0.5]), p95_1h: pick([nil, 42, 1_500_000]))
            if i == 0 { status.last = nil }
            let locations = (0..<pick([0, 1, 3])).map { l in
                LocationStatus(location: "l\(l)", last: last(), checks1h: Int.random(in: 0...400, using: &random), failures1h: 1,
                               uptime1h: pick([nil, 100, 33.333333333333336]), p95_1h: pick([nil, 7]),
                               episode: pick([nil, LocationEpisode(location: "l\(l)", status: .minor, stage: .investigating, summary: "slow \"tls\""),
                                              LocationEpisode(location: "l\(l)", status: nil, stage: nil)]))
            }
            return StatusDocument.Row(
                status: status, incident: pick([nil, stored]), locations: locations, learning: pick([false, true]),
                quiet: pick([nil, QuietPeriod(reason: .silenced, until: now + 3_600_000_000, cause: "deploy \"x\"", silenceID: 3),
                             QuietPeriod(reason: .maintenance, until: now + 60_000_000, cause: "window")]),
                connectivityLost: pick([nil, loss]), lostLocations: pick([[:], ["l1": loss]]), overload: pick([nil, overload]))
        }
    }

    @Test func writesTheBytesTheJSONValueDocumentWrote() {
        var random = SeededRandom(seed: 16)
        for count in [0, 1, 2, 50] {
            for _ in 0..<20 {
                let rows = Self.rows(&random, count: count)
                let expected = ProberDocuments.bytes(StatusDocument.json(rows, now: Self.now))
                let written = StatusDocument.bytes(rows, now: Self.now)
                #expect(written == expected, "\(String(decoding: written, as: UTF8.self))\n---\n\(String(decoding: expected, as: UTF8.self))")
            }
        }
    }

    /// `status --json` writes the document in pieces (`write(_:now:chunk:to:)`): the pieces, end to end, are the same
    /// bytes, whatever the size of a piece (more than one piece when the document is larger than one).
    @Test func writesTheSameBytesInPieces() {
        var random = SeededRandom(seed: 9)
        for count in [0, 1, 50] {
            let rows = Self.rows(&random, count: count)
            let expected = ProberDocuments.bytes(StatusDocument.json(rows, now: Self.now))
            for chunk in [1, 700, 1 << 16] {
                var pieces: [[UInt8]] = []
                StatusDocument.write(rows, now: Self.now, chunk: chunk) { pieces.append(Array($0)) }
                #expect(Array(pieces.joined()) == expected, "\(count) rows in pieces of \(chunk)")
                #expect(count < 50 || chunk == 1 << 16 || pieces.count > 1, "\(count) rows in pieces of \(chunk): one piece")
            }
        }
    }
}
