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
            On a fleet's PostgreSQL history, a probe checked from more than one location in the last day has \
            a line per location under it: that location's state (from the episode it published, else its \
            last check), last check and hour.

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
        let losses: [StatusDocument.ConnectivityLoss]
        let overload: StatusDocument.Overload?
        do {
            // One snapshot for every part (the probes' lines, the incidents, silences, probers...), read in one
            // transaction.
            (rows, losses, overload) = try storage.snapshot {
                (try StatusDocument.rows(storage, now: now), try StatusDocument.connectivityLosses(storage, now: now),
                 try StatusDocument.overload(storage, now: now))
            }
        } catch {
            StoreCommandSupport.fail("\(error)")
        }
        if output.json {
            StatusDocument.write(rows, now: now, to: Self.write)
        } else if rows.isEmpty {
            print("no probes in \(database.displayDB) yet")
        } else {
            // Above the table: while it lasts, the checks below judge nothing (fleet: that location's don't).
            for loss in losses {
                let prefix = losses.count > 1 || rows.contains(where: { !$0.locations.isEmpty }) ? "location \(loss.location): " : ""
                print(Terminal.paint(prefix + loss.line(now: now), Terminal.colour(of: .failing)))
            }
            if let overload { print(Terminal.paint(overload.line, overload.now ? Terminal.colour(of: Severity.minor) : nil)) }
            Self.table(rows, now: now).write(to: Self.write)
        }
    }

    /// Writes to standard output, behind what `print` buffered (flushed first): a fleet's document is megabytes, not
    /// worth a `String` to print.
    static func write(_ buffer: UnsafeRawBufferPointer) {
        fflush(nil)
        var at = 0
        while at < buffer.count {
            let n = Foundation.write(STDOUT_FILENO, buffer.baseAddress! + at, buffer.count - at)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return } // a closed pipe: nothing more to say
            at += n
        }
    }

    static func table(_ rows: [StatusDocument.Row], now: Int64) -> TextTable {
        typealias S = StoreCommandSupport
        func age(_ last: ProbeStatus.LastCheck?) -> String {
            last.map { Human.ago(seconds: max(0, now - $0.at) / 1_000_000) } ?? "never"
        }
        func result(_ last: ProbeStatus.LastCheck?) -> String { last.map { $0.reason?.rawValue ?? "ok" } ?? "-" }
        var table = TextTable(["PROBE", "STATE", "LAST CHECK", "RESULT", "LATENCY", "UPTIME 1H", "P95 1H", "INCIDENT"], leftColumns: 4,
                              capacity: rows.reduce(rows.count) { $0 + $1.locations.count })
        for row in rows {
            let s = row.status
            let state = row.quiet == nil ? Terminal.paint(row.state.description, Terminal.colour(of: row.state)) : row.stateText(now: now)
            table.append(s.name, state, age(s.last), result(s.last),
                         S.latency(s.last?.latency), S.percent(s.uptime1h), S.latency(s.p95_1h), row.incidentCell(now: now))
            // One location: the probe's line says it all, as with SQLite.
            guard row.locations.count > 1 else { continue }
            for l in row.locations {
                table.append("  └ " + l.location, Terminal.paint(l.state.description, Terminal.colour(of: l.state)), age(l.last), result(l.last),
                             S.latency(l.last?.latency), S.percent(l.uptime1h), S.latency(l.p95_1h), "-")
            }
        }
        return table
    }
}
