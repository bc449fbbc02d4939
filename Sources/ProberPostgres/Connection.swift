import CPostgres
import Foundation
import ProberStorage

/// A PostgreSQL failure with what a person needs to act: the SQLSTATE, the server's message and the SQL,
/// about the database named without its password.
public struct PostgresError: StorageError {
    /// The five-character SQLSTATE (`55P03` lock not available, `28P01` wrong password, …); empty for a
    /// failure of libpq itself (no connection) or of the backend.
    public var sqlState: String
    public var message: String
    /// The statement that failed, when there was one.
    public var sql: String?
    /// The database, redacted (`RedactedDatabaseURL`).
    public var database: String
    public var kind: StorageErrorKind

    public init(sqlState: String = "", message: String, sql: String? = nil, database: String, kind: StorageErrorKind? = nil) {
        self.sqlState = sqlState
        self.message = message
        self.sql = sql
        self.database = database
        self.kind = kind ?? Self.kind(of: sqlState)
    }

    public var location: String { database }

    /// https://www.postgresql.org/docs/15/errcodes-appendix.html
    static func kind(of sqlState: String) -> StorageErrorKind {
        switch sqlState {
        case "55P03", "40001", "40P01", "57014": .busy // lock timeout, serialization, deadlock, statement timeout
        case "25006": .readOnly
        case "28P01", "28000": .configuration
        case "3D000": .missing
        case "23505": .conflict
        default: .failed
        }
    }

    public var description: String {
        var text = "\(database): "
        if !sqlState.isEmpty { text += "PostgreSQL error \(sqlState): " }
        text += message
        if let sql { text += " [SQL: \(sql.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " "))]" }
        return text
    }
}

/// A value bound to a statement parameter: text (integers are sent as their digits) or bytes (`bytea`).
enum PGParam {
    case int(Int64)
    case text(String)
    case bytes([UInt8])
    case null

    init(_ value: Int64?) { self = value.map { .int($0) } ?? .null }
    init(_ value: String?) { self = value.map { .text($0) } ?? .null }
    init(bytes value: [UInt8]?) { self = value.map { .bytes($0) } ?? .null }
}

/// One libpq connection (`PGconn*`), freed in `deinit`.
///
/// Not thread-safe (libpq's rule for one connection): each owner keeps it on one serial queue or thread
/// (`PostgresStore.queue`, the sample recorder's thread).
final class PGConnection {
    let handle: OpaquePointer
    /// The redacted URL, for errors.
    let database: String

    /// Connects to `url`. `password` (from `PROBER_DB_PASSWORD_FILE`) is used when the URL has none; libpq
    /// itself reads `PGPASSWORD` and `PGPASSFILE`. `readOnly` makes every transaction of the session
    /// read-only, so a write fails with SQLSTATE 25006. Statements wait at most `lockTimeout` for a lock.
    init(url: String, password: String?, readOnly: Bool, lockTimeout: Duration, applicationName: String = "prober") throws {
        database = RedactedDatabaseURL(url).description
        // JIT off: a statement the planner costs above `jit_above_cost` (learningProbes' over 1,000 probes) spent
        // ~50 ms compiling to run in 1 ms; none of ours runs long enough to earn it back.
        var options = "-c lock_timeout=\(lockTimeout.milliseconds) -c jit=off"
        if readOnly { options += " -c default_transaction_read_only=on" }
        var keywords = ["dbname", "fallback_application_name", "connect_timeout", "options"]
        var values = [url, applicationName, "10", options]
        if let password { keywords.append("password"); values.append(password) }
        let conn = Self.withCStrings(keywords) { k in
            Self.withCStrings(values) { v in PQconnectdbParams(k, v, 1) }
        }
        guard let conn else { throw PostgresError(message: "out of memory connecting", database: database) }
        guard PQstatus(conn) == CONNECTION_OK else {
            let message = String(cString: PQerrorMessage(conn)).trimmingCharacters(in: .whitespacesAndNewlines)
            let kind: StorageErrorKind
            if message.contains("password authentication failed") || message.contains("no password supplied")
                || PQconnectionNeedsPassword(conn) != 0 || message.contains("authentication failed") {
                kind = .configuration
            } else if message.contains("does not exist") && message.contains("database") {
                kind = .missing
            } else if message.contains("invalid") && (message.contains("URI") || message.contains("connection option")) {
                kind = .configuration
            } else {
                kind = .failed
            }
            PQfinish(conn)
            throw PostgresError(message: Self.scrub(message, password: password, url: url), database: database, kind: kind)
        }
        handle = conn
        // Notices (e.g. "relation already exists, skipping") would go to stderr.
        PQsetNoticeProcessor(conn, { _, _ in }, nil)
    }

