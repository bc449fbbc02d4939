import Testing
@testable import ProberCore

/// Samples on a 10 s grid from a fixed instant: `t` in seconds, latency in ms.
private let t0: Int64 = 1_795_000_000_000_000

private func ok(_ t: Int64, _ ms: Int64) -> Sample {
    Sample(probe: "api", startedAt: t0 + t * 1_000_000, phases: Phases(total: ms * 1_000), status: 200)
}

private func fail(_ t: Int64) -> Sample {
    Sample(probe: "api", startedAt: t0 + t * 1_000_000, failure: Failure(.timeout, "timed out"),
           phases: Phases(total: 2_000_000))
}

/// `latency: auto` for both levels (default factors and floors), 3 and 5 failures, a 5-check window, `for` 30 s.
private func autoPolicy() -> IncidentPolicy {
    var p = IncidentPolicy()
    p.window = 5
    p.minor = Threshold(latency: nil, failures: 3, autoLatency: true)
    p.major = Threshold(latency: nil, failures: 5, autoLatency: true)
    p.holdFor = .seconds(30)
    p.resolveAfter = .seconds(60)
    return p
}

private func ms(_ v: Int64) -> Int64 { v * 1_000 }

/// Every 10 s from `from` (inclusive) to `to` (exclusive).
private func every(_ from: Int64, _ to: Int64, _ make: (Int64) -> Sample) -> [Sample] {
    stride(from: from, to: to, by: 10).map(make)
}

/// Feeds samples with a fixed reference; every event with the second of its check.
private func run(_ samples: [Sample], reference: AutoReference?, policy: IncidentPolicy = autoPolicy(),
                 from state: EvaluatorState = EvaluatorState()) -> (state: EvaluatorState, events: [(Int64, IncidentEvent)]) {
    let evaluator = Evaluator(policy: policy, reference: reference)
    var state = state
    var events: [(Int64, IncidentEvent)] = []
    for s in samples {
        let (next, new) = evaluator.evaluate(state, s)
        state = next
        events += new.map { ((s.startedAt - t0) / 1_000_000, $0) }
    }
    return (state, events)
}

private func kinds(_ events: [(Int64, IncidentEvent)]) -> [String] {
    events.map { "\($0.0):\($0.1.kind.rawValue):\($0.1.status.rawValue)" }
}

@Suite("Automatic thresholds (latency: auto)")
struct AutoThresholdTests {
    @Test("the limit is the factor times the usual p95, and at least the floor above it", arguments: [
        // (usual p95 ms, window p95 ms, level)
        (10, 50, Level.healthy),   // 5× but only 40 ms above: under the 50 ms floor
        (10, 61, Level.minor),     // above max(30, 60)
        (10, 509, Level.minor),    // major needs max(100, 510)
        (10, 511, Level.major),
        (200, 600, Level.healthy), // exactly 3× is not above it
        (200, 601, Level.minor),
        (200, 2_001, Level.major), // 10× (2 s) is above the 500 ms floor (700 ms)
    ])
    func limits(_ usual: Int64, _ p95: Int64, _ expected: Level) {
        let evaluator = Evaluator(policy: autoPolicy(), reference: AutoReference(p95: ms(usual), checks: 100))
        #expect(evaluator.level(failures: 0, p95: ms(p95)) == expected)
    }

    @Test("factors and floors are configurable")
    func configuredRule() {
        var policy = autoPolicy()
        policy.auto.minorFactor = 2
        policy.auto.minorFloor = .milliseconds(5)
        let evaluator = Evaluator(policy: policy, reference: AutoReference(p95: ms(10), checks: 100))
        #expect(evaluator.policy.minor.latency == .milliseconds(20))
        #expect(evaluator.level(failures: 0, p95: ms(21)) == .minor)
        #expect(evaluator.level(failures: 0, p95: ms(19)) == .healthy)
    }

    @Test("with too little baseline there is no latency level, and failures still open an incident from the first check",
          arguments: [nil, AutoReference(p95: 100_000, checks: 29), AutoReference(p95: nil, checks: 0)])
    func learning(_ reference: AutoReference?) {
        // 10 s at 5 s: slow beyond any automatic limit, but nothing to compare with yet.
        let slow = run(every(0, 300) { ok($0, 5_000) }, reference: reference)
        #expect(slow.events.isEmpty)
        #expect(slow.state.level == .healthy)
        let failing = run(every(0, 80) { fail($0) }, reference: reference)
        #expect(kinds(failing.events) == ["50:opened:minor", "70:escalated:major"])
    }

    @Test("a slow period opens a minor incident whose description says the threshold was automatic and by how much")
    func opensWithAutomaticDescription() throws {
        let reference = AutoReference(p95: ms(150), checks: 1_440)
        let samples = every(0, 60) { ok($0, 150) } + every(60, 140) { ok($0, 1_200) }
        let result = run(samples, reference: reference)
        #expect(kinds(result.events) == ["90:opened:minor"])
        let opened = try #require(result.events.first?.1)
        #expect(opened.evidence.auto == AutoEvidence(factor: 3, floor: .milliseconds(50), reference: reference))
        #expect(opened.evidence.threshold.latency == .milliseconds(450))
        let spec = ProbeSpec(name: "api", target: .tcp(TCPTarget(host: "db.internal", port: 5432)), interval: .seconds(10),
                             incident: autoPolicy())
        let text = IncidentWriter(probe: spec).description(opened)
        #expect(text.contains("p95 1.2 s over the last 5 checks, 8× its usual 150 ms"))
        #expect(text.contains("(automatic threshold 450 ms: 3× its usual p95 and at least 50 ms above it; usual over 1440 passing checks in the previous 24 h)"))
        guard case .object(let json) = opened.evidence.json, case .object(let auto)? = json["auto"] else {
            Issue.record("the evidence has no auto object")
            return
        }
        #expect(auto["reference_p95_us"] == .int(150_000))
        #expect(auto["reference_checks"] == .int(1_440))
        #expect(auto["reference"] == .string("previous_24h"))
        #expect(json["threshold"] == .object(["latency_us": .int(450_000), "failures": .int(3)]))
    }

