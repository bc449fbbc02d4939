import ProberStore

/// A location's (or a probe's) hour as `status` shows it: checks, failures and the latency histogram of a
/// `location_summary` aggregate (`SummaryCodec`), without the reasons and phases `status` does not show.
///
/// `status` decodes one per probe and location (10,000 at 10 locations × 1,000 probes); as an `Aggregate` each
/// cost a dictionary and four arrays, and that decoding was a third of `status --json`'s CPU.
struct SummaryHour {
    var counts = HourCounts()
    /// Dense, by `LatencyHistogram` bucket; empty until a latency is added.
    var histogram: [Int32] = []

    /// Adds one aggregate as `SummaryCodec.encode` wrote it.
    mutating func add(encoded bytes: ArraySlice<UInt8>) {
        bytes.withUnsafeBytes { add(EncodedHour($0)) }
    }

    /// Adds one aggregate read in place (`EncodedHour`).
    mutating func add(_ hour: EncodedHour) {
        guard counts.add(hour.counts) else { return }
        if histogram.isEmpty { histogram = [Int32](repeating: 0, count: LatencyHistogram.bucketCount) }
        histogram.withUnsafeMutableBufferPointer { dense in
            hour.forEachBucket { index, count in dense[index] &+= Int32(clamping: count) }
        }
    }

    /// Adds one aggregate read in place and returns its own percentile `p` (`EncodedHour.percentile`), both from one
    /// walk over its buckets: `status` needs both for each of a fleet's 30,000 probe-locations, and the two walks were
    /// a fifth of its instructions.
    mutating func add(_ hour: EncodedHour, percentile p: Double) -> Int64? {
        guard counts.add(hour.counts) else { return nil }
        if histogram.isEmpty { histogram = [Int32](repeating: 0, count: LatencyHistogram.bucketCount) }
        var search = RankSearch(rank: Aggregate.rank(p, count: hour.counts.latencyCount))
        histogram.withUnsafeMutableBufferPointer { dense in
            // `forEachBucket`'s walk, written out: its closure was not inlined, a call for each bucket.
            var reader = Varint.BufferReader(hour.histogram)
            var index = 0
            while !reader.isAtEnd {
                index += Int(reader.next() ?? 0)
                let count = Int32(clamping: reader.next() ?? 0)
                guard index < dense.count else { continue }
                dense[index] &+= count
                search.count(count, at: index)
            }
        }
        return hour.percentile(rank: search.rank, at: search.found)
    }

    /// Back to no checks, keeping the histogram's storage (zeroed) for the next probe.
    mutating func reset() {
        counts = HourCounts()
        if !histogram.isEmpty {
            histogram.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        }
    }

    /// Adds another hour (its histogram added into this one's storage, never shared: both are reused by `reset`).
    mutating func merge(_ other: SummaryHour) {
        guard counts.add(other.counts) else { return }
        if histogram.isEmpty { histogram = [Int32](repeating: 0, count: LatencyHistogram.bucketCount) }
        histogram.withUnsafeMutableBufferPointer { dense in
            for (i, n) in other.histogram.enumerated() where n != 0 { dense[i] &+= n }
        }
    }

    /// As `Aggregate.percentile` of a rolled-up aggregate: from the histogram, clamped to the observed range.
    func percentile(_ p: Double) -> Int64? {
        guard counts.latencyCount > 0, let lo = counts.latencyMin, let hi = counts.latencyMax, !histogram.isEmpty else { return nil }
        return LatencyHistogram.percentile(p, of: histogram, count: counts.latencyCount, min: lo, max: hi)
    }
}

/// One aggregate as `SummaryCodec.encode` wrote it, read in place (a `bytea` column of a binary result, or an array's
/// bytes): its counts, and its latency histogram walked without a dense array, so a location's p95 costs no
/// allocation (`status` reads one per probe and location).
struct EncodedHour {
    var counts = HourCounts()
    /// The histogram's (index delta, count) varints; empty without latencies.
    var histogram = UnsafeRawBufferPointer(start: nil, count: 0)

