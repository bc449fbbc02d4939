import Foundation
import ProberTestSupport
import ProberCore
import ProberStorage
import Testing

/// The storage interface's conformance suite: every case takes a fresh backend and exercises the protocols
/// of `ProberStorage` only, with `#expect`/`#require` from Swift Testing.
public enum StorageConformance {
    public static let cases: [ConformanceCase] = [
        ConformanceCase("samples come back in time order per probe", samplesInTimeOrder),
        ConformanceCase("flushed and closed samples are durable", flushAndCloseAreDurable),
        ConformanceCase("a failed write keeps its batch and writes it whole later", failedBatchIsAtomic),
        ConformanceCase("registry: register, names, info", registry),
        ConformanceCase("registry: each probe's file and redacted settings, and the listing", registrySettings),
        ConformanceCase("last checks of every probe in one call", lastChecks),
        ConformanceCase("overview: daily counts and hourly p95 across resolutions", overview),
        ConformanceCase("overview across the daily rollup boundary: earlier days rolled up, today from finer rows", overviewAcrossDays),
        ConformanceCase("history buckets carry phase means that stack up to the mean total", phaseMeans),
        ConformanceCase("history over raw samples is exact", historyOverRawSamples),
        ConformanceCase("history over rolled-up ranges counts every check once", historyOverRollups),
        ConformanceCase("status: last check and the last hour", status),
        ConformanceCase("status: a rolled-up hour counts each check once, rollups and raw samples", statusOverRolledUpHour),
        ConformanceCase("baseline: passing checks of the span, newest per hour", baseline),
        ConformanceCase("retention drops raw samples past it and keeps rollups", retention),
        ConformanceCase("a newer schema is refused", newerSchemaIsRefused),
        ConformanceCase("reading a missing history fails clearly", missingHistory),
        ConformanceCase("a read-only history refuses writes", readOnlyRefusesWrites),
        ConformanceCase("a snapshot's reads see one snapshot, and a snapshot in it joins it", snapshotReadsSeeOneSnapshot),
    ]

    /// Midnight UTC, so that days, hours and 5-minute buckets start on it.
    static let t0: Int64 = 1_799_971_200_000_000
    static let second: Int64 = 1_000_000
    static let hour: Int64 = 3_600_000_000
    static let day: Int64 = 86_400_000_000

    // MARK: Ingest

    static func samplesInTimeOrder(_ backend: ConformanceBackend) throws {
        try backend.withStorage { storage, _ in
            let a = makeSamples(probe: "a", start: t0, interval: second, count: 50)
            let b = makeSamples(probe: "b", start: t0 + 500_000, interval: second, count: 30)
            var shuffled = a + b
            var random = SeededRandom(seed: 7)
            shuffled.shuffle(using: &random)
            try record(shuffled, into: storage)

            let backA = try storage.recentSamples(probe: "a", limit: 1_000)
            #expect(backA.map(\.startedAt) == a.map(\.startedAt))
            #expect(backA.allSatisfy { $0.probe == "a" })
            #expect(backA.map(\.failure?.reason) == a.map(\.failure?.reason))
            #expect(backA.map(\.phases) == a.map(\.phases))
            #expect(backA.map(\.status) == a.map(\.status))
            #expect(try storage.recentSamples(probe: "b", limit: 5).map(\.startedAt) == b.suffix(5).map(\.startedAt))
            #expect(try storage.recentSamples(probe: "nope", limit: 5).isEmpty)

            // A second sample of the same probe and microsecond replaces the first.
            var again = a[3]
            again.failure = Failure(.timeout, "timed out")
            try record([again], into: storage)
            let replaced = try storage.recentSamples(probe: "a", limit: 1_000)
            #expect(replaced.count == a.count)
            #expect(replaced[3].failure?.reason == .timeout)
        }
    }

