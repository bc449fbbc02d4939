import Dispatch
import ProberCore
import ProberDocuments
import ProberHTTP

extension ProberWeb {
    /// Adds the pages (`/`, `/probes/NAME`, `/incidents`, `/incidents/ID`) and their script to `router`.
    /// Every query goes through `reader` (its own serial queue and read-only storage, never the listener's
    /// thread); the page is rendered on that queue and answered through the route's responder. `remembered`: the
    /// daemon's last checks for `/` (see `StatusCache.init`).
    public static func register(into router: inout Router, reader: StorageReader, remembered: StatusCache.RememberedChecks? = nil) {
        let cache = StatusCache(remembered: remembered)
        router.get("/") { request, respond in
            let query = StatusPage.Query(query: request.query)
            serve(reader, respond) { storage, now in
                let page = try StatusPage.render(query, storage: storage, now: now, cache: cache)
                cache.keepWarm(now: now) { after, job in
                    DispatchQueue.global().asyncAfter(deadline: .now() + .microseconds(Int(after))) {
                        reader.read({ storage, now in try job(storage, now) }, answer: { _ in })
                    }
                }
                return page
            }
        }
        router.get("/incidents") { request, respond in
            let openOnly = URLText.query(request.query)["open"] == "true"
            serve(reader, respond) { storage, now in try IncidentPages.list(storage: storage, now: now, openOnly: openOnly) }
        }
        router.get(Script.path) { _ in
            ListenerResponse(status: 200, contentType: "text/javascript; charset=utf-8", body: Script.source,
                             headers: [HTTPHeader(name: "Cache-Control", value: "max-age=300")])
        }
        router.get("/probes/{name}") { request, respond in
            let name = request.parameters["name"] ?? ""
            let range = ProbePage.Range.named(URLText.query(request.query)["range"])
            serve(reader, respond) { storage, now in
                try ProbePage.load(name, range: range, storage: storage, now: now).map { ProbePage.render($0, range: range, now: now) }
            }
        }
        router.get("/incidents/{id}") { request, respond in
            guard let id = Int64(request.parameters["id"] ?? "") else {
                return respond(errorPage(404, "Not found", "Incidents are numbered: /incidents/12."))
            }
            serve(reader, respond) { storage, now in try storage.incident(id: id).map { IncidentPages.page($0, now: now) } }
        }
    }

    /// Renders a page on the reader's queue: 200 with it, 404 when the query found nothing, 503 when the
    /// reader is busy, 500 with the storage's message (which never holds a secret) when the query failed.
    static func serve(_ reader: StorageReader, _ respond: @escaping Router.Responder,
                      _ render: @escaping @Sendable (StorageReader.Reading, Int64) throws -> HTML?) {
        reader.read({ storage, now in try render(storage, now) }) { outcome in
            switch outcome {
            case .success(let page?):
                respond(ListenerResponse(status: 200, contentType: "text/html; charset=utf-8", body: page.markup))
            case .success(nil):
                respond(errorPage(404, "Not found", "Nothing here by that name or number."))
            case .failure(.busy):
                respond(errorPage(503, "Busy", "Too many pages are being prepared; try again in a moment.",
                                  headers: [HTTPHeader(name: "Retry-After", value: "1")]))
            case .failure(let failure):
                respond(errorPage(500, "The history could not be read", "\(failure)"))
            }
        }
    }

    static func errorPage(_ status: Int, _ title: String, _ text: String, headers: [HTTPHeader] = []) -> ListenerResponse {
        let page = Layout.document(title: title, scripting: .served, current: "",
                                   body: "<h1>\(title)</h1><p>\(text)</p><p><a href=\"/\">All probes</a></p>")
        return ListenerResponse(status: status, contentType: "text/html; charset=utf-8", body: page.markup, headers: headers)
    }
}
