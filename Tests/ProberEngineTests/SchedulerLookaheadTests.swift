import Dispatch
import Foundation
import ProberCore
import ProberProbes
import ProberTestSupport
import Testing
@testable import ProberEngine

/// The real libcurl engine, with a record of what the scheduler asked of it: each check's start (from the engine's
/// own answer) and end (when its answer reached the scheduler's queue), on Dispatch's clock.
final class RecordingEngine: SchedulingCheckRunner, Sendable {
    struct Check: Sendable {
        var probe: String
        var start: UInt64
        var end: UInt64
        /// For a check handed over ahead, its due time.
        var due: UInt64? = nil
    }

    struct Record: Sendable {
        var scheduleCalls = 0
        var scheduled = 0
        var cancelled = 0
        var runs = 0
        var checks: [Check] = []
        /// How long the engine held each batch of answers open, as last handed over.
        var gathering: Duration?
    }

    let engine: CurlEngine
    let record = Locked(Record())

    init() throws { engine = try CurlEngine() }

    func run(_ spec: ProbeSpec, completion: @escaping @Sendable (Sample) -> Void) {
        Issue.record("the scheduler asked for a check without batches")
    }

    func run(_ spec: ProbeSpec, batches: BatchedCompletions, completion: @escaping @Sendable (Sample) -> Void) {
        let start = DispatchTime.now().uptimeNanoseconds
        record.withLock { $0.runs += 1 }
        engine.run(spec, batches: batches) { [record] sample in
            let end = DispatchTime.now().uptimeNanoseconds
            record.withLock { $0.checks.append(Check(probe: spec.name, start: start, end: end)) }
            completion(sample)
        }
    }

    func schedule(_ checks: [ScheduledCheck], batches: BatchedCompletions) {
        record.withLock {
            $0.scheduleCalls += 1
            $0.scheduled += checks.count
            $0.gathering = batches.gathering
        }
        engine.schedule(checks.map { check in
            ScheduledCheck(id: check.id, spec: check.spec, due: check.due) { [record] outcome in
                let end = DispatchTime.now().uptimeNanoseconds
                record.withLock {
                    switch outcome {
                    case .ran(_, let lateness):
                        $0.checks.append(Check(probe: check.spec.name, start: check.due.uptimeNanoseconds + UInt64(lateness) * 1_000, end: end,
                                               due: check.due.uptimeNanoseconds))
                    case .cancelled: $0.cancelled += 1
                    }
                }
                check.completion(outcome)
            }
        }, batches: batches)
    }

    func cancel(_ ids: [UInt64]) { engine.cancel(ids) }

    /// The most checks that overlapped in time, overall or of one probe.
    func peakOverlap(of probe: String? = nil) -> Int {
        let checks = record.withLock { $0.checks }.filter { probe == nil || $0.probe == probe }
        // An end sorts before a start at the same instant: the slot was freed before it was taken again.
        var events: [(at: UInt64, delta: Int)] = []
        for check in checks {
            events.append((check.start, 1))
            events.append((check.end, -1))
        }
        events.sort { a, b in a.at != b.at ? a.at < b.at : a.delta < b.delta }
        var now = 0, peak = 0
        for (_, delta) in events {
            now += delta
            peak = max(peak, now)
        }
        return peak
    }
}

@Suite struct SchedulerLookaheadTests {
    /// A name (with `prefix`) whose first tick at `interval` is between `from` and `to` from now on `clock`.
    func name(_ prefix: String, dueBetween from: Duration, and to: Duration, interval: Duration, clock: MonotonicEpochClock) -> String {
        let now = clock.now()
        for i in 0... {
            let name = "\(prefix)-\(i)"
            let due = Schedule.firstDeadline(name: name, intervalMicros: interval.microseconds, now: now) - now
            if due >= from.microseconds && due <= to.microseconds { return name }
        }
        fatalError("unreachable")
    }

