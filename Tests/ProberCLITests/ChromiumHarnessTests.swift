import Foundation
import Testing
import ProberTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// The headless-Chromium harness that the page tests rely on: each thing it reports is shown to be reported
/// when present and absent when not, against pages served on loopback.
@Suite("Chromium harness", .serialized)
struct ChromiumHarnessTests {
    /// A loopback server with a page per path; anything else is a 404.
    static func serve(_ pages: [String: String]) throws -> TestHTTPServer {
        try TestHTTPServer { request in
            guard let html = pages[request.path] else { return .respond(status: 404, body: "not found") }
            return .respond(status: 200, headers: [("Content-Type", "text/html; charset=utf-8")], body: html)
        }
    }

    static let clean = """
        <!doctype html><html><head><title>clean</title><link rel="stylesheet" href="/style.css"></head>
        <body><p id="set">unset</p><noscript><p id="ns">scripts are off</p></noscript>
        <script>document.getElementById('set').textContent = 'set by script'</script></body></html>
        """

    @Test func aCleanPageReportsNothing() throws {
        let server = try Self.serve(["/": Self.clean, "/style.css": "body { color: #222 }"])
        defer { server.stop() }
        let page = try Chromium.load(server.url + "/")
        #expect(page.consoleErrors.isEmpty, "\(page.consoleErrors)")
        #expect(page.failedRequests.isEmpty, "\(page.failedRequests)")
        #expect(page.requests == [server.url + "/", server.url + "/style.css"])
        #expect(page.dom.contains("set by script"))
        #expect(Chromium.livingProcesses(inGroup: page.processGroup).isEmpty, "a Chromium process outlived load()")
    }

    @Test func aScriptErrorIsReported() throws {
        let server = try Self.serve(["/": "<!doctype html><p>x</p><script>notDefined()</script>"])
        defer { server.stop() }
        let page = try Chromium.load(server.url + "/")
        #expect(page.consoleErrors.count == 1)
        #expect(page.consoleErrors.first?.contains("Uncaught ReferenceError: notDefined is not defined") == true,
                "\(page.consoleErrors)")
        #expect(page.failedRequests.isEmpty, "\(page.failedRequests)")
    }

    @Test func aMissingImageAndARefusedScriptAreFailedRequests() throws {
        let closed = try closedLoopbackPort()
        let server = try Self.serve(["/": """
            <!doctype html><img src="/missing.png" alt="x"><script src="http://127.0.0.1:\(closed)/app.js"></script>
            """])
        defer { server.stop() }
        let page = try Chromium.load(server.url + "/")
        let failed = Dictionary(page.failedRequests.map { ($0.url, $0) }) { a, _ in a }
        #expect(failed.count == 2, "\(page.failedRequests)")
        #expect(failed[server.url + "/missing.png"]?.status == 404)
        #expect(failed["http://127.0.0.1:\(closed)/app.js"]?.netError == "ERR_CONNECTION_REFUSED")
    }

    @Test func theScreenshotIsAPNGOfTheAskedSize() throws {
        let server = try Self.serve(["/": Self.clean, "/style.css": ""])
        defer { server.stop() }
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        for (width, height) in [(1280, 800), (390, 844)] {
            let file = directory.url.appendingPathComponent("page-\(width)x\(height).png")
            _ = try Chromium.load(server.url + "/", width: width, height: height, screenshot: file)
            let png = try [UInt8](Data(contentsOf: file))
            #expect(Array(png.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
            // IHDR: the first chunk, width and height big-endian at bytes 16 and 20.
            let size = { (at: Int) in png[at..<(at + 4)].reduce(0) { $0 << 8 | Int($1) } }
            #expect(size(16) == width && size(20) == height)
        }
    }

    @Test func withJavaScriptOffScriptsDoNotRunAndNoscriptShows() throws {
        let server = try Self.serve(["/": Self.clean, "/style.css": ""])
        defer { server.stop() }
        let off = try Chromium.load(server.url + "/", javascript: false)
        #expect(off.dom.contains(#"<p id="set">unset</p>"#))
        #expect(!off.dom.contains(#"<p id="set">set by script</p>"#))
        #expect(off.consoleErrors.isEmpty && off.failedRequests.isEmpty, "\(off.consoleErrors) \(off.failedRequests)")
        #expect(off.dom.contains(#"<noscript><p id="ns">scripts are off</p></noscript>"#))
        let on = try Chromium.load(server.url + "/", javascript: true)
        #expect(on.dom.contains(#"<p id="set">set by script</p>"#))
    }

    @Test func aPageThatNeverAnswersIsKilledAtTheTimeout() throws {
        let server = try TestHTTPServer { _ in .hang }
        defer { server.stop() }
        do {
            _ = try Chromium.load(server.url + "/", timeout: .seconds(3))
            Issue.record("load returned although the page never answered")
        } catch Chromium.Failure.timedOut(_, let group, _) {
            #expect(Chromium.livingProcesses(inGroup: group).isEmpty, "a Chromium process outlived the timeout")
        }
    }
}
