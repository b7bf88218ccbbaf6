/* server/raft/log.c - the Raft segment log and hard-state file (log.h).
 *
 * Appends go to the newest segment with one write() per batch; a new
 * segment starts when the current one passes segment_bytes. Durability:
 * fdatasync of the written segment, plus an fsync of the directory when
 * segments were created or removed since the last sync. Truncation removes
 * later segments first and syncs the directory before cutting the file, so
 * a crash can never bring back entries after a gap.
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

#define SEG_MAGIC "TBRL"
#define SEG_HDR 16
#define REC_HDR 8
#define PAY_HDR 17
#define MAX_REC (64u << 20)

typedef struct {
	uint64_t first;
	uint64_t size;
} seg_t;

typedef struct {
	uint32_t seg;
	uint64_t off;
} pos_t;

struct tb__raft_log {
	char *dir;
	uint64_t seg_max;
	seg_t *segs;
	size_t n_segs, segs_cap;
	pos_t *pos; /* pos[i] for entry first+i */
	size_t n, cap;
	uint64_t first;
	int fd; /* newest segment, open for append */
	int dirty, dir_dirty;
	/* entries recovered at open */
	tb__raft_entry_t *rec;
	size_t n_rec;
	uint8_t *rec_buf;
	uint8_t *wbuf;
	size_t wcap;
};


static void seg_path(const tb__raft_log_t *l, uint64_t first, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s/seg-%020" PRIu64 ".log", l->dir, first);
}

int tb__raft_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

static void report(tb__raft_log_report_t *rep, int status, const char *file, uint64_t off, const char *what)
{
	if (!rep)
		return;
	rep->status = status;
	snprintf(rep->file, sizeof(rep->file), "%s", file);
	rep->offset = off;
	snprintf(rep->msg, sizeof(rep->msg), "%s: %s at offset %" PRIu64, file, what, off);
}

static int read_all(const char *path, uint8_t **buf, size_t *len)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	struct stat st;
	if (fstat(fd, &st)) {
		close(fd);
		return -1;
	}
	size_t n = (size_t)st.st_size;
	uint8_t *b = malloc(n ? n : 1);
	if (!b) {
		close(fd);
		return -1;
	}
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, b + got, n - got);
		if (r <= 0) {
			if (r < 0 && errno == EINTR)
				continue;
			break;
		}
		got += (size_t)r;
	}
	close(fd);
	*buf = b;
	*len = got;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int add_seg(tb__raft_log_t *l, uint64_t first, uint64_t size)
{
	if (l->n_segs == l->segs_cap) {
		size_t nc = l->segs_cap ? l->segs_cap * 2 : 8;
		seg_t *s = realloc(l->segs, nc * sizeof(*s));
		if (!s)
			return -1;
		l->segs = s;
		l->segs_cap = nc;
	}
	l->segs[l->n_segs].first = first;
	l->segs[l->n_segs].size = size;
	l->n_segs++;
	return 0;
}

static int add_pos(tb__raft_log_t *l, uint32_t seg, uint64_t off)
{
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 256;
		pos_t *p = realloc(l->pos, nc * sizeof(*p));
		if (!p)
			return -1;
		l->pos = p;
		l->cap = nc;
	}
	l->pos[l->n].seg = seg;
	l->pos[l->n].off = off;
	l->n++;
	return 0;
}

static int add_rec(tb__raft_log_t *l, size_t *cap, const tb__raft_entry_t *e)
{
	if (l->n_rec == *cap) {
		size_t nc = *cap ? *cap * 2 : 256;
		tb__raft_entry_t *r = realloc(l->rec, nc * sizeof(*r));
		if (!r)
			return -1;
		l->rec = r;
		*cap = nc;
	}
	tb__raft_entry_t *d = &l->rec[l->n_rec++];
	*d = *e;
	uint8_t *c = malloc(e->len ? e->len : 1);
	if (!c)
		return -1;
	if (e->len)
		memcpy(c, e->data, e->len);
	d->data = c;
	return 0;
}

static void free_rec(tb__raft_log_t *l)
{
	for (size_t i = 0; i < l->n_rec; i++)
		free((void *)l->rec[i].data);
	free(l->rec);
	l->rec = NULL;
	l->n_rec = 0;
}

/* Removes segments [from, n_segs) from disk and from the table. */
static int drop_segs_from(tb__raft_log_t *l, size_t from)
{
	char path[4096];
	for (size_t i = l->n_segs; i > from; i--) {
		seg_path(l, l->segs[i - 1].first, path, sizeof(path));
		if (unlink(path) && errno != ENOENT)
			return -1;
	}
	if (from < l->n_segs)
		l->dir_dirty = 1;
	l->n_segs = from;
	return 0;
}

