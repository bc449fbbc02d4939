import ArgumentParser

/// `--probes DIR`: where the probe files are.
struct ProbesOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Directory of probe files (*.yaml, *.yml, read recursively).", valueName: "dir"))
    var probes: String = "./probes"
}

/// `--db PATH`: the SQLite history.
struct DatabaseOptions: ParsableArguments {
    static let defaultPath = "./prober.db"

    @Option(name: .long, help: ArgumentHelp("SQLite database file.", valueName: "path"))
    var db: String = DatabaseOptions.defaultPath
}

/// `--json`: machine-readable output.
struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Print JSON instead of text.")
    var json = false
}
