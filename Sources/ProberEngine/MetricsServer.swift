import Foundation
import ProberCore
import ProberDelivery
import ProberHTTP
import ProberStorage

/// The engine's HTTP listener: `/metrics` (Prometheus text exposition) and `/healthz`, and the routes the
/// daemon adds beside them (`/api/v1`, the pages).
///
/// Names follow blackbox_exporter where the meaning is the same, with a `probe` label, so existing
/// dashboards work; prober's own metrics are prefixed `prober_`. The listener has its own thread and
/// bounds on slow clients, and a scrape only reads snapshots: it never blocks the scheduler.
public final class MetricsServer: Sendable {
    public let listener: HTTPListener
    /// Snapshots for `/metrics`, shared by the scrapes that arrive while one is taken.
    let scrapes = SharedBuild<MetricsSnapshot>()
    public var address: String { listener.host.contains(":") ? "[\(listener.host)]:\(listener.port)" : "\(listener.host):\(listener.port)" }

    public struct Sources: Sendable {
        public var scheduler: Scheduler
        public var tracker: IncidentTracker
        public var writer: any SampleRecording
        public var outbox: any OutboxStorage
        /// The daemon's delivery worker: its counts of undelivered calls, read without waiting for the store
        /// (`outbox` is asked only before the worker's first pass, or without a worker).
        public var outboxWorker: OutboxWorker?
        public var latest: LatestSamples
        /// Where this prober probes from (`--location`), the `location` label of `prober_info`.
        public var location: String
        /// The connectivity canaries' state (`prober_connectivity_*`, and `/healthz` says when it is lost).
        public var connectivity: ConnectivityMonitor?
        public init(scheduler: Scheduler, tracker: IncidentTracker, writer: any SampleRecording, outbox: any OutboxStorage, latest: LatestSamples,
                    location: String = Daemon.Configuration.hostLocation, connectivity: ConnectivityMonitor? = nil,
                    outboxWorker: OutboxWorker? = nil) {
            self.outboxWorker = outboxWorker
            self.connectivity = connectivity
            self.scheduler = scheduler
            self.tracker = tracker
            self.writer = writer
            self.outbox = outbox
            self.latest = latest
            self.location = location
        }
    }

    /// Serves `/metrics`, `/healthz` and what `routes` adds (the API and the pages) on one listener. With
    /// `token`, every path but `/healthz` needs `Authorization: Bearer <token>` (a liveness probe carries no
    /// secret). `errorPage` writes the router's 404/405/401 bodies.
    public init(host: String, port: UInt16, sources: Sources, staleAfter: Duration = .seconds(5), token: BearerToken? = nil,
                errorPage: (@Sendable (Int, String, ListenerRequest) -> ListenerResponse)? = nil,
                routes: (inout Router) -> Void = { _ in }) throws {
        var router = Router()
        Self.register(into: &router, scrapes: scrapes, sources: sources, staleAfter: staleAfter)
        routes(&router)
        if let errorPage { router.errorPage = errorPage }
        if let token { router.requireToken(token, except: ["/healthz"]) }
        listener = try HTTPListener(host: host, port: port, router: router)
    }

    /// `/metrics` (streamed from a shared snapshot) and `/healthz`.
    static func register(into router: inout Router, scrapes: SharedBuild<MetricsSnapshot>, sources: Sources, staleAfter: Duration) {
        router.get("/metrics") { _, respond in
            scrapes.run({ MetricsSnapshot(sources) }) { snapshot in
                respond(ListenerResponse(status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8",
                                         stream: ExpositionStream(snapshot)))
            }
        }
        router.get("/healthz") { _ in
            guard sources.scheduler.isLive(staleAfter: staleAfter) else {
                return ListenerResponse(status: 503, body: "scheduler stalled: no heartbeat for \(Human.duration(staleAfter))\n")
            }
            return ListenerResponse(status: 200, body: sources.connectivity.map(Self.healthBody) ?? "ok\n")
        }
    }