    deinit { PQfinish(handle) }

    /// libpq's messages name the host, port and user, never the password; this removes it anyway should a
    /// future version quote the URL.
    static func scrub(_ message: String, password: String?, url: String) -> String {
        var text = message
        for secret in [password, Self.urlPassword(url)].compactMap({ $0 }) where !secret.isEmpty {
            text = text.replacingOccurrences(of: secret, with: "***")
        }
        return text
    }

    static func urlPassword(_ url: String) -> String? {
        guard let schemeEnd = url.range(of: "://") else { return nil }
        let rest = url[schemeEnd.upperBound...]
        let authority = rest.split(separator: "?", maxSplits: 1).first ?? ""
        guard let at = authority.lastIndex(of: "@") else { return nil }
        let userInfo = authority[..<at]
        guard let colon = userInfo.firstIndex(of: ":") else { return nil }
        return String(userInfo[userInfo.index(after: colon)...]).removingPercentEncoding
    }

    /// Statements sent on this connection (`query`, `execute`, `copy`): tests assert that a read's round trips do not
    /// grow with the number of probes.
    private(set) var statements = 0

    /// Runs one statement with parameters (`$1`, `$2`, …) and returns its rows: in text format, or with `binary` in
    /// binary format (integers as network-order bytes, `bytea` as its bytes, read in place; see `PGResult`).
    @discardableResult
    func query(_ sql: String, _ params: [PGParam] = [], binary: Bool = false) throws -> PGResult {
        statements += 1
        let result = Self.withParams(params) { values, lengths, formats in
            PQexecParams(handle, sql, Int32(params.count), nil, values, lengths, formats, binary ? 1 : 0)
        }
        return try check(result, sql: sql)
    }

    /// Runs statements without parameters (several, separated by `;`).
    func execute(_ sql: String) throws {
        statements += 1
        try check(PQexec(handle, sql), sql: sql)
    }

    /// The first column of the first row as an integer; nil without rows or for NULL.
    func scalar(_ sql: String, _ params: [PGParam] = []) throws -> Int64? {
        let r = try query(sql, params)
        return r.count > 0 ? r.int64OrNil(0, 0) : nil
    }

    /// Runs `body` in a transaction (`BEGIN`, then `COMMIT`, or `ROLLBACK` when it throws).
    func transaction<T>(_ begin: String = "BEGIN", _ body: () throws -> T) throws -> T {
        try execute(begin)
        do {
            let value = try body()
            try execute("COMMIT")
            return value
        } catch {
            _ = try? execute("ROLLBACK")
            throw error
        }
    }

