import Foundation
import ProberCore
@testable import ProberProbes
import ProberTestSupport

/// One engine for the whole test process (as the daemon has), started on first use.
let engine: CurlEngine = try! CurlEngine()

func httpSpec(_ url: String, timeout: Duration = .seconds(5), _ configure: (inout HTTPTarget) -> Void = { _ in }) -> ProbeSpec {
    var target = HTTPTarget(url: url)
    configure(&target)
    return ProbeSpec(name: "test", target: .http(target), interval: .seconds(30), timeout: timeout)
}

func tcpSpec(host: String = "127.0.0.1", port: Int, send: String? = nil, expect: String? = nil,
             timeout: Duration = .seconds(5)) -> ProbeSpec {
    var target = TCPTarget(host: host, port: port)
    target.send = send
    target.expect = expect
    return ProbeSpec(name: "tcp-test", target: .tcp(target), interval: .seconds(30), timeout: timeout)
}

/// Runs one check on `probeEngine` and measures, in µs, from handing it to the engine until the engine
/// ends it (calls its completion).
///
/// The clock stops in the completion, not when the awaiting task resumes: resuming needs a thread of
/// Swift's cooperative pool (two threads on this 2-core machine), and in the full `swift test` run
/// synchronous tests that block (the CLI tests waiting for the `prober` binary, waits on semaphores
/// and conditions) can hold both for seconds. Measured there: checks ended 1–20 ms after their
/// timeout, but their tasks resumed ~1.7 s later. That delay is the test runner's; the probe's bound
/// is when the check ends.
func timedCheck(_ spec: ProbeSpec, on probeEngine: CurlEngine = engine) async -> (Sample, Int64) {
    await withCheckedContinuation { continuation in
        let start = ContinuousClock.now
        probeEngine.run(spec) { sample in
            continuation.resume(returning: (sample, (ContinuousClock.now - start).microseconds))
        }
    }
}

/// Runs a blocking call (a semaphore or condition wait, a child process) on its own thread, so it
/// never holds one of the cooperative pool's few threads while other tests' tasks wait for one.
func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}

