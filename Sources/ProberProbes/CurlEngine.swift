import CCurl
import Foundation
import ProberCore

/// Runs HTTP and TCP checks on one libcurl multi handle driven by one dedicated thread.
///
/// Any thread may call `run`, `check`, `send` and `shutdown`: work goes through a locked inbox and
/// `curl_multi_wakeup` (one per batch of work posted while the thread was not draining). Completions are
/// called on the engine thread (for probes with `body_matches`, on their matching thread), so they must be
/// cheap: hand the result to a queue, or let `BatchedCompletions` hand over each turn's results at once.
/// Checks never throw: every failure, including a bad URL, is a `Sample` with a `Failure`. At most `maxConcurrent` transfers run at once; the rest wait in order (their timeout
/// starts when they start).
public final class CurlEngine: @unchecked Sendable {
    // Safe to share: every stored property is a `let`; `inbox` is locked, `multi` is only used here for
    // `curl_multi_wakeup` (thread-safe by libcurl's contract), and `Thread`'s `isFinished`/identity are
    // safe to read from any thread. All other libcurl state lives in `EngineLoop` on the engine thread.
    let inbox = Inbox()
    let multi: CurlMulti
    private let finished = DispatchSemaphore(value: 0)
    private let thread: Thread
    private let clock: any WallClock

    public struct StartError: Error, CustomStringConvertible {
        public var description: String
    }

    /// `clock` gives each sample's start time and the "now" certificate ages are measured from. `sourceAddress`
    /// binds every probe's connection to that local address (`--source-address`); the outbox's requests
    /// (`send`) keep the system's choice, since IsDown and webhooks are reached through the default route.
    public init(maxConcurrent: Int = 1024, clock: any WallClock = SystemWallClock(), sourceAddress: SourceAddress? = nil) throws {
        guard let multi = CurlMulti() else { throw StartError(description: "libcurl could not be initialised") }
        self.multi = multi
        self.clock = clock
        let loop = EngineLoop(multi: multi, inbox: inbox, maxConcurrent: maxConcurrent, clock: clock, sourceAddress: sourceAddress)
        let finished = self.finished
        thread = Thread {
            // Foundation on Linux does not pass `Thread.name` to the system: without this the thread keeps the name of
            // the one that started it, and `ps`, `perf` and bench/watchdog's CPU by thread cannot tell it apart.
            // (Glibc's module leaves out `pthread_setname_np`; this file is what it writes.)
            if let comm = fopen("/proc/thread-self/comm", "w") {
                fputs("prober-probes", comm)
                fclose(comm)
            }
            loop.run()
            finished.signal()
        }
        thread.name = "prober-probes"
        thread.start()
    }

    deinit { shutdown() }

    /// Starts one check of `spec` now; `completion` gets its sample on the engine thread.
    public func run(_ spec: ProbeSpec, completion: @escaping @Sendable (Sample) -> Void) {
        post(spec, ProbeCompletion(secrets: spec.secrets, completion: completion, batches: nil))
    }

    /// Starts one check of `spec` now; its sample reaches `batches` with the other checks that finish in the same
    /// turn of the engine loop (see `BatchedCompletions`), and `completion` is called wherever `batches` calls it.
    public func run(_ spec: ProbeSpec, batches: BatchedCompletions, completion: @escaping @Sendable (Sample) -> Void) {
        post(spec, ProbeCompletion(secrets: spec.secrets, completion: completion, batches: batches))
    }

    private func post(_ spec: ProbeSpec, _ completion: ProbeCompletion) {
        // Failure messages quote the probe's values and what the target echoed: the completion shows secrets as `${VAR}`.
        switch inbox.post(.probe(spec, completion)) {
        case .first: multi.wakeup()
        case .queued: break
        case .refused: completion.alone(Sample(probe: spec.name, startedAt: clock.now(), failure: Failure(.other, "probe engine stopped")))
        }
    }

    /// One check of `spec`, awaited.
    public func check(_ spec: ProbeSpec) async -> Sample {
        await withCheckedContinuation { continuation in
            run(spec) { continuation.resume(returning: $0) }
        }
    }

    /// One plain HTTP request (no redirects followed); `completion` runs on the engine thread.
    public func send(_ request: HTTPRequest, completion: @escaping @Sendable (HTTPResponse) -> Void) {
        switch inbox.post(.request(request, completion)) {
        case .first: multi.wakeup()
        case .queued: break
        case .refused:
            completion(HTTPResponse(status: nil, headers: [], body: [], error: "probe engine stopped", errorCode: nil, requestSent: false))
        }
    }

    /// One plain HTTP request, awaited.
    public func send(_ request: HTTPRequest) async -> HTTPResponse {
        await withCheckedContinuation { continuation in
            send(request) { continuation.resume(returning: $0) }
        }
    }

    /// Stops taking work, lets every accepted transfer finish (each bounded by its timeout), then ends
    /// the thread. Idempotent. From a completion (the engine thread itself) it does not wait.
    public func shutdown() {
        inbox.stop()
        multi.wakeup()
        if Thread.current == thread { return }
        if !thread.isFinished {
            finished.wait()
            finished.signal() // let later calls through too
        }
    }
}
