import Foundation
import ProberCore
@testable import ProberProbes
import ProberTestSupport
import Testing

@Suite struct SendTests {
    @Test func postWithBodyAndHeaders() async throws {
        let server = try TestHTTPServer { _ in .respond(status: 201, headers: [("X-Request-Id", "42")], body: "{\"id\":7}") }
        defer { server.stop() }
        let response = await engine.send(HTTPRequest(
            url: server.url + "/api/v1/incidents", headers: [Header(name: "Authorization", value: "Bearer k"), Header(name: "Content-Type", value: "application/json")],
            body: Array("{\"title\":\"down\"}".utf8)))
        #expect(response.status == 201)
        #expect(response.error == nil && response.errorCode == nil)
        #expect(response.requestSent)
        #expect(response.header("x-request-id") == "42")
        #expect(String(decoding: response.body, as: UTF8.self) == "{\"id\":7}")
        let request = try #require(server.requests.first)
        #expect(request.method == "POST")
        #expect(request.path == "/api/v1/incidents")
        #expect(request.header("Authorization") == "Bearer k")
        #expect(request.header("Content-Type") == "application/json")
        #expect(request.bodyText == "{\"title\":\"down\"}")
    }

    @Test func refusedIsNotSent() async throws {
        let response = await engine.send(HTTPRequest(url: "http://127.0.0.1:\(try closedLoopbackPort())/", body: [1, 2]))
        #expect(response.status == nil)
        #expect(response.errorCode == 7)
        #expect(response.error != nil)
        #expect(!response.requestSent)
    }

    @Test func hangAfterRequestCountsAsSent() async throws {
        let server = try TestHTTPServer { _ in .hang }
        defer { server.stop() }
        let response = await engine.send(HTTPRequest(url: server.url, method: "PATCH", body: [], timeout: .milliseconds(300)))
        #expect(response.errorCode == 28)
        #expect(response.requestSent)
        #expect(server.requests.first?.method == "PATCH")
    }

    @Test func checksBeyondMaxConcurrentWaitTheirTurn() async throws {
        let server = try TestHTTPServer { _ in .delay(.milliseconds(20), .respond(status: 200, body: "ok")) }
        defer { server.stop() }
        let local = try CurlEngine(maxConcurrent: 2)
        defer { local.shutdown() }
        let samples = await withTaskGroup(of: Sample.self) { group in
            for _ in 0..<20 { group.addTask { await local.check(httpSpec(server.url, timeout: .seconds(2))) } }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(samples.count == 20)
        #expect(samples.allSatisfy { $0.ok }, "a waiting check's timeout starts when it starts")
        #expect(server.requests.count == 20)
    }

    @Test func shutdownFinishesInFlightThenRefusesWork() async throws {
        let server = try TestHTTPServer { _ in .delay(.milliseconds(200), .respond(status: 200, body: "ok")) }
        defer { server.stop() }
        let local = try CurlEngine(maxConcurrent: 4)
        async let inFlight = local.check(httpSpec(server.url))
        // Both waits block: off the cooperative pool, which `inFlight` itself needs to start.
        #expect(try await offPool { server.waitForRequests(1) })
        try await offPool { local.shutdown() }
        #expect(await inFlight.failure == nil)
        let after = await local.check(httpSpec(server.url))
        #expect(after.failure == Failure(.other, "probe engine stopped"))
    }
}
