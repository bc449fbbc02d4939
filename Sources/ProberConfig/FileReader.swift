import Foundation
import ProberCore

/// One key of a mapping as written: the key node (where messages point) and its value.
struct Field {
    let name: String
    let key: YAMLNode
    let value: YAMLNode
}

/// A mapping whose keys have been checked against the keys its block allows.
///
/// A list searched from the start, not a dictionary: a block has a handful of keys (13 at most), and hashing
/// them cost more than comparing (see `sameKey`).
struct Fields {
    /// The mapping itself (for "missing key" messages).
    let node: YAMLNode
    /// In the order first written.
    private var all: [Field] = []

    init(node: YAMLNode) { self.node = node }

    subscript(name: String) -> Field? { all.first { sameKey($0.name, name) } }

    mutating func add(_ field: Field, override: Bool) {
        if let i = all.firstIndex(where: { sameKey($0.name, field.name) }) {
            if override { all[i] = field }
        } else {
            all.append(field)
        }
    }
}

/// Whether two keys are the same text. Lengths first: most keys compared differ, and `==` on two strings of
/// different text is a call into the standard library, while a string's length is at hand.
@inline(__always)
func sameKey(_ a: String, _ b: String) -> Bool {
    a.utf8.count == b.utf8.count && a == b
}

extension UInt8 {
    /// An ASCII letter or digit: what names, tokens, keys and plain URLs are checked for on their bytes (Character's
    /// properties cost more than the rest of reading a probe).
    var isASCIILetterOrDigit: Bool {
        (self >= 0x61 && self <= 0x7A) || (self >= 0x41 && self <= 0x5A) || (self >= 0x30 && self <= 0x39)
    }
}

/// A value read from a probe file with where it was written, so later checks can point at it.
struct Located<Value> {
    var value: Value
    var location: SourceLocation
}

/// Walks the nodes of one probe file, collecting every problem instead of stopping at the first.
///
/// Used by one load on one thread.
final class FileReader {
    let path: String
    /// The file's nodes.
    let document: YAMLDocument
    let environment: [String: String]
    private(set) var diagnostics: [Diagnostic] = []
    /// Every value the file took from the environment, in the order read (see `ProbeSpec.secrets`).
    private(set) var secrets: [Secret] = []
    /// Problems found beyond the first `keptDiagnostics`: counted, not kept (a file of 500,000 bad list
    /// entries must not cost 500,000 messages).
    private(set) var omitted = 0
    static let keptDiagnostics = 1_000

    init(path: String, document: YAMLDocument, environment: [String: String]) {
        self.path = path
        self.document = document
        self.environment = environment
    }

    // MARK: Reporting

    func location(_ node: YAMLNode) -> SourceLocation {
        let mark = document.mark(node)
        return SourceLocation(file: path, line: Int(mark.line), column: Int(mark.column))
    }

    func report(_ node: YAMLNode, _ message: String) {
        report(at: location(node), message)
    }

    func report(at location: SourceLocation, _ message: String) {
        guard diagnostics.count < Self.keptDiagnostics else {
            omitted += 1
            return
        }
        diagnostics.append(Diagnostic(location: location, message: message))
    }

    // MARK: Shapes

    /// How a node reads to a person: "a list", "a mapping", "the text 'x'".
    func describe(_ node: YAMLNode) -> String {
        switch document.kind(node) {
        case .mapping: return "a mapping (key: value)"
        case .sequence: return "a list"
        case .scalar:
            if isNull(node) { return "nothing" }
            return "'\(quote(node))'"
        }
    }

    /// Whether a value is YAML's null: a plain `~`, `null`, `Null`, `NULL` or nothing, or a plain scalar tagged `!!null`.
    ///
    /// Files are composed without a resolver (see `YAMLDocument`), so the plain forms are matched here, on the
    /// tag as written (`YAMLDocument.Tag`): `!!str null` is text.
    func isNull(_ node: YAMLNode) -> Bool {
        guard let s = document.scalar(node), s.isPlain else { return false }
        guard s.tag == .none else { return s.tag == .null }
        // YAML 1.1's plain spellings of null, as Yams' default resolver reads them; on the bytes, length first,
        // as nearly every value checked here is not null.
        switch s.count {
        case 0: return true
        case 1: return document.scalar(s, is: "~")
        case 4: return document.scalar(s, is: "null") || document.scalar(s, is: "Null") || document.scalar(s, is: "NULL")
        default: return false
        }
    }

