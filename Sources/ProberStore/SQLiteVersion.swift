import CSQLite3

/// The SQLite library prober runs on, as it reports itself at run time (`3.40.1`).
/// https://www.sqlite.org/c3ref/libversion.html
public func sqliteVersion() -> String {
    String(cString: sqlite3_libversion())
}
