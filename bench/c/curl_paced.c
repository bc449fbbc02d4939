// Baseline: the C libcurl multi loop paced like the daemon: PROBES probes, each started at its own grid time
// (phase = FNV-1a of its name "p<i>" mod the interval, as prober's Schedule does), one fresh-connection GET per
// tick with the options ProbeEngine sets, a tick skipped while the probe's previous check runs, at most 1,024 in
// flight (bench/watchdog's --max-in-flight), and, past capacity, a tick later than min(interval / 2, 2 s) skipped
// as the daemon sheds it (else a loaded machine makes it run every missed tick at once). One thread: a
// min-heap of due times, and curl_multi_poll's timeout set to the next one (rounded up to a millisecond). Awake,
// it also starts the ticks due within EARLY_US (default 0), at most EARLY_MAX a turn of the loop (default no limit),
// as the daemon does with its checks' `earlyStart` and its EarlyStartBudget; a tick started early counts a lateness
// of 0, as the daemon counts it.
// Prints checks, CPU per check, context switches per check and tick lateness; the unpaced loop (curl_multi.c)
// says what the same GETs cost flat out, this one how much of the daemon's gap is the pacing itself.
// usage: curl_paced URL_PREFIX PROBES INTERVAL_MS SECONDS [EARLY_US [EARLY_MAX]]   (probe i GETs URL_PREFIX + "p<i>")
#include <curl/curl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "stats.h"

static size_t sink(char *p, size_t s, size_t n, void *u) { (void)p; *(long *)u += (long)(s * n); return s * n; }

static long bytes;
static char errbuf[CURL_ERROR_SIZE];

typedef struct { int64_t due; int probe; } Tick;
static Tick *heap;
static int heap_n;

static void heap_push(Tick t) {
    int c = heap_n++;
    heap[c] = t;
    while (c > 0) {
        int p = (c - 1) / 2;
        if (heap[p].due <= heap[c].due) break;
        Tick x = heap[p]; heap[p] = heap[c]; heap[c] = x;
        c = p;
    }
}

static Tick heap_pop(void) {
    Tick top = heap[0];
    heap[0] = heap[--heap_n];
    int p = 0;
    for (;;) {
        int l = 2 * p + 1, r = l + 1, m = p;
        if (l < heap_n && heap[l].due < heap[m].due) m = l;
        if (r < heap_n && heap[r].due < heap[m].due) m = r;
        if (m == p) break;
        Tick x = heap[p]; heap[p] = heap[m]; heap[m] = x;
        p = m;
    }
    return top;
}

static int64_t now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static uint64_t fnv1a(const char *s) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++) { h ^= (unsigned char)*s; h *= 0x100000001b3ULL; }
    return h;
}

static long ctx_switches(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_nvcsw + u.ru_nivcsw;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 5) { fprintf(stderr, "usage: %s URL_PREFIX PROBES INTERVAL_MS SECONDS\n", argv[0]); return 2; }
    const char *prefix = argv[1];
    int probes = atoi(argv[2]);
    int64_t interval = atoll(argv[3]) * 1000;
    double seconds = atof(argv[4]);
    int64_t early = argc > 5 ? atoll(argv[5]) : 0;
    long early_max = argc > 6 ? atol(argv[6]) : -1;
    curl_global_init(CURL_GLOBAL_ALL);
    CURLM *m = curl_multi_init();
    char **urls = calloc(probes, sizeof *urls);
    char *running = calloc(probes, 1);
    heap = calloc(probes, sizeof *heap);
    size_t late_cap = (size_t)(probes * (seconds * 1e6 / interval + 2)) + 16, late_n = 0;
    int64_t *late = malloc(late_cap * sizeof *late);
    int64_t start = now_us(), end = start + (int64_t)(seconds * 1e6);
    int64_t shed_after = interval / 2 < 2000000 ? interval / 2 : 2000000;
    for (int i = 0; i < probes; i++) {
        char name[32];
        snprintf(name, sizeof name, "p%d", i + 1);
        urls[i] = malloc(strlen(prefix) + sizeof name);
        sprintf(urls[i], "%s%s", prefix, name);
        int64_t phase = (int64_t)(fnv1a(name) % (uint64_t)interval);
        int64_t due = start - start % interval + phase;
        if (due < start) due += interval;
        heap_push((Tick){due, i});
    }
    double t0 = bench_now(), c0 = bench_cpu();
    long cs0 = ctx_switches();
    long done = 0, failed = 0, skipped = 0;
    int in_flight = 0;
    for (;;) {
        int64_t now = now_us();
        long early_left = early_max;
        while (heap_n > 0 && heap[0].due <= now + early && heap[0].due < end && in_flight < 1024) {
            if (heap[0].due > now) {
                if (early_left == 0) break;
                early_left--;
            }
            Tick t = heap_pop();
            if (running[t.probe] || now - t.due > shed_after) skipped++;
            else {
                CURL *h = curl_easy_init();
                curl_easy_setopt(h, CURLOPT_URL, urls[t.probe]);
                curl_easy_setopt(h, CURLOPT_PRIVATE, (void *)(intptr_t)t.probe);
                curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
                curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
                curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
                curl_easy_setopt(h, CURLOPT_DNS_CACHE_TIMEOUT, 0L);
                curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 2000L);
                curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
                curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
                curl_easy_setopt(h, CURLOPT_WRITEDATA, &bytes);
                curl_multi_add_handle(m, h);
                running[t.probe] = 1;
                in_flight++;
                if (late_n < late_cap) { int64_t l = now_us() - t.due; late[late_n++] = l > 0 ? l : 0; }
            }
            t.due += interval;
            heap_push(t);
        }
        int still;
        curl_multi_perform(m, &still);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left))) {
            if (msg->msg != CURLMSG_DONE) continue;
            CURL *h = msg->easy_handle;
            long status = 0;
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
            void *priv;
            curl_easy_getinfo(h, CURLINFO_PRIVATE, &priv);
            if (msg->data.result != CURLE_OK || status != 200) failed++;
            running[(intptr_t)priv] = 0;
            curl_multi_remove_handle(m, h);
            curl_easy_cleanup(h);
            in_flight--;
            done++;
        }
        now = now_us();
        if (now >= end && in_flight == 0) break;
        int64_t next = heap_n > 0 && heap[0].due < end ? heap[0].due : end + 1000000;
        int timeout = next <= now ? (in_flight < 1024 ? 0 : 1000) : (int)((next - now + 999) / 1000);
        if (timeout > 1000) timeout = 1000;
        curl_multi_poll(m, NULL, 0, timeout, NULL);
    }
    double wall = bench_now() - t0, cpu = bench_cpu() - c0;
    long cs = ctx_switches() - cs0;
    qsort(late, late_n, sizeof *late, cmp_i64);
    printf("%-26s checks %6ld  %5.0f s  %8.0f checks/s  %6.3f ms CPU/check  %5.2f context switches/check  lateness p50 %.2f ms p99 %.2f ms max %.2f ms  skipped %ld  failed %ld  peak RSS %.1f MiB\n",
           "C libcurl multi, paced", done, wall, done / wall, cpu * 1000 / (done ? done : 1), (double)cs / (done ? done : 1),
           late_n ? late[late_n / 2] / 1000.0 : 0, late_n ? late[late_n * 99 / 100] / 1000.0 : 0, late_n ? late[late_n - 1] / 1000.0 : 0,
           skipped, failed, bench_peak_rss_kib() / 1024.0);
    curl_multi_cleanup(m);
    return 0;
}
