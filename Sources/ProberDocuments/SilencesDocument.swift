import ProberCore
import ProberStorage

/// `prober silences --json`: the silences in force and those ended in the last day, newest first.
public enum SilencesDocument {
    /// `active`, `lifted` (ended by `prober unsilence`) or `ended` (ran out).
    public static func state(_ s: Silence, now: Int64) -> String {
        if s.active(at: now) { return "active" }
        if let lifted = s.liftedAt, lifted < s.endsAt { return "lifted" }
        return s.startsAt > now ? "scheduled" : "ended"
    }

    public static func json(_ silences: [Silence], now: Int64) -> JSONValue {
        .array(silences.map { s in
            .object([
                "id": .int(s.id), "state": .string(state(s, now: now)), "all_probes": .bool(s.probes.isEmpty),
                "probes": .array(s.probes.map { .string($0) }), "reason": .string(s.reason),
                "starts_at": .time(s.startsAt), "ends_at": .time(s.endsAt), "lifted_at": s.liftedAt.map { .time($0) } ?? .null,
                "created_by": .string(s.createdBy),
            ])
        })
    }
}
