import ArgumentParser
import Dispatch
import Foundation
import Logging
import ProberConfig
import ProberCore
import ProberDelivery
import ProberEngine
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
        LogSetup.bootstrap(format: logFormat, level: logLevel)
        let environment = ProcessInfo.processInfo.environment
        var isdownURL = IsDownSink.defaultBaseURL
        if let url = environment["ISDOWN_API_URL"], !url.isEmpty {
            if let problem = IsDownSink.validateBaseURL(url) { Self.exit(problem, code: 2) }
            if let warning = IsDownSink.plainHTTPWarning(url) { Logger(label: "prober").warning("\(warning)") }
            isdownURL = url
        }
        let isdown = IsDownSink(baseURL: isdownURL, apiKey: try Self.apiKey(environment))
        let configuration = Daemon.Configuration(
            probes: probes.probes, database: databasePath, environment: environment,
            listen: listen.flatMap(ListenAddress.init), maxInFlight: maxInFlight,
            isdown: isdown, notifier: SystemdNotifier())
        let daemon: Daemon
        do {
            daemon = try Daemon(configuration: configuration, logger: Logger(label: "prober"))
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(error.exitCode)
        }
        daemon.run()
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
