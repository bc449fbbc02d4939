import ProberCore

/// The set of probes a history knows: what `prober run` registers and the command line lists.
public protocol ProbeRegistry: AnyObject, Sendable {
    /// Records each probe's kind and redacted display target (a probe already known is updated, none is
    /// removed: its history stays readable after it leaves the probe files). All or nothing: when it
    /// throws, no probe of the call was recorded. Never stores a secret: only `ProbeSpec.displayTarget`.
    func register(_ probes: [ProbeSpec]) throws

    /// Every probe with a history or a registration, sorted by name.
    func probeNames() throws -> [String]

    /// What was registered for one probe; nil when the name is unknown.
    func probeInfo(_ name: String) throws -> ProbeInfo?

    /// What was registered for every probe `probeNames` lists, sorted by name (the status page's listing).
    func probeInfos() throws -> [ProbeInfo]
}

/// What the registry says about one probe.
public struct ProbeInfo: Sendable, Equatable {
    public var name: String
    /// `http` or `tcp`; empty for a probe that has samples but was never registered.
    public var kind: String
    /// Redacted display target (no credentials, query or fragment).
    public var target: String
    /// The probe file that declared it, as given to `prober run`; empty when never registered.
    public var file: String
    /// The probe's configuration as safe to show (`ProbeInfo.settings(of:)`), in a fixed order.
    public var settings: [ProbeSetting]

    public init(name: String, kind: String, target: String, file: String = "", settings: [ProbeSetting] = []) {
        self.name = name
        self.kind = kind
        self.target = target
        self.file = file
        self.settings = settings
    }

    /// What a registry records for `spec`.
    public init(spec: ProbeSpec) {
        self.init(name: spec.name, kind: spec.kind, target: spec.displayTarget, file: spec.source.file,
                  settings: Self.settings(of: spec))
    }

    /// The setting a probe with `latency: auto` has (its rules); storage finds such probes by it (`learningProbes`).
    public static let autoThresholdsKey = "automatic thresholds"

    /// A probe's configuration as safe to show on a page: header names without their values, a request
    /// body's size only, URLs (target and proxy) without credentials, query or fragment, and every value
    /// from the environment as its `${VAR}`.
    public static func settings(of spec: ProbeSpec) -> [ProbeSetting] {
        func hide(_ text: String) -> String { Redact.text(text, hiding: spec.secrets) }
        var out: [ProbeSetting] = [
            ProbeSetting("kind", spec.kind),
            ProbeSetting("target", spec.displayTarget),
            ProbeSetting("declared at", spec.source.line > 0 ? "\(spec.source.file):\(spec.source.line)" : spec.source.file),
            ProbeSetting("interval", Human.duration(spec.interval)),
            ProbeSetting("timeout", Human.duration(spec.timeout)),
        ]
        switch spec.target {
        case .http(let http):
            out.append(ProbeSetting("method", hide(http.method)))
            if !http.headers.isEmpty {
                out.append(ProbeSetting("headers", http.headers.map { "\(hide($0.name)): (value hidden)" }.joined(separator: ", ")))
            }
            if let body = http.body { out.append(ProbeSetting("body", "\(body.utf8.count) bytes (hidden)")) }
            out.append(ProbeSetting("follow redirects", http.followRedirects ? "yes, at most \(http.maxRedirects)" : "no"))
            if http.allowHTTPRedirects { out.append(ProbeSetting("allow http redirects", "yes")) }
            if http.forwardHeadersAcrossHosts { out.append(ProbeSetting("forward headers across hosts", "yes")) }
            if let proxy = http.proxy { out.append(ProbeSetting("proxy", Redact.url(hide(proxy)))) }
            if http.ip != .any { out.append(ProbeSetting("ip", http.ip.rawValue)) }
            if http.tls.insecure { out.append(ProbeSetting("tls", "insecure (certificate not verified)")) }
            if let ca = http.tls.caFile { out.append(ProbeSetting("tls ca file", hide(ca))) }
            out.append(ProbeSetting("expect status", http.expect.status.description))
            if let text = http.expect.bodyContains { out.append(ProbeSetting("expect body contains", hide(text))) }
            if let pattern = http.expect.bodyMatches { out.append(ProbeSetting("expect body matches", hide(pattern))) }
            if !http.expect.headers.isEmpty {
                out.append(ProbeSetting("expect headers", http.expect.headers.map { hide($0.name) }.joined(separator: ", ")))
            }
            if let valid = http.expect.certificateValidFor {
                out.append(ProbeSetting("expect certificate valid for", Human.duration(valid)))
            }
        case .tcp(let tcp):
            if let send = tcp.send { out.append(ProbeSetting("send", "\(send.utf8.count) bytes (hidden)")) }
            if let expect = tcp.expect { out.append(ProbeSetting("expect", hide(expect))) }
            if tcp.ip != .any { out.append(ProbeSetting("ip", tcp.ip.rawValue)) }
        }
        let policy = spec.incident
        if let title = policy.title { out.append(ProbeSetting("incident title", hide(title))) }
        if let id = policy.serviceID { out.append(ProbeSetting("isdown service id", "\(id)")) }
        func threshold(_ t: Threshold) -> String {
            var parts: [String] = []
            if t.autoLatency { parts.append("p95 above auto") } else if let l = t.latency { parts.append("p95 above \(Human.duration(l))") }
            if let f = t.failures { parts.append("\(f) failures") }
            return parts.isEmpty ? "none" : parts.joined(separator: " or ")
        }
        out.append(ProbeSetting("window", "\(policy.window) checks"))
        out.append(ProbeSetting("minor when", threshold(policy.minor)))
        out.append(ProbeSetting("major when", threshold(policy.major)))
        if policy.usesAutoLatency {
            let a = policy.auto
            func rule(_ factor: Double, _ floor: Duration) -> String {
                "\(AutoEvidence.ratio(factor)) the usual p95 and \(Human.duration(floor)) above it"
            }
            var levels: [String] = []
            if policy.minor.autoLatency { levels.append("minor " + rule(a.minorFactor, a.minorFloor)) }
            if policy.major.autoLatency { levels.append("major " + rule(a.majorFactor, a.majorFloor)) }
            out.append(ProbeSetting(Self.autoThresholdsKey, levels.joined(separator: "; ")))
        }
        out.append(ProbeSetting("hold for", Human.duration(policy.holdFor)))
        out.append(ProbeSetting("resolve after", Human.duration(policy.resolveAfter)))
        if !spec.maintenance.isEmpty {
            out.append(ProbeSetting(maintenanceKey, spec.maintenance.map(\.description).joined(separator: "; ")))
        }
        return out
    }
}

/// One line of a probe's shown configuration: `interval` = `30s`.
public struct ProbeSetting: Sendable, Equatable {
    public var key: String
    public var value: String

    public init(_ key: String, _ value: String) {
        self.key = key
        self.value = value
    }
}
