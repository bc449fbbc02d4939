import Foundation
import ProberTestSupport
import Testing
@testable import ProberHTTP

/// The listener against raw loopback clients that behave, and misbehave, as real ones do.
@Suite struct HTTPListenerTests {
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

    @Test func aGoodGetIsAnsweredAndClosed() throws {
        let listener = try makeListener()
        defer { listener.stop() }
        #expect(listener.port != 0)
        let reply = try #require(try RawClient.exchange(port: listener.port, "GET /hello?x=1 HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n"))
        #expect(reply.hasPrefix("HTTP/1.1 200 OK\r\n"), "\(reply)")
        #expect(reply.contains("\r\nConnection: close\r\n"), "\(reply)")
        #expect(reply.contains("\r\nContent-Length: 14\r\n"), "\(reply)")
        #expect(reply.hasSuffix("\r\n\r\nhello GET x=1\n"), "\(reply)")

        let missing = try #require(try RawClient.exchange(port: listener.port, "GET /nope HTTP/1.1\r\n\r\n"))
        #expect(missing.hasPrefix("HTTP/1.1 404 Not Found\r\n"), "\(missing)")
    }

    @Test func headGetsHeadersWithoutBodyEvenOverHTTP10() throws {
        let listener = try makeListener()
        defer { listener.stop() }
        let reply = try #require(try RawClient.exchange(port: listener.port, "HEAD /hello HTTP/1.0\r\n\r\n"))
        #expect(reply.hasPrefix("HTTP/1.1 200 OK\r\n"), "\(reply)")
        #expect(reply.contains("Content-Length: 13\r\n"), "\(reply)")
        #expect(reply.hasSuffix("\r\n\r\n"), "\(reply)")
    }

    @Test func aClientThatSendsNothingIsClosedAtTheReadDeadlineWithoutBlockingOthers() throws {
        let listener = try makeListener { $0.readTimeout = .milliseconds(300) }
        defer { listener.stop() }
        let silent = try RawClient(port: listener.port)
        let trickle = try RawClient(port: listener.port)
        trickle.send("GET /hello HTTP/1.1\r\nHost: x\r\n") // never finishes its head
        // Meanwhile a good client is served.
        let good = try #require(try RawClient.exchange(port: listener.port, "GET /hello HTTP/1.1\r\n\r\n"))
        #expect(good.hasPrefix("HTTP/1.1 200 OK"), "\(good)")
        let silentReply = try #require(silent.readToEnd(), "the server must close a silent connection")
        #expect(silentReply.hasPrefix("HTTP/1.1 408 "), "\(silentReply)")
        let trickleReply = try #require(trickle.readToEnd(), "the server must close a slow connection")
        #expect(trickleReply.hasPrefix("HTTP/1.1 408 "), "\(trickleReply)")
    }

    @Test func oversizeHeadersAreRefusedWith431() throws {
        let listener = try makeListener()
        defer { listener.stop() }
        let big = "GET /hello HTTP/1.1\r\nX-Filler: " + String(repeating: "a", count: 20_000) + "\r\n\r\n"
        let reply = try #require(try RawClient.exchange(port: listener.port, big))
        #expect(reply.hasPrefix("HTTP/1.1 431 Request Header Fields Too Large\r\n"), "\(reply)")
        // Endless headers without a blank line: refused as soon as the limit is passed.
        let endless = try RawClient(port: listener.port)
        endless.send("GET / HTTP/1.1\r\n" + String(repeating: "X-A: b\r\n", count: 3_000))
        let endlessReply = try #require(endless.readToEnd())
        #expect(endlessReply.hasPrefix("HTTP/1.1 431 "), "\(endlessReply)")
    }

    @Test(arguments: ["GARBAGE\r\n\r\n", "GET /hello\r\n\r\n", "GET /hello HTTP/1.1\r\nNoColonHere\r\n\r\n"])
    func malformedRequestsGet400(_ bad: String) throws {
        let listener = try makeListener()
        defer { listener.stop() }
        let reply = try #require(try RawClient.exchange(port: listener.port, bad))
        #expect(reply.hasPrefix("HTTP/1.1 400 "), "\(bad.debugDescription) -> \(reply)")
    }

