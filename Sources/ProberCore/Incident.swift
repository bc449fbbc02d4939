/// How bad an incident is, as IsDown's `status` field: `minor` or `major`.
public enum Severity: String, Sendable, Equatable, Codable, Comparable, CaseIterable {
    case minor, major

    public static func < (a: Severity, b: Severity) -> Bool { a == .minor && b == .major }
}

/// Where an incident stands, as IsDown's `resolution_stage`.
public enum ResolutionStage: String, Sendable, Equatable, Codable, CaseIterable {
    case investigating, identified, monitoring, resolved
}

/// The level the evaluator computes from a probe's window of checks.
public enum Level: Int, Sendable, Equatable, Codable, Comparable, CustomStringConvertible {
    case healthy = 0, minor = 1, major = 2

    public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }

    public init(_ severity: Severity) { self = severity == .major ? .major : .minor }

    public var description: String {
        switch self {
        case .healthy: "healthy"
        case .minor: "degraded (minor)"
        case .major: "degraded (major)"
        }
    }
}

/// An incident as prober keeps it: shaped like the IsDown incident, plus the probe and the evidence.
public struct Incident: Sendable, Equatable {
    /// Local id (the store's); the IsDown id is kept by the outbox.
    public var id: Int64
    public var probe: String
    public var serviceID: Int?
    public var title: String
    /// The first update's text.
    public var description: String
    public var status: Severity
    public var stage: ResolutionStage
    /// Microseconds since the Unix epoch.
    public var createdAt: Int64
    public var updatedAt: Int64
    public var resolvedAt: Int64?
    public var updates: [IncidentUpdate]
    /// The shared cause it stands for (`IncidentCause.encoded`), when its probes' failures can be grouped;
    /// nil for a probe's own incident.
    public var cause: String?
    /// The probes in it, those that left included (`IncidentMember.leftAt`), in the order they joined; empty
    /// for a probe's own incident. `probe` is the first member still in it.
    public var members: [IncidentMember]

    public var resolved: Bool { stage == .resolved }

    public init(id: Int64, probe: String, serviceID: Int?, title: String, description: String, status: Severity,
                stage: ResolutionStage, createdAt: Int64, updatedAt: Int64, resolvedAt: Int64?, updates: [IncidentUpdate],
                cause: String? = nil, members: [IncidentMember] = []) {
        self.id = id
        self.probe = probe
        self.serviceID = serviceID
        self.title = title
        self.description = description
        self.status = status
        self.stage = stage
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.resolvedAt = resolvedAt
        self.updates = updates
        self.cause = cause
        self.members = members
    }

    /// The probes in it now: its members still in it, or its probe.
    public var probes: [String] {
        members.isEmpty ? [probe] : members.filter { $0.leftAt == nil }.map(\.probe)
    }
}

/// A probe in an incident shared by several (see `IncidentGroups`), with what its own evaluator tracks.
public struct IncidentMember: Sendable, Equatable {
    public var probe: String
    /// When it joined (its opening's time), and when it left (its own episode resolved), µs.
    public var joinedAt: Int64
    public var leftAt: Int64?
    /// Its own evaluator's view of its episode, to continue it after a restart.
    public var tracking: OpenIncident

    public init(probe: String, joinedAt: Int64, leftAt: Int64? = nil, tracking: OpenIncident) {
        self.probe = probe
        self.joinedAt = joinedAt
        self.leftAt = leftAt
        self.tracking = tracking
    }

    /// Whether it is still in the incident.
    public var active: Bool { leftAt == nil }
}

/// One entry of an incident's timeline.
public struct IncidentUpdate: Sendable, Equatable {
    /// What happened, in the evaluator's terms.
    public var kind: IncidentEvent.Kind
    public var stage: ResolutionStage
    /// The incident's severity after this update.
    public var status: Severity
    public var createdAt: Int64
    public var description: String
    /// The evaluator's evidence for this change, as compact JSON (`Evidence.json`); empty when unknown.
    public var evidence: String

    public init(kind: IncidentEvent.Kind, stage: ResolutionStage, status: Severity, createdAt: Int64, description: String,
                evidence: String = "") {
        self.kind = kind
        self.stage = stage
        self.status = status
        self.createdAt = createdAt
        self.description = description
        self.evidence = evidence
    }
}
