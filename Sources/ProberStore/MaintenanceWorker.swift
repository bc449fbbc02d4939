import Dispatch
import Foundation
import ProberCore
import ProberStorage

/// Rollups and retention, a little every minute, on a utility queue of its own (the backend runs them in
/// small transactions, so ingest interleaves).
///
/// `@unchecked Sendable`: `policy` and `timer` are touched only on `queue`.
public final class MaintenanceWorker: @unchecked Sendable {
    /// When the first run starts after `start`, the time between runs, and each run's time budget.
    public struct Schedule: Sendable {
        public var firstRun: Duration = .seconds(10)
        public var interval: Duration = .seconds(60)
        public var budget: Duration = .seconds(2)
        public init(firstRun: Duration = .seconds(10), interval: Duration = .seconds(60), budget: Duration = .seconds(2)) {
            self.firstRun = firstRun
            self.interval = interval
            self.budget = budget
        }
    }

    private let storage: any StorageMaintaining
    private let schedule: Schedule
    private let now: @Sendable () -> Int64
    private let report: @Sendable (Result<MaintenanceReport, any Error>) -> Void
    private let queue = DispatchQueue(label: "prober.maintenance", qos: .utility)
    /// Touched only on `queue`.
    private var policy: StoragePolicy
    private var timer: DispatchSourceTimer?

    /// `report` receives every run's outcome on the worker's queue: log a failure there (the next run
    /// retries); `now` is microseconds since the epoch.
    public init(storage: any StorageMaintaining, policy: StoragePolicy, schedule: Schedule = Schedule(),
                now: @escaping @Sendable () -> Int64 = { SystemWallClock().now() },
                report: @escaping @Sendable (Result<MaintenanceReport, any Error>) -> Void) {
        self.storage = storage
        self.policy = policy
        self.schedule = schedule
        self.now = now
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
        report(Result { try storage.maintain(now: now(), policy: policy, budget: schedule.budget) })
    }
}
