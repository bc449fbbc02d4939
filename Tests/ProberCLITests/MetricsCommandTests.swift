import Foundation
import ProberTestSupport
import Testing

/// `prober run --listen`: a real daemon probing a loopback server, scraped and parsed as Prometheus text.
@Suite("prober run --listen")
final class MetricsCommandTests {
    let dir: TemporaryDirectory

    init() throws { dir = try TemporaryDirectory() }
    deinit { dir.remove() }

    static let secret = "s3cr3t-token-for-metrics-test"

    @Test func metricsAreValidPrometheusTextWithTheExpectedFamiliesAndHealthzIsOK() throws {
        let server = try TestHTTPServer { request in
            request.path == "/ok" ? .respond(status: 200, body: "ok") : .respond(status: 503, body: "down")
        }
        defer { server.stop() }
        try dir.write("probes/loop.yaml", """
            probes:
              - name: loop-ok
                http:
                  url: \(server.url)/ok
                  headers:
                    Authorization: "Bearer ${PROBER_METRICS_TEST_SECRET}"
                interval: 150ms
                timeout: 100ms
              - name: loop-503
                http:
                  url: \(server.url)/down
                interval: 150ms
                timeout: 100ms
              - name: loop-refused
                http:
                  url: http://127.0.0.1:1/
                interval: 150ms
                timeout: 100ms
            """)
        let daemon = try ProberDaemon(["--probes", dir.path + "/probes", "--db", dir.path + "/prober.db",
                                        "--listen", "127.0.0.1:0"],
                                       environment: ["PROBER_METRICS_TEST_SECRET": Self.secret], logIn: dir.url)
        let port = try #require(daemon.listenPort(), "no listen line; stderr:\n\(daemon.stderr)")

        // Wait for both probes' latest results (and a few ticks of each, for the histogram).
        var body = ""
        waitUntil {
            guard let reply = httpGet(port: port, "/metrics"), reply.status == 200,
                  reply.body.contains("probe_success{probe=\"loop-ok\"} 1\n"), reply.body.contains("probe_success{probe=\"loop-503\"} 0\n"),
                  reply.body.contains("probe_success{probe=\"loop-refused\"} 0\n"),
                  server.requests.count >= 6 else { return false }
            body = reply.body
            return true
        }
        #expect(!body.isEmpty, "no complete scrape within 30 s; stderr:\n\(daemon.stderr)")
        guard !body.isEmpty else { return }

        let metrics: PrometheusText
        do { metrics = try PrometheusText(parsing: body) } catch {
            Issue.record("\(error)\n\(body)")
            return
        }
        let expected: [(String, String)] = [
            ("probe_success", "gauge"), ("probe_duration_seconds", "gauge"), ("probe_http_duration_seconds", "gauge"),
            ("probe_http_status_code", "gauge"), ("probe_ssl_earliest_cert_expiry", "gauge"),
            ("prober_open_incidents", "gauge"), ("prober_tick_lateness_seconds", "histogram"),
            ("prober_skipped_ticks_total", "counter"), ("prober_store_queue_depth", "gauge"),
            ("prober_store_spooled_samples", "gauge"), ("prober_outbox_pending", "gauge"), ("prober_outbox_failed", "gauge"),
        ]
        for (name, type) in expected {
            let family = metrics[name]
            #expect(family?.type == type, "\(name) in\n\(body)")
            #expect(!(family?.help?.isEmpty ?? true), "\(name) has HELP")
        }

        #expect(metrics.samples("probe_success", ["probe": "loop-ok"]).map(\.value) == [1])
        #expect(metrics.samples("probe_success", ["probe": "loop-503"]).map(\.value) == [0])
        #expect(metrics.samples("probe_http_status_code", ["probe": "loop-ok"]).map(\.value) == [200])
        #expect(metrics.samples("probe_http_status_code", ["probe": "loop-503"]).map(\.value) == [503])
        #expect(metrics.samples("probe_http_status_code", ["probe": "loop-refused"]).map(\.value) == [0], "no response: 0")
        #expect(metrics.samples("probe_failure_reason", ["probe": "loop-refused"]).compactMap { $0.labels["reason"] } == ["connect_refused"])
        let duration = try #require(metrics.samples("probe_duration_seconds", ["probe": "loop-ok"]).first?.value)
        #expect(duration > 0 && duration < 1, "\(duration) s for a loopback check bounded by a 100 ms timeout")

        // Phases: blackbox_exporter's names, each a duration no longer than the whole check.
        let phases = metrics.samples("probe_http_duration_seconds", ["probe": "loop-ok"])
        let phaseNames = Set(phases.compactMap { $0.labels["phase"] })
        #expect(phaseNames.isSubset(of: ["resolve", "connect", "tls", "processing", "transfer"]), "\(phaseNames)")
        #expect(phaseNames.isSuperset(of: ["connect", "processing", "transfer"]), "\(phaseNames)")
        #expect(!phaseNames.contains("tls"), "no TLS phase for plain HTTP")
        for phase in phases { #expect(phase.value >= 0 && phase.value <= duration, "\(phase)") }

        // Every probe_* series names its probe; prober's own are per probe or global as documented.
        for family in metrics.families.values where family.name.hasPrefix("probe_") {
            for sample in family.samples { #expect(sample.labels["probe"] != nil, "\(sample)") }
        }
        #expect(Set(metrics.samples("prober_open_incidents").compactMap { $0.labels["level"] }) == ["minor", "major"])
        #expect(Set(metrics.samples("prober_skipped_ticks_total").compactMap { $0.labels["probe"] }) == ["loop-ok", "loop-503", "loop-refused"])
        let ticks = try #require(metrics.samples("prober_tick_lateness_seconds_count").first?.value)
        #expect(ticks >= 2)
        #expect(metrics.samples("prober_store_queue_depth").count == 1)
        #expect(metrics.samples("prober_store_spooled_samples").map(\.value) == [0], "SQLite has no spool")
        #expect(metrics.samples("prober_outbox_pending").count == 1)
        #expect(metrics.samples("prober_outbox_failed").count == 1)

        #expect(!body.contains(Self.secret), "a header secret reached /metrics")
        #expect(server.requests.contains { $0.header("Authorization") == "Bearer \(Self.secret)" }, "the header was sent")

        let health = httpGet(port: port, "/healthz")
        #expect(health?.status == 200)
        #expect(health?.body == "ok\n")
        #expect(httpGet(port: port, "/nope")?.status == 404)

        #expect(daemon.terminate() == 0, "\(daemon.stderr)")
        #expect(!daemon.stderr.contains(Self.secret), "a header secret reached the log")
    }

    @Test func listenIsOffByDefaultAndABadAddressIsRefused() throws {
        let bad = try ProberBinary.run(["run", "--probes", dir.path, "--db", dir.path + "/prober.db", "--listen", "localhost:http"])
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("--listen 'localhost:http' is not host:port"), "\(bad.stderr)")
        #expect(try ProberBinary.run(["run", "--help"]).stdout.contains("--listen <host:port>"))
    }

    /// The strict reader above must be able to fail: each of these is something a scraper rejects or misreads.
    @Test func theExpositionReaderRejectsWhatAScraperWould() {
        let good = "# HELP a_total A.\n# TYPE a_total counter\na_total{probe=\"x\\\"y\"} 1\n"
        #expect(throws: Never.self) { try PrometheusText(parsing: good) }
        let bad = [
            "a 1", // no final newline
            "# TYPE a gauge\n# TYPE a gauge\na 1\n",
            "# TYPE a gauge\na{probe=\"x\"} 1\na{probe=\"x\"} 2\n",
            "# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na 2\n",
            "# TYPE 1a gauge\n",
            "# TYPE a gauge\na{__x=\"1\"} 1\n",
            "# TYPE a gauge\na{x=\"\\t\"} 1\n",
            "# TYPE a gauge\na{x=\"1\" 1\n",
            "# TYPE a gauge\na 0x10\n",
            "# TYPE a counter\na -1\n",
            "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
            "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n",
            "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",
            "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n",
        ]
        for text in bad {
            #expect(throws: (any Error).self, "\(text)") { try PrometheusText(parsing: text) }
        }
    }

    /// A body of many pieces (the listener streams it 64 KB at a time): still one valid exposition, every
    /// family complete and in probe order.
    @Test func aLargeStreamedScrapeIsCompleteAndValid() throws {
        let count = 1_500
        var yaml = "defaults: { interval: 1s, timeout: 500ms }\nprobes:\n"
        for i in 0..<count { yaml += "  - { name: p\(String(format: "%04d", i)), http: { url: \"http://127.0.0.1:1/\(i)\" } }\n" }
        try dir.write("probes/many.yaml", yaml)
        let daemon = try ProberDaemon(["--probes", dir.path + "/probes", "--db", dir.path + "/prober.db",
                                        "--listen", "127.0.0.1:0"], logIn: dir.url)
        let port = try #require(daemon.listenPort(), "no listen line; stderr:\n\(daemon.stderr)")

        var body = ""
        waitUntil {
            guard let reply = httpGet(port: port, "/metrics"), reply.status == 200,
                  reply.body.components(separatedBy: "\nprobe_success{").count - 1 == count else { return false }
            body = reply.body
            return true
        }
        #expect(!body.isEmpty, "no scrape with all \(count) probes within 30 s; stderr:\n\(daemon.stderr)")
        guard !body.isEmpty else { return }
        #expect(body.utf8.count > 4 * 64 * 1024, "several pieces")

        let metrics: PrometheusText
        do { metrics = try PrometheusText(parsing: body) } catch { Issue.record("\(error)"); return }
        let names = (0..<count).map { String(format: "p%04d", $0) }
        for family in ["probe_success", "probe_http_status_code", "probe_failure_reason", "prober_probe_level",
                       "prober_skipped_ticks_total"] {
            #expect(metrics.samples(family).map { $0.labels["probe"] ?? "" } == names, "\(family)")
        }
        #expect(metrics.samples("probe_success").map(\.value) == Array(repeating: 0, count: count))
        #expect(body.hasSuffix("prober_outbox_failed 0\n"), "\(String(body.suffix(200)))")
        #expect(daemon.terminate() == 0)
    }
}
