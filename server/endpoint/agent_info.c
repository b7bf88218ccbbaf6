/*
 * agent_info.c - Agent.Metrics (/v1/agent/metrics, JSON or Prometheus
 * text) and Agent.Host (/v1/agent/host). Metrics are the endpoint layer's
 * own counters since start (calls, KV reads/writes, applies, blocking
 * queries, coalesced reads) and gauges read from /proc, under Consul's
 * metric names where one exists so dashboards built for Consul find them.
 */
#include "tb_autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "config/tb_config.h"
#include "endpoint/endpoint_int.h"

#define CFG(ep) ((ep)->agent->config)

static long proc_status_kb(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = 0;
    size_t fl = strlen(field);
    while (f && fgets(line, sizeof(line), f))
        if (!strncmp(line, field, fl) && line[fl] == ':') {
            v = strtol(line + fl + 1, NULL, 10);
            break;
        }
    if (f)
        fclose(f);
    return v;
}

static long open_fds(void)
{
    long n = 0;
    char path[64];
    for (int i = 0; i < 1 << 20; i++) {
        snprintf(path, sizeof(path), "/proc/self/fd/%d", i);
        if (access(path, F_OK) == 0)
            n++;
        else if (n && i > 4096 && i > 2 * n)
            break; /* fds are dense from 0; stop well past the last one */
    }
    return n;
}

typedef struct metric {
    const char *name;
    const char *help;
    int counter;
    double value;
} metric_t;

static size_t collect(tb__endpoint_t *ep, metric_t *m)
{
    size_t n = 0;
    const tb__ep_stats_t *s = &ep->stats;
    m[n++] = (metric_t){"consul.runtime.alloc_bytes", "Resident memory of the agent", 0,
                        proc_status_kb("VmRSS") * 1024.0};
    m[n++] = (metric_t){"consul.runtime.sys_bytes", "Virtual memory of the agent", 0,
                        proc_status_kb("VmSize") * 1024.0};
    m[n++] = (metric_t){"tribune.runtime.open_fds", "Open file descriptors", 0,
                        (double)open_fds()};
    m[n++] = (metric_t){"tribune.endpoint.blocked_queries", "Blocking queries waiting now", 0,
                        (double)ep->nblocked};
    m[n++] = (metric_t){"tribune.state.last_index", "Last applied index", 0,
                        ep->agent->state ? (double)tb__state_last_index(ep->agent->state) : 0};
    m[n++] = (metric_t){"consul.rpc.request", "Endpoint calls (all surfaces)", 1,
                        (double)s->calls};
    m[n++] = (metric_t){"consul.rpc.query", "Blocking queries that waited", 1,
                        (double)s->blocked};
    m[n++] = (metric_t){"consul.kvs.get", "KV reads", 1, (double)s->kv_reads};
    m[n++] = (metric_t){"consul.kvs.apply", "KV writes", 1, (double)s->kv_writes};
    m[n++] = (metric_t){"consul.raft.apply", "Commands applied to the state store", 1,
                        (double)s->applies};
    m[n++] = (metric_t){"tribune.endpoint.coalesced_reads",
                        "Reads answered from another identical read in the same turn", 1,
                        (double)ep->coalesced};
    return n;
}

/* Prometheus names: dots become underscores. */
static void prom_name(char *out, size_t cap, const char *name)
{
    size_t i = 0;
    for (; name[i] && i + 1 < cap; i++)
        out[i] = name[i] == '.' || name[i] == '-' ? '_' : name[i];
    out[i] = 0;
}

static int prometheus_enabled(const tb__endpoint_t *ep)
{
    const json_t *t = json_object_get(json_object_get(CFG(ep)->merged, "telemetry"),
                                      "prometheus_retention_time");
    uint64_t ns = 0;
    if (json_is_string(t))
        tb__parse_duration(json_string_value(t), &ns);
    else if (json_is_integer(t))
        ns = (uint64_t)json_integer_value(t);
    return ns > 0;
}

