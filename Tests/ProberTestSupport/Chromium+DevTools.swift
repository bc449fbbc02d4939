import Foundation
#if canImport(Glibc)
import Glibc
#endif

extension Chromium {
    /// A page in headless Chromium driven over the DevTools protocol, for tests that click and wait:
    ///
    ///     let tab = try Chromium.Tab(width: 1280, height: 800)
    ///     defer { tab.close() }
    ///     try tab.navigate(url)
    ///     try tab.click("nav.ranges a[href$='range=1h']")
    ///     try tab.waitFor("document.querySelector('svg[data-chart=latency]').dataset.points === '60'")
    ///     #expect(tab.consoleErrors.isEmpty)
    ///
    /// The protocol runs over `--remote-debugging-pipe` (NUL-terminated JSON messages; Chromium reads fd 3 and
    /// writes fd 4, here both one end of a socket pair, so a write after Chromium died fails instead of raising
    /// SIGPIPE): no port, no WebSocket. https://chromedevtools.github.io/devtools-protocol/
    /// Every call waits for its answer or an event at most `timeout`; `close` ends the browser and kills its
    /// process group (call it: the thread reading the browser keeps the tab alive until then).
    public final class Tab: @unchecked Sendable { // Safe: `inbox`, `nextID`, `session` and `closed` are touched under `condition`; the rest is set once.
        /// What the page logged or threw, and the browser's errors about it (a refused script, a CSP violation).
        public var consoleErrors: [String] { events { $0.consoleErrors } }
        /// Requests that failed: a network error or an HTTP status ≥ 400 (the browser's `/favicon.ico` aside).
        public var failedRequests: [String] { events { $0.failedRequests } }
        /// The URLs the main frame loaded as documents (a full navigation each), in order.
        public var documentLoads: [String] { events { $0.documentLoads } }
        /// The URLs the main frame moved to without loading a document (`history.pushState`, `popstate`).
        public var sameDocumentNavigations: [String] { events { $0.sameDocument } }
        /// Every request the page made, in order.
        public var requests: [String] { events { $0.requests } }
        /// The browser's log so far (for a failing test's message).
        public var log: String { group.log.textSoFar }

        public let timeout: Duration
        private let group: Group
        private let socket: Int32
        private let scratch: TemporaryDirectory
        private let condition = NSCondition()
        private var inbox = Inbox()
        private var nextID = 1
        private var session = ""
        private var closed = false

        /// What has arrived from the browser (under `condition`).
        struct Inbox {
            var answers: [Int: [String: Any]] = [:]
            var loadEvents = 0
            var consoleErrors: [String] = []
            var failedRequests: [String] = []
            var documentLoads: [String] = []
            var sameDocument: [String] = []
            var requests: [String] = []
            /// Request id -> URL, to name a request that failed.
            var urls: [String: String] = [:]
            var ended = false
        }

        public enum Failure: Error, CustomStringConvertible {
            case timedOut(String, log: String)
            case protocolError(String)
            case exception(String)
            case abandoned(String)
            case ended(log: String)

            public var description: String {
                switch self {
                case .timedOut(let what, let log): "timed out: \(what); chromium's log:\n\(log)"
                case .protocolError(let message): "DevTools error: \(message)"
                case .exception(let message): "the page threw: \(message)"
                case .abandoned(let message): message
                case .ended(let log): "chromium ended; its log:\n\(log)"
                }
            }
        }

