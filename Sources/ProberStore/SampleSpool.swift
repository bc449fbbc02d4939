import Foundation
import ProberCore

/// Samples on disk while the database cannot take them: append-only segment files in one directory,
/// oldest drained first, bounded in bytes (the oldest segments are dropped beyond the bound, counted).
///
/// A segment is `segment-<sequence>.spool`: an 8-byte magic (`PRSPOOL1`), then records, each a 4-byte
/// little-endian payload length, the payload's CRC-32 (4 bytes, little-endian) and the payload, one batch of
/// samples (`SpoolCodec`). A record is appended whole and the file is `fsync`ed before `append` returns, so
/// after a crash only the last record of the last segment can be torn; opening the spool finds a short or
/// corrupt record by its length and checksum, truncates the segment there and says so through `warning`.
///
/// The head segment is read record by record (`peek`); `commit` advances past a record once the database
/// has it, and the segment is deleted only when every record in it is committed. A crash between a commit
/// and the delete re-sends that segment's records on the next start: harmless, as the backends replace a
/// sample of the same probe and microsecond.
///
/// The directory is locked (`flock` on `lock` inside it) for as long as the spool is open, so two probers
/// never share one; samples are all it holds (probe names, times, outcomes and phases: nothing secret).
///
/// `@unchecked Sendable`: not thread-safe, and needs not be: it is handed once to one owner (`SampleWriter`),
/// which calls it only on its serial queue.
public final class SampleSpool: @unchecked Sendable {
    public struct Configuration: Sendable {
        /// Where the segments are (created when missing, mode 0700).
        public var directory: String
        /// Most bytes the segments may take; beyond it the oldest segments are dropped. Default 1 GiB.
        public var maxBytes: Int64
        /// Size at which a segment is closed and a new one begun: at most a quarter of `maxBytes`, so dropping
        /// one to make room loses a small share of the spool. Default 16 MiB.
        public var segmentBytes: Int64

        public init(directory: String, maxBytes: Int64 = 1 << 30, segmentBytes: Int64 = 16 << 20) {
            self.directory = directory
            self.maxBytes = max(maxBytes, 4096)
            self.segmentBytes = max(1024, min(segmentBytes, self.maxBytes / 4))
        }
    }

    /// Why the spool cannot be opened or written; the message names the directory or file.
    public struct SpoolError: Error, CustomStringConvertible, Sendable {
        public var message: String
        public var description: String { message }
    }

    public let configuration: Configuration
    public var directory: String { configuration.directory }
    private let warning: (String) -> Void
    private var lockDescriptor: Int32 = -1

    private struct Segment {
        let sequence: Int
        var bytes: Int64
        var samples: Int
        var path: String
    }
    private var segments: [Segment] = []
    /// Where the next record of the head segment starts, and how many of its samples are committed.
    private var headOffset = Int64(SpoolCodec.magic.count)
    private var headCommitted = 0
    /// The record `peek` returned: its end offset and sample count.
    private var peeked: (end: Int64, samples: Int)?

    /// Samples not yet committed.
    public private(set) var samples = 0
    /// Bytes the segment files take.
    public private(set) var bytes: Int64 = 0
    /// Samples dropped since the spool was opened: beyond `maxBytes`, or in a record that could not be read.
    public private(set) var dropped = 0

