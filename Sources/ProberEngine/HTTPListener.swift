import Foundation
import ProberCore

/// One parsed HTTP/1.x request head (a body, if any, is not read).
public struct ListenerRequest: Sendable {
    /// As sent (`GET`, `HEAD`, ...).
    public var method: String
    /// The request target as sent: `/metrics?x=1`.
    public var target: String
    /// The target's path, without the query: `/metrics`.
    public var path: String
    /// The query string without `?`, or nil.
    public var query: String?
    /// `HTTP/1.1` or `HTTP/1.0`.
    public var version: String
    public var headers: [Header]
}

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

/// A response; the listener adds `Content-Length` (unless the body is streamed) and `Connection: close`.
public struct ListenerResponse: Sendable {
    public var status: Int
    public var contentType: String
    public var body: [UInt8]
    /// When set, the body is streamed from it and `body` is ignored.
    public var stream: (any BodyStream)?
    /// Extra headers (not `Content-Length` or `Connection`).
    public var headers: [Header]

    public init(status: Int, contentType: String = "text/plain; charset=utf-8", body: [UInt8], headers: [Header] = []) {
        self.status = status
        self.contentType = contentType
        self.body = body
        self.headers = headers
    }

    public init(status: Int, contentType: String = "text/plain; charset=utf-8", body: String, headers: [Header] = []) {
        self.init(status: status, contentType: contentType, body: Array(body.utf8), headers: headers)
    }

    public init(status: Int, contentType: String = "text/plain; charset=utf-8", stream: any BodyStream, headers: [Header] = []) {
        self.init(status: status, contentType: contentType, body: [], headers: headers)
        self.stream = stream
    }

    /// The bytes on the wire (not for a streamed body); `headOnly` leaves the body out but keeps its length
    /// (the answer to `HEAD`).
    func serialized(headOnly: Bool) -> [UInt8] {
        chunks(headOnly: headOnly).flatMap { $0 }
    }

    /// The head and, unless streamed, the body: the body is not copied.
    func chunks(headOnly: Bool) -> [[UInt8]] {
        var text = "HTTP/1.1 \(status) \(Self.reason(status))\r\n"
        text += "Content-Type: \(contentType)\r\n"
        for header in headers { text += "\(header.name): \(header.value)\r\n" }
        if stream == nil { text += "Content-Length: \(body.count)\r\n" }
        text += "Connection: close\r\n\r\n"
        return headOnly || stream != nil ? [Array(text.utf8)] : [Array(text.utf8), body]
    }