        /// Starts Chromium on a blank page of `width`×`height` CSS pixels. `beforeScripts`: JavaScript run in every
        /// document before the page's own scripts (to stub a timer, say).
        public init(width: Int = 1280, height: Int = 800, beforeScripts: String? = nil, timeout: Duration = .seconds(30)) throws {
            guard let executable = Chromium.executable else { throw Chromium.Failure.notInstalled }
            self.timeout = timeout
            scratch = try TemporaryDirectory()
            var ends: [Int32] = [0, 0]
            guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &ends) == 0 else {
                scratch.remove()
                throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
            }
            // Chromium's end above 4 (`spawnGroup` puts it on 3 and 4) and close-on-exec, so no other child keeps it.
            let theirs = fcntl(ends[1], F_DUPFD_CLOEXEC, 10)
            Glibc.close(ends[1])
            _ = fcntl(ends[0], F_SETFD, FD_CLOEXEC)
            socket = ends[0]
            var arguments = Chromium.commonArguments(profile: scratch.path + "/profile", width: width, height: height)
            arguments += ["--remote-debugging-pipe", "about:blank"]
            let environment = ProcessInfo.processInfo.environment.merging(["HOME": scratch.path]) { $1 }
            do {
                group = try Chromium.spawnGroup(executable.path, arguments, environment: environment,
                                                stdout: scratch.path + "/stdout", devtools: theirs)
            } catch {
                Glibc.close(theirs)
                Glibc.close(socket)
                scratch.remove()
                throw error
            }
            Glibc.close(theirs)
            Thread { [self] in readMessages() }.start()
            do {
                let target = try send("Target.createTarget", ["url": "about:blank"], toBrowser: true)
                guard let id = target["targetId"] as? String else { throw Failure.protocolError("no targetId in \(target)") }
                let attached = try send("Target.attachToTarget", ["targetId": id, "flatten": true], toBrowser: true)
                guard let session = attached["sessionId"] as? String else { throw Failure.protocolError("no sessionId in \(attached)") }
                self.session = session
                for domain in ["Page", "Runtime", "Log", "Network"] { _ = try send("\(domain).enable") }
                _ = try send("Emulation.setDeviceMetricsOverride",
                             ["width": width, "height": height, "deviceScaleFactor": 1, "mobile": false])
                if let beforeScripts { _ = try send("Page.addScriptToEvaluateOnNewDocument", ["source": beforeScripts]) }
            } catch {
                close()
                throw error
            }
        }

        deinit { close() }

        /// Ends the browser (politely, then the whole group is killed) and removes its profile. Idempotent.
        public func close() {
            let first = condition.withLock { () -> Bool in
                defer { closed = true }
                return !closed
            }
            guard first else { return }
            _ = try? send("Browser.close", toBrowser: true, within: .seconds(5))
            _ = group.finish(within: .seconds(10))
            // The reader closes the socket at end-of-file; until then this ends its wait.
            condition.withLock { if !inbox.ended { _ = shutdown(socket, Int32(SHUT_RDWR)) } }
            scratch.remove()
        }

        /// Loads `url` as a new document and waits for its load event.
        public func navigate(_ url: String) throws {
            let loads = condition.withLock { inbox.loadEvents }
            let answer = try send("Page.navigate", ["url": url])
            if let error = answer["errorText"] as? String { throw Failure.protocolError("navigate to \(url): \(error)") }
            try wait("the load event of \(url)") { $0.loadEvents > loads }
        }

        /// Evaluates `expression` in the page (a promise is awaited) and returns its value as JSON makes it.
        @discardableResult
        public func evaluate(_ expression: String) throws -> Any? {
            let answer = try send("Runtime.evaluate", ["expression": expression, "awaitPromise": true, "returnByValue": true])
            if let details = answer["exceptionDetails"] as? [String: Any] {
                let text = ((details["exception"] as? [String: Any])?["description"] as? String) ?? details["text"] as? String ?? "\(details)"
                throw Failure.exception(text)
            }
            return (answer["result"] as? [String: Any])?["value"]
        }

