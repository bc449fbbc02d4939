import Foundation
import ProberCore
import ProberDelivery
import ProberProbes

/// Several libcurl engines (`CurlEngine`: a multi handle on a thread of its own each) sharing the probes; a probe
/// always goes to the same one, chosen by its name, so its checks stay in order.
///
/// One thread doing libcurl saturates a core of this machine near 6,000 fresh-connection checks a second, in C as
/// well (bench/watchdog's paced C loop at 60,000 probes at 10 s: lateness p99 130-200 ms), and every check due
/// while that thread works on another starts late. A second thread takes half the checks on the other core. Below
/// `checksPerThread` it would only add wake-ups (each hand-over of scheduled checks wakes every engine), so the
/// daemon starts as many as its probes' rate needs (`count(for:)`), at most one a core. They are counted once, at
/// start: a reload (SIGHUP) that changes the rate keeps them, so a set grown past 4,000 checks a second needs a restart
/// for its second thread.
public final class ShardedEngine: SchedulingCheckRunner {
    let shards: [CurlEngine]

    /// The rate (checks a second) one engine thread is given before a second starts: at 3,000 a second one thread
    /// used 55-60 % of a core, and its checks started as promptly as the paced C loop's.
    public static let checksPerThread = 4_000

    public init(count: Int, sourceAddress: SourceAddress? = nil) throws {
        shards = try (0..<max(1, count)).map { _ in try CurlEngine(sourceAddress: sourceAddress) }
    }

    /// The engines `probes` need: one per `checksPerThread` checks a second (rounded up), at most one per core.
    public static func count(for probes: [ProbeSpec], cores: Int = ProcessInfo.processInfo.activeProcessorCount) -> Int {
        var perSecond = 0.0
        for spec in probes { perSecond += 1_000_000 / Double(max(spec.interval.microseconds, 1)) }
        let needed = Int((perSecond / Double(checksPerThread)).rounded(.up))
        return max(1, min(max(cores, 1), needed))
    }

    /// The engine of the probe named `name` (its position in `shards`).
    func index(_ name: String) -> Int {
        shards.count == 1 ? 0 : Int(UInt(bitPattern: name.hashValue) % UInt(shards.count))
    }

    func shard(_ name: String) -> CurlEngine { shards[index(name)] }

    public func run(_ spec: ProbeSpec, completion: @escaping @Sendable (Sample) -> Void) {
        shard(spec.name).run(spec, completion: completion)
    }

    public func run(_ spec: ProbeSpec, batches: BatchedCompletions, completion: @escaping @Sendable (Sample) -> Void) {
        shard(spec.name).run(spec, batches: batches, completion: completion)
    }

    /// Hands each engine its probes' checks in one post (one wake-up each at most).
    public func schedule(_ checks: [ScheduledCheck], batches: BatchedCompletions) {
        if shards.count == 1 { return shards[0].schedule(checks, batches: batches) }
        var parts = [[ScheduledCheck]](repeating: [], count: shards.count)
        for check in checks { parts[index(check.spec.name)].append(check) }
        for (engine, part) in zip(shards, parts) where !part.isEmpty { engine.schedule(part, batches: batches) }
    }

    /// Every engine ignores the ids it does not hold.
    public func cancel(_ ids: [UInt64]) {
        for engine in shards { engine.cancel(ids) }
    }

    /// The outbox's calls go through the first engine.
    public func deliver(_ request: DeliveryRequest, completion: @escaping @Sendable (DeliveryResponse) -> Void) {
        shards[0].deliver(request, completion: completion)
    }

    /// Stops every engine (each lets its accepted transfers finish).
    public func shutdown() {
        for engine in shards { engine.shutdown() }
    }
}
