#ifndef PROBER_CJEMALLOC_OPTIONS_H
#define PROBER_CJEMALLOC_OPTIONS_H

/// jemalloc's options for the prober executable (options.c). Nothing to call: linking it in is what sets them.
extern const char *malloc_conf;

#endif
