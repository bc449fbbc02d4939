import CZlib
import Foundation
import ProberTestSupport
import Testing
@testable import ProberHTTP

/// The listener as a small web server: security headers on every answer, gzip when asked, ETag and 304,
/// HEAD, keep-alive, error pages by what the client reads, routes with parameters, and the bearer token.
@Suite struct WebServerTests {
    static let page = String(repeating: "<p>prober status page, a line of text that compresses well</p>\n", count: 200)

    private func makeListener(token: BearerToken? = nil) throws -> HTTPListener {
        var router = Router()
        router.get("/page") { _ in ListenerResponse(status: 200, contentType: "text/html; charset=utf-8", body: Self.page) }
        router.get("/tiny") { _ in ListenerResponse(status: 200, body: "tiny\n") }
        router.get("/healthz") { _ in ListenerResponse(status: 200, body: "ok\n") }
        router.get("/items/{id}/detail") { request, respond in
            respond(ListenerResponse(status: 200, body: "item [\(request.parameters["id"] ?? "-")]\n"))
        }
        router.get("/stream") { _, respond in
            respond(ListenerResponse(status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8", stream: Pieces()))
        }
        if let token { router.requireToken(token, except: ["/healthz"]) }
        let listener = try HTTPListener(port: 0, router: router)
        listener.start()
        return listener
    }

    /// One response read off an open connection: its head, and a body of `Content-Length` bytes (none for a
    /// HEAD or a 304).
    private func readResponse(_ client: RawClient, bodiless: Bool = false) -> (head: String, body: [UInt8])? {
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        let deadline = Date().addingTimeInterval(10)
        func fill() -> Bool {
            var pfd = pollfd(fd: client.fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, Int32(max(1, deadline.timeIntervalSinceNow * 1_000))) == 1 else { return false }
            let n = buffer.withUnsafeMutableBytes { recv(client.fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { return false }
            data += buffer[0..<n]
            return true
        }
        var headEnd: Int?
        while headEnd == nil {
            if let range = data.firstRange(of: Array("\r\n\r\n".utf8)) { headEnd = range.upperBound; break }
            guard fill() else { return nil }
        }
        let head = String(decoding: data[..<headEnd!], as: UTF8.self)
        let length = bodiless ? 0 : (header("Content-Length", in: head).flatMap { Int($0) } ?? 0)
        while data.count - headEnd! < length { guard fill() else { return nil } }
        return (head, Array(data[headEnd!..<(headEnd! + length)]))
    }

    private func header(_ name: String, in head: String) -> String? {
        head.split(separator: "\r\n").first { $0.lowercased().hasPrefix(name.lowercased() + ":") }
            .map { $0.dropFirst(name.count + 1).trimmingCharacters(in: .whitespaces) }
    }

    private func get(_ port: UInt16, _ path: String, _ headers: [String] = [], method: String = "GET") throws -> (head: String, body: [UInt8]) {
        let client = try RawClient(port: port)
        client.send("\(method) \(path) HTTP/1.1\r\nHost: x\r\n" + headers.map { $0 + "\r\n" }.joined() + "\r\n")
        return try #require(readResponse(client, bodiless: method == "HEAD"))
    }

    /// gunzip through zlib, as a client would.
    private func gunzip(_ bytes: [UInt8]) -> [UInt8]? {
        var stream = z_stream()
        guard prober_inflate_init_gzip(&stream) == Z_OK else { return nil }
        defer { inflateEnd(&stream) }
        var out = [UInt8](repeating: 0, count: 8 << 20)
        let status = bytes.withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer { output -> Int32 in
                stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
                stream.avail_in = uInt(input.count)
                stream.next_out = output.baseAddress
                stream.avail_out = uInt(output.count)
                return inflate(&stream, Z_FINISH)
            }
        }
        guard status == Z_STREAM_END else { return nil }
        return Array(out[0..<Int(stream.total_out)])
    }

    @Test func everyAnswerCarriesTheSecurityHeaders() throws {
        let listener = try makeListener()
        defer { listener.stop() }
        let answers = [try get(listener.port, "/page").head, try get(listener.port, "/nope").head,
                       try get(listener.port, "/page", method: "DELETE").head]
        // The listener's own answer to a malformed request too.
        let garbage = try #require(try RawClient.exchange(port: listener.port, "GARBAGE\r\n\r\n"))
        for head in answers + [garbage] {
            #expect(header("Content-Security-Policy", in: head)?.contains("frame-ancestors 'none'") == true, "\(head)")
            #expect(header("Content-Security-Policy", in: head)?.contains("http") == false, "no remote source: \(head)")
            #expect(header("X-Content-Type-Options", in: head) == "nosniff", "\(head)")
            #expect(header("Referrer-Policy", in: head) == "no-referrer", "\(head)")
        }
    }

    @Test func gzipWhenAskedDecodesToTheSameBody() throws {
        let listener = try makeListener()
        defer { listener.stop() }
        let plain = try get(listener.port, "/page")
        #expect(plain.body == Array(Self.page.utf8))
        #expect(header("Content-Encoding", in: plain.head) == nil)
        #expect(header("Vary", in: plain.head) == "Accept-Encoding")

        let zipped = try get(listener.port, "/page", ["Accept-Encoding: br, gzip;q=0.8"])
        #expect(header("Content-Encoding", in: zipped.head) == "gzip", "\(zipped.head)")
        #expect(header("Vary", in: zipped.head) == "Accept-Encoding")
        #expect(zipped.body.count < plain.body.count / 5, "\(zipped.body.count) of \(plain.body.count)")
        #expect(gunzip(zipped.body) == plain.body)
        // The two representations never share a tag.
        #expect(header("ETag", in: zipped.head) != header("ETag", in: plain.head))

        // q=0 refuses gzip; a tiny body is never compressed.
        #expect(header("Content-Encoding", in: try get(listener.port, "/page", ["Accept-Encoding: gzip;q=0"]).head) == nil)
        let tiny = try get(listener.port, "/tiny", ["Accept-Encoding: gzip"])
        #expect(header("Content-Encoding", in: tiny.head) == nil)
        #expect(tiny.body == Array("tiny\n".utf8))
    }

    /// 300 pieces of Prometheus-like text, as `/metrics` streams them.
    final class Pieces: BodyStream, @unchecked Sendable { // Safe: the listener calls `next()` from one thread.
        static let all = (0..<300).map { i in
            Array((0..<200).map { "probe_success{probe=\"probe-\(i)-\($0)\"} \($0 % 2)\n" }.joined().utf8)
        }
        private var index = 0
        func next() -> [UInt8]? {
            defer { index += 1 }
            return index < Self.all.count ? Self.all[index] : nil
        }
    }

    @Test func aStreamedBodyIsGzippedPieceByPieceWhenAsked() throws {
        let listener = try makeListener()
        defer { listener.stop() }
        let client = try RawClient(port: listener.port)
        client.send("GET /stream HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n")
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            var pfd = pollfd(fd: client.fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, 10_000) == 1 else { Issue.record("no end of stream"); return }
            let n = buffer.withUnsafeMutableBytes { recv(client.fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            data += buffer[0..<n]
        }
        let end = try #require(data.firstRange(of: Array("\r\n\r\n".utf8))).upperBound
        let head = String(decoding: data[..<end], as: UTF8.self)
        #expect(header("Content-Encoding", in: head) == "gzip", "\(head)")
        #expect(header("Content-Length", in: head) == nil && header("ETag", in: head) == nil, "\(head)")
        let plain = Pieces.all.flatMap { $0 }
        let zipped = Array(data[end...])
        #expect(zipped.count < plain.count / 5, "\(zipped.count) of \(plain.count)")
        #expect(gunzip(zipped) == plain)
        // Without Accept-Encoding: as before.
        let raw = try #require(try RawClient.exchange(port: listener.port, "GET /stream HTTP/1.1\r\n\r\n"))
        #expect(header("Content-Encoding", in: raw) == nil)
        #expect(raw.hasSuffix(String(decoding: Pieces.all.last!, as: UTF8.self)))
    }

    @Test func aKnownETagGets304WithoutBody() throws {
        let listener = try makeListener()
        defer { listener.stop() }
        for encoding in [[], ["Accept-Encoding: gzip"]] {
            let first = try get(listener.port, "/page", encoding)
            let tag = try #require(header("ETag", in: first.head))
            #expect(tag.hasPrefix("\"") && tag.hasSuffix("\""), "a strong tag: \(tag)")
            let client = try RawClient(port: listener.port)
            client.send("GET /page HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"other\", \(tag)\r\n" + encoding.map { $0 + "\r\n" }.joined() + "\r\n")
            let again = try #require(client.readToEnd())
            #expect(again.hasPrefix("HTTP/1.1 304 Not Modified\r\n"), "\(again)")
            #expect(again.hasSuffix("\r\n\r\n"), "no body: \(again)")
            #expect(!again.contains("Content-Length"), "\(again)")
            #expect(header("ETag", in: again) == tag)
            // Another tag: the whole body.
            #expect(try get(listener.port, "/page", ["If-None-Match: \"stale\""] + encoding).head.hasPrefix("HTTP/1.1 200 "))
        }
    }

    @Test func headHasTheHeadersOfGetAndNoBody() throws {
        let listener = try makeListener()
        defer { listener.stop() }
        let full = try get(listener.port, "/page", ["Accept-Encoding: gzip"])
        let reply = try #require(try RawClient.exchange(port: listener.port, "HEAD /page HTTP/1.1\r\nAccept-Encoding: gzip\r\n\r\n"))
        #expect(reply.hasPrefix("HTTP/1.1 200 OK\r\n"), "\(reply)")
        #expect(reply.hasSuffix("\r\n\r\n"), "no body: \(reply.suffix(100))")
        for name in ["Content-Length", "ETag", "Content-Encoding", "Content-Type", "Vary"] {
            #expect(header(name, in: reply) == header(name, in: full.head), "\(name)")
        }
    }

    @Test func keepAliveServesTwoRequestsOnOneConnection() throws {
        let listener = try makeListener()
        defer { listener.stop() }
        let client = try RawClient(port: listener.port)
        client.send("GET /tiny HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n")
        let first = try #require(readResponse(client))
        #expect(first.head.hasPrefix("HTTP/1.1 200 "))
        #expect(header("Connection", in: first.head) == nil, "the connection stays open: \(first.head)")
        #expect(first.body == Array("tiny\n".utf8))
        // The second request only after the first answer was read: not pipelined.
        client.send("GET /items/a%20b/detail HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        let rest = try #require(client.readToEnd())
        #expect(rest.hasPrefix("HTTP/1.1 200 "), "\(rest)")
        #expect(rest.contains("Connection: close"), "\(rest)")
        #expect(rest.hasSuffix("item [a b]\n"), "\(rest)")
    }

    @Test func errorPagesFollowWhatTheClientReads() throws {
        let listener = try makeListener()
        defer { listener.stop() }
        let browser = try get(listener.port, "/nope/<script>", ["Accept: text/html,application/xhtml+xml"])
        #expect(browser.head.hasPrefix("HTTP/1.1 404 "))
        #expect(header("Content-Type", in: browser.head)?.hasPrefix("text/html") == true)
        let html = String(decoding: browser.body, as: UTF8.self)
        #expect(html.contains("&lt;script&gt;") && !html.contains("<script>"), "\(html)")
        let text = try get(listener.port, "/nope")
        #expect(header("Content-Type", in: text.head)?.hasPrefix("text/plain") == true)
        let method = try get(listener.port, "/page", ["Accept: text/html"], method: "PUT")
        #expect(method.head.hasPrefix("HTTP/1.1 405 "))
        #expect(header("Allow", in: method.head) == "GET, HEAD")
        #expect(String(decoding: method.body, as: UTF8.self).contains("405 Method Not Allowed"))
        // A parameter matches one segment, not none or two.
        #expect(try get(listener.port, "/items//detail").head.hasPrefix("HTTP/1.1 404 "))
        #expect(try get(listener.port, "/items/a/b/detail").head.hasPrefix("HTTP/1.1 404 "))
    }

    @Test func theTokenIsRequiredButForHealthz() throws {
        let token = try #require(BearerToken("correct horse\n"))
        let listener = try makeListener(token: token)
        defer { listener.stop() }
        let none = try get(listener.port, "/page")
        #expect(none.head.hasPrefix("HTTP/1.1 401 "), "\(none.head)")
        #expect(header("WWW-Authenticate", in: none.head)?.hasPrefix("Bearer") == true)
        #expect(!String(decoding: none.body, as: UTF8.self).contains("correct"))
        #expect(try get(listener.port, "/nope").head.hasPrefix("HTTP/1.1 401 "), "an unknown path says nothing either")
        for wrong in ["Bearer correct hors", "Bearer correct horsE", "Bearer correct horse2", "Basic correct horse", "Bearer "] {
            #expect(try get(listener.port, "/page", ["Authorization: \(wrong)"]).head.hasPrefix("HTTP/1.1 401 "), "\(wrong)")
        }
        #expect(try get(listener.port, "/page", ["Authorization: Bearer correct horse"]).head.hasPrefix("HTTP/1.1 200 "))
        #expect(try get(listener.port, "/page", ["Authorization: bearer correct horse"]).head.hasPrefix("HTTP/1.1 200 "))
        #expect(try get(listener.port, "/healthz").head.hasPrefix("HTTP/1.1 200 "))
        #expect("\(token)" == "(a bearer token)" && String(reflecting: token) == "(a bearer token)")
    }

    @Test func queryItemsArePercentDecoded() {
        let request = ListenerRequest(method: "GET", target: "/", path: "/", query: "since=2026-11-27T06%3A00%3A00Z&open=true&x=a+b&bad=%zz",
                                      version: "HTTP/1.1", headers: [])
        #expect(request.queryValue("since") == "2026-11-27T06:00:00Z")
        #expect(request.queryValue("open") == "true")
        #expect(request.queryValue("x") == "a b")
        #expect(request.queryValue("bad") == nil)
    }
}
