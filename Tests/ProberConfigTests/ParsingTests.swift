import Foundation
@testable import ProberConfig
import ProberCore
import ProberTestSupport
import Testing

@Suite("Durations, status sets, environment substitution")
struct ParsingTests {
    @Test(arguments: [
        ("250ms", Duration.milliseconds(250)), ("10s", .seconds(10)), ("5m", .seconds(300)), ("1h", .seconds(3_600)),
        ("14d", .seconds(14 * 86_400)), ("100ms", .milliseconds(100)), ("1m30s", .seconds(90)), ("1.5s", .milliseconds(1_500)),
        (" 2s ", .seconds(2)), ("500us", .microseconds(500)), ("1w", .seconds(7 * 86_400)), ("0s", .zero),
        ("500µs", .microseconds(500)), ("\u{3000}2s\t", .seconds(2)), ("1m500µs", .microseconds(60_000_500)),
    ])
    func durationsParse(_ text: String, _ expected: Duration) {
        #expect(Duration(parsing: text) == expected)
    }

    @Test(arguments: ["", "10", "10x", "-5s", "s", "10 s", "ms", "1.2.3s", "10sec", "five seconds", "10S", "10s\r\n",
                      "10s\n", "１０s", "10ś", "1e3s", "10s_"])
    func durationsReject(_ text: String) {
        #expect(Duration(parsing: text) == nil)
    }

    @Test(arguments: [
        ("200", 200...200), ("2xx", 200...299), ("200-299", 200...299), (" 301 - 308 ", 301...308),
        ("100", 100...100), ("599", 599...599), ("5xx", 500...599), ("404-404", 404...404),
    ])
    func statusElementsParse(_ text: String, _ expected: ClosedRange<Int>) {
        #expect(StatusSet.parseElement(text) == expected)
    }

    @Test(arguments: ["99", "600", "700", "300-200", "200-", "-200", "6xx", "0xx", "2x", "abc", "200-299-300", "1000"])
    func statusElementsReject(_ text: String) {
        #expect(StatusSet.parseElement(text) == nil)
    }

    @Test func statusSetContains() {
        let set = StatusSet([200...200, 301...302])
        #expect(set.contains(200) && set.contains(302))
        #expect(!set.contains(201) && !set.contains(404))
        #expect(StatusSet.default.contains(204))
    }

    @Test func substitutionPresentMissingDefaultAndEscape() {
        let env = ["TOKEN": "abc", "EMPTY": ""]
        #expect(Substitution.apply("Bearer ${TOKEN}", environment: env).value == "Bearer abc")
        #expect(Substitution.apply("Bearer ${TOKEN}", environment: env).usedEnvironment)
        #expect(Substitution.apply("${NOPE:-demo}", environment: env).value == "demo")
        #expect(!Substitution.apply("${NOPE:-demo}", environment: env).usedEnvironment)
        #expect(Substitution.apply("${EMPTY:-demo}", environment: env).value == "demo")
        #expect(Substitution.apply("${EMPTY}", environment: env).value == "")
        #expect(Substitution.apply("${TOKEN:-x}", environment: env).value == "abc")
        #expect(Substitution.apply("cost $$5 and $HOME", environment: env).value == "cost $5 and $HOME")
        #expect(Substitution.apply("^ok$", environment: env).value == "^ok$")
        #expect(Substitution.apply("${NOPE}", environment: env).problems == [.unset("NOPE")])
        #expect(Substitution.apply("${1X}", environment: env).problems == [.badName("1X")])
        #expect(Substitution.apply("${TOKEN", environment: env).problems == [.unterminated])
    }

    @Test func environmentValuesNeverAppearInDiagnostics() throws {
        let secret = "hunter2-Zq9"
        let env = ["SECRET_URL": "not a url \(secret)", "SECRET_PORT": "port-\(secret)",
                   "SECRET_TOKEN": "line\n\(secret)", "SECRET_WAIT": "\(secret)s", "OTHER": secret]
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("p.yaml", """
            probes:
              - name: a
                http:
                  url: "${SECRET_URL}"
                  headers: { Authorization: "Bearer ${SECRET_TOKEN}", X-Missing: "${UNSET_ONE}" }
                interval: "${SECRET_WAIT}"
              - name: b
                tcp: { host: "${SECRET_URL}", port: "${SECRET_PORT}" }
              - name: c
                http: { url: "ftp://${OTHER}@x" }
            """)
        let lines = diagnostics(loading: dir.path, environment: env)
        #expect(lines.count == 7)
        for line in lines { #expect(!line.contains(secret), "leaked: \(line)") }
        #expect(lines.contains { $0.hasSuffix("'X-Missing' uses environment variable 'UNSET_ONE', which is not set (write ${UNSET_ONE:-default} for a fallback)") })
        #expect(lines.contains { $0.hasSuffix("'url' '${SECRET_URL}' is not a valid URL") })
        #expect(lines.contains { $0.hasSuffix("header 'Authorization' has a line break in its value") })
    }

    @Test func environmentDefaultIsUsedWhenUnset() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("p.yaml", "probes:\n  - name: a\n    http:\n      url: \"http://${HOST:-127.0.0.1}:${PORT:-8080}/x\"\n")
        let set = try ProbeLoader.load(directory: dir.path, environment: ["PORT": "9090"])
        #expect(set.probes[0].target == .http(HTTPTarget(url: "http://127.0.0.1:9090/x")))
    }

    @Test func suggestions() {
        let keys = Keys.probe
        #expect(Suggest.nearest(to: "intervall", in: keys) == "interval")
        #expect(Suggest.nearest(to: "Timeout", in: keys) == "timeout")
        #expect(Suggest.nearest(to: "htp", in: keys) == "http")
        #expect(Suggest.nearest(to: "frequency", in: keys) == nil)
        #expect(Suggest.distance("kitten", "sitting") == 3)
        #expect(Suggest.closeNames(to: "API", in: ["web", "checkout-api", "apx"]) == ["checkout-api", "apx"])
        #expect(Suggest.closeNames(to: "follow-redirect", in: ["follow_redirects", "headers"]) == ["follow_redirects"])
    }
}
