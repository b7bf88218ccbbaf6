/* server/raft/snapshot.c - snapshot files for the Raft (log.h).
 *
 * snap-<index, 20 digits>-<term, 20 digits>.snap, written as a temporary
 * file, fdatasync'd, renamed into place, then the directory fsync'd, so a
 * snapshot file either exists complete or not at all. Layout:
 *   "TBSN", u8 version 1, 3 zero bytes, u64 index, u64 term,
 *   u32 conf length, conf (tb__raft_conf_encode), u64 data length, data,
 *   u32 crc32c of everything before it.
 * The two newest snapshots are kept: if the newest turns out damaged the
 * loader reports it (file and offset) and falls back to the older one.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "raft/log.h"
#include "raft/le.h"

#define KEEP 2


static int write_full(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	while (len) {
		ssize_t w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

typedef struct {
	uint64_t index, term;
	char name[64];
} snapname_t;

static int cmp_desc(const void *a, const void *b)
{
	const snapname_t *x = a, *y = b;
	if (x->index != y->index)
		return x->index < y->index ? 1 : -1;
	return x->term < y->term ? 1 : x->term > y->term ? -1 : 0;
}

/* Lists snapshot files, newest first. */
static int list(const char *dir, snapname_t **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -1;
	size_t cap = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		uint64_t i, t;
		char tail[8];
		if (strlen(de->d_name) != 51 ||
		    sscanf(de->d_name, "snap-%20" SCNu64 "-%20" SCNu64 ".%4s", &i, &t, tail) != 3 || strcmp(tail, "snap"))
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 4;
			snapname_t *ns = realloc(*out, cap * sizeof(*ns));
			if (!ns) {
				closedir(d);
				return -1;
			}
			*out = ns;
		}
		(*out)[*n].index = i;
		(*out)[*n].term = t;
		memcpy((*out)[*n].name, de->d_name, 52); /* 51 characters + NUL, checked above */
		(*n)++;
	}
	closedir(d);
	if (*n)
		qsort(*out, *n, sizeof(**out), cmp_desc);
	return 0;
}

int tb__raft_snap_save(const char *dir, const tb__raft_snap_meta_t *m, const void *data, size_t len)
{
	char tmp[4096], path[4096];
	snprintf(tmp, sizeof(tmp), "%s/snap.tmp", dir);
	snprintf(path, sizeof(path), "%s/snap-%020" PRIu64 "-%020" PRIu64 ".snap", dir, m->index, m->term);
	uint8_t conf[1 + TB_RAFT_MAX_SERVERS * 9];
	size_t cl = tb__raft_conf_encode(&m->conf, conf, sizeof(conf));
	uint8_t hdr[24 + 4 + sizeof(conf) + 8];
	memcpy(hdr, "TBSN\1\0\0\0", 8);
	put64(hdr + 8, m->index);
	put64(hdr + 16, m->term);
	put32(hdr + 24, (uint32_t)cl);
	memcpy(hdr + 28, conf, cl);
	put64(hdr + 28 + cl, len);
	size_t hl = 28 + cl + 8;
	uint32_t crc = tb__crc32c(tb__crc32c(0, hdr, hl), data, len);
	uint8_t tr[4];
	put32(tr, crc);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	if (write_full(fd, hdr, hl) || write_full(fd, data, len) || write_full(fd, tr, 4) || fdatasync(fd)) {
		close(fd);
		unlink(tmp);
		return -1;
	}
	close(fd);
	if (rename(tmp, path) || tb__raft_fsync_dir(dir))
		return -1;
	/* keep the newest KEEP */
	snapname_t *l;
	size_t n;
	if (list(dir, &l, &n) == 0) {
		for (size_t i = KEEP; i < n; i++) {
			char old[4096];
			snprintf(old, sizeof(old), "%s/%s", dir, l[i].name);
			unlink(old);
		}
		free(l);
	}
	return 0;
}

static int load_one(const char *path, const snapname_t *sn, tb__raft_snap_meta_t *m, uint8_t **data,
                    size_t *len, tb__raft_log_report_t *rep)
{
	const char *why = "unreadable";
	uint64_t off = 0;
	uint8_t *b = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st))
		goto bad;
	size_t n = (size_t)st.st_size;
	b = malloc(n ? n : 1);
	if (!b)
		goto bad;
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, b + got, n - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	why = "truncated header";
	off = got;
	if (got < 28 + 1 + 8 + 4 || memcmp(b, "TBSN\1\0\0\0", 8))
		goto bad;
	off = 24;
	uint32_t cl = get32(b + 24);
	why = "bad configuration";
	if (cl > 1 + TB_RAFT_MAX_SERVERS * 9 || 28 + (size_t)cl + 8 + 4 > got ||
	    tb__raft_conf_decode(b + 28, cl, &m->conf))
		goto bad;
	uint64_t dl = get64(b + 28 + cl);
	size_t hl = 28 + cl + 8;
	why = "truncated data";
	off = got;
	if (dl > got - hl - 4)
		goto bad;
	why = "checksum mismatch";
	off = hl + dl;
	if (hl + dl + 4 != got || get32(b + off) != tb__crc32c(0, b, off))
		goto bad;
	m->index = get64(b + 8);
	m->term = get64(b + 16);
	why = "name does not match contents";
	off = 8;
	if (m->index != sn->index || m->term != sn->term)
		goto bad;
	*len = (size_t)dl;
	*data = malloc(*len ? *len : 1);
	if (!*data)
		goto bad;
	memcpy(*data, b + hl, *len);
	free(b);
	close(fd);
	return 1;
bad:
	if (rep) {
		rep->status = TB_RAFT_LOG_CORRUPT;
		snprintf(rep->file, sizeof(rep->file), "%s", path);
		rep->offset = off;
		snprintf(rep->msg, sizeof(rep->msg), "%s: %s at offset %" PRIu64, path, why, off);
	}
	free(b);
	if (fd >= 0)
		close(fd);
	return 0;
}

int tb__raft_snap_load(const char *dir, tb__raft_snap_meta_t *m, uint8_t **data, size_t *len,
                       tb__raft_log_report_t *rep)
{
	memset(m, 0, sizeof(*m));
	*data = NULL;
	*len = 0;
	snapname_t *l;
	size_t n;
	if (list(dir, &l, &n))
		return -1;
	int found = 0;
	for (size_t i = 0; i < n && !found; i++) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", dir, l[i].name);
		found = load_one(path, &l[i], m, data, len, rep);
	}
	free(l);
	if (!found)
		memset(m, 0, sizeof(*m));
	return found;
}
