import CCurl
import Foundation
import ProberCore

/// What the engine was asked to do, as handed over through the inbox.
enum Work: Sendable {
    case probe(ProbeSpec, ProbeCompletion)
    case request(HTTPRequest, @Sendable (HTTPResponse) -> Void)
}

/// One transfer in flight: its easy handle, what it has collected so far, and who is waiting for it.
///
/// Lives on the engine thread only; libcurl's callbacks reach it through an unretained pointer
/// (CURLOPT_WRITEDATA / CURLOPT_HEADERDATA) while the engine's table of transfers keeps it alive.
final class Transfer {
    let work: Work
    let easy: CurlEasy
    /// Request headers; libcurl reads the list until the transfer ends.
    var headerList: CurlHeaderList?
    /// The first `bodyLimit` bytes of the body.
    var body: [UInt8] = []
    let bodyLimit: Int
    /// Every body byte received, kept or not.
    var bytes: Int64 = 0
    /// Headers of the latest response (reset at each status line, so redirects leave only the last).
    var headers: [Header] = []
    /// Wall-clock start (µs since the epoch) and monotonic start/deadline (µs).
    let startedAt: Int64
    let startMono: Int64
    let deadline: Int64
    /// Set once a TCP probe is connected and has something to send or expect.
    var tcp: TCPSession?
    /// Whether the TCP session waits to write (else to read).
    var tcpWantsWrite = false
    /// Status of the response whose headers are arriving.
    var responseStatus = 0
    /// The custom request headers at the start of `headerList`, dropped at the first redirect to
    /// another host (0 when they may go anywhere or none were given).
    var guardedHeaders = 0
    /// Scheme, host and port the custom headers may be sent to (nil when the URL could not be placed:
    /// then any redirect drops them).
    var headerOrigin: Origin?
    /// The local address the connection is bound to (`--source-address`), for the failure message when it cannot be.
    var sourceAddress: SourceAddress?

    init(work: Work, easy: CurlEasy, bodyLimit: Int, timeout: Duration, startedAt: Int64) {
        self.work = work
        self.easy = easy
        self.bodyLimit = bodyLimit
        self.startedAt = startedAt
        startMono = monotonicMicros()
        deadline = startMono + max(timeout.microseconds, 1_000)
    }

    var opaque: UnsafeMutableRawPointer { Unmanaged.passUnretained(self).toOpaque() }
}

/// CURLOPT_WRITEFUNCTION: count every byte, keep at most `bodyLimit`.
let transferWriteCallback: curl_write_callback = { data, size, count, user in
    let n = size * count
    guard let user else { return n }
    let t = Unmanaged<Transfer>.fromOpaque(user).takeUnretainedValue()
    t.bytes += Int64(n)
    let room = t.bodyLimit - t.body.count
    if room > 0, let data {
        t.body.append(contentsOf: UnsafeRawBufferPointer(start: data, count: min(room, n)))
    }
    return n
}

