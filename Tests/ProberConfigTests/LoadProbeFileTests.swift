import Foundation
@testable import ProberConfig
import ProberCore
import ProberTestSupport
import Testing

@Suite("Loading valid probe files")
struct LoadProbeFileTests {
    /// The example from the issue, key for key.
    static let issueExample = """
        defaults:
          interval: 30s
          timeout: 5s

        probes:
          - name: checkout-api
            http:
              url: https://checkout.internal:8443/health
              method: GET
              headers:
                Authorization: "Bearer ${CHECKOUT_TOKEN}"
              body: ""
              follow_redirects: true
              ip: any
              tls: { ca_file: /etc/ssl/internal-ca.pem, insecure: false }
              expect:
                status: [200, "200-299"]
                body_contains: "ok"
                body_matches: "\\"status\\":\\\\s*\\"up\\""
                headers: { Content-Type: application/json }
                certificate_valid_for: 14d
            interval: 10s
            timeout: 2s
            incident:
              service_id: 1234
              title: Checkout API
              window: 10
              minor: { latency: 800ms, failures: 2 }
              major: { latency: 3s, failures: 5 }
              for: 1m
              resolve_after: 5m

          - name: orders-db
            tcp:
              host: db.internal
              port: 5432
              send: ""
              expect: ""
            interval: 5s
            timeout: 1s
        """


