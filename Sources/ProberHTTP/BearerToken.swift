import Foundation

/// The token `--listen-token-file` holds. It never prints: `description` and `debugDescription` say only
/// that a token is set, so a configuration logged or an error interpolated cannot leak it.
public struct BearerToken: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    private let bytes: [UInt8]

    /// Nil for an empty token (a file holding only whitespace must not mean "any empty header passes").
    public init?(_ text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { return nil }
        bytes = Array(trimmed.utf8)
    }

    /// The first line of `path`, trimmed; nil when it is empty. Throws when the file cannot be read; the error
    /// names the path only.
    public static func read(path: String) throws -> BearerToken? {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw HTTPListenerError("cannot read the listen token file \(path)")
        }
        let text = String(decoding: data, as: UTF8.self)
        return BearerToken(text.split(whereSeparator: \.isNewline).first.map(String.init) ?? "")
    }

    /// Whether an `Authorization` header value is `Bearer <this token>`. The comparison takes the same time
    /// for every value of the same length, wherever it differs (no early exit to time a guess by).
    public func authorizes(_ authorization: String?) -> Bool {
        guard let authorization else { return false }
        let scheme = "bearer "
        guard authorization.count > scheme.count, authorization.prefix(scheme.count).lowercased() == scheme else { return false }
        let offered = Array(authorization.utf8.dropFirst(scheme.utf8.count))
        var difference = UInt8(offered.count == bytes.count ? 0 : 1)
        for i in 0..<bytes.count {
            difference |= bytes[i] ^ (i < offered.count ? offered[i] : 0)
        }
        return difference == 0
    }

    public var description: String { "(a bearer token)" }
    public var debugDescription: String { description }
}
