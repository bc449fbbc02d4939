import Foundation

/// Deterministic pseudo-random numbers (SplitMix64), so a failing run can be replayed with its seed.
public struct SeededRandom: RandomNumberGenerator {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A log-normal latency around `median` microseconds.
    public mutating func latency(median: Double, sigma: Double = 0.6) -> Int64 {
        let u1 = Double.random(in: Double.ulpOfOne..<1, using: &self), u2 = Double.random(in: 0..<1, using: &self)
        let z = (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
        return max(1, Int64(median * exp(sigma * z)))
    }
}
