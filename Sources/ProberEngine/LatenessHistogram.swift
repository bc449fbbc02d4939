/// A small fixed histogram of microsecond durations: constant memory, quantiles readable at any time.
///
/// Bucket upper bounds grow by √2 from 16 µs to about 134 s (48 buckets), so a quantile is exact to within
/// a factor of 1.41 and never below the true value; `max` and `sum` are exact.
public struct LatenessHistogram: Sendable, Equatable {
    /// Upper bounds (inclusive), microseconds. The last bucket also takes everything larger.
    public static let bounds: [Int64] = (0..<48).map { i in
        let base: Int64 = 1 << (4 + i / 2)
        return i % 2 == 0 ? base : Int64((Double(base) * 2.0.squareRoot()).rounded())
    }

    public private(set) var counts: [UInt32] = Array(repeating: 0, count: LatenessHistogram.bounds.count)
    public private(set) var count: Int = 0
    public private(set) var sum: Int64 = 0
    public private(set) var max: Int64 = 0

    public init() {}

    public mutating func record(_ micros: Int64) {
        let v = Swift.max(0, micros)
        counts[Self.bucket(for: v)] &+= 1
        count += 1
        sum &+= v
        if v > max { max = v }
    }

    /// Adds another histogram's counts (for the overall view).
    public mutating func merge(_ other: LatenessHistogram) {
        for i in counts.indices { counts[i] &+= other.counts[i] }
        count += other.count
        sum &+= other.sum
        max = Swift.max(max, other.max)
    }

    /// The ticks recorded since `earlier`, an earlier copy of this histogram: its counts and sum subtracted. The
    /// maximum stays this one's, an upper bound of the interval's.
    public func since(_ earlier: LatenessHistogram) -> LatenessHistogram {
        var out = self
        for i in out.counts.indices { out.counts[i] &-= Swift.min(earlier.counts[i], out.counts[i]) }
        out.count = Swift.max(0, count - earlier.count)
        out.sum = Swift.max(0, sum &- earlier.sum)
        return out
    }

    /// The value at quantile `q` (0...1): the upper bound of its bucket, capped by the exact maximum. 0 when empty.
    public func quantile(_ q: Double) -> Int64 {
        guard count > 0 else { return 0 }
        let rank = Swift.max(1, Int((q * Double(count)).rounded(.up)))
        var seen = 0
        for (i, c) in counts.enumerated() {
            seen += Int(c)
            if seen >= rank { return Swift.min(Self.bounds[i], max) }
        }
        return max
    }

    public var p50: Int64 { quantile(0.5) }
    public var p99: Int64 { quantile(0.99) }

    /// Cumulative counts per upper bound, as Prometheus `_bucket{le=...}` wants them.
    public var cumulative: [(upperBoundMicros: Int64, count: Int)] {
        var running = 0
        return zip(Self.bounds, counts).map { bound, c in
            running += Int(c)
            return (bound, running)
        }
    }

    static func bucket(for micros: Int64) -> Int {
        // Binary search over 48 bounds.
        var lo = 0, hi = bounds.count - 1
        while lo < hi {
            let mid = (lo + hi) / 2
            if micros <= bounds[mid] { hi = mid } else { lo = mid + 1 }
        }
        return lo
    }
}

/// One probe's lateness in 16 bytes: count, sum and maximum (the distribution is kept overall, in a
/// `LatenessHistogram`). A histogram per probe cost ~450 bytes each, 4.5 MB at 10,000 probes.
///
/// The count wraps past 2^32 (13 years of checks every 100 ms) and the maximum stops at 2^32 µs (71 minutes):
/// one per probe lives in the scheduler's name-keyed table, which at 60,000 probes has 131,072 slots.
public struct LatenessSummary: Sendable, Equatable {
    public private(set) var sum: Int64 = 0
    private var recorded: UInt32 = 0
    private var maxMicros: UInt32 = 0

    public init() {}

    public var count: Int { Int(recorded) }
    public var max: Int64 { Int64(maxMicros) }

    public mutating func record(_ micros: Int64) {
        let v = Swift.max(0, micros)
        recorded &+= 1
        sum &+= v
        maxMicros = Swift.max(maxMicros, UInt32(clamping: v))
    }

    /// Mean lateness in microseconds; 0 when empty.
    public var mean: Int64 { count == 0 ? 0 : sum / Int64(count) }
}
