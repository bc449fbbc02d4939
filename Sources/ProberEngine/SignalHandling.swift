import Foundation

/// Delivers SIGTERM, SIGINT, SIGHUP (or any signal) to closures through Dispatch signal sources.
///
/// Each signal's default action is disabled with `SIG_IGN` first, so the process never dies of it, and the
/// signal is blocked in the calling thread. Why: on Linux, Dispatch registers a signal source asynchronously
/// (a `signalfd` plus its own handler); a signal arriving before that, at a thread that does not block it,
/// would be discarded under `SIG_IGN`. Blocked, it stays pending until the source reads it (observed: a
/// SIGHUP raised right after `on` was lost without the block). Set this up early, on the main thread.
/// Sources live until `cancel()` or `deinit`.
public final class SignalHandling: Sendable {
    private let queue: DispatchQueue
    private let sources = Locked<[DispatchSourceSignal]>([])

    /// Handlers run on `queue` (a private serial queue by default; not the scheduler's).
    public init(queue: DispatchQueue = DispatchQueue(label: "prober.signals")) {
        self.queue = queue
    }

    deinit { cancel() }

    /// Calls `handler` on every delivery of `signal`.
    public func on(_ signal: Int32, _ handler: @escaping @Sendable () -> Void) {
        Foundation.signal(signal, SIG_IGN)
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, signal)
        pthread_sigmask(SIG_BLOCK, &set, nil)
        let source = DispatchSource.makeSignalSource(signal: signal, queue: queue)
        source.setEventHandler(handler: handler)
        sources.withLock { $0.append(source) }
        source.resume()
    }

    /// SIGTERM and SIGINT: stop. SIGHUP: reload.
    public func onTerminate(_ handler: @escaping @Sendable (Int32) -> Void) {
        on(SIGTERM) { handler(SIGTERM) }
        on(SIGINT) { handler(SIGINT) }
    }

    public func onReload(_ handler: @escaping @Sendable () -> Void) {
        on(SIGHUP, handler)
    }

    public func cancel() {
        let all = sources.withLock { s -> [DispatchSourceSignal] in
            defer { s.removeAll() }
            return s
        }
        for source in all { source.cancel() }
    }
}