    static func reason(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 204: "No Content"
        case 400: "Bad Request"
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

/// A small HTTP/1.1 server for `/metrics`, `/healthz` and the demo target: one thread running `poll` over
/// non-blocking sockets, one request per connection (`Connection: close`).
///
/// Defences, so that no client can stall it or the process: the whole request head must arrive within
/// `readTimeout`; it may not exceed `maxHeaderBytes` (answered 431); at most `maxConnections` are open
/// (at the cap, a new connection takes the place of the one that has been sending its head the longest, if
/// for more than `evictReadingAfter`; otherwise it is answered 503 and closed); a client that does not read
/// its response is dropped after `writeTimeout`; a handler that never answers gets a 503 after
/// `responseTimeout`. Handlers run on `handlerQueue`, never on the listener's thread, and may answer later
/// from any thread.
public final class HTTPListener: Sendable {
    public struct Configuration: Sendable {
        /// Time from accept to a complete request head. Default 5 s.
        public var readTimeout: Duration = .seconds(5)
        /// Time the handler has to answer. Default 30 s.
        public var responseTimeout: Duration = .seconds(30)
        /// Time the client has to take the response. Default 5 s.
        public var writeTimeout: Duration = .seconds(5)
        /// Largest request head (request line and headers). Default 16 KiB.
        public var maxHeaderBytes: Int = 16 * 1024
        /// Connections open at once. Default 128.
        public var maxConnections: Int = 128
        /// At the cap, a connection still sending its request head after this long is closed to make room for
        /// a new one, so stalled clients cannot keep out a scraper or a liveness probe for a whole
        /// `readTimeout`. Default 1 s.
        public var evictReadingAfter: Duration = .seconds(1)
        /// `listen` backlog. Default 1024.
        public var backlog: Int32 = 1024
        public init() {}
    }

    /// Hands a response back; call once, from any thread. Later calls are ignored.
    public typealias Responder = @Sendable (ListenerResponse) -> Void
    public typealias Handler = @Sendable (ListenerRequest, @escaping Responder) -> Void

    /// The bound address and port (the real one when asked for port 0).
    public let host: String
    public let port: UInt16
    private let loop: Loop
    private enum Life { case idle, running, stopped }
    private let life = Locked(Life.idle)

    /// Binds and listens now (so the port is known and errors surface here); serves after `start()`.
    public init(host: String = "127.0.0.1", port: UInt16 = 0, configuration: Configuration = Configuration(),
                handlerQueue: DispatchQueue = DispatchQueue(label: "prober.http.handlers", attributes: .concurrent),
                handler: @escaping Handler) throws {
        let (fd, boundPort) = try Self.bind(host: host, port: port, backlog: configuration.backlog)
        self.host = host
        self.port = boundPort
        loop = try Loop(listenFD: fd, configuration: configuration, handlerQueue: handlerQueue, handler: handler)
    }

    /// A listener whose handler answers at once.
    public convenience init(host: String = "127.0.0.1", port: UInt16 = 0, configuration: Configuration = Configuration(),
                            respond: @escaping @Sendable (ListenerRequest) -> ListenerResponse) throws {
        try self.init(host: host, port: port, configuration: configuration) { request, responder in
            responder(respond(request))
        }
    }

    /// Starts the listener's thread (once; not after `stop`).
    public func start() {
        let first = life.withLock { life -> Bool in
            guard life == .idle else { return false }
            life = .running
            return true
        }
        guard first else { return }
        let loop = self.loop
        let t = Thread { loop.run() }
        t.name = "prober.http"
        t.start()
    }

    /// Closes the listening socket and every connection, and waits for the thread to end. Idempotent.
    public func stop() {
        let before = life.withLock { life -> Life in
            defer { life = .stopped }
            return life
        }
        switch before {
        case .running:
            loop.requestStop()
            loop.finished.wait()
        case .idle:
            loop.closeAll()
        case .stopped:
            break
        }
    }

    deinit {
        switch life.current {
        case .running: loop.requestStop() // the thread closes everything as it ends
        case .idle: loop.closeAll()
        case .stopped: break
        }
    }

    private static func bind(host: String, port: UInt16, backlog: Int32) throws -> (Int32, UInt16) {
        var hints = addrinfo()
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &result)
        guard rc == 0, let info = result else {
            throw HTTPListenerError("cannot resolve listen address \(host): \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(result) }
        let fd = socket(info.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw HTTPListenerError("socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        guard Glibc.bind(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 else {
            let message = String(cString: strerror(errno))
            close(fd)
            throw HTTPListenerError("cannot listen on \(host):\(port): \(message)")
        }
        guard listen(fd, backlog) == 0 else {
            let message = String(cString: strerror(errno))
            close(fd)
            throw HTTPListenerError("listen on \(host):\(port): \(message)")
        }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        let family = storage.ss_family
        let bound: UInt16 = withUnsafeBytes(of: &storage) { raw in
            if family == sa_family_t(AF_INET6) {
                return UInt16(bigEndian: raw.load(fromByteOffset: MemoryLayout<sockaddr_in6>.offset(of: \sockaddr_in6.sin6_port)!, as: UInt16.self))
            }
            return UInt16(bigEndian: raw.load(fromByteOffset: MemoryLayout<sockaddr_in>.offset(of: \sockaddr_in.sin_port)!, as: UInt16.self))
        }
        return (fd, bound)
    }
}

public struct HTTPListenerError: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ description: String) { self.description = description }
}

extension HTTPListener {
    /// The poll loop. Owns the listening socket, the wake-up eventfd and every connection's socket, and
    /// closes them when `run` ends. `@unchecked Sendable` because everything but `mailbox`, `stopping`
    /// (both lock-guarded), `wakeWrite` (immutable, only written to) and `finished` is touched only
    /// by the listener thread inside `run`.
    final class Loop: @unchecked Sendable {
        enum Phase {
            case reading
            case awaitingResponse
            case writing
            /// Response sent and write side shut: discard input until EOF so closing never resets the
            /// connection before the client has read the response.
            case lingering
        }

        final class Connection {
            let fd: Int32
            let id: UInt64
            let acceptedAt: UInt64
            var phase: Phase = .reading
            var deadline: UInt64
            var input: [UInt8] = []
            /// What is left to send, in order (see `ListenerResponse.chunks`).
            var output: [[UInt8]] = []
            /// Bytes of `output[0]` already sent.
            var written = 0
            /// The rest of a streamed body, pulled a piece at a time once `output` is sent.
            var stream: (any BodyStream)?
            var headOnly = false
            init(fd: Int32, id: UInt64, acceptedAt: UInt64, deadline: UInt64) {
                self.fd = fd
                self.id = id
                self.acceptedAt = acceptedAt
                self.deadline = deadline
            }
        }

        let listenFD: Int32
        /// A self-pipe: any thread writes a byte to `wakeWrite` to interrupt `poll`.
        let wakeRead: Int32
        let wakeWrite: Int32
        let configuration: Configuration
        let handlerQueue: DispatchQueue
        let handler: Handler
        let mailbox = Locked<[(id: UInt64, response: ListenerResponse)]>([])
        let stopping = Locked(false)
        let finished = DispatchSemaphore(value: 0)

        private var connections: [UInt64: Connection] = [:]
        private var nextID: UInt64 = 1
        private var closed = false

        init(listenFD: Int32, configuration: Configuration, handlerQueue: DispatchQueue, handler: @escaping Handler) throws {
            self.listenFD = listenFD
            self.configuration = configuration
            self.handlerQueue = handlerQueue
            self.handler = handler
            var ends: [Int32] = [-1, -1]
            guard pipe(&ends) == 0 else {
                close(listenFD)
                throw HTTPListenerError("pipe: \(String(cString: strerror(errno)))")
            }
            for fd in ends { Self.configure(fd) }
            wakeRead = ends[0]
            wakeWrite = ends[1]
        }

        /// Non-blocking and close-on-exec (Glibc's Swift module lacks `accept4` and `pipe2`).
        static func configure(_ fd: Int32) {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }

        func requestStop() {
            stopping.withLock { $0 = true }
            wake()
        }

        private func wake() {
            var byte: UInt8 = 1
            _ = write(wakeWrite, &byte, 1) // a full pipe already means "wake up"
        }

        private static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

        private static func nanos(_ d: Duration) -> UInt64 { UInt64(max(0, d.microseconds)) * 1_000 }

        func run() {
            // This thread never takes process signals: they belong to the Dispatch signal sources.
            var all = sigset_t()
            sigfillset(&all)
            pthread_sigmask(SIG_BLOCK, &all, nil)
            var fds: [pollfd] = []
            var order: [Connection] = []
            while !stopping.current {
                fds.removeAll(keepingCapacity: true)
                order.removeAll(keepingCapacity: true)
                fds.append(pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0))
                fds.append(pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0))
                var nearest = UInt64.max
                for connection in connections.values {
                    let events: Int32
                    switch connection.phase {
                    case .reading, .lingering: events = Int32(POLLIN)
                    case .writing: events = Int32(POLLOUT)
                    case .awaitingResponse: events = 0
                    }
                    fds.append(pollfd(fd: connection.fd, events: Int16(events), revents: 0))
                    order.append(connection)
                    nearest = min(nearest, connection.deadline)
                }
                let now = Self.now()
                let timeout: Int32 = nearest == .max ? 1_000 : Int32(min(1_000, (nearest > now ? nearest - now : 0) / 1_000_000 + 1))
                let ready = poll(&fds, nfds_t(fds.count), timeout)
                if ready < 0 && errno != EINTR { break }

                if fds[1].revents != 0 {
                    var sink = [UInt8](repeating: 0, count: 256)
                    while sink.withUnsafeMutableBytes({ Glibc.read(wakeRead, $0.baseAddress, $0.count) }) > 0 {}
                    deliverResponses()
                }
                for (i, connection) in order.enumerated() where fds[i + 2].revents != 0 {
                    guard connections[connection.id] != nil else { continue }
                    service(connection, revents: Int32(fds[i + 2].revents))
                }
                if fds[0].revents != 0 { acceptAll() }
                expire(now: Self.now())
            }
            closeAll()
            finished.signal()
        }

        func closeAll() {
            guard !closed else { return }
            closed = true
            for connection in connections.values { drop(connection) }
            close(listenFD)
            close(wakeRead)
            close(wakeWrite)
        }

        private func acceptAll() {
            for _ in 0..<64 {
                let fd = accept(listenFD, nil, nil)
                if fd < 0 { return }
                Self.configure(fd)
                let now = Self.now()
                if connections.count >= configuration.maxConnections, let stalled = longestReading(now: now) {
                    drop(stalled)
                }
                if connections.count >= configuration.maxConnections {
                    let busy = ListenerResponse(status: 503, body: "too many connections\n").serialized(headOnly: false)
                    _ = busy.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                    close(fd)
                    continue
                }
                let connection = Connection(fd: fd, id: nextID, acceptedAt: now, deadline: now + Self.nanos(configuration.readTimeout))
                nextID += 1
                connections[connection.id] = connection
            }
        }

        /// The connection that has been sending its request head the longest, if for more than `evictReadingAfter`.
        private func longestReading(now: UInt64) -> Connection? {
            let threshold = Self.nanos(configuration.evictReadingAfter)
            var oldest: Connection?
            for c in connections.values where c.phase == .reading && now - c.acceptedAt > threshold {
                if oldest.map({ c.acceptedAt < $0.acceptedAt }) ?? true { oldest = c }
            }
            return oldest
        }

        private func service(_ connection: Connection, revents: Int32) {
            switch connection.phase {
            case .reading: read(connection)
            case .writing: flush(connection)
            case .lingering: drain(connection)
            case .awaitingResponse:
                // The client hung up (or errored) while the handler works: nothing left to answer.
                if revents & (Int32(POLLHUP) | Int32(POLLERR)) != 0 { drop(connection) }
            }
        }

        private func read(_ connection: Connection) {
            var chunk = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = chunk.withUnsafeMutableBytes { recv(connection.fd, $0.baseAddress, $0.count, 0) }
                if n == 0 { drop(connection); return }
                if n < 0 {
                    if errno == EINTR { continue }
                    if errno != EAGAIN && errno != EWOULDBLOCK { drop(connection) }
                    return
                }
                let searchFrom = max(0, connection.input.count - 3)
                connection.input.append(contentsOf: chunk[0..<n])
                if let end = Self.headEnd(connection.input, from: searchFrom) {
                    if end > configuration.maxHeaderBytes {
                        respond(connection, ListenerResponse(status: 431, body: "request head larger than \(configuration.maxHeaderBytes) bytes\n"))
                    } else {
                        dispatch(connection, head: Array(connection.input[0..<end]))
                    }
                    return
                }
                if connection.input.count > configuration.maxHeaderBytes {
                    respond(connection, ListenerResponse(status: 431, body: "request head larger than \(configuration.maxHeaderBytes) bytes\n"))
                    return
                }
            }
        }

