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

    /// `--max-in-flight 2`: never more than two checks at the server at once, and every probe still runs. The
    /// server holds each request a moment (see `ConcurrencyGate`), so an uncapped run shows all twelve at once.
    @Test func maxInFlightCapsTheChecksAtOnce() throws {
        let total = 12, cap = 2
        let gate = ConcurrencyGate(total: total, cap: cap)
        let server = try TestHTTPServer { _ in
            gate.hold()
            return .respond(status: 200, body: "ok")
        }
        defer { server.stop() }
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("p.yaml", "probes:\n" + (1...total).map { "  - { name: p\($0), http: { url: \"\(server.url)/\($0)\" } }\n" }.joined())

        let result = try ProberBinary.run(["once", "--probes", dir.path, "--max-in-flight", "\(cap)"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.split(separator: "\n").count == total)
        #expect(gate.arrived == total)
        #expect(gate.most <= cap, "\(gate.most) checks at the server at once")

        let zero = try ProberBinary.run(["once", "--probes", dir.path, "--max-in-flight", "0"])
        #expect(zero.status == 64 && zero.stderr.contains("--max-in-flight must be at least 1"), "\(zero.stderr)")
    }

    /// Every line pads the name to the widest chosen one, so the columns after it line up.
    @Test func namesArePaddedToTheWidest() throws {
        let server = try TestHTTPServer { _ in .respond(status: 200, body: "ok") }
        defer { server.stop() }
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("p.yaml", """
            probes:
              - { name: a, http: { url: "\(server.url)/a" } }
              - { name: a-much-longer-name, http: { url: "\(server.url)/b" } }
              - { name: mid-name, http: { url: "\(server.url)/c" } }
            """)
        let result = try ProberBinary.run(["once", "--probes", dir.path])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n")
        #expect(lines.count == 3)
        // `ok      NAME  200  total …`: the status starts in the same column on every line.
        let columns = Set(lines.compactMap { line in line.range(of: "  200  ").map { line.distance(from: line.startIndex, to: $0.lowerBound) } })
        #expect(columns.count == 1, "\(result.stdout)")
        #expect(lines.allSatisfy { $0.contains("ok     ") })
    }
}

/// Counts the requests inside a test server's handler at once. Each waits there until more than `cap` are in
/// (a client over its cap: everyone goes), all `total` have arrived, or `linger` has passed: an uncapped client's
/// requests, all sent at once, meet there; a capped client's never can, so only the time bound lets them go.
private final class ConcurrencyGate: @unchecked Sendable { // Safe: every access holds `condition`.
    private let condition = NSCondition()
    private let total: Int
    private let cap: Int
    private let linger: TimeInterval
    private var inside = 0
    private var arrivals = 0
    private var peak = 0

    init(total: Int, cap: Int, linger: TimeInterval = 0.2) {
        self.total = total
        self.cap = cap
        self.linger = linger
    }

    var arrived: Int { condition.withLock { arrivals } }
    var most: Int { condition.withLock { peak } }

    func hold() {
        condition.lock()
        defer { condition.unlock() }
        arrivals += 1
        inside += 1
        peak = max(peak, inside)
        condition.broadcast()
        let deadline = Date(timeIntervalSinceNow: linger)
        while peak <= cap && arrivals < total {
            guard condition.wait(until: deadline) else { break }
        }
        inside -= 1
    }
}
