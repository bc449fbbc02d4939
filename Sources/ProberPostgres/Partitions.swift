import Foundation

/// The day partitions of `samples`: `samples_YYYYMMDD` holds the checks started that UTC day
/// (`FOR VALUES FROM (midnight) TO (next midnight)`, microseconds).
enum Partitions {
    static let day: Int64 = 86_400_000_000

    /// The start of the UTC day holding `t`.
    static func dayStart(_ t: Int64) -> Int64 { t >= 0 ? t / day * day : -((-t + day - 1) / day) * day }

    static func name(dayStart: Int64) -> String {
        let (y, m, d) = civil(daysSinceEpoch: dayStart / day)
        return "samples_" + String(format: "%04d%02d%02d", y, m, d)
    }

    /// The day a partition's name stands for; nil for another name.
    static func dayStart(name: String) -> Int64? {
        guard name.hasPrefix("samples_"), name.count == 16, let n = Int(name.dropFirst(8)) else { return nil }
        return days(year: n / 10_000, month: n / 100 % 100, day: n % 100) * day
    }

    /// Creates the partitions of the days starting at `days` that are not in `known` (and adds them). Each in
    /// its own transaction under an advisory lock, so probers creating the same day at once do not collide.
    static func ensure(_ days: Set<Int64>, known: inout Set<Int64>, _ db: PGConnection) throws {
        for start in days.sorted() where !known.contains(start) {
            try db.transaction {
                try db.query("SELECT pg_advisory_xact_lock($1)", [.int(PostgresStore.partitionLock)])
                try db.execute("""
                    CREATE TABLE IF NOT EXISTS \(name(dayStart: start)) PARTITION OF samples
                    FOR VALUES FROM (\(start)) TO (\(start + day))
                    """)
            }
            known.insert(start)
        }
    }

    /// Every partition of `samples` with its day, oldest first.
    static func list(_ db: PGConnection) throws -> [(name: String, start: Int64)] {
        let r = try db.query("""
            SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = 'samples'::regclass
            """)
        return (0..<r.count).compactMap { i in
            let name = r.string(i, 0)
            return dayStart(name: name).map { (name, $0) }
        }.sorted { $0.start < $1.start }
    }

    /// Year, month, day of a day count since 1970-01-01 (proleptic Gregorian; H. Hinnant's algorithm).
    static func civil(daysSinceEpoch z0: Int64) -> (Int, Int, Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (Int(yoe + era * 400 + (m <= 2 ? 1 : 0)), Int(m), Int(d))
    }

    /// Days since 1970-01-01 of a civil date (the inverse of `civil`).
    static func days(year: Int, month: Int, day d: Int) -> Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let m = Int64(month)
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + Int64(d) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}