    /// `ok`, or, while every connectivity canary fails, 200 still (a restart brings no network back, and a
    /// supervisor restarting prober in a loop would lose its checks) with a line saying so.
    static func healthBody(_ connectivity: ConnectivityMonitor) -> String {
        let reading = connectivity.reading()
        guard reading.lost, let since = reading.since else { return "ok\n" }
        return "ok; prober's own connectivity lost since \(UTCTime.iso8601(since)): \(reading.failures)\n"
    }

    public func start() { listener.start() }
    public func stop() { listener.stop() }
}

/// What a scrape shows, copied out of the daemon's tables in compact, name-ordered arrays.
///
/// At 10,000 probes it is ~1 MB, and the exposition text rendered from it (~5 MB) is streamed a piece at a
/// time (`ExpositionStream`). Building the whole text at once, plus the copy of the latest-check table a
/// scrape used to force on the probe engine, made each scrape the daemon's peak memory (+7 MB).
struct MetricsSnapshot: Sendable {
    /// Every probe's latest check, by name; `http[i]` tells whether `probes[i]` is an HTTP probe. (Apart: a second
    /// array of rows with the flag cost another 4 MB during a scrape at 60,000 probes.)
    var probes: [(name: String, check: LatestCheck)]
    var http: [Bool]
    var levels: [(name: String, level: Level)]
    var openIncidents: [(level: Severity, count: Int)]
    var scheduler: SchedulerStats
    var skipped: [(name: String, count: Int)]
    var writer: IngestStatistics
    var outboxPending: Int
    var outboxFailed: Int
    var location: String
    /// Probes in a maintenance window or silenced, by name.
    var quiet: [(name: String, reason: String)] = []
    var connectivity: ConnectivityMonitor.Reading?

    init(_ s: MetricsServer.Sources) {
        location = s.location
        connectivity = s.connectivity?.reading()
        // HTTP probes by their spec, not by what the check holds: a check that got no response (refused,
        // timed out) still reports probe_http_status_code 0, as blackbox_exporter does.
        let specs = s.tracker.specs()
        // Sorted in place: `sorted` would hold a second copy of each table while it runs.
        probes = s.latest.rows()
        probes.sort { $0.name < $1.name }
        http = probes.map { name, check in
            guard let spec = specs[name] else { return check.answeredHTTP }
            if case .http = spec.target { return true }
            return false
        }

        let levels = s.tracker.levels()
        self.levels = levels.map { ($0.key, $0.value.level) }
        self.levels.sort { $0.name < $1.name }
        openIncidents = Severity.allCases.map { level in (level, levels.values.filter { $0.incident == level }.count) }
        quiet = s.tracker.quietPeriods().map { ($0.key, $0.value.reason.rawValue) }.sorted { $0.name < $1.name }

        scheduler = s.scheduler.totals
        skipped = s.scheduler.skippedTicks()
        skipped.sort { $0.name < $1.name }
        writer = s.writer.statistics
        if let counts = s.outboxWorker?.counts {
            outboxPending = counts.pending
            outboxFailed = counts.failed
        } else {
            let undelivered = (try? s.outbox.undelivered()) ?? []
            outboxPending = undelivered.count { $0.state == .pending }
            outboxFailed = undelivered.count { $0.state == .failed }
        }
    }
}

/// Renders a snapshot's exposition about `pieceSize` bytes at a time, as the listener asks for them.
///
/// Names follow blackbox_exporter where the meaning is the same; every family is written in probe-name order.
/// `@unchecked Sendable`: the listener calls `next()` from its one thread.
final class ExpositionStream: BodyStream, @unchecked Sendable {
    static let pieceSize = 64 * 1024

    private let snapshot: MetricsSnapshot
    private var section = 0
    private var row = 0

    init(_ snapshot: MetricsSnapshot) { self.snapshot = snapshot }

