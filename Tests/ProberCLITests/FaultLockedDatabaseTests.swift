import Foundation
import ProberStorage
import ProberStore
import ProberTestSupport
import Testing

/// Issue 13 item 14 through the binary: another connection holds the database's write lock (`BEGIN IMMEDIATE`)
/// for longer than the daemon's busy timeout (1 s) while real incidents open.
@Suite("fault: the database locked by another process", .serialized, .timeLimit(.minutes(3)))
final class FaultLockedDatabaseTests {
    let directory: TemporaryDirectory
    var daemon: ProberDaemon?
    var db: String { directory.path + "/prober.db" }

    init() throws {
        directory = try TemporaryDirectory()
    }

    deinit {
        daemon = nil
        directory.remove()
    }

    func incidents() -> [StoredIncident] {
        guard let store = try? Store(path: db, readOnly: true) else { return [] }
        return (try? store.incidents(since: nil)) ?? []
    }

    /// The lock is held for about 5 s while a create's answer arrives and six probes start failing: each incident
    /// opens (late is fine), is created on IsDown exactly once, and resolves; the healthy probe opens none, and its samples of the locked seconds are
    /// written once the lock is released.
    @Test func incidentsThatShouldOpenDoOpenOnce() async throws {
        let failing = (1...6).map { "p\($0)" }
        let targets = try StorageFaultTargets()
        let api = try StorageFaultAPI()
        defer { targets.server.stop(); api.server.stop() }
        try directory.write("probes/probes.yaml", targets.probeFile(["ok"] + failing))
        let daemon = try ProberDaemon(["--probes", directory.path + "/probes", "--db", db],
                                      environment: ["ISDOWN_API_URL": api.url, "ISDOWN_API_KEY": StorageFaultAPI.apiKey],
                                      logIn: directory.url)
        self.daemon = daemon
        func log() -> String { daemon.stderr }
        #expect(await eventually { StorageFaultConnection.samples(db, probe: "ok") >= 10 }, "samples stored\n\(log())")

        // p1 opens before the lock; IsDown answers its create only once the lock is held (item 15's path: the
        // outcome cannot be recorded, and the create must not be sent again).
        api.holdCreates()
        targets.fail(["p1"])
        #expect(await eventually { api.heldCreates > 0 }, "p1's create sent\n\(log())")
        let holder = try StorageFaultConnection(db, readOnly: false)
        try holder.execute("BEGIN IMMEDIATE")
        let lockedAt = Int64(Date().timeIntervalSince1970 * 1_000_000)
        api.releaseCreates()
        #expect(await eventually { log().contains("could not record a delivery attempt") },
                "p1's outcome meets the lock\n\(log())")
        targets.fail(failing)
        #expect(await eventually { log().contains("could not store incident change") },
                "the openings meet the lock\n\(log())")
        #expect(await eventually { log().contains("cannot write samples") }, "\(log())")
        // The lock is held 5 busy timeouts in all: a duration is the fault itself here, nothing is waited for.
        try await Task.sleep(for: .seconds(4))
        #expect(api.server.requests.count == 1, "only p1's create is sent while the lock is held")
        try holder.execute("ROLLBACK")
        let releasedAt = Int64(Date().timeIntervalSince1970 * 1_000_000)

        #expect(await eventually {
            let open = incidents()
            return open.count == failing.count && open.allSatisfy { $0.isdownID != nil }
        }, "every incident opened and created on IsDown: \(incidents().map(\.incident.probe))\n\(log())")
        #expect(Set(incidents().map(\.incident.probe)) == Set(failing))
        #expect(await eventually {
            StorageFaultConnection.samples(db, probe: "ok", from: lockedAt, to: releasedAt) >= 30
        }, "the samples of the locked seconds are written after the release\n\(log())")

        targets.heal(failing)
        #expect(await eventually { failing.allSatisfy { api.calls(for: $0).last == "PATCH resolved" } },
                "every incident resolved\n\(failing.map { api.calls(for: $0) })\n\(log())")
        for probe in failing {
            #expect(api.calls(for: probe) == ["POST investigating", "PATCH monitoring", "PATCH resolved"], "\(probe)")
        }
        #expect(api.calls(for: "ok").isEmpty, "no false incident")
        #expect(incidents().count == failing.count && incidents().allSatisfy { $0.incident.resolved })
        #expect(await terminate(daemon) == 0, "\(log())")
    }
}
