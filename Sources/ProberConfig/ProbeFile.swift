import Foundation
import ProberCore

/// What one probe file contributed.
struct ProbeFileContents {
    var probes: [ProbeSpec] = []
    /// Every probe entry's name, in file order, whether or not the probe itself is valid: duplicates are
    /// reported even when one of the two has other problems.
    var names: [ProbeName] = []
    var storage: Located<StoragePolicy>?
    var notify: [NotifySink] = []
    /// The canaries of its `connectivity:` block.
    var canaries: [ProbeSpec] = []
}

/// A probe entry's name: where the name is written and where the entry starts.
struct ProbeName {
    var name: String
    var location: SourceLocation
    var entry: SourceLocation
}

/// The keys each block allows. Documented in docs/probe-files.md.
enum Keys {
    static let top = ["defaults", "probes", "storage", "notify", "maintenance", "connectivity"]
    static let defaults = ["interval", "timeout", "incident", "maintenance"]
    static let probe = ["name", "http", "tcp", "interval", "timeout", "incident", "maintenance"]
    static let http = ["url", "method", "headers", "body", "follow_redirects", "max_redirects", "allow_http_redirects",
                       "forward_headers_across_hosts", "proxy", "ip", "tls", "expect", "max_body_bytes"]
    static let tls = ["ca_file", "insecure"]
    static let httpExpect = ["status", "body_contains", "body_matches", "headers", "certificate_valid_for"]
    static let tcp = ["host", "port", "send", "expect", "ip"]
    static let incident = ["service_id", "title", "window", "minor", "major", "for", "resolve_after", "quorum", "auto", "group"]
    static let threshold = ["latency", "failures"]
    static let auto = ["minor", "major", "minor_floor", "major_floor"]
    static let storage = ["raw", "rollup_5m", "rollup_1h"]
    static let notify = ["webhook", "headers", "format", "routing_key"]

    /// Probe keys written at the top of a file, and where they belong.
    static let topHints: [String: String] = {
        var hints: [String: String] = [:]
        for key in ["name", "http", "tcp"] { hints[key] = "probes are listed under 'probes:', each starting with '- name:'" }
        for key in ["interval", "timeout", "incident"] { hints[key] = "it belongs under 'defaults:' or in a probe" }
        return hints
    }()

    /// Keys people put one level too high, and where they belong.
    static let probeHints: [String: String] = {
        var hints: [String: String] = [:]
        for key in ["url", "method", "headers", "body", "follow_redirects", "max_redirects", "allow_http_redirects",
                    "forward_headers_across_hosts", "proxy", "tls", "max_body_bytes"] {
            hints[key] = "it belongs under 'http:'"
        }
        for key in ["host", "port", "send"] { hints[key] = "it belongs under 'tcp:'" }
        for key in ["status", "body_contains", "body_matches", "certificate_valid_for"] {
            hints[key] = "it belongs under 'http:' -> 'expect:'"
        }
        for key in ["service_id", "title", "window", "minor", "major", "for", "resolve_after", "quorum", "group"] {
            hints[key] = "it belongs under 'incident:'"
        }
        hints["expect"] = "it belongs under 'http:' or 'tcp:'"
        hints["ip"] = "it belongs under 'http:' or 'tcp:'"
        return hints
    }()
}

/// The smallest interval a probe may have.
let minimumInterval = Duration.milliseconds(100)
/// The interval when neither the probe nor `defaults:` set one.
let defaultInterval = Duration.seconds(30)
/// The timeout when neither the probe nor `defaults:` set one and the interval is longer than this.
let defaultTimeout = Duration.seconds(5)

/// Interval, timeout and incident settings from a file's `defaults:` block.
struct ProbeDefaults {
    var interval: Located<Duration>?
    var timeout: Located<Duration>?
    var incident = IncidentSettings()
    /// `maintenance:` in `defaults:` (for probes without their own), and at the top (for every probe of the file).
    var maintenance: [MaintenanceWindow] = []
    var fileMaintenance: [MaintenanceWindow] = []
}

