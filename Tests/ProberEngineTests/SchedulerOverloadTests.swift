import Foundation
import Logging
import ProberCore
import ProberDelivery
@testable import ProberEngine
import ProberStore
import ProberTestSupport
import Testing

/// Past capacity: ticks that waited past their bound are skipped as `.overload`, counted and logged once; checks
/// prober's own delay distorted reach the evaluator marked and open no incident.
@Suite("Scheduler: overload shedding")
struct SchedulerOverloadTests {
    /// Completes each check `after` later on a queue of its own, reporting `total` as its duration (a lagging engine
    /// reports a check that took far less than the time it was held).
    final class SlowRunner: CheckRunner, Sendable {
        let after: Duration
        let total: Int64
        let failure: Failure?
        let started = Locked(0)
        private let queue = DispatchQueue(label: "slow-runner", attributes: .concurrent)

        init(after: Duration, total: Int64 = 100, failure: Failure? = nil) {
            self.after = after
            self.total = total
            self.failure = failure
        }

        func run(_ spec: ProbeSpec, completion: @escaping @Sendable (Sample) -> Void) {
            started.withLock { $0 += 1 }
            let sample = Sample(probe: spec.name, startedAt: Int64(Date().timeIntervalSince1970 * 1_000_000), failure: failure,
                                phases: Phases(total: total))
            queue.asyncAfter(deadline: .now() + .microseconds(Int(after.microseconds))) { completion(sample) }
        }
    }

    @Test("more probes than slots: late ticks are skipped as overload, none starts past its bound, the FIFO stays bounded")
    func lateTicksAreShed() {
        let runner = SlowRunner(after: .milliseconds(40))
        let skips = Locked<[Scheduler.SkipReason: Int]>([:])
        let overloadCalls = Locked<[Int]>([])
        let scheduler = Scheduler(runner: runner, configuration: .init(maxInFlight: 2),
                                  onSkip: { _, reason, n in skips.withLock { $0[reason, default: 0] += n } },
                                  onOverload: { n in overloadCalls.withLock { $0.append(n) } })
        // 30 probes every 100 ms want 300 checks a second; two slots of 40 ms give at most 50.
        let probes = (0..<30).map { httpProbe("busy-\($0)") }
        scheduler.start(probes: probes)
        var peakQueued = 0
        #expect(waitUntil(timeout: .seconds(20)) {
            peakQueued = max(peakQueued, scheduler.stats.queued)
            return scheduler.stats.overload >= 100 && scheduler.stats.finished >= 20
        }, "overload \(scheduler.stats.overload), finished \(scheduler.stats.finished)")
        scheduler.stop(drain: true)
        let stats = scheduler.stats
        // Told once per turn of the queue with the turn's count, never once per probe; each probe's count exact.
        #expect(skips.current[.overload] == nil)
        #expect(overloadCalls.current.reduce(0, +) == stats.overload)
        #expect(overloadCalls.current.allSatisfy { $0 > 0 })
        #expect(stats.probes.values.reduce(0) { $0 + $1.overload } == stats.overload)
        #expect(stats.queued == 0, "\(stats.queued) still counted as waiting after stop")
        #expect(stats.skipped >= stats.overload)
        // A tick starts at most half an interval late (50 ms; the queue's own turn may add a little): queued ticks used
        // to start an interval and more behind.
        #expect(stats.lateness.max < 100_000, "latest start \(stats.lateness.max) µs")
        // Only ticks that joined within a bound (50 ms) wait: about one per probe, never a backlog.
        #expect(peakQueued <= 2 * probes.count, "\(peakQueued) waiting at the peak")
    }

    @Test("a check held far longer than it measured is marked delayedByProber, and so is one running meanwhile")
    func distortedChecksAreMarked() {
        let sink = CollectingSink()
        let runner = SlowRunner(after: .milliseconds(150), total: 1_000)
        let scheduler = Scheduler(runner: runner, configuration: .init(distortedAfter: .milliseconds(50)),
                                  onSample: { _, sample in sink.record(sample) })
        scheduler.start(probes: [httpProbe("lagging", interval: .milliseconds(400), timeout: .milliseconds(300))])
        #expect(waitUntil(timeout: .seconds(20)) { sink.count >= 2 })
        scheduler.stop(drain: true)
        #expect(sink.samples.current.allSatisfy { $0.delayedByProber })
        #expect(scheduler.stats.distorted >= 2)

        // A check answered at once, on a scheduler that saw no lag, is not.
        let quick = CollectingSink()
        let fast = Scheduler(runner: SlowRunner(after: .zero), configuration: .init(distortedAfter: .milliseconds(50)),
                             onSample: { _, sample in quick.record(sample) })
        fast.start(probes: [httpProbe("prompt", interval: .milliseconds(100))])
        #expect(waitUntil(timeout: .seconds(20)) { quick.count >= 3 })
        fast.stop(drain: true)
        #expect(quick.samples.current.contains { !$0.delayedByProber })
    }

    @Test("timeouts reported by a lagging engine open no incident; the same timeouts, prompt, do")
    func distortedTimeoutsOpenNoIncident() throws {
        func incidents(lagging: Bool) throws -> Int {
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            let store = try Store(path: dir.url.appendingPathComponent("prober.db").path)
            var spec = httpProbe("api", interval: .milliseconds(200), timeout: .milliseconds(150))
            spec.incident.window = 3
            spec.incident.minor = Threshold(latency: nil, failures: 1)
            spec.incident.holdFor = .zero
            let tracker = IncidentTracker(store: store, logger: Logger(label: "test"))
            tracker.update(probes: [spec], sinks: [])
            let writer = SampleWriter(store: store)
            let pipeline = Pipeline(writer: writer, tracker: tracker)
            // A timeout after 150 ms, measured as such; held 400 ms by a lagging engine, or answered at once.
            let runner = SlowRunner(after: .milliseconds(lagging ? 400 : 0), total: 150_000, failure: Failure(.timeout, "timed out"))
            let loop = ProbeRunLoop(probes: [spec], runner: runner, sink: pipeline, logger: Logger(label: "test"),
                                    configuration: .init(scheduler: .init(distortedAfter: .milliseconds(100))))
            loop.start()
            #expect(waitUntil(timeout: .seconds(20)) { loop.stats.finished >= 4 })
            loop.shutdown()
            tracker.sync()
            return try store.incidents(since: nil).count
        }
        #expect(try incidents(lagging: true) == 0)
        #expect(try incidents(lagging: false) == 1)
    }

    @Test("overload skips are logged in one summary line, not one per probe")
    func oneSummaryLine() {
        let (logger, entries) = CapturingLogHandler.logger()
        let loop = ProbeRunLoop(probes: (0..<20).map { httpProbe("busy-\($0)") }, runner: SlowRunner(after: .milliseconds(40)),
                                sink: CollectingSink(), logger: logger, configuration: .init(scheduler: .init(maxInFlight: 1)))
        loop.start()
        #expect(waitUntil(timeout: .seconds(20)) { loop.stats.overload >= 50 })
        loop.shutdown()
        let lines = entries.current.filter { $0.metadata["skip.reason"] == "overload" }
        #expect(lines.count == 1, "\(lines.map(\.message))")
        #expect(lines.first?.message.hasPrefix("overloaded: skipped") == true, "\(lines.map(\.message))")
    }
}
