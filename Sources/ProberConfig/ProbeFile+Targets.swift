import Foundation
import ProberCore

extension FileReader {
    // MARK: http

    /// `probe` names the probe for messages ("probe 'api'"), made only for one.
    func readHTTP(_ field: Field, probe: @autoclosure () -> String) -> HTTPTarget? {
        guard let f = fields(field.value, what: "'http' of \(probe())", keys: Keys.http) else { return nil }
        guard require(["url"], in: f, what: "'http' of \(probe())"), let urlField = f["url"], let url = webURL(urlField) else {
            // Still read the rest so every problem is reported at once.
            _ = readHTTPOptions(f, into: HTTPTarget(url: ""), isHTTPS: false)
            return nil
        }
        let isHTTPS = url.lowercased().hasPrefix("https:")
        return readHTTPOptions(f, into: HTTPTarget(url: url), isHTTPS: isHTTPS)
    }

    private func readHTTPOptions(_ f: Fields, into start: HTTPTarget, isHTTPS: Bool) -> HTTPTarget? {
        var http = start
        var ok = true
        func need<T>(_ value: T?) -> T? { if value == nil { ok = false }; return value }

        if let field = f["method"], let method = need(string(field, allowEmpty: false)) {
            let upper = method.value.uppercased()
            if upper.allSatisfy({ $0.isASCII && $0.isLetter }) {
                http.method = upper
            } else {
                report(field.key, "'method' \(describe(field.value)) is not an HTTP method such as GET, HEAD or POST")
                ok = false
            }
        }
        if let field = f["headers"], let headers = need(requestHeaders(field)) { http.headers = headers }
        if let field = f["body"], let body = need(string(field)) { http.body = body.value }
        if let field = f["follow_redirects"], let follow = need(bool(field)) { http.followRedirects = follow }
        if let field = f["max_redirects"], let n = need(int(field, in: 0...100, meaning: "redirects to follow")) {
            http.maxRedirects = n.value
        }
        if let field = f["allow_http_redirects"], let allow = need(bool(field)) {
            if allow && !isHTTPS {
                report(field.key, "'allow_http_redirects' is for https:// URLs (an http probe follows redirects to http already)")
                ok = false
            }
            http.allowHTTPRedirects = allow
        }
        if let field = f["forward_headers_across_hosts"], let forward = need(bool(field)) { http.forwardHeadersAcrossHosts = forward }
        if let field = f["proxy"], let proxy = need(proxyURL(field)) { http.proxy = proxy }
        if let field = f["ip"], let ip = need(choice(field, IPFamilyPreference.self)) { http.ip = ip }
        if let field = f["max_body_bytes"], let n = need(byteSize(field)) { http.maxBodyBytes = n }
        if let field = f["tls"], let tls = need(readTLS(field)) { http.tls = tls }
        if let field = f["expect"], let expect = need(readHTTPExpect(field, isHTTPS: isHTTPS)) { http.expect = expect }
        return ok ? http : nil
    }

    /// An `http://` or `https://` URL with a host. Messages quote the file's text, not the substituted URL.
    func webURL(_ field: Field) -> String? {
        guard let sub = substituted(field) else { return nil }
        let text = sub.value.trimmingSpaces
        if PlainWebURL.matches(text) { return text }
        // Only for messages: describing costs more than checking a good URL.
        var shown: String { describe(field.value) }
        guard let components = URLComponents(string: text), let scheme = components.scheme else {
            if text.contains("://") || sub.usedEnvironment {
                report(field.key, "'\(field.name)' \(shown) is not a valid URL")
            } else {
                report(field.key, "'\(field.name)' \(shown) must start with http:// or https://")
            }
            return nil
        }
        guard ["http", "https"].contains(scheme.lowercased()) else {
            report(field.key, "'\(field.name)' \(shown) uses the scheme '\(sub.usedEnvironment ? "..." : scheme)'; only http and https are supported")
            return nil
        }
        guard let host = components.host, !host.isEmpty else {
            report(field.key, "'\(field.name)' \(shown) has no host name")
            return nil
        }
        if let port = components.port, !(1...65535).contains(port) {
            report(field.key, "'\(field.name)' \(shown) has a port out of range (1-65535)")
            return nil
        }
        if let problem = unsendable(text, key: field.name, shown: sub.usedEnvironment ? nil : shown) {
            report(field.key, problem)
            return nil
        }
        return text
    }

