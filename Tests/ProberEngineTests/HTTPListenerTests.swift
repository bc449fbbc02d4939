import Foundation
import XCTest
@testable import ProberEngine

/// A raw TCP client, so tests can misbehave the way real clients do.
final class RawClient {
    let fd: Int32

    init(port: UInt16) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            close(fd)
            throw NSError(domain: "connect", code: Int(errno))
        }
    }

    deinit { close(fd) }

    func send(_ text: String) {
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            offset += n
        }
    }

    /// Everything until the server closes (or `timeout` seconds pass: then nil).
    func readToEnd(timeout: Double = 15) -> String? {
        var data = [UInt8]()
        let end = Date().addingTimeInterval(timeout)
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let left = end.timeIntervalSinceNow
            guard left > 0 else { return nil }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, Int32(left * 1_000)) == 1 else { return nil }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return String(decoding: data, as: UTF8.self) }
            data += buffer[0..<n]
        }
    }

    static func exchange(port: UInt16, _ request: String) throws -> String? {
        let client = try RawClient(port: port)
        client.send(request)
        return client.readToEnd()
    }
}

final class HTTPListenerTests: XCTestCase {
    private func makeListener(_ configure: (inout HTTPListener.Configuration) -> Void = { _ in }) throws -> HTTPListener {
        var configuration = HTTPListener.Configuration()
        configure(&configuration)
        let listener = try HTTPListener(port: 0, configuration: configuration) { request in
            switch request.path {
            case "/hello": ListenerResponse(status: 200, body: "hello \(request.method) \(request.query ?? "-")\n")
            default: ListenerResponse(status: 404, body: "not found\n")
            }
        }
        listener.start()
        return listener
    }

    func testAGoodGetIsAnsweredAndClosed() throws {
        let listener = try makeListener()
        defer { listener.stop() }
        XCTAssertNotEqual(listener.port, 0)
        let reply = try XCTUnwrap(RawClient.exchange(port: listener.port, "GET /hello?x=1 HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n"))
        XCTAssertTrue(reply.hasPrefix("HTTP/1.1 200 OK\r\n"), reply)
        XCTAssertTrue(reply.contains("\r\nConnection: close\r\n"), reply)
        XCTAssertTrue(reply.contains("\r\nContent-Length: 14\r\n"), reply)
        XCTAssertTrue(reply.hasSuffix("\r\n\r\nhello GET x=1\n"), reply)

        let missing = try XCTUnwrap(RawClient.exchange(port: listener.port, "GET /nope HTTP/1.1\r\n\r\n"))
        XCTAssertTrue(missing.hasPrefix("HTTP/1.1 404 Not Found\r\n"), missing)
    }

    func testHeadGetsHeadersWithoutBodyEvenOverHTTP10() throws {
        let listener = try makeListener()
        defer { listener.stop() }
        let reply = try XCTUnwrap(RawClient.exchange(port: listener.port, "HEAD /hello HTTP/1.0\r\n\r\n"))
        XCTAssertTrue(reply.hasPrefix("HTTP/1.1 200 OK\r\n"), reply)
        XCTAssertTrue(reply.contains("Content-Length: 13\r\n"), reply)
        XCTAssertTrue(reply.hasSuffix("\r\n\r\n"), reply)
    }

    func testAClientThatSendsNothingIsClosedAtTheReadDeadlineWithoutBlockingOthers() throws {
        let listener = try makeListener { $0.readTimeout = .milliseconds(300) }
        defer { listener.stop() }
        let silent = try RawClient(port: listener.port)
        let trickle = try RawClient(port: listener.port)
        trickle.send("GET /hello HTTP/1.1\r\nHost: x\r\n") // never finishes its head
        // Meanwhile a good client is served.
        let good = try XCTUnwrap(RawClient.exchange(port: listener.port, "GET /hello HTTP/1.1\r\n\r\n"))
        XCTAssertTrue(good.hasPrefix("HTTP/1.1 200 OK"), good)
        let silentReply = try XCTUnwrap(silent.readToEnd(), "the server must close a silent connection")
        XCTAssertTrue(silentReply.hasPrefix("HTTP/1.1 408 "), silentReply)
        let trickleReply = try XCTUnwrap(trickle.readToEnd(), "the server must close a slow connection")
        XCTAssertTrue(trickleReply.hasPrefix("HTTP/1.1 408 "), trickleReply)
    }

