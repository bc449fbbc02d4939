import ProberTestSupport
import XCTest
import ProberCore
@testable import ProberEngine

/// The scheduler with real Dispatch timers and a scripted runner (the engine's own seam).
final class SchedulerTests: XCTestCase {
    func testTwentyProbesAt100msFireOnTheirGridWithLatenessRecorded() {
        let runner = ScriptedRunner()
        let clock = MonotonicEpochClock()
        let scheduler = Scheduler(runner: runner, clock: clock)
        let probes = (0..<20).map { httpProbe("grid-\($0)") }
        let startedAt = clock.now()
        scheduler.start(probes: probes)
        XCTAssertTrue(waitUntil {
            let stats = scheduler.stats
            return probes.allSatisfy { (stats.probes[$0.name]?.finished ?? 0) >= 15 }
        }, "timed out waiting for every probe to have run 15 checks")
        // stop() waits for the runs in flight; on a loaded machine that took half a second, and the grid points of
        // that wait were counted as unaccounted ticks. Ticks end somewhere between the two times.
        let stopping = clock.now()
        scheduler.stop()
        let stoppedAt = clock.now()

        let stats = scheduler.stats
        XCTAssertEqual(stats.lateness.count, stats.started, "every started check has its lateness recorded")
        XCTAssertGreaterThanOrEqual(stats.started, 20 * 15)
        XCTAssertEqual(stats.skippedOverlap, 0)
        for probe in probes {
            let interval: Int64 = 100_000
            let phase = Schedule.phase(name: probe.name, intervalMicros: interval)
            let perProbe = stats.probes[probe.name]!
            XCTAssertEqual(perProbe.phaseMicros, phase)
            XCTAssertEqual(perProbe.lateness.count, perProbe.started)
            XCTAssertEqual(perProbe.lastDue.map { $0 % interval }, phase, "last tick on the probe's grid")
            // Each start maps to its own grid point, in order: no drift, no double fire.
            let slots = runner.starts(probe.name).map { Schedule.floorDiv($0 - phase, interval) }
            XCTAssertEqual(slots, slots.sorted())
            XCTAssertEqual(Set(slots).count, slots.count)
            // Ticks run or missed account for every grid point between start and stop (±1 at each edge).
            func gridPoints(until end: Int64) -> Int {
                Int(Schedule.floorDiv(end - phase, interval) - Schedule.floorDiv(startedAt - phase, interval))
            }
            let accounted = perProbe.started + perProbe.missed
            XCTAssertTrue((gridPoints(until: stopping) - 2...gridPoints(until: stoppedAt) + 2).contains(accounted),
                          "\(probe.name): \(accounted) ticks for \(gridPoints(until: stopping))-\(gridPoints(until: stoppedAt)) grid points")
        }
        XCTAssertFalse(stats.running)
    }

    func testATickWhosePreviousCheckIsStillRunningIsSkippedAndCounted() {
        let runner = ScriptedRunner { spec, _ in spec.name == "stuck" ? .never : .succeed }
        let scheduler = Scheduler(runner: runner, configuration: .init(drainGrace: .milliseconds(100)))
        scheduler.start(probes: [httpProbe("stuck", timeout: .milliseconds(50)), httpProbe("fine")])
        XCTAssertTrue(waitUntil { (scheduler.stats.probes["stuck"]?.skippedOverlap ?? 0) >= 3 }, "timed out waiting for three skipped ticks")
        XCTAssertTrue(waitUntil { (scheduler.stats.probes["fine"]?.finished ?? 0) >= 3 }, "timed out waiting for three checks of the other probe")
        let stats = scheduler.stats
        XCTAssertEqual(stats.probes["stuck"]?.started, 1)
        XCTAssertEqual(stats.probes["stuck"]?.finished, 0)
        XCTAssertEqual(stats.probes["fine"]?.skippedOverlap, 0)
        XCTAssertGreaterThanOrEqual(stats.skippedOverlap, 3)
        XCTAssertEqual(runner.starts("stuck").count, 1)
        // What /metrics reads: per-probe skipped ticks, and the totals without the per-probe part.
        let skipped = Dictionary(uniqueKeysWithValues: scheduler.skippedTicks().map { ($0.name, $0.count) })
        XCTAssertEqual(Set(skipped.keys), ["stuck", "fine"])
        XCTAssertGreaterThanOrEqual(skipped["stuck"] ?? 0, 3)
        let totals = scheduler.totals
        XCTAssertTrue(totals.probes.isEmpty)
        XCTAssertGreaterThanOrEqual(totals.skippedOverlap, 3)

        // Draining is bounded by the check's timeout: a check that never ends is reported, not waited for forever.
        let result = scheduler.stop(drain: true)
        XCTAssertEqual(result.inFlightAtStop, 1)
        XCTAssertEqual(result.unfinished, 1)
    }

