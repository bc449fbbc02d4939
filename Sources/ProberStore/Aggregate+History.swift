import ProberCore
import ProberStorage

extension Aggregate {
    /// The history document of `buckets`, each `width` wide from `first`: one row a bucket and the summary of all
    /// of them. Both backends fill the buckets their own way and assemble the answer here, so they agree.
    package static func history(probe: String, since: Int64, until: Int64, first: Int64, every width: Int64,
                                phase: Phases.Name, sources: [HistoryResolution], buckets: [Aggregate]) -> History {
        var total = Aggregate()
        for b in buckets { total.merge(b) }
        let rows = buckets.enumerated().map { i, a in
            HistoryBucket(start: first + Int64(i) * width, checks: a.checks, failures: a.failures,
                          latency: a.figures(phase: phase), topReason: a.topReason, exact: a.isExact,
                          phaseMeans: PhaseCodec.parts.compactMap { name in
                              a.mean(phase: name).map { PhaseFigure(phase: name, microseconds: $0) }
                          })
        }
        let reasons = total.reasons.compactMap { code, n in FailureReason(code: code).map { FailureReasonCount(reason: $0, count: n) } }
            .sorted { $0.count != $1.count ? $0.count > $1.count : $0.reason.code < $1.reason.code }
        let medians: [PhaseFigure] = Phases.Name.allCases.compactMap { name in
            let value = total.isExact ? total.percentile(0.5, phase: name) : total.mean(phase: name)
            return value.map { PhaseFigure(phase: name, microseconds: $0) }
        }
        let summary = HistorySummary(
            checks: total.checks, failures: total.failures, failuresByReason: reasons,
            uptime: total.checks > 0 ? Double(total.checks - total.failures) * 100 / Double(total.checks) : nil,
            latency: total.figures(phase: phase), phaseMedians: medians, exact: total.isExact)
        return History(probe: probe, since: since, until: until, every: width, phase: phase, sources: sources,
                       summary: summary, buckets: rows)
    }

    /// p50, p95, p99, max and mean of `phase`.
    package func figures(phase: Phases.Name) -> LatencyFigures {
        let p = percentiles([0.5, 0.95, 0.99], phase: phase)
        return LatencyFigures(p50: p[0], p95: p[1], p99: p[2], max: maximum(phase: phase), mean: mean(phase: phase))
    }
}
