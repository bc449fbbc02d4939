import Foundation
import ProberCore
import ProberPostgres
import ProberStorage
import ProberTestSupport
import Testing

/// `FleetStorage` on PostgreSQL, call by call: what a location publishes, who counts as running, and the
/// version check that refuses a decision taken on a view another prober has since changed.
@Suite("PostgreSQL fleet storage")
struct FleetStorageTests {
    let t0: Int64 = 1_800_000_000_000_000

    func episode(_ location: String, _ status: Severity?, _ stage: ResolutionStage? = .investigating) -> LocationEpisode {
        LocationEpisode(location: location, status: status, stage: status == nil ? nil : stage, summary: status == nil ? nil : "\(location) failing")
    }

    func opening(at: Int64) -> IncidentChange {
        let update = IncidentUpdate(kind: .opened, stage: .investigating, status: .minor, createdAt: at, description: "opened")
        let incident = Incident(id: 0, probe: "api", serviceID: nil, title: "api: checks failing", description: "opened", status: .minor,
                                stage: .investigating, createdAt: at, updatedAt: at, resolvedAt: nil, updates: [update])
        let tracking = OpenIncident(status: .minor, stage: .investigating, openedAt: at, degradedSince: at, failedChecks: 1,
                                    worstP95: nil, worstFailures: 1)
        return IncidentChange(incident: incident, update: update, tracking: tracking, outbox: [])
    }

    func next(_ stored: StoredIncident, _ kind: IncidentEvent.Kind, stage: ResolutionStage, status: Severity, at: Int64) -> IncidentChange {
        let update = IncidentUpdate(kind: kind, stage: stage, status: status, createdAt: at, description: kind.rawValue)
        var incident = stored.incident
        incident.stage = stage
        incident.status = status
        incident.updatedAt = at
        if stage == .resolved { incident.resolvedAt = at }
        incident.updates.append(update)
        return IncidentChange(incident: incident, update: update, tracking: stored.tracking, outbox: [])
    }

    @Test func publishViewActiveAndVersionedRecord() throws {
        let cluster = try TestPostgres.shared()
        let name = try cluster.makeDatabase()
        defer { cluster.dropDatabase(name) }
        let store = try PostgresStore(url: cluster.socketURL(name), site: "a")

        // Published episodes, the latest per location; a location counts while its check is recent.
        let tracking = OpenIncident(status: .minor, stage: .investigating, openedAt: t0, degradedSince: t0 - 5_000_000,
                                    failedChecks: 3, worstP95: 1_200, worstFailures: 3)
        try store.publish(probe: "api", location: "a", episode: episode("a", .minor), tracking: tracking, at: t0)
        try store.publish(probe: "api", location: "b", episode: episode("b", nil), tracking: nil, at: t0)
        try store.publish(probe: "api", location: "c", episode: episode("c", .major), tracking: nil, at: t0 - 60_000_000)
        try store.publish(probe: "db", location: "a", episode: episode("a", nil), tracking: nil, at: t0)
        var view = try store.fleetView(probe: "api", runningSince: t0 - 10_000_000)
        #expect(view.locations.map(\.episode) == [episode("a", .minor), episode("b", nil)])
        #expect(view.locations.first?.tracking == tracking)
        #expect(view.incident == nil && view.version == nil)
        #expect(try store.fleetView(probe: "api", runningSince: .min).locations.count == 3)
        #expect(try store.activeFleetProbes(runningSince: t0 - 10_000_000) == ["api"])
        // An older publication never moves a location's check time back.
        try store.publish(probe: "api", location: "b", episode: episode("b", nil), tracking: nil, at: t0 - 30_000_000)
        #expect(try store.fleetView(probe: "api", runningSince: t0 - 10_000_000).locations.count == 2)

        // Opening: refused once one is open.
        let id = try store.record(opening(at: t0), expectingUpdates: nil)
        do {
            try store.record(opening(at: t0 + 1), expectingUpdates: nil)
            Issue.record("a second incident was opened")
        } catch let error as any StorageError {
            #expect(error.kind == .conflict)
        }
        view = try store.fleetView(probe: "api", runningSince: t0 - 10_000_000)
        #expect(view.incident?.incident.id == id && view.version == 1)

        // A change decided on version 1 goes in once; the same decision again (another prober's, on the same
        // view) is refused and writes nothing.
        let stored = try #require(view.incident)
        try store.record(next(stored, .escalated, stage: .investigating, status: .major, at: t0 + 2), expectingUpdates: 1)
        do {
            try store.record(next(stored, .escalated, stage: .investigating, status: .major, at: t0 + 3), expectingUpdates: 1)
            Issue.record("a change decided on a stale version was written")
        } catch let error as any StorageError {
            #expect(error.kind == .conflict)
        }
        view = try store.fleetView(probe: "api", runningSince: t0 - 10_000_000)
        #expect(view.version == 2)
        #expect(view.incident?.incident.updates.map(\.kind) == [.opened, .escalated])

        // Resolved: no open incident; a withdrawn location stops counting at once.
        try store.record(next(try #require(view.incident), .resolved, stage: .resolved, status: .major, at: t0 + 4), expectingUpdates: 2)
        try store.withdraw(probe: "api", location: "a")
        view = try store.fleetView(probe: "api", runningSince: t0 - 10_000_000)
        #expect(view.incident == nil)
        #expect(view.locations.map(\.episode.location) == ["b"])
        #expect(try store.activeFleetProbes(runningSince: t0 - 10_000_000).isEmpty)
    }
}
