/*
 * blockload.c - blocking-query fan-out benchmark for a Consul-compatible
 * agent (issue 5): N concurrent long-poll GETs on one KV key (or one
 * service's health), then one write; reports the time from sending the
 * write until every waiter has its answer, and the agent's RSS before the
 * waiters, while they block, and after they returned.
 *
 *   blockload [-h 127.0.0.1] [-p 8500] [-n 10000] [-k bench/key]
 *             [-s SERVICE] [-P AGENT_PID] [-S settle_ms] [-c connect_batch]
 *             [-a consul|etcd]
 *
 * -a etcd measures the same fan-out on etcd (the anchor) through its v3
 * JSON gateway: N streaming `POST /v3/watch` requests on key -k (base64),
 * each ready once its "created" message arrived, then one `POST
 * /v3/kv/put`; a watcher is notified when its "events" message arrived.
 * -P is then etcd's pid, so RSS and CPU per waiter are measured alike.
 *
 * Output: one JSON line, with the agent's CPU time (user + system, from
 * /proc/PID/stat) between the write and the last answer. A line "# N
 * requests sent" on stderr marks the start of the settle time (attach a
 * profiler then). Build: cc -O2 -o blockload blockload.c -luv
 * (contrib/bench/blocking.sh builds and runs it). One thread, libuv.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <uv.h>

typedef struct waiter {
    uv_tcp_t tcp;
    uv_connect_t creq;
    uv_write_t wreq;
    char *req;
    size_t got, need, hdr_end; /* bytes received, total expected */
    char buf[2048];
    int done, status;
    int ready; /* etcd: the "created" message arrived */
    uint64_t t_done;
} waiter_t;

typedef struct opts {
    const char *host, *key, *service;
    int port, n, pid, settle_ms, batch;
    int etcd; /* -a etcd: v3 gateway watchers instead of blocking GETs */
} opts_t;

static opts_t O = {"127.0.0.1", "bench/key", NULL, 8500, 10000, 0, 2000, 512, 0};
static uv_loop_t *L;
static waiter_t *W;
static int n_connecting, n_sent, n_done, n_err, n_ready, next_conn;
static uint64_t t_put, index_now;
static long rss_idle, rss_blocked;
static double cpu_before;
static uv_timer_t timer;

/* /proc/<agent>/<what>, or NULL (no -P) */
static FILE *proc_open(const char *what)
{
    char path[64];
    if (!O.pid)
        return NULL;
    snprintf(path, sizeof(path), "/proc/%d/%s", O.pid, what);
    return fopen(path, "r");
}

static long rss_kb(void)
{
    char line[256];
    FILE *f = proc_open("status");
    long v = 0;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld", &v) == 1)
            break;
    if (f)
        fclose(f);
    return v;
}

/* The agent's CPU time (user + system) in ms: the fan-out's cost that the
 * other processes of a shared machine do not inflate. */
static double cpu_ms(void)
{
    char buf[1024];
    FILE *f = proc_open("stat");
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* the command name may contain spaces */
    unsigned long long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return 0;
    return (double)(ut + st) * 1000.0 / (double)sysconf(_SC_CLK_TCK);
}

/* ---- one blocking HTTP exchange per connection (Content-Length bodies) ---- */

static void alloc_cb(uv_handle_t *h, size_t sz, uv_buf_t *b)
{
    waiter_t *w = h->data;
    (void)sz;
    /* headers accumulate; once parsed, body bytes are only counted, read
     * in big chunks into one scratch buffer (a 10 KB health answer in 2 KB
     * reads made this tool, not the agent, the bottleneck) */
    static char scratch[1 << 16];
    if (w->need) {
        *b = uv_buf_init(scratch, sizeof(scratch));
        return;
    }
    size_t off = w->got;
    if (off >= sizeof(w->buf) - 1)
        off = 0;
    *b = uv_buf_init(w->buf + off, (unsigned)(sizeof(w->buf) - 1 - off));
}

static void finish_round(void);

