import Foundation
import ProberCore
import ProberProbes
import ProberTestSupport
import Testing
@testable import ProberEngine

/// A runner that holds every check until the test hands them back in one batch, through the scheduler's
/// `BatchedCompletions`, as the libcurl engine hands over the checks that end in one turn of its loop.
final class BatchingRunner: CheckRunner, Sendable {
    struct Held: Sendable {
        var name: String
        /// The probe's n-th check (0-based): its sample carries status 200 + n, so a test can tell checks apart.
        var n: Int
        var batches: BatchedCompletions
        var completion: @Sendable (Sample) -> Void
    }

    let held = Locked<[Held]>([])
    private let counts = Locked<[String: Int]>([:])

    func run(_ spec: ProbeSpec, completion: @escaping @Sendable (Sample) -> Void) {
        Issue.record("the scheduler asked for a check without batches")
    }

    func run(_ spec: ProbeSpec, batches: BatchedCompletions, completion: @escaping @Sendable (Sample) -> Void) {
        let n = counts.withLock { counts -> Int in
            defer { counts[spec.name, default: 0] += 1 }
            return counts[spec.name, default: 0]
        }
        held.withLock { $0.append(Held(name: spec.name, n: n, batches: batches, completion: completion)) }
    }

    /// Hands the held checks that `pick` chooses back in one batch, in the order `pick` returns them.
    @discardableResult
    func release(_ pick: ([Held]) -> [Held]) -> [Held] {
        let chosen = held.withLock { held -> [Held] in
            let chosen = pick(held)
            held.removeAll { h in chosen.contains { $0.name == h.name && $0.n == h.n } }
            return chosen
        }
        guard let batches = chosen.first?.batches else { return [] }
        batches.deliver(chosen.map { h in
            BatchedCompletions.Finished(sample: Sample(probe: h.name, startedAt: 0, status: 200 + h.n), completion: h.completion)
        })
        return chosen
    }

    func heldCount() -> Int { held.withLock { $0.count } }
}

@Suite struct SchedulerBatchTests {
    /// A batch of finished checks is counted and handed on in one call, in the batch's order (not the order
    /// the checks started in), and each probe's checks stay in order across batches.
    @Test func aBatchIsHandedOnInOneCallInItsOrder() throws {
        let runner = BatchingRunner()
        let calls = Locked<[[String]]>([])
        let scheduler = Scheduler(runner: runner, onSamples: { batch in
            calls.withLock { $0.append(batch.map { "\($0.sample.probe)#\($0.sample.status! - 200)" }) }
        })
        let names = (0..<5).map { "batch-\($0)" }
        scheduler.start(probes: names.map { httpProbe($0, interval: .milliseconds(100), timeout: .milliseconds(50)) })
        #expect(waitUntil { runner.heldCount() == 5 }, "timed out waiting for every probe's first check")

        // First checks, handed back in reverse order of their names.
        let first = runner.release { held in held.sorted { $0.name > $1.name } }
        #expect(first.count == 5)
        #expect(waitUntil { calls.withLock { $0.count } == 1 }, "timed out waiting for the batch")
        #expect(calls.withLock { $0[0] } == names.reversed().map { "\($0)#0" })
        #expect(waitUntil { scheduler.stats.finished == 5 })

        // Second checks of each probe, in name order this time.
        #expect(waitUntil { runner.heldCount() == 5 }, "timed out waiting for every probe's second check")
        runner.release { held in held.sorted { $0.name < $1.name } }
        #expect(waitUntil { calls.withLock { $0.count } == 2 }, "timed out waiting for the second batch")
        scheduler.stop(drain: false)

        let delivered = calls.withLock { $0 }
        #expect(delivered[1] == names.map { "\($0)#1" })
        for name in names {
            let checks = delivered.flatMap { $0 }.filter { $0.hasPrefix("\(name)#") }
            #expect(checks == ["\(name)#0", "\(name)#1"], "each probe's checks in order")
        }
        let stats = scheduler.stats
        #expect(stats.finished == 10)
        #expect(names.allSatisfy { stats.probes[$0]?.finished == 2 })
    }

    /// A batch holding the late completion of an abandoned check and the probe's next check: the late one is
    /// ignored (its check was already recorded as abandoned), the next one is recorded, once, in order.
    @Test func aLateCompletionOfAnAbandonedCheckInABatchIsIgnored() throws {
        let runner = BatchingRunner()
        let samples = Locked<[Sample]>([])
        let scheduler = Scheduler(runner: runner,
                                  configuration: .init(heartbeat: .milliseconds(20), abandonAfter: .seconds(1)),
                                  onSamples: { batch in samples.withLock { $0.append(contentsOf: batch.map(\.sample)) } })
        scheduler.start(probes: [httpProbe("lost", interval: .milliseconds(100), timeout: .milliseconds(50))])
        // The first check is not answered: abandoned after its timeout and grace (1 s, so that the next check,
        // released at once, is not abandoned too on a loaded machine), then the probe ticks again.
        #expect(waitUntil { samples.withLock { $0.count } == 1 }, "timed out waiting for the abandoned check")
        #expect(waitUntil { runner.held.withLock { $0.contains { $0.n >= 1 } } }, "timed out waiting for the next check")
        let abandoned = scheduler.stats.abandoned

        // The late first check and the next one, in one batch.
        let released = runner.release { held in held.filter { $0.n <= 1 }.sorted { $0.n < $1.n } }
        #expect(released.map(\.n) == [0, 1])
        #expect(waitUntil { samples.withLock { $0.count } == 2 }, "timed out waiting for the next check's sample")
        scheduler.stop(drain: false)

        let recorded = samples.withLock { $0 }
        #expect(recorded[0].failure?.reason == .timeout)
        #expect(recorded[0].failure?.message.hasSuffix("check abandoned") == true)
        #expect(recorded[1].status == 201, "the next check, not the late one")
        #expect(!recorded.contains { $0.status == 200 }, "the abandoned check's late sample is dropped")
        let stats = scheduler.stats
        #expect(stats.abandoned == abandoned)
        #expect(stats.finished == stats.started - stats.inFlight)
    }

    /// `stop(drain: true)` with checks in flight returns once their batch is handed over, with every sample
    /// delivered before it returns.
    @Test func stopWaitsForABatchStillPending() throws {
        let runner = BatchingRunner()
        let delivered = Locked(0)
        let scheduler = Scheduler(runner: runner, onSamples: { batch in delivered.withLock { $0 += batch.count } })
        scheduler.start(probes: (0..<3).map { httpProbe("pending-\($0)", interval: .seconds(1), timeout: .seconds(5)) })
        #expect(waitUntil { runner.heldCount() == 3 }, "timed out waiting for the checks to start")

        let stopped = Locked<Scheduler.StopResult?>(nil)
        let thread = Thread {
            let result = scheduler.stop(drain: true)
            stopped.withLock { $0 = result }
        }
        thread.start()
        #expect(waitUntil { !scheduler.stats.running }, "timed out waiting for ticking to stop")
        #expect(stopped.current == nil, "stop returned with checks in flight")
        runner.release { $0 }
        #expect(waitUntil { stopped.current != nil }, "timed out waiting for stop to return")
        #expect(stopped.current == Scheduler.StopResult(inFlightAtStop: 3, unfinished: 0))
        #expect(delivered.current == 3, "every check delivered before stop returned")
        #expect(scheduler.stats.inFlight == 0)
    }
}
