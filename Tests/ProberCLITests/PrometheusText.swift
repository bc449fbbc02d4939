import Foundation

/// A strict reader of the Prometheus text exposition format 0.0.4, for tests: anything a scraper could
/// reject or misread is an error, with the line it is on.
///
/// Checks: `# HELP` / `# TYPE` syntax and order (at most one each per family, TYPE before the family's
/// samples), metric and label name charsets, label value escapes, float syntax, no duplicate series, each
/// family's samples in one group, counters non-negative, and for histograms: `le` on every bucket, bounds
/// increasing, counts non-decreasing, a `+Inf` bucket equal to `_count`, and a `_sum`.
struct PrometheusText {
    struct Sample: Equatable {
        var name: String
        var labels: [String: String]
        var value: Double
    }

    struct Family {
        var name: String
        var type: String = "untyped"
        var help: String?
        var samples: [Sample] = []
    }

    struct ParseError: Error, CustomStringConvertible {
        var line: Int
        var message: String
        var text: String
        var description: String { "line \(line): \(message): \(text)" }
    }

    private(set) var families: [String: Family] = [:]
    /// Families in the order they appeared.
    private(set) var order: [String] = []

    subscript(name: String) -> Family? { families[name] }

    /// The samples named `name` (a family name, or `x_bucket` etc.) whose labels include `labels`.
    func samples(_ name: String, _ labels: [String: String] = [:]) -> [Sample] {
        families.values.flatMap(\.samples).filter { s in
            s.name == name && labels.allSatisfy { s.labels[$0.key] == $0.value }
        }
    }

    static let types: Set<String> = ["counter", "gauge", "histogram", "summary", "untyped"]

