import Foundation
import ProberCore
@testable import ProberEngine
import ProberStorage
import ProberStore
import ProberTestSupport
@testable import ProberWeb
import Testing

/// `/` takes each probe's last check from the daemon's `LatestSamples` and asks storage only for the others: what
/// it shows must be what storage holds once the samples are written, and a restart (an empty memory) must fall
/// back to storage.
@Suite struct LatestSamplesListingTests {
    static let now: Int64 = 1_800_000_000_000_000

    /// Checks of every shape the listing shows: passed, failed with and without a response, without a total.
    static func samples(_ probe: String, from start: Int64) -> [Sample] {
        [
            Sample(probe: probe, startedAt: start, phases: Phases(dns: 120, connect: 300, tls: 900, processing: 4_000, transfer: 80,
                                                                  total: 5_400), status: 200),
            Sample(probe: probe, startedAt: start + 10_000_001, failure: Failure(.httpStatus, "expected 200..<300, got 503"),
                   phases: Phases(dns: 100, connect: 250, total: 2_345_678), status: 503),
            Sample(probe: probe, startedAt: start + 20_000_002, failure: Failure(.timeout, "timed out after 5 s"),
                   phases: Phases(dns: 90)),
            Sample(probe: probe, startedAt: start + 30_000_003, failure: Failure(.connectRefused, "refused"),
                   phases: Phases(dns: 90, total: 1_234)),
        ]
    }

    /// A store with `probes` registered, and the daemon's path for each sample: written (then flushed) and remembered.
    struct Daemonish {
        let dir: TemporaryDirectory
        let store: Store
        let latest = LatestSamples()

        init(_ dir: TemporaryDirectory, probes: [String]) throws {
            self.dir = dir
            store = try Store(path: dir.path + "/prober.db")
            try store.register(probes.map { ProbeSpec(name: $0, target: .tcp(TCPTarget(host: "127.0.0.1", port: 1))) })
        }

        func check(_ samples: [Sample], write: Bool = true) throws {
            let recorder = store.makeSampleRecorder(warning: { Issue.record("storage warning: \($0)") })
            for sample in samples {
                if write { recorder.append(sample) }
                latest.record(sample)
            }
            try recorder.close()
        }

        /// The listing as the served `/` reads it: through a read-only storage, with the daemon's memory.
        func listing() throws -> StatusCache.Listing {
            let reader = try Store(path: dir.path + "/prober.db", readOnly: true)
            let latest = latest
            return try StatusCache(remembered: { latest.lastChecks() }).read(reader, now: LatestSamplesListingTests.now)
        }
    }

    @Test func theListingFromMemoryEqualsTheStoredOneAfterChecks() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let daemon = try Daemonish(dir, probes: ["a", "b", "c", "never"])
        // Each probe ends on a different shape of check.
        let all = Self.samples("a", from: Self.now - 600_000_000)
        try daemon.check(all + Array(Self.samples("b", from: Self.now - 500_000_000).prefix(2))
                         + Array(Self.samples("c", from: Self.now - 400_000_000).prefix(3)))

        let stored = try daemon.store.lastChecks()
        #expect(stored.count == 3)
        #expect(daemon.latest.lastChecks() == stored, "the same time, reason, status and latency as stored")
        #expect(try daemon.listing().last == stored)
        // The page itself: the same markup as one read from storage alone.
        let latest = daemon.latest
        let fromMemory = try StatusPage.render(.init(), storage: daemon.store, now: Self.now,
                                               cache: StatusCache(remembered: { latest.lastChecks() })).markup
        #expect(fromMemory == (try StatusPage.render(.init(), storage: daemon.store, now: Self.now).markup))
    }

    @Test func aRestartedDaemonFallsBackToStorageForProbesItHasNotChecked() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        do {
            let before = try Daemonish(dir, probes: ["a", "b", "gone"])
            try before.check(Self.samples("a", from: Self.now - 900_000_000) + Self.samples("b", from: Self.now - 900_000_000)
                             + Self.samples("gone", from: Self.now - 900_000_000))
        }
        // Started again: nothing in memory; then "a" is checked once (written), and "b" once more but its sample is
        // still in the recorder's queue (not written yet), as for up to a second in the daemon.
        let after = try Daemonish(dir, probes: ["a", "b"])
        #expect(try after.listing().last == after.store.lastChecks(), "an empty memory: every last check from storage")
        let fresh = Sample(probe: "a", startedAt: Self.now - 5_000_000, phases: Phases(total: 7_000), status: 204)
        try after.check([fresh])
        let unwritten = Sample(probe: "b", startedAt: Self.now - 1_000_000, failure: Failure(.timeout, "t"), phases: Phases())
        try after.check([unwritten], write: false)

        let listing = try after.listing()
        let stored = try after.store.lastChecks()
        #expect(listing.last["a"] == stored["a"])
        #expect(listing.last["a"] == ProbeStatus.LastCheck(at: fresh.startedAt, reason: nil, status: 204, latency: 7_000))
        #expect(listing.last["gone"] == stored["gone"], "a probe no longer checked: from storage")
        #expect(listing.last["gone"] != nil)
        #expect(listing.last["b"] == ProbeStatus.LastCheck(at: unwritten.startedAt, reason: .timeout, status: nil, latency: nil),
                "memory, which storage catches up with at the next write")
        #expect(listing.last.count == 3)
    }

    /// A check that finishes after a later one of the same probe does not replace it (storage keeps the newest too).
    @Test func anOlderCheckFinishingLateDoesNotReplaceTheLatest() {
        let latest = LatestSamples()
        latest.record(Sample(probe: "a", startedAt: 2_000, status: 200))
        latest.record(Sample(probe: "a", startedAt: 1_000, failure: Failure(.timeout, "t")))
        #expect(latest.lastChecks()["a"]?.at == 2_000)
        #expect(latest.lastChecks()["a"]?.ok == true)
    }
}
