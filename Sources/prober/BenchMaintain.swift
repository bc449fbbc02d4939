import ArgumentParser
import Foundation
import ProberBackends
import ProberCore
import ProberStorage

/// `prober bench-maintain`: one whole maintenance pass (rollups and retention with the default `storage:` policy),
/// for `bench/fleet`, which seeds checks behind the probers' backs and must roll them up as a running fleet would.
struct BenchMaintain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-maintain",
        abstract: "Run storage maintenance until nothing is left, and print what it did and how long it took.",
        shouldDisplay: false
    )

    @OptionGroup var database: DatabaseOptions

    func run() throws {
        let storage: any Storage
        do {
            storage = try StorageBackend.open(database: database.db, readOnly: false)
        } catch {
            StoreCommandSupport.fail("\(error)")
        }
        let start = DispatchTime.now().uptimeNanoseconds
        var total = MaintenanceReport()
        var finished = false
        while !finished {
            let report = try storage.maintain(now: StoreCommandSupport.nowMicroseconds, policy: StoragePolicy(), budget: .seconds(60))
            total.rolled5m += report.rolled5m
            total.rolled1h += report.rolled1h
            total.transactions += report.transactions
            finished = report.finished
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        print(String(format: "%.1f s: %d 5-minute and %d 1-hour rollups in %d transactions",
                     seconds, total.rolled5m, total.rolled1h, total.transactions))
    }
}
