#ifndef PROBER_CZLIB_SHIM_H
#define PROBER_CZLIB_SHIM_H

#include <zlib.h>

/// `deflateInit2` is a macro (it passes the library version and the stream size): Swift cannot call it.
/// windowBits 15 + 16 writes a gzip header and trailer (RFC 1952), memLevel 8 is zlib's default.
static inline int prober_deflate_init_gzip(z_stream *stream, int level) {
    return deflateInit2(stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
}

/// `inflateInit2` for gzip (windowBits 15 + 16), for the tests that decode what the listener sent.
static inline int prober_inflate_init_gzip(z_stream *stream) {
    return inflateInit2(stream, 15 + 16);
}

#endif
