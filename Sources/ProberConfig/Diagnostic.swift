import ProberCore

/// One problem in the probe files, for the person who wrote them: `path:line:column: message`.
///
/// Messages quote the file's own text, never a value substituted from the environment.
public struct Diagnostic: Error, Sendable, Hashable, CustomStringConvertible {
    /// Where the problem is: the offending key, or line 0 for a problem with a whole file or directory.
    public var location: SourceLocation
    public var message: String

    public init(location: SourceLocation, message: String) {
        self.location = location
        self.message = message
    }

    /// `path:line:column: message`, or `path: message` when the problem has no line (a missing directory).
    public var description: String {
        location.line > 0 ? "\(location): \(message)" : "\(location.file): \(message)"
    }
}

/// The problems found while loading a probes directory, in file order: the first `shownLimit`, and how
/// many more there were.
public struct ConfigErrors: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [Diagnostic]
    /// Problems found but not listed in `diagnostics`.
    public var omitted: Int

    /// The most problems listed; a person fixes the first ones and checks again.
    public static let shownLimit = 100

    public init(diagnostics: [Diagnostic], omitted: Int = 0) {
        self.diagnostics = diagnostics
        self.omitted = omitted
    }

    /// Every problem found, listed or not.
    public var count: Int { diagnostics.count + omitted }

    /// One diagnostic per line, then how many more were found, if any.
    public var description: String {
        var lines = diagnostics.map(\.description)
        if omitted > 0 { lines.append("... and \(omitted) more problem\(omitted == 1 ? "" : "s")") }
        return lines.joined(separator: "\n")
    }
}
