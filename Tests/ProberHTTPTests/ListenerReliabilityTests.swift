import Foundation
import ProberTestSupport
import Testing
@testable import ProberHTTP

/// Defects found by attacking the listener (issue 13, item 11), each against the real listener on loopback.
@Suite struct ListenerReliabilityTests {
    private func makeListener(_ configure: (inout HTTPListener.Configuration) -> Void = { _ in }) throws -> HTTPListener {
        var configuration = HTTPListener.Configuration()
        configure(&configuration)
        var router = Router()
        router.get("/hello") { request in ListenerResponse(status: 200, body: "hello \(request.query ?? "-")\n") }
        router.get("/big") { _ in ListenerResponse(status: 200, stream: PatternStream(pieces: 400, size: 64 * 1024)) }
        router.get("/small") { _ in ListenerResponse(status: 200, stream: PatternStream(pieces: 1, size: 16)) }
        let listener = try HTTPListener(port: 0, configuration: configuration, router: router)
        listener.start()
        return listener
    }

    /// The status code of a fresh `GET path`, or nil without an answer.
    private func status(_ port: UInt16, _ path: String = "/hello") -> Int? {
        let reply = try? RawClient.exchange(port: port, "GET \(path) HTTP/1.1\r\nHost: localhost\r\n\r\n")
        return reply.flatMap { $0.split(separator: " ", maxSplits: 2).dropFirst().first }.flatMap { Int($0) }
    }

    @Test func clientsThatKeepTheSocketOpenAfterTheirAnswerCannotFillTheSlots() throws {
        let listener = try makeListener { $0.maxConnections = 4 }
        defer { listener.stop() }
        // Each gets its answer (the listener shuts its side) and then holds the socket open.
        var idle: [RawClient] = []
        for _ in 0..<4 {
            let client = try RawClient(port: listener.port)
            client.send("GET /hello HTTP/1.1\r\n\r\n")
            #expect(client.readToEnd()?.hasPrefix("HTTP/1.1 200 ") == true)
            idle.append(client)
        }
        #expect(status(listener.port) == 200, "a finished connection gives way to a new client")
    }

