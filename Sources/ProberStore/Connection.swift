import CSQLite3
import Foundation
import ProberStorage

/// A SQLite failure with what a person needs to act: the result code, SQLite's message and the SQL.
public struct StoreError: StorageError {
    /// The extended SQLite result code (`SQLITE_BUSY` = 5, `SQLITE_FULL` = 13, …), or 0 for errors of the store itself.
    public var code: Int32
    public var message: String
    /// The statement that failed, when there was one.
    public var sql: String?
    /// The database file.
    public var path: String
    public var kind: StorageErrorKind

    /// `kind` defaults to what the result code means (`busy`, `readOnly`, `notADatabase`, else `failed`).
    public init(code: Int32, message: String, sql: String? = nil, path: String, kind: StorageErrorKind? = nil) {
        self.code = code
        self.message = message
        self.sql = sql
        self.path = path
        self.kind = kind ?? Self.kind(of: code)
    }

    public var location: String { path }

    private static func kind(of code: Int32) -> StorageErrorKind {
        switch code & 0xFF {
        case SQLITE_BUSY, SQLITE_LOCKED: .busy
        case SQLITE_READONLY: .readOnly
        case SQLITE_NOTADB: .notADatabase
        default: .failed
        }
    }

    /// The primary result code (`SQLITE_BUSY` for `SQLITE_BUSY_SNAPSHOT`, …).
    public var primaryCode: Int32 { code & 0xFF }

    /// Locked or busy: another connection holds the write lock.
    public var isBusy: Bool { primaryCode == SQLITE_BUSY || primaryCode == SQLITE_LOCKED }

    public var description: String {
        var text = "\(path): "
        if code != 0 { text += "SQLite error \(code) (\(String(cString: sqlite3_errstr(code)))): " }
        text += message
        if let sql { text += " [SQL: \(sql.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " "))]" }
        return text
    }
}

/// One SQLite connection and its cache of prepared statements.
///
/// Owned by the `Store`'s serial queue: every method is called on that queue only (through
/// `Store.read`/`Store.write`), which is why the class needs no locking of its own.
final class Connection {
    let handle: OpaquePointer
    let path: String
    private var statements: [String: Statement] = [:]

    init(path: String, readOnly: Bool) throws {
        var db: OpaquePointer?
        let flags = readOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)
        let rc = sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            sqlite3_close_v2(db)
            throw StoreError(code: rc, message: message, path: path)
        }
        handle = db
        self.path = path
        sqlite3_extended_result_codes(db, 1)
    }

    deinit {
        statements.removeAll() // finalize every statement before closing
        sqlite3_close_v2(handle)
    }

    /// Turns a result code into a `StoreError` carrying SQLite's message and the SQL.
    @discardableResult
    func check(_ rc: Int32, sql: String? = nil) throws -> Int32 {
        switch rc {
        case SQLITE_OK, SQLITE_ROW, SQLITE_DONE: return rc
        default:
            throw StoreError(code: sqlite3_extended_errcode(handle), message: String(cString: sqlite3_errmsg(handle)),
                             sql: sql, path: path)
        }
    }

    /// Runs one or more statements that return no rows we need.
    func execute(_ sql: String) throws {
        try check(sqlite3_exec(handle, sql, nil, nil, nil), sql: sql)
    }

    /// A cached prepared statement, reset and with its bindings cleared.
    func prepare(_ sql: String) throws -> Statement {
        if let cached = statements[sql] {
            cached.reset()
            return cached
        }
        var stmt: OpaquePointer?
        try check(sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &stmt, nil), sql: sql)
        guard let stmt else { throw StoreError(code: 0, message: "empty statement", sql: sql, path: path) }
        let statement = Statement(stmt, sql: sql, connection: self)
        statements[sql] = statement
        return statement
    }

    /// Resets every statement still positioned on a row (a `scalar`, a `guard try step()` that read one
    /// row). Called before each COMMIT: in WAL mode a statement left mid-result keeps its read snapshot
    /// after COMMIT, so this connection would go on seeing the database as it was and miss other
    /// processes' writes (e.g. `prober deliveries retry` while the daemon runs).
    /// https://sqlite.org/c3ref/stmt_busy.html
    func resetBusyStatements() {
        var stmt = sqlite3_next_stmt(handle, nil)
        while let s = stmt {
            if sqlite3_stmt_busy(s) != 0 { sqlite3_reset(s) }
            stmt = sqlite3_next_stmt(handle, s)
        }
    }

    /// Runs `body` inside `BEGIN IMMEDIATE … COMMIT`, rolling back when it throws.
    func transaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN IMMEDIATE")
        do {
            let value = try body()
            resetBusyStatements()
            try execute("COMMIT")
            return value
        } catch {
            if sqlite3_get_autocommit(handle) == 0 { _ = sqlite3_exec(handle, "ROLLBACK", nil, nil, nil) }
            throw error
        }
    }

    /// The first column of the first row as an integer (nil for none or NULL). The statement is reset before this returns: a cached
    /// statement left on its row kept its read transaction open, so the connection's next write, once another
    /// connection had written, failed at once with `SQLITE_BUSY_SNAPSHOT` (a `Store` opened beside a running daemon
    /// could never write).
    func scalar(_ sql: String, _ values: [Int64?] = []) throws -> Int64? {
        let stmt = try prepare(sql)
        defer { stmt.reset() }
        for (i, v) in values.enumerated() { try stmt.bind(i + 1, v) }
        guard try stmt.step() else { return nil }
        return stmt.int64OrNil(0)
    }

    var userVersion: Int {
        get throws { Int(try scalar("PRAGMA user_version") ?? 0) }
    }

    /// Rows changed by the last statement.
    var changes: Int { Int(sqlite3_changes(handle)) }
}

