import CCurl
#if canImport(Glibc)
import Glibc
#endif

/// libcurl's process-wide setup, done once before the first engine starts its thread.
/// https://curl.se/libcurl/c/curl_global_init.html
///
/// SIGPIPE is ignored: with CURLOPT_NOSIGNAL the application must deal with it, and OpenSSL writing a
/// TLS alert to a server that already closed raises it, which would kill the process
/// (https://curl.se/libcurl/c/CURLOPT_NOSIGNAL.html). Writes then fail with EPIPE instead.
enum CurlGlobal {
    static let initialized: Bool = {
        signal(SIGPIPE, SIG_IGN)
        return curl_global_init(Int(CURL_GLOBAL_ALL)) == CURLE_OK
    }()
}

/// One `CURL*` easy handle and the error buffer libcurl writes into while it runs.
///
/// Owned by the engine thread: created, configured, run, read and freed there only.
final class CurlEasy {
    let handle: UnsafeMutableRawPointer
    /// CURLOPT_ERRORBUFFER: must outlive the transfer, so it lives as long as the handle.
    let errorBuffer: UnsafeMutablePointer<CChar>

    init?() {
        guard let h = curl_easy_init() else { return nil }
        handle = h
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
    }

    deinit {
        curl_easy_cleanup(handle)
        errorBuffer.deallocate()
    }

    /// Back to a blank handle for the next transfer (curl_easy_reset keeps nothing we set).
    func reset() {
        curl_easy_reset(handle)
        errorBuffer[0] = 0
    }

    @discardableResult func set(_ option: CURLoption, _ value: Int) -> CURLcode {
        prober_easy_setopt_long(handle, option, value)
    }
    @discardableResult func set(_ option: CURLoption, _ value: Bool) -> CURLcode {
        prober_easy_setopt_long(handle, option, value ? 1 : 0)
    }
    /// libcurl copies strings passed with curl_easy_setopt (since 7.17), so a temporary C string is fine.
    @discardableResult func set(_ option: CURLoption, _ value: String) -> CURLcode {
        prober_easy_setopt_string(handle, option, value)
    }
    /// A constant: its bytes are passed as they are. (A short `String` has no C string to hand over, so passing one
    /// copies it into a new array each call: three such per check, when every option is set again for each one.)
    @discardableResult func set(_ option: CURLoption, literal value: StaticString) -> CURLcode {
        value.withUTF8Buffer { bytes in
            bytes.withMemoryRebound(to: CChar.self) { prober_easy_setopt_string(handle, option, $0.baseAddress) }
        }
    }
    @discardableResult func set(_ option: CURLoption, pointer: UnsafeMutableRawPointer?) -> CURLcode {
        prober_easy_setopt_pointer(handle, option, pointer)
    }

    func long(_ info: CURLINFO) -> Int {
        var v = 0
        return prober_easy_getinfo_long(handle, info, &v) == CURLE_OK ? v : 0
    }
    func offset(_ info: CURLINFO) -> Int64 {
        var v: curl_off_t = 0
        return prober_easy_getinfo_off(handle, info, &v) == CURLE_OK ? Int64(v) : 0
    }
    func string(_ info: CURLINFO) -> String? {
        var p: UnsafeMutablePointer<CChar>? = nil
        guard prober_easy_getinfo_string(handle, info, &p) == CURLE_OK, let p else { return nil }
        return String(cString: p)
    }

    /// Whether the transfer's last URL was https (CURLINFO_SCHEME), read without building a `String`; nil when
    /// libcurl does not say.
    var schemeIsHTTPS: Bool? {
        var p: UnsafeMutablePointer<CChar>? = nil
        guard prober_easy_getinfo_string(handle, CURLINFO_SCHEME, &p) == CURLE_OK, let p else { return nil }
        return strcasecmp(p, "https") == 0
    }

    /// The curl error text for `code`: the detailed error buffer when set, else curl's generic text.
    func errorText(_ code: CURLcode) -> String {
        if errorBuffer[0] != 0 { return String(cString: errorBuffer) }
        return String(cString: curl_easy_strerror(code))
    }
}

/// One `CURLM*` multi handle.
///
/// Owned by the engine thread, which alone adds, removes and drives transfers. The one exception is
/// `wakeup()`, which libcurl documents as safe from any thread (https://curl.se/libcurl/c/curl_multi_wakeup.html).
final class CurlMulti: @unchecked Sendable { // Sendable only so other threads may call `wakeup()`; see above.
    let handle: UnsafeMutableRawPointer

    init?() {
        guard CurlGlobal.initialized, let m = curl_multi_init() else { return nil }
        handle = m
    }

    deinit { curl_multi_cleanup(handle) }

    func wakeup() { curl_multi_wakeup(handle) }
}

/// A `curl_slist` of request headers, freed with the transfer.
final class CurlHeaderList {
    private(set) var list: UnsafeMutablePointer<curl_slist>? = nil
    init(_ lines: [String]) {
        for line in lines { list = curl_slist_append(list, line) }
    }
    deinit { curl_slist_free_all(list) }
}

/// Whether `url` starts with `https:` in any case, without the copy `lowercased()` makes.
func isHTTPS(_ url: String) -> Bool {
    var scheme = "https:".utf8.makeIterator()
    for byte in url.utf8.prefix(6) {
        guard let want = scheme.next(), byte | 0x20 == want | 0x20 else { return false }
    }
    return scheme.next() == nil
}

/// Monotonic microseconds, for deadlines.
@inline(__always) func monotonicMicros() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1_000
}
