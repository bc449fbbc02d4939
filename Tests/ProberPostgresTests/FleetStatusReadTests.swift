import Foundation
import ProberCore
import ProberDocuments
@testable import ProberPostgres
import ProberStorage
import ProberTestSupport
import Testing

/// Fleet `status` over PostgreSQL (issue 14: 200 ms at 10 locations × 3,000 probes): every probe's line and every
/// location's line under it from a fixed number of statements, however many probes and locations there are.
@Suite struct FleetStatusReadTests {
    static let minute: Int64 = 60_000_000
    /// On a 5-minute boundary (2027-01-15 03:00 UTC), so the hour shown is exactly `[now - 1 h, now]`.
    static let now: Int64 = 1_799_971_200_000_000 + 3 * 60 * minute
    static let locations = ["a", "b", "c"]

    /// `probes` probes checked every minute of the hour before `now` from a, b and c; c's checks of p1 fail from
    /// 10 minutes before `now` on.
    static func fill(_ url: String, probes: Int) throws {
        for location in locations {
            let recorder = try PostgresStore(url: url, site: location).makeSampleRecorder(warning: { _ in })
            for p in 1...probes {
                for m in 0..<60 {
                    let at = now - Int64(59 - m) * minute - Int64(p) * 1_000
                    let failing = location == "c" && p == 1 && m >= 50
                    recorder.append(Sample(probe: "p\(p)", startedAt: at, failure: failing ? Failure(.connectRefused, "refused") : nil,
                                           phases: Phases(total: 1_000 + Int64(m) * 10), status: failing ? nil : 200))
                }
            }
            try recorder.close()
        }
    }

    /// What `prober status` reads (its rows, the connectivity losses and the overload line), and the statements it
    /// took on the reader's connection.
    static func status(_ url: String) throws -> (rows: [StatusDocument.Row], statements: Int) {
        let reader = try PostgresStore(url: url, readOnly: true, site: "reader")
        let before = reader.statementsSent
        let rows = try StatusDocument.rows(reader, now: now)
        _ = try StatusDocument.connectivityLosses(reader, now: now)
        _ = try StatusDocument.overload(reader, now: now)
        return (rows, reader.statementsSent - before)
    }

    @Test func statusReadsEveryProbeAndLocationInAFixedNumberOfStatements() throws {
        let cluster = try TestPostgres.shared()
        var counts: [Int: Int] = [:]
        for probes in [2, 40] {
            let database = try cluster.makeDatabase()
            defer { cluster.dropDatabase(database) }
            let url = cluster.socketURL(database)
            try Self.fill(url, probes: probes)
            let (rows, statements) = try Self.status(url)
            counts[probes] = statements

            // The meaning: each probe's last check and hour, each location's line, p1 failing from c only.
            #expect(rows.map(\.status.name) == (1...probes).map { "p\($0)" }.sorted())
            for row in rows {
                #expect(row.locations.map(\.location) == Self.locations, "\(row.status.name)")
                #expect(row.status.checks1h == 3 * 60, "\(row.status.name): every location's hour")
                for line in row.locations {
                    #expect(line.checks1h == 60, "\(row.status.name) from \(line.location)")
                    #expect(line.last?.at == Self.now - Int64(row.status.name.dropFirst())! * 1_000)
                }
            }
            let p1 = try #require(rows.first { $0.status.name == "p1" })
            #expect(p1.status.failures1h == 10)
            #expect(p1.locations.map { $0.last?.ok } == [true, true, false], "c's last check of p1 failed")
            #expect(p1.locations.map(\.failures1h) == [0, 0, 10])
            #expect(rows.filter { $0.status.name != "p1" }.allSatisfy { $0.status.failures1h == 0 && $0.status.last?.ok == true })
        }
        #expect(counts[2] == counts[40], "status sent \(counts[2] ?? 0) statements for 2 probes and \(counts[40] ?? 0) for 40")
    }

