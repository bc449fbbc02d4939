import Testing
@testable import ProberCore

/// Builds samples on a 10 s grid: `t` is seconds since an arbitrary start, latency in ms.
private let t0: Int64 = 1_795_000_000_000_000 // 2026-11-18, a fixed instant

private func ok(_ t: Int64, _ ms: Int64 = 100, processing: Int64? = nil) -> Sample {
    let total = ms * 1_000
    let proc = (processing ?? ms / 2) * 1_000
    return Sample(probe: "api", startedAt: t0 + t * 1_000_000,
                  phases: Phases(dns: 500, connect: 300, tls: nil, processing: proc, transfer: 200, total: total),
                  status: 200)
}

private func fail(_ t: Int64, _ reason: FailureReason = .timeout, status: Int? = nil) -> Sample {
    Sample(probe: "api", startedAt: t0 + t * 1_000_000, failure: Failure(reason, "boom"),
           phases: Phases(total: 2_000_000), status: status)
}

private func policy(window: Int = 10, minor: Threshold = Threshold(latency: .milliseconds(800), failures: 2),
                    major: Threshold = Threshold(latency: .seconds(3), failures: 5),
                    holdFor: Duration = .seconds(60), resolveAfter: Duration = .seconds(300)) -> IncidentPolicy {
    var p = IncidentPolicy()
    p.window = window
    p.minor = minor
    p.major = major
    p.holdFor = holdFor
    p.resolveAfter = resolveAfter
    return p
}

/// Feeds samples and returns every event with the second (relative to t0) of the check that caused it.
/// `quiet` says, for each check's second, whether a quiet period covers it.
private func run(_ samples: [Sample], _ policy: IncidentPolicy, from state: EvaluatorState = EvaluatorState(),
                 quiet: (Int64) -> Quiet? = { _ in nil })
    -> (state: EvaluatorState, events: [(Int64, IncidentEvent)]) {
    let evaluator = Evaluator(policy: policy)
    var state = state
    var events: [(Int64, IncidentEvent)] = []
    for s in samples {
        let (next, new) = evaluator.evaluate(state, s, quiet: quiet((s.startedAt - t0) / 1_000_000))
        state = next
        events += new.map { ((s.startedAt - t0) / 1_000_000, $0) }
    }
    return (state, events)
}

private func kinds(_ events: [(Int64, IncidentEvent)]) -> [String] {
    events.map { "\($0.0):\($0.1.kind.rawValue):\($0.1.status.rawValue)" }
}

/// Every 10 s from `from` (inclusive) to `to` (exclusive).
private func every(_ from: Int64, _ to: Int64, _ make: (Int64) -> Sample) -> [Sample] {
    stride(from: from, to: to, by: 10).map(make)
}

@Suite("Evaluator")
struct EvaluatorTests {
    @Test("a degraded level opens an incident only after holding for `for`")
    func persistence() {
        // Failures from t=0: two failures (the minor threshold) at t=10, held 60 s at t=70.
        let samples = every(0, 80) { fail($0, .httpStatus, status: 503) }
        let (_, events) = run(samples, policy(major: Threshold(latency: nil, failures: 50)))
        #expect(kinds(events) == ["70:opened:minor"])
    }

    @Test("a brief degradation shorter than `for` opens nothing")
    func briefDegradation() {
        // Window of 3: two failures make it minor at t=10; healthy again at t=30 (20 s < 60 s).
        let samples = every(0, 20, { fail($0) }) + every(20, 600) { ok($0) }
        let (state, events) = run(samples, policy(window: 3, major: Threshold(latency: nil, failures: 50)))
        #expect(events.isEmpty)
        #expect(state.level == .healthy)
    }

    @Test("minor escalates to major once major holds for `for`")
    func escalation() {
        // Failures from t=0: minor at t=10, major (5 failures) at t=40; opened minor at 70, major held 60 s at 100.
        let (_, events) = run(every(0, 110) { fail($0) }, policy())
        #expect(kinds(events) == ["70:opened:minor", "100:escalated:major"])
        #expect(events[1].1.previous == .minor)
        // Opened minor while the window was already major: the evidence quotes the threshold it opened for.
        #expect(events[0].1.evidence.level == .major)
        #expect(events[0].1.evidence.threshold == Threshold(latency: .milliseconds(800), failures: 2))
        #expect(events[1].1.evidence.threshold == Threshold(latency: .seconds(3), failures: 5))
    }

