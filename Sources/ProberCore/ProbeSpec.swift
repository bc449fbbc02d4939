import Foundation
import Synchronization

/// One probe as declared in a probe file, validated and with every default applied.
///
/// A value type whose fields live in one shared, immutable box: the scheduler, the evaluator, the run loop
/// and the loaded set each keep the probes, and at 10,000 probes four inline copies of ~450 bytes cost
/// ~13 MB (measured with heaptrack). A copy is now one reference; a setter replaces the box.
public struct ProbeSpec: Sendable, Equatable {
    /// Unique across all probe files; letters, digits, `-`, `_`, `.`.
    public var name: String {
        get { box.fields.name }
        set { update { $0.name = newValue } }
    }
    /// What is checked.
    public var target: Target {
        get { box.fields.target }
        set { update { $0.target = newValue } }
    }
    /// Time between checks. Default 30 s; at least 100 ms.
    public var interval: Duration {
        get { .microseconds(box.fields.interval) }
        set { update { $0.interval = newValue.microseconds } }
    }
    /// Hard bound on one check. Default 5 s (or the interval if shorter); must be below `interval`.
    public var timeout: Duration {
        get { .microseconds(box.fields.timeout) }
        set { update { $0.timeout = newValue.microseconds } }
    }
    /// When incidents open, escalate and resolve.
    public var incident: IncidentPolicy {
        get { box.fields.incident.value }
        set { update { $0.incident = Shared.interned(newValue) } }
    }
    /// Where the probe was declared (for messages).
    public var source: SourceLocation {
        get { SourceLocation(file: box.fields.sourceFile, line: Int(box.fields.sourceLine), column: Int(box.fields.sourceColumn)) }
        set {
            update {
                $0.sourceFile = newValue.file
                $0.sourceLine = Int32(clamping: newValue.line)
                $0.sourceColumn = Int32(clamping: newValue.column)
            }
        }
    }
    /// The values its file took from the environment (`${VAR}`): wherever the probe's target or a
    /// check's failure is shown, stored or sent, each appears as its `${VAR}`.
    public var secrets: [Secret] {
        get { box.fields.secrets }
        set { update { $0.secrets = newValue } }
    }

    /// When planned work is expected (`maintenance:`): checks run, no incident opens or escalates. Empty by default.
    public var maintenance: [MaintenanceWindow] {
        get { box.fields.maintenance }
        set { update { $0.maintenance = newValue } }
    }

    /// 120 bytes with the box's header, so the box takes a 128-byte block (it took 160 with `Duration`s and
    /// `Int` line and column: 1.9 MB more at 60,000 probes).
    private struct Fields: Sendable, Equatable {
        var name: String
        var target: Target
        /// `interval` and `timeout` in whole microseconds, the finest unit a probe file can give (8 bytes, not 16).
        var interval: Int64
        var timeout: Int64
        /// Shared by the probes whose policy is the same: most have their file's defaults (~250 bytes inline).
        var incident: Shared<IncidentPolicy>
        /// `source`, its line and column in 32 bits each.
        var sourceFile: String
        var sourceLine: Int32
        var sourceColumn: Int32
        var secrets: [Secret] = []
        var maintenance: [MaintenanceWindow] = []
    }

    private final class Box: Sendable {
        let fields: Fields
        init(_ fields: Fields) { self.fields = fields }
    }

    private var box: Box

    /// The bytes a spec's box asks of the allocator, its header included (ProbeSpecLayoutTests).
    static var boxSize: Int { 16 + MemoryLayout<Fields>.size }

    private mutating func update(_ change: (inout Fields) -> Void) {
        var fields = box.fields
        change(&fields)
        box = Box(fields)
    }

    public init(name: String, target: Target, interval: Duration = .seconds(30), timeout: Duration = .seconds(5),
                incident: IncidentPolicy = IncidentPolicy(), source: SourceLocation = SourceLocation(file: "", line: 0, column: 0)) {
        box = Box(Fields(name: name, target: target, interval: interval.microseconds, timeout: timeout.microseconds,
                         incident: Shared.interned(incident), sourceFile: source.file, sourceLine: Int32(clamping: source.line),
                         sourceColumn: Int32(clamping: source.column)))
    }

