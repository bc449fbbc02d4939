import Foundation

/// Runs the built `prober` binary as a user would, and captures what it printed.
public struct ProberBinary {
    public struct Result: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    /// The `prober` executable built beside the test bundle.
    public static var url: URL {
        let candidates = [
            Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("prober"),
            Bundle.main.bundleURL.appendingPathComponent("prober"),
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("prober"),
        ]
        for c in candidates where FileManager.default.isExecutableFile(atPath: c.path) { return c }
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let c = dir.appendingPathComponent("prober")
            if FileManager.default.isExecutableFile(atPath: c.path) { return c }
            dir.deleteLastPathComponent()
        }
        return candidates[0]
    }

    /// Runs `prober args…` to completion. `environment` entries are added to (or, with nil, removed from) the current one.
    @discardableResult
    public static func run(_ args: [String], environment: [String: String?] = [:], currentDirectory: URL? = nil,
                           stdin: String? = nil) throws -> Result {
        let process = Process()
        process.executableURL = url
        process.arguments = args
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        process.environment = env
        if let currentDirectory { process.currentDirectoryURL = currentDirectory }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        if stdin == nil { process.standardInput = FileHandle.nullDevice }
        try process.run()
        // Read both pipes concurrently so a chatty child never blocks on a full pipe.
        let group = DispatchGroup()
        nonisolated(unsafe) var errData = Data()
        group.enter()
        DispatchQueue.global().async {
            errData = err.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return Result(status: process.terminationStatus,
                      stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errData, as: UTF8.self))
    }
}

extension ProberBinary {
    /// Runs `prober args…` to completion with its output discarded, and returns its exit status and peak
    /// resident memory (`ru_maxrss` of that one child, from `wait4`). Measured in a child because the test
    /// process's own peak is shared by every test running beside it.
    public static func peakRSS(_ args: [String]) throws -> (status: Int32, bytes: Int) {
        let argv = ([url.path] + args).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for fd: Int32 in [0, 1, 2] { posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0) }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, url.path, &actions, nil, argv, environ)
        guard rc == 0 else { throw POSIXError(POSIXErrorCode(rawValue: rc) ?? .EIO) }
        var status: Int32 = 0
        var usage = rusage()
        while wait4(pid, &status, 0, &usage) < 0 && errno == EINTR {}
        let exited = (status & 0x7f) == 0
        return (exited ? (status >> 8) & 0xff : 128 + (status & 0x7f), usage.ru_maxrss * 1024)
    }
}

/// A fresh temporary directory, removed by `remove()`.
public struct TemporaryDirectory {
    public let url: URL
    public init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("prober-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    public var path: String { url.path }
    /// Writes `text` to `relativePath` (creating folders) and returns the full path.
    @discardableResult
    public func write(_ relativePath: String, _ text: String) throws -> String {
        let file = url.appendingPathComponent(relativePath)
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try text.write(to: file, atomically: true, encoding: .utf8)
        return file.path
    }
    public func remove() { try? FileManager.default.removeItem(at: url) }
}
