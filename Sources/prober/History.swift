import ArgumentParser
import Foundation
import ProberCore
import ProberDocuments
import ProberStorage

/// `prober history NAME`: uptime, failures and latency percentiles of one probe over a range.
struct HistoryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "Show the uptime and latency history of one probe.",
        discussion: """
            Reads raw samples for ranges up to 3 days and rollups beyond (percentiles from rollups are \
            within 4.4 %). Times are UTC. --since and --until take a duration before now (24h, 30d) or an \
            ISO 8601 time (2026-11-27T06:00:00Z, 2026-11-27). On a fleet's PostgreSQL history every location's \
            checks count, with a line per location under the summary; --location restricts it to one.

            EXAMPLES:
              prober history checkout-api
              prober history checkout-api --since 30d --every 1d --phase tls
              prober history checkout-api --since 2026-11-27 --until 2026-11-28 --csv
              prober history checkout-api --db postgres://prober@db/prober --location fra-1
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

    @Option(help: ArgumentHelp("Only the checks made from this location (a fleet's PostgreSQL history).", valueName: "name"))
    var location: String?

    @Flag(help: "Print the buckets as CSV.")
    var csv = false

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        if output.json && csv { throw ValidationError("--json and --csv cannot be combined") }
        if case .failure(let problem) = query(now: StoreCommandSupport.nowMicroseconds) {
            throw ValidationError(problem.message(prefix: "--"))
        }
    }

    func query(now: Int64) -> Result<HistoryQuery, HistoryQuery.Problem> {
        HistoryQuery.parse(since: since, until: until, every: every, phase: phase, location: location, now: now)
    }

    func run() throws {
        let query: HistoryQuery
        switch self.query(now: StoreCommandSupport.nowMicroseconds) {
        case .success(let q): query = q
        case .failure(let problem): StoreCommandSupport.fail(problem.message(prefix: "--"))
        }
        let store = StoreCommandSupport.openStorage(database.db)
        let outcome: HistoryDocument.Outcome
        let losses: [ConnectivityLossSpan]
        let silences: [Silence]
        do {
            // One snapshot for the history, the connectivity losses and (for the text) the silences over it.
            (outcome, losses, silences) = try store.snapshot {
                let outcome = try HistoryDocument.read(store, probe: name, query)
                var silences: [Silence] = []
                if case .found(let history, _, _) = outcome, !output.json, !csv {
                    silences = ((try? store.silences(now: history.until, endedSince: history.since)) ?? []).filter { $0.covers(name) }
                }
                return (outcome, try HistoryDocument.connectivityLosses(store, query), silences)
            }
        } catch {
            StoreCommandSupport.fail("\(error)")
        }
        switch outcome {
        case .found(let history, let info, let locations):
            if output.json {
                print(HistoryDocument.json(history, info: info, location: query.location, locations: locations, losses: losses).pretty)
            } else if csv {
                print(Self.csvText(history), terminator: "")
            } else {
                print(Self.text(history, info: info, location: query.location, locations: locations,
                                quiet: QuietMarks(silences: silences, windows: info?.maintenance ?? []), losses: losses))
            }
        case .unknownProbe:
            let names = (try? store.probeNames()) ?? []
            StoreCommandSupport.fail(HistoryDocument.unknownProbe(name, known: names, in: database.displayDB))
        case .unknownLocation(let location, let known):
            StoreCommandSupport.fail(HistoryDocument.unknownLocation(location, probe: name, known: known))
        }
    }

    // MARK: Output

    static func text(_ h: ProberStorage.History, info: ProbeInfo?, location: String? = nil, locations: [LocatedHistory] = [],
                     quiet: QuietMarks = QuietMarks(), losses: [ConnectivityLossSpan] = []) -> String {
        typealias S = StoreCommandSupport
        var lines: [String] = []
        var title = h.probe
        if let info, !info.target.isEmpty { title += " (\(info.kind) \(info.target))" }
        if let location { title += ", from location \(location) only" }
        lines.append(title)
        let sources = h.sources.isEmpty ? "no data" : h.sources.map { $0 == .raw ? "raw samples" : "\($0.rawValue) rollups" }.joined(separator: " + ")
        lines.append("range     \(UTCTime.minute(h.since)) → \(UTCTime.minute(h.until)) UTC (\(Human.span(seconds: (h.until - h.since) / 1_000_000))), "
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
        // Checks taken while the prober's own network was down judged nothing: say when that was.
        let fleet = Set(losses.map(\.location)).count > 1 || !locations.isEmpty
        for loss in losses {
            let until = loss.until.map { "until \(UTCTime.iso8601($0)) (\(Human.span(seconds: max(0, $0 - loss.since) / 1_000_000)))" } ?? "and still lost"
            lines.append("held      prober's own connectivity lost\(fleet ? " at \(loss.location)" : "") from \(UTCTime.iso8601(loss.since)) "
                + "\(until): its checks then opened, escalated and resolved nothing")
        }
        lines.append("p95       " + sparkline(h.buckets.map { $0.latency.p95 ?? $0.latency.mean }))
        lines += quiet.summary(since: h.since, until: h.until)
        if location == nil, locations.count > 1 {
            // One line per location, its p95 sparkline on the same buckets as the probe's above and on one scale
            // for all, so the slow location stands out.
            let series = locations.map { l in l.history.buckets.map { $0.latency.p95 ?? $0.latency.mean } }
            let values = series.joined().compactMap { $0 }
            let scale = values.min().map { $0...values.max()! }
            lines.append("")
            lines.append(S.table(["LOCATION", "CHECKS", "FAILED", "UPTIME", "P50", "P95", "P99", "P95 OVER TIME"], zip(locations, series).map { l, p95 in
                let s = l.history.summary
                return [l.location, "\(s.checks)", "\(s.failures)", S.percent(s.uptime), S.latency(s.latency.p50), S.latency(s.latency.p95),
                        S.latency(s.latency.p99), sparkline(p95, scale: scale)]
            }, leftColumns: 1))
        }
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
                rows.append([UTCTime.minute(b.start)] + Array(repeating: "-", count: width - 1)
                            + ["no checks until \(UTCTime.minute(until))"])
                index = end + 1
                continue
            }
            rows.append([UTCTime.minute(b.start), "\(b.checks)", "\(b.failures)", S.latency(b.latency.p50), S.latency(b.latency.p95),
                         S.latency(b.latency.p99), S.latency(b.latency.max)] + (showMean ? [S.latency(b.latency.mean)] : [])
                        + [(b.topReason?.rawValue ?? "-") + quiet.mark(b.start, b.start + h.every)
                           + (Self.overlaps(b.start, h.every, losses) ? " (held: connectivity lost)" : "")])
            index += 1
        }
        let header = ["START (UTC)", "CHECKS", "FAILED", "P50", "P95", "P99", "MAX"] + (showMean ? ["MEAN"] : []) + ["TOP REASON"]
        lines.append(S.table(header, rows))
        return lines.joined(separator: "\n")
    }

    /// Whether the bucket starting at `start` overlaps a span of lost connectivity.
    static func overlaps(_ start: Int64, _ every: Int64, _ losses: [ConnectivityLossSpan]) -> Bool {
        losses.contains { $0.since < start + every && ($0.until ?? .max) >= start }
    }

    /// One character per value, ▁ for the smallest to █ for the largest (of `scale` when given); a space where
    /// there is none.
    static func sparkline(_ values: [Int64?], scale: ClosedRange<Int64>? = nil) -> String {
        let levels = Array("▁▂▃▄▅▆▇█")
        let present = values.compactMap { $0 }
        guard let lo = scale?.lowerBound ?? present.min(), let hi = scale?.upperBound ?? present.max(), !present.isEmpty else {
            return String(repeating: " ", count: values.count)
        }
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
}
