import Dispatch
import Foundation
import Logging
import ProberConfig
import ProberCore
import ProberDelivery
import ProberBackends
import ProberDocuments
import ProberHTTP
import ProberProbes
import ProberStorage
import ProberStore
import ProberWeb

/// The watchdog as one process: it owns every component, starts them in order, reloads the probe files and
/// stops the components in reverse order, draining what is in flight.
///
/// Start order (each needs the ones before it): the instance lock, the store, the libcurl engine, the sample
/// writer, the delivery worker, the incident tracker, storage maintenance, the probe run loop, the heartbeat
/// (`prober fleet`), the HTTP listener. Stop runs the same list backwards, so the listener stops first, the run loop stops ticking and
/// waits for its checks in flight, the tracker evaluates the last samples (waking the delivery worker; at most 10 s), the
/// delivery worker waits for its calls in flight, the writer writes the last samples, and the lock goes last.
/// This is swift-service-lifecycle's `ServiceGroup` shape, on Dispatch: `prober run` parses its flags,
/// builds a `Configuration` and calls `run()`.
///
/// `@unchecked Sendable`: everything is set in `init` and immutable after, except `stopped`, guarded by a lock.
public final class Daemon: @unchecked Sendable {
    public let configuration: Configuration
    private let logger: Logger
    private let components: [Component]
    private let stopped = Locked(false)
    /// Samples the sample writer could not write at shutdown (set by its stop).
    private let unwritten = Locked(0)
    /// Whether the last registration of probes in storage failed: the next reload then registers every probe.
    private let registrationFailed = Locked(false)

    // The parts `reload()` and the listener talk to.
    private let runLoop: ProbeRunLoop
    private let storage: any Storage
    private let writer: any SampleRecording
    private let tracker: IncidentTracker
    private let worker: OutboxWorker
    private let maintenance: MaintenanceWorker
    private let pipeline: Pipeline
    private let metrics: MetricsServer?

