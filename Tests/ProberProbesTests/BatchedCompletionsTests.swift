import Foundation
import ProberCore
@testable import ProberProbes
import ProberTestSupport
import Testing

/// Finished checks handed over in batches, one per turn of the engine loop.
@Suite struct BatchedCompletionsTests {
    /// What a `BatchedCompletions` received: each batch's samples, in the order given.
    final class Received: Sendable {
        let batches = LockedValue<[[Sample]]>([])
        let completed = LockedValue<[String]>([])

        /// A receiver that records each batch, then calls its completions.
        func receiver() -> BatchedCompletions {
            BatchedCompletions { [batches] batch in
                batches.withLock { $0.append(batch.map(\.sample)) }
                for finished in batch { finished.complete() }
            }
        }
    }

    /// Checks that end in the same turn (here: all refused before they start, since an IPv6 source address
    /// cannot reach 127.0.0.1) reach the receiver in one batch, in the order they were posted, while a check
    /// posted with a plain completion is called alone.
    @Test func checksEndingInOneTurnAreHandedOverInOneBatchInOrder() throws {
        let multi = try #require(CurlMulti())
        let inbox = Inbox()
        let loop = EngineLoop(multi: multi, inbox: inbox, maxConcurrent: 8, clock: SystemWallClock(),
                              sourceAddress: SourceAddress("::1"))
        let received = Received()
        let receiver = received.receiver()
        let names = (0..<20).map { "p\($0)" }
        for name in names {
            let spec = ProbeSpec(name: name, target: .http(HTTPTarget(url: "http://127.0.0.1:1/\(name)")),
                                 interval: .seconds(10), timeout: .seconds(1))
            let completion = ProbeCompletion(secrets: [], completion: { sample in received.completed.withLock { $0.append(sample.probe) } },
                                             batches: receiver)
            #expect(inbox.post(.probe(spec, completion)) != .refused)
        }
        let alone = LockedValue<[Sample]>([])
        let plain = ProbeSpec(name: "plain", target: .http(HTTPTarget(url: "http://127.0.0.1:1/plain")), interval: .seconds(10),
                              timeout: .seconds(1))
        _ = inbox.post(.probe(plain, ProbeCompletion(secrets: [], completion: { s in alone.withLock { $0.append(s) } }, batches: nil)))
        inbox.stop()
        loop.run() // drains the inbox in one turn, then ends: nothing is left in flight

        let batches = received.batches.withLock { $0 }
        #expect(batches.count == 1, "\(batches.map(\.count))")
        #expect(batches.first?.map(\.probe) == names)
        #expect(batches.first?.allSatisfy { $0.failure?.reason == .connect } == true)
        #expect(received.completed.withLock { $0 } == names)
        #expect(alone.withLock { $0.map(\.probe) } == ["plain"])
    }

    /// Through `CurlEngine`, against a real server: every check completes exactly once, in some batch, and a
    /// secret in a failure message is hidden on the batched path as on the plain one.
    @Test func everyCheckCompletesOnceWithSecretsHidden() async throws {
        let secret = "batched-secret-needle-0123456789"
        let server = try TestHTTPServer { request in .respond(status: 200, body: "hello \(request.path)") }
        let received = Received()
        let receiver = received.receiver()
        let count = 40
        let done = DispatchSemaphore(value: 0)
        for i in 0..<count {
            var spec = httpSpec("\(server.url)/c\(i)") { $0.expect.bodyContains = i == 0 ? secret : "hello" }
            spec.name = "c\(i)"
            spec.secrets = [Secret(name: "TOKEN", value: secret)]
            engine.run(spec, batches: receiver) { sample in
                received.completed.withLock { $0.append(sample.probe) }
                done.signal()
            }
        }
        try await offPool { for _ in 0..<count { done.wait() } }

        #expect(received.completed.withLock { $0 }.sorted() == (0..<count).map { "c\($0)" }.sorted())
        let samples = received.batches.withLock { $0.flatMap { $0 } }
        #expect(samples.count == count)
        let first = try #require(samples.first { $0.probe == "c0" })
        let failure = try #require(first.failure)
        #expect(failure.reason == .bodyMismatch)
        #expect(!failure.message.contains(secret), "\(failure.message)")
        #expect(failure.message.contains("${TOKEN}"), "\(failure.message)")
        #expect(samples.filter { $0.probe != "c0" }.allSatisfy { $0.failure == nil })
    }
}
