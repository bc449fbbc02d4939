import Foundation

/// How many locations must see a degradation before the fleet's incident opens or escalates
/// (`incident.quorum`): a number, a share, or by default a majority of the locations that ran the probe
/// during its window. With one location every rule asks for that one, so a single prober behaves as if
/// there were no quorum.
public enum Quorum: Sendable, Equatable, CustomStringConvertible {
    /// More than half of the locations running the probe.
    case majority
    /// At least this many locations: strict, so a fleet with fewer running locations opens nothing.
    case locations(Int)
    /// At least this share (1...100 %) of the locations running the probe, rounded up.
    case percent(Int)

    /// Locations needed when `running` locations ran the probe during its window (at least 1).
    public func required(running: Int) -> Int {
        let running = max(running, 1)
        switch self {
        case .majority: return running / 2 + 1
        case .locations(let n): return max(n, 1)
        case .percent(let p): return max(1, (running * p + 99) / 100)
        }
    }

    /// `2`, `50%` or `majority`, as written in probe files.
    public var description: String {
        switch self {
        case .majority: "majority"
        case .locations(let n): "\(n)"
        case .percent(let p): "\(p)%"
        }
    }

    /// Reads `2`, `50%` or `majority`; nil for anything else (the caller names the key).
    public init?(parsing text: String) {
        let t = text.trimmingSpaces.lowercased()
        if t == "majority" {
            self = .majority
        } else if t.hasSuffix("%"), let p = Int(t.dropLast()), (1...100).contains(p) {
            self = .percent(p)
        } else if let n = Int(t), n >= 1, n <= 1_000 {
            self = .locations(n)
        } else {
            return nil
        }
    }
}

/// Where one location stands on a probe: its own evaluator's incident state, published for the fleet.
public struct LocationEpisode: Sendable, Equatable {
    public var location: String
    /// nil: healthy, no episode at this location.
    public var status: Severity?
    /// `investigating` or `monitoring` while `status` is set.
    public var stage: ResolutionStage?
    /// One line of this location's evidence ("p95 1.2 s against its usual 150 ms"), for descriptions.
    public var summary: String?

    public init(location: String, status: Severity?, stage: ResolutionStage?, summary: String? = nil) {
        self.location = location
        self.status = status
        self.stage = stage
        self.summary = summary
    }

    /// Degraded now: in an episode and not recovering.
    public var degraded: Bool { status != nil && stage == .investigating }
    /// In an episode: degraded or recovering (monitoring).
    public var inEpisode: Bool { status != nil && stage != .resolved }
}

/// The fleet's incident for one probe, decided from every running location's episode under the quorum:
/// one incident per probe per episode however many probers run it.
///
/// The rules, in terms of `q = quorum.required(running:)`:
/// - no incident: opens when at least `q` locations are degraded (investigating), `major` when at least `q`
///   of them are major;
/// - investigating: escalates when `q` are major, de-escalates when fewer are but `q` are still degraded,
///   goes to monitoring when fewer than `q` are degraded;
/// - monitoring: relapses when `q` are degraded again, resolves when fewer than `q` are still in an
///   episode (degraded or monitoring) at all.
/// Each location's own evaluator already applied `for` and `resolve_after`, so the fleet adds no timing of
/// its own. With one location the fleet's incident follows that location's exactly.
public enum FleetDecision {
    /// The fleet incident's state after this decision: nil when there is none (or it resolves).
    public struct Target: Sendable, Equatable {
        public var status: Severity
        public var stage: ResolutionStage
        public init(status: Severity, stage: ResolutionStage) {
            self.status = status
            self.stage = stage
        }
    }

    /// What the fleet's incident should become, given where it stands (`current`, nil when none is open).
    public static func target(current: Target?, locations: [LocationEpisode], quorum: Quorum) -> Target? {
        let q = quorum.required(running: locations.count)
        let degraded = locations.filter(\.degraded)
        let major = degraded.filter { $0.status == .major }.count
        let inEpisode = locations.filter(\.inEpisode).count
        let status: Severity = major >= q ? .major : .minor
        guard let current else {
            return degraded.count >= q ? Target(status: status, stage: .investigating) : nil
        }
        switch current.stage {
        case .monitoring:
            if degraded.count >= q { return Target(status: status, stage: .investigating) }
            return inEpisode >= q ? current : nil
        default:
            // Below the quorum the incident goes to monitoring first, never straight to resolved, as a single
            // location's does: the next decision resolves it if the quorum is not in an episode any more.
            return degraded.count >= q ? Target(status: status, stage: .investigating) : Target(status: current.status, stage: .monitoring)
        }
    }

    /// "failing from fra-1 and nyc-2 (2 of 3 locations); sfo-1 sees it healthy", with each failing
    /// location's own evidence after it when there is some.
    public static func locationsLine(_ locations: [LocationEpisode]) -> String {
        let sorted = locations.sorted { $0.location < $1.location }
        let failing = sorted.filter(\.degraded)
        let recovering = sorted.filter { $0.inEpisode && !$0.degraded }
        let healthy = sorted.filter { !$0.inEpisode }
        var parts: [String] = []
        if failing.isEmpty {
            parts.append("failing from no location (0 of \(sorted.count))")
        } else {
            parts.append("failing from \(list(failing.map(\.location))) (\(failing.count) of \(sorted.count) location\(sorted.count == 1 ? "" : "s"))")
        }
        if !recovering.isEmpty { parts.append("\(list(recovering.map(\.location))) \(recovering.count == 1 ? "sees" : "see") it recovering") }
        if !healthy.isEmpty { parts.append("\(list(healthy.map(\.location))) \(healthy.count == 1 ? "sees" : "see") it healthy") }
        var line = parts.joined(separator: "; ")
        let evidence = failing.compactMap { l in l.summary.map { "\(l.location): \($0)" } }
        if !evidence.isEmpty { line += ". " + evidence.joined(separator: "; ") }
        return line
    }

    /// `a`, `a and b`, `a, b and c`.
    public static func list(_ names: [String]) -> String {
        guard names.count > 1 else { return names.first ?? "" }
        return names.dropLast().joined(separator: ", ") + " and " + names[names.count - 1]
    }
}

extension IncidentWriter {
    /// One location's evidence for the fleet's descriptions, from its evaluator's latest change: how bad
    /// (failures by cause, latency against the threshold and baseline) and where the time went, without the
    /// final period ("3 of the last 5 checks failed since 09:01:02: 3 returned HTTP 503").
    public func locationSummary(_ evidence: Evidence) -> String {
        var text = (impact(evidence) + phaseSentence(evidence)).joined(separator: " ")
        if text.hasSuffix(".") { text.removeLast() }
        return text
    }

    /// A short sentence for a fleet transition this location's own evaluator did not make itself (its own
    /// description is used when it did); the locations line follows it.
    public func fleetSentence(_ kind: IncidentEvent.Kind, status: Severity) -> String {
        switch kind {
        case .opened: "\(name) (\(probe.displayTarget)) is \(status == .major ? "seriously degraded" : "degraded")."
        case .escalated: "Escalated to major."
        case .deescalated: "Eased to minor."
        case .monitoring: "Recovering."
        case .relapsed: "Degraded again (\(status.rawValue))."
        case .resolved: "Resolved."
        case .noted: "Noted."
        case .joined: "\(name) joined."
        case .left: "\(name) left."
        }
    }
}
