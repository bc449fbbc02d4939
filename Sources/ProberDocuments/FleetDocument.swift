import ProberCore
import ProberStorage

/// `prober fleet --json` and `/api/v1/fleet`: one object per prober that wrote the history, sorted by location.
public enum FleetDocument {
    public static func json(_ probers: [ProberHeartbeat], now: Int64) -> JSONValue {
        .array(probers.map { p in
            .object([
                "location": .string(p.location), "host": .string(p.host), "pid": JSONValue(p.pid), "version": .string(p.version),
                "state": .string(p.state(now: now).rawValue), "started_at": .time(p.startedAt), "last_seen": .time(p.at),
                "last_seen_age_seconds": .int(max(0, now - p.at) / 1_000_000), "heartbeat_every_us": .int(p.every),
                "probes": JSONValue(p.probes), "tick_lateness_p99_us": JSONValue(p.latenessP99),
                "pending_samples": JSONValue(p.pending), "spooled_samples": JSONValue(p.spooled),
            ])
        })
    }
}
