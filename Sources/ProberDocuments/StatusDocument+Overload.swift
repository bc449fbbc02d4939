import ProberCore
import ProberStorage

extension StatusDocument {
    /// What the running probers' heartbeats say of overload: the ticks they skipped because they had more probes
    /// than they could run, and the checks their own delay distorted (left out of incidents). Shown by `prober
    /// status` above the table, and on every probe's `status --json` row, as `overload` (null when none skipped).
    public struct Overload: Sendable, Equatable {
        /// The locations of the running probers that skipped ticks since their start.
        public var locations: [String]
        /// Ticks skipped since each one's previous heartbeat (above 0: overloaded now), and since its start.
        public var skippedRecent: Int
        public var skipped: Int
        public var delayedChecks: Int

        /// The probers that skipped ticks for overload since their start, summed; nil when none did.
        public init?(_ running: [ProberHeartbeat]) {
            let overloaded = running.filter { $0.overloadSkipped > 0 }
            guard !overloaded.isEmpty else { return nil }
            locations = overloaded.map(\.location)
            skippedRecent = overloaded.reduce(0) { $0 + $1.overloadSkippedRecent }
            skipped = overloaded.reduce(0) { $0 + $1.overloadSkipped }
            delayedChecks = overloaded.reduce(0) { $0 + $1.delayedChecks }
        }

        /// Whether ticks were skipped since the previous heartbeat.
        public var now: Bool { skippedRecent > 0 }

        /// `prober overloaded: skipped 1,204 ticks since its previous heartbeat (...)`.
        public var line: String {
            let who = locations.count > 1 ? "probers at \(locations.joined(separator: ", "))" : "prober"
            let head = now
                ? "\(who) overloaded: skipped \(Human.count(skippedRecent, "tick")) since the previous heartbeat (\(skipped) since start)"
                : "\(who) skipped \(Human.count(skipped, "tick")) since start because it was overloaded (none since the previous heartbeat)"
            return head + "; \(Human.count(delayedChecks, "check")) its own delay distorted opened no incident. "
                + "Run fewer probes, lengthen intervals, or give prober more CPU"
        }

        public var json: JSONValue {
            .object(["locations": .array(locations.map { .string($0) }), "now": .bool(now),
                     "skipped_ticks_recent": .int(Int64(skippedRecent)), "skipped_ticks": .int(Int64(skipped)),
                     "delayed_checks": .int(Int64(delayedChecks))])
        }
    }

    /// The running probers' overload (nil when none skipped a tick for it).
    public static func overload(_ directory: some ProberDirectory, now: Int64) throws -> Overload? {
        Overload(try directory.probers().filter { $0.state(now: now) == .up })
    }
}
