import ArgumentParser
import Foundation
import ProberCore
import ProberDocuments
import ProberStorage

/// `prober incidents`: what the evaluator opened, from the database (read-only).
struct IncidentsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "incidents",
        abstract: "List incidents, or show one with its timeline.",
        discussion: """
            EXAMPLES:
              prober incidents --open
              prober incidents --since 30d --db /var/lib/prober/prober.db
              prober incidents show 12
            """,
        subcommands: [List.self, Show.self],
        defaultSubcommand: List.self
    )

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "List incidents, newest first.",
            discussion: """
                EXAMPLES:
                  prober incidents list --open
                  prober incidents list --since 24h --json
                """)

        @Flag(name: .long, help: "Only incidents that are not resolved.")
        var open = false

        @Option(name: .long, help: ArgumentHelp("Incidents opened (or still open) in this period: 7d, 24h, or an ISO 8601 time.", valueName: "when"))
        var since: String = "7d"

        @OptionGroup var database: DatabaseOptions
        @OptionGroup var output: OutputOptions

        func validate() throws {
            guard TimeArgument.parse(since, now: 0) != nil else {
                throw ValidationError("--since '\(since)' is neither a duration (7d, 24h, 90m) nor an ISO 8601 time")
            }
        }

        func run() throws {
            let store = StoreCommandSupport.openStorage(database.db)
            let now = StoreCommandSupport.nowMicroseconds
            let incidents: [StoredIncident]
            do {
                incidents = try store.incidents(since: TimeArgument.parse(since, now: now), openOnly: open)
            } catch {
                StoreCommandSupport.fail("\(error)")
            }
            if output.json {
                print(IncidentDocuments.list(incidents, now: now).pretty)
                return
            }
            guard !incidents.isEmpty else {
                print(open ? "no open incidents" : "no incidents since \(since)")
                return
            }
            let rows = incidents.map { s -> [String] in
                let i = s.incident
                // Coloured while open by severity; the stage says recovering (monitoring) or resolved.
                let status = Terminal.paint(i.status.rawValue, i.stage == .resolved ? nil : Terminal.colour(of: i.status))
                let stage = Terminal.paint(i.stage.rawValue, i.stage == .monitoring ? .cyan : i.stage == .resolved ? .green : nil)
                let probe = i.members.count > 1 ? "\(i.probe) +\(Set(i.members.map(\.probe)).count - 1)" : i.probe
                return ["#\(i.id)", probe, status, stage, UTCTime.dateTime(i.createdAt),
                        Human.span(seconds: max(0, (i.resolvedAt ?? now) - i.createdAt) / 1_000_000),
                        IncidentDocuments.delivery(s, now: now), i.title]
            }
            print(StoreCommandSupport.table(["ID", "PROBE", "STATUS", "STAGE", "OPENED", "DURATION", "DELIVERY", "TITLE"], rows, leftColumns: 8))
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "show",
            abstract: "Show one incident with its full timeline.",
            discussion: """
                EXAMPLES:
                  prober incidents show 12
                  prober incidents show '#12' --json
                """)

        @Argument(help: "The incident's id (as `prober incidents` lists it, with or without #).")
        var id: String

        @OptionGroup var database: DatabaseOptions
        @OptionGroup var output: OutputOptions

        func validate() throws {
            guard Int64(id.hasPrefix("#") ? String(id.dropFirst()) : id) != nil else {
                throw ValidationError("'\(id)' is not an incident id (a number, as `prober incidents` lists it)")
            }
        }

        func run() throws {
            let store = StoreCommandSupport.openStorage(database.db)
            let now = StoreCommandSupport.nowMicroseconds
            let number = Int64(id.hasPrefix("#") ? String(id.dropFirst()) : id)!
            let found: StoredIncident?
            do { found = try store.incident(id: number) } catch { StoreCommandSupport.fail("\(error)") }
            guard let s = found else { StoreCommandSupport.fail("no incident #\(number) in \(database.displayDB)") }
            if output.json {
                print(IncidentDocuments.one(s, now: now).pretty)
                return
            }
            let i = s.incident
            var lines = ["#\(i.id) \(i.title)",
                         "probe: \(i.probe)  status: \(i.status.rawValue)  stage: \(i.stage.rawValue)"]
            if !i.members.isEmpty {
                lines.append("probes: " + i.members.map { m in
                    m.leftAt.map { "\(m.probe) (left \(UTCTime.time($0, relativeTo: now)))" } ?? m.probe
                }.joined(separator: ", "))
            }
            var opened = "opened: \(UTCTime.dateTime(i.createdAt))"
            if let r = i.resolvedAt {
                opened += "  resolved: \(UTCTime.dateTime(r)) (after \(Human.span(seconds: max(0, r - i.createdAt) / 1_000_000)))"
            } else {
                opened += "  open for \(Human.span(seconds: max(0, now - i.createdAt) / 1_000_000))"
            }
            lines.append(opened)
            lines.append("delivery: " + IncidentDocuments.delivery(s, now: now) + (s.isdownID.map { " (IsDown id \($0))" } ?? ""))
            for d in s.deliveries where d.state != .delivered {
                lines.append("  \(d.method) to \(d.sink): \(d.state.rawValue), \(d.attempts) attempts" + (d.lastError.map { ", last: \($0)" } ?? ""))
            }
            lines.append("")
            lines.append("timeline:")
            for u in i.updates {
                lines.append("  \(UTCTime.dateTime(u.createdAt))  \(u.kind.rawValue) (\(u.stage.rawValue), \(u.status.rawValue))")
                lines.append("    \(u.description)")
            }
            print(lines.joined(separator: "\n"))
        }
    }
}
