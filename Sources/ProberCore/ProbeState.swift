/// A probe's state as people are told it (`prober status`, the run loop's log, the status page): the last
/// check, and the open incident when there is one. The evaluator's `Level` is a different thing: the grade
/// of the window of checks that decides incidents.
public enum ProbeState: Sendable, Equatable, CustomStringConvertible {
    /// No check yet.
    case unknown
    /// The last check passed and no incident is open.
    case healthy
    /// As healthy, for a probe whose automatic latency threshold (`latency: auto`) is still learning its
    /// reference (fewer than 30 passing checks): only failures can open an incident yet.
    case learning
    /// The last check failed and no incident is open (yet).
    case failing
    /// An incident is open and being investigated.
    case degraded(Severity)
    /// An incident is open and monitored: the probe looks healthy again, not for long enough yet.
    case recovering(Severity)

    /// The state from the last check (nil before the first) and the open incident's status and stage.
    /// `learning`: the probe's automatic threshold is still learning (said instead of healthy).
    public init(lastCheckPassed: Bool?, incident: (status: Severity, stage: ResolutionStage)? = nil, learning: Bool = false) {
        if let incident {
            self = incident.stage == .monitoring ? .recovering(incident.status) : .degraded(incident.status)
        } else if let passed = lastCheckPassed {
            self = passed ? (learning ? .learning : .healthy) : .failing
        } else {
            self = .unknown
        }
    }

    /// `healthy`, `failing`, `degraded (major)`, `recovering (minor)`, `unknown`.
    public var description: String {
        switch self {
        case .unknown: "unknown"
        case .healthy: "healthy"
        case .learning: "learning"
        case .failing: "failing"
        case .degraded(let s): "degraded (\(s.rawValue))"
        case .recovering(let s): "recovering (\(s.rawValue))"
        }
    }
}