    /// `COPY … FROM STDIN` with `data` in COPY's text format.
    func copy(_ sql: String, data: [UInt8]) throws {
        statements += 1
        let start = PQexec(handle, sql)
        guard PQresultStatus(start) == PGRES_COPY_IN else { try check(start, sql: sql); return }
        PQclear(start)
        let sent = data.withUnsafeBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count) {
                PQputCopyData(handle, $0, Int32(buffer.count))
            }
        }
        guard sent == 1, PQputCopyEnd(handle, nil) == 1 else {
            throw PostgresError(message: lastError, sql: sql, database: database)
        }
        // COPY's outcome, then the end of the results.
        var outcome: Error?
        while let result = PQgetResult(handle) {
            do { try check(result, sql: sql) } catch { outcome = outcome ?? error }
        }
        if let outcome { throw outcome }
    }

    /// `COPY (query) TO STDOUT (FORMAT binary)`: the rows as `CopiedRows`. COPY takes no parameters: `sql` must be
    /// the whole statement, with only values the caller made (integers) written into it.
    func copyOut(_ sql: String) throws -> CopiedRows {
        statements += 1
        let start = PQexec(handle, sql)
        guard PQresultStatus(start) == PGRES_COPY_OUT else {
            try check(start, sql: sql)
            throw PostgresError(message: "not a COPY TO STDOUT", sql: sql, database: database)
        }
        PQclear(start)
        var rows = CopiedRows.Builder()
        var outcome: Error?
        // Each call hands over one CopyData message (libpq allocates it); -1 at the end, -2 on an error.
        var buffer: UnsafeMutablePointer<CChar>?
        while case let length = PQgetCopyData(handle, &buffer, 0), length >= 0 {
            defer { PQfreemem(buffer) }
            do { try rows.append(UnsafeRawBufferPointer(start: buffer, count: Int(length))) } catch {
                outcome = outcome ?? PostgresError(message: "malformed COPY data", sql: sql, database: database)
            }
        }
        // COPY's outcome (an error the server met midway is here), then the end of the results.
        while let result = PQgetResult(handle) {
            do { try check(result, sql: sql) } catch { outcome = outcome ?? error }
        }
        if outcome == nil && !rows.ended { outcome = PostgresError(message: "COPY data ended early", sql: sql, database: database) }
        if let outcome {
            rows.deallocate()
            throw outcome
        }
        return CopiedRows(rows)
    }

    var lastError: String { String(cString: PQerrorMessage(handle)).trimmingCharacters(in: .whitespacesAndNewlines) }

    /// Whether the connection is still up (false once a call found the server gone).
    var isConnected: Bool { PQstatus(handle) == CONNECTION_OK }

    /// Connects again with the same settings (`PQreset`) when a call found the connection lost: the server
    /// restarted, or an administrator ended the session. Blocks up to `connect_timeout`. A failed attempt leaves
    /// it lost, and the next call tries again.
    func reconnectIfLost() {
        if !isConnected { PQreset(handle) }
    }

    /// A result that is a success, or the error it carries (the result is freed).
    @discardableResult
    private func check(_ result: OpaquePointer?, sql: String) throws -> PGResult {
        guard let result else { throw PostgresError(message: lastError, sql: sql, database: database) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
            return PGResult(result)
        default:
            let state = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) } ?? ""
            let message = PQresultErrorField(result, Int32(UInt8(ascii: "M"))).map { String(cString: $0) } ?? lastError
            PQclear(result)
            // A lost connection has no SQLSTATE: libpq's message says why.
            throw PostgresError(sqlState: state, message: message.isEmpty ? lastError : message, sql: sql, database: database)
        }
    }

    private static func withCStrings<T>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> T) -> T {
        let pointers = strings.map { UnsafePointer(strdup($0)) } + [nil]
        defer { pointers.forEach { free(UnsafeMutablePointer(mutating: $0)) } }
        return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
    }

    private static func withParams<T>(_ params: [PGParam],
                                      _ body: (UnsafePointer<UnsafePointer<CChar>?>?, UnsafePointer<Int32>?, UnsafePointer<Int32>?) -> T) -> T {
        var pointers: [UnsafePointer<CChar>?] = []
        var lengths: [Int32] = []
        var formats: [Int32] = []
        for p in params {
            switch p {
            case .int(let v):
                pointers.append(UnsafePointer(strdup(String(v)))); lengths.append(0); formats.append(0)
            case .text(let s):
                pointers.append(UnsafePointer(strdup(s))); lengths.append(0); formats.append(0)
            case .bytes(let b):
                let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: max(b.count, 1))
                b.withUnsafeBufferPointer { src in
                    if let base = src.baseAddress { UnsafeMutableRawPointer(buffer).copyMemory(from: base, byteCount: b.count) }
                }
                pointers.append(UnsafePointer(buffer)); lengths.append(Int32(b.count)); formats.append(1)
            case .null:
                pointers.append(nil); lengths.append(0); formats.append(0)
            }
        }
        defer {
            for (i, p) in pointers.enumerated() {
                guard let p else { continue }
                if formats[i] == 1 { UnsafeMutablePointer(mutating: p).deallocate() } else { free(UnsafeMutablePointer(mutating: p)) }
            }
        }
        return pointers.withUnsafeBufferPointer { v in
            lengths.withUnsafeBufferPointer { l in
                formats.withUnsafeBufferPointer { f in body(v.baseAddress, l.baseAddress, f.baseAddress) }
            }
        }
    }
}

