import ProberStore

/// A location's (or a probe's) hour as `status` shows it: checks, failures and the latency histogram of a
/// `location_summary` aggregate (`SummaryCodec`), without the reasons and phases `status` does not show.
///
/// `status` decodes one per probe and location (10,000 at 10 locations × 1,000 probes); as an `Aggregate` each
/// cost a dictionary and four arrays, and that decoding was a third of `status --json`'s CPU.
struct SummaryHour {
    var checks = 0
    var failures = 0
    var latencyCount = 0
    var latencyMin: Int64?
    var latencyMax: Int64?
    /// Dense, by `LatencyHistogram` bucket; empty until a latency is added.
    var histogram: [Int32] = []

    /// Adds one aggregate as `SummaryCodec.encode` wrote it.
    mutating func add(encoded bytes: ArraySlice<UInt8>) {
        guard !bytes.isEmpty else { return }
        var reader = SummaryReader(bytes)
        checks += Int(reader.next())
        failures += Int(reader.next())
        let n = Int(reader.next())
        let lo = reader.next(), hi = reader.next()
        _ = reader.next() // latency sum
        reader.skip(Int(reader.next())) // reasons
        var histogramEnd = reader.at + Int(reader.next())
        histogramEnd = min(histogramEnd, bytes.endIndex)
        guard n > 0 else { return }
        latencyCount += n
        if lo != 0 { latencyMin = min(latencyMin ?? Int64(lo - 1), Int64(lo - 1)) }
        if hi != 0 { latencyMax = max(latencyMax ?? Int64(hi - 1), Int64(hi - 1)) }
        if histogram.isEmpty { histogram = [Int32](repeating: 0, count: LatencyHistogram.bucketCount) }
        var index = 0
        while reader.at < histogramEnd {
            index += Int(reader.next())
            let count = reader.next()
            if index < histogram.count { histogram[index] &+= Int32(clamping: count) }
        }
    }

    mutating func merge(_ other: SummaryHour) {
        checks += other.checks
        failures += other.failures
        guard other.latencyCount > 0 else { return }
        latencyCount += other.latencyCount
        if let m = other.latencyMin { latencyMin = min(latencyMin ?? m, m) }
        if let m = other.latencyMax { latencyMax = max(latencyMax ?? m, m) }
        if histogram.isEmpty {
            histogram = other.histogram
        } else {
            for i in other.histogram.indices where other.histogram[i] != 0 { histogram[i] &+= other.histogram[i] }
        }
    }

    /// As `Aggregate.percentile` of a rolled-up aggregate: from the histogram, clamped to the observed range.
    func percentile(_ p: Double) -> Int64? {
        guard latencyCount > 0, let lo = latencyMin, let hi = latencyMax, !histogram.isEmpty else { return nil }
        return LatencyHistogram.percentile(p, of: histogram, count: latencyCount, min: lo, max: hi)
    }
}

/// Varints out of one slice, without a generic reader per value (`Varint.Reader` is not specialized across modules).
struct SummaryReader {
    let bytes: ArraySlice<UInt8>
    var at: Int

    init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        at = bytes.startIndex
    }

    /// The next varint; 0 past the end.
    mutating func next() -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while at < bytes.endIndex, shift < 64 {
            let b = bytes[at]
            at += 1
            value |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { return value }
            shift += 7
        }
        return value
    }

    mutating func skip(_ count: Int) { at = min(at + max(count, 0), bytes.endIndex) }
}
