import ProberCore
@testable import ProberPostgres
import ProberStore
import ProberTestSupport
import Testing

/// A location's hour read in place (`EncodedHour`, what `status` reads from a binary result) says what the decoded
/// aggregate says: counts and percentiles, with and without latencies.
@Suite struct SummaryHourTests {
    @Test func anHourReadInPlaceHasTheDecodedAggregatesFigures() {
        var random = SeededRandom(seed: 30)
        for round in 0..<500 {
            var aggregate = Aggregate.rollupEmpty
            let checks = round % 50 == 0 ? 0 : Int.random(in: 1...400, using: &random)
            for _ in 0..<checks {
                let failing = Int.random(in: 0..<10, using: &random) == 0
                let latency = Int64.random(in: 0...1, using: &random) == 0
                    ? Int64.random(in: 1...200_000_000, using: &random) : Int64.random(in: 20_000...40_000, using: &random)
                aggregate.add(reason: failing ? FailureReason.timeout.code : 0, phases: failing ? Phases() : Phases(total: latency))
            }
            let encoded = SummaryCodec.encode(aggregate)
            var other = Aggregate.rollupEmpty
            other.add(reason: 0, phases: Phases(total: Int64.random(in: 1...50_000, using: &random)))
            let first = SummaryCodec.encode(other)
            let decoded = SummaryCodec.decode(encoded[...])
            var dense = SummaryHour()
            dense.add(encoded: encoded[...])
            encoded.withUnsafeBytes { bytes in
                let hour = EncodedHour(bytes)
                #expect(hour.counts.checks == decoded.checks && hour.counts.failures == decoded.failures && dense.counts.checks == decoded.checks)
                for p in [0.0, 0.01, 0.5, 0.95, 0.99, 1.0] {
                    #expect(hour.percentile(p) == decoded.percentile(p), "p\(p) of \(checks) checks")
                    #expect(dense.percentile(p) == decoded.percentile(p), "p\(p) of \(checks) checks, dense")
                    // Added and its own percentile read in the same walk, into an hour that already holds another:
                    // the same sum, the same figure.
                    first.withUnsafeBytes { firstBytes in
                        var walked = SummaryHour(), summed = SummaryHour()
                        _ = walked.add(EncodedHour(firstBytes), percentile: p)
                        summed.add(EncodedHour(firstBytes))
                        #expect(walked.add(hour, percentile: p) == decoded.percentile(p), "p\(p) of \(checks) checks, one walk")
                        summed.add(hour)
                        #expect(walked.histogram == summed.histogram && walked.counts.checks == summed.counts.checks
                                && walked.percentile(p) == summed.percentile(p), "p\(p) of \(checks) checks, one walk's sum")
                    }
                }
            }
        }
    }

    @Test func theTotalLatencyIsReadAsThePhasesDecoderReadsIt() {
        for phases in [Phases(), Phases(total: 0), Phases(total: 1_234), Phases(dns: 5, connect: 7, tls: nil, processing: 100, transfer: 3, total: 115),
                       Phases(dns: 5, connect: 7, tls: nil, processing: 100, transfer: 3, total: 9_000), Phases(dns: 5)] {
            let encoded = PhaseCodec.encode(phases) ?? []
            let total = encoded.withUnsafeBytes { PostgresStore.totalLatency($0) }
            #expect(total == PhaseCodec.decode(encoded).total, "\(phases)")
        }
    }
}