/* a waiter is over (answered, notified or failed); the last one ends the round */
static void waiter_done(waiter_t *w, int failed)
{
    if (w->done)
        return;
    w->done = 1;
    if (failed)
        n_err++; /* t_done stays 0: not counted as answered */
    else
        w->t_done = uv_hrtime();
    n_done++;
    if (t_put && n_done == O.n)
        finish_round();
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    waiter_t *w = s->data;
    (void)b;
    if (nread < 0) {
        waiter_done(w, 1);
        uv_read_stop(s);
        return;
    }
    if (w->need) {
        w->got += (size_t)nread;
    } else {
        w->got += (size_t)nread;
        w->buf[w->got < sizeof(w->buf) ? w->got : sizeof(w->buf) - 1] = 0;
    }
    if (!w->need) {
        char *e = strstr(w->buf, "\r\n\r\n");
        if (!e)
            return;
        w->hdr_end = (size_t)(e - w->buf) + 4;
        char *cl = strcasestr(w->buf, "Content-Length:");
        w->need = w->hdr_end + (cl ? strtoul(cl + 15, NULL, 10) : 0);
        w->status = atoi(w->buf + 9);
    }
    if (w->got >= w->need) /* answered before the write, or an error: failed */
        waiter_done(w, !t_put || w->status >= 300);
}

/* ---- etcd: one streaming watch per connection ---- */

static void watch_alloc_cb(uv_handle_t *h, size_t sz, uv_buf_t *b)
{
    waiter_t *w = h->data;
    (void)sz;
    *b = uv_buf_init(w->buf + w->got, (unsigned)(sizeof(w->buf) - 1 - w->got));
}

/* The stream is chunked JSON, one message per watch response; only two
 * markers matter, so the bytes are searched rather than parsed. What was
 * searched is dropped except a tail that may hold a split marker. */
static void watch_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    waiter_t *w = s->data;
    (void)b;
    if (nread <= 0) {
        if (nread < 0) {
            waiter_done(w, 1);
            uv_read_stop(s);
        }
        return;
    }
    w->got += (size_t)nread;
    w->buf[w->got] = 0;
    if (!w->status) {
        if (w->got < 12 || !strstr(w->buf, "\r\n"))
            return;
        w->status = atoi(w->buf + 9);
        if (w->status != 200) {
            fprintf(stderr, "watch: HTTP status %d\n", w->status);
            waiter_done(w, 1);
            uv_read_stop(s);
            return;
        }
    }
    char *m;
    if (!w->ready && (m = strstr(w->buf, "\"created\":true"))) {
        w->ready = 1;
        n_ready++;
        size_t used = (size_t)(m - w->buf) + 14;
        memmove(w->buf, w->buf + used, w->got - used + 1);
        w->got -= used;
    }
    if (w->ready && !w->done && strstr(w->buf, "\"events\"")) {
        w->got = 0;
        waiter_done(w, !t_put); /* an event before the put: someone else wrote the key */
        return;
    }
    if (w->got > sizeof(w->buf) / 2) { /* keep a tail for a split marker */
        memmove(w->buf, w->buf + w->got - 32, 33);
        w->got = 32;
    }
}

static void write_cb(uv_write_t *r, int st)
{
    waiter_t *w = r->data;
    if (st == 0)
        n_sent++;
    else
        n_err++;
    (void)w;
}

static void start_next_connects(void);

static void connect_cb(uv_connect_t *r, int st)
{
    waiter_t *w = r->data;
    n_connecting--;
    if (st != 0) {
        fprintf(stderr, "connect: %s\n", uv_strerror(st));
        n_err++;
        w->done = 1;
        n_done++;
    } else {
        if (O.etcd)
            uv_read_start((uv_stream_t *)&w->tcp, watch_alloc_cb, watch_read_cb);
        else
            uv_read_start((uv_stream_t *)&w->tcp, alloc_cb, read_cb);
        uv_buf_t b = uv_buf_init(w->req, (unsigned)strlen(w->req));
        w->wreq.data = w;
        uv_write(&w->wreq, (uv_stream_t *)&w->tcp, &b, 1, write_cb);
    }
    start_next_connects();
}

static void start_next_connects(void)
{
    struct sockaddr_in sa;
    uv_ip4_addr(O.host, O.port, &sa);
    while (n_connecting < O.batch && next_conn < O.n) {
        waiter_t *w = &W[next_conn++];
        uv_tcp_init(L, &w->tcp);
        w->tcp.data = w;
        w->creq.data = w;
        n_connecting++;
        if (uv_tcp_connect(&w->creq, &w->tcp, (const struct sockaddr *)&sa, connect_cb)) {
            n_connecting--;
            n_err++;
        }
    }
}

/* ---- blocking helpers for the setup and the write ---- */

