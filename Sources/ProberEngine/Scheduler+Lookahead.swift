import Foundation
import ProberCore
import ProberProbes

/// With a runner that starts checks at their due time itself (`SchedulingCheckRunner`: the libcurl engine), the
/// scheduler does not wake for each tick. Every `lookahead / 2` it hands the runner, in one batch, every tick due
/// within the next `lookahead`, each with its due time; the engine thread keeps them in its own heap and starts each
/// on time. One scheduler wake-up and one engine wake-up per window instead of one of each per tick. The window
/// grows when few ticks are due (`Core.adaptLookahead`), so that it hands over several at a time at any rate.
///
/// Every rule of the scheduler holds:
/// - A tick is handed over only when its probe is idle (no overlap with itself) and a slot is free: a handed-over
///   tick holds its slot (`inFlight`, `maxInFlight`) from the hand-over to the runner's answer. Any other tick stays
///   with the scheduler and fires at its due time as before (`atDue`), where it starts, waits, or is skipped.
/// - While no slot is free (past capacity, always), ticks stay in `deadlines` and fire from there, those due together
///   in one wake-up every half a lookahead: such a tick waits for a slot anyway, and the scheduler woke once per tick
///   (thousands of times a second past capacity) and moved each through `atDue` (two heap operations more).
/// - Lateness is measured by the runner as the check starts (`ScheduledCheck.Outcome.ran`), so it includes the
///   engine's own delay; `Sample.monotonicAt` is the actual start on the scheduler's clock.
/// - A removed or changed probe's handed-over tick is cancelled (`retire`), so is every one at `stop`; the runner
///   answers `.cancelled` for those it had not started, and their slots free then (stop's drain waits for that).
/// - A check that never answers is abandoned as any other (its start taken as its due time).
extension Scheduler.Core {
    /// Hands over the ticks due within the lookahead, fires those already due, and sets the timer.
    func handOverAhead(now: Int64) {
        // Ticks that could not be handed over, at their due time, as without a lookahead.
        while let entry = atDue.first, entry.due <= now {
            atDue.removeFirst()
            if !entry.removed { fire(entry) }
        }
        var batch: [ScheduledCheck] = []
        let horizon = now + lookahead
        while let entry = deadlines.first, entry.due <= horizon {
            // Not yet due and no slot to reserve: neither it nor any later tick can be handed over now.
            if entry.due > now, !slotFree { break }
            deadlines.removeFirst()
            if entry.removed { continue }
            if entry.due <= now {
                fire(entry) // the queue was late, or no slot was free to hand it over: as without a lookahead
            } else if let check = scheduledCheck(entry, now: now) {
                batch.append(check)
            } else {
                atDue.push(entry)
            }
        }
        lastHandOver = now
        if let scheduling, !batch.isEmpty { scheduling.schedule(batch, batches: completions) }
        setWake()
    }

    /// When to wake next: for the earliest entry not yet handed over, the first point of the hand-over grid at most
    /// `lookahead` before its due time (its due time while no slot is free), but not before the grid point after
    /// the last wake-up; for a tick kept back (`atDue`), its due time.
    ///
    /// The grid is every half a lookahead on the epoch timeline, so a tick is handed over between half a lookahead
    /// and a lookahead ahead, many at once, and at the same point of the grid every interval (an interval of whole
    /// tenths of a second is a whole number of half lookaheads: `steadyLookaheads`). The engine starts a check as it
    /// gets it when the check's `earlyStart` reaches that far (intervals of 10 s and more), so each probe's checks
    /// start at the same distance before their grid time, check after check. Timed from the last wake-up instead,
    /// the hand-overs drifted by every timer's lateness (~20 ms an interval at 10,000 probes), and so did each
    /// probe's starts, which the archive pays for (docs/storage.md, "Bytes per raw sample").
    func nextWake() -> Int64? {
        let notBefore = gridPoint(after: lastHandOver)
        let ahead = deadlines.first.map { max(slotFree ? gridPoint(after: $0.due - lookahead - 1) : $0.due, notBefore) }
        switch (ahead, atDue.first?.due) {
        case let (a?, b?): return min(a, b)
        case let (a, b): return a ?? b
        }
    }

    /// The first point of the hand-over grid (every half a lookahead from the epoch) after `time`.
    func gridPoint(after time: Int64) -> Int64 {
        guard time > .min else { return .min }
        let step = max(1, lookahead / 2)
        return (Schedule.floorDiv(time, step) + 1) * step
    }

    /// Whether a tick can be handed over now: a slot is free and no tick waits for one.
    var slotFree: Bool { inFlight < configuration.maxInFlight && waitingHead == waiting.count }

    /// Reserves a slot for `entry`'s next tick and describes it for the runner; nil when the probe is busy or no
    /// slot is free (the tick then fires at its due time). Puts the entry back in `deadlines` for the tick after.
    private func scheduledCheck(_ entry: Scheduler.Entry, now: Int64) -> ScheduledCheck? {
        guard entry.ticket == nil, slotFree else { return nil }
        let ticket = Scheduler.Ticket(due: entry.due)
        entry.due += entry.interval
        deadlines.push(entry)
        nextCheckID += 1
        ticket.scheduledID = nextCheckID
        ticket.started = true
        ticket.startedAt = ticket.due // until the runner says when it started
        ticket.wallStartedAt = wall.now() + (ticket.due - now)
        entry.ticket = ticket
        occupySlot(entry, ticket) { $0.probes.change(entry.spec.name, at: &entry.statsPosition) { $0.started += 1 } }
        return ScheduledCheck(id: nextCheckID, spec: entry.spec, due: clock.dispatchTime(at: ticket.due)) { [self] outcome in
            answered(entry, ticket, outcome) // on the queue: through `completions`
        }
    }

    /// The runner's answer for a tick handed over ahead.
    private func answered(_ entry: Scheduler.Entry, _ ticket: Scheduler.Ticket, _ outcome: ScheduledCheck.Outcome) {
        guard !ticket.done else { return } // abandoned meanwhile: the late answer is ignored
        ticket.scheduledID = nil
        switch outcome {
        case .ran(let sample, let lateness):
            ticket.startedAt = ticket.due + lateness
            stats.withLock {
                $0.lateness.record(lateness)
                guard !entry.removed else { return }
                $0.probes.change(entry.spec.name, at: &entry.statsPosition) {
                    $0.lastDue = ticket.due
                    $0.lateness.record(lateness)
                }
            }
            complete(entry, ticket, sample)
        case .cancelled:
            ticket.done = true
            inFlight -= 1
            inFlightChecks[ObjectIdentifier(ticket)] = nil
            if entry.ticket === ticket { entry.ticket = nil }
            let inFlightNow = inFlight
            stats.withLock {
                $0.started -= 1
                $0.inFlight = inFlightNow
                if !entry.removed { $0.probes.change(entry.spec.name, at: &entry.statsPosition) { $0.started -= 1 } }
            }
            group.leave()
            startWaiting()
        }
    }
}
