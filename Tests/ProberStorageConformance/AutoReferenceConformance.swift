import ProberCore
import ProberStorage
import Testing

extension IncidentConformance {
    static let day: Int64 = 86_400_000_000
    static let minute: Int64 = 60_000_000

    /// Every 5 minutes over `days` days from `midnight`: 100 ms, except a nightly batch hour (02:40 to 03:40)
    /// at 900 ms.
    static func nightlyHistory(from midnight: Int64, days: Int) -> [Sample] {
        stride(from: midnight, to: midnight + Int64(days) * day, by: Int64.Stride(5 * minute)).map { ts in
            let minuteOfDay = (ts - midnight) % day / minute
            let slow = minuteOfDay >= 160 && minuteOfDay < 220
            return Sample(probe: "api", startedAt: ts, phases: Phases(total: slow ? 900_000 : 100_000), status: 200)
        }
    }

    static func autoReferenceSameHour(_ backend: ConformanceBackend) throws {
        try backend.withStorage { storage, _ in
            let midnight = (t / day) * day
            try record(nightlyHistory(from: midnight, days: 8), into: storage)

            // 03:10 on the 8th day: the hour around it on the 7 days before is the batch hour.
            let night = try storage.autoReference(probe: "api", location: nil, at: midnight + 7 * day + 190 * minute)
            #expect(night == AutoReference(p95: 900_000, checks: 7 * 12, sameHour: true))
            // Noon: the same hour on previous days is fast.
            let noon = try storage.autoReference(probe: "api", location: nil, at: midnight + 7 * day + 720 * minute)
            #expect(noon == AutoReference(p95: 100_000, checks: 7 * 12, sameHour: true))
            // 03:10 on the 3rd day: no week of history yet, so the previous 24 h, where the batch hour is 12 of
            // 288 checks (under 5 %): its p95 is the fast one, and the nightly hour would look like an incident.
            let early = try storage.autoReference(probe: "api", location: nil, at: midnight + 2 * day + 190 * minute)
            #expect(early == AutoReference(p95: 100_000, checks: 288, sameHour: false))
            #expect(try storage.autoReference(probe: "nope", location: nil, at: midnight + 7 * day) == AutoReference(p95: nil, checks: 0))
        }
    }

    static func learningProbes(_ backend: ConformanceBackend) throws {
        try backend.withStorage { storage, _ in
            var auto = IncidentPolicy()
            auto.minor = Threshold(latency: nil, failures: 3, autoLatency: true)
            let target = ProbeSpec.Target.tcp(TCPTarget(host: "127.0.0.1", port: 1))
            try storage.register([ProbeSpec(name: "api", target: target, incident: auto),
                                  ProbeSpec(name: "fixed", target: target)])
            let fast = { (i: Int, probe: String) in
                Sample(probe: probe, startedAt: t + Int64(i) * 10_000_000, phases: Phases(total: 100_000), status: 200)
            }
            try record((0..<29).flatMap { [fast($0, "api"), fast($0, "fixed")] }, into: storage)
            #expect(try storage.learningProbes(now: t + 300_000_000) == ["api"])
            try record([fast(29, "api")], into: storage)
            #expect(try storage.learningProbes(now: t + 300_000_000) == [])
        }
    }
}