    public static func == (a: ProbeSpec, b: ProbeSpec) -> Bool {
        a.box === b.box || a.box.fields == b.box.fields
    }

    public enum Target: Sendable, Equatable {
        case http(HTTPTarget)
        /// Boxed: a `TCPTarget` takes 57 bytes inline, which every HTTP probe's spec would otherwise carry too (2.4 MB at
        /// 60,000 probes).
        indirect case tcp(TCPTarget)
    }

    /// The probe's target as safe to show: a URL without credentials, query or fragment, or `host:port`,
    /// with every value from the environment shown as its `${VAR}`.
    public var displayTarget: String {
        switch target {
        // Secrets first: a `${BASE}` holding `https://user:key@host` stays `${BASE}` whole.
        case .http(let http): return Redact.url(Redact.text(http.url, hiding: secrets))
        case .tcp(let tcp):
            let host = Redact.text(tcp.host, hiding: secrets)
            return tcp.host.contains(":") ? "[\(host)]:\(tcp.port)" : "\(host):\(tcp.port)"
        }
    }

    /// `http` or `tcp`.
    public var kind: String {
        switch target {
        case .http: return "http"
        case .tcp: return "tcp"
        }
    }
}

/// A place in a probe file, 1-based.
public struct SourceLocation: Sendable, Equatable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int
    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }
    public var description: String { "\(file):\(line):\(column)" }
}

/// Which address family a check may use.
public enum IPFamilyPreference: String, Sendable, Equatable, CaseIterable {
    case any, ipv4, ipv6
}

/// The address family a check actually used.
public enum IPFamily: String, Sendable, Equatable, Codable {
    case ipv4, ipv6
}

public struct HTTPTarget: Sendable, Equatable {
    /// `http://` or `https://` URL, `${VAR}` already substituted.
    public var url: String
    /// Default `GET`.
    public var method: String {
        get { options.value.method }
        set { change { $0.method = newValue } }
    }
    /// Request headers in file order. Values may hold secrets from `${VAR}`: never log or store them.
    public var headers: [Header] {
        get { options.value.headers }
        set { change { $0.headers = newValue } }
    }
    /// Optional request body.
    public var body: String? {
        get { options.value.body }
        set { change { $0.body = newValue } }
    }
    /// Default true.
    public var followRedirects: Bool {
        get { options.value.followRedirects }
        set { change { $0.followRedirects = newValue } }
    }
    /// Redirects followed before `too_many_redirects`. Default 10.
    public var maxRedirects: Int {
        get { options.value.maxRedirects }
        set { change { $0.maxRedirects = newValue } }
    }
    /// An https probe follows a redirect to plain http only when this is true. Default false (such a
    /// redirect fails the check as `tls`); http probes may always be redirected to http or https.
    public var allowHTTPRedirects: Bool {
        get { options.value.allowHTTPRedirects }
        set { change { $0.allowHTTPRedirects = newValue } }
    }
    /// Whether `headers` are still sent after a redirect to another host. Default false: they are
    /// dropped at the first redirect that leaves the URL's host and port (libcurl itself drops only
    /// `Authorization` and `Cookie`).
    public var forwardHeadersAcrossHosts: Bool {
        get { options.value.forwardHeadersAcrossHosts }
        set { change { $0.forwardHeadersAcrossHosts = newValue } }
    }
    /// Proxy URL the check goes through. Default none: `http_proxy`, `HTTPS_PROXY`, `ALL_PROXY` and
    /// `NO_PROXY` in the environment are ignored, so a check measures the target, not a proxy.
    public var proxy: String? {
        get { options.value.proxy }
        set { change { $0.proxy = newValue } }
    }
    /// Default `any`.
    public var ip: IPFamilyPreference {
        get { options.value.ip }
        set { change { $0.ip = newValue } }
    }
    public var tls: TLSOptions {
        get { options.value.tls }
        set { change { $0.tls = newValue } }
    }
    public var expect: HTTPExpectations {
        get { options.value.expect }
        set { change { $0.expect = newValue } }
    }
    /// Most body bytes kept for matching; the rest is read and dropped. Default 1 MiB.
    public var maxBodyBytes: Int {
        get { options.value.maxBodyBytes }
        set { change { $0.maxBodyBytes = newValue } }
    }

