import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Headless Chromium for page tests: loads one URL and reports what a person's browser would have shown
/// and complained about.
///
///     let page = try Chromium.load(server.url + "/", width: 1280, height: 800, screenshot: dir.url.appendingPathComponent("home.png"))
///     #expect(page.consoleErrors.isEmpty)
///     #expect(page.failedRequests.isEmpty)
///     #expect(page.dom.contains("checkout"))
///
/// Each load is one `chromium --headless=new` run with a fresh profile in a temporary folder: `--dump-dom`
/// gives the DOM after the load event, `--screenshot` the PNG, `--enable-logging=stderr` the console and
/// `--log-net-log` every request with its status and network error (the `URL_REQUEST` events: the URL, the
/// response's status line, the `net_error` the request ended with). Only loopback is reachable: host names
/// do not resolve and every other address goes to a proxy that refuses connections.
public enum Chromium {
    /// What one load produced.
    public struct Page: Sendable {
        /// The DOM serialized after the load event (and after the page's scripts ran, when JavaScript is on).
        public var dom: String
        /// Every console message and uncaught exception, as Chromium logged it. Chromium's log does not carry
        /// the console level, so `console.log` counts too: the pages log nothing when all is well.
        public var consoleErrors: [String]
        /// The page's requests that failed: a network error (refused, reset, blocked) or an HTTP status ≥ 400.
        /// A request still in flight when the page has loaded and Chromium exits can end as `ERR_ABORTED` and
        /// counts too: a page test should not leave one behind.
        public var failedRequests: [FailedRequest]
        /// Every request the page made (the document, its images, styles, scripts, fetches), in order.
        public var requests: [String]
        /// The screenshot, when one was asked for.
        public var screenshot: URL?
        /// Chromium's whole log, for a failing test's message.
        public var log: String
        /// The process group Chromium ran in (its pid): nothing in it lives on once `load` returns.
        public var processGroup: pid_t
    }

    /// A request of the page that did not succeed.
    public struct FailedRequest: Sendable, CustomStringConvertible {
        public var url: String
        /// The last HTTP status received, nil when no response arrived.
        public var status: Int?
        /// Chromium's network error name (`ERR_CONNECTION_REFUSED`…), nil when the transfer itself succeeded.
        public var netError: String?
        public var description: String {
            "\(url): " + [status.map { "HTTP \($0)" }, netError].compactMap { $0 }.joined(separator: ", ")
        }
    }

    public enum Failure: Error, CustomStringConvertible {
        case notInstalled
        case timedOut(seconds: Int, processGroup: pid_t, log: String)
        case exited(status: Int32, log: String)
        case unreadableNetLog(String, log: String)

        public var description: String {
            switch self {
            case .notInstalled:
                "chromium is not installed (Debian package `chromium`; `make test-deps` installs it)"
            case .timedOut(let seconds, _, let log):
                "chromium did not finish within \(seconds) s and was killed; its log:\n\(log)"
            case .exited(let status, let log):
                "chromium exited with status \(status); its log:\n\(log)"
            case .unreadableNetLog(let reason, let log):
                "chromium's net log could not be read: \(reason); its log:\n\(log)"
            }
        }
    }