void tb__m_agent_metrics(tb__endpoint_t *ep, const json_t *a, tb__ep_out_t *out, tb__buf_t *c)
{
    (void)c;
    metric_t m[16];
    size_t n = collect(ep, m);
    const char *fmt = json_string_value(json_object_get(a, "Format"));
    if (fmt && !strcmp(fmt, "prometheus")) {
        if (!prometheus_enabled(ep)) {
            tb__ep_fail(out, TB_BAD_REQUEST,
                        "Prometheus is not enabled since its retention time is not positive");
            return;
        }
        size_t cap = 4096, len = 0;
        char *txt = malloc(cap), pn[128];
        for (size_t i = 0; txt && i < n; i++) {
            prom_name(pn, sizeof(pn), m[i].name);
            if (cap - len < 512) {
                char *t2 = realloc(txt, cap *= 2);
                if (!t2) {
                    free(txt);
                    txt = NULL;
                    break;
                }
                txt = t2;
            }
            len += (size_t)snprintf(txt + len, cap - len, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n",
                                    pn, m[i].help, pn, m[i].counter ? "counter" : "gauge", pn,
                                    m[i].value);
        }
        if (!txt) {
            tb__ep_fail(out, TB_INTERNAL, "out of memory");
            return;
        }
        out->json = json_stringn(txt, len);
        free(txt);
        return;
    }
    json_t *gauges = json_array(), *counters = json_array();
    for (size_t i = 0; i < n; i++) {
        if (m[i].counter)
            json_array_append_new(counters,
                                  json_pack("{s:s,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:{}}", "Name",
                                            m[i].name, "Count", m[i].value, "Rate", 0.0, "Sum",
                                            m[i].value, "Min", m[i].value ? 1.0 : 0.0, "Max",
                                            m[i].value ? 1.0 : 0.0, "Mean",
                                            m[i].value ? 1.0 : 0.0, "Stddev", 0.0, "Labels"));
        else
            json_array_append_new(gauges, json_pack("{s:s,s:f,s:{}}", "Name", m[i].name, "Value",
                                                    m[i].value, "Labels"));
    }
    char ts[64];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S +0000 UTC", &tm);
    out->json = json_pack("{s:s,s:o,s:[],s:o,s:[]}", "Timestamp", ts, "Gauges", gauges, "Points",
                          "Counters", counters, "Samples");
}

void tb__m_agent_host(tb__endpoint_t *ep, const json_t *a, tb__ep_out_t *out, tb__buf_t *c)
{
    (void)ep, (void)a, (void)c;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    json_t *errors = json_array();
    struct sysinfo si;
    json_t *mem = json_object(), *host = json_object(), *disk = json_object();
    if (sysinfo(&si) == 0) {
        double unit = si.mem_unit ? si.mem_unit : 1;
        double total = si.totalram * unit, fr = si.freeram * unit;
        long avail = 0;
        FILE *f = fopen("/proc/meminfo", "r");
        char line[256];
        while (f && fgets(line, sizeof(line), f))
            if (sscanf(line, "MemAvailable: %ld", &avail) == 1)
                break;
        if (f)
            fclose(f);
        double av = avail ? avail * 1024.0 : fr;
        json_object_set_new(mem, "total", json_integer((json_int_t)total));
        json_object_set_new(mem, "available", json_integer((json_int_t)av));
        json_object_set_new(mem, "used", json_integer((json_int_t)(total - av)));
        json_object_set_new(mem, "usedPercent", json_real(total ? 100.0 * (total - av) / total : 0));
        json_object_set_new(mem, "free", json_integer((json_int_t)fr));
        json_object_set_new(host, "uptime", json_integer(si.uptime));
        json_object_set_new(host, "bootTime", json_integer((json_int_t)(time(NULL) - si.uptime)));
        json_object_set_new(host, "procs", json_integer(si.procs));
    } else {
        json_array_append_new(errors, json_string("memory: sysinfo failed"));
    }
    struct utsname u;
    if (uname(&u) == 0) {
        json_object_set_new(host, "hostname", json_string(u.nodename));
        json_object_set_new(host, "os", json_string("linux"));
        json_object_set_new(host, "kernelVersion", json_string(u.release));
        json_object_set_new(host, "kernelArch", json_string(u.machine));
    }
    struct statvfs vf;
    if (statvfs("/", &vf) == 0) {
        double bs = (double)vf.f_frsize, total = vf.f_blocks * bs, fr = vf.f_bavail * bs;
        json_object_set_new(disk, "path", json_string("/"));
        json_object_set_new(disk, "total", json_integer((json_int_t)total));
        json_object_set_new(disk, "free", json_integer((json_int_t)fr));
        json_object_set_new(disk, "used", json_integer((json_int_t)(total - vf.f_bfree * bs)));
        json_object_set_new(disk, "usedPercent",
                            json_real(total ? 100.0 * (total - vf.f_bfree * bs) / total : 0));
    } else {
        json_array_append_new(errors, json_string("disk: statvfs failed"));
    }
    json_t *cpus = json_array();
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    for (long i = 0; i < ncpu && i < 1024; i++)
        json_array_append_new(cpus, json_pack("{s:I,s:I}", "cpu", (json_int_t)i, "cores",
                                              (json_int_t)1));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    json_int_t ns = (json_int_t)((t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec));
    if (!json_array_size(errors)) {
        json_decref(errors);
        errors = json_null();
    }
    out->json = json_pack("{s:o,s:o,s:o,s:o,s:I,s:o}", "Memory", mem, "CPU", cpus, "Host", host,
                          "Disk", disk, "CollectionTime", ns, "Errors", errors);
}
