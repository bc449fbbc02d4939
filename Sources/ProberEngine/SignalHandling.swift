import Foundation

/// Delivers SIGTERM, SIGINT, SIGHUP (or any signal) to closures through Dispatch signal sources.
///
/// Each signal's default action is disabled with `SIG_IGN` first, so the source sees it instead of the
/// process dying. Sources live until `cancel()` or `deinit`.
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
