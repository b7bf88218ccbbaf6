/*
 * wire.h - memberlist 0.2.2 / serf 0.9.4 wire codec (spec/gossip-wire.md).
 *
 * Pure functions over byte buffers: no sockets, no clock, no global state.
 * Decoders never crash on hostile input; they return a negative
 * tb__gw_err_t. Decoded strings and byte fields are borrowed slices into
 * the caller's buffer (valid as long as that buffer), so a decoded message
 * needs no freeing unless stated. Encoders write go-msgpack 0.5.5's dialect
 * (sorted keys, raw strings, str16 for 32..255 bytes, integers by value) so
 * that messages without Go maps re-encode byte for byte.
 *
 * Layers of a UDP datagram, outside in: encryption (tb__gw_open/seal),
 * hasCrc (12), compress (9, LZW), compound (7), message. TCP: one message
 * per direction, optionally in an encrypt frame (10) and compressed.
 */
#ifndef TB_GOSSIP_WIRE_H
#define TB_GOSSIP_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Error codes (negative); 0 is success. */
typedef enum {
    TB__GW_OK = 0,
    TB__GW_ETRUNC = -1,     /* input ends early (streams: read more) */
    TB__GW_EOVERSIZE = -2,  /* a length above a protocol limit */
    TB__GW_ECRC = -3,       /* hasCrc mismatch */
    TB__GW_EKEY = -4,       /* no key of the ring opens it / not encrypted */
    TB__GW_ETYPE = -5,      /* unknown message type */
    TB__GW_EMALFORMED = -6, /* bad msgpack, wrong field type, bad LZW ... */
    TB__GW_ENOMEM = -7,
    TB__GW_EDEPTH = -8      /* layers nested too deeply */
} tb__gw_err_t;

const char *tb__gw_strerror(int err);

/* memberlist message types (first byte). */
enum {
    TB__GW_PING = 0, TB__GW_INDIRECT_PING = 1, TB__GW_ACK = 2,
    TB__GW_SUSPECT = 3, TB__GW_ALIVE = 4, TB__GW_DEAD = 5,
    TB__GW_PUSH_PULL = 6, TB__GW_COMPOUND = 7, TB__GW_USER = 8,
    TB__GW_COMPRESS = 9, TB__GW_ENCRYPT = 10, TB__GW_NACK = 11,
    TB__GW_HAS_CRC = 12, TB__GW_ERR = 13, TB__GW_HAS_LABEL = 244
};

/* serf message types (first byte of a memberlist user payload). */
enum {
    TB__SERF_LEAVE = 0, TB__SERF_JOIN = 1, TB__SERF_PUSH_PULL = 2,
    TB__SERF_USER_EVENT = 3, TB__SERF_QUERY = 4, TB__SERF_QUERY_RESPONSE = 5,
    TB__SERF_CONFLICT_RESPONSE = 6, TB__SERF_KEY_REQUEST = 7,
    TB__SERF_KEY_RESPONSE = 8, TB__SERF_RELAY = 9
};

/* Node states in push/pull. */
enum { TB__GW_STATE_ALIVE = 0, TB__GW_STATE_SUSPECT = 1, TB__GW_STATE_DEAD = 2,
       TB__GW_STATE_LEFT = 3 };

#define TB__GW_UDP_MAX 65536u                 /* receive buffer of one datagram */
#define TB__GW_STREAM_MAX (20u * 1024 * 1024) /* maxPushStateBytes */
#define TB__GW_META_MAX 512u
#define TB__GW_ENC_OVERHEAD 29u               /* version 1: vsn + nonce + tag */
#define TB__GW_MAX_DEPTH 8                    /* nesting of crc/compress/compound */

/* A borrowed byte slice; p == NULL means msgpack nil / absent. */
typedef struct {
    const uint8_t *p;
    size_t n;
} tb__gw_bytes_t;

/* A growable output buffer. */
typedef struct {
    uint8_t *data;
    size_t len, cap;
    bool oom; /* sticky allocation failure */
} tb__gw_buf_t;