    @Test("a fixed threshold's evidence has no auto object")
    func fixedHasNoAuto() throws {
        var policy = autoPolicy()
        policy.minor = Threshold(latency: .milliseconds(300), failures: 3)
        let result = run(every(0, 60) { ok($0, 1_000) }, reference: nil, policy: policy)
        let opened = try #require(result.events.first?.1)
        #expect(opened.evidence.auto == nil)
        guard case .object(let json) = opened.evidence.json else { return }
        #expect(json["auto"] == .null)
    }

    @Test("the nightly slow hour: against the same hour on previous days it is no incident; against the previous 24 h it is one")
    func nightlySlowHour() {
        // 03:00, a batch job: 900 ms where the day is at 100 ms.
        let night = every(0, 600) { ok($0, 900) }
        let sameHour = run(night, reference: AutoReference(p95: ms(900), checks: 84, sameHour: true))
        #expect(sameHour.events.isEmpty)
        #expect(sameHour.state.level == .healthy)
        let lastDay = run(night, reference: AutoReference(p95: ms(100), checks: 288))
        #expect(kinds(lastDay.events) == ["30:opened:minor"])
        // The description says where the usual figure came from.
        let spec = ProbeSpec(name: "api", target: .tcp(TCPTarget(host: "a", port: 1)), incident: autoPolicy())
        let slower = run(every(0, 80) { ok($0, 5_000) }, reference: AutoReference(p95: ms(900), checks: 84, sameHour: true))
        let text = slower.events.first.map { IncidentWriter(probe: spec).description($0.1) } ?? ""
        #expect(text.contains("usual over 84 passing checks at this hour on the previous 7 days"))
    }

    @Test("when the tracker reads the reference again: never during an episode, every 5 min otherwise, soon while learning")
    func refreshTable() {
        let learned = AutoReference(p95: ms(100), checks: 500)
        let learning = AutoReference(p95: ms(100), checks: 12)
        let healthy = EvaluatorState()
        let episode = run(every(0, 30) { fail($0) }, reference: learned).state
        #expect(episode.degradedSince != nil)
        let min5 = Evaluator.refreshEvery
        let cases: [(AutoReference?, Int64, Duration, EvaluatorState, Bool)] = [
            (nil, 0, .seconds(10), healthy, true),              // none yet
            (nil, 0, .seconds(10), episode, true),              // none yet, even in an episode (a restart)
            (learned, min5 - 1, .seconds(10), healthy, false),  // fresh
            (learned, min5, .seconds(10), healthy, true),       // 5 min old
            (learned, 10 * min5, .seconds(10), episode, false), // frozen during the episode, however old
            (learning, 1_000_000, .milliseconds(100), healthy, true),   // learning: 10 intervals, at least 1 s
            (learning, 999_999, .milliseconds(100), healthy, false),
            (learning, 99_000_000, .seconds(10), healthy, false),       // 10 intervals of 10 s
            (learning, 100_000_000, .seconds(10), healthy, true),
            (learning, min5, .seconds(60), healthy, true),              // at most 5 min
        ]
        for (current, age, interval, state, expected) in cases {
            #expect(Evaluator.needsReference(current, readAt: 1_000, now: 1_000 + age, interval: interval, state: state) == expected,
                    "\(String(describing: current)) \(age) µs old, interval \(interval)")
        }
    }

    @Test("the reference is frozen during an episode: a long slow period stays one incident and does not raise its own threshold")
    func frozenDuringEpisode() {
        // What a tracker does, without storage: the reference is the p95 of every passing check so far (the worst
        // case: storage would also leave out an open incident's checks), read again when `needsReference` says.
        func simulate(freeze: Bool) -> [String] {
            let samples = every(0, 600) { ok($0, 100) } + every(600, 4_200) { ok($0, 700) }
            var state = EvaluatorState()
            var reference: AutoReference?
            var readAt: Int64 = 0
            var passed: [Int64] = []
            var events: [(Int64, IncidentEvent)] = []
            for s in samples {
                let due = freeze
                    ? Evaluator.needsReference(reference, readAt: readAt, now: s.startedAt, interval: .seconds(10), state: state)
                    : reference == nil || s.startedAt - readAt >= Evaluator.refreshEvery
                if due {
                    reference = AutoReference(p95: Stats.percentile(passed, 0.95), checks: passed.count)
                    readAt = s.startedAt
                }
                let (next, new) = Evaluator(policy: autoPolicy(), interval: .seconds(10), reference: reference).evaluate(state, s)
                state = next
                events += new.map { ((s.startedAt - t0) / 1_000_000, $0) }
                if let total = s.phases.total, s.ok { passed.append(total) }
            }
            return kinds(events)
        }
        #expect(simulate(freeze: true) == ["630:opened:minor"])
        // Reading it again regardless, the slow checks become the usual and the incident resolves while still slow.
        #expect(simulate(freeze: false).contains { $0.hasSuffix(":resolved:minor") })
    }
}
