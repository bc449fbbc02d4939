import Foundation

/// A small HTTP/1.1 server for `/metrics`, `/healthz` and the demo target: one thread running `poll` over
/// non-blocking sockets, a connection closed after its answer (`Connection: close`).
///
/// Pipelined requests are answered in order: while requests already received follow the one being
/// answered, its response leaves out `Connection: close` and the next is read from the same connection; the
/// last response says `Connection: close`. A streamed body ends with the close, so it is always the last.
///
/// Defences, so that no client can stall it or the process: the whole request head must arrive within
/// `readTimeout`; it may not exceed `maxHeaderBytes` (answered 431); at most `maxConnections` are open
/// (at the cap, a new connection takes the place of one already answered, else of the one stalled the longest,
/// sending its head or not reading its response, if for more than `evictStalledAfter`, else of the oldest one
/// still reading, however young; only when every open connection has a handler working or a response moving is
/// it answered 503 and closed); a client that does not read its response is dropped after `writeTimeout`; a
/// handler that never answers gets a 503 after `responseTimeout`. Handlers run on `handlerQueue`, never on the listener's thread, and may answer later
/// from any thread.
public final class HTTPListener: Sendable {
    public struct Configuration: Sendable {
        /// Time from accept (or from the previous response, on a keep-alive connection) to a complete request
        /// head. Default 5 s.
        public var readTimeout: Duration = .seconds(5)
        /// Time the handler has to answer. Default 30 s.
        public var responseTimeout: Duration = .seconds(30)
        /// Time the client has to take the response. Default 5 s.
        public var writeTimeout: Duration = .seconds(5)
        /// Largest request head (request line and headers). Default 16 KiB.
        public var maxHeaderBytes: Int = 16 * 1024
        /// Connections open at once. Default 128.
        public var maxConnections: Int = 128
        /// At the cap, a connection still sending its request head after this long, or whose client has taken
        /// nothing of its response for this long, is closed before a younger one to make room for a new one; a
        /// client not taking its response is evicted only past this. Default 1 s.
        public var evictStalledAfter: Duration = .seconds(1)
        /// Pipelined requests answered on one connection before it is closed. Default 100.
        public var maxRequestsPerConnection: Int = 100
        /// `listen` backlog. Default 1024.
        public var backlog: Int32 = 1024
        public init() {}
    }

    public typealias Responder = Router.Responder
    public typealias Handler = Router.Handler

    /// The bound address and port (the real one when asked for port 0).
    public let host: String
    public let port: UInt16
    let loop: Loop
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

    /// A listener answering through `router`.
    public convenience init(host: String = "127.0.0.1", port: UInt16 = 0, configuration: Configuration = Configuration(),
                            router: Router) throws {
        try self.init(host: host, port: port, configuration: configuration, handler: router.handle)
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
}

public struct HTTPListenerError: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ description: String) { self.description = description }
}
