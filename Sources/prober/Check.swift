import ArgumentParser
import Foundation
import ProberConfig
import ProberCore

/// `prober check [DIR]`: loads the probe files and reports every problem, or a one-line summary.
struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
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
            // Only quorums other than the default are shown: with one location (SQLite) they change nothing but a
            // number above 1, and a fleet's operator wants to see where they were set.
            let quorums = set.probes.filter { $0.incident.quorum != .majority }
            if output.json {
                var document: [String: JSONValue] = ["probes": JSONValue(set.probes.count), "files": JSONValue(set.files.count),
                                                     "names": .array(set.probes.map { .string($0.name) })]
                if !quorums.isEmpty {
                    document["quorum"] = .object(Dictionary(quorums.map { ($0.name, JSONValue.string($0.incident.quorum.description)) },
                                                            uniquingKeysWith: { a, _ in a }))
                }
                if !set.canaries.isEmpty {
                    document["connectivity"] = .array(set.canaries.map { .string(Connectivity.label($0.name)) })
                }
                print(JSONValue.object(document).encoded)
            } else {
                print("\(Human.count(set.probes.count, "probe")) in \(Human.count(set.files.count, "file"))")
                if !quorums.isEmpty {
                    let byRule = Dictionary(grouping: quorums, by: { $0.incident.quorum.description })
                    let parts = byRule.keys.sorted().map { rule in "\(rule) for \(byRule[rule]!.map(\.name).sorted().joined(separator: ", "))" }
                    print("incident quorum: \(parts.joined(separator: "; ")) (the others: majority)")
                }
                if !set.canaries.isEmpty {
                    // Not probes: what holds incidents while the prober's own network is down (docs/incidents.md).
                    print("connectivity canaries: \(set.canaries.map { Connectivity.label($0.name) }.joined(separator: ", "))")
                }
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
