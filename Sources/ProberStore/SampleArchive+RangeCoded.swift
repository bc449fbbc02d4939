import CZlib
import ProberCore

/// Format 2 of `sample_archive.data` (the method byte 2): one probe's day of samples through `RangeEncoder`, each
/// field with its own adaptive models, about 9 bytes a sample of noisy timings where deflated byte planes
/// (format 1) took 11 (docs/storage.md, "Bytes per raw sample").
///
/// After the header (count, coded length, method 2) come a CRC-32 of the count and the coded bytes (a damaged day
/// decodes to nothing) and the coded bytes: the probe's interval (the mean of the gaps within a quarter of their
/// median; 0 for an irregular day), then per sample:
/// - its start: the first as the zigzag offset from the day's start; then the whole intervals since the previous
///   grid point and the zigzag residual from the grid point they lead to, so a regular probe's starts cost only
///   their jitter. The grid follows the starts by 1/16 of each residual (a clock slewed by NTP drifts) and is
///   reset to the start after a residual over a quarter interval (a restart moves the probe's phase). With no
///   interval, the zigzag delta from the previous start.
/// - the reason (zigzag); then, in models apart for failed and passing checks: status present and its zigzag
///   change from the last status, body size likewise, family present and its value; a bit per phase present
///   (also by whether the previous sample had it);
/// - each phase present as its bit pattern (a negative one, which no check measures, costs 64 bits), in a value
///   model of its own, and total as the zigzag difference from the sum of the parts present (0 when they
///   partition the check).
///
/// A value model codes the bit length, the two bits below the leading one, then the rest verbatim: log-normal
/// timings (sigma 0.6) take within 0.3 % of their entropy at microsecond resolution this way.
extension SampleArchive {
    static let rangeCoded: UInt8 = 2

    /// The model layout: value models, then single bits.
    private enum Layout {
        static let v = RangeModels.valueSlots
        static let interval = 0, first = v, steps = 2 * v, residual = 3 * v, delta = 4 * v, reason = 5 * v
        /// Each of these has two models: passing checks, then failed ones.
        static let status = 6 * v, size = 8 * v, family = 10 * v, total = 12 * v, parts = 14 * v
        /// `parts`: five phases x two.
        static let bits = 24 * v
        static let statusPresent = bits, sizePresent = bits + 2, familyPresent = bits + 4
        /// Phase present: [failed][phase 0...5][previous sample had it].
        static let mask = bits + 6
        static let count = mask + 24
    }

    /// The fields named in `fieldCosts`, in the order of their index.
    static let rangeCodedFields = ["time", "reason, status, body size, family", "phase mask"]
        + parts.map(\.rawValue) + ["total"]

    /// The day's samples (sorted by start) in format 2, the whole row as stored.
    static func encodeRangeCoded(_ samples: [RawSample], start: Int64) -> [UInt8] {
        var encoder = RangeEncoder(models: Layout.count)
        code(samples, start: start, into: &encoder)
        return rangeCodedRow(count: samples.count, coded: encoder.finish())
    }

    /// What each field of `rangeCodedFields` costs in the coded day, in bytes.
    static func fieldCosts(_ samples: [RawSample], start: Int64) -> [(name: String, bytes: Double)] {
        var encoder = RangeEncoder(models: Layout.count)
        encoder.costs = [Double](repeating: 0, count: rangeCodedFields.count)
        code(samples, start: start, into: &encoder)
        return zip(rangeCodedFields, encoder.costs!).map { ($0, $1 / 8) }
    }

    private static func rangeCodedRow(count: Int, coded: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        Varint.append(UInt64(count), to: &out)
        Varint.append(UInt64(coded.count), to: &out)
        out.append(rangeCoded)
        var check = checksum(count: count, coded)
        withUnsafeBytes(of: &check) { out.append(contentsOf: $0.prefix(4)) }
        out.append(contentsOf: coded)
        return out
    }

