import Foundation

/// `prober run …` as a child process, as a user starts it: the one harness every test that needs the daemon uses.
///
/// Its standard output and error go to files (a pipe nobody reads could block it). The systemd and IsDown
/// variables of the test's own environment are removed, so a developer's shell cannot change what a test sees.
public final class ProberDaemon: @unchecked Sendable { // Safe: every stored property is a `let`.
    public let process = Process()
    public let stdoutURL: URL
    public let stderrURL: URL

    /// Variables removed from the inherited environment unless `environment` sets them.
    public static let isolatedVariables = ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "STATE_DIRECTORY",
                                           "ISDOWN_API_KEY", "ISDOWN_API_KEY_FILE", "ISDOWN_API_URL"]

    /// Starts `prober run args…`; `environment` entries are added to (or, with nil, removed from) the current
    /// one. The output files are written in `dir`.
    public init(_ args: [String], environment: [String: String?] = [:],
                logIn dir: URL = FileManager.default.temporaryDirectory) throws {
        let name = "prober-daemon-\(UUID().uuidString)"
        stdoutURL = dir.appendingPathComponent(name + ".out")
        stderrURL = dir.appendingPathComponent(name + ".err")
        for url in [stdoutURL, stderrURL] {
            _ = FileManager.default.createFile(atPath: url.path, contents: nil) // FileHandle below reports a failure
        }
        process.executableURL = ProberBinary.url
        process.arguments = ["run"] + args
        var env = ProcessInfo.processInfo.environment
        for name in Self.isolatedVariables { env[name] = nil }
        for (k, v) in environment { env[k] = v }
        process.environment = env
        process.standardOutput = try FileHandle(forWritingTo: stdoutURL)
        process.standardError = try FileHandle(forWritingTo: stderrURL)
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    public var isRunning: Bool { process.isRunning }

    /// What the daemon wrote to standard error so far (its log).
    public var stderr: String { (try? String(contentsOf: stderrURL, encoding: .utf8)) ?? "" }
    /// What it wrote to standard output so far.
    public var stdout: String { (try? String(contentsOf: stdoutURL, encoding: .utf8)) ?? "" }
    /// Both, for failure messages.
    public var output: String { stdout + stderr }

    public func signal(_ signal: Int32) { kill(process.processIdentifier, signal) }

    /// Waits for the process to exit; its status, or nil when it is still running after `timeout`.
    public func waitForExit(timeout: Duration = .seconds(30)) -> Int32? {
        guard waitUntil(timeout: timeout, { !process.isRunning }) else { return nil }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// Sends SIGTERM and waits (bounded) for the exit status.
    public func terminate(timeout: Duration = .seconds(30)) -> Int32? {
        signal(SIGTERM)
        return waitForExit(timeout: timeout)
    }

    /// Waits for a line of standard error containing `text`; that line, or nil after `timeout` or once the
    /// daemon exited without writing it.
    public func waitForLog(containing text: String, timeout: Duration = .seconds(30)) -> String? {
        var found: String?
        _ = waitUntil(timeout: timeout) {
            let running = process.isRunning
            found = stderr.split(separator: "\n").first { $0.contains(text) }.map(String.init)
            return found != nil || !running
        }
        return found
    }

    /// Waits for the start-up line; false after `timeout` or once the daemon exited without writing it. A test
    /// that signals the daemon waits for this first: a SIGTERM during start-up is not part of what it tests.
    public func waitForStart(timeout: Duration = .seconds(30)) -> Bool {
        waitForLog(containing: "prober started", timeout: timeout) != nil
    }

    /// The port of `--listen …:0`, read from the start-up line.
    public func listenPort(timeout: Duration = .seconds(30)) -> UInt16? {
        guard let line = waitForLog(containing: "serving /metrics and /healthz on http://", timeout: timeout),
              let url = line.split(separator: " ").last(where: { $0.hasPrefix("http://") }),
              let colon = url.lastIndex(of: ":") else { return nil }
        return UInt16(url[url.index(after: colon)...].prefix { $0.isNumber })
    }
}
