import Foundation
import ProberCore
@testable import ProberStore
import ProberTestSupport
import Testing

/// A reader's open transaction holds a checkpoint back (it copies only the frames older than the reader's
/// snapshot, and the WAL cannot start over): the checkpoint is then tried again after `checkpointRetry`,
/// not after the whole `checkpointInterval`, so the pages' short reads (bench/watchdog PAGES=1) do not let
/// the WAL grow to two intervals' worth.
@Suite struct CheckpointRetryTests {
    @Test func aCheckpointHeldBackByAReaderIsTriedAgainSoon() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.path + "/prober.db"
        let store = try Store(path: path)
        func register(_ name: String) throws {
            try store.register([ProbeSpec(name: name, target: .tcp(TCPTarget(host: "127.0.0.1", port: 1)))])
        }
        try register("a")
        let reader = try Store(path: path, readOnly: true)
        // The reader's snapshot: everything written so far.
        try reader.queue.sync {
            try reader.connection.execute("BEGIN")
            _ = try reader.connection.scalar("SELECT count(*) FROM probes")
        }
        try register("b")
        #expect(store.queue.sync { store.checkpoint(truncate: false) } == false, "held back by the reader")
        try reader.queue.sync {
            reader.connection.resetBusyStatements()
            try reader.connection.execute("COMMIT")
        }

        // Just over `checkpointRetry` later: due again, and now complete.
        let retried = store.queue.sync { () -> Bool in
            store.lastCheckpoint -= UInt64(Store.checkpointRetry.microseconds) * 1_000 + 1
            let before = store.lastCheckpoint
            store.checkpointIfDue()
            return store.lastCheckpoint != before
        }
        #expect(retried, "tried again after checkpointRetry")
        #expect(store.queue.sync { store.lastCheckpointComplete })

        // A complete checkpoint waits the whole interval again.
        try register("c")
        let early = store.queue.sync { () -> Bool in
            store.lastCheckpoint -= UInt64(Store.checkpointRetry.microseconds) * 1_000 + 1
            let before = store.lastCheckpoint
            store.checkpointIfDue()
            return store.lastCheckpoint != before
        }
        #expect(!early, "not before checkpointInterval")
    }
}