    static func flushAndCloseAreDurable(_ backend: ConformanceBackend) throws {
        try backend.withLocation { location in
            let samples = makeSamples(probe: "api", start: t0, interval: second, count: 200)
            do {
                let storage = try backend.open(location, false)
                let recorder = storage.makeSampleRecorder(warning: { _ in })
                for s in samples[..<150] { recorder.append(s) }
                try recorder.flush()
                #expect(recorder.statistics.written == 150)
                #expect(recorder.statistics.pending == 0)
                let reader = try backend.open(location, true)
                #expect(try reader.recentSamples(probe: "api", limit: 1_000).count == 150, "flush returned: a new reader sees it")

                for s in samples[150...] { recorder.append(s) }
                try recorder.close()
                let stats = recorder.statistics
                #expect([stats.written, stats.dropped, stats.pending, stats.failedAttempts] == [Int]([200, 0, 0, 0]))
                #expect(stats.commitLag.count == 200, "every committed sample's lag is counted")
            }
            let reopened = try backend.open(location, true)
            #expect(try reopened.recentSamples(probe: "api", limit: 1_000).map(\.startedAt) == samples.map(\.startedAt))
        }
    }

    /// `snapshot` (what `status` and `history` read in): each read in it sees the history as it was at its first read,
    /// checks recorded meanwhile show only after it, and a snapshot in a snapshot is the same one.
    static func snapshotReadsSeeOneSnapshot(_ backend: ConformanceBackend) throws {
        try backend.withLocation { location in
            let samples = makeSamples(probe: "api", start: t0, interval: second, count: 20)
            let recorder = try backend.open(location, false).makeSampleRecorder(warning: { _ in })
            for s in samples[..<10] { recorder.append(s) }
            try recorder.flush()
            let reader = try backend.open(location, true)
            let (first, second, nested) = try reader.snapshot {
                let first = try reader.recentSamples(probe: "api", limit: 100).count
                for s in samples[10...] { recorder.append(s) }
                try recorder.flush()
                return (first, try reader.recentSamples(probe: "api", limit: 100).count,
                        try reader.snapshot { try reader.lastChecks()["api"]?.at })
            }
            #expect(first == 10 && second == 10, "the checks recorded during the snapshot are not in it")
            #expect(nested == samples[9].startedAt)
            #expect(try reader.recentSamples(probe: "api", limit: 100).count == 20, "after it, they are")
            try recorder.close()
        }
    }

    static func failedBatchIsAtomic(_ backend: ConformanceBackend) throws {
        try backend.withLocation { location in
            let storage = try backend.open(location, false)
            try storage.register([ProbeSpec(name: "api", target: .tcp(TCPTarget(host: "127.0.0.1", port: 1)))])
            let reader = try backend.open(location, true)
            let recorder = storage.makeSampleRecorder(warning: { _ in })
            let samples = makeSamples(probe: "api", start: t0, interval: second, count: 500)
                + makeSamples(probe: "web", start: t0, interval: second, count: 500)

            let release = try backend.holdWriteLock(location)
            for s in samples { recorder.append(s) }
            let error = #expect(throws: (any Error).self) { try recorder.flush() }
            #expect((error as? any StorageError)?.kind == .busy, "\(String(describing: error))")
            #expect(try reader.recentSamples(probe: "api", limit: 1_000).isEmpty, "nothing of a failed batch is visible")
            #expect(try reader.recentSamples(probe: "web", limit: 1_000).isEmpty)
            #expect(recorder.statistics.pending == samples.count, "the failed batch is kept")
            #expect(recorder.statistics.failedAttempts >= 1)
            #expect(recorder.statistics.written == 0)
            release()

            try recorder.close()
            #expect(try reader.recentSamples(probe: "api", limit: 1_000).count == 500)
            #expect(try reader.recentSamples(probe: "web", limit: 1_000).count == 500)
            #expect(recorder.statistics.written == samples.count)
            #expect(recorder.statistics.pending == 0)
        }
    }

    // MARK: Registry

