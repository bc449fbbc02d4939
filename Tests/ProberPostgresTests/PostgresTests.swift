import Dispatch
import Foundation
import ProberBackends
import ProberCore
@testable import ProberPostgres
import ProberStorage
import ProberTestSupport
import Testing

/// What the PostgreSQL backend promises beyond the conformance suite: day partitions, two probers on one
/// database (incidents, the outbox), start-up errors without the password, and `prober run` end to end.
/// Every test uses a new database of this process's throwaway cluster (`TestPostgres.shared`).
@Suite struct PostgresBackendTests {
    static let day: Int64 = 86_400_000_000
    /// Midnight UTC.
    static let t0: Int64 = 1_799_971_200_000_000

    /// A new database; dropped after `body`.
    func withDatabase<T>(_ body: (TestPostgres, String) throws -> T) throws -> T {
        let cluster = try TestPostgres.shared()
        let name = try cluster.makeDatabase()
        defer { cluster.dropDatabase(name) }
        return try body(cluster, name)
    }

    func partitions(_ cluster: TestPostgres, _ database: String) throws -> [String] {
        try cluster.psql("""
            SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = 'samples'::regclass ORDER BY 1
            """, database: database).split(separator: "\n").map(String.init)
    }

    @Test func samplesGoToDayPartitionsAndRetentionDropsWholeDays() throws {
        try withDatabase { cluster, database in
            let store = try PostgresStore(url: cluster.socketURL(database), site: "fra-1")
            // Five days, a check every 10 minutes.
            let samples = (0..<(5 * 144)).map { i in
                Sample(probe: "api", startedAt: Self.t0 + Int64(i) * 600_000_000, phases: Phases(total: 1_000), status: 200)
            }
            let recorder = store.makeSampleRecorder(warning: { _ in })
            for s in samples { recorder.append(s) }
            try recorder.close()
            let days = (0..<5).map { Partitions.name(dayStart: Self.t0 + Int64($0) * Self.day) }
            #expect(try partitions(cluster, database) == days)
            #expect(days.first == "samples_20270115", "t0 is 2027-01-15")
            #expect(try cluster.psql("SELECT DISTINCT location FROM samples", database: database) == "fra-1\n")

            // Maintenance at the end of day 5 with two days of raw retention: days 1-3 go whole, the next
            // partitions are created ahead, rollups keep every check.
            let now = Self.t0 + 5 * Self.day
            var policy = StoragePolicy()
            policy.raw = .microseconds(2 * Self.day)
            var report = try store.maintain(now: now, policy: policy, budget: .seconds(30))
            while !report.finished { report = try store.maintain(now: now, policy: policy, budget: .seconds(30)) }
            let kept = try partitions(cluster, database)
            #expect(kept == (3..<8).map { Partitions.name(dayStart: Self.t0 + Int64($0) * Self.day) })
            #expect(try store.recentSamples(probe: "api", limit: 10_000).count == 2 * 144)
            let history = try #require(try store.history(probe: "api", since: Self.t0, until: now, every: Self.day, phase: .total))
            #expect(history.summary.checks == samples.count, "rollups keep what the dropped partitions held")
            #expect(try cluster.psql("SELECT count(*) FROM rollup_5m WHERE location = 'fra-1'", database: database) != "0\n")
        }
    }

