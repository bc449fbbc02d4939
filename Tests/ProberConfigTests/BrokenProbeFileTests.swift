import Foundation
import ProberConfig
import ProberCore
import ProberTestSupport
import Testing

/// One broken probe file and the exact diagnostics it must produce (paths relative to the probes directory).
struct BrokenCase: CustomTestStringConvertible, Sendable {
    var name: String
    var yaml: String
    var expected: [String]
    var environment: [String: String] = [:]
    var testDescription: String { name }
}

let brokenCases: [BrokenCase] = [
    BrokenCase(name: "YAML syntax error at the position Yams reports", yaml: """
        probes:
          - name: api
            http: { url: http://a
        """, expected: ["p.yaml:4:1: YAML syntax error: did not find expected ',' or '}' (while parsing a flow mapping at line 3, column 11)"]),
    BrokenCase(name: "bad indentation", yaml: """
        probes:
          - name: api
           http:
        """, expected: ["p.yaml:3:4: YAML syntax error: did not find expected '-' indicator (while parsing a block collection at line 2, column 3)"]),
    BrokenCase(name: "duplicate key in one block", yaml: """
        probes:
          - name: api
            name: web
            http: { url: "http://a" }
        """, expected: ["p.yaml:2:5: key 'name' appears more than once in the same block"]),
    BrokenCase(name: "a second YAML document", yaml: """
        probes:
          - name: api
            http: { url: "http://a" }
        ---
        probes: []
        """, expected: ["p.yaml:4:1: a probe file holds one YAML document; remove this second one (after '---') or move it to its own file"]),
    BrokenCase(name: "unknown key, near miss", yaml: """
        probes:
          - name: api
            http: { url: "http://a" }
            intreval: 10s
        """, expected: ["p.yaml:4:5: unknown key 'intreval' in a probe; did you mean 'interval'?"]),
    BrokenCase(name: "unknown key, case and dash", yaml: """
        probes:
          - name: api
            http: { url: "http://a", Follow-Redirects: false }
        """, expected: ["p.yaml:3:30: unknown key 'Follow-Redirects' in 'http' of probe 'api'; did you mean 'follow_redirects'?"]),
    BrokenCase(name: "unknown key, far from any", yaml: """
        storage: { raw: 1d, cold: 1y }
        probes:
          - name: api
            http: { url: "http://a" }
        """, expected: ["p.yaml:1:21: unknown key 'cold' in 'storage'; expected one of: raw, rollup_5m, rollup_1h"]),
    BrokenCase(name: "key one level too high", yaml: """
        probes:
          - name: api
            url: http://a
            http: { url: "http://a" }
        """, expected: ["p.yaml:3:5: unknown key 'url' in a probe; it belongs under 'http:'"]),
    BrokenCase(name: "missing name", yaml: """
        probes:
          - http: { url: "http://a" }
        """, expected: ["p.yaml:2:5: a probe is missing required key 'name'"]),
    BrokenCase(name: "missing url", yaml: """
        probes:
          - name: api
            http: { method: GET }
        """, expected: ["p.yaml:3:11: 'http' of probe 'api' is missing required key 'url'"]),
    BrokenCase(name: "missing tcp port", yaml: """
        probes:
          - name: db
            tcp:
              host: db.internal
        """, expected: ["p.yaml:4:7: 'tcp' of probe 'db' is missing required key 'port'"]),
    BrokenCase(name: "both http and tcp", yaml: """
        probes:
          - name: api
            http: { url: "http://a" }
            tcp: { host: a, port: 80 }
        """, expected: ["p.yaml:4:5: probe 'api' has both 'http' and 'tcp'; a probe checks one target, so split it into two probes"]),
    BrokenCase(name: "neither http nor tcp", yaml: """
        probes:
          - name: api
            interval: 10s
        """, expected: ["p.yaml:2:5: probe 'api' needs an 'http:' or a 'tcp:' block saying what to check"]),
    BrokenCase(name: "bad probe name", yaml: """
        probes:
          - name: check out
            http: { url: "http://a" }
        """, expected: ["p.yaml:2:5: probe name 'check out' may hold only letters, digits, '-', '_' and '.'"]),
    BrokenCase(name: "bad duration", yaml: """
        probes:
          - name: api
            http: { url: "http://a" }
            interval: 10 seconds
        """, expected: ["p.yaml:4:5: 'interval' is '10 seconds', which is not a duration; write e.g. 250ms, 10s, 5m, 1h or 14d"]),
    BrokenCase(name: "duration without a unit", yaml: """
        probes:
          - name: api
            http: { url: "http://a" }
            timeout: 3
        """, expected: ["p.yaml:4:5: 'timeout' is '3', which has no unit; write e.g. 3s or 3ms"]),
    BrokenCase(name: "timeout not shorter than interval", yaml: """
        probes:
          - name: api
            http: { url: "http://a" }
            interval: 2s
            timeout: 2s
        """, expected: ["p.yaml:5:5: 'timeout' 2s must be shorter than 'interval' 2s"]),
    BrokenCase(name: "timeout from defaults not shorter than the probe's interval", yaml: """
        defaults: { timeout: 5s }
        probes:
          - name: api
            http: { url: "http://a" }
            interval: 1s
        """, expected: ["p.yaml:5:5: 'timeout' 5s (from 'defaults') must be shorter than 'interval' 1s"]),
    BrokenCase(name: "timeout longer than the default interval", yaml: """
        probes:
          - name: api
            http: { url: "http://a" }
            timeout: 1m
        """, expected: ["p.yaml:4:5: 'timeout' 1m must be shorter than 'interval' 30s (the default)"]),
    BrokenCase(name: "interval below 100ms", yaml: """
        probes:
          - name: api
            http: { url: "http://a" }
            interval: 50ms
        """, expected: ["p.yaml:4:5: 'interval' is 50ms; the shortest interval is 100ms"]),
    BrokenCase(name: "interval below 100ms in defaults, reported once", yaml: """
        defaults:
          interval: 20ms
        probes:
          - name: a
            http: { url: "http://a" }
          - name: b
            http: { url: "http://b" }
        """, expected: ["p.yaml:2:3: 'interval' is 20ms; the shortest interval is 100ms"]),
    BrokenCase(name: "URL scheme", yaml: """
        probes:
          - name: api
            http: { url: "ftp://files.internal/x" }
        """, expected: ["p.yaml:3:13: 'url' 'ftp://files.internal/x' uses the scheme 'ftp'; only http and https are supported"]),
    BrokenCase(name: "URL without a scheme", yaml: """
        probes:
          - name: api
            http: { url: "checkout.internal/health" }
        """, expected: ["p.yaml:3:13: 'url' 'checkout.internal/health' must start with http:// or https://"]),
    BrokenCase(name: "URL not a URL", yaml: """
        probes:
          - name: api
            http: { url: "http://a b/health" }
        """, expected: ["p.yaml:3:13: 'url' 'http://a b/health' is not a valid URL"]),
    BrokenCase(name: "URL without a host", yaml: """
        probes:
          - name: api
            http: { url: "http:///health" }
        """, expected: ["p.yaml:3:13: 'url' 'http:///health' has no host name"]),
    BrokenCase(name: "port out of range", yaml: """
        probes:
          - name: db
            tcp: { host: db, port: 70000 }
        """, expected: ["p.yaml:3:22: 'port' is 70000; it must be between 1 and 65535"]),
    BrokenCase(name: "port not a number", yaml: """
        probes:
          - name: db
            tcp: { host: db, port: postgres }
        """, expected: ["p.yaml:3:22: 'port' must be a whole number (a TCP port), not 'postgres'"]),
    BrokenCase(name: "tcp host given as a URL", yaml: """
        probes:
          - name: db
            tcp: { host: "tcp://db", port: 5432 }
        """, expected: ["p.yaml:3:12: 'host' 'tcp://db' must be a host name or address, not a URL"]),
    BrokenCase(name: "status codes out of range and malformed ranges", yaml: """
        probes:
          - name: api
            http:
              url: http://a
              expect:
                status: [200, 700, "300-200", "2xx", "20x", 99]
        """, expected: [
            "p.yaml:6:23: 'status' entry '700' is not a status code from 100 to 599, a range like \"200-299\" or a class like \"2xx\"",
            "p.yaml:6:28: 'status' entry '300-200' is not a status code from 100 to 599, a range like \"200-299\" or a class like \"2xx\"",
            "p.yaml:6:46: 'status' entry '20x' is not a status code from 100 to 599, a range like \"200-299\" or a class like \"2xx\"",
            "p.yaml:6:53: 'status' entry '99' is not a status code from 100 to 599, a range like \"200-299\" or a class like \"2xx\"",
        ]),
    BrokenCase(name: "invalid regular expression", yaml: """
        probes:
          - name: api
            http:
              url: http://a
              expect: { body_matches: "\\"status\\": *(up" }
        """, expected: ["p.yaml:5:17: 'body_matches' '\"status\": *(up' is not a valid regular expression (ICU syntax)"]),
    BrokenCase(name: "minor latency not below major", yaml: """
        probes:
          - name: api
            http: { url: "http://a" }
            incident:
              minor: { latency: 3s }
              major: { latency: 800ms }
        """, expected: ["p.yaml:5:16: minor latency (3s) must be below major latency (800ms)"]),
    BrokenCase(name: "minor failures not below major", yaml: """
        probes:
          - name: api
            http: { url: "http://a" }
            incident:
              minor: { failures: 4 }
              major: { failures: 4 }
        """, expected: ["p.yaml:5:16: minor failures (4) must be below major failures (4)"]),
    BrokenCase(name: "minor failures against the default major", yaml: """
        probes:
          - name: api
            http: { url: "http://a" }
            incident: { minor: { failures: 6 } }
        """, expected: ["p.yaml:4:26: minor failures (6) must be below major failures (5, the default)"]),
    BrokenCase(name: "failures more than the window", yaml: """
        probes:
          - name: api
            http: { url: "http://a" }
            incident:
              window: 4
              minor: { failures: 2 }
              major: { failures: 8 }
        """, expected: ["p.yaml:7:16: major failures (8) cannot exceed the window of 4 checks"]),
    BrokenCase(name: "non-integer service_id", yaml: """
        probes:
          - name: api
            http: { url: "http://a" }
            incident: { service_id: 12.5 }
        """, expected: ["p.yaml:4:17: 'service_id' must be a whole number (the IsDown service id), not '12.5'"]),
    BrokenCase(name: "unset environment variable", yaml: """
        probes:
          - name: api
            http:
              url: http://a
              headers:
                Authorization: "Bearer ${CHECKOUT_TOKEN}"
        """, expected: ["p.yaml:6:9: 'Authorization' uses environment variable 'CHECKOUT_TOKEN', which is not set (write ${CHECKOUT_TOKEN:-default} for a fallback)"]),
    BrokenCase(name: "unterminated variable", yaml: """
        probes:
          - name: api
            http: { url: "http://${HOST/x" }
        """, expected: ["p.yaml:3:13: 'url' has '${' without a closing '}' (write $$ for a literal $)"]),
    BrokenCase(name: "a list where a mapping is expected", yaml: """
        probes:
          - name: api
            http:
              - url: http://a
        """, expected: ["p.yaml:4:7: 'http' of probe 'api' must be a mapping (key: value lines), not a list"]),
    BrokenCase(name: "a mapping where a list is expected", yaml: """
        probes:
          name: api
          http: { url: "http://a" }
        """, expected: ["p.yaml:1:1: 'probes' must be a list of probes (each starting with '- name:'), not a mapping (key: value)"]),
    BrokenCase(name: "a list where a value is expected", yaml: """
        probes:
          - name: api
            http: { url: [http://a] }
        """, expected: ["p.yaml:3:13: 'url' must be a single value, not a list"]),
    BrokenCase(name: "headers as a list", yaml: """
        probes:
          - name: api
            http: { url: "http://a", headers: [Accept: json] }
        """, expected: ["p.yaml:3:30: 'headers' must be a mapping of names to values, not a list"]),
    BrokenCase(name: "a file that is a list", yaml: """
        - name: api
          http: { url: "http://a" }
        """, expected: ["p.yaml:1:1: a probe file must be a mapping (key: value lines), not a list"]),
    BrokenCase(name: "bad bool, ip and size", yaml: """
        probes:
          - name: api
            http:
              url: http://a
              follow_redirects: sometimes
              ip: v4
              max_body_bytes: 2 gallons
        """, expected: [
            "p.yaml:5:7: 'follow_redirects' must be true or false, not 'sometimes'",
            "p.yaml:6:7: 'ip' is 'v4'; it must be one of: any, ipv4, ipv6",
            "p.yaml:7:7: 'max_body_bytes' is '2 gallons'; write a number of bytes or a size such as 512KiB or 1MiB",
        ]),
    BrokenCase(name: "certificate check on plain http", yaml: """
        probes:
          - name: api
            http:
              url: http://a
              expect: { certificate_valid_for: 14d }
        """, expected: ["p.yaml:5:17: 'certificate_valid_for' needs an https:// URL"]),
    BrokenCase(name: "storage raw not below rollup_5m", yaml: """
        storage: { raw: 30d, rollup_5m: 7d }
        probes:
          - name: api
            http: { url: "http://a" }
        """, expected: ["p.yaml:1:12: 'raw' (30d) must be shorter than 'rollup_5m' (7d): rollups outlive the samples they summarize"]),
    BrokenCase(name: "storage rollup_5m longer than rollup_1h", yaml: """
        storage:
          rollup_5m: 90d
          rollup_1h: 60d
        probes:
          - name: api
            http: { url: "http://a" }
        """, expected: ["p.yaml:2:3: 'rollup_5m' (90d) must not be longer than 'rollup_1h' (60d)"]),
    BrokenCase(name: "notify with a bad webhook", yaml: """
        notify: { webhook: "hooks.internal/prober" }
        probes:
          - name: api
            http: { url: "http://a" }
        """, expected: ["p.yaml:1:11: 'webhook' 'hooks.internal/prober' must start with http:// or https://"]),
    BrokenCase(name: "a probe written at the top of the file", yaml: """
        name: api
        http: { url: "http://a" }
        """, expected: [
            "p.yaml:1:1: unknown key 'name' in a probe file; probes are listed under 'probes:', each starting with '- name:'",
            "p.yaml:2:1: unknown key 'http' in a probe file; probes are listed under 'probes:', each starting with '- name:'",
        ]),
    BrokenCase(name: "a probe that is just a word", yaml: """
        probes:
          - api
        """, expected: ["p.yaml:2:5: a probe must be a mapping (key: value lines), not 'api'"]),
    BrokenCase(name: "threshold problem inherited from defaults, reported once", yaml: """
        defaults:
          incident: { window: 3 }
        probes:
          - name: a
            tcp: { host: a, port: 1 }
          - name: b
            tcp: { host: b, port: 1 }
        """, expected: [
            "p.yaml:2:15: major failures (5, the default) cannot exceed the window of 3 checks",
        ]),
    BrokenCase(name: "a file with only comments", yaml: """
        # probes:
        #   - name: api
        """, expected: ["p.yaml: no probes are defined in this file; add a 'probes:' list"]),
    BrokenCase(name: "a URL with a line break (header injection)", yaml: """
        probes:
          - name: a
            http:
              url: "http://a.internal/health\\r\\nX-Injected: 1"
        """, expected: [
            "p.yaml:4:7: 'url' contains a line break; a URL cannot carry control characters",
        ]),
    BrokenCase(name: "a URL with a tab", yaml: """
        probes:
          - name: a
            http: { url: "http://a.internal/\\thealth" }
        """, expected: [
            "p.yaml:3:13: 'url' contains a control character (tab); a URL cannot carry control characters",
        ]),
    BrokenCase(name: "a space in the user name or password", yaml: """
        probes:
          - name: a
            http: { url: "http://user:pass word@a.internal/health" }
        """, expected: [
            "p.yaml:3:13: 'url' has a space in its user name or password; write it as %20",
        ]),
    BrokenCase(name: "a space in the path", yaml: """
        probes:
          - name: a
            http: { url: "http://a.internal/my health" }
        """, expected: [
            "p.yaml:3:13: 'url' 'http://a.internal/my health' contains a space; write it as %20",
        ]),
    BrokenCase(name: "a webhook URL with a line break", yaml: """
        probes:
          - name: a
            tcp: { host: a, port: 1 }
        notify:
          webhook: "http://hooks.internal/x\\nHost: evil"
        """, expected: [
            "p.yaml:5:3: 'webhook' contains a line break; a URL cannot carry control characters",
        ]),
    BrokenCase(name: "null in each of its plain spellings, or tagged, is no value", yaml: """
        probes:
          - name: a
            http: { url: ~ }
          - name: b
            http: { url: null }
          - name: c
            http: { url: NULL }
          - name: d
            http: { url: }
          - name: e
            http: { url: !!null x }
        """, expected: [
            "p.yaml:3:13: 'url' has no value",
            "p.yaml:5:13: 'url' has no value",
            "p.yaml:7:13: 'url' has no value",
            "p.yaml:9:13: 'url' has no value",
            "p.yaml:11:13: 'url' has no value",
        ]),
    BrokenCase(name: "several problems at once, in file order", yaml: """
        defaults: { interval: 5x }
        probes:
          - name: a
            http: { url: "gopher://a" }
          - name: b
            tcp: { host: b, port: 0 }
        """, expected: [
            "p.yaml:1:13: 'interval' is '5x', which is not a duration; write e.g. 250ms, 10s, 5m, 1h or 14d",
            "p.yaml:4:13: 'url' 'gopher://a' uses the scheme 'gopher'; only http and https are supported",
            "p.yaml:6:21: 'port' is 0; it must be between 1 and 65535",
        ]),
    // YAML's less common forms: tags, quoted and complex keys, aliases of scalars, and which of several problems is
    // reported (the messages the loader gave when Yams composed the files).
    BrokenCase(name: "a quoted '<<' is a key, not a merge; a key tagged !!merge merges", yaml: """
        x-base: &base { interval: 10s }
        probes:
          - name: a
            "<<": *base
            tcp: { host: a, port: 1 }
          - name: b
            !!merge x: *base
            tcp: { host: b, port: 1 }
        """, expected: ["p.yaml:4:5: unknown key '<<' in a probe; expected one of: name, http, tcp, interval, timeout, incident, maintenance"]),
    BrokenCase(name: "a quoted key and a plain one of the same text are the same key", yaml: """
        probes:
          - name: a
            "tcp": { host: a, port: 1 }
            tcp: { host: a, port: 2 }
        """, expected: ["p.yaml:3:5: key 'tcp' appears more than once in the same block"]),
    BrokenCase(name: "a key tagged !!int is another key than the same text plain", yaml: """
        probes:
          - name: a
            !!int port: 3
            tcp: { host: a, port: 1 }
        """, expected: ["p.yaml:3:5: unknown key 'port' in a probe; it belongs under 'tcp:'"]),
    BrokenCase(name: "a list as a key", yaml: """
        probes:
          - name: a
            ? [x]
            : y
            tcp: { host: a, port: 1 }
        """, expected: ["p.yaml:3:7: keys in a probe must be plain names, not a list"]),
    BrokenCase(name: "an alias of no anchor", yaml: """
        probes:
          - name: a
            tcp: *nothing
        """, expected: ["p.yaml:3:10: YAML error: found undefined alias"]),
    BrokenCase(name: "null is text when tagged '!', quoted or a block", yaml: """
        probes:
          - name: a
            http: { url: ! null }
          - name: b
            http: { url: "null" }
          - name: c
            http:
              url: |
                null

        """, expected: [
            "p.yaml:3:13: 'url' 'null' must start with http:// or https://",
            "p.yaml:5:13: 'url' 'null' must start with http:// or https://",
            "p.yaml:8:7: 'url' 'null\\n' must start with http:// or https://",
        ]),
    BrokenCase(name: "an aliased value is reported at each key using it", yaml: """
        x-url: &u "gopher://x"
        probes:
          - name: a
            http: { url: *u }
          - name: b
            http:
              url: *u
        """, expected: [
            "p.yaml:4:13: 'url' 'gopher://x' uses the scheme 'gopher'; only http and https are supported",
            "p.yaml:7:7: 'url' 'gopher://x' uses the scheme 'gopher'; only http and https are supported",
        ]),
    BrokenCase(name: "a duplicate key before a syntax error is the problem reported", yaml: """
        probes:
          - name: a
            name: b
            tcp: { host: a, port: 1 }
          - [
        """, expected: ["p.yaml:2:5: key 'name' appears more than once in the same block"]),
]

