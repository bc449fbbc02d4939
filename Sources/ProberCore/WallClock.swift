#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where "now" comes from: microseconds since the Unix epoch, the unit of every time in prober.
///
/// Injected wherever a component reads the time, so that one implementation decides what "now" is.
/// The scheduler's `SchedulerClock` refines it with Dispatch deadlines.
public protocol WallClock: Sendable {
    func now() -> Int64
}

/// The system's real-time clock (`CLOCK_REALTIME`): it steps when NTP or an operator sets the time.
public struct SystemWallClock: WallClock {
    public init() {}

    public func now() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1_000
    }
}