    @Test("a level that is major from the start opens major directly")
    func opensMajor() {
        let p = policy(minor: Threshold(latency: nil, failures: 1), major: Threshold(latency: nil, failures: 1))
        let (_, events) = run(every(0, 70) { fail($0) }, p)
        #expect(kinds(events) == ["60:opened:major"])
    }

    @Test("major eases to minor when a lower degraded level holds for `for`")
    func deescalation() {
        // Major by failures, then slow successes (minor by latency, 2 s p95 under the 3 s major latency).
        let p = policy(minor: Threshold(latency: .milliseconds(800), failures: 2), major: Threshold(latency: .seconds(3), failures: 5))
        let samples = every(0, 200, { fail($0) }) + every(200, 400) { ok($0, 2_000) }
        let (_, events) = run(samples, p)
        // Failures leave the 10-check window at t=290 (the last failure at 190 is 10 checks before 290):
        // below major from t=250 (4 failures left), de-escalation 60 s later.
        #expect(kinds(events) == ["70:opened:minor", "100:escalated:major", "310:deescalated:minor"])
    }

    @Test("recovery: monitoring after `for` healthy, resolved after `resolve_after`")
    func monitoringAndResolve() {
        let samples = every(0, 100, { fail($0) }) + every(100, 700) { ok($0) }
        let (state, events) = run(samples, policy(major: Threshold(latency: nil, failures: 50)))
        // Failures at 0..90; the window (80..170) holds 2 failures at t=170; healthy from 180.
        #expect(kinds(events) == ["70:opened:minor", "240:monitoring:minor", "480:resolved:minor"])
        #expect(events[1].1.stage == .monitoring)
        #expect(events[2].1.stage == .resolved)
        #expect(state.incident == nil)
    }

    @Test("degrading again while monitoring returns the same incident to investigating")
    func relapse() {
        let samples = every(0, 100, { fail($0) }) + every(100, 300, { ok($0) }) + every(300, 400) { fail($0) }
        let (state, events) = run(samples, policy(major: Threshold(latency: nil, failures: 50)))
        // Minor again from 310 (failures at 300, 310): held 60 s at 370.
        #expect(kinds(events) == ["70:opened:minor", "240:monitoring:minor", "370:relapsed:minor"])
        #expect(state.incident?.stage == .investigating)
        #expect(state.incident?.openedAt == t0 + 70 * 1_000_000)
    }

    @Test("a flicker while monitoring produces no update, and restarts the resolve countdown")
    func flickerWhileMonitoring() {
        // Monitoring at 240; failures at 300 and 350 make the window minor from 350 to 390 (40 s < for).
        let samples = every(0, 100, { fail($0) }) + every(100, 1_000) { $0 == 300 || $0 == 350 ? fail($0) : ok($0) }
        let (_, events) = run(samples, policy(major: Threshold(latency: nil, failures: 50)))
        // Healthy again from 400: resolved 300 s later, not 300 s after the first healthy check at 180.
        #expect(kinds(events) == ["70:opened:minor", "240:monitoring:minor", "700:resolved:minor"])
    }

    @Test("after resolution, a new degradation must persist for `for` before a new incident opens")
    func newIncidentAfterResolution() {
        let p = policy(major: Threshold(latency: nil, failures: 50), resolveAfter: .seconds(120))
        let samples = every(0, 100, { fail($0) }) + every(100, 500, { ok($0) }) + every(500, 600) { fail($0) }
        let (_, events) = run(samples, p)
        #expect(kinds(events) == ["70:opened:minor", "240:monitoring:minor", "300:resolved:minor", "570:opened:minor"])
    }

    @Test("a flapping target produces one incident for the whole episode")
    func flapping() {
        let samples = every(0, 3_600) { ($0 / 10) % 2 == 0 ? ok($0) : fail($0) }
        let (state, events) = run(samples, policy(major: Threshold(latency: nil, failures: 50)))
        // Failures at 10 and 30 make it minor at 30; it never leaves minor.
        #expect(kinds(events) == ["90:opened:minor"])
        #expect(state.incident?.stage == .investigating)
    }

