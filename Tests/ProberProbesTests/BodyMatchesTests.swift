import Foundation
import ProberCore
@testable import ProberProbes
import ProberTestSupport
import Testing

/// `body_matches`: one engine for checking and probing, and matching bounded by the check's timeout.
@Suite struct BodyMatchesTests {
    /// `(?w)` (Unicode word boundaries) is ICU syntax Swift `Regex` rejects: `check` accepted it, and every
    /// check then failed as `other` (issue 13, item 9).
    @Test func aPatternTheCheckAcceptsMatchesWhenProbing() async throws {
        #expect((try? BodyPattern(#"(?w)\bstatus\b"#)) != nil)
        let server = try TestHTTPServer { _ in .respond(status: 200, body: "the status is up") }
        defer { server.stop() }
        let sample = await engine.check(httpSpec(server.url) { $0.expect.bodyMatches = #"(?w)\bstatus\b"# })
        #expect(sample.failure == nil)
    }

    /// `(x+x+)+y` against 5,000 x's backtracks for ever: the check ends at its timeout as `timeout`, and a
    /// regex probe started after it finishes first instead of queueing behind it (issue 13, item 18).
    @Test(.timeLimit(.minutes(1))) func aBacktrackingPatternGivesUpAtTheTimeoutAndBlocksNoOther() async throws {
        let server = try TestHTTPServer { request in
            .respond(status: 200, body: request.path == "/bomb" ? String(repeating: "x", count: 5_000) : "all ok")
        }
        defer { server.stop() }
        let order = OrderLog()
        async let bomb: (Sample, Duration) = withCheckedContinuation { continuation in
            // Timed in the completion, not when this task resumes (see `timedCheck`).
            let start = ContinuousClock.now
            engine.run(httpSpec(server.url + "/bomb", timeout: .seconds(2)) { $0.expect.bodyMatches = "(x+x+)+y" }) {
                order.append("bomb")
                continuation.resume(returning: ($0, ContinuousClock.now - start))
            }
        }
        // Gives the bomb a head start into the matcher; if it were not enough the order would still hold.
        try await Task.sleep(for: .milliseconds(200))
        let plain = await withCheckedContinuation { continuation in
            engine.run(httpSpec(server.url + "/plain") { $0.expect.bodyMatches = "all o+k" }) {
                order.append("plain")
                continuation.resume(returning: $0)
            }
        }
        let (bombed, took) = await bomb
        #expect(plain.failure == nil)
        #expect(bombed.failure == Failure(.timeout, "body_matches gave up at the timeout (2s)"))
        #expect(took < .seconds(3), "the match gives up at the check's deadline, not later")
        #expect(order.entries == ["plain", "bomb"])
    }

    @Test func gaveUpIsReportedOnlyWhenTheDeadlinePassed() throws {
        let pattern = try BodyPattern("(x+x+)+y")
        let text = String(repeating: "x", count: 5_000)
        #expect(pattern.firstMatch(in: text, expired: { true }) == .gaveUp)
        #expect(try BodyPattern("x{3}").firstMatch(in: text, expired: { false }) == .match)
        #expect(try BodyPattern("y").firstMatch(in: text, expired: { false }) == .noMatch)
    }
}

/// Completion order across threads.
private final class OrderLog: @unchecked Sendable { // Safe: `list` is only touched under `lock`.
    private let lock = NSLock()
    private var list: [String] = []
    func append(_ entry: String) { lock.withLock { list.append(entry) } }
    var entries: [String] { lock.withLock { list } }
}
