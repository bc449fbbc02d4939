import Foundation
import ProberCore

/// Past capacity, prober sheds load instead of falling ever further behind: a tick that waited longer than its
/// bound, `min(interval / 2, Configuration.overloadAfter)`, for a slot or for the scheduler's queue is skipped as
/// `.overload` (counted, and summarised in one log line a minute by the run loop), so the waiting FIFO holds at most
/// a bound's worth of ticks, and a check that does run is never more than that late.
///
/// Shedding must cost next to nothing, or an overloaded prober spends on skipping ticks the CPU its checks lack: a
/// skipped tick is noted on the queue, and the turn's skips reach the stats under one lock at the end of the turn
/// (`publishTurn`), each probe's counter found through its kept position (its name is not hashed), and the run loop
/// in one `onOverload` call. Readers of the stats see each turn whole, as before.
///
/// A check that ran but whose result prober's own delay distorted (it started late, or the engine loop lagged while
/// it ran: see `DistortionWatch`) is delivered with `Sample.delayedByProber`, and the evaluator leaves it out
/// (`Quiet.overloaded`): an overloaded prober opens no incident.
extension Scheduler.Core {
    /// How late a tick of `entry` may start: half its interval, at most `overloadAfter`.
    func overloadBound(_ entry: Scheduler.Entry) -> Int64 {
        min(entry.interval / 2, configuration.overloadAfter.microseconds)
    }

    /// Skips `ticket` as `.overload` when it is past its bound at `now`; true when skipped.
    func shedIfLate(_ entry: Scheduler.Entry, _ ticket: Scheduler.Ticket, now: Int64) -> Bool {
        guard now - ticket.due > overloadBound(entry) else { return false }
        shed(entry, ticket)
        return true
    }

    /// Skips a tick that has not started, as `.overload`. Its place in the waiting FIFO, if any, is left to
    /// `startWaiting` or `shedStaleWaiting`, which pass over a ticket that is no longer its entry's.
    func shed(_ entry: Scheduler.Entry, _ ticket: Scheduler.Ticket) {
        if entry.ticket === ticket { entry.ticket = nil }
        shedSince += 1
        if !entry.removed { shedProbes.append(entry) }
    }

    /// Publishes what the turn changed and did not count at once: the FIFO's length and the ticks skipped as
    /// `.overload` (totals and each probe's, under one lock), then tells `onOverload`. Every turn of the queue that
    /// can skip ticks or change the FIFO ends with it; it takes no lock when neither changed.
    func publishTurn() {
        dispatchPrecondition(condition: .onQueue(queue))
        let queuedNow = waiting.count - waitingHead
        guard shedSince > 0 || queuedNow != queuedPublished else { return }
        let shed = shedSince
        queuedPublished = queuedNow
        shedSince = 0
        stats.withLock { s in
            s.queued = queuedNow
            s.overload += shed
            // Retired meanwhile: their rows are gone, as for a tick skipped after its probe was removed.
            for entry in shedProbes where !entry.removed {
                s.probes.change(entry.spec.name, at: &entry.statsPosition) { $0.overload += 1 }
            }
        }
        shedProbes.removeAll(keepingCapacity: true)
        if shed > 0 { onOverload(shed) }
    }

    /// Drops the ticks at the head of the waiting FIFO that are past their bound (or no longer wanted), before each
    /// tick joins it and on each heartbeat: the FIFO then holds only ticks that joined within a bound, even while no
    /// slot frees (every check in flight hanging until its timeout).
    func shedStaleWaiting(now: Int64) {
        dispatchPrecondition(condition: .onQueue(queue))
        while waitingHead < waiting.count {
            let next = waiting[waitingHead]
            let wanted = !next.entry.removed && next.entry.ticket === next.ticket
            if wanted, now - next.ticket.due <= overloadBound(next.entry) { break }
            if wanted { shed(next.entry, next.ticket) }
            waitingHead += 1
        }
        if waitingHead == waiting.count {
            waiting.removeAll(keepingCapacity: true)
            waitingHead = 0
        }
    }
}

extension Scheduler {
    /// Tells whether prober's own delay distorted a finished check: it started more than `distortedAfter` after its
    /// due time, or more than `distortedAfter` of its time went outside the check itself (waiting in the engine's
    /// inbox, the hand-off back), or such a lag was seen while it ran. A lagging engine loop also inflates the
    /// phases it measures and times checks out that the target answered in time, so the whole stretch counts.
    ///
    /// `@unchecked Sendable`: `lagSeenAt` is touched only in `judge`, which runs on the scheduler's queue (as each
    /// finished check joins its batch, `Core.complete`); the rest is immutable or locked.
    final class DistortionWatch: @unchecked Sendable {
        private let bound: Int64
        private let clock: any SchedulerClock
        private let stats: Locked<SchedulerStats>
        /// When (scheduler clock, µs) a check last showed a lag past `bound`.
        private var lagSeenAt = Int64.min

        init(configuration: Configuration, clock: any SchedulerClock, stats: Locked<SchedulerStats>) {
            bound = configuration.distortedAfter.microseconds
            self.clock = clock
            self.stats = stats
        }

        /// The sample, marked `delayedByProber` when distorted (and counted in `SchedulerStats.distorted`).
        func judge(_ spec: ProbeSpec, _ sample: Sample) -> Sample {
            guard let started = sample.monotonicAt else { return sample }
            let now = clock.now()
            // A check starts at most half an interval late (later ones are shed), so this is its own tick's lateness.
            let interval = max(1, spec.interval.microseconds)
            let phase = Schedule.phase(name: spec.name, intervalMicros: interval)
            let late = ((started - phase) % interval + interval) % interval
            var delayed = late > bound
            if let total = sample.phases.total, now - started - total > bound {
                lagSeenAt = now
                delayed = true
            }
            if started <= lagSeenAt { delayed = true }
            guard delayed else { return sample }
            stats.withLock { $0.distorted += 1 }
            var marked = sample
            marked.delayedByProber = true
            return marked
        }
    }
}
