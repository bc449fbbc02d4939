import ProberCore

/// `incident.auto:` as written: `{ minor: 3x, major: 10x, minor_floor: 50ms, major_floor: 500ms }`, each key
/// optional, so a probe's block can overlay the file's defaults key by key.
struct AutoSettings {
    var minorFactor: Located<Double>?
    var majorFactor: Located<Double>?
    var minorFloor: Located<Duration>?
    var majorFloor: Located<Duration>?
    /// Where the block was written (for problems with it as a whole).
    var location: SourceLocation?
    var valid = true

    func overlaid(by other: AutoSettings) -> AutoSettings {
        AutoSettings(minorFactor: other.minorFactor ?? minorFactor, majorFactor: other.majorFactor ?? majorFactor,
                     minorFloor: other.minorFloor ?? minorFloor, majorFloor: other.majorFloor ?? majorFloor,
                     location: other.location ?? location, valid: valid && other.valid)
    }
}

extension FileReader {
    /// `latency: auto`.
    func isAuto(_ node: YAMLNode) -> Bool {
        document.isWord(node, "auto")
    }

    func readAuto(_ field: Field) -> AutoSettings {
        var s = AutoSettings(location: location(field.key))
        let hints = ["floor": "write minor_floor and/or major_floor (the least rise above the usual p95 for each level)"]
        guard let f = fields(field.value, what: "'auto'", keys: Keys.auto, hints: hints) else {
            s.valid = false
            return s
        }
        func need<T>(_ value: T?) -> T? { if value == nil { s.valid = false }; return value }
        if let field = f["minor"] { s.minorFactor = need(factor(field)) }
        if let field = f["major"] { s.majorFactor = need(factor(field)) }
        if let field = f["minor_floor"] { s.minorFloor = need(duration(field)) }
        if let field = f["major_floor"] { s.majorFloor = need(duration(field)) }
        return s
    }

    /// `3x`, `3×` or `3`: how many times the usual p95; above 1 and at most 1,000.
    private func factor(_ field: Field) -> Located<Double>? {
        guard let text = string(field) else { return nil }
        var digits = text.value.trimmingSpaces.lowercased()
        if digits.hasSuffix("x") || digits.hasSuffix("×") { digits.removeLast() }
        guard let value = Double(digits.trimmingSpaces), value.isFinite else {
            report(field.key, "'\(field.name)' is \(describe(field.value)); write a factor of the usual p95 such as 3x")
            return nil
        }
        guard value > 1, value <= 1_000 else {
            report(field.key, "'\(field.name)' is \(text.value); a factor of the usual p95 must be above 1x and at most 1000x")
            return nil
        }
        return Located(value: value, location: text.location)
    }

    /// Applies `auto:` over the defaults and checks it against the levels; false when a problem was reported.
    func resolveAuto(_ s: IncidentSettings, into policy: inout IncidentPolicy) -> Bool {
        let a = s.auto
        if let v = a.minorFactor { policy.auto.minorFactor = v.value }
        if let v = a.majorFactor { policy.auto.majorFactor = v.value }
        if let v = a.minorFloor { policy.auto.minorFloor = v.value }
        if let v = a.majorFloor { policy.auto.majorFloor = v.value }
        guard policy.minor.autoLatency, policy.major.autoLatency else { return true }
        var ok = true
        let auto = policy.auto
        if auto.minorFactor >= auto.majorFactor, let at = a.minorFactor?.location ?? a.majorFactor?.location {
            report(at: at, "auto minor factor (\(AutoEvidence.ratio(auto.minorFactor))) must be below auto major factor (\(AutoEvidence.ratio(auto.majorFactor)))")
            ok = false
        }
        if auto.minorFloor > auto.majorFloor, let at = a.minorFloor?.location ?? a.majorFloor?.location {
            report(at: at, "auto minor_floor (\(Human.duration(auto.minorFloor))) must not be above auto major_floor (\(Human.duration(auto.majorFloor)))")
            ok = false
        }
        return ok
    }
}