    func next() -> [UInt8]? {
        var out = Exposition(reservingCapacity: Self.pieceSize + 1024)
        while out.count < Self.pieceSize, section < Self.sections {
            if render(section, into: &out) {
                section += 1
                row = 0
            }
        }
        return out.count == 0 ? nil : out.bytes
    }

    private static let sections = 10
    private static let phases: [(String, Phases.Name)] = [("resolve", .dns), ("connect", .connect), ("tls", .tls),
                                                          ("processing", .processing), ("transfer", .transfer)]

    /// Writes section `section` from `row` on until the piece is full; true when the section is done.
    private func render(_ section: Int, into out: inout Exposition) -> Bool {
        let s = snapshot
        switch section {
        case 0:
            return rows(s.probes.count, &out, family: ("probe_success", "gauge", "Whether the probe's latest check passed (1) or failed (0).")) { i, out in
                out.sample("probe_success", ["probe": s.probes[i].name], s.probes[i].check.ok ? 1 : 0)
            }
        case 1:
            return rows(s.probes.count, &out, family: ("probe_duration_seconds", "gauge", "Total duration of the probe's latest check.")) { i, out in
                if let total = s.probes[i].check.phases[.total] { out.sample("probe_duration_seconds", ["probe": s.probes[i].name], Double(total) / 1e6) }
            }
        case 2:
            return rows(s.probes.count, &out, family: ("probe_http_duration_seconds", "gauge", "Duration of each phase of the latest HTTP check.")) { i, out in
                let probe = s.probes[i]
                guard s.http[i] else { return }
                for (label, phase) in Self.phases {
                    if let v = probe.check.phases[phase] {
                        out.sample("probe_http_duration_seconds", ["probe": probe.name, "phase": label], Double(v) / 1e6)
                    }
                }
            }
        case 3:
            return rows(s.probes.count, &out, family: ("probe_http_status_code", "gauge", "HTTP status of the latest check (0 when no response).")) { i, out in
                let probe = s.probes[i]
                if s.http[i] { out.sample("probe_http_status_code", ["probe": probe.name], Double(probe.check.status ?? 0)) }
            }
        case 4:
            return rows(s.probes.count, &out, family: ("probe_ssl_earliest_cert_expiry", "gauge", "Earliest expiry in the verified chain, Unix seconds.")) { i, out in
                if let expiry = s.probes[i].check.earliestExpiry {
                    out.sample("probe_ssl_earliest_cert_expiry", ["probe": s.probes[i].name], Double(expiry))
                }
            }
        case 5:
            return rows(s.probes.count, &out, family: ("probe_failure_reason", "gauge", "1 for the failure reason of the latest check when it failed.")) { i, out in
                if let reason = s.probes[i].check.reason {
                    out.sample("probe_failure_reason", ["probe": s.probes[i].name, "reason": reason.rawValue], 1)
                }
            }
        case 6:
            return rows(s.levels.count, &out, family: ("prober_probe_level", "gauge", "The evaluator's level per probe: 0 healthy, 1 minor, 2 major.")) { i, out in
                out.sample("prober_probe_level", ["probe": s.levels[i].name], Double(s.levels[i].level.rawValue))
            }
        case 7:
            out.family("prober_info", "gauge", "Always 1: this prober's version and the location it probes from (--location).")
            out.sample("prober_info", ["version": proberVersion, "location": s.location], 1)
            out.family("prober_open_incidents", "gauge", "Open incidents by level.")
            for (level, count) in s.openIncidents { out.sample("prober_open_incidents", ["level": level.rawValue], Double(count)) }
            out.family("prober_probe_quiet", "gauge", "1 for each probe in a maintenance window (reason maintenance) or silenced by prober silence (reason silenced).")
            for q in s.quiet { out.sample("prober_probe_quiet", ["probe": q.name, "reason": q.reason], 1) }
            let stats = s.scheduler
            out.family("prober_tick_lateness_seconds", "histogram", "How late each tick started against its due time.")
            for (bound, count) in stats.lateness.cumulative {
                out.sample("prober_tick_lateness_seconds_bucket", ["le": Exposition.number(Double(bound) / 1e6)], Double(count))
            }
            out.sample("prober_tick_lateness_seconds_bucket", ["le": "+Inf"], Double(stats.lateness.count))
            out.sample("prober_tick_lateness_seconds_sum", [:], Double(stats.lateness.sum) / 1e6)
            out.sample("prober_tick_lateness_seconds_count", [:], Double(stats.lateness.count))
            out.family("prober_tick_lateness_max_seconds", "gauge", "The latest tick of all so far.")
            out.sample("prober_tick_lateness_max_seconds", [:], Double(stats.lateness.max) / 1e6)
            return true
        case 8:
            return rows(s.skipped.count, &out, family: ("prober_skipped_ticks_total", "counter", "Ticks skipped because the probe's previous check was still running, or missed.")) { i, out in
                out.sample("prober_skipped_ticks_total", ["probe": s.skipped[i].name], Double(s.skipped[i].count))
            }
        default:
            out.family("prober_log_lines_dropped_total", "counter", "Log lines dropped because standard error was not being read.")
            out.sample("prober_log_lines_dropped_total", [:], Double(ProcessCounters.droppedLogLines.load(ordering: .relaxed)))
            out.family("prober_scheduler_skipped_ticks_total", "counter",
                       "Ticks skipped since start, by reason: overlap (the probe's previous check still running), missed (the scheduler stalled), overload (waited past min(interval/2, 2 s) for a slot: more probes than prober can run).")
            for (reason, count) in [("overlap", s.scheduler.skippedOverlap), ("missed", s.scheduler.missed), ("overload", s.scheduler.overload)] {
                out.sample("prober_scheduler_skipped_ticks_total", ["reason": reason], Double(count))
            }
            out.family("prober_checks_ignored_total", "counter", "Checks the evaluator left out, by reason: overload (prober's own delay distorted them).")
            out.sample("prober_checks_ignored_total", ["reason": "overload"], Double(s.scheduler.distorted))
            out.family("prober_checks_in_flight", "gauge", "Checks running now.")
            out.sample("prober_checks_in_flight", [:], Double(s.scheduler.inFlight))
            out.family("prober_checks_total", "counter", "Checks finished.")
            out.sample("prober_checks_total", [:], Double(s.scheduler.finished))
            out.family("prober_store_queue_depth", "gauge", "Samples waiting to be written to the database (the on-disk spool included).")
            out.sample("prober_store_queue_depth", [:], Double(s.writer.pending))
            out.family("prober_store_dropped_samples_total", "counter", "Samples dropped because the write queue was full.")
            out.sample("prober_store_dropped_samples_total", [:], Double(s.writer.dropped))
            out.family("prober_store_spooled_samples", "gauge", "Samples held in the on-disk spool while the database cannot take them (part of the queue depth).")
            out.sample("prober_store_spooled_samples", [:], Double(s.writer.spooled))
            out.family("prober_store_spooled_bytes", "gauge", "Bytes the on-disk spool takes.")
            out.sample("prober_store_spooled_bytes", [:], Double(s.writer.spooledBytes))
            Self.render(s.writer.commitLag, "prober_store_commit_lag_seconds",
                        "Each stored sample's lag from its check's end to its commit.", into: &out)
            Self.render(s.writer.batchWrite, "prober_store_batch_write_seconds",
                        "How long each batch of samples took to write (its transaction).", into: &out)
            out.family("prober_outbox_pending", "gauge", "Incident calls waiting to be delivered.")
            out.sample("prober_outbox_pending", [:], Double(s.outboxPending))
            out.family("prober_outbox_failed", "gauge", "Incident calls that failed and wait for `prober deliveries retry`.")
            out.sample("prober_outbox_failed", [:], Double(s.outboxFailed))
            if let connectivity = s.connectivity, connectivity.watching { Self.render(connectivity, into: &out) }
            return true
        }
    }