    static func registry(_ backend: ConformanceBackend) throws {
        try backend.withStorage { storage, location in
            var http = HTTPTarget(url: "https://user:secret@example.test/health?token=abc")
            http.headers = [Header(name: "Authorization", value: "Bearer s3cr3t")]
            try storage.register([
                ProbeSpec(name: "web", target: .http(http)),
                ProbeSpec(name: "redis", target: .tcp(TCPTarget(host: "10.0.0.1", port: 6379))),
            ])
            #expect(try storage.probeNames() == ["redis", "web"])
            #expect(try storage.probeInfo("web").map { [$0.name, $0.kind, $0.target] } == ["web", "http", "https://example.test/health"])
            #expect(try storage.probeInfo("redis").map { [$0.name, $0.kind, $0.target] } == ["redis", "tcp", "10.0.0.1:6379"])
            #expect(try storage.probeInfo("nope") == nil)

            // Registering again updates; a probe with samples and no registration is known too.
            try storage.register([ProbeSpec(name: "redis", target: .tcp(TCPTarget(host: "10.0.0.2", port: 6380)))])
            try record(makeSamples(probe: "adhoc", start: t0, interval: second, count: 3), into: storage)
            let reader = try backend.open(location, true)
            #expect(try reader.probeNames() == ["adhoc", "redis", "web"])
            #expect(try reader.probeInfo("redis")?.target == "10.0.0.2:6380")
            #expect(try reader.probeInfo("adhoc")?.name == "adhoc")
        }
    }

    static func registrySettings(_ backend: ConformanceBackend) throws {
        try backend.withStorage { storage, location in
            var http = HTTPTarget(url: "https://user:secret@example.test/health?token=abc")
            http.headers = [Header(name: "Authorization", value: "Bearer s3cr3t"), Header(name: "X-Key", value: "k3y")]
            http.body = "password=hunter2"
            http.proxy = "http://proxyuser:proxypass@proxy.test:3128/?x=1"
            var spec = ProbeSpec(name: "web", target: .http(http), source: SourceLocation(file: "probes/web.yaml", line: 7, column: 5))
            spec.incident.title = "Web <front> \"door\" é"
            let tcp = ProbeSpec(name: "redis", target: .tcp(TCPTarget(host: "10.0.0.1", port: 6379)),
                                source: SourceLocation(file: "probes/data.yaml", line: 2, column: 5))
            try storage.register([spec, tcp])
            let info = try #require(try backend.open(location, true).probeInfo("web"))
            #expect(info.file == "probes/web.yaml")
            #expect(info.settings == ProbeInfo.settings(of: spec), "settings come back as registered, in order")
            #expect(info.settings.contains(ProbeSetting("incident title", "Web <front> \"door\" é")))
            #expect(info.settings.contains(ProbeSetting("headers", "Authorization: (value hidden), X-Key: (value hidden)")))
            let shown = info.settings.map { $0.key + " " + $0.value }.joined(separator: "\n")
            for secret in ["secret", "s3cr3t", "k3y", "token", "abc", "hunter2", "proxypass", "proxyuser", "x=1"] {
                #expect(!shown.contains(secret), "\(secret) is never shown")
            }
            let listing = try storage.probeInfos()
            #expect(listing.map(\.name) == ["redis", "web"])
            #expect(listing.map(\.file) == ["probes/data.yaml", "probes/web.yaml"])
            #expect(listing.map(\.target) == ["10.0.0.1:6379", "https://example.test/health"])
        }
    }

    static func lastChecks(_ backend: ConformanceBackend) throws {
        try backend.withStorage { storage, location in
            try storage.register([ProbeSpec(name: "idle", target: .tcp(TCPTarget(host: "127.0.0.1", port: 1)))])
            var a = makeSamples(probe: "a", start: t0, interval: second, count: 20, failureRate: 0)
            a[a.count - 1].failure = Failure(.timeout, "timed out")
            a[a.count - 1].status = nil
            let b = makeSamples(probe: "b", start: t0, interval: second, count: 5, failureRate: 0)
            try record(a + b, into: storage)
            let last = try backend.open(location, true).lastChecks()
            #expect(Set(last.keys) == ["a", "b"], "a probe without checks has none")
            #expect(last["a"]?.at == a.last?.startedAt)
            #expect(last["a"]?.reason == .timeout)
            #expect(last["b"] == ProbeStatus.LastCheck(at: b[4].startedAt, reason: nil, status: 200, latency: b[4].phases.total))
        }
    }

