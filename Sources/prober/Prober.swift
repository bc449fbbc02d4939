import ArgumentParser

@main
struct Prober: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prober",
        abstract: "A synthetic health prober: HTTP and TCP probes, latency history, graded incidents.",
        subcommands: [RunCommand.self, Check.self, Once.self, HistoryCommand.self, StatusCommand.self, IncidentsCommand.self,
                      DeliveriesCommand.self, ReportCommand.self, DemoTarget.self, BenchScheduler.self]
    )
}