static int simple_request(const char *req, char *out, size_t outlen)
{
    /* a plain blocking socket: setup and trigger are not on the hot path */
    uv_os_sock_t fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    uv_ip4_addr(O.host, O.port, &sa);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        return -1;
    size_t len = strlen(req), off = 0;
    while (off < len) {
        ssize_t k = write(fd, req + off, len - off);
        if (k <= 0)
            return -1;
        off += (size_t)k;
    }
    size_t got = 0;
    for (;;) {
        ssize_t k = read(fd, out + got, outlen - 1 - got);
        if (k <= 0)
            break;
        got += (size_t)k;
        out[got] = 0;
        char *e = strstr(out, "\r\n\r\n");
        char *cl = strcasestr(out, "Content-Length:");
        if (e && cl && got >= (size_t)(e - out) + 4 + strtoul(cl + 15, NULL, 10))
            break;
        if (got >= outlen - 1)
            break;
    }
    close(fd);
    out[got] = 0;
    return 0;
}

/* the etcd gateway's bodies carry keys and values in base64 */
static void b64_encode(const char *in, char *out, size_t outlen)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(in), o = 0;
    for (size_t i = 0; i < n && o + 5 < outlen; i += 3) {
        unsigned v = (unsigned)(unsigned char)in[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)(unsigned char)in[i + 1] << 8;
        if (i + 2 < n)
            v |= (unsigned char)in[i + 2];
        out[o++] = tab[v >> 18];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? tab[v & 63] : '=';
    }
    out[o] = 0;
}

/* an etcd v3 gateway POST of a JSON body, Connection: close */
static void etcd_request(char *req, size_t reqlen, const char *path, const char *body, int keep)
{
    snprintf(req, reqlen,
             "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n%s"
             "Content-Length: %zu\r\n\r\n%s",
             path, keep ? "" : "Connection: close\r\n", strlen(body), body);
}

static void etcd_put(char *req, size_t reqlen, const char *value)
{
    char k[256], v[64], body[512];
    b64_encode(O.key, k, sizeof(k));
    b64_encode(value, v, sizeof(v));
    snprintf(body, sizeof(body), "{\"key\":\"%s\",\"value\":\"%s\"}", k, v);
    etcd_request(req, reqlen, "/v3/kv/put", body, 0);
}

static char *path_of(void)
{
    static char p[512];
    if (O.etcd)
        snprintf(p, sizeof(p), "etcd:/v3/watch %s", O.key);
    else if (O.service)
        snprintf(p, sizeof(p), "/v1/health/service/%s", O.service);
    else
        snprintf(p, sizeof(p), "/v1/kv/%s", O.key);
    return p;
}

