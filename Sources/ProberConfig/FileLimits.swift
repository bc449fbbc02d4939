import CYaml // libyaml, as built by Yams (its own dependency): the event stream Yams does not expose.
import Foundation
import ProberCore

/// What one probe file may cost to load, checked on libyaml's events as the file is composed (`YAMLDocument.compose`),
/// before Yams is ever given it.
///
/// Yams holds about 110 bytes of memory per byte of YAML (a 50 MB file took a daemon to 5.6 GB), follows
/// aliases by sharing nodes, and hashes every mapping key, alias targets included, to find duplicates: a
/// few lines of aliases used as a key hang it for ever. So a file is read only when it is a regular file
/// of at most `maxBytes`, and kept (or shown to Yams) only when its events show that it expands to at most
/// `maxValues` values and that no key holds an alias.
enum FileLimits {
    /// The largest probe file: 2 MiB, ten times a 10,000-probe file written plainly.
    static let maxBytes = 2 << 20
    /// The most values (scalars, lists, mappings) one file may expand to, each alias counting as a copy of
    /// what it names: what reading the file will walk, at most.
    static let maxValues = 250_000

    /// The file's bytes, or why it cannot be read. Never blocks: a FIFO or device is refused, not opened
    /// for a read that would wait for a writer.
    static func contents(of path: String) -> Result<[UInt8], Diagnostic> {
        let whole = SourceLocation(file: path, line: 0, column: 0)
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            return .failure(Diagnostic(location: whole, message: "cannot read this file: \(String(cString: strerror(errno)))"))
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            return .failure(Diagnostic(location: whole, message: "cannot read this file: \(String(cString: strerror(errno)))"))
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            return .failure(Diagnostic(location: whole, message: "this is not a regular file (a FIFO, socket or device); probe files must be regular files"))
        }
        guard info.st_size <= maxBytes else { return .failure(tooLarge(path, size: Int(info.st_size))) }
        // Read up to one byte past the limit: the file may have grown since fstat.
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Int(info.st_size))
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while bytes.count <= maxBytes {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0, errno == EINTR { continue }
            guard n >= 0 else {
                return .failure(Diagnostic(location: whole, message: "cannot read this file: \(String(cString: strerror(errno)))"))
            }
            if n == 0 { break }
            bytes += chunk[..<n]
        }
        guard bytes.count <= maxBytes else { return .failure(tooLarge(path, size: bytes.count)) }
        return .success(bytes)
    }

    private static func tooLarge(_ path: String, size: Int) -> Diagnostic {
        Diagnostic(location: SourceLocation(file: path, line: 0, column: 0),
                   message: "this file is \(size) bytes; a probe file may be at most \(maxBytes) bytes (2 MiB): split it into several files")
    }

    /// Sizes of the values seen so far, each alias expanded: fed every event of a file by `YAMLDocument.compose`,
    /// it gives the first reason the file must not be read.
    struct Walk {
        let path: String
        /// An open list or mapping: where its size started and whether it is (inside) a mapping key.
        struct Open {
            var isMapping: Bool
            var children = 0
            var start: Int
            var anchor: String?
            var inKey: Bool
        }
        var open: [Open] = []
        /// Values so far, aliases expanded.
        var values = 0
        /// Expanded size of each anchored value; a later anchor of the same name shadows it, as in Yams.
        var sizes: [String: Int] = [:]

        mutating func step(_ event: yaml_event_t) -> Diagnostic? {
            // Made only for a problem: most events have none.
            let file = path
            var at: SourceLocation { SourceLocation(file: file, line: Int(event.start_mark.line) + 1, column: Int(event.start_mark.column) + 1) }
            switch event.type {
            case YAML_ALIAS_EVENT:
                let name = Self.name(event.data.alias.anchor) ?? ""
                if startValue() {
                    return Diagnostic(location: at, message: "an alias (*\(name)) cannot be used in a key; write the key out")
                }
                return add(sizes[name] ?? 1, at: at)
            case YAML_SCALAR_EVENT:
                _ = startValue()
                if let name = Self.name(event.data.scalar.anchor) { sizes[name] = 1 }
                return add(1, at: at)
            case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
                let inKey = startValue()
                let mapping = event.type == YAML_MAPPING_START_EVENT
                let anchor = Self.name(mapping ? event.data.mapping_start.anchor : event.data.sequence_start.anchor)
                open.append(Open(isMapping: mapping, start: values, anchor: anchor, inKey: inKey))
                return add(1, at: at)
            case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                if let closed = open.popLast(), let anchor = closed.anchor { sizes[anchor] = values - closed.start }
                return nil
            default:
                return nil
            }
        }

        /// Counts a value in the open list or mapping; true when it is a mapping key or inside one.
        private mutating func startValue() -> Bool {
            guard let last = open.indices.last else { return false }
            defer { open[last].children += 1 }
            return open[last].inKey || (open[last].isMapping && open[last].children % 2 == 0)
        }

        private mutating func add(_ n: Int, at: @autoclosure () -> SourceLocation) -> Diagnostic? {
            values += n
            guard values > FileLimits.maxValues else { return nil }
            return Diagnostic(location: at(), message: "this file holds more than \(FileLimits.maxValues) values (counting each alias as a copy of what it names); split it into several files or use fewer aliases")
        }

        private static func name(_ anchor: UnsafeMutablePointer<yaml_char_t>?) -> String? {
            anchor.map { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
        }
    }
}
