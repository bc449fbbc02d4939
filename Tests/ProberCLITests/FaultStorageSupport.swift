import CSQLite3
import Dispatch
import Foundation
import ProberStorage
import ProberStore
import ProberTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

// The pieces of the storage fault tests (issue 13 items 14-16): `prober run` on loopback, the database made full
// or locked under it, a fake IsDown counting what it receives.

/// The fake IsDown API: every create gets an id of its own (so each incident's updates can be told apart), and
/// while `holdCreates` is set a create's answer waits until the test calls `releaseCreates()`. Like IsDown, it
/// makes the incident when the create arrives, answer or not, and lists open incidents
/// (`GET /api/v2/incidents`): a daemon whose create timed out while held (past its 10 s delivery timeout, on a
/// loaded machine) finds and adopts the incident rather than sending the create again.
final class StorageFaultAPI: @unchecked Sendable { // Safe: the mutable state is guarded by `lock`.
    static let apiKey = "isd_live_storage-fault-4711"
    private let lock = NSLock()
    private var nextID = 100
    private var probes: [String: String] = [:] // IsDown id -> probe
    private var listed: [(id: String, document: String)] = [] // incidents as `GET /api/v2/incidents` lists them, oldest first
    private var resolved: Set<String> = []
    private var holding = false
    private var arrived = 0
    private let held = DispatchSemaphore(value: 0)
    private(set) var server: TestHTTPServer!

    init() throws {
        server = try TestHTTPServer { [unowned self] request in self.answer(request) }
    }

    var url: String { server.url }

    /// Makes the next creates wait for `releaseCreates()` before being answered.
    func holdCreates() { lock.withLock { holding = true } }

    /// Creates that arrived while held.
    var heldCreates: Int { lock.withLock { arrived } }

    /// Answers the held create (and stops holding).
    func releaseCreates() {
        lock.withLock { holding = false }
        held.signal()
    }