    /// Opens (creating it when missing) and locks the spool directory and reads what an earlier run left there.
    /// Throws `SpoolError` naming the directory when it cannot be created, written or locked.
    public init(_ configuration: Configuration, warning: @escaping (String) -> Void = { _ in }) throws(SpoolError) {
        self.configuration = configuration
        self.warning = warning
        let dir = configuration.directory
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            throw SpoolError(message: "cannot create the spool directory \(dir): \(Self.reason(error))")
        }
        let fd = open(dir + "/lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw SpoolError(message: "cannot write in the spool directory \(dir): \(String(cString: strerror(errno)))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let busy = errno == EWOULDBLOCK
            Glibc.close(fd)
            throw SpoolError(message: busy
                ? "the spool directory \(dir) is in use by another prober (locked); give each prober its own --spool"
                : "cannot lock the spool directory \(dir): \(String(cString: strerror(errno)))")
        }
        lockDescriptor = fd
        do { try scan() } catch {
            Glibc.close(fd)
            throw error
        }
    }

    deinit { close() }

    /// Releases the directory's lock (the segments stay for the next start).
    public func close() {
        if lockDescriptor >= 0 {
            Glibc.close(lockDescriptor)
            lockDescriptor = -1
        }
    }

    /// Appends one batch as one record, durable when this returns. Returns how many samples were dropped to
    /// stay within `maxBytes` (the oldest segments). Throws `SpoolError` when the disk refuses the write; the
    /// spool is unchanged then.
    @discardableResult
    public func append(_ batch: [Sample]) throws(SpoolError) -> Int {
        guard !batch.isEmpty else { return 0 }
        let payload = SpoolCodec.encode(batch)
        var record: [UInt8] = []
        record.reserveCapacity(payload.count + 8)
        SpoolCodec.appendUInt32(UInt32(payload.count), to: &record)
        SpoolCodec.appendUInt32(CRC32.checksum(payload), to: &record)
        record.append(contentsOf: payload)

        if segments.isEmpty || segments[segments.count - 1].bytes + Int64(record.count) > configuration.segmentBytes {
            try startSegment()
        }
        let tail = segments[segments.count - 1]
        let fd = open(tail.path, O_WRONLY | O_APPEND | O_CLOEXEC)
        guard fd >= 0 else { throw SpoolError(message: "cannot open \(tail.path): \(String(cString: strerror(errno)))") }
        defer { Glibc.close(fd) }
        let written = record.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == record.count, fsync(fd) == 0 else {
            let reason = written < 0 ? String(cString: strerror(errno)) : "short write"
            _ = ftruncate(fd, off_t(tail.bytes)) // take back a partial record; the next open would find it torn anyway
            throw SpoolError(message: "cannot write to the spool \(tail.path): \(reason)")
        }
        segments[segments.count - 1].bytes += Int64(record.count)
        segments[segments.count - 1].samples += batch.count
        bytes += Int64(record.count)
        samples += batch.count

        var dropped = 0
        while bytes > configuration.maxBytes, segments.count > 1 { dropped += dropHead() }
        return dropped
    }

    /// The oldest batch not yet committed, read from disk; nil when the spool is empty. A record that cannot be
    /// read (the file changed under us) ends its segment: the rest of it is dropped, with a warning.
    public func peek() -> [Sample]? {
        while let head = segments.first {
            if headOffset >= head.bytes {
                if segments.count == 1 && headOffset == head.bytes && head.samples == headCommitted {
                    // The tail, fully sent: remove it; the next append starts a new segment.
                    removeHead(lost: 0)
                    return nil
                }
                removeHead(lost: head.samples - headCommitted)
                continue
            }
            if let (batch, length) = readRecord(head.path, at: headOffset) {
                peeked = (headOffset + Int64(length), batch.count)
                return batch
            }
            let lost = head.samples - headCommitted
            warning("spool segment \(head.path): unreadable record at offset \(headOffset); dropping the \(lost) samples after it")
            removeHead(lost: lost)
        }
        return nil
    }

    /// Marks the batch `peek` returned as written to the database; its segment is deleted once every record in
    /// it is.
    public func commit() {
        guard let (end, count) = peeked, !segments.isEmpty else { return }
        peeked = nil
        headOffset = end
        headCommitted += count
        samples -= count
        if headOffset >= segments[0].bytes { removeHead(lost: 0) }
    }

    // MARK: Segments

    private func startSegment() throws(SpoolError) {
        let sequence = (segments.last?.sequence ?? 0) + 1
        let path = configuration.directory + "/" + String(format: "segment-%016d.spool", sequence)
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SpoolError(message: "cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { Glibc.close(fd) }
        let magic = SpoolCodec.magic
        guard magic.withUnsafeBufferPointer({ write(fd, $0.baseAddress, $0.count) }) == magic.count else {
            unlink(path)
            throw SpoolError(message: "cannot write to \(path): \(String(cString: strerror(errno)))")
        }
        syncDirectory()
        segments.append(Segment(sequence: sequence, bytes: Int64(magic.count), samples: 0, path: path))
        bytes += Int64(magic.count)
    }

    /// Drops the oldest segment to make room; returns the samples it still held.
    private func dropHead() -> Int {
        let lost = segments[0].samples - headCommitted
        removeHead(lost: lost)
        return lost
    }

    private func removeHead(lost: Int) {
        let head = segments.removeFirst()
        unlink(head.path)
        syncDirectory()
        bytes -= head.bytes
        samples -= lost
        dropped += lost
        headOffset = Int64(SpoolCodec.magic.count)
        headCommitted = 0
        peeked = nil
    }

    private func syncDirectory() {
        let fd = open(configuration.directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 {
            _ = fsync(fd)
            Glibc.close(fd)
        }
    }

    /// Reads the segments an earlier run left, oldest first, truncating a torn or corrupt record (and what follows
    /// it) with a warning.
    private func scan() throws(SpoolError) {
        let dir = configuration.directory
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: dir) } catch {
            throw SpoolError(message: "cannot read the spool directory \(dir): \(Self.reason(error))")
        }
        let found = names.compactMap { name -> (Int, String)? in
            guard name.hasPrefix("segment-"), name.hasSuffix(".spool"),
                  let n = Int(name.dropFirst("segment-".count).dropLast(".spool".count)) else { return nil }
            return (n, dir + "/" + name)
        }.sorted { $0.0 < $1.0 }
        for (sequence, path) in found {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw SpoolError(message: "cannot read \(path)")
            }
            let file = [UInt8](data)
            guard file.count >= SpoolCodec.magic.count, Array(file.prefix(SpoolCodec.magic.count)) == SpoolCodec.magic else {
                warning("spool segment \(path) is not a prober spool segment (bad header): removed")
                unlink(path)
                continue
            }
            var offset = SpoolCodec.magic.count
            var count = 0
            while offset < file.count {
                guard let (n, length) = SpoolCodec.validRecord(file, at: offset) else { break }
                count += n
                offset += length
            }
            if offset < file.count {
                warning("spool segment \(path): torn or corrupt record at offset \(offset) "
                    + "(\(file.count - offset) bytes, a crash while writing); truncated there")
                guard truncate(path, off_t(offset)) == 0 else {
                    throw SpoolError(message: "cannot truncate \(path): \(String(cString: strerror(errno)))")
                }
            }
            if count == 0 {
                unlink(path)
                continue
            }
            segments.append(Segment(sequence: sequence, bytes: Int64(offset), samples: count, path: path))
            bytes += Int64(offset)
            samples += count
        }
    }

    private func readRecord(_ path: String, at offset: Int64) -> ([Sample], Int)? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { Glibc.close(fd) }
        var header = [UInt8](repeating: 0, count: 8)
        guard pread(fd, &header, 8, off_t(offset)) == 8 else { return nil }
        let length = Int(SpoolCodec.readUInt32(header, at: 0))
        guard length <= SpoolCodec.maxRecord else { return nil }
        var record = [UInt8](repeating: 0, count: 8 + length)
        guard pread(fd, &record, 8 + length, off_t(offset)) == 8 + length,
              SpoolCodec.validRecord(record, at: 0) != nil,
              let batch = SpoolCodec.decode(record[8...]) else { return nil }
        return (batch, 8 + length)
    }

    private static func reason(_ error: any Error) -> String {
        if let underlying = (error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError,
           underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        return (error as NSError).localizedDescription
    }
}

