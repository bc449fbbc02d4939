import Foundation

/// A compiled `body_matches` pattern: ICU syntax through `NSRegularExpression`, the one engine that both
/// `prober check` validates with and the probes match with, so a pattern the check accepts never fails a
/// check as invalid.
///
/// ICU backtracks: a pattern such as `(x+x+)+y` takes exponential time on a body of x's. `firstMatch` asks
/// `expired` each time ICU reports progress (thousands of times a second) and gives up when it says so,
/// which bounds a match by the check's own timeout and frees the thread.
public struct BodyPattern: @unchecked Sendable { // Safe: an NSRegularExpression is immutable and thread-safe.
    /// The pattern as written in the probe file.
    public let pattern: String
    private let regex: NSRegularExpression

    /// Compiles `pattern`; throws when ICU rejects it.
    public init(_ pattern: String) throws {
        self.pattern = pattern
        regex = try NSRegularExpression(pattern: pattern)
    }

    public enum Outcome: Sendable, Equatable {
        case match
        case noMatch
        /// `expired` returned true before the search ended: whether the text matches is unknown.
        case gaveUp
    }

    /// Whether `text` contains a match, giving up as soon as `expired` returns true.
    public func firstMatch(in text: String, expired: () -> Bool) -> Outcome {
        var outcome = Outcome.noMatch
        let range = NSRange(location: 0, length: (text as NSString).length)
        // .reportProgress makes ICU call back during the search, not only per match. The block is declared
        // escaping on Linux but is only called before enumerateMatches returns.
        withoutActuallyEscaping(expired) { expired in
            regex.enumerateMatches(in: text, options: [.reportProgress], range: range) { match, _, stop in
                if match != nil {
                    outcome = .match
                    stop.pointee = true
                } else if expired() {
                    outcome = .gaveUp
                    stop.pointee = true
                }
            }
        }
        return outcome
    }
}
