import ProberCore
import ProberProbes
import ProberTestSupport
import Testing

/// The engine reads "now" from the clock it is given, not from the system.
@Suite("Injected wall clock")
struct WallClockTests {
    struct FixedClock: WallClock {
        let at: Int64
        func now() -> Int64 { at }
    }

    @Test func samplesStartAtTheInjectedClocksNow() async throws {
        let server = try TestHTTPServer { _ in .respond(status: 200, body: "ok") }
        defer { server.stop() }
        let fixed: Int64 = 1_700_000_000_123_456
        let local = try CurlEngine(maxConcurrent: 2, clock: FixedClock(at: fixed))
        defer { local.shutdown() }
        let sample = await local.check(httpSpec(server.url))
        #expect(sample.ok)
        #expect(sample.startedAt == fixed)
    }

    @Test func systemClockReadsTheEpochInMicroseconds() {
        let now = SystemWallClock().now()
        #expect(now > 1_700_000_000_000_000) // after November 2023
        #expect(UTCTime.iso8601(now).hasSuffix("Z"))
    }
}
