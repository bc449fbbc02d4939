/* The raw baseline: the same rows as store-bench ingest, through the SQLite C API with one prepared
 * statement, 5,000 rows per transaction, and the store's pragmas. Usage: ingest_c DB PROBES N
 * Since schema version 10 the store appends to `sample_recent` (one `seq` per commit) and folds into blocks
 * later; this loop writes the same append (not the fold, which runs once per 5-minute window). */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <time.h>
#include "phase_codec.h"

static void die(sqlite3 *db, const char *what) { fprintf(stderr, "%s: %s\n", what, sqlite3_errmsg(db)); exit(1); }

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: ingest_c DB PROBES N\n"); return 2; }
    int probes = atoi(argv[2]);
    long n = atol(argv[3]);
    sqlite3 *db;
    if (sqlite3_open(argv[1], &db) != SQLITE_OK) die(db, "open");
    /* Exactly the store's pragmas (Store.configureForWriting): the file (made by store-bench init) already has the
     * store's 1 KiB pages; a 4 MiB cache that spills; a checkpoint once the WAL holds 32 MiB. */
    if (sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA journal_size_limit=67108864;"
                         "PRAGMA cache_size=-4096; PRAGMA cache_spill=ON; PRAGMA foreign_keys=OFF; PRAGMA secure_delete=FAST;",
                     0, 0, 0) != SQLITE_OK)
        die(db, "pragmas");
    sqlite3_stmt *ps;
    if (sqlite3_prepare_v2(db, "PRAGMA page_size", -1, &ps, 0) != SQLITE_OK || sqlite3_step(ps) != SQLITE_ROW) die(db, "page_size");
    int page = sqlite3_column_int(ps, 0);
    sqlite3_finalize(ps);
    char checkpoint[64];
    snprintf(checkpoint, sizeof checkpoint, "PRAGMA wal_autocheckpoint=%d;", (32 << 20) / (page < 512 ? 512 : page));
    if (sqlite3_exec(db, checkpoint, 0, 0, 0) != SQLITE_OK) die(db, "wal_autocheckpoint");
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO sample_recent(probe_id, ts, reason, status, phases, bytes, family, seq) "
                               "VALUES (?1,?2,?3,?4,?5,?6,?7,?8)", -1, &st, 0) != SQLITE_OK)
        die(db, "prepare");
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < n; i++) {
        if (i % 5000 == 0 && sqlite3_exec(db, "BEGIN IMMEDIATE", 0, 0, 0) != SQLITE_OK) die(db, "begin");
        int64_t probe = i % probes + 1, round = i / probes;
        int64_t ts = 1700000000000000LL + round * 30000000LL + probe * 1000;
        int64_t h = (int64_t)(((uint64_t)i * 2654435761ULL) & 0xFFFFFFFFULL);
        sqlite3_bind_int64(st, 8, i / 5000 + 1);
        sqlite3_bind_int64(st, 1, probe);
        sqlite3_bind_int64(st, 2, ts);
        uint8_t blob[64];
        if (i % 50 == 0) {
            sqlite3_bind_int64(st, 3, 4);
            sqlite3_bind_null(st, 4);
            sqlite3_bind_blob(st, 5, blob, encode_dns_total(blob, 200, 5000000), SQLITE_TRANSIENT);
            sqlite3_bind_null(st, 6);
            sqlite3_bind_null(st, 7);
        } else {
            int64_t ph[6] = {200 + h % 300, 500 + h % 700, 2000 + h % 3000, 20000 + h % 50000, 300 + h % 500, 0};
            ph[5] = ph[0] + ph[1] + ph[2] + ph[3] + ph[4];
            sqlite3_bind_int64(st, 3, 0);
            sqlite3_bind_int64(st, 4, 200);
            sqlite3_bind_blob(st, 5, blob, encode_phases(blob, ph), SQLITE_TRANSIENT);
            sqlite3_bind_int64(st, 6, 1234);
            sqlite3_bind_int64(st, 7, 0);
        }
        if (sqlite3_step(st) != SQLITE_DONE) die(db, "insert");
        sqlite3_reset(st);
        if ((i % 5000 == 4999 || i == n - 1) && sqlite3_exec(db, "COMMIT", 0, 0, 0) != SQLITE_OK) die(db, "commit");
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double s = (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
    printf("samples_per_second %ld\n", (long)(n / s));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return 0;
}
