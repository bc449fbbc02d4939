import Foundation
import ProberStorage
import ProberStore
import ProberTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Issue 13 items 14, 15 and 16 through the binary: the database on a 3 MiB tmpfs that the test fills, then frees.
@Suite("fault: the database on a full file system", .serialized, .timeLimit(.minutes(3)))
final class FaultDiskFullTests {
    let directory: TemporaryDirectory
    var volume: StorageFaultVolume?
    var daemon: ProberDaemon?

    init() throws {
        directory = try TemporaryDirectory()
    }

    deinit {
        daemon = nil // killed if still running, before the unmount
        volume?.unmount()
        directory.remove()
    }

    func incidents(_ db: String) -> [StoredIncident] {
        guard let store = try? Store(path: db, readOnly: true) else { return [] }
        return (try? store.incidents(since: nil)) ?? []
    }

    /// A healthy probe and two that fail: `a` before the disk fills (its create is answered while the disk is
    /// full, so its outcome is usually refused), `b` while it is full (its opening cannot be stored). A write as
    /// small as `a`'s outcome can still fit in the slack of the WAL's last page, so that refusal is proved where it
    /// cannot depend on it: under a held lock, in `FaultLockedDatabaseTests`. Nothing
    /// false opens, nothing is sent twice, what was stored stays, and everything catches up once space is freed,
    /// without a restart. Then SIGTERM on a full disk exits 1 and says how many samples are lost.
    @Test func fullThenFreedLosesAndDuplicatesNothing() async throws {
        let volume: StorageFaultVolume
        do {
            volume = try StorageFaultVolume(size: "3m", under: directory.url)
        } catch {
            Issue.record("the full-disk fault test cannot run: \(error)")
            return
        }
        self.volume = volume
        let db = volume.path + "/prober.db"
        let targets = try StorageFaultTargets()
        let api = try StorageFaultAPI()
        defer { targets.server.stop(); api.server.stop() }
        try directory.write("probes/probes.yaml", targets.probeFile(["ok", "a", "b"]))
        let daemon = try ProberDaemon(["--probes", directory.path + "/probes", "--db", db],
                                      environment: ["ISDOWN_API_URL": api.url, "ISDOWN_API_KEY": StorageFaultAPI.apiKey],
                                      logIn: directory.url)
        self.daemon = daemon
        func log() -> String { daemon.stderr }
        #expect(await eventually { StorageFaultConnection.samples(db, probe: "ok") >= 10 }, "samples stored\n\(log())")

        // `a` fails; its create reaches IsDown, which answers only once the disk is full.
        api.holdCreates()
        targets.fail(["a"])
        #expect(await eventually { api.heldCreates > 0 }, "a's create sent\n\(log())")
        let storedBefore = StorageFaultConnection.samples(db, probe: "ok")
        #expect(await fillUntilRefused(volume, daemon), "the disk refuses the daemon's writes\n\(log())")
        #expect(volume.available == 0)

        // `b` fails while the disk is full: its opening is held in memory.
        targets.fail(["b"])
        #expect(await eventually { log().contains("could not store incident change") },
                "b's opening refused by the full disk\n\(log())")
        // Its outcome is usually refused too; a write this small can still fit in the last file-system page of the
        // WAL, so either is right here, as long as the create is sent once.
        api.releaseCreates()
        #expect(await eventually { log().contains("could not record a delivery attempt") || log().contains("incident call delivered") },
                "the create's answer handled\n\(log())")
        // Absence of a hot loop can only be watched for a while: 2 s, where the bug re-sent thousands of times.
        try await Task.sleep(for: .seconds(2))
        #expect(api.calls(for: "a") == ["POST investigating"], "a's create is not sent again while its outcome is held")
        #expect(api.calls(for: "b").isEmpty, "b's create waits for its opening to be stored")
        #expect(daemon.isRunning)

        // Space comes back: everything held is stored and delivered, once, without a restart.
        volume.free()
        #expect(await eventually {
            let open = incidents(db)
            return open.count == 2 && open.allSatisfy { $0.isdownID != nil }
        }, "both incidents stored with their IsDown ids\n\(log())")
        #expect(await eventually { StorageFaultConnection.samples(db, probe: "ok") > storedBefore + 20 }, "samples written again\n\(log())")
        // The line follows the commit that the sample count above can already see: wait for it too.
        #expect(await eventually { log().contains("storage recovered") }, "\(log())")
        #expect(StorageFaultConnection.samples(db, probe: "ok") >= storedBefore, "what was stored stays")
        let main = (try? FileManager.default.attributesOfItem(atPath: db)[.size] as? Int) ?? 0
        let wal = (try? FileManager.default.attributesOfItem(atPath: db + "-wal")[.size] as? Int) ?? 0
        #expect(main >= 16_384, "the WAL is checkpointed into the database file (\(main) bytes; WAL \(wal))")
        #expect(wal < 1_048_576, "the WAL stays small on a small volume (\(wal) bytes)")

        targets.heal(["a", "b"])
        #expect(await eventually {
            api.calls(for: "a").last == "PATCH resolved" && api.calls(for: "b").last == "PATCH resolved"
        }, "both resolved\n\(api.calls(for: "a")) \(api.calls(for: "b"))\n\(log())")
        for probe in ["a", "b"] {
            #expect(api.calls(for: probe) == ["POST investigating", "PATCH monitoring", "PATCH resolved"], "\(probe)")
        }
        #expect(!incidents(db).contains { $0.incident.probe == "ok" }, "no false incident for the healthy probe")
        #expect(incidents(db).allSatisfy { $0.incident.resolved })

        // Full again at shutdown: the samples that cannot be written are counted and the exit says so.
        #expect(await fillUntilRefused(volume, daemon), "the disk refuses the daemon's writes again\n\(log())")
        let status = await terminate(daemon)
        #expect(status == 1, "exit status \(String(describing: status))\n\(log())")
        #expect(log().contains("samples could not be written"), "\(log())")
        // A create held past the daemon's delivery timeout (a loaded machine) is listed and adopted, not sent again.
        let calls = api.server.requests.filter { $0.method != "GET" }
        #expect(calls.count == 6, "\(api.server.requests.map { "\($0.method) \($0.path)" })")
    }
}
