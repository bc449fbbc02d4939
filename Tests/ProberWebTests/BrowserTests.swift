import Foundation
import ProberCore
import ProberBackends
import ProberStorage
import ProberStore
import ProberTestSupport
import Testing

/// The pages in a real headless Chromium, served by `prober run --listen` with real history and a real
/// incident: probes every 200 ms against a loopback target that starts failing (with a hostile body) after
/// a few checks, and a probe file whose name and incident title are hostile. Three days of earlier history (a
/// check a minute, with a daily rhythm, and a resolved major incident 6 hours ago, incident 1) are written
/// through the storage interface before the daemon starts, so the charts have something to show; the live
/// incident is number 2.
///
/// Screenshots go to `.build/test-output/pages/` (the README's `docs/status-page.png` and
/// `docs/probe-page.png` are copies of two of them).
@Suite(.serialized) final class BrowserTests {
    static let hostileTitle = #"<script>alert("t")</script> 'Tïtle' é"#
    static let hostileBody = #"<script>alert("body")</script> "quoted" 'single' ünïcode"#
    static let output = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent(".build/test-output/pages")

    let dir: TemporaryDirectory
    let target: TestHTTPServer
    let daemon: ProberDaemon
    let port: UInt16

    init() throws {
        dir = try TemporaryDirectory()
        let requests = Counter()
        // Healthy for 8 checks, then 500 with a hostile body: two failures in a window of 3 open an incident.
        target = try TestHTTPServer { request in
            if request.path == "/steady" { return .respond(status: 200, body: "ok") }
            return requests.next() < 8 ? .delay(.milliseconds(5), .respond(status: 200, body: "ok"))
                : .respond(status: 500, headers: [("X-Error", BrowserTests.hostileBody)], body: BrowserTests.hostileBody)
        }
        _ = try dir.write("probes/it's \"hostile\" <x>.yaml", """
            probes:
              - name: web-api
                http:
                  url: \(target.url)/health
                interval: 200ms
                timeout: 150ms
                incident:
                  title: "<script>alert(\\"t\\")</script> 'Tïtle' é"
                  window: 3
                  minor: { failures: 2 }
                  major: { latency: none, failures: none }
                  for: 200ms
                  resolve_after: 60s
              - name: steady
                http:
                  url: \(target.url)/steady
                interval: 200ms
                timeout: 150ms
            """)
        try Self.backfill(dir.path + "/prober.db")
        daemon = try ProberDaemon(["--probes", dir.path + "/probes", "--db", dir.path + "/prober.db", "--listen", "127.0.0.1:0"],
                                  logIn: dir.url)
        guard let port = daemon.listenPort() else { throw Failure("no listen port in the log: \(daemon.stderr)") }
        self.port = port
        let opened = waitUntil(timeout: .seconds(30)) {
            (httpGet(port: port, "/incidents?open=true")?.body.contains("<tr data-incident=\"2\">")) == true
        }
        guard opened else { throw Failure("no incident opened: \(daemon.stderr)") }
        try FileManager.default.createDirectory(at: Self.output, withIntermediateDirectories: true)
    }

