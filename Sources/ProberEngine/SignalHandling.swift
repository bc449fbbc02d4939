import Foundation

/// Delivers SIGTERM, SIGINT, SIGHUP (or any signal) to closures through Dispatch signal sources.
///
/// Each signal's default action is disabled with `SIG_IGN` first, so the process never dies of it, and the
/// signal is blocked in the calling thread. `on` returns once Dispatch has registered the source (it does
/// so asynchronously on its own thread, installing its own handler): before that, a signal reaching a
/// thread that does not block it would be discarded under `SIG_IGN` (observed: a SIGHUP sent right after
/// `on` was lost now and then). Set this up early, on the main thread. Sources live until `cancel()`.
public final class SignalHandling: Sendable {
    private let queue: DispatchQueue
    private let sources = Locked<[DispatchSourceSignal]>([])

    /// Handlers run on `queue` (a private serial queue by default; not the scheduler's).
    public init(queue: DispatchQueue = DispatchQueue(label: "prober.signals")) {
        self.queue = queue
        queue.setSpecific(key: Self.queueKey, value: ())
    }

    /// Marks the handlers' queue, where waiting for a registration would deadlock.
    private static let queueKey = DispatchSpecificKey<Void>()

    deinit { cancel() }

    /// Calls `handler` on every delivery of `signal`.
    public func on(_ signal: Int32, _ handler: @escaping @Sendable () -> Void) {
        // A signal that arrived while blocked (a mask inherited from the launcher) is pending, and `SIG_IGN`
        // discards it: note it, and send it again once the source is armed, so a SIGTERM during start-up is
        // never lost.
        var pending = sigset_t()
        sigpending(&pending)
        let wasPending = sigismember(&pending, signal) == 1
        Foundation.signal(signal, SIG_IGN)
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, signal)
        pthread_sigmask(SIG_BLOCK, &set, nil)
        let source = DispatchSource.makeSignalSource(signal: signal, queue: queue)
        source.setEventHandler(handler: handler)
        // Registration happens later, on Dispatch's own thread; wait for it so that a signal sent once `on`
        // has returned is never lost.
        let registered = DispatchSemaphore(value: 0)
        source.setRegistrationHandler { registered.signal() }
        sources.withLock { $0.append(source) }
        source.resume()
        if DispatchQueue.getSpecific(key: Self.queueKey) == nil {
            _ = registered.wait(timeout: .now() + .seconds(2))
        }
        if wasPending { kill(getpid(), signal) }
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
