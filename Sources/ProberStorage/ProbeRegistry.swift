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
}

/// What the registry says about one probe.
public struct ProbeInfo: Sendable, Equatable {
    public var name: String
    /// `http` or `tcp`; empty for a probe that has samples but was never registered.
    public var kind: String
    /// Redacted display target (no credentials, query or fragment).
    public var target: String

    public init(name: String, kind: String, target: String) {
        self.name = name
        self.kind = kind
        self.target = target
    }
}