    /// Why no request could ever be sent to `url`, or nil. `shown` is the file's text to quote (nil
    /// when it must not be shown); the user name and password are never quoted.
    ///
    /// libcurl refuses control characters and spaces (CURLE_URL_MALFORMAT) at every check, and a CR or
    /// LF that got through would split the request line.
    private func unsendable(_ url: String, key: String, shown: @autoclosure () -> String?) -> String? {
        if let c = url.unicodeScalars.first(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            if c == "\r" || c == "\n" { return "'\(key)' contains a line break; a URL cannot carry control characters" }
            let what = c == "\t" ? "tab" : "0x" + String(c.value, radix: 16, uppercase: true)
            return "'\(key)' contains a control character (\(what)); a URL cannot carry control characters"
        }
        guard url.utf8.contains(UInt8(ascii: " ")) else { return nil }
        let afterScheme = url.range(of: "://").map { url[$0.upperBound...] } ?? url[...]
        let authority = afterScheme.prefix { !"/?#".contains($0) }
        if let at = authority.lastIndex(of: "@"), authority[..<at].contains(" ") {
            return "'\(key)' has a space in its user name or password; write it as %20"
        }
        return "'\(key)'\(shown().map { " " + $0 } ?? "") contains a space; write it as %20"
    }

    /// A proxy URL: `http://`, `https://`, `socks5://`, `socks5h://`, `socks4://` or `socks4a://`, with a host.
    private func proxyURL(_ field: Field) -> String? {
        guard let text = string(field, allowEmpty: false)?.value.trimmingSpaces else { return nil }
        let schemes = ["http", "https", "socks4", "socks4a", "socks5", "socks5h"]
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
              schemes.contains(scheme), let host = components.host, !host.isEmpty else {
            report(field.key, "'proxy' \(describe(field.value)) must be a URL such as http://proxy.internal:3128 (schemes: \(schemes.joined(separator: ", ")))")
            return nil
        }
        if let problem = unsendable(text, key: field.name, shown: nil) {
            report(field.key, problem)
            return nil
        }
        return text
    }

    /// Whether `name` is an HTTP token: ASCII letters, digits and !#$%&'*+-.^_`|~. On the bytes: a
    /// `CharacterSet` asked scalar by scalar cost more than the rest of reading a header.
    private static func isToken(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.allSatisfy { b in
            if b.isASCIILetterOrDigit { return true }
            switch b {
            case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"),
                 UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"),
                 UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
                return true
            default:
                return false
            }
        }
    }