    /// The chromium executable on PATH (`chromium`, else `chromium-browser`), or nil.
    public static var executable: URL? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for name in ["chromium", "chromium-browser"] {
            for dir in path.split(separator: ":") {
                let candidate = URL(fileURLWithPath: String(dir)).appendingPathComponent(name)
                if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            }
        }
        return nil
    }

    /// Loads `url` in a `width`×`height` window and returns the page after its load event.
    /// `screenshot`: where to write a PNG of the window. `javascript: false` runs the page with scripts
    /// disabled (`<noscript>` shows). Chromium and every process it started are killed after `timeout`.
    public static func load(_ url: String, width: Int = 1280, height: Int = 800, javascript: Bool = true,
                            screenshot: URL? = nil, timeout: Duration = .seconds(30)) throws -> Page {
        guard let executable else { throw Failure.notInstalled }
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let netLog = scratch.url.appendingPathComponent("net-log.json")
        var arguments = commonArguments(profile: scratch.path + "/profile", width: width, height: height)
        arguments.append("--log-net-log=\(netLog.path)")
        if !javascript {
            // The profile's content setting, as a person blocking JavaScript in the settings would.
            // `--blink-settings=scriptEnabled=false` also blocks the evaluation behind --dump-dom (it prints
            // nothing); a content setting leaves DevTools' evaluation working.
            let preferences = scratch.url.appendingPathComponent("profile/Default/Preferences")
            try FileManager.default.createDirectory(at: preferences.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(#"{"profile":{"default_content_setting_values":{"javascript":2}}}"#.utf8).write(to: preferences)
        }
        if let screenshot { arguments.append("--screenshot=\(screenshot.path)") }
        arguments += ["--dump-dom", url]

        let stdout = scratch.url.appendingPathComponent("stdout")
        let environment = ProcessInfo.processInfo.environment.merging(["HOME": scratch.path]) { $1 }
        let outcome = try runGroup(executable.path, arguments, environment: environment, stdout: stdout.path, timeout: timeout)
        let log = outcome.log, group = outcome.processGroup
        switch outcome.result {
        case .timedOut: throw Failure.timedOut(seconds: Int(timeout.components.seconds), processGroup: group, log: log)
        case .exited(let status) where status != 0: throw Failure.exited(status: status, log: log)
        case .exited: break
        }
        let requests: [NetLog.Request]
        do { requests = try NetLog(contentsOf: netLog).pageRequests() } catch NetLog.Unreadable.because(let reason) {
            throw Failure.unreadableNetLog(reason, log: log)
        }
        return Page(
            dom: (try? String(contentsOf: stdout, encoding: .utf8)) ?? "",
            consoleErrors: consoleMessages(in: log),
            failedRequests: requests.filter(\.failed).map { FailedRequest(url: $0.url, status: $0.status, netError: $0.netError) },
            requests: requests.map(\.url),
            screenshot: screenshot,
            log: log,
            processGroup: group)
    }

    /// The console lines of Chromium's log: `[…:INFO:CONSOLE:12] "message", source: URL (12)`, and uncaught
    /// exceptions however they were logged.
    static func consoleMessages(in log: String) -> [String] {
        log.split(separator: "\n").compactMap { line in
            guard line.contains(":CONSOLE") || line.contains("Uncaught") else { return nil }
            if let end = line.range(of: "] ") { return String(line[end.upperBound...]) }
            return String(line)
        }
    }

    // MARK: Process group

    /// The processes of group `group` that are alive (zombies waiting for their parent to reap them are
    /// dead: they run nothing and hold nothing), from `/proc/PID/stat`.
    public static func livingProcesses(inGroup group: pid_t) -> [pid_t] {
        let pids = (try? FileManager.default.contentsOfDirectory(atPath: "/proc"))?.compactMap { pid_t($0) } ?? []
        return pids.filter { pid in
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return false }
            // "pid (comm) state ppid pgrp …": comm may hold spaces and parentheses, so split after the last ")".
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 2 && fields[0] != "Z" && fields[0] != "X" && pid_t(fields[2]) == group
        }
    }

    enum Result { case exited(Int32), timedOut }

    /// Runs the command in a process group of its own and returns once it and every process it started
    /// (zygote, renderers, GPU, network service) have exited, or kills them all at `timeout`.
    static func runGroup(_ path: String, _ arguments: [String], environment: [String: String],
                         stdout: String, timeout: Duration) throws -> (result: Result, log: String, processGroup: pid_t) {
        let group = try spawnGroup(path, arguments, environment: environment, stdout: stdout)
        return group.finish(within: timeout)
    }

    /// Chromium and the processes it started, in a process group of its own whose id is the browser's pid.
    final class Group: @unchecked Sendable { // Safe: set once at spawn; `finish` is called once, by the owner.
        let pid: pid_t
        let log: LogReader

        init(pid: pid_t, log: LogReader) {
            self.pid = pid
            self.log = log
        }

        /// Waits until every process of the group has exited, or kills them all at `timeout`; then kills whatever
        /// is left and reaps the browser.
        ///
        /// "All exited" is an event, not a guess: each of them holds the write end of the stderr pipe, so the
        /// reader sees end-of-file when the last one is gone. Waiting for the browser alone is not enough: the
        /// network service writes the net log after the browser process has exited.
        func finish(within timeout: Duration) -> (result: Result, log: String, processGroup: pid_t) {
            var timedOut = false
            if log.finished.wait(timeout: .now() + TestHTTPServer.seconds(timeout)) == .timedOut {
                timedOut = true
                kill(-pid, SIGKILL)
                log.finished.wait()
            }
            // The browser is not reaped yet, so its pid (the group's id) cannot have been reused: this reaches
            // only a Chromium process that closed its stderr and lives on.
            kill(-pid, SIGKILL)
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            let normal = (status & 0x7f) == 0
            return (timedOut ? .timedOut : .exited(normal ? (status >> 8) & 0xff : 128 + (status & 0x7f)), log.text, pid)
        }
    }

    /// Starts the command in a process group of its own, its stderr read by a `LogReader`. `devtools`: a socket
    /// given to the command as both fd 3 and fd 4 (`--remote-debugging-pipe` reads fd 3 and writes fd 4).
    static func spawnGroup(_ path: String, _ arguments: [String], environment: [String: String],
                           stdout: String, devtools: Int32? = nil) throws -> Group {
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for p in argv + envp { free(p) } }
        var pipeEnds: [Int32] = [0, 0]
        guard pipe(&pipeEnds) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        // So that a child another test spawns now does not hold the write end (and delay the end-of-file).
        for fd in pipeEnds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 2)
        // Chromium aborts ("FD ownership violation") on descriptors it did not expect, such as the test
        // process's sockets and files that lack close-on-exec. (glibc ignores a close of a descriptor that is
        // closed by the time of the spawn; posix_spawn_file_actions_addclosefrom_np is not visible to Swift.)
        let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd"))?.compactMap { Int32($0) } ?? []
        for fd in open where fd > 2 && fd != devtools { posix_spawn_file_actions_addclose(&actions, fd) }
        if let devtools {
            // `devtools` is above 4 (`DevTools.launch` makes sure), so these do not overwrite it.
            posix_spawn_file_actions_adddup2(&actions, devtools, 3)
            posix_spawn_file_actions_adddup2(&actions, devtools, 4)
            posix_spawn_file_actions_addclose(&actions, devtools)
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)   // a new group whose id is the child's pid
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        close(pipeEnds[1])
        guard rc == 0 else {
            close(pipeEnds[0])
            throw POSIXError(POSIXErrorCode(rawValue: rc) ?? .EIO)
        }
        return Group(pid: pid, log: LogReader(fd: pipeEnds[0]))
    }

    /// The arguments every run shares: headless, a fresh profile in `profile`, loopback only, the console on stderr.
    static func commonArguments(profile: String, width: Int, height: Int) -> [String] {
        [
            "--headless=new",
            "--no-sandbox",                       // tests run as root, where the sandbox refuses to start
            "--disable-gpu",
            "--user-data-dir=\(profile)",
            "--no-first-run", "--no-default-browser-check", "--disable-sync", "--disable-default-apps",
            "--disable-background-networking", "--disable-component-update", "--disable-extensions",
            // Crashpad's handler still starts, in a session of its own (out of reach of the group kill); it
            // exits when the browser does. --disable-crashpad-for-testing would keep it from starting but
            // makes the network service abort ("FD ownership violation") and the net log stay empty.
            "--disable-crash-reporter",
            // Loopback only: names do not resolve, and any non-loopback address goes to a refusing proxy
            // (loopback bypasses a proxy by default).
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost, EXCLUDE ::1",
            "--proxy-server=http://127.0.0.1:9",
            "--enable-logging=stderr", "--v=0",
            "--window-size=\(width),\(height)",
            "--hide-scrollbars",
        ]
    }
}

