import ProberCore

/// Where a stretch of history was read from.
public enum HistoryResolution: String, Sendable, Codable, CaseIterable {
    case raw
    case rollup5m = "5m"
    case rollup1h = "1h"

    /// Bucket width, microseconds (raw: 1 µs).
    public var width: Int64 {
        switch self {
        case .raw: 1
        case .rollup5m: 300_000_000
        case .rollup1h: 3_600_000_000
        }
    }
}

/// Latency figures of a set of checks. Latency is measured over successful checks only; failed checks
/// are counted by reason. Percentiles are nearest-rank: exact when the set was read from raw samples,
/// otherwise read from rollup histograms, within 5 % of the exact value (SQLite's histogram: 4.4 %); the
/// maximum stays exact.
public struct LatencyFigures: Sendable, Equatable {
    public var p50: Int64?
    public var p95: Int64?
    public var p99: Int64?
    public var max: Int64?
    public var mean: Int64?

    public init(p50: Int64? = nil, p95: Int64? = nil, p99: Int64? = nil, max: Int64? = nil, mean: Int64? = nil) {
        self.p50 = p50
        self.p95 = p95
        self.p99 = p99
        self.max = max
        self.mean = mean
    }
}

/// One row of the history table.
public struct HistoryBucket: Sendable, Equatable {
    /// Bucket start, microseconds since the epoch.
    public var start: Int64
    public var checks: Int
    public var failures: Int
    /// Latency of the selected phase. For a phase other than `total`, only `mean` is known where
    /// rollups were read.
    public var latency: LatencyFigures
    public var topReason: FailureReason?
    public var exact: Bool
    /// Mean of each phase but `total` over the bucket's successful checks (DNS, connect, TLS, processing,
    /// transfer, those measured): means, not medians, so that stacked they add up to the mean total.
    public var phaseMeans: [PhaseFigure]

    public init(start: Int64, checks: Int, failures: Int, latency: LatencyFigures, topReason: FailureReason?, exact: Bool,
                phaseMeans: [PhaseFigure] = []) {
        self.start = start
        self.checks = checks
        self.failures = failures
        self.latency = latency
        self.topReason = topReason
        self.exact = exact
        self.phaseMeans = phaseMeans
    }
}

/// The summary block of `prober history`.
public struct HistorySummary: Sendable, Equatable {
    public var checks: Int
    public var failures: Int
    /// Most frequent first.
    public var failuresByReason: [FailureReasonCount]
    /// Percentage of checks that passed; nil without checks.
    public var uptime: Double?
    public var latency: LatencyFigures
    /// Median of each phase (successful checks); the mean where rollups were read (`exact` false).
    public var phaseMedians: [PhaseFigure]
    public var exact: Bool

    public init(checks: Int, failures: Int, failuresByReason: [FailureReasonCount], uptime: Double?,
                latency: LatencyFigures, phaseMedians: [PhaseFigure], exact: Bool) {
        self.checks = checks
        self.failures = failures
        self.failuresByReason = failuresByReason
        self.uptime = uptime
        self.latency = latency
        self.phaseMedians = phaseMedians
        self.exact = exact
    }
}

public struct FailureReasonCount: Sendable, Equatable {
    public var reason: FailureReason
    public var count: Int

    public init(reason: FailureReason, count: Int) {
        self.reason = reason
        self.count = count
    }
}

public struct PhaseFigure: Sendable, Equatable {
    public var phase: Phases.Name
    public var microseconds: Int64

    public init(phase: Phases.Name, microseconds: Int64) {
        self.phase = phase
        self.microseconds = microseconds
    }
}

/// The answer to a history query.
public struct History: Sendable, Equatable {
    public var probe: String
    /// The range, microseconds since the epoch (`until` exclusive).
    public var since: Int64
    public var until: Int64
    /// Bucket width, microseconds.
    public var every: Int64
    public var phase: Phases.Name
    /// The resolutions that contributed, coarsest first.
    public var sources: [HistoryResolution]
    public var summary: HistorySummary
    public var buckets: [HistoryBucket]

    public init(probe: String, since: Int64, until: Int64, every: Int64, phase: Phases.Name,
                sources: [HistoryResolution], summary: HistorySummary, buckets: [HistoryBucket]) {
        self.probe = probe
        self.since = since
        self.until = until
        self.every = every
        self.phase = phase
        self.sources = sources
        self.summary = summary
        self.buckets = buckets
    }

    /// Most buckets in one history answer; a smaller `every` is widened.
    public static let maxBuckets: Int64 = 5_000

    /// Nice bucket widths for the automatic `every`, microseconds.
    static let automaticWidths: [Int64] = [60, 300, 900, 1_800, 3_600, 10_800, 21_600, 43_200, 86_400, 604_800]
        .map { $0 * 1_000_000 }

    /// The bucket width `prober history` picks for a range: the smallest nice width giving at most 48 buckets.
    public static func automaticEvery(range: Int64) -> Int64 {
        automaticWidths.first { range / $0 <= 48 } ?? automaticWidths.last!
    }
}

/// One probe's figures on the status page (`HistoryReading.overview`).
public struct ProbeOverview: Sendable, Equatable {
    /// Oldest first, one per UTC day; a day without checks has 0 checks.
    public var days: [DayCount]
    /// Oldest first, one per hour (24); nil for an hour without a successful check.
    public var hourlyP95: [Int64?]

    public init(days: [DayCount], hourlyP95: [Int64?]) {
        self.days = days
        self.hourlyP95 = hourlyP95
    }
}

/// Checks and failures of one UTC day.
public struct DayCount: Sendable, Equatable {
    /// Start of the day (00:00 UTC), microseconds since the epoch.
    public var start: Int64
    public var checks: Int
    public var failures: Int

    public init(start: Int64, checks: Int, failures: Int) {
        self.start = start
        self.checks = checks
        self.failures = failures
    }

    /// Percentage of checks that passed; nil without checks.
    public var uptime: Double? { checks > 0 ? Double(checks - failures) * 100 / Double(checks) : nil }
}