extension FileReader {
    /// Reads the file's document.
    func readFile() -> ProbeFileContents {
        var contents = ProbeFileContents()
        guard let root = document.root else { return contents }
        guard let top = fields(root, what: "a probe file", keys: Keys.top, hints: Keys.topHints, ignorePrefix: "x-") else { return contents }

        var defaults = ProbeDefaults()
        if let field = top["defaults"] { defaults = readDefaults(field) }
        if let field = top["maintenance"] { defaults.fileMaintenance = readMaintenance(field) ?? [] }

        if let field = top["probes"] {
            switch document.items(field.value) {
            case let items?:
                contents.probes.reserveCapacity(items.count)
                contents.names.reserveCapacity(items.count)
                for item in items {
                    if let probe = readProbe(item, defaults: defaults) { contents.probes.append(probe.spec) }
                    if let (key, value) = document.pairs(item)?.first(where: { document.scalar($0.key, is: "name") }),
                       let name = document.text(value), isValidProbeName(name) {
                        contents.names.append(ProbeName(name: name, location: location(key), entry: location(item)))
                    }
                }
            case nil:
                if !isNull(field.value) {
                    report(field.key, "'probes' must be a list of probes (each starting with '- name:'), not \(describe(field.value))")
                }
            }
        }
        if let field = top["storage"], let storage = readStorage(field) {
            contents.storage = Located(value: storage, location: location(field.key))
        }
        if let field = top["notify"] {
            contents.notify = readNotify(field, probes: contents.probes.map(\.name))
            if !contents.notify.isEmpty && contents.probes.isEmpty && top["probes"] == nil {
                report(field.key, "'notify' sends the incidents of the probes in the same file, and this file has no probes")
            }
        }
        let canaries = top["connectivity"].map { readConnectivity($0) } ?? []
        // Every value from the environment anywhere in the file is hidden in each of its probes: a
        // `${HOST}` read once may reappear in any message (the host in a DNS error, an echoed header).
        let secrets = uniqueSecrets()
        if !secrets.isEmpty {
            for i in contents.probes.indices { contents.probes[i].secrets = secrets }
        }
        contents.canaries = canaries.map {
            Connectivity.canary($0.target, interval: $0.interval, timeout: $0.timeout, secrets: secrets, source: $0.source)
        }
        return contents
    }

    // MARK: defaults

    func readDefaults(_ field: Field) -> ProbeDefaults {
        var defaults = ProbeDefaults()
        guard let f = fields(field.value, what: "'defaults'", keys: Keys.defaults) else { return defaults }
        if let interval = f["interval"] { defaults.interval = duration(interval) }
        if let timeout = f["timeout"] { defaults.timeout = duration(timeout) }
        if let interval = defaults.interval { checkInterval(interval) }
        if let incident = f["incident"] { defaults.incident = readIncident(incident) }
        if let field = f["maintenance"] { defaults.maintenance = readMaintenance(field) ?? [] }
        return defaults
    }

    private func checkInterval(_ interval: Located<Duration>) {
        if interval.value < minimumInterval {
            report(at: interval.location, "'interval' is \(Human.duration(interval.value)); the shortest interval is 100ms")
        }
    }

    // MARK: probes

