import ArgumentParser
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
        subcommands: [RunCommand.self, Check.self, Once.self, HistoryCommand.self, StatusCommand.self, IncidentsCommand.self,
                      DeliveriesCommand.self, DemoTarget.self, BenchScheduler.self]
    )

    /// `prober 0.4.0 (libcurl 7.88.1, SQLite 3.40.1)`: the libraries as loaded at run time, which is what a
    /// bug report needs (a distribution's update changes them without rebuilding prober).
    static var versionLine: String {
        "prober \(proberVersion) (libcurl \(libcurlVersion()), SQLite \(sqliteVersion()))"
    }
}
