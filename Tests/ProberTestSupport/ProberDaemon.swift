import Foundation

/// `prober run` as a child process, its output collected in a file (so it never blocks on a full pipe).
public final class ProberDaemon: @unchecked Sendable { // Safe: `process` is only mutated in init.
    public let process = Process()
    public let logURL: URL

    /// Starts `prober run args…` with `environment` added to the current one.
    public init(_ args: [String], environment: [String: String] = [:], logIn dir: URL) throws {
        logURL = dir.appendingPathComponent("daemon-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: logURL.path, contents: nil) // FileHandle below reports a failure
        let log = try FileHandle(forWritingTo: logURL)
        process.executableURL = ProberBinary.url
        process.arguments = ["run"] + args
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        process.environment = env
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }

    /// Everything the daemon printed so far.
    public var output: String { (try? String(contentsOf: logURL, encoding: .utf8)) ?? "" }

    public func signal(_ signal: Int32) { kill(process.processIdentifier, signal) }

    /// Waits for the process to exit; nil when it is still running after `timeout`.
    public func waitForExit(timeout: Duration = .seconds(15)) -> Int32? {
        let deadline = Date(timeIntervalSinceNow: Double(timeout.components.seconds))
        while process.isRunning, Date() < deadline { usleep(10_000) }
        if process.isRunning { return nil }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// Polls `condition` every 20 ms until it holds or `timeout` passes (for state another process writes).
    public static func eventually(timeout: Duration = .seconds(20), _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date(timeIntervalSinceNow: Double(timeout.components.seconds))
        while Date() < deadline {
            if try condition() { return true }
            usleep(20_000)
        }
        return try condition()
    }
}
