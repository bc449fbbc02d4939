import ProberCore

/// `incident:` settings as written: each key optional, so a probe's block can overlay the file's defaults.
struct IncidentSettings {
    var serviceID: Located<Int>?
    var title: Located<String>?
    var window: Located<Int>?
    /// `Located(nil)` is an explicit `latency: none`.
    var minorLatency: Located<Duration?>?
    var minorFailures: Located<Int?>?
    var majorLatency: Located<Duration?>?
    var majorFailures: Located<Int?>?
    var holdFor: Located<Duration>?
    var resolveAfter: Located<Duration>?
    var quorum: Located<Quorum>?
    /// `latency: auto` in `minor` / `major` (true), a number or `none` (false); nil when not written.
    var minorAuto: Located<Bool>?
    var majorAuto: Located<Bool>?
    /// The `auto:` block's keys (ProbeFile+Auto.swift).
    var auto = AutoSettings()
    var group: Located<IncidentGrouping>?
    /// False when any key failed to read (the probe is then dropped, its problem already reported).
    var valid = true

    /// These settings with every key `other` sets replaced by `other`'s.
    func overlaid(by other: IncidentSettings) -> IncidentSettings {
        IncidentSettings(
            serviceID: other.serviceID ?? serviceID, title: other.title ?? title, window: other.window ?? window,
            minorLatency: other.minorLatency ?? minorLatency, minorFailures: other.minorFailures ?? minorFailures,
            majorLatency: other.majorLatency ?? majorLatency, majorFailures: other.majorFailures ?? majorFailures,
            holdFor: other.holdFor ?? holdFor, resolveAfter: other.resolveAfter ?? resolveAfter,
            quorum: other.quorum ?? quorum, minorAuto: other.minorAuto ?? minorAuto, majorAuto: other.majorAuto ?? majorAuto,
            auto: auto.overlaid(by: other.auto), group: other.group ?? group, valid: valid && other.valid)
    }
}

extension FileReader {
    func readIncident(_ field: Field) -> IncidentSettings {
        var s = IncidentSettings()
        guard let f = fields(field.value, what: "'incident'", keys: Keys.incident) else {
            s.valid = false
            return s
        }
        func need<T>(_ value: T?) -> T? { if value == nil { s.valid = false }; return value }
        if let field = f["service_id"] {
            s.serviceID = need(int(field, in: 1...Int.max, meaning: "the IsDown service id"))
        }
        if let field = f["title"] { s.title = need(string(field, allowEmpty: false)) }
        if let field = f["window"] { s.window = need(int(field, in: 1...10_000, meaning: "the number of recent checks")) }
        if let field = f["for"] { s.holdFor = need(duration(field)) }
        if let field = f["resolve_after"] { s.resolveAfter = need(duration(field)) }
        if let field = f["quorum"] { s.quorum = need(quorum(field)) }
        if let field = f["auto"] { s.auto = readAuto(field); if !s.auto.valid { s.valid = false } }
        if let field = f["group"] { s.group = need(group(field)) }
        for level in Self.levels {
            guard let field = f[level] else { continue }
            guard let t = fields(field.value, what: "'\(level)'", keys: Keys.threshold) else { s.valid = false; continue }
            var latency: Located<Duration?>?
            var failures: Located<Int?>?
            var auto: Located<Bool>?
            if let field = t["latency"] {
                auto = Located(value: isAuto(field.value), location: location(field.key))
                if isAuto(field.value) {
                    latency = Located(value: nil, location: location(field.key))
                } else if isNone(field.value) {
                    latency = Located(value: nil, location: location(field.key))
                } else if let d = need(duration(field)) {
                    if d.value <= .zero {
                        report(field.key, "'latency' must be longer than 0 (write 'none' for no latency threshold, 'auto' for an automatic one)")
                        s.valid = false
                    } else {
                        latency = Located(value: d.value, location: d.location)
                    }
                }
            }
            if let field = t["failures"] {
                if isNone(field.value) {
                    failures = Located(value: nil, location: location(field.key))
                } else if let n = need(int(field, in: 1...10_000, meaning: "failed checks in the window")) {
                    failures = Located(value: n.value, location: n.location)
                }
            }
            if level == "minor" {
                s.minorLatency = latency
                s.minorFailures = failures
                s.minorAuto = auto
            } else {
                s.majorLatency = latency
                s.majorFailures = failures
                s.majorAuto = auto
            }
        }
        return s
    }

