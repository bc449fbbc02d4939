import Foundation
import Logging
import ProberTestSupport
import XCTest
import ProberCore
@testable import ProberEngine

/// A check runner scripted per probe: answer at once, hold until released, or never answer.
final class ScriptedRunner: CheckRunner, Sendable {
    enum Mode: Sendable {
        case succeed
        case fail(Failure)
        case hold
        case never
    }

    struct Record: Sendable {
        var starts: [String: [Int64]] = [:]
        var held: [(name: String, complete: @Sendable (Sample) -> Void)] = []
        var running = 0
        var peakRunning = 0
        var completed = 0
    }

    let state = Locked(Record())
    private let mode: @Sendable (ProbeSpec, Int) -> Mode
    private let clock = MonotonicEpochClock()

    /// `mode(spec, n)`: what to do with the probe's n-th check (0-based).
    init(_ mode: @escaping @Sendable (ProbeSpec, Int) -> Mode = { _, _ in .succeed }) {
        self.mode = mode
    }

    func run(_ spec: ProbeSpec, completion: @escaping @Sendable (Sample) -> Void) {
        let now = clock.now()
        let n = state.withLock { s -> Int in
            s.starts[spec.name, default: []].append(now)
            s.running += 1
            s.peakRunning = max(s.peakRunning, s.running)
            return s.starts[spec.name]!.count - 1
        }
        let finish: @Sendable (Failure?) -> Void = { [state] failure in
            state.withLock {
                $0.running -= 1
                $0.completed += 1
            }
            completion(Sample(probe: spec.name, startedAt: now, failure: failure, phases: Phases(total: 100)))
        }
        switch mode(spec, n) {
        case .succeed: finish(nil)
        case .fail(let failure): finish(failure)
        case .hold: state.withLock { $0.held.append((spec.name, { _ in finish(nil) })) }
        case .never: break
        }
    }

    /// Completes every held check (outside the lock).
    @discardableResult
    func releaseHeld() -> Int {
        let held = state.withLock { s -> [(name: String, complete: @Sendable (Sample) -> Void)] in
            defer { s.held.removeAll() }
            return s.held
        }
        for h in held { h.complete(Sample(probe: h.name, startedAt: 0)) }
        return held.count
    }

    func starts(_ name: String) -> [Int64] { state.withLock { $0.starts[name] ?? [] } }
}

/// Collects samples.
final class CollectingSink: SampleSink, Sendable {
    let samples = Locked<[Sample]>([])
    func record(_ sample: Sample) { samples.withLock { $0.append(sample) } }
    var count: Int { samples.withLock { $0.count } }
}

/// A log handler keeping every record, to assert on what the daemon logs.
struct CapturingLogHandler: LogHandler {
    struct Entry: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: Logger.Metadata
    }

    let entries: Locked<[Entry]>
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        entries.withLock { $0.append(Entry(level: event.level, message: event.message.description, metadata: event.metadata ?? [:])) }
    }

    static func logger() -> (Logger, Locked<[Entry]>) {
        let entries = Locked<[Entry]>([])
        return (Logger(label: "test") { _ in CapturingLogHandler(entries: entries) }, entries)
    }
}

func httpProbe(_ name: String, interval: Duration = .milliseconds(100), timeout: Duration = .milliseconds(50)) -> ProbeSpec {
    ProbeSpec(name: name, target: .http(HTTPTarget(url: "http://127.0.0.1:1/\(name)")), interval: interval, timeout: timeout)
}

/// Forwards to ProberTestSupport's `waitUntil`, failing the test on a timeout. Kept for the test files being
/// edited elsewhere (DeliveryTests, HTTPListenerTests, MetricsServerTests); new tests call `waitUntil` directly.
func waitUntil(_ what: String, timeout: TimeInterval = 20, file: StaticString = #filePath, line: UInt = #line,
               _ condition: () -> Bool) {
    if !ProberTestSupport.waitUntil(timeout: .milliseconds(Int(timeout * 1_000)), condition) {
        XCTFail("timed out waiting for \(what)", file: file, line: line)
    }
}