    /// Builds every component (nothing runs yet). Throws a `DaemonError` saying what is wrong and which exit
    /// code it deserves: 2 for the configuration (invalid probe files), 1 for the environment (the database,
    /// the listen address, a second instance).
    public init(configuration: Configuration, logger: Logger) throws(DaemonError) {
        self.configuration = configuration
        self.logger = logger
        if let listen = configuration.listen, !listen.isLoopback, configuration.listenToken == nil, !configuration.listenInsecure {
            throw DaemonError(message: "refusing to serve history on \(listen), beyond loopback, without a token: "
                + "give --listen-token-file FILE (clients send Authorization: Bearer <token>), "
                + "or --listen-insecure if every host that can reach it may read it", exitCode: 2)
        }
        let set: ProbeSet
        do {
            set = try ProbeLoader.load(directory: configuration.probes, environment: configuration.environment)
        } catch {
            throw DaemonError(message: "\(error)", exitCode: 2, prefixed: false)
        }
        Self.warnAboutWeakenedSecurity(set, logger: logger)
        if let problem = Configuration.locationProblem(configuration.location) {
            throw DaemonError(message: "--location \(problem)", exitCode: 2)
        }
        var source: SourceAddress?
        if let address = configuration.sourceAddress {
            guard let parsed = SourceAddress(address) else {
                throw DaemonError(message: "--source-address \(SourceAddress.problem(address) ?? address)", exitCode: 2)
            }
            source = parsed
        }

        // A PostgreSQL history is shared by many probers: no local lock (the database arbitrates), but a spool of
        // this prober's own (locked) for the samples the server cannot take.
        var spool: SampleSpool?
        if RedactedDatabaseURL.isServerURL(configuration.database) {
            do {
                spool = try SampleSpool(.init(directory: configuration.spoolDirectory, maxBytes: configuration.spoolMaxBytes),
                                        warning: { [logger] in logger.warning("spool: \($0)") })
            } catch {
                throw DaemonError(message: "--spool: \(error)", exitCode: 2)
            }
        }
        let lock: InstanceLock?
        let storage: any Storage
        let engine: ShardedEngine
        do {
            lock = spool != nil ? nil : try InstanceLock(database: configuration.database)
            storage = try StorageBackend.open(database: configuration.database, readOnly: false, site: configuration.location,
                                              spool: spool)
            try storage.register(set.probes)
            engine = try ShardedEngine(count: ShardedEngine.count(for: set.probes), sourceAddress: source)
        } catch {
            // Credentials the server refused are configuration (2); an unreachable or failing database is 1.
            throw DaemonError(message: "\(error)", exitCode: (error as? any StorageError)?.kind == .configuration ? 2 : 1)
        }
        let unwritten = self.unwritten
        let writer = storage.makeSampleRecorder(warning: { [logger] in logger.warning("storage: \($0)") })
        let worker = OutboxWorker(storage: storage, sinks: configuration.sinks(set.notify), logger: logger, send: engine.deliver)
        let tracker = IncidentTracker(store: storage, logger: logger, location: configuration.location, onChange: { worker.wake() })
        tracker.update(probes: set.probes, sinks: configuration.sinks(set.notify))
        let silences = SilenceWatcher(storage: storage, logger: logger) { tracker.silence($0) }
        // The heartbeat is built after the pipeline but beats at once when connectivity changes (`prober status`).
        let connectivityChanged = Locked<(@Sendable () -> Void)?>(nil)
        let connectivity = ConnectivityMonitor(canaries: set.canaries, probes: set.probes, logger: logger,
                                               onChange: { _ in connectivityChanged.current?() })
        let pipeline = Pipeline(writer: writer, tracker: tracker, connectivity: connectivity)
        let runLoop = ProbeRunLoop(
            probes: set, runner: engine, sink: pipeline, logger: logger,
            configuration: .init(scheduler: .init(maxInFlight: configuration.maxInFlight), database: storage.database,
                                 notifier: configuration.notifier))
        let maintenance = MaintenanceWorker(storage: storage, policy: set.storage, report: { [logger] result in
            if case .failure(let error) = result {
                logger.warning("storage maintenance failed; it will run again in a minute", metadata: ["error": "\(error)"])
            }
        })
        let scheduler = runLoop.scheduler
        let heartbeat = Heartbeat(directory: storage, location: configuration.location, every: configuration.heartbeatEvery,
                                  logger: logger) { [weak runLoop] in
            let totals = scheduler.totals
            return Heartbeat.Reading(probes: runLoop?.probeCount ?? 0, lateness: totals.lateness, ingest: writer.statistics,
                                     connectivity: connectivity.reading(), overloadSkipped: totals.overload,
                                     delayedChecks: totals.distorted)
        }
        connectivityChanged.withLock { $0 = { [weak heartbeat] in heartbeat?.beatNow() } }
        var metrics: MetricsServer?
        if let listen = configuration.listen {
            do {
                // The API and the pages query through their own queue and read-only storage, never the writer's.
                let database = configuration.database
                let reader = StorageReader(open: { try StorageBackend.open(database: database, readOnly: true) })
                // `/` takes each probe's last check from memory where this prober is the only one writing checks.
                let latest = pipeline.latest
                let remembered: StatusCache.RememberedChecks? = storage is any FleetStorage ? nil : { @Sendable in latest.lastChecks() }
                metrics = try MetricsServer(host: listen.host, port: listen.port, sources: .init(
                    scheduler: runLoop.scheduler, tracker: tracker, writer: writer, outbox: storage, latest: pipeline.latest,
                    location: configuration.location, connectivity: connectivity, outboxWorker: worker),
                    token: configuration.listenToken, errorPage: APIRoutes.errorPage) { router in
                        APIRoutes.register(into: &router, reader: reader)
                        ProberWeb.register(into: &router, reader: reader, remembered: remembered)
                    }
            } catch {
                throw DaemonError(message: "cannot listen on \(listen): \(error)", exitCode: 1)
            }
        }
        self.storage = storage
        self.writer = writer
        self.tracker = tracker
        self.worker = worker
        self.maintenance = maintenance
        self.pipeline = pipeline
        self.runLoop = runLoop
        self.metrics = metrics

        components = [
            Component("instance lock", stop: { lock?.release() }),
            Component("libcurl engine", stop: { engine.shutdown() }),
            Component("sample writer", stop: { [logger] in
                do { try writer.close() } catch {
                    // Samples in the on-disk spool are not lost: the next start sends them.
                    let lost = writer.statistics.pending - writer.statistics.spooled
                    unwritten.withLock { $0 = lost }
                    logger.error("could not write the last samples: \(lost) samples are lost", metadata: ["error": "\(error)"])
                }
            }),
            Component("delivery worker", start: { worker.start() }, stop: { worker.stop() }),
            Component("incident tracker", stop: { tracker.stop() }),
            Component("silence watcher", start: { silences.start() }, stop: { silences.stop() }),
            Component("storage maintenance", start: { maintenance.start() }, stop: { maintenance.stop() }),
            Component("probe run loop", start: { [logger] in
                var metadata: Logger.Metadata = ["location": "\(configuration.location)"]
                if let source { metadata["source_address"] = "\(source)" }
                let bound = source.map { ", every probe bound to source address \($0)" } ?? ""
                let threads = engine.shards.count == 1 ? "" : " on \(engine.shards.count) libcurl threads"
                logger.info("probing from location \(configuration.location)\(bound)\(threads)", metadata: metadata)
                runLoop.start()
                // Parsing a large probe set leaves freed YAML nodes behind: hand those pages back.
                Allocator.releaseFreePages()
            }, stop: { _ = runLoop.shutdown(drain: true) }),
            Component("heartbeat", start: { heartbeat.start() }, stop: { heartbeat.stop() }),
            Component("HTTP listener", start: { [logger] in
                guard let metrics else { return }
                metrics.start()
                let token = configuration.listenToken == nil ? "" : "; a bearer token is required but for /healthz"
                logger.info("serving /metrics and /healthz on http://\(metrics.address) (and /api/v1 and the pages\(token))")
            }, stop: { metrics?.stop() }),
        ]
    }

