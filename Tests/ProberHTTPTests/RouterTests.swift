import Testing
@testable import ProberHTTP

/// Routes by path and method; `GET` answers `HEAD`; a known path with another method gets 405 and `Allow`.
@Suite struct RouterTests {
    private func answer(_ router: Router, _ method: String, _ path: String) -> ListenerResponse? {
        let box = Locked<ListenerResponse?>(nil)
        let request = ListenerRequest(method: method, target: path, path: path, query: nil, version: "HTTP/1.1", headers: [])
        router.handle(request) { response in box.withLock { $0 = response } }
        return box.current
    }

    private var router: Router {
        var router = Router()
        router.get("/a") { _ in ListenerResponse(status: 200, body: "a") }
        router.add("POST", "/a") { _, respond in respond(ListenerResponse(status: 201, body: "made")) }
        router.get("/later") { _, respond in respond(ListenerResponse(status: 200, body: "later")) }
        return router
    }

    @Test func routesByPathAndMethod() {
        #expect(answer(router, "GET", "/a")?.status == 200)
        #expect(answer(router, "HEAD", "/a")?.status == 200)
        #expect(answer(router, "POST", "/a")?.status == 201)
        #expect(answer(router, "GET", "/later")?.body == Array("later".utf8))
    }

    @Test func aKnownPathWithAnotherMethodGets405WithAllow() {
        let response = answer(router, "DELETE", "/a")
        #expect(response?.status == 405)
        #expect(response?.headers == [HTTPHeader(name: "Allow", value: "GET, HEAD, POST")])
    }

    @Test func anUnknownPathGoesToNotFound() {
        #expect(answer(router, "GET", "/nope")?.status == 404)
        var custom = router
        custom.notFound = { _, respond in respond(ListenerResponse(status: 404, body: "try /a")) }
        #expect(answer(custom, "GET", "/nope")?.body == Array("try /a".utf8))
    }
}
