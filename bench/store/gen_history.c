/* Fills a store (created empty by `store-bench init`) as the daemon would leave it at steady state
 * with the default retention: RAW_DAYS of raw samples at 30 s for every probe, 30 days of 5-minute
 * rollups, 400 days of 1-hour rollups, and the rollup watermarks. Maintenance makes 5-minute rows an hour at a
 * time, so the raw samples since the last hour boundary at least 2 minutes ago are not rolled up yet (2 to 62
 * minutes of them, by the minute of the hour); MARK `5m` leaves them rolled up to the last 5-minute boundary
 * instead, as maintenance did before 2026-12-03, to measure readers on both. The raw samples go into a version 9 `samples`
 * table (the file is set back to version 9): opening the file read-write then converts them into blocks, as
 * an upgrade does. Rows are written in key order (fast bulk load); the rollup BLOBs use the
 * encodings of Sources/ProberStore/Aggregate.swift (docs/storage.md).
 * Usage: gen_history DB PROBES RAW_DAYS NOW_US [MARK: hour (default) | 5m] */
#include <sqlite3.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include "phase_codec.h"

#define HIST 217
static void die(sqlite3 *db, const char *what) { fprintf(stderr, "%s: %s\n", what, sqlite3_errmsg(db)); exit(1); }

static int hist_index(int64_t us) {
    if (us <= 1) return 0;
    int i = (int)floor(log2((double)us) * 8);
    return i < HIST - 1 ? i : HIST - 1;
}

