import Foundation
import ProberCore
import ProberStorage

/// What the status page reuses between requests, so a page of 200 at 10,000 probes stays within its budget:
/// the listing (every probe, its last check, the open incidents) for `listingLifetime`, and each shown probe's
/// completed UTC days for the rest of the day (only today's counts and the hourly p95 are read again).
///
/// A check or an incident shows on `/` at most `listingLifetime` late; a late sample of an earlier day (within
/// the store's rollup grace) shows the next day. `@unchecked Sendable`: every field is read and written under
/// `lock`; the values it hands out are copies.
public final class StatusCache: @unchecked Sendable {
    public static let listingLifetime: Int64 = 5_000_000
    /// Probes whose days are kept at most (10 pages); beyond, the cache starts again.
    static let maxProbes = 2_000

    struct Listing {
        var at: Int64
        var infos: [ProbeInfo]
        var last: [String: ProbeStatus.LastCheck]
        var open: [String: StoredIncident]
        /// Probes whose automatic threshold is still learning (`IncidentStorage.learningProbes`).
        var learning: Set<String> = []
    }

    private let lock = NSLock()
    private var listing: Listing?
    /// When `/` was last asked for, and whether a refresh of the listing is scheduled (see `keepWarm`).
    private var lastAsked: Int64 = .min
    private var warming = false
    /// Probe -> (start of the day the entry was made on, its completed days' checks and failures, oldest first).
    private var completed: [String: (today: Int64, counts: [UInt32])] = [:]

    /// The daemon's own last check of each probe it has checked since it started (`LatestSamples.lastChecks`), or
    /// nil to read every last check from storage. With it, storage is asked only for the probes it lacks (checked
    /// before a restart, no longer configured): at 10,000 probes that query was ~16 ms of a first visit.
    public typealias RememberedChecks = @Sendable () -> [String: ProbeStatus.LastCheck]

    private let remembered: RememberedChecks?

    /// `remembered` must give what storage holds once the samples are written (the same time, reason, status
    /// and latency): a daemon whose storage is the only writer. A fleet's last check is any location's, so a
    /// fleet's daemon passes nil.
    public init(remembered: RememberedChecks? = nil) { self.remembered = remembered }

    func listing(now: Int64, read: () throws -> Listing) rethrows -> Listing {
        if let cached = lock.withLock({ listing }), now >= cached.at, now - cached.at < Self.listingLifetime { return cached }
        let fresh = try read()
        lock.withLock { listing = fresh }
        return fresh
    }

    /// While people look at `/` (asked within `warmFor`), the listing is read again every `listingLifetime` in
    /// the background, so a page (the script reloads it every 30 s) finds it fresh: at 10,000 probes reading it
    /// is ~30 ms of the ~65 ms a page took cold. `schedule(after, job)` runs `job` that many µs later where the
    /// storage may be read (the reader's queue). Only the first visit after `warmFor` idle reads it itself.
    public static let warmFor: Int64 = 120_000_000

    public typealias Job = @Sendable (_ storage: any ProbeRegistry & HistoryReading & IncidentStorage, _ now: Int64) throws -> Void

    func keepWarm(now: Int64, schedule: @escaping @Sendable (_ after: Int64, _ job: @escaping Job) -> Void) {
        let start = lock.withLock { () -> Bool in
            lastAsked = max(lastAsked, now)
            guard !warming else { return false }
            warming = true
            return true
        }
        guard start else { return }
        @Sendable func tick(_ storage: any ProbeRegistry & HistoryReading & IncidentStorage, _ now: Int64) throws {
            let idle = lock.withLock { () -> Bool in
                let idle = now - lastAsked > Self.warmFor
                if idle { warming = false }
                return idle
            }
            guard !idle else { return }
            do {
                let fresh = try read(storage, now: now)
                lock.withLock { listing = fresh }
            } catch {
                lock.withLock { warming = false }
                throw error
            }
            schedule(Self.listingLifetime, tick)
        }
        schedule(Self.listingLifetime, tick)
    }

    /// Every probe, its last check and the open incidents, as of `now`.
    func read(_ storage: some ProbeRegistry & HistoryReading & IncidentStorage, now: Int64) throws -> Listing {
        let infos = try storage.probeInfos()
        let learning = try storage.learningProbes(now: now)
        guard let remembered else {
            return Listing(at: now, infos: infos, last: try storage.lastChecks(), open: try storage.openIncidents(), learning: learning)
        }
        var last = remembered()
        let missing = infos.compactMap { last[$0.name] == nil ? $0.name : nil }
        if !missing.isEmpty {
            for (name, check) in try storage.lastChecks(of: missing) { last[name] = check }
        }
        return Listing(at: now, infos: infos, last: last, open: try storage.openIncidents(), learning: learning)
    }

    /// The overview of `names`: whole for probes not cached today, today's alone (and the cached days) for the others.
    func overview(_ names: [String], days: Int, now: Int64, storage: some HistoryReading) throws -> [String: ProbeOverview] {
        let day: Int64 = 86_400_000_000
        let today = now / day * day
        let cached = lock.withLock { completed }
        let misses = names.filter { cached[$0]?.today != today }
        let hits = names.filter { cached[$0]?.today == today }
        var out = try storage.overview(probes: misses, days: days, now: now)
        if !hits.isEmpty {
            for (name, fresh) in try storage.overview(probes: hits, days: 1, now: now) {
                guard let counts = cached[name]?.counts else { continue }
                let earlier = stride(from: 0, to: counts.count, by: 2).map { i in
                    DayCount(start: today - Int64(days - 1 - i / 2) * day, checks: Int(counts[i]), failures: Int(counts[i + 1]))
                }
                out[name] = ProbeOverview(days: earlier + fresh.days, hourlyP95: fresh.hourlyP95)
            }
        }
        lock.withLock {
            if completed.count + misses.count > Self.maxProbes { completed.removeAll() }
            for name in misses {
                guard let o = out[name], o.days.count == days else { continue }
                completed[name] = (today, o.days.dropLast().flatMap { [UInt32(clamping: $0.checks), UInt32(clamping: $0.failures)] })
            }
        }
        return out
    }
}
