/// Writes incident titles and descriptions from evidence: plain sentences, deterministic for the same
/// evidence, naming the target without credentials or query string and never a header.
public struct IncidentWriter: Sendable {
    public let probe: ProbeSpec

    public init(probe: ProbeSpec) { self.probe = probe }

    /// The name used in titles: `incident.title`, else the probe's name.
    public var name: String { probe.incident.title ?? probe.name }

    /// The incident's title, chosen when it opens.
    public func title(_ event: IncidentEvent) -> String {
        let e = event.evidence
        if e.certificateExpiry != nil, e.causes.first?.reason == .certificateExpiring {
            return "\(name): TLS certificate expiring"
        }
        switch e.trigger {
        case .failures: return "\(name): checks failing"
        case .latency: return "\(name): slow responses"
        case .both: return "\(name): failing and slow"
        }
    }

    /// The text of the timeline entry for this change.
    public func description(_ event: IncidentEvent) -> String {
        let e = event.evidence
        switch event.kind {
        case .opened:
            return join(["\(name) (\(probe.displayTarget)) is \(event.status == .major ? "seriously degraded" : "degraded")."]
                        + impact(e) + phaseSentence(e) + certificateSentence(e))
        case .escalated:
            return join(["Escalated to major."] + impact(e) + phaseSentence(e) + certificateSentence(e))
        case .deescalated:
            return join(["Eased to minor."] + impact(e) + phaseSentence(e))
        case .relapsed:
            return join(["Degraded again (\(event.status.rawValue))."] + impact(e) + phaseSentence(e) + certificateSentence(e))
        case .monitoring:
            var parts = ["Recovering: checks healthy since \(UTCTime.time(e.healthySince ?? e.at, relativeTo: e.at))"]
            var detail = ["\(e.failures) of the last \(Human.count(e.checks, "check")) failed"]
            if let p95 = e.p95 { detail.append("p95 \(Human.latency(microseconds: p95))") }
            parts[0] += " (" + detail.joined(separator: ", ") + ")."
            parts.append("Resolving after \(Human.span(seconds: probe.incident.resolveAfter.microseconds / 1_000_000)) healthy.")
            return join(parts)
        case .noted:
            return "Noted."
        case .resolved:
            let end = e.healthySince ?? e.at
            let duration = Human.span(seconds: max(0, end - e.degradedSince) / 1_000_000)
            var impact = ["\(duration) (\(UTCTime.time(e.degradedSince, relativeTo: end)) to \(UTCTime.time(end, relativeTo: end)))",
                          "\(Human.count(e.failedChecks, "failed check"))"]
            if let worst = e.worstP95 { impact.append("worst p95 \(Human.latency(microseconds: worst))") }
            return "Resolved: healthy since \(UTCTime.time(end, relativeTo: e.at)). Impact: " + impact.joined(separator: ", ") + "."
        case .joined, .left:
            // A shared incident's (IncidentWriter+Groups.swift); a probe's own evaluator never makes these.
            return join(["\(name) \(event.kind == .joined ? "joined" : "left")."] + impact(e))
        }
    }

    // MARK: - Sentences

    /// How bad: failures by cause, and/or latency against its threshold and the baseline.
    func impact(_ e: Evidence) -> [String] {
        var out: [String] = []
        let since = UTCTime.time(e.degradedSince, relativeTo: e.at)
        if e.failures > 0 {
            let causes = e.causes.map { "\($0.count) \(phrase($0))" }.joined(separator: ", ")
            let when = e.trigger == .latency ? "" : " since \(since)"
            out.append("\(e.failures) of the last \(Human.count(e.checks, "check")) failed\(when): \(causes).")
        }
        if e.trigger != .failures, let p95 = e.p95, let auto = e.auto, let usual = auto.reference.p95 {
            out.append(autoSentence(e, auto, p95: p95, usual: usual, since: since))
        } else if e.trigger != .failures, let p95 = e.p95 {
            var s = "p95 latency \(Human.latency(microseconds: p95)) over the last \(Human.count(e.checks, "check"))"
            if let limit = e.threshold.latency { s += ", above the \(Human.latency(microseconds: limit.microseconds)) threshold" }
            if e.trigger == .latency { s += ", since \(since)" }
            if let base = e.baseline.p95, e.baseline.checks >= 3 {
                let which = e.baseline.coversDay ? "the 24 h baseline"
                    : "the baseline over the previous \(Human.span(seconds: e.baseline.covers / 1_000_000))"
                s += "; \(which) is \(Human.latency(microseconds: base))"
            }
            out.append(s + ".")
        }
        return out
    }

