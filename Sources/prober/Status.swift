import ArgumentParser
import Foundation
import ProberCore
import ProberStorage

/// `prober status`: one line per probe from the database, read-only (safe while the daemon runs).
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show every probe's state, last check and last hour."
    )

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        let storage = StoreCommandSupport.openStorage(database.db)
        let now = StoreCommandSupport.nowMicroseconds
        let rows: [ProbeStatus]
        let open: [String: StoredIncident]
        do {
            rows = try storage.status(now: now)
            open = try storage.openIncidents()
        } catch {
            StoreCommandSupport.fail("\(error)")
        }
        if output.json {
            print(JSONValue.array(rows.map { Self.jsonObject($0, incident: open[$0.name], now: now) }).pretty)
        } else if rows.isEmpty {
            print("no probes in \(database.displayDB) yet")
        } else {
            print(Self.text(rows, open: open, now: now))
        }
    }

    /// The probe's `ProbeState`: from the open incident when there is one, else from the last check.
    static func state(_ s: ProbeStatus, incident: StoredIncident?) -> String {
        ProbeState(lastCheckPassed: s.last?.ok, incident: incident.map { ($0.incident.status, $0.incident.stage) }).description
    }

    /// `#12 major, 14 min`.
    static func incidentCell(_ incident: StoredIncident?, now: Int64) -> String {
        guard let i = incident?.incident else { return "-" }
        return "#\(i.id) \(i.status.rawValue), \(Human.span(seconds: max(0, now - i.createdAt) / 1_000_000))"
    }

    static func text(_ rows: [ProbeStatus], open: [String: StoredIncident], now: Int64) -> String {
        typealias S = StoreCommandSupport
        let table = rows.map { s -> [String] in
            let age = s.last.map { Human.span(seconds: max(0, now - $0.at) / 1_000_000) + " ago" } ?? "never"
            let result = s.last.map { $0.reason?.rawValue ?? "ok" } ?? "-"
            return [s.name, state(s, incident: open[s.name]), age, result, S.latency(s.last?.latency), S.percent(s.uptime1h),
                    S.latency(s.p95_1h), incidentCell(open[s.name], now: now)]
        }
        return S.table(["PROBE", "STATE", "LAST CHECK", "RESULT", "LATENCY", "UPTIME 1H", "P95 1H", "INCIDENT"], table, leftColumns: 4)
    }

    static func jsonObject(_ s: ProbeStatus, incident: StoredIncident?, now: Int64) -> JSONValue {
        let last: JSONValue = s.last.map { l in
            .object(["at": .time(l.at), "age_seconds": .int(max(0, now - l.at) / 1_000_000), "ok": .bool(l.ok),
                     "reason": JSONValue(l.reason?.rawValue), "status": JSONValue(l.status), "latency_us": JSONValue(l.latency)])
        } ?? .null
        return .object([
            "name": .string(s.name), "kind": .string(s.kind), "target": .string(s.target),
            "state": .string(state(s, incident: incident)), "last_check": last,
            "checks_1h": JSONValue(s.checks1h), "failures_1h": JSONValue(s.failures1h),
            "uptime_1h_percent": JSONValue(s.uptime1h), "p95_1h_us": JSONValue(s.p95_1h),
            "incident": incident.map { i in
                .object(["id": .int(i.incident.id), "title": .string(i.incident.title), "status": .string(i.incident.status.rawValue),
                         "resolution_stage": .string(i.incident.stage.rawValue), "created_at": .time(i.incident.createdAt)])
            } ?? .null,
        ])
    }
}