    func readProbe(_ node: YAMLNode, defaults: ProbeDefaults) -> (spec: ProbeSpec, nameLocation: SourceLocation)? {
        guard let f = fields(node, what: "a probe", keys: Keys.probe, hints: Keys.probeHints) else { return nil }

        var name: Located<String>?
        if let field = f["name"], let text = string(field, allowEmpty: false) {
            if isValidProbeName(text.value) {
                name = text
            } else {
                report(field.key, "probe name \(describe(field.value)) may hold only letters, digits, '-', '_' and '.'")
            }
        } else if f["name"] == nil {
            report(node, "a probe is missing required key 'name'")
        }
        // Made only for a message.
        func what() -> String { name.map { "probe '\($0.value)'" } ?? "this probe" }

        var target: ProbeSpec.Target?
        switch (f["http"], f["tcp"]) {
        case (let http?, let tcp?):
            report(tcp.key, "\(what()) has both 'http' and 'tcp'; a probe checks one target, so split it into two probes")
            _ = readHTTP(http, probe: what())
            _ = readTCP(tcp, probe: what())
        case (let http?, nil):
            target = readHTTP(http, probe: what()).map(ProbeSpec.Target.http)
        case (nil, let tcp?):
            target = readTCP(tcp, probe: what()).map(ProbeSpec.Target.tcp)
        case (nil, nil):
            report(at: name?.location ?? location(node), "\(what()) needs an 'http:' or a 'tcp:' block saying what to check")
        }

        // Interval and timeout: the probe's own, else the file's defaults, else built-in defaults.
        let ownInterval = f["interval"].flatMap { duration($0) }
        if let ownInterval { checkInterval(ownInterval) }
        let interval = ownInterval ?? defaults.interval
        let intervalValue = interval?.value ?? defaultInterval

        // A probe whose own interval did not parse is not also compared against the default one.
        let intervalUnreadable = f["interval"] != nil && ownInterval == nil
        let ownTimeout = f["timeout"].flatMap { duration($0) }
        let timeout = ownTimeout ?? defaults.timeout
        let timeoutValue: Duration
        if let timeout {
            timeoutValue = timeout.value
            if timeout.value <= .zero {
                report(at: timeout.location, "'timeout' must be longer than 0")
            } else if timeout.value >= intervalValue, !intervalUnreadable {
                let timeoutOrigin = ownTimeout == nil ? " (from 'defaults')" : ""
                let intervalOrigin = interval == nil ? " (the default)" : (ownInterval == nil ? " (from 'defaults')" : "")
                let at = ownTimeout?.location ?? ownInterval?.location ?? timeout.location
                report(at: at, "'timeout' \(Human.duration(timeout.value))\(timeoutOrigin) must be shorter than 'interval' \(Human.duration(intervalValue))\(intervalOrigin)")
            }
        } else {
            // Short intervals get 80 % of the interval, so `interval: 500ms` alone is valid.
            timeoutValue = intervalValue <= defaultTimeout ? intervalValue * 0.8 : defaultTimeout
        }

        var incident = defaults.incident
        if let field = f["incident"] { incident = incident.overlaid(by: readIncident(field)) }
        let policy = resolveIncident(incident, fallback: f["incident"].map { location($0.key) } ?? location(node))

        let ownMaintenance = f["maintenance"].map { readMaintenance($0) }
        guard let name, let target, let policy, ownMaintenance != .some(nil) else { return nil }
        var spec = ProbeSpec(name: name.value, target: target, interval: intervalValue, timeout: timeoutValue,
                             incident: policy, source: location(node))
        let maintenance = defaults.fileMaintenance + ((ownMaintenance ?? nil) ?? defaults.maintenance)
        if !maintenance.isEmpty { spec.maintenance = maintenance }
        return (spec, name.location)
    }

    /// The file's values from the environment, each once.
    private func uniqueSecrets() -> [Secret] {
        var seen = Set<Secret>()
        return secrets.filter { !$0.value.isEmpty && seen.insert($0).inserted }
    }

    /// ASCII letters, digits, `-`, `_` and `.`, 1 to 200 of them; checked on the bytes (Character's
    /// properties cost more than the rest of reading a probe).
    private func isValidProbeName(_ name: String) -> Bool {
        let bytes = name.utf8
        return !bytes.isEmpty && bytes.count <= 200 && bytes.allSatisfy { b in
            b.isASCIILetterOrDigit || b == UInt8(ascii: "-") || b == UInt8(ascii: "_") || b == UInt8(ascii: ".")
        }
    }

    // MARK: storage (notify: ProbeFile+Notify.swift)

    func readStorage(_ field: Field) -> StoragePolicy? {
        guard let f = fields(field.value, what: "'storage'", keys: Keys.storage) else { return nil }
        var policy = StoragePolicy()
        var ok = true
        func read(_ key: String, _ apply: (Duration) -> Void) -> Located<Duration>? {
            guard let field = f[key] else { return nil }
            guard let d = duration(field) else { ok = false; return nil }
            if d.value <= .zero { report(field.key, "'\(key)' must be longer than 0"); ok = false; return nil }
            apply(d.value)
            return d
        }
        let raw = read("raw") { policy.raw = $0 }
        let fiveMinute = read("rollup_5m") { policy.rollup5m = $0 }
        let hourly = read("rollup_1h") { policy.rollup1h = $0 }
        guard ok else { return nil }
        if policy.raw >= policy.rollup5m {
            report(at: (raw ?? fiveMinute)?.location ?? location(field.key),
                   "'raw' (\(Human.duration(policy.raw))) must be shorter than 'rollup_5m' (\(Human.duration(policy.rollup5m))): rollups outlive the samples they summarize")
            return nil
        }
        if policy.rollup5m > policy.rollup1h {
            report(at: (fiveMinute ?? hourly)?.location ?? location(field.key),
                   "'rollup_5m' (\(Human.duration(policy.rollup5m))) must not be longer than 'rollup_1h' (\(Human.duration(policy.rollup1h)))")
            return nil
        }
        return policy
    }
}
