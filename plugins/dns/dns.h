/*
 * dns.h - internals shared by the dns plugin's files: the server, its
 * listeners and TCP connections, and the answer cache. A cache entry holds
 * one node's or one (service, tag)'s data compiled from the SDK's typed
 * catalog view into flat arrays; a background blocking query per entry keeps it
 * current, so answering a cached name touches no JSON and makes no call.
 */
#ifndef TBD_DNS_H
#define TBD_DNS_H

#include <tribune/plugin.h>
#include <uv.h>

#include "names.h"
#include "wire.h"

typedef struct tbd_server tbd_server_t;
typedef struct tbd_conn tbd_conn_t;

typedef struct tbd_ip {
    uint8_t fam; /* 4 or 6 */
    uint8_t b[16];
} tbd_ip_t;

/* Where an answer goes. */
typedef struct tbd_client {
    uv_udp_t *udp;                /* UDP listener, or NULL for TCP */
    struct sockaddr_storage addr; /* UDP peer */
    tbd_conn_t *conn;             /* TCP connection (holds a reference) */
} tbd_client_t;

typedef struct tbd_waiter {
    struct tbd_waiter *next;
    tbd_client_t client;
    size_t len;
    uint8_t pkt[]; /* the query, answered again once the entry is loaded */
} tbd_waiter_t;

/* One SRV answer (deduped on node+address+port). */
typedef struct tbd_srv {
    uint16_t port, weight;
    uint8_t kind;              /* TBD_T_NODE, TBD_T_ADDR, TBD_T_HOST */
    uint8_t tlen;
    uint8_t target[DNSW_MAX_NAME]; /* NODE/ADDR: "<x>.node.<dc>" labels, no
                                      domain, no root; HOST: full wire name */
    tbd_ip_t ip;               /* NODE/ADDR: the A/AAAA for Additional */
    uint8_t *meta;             /* NODE: node-meta TXT blob ([u16 len][rdata]...) */
    size_t meta_len;
} tbd_srv_t;

enum { TBD_T_NODE = 0, TBD_T_ADDR = 1, TBD_T_HOST = 2 };

typedef enum tbd_ekind { TBD_E_SERVICE = 0, TBD_E_NODE = 1, TBD_E_NODES = 2 } tbd_ekind_t;

typedef struct tbd_ptr {
    tbd_ip_t ip;
    char *node;
} tbd_ptr_t;

typedef struct tbd_entry {
    struct tbd_entry *next;    /* hash chain */
    tbd_server_t *s;
    uint32_t hash;
    tbd_ekind_t kind;
    char *name, *tag;          /* lowercase */
    int loaded;                /* data valid */
    int exists;                /* node exists / service has healthy instances */
    int transient;             /* over the entry cap: dropped after one answer */
    uint64_t index;
    uint64_t last_used_ms;
    tb_call_t *call;
    tb_timer_t *retry;
    tbd_waiter_t *waiters;
    unsigned errors;
    /* service */
    tbd_ip_t *ips;             /* unique instance IPs */
    size_t nips, n4;               /* n4: IPv4 first, then IPv6 */
    char **hosts;              /* instance addresses that are hostnames */
    size_t nhosts;
    tbd_srv_t **srv;
    size_t nsrv;
    /* node */
    tbd_ip_t node_ip;
    int node_has_ip;
    char *node_host;
    uint8_t *meta;
    size_t meta_len;
    char *node_name;           /* as registered */
    /* all nodes (PTR) */
    tbd_ptr_t *ptrs;
    size_t nptrs;
} tbd_entry_t;

typedef struct tbd_listener {
    struct tbd_listener *next;
    tbd_server_t *s;
    uv_udp_t udp;
    uv_tcp_t tcp;
    int udp_open, tcp_open;
    struct tbd_sendbatch *batch; /* net.c: replies to one recvmmsg batch */
} tbd_listener_t;

