import ArgumentParser
import Foundation
import ProberCore
import ProberDocuments
import ProberWeb

/// `prober report`: one self-contained HTML file with the charts and incidents of a range, for a postmortem.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write one self-contained HTML file with the charts and incidents of a range.",
        discussion: """
            The file has its style inline and no script: it opens from disk, by mail or in a ticket. \
            Without NAME every probe in the history is reported.

            EXAMPLES:
              prober report --out week.html
              prober report checkout-api --since 24h --out checkout.html
              prober report --since 2026-11-27T06:00:00Z --out incident.html
            """
    )

    @Argument(help: "Probes to report (default: every probe).")
    var names: [String] = []

    @Option(help: ArgumentHelp("Start of the range: a duration before now or an ISO 8601 time.", valueName: "time"))
    var since: String = "7d"

    @Option(help: ArgumentHelp("The HTML file to write.", valueName: "file"))
    var out: String

    @OptionGroup var database: DatabaseOptions

    func validate() throws {
        let now = StoreCommandSupport.nowMicroseconds
        guard let start = TimeArgument.parse(since, now: now) else {
            throw ValidationError("--since '\(since)' is neither a duration (24h, 7d) nor an ISO 8601 time")
        }
        if start >= now { throw ValidationError("--since must be in the past") }
    }

    func run() throws {
        let now = StoreCommandSupport.nowMicroseconds
        let start = TimeArgument.parse(since, now: now)!
        let storage = StoreCommandSupport.openStorage(database.db)
        let known = (try? storage.probeNames()) ?? []
        for name in names where !known.contains(name) {
            StoreCommandSupport.fail(HistoryDocument.unknownProbe(name, known: known, in: database.displayDB))
        }
        let page: HTML
        do {
            page = try ReportPage.render(names: names, since: start, storage: storage, now: now)
        } catch {
            StoreCommandSupport.fail("\(error)")
        }
        do {
            try Data(page.markup.utf8).write(to: URL(fileURLWithPath: out), options: .atomic)
        } catch {
            StoreCommandSupport.fail("cannot write \(out): \(error.localizedDescription)")
        }
        print("wrote \(out) (\(page.markup.utf8.count / 1024) KiB, \(names.isEmpty ? known.count : names.count) probes)")
    }
}
