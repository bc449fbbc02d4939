import XCTest
@testable import ProberEngine

/// The schedule's arithmetic with a fake clock: plain numbers, no timers.
final class ScheduleTests: XCTestCase {
    func testFNV1aMatchesPublishedVectors() {
        XCTAssertEqual(Schedule.fnv1a(""), 0xcbf2_9ce4_8422_2325)
        XCTAssertEqual(Schedule.fnv1a("a"), 0xaf63_dc4c_8601_ec8c)
        XCTAssertEqual(Schedule.fnv1a("foobar"), 0x85944171f73967e8)
    }

    func testFirstDeadlineIsOnTheProbesPhaseAndNotInThePast() {
        let interval: Int64 = 10_000_000
        for now: Int64 in [1_764_000_000_000_000, 1_764_000_000_000_001, 1_764_000_003_333_333] {
            let phase = Schedule.phase(name: "api", intervalMicros: interval)
            let first = Schedule.firstDeadline(name: "api", intervalMicros: interval, now: now)
            XCTAssertGreaterThanOrEqual(first, now)
            XCTAssertLessThan(first, now + interval)
            XCTAssertEqual(first % interval, phase)
        }
    }

    func testRestartKeepsEachProbesPhase() {
        // Two "runs" started at unrelated times land on the same grid.
        let interval: Int64 = 30_000_000
        let a = Schedule.firstDeadline(name: "checkout", intervalMicros: interval, now: 1_764_000_000_123_456)
        let b = Schedule.firstDeadline(name: "checkout", intervalMicros: interval, now: 1_764_086_400_987_654)
        XCTAssertEqual(a % interval, b % interval)
        XCTAssertEqual((b - a) % interval, 0)
    }

    func testTenThousandProbesSpreadAcrossTheInterval() {
        // 10,000 probes at 10 s, counted in 100 slots of 100 ms: a uniform spread puts ~100 in each.
        let interval: Int64 = 10_000_000
        var slots = [Int](repeating: 0, count: 100)
        for i in 0..<10_000 {
            slots[Int(Schedule.phase(name: "probe-\(i)", intervalMicros: interval) / 100_000)] += 1
        }
        XCTAssertGreaterThan(slots.min()!, 50, "\(slots)")
        XCTAssertLessThan(slots.max()!, 160, "\(slots)")
        // And within one millisecond, never a pile-up.
        var perMillisecond = [Int: Int]()
        for i in 0..<10_000 { perMillisecond[Int(Schedule.phase(name: "probe-\(i)", intervalMicros: interval) / 1_000), default: 0] += 1 }
        XCTAssertLessThan(perMillisecond.values.max()!, 10)
    }

    func testTicksNeverDriftWhateverTheLateness() {
        // A fake clock: each timer fires up to 90 % of an interval late; every run stays on the grid.
        let interval: Int64 = 100_000
        let first = Schedule.firstDeadline(name: "p", intervalMicros: interval, now: 1_000_000_000)
        var due = first
        var rng = SystemRandomNumberGenerator()
        for k in 0..<10_000 {
            let now = due + Int64.random(in: 0..<(interval * 9 / 10), using: &rng)
            let tick = Schedule.tick(due: due, intervalMicros: interval, now: now)
            XCTAssertEqual(tick.run, first + Int64(k) * interval)
            XCTAssertEqual(tick.missed, 0)
            XCTAssertEqual(Schedule.lateness(deadline: tick.run, started: now), now - tick.run)
            due = tick.next
        }
        XCTAssertEqual(due, first + 10_000 * interval)
    }

    func testAStalledQueueMissesTicksAndRejoinsTheGrid() {
        let interval: Int64 = 100_000
        // Due at 1_000_000, but the queue only got to it 350 ms later: three grid points passed.
        let tick = Schedule.tick(due: 1_000_000, intervalMicros: interval, now: 1_350_000)
        XCTAssertEqual(tick.missed, 3)
        XCTAssertEqual(tick.run, 1_300_000)
        XCTAssertEqual(tick.next, 1_400_000)
        // A timer firing a hair early runs its own tick, on time.
        let early = Schedule.tick(due: 1_000_000, intervalMicros: interval, now: 999_999)
        XCTAssertEqual(early.run, 1_000_000)
        XCTAssertEqual(early.missed, 0)
        XCTAssertEqual(Schedule.lateness(deadline: early.run, started: 999_999), 0)
    }

    func testLatenessHistogramQuantiles() {
        var h = LatenessHistogram()
        XCTAssertEqual(h.p99, 0)
        for _ in 0..<98 { h.record(100) }
        h.record(5_000)
        h.record(2_000_000)
        XCTAssertEqual(h.count, 100)
        XCTAssertEqual(h.max, 2_000_000)
        XCTAssertEqual(h.sum, 98 * 100 + 5_000 + 2_000_000)
        // Quantiles are bucket upper bounds: at least the true value, within a factor √2.
        XCTAssertGreaterThanOrEqual(h.p50, 100)
        XCTAssertLessThanOrEqual(h.p50, 142)
        XCTAssertGreaterThanOrEqual(h.p99, 5_000)
        XCTAssertLessThanOrEqual(h.p99, 7_072)
        XCTAssertEqual(h.quantile(1), 2_000_000)
        XCTAssertEqual(h.cumulative.last?.count, 100)
        var merged = LatenessHistogram()
        merged.merge(h)
        merged.merge(h)
        XCTAssertEqual(merged.count, 200)
        XCTAssertEqual(merged.max, 2_000_000)
    }
}