void tb__gw_buf_init(tb__gw_buf_t *b);
void tb__gw_buf_free(tb__gw_buf_t *b);
int tb__gw_buf_put(tb__gw_buf_t *b, const void *p, size_t n);
/* Hand the bytes over to the caller (who frees them) and reset b. */
uint8_t *tb__gw_buf_steal(tb__gw_buf_t *b, size_t *len);

/* One memberlist message (everything but compound/compress/crc/pushPull).
 * Only the fields of its type are meaningful. */
typedef struct {
    uint8_t type;
    uint32_t seq;                 /* ping, indirect, ack, nack */
    tb__gw_bytes_t node;          /* ping, indirect, suspect, alive, dead */
    tb__gw_bytes_t source_addr;   /* ping, indirect (omitempty) */
    tb__gw_bytes_t source_node;
    uint16_t source_port;
    bool nack;                    /* indirect: want a nack */
    tb__gw_bytes_t target;        /* indirect: target IP */
    uint16_t port;                /* indirect, alive */
    tb__gw_bytes_t payload;       /* ack; user (raw bytes after type byte) */
    tb__gw_bytes_t from;          /* suspect, dead */
    uint32_t incarnation;         /* suspect, alive, dead */
    tb__gw_bytes_t addr, meta;    /* alive */
    uint8_t vsn[6];               /* alive: pmin pmax pcur dmin dmax dcur */
    size_t vsn_len;
    tb__gw_bytes_t error;         /* err */
} tb__gw_msg_t;

/* Decode one message of type 0..5, 8, 11, 13 (buf[0] is the type). Trailing
 * bytes after the msgpack body are ignored, as Go does. */
int tb__gw_msg_decode(const uint8_t *buf, size_t len, tb__gw_msg_t *m);
/* Encode one such message (type byte + body) onto out. */
int tb__gw_msg_encode(const tb__gw_msg_t *m, tb__gw_buf_t *out);

/* compound: split into at most max parts (borrowed). Returns the number of
 * complete parts (a short buffer keeps the complete leading parts, like
 * memberlist) or an error; *truncated counts the missing ones. */
int tb__gw_compound_split(const uint8_t *buf, size_t len, tb__gw_bytes_t *parts,
                          int max, int *truncated);
int tb__gw_compound_encode(const tb__gw_bytes_t *parts, int n, tb__gw_buf_t *out);

/* hasCrc: verify and return the inner message (borrowed). */
int tb__gw_crc_open(const uint8_t *buf, size_t len, tb__gw_bytes_t *inner);
int tb__gw_crc_wrap(const uint8_t *msg, size_t len, tb__gw_buf_t *out);
uint32_t tb__gw_crc32(const uint8_t *p, size_t n);

/* compress (9): decompress a compress message into out (at most max bytes
 * of output); compress a message (always; the caller decides whether the
 * result is worth using: UDP only when strictly shorter). */
int tb__gw_compress_open(const uint8_t *buf, size_t len, size_t max, tb__gw_buf_t *out);
int tb__gw_compress_wrap(const uint8_t *msg, size_t len, tb__gw_buf_t *out);
/* Go compress/lzw, LSB order, literal width 8. */
int tb__gw_lzw_decode(const uint8_t *in, size_t n, size_t max, tb__gw_buf_t *out);
int tb__gw_lzw_encode(const uint8_t *in, size_t n, tb__gw_buf_t *out);

/* Keyring: ordered keys, element 0 is the primary. */
#define TB__GW_KEYS_MAX 16
typedef struct {
    uint8_t key[TB__GW_KEYS_MAX][32];
    uint8_t key_len[TB__GW_KEYS_MAX];
    int n;
} tb__gw_keyring_t;

void tb__gw_keyring_init(tb__gw_keyring_t *kr);
/* Append a 16/24/32-byte key (no-op if present). */
int tb__gw_keyring_add(tb__gw_keyring_t *kr, const uint8_t *key, size_t len);
int tb__gw_keyring_add_base64(tb__gw_keyring_t *kr, const char *b64);
/* Make an installed key the primary. */
int tb__gw_keyring_use(tb__gw_keyring_t *kr, const uint8_t *key, size_t len);
/* Remove a key; the primary cannot be removed. */
int tb__gw_keyring_remove(tb__gw_keyring_t *kr, const uint8_t *key, size_t len);

