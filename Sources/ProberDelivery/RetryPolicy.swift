import Foundation

/// What to do with an outgoing call after an attempt.
public enum DeliveryDecision: Sendable, Equatable {
    case delivered
    /// Try again after this long.
    case retry(after: Duration, reason: String)
    /// Not retried: the operator must act (wrong key, unknown service, invalid body).
    case failed(reason: String)
}

/// Retries with capped exponential backoff and jitter; 429 and 5xx and network errors are retried,
/// `Retry-After` is honoured; other 4xx fail at once with the receiver's error detail.
public struct RetryPolicy: Sendable, Equatable {
    public var initial: Duration = .seconds(1)
    public var cap: Duration = .seconds(300)
    /// The longest `Retry-After` honoured.
    public var maxRetryAfter: Duration = .seconds(3_600)

    public init(initial: Duration = .seconds(1), cap: Duration = .seconds(300)) {
        self.initial = initial
        self.cap = cap
    }

    /// `attempt` counts from 1; `jitter` in 0...1 (random in production, fixed in tests) scales the delay to 50–100 %.
    public func backoff(attempt: Int, jitter: Double) -> Duration {
        let exponent = min(max(attempt - 1, 0), 30)
        let raw = min(Double(initial.microseconds) * pow(2, Double(exponent)), Double(cap.microseconds))
        return .microseconds(Int64(raw * (0.5 + 0.5 * min(max(jitter, 0), 1))))
    }

    /// Decides from the HTTP status (nil when no response arrived), the transport error, the receiver's
    /// error detail (read from the body by its sink) and Retry-After.
    public func decide(status: Int?, transportError: String?, detail: String?, retryAfter: String?,
                       attempt: Int, jitter: Double, now: Int64) -> DeliveryDecision {
        guard let status else {
            return .retry(after: backoff(attempt: attempt, jitter: jitter), reason: transportError ?? "no response")
        }
        switch status {
        case 200..<300:
            return .delivered
        case 429, 500...599, 408:
            let wait = retryAfter.flatMap { Self.parseRetryAfter($0, now: now) }
                .map { min($0, maxRetryAfter) } ?? backoff(attempt: attempt, jitter: jitter)
            return .retry(after: wait, reason: "HTTP \(status)" + (detail.map { ": \($0)" } ?? ""))
        default:
            return .failed(reason: "HTTP \(status): \(detail ?? "no detail")")
        }
    }

    /// `Retry-After` as delta-seconds or an HTTP-date (`Wed, 21 Oct 2015 07:28:00 GMT`); `now` in µs.
    public static func parseRetryAfter(_ text: String, now: Int64) -> Duration? {
        let t = text.trimmingCharacters(in: .whitespaces)
        if let seconds = Int64(t), seconds >= 0 { return .seconds(seconds) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: t) else { return nil }
        let delta = Int64(date.timeIntervalSince1970 * 1_000_000) - now
        return .microseconds(max(delta, 0))
    }
}
