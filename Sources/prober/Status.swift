import ArgumentParser
import Foundation
import ProberCore
import ProberStore

/// `prober status`: one line per probe from the database, read-only (safe while the daemon runs).
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show every probe's state, last check and last hour."
    )

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        let store = StoreCommandSupport.openReadOnly(database.db)
        let now = StoreCommandSupport.nowMicroseconds
        let rows: [ProbeStatus]
        do {
            rows = try store.status(now: now)
        } catch {
            StoreCommandSupport.fail("\(error)")
        }
        if output.json {
            print(StoreCommandSupport.json(rows.map { Self.jsonObject($0, now: now) }))
        } else if rows.isEmpty {
            print("no probes in \(database.db) yet")
        } else {
            print(Self.text(rows, now: now))
        }
    }

    /// healthy when the last check passed, failing when it failed, unknown before the first check.
    /// (The evaluator's level, degraded minor / major, replaces this once wired.)
    static func state(_ s: ProbeStatus) -> String {
        guard let last = s.last else { return "unknown" }
        return last.ok ? "healthy" : "failing"
    }

    static func text(_ rows: [ProbeStatus], now: Int64) -> String {
        typealias S = StoreCommandSupport
        let table = rows.map { s -> [String] in
            let age = s.last.map { Human.span(seconds: max(0, now - $0.at) / 1_000_000) + " ago" } ?? "never"
            let result = s.last.map { $0.reason?.rawValue ?? "ok" } ?? "-"
            return [s.name, state(s), age, result, S.latency(s.last?.latency), S.percent(s.uptime1h), S.latency(s.p95_1h), "-"]
        }
        return S.table(["PROBE", "STATE", "LAST CHECK", "RESULT", "LATENCY", "UPTIME 1H", "P95 1H", "INCIDENT"], table, leftColumns: 4)
    }

    static func jsonObject(_ s: ProbeStatus, now: Int64) -> [String: Any] {
        func n(_ x: Int64?) -> Any { x.map { NSNumber(value: $0) } ?? NSNull() }
        let last: Any = s.last.map { l -> [String: Any] in
            ["at": StoreCommandSupport.iso(l.at), "age_seconds": max(0, now - l.at) / 1_000_000, "ok": l.ok,
             "reason": l.reason?.rawValue ?? NSNull(), "status": l.status ?? NSNull(), "latency_us": n(l.latency)]
        } ?? NSNull()
        return [
            "name": s.name, "kind": s.kind, "target": s.target, "state": state(s), "last_check": last,
            "checks_1h": s.checks1h, "failures_1h": s.failures1h,
            "uptime_1h_percent": s.uptime1h.map { NSNumber(value: $0) } ?? NSNull(), "p95_1h_us": n(s.p95_1h),
            "incident": NSNull(),
        ]
    }
}
