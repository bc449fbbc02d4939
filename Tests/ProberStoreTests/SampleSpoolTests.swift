import Foundation
import ProberCore
@testable import ProberStore
import ProberTestSupport
import Testing

/// The on-disk spool on real files in a fresh folder: framing, a torn tail, the bound, order and reopening.
@Suite struct SampleSpoolTests {
    let t0: Int64 = 1_700_000_000_000_000

    func samples(_ range: Range<Int>, probe: String = "web") -> [Sample] {
        range.map { Sample(probe: probe, startedAt: t0 + Int64($0) * 1_000_000, phases: Phases(dns: 1, total: 1), status: 200) }
    }

    /// Everything the spool holds, oldest first, committed as it is read.
    func drain(_ spool: SampleSpool) -> [Sample] {
        var out: [Sample] = []
        while let batch = spool.peek() {
            out += batch
            spool.commit()
        }
        return out
    }

    func segmentFiles(_ dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".spool") }.sorted()
    }

    @Test func everyStoredFieldSurvivesTheRoundTrip() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let batch = [
            Sample(probe: "web", startedAt: t0, phases: Phases(dns: 1, connect: 2, tls: 3, processing: 4, transfer: 5, total: 15),
                   status: 200, bytes: 4_096, ipFamily: .ipv6),
            Sample(probe: "wéb \t\"x\"", startedAt: t0 - 5, failure: Failure(.httpStatus, "expected 200, got 503"),
                   phases: Phases(dns: 1, connect: 2, total: 99), status: 503, bytes: 0, ipFamily: .ipv4),
            Sample(probe: "tcp", startedAt: -3, failure: Failure(.connectRefused, "refused")),
        ]
        let spool = try SampleSpool(.init(directory: dir.path + "/spool"))
        try spool.append(batch)
        #expect(spool.samples == 3)
        let read = try #require(spool.peek())
        // The message is not stored (the database keeps the reason's code only).
        var expected = batch
        for i in expected.indices { expected[i].failure?.message = "" }
        #expect(read == expected)
    }

    @Test func aTornTailIsTruncatedWithAWarningAndTheRecordsBeforeItKept() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.path + "/spool"
        do {
            let spool = try SampleSpool(.init(directory: path))
            try spool.append(samples(0..<10))
            try spool.append(samples(10..<20))
            spool.close()
        }
        let segment = path + "/" + segmentFiles(path)[0]
        let intact = try #require(FileManager.default.attributesOfItem(atPath: segment)[.size] as? Int)
        // A crash while appending a third record: a header promising more bytes than were written.
        let handle = try #require(FileHandle(forWritingAtPath: segment))
        handle.seekToEndOfFile()
        handle.write(Data([200, 0, 0, 0, 1, 2, 3, 4, 9, 9, 9]))
        handle.closeFile()
        // And a flipped byte would be caught by the checksum the same way (see below).
        let warnings = SpoolWarnings()
        let reopened = try SampleSpool(.init(directory: path), warning: warnings.record)
        #expect(reopened.samples == 20)
        #expect(warnings.all.contains { $0.contains("torn or corrupt record") && $0.contains("11 bytes") }, "\(warnings.all)")
        #expect(try FileManager.default.attributesOfItem(atPath: segment)[.size] as? Int == intact)
        #expect(drain(reopened).map(\.startedAt) == samples(0..<20).map(\.startedAt))
    }

    @Test func aCorruptRecordFailsItsChecksum() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.path + "/spool"
        do {
            let spool = try SampleSpool(.init(directory: path))
            try spool.append(samples(0..<10))
            try spool.append(samples(10..<20))
        }
        let segment = path + "/" + segmentFiles(path)[0]
        var bytes = try #require(FileManager.default.contents(atPath: segment))
        bytes[bytes.count - 3] ^= 0xFF // inside the second record's payload
        try bytes.write(to: URL(fileURLWithPath: segment))
        let warnings = SpoolWarnings()
        let reopened = try SampleSpool(.init(directory: path), warning: warnings.record)
        #expect(reopened.samples == 10)
        #expect(warnings.all.count == 1)
        #expect(drain(reopened).map(\.startedAt) == samples(0..<10).map(\.startedAt))
    }

    @Test func beyondTheBoundTheOldestSegmentsAreDroppedAndCounted() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        // 100 samples a record, two records a segment, at most ~4 segments.
        let probe = try SampleSpool(.init(directory: dir.path + "/probe"))
        try probe.append(samples(0..<100))
        let record = probe.bytes - 8
        let spool = try SampleSpool(.init(directory: dir.path + "/spool", maxBytes: 8 + record * 8 + 7 * 8,
                                          segmentBytes: 8 + record * 2))
        for i in 0..<20 { try spool.append(samples(i * 100..<(i + 1) * 100)) }
        #expect(spool.bytes <= spool.configuration.maxBytes)
        #expect(spool.dropped > 0)
        #expect(spool.samples + spool.dropped == 2_000)
        let left = drain(spool)
        // What is left is the newest, in order, with nothing missing after the first kept sample.
        #expect(left.map(\.startedAt) == samples((2_000 - left.count)..<2_000).map(\.startedAt))
        #expect(spool.samples == 0 && segmentFiles(dir.path + "/spool").isEmpty)
    }

    @Test func reopeningResumesOldestFirstAndDeletesOnlyCommittedSegments() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.path + "/spool"
        let first = try SampleSpool(.init(directory: path, maxBytes: 1 << 20, segmentBytes: 1_024))
        for i in 0..<10 { try first.append(samples(i * 20..<(i + 1) * 20, probe: "p\(i % 3)")) }
        let segments = segmentFiles(path).count
        #expect(segments > 2)
        // Two batches are written to the database; the third is read but not committed (a crash mid-write).
        for _ in 0..<2 {
            _ = first.peek()
            first.commit()
        }
        _ = first.peek()
        first.close()
        #expect(segmentFiles(path).count <= segments)

        let second = try SampleSpool(.init(directory: path, maxBytes: 1 << 20, segmentBytes: 1_024))
        let replayed = drain(second)
        // Whole segments are replayed: at least every uncommitted sample, in order, never one lost.
        let expected = (0..<10).flatMap { i in samples(i * 20..<(i + 1) * 20, probe: "p\(i % 3)") }
        #expect(replayed.count >= 160)
        #expect(replayed == Array(expected.suffix(replayed.count)))
        #expect(second.samples == 0 && segmentFiles(path).isEmpty)
    }

    @Test func twoSpoolsNeverShareADirectory() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let first = try SampleSpool(.init(directory: dir.path + "/spool"))
        #expect(throws: SampleSpool.SpoolError.self) { try SampleSpool(.init(directory: dir.path + "/spool")) }
        first.close()
        _ = try SampleSpool(.init(directory: dir.path + "/spool"))
    }

    @Test func aDirectoryThatCannotBeCreatedIsNamed() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let file = try dir.write("file", "not a directory")
        do {
            _ = try SampleSpool(.init(directory: file + "/spool"))
            Issue.record("opened a spool under a file")
        } catch {
            #expect(error.description.contains(file + "/spool"), "\(error)")
        }
    }
}

/// The spool's warnings, collected.
final class SpoolWarnings: @unchecked Sendable { // guarded by lock
    private let lock = NSLock()
    private var messages: [String] = []
    func record(_ message: String) { lock.withLock { messages.append(message) } }
    var all: [String] { lock.withLock { messages } }
}