@Suite("Broken probe files")
struct BrokenProbeFileTests {
    @Test(arguments: brokenCases)
    func reportsExactly(_ c: BrokenCase) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("p.yaml", c.yaml)
        let lines = diagnostics(loading: dir.path, environment: c.environment)
        let expected = c.expected.map { $0.hasPrefix("p.yaml") ? "\(dir.path)/\($0)" : "\(dir.path): \($0)" }
        #expect(lines == expected)
    }

    @Test func duplicateNamesAcrossFilesNameBothPlaces() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("a.yaml", "probes:\n  - name: api\n    http: { url: \"http://a\" }\n")
        try dir.write("teams/b.yml", "probes:\n  - name: web\n    http: { url: \"http://w\" }\n  - name: api\n    tcp: { host: b, port: 1 }\n")
        #expect(diagnostics(loading: dir.path) == [
            "\(dir.path)/teams/b.yml:4:5: probe name 'api' is already used at \(dir.path)/a.yaml:2:5; names must be unique across all probe files",
        ])
    }

    @Test func duplicateNamesInOneFile() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("a.yaml", "probes:\n  - name: api\n    http: { url: \"http://a\" }\n  - name: api\n    http: { url: \"http://b\" }\n")
        #expect(diagnostics(loading: dir.path) == [
            "\(dir.path)/a.yaml:4:5: probe name 'api' is already used at \(dir.path)/a.yaml:2:5; names must be unique across all probe files",
        ])
    }

    @Test func duplicateNamesAreReportedEvenWhenOneProbeHasOtherProblems() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("a.yaml", "probes:\n  - name: api\n    http: { url: \"ftp://a\" }\n  - name: api\n    tcp: { host: b, port: 1 }\n")
        #expect(diagnostics(loading: dir.path) == [
            "\(dir.path)/a.yaml:3:13: 'url' 'ftp://a' uses the scheme 'ftp'; only http and https are supported",
            "\(dir.path)/a.yaml:4:5: probe name 'api' is already used at \(dir.path)/a.yaml:2:5; names must be unique across all probe files",
        ])
    }

    @Test func storageInTwoFiles() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("a.yaml", "storage: { raw: 1d }\nprobes:\n  - name: api\n    http: { url: \"http://a\" }\n")
        try dir.write("b.yaml", "storage:\n  raw: 2d\n")
        #expect(diagnostics(loading: dir.path) == [
            "\(dir.path)/b.yaml:1:1: 'storage' is already set at \(dir.path)/a.yaml:1:1; only one probe file may set it",
        ])
    }

    @Test func missingDirectory() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        #expect(diagnostics(loading: dir.path + "/nope") == ["\(dir.path)/nope: no such probes directory"])
    }

    @Test func emptyDirectory() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("README.md", "not a probe file")
        try dir.write(".hidden/p.yaml", "probes:\n  - name: api\n    http: { url: \"http://a\" }\n")
        #expect(diagnostics(loading: dir.path) == ["\(dir.path): no probe files (*.yaml, *.yml) in this directory"])
    }

    @Test func errorDescriptionIsOneDiagnosticPerLine() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("p.yaml", "probes:\n  - name: a\n  - name: b\n")
        do {
            _ = try ProbeLoader.load(directory: dir.path, environment: [:])
            Issue.record("expected errors")
        } catch {
            #expect(error.description.split(separator: "\n").count == 2)
            #expect(error.diagnostics.map(\.location.line) == [2, 3])
        }
    }
}

/// The diagnostics of loading `directory`, as printed; empty when it loads.
func diagnostics(loading directory: String, environment: [String: String] = [:]) -> [String] {
    do {
        _ = try ProbeLoader.load(directory: directory, environment: environment)
        return []
    } catch {
        return error.diagnostics.map(\.description)
    }
}
