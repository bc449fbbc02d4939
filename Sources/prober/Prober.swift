import ArgumentParser
import Foundation
import ProberCore
import ProberProbes
import ProberStore

@main
struct Prober: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prober",
        abstract: "A synthetic health prober: HTTP and TCP probes, latency history, graded incidents.",
        discussion: """
            EXAMPLES:
              prober check probes/
              prober run --probes probes --listen 127.0.0.1:9464
              prober status --db /var/lib/prober/prober.db
            """,
        version: versionLine,
        subcommands: [RunCommand.self, Check.self, Once.self, HistoryCommand.self, StatusCommand.self, FleetCommand.self, IncidentsCommand.self,
                      SilenceCommand.self, SilencesCommand.self, UnsilenceCommand.self, DeliveriesCommand.self, ReportCommand.self, DemoTarget.self, BenchScheduler.self, BenchMaintain.self]
    )

    /// argument-parser's own `main`, except that `--help` (and `prober help …`) ends with the command's examples.
    /// They are written in the discussion, which the man page and `--experimental-dump-help` carry too, and
    /// which argument-parser prints under OVERVIEW; a reader looks for them last, after the options.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let message = fullMessage(for: error)
            guard exitCode(for: error) == .success, message.hasPrefix("OVERVIEW:") else { exit(withError: error) }
            print(examplesLast(message))
        }
    }

    /// `help` with its `EXAMPLES:` block (up to the next blank line) moved to the end.
    static func examplesLast(_ help: String) -> String {
        guard let start = help.range(of: "\nEXAMPLES:\n") else { return help }
        let end = help[start.upperBound...].range(of: "\n\n")?.lowerBound ?? help.endIndex
        let examples = help[help.index(after: start.lowerBound)..<end]
        let rest = help[..<start.lowerBound] + help[end...].dropFirst()
        return rest.trimmingCharacters(in: .whitespacesAndNewlines) + "\n\n" + examples
    }

    /// `prober 0.4.0 (libcurl 7.88.1, SQLite 3.40.1)`: the libraries as loaded at run time, which is what a
    /// bug report needs (a distribution's update changes them without rebuilding prober).
    static var versionLine: String {
        "prober \(proberVersion) (libcurl \(libcurlVersion()), SQLite \(sqliteVersion()))"
    }
}
