/*
 * names.h - the dns plugin's settings and the pure parts of a lookup:
 * classifying a question name (node, service, RFC 2782, addr, apex, PTR,
 * outside the domain), service_ttl rules and RFC 1464 TXT encoding. No
 * libuv or SDK calls, so the unit tests and the fuzzer use them directly.
 */
#ifndef TBD_NAMES_H
#define TBD_NAMES_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <jansson.h>
#include <tribune/plugin.h> /* tb_pair_t only */

#include "wire.h"

typedef struct tbd_ttl_rule {
    char *name;     /* lowercase; without the trailing '*' for prefixes */
    int prefix;
    uint32_t ttl;
} tbd_ttl_rule_t;

typedef struct tbd_settings {
    int port;                 /* -1: disabled */
    char **addrs;
    size_t naddrs;
    uint8_t domain[DNSW_MAX_NAME]; /* lowercase wire form */
    size_t domain_len;
    unsigned domain_labels;
    uint8_t alt[DNSW_MAX_NAME];
    size_t alt_len;           /* 0: no alt_domain */
    unsigned alt_labels;
    char *dc;                 /* lowercase */
    char *dc_orig;
    char *node_name;
    char *advertise;
    int server;
    struct sockaddr_storage *recursors;
    size_t nrecursors;
    int recursor_random;
    uint64_t recursor_timeout_ms;
    int allow_stale;
    uint64_t max_stale_ms;
    uint32_t node_ttl;
    tbd_ttl_rule_t *ttl_rules;
    size_t nttl_rules;
    int has_star;
    uint32_t star_ttl;
    int enable_truncate, only_passing, disable_compression, meta_txt;
    unsigned udp_answer_limit, a_record_limit;
    uint32_t soa_expire, soa_min, soa_refresh, soa_retry;
} tbd_settings_t;

typedef int (*tbd_duration_fn)(const char *s, uint64_t *ns);

/* Read everything from the agent config (Consul's keys, defaults filled
 * in by the core; missing keys fall back to Consul's defaults). Returns 0,
 * or -1 with a malloc'd *err starting with the key. */
int tbd_settings_load(tbd_settings_t *s, const json_t *agent, const json_t *own,
                      tbd_duration_fn dur, char **err);
void tbd_settings_free(tbd_settings_t *s);
int tbd_settings_same_listeners(const tbd_settings_t *a, const tbd_settings_t *b);
uint32_t tbd_service_ttl(const tbd_settings_t *s, const char *service);

typedef enum tbd_kind {
    TBD_Q_OUTSIDE = 0,  /* not ours: recursors or REFUSED */
    TBD_Q_NX,           /* under the domain, no such name: NXDOMAIN */
    TBD_Q_APEX,         /* the domain itself (or a name with no type label) */
    TBD_Q_NODE,
    TBD_Q_SERVICE,
    TBD_Q_ADDR,
    TBD_Q_PTR           /* in-addr.arpa / ip6.arpa */
} tbd_kind_t;

typedef struct tbd_qinfo {
    tbd_kind_t kind;
    size_t dom_off;     /* offset in qname of the domain suffix used */
    int alt;            /* the question used alt_domain */
    char name[DNSW_MAX_NAME + 1]; /* node or service, lowercase */
    char tag[DNSW_MAX_NAME + 1];  /* "" = no tag filter */
    uint8_t ip[16];     /* ADDR and PTR */
    int family;         /* 4 or 6 */
} tbd_qinfo_t;

void tbd_classify(const tbd_settings_t *s, const dnsw_query_t *q, tbd_qinfo_t *out);

/* Node meta as TXT rdata (RFC 1464), appended to *blob as
 * [u16 rdlength][rdata] records; returns the number of records. */
size_t tbd_meta_txt(const tb_pair_t *meta, size_t nmeta, uint8_t **blob, size_t *bloblen);

#endif
