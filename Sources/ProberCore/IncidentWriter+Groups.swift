/// The titles and descriptions of incidents shared by several probes (`IncidentGroups`): the cause, then
/// the probes in it ("db.internal:5432 refuses connections: 5 probes failing: orders, billing, …").
/// An incident that is one probe's own is written by `IncidentWriter`, as any other.
extension IncidentGroups.Change {
    /// Probes named in a description before "and N more".
    static let namesShown = 10

    /// The title, chosen when it opens: the cause for an endpoint's, "NAME: probes failing" for a group's.
    public var title: String {
        group.cause.group.map { "\($0): probes failing" } ?? group.cause.label
    }

    /// The text of the timeline entry. `resolveAfter` is the lead probe's `resolve_after`; `removed` says the
    /// member left because it was removed from the probe files rather than because it recovered.
    public func description(resolveAfter: Duration, removed: Bool = false) -> String {
        let e = event.evidence
        let standing = Self.standing(group)
        switch kind {
        case .opened:
            return standing + " Failing since \(UTCTime.time(group.tracking.degradedSince, relativeTo: e.at))."
        case .joined:
            return "\(probe) joined. " + standing
        case .left:
            return (removed ? "\(probe) was removed from the probe files. " : "\(probe) recovered. ") + standing
        case .escalated:
            return "Escalated to major. " + standing
        case .deescalated:
            return "Eased to minor. " + standing
        case .relapsed:
            return "Degraded again (\(group.status.rawValue)). " + standing
        case .noted:
            // Notes (maintenance started) are written by the tracker, never by the groups; shown as they stand.
            return standing
        case .monitoring:
            let n = group.active.count
            return "Recovering: \(n == 1 ? "its probe" : "all \(n) probes") healthy since "
                + "\(UTCTime.time(e.healthySince ?? e.at, relativeTo: e.at)). "
                + "Resolving after \(Human.span(seconds: resolveAfter.microseconds / 1_000_000)) healthy."
        case .resolved:
            let t = group.tracking
            let end = e.healthySince ?? e.at
            let n = Set(group.members.map(\.probe)).count
            var impact = ["\(Human.span(seconds: max(0, end - t.degradedSince) / 1_000_000)) "
                          + "(\(UTCTime.time(t.degradedSince, relativeTo: end)) to \(UTCTime.time(end, relativeTo: end)))",
                          Human.count(t.failedChecks, "failed check")]
            if let worst = t.worstP95 { impact.append("worst p95 \(Human.latency(microseconds: worst))") }
            let why = removed ? "\(probe), the last of its probes, was removed from the probe files"
                : "\(n == 1 ? "its probe" : "all \(n) probes") healthy since \(UTCTime.time(end, relativeTo: e.at))"
            return "Resolved: \(why). Impact: " + impact.joined(separator: ", ") + "."
        }
    }

    /// "db.internal:5432 refuses connections: 5 probes failing: orders, billing, carts, search, users."
    static func standing(_ group: IncidentGroups.Group) -> String {
        let names = group.active.map(\.probe)
        var list = names.prefix(namesShown).joined(separator: ", ")
        if names.count > namesShown { list += " and \(names.count - namesShown) more" }
        return "\(group.cause.label): \(Human.count(names.count, "probe")) failing: \(list)."
    }
}
