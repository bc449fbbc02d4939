import Foundation

extension HTTPListener {
    /// The poll loop. Owns the listening socket, the wake-up pipe and every connection's socket, and
    /// closes them when `run` ends. `@unchecked Sendable` because everything but `mailbox`, `stopping`,
    /// `wakeOpen` (all lock-guarded), `wakeWrite` (written to only under `wakeOpen`'s lock) and `finished`
    /// is touched only by the listener thread inside `run`.
    final class Loop: @unchecked Sendable {
        let listenFD: Int32
        /// A self-pipe: any thread writes a byte to `wakeWrite` to interrupt `poll`.
        let wakeRead: Int32
        let wakeWrite: Int32
        /// Whether `wakeWrite` is still ours: once closed, its number may be reused by any file the process
        /// opens, and a handler answering after `stop()` must not write into that file.
        private let wakeOpen = Locked(true)
        let configuration: Configuration
        let handlerQueue: DispatchQueue
        let handler: Handler
        let mailbox = Locked<[(id: UInt64, response: ListenerResponse)]>([])
        let stopping = Locked(false)
        let finished = DispatchSemaphore(value: 0)

        var connections: [UInt64: ClientConnection] = [:]
        private var nextID: UInt64 = 1
        /// Until when the listening socket is left alone after `accept` failed for want of resources.
        private var acceptPausedUntil: UInt64 = 0
        /// Accepted connections waiting for a slot while every connection is busy (see `admitWaiting`), oldest first.
        private var waiting: [(fd: Int32, since: UInt64)] = []
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

        func wake() {
            wakeOpen.withLock { open in
                guard open else { return }
                var byte: UInt8 = 1
                _ = write(wakeWrite, &byte, 1) // non-blocking: a full pipe already means "wake up"
            }
        }

        /// How long the listening socket is left alone after `accept` failed for want of descriptors or memory.
        static let acceptPause: UInt64 = 100_000_000
        /// How long a newcomer waits for a slot while every connection is busy before it is answered 503, and how
        /// often a slot is looked for meanwhile.
        static let refuseWhenFullFor: UInt64 = 250_000_000
        static let fullRetry: UInt64 = 5_000_000

        static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

        static func nanos(_ d: Duration) -> UInt64 {
            let (seconds, attoseconds) = d.components
            return seconds < 0 ? 0 : UInt64(seconds) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000)
        }

