import ProberCore

/// A plain HTTP request for the incident outbox (IsDown API, webhooks): no assertions, just the response.
public struct HTTPRequest: Sendable {
    public var url: String
    /// Default `POST` when a body is given, else `GET`.
    public var method: String
    /// Header values may hold secrets (API keys): they are never put in errors.
    public var headers: [Header]
    public var body: [UInt8]?
    /// Hard bound on the whole exchange.
    public var timeout: Duration

    public init(url: String, method: String? = nil, headers: [Header] = [], body: [UInt8]? = nil, timeout: Duration = .seconds(10)) {
        self.url = url
        self.method = method ?? (body == nil ? "GET" : "POST")
        self.headers = headers
        self.body = body
        self.timeout = timeout
    }
}

/// What came back from an `HTTPRequest`.
public struct HTTPResponse: Sendable {
    /// Status of the final response, when one arrived.
    public var status: Int?
    /// Headers of the final response, in arrival order.
    public var headers: [Header]
    /// At most `HTTPResponse.maxBodyBytes` of the body; the rest is read and dropped.
    public var body: [UInt8]
    /// curl's error text when the exchange failed (no header values in it).
    public var error: String?
    /// curl's error code (`CURLcode`) when the exchange failed.
    public var errorCode: Int?
    /// Whether the request may have reached the server (curl got as far as sending it). When false,
    /// retrying cannot duplicate a delivery.
    public var requestSent: Bool

    public static let maxBodyBytes = 1 << 20

    public init(status: Int?, headers: [Header], body: [UInt8], error: String?, errorCode: Int?, requestSent: Bool) {
        self.status = status
        self.headers = headers
        self.body = body
        self.error = error
        self.errorCode = errorCode
        self.requestSent = requestSent
    }

    /// The first header with this name, case-insensitively.
    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }
}
