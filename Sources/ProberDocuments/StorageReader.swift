import Dispatch
import Foundation
import ProberCore
import ProberStorage
#if canImport(Glibc)
import Glibc
#endif

/// The queries of `/api/v1` and the pages: one thread of their own with its own read-only storage, so a query
/// never runs on the listener's thread or the run loop's, and never shares a connection with the writer.
///
/// The thread runs at a lower CPU priority (`niceness`, and SCHED_IDLE): reading and rendering a page of 200 probes takes tens of
/// milliseconds of CPU, and at the same priority it delays the scheduler's ticks on a busy machine (bench/watchdog,
/// PAGES=1). Linux ignores Dispatch's QoS, and a niceness set on a pooled Dispatch thread would stay with whatever
/// that thread runs next, hence a thread of our own.
///
/// The storage is opened on the queue at the first query (a listener that nobody asks costs nothing) and
/// dropped after a query fails, so the next one reopens it (a moved or replaced database file, a backend
/// that went away). At most `maxQueued` queries wait or run at once; beyond that `read` answers `.busy` at
/// once without queueing, so a burst of requests cannot grow memory or delay every answer unboundedly.
public final class StorageReader: Sendable {
    /// What a query may read (a `Storage` opened read-only).
    public typealias Reading = any ProbeRegistry & HistoryReading & LocationReading & IncidentStorage & OutboxStorage & ProberDirectory
        & SilenceStorage

    /// Why a query has no result.
    public enum Failure: Error, Sendable, CustomStringConvertible {
        /// `maxQueued` queries already wait or run.
        case busy
        /// Opening the storage or the query failed; the message is the error's (no secrets: storage errors
        /// name the location without a password).
        case storage(String)

        public var description: String {
            switch self {
            case .busy: "too many queries queued; try again"
            case .storage(let message): message
            }
        }
    }

    /// Where "now" is read for the documents that need it (ages, delivery delays).
    public let clock: any WallClock
    public let maxQueued: Int
    /// The query thread's niceness (0 the daemon's own priority, 19 the lowest).
    public let niceness: Int32
    private let thread: QueryThread
    private let open: @Sendable () throws -> any Storage
    private let state = ReaderState()

    /// `open` is called on the reader's thread, at the first query and again after a failed one. `label` names the
    /// thread (15 bytes show in `top -H`).
    public init(clock: any WallClock = SystemWallClock(), maxQueued: Int = 32, label: String = "prober.queries",
                niceness: Int32 = 10, open: @escaping @Sendable () throws -> any Storage) {
        self.clock = clock
        self.maxQueued = maxQueued
        self.niceness = niceness
        self.thread = QueryThread(name: label, niceness: niceness)
        self.open = open
    }

    deinit { thread.finish() }

    /// Runs `query` on the reader's thread with the storage and the time of the query, and hands its outcome
    /// to `answer` (on that thread). `.busy` is answered at once, on the caller's thread.
    public func read<T: Sendable>(_ query: @escaping @Sendable (_ storage: Reading, _ now: Int64) throws -> T,
                                  answer: @escaping @Sendable (Result<T, Failure>) -> Void) {
        guard state.enter(limit: maxQueued) else { return answer(.failure(.busy)) }
        let (state, open, clock) = (state, open, clock)
        thread.run {
            defer { state.leave() }
            let outcome: Result<T, Failure>
            do {
                let storage = try state.storage(open)
                outcome = .success(try query(storage, clock.now()))
            } catch let failure as Failure {
                outcome = .failure(failure)
            } catch {
                state.dropStorage()
                outcome = .failure(.storage("\(error)"))
            }
            answer(outcome)
        }
    }

    /// Queries waiting or running now.
    public var pending: Int { state.pending }
}

/// One thread running jobs in order, at `niceness`, until `finish`. `@unchecked Sendable`: `jobs` and `finished`
/// are read and written under `condition`'s lock only.
private final class QueryThread: @unchecked Sendable {
    /// SCHED_IDLE (linux/sched.h), which glibc's headers declare only under _GNU_SOURCE.
    static let schedIdle: Int32 = 5
    private let condition = NSCondition()
    private var jobs: [@Sendable () -> Void] = []
    private var finished = false

    init(name: String, niceness: Int32) {
        let thread = Thread { [self] in
            // Foundation's `Thread.name` does not reach the kernel's thread name on Linux, and glibc's
            // pthread_setname_np is not visible to Swift: the name `top -H` and /proc/PID/task/TID/comm show
            // (at most 15 bytes) is written where the kernel keeps it.
            try? Data(name.utf8.prefix(15)).write(to: URL(fileURLWithPath: "/proc/thread-self/comm"))
            // On Linux the niceness is a thread's, and `who` 0 is the calling thread: this lowers this one alone
            // (setpriority(2), "a bug" of NPTL that the kernel documents and keeps).
            _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, niceness)
            // SCHED_IDLE: the scheduler's, the engine's and the writer's threads take the CPU from it the moment
            // they wake (a nice thread keeps it for the rest of its time slice: pages at 10 requests a second
            // raised tick lateness p99 from 1.45 to 4.10 ms at niceness 10). Its weight is small, not zero: a
            // busy machine still answers pages, slowly.
            var idle = sched_param(sched_priority: 0)
            _ = sched_setscheduler(0, QueryThread.schedIdle, &idle)
            while let job = next() { job() }
        }
        thread.start()
    }

    func run(_ job: @escaping @Sendable () -> Void) {
        condition.withLock {
            jobs.append(job)
            condition.signal()
        }
    }

    /// The thread ends once the jobs already queued have run.
    func finish() {
        condition.withLock {
            finished = true
            condition.signal()
        }
    }

    private func next() -> (@Sendable () -> Void)? {
        condition.withLock {
            while jobs.isEmpty && !finished { condition.wait() }
            return jobs.isEmpty ? nil : jobs.removeFirst()
        }
    }
}

/// The reader's counters and its storage. `@unchecked Sendable`: every field is read and written under `lock`;
/// `storage` itself is used only on the reader's serial queue.
private final class ReaderState: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    private var opened: (any Storage)?

    func enter(limit: Int) -> Bool {
        lock.withLock {
            guard count < limit else { return false }
            count += 1
            return true
        }
    }

    func leave() { lock.withLock { count -= 1 } }

    var pending: Int { lock.withLock { count } }

    /// The open storage, opening it first if needed (on the reader's queue).
    func storage(_ open: () throws -> any Storage) throws -> any Storage {
        if let opened = lock.withLock({ opened }) { return opened }
        do {
            let fresh = try open()
            lock.withLock { opened = fresh }
            return fresh
        } catch {
            throw StorageReader.Failure.storage("\(error)")
        }
    }

    func dropStorage() { lock.withLock { opened = nil } }
}
