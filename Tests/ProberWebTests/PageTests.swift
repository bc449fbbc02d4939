import Foundation
import ProberCore
import ProberBackends
import ProberStorage
import ProberStore
import ProberTestSupport
@testable import ProberWeb
import Testing

/// The pages rendered from a real SQLite history in a temporary folder: listing, filters, pages of 200, the
/// probe page's charts and redacted configuration, the incident pages, and hostile text escaped everywhere.
@Suite struct PageTests {
    static let minute: Int64 = 60_000_000
    static let now: Int64 = 1_800_000_000_000_000
    static let hostile = #"<script>alert("t")</script> 'Tïtle' & "q" 名前"#

    func count(_ needle: String, in text: String) -> Int { text.components(separatedBy: needle).count - 1 }

    /// A store with `probes` registered across two files (one with a hostile name), an hour of checks for the
    /// first three, and an open incident (hostile title) on probe-0002.
    func makeStore(probes: Int, dir: TemporaryDirectory, now: Int64 = PageTests.now) throws -> any Storage {
        let storage = try StorageBackend.open(database: dir.path + "/prober.db", readOnly: false)
        let hostileFile = dir.path + "/it's \"hostile\" <x>.yaml"
        var specs = (0..<probes).map { i in
            ProbeSpec(name: String(format: "probe-%04d", i), target: .tcp(TCPTarget(host: "127.0.0.1", port: 1000 + i)),
                      source: SourceLocation(file: i % 2 == 0 ? dir.path + "/even.yaml" : hostileFile, line: i + 1, column: 5))
        }
        var http = HTTPTarget(url: "https://user:pa55word@example.test/health?token=t0ken")
        http.headers = [Header(name: "Authorization", value: "Bearer s3cr3t")]
        specs[0] = ProbeSpec(name: "probe-0000", target: .http(http), source: SourceLocation(file: dir.path + "/even.yaml", line: 1, column: 5))
        try storage.register(specs)
        let recorder = storage.makeSampleRecorder(warning: { _ in })
        for p in 0..<3 {
            for i in 0..<60 {
                let t = now - 60 * Self.minute + Int64(i) * Self.minute
                let fail = (p == 1 && i == 59) || (p == 2 && i % 10 == 0)
                recorder.append(Sample(probe: String(format: "probe-%04d", p), startedAt: t,
                                       failure: fail ? Failure(.timeout, "timed out") : nil,
                                       phases: fail ? Phases() : Phases(dns: 100, connect: 200, tls: 300, processing: 10_000 + Int64(i) * 10,
                                                                        transfer: 400, total: 11_000 + Int64(i) * 10),
                                       status: fail ? nil : 200))
            }
        }
        try recorder.close()
        let opened = now - 30 * Self.minute
        let incident = Incident(id: 0, probe: "probe-0002", serviceID: nil, title: Self.hostile, description: "first: " + Self.hostile,
                                status: .major, stage: .investigating, createdAt: opened, updatedAt: opened, resolvedAt: nil,
                                updates: [IncidentUpdate(kind: .opened, stage: .investigating, status: .major, createdAt: opened,
                                                         description: "first: " + Self.hostile, evidence: #"{"why":"<b>\"x\"</b>"}"#)])
        let tracking = OpenIncident(status: .major, stage: .investigating, openedAt: opened, degradedSince: opened,
                                    failedChecks: 6, worstP95: nil, worstFailures: 6)
        let id = try storage.record(IncidentChange(incident: incident, update: incident.updates[0], tracking: tracking, outbox: [
            OutboxItem(sink: "webhook:abc", method: "POST", body: "{}", nextAttemptAt: opened, lastError: "HTTP 500: <oops>", createdAt: opened),
        ]))
        var later = incident
        later.id = id
        let update = IncidentUpdate(kind: .monitoring, stage: .monitoring, status: .major, createdAt: opened + 10 * Self.minute,
                                    description: "latest: looks better " + Self.hostile)
        later.stage = .monitoring
        later.updates.append(update)
        try storage.record(IncidentChange(incident: later, update: update, tracking: tracking, outbox: []))
        let call = try #require(try storage.incident(id: id)?.deliveries.first)
        try storage.recordAttempt(call.id, state: .failed, nextAttemptAt: now, error: "HTTP 500: <oops>", at: now)
        return storage
    }

    @Test func statusPageListsPagesOf200WithOpenIncidentsFirst() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let storage = try makeStore(probes: 450, dir: dir)
        let first = try StatusPage.render(.init(), storage: storage, now: Self.now).markup
        #expect(count("<tr data-probe=", in: first) == 200)
        #expect(first.contains("page 1 of 3"))
        #expect(first.contains("href=\"/?page=2\""))
        // The probe with an open incident leads, with its latest description.
        let firstRow = first.range(of: "<tr data-probe=\"").map { String(first[$0.upperBound...].prefix(10)) }
        #expect(firstRow == "probe-0002")
        #expect(first.contains("latest: looks better &lt;script&gt;"))
        #expect(first.contains("<td class=\"state recovering\">"))
        #expect(count("<svg class=\"spark\"", in: first) == 200)
        #expect(CompactCharts.svgs(first, class: "bars").map { CompactCharts.barDays($0).values.reduce(0, +) } == Array(repeating: 90, count: 200))
        #expect(CompactCharts.svgs(first, class: "spark").contains { CompactCharts.sparkPoints($0) == 1 }, "an hour of checks is one hourly p95 point")
        let third = try StatusPage.render(.init(page: 3), storage: storage, now: Self.now).markup
        #expect(count("<tr data-probe=", in: third) == 50)
        #expect(third.contains("rel=\"prev\""))
        #expect(!third.contains("rel=\"next\""))
        let beyond = try StatusPage.render(.init(page: 99), storage: storage, now: Self.now).markup
        #expect(beyond.contains("page 3 of 3"))
    }

    @Test func statusPageFiltersByNameStateAndFile() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let storage = try makeStore(probes: 30, dir: dir)
        func rows(_ q: StatusPage.Query) throws -> [String] {
            let page = try StatusPage.render(q, storage: storage, now: Self.now).markup
            return page.components(separatedBy: "<tr data-probe=\"").dropFirst().map { String($0.prefix { $0 != "\"" }) }
        }
        #expect(try rows(.init(name: "PROBE-001")) == (10...19).map { String(format: "probe-%04d", $0) })
        #expect(try rows(.init(state: "failing")) == ["probe-0001"])
        #expect(try rows(.init(state: "healthy")) == ["probe-0000"])
        #expect(try rows(.init(state: "recovering")) == ["probe-0002"])
        #expect(try rows(.init(state: "degraded (major)")).isEmpty, "a recovering probe is not degraded")
        #expect(try rows(.init(state: "unknown")).count == 27)
        #expect(try rows(.init(file: dir.path + "/even.yaml")).count == 15)
        #expect(try rows(.init(name: "3", file: dir.path + "/it's \"hostile\" <x>.yaml")) == ["probe-0003", "probe-0013", "probe-0023"])
        // The form keeps the values, escaped; the hostile file name is an option, escaped.
        let page = try StatusPage.render(.init(name: "\"><script>"), storage: storage, now: Self.now).markup
        #expect(page.contains("value=\"&quot;&gt;&lt;script&gt;\""))
        #expect(page.contains("<option>\(HTML.escape(dir.path + "/it's \"hostile\" <x>.yaml"))</option>"))
        #expect(page.contains("No probe matches."))
        #expect(StatusPage.Query(query: "name=a+b&state=failing&file=%2Fx%2Fy.yaml&page=2")
                == StatusPage.Query(name: "a b", state: "failing", file: "/x/y.yaml", page: 2))
    }

