import Dispatch
import Logging
import ProberCore
import ProberStorage

/// Hands the silences in force to the incident tracker, so a `prober silence` applies to a running daemon (every
/// prober of a fleet) within a second, without a reload.
///
/// Every `every` it reads `SilenceStorage.silencesVersion` (one indexed lookup) and reads the silences again only
/// when it changed. It runs on its own queue: a slow database delays the next poll, never the scheduler or the tracker.
///
/// `@unchecked Sendable`: `timer`, `version` and `failing` are touched only on `queue`; the rest is immutable.
public final class SilenceWatcher: @unchecked Sendable {
    private let storage: any SilenceStorage
    private let every: Duration
    private let clock: any WallClock
    private let logger: Logger
    private let deliver: @Sendable ([Silence]) -> Void
    private let queue = DispatchQueue(label: "prober.silences")
    private var timer: (any DispatchSourceTimer)?
    private var version: Int64?
    private var failing = false

    public init(storage: any SilenceStorage, every: Duration = .seconds(1), clock: any WallClock = SystemWallClock(),
                logger: Logger, deliver: @escaping @Sendable ([Silence]) -> Void) {
        self.storage = storage
        self.every = every
        self.clock = clock
        self.logger = logger
        self.deliver = deliver
    }

    /// Reads the silences once now (waiting for it, so the first checks already honour them), then polls.
    public func start() {
        queue.sync { poll() }
        queue.async { [self] in
            guard timer == nil else { return }
            let timer = DispatchSource.makeTimerSource(queue: queue)
            let interval = DispatchTimeInterval.microseconds(Int(max(every.microseconds, 10_000)))
            timer.schedule(deadline: .now() + interval, repeating: interval, leeway: .milliseconds(50))
            timer.setEventHandler { [weak self] in self?.poll() }
            self.timer = timer
            timer.resume()
        }
    }

    public func stop() {
        queue.sync {
            timer?.cancel()
            timer = nil
        }
    }

    /// One poll, on the queue. A failure is logged once until a poll succeeds again; the silences last read stay in force.
    private func poll() {
        do {
            let current = try storage.silencesVersion()
            guard current != version else { return }
            let silences = try storage.silences(now: clock.now(), endedSince: clock.now())
            version = current
            deliver(silences)
            if failing { logger.notice("reading silences works again") }
            failing = false
        } catch {
            if !failing { logger.warning("could not read silences; the last ones read stay in force", metadata: ["error": "\(error)"]) }
            failing = true
        }
    }
}
