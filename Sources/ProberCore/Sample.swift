import Foundation

/// The result of one check: when it ran, whether it passed, and where the time went.
public struct Sample: Sendable, Equatable {
    /// The probe's name.
    public var probe: String
    /// When the check started, in microseconds since the Unix epoch: a label for people and storage, read
    /// from the wall clock (which steps).
    public var startedAt: Int64
    /// When the check started on the running process's monotonic timeline (µs, anchored to the epoch when
    /// the process started: `MonotonicEpochClock`), set by the scheduler; nil for a sample read back from
    /// storage. The evaluator measures durations on it, so a wall-clock step moves no incident.
    public var monotonicAt: Int64?
    /// Set by the scheduler when prober's own delay distorted the check (it started late, or prober's engine lagged
    /// while it ran): the evaluator leaves it out (`Quiet.overloaded`). Never stored.
    public var delayedByProber = false
    /// Nil when the check passed.
    public var failure: Failure?
    /// Per-phase timings, microseconds. A phase that did not happen is nil, never 0.
    public var phases: Phases
    /// HTTP status of the last response, when one arrived.
    public var status: Int?
    /// Response body bytes received (counted even past the match limit).
    public var bytes: Int64?
    /// `1.1`, `2`, `3` for HTTP.
    public var httpVersion: String?
    /// The remote address actually used.
    public var remoteAddress: String?
    public var ipFamily: IPFamily?
    /// https: leaf certificate expiry, seconds since the epoch.
    public var certificateExpiry: Int64?
    /// https: earliest expiry in the verified chain, seconds since the epoch.
    public var chainEarliestExpiry: Int64?

    public init(probe: String, startedAt: Int64, failure: Failure? = nil, phases: Phases = Phases(),
                status: Int? = nil, bytes: Int64? = nil, httpVersion: String? = nil, remoteAddress: String? = nil,
                ipFamily: IPFamily? = nil, certificateExpiry: Int64? = nil, chainEarliestExpiry: Int64? = nil,
                monotonicAt: Int64? = nil) {
        self.probe = probe
        self.startedAt = startedAt
        self.monotonicAt = monotonicAt
        self.failure = failure
        self.phases = phases
        self.status = status
        self.bytes = bytes
        self.httpVersion = httpVersion
        self.remoteAddress = remoteAddress
        self.ipFamily = ipFamily
        self.certificateExpiry = certificateExpiry
        self.chainEarliestExpiry = chainEarliestExpiry
    }

    public var ok: Bool { failure == nil }

    /// The time durations are measured on: `monotonicAt` when the scheduler set it, else `startedAt`.
    public var elapsedTime: Int64 { monotonicAt ?? startedAt }
}

/// Why a check failed, with a short message for people ("expected 200, got 503").
public struct Failure: Sendable, Equatable {
    public var reason: FailureReason
    public var message: String
    public init(_ reason: FailureReason, _ message: String) {
        self.reason = reason
        self.message = message
    }
}

/// The fixed set of failure reasons. `code` is stored in the database: never renumber.
public enum FailureReason: String, Sendable, CaseIterable, Codable {
    case dns
    case connectRefused = "connect_refused"
    case connectTimeout = "connect_timeout"
    case timeout
    case tls
    case httpStatus = "http_status"
    case bodyMismatch = "body_mismatch"
    case headerMismatch = "header_mismatch"
    case certificateExpiring = "certificate_expiring"
    case send
    case receive
    case tooManyRedirects = "too_many_redirects"
    case mismatch
    case connect
    case other

    public var code: Int {
        switch self {
        case .dns: 1
        case .connectRefused: 2
        case .connectTimeout: 3
        case .timeout: 4
        case .tls: 5
        case .httpStatus: 6
        case .bodyMismatch: 7
        case .headerMismatch: 8
        case .certificateExpiring: 9
        case .send: 10
        case .receive: 11
        case .tooManyRedirects: 12
        case .mismatch: 13
        case .connect: 14
        case .other: 15
        }
    }

    public init?(code: Int) {
        guard let r = FailureReason.allCases.first(where: { $0.code == code }) else { return nil }
        self = r
    }
}

/// Where one check's time went, each phase on its own (not cumulative), in microseconds.
public struct Phases: Sendable, Equatable {
    /// Name resolution.
    public var dns: Int64?
    /// TCP connect.
    public var connect: Int64?
    /// TLS handshake (nil on plain http and tcp).
    public var tls: Int64?
    /// Server processing: from the request sent to the first response byte.
    public var processing: Int64?
    /// Reading the response.
    public var transfer: Int64?
    /// The whole check.
    public var total: Int64?

    public init(dns: Int64? = nil, connect: Int64? = nil, tls: Int64? = nil, processing: Int64? = nil,
                transfer: Int64? = nil, total: Int64? = nil) {
        self.dns = dns
        self.connect = connect
        self.tls = tls
        self.processing = processing
        self.transfer = transfer
        self.total = total
    }

    public enum Name: String, Sendable, CaseIterable {
        case dns, connect, tls, processing, transfer, total

        /// How descriptions name the phase.
        public var label: String {
            switch self {
            case .dns: "DNS"
            case .connect: "connect"
            case .tls: "TLS"
            case .processing: "server processing"
            case .transfer: "transfer"
            case .total: "total"
            }
        }
    }

    public subscript(_ name: Name) -> Int64? {
        get {
            switch name {
            case .dns: dns
            case .connect: connect
            case .tls: tls
            case .processing: processing
            case .transfer: transfer
            case .total: total
            }
        }
        set {
            switch name {
            case .dns: dns = newValue
            case .connect: connect = newValue
            case .tls: tls = newValue
            case .processing: processing = newValue
            case .transfer: transfer = newValue
            case .total: total = newValue
            }
        }
    }
}
