import ProberCore

/// The latest check of every probe, for `/metrics`. Written from the scheduler's queue, read by scrapes.
public final class LatestSamples: Sendable {
    private let samples = Locked([String: Sample]())

    public init() {}

    public func record(_ sample: Sample) { samples.withLock { $0[sample.probe] = sample } }

    /// Forgets probes no longer configured (after a reload).
    public func retain(_ names: Set<String>) { samples.withLock { $0 = $0.filter { names.contains($0.key) } } }

    public var all: [String: Sample] { samples.current }
}