    /// Scalars are text, whatever they look like: `null` quoted or tagged `!!str` is a name, `yes` a boolean
    /// only where one is wanted, `010` a port (not octal), `<<` a merge only as a plain key (or any key tagged
    /// `!!merge`); escapes, tabs and non-ASCII text arrive as written.
    @Test func scalarsAreReadAsWritten() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("p.yaml", """
            x-base: &base { interval: 10s }
            probes:
              - name: "null"
                tcp: { host: a, port: 010 }
              - name: !!str Null
                <<: *base
                http: { url: "http://b", follow_redirects: yes }
              - name: "2024-01-01"
                http: { url: "http://c", follow_redirects: off }
              - name: d
                !!merge x: *base
                tcp: { host: "h\\u00e9", port: "1", send: "a\\tb\\u0000c" }
            """)
        let set = try ProbeLoader.load(directory: dir.path, environment: [:])
        #expect(set.probes.map(\.name) == ["null", "Null", "2024-01-01", "d"])
        guard case .tcp(let tcp) = set.probes[0].target else { Issue.record("not tcp"); return }
        #expect(tcp.port == 10)
        #expect(set.probes[1].interval == .seconds(10))
        guard case .http(let b) = set.probes[1].target, case .http(let c) = set.probes[2].target else { Issue.record("not http"); return }
        #expect(b.followRedirects && !c.followRedirects)
        #expect(set.probes[3].interval == .seconds(10))
        guard case .tcp(let d) = set.probes[3].target else { Issue.record("not tcp"); return }
        #expect(d.host == "hé")
        #expect(d.send == "a\tb\u{0}c")
    }
    @Test func issueExampleLoadsWithEveryValue() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("checkout.yaml", Self.issueExample)
        let set = try ProbeLoader.load(directory: dir.path, environment: ["CHECKOUT_TOKEN": "s3cret"])
        #expect(set.files == ["\(dir.path)/checkout.yaml"])
        #expect(set.probes.map(\.name) == ["checkout-api", "orders-db"])

        let api = set.probes[0]
        guard case .http(let http) = api.target else { Issue.record("not http"); return }
        #expect(http.url == "https://checkout.internal:8443/health")
        #expect(http.method == "GET")
        #expect(http.headers == [Header(name: "Authorization", value: "Bearer s3cret")])
        #expect(http.body == "")
        #expect(http.followRedirects)
        #expect(http.maxRedirects == 10)
        #expect(http.maxBodyBytes == 1 << 20)
        #expect(http.ip == .any)
        #expect(http.tls == TLSOptions(caFile: "/etc/ssl/internal-ca.pem", insecure: false))
        #expect(http.expect.status == StatusSet([200...200, 200...299]))
        #expect(http.expect.bodyContains == "ok")
        #expect(http.expect.bodyMatches == "\"status\":\\s*\"up\"")
        #expect(http.expect.headers == [Header(name: "Content-Type", value: "application/json")])
        #expect(http.expect.certificateValidFor == .seconds(14 * 86_400))
        #expect(api.interval == .seconds(10))
        #expect(api.timeout == .seconds(2))
        #expect(api.incident.serviceID == 1234)
        #expect(api.incident.title == "Checkout API")
        #expect(api.incident.window == 10)
        #expect(api.incident.minor == Threshold(latency: .milliseconds(800), failures: 2))
        #expect(api.incident.major == Threshold(latency: .seconds(3), failures: 5))
        #expect(api.incident.holdFor == .seconds(60))
        #expect(api.incident.resolveAfter == .seconds(300))
        #expect(api.source == SourceLocation(file: "\(dir.path)/checkout.yaml", line: 6, column: 5))

        let db = set.probes[1]
        #expect(db.target == .tcp(TCPTarget(host: "db.internal", port: 5432)))
        #expect(db.interval == .seconds(5))
        #expect(db.timeout == .seconds(1))
        #expect(db.incident == IncidentPolicy())
        #expect(set.storage == StoragePolicy())
        #expect(set.notify == [])
    }

    @Test func nameAndURLAloneGetEveryDefault() throws {
        let set = try load("probes:\n  - name: api\n    http:\n      url: http://a/health\n")
        var expected = HTTPTarget(url: "http://a/health")
        expected.method = "GET"
        #expect(set.probes.count == 1)
        #expect(set.probes[0].target == .http(expected))
        #expect(set.probes[0].interval == .seconds(30))
        #expect(set.probes[0].timeout == .seconds(5))
        #expect(set.probes[0].incident == IncidentPolicy())
    }

    @Test func shortIntervalAloneGetsEightyPercentTimeout() throws {
        let set = try load("""
            probes:
              - name: fast
                http: { url: "http://a" }
                interval: 500ms
              - name: five
                tcp: { host: a, port: 1 }
                interval: 5s
              - name: six
                tcp: { host: a, port: 1 }
                interval: 6s
            """)
        #expect(set.probes.map(\.timeout) == [.milliseconds(400), .seconds(4), .seconds(5)])
        #expect(set.probes[0].interval == .milliseconds(500))
    }

    @Test func intervalOfExactly100msIsValid() throws {
        let set = try load("probes:\n  - name: a\n    tcp: { host: a, port: 1 }\n    interval: 100ms\n")
        #expect(set.probes[0].interval == .milliseconds(100))
        #expect(set.probes[0].timeout == .milliseconds(80))
    }

    @Test func defaultsMergePerProbeAndKey() throws {
        let set = try load("""
            defaults:
              interval: 2s
              timeout: 1s
              incident:
                window: 20
                minor: { latency: 200ms }
                for: 20s
            probes:
              - name: a
                http: { url: "http://a" }
              - name: b
                http: { url: "http://b" }
                timeout: 500ms
                incident:
                  minor: { failures: 1 }
                  resolve_after: 1m
            """)
        let a = set.probes[0], b = set.probes[1]
        #expect(a.interval == .seconds(2) && a.timeout == .seconds(1))
        #expect(a.incident.window == 20)
        #expect(a.incident.minor == Threshold(latency: .milliseconds(200), failures: 3))
        #expect(a.incident.holdFor == .seconds(20))
        #expect(b.interval == .seconds(2) && b.timeout == .milliseconds(500))
        #expect(b.incident.minor == Threshold(latency: .milliseconds(200), failures: 1))
        #expect(b.incident.resolveAfter == .seconds(60))
        #expect(b.incident.holdFor == .seconds(20))
    }

    @Test func latencyThresholdCanBeTurnedOff() throws {
        let set = try load("probes:\n  - name: a\n    tcp: { host: a, port: 1 }\n    incident: { minor: { latency: none } }\n")
        #expect(set.probes[0].incident.minor == Threshold(latency: nil, failures: 3))
    }

    @Test func httpExtras() throws {
        let set = try load("""
            probes:
              - name: a
                http:
                  url: HTTPS://a.internal/x
                  method: post
                  max_redirects: 0
                  max_body_bytes: 512KiB
                  ip: IPv6
                  expect: { status: "2xx" }
              - name: b
                http: { url: "http://b", max_body_bytes: 4096 }
              - name: c
                tcp: { host: "[::1]", port: 22, ip: ipv6, send: "PING\\r\\n", expect: "+PONG" }
            """)
        guard case .http(let a) = set.probes[0].target, case .http(let b) = set.probes[1].target else {
            Issue.record("not http"); return
        }
        #expect(a.method == "POST")
        #expect(a.maxRedirects == 0)
        #expect(a.maxBodyBytes == 512 * 1024)
        #expect(a.ip == .ipv6)
        #expect(a.expect.status == StatusSet([200...299]))
        #expect(b.maxBodyBytes == 4096)
        var c = TCPTarget(host: "::1", port: 22)
        c.ip = .ipv6
        c.send = "PING\r\n"
        c.expect = "+PONG"
        #expect(set.probes[2].target == .tcp(c))
    }

    @Test func storageAndNotify() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("a.yaml", """
            notify:
              webhook: https://hooks.internal/prober
              headers: { X-Token: "${HOOK_TOKEN}" }
            probes:
              - name: a1
                http: { url: "http://a" }
              - name: a2
                http: { url: "http://a" }
            """)
        try dir.write("b.yaml", "probes:\n  - name: b1\n    tcp: { host: b, port: 1 }\n")
        try dir.write("storage.yml", "storage: { raw: 2d, rollup_5m: 10d, rollup_1h: 10d }\n")
        let set = try ProbeLoader.load(directory: dir.path, environment: ["HOOK_TOKEN": "t0k"])
        var storage = StoragePolicy()
        storage.raw = .seconds(2 * 86_400)
        storage.rollup5m = .seconds(10 * 86_400)
        storage.rollup1h = .seconds(10 * 86_400)
        #expect(set.storage == storage)
        #expect(set.notify == [NotifySink(webhook: "https://hooks.internal/prober",
                                          headers: [Header(name: "X-Token", value: "t0k")], probes: ["a1", "a2"])])
        #expect(set.files.count == 3)
    }

    @Test func filesLoadRecursivelyInSortedOrderSkippingHiddenOnes() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("z.yaml", "probes:\n  - name: z\n    tcp: { host: z, port: 1 }\n")
        try dir.write("a/b.yml", "probes:\n  - name: ab\n    tcp: { host: b, port: 1 }\n")
        try dir.write("a.yaml", "probes:\n  - name: a\n    tcp: { host: a, port: 1 }\n")
        try dir.write("..data/a.yaml", "probes:\n  - name: hidden\n    tcp: { host: a, port: 1 }\n")
        try dir.write("notes.txt", "probes: nonsense")
        let set = try ProbeLoader.load(directory: dir.path + "/", environment: [:])
        #expect(set.files == ["a.yaml", "a/b.yml", "z.yaml"].map { "\(dir.path)/\($0)" })
        #expect(set.probes.map(\.name) == ["a", "ab", "z"])
    }

    @Test func aSingleFileCanBeLoaded() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("one.yaml", "probes:\n  - name: a\n    tcp: { host: a, port: 1 }\n")
        let set = try ProbeLoader.load(directory: dir.path + "/one.yaml", environment: [:])
        #expect(set.probes.map(\.name) == ["a"])
    }

    @Test func extensionKeysAndMergeKeysForSharing() throws {
        let set = try load("""
            x-common: &common
              interval: 2s
              incident: { for: 10s }
            probes:
              - name: a
                <<: *common
                http: { url: "http://a" }
              - name: b
                <<: *common
                interval: 4s
                tcp: { host: b, port: 1 }
            """)
        #expect(set.probes.map(\.interval) == [.seconds(2), .seconds(4)])
        #expect(set.probes.map(\.incident.holdFor) == [.seconds(10), .seconds(10)])
    }

    private func load(_ yaml: String, environment: [String: String] = [:]) throws -> ProbeSet {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("p.yaml", yaml)
        return try ProbeLoader.load(directory: dir.path, environment: environment)
    }
}
