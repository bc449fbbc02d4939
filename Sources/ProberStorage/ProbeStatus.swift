import ProberCore

/// One line of `prober status`.
public struct ProbeStatus: Sendable, Equatable {
    public var name: String
    public var kind: String
    /// Redacted display target.
    public var target: String
    /// The most recent check, if any.
    public var last: LastCheck?
    /// Checks in the hour before `now`.
    public var checks1h: Int
    public var failures1h: Int
    /// Percentage of passed checks in the last hour; nil without checks.
    public var uptime1h: Double?
    /// p95 of the total latency of successful checks in the last hour: exact from raw samples; from the rollups'
    /// histogram (within 4.4 %, docs/storage.md) where a backend reads the hour's rolled-up part from them (PostgreSQL).
    public var p95_1h: Int64?

    public init(name: String, kind: String, target: String, last: LastCheck? = nil, checks1h: Int = 0, failures1h: Int = 0,
                uptime1h: Double? = nil, p95_1h: Int64? = nil) {
        self.name = name
        self.kind = kind
        self.target = target
        self.last = last
        self.checks1h = checks1h
        self.failures1h = failures1h
        self.uptime1h = uptime1h
        self.p95_1h = p95_1h
    }

    public struct LastCheck: Sendable, Equatable {
        /// Start of the check, microseconds since the epoch.
        public var at: Int64
        /// Nil when it passed.
        public var reason: FailureReason?
        public var status: Int?
        public var latency: Int64?
        public var ok: Bool { reason == nil }

        public init(at: Int64, reason: FailureReason?, status: Int?, latency: Int64?) {
            self.at = at
            self.reason = reason
            self.status = status
            self.latency = latency
        }
    }
}
