import Foundation
import ProberConfig
import ProberCore
import ProberTestSupport
import Testing

/// `notify:` entries with `format:` (issue 17 item 5): what loads, and the exact message for each mistake.
@Suite("Notify formats in probe files")
struct NotifyFormatTests {
    static let key = "e93facc04764012d7bfb002500d5d1a6"
    static let probe = "probes:\n  - name: api\n    http: { url: \"http://a\" }\n"

    static let broken: [BrokenCase] = [
        BrokenCase(name: "an unknown format names the valid ones", yaml: """
            notify: { webhook: "https://hooks.internal/x", format: teams }
            \(probe)
            """, expected: ["p.yaml:1:48: 'format' is 'teams'; it must be one of: webhook, slack, pagerduty"]),
        BrokenCase(name: "a misspelt format gets a suggestion", yaml: """
            notify: { webhook: "https://hooks.internal/x", format: slak }
            \(probe)
            """, expected: ["p.yaml:1:48: 'format' is 'slak'; did you mean 'slack'? It is one of: webhook, slack, pagerduty"]),
        BrokenCase(name: "isdown is not a notify format, and the message says how IsDown is set up", yaml: """
            notify: { webhook: "https://hooks.internal/x", format: isdown }
            \(probe)
            """, expected: ["p.yaml:1:48: 'format' isdown is not a notify format: IsDown receives the incidents of probes with "
                + "'incident: { service_id: N }' when ISDOWN_API_KEY is set; 'format' is one of: webhook, slack, pagerduty"]),
        BrokenCase(name: "pagerduty without a routing key", yaml: """
            notify:
              format: pagerduty
            \(probe)
            """, expected: ["p.yaml:2:3: 'notify' with 'format: pagerduty' is missing required key 'routing_key' "
                + "(the integration key, e.g. routing_key: ${PAGERDUTY_ROUTING_KEY})"]),
        BrokenCase(name: "a routing key from an unset variable", yaml: """
            notify:
              format: pagerduty
              routing_key: ${PAGERDUTY_ROUTING_KEY}
            \(probe)
            """, expected: ["p.yaml:3:3: 'routing_key' uses environment variable 'PAGERDUTY_ROUTING_KEY', which is not set "
                + "(write ${PAGERDUTY_ROUTING_KEY:-default} for a fallback)"]),
        BrokenCase(name: "a routing key that is not one, not quoted", yaml: """
            notify:
              format: pagerduty
              routing_key: ${PAGERDUTY_ROUTING_KEY}
            \(probe)
            """, expected: ["p.yaml:3:3: 'routing_key' must be a PagerDuty integration key, 32 letters and digits; this one has 11 characters, not all letters or digits"],
            environment: ["PAGERDUTY_ROUTING_KEY": "hunter2-key"]),
        BrokenCase(name: "an empty routing key", yaml: """
            notify:
              format: pagerduty
              routing_key: ${PAGERDUTY_ROUTING_KEY:-}
            \(probe)
            """, expected: ["p.yaml:3:3: 'routing_key' must not be empty"]),
        BrokenCase(name: "a routing key on another format", yaml: """
            notify:
              webhook: https://hooks.slack.com/services/T1/B2/c3
              format: slack
              routing_key: \(key)
            \(probe)
            """, expected: ["p.yaml:4:3: 'routing_key' is for 'format: pagerduty'; this entry's format is slack"]),
        BrokenCase(name: "slack needs its webhook URL", yaml: """
            notify:
              - format: slack
            \(probe)
            """, expected: ["p.yaml:2:5: 'notify' is missing required key 'webhook'"]),
        BrokenCase(name: "two entries to the same URL in the same format, the URL not quoted", yaml: """
            notify:
              - { format: pagerduty, routing_key: \(key) }
              - { format: pagerduty, routing_key: \(key.uppercased()) }
            \(probe)
            """, expected: ["p.yaml:3:5: this 'notify' entry sends to the same pagerduty URL as the one at p.yaml:2:5; give each entry its own URL or format"]),
        BrokenCase(name: "an unknown format: the keys that depend on it are not judged, their values are", yaml: """
            notify:
              - format: pagerdity
              - format: teams
                routing_key: x
                headers: { "Bad Name": v }
            \(probe)
            """, expected: [
                "p.yaml:2:5: 'format' is 'pagerdity'; did you mean 'pagerduty'? It is one of: webhook, slack, pagerduty",
                "p.yaml:3:5: 'format' is 'teams'; it must be one of: webhook, slack, pagerduty",
                "p.yaml:4:5: 'routing_key' must be a PagerDuty integration key, 32 letters and digits; this one has 1 character",
                "p.yaml:5:16: header name 'Bad Name' may hold only letters, digits and !#$%&'*+-.^_`|~",
            ]),
        BrokenCase(name: "notify that is neither an entry nor a list", yaml: """
            notify: https://hooks.internal/x
            \(probe)
            """, expected: ["p.yaml:1:1: 'notify' must be a mapping (webhook: URL, ...) or a list of them, not 'https://hooks.internal/x'"]),
        BrokenCase(name: "an unknown key in an entry of the list", yaml: """
            notify:
              - { webhook: "https://hooks.internal/x", routing: x }
            \(probe)
            """, expected: ["p.yaml:2:44: unknown key 'routing' in 'notify'; did you mean 'routing_key'?"]),
    ]