    @Test("window edges: exactly the threshold counts, a failure leaving the window stops counting")
    func windowEdges() {
        let e = Evaluator(policy: policy(window: 5, minor: Threshold(latency: nil, failures: 2), major: Threshold(latency: nil, failures: 5)))
        var s = EvaluatorState()
        for sample in [fail(0), ok(10), ok(20), ok(30)] { s = e.evaluate(s, sample).0 }
        #expect(s.level == .healthy)
        s = e.evaluate(s, fail(40)).0 // two failures in the last 5
        #expect(s.level == .minor)
        s = e.evaluate(s, ok(50)).0 // the failure at 0 leaves the window
        #expect(s.level == .healthy)
        #expect(s.window.count == 5)
    }

    @Test("latency threshold alone: p95 above the limit is degraded, at the limit is not")
    func latencyThreshold() {
        let e = Evaluator(policy: policy(window: 10, minor: Threshold(latency: .milliseconds(800), failures: nil),
                                         major: Threshold(latency: .seconds(3), failures: nil)))
        var s = EvaluatorState()
        for t in stride(from: Int64(0), to: 100, by: 10) { s = e.evaluate(s, ok(t, 800)).0 }
        #expect(s.level == .healthy)
        s = e.evaluate(s, ok(100, 801)).0
        #expect(s.level == .minor)
        #expect(e.trigger(for: .minor, failures: s.windowFailures, p95: s.windowP95) == .latency)
        for t in stride(from: Int64(110), to: 200, by: 10) { s = e.evaluate(s, ok(t, 3_500)).0 }
        #expect(s.level == .major)
        // Failures never count without a failure threshold.
        for t in stride(from: Int64(200), to: 300, by: 10) { s = e.evaluate(s, t == 290 ? ok(t, 100) : fail(t)).0 }
        #expect(s.level == .healthy)
    }

    @Test("failure and latency thresholds together: either one triggers, both are reported")
    func bothThresholds() {
        let e = Evaluator(policy: policy())
        var s = EvaluatorState()
        for t in stride(from: Int64(0), to: 80, by: 10) { s = e.evaluate(s, ok(t, 1_000)).0 }
        s = e.evaluate(s, fail(80)).0
        s = e.evaluate(s, fail(90)).0
        #expect(s.level == .minor)
        #expect(e.trigger(for: .minor, failures: s.windowFailures, p95: s.windowP95) == .both)
    }

    @Test("`for: 0` opens on the first degraded check")
    func zeroHold() {
        let (_, events) = run([ok(0), fail(10), fail(20)], policy(holdFor: .zero))
        #expect(kinds(events) == ["20:opened:minor"])
    }

    @Test("rebuilding from stored samples and the open incident continues it without a duplicate")
    func rebuild() {
        let p = policy(major: Threshold(latency: nil, failures: 50))
        let before = every(0, 100) { fail($0) }
        let (state, events) = run(before, p)
        #expect(kinds(events) == ["70:opened:minor"])
        let rebuilt = Evaluator(policy: p).rebuild(from: Array(before.suffix(30)), openIncident: state.incident)
        #expect(rebuilt.window == state.window)
        #expect(rebuilt.degradedSince == state.degradedSince)
        let (_, after) = run(every(100, 200, { fail($0) }) + every(200, 400) { ok($0) }, p, from: rebuilt)
        // Failures end at 190; healthy from 280, monitoring 60 s later.
        #expect(kinds(after) == ["340:monitoring:minor"])
    }

    @Test("the evaluator keeps no baseline: its evidence leaves it to the store")
    func noBaselineInMemory() {
        let (_, events) = run(every(0, 200, { ok($0, 100) }) + every(200, 400) { fail($0) }, policy())
        let opened = try! #require(events.first)
        #expect(opened.1.evidence.baseline == Baseline())
    }

    @Test("a baseline is each phase's median and the total's p95 over its checks")
    func baselineStatistics() {
        let checks = (1...100).map { i in
            PackedPhases(Phases(dns: i % 2 == 0 ? 1_000 : nil, connect: 2_000, tls: nil, processing: Int64(i) * 1_000,
                                transfer: 500, total: Int64(i) * 1_000 + 3_500))
        }
        let day = Baseline.span
        let b = Baseline(checks.shuffled(), oldest: 0, until: day)
        #expect(b.checks == 100)
        #expect(b.phases.processing == 50_000)
        #expect(b.phases.dns == 1_000)
        #expect(b.phases.tls == nil)
        #expect(b.p95 == 98_500)
        #expect(b.covers == day && b.coversDay)
        #expect(!Baseline(checks, oldest: day / 2, until: day).coversDay)
        #expect(Baseline([], oldest: 0, until: day) == Baseline())
    }

