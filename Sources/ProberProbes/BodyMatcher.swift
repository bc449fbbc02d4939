import Dispatch
import Foundation
import ProberCore

/// Checks `body_matches` off the engine thread, then calls the check's completion on the matching thread.
///
/// Swift `Regex` took ~50 ms to scan a 1 MiB body that does not match (measured here): on the engine thread
/// that would stall every other transfer and inflate their timings and timeouts. Each match runs on a thread
/// of its own and gives up at the check's deadline (`BodyPattern` is ICU, which backtracks), so a
/// pathological pattern costs at most its own timeout and never holds up another probe's match. A thread,
/// not a Dispatch queue: a serial queue would put every match behind a pathological one, and a concurrent
/// queue's work waits for a free pool thread while the pool is busy. Patterns are compiled once and cached
/// by their text.
final class BodyMatcher: Sendable {
    private let cache = LockedCache()

    /// Matches `body` against `pattern` before `deadline` (monotonic µs, `monotonicMicros()`).
    func check(_ sample: Sample, body: [UInt8], pattern: String, scope: String, deadline: Int64,
               timeout: Duration, completion: @escaping @Sendable (Sample) -> Void) {
        let thread = Thread { [cache] in
            var sample = sample
            if let compiled = cache.pattern(pattern) {
                let text = String(decoding: body, as: UTF8.self)
                switch compiled.firstMatch(in: text, expired: { monotonicMicros() >= deadline }) {
                case .match: break
                case .noMatch:
                    sample.failure = Failure(.bodyMismatch, "body does not match /\(pattern)/" + scope)
                case .gaveUp:
                    sample.failure = Failure(.timeout,
                        "body_matches gave up at the timeout (\(Human.duration(timeout)))")
                }
            } else {
                sample.failure = Failure(.other, "body_matches is not a valid regular expression")
            }
            completion(sample)
        }
        thread.name = "prober.body-matches"
        thread.start()
    }
}

/// Compiled patterns by their text, shared by the matching threads.
private final class LockedCache: @unchecked Sendable { // Safe: `patterns` is only touched under `lock`.
    private let lock = NSLock()
    private var patterns: [String: BodyPattern?] = [:]

    func pattern(_ text: String) -> BodyPattern? {
        lock.lock()
        defer { lock.unlock() }
        if let cached = patterns[text] { return cached }
        let compiled = try? BodyPattern(text)
        patterns[text] = .some(compiled)
        return compiled
    }
}