static int open_tail(tb__raft_log_t *l)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	if (!l->n_segs)
		return 0;
	char path[4096];
	seg_path(l, l->segs[l->n_segs - 1].first, path, sizeof(path));
	l->fd = open(path, O_WRONLY | O_CLOEXEC);
	if (l->fd < 0)
		return -1;
	if (lseek(l->fd, (off_t)l->segs[l->n_segs - 1].size, SEEK_SET) < 0)
		return -1;
	return 0;
}

static int scan(tb__raft_log_t *l, unsigned flags, tb__raft_log_report_t *rep)
{
	DIR *d = opendir(l->dir);
	if (!d)
		return -1;
	uint64_t *firsts = NULL;
	size_t nf = 0, cf = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		uint64_t f;
		char tail[8];
		if (sscanf(de->d_name, "seg-%20" SCNu64 ".%4s", &f, tail) == 2 && !strcmp(tail, "log") &&
		    strlen(de->d_name) == 28) {
			if (nf == cf) {
				cf = cf ? cf * 2 : 8;
				uint64_t *nfp = realloc(firsts, cf * sizeof(*nfp));
				if (!nfp) {
					free(firsts);
					closedir(d);
					return -1;
				}
				firsts = nfp;
			}
			firsts[nf++] = f;
		}
	}
	closedir(d);
	if (nf)
		qsort(firsts, nf, sizeof(*firsts), cmp_u64);
	size_t rcap = 0;
	int rc = 0;
	char path[4096];
	for (size_t s = 0; s < nf; s++) {
		int last_seg = s + 1 == nf;
		seg_path(l, firsts[s], path, sizeof(path));
		uint8_t *buf;
		size_t len;
		if (read_all(path, &buf, &len)) {
			report(rep, TB_RAFT_LOG_CORRUPT, path, 0, "unreadable segment");
			rc = -1;
			break;
		}
		uint64_t expect = l->n ? l->first + l->n : firsts[s];
		size_t off = 0;
		int bad = 0;
		const char *why = NULL;
		if (len < SEG_HDR || memcmp(buf, SEG_MAGIC, 4) || buf[4] != 1 || get64(buf + 8) != firsts[s]) {
			bad = 1;
			why = len < SEG_HDR ? "truncated segment header" : "bad segment header";
		} else if (firsts[s] != expect) {
			bad = 2;
			why = "index gap between segments";
		} else {
			off = SEG_HDR;
			if (add_seg(l, firsts[s], SEG_HDR)) {
				free(buf);
				rc = -1;
				break;
			}
		}
		while (!bad && off < len) {
			size_t left = len - off;
			uint32_t rl = left >= REC_HDR ? get32(buf + off) : 0;
			if (left < REC_HDR || rl > left - REC_HDR) {
				bad = 1;
				why = "incomplete record";
				break;
			}
			const uint8_t *p = buf + off + REC_HDR;
			if (rl < PAY_HDR || rl > MAX_REC || tb__crc32c(0, p, rl) != get32(buf + off + 4)) {
				bad = off + REC_HDR + rl == len ? 1 : 2;
				why = "checksum mismatch";
				break;
			}
			tb__raft_entry_t e = {.index = get64(p), .term = get64(p + 8), .type = p[16],
			                      .data = p + PAY_HDR, .len = rl - PAY_HDR};
			if (e.index != expect || e.type < TB_RAFT_ENTRY_NORMAL || e.type > TB_RAFT_ENTRY_CONF ||
			    (l->n_rec && e.term < l->rec[l->n_rec - 1].term)) {
				bad = 2;
				why = "record out of sequence";
				break;
			}
			if (!l->n)
				l->first = e.index;
			if (add_pos(l, (uint32_t)(l->n_segs - 1), off) || add_rec(l, &rcap, &e)) {
				free(buf);
				rc = -1;
				goto out;
			}
			expect++;
			off += REC_HDR + rl;
			l->segs[l->n_segs - 1].size = off;
		}
		free(buf);
		if (!bad)
			continue;
		/* a torn write can only be at the end of the newest segment */
		if (bad == 1 && last_seg) {
			report(rep, TB_RAFT_LOG_TORN, path, off, why);
		} else {
			report(rep, TB_RAFT_LOG_CORRUPT, path, off, why);
			if (!(flags & TB_RAFT_LOG_REPAIR)) {
				rc = -1;
				break;
			}
		}
		/* keep the valid prefix: cut this segment, drop the later ones */
		for (size_t k = s + 1; k < nf; k++) {
			char p2[4096];
			seg_path(l, firsts[k], p2, sizeof(p2));
			unlink(p2);
		}
		if (off >= SEG_HDR && l->n_segs && l->segs[l->n_segs - 1].first == firsts[s]) {
			int fd = -1;
			if (tb__raft_fsync_dir(l->dir) || truncate(path, (off_t)off) ||
			    (fd = open(path, O_WRONLY | O_CLOEXEC)) < 0 || fdatasync(fd)) {
				if (fd >= 0)
					close(fd);
				rc = -1;
				break;
			}
			close(fd);
		} else {
			unlink(path);
		}
		l->dir_dirty = 1;
		break;
	}
