import Foundation
import ProberCore
@testable import ProberPostgres
import ProberStorage
import ProberTestSupport
import Testing

/// The batched calls a wave uses: many probes' views in one read, many decisions in a few transactions where one
/// refused change leaves the others written.
@Suite("PostgreSQL fleet storage in batches")
struct FleetBatchTests {
    let t0: Int64 = 1_800_000_000_000_000

    func opening(_ probe: String, at: Int64) -> IncidentChange {
        let update = IncidentUpdate(kind: .opened, stage: .investigating, status: .minor, createdAt: at, description: "opened")
        let incident = Incident(id: 0, probe: probe, serviceID: nil, title: "\(probe): checks failing", description: "opened",
                                status: .minor, stage: .investigating, createdAt: at, updatedAt: at, resolvedAt: nil, updates: [update])
        let tracking = OpenIncident(status: .minor, stage: .investigating, openedAt: at, degradedSince: at, failedChecks: 1,
                                    worstP95: nil, worstFailures: 1)
        return IncidentChange(incident: incident, update: update, tracking: tracking, outbox: [])
    }

    @Test func viewsOfManyProbesMatchTheirOneByOneViews() throws {
        let cluster = try TestPostgres.shared()
        let name = try cluster.makeDatabase()
        defer { cluster.dropDatabase(name) }
        let store = try PostgresStore(url: cluster.socketURL(name), site: "a")
        let names = (0..<30).map { "p\($0)" }
        for location in ["a", "b"] {
            try store.publish(names.map { probe in
                EpisodePublication(probe: probe, episode: LocationEpisode(location: location, status: .minor, stage: .investigating,
                                                                          summary: "\(location) failing"),
                                   tracking: nil, at: t0)
            }, location: location)
        }
        for probe in names.prefix(10) { try store.record(opening(probe, at: t0), expectingUpdates: nil) }

        let views = try store.fleetViews(probes: names + ["unknown"], runningSince: t0 - 1)
        #expect(views.count == names.count + 1)
        for probe in names + ["unknown"] {
            #expect(views[probe] == (try store.fleetView(probe: probe, runningSince: t0 - 1)), "\(probe)")
        }
        #expect(views["p3"]?.version == 1)
        #expect(views["p20"]?.incident == nil)
        #expect(views["p20"]?.locations.map(\.episode.location) == ["a", "b"])
        #expect(views["unknown"] == FleetView(incident: nil, locations: []))
    }

    @Test func oneRefusedChangeLeavesTheOthersWrittenAndABusyProbeIsRefusedWithoutWaiting() throws {
        let cluster = try TestPostgres.shared()
        let name = try cluster.makeDatabase()
        defer { cluster.dropDatabase(name) }
        let url = cluster.socketURL(name)
        let store = try PostgresStore(url: url, site: "a")
        let names = (0..<45).map { "p\($0)" }
        // p7 was opened by another prober since the view: opening it again is refused. p30 is being decided by
        // another prober right now (its advisory lock held).
        let other = try store.record(opening("p7", at: t0), expectingUpdates: nil)
        let busy = try PGConnection(url: url, password: nil, readOnly: false, lockTimeout: .seconds(5))
        try busy.execute("BEGIN")
        try busy.query("SELECT pg_advisory_xact_lock($1, hashtext('p30'))", [.int(Int64(PostgresStore.fleetLock))])

        let start = ContinuousClock.now
        let results = store.record(names.map { FleetChange(opening($0, at: t0 + 1), expectingUpdates: nil) })
        #expect(ContinuousClock.now - start < .seconds(1), "waited for the other prober's lock")
        try busy.execute("ROLLBACK")

        #expect(results.count == names.count)
        for (probe, result) in zip(names, results) {
            switch result {
            case .success(let id):
                #expect(probe != "p7" && probe != "p30")
                #expect(id > 0)
            case .failure(let error):
                #expect(probe == "p7" || probe == "p30", "\(probe): \(error)")
                #expect((error as? any StorageError)?.kind == .conflict)
            }
        }
        let open = try store.openIncidents()
        #expect(open.count == names.count - 1)
        #expect(open["p7"]?.incident.id == other)
        #expect(open["p7"]?.incident.updates.count == 1)
        #expect(open["p30"] == nil)
    }
}
