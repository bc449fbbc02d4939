import Foundation
import ProberCore

/// The fixed log-spaced latency histogram kept by rollups.
///
/// Bucket `i` holds latencies in `[2^(i/8), 2^((i+1)/8))` microseconds (8 buckets per doubling); bucket 0
/// also holds 0 µs, and the last bucket (216, from 2^27 µs ≈ 134 s) is open-ended. A percentile read
/// from the histogram is the bucket's geometric midpoint `2^((i+0.5)/8)` clamped to the observed
/// [min, max], so it is within `2^(1/16) - 1` ≈ 4.4 % of the exact nearest-rank percentile.
public enum LatencyHistogram {
    public static let bucketsPerDoubling = 8
    public static let bucketCount = 27 * bucketsPerDoubling + 1
    /// Largest relative error of a percentile read from the histogram (below 134 s).
    public static let relativeError = pow(2.0, 1.0 / Double(2 * bucketsPerDoubling)) - 1

    /// Nearest-rank percentile (`p` in 0...1) of `count` latencies counted in `histogram`, whose least and
    /// greatest are `min` and `max`: the bucket's representative, kept within [min, max]; the first and last
    /// ranks are exact.
    package static func percentile(_ p: Double, of histogram: [Int32], count: Int, min lo: Int64, max hi: Int64) -> Int64 {
        let rank = Aggregate.rank(p, count: count)
        if rank == 1 { return lo }
        if rank == count { return hi }
        var seen = 0
        for (i, n) in histogram.enumerated() where n > 0 {
            seen += Int(n)
            if seen >= rank {
                if i == histogram.count - 1 { return hi } // open-ended last bucket
                return Swift.min(Swift.max(representative(i), lo), hi)
            }
        }
        return hi
    }

    public static func index(_ microseconds: Int64) -> Int {
        guard microseconds > 1 else { return 0 }
        let i = Int((log2(Double(microseconds)) * Double(bucketsPerDoubling)).rounded(.down))
        return min(i, bucketCount - 1)
    }

    /// The value reported for a rank that falls in bucket `i`.
    public static func representative(_ i: Int) -> Int64 {
        Int64(pow(2.0, (Double(i) + 0.5) / Double(bucketsPerDoubling)).rounded())
    }
}

/// Counts and latency statistics of a set of checks: one rollup row, one history bucket, a summary.
///
/// Built from raw samples it also keeps the values themselves, so its percentiles are exact; once a
/// rollup is merged in, percentiles come from the histogram (see `LatencyHistogram`).
package struct Aggregate {
    package var checks = 0
    package var failures = 0
    /// Failure reason code -> count.
    package var reasons: [Int: Int] = [:]
    /// Latency (`total`) of successful checks.
    package var latencyCount = 0
    package var latencyMin: Int64?
    package var latencyMax: Int64?
    package var latencySum: Int64 = 0
    var histogram = [Int32](repeating: 0, count: LatencyHistogram.bucketCount)
    /// Per-phase sums and counts over successful checks, in `Phases.Name.allCases` order.
    var phaseSums = [Int64](repeating: 0, count: Phases.Name.allCases.count)
    var phaseCounts = [Int](repeating: 0, count: Phases.Name.allCases.count)
    /// Per-phase values of successful checks while every input was raw; nil after merging a rollup.
    var exactPhases: [[Int64]]? = Array(repeating: [], count: Phases.Name.allCases.count)

    package var isExact: Bool { exactPhases != nil }

    package init() {}

    package mutating func add(reason: Int, phases: Phases) {
        checks += 1
        if reason != 0 {
            failures += 1
            reasons[reason, default: 0] += 1
            return
        }
        for (i, name) in Phases.Name.allCases.enumerated() {
            guard let v = phases[name] else { continue }
            phaseSums[i] += v
            phaseCounts[i] += 1
            exactPhases?[i].append(v)
        }
        if let total = phases.total {
            latencyCount += 1
            latencySum += total
            latencyMin = min(latencyMin ?? total, total)
            latencyMax = max(latencyMax ?? total, total)
            histogram[LatencyHistogram.index(total)] += 1
        }
    }

    package mutating func merge(_ other: Aggregate) {
        checks += other.checks
        failures += other.failures
        for (code, n) in other.reasons { reasons[code, default: 0] &+= n }
        latencyCount += other.latencyCount
        latencySum += other.latencySum
        if let m = other.latencyMin { latencyMin = min(latencyMin ?? m, m) }
        if let m = other.latencyMax { latencyMax = max(latencyMax ?? m, m) }
        // Wrapping: counts read from a damaged BLOB may be anything (see `mergeRollup`).
        for i in histogram.indices where other.histogram[i] != 0 { histogram[i] &+= other.histogram[i] }
        for i in phaseSums.indices {
            phaseSums[i] &+= other.phaseSums[i]
            phaseCounts[i] &+= other.phaseCounts[i]
        }
        if let mine = exactPhases, let theirs = other.exactPhases {
            exactPhases = zip(mine, theirs).map { $0 + $1 }
        } else {
            exactPhases = nil
        }
    }

    /// Nearest-rank percentile (`p` in 0...1) of a phase over successful checks: exact while the
    /// aggregate is raw; for `total` from the histogram otherwise; nil when unknown.
    package func percentile(_ p: Double, phase: Phases.Name = .total) -> Int64? {
        let index = Phases.Name.allCases.firstIndex(of: phase)!
        if let values = exactPhases?[index] {
            guard !values.isEmpty else { return nil }
            let sorted = values.sorted()
            return sorted[Self.rank(p, count: sorted.count) - 1]
        }
        guard phase == .total, latencyCount > 0, let lo = latencyMin, let hi = latencyMax else { return nil }
        return LatencyHistogram.percentile(p, of: histogram, count: latencyCount, min: lo, max: hi)
    }

    /// Several percentiles at once (sorting once when exact).
    package func percentiles(_ ps: [Double], phase: Phases.Name = .total) -> [Int64?] {
        let index = Phases.Name.allCases.firstIndex(of: phase)!
        if let values = exactPhases?[index] {
            guard !values.isEmpty else { return ps.map { _ in nil } }
            let sorted = values.sorted()
            return ps.map { sorted[Self.rank($0, count: sorted.count) - 1] }
        }
        return ps.map { percentile($0, phase: phase) }
    }

    /// Largest value of a phase over successful checks.
    package func maximum(phase: Phases.Name = .total) -> Int64? {
        if phase == .total { return latencyMax }
        let index = Phases.Name.allCases.firstIndex(of: phase)!
        return exactPhases?[index].max()
    }

    /// Mean of a phase over successful checks that had it.
    package func mean(phase: Phases.Name) -> Int64? {
        let index = Phases.Name.allCases.firstIndex(of: phase)!
        guard phaseCounts[index] > 0 else { return nil }
        return phaseSums[index] / Int64(phaseCounts[index])
    }

    package static func rank(_ p: Double, count: Int) -> Int {
        min(max(Int((p * Double(count)).rounded(.up)), 1), count)
    }

    /// The most frequent failure reason (ties: the lowest code).
    package var topReason: FailureReason? {
        reasons.max { a, b in a.value != b.value ? a.value < b.value : a.key > b.key }.flatMap { FailureReason(code: $0.key) }
    }
}

