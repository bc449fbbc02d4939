import Foundation
import ProberCore
@testable import ProberProbes
import ProberTestSupport

/// One engine for the whole test process (as the daemon has), started on first use.
let engine: ProbeEngine = try! ProbeEngine()

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

/// Runs one check and measures how long the caller waited for it, in µs.
func timedCheck(_ spec: ProbeSpec) async -> (Sample, Int64) {
    let start = ContinuousClock.now
    let sample = await engine.check(spec)
    return (sample, (ContinuousClock.now - start).microseconds)
}

/// Peak resident set size of this process (VmHWM), bytes.
func peakRSS() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }) else { return 0 }
    return (Int(line.split(separator: " ")[1]) ?? 0) * 1024
}
