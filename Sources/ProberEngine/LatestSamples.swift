import ProberCore
import ProberStorage

/// The latest check of every probe, for `/metrics` and the status page's listing. Written from the scheduler's
/// queue, read by scrapes and by the pages' query thread.
public final class LatestSamples: Sendable {
    private let checks = Locked(ProbeTable<LatestCheck>())

    public init() {}

    /// Keeps the check that started last, as storage's last check is the newest by start time.
    public func record(_ sample: Sample) {
        checks.withLock { Self.keep(sample, in: &$0) }
    }

    /// `record` for several checks, under one lock.
    public func record(contentsOf samples: [Sample]) {
        checks.withLock { table in
            for sample in samples { Self.keep(sample, in: &table) }
        }
    }

    private static func keep(_ sample: Sample, in table: inout ProbeTable<LatestCheck>) {
        let check = LatestCheck(sample)
        // One lookup: the entry is updated in place (or added) rather than read, then written.
        table[sample.probe, default: check].keepNewer(check)
    }

    /// Forgets probes no longer configured (after a reload).
    public func retain(_ names: Set<String>) { checks.withLock { $0.removeAll { name, _ in !names.contains(name) } } }

    /// Every probe's latest check, copied out under the lock. Handing out the table itself while checks
    /// finish would make the next `record` copy it whole (1.3 MB at 10,000 probes).
    public func rows() -> [(name: String, check: LatestCheck)] {
        checks.withLock { table in
            var rows: [(name: String, check: LatestCheck)] = []
            rows.reserveCapacity(table.count)
            for (name, check) in table { rows.append((name, check)) }
            return rows
        }
    }

    /// The status page's last check of every probe checked since the daemon started, as storage's `lastChecks`
    /// gives it once the sample is written. The table is copied out under the lock (as `rows`) and the
    /// dictionary built after, so the scheduler's `record` waits for the copy alone.
    public func lastChecks() -> [String: ProbeStatus.LastCheck] {
        let rows = rows()
        var out: [String: ProbeStatus.LastCheck] = [:]
        out.reserveCapacity(rows.count)
        for (name, check) in rows { out[name] = check.lastCheck }
        return out
    }
}

/// What `/metrics` and the status page show of a check, in 48 bytes instead of a `Sample` (~260 bytes with its
/// strings): at 10,000 probes the latest checks cost ~1 MB instead of 4.3 MB. (The fields are in this order so the
/// flag and the chain's expiry fill the observation's 31 bytes up to 48, not 56.)
public struct LatestCheck: Sendable, Equatable {
    /// When the check started (µs since the epoch), as stored.
    public var at: Int64
    /// Status, phases, leaf expiry and failure reason.
    public var observation: Observation
    /// The check got an HTTP response (it has a status or an HTTP version).
    public var answeredHTTP: Bool
    /// Earliest expiry in the verified chain (seconds since the epoch, unsigned: until 2106, as the observation
    /// keeps the leaf's), 0 when unknown.
    private var chainExpiry: UInt32

    public init(_ sample: Sample) {
        at = sample.startedAt
        observation = Observation(sample)
        answeredHTTP = sample.httpVersion != nil || sample.status != nil
        chainExpiry = UInt32(clamping: sample.chainEarliestExpiry ?? 0)
    }

    public var ok: Bool { observation.ok }
    public var phases: PackedPhases { observation.phases }
    public var status: Int? { observation.status }
    public var reason: FailureReason? { observation.reason }
    /// The chain's earliest expiry, else the leaf's.
    public var earliestExpiry: Int64? { chainExpiry != 0 ? Int64(chainExpiry) : observation.certificateExpiry }

    /// Becomes `other` unless this check started later.
    mutating func keepNewer(_ other: LatestCheck) {
        if other.at >= at { self = other }
    }

    /// The check as storage reads it back: the same reason, status and total latency (stored phases are
    /// microseconds, as `PackedPhases` keeps them below 35 minutes).
    public var lastCheck: ProbeStatus.LastCheck {
        ProbeStatus.LastCheck(at: at, reason: reason, status: status, latency: phases[.total])
    }
}