    @Test("per-probe state stays compact: there is one per probe, 10,000 in a large daemon")
    func compactLayouts() {
        #expect(MemoryLayout<Observation>.stride == 32)
        #expect(MemoryLayout<EvaluatorState>.stride <= 64)
        var s = EvaluatorState()
        s.degradedSince = 0
        s.windowP95 = nil
        s.incident = OpenIncident(status: .major, stage: .monitoring, openedAt: 5, degradedSince: 0, failedChecks: 3,
                                  worstP95: nil, worstFailures: 2)
        #expect(s.degradedSince == 0 && s.windowP95 == nil && s.majorSince == nil)
        #expect(s.incident?.stage == .monitoring && s.incident?.failedChecks == 3)
        var t = s
        t.incident?.failedChecks += 1
        #expect(s.incident?.failedChecks == 3 && t.incident?.failedChecks == 4 && s != t)
    }

    @Test("percentiles are nearest-rank")
    func percentiles() {
        #expect(Stats.percentile([], 0.95) == nil)
        #expect(Stats.percentile([5], 0.95) == 5)
        #expect(Stats.percentile(Array(1...100), 0.95) == 95)
        #expect(Stats.percentile(Array(1...10), 0.5) == 5)
        #expect(Stats.percentile(Array(1...10), 0.95) == 10)
    }

    @Test("the window's failures and p95 are those of the arrays they replace")
    func windowFigures() {
        #expect(Evaluator.failuresAndP95([]) == (0, nil))
        var random = SystemRandomNumberGenerator()
        for size in [1, 2, 10, 19, 20, 21, 60, 200] {
            var window: [Observation] = []
            for i in 0..<size {
                let ms = Int64.random(in: 1...3_000, using: &random)
                window.append(Observation(Bool.random(using: &random) ? ok(Int64(i), ms) : fail(Int64(i))))
            }
            let (failures, p95) = Evaluator.failuresAndP95(window)
            #expect(failures == window.filter { !$0.ok }.count)
            #expect(p95 == Stats.percentile(window.compactMap { $0.ok ? $0.phases[.total] : nil }, 0.95))
        }
    }
}

/// A gap in checking (prober stopped for a day, or for less than the window's span) is neither health nor
/// degradation: what is older than the window's span leaves it, and every "held since" restarts after the gap.
@Suite("Evaluator after a gap in checking")
struct EvaluatorGapTests {
    static let day: Int64 = 86_400

    /// Runs `before`, rebuilds from it (as a restart does from the stored checks) and runs `after`.
    func restart(_ before: [Sample], _ after: [Sample], _ p: IncidentPolicy, interval: Duration? = .seconds(10))
        -> (before: [String], after: [String], state: EvaluatorState) {
        let e = Evaluator(policy: p, interval: interval)
        var state = EvaluatorState()
        var events: [String] = []
        for s in before {
            let (next, new) = e.evaluate(state, s)
            state = next
            events += new.map { "\(($0.evidence.at - t0) / 1_000_000):\($0.kind.rawValue)" }
        }
        var rebuilt = e.rebuild(from: Array(before.suffix(p.window)), openIncident: state.incident)
        var later: [String] = []
        for s in after {
            let (next, new) = e.evaluate(rebuilt, s)
            rebuilt = next
            later += new.map { "\(($0.evidence.at - t0) / 1_000_000):\($0.kind.rawValue)" }
        }
        return (events, later, rebuilt)
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var before: [Sample]
        var after: [Sample]
        var expectedBefore: [String]
        var expectedAfter: [String]
        var testDescription: String { name }
    }

    static let minorAt3 = policy(window: 10, minor: Threshold(latency: nil, failures: 3), major: Threshold(latency: nil, failures: nil),
                                 holdFor: .seconds(60), resolveAfter: .seconds(300))

