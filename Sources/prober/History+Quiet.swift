import ProberCore
import ProberStorage

/// How `prober history` marks the checks made in a maintenance window or a silence: a `quiet` line per silence
/// (and per window) under the summary, and `(silenced)` or `(maintenance)` after a bucket's top reason. Windows come
/// from the probe's registration (its current probe files), silences from the history.
struct QuietMarks {
    var silences: [Silence] = []
    var windows: [MaintenanceWindow] = []

    /// The lines under the summary: each silence that overlaps the range, and the probe's windows.
    func summary(since: Int64, until: Int64) -> [String] {
        var lines = silences.filter { $0.startsAt < until && $0.end > since }.reversed().map { s in
            "quiet     silenced \(UTCTime.time(s.startsAt, relativeTo: until)) → \(UTCTime.time(s.end, relativeTo: until))"
                + " (prober silence #\(s.id)\(s.reason.isEmpty ? "" : ": \(s.reason)"))"
        }
        lines += windows.map { "quiet     maintenance window \($0)" }
        return lines
    }

    /// ` (silenced)` or ` (maintenance)` for a bucket `[start, end)` that a silence overlaps or a window holds at its
    /// start or its end; empty otherwise.
    func mark(_ start: Int64, _ end: Int64) -> String {
        if silences.contains(where: { $0.startsAt < end && $0.end > start }) { return " (silenced)" }
        if windows.contains(where: { $0.contains(start) || $0.contains(end - 1) }) { return " (maintenance)" }
        return ""
    }
}
