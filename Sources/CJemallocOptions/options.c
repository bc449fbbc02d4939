// jemalloc's options for the prober executable, read when jemalloc starts (before the first allocation), so they
// hold for every arena. `MALLOC_CONF` in the environment is read after these and overrides them.
//
// narenas:1 - one arena rather than four per core. Every thread of the daemon allocates (libcurl's connections on
// the probe threads, samples on the scheduler's, rows on the store's, whichever Dispatch worker runs it), and each
// arena keeps its own partly used pages: at 60,000 probes on 2 cores (eight arenas) the resident memory ran 15-20 MiB
// above the same build with one, for the same CPU per check (two daemons side by side at 30,000 probes: B/A 1.009,
// 1.000; the thread caches serve most allocations without the arena's lock).
//
// dirty_decay_ms:1000 - a freed page is handed back to the system after about a second rather than ten. At 10 s,
// jemalloc held ~25 MB of freed pages beside the ~78 MB in use at 60,000 probes (its own statistics), and a fold's
// rows and pages, freed within seconds, came on top of them.
//
// docs/architecture.md, "Memory per probe"; the figures are in the commit that set these.
#include <jemalloc/jemalloc.h> // declares malloc_conf: the definition below is checked against it

const char *malloc_conf = "narenas:1,dirty_decay_ms:1000";