    @Test func aNewClientAtTheCapTakesThePlaceOfTheOldestSilentOne() throws {
        let listener = try makeListener {
            $0.maxConnections = 2
            $0.readTimeout = .seconds(30)
        }
        defer { listener.stop() }
        // Accepted in the order they connected (the backlog is a queue), each stamped with its own accept time.
        let oldest = try RawClient(port: listener.port)
        let younger = try RawClient(port: listener.port)
        // Both are silent and younger than `evictStalledAfter`: the newcomer is still served, in the oldest's place.
        let third = try #require(try RawClient.exchange(port: listener.port, "GET /hello HTTP/1.1\r\n\r\n"))
        #expect(third.hasPrefix("HTTP/1.1 200 "), "\(third)")
        #expect(oldest.readToEnd(timeout: 5) == "", "the oldest silent connection was closed for the newcomer")
        younger.send("GET /hello HTTP/1.1\r\n\r\n")
        #expect(younger.readToEnd()?.hasPrefix("HTTP/1.1 200 ") == true)
    }

    @Test func connectionsBeyondTheCapAreRefusedWith503OnlyWhileEveryHandlerIsWorking() throws {
        let gate = DispatchSemaphore(value: 0)
        let started = Locked(0)
        var configuration = HTTPListener.Configuration()
        configuration.maxConnections = 2
        let listener = try HTTPListener(port: 0, configuration: configuration) { request, respond in
            started.withLock { $0 += 1 }
            DispatchQueue.global().async {
                gate.wait()
                respond(ListenerResponse(status: 200, body: "slow\n"))
            }
        }
        listener.start()
        defer { listener.stop() }
        let a = try RawClient(port: listener.port)
        let b = try RawClient(port: listener.port)
        a.send("GET /slow HTTP/1.1\r\n\r\n")
        b.send("GET /slow HTTP/1.1\r\n\r\n")
        #expect(waitUntil { started.current == 2 })
        // The reply arrives whole although the request was sent before the listener refused it (no reset).
        let third = try #require(try RawClient.exchange(port: listener.port, "GET /slow HTTP/1.1\r\n\r\n"))
        #expect(third.hasPrefix("HTTP/1.1 503 "), "\(third)")
        gate.signal()
        gate.signal()
        #expect(a.readToEnd()?.hasSuffix("\r\n\r\nslow\n") == true)
        #expect(b.readToEnd()?.hasSuffix("\r\n\r\nslow\n") == true)
    }

    /// A burst of complete requests keeps every connection busy for a moment: a newcomer then waits for a slot
    /// instead of being refused (the fault suite's `/healthz` right after 350 connections got 503 about one run in five).
    @Test func aNewcomerWaitsForASlotWhileEveryConnectionIsBrieflyBusy() throws {
        let gate = DispatchSemaphore(value: 0)
        let started = Locked(0)
        var configuration = HTTPListener.Configuration()
        configuration.maxConnections = 2
        let listener = try HTTPListener(port: 0, configuration: configuration) { request, respond in
            started.withLock { $0 += 1 }
            DispatchQueue.global().async {
                if request.path == "/slow" { gate.wait() }
                respond(ListenerResponse(status: 200, body: "done\n"))
            }
        }
        listener.start()
        defer { listener.stop() }
        let a = try RawClient(port: listener.port)
        let b = try RawClient(port: listener.port)
        a.send("GET /slow HTTP/1.1\r\n\r\n")
        b.send("GET /slow HTTP/1.1\r\n\r\n")
        #expect(waitUntil { started.current == 2 })
        // Both handlers finish 50 ms after the newcomer arrives, well within the 250 ms it may wait.
        // (A thread of its own: the two handlers may hold all of Dispatch's global threads on 2 cores.)
        Thread.detachNewThread { usleep(50_000); gate.signal(); gate.signal() }
        let third = try #require(try RawClient.exchange(port: listener.port, "GET /fast HTTP/1.1\r\n\r\n"))
        #expect(third.hasPrefix("HTTP/1.1 200 "), "\(third)")
        #expect(a.readToEnd()?.hasSuffix("\r\n\r\ndone\n") == true)
    }

    @Test func handlersMayAnswerLaterWithoutHoldingUpOtherClients() throws {
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
        let fast = try #require(try RawClient.exchange(port: listener.port, "GET /fast HTTP/1.1\r\n\r\n"))
        #expect(fast.hasSuffix("fast\n"), "\(fast)")
        gate.signal()
        #expect(slow.readToEnd()?.hasSuffix("\r\n\r\nslow\n") == true)
    }