    @Test func twoProbersRacingToOpenAnIncidentOpenOne() throws {
        try withDatabase { cluster, database in
            let url = cluster.socketURL(database)
            let stores = [try PostgresStore(url: url, site: "a"), try PostgresStore(url: url, site: "b")]
            let at: Int64 = 1_800_000_000_000_000
            let incident = Incident(id: 0, probe: "api", serviceID: nil, title: "API", description: "down", status: .minor,
                                    stage: .investigating, createdAt: at, updatedAt: at, resolvedAt: nil,
                                    updates: [IncidentUpdate(kind: .opened, stage: .investigating, status: .minor, createdAt: at,
                                                             description: "down")])
            let change = IncidentChange(incident: incident, update: incident.updates[0],
                                        tracking: OpenIncident(status: .minor, stage: .investigating, openedAt: at, degradedSince: at,
                                                               failedChecks: 3, worstP95: nil, worstFailures: 3),
                                        outbox: [OutboxItem(sink: "isdown", method: "POST", body: "{}", nextAttemptAt: at, createdAt: at)])
            for round in 0..<10 {
                let results = Results<Result<Int64, any Error>>()
                let start = DispatchSemaphore(value: 0)
                let group = DispatchGroup()
                for store in stores {
                    DispatchQueue.global().async(group: group) {
                        start.wait()
                        results.append(Result { try store.record(change) })
                    }
                }
                start.signal()
                start.signal()
                group.wait()
                let all = results.all
                let opened = all.compactMap { try? $0.get() }
                #expect(opened.count == 1, "round \(round): \(all)")
                let refused = all.compactMap { result -> (any StorageError)? in
                    if case .failure(let error) = result { return error as? any StorageError }
                    return nil
                }
                #expect(refused.count == 1 && refused[0].kind == .conflict, "\(refused)")
                #expect(refused.first?.description.contains("already has an open incident") == true)
                #expect(try stores[0].openIncidents().count == 1)
                #expect(try stores[0].undelivered().count == round + 1, "the refused opening left no call behind")
                // Resolve it, so the next round races again.
                guard let id = opened.first else { break }
                var resolved = incident
                resolved.id = id
                let update = IncidentUpdate(kind: .resolved, stage: .resolved, status: .minor, createdAt: at + 1, description: "ok")
                try stores[1].record(IncidentChange(incident: resolved, update: update, tracking: change.tracking, outbox: []))
            }
        }
    }

    @Test func twoClaimersNeverGetTheSameCallAndAnExpiredLeaseIsTakenOver() throws {
        try withDatabase { cluster, database in
            let url = cluster.socketURL(database)
            let a = try PostgresStore(url: url, site: "a", lease: .seconds(60))
            let b = try PostgresStore(url: url, site: "b", lease: .seconds(60))
            let at: Int64 = 1_800_000_000_000_000
            // 40 incidents, each with two calls to one sink: only the first of each is due at a time.
            for i in 0..<40 {
                let incident = Incident(id: 0, probe: "p\(i)", serviceID: nil, title: "t", description: "d", status: .minor,
                                        stage: .investigating, createdAt: at, updatedAt: at, resolvedAt: nil,
                                        updates: [IncidentUpdate(kind: .opened, stage: .investigating, status: .minor, createdAt: at,
                                                                 description: "d")])
                try a.record(IncidentChange(incident: incident, update: incident.updates[0],
                                            tracking: OpenIncident(status: .minor, stage: .investigating, openedAt: at, degradedSince: at,
                                                                   failedChecks: 1, worstP95: nil, worstFailures: 1),
                                            outbox: [OutboxItem(sink: "isdown", method: "POST", body: "{}", nextAttemptAt: at, createdAt: at),
                                                     OutboxItem(sink: "isdown", method: "PATCH", body: "{}", nextAttemptAt: at, createdAt: at)]))
            }
            // Both claim and deliver in a loop at once; every call is delivered exactly once.
            let delivered = Results<(String, Int64)>()
            let group = DispatchGroup()
            for (name, store) in [("a", a), ("b", b)] {
                DispatchQueue.global().async(group: group) {
                    var idle = 0
                    while idle < 3 {
                        guard let due = try? store.dueDeliveries(now: at + 1, limit: 5, excluding: []) else { return }
                        idle = due.isEmpty ? idle + 1 : 0
                        for item in due {
                            delivered.append((name, item.id))
                            try? store.recordAttempt(item.id, state: .delivered, nextAttemptAt: at, error: nil, at: at + 1, remoteID: nil)
                        }
                    }
                }
            }
            group.wait()
            let ids = delivered.all.map(\.1)
            #expect(ids.count == 80, "\(ids.count) deliveries")
            #expect(Set(ids).count == ids.count, "no call delivered twice")
            #expect(try a.undelivered().isEmpty)

            // A claim not answered (its prober died) stays with it until the lease ends; then another takes it.
            let incident = Incident(id: 0, probe: "late", serviceID: nil, title: "t", description: "d", status: .minor,
                                    stage: .investigating, createdAt: at, updatedAt: at, resolvedAt: nil,
                                    updates: [IncidentUpdate(kind: .opened, stage: .investigating, status: .minor, createdAt: at, description: "d")])
            try a.record(IncidentChange(incident: incident, update: incident.updates[0],
                                        tracking: OpenIncident(status: .minor, stage: .investigating, openedAt: at, degradedSince: at,
                                                               failedChecks: 1, worstP95: nil, worstFailures: 1),
                                        outbox: [OutboxItem(sink: "isdown", method: "POST", body: "{}", nextAttemptAt: at, createdAt: at)]))
            let claimed = try a.dueDeliveries(now: at + 10, limit: 10, excluding: [])
            #expect(claimed.count == 1)
            #expect(try b.dueDeliveries(now: at + 10, limit: 10, excluding: []).isEmpty, "leased to a")
            #expect(try b.dueDeliveries(now: at + 59_000_000, limit: 10, excluding: []).isEmpty, "still leased")
            #expect(try b.nextDeliveryDue() == at + 10 + 60_000_000, "due for b when the lease ends")
            #expect(try a.dueDeliveries(now: at + 20, limit: 10, excluding: []).map(\.id) == claimed.map(\.id), "a keeps its claim")
            let taken = try b.dueDeliveries(now: at + 20 + 60_000_000, limit: 10, excluding: [])
            #expect(taken.map(\.id) == claimed.map(\.id), "b takes it over once the lease expired")
            #expect(try a.dueDeliveries(now: at + 21 + 60_000_000, limit: 10, excluding: []).isEmpty, "now b's")
        }
    }