// MARK: Rollup row encoding

extension Aggregate {
    /// `reasons` column: varint pairs (code, count) by code; nil without failures.
    package func encodedReasons() -> [UInt8]? {
        guard !reasons.isEmpty else { return nil }
        var out: [UInt8] = []
        for (code, n) in reasons.sorted(by: { $0.key < $1.key }) {
            Varint.append(UInt64(code), to: &out)
            Varint.append(UInt64(n), to: &out)
        }
        return out
    }

    /// `hist` column: varint pairs (index delta from the previous non-empty bucket, count).
    package func encodedHistogram() -> [UInt8]? {
        guard latencyCount > 0 else { return nil }
        var out: [UInt8] = []
        var previous = 0
        for (i, n) in histogram.enumerated() where n > 0 {
            Varint.append(UInt64(i - previous), to: &out)
            Varint.append(UInt64(n), to: &out)
            previous = i
        }
        return out
    }

    /// `phases` column: per phase one varint `sum * 2 + flag`; flag 1 means a varint count follows
    /// (otherwise the count equals `lat_n`).
    package func encodedPhases() -> [UInt8]? {
        guard phaseCounts.contains(where: { $0 > 0 }) else { return nil }
        var out: [UInt8] = []
        for i in phaseSums.indices {
            let differs = phaseCounts[i] != latencyCount
            Varint.append(UInt64(max(phaseSums[i], 0)) << 1 | (differs ? 1 : 0), to: &out)
            if differs { Varint.append(UInt64(phaseCounts[i]), to: &out) }
        }
        return out
    }

    /// Rebuilds a rollup row (never exact).
    init(checks: Int, failures: Int, reasons: [UInt8], latencyCount: Int, min: Int64?, max: Int64?, sum: Int64,
         histogram: [UInt8], phases: [UInt8]) {
        self = .rollupEmpty
        mergeRollup(checks: checks, failures: failures, reasons: reasons, latencyCount: latencyCount, min: min, max: max,
                    sum: sum, histogram: histogram, phases: phases)
    }

    /// Adds one encoded rollup row from byte arrays or slices of them (see the in-place one below).
    package mutating func mergeRollup<Bytes: ContiguousBytes>(
        checks: Int, failures: Int, reasons: Bytes, latencyCount: Int, min: Int64?, max: Int64?, sum: Int64,
        histogram: Bytes, phases: Bytes
    ) {
        reasons.withUnsafeBytes { reasons in
            histogram.withUnsafeBytes { histogram in
                phases.withUnsafeBytes { phases in
                    mergeRollup(checks: checks, failures: failures, reasons: reasons, latencyCount: latencyCount, min: min,
                                max: max, sum: sum, histogram: histogram, phases: phases)
                }
            }
        }
    }

