/// Routes requests by path and method to handlers, so pages are added without touching the listener.
///
/// A `GET` route answers `HEAD` too (the listener leaves the body out). A known path asked with another
/// method gets 405 with `Allow`; an unknown path goes to `notFound`.
public struct Router: Sendable {
    /// Hands a response back; call once, from any thread. Later calls are ignored.
    public typealias Responder = @Sendable (ListenerResponse) -> Void
    /// Answers a request now or later, from any thread, through the responder.
    public typealias Handler = @Sendable (ListenerRequest, @escaping Responder) -> Void

    private struct Route: Sendable {
        var method: String
        var handler: Handler
    }

    /// Routes per path, in the order added.
    private var routes: [String: [Route]] = [:]
    /// What answers a path no route knows. Default: 404 `not found`.
    public var notFound: Handler = { _, respond in respond(ListenerResponse(status: 404, body: "not found\n")) }

    public init() {}

    /// Answers `method path` with `handler`, which may answer later.
    public mutating func add(_ method: String, _ path: String, _ handler: @escaping Handler) {
        routes[path, default: []].append(Route(method: method, handler: handler))
    }

    /// Answers `GET path` (and `HEAD path`) with `handler`, which may answer later.
    public mutating func get(_ path: String, _ handler: @escaping Handler) {
        add("GET", path, handler)
    }

    /// Answers `GET path` (and `HEAD path`) at once with what `respond` returns.
    public mutating func get(_ path: String, _ respond: @escaping @Sendable (ListenerRequest) -> ListenerResponse) {
        add("GET", path) { request, responder in responder(respond(request)) }
    }

    /// Sends `request` to its route's handler.
    public func handle(_ request: ListenerRequest, _ respond: @escaping Responder) {
        guard let candidates = routes[request.path] else { return notFound(request, respond) }
        if let route = candidates.first(where: { $0.method == request.method })
            ?? (request.method == "HEAD" ? candidates.first(where: { $0.method == "GET" }) : nil) {
            return route.handler(request, respond)
        }
        var allowed: [String] = []
        for route in candidates where !allowed.contains(route.method) {
            allowed.append(route.method)
            if route.method == "GET" && !candidates.contains(where: { $0.method == "HEAD" }) { allowed.append("HEAD") }
        }
        respond(ListenerResponse(status: 405, body: "method not allowed\n",
                                 headers: [HTTPHeader(name: "Allow", value: allowed.joined(separator: ", "))]))
    }
}
