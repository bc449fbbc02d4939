import Dispatch
import Foundation
import Logging
import ProberCore
import ProberStorage

/// Writes this prober's row in the history's directory (`ProberDirectory`, read by `prober fleet`): at start,
/// every `every`, and at a clean stop marked stopped.
///
/// Beats run on the heartbeat's own queue: a slow or unreachable database delays the next beat, never the
/// scheduler or the run loop (what it reads of them, `Reading`, is a copy taken under their locks).
///
/// `@unchecked Sendable`: `timer`, `previous`, `previousOverload`, `failing`, `stopped`, `writtenOpenLoss` and `writtenClosedLoss` are
/// touched only on `queue`; the rest is immutable.
public final class Heartbeat: @unchecked Sendable {
    /// What a beat reports of the running prober.
    public struct Reading: Sendable {
        public var probes: Int
        /// Every tick's lateness since start (the beat reports the p99 of those since the previous beat).
        public var lateness: LatenessHistogram
        public var ingest: IngestStatistics
        /// The connectivity canaries' state, when it is watched.
        public var connectivity: ConnectivityMonitor.Reading?
        /// Ticks skipped for overload, and checks its own delay distorted, since start (`SchedulerStats`).
        public var overloadSkipped: Int
        public var delayedChecks: Int

        public init(probes: Int, lateness: LatenessHistogram, ingest: IngestStatistics, connectivity: ConnectivityMonitor.Reading? = nil,
                    overloadSkipped: Int = 0, delayedChecks: Int = 0) {
            self.overloadSkipped = overloadSkipped
            self.delayedChecks = delayedChecks
            self.probes = probes
            self.lateness = lateness
            self.ingest = ingest
            self.connectivity = connectivity
        }
    }

    public let every: Duration
    private let directory: any ProberDirectory
    private let location: String
    /// Read once: `ProcessInfo.hostName` may resolve the name, not a thing to repeat every beat.
    private let host = ProcessInfo.processInfo.hostName
    private let startedAt: Int64
    private let clock: any WallClock
    private let logger: Logger
    private let read: @Sendable () -> Reading
    private let queue = DispatchQueue(label: "prober.heartbeat")
    private var timer: (any DispatchSourceTimer)?
    private var previous = LatenessHistogram()
    /// The overload skips the previous beat reported.
    private var previousOverload = 0
    private var failing = false
    private var stopped = false
    /// The `since` of the connectivity-loss spans written: the open one, and the latest closed one.
    private var writtenOpenLoss: Int64?
    private var writtenClosedLoss: Int64?

    public init(directory: any ProberDirectory, location: String, every: Duration = .microseconds(ProberHeartbeat.defaultEvery),
                clock: any WallClock = SystemWallClock(), logger: Logger, read: @escaping @Sendable () -> Reading) {
        self.directory = directory
        self.location = location
        self.every = every
        self.clock = clock
        self.logger = logger
        self.read = read
        startedAt = clock.now()
    }

    /// Beats now (on the heartbeat's queue, without waiting for it), then every `every`.
    public func start() {
        queue.async { [self] in
            guard !stopped, timer == nil else { return }
            let timer = DispatchSource.makeTimerSource(queue: queue)
            let interval = DispatchTimeInterval.microseconds(Int(max(every.microseconds, 1_000)))
            timer.schedule(deadline: .now(), repeating: interval, leeway: .milliseconds(100))
            timer.setEventHandler { [weak self] in self?.beat(stopped: false) }
            self.timer = timer
            timer.resume()
        }
    }

    /// Beats once more now, between the regular beats (connectivity was lost or restored: `prober status` should
    /// say so at once). Nothing before `start()` or after `stop()`.
    public func beatNow() {
        queue.async { [self] in
            guard !stopped, timer != nil else { return }
            beat(stopped: false)
        }
    }

    /// Stops beating and writes the last beat, marked stopped; waits for it. Idempotent.
    public func stop() {
        queue.sync {
            guard !stopped else { return }
            stopped = true
            timer?.cancel()
            timer = nil
            beat(stopped: true)
        }
    }

    /// Writes the connectivity-loss spans not written yet (`prober history` marks the checks in them): the one
    /// that began, the one that ended; at a clean stop an open one ends now, as nothing judges after it.
    private func recordLoss(_ c: ConnectivityMonitor.Reading, stopped: Bool) throws {
        if let last = c.lastLoss, writtenClosedLoss != last.since {
            try directory.recordConnectivityLoss(ConnectivityLossSpan(location: location, since: last.since, until: last.until))
            writtenClosedLoss = last.since
            if writtenOpenLoss == last.since { writtenOpenLoss = nil }
        }
        if c.lost, let since = c.since, writtenOpenLoss != since || stopped {
            try directory.recordConnectivityLoss(ConnectivityLossSpan(location: location, since: since, until: stopped ? clock.now() : nil))
            writtenOpenLoss = since
        }
    }

    /// One beat, on the queue. A failure is logged once until a beat succeeds again.
    private func beat(stopped: Bool) {
        dispatchPrecondition(condition: .onQueue(queue))
        let reading = read()
        let interval = reading.lateness.since(previous)
        previous = reading.lateness
        let beat = ProberHeartbeat(
            location: location, host: host, pid: Int(getpid()), version: proberVersion,
            startedAt: startedAt, at: clock.now(), every: every.microseconds, probes: reading.probes,
            latenessP99: interval.count > 0 ? interval.p99 : nil, pending: reading.ingest.pending,
            spooled: reading.ingest.spooled, stopped: stopped,
            connectivityLostSince: reading.connectivity?.lost == true ? reading.connectivity?.since : nil,
            connectivityFailures: reading.connectivity?.lost == true ? reading.connectivity?.failures : nil,
            overloadSkipped: reading.overloadSkipped, overloadSkippedRecent: max(0, reading.overloadSkipped - previousOverload),
            delayedChecks: reading.delayedChecks)
        previousOverload = reading.overloadSkipped
        do {
            if let connectivity = reading.connectivity { try recordLoss(connectivity, stopped: stopped) }
            try directory.heartbeat(beat)
            if failing { logger.info("heartbeat written again: prober fleet sees this prober") }
            failing = false
        } catch {
            if !failing {
                logger.warning("could not write this prober's heartbeat; prober fleet will show it stale until one is written",
                               metadata: ["error": "\(error)"])
            }
            failing = true
        }
    }
}