    init(parsing text: String) throws {
        guard text.hasSuffix("\n") else { throw ParseError(line: 0, message: "the body must end with a newline", text: "") }
        guard !text.contains("\r") else { throw ParseError(line: 0, message: "carriage return in the body", text: "") }
        var current: String? = nil // the family whose samples are being read
        var closed: Set<String> = [] // families whose group has ended
        var seenSeries: Set<String> = []
        var typed: Set<String> = []
        for (index, line) in text.dropLast().split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let number = index + 1
            func fail(_ message: String) -> ParseError { ParseError(line: number, message: message, text: String(line)) }
            if line.isEmpty { continue }
            if line.hasPrefix("#") {
                let parts = line.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false)
                guard parts.count >= 3, parts[0] == "#", parts[1] == "HELP" || parts[1] == "TYPE" else { continue } // a comment
                let name = String(parts[2])
                guard Self.isMetricName(name) else { throw fail("bad metric name '\(name)'") }
                if closed.contains(name) { throw fail("\(name) appears again after its group ended") }
                if let c = current, c != name {
                    closed.insert(c)
                    current = nil
                }
                var family = families[name] ?? Family(name: name)
                if families[name] == nil { order.append(name) }
                if parts[1] == "HELP" {
                    guard family.help == nil else { throw fail("second HELP for \(name)") }
                    let help = parts.count == 4 ? String(parts[3]) : ""
                    family.help = try Self.unescape(help, quotes: false).orThrow(fail("bad escape in HELP"))
                } else {
                    guard parts.count == 4, Self.types.contains(String(parts[3])) else { throw fail("bad TYPE") }
                    guard family.samples.isEmpty else { throw fail("TYPE after samples of \(name)") }
                    guard typed.insert(name).inserted else { throw fail("second TYPE for \(name)") }
                    family.type = String(parts[3])
                }
                families[name] = family
                current = name
                continue
            }
            let sample = try Self.sample(line).orThrow(fail("malformed sample"))
            let familyName = family(of: sample.name)
            if closed.contains(familyName) { throw fail("\(familyName) appears again after its group ended") }
            if let c = current, c != familyName {
                closed.insert(c)
            }
            current = familyName
            if families[familyName] == nil {
                families[familyName] = Family(name: familyName)
                order.append(familyName)
            }
            let key = sample.name + "{" + sample.labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",") + "}"
            guard seenSeries.insert(key).inserted else { throw fail("duplicate series \(key)") }
            let type = families[familyName]!.type
            if type == "counter", !(sample.value >= 0) { throw fail("negative or NaN counter") }
            if type == "histogram" {
                guard [familyName + "_bucket", familyName + "_sum", familyName + "_count"].contains(sample.name) else {
                    throw fail("\(sample.name) is not a histogram series of \(familyName)")
                }
                if sample.name.hasSuffix("_bucket") {
                    guard let le = sample.labels["le"], Self.float(le) != nil else { throw fail("bucket without a float 'le'") }
                } else if sample.labels["le"] != nil {
                    throw fail("'le' outside a bucket")
                }
            } else if sample.name != familyName {
                throw fail("\(sample.name) does not belong to the \(type) family \(familyName)")
            }
            families[familyName]!.samples.append(sample)
        }
        for family in families.values where family.type == "histogram" { try Self.checkHistogram(family) }
    }

    /// The family a sample belongs to: a declared histogram or summary when the name has its suffix.
    private func family(of sampleName: String) -> String {
        for suffix in ["_bucket", "_sum", "_count"] where sampleName.hasSuffix(suffix) {
            let base = String(sampleName.dropLast(suffix.count))
            if let f = families[base], f.type == "histogram" || f.type == "summary" { return base }
        }
        return sampleName
    }

    private static func checkHistogram(_ family: Family) throws {
        func fail(_ message: String) -> ParseError { ParseError(line: 0, message: "\(family.name): \(message)", text: "") }
        var groups: [[String: String]: [Sample]] = [:]
        for s in family.samples {
            var key = s.labels
            key["le"] = nil
            groups[key, default: []].append(s)
        }
        for (labels, samples) in groups {
            let buckets = samples.filter { $0.name == family.name + "_bucket" }
            guard let count = samples.first(where: { $0.name == family.name + "_count" }) else { throw fail("no _count for \(labels)") }
            guard samples.contains(where: { $0.name == family.name + "_sum" }) else { throw fail("no _sum for \(labels)") }
            guard let inf = buckets.last, inf.labels["le"] == "+Inf" else { throw fail("the last bucket is not le=\"+Inf\"") }
            guard inf.value == count.value else { throw fail("+Inf bucket \(inf.value) != _count \(count.value)") }
            var lastBound = -Double.infinity, lastCount = 0.0
            for b in buckets {
                let bound = float(b.labels["le"]!)!
                guard bound > lastBound else { throw fail("bucket bounds not increasing at le=\(b.labels["le"]!)") }
                guard b.value >= lastCount else { throw fail("bucket counts decrease at le=\(b.labels["le"]!)") }
                lastBound = bound
                lastCount = b.value
            }
        }
    }

    static func isMetricName(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, first.isASCIILetter || first == "_" || first == ":" else { return false }
        return s.unicodeScalars.allSatisfy { $0.isASCIILetter || $0.isASCIIDigit || $0 == "_" || $0 == ":" }
    }

    static func isLabelName(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, first.isASCIILetter || first == "_", !s.hasPrefix("__") else { return false }
        return s.unicodeScalars.allSatisfy { $0.isASCIILetter || $0.isASCIIDigit || $0 == "_" }
    }

    /// Go's ParseFloat as Prometheus uses it, minus hex and underscores: decimal, NaN, ±Inf.
    static func float(_ s: String) -> Double? {
        switch s {
        case "NaN": return .nan
        case "+Inf", "Inf": return .infinity
        case "-Inf": return -.infinity
        default: break
        }
        let pattern = #"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$"#
        guard s.range(of: pattern, options: .regularExpression) != nil else { return nil }
        return Double(s)
    }

    /// `name{a="x",b="y"} value [timestamp]`
    static func sample<S: StringProtocol>(_ line: S) -> Sample? {
        let chars = Array(line.unicodeScalars)
        var i = 0
        var name = ""
        while i < chars.count, chars[i] != "{", chars[i] != " " {
            name.unicodeScalars.append(chars[i])
            i += 1
        }
        guard isMetricName(name), i < chars.count else { return nil }
        var labels: [String: String] = [:]
        if chars[i] == "{" {
            i += 1
            while true {
                guard i < chars.count else { return nil }
                if chars[i] == "}" { i += 1; break }
                var label = ""
                while i < chars.count, chars[i] != "=" {
                    label.unicodeScalars.append(chars[i])
                    i += 1
                }
                guard isLabelName(label), i + 1 < chars.count, chars[i + 1] == "\"" else { return nil }
                i += 2
                var raw = ""
                while i < chars.count, chars[i] != "\"" {
                    if chars[i] == "\\" {
                        guard i + 1 < chars.count else { return nil }
                        raw.unicodeScalars.append(chars[i])
                        i += 1
                    }
                    raw.unicodeScalars.append(chars[i])
                    i += 1
                }
                guard i < chars.count, let value = unescape(raw, quotes: true), labels[label] == nil else { return nil }
                labels[label] = value
                i += 1
                guard i < chars.count else { return nil }
                if chars[i] == "," { i += 1 } else if chars[i] != "}" { return nil }
            }
        }
        guard i < chars.count, chars[i] == " " else { return nil }
        let rest = String(String.UnicodeScalarView(chars[(i + 1)...])).split(separator: " ", omittingEmptySubsequences: false)
        guard rest.count == 1 || (rest.count == 2 && Int64(rest[1]) != nil), let value = float(String(rest[0])) else { return nil }
        return Sample(name: name, labels: labels, value: value)
    }

    /// Resolves `\\`, `\n` (and `\"` in label values); any other escape is an error.
    static func unescape(_ s: String, quotes: Bool) -> String? {
        var out = ""
        var escaping = false
        for c in s.unicodeScalars {
            if escaping {
                switch c {
                case "\\": out += "\\"
                case "n": out += "\n"
                case "\"" where quotes: out += "\""
                default: return nil
                }
                escaping = false
            } else if c == "\\" {
                escaping = true
            } else {
                if c == "\n" || (quotes && c == "\"") { return nil }
                out.unicodeScalars.append(c)
            }
        }
        return escaping ? nil : out
    }
}

private extension Optional {
    func orThrow(_ error: @autoclosure () -> some Error) throws -> Wrapped {
        guard let self else { throw error() }
        return self
    }
}

private extension Unicode.Scalar {
    var isASCIILetter: Bool { ("a"..."z").contains(self) || ("A"..."Z").contains(self) }
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