    @Test func newerSchemaAndMissingDatabaseAreRefusedClearly() throws {
        try withDatabase { cluster, database in
            _ = try PostgresStore(url: cluster.socketURL(database))
            #expect(try cluster.psql("SELECT version FROM prober_schema", database: database) == "\(PostgresStore.schemaVersion)\n")
            let missing = #expect(throws: PostgresError.self) {
                _ = try StorageBackend.open(database: cluster.socketURL("no_such_db"), readOnly: false)
            }
            #expect(missing?.kind == .missing)
            #expect(missing?.description.contains("no_such_db") == true, "\(String(describing: missing))")
        }
    }
}

/// Start-up errors through the built binary: a wrong password is configuration (exit 2), an unreachable server
/// is the environment (exit 1); neither prints the password.
@Suite struct PostgresStartupErrorTests {
    static let password = "correct-horse-9"
    static let wrong = "battery-staple-7"

    func withRole<T>(_ body: (TestPostgres, String) throws -> T) throws -> T {
        let cluster = try TestPostgres.shared()
        let name = try cluster.makeDatabase()
        defer { cluster.dropDatabase(name) }
        try cluster.psql("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'prober_user') THEN "
            + "CREATE ROLE prober_user LOGIN PASSWORD '\(Self.password)'; END IF; END $$")
        try cluster.psql("ALTER DATABASE \(name) OWNER TO prober_user")
        return try body(cluster, name)
    }

    func probes(_ dir: TemporaryDirectory) throws -> String {
        try dir.write("probes/p.yaml", "probes:\n  - name: local\n    tcp: { host: 127.0.0.1, port: 9 }\n    interval: 1s\n    timeout: 500ms\n")
        return dir.path + "/probes"
    }

