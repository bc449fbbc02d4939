// LD_PRELOAD helper for bench/profile: counts malloc, calloc and realloc calls by requested size, and frees, in the
// whole process; prints the running totals to stderr on SIGUSR2 and at exit. Two readings around a window, divided by
// the checks finished in it, give allocations per check, a figure the machine's load does not change.
// It forwards to the next definition (dlsym RTLD_NEXT), which is whichever allocator the binary links: jemalloc
// replaces glibc's malloc in prober, so forwarding to glibc's own __libc_malloc would mix two heaps.
// cc -O2 -shared -fPIC -o malloc_count.so malloc_count.c -ldl
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *(*next_malloc)(size_t), *(*next_calloc)(size_t, size_t), *(*next_realloc)(void *, size_t);
static void (*next_free)(void *);
static _Atomic long counts[8], frees;

// dlsym may itself call calloc before the pointers are set: those few requests come from a static buffer, never freed.
static _Alignas(16) char early[4096];
static size_t early_used;
static void *early_alloc(size_t n) {
    n = (n + 15) & ~(size_t)15;
    if (early_used + n > sizeof early) return NULL;
    void *p = early + early_used; early_used += n; return p;
}
static int is_early(void *p) { return (char *)p >= early && (char *)p < early + sizeof early; }
static void resolve(void) {
    static _Atomic int resolving;
    if (next_free || atomic_exchange(&resolving, 1)) return;
    next_malloc = dlsym(RTLD_NEXT, "malloc"); next_calloc = dlsym(RTLD_NEXT, "calloc");
    next_realloc = dlsym(RTLD_NEXT, "realloc"); next_free = dlsym(RTLD_NEXT, "free");
}

static int size_class(size_t n) {
    return n <= 64 ? 0 : n <= 256 ? 1 : n <= 1024 ? 2 : n <= 4096 ? 3 : n <= 16384 ? 4 : n <= 65536 ? 5 : n <= 262144 ? 6 : 7;
}
static void count(size_t n) { atomic_fetch_add_explicit(&counts[size_class(n)], 1, memory_order_relaxed); }

void *malloc(size_t n) { resolve(); if (!next_malloc) return early_alloc(n); count(n); return next_malloc(n); }
void *calloc(size_t a, size_t b) { resolve(); if (!next_calloc) return early_alloc(a * b); count(a * b); return next_calloc(a, b); }
void *realloc(void *p, size_t n) {
    if (is_early(p)) {
        size_t left = (size_t)(early + sizeof early - (char *)p);
        void *q = malloc(n); if (q) memcpy(q, p, n < left ? n : left); return q;
    }
    resolve(); count(n); return next_realloc(p, n);
}
void free(void *p) {
    if (!p || is_early(p)) return;
    resolve(); atomic_fetch_add_explicit(&frees, 1, memory_order_relaxed); next_free(p);
}

static void dump(int signal) {
    (void)signal;
    char line[512];
    int n = snprintf(line, sizeof line, "MALLOC_COUNT <=64 %ld <=256 %ld <=1K %ld <=4K %ld <=16K %ld <=64K %ld <=256K %ld larger %ld frees %ld\n",
                     counts[0], counts[1], counts[2], counts[3], counts[4], counts[5], counts[6], counts[7], frees);
    if (n > 0) (void)!write(2, line, (size_t)n);
}
__attribute__((constructor)) static void start(void) { signal(SIGUSR2, dump); }
__attribute__((destructor)) static void end(void) { dump(0); }