    /// The latency against an automatic threshold: "p95 1.2 s over the last 10 checks, 8× its usual 150 ms,
    /// since 14:02 (automatic threshold 450 ms: 3× its usual p95 and at least 50 ms above it; usual over 1440
    /// passing checks in the previous 24 h)."
    func autoSentence(_ e: Evidence, _ auto: AutoEvidence, p95: Int64, usual: Int64, since: String) -> String {
        var s = "p95 \(Human.latency(microseconds: p95)) over the last \(Human.count(e.checks, "check"))"
        s += ", \(AutoEvidence.ratio(Double(p95) / Double(max(usual, 1)))) its usual \(Human.latency(microseconds: usual))"
        if e.trigger == .latency { s += ", since \(since)" }
        var rule = "automatic threshold"
        if let limit = e.threshold.latency { rule += " \(Human.latency(microseconds: limit.microseconds))" }
        rule += ": \(AutoEvidence.ratio(auto.factor)) its usual p95 and at least \(Human.latency(microseconds: auto.floor.microseconds)) above it"
        let over = auto.reference.sameHour ? "at this hour on the previous 7 days" : "in the previous 24 h"
        rule += "; usual over \(Human.count(auto.reference.checks, "passing check")) \(over)"
        return s + " (" + rule + ")."
    }

    /// Where the time went: the phase that grew most against the probe's own baseline.
    func phaseSentence(_ e: Evidence) -> [String] {
        guard e.baseline.checks >= 3 else { return [] }
        let phases: [Phases.Name] = [.dns, .connect, .tls, .processing, .transfer]
        var grown: [(Phases.Name, Int64, Int64)] = []
        var unchanged: [Phases.Name] = []
        for p in phases {
            guard let now = e.phases[p], let base = e.baseline.phases[p] else { continue }
            if Self.grew(from: base, to: now) { grown.append((p, base, now)) } else { unchanged.append(p) }
        }
        guard !grown.isEmpty else { return [] }
        grown.sort { ($0.2 - $0.1) > ($1.2 - $1.1) }
        let rises = grown.enumerated().map { i, g in
            (i == 0 ? capitalized(g.0.label) : g.0.label) + (i == 0 ? " rose" : "")
                + " from \(Human.latency(microseconds: g.1)) to \(Human.latency(microseconds: g.2))"
        }.joined(separator: ", ")
        guard !unchanged.isEmpty else { return [rises + "."] }
        let names = unchanged.map(\.label)
        let list = names.count == 1 ? names[0] : names.dropLast().joined(separator: ", ") + " and " + names.last!
        return [rises + "; " + list + (names.count == 1 ? " is" : " are") + " unchanged."]
    }

    /// A phase counts as grown when it is half again its baseline and at least 2 ms more.
    static func grew(from base: Int64, to now: Int64) -> Bool {
        now - base >= 2_000 && Double(now) >= Double(base) * 1.5
    }

    func certificateSentence(_ e: Evidence) -> [String] {
        guard let expiry = e.certificateExpiry else { return [] }
        let seconds = expiry - e.at / 1_000_000
        let when = seconds <= 0 ? "expired \(Human.span(seconds: -seconds)) ago" : "expires in \(Human.span(seconds: seconds))"
        var s = "The TLS certificate \(when) (\(UTCTime.dateTime(expiry * 1_000_000)))"
        if case .http(let http) = probe.target, let need = http.expect.certificateValidFor {
            s += "; it must stay valid for \(Human.span(seconds: need.microseconds / 1_000_000))"
        }
        return [s + "."]
    }

    func phrase(_ c: FailureCount) -> String {
        switch c.reason {
        case .timeout: "timed out after \(Human.latency(microseconds: probe.timeout.microseconds))"
        case .connectTimeout: "timed out connecting"
        case .connectRefused: "had the connection refused"
        case .connect: "could not connect"
        case .dns: "could not resolve the host name"
        case .tls: "failed the TLS handshake"
        case .httpStatus: c.status.map { "returned HTTP \($0)" } ?? "returned an unexpected status"
        case .bodyMismatch: "returned an unexpected body"
        case .headerMismatch: "returned unexpected headers"
        case .certificateExpiring: "found the certificate expiring too soon"
        case .send: "failed sending the request"
        case .receive: "lost the connection while reading the reply"
        case .tooManyRedirects: "hit too many redirects"
        case .mismatch: "got a reply without the expected text"
        case .other: "failed"
        }
    }

    private func join(_ parts: [String]) -> String { parts.joined(separator: " ") }

    private func capitalized(_ s: String) -> String { s.prefix(1).uppercased() + s.dropFirst() }
}