    @Test func wrongPasswordExitsTwoWithoutPrintingIt() throws {
        try withRole { cluster, database in
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            let probes = try probes(dir)
            let passwordFile = try dir.write("password", Self.wrong + "\n")
            let cases: [(args: [String], env: [String: String?])] = [
                (["status", "--db", cluster.tcpURL(database, user: "prober_user", password: Self.wrong)], [:]),
                (["status", "--db", cluster.tcpURL(database, user: "prober_user")], ["PGPASSWORD": Self.wrong]),
                (["status"], ["PROBER_DB": cluster.tcpURL(database, user: "prober_user"), "PROBER_DB_PASSWORD_FILE": passwordFile]),
                (["run", "--probes", probes, "--db", cluster.tcpURL(database, user: "prober_user", password: Self.wrong),
                  "--spool", dir.path + "/spool"], [:]),
            ]
            for c in cases {
                let result = try ProberBinary.run(c.args, environment: c.env.merging(["PGPASSFILE": "/nonexistent"]) { $1 })
                #expect(result.status == 2, "\(c.args): \(result.stderr)")
                #expect(result.stderr.contains("password authentication failed"), "\(result.stderr)")
                #expect(!(result.stdout + result.stderr).contains(Self.wrong), "\(result.stderr)")
            }
            // The right password from the file opens it (the schema is made by `run`; status then reads it).
            let ok = try ProberBinary.run(["status", "--db", cluster.tcpURL(database, user: "prober_user")],
                                          environment: ["PROBER_DB_PASSWORD_FILE": try dir.write("good", Self.password)])
            #expect(ok.status == 1 && ok.stderr.contains("no prober schema"), "\(ok.stderr)")
        }
    }

    @Test func unreachableServerExitsOneWithoutPrintingThePassword() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let port = try TestPostgres.freePort()
        let url = "postgres://prober_user:\(Self.wrong)@127.0.0.1:\(port)/prober"
        for args in [["status", "--db", url], ["run", "--probes", try probes(dir), "--db", url, "--spool", dir.path + "/spool"]] {
            let result = try ProberBinary.run(args)
            #expect(result.status == 1, "\(args): \(result.stderr)")
            #expect(result.stderr.contains("127.0.0.1") && result.stderr.contains(String(port)), "\(result.stderr)")
            #expect(result.stderr.contains("postgres://prober_user:***@127.0.0.1"), "the URL redacted: \(result.stderr)")
            #expect(!result.stderr.contains(Self.wrong), "\(result.stderr)")
        }
    }
}

/// `prober run --db postgres://…` end to end: the built binary probes a loopback target every 200 ms, and
/// `status`, `history` and `incidents --json` read it back from PostgreSQL.
@Suite struct PostgresRunTests {
    @Test func runWritesAndCommandsReadBack() throws {
        let cluster = try TestPostgres.shared()
        let database = try cluster.makeDatabase()
        defer { cluster.dropDatabase(database) }
        // The socket is trusted: the password is not needed, but it is in the URL, and must not reach the logs.
        let url = cluster.socketURL(database) + "&password=unneeded-secret-3"
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let failing = Results<Bool>()
        let server = try TestHTTPServer { _ in failing.all.isEmpty ? .respond(status: 200, body: "ok") : .respond(status: 503, body: "down") }
        try dir.write("probes/app.yaml", """
            probes:
              - name: checkout
                http:
                  url: \(server.url)/health
                interval: 200ms
                timeout: 180ms
                incident:
                  title: Checkout API
                  window: 5
                  minor: { failures: 2 }
                  for: 400ms
            """)
        let daemon = try ProberDaemon(["--probes", dir.path + "/probes", "--db", url, "--spool", dir.path + "/spool"], logIn: dir.url)
        func statusJSON() throws -> [[String: Any]] {
            let result = try ProberBinary.run(["status", "--json", "--db", url])
            guard result.status == 0, let object = try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) else { return [] }
            if let rows = object as? [[String: Any]] { return rows }
            if let doc = object as? [String: Any], let rows = (doc["probes"] ?? doc["data"]) as? [[String: Any]] { return rows }
            return []
        }
        // Until `run` made the schema, the query fails.
        #expect(waitUntil { (try? cluster.psql("SELECT count(*) >= 5 FROM samples", database: database)) == "t\n" }, "\(daemon.output)")
        #expect(try cluster.psql("SELECT DISTINCT location FROM samples", database: database)
                == ProcessInfo.processInfo.hostName + "\n", "the site defaults to the host name")
        let status = try ProberBinary.run(["status", "--db", url])
        #expect(status.status == 0, "\(status.stderr)")
        #expect(status.stdout.contains("checkout"), "\(status.stdout)")
        #expect(try waitUntil { try !statusJSON().isEmpty }, "status --json")
        let history = try ProberBinary.run(["history", "checkout", "--since", "1h", "--json", "--db", url])
        #expect(history.status == 0, "\(history.stderr)")
        #expect(history.stdout.contains("checkout"), "\(history.stdout)")
        // The target fails: the daemon opens an incident in PostgreSQL, and `incidents --json` reads it back.
        failing.append(true)
        func incidentsJSON() throws -> [[String: Any]] {
            let result = try ProberBinary.run(["incidents", "--json", "--db", url])
            let document = try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
            return document?["data"] as? [[String: Any]] ?? []
        }
        #expect(try waitUntil { try !incidentsJSON().isEmpty }, "\(daemon.output)")
        let attributes = try #require(try incidentsJSON().first?["attributes"] as? [String: Any])
        #expect(attributes["resolved"] as? Bool == false)
        #expect("\(attributes)".contains("Checkout API"), "\(attributes)")
        #expect(try cluster.psql("SELECT count(*) FROM incidents WHERE resolved_at IS NULL", database: database) == "1\n")
        #expect(daemon.terminate() == 0, "\(daemon.output)")
        #expect(daemon.output.contains("password=***"), "the URL is logged redacted: \(daemon.output)")
        #expect(!daemon.output.contains("unneeded-secret-3"), "\(daemon.output)")
        #expect(try cluster.psql("SELECT count(*) FROM samples", database: database) != "0\n")
    }
}

