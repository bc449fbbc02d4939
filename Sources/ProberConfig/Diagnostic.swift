import ProberCore

/// One problem in the probe files, for the person who wrote them: `path:line:column: message`.
///
/// Messages quote the file's own text, never a value substituted from the environment.
public struct Diagnostic: Error, Sendable, Equatable, CustomStringConvertible {
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

/// Every problem found while loading a probes directory, in file order.
public struct ConfigErrors: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [Diagnostic]

    public init(diagnostics: [Diagnostic]) { self.diagnostics = diagnostics }

    /// One diagnostic per line.
    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}