/// One prepared statement, owned by its `Connection` (and so by the same queue).
final class Statement {
    let handle: OpaquePointer
    let sql: String
    private unowned let connection: Connection

    init(_ handle: OpaquePointer, sql: String, connection: Connection) {
        self.handle = handle
        self.sql = sql
        self.connection = connection
    }

    deinit { sqlite3_finalize(handle) }

    func reset() {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
    }

    func bind(_ index: Int, _ value: Int64?) throws {
        let rc = value.map { sqlite3_bind_int64(handle, Int32(index), $0) } ?? sqlite3_bind_null(handle, Int32(index))
        try connection.check(rc, sql: sql)
    }

    func bind(_ index: Int, _ value: String?) throws {
        let rc = value.map { sqlite3_bind_text(handle, Int32(index), $0, -1, prober_sqlite_transient()) }
            ?? sqlite3_bind_null(handle, Int32(index))
        try connection.check(rc, sql: sql)
    }

    func bind(_ index: Int, blob: [UInt8]?) throws {
        let rc: Int32
        if let blob {
            rc = blob.withUnsafeBytes { sqlite3_bind_blob(handle, Int32(index), $0.baseAddress, Int32($0.count), prober_sqlite_transient()) }
        } else {
            rc = sqlite3_bind_null(handle, Int32(index))
        }
        try connection.check(rc, sql: sql)
    }

    /// Steps once: true when a row is available, false when done.
    func step() throws -> Bool {
        let rc = sqlite3_step(handle)
        if rc == SQLITE_ROW { return true }
        if rc == SQLITE_DONE { return false }
        try connection.check(rc, sql: sql)
        return false
    }

    /// Steps to completion (for INSERT/UPDATE/DELETE), then resets so locks are released.
    func run() throws {
        defer { sqlite3_reset(handle) }
        while try step() {}
    }

    func isNull(_ column: Int) -> Bool { sqlite3_column_type(handle, Int32(column)) == SQLITE_NULL }
    func int64(_ column: Int) -> Int64 { sqlite3_column_int64(handle, Int32(column)) }
    func int64OrNil(_ column: Int) -> Int64? { isNull(column) ? nil : int64(column) }
    func string(_ column: Int) -> String {
        // The length SQLite already knows (text, then bytes: https://sqlite.org/c3ref/column_blob.html) rather
        // than `String(cString:)`'s own scan for the NUL: the listings read tens of thousands of strings.
        guard let text = sqlite3_column_text(handle, Int32(column)) else { return "" }
        let count = Int(sqlite3_column_bytes(handle, Int32(column)))
        return String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self)
    }
    /// The BLOB at `column` without copying it; the buffer is valid only inside `body`.
    func withBlob<T>(_ column: Int, _ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        let base = sqlite3_column_blob(handle, Int32(column)) // before _bytes, as https://sqlite.org/c3ref/column_blob.html advises
        let count = Int(sqlite3_column_bytes(handle, Int32(column)))
        return try body(UnsafeRawBufferPointer(start: count > 0 ? base : nil, count: count))
    }

    func blob(_ column: Int) -> [UInt8] {
        let count = Int(sqlite3_column_bytes(handle, Int32(column)))
        guard count > 0, let base = sqlite3_column_blob(handle, Int32(column)) else { return [] }
        return Array(UnsafeRawBufferPointer(start: base, count: count))
    }
}
