import Foundation

/// Programs the tests run for what they print (PostgreSQL's tools, readelf, dpkg).
public enum Program {
    /// Runs a program to its end with its output (standard output and error together) in a file (`output`, or a
    /// temporary one) and returns that output; throws when it cannot start or does not exit 0. posix_spawn and
    /// waitpid rather than Foundation's `Process`: `pg_ctl start` leaves a daemon behind, and
    /// `Process.waitUntilExit` was seen never returning after `runuser` exited (a zombie never reaped).
    @discardableResult
    public static func output(_ program: String, _ arguments: [String], output: String? = nil) throws -> String {
        let file = output ?? "/tmp/prober-run-\(getpid())-\(UUID().uuidString.prefix(8))"
        defer { if output == nil { unlink(file) } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, file, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv = ([program] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, program, &actions, nil, argv, environ)
        guard rc == 0 else { throw Failure(description: "cannot run \(program): \(String(cString: strerror(rc)))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0, errno == EINTR {}
        let text = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
        let exited = status & 0x7F == 0, code = (status >> 8) & 0xFF
        guard exited, code == 0 else {
            throw Failure(description: "\(program) \(arguments.joined(separator: " ")) failed (status \(status)): \(text)")
        }
        return text
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }
}