    func testOversizeHeadersAreRefusedWith431() throws {
        let listener = try makeListener()
        defer { listener.stop() }
        let big = "GET /hello HTTP/1.1\r\nX-Filler: " + String(repeating: "a", count: 20_000) + "\r\n\r\n"
        let reply = try XCTUnwrap(RawClient.exchange(port: listener.port, big))
        XCTAssertTrue(reply.hasPrefix("HTTP/1.1 431 Request Header Fields Too Large\r\n"), reply)
        // Endless headers without a blank line: refused as soon as the limit is passed.
        let endless = try RawClient(port: listener.port)
        endless.send("GET / HTTP/1.1\r\n" + String(repeating: "X-A: b\r\n", count: 3_000))
        let endlessReply = try XCTUnwrap(endless.readToEnd())
        XCTAssertTrue(endlessReply.hasPrefix("HTTP/1.1 431 "), endlessReply)
    }

    func testMalformedRequestsGet400() throws {
        let listener = try makeListener()
        defer { listener.stop() }
        for bad in ["GARBAGE\r\n\r\n", "GET /hello\r\n\r\n", "GET /hello HTTP/1.1\r\nNoColonHere\r\n\r\n"] {
            let reply = try XCTUnwrap(RawClient.exchange(port: listener.port, bad))
            XCTAssertTrue(reply.hasPrefix("HTTP/1.1 400 "), "\(bad.debugDescription) -> \(reply)")
        }
    }

    func testConnectionsBeyondTheCapAreRefusedWith503() throws {
        let listener = try makeListener {
            $0.maxConnections = 2
            $0.readTimeout = .seconds(30)
        }
        defer { listener.stop() }
        let a = try RawClient(port: listener.port)
        let b = try RawClient(port: listener.port)
        let third = try XCTUnwrap(RawClient.exchange(port: listener.port, "GET /hello HTTP/1.1\r\n\r\n"))
        XCTAssertTrue(third.hasPrefix("HTTP/1.1 503 "), third)
        // The held connections still get their answers.
        a.send("GET /hello HTTP/1.1\r\n\r\n")
        b.send("GET /hello HTTP/1.1\r\n\r\n")
        XCTAssertTrue(a.readToEnd()?.hasPrefix("HTTP/1.1 200 ") == true)
        XCTAssertTrue(b.readToEnd()?.hasPrefix("HTTP/1.1 200 ") == true)
    }

    func testHandlersMayAnswerLaterWithoutHoldingUpOtherClients() throws {
        let gate = DispatchSemaphore(value: 0)
        let listener = try HTTPListener(port: 0) { request, respond in
            if request.path == "/slow" {
                DispatchQueue.global().async {
                    gate.wait()
                    respond(ListenerResponse(status: 200, body: "slow\n"))
                }
            } else {
                respond(ListenerResponse(status: 200, body: "fast\n"))
            }
        }
        listener.start()
        defer { listener.stop() }
        let slow = try RawClient(port: listener.port)
        slow.send("GET /slow HTTP/1.1\r\n\r\n")
        let fast = try XCTUnwrap(RawClient.exchange(port: listener.port, "GET /fast HTTP/1.1\r\n\r\n"))
        XCTAssertTrue(fast.hasSuffix("fast\n"), fast)
        gate.signal()
        XCTAssertTrue(slow.readToEnd()?.hasSuffix("\r\n\r\nslow\n") == true)
    }

    func testAHandlerThatNeverAnswersGets503AtTheResponseDeadline() throws {
        var configuration = HTTPListener.Configuration()
        configuration.responseTimeout = .milliseconds(200)
        let listener = try HTTPListener(port: 0, configuration: configuration) { _, _ in }
        listener.start()
        defer { listener.stop() }
        let reply = try XCTUnwrap(RawClient.exchange(port: listener.port, "GET / HTTP/1.1\r\n\r\n"))
        XCTAssertTrue(reply.hasPrefix("HTTP/1.1 503 "), reply)
    }

    func testStopClosesTheListeningSocket() throws {
        let listener = try makeListener()
        let port = listener.port
        listener.stop()
        listener.stop() // idempotent
        XCTAssertThrowsError(try RawClient(port: port))
    }

