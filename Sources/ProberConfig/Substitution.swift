import ProberCore

/// `${VAR}` substitution in probe file values.
///
/// `${VAR}` is the variable's value (an error when unset), `${VAR:-default}` falls back to `default` when
/// the variable is unset or empty, `$$` is a literal `$`. Any other `$` is kept as written.
enum Substitution {
    enum Problem: Equatable {
        /// The variable is not set and has no default. Carries only the name, never a value.
        case unset(String)
        case unterminated
        case badName(String)
    }

    struct Result {
        var value: String
        /// True when any part of `value` came from the environment (so it must never be shown).
        var usedEnvironment: Bool
        var problems: [Problem]
        /// Each value taken from the environment with its variable's name, so it can be shown as `${NAME}`.
        var secrets: [Secret] = []
    }

    static func apply(_ text: String, environment: [String: String]) -> Result {
        // On the bytes: `contains("$")` finds Foundation's string search here, tens of times slower; and on
        // their buffer, not through `String.UTF8View`'s index.
        let dollar = UInt8(ascii: "$")
        guard text.utf8.withContiguousStorageIfAvailable({ $0.contains(dollar) }) ?? text.utf8.contains(dollar) else {
            return Result(value: text, usedEnvironment: false, problems: [])
        }
        var out = ""
        var used = false
        var problems: [Problem] = []
        var secrets: [Secret] = []
        var i = text.startIndex
        while i < text.endIndex {
            let c = text[i]
            let next = text.index(after: i)
            guard c == "$", next < text.endIndex else { out.append(c); i = next; continue }
            if text[next] == "$" { out.append("$"); i = text.index(after: next); continue }
            guard text[next] == "{" else { out.append(c); i = next; continue }
            let bodyStart = text.index(after: next)
            guard let close = text[bodyStart...].firstIndex(of: "}") else {
                problems.append(.unterminated)
                out.append(contentsOf: text[i...])
                break
            }
            let body = text[bodyStart..<close]
            let name: Substring, fallback: Substring?
            if let sep = body.range(of: ":-") {
                name = body[..<sep.lowerBound]
                fallback = body[sep.upperBound...]
            } else {
                name = body
                fallback = nil
            }
            if !isValidName(name) {
                problems.append(.badName(String(name)))
            } else if let value = environment[String(name)], !(fallback != nil && value.isEmpty) {
                out.append(value)
                used = true
                secrets.append(Secret(name: String(name), value: value))
            } else if let fallback {
                out.append(contentsOf: fallback)
            } else {
                problems.append(.unset(String(name)))
            }
            i = text.index(after: close)
        }
        return Result(value: out, usedEnvironment: used, problems: problems, secrets: secrets)
    }

    private static func isValidName(_ name: Substring) -> Bool {
        guard let first = name.first, first == "_" || (first.isASCII && first.isLetter) else { return false }
        return name.allSatisfy { $0 == "_" || ($0.isASCII && ($0.isLetter || $0.isNumber)) }
    }
}
