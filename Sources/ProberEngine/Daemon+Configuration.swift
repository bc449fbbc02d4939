import CJemalloc
import Foundation
import ProberCore
import ProberDelivery
import ProberHTTP
import ProberStorage


extension Daemon {
    /// What `prober run` decides from its flags and environment; everything else comes from the probe files.
    public struct Configuration: Sendable {
        /// The probe files' directory (`--probes`), read at start and on every reload.
        public var probes: String
        /// The database (`--db`).
        public var database: String
        /// Where `${VAR}` in probe files is looked up.
        public var environment: [String: String]
        /// Serve `/metrics`, `/healthz`, `/api/v1` and the pages here (`--listen`); nil: no listener.
        public var listen: ListenAddress?
        /// The bearer token every path but `/healthz` requires (`--listen-token-file`); nil: none. Required to
        /// listen beyond loopback, unless `listenInsecure`.
        public var listenToken: BearerToken?
        /// Serve beyond loopback without a token (`--listen-insecure`): the operator says the network is trusted.
        public var listenInsecure = false
        /// Most checks in flight at once (`--max-in-flight`).
        public var maxInFlight: Int
        /// Where this prober probes from (`--location`, default the host name): 1-64 characters of
        /// `[A-Za-z0-9._-]` (`Daemon.Configuration.locationProblem`). Logged at start and shown on `/metrics` as
        /// `prober_info{location=...}`.
        public var location: String
        /// The local address every probe's connection is bound to (`--source-address`), a literal IPv4 or IPv6
        /// address; nil: the system chooses. Deliveries to IsDown and webhooks are not bound.
        public var sourceAddress: String?
        /// The IsDown API and its key; the webhooks are taken from the probe files.
        public var isdown: IsDownSink
        /// systemd notifications; nil: none.
        public var notifier: SystemdNotifier?
        /// How long a reload may spend loading the probe files before it is abandoned (the current set kept).
        /// The loader's own limits bound it far below this; the deadline covers what they cannot (a file system
        /// that stops answering). Default 30 s.
        public var reloadDeadline: Duration = .seconds(30)
        /// With a PostgreSQL `database`: the directory of the on-disk spool that keeps the samples the server
        /// cannot take (`--spool`; relative paths from the working directory). Unused with SQLite.
        public var spoolDirectory = "prober-spool"
        /// Most bytes the spool may take; beyond it the oldest samples are dropped, counted (`--spool-max`).
        /// Default 1 GiB (about 50 million samples).
        public var spoolMaxBytes: Int64 = 1 << 30
        /// How often this prober writes its heartbeat for `prober fleet` (`PROBER_HEARTBEAT_INTERVAL`); it is
        /// called stale after three without one. Default 10 s.
        public var heartbeatEvery: Duration = .microseconds(ProberHeartbeat.defaultEvery)

        public init(probes: String, database: String, environment: [String: String] = ProcessInfo.processInfo.environment,
                    listen: ListenAddress? = nil, maxInFlight: Int = 256,
                    location: String = Configuration.hostLocation, sourceAddress: String? = nil,
                    isdown: IsDownSink = IsDownSink(),
                    notifier: SystemdNotifier? = nil) {
            self.probes = probes
            self.database = database
            self.environment = environment
            self.listen = listen
            self.maxInFlight = maxInFlight
            self.location = location
            self.sourceAddress = sourceAddress
            self.isdown = isdown
            self.notifier = notifier
        }

        /// The host name (`gethostname`), the default location; "localhost" when the system has none.
        public static var hostLocation: String {
            var buffer = [CChar](repeating: 0, count: 256)
            guard gethostname(&buffer, buffer.count - 1) == 0, buffer[0] != 0 else { return "localhost" }
            return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }

        /// Why `name` cannot be a location, for the command line; nil when it can. A location names this prober
        /// in every sample, in incident descriptions and on `/metrics`, so it is kept to characters that need no
        /// quoting anywhere.
        public static func locationProblem(_ name: String) -> String? {
            if name.isEmpty { return "a location cannot be empty" }
            if name.utf8.count > 64 { return "'\(name.prefix(16))…' is \(name.utf8.count) characters long, at most 64" }
            if let bad = name.unicodeScalars.first(where: { !Self.locationCharacters.contains($0) }) {
                return "'\(name)' contains '\(bad.escaped(asASCII: true))': use only letters, digits, '.', '_' and '-'"
            }
            return nil
        }

        private static let locationCharacters = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-".unicodeScalars)

        /// Where incident changes go: IsDown, and the `notify:` entries of the probe files, each in its format.
        func sinks(_ webhooks: [NotifySink]) -> [any Sink] { [isdown] + webhooks.map { $0.sink(location: location) } }
    }
}

/// `host:port` for `--listen`; `[::1]:9464` for IPv6; a bare port is `127.0.0.1:port` (loopback by default).
public struct ListenAddress: Sendable, CustomStringConvertible {
    public var host: String
    public var port: UInt16

    public init?(_ text: String) {
        if let port = UInt16(text) {
            self.host = "127.0.0.1"
            self.port = port
            return
        }
        guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]) else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        self.host = host
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// Whether only this machine can connect: `localhost`, `127.0.0.0/8`, `::1` (or `::ffff:127.x.y.z`).
    /// Any other name or address counts as beyond loopback, a wildcard (`0.0.0.0`, `::`) included.
    public var isLoopback: Bool {
        if host == "localhost" { return true }
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 { return UInt32(bigEndian: v4.s_addr) >> 24 == 127 }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, host, &v6) == 1 else { return false }
        let bytes = withUnsafeBytes(of: &v6) { Array($0) }
        if bytes[0..<15].allSatisfy({ $0 == 0 }) && bytes[15] == 1 { return true }
        return bytes[0..<10].allSatisfy { $0 == 0 } && bytes[10] == 0xff && bytes[11] == 0xff && bytes[12] == 127
    }
}

/// The process's allocator, jemalloc (`CJemalloc`, linked in place of glibc's malloc).
///
/// At 30,000 probes the daemon took 9 % less CPU per check with it than with glibc's malloc tuned to two arenas
/// (both builds running side by side, three rounds: docs/benchmarks.md). libcurl allocates each check's
/// connection on the probe thread and the check's sample is freed on the tracker's and the store's: glibc served
/// those from arenas shared under a lock and consolidated its free lists on each large request.
enum Allocator {
    /// Hands the pages of freed blocks back to the system now, in every arena, rather than as they age (a probe set's
    /// YAML nodes, freed once it is loaded, are megabytes at 30,000 probes).
    static func releaseFreePages() {
        _ = mallctl("arena.\(MALLCTL_ARENAS_ALL).purge", nil, nil, nil, 0)
    }
}