    static let cases: [Case] = [
        // The example: the last 3 checks before a day-long stop failed, no incident yet.
        Case(name: "3 failures a day old open nothing when checks resume healthy",
             before: every(0, 70) { ok($0) } + every(70, 100) { fail($0) },
             after: every(100 + day, 100 + day + 600) { ok($0) },
             expectedBefore: [], expectedAfter: []),
        // Still failing after the day: degraded since the first check after it, so `for` is held from there.
        Case(name: "failing again after a day opens after `for` counted from the restart",
             before: every(0, 70) { ok($0) } + every(70, 100) { fail($0) },
             after: every(100 + day, 100 + day + 200) { fail($0) },
             expectedBefore: [], expectedAfter: ["\(100 + day + 80):opened"]),
        // Monitoring when stopped: healthy since before the stop does not resolve at the first check.
        Case(name: "an incident in monitoring resolves `resolve_after` after the restart, not at once",
             before: every(0, 100) { fail($0) } + every(100, 250) { ok($0) },
             after: every(250 + day, 250 + day + 400) { ok($0) },
             expectedBefore: ["80:opened", "230:monitoring"], expectedAfter: ["\(250 + day + 300):resolved"]),
        // A gap shorter than the window's span (40 s of 100 s): the 3 failures stay in the window, but the
        // degradation held only from the first check after the gap.
        Case(name: "a short gap keeps recent checks in the window but restarts `for`",
             before: every(0, 70) { ok($0) } + every(70, 100) { fail($0) },
             after: every(130, 300) { fail($0) },
             expectedBefore: [], expectedAfter: ["190:opened"]),
    ]

    @Test("samples older than the window's span and the time prober was down are not evidence", arguments: cases)
    func gaps(_ c: Case) {
        let result = restart(c.before, c.after, Self.minorAt3)
        #expect(result.before == c.expectedBefore)
        #expect(result.after == c.expectedAfter)
    }

    @Test("after a day-long gap the first check alone fills the window")
    func windowAfterGap() {
        let result = restart(every(0, 100) { fail($0) }, [ok(100 + Self.day)], Self.minorAt3)
        #expect(result.state.window.count == 1)
        #expect(result.state.level == .healthy)
        #expect(result.state.degradedSince == nil)
        #expect(result.state.healthySince == t0 + (100 + Self.day) * 1_000_000)
    }

    @Test("checks 100 ms apart (with 40 ms of lateness) are no gap", arguments: [0, 999_950_000])
    func subSecondInterval(_ offset: Int64) {
        var p = Self.minorAt3
        p.window = 3
        p.minor = Threshold(latency: nil, failures: 2)
        p.holdFor = .milliseconds(200)
        let e = Evaluator(policy: p, interval: .milliseconds(100))
        var state = EvaluatorState()
        var opened: [Int64] = []
        for i in Int64(0)..<10 {
            let late: Int64 = i % 2 == 0 ? 40_000 : 0
            let (next, events) = e.evaluate(state, Sample(probe: "api", startedAt: t0 + offset + i * 100_000 + late,
                                                          failure: Failure(.timeout, "boom"), phases: Phases(total: 80_000)))
            state = next
            opened += events.filter { $0.kind == .opened }.map { _ in i }
        }
        // Two failures at the second check, held 200 ms at the fourth.
        #expect(opened == [3])
        #expect(state.lastCheckAt == t0 + offset + 9 * 100_000 - (t0 + offset + 9 * 100_000) % 4_000)
    }

    @Test("without an interval, checks are taken as consecutive (as before)")
    func noInterval() {
        let result = restart(every(0, 70) { ok($0) } + every(70, 100) { fail($0) }, [ok(100 + Self.day)], Self.minorAt3, interval: nil)
        #expect(result.after == ["\(100 + Self.day):opened"])
    }
}

/// A wall-clock step (NTP, `date -s`) while prober runs: durations come from the scheduler's monotonic
/// timeline (`Sample.monotonicAt`), so a step opens, resolves and freezes nothing; wall time only labels.
@Suite("Evaluator across wall-clock steps")
struct EvaluatorClockStepTests {
    static let hour: Int64 = 3_600
    static let year: Int64 = 365 * 86_400

    /// `make(t)` with `t` seconds on the monotonic timeline and its wall label moved by `step(t)` seconds.
    static func stepped(_ from: Int64, _ to: Int64, step: @escaping (Int64) -> Int64, _ make: (Int64) -> Sample) -> [Sample] {
        every(from, to) { t in
            var s = make(t)
            s.monotonicAt = s.startedAt
            s.startedAt += step(t) * 1_000_000
            return s
        }
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var samples: [Sample]
        /// `second:kind` with the second on the monotonic timeline.
        var expected: [String]
        var testDescription: String { name }
    }