    @Test func probePageHasTheChartsAndARedactedConfiguration() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let storage = try makeStore(probes: 3, dir: dir)
        let range = ProbePage.Range.named("1h")
        let content = try #require(try ProbePage.load("probe-0000", range: range, storage: storage, now: Self.now))
        let page = ProbePage.render(content, range: range, now: Self.now).markup
        // 60 one-minute buckets ending with the one holding now: the first check is a minute before the range.
        #expect(page.contains("data-chart=\"latency\" data-points=\"60\""))
        #expect(page.contains("data-series=\"p50\" data-points=\"59\""))
        #expect(page.contains("data-series=\"phase-dns\" data-points=\"59\""))
        #expect(page.contains("data-series=\"phase-transfer\" data-points=\"59\""))
        #expect(page.contains("<dt>headers</dt><dd>Authorization: (value hidden)</dd>"))
        for secret in ["s3cr3t", "pa55word", "t0ken", "user:"] { #expect(!page.contains(secret), "\(secret) never shown") }
        #expect(page.contains("aria-current=\"true\">1h</a>"))
        #expect(page.contains("href=\"/probes/probe-0000?range=30d\""))
        #expect(count("<g class=\"day\" tabindex=\"0\"", in: page) == 90)

        let failing = try #require(try ProbePage.load("probe-0002", range: .named("24h"), storage: storage, now: Self.now))
        let page2 = ProbePage.render(failing, range: .named("24h"), now: Self.now).markup
        #expect(page2.contains("data-chart=\"latency\" data-points=\"288\""))
        #expect(page2.contains("data-chart=\"failures\" data-series=\"failures\" data-points=\"6\""))
        #expect(page2.contains("data-reason=\"timeout\""))
        #expect(count("data-incident=", in: page2) == 1)
        #expect(page2.contains("href=\"/incidents/1\""))
        #expect(!page2.contains("<script>alert"))
        #expect(try ProbePage.load("nope", range: range, storage: storage, now: Self.now) == nil)
    }

