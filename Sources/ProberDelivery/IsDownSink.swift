import Foundation
import ProberCore
import ProberStorage

/// The IsDown incidents API (v2): opening an incident is a POST, every later change a PATCH of the
/// incident that POST created, with `Authorization: Bearer <ISDOWN_API_KEY>` added at send time.
/// Only probes with a `service_id` send here.
public struct IsDownSink: Sink {
    /// The documented API host; `ISDOWN_API_URL` (scheme and host only) replaces it.
    public static let defaultBaseURL = "https://isdown.app"
    static let incidentsPath = "/api/v2/incidents"

    public let name = "isdown"
    public let label = "IsDown"
    /// Scheme and host (and port) of the API, without a trailing slash.
    public let baseURL: String
    /// `ISDOWN_API_KEY`. Without it calls wait in the outbox.
    public let apiKey: String?

    public init(baseURL: String = IsDownSink.defaultBaseURL, apiKey: String? = nil) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.apiKey = apiKey
    }

    /// Checks `ISDOWN_API_URL`: scheme and host (and port) only. Returns the problem, or nil.
    public static func validateBaseURL(_ url: String) -> String? {
        let trimmed = url.hasSuffix("/") ? String(url.dropLast()) : url
        guard let c = URLComponents(string: trimmed), let scheme = c.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = c.host, !host.isEmpty, c.path.isEmpty, c.query == nil, c.user == nil else {
            return "ISDOWN_API_URL must be a scheme and host only, like https://isdown.app (the \(incidentsPath) path is appended), not '\(Redact.url(url))'"
        }
        return nil
    }

    /// A warning when `ISDOWN_API_URL` sends the API key in clear: plain http to a host other than loopback.
    public static func plainHTTPWarning(_ url: String) -> String? {
        guard let c = URLComponents(string: url), c.scheme?.lowercased() == "http", let host = c.host?.lowercased() else { return nil }
        let loopback = host == "localhost" || host == "::1" || host == "[::1]" || host.hasPrefix("127.")
        guard !loopback else { return nil }
        return "ISDOWN_API_URL is plain http to \(host): the API key and every incident are sent in clear (use https, or http only to loopback)"
    }

    public var waitReason: String? { (apiKey ?? "").isEmpty ? "ISDOWN_API_KEY is not set" : nil }
    public var secrets: [String] { [apiKey].compactMap { $0 } }

    public func call(for update: IncidentUpdate, of incident: Incident, probe spec: ProbeSpec) -> OutboxItem? {
        guard spec.incident.serviceID != nil else { return nil }
        let body = JSONValue.object(Self.body(for: update, incident: incident)).encoded
        return OutboxItem(sink: name, method: update.kind == .opened ? "POST" : "PATCH", body: body,
                          nextAttemptAt: update.createdAt, createdAt: update.createdAt)
    }

    /// The body of the call an incident change makes: every change has a `description` + `resolution_stage`
    /// pair so it appears on the timeline; the create adds the service, title and status, later changes the
    /// status when it changed.
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

    public func request(for item: OutboxItem, remoteID: String?) -> SinkRequest {
        var url = baseURL + Self.incidentsPath
        if item.method != "POST" {
            guard let remoteID else {
                return .fail("IsDown returned no incident id for the create, so this update has nothing to patch")
            }
            url += "/" + (remoteID.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? remoteID)
        }
        let headers = jsonHeaders + [Header(name: "Authorization", value: "Bearer \(apiKey ?? "")")]
        return .send(DeliveryRequest(method: item.method, url: url, headers: headers, body: Array(item.body.utf8)))
    }

    public func created(by item: OutboxItem, response: DeliveryResponse) -> CreatedID {
        guard item.method == "POST" else { return .none }
        return Self.createdID(from: response.body).map(CreatedID.id) ?? .missing
    }

    /// The id in a create response: `{"data": {"id": "55001", …}}` (a string; a number is accepted too).
    public static func createdID(from body: [UInt8]) -> String? {
        guard let json = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
              let data = json["data"] as? [String: Any] else { return nil }
        if let id = data["id"] as? String, !id.isEmpty { return id }
        if let id = data["id"] as? NSNumber { return id.stringValue }
        return nil
    }
}
