import Foundation
import ProberCore
import ProberStorage
import Testing

/// Conformance cases for silences (`prober silence`) and the maintenance windows registered with the probes.
public enum SilenceConformance {
    public static let cases: [ConformanceCase] = [
        ConformanceCase("silences: added, listed while in force and for a while after, lifted once, versioned", silences),
        ConformanceCase("maintenance windows come back from the registered probes", windows),
    ]

    static let t: Int64 = 1_800_000_000_000_000
    static let minute: Int64 = 60_000_000

    static func silences(_ backend: ConformanceBackend) throws {
        try backend.withStorage { storage, location in
            #expect(try storage.silencesVersion() == 0)
            #expect(try storage.silences(now: t, endedSince: t).isEmpty)
            let odd = #"we "quote", and \ back"#
            let deploy = try storage.addSilence(NewSilence(probes: ["api", odd, "web.v2"], reason: "deploy 1.42",
                                                           startsAt: t, endsAt: t + 30 * minute, createdBy: "ops@host"))
            let v1 = try storage.silencesVersion()
            let all = try storage.addSilence(NewSilence(probes: [], reason: "", startsAt: t + minute, endsAt: t + 2 * minute,
                                                        createdBy: "ops@host"))
            let v2 = try storage.silencesVersion()
            #expect(v1 > 0 && v2 > v1, "each addition changes the version: \(v1), \(v2)")
            #expect(all.id > deploy.id)

            let reader = try backend.open(location, true)
            let listed = try reader.silences(now: t + minute, endedSince: t + minute)
            #expect(listed == [all, deploy], "newest first, as stored")
            #expect(listed.last?.probes == ["api", odd, "web.v2"])
            #expect(listed.first?.covers("anything") == true)

            // Ran out at t + 2 min: listed for `endedSince` before that, not after.
            #expect(try reader.silences(now: t + 5 * minute, endedSince: t + 5 * minute).map(\.id) == [deploy.id])
            #expect(try reader.silences(now: t + 5 * minute, endedSince: t).map(\.id) == [all.id, deploy.id])

            let lifted = try #require(try storage.liftSilence(id: deploy.id, at: t + 10 * minute))
            #expect(lifted.liftedAt == t + 10 * minute && lifted.end == t + 10 * minute)
            let v3 = try storage.silencesVersion()
            #expect(v3 > v2, "lifting changes the version")
            #expect(try reader.silences(now: t + 11 * minute, endedSince: t + 11 * minute).isEmpty)
            // Lifting again, or a silence that ran out, changes nothing.
            #expect(try storage.liftSilence(id: deploy.id, at: t + 12 * minute)?.liftedAt == t + 10 * minute)
            #expect(try storage.liftSilence(id: all.id, at: t + 12 * minute)?.liftedAt == nil)
            #expect(try storage.silencesVersion() == v3)
            #expect(try storage.liftSilence(id: all.id + 100, at: t) == nil)
        }
    }

    static func windows(_ backend: ConformanceBackend) throws {
        try backend.withStorage { storage, location in
            var quiet = ProbeSpec(name: "api", target: .tcp(TCPTarget(host: "127.0.0.1", port: 9)))
            quiet.maintenance = [
                MaintenanceWindow(.weekly(days: [.sat, .sun], hour: 2, minute: 0, duration: .seconds(7_200), zone: TimeZone(identifier: "Europe/Berlin")!)),
                MaintenanceWindow(.once(start: t, end: t + 60 * minute)),
            ]
            let plain = ProbeSpec(name: "web", target: .tcp(TCPTarget(host: "127.0.0.1", port: 9)))
            try storage.register([quiet, plain])
            let windows = try backend.open(location, true).maintenanceWindows()
            #expect(windows == ["api": quiet.maintenance])
        }
    }
}