    /// Three days of checks a minute for both probes (latency following the hour of day), failures and a major
    /// incident from 6 h to 5 h 20 min ago for web-api.
    static func backfill(_ location: String) throws {
        let storage = try StorageBackend.open(database: location, readOnly: false)
        let minute: Int64 = 60_000_000
        let now = Int64(Date().timeIntervalSince1970 * 1_000_000) / minute * minute
        let recorder = storage.makeSampleRecorder(warning: { _ in })
        let outage = (now - 360 * minute)..<(now - 320 * minute)
        for probe in ["web-api", "steady"] {
            for i in 1...(3 * 1_440) {
                let t = now - Int64(i) * minute
                let hour = Double(t / minute % 1_440) / 60
                let wave = Int64(8_000 * (1 + sin(hour / 24 * 2 * .pi))) + Int64(i * 7_919 % 3_000)
                let slow: Int64 = probe == "web-api" && outage.contains(t) ? 180_000 : 0
                if probe == "web-api", outage.contains(t), i % 3 == 0 {
                    recorder.append(Sample(probe: probe, startedAt: t, failure: ProberCore.Failure(.httpStatus, "HTTP 503"), phases: Phases(), status: 503))
                    continue
                }
                let processing = 12_000 + wave + slow
                recorder.append(Sample(probe: probe, startedAt: t,
                                       phases: Phases(dns: 300, connect: 900, tls: 4_000, processing: processing, transfer: 1_200,
                                                      total: 6_400 + processing), status: 200))
            }
        }
        try recorder.close()
        let opened = outage.lowerBound, resolved = outage.upperBound + 10 * minute
        let text = "web-api is degraded (major). 4 of the last 10 checks failed: 4 returned HTTP 503; p95 latency 196 ms."
        var incident = Incident(id: 0, probe: "web-api", serviceID: nil, title: "web-api: checks failing", description: text,
                                status: .major, stage: .investigating, createdAt: opened, updatedAt: opened, resolvedAt: nil,
                                updates: [IncidentUpdate(kind: .opened, stage: .investigating, status: .major, createdAt: opened,
                                                         description: text)])
        let tracking = OpenIncident(status: .major, stage: .investigating, openedAt: opened, degradedSince: opened,
                                    failedChecks: 4, worstP95: 196_000, worstFailures: 4)
        incident.id = try storage.record(IncidentChange(incident: incident, update: incident.updates[0], tracking: tracking, outbox: []))
        let end = IncidentUpdate(kind: .resolved, stage: .resolved, status: .major, createdAt: resolved,
                                 description: "web-api is healthy again: every check of the last 10 minutes passed.")
        incident.stage = .resolved
        incident.resolvedAt = resolved
        incident.updates.append(end)
        try storage.record(IncidentChange(incident: incident, update: end, tracking: tracking, outbox: []))
    }

