import Dispatch
import Foundation
import ProberCore
import ProberProbes
import ProberTestSupport
import Testing
@testable import ProberEngine

@Suite struct ShardedEngineTests {
    func probes(_ count: Int, every interval: Duration, prefix: String = "p", url: String = "http://127.0.0.1:9/") -> [ProbeSpec] {
        (0..<count).map { i in
            ProbeSpec(name: "\(prefix)-\(i)", target: .http(HTTPTarget(url: "\(url)\(prefix)-\(i)")), interval: interval,
                      timeout: min(interval * 0.9, .seconds(2)))
        }
    }

    /// One libcurl thread up to 4,000 checks a second, then one more per 4,000, at most one a core.
    @Test func threadsFollowTheProbesRate() {
        #expect(ShardedEngine.count(for: [], cores: 2) == 1)
        #expect(ShardedEngine.count(for: probes(30_000, every: .seconds(10)), cores: 2) == 1)  // 3,000/s
        #expect(ShardedEngine.count(for: probes(40_000, every: .seconds(10)), cores: 2) == 1)  // 4,000/s
        #expect(ShardedEngine.count(for: probes(60_000, every: .seconds(10)), cores: 2) == 2)  // 6,000/s
        #expect(ShardedEngine.count(for: probes(200_000, every: .seconds(10)), cores: 2) == 2) // capped by the cores
        #expect(ShardedEngine.count(for: probes(200_000, every: .seconds(10)), cores: 8) == 5)
        #expect(ShardedEngine.count(for: probes(60_000, every: .seconds(10)), cores: 1) == 1)
        #expect(ShardedEngine.count(for: probes(500, every: .milliseconds(100)), cores: 2) == 2) // 5,000/s
    }

    /// With two engines the scheduler's checks are split between them, every probe's always to the same one, and
    /// each check runs once, reaches the server after its due time and comes back in order with its probe's others.
    @Test func twoEnginesRunEveryCheckOnceInOrder() throws {
        let server = try TestHTTPServer { _ in .respond(status: 200, body: "ok") }
        let engine = try ShardedEngine(count: 2)
        let specs = probes(40, every: .milliseconds(200), prefix: "shard", url: "\(server.url)/")
        let shards = Set(specs.map { engine.index($0.name) })
        #expect(shards == [0, 1], "40 names all hashed to one engine")
        #expect(specs.allSatisfy { engine.index($0.name) == engine.index($0.name) })

        let seen = Locked<[String: [Sample]]>([:])
        let scheduler = Scheduler(runner: engine, configuration: .init(lookahead: .milliseconds(80))) { spec, sample in
            seen.withLock { $0[spec.name, default: []].append(sample) }
        }
        scheduler.start(probes: specs)
        #expect(waitUntil { specs.allSatisfy { (scheduler.stats.probes[$0.name]?.finished ?? 0) >= 5 } },
                "timed out waiting for five checks of every probe")
        scheduler.stop()
        engine.shutdown()

        let samples = seen.current
        let requests = server.requests
        for spec in specs {
            let mine = samples[spec.name] ?? []
            #expect(mine.count >= 5)
            #expect(mine.allSatisfy { $0.failure == nil }, "\(spec.name): \(mine.compactMap(\.failure))")
            #expect(mine.map(\.startedAt) == mine.map(\.startedAt).sorted(), "\(spec.name)'s checks came back out of order")
            #expect(requests.filter { $0.path == "/\(spec.name)" }.count == mine.count, "\(spec.name) ran a check twice or lost one")
        }
        let stats = scheduler.stats
        #expect(stats.lateness.count == stats.started)
        #expect(stats.inFlight == 0)
    }

    /// A cancel reaches the engine that holds each check: 40 checks handed over ahead, split between two engines,
    /// all cancelled before their due time, each answers `.cancelled` once and none reaches the server.
    @Test func cancelReachesEveryEngine() throws {
        let server = try TestHTTPServer { _ in .respond(status: 200, body: "ok") }
        let engine = try ShardedEngine(count: 2)
        let specs = probes(40, every: .seconds(10), prefix: "cancel", url: "\(server.url)/")
        let outcomes = Locked<[UInt64: [String]]>([:])
        let batches = BatchedCompletions { batch in for finished in batch { finished.complete() } }
        let due = DispatchTime.now() + .seconds(5)
        let checks = specs.enumerated().map { i, spec in
            ScheduledCheck(id: UInt64(i + 1), spec: spec, due: due) { outcome in
                let name: String
                switch outcome {
                case .ran: name = "ran"
                case .cancelled: name = "cancelled"
                }
                outcomes.withLock { $0[UInt64(i + 1), default: []].append(name) }
            }
        }
        engine.schedule(checks, batches: batches)
        engine.cancel(checks.map(\.id))
        #expect(waitUntil { outcomes.current.count == 40 }, "timed out waiting for every check's answer")
        engine.shutdown()

        #expect(outcomes.current.values.allSatisfy { $0 == ["cancelled"] }, "\(outcomes.current)")
        #expect(server.requests.isEmpty)
    }
}