        /// The index just past the blank line ending the head (`\r\n\r\n` or a bare `\n\n`).
        static func headEnd(_ bytes: [UInt8], from start: Int) -> Int? {
            var i = start
            while i < bytes.count {
                if bytes[i] == 10 {
                    if i + 1 < bytes.count, bytes[i + 1] == 10 { return i + 2 }
                    if i + 2 < bytes.count, bytes[i + 1] == 13, bytes[i + 2] == 10 { return i + 3 }
                }
                i += 1
            }
            return nil
        }

        private func dispatch(_ connection: Connection, head: [UInt8]) {
            connection.input = []
            guard let request = Self.parse(head) else {
                respond(connection, ListenerResponse(status: 400, body: "malformed request\n"))
                return
            }
            guard request.version == "HTTP/1.1" || request.version == "HTTP/1.0" else {
                respond(connection, ListenerResponse(status: 505, body: "HTTP/1.x only\n"))
                return
            }
            connection.headOnly = request.method == "HEAD"
            connection.phase = .awaitingResponse
            connection.deadline = Self.now() + Self.nanos(configuration.responseTimeout)
            let id = connection.id
            let handler = self.handler
            handlerQueue.async { [self] in
                handler(request) { response in
                    self.mailbox.withLock { $0.append((id, response)) }
                    self.wake()
                }
            }
        }