    /// Ticks go to the engine in batches, ahead of time, and each check reaches the server at its due time: never
    /// before its window (`ScheduledCheck.earlyStart`, here 2 ms), and (but on a very loaded machine) soon after it.
    @Test func ticksHandedOverAheadStartAtTheirDueTime() throws {
        let arrivals = Locked<[String: [UInt64]]>([:])
        let server = try TestHTTPServer { request in
            let now = DispatchTime.now().uptimeNanoseconds
            arrivals.withLock { $0[request.path, default: []].append(now) }
            return .respond(status: 200, body: "ok")
        }
        let runner = try RecordingEngine()
        let probes = (0..<20).map { i in
            ProbeSpec(name: "ahead-\(i)", target: .http(HTTPTarget(url: "\(server.url)/ahead-\(i)")), interval: .milliseconds(200),
                      timeout: .milliseconds(190))
        }
        // A window of 40 ms holds 4 of the 100 ticks a second on average.
        let scheduler = Scheduler(runner: runner, configuration: .init(lookahead: .milliseconds(80)))
        scheduler.start(probes: probes)
        #expect(waitUntil { probes.allSatisfy { (scheduler.stats.probes[$0.name]?.finished ?? 0) >= 5 } },
                "timed out waiting for five checks of every probe")
        scheduler.stop()
        runner.engine.shutdown()

