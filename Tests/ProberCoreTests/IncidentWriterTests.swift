import Testing
@testable import ProberCore

private let t0: Int64 = 1_795_010_520_000_000 // 2026-11-18 14:02:00 UTC

private func probe() -> ProbeSpec {
    var http = HTTPTarget(url: "https://deploy:hunter2@checkout.internal:8443/health?token=abc123#frag")
    http.headers = [Header(name: "Authorization", value: "Bearer s3cr3t-token")]
    var spec = ProbeSpec(name: "checkout-api", target: .http(http), interval: .seconds(10), timeout: .seconds(2))
    spec.incident.title = "Checkout API"
    spec.incident.window = 10
    spec.incident.minor = Threshold(latency: .milliseconds(800), failures: 2)
    spec.incident.major = Threshold(latency: .seconds(3), failures: 5)
    spec.incident.holdFor = .seconds(60)
    spec.incident.resolveAfter = .seconds(300)
    return spec
}

private func sample(_ t: Int64, total ms: Int64, processing: Int64) -> Sample {
    Sample(probe: "checkout-api", startedAt: t0 + t * 1_000_000,
           phases: Phases(dns: 1_000, connect: 2_000, tls: 8_000, processing: processing * 1_000,
                          transfer: 1_000, total: ms * 1_000), status: 200)
}

private func failed(_ t: Int64, _ reason: FailureReason, status: Int? = nil) -> Sample {
    Sample(probe: "checkout-api", startedAt: t0 + t * 1_000_000, failure: Failure(reason, "x"),
           phases: Phases(total: 2_000_000), status: status)
}

/// The baseline the tracker reads from the store for an episode that began at `since`: the passing checks of
/// the day before it.
private func baseline(_ samples: [Sample], since: Int64) -> Baseline {
    let day = samples.filter { $0.ok && $0.startedAt < since && $0.startedAt >= since - Baseline.span }
    return Baseline(day.map { PackedPhases($0.phases) }, oldest: day.first?.startedAt ?? since, until: since)
}

/// Runs a script of samples through the evaluator and writes each event's title and description, with the
/// baseline filled in as the tracker does.
private func texts(_ samples: [Sample]) -> [String] {
    let spec = probe()
    let evaluator = Evaluator(policy: spec.incident)
    let writer = IncidentWriter(probe: spec)
    var state = EvaluatorState()
    var out: [String] = []
    for s in samples {
        let (next, events) = evaluator.evaluate(state, s)
        state = next
        for var e in events {
            e.evidence.baseline = baseline(samples, since: e.evidence.degradedSince)
            if e.kind == .opened { out.append("title: " + writer.title(e)) }
            out.append("\(e.kind.rawValue): " + writer.description(e))
        }
    }
    return out
}

@Suite("Incident titles and descriptions")
struct IncidentWriterTests {
    @Test("a slow server: latency against threshold and the 24 h baseline, server processing named")
    func slowServer() {
        var samples: [Sample] = []
        for t in stride(from: Int64(-86_400), to: -600, by: 60) { samples.append(sample(t, total: 120, processing: 90)) }
        for t in stride(from: Int64(-600), to: 0, by: 10) { samples.append(sample(t, total: 120, processing: 90)) }
        for t in stride(from: Int64(0), to: 200, by: 10) { samples.append(sample(t, total: 1_800, processing: 1_600)) }
        for t in stride(from: Int64(200), to: 600, by: 10) { samples.append(sample(t, total: 120, processing: 90)) }
        let got = texts(samples)
        #expect(got == goldenSlow)
    }

    @Test("a probe younger than a day: the baseline says how far back it goes")
    func youngBaseline() {
        var samples: [Sample] = []
        for t in stride(from: Int64(-600), to: 0, by: 10) { samples.append(sample(t, total: 120, processing: 90)) }
        for t in stride(from: Int64(0), to: 200, by: 10) { samples.append(sample(t, total: 1_800, processing: 1_600)) }
        let opened = texts(samples).first { $0.hasPrefix("opened: ") } ?? ""
        #expect(opened.contains("since 14:02 UTC; the baseline over the previous 10 min is 120 ms. Server processing rose from 90 ms to 1.6 s"), "\(opened)")
    }

    @Test("no baseline yet (fewer than 3 checks before the episode): no baseline or phase sentence")
    func noBaseline() {
        let samples = (0..<20).map { sample(Int64($0) * 10, total: 1_800, processing: 1_600) }
        let opened = texts(samples).first { $0.hasPrefix("opened: ") } ?? ""
        #expect(opened.hasSuffix("above the 800 ms threshold, since 14:02 UTC."), "\(opened)")
    }

