/* Trace-driven run throughput (pesim bench trace): a synthetic logit trace of VGG-19 at width
 * 1/4 (20 exits, 10 classes, confidence growing with depth, so that exits fire at every depth)
 * replayed through the predictive policy with the accelerator model on, at each log level, into
 * fresh databases: simulated inferences per second. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "cfg.h"
#include "net.h"
#include "run.h"
#include "trace.h"

enum { BT_SAMPLES = 20000, BT_CLASSES = 10, BT_PATH = 512, BT_SET = 640 };

/* splitmix64 (Steele, Lea, Flood 2014) mapped to [0, 1). */
static double unit(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return (double)((z ^ (z >> 31)) >> 11) * 0x1.0p-53;
}

/* The synthetic trace: exit l's logits are noise plus a peak at the label that grows with l. */
int bench_write_trace(const char *path, const net *n, int samples)
{
    const int exits = net_exit_count(n);
    const char **names = calloc((size_t)exits + 1, sizeof *names);
    int64_t *bm = calloc((size_t)exits + 1, sizeof *bm),
            *hm = calloc((size_t)exits + 1, sizeof *hm);
    double *thr = calloc((size_t)exits + 1, sizeof *thr);
    float *z = malloc(((size_t)exits + 1) * BT_CLASSES * sizeof *z);
    char arch[BT_PATH], err[BT_PATH];
    int rc = names && bm && hm && thr && z ? 0 : -1;
    trace_writer *w = NULL;
    if (!rc && net_arch_text(n, arch, sizeof arch) >= (int)sizeof arch) rc = -1;
    for (int l = 0; !rc && l <= exits; l++) {
        const net_exit *x = net_exit_at(n, l);
        names[l] = x->name;
        bm[l] = (int64_t)x->backbone_macs_cum;
        hm[l] = (int64_t)x->macs;
        thr[l] = 4.0;
    }
    const char *keys[] = {"arch", "source"}, *vals[] = {arch, "pesim bench trace"};
    trace_header h = {.classes = BT_CLASSES,
                      .exits = exits,
                      .names = names,
                      .thresholds = thr,
                      .backbone_macs = bm,
                      .head_macs = hm,
                      .meta_keys = keys,
                      .meta_values = vals,
                      .n_meta = 2};
    if (!rc) rc = trace_writer_open(&w, path, &h, err, sizeof err);
    uint64_t s = 0x7ace;
    for (int i = 0; !rc && i < samples; i++) {
        int label = (int)(unit(&s) * BT_CLASSES);
        double ease = 0.5 + unit(&s); /* how early this sample becomes confident */
        for (int l = 0; l <= exits; l++)
            for (int c = 0; c < BT_CLASSES; c++)
                z[l * BT_CLASSES + c] = (float)(unit(&s) * 2.0 - 1.0 +
                                                (c == label ? 8.0 * ease * (l + 1) / exits : 0.0));
        rc = trace_writer_add(w, i, label, z, err, sizeof err);
    }
    if (!rc) {
        rc = trace_writer_finish(w, err, sizeof err);
        w = NULL;
    }
    if (rc) fprintf(stderr, "pesim bench trace: %s\n", err);
    trace_writer_abort(w);
    free(names);
    free(bm);
    free(hm);
    free(thr);
    free(z);
    return rc ? -1 : 0;
}

/* One run at a log level into a fresh database; inferences per second, or < 0. */
static double one_run(const char *trace_path, const char *db_path, const char *log, bool discard)
{
    char set[BT_SET];
    cfg *c = cfg_new();
    if (!c) return -1;
    snprintf(set, sizeof set, "experiment.trace=%s", trace_path);
    cfg_override(c, set);
    snprintf(set, sizeof set, "experiment.out=%s", db_path);
    cfg_override(c, set);
    snprintf(set, sizeof set, "experiment.log=%s", log);
    cfg_override(c, set);
    cfg_override(c, "exit.policy=predictive");
    cfg_override(c, "dvfs.governor=paper");
    double ips = -1;
    run_stats st;
    char err[BT_PATH];
    run_opts o = {.version = "bench", .discard_rows = discard};
    if (cfg_error_count(c) == 0 && cfg_finish(c) == 0 && !run_config(c, &o, &st, err, sizeof err))
        ips = st.seconds > 0 ? (double)st.samples / st.seconds : 0;
    else
        fprintf(stderr, "pesim bench trace: %s\n", cfg_error_count(c) ? cfg_error(c, 0) : err);
    cfg_free(c);
    return ips;
}

int bench_trace(FILE *out, const char *dir, double min_seconds)
{
    (void)min_seconds; /* each measurement is one whole run of BT_SAMPLES inferences */
    char tmp[BT_PATH], trace_path[BT_PATH + 16], db_path[BT_PATH + 32];
    net *n = NULL;
    char err[BT_PATH];
    if (snprintf(tmp, sizeof tmp, "%s/pesim-bench-trace-XXXXXX", dir) >= (int)sizeof tmp ||
        !mkdtemp(tmp))
        return -1;
    snprintf(trace_path, sizeof trace_path, "%s/t.trace", tmp);
    int rc = net_build(&n, "vgg19", 0.25, 32, 32, 1, BT_CLASSES, err, sizeof err) ? -1 : 0;
    if (!rc) rc = bench_write_trace(trace_path, n, BT_SAMPLES);
    /* "off": the simulation of log = all with every row dropped instead of written */
    static const char *const logs[] = {"off", "inferences", "evals", "all"};
    if (!rc)
        fprintf(out,
                "trace-driven runs: %d synthetic VGG-19 (width 1/4) samples, predictive policy, "
                "paper governor, accelerator model on, fresh database each\n"
                "  %-12s %14s\n",
                BT_SAMPLES, "log", "inferences/s");
    for (size_t i = 0; !rc && i < sizeof logs / sizeof logs[0]; i++) {
        snprintf(db_path, sizeof db_path, "%s/%s.db", tmp, logs[i]);
        bool off = !strcmp(logs[i], "off");
        double ips = one_run(trace_path, db_path, off ? "all" : logs[i], off);
        if (ips < 0)
            rc = -1;
        else
            fprintf(out, "  %-12s %14.0f\n", logs[i], ips);
        bench_remove_db(db_path);
    }
    unlink(trace_path);
    rmdir(tmp);
    net_free(n);
    return rc;
}