    func testChecksInFlightNeverExceedTheCapAndWaitingPastHalfAnIntervalIsOverload() {
        let runner = ScriptedRunner { _, _ in .hold }
        // Held checks are never abandoned here, however slow the machine (a freed slot would start a third).
        let scheduler = Scheduler(runner: runner, configuration: .init(maxInFlight: 2, abandonAfter: .seconds(600)))
        let probes = (0..<5).map { httpProbe("capped-\($0)") }
        scheduler.start(probes: probes)
        // The other three wait, each at most half an interval (then skipped as overload until a slot frees).
        XCTAssertTrue(waitUntil { scheduler.stats.queued >= 1 && scheduler.stats.inFlight == 2 }, "timed out waiting for two running and others waiting")
        // A whole interval passes for every probe before a slot frees: the running ones skip their next tick as
        // overlap, the waiting ones are skipped as overload (they waited past half an interval).
        XCTAssertTrue(waitUntil {
            let stats = scheduler.stats
            return probes.allSatisfy { (stats.probes[$0.name]?.skipped ?? 0) >= 1 }
        }, "timed out waiting for the held probes to skip a tick each")
        XCTAssertGreaterThanOrEqual(scheduler.stats.overload, 3)
        XCTAssertEqual(runner.state.withLock { $0.running }, 2)
        XCTAssertEqual(scheduler.stats.started, 2)

        // Release until every probe has started once: each release lets a queued tick in, FIFO.
        XCTAssertTrue(waitUntil {
            runner.releaseHeld()
            return probes.allSatisfy { !runner.starts($0.name).isEmpty }
        }, "timed out waiting for all five probes to have started")
        scheduler.stop(drain: false)
        runner.releaseHeld()
        let stats = scheduler.stats
        XCTAssertEqual(stats.peakInFlight, 2)
        XCTAssertEqual(runner.state.withLock { $0.peakRunning }, 2)
        // No tick started more than half an interval (50 ms) late: the waiting ones were skipped instead.
        XCTAssertLessThan(stats.lateness.max, 100_000)
    }

    func testReloadKeepsUnchangedProbesTimersAndCounters() {
        let runner = ScriptedRunner()
        let scheduler = Scheduler(runner: runner)
        let a = httpProbe("a"), b = httpProbe("b"), c = httpProbe("c")
        scheduler.start(probes: [a, b, c])
        XCTAssertTrue(waitUntil {
            let s = scheduler.stats
            return ["a", "b", "c"].allSatisfy { (s.probes[$0]?.finished ?? 0) >= 3 }
        }, "timed out waiting for a few checks each")
        var b2 = b
        b2.interval = .milliseconds(200)
        var aMoved = a
        aMoved.source = SourceLocation(file: "probes/x.yaml", line: 40, column: 3) // same probe, moved in its file
        let before = scheduler.stats
        let summary = scheduler.update(probes: [aMoved, b2, httpProbe("d")])
        XCTAssertEqual(summary, Scheduler.UpdateSummary(unchanged: ["a"], added: ["d"], changed: ["b"], removed: ["c"]))
        let after = scheduler.stats
        XCTAssertGreaterThanOrEqual(after.probes["a"]!.started, before.probes["a"]!.started, "a keeps its counters")
        XCTAssertEqual(after.probes["a"]!.phaseMicros, before.probes["a"]!.phaseMicros)
        XCTAssertEqual(after.probes["b"]!.intervalMicros, 200_000, "b restarted with its new interval")
        XCTAssertLessThan(after.probes["b"]!.started, before.probes["b"]!.started)
        XCTAssertNil(after.probes["c"])
        let cRunsAtUpdate = runner.starts("c").count

        XCTAssertTrue(waitUntil {
            let s = scheduler.stats
            return (s.probes["d"]?.finished ?? 0) >= 3 && s.probes["a"]!.started >= before.probes["a"]!.started + 3
        }, "timed out waiting for d to run and a to keep running")
        XCTAssertEqual(runner.starts("c").count, cRunsAtUpdate, "removed probe no longer runs")
        // a's ticks stayed on the same grid across the reload.
        let phase = Schedule.phase(name: "a", intervalMicros: 100_000)
        let slots = runner.starts("a").map { Schedule.floorDiv($0 - phase, 100_000) }
        XCTAssertEqual(Set(slots).count, slots.count)
        XCTAssertEqual(slots, slots.sorted())
        scheduler.stop()
    }

