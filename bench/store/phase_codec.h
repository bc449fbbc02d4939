/* The samples.phases encoding of Sources/ProberStore/Aggregate.swift (PhaseCodec), for the C programs. */
#include <stdint.h>

static int put_varint(uint8_t *out, uint64_t v) {
    int n = 0;
    while (v >= 0x80) { out[n++] = (uint8_t)(v & 0x7F) | 0x80; v >>= 7; }
    out[n++] = (uint8_t)v;
    return n;
}

/* ph: dns, connect, tls, processing, transfer, total; all present. Returns the length written. */
static int encode_phases(uint8_t *out, const int64_t ph[6]) {
    int n = 0;
    int64_t sum = 0;
    for (int i = 0; i < 5; i++) { sum += ph[i]; n += put_varint(out + n, (uint64_t)ph[i] + 1); }
    if (ph[5] == sum) out[n++] = 1; else n += put_varint(out + n, (uint64_t)ph[5] + 2);
    return n;
}

/* A failed check with only dns and total (the benchmark's timeouts). */
static int encode_dns_total(uint8_t *out, int64_t dns, int64_t total) {
    int n = put_varint(out, (uint64_t)dns + 1);
    for (int i = 1; i < 5; i++) out[n++] = 0;
    if (total == dns) out[n++] = 1; else n += put_varint(out + n, (uint64_t)total + 2);
    return n;
}
