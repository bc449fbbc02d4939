import Foundation
import ProberConfig
import ProberCore
import ProberTestSupport
import Testing

/// The top-level `connectivity:` block: what it loads to, every error with its file, line and key, and several
/// files defining it (the union).
@Suite struct ConnectivityConfigTests {
    static let probe = "probes:\n  - name: api\n    http: { url: \"http://a\" }\n"

    @Test func loadsCanariesWithDefaultsAndReservedNames() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("p.yaml", """
            connectivity:
              checks:
                - tcp: 10.0.0.1:53
                - tcp: "[fd00::1]:53"
                - http: http://192.168.1.1/
            """ + "\n" + Self.probe)
        let set = try ProbeLoader.load(directory: dir.path)
        #expect(set.probes.map(\.name) == ["api"])
        #expect(set.canaries.map(\.name) == ["connectivity:tcp 10.0.0.1:53", "connectivity:tcp [fd00::1]:53",
                                            "connectivity:http http://192.168.1.1/"])
        #expect(set.canaries.allSatisfy { $0.interval == .seconds(5) && $0.timeout == .seconds(2) })
        #expect(set.canaries.allSatisfy { Connectivity.isCanary($0.name) } && !Connectivity.isCanary("api"))
        #expect(set.canaries[1].target == .tcp(TCPTarget(host: "fd00::1", port: 53)))
        #expect(set.canaries[0].source.line == 3)
    }

    @Test func aShortIntervalGetsEightyPercentAsItsTimeout() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("p.yaml", "connectivity: { interval: 1s, checks: [ { tcp: gw:53 } ] }\n" + Self.probe)
        let canary = try #require(try ProbeLoader.load(directory: dir.path).canaries.first)
        #expect(canary.interval == .seconds(1) && canary.timeout == .milliseconds(800))
    }

    @Test func severalFilesGiveTheUnionEachTargetOnce() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("a.yaml", "connectivity: { interval: 2s, checks: [ { tcp: gw:53 }, { http: http://gw/ } ] }\n" + Self.probe)
        try dir.write("b.yaml", "connectivity: { interval: 10s, checks: [ { tcp: gw:53 }, { tcp: dns:53 } ] }\n")
        let canaries = try ProbeLoader.load(directory: dir.path).canaries
        #expect(canaries.map(\.name) == ["connectivity:tcp gw:53", "connectivity:http http://gw/", "connectivity:tcp dns:53"])
        #expect(canaries.map(\.interval) == [.seconds(2), .seconds(2), .seconds(10)], "each at its first file's interval")
    }

    @Test func aSecretInACanaryIsShownAsItsVariable() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("p.yaml", "connectivity: { checks: [ { http: \"http://${GATEWAY}/\" } ] }\n" + Self.probe)
        let set = try ProbeLoader.load(directory: dir.path, environment: ["GATEWAY": "gw.secret.internal"])
        #expect(set.canaries.map(\.name) == ["connectivity:http http://${GATEWAY}/"])
    }

    static let broken: [BrokenCase] = [
        BrokenCase(name: "no checks", yaml: "connectivity: { interval: 5s }\n" + probe,
                   expected: ["p.yaml:1:15: 'connectivity' is missing required key 'checks'"]),
        BrokenCase(name: "checks not a list", yaml: "connectivity: { checks: 10.0.0.1:53 }\n" + probe,
                   expected: ["p.yaml:1:17: 'checks' of 'connectivity' must be a list of canaries such as '- tcp: 10.0.0.1:53' or '- http: http://192.168.1.1/', not '10.0.0.1:53'"]),
        BrokenCase(name: "empty checks", yaml: "connectivity: { checks: [] }\n" + probe,
                   expected: ["p.yaml:1:17: 'checks' of 'connectivity' is empty; list at least one canary such as '- tcp: 10.0.0.1:53'"]),
        BrokenCase(name: "unknown key in the block", yaml: "connectivity: { checks: [ { tcp: gw:53 } ], intervall: 5s }\n" + probe,
                   expected: ["p.yaml:1:45: unknown key 'intervall' in 'connectivity'; did you mean 'interval'?"]),
        BrokenCase(name: "a check with both", yaml: "connectivity: { checks: [ { tcp: gw:53, http: http://gw/ } ] }\n" + probe,
                   expected: ["p.yaml:1:41: a connectivity check has both 'tcp' and 'http'; write each as its own '- tcp:' or '- http:' entry"]),
        BrokenCase(name: "a check with neither", yaml: "connectivity: { checks: [ { udp: gw:53 } ] }\n" + probe,
                   expected: ["p.yaml:1:27: a connectivity check needs 'tcp: HOST:PORT' or 'http: URL'",
                              "p.yaml:1:29: unknown key 'udp' in a connectivity check; expected one of: tcp, http"]),
        BrokenCase(name: "tcp without a port", yaml: "connectivity: { checks: [ { tcp: gw } ] }\n" + probe,
                   expected: ["p.yaml:1:29: 'tcp' 'gw' must be HOST:PORT, such as 10.0.0.1:53 or [fd00::1]:53"]),
        BrokenCase(name: "tcp port out of range", yaml: "connectivity: { checks: [ { tcp: gw:70000 } ] }\n" + probe,
                   expected: ["p.yaml:1:29: 'tcp' 'gw:70000' has no valid port; write HOST:PORT with a port from 1 to 65535"]),
        BrokenCase(name: "http with another scheme", yaml: "connectivity: { checks: [ { http: ftp://gw/ } ] }\n" + probe,
                   expected: ["p.yaml:1:29: 'http' 'ftp://gw/' uses the scheme 'ftp'; only http and https are supported"]),
        BrokenCase(name: "interval too short", yaml: "connectivity: { interval: 50ms, checks: [ { tcp: gw:53 } ] }\n" + probe,
                   expected: ["p.yaml:1:17: 'interval' of 'connectivity' is 50ms; the shortest interval is 100ms"]),
        BrokenCase(name: "timeout not below the interval", yaml: "connectivity: { timeout: 5s, checks: [ { tcp: gw:53 } ] }\n" + probe,
                   expected: ["p.yaml:1:17: 'timeout' of 'connectivity' 5s must be shorter than its 'interval' 5s (the default)"]),
        BrokenCase(name: "an unset variable", yaml: "connectivity: { checks: [ { http: \"http://${GW}/\" } ] }\n" + probe,
                   expected: ["p.yaml:1:29: 'http' uses environment variable 'GW', which is not set (write ${GW:-default} for a fallback)"]),
    ]

    @Test(arguments: broken)
    func reportsExactly(_ c: BrokenCase) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("p.yaml", c.yaml)
        let lines = diagnostics(loading: dir.path, environment: c.environment)
        #expect(lines == c.expected.map { "\(dir.path)/\($0)" })
    }
}
