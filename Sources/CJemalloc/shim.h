#ifndef PROBER_CJEMALLOC_SHIM_H
#define PROBER_CJEMALLOC_SHIM_H

/// jemalloc, prober's allocator: linked in (Debian's build has no prefix, so its malloc and free replace glibc's for
/// the whole process, libcurl and libpq included); `mallctl` is its control interface.
#include <jemalloc/jemalloc.h>

#endif
