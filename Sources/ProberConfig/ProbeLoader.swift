import Foundation
import ProberCore
import Yams

/// Loads a probes directory: every `*.yaml`/`*.yml` under it, read recursively in sorted order, merged,
/// validated, defaults applied.
public enum ProbeLoader {
    /// Loads the probe files under `directory` (or the one file, when `directory` names a file).
    ///
    /// Paths in the result and in diagnostics start with `directory` as given, so they read the way the
    /// user wrote it. Hidden files and folders (starting with `.`) are skipped.
    /// - Throws: every problem found, not just the first.
    public static func load(directory: String,
                            environment: [String: String] = ProcessInfo.processInfo.environment) throws(ConfigErrors) -> ProbeSet {
        let files: [String]
        do {
            files = try probeFiles(in: directory)
        } catch {
            throw ConfigErrors(diagnostics: [error])
        }

        var diagnostics: [Diagnostic] = []
        var omitted = 0
        var probes: [ProbeSpec] = []
        /// Where each probe name is first written, and in which file (its index in `files`).
        var nameLocations: [String: (location: SourceLocation, file: Int)] = [:]
        var storage: Located<StoragePolicy>?
        var notify: [NotifySink] = []
        var canaries: [ProbeSpec] = []

        for (fileIndex, path) in files.enumerated() {
            let reader: FileReader
            switch parse(path) {
            case .failure(let diagnostic):
                diagnostics.append(diagnostic)
                continue
            case .success(let document):
                reader = FileReader(path: path, document: document, environment: environment)
            }
            let contents = reader.readFile()
            diagnostics += reader.diagnostics
            omitted += reader.omitted

            probes += contents.probes
            nameLocations.reserveCapacity(nameLocations.count + contents.names.count)
            for entry in contents.names {
                if let first = nameLocations[entry.name] {
                    // A second entry of one file is pointed at where it starts, one of another file at its name.
                    diagnostics.append(Diagnostic(location: first.file == fileIndex ? entry.entry : entry.location,
                        message: "probe name '\(entry.name)' is already used at \(first.location); names must be unique across all probe files"))
                } else {
                    nameLocations[entry.name] = (entry.location, fileIndex)
                }
            }

            if let own = contents.storage {
                if let first = storage {
                    diagnostics.append(Diagnostic(location: own.location,
                        message: "'storage' is already set at \(first.location); only one probe file may set it"))
                } else {
                    storage = own
                }
            }
            notify += contents.notify
            // Every file's canaries: the union, a target named twice checked once (at its first file's interval).
            for canary in contents.canaries where !canaries.contains(where: { $0.name == canary.name }) { canaries.append(canary) }
        }

        if diagnostics.isEmpty, probes.isEmpty {
            // One file: name it (the user may have given its directory); several: the directory.
            diagnostics.append(Diagnostic(location: SourceLocation(file: files.count == 1 ? files[0] : directory, line: 0, column: 0),
                message: "no probes are defined in \(files.count == 1 ? "this file" : "these \(files.count) files"); add a 'probes:' list"))
        }
        guard diagnostics.isEmpty else {
            let all = ordered(diagnostics, files: files)
            let shown = all.prefix(ConfigErrors.shownLimit)
            throw ConfigErrors(diagnostics: Array(shown), omitted: omitted + all.count - shown.count)
        }
        // The daemon's per-probe tables share this set's name index (ProbeIndex.swift).
        ProbeIndex.publish(probes.map(\.name) + canaries.map(\.name))
        return ProbeSet(probes: probes, files: files, storage: storage?.value ?? StoragePolicy(), notify: notify, canaries: canaries)
    }

    // MARK: Files

    /// The probe files under `directory`, sorted, each path starting with `directory` as given.
    static func probeFiles(in directory: String) throws(Diagnostic) -> [String] {
        let whole = SourceLocation(file: directory, line: 0, column: 0)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) else {
            throw Diagnostic(location: whole, message: "no such probes directory")
        }
        guard isDirectory.boolValue else { return [directory] }

