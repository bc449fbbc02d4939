import Foundation

/// A throwaway PostgreSQL cluster for tests: `initdb` into a temporary folder as the `postgres` system user
/// (tests run as root, and the server refuses to), `pg_ctl start` with its unix socket in that folder and TCP
/// on a free port of 127.0.0.1, one database per test. One cluster per test process (`shared`), stopped and
/// removed when the process exits.
///
/// Local (socket) connections are trusted; TCP asks for a password (`scram-sha-256`), so tests can check
/// wrong passwords. The binaries come from `pg_config --bindir` (Debian: /usr/lib/postgresql/15/bin). Without
/// PostgreSQL this throws (`make test-deps` installs it): a test needing it fails, never skips silently.
///
/// `@unchecked Sendable`: every property is set in `init` and never changed; `counter` is guarded by `lock`.
public final class TestPostgres: @unchecked Sendable {
    public let directory: String
    public let dataDirectory: String
    /// The folder of the unix socket (a libpq `host`).
    public let socketDirectory: String
    public let port: Int
    public let binDirectory: String
    /// How long initdb and the start took (for the report; never asserted).
    public let startup: Duration
    private let lock = NSLock()
    private var counter = 0

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// The cluster of this test process, started on first use.
    public static func shared() throws -> TestPostgres {
        try sharedLock.withLock {
            if let cluster = sharedCluster { return cluster }
            let cluster = try TestPostgres()
            sharedCluster = cluster
            atexit { TestPostgres.stopShared() }
            return cluster
        }
    }

    nonisolated(unsafe) private static var sharedCluster: TestPostgres?
    private static let sharedLock = NSLock()

    private static func stopShared() {
        sharedLock.withLock {
            sharedCluster?.stop()
            sharedCluster = nil
        }
    }

    public init() throws {
        let clock = ContinuousClock()
        let started = clock.now
        binDirectory = try Self.binDirectory()
        Self.removeClustersOfDeadProcesses(binDirectory: binDirectory)
        // A short path (a unix socket's path is limited to 107 bytes) naming the test process that owns it.
        directory = "/tmp/prober-pg-\(getpid())-" + String(UUID().uuidString.prefix(8)).lowercased()
        dataDirectory = directory + "/data"
        socketDirectory = directory
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        if getuid() == 0 { try Program.output("/bin/chown", ["postgres:postgres", directory]) }
        port = try Self.freePort()
        do {
            try Self.asOwner("\(binDirectory)/initdb", ["-D", dataDirectory, "-U", "postgres", "--auth-local=trust",
                                                    "--auth-host=scram-sha-256", "--no-sync", "-E", "UTF8", "--locale=C"])
            try Self.start(binDirectory: binDirectory, directory: directory, port: port)
        } catch {
            let log = (try? String(contentsOfFile: directory + "/server.log", encoding: .utf8)) ?? ""
            try? FileManager.default.removeItem(atPath: directory)
            throw Failure(description: "\(error)\n\(log)")
        }
        startup = clock.now - started
    }