    static func overview(_ backend: ConformanceBackend) throws {
        try backend.withStorage { storage, _ in
            // Ten days, one check every two minutes; raw samples kept two days, so all three resolutions answer.
            let samples = makeSamples(probe: "api", start: t0, interval: 120 * second, count: 7_200, failureRate: 0.05)
            try record(samples, into: storage)
            let end = t0 + 10 * day
            let now = end - 1
            for maintained in [false, true] {
                if maintained { try maintainUntilDone(storage, now: end, policy: policy(raw: 2 * day)) }
                let all = try storage.overview(probes: ["api", "nope"], days: 12, now: now)
                #expect(Set(all.keys) == ["api"], "an unknown probe is left out")
                let o = try #require(all["api"])
                #expect(o.days.map(\.start) == (0..<12).map { t0 + Int64($0 - 2) * day })
                #expect(o.days.map(\.checks) == [0, 0] + Array(repeating: 720, count: 10), "maintained: \(maintained)")
                for d in o.days {
                    let inside = samples.filter { $0.startedAt >= d.start && $0.startedAt < d.start + day }
                    #expect(d.failures == inside.filter { $0.failure != nil }.count)
                }
                #expect(o.hourlyP95.count == 24)
                // At noon the 24 hours begin the day before: they do not depend on the days asked for.
                let noon = end - 12 * hour
                let one = try #require(try storage.overview(probes: ["api"], days: 1, now: noon)["api"])
                let twelve = try #require(try storage.overview(probes: ["api"], days: 12, now: noon)["api"])
                #expect(one.hourlyP95 == twelve.hourlyP95)
                #expect(one.hourlyP95.allSatisfy { $0 != nil })
                #expect(one.days == [twelve.days[11]])
                for (i, p95) in o.hourlyP95.enumerated() {
                    let start = end - 24 * hour + Int64(i) * hour
                    let inside = samples.filter { $0.startedAt >= start && $0.startedAt < start + hour && $0.failure == nil }
                    let exact = try #require(exactPercentile(inside.compactMap(\.phases.total), 0.95))
                    let got = try #require(p95)
                    #expect(abs(Double(got - exact)) / Double(exact) <= 0.05, "hour \(i): \(got) against exact \(exact)")
                }
            }
            // A day with no check at all has zero checks and nil uptime; hours without checks have no p95.
            let later = try #require(try storage.overview(probes: ["api"], days: 2, now: end + 2 * day)["api"])
            #expect(later.days.allSatisfy { $0.checks == 0 && $0.uptime == nil })
            #expect(later.hourlyP95.allSatisfy { $0 == nil })
        }
    }

    static func overviewAcrossDays(_ backend: ConformanceBackend) throws {
        try backend.withStorage { storage, _ in
            // Ten and a half days, a check every two minutes; maintained at 02:00 of the last day, so the ten whole
            // days are rolled up by the day and the last one is hours, 5-minute rows and raw samples.
            let samples = makeSamples(probe: "api", start: t0, interval: 120 * second, count: 7_560, failureRate: 0.1, seed: 15)
            try record(samples, into: storage)
            let end = t0 + 10 * day + 12 * hour
            let now = end - 1
            let before = try #require(try storage.overview(probes: ["api"], days: 11, now: now)["api"])
            try maintainUntilDone(storage, now: t0 + 10 * day + 2 * hour, policy: policy(raw: 30 * day))
            let after = try #require(try storage.overview(probes: ["api"], days: 11, now: now)["api"])
            #expect(after.days == before.days)
            #expect(after.days.map(\.checks) == Array(repeating: 720, count: 10) + [360])
            for d in after.days {
                let inside = samples.filter { $0.startedAt >= d.start && $0.startedAt < d.start + day }
                #expect(d.failures == inside.filter { $0.failure != nil }.count, "day \(d.start)")
            }
            // The hours of the sparkline span the boundary (12:00 yesterday to now) and agree with the raw samples.
            for (i, p95) in after.hourlyP95.enumerated() {
                let start = end - 24 * hour + Int64(i) * hour
                let inside = samples.filter { $0.startedAt >= start && $0.startedAt < start + hour && $0.failure == nil }
                let exact = try #require(exactPercentile(inside.compactMap(\.phases.total), 0.95))
                let got = try #require(p95)
                #expect(abs(Double(got - exact)) / Double(exact) <= 0.05, "hour \(i): \(got) against exact \(exact)")
            }
            // Fully maintained the next day: the same days, the last one rolled up too.
            try maintainUntilDone(storage, now: t0 + 11 * day + hour, policy: policy(raw: 30 * day))
            let nextDay = try #require(try storage.overview(probes: ["api"], days: 12, now: t0 + 11 * day + hour)["api"])
            #expect(Array(nextDay.days.prefix(11)) == after.days)
            #expect(nextDay.days[11].checks == 0)
        }
    }

