// Baseline: a plain libcurl multi loop doing fresh-connection GETs at a fixed concurrency, with the
// options ProbeEngine sets (no reuse, no DNS cache, timeout, body counted and dropped).
// usage: curl_multi URL N CONCURRENCY
#include <curl/curl.h>
#include <stdlib.h>
#include "stats.h"

static size_t sink(char *p, size_t s, size_t n, void *u) { (void)p; *(long *)u += (long)(s * n); return s * n; }

static long bytes;
static char errbuf[CURL_ERROR_SIZE];

static void start(CURLM *m, CURL *h, const char *url) {
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(h, CURLOPT_DNS_CACHE_TIMEOUT, 0L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &bytes);
    curl_multi_add_handle(m, h);
}

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: %s URL N CONCURRENCY\n", argv[0]); return 2; }
    const char *url = argv[1];
    long n = atol(argv[2]);
    int c = atoi(argv[3]);
    curl_global_init(CURL_GLOBAL_ALL);
    CURLM *m = curl_multi_init();
    double t0 = bench_now(), c0 = bench_cpu();
    struct rusage u0;
    getrusage(RUSAGE_SELF, &u0);
    long cs0 = u0.ru_nvcsw + u0.ru_nivcsw;
    long started = 0, done = 0, failed = 0;
    for (; started < c && started < n; started++) start(m, curl_easy_init(), url);
    while (done < n) {
        int running;
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left))) {
            if (msg->msg != CURLMSG_DONE) continue;
            CURL *h = msg->easy_handle;
            long status = 0;
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
            curl_off_t total;
            curl_easy_getinfo(h, CURLINFO_TOTAL_TIME_T, &total);
            if (msg->data.result != CURLE_OK || status != 200) failed++;
            curl_multi_remove_handle(m, h);
            done++;
            if (started < n) { curl_easy_reset(h); start(m, h, url); started++; }
            else curl_easy_cleanup(h);
        }
        if (done < n) curl_multi_poll(m, NULL, 0, 1000, NULL);
    }
    bench_report("C libcurl multi (http)", n, c, bench_now() - t0, bench_cpu() - c0, failed);
    if (getenv("BENCH_CONTEXT_SWITCHES")) {
        struct rusage u;
        getrusage(RUSAGE_SELF, &u);
        printf("%-26s %.2f context switches/check\n", "", (double)(u.ru_nvcsw + u.ru_nivcsw - cs0) / n);
    }
    curl_multi_cleanup(m);
    return 0;
}
