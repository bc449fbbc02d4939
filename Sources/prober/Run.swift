import ArgumentParser
import Dispatch
import Foundation
import Logging
import ProberConfig
import ProberCore
import ProberDelivery
import ProberEngine
import ProberHTTP
import ProberProbes

/// `prober run`: the watchdog. Probes on Dispatch timers, every result to SQLite, incidents to IsDown.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the watchdog in the foreground until SIGTERM or SIGINT (SIGHUP reloads the probe files).",
        discussion: """
            Environment: ISDOWN_API_KEY (or ISDOWN_API_KEY_FILE, a file holding it) and ISDOWN_API_URL (scheme and \
            host only, default \(IsDownSink.defaultBaseURL)) for incident delivery; STATE_DIRECTORY (set by systemd's \
            StateDirectory=) holds the database when --db is not given; NOTIFY_SOCKET and WATCHDOG_USEC for systemd.

            EXAMPLES:
              prober run --probes probes --db prober.db
              prober run --probes /etc/prober --listen 127.0.0.1:9464 --log-format json
              ISDOWN_API_KEY_FILE=/etc/prober/isdown.key prober run --probes /etc/prober
            """
    )

    @OptionGroup var probes: ProbesOptions
    @OptionGroup var database: DatabaseOptions

    @Option(name: .long, help: "Log format: text or json.")
    var logFormat: LogFormat = .text

    @Option(name: .long, help: "Lowest level logged: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    @OptionGroup var inFlight: InFlightOptions

    @Option(name: .long, help: ArgumentHelp("Serve /metrics, /healthz, /api/v1 and the pages on this address (off by default), e.g. 127.0.0.1:9464; a bare port is loopback.", valueName: "host:port"))
    var listen: String?

    @Option(name: .long, help: ArgumentHelp("Where this prober probes from, 1-64 characters of A-Z a-z 0-9 . _ - (default: the host name).",
                                            valueName: "name"))
    var location: String?

    @Option(name: .long, help: ArgumentHelp("Bind every probe's connection to this local IPv4 or IPv6 address (default: the system chooses).",
                                            valueName: "address"))
    var sourceAddress: String?

    @Option(name: .long, help: ArgumentHelp("A file whose first line is the bearer token every path but /healthz requires; needed to listen beyond loopback.", valueName: "file"))
    var listenTokenFile: String?

    @Option(name: .long, help: ArgumentHelp("With a PostgreSQL --db: the directory where samples wait on disk while the database cannot take them (default: ./prober-spool, or $STATE_DIRECTORY/prober-spool under systemd).", valueName: "dir"))
    var spool: String?

    @Option(name: .long, help: ArgumentHelp("Most disk the spool may take, e.g. 512MiB or 2GiB (default 1GiB); beyond it the oldest samples are dropped and counted.", valueName: "size"))
    var spoolMax: String = "1GiB"

    @Flag(name: .long, help: "Listen beyond loopback without a token: anyone who can reach the port reads the history.")
    var listenInsecure = false

    func validate() throws {
        if let listen, ListenAddress(listen) == nil {
            throw ValidationError("--listen '\(listen)' is not host:port (for example 127.0.0.1:9464)")
        }
        // Exit 2, a configuration error, as for invalid probe files (ValidationError would exit 64).
        if let location, let problem = Daemon.Configuration.locationProblem(location) {
            throw Self.configurationError("--location \(problem)")
        }
        if location == nil, let problem = Daemon.Configuration.locationProblem(Daemon.Configuration.hostLocation) {
            throw Self.configurationError("the host name cannot be the location (\(problem)): name one with --location")
        }
        if let sourceAddress, let problem = SourceAddress.problem(sourceAddress) {
            throw Self.configurationError("--source-address \(problem)")
        }
        if ByteSize.parse(spoolMax) == nil {
            throw Self.configurationError("--spool-max '\(spoolMax)' is not a size (for example 512MiB, 2GiB or 1000000 bytes)")
        }
        if listen == nil && (listenTokenFile != nil || listenInsecure) {
            throw ValidationError("--listen-token-file and --listen-insecure need --listen")
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

    /// The spool's directory: `--spool`, or `$STATE_DIRECTORY/prober-spool` under systemd, else `./prober-spool`.
    var spoolDirectory: String {
        if let spool { return spool }
        if let dir = ProcessInfo.processInfo.environment["STATE_DIRECTORY"]?.split(separator: ":").first, !dir.isEmpty {
            return String(dir) + "/prober-spool"
        }
        return "prober-spool"
    }

    func run() throws {
        LogSetup.bootstrap(format: logFormat, level: logLevel)
        let environment = ProcessInfo.processInfo.environment
        var isdownURL = IsDownSink.defaultBaseURL
        if let url = environment["ISDOWN_API_URL"], !url.isEmpty {
            if let problem = IsDownSink.validateBaseURL(url) { Self.exit(problem, code: 2) }
            if let warning = IsDownSink.plainHTTPWarning(url) { Logger(label: "prober").warning("\(warning)") }
            isdownURL = url
        }
        let isdown = IsDownSink(baseURL: isdownURL, apiKey: try Self.apiKey(environment))
        var configuration = Daemon.Configuration(
            probes: probes.probes, database: databasePath, environment: environment,
            listen: listen.flatMap(ListenAddress.init), maxInFlight: inFlight.maxInFlight,
            location: location ?? Daemon.Configuration.hostLocation, sourceAddress: sourceAddress, isdown: isdown, notifier: SystemdNotifier())
        configuration.listenToken = Self.listenToken(listenTokenFile)
        configuration.listenInsecure = listenInsecure
        configuration.spoolDirectory = spoolDirectory
        configuration.spoolMaxBytes = ByteSize.parse(spoolMax) ?? configuration.spoolMaxBytes
        if let every = environment["PROBER_HEARTBEAT_INTERVAL"], !every.isEmpty {
            guard let d = Duration(parsing: every), d >= .milliseconds(100) else {
                Self.exit("PROBER_HEARTBEAT_INTERVAL '\(every)' must be a duration of at least 100ms", code: 2)
            }
            configuration.heartbeatEvery = d
        }
        let daemon: Daemon
        do {
            daemon = try Daemon(configuration: configuration, logger: Logger(label: "prober"))
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(error.exitCode)
        }
        daemon.run()
    }

    /// The token in the first line of `--listen-token-file`; exits 2 when the file is unreadable or empty.
    static func listenToken(_ path: String?) -> BearerToken? {
        guard let path else { return nil }
        let read: BearerToken?
        do { read = try BearerToken.read(path: path) } catch {
            exit("cannot read the listen token file \(path) (--listen-token-file)", code: 2)
        }
        guard let read else { exit("the listen token file \(path) is empty (--listen-token-file)", code: 2) }
        return read
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

    /// Prints `prober run: message` and gives the exit code of a configuration error (2), to be thrown.
    static func configurationError(_ message: String) -> ExitCode {
        FileHandle.standardError.write(Data("prober run: \(message)\n".utf8))
        return ExitCode(2)
    }

    static func exit(_ message: String, code: Int32) -> Never {
        FileHandle.standardError.write(Data("prober: \(message)\n".utf8))
        Foundation.exit(code)
    }
}

/// Sizes on the command line: a number of bytes with an optional unit (`B`, `KB`/`MB`/`GB` in powers of
/// 1,000, `KiB`/`MiB`/`GiB` in powers of 1,024), e.g. `512MiB`.
enum ByteSize {
    static func parse(_ text: String) -> Int64? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let digits = trimmed.prefix { $0.isNumber }
        guard let value = Int64(digits), value > 0 else { return nil }
        let units: [String: Int64] = ["": 1, "b": 1, "kb": 1_000, "mb": 1_000_000, "gb": 1_000_000_000,
                                      "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30]
        guard let unit = units[trimmed.dropFirst(digits.count).trimmingCharacters(in: .whitespaces).lowercased()] else { return nil }
        let (bytes, overflow) = value.multipliedReportingOverflow(by: unit)
        return overflow ? nil : bytes
    }
}