static void do_write(void)
{
    char req[1024], resp[8192];
    char body[512];
    if (O.service) {
        snprintf(body, sizeof(body),
                 "{\"Node\":\"bl-node\",\"Address\":\"127.0.0.2\",\"Service\":{\"Service\":\"%s\","
                 "\"ID\":\"bl-extra\",\"Port\":1}}",
                 O.service);
        snprintf(req, sizeof(req),
                 "PUT /v1/catalog/register HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                 "Content-Length: %zu\r\n\r\n%s",
                 strlen(body), body);
    } else if (O.etcd) {
        etcd_put(req, sizeof(req), "changed");
    } else {
        snprintf(req, sizeof(req),
                 "PUT /v1/kv/%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                 "Content-Length: 7\r\n\r\nchanged",
                 O.key);
    }
    t_put = uv_hrtime();
    if (simple_request(req, resp, sizeof(resp)) != 0)
        fprintf(stderr, "write failed\n");
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void finish_round(void)
{
    uint64_t *lat = calloc((size_t)O.n, sizeof(uint64_t));
    int k = 0;
    for (int i = 0; i < O.n; i++)
        if (W[i].done && W[i].t_done >= t_put && W[i].status == 200)
            lat[k++] = W[i].t_done - t_put;
    qsort(lat, (size_t)k, sizeof(uint64_t), cmp_u64);
    double cpu = cpu_ms() - cpu_before;
    long rss_after = rss_kb();
    printf("{\"tool\":\"blockload\",\"target\":\"%s\",\"waiters\":%d,\"answered\":%d,"
           "\"errors\":%d,\"all_notified_ms\":%.1f,\"first_ms\":%.1f,\"p50_ms\":%.1f,"
           "\"p99_ms\":%.1f,\"rss_idle_kb\":%ld,\"rss_blocked_kb\":%ld,\"rss_after_kb\":%ld,"
           "\"bytes_per_waiter\":%.0f,\"agent_cpu_ms\":%.0f,\"cpu_us_per_waiter\":%.1f}\n",
           path_of(), O.n, k, n_err, k ? lat[k - 1] / 1e6 : -1.0, k ? lat[0] / 1e6 : -1.0,
           k ? lat[k / 2] / 1e6 : -1.0, k ? lat[(size_t)(k * 0.99)] / 1e6 : -1.0, rss_idle,
           rss_blocked, rss_after, O.n ? (rss_blocked - rss_idle) * 1024.0 / O.n : 0, cpu,
           O.n ? cpu * 1000.0 / O.n : 0);
    fflush(stdout);
    free(lat);
    uv_stop(L);
}

static void settle_cb(uv_timer_t *t)
{
    if (n_sent + n_err < O.n || (O.etcd && n_ready + n_err < O.n)) {
        uv_timer_start(t, settle_cb, 200, 0); /* still connecting / creating watches */
        return;
    }
    if (n_done) {
        fprintf(stderr, "%d waiters returned before the write (index moved?)\n", n_done);
    }
    static int settled;
    if (!settled++) {
        /* a profiler can attach now (contrib/bench/README.md) */
        fprintf(stderr, "# %d requests sent; the write follows in %d ms\n", O.n, O.settle_ms);
        uv_timer_start(t, settle_cb, (uint64_t)O.settle_ms, 0);
        return;
    }
    rss_blocked = rss_kb();
    cpu_before = cpu_ms();
    do_write();
    if (n_done == O.n)
        finish_round();
}

int main(int argc, char **argv)
{
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (!strcmp(a, "-h")) O.host = v;
        else if (!strcmp(a, "-p")) O.port = atoi(v);
        else if (!strcmp(a, "-n")) O.n = atoi(v);
        else if (!strcmp(a, "-k")) O.key = v;
        else if (!strcmp(a, "-s")) O.service = v;
        else if (!strcmp(a, "-P")) O.pid = atoi(v);
        else if (!strcmp(a, "-S")) O.settle_ms = atoi(v);
        else if (!strcmp(a, "-c")) O.batch = atoi(v);
        else if (!strcmp(a, "-a") && (!strcmp(v, "etcd") || !strcmp(v, "consul")))
            O.etcd = !strcmp(v, "etcd");
        else {
            fprintf(stderr, "usage: see the header of blockload.c\n");
            return 2;
        }
    }
    if (strncmp(O.host, "127.", 4) != 0) {
        fprintf(stderr, "blockload: loopback targets only\n");
        return 2;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)O.n + 64) {
        fprintf(stderr, "blockload: fd limit %llu < %d waiters (ulimit -n)\n",
                (unsigned long long)rl.rlim_cur, O.n);
        return 2;
    }
    /* current index of the watched data */
    char req[1024], resp[65536];
    if (strlen(O.key) > 180) {
        fprintf(stderr, "blockload: key longer than 180 bytes\n");
        return 2;
    }
    if (O.etcd && O.service) {
        fprintf(stderr, "blockload: -a etcd watches a key (-k), not a service\n");
        return 2;
    }
    if (O.etcd) {
        etcd_put(req, sizeof(req), "initial");
        if (simple_request(req, resp, sizeof(resp)) != 0 || !strstr(resp, " 200 ")) {
            fprintf(stderr, "blockload: etcd put on %s:%d failed\n", O.host, O.port);
            return 1;
        }
    } else if (!O.service) {
        snprintf(req, sizeof(req),
                 "PUT /v1/kv/%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                 "Content-Length: 7\r\n\r\ninitial",
                 O.key);
        simple_request(req, resp, sizeof(resp));
    }
    char line[1024];
    if (O.etcd) {
        /* no start revision: every watcher waits for the next change */
        char k[256], body[512];
        b64_encode(O.key, k, sizeof(k));
        snprintf(body, sizeof(body), "{\"create_request\":{\"key\":\"%s\"}}", k);
        etcd_request(line, sizeof(line), "/v3/watch", body, 1);
    } else {
        snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                 path_of());
        if (simple_request(req, resp, sizeof(resp)) != 0) {
            fprintf(stderr, "blockload: cannot reach %s:%d\n", O.host, O.port);
            return 1;
        }
        char *ix = strcasestr(resp, "X-Consul-Index:");
        index_now = ix ? strtoull(ix + 15, NULL, 10) : 1;
        snprintf(line, sizeof(line), "GET %s?index=%llu&wait=5m HTTP/1.1\r\nHost: x\r\n\r\n",
                 path_of(), (unsigned long long)index_now);
    }
    rss_idle = rss_kb();

    L = uv_default_loop();
    W = calloc((size_t)O.n, sizeof(waiter_t));
    for (int i = 0; i < O.n; i++)
        W[i].req = line;
    start_next_connects();
    uv_timer_init(L, &timer);
    uv_timer_start(&timer, settle_cb, 200, 0);
    uv_run(L, UV_RUN_DEFAULT);
    return n_err ? 1 : 0;
}