/* splitmix64: a uniform 64-bit value from `x`. */
static uint64_t mix(uint64_t x) {
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

/* A log-normal latency (sigma 0.6) around `median` µs, from the k-th pair of uniforms of check i. */
static int64_t latency(long i, int k, double median) {
    double u1 = ((mix((uint64_t)i * 16 + 2 * k) >> 11) + 1) * 0x1.0p-53, u2 = (mix((uint64_t)i * 16 + 2 * k + 1) >> 11) * 0x1.0p-53;
    double z = sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
    int64_t v = (int64_t)(median * exp(0.6 * z));
    return v < 1 ? 1 : v;
}

/* One synthetic check of probe p: noisy timings, as a network gives (the ingest benchmark's formula, a Weyl
 * sequence, repeats itself, which deflate would find in an archived day and no network does). */
static void check(long i, int64_t ph[6], int *failed) {
    *failed = i % 50 == 0;
    ph[0] = latency(i, 0, 300); ph[1] = latency(i, 1, 800); ph[2] = latency(i, 2, 3000); ph[3] = latency(i, 3, 40000);
    ph[4] = latency(i, 4, 500);
    ph[5] = ph[0] + ph[1] + ph[2] + ph[3] + ph[4];
}

/* The start of the i-th check of probe p, due at grid time `t`, as the daemon starts checks: each probe's checks
 * start a fixed distance before their grid time (the engine starts a check as the scheduler hands it over, and a
 * tick falls at the same point of the hand-over grid every interval: 50 to 100 ms ahead at 10,000 probes at 10 s),
 * moved by a jitter of `jitter` µs on average either way (two-sided exponential), and one check in a thousand
 * anywhere in the 50 ms window (started by a later turn of the engine). The daemon measured so (10,000 probes at
 * 10 s, 2026-12-04): |start minus the probe's median distance| p50 47 µs, p90 142, p99 419 (an exponential of
 * mean 68: 47, 157, 313). With `spread` > 0, each start is instead anywhere within `spread` µs of its grid time,
 * as the daemon started checks until 2026-12-04 (its hand-overs drifted through the interval; GEN_START_SPREAD_US). */
static int64_t start_time(int64_t t, long i, int64_t p, double jitter, uint64_t spread) {
    uint64_t r = mix((uint64_t)i * 16 + 15);
    if (spread) return t + (int64_t)(r % spread);
    int64_t offset = -50000 - (int64_t)(mix((uint64_t)p * 16 + 14) % 50000);
    if (r % 1000 == 0) return t - 100000 + (int64_t)(mix(r) % 50000);
    double u = ((mix(r) >> 11) + 1) * 0x1.0p-53;
    int64_t j = (int64_t)llround(-jitter * log(u));
    return t + offset + (r >> 63 ? j : -j);
}

static void rollup(sqlite3 *db, sqlite3_stmt *st, int64_t probe, int64_t bucket, long first, int n) {
    int hist[HIST] = {0};
    int64_t sums[6] = {0}, mn = INT64_MAX, mx = 0, sum = 0;
    int ok = 0, failures = 0;
    for (int k = 0; k < n; k++) {
        int64_t ph[6]; int failed;
        check(first + k, ph, &failed);
        if (failed) { failures++; continue; }
        ok++;
        for (int p = 0; p < 6; p++) sums[p] += ph[p];
        sum += ph[5];
        if (ph[5] < mn) mn = ph[5];
        if (ph[5] > mx) mx = ph[5];
        hist[hist_index(ph[5])]++;
    }
    uint8_t hb[2 * HIST * 5], pb[6 * 10], rb[20];
    int hn = 0, pn = 0, rn = 0, prev = 0;
    for (int i = 0; i < HIST; i++) if (hist[i]) { hn += put_varint(hb + hn, i - prev); hn += put_varint(hb + hn, hist[i]); prev = i; }
    for (int p = 0; p < 6; p++) pn += put_varint(pb + pn, (uint64_t)sums[p] << 1);
    if (failures) { rn += put_varint(rb, 4); rn += put_varint(rb + rn, failures); }
    sqlite3_bind_int64(st, 1, probe);
    sqlite3_bind_int64(st, 2, bucket);
    sqlite3_bind_int64(st, 3, n);
    sqlite3_bind_int64(st, 4, failures);
    if (rn) sqlite3_bind_blob(st, 5, rb, rn, SQLITE_TRANSIENT); else sqlite3_bind_null(st, 5);
    sqlite3_bind_int64(st, 6, ok);
    sqlite3_bind_int64(st, 7, mn);
    sqlite3_bind_int64(st, 8, mx);
    sqlite3_bind_int64(st, 9, sum);
    sqlite3_bind_blob(st, 10, hb, hn, SQLITE_TRANSIENT);
    sqlite3_bind_blob(st, 11, pb, pn, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_DONE) die(db, "rollup insert");
    sqlite3_reset(st);
}

int main(int argc, char **argv) {
    if (argc < 5 || (argc > 5 && strcmp(argv[5], "hour") && strcmp(argv[5], "5m"))) {
        fprintf(stderr, "usage: gen_history DB PROBES RAW_DAYS NOW_US [hour|5m]\n"); return 2;
    }
    int probes = atoi(argv[2]), raw_days = atoi(argv[3]);
    int64_t now = atoll(argv[4]);
    const char *spread_env = getenv("GEN_START_SPREAD_US"), *jitter_env = getenv("GEN_START_JITTER_US");
    uint64_t spread = spread_env && atoll(spread_env) > 0 ? (uint64_t)atoll(spread_env) : 0;
    double jitter = jitter_env && atof(jitter_env) > 0 ? atof(jitter_env) : 70;
    const int64_t m5 = 300000000LL, h1 = 3600000000LL, day = 86400000000LL, step = 30000000LL;
    int64_t rolled5 = (now - 120000000LL) / m5 * m5, rolled1 = rolled5 / h1 * h1;
    if (argc < 6 || !strcmp(argv[5], "hour")) rolled5 = rolled1;
    sqlite3 *db;
    if (sqlite3_open(argv[1], &db) != SQLITE_OK) die(db, "open");
    sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF; PRAGMA cache_size=-65536;", 0, 0, 0);
    if (sqlite3_exec(db, /* version 16's recent rollup tables and the views over them (a view naming a dropped table
                          * makes the ALTER TABLE ... RENAME of version 14 fail) */
                         "DROP VIEW rollup_5m_all; DROP VIEW rollup_1h_all; DROP TABLE rollup_5m_recent; DROP TABLE rollup_1h_recent;"
                         "DROP TABLE sample_recent; DROP TABLE sample_blocks; DROP TABLE sample_span; DROP TABLE sample_archive;"
                         "CREATE TABLE samples(probe_id INTEGER NOT NULL, ts INTEGER NOT NULL, reason INTEGER NOT NULL,"
                         " status INTEGER, phases BLOB, bytes INTEGER, family INTEGER, PRIMARY KEY (probe_id, ts)) WITHOUT ROWID;"
                         /* version 11's columns go too, so reopening applies 10 and 11 again */
                         "ALTER TABLE probers DROP COLUMN overload_skipped; ALTER TABLE probers DROP COLUMN overload_skipped_recent;"
                         "ALTER TABLE probers DROP COLUMN delayed_checks;"
                         /* version 15 moved the rollup watermarks to rollup_marks: back into probes, as version 9 had them */
                         "DROP TABLE rollup_marks; ALTER TABLE probes ADD COLUMN rolled_5m INTEGER;"
                         "ALTER TABLE probes ADD COLUMN rolled_1h INTEGER; ALTER TABLE probes ADD COLUMN rolled_1d INTEGER;"
                         "PRAGMA user_version = 9;", 0, 0, 0) != SQLITE_OK) die(db, "version 9 samples");
    sqlite3_stmt *raw, *r5, *r1, *mark;
    if (sqlite3_prepare_v2(db, "INSERT INTO samples(probe_id, ts, reason, status, phases, bytes, family)"
                               " VALUES (?1,?2,?3,?4,?5,?6,?7)", -1, &raw, 0)) die(db, "prepare");
    const char *cols = "(probe_id, bucket, checks, failures, reasons, lat_n, lat_min, lat_max, lat_sum, hist, phases) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)";
    char sql[512];
    snprintf(sql, sizeof sql, "INSERT INTO rollup_5m%s", cols);
    if (sqlite3_prepare_v2(db, sql, -1, &r5, 0)) die(db, "prepare 5m");
    snprintf(sql, sizeof sql, "INSERT INTO rollup_1h%s", cols);
    if (sqlite3_prepare_v2(db, sql, -1, &r1, 0)) die(db, "prepare 1h");
    if (sqlite3_prepare_v2(db, "UPDATE probes SET rolled_5m = ?2, rolled_1h = ?3 WHERE id = ?1", -1, &mark, 0)) die(db, "prepare mark");
    long total_raw = 0;
    for (int64_t p = 1; p <= probes; p++) {
        sqlite3_exec(db, "BEGIN", 0, 0, 0);
        long i = 0;
        for (int64_t t = now - raw_days * day + p * 1000; t < now; t += step, i++) {
            int64_t ph[6]; int failed;
            check(i + p * 1000000, ph, &failed);
            sqlite3_bind_int64(raw, 1, p);
            sqlite3_bind_int64(raw, 2, start_time(t, i + p * 1000000, p, jitter, spread));
            uint8_t blob[64];
            if (failed) {
                sqlite3_bind_int64(raw, 3, 4);
                sqlite3_bind_null(raw, 4);
                sqlite3_bind_blob(raw, 5, blob, encode_dns_total(blob, 200, 5000000), SQLITE_TRANSIENT);
                sqlite3_bind_null(raw, 6);
                sqlite3_bind_null(raw, 7);
            } else {
                sqlite3_bind_int64(raw, 3, 0);
                sqlite3_bind_int64(raw, 4, 200);
                sqlite3_bind_blob(raw, 5, blob, encode_phases(blob, ph), SQLITE_TRANSIENT);
                sqlite3_bind_int64(raw, 6, 1234);
                sqlite3_bind_int64(raw, 7, 0);
            }
            if (sqlite3_step(raw) != SQLITE_DONE) die(db, "raw insert");
            sqlite3_reset(raw);
        }
        total_raw += i;
        long k = 0;
        for (int64_t b = rolled5 - 30 * day; b < rolled5; b += m5, k += 10) rollup(db, r5, p, b, k, 10);
        k = 0;
        for (int64_t b = rolled1 - 400 * day; b < rolled1; b += h1, k += 120) rollup(db, r1, p, b, k, 120);
        sqlite3_bind_int64(mark, 1, p);
        sqlite3_bind_int64(mark, 2, rolled5);
        sqlite3_bind_int64(mark, 3, rolled1);
        if (sqlite3_step(mark) != SQLITE_DONE) die(db, "mark");
        sqlite3_reset(mark);
        if (sqlite3_exec(db, "COMMIT", 0, 0, 0) != SQLITE_OK) die(db, "commit");
    }
    sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", 0, 0, 0);
    printf("raw_rows %ld\n", total_raw);
    sqlite3_close(db);
    return 0;
}