    deinit {
        _ = daemon.terminate()
        dir.remove()
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    final class Counter: @unchecked Sendable { // Safe: `value` is only touched under `lock`.
        private let lock = NSLock()
        private var value = 0
        func next() -> Int { lock.withLock { defer { value += 1 }; return value } }
    }

    func url(_ path: String) -> String { "http://127.0.0.1:\(port)\(path)" }

    /// Loads `path` at both sizes (screenshots named `name-WIDTHxHEIGHT.png`), expects a clean load, returns the DOMs.
    func load(_ path: String, name: String, javascript: Bool = true) throws -> [String] {
        try [(1280, 800), (390, 844)].map { width, height in
            let shot = Self.output.appendingPathComponent("\(name)\(javascript ? "" : "-nojs")-\(width)x\(height).png")
            let page = try Chromium.load(url(path), width: width, height: height, javascript: javascript, screenshot: shot)
            #expect(page.consoleErrors.isEmpty, "\(path) at \(width)x\(height): \(page.consoleErrors)")
            #expect(page.failedRequests.isEmpty, "\(path) at \(width)x\(height): \(page.failedRequests)")
            #expect(FileManager.default.fileExists(atPath: shot.path))
            if javascript { #expect(page.requests.contains(url("/static/app.js")), "the script loads") }
            return page.dom
        }
    }

    func hrefs(_ dom: String) -> [String] {
        dom.components(separatedBy: "href=\"").dropFirst().map { String($0.prefix { $0 != "\"" }) }
            .map { $0.replacingOccurrences(of: "&amp;", with: "&") }
    }

    /// Nothing hostile is markup: the only script element is the page's own.
    func expectEscaped(_ text: String, _ what: String) {
        #expect(!text.contains("<script>alert"), "\(what)")
        #expect(text.components(separatedBy: "<script").count - 1 == 1, "\(what): one script element")
    }

    @Test func statusPageShowsStatesChartsAndTheOpenIncidentFirst() throws {
        for dom in try load("/", name: "status") {
            let rows = dom.components(separatedBy: "<tr data-probe=\"").dropFirst().map { String($0.prefix { $0 != "\"" }) }
            #expect(rows == ["web-api", "steady"], "open incidents first")
            #expect(dom.contains("<td class=\"state recovering\">") || dom.contains("<td class=\"state minor\">"))
            #expect(dom.contains("degraded (minor)") || dom.contains("recovering (minor)"))
            let sparks = CompactCharts.svgs(dom, class: "spark").map(CompactCharts.sparkPoints)
            #expect(sparks == [24, 24], "an hourly p95 for each of the last 24 hours")
            let bars = CompactCharts.svgs(dom, class: "bars").map(CompactCharts.barDays)
            #expect(bars.map { $0.values.reduce(0, +) } == [90, 90])
            #expect(bars.contains { $0["major", default: 0] > 0 }, "the day of the earlier major incident")
            #expect(dom.contains("&lt;script&gt;alert(\"t\")&lt;/script&gt; 'Tïtle' é"), "the incident's title, as text")
            expectEscaped(dom, "/")
        }
        // Every link of the page answers.
        let dom = try #require(httpGet(port: port, "/")?.body)
        let links = Set(hrefs(dom).filter { $0.hasPrefix("/") })
        #expect(links.isSuperset(of: ["/", "/incidents", "/probes/web-api", "/probes/steady", "/incidents/2"]))
        for link in links {
            #expect(httpGet(port: port, link.components(separatedBy: "#")[0])?.status == 200, "\(link)")
        }
        // The hostile file name is an option of the file filter, escaped; filtering by it works.
        #expect(dom.contains("it&#39;s &quot;hostile&quot; &lt;x&gt;.yaml</option>"))
    }

    @Test func probePageHasTheLatencyPhasesAndIncidentBand() throws {
        for dom in try load("/probes/web-api?range=24h", name: "probe") {
            #expect(dom.contains("data-chart=\"latency\" data-points=\"288\""))
            #expect(dom.contains("data-series=\"p50\" data-points=\"28"), "a p50 in (nearly) every 5-minute bucket")
            for series in ["p50", "p95", "p99", "phase-dns", "phase-connect", "phase-processing", "phase-transfer"] {
                #expect(dom.contains("data-series=\"\(series)\" data-points=\""), "\(series)")
            }
            #expect(dom.contains("data-incident=\"1\"") && dom.contains("data-incident=\"2\""), "both incidents on the same axis")
            #expect(dom.contains("data-reason=\"http_status\""), "failures by reason")
            #expect(dom.contains("<dt>expect status</dt>"), "the configuration")
            #expect(dom.contains("aria-current=\"true\">24h</a>"))
            expectEscaped(dom, "/probes/web-api")
        }
        // The range links switch the range, with and without the script.
        let thirty = try #require(httpGet(port: port, "/probes/web-api?range=30d")?.body)
        #expect(thirty.contains("aria-current=\"true\">30d</a>"))
        #expect(thirty.contains("data-chart=\"latency\" data-points=\"240\""))
    }

    @Test func incidentPageShowsTheDescriptionTimelineAndDeliveries() throws {
        for dom in try load("/incidents/2", name: "incident") {
            #expect(dom.contains("<p class=\"description\">"))
            #expect(dom.contains("failing") || dom.contains("failed"), "the description says why")
            #expect(dom.contains("<li data-kind=\"opened\">"))
            #expect(dom.contains("<summary>Evidence</summary>"))
            #expect(dom.contains("href=\"/probes/web-api\""))
            expectEscaped(dom, "/incidents/2")
        }
        let list = try load("/incidents", name: "incidents")
        #expect(list.allSatisfy { $0.contains("href=\"/incidents/2\"") && $0.contains("href=\"/incidents/1\"") })
    }

    @Test func everyPageWorksWithJavaScriptOff() throws {
        for dom in try load("/probes/web-api?range=1h", name: "probe", javascript: false) {
            #expect(dom.contains("data-chart=\"latency\" data-points=\"60\""))
            #expect(dom.contains("data-series=\"p95\""))
        }
        for dom in try load("/?name=stea", name: "status-filtered", javascript: false) {
            let rows = dom.components(separatedBy: "<tr data-probe=\"").dropFirst().map { String($0.prefix { $0 != "\"" }) }
            #expect(rows == ["steady"], "the GET form filters without a script")
            #expect(dom.contains("value=\"stea\""))
        }
        for dom in try load("/incidents/2", name: "incident", javascript: false) {
            #expect(dom.contains("<p class=\"description\">"))
        }
    }

    @Test func hostileTextFromTheProbeFileAndTheTargetIsEscapedInRawHTML() throws {
        for path in ["/", "/probes/web-api", "/probes/web-api?range=1h", "/incidents", "/incidents/1", "/incidents/2", "/probes/steady"] {
            let page = try #require(httpGet(port: port, path), "\(path)")
            #expect(page.status == 200)
            expectEscaped(page.body, path)
            #expect(!page.body.contains("\"quoted\""), "the target's body never reaches a page unescaped")
            #expect(!page.body.contains("alert(\"t\")"), "quotes are escaped in raw HTML")
        }
        let incident = try #require(httpGet(port: port, "/incidents/2")?.body)
        #expect(incident.contains("&lt;script&gt;alert(&quot;t&quot;)&lt;/script&gt; &#39;Tïtle&#39; é"))
    }

    // MARK: Clicking (DevTools protocol)

    /// Run before the page's script: its 30 s refresh timer fires every 300 ms, so a test sees refreshes without
    /// waiting half a minute. The script itself is the one served.
    static let fastTimers = """
        (function () {
          var set = window.setInterval;
          window.setInterval = function (f, ms) { return set.call(window, f, Math.min(ms, 300)); };
        })();
        """

    /// `text` as a JavaScript string literal.
    func js(_ text: String) -> String {
        String(decoding: try! JSONSerialization.data(withJSONObject: [text]), as: UTF8.self).dropFirst().dropLast().description
    }

    /// A value the page keeps only while it stays the same document (a full navigation starts a new `window`).
    static let mark = "window.sameDocument = true; document.getElementById('main').dataset.old = 'yes'"

    /// Every fetch answers 700 ms late, and `window.inFlight` counts those not answered yet.
    static let slowFetch = """
        (function () {
          var real = window.fetch;
          window.inFlight = 0;
          window.fetch = function (u, o) {
            window.inFlight++;
            return real.call(window, u, o).then(function (r) {
              return new Promise(function (resolve) { setTimeout(function () { window.inFlight--; resolve(r); }, 700); });
            });
          };
        })();
        """

    func expectClean(_ tab: Chromium.Tab, _ what: String) {
        #expect(tab.consoleErrors.isEmpty, "\(what): \(tab.consoleErrors)")
        #expect(tab.failedRequests.isEmpty, "\(what): \(tab.failedRequests)")
    }

    @Test func rangeLinksSwitchTheChartsInPlace() throws {
        let tab = try Chromium.Tab(width: 1280, height: 800)
        defer { tab.close() }
        let latency = "document.querySelector('svg[data-chart=latency]')"
        try tab.navigate(url("/probes/web-api?range=24h"))
        #expect(try tab.evaluate("\(latency).dataset.points") as? String == "288")
        #expect(tab.requests.contains(url("/static/app.js")), "the script loads")
        try tab.evaluate(Self.mark)
        let loads = tab.documentLoads
        // A click on each range link: the charts of that range replace the others, the address follows.
        for (range, points) in [("1h", 60), ("7d", 168), ("30d", 240), ("24h", 288)] {
            try tab.click("nav.ranges a[href$='range=\(range)']")
            try tab.waitFor("\(latency).dataset.points === '\(points)' && document.querySelector('nav.ranges [aria-current]').textContent === '\(range)'")
            #expect(try tab.evaluate("location.pathname + location.search") as? String == "/probes/web-api?range=\(range)")
            #expect(try tab.evaluate("document.querySelector('svg[data-chart=failures]') !== null") as? Bool == true, "\(range)")
        }
        try tab.screenshot(to: Self.output.appendingPathComponent("probe-clicked-24h-1280x800.png"))
        // Back: the previous range again, in place too.
        try tab.evaluate("history.back()")
        try tab.waitFor("\(latency).dataset.points === '240' && location.search === '?range=30d'")
        #expect(try tab.evaluate("window.sameDocument === true && !document.getElementById('main').dataset.old") as? Bool == true,
                "the same document, its main part replaced")
        #expect(tab.documentLoads == loads, "no full navigation")
        #expect(tab.sameDocumentNavigations.count == 5, "\(tab.sameDocumentNavigations)")
        expectClean(tab, "range links")
    }

    @Test func autoRefreshReplacesTheChartsInPlace() throws {
        let tab = try Chromium.Tab(width: 1280, height: 800, beforeScripts: Self.fastTimers)
        defer { tab.close() }
        // The probe page: checks every 200 ms keep adding to the last minute's failures, so its chart changes.
        try tab.navigate(url("/probes/web-api?range=1h"))
        let failures = "document.querySelector('svg[data-chart=failures]').innerHTML"
        let before = try #require(try tab.evaluate(failures) as? String)
        try tab.evaluate(Self.mark)
        var loads = tab.documentLoads
        try tab.waitFor("!document.getElementById('main').dataset.old && \(failures) !== \(js(before))")
        #expect(try tab.evaluate("window.sameDocument") as? Bool == true, "no full navigation")
        #expect(try tab.evaluate("document.querySelector('svg[data-chart=latency]').dataset.points") as? String == "60")
        #expect(tab.documentLoads == loads)
        #expect(tab.sameDocumentNavigations.isEmpty, "a refresh keeps the address")

        // The status page: the rows' "last check" ages move on.
        try tab.navigate(url("/"))
        let rows = "document.querySelector('table.probes tbody').textContent"
        let first = try #require(try tab.evaluate(rows) as? String)
        try tab.evaluate(Self.mark)
        loads = tab.documentLoads
        try tab.waitFor("!document.getElementById('main').dataset.old && \(rows) !== \(js(first))")
        #expect(try tab.evaluate("window.sameDocument") as? Bool == true, "no full navigation")
        #expect(try tab.evaluate("document.querySelectorAll('svg.spark').length + document.querySelectorAll('svg.bars').length") as? Int == 4)
        #expect(tab.documentLoads == loads)

        // Not while the reader types in the filter form.
        try tab.evaluate("document.querySelector('form.filter input[name=name]').focus(); " + Self.mark)
        let refreshes = tab.requests.filter { $0 == url("/") }.count
        try tab.evaluate("new Promise(function (r) { setTimeout(r, 1500); })")
        #expect(tab.requests.filter { $0 == url("/") }.count == refreshes, "no refresh while the name field has focus")
        #expect(try tab.evaluate("document.getElementById('main').dataset.old") as? String == "yes")
        expectClean(tab, "auto-refresh")
    }

    /// A refresh already under way when the reader starts typing in the filter form does not replace the form
    /// when it comes back (it would take their focus and text, and the refreshes would go on). It did on a loaded
    /// machine, where a refresh's answer takes long enough to overlap the focus.
    @Test func aRefreshUnderWayWhenTheReaderTypesIsDropped() throws {
        let tab = try Chromium.Tab(width: 1280, height: 800, beforeScripts: Self.fastTimers + Self.slowFetch)
        defer { tab.close() }
        try tab.navigate(url("/"))
        try tab.evaluate(Self.mark)
        try tab.waitFor("window.inFlight > 0")
        try tab.evaluate("document.querySelector('form.filter input[name=name]').focus()")
        try tab.evaluate("new Promise(function (r) { setTimeout(r, 1500); })")
        #expect(try tab.evaluate("window.inFlight") as? Int == 0)
        #expect(try tab.evaluate("document.getElementById('main').dataset.old") as? String == "yes", "the refresh replaced the form")
        #expect(try tab.evaluate("document.activeElement.name") as? String == "name", "the filter lost its focus")
        expectClean(tab, "a refresh under way")
    }
}