    /// Starts the components in order.
    public func start() {
        for component in components { component.start() }
    }

    /// Stops the components in reverse order, each after the one started after it has drained. Idempotent.
    /// Returns how many samples could not be written to storage and are lost (0 on a second call).
    @discardableResult
    public func stop() -> Int {
        let first = stopped.withLock { stopped in
            defer { stopped = true }
            return !stopped
        }
        guard first else { return 0 }
        for component in components.reversed() { component.stop() }
        return unwritten.withLock { $0 }
    }

    /// Reloads the probe files. An invalid set is logged (the same messages as `prober check`) and the current
    /// set keeps running; a valid one replaces it in the run loop, the store (its new and changed probes), the tracker,
    /// the delivery worker, `/metrics` and maintenance. Loading runs on its own thread and is abandoned after `Configuration.reloadDeadline`;
    /// after `stop()` nothing is applied.
    public func reload() {
        guard let outcome = loadProbeFiles() else {
            logger.error("reload abandoned: loading \(configuration.probes) took longer than \(Human.duration(configuration.reloadDeadline)); keeping the current set")
            return
        }
        // Under the `stopped` lock: a reload is applied entirely before `stop()` begins, or not at all.
        stopped.withLock { stopped in
            guard !stopped else { return }
            var loaded: ProbeSet?
            let previous = runLoop.probes
            let ok = runLoop.reload(loading: {
                let next = try outcome.get()
                loaded = next
                return next
            })
            guard ok, let next = loaded else { return }
            Self.warnAboutWeakenedSecurity(next, logger: logger)
            // Only the new and changed probes (all of them after a failed registration). Registering 30,000 unchanged
            // ones took 0.7-0.9 s of allocation on the store's thread, and the libcurl thread, which shared one of two
            // glibc malloc arenas with the others, waited on its lock: ticks up to 0.7 s late.
            let registering = registrationFailed.current ? next.probes : Self.changed(next.probes, since: previous)
            do {
                try storage.register(registering)
                registrationFailed.withLock { $0 = false }
            } catch {
                registrationFailed.withLock { $0 = true }
                logger.warning("could not register the reloaded probes in the store", metadata: ["error": "\(error)"])
            }
            let sinks = configuration.sinks(next.notify)
            tracker.update(probes: next.probes, sinks: sinks)
            worker.update(sinks: sinks)
            pipeline.latest.retain(Set(next.probes.map(\.name)))
            pipeline.connectivity?.update(canaries: next.canaries, probes: next.probes)
            maintenance.update(policy: next.storage)
        }
    }

