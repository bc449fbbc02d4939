import ProberCore
import ProberStorage
import Testing

/// Conformance cases for incidents shared by several probes (`Incident.members`, `Incident.cause`).
public enum IncidentMembersConformance {
    public static let cases: [ConformanceCase] = [
        ConformanceCase("a shared incident's members: joined, left, lead, reopened", membersSurviveReopening),
        ConformanceCase("a probe that left a shared incident may open its own", leftProbeOpensItsOwn),
    ]

    static let t = IncidentConformance.t

    static func member(_ probe: String, at: Int64, failed: Int, left: Int64? = nil) -> IncidentMember {
        var tracking = IncidentConformance.tracking(at: at, failed: failed)
        if left != nil { tracking.stage = .resolved }
        return IncidentMember(probe: probe, joinedAt: at, leftAt: left, tracking: tracking)
    }

    static func shared(at: Int64, members: [IncidentMember]) -> Incident {
        var incident = IncidentConformance.incident(probe: members.first { $0.active }!.probe, at: at)
        incident.title = "db.internal:5432 refuses connections"
        incident.cause = "endpoint\nservice=1234\ndb.internal:5432\nrefused"
        incident.members = members
        return incident
    }

    static func membersSurviveReopening(_ backend: ConformanceBackend) throws {
        try backend.withLocation { location in
            let later = t + 60_000_000
            do {
                let store = try backend.open(location, false)
                let opening = shared(at: t, members: [member("orders", at: t, failed: 3), member("billing", at: t, failed: 4)])
                let id = try store.record(IncidentChange(incident: opening, update: opening.updates[0],
                                                         tracking: IncidentConformance.tracking(at: t), outbox: []))
                // orders (the lead) leaves and carts joins: billing leads.
                var after = shared(at: t, members: [member("orders", at: t, failed: 5, left: later), member("billing", at: t, failed: 6),
                                                    member("carts", at: later, failed: 2)])
                after.id = id
                let update = IncidentConformance.update(.left, at: later)
                after.updates.append(update)
                try store.record(IncidentChange(incident: after, update: update, tracking: IncidentConformance.tracking(at: t), outbox: []))
            }
            let store = try backend.open(location, true)
            let open = try store.openIncidents()
            #expect(open["orders"] == nil)
            let billing = try #require(open["billing"])
            let carts = try #require(open["carts"])
            #expect(billing.incident.id == carts.incident.id)
            #expect(billing.incident.probe == "billing")
            #expect(billing.incident.probes == ["billing", "carts"])
            #expect(billing.incident.cause == "endpoint\nservice=1234\ndb.internal:5432\nrefused")
            #expect(billing.incident.members.map(\.probe) == ["orders", "billing", "carts"])
            #expect(billing.incident.members.map(\.leftAt) == [later, nil, nil])
            // Each member continues its own episode.
            #expect(billing.tracking.failedChecks == 6)
            #expect(carts.tracking.failedChecks == 2)
            #expect(billing.incident.updates.map(\.kind) == [.opened, .left])
            let byID = try #require(try store.incident(id: billing.incident.id))
            #expect(byID.incident.members.count == 3)
        }
    }

    static func leftProbeOpensItsOwn(_ backend: ConformanceBackend) throws {
        try backend.withLocation { location in
            let later = t + 60_000_000
            let store = try backend.open(location, false)
            let opening = shared(at: t, members: [member("orders", at: t, failed: 3), member("billing", at: t, failed: 4)])
            let id = try store.record(IncidentChange(incident: opening, update: opening.updates[0],
                                                     tracking: IncidentConformance.tracking(at: t), outbox: []))
            var after = shared(at: t, members: [member("orders", at: t, failed: 5, left: later), member("billing", at: t, failed: 6)])
            after.id = id
            after.probe = "billing"
            let update = IncidentConformance.update(.left, at: later)
            after.updates.append(update)
            try store.record(IncidentChange(incident: after, update: update, tracking: IncidentConformance.tracking(at: t), outbox: []))
            // orders, out of the shared incident, opens one of its own (PostgreSQL's one-open-per-probe index allows it).
            let own = IncidentConformance.incident(probe: "orders", at: later + 1)
            let ownID = try store.record(IncidentChange(incident: own, update: own.updates[0],
                                                        tracking: IncidentConformance.tracking(at: later), outbox: []))
            let open = try store.openIncidents()
            #expect(open["orders"]?.incident.id == ownID)
            #expect(open["orders"]?.incident.members == [])
            #expect(open["billing"]?.incident.id == id)
        }
    }
}