/* UDP encryption: vsn | nonce | ciphertext | tag, aad = label (may be empty).
 * open tries every key in order; *key_index gets the one that worked. */
int tb__gw_open(const tb__gw_keyring_t *kr, const uint8_t *buf, size_t len,
                const uint8_t *aad, size_t aad_len, tb__gw_buf_t *out, int *key_index);
/* Seal with the primary key; nonce is 12 bytes (the caller's randomness,
 * which keeps this function deterministic for tests). version 0 or 1. */
int tb__gw_seal(const tb__gw_keyring_t *kr, int version, const uint8_t nonce[12],
                const uint8_t *msg, size_t len, const uint8_t *aad, size_t aad_len,
                tb__gw_buf_t *out);
/* TCP encrypt frame: 0a | len:u32 | sealed; aad = the 5 header bytes.
 * frame_open needs the whole frame; *used gets its size. */
int tb__gw_frame_open(const tb__gw_keyring_t *kr, const uint8_t *buf, size_t len,
                      tb__gw_buf_t *out, size_t *used, int *key_index);
int tb__gw_frame_seal(const tb__gw_keyring_t *kr, const uint8_t nonce[12],
                      const uint8_t *msg, size_t len, tb__gw_buf_t *out);

/* Stream frames of memberlist >= 0.5 with a label: AAD = header + label. */
int tb__gw_frame_open_label(const tb__gw_keyring_t *kr, const uint8_t *buf, size_t len,
                            const uint8_t *label, size_t label_len, tb__gw_buf_t *out,
                            size_t *used, int *key_index);
int tb__gw_frame_seal_label(const tb__gw_keyring_t *kr, const uint8_t nonce[12],
                            const uint8_t *msg, size_t len, const uint8_t *label,
                            size_t label_len, tb__gw_buf_t *out);

/* Label header (hasLabel, 244): strip it if present; wrap = f4 | len | label
 * (1..255 bytes) in front of a packet or at the start of a stream. Never
 * sent to serf 0.9.4, which drops it. */
int tb__gw_label_strip(const uint8_t *buf, size_t len, tb__gw_bytes_t *label,
                       tb__gw_bytes_t *rest);
int tb__gw_label_wrap(const uint8_t *label, size_t label_len, tb__gw_buf_t *out);

/* Push/pull (6) node state. */
typedef struct {
    tb__gw_bytes_t name, addr, meta;
    uint32_t incarnation;
    uint16_t port;
    uint8_t state;
    uint8_t vsn[6];
    size_t vsn_len;
} tb__gw_node_state_t;

typedef struct {
    bool join;
    size_t n_nodes;
    tb__gw_node_state_t *nodes; /* owned (malloc) */
    tb__gw_bytes_t user_state;  /* borrowed */
} tb__gw_push_pull_t;

/* Decode a push/pull message (buf[0] == 6) in the clear. ETRUNC means
 * "incomplete": a stream reader retries with more bytes. */
int tb__gw_push_pull_decode(const uint8_t *buf, size_t len, tb__gw_push_pull_t *pp,
                            size_t *used);
void tb__gw_push_pull_free(tb__gw_push_pull_t *pp);
int tb__gw_push_pull_encode(bool join, const tb__gw_node_state_t *nodes, size_t n,
                            const uint8_t *user, size_t user_len, tb__gw_buf_t *out);

/* One TCP stream direction, fully unwrapped: encryption and compression
 * removed, then the message. kind: 6 pushPull, 0 ping, 2 ack, 8 user,
 * 13 err. plain keeps the clear bytes (slices point into it). */
typedef struct {
    uint8_t type;
    bool encrypted, compressed;
    int enc_version;
    tb__gw_buf_t plain;
    tb__gw_msg_t msg;          /* ping, ack, err */
    tb__gw_push_pull_t pp;     /* pushPull */
    tb__gw_bytes_t user;       /* user: the delegate bytes */
} tb__gw_stream_msg_t;

/* kr may be NULL (no encryption configured). Encrypted input without a
 * ring, or clear input with a ring (verify_incoming), gives EKEY. */