    /// The probes of `next` that are new or differ in anything from their namesake in `previous` (the registry keeps
    /// where each was declared, so a probe that moved counts as changed).
    static func changed(_ next: [ProbeSpec], since previous: [ProbeSpec]) -> [ProbeSpec] {
        var index: [String: Int] = [:]
        index.reserveCapacity(previous.count)
        for (i, spec) in previous.enumerated() { index[spec.name] = i }
        return next.filter { spec in index[spec.name].map { previous[$0] != spec } ?? true }
    }

    /// The loaded probe files, or nil when loading took longer than `Configuration.reloadDeadline`. The loading thread is
    /// left to finish on its own then (a thread cannot be cancelled); its result is dropped.
    private func loadProbeFiles() -> Result<ProbeSet, ConfigErrors>? {
        let result = Locked<Result<ProbeSet, ConfigErrors>?>(nil)
        let done = DispatchSemaphore(value: 0)
        let (directory, environment) = (configuration.probes, configuration.environment)
        let loader = Thread {
            let loaded = Result { () throws(ConfigErrors) in try ProbeLoader.load(directory: directory, environment: environment) }
            result.withLock { $0 = loaded }
            done.signal()
        }
        loader.name = "prober.reload"
        loader.start()
        let deadline = DispatchTime.now() + .microseconds(Int(configuration.reloadDeadline.microseconds))
        guard done.wait(timeout: deadline) == .success else { return nil }
        return result.current
    }

    /// The process: ignores SIGPIPE, starts, reloads on SIGHUP, stops on SIGTERM or SIGINT and exits 0,
    /// or 1 when samples could not be written and are lost (a full disk at shutdown): a supervisor must see that.
    ///
    /// Reloads run one at a time on their own queue, never on the signal handlers' queue: a reload still
    /// loading never delays SIGTERM.
    public func run() -> Never {
        // A peer that closes early must cost a failed write, never the process: every socket write already says
        // MSG_NOSIGNAL and libcurl's CURLOPT_NOSIGNAL is set, this covers pipes and anything missed.
        signal(SIGPIPE, SIG_IGN)
        let signals = SignalHandling()
        let reloads = DispatchQueue(label: "prober.reloads")
        signals.onReload { [self] in reloads.async { self.reload() } }
        signals.onTerminate { [self] signal in
            logger.info("received \(signal == SIGINT ? "SIGINT" : "SIGTERM"): stopping")
            let lost = stop()
            if lost > 0 {
                logger.error("exiting with status 1: \(lost) samples could not be written to \(RedactedDatabaseURL(configuration.database))")
            }
            Foundation.exit(lost > 0 ? 1 : 0)
        }
        start()
        dispatchMain()
    }

    /// Says, once per load, which probes opted out of a safe default (no secret is in these messages).
    private static func warnAboutWeakenedSecurity(_ set: ProbeSet, logger: Logger) {
        for spec in set.probes {
            for warning in spec.securityWarnings { logger.warning("\(warning)", metadata: ["probe.name": "\(spec.name)"]) }
        }
    }

    /// A part of the daemon with what starting and stopping it means.
    private struct Component {
        let name: String
        let start: () -> Void
        let stop: () -> Void

        init(_ name: String, start: @escaping () -> Void = {}, stop: @escaping () -> Void) {
            self.name = name
            self.start = start
            self.stop = stop
        }
    }
}

/// Why the daemon could not start, and the exit code that says so.
public struct DaemonError: Error, CustomStringConvertible, Sendable {
    public var message: String
    /// 2: the configuration (probe files, flags, environment); 1: the machine (database, port, another instance).
    public var exitCode: Int32
    /// Whether the message is printed after `prober: ` (the loader's `path:line:column:` lines are not).
    public var prefixed: Bool = true

    public var description: String { prefixed ? "prober: \(message)" : message }
}