    @Test(arguments: broken)
    func reportsExactly(_ c: BrokenCase) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("p.yaml", c.yaml)
        let lines = diagnostics(loading: dir.path, environment: c.environment)
        // The files' own path, written relative in the cases.
        let expected = c.expected.map { "\(dir.path)/" + $0.replacingOccurrences(of: "at p.yaml", with: "at \(dir.path)/p.yaml") }
        #expect(lines == expected)
        if let secret = c.environment["PAGERDUTY_ROUTING_KEY"] {
            #expect(!lines.joined().contains(secret), "a routing key is never quoted")
        }
    }

    @Test("one entry or a list: webhook (the default), slack, pagerduty with its default URL and the key from the environment")
    func loads() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("a.yaml", """
            notify:
              - webhook: https://hooks.internal/prober
              - webhook: https://hooks.slack.com/services/T1/B2/c3
                format: slack
              - format: PagerDuty
                routing_key: ${PAGERDUTY_ROUTING_KEY}
              - webhook: http://127.0.0.1:9/enqueue
                format: pagerduty
                routing_key: \(Self.key)
                headers: { X-Proxy: "1" }
            \(Self.probe)
            """)
        try dir.write("b.yaml", "notify: { webhook: \"https://hooks.internal/b\" }\nprobes:\n  - name: b\n    tcp: { host: b, port: 1 }\n")
        let fromEnvironment = "0123456789abcdefABCDEF0123456789"
        let set = try ProbeLoader.load(directory: dir.path, environment: ["PAGERDUTY_ROUTING_KEY": fromEnvironment])
        #expect(set.notify == [
            NotifySink(webhook: "https://hooks.internal/prober", headers: [], probes: ["api"]),
            NotifySink(webhook: "https://hooks.slack.com/services/T1/B2/c3", headers: [], probes: ["api"], format: .slack),
            NotifySink(webhook: "https://events.pagerduty.com/v2/enqueue", headers: [], probes: ["api"], format: .pagerduty,
                       routingKey: fromEnvironment),
            NotifySink(webhook: "http://127.0.0.1:9/enqueue", headers: [Header(name: "X-Proxy", value: "1")], probes: ["api"],
                       format: .pagerduty, routingKey: Self.key),
            NotifySink(webhook: "https://hooks.internal/b", headers: [], probes: ["b"]),
        ])
        #expect(set.probes.first { $0.name == "api" }?.secrets.map(\.value) == [fromEnvironment],
                "a key from the environment is redacted from the probe's messages like any ${VAR}")
    }
}