    /// Writes the family head when starting, then rows from `row` on while the piece has room.
    private func rows(_ count: Int, _ out: inout Exposition, family: (String, String, String),
                      _ body: (Int, inout Exposition) -> Void) -> Bool {
        if row == 0 { out.family(family.0, family.1, family.2) }
        while row < count {
            if out.count >= Self.pieceSize { return false }
            body(row, &out)
            row += 1
        }
        return true
    }
}

/// One build at a time, its result handed to everyone who asked while it ran.
///
/// A burst of concurrent scrapes (up to the listener's 128 connections) takes one snapshot, not one each: each
/// would otherwise copy every table and take the cores from the scheduler. A scrape gets data at most one
/// snapshot old. Rendering the text is per connection, on the listener's one thread, as each client reads.
final class SharedBuild<Result: Sendable>: Sendable {
    private struct State {
        var building = false
        var waiting: [@Sendable (Result) -> Void] = []
        /// Builds run so far (for tests).
        var builds = 0
    }

    private let state = Locked(State())

    var builds: Int { state.current.builds }
    /// Callers waiting for the build in progress, the one building included.
    var waiting: Int { state.current.waiting.count }

    /// Calls `deliver` with the result of `build`, run now on this thread, or of the build already running.
    func run(_ build: () -> Result, deliver: @escaping @Sendable (Result) -> Void) {
        let leads = state.withLock { s -> Bool in
            s.waiting.append(deliver)
            if s.building { return false }
            s.building = true
            s.builds += 1
            return true
        }
        guard leads else { return }
        let result = build()
        let waiting = state.withLock { s -> [@Sendable (Result) -> Void] in
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
    var count: Int { bytes.count }

    init(reservingCapacity capacity: Int = 0) { bytes.reserveCapacity(capacity) }

    mutating func family(_ name: String, _ type: String, _ help: String) {
        append("# HELP \(name) \(help)\n# TYPE \(name) \(type)\n")
    }

    mutating func sample(_ name: String, _ labels: KeyValuePairs<String, String>, _ value: Double) {
        append(name)
        if !labels.isEmpty {
            // Written in label-name order (callers pass at most two labels, so no sorted copy is made for them).
            if labels.count == 2 {
                let swap = labels[1].key < labels[0].key
                label(labels[swap ? 1 : 0], first: true)
                label(labels[swap ? 0 : 1], first: false)
            } else {
                for (i, pair) in labels.sorted(by: { $0.key < $1.key }).enumerated() { label(pair, first: i == 0) }
            }
            bytes.append(UInt8(ascii: "}"))
        }
        bytes.append(UInt8(ascii: " "))
        append(Self.number(value))
        bytes.append(UInt8(ascii: "\n"))
    }

    private mutating func label(_ pair: (key: String, value: String), first: Bool) {
        bytes.append(first ? UInt8(ascii: "{") : UInt8(ascii: ","))
        append(pair.key)
        bytes.append(UInt8(ascii: "="))
        bytes.append(UInt8(ascii: "\""))
        Self.escape(pair.value, into: &bytes)
        bytes.append(UInt8(ascii: "\""))
    }

    private mutating func append(_ s: String) { bytes.append(contentsOf: s.utf8) }

    static func number(_ v: Double) -> String {
        if v.isNaN { return "NaN" }
        if v.isInfinite { return v > 0 ? "+Inf" : "-Inf" }
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        return String(v)
    }

    /// A label value as the text format wants it: backslash, double quote and line feed escaped, byte by byte (the
    /// three are ASCII, so they never occur inside a multi-byte UTF-8 sequence).
    static func escape(_ s: String, into out: inout [UInt8]) {
        for byte in s.utf8 {
            switch byte {
            case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "\\"))
            case UInt8(ascii: "\""): out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "\""))
            case UInt8(ascii: "\n"): out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "n"))
            default: out.append(byte)
            }
        }
    }
}
