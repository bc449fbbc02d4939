import ArgumentParser
import Foundation
import ProberCore
import ProberStorage

/// `prober history NAME`: uptime, failures and latency percentiles of one probe over a range.
struct HistoryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "Show the uptime and latency history of one probe.",
        discussion: """
            Reads raw samples for ranges up to 3 days and rollups beyond (percentiles from rollups are \
            within 4.4 %). Times are UTC. --since and --until take a duration before now (24h, 30d) or an \
            ISO 8601 time (2026-11-27T06:00:00Z, 2026-11-27).
            """
    )

    @Argument(help: "The probe's name.")
    var name: String

    @Option(help: ArgumentHelp("Start of the range: a duration before now or an ISO 8601 time.", valueName: "time"))
    var since: String = "24h"

    @Option(help: ArgumentHelp("End of the range (default now).", valueName: "time"))
    var until: String?

    @Option(help: ArgumentHelp("Bucket width, e.g. 5m, 1h (default: chosen from the range).", valueName: "duration"))
    var every: String?

    @Option(help: ArgumentHelp("Latency of which phase: dns, connect, tls, processing, transfer or total.", valueName: "phase"))
    var phase: String = "total"

    @Flag(help: "Print the buckets as CSV.")
    var csv = false

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        if output.json && csv { throw ValidationError("--json and --csv cannot be combined") }
        if Phases.Name(rawValue: phase) == nil {
            throw ValidationError("unknown phase '\(phase)': use one of \(Phases.Name.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let now = StoreCommandSupport.nowMicroseconds
        guard let start = StoreCommandSupport.parseTime(since, now: now) else {
            throw ValidationError("--since '\(since)' is neither a duration (24h, 90m, 500ms) nor an ISO 8601 time")
        }
        var end = now
        if let until {
            guard let time = StoreCommandSupport.parseTime(until, now: now) else {
                throw ValidationError("--until '\(until)' is neither a duration nor an ISO 8601 time")
            }
            end = time
        }
        if end <= start { throw ValidationError("the range is empty: --since must be before --until (default now)") }
        if let every {
            guard let d = Duration(parsing: every), d.microseconds >= 1_000_000 else {
                throw ValidationError("--every '\(every)' must be a duration of at least 1s (5m, 1h)")
            }
        }
    }

    func run() throws {
        let now = StoreCommandSupport.nowMicroseconds
        let start = StoreCommandSupport.parseTime(since, now: now)!
        let end = until.flatMap { StoreCommandSupport.parseTime($0, now: now) } ?? now
        let store = StoreCommandSupport.openStorage(database.db)
        let history: ProberStorage.History?
        do {
            history = try store.history(probe: name, since: start, until: end,
                                        every: every.flatMap { Duration(parsing: $0)?.microseconds },
                                        phase: Phases.Name(rawValue: phase)!)
        } catch {
            StoreCommandSupport.fail("\(error)")
        }
        guard let history else {
            let names = (try? store.probeNames()) ?? []
            let close = StoreCommandSupport.suggestions(for: name, in: names)
            var message = "no probe named '\(name)' in \(database.displayDB)"
            if !close.isEmpty {
                message += "; did you mean \(close.map { "'\($0)'" }.joined(separator: ", "))?"
            } else if !names.isEmpty {
                message += "; known probes: \(names.prefix(10).joined(separator: ", "))\(names.count > 10 ? ", …" : "")"
            }
            StoreCommandSupport.fail(message)
        }
        let info = try? store.probeInfo(name)
        if output.json {
            print(Self.jsonObject(history, info: info).pretty)
        } else if csv {
            print(Self.csvText(history), terminator: "")
        } else {
            print(Self.text(history, info: info))
        }
    }

    // MARK: Output

    static func text(_ h: ProberStorage.History, info: ProbeInfo?) -> String {
        typealias S = StoreCommandSupport
        var lines: [String] = []
        var title = h.probe
        if let info, !info.target.isEmpty { title += " (\(info.kind) \(info.target))" }
        lines.append(title)
        let sources = h.sources.isEmpty ? "no data" : h.sources.map { $0 == .raw ? "raw samples" : "\($0.rawValue) rollups" }.joined(separator: " + ")
        lines.append("range     \(S.minuteUTC(h.since)) → \(S.minuteUTC(h.until)) UTC (\(Human.span(seconds: (h.until - h.since) / 1_000_000))), "
            + "buckets of \(Human.duration(.microseconds(h.every))), from \(sources)")
        let s = h.summary
        lines.append("checks    \(s.checks)   failed \(s.failures)   uptime \(S.percent(s.uptime))")
        if !s.failuresByReason.isEmpty {
            lines.append("failures  " + s.failuresByReason.map { "\($0.reason.rawValue) \($0.count)" }.joined(separator: ", "))
        }
        let l = s.latency
        let approx = s.exact ? "" : "  (±4.4 %, from rollups)"
        if l.p50 != nil || l.mean != nil {
            if l.p50 != nil {
                lines.append("latency   p50 \(S.latency(l.p50))   p95 \(S.latency(l.p95))   p99 \(S.latency(l.p99))   max \(S.latency(l.max))"
                    + "   (\(h.phase.label), successful checks)\(approx)")
            } else {
                lines.append("latency   mean \(S.latency(l.mean))   (\(h.phase.label); percentiles of this phase are kept for raw samples only)")
            }
        } else {
            lines.append("latency   -   (no successful checks)")
        }
        if !s.phaseMedians.isEmpty {
            lines.append("phases    " + s.phaseMedians.map { "\($0.phase.label) \(S.latency($0.microseconds))" }.joined(separator: " · ")
                + (s.exact ? "  (medians)" : "  (means)"))
        }
        lines.append("p95       " + sparkline(h.buckets.map { $0.latency.p95 ?? $0.latency.mean }))
        lines.append("")
        // A phase other than total read from rollups has only a mean: show it in its own column.
        let showMean = h.buckets.contains { $0.latency.p50 == nil && $0.latency.mean != nil }
        let width = 7 + (showMean ? 1 : 0)
        var rows: [[String]] = []
        var index = 0
        while index < h.buckets.count {
            let b = h.buckets[index]
            // Three or more buckets in a row without a check (before the probe existed, or while prober was
            // stopped) are one line, so the table shows the data rather than a wall of dashes.
            var end = index
            while end + 1 < h.buckets.count, h.buckets[end + 1].checks == 0 { end += 1 }
            if b.checks == 0, end - index >= 2 {
                let until = end + 1 < h.buckets.count ? h.buckets[end + 1].start : h.until
                rows.append([S.minuteUTC(b.start)] + Array(repeating: "-", count: width - 1)
                            + ["no checks until \(S.minuteUTC(until))"])
                index = end + 1
                continue
            }
            rows.append([S.minuteUTC(b.start), "\(b.checks)", "\(b.failures)", S.latency(b.latency.p50), S.latency(b.latency.p95),
                         S.latency(b.latency.p99), S.latency(b.latency.max)] + (showMean ? [S.latency(b.latency.mean)] : [])
                        + [b.topReason?.rawValue ?? "-"])
            index += 1
        }
        let header = ["START (UTC)", "CHECKS", "FAILED", "P50", "P95", "P99", "MAX"] + (showMean ? ["MEAN"] : []) + ["TOP REASON"]
        lines.append(S.table(header, rows))
        return lines.joined(separator: "\n")
    }

    /// One character per value, ▁ for the smallest to █ for the largest; a space where there is none.
    static func sparkline(_ values: [Int64?]) -> String {
        let levels = Array("▁▂▃▄▅▆▇█")
        let present = values.compactMap { $0 }
        guard let lo = present.min(), let hi = present.max() else { return String(repeating: " ", count: values.count) }
        return String(values.map { v in
            guard let v else { return " " }
            if hi == lo { return levels[0] }
            return levels[Int((Double(v - lo) / Double(hi - lo) * Double(levels.count - 1)).rounded())]
        })
    }

    static func csvText(_ h: ProberStorage.History) -> String {
        var out = "start,checks,failed,p50_us,p95_us,p99_us,max_us,mean_us,top_reason\n"
        func v(_ x: Int64?) -> String { x.map(String.init) ?? "" }
        for b in h.buckets {
            out += [UTCTime.iso8601(b.start), "\(b.checks)", "\(b.failures)", v(b.latency.p50), v(b.latency.p95),
                    v(b.latency.p99), v(b.latency.max), v(b.latency.mean), b.topReason?.rawValue ?? ""].joined(separator: ",") + "\n"
        }
        return out
    }

    static func jsonObject(_ h: ProberStorage.History, info: ProbeInfo?) -> JSONValue {
        func latency(_ l: LatencyFigures) -> JSONValue {
            .object(["p50_us": JSONValue(l.p50), "p95_us": JSONValue(l.p95), "p99_us": JSONValue(l.p99),
                     "max_us": JSONValue(l.max), "mean_us": JSONValue(l.mean)])
        }
        let s = h.summary
        return .object([
            "probe": .string(h.probe),
            "kind": .string(info?.kind ?? ""),
            "target": .string(info?.target ?? ""),
            "since": .time(h.since),
            "until": .time(h.until),
            "every_seconds": .int(h.every / 1_000_000),
            "phase": .string(h.phase.rawValue),
            "sources": .array(h.sources.map { .string($0.rawValue) }),
            "summary": .object([
                "checks": JSONValue(s.checks),
                "failures": JSONValue(s.failures),
                "failures_by_reason": .object(Dictionary(uniqueKeysWithValues: s.failuresByReason.map { ($0.reason.rawValue, JSONValue($0.count)) })),
                "uptime_percent": JSONValue(s.uptime),
                "latency": latency(s.latency),
                "phase_medians_us": .object(Dictionary(uniqueKeysWithValues: s.phaseMedians.map { ($0.phase.rawValue, JSONValue($0.microseconds)) })),
                "exact": .bool(s.exact),
            ]),
            "buckets": .array(h.buckets.map { b in
                .object(["start": .time(b.start), "checks": JSONValue(b.checks), "failures": JSONValue(b.failures),
                         "latency": latency(b.latency), "top_reason": JSONValue(b.topReason?.rawValue), "exact": .bool(b.exact)])
            }),
        ])
    }
}
