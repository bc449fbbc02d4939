import ArgumentParser
import Foundation
import Logging
import ProberCore
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `--log-format`: text for people, JSON lines for log pipelines.
enum LogFormat: String, CaseIterable {
    case text, json
}

/// One JSON object per line: `{"ts": …, "level": …, "msg": …, "probe.name": …}`. Written to standard error.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    /// Where `ts` comes from.
    var clock: any WallClock = SystemWallClock()

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var fields: [String: JSONValue] = [
            "ts": .time(clock.now()),
            "level": .string(event.level.rawValue),
            "msg": .string(event.message.description),
        ]
        for (k, v) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) { fields[k] = .string("\(v)") }
        LogWriter.standardError.write(JSONValue.object(fields).encoded + "\n")
    }
}

/// Standard error, written by a thread of its own from a bounded buffer, so that logging never blocks
/// probing: a reader that stalls (a full pipe, a suspended terminal, a stuck journald) stalls only that
/// thread, never the scheduler's queue, `/healthz` or the systemd watchdog. Lines that do not fit are
/// dropped and counted (`prober_log_lines_dropped_total`); the next line written is preceded by one that
/// says how many.
///
/// `@unchecked Sendable`: every `var` is guarded by `condition`.
final class LogWriter: @unchecked Sendable {
    static let standardError = LogWriter(fd: STDERR_FILENO)
    /// Bytes of log text held at most, the batch being written included (about a thousand lines).
    static let capacity = 256 << 10

    private enum Entry {
        case line(String)
        case dropped(Int)
    }

    private let fd: Int32
    private let condition = NSCondition()
    private var entries: [Entry] = []
    /// Bytes in `entries` and in the batch being written.
    private var bytes = 0
    /// Lines dropped since the last one queued.
    private var dropped = 0
    private var writing = false
    private var started = false
    /// How the "dropped" line is written.
    var format: LogFormat {
        get { condition.withLock { _format } }
        set { condition.withLock { _format = newValue } }
    }
    private var _format = LogFormat.text

    init(fd: Int32) { self.fd = fd }

    /// Queues one line (with its newline); never blocks on the reader.
    func write(_ line: String) {
        let size = line.utf8.count
        condition.withLock {
            if !started {
                started = true
                let thread = Thread { [self] in run() }
                thread.name = "prober.log"
                thread.start()
            }
            guard bytes + size <= Self.capacity else {
                dropped += 1
                ProcessCounters.droppedLogLines.add(1, ordering: .relaxed)
                return
            }
            if dropped > 0 {
                entries.append(.dropped(dropped))
                dropped = 0
            }
            entries.append(.line(line))
            bytes += size
            condition.signal()
        }
    }

    /// Waits at most `timeout` for what is queued to be written (at exit), saying first how many were dropped.
    func flush(timeout: TimeInterval) {
        let deadline = Date(timeIntervalSinceNow: timeout)
        condition.lock()
        defer { condition.unlock() }
        guard started else { return }
        if dropped > 0 {
            entries.append(.dropped(dropped))
            dropped = 0
            condition.signal()
        }
        while !entries.isEmpty || writing {
            if !condition.wait(until: deadline) { return }
        }
    }

    /// The writer thread.
    private func run() {
        while true {
            condition.lock()
            while entries.isEmpty { condition.wait() }
            let batch = entries
            entries.removeAll(keepingCapacity: true)
            writing = true
            let format = _format
            condition.unlock()

            var text = ""
            var size = 0
            for entry in batch {
                switch entry {
                case .line(let line):
                    text += line
                    size += line.utf8.count
                case .dropped(let n):
                    text += Self.droppedLine(n, format: format)
                }
            }
            writeAll(text)

            condition.lock()
            bytes -= size
            writing = false
            condition.broadcast()
            condition.unlock()
        }
    }

    /// Blocks until `text` is written or the descriptor fails (a closed pipe: the lines are lost).
    private func writeAll(_ text: String) {
        var text = text
        text.withUTF8 { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n > 0 {
                    offset += n
                } else if n < 0, errno == EINTR {
                    continue
                } else if n < 0, errno == EAGAIN {
                    usleep(10_000) // a non-blocking descriptor: wait for the reader
                } else {
                    return
                }
            }
        }
    }

    static func droppedLine(_ n: Int, format: LogFormat) -> String {
        let message = "dropped \(Human.count(n, "log line")): standard error was not being read"
        let now = SystemWallClock().now()
        switch format {
        case .text:
            return "\(UTCTime.iso8601(now)) warning prober: \(message)\n"
        case .json:
            return JSONValue.object(["ts": .time(now), "level": .string("warning"), "msg": .string(message),
                                     "log.dropped": .string("\(n)")]).encoded + "\n"
        }
    }
}

/// The text handler's stream: lines go through `LogWriter`.
struct LogWriterStream: TextOutputStream, Sendable {
    mutating func write(_ string: String) { LogWriter.standardError.write(string) }
}

enum LogSetup {
    static func bootstrap(format: LogFormat, level: Logger.Level) {
        LogWriter.standardError.format = format
        // What is queued at exit is written, within a bound (a reader that never reads cannot hold the exit).
        atexit { LogWriter.standardError.flush(timeout: 2) }
        LoggingSystem.bootstrap { label in
            switch format {
            case .text:
                var h = StreamLogHandler(label: label, stream: LogWriterStream())
                h.logLevel = level
                return h
            case .json:
                var h = JSONLogHandler(label: label)
                h.logLevel = level
                return h
            }
        }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
extension LogFormat: ExpressibleByArgument {}
