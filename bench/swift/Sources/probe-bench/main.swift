// Drives CurlEngine through N fresh-connection checks at a fixed concurrency against a local server
// and prints the same figures as the C baselines (bench/c/stats.h).
// usage: probe-bench http URL N CONCURRENCY | probe-bench tcp PORT N CONCURRENCY
//        probe-bench hang URL N TIMEOUT_MS   (how far past its timeout a check against a silent server ends)
import Foundation
import ProberCore
import ProberProbes

func cpuSeconds() -> Double {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Double(u.ru_utime.tv_sec) + Double(u.ru_utime.tv_usec) / 1e6 + Double(u.ru_stime.tv_sec) + Double(u.ru_stime.tv_usec) / 1e6
}

func peakRSSMiB() -> Double {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Double(u.ru_maxrss) / 1024
}

final class Counter: @unchecked Sendable { // Safe: only the engine thread writes, the main thread reads after `done`.
    var failed = 0
    var left: Int
    let done = DispatchSemaphore(value: 0)
    init(_ n: Int) { left = n }
}

let args = CommandLine.arguments
guard args.count >= 5, let n = Int(args[3]), let concurrency = Int(args[4]) else {
    FileHandle.standardError.write(Data("usage: probe-bench http URL N CONCURRENCY | tcp PORT N CONCURRENCY\n".utf8))
    exit(2)
}
if args[1] == "hang" {
    // All at once, each against a server that never answers: how long after its timeout does each end?
    let timeout = Duration.milliseconds(concurrency)
    let spec = ProbeSpec(name: "hang", target: .http(HTTPTarget(url: args[2])), timeout: timeout)
    let engine = try CurlEngine(maxConcurrent: n)
    let lock = NSLock()
    nonisolated(unsafe) var overshoots: [Int64] = []
    let group = DispatchGroup()
    for _ in 0..<n {
        group.enter()
        let start = DispatchTime.now().uptimeNanoseconds
        engine.run(spec) { sample in
            let waited = Int64(DispatchTime.now().uptimeNanoseconds - start) / 1_000
            lock.lock(); overshoots.append(waited - timeout.microseconds); lock.unlock()
            precondition(sample.failure?.reason == .timeout, "\(String(describing: sample.failure))")
            group.leave()
        }
    }
    group.wait()
    engine.shutdown()
    overshoots.sort()
    print(String(format: "Swift CurlEngine (hang)   checks %6d  timeout %d ms  past the timeout: p50 %.1f ms  p99 %.1f ms  max %.1f ms",
                 n, concurrency, Double(overshoots[n / 2]) / 1000, Double(overshoots[min(n - 1, n * 99 / 100)]) / 1000, Double(overshoots.last!) / 1000))
    exit(0)
}

let spec: ProbeSpec
if args[1] == "tcp" {
    spec = ProbeSpec(name: "bench", target: .tcp(TCPTarget(host: "127.0.0.1", port: Int(args[2])!)), timeout: .seconds(5))
} else {
    spec = ProbeSpec(name: "bench", target: .http(HTTPTarget(url: args[2])), timeout: .seconds(5))
}

let engine = try CurlEngine(maxConcurrent: concurrency)
let counter = Counter(n)
let cpu0 = cpuSeconds()
let t0 = DispatchTime.now().uptimeNanoseconds
// Every check is handed over at once; the engine runs `concurrency` of them at a time.
for _ in 0..<n {
    engine.run(spec) { sample in
        if !sample.ok { counter.failed += 1 }
        counter.left -= 1
        if counter.left == 0 { counter.done.signal() }
    }
}
counter.done.wait()
let wall = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
let cpu = cpuSeconds() - cpu0
engine.shutdown()
let name = args[1] == "tcp" ? "Swift CurlEngine (tcp)" : "Swift CurlEngine (http)"
print(String(format: "%@ checks %6d  conc %4d  %8.0f checks/s  %6.3f ms CPU/check  peak RSS %6.1f MiB  failed %d",
             name.padding(toLength: 26, withPad: " ", startingAt: 0), n, concurrency, Double(n) / wall, cpu * 1000 / Double(n), peakRSSMiB(), counter.failed))
