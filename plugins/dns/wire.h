/*
 * wire.h - the dns plugin's own DNS wire codec (RFC 1035, RFC 6891):
 * query parsing with compression-pointer, label and name limits, EDNS0
 * (payload size, client subnet option), and a bounded message writer.
 * Pure code (no libuv, no SDK): used by the plugin, its unit tests and
 * the libFuzzer target.
 */
#ifndef TBD_WIRE_H
#define TBD_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define DNSW_HDR 12
#define DNSW_MAX_NAME 255   /* wire bytes, incl. the root label */
#define DNSW_MAX_LABEL 63
#define DNSW_MAX_LABELS 128

enum { DNSW_T_A = 1, DNSW_T_NS = 2, DNSW_T_CNAME = 5, DNSW_T_SOA = 6, DNSW_T_PTR = 12,
       DNSW_T_TXT = 16, DNSW_T_AAAA = 28, DNSW_T_SRV = 33, DNSW_T_OPT = 41,
       DNSW_T_IXFR = 251, DNSW_T_AXFR = 252, DNSW_T_ANY = 255 };
enum { DNSW_C_IN = 1, DNSW_C_ANY = 255 };
enum { DNSW_NOERROR = 0, DNSW_FORMERR = 1, DNSW_SERVFAIL = 2, DNSW_NXDOMAIN = 3,
       DNSW_NOTIMP = 4, DNSW_REFUSED = 5, DNSW_BADVERS = 16 };

/* Flag bits in the second header word. */
#define DNSW_F_QR 0x8000u
#define DNSW_F_AA 0x0400u
#define DNSW_F_TC 0x0200u
#define DNSW_F_RD 0x0100u
#define DNSW_F_RA 0x0080u

/* Parse outcome: what the server should do with the packet. */
typedef enum dnsw_verdict {
    DNSW_OK = 0,      /* a well-formed query: answer it */
    DNSW_DROP = -1,   /* not worth an answer (too short, QR set): stay silent */
    DNSW_ERROR = 1    /* answer with q->rcode and no question (FORMERR/NOTIMP/BADVERS) */
} dnsw_verdict_t;

typedef struct dnsw_query {
    uint16_t id;
    uint16_t flags;          /* raw second header word */
    uint8_t opcode;
    uint8_t rcode;           /* with DNSW_ERROR */
    uint8_t qname[DNSW_MAX_NAME]; /* question name, uncompressed wire form, case kept */
    size_t qname_len;
    uint8_t nlabels;         /* not counting the root */
    uint8_t lab_off[DNSW_MAX_LABELS]; /* offset of each label's length byte in qname */
    uint16_t qtype, qclass;
    int has_edns;
    uint16_t udp_size;       /* client's advertised payload size (EDNS) */
    uint8_t edns_version;
    int edns_do;
    int has_ecs;             /* client subnet option (RFC 7871) */
    uint16_t ecs_family;
    uint8_t ecs_source;      /* source prefix length */
    uint8_t ecs_addr[16];
    size_t ecs_addr_len;
} dnsw_query_t;

/* Read a possibly compressed name at *off into out (uncompressed wire form,
 * at most DNSW_MAX_NAME bytes). Pointers must point strictly backwards (so
 * no loop can form); labels <= 63; names <= 255. Advances *off past the
 * name as it appears at *off. Returns the name's length in out, or -1. */
int dnsw_read_name(const uint8_t *msg, size_t len, size_t *off, uint8_t *out);

/* Parse a query. On DNSW_ERROR the id/flags/opcode/rcode are valid. */
dnsw_verdict_t dnsw_parse_query(const uint8_t *msg, size_t len, dnsw_query_t *q);

/* Label i of the question (0 = leftmost), its length in *n. */
static inline const uint8_t *dnsw_label(const dnsw_query_t *q, unsigned i, size_t *n)
{
    *n = q->qname[q->lab_off[i]];
    return q->qname + q->lab_off[i] + 1;
}

/* ---------------------------------------------------------------- writer */

/* A bounded writer: `cap` is the size limit of the message (client's
 * payload size); writes past it set `over` and are discarded. */
typedef struct dnsw_buf {
    uint8_t *p;
    size_t len, cap;
    int over;
} dnsw_buf_t;

void dnsw_put8(dnsw_buf_t *b, uint8_t v);
void dnsw_put16(dnsw_buf_t *b, uint16_t v);
void dnsw_put32(dnsw_buf_t *b, uint32_t v);
void dnsw_put(dnsw_buf_t *b, const void *p, size_t n);
/* A compression pointer to an earlier offset (< 0x4000). */
void dnsw_put_ptr(dnsw_buf_t *b, size_t off);
/* Start a resource record: owner already written; writes type, class IN,
 * ttl and a placeholder rdlength; returns the rdlength offset. */
size_t dnsw_rr_begin(dnsw_buf_t *b, uint16_t type, uint32_t ttl);
void dnsw_rr_end(dnsw_buf_t *b, size_t rdlen_off);
void dnsw_set16(dnsw_buf_t *b, size_t off, uint16_t v);

/* Header of a reply to q: id, QR, opcode, RD copied; counts zero. */
void dnsw_put_reply_header(dnsw_buf_t *b, const dnsw_query_t *q, uint16_t extra_flags,
                           uint8_t rcode);

/* Text form of a wire name ("a.b.c."), for logs and tests; out >= 1010 bytes
 * covers the worst case (every byte escaped). */
void dnsw_name_to_text(const uint8_t *name, char *out, size_t outlen);
/* Text to wire (no escapes; "." = root). Returns length or -1. */
int dnsw_name_from_text(const char *text, uint8_t *out);

#endif
