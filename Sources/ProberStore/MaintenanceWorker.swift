import Dispatch
import Foundation
import ProberCore
import ProberStorage

/// Rollups and retention, a little every minute, on a utility queue of its own (the backend runs them in
/// small transactions, so ingest interleaves).
///
/// Guarded against wall-clock steps: between two runs the time it passes to the backend advances by at most
/// the monotonic time elapsed (plus `Schedule.stepTolerance`), so a clock set far ahead neither prunes
/// history nor rolls up buckets early; it follows a step back at once (the backend rolls up again what was
/// written behind its watermark). The wall clock is trusted afresh when the worker starts.
///
/// `@unchecked Sendable`: `policy`, `timer` and `lastRun` are touched only on `queue`.
public final class MaintenanceWorker: @unchecked Sendable {
    /// When the first run starts after `start`, the time between runs, and each run's time budget.
    public struct Schedule: Sendable {
        public var firstRun: Duration = .seconds(10)
        public var interval: Duration = .seconds(60)
        public var budget: Duration = .seconds(2)
        /// How far the wall clock may run ahead of the monotonic clock between two runs before it counts as a
        /// step (NTP's slewing is at most 0.05 %: 30 ms a minute).
        public var stepTolerance: Duration = .seconds(60)
        public init(firstRun: Duration = .seconds(10), interval: Duration = .seconds(60), budget: Duration = .seconds(2),
                    stepTolerance: Duration = .seconds(60)) {
            self.firstRun = firstRun
            self.interval = interval
            self.budget = budget
            self.stepTolerance = stepTolerance
        }
    }

    private let storage: any StorageMaintaining
    private let schedule: Schedule
    private let now: @Sendable () -> Int64
    private let monotonic: @Sendable () -> Int64
    private let report: @Sendable (Result<MaintenanceReport, any Error>) -> Void
    private let queue = DispatchQueue(label: "prober.maintenance", qos: .utility)
    /// Touched only on `queue`.
    private var policy: StoragePolicy
    private var timer: DispatchSourceTimer?
    /// The time the last run used and the monotonic clock then (µs). Touched only on `queue`.
    private var lastRun: (time: Int64, monotonic: Int64)?

    /// `report` receives every run's outcome on the worker's queue: log a failure there (the next run
    /// retries); `now` is microseconds since the epoch, `monotonic` microseconds on a clock that never steps.
    public init(storage: any StorageMaintaining, policy: StoragePolicy, schedule: Schedule = Schedule(),
                now: @escaping @Sendable () -> Int64 = { SystemWallClock().now() },
                monotonic: @escaping @Sendable () -> Int64 = { Int64(DispatchTime.now().uptimeNanoseconds / 1_000) },
                report: @escaping @Sendable (Result<MaintenanceReport, any Error>) -> Void) {
        self.storage = storage
        self.policy = policy
        self.schedule = schedule
        self.now = now
        self.monotonic = monotonic
        self.report = report
    }

    public func start() {
        queue.async {
            guard self.timer == nil else { return }
            let timer = DispatchSource.makeTimerSource(queue: self.queue)
            timer.schedule(deadline: .now() + .microseconds(Int(self.schedule.firstRun.microseconds)),
                           repeating: .microseconds(Int(self.schedule.interval.microseconds)),
                           leeway: .microseconds(Int(min(self.schedule.interval / 10, .seconds(5)).microseconds)))
            timer.setEventHandler { [weak self] in self?.run() }
            timer.resume()
            self.timer = timer
        }
    }

    /// The retention of the next runs (after a reload of the probe files).
    public func update(policy: StoragePolicy) { queue.async { self.policy = policy } }

    /// Cancels the timer, waiting for a run in progress to end.
    public func stop() {
        queue.sync {
            timer?.cancel()
            timer = nil
        }
    }

    /// Queue only.
    private func run() {
        report(Result { try storage.maintain(now: guardedNow(), policy: policy, budget: schedule.budget) })
    }

    /// The wall clock, held back to the monotonic pace after a step forward (see the type's comment). Queue only.
    private func guardedNow() -> Int64 {
        let wall = now()
        let mono = monotonic()
        var time = wall
        if let last = lastRun {
            let expected = last.time + (mono - last.monotonic)
            if wall - expected > schedule.stepTolerance.microseconds { time = expected }
        }
        lastRun = (time, mono)
        return time
    }
}
