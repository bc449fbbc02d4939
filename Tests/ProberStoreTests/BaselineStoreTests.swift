import ProberCore
@testable import ProberStore
import XCTest

final class BaselineStoreTests: XCTestCase {
    let t: Int64 = 1_800_000_000_000_000
    let minute: Int64 = 60_000_000
    let hour: Int64 = 3_600_000_000

    func check(_ at: Int64, processing ms: Int64, failed: Bool = false) -> Sample {
        let processing = ms * 1_000
        return Sample(probe: "api", startedAt: at, failure: failed ? Failure(.timeout, "timed out") : nil,
                      phases: Phases(dns: 1_000, connect: 2_000, processing: processing, transfer: 500,
                                     total: 3_500 + processing), status: failed ? nil : 200)
    }

    /// A day and a half of checks every minute around an episode that begins at `t`.
    func history() -> [Sample] {
        var samples: [Sample] = []
        for at in stride(from: t - 26 * hour, to: t + 30 * minute, by: Int(minute)) {
            switch at {
            case ..<(t - Baseline.span): samples.append(check(at, processing: 900))             // older than a day
            case (t - 10 * hour)...(t - 9 * hour): samples.append(check(at, processing: 700))   // an earlier incident
            case t...: samples.append(check(at, processing: 2_000))                           // the episode itself
            default: samples.append(check(at, processing: 100, failed: (at / minute) % 7 == 0))
            }
        }
        return samples
    }

    func testTheBaselineIsTheDayBeforeTheEpisodeWithoutFailuresOrEarlierIncidents() throws {
        let store = try Store(path: try temporaryDatabase(self))
        let samples = history()
        try fill(store, samples)
        let earlier = Incident(id: 0, probe: "api", serviceID: nil, title: "API: slow responses", description: "opened",
                               status: .minor, stage: .investigating, createdAt: t - 10 * hour + 5 * minute,
                               updatedAt: t - 10 * hour + 5 * minute, resolvedAt: nil, updates: [])
        var tracking = OpenIncident(status: .minor, stage: .investigating, openedAt: earlier.createdAt,
                                    degradedSince: t - 10 * hour, failedChecks: 0, worstP95: nil, worstFailures: 0)
        let id = try store.openIncident(earlier, tracking: tracking, outbox: [])
        tracking.stage = .resolved
        try store.appendUpdate(incidentID: id, IncidentUpdate(kind: .resolved, stage: .resolved, status: .minor,
                                                               createdAt: t - 9 * hour, description: "resolved"),
                               tracking: tracking, outbox: [])

        // Every passing check of the day, but none from the earlier incident, none older than a day.
        let eligible = samples.filter {
            $0.ok && $0.startedAt >= t - Baseline.span && $0.startedAt < t
                && !(t - 10 * hour...t - 9 * hour).contains($0.startedAt)
        }
        let baseline = try store.baseline(probe: "api", until: t)
        XCTAssertEqual(baseline.checks, eligible.count)
        XCTAssertGreaterThan(baseline.checks, 1_000)
        XCTAssertEqual(baseline.phases.processing, 100_000)
        XCTAssertEqual(baseline.phases.dns, 1_000)
        XCTAssertEqual(baseline.phases.tls, nil)
        XCTAssertEqual(baseline.p95, 103_500)
        XCTAssertEqual(baseline.covers, t - eligible.first!.startedAt)
        XCTAssertTrue(baseline.coversDay)

        // At most `perHour` from each hour, the newest of it: still the whole day.
        let sampled = try store.baseline(probe: "api", until: t, perHour: 5)
        let expected = (0..<24).flatMap { h -> [Sample] in
            let hourEnd = t - Int64(h) * hour
            return eligible.filter { $0.startedAt >= hourEnd - hour && $0.startedAt < hourEnd }.suffix(5)
        }
        XCTAssertEqual(sampled.checks, expected.count)
        XCTAssertLessThanOrEqual(sampled.checks, 5 * 24)
        XCTAssertEqual(sampled.covers, t - expected.map(\.startedAt).min()!)
        XCTAssertTrue(sampled.coversDay)

        // An unknown probe, or nothing in the day before: no baseline.
        XCTAssertEqual(try store.baseline(probe: "nope", until: t), Baseline())
        XCTAssertEqual(try store.baseline(probe: "api", until: t - Baseline.span - 2 * hour).checks, 0)
    }

    func testAnOpenEarlierIncidentExcludesEverythingSinceItBegan() throws {
        let store = try Store(path: try temporaryDatabase(self))
        try fill(store, history())
        let open = Incident(id: 0, probe: "api", serviceID: nil, title: "x", description: "x", status: .minor,
                            stage: .investigating, createdAt: t - 2 * hour, updatedAt: t - 2 * hour, resolvedAt: nil, updates: [])
        _ = try store.openIncident(open, tracking: OpenIncident(status: .minor, stage: .investigating, openedAt: t - 2 * hour,
                                                                degradedSince: t - 3 * hour, failedChecks: 0,
                                                                worstP95: nil, worstFailures: 0), outbox: [])
        let baseline = try store.baseline(probe: "api", until: t)
        XCTAssertEqual(baseline.checks, history().filter {
            $0.ok && $0.startedAt >= t - Baseline.span && $0.startedAt < t - 3 * hour
        }.count)
        XCTAssertEqual(baseline.phases.processing, 100_000)
    }
}
