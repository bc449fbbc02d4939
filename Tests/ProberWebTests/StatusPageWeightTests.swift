import Foundation
import ProberBackends
import ProberCore
import ProberStorage
import ProberStore
import ProberTestSupport
@testable import ProberWeb
import Testing

/// Issue 15: page 1 of `/` with 200 probes that each have 90 days of history, a 24-hour sparkline and incidents
/// stays within 150 KB before gzip, and keeps what the page shows. Structure only (sizes), never timing.
@Suite struct StatusPageWeightTests {
    static let hour: Int64 = 3_600_000_000
    static let day: Int64 = 86_400_000_000
    /// 12:34 UTC, so today is partial and the 24 hours cross midnight.
    static let now: Int64 = 1_800_000_000_000_000 / day * day + 12 * hour + 34 * 60_000_000

    @Test func aPageOf200WithFullHistoryWeighsAtMost150KB() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let storage = try StorageBackend.open(database: dir.path + "/prober.db", readOnly: false)
        let names = (1...230).map { String(format: "probe-%04d", $0) }
        try storage.register(names.enumerated().map { i, name in
            ProbeSpec(name: name, target: .http(HTTPTarget(url: "https://service-\(i + 1).example.test/health")),
                      source: SourceLocation(file: "probes/team-\(i % 20).yaml", line: i + 1, column: 5))
        })
        var random = SeededRandom(seed: 15)
        let recorder = storage.makeSampleRecorder(warning: { _ in })
        let today = Self.now / Self.day * Self.day
        for name in names {
            // A check a day for 89 days (one in ten failing), then a check every hour of the last 24.
            for d in 1...89 {
                let fail = Int.random(in: 0..<10, using: &random) == 0
                recorder.append(Sample(probe: name, startedAt: today - Int64(d) * Self.day + 6 * Self.hour,
                                       failure: fail ? Failure(.timeout, "timed out") : nil,
                                       phases: fail ? Phases() : Phases(total: 40_000), status: fail ? nil : 200))
            }
            for h in 0..<24 {
                let total = Int64.random(in: 20_000...400_000, using: &random)
                recorder.append(Sample(probe: name, startedAt: Self.now - Int64(h) * Self.hour - 60_000_000,
                                       phases: Phases(dns: 300, connect: 800, tls: 3_000, processing: total - 4_600, transfer: 500,
                                                      total: total), status: 200))
            }
        }
        try recorder.close()
        try maintain(storage)
        // Incidents: resolved ones on every 7th probe over the 90 days, open ones on every 50th.
        for (i, name) in names.enumerated() where i % 7 == 0 || i % 50 == 0 {
            let open = i % 50 == 0
            let at = open ? Self.now - 2 * Self.hour : today - Int64(1 + i % 80) * Self.day + 3 * Self.hour
            let text = "\(name) is degraded. 5 of the last 10 checks failed since 10:00 UTC: 5 timed out."
            let incident = Incident(id: 0, probe: name, serviceID: nil, title: "\(name): checks failing", description: text,
                                    status: i % 2 == 0 ? .major : .minor, stage: open ? .investigating : .resolved, createdAt: at,
                                    updatedAt: at, resolvedAt: open ? nil : at + 2 * Self.hour,
                                    updates: [IncidentUpdate(kind: .opened, stage: .investigating, status: .minor, createdAt: at,
                                                             description: text)])
            try storage.record(IncidentChange(incident: incident, update: incident.updates[0], tracking: OpenIncident(
                status: .minor, stage: .investigating, openedAt: at, degradedSince: at, failedChecks: 5, worstP95: nil,
                worstFailures: 5), outbox: []))
        }

        let page = try StatusPage.render(.init(), storage: storage, now: Self.now).markup
        let rows = page.components(separatedBy: "<tr data-probe=").count - 1
        print("status page weight: \(page.utf8.count) bytes for \(rows) rows, \(page.utf8.count / max(rows, 1)) bytes a row")
        if let path = ProcessInfo.processInfo.environment["PROBER_STATUS_PAGE_DUMP"] {
            try page.write(toFile: path, atomically: true, encoding: .utf8)
        }
        #expect(rows == 200)
        // What each row keeps: the state word, a 24-point sparkline, 90 focusable bars titled with the lowest days.
        #expect(CompactCharts.svgs(page, class: "spark").map(CompactCharts.sparkPoints) == Array(repeating: 24, count: 200))
        #expect(page.components(separatedBy: "<svg class=\"spark\" role=\"img\"><title>p95 per hour: ").count - 1 == 200)
        #expect(CompactCharts.svgs(page, class: "bars").map { CompactCharts.barDays($0).values.reduce(0, +) } == Array(repeating: 90, count: 200))
        #expect(page.components(separatedBy: "<svg class=\"bars\" role=\"img\" tabindex=\"0\"><title>uptime, 90 days: ").count - 1 == 200)
        #expect(page.components(separatedBy: "<td class=\"state ").count - 1 == 200)
        #expect(page.components(separatedBy: " 0 % major").count - 1 > 0, "a day of a major incident is named in its probe's title")
        #expect(page.utf8.count <= 150_000, "page 1 of / weighs \(page.utf8.count) bytes")
    }

    func maintain(_ storage: any Storage) throws {
        for _ in 0..<100 {
            if try storage.maintain(now: Self.now, policy: StoragePolicy(), budget: .seconds(5)).finished { return }
        }
        Issue.record("maintenance did not finish")
    }
}

/// The compact charts of `/` carry no `data-points` (200 rows): these count what they draw.
enum CompactCharts {
    /// Each `<svg class="spark"…</svg>` in `markup`.
    static func svgs(_ markup: String, class name: String) -> [Substring] {
        markup.components(separatedBy: "<svg class=\"\(name)\"").dropFirst().map { $0.split(separator: "</svg>").first ?? "" }
    }

    /// Points of a sparkline: one per coordinate pair of its path (`M x y` then `dx dy` steps) and one per dot.
    static func sparkPoints(_ svg: Substring) -> Int {
        let d = svg.components(separatedBy: " d=\"").dropFirst().first.map { String($0.prefix { $0 != "\"" }) } ?? ""
        let numbers = d.split(whereSeparator: { !$0.isNumber }).count
        return numbers / 2 + svg.components(separatedBy: "<circle").count - 1
    }

    /// Days drawn by compact bars, per level class (`healthy`, `minor`, `major`, `nodata`): each `M x yhW` run is
    /// (W + 1) / 3 days; a major day is drawn twice (split in two).
    static func barDays(_ svg: Substring) -> [String: Int] {
        var out: [String: Int] = [:]
        for part in svg.components(separatedBy: "<path class=\"u-").dropFirst() {
            let level = String(part.prefix { $0 != "\"" })
            let d = part.components(separatedBy: " d=\"").dropFirst().first.map { String($0.prefix { $0 != "\"" }) } ?? ""
            let days = d.components(separatedBy: "h").dropFirst().compactMap { Int($0.prefix { $0.isNumber }) }.map { ($0 + 1) / 3 }
            out[level, default: 0] += days.reduce(0, +) / (level == "major" ? 2 : 1)
        }
        return out
    }
}
