/* Prints "TABLE ROWS BYTES" for the store's tables, bytes from the dbstat virtual table (pages used by
 * the table's b-tree, including free space inside them). "samples" is the raw samples in all their tables
 * (schema 10: `sample_recent` rows plus the samples counted in each `sample_blocks` row, and `sample_span`; schema 12
 * adds `sample_archive`'s days), then "layout TABLE ROWS DATA_BYTES PAGE_BYTES" for each of those tables.
 * Usage: sizes DB */
#include <sqlite3.h>
#include <stdio.h>

static long long scalar(sqlite3 *db, const char *sql) {
    sqlite3_stmt *st;
    long long v = 0;
    if (sqlite3_prepare_v2(db, sql, -1, &st, 0) != SQLITE_OK) { fprintf(stderr, "%s\n", sqlite3_errmsg(db)); return 0; }
    if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* The samples in a table of blocks (sample_blocks, sample_archive): each block's first varint. */
static long long block_samples(sqlite3 *db, const char *table) {
    sqlite3_stmt *st;
    long long n = 0;
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT data FROM %s", table);
    if (sqlite3_prepare_v2(db, sql, -1, &st, 0) != SQLITE_OK) return 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char *p = sqlite3_column_blob(st, 0);
        int len = sqlite3_column_bytes(st, 0);
        long long v = 0;
        for (int i = 0, shift = 0; i < len; i++, shift += 7) {
            v |= (long long)(p[i] & 0x7F) << shift;
            if (!(p[i] & 0x80)) break;
        }
        n += v;
    }
    sqlite3_finalize(st);
    return n;
}

static long long archive_samples(sqlite3 *db) { return block_samples(db, "sample_archive"); }

int main(int argc, char **argv) {
    sqlite3 *db;
    if (argc < 2 || sqlite3_open_v2(argv[1], &db, SQLITE_OPEN_READONLY, 0) != SQLITE_OK) return 1;
    long long rows = scalar(db, "SELECT count(*) FROM sample_recent") + block_samples(db, "sample_blocks")
        + archive_samples(db);
    long long bytes = scalar(db, "SELECT sum(pgsize) FROM dbstat WHERE name IN ('sample_recent', 'sample_blocks', 'sample_blocks_key',"
                                 " 'sample_span', 'sample_archive', 'sample_archive_key')");
    printf("samples %lld %lld\n", rows, bytes);
    /* Each raw layout apart: rows, the bytes of their data, and of their pages (table and index). */
    const char *raw[][3] = {{"sample_recent", "0", "'sample_recent'"}, {"sample_blocks", "length(data)", "'sample_blocks', 'sample_blocks_key'"},
                            {"sample_archive", "length(data)", "'sample_archive', 'sample_archive_key'"},
                            {"sample_span", "0", "'sample_span'"}};
    for (int i = 0; i < 4; i++) {
        char sql[256];
        snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", raw[i][0]);
        long long r = scalar(db, sql);
        snprintf(sql, sizeof sql, "SELECT coalesce(sum(%s), 0) FROM %s", raw[i][1], raw[i][0]);
        long long payload = scalar(db, sql);
        snprintf(sql, sizeof sql, "SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name IN (%s)", raw[i][2]);
        printf("layout %s %lld %lld %lld\n", raw[i][0], r, payload, scalar(db, sql));
    }
    const char *tables[] = {"rollup_5m", "rollup_1h"};
    for (int i = 0; i < 2; i++) {
        char sql[256];
        snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", tables[i]);
        long long r = scalar(db, sql);
        snprintf(sql, sizeof sql, "SELECT sum(pgsize) FROM dbstat WHERE name = '%s'", tables[i]);
        printf("%s %lld %lld\n", tables[i], r, scalar(db, sql));
    }
    sqlite3_close(db);
    return 0;
}
