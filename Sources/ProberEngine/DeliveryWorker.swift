import Dispatch
import Foundation
import Logging
import ProberCore
import ProberStore

/// One outgoing HTTP call of the outbox, as handed to the HTTP client.
public struct DeliveryRequest: Sendable {
    public var method: String
    public var url: String
    /// Includes `Authorization`: never log or store these.
    public var headers: [Header]
    public var body: [UInt8]
    public var timeout: Duration
}

/// What came back: a status and body, or a transport error (no response).
public struct DeliveryResponse: Sendable {
    public var status: Int?
    public var body: [UInt8]
    public var retryAfter: String?
    public var error: String?

    public init(status: Int?, body: [UInt8], retryAfter: String?, error: String?) {
        self.status = status
        self.body = body
        self.retryAfter = retryAfter
        self.error = error
    }
}

/// Delivers the outbox: every incident change to IsDown and to webhooks, in order per incident and sink,
/// retrying with backoff until the receiver answers. The outbox is in SQLite, so pending calls survive
/// restarts and `kill -9`.
///
/// All state lives on the worker's serial queue (`@unchecked Sendable` for that reason); the HTTP client
/// is the probe engine's libcurl multi loop, so a hanging API never ties up a thread.
public final class DeliveryWorker: @unchecked Sendable {
    public struct Configuration: Sendable {
        /// Scheme and host of the IsDown API (`ISDOWN_API_URL`); the documented `/api/v2/...` paths are appended.
        public var isdownBaseURL: String = IsDown.defaultBaseURL
        /// `ISDOWN_API_KEY`. Without it IsDown calls wait in the outbox (and a warning says so).
        public var apiKey: String?
        /// The `notify:` webhooks, matched to outbox items by `NotifySink.key`.
        public var webhooks: [NotifySink] = []
        /// Bound on one call.
        public var timeout: Duration = .seconds(10)
        /// How often the outbox is looked at when nothing is due (it also picks up `prober deliveries retry`).
        public var poll: Duration = .seconds(5)
        public var retry = RetryPolicy()

        public init() {}

        /// Checks `ISDOWN_API_URL`: scheme and host (and port) only.
        public static func validateBaseURL(_ url: String) -> String? {
            let trimmed = url.hasSuffix("/") ? String(url.dropLast()) : url
            guard let c = URLComponents(string: trimmed), let scheme = c.scheme?.lowercased(), scheme == "http" || scheme == "https",
                  let host = c.host, !host.isEmpty, c.path.isEmpty, c.query == nil, c.user == nil else {
                return "ISDOWN_API_URL must be a scheme and host only, like https://isdown.app (the /api/v2/... paths are appended), not '\(Redact.url(url))'"
            }
            return nil
        }
    }

    public typealias Send = @Sendable (DeliveryRequest, @escaping @Sendable (DeliveryResponse) -> Void) -> Void

    private let store: Store
    private let logger: Logger
    private let send: Send
    private let queue = DispatchQueue(label: "prober.outbox")
    private var configuration: Configuration
    private var timer: DispatchSourceTimer?
    private var running = false
    private var inFlight: Set<Int64> = []
    private var warnedNoKey = false
    private let drained = DispatchGroup()

