/// What several probes' degradations may share: an explicit `incident.group`, or one endpoint failing for
/// one class of reason. Probes with the same cause share one incident (`IncidentGroups`).
///
/// `partition` says where the incident goes (the IsDown service and the sinks serving the probe): causes in
/// different partitions never merge, so one IsDown incident never spans two services and a webhook is never
/// told of a probe it does not serve.
public struct IncidentCause: Sendable, Hashable {
    /// The class of a failure's reason, as grouping compares them. A refused connection (the host answers, the
    /// port is closed) and an unreachable host (connect timeout, no route) are different causes.
    public enum Reason: String, Sendable, CaseIterable {
        case dns, refused, connect, tls, timeout
        case http = "http_status"

        /// The class of `reason`; nil for what is the probe's own (a body or header mismatch, a certificate
        /// expiring, a redirect loop, a reply cut short).
        public init?(_ reason: FailureReason) {
            switch reason {
            case .dns: self = .dns
            case .connectRefused: self = .refused
            case .connect, .connectTimeout: self = .connect
            case .tls: self = .tls
            case .timeout: self = .timeout
            case .httpStatus: self = .http
            default: return nil
            }
        }

        var phrase: String {
            switch self {
            case .dns: "does not resolve"
            case .refused: "refuses connections"
            case .connect: "cannot be reached"
            case .tls: "fails the TLS handshake"
            case .timeout: "times out"
            case .http: "answers with HTTP errors"
            }
        }
    }

    /// The `incident.group` name; nil for an endpoint's cause.
    public var group: String?
    /// `host:port`, and the class of reason, for an endpoint's cause.
    public var endpoint: String?
    public var reason: Reason?
    public var partition: String

    public init(group: String, partition: String) {
        self.group = group
        self.partition = partition
    }

    public init(endpoint: String, reason: Reason, partition: String) {
        self.endpoint = endpoint
        self.reason = reason
        self.partition = partition
    }

    /// The cause of a probe's opening (`event`): its `incident.group`, else its endpoint and the class of the
    /// window's leading failure. Nil when it has none to share: `group: none`, a latency-only degradation, or a
    /// reason of its own (see `Reason`).
    public static func of(_ spec: ProbeSpec, opening event: IncidentEvent, partition: String) -> IncidentCause? {
        switch spec.incident.grouping {
        case .named(let group): return IncidentCause(group: group, partition: partition)
        case .none: return nil
        case .automatic: break
        }
        guard event.evidence.trigger != .latency, let lead = event.evidence.causes.first,
              let reason = Reason(lead.reason) else { return nil }
        return IncidentCause(endpoint: spec.endpoint, reason: reason, partition: partition)
    }

    /// How descriptions name it: "db.internal:5432 refuses connections", or the group's name.
    public var label: String {
        if let group { return group }
        return "\(endpoint ?? "") \(reason?.phrase ?? "fails")"
    }

    /// As stored with the incident (`Incident.cause`), so a restart finds the incident of a cause again.
    public var encoded: String {
        if let group { return ["group", partition, group].joined(separator: "\n") }
        return ["endpoint", partition, endpoint ?? "", reason?.rawValue ?? ""].joined(separator: "\n")
    }

    public init?(encoded: String) {
        let parts = encoded.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        switch parts.first {
        case "group" where parts.count == 3:
            self.init(group: parts[2], partition: parts[1])
        case "endpoint" where parts.count == 4:
            guard let reason = Reason(rawValue: parts[3]) else { return nil }
            self.init(endpoint: parts[2], reason: reason, partition: parts[1])
        default:
            return nil
        }
    }
}

extension ProbeSpec {
    /// The `host:port` the probe connects to (the scheme's port when the URL names none), lower case, without
    /// credentials; a value from the environment stays its `${VAR}`.
    public var endpoint: String {
        guard case .http(let http) = target else { return displayTarget.lowercased() }
        let shown = Redact.url(Redact.text(http.url, hiding: secrets))
        guard let separator = shown.range(of: "://") else { return shown.lowercased() }
        let scheme = shown[..<separator.lowerBound].lowercased()
        let authority = shown[separator.upperBound...].prefix { $0 != "/" }.lowercased()
        let hasPort = authority.hasPrefix("[") ? authority.contains("]:") : authority.contains(":")
        return hasPort ? authority : authority + ":" + (scheme == "https" ? "443" : "80")
    }
}