    /// The combined read (`statusAndLocations`: one binary read of the summary and the episodes, each probe's hour summed
    /// in one pass) says what the probe read and the location read say apart, on every kind of location: running
    /// (its merged hour), stopped within the hour (its slots merged), stopped two days ago (no line, nothing in the
    /// hour), with and without a published episode, and a probe none of them checked.
    @Test func theCombinedReadAgreesWithTheProbeAndLocationReads() throws {
        let cluster = try TestPostgres.shared()
        let database = try cluster.makeDatabase()
        defer { cluster.dropDatabase(database) }
        let url = cluster.socketURL(database)
        try Self.fill(url, probes: 3)
        // d stopped 20 minutes ago, with slow and failing checks; e last checked two days ago.
        let d = try PostgresStore(url: url, site: "d").makeSampleRecorder(warning: { _ in })
        for m in 20..<75 {
            let failing = m % 7 == 0
            d.append(Sample(probe: "p2", startedAt: Self.now - Int64(m) * Self.minute, failure: failing ? Failure(.timeout, "timeout") : nil,
                            phases: Phases(total: 5_000 + Int64(m * m) * 40), status: failing ? nil : 200))
        }
        try d.close()
        let e = try PostgresStore(url: url, site: "e").makeSampleRecorder(warning: { _ in })
        e.append(Sample(probe: "p3", startedAt: Self.now - 2 * 86_400_000_000, phases: Phases(total: 700), status: 200))
        try e.close()
        let b = try PostgresStore(url: url, site: "b")
        try b.publish(probe: "p1", location: "b", episode: LocationEpisode(location: "b", status: .major, stage: .monitoring, summary: "slow \"tls\""),
                      tracking: nil, at: Self.now)
        try b.publish(probe: "p2", location: "b", episode: LocationEpisode(location: "b", status: nil, stage: nil), tracking: nil, at: Self.now)
        try b.register([ProbeSpec(name: "p4", target: .http(HTTPTarget(url: "http://127.0.0.1:9/p4")), interval: .seconds(10), timeout: .seconds(2))])

        let reader = try PostgresStore(url: url, readOnly: true, site: "reader")
        let (probes, locations) = try reader.statusAndLocations(now: Self.now)
        #expect(probes == (try reader.status(now: Self.now)))
        #expect(locations == (try reader.locationStatus(now: Self.now, probes: nil, lastHour: true)))
        #expect(locations["p2"]?.map(\.location) == ["a", "b", "c", "d"] && locations["p3"]?.map(\.location) == ["a", "b", "c"])
        #expect(locations["p2"]?.last?.checks1h == 41 && locations["p2"]?.last?.failures1h == 6, "d's slots still in the hour")
        #expect(locations["p1"]?[1].episode?.summary == "slow \"tls\"" && locations["p2"]?[1].episode != nil)
        #expect(probes.map(\.name) == ["p1", "p2", "p3", "p4"] && locations["p4"] == nil)
    }

    /// Probes whose ids are far apart (a sequence moved on, rows restored from elsewhere) are found by their ids too:
    /// the read indexes lines by id in a table when the ids are dense, in a dictionary when they are not.
    @Test func probesWithIdsFarApartHaveTheirLines() throws {
        let cluster = try TestPostgres.shared()
        let database = try cluster.makeDatabase()
        defer { cluster.dropDatabase(database) }
        let url = cluster.socketURL(database)
        try Self.fill(url, probes: 2)
        _ = try cluster.psql("SELECT setval(pg_get_serial_sequence('probes', 'id'), 50000000)", database: database)
        let a = try PostgresStore(url: url, site: "a").makeSampleRecorder(warning: { _ in })
        a.append(Sample(probe: "p9", startedAt: Self.now - Self.minute, phases: Phases(total: 900), status: 200))
        try a.close()

        let reader = try PostgresStore(url: url, readOnly: true, site: "reader")
        #expect(try cluster.psql("SELECT id FROM probes WHERE name = 'p9'", database: database)
            .trimmingCharacters(in: .whitespacesAndNewlines) == "50000001")
        let (probes, locations) = try reader.statusAndLocations(now: Self.now)
        #expect(probes == (try reader.status(now: Self.now)))
        #expect(locations == (try reader.locationStatus(now: Self.now, probes: nil, lastHour: true)))
        #expect(probes.first { $0.name == "p9" }?.last?.at == Self.now - Self.minute)
        #expect(locations["p9"]?.map(\.location) == ["a"] && locations["p9"]?.first?.checks1h == 1)
        #expect(locations["p1"]?.map(\.location) == Self.locations)
    }
}
