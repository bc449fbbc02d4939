import ArgumentParser
import Foundation
import ProberBackends
import ProberCore
import ProberDocuments
import ProberStorage

/// `prober silence`: planned work on some probes (or all) for a while; a running prober honours it within a second.
struct SilenceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "silence",
        abstract: "Silence probes for a while: checks go on and are stored, no incident opens or escalates.",
        discussion: """
            The silence is written to the history (--db), where every running prober reading it honours it within \\
            a second, without a reload (on PostgreSQL, every prober of the fleet). An incident already open gets \\
            one timeline note that maintenance started; when the silence ends, a degradation must hold its `for` \\
            again before an incident opens. Prints the silence's id (for prober unsilence).
            Exit status: 0 silenced, 1 the history cannot be written (or does not exist), 2 an unknown probe name.

            EXAMPLES:
              prober silence checkout-api payments --for 30m --reason "deploy 1.42"
              prober silence --all --for 2h --reason "network maintenance"
            """
    )

    @Argument(help: "The probes to silence, as prober status lists them.")
    var names: [String] = []

    @Flag(help: "Silence every probe, including probes added later.")
    var all = false

    @Option(name: .customLong("for"), help: "How long: 250ms, 30s, 30m, 2h, 1d.")
    var duration: String

    @Option(help: "Why, for the incident timeline and prober silences.")
    var reason: String = ""

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        if all, !names.isEmpty { throw ValidationError("give probe names or --all, not both") }
        if !all, names.isEmpty { throw ValidationError("name the probes to silence, or give --all") }
        guard let d = Duration(parsing: duration), d > .zero else {
            throw ValidationError("--for '\(duration)' is not a duration; write e.g. 30m, 2h or 500ms")
        }
    }

    func run() throws {
        let storage = SilenceCommand.openWritable(database)
        if !all {
            let known: [String]
            do { known = try storage.probeNames() } catch { StoreCommandSupport.fail("\(error)") }
            let unknown = names.filter { !known.contains($0) }
            if !unknown.isEmpty {
                let lines = unknown.map { HistoryDocument.unknownProbe($0, known: known, in: database.displayDB) }
                StoreCommandSupport.fail(lines.joined(separator: "\nprober: ") + "\nnothing was silenced", exitCode: 2)
            }
        }
        let now = StoreCommandSupport.nowMicroseconds
        let length = Duration(parsing: duration)!.microseconds
        let silence: Silence
        do {
            var seen: Set<String> = []
            silence = try storage.addSilence(NewSilence(probes: names.filter { seen.insert($0).inserted }, reason: reason,
                                                        startsAt: now, endsAt: now + length, createdBy: Self.requester))
        } catch {
            StoreCommandSupport.fail("\(error)")
        }
        if output.json {
            print(SilencesDocument.json([silence], now: now).pretty)
        } else {
            print("silence #\(silence.id): \(silence.probeList) until \(UTCTime.dateTime(silence.endsAt))"
                + (reason.isEmpty ? "" : " (\(reason))") + "; prober unsilence \(silence.id) ends it sooner")
        }
    }

    /// Opens the history for writing, or exits 1 naming it: it must exist (prober run creates it).
    static func openWritable(_ database: DatabaseOptions) -> any Storage {
        guard RedactedDatabaseURL.isServerURL(database.db) || FileManager.default.fileExists(atPath: database.db) else {
            StoreCommandSupport.fail("no database file at \(database.db) (prober run creates it; check --db)")
        }
        do {
            return try StorageBackend.open(database: database.db, readOnly: false)
        } catch {
            StoreCommandSupport.fail("\(error)", exitCode: (error as? any StorageError)?.kind == .configuration ? 2 : 1)
        }
    }

    /// `user@host`: who asked, for prober silences.
    static var requester: String {
        let user = ProcessInfo.processInfo.environment["USER"].flatMap { $0.isEmpty ? nil : $0 } ?? ProcessInfo.processInfo.userName
        return "\(user)@\(ProcessInfo.processInfo.hostName)"
    }
}

/// `prober silences`: the silences in force and those that ended in the last day.
struct SilencesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "silences",
        abstract: "List the silences in force and those that ended in the last day.",
        discussion: """
            Read-only (safe while the daemon runs). STATE is active, lifted (ended by prober unsilence) or ended.
            Maintenance windows of the probe files are not listed here: prober status shows a probe in one.

            EXAMPLES:
              prober silences
              prober silences --json
            """
    )

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        let storage = StoreCommandSupport.openStorage(database.db)
        let now = StoreCommandSupport.nowMicroseconds
        let silences: [Silence]
        do { silences = try storage.silences(now: now, endedSince: now - 86_400_000_000) } catch { StoreCommandSupport.fail("\(error)") }
        if output.json {
            print(SilencesDocument.json(silences, now: now).pretty)
        } else if silences.isEmpty {
            print("no silence in force or ended in the last day")
        } else {
            let rows = silences.map { s -> [String] in
                let state = SilencesDocument.state(s, now: now)
                let colour: Terminal.Colour? = state == "active" ? .yellow : nil
                let until = s.active(at: now) ? UTCTime.time(s.end, relativeTo: now)
                    : "ended " + Human.ago(seconds: max(0, now - s.end) / 1_000_000)
                return ["#\(s.id)", Terminal.paint(state, colour), s.probeList, until, s.reason.isEmpty ? "-" : s.reason, s.createdBy]
            }
            print(StoreCommandSupport.table(["ID", "STATE", "PROBES", "UNTIL", "REASON", "BY"], rows, leftColumns: 3))
        }
    }
}

/// `prober unsilence ID`: ends a silence now.
struct UnsilenceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unsilence",
        abstract: "End a silence now; a running prober honours it within a second.",
        discussion: """
            From the next check, a degradation must hold its `for` before an incident opens (the time silenced \\
            does not count). Ending a silence that already ended changes nothing.
            Exit status: 0 ended (or already ended), 1 no silence has that id or the history cannot be written.

            EXAMPLES:
              prober unsilence 3
              prober unsilence 3 --db postgres://prober@db.internal/prober
            """
    )

    @Argument(help: "The silence's id, as prober silence printed it and prober silences lists it.")
    var id: Int64

    @OptionGroup var database: DatabaseOptions

    func run() throws {
        let storage = SilenceCommand.openWritable(database)
        let now = StoreCommandSupport.nowMicroseconds
        let lifted: Silence?
        do { lifted = try storage.liftSilence(id: id, at: now) } catch { StoreCommandSupport.fail("\(error)") }
        guard let lifted else { StoreCommandSupport.fail("no silence with id \(id) (prober silences lists them)") }
        if lifted.liftedAt == now {
            print("silence #\(id) (\(lifted.probeList)) ended")
        } else {
            print("silence #\(id) (\(lifted.probeList)) had already ended at \(UTCTime.dateTime(lifted.end)); nothing changed")
        }
    }
}
