import Foundation
import ProberCore
@testable import ProberStore
import ProberStorage
import XCTest

/// Collects the writer's warnings and lets a test wait for one.
final class Warnings: @unchecked Sendable { // guarded by lock
    private let lock = NSLock()
    private var messages: [String] = []
    private var waiters: [(String, XCTestExpectation)] = []

    func record(_ message: String) {
        lock.lock()
        messages.append(message)
        let ready = waiters.filter { message.contains($0.0) }
        waiters.removeAll { message.contains($0.0) }
        lock.unlock()
        for (_, e) in ready { e.fulfill() }
    }

    func expectation(containing text: String, _ test: XCTestCase) -> XCTestExpectation {
        let e = test.expectation(description: "warning containing '\(text)'")
        lock.lock()
        if messages.contains(where: { $0.contains(text) }) { e.fulfill() } else { waiters.append((text, e)) }
        lock.unlock()
        return e
    }

    var all: [String] {
        lock.lock()
        defer { lock.unlock() }
        return messages
    }
}

final class SampleWriterTests: XCTestCase {
    let t0: Int64 = 1_700_000_000_000_000

    func testSamplesRoundTripWithEveryField() throws {
        let path = try temporaryDatabase(self)
        let store = try Store(path: path)
        let samples = [
            Sample(probe: "web", startedAt: t0, phases: Phases(dns: 1, connect: 2, tls: 3, processing: 4, transfer: 5, total: 15),
                   status: 200, bytes: 4_096, ipFamily: .ipv6),
            Sample(probe: "web", startedAt: t0 + 1, failure: Failure(.httpStatus, "expected 200, got 503"),
                   phases: Phases(dns: 1, connect: 2, total: 9), status: 503, bytes: 0, ipFamily: .ipv4),
            Sample(probe: "tcp", startedAt: t0 + 2, failure: Failure(.connectRefused, "refused"), phases: Phases(dns: 7)),
        ]
        try fill(store, samples)
        let web = try store.recentSamples(probe: "web", limit: 10)
        XCTAssertEqual(web.map(\.startedAt), [t0, t0 + 1])
        XCTAssertEqual(web[0].phases, samples[0].phases)
        XCTAssertEqual(web[0].status, 200)
        XCTAssertEqual(web[0].bytes, 4_096)
        XCTAssertEqual(web[0].ipFamily, .ipv6)
        XCTAssertNil(web[0].failure)
        XCTAssertEqual(web[1].failure?.reason, .httpStatus)
        XCTAssertEqual(web[1].ipFamily, .ipv4)
        XCTAssertNil(web[1].phases.tls)
        XCTAssertEqual(try store.recentSamples(probe: "web", limit: 1).map(\.startedAt), [t0 + 1])
        XCTAssertEqual(try store.recentSamples(probe: "tcp", limit: 5).first?.failure?.reason, .connectRefused)
        XCTAssertEqual(try store.probeNames(), ["tcp", "web"])
        XCTAssertEqual(try store.recentSamples(probe: "nope", limit: 5), [])
    }

    func testRegisterStoresRedactedTargets() throws {
        let store = try Store(path: try temporaryDatabase(self))
        var http = HTTPTarget(url: "https://user:pw-7f3a9c@example.test/health?token=q-5e1d77")
        http.headers = [Header(name: "Authorization", value: "Bearer s3cr3t-91c")]
        try store.register([ProbeSpec(name: "api", target: .http(http)), ProbeSpec(name: "redis", target: .tcp(TCPTarget(host: "10.0.0.1", port: 6379)))])
        let api = try XCTUnwrap(try store.probeInfo("api"))
        XCTAssertEqual([api.name, api.kind, api.target], ["api", "http", "https://example.test/health"])
        XCTAssertTrue(api.settings.contains(ProbeSetting("headers", "Authorization: (value hidden)")))
        XCTAssertEqual(try store.probeInfo("redis")?.target, "10.0.0.1:6379")
        // Everything on disk, the database file and its WAL (the rows may be in either), and not the words of the
        // schema ("never a secret"): the secrets' values.
        let dump = [store.path, store.path + "-wal"].map { (try? String(contentsOfFile: $0, encoding: .isoLatin1)) ?? "" }.joined()
        XCTAssertTrue(dump.contains("example.test/health"), "the registered rows are on disk")
        XCTAssertFalse(dump.contains("pw-7f3a9c") || dump.contains("s3cr3t-91c") || dump.contains("q-5e1d77"))
    }

