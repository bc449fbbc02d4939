import CSQLite3
import Foundation
import ProberTestSupport
import ProberCore
@testable import ProberStore
import XCTest

/// A fresh database path in its own temporary folder, removed at the end of the test.
func temporaryDatabase(_ test: XCTestCase) throws -> String {
    let dir = try TemporaryDirectory()
    test.addTeardownBlock { dir.remove() }
    return dir.url.appendingPathComponent("prober.db").path
}

/// A second, independent SQLite connection (another process would behave the same), for locking and
/// for checking what is really on disk.
final class RawConnection {
    let handle: OpaquePointer
    init(_ path: String) throws {
        var db: OpaquePointer?
        guard sqlite3_open(path, &db) == SQLITE_OK, let db else { throw StoreError(code: 1, message: "open", path: path) }
        handle = db
    }
    deinit { sqlite3_close_v2(handle) }

    func execute(_ sql: String) throws {
        let rc = sqlite3_exec(handle, sql, nil, nil, nil)
        if rc != SQLITE_OK { throw StoreError(code: rc, message: String(cString: sqlite3_errmsg(handle)), sql: sql, path: "") }
    }

    func int(_ sql: String) throws -> Int64? {
        var stmt: OpaquePointer?
        guard sqlite3_prepare_v2(handle, sql, -1, &stmt, nil) == SQLITE_OK else {
            throw StoreError(code: 1, message: String(cString: sqlite3_errmsg(handle)), sql: sql, path: "")
        }
        defer { sqlite3_finalize(stmt) }
        guard sqlite3_step(stmt) == SQLITE_ROW, sqlite3_column_type(stmt, 0) != SQLITE_NULL else { return nil }
        return sqlite3_column_int64(stmt, 0)
    }
}


/// Synthetic samples: one every `interval` µs from `start` for `count` checks; about `failureRate` fail.
func makeSamples(probe: String, start: Int64, interval: Int64, count: Int, failureRate: Double = 0.05,
                 seed: UInt64 = 1) -> [Sample] {
    var random = SeededRandom(seed: seed)
    let reasons: [FailureReason] = [.timeout, .httpStatus, .connectRefused]
    return (0..<count).map { i in
        let t = start + Int64(i) * interval
        if Double.random(in: 0..<1, using: &random) < failureRate {
            let reason = reasons[Int.random(in: 0..<reasons.count, using: &random)]
            return Sample(probe: probe, startedAt: t, failure: Failure(reason, "synthetic"),
                          phases: Phases(dns: 200, total: reason == .timeout ? 5_000_000 : 900), status: reason == .httpStatus ? 503 : nil)
        }
        let dns = random.latency(median: 300), connect = random.latency(median: 800), tls = random.latency(median: 3_000)
        let processing = random.latency(median: 40_000), transfer = random.latency(median: 500)
        return Sample(probe: probe, startedAt: t,
                      phases: Phases(dns: dns, connect: connect, tls: tls, processing: processing, transfer: transfer,
                                     total: dns + connect + tls + processing + transfer),
                      status: 200, bytes: 1_234, ipFamily: .ipv4)
    }
}

/// A connection to the file at `path` as a prober of schema `version` leaves it: its first `version` migrations applied,
/// each in its transaction, as `Store` applies them.
func migratedConnection(at path: String, version: Int) throws -> Connection {
    let connection = try Connection(path: path, readOnly: false)
    for (i, migration) in Store.migrations.prefix(version).enumerated() {
        try connection.transaction {
            try migration.apply(connection)
            try connection.execute("PRAGMA user_version = \(i + 1)")
        }
    }
    return connection
}

/// A sample as the store reads it back.
func rawSample(_ sample: Sample) -> RawSample {
    RawSample(ts: sample.startedAt, reason: sample.failure?.reason.code ?? 0, status: sample.status.map(Int64.init),
              phases: sample.phases, bytes: sample.bytes, family: sample.ipFamily.map { $0 == .ipv6 ? 1 : 0 })
}

/// Writes samples through the real writer and waits until they are committed.
func fill(_ store: Store, _ samples: [Sample]) throws {
    let writer = SampleWriter(store: store, configuration: .init(batchSize: 5_000))
    for s in samples { writer.append(s) }
    try writer.close()
    XCTAssertEqual(writer.statistics.written, samples.count)
}

/// Nearest-rank percentile of unsorted values.
func exactPercentile(_ values: [Int64], _ p: Double) -> Int64? {
    guard !values.isEmpty else { return nil }
    let sorted = values.sorted()
    return sorted[min(max(Int((p * Double(sorted.count)).rounded(.up)), 1), sorted.count) - 1]
}

func assertWithin(_ actual: Int64?, _ expected: Int64?, relative: Double, _ what: String,
                  file: StaticString = #filePath, line: UInt = #line) {
    guard let actual, let expected else {
        XCTAssertEqual(actual, expected, what, file: file, line: line)
        return
    }
    let error = abs(Double(actual - expected)) / Double(max(expected, 1))
    XCTAssertLessThanOrEqual(error, relative, "\(what): \(actual) vs exact \(expected)", file: file, line: line)
}