        /// Waits until `condition` (a JavaScript expression) is true in the page, checking it on each animation
        /// frame and DOM change in the page itself, at most `timeout`. Fails at once if the page loads another
        /// document meanwhile (the condition's context is gone with it).
        public func waitFor(_ condition: String, timeout: Duration? = nil) throws {
            let ms = Int(TestHTTPServer.seconds(timeout ?? self.timeout) * 1_000)
            let script = """
                new Promise(function (resolve) {
                  var test = function () { try { return !!(\(condition)); } catch (e) { return false; } };
                  if (test()) { return resolve(true); }
                  var done = false;
                  var finish = function (value) { if (!done) { done = true; observer.disconnect(); resolve(value); } };
                  var observer = new MutationObserver(function () { if (test()) { finish(true); } });
                  observer.observe(document, { subtree: true, childList: true, attributes: true, characterData: true });
                  (function frame() { if (done) { return; } if (test()) { finish(true); } else { requestAnimationFrame(frame); } })();
                  setTimeout(function () { finish(test()); }, \(ms));
                })
                """
            let loads = self.condition.withLock { inbox.documentLoads.count }
            let answer = try send("Runtime.evaluate", ["expression": script, "awaitPromise": true, "returnByValue": true],
                                  within: (timeout ?? self.timeout) + .seconds(5),
                                  abandon: { $0.documentLoads.count > loads ? "the page loaded \($0.documentLoads.last ?? "?") while waiting for \(condition)" : nil })
            guard (answer["result"] as? [String: Any])?["value"] as? Bool == true else {
                throw Failure.timedOut("\(condition) never became true", log: log)
            }
        }

        /// Clicks the middle of the first element matching `selector` with the mouse (scrolled into view first), as a
        /// person would: pressed and released, left button.
        public func click(_ selector: String) throws {
            let quoted = String(decoding: try JSONSerialization.data(withJSONObject: [selector]), as: UTF8.self).dropFirst().dropLast()
            let box = try evaluate("""
                (function () {
                  var e = document.querySelector(\(quoted));
                  if (!e) { return null; }
                  e.scrollIntoView({ block: "center" });
                  var r = e.getBoundingClientRect();
                  return [r.left + r.width / 2, r.top + r.height / 2];
                })()
                """) as? [Double]
            guard let box, box.count == 2 else { throw Failure.exception("no element matches \(selector)") }
            for type in ["mouseMoved", "mousePressed", "mouseReleased"] {
                var parameters: [String: Any] = ["type": type, "x": box[0], "y": box[1]]
                if type != "mouseMoved" { parameters["button"] = "left"; parameters["clickCount"] = 1 }
                _ = try send("Input.dispatchMouseEvent", parameters)
            }
        }

        /// A PNG of the viewport.
        public func screenshot(to file: URL) throws {
            let answer = try send("Page.captureScreenshot", ["format": "png"])
            guard let base64 = answer["data"] as? String, let data = Data(base64Encoded: base64) else {
                throw Failure.protocolError("no screenshot data")
            }
            try data.write(to: file)
        }

        // MARK: The protocol

        /// Sends one command (to the page's session, or `toBrowser`) and returns its result.
        @discardableResult
        func send(_ method: String, _ parameters: [String: Any] = [:], toBrowser: Bool = false,
                  within: Duration? = nil, abandon: ((Inbox) -> String?)? = nil) throws -> [String: Any] {
            let (id, target) = condition.withLock { () -> (Int, String?) in
                defer { nextID += 1 }
                return (nextID, toBrowser ? nil : session)
            }
            var message: [String: Any] = ["id": id, "method": method, "params": parameters]
            if let target { message["sessionId"] = target }
            var bytes = [UInt8](try JSONSerialization.data(withJSONObject: message))
            bytes.append(0)
            var sent = 0
            while sent < bytes.count {
                let n = bytes[sent...].withUnsafeBytes { Glibc.send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw Failure.ended(log: log) }
                sent += n
            }
            var answer: [String: Any] = [:]
            try wait("the answer to \(method)", within: within) { inbox in
                if let reason = abandon?(inbox) { throw Failure.abandoned(reason) }
                guard let a = inbox.answers.removeValue(forKey: id) else { return false }
                answer = a
                return true
            }
            if let error = answer["error"] as? [String: Any] {
                throw Failure.protocolError("\(method): \(error["message"] ?? error)")
            }
            return answer["result"] as? [String: Any] ?? [:]
        }

        private func events<T>(_ read: (Inbox) -> T) -> T { condition.withLock { read(inbox) } }

