import ArgumentParser
import ProberBackends
import Foundation
import ProberCore
import ProberStorage
import ProberStore

/// `prober deliveries`: the outbox of incident calls to IsDown and webhooks.
struct DeliveriesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deliveries",
        abstract: "List undelivered incident calls, or re-queue failed ones.",
        subcommands: [List.self, Retry.self],
        defaultSubcommand: List.self
    )

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List calls not delivered yet (pending or failed).")

        @OptionGroup var database: DatabaseOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let store = StoreCommandSupport.openStorage(database.db)
            let now = StoreCommandSupport.nowMicroseconds
            let items: [OutboxItem]
            do { items = try store.undelivered() } catch { StoreCommandSupport.fail("\(error)") }
            if output.json {
                print(JSONValue.array(items.map { d in
                    .object([
                        "id": .int(d.id), "incident_id": .int(d.incidentID), "sink": .string(d.sink), "method": .string(d.method),
                        "state": .string(d.state.rawValue), "attempts": .int(Int64(d.attempts)),
                        "next_attempt_at": .string(UTCTime.iso8601(d.nextAttemptAt)),
                        "last_error": d.lastError.map { .string($0) } ?? .null,
                    ])
                }).pretty)
                return
            }
            guard !items.isEmpty else { print("every incident call was delivered"); return }
            let rows = items.map { d -> [String] in
                let next = d.state == .pending ? Human.span(seconds: max(0, d.nextAttemptAt - now) / 1_000_000) : "-"
                return ["\(d.id)", "#\(d.incidentID)", d.sink, d.method, d.state.rawValue, "\(d.attempts)", next, d.lastError ?? "-"]
            }
            print(StoreCommandSupport.table(["ID", "INCIDENT", "SINK", "METHOD", "STATE", "ATTEMPTS", "NEXT IN", "LAST ERROR"], rows, leftColumns: 8))
        }
    }

    struct Retry: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "retry",
            abstract: "Re-queue failed calls (all, or one by id) once the key or service id is fixed.")

        @Argument(help: "The call's id, as `prober deliveries` lists it; all failed calls without it.")
        var id: Int64?

        @OptionGroup var database: DatabaseOptions

        func run() throws {
            guard RedactedDatabaseURL.isServerURL(database.db) || FileManager.default.fileExists(atPath: database.db) else {
                StoreCommandSupport.fail("no database file at \(database.db) (prober run creates it; check --db)")
            }
            let store: any Storage
            do { store = try StorageBackend.open(database: database.db, readOnly: false) } catch { StoreCommandSupport.fail("\(error)") }
            let count: Int
            do { count = try store.retryFailed(id: id, now: StoreCommandSupport.nowMicroseconds) } catch { StoreCommandSupport.fail("\(error)") }
            if let id, count == 0 { StoreCommandSupport.fail("no failed call with id \(id)") }
            print("\(Human.count(count, "call")) queued again; a running prober delivers them within seconds")
        }
    }
}
