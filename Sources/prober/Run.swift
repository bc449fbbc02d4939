import ArgumentParser
import Dispatch
import Foundation
import Logging
import ProberConfig
import ProberCore
import ProberDelivery
import ProberEngine
import ProberProbes
import ProberStore

/// `prober run`: the watchdog. Probes on Dispatch timers, every result to SQLite, incidents to IsDown.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the watchdog in the foreground until SIGTERM or SIGINT (SIGHUP reloads the probe files).",
        discussion: """
            Environment: ISDOWN_API_KEY (or ISDOWN_API_KEY_FILE, a file holding it) and ISDOWN_API_URL (scheme and \
            host only, default \(IsDownSink.defaultBaseURL)) for incident delivery; STATE_DIRECTORY (set by systemd's \
            StateDirectory=) holds the database when --db is not given; NOTIFY_SOCKET and WATCHDOG_USEC for systemd.
            """
    )

    @OptionGroup var probes: ProbesOptions
    @OptionGroup var database: DatabaseOptions

    @Option(name: .long, help: "Log format: text or json.")
    var logFormat: LogFormat = .text

    @Option(name: .long, help: "Lowest level logged: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    @Option(name: .long, help: "Most checks in flight at once; the rest wait their turn (their wait counts as lateness).")
    var maxInFlight: Int = 256

    @Option(name: .long, help: ArgumentHelp("Serve /metrics and /healthz on this address (off by default), e.g. 127.0.0.1:9464.", valueName: "host:port"))
    var listen: String?

    func validate() throws {
        guard maxInFlight >= 1 else { throw ValidationError("--max-in-flight must be at least 1") }
        if let listen, ListenAddress(listen) == nil {
            throw ValidationError("--listen '\(listen)' is not host:port (for example 127.0.0.1:9464)")
        }
    }

    /// The database: `--db`, or `$STATE_DIRECTORY/prober.db` under systemd when `--db` is left at its default.
    var databasePath: String {
        let env = ProcessInfo.processInfo.environment
        if database.db == DatabaseOptions.defaultPath, let dir = env["STATE_DIRECTORY"]?.split(separator: ":").first, !dir.isEmpty {
            return String(dir) + "/prober.db"
        }
        return database.db
    }

    func run() throws {
        // The daemon's threads (engine, scheduler, store, evaluator) would each get a glibc malloc arena;
        // two are plenty for this workload and keep resident memory from creeping up (measured at 10,000
        // probes: 117 MB -> 84 MB after a minute).
        _ = GlibcMalloc.mallopt(GlibcMalloc.arenaMax, 2)
        // A fixed mmap threshold: glibc otherwise raises it to the size of the largest block freed, so after the
        // first scrape every /metrics body (~5 MB at 10,000 probes) came from the heap and stayed resident
        // (measured: +10 MB RSS at the second scrape). Now each body is mapped and unmapped.
        _ = GlibcMalloc.mallopt(GlibcMalloc.mmapThreshold, 128 * 1024)
        LogSetup.bootstrap(format: logFormat, level: logLevel)
        let logger = Logger(label: "prober")
        let environment = ProcessInfo.processInfo.environment
        let dbPath = databasePath

        let set: ProbeSet
        do {
            set = try ProbeLoader.load(directory: probes.probes, environment: environment)
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(2)
        }
        var isdownURL = IsDownSink.defaultBaseURL
        if let url = environment["ISDOWN_API_URL"], !url.isEmpty {
            if let problem = IsDownSink.validateBaseURL(url) { Self.exit(problem, code: 2) }
            isdownURL = url
        }
        let isdown = IsDownSink(baseURL: isdownURL, apiKey: try Self.apiKey(environment))
        let sinks = { @Sendable (notify: [NotifySink]) -> [any Sink] in [isdown] + notify.map(WebhookSink.init) }

        let lock: InstanceLock
        let store: Store
        do {
            lock = try InstanceLock(database: dbPath)
            store = try Store(path: dbPath)
            try store.register(set.probes)
        } catch {
            Self.exit("\(error)", code: 1)
        }
        let engine: ProbeEngine
        do { engine = try ProbeEngine() } catch { Self.exit("\(error)", code: 1) }

        let writer = SampleWriter(store: store, warning: { logger.warning("storage: \($0)") })
        let worker = OutboxWorker(storage: store, sinks: sinks(set.notify), logger: logger, send: engine.deliver)
        let tracker = IncidentTracker(store: store, logger: logger, onChange: { worker.wake() })
        tracker.update(probes: set.probes, sinks: sinks(set.notify))
        let pipeline = Pipeline(writer: writer, tracker: tracker)
        let watchdog = Watchdog(
            probes: set, runner: engine, sink: pipeline, logger: logger,
            configuration: .init(scheduler: .init(maxInFlight: maxInFlight), database: dbPath, notifier: SystemdNotifier()))
        let maintenance = Maintenance(store: store, policy: set.storage, logger: logger)

        let metrics: MetricsServer?
        if let listen, let address = ListenAddress(listen) {
            do {
                metrics = try MetricsServer(host: address.host, port: address.port, sources: .init(
                    scheduler: watchdog.scheduler, tracker: tracker, writer: writer, store: store, latest: pipeline.latest))
            } catch {
                Self.exit("cannot listen on \(listen): \(error)", code: 1)
            }
        } else {
            metrics = nil
        }

        let signals = SignalHandling()
        signals.onReload {
            var loaded: ProbeSet?
            let ok = watchdog.reload(loading: {
                let next = try ProbeLoader.load(directory: probes.probes, environment: ProcessInfo.processInfo.environment)
                loaded = next
                return next
            })
            guard ok, let next = loaded else { return }
            try? store.register(next.probes)
            tracker.update(probes: next.probes, sinks: sinks(next.notify))
            worker.update(sinks: sinks(next.notify))
            pipeline.latest.retain(Set(next.probes.map(\.name)))
            maintenance.update(policy: next.storage)
        }
        signals.onTerminate { signal in
            logger.info("received \(signal == SIGINT ? "SIGINT" : "SIGTERM"): stopping")
            _ = watchdog.shutdown(drain: true)
            metrics?.stop()
            tracker.sync()
            maintenance.stop()
            do { try writer.close() } catch { logger.error("could not write the last samples: \(error)") }
            worker.stop()
            engine.shutdown()
            lock.release()
            Foundation.exit(0)
        }

        watchdog.start()
        // Parsing a large probe set leaves freed YAML nodes behind: hand those pages back.
        _ = GlibcMalloc.malloc_trim(0)
        worker.start()
        maintenance.start()
        metrics?.start()
        if let metrics { logger.info("serving /metrics and /healthz on http://\(metrics.address)") }
        dispatchMain()
    }

    /// `ISDOWN_API_KEY`, or the first line of the file named by `ISDOWN_API_KEY_FILE`.
    static func apiKey(_ environment: [String: String]) throws -> String? {
        if let key = environment["ISDOWN_API_KEY"], !key.isEmpty { return key }
        guard let file = environment["ISDOWN_API_KEY_FILE"], !file.isEmpty else { return nil }
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
            exit("cannot read the IsDown API key file \(file) (ISDOWN_API_KEY_FILE)", code: 2)
        }
        return text.split(whereSeparator: \.isNewline).first.map { $0.trimmingCharacters(in: .whitespaces) }
    }

    static func exit(_ message: String, code: Int32) -> Never {
        FileHandle.standardError.write(Data("prober: \(message)\n".utf8))
        Foundation.exit(code)
    }
}

