import ProberCore
import Testing

/// One incident per shared cause: each probe's own evaluator, then `IncidentGroups`, fed by tables of
/// checks (second by second, no clock).
@Suite struct IncidentGroupsTests {
    /// Probes checked every second; minor at 2 failures of 3, major at 3, `for` 2 s, resolved after 5 s healthy.
    static func probe(_ name: String, _ target: ProbeSpec.Target, service: Int? = 7, group: String? = nil) -> ProbeSpec {
        var spec = ProbeSpec(name: name, target: target, interval: .seconds(1), timeout: .milliseconds(500))
        spec.incident.window = 3
        spec.incident.minor = Threshold(latency: nil, failures: 2)
        spec.incident.major = Threshold(latency: nil, failures: 3)
        spec.incident.holdFor = .seconds(2)
        spec.incident.resolveAfter = .seconds(5)
        spec.incident.serviceID = service
        if let group { spec.incident.grouping = group == "none" ? .none : .named(group) }
        return spec
    }

    static let db = ProbeSpec.Target.tcp(TCPTarget(host: "db.internal", port: 5432))

    /// Runs every probe's evaluator over `seconds`, `failure(probe, t)` deciding each check, and the groups
    /// over their events; returns the changes, one line each: "t kind probe status stage [members]".
    struct Run {
        var specs: [ProbeSpec]
        var groups = IncidentGroups()
        var states: [String: EvaluatorState] = [:]
        var changes: [IncidentGroups.Change] = []
        var lines: [String] = []

        init(_ specs: [ProbeSpec]) { self.specs = specs }

        mutating func run(_ seconds: ClosedRange<Int64>, failure: (String, Int64) -> FailureReason?) {
            let t0: Int64 = 1_800_000_000_000_000
            for t in seconds {
                let at = t0 + t * 1_000_000
                record(t, groups.release(at: at))
                for spec in specs {
                    let evaluator = Evaluator(policy: spec.incident, interval: spec.interval)
                    let sample = Sample(probe: spec.name, startedAt: at, failure: failure(spec.name, t).map { Failure($0, "failed") },
                                        phases: Phases(total: 1_000))
                    let before = states[spec.name] ?? EvaluatorState()
                    let (next, events) = evaluator.evaluate(before, sample)
                    states[spec.name] = next
                    for event in events {
                        var tracking = next.incident ?? before.incident!
                        if event.stage == .resolved { tracking.stage = .resolved }
                        let partition = "service=\(spec.incident.serviceID.map(String.init) ?? "none")"
                        let cause = event.kind == .opened ? IncidentCause.of(spec, opening: event, partition: partition) : nil
                        let out = groups.apply(event, probe: spec.name, cause: cause, tracking: tracking, at: at)
                        record(t, out ?? [])
                    }
                }
            }
        }

        mutating func record(_ t: Int64, _ out: [IncidentGroups.Change]) {
            for c in out {
                changes.append(c)
                let members = c.group.active.map(\.probe).joined(separator: ",")
                lines.append("\(t) \(c.kind.rawValue) \(c.probe) \(c.group.status.rawValue) \(c.group.stage.rawValue) [\(members)]")
            }
        }
    }