/// Values collected from several threads. `@unchecked Sendable`: `values` is only touched under `lock`.
final class Results<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [Value] = []
    func append(_ value: Value) { lock.withLock { values.append(value) } }
    var all: [Value] { lock.withLock { values } }
}

@Suite struct RedactedDatabaseURLTests {
    @Test(arguments: [
        ("postgres://prober:s3cret@db:5432/prober?sslmode=require", "postgres://prober:***@db:5432/prober?sslmode=require"),
        ("postgresql://prober@db/prober", "postgresql://prober@db/prober"),
        ("postgres://u:p@ss/w@rd@db/x", "postgres://u:***@db/x"),
        ("postgres://u@/db?host=/run/pg&password=s3cret&port=5", "postgres://u@/db?host=/run/pg&password=***&port=5"),
        ("POSTGRES://u:pw@h/d", "POSTGRES://u:***@h/d"),
        ("./prober.db", "./prober.db"),
        ("/var/lib/prober/u:p@host.db", "/var/lib/prober/u:p@host.db"),
    ])
    func redacts(_ url: String, _ shown: String) {
        #expect(RedactedDatabaseURL(url).description == shown)
    }

    @Test func serverURLs() {
        #expect(RedactedDatabaseURL.isServerURL("postgres://h/d"))
        #expect(RedactedDatabaseURL.isServerURL("postgresql://h/d"))
        #expect(!RedactedDatabaseURL.isServerURL("prober.db"))
        #expect(!RedactedDatabaseURL.isServerURL("file:prober.db"))
    }
}

/// A connection the server ended (a restart, an administrator) is opened again by the next call.
@Suite struct PostgresReconnectTests {
    @Test func storeAndRecorderReconnectAfterTheirSessionsWereEnded() throws {
        let cluster = try TestPostgres.shared()
        let database = try cluster.makeDatabase()
        defer { cluster.dropDatabase(database) }
        let store = try PostgresStore(url: cluster.socketURL(database), site: "a")
        let recorder = store.makeSampleRecorder(warning: { _ in })
        let t: Int64 = 1_800_000_000_000_000
        recorder.append(Sample(probe: "api", startedAt: t, phases: Phases(total: 900), status: 200))
        try recorder.flush()
        try cluster.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '\(database)'")

        // The first call after finds the connection gone; the next one connects again.
        _ = try? store.probeNames()
        #expect(try store.probeNames() == ["api"])
        recorder.append(Sample(probe: "api", startedAt: t + 1, phases: Phases(total: 900), status: 200))
        if (try? recorder.flush()) == nil { try recorder.flush() }
        #expect(try store.recentSamples(probe: "api", limit: 10).count == 2)
        try recorder.close()
    }
}
