import CCurl
import ProberCore
#if canImport(Glibc)
import Glibc
#endif

/// Turning a finished transfer into a `Sample` or an `HTTPResponse`.
extension Transfer {
    /// Cumulative *_TIME_T values (µs from the start of the transfer) made into separate phases.
    /// A phase libcurl never reached stays nil. https://curl.se/libcurl/c/curl_easy_getinfo.html#TIMES
    func phases(tls isTLS: Bool) -> Phases {
        let e = easy
        let dns = e.offset(CURLINFO_NAMELOOKUP_TIME_T)
        let connect = e.offset(CURLINFO_CONNECT_TIME_T)
        let app = e.offset(CURLINFO_APPCONNECT_TIME_T)
        let pre = e.offset(CURLINFO_PRETRANSFER_TIME_T)
        let start = e.offset(CURLINFO_STARTTRANSFER_TIME_T)
        let total = e.offset(CURLINFO_TOTAL_TIME_T)
        var p = Phases()
        if dns > 0 || connect > 0 { p.dns = dns }
        if connect > 0 { p.connect = max(connect - dns, 0) }
        if isTLS, app > 0 { p.tls = max(app - connect, 0) }
        if pre > 0, start > 0 { p.processing = max(start - pre, 0) }
        if start > 0 { p.transfer = max(total - start, 0) }
        p.total = total > 0 ? total : monotonicMicros() - startMono
        return p
    }

    /// The remote address libcurl used, and its family.
    func remote() -> (String?, IPFamily?) {
        guard let ip = easy.string(CURLINFO_PRIMARY_IP), !ip.isEmpty else { return (nil, nil) }
        return (ip, ip.utf8.contains(UInt8(ascii: ":")) ? .ipv6 : .ipv4)
    }

    /// Whether libcurl stopped at a redirect from https to another scheme.
    private var isDowngrade: Bool {
        guard let effective = easy.string(CURLINFO_EFFECTIVE_URL)?.lowercased(), !effective.hasPrefix("https:") else { return false }
        if case .probe(let spec, _) = work, case .http(let http) = spec.target { return isHTTPS(http.url) }
        return false
    }

    /// A failed transfer's reason, from the curl code and how far it got.
    func failure(_ code: CURLcode) -> Failure {
        let message = easy.errorText(code)
        let connected = easy.offset(CURLINFO_CONNECT_TIME_T) > 0
        let reason: FailureReason
        switch code.rawValue {
        case 1 where easy.long(CURLINFO_REDIRECT_COUNT) > 0 || isDowngrade:  // UNSUPPORTED_PROTOCOL on a redirect
            let to = easy.string(CURLINFO_EFFECTIVE_URL).map { " to \(Redact.url($0))" } ?? ""
            let hint = isDowngrade ? " (an https probe follows only https redirects; allow_http_redirects: true follows http too)" : ""
            return Failure(.other, "redirected\(to), a scheme this probe does not follow" + hint)
        case 5, 6: reason = .dns                                         // COULDNT_RESOLVE_PROXY/HOST
        case 7: reason = easy.long(CURLINFO_OS_ERRNO) == Int(ECONNREFUSED) ? .connectRefused : .connect
        case 45 where sourceAddress != nil:                             // INTERFACE_FAILED
            return Failure(.connect, bindFailure(message))
        case 28:                                                        // OPERATION_TIMEDOUT
            if connected { reason = .timeout }
            else if message.hasPrefix("Resolving timed out") { reason = .dns }
            else { reason = .connectTimeout }
        case 35, 51, 53, 54, 58, 59, 60, 64, 66, 77, 80, 82, 83, 90, 91, 98: reason = .tls
        case 47: reason = .tooManyRedirects
        case 55: reason = .send
        case 18, 52, 56: reason = .receive                              // PARTIAL_FILE, GOT_NOTHING, RECV_ERROR
        case 27 where connected, 100:                                   // OUT_OF_MEMORY, TOO_LARGE (libcurl >= 8.6)
            // libcurl's buffers for a header line stop at CURL_MAX_HTTP_HEADER; before 8.6 hitting that
            // limit is reported as "Out of memory", which is not what happened.
            return Failure(.other, "a response header line is larger than \(Int(CURL_MAX_HTTP_HEADER) / 1024) KB, libcurl's limit (CURL_MAX_HTTP_HEADER)")
        default: reason = .other
        }
        return Failure(reason, message)
    }

