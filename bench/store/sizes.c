/* Prints "TABLE ROWS BYTES" for the store's tables, bytes from the dbstat virtual table (pages used by
 * the table's b-tree, including free space inside them). Usage: sizes DB */
#include <sqlite3.h>
#include <stdio.h>

int main(int argc, char **argv) {
    sqlite3 *db;
    if (argc < 2 || sqlite3_open_v2(argv[1], &db, SQLITE_OPEN_READONLY, 0) != SQLITE_OK) return 1;
    const char *tables[] = {"samples", "rollup_5m", "rollup_1h"};
    for (int i = 0; i < 3; i++) {
        char sql[256];
        sqlite3_stmt *st;
        snprintf(sql, sizeof sql, "SELECT (SELECT count(*) FROM %s), (SELECT sum(pgsize) FROM dbstat WHERE name = '%s')", tables[i], tables[i]);
        if (sqlite3_prepare_v2(db, sql, -1, &st, 0) != SQLITE_OK) { fprintf(stderr, "%s\n", sqlite3_errmsg(db)); return 1; }
        if (sqlite3_step(st) == SQLITE_ROW)
            printf("%s %lld %lld\n", tables[i], sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1));
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return 0;
}
