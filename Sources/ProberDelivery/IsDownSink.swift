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
        return followUp(update, of: incident)
    }

    public func followUp(_ update: IncidentUpdate, of incident: Incident) -> OutboxItem? {
        guard incident.serviceID != nil else { return nil }
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
        case .escalated, .deescalated, .relapsed, .joined, .left:
            body["status"] = .string(update.status.rawValue)
        case .monitoring, .resolved, .noted:
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
        return .send(DeliveryRequest(method: item.method, url: url, headers: headers, body: Array(item.body.utf8)))
    }

    private var headers: [Header] { jsonHeaders + [Header(name: "Authorization", value: "Bearer \(apiKey ?? "")")] }

    // MARK: Creates whose answer was lost

    /// How far before the create was queued IsDown's `created_at` of the incident it made may be: the two
    /// clocks differ. Small, so an earlier episode of the same probe (same title) is not taken for this one.
    static let clockSkew: Int64 = 60_000_000

    /// `GET /api/v2/incidents?service_id=N`. The API reference names the list endpoint but not its parameters:
    /// this query and a `{"data": [incident documents, newest first]}` answer are assumed here, and only here.
    /// Only the first page is read (pagination is not documented); the incident looked for is among the newest.
    public func listingRequest(for item: OutboxItem) -> DeliveryRequest? {
        guard item.method == "POST", let create = Self.create(in: item) else { return nil }
        return DeliveryRequest(method: "GET", url: baseURL + Self.incidentsPath + "?service_id=\(create.serviceID)",
                               headers: headers, body: [])
    }

    /// The open incidents of the create's service with its title, created at or after it was queued (less
    /// the clock skew): what that create made, however many times it reached IsDown. Oldest first.
    public func createdIncidents(by item: OutboxItem, listing: DeliveryResponse) -> [String]? {
        guard let create = Self.create(in: item),
              let json = try? JSONSerialization.jsonObject(with: Data(listing.body)) as? [String: Any],
              let data = json["data"] as? [[String: Any]] else { return nil }
        var found: [(id: String, createdAt: Int64)] = []
        for document in data {
            guard let attributes = document["attributes"] as? [String: Any],
                  attributes["title"] as? String == create.title,
                  (attributes["service_id"] as? NSNumber)?.int64Value ?? create.serviceID == create.serviceID,
                  (attributes["resolved"] as? Bool) != true,
                  let created = (attributes["created_at"] as? String).flatMap(Self.parseTime),
                  created >= item.createdAt - Self.clockSkew else { continue }
            let id = (document["id"] as? String) ?? (document["id"] as? NSNumber)?.stringValue
            if let id, !id.isEmpty { found.append((id, created)) }
        }
        return found.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }.map(\.id)
    }

    /// `PATCH` to `resolved`, with a timeline entry pointing to the incident kept.
    public func resolveDuplicateRequest(id: String, adopted: String) -> DeliveryRequest? {
        let body = JSONValue.object([
            "description": .string("Duplicate of incident \(adopted), created twice when prober lost IsDown's answer; "
                + "updates continue on incident \(adopted)."),
            "resolution_stage": .string(ResolutionStage.resolved.rawValue),
        ]).encoded
        let path = id.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? id
        return DeliveryRequest(method: "PATCH", url: baseURL + Self.incidentsPath + "/" + path, headers: headers, body: Array(body.utf8))
    }

    /// The service and title of a stored create.
    private static func create(in item: OutboxItem) -> (serviceID: Int64, title: String)? {
        guard let json = try? JSONSerialization.jsonObject(with: Data(item.body.utf8)) as? [String: Any],
              let serviceID = (json["service_id"] as? NSNumber)?.int64Value, let title = json["title"] as? String else { return nil }
        return (serviceID, title)
    }

    /// `2024-03-15T10:00:00.000Z` (milliseconds optional) as µs since the epoch.
    static func parseTime(_ text: String) -> Int64? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return Int64(date.timeIntervalSince1970 * 1_000_000) }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text).map { Int64($0.timeIntervalSince1970 * 1_000_000) }
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