    public init(url: String) {
        self.url = url
        options = Shared.interned(Options())
    }

    /// Everything but the URL, which the probes of a file mostly share (~180 bytes inline, 11 MB at 60,000 probes).
    private struct Options: Sendable, Equatable {
        var method = "GET"
        var headers: [Header] = []
        var body: String? = nil
        var followRedirects = true
        var maxRedirects = 10
        var allowHTTPRedirects = false
        var forwardHeadersAcrossHosts = false
        var proxy: String? = nil
        var ip: IPFamilyPreference = .any
        var tls = TLSOptions()
        var expect = HTTPExpectations()
        var maxBodyBytes = 1 << 20
    }

    private var options: Shared<Options>

    private mutating func change(_ edit: (inout Options) -> Void) {
        var value = options.value
        edit(&value)
        options = Shared.interned(value)
    }
}

/// An immutable value in a box that equal values share: `interned` hands out one of the last few boxes made for
/// the same type when its value is equal. For parts of `ProbeSpec` that most probes of a probe file have alike.
final class Shared<Value: Sendable & Equatable>: Sendable, Equatable {
    let value: Value
    private init(_ value: Value) { self.value = value }

    static func == (a: Shared, b: Shared) -> Bool { a === b || a.value == b.value }

    /// A box holding `value`: a recent one when its value is equal, else a new one (then kept among the recent).
    static func interned(_ value: Value) -> Shared {
        sharedRecent.withLock { recent in
            for case let box as Shared in recent where box.value == value { return box }
            let box = Shared(value)
            if recent.count >= 16 { recent.removeLast() }
            recent.insert(box, at: 0)
            return box
        }
    }
}

/// `Shared`'s last few distinct boxes, of any type (a probe set has few distinct values, made one probe after another;
/// a generic class cannot have a stored static property).
private let sharedRecent = Mutex<[AnyObject]>([])

public struct Header: Sendable, Equatable {
    public var name: String
    public var value: String
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

public struct TLSOptions: Sendable, Equatable {
    /// PEM bundle of CAs to trust instead of the system's.
    public var caFile: String? = nil
    /// Skip certificate verification (expiry is still recorded).
    public var insecure: Bool = false
    public init(caFile: String? = nil, insecure: Bool = false) {
        self.caFile = caFile
        self.insecure = insecure
    }
}

public struct HTTPExpectations: Sendable, Equatable {
    /// Accepted status codes. Default: any 2xx.
    public var status: StatusSet = .default
    /// Substring the body (first `maxBodyBytes`) must contain.
    public var bodyContains: String? = nil
    /// Regular expression the body must match.
    public var bodyMatches: String? = nil
    /// Headers that must be present; the value must contain the given text (case-insensitive name).
    public var headers: [Header] = []
    /// The TLS certificate must not expire sooner than this.
    public var certificateValidFor: Duration? = nil
    public init() {}
}

public struct TCPTarget: Sendable, Equatable {
    public var host: String
    public var port: Int
    /// Bytes sent once connected.
    public var send: String? = nil
    /// Substring the reply must contain (read until found, EOF or timeout).
    public var expect: String? = nil
    public var ip: IPFamilyPreference = .any
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }
}

/// A set of accepted HTTP status codes: single codes and inclusive ranges.
public struct StatusSet: Sendable, Equatable, CustomStringConvertible {
    public var ranges: [ClosedRange<Int>]
    public init(_ ranges: [ClosedRange<Int>]) { self.ranges = ranges }
    public static let `default` = StatusSet([200...299])
    public func contains(_ code: Int) -> Bool { ranges.contains { $0.contains(code) } }