struct tbd_conn {
    tbd_conn_t *next, *prev;
    tbd_server_t *s;
    uv_tcp_t tcp;
    uint8_t *buf;
    size_t len, cap;
    int refs;                  /* waiters and forwards pointing at us */
    int closing;
    uv_timer_t idle;
    int open_handles;
};

typedef struct tbd_fwd {
    struct tbd_fwd *next;
    tbd_server_t *s;
    uint16_t up_id, client_id;
    size_t tries, at;
    uv_timer_t timer;
    tbd_client_t client;
    uint16_t limit;            /* client's UDP payload limit */
    size_t len;
    uint8_t pkt[];
} tbd_fwd_t;

#define TBD_MMSG 16 /* datagrams per recvmmsg batch */
#define TBD_BUCKETS 4096
#define TBD_MAX_ENTRIES 20000
#define TBD_IDLE_MS (10u * 60u * 1000u) /* stop following names unused this long */

struct tbd_server {
    tb_plugin_t *self;
    const tb_api_t *api;
    uv_loop_t *loop;
    tbd_settings_t cfg;
    tbd_listener_t *listeners;
    tbd_conn_t *conns;
    tbd_entry_t *buckets[TBD_BUCKETS];
    size_t nentries;
    tbd_entry_t *nodes_entry;  /* the PTR table */
    uint64_t rng;
    uv_udp_t fwd_udp;
    int fwd_open;
    tbd_fwd_t *fwds;
    tb_timer_t *sweep;
    int started, stopping;
    int open_handles;
    uint8_t out[65536];             /* the reply being written */
    uint8_t rbuf[65536];            /* forwarded answer being read */
    uint8_t mbuf[TBD_MMSG * 65536]; /* a recvmmsg batch of queries */
};

/* dns.c */
void tbd_server_maybe_free(tbd_server_t *s);
uint32_t tbd_rand(tbd_server_t *s);

/* net.c */
int tbd_listen(tbd_server_t *s, const tbd_settings_t *cfg, tbd_listener_t **out, char **errmsg);
void tbd_listeners_close(tbd_listener_t *l);
void tbd_conns_close_all(tbd_server_t *s);
void tbd_send(tbd_server_t *s, tbd_client_t *c, const uint8_t *p, size_t n);
void tbd_client_hold(tbd_client_t *c);
void tbd_client_release(tbd_client_t *c);
int tbd_forward(tbd_server_t *s, const dnsw_query_t *q, const uint8_t *pkt, size_t len,
                tbd_client_t *c);
void tbd_forwards_close(tbd_server_t *s);

/* answer.c: handle one query packet from a client. */
void tbd_handle(tbd_server_t *s, const uint8_t *pkt, size_t len, tbd_client_t *c);
/* Render an answer for a query whose data is at hand (pure but for the
 * rng): returns the length in s->out, 0 for no answer. */
size_t tbd_render(tbd_server_t *s, const dnsw_query_t *q, const tbd_qinfo_t *qi,
                  const tbd_entry_t *e, int tcp);
size_t tbd_render_rcode(tbd_server_t *s, const dnsw_query_t *q, int with_question,
                        uint8_t rcode, int tcp);

/* cache.c */
tbd_entry_t *tbd_cache_get(tbd_server_t *s, tbd_ekind_t kind, const char *name,
                           const char *tag, int *created);
void tbd_cache_wait(tbd_entry_t *e, const uint8_t *pkt, size_t len, tbd_client_t *c);
void tbd_cache_clear(tbd_server_t *s);
/* Compile typed catalog views into an entry (exposed for unit tests). */
void tbd_compile_service(tbd_entry_t *e, const tbd_settings_t *cfg, const tb_catalog_view_t *v);
void tbd_compile_node(tbd_entry_t *e, const tb_catalog_view_t *v);
void tbd_compile_nodes(tbd_entry_t *e, const tb_catalog_view_t *v);
void tbd_entry_clear_data(tbd_entry_t *e);
int tbd_parse_ip(const char *s, tbd_ip_t *ip);

#endif