    /// Valid while `bytes` is.
    init(_ bytes: UnsafeRawBufferPointer) {
        guard !bytes.isEmpty else { return }
        var reader = Varint.BufferReader(bytes)
        counts.checks = Int(reader.next() ?? 0)
        counts.failures = Int(reader.next() ?? 0)
        let n = Int(reader.next() ?? 0)
        let lo = reader.next() ?? 0, hi = reader.next() ?? 0
        _ = reader.next() // latency sum
        let reasons = Int(reader.next() ?? 0)
        reader.offset = min(reader.offset + max(reasons, 0), bytes.count)
        let length = Int(reader.next() ?? 0)
        let start = reader.offset, end = min(start + max(length, 0), bytes.count)
        guard n > 0 else { return }
        counts.latencyCount = n
        if lo != 0 { counts.latencyMin = Int64(lo - 1) }
        if hi != 0 { counts.latencyMax = Int64(hi - 1) }
        histogram = UnsafeRawBufferPointer(rebasing: bytes[start..<end])
    }

    /// Each bucket's count in index order (an index past the last bucket is ignored, as a dense histogram does).
    func forEachBucket(_ body: (Int, UInt64) -> Void) {
        var reader = Varint.BufferReader(histogram)
        var index = 0
        while !reader.isAtEnd {
            index += Int(reader.next() ?? 0)
            let count = reader.next() ?? 0
            if index < LatencyHistogram.bucketCount { body(index, count) }
        }
    }

    /// As `SummaryHour.percentile` of this aggregate alone: the same walk over the buckets, without building them.
    func percentile(_ p: Double) -> Int64? {
        guard counts.latencyCount > 0 else { return nil }
        let rank = Aggregate.rank(p, count: counts.latencyCount)
        guard rank != 1, rank != counts.latencyCount else { return percentile(rank: rank, at: nil) }
        var search = RankSearch(rank: rank)
        forEachBucket { index, count in search.count(Int32(clamping: count), at: index) }
        return percentile(rank: rank, at: search.found)
    }

    /// The latency of `rank` (1-based) given the bucket where the counts, in index order, reach it (nil: not reached),
    /// clamped to the observed range; the first and last rank are the observed bounds.
    func percentile(rank: Int, at bucket: Int?) -> Int64? {
        guard counts.latencyCount > 0, let lo = counts.latencyMin, let hi = counts.latencyMax else { return nil }
        if rank == 1 { return lo }
        if rank == counts.latencyCount { return hi }
        guard let i = bucket, i != LatencyHistogram.bucketCount - 1 else { return hi } // open-ended last bucket
        return min(max(LatencyHistogram.representative(i), lo), hi)
    }
}

/// The bucket where a histogram's counts, given in index order, reach `rank` (1-based): `found`, nil until they do.
struct RankSearch {
    let rank: Int
    private var seen = 0
    private(set) var found: Int?

    init(rank: Int) { self.rank = rank }

    mutating func count(_ count: Int32, at index: Int) {
        guard found == nil, count > 0 else { return }
        seen += Int(count)
        if seen >= rank { found = index }
    }
}

/// What an hour counts besides its histogram: checks, failures, and its latencies' number and bounds. A summed hour
/// (`SummaryHour`) and one read in place (`EncodedHour`) hold the same.
struct HourCounts {
    var checks = 0
    var failures = 0
    var latencyCount = 0
    var latencyMin: Int64?
    var latencyMax: Int64?

    /// Adds another hour's counts and latency bounds; false when it brings no latencies (no histogram to add).
    mutating func add(_ other: HourCounts) -> Bool {
        checks += other.checks
        failures += other.failures
        guard other.latencyCount > 0 else { return false }
        latencyCount += other.latencyCount
        if let low = other.latencyMin { latencyMin = min(latencyMin ?? low, low) }
        if let high = other.latencyMax { latencyMax = max(latencyMax ?? high, high) }
        return true
    }
}
