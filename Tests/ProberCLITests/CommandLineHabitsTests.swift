import CSQLite3
import Foundation
import ProberTestSupport
import Testing

/// What a person's habits expect of a command line: `--version`, examples in every `--help`, shell
/// completions, and a man page that lists what the binary has. All through the built binary.
@Suite("Command-line habits")
struct CommandLineHabitsTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// One command of `prober --experimental-dump-help` (argument-parser's ToolInfoV0), with its path.
    struct Command {
        var path: [String]
        var displayed: Bool
        var longOptions: Set<String>
    }

    /// Every command the binary defines, the root first, from its own dump of its definitions.
    static func commands() throws -> [Command] {
        let dump = try ProberBinary.run(["--experimental-dump-help"])
        try #require(dump.status == 0, "\(dump.stderr)")
        let root = try #require(try JSONSerialization.jsonObject(with: Data(dump.stdout.utf8)) as? [String: Any])
        var all: [Command] = []
        func walk(_ command: [String: Any], _ path: [String]) {
            let arguments = command["arguments"] as? [[String: Any]] ?? []
            let long = arguments.filter { $0["shouldDisplay"] as? Bool ?? true }.flatMap { argument in
                (argument["names"] as? [[String: Any]] ?? []).filter { $0["kind"] as? String == "long" }.compactMap { $0["name"] as? String }
            }
            all.append(Command(path: path, displayed: command["shouldDisplay"] as? Bool ?? true, longOptions: Set(long.map { "--" + $0 })))
            for sub in command["subcommands"] as? [[String: Any]] ?? [] {
                walk(sub, path + [sub["commandName"] as? String ?? "?"])
            }
        }
        walk(try #require(root["command"] as? [String: Any]), [])
        return all
    }

    @Test func versionNamesProberAndTheLibrariesItRunsOn() throws {
        let r = try ProberBinary.run(["--version"])
        #expect(r.status == 0)
        let line = r.stdout.trimmingCharacters(in: .newlines)
        #expect(line.wholeMatch(of: /prober \d+\.\d+\.\d+ \(libcurl \d+\.\d+\.\d+[^,]*, SQLite \d+\.\d+\.\d+\)/) != nil, "\(line)")
        #expect(line.hasSuffix("SQLite \(String(cString: sqlite3_libversion())))"), "\(line)")
        #expect(!r.stdout.dropLast().contains("\n"), "one line: \(r.stdout)")
    }

    @Test func everySubcommandsHelpEndsWithExamplesOfItself() throws {
        let commands = try Self.commands().filter { $0.displayed && $0.path.first != "help" }
        #expect(commands.count >= 12)
        for command in commands {
            let r = try ProberBinary.run(command.path + ["--help"])
            #expect(r.status == 0)
            guard let examples = r.stdout.range(of: "EXAMPLES:\n") else {
                Issue.record("prober \(command.path.joined(separator: " ")) --help has no EXAMPLES:\n\(r.stdout)")
                continue
            }
            let lines = r.stdout[examples.upperBound...].split(separator: "\n")
            let invoked = "prober " + command.path.joined(separator: " ")
            #expect(lines.allSatisfy { $0.hasPrefix("  ") }, "\(invoked) --help does not end with its examples:\n\(r.stdout)")
            #expect(lines.count >= 2 && lines.allSatisfy { $0.contains("prober ") },
                    "\(invoked): \(lines)")
            #expect(lines.contains { $0.contains(command.path.isEmpty ? "prober " : invoked) }, "\(invoked): \(lines)")
        }
    }

    @Test func helpAsASubcommandIsTheSameAsTheFlag() throws {
        let flag = try ProberBinary.run(["incidents", "show", "--help"])
        let subcommand = try ProberBinary.run(["help", "incidents", "show"])
        #expect(flag.status == 0 && subcommand.status == 0)
        #expect(flag.stdout == subcommand.stdout)
        #expect(flag.stdout.hasPrefix("OVERVIEW: Show one incident"), "\(flag.stdout)")
        // Not help: a usage error still goes to stderr with exit status 64.
        let wrong = try ProberBinary.run(["incidents", "show"])
        #expect(wrong.status == 64 && wrong.stderr.contains("Missing expected argument"), "\(wrong.stderr)")
    }

    @Test func theBashCompletionParsesAndOffersTheSubcommands() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let r = try ProberBinary.run(["--generate-completion-script", "bash"])
        #expect(r.status == 0)
        let script = try directory.write("prober.bash", r.stdout)
        #expect(try Self.shell(["bash", "-n", script]).status == 0)

        // As bash-completion would: the function `complete -p prober` names, called with COMP_WORDS etc.
        func complete(_ line: String) throws -> Set<String> {
            let words = line.split(separator: " ", omittingEmptySubsequences: false).map { "'\($0)'" }.joined(separator: " ")
            let program = """
                source '\(script)'
                function=$(complete -p prober | sed -E 's/.* -F ([^ ]+) .*/\\1/')
                COMP_LINE='\(line)'; COMP_POINT=${#COMP_LINE}; COMP_WORDS=(\(words)); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
                "$function" prober "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
                printf '%s\\n' "${COMPREPLY[@]}"
                """
            let out = try Self.shell(["bash", "-c", program])
            #expect(out.status == 0, "\(out.stderr)")
            return Set(out.stdout.split(separator: "\n").map(String.init))
        }
        let top = try complete("prober ")
        #expect(top.isSuperset(of: ["run", "check", "once", "history", "status", "incidents", "deliveries"]), "\(top)")
        #expect(!top.contains("demo-target") && !top.contains("bench-scheduler"), "hidden commands offered: \(top)")
        #expect(try complete("prober incidents ").isSuperset(of: ["list", "show"]))
        #expect(try complete("prober status --").isSuperset(of: ["--db", "--json"]))
    }

    @Test func zshAndFishCompletionsAreGenerated() throws {
        for (shell, marker) in [("zsh", "#compdef prober"), ("fish", "complete -c 'prober'")] {
            let r = try ProberBinary.run(["--generate-completion-script", shell])
            #expect(r.status == 0 && r.stdout.contains(marker), "\(shell): \(r.stdout.prefix(200))")
        }
    }

    /// The deploy files install the completions: the container's bash one, and on a host the three commands
    /// deploy/README.md gives, run here as written (into a temporary folder instead of /usr/local/share).
    @Test func theDeployFilesInstallTheCompletions() throws {
        let containerfile = try String(contentsOf: Self.repository.appendingPathComponent("deploy/container/Containerfile"), encoding: .utf8)
        #expect(containerfile.contains("/out/prober --generate-completion-script bash > /out/prober.bash"))
        #expect(containerfile.contains("COPY --from=build /out/prober.bash /usr/share/bash-completion/completions/prober"))

        let readme = try String(contentsOf: Self.repository.appendingPathComponent("deploy/README.md"), encoding: .utf8)
        let commands = readme.split(separator: "\n").filter { $0.hasPrefix("prober --generate-completion-script ") }
        #expect(commands.count == 3, "\(commands)")
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        for command in commands {
            let local = command.replacingOccurrences(of: "sudo ", with: "")
                .replacingOccurrences(of: "/usr/local/share", with: directory.path)
                .replacingOccurrences(of: "prober --generate", with: ProberBinary.url.path + " --generate")
            let r = try Self.shell(["bash", "-o", "pipefail", "-c", local])
            #expect(r.status == 0, "\(local): \(r.stderr)")
        }
        for file in ["bash-completion/completions/prober", "zsh/site-functions/_prober", "fish/vendor_completions.d/prober.fish"] {
            let size = (try? FileManager.default.attributesOfItem(atPath: directory.path + "/" + file)[.size] as? Int) ?? 0
            #expect(size > 1_000, "\(file): \(size) bytes")
        }
        #expect(try Self.shell(["bash", "-n", directory.path + "/bash-completion/completions/prober"]).status == 0)
    }

    /// docs/prober.1 is generated (`make man`) and committed: it must list exactly the commands and options the
    /// binary has, each option under its own command.
    @Test func theCommittedManPageListsEveryCommandAndOption() throws {
        let page = try String(contentsOf: Self.repository.appendingPathComponent("docs/prober.1"), encoding: .utf8)
        // The page nests a `.Bl … .El` list under each `.It Em COMMAND`; options are `.It Fl -NAME …`.
        var stack: [[String]] = []
        var pending: [String] = []
        var found: [String: Set<String>] = [:]
        for line in page.split(separator: "\n") {
            let words = line.split(separator: " ").map(String.init)
            switch words.first {
            case ".Bl": stack.append(pending)
            case ".El": stack.removeLast(); pending = stack.last ?? []
            case ".It" where words.count > 2 && words[1] == "Em":
                pending = (stack.last ?? []) + [words[2]]
                found[pending.joined(separator: " "), default: []].formUnion([])
            case ".It" where words.count > 1 && words[1] == "Fl":
                let owner = (stack.last ?? []).joined(separator: " ")
                for word in words.dropFirst(2) where word.hasPrefix("-") { found[owner, default: []].insert("-" + word) }
            default: break
            }
        }
        let commands = try Self.commands()
        let expected = Dictionary(uniqueKeysWithValues: commands.map { ($0.path.joined(separator: " "), $0.longOptions) })
        #expect(Set(found.keys) == Set(expected.keys), "run `make man`: the page's commands differ from the binary's")
        for (command, options) in expected {
            #expect(found[command] == options, "run `make man`: `prober \(command)` has \(options.sorted()), the page \((found[command] ?? []).sorted())")
        }
    }

    static func shell(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
    }
}
