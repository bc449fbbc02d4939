#ifndef PROBER_CSQLITE3_SHIM_H
#define PROBER_CSQLITE3_SHIM_H
#include <sqlite3.h>

/// SQLITE_TRANSIENT is a macro Swift cannot import: SQLite copies the bound value at once.
static inline sqlite3_destructor_type prober_sqlite_transient(void) {
    return (sqlite3_destructor_type)-1;
}

/// SQLITE_STATIC is a macro too: the bound value outlives the statement step (the caller guarantees it).
static inline sqlite3_destructor_type prober_sqlite_static(void) {
    return (sqlite3_destructor_type)0;
}

/// sqlite3_busy_timeout is importable, but sqlite3_db_config is variadic: a typed wrapper for the
/// integer options (e.g. SQLITE_DBCONFIG_DEFENSIVE).
static inline int prober_sqlite_db_config_int(sqlite3 *db, int op, int value) {
    int result = 0;
    return sqlite3_db_config(db, op, value, &result);
}
#endif