    func testParsesAbsoluteFormTargets() {
        let request = HTTPListener.Loop.parse(Array("GET http://h:1/metrics?a=b HTTP/1.1\r\nHost: h\r\n\r\n".utf8))
        XCTAssertEqual(request?.path, "/metrics")
        XCTAssertEqual(request?.query, "a=b")
        XCTAssertEqual(request?.headers.first?.name, "Host")
    }

    func testAStreamedBodyIsPulledAsTheClientReadsAndEndsWithTheClose() throws {
        let stream = PatternStream(pieces: 200, size: 64 * 1024)
        let listener = try HTTPListener(port: 0) { _ in
            ListenerResponse(status: 200, stream: stream)
        }
        listener.start()
        defer { listener.stop() }
        let client = try RawClient(port: listener.port)
        client.send("GET /big HTTP/1.1\r\nHost: localhost\r\n\r\n")
        // Not reading yet: the listener stops pulling once the socket buffers are full. Wait until it has
        // pulled something and then nothing more for 200 ms.
        var seen = 0, still = 0
        waitUntil("the listener to stop pulling") {
            let now = stream.pulled
            still = now == seen && now > 0 ? still + 1 : 0
            seen = now
            return still >= 20
        }
        XCTAssertLessThan(stream.pulled, 200, "the whole body was rendered ahead of the client")

        let reply = try XCTUnwrap(client.readToEnd())
        let split = try XCTUnwrap(reply.range(of: "\r\n\r\n"))
        let head = reply[..<split.lowerBound]
        XCTAssertTrue(head.hasPrefix("HTTP/1.1 200 OK\r\n"), String(head))
        XCTAssertFalse(head.contains("Content-Length"), String(head))
        XCTAssertTrue(head.contains("Connection: close"), String(head))
        let body = reply[split.upperBound...]
        XCTAssertEqual(body.utf8.count, 200 * 64 * 1024)
        XCTAssertTrue(body.hasPrefix("piece 0\n"))
        XCTAssertTrue(body.contains("piece 199\n"))
        XCTAssertEqual(stream.pulled, 201, "every piece, then the end")

        let headOnly = try XCTUnwrap(RawClient.exchange(port: listener.port, "HEAD /big HTTP/1.1\r\n\r\n"))
        XCTAssertTrue(headOnly.hasSuffix("Connection: close\r\n\r\n"), headOnly)
        XCTAssertEqual(stream.pulled, 201, "HEAD renders nothing")
    }

    func testAStreamCutShortByTheWriteDeadlineEndsWithAResetNotAClose() throws {
        let listener = try HTTPListener(port: 0, configuration: { var c = HTTPListener.Configuration(); c.writeTimeout = .milliseconds(300); return c }()) { _ in
            ListenerResponse(status: 200, stream: PatternStream(pieces: 400, size: 64 * 1024))
        }
        listener.start()
        defer { listener.stop() }
        let client = try RawClient(port: listener.port)
        client.send("GET /big HTTP/1.1\r\n\r\n")
        // Without reading, until the listener gives up at its write deadline: the reset shows as POLLERR/POLLHUP.
        waitUntil("the connection to be dropped", timeout: 10) {
            var pfd = pollfd(fd: client.fd, events: 0, revents: 0)
            return poll(&pfd, 1, 0) == 1 && pfd.revents & Int16(POLLERR | POLLHUP) != 0
        }
        var buffer = [UInt8](repeating: 0, count: 65_536)
        var received = 0
        var end: Int32 = 0
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(client.fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { received += n; continue }
            end = n == 0 ? 0 : errno
            break
        }
        XCTAssertEqual(end, ECONNRESET, "a truncated body must not look complete (received \(received) bytes)")
        XCTAssertLessThan(received, 400 * 64 * 1024)
    }
}

/// A body of `pieces` pieces of `size` bytes, each starting "piece N\n"; counts the calls to `next()`.
final class PatternStream: BodyStream, @unchecked Sendable {
    private let lock = NSLock()
    private var served = 0
    private var calls = 0
    let pieces: Int
    let size: Int

    init(pieces: Int, size: Int) {
        self.pieces = pieces
        self.size = size
    }

    var pulled: Int { lock.withLock { calls } }

    func next() -> [UInt8]? {
        lock.withLock {
            calls += 1
            guard served < pieces else { return nil }
            var piece = Array("piece \(served)\n".utf8)
            piece += [UInt8](repeating: UInt8(ascii: "."), count: size - piece.count - 1) + [10]
            served += 1
            return piece
        }
    }
}
