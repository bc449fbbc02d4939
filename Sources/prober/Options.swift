import ArgumentParser
import Foundation
import ProberEngine
import ProberStorage

/// `--probes DIR`: where the probe files are.
struct ProbesOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Directory of probe files (*.yaml, *.yml, read recursively).", valueName: "dir"))
    var probes: String = "./probes"
}

/// `--db PATH|URL`: the history, a SQLite file or a PostgreSQL URL; `PROBER_DB` when the flag is left out.
struct DatabaseOptions: ParsableArguments {
    static let defaultPath = "./prober.db"

    @Option(name: .long, help: ArgumentHelp(
        "SQLite database file, or a PostgreSQL URL (postgres://user@host:5432/db?sslmode=require; the password from "
            + "PGPASSWORD, PGPASSFILE or the file named by PROBER_DB_PASSWORD_FILE). Default: $PROBER_DB, else ./prober.db.",
        valueName: "path|url"))
    var db: String = ProcessInfo.processInfo.environment["PROBER_DB"].flatMap { $0.isEmpty ? nil : $0 } ?? DatabaseOptions.defaultPath

    /// `--db` as messages show it: a URL without its password.
    var displayDB: String { RedactedDatabaseURL(db).description }
}

/// `--json`: machine-readable output.
struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Print JSON instead of text.")
    var json = false
}

/// `--max-in-flight N`: the most checks running at once, for `run` and `once` alike (the scheduler's default).
struct InFlightOptions: ParsableArguments {
    @Option(name: .long, help: "Most checks in flight at once; the rest wait their turn (in 'run', their wait counts as lateness).")
    var maxInFlight: Int = Scheduler.Configuration().maxInFlight

    func validate() throws {
        guard maxInFlight >= 1 else { throw ValidationError("--max-in-flight must be at least 1") }
    }
}
