/* server/raft/tests/bench.c - throughput of the Raft state machine plus the
 * segment log with real fsync, in one process: three nodes, messages passed
 * in memory (through the codec), the leader's log on disk with fdatasync
 * per batch (group commit), followers in memory. Prints commits/s, mean
 * and p99 commit latency, and entries per fsync for each concurrency.
 *   bench [-d DIR] [-s SECONDS] [-c 1,16,64,256] [-b VALUE_BYTES]
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "raft/log.h"
#include "raft/raft.h"

typedef struct {
	uint64_t to;
	uint8_t *buf;
	size_t len;
} wire_t;

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static int run(const char *dir, int conc, double secs, uint32_t vbytes)
{
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		return 1;
	tb__raft_log_t *log;
	tb__raft_log_report_t rep;
	if (tb__raft_log_open(dir, 0, 0, &log, &rep)) {
		fprintf(stderr, "bench: %s\n", rep.msg);
		return 1;
	}
	tb__raft_t *r[4] = {0};
	tb__raft_snap_meta_t sm;
	memset(&sm, 0, sizeof(sm));
	sm.conf.n = 3;
	for (uint32_t i = 0; i < 3; i++) {
		sm.conf.s[i].id = i + 1;
		sm.conf.s[i].voter = 1;
	}
	for (uint64_t i = 1; i <= 3; i++) {
		tb__raft_opts_t o;
		tb__raft_opts_default(&o);
		o.id = i;
		o.seed = 1;
		o.election_ticks = i == 1 ? 2 : 1000; /* node 1 wins */
		o.heartbeat_ticks = 1;
		o.max_inflight = 64;
		o.snap_threshold = 0; /* no snapshots in this run */
		tb__raft_hard_t hs = {0, 0};
		r[i] = tb__raft_new(&o, &hs, &sm, NULL, 0, NULL, 0);
	}
	size_t qcap = 1 << 16, nq = 0;
	wire_t *q = calloc(qcap, sizeof(*q));
	uint8_t *val = calloc(1, vbytes);
	double *t_prop = calloc(1u << 20, sizeof(double));
	double *lat = calloc(1u << 22, sizeof(double));
	uint64_t first_index = 0, commits = 0, fsyncs = 0, synced_entries = 0, outstanding = 0;
	int leader_ready = 0;
	double t0 = 0, end = 0;
	for (int iter = 0;; iter++) {
		if (!leader_ready) {
			tb__raft_tick(r[1]);
			if (tb__raft_role(r[1]) == TB_RAFT_LEADER && tb__raft_commit(r[1]) > 0) {
				leader_ready = 1;
				first_index = tb__raft_last_index(r[1]) + 1;
				t0 = now_s();
				end = t0 + secs;
			}
		} else {
			if (now_s() >= end)
				break;
			while (outstanding < (uint64_t)conc) {
				uint64_t idx;
				if (tb__raft_propose(r[1], val, vbytes, &idx))
					break;
				t_prop[(idx - first_index) & ((1u << 20) - 1)] = now_s();
				outstanding++;
			}
		}
		for (int i = 1; i <= 3; i++) {
			tb__raft_ready_t rd;
			if (!tb__raft_ready(r[i], &rd))
				continue;
			if (i == 1 && (rd.n_entries || rd.hard_changed)) {
				if (rd.n_entries && tb__raft_log_append(log, rd.entries, rd.n_entries)) {
					fprintf(stderr, "bench: append failed\n");
					return 1;
				}
				if (tb__raft_log_sync(log) || (rd.hard_changed && tb__raft_hard_save(dir, &rd.hard))) {
					fprintf(stderr, "bench: sync failed\n");
					return 1;
				}
				fsyncs++;
				synced_entries += rd.n_entries;
			}
			for (size_t k = 0; k < rd.n_msgs; k++) {
				if (nq == qcap) {
					qcap *= 2;
					q = realloc(q, qcap * sizeof(*q));
				}
				q[nq].to = rd.msgs[k].to;
				q[nq].len = tb__raft_msg_size(&rd.msgs[k]);
				q[nq].buf = malloc(q[nq].len);
				tb__raft_msg_encode(&rd.msgs[k], q[nq].buf, q[nq].len);
				nq++;
			}
			if (i == 1 && leader_ready) {
				double t = now_s();
				for (size_t k = 0; k < rd.n_committed; k++) {
					uint64_t idx = rd.committed[k].index;
					if (idx < first_index || rd.committed[k].type != TB_RAFT_ENTRY_NORMAL)
						continue;
					lat[commits & ((1u << 22) - 1)] = t - t_prop[(idx - first_index) & ((1u << 20) - 1)];
					commits++;
					outstanding--;
				}
			}
			tb__raft_advance(r[i]);
		}
		size_t n = nq;
		nq = 0;
		for (size_t k = 0; k < n; k++) {
			tb__raft_msg_t m;
			if (tb__raft_msg_decode(q[k].buf, q[k].len, &m) == 0) {
				tb__raft_step(r[q[k].to], &m);
				tb__raft_msg_release(&m);
			}
			free(q[k].buf);
		}
		if (iter > 100000000)
			break;
	}
	double el = now_s() - t0;
	size_t nl = commits < (1u << 22) ? commits : (1u << 22);
	qsort(lat, nl, sizeof(*lat), cmp_d);
	double sum = 0;
	for (size_t i = 0; i < nl; i++)
		sum += lat[i];
	printf("{\"clients\": %d, \"value_bytes\": %u, \"seconds\": %.2f, \"commits\": %" PRIu64
	       ", \"commits_per_s\": %.0f, \"lat_mean_us\": %.0f, \"lat_p50_us\": %.0f, \"lat_p99_us\": %.0f, "
	       "\"fsyncs\": %" PRIu64 ", \"entries_per_fsync\": %.1f}\n",
	       conc, vbytes, el, commits, (double)commits / el, nl ? sum / (double)nl * 1e6 : 0,
	       nl ? lat[nl / 2] * 1e6 : 0, nl ? lat[nl * 99 / 100] * 1e6 : 0, fsyncs,
	       fsyncs ? (double)synced_entries / (double)fsyncs : 0);
	for (size_t k = 0; k < nq; k++)
		free(q[k].buf);
	free(q);
	free(val);
	free(t_prop);
	free(lat);
	for (int i = 1; i <= 3; i++)
		tb__raft_free(r[i]);
	tb__raft_log_close(log);
	if (system(cmd) != 0)
		return 1;
	return 0;
}

int main(int argc, char **argv)
{
	char dir[256];
	snprintf(dir, sizeof(dir), "/tmp/tb-raft-bench-%d", (int)getpid());
	double secs = 2;
	const char *concs = "1,16,64,256";
	uint32_t vbytes = 100;
	int opt;
	while ((opt = getopt(argc, argv, "d:s:c:b:")) != -1) {
		if (opt == 'd')
			snprintf(dir, sizeof(dir), "%s", optarg);
		else if (opt == 's')
			secs = atof(optarg);
		else if (opt == 'c')
			concs = optarg;
		else if (opt == 'b')
			vbytes = (uint32_t)atoi(optarg);
		else {
			fprintf(stderr, "usage: bench [-d DIR] [-s SECONDS] [-c 1,16,64,256] [-b BYTES]\n");
			return 2;
		}
	}
	char *list = strdup(concs), *save = NULL;
	int rc = 0;
	for (char *t = strtok_r(list, ",", &save); t && !rc; t = strtok_r(NULL, ",", &save))
		rc = run(dir, atoi(t), secs, vbytes);
	free(list);
	return rc;
}
