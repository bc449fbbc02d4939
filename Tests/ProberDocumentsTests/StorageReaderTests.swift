import Foundation
import ProberCore
import ProberDocuments
import ProberBackends
import ProberStorage
import ProberStore
import ProberTestSupport
import Testing

/// The query queue of `/api/v1` and the pages, over a real SQLite file: opened at the first query, reopened
/// after a failure, and bounded.
@Suite final class StorageReaderTests {
    let dir: TemporaryDirectory
    var path: String { dir.path + "/prober.db" }

    init() throws { dir = try TemporaryDirectory() }
    deinit { dir.remove() }

    /// A database with one registered probe.
    private func makeDatabase() throws {
        let store = try StorageBackend.open(database: path, readOnly: false)
        try store.register([ProbeSpec(name: "one", target: .tcp(TCPTarget(host: "127.0.0.1", port: 1)))])
    }

    /// `read` as a value: waits for the answer (bounded).
    private func read<T: Sendable>(_ reader: StorageReader, _ query: @escaping @Sendable (StorageReader.Reading, Int64) throws -> T) -> Result<T, StorageReader.Failure>? {
        let box = LockedValue<Result<T, StorageReader.Failure>?>(nil)
        let done = DispatchSemaphore(value: 0)
        reader.read(query) { result in
            box.withLock { $0 = result }
            done.signal()
        }
        guard done.wait(timeout: .now() + 10) == .success else { return nil }
        return box.withLock { $0 }
    }

    @Test func opensAtTheFirstQueryAndReopensAfterAFailure() throws {
        let opens = LockedValue(0)
        let path = self.path
        let reader = StorageReader(open: {
            opens.withLock { $0 += 1 }
            return try StorageBackend.open(database: path, readOnly: true)
        })
        #expect(opens.withLock { $0 } == 0, "nothing opened before a query")

        // No database yet: the open fails, and is tried again at the next query.
        guard case .failure(.storage(let message))? = read(reader, { storage, _ in try storage.probeNames() }) else {
            Issue.record("a missing database must fail the query")
            return
        }
        #expect(message.contains(path), "\(message)")
        try makeDatabase()
        #expect(try read(reader, { storage, _ in try storage.probeNames() })?.get() == ["one"])
        #expect(opens.withLock { $0 } == 2)
        // An open storage is kept...
        #expect(try read(reader, { storage, _ in try storage.probeNames() })?.get() == ["one"])
        #expect(opens.withLock { $0 } == 2)
        // ...until a query fails: then the next query opens it again.
        struct Broken: Error {}
        guard case .failure(.storage)? = read(reader, { _, _ -> Int in throw Broken() }) else {
            Issue.record("a throwing query must fail")
            return
        }
        #expect(try read(reader, { storage, _ in try storage.probeNames() })?.get() == ["one"])
        #expect(opens.withLock { $0 } == 3)
    }

    @Test func beyondMaxQueuedAQueryIsRefusedAtOnce() throws {
        try makeDatabase()
        let path = self.path
        let reader = StorageReader(maxQueued: 4, open: { try StorageBackend.open(database: path, readOnly: true) })
        let gate = DispatchSemaphore(value: 0)
        let answered = LockedValue(0)
        // One query holds the queue; three wait behind it.
        for _ in 0..<4 {
            reader.read({ _, _ in gate.wait() }) { _ in answered.withLock { $0 += 1 } }
        }
        #expect(reader.pending == 4)
        let refused = read(reader) { _, _ in 1 }
        guard case .failure(.busy)? = refused else {
            Issue.record("the fifth query must be refused, got \(String(describing: refused))")
            for _ in 0..<4 { gate.signal() }
            return
        }
        for _ in 0..<4 { gate.signal() }
        #expect(waitUntil(timeout: .seconds(10)) { answered.withLock { $0 } == 4 })
        #expect(waitUntil(timeout: .seconds(10)) { reader.pending == 0 })
        #expect(try read(reader, { _, now in now > 0 })?.get() == true, "room again once they are done")
    }

    @Test func queriesNeverRunOnTheCallersThread() throws {
        try makeDatabase()
        let path = self.path
        let reader = StorageReader(open: { try StorageBackend.open(database: path, readOnly: true) })
        let caller = pthread_self()
        let sameThread = try #require(read(reader) { _, _ in pthread_equal(pthread_self(), caller) != 0 })
        #expect(try sameThread.get() == false)
    }

    /// Pages must not delay the scheduler's ticks: queries run on a thread lowered by `niceness` and to SCHED_IDLE,
    /// and only that thread is lowered (the caller's priority is unchanged; `who` 0 is the calling thread on Linux).
    @Test func queriesRunAtALowerPriorityOnTheirOwnThread() throws {
        try makeDatabase()
        let path = self.path
        let reader = StorageReader(niceness: 7, open: { try StorageBackend.open(database: path, readOnly: true) })
        let which = __priority_which_t(PRIO_PROCESS.rawValue)
        let before = getpriority(which, 0)
        let inQuery = try #require(read(reader) { _, _ in getpriority(which, 0) })
        #expect(try inQuery.get() == min(before + 7, 19))
        // Named, so `top -H` and /proc/PID/task/*/comm (bench/watchdog PAGES=1) tell it apart.
        let name = try #require(read(reader) { _, _ in
            (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? ""
        })
        #expect(try name.get() == "prober.queries\n")
        #expect(getpriority(which, 0) == before)
        // And in SCHED_IDLE (5), so any waking thread of the daemon preempts it at once; the caller stays as it was.
        let policyBefore = sched_getscheduler(0)
        let policy = try #require(read(reader) { _, _ in sched_getscheduler(0) })
        #expect(try policy.get() == 5)
        #expect(sched_getscheduler(0) == policyBefore)
    }
}