/// A spool record's payload: one batch of samples, only what the database stores of each.
///
/// varint count of probe names, each name (varint length, UTF-8); varint count of samples; per sample the
/// name's index, `startedAt` as a zigzag varint delta from the previous sample's, the failure reason's code
/// (0: none), status + 1 (0: none), zigzag(bytes) + 1 (0: none), the IP family (0 none, 1 IPv4, 2 IPv6), and
/// the phases as `PhaseCodec` bytes after their varint length (0: none). About 12-20 bytes a sample.
enum SpoolCodec {
    static let magic = Array("PRSPOOL1".utf8)
    /// The largest payload a record may claim: larger is corruption (a batch of 5,000 samples takes ~100 KB).
    static let maxRecord = 64 << 20

    static func encode(_ batch: [Sample]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(batch.count * 20 + 64)
        var names: [String: Int] = [:]
        var order: [String] = []
        for sample in batch where names[sample.probe] == nil {
            names[sample.probe] = order.count
            order.append(sample.probe)
        }
        Varint.append(UInt64(order.count), to: &out)
        for name in order {
            Varint.append(UInt64(name.utf8.count), to: &out)
            out.append(contentsOf: name.utf8)
        }
        Varint.append(UInt64(batch.count), to: &out)
        var previous: Int64 = 0
        for sample in batch {
            Varint.append(UInt64(names[sample.probe]!), to: &out)
            Varint.append(Varint.zigzag(sample.startedAt &- previous), to: &out)
            previous = sample.startedAt
            Varint.append(UInt64(sample.failure?.reason.code ?? 0), to: &out)
            Varint.append(sample.status.map { UInt64(truncatingIfNeeded: $0) &+ 1 } ?? 0, to: &out)
            Varint.append(sample.bytes.map { Varint.zigzag($0) &+ 1 } ?? 0, to: &out)
            out.append(sample.ipFamily.map { $0 == .ipv6 ? 2 : 1 } ?? 0)
            if let phases = PhaseCodec.encode(sample.phases) {
                Varint.append(UInt64(phases.count), to: &out)
                out.append(contentsOf: phases)
            } else {
                out.append(0)
            }
        }
        return out
    }

