import Foundation
import ProberCore
#if canImport(Glibc)
import Glibc
#endif

/// Colour for states in the text output, following https://no-color.org: only when standard output is a
/// terminal and `NO_COLOR` is not set (whatever its value). The state's word is always printed: colour
/// only repeats it, for a reader scanning a long table.
enum Terminal {
    /// Whether this process writes colour: decided once, from where stdout goes when it starts.
    static let colours: Bool = isatty(STDOUT_FILENO) == 1 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil

    /// The ANSI colours used (SGR foreground codes), from the terminal's own palette so they suit light and
    /// dark themes alike.
    enum Colour: String {
        case green = "32", yellow = "33", red = "31", cyan = "36"
    }

    /// `text` in `colour` when colours are on, else `text` unchanged.
    static func paint(_ text: String, _ colour: Colour?) -> String {
        guard colours, let colour else { return text }
        return "\u{1B}[\(colour.rawValue)m\(text)\u{1B}[0m"
    }

    /// Healthy green, degraded (minor) yellow, degraded (major) and failing red, recovering cyan.
    static func colour(of state: ProbeState) -> Colour? {
        switch state {
        case .unknown: nil
        case .healthy, .learning: .green
        case .failing, .degraded(.major): .red
        case .degraded(.minor): .yellow
        case .recovering: .cyan
        }
    }

    /// An incident's severity while it is open: minor yellow, major red.
    static func colour(of severity: Severity) -> Colour {
        severity == .major ? .red : .yellow
    }

    /// How many columns `text` takes on a terminal: its characters without the colour sequences.
    static func width(_ text: String) -> Int {
        // A byte search: `contains("\u{1B}")` went through Foundation's `range(of:)`, 5 % of `history`'s instructions.
        guard text.utf8.contains(0x1B) else { return text.count }
        return text.replacingOccurrences(of: "\u{1B}\\[[0-9;]*m", with: "", options: .regularExpression).count
    }
}
