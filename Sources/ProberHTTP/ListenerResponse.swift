/// A response body produced piece by piece while the client reads it, for a body too large to hold whole:
/// `/metrics` at 10,000 probes is ~5 MB, which as one buffer was the daemon's peak memory.
///
/// `next()` is called on the listener's thread, for the next piece only once the previous one is sent, so a
/// connection holds one piece at a time. The body ends when `next()` returns nil; it is sent without
/// `Content-Length` and ends with the connection's close (RFC 9112 6.3). A stream cut short (write timeout,
/// stop) ends with a reset instead, so a client never takes a truncated body for a whole one.
public protocol BodyStream: AnyObject, Sendable {
    func next() -> [UInt8]?
}

/// A response; the listener adds `Content-Length` (unless the body is streamed), the security headers, and, on
/// a connection's last response, `Connection: close`. It adds `ETag`, gzip and 304 as the request asks
/// (`representation(for:)`).
public struct ListenerResponse: Sendable {
    public var status: Int
    public var contentType: String
    public var body: [UInt8]
    /// When set, the body is streamed from it and `body` is ignored.
    public var stream: (any BodyStream)?
    /// Extra headers (not `Content-Length` or `Connection`).
    public var headers: [HTTPHeader]

    public init(status: Int, contentType: String = "text/plain; charset=utf-8", body: [UInt8], headers: [HTTPHeader] = []) {
        self.status = status
        self.contentType = contentType
        self.body = body
        self.headers = headers
    }

    public init(status: Int, contentType: String = "text/plain; charset=utf-8", body: String, headers: [HTTPHeader] = []) {
        self.init(status: status, contentType: contentType, body: Array(body.utf8), headers: headers)
    }

    public init(status: Int, contentType: String = "text/plain; charset=utf-8", stream: any BodyStream, headers: [HTTPHeader] = []) {
        self.init(status: status, contentType: contentType, body: [], headers: headers)
        self.stream = stream
    }
}

extension ListenerResponse {
    /// The bytes on the wire (not for a streamed body); `headOnly` leaves the body out but keeps its length
    /// (the answer to `HEAD`).
    func serialized(headOnly: Bool) -> [UInt8] {
        chunks(headOnly: headOnly).flatMap { $0 }
    }

    /// The head and, unless streamed, the body as two chunks: the body is not copied, so one `/metrics`
    /// body can be shared by every connection it answers. `close` says the connection ends after it.
    func chunks(headOnly: Bool, close: Bool = true) -> [[UInt8]] {
        var text = "HTTP/1.1 \(status) \(Self.reason(status))\r\n"
        // A 304 or 204 has no body and no length (RFC 9110 8.6): its headers describe the representation.
        let bodiless = status == 304 || status == 204
        if !bodiless { text += "Content-Type: \(contentType)\r\n" }
        for header in headers { text += "\(header.name): \(header.value)\r\n" }
        for header in Self.securityHeaders where !hasHeader(header.name) { text += "\(header.name): \(header.value)\r\n" }
        if stream == nil && !bodiless { text += "Content-Length: \(body.count)\r\n" }
        text += close ? "Connection: close\r\n\r\n" : "\r\n"
        return headOnly || stream != nil || bodiless ? [Array(text.utf8)] : [Array(text.utf8), body]
    }

    static func reason(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 204: "No Content"
        case 304: "Not Modified"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 408: "Request Timeout"
        case 431: "Request Header Fields Too Large"
        case 500: "Internal Server Error"
        case 503: "Service Unavailable"
        case 505: "HTTP Version Not Supported"
        default: "Status"
        }
    }
}
