import Foundation
import ProberCore
import ProberStore

/// `/metrics` (Prometheus text exposition) and `/healthz` on the engine's HTTP listener.
///
/// Names follow blackbox_exporter where the meaning is the same, with a `probe` label, so existing
/// dashboards work; prober's own metrics are prefixed `prober_`. The listener has its own thread and
/// bounds on slow clients, and a scrape only reads snapshots: it never blocks the scheduler.
public final class MetricsServer: Sendable {
    public let listener: HTTPListener
    /// Builds of `/metrics` bodies, shared by the scrapes that arrive during each.
    let scrapes = SharedBuild()
    public var address: String { listener.host.contains(":") ? "[\(listener.host)]:\(listener.port)" : "\(listener.host):\(listener.port)" }

    public struct Sources: Sendable {
        public var scheduler: Scheduler
        public var tracker: IncidentTracker
        public var writer: SampleWriter
        public var store: Store
        public var latest: LatestSamples
        public init(scheduler: Scheduler, tracker: IncidentTracker, writer: SampleWriter, store: Store, latest: LatestSamples) {
            self.scheduler = scheduler
            self.tracker = tracker
            self.writer = writer
            self.store = store
            self.latest = latest
        }
    }

    public init(host: String, port: UInt16, sources: Sources, staleAfter: Duration = .seconds(5)) throws {
        let scrapes = self.scrapes
        let lastSize = Locked(0)
        listener = try HTTPListener(host: host, port: port) { request, respond in
            switch (request.method, request.path) {
            case ("GET", "/metrics"), ("HEAD", "/metrics"):
                scrapes.run({
                    let last = lastSize.current
                    let body = MetricsServer.exposition(sources, capacity: last + last / 8)
                    lastSize.withLock { $0 = body.count }
                    return body
                }) { body in
                    respond(ListenerResponse(status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8", body: body))
                }
            case ("GET", "/healthz"), ("HEAD", "/healthz"):
                if sources.scheduler.isLive(staleAfter: staleAfter) {
                    respond(ListenerResponse(status: 200, body: "ok\n"))
                } else {
                    respond(ListenerResponse(status: 503, body: "scheduler stalled: no heartbeat for \(Human.duration(staleAfter))\n"))
                }
            case (_, "/metrics"), (_, "/healthz"):
                respond(ListenerResponse(status: 405, body: "method not allowed\n", headers: [Header(name: "Allow", value: "GET, HEAD")]))
            default:
                respond(ListenerResponse(status: 404, body: "not found: try /metrics or /healthz\n"))
            }
        }
    }

    public func start() { listener.start() }
    public func stop() { listener.stop() }

    /// The whole exposition, from snapshots.
    ///
    /// Built straight into bytes, walking sorted names rather than sorted copies of the snapshots: at 10,000
    /// probes a scrape used to allocate 17 MB (a doubling `String`, its copy as bytes, sorted arrays of
    /// samples) on top of the daemon's own memory. Room is reserved for the larger of `capacity` (the caller's
    /// guess from the previous body) and 512 bytes per probe, so the buffer is not regrown and copied; pages
    /// reserved but not written are never touched.
    static func exposition(_ s: Sources, capacity: Int = 0) -> [UInt8] {
        let latest = s.latest.all
        let names = latest.keys.sorted()
        var out = Exposition(reservingCapacity: max(capacity, 4096 + 512 * names.count))

        out.family("probe_success", "gauge", "Whether the probe's latest check passed (1) or failed (0).")
        for name in names { out.sample("probe_success", ["probe": name], latest[name]!.ok ? 1 : 0) }
        out.family("probe_duration_seconds", "gauge", "Total duration of the probe's latest check.")
        for name in names {
            if let total = latest[name]!.phases[.total] { out.sample("probe_duration_seconds", ["probe": name], Double(total) / 1e6) }
        }
        out.family("probe_http_duration_seconds", "gauge", "Duration of each phase of the latest HTTP check.")
        let phases: [(String, Phases.Name)] = [("resolve", .dns), ("connect", .connect), ("tls", .tls),
                                              ("processing", .processing), ("transfer", .transfer)]
        // HTTP probes by their spec, not by what the check holds: a check that got no response (refused,
        // timed out) still reports probe_http_status_code 0, as blackbox_exporter does.
        let specs = s.tracker.specs()
        let http = names.filter { name in
            if let spec = specs[name] {
                if case .http = spec.target { return true }
                return false
            }
            return latest[name]!.answeredHTTP
        }
        for name in http {
            let check = latest[name]!
            for (label, phase) in phases {
                if let v = check.phases[phase] {
                    out.sample("probe_http_duration_seconds", ["probe": name, "phase": label], Double(v) / 1e6)
                }
            }
        }
        out.family("probe_http_status_code", "gauge", "HTTP status of the latest check (0 when no response).")
        for name in http {
            out.sample("probe_http_status_code", ["probe": name], Double(latest[name]!.status ?? 0))
        }
        out.family("probe_ssl_earliest_cert_expiry", "gauge", "Earliest expiry in the verified chain, Unix seconds.")
        for name in names {
            if let expiry = latest[name]!.earliestExpiry {
                out.sample("probe_ssl_earliest_cert_expiry", ["probe": name], Double(expiry))
            }
        }
        out.family("probe_failure_reason", "gauge", "1 for the failure reason of the latest check when it failed.")
        for name in names {
            if let reason = latest[name]!.reason { out.sample("probe_failure_reason", ["probe": name, "reason": reason.rawValue], 1) }
        }

        let levels = s.tracker.levels()
        out.family("prober_probe_level", "gauge", "The evaluator's level per probe: 0 healthy, 1 minor, 2 major.")
        for name in levels.keys.sorted() {
            out.sample("prober_probe_level", ["probe": name], Double(levels[name]!.level.rawValue))
        }
        out.family("prober_open_incidents", "gauge", "Open incidents by level.")
        for level in Severity.allCases {
            let n = levels.values.filter { $0.incident == level }.count
            out.sample("prober_open_incidents", ["level": level.rawValue], Double(n))
        }

        let stats = s.scheduler.totals
        out.family("prober_tick_lateness_seconds", "histogram", "How late each tick started against its due time.")
        for (bound, count) in stats.lateness.cumulative {
            out.sample("prober_tick_lateness_seconds_bucket", ["le": Exposition.number(Double(bound) / 1e6)], Double(count))
        }
        out.sample("prober_tick_lateness_seconds_bucket", ["le": "+Inf"], Double(stats.lateness.count))
        out.sample("prober_tick_lateness_seconds_sum", [:], Double(stats.lateness.sum) / 1e6)
        out.sample("prober_tick_lateness_seconds_count", [:], Double(stats.lateness.count))
        out.family("prober_tick_lateness_max_seconds", "gauge", "The latest tick of all so far.")
        out.sample("prober_tick_lateness_max_seconds", [:], Double(stats.lateness.max) / 1e6)
        out.family("prober_skipped_ticks_total", "counter", "Ticks skipped because the probe's previous check was still running, or missed.")
        let skipped = s.scheduler.skippedTicks()
        for name in skipped.keys.sorted() {
            out.sample("prober_skipped_ticks_total", ["probe": name], Double(skipped[name]!))
        }
        out.family("prober_checks_in_flight", "gauge", "Checks running now.")
        out.sample("prober_checks_in_flight", [:], Double(stats.inFlight))
        out.family("prober_checks_total", "counter", "Checks finished.")
        out.sample("prober_checks_total", [:], Double(stats.finished))

        let writer = s.writer.statistics
        out.family("prober_store_queue_depth", "gauge", "Samples waiting to be written to SQLite.")
        out.sample("prober_store_queue_depth", [:], Double(writer.pending))
        out.family("prober_store_dropped_samples_total", "counter", "Samples dropped because the write queue was full.")
        out.sample("prober_store_dropped_samples_total", [:], Double(writer.dropped))

        let undelivered = (try? s.store.undelivered()) ?? []
        out.family("prober_outbox_pending", "gauge", "Incident calls waiting to be delivered.")
        out.sample("prober_outbox_pending", [:], Double(undelivered.filter { $0.state == .pending }.count))
        out.family("prober_outbox_failed", "gauge", "Incident calls that failed and wait for `prober deliveries retry`.")
        out.sample("prober_outbox_failed", [:], Double(undelivered.filter { $0.state == .failed }.count))
        return out.bytes
    }
}

/// One build at a time, its result handed to everyone who asked while it ran.
///
/// A body costs about 50 µs of CPU per probe (0.1 s at 2,000 probes, measured): without this, a burst of
/// concurrent scrapes (up to the listener's 128 connections) would each build one and take the cores from the
/// scheduler. With it, a burst costs one build; a scrape gets data at most one build old.
final class SharedBuild: Sendable {
    private struct State {
        var building = false
        var waiting: [@Sendable ([UInt8]) -> Void] = []
        /// Builds run so far (for tests).
        var builds = 0
    }

    private let state = Locked(State())

    var builds: Int { state.current.builds }
    /// Callers waiting for the build in progress, the one building included.
    var waiting: Int { state.current.waiting.count }

    /// Calls `deliver` with the result of `build`, run now on this thread, or of the build already running.
    func run(_ build: () -> [UInt8], deliver: @escaping @Sendable ([UInt8]) -> Void) {
        let leads = state.withLock { s -> Bool in
            s.waiting.append(deliver)
            if s.building { return false }
            s.building = true
            s.builds += 1
            return true
        }
        guard leads else { return }
        let result = build()
        let waiting = state.withLock { s -> [@Sendable ([UInt8]) -> Void] in
            defer {
                s.waiting = []
                s.building = false
            }
            return s.waiting
        }
        for deliver in waiting { deliver(result) }
    }
}

/// Prometheus text format 0.0.4 writer, into bytes (what the listener sends).
struct Exposition {
    private(set) var bytes: [UInt8] = []

    init(reservingCapacity capacity: Int = 0) { bytes.reserveCapacity(capacity) }

    mutating func family(_ name: String, _ type: String, _ help: String) {
        append("# HELP \(name) \(help)\n# TYPE \(name) \(type)\n")
    }

    mutating func sample(_ name: String, _ labels: KeyValuePairs<String, String>, _ value: Double) {
        append(name)
        if !labels.isEmpty {
            // Written in label-name order, as before (callers pass at most two labels).
            var first = true
            for (key, label) in labels.sorted(by: { $0.key < $1.key }) {
                append(first ? "{" : ",")
                first = false
                append(key)
                append("=\"")
                append(Self.escape(label))
                append("\"")
            }
            append("}")
        }
        append(" ")
        append(Self.number(value))
        append("\n")
    }

    private mutating func append(_ s: String) { bytes.append(contentsOf: s.utf8) }

    static func number(_ v: Double) -> String {
        if v.isNaN { return "NaN" }
        if v.isInfinite { return v > 0 ? "+Inf" : "-Inf" }
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        return String(v)
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }
}