    /// Stops and removes the clusters left by test processes that died without running their exit handler
    /// (a crash, SIGKILL): `/tmp/prober-pg-<pid>-*` whose pid is gone.
    private static func removeClustersOfDeadProcesses(binDirectory: String) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/tmp") else { return }
        for name in names where name.hasPrefix("prober-pg-") {
            let parts = name.split(separator: "-")
            guard parts.count == 4, let pid = Int32(parts[2]), pid != getpid(), kill(pid, 0) != 0, errno == ESRCH else { continue }
            let dir = "/tmp/" + name
            _ = try? asOwner("\(binDirectory)/pg_ctl", ["-D", dir + "/data", "-m", "immediate", "-w", "stop"], output: dir + "/pg_ctl.out")
            try? FileManager.default.removeItem(atPath: dir)
        }
    }

    /// Starts the server of this cluster (again, after `stopServer`): same data, socket and port.
    public func startServer() throws {
        try Self.start(binDirectory: binDirectory, directory: directory, port: port)
    }

    private static func start(binDirectory: String, directory: String, port: Int) throws {
        let dataDirectory = directory + "/data", socketDirectory = directory
        // pg_ctl's output to a file: the server it starts would keep a pipe open, and reading to its end never ends.
        try Self.asOwner("\(binDirectory)/pg_ctl", ["-D", dataDirectory, "-l", directory + "/server.log", "-w", "-t", "60",
                                               "-o", "-k \(socketDirectory) -p \(port) -c listen_addresses=127.0.0.1 "
                                               + "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                                               + "-c max_connections=200", "start"], output: directory + "/pg_ctl.out")
    }

    /// Stops the server and keeps its data (an outage: `-m fast` ends every session as an administrator's stop
    /// does); `startServer` brings it back. Use a cluster of your own (`TestPostgres()`), not `shared()`: other
    /// tests of the process use that one.
    public func stopServer() throws {
        try Self.asOwner("\(binDirectory)/pg_ctl", ["-D", dataDirectory, "-m", "fast", "-w", "-t", "60", "stop"],
                         output: directory + "/pg_ctl.out")
    }

    /// Stops the server at once and removes its folder.
    public func stop() {
        _ = try? Self.asOwner("\(binDirectory)/pg_ctl", ["-D", dataDirectory, "-m", "immediate", "-w", "stop"], output: directory + "/pg_ctl.out")
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// A new empty database; returns its name.
    public func makeDatabase() throws -> String {
        let name = lock.withLock {
            counter += 1
            return "prober_\(getpid())_\(counter)"
        }
        try psql("CREATE DATABASE \(name)")
        return name
    }

    public func dropDatabase(_ name: String) {
        _ = try? psql("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
    }

    /// The URL of `database` over the unix socket as `postgres` (trusted: no password).
    public func socketURL(_ database: String) -> String {
        "postgres://postgres@/\(database)?host=\(socketDirectory)&port=\(port)"
    }

    /// The URL of `database` over TCP on 127.0.0.1 (a password is asked for).
    public func tcpURL(_ database: String, user: String = "postgres", password: String? = nil) -> String {
        "postgres://\(user)\(password.map { ":" + $0 } ?? "")@127.0.0.1:\(port)/\(database)"
    }

    /// Runs SQL with psql over the socket as `postgres`; returns what it printed (unaligned, tuples only).
    @discardableResult
    public func psql(_ sql: String, database: String = "postgres") throws -> String {
        try Self.asOwner("\(binDirectory)/psql", ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", socketDirectory,
                                             "-p", String(port), "-U", "postgres", "-d", database, "-c", sql])
    }

    /// Runs a PostgreSQL program as the cluster's owner (`postgres` when the tests run as root).
    @discardableResult
    private static func asOwner(_ program: String, _ arguments: [String], output: String? = nil) throws -> String {
        if getuid() == 0 { return try Program.output("/usr/sbin/runuser", ["-u", "postgres", "--", program] + arguments, output: output) }
        return try Program.output(program, arguments, output: output)
    }

    private static func binDirectory() throws -> String {
        for config in ["/usr/bin/pg_config", "/usr/local/bin/pg_config"] where FileManager.default.isExecutableFile(atPath: config) {
            let dir = try Program.output(config, ["--bindir"]).trimmingCharacters(in: .whitespacesAndNewlines)
            if FileManager.default.isExecutableFile(atPath: dir + "/initdb") { return dir }
        }
        // Debian's pg_config (libpq-dev) may name the client's folder; the server's is here.
        if let versions = try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql") {
            for v in versions.sorted().reversed() where FileManager.default.isExecutableFile(atPath: "/usr/lib/postgresql/\(v)/bin/initdb") {
                return "/usr/lib/postgresql/\(v)/bin"
            }
        }
        throw Failure(description: "PostgreSQL's initdb was not found (pg_config --bindir, /usr/lib/postgresql/*/bin): "
            + "run `make test-deps` (installs postgresql)")
    }

    /// A TCP port on 127.0.0.1 free a moment ago (the kernel's pick for port 0).
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: \(errno)") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { p -> Int32 in
                guard bind(fd, p, length) == 0 else { return -1 }
                return getsockname(fd, p, &length)
            }
        }
        guard bound == 0 else { throw Failure(description: "bind: \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
