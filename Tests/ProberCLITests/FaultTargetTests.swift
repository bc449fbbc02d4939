import Foundation
import ProberTestSupport
import Testing

/// Hostile targets checked by the built binary (`prober once --json`): each check ends near its timeout with
/// the reason a person would look for (issue 13, "the fault suite").
///
/// Hang, drip, reset, refused, a redirect loop and IPv6-only are covered at the engine's level in
/// Tests/ProberProbesTests; the faults here are the ones only this suite checks. Speed is not asserted on a
/// shared machine: the bound is the timeout + 1 s, and the measured overrun is printed so the figure is seen.
@Suite("Fault suite: hostile targets through prober once")
struct FaultTargetTests {
    /// One hostile behaviour, the reason its check must end with, and the probe's timeout.
    struct Fault {
        var name: String
        var url: String
        var reason: String
        var timeoutMs: Int = 400
        /// Text the failure message must hold, when the reason alone is vague.
        var message: String = ""
        var extra: String = ""
    }

    static let statusLine = Array("HTTP/1.1 200 OK\r\n".utf8)

    /// Runs every fault as one probe of one `prober once --json` (in parallel, as the daemon would) and checks
    /// each result's reason and duration.
    func expectFaults(_ faults: [Fault]) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        var yaml = "probes:\n"
        for f in faults {
            yaml += """
                  - name: \(f.name)
                    http: { url: "\(f.url)"\(f.extra) }
                    timeout: \(f.timeoutMs)ms

                """
        }
        try dir.write("probes/faults.yaml", yaml)
        let started = ContinuousClock.now
        let result = try ProberBinary.run(["once", "--json", "--probes", dir.path + "/probes"])
        let elapsed = ContinuousClock.now - started
        #expect(result.status == 1, "every check fails: \(result.stdout)\(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any],
                                  "\(result.stdout)\(result.stderr)")
        let results = try #require(object["results"] as? [[String: Any]])
        #expect(results.count == faults.count)
        let longest = faults.map(\.timeoutMs).max() ?? 0
        for fault in faults {
            guard let r = results.first(where: { $0["name"] as? String == fault.name }) else {
                Issue.record("no result for \(fault.name)")
                continue
            }
            #expect(r["ok"] as? Bool == false, "\(fault.name): \(r)")
            #expect(r["reason"] as? String == fault.reason, "\(fault.name): \(r)")
            #expect(fault.message.isEmpty || (r["message"] as? String ?? "").contains(fault.message), "\(fault.name): \(r)")
            let totalUs = ((r["phases_us"] as? [String: Any])?["total"] as? Int) ?? 0
            let overrunMs = Double(totalUs) / 1000 - Double(fault.timeoutMs)
            print("fault \(fault.name): \(r["reason"] ?? "?") after \(totalUs / 1000) ms (timeout \(fault.timeoutMs) ms, overrun \(String(format: "%.1f", max(0, overrunMs))) ms): \(r["message"] ?? "")")
            #expect(overrunMs <= 1000, "\(fault.name) ran \(Int(overrunMs)) ms past its timeout")
        }
        // The command itself ends too (start-up and the longest timeout, generously).
        #expect(elapsed < .milliseconds(longest) + .seconds(10), "prober once took \(elapsed)")
    }

    @Test func garbageHugeHeadersEndlessBodyAndPlainTextOnATLSPort() throws {
        let garbage = try TestHTTPServer { _ in .raw(Array("\u{1}\u{2}SSH-2.0-OpenSSH\r\n\u{ff}\u{fe}garbage\r\n\r\n".utf8)) }
        defer { garbage.stop() }
        // 100,000 headers (about 1.8 MB) after a valid status line.
        var many = Self.statusLine
        for i in 0..<100_000 { many += Array("X-Header-\(i): v\r\n".utf8) }
        many += Array("Content-Length: 0\r\n\r\n".utf8)
        let headers = try TestHTTPServer { [many] _ in .raw(many) }
        defer { headers.stop() }
        let endless = try TestHTTPServer { _ in
            .endless(head: FaultTargetTests.statusLine + Array("Content-Type: text/plain\r\n\r\n".utf8),
                     chunk: [UInt8](repeating: UInt8(ascii: "x"), count: 64 * 1024))
        }
        defer { endless.stop() }
        // TLS ports speaking plain text: an HTTP answer at once, the client's own hello echoed back, silence.
        let plain = try TestTCPServer(.banner("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"))
        defer { plain.stop() }
        let echo = try TestTCPServer(.echo)
        defer { echo.stop() }
        let silent = try TestTCPServer(.silent)
        defer { silent.stop() }

        try expectFaults([
            // libcurl's "Received HTTP/0.9 when not allowed" (CURLE_WEIRD_SERVER_REPLY) is classified `other` today.
            Fault(name: "garbage", url: garbage.url + "/", reason: "other", message: "HTTP/0.9"),
            Fault(name: "headers-100000", url: headers.url + "/", reason: "receive", message: "response headers"),
            Fault(name: "endless-body", url: endless.url + "/", reason: "timeout", extra: ", expect: { body_contains: never-there }"),
            Fault(name: "tls-to-plain", url: "https://127.0.0.1:\(plain.port)/", reason: "tls"),
            Fault(name: "tls-to-echo", url: "https://127.0.0.1:\(echo.port)/", reason: "tls"),
            // The handshake never completes: libcurl's "SSL connection timeout".
            Fault(name: "tls-to-silent", url: "https://127.0.0.1:\(silent.port)/", reason: "connect_timeout"),
        ])
    }

    @Test func redirectsToAnotherSchemeAreRefused() throws {
        let server = try TestHTTPServer { request in
            switch request.path {
            case "/to-file": .redirect(to: "file:///etc/passwd")
            case "/to-ftp": .redirect(to: "ftp://127.0.0.1:\(21)/")
            case "/to-gopher": .redirect(to: "gopher://127.0.0.1/")
            default: .redirect(to: request.path)
            }
        }
        defer { server.stop() }
        try expectFaults([
            Fault(name: "to-file", url: server.url + "/to-file", reason: "other", message: "a scheme this probe does not follow"),
            Fault(name: "to-ftp", url: server.url + "/to-ftp", reason: "other", message: "a scheme this probe does not follow"),
            Fault(name: "to-gopher", url: server.url + "/to-gopher", reason: "other", message: "a scheme this probe does not follow"),
            Fault(name: "loop", url: server.url + "/loop", reason: "too_many_redirects"),
        ])
        #expect(!server.requests.isEmpty)
    }
}
