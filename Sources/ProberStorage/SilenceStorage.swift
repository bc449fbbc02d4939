import ProberCore

/// Silences (`prober silence`): planned work announced from the command line, kept with the history so a
/// running daemon (every prober of a fleet, on PostgreSQL) honours them without a reload; and the maintenance
/// windows the probes were registered with, so `status` can tell without the probe files.
public protocol SilenceStorage: AnyObject, Sendable {
    /// Stores a new silence; returns it with its id.
    func addSilence(_ silence: NewSilence) throws -> Silence
    /// Silences in force at `now` or that ended (ran out or were lifted) at or after `endedSince`, newest first.
    func silences(now: Int64, endedSince: Int64) throws -> [Silence]
    /// Lifts a silence at `at`; returns it as lifted, or nil when no silence has that id. Lifting one that
    /// already ended changes nothing (it is returned as it was).
    func liftSilence(id: Int64, at: Int64) throws -> Silence?
    /// A number that changes whenever a silence is added or lifted: what a daemon polls (one indexed lookup) before
    /// reading the silences again.
    func silencesVersion() throws -> Int64
    /// Each registered probe's maintenance windows (from `ProbeInfo.settings`), for probes that have any.
    func maintenanceWindows() throws -> [String: [MaintenanceWindow]]
}

/// A silence as `prober silence` asks for it.
public struct NewSilence: Sendable, Equatable {
    /// The probes it silences; empty for every probe (`--all`).
    public var probes: [String]
    public var reason: String
    public var startsAt: Int64
    public var endsAt: Int64
    /// Who asked (`user@host`), for `prober silences`.
    public var createdBy: String

    public init(probes: [String], reason: String, startsAt: Int64, endsAt: Int64, createdBy: String) {
        self.probes = probes
        self.reason = reason
        self.startsAt = startsAt
        self.endsAt = endsAt
        self.createdBy = createdBy
    }
}

/// One stored silence.
public struct Silence: Sendable, Equatable {
    public var id: Int64
    /// The probes it silences; empty for every probe.
    public var probes: [String]
    public var reason: String
    /// µs since the epoch: from `startsAt` until `endsAt`, or `liftedAt` when `prober unsilence` ended it sooner.
    public var startsAt: Int64
    public var endsAt: Int64
    public var liftedAt: Int64?
    public var createdBy: String

    public init(id: Int64, probes: [String], reason: String, startsAt: Int64, endsAt: Int64, liftedAt: Int64?, createdBy: String) {
        self.id = id
        self.probes = probes
        self.reason = reason
        self.startsAt = startsAt
        self.endsAt = endsAt
        self.liftedAt = liftedAt
        self.createdBy = createdBy
    }

    /// When it ends or ended: lifted, or run out.
    public var end: Int64 { min(endsAt, liftedAt ?? .max) }

    public func active(at t: Int64) -> Bool { t >= startsAt && t < end }

    public func covers(_ probe: String) -> Bool { probes.isEmpty || probes.contains(probe) }

    /// `all probes` or `api, web`.
    public var probeList: String { probes.isEmpty ? "all probes" : probes.joined(separator: ", ") }
}

extension ProbeInfo {
    /// The key of the maintenance windows in `settings`: their descriptions, `; ` apart.
    public static let maintenanceKey = "maintenance"

    /// The windows `settings(of:)` recorded.
    public var maintenance: [MaintenanceWindow] {
        settings.first { $0.key == Self.maintenanceKey }.map { Self.windows($0.value) } ?? []
    }

    /// Reads the windows back from a `maintenance` setting's value.
    public static func windows(_ text: String) -> [MaintenanceWindow] {
        text.split(separator: ";").compactMap { MaintenanceWindow(parsing: String($0.drop { $0 == " " })) }
    }
}

/// Why and until when a probe's checks change no incident: a maintenance window of its probe file or a silence.
public struct QuietPeriod: Sendable, Equatable {
    public enum Reason: String, Sendable, Equatable {
        case maintenance, silenced
    }

    public var reason: Reason
    /// When it ends (µs): the latest end of the windows and silences in force.
    public var until: Int64
    /// What made it quiet, for people: `prober silence #3: deploy` or `maintenance window sat,sun 02:00 for 2h in Europe/Berlin`.
    public var cause: String
    /// The silence's id, when a silence is what ends last.
    public var silenceID: Int64?

    public init(reason: Reason, until: Int64, cause: String, silenceID: Int64? = nil) {
        self.reason = reason
        self.until = until
        self.cause = cause
        self.silenceID = silenceID
    }

    /// The probe's quiet period at `t` (µs, wall time), from the silences in force and its windows; nil when none
    /// applies. When several do, the one that ends last names it.
    public static func of(probe: String, at t: Int64, silences: [Silence], windows: [MaintenanceWindow]) -> QuietPeriod? {
        var found: QuietPeriod?
        for s in silences where s.covers(probe) && s.active(at: t) && s.end > (found?.until ?? .min) {
            found = QuietPeriod(reason: .silenced, until: s.end, cause: "prober silence #\(s.id)" + (s.reason.isEmpty ? "" : ": \(s.reason)"),
                                silenceID: s.id)
        }
        for w in windows {
            if let end = w.end(containing: t), end > (found?.until ?? .min) {
                found = QuietPeriod(reason: .maintenance, until: end, cause: "maintenance window \(w)")
            }
        }
        return found
    }

    /// `silenced until 14:30 UTC` or `maintenance until Dec 24 22:00 UTC`.
    public func state(now: Int64) -> String { "\(reason.rawValue) until \(UTCTime.time(until, relativeTo: now))" }

    /// The timeline note of an incident open when the period begins.
    public func note(now: Int64) -> String {
        let by = reason == .silenced ? "silenced by \(cause)" : cause
        return "Maintenance started (\(by), until \(UTCTime.time(until, relativeTo: now))); checks go on, nothing escalates."
    }
}