    @Test func aHandlerThatNeverAnswersGets503AtTheResponseDeadline() throws {
        var configuration = HTTPListener.Configuration()
        configuration.responseTimeout = .milliseconds(200)
        let listener = try HTTPListener(port: 0, configuration: configuration) { _, _ in }
        listener.start()
        defer { listener.stop() }
        let reply = try #require(try RawClient.exchange(port: listener.port, "GET / HTTP/1.1\r\n\r\n"))
        #expect(reply.hasPrefix("HTTP/1.1 503 "), "\(reply)")
    }

    @Test func stopClosesTheListeningSocket() throws {
        let listener = try makeListener()
        let port = listener.port
        listener.stop()
        listener.stop() // idempotent
        #expect(throws: (any Error).self) { try RawClient(port: port) }
    }

    @Test func parsesAbsoluteFormTargets() {
        let request = ListenerRequest(head: Array("GET http://h:1/metrics?a=b HTTP/1.1\r\nHost: h\r\n\r\n".utf8))
        #expect(request?.path == "/metrics")
        #expect(request?.query == "a=b")
        #expect(request?.headers.first?.name == "Host")
    }

    @Test func aStreamedBodyIsPulledAsTheClientReadsAndEndsWithTheClose() throws {
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
        try waitUntil("the listener to stop pulling") {
            let now = stream.pulled
            still = now == seen && now > 0 ? still + 1 : 0
            seen = now
            return still >= 20
        }
        #expect(stream.pulled < 200, "the whole body was rendered ahead of the client")

        let reply = try #require(client.readToEnd())
        let split = try #require(reply.range(of: "\r\n\r\n"))
        let head = reply[..<split.lowerBound]
        #expect(head.hasPrefix("HTTP/1.1 200 OK\r\n"), "\(head)")
        #expect(!head.contains("Content-Length"), "\(head)")
        #expect(head.contains("Connection: close"), "\(head)")
        let body = reply[split.upperBound...]
        #expect(body.utf8.count == 200 * 64 * 1024)
        #expect(body.hasPrefix("piece 0\n"))
        #expect(body.contains("piece 199\n"))
        #expect(stream.pulled == 201, "every piece, then the end")

        let headOnly = try #require(try RawClient.exchange(port: listener.port, "HEAD /big HTTP/1.1\r\n\r\n"))
        #expect(headOnly.hasSuffix("Connection: close\r\n\r\n"), "\(headOnly)")
        #expect(stream.pulled == 201, "HEAD renders nothing")
    }

    @Test func aStreamCutShortByTheWriteDeadlineEndsWithAResetNotAClose() throws {
        var configuration = HTTPListener.Configuration()
        configuration.writeTimeout = .milliseconds(300)
        let listener = try HTTPListener(port: 0, configuration: configuration) { _ in
            ListenerResponse(status: 200, stream: PatternStream(pieces: 400, size: 64 * 1024))
        }
        listener.start()
        defer { listener.stop() }
        let client = try RawClient(port: listener.port)
        client.send("GET /big HTTP/1.1\r\n\r\n")
        // Without reading, until the listener gives up at its write deadline: the reset shows as POLLERR/POLLHUP.
        try waitUntil("the connection to be dropped", timeout: 10) {
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
        #expect(end == ECONNRESET, "a truncated body must not look complete (received \(received) bytes)")
        #expect(received < 400 * 64 * 1024)
    }
}

/// A body of `pieces` pieces of `size` bytes, each starting "piece N\n"; counts the calls to `next()`.
/// `@unchecked Sendable`: the counters are only touched under `lock`.
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

struct TimedOut: Error, CustomStringConvertible {
    var description: String
}

/// Waits until `condition` holds, checking every 10 ms; throws after `timeout` seconds (a bound, not a speed).
func waitUntil(_ what: String, timeout: TimeInterval = 20, _ condition: () throws -> Bool) throws {
    let end = Date().addingTimeInterval(timeout)
    while try !condition() {
        if Date() > end { throw TimedOut(description: "timed out waiting for \(what)") }
        usleep(10_000)
    }
}

/// The listener tells handlers who asked.
@Suite struct ListenerClientAddressTests {
    @Test func eachRequestCarriesItsClientsAddress() throws {
        let listener = try HTTPListener(port: 0) { request in ListenerResponse(status: 200, body: "from \(request.client)\n") }
        listener.start()
        defer { listener.stop() }
        for source in ["127.0.0.1", "127.0.0.3"] {
            let reply = try #require(try RawClient.exchange(port: listener.port, from: source, "GET / HTTP/1.1\r\n\r\n"))
            #expect(reply.hasSuffix("\r\n\r\nfrom \(source)\n"), "\(reply)")
        }
    }
}
