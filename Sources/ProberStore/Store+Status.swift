import Foundation
import ProberCore
import ProberStorage

extension Store {
    /// Per probe: the last check and the last hour's uptime and p95. `now` in microseconds.
    public func status(now: Int64) throws -> [ProbeStatus] {
        try read { db in
            let probes = try db.prepare("SELECT id, name, kind, target FROM probes ORDER BY name")
            var rows: [(Int64, String, String, String)] = []
            while try probes.step() { rows.append((probes.int64(0), probes.string(1), probes.string(2), probes.string(3))) }
            probes.reset()
            let lastSamples = try lastSamples(db)
            return try rows.map { id, name, kind, target in
                var status = ProbeStatus(name: name, kind: kind, target: target, last: nil, checks1h: 0, failures1h: 0,
                                         uptime1h: nil, p95_1h: nil)
                if let last = lastSamples[id] {
                    status.last = Self.lastCheck(last)
                }
                var latencies: [Int64] = []
                try forEachSample(probe: id, from: now - Self.bucket1h, to: now + 1, db) { sample in
                    status.checks1h += 1
                    if sample.reason != 0 { status.failures1h += 1 } else if let t = sample.phases.total { latencies.append(t) }
                    return true
                }
                if status.checks1h > 0 {
                    status.uptime1h = Double(status.checks1h - status.failures1h) * 100 / Double(status.checks1h)
                }
                if !latencies.isEmpty {
                    latencies.sort()
                    status.p95_1h = latencies[Aggregate.rank(0.95, count: latencies.count) - 1]
                }
                return status
            }
        }
    }

    /// The probe's last `limit` samples, oldest first (the evaluator rebuilds its window from them after
    /// a restart). Failure messages are not stored: a failed sample comes back with the reason's name
    /// as its message. Remote address, HTTP version and certificate dates are not stored either.
    public func recentSamples(probe name: String, limit: Int) throws -> [Sample] {
        try read { db in
            guard let id = try probeID(name, create: false, db) else { return [] }
            var samples: [Sample] = []
            try forEachSample(probe: id, from: Int64.min, to: Int64.max, newestFirst: true, db) { raw in
                let failure = raw.reason == 0 ? nil
                    : FailureReason(code: raw.reason).map { Failure($0, $0.rawValue) } ?? Failure(.other, "other")
                samples.append(Sample(probe: name, startedAt: raw.ts, failure: failure, phases: raw.phases,
                                      status: raw.status.map(Int.init), bytes: raw.bytes,
                                      ipFamily: raw.family.map { $0 == 1 ? IPFamily.ipv6 : .ipv4 }))
                return samples.count < limit
            }
            return samples.reversed()
        }
    }

    /// A stored sample as the last check of a probe's status.
    static func lastCheck(_ sample: RawSample) -> ProbeStatus.LastCheck {
        .init(at: sample.ts, reason: sample.reason == 0 ? nil : FailureReason(code: sample.reason) ?? .other,
              status: sample.status.map(Int.init), latency: sample.phases.total)
    }
}