        let shownBase = directory.hasSuffix("/") ? directory : directory + "/"
        var relative: [String] = []
        var visited: Set<FileIdentity> = []
        guard let root = FileIdentity(directory) else {
            throw Diagnostic(location: whole, message: "cannot read this probes directory")
        }
        visited.insert(root)
        // Depth first over sorted names; symbolic links to folders are followed, each folder read once
        // (a link back to a folder already read, a loop, is not followed again).
        var pending: [String] = [""]
        while let folder = pending.popLast() {
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: shownBase + folder) else {
                if folder.isEmpty { throw Diagnostic(location: whole, message: "cannot read this probes directory") }
                continue
            }
            var folders: [String] = []
            for name in names where !name.hasPrefix(".") {
                let path = folder + name
                var isDir: ObjCBool = false
                guard FileManager.default.fileExists(atPath: shownBase + path, isDirectory: &isDir) else { continue }
                if isDir.boolValue {
                    if let id = FileIdentity(shownBase + path), visited.insert(id).inserted { folders.append(path + "/") }
                    continue
                }
                let ext = (name as NSString).pathExtension.lowercased()
                if ext == "yaml" || ext == "yml" { relative.append(path) }
            }
            pending += folders.sorted().reversed()
        }
        guard !relative.isEmpty else {
            throw Diagnostic(location: whole, message: "no probe files (*.yaml, *.yml) in this directory")
        }
        return relative.sorted().map { shownBase + $0 }
    }

    /// The file's single YAML document (without a root when empty), or a diagnostic at the position Yams
    /// reports. `FileLimits` decides first whether the file may be read and composed at all.
    static func parse(_ path: String) -> Result<YAMLDocument, Diagnostic> {
        let start = SourceLocation(file: path, line: 1, column: 1)
        let data: [UInt8]
        switch FileLimits.contents(of: path) {
        case .failure(let diagnostic): return .failure(diagnostic)
        case .success(let bytes): data = bytes
        }
        guard let text = String(bytes: data, encoding: .utf8) else {
            return .failure(Diagnostic(location: start, message: "this file is not UTF-8 text"))
        }
        let composed: YAMLDocument.Composed
        switch YAMLDocument.compose(text, path: path) {
        case .failure(let refused): return .failure(refused)
        case .success(let c): composed = c
        }
        guard composed.askYams else { return .success(composed.document) }
        // Yams judges what the one pass does not (syntax errors, duplicate keys, a second document), so its
        // messages stay the loader's. No resolver: Yams' default one tries up to seven regular expressions on
        // every key it hashes for the duplicate check.
        do {
            _ = try Yams.compose(yaml: text, .basic)
        } catch let error as YamlError {
            return .failure(diagnostic(for: error, path: path))
        } catch {
            return .failure(Diagnostic(location: start, message: "this file is not valid YAML"))
        }
        guard composed.complete else { return .failure(Diagnostic(location: start, message: "this file is not valid YAML")) }
        return .success(composed.document)
    }

    static func diagnostic(for error: YamlError, path: String) -> Diagnostic {
        func at(_ mark: Mark) -> SourceLocation { SourceLocation(file: path, line: mark.line, column: mark.column) }
        func explain(_ context: YamlError.Context?, _ problem: String) -> String {
            guard let context, !context.text.isEmpty else { return problem }
            return "\(problem) (\(context.text) at line \(context.mark.line), column \(context.mark.column))"
        }
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _):
            return Diagnostic(location: at(mark), message: "YAML syntax error: \(explain(context, problem))")
        case .composer(let context, let problem, let mark, _):
            if context?.text == "expected a single document in the stream" {
                return Diagnostic(location: at(mark), message: "a probe file holds one YAML document; remove this second one (after '---') or move it to its own file")
            }
            return Diagnostic(location: at(mark), message: "YAML error: \(explain(context, problem))")
        case .duplicatedKeysInMapping(let duplicates, let context):
            let keys = duplicates.map { "'\($0)'" }.joined(separator: ", ")
            return Diagnostic(location: at(context.mark), message: "key \(keys) appears more than once in the same block")
        case .reader(let problem, let offset, _, let yaml):
            var location = SourceLocation(file: path, line: 1, column: 1)
            if let offset, offset <= yaml.count {
                let before = yaml.prefix(offset)
                location.line = before.reduce(1) { $1 == "\n" ? $0 + 1 : $0 }
                location.column = before.count - (before.lastIndex(of: "\n").map { before.distance(from: before.startIndex, to: $0) + 1 } ?? 0) + 1
            }
            return Diagnostic(location: location, message: "this file cannot be read as YAML: \(problem)")
        default:
            return Diagnostic(location: SourceLocation(file: path, line: 1, column: 1), message: "this file is not valid YAML")
        }
    }

    // MARK: Merging

    /// Diagnostics grouped by file (in load order), then by position; exact repeats (from shared defaults) once.
    private static func ordered(_ diagnostics: [Diagnostic], files: [String]) -> [Diagnostic] {
        let rank = Dictionary(files.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        var seen: Set<Diagnostic> = []
        let unique = diagnostics.filter { seen.insert($0).inserted }
        return unique.enumerated().sorted { a, b in
            let (x, y) = (a.element.location, b.element.location)
            let rx = rank[x.file] ?? -1, ry = rank[y.file] ?? -1
            if rx != ry { return rx < ry }
            if x.line != y.line { return x.line < y.line }
            if x.column != y.column { return x.column < y.column }
            return a.offset < b.offset
        }.map(\.element)
    }
}

/// A file system object (device and inode), to read each folder once however many links lead to it.
private struct FileIdentity: Hashable {
    let device: UInt64
    let inode: UInt64

    init?(_ path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
    }
}
