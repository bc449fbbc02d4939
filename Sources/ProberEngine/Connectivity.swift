import Foundation
import Logging
import ProberCore

/// Whether the prober's own network works, from its connectivity canaries (a probe file's `connectivity:`
/// block): lost while every canary's latest check failed, back as soon as one passes.
///
/// Every check passes through here on the scheduler's queue, in the order checks finish, before the history
/// and the tracker see it: a canary's check moves the state, a probe's check is told whether it was taken
/// while connectivity was lost (then the tracker evaluates it with `Quiet.connectivityLost`). The one log line
/// per change, `/metrics`, `/healthz` and the heartbeat (`prober status`, and the spans `prober history` marks)
/// read the same state.
///
/// Without canaries nothing is held back; a heuristic only logs (at most once per `heuristicEvery`) when every
/// probe fails for a network-level reason across three or more distinct hosts at once.
public final class ConnectivityMonitor: Sendable {
    /// What `/metrics`, `/healthz` and the heartbeat show.
    public struct Reading: Sendable {
        /// Whether any canary is configured.
        public var watching: Bool
        public var lost: Bool
        /// When connectivity was lost (wall time of the check that completed the loss, µs); nil while up.
        public var since: Int64?
        /// How many times connectivity was lost since start.
        public var losses: Int
        /// The latest loss that ended (wall times, µs), for the history's record of spans.
        public var lastLoss: (since: Int64, until: Int64)?
        /// Each canary's latest check, in file order.
        public var canaries: [CanaryCheck]

        /// `tcp 10.0.0.1:53: connect: Network is unreachable; http http://gw/: timeout: ...`: why every canary
        /// fails (or the canaries that do, while connectivity is up).
        public var failures: String {
            canaries.compactMap { c in c.failure.map { "\(c.label): \($0.reason.rawValue): \($0.message)" } }
                .joined(separator: "; ")
        }
    }

    /// One canary and its latest check.
    public struct CanaryCheck: Sendable, Equatable {
        /// `tcp 10.0.0.1:53`.
        public var label: String
        /// Nil before its first check.
        public var checkedAt: Int64?
        public var failure: Failure?
        /// Total duration of the latest check, µs.
        public var duration: Int64?
        public var up: Bool? { checkedAt.map { _ in failure == nil } }
    }

    /// How often at most the heuristic without canaries logs. Default 10 minutes.
    public let heuristicEvery: Duration
    private let logger: Logger
    private let state: Locked<State>
    /// Called (outside the lock) after connectivity is lost or restored, with the new reading.
    private let onChange: @Sendable (Reading) -> Void

    private struct State {
        var canaries: [String] = []
        var latest: [String: Sample] = [:]
        var lost = false
        var since: Int64?
        /// When it was lost on the checks' monotonic timeline, for the "restored after" line.
        var sinceElapsed: Int64?
        var losses = 0
        var lastLoss: (since: Int64, until: Int64)?
        // The heuristic without canaries.
        /// Each probe's host, dense (`ProbeTable`): a dictionary of them cost 4.2 MB at 60,000 probes.
        var hosts: ProbeTable<String> = [:]
        var networkFailing: [String: FailureReason] = [:]
        var everyProbeFailing = false
        var heuristicLoggedAt: Int64?
    }

    public init(canaries: [ProbeSpec] = [], probes: [ProbeSpec] = [], logger: Logger, heuristicEvery: Duration = .seconds(600),
                onChange: @escaping @Sendable (Reading) -> Void = { _ in }) {
        self.logger = logger
        self.heuristicEvery = heuristicEvery
        self.onChange = onChange
        state = Locked(State())
        update(canaries: canaries, probes: probes)
    }

    /// Sets the canaries and the probes (at start and on reload). A canary kept keeps its latest check; one
    /// removed no longer counts, so removing every canary restores connectivity.
    public func update(canaries: [ProbeSpec], probes: [ProbeSpec]) {
        var hosts = ProbeTable<String>()
        for probe in probes where hosts[probe.name] == nil { hosts[probe.name] = Self.host(of: probe) }
        let change = state.withLock { s -> Reading? in
            s.canaries = canaries.map(\.name)
            s.latest = s.latest.filter { s.canaries.contains($0.key) }
            s.hosts = hosts
            s.networkFailing = s.networkFailing.filter { hosts[$0.key] != nil }
            return settle(&s, at: s.since ?? 0, elapsed: s.sinceElapsed ?? 0)
        }
        if let change { announce(change, restoredAfter: nil) }
    }

    /// Takes one check: a canary's moves the state (nil returned); a probe's returns `.connectivityLost` when it
    /// was taken while connectivity was lost, and feeds the heuristic when there are no canaries.
    public func record(_ sample: Sample) -> Quiet? {
        if Connectivity.isCanary(sample.probe) {
            var lostFor: Int64?
            let change = state.withLock { s -> Reading? in
                guard s.canaries.contains(sample.probe) else { return nil }
                s.latest[sample.probe] = sample
                let wasElapsed = s.sinceElapsed
                let change = settle(&s, at: sample.startedAt, elapsed: sample.elapsedTime)
                if change?.lost == false, let wasElapsed { lostFor = max(0, sample.elapsedTime - wasElapsed) }
                return change
            }
            if let change { announce(change, restoredAfter: lostFor) }
            return nil
        }
        let (quiet, heuristic) = state.withLock { s -> (Quiet?, (failing: [String: FailureReason], hosts: Int)?) in
            if !s.canaries.isEmpty { return (s.lost ? .connectivityLost : nil, nil) }
            return (nil, countForHeuristic(&s, sample))
        }
        if let heuristic { logHeuristic(heuristic.failing, hosts: heuristic.hosts) }
        return quiet
    }

