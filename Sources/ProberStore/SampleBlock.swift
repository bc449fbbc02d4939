import ProberCore

/// The `sample_blocks.data` column: one probe's samples of one 5-minute window, in start order, delta and varint
/// encoded (docs/storage.md). About 12-16 bytes a typical HTTPS check against 43 for a row of `samples` before.
///
/// `count`, then per sample: its start (the first as microseconds after the window's start, the second as the
/// delta from the first, the others as the zigzag change of that delta, so a steady interval takes one or two
/// bytes); a flags byte; the reason when failed; the status and body size only when they differ from the
/// previous sample's; the phases as `PhaseCodec`'s six varints.
enum SampleBlock {
    private static let failed: UInt8 = 1, hasStatus: UInt8 = 2, newStatus: UInt8 = 4, hasPhases: UInt8 = 8
    private static let hasBytes: UInt8 = 16, newBytes: UInt8 = 32, ipv4: UInt8 = 64, ipv6: UInt8 = 128

    /// Encodes samples sorted by start, all in the window beginning at `start`.
    static func encode(_ samples: [RawSample], start: Int64) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(4 + samples.count * 16)
        Varint.append(UInt64(samples.count), to: &out)
        var previous = start, delta: Int64 = 0
        var status: Int64?, bytes: Int64?
        for (i, s) in samples.enumerated() {
            let d = s.ts - previous
            switch i {
            case 0, 1: Varint.append(UInt64(d), to: &out)
            default: Varint.append(Varint.zigzag(d - delta), to: &out)
            }
            if i > 0 { delta = d }
            previous = s.ts
            var flags: UInt8 = s.reason != 0 ? failed : 0
            if let v = s.status { flags |= hasStatus | (v == status ? 0 : newStatus) }
            if s.hasPhases { flags |= hasPhases }
            if let v = s.bytes { flags |= hasBytes | (v == bytes ? 0 : newBytes) }
            if let f = s.family { flags |= f == 1 ? ipv6 : ipv4 }
            out.append(flags)
            if s.reason != 0 { Varint.append(UInt64(s.reason), to: &out) }
            if let v = s.status, v != status { Varint.append(Varint.zigzag(v), to: &out); status = v }
            if s.hasPhases { out.append(contentsOf: PhaseCodec.encode(s.phases) ?? []) }
            if let v = s.bytes, v != bytes { Varint.append(Varint.zigzag(v), to: &out); bytes = v }
        }
        return out
    }

    /// The number of samples in a block, from its first varint.
    static func count(_ data: UnsafeRawBufferPointer) -> Int {
        var reader = Varint.Reader(data)
        return Int(clamping: reader.next() ?? 0)
    }

    /// Decodes a block of the window beginning at `start`; a truncated block yields the samples before the damage.
    static func decode(_ data: UnsafeRawBufferPointer, start: Int64) -> [RawSample] {
        var reader = Varint.Reader(data)
        guard let n = reader.next() else { return [] }
        var out: [RawSample] = []
        out.reserveCapacity(Int(min(n, 100_000)))
        var previous = start, delta: Int64 = 0
        var status: Int64?, bytes: Int64?
        for i in 0..<Int(clamping: n) {
            guard let code = reader.next() else { break }
            let d = i < 2 ? Int64(bitPattern: code) : delta &+ Varint.unzigzag(code)
            if i > 0 { delta = d }
            let ts = previous &+ d
            previous = ts
            guard reader.offset < data.count else { break }
            let flags = data[reader.offset]
            reader.offset += 1
            var sample = RawSample(ts: ts, reason: 0, status: nil, phases: Phases(), bytes: nil, family: nil)
            if flags & failed != 0 { sample.reason = Int(truncatingIfNeeded: reader.next() ?? 0) }
            if flags & newStatus != 0 { status = reader.next().map(Varint.unzigzag) }
            if flags & hasStatus != 0 { sample.status = status }
            if flags & hasPhases != 0 { sample.phases = PhaseCodec.decode(&reader) }
            if flags & newBytes != 0 { bytes = reader.next().map(Varint.unzigzag) }
            if flags & hasBytes != 0 { sample.bytes = bytes }
            if flags & ipv4 != 0 { sample.family = 0 } else if flags & ipv6 != 0 { sample.family = 1 }
            out.append(sample)
        }
        return out
    }

}
