/// Durations of ingest (a check's end to its commit; a batch's write), counted in fixed buckets for `/metrics`.
///
/// Not `LatenessHistogram` (ProberEngine): its buckets grow by √2, so around issue 14's 1 s budget they are
/// 0.74, 1.05 and 1.48 s, too coarse to say whether a p99 is within it. These step by 100 ms from 0.1 to 1.5 s.
public struct IngestLagHistogram: Sendable, Equatable {
    /// Upper bounds (inclusive), microseconds; a last, unbounded bucket takes the rest.
    public static let bounds: [Int64] = [1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 75_000]
        + stride(from: 100_000, through: 1_500_000, by: 100_000).map { Int64($0) }
        + [2_000_000, 3_000_000, 5_000_000, 10_000_000, 30_000_000, 60_000_000]

    /// Per bucket, the last one unbounded.
    public private(set) var counts = [Int](repeating: 0, count: IngestLagHistogram.bounds.count + 1)
    public private(set) var count = 0
    /// Microseconds.
    public private(set) var sum: Int64 = 0

    public init() {}

    public mutating func record(_ micros: Int64) {
        let v = max(0, micros)
        var lo = 0, hi = Self.bounds.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if v <= Self.bounds[mid] { hi = mid } else { lo = mid + 1 }
        }
        counts[lo] += 1
        count += 1
        sum &+= v
    }

    public mutating func merge(_ other: IngestLagHistogram) {
        for i in counts.indices { counts[i] += other.counts[i] }
        count += other.count
        sum &+= other.sum
    }

    /// The upper bound of the bucket holding quantile `q` (0...1), microseconds; nil when empty or past the last bound.
    public func quantile(_ q: Double) -> Int64? {
        guard count > 0 else { return nil }
        let rank = max(1, Int((q * Double(count)).rounded(.up)))
        var seen = 0
        for (i, c) in counts.enumerated() {
            seen += c
            if seen >= rank { return i < Self.bounds.count ? Self.bounds[i] : nil }
        }
        return nil
    }

    /// Cumulative counts per upper bound (without the unbounded bucket: that is `count`), as Prometheus wants them.
    public var cumulative: [(upperBoundMicros: Int64, count: Int)] {
        var running = 0
        return Self.bounds.indices.map { i in
            running += counts[i]
            return (Self.bounds[i], running)
        }
    }
}