/// The rows of one statement (`PGresult*`), freed in `deinit`. Read on its connection's queue.
///
/// Columns are read in either format (`PQfformat`): text, or binary when the statement asked for it (`query(binary:)`),
/// where the integer columns read are `smallint`, `integer` or `bigint` and the others `text` or `bytea`.
final class PGResult {
    let handle: OpaquePointer

    init(_ handle: OpaquePointer) { self.handle = handle }
    deinit { PQclear(handle) }

    var count: Int { Int(PQntuples(handle)) }
    /// Rows changed by an UPDATE, DELETE or INSERT.
    var affected: Int { Int(String(cString: PQcmdTuples(handle))) ?? 0 }

    func isNull(_ row: Int, _ column: Int) -> Bool { PQgetisnull(handle, Int32(row), Int32(column)) == 1 }

    /// A `text` column, in either format (libpq ends every value with a zero byte); "" for NULL.
    func string(_ row: Int, _ column: Int) -> String {
        String(cString: PQgetvalue(handle, Int32(row), Int32(column)))
    }

    func stringOrNil(_ row: Int, _ column: Int) -> String? { isNull(row, column) ? nil : string(row, column) }

    func int64(_ row: Int, _ column: Int) -> Int64 { int64OrNil(row, column) ?? 0 }

    func int64OrNil(_ row: Int, _ column: Int) -> Int64? {
        guard !isNull(row, column), let p = PQgetvalue(handle, Int32(row), Int32(column)) else { return nil }
        guard isBinary(column) else { return strtoll(p, nil, 10) }
        switch PQgetlength(handle, Int32(row), Int32(column)) {
        case 8: return Int64(bigEndian: UnsafeRawPointer(p).loadUnaligned(as: Int64.self))
        case 4: return Int64(Int32(bigEndian: UnsafeRawPointer(p).loadUnaligned(as: Int32.self)))
        case 2: return Int64(Int16(bigEndian: UnsafeRawPointer(p).loadUnaligned(as: Int16.self)))
        default: return nil
        }
    }

    /// A `bytea` column; nil for NULL.
    func bytes(_ row: Int, _ column: Int) -> [UInt8]? {
        isNull(row, column) ? nil : withBytes(row, column) { Array($0) }
    }

    /// A `bytea` column's bytes, valid only inside `body` (empty for NULL): in place in binary format, decoded from
    /// its hex (`\x` then two digits a byte) in text format.
    func withBytes<T>(_ row: Int, _ column: Int, _ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        guard !isNull(row, column), let p = PQgetvalue(handle, Int32(row), Int32(column)) else {
            return try body(UnsafeRawBufferPointer(start: nil, count: 0))
        }
        let length = Int(PQgetlength(handle, Int32(row), Int32(column)))
        if isBinary(column) { return try body(UnsafeRawBufferPointer(start: p, count: length)) }
        guard length >= 2 else { return try body(UnsafeRawBufferPointer(start: nil, count: 0)) }
        let decoded = p.withMemoryRebound(to: UInt8.self, capacity: length) { text in
            var out: [UInt8] = []
            out.reserveCapacity((length - 2) / 2)
            var i = 2
            while i + 1 < length {
                out.append(Self.nibble(text[i]) << 4 | Self.nibble(text[i + 1]))
                i += 2
            }
            return out
        }
        return try decoded.withUnsafeBytes(body)
    }

    /// Whether a column came in binary format.
    private func isBinary(_ column: Int) -> Bool { PQfformat(handle, Int32(column)) == 1 }

    private static func nibble(_ c: UInt8) -> UInt8 {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        default: c &- UInt8(ascii: "A") &+ 10
        }
    }
}