        /// Waits until `ready` holds for what has arrived (it may take from it), at most `within` (else `timeout`).
        private func wait(_ what: String, within: Duration? = nil, _ ready: (inout Inbox) throws -> Bool) throws {
            let deadline = Date().addingTimeInterval(TestHTTPServer.seconds(within ?? timeout))
            try condition.withLock {
                while try !ready(&inbox) {
                    if inbox.ended { throw Failure.ended(log: group.log.textSoFar) }
                    guard condition.wait(until: deadline) else { throw Failure.timedOut(what, log: group.log.textSoFar) }
                }
            }
        }

        /// Reads NUL-terminated messages until the browser closes its end, filing answers and the events tests read.
        private func readMessages() {
            var pending: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 256 * 1024)
            while true {
                let n = buffer.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, 0) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { break }
                pending.append(contentsOf: buffer[0..<n])
                while let end = pending.firstIndex(of: 0) {
                    let message = (try? JSONSerialization.jsonObject(with: Data(pending[..<end]))) as? [String: Any]
                    pending.removeSubrange(...end)
                    if let message { condition.withLock { file(message) } }
                }
                condition.withLock { condition.broadcast() }
            }
            condition.withLock {
                inbox.ended = true
                Glibc.close(socket)
                condition.broadcast()
            }
        }

        /// The browser's own request for `/favicon.ico` is not the page's (as in `NetLog.pageRequests`).
        private static func isFavicon(_ url: Any?) -> Bool { (url as? String).flatMap { URL(string: $0)?.path } == "/favicon.ico" }

        /// Files one message (under `condition`).
        private func file(_ message: [String: Any]) {
            if let id = message["id"] as? Int {
                inbox.answers[id] = message
                return
            }
            guard let method = message["method"] as? String, message["sessionId"] as? String == session else { return }
            let p = message["params"] as? [String: Any] ?? [:]
            switch method {
            case "Page.loadEventFired":
                inbox.loadEvents += 1
            case "Page.frameNavigated":
                if let frame = p["frame"] as? [String: Any], frame["parentId"] == nil, let url = frame["url"] as? String {
                    inbox.documentLoads.append(url)
                }
            case "Page.navigatedWithinDocument":
                if let url = p["url"] as? String { inbox.sameDocument.append(url) }
            case "Runtime.consoleAPICalled":
                let args = (p["args"] as? [[String: Any]] ?? []).map { "\($0["value"] ?? $0["description"] ?? "")" }
                inbox.consoleErrors.append("console.\(p["type"] ?? ""): " + args.joined(separator: " "))
            case "Runtime.exceptionThrown":
                let details = p["exceptionDetails"] as? [String: Any] ?? [:]
                let text = ((details["exception"] as? [String: Any])?["description"] as? String) ?? "\(details["text"] ?? details)"
                inbox.consoleErrors.append("uncaught: \(text)")
            case "Log.entryAdded":
                if let entry = p["entry"] as? [String: Any], entry["level"] as? String == "error", !Self.isFavicon(entry["url"]) {
                    inbox.consoleErrors.append("\(entry["source"] ?? ""): \(entry["text"] ?? "") \(entry["url"] ?? "")")
                }
            case "Network.requestWillBeSent":
                if let id = p["requestId"] as? String, let url = (p["request"] as? [String: Any])?["url"] as? String {
                    inbox.urls[id] = url
                    inbox.requests.append(url)
                }
            case "Network.responseReceived":
                if let response = p["response"] as? [String: Any], let status = response["status"] as? Int, status >= 400,
                   !Self.isFavicon(response["url"]) {
                    inbox.failedRequests.append("\(response["url"] ?? ""): HTTP \(status)")
                }
            case "Network.loadingFailed":
                let url = (p["requestId"] as? String).flatMap { inbox.urls[$0] } ?? "?"
                if Self.isFavicon(url) { break }
                inbox.failedRequests.append("\(url): \(p["errorText"] ?? "failed")")
            default:
                break
            }
        }
    }
}
