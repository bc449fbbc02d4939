import Foundation
import ProberTestSupport
import Testing

/// `prober run --location` and `--source-address` (and `prober once --source-address`), through the built binary:
/// two probers on one machine play two locations against one loopback target that fails for one of them.
@Suite("prober run --location --source-address")
final class LocationCommandTests {
    let dir: TemporaryDirectory

    init() throws { dir = try TemporaryDirectory() }
    deinit { dir.remove() }

    /// A probe file in `name/` checking `url` every 300 ms. (With an 80 ms timeout, a test server starved of CPU on
    /// a loaded machine timed a passing check out: a failure from the location that should see none.)
    func probes(_ name: String, url: String) throws -> String {
        try dir.write("\(name)/probes.yaml", """
            probes:
              - name: target
                http:
                  url: \(url)
                interval: 300ms
                timeout: 280ms
            """)
        return dir.path + "/" + name
    }

    /// `prober history target --json` of `db`'s summary, once it counts at least `checks` checks.
    func summary(_ db: String, checks: Int) -> [String: Any]? {
        var found: [String: Any]?
        _ = waitUntil {
            guard let r = try? ProberBinary.run(["history", "target", "--since", "1h", "--json", "--db", db]), r.status == 0,
                  let object = try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any],
                  let summary = object["summary"] as? [String: Any], (summary["checks"] as? Int ?? 0) >= checks else { return false }
            found = summary
            return true
        }
        return found
    }

    @Test func twoLocationsSeeATargetThatFailsForOneOfThem() throws {
        let faults = ClientFaults(failing: ["127.0.0.2"])
        let server = try TestHTTPServer(faults: faults) { _ in .respond(status: 200, body: "ok") }
        defer { server.stop() }
        let folder = try probes("probes", url: server.url + "/health")
        let (dbA, dbB) = (dir.path + "/a.db", dir.path + "/b.db")
        let a = try ProberDaemon(["--probes", folder, "--db", dbA, "--location", "a", "--source-address", "127.0.0.2"], logIn: dir.url)
        let b = try ProberDaemon(["--probes", folder, "--db", dbB, "--location", "b", "--source-address", "127.0.0.3"], logIn: dir.url)
        #expect(a.waitForStart(), "\(a.stderr)")
        #expect(b.waitForStart(), "\(b.stderr)")
        #expect(a.stderr.contains("probing from location a, every probe bound to source address 127.0.0.2"), "\(a.stderr)")
        #expect(b.stderr.contains("probing from location b, every probe bound to source address 127.0.0.3"), "\(b.stderr)")

        let failing = try #require(summary(dbA, checks: 3), "no samples from a; stderr:\n\(a.stderr)")
        let passing = try #require(summary(dbB, checks: 3), "no samples from b; stderr:\n\(b.stderr)")
        #expect(failing["failures"] as? Int == failing["checks"] as? Int, "\(failing)")
        #expect((failing["failures_by_reason"] as? [String: Int])?.keys.sorted() == ["http_status"], "\(failing)")
        #expect(passing["failures"] as? Int == 0, "\(passing)")
        #expect(Set(server.clients) == ["127.0.0.2", "127.0.0.3"], "\(Set(server.clients))")

        #expect(a.terminate() == 0, "\(a.stderr)")
        #expect(b.terminate() == 0, "\(b.stderr)")
    }

    @Test func metricsShowTheLocation() throws {
        let server = try TestHTTPServer { _ in .respond(status: 200) }
        defer { server.stop() }
        let daemon = try ProberDaemon(["--probes", try probes("probes", url: server.url + "/"), "--db", dir.path + "/prober.db",
                                       "--listen", "127.0.0.1:0", "--location", "fra-1.example_a"], logIn: dir.url)
        let port = try #require(daemon.listenPort(), "no listen line; stderr:\n\(daemon.stderr)")
        var body = ""
        waitUntil {
            guard let reply = httpGet(port: port, "/metrics"), reply.status == 200 else { return false }
            body = reply.body
            return true
        }
        let metrics = try PrometheusText(parsing: body)
        #expect(metrics["prober_info"]?.type == "gauge", "\(body)")
        let info = metrics.samples("prober_info")
        #expect(info.count == 1 && info.first?.value == 1, "\(info)")
        #expect(info.first?.labels["location"] == "fra-1.example_a", "\(info)")
        #expect(info.first?.labels["version"]?.isEmpty == false, "\(info)")
        #expect(daemon.terminate() == 0, "\(daemon.stderr)")
    }

    @Test func theLocationDefaultsToTheHostName() throws {
        var name = [CChar](repeating: 0, count: 256)
        #expect(gethostname(&name, 255) == 0)
        let host = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let daemon = try ProberDaemon(["--probes", try probes("probes", url: "http://127.0.0.1:1/"), "--db", dir.path + "/prober.db"],
                                      logIn: dir.url)
        #expect(daemon.waitForLog(containing: "probing from location \(host)") != nil, "\(daemon.stderr)")
        #expect(!daemon.stderr.contains("source address"), "no binding unless asked")
        #expect(daemon.terminate() == 0, "\(daemon.stderr)")
    }

    @Test(arguments: [
        (["--location", "fra 1"], "--location 'fra 1' contains ' '"),
        (["--location", ""], "--location a location cannot be empty"),
        (["--location", String(repeating: "x", count: 65)], "--location '\(String(repeating: "x", count: 16))…' is 65 characters long, at most 64"),
        (["--location", "café"], "--location 'café' contains '\\u{00E9}'"),
        (["--source-address", "eth0"], "--source-address 'eth0' is not a literal IPv4 or IPv6 address"),
        (["--source-address", "localhost"], "--source-address 'localhost' is not a literal IPv4 or IPv6 address"),
        (["--source-address", "[::1]"], "--source-address '[::1]' is not a literal IP address: write an IPv6 address without brackets"),
    ])
    func badValuesAreAConfigurationError(_ flags: [String], _ message: String) throws {
        let folder = try probes("probes", url: "http://127.0.0.1:1/")
        let r = try ProberBinary.run(["run", "--probes", folder, "--db", dir.path + "/prober.db"] + flags)
        #expect(r.status == 2, "\(r.stderr)")
        #expect(r.stderr.contains("prober run: " + message), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/prober.db"), "refused before opening the database")
    }

    @Test func onceBindsToTheSourceAddressAndRefusesABadOne() throws {
        let server = try TestHTTPServer { _ in .respond(status: 200) }
        defer { server.stop() }
        let folder = try probes("probes", url: server.url + "/")
        let r = try ProberBinary.run(["once", "--probes", folder, "--source-address", "127.0.0.4"])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(server.clients == ["127.0.0.4"])

        let absent = try ProberBinary.run(["once", "--probes", folder, "--source-address", "192.0.2.1"])
        #expect(absent.status == 1)
        #expect(absent.stdout.contains("connect: cannot bind to source address 192.0.2.1 (--source-address) to reach \(server.url)/"),
                "\(absent.stdout)")

        let bad = try ProberBinary.run(["once", "--probes", folder, "--source-address", "eth0"])
        #expect(bad.status == 2)
        #expect(bad.stderr.contains("prober once: --source-address 'eth0' is not a literal IPv4 or IPv6 address"), "\(bad.stderr)")
        #expect(try ProberBinary.run(["once", "--help"]).stdout.contains("--source-address <address>"))
    }
}
