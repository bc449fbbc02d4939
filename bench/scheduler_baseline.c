// C baseline for the scheduler benchmark: N one-shot libdispatch timers on one serial queue, each
// re-armed on its own epoch-anchored grid (phase = FNV-1a(name) mod interval), exactly as the Swift
// scheduler does, but with nothing else: no runner, no stats lock, no callbacks.
// Usage: scheduler_baseline PROBES INTERVAL_MS DURATION_S
#include <dispatch/dispatch.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>

typedef struct {
    dispatch_source_t timer;
    int64_t due;      // µs on the epoch timeline
    int64_t interval; // µs
} probe_t;

static int64_t wall0, mono0;
static int64_t lateness[1 << 22], steady[1 << 22];
static size_t nlate, nsteady;
static volatile int recording; // set after the first interval (startup) has passed

static int64_t mono_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
static int64_t now_us(void) { return wall0 + (mono_us() - mono0); }

static uint64_t fnv1a(const char *s) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++) { h ^= (unsigned char)*s; h *= 0x100000001b3ULL; }
    return h;
}

static void arm(probe_t *p) {
    int64_t delta = p->due - now_us();
    if (delta < 0) delta = 0;
    dispatch_source_set_timer(p->timer, dispatch_time(DISPATCH_TIME_NOW, delta * 1000), DISPATCH_TIME_FOREVER, 0);
}

static void fire(void *ctx) {
    probe_t *p = ctx;
    int64_t now = now_us();
    int64_t missed = now > p->due ? (now - p->due) / p->interval : 0;
    int64_t run = p->due + missed * p->interval;
    if (nlate < sizeof lateness / sizeof lateness[0]) lateness[nlate++] = now - run;
    if (recording && nsteady < sizeof steady / sizeof steady[0]) steady[nsteady++] = now - run;
    p->due = run + p->interval;
    arm(p);
}

typedef struct { probe_t *probes; int n; } stop_args_t;

static void stop_all(void *ctx) {
    stop_args_t *a = ctx;
    for (int i = 0; i < a->n; i++) dispatch_source_cancel(a->probes[i].timer);
}

static int cmp(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 10000;
    int64_t interval = (argc > 2 ? atoll(argv[2]) : 10000) * 1000;
    int duration = argc > 3 ? atoi(argv[3]) : 30;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    wall0 = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    mono0 = mono_us();

    dispatch_queue_t q = dispatch_queue_create("baseline", NULL);
    probe_t *probes = calloc(n, sizeof *probes);
    int64_t now = now_us();
    for (int i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "probe-%d", i);
        int64_t phase = (int64_t)(fnv1a(name) % (uint64_t)interval);
        int64_t k = (now - phase) / interval;
        probes[i].interval = interval;
        probes[i].due = k * interval + phase;
        if (probes[i].due < now) probes[i].due += interval;
        probes[i].timer = dispatch_source_create(DISPATCH_SOURCE_TYPE_TIMER, 0, 0, q);
        dispatch_set_context(probes[i].timer, &probes[i]);
        dispatch_source_set_event_handler_f(probes[i].timer, fire);
        arm(&probes[i]);
        dispatch_resume(probes[i].timer);
    }
    struct rusage r0, r1;
    getrusage(RUSAGE_SELF, &r0);
    int64_t t0 = mono_us();
    int warmup = duration / 2 < interval / 1000000 ? duration / 2 : (int)(interval / 1000000);
    struct timespec first = {warmup, 0}, rest = {duration - warmup, 0};
    nanosleep(&first, NULL);
    recording = 1; // a benign race: the queue reads it at its next tick
    nanosleep(&rest, NULL);
    stop_args_t args = {probes, n};
    dispatch_sync_f(q, &args, stop_all);
    int64_t elapsed = mono_us() - t0;
    getrusage(RUSAGE_SELF, &r1);
    qsort(lateness, nlate, sizeof lateness[0], cmp);
    qsort(steady, nsteady, sizeof steady[0], cmp);
    double cpu = (r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) + (r1.ru_stime.tv_sec - r0.ru_stime.tv_sec)
               + ((r1.ru_utime.tv_usec - r0.ru_utime.tv_usec) + (r1.ru_stime.tv_usec - r0.ru_stime.tv_usec)) / 1e6;
    printf("C libdispatch  probes=%d interval=%lldms ticks=%zu  lateness p50=%.3fms p99=%.3fms max=%.3fms  "
           "cpu=%.2f%% of one core (%.1f us/tick)  maxrss=%.1fMB\n",
           n, (long long)(interval / 1000), nlate,
           nlate ? lateness[nlate / 2] / 1000.0 : 0, nlate ? lateness[(size_t)(nlate * 0.99)] / 1000.0 : 0,
           nlate ? lateness[nlate - 1] / 1000.0 : 0,
           100.0 * cpu / (elapsed / 1e6), nlate ? cpu * 1e6 / nlate : 0, r1.ru_maxrss / 1024.0);
    printf("  steady state (after the first %d s): %zu ticks, lateness p50=%.3fms p99=%.3fms max=%.3fms\n", warmup, nsteady,
           nsteady ? steady[nsteady / 2] / 1000.0 : 0, nsteady ? steady[(size_t)(nsteady * 0.99)] / 1000.0 : 0,
           nsteady ? steady[nsteady - 1] / 1000.0 : 0);
    return 0;
}
