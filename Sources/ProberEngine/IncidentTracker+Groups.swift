import Dispatch
import Logging
import ProberCore
import ProberDelivery
import ProberStorage

/// One incident per shared cause: between each probe's evaluator and the stored change, the probes whose
/// openings share a cause (`IncidentCause`) are gathered into one incident by `IncidentGroups`, and its changes
/// become `IncidentChange`s carrying the incident's members. Not in fleet mode (docs/incidents.md).
extension IncidentTracker {
    /// Where a probe's incidents go: its IsDown service and the sinks serving it. Probes whose partitions differ
    /// never share an incident.
    func partition(_ spec: ProbeSpec) -> String {
        let names = sinks.filter { $0.serves(probe: spec.name) }.map(\.name).sorted()
        return "service=\(spec.incident.serviceID.map(String.init) ?? "none");sinks=\(names.joined(separator: ","))"
    }

    /// Routes a probe's event through the shared incidents; false when it is the probe's own incident's (an
    /// opening without a cause, or an incident opened outside grouping), which the caller writes as before.
    func routeToGroups(_ sample: Sample, spec: ProbeSpec, before: EvaluatorState, next: EvaluatorState,
                       events: [IncidentEvent]) -> Bool {
        // The evaluator makes at most one change per check.
        guard events.count == 1, let event = events.first else { return false }
        if groups.membership[spec.name] == nil, open[spec.name] != nil { return false }
        let tracking = next.incident ?? resolvedTracking(event, before)
        let cause = event.kind == .opened ? IncidentCause.of(spec, opening: event, partition: partition(spec)) : nil
        guard let changes = groups.apply(event, probe: spec.name, cause: cause, tracking: tracking, at: sample.elapsedTime) else {
            return false
        }
        if event.stage == .resolved { baselines[spec.name] = nil }
        if event.kind == .opened, changes.isEmpty, let cause = groups.membership[spec.name], let held = groups.groups[cause]?.heldUntil {
            // Announced by a later check, or by this timer when none comes.
            queue.asyncAfter(deadline: .now() + .microseconds(Int(IncidentGroups.gather))) { [weak self] in
                self?.releaseGathered(at: held)
            }
        }
        for change in changes { apply(change) }
        if !changes.isEmpty { onChange() }
        return true
    }

    /// Announces the openings whose gathering ended by `elapsed` (all when nil).
    func releaseGathered(at elapsed: Int64?) {
        guard groups.holding else { return }
        let changes = groups.release(at: elapsed)
        for change in changes { apply(change) }
        if !changes.isEmpty { onChange() }
    }

    /// Turns a shared incident's change into a stored `IncidentChange` with its calls; the members' open
    /// incident moves with it. `removed` and `spec`/`sinks` serve a member removed from the probe files.
    func apply(_ change: IncidentGroups.Change, removed: Bool = false, spec removedSpec: ProbeSpec? = nil,
               sinks removedSinks: [any Sink]? = nil) {
        let group = change.group, cause = group.cause
        guard let spec = probes[group.lead] ?? group.members.lazy.compactMap({ self.probes[$0.probe] }).first ?? removedSpec else {
            return
        }
        let at = change.event.evidence.at
        let title: String, description: String
        if group.shared {
            title = change.title
            description = change.description(resolveAfter: spec.incident.resolveAfter, removed: removed)
        } else {
            let writer = IncidentWriter(probe: spec)
            title = writer.title(change.event)
            description = writer.description(change.event)
        }
        var evidence = change.event.evidence.json
        if group.shared, case .object(var fields) = evidence {
            fields["probe"] = .string(change.probe)
            fields["probes"] = .array(group.active.map { .string($0.probe) })
            fields["cause"] = .string(cause.label)
            evidence = .object(fields)
        }
        let update = IncidentUpdate(kind: change.kind, stage: group.stage, status: group.status, createdAt: at,
                                    description: description, evidence: evidence.encoded)
        let members = group.members
        var incident: Incident
        if change.kind == .opened {
            incident = Incident(id: 0, probe: group.lead, serviceID: spec.incident.serviceID, title: title, description: description,
                                status: group.status, stage: group.stage, createdAt: at, updatedAt: at, resolvedAt: nil,
                                updates: [update], cause: cause.encoded, members: members)
        } else {
            guard let current = groupIncidents[cause] else {
                logger.error("shared incident change without an open incident", metadata: [
                    "probe.name": "\(change.probe)", "incident.cause": "\(cause.label)", "event": "\(change.kind.rawValue)",
                ])
                return
            }
            incident = current
            incident.probe = group.lead
            incident.status = group.status
            incident.stage = group.stage
            incident.updatedAt = at
            if group.stage == .resolved { incident.resolvedAt = at }
            incident.updates.append(update)
            incident.members = members
        }
        let resolved = group.stage == .resolved
        groupIncidents[cause] = resolved ? nil : incident
        for member in group.members {
            if member.active, !resolved {
                open[member.probe] = incident
            } else if open[member.probe]?.createdAt == incident.createdAt, open[member.probe]?.cause == incident.cause {
                open[member.probe] = nil
            }
        }
        let outbox = (removedSinks ?? sinks).compactMap { $0.call(for: update, of: incident, probe: spec) }
        store(IncidentChange(incident: incident, update: update, tracking: group.tracking, outbox: outbox), probe: group.founder)
    }