        func run() {
            // This thread never takes process signals: they belong to the Dispatch signal sources.
            var all = sigset_t()
            sigfillset(&all)
            pthread_sigmask(SIG_BLOCK, &all, nil)
            var fds: [pollfd] = []
            var order: [ClientConnection] = []
            while !stopping.current {
                fds.removeAll(keepingCapacity: true)
                order.removeAll(keepingCapacity: true)
                let now = Self.now()
                // While newcomers wait for a slot, the next ones stay in the kernel's backlog.
                let accepting = now >= acceptPausedUntil && waiting.isEmpty
                fds.append(pollfd(fd: listenFD, events: accepting ? Int16(POLLIN) : 0, revents: 0))
                fds.append(pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0))
                var nearest = accepting ? UInt64.max : waiting.isEmpty ? acceptPausedUntil : now + Self.fullRetry
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
                if accepting && fds[0].revents != 0 { acceptAll() }
                expire(now: Self.now())
                admitWaiting(now: Self.now())
            }
            closeAll()
            finished.signal()
        }

        func closeAll() {
            guard !closed else { return }
            closed = true
            for connection in connections.values { drop(connection) }
            for newcomer in waiting { close(newcomer.fd) }
            waiting.removeAll()
            close(listenFD)
            // The write end first: a `wake()` from another thread between the two closes would otherwise write
            // into a pipe without a reader, and SIGPIPE kills the process.
            wakeOpen.withLock { open in
                open = false
                close(wakeWrite)
            }
            close(wakeRead)
        }

        private func acceptAll() {
            for _ in 0..<64 {
                let fd = accept(listenFD, nil, nil)
                if fd < 0 {
                    switch errno {
                    case EINTR, ECONNABORTED: continue
                    case EAGAIN, EWOULDBLOCK: return
                    default:
                        // EMFILE, ENFILE, ENOBUFS, ENOMEM: the connection stays queued and the socket readable,
                        // so trying again at once would spin. Clients wait in the backlog until descriptors free up.
                        acceptPausedUntil = Self.now() + Self.acceptPause
                        return
                    }
                }
                Self.configure(fd)
                waiting.append((fd, Self.now()))
            }
        }

        /// Gives the accepted newcomers a slot, oldest first: a free one, else that of the oldest connection only
        /// reading (`evictionCandidate`). When every connection has a handler working or a response moving (after
        /// a burst of complete requests, for a few milliseconds) a newcomer waits, and is answered 503 only once it
        /// has waited `refuseWhenFullFor`.
        private func admitWaiting(now: UInt64) {
            while let newcomer = waiting.first {
                if connections.count >= configuration.maxConnections, let idle = evictionCandidate(now: now) {
                    drop(idle)
                }
                if connections.count < configuration.maxConnections {
                    waiting.removeFirst()
                    // Stamped with its accept time: the read timeout and stall counts start when the client got in.
                    let connection = ClientConnection(fd: newcomer.fd, id: nextID, client: Self.peerAddress(newcomer.fd),
                                                      acceptedAt: newcomer.since,
                                                      deadline: newcomer.since + Self.nanos(configuration.readTimeout))
                    nextID += 1
                    connections[connection.id] = connection
                } else if now - newcomer.since >= Self.refuseWhenFullFor {
                    waiting.removeFirst()
                    refuse(newcomer.fd)
                } else {
                    return
                }
            }
        }

        /// The peer's IP address as text, or "" when it cannot be read.
        static func peerAddress(_ fd: Int32) -> String {
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let ok = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &length) == 0 }
            }
            guard ok else { return "" }
            var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            switch Int32(storage.ss_family) {
            case AF_INET:
                var address = withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr } }
                guard inet_ntop(AF_INET, &address, &text, socklen_t(text.count)) != nil else { return "" }
            case AF_INET6:
                var address = withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr } }
                guard inet_ntop(AF_INET6, &address, &text, socklen_t(text.count)) != nil else { return "" }
            default:
                return ""
            }
            return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }

        /// Answers 503 on a connection beyond the cap (every open one has a handler working or a response
        /// moving) and closes it. The request already received is read first: closing a socket with unread input
        /// resets it, and the reset can overtake the 503, leaving the client with no answer at all.
        private func refuse(_ fd: Int32) {
            var sink = [UInt8](repeating: 0, count: 4096)
            for _ in 0..<4 where sink.withUnsafeMutableBytes({ recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }) > 0 {}
            let busy = ListenerResponse(status: 503, body: "too many connections\n").serialized(headOnly: false)
            _ = busy.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            shutdown(fd, Int32(SHUT_WR))
            close(fd)
        }

        /// The connection to close for a new one at the cap, so that no client behaviour can keep out a scraper
        /// or a liveness probe: one already answered and lingering (it only waits for the client's EOF), else the
        /// one stalled the longest, if for more than `evictStalledAfter` (still sending its head, counted from
        /// accept so trickling bytes does not help, or not taking its response), else the oldest still reading
        /// (silent, trickling or idle between keep-alive requests), however young: after a burst of hundreds of
        /// silent connections every one left is younger than any threshold, and a newcomer must still get in.
        /// A connection whose handler is working, or whose response is moving, is never evicted.
        func evictionCandidate(now: UInt64) -> ClientConnection? {
            var lingering: ClientConnection?
            var stalled: ClientConnection?
            var reading: ClientConnection?
            let threshold = Self.nanos(configuration.evictStalledAfter)
            // Ties (two connections admitted in one turn) go to the one accepted first: ids follow accept order.
            func older(_ c: ClientConnection, than current: ClientConnection?) -> Bool {
                current.map { (c.lastProgress, c.id) < ($0.lastProgress, $0.id) } ?? true
            }
            for c in connections.values {
                switch c.phase {
                case .lingering:
                    if older(c, than: lingering) { lingering = c }
                case .reading, .writing:
                    if now - c.lastProgress > threshold {
                        if older(c, than: stalled) { stalled = c }
                    } else if c.phase == .reading, older(c, than: reading) {
                        reading = c
                    }
                case .awaitingResponse:
                    continue
                }
            }
            return lingering ?? stalled ?? reading
        }

        private func service(_ connection: ClientConnection, revents: Int32) {
            switch connection.phase {
            case .reading: read(connection)
            case .writing: flush(connection)
            case .lingering: drain(connection)
            case .awaitingResponse:
                // The client hung up (or errored) while the handler works: nothing left to answer.
                if revents & (Int32(POLLHUP) | Int32(POLLERR)) != 0 { drop(connection) }
            }
        }

        private func expire(now: UInt64) {
            for connection in connections.values where connection.deadline <= now {
                switch connection.phase {
                case .reading where connection.answered > 0 && connection.input.isEmpty:
                    drop(connection) // an idle keep-alive connection: nothing was asked, nothing to answer
                case .reading:
                    respond(connection, ListenerResponse(status: 408, body: "request head not received in time\n"))
                case .awaitingResponse:
                    respond(connection, ListenerResponse(status: 503, body: "no response in time\n"))
                case .writing, .lingering:
                    drop(connection)
                }
            }
        }

        func drop(_ connection: ClientConnection) {
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
