import ProberCore
import ProberStorage

/// `status --json` and `/api/v1/status` written straight into bytes (`JSONWriter`), object by object, the same bytes
/// as `ProberDocuments.bytes(json(rows, now:))`: a fleet's document is 3,000 probes × 10 locations, and building a
/// `JSONValue` dictionary per object, then sorting its keys to write it, was half of `status --json`'s CPU.
///
/// Each object's keys are written in `JSONValue`'s sorted order; `StatusDocumentStreamTests` compares the two.
extension StatusDocument {
    /// The document as `--json` prints it and `/api/v1/status` answers it: indented JSON and a newline.
    public static func bytes(_ rows: [Row], now: Int64) -> [UInt8] {
        var out = JSONWriter(pretty: true, capacity: rows.count * 900 + rows.reduce(0) { $0 + $1.locations.count } * 650)
        write(rows, now: now, into: &out)
        out.append(0x0A)
        return out.bytes
    }

    /// The rows as `json(rows, now:)` writes them.
    public static func write(_ rows: [Row], now: Int64, into out: inout JSONWriter) {
        out.beginArray()
        for row in rows { write(row, now: now, into: &out) }
        out.endArray()
    }

    static func write(_ row: Row, now: Int64, into out: inout JSONWriter) {
        let s = row.status
        out.beginObject()
        out.key("checks_1h"); out.int(s.checks1h)
        out.key("connectivity_lost"); if let lost = row.connectivityLost { out.value(lost.json) } else { out.null() }
        out.key("failures_1h"); out.int(s.failures1h)
        out.key("incident")
        if let i = row.incident?.incident {
            out.beginObject()
            out.key("created_at"); out.time(i.createdAt)
            out.key("id"); out.int(i.id)
            out.key("resolution_stage"); out.string(i.stage.rawValue)
            out.key("status"); out.string(i.status.rawValue)
            out.key("title"); out.string(i.title)
            out.endObject()
        } else {
            out.null()
        }
        out.key("kind"); out.string(s.kind)
        out.key("last_check"); write(s.last, now: now, into: &out)
        out.key("locations")
        out.beginArray()
        for l in row.locations { write(l, now: now, lost: row.lostLocations[l.location], into: &out) }
        out.endArray()
        out.key("name"); out.string(s.name)
        out.key("overload"); if let overload = row.overload { out.value(overload.json) } else { out.null() }
        out.key("p95_1h_us"); out.int(s.p95_1h)
        out.key("quiet")
        if let q = row.quiet {
            out.beginObject()
            out.key("cause"); out.string(q.cause)
            out.key("reason"); out.string(q.reason.rawValue)
            out.key("silence_id"); out.int(q.silenceID)
            out.key("until"); out.time(q.until)
            out.endObject()
        } else {
            out.null()
        }
        out.key("state"); out.string(row.quiet?.reason.rawValue ?? row.state.description)
        out.key("target"); out.string(s.target)
        out.key("uptime_1h_percent"); out.double(s.uptime1h)
        out.endObject()
    }

    static func write(_ l: LocationStatus, now: Int64, lost: ConnectivityLoss?, into out: inout JSONWriter) {
        out.beginObject()
        out.key("checks_1h"); out.int(l.checks1h)
        out.key("connectivity_lost"); if let lost { out.value(lost.json) } else { out.null() }
        out.key("episode")
        if let e = l.episode {
            out.beginObject()
            out.key("stage"); out.string(e.stage?.rawValue)
            out.key("status"); out.string(e.status?.rawValue)
            out.key("summary"); out.string(e.summary)
            out.endObject()
        } else {
            out.null()
        }
        out.key("failures_1h"); out.int(l.failures1h)
        out.key("last_check"); write(l.last, now: now, into: &out)
        out.key("location"); out.string(l.location)
        out.key("p95_1h_us"); out.int(l.p95_1h)
        out.key("state"); out.string(l.state.description)
        out.key("uptime_1h_percent"); out.double(l.uptime1h)
        out.endObject()
    }

    static func write(_ last: ProbeStatus.LastCheck?, now: Int64, into out: inout JSONWriter) {
        guard let l = last else { return out.null() }
        out.beginObject()
        out.key("age_seconds"); out.int(max(0, now - l.at) / 1_000_000)
        out.key("at"); out.time(l.at)
        out.key("latency_us"); out.int(l.latency)
        out.key("ok"); out.bool(l.ok)
        out.key("reason"); out.string(l.reason?.rawValue)
        out.key("status"); out.int(l.status)
        out.endObject()
    }
}