    @Test func incidentPagesShowTheTimelineEvidenceAndDeliveriesEscaped() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let storage = try makeStore(probes: 3, dir: dir)
        let list = try IncidentPages.list(storage: storage, now: Self.now, openOnly: false).markup
        #expect(list.contains("<tr data-incident=\"1\">"))
        #expect(list.contains("href=\"/probes/probe-0002\""))
        let stored = try #require(try storage.incident(id: 1))
        let page = IncidentPages.page(stored, now: Self.now).markup
        #expect(count("<li data-kind=", in: page) == 2)
        #expect(page.contains("<p class=\"description\">latest: looks better &lt;script&gt;alert(&quot;t&quot;)&lt;/script&gt; &#39;Tïtle&#39; &amp; &quot;q&quot; 名前</p>"))
        #expect(page.contains("&quot;why&quot;: &quot;&lt;b&gt;\\&quot;x\\&quot;&lt;/b&gt;&quot;"), "evidence, re-indented and escaped")
        #expect(page.contains("HTTP 500: &lt;oops&gt;"))
        #expect(page.contains("webhook:abc"))
        // No unescaped hostile text anywhere: the only <script is the page's own script tag.
        #expect(count("<script", in: page) == 1)
        #expect(count("<script", in: list) == 1)
    }
}

/// The status page's cache: a page served from it is the page rendered without it.
@Suite struct StatusCacheTests {
    @Test func aCachedPageIsThePageRenderedFresh() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let storage = try StorageBackend.open(database: dir.path + "/prober.db", readOnly: false)
        let minute: Int64 = 60_000_000
        // 03:30 UTC: the 24 hours of the sparkline begin the day before, as do 26.5 of the 30 hours of checks.
        let now = 1_800_000_000_000_000 / 86_400_000_000 * 86_400_000_000 + 210 * minute
        try storage.register([ProbeSpec(name: "api", target: .tcp(TCPTarget(host: "127.0.0.1", port: 1)))])
        let recorder = storage.makeSampleRecorder(warning: { _ in })
        for i in 1...(30 * 60) {
            let t = now - Int64(i) * minute
            recorder.append(Sample(probe: "api", startedAt: t, failure: i % 97 == 0 ? Failure(.timeout, "t") : nil,
                                   phases: Phases(dns: 100, total: 1_000 + Int64(i % 60) * 100), status: 200))
        }
        try recorder.close()
        let cache = StatusCache()
        let first = try StatusPage.render(.init(), storage: storage, now: now, cache: cache).markup
        let second = try StatusPage.render(.init(), storage: storage, now: now, cache: cache).markup
        let fresh = try StatusPage.render(.init(), storage: storage, now: now).markup
        #expect(first == fresh)
        #expect(second == fresh, "the cached days and today's figures make the same page")
        #expect(CompactCharts.svgs(fresh, class: "spark").contains { CompactCharts.sparkPoints($0) == 24 })
        let later = now + StatusCache.listingLifetime
        #expect(try StatusPage.render(.init(), storage: storage, now: later, cache: cache).markup
                == StatusPage.render(.init(), storage: storage, now: later).markup)
    }

    /// While `/` is asked for, the listing is read again in the background, so a page finds a new probe without
    /// reading the listing itself; after `warmFor` without a visit the background reads stop.
    @Test func theListingIsKeptFreshWhilePeopleLookAndLeftAloneAfter() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let storage = try StorageBackend.open(database: dir.path + "/prober.db", readOnly: false)
        try storage.register([ProbeSpec(name: "first", target: .tcp(TCPTarget(host: "127.0.0.1", port: 1)))])
        let cache = StatusCache()
        let now: Int64 = 1_800_000_000_000_000
        _ = try StatusPage.render(.init(), storage: storage, now: now, cache: cache)
        let jobs = ScheduledJobs()
        cache.keepWarm(now: now) { after, job in jobs.append(job) }
        cache.keepWarm(now: now + 1) { after, job in jobs.append(job) }
        #expect(jobs.current.count == 1, "one background reader, however many pages")
        try storage.register([ProbeSpec(name: "first", target: .tcp(TCPTarget(host: "127.0.0.1", port: 1))),
                              ProbeSpec(name: "second", target: .tcp(TCPTarget(host: "127.0.0.1", port: 2)))])
        var t = now + StatusCache.listingLifetime
        try jobs.current[0](storage, t)
        // Read in the background: a page within the listing's lifetime shows the new probe without reading it.
        let page = try cache.listing(now: t + 1) { Issue.record("the page read the listing itself"); return try cache.read(storage, now: t) }
        #expect(page.infos.map(\.name) == ["first", "second"])
        #expect(jobs.current.count == 2, "it goes on while people look")
        // Nobody asked for warmFor: the next turn reads nothing and schedules nothing more.
        t = now + StatusCache.warmFor + StatusCache.listingLifetime
        try jobs.current[1](storage, t)
        #expect(jobs.current.count == 2)
        cache.keepWarm(now: t) { after, job in jobs.append(job) }
        #expect(jobs.current.count == 3, "a new visit starts it again")
    }
}

/// The jobs `StatusCache.keepWarm` scheduled, run by the test by hand. `@unchecked Sendable`: under `lock`.
final class ScheduledJobs: @unchecked Sendable {
    private let lock = NSLock()
    private var jobs: [StatusCache.Job] = []
    func append(_ job: @escaping StatusCache.Job) { lock.withLock { jobs.append(job) } }
    var current: [StatusCache.Job] { lock.withLock { jobs } }
}