    /// The file's own text of a scalar, shortened for messages. Never a substituted value.
    func quote(_ node: YAMLNode) -> String {
        let text = document.text(node) ?? ""
        let oneLine = text.replacingOccurrences(of: "\n", with: "\\n")
        return oneLine.count > 60 ? String(oneLine.prefix(57)) + "..." : oneLine
    }

    /// Checks that `node` is a mapping whose keys are all in `keys`; reports wrong types and unknown keys
    /// (with "did you mean"). `<<` merge keys are followed; later keys win. Keys that `hints` names get a
    /// hint instead ("belongs under 'http:'"). `what` names the block for messages: "'http'", "a probe" (made only
    /// for a message).
    func fields(_ node: YAMLNode, what: @autoclosure () -> String, keys: [String], hints: [String: String] = [:],
                ignorePrefix: String? = nil) -> Fields? {
        guard let mapping = document.pairs(node) else {
            report(node, "\(what()) must be a mapping (key: value lines), not \(describe(node))")
            return nil
        }
        var result = Fields(node: node)
        var merged: Set<YAMLNode> = []
        collect(mapping, into: &result, merged: &merged, what: what, keys: keys, hints: hints, ignorePrefix: ignorePrefix, override: true)
        return result
    }

    /// `merged`: the mappings merged so far. An alias is the node it names, so a mapping merged twice (a chain
    /// of `<<: [*a, *a]`) is read once: it could add nothing the second time.
    private func collect(_ mapping: YAMLDocument.Pairs, into result: inout Fields, merged: inout Set<YAMLNode>, what: () -> String,
                         keys: [String], hints: [String: String], ignorePrefix: String?, override: Bool) {
        var merges: [YAMLNode] = []
        for (keyNode, value) in mapping {
            guard let scalar = document.scalar(keyNode) else {
                report(keyNode, "keys in \(what()) must be plain names, not \(describe(keyNode))")
                continue
            }
            if scalar.tag == .merge || (scalar.isPlain && document.scalar(scalar, is: "<<")) {
                merges.append(value)
                continue
            }
            let name = document.text(of: scalar)
            if let ignorePrefix, name.hasPrefix(ignorePrefix) { continue }
            if keys.contains(where: { sameKey($0, name) }) {
                result.add(Field(name: name, key: keyNode, value: value), override: override)
            } else if let hint = hints[name] {
                report(keyNode, "unknown key '\(name)' in \(what()); \(hint)")
            } else if let near = Suggest.nearest(to: name, in: keys) {
                report(keyNode, "unknown key '\(name)' in \(what()); did you mean '\(near)'?")
            } else {
                report(keyNode, "unknown key '\(name)' in \(what()); expected one of: \(keys.joined(separator: ", "))")
            }
        }
        // Merged mappings fill in only the keys this mapping did not set itself.
        for merge in merges {
            let sources: [YAMLNode] = document.items(merge).map(Array.init) ?? [merge]
            for source in sources {
                guard let m = document.pairs(source) else {
                    report(source, "'<<' must merge a mapping, not \(describe(source))")
                    continue
                }
                guard merged.insert(source).inserted else { continue }
                collect(m, into: &result, merged: &merged, what: what, keys: keys, hints: hints, ignorePrefix: ignorePrefix,
                        override: false)
            }
        }
    }

    /// Reports each of `required` that `fields` lacks; true when all are present.
    @discardableResult
    func require(_ required: [String], in fields: Fields, what: @autoclosure () -> String) -> Bool {
        var ok = true
        for key in required where fields[key] == nil {
            report(fields.node, "\(what()) is missing required key '\(key)'")
            ok = false
        }
        return ok
    }

    // MARK: Scalars

    /// The text of a scalar value with `${VAR}` substituted. Reports non-scalars, empty values and unset variables.
    func string(_ field: Field, allowEmpty: Bool = true) -> Located<String>? {
        guard let sub = substituted(field) else { return nil }
        if !allowEmpty, sub.value.isEmpty {
            report(field.key, "'\(field.name)' must not be empty")
            return nil
        }
        return Located(value: sub.value, location: location(field.key))
    }

