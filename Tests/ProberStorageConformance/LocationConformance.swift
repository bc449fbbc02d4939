import Foundation
import ProberCore
import ProberStorage
import Testing

/// The per-location reads (`LocationReading`) and the probers' heartbeats (`ProberDirectory`) on every backend.
/// A backend that keeps no location (no `openAtSite`) must answer with none and still list its one prober.
public enum LocationConformance {
    public static let cases: [ConformanceCase] = [
        ConformanceCase("probers: one row per location, upserted by heartbeats, read while written", probers),
        ConformanceCase("locations: each location's status and history add up to the probe's", locationReads),
        ConformanceCase("locations: a backend without locations answers with none", noLocations),
        ConformanceCase("probers: each prober's lost connectivity, now (heartbeat) and as spans (history)", connectivityLosses),
    ]

    static let t0 = StorageConformance.t0
    static let second = StorageConformance.second
    static let hour = StorageConformance.hour

    static func beat(_ location: String, at: Int64, probes: Int = 3, stopped: Bool = false) -> ProberHeartbeat {
        ProberHeartbeat(location: location, host: "host-\(location)", pid: 4242, version: proberVersion, startedAt: t0, at: at,
                        every: ProberHeartbeat.defaultEvery, probes: probes, latenessP99: 1_500, pending: 12, spooled: 7,
                        stopped: stopped)
    }

    static func probers(_ backend: ConformanceBackend) throws {
        try backend.withStorage { storage, location in
            let reader = try backend.open(location, true)
            #expect(try reader.probers().isEmpty)
            try storage.heartbeat(beat("b", at: t0 + 10 * second))
            try storage.heartbeat(beat("a", at: t0 + 10 * second))
            try storage.heartbeat(beat("a", at: t0 + 20 * second, probes: 5))
            let rows = try reader.probers()
            #expect(rows.map(\.location) == ["a", "b"])
            #expect(rows[0] == beat("a", at: t0 + 20 * second, probes: 5), "the second heartbeat replaced the first")
            #expect(rows[1].latenessP99 == 1_500 && rows[1].pending == 12 && rows[1].spooled == 7)

            var quiet = beat("c", at: t0, stopped: true)
            quiet.latenessP99 = nil
            try storage.heartbeat(quiet)
            #expect(try reader.probers().last == quiet)

            // Liveness: up within three intervals, stale after, stopped whatever the age.
            let now = t0 + 20 * second
            #expect(rows[0].state(now: now) == .up)
            #expect(rows[0].state(now: now + 3 * ProberHeartbeat.defaultEvery + 1) == .stale)
            #expect(quiet.state(now: now) == .stopped)
            #expect(throws: (any Error).self) { try reader.heartbeat(beat("d", at: now)) }
        }
    }