out:
	free(firsts);
	return rc;
}

int tb__raft_log_open(const char *dir, unsigned flags, uint64_t segment_bytes, tb__raft_log_t **out,
                      tb__raft_log_report_t *rep)
{
	if (rep)
		memset(rep, 0, sizeof(*rep));
	*out = NULL;
	if (mkdir(dir, 0700) && errno != EEXIST) {
		report(rep, TB_RAFT_LOG_CORRUPT, dir, 0, strerror(errno));
		return -1;
	}
	tb__raft_log_t *l = calloc(1, sizeof(*l));
	if (!l || !(l->dir = strdup(dir))) {
		free(l);
		return -1;
	}
	l->fd = -1;
	l->seg_max = segment_bytes ? segment_bytes : (64u << 20);
	if (scan(l, flags, rep) || (l->dir_dirty && tb__raft_fsync_dir(l->dir)) || open_tail(l)) {
		if (rep && !rep->msg[0])
			report(rep, TB_RAFT_LOG_CORRUPT, dir, 0, "cannot open the log");
		tb__raft_log_close(l);
		return -1;
	}
	l->dir_dirty = 0;
	*out = l;
	return 0;
}

void tb__raft_log_close(tb__raft_log_t *l)
{
	if (!l)
		return;
	if (l->fd >= 0)
		close(l->fd);
	free_rec(l);
	free(l->segs);
	free(l->pos);
	free(l->wbuf);
	free(l->dir);
	free(l);
}

const tb__raft_entry_t *tb__raft_log_entries(const tb__raft_log_t *l, size_t *n)
{
	*n = l->n_rec;
	return l->rec;
}

uint64_t tb__raft_log_first(const tb__raft_log_t *l) { return l->n ? l->first : 0; }
uint64_t tb__raft_log_last(const tb__raft_log_t *l) { return l->n ? l->first + l->n - 1 : 0; }

static int new_segment(tb__raft_log_t *l, uint64_t first)
{
	char path[4096];
	seg_path(l, first, path, sizeof(path));
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	uint8_t h[SEG_HDR] = {0};
	memcpy(h, SEG_MAGIC, 4);
	h[4] = 1;
	put64(h + 8, first);
	if (write(fd, h, SEG_HDR) != SEG_HDR) {
		close(fd);
		return -1;
	}
	/* the previous segment is complete: make it durable before leaving it */
	if (l->fd >= 0) {
		if (l->dirty && fdatasync(l->fd)) {
			close(fd);
			return -1;
		}
		close(l->fd);
	}
	l->fd = fd;
	l->dir_dirty = 1;
	l->dirty = 1;
	return add_seg(l, first, SEG_HDR);
}

int tb__raft_log_truncate(tb__raft_log_t *l, uint64_t index)
{
	free_rec(l);
	if (!l->n || index > l->first + l->n - 1)
		return 0;
	if (index <= l->first)
		return tb__raft_log_reset(l);
	pos_t p = l->pos[index - l->first];
	if (drop_segs_from(l, p.seg + 1) || (l->dir_dirty && tb__raft_fsync_dir(l->dir)))
		return -1;
	l->dir_dirty = 0;
	char path[4096];
	seg_path(l, l->segs[p.seg].first, path, sizeof(path));
	if (truncate(path, (off_t)p.off))
		return -1;
	l->segs[p.seg].size = p.off;
	l->n = (size_t)(index - l->first);
	l->dirty = 1;
	return open_tail(l);
}

int tb__raft_log_reset(tb__raft_log_t *l)
{
	free_rec(l);
	if (drop_segs_from(l, 0) || tb__raft_fsync_dir(l->dir))
		return -1;
	l->dir_dirty = 0;
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	l->n = 0;
	l->first = 0;
	return 0;
}

