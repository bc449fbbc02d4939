import Foundation
import ProberCore
@testable import ProberStore
import Testing

/// Issue 13, item 8: the database and its WAL and shared-memory files are private to the daemon's user
/// (0600) whatever the umask, not 0644 as SQLite creates them.
@Suite struct FileModeTests {
    @Test func aNewDatabaseAndItsWALAre0600() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("prober-mode-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("prober.db").path
        let store = try Store(path: path)
        try store.register([ProbeSpec(name: "a", target: .tcp(TCPTarget(host: "127.0.0.1", port: 1)))])
        for file in [path, path + "-wal", path + "-shm"] {
            let mode = try #require(try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int)
            #expect(mode == 0o600, "\(file) is \(String(mode, radix: 8))")
        }
        _ = store
    }
}
