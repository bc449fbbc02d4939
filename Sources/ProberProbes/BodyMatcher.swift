import Dispatch
import ProberCore

/// Checks `body_matches` on its own serial queue, then calls the check's completion there.
///
/// Swift `Regex` takes ~50 ms to scan a 1 MiB body that does not match (measured here): on the engine
/// thread that would stall every other transfer and inflate their timings and timeouts.
/// Patterns are compiled once and cached by their text.
final class BodyMatcher: @unchecked Sendable { // Safe: `cache` is only touched on `queue`.
    private let queue = DispatchQueue(label: "prober.probes.body-matches")
    private var cache: [String: Regex<AnyRegexOutput>?] = [:]

    func check(_ sample: Sample, body: [UInt8], pattern: String, scope: String,
               completion: @escaping @Sendable (Sample) -> Void) {
        queue.async { [self] in
            var sample = sample
            if let regex = regex(pattern) {
                if (try? regex.firstMatch(in: String(decoding: body, as: UTF8.self))) == nil {
                    sample.failure = Failure(.bodyMismatch, "body does not match /\(pattern)/" + scope)
                }
            } else {
                sample.failure = Failure(.other, "body_matches is not a valid regular expression")
            }
            completion(sample)
        }
    }

    private func regex(_ pattern: String) -> Regex<AnyRegexOutput>? {
        if let cached = cache[pattern] { return cached }
        let compiled = try? Regex(pattern)
        cache[pattern] = .some(compiled)
        return compiled
    }
}
