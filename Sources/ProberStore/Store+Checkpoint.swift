import CSQLite3
import Dispatch
import Foundation

extension Store {
    /// Checkpoints the WAL when it is due: every `checkpointInterval`, and whenever the WAL holds more than a
    /// quarter of the space left on the database's file system (SQLite's own trigger, `checkpointBytes`, is
    /// never reached on a small volume, where the WAL would fill the disk while the database file stays
    /// empty). When space is short the WAL file is also truncated, handing its bytes back to the file system.
    /// Store queue only; a checkpoint that cannot finish (a reader, a full disk) is tried again next time.
    func checkpointIfDue() {
        dispatchPrecondition(condition: .onQueue(queue))
        guard !isReadOnly else { return }
        let wal = walBytes
        guard wal > 0 else { return }
        let free = freeBytes
        let short = free.map { wal > $0 / 4 || $0 < Self.lowSpaceBytes } ?? false
        let now = DispatchTime.now().uptimeNanoseconds
        let due = now &- lastCheckpoint >= UInt64(Self.checkpointInterval.microseconds) * 1_000
        guard short || due else { return }
        checkpoint(truncate: short)
    }

    /// Copies the WAL into the database (`PASSIVE`: never waits for readers), or with `truncate` also empties
    /// the WAL file (`TRUNCATE`: waits up to the busy timeout for readers). https://sqlite.org/c3ref/wal_checkpoint_v2.html
    /// Store queue only. Returns whether the whole WAL was copied.
    @discardableResult
    func checkpoint(truncate: Bool) -> Bool {
        dispatchPrecondition(condition: .onQueue(queue))
        var logFrames: Int32 = 0
        var copied: Int32 = 0
        let mode = truncate ? SQLITE_CHECKPOINT_TRUNCATE : SQLITE_CHECKPOINT_PASSIVE
        let rc = sqlite3_wal_checkpoint_v2(connection.handle, nil, mode, &logFrames, &copied)
        lastCheckpoint = DispatchTime.now().uptimeNanoseconds
        return rc == SQLITE_OK && copied == logFrames
    }

    /// Bytes in the WAL file now (0 when it does not exist).
    var walBytes: Int64 {
        var info = stat()
        return stat(path + "-wal", &info) == 0 ? Int64(info.st_size) : 0
    }

    /// Bytes an unprivileged writer may still use on the database's file system, or nil when unknown.
    var freeBytes: Int64? {
        var info = statvfs()
        let directory = (path as NSString).deletingLastPathComponent
        guard statvfs(directory.isEmpty ? "." : directory, &info) == 0 else { return nil }
        return Int64(info.f_bavail) * Int64(info.f_frsize)
    }

    /// A checkpoint at least this often while samples are written, so that the database file holds the history
    /// (a crash replays little WAL, and a backup of the file alone is recent).
    static let checkpointInterval: Duration = .seconds(30)
    /// Below this much free space every due checkpoint also truncates the WAL.
    static let lowSpaceBytes: Int64 = 64 * 1024 * 1024
}