    /// Substituted text plus whether the environment supplied any of it (then it must never be echoed).
    func substituted(_ field: Field) -> Substitution.Result? {
        guard let text = document.text(field.value) else {
            report(field.key, "'\(field.name)' must be a single value, not \(describe(field.value))")
            return nil
        }
        if isNull(field.value) {
            report(field.key, "'\(field.name)' has no value")
            return nil
        }
        let result = Substitution.apply(text, environment: environment)
        secrets.append(contentsOf: result.secrets)
        for problem in result.problems {
            switch problem {
            case .unset(let name):
                report(field.key, "'\(field.name)' uses environment variable '\(name)', which is not set (write ${\(name):-default} for a fallback)")
            case .unterminated:
                report(field.key, "'\(field.name)' has '${' without a closing '}' (write $$ for a literal $)")
            case .badName(let name):
                report(field.key, "'\(field.name)' has '${\(name)}', which is not a variable name (letters, digits and _, not starting with a digit)")
            }
        }
        return result.problems.isEmpty ? result : nil
    }

    func int(_ field: Field, in range: ClosedRange<Int>, meaning: String) -> Located<Int>? {
        guard let text = string(field) else { return nil }
        guard let n = Int(text.value.trimmingSpaces) else {
            report(field.key, "'\(field.name)' must be a whole number (\(meaning)), not \(describe(field.value))")
            return nil
        }
        guard range.contains(n) else {
            let bound = range.upperBound == .max ? "at least \(range.lowerBound)" : "between \(range.lowerBound) and \(range.upperBound)"
            report(field.key, "'\(field.name)' is \(n); it must be \(bound)")
            return nil
        }
        return Located(value: n, location: text.location)
    }

    func bool(_ field: Field) -> Bool? {
        guard let text = string(field) else { return nil }
        switch text.value.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default:
            report(field.key, "'\(field.name)' must be true or false, not \(describe(field.value))")
            return nil
        }
    }

    /// A duration such as `250ms`, `10s`, `5m`, `1h`, `14d`.
    func duration(_ field: Field) -> Located<Duration>? {
        guard let text = string(field) else { return nil }
        if let d = Duration(parsing: text.value) { return Located(value: d, location: text.location) }
        let shown = describe(field.value)
        if Double(text.value.trimmingSpaces) != nil {
            report(field.key, "'\(field.name)' is \(shown), which has no unit; write e.g. \(text.value)s or \(text.value)ms")
        } else {
            report(field.key, "'\(field.name)' is \(shown), which is not a duration; write e.g. 250ms, 10s, 5m, 1h or 14d")
        }
        return nil
    }

    func choice<T: RawRepresentable & CaseIterable>(_ field: Field, _ type: T.Type) -> T? where T.RawValue == String {
        guard let text = string(field) else { return nil }
        if let value = T(rawValue: text.value.lowercased()) { return value }
        let options = T.allCases.map(\.rawValue).joined(separator: ", ")
        report(field.key, "'\(field.name)' is \(describe(field.value)); it must be one of: \(options)")
        return nil
    }

    /// A list; a single value is read as a list of one.
    func list(_ field: Field) -> [YAMLNode] {
        document.items(field.value).map(Array.init) ?? [field.value]
    }

    /// `name: value` pairs (headers), in file order, values substituted.
    func pairs(_ field: Field) -> [(name: String, key: YAMLNode, value: String, fromEnvironment: Bool)]? {
        guard let mapping = document.pairs(field.value) else {
            report(field.key, "'\(field.name)' must be a mapping of names to values, not \(describe(field.value))")
            return nil
        }
        var out: [(String, YAMLNode, String, Bool)] = []
        for (keyNode, value) in mapping {
            guard let name = document.text(keyNode) else {
                report(keyNode, "names in '\(field.name)' must be plain text, not \(describe(keyNode))")
                continue
            }
            guard let sub = substituted(Field(name: name, key: keyNode, value: value)) else { continue }
            out.append((name, keyNode, sub.value, sub.usedEnvironment))
        }
        return out
    }
}