    /// Request headers: names are HTTP tokens, values single lines. Values may be secrets: never echoed.
    func requestHeaders(_ field: Field) -> [Header]? {
        guard let pairs = pairs(field) else { return nil }
        var headers: [Header] = []
        var ok = true
        for pair in pairs {
            if !Self.isToken(pair.name) {
                report(pair.key, "header name '\(pair.name)' may hold only letters, digits and !#$%&'*+-.^_`|~")
                ok = false
            } else if pair.value.utf8.contains(where: { $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: "\r") }) {
                report(pair.key, "header '\(pair.name)' has a line break in its value")
                ok = false
            } else {
                headers.append(Header(name: pair.name, value: pair.value))
            }
        }
        return ok ? headers : nil
    }

    /// `1048576`, `512KiB`, `1MiB`, `64KB`: between 1 byte and 1 GiB.
    func byteSize(_ field: Field) -> Int? {
        guard let text = string(field) else { return nil }
        let s = text.value.trimmingSpaces
        let digits = s.prefix { $0.isASCII && $0.isNumber }
        let unit = s.dropFirst(digits.count).trimmingSpaces.lowercased()
        let factors: [String: Int] = ["": 1, "b": 1, "kb": 1_000, "mb": 1_000_000, "gb": 1_000_000_000,
                                      "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30]
        guard let n = Int(digits), let factor = factors[unit] else {
            report(field.key, "'\(field.name)' is \(describe(field.value)); write a number of bytes or a size such as 512KiB or 1MiB")
            return nil
        }
        let (bytes, overflow) = n.multipliedReportingOverflow(by: factor)
        guard !overflow, (1...(1 << 30)).contains(bytes) else {
            report(field.key, "'\(field.name)' must be between 1 byte and 1GiB")
            return nil
        }
        return bytes
    }

    private func readTLS(_ field: Field) -> TLSOptions? {
        guard let f = fields(field.value, what: "'tls'", keys: Keys.tls) else { return nil }
        var tls = TLSOptions()
        var ok = true
        if let field = f["ca_file"] {
            if let path = string(field, allowEmpty: false) { tls.caFile = path.value } else { ok = false }
        }
        if let field = f["insecure"] {
            if let insecure = bool(field) { tls.insecure = insecure } else { ok = false }
        }
        return ok ? tls : nil
    }

    private func readHTTPExpect(_ field: Field, isHTTPS: Bool) -> HTTPExpectations? {
        guard let f = fields(field.value, what: "'expect' of 'http'", keys: Keys.httpExpect) else { return nil }
        var expect = HTTPExpectations()
        var ok = true
        if let field = f["status"] {
            if let set = statusSet(field) { expect.status = set } else { ok = false }
        }
        if let field = f["body_contains"] {
            if let text = string(field, allowEmpty: false) { expect.bodyContains = text.value } else { ok = false }
        }
        if let field = f["body_matches"] {
            if let pattern = string(field, allowEmpty: false) {
                // The probes module matches with BodyPattern too: one engine (ICU) for both.
                if (try? BodyPattern(pattern.value)) != nil {
                    expect.bodyMatches = pattern.value
                } else {
                    report(field.key, "'body_matches' \(describe(field.value)) is not a valid regular expression (ICU syntax)")
                    ok = false
                }
            } else { ok = false }
        }
        if let field = f["headers"] {
            if let pairs = pairs(field) { expect.headers = pairs.map { Header(name: $0.name, value: $0.value) } } else { ok = false }
        }
        if let field = f["certificate_valid_for"] {
            if let d = duration(field) {
                if !isHTTPS {
                    report(field.key, "'certificate_valid_for' needs an https:// URL")
                    ok = false
                } else {
                    expect.certificateValidFor = d.value
                }
            } else { ok = false }
        }
        return ok ? expect : nil
    }

    /// `200`, `"2xx"`, `"200-299"` or a list of them.
    private func statusSet(_ field: Field) -> StatusSet? {
        let items = list(field)
        if items.isEmpty {
            report(field.key, "'status' is an empty list; omit it to accept any 2xx")
            return nil
        }
        var ranges: [ClosedRange<Int>] = []
        var ok = true
        for item in items {
            guard let text = document.text(item), !isNull(item) else {
                report(item, "'status' entries must be codes or ranges like 200, \"2xx\" or \"200-299\", not \(describe(item))")
                ok = false
                continue
            }
            if let range = StatusSet.parseElement(text) {
                ranges.append(range)
            } else {
                report(item, "'status' entry '\(quote(item))' is not a status code from 100 to 599, a range like \"200-299\" or a class like \"2xx\"")
                ok = false
            }
        }
        return ok ? StatusSet(ranges) : nil
    }

    // MARK: tcp

    func readTCP(_ field: Field, probe: @autoclosure () -> String) -> TCPTarget? {
        guard let f = fields(field.value, what: "'tcp' of \(probe())", keys: Keys.tcp) else { return nil }
        let complete = require(["host", "port"], in: f, what: "'tcp' of \(probe())")
        var ok = complete
        var host: String?
        if let field = f["host"], let text = string(field, allowEmpty: false) {
            let h = text.value.trimmingSpaces
            if h.contains("://") || h.contains("/") {
                report(field.key, "'host' \(describe(field.value)) must be a host name or address, not a URL")
                ok = false
            } else if h.contains(where: \.isWhitespace) {
                report(field.key, "'host' \(describe(field.value)) must be a host name or address without spaces")
                ok = false
            } else {
                // `[::1]` is accepted as people write it in URLs.
                host = h.hasPrefix("[") && h.hasSuffix("]") ? String(h.dropFirst().dropLast()) : h
            }
        } else if f["host"] != nil { ok = false }
        let port = f["port"].flatMap { int($0, in: 1...65535, meaning: "a TCP port") }
        if f["port"] != nil, port == nil { ok = false }
        var tcp = TCPTarget(host: host ?? "", port: port?.value ?? 0)
        if let field = f["send"] {
            if let text = string(field) { tcp.send = text.value.isEmpty ? nil : text.value } else { ok = false }
        }
        if let field = f["expect"] {
            if let text = string(field) { tcp.expect = text.value.isEmpty ? nil : text.value } else { ok = false }
        }
        if let field = f["ip"] {
            if let ip = choice(field, IPFamilyPreference.self) { tcp.ip = ip } else { ok = false }
        }
        return ok ? tcp : nil
    }
}