    func testStopWithDrainWaitsForChecksInFlight() {
        let runner = ScriptedRunner { _, _ in .hold }
        let delivered = Locked(0)
        let scheduler = Scheduler(runner: runner, onSample: { _, _ in delivered.withLock { $0 += 1 } })
        scheduler.start(probes: [httpProbe("slow-1", timeout: .seconds(5)), httpProbe("slow-2", timeout: .seconds(5))])
        XCTAssertTrue(waitUntil { runner.state.withLock { $0.running } == 2 }, "timed out waiting for both checks running")

        // Release the checks a little after stop begins: stop must not return before they are delivered.
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(300)) {
            XCTAssertTrue(waitUntil { !scheduler.stats.running }, "timed out waiting for ticking to stop")
            runner.releaseHeld()
        }
        let result = scheduler.stop(drain: true)
        XCTAssertEqual(result, Scheduler.StopResult(inFlightAtStop: 2, unfinished: 0))
        XCTAssertEqual(delivered.current, 2, "every in-flight check delivered before stop returned")
        XCTAssertEqual(scheduler.stats.inFlight, 0)
        // No tick after stop.
        let startsAtStop = runner.state.withLock { $0.starts.values.map(\.count).reduce(0, +) }
        XCTAssertEqual(startsAtStop, 2)
    }

    func testALargeSetAndAReloadRightAfterStartAreHonoured() {
        // 1,000 probes armed at once; a reload right after start removes half of them.
        let runner = ScriptedRunner()
        let scheduler = Scheduler(runner: runner)
        let probes = (0..<1_000).map { httpProbe("many-\($0)", interval: .milliseconds(300)) }
        scheduler.start(probes: probes)
        let kept = Array(probes.prefix(500))
        let summary = scheduler.update(probes: kept)
        XCTAssertEqual(summary.unchanged.count, 500)
        XCTAssertEqual(summary.removed.count, 500)
        XCTAssertTrue(waitUntil {
            let stats = scheduler.stats
            return kept.allSatisfy { (stats.probes[$0.name]?.started ?? 0) >= 2 }
        }, "timed out waiting for every kept probe to run twice")
        scheduler.stop()
        let stats = scheduler.stats
        XCTAssertEqual(stats.probes.count, 500)
        let removedRuns = probes.dropFirst(500).map { runner.starts($0.name).count }.reduce(0, +)
        // Spread over 300 ms, only the few falling due between the two calls could have run once (generous bound).
        XCTAssertLessThanOrEqual(removedRuns, 250, "removed probes stopped at the reload")
        XCTAssertEqual(stats.lateness.count, stats.started)
    }

    func testACheckTheRunnerNeverAnswersIsAbandonedAsATimeoutAfterItsGrace() {
        let runner = ScriptedRunner { _, _ in .never }
        let sink = CollectingSink()
        // The wall clock stepped a day ahead of the scheduler's monotonic clock since it started.
        let wall = SteppedWallClock(offset: 86_400_000_000)
        let scheduler = Scheduler(runner: runner, wall: wall,
                                  configuration: .init(heartbeat: .milliseconds(20), abandonAfter: .milliseconds(100)),
                                  onSample: { _, sample in sink.record(sample) })
        scheduler.start(probes: [httpProbe("lost", timeout: .milliseconds(50))])
        XCTAssertTrue(waitUntil { sink.count >= 2 }, "timed out waiting for two abandoned checks")
        scheduler.stop(drain: false)
        let first = sink.samples.current[0]
        XCTAssertEqual(first.failure?.reason, .timeout)
        XCTAssertTrue(first.failure?.message.hasSuffix("(timeout 50ms): check abandoned") == true, "\(String(describing: first.failure))")
        // Labelled on the wall clock like every other sample, not on the scheduler's monotonic epoch.
        XCTAssertLessThan(abs(first.startedAt - SystemWallClock().now() - 86_400_000_000), 10_000_000, "\(first.startedAt)")
        XCTAssertGreaterThanOrEqual(scheduler.stats.abandoned, 2)
        XCTAssertGreaterThanOrEqual(runner.starts("lost").count, 2, "the probe runs again after an abandoned check")
    }

    func testAStalledQueueIsNotLive() {
        let scheduler = Scheduler(runner: ScriptedRunner(), configuration: .init(heartbeat: .milliseconds(20)))
        scheduler.start(probes: [httpProbe("p")])
        XCTAssertTrue(scheduler.isLive(staleAfter: .seconds(5)))
        let release = DispatchSemaphore(value: 0)
        scheduler.queue.async { release.wait() }
        XCTAssertTrue(waitUntil { !scheduler.isLive(staleAfter: .milliseconds(200)) }, "timed out waiting for the stalled queue to be seen as not live")
        release.signal()
        XCTAssertTrue(waitUntil { scheduler.isLive(staleAfter: .milliseconds(200)) }, "timed out waiting for the queue to be live again")
        scheduler.stop()
        XCTAssertFalse(scheduler.isLive())
    }

    func testHeartbeatRunsOnTheSchedulersQueue() {
        let scheduler = Scheduler(runner: ScriptedRunner())
        let beats = Locked(0)
        scheduler.start(probes: [])
        let queue = scheduler.queue
        scheduler.addHeartbeat(every: .milliseconds(20)) {
            dispatchPrecondition(condition: .onQueue(queue))
            beats.withLock { $0 += 1 }
        }
        XCTAssertTrue(waitUntil { beats.current >= 3 }, "timed out waiting for three heartbeats")
        scheduler.stop()
        XCTAssertGreaterThan(scheduler.stats.lastHeartbeat, 0)
    }
}

/// The system's wall clock shifted by a fixed offset: a clock stepped since the scheduler started.
struct SteppedWallClock: WallClock {
    let offset: Int64
    func now() -> Int64 { SystemWallClock().now() + offset }
}
