/// Quiet periods: times when a probe's checks must not change its incidents, and how the evaluator keeps them.
///
/// Both kinds make a degradation hold its whole `for` again once they end: the "held since" anchors that
/// lead to opening, escalating or relapsing restart at the first check after the quiet period, so a target
/// still failing then opens (or escalates) `for` later, never at once.
public enum Quiet: Sendable, Equatable {
    /// Planned work (a maintenance window or a silence): checks count as usual, but nothing opens, escalates
    /// or relapses. An incident already open may still improve, go to monitoring and resolve.
    case maintenance
    /// The prober's own network is down (every connectivity canary fails): the check says nothing about its
    /// target. It is left out of the window, and no incident changes at all, not even towards resolving.
    case connectivityLost
    /// prober's own delay distorted the check (`Sample.delayedByProber`: it started late, or prober's engine lagged
    /// while it ran): it says nothing about its target. It is left out entirely: the window and every anchor stay
    /// as they were, so an overloaded prober neither opens an incident nor hides one its other checks show.
    case overloaded
}

extension Evaluator {
    /// The state after a check taken while the prober's own network was down: the window keeps the checks
    /// from before, every anchor restarts, and the check's time still counts, so the return of the network
    /// is not mistaken for a gap in checking.
    func ignoring(_ state: EvaluatorState, _ sample: Sample) -> EvaluatorState {
        var s = state
        s.lastCheckAt = sample.elapsedTime
        s.forgetDegradation()
        s.healthySince = nil
        s.belowMajorSince = nil
        return s
    }
}

extension Evaluator {
    /// The state after a check prober's own delay distorted: only its time counts (so it is no gap in checking).
    func leavingOut(_ state: EvaluatorState, _ sample: Sample) -> EvaluatorState {
        var s = state
        s.lastCheckAt = sample.elapsedTime
        return s
    }
}

extension EvaluatorState {
    /// Forgets since when the level has been degraded or major, so neither can reach `for` during a quiet
    /// period and both start afresh at the first check after it.
    mutating func forgetDegradation() {
        degradedSince = nil
        majorSince = nil
    }
}