/// Turns each probe's incident events into the changes of the incidents they share: a pure state machine,
/// fed by the tracker between the evaluator and the stored change.
///
/// - A probe's opening with a cause (`IncidentCause`) joins the open incident of that cause, or opens one.
///   A new incident's opening is held `gather` (on the checks' monotonic time) to take in the probes that
///   open at the same moment, so they are announced once, together.
/// - A member's own changes move the incident: its status is the worst of its members still investigating
///   (of all its members while every one is recovering), its stage investigating while any member is.
///   Only a change of the incident's status or stage is a change; the member's own is not.
/// - A member whose episode resolves leaves (a timeline update); the incident resolves with its last member.
/// - An incident of one probe that never had a second, and not of an explicit group, is that probe's own:
///   its changes are the probe's events, word for word.
public struct IncidentGroups: Sendable, Equatable {
    /// How long (µs) an opening waits for probes failing at the same moment.
    public static let gather: Int64 = 2_000_000

    public typealias Member = IncidentMember

    public struct Group: Sendable, Equatable {
        public var cause: IncidentCause
        /// Every probe that was in it, in the order they joined; those that left have `leftAt`.
        public var members: [Member]
        public var status: Severity
        public var stage: ResolutionStage
        /// Wall time (µs) of the opening.
        public var openedAt: Int64
        /// Until when (the checks' monotonic time, µs) its opening is held; nil once announced.
        public var heldUntil: Int64?
        /// Written as shared (an explicit group, or it has had two members); else it is its probe's own.
        public var shared: Bool
        /// The founder's opening event while the opening is held (it dates and, unshared, describes it).
        public var opening: IncidentEvent?

        public var active: [Member] { members.filter(\.active) }
        /// The first member still in it: the incident's probe.
        public var lead: String { active.first?.probe ?? members.last?.probe ?? "" }
        /// The first member ever: names the group while it is open, whoever leads it.
        public var founder: String { members.first?.probe ?? "" }

        /// What the evaluator tracks for the incident as a whole: the earliest start, every member's failures,
        /// the worst p95 and window.
        public var tracking: OpenIncident {
            let all = members.map(\.tracking)
            return OpenIncident(status: status, stage: stage, openedAt: openedAt,
                                degradedSince: all.map(\.degradedSince).min() ?? openedAt,
                                failedChecks: all.reduce(0) { $0 + $1.failedChecks },
                                worstP95: all.compactMap(\.worstP95).max(),
                                worstFailures: all.map(\.worstFailures).max() ?? 0)
        }

        /// The status and stage its active members give it.
        mutating func settle() {
            let active = self.active
            guard !active.isEmpty else {
                stage = .resolved
                return
            }
            let investigating = active.filter { $0.tracking.stage != .monitoring }
            stage = investigating.isEmpty ? .monitoring : .investigating
            status = (investigating.isEmpty ? active : investigating).map(\.tracking.status).max() ?? status
        }
    }

    /// One change of a shared incident.
    public struct Change: Sendable, Equatable {
        public var kind: IncidentEvent.Kind
        /// The group after the change.
        public var group: Group
        /// The member whose event made it.
        public var probe: String
        /// That member's event (its evidence dates and describes the change).
        public var event: IncidentEvent
        /// The incident's status before, when it changed.
        public var previous: Severity?
    }

    public private(set) var groups: [IncidentCause: Group] = [:]
    /// The cause of the incident each probe is in.
    public private(set) var membership: [String: IncidentCause] = [:]

    public init() {}

    /// Feeds one probe's event. `cause` is the cause of an opening (`IncidentCause.of`), `tracking` the probe's
    /// own incident after the event (resolved for a resolution), `at` the check's monotonic time. Returns nil
    /// when the event is not a shared incident's (the probe's own incident, outside grouping), else the
    /// changes it makes (none while it only joins a held opening or moves nothing).
    public mutating func apply(_ event: IncidentEvent, probe: String, cause: IncidentCause?, tracking: OpenIncident,
                               at elapsed: Int64) -> [Change]? {
        if let key = membership[probe] {
            if event.kind == .opened {
                // Its previous episode was left without a resolution (cannot happen from one evaluator): join again.
                return join(event, probe: probe, cause: key, tracking: tracking, at: elapsed)
            }
            return memberChanged(event, probe: probe, cause: key, tracking: tracking)
        }
        guard event.kind == .opened, let cause else { return nil }
        return join(event, probe: probe, cause: cause, tracking: tracking, at: elapsed)
    }

    /// The openings whose gathering ended by `elapsed` (all of them when nil), announced now.
    public mutating func release(at elapsed: Int64?) -> [Change] {
        var out: [Change] = []
        for (cause, group) in groups.sorted(by: { $0.value.openedAt < $1.value.openedAt }) {
            guard let until = group.heldUntil, elapsed.map({ $0 >= until }) ?? true else { continue }
            out.append(announce(cause))
        }
        return out
    }

    /// Whether any opening is being held.
    public var holding: Bool { groups.values.contains { $0.heldUntil != nil } }

