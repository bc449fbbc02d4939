import ArgumentParser
import Foundation
import ProberConfig
import ProberCore

/// `prober check [DIR]`: loads the probe files and reports every problem, or a one-line summary.
struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the probe files: print every problem as path:line:column: message, or a summary.",
        discussion: "Exits 0 when every file is valid, 1 when there is any problem."
    )

    @Argument(help: ArgumentHelp("Directory of probe files (overrides --probes).", valueName: "dir"))
    var directory: String?

    @OptionGroup var probesOptions: ProbesOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        let dir = directory ?? probesOptions.probes
        do {
            let set = try ProbeLoader.load(directory: dir)
            if output.json {
                print(json(["probes": set.probes.count, "files": set.files.count, "names": set.probes.map(\.name)]))
            } else {
                print("\(count(set.probes.count, "probe")) in \(count(set.files.count, "file"))")
            }
        } catch {
            var stderr = StandardError()
            print(error, to: &stderr)
            let shown = error.omitted > 0 ? " (the first \(error.diagnostics.count) shown)" : ""
            print("\(count(error.count, "problem")) in \(dir)\(shown)", to: &stderr)
            if output.json {
                let problems = error.diagnostics.map { d -> [String: Any] in
                    ["file": d.location.file, "line": d.location.line, "column": d.location.column, "message": d.message]
                }
                print(json(error.omitted > 0 ? ["problems": problems, "omitted": error.omitted] : ["problems": problems]))
            }
            throw ExitCode(1)
        }
    }

    private func count(_ n: Int, _ noun: String) -> String { "\(n) \(noun)\(n == 1 ? "" : "s")" }

    private func json(_ object: [String: Any]) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}

/// Standard error as a `TextOutputStream` for `print(_:to:)`.
private struct StandardError: TextOutputStream {
    mutating func write(_ string: String) { FileHandle.standardError.write(Data(string.utf8)) }
}