    /// Gives the id storage assigned to a shared incident's opening to the incident and its members.
    func groupStored(_ encoded: String, createdAt: Int64, id: Int64) {
        guard let cause = IncidentCause(encoded: encoded), groupIncidents[cause]?.createdAt == createdAt else { return }
        groupIncidents[cause]?.id = id
        for member in groups.groups[cause]?.active ?? [] where open[member.probe]?.createdAt == createdAt {
            open[member.probe]?.id = id
        }
    }

    /// Takes a probe removed from the probe files out of its shared incident: a timeline update when others
    /// remain, the resolution when it was the last. False when it is in none, or in its own (unshared) one,
    /// which the caller resolves as any probe's own incident.
    func leaveGroup(_ name: String, spec: ProbeSpec?, sinks previousSinks: [any Sink]) -> Bool {
        guard let cause = groups.membership[name], let group = groups.groups[cause] else { return false }
        let shared = group.shared || group.members.count > 1
        let changes = groups.remove(name, at: now())
        guard shared else {
            // Its own incident: the caller resolves it with the usual note.
            groupIncidents[cause] = nil
            return false
        }
        for change in changes {
            apply(change, removed: change.probe == name, spec: spec, sinks: change.kind == .resolved ? previousSinks : nil)
        }
        return true
    }

    /// Takes in the shared incidents found open in storage for probes just `rebuilt` from it (at start, or a
    /// reload that brings probes back), so their members continue them; members no longer in the probe files
    /// leave. (For probes tracked all along, memory is right and storage may lag behind held changes.) True
    /// when that changed any.
    func restoreGroups(_ stored: [String: StoredIncident], rebuilt: Set<String>) -> Bool {
        var seen: Set<Int64> = []
        var removed: [(String, IncidentCause)] = []
        for entry in stored.values where seen.insert(entry.incident.id).inserted {
            guard let encoded = entry.incident.cause, let cause = IncidentCause(encoded: encoded), groups.groups[cause] == nil,
                  !entry.incident.members.isEmpty,
                  entry.incident.probes.contains(where: { rebuilt.contains($0) }) else { continue }
            let members = entry.incident.members
            groups.restore(cause: cause, members: members, status: entry.incident.status, stage: entry.incident.stage,
                           openedAt: entry.incident.createdAt)
            groupIncidents[cause] = entry.incident
            for member in members where member.active {
                if probes[member.probe] == nil { removed.append((member.probe, cause)) } else { open[member.probe] = entry.incident }
            }
            logger.info("continuing shared incident", metadata: [
                "incident.id": "\(entry.incident.id)", "incident.cause": "\(cause.label)",
                "probes": "\(entry.incident.probes.joined(separator: ","))",
            ])
        }
        for (name, _) in removed { _ = leaveGroup(name, spec: nil, sinks: sinks) }
        return !removed.isEmpty
    }
}