int tb__raft_log_append(tb__raft_log_t *l, const tb__raft_entry_t *ents, size_t n)
{
	if (!n)
		return 0;
	free_rec(l);
	if (l->n && ents[0].index <= l->first + l->n - 1 && tb__raft_log_truncate(l, ents[0].index))
		return -1;
	if (l->n && ents[0].index != l->first + l->n)
		return -1; /* a gap: the caller must reset first */
	size_t i = 0;
	while (i < n) {
		if (!l->n_segs || l->segs[l->n_segs - 1].size >= l->seg_max) {
			if (new_segment(l, ents[i].index))
				return -1;
		}
		/* one buffer, one write() for as many entries as fit the segment */
		seg_t *sg = &l->segs[l->n_segs - 1];
		size_t bytes = 0, j = i;
		while (j < n && (j == i || sg->size + bytes + REC_HDR + PAY_HDR + ents[j].len <= l->seg_max)) {
			bytes += REC_HDR + PAY_HDR + ents[j].len;
			j++;
		}
		if (bytes > l->wcap) {
			uint8_t *nb = realloc(l->wbuf, bytes);
			if (!nb)
				return -1;
			l->wbuf = nb;
			l->wcap = bytes;
		}
		uint8_t *p = l->wbuf;
		uint64_t off = sg->size;
		for (size_t k = i; k < j; k++) {
			const tb__raft_entry_t *e = &ents[k];
			uint32_t rl = PAY_HDR + e->len;
			uint8_t *pay = p + REC_HDR;
			put64(pay, e->index);
			put64(pay + 8, e->term);
			pay[16] = e->type;
			if (e->len)
				memcpy(pay + PAY_HDR, e->data, e->len);
			put32(p, rl);
			put32(p + 4, tb__crc32c(0, pay, rl));
			if (!l->n)
				l->first = e->index;
			if (add_pos(l, (uint32_t)(l->n_segs - 1), off))
				return -1;
			off += REC_HDR + rl;
			p += REC_HDR + rl;
		}
		size_t done = 0;
		while (done < bytes) {
			ssize_t w = write(l->fd, l->wbuf + done, bytes - done);
			if (w < 0) {
				if (errno == EINTR)
					continue;
				return -1;
			}
			done += (size_t)w;
		}
		sg->size += bytes;
		l->dirty = 1;
		i = j;
	}
	return 0;
}

int tb__raft_log_sync(tb__raft_log_t *l)
{
	if (l->dirty && l->fd >= 0 && fdatasync(l->fd))
		return -1;
	l->dirty = 0;
	if (l->dir_dirty && tb__raft_fsync_dir(l->dir))
		return -1;
	l->dir_dirty = 0;
	return 0;
}

int tb__raft_log_compact(tb__raft_log_t *l, uint64_t keep_from)
{
	size_t k = 0;
	/* a segment can go when the next one starts at or below keep_from */
	while (k + 1 < l->n_segs && l->segs[k + 1].first <= keep_from)
		k++;
	if (!k)
		return 0;
	char path[4096];
	for (size_t i = 0; i < k; i++) {
		seg_path(l, l->segs[i].first, path, sizeof(path));
		if (unlink(path) && errno != ENOENT)
			return -1;
	}
	uint64_t nf = l->segs[k].first;
	size_t drop = (size_t)(nf - l->first);
	memmove(l->segs, l->segs + k, (l->n_segs - k) * sizeof(*l->segs));
	l->n_segs -= k;
	memmove(l->pos, l->pos + drop, (l->n - drop) * sizeof(*l->pos));
	l->n -= drop;
	for (size_t i = 0; i < l->n; i++)
		l->pos[i].seg -= (uint32_t)k;
	l->first = nf;
	l->dir_dirty = 1;
	return 0;
}

/* ---- hard state ---- */

#define HS_LEN 28

int tb__raft_hard_save(const char *dir, const tb__raft_hard_t *hs)
{
	char tmp[4096], path[4096];
	snprintf(tmp, sizeof(tmp), "%s/hardstate.tmp", dir);
	snprintf(path, sizeof(path), "%s/hardstate", dir);
	uint8_t b[HS_LEN];
	memcpy(b, "TBHS", 4);
	put64(b + 4, hs->term);
	put64(b + 12, hs->vote);
	put32(b + 20, 1);
	put32(b + 24, tb__crc32c(0, b, 24));
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	if (write(fd, b, HS_LEN) != HS_LEN || fdatasync(fd)) {
		close(fd);
		return -1;
	}
	close(fd);
	if (rename(tmp, path))
		return -1;
	return tb__raft_fsync_dir(dir);
}

int tb__raft_hard_load(const char *dir, tb__raft_hard_t *hs, tb__raft_log_report_t *rep)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/hardstate", dir);
	memset(hs, 0, sizeof(*hs));
	uint8_t *b;
	size_t len;
	if (read_all(path, &b, &len))
		return errno == ENOENT ? 0 : -1;
	int ok = len == HS_LEN && !memcmp(b, "TBHS", 4) && get32(b + 20) == 1 &&
	         get32(b + 24) == tb__crc32c(0, b, 24);
	if (ok) {
		hs->term = get64(b + 4);
		hs->vote = get64(b + 12);
	} else {
		report(rep, TB_RAFT_LOG_CORRUPT, path, 0, "damaged hard state");
	}
	free(b);
	return ok ? 0 : -1;
}