    /// Parses one element: `200`, `"200"`, `"200-299"` or `"2xx"`. Codes must lie in 100...599.
    public static func parseElement(_ text: String) -> ClosedRange<Int>? {
        let t = text.trimmingSpaces
        if t.count == 3, t.hasSuffix("xx"), let d = Int(t.prefix(1)), (1...5).contains(d) { return (d * 100)...(d * 100 + 99) }
        let parts = t.split(separator: "-", omittingEmptySubsequences: false)
        if parts.count == 1, let c = Int(parts[0]), (100...599).contains(c) { return c...c }
        if parts.count == 2, let a = Int(parts[0].trimmingSpaces),
           let b = Int(parts[1].trimmingSpaces),
           (100...599).contains(a), (100...599).contains(b), a <= b { return a...b }
        return nil
    }

    public var description: String {
        ranges.map { $0.lowerBound == $0.upperBound ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)" }
            .joined(separator: ", ")
    }
}

/// When a probe's degradation becomes an incident.
public struct IncidentPolicy: Sendable, Equatable {
    /// IsDown custom service id; without it incidents stay local.
    public var serviceID: Int? = nil
    /// Name used in generated titles; default the probe's name.
    public var title: String? = nil
    /// Checks the evaluator looks at. Default 10.
    public var window: Int = 10
    /// Default: p95 above 1 s, or 3 failures in the window.
    public var minor: Threshold = Threshold(latency: .seconds(1), failures: 3)
    /// Default: 5 failures in the window (no latency threshold).
    public var major: Threshold = Threshold(latency: nil, failures: 5)
    /// A level must hold this long before an incident opens or changes level. Default 1 m.
    public var holdFor: Duration = .seconds(60)
    /// Healthy this long before an incident is resolved. Default 5 m.
    public var resolveAfter: Duration = .seconds(300)
    /// How many of the locations running the probe must see a degradation before the fleet's incident opens
    /// or escalates (`2`, `50%`, `majority`). Default: a majority. With one location every rule asks for that
    /// one, except a number above 1, which then opens nothing. Only a shared (PostgreSQL) database has a fleet.
    public var quorum: Quorum = .majority
    /// The factors and floors of `latency: auto` (see `AutoThresholds`).
    public var auto: AutoThresholds = AutoThresholds()
    /// `group:`: whether and how the probe's incidents are shared with other probes' (see `IncidentGroups`).
    /// Default: automatically, with the probes failing at its endpoint for the same class of reason.
    public var grouping: IncidentGrouping = .automatic
    public init() {}
}

/// How a probe's incidents are shared with other probes' (`incident.group`).
public enum IncidentGrouping: Sendable, Equatable {
    /// With the probes failing at the same endpoint for the same class of reason (no `group`).
    case automatic
    /// With every probe of the group `NAME`, whatever the reason (`group: NAME`).
    case named(String)
    /// Never: its incidents are its own (`group: none`).
    case none
}

/// A level's trigger: p95 latency over the window above `latency`, or at least `failures` failed checks in it.
public struct Threshold: Sendable, Equatable {
    public var latency: Duration?
    public var failures: Int?
    /// `latency: auto`: the latency limit follows the probe's own reference (Evaluator+Auto.swift). In a probe's
    /// policy `latency` is then nil; the evaluator sets it once the reference has enough checks.
    public var autoLatency: Bool
    public init(latency: Duration?, failures: Int?, autoLatency: Bool = false) {
        self.latency = latency
        self.failures = failures
        self.autoLatency = autoLatency
    }
}

