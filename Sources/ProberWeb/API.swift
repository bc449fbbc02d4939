import ProberCore
import ProberDocuments
import ProberHTTP
import ProberStorage

/// `/api/v1`: the documents `--json` prints, built by the same code (ProberDocuments), byte for byte (indented
/// JSON and a newline). Every query runs on the `StorageReader`'s queue; the handlers only parse and answer.
///
/// Errors are JSON too: `{"error": {"message": …, "parameter": …, "status": …}}` (`parameter` naming the
/// query parameter a 400 refuses). 503 with `Retry-After` when the reader's queue is full.
public enum APIRoutes {
    /// Incidents opened (or still open) this long before now, as `prober incidents` lists by default.
    public static let defaultIncidentsSince = "7d"

    public static func register(into router: inout Router, reader: StorageReader) {
        router.get("/api/v1/status") { _, respond in
            reader.read({ storage, now in
                StatusDocument.bytes(try StatusDocument.rows(storage, now: now), now: now)
            }, answer: { respond(document(bytes: $0)) })
        }

        router.get("/api/v1/fleet") { _, respond in
            reader.read({ storage, now in FleetDocument.json(try storage.probers(), now: now) }, answer: { respond(document($0)) })
        }

        router.get("/api/v1/probes/{name}/history") { request, respond in
            let name = request.parameters["name"] ?? ""
            let parsed = HistoryQuery.parse(since: request.queryValue("since"), until: request.queryValue("until"),
                                            every: request.queryValue("every"), phase: request.queryValue("phase"),
                                            location: request.queryValue("location"), now: reader.clock.now())
            let query: HistoryQuery
            switch parsed {
            case .success(let q): query = q
            case .failure(let problem):
                return respond(error(400, problem.message(prefix: ""), parameter: problem.parameter))
            }
            reader.read({ storage, _ -> Answer in
                switch try HistoryDocument.read(storage, probe: name, query) {
                case .found(let history, let info, let locations):
                    return .document(HistoryDocument.json(history, info: info, location: query.location, locations: locations,
                                                          losses: try HistoryDocument.connectivityLosses(storage, query)))
                case .unknownProbe:
                    return .error(404, HistoryDocument.unknownProbe(name, known: (try? storage.probeNames()) ?? []))
                case .unknownLocation(let location, let known):
                    return .error(404, HistoryDocument.unknownLocation(location, probe: name, known: known))
                }
            }, answer: { respond(answer($0)) })
        }

        router.get("/api/v1/incidents") { request, respond in
            let open = request.queryValue("open") ?? "false"
            guard let openOnly = Self.bool(open) else {
                return respond(error(400, "open '\(open)' is not true or false", parameter: "open"))
            }
            let sinceText = request.queryValue("since") ?? defaultIncidentsSince
            guard TimeArgument.parse(sinceText, now: 0) != nil else {
                return respond(error(400, "since '\(sinceText)' is neither a duration (7d, 24h, 90m) nor an ISO 8601 time", parameter: "since"))
            }
            reader.read({ storage, now in
                IncidentDocuments.list(try storage.incidents(since: TimeArgument.parse(sinceText, now: now), openOnly: openOnly), now: now)
            }, answer: { respond(document($0)) })
        }

        router.get("/api/v1/incidents/{id}") { request, respond in
            let text = request.parameters["id"] ?? ""
            guard let id = Int64(text) else {
                return respond(error(400, "'\(text)' is not an incident id (a number)", parameter: "id"))
            }
            reader.read({ storage, now -> Answer in
                guard let incident = try storage.incident(id: id) else { return .error(404, "no incident #\(id)") }
                return .document(IncidentDocuments.one(incident, now: now))
            }, answer: { respond(answer($0)) })
        }
    }

    /// The router's own errors (404, 405, 401): JSON under `/api/`, else the listener's HTML or text page.
    @Sendable public static func errorPage(_ status: Int, _ message: String, _ request: ListenerRequest) -> ListenerResponse {
        request.path.hasPrefix("/api/") ? error(status, message) : ErrorPage.response(status, message, for: request)
    }

    /// A JSON error answer.
    public static func error(_ status: Int, _ message: String, parameter: String? = nil) -> ListenerResponse {
        var fields: [String: JSONValue] = ["status": .int(Int64(status)), "message": .string(message)]
        if let parameter { fields["parameter"] = .string(parameter) }
        var response = ListenerResponse(status: status, contentType: contentType, body: ProberDocuments.bytes(.object(["error": .object(fields)])))
        // An error must not be cached as if it were the document.
        response.headers.append(HTTPHeader(name: "Cache-Control", value: "no-store"))
        return response
    }

    static let contentType = "application/json"

    /// What a query found: a document, or an error the client caused (unknown probe or incident).
    enum Answer: Sendable {
        case document(JSONValue)
        case error(Int, String)
    }

    static func answer(_ result: Result<Answer, StorageReader.Failure>) -> ListenerResponse {
        switch result {
        case .success(.document(let json)): document(.success(json))
        case .success(.error(let status, let message)): error(status, message)
        case .failure(let failure): self.failure(failure)
        }
    }

    static func document(_ result: Result<JSONValue, StorageReader.Failure>) -> ListenerResponse {
        document(bytes: result.map(ProberDocuments.bytes))
    }

    /// A document already written as `ProberDocuments.bytes` writes it (`StatusDocument.bytes`).
    static func document(bytes result: Result<[UInt8], StorageReader.Failure>) -> ListenerResponse {
        switch result {
        case .success(let body):
            var response = ListenerResponse(status: 200, contentType: contentType, body: body)
            // Revalidate every time: the ETag makes that a 304 when nothing changed.
            response.headers.append(HTTPHeader(name: "Cache-Control", value: "no-cache"))
            return response
        case .failure(let failure): return self.failure(failure)
        }
    }

    static func failure(_ failure: StorageReader.Failure) -> ListenerResponse {
        switch failure {
        case .busy:
            var response = error(503, failure.description)
            response.headers.append(HTTPHeader(name: "Retry-After", value: "1"))
            return response
        case .storage(let message):
            return error(500, "storage: \(message)")
        }
    }

    static func bool(_ text: String) -> Bool? {
        switch text.lowercased() {
        case "true", "1", "yes": true
        case "false", "0", "no": false
        default: nil
        }
    }
}
