import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A scriptable HTTP/1.1 server on loopback, port 0, for tests. Every response closes the connection.
///
///     let server = try TestHTTPServer { request in .respond(status: 200, body: "ok") }
///     defer { server.stop() }
///     … server.url, server.port, server.requests, server.clients …
///
/// It can answer per client address: the handler sees `request.client`, and `faults` fails chosen clients
/// before the handler runs (a status, a close or a reset).

public final class TestHTTPServer: @unchecked Sendable { // Safe: `received` is guarded by `lock`.
    /// A request as the server read it.
    public struct Request: Sendable {
        public var method: String
        public var path: String
        public var headers: [(name: String, value: String)]
        public var body: [UInt8]
        /// The client's IP address, as the server saw it (`127.0.0.3` for a prober bound there).
        public var client: String
        public var bodyText: String { String(decoding: body, as: UTF8.self) }
        /// The first header with this name, case-insensitively.
        public func header(_ name: String) -> String? {
            headers.first { $0.name.lowercased() == name.lowercased() }?.value
        }
    }

    /// What to do with a request.
    public indirect enum Response: Sendable {
        /// A complete response.
        case full(status: Int, headers: [(String, String)], body: [UInt8])
        /// Wait, then respond (server processing time).
        case delay(Duration, Response)
        /// Read the request and never answer.
        case hang
        /// Read the request and close the connection without answering (a lost answer).
        case close
        /// Send the status line and headers, then the body one byte every `interval`.
        case drip(status: Int, body: [UInt8], interval: Duration)
        /// Announce `announced` body bytes, send `sent` of them, then reset the connection (RST).
        case reset(sent: Int, announced: Int)
        /// A `bytes`-long body of 'x', streamed in 64 KiB chunks.
        case stream(status: Int, bytes: Int)
        /// These bytes verbatim (no status line or headers added), then close: a server speaking garbage.
        case raw([UInt8])
        /// `head` verbatim, then `chunk` again and again until the client leaves: a body that never ends.
        case endless(head: [UInt8], chunk: [UInt8])

        public static func respond(status: Int, headers: [(String, String)] = [], body: String = "") -> Response {
            .full(status: status, headers: headers, body: Array(body.utf8))
        }
        public static func redirect(to location: String, status: Int = 302) -> Response {
            .full(status: status, headers: [("Location", location)], body: [])
        }
    }

    public let host: String
    public var port: Int { acceptor.port }
    /// `http://127.0.0.1:PORT` (or `http://[::1]:PORT`).
    public var url: String { host.contains(":") ? "http://[\(host)]:\(port)" : "http://\(host):\(port)" }

    private let acceptor: Acceptor
    private let log = RequestLog()

    /// Starts listening on `host` (default 127.0.0.1), `port` (default 0: any free port; a given one to
    /// bring a server "back up" where a client already points, e.g. after `closedLoopbackPort()`).
    /// `faults`: clients answered with a fault instead of `handler` (their requests, when read, are logged too).
    public init(host: String = "127.0.0.1", port: Int = 0, faults: ClientFaults? = nil,
                handler: @escaping @Sendable (Request) -> Response) throws {
        self.host = host
        let log = self.log
        acceptor = try Acceptor(host: host, port: port) { fd, client, acceptor in
            if let faults, faults.cutOff(fd, client: client, acceptor: acceptor) { return }
            guard let request = TestHTTPServer.readRequest(fd, client: client) else { return }
            log.append(request)
            if case .status(let status)? = faults?.fault(for: client) {
                TestHTTPServer.serve(.respond(status: status, body: "failing for \(client)\n"), fd: fd, acceptor: acceptor)
                return
            }
            TestHTTPServer.serve(handler(request), fd: fd, acceptor: acceptor)
        }
    }

    deinit { acceptor.stop() }

    /// Every request received so far, in order.
    public var requests: [Request] { log.all }

    /// The address of every client that connected so far, in order (including those a fault cut off).
    public var clients: [String] { acceptor.clients }

    /// Waits until at least `count` clients connected; false after `timeout`.
    public func waitForClients(_ count: Int, timeout: Duration = .seconds(10)) -> Bool {
        acceptor.waitForClients(count, seconds: TestHTTPServer.seconds(timeout))
    }

    /// Waits until at least `count` requests arrived; false after `timeout`.
    public func waitForRequests(_ count: Int, timeout: Duration = .seconds(10)) -> Bool {
        log.wait(count: count, until: Date(timeIntervalSinceNow: TestHTTPServer.seconds(timeout)))
    }

