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
        write(rows, now: now, into: &out) { _ in }
        return out.bytes
    }

    /// The same bytes handed to `sink` in pieces of about `chunk` bytes (`status --json`): a fleet's document is
    /// 18 MB, and writing it into one buffer faulted in 4,400 pages, 40 % of the process's.
    public static func write(_ rows: [Row], now: Int64, chunk: Int = 1 << 16, to sink: (UnsafeRawBufferPointer) -> Void) {
        var out = JSONWriter(pretty: true, capacity: chunk + chunk / 2)
        write(rows, now: now, into: &out) { out in
            if out.count >= chunk { out.flush(sink) }
        }
        out.flush(sink)
    }

    /// The rows as `json(rows, now:)` writes them, and the newline; `afterRow` is called after each row.
    static func write(_ rows: [Row], now: Int64, into out: inout JSONWriter, afterRow: (inout JSONWriter) -> Void) {
        out.beginArray()
        for row in rows {
            write(row, now: now, into: &out)
            afterRow(&out)
        }
        out.endArray()
        out.append(0x0A)
    }

    static func write(_ row: Row, now: Int64, into out: inout JSONWriter) {
        let s = row.status
        out.object(row) { out, row in
            out.key("checks_1h"); out.int(s.checks1h)
            out.key("connectivity_lost"); out.value(row.connectivityLost?.json ?? .null)
            out.key("failures_1h"); out.int(s.failures1h)
            out.key("incident")
            out.object(row.incident?.incident) { out, i in
                out.key("created_at"); out.time(i.createdAt)
                out.key("id"); out.int(i.id)
                out.key("resolution_stage"); out.string(i.stage.rawValue)
                out.key("status"); out.string(i.status.rawValue)
                out.key("title"); out.string(i.title)
            }
            out.key("kind"); out.string(s.kind)
            out.key("last_check"); write(s.last, now: now, into: &out)
            out.key("locations")
            out.beginArray()
            for l in row.locations { write(l, now: now, lost: row.lostLocations[l.location], into: &out) }
            out.endArray()
            out.key("name"); out.string(s.name)
            out.key("overload"); out.value(row.overload?.json ?? .null)
            out.key("p95_1h_us"); out.int(s.p95_1h)
            out.key("quiet")
            out.object(row.quiet) { out, q in
                out.key("cause"); out.string(q.cause)
                out.key("reason"); out.string(q.reason.rawValue)
                out.key("silence_id"); out.int(q.silenceID)
                out.key("until"); out.time(q.until)
            }
            out.key("state"); out.string(row.quiet?.reason.rawValue ?? row.state.description)
            out.key("target"); out.string(s.target)
            out.key("uptime_1h_percent"); out.double(s.uptime1h)
        }
    }

    static func write(_ l: LocationStatus, now: Int64, lost: ConnectivityLoss?, into out: inout JSONWriter) {
        out.object(l) { out, l in
            out.key("checks_1h"); out.int(l.checks1h)
            out.key("connectivity_lost"); out.value(lost?.json ?? .null)
            out.key("episode")
            out.object(l.episode) { out, e in
                out.key("stage"); out.string(e.stage?.rawValue)
                out.key("status"); out.string(e.status?.rawValue)
                out.key("summary"); out.string(e.summary)
            }
            out.key("failures_1h"); out.int(l.failures1h)
            out.key("last_check"); write(l.last, now: now, into: &out)
            out.key("location"); out.string(l.location)
            out.key("p95_1h_us"); out.int(l.p95_1h)
            out.key("state"); out.string(l.state.description)
            out.key("uptime_1h_percent"); out.double(l.uptime1h)
        }
    }

    static func write(_ last: ProbeStatus.LastCheck?, now: Int64, into out: inout JSONWriter) {
        out.object(last) { out, l in
            out.key("age_seconds"); out.int(max(0, now - l.at) / 1_000_000)
            out.key("at"); out.time(l.at)
            out.key("latency_us"); out.int(l.latency)
            out.key("ok"); out.bool(l.ok)
            out.key("reason"); out.string(l.reason?.rawValue)
            out.key("status"); out.int(l.status)
        }
    }
}

extension JSONWriter {
    /// An object whose members `members` writes from `value`, or `null` when `value` is nil.
    mutating func object<T>(_ value: T?, _ members: (inout JSONWriter, T) -> Void) {
        guard let value else { return null() }
        beginObject()
        members(&self, value)
        endObject()
    }
}
