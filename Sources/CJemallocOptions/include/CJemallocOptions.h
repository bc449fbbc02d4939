#ifndef PROBER_CJEMALLOC_OPTIONS_H
#define PROBER_CJEMALLOC_OPTIONS_H

/// jemalloc's options for the prober executable (options.c defines `malloc_conf`, which jemalloc's own header
/// declares). Nothing to call: linking the target in is what sets them.

#endif
