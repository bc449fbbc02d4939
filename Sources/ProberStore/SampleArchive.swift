import CZlib
import ProberCore

/// The `sample_archive.data` column: one probe's samples of one UTC day, in start order (docs/storage.md).
///
/// Header: `count`, the length of the body, and the body's method, which is the format: 0 stored and 1 zlib
/// (format 1, below, what version 12 wrote), 2 range-coded (`SampleArchive+RangeCoded.swift`, written since).
/// A day keeps the format it was written in until a late sample makes the archive step write it again.
///
/// Format 1: the body holds one
/// column after the other, so each compresses against its own kind: the starts (the first as the zigzag offset
/// from the day's start, the second as the zigzag delta, the others as the zigzag change of that delta: zero at
/// a steady interval); a byte of presence flags per sample (status, body size, family and its value); a byte
/// of present phases per sample; the reasons; the status and body sizes present, each the zigzag change from
/// the one before; then each phase's present values, zigzag, and total as its zigzag difference from the sum of
/// the parts present (zero when the phases partition the check), each phase column as byte planes (all
/// lowest bytes, then all second bytes...): the high planes of timings are nearly constant, which deflate
/// takes down to a few bits, where varints interleaved cost a whole byte each.
enum SampleArchive {
    private static let hasStatus: UInt8 = 1, hasBytes: UInt8 = 2, hasFamily: UInt8 = 4, ipv6: UInt8 = 8
    private static let stored: UInt8 = 0, zlib: UInt8 = 1
    /// The parts summed into total's difference; total is the sixth bit of the phase mask.
    static let parts: [Phases.Name] = [.dns, .connect, .tls, .processing, .transfer]
    /// A body longer than this is treated as damage (a day at the 100 ms minimum interval is about 20 MB).
    private static let maximumBody = 64 << 20
    /// More samples than this in a day is damage (a day at the 100 ms minimum interval has 864,000).
    private static let maximumSamples: UInt64 = 1 << 24

    /// Encodes samples sorted by start, all in the day beginning at `start`, in the current format (2,
    /// `SampleArchive+RangeCoded.swift`).
    static func encode(_ samples: [RawSample], start: Int64) -> [UInt8] {
        encodeRangeCoded(samples, start: start)
    }

    /// Format 1, deflated columns: what version 12 wrote. Still read; written only by tests (days archived before)
    /// and bench/store (the comparison).
    static func encodeDeflated(_ samples: [RawSample], start: Int64) -> [UInt8] {
        let body = columns(samples, start: start).flatMap(\.bytes)
        var out: [UInt8] = []
        Varint.append(UInt64(samples.count), to: &out)
        Varint.append(UInt64(body.count), to: &out)
        if let packed = deflate(body), packed.count < body.count {
            out.append(zlib)
            out.append(contentsOf: packed)
        } else {
            out.append(stored)
            out.append(contentsOf: body)
        }
        return out
    }

    /// The body's columns, named (bench/store prints what each costs).
    static func columns(_ samples: [RawSample], start: Int64) -> [(name: String, bytes: [UInt8])] {
        var time: [UInt8] = []
        var previous = start, delta: Int64 = 0
        for (i, s) in samples.enumerated() {
            let d = s.ts &- previous
            Varint.append(Varint.zigzag(i < 2 ? d : d &- delta), to: &time)
            if i > 0 { delta = d }
            previous = s.ts
        }
        let flags = samples.map { s in
            (s.status != nil ? hasStatus : 0) | (s.bytes != nil ? hasBytes : 0)
                | (s.family.map { hasFamily | ($0 == 1 ? ipv6 : 0) } ?? 0)
        }
        let masks = samples.map { s in
            Phases.Name.allCases.enumerated().reduce(UInt8(0)) { $0 | (s.phases[$1.element] != nil ? 1 << $1.offset : 0) }
        }
        var reasons: [UInt8] = [], statuses: [UInt8] = [], sizes: [UInt8] = []
        for s in samples { Varint.append(UInt64(UInt(bitPattern: s.reason)), to: &reasons) }
        var last: Int64 = 0
        for s in samples { if let v = s.status { Varint.append(Varint.zigzag(v &- last), to: &statuses); last = v } }
        last = 0
        for s in samples { if let v = s.bytes { Varint.append(Varint.zigzag(v &- last), to: &sizes); last = v } }
        var out: [(name: String, bytes: [UInt8])] = [("time", time), ("flags", flags), ("phase mask", masks),
                                                     ("reason", reasons), ("status", statuses), ("body size", sizes)]
        for name in parts {
            out.append((name.rawValue, planes(samples.compactMap { $0.phases[name].map(Varint.zigzag) })))
        }
        out.append(("total", planes(samples.compactMap { s in
            s.phases.total.map { total in Varint.zigzag(total &- parts.reduce(Int64(0)) { $0 &+ (s.phases[$1] ?? 0) }) }
        })))
        return out
    }

    /// The number of samples in a block, from its first varint.
    static func count(_ data: UnsafeRawBufferPointer) -> Int {
        var reader = Varint.Reader(data)
        return Int(min(reader.next() ?? 0, UInt64(Int.max)))
    }

