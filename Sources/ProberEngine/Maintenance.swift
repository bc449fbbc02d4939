import Dispatch
import Foundation
import Logging
import ProberCore
import ProberStore

/// Rollups and retention, a little every minute (the store runs them in small transactions on its queue).
/// `@unchecked Sendable`: `policy` and `timer` are touched only on `queue`.
public final class Maintenance: @unchecked Sendable {
    private let store: Store
    private let logger: Logger
    private let queue = DispatchQueue(label: "prober.maintenance", qos: .utility)
    /// Touched only on `queue`.
    private var policy: StoragePolicy
    private var timer: DispatchSourceTimer?

    public init(store: Store, policy: StoragePolicy, logger: Logger) {
        self.store = store
        self.policy = policy
        self.logger = logger
    }

    public func start() {
        queue.async {
            let timer = DispatchSource.makeTimerSource(queue: self.queue)
            timer.schedule(deadline: .now() + .seconds(10), repeating: .seconds(60), leeway: .seconds(5))
            timer.setEventHandler { [weak self] in self?.tick() }
            timer.resume()
            self.timer = timer
        }
    }

    public func update(policy: StoragePolicy) { queue.async { self.policy = policy } }

    public func stop() { queue.sync { timer?.cancel(); timer = nil } }

    private func tick() {
        do {
            _ = try store.maintain(now: Int64(Date().timeIntervalSince1970 * 1_000_000), policy: policy, budget: .seconds(2))
        } catch {
            logger.warning("storage maintenance failed; it will run again in a minute", metadata: ["error": "\(error)"])
        }
    }
}