    private func answer(_ request: TestHTTPServer.Request) -> TestHTTPServer.Response {
        if request.method == "POST", request.path == "/api/v2/incidents" {
            let (id, hold) = lock.withLock { () -> (String, Bool) in
                nextID += 1
                let id = String(nextID)
                probes[id] = Self.probe(of: request)
                listed.append(Self.listing(id: id, create: request))
                if holding { arrived += 1 }
                return (id, holding)
            }
            if hold { held.wait() }
            return .respond(status: 201, body: #"{"data":{"id":"\#(id)","type":"incidents","attributes":{}}}"#)
        }
        if request.method == "PATCH", request.path.hasPrefix("/api/v2/incidents/") {
            let body = (try? JSONSerialization.jsonObject(with: Data(request.body))) as? [String: Any]
            if body?["resolution_stage"] as? String == "resolved", let id = request.path.split(separator: "/").last {
                lock.withLock { _ = resolved.insert(String(id)) }
            }
            return .respond(status: 200, body: #"{"data":{"id":"1","type":"incidents","attributes":{}}}"#)
        }
        if request.method == "GET", request.path.hasPrefix("/api/v2/incidents?") {
            let open = lock.withLock { listed.filter { !resolved.contains($0.id) }.map(\.document) }
            return .respond(status: 200, body: "{\"data\":[" + open.joined(separator: ",") + "]}")
        }
        return .respond(status: 404, body: #"{"errors":[{"status":404,"title":"Not Found"}]}"#)
    }

    /// A created incident as the listing shows it: its title and service, created now.
    private static func listing(id: String, create request: TestHTTPServer.Request) -> (id: String, document: String) {
        let body = (try? JSONSerialization.jsonObject(with: Data(request.body))) as? [String: Any] ?? [:]
        let attributes: [String: Any] = [
            "title": body["title"] as? String ?? "", "service_id": body["service_id"] ?? 0, "resolved": false,
            "created_at": ISO8601DateFormatter().string(from: Date()),
        ]
        let document = ["id": id, "type": "incidents", "attributes": attributes] as [String: Any]
        let json = (try? JSONSerialization.data(withJSONObject: document)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        return (id, json)
    }

    /// The probe an incident call is about: the title's start (`a: checks failing`), or for an update the
    /// probe its create named.
    func probe(of request: TestHTTPServer.Request) -> String? {
        if request.method == "PATCH", let id = request.path.split(separator: "/").last {
            return lock.withLock { probes[String(id)] }
        }
        return Self.probe(of: request)
    }

    private static func probe(of request: TestHTTPServer.Request) -> String? {
        let body = (try? JSONSerialization.jsonObject(with: Data(request.body))) as? [String: Any]
        return (body?["title"] as? String)?.split(separator: ":").first.map(String.init)
    }

    /// Each request about `probe`, as `METHOD stage`.
    func calls(for probe: String) -> [String] {
        server.requests.filter { self.probe(of: $0) == probe }.map { request in
            let body = (try? JSONSerialization.jsonObject(with: Data(request.body))) as? [String: Any]
            return "\(request.method) \(body?["resolution_stage"] as? String ?? "?")"
        }
    }
}

/// Loopback targets at `/<probe>`: each answers 200 until the test makes it fail (503).
final class StorageFaultTargets: @unchecked Sendable { // Safe: `failing` is guarded by `lock`.
    private let lock = NSLock()
    private var failing: Set<String> = []
    private(set) var server: TestHTTPServer!

    init() throws {
        server = try TestHTTPServer { [unowned self] request in
            let name = String(request.path.dropFirst())
            return lock.withLock { failing.contains(name) } ? .respond(status: 503) : .respond(status: 200, body: "ok")
        }
    }

    func fail(_ probes: [String]) { lock.withLock { failing.formUnion(probes) } }
    func heal(_ probes: [String]) { lock.withLock { failing.subtract(probes) } }

    /// A probe file with one probe per name, each checked every 100 ms: an incident opens after 2 failures in 3
    /// held 200 ms and resolves 600 ms after recovery (opened, monitoring, resolved: one POST and two PATCHes).
    /// The healthy probe `ok` needs 8 failures in 10: on a loaded machine a check can time out, and a false
    /// incident must mean prober's fault, not the machine's. `group: none`: the probes share a target and fail
    /// together, and these tests follow each one's own incident (docs/incidents.md, "One incident per shared cause").
    func probeFile(_ names: [String]) -> String {
        "probes:\n" + names.map { name in
            """
              - name: \(name)
                http:
                  url: \(server.url)/\(name)
                interval: 100ms
                timeout: 80ms
                incident:
                  service_id: 4242
                  group: none
                  window: \(name == "ok" ? 10 : 3)
                  minor: { failures: \(name == "ok" ? 8 : 2) }
                  major: { latency: none, failures: none }
                  for: 200ms
                  resolve_after: 600ms

            """
        }.joined()
    }
}

/// A SQLite connection of the test's own, as another process would hold one: to read what is on disk and to
/// hold the write lock.
final class StorageFaultConnection {
    let handle: OpaquePointer

    init(_ path: String, readOnly: Bool) throws {
        var db: OpaquePointer?
        let flags = readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE
        guard sqlite3_open_v2(path, &db, flags, nil) == SQLITE_OK, let db else {
            throw StoreError(code: 1, message: "cannot open", path: path)
        }
        handle = db
    }

    deinit { sqlite3_close_v2(handle) }

    func execute(_ sql: String) throws {
        let rc = sqlite3_exec(handle, sql, nil, nil, nil)
        if rc != SQLITE_OK { throw StoreError(code: rc, message: String(cString: sqlite3_errmsg(handle)), sql: sql, path: "") }
    }

    func int(_ sql: String) throws -> Int64 {
        var stmt: OpaquePointer?
        guard sqlite3_prepare_v2(handle, sql, -1, &stmt, nil) == SQLITE_OK else {
            throw StoreError(code: 1, message: String(cString: sqlite3_errmsg(handle)), sql: sql, path: "")
        }
        defer { sqlite3_finalize(stmt) }
        guard sqlite3_step(stmt) == SQLITE_ROW else { return 0 }
        return sqlite3_column_int64(stmt, 0)
    }

    /// The number of stored samples of one probe started in `[from, to)`, read through a read-only `Store`.
    static func samples(_ db: String, probe: String, from: Int64 = .min, to: Int64 = .max) -> Int64 {
        guard let store = try? Store(path: db, readOnly: true),
              let samples = try? store.recentSamples(probe: probe, limit: .max) else { return 0 }
        return Int64(samples.filter { $0.startedAt >= from && $0.startedAt < to }.count)
    }
}

/// A small tmpfs the test mounts (tests run as root here and in CI), and files that fill it.
final class StorageFaultVolume {
    let path: String
    private var fillers = 0

    /// Mounts a tmpfs of `size` (`3m`) on a fresh folder under `parent`; throws why it cannot.
    init(size: String, under parent: URL) throws {
        path = parent.appendingPathComponent("volume").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let result = try Self.run("/bin/mount", ["-t", "tmpfs", "-o", "size=\(size)", "tmpfs", path])
        guard result.status == 0 else {
            throw StorageFaultVolumeError(description: "cannot mount a tmpfs of \(size) on \(path) (the test needs root "
                + "or CAP_SYS_ADMIN): mount exited \(result.status): \(result.output)")
        }
    }

    /// Unmounts (lazily when something still holds a file open).
    func unmount() {
        if (try? Self.run("/bin/umount", [path]))?.status != 0 { _ = try? Self.run("/bin/umount", ["-l", path]) }
    }

    /// Writes a new file until the file system refuses even one more byte; its size.
    @discardableResult
    func fill() -> Int {
        fillers += 1
        let fd = open(path + "/filler-\(fillers)", O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { return 0 }
        defer { close(fd) }
        var total = 0
        for size in [1 << 16, 4_096, 512, 1] {
            let chunk = [UInt8](repeating: 0x5A, count: size)
            while true {
                let n = chunk.withUnsafeBytes { write(fd, $0.baseAddress, size) }
                if n <= 0 { break }
                total += n
            }
        }
        return total
    }

    /// Removes every filler file.
    func free() {
        for i in 0..<fillers + 1 { unlink(path + "/filler-\(i)") }
    }

    /// Bytes the file system still has.
    var available: Int64 {
        var info = statvfs()
        return statvfs(path, &info) == 0 ? Int64(info.f_bavail) * Int64(info.f_frsize) : -1
    }

    private static func run(_ tool: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output)
    }
}

struct StorageFaultVolumeError: Error, CustomStringConvertible {
    let description: String
}

/// Fills the volume until the daemon's sample writes fail with nothing left to free: a write refused after a
/// fill, and the fill after it finding no byte (the writer truncates the WAL after a refused write, which can
/// hand space back). False when that does not happen within a few rounds.
func fillUntilRefused(_ volume: StorageFaultVolume, _ daemon: ProberDaemon) async -> Bool {
    for _ in 0..<6 {
        volume.fill()
        let failures = logCount(daemon, "cannot write samples")
        guard await eventually(timeout: .seconds(20), { logCount(daemon, "cannot write samples") > failures }) else { return false }
        if volume.fill() == 0 { return true }
    }
    return false
}

/// Sends SIGTERM and waits (bounded, suspended) for the exit status.
func terminate(_ daemon: ProberDaemon) async -> Int32? {
    daemon.signal(SIGTERM)
    guard await eventually({ !daemon.isRunning }) else { return nil }
    return daemon.waitForExit(timeout: .seconds(5))
}

/// Counts lines of a daemon's log containing `text`.
func logCount(_ daemon: ProberDaemon, _ text: String) -> Int {
    daemon.stderr.components(separatedBy: text).count - 1
}