    static func phaseMeans(_ backend: ConformanceBackend) throws {
        try backend.withStorage { storage, _ in
            let samples = makeSamples(probe: "api", start: t0, interval: 60 * second, count: 120, failureRate: 0.1)
            try record(samples, into: storage)
            let h = try #require(try storage.history(probe: "api", since: t0, until: t0 + 2 * hour, every: hour, phase: .total))
            for bucket in h.buckets {
                let ok = samples.filter { $0.startedAt >= bucket.start && $0.startedAt < bucket.start + hour && $0.failure == nil }
                #expect(bucket.phaseMeans.map(\.phase) == [.dns, .connect, .tls, .processing, .transfer])
                let dns = ok.compactMap(\.phases.dns)
                #expect(bucket.phaseMeans.first?.microseconds == dns.reduce(0, +) / Int64(dns.count))
                let stacked = bucket.phaseMeans.map(\.microseconds).reduce(0, +)
                let total = ok.compactMap(\.phases.total).reduce(0, +) / Int64(ok.count)
                #expect(abs(stacked - total) <= 5, "means stack up to the mean total (integer division aside)")
            }
        }
    }

    // MARK: History

    static func historyOverRawSamples(_ backend: ConformanceBackend) throws {
        try backend.withStorage { storage, _ in
            // Six hours, one check a minute, 10 % failing.
            let samples = makeSamples(probe: "api", start: t0, interval: 60 * second, count: 360, failureRate: 0.1)
            try record(samples + makeSamples(probe: "other", start: t0, interval: 60 * second, count: 360), into: storage)
            let history = try #require(try storage.history(probe: "api", since: t0, until: t0 + 6 * hour, every: hour, phase: .total))
            #expect(history.sources == [.raw])
            #expect(history.every == hour)
            #expect(history.summary.exact)
            #expect(history.summary.checks == 360)
            let failed = samples.filter { $0.failure != nil }
            #expect(history.summary.failures == failed.count)
            #expect(history.summary.failuresByReason.map(\.count).reduce(0, +) == failed.count)
            #expect(history.summary.failuresByReason.map(\.count) == history.summary.failuresByReason.map(\.count).sorted(by: >))
            let totals = samples.filter { $0.failure == nil }.compactMap(\.phases.total)
            #expect(history.summary.latency.p50 == exactPercentile(totals, 0.5))
            #expect(history.summary.latency.p95 == exactPercentile(totals, 0.95))
            #expect(history.summary.latency.p99 == exactPercentile(totals, 0.99))
            #expect(history.summary.latency.max == totals.max())
            let uptime = try #require(history.summary.uptime)
            #expect(abs(uptime - Double(360 - failed.count) * 100 / 360) < 1e-9)
            let dns = samples.filter { $0.failure == nil }.compactMap(\.phases.dns)
            #expect(history.summary.phaseMedians.first { $0.phase == .dns }?.microseconds == exactPercentile(dns, 0.5))

            #expect(history.buckets.map(\.start) == (0..<6).map { t0 + Int64($0) * hour })
            #expect(history.buckets.allSatisfy { $0.checks == 60 && $0.exact })
            for bucket in history.buckets {
                let inside = samples.filter { $0.startedAt >= bucket.start && $0.startedAt < bucket.start + hour }
                #expect(bucket.failures == inside.filter { $0.failure != nil }.count)
                let p95 = exactPercentile(inside.filter { $0.failure == nil }.compactMap(\.phases.total), 0.95)
                #expect(bucket.latency.p95 == p95)
            }

            // Another phase; an unknown probe; an empty range.
            let tls = try #require(try storage.history(probe: "api", since: t0, until: t0 + 6 * hour, every: hour, phase: .tls))
            #expect(tls.summary.latency.p50 == exactPercentile(samples.filter { $0.failure == nil }.compactMap(\.phases.tls), 0.5))
            #expect(try storage.history(probe: "nope", since: t0, until: t0 + hour, every: nil, phase: .total) == nil)
            let before = try #require(try storage.history(probe: "api", since: t0 - 2 * hour, until: t0, every: nil, phase: .total))
            #expect(before.summary.checks == 0 && before.summary.uptime == nil && before.summary.latency.p50 == nil)
        }
    }

