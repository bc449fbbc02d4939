import Foundation
import ProberCore
import ProberStorage
import Testing

extension StorageConformance {
    /// `status` over an hour that maintenance has partly rolled up: the 5-minute rollups below the watermark and the
    /// raw samples above it each count once (a backend reading both for the same stretch counts checks twice; one
    /// reading raw samples only above the watermark without the rollups loses the hour).
    static func statusOverRolledUpHour(_ backend: ConformanceBackend) throws {
        try backend.withLocation { location in
            // `now` on a 5-minute boundary, so the hour's first bucket begins exactly at `now - 1 h` on every backend.
            let now = t0 + 2 * hour
            let sites = backend.openAtSite == nil ? [""] : ["a", "b"]
            var bySite: [String: [Sample]] = [:]
            for (n, site) in sites.enumerated() {
                let samples = makeSamples(probe: "api", start: t0 + Int64(n) * 3 * second, interval: 10 * second, count: 721,
                                          failureRate: 0.1, seed: UInt64(7 + n))
                bySite[site] = samples
                try record(samples, into: try backend.openAtSite.map { try $0(location, site) } ?? backend.open(location, false))
            }
            let writer = try backend.openAtSite.map { try $0(location, sites[0]) } ?? backend.open(location, false)
            let report = try maintainUntilDone(writer, now: now, policy: policy(raw: 7 * day))
            #expect(report.rolled5m > 0, "maintenance rolled the hour up to its watermark")

            let reader = try backend.open(location, true)
            // A fleet backend's hour is its per-location summary's 5-minute slots through the one holding `now`, so a check
            // stored after `now` in that slot counts too (only a reader in the past sees one).
            let until = backend.openAtSite == nil ? now : now + 300 * second - 1
            let inHour = { (samples: [Sample]) in samples.filter { $0.startedAt >= now - hour && $0.startedAt <= until } }
            let all = sites.flatMap { inHour(bySite[$0]!) }
            let row = try #require(try reader.status(now: now).first { $0.name == "api" })
            #expect(row.checks1h == all.count, "every check of the hour once: \(row.checks1h) against \(all.count)")
            #expect(row.failures1h == all.filter { $0.failure != nil }.count)
            let exact = try #require(exactPercentile(all.filter { $0.failure == nil }.compactMap(\.phases.total), 0.95))
            let p95 = try #require(row.p95_1h)
            #expect(abs(Double(p95 - exact)) / Double(exact) <= 0.05, "p95 \(p95) against exact \(exact)")
            #expect(row.last?.at == sites.compactMap { bySite[$0]!.last?.startedAt }.max())

            guard backend.openAtSite != nil else { return }
            let located = try #require(try reader.locationStatus(now: now)["api"])
            #expect(located.map(\.location) == sites)
            for (line, site) in zip(located, sites) {
                #expect(line.checks1h == inHour(bySite[site]!).count, "\(site): every check of the hour once")
                #expect(line.failures1h == inHour(bySite[site]!).filter { $0.failure != nil }.count)
                #expect(line.last?.at == bySite[site]!.last?.startedAt)
            }
        }
    }
}
