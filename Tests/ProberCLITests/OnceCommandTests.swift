import Foundation
import ProberTestSupport
import Testing

@Suite struct OnceCommandTests {
    @Test func runsEveryProbeAndSetsTheExitStatus() throws {
        let server = try TestHTTPServer { request in
            request.path == "/health" ? .respond(status: 200, body: "ok") : .respond(status: 503, body: "down")
        }
        defer { server.stop() }
        let refused = try closedLoopbackPort()
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("probes/api.yaml", """
            probes:
              - name: api
                http:
                  url: \(server.url)/health
                  expect: { body_contains: ok }
              - name: api-broken
                http: { url: \(server.url)/broken }
              - name: db
                tcp: { host: 127.0.0.1, port: \(refused) }
            """)
        let probes = dir.path + "/probes"

        let good = try ProberBinary.run(["once", "--probes", probes, "api"])
        #expect(good.status == 0, "\(good.stderr)")
        #expect(good.stdout.hasPrefix("ok "))
        #expect(good.stdout.contains(" 200 ") && good.stdout.contains("total ") && good.stdout.contains("processing "))

        let all = try ProberBinary.run(["once", "--probes", probes])
        #expect(all.status == 1)
        let lines = all.stdout.split(separator: "\n")
        #expect(lines.count == 3)
        #expect(lines.contains { $0.hasPrefix("FAILED") && $0.contains("api-broken") && $0.contains("http_status: expected 200-299, got 503") })
        #expect(lines.contains { $0.hasPrefix("FAILED") && $0.contains("db") && $0.contains("connect_refused") })

        let json = try ProberBinary.run(["once", "--probes", probes, "--json", "api", "db"])
        #expect(json.status == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(object["passed"] as? Int == 1)
        #expect(object["failed"] as? Int == 1)
        let results = try #require(object["results"] as? [[String: Any]])
        #expect(results.map { $0["name"] as? String } == ["api", "db"])
        #expect(results[0]["status"] as? Int == 200)
        #expect((results[0]["phases_us"] as? [String: Any])?["connect"] is Int)
        #expect(results[1]["reason"] as? String == "connect_refused")
        #expect(server.waitForRequests(4))
    }

    @Test func unknownNameSuggestsCloseMatches() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("p.yaml", """
            probes:
              - name: checkout-api
                http: { url: "http://127.0.0.1:1/" }
            """)
        let result = try ProberBinary.run(["once", "--probes", dir.path, "chekout-api"])
        #expect(result.status == 2)
        #expect(result.stderr.contains("no probe named \"chekout-api\" (did you mean \"checkout-api\"?)"))
        #expect(result.stdout.isEmpty)
    }

    @Test func configurationErrorExitsTwo() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = try dir.write("p.yaml", "probes:\n  - name: x\n")
        let result = try ProberBinary.run(["once", "--probes", dir.path])
        #expect(result.status == 2)
        #expect(result.stderr.contains(path))
    }

    /// A 50 MiB body checked for text is read and dropped past `max_body_bytes`: `prober once` on it peaks
    /// within 30 MiB of the same check on a 2-byte body.
    @Test func aLargeBodyIsNotKeptInMemory() throws {
        let size = 50 << 20
        let server = try TestHTTPServer { request in
            request.path == "/big" ? .stream(status: 200, bytes: size) : .respond(status: 200, body: "xx")
        }
        defer { server.stop() }
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        for name in ["big", "small"] {
            try dir.write("\(name)/p.yaml", """
                probes:
                  - name: \(name)
                    interval: 60s
                    timeout: 30s
                    http: { url: \(server.url)/\(name), expect: { body_contains: "y" } }
                """)
        }
        let small = try ProberBinary.peakRSS(["once", "--probes", dir.path + "/small"])
        let big = try ProberBinary.peakRSS(["once", "--probes", dir.path + "/big"])
        #expect(small.status == 1 && big.status == 1, "both fail: the body has no 'y'")
        #expect(big.bytes - small.bytes < 30 << 20, "peak RSS \(big.bytes >> 20) MiB for a 50 MiB body, \(small.bytes >> 20) MiB for 2 bytes")
    }
}
