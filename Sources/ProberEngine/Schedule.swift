import Foundation
import ProberCore

/// The schedule's arithmetic, pure: every time is microseconds on the Unix epoch timeline.
///
/// A probe fires at `phase + k × interval` for integer k, where the phase is a stable hash of its name.
/// Deadlines are always derived from that grid, never from "now + interval", so there is no drift, and
/// the grid is anchored to the epoch, so a restart keeps each probe's phase.
public enum Schedule {
    /// 64-bit FNV-1a of the UTF-8 bytes: stable across runs and machines (unlike Swift's seeded `Hasher`).
    public static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return hash
    }

    /// Where in each interval the probe fires: `fnv1a(name) mod interval`, in microseconds.
    public static func phase(name: String, intervalMicros: Int64) -> Int64 {
        precondition(intervalMicros > 0, "interval must be positive")
        return Int64(fnv1a(name) % UInt64(intervalMicros))
    }

    /// The first deadline at or after `now` on the probe's grid.
    public static func firstDeadline(name: String, intervalMicros: Int64, now: Int64) -> Int64 {
        let phase = phase(name: name, intervalMicros: intervalMicros)
        let k = floorDiv(now - phase, intervalMicros)
        var deadline = k * intervalMicros + phase
        if deadline < now { deadline += intervalMicros }
        return deadline
    }

    /// What a timer firing at `now` for the tick due at `due` should do: run the grid point `run` (the latest
    /// one not after `now`, normally `due` itself), count `missed` grid points passed over because the queue was
    /// stalled or the machine suspended for longer than an interval, and arm the timer for `next`.
    public static func tick(due: Int64, intervalMicros: Int64, now: Int64) -> (run: Int64, missed: Int, next: Int64) {
        let missed = now > due ? (now - due) / intervalMicros : 0
        let run = due + missed * intervalMicros
        return (run, Int(missed), run + intervalMicros)
    }

    /// How late a tick started: never negative (a timer firing a hair early counts as on time).
    public static func lateness(deadline: Int64, started: Int64) -> Int64 {
        max(0, started - deadline)
    }

    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }
}

/// Time for the scheduler: a `WallClock` (µs on the epoch timeline) that also turns an instant into a Dispatch deadline.
public protocol SchedulerClock: WallClock {
    /// The Dispatch time at which `now()` will read `micros`.
    func dispatchTime(at micros: Int64) -> DispatchTime
}

extension SchedulerClock {
    public func dispatchTime(at micros: Int64) -> DispatchTime {
        let delta = micros - now()
        return delta <= 0 ? .now() : .now() + .microseconds(Int(delta))
    }
}

/// The wall clock read once, then advanced by the monotonic clock: epoch-anchored for phases, but immune
/// to wall-clock steps while running (NTP, an operator's `date -s`).
public struct MonotonicEpochClock: SchedulerClock {
    private let wallAtStart: Int64
    private let uptimeAtStart: UInt64

    /// Anchored at `wall`'s reading now.
    public init(anchoredTo wall: any WallClock = SystemWallClock()) {
        wallAtStart = wall.now()
        uptimeAtStart = DispatchTime.now().uptimeNanoseconds
    }

    public func now() -> Int64 {
        wallAtStart + Int64((DispatchTime.now().uptimeNanoseconds &- uptimeAtStart) / 1_000)
    }

    public func dispatchTime(at micros: Int64) -> DispatchTime {
        let delta = micros - wallAtStart
        if delta <= 0 { return DispatchTime(uptimeNanoseconds: uptimeAtStart) }
        return DispatchTime(uptimeNanoseconds: uptimeAtStart + UInt64(delta) * 1_000)
    }
}
