import Logging
import ProberCore

/// The run loop's one log line about overload: prober skips ticks of many probes at once when it has more than it
/// can run, and a line per probe (as for `.overlap`) would add a flood of logging to a machine already short of CPU.
extension ProbeRunLoop {
    /// Overload skips since the last summary line, and when that line was written.
    struct OverloadWarning {
        var pending = 0
        /// Skips since start.
        var total = 0
        var last = Int64.min

        /// Counts `n` skips at `now`; returns the skips to report when a line is due (the first skip, then at most
        /// once per `every`), nil otherwise.
        mutating func add(_ n: Int, now: Int64, every: Int64) -> (skipped: Int, total: Int, over: Int64?)? {
            pending += n
            total += n
            guard last == Int64.min || now - last >= every else { return nil }
            let over = last == Int64.min ? nil : now - last
            defer {
                pending = 0
                last = now
            }
            return (pending, total, over)
        }
    }

    static func logOverload(_ due: (skipped: Int, total: Int, over: Int64?), logger: Logger) {
        let span = due.over.map { " in the last \(Human.span(seconds: $0 / 1_000_000))" } ?? ""
        logger.warning("""
            overloaded: skipped \(Human.count(due.skipped, "tick"))\(span) (\(due.total) since start): they waited too long \
            for a slot (--max-in-flight) or for the scheduler; checks prober itself delayed open no incident. \
            Run fewer probes, lengthen their intervals, or give prober more CPU
            """, metadata: ["skip.reason": "overload", "skipped": "\(due.skipped)", "skipped.total": "\(due.total)"])
    }
}
