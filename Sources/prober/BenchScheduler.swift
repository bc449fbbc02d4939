import ArgumentParser
import Foundation
import ProberCore
import ProberEngine

/// `prober bench-scheduler`: the scheduler alone (checks that finish at once), for `bench/scheduler`,
/// which prints it beside a C libdispatch baseline doing the same timer work.
struct BenchScheduler: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-scheduler",
        abstract: "Measure tick lateness, CPU and memory of the scheduler with no-op checks.",
        shouldDisplay: false
    )

    @Option(help: "Number of probes.")
    var probes = 10_000

    @Option(help: "Interval of every probe.", transform: { text in
        guard let d = Duration(parsing: text) else { throw ValidationError("not a duration: \(text)") }
        return d
    })
    var interval: Duration = .seconds(10)

    @Option(help: "How long to run, seconds.")
    var seconds = 30

    /// Finishes every check at once and, once `recording`, measures each tick's lateness itself from the
    /// probe's grid, so the steady state can be told apart from startup (arming every timer).
    /// `@unchecked Sendable`: its mutable state is only touched under `lock`.
    private final class InstantRunner: CheckRunner, @unchecked Sendable {
        let clock = MonotonicEpochClock()
        let lock = NSLock()
        var recording = false
        var steady = LatenessHistogram()

        func run(_ spec: ProbeSpec, completion: @escaping @Sendable (Sample) -> Void) {
            let now = clock.now()
            let interval = spec.interval.microseconds
            let phase = Schedule.phase(name: spec.name, intervalMicros: interval)
            let due = now - ((now - phase) % interval + interval) % interval
            lock.lock()
            if recording { steady.record(now - due) }
            lock.unlock()
            completion(Sample(probe: spec.name, startedAt: now))
        }
    }

    func run() throws {
        let runner = InstantRunner()
        // The runner's clock: two `MonotonicEpochClock`s differ by microseconds, and a tick run on time by one
        // would read as a whole interval late (the previous grid point) by the other.
        let scheduler = Scheduler(runner: runner, clock: runner.clock)
        let specs = (0..<probes).map { i in
            ProbeSpec(name: "probe-\(i)", target: .tcp(TCPTarget(host: "127.0.0.1", port: 1)), interval: interval,
                      timeout: .milliseconds(min(interval.milliseconds / 2, 5_000)))
        }
        let armStart = DispatchTime.now()
        scheduler.start(probes: specs)
        let armed = Double(DispatchTime.now().uptimeNanoseconds - armStart.uptimeNanoseconds) / 1e6
        var before = rusage()
        getrusage(RUSAGE_SELF.rawValue, &before)
        let start = DispatchTime.now()
        // Lateness of the first interval (startup: arming every timer) apart from the rest.
        let warmup = min(Double(seconds) / 2, interval.seconds)
        Thread.sleep(forTimeInterval: warmup)
        let afterWarmup = scheduler.stats.lateness
        runner.lock.lock()
        runner.recording = true
        runner.lock.unlock()
        Thread.sleep(forTimeInterval: Double(seconds) - warmup)
        scheduler.stop(drain: true)
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
        var after = rusage()
        getrusage(RUSAGE_SELF.rawValue, &after)
        let cpu = Self.seconds(after.ru_utime) + Self.seconds(after.ru_stime) - Self.seconds(before.ru_utime) - Self.seconds(before.ru_stime)
        let stats = scheduler.stats
        let h = stats.lateness
        let ms = { (us: Int64) in String(format: "%.3fms", Double(us) / 1_000) }
        runner.lock.lock()
        let steady = runner.steady
        runner.lock.unlock()
        print(String(format: "  startup: arming %d probes took %.1f ms; first %.0f s: %d ticks, max lateness %@",
                     probes, armed, warmup, afterWarmup.count, ms(afterWarmup.max)))
        print("  steady state (after the first \(Int(warmup)) s): \(steady.count) ticks, lateness p50<=\(ms(steady.p50)) "
              + "p99<=\(ms(steady.p99)) max=\(ms(steady.max))")
        print("Swift scheduler probes=\(probes) interval=\(interval.milliseconds)ms ticks=\(stats.started)  "
              + "lateness p50<=\(ms(h.p50)) p99<=\(ms(h.p99)) max=\(ms(h.max))  skipped=\(stats.skipped)  "
              + String(format: "cpu=%.2f%% of one core (%.1f us/tick)  maxrss=%.1fMB", 100 * cpu / elapsed,
                       stats.started > 0 ? cpu * 1e6 / Double(stats.started) : 0.0, Self.peakRSSMegabytes()))
    }

    /// VmHWM from /proc/self/status (peak resident set).
    private static func peakRSSMegabytes() -> Double {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kb = Double(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") else { return 0 }
        return kb / 1024
    }

    private static func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
}
