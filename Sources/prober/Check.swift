import ArgumentParser
import Foundation
import ProberConfig
import ProberCore

/// `prober check [DIR]`: loads the probe files and reports every problem, or a one-line summary.
struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the probe files: print every problem as path:line:column: message, or a summary.",
        discussion: """
            Exits 0 when every file is valid, 1 when there is any problem.

            EXAMPLES:
              prober check probes/
              prober check --probes /etc/prober
              prober check /etc/prober --json
            """
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
                print(JSONValue.object(["probes": JSONValue(set.probes.count), "files": JSONValue(set.files.count),
                                        "names": .array(set.probes.map { .string($0.name) })]).encoded)
            } else {
                print("\(Human.count(set.probes.count, "probe")) in \(Human.count(set.files.count, "file"))")
            }
        } catch {
            var stderr = StandardError()
            print(error, to: &stderr)
            let shown = error.omitted > 0 ? " (the first \(error.diagnostics.count) shown)" : ""
            print("\(Human.count(error.count, "problem")) in \(dir)\(shown)", to: &stderr)
            if output.json {
                let problems = error.diagnostics.map { d -> JSONValue in
                    .object(["file": .string(d.location.file), "line": JSONValue(d.location.line),
                             "column": JSONValue(d.location.column), "message": .string(d.message)])
                }
                var document: [String: JSONValue] = ["problems": .array(problems)]
                if error.omitted > 0 { document["omitted"] = JSONValue(error.omitted) }
                print(JSONValue.object(document).encoded)
            }
            throw ExitCode(1)
        }
    }
}

/// Standard error as a `TextOutputStream` for `print(_:to:)`.
private struct StandardError: TextOutputStream {
    mutating func write(_ string: String) { FileHandle.standardError.write(Data(string.utf8)) }
}
