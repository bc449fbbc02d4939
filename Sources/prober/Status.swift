import ArgumentParser
import Foundation
import ProberCore
import ProberDocuments
import ProberStorage

/// `prober status`: one line per probe from the database, read-only (safe while the daemon runs).
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show every probe's state, last check and last hour.",
        discussion: """
            States are coloured on a terminal, never when NO_COLOR is set or the output is not a terminal.

            EXAMPLES:
              prober status
              prober status --db /var/lib/prober/prober.db
              prober status --json
            """
    )

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        let storage = StoreCommandSupport.openStorage(database.db)
        let now = StoreCommandSupport.nowMicroseconds
        let rows: [StatusDocument.Row]
        do {
            rows = try StatusDocument.rows(storage, now: now)
        } catch {
            StoreCommandSupport.fail("\(error)")
        }
        if output.json {
            print(StatusDocument.json(rows, now: now).pretty)
        } else if rows.isEmpty {
            print("no probes in \(database.displayDB) yet")
        } else {
            print(Self.text(rows, now: now))
        }
    }

    static func text(_ rows: [StatusDocument.Row], now: Int64) -> String {
        typealias S = StoreCommandSupport
        let table = rows.map { row -> [String] in
            let s = row.status
            let age = s.last.map { Human.span(seconds: max(0, now - $0.at) / 1_000_000) + " ago" } ?? "never"
            let result = s.last.map { $0.reason?.rawValue ?? "ok" } ?? "-"
            return [s.name, Terminal.paint(row.state.description, Terminal.colour(of: row.state)), age, result, S.latency(s.last?.latency),
                    S.percent(s.uptime1h), S.latency(s.p95_1h), row.incidentCell(now: now)]
        }
        return S.table(["PROBE", "STATE", "LAST CHECK", "RESULT", "LATENCY", "UPTIME 1H", "P95 1H", "INCIDENT"], table, leftColumns: 4)
    }
}
