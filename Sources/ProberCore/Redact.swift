import Foundation

/// Making targets safe to show: descriptions, logs and the database never carry secrets.
public enum Redact {
    /// The URL without user info, query string or fragment: `https://u:p@h/x?token=1` -> `https://h/x`.
    public static func url(_ url: String) -> String {
        var s = Substring(url)
        if let q = s.firstIndex(where: { $0 == "?" || $0 == "#" }) { s = s[..<q] }
        guard let schemeEnd = s.range(of: "://") else { return String(s) }
        let afterScheme = s[schemeEnd.upperBound...]
        let authorityEnd = afterScheme.firstIndex(of: "/") ?? afterScheme.endIndex
        let authority = afterScheme[..<authorityEnd]
        if let at = authority.lastIndex(of: "@") {
            return String(s[..<schemeEnd.upperBound]) + authority[authority.index(after: at)...] + afterScheme[authorityEnd...]
        }
        return String(s)
    }

    /// `text` with every secret's value replaced by its `${NAME}`, however short the value.
    ///
    /// Also replaced: the value percent-encoded (as it appears in URLs libcurl reports), and a value cut
    /// short right before `…` (as the excerpts in failure messages cut long text), so no prefix of a
    /// secret survives a truncation.
    public static func text(_ text: String, hiding secrets: [Secret]) -> String {
        guard !secrets.isEmpty, !text.isEmpty else { return text }
        var out = text
        // Longest first: a value that contains another is replaced whole.
        for secret in secrets.sorted(by: { $0.value.count > $1.value.count }) where !secret.value.isEmpty {
            out = out.replacingOccurrences(of: secret.value, with: secret.placeholder)
            if let encoded = secret.value.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed), encoded != secret.value {
                out = out.replacingOccurrences(of: encoded, with: secret.placeholder)
            }
            let escaped = excerptEscaped(secret.value.utf8)
            if escaped != secret.value { out = out.replacingOccurrences(of: escaped, with: secret.placeholder) }
        }
        return hidingTruncated(out, secrets)
    }

    /// Printable text for bytes a target sent, as failure messages quote them: `\n`, `\r`, `\t`, printable
    /// ASCII as is, any other byte as `\xNN`. Redaction matches secrets in this form too.
    public static func excerptEscaped(_ bytes: some Sequence<UInt8>) -> String {
        var out = ""
        for b in bytes {
            switch b {
            case 0x0A: out += "\\n"
            case 0x0D: out += "\\r"
            case 0x09: out += "\\t"
            case 0x20...0x7E: out.unicodeScalars.append(Unicode.Scalar(b))
            default:
                let hex = String(b, radix: 16)
                out += "\\x" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        return out
    }

    /// Replaces a secret's prefix that ends where an excerpt was cut (`…`).
    private static func hidingTruncated(_ text: String, _ secrets: [Secret]) -> String {
        guard text.contains("…") else { return text }
        var out = text
        for secret in secrets where secret.value.count > 1 {
            let value = Array(excerptEscaped(secret.value.utf8))
            for length in stride(from: value.count - 1, through: 1, by: -1) {
                let cut = String(value[..<length]) + "…"
                if out.contains(cut) { out = out.replacingOccurrences(of: cut, with: secret.placeholder + "…") }
            }
        }
        return out
    }
}

/// A value a probe file took from the environment with `${NAME}`: shown, stored and sent only as `${NAME}`.
public struct Secret: Sendable, Hashable {
    /// The environment variable's name.
    public var name: String
    /// Its value. Never print, log or store it.
    public var value: String
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }

    /// What is shown instead of the value: `${NAME}`.
    public var placeholder: String { "${\(name)}" }
}

extension Secret: CustomStringConvertible, CustomDebugStringConvertible {
    /// Interpolating a secret shows its placeholder, never its value.
    public var description: String { placeholder }
    public var debugDescription: String { placeholder }
}

extension Sample {
    /// The sample with every secret's value in its failure message replaced by `${NAME}`, and its remote
    /// address too when it is a secret (a `host: ${DB_ADDRESS}` written as an address).
    public func hiding(_ secrets: [Secret]) -> Sample {
        guard !secrets.isEmpty else { return self }
        var copy = self
        if let failure { copy.failure = Failure(failure.reason, Redact.text(failure.message, hiding: secrets)) }
        if let address = remoteAddress, let secret = secrets.first(where: { $0.value == address }) {
            copy.remoteAddress = secret.placeholder
        }
        return copy
    }
}
