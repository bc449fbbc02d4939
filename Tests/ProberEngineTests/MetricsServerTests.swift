import Foundation
import Logging
import ProberCore
@testable import ProberEngine
@testable import ProberStore
import ProberHTTP
import ProberTestSupport
import XCTest

/// `/healthz` follows the scheduler's liveness; slow clients on the metrics listener never reach the scheduler.
final class MetricsServerTests: XCTestCase {
    private var dir: TemporaryDirectory!

    override func setUpWithError() throws { dir = try TemporaryDirectory() }
    override func tearDown() { dir.remove() }

    /// A metrics server reading a real store (fresh SQLite file) and the given scheduler.
    private func makeServer(_ scheduler: Scheduler, staleAfter: Duration = .seconds(5), store: Store? = nil) throws -> MetricsServer {
        let store = try store ?? Store(path: dir.url.appendingPathComponent("prober.db").path)
        let server = try MetricsServer(host: "127.0.0.1", port: 0, sources: .init(
            scheduler: scheduler, tracker: IncidentTracker(store: store, logger: Logger(label: "test")),
            writer: SampleWriter(store: store), outbox: store, latest: LatestSamples()), staleAfter: staleAfter)
        server.start()
        return server
    }

    /// The status code of `GET path`, or nil when there was no answer.
    private func status(_ port: UInt16, _ path: String) throws -> Int? {
        let reply = try RawClient.exchange(port: port, "GET \(path) HTTP/1.1\r\nHost: localhost\r\n\r\n")
        return reply.flatMap { $0.split(separator: " ", maxSplits: 2).dropFirst().first }.flatMap { Int($0) }
    }

    func testHealthzIsUnavailableBeforeStartAndAfterStop() throws {
        let scheduler = Scheduler(runner: ScriptedRunner())
        let server = try makeServer(scheduler)
        defer { server.stop() }
        XCTAssertEqual(try status(server.listener.port, "/healthz"), 503, "not started yet")

        scheduler.start(probes: [httpProbe("a")])
        XCTAssertTrue(scheduler.isLive())
        XCTAssertEqual(try status(server.listener.port, "/healthz"), 200)
        let reply = try XCTUnwrap(RawClient.exchange(port: server.listener.port, "HEAD /healthz HTTP/1.0\r\n\r\n"))
        XCTAssertTrue(reply.hasPrefix("HTTP/1.1 200 OK\r\n") && reply.hasSuffix("\r\n\r\n"), reply)

        scheduler.stop(drain: false)
        XCTAssertFalse(scheduler.isLive())
        let stopped = try XCTUnwrap(RawClient.exchange(port: server.listener.port, "GET /healthz HTTP/1.1\r\n\r\n"))
        XCTAssertTrue(stopped.hasPrefix("HTTP/1.1 503 Service Unavailable\r\n"), stopped)
        XCTAssertTrue(stopped.contains("scheduler"), stopped)
    }

    func testHealthzTurnsUnavailableWhileTheSchedulerQueueIsStalledAndRecovers() throws {
        let scheduler = Scheduler(runner: ScriptedRunner(), configuration: .init(heartbeat: .milliseconds(50)))
        let server = try makeServer(scheduler, staleAfter: .milliseconds(300))
        defer {
            server.stop()
            scheduler.stop(drain: false)
        }
        scheduler.start(probes: [httpProbe("a")])
        XCTAssertEqual(try status(server.listener.port, "/healthz"), 200)

        // Hold the scheduler's queue: no tick, no heartbeat. The scrape must still be answered, with 503.
        let release = DispatchSemaphore(value: 0)
        scheduler.queue.async { release.wait() }
        waitUntil("/healthz to report the stalled queue") { (try? status(server.listener.port, "/healthz")) == 503 }
        XCTAssertFalse(scheduler.isLive(staleAfter: .milliseconds(300)))
        XCTAssertEqual(try status(server.listener.port, "/metrics"), 200, "/metrics does not wait for the scheduler's queue")

        release.signal()
        waitUntil("/healthz to recover") { (try? status(server.listener.port, "/healthz")) == 200 }
    }