    /// Closes the listener and every open connection.
    public func stop() { acceptor.stop() }

    // MARK: Wire

    private static func readRequest(_ fd: Int32, client: String) -> Request? {
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        var headerEnd: Int? = nil
        while headerEnd == nil {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return nil }
            data.append(contentsOf: buffer[0..<n])
            headerEnd = find(data, Array("\r\n\r\n".utf8))
            if data.count > 1 << 20 { return nil }
        }
        let head = String(decoding: data[0..<headerEnd!], as: UTF8.self)
        var lines = head.components(separatedBy: "\r\n")
        let requestLine = lines.removeFirst().split(separator: " ")
        guard requestLine.count >= 2 else { return nil }
        var headers: [(name: String, value: String)] = []
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers.append((String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        var body = Array(data[(headerEnd! + 4)...])
        let length = headers.first { $0.name.lowercased() == "content-length" }.flatMap { Int($0.value) } ?? 0
        while body.count < length {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            body.append(contentsOf: buffer[0..<n])
        }
        return Request(method: String(requestLine[0]), path: String(requestLine[1]), headers: headers, body: body, client: client)
    }

    private static func find(_ haystack: [UInt8], _ needle: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for i in 0...(haystack.count - needle.count) where haystack[i] == needle[0] {
            if Array(haystack[i..<(i + needle.count)]) == needle { return i }
        }
        return nil
    }

    private static func head(status: Int, headers: [(String, String)], length: Int) -> [UInt8] {
        var text = "HTTP/1.1 \(status) \(reasonPhrase(status))\r\nContent-Length: \(length)\r\nConnection: close\r\n"
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        return Array((text + "\r\n").utf8)
    }

    private static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 301: "Moved Permanently"
        case 302: "Found"
        case 404: "Not Found"
        case 500: "Internal Server Error"
        case 503: "Service Unavailable"
        default: "Status"
        }
    }

    private static func serve(_ response: Response, fd: Int32, acceptor: Acceptor) {
        switch response {
        case .full(let status, let headers, let body):
            Sockets.writeAll(fd, head(status: status, headers: headers, length: body.count) + body)
        case .delay(let duration, let then):
            if acceptor.sleep(seconds(duration)) { return }
            serve(then, fd: fd, acceptor: acceptor)
        case .hang:
            _ = acceptor.sleep(3_600)
        case .close:
            return
        case .drip(let status, let body, let interval):
            guard Sockets.writeAll(fd, head(status: status, headers: [], length: body.count)) else { return }
            for byte in body {
                if acceptor.sleep(seconds(interval)) { return }
                guard Sockets.writeAll(fd, [byte]) else { return }
            }
        case .reset(let sent, let announced):
            Sockets.writeAll(fd, head(status: 200, headers: [], length: announced) + [UInt8](repeating: UInt8(ascii: "x"), count: sent))
            acceptor.finished(fd, reset: true)
        case .stream(let status, let bytes):
            guard Sockets.writeAll(fd, head(status: status, headers: [], length: bytes)) else { return }
            let chunk = [UInt8](repeating: UInt8(ascii: "x"), count: 64 * 1024)
            var left = bytes
            while left > 0 {
                let n = min(left, chunk.count)
                guard chunk.withUnsafeBytes({ Sockets.writeAll(fd, UnsafeRawBufferPointer(rebasing: $0[0..<n])) }) else { return }
                left -= n
            }
        case .raw(let bytes):
            Sockets.writeAll(fd, bytes)
        case .endless(let head, let chunk):
            guard Sockets.writeAll(fd, head) else { return }
            while !acceptor.isStopped, Sockets.writeAll(fd, chunk) {}
        }
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}

/// The requests a server received, shared with its connection threads.
private final class RequestLog: @unchecked Sendable { // Safe: `items` is guarded by `condition`.
    private let condition = NSCondition()
    private var items: [TestHTTPServer.Request] = []

    func append(_ request: TestHTTPServer.Request) {
        condition.lock()
        items.append(request)
        condition.broadcast()
        condition.unlock()
    }

    var all: [TestHTTPServer.Request] {
        condition.lock()
        defer { condition.unlock() }
        return items
    }

    func wait(count: Int, until: Date) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while items.count < count { if !condition.wait(until: until) { return items.count >= count } }
        return true
    }
}