        static func parse(_ head: [UInt8]) -> ListenerRequest? {
            // Split on bytes: in a Swift String "\r\n" is one Character, so it would not split on "\n".
            var lines = head.split(separator: 10, omittingEmptySubsequences: false).map { line -> Substring in
                let bytes = line.last == 13 ? line.dropLast() : line
                return Substring(String(decoding: bytes, as: UTF8.self))
            }
            while lines.last?.isEmpty == true { lines.removeLast() }
            guard let first = lines.first else { return nil }
            let parts = first.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 3, !parts[0].isEmpty, parts[0].allSatisfy({ $0.isASCII && ($0.isUppercase || $0 == "-") }),
                  !parts[1].isEmpty, parts[2].hasPrefix("HTTP/") else { return nil }
            var headers: [Header] = []
            for line in lines.dropFirst() {
                guard let colon = line.firstIndex(of: ":"), colon != line.startIndex,
                      !line[..<colon].contains(" ") else { return nil }
                headers.append(Header(name: String(line[..<colon]),
                                      value: line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
            }
            var target = String(parts[1])
            var pathPart = Substring(target)
            if let scheme = pathPart.range(of: "://") {
                // Absolute form: keep from the first slash after the authority.
                let rest = pathPart[scheme.upperBound...]
                pathPart = rest.firstIndex(of: "/").map { rest[$0...] } ?? "/"
                target = String(pathPart)
            }
            let query = pathPart.firstIndex(of: "?").map { String(pathPart[pathPart.index(after: $0)...]) }
            let path = pathPart.firstIndex(of: "?").map { String(pathPart[..<$0]) } ?? String(pathPart)
            return ListenerRequest(method: String(parts[0]), target: target, path: path, query: query,
                               version: String(parts[2]), headers: headers)
        }

        private func deliverResponses() {
            let pending = mailbox.withLock { box -> [(id: UInt64, response: ListenerResponse)] in
                defer { box.removeAll() }
                return box
            }
            for (id, response) in pending {
                guard let connection = connections[id], connection.phase == .awaitingResponse else { continue }
                respond(connection, response)
            }
        }

        private func respond(_ connection: Connection, _ response: ListenerResponse) {
            connection.output = response.chunks(headOnly: connection.headOnly)
            connection.stream = connection.headOnly ? nil : response.stream
            connection.written = 0
            connection.phase = .writing
            connection.deadline = Self.now() + Self.nanos(configuration.writeTimeout)
            flush(connection)
        }

        private func flush(_ connection: Connection) {
            while true {
                guard let chunk = connection.output.first else {
                    guard let stream = connection.stream else { break }
                    if let piece = stream.next() {
                        connection.output = [piece]
                        connection.written = 0
                    } else {
                        connection.stream = nil
                    }
                    continue
                }
                guard connection.written < chunk.count else {
                    connection.output.removeFirst()
                    connection.written = 0
                    continue
                }
                let n = chunk.withUnsafeBytes { raw in
                    send(connection.fd, raw.baseAddress! + connection.written, raw.count - connection.written, Int32(MSG_NOSIGNAL))
                }
                if n < 0 {
                    if errno == EINTR { continue }
                    if errno != EAGAIN && errno != EWOULDBLOCK { drop(connection) }
                    return
                }
                connection.written += n
            }
            connection.output = []
            shutdown(connection.fd, Int32(SHUT_WR))
            connection.phase = .lingering
            connection.deadline = Self.now() + 2_000_000_000
            drain(connection)
        }

        private func drain(_ connection: Connection) {
            var chunk = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = chunk.withUnsafeMutableBytes { recv(connection.fd, $0.baseAddress, $0.count, 0) }
                if n > 0 { continue }
                if n < 0 && errno == EINTR { continue }
                if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return }
                drop(connection)
                return
            }
        }

        private func expire(now: UInt64) {
            for connection in connections.values where connection.deadline <= now {
                switch connection.phase {
                case .reading:
                    respond(connection, ListenerResponse(status: 408, body: "request head not received in time\n"))
                case .awaitingResponse:
                    respond(connection, ListenerResponse(status: 503, body: "no response in time\n"))
                case .writing, .lingering:
                    drop(connection)
                }
            }
        }

        private func drop(_ connection: Connection) {
            if connection.stream != nil {
                // A streamed body cut short: reset rather than close, or its end would look like the body's end.
                var reset = linger(l_onoff: 1, l_linger: 0)
                setsockopt(connection.fd, SOL_SOCKET, SO_LINGER, &reset, socklen_t(MemoryLayout<linger>.size))
            }
            close(connection.fd)
            connections[connection.id] = nil
        }
    }
}