    func testManySlowClientsDelayNeitherTicksNorAScrape() throws {
        let interval = Duration.milliseconds(200)
        let runner = ScriptedRunner()
        let scheduler = Scheduler(runner: runner)
        let server = try makeServer(scheduler)
        defer {
            server.stop()
            scheduler.stop(drain: false)
        }
        scheduler.start(probes: [httpProbe("steady", interval: interval, timeout: .milliseconds(100))])
        waitUntil("the first tick") { runner.starts("steady").count >= 1 }

        // 100 clients that send half a request head and then stall (the read deadline is 5 s).
        var slow: [RawClient] = []
        for _ in 0..<100 {
            let client = try RawClient(port: server.listener.port)
            client.send("GET /metrics HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
            slow.append(client)
        }
        let before = runner.starts("steady").count
        // While they stall, a normal client keeps scraping and the probe keeps ticking.
        let deadline = Date().addingTimeInterval(30)
        var scrapes = 0
        while runner.starts("steady").count < before + 10, Date() < deadline {
            let reply = try XCTUnwrap(RawClient.exchange(port: server.listener.port, "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n"),
                                      "a scrape must be answered while 100 clients stall")
            XCTAssertTrue(reply.hasPrefix("HTTP/1.1 200 OK\r\n"), String(reply.prefix(200)))
            XCTAssertTrue(reply.contains("\nprober_skipped_ticks_total{probe=\"steady\"} 0\n"), reply)
            scrapes += 1
            usleep(20_000)
        }
        XCTAssertGreaterThan(scrapes, 0)
        XCTAssertGreaterThanOrEqual(runner.starts("steady").count, before + 10, "the probe kept ticking")
        XCTAssertEqual(scheduler.stats.skipped, 0, "no tick skipped or missed")
        // Ticks on the grid: each start is its due time plus a lateness below one interval (or it would have
        // been counted as missed), so n starts span (n - 1) intervals give or take one.
        let starts = runner.starts("steady")
        let micros = interval.microseconds
        let span = starts.last! - starts.first!
        XCTAssertLessThan(abs(span - Int64(starts.count - 1) * micros), micros, "starts \(starts)")
        // The stalled clients are still open: none was served or closed early.
        var pfds = slow.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
        XCTAssertEqual(poll(&pfds, nfds_t(pfds.count), 0), 0, "the slow clients are still waiting for their read deadline")
    }

    func testStalledClientsBeyondTheConnectionCapCannotKeepOutALivenessProbe() throws {
        let scheduler = Scheduler(runner: ScriptedRunner())
        let server = try makeServer(scheduler)
        defer {
            server.stop()
            scheduler.stop(drain: false)
        }
        scheduler.start(probes: [httpProbe("a")])
        let cap = HTTPListener.Configuration().maxConnections
        var stalled: [RawClient] = []
        for _ in 0..<(cap + 20) {
            let client = try RawClient(port: server.listener.port)
            client.send("GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
            stalled.append(client)
        }
        // Once the stalled heads are older than evictStalledAfter (1 s), each new client takes the place of the
        // oldest: the probe is answered long before their read deadline (5 s) would have freed any slot.
        waitUntil("/healthz answered despite \(cap + 20) stalled clients") { (try? status(server.listener.port, "/healthz")) == 200 }
        var pfds = stalled.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
        let closed = poll(&pfds, nfds_t(pfds.count), 0)
        XCTAssertLessThan(Int(closed), 20 + cap / 2, "most stalled clients are still waiting: it was eviction, not their deadline")
    }

    func testClientsHoldingTheirSocketsAfterAnAnswerCannotKeepOutALivenessProbe() throws {
        let scheduler = Scheduler(runner: ScriptedRunner())
        let server = try makeServer(scheduler)
        defer {
            server.stop()
            scheduler.stop(drain: false)
        }
        scheduler.start(probes: [httpProbe("a")])
        // As many clients as the cap, each answered and then keeping its socket open.
        var idle: [RawClient] = []
        for _ in 0..<HTTPListener.Configuration().maxConnections {
            let client = try RawClient(port: server.listener.port)
            client.send("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            XCTAssertEqual(client.readToEnd()?.hasPrefix("HTTP/1.1 200 "), true)
            idle.append(client)
        }
        XCTAssertEqual(try status(server.listener.port, "/healthz"), 200)
    }

    func testConcurrentScrapesShareOneBuild() throws {
        let scheduler = Scheduler(runner: ScriptedRunner())
        let store = try Store(path: dir.url.appendingPathComponent("prober.db").path)
        let server = try makeServer(scheduler, store: store)
        defer {
            server.stop()
            scheduler.stop(drain: false)
        }
        scheduler.start(probes: [httpProbe("a")])
        // Hold the store's queue so that the first build waits in the outbox query while the others arrive.
        let release = DispatchSemaphore(value: 0)
        store.queue.async { release.wait() }
        let clients = try (0..<20).map { _ in try RawClient(port: server.listener.port) }
        for client in clients { client.send("GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n") }
        waitUntil("20 scrapes waiting for one build") { server.scrapes.waiting == 20 }
        release.signal()
        for client in clients {
            let reply = try XCTUnwrap(client.readToEnd())
            XCTAssertTrue(reply.hasPrefix("HTTP/1.1 200 OK\r\n") && reply.contains("\nprober_outbox_pending 0\n"), String(reply.prefix(300)))
        }
        XCTAssertEqual(server.scrapes.builds, 1)
        XCTAssertEqual(try status(server.listener.port, "/metrics"), 200)
        XCTAssertEqual(server.scrapes.builds, 2, "a scrape after the build gets a fresh one")
    }
}