    static let minorAt2 = policy(major: Threshold(latency: nil, failures: nil), holdFor: .seconds(60), resolveAfter: .seconds(300))

    static func steps(_ at: Int64, by: Int64) -> (Int64) -> Int64 { { $0 >= at ? by : 0 } }

    static let cases: [Case] = [
        Case(name: "steady clock (the reference)",
             samples: stepped(0, 100, step: { _ in 0 }) { fail($0) } + stepped(100, 500, step: { _ in 0 }) { ok($0) },
             expected: ["70:opened", "240:monitoring", "480:resolved"]),
        Case(name: "forward an hour while degraded: opens after `for`, the window is kept (no gap)",
             samples: stepped(0, 100, step: steps(30, by: hour)) { fail($0) } + stepped(100, 500, step: steps(30, by: hour)) { ok($0) },
             expected: ["70:opened", "240:monitoring", "480:resolved"]),
        Case(name: "back an hour while degraded: transitions go on",
             samples: stepped(0, 100, step: steps(30, by: -hour)) { fail($0) } + stepped(100, 500, step: steps(30, by: -hour)) { ok($0) },
             expected: ["70:opened", "240:monitoring", "480:resolved"]),
        Case(name: "forward an hour while recovering: resolves after `resolve_after`, not at once",
             samples: stepped(0, 100, step: steps(200, by: hour)) { fail($0) } + stepped(100, 500, step: steps(200, by: hour)) { ok($0) },
             expected: ["70:opened", "240:monitoring", "480:resolved"]),
        Case(name: "back an hour while recovering: resolves on time",
             samples: stepped(0, 100, step: steps(200, by: -hour)) { fail($0) } + stepped(100, 500, step: steps(200, by: -hour)) { ok($0) },
             expected: ["70:opened", "240:monitoring", "480:resolved"]),
        Case(name: "a year ahead while failing: opens after `for`",
             samples: stepped(0, 100, step: steps(20, by: year)) { fail($0) },
             expected: ["70:opened"]),
    ]

    @Test("a clock step moves no incident", arguments: cases)
    func steps(_ c: Case) {
        let e = Evaluator(policy: Self.minorAt2, interval: .seconds(10))
        var state = EvaluatorState()
        var events: [String] = []
        for s in c.samples {
            let (next, new) = e.evaluate(state, s)
            state = next
            events += new.map { "\((s.monotonicAt! - t0) / 1_000_000):\($0.kind.rawValue)" }
        }
        #expect(events == c.expected)
    }

    @Test("incident times are wall labels: the check's time, and the episode's start as of the current wall clock")
    func labels() throws {
        let e = Evaluator(policy: Self.minorAt2, interval: .seconds(10))
        var state = EvaluatorState()
        var opened: IncidentEvent?
        for s in Self.stepped(0, 80, step: Self.steps(30, by: Self.hour), { fail($0) }) {
            let (next, new) = e.evaluate(state, s)
            state = next
            opened = opened ?? new.first
        }
        let event = try #require(opened)
        #expect(event.evidence.at == t0 + (70 + Self.hour) * 1_000_000)
        #expect(event.evidence.openedAt == event.evidence.at)
        // Degraded from the second failure (t=10), an hour before the step on the wall clock of now.
        #expect(event.evidence.degradedSince == t0 + (10 + Self.hour) * 1_000_000)
        #expect(state.incident?.degradedSince == event.evidence.degradedSince)
    }

    @Test("a restart after downtime is still a gap: the live timeline is anchored to the wall clock at start")
    func restartStillAGap() {
        let e = Evaluator(policy: Self.minorAt2, interval: .seconds(10))
        // Stored checks (no monotonic time) failing, then a day later checks on the new process's timeline.
        let stored = every(70, 100) { fail($0) }
        var state = e.rebuild(from: stored, openIncident: nil)
        var events: [String] = []
        for s in Self.stepped(100 + 86_400, 100 + 86_400 + 60, step: { _ in 0 }, { ok($0) }) {
            let (next, new) = e.evaluate(state, s)
            state = next
            events += new.map { $0.kind.rawValue }
        }
        #expect(events.isEmpty)
        #expect(state.level == .healthy)
        #expect(state.window.count == 6)
    }
}

