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
        bytes.withUnsafeBytes { add(EncodedHour($0)) }
    }

    /// Adds one aggregate read in place (`EncodedHour`).
    mutating func add(_ hour: EncodedHour) {
        guard addCounts(hour.checks, hour.failures, hour.latencyCount, hour.latencyMin, hour.latencyMax) else { return }
        if histogram.isEmpty { histogram = [Int32](repeating: 0, count: LatencyHistogram.bucketCount) }
        histogram.withUnsafeMutableBufferPointer { dense in
            hour.forEachBucket { index, count in dense[index] &+= Int32(clamping: count) }
        }
    }

    /// Adds another hour's counts and latency bounds; false when it brings no latencies (no histogram to add).
    private mutating func addCounts(_ checks: Int, _ failures: Int, _ latencies: Int, _ low: Int64?, _ high: Int64?) -> Bool {
        self.checks += checks
        self.failures += failures
        guard latencies > 0 else { return false }
        latencyCount += latencies
        if let low { latencyMin = min(latencyMin ?? low, low) }
        if let high { latencyMax = max(latencyMax ?? high, high) }
        return true
    }

    /// Back to no checks, keeping the histogram's storage (zeroed) for the next probe.
    mutating func reset() {
        checks = 0
        failures = 0
        latencyCount = 0
        latencyMin = nil
        latencyMax = nil
        if !histogram.isEmpty {
            histogram.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        }
    }

    mutating func merge(_ other: SummaryHour) {
        guard addCounts(other.checks, other.failures, other.latencyCount, other.latencyMin, other.latencyMax) else { return }
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

/// One aggregate as `SummaryCodec.encode` wrote it, read in place (a `bytea` column of a binary result, or an array's
/// bytes): its counts, and its latency histogram walked without a dense array, so a location's p95 costs no
/// allocation (`status` reads one per probe and location).
struct EncodedHour {
    var checks = 0
    var failures = 0
    var latencyCount = 0
    var latencyMin: Int64?
    var latencyMax: Int64?
    /// The histogram's (index delta, count) varints; empty without latencies.
    var histogram = UnsafeRawBufferPointer(start: nil, count: 0)

    /// Valid while `bytes` is.
    init(_ bytes: UnsafeRawBufferPointer) {
        guard !bytes.isEmpty else { return }
        var reader = Varint.Reader(bytes)
        checks = Int(reader.next() ?? 0)
        failures = Int(reader.next() ?? 0)
        let n = Int(reader.next() ?? 0)
        let lo = reader.next() ?? 0, hi = reader.next() ?? 0
        _ = reader.next() // latency sum
        let reasons = Int(reader.next() ?? 0)
        reader.offset = min(reader.offset + max(reasons, 0), bytes.endIndex)
        let length = Int(reader.next() ?? 0)
        let start = reader.offset, end = min(start + max(length, 0), bytes.endIndex)
        guard n > 0 else { return }
        latencyCount = n
        if lo != 0 { latencyMin = Int64(lo - 1) }
        if hi != 0 { latencyMax = Int64(hi - 1) }
        histogram = UnsafeRawBufferPointer(rebasing: bytes[start..<end])
    }

    /// Each bucket's count in index order (an index past the last bucket is ignored, as a dense histogram does).
    func forEachBucket(_ body: (Int, UInt64) -> Void) {
        var reader = Varint.Reader(histogram)
        var index = 0
        while reader.offset < histogram.endIndex {
            index += Int(reader.next() ?? 0)
            let count = reader.next() ?? 0
            if index < LatencyHistogram.bucketCount { body(index, count) }
        }
    }

    /// As `SummaryHour.percentile` of this aggregate alone: the same walk over the buckets, without building them.
    func percentile(_ p: Double) -> Int64? {
        guard latencyCount > 0, let lo = latencyMin, let hi = latencyMax else { return nil }
        let rank = Aggregate.rank(p, count: latencyCount)
        if rank == 1 { return lo }
        if rank == latencyCount { return hi }
        var seen = 0
        var found: Int?
        forEachBucket { index, count in
            guard found == nil, count > 0 else { return }
            seen += Int(Int32(clamping: count))
            if seen >= rank { found = index }
        }
        guard let i = found, i != LatencyHistogram.bucketCount - 1 else { return hi } // open-ended last bucket
        return min(max(LatencyHistogram.representative(i), lo), hi)
    }
}
