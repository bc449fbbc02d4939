import Foundation

/// The IsDown incidents API (v2) as prober speaks it: which call each incident change makes, the JSON
/// documents, and how a response decides between delivered, retry and failed.
/// See shared/reference/isdown-incidents-api.md.
public enum IsDown {
    /// The documented API host; `ISDOWN_API_URL` (scheme and host only) replaces it.
    public static let defaultBaseURL = "https://isdown.app"
    public static let incidentsPath = "/api/v2/incidents"

    /// The body of the call an incident change makes. Opening is a POST; every later change a PATCH of the
    /// incident created by that POST, with a `description` + `resolution_stage` pair so it appears on the timeline.
    public static func body(for update: IncidentUpdate, incident: Incident) -> [String: JSONValue] {
        var body: [String: JSONValue] = [
            "description": .string(update.description),
            "resolution_stage": .string(update.stage.rawValue),
        ]
        switch update.kind {
        case .opened:
            body["service_id"] = incident.serviceID.map { .int(Int64($0)) } ?? .null
            body["title"] = .string(incident.title)
            body["status"] = .string(update.status.rawValue)
        case .escalated, .deescalated, .relapsed:
            body["status"] = .string(update.status.rawValue)
        case .monitoring, .resolved:
            break
        }
        return body
    }

    /// `{"data": {"id": …, "type": "incidents", "attributes": {…}}}`: the document IsDown returns, which
    /// `prober incidents --json` and webhooks use too.
    public static func document(_ incident: Incident, remoteID: String? = nil, extra: [String: JSONValue] = [:]) -> JSONValue {
        var attributes: [String: JSONValue] = [
            "title": .string(incident.title),
            "description": .string(incident.description),
            "status": .string(incident.status.rawValue),
            "resolution_stage": .string(incident.stage.rawValue),
            "resolved": .bool(incident.resolved),
            "created_at": .string(Clock.iso8601(incident.createdAt)),
            "updated_at": .string(Clock.iso8601(incident.updatedAt)),
            "resolved_at": incident.resolvedAt.map { .string(Clock.iso8601($0)) } ?? .null,
            "service_id": incident.serviceID.map { .int(Int64($0)) } ?? .null,
            "probe": .string(incident.probe),
            "updates": .array(incident.updates.reversed().map { u in
                .object([
                    "status": .string(u.stage.rawValue),
                    "severity": .string(u.status.rawValue),
                    "event": .string(u.kind.rawValue),
                    "created_at": .string(Clock.iso8601(u.createdAt)),
                    "description": .string(u.description),
                    "evidence": u.evidence.isEmpty ? .null : .raw(u.evidence),
                ])
            }),
        ]
        for (k, v) in extra { attributes[k] = v }
        return .object([
            "id": .string(String(incident.id)),
            "type": .string("incidents"),
            "isdown_id": remoteID.map { .string($0) } ?? .null,
            "attributes": .object(attributes),
        ])
    }

    /// The id in a create response: `{"data": {"id": "55001", …}}` (a string; a number is accepted too).
    public static func createdID(from body: [UInt8]) -> String? {
        guard let json = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
              let data = json["data"] as? [String: Any] else { return nil }
        if let id = data["id"] as? String, !id.isEmpty { return id }
        if let id = data["id"] as? NSNumber { return id.stringValue }
        return nil
    }

    /// `errors[].detail` of an error document, joined; nil when the body is not one.
    public static func errorDetail(from body: [UInt8]) -> String? {
        guard let json = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
              let errors = json["errors"] as? [[String: Any]] else { return nil }
        let details = errors.compactMap { ($0["detail"] as? String) ?? ($0["title"] as? String) }
        return details.isEmpty ? nil : details.joined(separator: "; ")
    }
}

/// What to do with an outgoing call after an attempt.
public enum DeliveryDecision: Sendable, Equatable {
    case delivered
    /// Try again after this long.
    case retry(after: Duration, reason: String)
    /// Not retried: the operator must act (wrong key, unknown service, invalid body).
    case failed(reason: String)
}

/// Retries with capped exponential backoff and jitter; 429 and 5xx and network errors are retried,
/// `Retry-After` is honoured; other 4xx fail at once with the API's `errors[].detail`.
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

    /// Decides from the HTTP status (nil when no response arrived), the transport error, body and Retry-After.
    public func decide(status: Int?, transportError: String?, body: [UInt8], retryAfter: String?,
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
            let detail = IsDown.errorDetail(from: body).map { ": \($0)" } ?? ""
            return .retry(after: wait, reason: "HTTP \(status)\(detail)")
        default:
            let detail = IsDown.errorDetail(from: body) ?? "no detail"
            return .failed(reason: "HTTP \(status): \(detail)")
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
