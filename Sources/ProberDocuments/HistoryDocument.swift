import ProberCore
import ProberStorage

/// What `prober history`'s flags and `/api/v1/probes/NAME/history`'s parameters ask for, checked once for both.
public struct HistoryQuery: Sendable, Equatable {
    /// The range, microseconds since the epoch (`until` exclusive).
    public var since: Int64
    public var until: Int64
    /// Bucket width in microseconds; nil: chosen from the range.
    public var every: Int64?
    public var phase: Phases.Name
    /// Only this location's checks (`--location`, `?location=`); nil: every location's, with a summary of each.
    public var location: String?

    public init(since: Int64, until: Int64, every: Int64? = nil, phase: Phases.Name = .total, location: String? = nil) {
        self.since = since
        self.until = until
        self.every = every
        self.phase = phase
        self.location = location
    }

    /// The defaults: the last 24 h, total latency, automatic buckets.
    public static let defaultSince = "24h"
    public static let defaultPhase = "total"

    /// Why a parameter was refused: `parameter` names it (`since`, `until`, `every`, `phase`).
    public struct Problem: Error, Sendable, Equatable {
        public var parameter: String
        private var template: String

        /// The message, naming parameters with `prefix` before them (`--` on the command line, nothing in the API).
        public func message(prefix: String) -> String {
            template.replacingOccurrences(of: "\u{1}", with: prefix)
        }

        init(_ parameter: String, _ template: String) {
            self.parameter = parameter
            self.template = template
        }
    }

    /// Parses the values as `prober history` takes them (`since` and `until` a duration before `now` or an
    /// ISO 8601 time, `every` a duration of at least 1 s, `phase` a phase name, `location` a name that is not
    /// empty); the first problem found. Whether the location has checks of the probe is the read's question.
    public static func parse(since: String?, until: String?, every: String?, phase: String?, location: String? = nil,
                             now: Int64) -> Result<HistoryQuery, Problem> {
        if let location, location.isEmpty {
            return .failure(Problem("location", "\u{1}location must name a location"))
        }
        let phaseText = phase ?? defaultPhase
        guard let phase = Phases.Name(rawValue: phaseText) else {
            return .failure(Problem("phase", "unknown phase '\(phaseText)': use one of \(Phases.Name.allCases.map(\.rawValue).joined(separator: ", "))"))
        }
        let sinceText = since ?? defaultSince
        guard let start = TimeArgument.parse(sinceText, now: now) else {
            return .failure(Problem("since", "\u{1}since '\(sinceText)' is neither a duration (24h, 90m, 500ms) nor an ISO 8601 time"))
        }
        var end = now
        if let until {
            guard let time = TimeArgument.parse(until, now: now) else {
                return .failure(Problem("until", "\u{1}until '\(until)' is neither a duration nor an ISO 8601 time"))
            }
            end = time
        }
        if end <= start {
            return .failure(Problem("since", "the range is empty: \u{1}since must be before \u{1}until (default now)"))
        }
        var width: Int64?
        if let every {
            guard let d = Duration(parsing: every), d.microseconds >= 1_000_000 else {
                return .failure(Problem("every", "\u{1}every '\(every)' must be a duration of at least 1s (5m, 1h)"))
            }
            width = d.microseconds
        }
        return .success(HistoryQuery(since: start, until: end, every: width, phase: phase, location: location))
    }
}

/// `prober history NAME --json` and `/api/v1/probes/NAME/history`.
public enum HistoryDocument {
    /// What a history read found.
    public enum Outcome: Sendable {
        /// The history (of `query.location` only when one was asked), the probe's registration, and each location's
        /// share (empty on a backend without locations).
        case found(History, ProbeInfo?, locations: [LocatedHistory])
        case unknownProbe
        /// The probe is known, but `location` has no checks of it; `known` are those that do.
        case unknownLocation(String, known: [String])
    }

    /// The spans in `query`'s range during which a prober (the one of `query.location`, when given) had lost its
    /// own connectivity.
    public static func connectivityLosses(_ directory: some ProberDirectory, _ query: HistoryQuery) throws -> [ConnectivityLossSpan] {
        try directory.connectivityLosses(since: query.since, until: query.until)
            .filter { query.location == nil || $0.location == query.location }
    }

