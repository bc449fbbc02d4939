import Foundation
import ProberCore
@testable import ProberEngine
import ProberStorage
import ProberStore
import ProberTestSupport
import Testing

/// `Pipeline.record(contentsOf:)`, the path of a batch of finished checks: the same checks handed over in
/// batches leave what they leave one by one (history, incidents, connectivity, the latest checks).
@Suite struct PipelineBatchTests {
    typealias Check = ConnectivityTests.Check

    /// What a run left behind.
    struct Outcome: Equatable {
        var history: [String: [Int64]]
        var incidents: [String]
        var latest: [String: Int64]
        var lost: Bool
    }

    /// Feeds `checks` to a fresh store's pipeline, in batches of `batch` (1: one `record` each).
    static func run(_ checks: [Check], batch: Int, canaries: [ProbeSpec], probes: [ProbeSpec]) throws -> Outcome {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let store = try Store(path: dir.path + "/prober.db")
        let writer = SampleWriter(store: store)
        let (logger, _) = CapturingLogHandler.logger()
        let tracker = IncidentTracker(store: store, logger: logger)
        tracker.update(probes: probes, sinks: [])
        let monitor = ConnectivityMonitor(canaries: canaries, probes: probes, logger: logger)
        let latest = LatestSamples()
        let pipeline = Pipeline(writer: writer, tracker: tracker, latest: latest, connectivity: monitor)
        let samples = checks.map { ConnectivityTests.sample($0, canaries: canaries) }
        for first in stride(from: 0, to: samples.count, by: batch) {
            let slice = Array(samples[first..<min(first + batch, samples.count)])
            if batch == 1 { pipeline.record(slice[0]) } else { pipeline.record(contentsOf: slice) }
        }
        tracker.sync()
        try writer.flush()
        var history: [String: [Int64]] = [:]
        for probe in probes { history[probe.name] = try store.recentSamples(probe: probe.name, limit: 1_000).map(\.startedAt) }
        let incidents = try store.incidents(since: nil).map { "\($0.incident.probe) \($0.incident.stage) \($0.incident.createdAt)" }
        return Outcome(history: history, incidents: incidents.sorted(), latest: latest.rows().reduce(into: [:]) { $0[$1.name] = $1.check.at },
                       lost: monitor.reading().lost)
    }

    @Test func batchesLeaveWhatTheSameChecksOneByOneLeave() throws {
        let canaries = ConnectivityTests.canaries(1)
        let probes = [ConnectivityTests.spec("api"), ConnectivityTests.spec("web", host: "127.0.0.2")]
        // Two probes interleaved; "web" fails throughout while connectivity is fine, "api" while it is lost.
        var checks: [Check] = [.canary(0, ok: false, at: 0)]
        for t in stride(from: Int64(1), through: 401, by: 10) {
            if t == 201 { checks.append(.canary(0, ok: true, at: 200)) }
            checks.append(.probe("api", ok: t >= 201, at: t))
            checks.append(.probe("web", ok: false, at: t + 1))
        }
        let alone = try Self.run(checks, batch: 1, canaries: canaries, probes: probes)
        #expect(alone.history["api"]?.count == 41)
        #expect(alone.history["web"]?.count == 41)
        #expect(!alone.incidents.isEmpty, "web's failures open an incident")
        #expect(!alone.incidents.contains { $0.hasPrefix("api ") }, "api failed only while connectivity was lost")
        for size in [2, 7, checks.count] {
            let batched = try Self.run(checks, batch: size, canaries: canaries, probes: probes)
            #expect(batched == alone, "batches of \(size)")
        }
    }
}
