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
    /// "Now" for due times and attempts.
    private let clock: any WallClock
    private let queue = DispatchQueue(label: "prober.outbox")
    /// `counts`, under `countsLock`: written on `queue`, read by `/metrics` from the listener's thread.
    private var publishedCounts: OutboxCounts?
    private let countsLock = NSLock()
    private let configuration: Configuration
    private var sinks: [any Sink]
    private var timer: DispatchSourceTimer?
    private var running = false
    private var inFlight: Set<Int64> = []
    private var unrecorded: [(item: OutboxItem, outcome: Outcome)] = []
    private var warnedWaiting: Set<String> = []
    private let drained = DispatchGroup()
    /// Creates whose destination was listed and showed nothing they made: sent without listing again until
    /// their outcome is recorded.
    private var listed: Set<Int64> = []

    public init(storage: any OutboxStorage, sinks: [any Sink], configuration: Configuration = Configuration(),
                logger: Logger, clock: any WallClock = SystemWallClock(), send: @escaping Send) {
        self.clock = clock
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

    /// The undelivered calls as of the worker's last look at the outbox (after every pass, at least every `poll`);
    /// nil before the first. `/metrics` reads them here rather than on the store's connection, where a scrape
    /// would wait behind ingest and incident writes.
    public var counts: OutboxCounts? { countsLock.withLock { publishedCounts } }

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


    private func pump() {
        guard running else { return }
        let now = self.clock.now()
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
            let counts = try storage.undeliveredCounts()
            countsLock.withLock { publishedCounts = counts }
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
        guard item.method == "POST", var listing = sink.listingRequest(for: item) else {
            return dispatch(item, sink: sink, request: request)
        }
        if mayHaveBeenSent(item) {
            listing.timeout = configuration.timeout
            return reconcile(item, sink: sink, listing: listing, then: request)
        }
        // A create the destination can be asked about: leave a trace first, so a `kill -9` before its answer
        // is stored does not make the next process send it blind. Storage refusing it does not hold the call.
        do { try storage.markSending(item.id) } catch {
            logger.warning("could not note a create as sent; a crash before its answer is stored may duplicate it",
                           metadata: ["outbox.id": "\(item.id)", "error": "\(error)"])
        }
        dispatch(item, sink: sink, request: request)
    }

    /// Sends a call and records its outcome.
    private func dispatch(_ item: OutboxItem, sink: any Sink, request: DeliveryRequest) {
        inFlight.insert(item.id)
        drained.enter()
        send(request) { [weak self] response in
            guard let self else { return }
            self.queue.async {
                let decision = self.configuration.retry.decide(
                    status: response.status, transportError: response.error, detail: sink.errorDetail(from: response.body),
                    retryAfter: response.retryAfter, attempt: item.attempts + 1, jitter: Double.random(in: 0...1), now: self.clock.now())
                let lost = response.answerLost && item.method == "POST" && sink.listingRequest(for: item) != nil
                self.record(item, decision, sink: sink, response: response, now: self.clock.now(), mayHaveBeenSent: lost)
                self.listed.remove(item.id)
                self.inFlight.remove(item.id)
                self.drained.leave()
                self.pump()
            }
        }
    }

    // MARK: Creates whose answer was lost

    /// Whether a create may already have reached its destination without its answer being stored: its answer
    /// was lost (a timeout, a dropped connection after sending), or a process that died (`kill -9`) marked it as
    /// sent. An answer (even 5xx) or a connection never made means nothing was created.
    private func mayHaveBeenSent(_ item: OutboxItem) -> Bool {
        !listed.contains(item.id) && item.mayHaveBeenSent
    }

    /// Lists the destination's incidents and adopts the one this create made (the oldest when it made several,
    /// resolving the others with a note), so the episode has one incident there; sends the create when it
    /// made none. A listing refused for good (404, 405, another 4xx) or unreadable sends the create as before;
    /// one that failed for now (5xx, 429, no answer) is tried again with backoff.
    private func reconcile(_ item: OutboxItem, sink: any Sink, listing: DeliveryRequest, then create: DeliveryRequest) {
        inFlight.insert(item.id)
        drained.enter()
        send(listing) { [weak self] response in
            guard let self else { return }
            self.queue.async {
                defer {
                    self.drained.leave()
                    self.pump()
                }
                let metadata: Logger.Metadata = ["incident.id": "\(item.incidentID)", "outbox.id": "\(item.id)", "sink": "\(sink.label)"]
                guard self.running else {
                    self.inFlight.remove(item.id)
                    return
                }
                switch response.status ?? 0 {
                case 200..<300:
                    // A listing prober cannot read (the list endpoint's shape is assumed) counts as empty: the
                    // create goes out as before, rather than never.
                    let found = sink.createdIncidents(by: item, listing: response)
                    let ids = found ?? []
                    if found == nil {
                        self.logger.warning("could not read \(sink.label)'s list of incidents: sending the create again, which may duplicate it",
                                            metadata: metadata)
                    }
                    guard let adopted = ids.first else {
                        // Nothing was created: send it (once; a lost answer again brings it back here).
                        self.listed.insert(item.id)
                        self.inFlight.remove(item.id)
                        return self.dispatch(item, sink: sink, request: create)
                    }
                    self.logger.notice("\(sink.label) already has the incident whose create's answer was lost: adopting it",
                                       metadata: metadata.merging(["remote.id": "\(adopted)", "duplicates": "\(ids.count - 1)"]) { a, _ in a })
                    self.resolveDuplicates(Array(ids.dropFirst()), of: adopted, item: item, sink: sink)
                default:
                    let why = response.status.map { "HTTP \($0)" + (sink.errorDetail(from: response.body).map { ": \($0)" } ?? "") }
                        ?? response.error ?? "no response"
                    let decision = self.configuration.retry.decide(
                        status: response.status, transportError: response.error, detail: nil, retryAfter: response.retryAfter,
                        attempt: item.attempts + 1, jitter: 0, now: self.clock.now())
                    if case .retry = decision {
                        return self.giveUp(item, sink: sink, "could not list \(sink.label)'s incidents to find a create whose answer was lost: \(why)")
                    }
                    // Listing is refused for good (not offered, 404/405, or a 4xx the create would get too): send the
                    // create, as before reconciling existed; it may duplicate, and its own answer says what is wrong.
                    self.logger.warning("could not list \(sink.label)'s incidents (\(self.redacted(why))): sending the create again, which may duplicate it",
                                        metadata: metadata)
                    self.listed.insert(item.id)
                    self.inFlight.remove(item.id)
                    self.dispatch(item, sink: sink, request: create)
                }
            }
        }
    }

    /// Resolves the duplicates one after the other, then records the create as delivered with `adopted` as its
    /// id. A duplicate that cannot be resolved leaves the create pending: the next attempt lists again (the
    /// duplicates already resolved no longer match) and finishes the job.
    private func resolveDuplicates(_ ids: [String], of adopted: String, item: OutboxItem, sink: any Sink) {
        guard let id = ids.first else {
            record(item, .delivered, sink: sink, response: nil, now: self.clock.now(), adopted: adopted)
            inFlight.remove(item.id)
            return
        }
        guard var request = sink.resolveDuplicateRequest(id: id, adopted: adopted) else {
            return resolveDuplicates(Array(ids.dropFirst()), of: adopted, item: item, sink: sink)
        }
        request.timeout = configuration.timeout
        drained.enter()
        send(request) { [weak self] response in
            guard let self else { return }
            self.queue.async {
                defer { self.drained.leave() }
                guard let status = response.status, (200..<300).contains(status) else {
                    let why = response.status.map { "HTTP \($0)" + (sink.errorDetail(from: response.body).map { ": \($0)" } ?? "") }
                        ?? response.error ?? "no response"
                    self.giveUp(item, sink: sink, "could not resolve \(sink.label) incident \(id), a duplicate of \(adopted): \(why)")
                    return self.pump()
                }
                self.logger.notice("resolved a duplicate \(sink.label) incident made by a create whose answer was lost",
                                   metadata: ["incident.id": "\(item.incidentID)", "remote.id": "\(id)", "adopted": "\(adopted)"])
                self.resolveDuplicates(Array(ids.dropFirst()), of: adopted, item: item, sink: sink)
                self.pump()
            }
        }
    }

    /// Records a reconciliation that could not finish as a retry, with backoff.
    private func giveUp(_ item: OutboxItem, sink: any Sink, _ reason: String) {
        let wait = configuration.retry.backoff(attempt: item.attempts + 1, jitter: Double.random(in: 0...1))
        record(item, .retry(after: wait, reason: reason), sink: sink, response: nil, now: self.clock.now(), mayHaveBeenSent: true)
        inFlight.remove(item.id)
    }

    /// `reason` without the secrets of the sinks: an API may echo what it received (`invalid token Bearer …`,
    /// the request's URL), and reasons go to the database, logs and the CLI. Every secret counts, however short
    /// (a 4-character token is still a token); the longest go first so a secret containing another is removed
    /// whole.
    private func redacted(_ reason: String) -> String {
        Self.redact(reason, secrets: sinks.flatMap(\.secrets))
    }

    /// One pass over `text`, so a short secret cannot match inside an earlier `[redacted]`.
    static func redact(_ text: String, secrets: [String]) -> String {
        let secrets = Set(secrets.filter { !$0.isEmpty }).sorted { $0.utf8.count > $1.utf8.count }.map { Array($0.utf8) }
        guard !secrets.isEmpty else { return text }
        let bytes = Array(text.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        scan: while i < bytes.count {
            for secret in secrets where bytes.count - i >= secret.count && bytes[i] == secret[0]
                && bytes[i..<(i + secret.count)].elementsEqual(secret) {
                out += Array("[redacted]".utf8)
                i += secret.count
                continue scan
            }
            out.append(bytes[i])
            i += 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `adopted`: the id of an incident a create whose answer was lost made, found by listing. `mayHaveBeenSent`:
    /// a retried create may have made an incident (its answer was lost, or looking for it did not finish): the
    /// stored reason says so, and the next attempt, in this process or the next, looks for it first.
    private func record(_ item: OutboxItem, _ decision: DeliveryDecision, sink: (any Sink)?, response: DeliveryResponse?, now: Int64,
                        adopted: String? = nil, mayHaveBeenSent: Bool = false) {
        let target = sink?.label ?? item.sink
        let metadata: Logger.Metadata = ["incident.id": "\(item.incidentID)", "outbox.id": "\(item.id)", "sink": "\(target)",
                                         "method": "\(item.method)"]
        let outcome: Outcome
        switch decision {
        case .delivered:
            var remote = adopted
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
            let reason = redacted(reason) + (mayHaveBeenSent ? OutboxItem.answerLostNote : "")
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