    /// The probe's history, its registration and each location's share.
    public static func read(_ storage: some HistoryReading & ProbeRegistry & LocationReading, probe: String,
                            _ query: HistoryQuery) throws -> Outcome {
        try storage.snapshot {
            guard let found = try storage.locationHistory(probe: probe, location: query.location, since: query.since,
                                                          until: query.until, every: query.every, phase: query.phase) else {
                guard let location = query.location, try storage.probeInfo(probe) != nil else {
                    return .unknownProbe
                }
                return .unknownLocation(location, known: try storage.locations(probe: probe))
            }
            return .found(found.total, try? storage.probeInfo(probe), locations: found.locations)
        }
    }

    /// `no checks of 'api' from location 'x'; known locations: a, b` (or that this history keeps no locations).
    public static func unknownLocation(_ location: String, probe: String, known: [String]) -> String {
        let message = "no checks of '\(probe)' from location '\(location)'"
        if known.isEmpty { return message + "; this history keeps no locations (SQLite: one prober)" }
        let close = Suggest.closeNames(to: location, in: known)
        return message + (close.isEmpty ? "" : "; did you mean \(close.map { "'\($0)'" }.joined(separator: ", "))?")
            + "; known locations: \(known.joined(separator: ", "))"
    }

    /// `no probe named 'x'` and, when some names are close, `; did you mean 'y'?`, else a few known names.
    /// `location` (the database) is named after the probe when given.
    public static func unknownProbe(_ name: String, known names: [String], in location: String? = nil) -> String {
        let close = Suggest.closeNames(to: name, in: names)
        var message = "no probe named '\(name)'" + (location.map { " in \($0)" } ?? "")
        if !close.isEmpty {
            message += "; did you mean \(close.map { "'\($0)'" }.joined(separator: ", "))?"
        } else if !names.isEmpty {
            message += "; known probes: \(names.prefix(10).joined(separator: ", "))\(names.count > 10 ? ", …" : "")"
        }
        return message
    }

    static func latency(_ l: LatencyFigures) -> JSONValue {
        .object(["p50_us": JSONValue(l.p50), "p95_us": JSONValue(l.p95), "p99_us": JSONValue(l.p99),
                 "max_us": JSONValue(l.max), "mean_us": JSONValue(l.mean)])
    }

    static func summary(_ s: HistorySummary) -> JSONValue {
        .object([
            "checks": JSONValue(s.checks),
            "failures": JSONValue(s.failures),
            "failures_by_reason": .object(Dictionary(uniqueKeysWithValues: s.failuresByReason.map { ($0.reason.rawValue, JSONValue($0.count)) })),
            "uptime_percent": JSONValue(s.uptime),
            "latency": latency(s.latency),
            "phase_medians_us": .object(Dictionary(uniqueKeysWithValues: s.phaseMedians.map { ($0.phase.rawValue, JSONValue($0.microseconds)) })),
            "exact": .bool(s.exact),
        ])
    }

    /// The document: `location` names the one location asked for (null: every location's checks), `locations`
    /// holds each location's summary and p95 per bucket (empty on a backend without locations).
    /// `losses`: the spans in the range during which a prober had lost its own connectivity (its checks then
    /// judged nothing; docs/incidents.md), as `connectivity_lost`.
    public static func json(_ h: History, info: ProbeInfo?, location: String? = nil, locations: [LocatedHistory] = [],
                            losses: [ConnectivityLossSpan] = []) -> JSONValue {
        .object([
            "connectivity_lost": .array(losses.map { l in
                .object(["location": .string(l.location), "since": .time(l.since), "until": l.until.map { .time($0) } ?? .null])
            }),
            "probe": .string(h.probe),
            "kind": .string(info?.kind ?? ""),
            "target": .string(info?.target ?? ""),
            "since": .time(h.since),
            "until": .time(h.until),
            "every_seconds": .int(h.every / 1_000_000),
            "phase": .string(h.phase.rawValue),
            "sources": .array(h.sources.map { .string($0.rawValue) }),
            "location": JSONValue(location),
            "summary": summary(h.summary),
            "locations": .array(locations.map { l in
                .object(["location": .string(l.location), "summary": summary(l.history.summary),
                         "bucket_p95_us": .array(l.history.buckets.map { JSONValue($0.latency.p95) })])
            }),
            "buckets": .array(h.buckets.map { b in
                .object(["start": .time(b.start), "checks": JSONValue(b.checks), "failures": JSONValue(b.failures),
                         "latency": latency(b.latency), "top_reason": JSONValue(b.topReason?.rawValue), "exact": .bool(b.exact)])
            }),
        ])
    }
}