    @Test func clientsThatStopReadingTheirAnswerCannotFillTheSlots() throws {
        let listener = try makeListener {
            $0.maxConnections = 2
            $0.writeTimeout = .seconds(60)
            $0.evictStalledAfter = .milliseconds(100)
        }
        defer { listener.stop() }
        let stalled = try (0..<2).map { _ in try RawClient(port: listener.port) }
        for client in stalled { client.send("GET /big HTTP/1.1\r\n\r\n") } // and never read
        try waitUntil("a new client answered while the slots hold stalled readers") { status(listener.port) == 200 }
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() throws {
        let listener = try makeListener()
        defer { listener.stop() }
        let client = try RawClient(port: listener.port)
        client.send("GET /hello?1 HTTP/1.1\r\n\r\nHEAD /hello?2 HTTP/1.1\r\n\r\nGET /hello?3 HTTP/1.1\r\n\r\n")
        let reply = try #require(client.readToEnd())
        let answers = reply.components(separatedBy: "HTTP/1.1 ").dropFirst()
        #expect(answers.count == 3, "\(reply)")
        #expect(answers.first?.hasSuffix("\r\n\r\nhello 1\n") == true, "\(reply)")
        #expect(answers.dropFirst().first?.hasSuffix("Content-Length: 8\r\n\r\n") == true, "HEAD: no body\n\(reply)")
        #expect(answers.last?.hasSuffix("\r\n\r\nhello 3\n") == true, "\(reply)")
        #expect(answers.last?.contains("Connection: close\r\n") == true, "the last answer says the connection closes\n\(reply)")
        #expect(answers.first?.contains("Connection: close") == false, "more answers follow the first\n\(reply)")
    }

    @Test func aPipelinedRequestAfterConnectionCloseIsNotAnswered() throws {
        let listener = try makeListener()
        defer { listener.stop() }
        let reply = try #require(try RawClient.exchange(port: listener.port,
            "GET /hello?1 HTTP/1.1\r\nConnection: close\r\n\r\nGET /hello?2 HTTP/1.1\r\n\r\n"))
        #expect(reply.components(separatedBy: "HTTP/1.1 ").count == 2, "\(reply)")
        #expect(reply.hasSuffix("hello 1\n"), "\(reply)")
    }

    @Test func aRequestWithABodyIsTheLast() throws {
        let listener = try makeListener()
        defer { listener.stop() }
        let reply = try #require(try RawClient.exchange(port: listener.port,
            "POST /hello HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"))
        #expect(reply.hasPrefix("HTTP/1.1 405 "), "\(reply)")
        #expect(reply.components(separatedBy: "HTTP/1.1 ").count == 2, "the body is not taken for a request\n\(reply)")
        #expect(reply.contains("Connection: close\r\n"), "\(reply)")
    }

    @Test func hugeHeadsAreRefusedWith431() throws {
        let listener = try makeListener()
        defer { listener.stop() }
        for size in [1 << 20, 16 << 20] {
            let client = try RawClient(port: listener.port)
            let head = "GET /hello HTTP/1.1\r\nX-Filler: " + String(repeating: "a", count: size) + "\r\n\r\n"
            let sender = Thread { client.send(head) } // the listener answers long before the head ends
            sender.start()
            let reply = try #require(client.readToEnd())
            #expect(reply.hasPrefix("HTTP/1.1 431 "), "\(size) bytes: \(reply.prefix(100))")
        }
        #expect(status(listener.port) == 200)
    }

    @Test func tenThousandConnectionsAreAllServed() async throws {
        let listener = try makeListener()
        defer { listener.stop() }
        let port = listener.port
        let served = await withTaskGroup(of: Int.self) { group in
            for _ in 0..<8 {
                group.addTask { (0..<1_250).reduce(0) { count, _ in count + (Self.statusOf(port) == 200 ? 1 : 0) } }
            }
            return await group.reduce(0, +)
        }
        #expect(served == 10_000)
    }

    private static func statusOf(_ port: UInt16) -> Int? {
        let reply = try? RawClient.exchange(port: port, "GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n")
        return reply.flatMap { $0.split(separator: " ", maxSplits: 2).dropFirst().first }.flatMap { Int($0) }
    }

    @Test func aStreamedAnswerEndsThePipeline() throws {
        let listener = try makeListener()
        defer { listener.stop() }
        let reply = try #require(try RawClient.exchange(port: listener.port, "GET /small HTTP/1.1\r\n\r\nGET /hello?2 HTTP/1.1\r\n\r\n"))
        #expect(reply.components(separatedBy: "HTTP/1.1 ").count == 2, "\(reply)")
        #expect(reply.contains("Connection: close\r\n\r\npiece 0\n"), "\(reply)")
    }

    @Test func aLateAnswerAfterStopWritesToNoDescriptor() throws {
        let held = Locked<Router.Responder?>(nil)
        let arrived = DispatchSemaphore(value: 0)
        let listener = try HTTPListener(port: 0) { _, respond in
            held.withLock { $0 = respond }
            arrived.signal()
        }
        listener.start()
        let client = try RawClient(port: listener.port)
        client.send("GET / HTTP/1.1\r\n\r\n")
        arrived.wait()
        let wakeFD = listener.loop.wakeWrite
        listener.stop()

        // The descriptor number the listener used to wake itself now belongs to someone else: a pipe of ours.
        var ends: [Int32] = [-1, -1]
        try #require(pipe(&ends) == 0)
        defer { close(ends[0]); close(ends[1]) }
        _ = fcntl(ends[0], F_SETFL, fcntl(ends[0], F_GETFL) | O_NONBLOCK)
        try #require(fcntl(wakeFD, F_GETFD) == -1, "descriptor \(wakeFD) was taken by another test meanwhile")
        try #require(dup2(ends[1], wakeFD) == wakeFD)
        defer { close(wakeFD) }

        held.current?(ListenerResponse(status: 200, body: "too late\n"))
        var byte: UInt8 = 0
        #expect(Glibc.read(ends[0], &byte, 1) == -1 && errno == EAGAIN, "the late answer wrote into a reused descriptor")
    }
}
