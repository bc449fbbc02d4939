#ifndef PROBER_CPOSTGRES_SHIM_H
#define PROBER_CPOSTGRES_SHIM_H
// libpq (Debian: libpq-dev, 15): connections, statements, COPY. Nothing here needs a wrapper: libpq has no
// variadic calls. pkg-config libpq gives the include folder (/usr/include/postgresql on Debian).
#include <libpq-fe.h>
#endif
