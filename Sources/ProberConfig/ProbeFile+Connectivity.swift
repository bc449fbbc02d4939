import ProberCore

/// The interval of the connectivity canaries when the block sets none.
let defaultConnectivityInterval = Duration.seconds(5)
/// The canaries' timeout when the block sets none (or 80 % of a shorter interval).
let defaultConnectivityTimeout = Duration.seconds(2)

/// One canary as read, before the file's secrets are known (its name shows its target with them hidden).
struct CanaryEntry {
    var target: ProbeSpec.Target
    var interval: Duration
    var timeout: Duration
    var source: SourceLocation
}

extension Keys {
    static let connectivity = ["checks", "interval", "timeout"]
    static let canary = ["tcp", "http"]
}

extension FileReader {
    /// A top-level `connectivity:` block: `checks` (a list of `tcp: HOST:PORT` or `http: URL`), `interval`
    /// (default 5s) and `timeout` (default 2s, or 80 % of a shorter interval).
    func readConnectivity(_ field: Field) -> [CanaryEntry] {
        guard let f = fields(field.value, what: "'connectivity'", keys: Keys.connectivity) else { return [] }
        guard require(["checks"], in: f, what: "'connectivity'"), let checks = f["checks"] else { return [] }
        var ok = true
        let interval = f["interval"].flatMap { duration($0) }
        if f["interval"] != nil, interval == nil { ok = false }
        if let interval, interval.value < minimumInterval {
            report(at: interval.location, "'interval' of 'connectivity' is \(Human.duration(interval.value)); the shortest interval is 100ms")
            ok = false
        }
        let intervalValue = interval?.value ?? defaultConnectivityInterval
        let timeout = f["timeout"].flatMap { duration($0) }
        if f["timeout"] != nil, timeout == nil { ok = false }
        if let timeout {
            if timeout.value <= .zero {
                report(at: timeout.location, "'timeout' of 'connectivity' must be longer than 0")
                ok = false
            } else if timeout.value >= intervalValue {
                let origin = interval == nil ? " (the default)" : ""
                report(at: timeout.location, "'timeout' of 'connectivity' \(Human.duration(timeout.value)) must be shorter than its 'interval' \(Human.duration(intervalValue))\(origin)")
                ok = false
            }
        }
        let timeoutValue = timeout?.value ?? min(defaultConnectivityTimeout, intervalValue * 0.8)

        guard let items = document.items(checks.value) else {
            report(checks.key, "'checks' of 'connectivity' must be a list of canaries such as '- tcp: 10.0.0.1:53' or '- http: http://192.168.1.1/', not \(describe(checks.value))")
            return []
        }
        guard !items.isEmpty else {
            report(checks.key, "'checks' of 'connectivity' is empty; list at least one canary such as '- tcp: 10.0.0.1:53'")
            return []
        }
        var entries: [CanaryEntry] = []
        for item in items {
            guard let c = fields(item, what: "a connectivity check", keys: Keys.canary) else { ok = false; continue }
            var target: ProbeSpec.Target?
            switch (c["tcp"], c["http"]) {
            case (_?, let http?):
                report(http.key, "a connectivity check has both 'tcp' and 'http'; write each as its own '- tcp:' or '- http:' entry")
            case (let tcp?, nil):
                target = canaryTCP(tcp).map(ProbeSpec.Target.tcp)
            case (nil, let http?):
                target = webURL(http).map { ProbeSpec.Target.http(HTTPTarget(url: $0)) }
            case (nil, nil):
                report(item, "a connectivity check needs 'tcp: HOST:PORT' or 'http: URL'")
            }
            guard let target else { ok = false; continue }
            entries.append(CanaryEntry(target: target, interval: intervalValue, timeout: timeoutValue, source: location(item)))
        }
        return ok ? entries : []
    }

    /// `host:port` or `[v6]:port`.
    private func canaryTCP(_ field: Field) -> TCPTarget? {
        guard let text = string(field, allowEmpty: false) else { return nil }
        let s = text.value.trimmingSpaces
        var host: Substring
        var port: Substring
        if s.hasPrefix("["), let close = s.firstIndex(of: "]"), s[s.index(after: close)...].hasPrefix(":") {
            host = s[s.index(after: s.startIndex)..<close]
            port = s[s.index(close, offsetBy: 2)...]
        } else if let colon = s.lastIndex(of: ":"), !s[..<colon].contains(":") {
            host = s[..<colon]
            port = s[s.index(after: colon)...]
        } else {
            report(field.key, "'tcp' \(describe(field.value)) must be HOST:PORT, such as 10.0.0.1:53 or [fd00::1]:53")
            return nil
        }
        guard !host.isEmpty, !host.contains(where: { $0.isWhitespace || $0 == "/" }) else {
            report(field.key, "'tcp' \(describe(field.value)) must be HOST:PORT with a host name or address, such as 10.0.0.1:53")
            return nil
        }
        guard let number = Int(port), (1...65535).contains(number) else {
            report(field.key, "'tcp' \(describe(field.value)) has no valid port; write HOST:PORT with a port from 1 to 65535")
            return nil
        }
        return TCPTarget(host: String(host), port: number)
    }
}