/// CURLOPT_HEADERFUNCTION: one header line per call; a status line starts a new response.
let transferHeaderCallback: curl_write_callback = { data, size, count, user in
    let n = size * count
    guard let user, let data else { return n }
    let t = Unmanaged<Transfer>.fromOpaque(user).takeUnretainedValue()
    let line = UnsafeRawBufferPointer(start: data, count: n)
    if line.starts(with: "HTTP/".utf8) {
        t.headers.removeAll(keepingCapacity: true)
        t.responseStatus = statusCode(line)
        return n
    }
    guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { return n }
    if t.guardedHeaders > 0, (300...399).contains(t.responseStatus),
       String(decoding: line[..<colon], as: UTF8.self).lowercased() == "location" {
        t.guardHeaders(redirectingTo: String(decoding: line[(colon + 1)...], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }
    guard t.headers.count < 200 else { return n }
    let name = String(decoding: line[..<colon], as: UTF8.self)
    let value = String(decoding: line[(colon + 1)...], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    t.headers.append(Header(name: name, value: value))
    return n
}

/// The code of a status line such as `HTTP/1.1 302 Found` (0 when there is none).
private func statusCode(_ line: UnsafeRawBufferPointer) -> Int {
    let parts = line.split(separator: UInt8(ascii: " "), maxSplits: 2)
    guard parts.count >= 2 else { return 0 }
    return Int(String(decoding: parts[1], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
}

/// Where a URL points, as libcurl compares hosts before sending credentials: scheme, host and port.
struct Origin: Equatable {
    var scheme: String
    var host: String
    var port: Int

    init?(_ url: URL) {
        guard let scheme = url.scheme?.lowercased(), let host = url.host?.lowercased() else { return nil }
        self.scheme = scheme
        self.host = host
        port = url.port ?? (scheme == "https" ? 443 : 80)
    }
}

extension Transfer {
    /// Drops the custom headers for good when a redirect leaves their origin.
    ///
    /// libcurl re-reads the CURLOPT_HTTPHEADER list for every request it makes while following, and sends
    /// no header whose value is empty (https://curl.se/libcurl/c/CURLOPT_HTTPHEADER.html), so cutting
    /// each of our lines after its colon stops them before the redirected request is built. The value's
    /// bytes are zeroed, so the secret does not linger in memory either.
    func guardHeaders(redirectingTo location: String) {
        let current = easy.string(CURLINFO_EFFECTIVE_URL).flatMap { URL(string: $0) }
        // A Location we cannot place may still be followed by libcurl: treat it as another host.
        let target = URL(string: location, relativeTo: current).flatMap { Origin($0.absoluteURL) }
        if let origin = headerOrigin, target == origin { return }
        var node = headerList?.list
        for _ in 0..<guardedHeaders {
            guard let n = node else { break }
            if let data = n.pointee.data, let colon = strchr(data, Int32(UInt8(ascii: ":"))) {
                let rest = colon + 1
                memset(rest, 0, strlen(rest))
            }
            node = n.pointee.next
        }
        guardedHeaders = 0
    }
}

extension Transfer {
    /// Options every HTTP transfer gets: a fresh connection, no signals, a hard timeout, no caches that
    /// would hide DNS or TLS time, and our body/header collectors.
    func configureHTTP(url: String, method: String, headers: [Header], body: [UInt8]?, timeout: Duration,
                       followRedirects: Bool, maxRedirects: Int, ip: IPFamilyPreference, tls: TLSOptions,
                       certificateInfo: Bool, collectHeaders: Bool) {
        let e = easy
        e.set(CURLOPT_URL, url)
        e.set(CURLOPT_NOSIGNAL, true)
        e.set(CURLOPT_FORBID_REUSE, true)
        e.set(CURLOPT_FRESH_CONNECT, true)
        // Resolve and handshake for real each time: the DNS and TLS phases are part of what we measure.
        e.set(CURLOPT_DNS_CACHE_TIMEOUT, 0)
        e.set(CURLOPT_SSL_SESSIONID_CACHE, false)
        e.set(CURLOPT_TIMEOUT_MS, max(Int(timeout.milliseconds), 1))
        e.set(CURLOPT_ERRORBUFFER, pointer: UnsafeMutableRawPointer(e.errorBuffer))
        e.set(CURLOPT_PROTOCOLS_STR, literal: "http,https")
        // A probe's own redirect and proxy settings; plain requests (the outbox) never follow redirects.
        var probe: HTTPTarget?
        if case .probe(let spec, _) = work, case .http(let http) = spec.target { probe = http }
        let isHTTPS = ProberProbes.isHTTPS(url)
        // An https probe is not downgraded to plain http by a redirect unless it says so.
        if isHTTPS && probe?.allowHTTPRedirects != true {
            e.set(CURLOPT_REDIR_PROTOCOLS_STR, literal: "https")
        } else {
            e.set(CURLOPT_REDIR_PROTOCOLS_STR, literal: "http,https")
        }
        if let probe {
            // "" ignores http_proxy, HTTPS_PROXY, ALL_PROXY: a check measures the target, not a proxy,
            // unless the probe names one. https://curl.se/libcurl/c/CURLOPT_PROXY.html
            if let proxy = probe.proxy { e.set(CURLOPT_PROXY, proxy) } else { e.set(CURLOPT_PROXY, literal: "") }
            if followRedirects, !probe.forwardHeadersAcrossHosts, !headers.isEmpty {
                guardedHeaders = headers.count
                headerOrigin = URL(string: url).flatMap(Origin.init)
            }
        }
        e.set(CURLOPT_USERAGENT, literal: "prober/1")
        prober_easy_setopt_write(e.handle, CURLOPT_WRITEFUNCTION, transferWriteCallback)
        e.set(CURLOPT_WRITEDATA, pointer: opaque)
        if collectHeaders || guardedHeaders > 0 {
            prober_easy_setopt_write(e.handle, CURLOPT_HEADERFUNCTION, transferHeaderCallback)
            e.set(CURLOPT_HEADERDATA, pointer: opaque)
        }
        if followRedirects {
            e.set(CURLOPT_FOLLOWLOCATION, true)
            e.set(CURLOPT_MAXREDIRS, maxRedirects)
        }
        switch ip {
        case .any: break
        case .ipv4: e.set(CURLOPT_IPRESOLVE, prober_ipresolve_v4())
        case .ipv6: e.set(CURLOPT_IPRESOLVE, prober_ipresolve_v6())
        }
        if let caFile = tls.caFile { e.set(CURLOPT_CAINFO, caFile) }
        if tls.insecure {
            e.set(CURLOPT_SSL_VERIFYPEER, false)
            e.set(CURLOPT_SSL_VERIFYHOST, 0)
        }
        if certificateInfo { e.set(CURLOPT_CERTINFO, true) }

        var lines = headers.map { "\($0.name): \($0.value)" }
        let upper = method.uppercased()
        if let body {
            // No `Expect: 100-continue` round trip (servers that ignore it cost a second).
            lines.append("Expect:")
            e.set(CURLOPT_POSTFIELDSIZE_LARGE, body.count)
            if body.isEmpty {
                e.set(CURLOPT_COPYPOSTFIELDS, "")
            } else {
                body.withUnsafeBytes { raw in _ = e.set(CURLOPT_COPYPOSTFIELDS, pointer: UnsafeMutableRawPointer(mutating: raw.baseAddress)) }
            }
            if upper != "POST" { e.set(CURLOPT_CUSTOMREQUEST, method) }
        } else if upper == "HEAD" {
            e.set(CURLOPT_NOBODY, true)
        } else if upper != "GET" {
            e.set(CURLOPT_CUSTOMREQUEST, method)
        }
        if !lines.isEmpty {
            let list = CurlHeaderList(lines)
            headerList = list
            prober_easy_setopt_slist(e.handle, CURLOPT_HTTPHEADER, list.list)
        }
    }

    /// A TCP probe: libcurl resolves (asynchronously) and connects, then stops (CURLOPT_CONNECT_ONLY);
    /// the engine does the optional send/expect with curl_easy_send/recv on the same thread.
    func configureTCP(_ tcp: TCPTarget, timeout: Duration) {
        let e = easy
        let host = tcp.host.contains(":") ? "[\(tcp.host)]" : tcp.host
        e.set(CURLOPT_URL, "http://\(host):\(tcp.port)/")
        e.set(CURLOPT_CONNECT_ONLY, 1)
        // Connect to the target itself, never through a proxy from http_proxy or ALL_PROXY.
        e.set(CURLOPT_PROXY, literal: "")
        e.set(CURLOPT_NOSIGNAL, true)
        e.set(CURLOPT_FRESH_CONNECT, true)
        e.set(CURLOPT_DNS_CACHE_TIMEOUT, 0)
        e.set(CURLOPT_TIMEOUT_MS, max(Int(timeout.milliseconds), 1))
        e.set(CURLOPT_ERRORBUFFER, pointer: UnsafeMutableRawPointer(e.errorBuffer))
        switch tcp.ip {
        case .any: break
        case .ipv4: e.set(CURLOPT_IPRESOLVE, prober_ipresolve_v4())
        case .ipv6: e.set(CURLOPT_IPRESOLVE, prober_ipresolve_v6())
        }
    }
}