    func testLockedDatabaseLosesNothingOnceReleased() throws {
        let path = try temporaryDatabase(self)
        let store = try Store(path: path, busyTimeout: .milliseconds(20))
        let warnings = Warnings()
        let writer = SampleWriter(store: store, configuration: .init(batchSize: 100, flushInterval: .milliseconds(20),
                                                                     maxBackoff: .milliseconds(100)),
                                  warning: { warnings.record($0) })
        let other = try RawConnection(path)
        try other.execute("BEGIN IMMEDIATE")
        let blocked = warnings.expectation(containing: "cannot write samples", self)
        let samples = makeSamples(probe: "web", start: t0, interval: 1_000_000, count: 1_000)
        for s in samples { writer.append(s) } // never blocks, even though the database is locked
        wait(for: [blocked], timeout: 30)
        XCTAssertEqual(writer.statistics.written, 0)
        XCTAssertEqual(writer.statistics.pending, 1_000)
        XCTAssertThrowsError(try writer.flush()) { error in
            XCTAssertEqual((error as? StoreError)?.isBusy, true, "\(error)")
        }
        try other.execute("COMMIT")
        let recovered = warnings.expectation(containing: "recovered", self)
        wait(for: [recovered], timeout: 30)
        try writer.close()
        XCTAssertEqual(writer.statistics.written, 1_000)
        XCTAssertEqual(writer.statistics.dropped, 0)
        XCTAssertEqual(try store.recentSamples(probe: "web", limit: .max).count, 1_000)
        XCTAssertTrue(warnings.all.allSatisfy { !$0.contains("dropped") })
    }

    func testFullDatabaseKeepsSamplesUntilThereIsRoom() throws {
        let path = try temporaryDatabase(self)
        let store = try Store(path: path)
        // SQLITE_FULL for real: the file may not grow past its current size.
        try store.queue.sync { try store.connection.execute("PRAGMA max_page_count = \(try store.connection.scalar("PRAGMA page_count")!)") }
        let warnings = Warnings()
        let writer = SampleWriter(store: store, configuration: .init(batchSize: 1_000, flushInterval: .milliseconds(20),
                                                                     maxBackoff: .milliseconds(50)),
                                  warning: { warnings.record($0) })
        let full = warnings.expectation(containing: "full", self)
        let samples = makeSamples(probe: "web", start: t0, interval: 1_000_000, count: 3_000)
        for s in samples { writer.append(s) }
        wait(for: [full], timeout: 30)
        XCTAssertThrowsError(try writer.flush()) { error in
            XCTAssertEqual((error as? StoreError)?.primaryCode, 13, "\(error)") // SQLITE_FULL
        }
        // Every sample waits, bar a first small batch the timer may have written while they were appended (it can fit
        // in the file's last pages: 10 of them did once, on a busy machine).
        XCTAssertEqual(writer.statistics.pending + writer.statistics.written, 3_000)
        XCTAssertGreaterThanOrEqual(writer.statistics.pending, 2_000)
        XCTAssertEqual(writer.statistics.dropped, 0)
        try store.queue.sync { try store.connection.execute("PRAGMA max_page_count = 1000000") }
        try writer.close()
        XCTAssertEqual(writer.statistics.written, 3_000)
        XCTAssertEqual(try store.recentSamples(probe: "web", limit: 10_000).count, 3_000)
    }

    func testOldestSamplesAreDroppedOnlyBeyondTheBoundAndCounted() throws {
        let path = try temporaryDatabase(self)
        let store = try Store(path: path, busyTimeout: .milliseconds(1))
        let warnings = Warnings()
        let writer = SampleWriter(store: store, configuration: .init(capacity: 100, batchSize: 10, flushInterval: .milliseconds(10),
                                                                     maxBackoff: .milliseconds(20)),
                                  warning: { warnings.record($0) })
        let other = try RawConnection(path)
        try other.execute("BEGIN IMMEDIATE")
        let samples = makeSamples(probe: "web", start: t0, interval: 1_000_000, count: 250)
        for s in samples { writer.append(s) }
        XCTAssertEqual(writer.statistics.dropped, 150)
        XCTAssertEqual(writer.statistics.pending, 100)
        let reported = warnings.expectation(containing: "dropped", self)
        wait(for: [reported], timeout: 30)
        try other.execute("COMMIT")
        try writer.close()
        XCTAssertEqual(try store.recentSamples(probe: "web", limit: .max).count, 100)
        // The newest samples survive.
        XCTAssertEqual(try store.recentSamples(probe: "web", limit: 90).map(\.startedAt), samples.suffix(90).map(\.startedAt))
    }

    func testStatusReportsLastCheckAndTheLastHour() throws {
        let store = try Store(path: try temporaryDatabase(self))
        let samples = makeSamples(probe: "api", start: t0, interval: 30_000_000, count: 240, failureRate: 0.1, seed: 9)
        try fill(store, samples)
        let now = t0 + 240 * 30_000_000
        let status = try XCTUnwrap(try store.status(now: now).first)
        XCTAssertEqual(status.name, "api")
        XCTAssertEqual(status.last?.at, samples.last!.startedAt)
        XCTAssertEqual(status.last?.ok, samples.last!.ok)
        XCTAssertEqual(status.last?.latency, samples.last!.phases.total)
        let hour = samples.filter { $0.startedAt >= now - 3_600_000_000 }
        XCTAssertEqual(status.checks1h, hour.count)
        XCTAssertEqual(status.failures1h, hour.filter { !$0.ok }.count)
        XCTAssertEqual(status.p95_1h, exactPercentile(hour.filter(\.ok).compactMap(\.phases.total), 0.95))
        XCTAssertNil(try store.history(probe: "nope", since: 0, until: now))
    }
}