/// Reads a pipe to end-of-file on a thread of its own, then signals `finished`.
final class LogReader: @unchecked Sendable { // Safe: `bytes` is touched under `lock` only.
    let finished = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var bytes: [UInt8] = []

    init(fd: Int32) {
        Thread { [self] in
            var buffer = [UInt8](repeating: 0, count: 64 * 1024)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n > 0 { lock.withLock { bytes.append(contentsOf: buffer[0..<n]) }; continue }
                if n < 0 && errno == EINTR { continue }
                break
            }
            close(fd)
            finished.signal()
        }.start()
    }

    /// What was read; call after `finished` was signalled.
    var text: String { textSoFar }

    /// What was read until now.
    var textSoFar: String { lock.withLock { String(decoding: bytes, as: UTF8.self) } }
}

/// Chromium's JSON net log (`--log-net-log`), read for the requests the page made.
/// Format: https://chromium.googlesource.com/chromium/src/+/HEAD/net/log/net_log_util.cc : `constants` maps
/// event and source type names to numbers, `events` are `{source: {id, type}, type, phase, params}`.
struct NetLog {
    struct Request {
        var url: String
        var status: Int?
        var netError: String?
        var failed: Bool { netError != nil || (status ?? 0) >= 400 }
    }

    enum Unreadable: Error { case because(String) }

