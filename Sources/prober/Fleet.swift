import ArgumentParser
import Foundation
import ProberCore
import ProberDocuments
import ProberStorage

/// `prober fleet`: the probers writing the history, from their heartbeats; read-only (safe while they run).
struct FleetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fleet",
        abstract: "List the probers writing the history: location, version, last seen, probes, lateness, spool.",
        discussion: """
            Every prober run writes a heartbeat every 10 s (and at start and at a clean stop). A prober is up, \\
            stale when its last heartbeat is older than three intervals (killed, hung, or cut off from the \\
            database), or stopped after a clean stop. TICK P99 is the p99 of its ticks' lateness over the \\
            interval before its last heartbeat; PENDING counts the samples it has not written yet, of which \\
            the on-disk spool holds those in parentheses. With SQLite the one local prober is listed.

            EXAMPLES:
              prober fleet --db postgres://prober@db.internal/prober
              prober fleet --json
            """
    )

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        let storage = StoreCommandSupport.openStorage(database.db)
        let now = StoreCommandSupport.nowMicroseconds
        let probers: [ProberHeartbeat]
        do {
            probers = try storage.probers()
        } catch {
            StoreCommandSupport.fail("\(error)")
        }
        if output.json {
            print(FleetDocument.json(probers, now: now).pretty)
        } else if probers.isEmpty {
            print("no prober has written to \(database.displayDB) yet")
        } else {
            print(Self.text(probers, now: now))
        }
    }

    static func text(_ probers: [ProberHeartbeat], now: Int64) -> String {
        typealias S = StoreCommandSupport
        let rows = probers.map { p -> [String] in
            let state = p.state(now: now)
            let colour: Terminal.Colour? = switch state {
            case .up: .green
            case .stale: .red
            case .stopped: nil
            }
            return [p.location, Terminal.paint(state.rawValue, colour), p.version,
                    Human.ago(seconds: max(0, now - p.at) / 1_000_000), "\(p.probes)", S.latency(p.latenessP99),
                    p.spooled > 0 ? "\(p.pending) (\(p.spooled))" : "\(p.pending)", "\(p.host) pid \(p.pid)"]
        }
        return S.table(["LOCATION", "STATE", "VERSION", "LAST SEEN", "PROBES", "TICK P99", "PENDING", "HOST"], rows, leftColumns: 3)
    }
}