/// Rollups and retention, a little every minute (the store runs them in small transactions on its queue).
/// `@unchecked Sendable`: `policy` and `timer` are touched only on `queue`.
final class Maintenance: @unchecked Sendable {
    private let store: Store
    private let logger: Logger
    private let queue = DispatchQueue(label: "prober.maintenance", qos: .utility)
    /// Touched only on `queue`.
    private var policy: StoragePolicy
    private var timer: DispatchSourceTimer?

    init(store: Store, policy: StoragePolicy, logger: Logger) {
        self.store = store
        self.policy = policy
        self.logger = logger
    }

    func start() {
        queue.async {
            let timer = DispatchSource.makeTimerSource(queue: self.queue)
            timer.schedule(deadline: .now() + .seconds(10), repeating: .seconds(60), leeway: .seconds(5))
            timer.setEventHandler { [weak self] in self?.tick() }
            timer.resume()
            self.timer = timer
        }
    }

    func update(policy: StoragePolicy) { queue.async { self.policy = policy } }

    func stop() { queue.sync { timer?.cancel(); timer = nil } }

    private func tick() {
        do {
            _ = try store.maintain(now: Int64(Date().timeIntervalSince1970 * 1_000_000), policy: policy, budget: .seconds(2))
        } catch {
            logger.warning("storage maintenance failed; it will run again in a minute", metadata: ["error": "\(error)"])
        }
    }
}

/// `host:port` for `--listen`; `[::1]:9464` for IPv6.
struct ListenAddress: CustomStringConvertible {
    var host: String
    var port: UInt16

    init?(_ text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]) else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        self.host = host
        self.port = port
    }

    var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// glibc's malloc tuning calls. <malloc.h> is not part of Swift's Glibc module, so the two functions are
/// declared here by their C names (stable glibc ABI since 2.x).
enum GlibcMalloc {
    /// `M_ARENA_MAX` from <malloc.h>.
    static let arenaMax: Int32 = -8
    /// `M_MMAP_THRESHOLD` from <malloc.h>: setting it also turns off its dynamic adjustment.
    static let mmapThreshold: Int32 = -3

    @_silgen_name("mallopt")
    static func mallopt(_ parameter: Int32, _ value: Int32) -> Int32

    @_silgen_name("malloc_trim")
    static func malloc_trim(_ pad: Int) -> Int32
}