    /// Why the connection could not be bound to `--source-address`, in words a person can act on.
    ///
    /// libcurl says "bind failed with errno 99: Cannot assign requested address" when the address is not one of
    /// this host's: the hint says what that means.
    private func bindFailure(_ curlMessage: String) -> String {
        let source = sourceAddress?.address ?? "?"
        var target = ""
        if case .probe(let spec, _) = work { target = " to reach \(spec.displayTarget)" }
        let hint = easy.long(CURLINFO_OS_ERRNO) == Int(EADDRNOTAVAIL) ? " (is it an address of this host?)" : ""
        return "cannot bind to source address \(source) (--source-address)\(target): \(curlMessage)\(hint)"
    }

    /// https: the leaf certificate's expiry and the earliest in the chain the server sent, epoch seconds.
    /// Read from CURLOPT_CERTINFO's "Expire date:" entries (OpenSSL's ASN1_TIME_print format).
    func certificateExpiry() -> (leaf: Int64?, earliest: Int64?) {
        var info: UnsafeMutablePointer<curl_certinfo>? = nil
        guard prober_easy_getinfo_certinfo(easy.handle, &info) == CURLE_OK, let info,
              info.pointee.num_of_certs > 0, let lists = info.pointee.certinfo else { return (nil, nil) }
        var leaf: Int64? = nil
        var earliest: Int64? = nil
        for i in 0..<Int(info.pointee.num_of_certs) {
            var node = lists[i]
            while let n = node {
                if let data = n.pointee.data, strncmp(data, "Expire date:", 12) == 0, let t = parseCertificateTime(data + 12) {
                    if i == 0 { leaf = t }
                    earliest = min(earliest ?? t, t)
                    break
                }
                node = n.pointee.next
            }
        }
        return (leaf, earliest)
    }
}

/// `Nov 27 07:00:00 2026 GMT` (OpenSSL's ASN1_TIME_print) -> epoch seconds.
func parseCertificateTime(_ text: UnsafePointer<CChar>) -> Int64? {
    let parts = String(cString: text).split(separator: " ")
    let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    guard parts.count >= 4, let month = months.firstIndex(of: String(parts[0])), let day = Int(parts[1]),
          let year = Int(parts[3]) else { return nil }
    let clock = parts[2].split(separator: ":").compactMap { Int($0) }
    guard clock.count == 3 else { return nil }
    var t = tm()
    t.tm_year = Int32(year - 1900)
    t.tm_mon = Int32(month)
    t.tm_mday = Int32(day)
    t.tm_hour = Int32(clock[0])
    t.tm_min = Int32(clock[1])
    t.tm_sec = Int32(clock[2])
    return Int64(timegm(&t))
}

/// How soon a certificate expires, for people: "in 3 days", "in 5 hours", "2 days ago".
func certificateExpiryPhrase(secondsLeft: Int64) -> String {
    let s = abs(secondsLeft)
    let text: String
    let days = (s + 43_200) / 86_400 // nearest day: a 3-day certificate checked a second later is still "3 days"
    if days >= 2 { text = "\(days) days" }
    else if s >= 86_400 { text = "1 day" }
    else if s >= 7_200 { text = "\(s / 3_600) hours" }
    else if s >= 120 { text = "\(s / 60) minutes" }
    else { text = "\(s) seconds" }
    return secondsLeft >= 0 ? "certificate expires in \(text)" : "certificate expired \(text) ago"
}

/// Short, printable excerpt of bytes a target sent, for mismatch messages (`Redact.excerptEscaped`'s form).
func excerpt(_ bytes: some Collection<UInt8>, limit: Int = 60) -> String {
    let out = Redact.excerptEscaped(bytes.prefix(limit))
    return bytes.count > limit ? out + "…" : out
}

/// Whether `needle` occurs in `haystack` (memmem).
func bytesContain(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
    if needle.isEmpty { return true }
    return haystack.withUnsafeBytes { h in
        needle.withUnsafeBytes { n in memmem(h.baseAddress, h.count, n.baseAddress, n.count) != nil }
    }
}