@Suite("Evaluator in quiet periods")
struct EvaluatorQuietTests {
    /// Minor at 2 failures, major at 5, `for` 60 s, resolved after 120 s healthy.
    private let rules = policy(holdFor: .seconds(60), resolveAfter: .seconds(120))

    @Test("maintenance opens nothing, and a failure still there when it ends must hold `for` again")
    func maintenanceEndsWhileStillFailing() {
        // Failing from t=0; maintenance until t=300. Unquiet, it would open at 70.
        let (_, events) = run(every(0, 500) { fail($0) }, rules, quiet: { $0 < 300 ? .maintenance : nil })
        #expect(kinds(events) == ["360:opened:major"])
    }

    @Test("maintenance neither escalates nor relapses an open incident, but lets it resolve")
    func maintenanceDuringAnOpenIncident() {
        // Minor (2 of 10 failing) from t=10, opened at 70; maintenance from 100 while it turns major, then healthy
        // from 200 (one failure left in the window at 280).
        let minor = every(0, 100) { $0 < 20 ? fail($0) : ok($0) }
        let major = every(100, 200) { fail($0) }
        let healthy = every(200, 500) { ok($0) }
        let (state, events) = run(minor + major + healthy, rules, quiet: { $0 >= 100 ? .maintenance : nil })
        #expect(kinds(events) == ["70:opened:minor", "340:monitoring:minor", "400:resolved:minor"])
        #expect(state.incident == nil)
    }

    @Test("a lost connection changes nothing: no opening, no resolving, and the window keeps the checks before it")
    func connectivityLost() {
        // Open major by t=100; the network is lost from 110 to 400 while the target recovers; checks still fail.
        let failing = every(0, 110) { fail($0) }
        let lost = every(110, 400) { fail($0) }
        let back = every(400, 700) { ok($0) }
        let (state, events) = run(failing + lost + back, rules, quiet: { (110..<400).contains($0) ? .connectivityLost : nil })
        // Held open through the loss. After it, the window (still the failures before it) is healthy at 480:
        // monitoring 60 s later, resolved 120 s later.
        #expect(kinds(events) == ["70:opened:minor", "100:escalated:major", "540:monitoring:major", "600:resolved:major"])
        #expect(state.incident == nil)
    }

    @Test("checks taken while the network is lost are not evidence: nothing opens when it returns to a healthy target")
    func connectivityLostOpensNothing() {
        let (_, events) = run(every(0, 300) { fail($0) } + every(300, 600) { ok($0) }, rules,
                              quiet: { $0 < 300 ? .connectivityLost : nil })
        #expect(events.isEmpty)
    }

    @Test("a target still failing when the network returns opens `for` after the return")
    func connectivityReturnsToAFailingTarget() {
        let (_, events) = run(every(0, 500) { fail($0) }, rules, quiet: { $0 < 300 ? .connectivityLost : nil })
        // Window refills from 300: 2 failures at 310 (minor), 5 at 340 (major); `for` from 310 and 340.
        #expect(kinds(events) == ["370:opened:minor", "400:escalated:major"])
    }
}

/// The tracker evaluates each probe's state in place: a full window takes each check in its own block, with the
/// same decisions as the pure `evaluate`.
@Suite struct EvaluatorInPlaceTests {
    @Test func aFullWindowKeepsItsBlockAndTheDecisionsAreTheSame() {
        let evaluator = Evaluator(policy: policy(window: 4))
        let samples = (0..<12).map { i in i % 3 == 0 ? fail(i * 10) : ok(i * 10) }
        var pure = EvaluatorState()
        var pureEvents: [IncidentEvent] = []
        for sample in samples {
            let (next, events) = evaluator.evaluate(pure, sample)
            pure = next
            pureEvents += events
        }
        var state = EvaluatorState()
        var events: [IncidentEvent] = []
        for sample in samples.prefix(4) { events += evaluator.evaluate(&state, sample) }
        let block = state.window.withUnsafeBufferPointer { $0.baseAddress }
        for sample in samples.dropFirst(4) { events += evaluator.evaluate(&state, sample) }
        #expect(state.window.withUnsafeBufferPointer { $0.baseAddress } == block)
        #expect(state == pure && events == pureEvents && state.window.count == 4)
    }
}
