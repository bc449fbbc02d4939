import Foundation
import ProberTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `prober run` whose standard error is a pipe nobody reads: logging must never block probing.
@Suite("prober run: a stalled log reader")
final class LogStallTests {
    let dir: TemporaryDirectory

    init() throws { dir = try TemporaryDirectory() }
    deinit { dir.remove() }

    /// Flips between 200 and 503 on every request to a path, so each check of each probe logs a state change.
    final class Flapper: @unchecked Sendable { // guarded by lock
        private let lock = NSLock()
        private var requests: [String: Int] = [:]
        func next(_ path: String) -> Bool {
            lock.withLock {
                requests[path, default: 0] += 1
                return requests[path]! % 2 == 0
            }
        }
    }

    /// One `prober_…` sample value from a scrape.
    func metric(_ name: String, port: UInt16) -> Double? {
        guard let reply = httpGet(port: port, "/metrics"), reply.status == 200 else { return nil }
        return reply.body.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ")[1]) }
    }

    /// Checks stored in the database in the last hour, from `prober status --json`.
    func storedChecks() throws -> Int {
        let result = try ProberBinary.run(["status", "--db", dir.path + "/prober.db", "--json"])
        guard result.status == 0, let rows = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]] else {
            return -1
        }
        return rows.reduce(0) { $0 + (($1["checks_1h"] as? Int) ?? 0) }
    }

    @Test func checksAndHealthzGoOnWhileStandardErrorIsNotRead() throws {
        let flapper = Flapper()
        let server = try TestHTTPServer { request in flapper.next(request.path) ? .respond(status: 200, body: "ok") : .respond(status: 503, body: "down") }
        defer { server.stop() }
        // Long URLs make long lines (the target is in each line's metadata): the buffer fills in seconds.
        let path = String(repeating: "x", count: 2_000)
        let probes = (0..<8).map { i in
            "  - name: flap-\(i)\n    http:\n      url: \(server.url)/\(i)/\(path)\n    interval: 100ms\n    timeout: 80ms\n"
        }
        try dir.write("probes/flap.yaml", "probes:\n" + probes.joined())

        let stderr = Pipe()
        let reader = stderr.fileHandleForReading.fileDescriptor
        _ = fcntl(reader, 1031 /* F_SETPIPE_SZ */, Int32(4_096)) // fills in a few lines
        let process = Process()
        process.executableURL = ProberBinary.url
        process.arguments = ["run", "--probes", dir.path + "/probes", "--db", dir.path + "/prober.db", "--listen", "127.0.0.1:0"]
        var env = ProcessInfo.processInfo.environment
        for name in ProberDaemon.isolatedVariables { env[name] = nil }
        process.environment = env
        process.standardOutput = FileHandle.nullDevice
        process.standardError = stderr
        process.standardInput = FileHandle.nullDevice
        try process.run()
        defer {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }

        // Read up to the listen line, then never again.
        var log = ""
        var buffer = [UInt8](repeating: 0, count: 512)
        while !log.contains("serving /metrics and /healthz on http://") || !log.hasSuffix("\n") {
            let n = read(reader, &buffer, 1) // one byte at a time: what stays in the pipe stays unread
            try #require(n > 0, "the daemon ended before its listen line: \(log)")
            log += String(decoding: buffer[0..<n], as: UTF8.self)
        }
        let line = try #require(log.split(separator: "\n").last)
        let url = try #require(line.split(separator: " ").last { $0.hasPrefix("http://") })
        let port = try #require(UInt16(url[url.index(after: url.lastIndex(of: ":")!)...].prefix { $0.isNumber }))

        // The pipe fills: its write end stops polling writable.
        let writer = stderr.fileHandleForWriting.fileDescriptor
        #expect(waitUntil(timeout: .seconds(20)) {
            var fds = pollfd(fd: writer, events: Int16(POLLOUT), revents: 0)
            return poll(&fds, 1, 0) == 0
        }, "standard error never filled")

        // For longer than /healthz's 5 s staleness bound: it keeps answering, checks keep being stored.
        let startChecks = try storedChecks()
        let until = Date(timeIntervalSinceNow: 7)
        while Date() < until {
            let reply = httpGet(port: port, "/healthz", timeout: 2)
            #expect(reply?.status == 200, "healthz: \(String(describing: reply))")
            if reply?.status != 200 { break }
            Thread.sleep(forTimeInterval: 0.5)
        }
        #expect(waitUntil(timeout: .seconds(10)) { (try? storedChecks()) ?? 0 >= startChecks + 8 * 20 },
                "checks stopped being stored: \(startChecks) then \((try? storedChecks()) ?? -1)")
        #expect((metric("prober_log_lines_dropped_total", port: port) ?? 0) > 0)

        // Reading again: the next lines say how many were dropped.
        var rest = ""
        let found = waitUntil(timeout: .seconds(20)) {
            let n = read(reader, &buffer, buffer.count)
            if n > 0 { rest += String(decoding: buffer[0..<n], as: UTF8.self) }
            return rest.contains(" log lines: standard error was not being read")
        }
        #expect(found, "no dropped-lines line in \(rest.suffix(2_000))")
        kill(process.processIdentifier, SIGTERM)
    }
}
