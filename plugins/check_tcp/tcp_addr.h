/*
 * tcp_addr.h - parsing of the "tcp" check target ("host:port",
 * "[v6addr]:port"), kept free of sockets so the unit test covers it.
 */
#ifndef CHECK_TCP_ADDR_H
#define CHECK_TCP_ADDR_H

#include <stddef.h>

/* Split `s` into host (brackets removed) and port. Returns 0, or -1 with a
 * static reason in *why. The port must be 1..65535 (a name like "http" is
 * refused, as Go's dialer would only accept it through /etc/services). */
int tcp_addr_split(const char *s, char *host, size_t hostlen, char *port, size_t portlen,
                   const char **why);

#endif