    public init(store: Store, configuration: Configuration, logger: Logger, send: @escaping Send) {
        self.store = store
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

    /// New webhooks after a reload.
    public func update(webhooks: [NotifySink]) { queue.async { self.configuration.webhooks = webhooks } }

    /// Stops taking new calls and waits (at most `timeout`) for those in flight; what is left stays pending.
    public func stop() {
        queue.sync {
            running = false
            timer?.cancel()
            timer = nil
        }
        _ = drained.wait(timeout: .now() + .microseconds(Int(configuration.timeout.microseconds)))
    }

    /// Calls not yet delivered in this process's view (for metrics).
    public var inFlightCount: Int { queue.sync { inFlight.count } }

    private static var now: Int64 { Int64(Date().timeIntervalSince1970 * 1_000_000) }

    private func pump() {
        guard running else { return }
        let now = Self.now
        do {
            // Without a key IsDown calls wait; they are left out of the query so they cannot crowd out webhooks.
            let hasKey = !(configuration.apiKey ?? "").isEmpty
            if !hasKey, !warnedNoKey, try store.hasPending(sink: "isdown") {
                warnedNoKey = true
                logger.warning("incident calls for IsDown wait in the outbox: ISDOWN_API_KEY is not set")
            }
            for item in try store.dueDeliveries(now: now, excluding: hasKey ? nil : "isdown") where !inFlight.contains(item.id) {
                attempt(item, now: now)
            }
            // Whatever is due now is in flight (its completion pumps again) or waiting for a key: poll.
            let next = try store.nextDeliveryDue().flatMap { $0 > now ? $0 : nil } ?? (now + configuration.poll.microseconds)
            let wait = min(next - now, configuration.poll.microseconds)
            timer?.schedule(deadline: .now() + .microseconds(Int(max(wait, 1_000))))
        } catch {
            logger.warning("could not read the outbox; trying again", metadata: ["error": "\(error)"])
            timer?.schedule(deadline: .now() + .microseconds(Int(configuration.poll.microseconds)))
        }
    }

    private func attempt(_ item: OutboxItem, now: Int64) {
        let request: DeliveryRequest
        switch prepare(item) {
        case .wait:
            return
        case .fail(let reason):
            record(item, .failed(reason: reason), response: nil, now: now)
            return
        case .send(let r):
            request = r
        }
        inFlight.insert(item.id)
        drained.enter()
        send(request) { [weak self] response in
            guard let self else { return }
            self.queue.async {
                self.inFlight.remove(item.id)
                let decision = self.configuration.retry.decide(
                    status: response.status, transportError: response.error, body: response.body,
                    retryAfter: response.retryAfter, attempt: item.attempts + 1, jitter: Double.random(in: 0...1), now: Self.now)
                self.record(item, decision, response: response, now: Self.now)
                self.drained.leave()
                self.pump()
            }
        }
    }

    private enum Preparation {
        case send(DeliveryRequest)
        case fail(String)
        case wait
    }

    private func prepare(_ item: OutboxItem) -> Preparation {
        var headers = [Header(name: "Content-Type", value: "application/json"), Header(name: "Accept", value: "application/json")]
        let url: String
        if item.sink == "isdown" {
            guard let key = configuration.apiKey, !key.isEmpty else { return .wait }
            headers.append(Header(name: "Authorization", value: "Bearer \(key)"))
            let base = configuration.isdownBaseURL.hasSuffix("/") ? String(configuration.isdownBaseURL.dropLast()) : configuration.isdownBaseURL
            if item.method == "POST" {
                url = base + IsDown.incidentsPath
            } else {
                guard let remote = (try? store.isdownID(incident: item.incidentID)) ?? nil else {
                    return .fail("IsDown returned no incident id for the create, so this update has nothing to patch")
                }
                url = base + IsDown.incidentsPath + "/" + (remote.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? remote)
            }
        } else {
            var sinks = configuration.webhooks.filter { $0.key == item.sink }
            if sinks.count > 1, let probe = (try? store.incident(id: item.incidentID))??.incident.probe {
                // Two probe files notify the same URL (perhaps with different headers): use the incident's own file's.
                sinks = sinks.filter { $0.probes.contains(probe) }
            }
            guard let sink = sinks.first else {
                return .fail("this webhook is no longer in the probe files")
            }
            headers += sink.headers
            url = sink.webhook
        }
        return .send(DeliveryRequest(method: item.method, url: url, headers: headers, body: Array(item.body.utf8),
                                     timeout: configuration.timeout))
    }

    /// `reason` without the secrets this worker holds (the API key, webhook header values): an API may
    /// echo what it received (`invalid token Bearer …`), and reasons go to the database, logs and the CLI.
    private func redacted(_ reason: String) -> String {
        let secrets = ([configuration.apiKey].compactMap { $0 } + configuration.webhooks.flatMap { $0.headers.map(\.value) })
            .filter { $0.count >= 6 }.sorted { $0.count > $1.count }
        return secrets.reduce(reason) { $0.replacingOccurrences(of: $1, with: "[redacted]") }
    }

    private func record(_ item: OutboxItem, _ decision: DeliveryDecision, response: DeliveryResponse?, now: Int64) {
        let decision: DeliveryDecision = switch decision {
        case .delivered: .delivered
        case .retry(let after, let reason): .retry(after: after, reason: redacted(reason))
        case .failed(let reason): .failed(reason: redacted(reason))
        }
        let target = item.sink == "isdown" ? "IsDown" : "webhook"
        let metadata: Logger.Metadata = ["incident.id": "\(item.incidentID)", "outbox.id": "\(item.id)", "sink": "\(target)",
                                         "method": "\(item.method)"]
        do {
            switch decision {
            case .delivered:
                var remote: String?
                if item.sink == "isdown", item.method == "POST" {
                    remote = response.flatMap { IsDown.createdID(from: $0.body) }
                    if remote == nil { logger.warning("IsDown accepted the incident but returned no id", metadata: metadata) }
                }
                try store.recordAttempt(item.id, state: .delivered, nextAttemptAt: now, error: nil, at: now, isdownID: remote)
                logger.info("incident call delivered to \(target)", metadata: metadata)
            case .retry(let after, let reason):
                try store.recordAttempt(item.id, state: .pending, nextAttemptAt: now + after.microseconds, error: reason, at: now)
                if item.attempts == 0 || (item.attempts + 1) % 10 == 0 {
                    logger.warning("incident call to \(target) not delivered, retrying in \(Human.latency(microseconds: after.microseconds)): \(reason)",
                                   metadata: metadata)
                }
            case .failed(let reason):
                try store.recordAttempt(item.id, state: .failed, nextAttemptAt: now, error: reason, at: now)
                logger.error("incident call to \(target) failed and will not be retried: \(reason) (fix it, then `prober deliveries retry`)",
                             metadata: metadata)
            }
        } catch {
            logger.warning("could not record a delivery attempt; it will be repeated", metadata: ["error": "\(error)"])
        }
    }
}