    @Test("failures by cause, escalation, recovery and the impact on resolution")
    func failingServer() {
        var samples: [Sample] = []
        for t in stride(from: Int64(-300), to: 0, by: 10) { samples.append(sample(t, total: 120, processing: 90)) }
        for t in stride(from: Int64(0), to: 150, by: 10) {
            samples.append(t % 30 == 0 ? failed(t, .httpStatus, status: 503) : failed(t, .timeout))
        }
        for t in stride(from: Int64(150), to: 700, by: 10) { samples.append(sample(t, total: 120, processing: 90)) }
        let got = texts(samples)
        #expect(got == goldenFailing)
    }

    @Test("an expiring certificate is named as the cause")
    func certificate() {
        var spec = probe()
        if case .http(var http) = spec.target {
            http.expect.certificateValidFor = .seconds(14 * 86_400)
            spec.target = .http(http)
        }
        let evaluator = Evaluator(policy: spec.incident)
        var state = EvaluatorState()
        var events: [IncidentEvent] = []
        for t in stride(from: Int64(0), to: 100, by: 10) {
            var s = failed(t, .certificateExpiring)
            s.certificateExpiry = (t0 / 1_000_000) + 3 * 86_400
            let r = evaluator.evaluate(state, s)
            state = r.0
            events += r.1
        }
        let writer = IncidentWriter(probe: spec)
        let got = events.map { writer.title($0) + " | " + writer.description($0) }
        #expect(got == goldenCert)
    }

    @Test("no credentials, query strings or header values ever reach a title or description")
    func redaction() {
        var samples: [Sample] = []
        for t in stride(from: Int64(0), to: 800, by: 10) { samples.append(t < 200 ? failed(t, .timeout) : sample(t, total: 100, processing: 50)) }
        let all = texts(samples).joined(separator: "\n")
        #expect(!all.isEmpty)
        for secret in ["hunter2", "deploy", "abc123", "token", "s3cr3t", "frag", "?"] {
            #expect(!all.contains(secret), "leaked \(secret)")
        }
        #expect(all.contains("https://checkout.internal:8443/health"))
    }

    @Test("the same evidence always gives the same text")
    func deterministic() {
        let samples = (0..<30).map { failed(Int64($0) * 10, .connectRefused) }
        #expect(texts(samples) == texts(samples))
    }

    @Test("URL redaction")
    func redactURL() {
        #expect(Redact.url("https://u:p@h:1/x?q=1#f") == "https://h:1/x")
        #expect(Redact.url("http://h/path") == "http://h/path")
        #expect(Redact.url("http://h?x") == "http://h")
        #expect(Redact.url("http://a@b@h/x") == "http://h/x")
    }

    @Test("UTC clock formatting")
    func clock() {
        #expect(UTCTime.iso8601(t0 + 5_000) == "2026-11-18T14:02:00.005Z")
        #expect(UTCTime.time(t0, relativeTo: t0) == "14:02 UTC")
        #expect(UTCTime.time(t0, relativeTo: t0 + 86_400_000_000) == "Nov 18 14:02 UTC")
        #expect(UTCTime.dateTime(0) == "1970-01-01 00:00 UTC")
        #expect(UTCTime.iso8601(951_782_400_000_000) == "2000-02-29T00:00:00.000Z")
    }
}

private let goldenSlow: [String] = [
    "title: Checkout API: slow responses",
    "opened: Checkout API (https://checkout.internal:8443/health) is degraded. p95 latency 1.8 s over the last 10 checks, above the 800 ms threshold, since 14:02 UTC; the 24 h baseline is 120 ms. Server processing rose from 90 ms to 1.6 s; DNS, connect, TLS and transfer are unchanged.",
    "monitoring: Recovering: checks healthy since 14:06 UTC (0 of the last 10 checks failed, p95 120 ms). Resolving after 5 min healthy.",
    "resolved: Resolved: healthy since 14:06 UTC. Impact: 4 min (14:02 UTC to 14:06 UTC), 0 failed checks, worst p95 1.8 s.",
]
private let goldenFailing: [String] = [
    "title: Checkout API: checks failing",
    "opened: Checkout API (https://checkout.internal:8443/health) is degraded. 8 of the last 10 checks failed since 14:02 UTC: 5 timed out after 2 s, 3 returned HTTP 503.",
    "escalated: Escalated to major. 10 of the last 10 checks failed since 14:02 UTC: 7 timed out after 2 s, 3 returned HTTP 503.",
    "monitoring: Recovering: checks healthy since 14:05 UTC (0 of the last 10 checks failed, p95 120 ms). Resolving after 5 min healthy.",
    "resolved: Resolved: healthy since 14:05 UTC. Impact: 3 min (14:02 UTC to 14:05 UTC), 15 failed checks, worst p95 2 s.",
]
private let goldenCert: [String] = [
    "Checkout API: TLS certificate expiring | Checkout API (https://checkout.internal:8443/health) is degraded. 8 of the last 8 checks failed since 14:02 UTC: 8 found the certificate expiring too soon. The TLS certificate expires in 2 d 23 h (2026-11-21 14:02 UTC); it must stay valid for 14 d.",
]
