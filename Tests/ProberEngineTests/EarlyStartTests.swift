import Dispatch
import Foundation
import ProberCore
import ProberProbes
import ProberTestSupport
import Testing
@testable import ProberEngine

/// Checks handed to the engine ahead of time start at their due time, or a little before it when the engine is
/// awake anyway (`ScheduledCheck.earlyStart`): never earlier than that.
@Suite struct EarlyStartTests {
    struct Started: Sendable {
        var due: UInt64
        var window: UInt64
        /// When the request reached the server, on Dispatch's clock.
        var arrived: UInt64
        /// The sample's start, wall clock (µs).
        var startedAt: Int64
        var lateness: Int64
    }

    /// Schedules one check of each spec at its due time (offset from now), and waits for every request and answer.
    func run(_ specs: [(spec: ProbeSpec, dueIn: Duration)], arrivals: Locked<[String: UInt64]>) throws -> [String: Started] {
        let engine = try CurlEngine()
        defer { engine.shutdown() }
        let answers = Locked<[String: (Sample, Int64)]>([:])
        let batches = BatchedCompletions { batch in for finished in batch { finished.complete() } }
        let now = DispatchTime.now()
        let checks = specs.enumerated().map { i, item in
            ScheduledCheck(id: UInt64(i + 1), spec: item.spec, due: now + .microseconds(Int(item.dueIn.microseconds))) { outcome in
                if case .ran(let sample, let lateness) = outcome {
                    answers.withLock { $0[item.spec.name] = (sample, lateness) }
                }
            }
        }
        engine.schedule(checks, batches: batches)
        #expect(waitUntil { answers.current.count == specs.count && arrivals.current.count == specs.count },
                "timed out waiting for every check")
        let got = answers.current, arrived = arrivals.current
        var started: [String: Started] = [:]
        for check in checks {
            let name = check.spec.name
            guard let (sample, lateness) = got[name], let at = arrived["/\(name)"] else { continue }
            #expect(sample.failure == nil, "\(name): \(String(describing: sample.failure))")
            started[name] = Started(due: check.due.uptimeNanoseconds, window: UInt64(check.earlyStart.microseconds * 1_000),
                                    arrived: at, startedAt: sample.startedAt, lateness: lateness)
        }
        return started
    }

    func server(_ arrivals: Locked<[String: UInt64]>) throws -> TestHTTPServer {
        try TestHTTPServer { request in
            let now = DispatchTime.now().uptimeNanoseconds
            arrivals.withLock { $0[request.path] = now }
            return .respond(status: 200, body: "ok")
        }
    }

    func spec(_ name: String, url: String, interval: Duration) -> ProbeSpec {
        ProbeSpec(name: name, target: .http(HTTPTarget(url: "\(url)/\(name)")), interval: interval,
                  timeout: min(interval * 0.9, .seconds(2)))
    }

    /// The window: a hundredth of the interval, at most 100 ms.
    @Test func theWindowIsAHundredthOfTheIntervalAtMost() {
        let url = "http://127.0.0.1:9"
        func window(_ interval: Duration) -> Duration {
            ScheduledCheck(id: 1, spec: spec("w", url: url, interval: interval), due: .now()) { _ in }.earlyStart
        }
        #expect(window(.seconds(60)) == .milliseconds(100))
        #expect(window(.seconds(10)) == .milliseconds(100))
        #expect(window(.seconds(2)) == .milliseconds(20))
        #expect(window(.seconds(1)) == .milliseconds(10))
        #expect(window(.milliseconds(100)) == .milliseconds(1))
    }

    /// Two checks due 10 ms apart start together, in the wake-up of the first: the second one early. Each used to
    /// start at its own due time, in a wake-up of its own.
    @Test func aCheckDueWithinTheWindowStartsWithTheOneDueBeforeIt() throws {
        let arrivals = Locked<[String: UInt64]>([:])
        let server = try server(arrivals)
        let started = try run([(spec("first", url: server.url, interval: .seconds(10)), .milliseconds(150)),
                               (spec("second", url: server.url, interval: .seconds(10)), .milliseconds(160))],
                              arrivals: arrivals)
        let first = try #require(started["first"]), second = try #require(started["second"])
        let apart = abs(second.startedAt - first.startedAt)
        #expect(apart < 5_000, "due 10 ms apart, the checks started \(apart) µs apart")
        #expect(second.arrived + second.window >= second.due, "the second check started before its window")
        #expect(first.lateness >= 0 && second.lateness >= 0, "a check started early is not late: \(first.lateness), \(second.lateness) µs")
    }

    /// No check starts before its own window: not one of 100 ms interval (whose window is 1 ms) next to one due just
    /// before it, nor one of 2 s interval (window 20 ms) due 40 ms after another, nor one due 150 ms after another
    /// (beyond any window).
    @Test func noCheckStartsBeforeItsWindow() throws {
        let arrivals = Locked<[String: UInt64]>([:])
        let server = try server(arrivals)
        let started = try run([(spec("slow-a", url: server.url, interval: .seconds(10)), .milliseconds(150)),
                               (spec("fast", url: server.url, interval: .milliseconds(100)), .milliseconds(158)),
                               (spec("medium", url: server.url, interval: .seconds(2)), .milliseconds(190)),
                               (spec("slow-b", url: server.url, interval: .seconds(10)), .milliseconds(300))],
                              arrivals: arrivals)
        #expect(started.count == 4)
        for (name, check) in started {
            #expect(check.arrived + check.window >= check.due,
                    "\(name) reached the server \(Double(check.due - check.arrived) / 1e6) ms before its due time, window \(check.window / 1_000_000) ms")
        }
    }
}
