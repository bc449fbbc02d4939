import Foundation

/// One daemon per database: an exclusive `flock` on `<database>.lock`, holding the owner's pid.
///
/// Owns the lock file's descriptor; the lock lasts until `release()` or `deinit` (or the process ends, so a
/// crashed daemon never leaves a stale lock). The descriptor is only touched under `lock`, hence `Sendable`.
public final class InstanceLock: @unchecked Sendable {
    /// The lock file.
    public let path: String
    private let lock = NSLock()
    private var fd: Int32

    /// Locks `<database>.lock`, or throws `InstanceLockError` naming the pid of the daemon holding it.
    public convenience init(database: String) throws {
        try self.init(lockFile: database + ".lock", database: database)
    }

    public init(lockFile: String, database: String? = nil) throws {
        path = lockFile
        // 0600: the lock sits beside the database, which only the daemon's user reads (see `Store`).
        fd = open(lockFile, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw InstanceLockError(path: lockFile, database: database, holder: nil,
                                    reason: "cannot open \(lockFile): \(String(cString: strerror(errno)))")
        }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let err = errno
            let holder = Self.readPID(fd)
            close(fd)
            fd = -1
            if err == EWOULDBLOCK {
                throw InstanceLockError(path: lockFile, database: database, holder: holder, reason: nil)
            }
            throw InstanceLockError(path: lockFile, database: database, holder: nil,
                                    reason: "cannot lock \(lockFile): \(String(cString: strerror(err)))")
        }
        let text = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = text.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
    }

    deinit {
        if fd >= 0 { close(fd) }
    }

    /// Gives the lock up (the file stays: removing it would race with the next daemon locking it).
    public func release() {
        lock.lock()
        defer { lock.unlock() }
        if fd >= 0 {
            _ = ftruncate(fd, 0)
            close(fd)
            fd = -1
        }
    }

    private static func readPID(_ fd: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return nil }
        return Int32(String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }
}

/// Another daemon holds the database, or the lock file could not be used.
public struct InstanceLockError: Error, CustomStringConvertible, Sendable {
    public var path: String
    public var database: String?
    /// The pid written by the daemon holding the lock, when known.
    public var holder: Int32?
    /// Set when the lock could not be taken for another reason than a running daemon.
    public var reason: String?

    public var description: String {
        if let reason { return reason }
        let what = database.map { "database \($0)" } ?? path
        let who = holder.map { "pid \($0)" } ?? "another process"
        return "another prober is already running on \(what) (\(who) holds the lock \(path))"
    }
}