    /// Adds one encoded rollup row, decoding the BLOBs in place (no intermediate aggregate).
    ///
    /// Not generic, so that a caller in another module (PostgreSQL's rows) runs it specialized: called generically
    /// from there, each varint cost a call and each reader its metadata and a value-witness copy.
    package mutating func mergeRollup(
        checks: Int, failures: Int, reasons: UnsafeRawBufferPointer, latencyCount: Int, min: Int64?, max: Int64?, sum: Int64,
        histogram: UnsafeRawBufferPointer, phases: UnsafeRawBufferPointer
    ) {
        exactPhases = nil
        self.checks += checks
        self.failures += failures
        self.latencyCount += latencyCount
        if let min { latencyMin = Swift.min(latencyMin ?? min, min) }
        if let max { latencyMax = Swift.max(latencyMax ?? max, max) }
        latencySum += sum
        // A BLOB is read as written, but never trusted: a damaged one (a bad disk, a hand-edited file) gives wrong
        // figures, not a trap on a conversion or an overflow.
        var r = Varint.Reader(reasons)
        while let code = r.next(), let n = r.next() {
            self.reasons[Int(truncatingIfNeeded: code), default: 0] &+= Int(truncatingIfNeeded: n)
        }
        var h = Varint.Reader(histogram)
        var index = 0
        while let delta = h.next(), let n = h.next() {
            guard delta < UInt64(self.histogram.count - index) else { break } // past the last bucket
            index += Int(delta)
            self.histogram[index] &+= Int32(clamping: n)
        }
        var p = Varint.Reader(phases)
        for i in phaseSums.indices {
            guard let word = p.next() else { break }
            phaseSums[i] &+= Int64(word >> 1)
            phaseCounts[i] &+= word & 1 == 1 ? Int(truncatingIfNeeded: p.next() ?? 0) : latencyCount
        }
    }
}

/// LEB128 unsigned varints for the rollup BLOB columns.
package enum Varint {
    /// A signed value as an unsigned one whose size follows its magnitude (0, -1, 1, -2 ... as 0, 1, 2, 3 ...).
    @inlinable package static func zigzag(_ v: Int64) -> UInt64 { UInt64(bitPattern: (v << 1) ^ (v >> 63)) }
    @inlinable package static func unzigzag(_ v: UInt64) -> Int64 { Int64(bitPattern: v >> 1) ^ -Int64(bitPattern: v & 1) }

    package static func append(_ value: UInt64, to out: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            out.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    /// Inlinable so that a reader in another module (ProberPostgres' summary rows) is specialized for its bytes
    /// instead of going through the generic collection one call per byte.
    package struct Reader<Bytes: RandomAccessCollection> where Bytes.Element == UInt8, Bytes.Index == Int {
        @usableFromInline let bytes: Bytes
        package var offset: Int
        @inlinable package init(_ bytes: Bytes) {
            self.bytes = bytes
            offset = bytes.startIndex
        }
        @inlinable package mutating func next() -> UInt64? {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while offset < bytes.endIndex, shift < 64 {
                let b = bytes[offset]
                offset += 1
                value |= UInt64(b & 0x7F) << shift
                if b & 0x80 == 0 { return value }
                shift += 7
            }
            return nil
        }
    }
}

/// The `samples.phases` column: one varint per phase, so a typical HTTPS check takes ~12 bytes
/// instead of six integer columns with their headers (see docs/storage.md).
///
/// dns, connect, tls, processing, transfer: `0` = absent, otherwise `value + 1`. Then total: `0` =
/// absent, `1` = equal to the sum of the present phases (the usual case, as phases partition the
/// check), otherwise `value + 2`. Negative values are stored as 0. Nil (SQL NULL) when no phase is present.
package enum PhaseCodec {
    package static let parts: [Phases.Name] = [.dns, .connect, .tls, .processing, .transfer]

    package static func encode(_ p: Phases) -> [UInt8]? {
        guard Phases.Name.allCases.contains(where: { p[$0] != nil }) else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(16)
        var sum: Int64 = 0
        for name in parts {
            if let v = p[name] {
                let v = max(v, 0)
                sum += v
                Varint.append(UInt64(v) + 1, to: &out)
            } else {
                out.append(0)
            }
        }
        if let total = p.total {
            let total = max(total, 0)
            if total == sum { out.append(1) } else { Varint.append(UInt64(total) + 2, to: &out) }
        } else {
            out.append(0)
        }
        return out
    }

    package static func decode(_ bytes: [UInt8]) -> Phases {
        var reader = Varint.Reader(bytes)
        return decode(&reader)
    }

    /// Reads the six varints of one encoding from `reader` (a sample block holds them inline).
    static func decode<Bytes>(_ reader: inout Varint.Reader<Bytes>) -> Phases {
        var p = Phases()
        var sum: Int64 = 0
        for name in parts {
            guard let v = reader.next() else { return p }
            if v > 0 {
                p[name] = Int64(truncatingIfNeeded: v - 1)
                sum &+= Int64(truncatingIfNeeded: v - 1)
            }
        }
        switch reader.next() {
        case nil, 0: break
        case 1: p.total = sum
        case let v?: p.total = Int64(truncatingIfNeeded: v - 2)
        }
        return p
    }
}
