/* server/raft/log.h - durable storage for the Raft: segment log, hard state
 * and snapshot files in one directory (data_dir/raft/).
 *
 * Synchronous, libuv-free: the glue calls it from the thread pool. Every
 * write is acknowledged to the Raft only after tb__raft_log_sync returned 0.
 *
 * Files:
 *   seg-<first index, 20 digits>.log   header + records; a record is
 *       u32 len, u32 crc32c(payload), payload = u64 index, u64 term,
 *       u8 type, data
 *   hardstate                          term + vote + crc, replaced atomically
 *   snap-<index>-<term>.snap           snapshot files (snapshot.c)
 * Recovery (tb__raft_log_open): an incomplete or checksum-failing record at
 * the very end of the last segment is a torn write, never acknowledged: the
 * tail is cut and reported (file, offset). A damaged record with data after
 * it, a bad header or an index gap is corruption: the open fails with the
 * file and offset, unless TB_RAFT_LOG_REPAIR asks to keep the valid prefix.
 * A damaged entry is never returned.
 */
#ifndef TB_RAFT_LOG_H
#define TB_RAFT_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"

enum { TB_RAFT_LOG_CLEAN = 0, TB_RAFT_LOG_TORN = 1, TB_RAFT_LOG_CORRUPT = 2 };
#define TB_RAFT_LOG_REPAIR 1u

typedef struct {
	int status;
	char file[4096];
	uint64_t offset;
	char msg[4400]; /* "<file>: <what> at offset <n>" */
} tb__raft_log_report_t;

typedef struct tb__raft_log tb__raft_log_t;

/* Opens (creating the directory and files as needed) and recovers. The
 * recovered entries are available through tb__raft_log_entries until the
 * first append or truncation. Returns 0, or -1 with rep->msg set. */
int tb__raft_log_open(const char *dir, unsigned flags, uint64_t segment_bytes, tb__raft_log_t **out,
                      tb__raft_log_report_t *rep);
void tb__raft_log_close(tb__raft_log_t *l);

const tb__raft_entry_t *tb__raft_log_entries(const tb__raft_log_t *l, size_t *n);
uint64_t tb__raft_log_first(const tb__raft_log_t *l); /* 0 when empty */
uint64_t tb__raft_log_last(const tb__raft_log_t *l);  /* 0 when empty */

/* Appends (truncating first when ents[0].index <= last). Not durable
 * until tb__raft_log_sync. */
int tb__raft_log_append(tb__raft_log_t *l, const tb__raft_entry_t *ents, size_t n);
int tb__raft_log_sync(tb__raft_log_t *l);
/* Drops every entry >= index (durably). */
int tb__raft_log_truncate(tb__raft_log_t *l, uint64_t index);
/* Deletes segments whose entries are all < keep_from. */
int tb__raft_log_compact(tb__raft_log_t *l, uint64_t keep_from);
/* Drops everything (after a snapshot install); the next append may start
 * at any index. */
int tb__raft_log_reset(tb__raft_log_t *l);

int tb__raft_hard_save(const char *dir, const tb__raft_hard_t *hs);
/* 0 (zeroed when absent) or -1 on a damaged file (rep says which). */
int tb__raft_hard_load(const char *dir, tb__raft_hard_t *hs, tb__raft_log_report_t *rep);

/* snapshot.c */
int tb__raft_snap_save(const char *dir, const tb__raft_snap_meta_t *m, const void *data, size_t len);
/* Newest valid snapshot: 1 found (data malloc'd, caller frees), 0 none.
 * Damaged files are skipped and the last one reported in rep. */
int tb__raft_snap_load(const char *dir, tb__raft_snap_meta_t *m, uint8_t **data, size_t *len,
                       tb__raft_log_report_t *rep);

/* fsync a directory (after creating, renaming or removing files in it) */
int tb__raft_fsync_dir(const char *dir);

#endif
