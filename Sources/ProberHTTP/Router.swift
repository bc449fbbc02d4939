/// Routes requests by path and method to handlers, so pages are added without touching the listener.
///
/// A path is literal (`/metrics`) or has parameter segments in braces (`/probes/{name}/history`): a segment
/// `{name}` matches one non-empty path segment, handed to the handler percent-decoded as
/// `request.parameters["name"]`. Literal paths are tried first, then patterns in the order added.
/// A `GET` route answers `HEAD` too (the listener leaves the body out). A known path asked with another
/// method gets 405 with `Allow`; an unknown path goes to `notFound`. With `requireToken`, every path but
/// the exempt ones first needs `Authorization: Bearer <token>` (401 otherwise).
public struct Router: Sendable {
    /// Hands a response back; call once, from any thread. Later calls are ignored.
    public typealias Responder = @Sendable (ListenerResponse) -> Void
    /// Answers a request now or later, from any thread, through the responder.
    public typealias Handler = @Sendable (ListenerRequest, @escaping Responder) -> Void

    private struct Route: Sendable {
        var method: String
        var handler: Handler
    }

    private struct Pattern: Sendable {
        /// Literal segments, and nil where a parameter goes (its name in `names`).
        var segments: [String?]
        var names: [String]
        var path: String
    }

    /// Routes per path, in the order added.
    private var routes: [String: [Route]] = [:]
    private var patterns: [Pattern] = []
    private var token: BearerToken?
    private var exempt: Set<String> = []
    /// What answers a path no route knows; nil: `errorPage` with 404.
    public var notFound: Handler?
    /// The body of the router's own errors (404, 405, 401). Default: `ErrorPage.response`, HTML or text.
    public var errorPage: @Sendable (_ status: Int, _ message: String, _ request: ListenerRequest) -> ListenerResponse = ErrorPage.response

    public init() {}

    /// Answers `method path` with `handler`, which may answer later. `path` may hold `{parameter}` segments.
    public mutating func add(_ method: String, _ path: String, _ handler: @escaping Handler) {
        if path.contains("{"), !patterns.contains(where: { $0.path == path }) {
            var segments: [String?] = []
            var names: [String] = []
            for part in path.split(separator: "/", omittingEmptySubsequences: false).dropFirst() {
                if part.hasPrefix("{"), part.hasSuffix("}") {
                    segments.append(nil)
                    names.append(String(part.dropFirst().dropLast()))
                } else {
                    segments.append(String(part))
                }
            }
            patterns.append(Pattern(segments: segments, names: names, path: path))
        }
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

    /// Requires `Authorization: Bearer <token>` on every path except `exempt` (compared in constant time);
    /// a request without it gets 401 with `WWW-Authenticate`, before routing (so unknown paths say nothing).
    public mutating func requireToken(_ token: BearerToken, except exempt: Set<String>) {
        self.token = token
        self.exempt = exempt
    }

    /// Sends `request` to its route's handler.
    public func handle(_ request: ListenerRequest, _ respond: @escaping Responder) {
        if let token, !exempt.contains(request.path), !token.authorizes(request.header("Authorization")) {
            var response = errorPage(401, "a bearer token is required (Authorization: Bearer …)", request)
            response.headers.append(HTTPHeader(name: "WWW-Authenticate", value: #"Bearer realm="prober""#))
            return respond(response)
        }
        var request = request
        guard let candidates = match(&request) else {
            if let notFound { return notFound(request, respond) }
            return respond(errorPage(404, "not found: \(request.path)", request))
        }
        if let route = candidates.first(where: { $0.method == request.method })
            ?? (request.method == "HEAD" ? candidates.first(where: { $0.method == "GET" }) : nil) {
            return route.handler(request, respond)
        }
        var allowed: [String] = []
        for route in candidates where !allowed.contains(route.method) {
            allowed.append(route.method)
            if route.method == "GET" && !candidates.contains(where: { $0.method == "HEAD" }) { allowed.append("HEAD") }
        }
        var response = errorPage(405, "method \(request.method) not allowed here", request)
        response.headers = [HTTPHeader(name: "Allow", value: allowed.joined(separator: ", "))]
        respond(response)
    }

    /// The routes of `request.path`, setting `request.parameters` for a pattern; nil when none matches.
    private func match(_ request: inout ListenerRequest) -> [Route]? {
        if let exact = routes[request.path], !request.path.contains("{") { return exact }
        let parts = request.path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        for pattern in patterns where pattern.segments.count == parts.count {
            var values: [String] = []
            var matched = true
            for (segment, part) in zip(pattern.segments, parts) {
                if let literal = segment {
                    if literal != part { matched = false; break }
                } else {
                    guard !part.isEmpty, let decoded = ListenerRequest.percentDecoded(part) else { matched = false; break }
                    values.append(decoded)
                }
            }
            guard matched else { continue }
            request.parameters = Dictionary(zip(pattern.names, values), uniquingKeysWith: { first, _ in first })
            return routes[pattern.path]
        }
        return nil
    }
}