    static func historyOverRollups(_ backend: ConformanceBackend) throws {
        try backend.withStorage { storage, _ in
            // Ten days, one check every two minutes; raw samples kept two days.
            let samples = makeSamples(probe: "api", start: t0, interval: 120 * second, count: 7_200, failureRate: 0.05)
            try record(samples, into: storage)
            let end = t0 + 10 * day
            try maintainUntilDone(storage, now: end, policy: policy(raw: 2 * day))

            let history = try #require(try storage.history(probe: "api", since: t0, until: end, every: day, phase: .total))
            #expect(history.sources.contains(.rollup1h) || history.sources.contains(.rollup5m))
            #expect(!history.summary.exact)
            #expect(history.summary.checks == samples.count, "every check counted once across resolutions")
            #expect(history.summary.failures == samples.filter { $0.failure != nil }.count)
            #expect(history.buckets.count == 10)
            #expect(history.buckets.map(\.checks) == Array(repeating: 720, count: 10))
            let totals = samples.filter { $0.failure == nil }.compactMap(\.phases.total)
            for p in [0.5, 0.95, 0.99] {
                let figure = p == 0.5 ? history.summary.latency.p50 : p == 0.95 ? history.summary.latency.p95 : history.summary.latency.p99
                let exact = try #require(exactPercentile(totals, p))
                let got = try #require(figure)
                #expect(abs(Double(got - exact)) / Double(exact) <= 0.05, "p\(Int(p * 100)): \(got) against exact \(exact)")
            }
            #expect(history.summary.latency.max == totals.max(), "the maximum survives rollups")

            // A range mixing rollups and raw samples: 5-minute buckets over the last four days.
            let mixed = try #require(try storage.history(probe: "api", since: end - 4 * day, until: end, every: 300 * second,
                                                         phase: .total))
            #expect(mixed.sources.last == .raw)
            #expect(mixed.summary.checks == samples.filter { $0.startedAt >= end - 4 * day }.count)
            #expect(mixed.buckets.allSatisfy { $0.checks == 2 || $0.checks == 3 })
        }
    }

    static func status(_ backend: ConformanceBackend) throws {
        try backend.withStorage { storage, location in
            try storage.register([ProbeSpec(name: "idle", target: .tcp(TCPTarget(host: "127.0.0.1", port: 1)))])
            let now = t0 + 3 * hour
            var api = makeSamples(probe: "api", start: t0, interval: 60 * second, count: 180, failureRate: 0.1)
            api[api.count - 1].failure = Failure(.connectRefused, "refused")
            api[api.count - 1].status = nil
            try record(api, into: storage)
            let rows = try backend.open(location, true).status(now: now)
            #expect(rows.map(\.name) == ["api", "idle"])
            let row = rows[0]
            let lastHour = api.filter { $0.startedAt >= now - hour && $0.startedAt <= now }
            #expect(row.checks1h == lastHour.count)
            #expect(row.failures1h == lastHour.filter { $0.failure != nil }.count)
            let exact = exactPercentile(lastHour.filter { $0.failure == nil }.compactMap(\.phases.total), 0.95)
            #expect(hourP95(row.p95_1h, exact, backend), "p95 \(String(describing: row.p95_1h)) against \(String(describing: exact))")
            #expect(row.last?.at == api.last?.startedAt)
            #expect(row.last?.reason == .connectRefused)
            #expect(row.last?.ok == false)
            let uptime = try #require(row.uptime1h)
            #expect(abs(uptime - Double(row.checks1h - row.failures1h) * 100 / Double(row.checks1h)) < 1e-9)
            #expect(rows[1] == ProbeStatus(name: "idle", kind: "tcp", target: "127.0.0.1:1"))
        }
    }

    static func baseline(_ backend: ConformanceBackend) throws {
        try backend.withStorage { storage, _ in
            // Three hours, a check every two minutes, ending just before the episode.
            let until = t0 + 3 * hour
            let samples = makeSamples(probe: "api", start: t0, interval: 120 * second, count: 90, failureRate: 0.1)
            try record(samples, into: storage)
            let passing = samples.filter { $0.failure == nil }

            let full = try storage.baseline(probe: "api", until: until, span: Baseline.span, perHour: Baseline.perHour)
            let expected = Baseline(passing.reversed().map { PackedPhases($0.phases) }, oldest: passing[0].startedAt, until: until)
            #expect(full == expected)
            #expect(full.checks == passing.count, "failed checks are not part of the baseline")

            // At most `perHour` of each hour, the newest.
            let sampled = try storage.baseline(probe: "api", until: until, span: Baseline.span, perHour: 5)
            #expect(sampled.checks == 15)
            // Only the span before `until` counts.
            let short = try storage.baseline(probe: "api", until: until, span: hour, perHour: Baseline.perHour)
            #expect(short.checks == passing.filter { $0.startedAt >= until - hour }.count)
            #expect(try storage.baseline(probe: "nope", until: until, span: Baseline.span, perHour: 60) == Baseline())
            #expect(try storage.baseline(probe: "api", until: t0, span: Baseline.span, perHour: 60).checks == 0)
        }
    }

    static func retention(_ backend: ConformanceBackend) throws {
        try backend.withStorage { storage, location in
            let samples = makeSamples(probe: "api", start: t0, interval: 300 * second, count: 8 * 288)
            try record(samples, into: storage)
            let now = t0 + 8 * day
            let report = try maintainUntilDone(storage, now: now, policy: policy(raw: 3 * day))
            #expect(report.prunedSamples == samples.filter { $0.startedAt < now - 3 * day }.count)

            let reader = try backend.open(location, true)
            let kept = try reader.recentSamples(probe: "api", limit: 100_000)
            #expect(kept.map(\.startedAt) == samples.filter { $0.startedAt >= now - 3 * day }.map(\.startedAt))
            let history = try #require(try reader.history(probe: "api", since: t0, until: now, every: day, phase: .total))
            #expect(history.summary.checks == samples.count, "rollups keep what raw retention dropped")

            // A second pass has nothing left to do.
            let again = try storage.maintain(now: now, policy: policy(raw: 3 * day), budget: .seconds(5))
            #expect(again.finished && again.prunedSamples == 0 && again.rolled5m == 0)

            // Rollups go too once past their own retention.
            var short = policy(raw: 3 * day)
            short.rollup5m = .seconds(4 * 86_400)
            short.rollup1h = .seconds(5 * 86_400)
            try maintainUntilDone(storage, now: now, policy: short)
            let trimmed = try #require(try reader.history(probe: "api", since: t0, until: now, every: day, phase: .total))
            #expect(trimmed.summary.checks < samples.count)
            #expect(trimmed.summary.checks >= samples.filter { $0.startedAt >= now - 5 * day }.count)
        }
    }

    // MARK: Opening

    static func newerSchemaIsRefused(_ backend: ConformanceBackend) throws {
        try backend.withLocation { location in
            do {
                let storage = try backend.open(location, false)
                try storage.register([ProbeSpec(name: "api", target: .tcp(TCPTarget(host: "127.0.0.1", port: 1)))])
            }
            try backend.claimNewerSchema(location)
            for readOnly in [false, true] {
                let error = #expect(throws: (any Error).self) { _ = try backend.open(location, readOnly) }
                let storageError = try #require(error as? any StorageError, "\(String(describing: error))")
                #expect(storageError.kind == .newerSchema)
                #expect(storageError.location == location)
                #expect(storageError.description.contains("newer"), "\(storageError)")
            }
        }
    }

    static func missingHistory(_ backend: ConformanceBackend) throws {
        try backend.withLocation { location in
            let error = #expect(throws: (any Error).self) { _ = try backend.open(location, true) }
            let storageError = try #require(error as? any StorageError, "\(String(describing: error))")
            #expect(storageError.kind == .missing)
            #expect(storageError.description.contains(location), "\(storageError)")
            // Reading did not create it.
            let again = #expect(throws: (any Error).self) { _ = try backend.open(location, true) }
            #expect((again as? any StorageError)?.kind == .missing)
        }
    }

    static func readOnlyRefusesWrites(_ backend: ConformanceBackend) throws {
        try backend.withLocation { location in
            _ = try backend.open(location, false)
            let reader = try backend.open(location, true)
            let spec = ProbeSpec(name: "api", target: .tcp(TCPTarget(host: "127.0.0.1", port: 1)))
            let error = #expect(throws: (any Error).self) { try reader.register([spec]) }
            #expect((error as? any StorageError)?.kind == .readOnly)
            let recorder = reader.makeSampleRecorder(warning: { _ in })
            recorder.append(makeSamples(probe: "api", start: t0, interval: second, count: 1)[0])
            let flushError = #expect(throws: (any Error).self) { try recorder.flush() }
            #expect((flushError as? any StorageError)?.kind == .readOnly)
            #expect(recorder.statistics.written == 0)
            #expect(try backend.open(location, true).probeNames().isEmpty)
        }
    }
}

