import ArgumentParser
import Foundation
import ProberCore
import ProberStorage

/// `prober incidents`: what the evaluator opened, from the database (read-only).
struct IncidentsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "incidents",
        abstract: "List incidents, or show one with its timeline.",
        subcommands: [List.self, Show.self],
        defaultSubcommand: List.self
    )

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List incidents, newest first.")

        @Flag(name: .long, help: "Only incidents that are not resolved.")
        var open = false

        @Option(name: .long, help: ArgumentHelp("Incidents opened (or still open) in this period: 7d, 24h, or an ISO 8601 time.", valueName: "when"))
        var since: String = "7d"

        @OptionGroup var database: DatabaseOptions
        @OptionGroup var output: OutputOptions

        func validate() throws {
            guard StoreCommandSupport.parseTime(since, now: 0) != nil else {
                throw ValidationError("--since '\(since)' is neither a duration (7d, 24h, 90m) nor an ISO 8601 time")
            }
        }

        func run() throws {
            let store = StoreCommandSupport.openStorage(database.db)
            let now = StoreCommandSupport.nowMicroseconds
            let incidents: [StoredIncident]
            do {
                incidents = try store.incidents(since: StoreCommandSupport.parseTime(since, now: now), openOnly: open)
            } catch {
                StoreCommandSupport.fail("\(error)")
            }
            if output.json {
                print(JSONValue.object(["data": .array(incidents.map { IncidentsCommand.document($0, now: now) })]).pretty)
                return
            }
            guard !incidents.isEmpty else {
                print(open ? "no open incidents" : "no incidents since \(since)")
                return
            }
            let rows = incidents.map { s -> [String] in
                let i = s.incident
                return ["#\(i.id)", i.probe, i.status.rawValue, i.stage.rawValue, UTCTime.dateTime(i.createdAt),
                        Human.span(seconds: max(0, (i.resolvedAt ?? now) - i.createdAt) / 1_000_000),
                        IncidentsCommand.delivery(s, now: now), i.title]
            }
            print(StoreCommandSupport.table(["ID", "PROBE", "STATUS", "STAGE", "OPENED", "DURATION", "DELIVERY", "TITLE"], rows, leftColumns: 8))
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "Show one incident with its full timeline.")

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
                print(JSONValue.object(["data": IncidentsCommand.document(s, now: now)]).pretty)
                return
            }
            let i = s.incident
            var lines = ["#\(i.id) \(i.title)",
                         "probe: \(i.probe)  status: \(i.status.rawValue)  stage: \(i.stage.rawValue)"]
            var opened = "opened: \(UTCTime.dateTime(i.createdAt))"
            if let r = i.resolvedAt {
                opened += "  resolved: \(UTCTime.dateTime(r)) (after \(Human.span(seconds: max(0, r - i.createdAt) / 1_000_000)))"
            } else {
                opened += "  open for \(Human.span(seconds: max(0, now - i.createdAt) / 1_000_000))"
            }
            lines.append(opened)
            lines.append("delivery: " + IncidentsCommand.delivery(s, now: now) + (s.isdownID.map { " (IsDown id \($0))" } ?? ""))
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

    /// `local` (nothing to send), `delivered`, `pending (next in 30 s: HTTP 503)` or `failed: HTTP 401: …`.
    static func delivery(_ s: StoredIncident, now: Int64) -> String {
        guard !s.deliveries.isEmpty else { return "local" }
        if let failed = s.deliveries.first(where: { $0.state == .failed }) {
            return "failed: " + (failed.lastError ?? "unknown")
        }
        if let pending = s.deliveries.first(where: { $0.state == .pending }) {
            let wait = max(0, pending.nextAttemptAt - now) / 1_000_000
            var text = "pending (" + (wait == 0 ? "due now" : "next in \(Human.span(seconds: wait))")
            if let error = pending.lastError { text += ": \(error)" }
            return text + ")"
        }
        return "delivered"
    }

    /// The IsDown document shape, with the delivery state beside the attributes.
    static func document(_ s: StoredIncident, now: Int64) -> JSONValue {
        let deliveries: [JSONValue] = s.deliveries.map { d in
            .object([
                "sink": .string(d.sink), "method": .string(d.method), "state": .string(d.state.rawValue),
                "attempts": .int(Int64(d.attempts)),
                "next_attempt_at": d.state == .pending ? .string(UTCTime.iso8601(d.nextAttemptAt)) : .null,
                "last_error": d.lastError.map { .string($0) } ?? .null,
            ])
        }
        return IncidentDocument.json(s.incident, remoteID: s.isdownID, extra: [
            "delivery": .string(delivery(s, now: now)),
            "deliveries": .array(deliveries),
        ])
    }
}