    private let constants: [String: Any]
    private let events: [[String: Any]]

    init(contentsOf file: URL) throws {
        guard let data = try? Data(contentsOf: file) else { throw Unreadable.because("no file at \(file.path)") }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let constants = object["constants"] as? [String: Any] else {
            throw Unreadable.because("not JSON with `constants` (\(data.count) bytes)")
        }
        self.constants = constants
        events = object["events"] as? [[String: Any]] ?? []
    }

    private func code(_ table: String, _ name: String) -> Int? {
        (constants[table] as? [String: Any])?[name] as? Int
    }

    /// The URL requests the page made, in order, with their outcome. Chromium's own requests (updates,
    /// time, accounts: initiator "not an origin" and not a frame) and its automatic `/favicon.ico` are
    /// left out: they are the browser's, not the page's.
    func pageRequests() -> [Request] {
        guard let urlRequest = code("logSourceType", "URL_REQUEST"),
              let startJob = code("logEventTypes", "URL_REQUEST_START_JOB"),
              let headers = code("logEventTypes", "HTTP_TRANSACTION_READ_RESPONSE_HEADERS"),
              let alive = code("logEventTypes", "REQUEST_ALIVE") else { return [] }
        let errorNames = Dictionary((constants["netError"] as? [String: Int] ?? [:]).map { ($1, $0) }) { a, _ in a }
        var order: [Int] = []
        var requests: [Int: Request] = [:]
        var isPage: Set<Int> = []
        for event in events {
            guard let source = event["source"] as? [String: Any], source["type"] as? Int == urlRequest,
                  let id = source["id"] as? Int, let type = event["type"] as? Int else { continue }
            let params = event["params"] as? [String: Any] ?? [:]
            if type == startJob, let url = params["url"] as? String {
                if requests[id] == nil { order.append(id); requests[id] = Request(url: url) }
                requests[id]?.url = url   // the last URL after redirects
                let frame = (params["request_type"] as? String ?? "").hasSuffix("frame")
                let initiator = params["initiator"] as? String ?? "not an origin"
                let favicon = URL(string: url)?.path == "/favicon.ico"
                if (frame || initiator != "not an origin") && !favicon { isPage.insert(id) }
            } else if type == headers, let lines = params["headers"] as? [String], let first = lines.first {
                let parts = first.split(separator: " ")
                if parts.count >= 2 { requests[id]?.status = Int(parts[1]) }
            } else if type == alive, let error = params["net_error"] as? Int, error != 0 {
                requests[id]?.netError = errorNames[error] ?? "net error \(error)"
            }
        }
        return order.filter(isPage.contains).compactMap { requests[$0] }
    }
}