    /// Takes in a shared incident found open at start (`members` with their tracking), announced already.
    public mutating func restore(cause: IncidentCause, members: [Member], status: Severity, stage: ResolutionStage,
                                 openedAt: Int64) {
        let group = Group(cause: cause, members: members, status: status, stage: stage, openedAt: openedAt, heldUntil: nil,
                          shared: cause.group != nil || members.count > 1, opening: nil)
        groups[cause] = group
        for m in members where m.active { membership[m.probe] = cause }
    }

    /// Takes a probe out (removed from the probe files) as if its episode resolved at `at` (wall time, µs).
    public mutating func remove(_ probe: String, at: Int64) -> [Change] {
        guard let key = membership[probe], let member = groups[key]?.members.last(where: { $0.probe == probe && $0.active }) else {
            return []
        }
        var tracking = member.tracking
        tracking.stage = .resolved
        let evidence = Evidence(
            at: at, level: .healthy, checks: 0, failures: 0, causes: [], p95: nil, trigger: .failures,
            threshold: Threshold(latency: nil, failures: nil), degradedSince: tracking.degradedSince, healthySince: nil,
            phases: Phases(), baseline: Baseline(), certificateExpiry: nil, failedChecks: tracking.failedChecks,
            worstP95: tracking.worstP95, openedAt: tracking.openedAt)
        let event = IncidentEvent(kind: .resolved, status: tracking.status, previous: nil, stage: .resolved, evidence: evidence)
        return memberChanged(event, probe: probe, cause: key, tracking: tracking)
    }

    // MARK: - Transitions

    private mutating func join(_ event: IncidentEvent, probe: String, cause: IncidentCause, tracking: OpenIncident,
                               at elapsed: Int64) -> [Change] {
        let member = Member(probe: probe, joinedAt: event.evidence.at, leftAt: nil, tracking: tracking)
        membership[probe] = cause
        guard var group = groups[cause] else {
            var group = Group(cause: cause, members: [member], status: tracking.status, stage: .investigating,
                              openedAt: event.evidence.at, heldUntil: elapsed + Self.gather, shared: cause.group != nil, opening: event)
            group.settle()
            groups[cause] = group
            return []
        }
        let previous = group.status
        group.members.removeAll { $0.probe == probe && !$0.active }
        group.members.append(member)
        group.shared = true
        group.settle()
        groups[cause] = group
        guard group.heldUntil == nil else { return [] }
        return [Change(kind: .joined, group: group, probe: probe, event: event,
                       previous: group.status != previous ? previous : nil)]
    }

    private mutating func memberChanged(_ event: IncidentEvent, probe: String, cause: IncidentCause,
                                        tracking: OpenIncident) -> [Change] {
        // Anything but a join ends the gathering: the opening goes out first, then this.
        var out: [Change] = groups[cause]?.heldUntil != nil ? [announce(cause)] : []
        guard var group = groups[cause], let i = group.members.lastIndex(where: { $0.probe == probe && $0.active }) else {
            return out
        }
        let before = (status: group.status, stage: group.stage)
        group.members[i].tracking = tracking
        if tracking.stage == .resolved {
            group.members[i].leftAt = event.evidence.at
            membership[probe] = nil
        }
        group.settle()
        if group.stage == .resolved {
            groups[cause] = nil
            out.append(Change(kind: .resolved, group: group, probe: probe, event: event, previous: nil))
            return out
        }
        groups[cause] = group
        let previous = group.status != before.status ? before.status : nil
        if !group.shared {
            out.append(Change(kind: event.kind, group: group, probe: probe, event: event, previous: event.previous))
        } else if tracking.stage == .resolved {
            out.append(Change(kind: .left, group: group, probe: probe, event: event, previous: previous))
        } else if before.stage == .monitoring, group.stage == .investigating {
            out.append(Change(kind: .relapsed, group: group, probe: probe, event: event, previous: before.status))
        } else if before.stage != .monitoring, group.stage == .monitoring {
            out.append(Change(kind: .monitoring, group: group, probe: probe, event: event, previous: nil))
        } else if let previous {
            out.append(Change(kind: group.status > previous ? .escalated : .deescalated, group: group, probe: probe,
                              event: event, previous: previous))
        }
        return out
    }

    /// Ends the gathering of `cause`'s opening: the opening change, with every member gathered.
    private mutating func announce(_ cause: IncidentCause) -> Change {
        var group = groups[cause]!
        let event = group.opening!
        group.heldUntil = nil
        group.opening = nil
        group.shared = group.shared || group.members.count > 1
        groups[cause] = group
        return Change(kind: .opened, group: group, probe: group.founder, event: event, previous: nil)
    }
}