    /// Decodes a block of the day beginning at `start`, only the samples with `from <= ts < to` (a day is read
    /// whole, but an hour's slice of it builds an hour of samples); a damaged block yields no samples. With `sorted`
    /// (the day was written in start order, as the archive step writes every day), a format 2 day is decoded only
    /// up to its first start at or past `to`: its coder cannot skip what comes before `from`, but can stop there.
    static func decode(_ data: UnsafeRawBufferPointer, start: Int64, from: Int64 = .min, to: Int64 = .max,
                       sorted: Bool = false) -> [RawSample] {
        var header = Varint.Reader(data)
        guard let n64 = header.next(), let length64 = header.next(), header.offset < data.count,
              length64 <= maximumBody, n64 <= maximumSamples else { return [] }
        let n = Int(n64), length = Int(length64)
        let method = data[header.offset]
        let payload = UnsafeRawBufferPointer(rebasing: data[(header.offset + 1)...])
        let body: [UInt8]
        switch method {
        case stored: body = Array(payload)
        case zlib: guard let inflated = inflate(payload, length: length) else { return [] }; body = inflated
        case rangeCoded:
            return decodeRangeCoded(payload, count: n, length: length, start: start, from: from, to: to, stop: sorted ? to : nil) ?? []
        default: return []
        }
        guard n <= length else { return [] }
        guard body.count == length else { return [] }
        return decodeBody(body, count: n, start: start, from: from, to: to) ?? []
    }

    private static func decodeBody(_ body: [UInt8], count n: Int, start: Int64, from: Int64, to: Int64) -> [RawSample]? {
        var reader = Varint.Reader(body)
        // Every column is read through; only the samples in range are built (`slot`: the sample's place in `out`).
        let whole = from == .min && to == .max
        var slot = [Int](repeating: -1, count: n)
        var out: [RawSample] = []
        var previous = start, delta: Int64 = 0
        for i in 0..<n {
            guard let code = reader.next() else { return nil }
            let d = i < 2 ? Varint.unzigzag(code) : delta &+ Varint.unzigzag(code)
            if i > 0 { delta = d }
            previous = previous &+ d
            if whole || (previous >= from && previous < to) {
                slot[i] = out.count
                out.append(RawSample(ts: previous, reason: 0, status: nil, phases: Phases(), bytes: nil, family: nil))
            }
        }
        guard reader.offset + 2 * n <= body.count else { return nil }
        let flagsAt = reader.offset, masksAt = reader.offset + n
        reader.offset += 2 * n
        for i in 0..<n {
            guard let reason = reader.next() else { return nil }
            if slot[i] >= 0 { out[slot[i]].reason = Int(truncatingIfNeeded: reason) }
        }
        var last: Int64 = 0
        for i in 0..<n where body[flagsAt + i] & hasStatus != 0 {
            guard let code = reader.next() else { return nil }
            last = last &+ Varint.unzigzag(code)
            if slot[i] >= 0 { out[slot[i]].status = last }
        }
        last = 0
        for i in 0..<n where body[flagsAt + i] & hasBytes != 0 {
            guard let code = reader.next() else { return nil }
            last = last &+ Varint.unzigzag(code)
            if slot[i] >= 0 { out[slot[i]].bytes = last }
        }
        for i in 0..<n where slot[i] >= 0 && body[flagsAt + i] & hasFamily != 0 {
            out[slot[i]].family = body[flagsAt + i] & ipv6 != 0 ? 1 : 0
        }
        for (bit, name) in Phases.Name.allCases.enumerated() {
            let present = (0..<n).filter { body[masksAt + $0] & (1 << bit) != 0 }
            guard let values = readPlanes(count: present.count, from: body, at: &reader.offset) else { return nil }
            for (k, i) in present.enumerated() where slot[i] >= 0 {
                let v = Varint.unzigzag(values[k])
                let j = slot[i]
                out[j].phases[name] = name == .total ? v &+ parts.reduce(Int64(0)) { $0 &+ (out[j].phases[$1] ?? 0) } : v
            }
        }
        return out
    }

    /// `values` as a width byte (the bytes the largest needs) and that many byte planes, lowest first.
    private static func planes(_ values: [UInt64]) -> [UInt8] {
        let widest = values.max() ?? 0
        let width = (64 - widest.leadingZeroBitCount + 7) / 8
        var out: [UInt8] = [UInt8(width)]
        out.reserveCapacity(1 + width * values.count)
        for plane in 0..<width {
            let shift = UInt64(plane * 8)
            for v in values { out.append(UInt8(truncatingIfNeeded: v >> shift)) }
        }
        return out
    }

    private static func readPlanes(count: Int, from body: [UInt8], at offset: inout Int) -> [UInt64]? {
        guard offset < body.count else { return nil }
        let width = Int(body[offset])
        offset += 1
        guard width <= 8, offset + width * count <= body.count else { return nil }
        var values = [UInt64](repeating: 0, count: count)
        for plane in 0..<width {
            let shift = UInt64(plane * 8)
            for k in 0..<count { values[k] |= UInt64(body[offset + k]) << shift }
            offset += count
        }
        return values
    }

    /// zlib's `compress2` at level 6 (its default balance: 9 gains under 1 % here and costs twice the time).
    static func deflate(_ bytes: [UInt8]) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: Int(compressBound(uLong(bytes.count))))
        var length = uLongf(out.count)
        let rc = out.withUnsafeMutableBufferPointer { o in
            bytes.withUnsafeBufferPointer { compress2(o.baseAddress, &length, $0.baseAddress, uLong($0.count), 6) }
        }
        guard rc == Z_OK else { return nil }
        out.removeLast(out.count - Int(length))
        return out
    }

    private static func inflate(_ bytes: UnsafeRawBufferPointer, length: Int) -> [UInt8]? {
        guard length > 0 else { return [] }
        var out = [UInt8](repeating: 0, count: length)
        var written = uLongf(length)
        let rc = out.withUnsafeMutableBufferPointer { o in
            uncompress(o.baseAddress, &written, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), uLong(bytes.count))
        }
        return rc == Z_OK && Int(written) == length ? out : nil
    }

}
