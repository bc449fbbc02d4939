import Foundation
import ProberTestSupport
import ProberConfig
import ProberCore
import Testing

/// Probe files written to hurt the loader: each is refused (or read) quickly, with a message, instead of
/// hanging, exhausting memory or blocking (issue 13, items 10 and 17). Each fails before its fix by
/// running into the time limit.
@Suite(.timeLimit(.minutes(1)))
struct HostileProbeFileTests {
    /// The errors of loading `dir`, as thrown.
    private func errors(_ dir: TemporaryDirectory) -> ConfigErrors? {
        do {
            _ = try ProbeLoader.load(directory: dir.path + "/p", environment: [:])
            return nil
        } catch { return error }
    }

    /// Each mapping merges the one before it twice: 2^40 merges when followed without a memo.
    @Test func aChainOfMergeKeysIsRefusedNotFollowed() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        var yaml = "x-0: &m0 { interval: 10s }\n"
        for i in 1...40 { yaml += "x-\(i): &m\(i) { <<: [*m\(i - 1), *m\(i - 1)] }\n" }
        yaml += "probes:\n  - name: a\n    <<: *m40\n    tcp: { host: a, port: 1 }\n"
        try dir.write("p/chain.yaml", yaml)
        let refused = try #require(errors(dir))
        #expect(refused.diagnostics.map(\.description) == [
            "\(dir.path)/p/chain.yaml:\(FileLimitsLine.firstOver(yaml)): this file holds more than 250000 values (counting each alias as a copy of what it names); split it into several files or use fewer aliases",
        ])
    }

    /// A merge used twice within the limit is read once and still fills in its keys.
    @Test func aMappingMergedTwiceIsReadOnce() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("p/twice.yaml", """
            x-base: &base { interval: 10s, timeout: 2s }
            x-both: &both { <<: [*base, *base] }
            probes:
              - name: a
                <<: *both
                tcp: { host: a, port: 1 }
            """)
        let set = try ProbeLoader.load(directory: dir.path + "/p", environment: [:])
        #expect(set.probes.first?.interval == .seconds(10))
        #expect(set.probes.first?.timeout == .seconds(2))
    }

    /// Nine levels of ten aliases each (10^9 values) used as a key: Yams hashed it to find duplicate keys.
    /// Refused where the expansion crosses the value limit, before the key is reached.
    @Test func anAliasBombIsRefusedBeforeItIsComposed() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        var yaml = "x-a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
        let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"]
        for (previous, name) in zip(names, names.dropFirst()) {
            yaml += "x-\(name): &\(name) [" + Array(repeating: "*\(previous)", count: 10).joined(separator: ", ") + "]\n"
        }
        try dir.write("p/bomb.yaml", yaml + "x-key:\n  ? [*i]\n  : v\nprobes: []\n")
        let refused = try #require(errors(dir))
        #expect(refused.diagnostics.map(\.description) == [
            "\(dir.path)/p/bomb.yaml:6:14: this file holds more than 250000 values (counting each alias as a copy of what it names); split it into several files or use fewer aliases",
        ])
    }

    /// However small, an alias inside a key is refused: keys are plain names.
    @Test func anAliasInAKeyIsRefused() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("p/key.yaml", "x-a: &a [lol]\nx-key:\n  ? [*a]\n  : v\n  *a : w\nprobes: []\n")
        let refused = try #require(errors(dir))
        #expect(refused.diagnostics.map(\.description) == [
            "\(dir.path)/p/key.yaml:3:6: an alias (*a) cannot be used in a key; write the key out",
        ])
    }

    @Test func aFileOverTheSizeLimitIsNotParsed() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let size = 3 << 20
        // A sparse file: its size is what counts, and writing 3 MiB would raise this process's peak memory
        // under HTTPProbeTests' oversized-body measurement.
        try dir.write("p/big.yaml", "probes: []\n")
        let file = try #require(FileHandle(forWritingAtPath: dir.path + "/p/big.yaml"))
        try file.truncate(atOffset: UInt64(size))
        try file.close()
        let refused = try #require(errors(dir))
        #expect(refused.diagnostics.map(\.description) == [
            "\(dir.path)/p/big.yaml: this file is \(size) bytes; a probe file may be at most 2097152 bytes (2 MiB): split it into several files",
        ])
    }

    /// Opening a FIFO for reading waits for a writer; the loader must not.
    @Test func aFIFONamedYAMLIsRefusedWithoutBlocking() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("p/ok.yaml", "probes:\n  - name: a\n    tcp: { host: a, port: 1 }\n")
        #expect(mkfifo(dir.path + "/p/pipe.yaml", 0o600) == 0)
        let refused = try #require(errors(dir))
        #expect(refused.diagnostics.map(\.description) == [
            "\(dir.path)/p/pipe.yaml: this is not a regular file (a FIFO, socket or device); probe files must be regular files",
        ])
    }

    /// 20,000 bad entries: every one is counted, the first 100 are listed, in linear time (the old
    /// de-duplication compared each with all before it).
    @Test func manyProblemsAreCountedAndTheFirstHundredListed() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let entries = 20_000
        try dir.write("p/ones.yaml", "probes: [" + Array(repeating: "1", count: entries).joined(separator: ",") + "]\n")
        let refused = try #require(errors(dir))
        #expect(refused.count == entries)
        #expect(refused.diagnostics.count == ConfigErrors.shownLimit)
        #expect(refused.omitted == entries - ConfigErrors.shownLimit)
        #expect(refused.description.hasSuffix("\n... and \(entries - ConfigErrors.shownLimit) more problems"))
    }

    /// A file past the value limit is refused at the value that crossed it, without building its nodes.
    @Test func aFileOfTooManyValuesIsRefused() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("p/ones.yaml", "probes: [" + Array(repeating: "1", count: 260_000).joined(separator: ",") + "]\n")
        let refused = try #require(errors(dir))
        #expect(refused.diagnostics.count == 1)
        #expect(refused.diagnostics.first?.message.hasPrefix("this file holds more than 250000 values") == true)
    }

    /// Linked folders are read (they were skipped silently); a link back up is not followed twice.
    @Test func symlinkedFoldersAreFollowedOnce() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("p/a.yaml", "probes:\n  - name: a\n    tcp: { host: a, port: 1 }\n")
        try dir.write("shared/b.yaml", "probes:\n  - name: b\n    tcp: { host: b, port: 1 }\n")
        try FileManager.default.createSymbolicLink(atPath: dir.path + "/p/shared", withDestinationPath: dir.path + "/shared")
        try FileManager.default.createSymbolicLink(atPath: dir.path + "/shared/up", withDestinationPath: dir.path + "/p")
        let set = try ProbeLoader.load(directory: dir.path + "/p", environment: [:])
        #expect(set.probes.map(\.name).sorted() == ["a", "b"])
        #expect(set.files == [dir.path + "/p/a.yaml", dir.path + "/p/shared/b.yaml"])
    }
}

/// Where the merge chain first crosses the value limit, computed the way the loader counts.
private enum FileLimitsLine {
    /// Line and column of the alias that takes the count past 250,000: each `x-i` line adds its key, its
    /// mapping, the `<<` key, the list, and twice the size of `m(i-1)`.
    static func firstOver(_ yaml: String) -> String {
        var size = [3] // x-0: mapping, key, value
        var total = 2 + 3 // the root mapping, the key x-0 and its mapping
        for i in 1...40 {
            total += 1 + 1 // the key x-i and its mapping
            total += 1 + 1 // the key << and its list
            for alias in 0..<2 {
                total += size[i - 1]
                if total > 250_000 {
                    let line = i + 1
                    let column = "x-\(i): &m\(i) { <<: [".count + 1 + alias * "*m\(i - 1), ".count
                    return "\(line):\(column)"
                }
            }
            size.append(2 + 2 + 2 * size[i - 1])
        }
        return "?"
    }
}