// MARK: Helpers

/// Appends through the storage's own recorder and closes it (everything committed, or the error).
public func record(_ samples: [Sample], into storage: any Storage) throws {
    let recorder = storage.makeSampleRecorder(warning: { _ in })
    for s in samples { recorder.append(s) }
    try recorder.close()
    #expect(recorder.statistics.written == samples.count)
}

func policy(raw: Int64) -> StoragePolicy {
    var policy = StoragePolicy()
    policy.raw = .microseconds(raw)
    return policy
}

/// Runs maintenance until it reports nothing left, summing the reports.
@discardableResult
func maintainUntilDone(_ storage: any Storage, now: Int64, policy: StoragePolicy) throws -> MaintenanceReport {
    var total = MaintenanceReport()
    for _ in 0..<100 {
        let report = try storage.maintain(now: now, policy: policy, budget: .seconds(5))
        total.rolled5m += report.rolled5m
        total.rolled1h += report.rolled1h
        total.prunedSamples += report.prunedSamples
        total.pruned5m += report.pruned5m
        total.pruned1h += report.pruned1h
        total.transactions += report.transactions
        if report.finished { return total }
    }
    Issue.record("maintenance did not finish in 100 calls")
    return total
}

/// Nearest-rank percentile of unsorted values.
/// A status line's p95 of the hour: exact on SQLite (one prober reads its raw samples); on a fleet backend from
/// the per-location summary's histogram, so within `LatencyHistogram.relativeError` (4.4 %) of the exact figure.
func hourP95(_ got: Int64?, _ exact: Int64?, _ backend: ConformanceBackend) -> Bool {
    guard backend.openAtSite != nil, let got, let exact else { return got == exact }
    return abs(Double(got - exact)) / Double(exact) <= 0.05
}

