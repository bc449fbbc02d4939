import Dispatch
import Foundation
import Logging
import ProberCore
import ProberStorage

/// Delivers the outbox: every incident change to each of its sinks, in order per incident and sink,
/// retrying with backoff until the receiver answers. The outbox is in storage, so pending calls survive
/// restarts and `kill -9`. What a call looks like is its sink's business (`Sink`); this worker only
/// schedules, sends, and records.
///
/// All state lives on the worker's serial queue (`@unchecked Sendable` for that reason); the HTTP client
/// (`send`, the probe engine's libcurl multi loop) never blocks it, so a hanging API ties up no thread.
public final class OutboxWorker: @unchecked Sendable {
    public struct Configuration: Sendable {
        /// Bound on one call.
        public var timeout: Duration = .seconds(10)
        /// How often the outbox is looked at when nothing is due (it also picks up `prober deliveries retry`).
        public var poll: Duration = .seconds(5)
        public var retry = RetryPolicy()

        public init() {}
    }

    public typealias Send = @Sendable (DeliveryRequest, @escaping @Sendable (DeliveryResponse) -> Void) -> Void

    /// An attempt's outcome that storage refused to record: kept here, and its call not sent again, until it is.
    private struct Outcome {
        var state: OutboxItem.State
        var nextAttemptAt: Int64
        var error: String?
        var at: Int64
        var remoteID: String?
    }

    private let storage: any OutboxStorage
    private let logger: Logger
    private let send: Send
    private let queue = DispatchQueue(label: "prober.outbox")
    private let configuration: Configuration
    private var sinks: [any Sink]
    private var timer: DispatchSourceTimer?
    private var running = false
    private var inFlight: Set<Int64> = []
    private var unrecorded: [(item: OutboxItem, outcome: Outcome)] = []
    private var warnedWaiting: Set<String> = []
    private let drained = DispatchGroup()

    public init(storage: any OutboxStorage, sinks: [any Sink], configuration: Configuration = Configuration(),
                logger: Logger, send: @escaping Send) {
        self.storage = storage
        self.sinks = sinks
        self.configuration = configuration
        self.logger = logger
        self.send = send
    }

    public func start() {
        queue.async {
            self.running = true
            let timer = DispatchSource.makeTimerSource(queue: self.queue)
            timer.setEventHandler { [weak self] in self?.pump() }
            self.timer = timer
            timer.schedule(deadline: .now())
            timer.resume()
        }
    }

    /// Looks at the outbox now (after an incident change).
    public func wake() { queue.async { self.pump() } }

    /// New sinks after a reload.
    public func update(sinks: [any Sink]) { queue.async { self.sinks = sinks } }

    /// Stops taking new calls and waits (at most `timeout`) for those in flight; what is left stays pending.
    public func stop() {
        queue.sync {
            running = false
            timer?.cancel()
            timer = nil
        }
        _ = drained.wait(timeout: .now() + .microseconds(Int(configuration.timeout.microseconds)))
    }

    private static var now: Int64 { Int64(Date().timeIntervalSince1970 * 1_000_000) }

    private func pump() {
        guard running else { return }
        let now = Self.now
        do {
            try recordHeldOutcomes()
            // Calls to a sink that cannot be served now wait; they are left out of the query so they cannot
            // crowd out the other sinks'.
            var waiting: Set<String> = []
            for sink in sinks {
                guard let reason = sink.waitReason else { continue }
                waiting.insert(sink.name)
                if !warnedWaiting.contains(sink.name), try storage.hasPending(sink: sink.name) {
                    warnedWaiting.insert(sink.name)
                    logger.warning("incident calls for \(sink.label) wait in the outbox: \(reason)")
                }
            }
            for item in try storage.dueDeliveries(now: now, limit: 64, excluding: waiting) where !inFlight.contains(item.id) {
                try attempt(item, now: now)
            }
            // Whatever is due now is in flight (its completion pumps again) or waiting: poll.
            let next = try storage.nextDeliveryDue().flatMap { $0 > now ? $0 : nil } ?? (now + configuration.poll.microseconds)
            let wait = min(next - now, configuration.poll.microseconds)
            timer?.schedule(deadline: .now() + .microseconds(Int(max(wait, 1_000))))
        } catch {
            logger.warning("could not read or write the outbox; trying again", metadata: ["error": "\(error)"])
            timer?.schedule(deadline: .now() + .microseconds(Int(configuration.poll.microseconds)))
        }
    }