    private static let levels = ["minor", "major"]

    /// `2`, `50%` or `majority`: how many locations must see a degradation (see `Quorum`).
    private func quorum(_ field: Field) -> Located<Quorum>? {
        guard let text = string(field) else { return nil }
        if let q = Quorum(parsing: text.value) { return Located(value: q, location: text.location) }
        report(field.key, "'\(field.name)' is \(describe(field.value)); write a number of locations (2), a share of them (50%) or majority")
        return nil
    }

    /// `group: NAME` (1-100 characters, no control characters: it names the shared incident), or `none` (`off`).
    private func group(_ field: Field) -> Located<IncidentGrouping>? {
        if isNone(field.value) { return Located(value: IncidentGrouping.none, location: location(field.key)) }
        guard let text = string(field, allowEmpty: false) else { return nil }
        guard text.value.count <= 100, !text.value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            report(field.key, "'group' must be a name of 1 to 100 characters without control characters (it names the incident the group's probes share), or none")
            return nil
        }
        return Located(value: .named(text.value), location: text.location)
    }

    private func isNone(_ node: YAMLNode) -> Bool {
        isNull(node) || document.isWord(node, "none") || document.isWord(node, "off")
    }

    /// Applies the settings over the built-in defaults and checks the levels against each other.
    /// `fallback` is where to point when the problem lies with a built-in default.
    func resolveIncident(_ s: IncidentSettings, fallback: SourceLocation) -> IncidentPolicy? {
        var policy = IncidentPolicy()
        if let v = s.serviceID { policy.serviceID = v.value }
        if let v = s.title { policy.title = v.value }
        if let v = s.window { policy.window = v.value }
        if let v = s.minorLatency { policy.minor.latency = v.value }
        if let v = s.minorFailures { policy.minor.failures = v.value }
        if let v = s.majorLatency { policy.major.latency = v.value }
        if let v = s.majorFailures { policy.major.failures = v.value }
        if let v = s.holdFor { policy.holdFor = v.value }
        if let v = s.resolveAfter { policy.resolveAfter = v.value }
        if let v = s.quorum { policy.quorum = v.value }
        if let v = s.minorAuto { policy.minor.autoLatency = v.value }
        if let v = s.majorAuto { policy.major.autoLatency = v.value }
        if let v = s.group { policy.grouping = v.value }
        var ok = resolveAuto(s, into: &policy)

        func origin<T>(_ v: Located<T>?) -> String { v == nil ? ", the default" : "" }
        if let minor = policy.minor.latency, let major = policy.major.latency, minor >= major {
            report(at: s.minorLatency?.location ?? s.majorLatency?.location ?? fallback,
                   "minor latency (\(Human.duration(minor))\(origin(s.minorLatency))) must be below major latency (\(Human.duration(major))\(origin(s.majorLatency)))")
            ok = false
        }
        if let minor = policy.minor.failures, let major = policy.major.failures, minor >= major {
            report(at: s.minorFailures?.location ?? s.majorFailures?.location ?? fallback,
                   "minor failures (\(minor)\(origin(s.minorFailures))) must be below major failures (\(major)\(origin(s.majorFailures)))")
            ok = false
        }
        for (level, failures, located) in [("minor", policy.minor.failures, s.minorFailures),
                                           ("major", policy.major.failures, s.majorFailures)] {
            if let failures, failures > policy.window {
                report(at: located?.location ?? s.window?.location ?? fallback,
                       "\(level) failures (\(failures)\(origin(located))) cannot exceed the window of \(policy.window) checks\(origin(s.window))")
                ok = false
            }
        }
        return ok && s.valid ? policy : nil
    }
}
