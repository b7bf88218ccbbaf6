/*
 * tcp_addr.c - "host:port" / "[v6]:port" splitting for check_tcp (pure).
 */
#include <stdlib.h>
#include <string.h>

#include "tcp_addr.h"

int tcp_addr_split(const char *s, char *host, size_t hostlen, char *port, size_t portlen,
                   const char **why)
{
    const char *h, *he, *p;
    if (!s || !*s) {
        *why = "missing address";
        return -1;
    }
    if (s[0] == '[') {
        h = s + 1;
        he = strchr(h, ']');
        if (!he) {
            *why = "missing ']' in address";
            return -1;
        }
        if (he[1] != ':') {
            *why = "missing port in address";
            return -1;
        }
        p = he + 2;
    } else {
        he = strrchr(s, ':');
        if (!he) {
            *why = "missing port in address";
            return -1;
        }
        if (memchr(s, ':', (size_t)(he - s))) {
            /* Go: an IPv6 literal needs brackets. */
            *why = "too many colons in address";
            return -1;
        }
        h = s;
        p = he + 1;
    }
    if (he == h) {
        *why = "missing host in address";
        return -1;
    }
    if (!*p || strlen(p) > 5 || strspn(p, "0123456789") != strlen(p)) {
        *why = "invalid port";
        return -1;
    }
    long n = strtol(p, NULL, 10);
    if (n < 1 || n > 65535) {
        *why = "port out of range";
        return -1;
    }
    if ((size_t)(he - h) >= hostlen || strlen(p) >= portlen) {
        *why = "address too long";
        return -1;
    }
    memcpy(host, h, (size_t)(he - h));
    host[he - h] = '\0';
    strcpy(port, p);
    return 0;
}