    static func decode(_ payload: ArraySlice<UInt8>) -> [Sample]? {
        var reader = Varint.Reader(payload)
        guard let nameCount = reader.next(), nameCount <= UInt64(payload.count) else { return nil }
        var names: [String] = []
        for _ in 0..<nameCount {
            guard let length = reader.next(), length <= UInt64(payload.endIndex - reader.offset) else { return nil }
            let start = reader.offset
            names.append(String(decoding: payload[start..<(start + Int(length))], as: UTF8.self))
            reader.offset += Int(length)
        }
        guard let count = reader.next(), count <= UInt64(payload.count) else { return nil }
        var batch: [Sample] = []
        batch.reserveCapacity(Int(count))
        var previous: Int64 = 0
        for _ in 0..<count {
            guard let name = reader.next(), name < UInt64(names.count), let delta = reader.next(),
                  let reason = reader.next(), let status = reader.next(), let bytes = reader.next(),
                  reader.offset < payload.endIndex else { return nil }
            let family = payload[reader.offset]
            reader.offset += 1
            guard let phaseLength = reader.next(), phaseLength <= UInt64(payload.endIndex - reader.offset) else { return nil }
            let phases = phaseLength == 0 ? Phases()
                : PhaseCodec.decode(Array(payload[reader.offset..<(reader.offset + Int(phaseLength))]))
            reader.offset += Int(phaseLength)
            previous = previous &+ Varint.unzigzag(delta)
            let failure = reason == 0 ? nil : Failure(FailureReason(code: Int(reason)) ?? .other, "")
            batch.append(Sample(probe: names[Int(name)], startedAt: previous, failure: failure, phases: phases,
                                status: status == 0 ? nil : Int(truncatingIfNeeded: status - 1),
                                bytes: bytes == 0 ? nil : Varint.unzigzag(bytes - 1),
                                ipFamily: family == 0 ? nil : (family == 2 ? .ipv6 : .ipv4)))
        }
        return batch
    }

    /// The sample count and whole length of the record at `offset` when it is complete and its checksum holds.
    static func validRecord(_ bytes: [UInt8], at offset: Int) -> (samples: Int, length: Int)? {
        guard bytes.count - offset >= 8 else { return nil }
        let length = Int(readUInt32(bytes, at: offset))
        guard length <= maxRecord, bytes.count - offset - 8 >= length else { return nil }
        let payload = bytes[(offset + 8)..<(offset + 8 + length)]
        guard CRC32.checksum(payload) == readUInt32(bytes, at: offset + 4) else { return nil }
        var reader = Varint.Reader(payload)
        guard let names = reader.next() else { return nil }
        for _ in 0..<names {
            guard let n = reader.next() else { return nil }
            reader.offset += Int(clamping: n)
        }
        guard reader.offset <= payload.endIndex, let count = reader.next() else { return nil }
        return (Int(count), 8 + length)
    }

    static func appendUInt32(_ value: UInt32, to out: inout [UInt8]) {
        for shift in stride(from: 0, to: 32, by: 8) { out.append(UInt8(truncatingIfNeeded: value >> UInt32(shift))) }
    }

    static func readUInt32(_ bytes: [UInt8], at offset: Int) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[offset + $1]) << UInt32($1 * 8) }
    }

}

/// CRC-32 (IEEE 802.3, the polynomial of zlib and gzip), table-driven.
enum CRC32 {
    private static let table: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func checksum<Bytes: Sequence>(_ bytes: Bytes) -> UInt32 where Bytes.Element == UInt8 {
        var c: UInt32 = 0xFFFF_FFFF
        table.withUnsafeBufferPointer { t in
            for b in bytes { c = t[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        }
        return c ^ 0xFFFF_FFFF
    }
}