func exactPercentile(_ values: [Int64], _ p: Double) -> Int64? {
    guard !values.isEmpty else { return nil }
    let sorted = values.sorted()
    return sorted[min(max(Int((p * Double(sorted.count)).rounded(.up)), 1), sorted.count) - 1]
}

/// Synthetic samples: one every `interval` µs from `start`; about `failureRate` fail (deterministic).
public func makeSamples(probe: String, start: Int64, interval: Int64, count: Int, failureRate: Double = 0.05,
                        seed: UInt64 = 1) -> [Sample] {
    var random = SeededRandom(seed: seed)
    let reasons: [FailureReason] = [.timeout, .httpStatus, .connectRefused]
    return (0..<count).map { i in
        let t = start + Int64(i) * interval
        if Double.random(in: 0..<1, using: &random) < failureRate {
            let reason = reasons[Int.random(in: 0..<reasons.count, using: &random)]
            return Sample(probe: probe, startedAt: t, failure: Failure(reason, reason.rawValue),
                          phases: Phases(dns: 200, total: reason == .timeout ? 5_000_000 : 900),
                          status: reason == .httpStatus ? 503 : nil)
        }
        let dns = random.latency(median: 300), connect = random.latency(median: 800), tls = random.latency(median: 3_000)
        let processing = random.latency(median: 40_000), transfer = random.latency(median: 500)
        return Sample(probe: probe, startedAt: t,
                      phases: Phases(dns: dns, connect: connect, tls: tls, processing: processing, transfer: transfer,
                                     total: dns + connect + tls + processing + transfer),
                      status: 200, bytes: 1_234, ipFamily: .ipv4)
    }
}