    private static func checksum(count: Int, _ coded: some Collection<UInt8>) -> UInt32 {
        var header: [UInt8] = []
        Varint.append(UInt64(count), to: &header)
        var crc = header.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, uInt($0.count))) }
        crc = coded.withContiguousStorageIfAvailable { UInt32(crc32(uLong(crc), $0.baseAddress, uInt($0.count))) }
            ?? Array(coded).withUnsafeBufferPointer { UInt32(crc32(uLong(crc), $0.baseAddress, uInt($0.count))) }
        return crc.littleEndian
    }

    /// The interval a regular probe's starts follow, 0 when there is none to speak of.
    static func interval(_ samples: [RawSample]) -> Int64 {
        guard samples.count >= 3 else { return 0 }
        let gaps = zip(samples.dropFirst(), samples).map { $0.ts &- $1.ts }.filter { $0 > 0 }.sorted()
        guard gaps.count >= 2 else { return 0 }
        let median = gaps[gaps.count / 2]
        let near = gaps.filter { $0 >= median - median / 4 && $0 <= median + median / 4 }
        let mean = (near.reduce(0.0) { $0 + Double($1) } / Double(near.count)).rounded()
        return mean >= 1 && mean < 0x1p62 ? Int64(mean) : 0
    }


    /// The whole intervals from `base` to `ts`, rounded (0 before `base`).
    private static func steps(from base: Int64, to ts: Int64, interval: Int64) -> Int64 {
        let gap = ts &- base
        guard gap > 0 else { return 0 }
        return gap / interval + (gap % interval > interval / 2 ? 1 : 0)
    }

    /// The grid point after a start `residual` away from `predicted` (see the type's comment).
    private static func nextBase(_ predicted: Int64, residual: Int64, interval: Int64) -> Int64 {
        residual > interval / 4 || residual < -(interval / 4) ? predicted &+ residual : predicted &+ (residual >> 4)
    }

    private static func code(_ samples: [RawSample], start: Int64, into e: inout RangeEncoder) {
        let interval = Self.interval(samples)
        e.field = 0
        e.encode(UInt64(interval), value: Layout.interval)
        var base = start, previous = start
        var lastStatus: Int64 = 0, lastSize: Int64 = 0
        var previousMask = 0
        for (i, s) in samples.enumerated() {
            e.field = 0
            if i == 0 {
                e.encode(Varint.zigzag(s.ts &- start), value: Layout.first)
                base = s.ts
            } else if interval > 0 {
                let n = steps(from: base, to: s.ts, interval: interval)
                e.encode(UInt64(n), value: Layout.steps)
                let predicted = base &+ n &* interval
                let residual = s.ts &- predicted
                e.encode(Varint.zigzag(residual), value: Layout.residual)
                base = nextBase(predicted, residual: residual, interval: interval)
            } else {
                e.encode(Varint.zigzag(s.ts &- previous), value: Layout.delta)
            }
            previous = s.ts
            e.field = 1
            e.encode(Varint.zigzag(Int64(s.reason)), value: Layout.reason)
            let f = s.reason != 0 ? 1 : 0
            e.encode(s.status != nil, model: Layout.statusPresent + f)
            if let v = s.status {
                e.encode(Varint.zigzag(v &- lastStatus), value: Layout.status + f * Layout.v)
                lastStatus = v
            }
            e.encode(s.bytes != nil, model: Layout.sizePresent + f)
            if let v = s.bytes {
                e.encode(Varint.zigzag(v &- lastSize), value: Layout.size + f * Layout.v)
                lastSize = v
            }
            e.encode(s.family != nil, model: Layout.familyPresent + f)
            if let v = s.family { e.encode(Varint.zigzag(v), value: Layout.family + f * Layout.v) }
            e.field = 2
            var mask = 0
            for (k, name) in Phases.Name.allCases.enumerated() {
                let present = s.phases[name] != nil
                e.encode(present, model: Layout.mask + f * 12 + k * 2 + (previousMask >> k) & 1)
                if present { mask |= 1 << k }
            }
            previousMask = mask
            var sum: Int64 = 0
            for (k, name) in parts.enumerated() {
                guard let v = s.phases[name] else { continue }
                e.field = 3 + k
                e.encode(UInt64(bitPattern: v), value: Layout.parts + (k * 2 + f) * Layout.v)
                sum &+= v
            }
            if let total = s.phases.total {
                e.field = 3 + parts.count
                e.encode(Varint.zigzag(total &- sum), value: Layout.total + f * Layout.v)
            }
        }
    }

    /// Decodes a format 2 row's payload (after the method byte): nil when damaged. Only the samples with
    /// `from <= ts < to` are built; the others are decoded (the models learn from every sample) but not kept.
    /// With `stop`, decoding ends at the first start at or past it (the caller knows the day is in start order).
    static func decodeRangeCoded(_ payload: UnsafeRawBufferPointer, count n: Int, length: Int, start: Int64,
                                 from: Int64, to: Int64, stop: Int64? = nil) -> [RawSample]? {
        guard payload.count == 4 + length else { return nil }
        var stored: UInt32 = 0
        withUnsafeMutableBytes(of: &stored) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: payload.prefix(4))) }
        let coded = UnsafeRawBufferPointer(rebasing: payload.dropFirst(4))
        guard stored == checksum(count: n, coded) else { return nil }
        let whole = from == .min && to == .max
        var d = RangeDecoder(coded, models: Layout.count)
        let interval = Int64(bitPattern: d.decode(value: Layout.interval))
        var base = start, previous = start
        var lastStatus: Int64 = 0, lastSize: Int64 = 0
        var previousMask = 0
        var out: [RawSample] = []
        for i in 0..<n {
            let ts: Int64
            if i == 0 {
                ts = start &+ Varint.unzigzag(d.decode(value: Layout.first))
                base = ts
            } else if interval > 0 {
                let gaps = Int64(bitPattern: d.decode(value: Layout.steps))
                let predicted = base &+ gaps &* interval
                let residual = Varint.unzigzag(d.decode(value: Layout.residual))
                ts = predicted &+ residual
                base = nextBase(predicted, residual: residual, interval: interval)
            } else {
                ts = previous &+ Varint.unzigzag(d.decode(value: Layout.delta))
            }
            if let stop, ts >= stop { break }
            previous = ts
            let reason = Int(truncatingIfNeeded: Varint.unzigzag(d.decode(value: Layout.reason)))
            let f = reason != 0 ? 1 : 0
            var status: Int64?, bytes: Int64?, family: Int64?
            if d.decode(model: Layout.statusPresent + f) {
                lastStatus = lastStatus &+ Varint.unzigzag(d.decode(value: Layout.status + f * Layout.v))
                status = lastStatus
            }
            if d.decode(model: Layout.sizePresent + f) {
                lastSize = lastSize &+ Varint.unzigzag(d.decode(value: Layout.size + f * Layout.v))
                bytes = lastSize
            }
            if d.decode(model: Layout.familyPresent + f) { family = Varint.unzigzag(d.decode(value: Layout.family + f * Layout.v)) }
            var mask = 0
            for k in 0..<6 where d.decode(model: Layout.mask + f * 12 + k * 2 + (previousMask >> k) & 1) {
                mask |= 1 << k
            }
            previousMask = mask
            var phases = Phases()
            var sum: Int64 = 0
            for k in 0..<5 where mask & (1 << k) != 0 {
                let v = Int64(bitPattern: d.decode(value: Layout.parts + (k * 2 + f) * Layout.v))
                sum &+= v
                switch k {
                case 0: phases.dns = v
                case 1: phases.connect = v
                case 2: phases.tls = v
                case 3: phases.processing = v
                default: phases.transfer = v
                }
            }
            if mask & (1 << 5) != 0 { phases.total = sum &+ Varint.unzigzag(d.decode(value: Layout.total + f * Layout.v)) }
            guard !d.damaged, d.overrun <= 8 else { return nil }
            if whole || (ts >= from && ts < to) {
                out.append(RawSample(ts: ts, reason: reason, status: status, phases: phases, bytes: bytes, family: family))
            }
        }
        return out
    }
}