        // A tick goes the old way only when the scheduler's queue woke after its due time (a loaded machine).
        let record = runner.record.current
        #expect(record.scheduled > 0)
        #expect(record.scheduleCalls * 2 < record.scheduled, "handed over in batches, not one by one: \(record.scheduleCalls) calls for \(record.scheduled) checks")
        // The n-th request of a probe is its n-th check: at or after that check's due time.
        var delays: [Int64] = []
        let window = UInt64(ScheduledCheck(id: 0, spec: probes[0], due: .now()) { _ in }.earlyStart.microseconds * 1_000)
        #expect(window == 2_000_000)
        let received = arrivals.current
        for probe in probes {
            let checks = record.checks.filter { $0.probe == probe.name }.sorted { $0.start < $1.start }
            let times = received["/\(probe.name)"] ?? []
            #expect(times.count == checks.count)
            for (check, at) in zip(checks, times) {
                guard let due = check.due else { continue }
                #expect(at + window >= due, "\(probe.name) reached the server \(due - at) ns before its due time")
                delays.append(Int64(bitPattern: at &- due))
            }
        }
        #expect(!delays.isEmpty)
        let median = delays.sorted()[delays.count / 2]
        #expect(median < 100_000_000, "median start \(median) ns after the due time")
        let stats = scheduler.stats
        #expect(stats.lateness.count == stats.started)
    }

    /// A probe removed while its tick waits in the engine never runs that tick: the engine answers `.cancelled`, its
    /// slot frees, and the server never hears from it (a probe due after it shows the time passed).
    @Test func aRemovedProbesPendingStartNeverRuns() throws {
        let clock = MonotonicEpochClock()
        let server = try TestHTTPServer { _ in .respond(status: 200, body: "ok") }
        let runner = try RecordingEngine()
        let interval = Duration.seconds(10)
        let gone = name("gone", dueBetween: .milliseconds(1_000), and: .milliseconds(2_000), interval: interval, clock: clock)
        let witness = name("witness", dueBetween: .milliseconds(2_300), and: .milliseconds(3_000), interval: interval, clock: clock)
        let spec = { (name: String) in
            ProbeSpec(name: name, target: .http(HTTPTarget(url: "\(server.url)/\(name)")), interval: interval, timeout: .seconds(1))
        }
        let scheduler = Scheduler(runner: runner, clock: clock, configuration: .init(lookahead: .seconds(4)))
        scheduler.start(probes: [spec(gone), spec(witness)])
        #expect(waitUntil { runner.record.current.scheduled == 2 }, "timed out waiting for both ticks to be handed over")
        #expect(scheduler.stats.inFlight == 2)

        let summary = scheduler.update(probes: [spec(witness)])
        #expect(summary.removed == [gone])
        #expect(waitUntil { runner.record.current.cancelled == 1 }, "timed out waiting for the engine to cancel the tick")
        #expect(waitUntil { scheduler.stats.finished == 1 }, "timed out waiting for the witness's check")
        scheduler.stop()
        runner.engine.shutdown()

        #expect(server.requests.map(\.path) == ["/\(witness)"])
        let stats = scheduler.stats
        #expect(stats.started == 1)
        #expect(stats.inFlight == 0)
        #expect(runner.record.current.runs == 0)
    }

    /// Handed-over ticks hold their slot until the engine answers: with `maxInFlight` 3 and checks that take longer
    /// than the ticks come, no more than 3 ever run at once; the rest fire at their due time and wait or are shed.
    @Test func maxInFlightHoldsWithLookahead() throws {
        let server = try TestHTTPServer { _ in .delay(.milliseconds(120), .respond(status: 200, body: "ok")) }
        let runner = try RecordingEngine()
        let probes = (0..<12).map { i in
            ProbeSpec(name: "capped-\(i)", target: .http(HTTPTarget(url: "\(server.url)/capped-\(i)")), interval: .milliseconds(200), timeout: .milliseconds(180))
        }
        let scheduler = Scheduler(runner: runner, configuration: .init(maxInFlight: 3))
        scheduler.start(probes: probes)
        #expect(waitUntil { scheduler.stats.finished >= 30 }, "timed out waiting for 30 checks")
        scheduler.stop()
        runner.engine.shutdown()

        #expect(runner.record.current.scheduled > 0, "some ticks went ahead")
        #expect(runner.peakOverlap() <= 3, "more than maxInFlight checks ran at once")
        #expect(scheduler.stats.peakInFlight <= 3)
        #expect(scheduler.stats.skipped > 0, "12 checks of 120 ms every 200 ms cannot fit 3 slots")
        let stats = scheduler.stats
        #expect(stats.probes.values.reduce(0) { $0 + $1.overload } == stats.overload)
        #expect(stats.probes.values.reduce(0) { $0 + $1.started } == stats.started)
    }

    /// `stop(drain: true)` with ticks waiting in the engine cancels them and returns once the engine has answered:
    /// none of them runs, then or later.
    @Test func stopWithPendingStarts() throws {
        let clock = MonotonicEpochClock()
        let server = try TestHTTPServer { _ in .respond(status: 200, body: "ok") }
        let runner = try RecordingEngine()
        let interval = Duration.seconds(10)
        let names = ["a", "b", "c"].map { name("pending-\($0)", dueBetween: .milliseconds(1_500), and: .milliseconds(3_000), interval: interval, clock: clock) }
        let scheduler = Scheduler(runner: runner, clock: clock, configuration: .init(lookahead: .seconds(4)))
        scheduler.start(probes: names.map {
            ProbeSpec(name: $0, target: .http(HTTPTarget(url: "\(server.url)/\($0)")), interval: interval, timeout: .seconds(1))
        })
        #expect(waitUntil { runner.record.current.scheduled == 3 }, "timed out waiting for the ticks to be handed over")

        let result = scheduler.stop(drain: true)
        #expect(result == Scheduler.StopResult(inFlightAtStop: 3, unfinished: 0))
        #expect(runner.record.current.cancelled == 3)
        let stats = scheduler.stats
        #expect(stats.inFlight == 0)
        #expect(stats.started == 0)
        runner.engine.shutdown() // waits for every transfer: a start that slipped through would show below
        #expect(server.requests.isEmpty)
    }

    /// A probe whose check outlasts its interval still never overlaps itself: its next ticks cannot go ahead (it is
    /// busy when they would), fire at their due time, and are skipped as overlap.
    @Test func overlapIsStillSkipped() throws {
        let server = try TestHTTPServer { request in
            request.path == "/slow" ? .delay(.milliseconds(350), .respond(status: 200, body: "ok")) : .respond(status: 200, body: "ok")
        }
        let runner = try RecordingEngine()
        let probes = ["slow", "quick"].map {
            ProbeSpec(name: $0, target: .http(HTTPTarget(url: "\(server.url)/\($0)")), interval: .milliseconds(100), timeout: .seconds(1))
        }
        let scheduler = Scheduler(runner: runner, configuration: .init(abandonAfter: .seconds(60)))
        scheduler.start(probes: probes)
        #expect(waitUntil { (scheduler.stats.probes["slow"]?.finished ?? 0) >= 3 }, "timed out waiting for three slow checks")
        scheduler.stop()
        runner.engine.shutdown()

        let stats = scheduler.stats
        #expect((stats.probes["slow"]?.skippedOverlap ?? 0) >= 4)
        #expect(runner.peakOverlap(of: "slow") == 1, "the slow probe overlapped itself")
        #expect(server.requests.filter { $0.path == "/slow" }.count == stats.probes["slow"]?.started)
    }

    /// With few checks a second the window grows: 1,000 probes at 10 s (100 ticks a second) go over in windows of
    /// 50 ms (a lookahead of 100 ms, five ticks a hand-over), not 10 ms ones of one tick each, and the answers are
    /// gathered for as long. One probe at 100 ms among them keeps the window at its shortest (its answer must not
    /// be held near its next tick).
    @Test func fewChecksASecondGrowTheWindow() throws {
        let server = try TestHTTPServer { _ in .respond(status: 200, body: "ok") }
        func probes(_ count: Int) -> [ProbeSpec] {
            (0..<count).map { i in
                ProbeSpec(name: "sparse-\(i)", target: .http(HTTPTarget(url: "\(server.url)/sparse-\(i)")), interval: .seconds(10),
                          timeout: .seconds(2))
            }
        }
        let runner = try RecordingEngine()
        let scheduler = Scheduler(runner: runner)
        scheduler.start(probes: probes(1_000))
        #expect(waitUntil(timeout: .seconds(20)) { runner.record.current.scheduled >= 200 }, "timed out waiting for 200 ticks")
        let grown = runner.record.current
        #expect(grown.gathering == .milliseconds(50))
        // Five ticks a window on average; a loaded machine only makes the windows fuller.
        #expect(grown.scheduled >= 3 * grown.scheduleCalls, "\(grown.scheduleCalls) hand-overs for \(grown.scheduled) ticks")

        let fast = ProbeSpec(name: "fast", target: .http(HTTPTarget(url: "\(server.url)/fast")), interval: .milliseconds(100),
                             timeout: .milliseconds(90))
        _ = scheduler.update(probes: probes(1_000) + [fast])
        #expect(waitUntil { runner.record.current.gathering == .milliseconds(10) }, "the window did not shrink back")
        #expect(waitUntil { (scheduler.stats.probes["fast"]?.finished ?? 0) >= 5 }, "timed out waiting for five fast checks")
        scheduler.stop()
        runner.engine.shutdown()
        #expect((scheduler.stats.probes["fast"]?.skippedOverlap ?? 0) == 0)
    }

    /// At 1,000 checks a second the lookahead is the longest, 100 ms (64 ticks a window would take 128 ms; with 32
    /// a window it was 64 ms): the engine holds the checks due in the next 50-100 ms, and starts many at once.
    @Test func aThousandChecksASecondTakeTheLongestWindow() throws {
        let server = try TestHTTPServer { _ in .respond(status: 200, body: "ok") }
        let probes = (0..<1_000).map { i in
            ProbeSpec(name: "busy-\(i)", target: .http(HTTPTarget(url: "\(server.url)/busy-\(i)")), interval: .seconds(1),
                      timeout: .milliseconds(500))
        }
        #expect(try gathering(running: probes, until: 200) == .milliseconds(50), "a lookahead of 100 ms, 50 ms of gathering")
    }

    /// A probe whose timeout leaves little of its interval (here 30 ms of 10 s) keeps the window within that slack:
    /// a check of it that runs to its timeout is answered before its next tick, not held in a gathered batch.
    @Test func theLeastSlackBoundsTheWindow() throws {
        let server = try TestHTTPServer { _ in .respond(status: 200, body: "ok") }
        let probes = (0..<1_000).map { i in
            ProbeSpec(name: "slack-\(i)", target: .http(HTTPTarget(url: "\(server.url)/slack-\(i)")), interval: .seconds(10),
                      timeout: i == 0 ? .milliseconds(9_970) : .seconds(2))
        }
        #expect(try gathering(running: probes, until: 20) == .milliseconds(10), "a 30 ms slack: a 20 ms lookahead (the longest steady one within it), 10 ms of gathering")
    }

    /// Runs `probes` on a scheduler of the default configuration until `ticks` are handed over ahead, then stops it;
    /// returns how long the engine gathered the answers then (half the lookahead the scheduler chose).
    func gathering(running probes: [ProbeSpec], until ticks: Int) throws -> Duration? {
        let runner = try RecordingEngine()
        let scheduler = Scheduler(runner: runner)
        scheduler.start(probes: probes)
        #expect(waitUntil { runner.record.current.scheduled >= ticks }, "timed out waiting for \(ticks) ticks")
        scheduler.stop()
        runner.engine.shutdown()
        return runner.record.current.gathering
    }

    /// A scheduler core with a 20 ms lookahead on `runner`, never started (the tests move its time by hand through
    /// `lastHandOver` and `handOverAhead(now:)`), holding one probe at 10 s whose next tick is due at `due`.
    func idleCore(on runner: RecordingEngine, maxInFlight: Int = 256, due: Int64) -> (Scheduler.Core, Scheduler.Entry) {
        let core = Scheduler.Core(queue: DispatchQueue(label: "test"), runner: runner, clock: MonotonicEpochClock(),
                                  wall: SystemWallClock(), configuration: .init(maxInFlight: maxInFlight, lookahead: .milliseconds(20)),
                                  stats: .init(SchedulerStats()), onSamples: { _ in }, onSkip: { _, _, _ in }, onOverload: { _ in })
        let entry = Scheduler.Entry(spec: ProbeSpec(name: "idle", target: .http(HTTPTarget(url: "http://127.0.0.1:9/")),
                                                    interval: .seconds(10), timeout: .seconds(1)))
        entry.due = due
        core.deadlines.push(entry)
        return (core, entry)
    }

    /// While no slot is free, no tick can be handed over: a tick of the window stays in `deadlines` (not moved through
    /// `atDue`), and the scheduler wakes at the earliest due time, but at most once every half lookahead (it woke
    /// once per tick, thousands of times a second past capacity). With a slot free, it wakes a lookahead ahead.
    @Test func noSlotFreeMeansOneWakeUpPerHalfLookahead() throws {
        let runner = try RecordingEngine()
        defer { runner.engine.shutdown() }
        let (core, _) = idleCore(on: runner, maxInFlight: 1, due: 1_000_000)
        core.lastHandOver = 900_000
        #expect(core.nextWake() == 980_000, "a slot is free: a lookahead ahead")
        core.inFlight = 1
        #expect(core.nextWake() == 1_000_000, "no slot: at its due time")
        core.lastHandOver = 1_002_000
        #expect(core.nextWake() == 1_010_000, "no slot: not before the grid point after the last wake-up")

        core.handOverAhead(now: 990_000)
        #expect(core.deadlines.count == 1 && core.atDue.isEmpty)
        #expect(runner.record.current.scheduleCalls == 0)
    }

    /// The scheduler hands ticks over on a grid of half lookaheads on the epoch timeline, however late its timer
    /// fires, so each tick is handed over (and, by the engine, started) at the same point of the grid every interval.
    /// Timed from the last wake-up, the hand-overs drifted by every wake-up's lateness: at 10,000 probes at 10 s
    /// each probe's checks started ~20 ms earlier than the interval before, wrapping around every few intervals.
    @Test func handOversKeepToTheirGridWhenTheTimerIsLate() throws {
        let runner = try RecordingEngine()
        defer { runner.engine.shutdown() }
        let (core, entry) = idleCore(on: runner, due: 1_003_000)
        core.lastHandOver = 900_000
        #expect(core.nextWake() == 990_000, "the grid point within a lookahead of the tick, not 983,000")

        // A tick always within reach: each wake-up is the grid point after the last one, which fired up to 3 ms late.
        entry.due = 0
        var now: Int64 = 1_000_003
        for n in 0..<1_000 {
            core.lastHandOver = now
            let wake = try #require(core.nextWake())
            #expect(wake % 10_000 == 0, "wake-up \(n) at \(wake), off the 10 ms grid")
            #expect(wake > now && wake <= now + 10_000, "wake-up \(n) at \(wake) after one at \(now)")
            now = wake + Int64(n * 7_919 % 3_000)
        }
    }

    /// The lookahead grows to twice a divisor of 100 ms (an interval of whole tenths of a second is then a whole
    /// number of windows), the longest within what the rate, the intervals and the slack allow.
    @Test func theWindowGrowsToASteadyLength() {
        #expect(Scheduler.Core.steadyLookahead(atMost: 100_000) == 100_000)
        #expect(Scheduler.Core.steadyLookahead(atMost: 99_999) == 50_000)
        #expect(Scheduler.Core.steadyLookahead(atMost: 42_667) == 40_000, "30,000 probes at 10 s")
        #expect(Scheduler.Core.steadyLookahead(atMost: 21_333) == 20_000, "60,000 probes at 10 s")
        #expect(Scheduler.Core.steadyLookahead(atMost: 1_500) == 1_500)
        for lookahead in Scheduler.Core.steadyLookaheads {
            #expect(100_000 % (lookahead / 2) == 0)
        }
    }
}