int tb__gw_stream_decode(const tb__gw_keyring_t *kr, bool verify_incoming,
                         const uint8_t *buf, size_t len, tb__gw_stream_msg_t *sm);
void tb__gw_stream_msg_free(tb__gw_stream_msg_t *sm);

/* ---- serf ---- */

/* Tags <-> Meta (ff + msgpack map[string]string). */
typedef struct {
    tb__gw_bytes_t key, value;
} tb__gw_tag_t;
/* Returns the number of tags (at most max) or an error. A Meta without
 * the ff magic is {"role": meta}. */
int tb__gw_tags_decode(const uint8_t *meta, size_t len, tb__gw_tag_t *tags, int max);
int tb__gw_tags_encode(const tb__gw_tag_t *tags, int n, tb__gw_buf_t *out);

typedef struct {
    uint8_t type;
    uint64_t ltime;
    tb__gw_bytes_t node;        /* join, leave */
    bool prune;                 /* leave */
    bool cc;                    /* userEvent */
    tb__gw_bytes_t name;        /* userEvent, query */
    tb__gw_bytes_t payload;     /* userEvent, query, queryResponse */
    /* query */
    tb__gw_bytes_t addr;
    tb__gw_bytes_t filters;     /* the raw msgpack array (or nil) */
    uint32_t flags, id;
    uint16_t port;
    uint8_t relay_factor;
    tb__gw_bytes_t source_node;
    int64_t timeout_ns;
    /* queryResponse */
    tb__gw_bytes_t from;
    /* relay */
    tb__gw_bytes_t dest_ip, dest_zone, dest_name;
    uint16_t dest_port;
    tb__gw_bytes_t inner;       /* the relayed serf message (verbatim) */
    /* keyRequest */
    tb__gw_bytes_t key;
} tb__gw_serf_msg_t;

int tb__gw_serf_decode(const uint8_t *buf, size_t len, tb__gw_serf_msg_t *m);
int tb__gw_serf_encode(const tb__gw_serf_msg_t *m, tb__gw_buf_t *out);

/* Query filters: returns the count (<= max); each entry's type 0 = node
 * list (names in values[], n_values), 1 = tag (key in tag, regexp in expr). */
typedef struct {
    int type;
    tb__gw_bytes_t tag, expr;
    tb__gw_bytes_t names[16];
    int n_names;
} tb__gw_filter_t;
int tb__gw_filters_decode(tb__gw_bytes_t filters, tb__gw_filter_t *out, int max);

/* serf push/pull state (user state of a memberlist push/pull). */
typedef struct {
    uint64_t ltime;
    tb__gw_bytes_t name, payload;
} tb__gw_serf_event_t;

typedef struct {
    uint64_t ltime, event_ltime, query_ltime;
    size_t n_left;
    tb__gw_bytes_t *left;           /* owned array of borrowed names */
    size_t n_status;
    tb__gw_bytes_t *status_name;    /* owned */
    uint64_t *status_ltime;         /* owned */
    size_t n_events;                /* flattened (ltime, name, payload) */
    tb__gw_serf_event_t *events;    /* owned */
    size_t events_slots;            /* length of the Events array (512 from serf) */
} tb__gw_serf_pp_t;

int tb__gw_serf_pp_decode(const uint8_t *buf, size_t len, tb__gw_serf_pp_t *pp);
void tb__gw_serf_pp_free(tb__gw_serf_pp_t *pp);
/* Encode with an Events array of exactly `slots` entries (events placed at
 * ltime % slots; serf uses 512). StatusLTimes from the parallel arrays. */
int tb__gw_serf_pp_encode(const tb__gw_serf_pp_t *pp, size_t slots, tb__gw_buf_t *out);

/* Walk a clear UDP packet (after decryption): verifies CRCs, decompresses
 * and splits compounds, and calls cb once per leaf message (type byte
 * first). Returns the number of leaves or an error. */
typedef int (*tb__gw_leaf_cb)(void *ctx, const uint8_t *msg, size_t len);
int tb__gw_packet_walk(const uint8_t *buf, size_t len, tb__gw_leaf_cb cb, void *ctx);

#endif
