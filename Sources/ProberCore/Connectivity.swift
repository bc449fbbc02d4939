/// Connectivity canaries: checks of addresses that answer whenever the prober's own network works (the
/// resolver, the gateway), declared in a probe file's top-level `connectivity:` block.
///
/// A canary is a `ProbeSpec` so the scheduler and the probe engine run it like any probe (same source
/// address, same timeouts), but it is not a probe: its name starts with `Connectivity.prefix`, which no probe
/// name can (':' is not allowed in one), and its checks go to the connectivity monitor, never to the history
/// or the incident tracker.
public enum Connectivity {
    /// What every canary's name starts with.
    public static let prefix = "connectivity:"

    /// The reasons that say a check never reached its target's service (the network between, not the
    /// service): what the heuristic without canaries counts. A refused connection is not one (a host
    /// answered), nor an HTTP status or a body mismatch.
    public static let networkReasons: Set<FailureReason> = [.dns, .connect, .connectTimeout, .timeout, .tls]

    /// Whether a check's probe name is a canary's.
    public static func isCanary(_ name: String) -> Bool { name.hasPrefix(prefix) }

    /// The canary spec for a target: named `connectivity:tcp 10.0.0.1:53` or `connectivity:http http://gw/`.
    public static func canary(_ target: ProbeSpec.Target, interval: Duration, timeout: Duration, secrets: [Secret] = [],
                              source: SourceLocation) -> ProbeSpec {
        var spec = ProbeSpec(name: "", target: target, interval: interval, timeout: timeout, source: source)
        spec.secrets = secrets
        spec.name = prefix + spec.kind + " " + spec.displayTarget
        return spec
    }

    /// What people see of a canary: its name without the prefix (`tcp 10.0.0.1:53`).
    public static func label(_ name: String) -> String {
        isCanary(name) ? String(name.dropFirst(prefix.count)) : name
    }
}