    static func locationReads(_ backend: ConformanceBackend) throws {
        guard let openAtSite = backend.openAtSite else { return }
        try backend.withLocation { location in
            let now = t0 + 2 * hour
            let a = makeSamples(probe: "api", start: t0, interval: 60 * second, count: 120, failureRate: 0.1, seed: 3)
            let b = makeSamples(probe: "api", start: t0 + 30 * second, interval: 60 * second, count: 120, failureRate: 0.3, seed: 4)
            let c = makeSamples(probe: "api", start: t0 - 3 * 86_400 * second, interval: 60 * second, count: 10, seed: 5)
            for (site, samples) in [("a", a), ("b", b), ("c", c)] {
                try record(samples, into: try openAtSite(location, site))
            }
            let writer = try openAtSite(location, "a")
            if let fleet = writer as? any FleetStorage {
                try fleet.publish(probe: "api", location: "b", episode: LocationEpisode(location: "b", status: .minor,
                                  stage: .investigating, summary: "3 failures"), tracking: nil, at: now)
            }
            let reader = try backend.open(location, true)

            // Status: a and b checked it today; c only three days ago, so it is left out.
            let rows = try #require(try reader.locationStatus(now: now)["api"])
            #expect(rows.map(\.location) == ["a", "b"])
            for (row, samples) in zip(rows, [a, b]) {
                let lastHour = samples.filter { $0.startedAt >= now - hour && $0.startedAt <= now }
                #expect(row.checks1h == lastHour.count)
                #expect(row.failures1h == lastHour.filter { $0.failure != nil }.count)
                #expect(hourP95(row.p95_1h, exactPercentile(lastHour.filter { $0.failure == nil }.compactMap(\.phases.total), 0.95), backend))
                #expect(row.last?.at == samples.last?.startedAt)
            }
            let total = try #require(try reader.status(now: now).first { $0.name == "api" })
            #expect(rows.map(\.checks1h).reduce(0, +) == total.checks1h)
            if writer is any FleetStorage {
                #expect(rows[1].episode?.status == .minor)
                #expect(rows[1].state == .degraded(.minor))
                #expect(rows[0].episode == nil)
            }

            // History: each location's buckets add up to the total, bucket by bucket.
            #expect(try reader.locations(probe: "api") == ["a", "b", "c"])
            #expect(try reader.locations(probe: "nope").isEmpty)
            let all = try #require(try reader.locationHistory(probe: "api", location: nil, since: t0, until: now, every: nil, phase: .total))
            let plain = try #require(try reader.history(probe: "api", since: t0, until: now, every: nil, phase: .total))
            #expect(all.total == plain, "the total is the history every other command reads")
            #expect(all.locations.map(\.location) == ["a", "b", "c"])
            #expect(all.locations.map(\.history.summary.checks) == [a.count, b.count, 0])
            for (i, bucket) in all.total.buckets.enumerated() {
                #expect(all.locations.map { $0.history.buckets[i].checks }.reduce(0, +) == bucket.checks)
                #expect(all.locations.map { $0.history.buckets[i].failures }.reduce(0, +) == bucket.failures)
            }
            let onlyB = try #require(try reader.locationHistory(probe: "api", location: "b", since: t0, until: now, every: nil, phase: .total))
            #expect(onlyB.total.summary.checks == b.count)
            #expect(onlyB.total.summary.failures == b.filter { $0.failure != nil }.count)
            #expect(onlyB.total.summary.latency.p95 == exactPercentile(b.filter { $0.failure == nil }.compactMap(\.phases.total), 0.95))
            #expect(onlyB.locations.map(\.location) == ["b"])
            #expect(try reader.locationHistory(probe: "api", location: "z", since: t0, until: now, every: nil, phase: .total) == nil)
            #expect(try reader.locationHistory(probe: "nope", location: nil, since: t0, until: now, every: nil, phase: .total) == nil)

            // A probe registered before its first check has a history with no checks (it is not an unknown probe).
            try writer.register([ProbeSpec(name: "fresh", target: .tcp(TCPTarget(host: "127.0.0.1", port: 1)))])
            let fresh = try #require(try reader.locationHistory(probe: "fresh", location: nil, since: t0, until: now, every: nil,
                                                                phase: .total))
            #expect(fresh.total.summary.checks == 0 && fresh.locations.isEmpty)
            #expect(try reader.locationHistory(probe: "fresh", location: "a", since: t0, until: now, every: nil, phase: .total) == nil)
        }
    }

    static func noLocations(_ backend: ConformanceBackend) throws {
        guard backend.openAtSite == nil else { return }
        try backend.withStorage { storage, _ in
            let now = t0 + hour
            try record(makeSamples(probe: "api", start: t0, interval: 60 * second, count: 60), into: storage)
            #expect(try storage.locationStatus(now: now).isEmpty)
            #expect(try storage.locations(probe: "api").isEmpty)
            let history = try #require(try storage.locationHistory(probe: "api", location: nil, since: t0, until: now, every: nil, phase: .total))
            #expect(history.total == (try storage.history(probe: "api", since: t0, until: now, every: nil, phase: .total)))
            #expect(history.locations.isEmpty)
            #expect(try storage.locationHistory(probe: "api", location: "a", since: t0, until: now, every: nil, phase: .total) == nil)
        }
    }

    static func connectivityLosses(_ backend: ConformanceBackend) throws {
        try backend.withStorage { storage, location in
            var lost = beat("a", at: t0 + 10 * second)
            lost.connectivityLostSince = t0 + 5 * second
            lost.connectivityFailures = "tcp 10.0.0.1:53: connect: Network is unreachable"
            try storage.heartbeat(lost)
            let reader = try backend.open(location, true)
            #expect(try reader.probers() == [lost])
            try storage.heartbeat(beat("a", at: t0 + 20 * second))
            #expect(try reader.probers().first?.connectivityLostSince == nil, "a heartbeat after the return clears it")

            // One span opened, then closed; another still open at another location.
            try storage.recordConnectivityLoss(ConnectivityLossSpan(location: "a", since: t0 + 5 * second, until: nil))
            try storage.recordConnectivityLoss(ConnectivityLossSpan(location: "a", since: t0 + 5 * second, until: t0 + 15 * second))
            try storage.recordConnectivityLoss(ConnectivityLossSpan(location: "b", since: t0 + 100 * second, until: nil))
            #expect(try reader.connectivityLosses(since: t0, until: t0 + hour) == [
                ConnectivityLossSpan(location: "a", since: t0 + 5 * second, until: t0 + 15 * second),
                ConnectivityLossSpan(location: "b", since: t0 + 100 * second, until: nil),
            ])
            #expect(try reader.connectivityLosses(since: t0 + 16 * second, until: t0 + 99 * second).isEmpty)
            #expect(try reader.connectivityLosses(since: t0 + hour, until: t0 + 2 * hour).map(\.location) == ["b"], "still open")
            #expect(try reader.connectivityLosses(since: t0 + 15 * second, until: t0 + 15 * second).map(\.location) == ["a"])
        }
    }
}