    @Test func probesJoinAndLeaveOneIncident() {
        var run = Run([Self.probe("orders", Self.db), Self.probe("billing", Self.db), Self.probe("carts", Self.db)])
        run.run(0...40) { name, t in
            switch name {
            case "orders": t < 20 ? .connectRefused : nil
            case "billing": t < 30 ? .connectRefused : nil
            default: (10..<30).contains(t) ? .connectRefused : nil
            }
        }
        #expect(run.lines == [
            // orders and billing open at the same check: one opening, held to gather them, then sent at
            // once when orders escalates.
            "4 opened orders minor investigating [orders,billing]",
            "4 escalated orders major investigating [orders,billing]",
            "13 joined carts major investigating [orders,billing,carts]",
            "26 left orders major investigating [billing,carts]",
            "33 monitoring carts major monitoring [billing,carts]",
            "36 left billing major monitoring [carts]",
            "36 resolved carts major resolved []",
        ])
        let opening = run.changes[0]
        #expect(opening.title == "db.internal:5432 refuses connections")
        #expect(opening.description(resolveAfter: .seconds(5))
            == "db.internal:5432 refuses connections: 2 probes failing: orders, billing. Failing since 08:00 UTC.")
        #expect(run.changes[2].description(resolveAfter: .seconds(5))
            == "carts joined. db.internal:5432 refuses connections: 3 probes failing: orders, billing, carts.")
        #expect(run.changes[3].description(resolveAfter: .seconds(5))
            == "orders recovered. db.internal:5432 refuses connections: 2 probes failing: billing, carts.")
        #expect(run.changes[4].description(resolveAfter: .seconds(5))
            == "Recovering: all 2 probes healthy since 08:00 UTC. Resolving after 5 s healthy.")
        #expect(run.changes[5].description(resolveAfter: .seconds(5))
            == "billing recovered. db.internal:5432 refuses connections: 1 probe failing: carts.")
        #expect(run.changes[6].description(resolveAfter: .seconds(5)).hasPrefix(
            "Resolved: all 3 probes healthy since 08:00 UTC. Impact: "))
        #expect(run.groups.groups.isEmpty && run.groups.membership.isEmpty)
    }

    @Test func differentServicesNeverMerge() {
        var run = Run([Self.probe("orders", Self.db, service: 1), Self.probe("billing", Self.db, service: 2)])
        run.run(0...8) { _, _ in .connectRefused }
        #expect(Set(run.lines.filter { $0.contains("opened") }) == [
            "4 opened orders minor investigating [orders]", "4 opened billing minor investigating [billing]",
        ])
        // Each is its probe's own incident, written as any other.
        #expect(run.changes.allSatisfy { !$0.group.shared })
    }

    @Test func differentReasonClassesDoNotMerge() {
        var run = Run([Self.probe("orders", Self.db), Self.probe("billing", Self.db)])
        run.run(0...8) { name, _ in name == "orders" ? .connectRefused : .connectTimeout }
        let openings = run.changes.filter { $0.kind == .opened }
        #expect(openings.count == 2)
        #expect(Set(openings.map(\.group.cause.label))
            == ["db.internal:5432 refuses connections", "db.internal:5432 cannot be reached"])
    }

    @Test func latencyAndProbeOwnReasonsAreNotGrouped() {
        var run = Run([Self.probe("orders", Self.db), Self.probe("billing", Self.db)])
        run.run(0...8) { _, _ in .bodyMismatch }
        #expect(run.lines.isEmpty)
        #expect(run.groups.membership.isEmpty)
    }

    @Test func explicitGroupMergesAnyCause() {
        let api = ProbeSpec.Target.http(HTTPTarget(url: "https://api.internal/health"))
        var run = Run([Self.probe("orders", Self.db, group: "payments"), Self.probe("checkout", api, group: "payments")])
        run.run(0...8) { name, _ in name == "orders" ? .connectRefused : .httpStatus }
        #expect(run.lines.first == "4 opened orders minor investigating [orders,checkout]")
        #expect(run.changes[0].title == "payments: probes failing")
        #expect(run.changes[0].description(resolveAfter: .seconds(5))
            == "payments: 2 probes failing: orders, checkout. Failing since 08:00 UTC.")
    }

    @Test func groupNoneKeepsItsOwn() {
        var run = Run([Self.probe("orders", Self.db), Self.probe("billing", Self.db, group: "none")])
        run.run(0...8) { _, _ in .connectRefused }
        // billing's events are not the groups' (nil): the tracker writes its own incident as before.
        #expect(run.lines.filter { $0.contains("opened") } == ["4 opened orders minor investigating [orders]"])
        #expect(run.groups.membership.keys.sorted() == ["orders"])
    }

    @Test func explicitGroupOfOneIsStillShared() {
        var run = Run([Self.probe("orders", Self.db, group: "payments")])
        run.run(0...6) { _, _ in .connectRefused }
        #expect(run.changes.first?.group.shared == true)
        #expect(run.changes.first?.title == "payments: probes failing")
    }

    @Test func aLoneProbeKeepsItsOwnIncident() {
        var run = Run([Self.probe("orders", Self.db)])
        run.run(0...20) { _, t in t < 8 ? .connectRefused : nil }
        #expect(run.lines == [
            "4 opened orders minor investigating [orders]",
            "4 escalated orders major investigating [orders]",
            "11 monitoring orders major monitoring [orders]",
            "14 resolved orders major resolved []",
        ])
        // Its own evaluator's events, unshared: the tracker writes them as today.
        #expect(run.changes.allSatisfy { !$0.group.shared })
        #expect(run.changes.map(\.kind) == run.changes.map(\.event.kind))
    }

    @Test func aProbeJoiningLaterMakesItShared() {
        var run = Run([Self.probe("orders", Self.db), Self.probe("billing", Self.db)])
        run.run(0...14) { name, t in name == "orders" || t >= 6 ? .connectRefused : nil }
        #expect(run.lines.contains("9 joined billing major investigating [orders,billing]"))
        #expect(run.changes.last?.group.shared == true)
    }

    @Test func causesRoundTripAndEndpoints() {
        let cause = IncidentCause(endpoint: "db.internal:5432", reason: .refused, partition: "service=7;sinks=isdown")
        #expect(IncidentCause(encoded: cause.encoded) == cause)
        let named = IncidentCause(group: "payments", partition: "service=none;sinks=")
        #expect(IncidentCause(encoded: named.encoded) == named)
        #expect(IncidentCause(encoded: "garbage") == nil)
        func endpoint(_ url: String) -> String { ProbeSpec(name: "x", target: .http(HTTPTarget(url: url))).endpoint }
        #expect(endpoint("https://user:pw@API.internal/health?key=1") == "api.internal:443")
        #expect(endpoint("http://127.0.0.1:8080/x") == "127.0.0.1:8080")
        #expect(endpoint("http://[::1]/x") == "[::1]:80")
        #expect(endpoint("http://[::1]:9/x") == "[::1]:9")
    }
}