    /// Whether connectivity is lost now.
    public var lost: Bool { state.withLock { $0.lost } }

    public func reading() -> Reading { state.withLock { reading($0) } }

    // MARK: - Under the lock

    /// Recomputes `lost` after a change; the new reading when it flipped.
    private func settle(_ s: inout State, at: Int64, elapsed: Int64) -> Reading? {
        let everyFails = !s.canaries.isEmpty && s.canaries.allSatisfy { s.latest[$0]?.failure != nil }
        guard everyFails != s.lost else { return nil }
        s.lost = everyFails
        if everyFails {
            s.since = at
            s.sinceElapsed = elapsed
            s.losses += 1
        } else {
            if let since = s.since { s.lastLoss = (since, max(since, at)) }
            s.since = nil
            s.sinceElapsed = nil
        }
        return reading(s)
    }

    private func reading(_ s: State) -> Reading {
        Reading(watching: !s.canaries.isEmpty, lost: s.lost, since: s.since, losses: s.losses, lastLoss: s.lastLoss,
                canaries: s.canaries.map { name in
            let latest = s.latest[name]
            return CanaryCheck(label: Connectivity.label(name), checkedAt: latest?.startedAt, failure: latest?.failure,
                               duration: latest?.phases[.total])
        })
    }

    /// Counts a probe's check for the heuristic; the failing probes' reasons when it should log now.
    private func countForHeuristic(_ s: inout State, _ sample: Sample) -> (failing: [String: FailureReason], hosts: Int)? {
        guard s.hosts[sample.probe] != nil else { return nil }
        if let reason = sample.failure?.reason, Connectivity.networkReasons.contains(reason) {
            s.networkFailing[sample.probe] = reason
        } else {
            s.networkFailing[sample.probe] = nil
        }
        let every = s.networkFailing.count == s.hosts.count
        defer { s.everyProbeFailing = every }
        guard every, !s.everyProbeFailing else { return nil }
        let hosts = Set(s.networkFailing.keys.compactMap { s.hosts[$0] })
        guard hosts.count >= 3 else { return nil }
        let now = sample.elapsedTime
        if let last = s.heuristicLoggedAt, now - last < heuristicEvery.microseconds { return nil }
        s.heuristicLoggedAt = now
        return (s.networkFailing, hosts.count)
    }

    // MARK: - Logging

    private func announce(_ reading: Reading, restoredAfter: Int64?) {
        if reading.lost {
            logger.warning("""
                prober's own connectivity lost: every connectivity canary fails (\(reading.failures)); no incident opens, \
                escalates or resolves until one passes again
                """, metadata: ["connectivity.lost": "true", "connectivity.canaries": "\(reading.canaries.count)"])
        } else {
            let after = restoredAfter.map { " after \(Human.span(seconds: $0 / 1_000_000))" } ?? ""
            let passing = reading.canaries.filter { $0.up == true }.map(\.label)
            let which = passing.isEmpty ? "no canary is configured any more" : "\(passing.joined(separator: ", ")) passes"
            logger.notice("""
                prober's own connectivity restored\(after): \(which); a degradation must now hold its 'for' again before \
                an incident opens
                """, metadata: ["connectivity.lost": "false"])
        }
        onChange(reading)
    }

    private func logHeuristic(_ failing: [String: FailureReason], hosts: Int) {
        var byReason: [String: Int] = [:]
        for reason in failing.values { byReason[reason.rawValue, default: 0] += 1 }
        let reasons = byReason.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
        logger.warning("""
            every probe is failing with a network-level error at once (\(Human.count(failing.count, "probe")) on \
            \(Human.count(hosts, "host")); \(reasons)): the prober's own network may be down. Incidents are not \
            held back; a 'connectivity:' block of canaries would hold them while it is (docs/incidents.md)
            """, metadata: ["probes": "\(failing.count)", "hosts": "\(hosts)"])
    }

    /// The host a probe's check goes to (a URL's host, or the TCP host), lowercased.
    static func host(of spec: ProbeSpec) -> String {
        switch spec.target {
        case .tcp(let tcp): return tcp.host.lowercased()
        case .http(let http): return URLComponents(string: http.url)?.host?.lowercased() ?? http.url
        }
    }
}

extension ExpositionStream {
    /// `prober_connectivity_lost`, the losses so far and each canary's latest check.
    static func render(_ c: ConnectivityMonitor.Reading, into out: inout Exposition) {
        out.family("prober_connectivity_lost", "gauge", "1 while every connectivity canary fails (incidents are held), else 0.")
        out.sample("prober_connectivity_lost", [:], c.lost ? 1 : 0)
        out.family("prober_connectivity_losses_total", "counter", "Times every connectivity canary failed at once since start.")
        out.sample("prober_connectivity_losses_total", [:], Double(c.losses))
        out.family("prober_connectivity_canary_up", "gauge", "Whether the canary's latest check passed (1) or failed (0); absent before its first.")
        for canary in c.canaries {
            if let up = canary.up { out.sample("prober_connectivity_canary_up", ["canary": canary.label], up ? 1 : 0) }
        }
        out.family("prober_connectivity_canary_duration_seconds", "gauge", "Total duration of the canary's latest check.")
        for canary in c.canaries {
            if let d = canary.duration { out.sample("prober_connectivity_canary_duration_seconds", ["canary": canary.label], Double(d) / 1e6) }
        }
    }
}
