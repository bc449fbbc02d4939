import Foundation

/// What every answer carries, and the representation a request asked for: gzip, `ETag`, 304.
extension ListenerResponse {
    /// On every response, the listener's own errors included: no remote source, no framing, no sniffing, no
    /// referrer. A response that sets one of these names itself (a stricter policy) keeps its own.
    public static let securityHeaders: [HTTPHeader] = [
        HTTPHeader(name: "Content-Security-Policy",
                   value: "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
                       + "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
        HTTPHeader(name: "X-Content-Type-Options", value: "nosniff"),
        HTTPHeader(name: "Referrer-Policy", value: "no-referrer"),
        HTTPHeader(name: "X-Frame-Options", value: "DENY"),
    ]

    /// Bodies smaller than this are sent as they are: gzip's header and trailer (18 bytes) and the CPU cost
    /// would buy nothing.
    static let gzipMinimum = 1024

    /// The response as sent for `request`. A whole body (not streamed) of a 200 gets a strong `ETag` (of the
    /// body as built, `-gzip` appended when compressed, so the two representations never share a tag); one of
    /// at least `gzipMinimum` bytes of a textual type gets `Vary: Accept-Encoding` and is gzipped when
    /// `Accept-Encoding` allows it; a tag the client already has (`If-None-Match`) turns it into a 304 without
    /// a body. A streamed body (`/metrics`) gets no tag (that would need the whole body) but is gzipped piece
    /// by piece when asked (`GzipStream`).
    ///
    /// Runs where the handler answers (its own queue), never on the listener's thread: compressing a large
    /// page must not hold up every other connection.
    public func representation(for request: ListenerRequest) -> ListenerResponse {
        guard status == 200, !hasHeader("Content-Encoding") else { return self }
        if let stream {
            guard Self.isTextual(contentType) else { return self }
            var response = self
            response.headers.append(HTTPHeader(name: "Vary", value: "Accept-Encoding"))
            if Self.acceptsGzip(request.header("Accept-Encoding")), let zipped = GzipStream(stream) {
                response.stream = zipped
                response.headers.append(HTTPHeader(name: "Content-Encoding", value: "gzip"))
            }
            return response
        }
        var response = self
        let compressible = body.count >= Self.gzipMinimum && Self.isTextual(contentType)
        let gzip = compressible && Self.acceptsGzip(request.header("Accept-Encoding"))
        let tag = Self.entityTag(body)
        if compressible { response.headers.append(HTTPHeader(name: "Vary", value: "Accept-Encoding")) }
        let sentTag = gzip ? String(tag.dropLast()) + "-gzip\"" : tag
        response.headers.append(HTTPHeader(name: "ETag", value: sentTag))
        if let wanted = request.header("If-None-Match"), Self.matches(wanted, tag: sentTag) {
            response.status = 304
            response.body = []
            return response
        }
        if gzip, let compressed = Gzip.compress(body) {
            response.body = compressed
            response.headers.append(HTTPHeader(name: "Content-Encoding", value: "gzip"))
        }
        return response
    }

    func hasHeader(_ name: String) -> Bool {
        headers.contains { $0.name.lowercased() == name.lowercased() }
    }

    /// `"<length>-<crc32>-<fnv1a64>"` in hex: strong (any change to the bytes changes it, short of a collision
    /// in both hashes at the same length).
    static func entityTag(_ body: [UInt8]) -> String {
        var fnv: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in body {
            fnv ^= UInt64(byte)
            fnv = fnv &* 0x0000_0100_0000_01b3
        }
        return "\"\(String(body.count, radix: 16))-\(String(Gzip.crc32(body), radix: 16))-\(String(fnv, radix: 16))\""
    }

    /// Whether `If-None-Match` (`*`, or a list of tags, weak ones compared weakly as RFC 9110 13.1.2 says) names `tag`.
    static func matches(_ header: String, tag: String) -> Bool {
        header.split(separator: ",").contains { candidate in
            var value = candidate.trimmingCharacters(in: .whitespaces)
            if value == "*" { return true }
            if value.hasPrefix("W/") { value.removeFirst(2) }
            return value == tag
        }
    }

    /// Whether `Accept-Encoding` lists gzip (or `*`) with a non-zero quality.
    static func acceptsGzip(_ header: String?) -> Bool {
        guard let header else { return false }
        for item in header.lowercased().split(separator: ",") {
            let parts = item.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let coding = parts.first, coding == "gzip" || coding == "x-gzip" || coding == "*" else { continue }
            let quality = parts.dropFirst().first { $0.hasPrefix("q=") }.flatMap { Double($0.dropFirst(2)) } ?? 1
            if quality > 0 { return true }
        }
        return false
    }

    static func isTextual(_ contentType: String) -> Bool {
        let type = contentType.lowercased()
        return type.hasPrefix("text/") || type.hasPrefix("application/json") || type.hasPrefix("image/svg+xml")
            || type.hasPrefix("application/javascript") || type.hasPrefix("application/yaml")
    }
}
