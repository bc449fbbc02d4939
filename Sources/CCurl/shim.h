#ifndef PROBER_CCURL_SHIM_H
#define PROBER_CCURL_SHIM_H
#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>

// curl_easy_setopt / curl_easy_getinfo are variadic: Swift cannot call them, so each argument
// type gets a typed wrapper here. https://curl.se/libcurl/c/curl_easy_setopt.html

static inline CURLcode prober_easy_setopt_long(CURL *h, CURLoption o, long v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode prober_easy_setopt_string(CURL *h, CURLoption o, const char *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode prober_easy_setopt_pointer(CURL *h, CURLoption o, void *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode prober_easy_setopt_slist(CURL *h, CURLoption o, struct curl_slist *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode prober_easy_setopt_write(CURL *h, CURLoption o, curl_write_callback v) { return curl_easy_setopt(h, o, v); }

static inline CURLcode prober_easy_getinfo_long(CURL *h, CURLINFO i, long *v) { return curl_easy_getinfo(h, i, v); }
static inline CURLcode prober_easy_getinfo_off(CURL *h, CURLINFO i, curl_off_t *v) { return curl_easy_getinfo(h, i, v); }
static inline CURLcode prober_easy_getinfo_string(CURL *h, CURLINFO i, char **v) { return curl_easy_getinfo(h, i, v); }
static inline CURLcode prober_easy_getinfo_certinfo(CURL *h, struct curl_certinfo **v) { return curl_easy_getinfo(h, CURLINFO_CERTINFO, v); }
/// The connected socket of a CONNECT_ONLY transfer (for curl_easy_send / curl_easy_recv).
static inline CURLcode prober_easy_getinfo_socket(CURL *h, curl_socket_t *v) { return curl_easy_getinfo(h, CURLINFO_ACTIVESOCKET, v); }

// Constants that are macros aliasing other constants or casts, which Swift does not import.
static inline long prober_ipresolve_v4(void) { return CURL_IPRESOLVE_V4; }
static inline long prober_ipresolve_v6(void) { return CURL_IPRESOLVE_V6; }
static inline curl_socket_t prober_socket_bad(void) { return CURL_SOCKET_BAD; }

// glibc declares memmem only under _GNU_SOURCE, which the Swift Glibc module does not set.
#include <stddef.h>
void *memmem(const void *haystack, size_t haystacklen, const void *needle, size_t needlelen);
#endif