    /// Records the outcomes storage refused earlier, oldest first; throws (keeping the rest) while it still refuses.
    private func recordHeldOutcomes() throws {
        while let (item, outcome) = unrecorded.first {
            try write(item, outcome)
            unrecorded.removeFirst()
            logger.info("recorded a delivery attempt held while storage was failing", metadata: ["outbox.id": "\(item.id)"])
        }
    }

    /// The sink a stored call goes to: the one of its name that serves the incident's probe.
    private func sink(for item: OutboxItem) throws -> (any Sink)? {
        let named = sinks.filter { $0.name == item.sink }
        guard named.count > 1, let probe = try storage.probe(incident: item.incidentID) else { return named.first }
        // Two probe files notify the same URL (perhaps with different headers): use the incident's own file's.
        return named.first { $0.serves(probe: probe) }
    }

    private func attempt(_ item: OutboxItem, now: Int64) throws {
        guard let sink = try sink(for: item) else {
            record(item, .failed(reason: "this sink (\(item.sink)) is no longer configured"), sink: nil, response: nil, now: now)
            return
        }
        var request: DeliveryRequest
        switch sink.request(for: item, remoteID: try storage.remoteID(incident: item.incidentID)) {
        case .send(let r):
            request = r
        case .fail(let reason):
            record(item, .failed(reason: reason), sink: sink, response: nil, now: now)
            return
        }
        request.timeout = configuration.timeout
        inFlight.insert(item.id)
        drained.enter()
        send(request) { [weak self] response in
            guard let self else { return }
            self.queue.async {
                let decision = self.configuration.retry.decide(
                    status: response.status, transportError: response.error, detail: sink.errorDetail(from: response.body),
                    retryAfter: response.retryAfter, attempt: item.attempts + 1, jitter: Double.random(in: 0...1), now: Self.now)
                self.record(item, decision, sink: sink, response: response, now: Self.now)
                self.inFlight.remove(item.id)
                self.drained.leave()
                self.pump()
            }
        }
    }

    /// `reason` without the secrets of the sinks: an API may echo what it received (`invalid token Bearer …`),
    /// and reasons go to the database, logs and the CLI.
    private func redacted(_ reason: String) -> String {
        let secrets = sinks.flatMap(\.secrets).filter { !$0.isEmpty }.sorted { $0.count > $1.count }
        return secrets.reduce(reason) { $0.replacingOccurrences(of: $1, with: "[redacted]") }
    }

    private func record(_ item: OutboxItem, _ decision: DeliveryDecision, sink: (any Sink)?, response: DeliveryResponse?, now: Int64) {
        let target = sink?.label ?? item.sink
        let metadata: Logger.Metadata = ["incident.id": "\(item.incidentID)", "outbox.id": "\(item.id)", "sink": "\(target)",
                                         "method": "\(item.method)"]
        let outcome: Outcome
        switch decision {
        case .delivered:
            var remote: String?
            if let sink, let response {
                switch sink.created(by: item, response: response) {
                case .none: break
                case .id(let id): remote = id
                case .missing: logger.warning("\(target) accepted the incident but returned no id", metadata: metadata)
                }
            }
            outcome = Outcome(state: .delivered, nextAttemptAt: now, error: nil, at: now, remoteID: remote)
            logger.info("incident call delivered to \(target)", metadata: metadata)
        case .retry(let after, let reason):
            let reason = redacted(reason)
            outcome = Outcome(state: .pending, nextAttemptAt: now + after.microseconds, error: reason, at: now)
            if item.attempts == 0 || (item.attempts + 1) % 10 == 0 {
                logger.warning("incident call to \(target) not delivered, retrying in \(Human.latency(microseconds: after.microseconds)): \(reason)",
                               metadata: metadata)
            }
        case .failed(let reason):
            let reason = redacted(reason)
            outcome = Outcome(state: .failed, nextAttemptAt: now, error: reason, at: now)
            logger.error("incident call to \(target) failed and will not be retried: \(reason) (fix it, then `prober deliveries retry`)",
                         metadata: metadata)
        }
        guard unrecorded.isEmpty else { return unrecorded.append((item, outcome)) }
        do {
            try write(item, outcome)
        } catch {
            // Still pending and due in storage: without holding it here the call would be sent again at once.
            unrecorded.append((item, outcome))
            logger.warning("could not record a delivery attempt; holding it until storage works again",
                           metadata: metadata.merging(["error": "\(error)"]) { a, _ in a })
        }
    }

    private func write(_ item: OutboxItem, _ o: Outcome) throws {
        try storage.recordAttempt(item.id, state: o.state, nextAttemptAt: o.nextAttemptAt, error: o.error, at: o.at, remoteID: o.remoteID)
    }
}