/// Retention for the store, from the top-level `storage:` block.
public struct StoragePolicy: Sendable, Equatable {
    /// Raw samples kept this long. Default 30 d: archived days take about 9 bytes a sample, so 30 days fit in the
    /// space 7 days took before issue 16 (docs/storage.md, "Bytes per raw sample").
    public var raw: Duration = .seconds(30 * 86_400) { didSet { rawIsSet = true } }
    /// Whether `raw` was set (a probe file's `storage.raw`). Without it a PostgreSQL store keeps
    /// `unarchivedRawDefault`: it does not archive days (about 140 bytes a sample against 9), so its 30 days
    /// would take four times the space its 7 days took.
    public private(set) var rawIsSet = false
    /// The raw retention of a store that keeps samples as rows, unarchived (PostgreSQL), when `raw` is not set.
    public static let unarchivedRawDefault: Duration = .seconds(7 * 86_400)
    /// The raw retention of a store that keeps samples as rows, unarchived.
    public var rawUnarchived: Duration { rawIsSet ? raw : Self.unarchivedRawDefault }
    /// 5-minute rollups kept this long. Default 31 d: longer than `raw`, as rollups must outlive their samples.
    public var rollup5m: Duration = .seconds(31 * 86_400)
    /// 1-hour rollups kept this long. Default 400 d.
    public var rollup1h: Duration = .seconds(400 * 86_400)
    public init() {}
}

/// Everything loaded from a probes directory.
public struct ProbeSet: Sendable, Equatable {
    public var probes: [ProbeSpec]
    public var files: [String]
    public var storage: StoragePolicy
    public var notify: [NotifySink]
    /// The connectivity canaries of every file's `connectivity:` block (see Connectivity.swift); empty without one.
    public var canaries: [ProbeSpec]
    public init(probes: [ProbeSpec], files: [String], storage: StoragePolicy = StoragePolicy(), notify: [NotifySink] = [],
                canaries: [ProbeSpec] = []) {
        self.probes = probes
        self.files = files
        self.storage = storage
        self.notify = notify
        self.canaries = canaries
    }
}

/// A `notify:` entry of a probe file: a webhook receiving every incident change of the probes in that file,
/// in the shape its `format` names.
public struct NotifySink: Sendable, Equatable {
    /// What a `notify:` entry's calls look like (`format:`); each is one sink in ProberDelivery.
    public enum Format: String, Sendable, Equatable, CaseIterable {
        /// `{"event": …, "data": <incident document>}` (the default).
        case webhook
        /// A Slack incoming-webhook message.
        case slack
        /// PagerDuty Events API v2.
        case pagerduty
    }

    public var webhook: String
    public var headers: [Header]
    /// Names of the probes (from the same file) whose incidents go to this webhook.
    public var probes: [String]
    /// Default `webhook`.
    public var format: Format
    /// PagerDuty's integration key (`routing_key:`, usually `${ENV}`): a secret, added to each event at send time.
    public var routingKey: String?
    public init(webhook: String, headers: [Header], probes: [String], format: Format = .webhook, routingKey: String? = nil) {
        self.webhook = webhook
        self.headers = headers
        self.probes = probes
        self.format = format
        self.routingKey = routingKey
    }
}

extension ProbeSpec {
    /// What this probe's settings give up, one sentence each, to be said when it is loaded and run
    /// (`prober run` logs them, `prober once` prints them). Empty for a probe with safe settings.
    public var securityWarnings: [String] {
        guard case .http(let http) = target else { return [] }
        var warnings: [String] = []
        if http.tls.insecure {
            warnings.append("probe '\(name)' has tls.insecure: its certificate is not verified, so anyone on the path can answer for \(displayTarget)")
        }
        if http.allowHTTPRedirects {
            warnings.append("probe '\(name)' has allow_http_redirects: a redirect may continue over plain http")
        }
        if http.forwardHeadersAcrossHosts, !http.headers.isEmpty, http.followRedirects {
            warnings.append("probe '\(name)' has forward_headers_across_hosts: its headers go to any host a redirect names")
        }
        if let proxy = http.proxy {
            let shown = Redact.url(Redact.text(proxy, hiding: secrets))
            warnings.append("probe '\(name)' goes through proxy \(shown): its DNS, connect and TLS phases are measured to the proxy")
        }
        return warnings
    }
}
