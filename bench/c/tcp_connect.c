// Baselines for TCP checks at a fixed concurrency, fresh connection each:
//   raw:  non-blocking connect + epoll, close on connect (the cheapest a C program can do)
//   curl: libcurl multi with CURLOPT_CONNECT_ONLY (the mechanism ProbeEngine uses)
// usage: tcp_connect raw|curl PORT N CONCURRENCY
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include "stats.h"

static long failed;

static int open_one(int ep, int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0 && errno != EINPROGRESS) { failed++; close(fd); return 0; }
    struct epoll_event ev = {.events = EPOLLOUT, .data.fd = fd};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    return 1;
}

static void raw(int port, long n, int c) {
    int ep = epoll_create1(0);
    long started = 0, done = 0;
    for (; started < c && started < n; started++) if (!open_one(ep, port)) done++;
    struct epoll_event events[256];
    while (done < n) {
        int k = epoll_wait(ep, events, 256, 1000);
        for (int i = 0; i < k; i++) {
            int fd = events[i].data.fd, err = 0;
            socklen_t len = sizeof err;
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
            if (err) failed++;
            close(fd);
            done++;
            if (started < n) { started++; if (!open_one(ep, port)) done++; }
        }
    }
    close(ep);
}

static void start(CURLM *m, CURL *h, const char *url) {
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CONNECT_ONLY, 1L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(h, CURLOPT_DNS_CACHE_TIMEOUT, 0L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
    curl_multi_add_handle(m, h);
}

static void withcurl(int port, long n, int c) {
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);
    curl_global_init(CURL_GLOBAL_ALL);
    CURLM *m = curl_multi_init();
    long started = 0, done = 0;
    for (; started < c && started < n; started++) start(m, curl_easy_init(), url);
    while (done < n) {
        int running;
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left))) {
            if (msg->msg != CURLMSG_DONE) continue;
            CURL *h = msg->easy_handle;
            if (msg->data.result != CURLE_OK) failed++;
            curl_off_t t;
            curl_easy_getinfo(h, CURLINFO_CONNECT_TIME_T, &t);
            curl_multi_remove_handle(m, h);
            done++;
            if (started < n) { curl_easy_reset(h); start(m, h, url); started++; }
            else curl_easy_cleanup(h);
        }
        if (done < n) curl_multi_poll(m, NULL, 0, 1000, NULL);
    }
    curl_multi_cleanup(m);
}

int main(int argc, char **argv) {
    if (argc < 5) { fprintf(stderr, "usage: %s raw|curl PORT N CONCURRENCY\n", argv[0]); return 2; }
    int port = atoi(argv[2]);
    long n = atol(argv[3]);
    int c = atoi(argv[4]);
    double t0 = bench_now(), c0 = bench_cpu();
    int curl = strcmp(argv[1], "curl") == 0;
    if (curl) withcurl(port, n, c); else raw(port, n, c);
    bench_report(curl ? "C libcurl connect-only" : "C raw epoll connect", n, c, bench_now() - t0, bench_cpu() - c0, failed);
    return 0;
}
