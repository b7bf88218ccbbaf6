/*
 * archive.h - the snapshot archive of GET/PUT /v1/snapshot and `tribune
 * snapshot save|restore|inspect`: a gzip'd POSIX tar holding, as Consul's
 * does, meta.json ({Version, ID, Index, Term, Size}), state.bin (the
 * tb__state_serialize blob) and SHA256SUMS (sha256sum format over the other
 * two). Building and reading need no agent (nor state.h), so the CLI
 * checks and inspects archives offline.
 */
#ifndef TB_STATE_ARCHIVE_H
#define TB_STATE_ARCHIVE_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#define TB__SNAP_VERSION 1
/* Refuse archives that would inflate past this (a gzip bomb, not a store). */
#define TB__SNAP_MAX_STATE (1024ULL * 1024 * 1024)

typedef struct tb__snap_meta {
    int version;
    char id[64];       /* "<term>-<index>-<unix ms>", as Consul names snapshots */
    uint64_t index, term, size;
} tb__snap_meta_t;

/* Build the archive around a state blob: 0 with *out (malloc'd) and
 * *outlen, or -1 (out of memory). */
int tb__snap_archive_build(const void *state, size_t len, uint64_t index, uint64_t term,
                           int64_t now_ms, uint8_t **out, size_t *outlen);

/* Read an archive: checks the gzip stream, the tar headers, that the three
 * files are there, both SHA-256 sums and meta.json. 0 with *state
 * (malloc'd; NULL allowed to skip it) and *meta, or -1 with *err (malloc'd,
 * one line saying what is wrong and where). */
int tb__snap_archive_read(const void *data, size_t len, uint8_t **state, size_t *state_len,
                          tb__snap_meta_t *meta, char **err);

/* Replace *err (when err is not NULL) with the formatted one-line message;
 * returns -1. Shared by the snapshot code of server/state. */
int tb__snap_err(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* meta.json's object. */
json_t *tb__snap_meta_json(const tb__snap_meta_t *m);

#endif
