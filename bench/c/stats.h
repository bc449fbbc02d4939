// Shared figures for the C baselines: wall time, CPU (getrusage), peak RSS.
#include <stdio.h>
#include <sys/resource.h>
#include <time.h>

static double bench_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static double bench_cpu(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + u.ru_stime.tv_sec + u.ru_stime.tv_usec / 1e6;
}

static long bench_peak_rss_kib(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_maxrss;
}

static inline void bench_report(const char *name, long n, int concurrency, double wall, double cpu, long failures) {
    printf("%-26s checks %6ld  conc %4d  %8.0f checks/s  %6.3f ms CPU/check  peak RSS %6.1f MiB  failed %ld\n",
           name, n, concurrency, n / wall, cpu * 1000 / n, bench_peak_rss_kib() / 1024.0, failures);
}
