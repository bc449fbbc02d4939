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
            let last = try db.prepare("SELECT ts, reason, status, phases FROM samples WHERE probe_id = ?1 ORDER BY ts DESC LIMIT 1")
            let hour = try db.prepare("SELECT reason, phases FROM samples WHERE probe_id = ?1 AND ts >= ?2 AND ts <= ?3")
            return try rows.map { id, name, kind, target in
                var status = ProbeStatus(name: name, kind: kind, target: target, last: nil, checks1h: 0, failures1h: 0,
                                         uptime1h: nil, p95_1h: nil)
                try last.bind(1, id)
                if try last.step() {
                    let reason = Int(last.int64(1))
                    status.last = .init(at: last.int64(0), reason: reason == 0 ? nil : FailureReason(code: reason) ?? .other,
                                        status: last.int64OrNil(2).map(Int.init), latency: Self.phases(last, from: 3).total)
                }
                last.reset()
                try hour.bind(1, id)
                try hour.bind(2, now - Self.bucket1h)
                try hour.bind(3, now)
                var latencies: [Int64] = []
                while try hour.step() {
                    status.checks1h += 1
                    if hour.int64(0) != 0 { status.failures1h += 1 } else if let t = Self.phases(hour, from: 1).total { latencies.append(t) }
                }
                hour.reset()
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
            let select = try db.prepare("""
                SELECT ts, reason, status, phases, bytes, family FROM samples
                WHERE probe_id = ?1 ORDER BY ts DESC LIMIT ?2
                """)
            try select.bind(1, id)
            try select.bind(2, Int64(limit))
            defer { select.reset() }
            var samples: [Sample] = []
            while try select.step() {
                let code = Int(select.int64(1))
                let failure = code == 0 ? nil : FailureReason(code: code).map { Failure($0, $0.rawValue) } ?? Failure(.other, "other")
                let family = select.int64OrNil(5).map { $0 == 1 ? IPFamily.ipv6 : .ipv4 }
                samples.append(Sample(probe: name, startedAt: select.int64(0), failure: failure,
                                      phases: Self.phases(select, from: 3), status: select.int64OrNil(2).map(Int.init),
                                      bytes: select.int64OrNil(4), ipFamily: family))
            }
            return samples.reversed()
        }
    }
}
