/* pesim run: exit sources (functional engine or trace) behind one interface, the per-sample
 * policy loop in batches, and the rows it writes. Buffers are sized once per run; the sample
 * loop allocates nothing. */
#include "run.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "acc.h"
#include "data.h"
#include "eng.h"
#include "gov.h"
#include "model.h"
#include "net.h"
#include "opp.h"
#include "pol.h"
#include "pwr.h"
#include "sha256.h"
#include "trace.h"
#include "util.h"

#define RUN_NAME_MAX 64
#define MAX_COARSE   256
#define MAX_KERNEL   POL_MAX_KERNEL
#define PARAM_MAX    64
#define KEY_NAME_MAX 32  /* longest [exit] key name looked up for an error location */
#define ERR_LOC_MAX  512 /* longest "FILE:LINE" of an error location */
static const double PROGRESS_PERIOD_S = 0.5;
enum { BUSY_POLL_MS = 50 }; /* between two looks at a run another process is writing */

/* ---- exit sources ---- */

/* One interface over the functional engine and a trace: batches of samples, the logits of one
 * exit of one sample of the batch (computed on demand), and every exit of a sample. */
typedef struct source {
    int exits, classes;
    double *thresholds; /* T_l, exits entries */
    int64_t *bmacs;     /* cumulative backbone MACs at exit l (exits: the whole backbone) */
    int64_t *hmacs;     /* head MACs of exit l (exits: 0) */
    bool macs_known;
    const net *net; /* NULL for a trace without an architecture */
    size_t n;       /* samples selected */
    /* functional */
    model *m;
    data_set ds;
    size_t first; /* first dataset index */
    eng *e;
    float *batch_logits; /* [exit][sample of batch][class] */
    bool *computed;      /* per exit: batch_logits holds it */
    float *all;          /* one sample's (exits + 1) × classes, gathered */
    net *own_net;        /* built from a trace's arch text */
    /* trace */
    trace *t;      /* owned by the trace cache (below) when held there */
    size_t *index; /* trace sample index of each selected sample */
    /* the batch in flight */
    size_t batch_first;
    int nb;
} source;

static int64_t src_sample_id(const source *s, int j)
{
    size_t k = s->batch_first + (size_t)j;
    return s->t ? trace_sample_id(s->t, s->index[k]) : (int64_t)(s->first + k);
}

static int src_label(const source *s, int j)
{
    size_t k = s->batch_first + (size_t)j;
    return s->t ? trace_label(s->t, s->index[k]) : s->ds.y[s->first + k];
}

/* Starts the batch of selected samples first .. first + nb - 1. */
static int src_batch(source *s, size_t first, int nb, char *err, size_t errlen)
{
    s->batch_first = first;
    s->nb = nb;
    if (s->t) return RUN_OK;
    memset(s->computed, 0, ((size_t)s->exits + 1) * sizeof *s->computed);
    if (eng_begin(s->e, data_image(&s->ds, s->first + first), nb)) {
        util_errf(err, errlen, "engine: %s", eng_error(s->e));
        return RUN_EINTERNAL;
    }
    return RUN_OK;
}

/* Exit l of the whole batch, computed once (functional sources). */
static int src_compute(source *s, int l)
{
    if (s->computed[l]) return 0;
    size_t stride = (size_t)RUN_BATCH * (size_t)s->classes;
    if (eng_exit(s->e, l, s->batch_logits + (size_t)l * stride)) return -1;
    s->computed[l] = true;
    return 0;
}

static const float *src_exit(source *s, int j, int l)
{
    if (s->t) return trace_exit_logits(s->t, s->index[s->batch_first + (size_t)j], l);
    if (src_compute(s, l)) return NULL;
    size_t stride = (size_t)RUN_BATCH * (size_t)s->classes;
    return s->batch_logits + (size_t)l * stride + (size_t)j * (size_t)s->classes;
}

/* Every exit's logits of sample j, exit-major (the extra all-exits pass, not charged). */
static const float *src_all(source *s, int j)
{
    if (s->t) return trace_logits(s->t, s->index[s->batch_first + (size_t)j]);
    for (int l = 0; l <= s->exits; l++) {
        const float *z = src_exit(s, j, l);
        if (!z) return NULL;
        memcpy(s->all + (size_t)l * (size_t)s->classes, z, (size_t)s->classes * sizeof *z);
    }
    return s->all;
}

/* pol_logits_fn over sample j of the batch. */
typedef struct logits_ctx {
    source *s;
    int j;
} logits_ctx;

static int logits_cb(void *ctx, int exit, float *z)
{
    logits_ctx *c = ctx;
    const float *p = src_exit(c->s, c->j, exit);
    if (!p) return -1;
    memcpy(z, p, (size_t)c->s->classes * sizeof *z);
    return 0;
}

/* The last trace loaded, kept for the next run of this process: a sweep runs many points on
 * one trace, and loading it (10 ms for a 10 000-sample VGG-19 trace) was a tenth of a
 * trace-driven point. It is reused only while the file is the same one, unchanged (device,
 * inode, size, modification and status-change times as when it was loaded). */
static struct trace_cache {
    char *path;
    struct stat st;
    trace *t;
} trace_cache;

void run_cache_clear(void)
{
    trace_free(trace_cache.t);
    free(trace_cache.path);
    memset(&trace_cache, 0, sizeof trace_cache);
}

static bool same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
           a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* Load the trace at path, or take the cached one when the file has not changed. The cache
 * keeps what it hands out; a new trace replaces it (the previous one is freed unless src still
 * uses it, which cannot happen: one source at a time). */
static int load_trace_cached(const char *path, trace **out, char *err, size_t errlen)
{
    struct stat st;
    bool known = stat(path, &st) == 0;
    if (known && trace_cache.t && !strcmp(trace_cache.path, path) &&
        same_file(&st, &trace_cache.st)) {
        *out = trace_cache.t;
        return 0;
    }
    if (trace_load(path, out, err, errlen)) return -1;
    char *copy = known ? strdup(path) : NULL;
    if (copy) {
        run_cache_clear();
        trace_cache = (struct trace_cache){.path = copy, .st = st, .t = *out};
    }
    return 0;
}

static void src_free(source *s)
{
    model_free(s->m);
    data_free(&s->ds);
    eng_free(s->e);
    free(s->batch_logits);
    free(s->computed);
    free(s->all);
    net_free(s->own_net);
    if (s->t != trace_cache.t) trace_free(s->t);
    free(s->index);
    free(s->thresholds);
    free(s->bmacs);
    free(s->hmacs);
    memset(s, 0, sizeof *s);
}

/* Costs per exit from the network's tables. */
static int costs_from_net(source *s, const net *n)
{
    for (int l = 0; l < s->exits; l++) {
        const net_exit *x = net_exit_at(n, l);
        s->bmacs[l] = (int64_t)x->backbone_macs_cum;
        s->hmacs[l] = (int64_t)x->macs;
    }
    s->bmacs[s->exits] = (int64_t)net_get_totals(n)->backbone_macs;
    s->hmacs[s->exits] = 0;
    s->macs_known = true;
    return RUN_OK;
}

static int alloc_tables(source *s)
{
    s->thresholds = calloc((size_t)s->exits + 1, sizeof *s->thresholds);
    s->bmacs = calloc((size_t)s->exits + 1, sizeof *s->bmacs);
    s->hmacs = calloc((size_t)s->exits + 1, sizeof *s->hmacs);
    return s->thresholds && s->bmacs && s->hmacs ? RUN_OK : RUN_EINTERNAL;
}

/* Selected range [first, first + count) of `available` samples (count 0: the rest). */
static int pick_range(const cfg *c, size_t available, size_t *first, size_t *count, char *err,
                      size_t errlen)
{
    long long f = cfg_int(c, "experiment", "first_sample"), k = cfg_int(c, "experiment", "samples");
    if ((size_t)f >= available) {
        util_errf(err, errlen, "[experiment] first_sample = %lld is past the last sample (%zu)", f,
                  available - 1);
        return RUN_EINPUT;
    }
    *first = (size_t)f;
    *count = available - (size_t)f;
    if (k > 0 && (size_t)k < *count) *count = (size_t)k;
    return RUN_OK;
}

/* The dataset directory: [experiment] data_dir, else the dataset's own, else where quickstart.sh
 * converts MNIST. */
static const char *data_dir(const cfg *c, const char *name)
{
    const char *dir = cfg_get(c, "experiment", "data_dir");
    if (dir && *dir) return dir;
    const data_info *info = data_find(name);
    return info && !info->default_dir ? ".deps/mnist" : NULL;
}

static int open_functional(source *s, const cfg *c, char *err, size_t errlen)
{
    const char *path = cfg_get(c, "experiment", "model");
    if (model_load(path, &s->m, err, errlen)) return RUN_EINPUT;
    const net *n = s->net = s->m->net;
    s->exits = net_exit_count(n);
    s->classes = net_classes(n);
    if (alloc_tables(s)) return RUN_EINTERNAL;
    for (int l = 0; l < s->exits; l++) s->thresholds[l] = s->m->thresholds[l];
    costs_from_net(s, n);
    const char *name = cfg_get(c, "experiment", "data");
    net_shape in = net_input(n);
    if (data_load(&s->ds, name, cfg_get(c, "experiment", "split"), data_dir(c, name), in.h, err,
                  errlen))
        return RUN_EINPUT;
    if (s->ds.channels != in.c || s->ds.height != in.h || s->ds.width != in.w ||
        s->ds.classes > s->classes) {
        util_errf(err, errlen, "dataset %s (%dx%dx%d, %d classes) does not fit model %s", name,
                  s->ds.height, s->ds.width, s->ds.channels, s->ds.classes, path);
        return RUN_EINPUT;
    }
    int rc = pick_range(c, s->ds.n, &s->first, &s->n, err, errlen);
    if (rc) return rc;
    s->e = eng_new(n, (const float *const *)s->m->params, RUN_BATCH, err, errlen);
    size_t per = (size_t)(s->exits + 1) * (size_t)s->classes;
    s->batch_logits = malloc((size_t)RUN_BATCH * per * sizeof *s->batch_logits);
    s->computed = calloc((size_t)s->exits + 1, sizeof *s->computed);
    s->all = malloc(per * sizeof *s->all);
    if (!s->e) return RUN_EINPUT;
    return s->batch_logits && s->computed && s->all ? RUN_OK : RUN_EINTERNAL;
}

static int open_trace(source *s, const cfg *c, FILE *warn, char *err, size_t errlen)
{
    const char *path = cfg_get(c, "experiment", "trace");
    if (load_trace_cached(path, &s->t, err, errlen)) return RUN_EINPUT;
    s->exits = trace_exits(s->t);
    s->classes = trace_classes(s->t);
    if (alloc_tables(s)) return RUN_EINTERNAL;
    for (int l = 0; l < s->exits; l++) s->thresholds[l] = trace_threshold(s->t, l);
    const char *arch = trace_meta(s->t, "arch");
    if (arch && !net_build_arch_text(&s->own_net, arch, err, errlen)) {
        if (net_exit_count(s->own_net) != s->exits || net_classes(s->own_net) != s->classes) {
            util_errf(err, errlen,
                      "%s: its architecture has %d exits and %d classes, its logits %d "
                      "and %d",
                      path, net_exit_count(s->own_net), net_classes(s->own_net), s->exits,
                      s->classes);
            return RUN_EINPUT;
        }
        s->net = s->own_net;
    }
    s->macs_known = true;
    for (int l = 0; l <= s->exits && s->macs_known; l++) {
        s->bmacs[l] = trace_backbone_macs(s->t, l);
        s->hmacs[l] = l < s->exits ? trace_head_macs(s->t, l) : 0;
        if (s->bmacs[l] < 0 || s->hmacs[l] < 0) s->macs_known = false;
    }
    if (!s->macs_known && s->net) costs_from_net(s, s->net);
    if (!s->macs_known) {
        memset(s->bmacs, 0, ((size_t)s->exits + 1) * sizeof *s->bmacs);
        memset(s->hmacs, 0, ((size_t)s->exits + 1) * sizeof *s->hmacs);
        if (warn)
            fprintf(warn,
                    "pesim run: %s has no MAC counts and no architecture: backbone_macs and "
                    "exit_macs are written as 0\n",
                    path);
    }
    /* the samples whose dataset index falls in the configured range, in index order */
    size_t held = trace_samples(s->t);
    long long f = cfg_int(c, "experiment", "first_sample"), k = cfg_int(c, "experiment", "samples");
    s->index = malloc(held * sizeof *s->index);
    if (!s->index) return RUN_EINTERNAL;
    for (size_t i = 0; i < held && (k == 0 || s->n < (size_t)k); i++)
        if (trace_sample_id(s->t, i) >= f) s->index[s->n++] = i;
    if (s->n == 0) {
        util_errf(err, errlen, "%s: no sample at or after [experiment] first_sample = %lld", path,
                  f);
        return RUN_EINPUT;
    }
    return RUN_OK;
}

/* ---- the accelerator: cost table, governor, arrivals ---- */

typedef struct hw {
    bool on;           /* an architecture is known: latency and energy are simulated */
    bool log_segments; /* [experiment] log = all: segment and transition rows */
    opp_table opp;
    pwr_params pw;
    acc_config ac;
    acc_table *table;
    exec *x;
    arrivals *arr;
    double prev_finish_ns;
    double classic_energy_nj; /* the whole backbone at the fastest level */
} hw;

static void hw_free(hw *h)
{
    exec_free(h->x);
    acc_table_free(h->table);
    arrivals_free(h->arr);
    memset(h, 0, sizeof *h);
}

static pwr_params power_of(const cfg *c)
{
    return (pwr_params){.v_ref_v = cfg_real(c, "power", "v_ref_v"),
                        .mac_pj = cfg_real(c, "power", "mac_pj"),
                        .sram_pj_per_byte = cfg_real(c, "power", "sram_pj_per_byte"),
                        .gbuf_pj_per_byte = cfg_real(c, "power", "gbuf_pj_per_byte"),
                        .vector_op_pj = cfg_real(c, "power", "vector_op_pj"),
                        .noc_pj_per_byte = cfg_real(c, "power", "noc_pj_per_byte"),
                        .dram_pj_per_byte = cfg_real(c, "power", "dram_pj_per_byte"),
                        .ctrl_op_pj = cfg_real(c, "power", "ctrl_op_pj"),
                        .static_mw = cfg_real(c, "power", "static_mw"),
                        .static_v_exponent = cfg_real(c, "power", "static_v_exponent"),
                        .gated_mw = cfg_real(c, "power", "gated_mw")};
}

static acc_config accel_of(const cfg *c)
{
    return (acc_config){.cores = (int)cfg_int(c, "accelerator", "cores"),
                        .pe_rows = (int)cfg_int(c, "accelerator", "pe_rows"),
                        .pe_cols = (int)cfg_int(c, "accelerator", "pe_cols"),
                        .sram_kib = (int)cfg_int(c, "accelerator", "sram_kib"),
                        .gbuf_kib = (int)cfg_int(c, "accelerator", "gbuf_kib"),
                        .dram_bytes_per_ns = cfg_real(c, "accelerator", "dram_bytes_per_ns"),
                        .noc_bytes_per_cycle = cfg_real(c, "accelerator", "noc_bytes_per_cycle"),
                        .vector_lanes = (int)cfg_int(c, "accelerator", "vector_lanes"),
                        .ctrl_mhz = cfg_real(c, "accelerator", "ctrl_mhz")};
}

/* [power] measured_table: fit C_eff and leakage, and take static power and its exponent from
 * the fit; the fit is printed to msg. */
static int fit_power(const char *path, pwr_params *p, FILE *msg, char *err, size_t errlen)
{
    double *f = NULL, *v = NULL, *w = NULL;
    int n = 0;
    pwr_fit_result r;
    int rc = pwr_read_csv(path, &f, &v, &w, &n, err, errlen);
    if (!rc) rc = pwr_fit(f, v, w, n, p->v_ref_v, &r, err, errlen);
    free(f);
    free(v);
    free(w);
    if (rc) return RUN_EINPUT;
    p->static_mw = r.leak_mw;
    p->static_v_exponent = r.exponent;
    if (msg)
        fprintf(msg,
                "power fit of %s (%d points): C_eff = %.4g nF, leakage = %.4g mW at %.3g V, "
                "exponent %.3g, RMS residual %.3g mW\n",
                path, n, r.c_eff_nf, r.leak_mw, p->v_ref_v, r.exponent, r.rms_mw);
    return RUN_OK;
}

int run_cost_table(const cfg *c, const net *n, opp_table *o, pwr_params *p, acc_config *a,
                   acc_table **t, FILE *msg, char *err, size_t errlen)
{
    const char *opp_path = cfg_get(c, "dvfs", "opp_table");
    if (opp_path && *opp_path) {
        if (opp_load(opp_path, o, err, errlen)) return RUN_EINPUT;
    } else {
        opp_generic(o);
    }
    *p = power_of(c);
    *a = accel_of(c);
    const char *measured = cfg_get(c, "power", "measured_table");
    if (measured && *measured && fit_power(measured, p, msg, err, errlen)) return RUN_EINPUT;
    if (acc_config_check(a, err, errlen)) return RUN_EINPUT;
    const char *costs = cfg_get(c, "accelerator", "cost_table");
    int rc = costs && *costs ? acc_table_import_csv(costs, n, o, p, a->ctrl_mhz, t, err, errlen)
                             : acc_table_build(a, n, o, p, t, err, errlen);
    return rc == ACC_ENOMEM ? RUN_EINTERNAL : rc ? RUN_EINPUT : RUN_OK;
}

static const char *const ARRIVALS[] = {"back_to_back", "periodic", "poisson", "trace"};

/* Builds the cost table of n and the executor of the configured governor and workload. */
static int hw_open(hw *h, const cfg *c, const net *n, bool full_des, FILE *msg, char *err,
                   size_t errlen)
{
    int rc = run_cost_table(c, n, &h->opp, &h->pw, &h->ac, &h->table, msg, err, errlen);
    if (rc) return rc;
    int kind = gov_by_name(cfg_get(c, "dvfs", "governor"));
    gov_config g = {.kind = (gov_kind)kind,
                    .static_level = (int)cfg_int(c, "dvfs", "level"),
                    .extra_transition_ns = cfg_real(c, "dvfs", "transition_ns"),
                    .extra_transition_nj = cfg_real(c, "dvfs", "transition_nj"),
                    .deadline_ns = cfg_real(c, "workload", "deadline_us") * 1e3};
    if (kind < 0 ||
        exec_new(n, h->table, &h->opp, &h->pw, &g, full_des, &h->ac, &h->x, err, errlen))
        return RUN_EINPUT;
    const char *arr = cfg_get(c, "workload", "arrival");
    int ak = 0;
    while (ak < (int)(sizeof ARRIVALS / sizeof ARRIVALS[0]) && strcmp(ARRIVALS[ak], arr)) ak++;
    if (arrivals_new((gov_arrival)ak, cfg_real(c, "workload", "period_us"),
                     cfg_real(c, "workload", "rate_per_s"), cfg_get(c, "workload", "arrival_trace"),
                     (uint64_t)cfg_int(c, "experiment", "seed"), &h->arr, err, errlen))
        return RUN_EINPUT;
    const int top = h->opp.n - 1;
    for (int i = 0; i < net_op_count(n); i++)
        h->classic_energy_nj += acc_op(h->table, i, top)->energy.total_nj;
    h->on = true;
    return RUN_OK;
}

/* layer_costs rows: every backbone op (layer = op index) and exit head (layer = op count +
 * exit index, name "head NAME") at every level. */
static int hw_layer_costs(const hw *h, const net *n, db *d, int64_t run_id)
{
    char name[NET_NAME_MAX + 8];
    const int ops = net_op_count(n), exits = net_exit_count(n);
    int rc = 0;
    for (int k = 0; k < ops + exits && !rc; k++)
        for (int l = 0; l < h->opp.n && !rc; l++) {
            const acc_cost *a = k < ops ? acc_op(h->table, k, l) : acc_head(h->table, k - ops, l);
            const net_op *o = k < ops ? net_op_at(n, k) : NULL;
            snprintf(name, sizeof name, "%s%s", o ? "" : "head ",
                     o ? o->name : net_exit_at(n, k - ops)->name);
            db_layer_cost r = {.run_id = run_id,
                               .layer = k,
                               .name = name,
                               .opp = l,
                               .freq_mhz = h->opp.levels[l].freq_mhz,
                               .vdd_v = h->opp.levels[l].vdd_v,
                               .cycles = (int64_t)a->cycles,
                               .macs = (int64_t)a->counts.macs,
                               .time_ns = a->time_ns,
                               .dynamic_nj = a->energy.compute_nj + a->energy.memory_nj,
                               .static_nj = a->energy.static_nj};
            rc = db_add_layer_cost(d, &r);
        }
    return rc;
}

/* ---- configuration ---- */

/* Index of exit name or number tok in the source; -1 when unknown. */
static int exit_index(const source *s, const char *tok)
{
    char *end;
    long v = strtol(tok, &end, 10);
    if (end != tok && *end == '\0') return v >= 0 && v < s->exits ? (int)v : -1;
    if (s->net) {
        int x = net_exit_by_name(s->net, tok);
        return x < s->exits ? x : -1;
    }
    for (int l = 0; l < s->exits; l++)
        if (s->t && !strcmp(trace_exit_name(s->t, l), tok)) return l;
    return -1;
}

/* [exit] exits as indices into out; the architecture's default list when empty. */
static int coarse_list(const cfg *c, const source *s, int *out, int *n, char *err, size_t errlen)
{
    const char *list = cfg_get(c, "exit", "exits");
    *n = 0;
    if (!list || !*list) {
        const int *def = NULL;
        int k = s->net ? net_coarse_exits(s->net, &def) : 0;
        if (k == 0) {
            util_errf(err, errlen,
                      "[exit] exits is empty and the network has no default coarse "
                      "exits; list them");
            return RUN_EINPUT;
        }
        for (int i = 0; i < k; i++) out[(*n)++] = def[i];
        return RUN_OK;
    }
    char tok[RUN_NAME_MAX];
    const char *p = list;
    while (*p) {
        while (*p == ',' || isspace((unsigned char)*p)) p++;
        size_t len = 0;
        while (p[len] && p[len] != ',') len++;
        while (len && isspace((unsigned char)p[len - 1])) len--;
        if (!len) break;
        if (len >= sizeof tok || *n == MAX_COARSE) {
            util_errf(err, errlen, "[exit] exits: entry too long or too many entries");
            return RUN_EINPUT;
        }
        memcpy(tok, p, len);
        tok[len] = '\0';
        int x = exit_index(s, tok);
        if (x < 0) {
            util_errf(err, errlen, "[exit] exits: '%s' is not an exit of this network", tok);
            return RUN_EINPUT;
        }
        out[(*n)++] = x;
        p += len;
        while (*p && *p != ',') p++;
    }
    return RUN_OK;
}

/* Prefix an "[exit] KEY ..." message of pol_config_check with where KEY was set ("FILE:LINE"
 * or "-s exit.KEY"), so that the one-line error names the config that holds the bad value. */
static void locate_exit_error(const cfg *c, char *err, size_t errlen)
{
    static const char prefix[] = "[exit] ";
    char key[KEY_NAME_MAX], where[ERR_LOC_MAX], msg[ERR_LOC_MAX + 512];
    if (strncmp(err, prefix, sizeof prefix - 1)) return;
    size_t n = strcspn(err + sizeof prefix - 1, " :=");
    if (n == 0 || n >= sizeof key) return;
    memcpy(key, err + sizeof prefix - 1, n);
    key[n] = '\0';
    const char *origin = cfg_origin(c, "exit", key, where, sizeof where);
    if (!strcmp(origin, "default") || !strcmp(origin, "unknown")) return;
    if (!strcmp(origin, "-s"))
        snprintf(msg, sizeof msg, "-s exit.%s: %s", key, err);
    else
        snprintf(msg, sizeof msg, "%s: %s", origin, err);
    snprintf(err, errlen, "%s", msg);
}

static int make_policy(const cfg *c, const source *s, int *coarse, pol_config *pc, char *err,
                       size_t errlen)
{
    memset(pc, 0, sizeof *pc);
    pc->policy = (pol_policy)pol_policy_by_name(cfg_get(c, "exit", "policy"));
    pc->rule = (pol_rule)pol_rule_by_name(cfg_get(c, "exit", "rule"));
    pc->beta = cfg_real(c, "exit", "beta");
    pc->l0 = (int)cfg_int(c, "exit", "l0");
    pc->rounds = (int)cfg_int(c, "exit", "rounds");
    pc->patience = (int)cfg_int(c, "exit", "patience");
    double k[MAX_KERNEL + 1];
    size_t kl = cfg_real_list(c, "exit", "kernel", k, MAX_KERNEL + 1);
    pc->kernel_len = (int)kl;
    for (size_t i = 0; i < kl && i < MAX_KERNEL; i++) pc->kernel[i] = (float)k[i];
    pc->n_exits = s->exits;
    pc->classes = s->classes;
    pc->thresholds = s->thresholds;
    if (pc->policy == POL_COARSE) {
        int rc = coarse_list(c, s, coarse, &pc->n_coarse, err, errlen);
        if (rc) return rc;
        pc->coarse = coarse;
    }
    if (!pol_config_check(pc, err, errlen)) return RUN_OK;
    locate_exit_error(c, err, errlen);
    return RUN_EINPUT;
}

/* Records every effective parameter, then the run's derived facts under "run.". */
static int record_params(db *d, int64_t id, const cfg *c, const source *s, const hw *h,
                         const char *source_kind)
{
    int rc = 0;
    char key[PARAM_MAX * 2], val[PARAM_MAX];
    for (size_t i = 0; i < cfg_schema_len && !rc; i++) {
        const cfg_key *k = &cfg_schema[i];
        if (!strcmp(k->section, "sweep")) continue;
        snprintf(key, sizeof key, "%s.%s", k->section, k->key);
        const char *v = cfg_get(c, k->section, k->key);
        rc = db_run_param(d, id, key, v ? v : "");
    }
    snprintf(val, sizeof val, "%lld", (long long)s->bmacs[s->exits]);
    if (!rc) rc = db_run_param(d, id, "run.classic_macs", val);
    if (!rc) rc = db_run_param(d, id, "run.source", source_kind);
    snprintf(val, sizeof val, "%d", s->exits);
    if (!rc) rc = db_run_param(d, id, "run.exits", val);
    snprintf(val, sizeof val, "%zu", s->n);
    if (!rc) rc = db_run_param(d, id, "run.samples", val);
    if (h->on) {
        const struct {
            const char *key;
            double v;
        } facts[] = {{"run.classic_energy_nj", h->classic_energy_nj},
                     {"run.classic_latency_ns", exec_classic_ns(h->x)},
                     {"run.deadline_ns", exec_deadline_ns(h->x)},
                     {"run.opp_levels", h->opp.n}};
        for (size_t i = 0; i < sizeof facts / sizeof facts[0] && !rc; i++) {
            snprintf(val, sizeof val, "%.17g", facts[i].v);
            rc = db_run_param(d, id, facts[i].key, val);
        }
    }
    return rc;
}

/* ---- the sample loop ---- */

typedef struct totals {
    size_t samples, correct, evals, predictions, misses, deadline_misses;
    double cost, latency_ns, energy_nj;
} totals;

/* The accelerator's part of a sample: arrival, timeline, latency and energy into r; segment
 * and transition rows. */
static int simulate_sample(hw *h, db *d, const pol_outcome *o, int true_first, db_inference *r,
                           char *err, size_t errlen)
{
    double arrival = arrivals_next_ns(h->arr, h->prev_finish_ns);
    if (arrival < 0) {
        util_errf(err, errlen, "[workload] arrival_trace has fewer arrivals than samples");
        return RUN_EINPUT;
    }
    exec_result x;
    if (exec_inference(h->x, o, true_first, arrival, &x)) {
        util_errf(err, errlen, "sample %lld: the accelerator timeline failed",
                  (long long)r->sample);
        return RUN_EINTERNAL;
    }
    h->prev_finish_ns = x.finish_ns;
    r->latency_ns = x.latency_ns;
    r->energy_nj = x.energy_nj;
    r->deadline_met = x.deadline_met;
    int rc = 0;
    if (!h->log_segments) return RUN_OK;
    for (int k = 0; k < x.n_segments && !rc; k++) {
        db_segment g = x.segments[k];
        g.run_id = r->run_id;
        g.sample = r->sample;
        rc = db_add_segment(d, &g);
    }
    for (int k = 0; k < x.n_transitions && !rc; k++) {
        db_dvfs v = x.transitions[k];
        v.run_id = r->run_id;
        v.sample = r->sample;
        rc = db_add_dvfs(d, &v);
    }
    if (rc) util_errf(err, errlen, "%s", db_errmsg(d));
    return rc ? RUN_EDB : RUN_OK;
}

/* Writes one sample's rows. */
static int write_sample(db *d, int64_t run_id, const source *s, hw *h, bool log_evals, int j,
                        const pol_outcome *o, int true_first, totals *t, char *err, size_t errlen)
{
    int label = src_label(s, j);
    int64_t id = src_sample_id(s, j);
    int64_t exit_macs = 0;
    for (int k = 0; k < o->n_exit_evals; k++) exit_macs += s->hmacs[o->evals[k].exit];
    db_inference r = {.run_id = run_id,
                      .sample = id,
                      .label = label,
                      .pred = o->pred,
                      .correct = o->pred == label,
                      .exit_layer = o->exit_layer,
                      .first_predicted_exit = o->first_predicted_exit,
                      .n_exit_evals = o->n_exit_evals,
                      .n_predictions = o->n_predictions,
                      .n_mispredictions = o->n_mispredictions,
                      .backbone_macs = s->bmacs[o->exit_layer],
                      .exit_macs = exit_macs,
                      .predictor_ops = (int64_t)o->predictor_ops,
                      .latency_ns = NAN,
                      .energy_nj = NAN,
                      .deadline_met = -1};
    int rc = h->on ? simulate_sample(h, d, o, true_first, &r, err, errlen) : RUN_OK;
    if (rc) return rc;
    rc = db_add_inference(d, &r);
    for (int k = 0; log_evals && k < o->n_exit_evals && !rc; k++) {
        const pol_eval *e = &o->evals[k];
        db_exit_eval x = {.run_id = run_id,
                          .sample = id,
                          .seq = k,
                          .layer = e->exit,
                          .score = e->score,
                          .threshold = e->threshold,
                          .fired = e->fired,
                          .predicted_jump = e->predicted_jump,
                          .true_first_exit = true_first < 0 ? s->exits : true_first};
        rc = db_add_exit_eval(d, &x);
    }
    t->samples++;
    t->correct += r.correct;
    t->evals += (size_t)o->n_exit_evals;
    t->predictions += (size_t)o->n_predictions;
    t->misses += (size_t)o->n_mispredictions;
    t->cost += (double)(r.backbone_macs + r.exit_macs + r.predictor_ops);
    if (h->on) {
        t->latency_ns += r.latency_ns;
        t->energy_nj += r.energy_nj;
        t->deadline_misses += !r.deadline_met;
    }
    if (rc) util_errf(err, errlen, "%s", db_errmsg(d));
    return rc ? RUN_EDB : RUN_OK;
}

static void progress(const run_opts *o, size_t done, size_t total, double t0, bool final)
{
    if (!o->progress || !o->progress_tty) return;
    double el = util_now_s() - t0;
    fprintf(o->progress, "\rrun: %zu/%zu samples, %.0f inferences/s%s", done, total,
            el > 0 ? (double)done / el : 0.0, final ? "\n" : "");
    fflush(o->progress);
}

static int loop(source *s, const pol_config *pc, hw *h, bool log_evals, db *d, int64_t run_id,
                const run_opts *o, totals *t, char *err, size_t errlen)
{
    float *work = malloc(pol_work_floats(pc) * sizeof *work);
    pol_eval *evals = malloc((size_t)RUN_BATCH * ((size_t)s->exits + 1) * sizeof *evals);
    pol_outcome *outs = malloc(RUN_BATCH * sizeof *outs);
    int *tf = malloc(RUN_BATCH * sizeof *tf);
    int rc = work && evals && outs && tf ? RUN_OK : RUN_EINTERNAL;
    if (rc) util_errf(err, errlen, "run: out of memory");
    double t0 = util_now_s(), last = t0;
    const bool oracle = pc->policy == POL_ORACLE;
    for (size_t first = 0; first < s->n && !rc; first += RUN_BATCH) {
        int nb = (int)(s->n - first < RUN_BATCH ? s->n - first : RUN_BATCH);
        rc = src_batch(s, first, nb, err, errlen);
        /* the oracle needs the true first exit before it runs; every other policy asks for
         * exits on demand first, and the all-exits pass that logs the true first comes after */
        for (int pass = oracle ? 0 : 1; pass < 3 && !rc; pass++)
            for (int j = 0; j < nb && !rc; j++) {
                if (pass != 1) {
                    const float *all = src_all(s, j);
                    if (!all) {
                        util_errf(err, errlen, "engine: %s", s->e ? eng_error(s->e) : "?");
                        rc = RUN_EINTERNAL;
                        break;
                    }
                    tf[j] = pol_true_first(pc, all, work);
                    if (pass == 0) continue;
                    rc = write_sample(d, run_id, s, h, log_evals, j, &outs[j], tf[j], t, err,
                                      errlen);
                    continue;
                }
                logits_ctx ctx = {s, j};
                outs[j].evals = evals + (size_t)j * ((size_t)s->exits + 1);
                int prc = pol_run(pc, logits_cb, &ctx, oracle ? tf[j] : -1, work, &outs[j]);
                if (prc) {
                    util_errf(err, errlen, "sample %lld: %s", (long long)src_sample_id(s, j),
                              prc == POL_ESRC && s->e ? eng_error(s->e) : "policy failed");
                    rc = RUN_EINTERNAL;
                }
            }
        double tnow = util_now_s();
        if (tnow - last >= PROGRESS_PERIOD_S) {
            last = tnow;
            progress(o, first + (size_t)nb, s->n, t0, false);
        }
    }
    if (!rc) progress(o, s->n, s->n, t0, true);
    free(work);
    free(evals);
    free(outs);
    free(tf);
    return rc;
}

int run_config(const cfg *c, const run_opts *o, run_stats *st, char *err, size_t errlen)
{
    memset(st, 0, sizeof *st);
    st->rel_computation = st->hit_rate = NAN;
    st->mean_latency_ns = st->mean_energy_nj = st->rel_energy = NAN;
    source s = {0};
    const bool from_trace =
        cfg_is_set(c, "experiment", "trace") && *cfg_get(c, "experiment", "trace");
    int rc = from_trace ? open_trace(&s, c, o->progress, err, errlen)
                        : open_functional(&s, c, err, errlen);
    if (rc == RUN_EINTERNAL && !err[0]) util_errf(err, errlen, "run: out of memory");
    int coarse[MAX_COARSE];
    pol_config pc;
    if (!rc) rc = make_policy(c, &s, coarse, &pc, err, errlen);
    hw h = {0};
    if (!rc && s.net) rc = hw_open(&h, c, s.net, o->full_des, o->progress, err, errlen);
    const char *log = cfg_get(c, "experiment", "log");
    h.log_segments = !strcmp(log, "all");
    if (!rc && !s.net && o->progress)
        fprintf(o->progress, "pesim run: the trace has no architecture: latency and energy are "
                             "not simulated (NULL)\n");
    if (rc) {
        hw_free(&h);
        src_free(&s);
        return rc;
    }

    char *text = cfg_effective_text(c);
    char hash[SHA256_HEX_CHARS + 1];
    db *d = NULL;
    if (!text) {
        hw_free(&h);
        src_free(&s);
        util_errf(err, errlen, "run: out of memory");
        return RUN_EINTERNAL;
    }
    sha256_hex(text, strlen(text), hash);
    db_run_spec spec = {.config_text = text,
                        .config_sha256 = hash,
                        .seed = (uint64_t)cfg_int(c, "experiment", "seed"),
                        .pesim_version = o->version ? o->version : "?"};
    const char *out = cfg_get(c, "experiment", "out");
    rc = db_open(&d, out, DB_CREATE, err, errlen) ? RUN_EDB : RUN_OK;
    if (!rc && db_run_begin(d, &spec, o->force, &st->run_id, &st->outcome, err, errlen))
        rc = RUN_EDB;
    /* Another live process is writing this very run (a second sweep of the same config): wait
     * until it is done (then skipped here) or its writer has gone (then redone here). */
    for (bool told = false; !rc && st->outcome == DB_RUN_BUSY; told = true) {
        if (!told && o->progress)
            fprintf(o->progress, "pesim run: run %lld is being written by process %ld; waiting\n",
                    (long long)st->run_id, db_busy_pid(d));
        util_sleep_ms(BUSY_POLL_MS);
        if (db_run_begin(d, &spec, o->force, &st->run_id, &st->outcome, err, errlen)) rc = RUN_EDB;
    }
    if (!rc && st->outcome != DB_RUN_SKIPPED) {
        totals t = {0};
        double t0 = util_now_s();
        /* Parameters first, committed; then sample rows staged in memory and inserted a batch
         * at a time, so the write lock is free while samples are simulated. */
        rc = record_params(d, st->run_id, c, &s, &h, from_trace ? "trace" : "functional") ||
                     db_set_row_mode(d, o->discard_rows ? DB_ROWS_DISCARD : DB_ROWS_STAGED)
                 ? (util_errf(err, errlen, "%s", db_errmsg(d)), RUN_EDB)
                 : loop(&s, &pc, &h, strcmp(log, "inferences") != 0, d, st->run_id, o, &t, err,
                        errlen);
        if (!rc && h.on && hw_layer_costs(&h, s.net, d, st->run_id)) {
            util_errf(err, errlen, "%s", db_errmsg(d));
            rc = RUN_EDB;
        }
        if (!rc && db_run_end(d, st->run_id, "done", err, errlen)) rc = RUN_EDB;
        if (rc) {
            char e2[8];
            db_run_end(d, st->run_id, "failed", e2, sizeof e2);
        }
        st->seconds = util_now_s() - t0;
        st->samples = t.samples;
        if (t.samples) {
            st->accuracy = (double)t.correct / (double)t.samples;
            st->exit_evals = (double)t.evals / (double)t.samples;
            if (s.bmacs[s.exits] > 0)
                st->rel_computation = t.cost / (double)t.samples / (double)s.bmacs[s.exits];
        }
        if (t.predictions) st->hit_rate = 1.0 - (double)t.misses / (double)t.predictions;
        if (h.on && t.samples) {
            st->mean_latency_ns = t.latency_ns / (double)t.samples;
            st->mean_energy_nj = t.energy_nj / (double)t.samples;
            st->rel_energy = st->mean_energy_nj / h.classic_energy_nj;
            st->deadline_misses = t.deadline_misses;
        }
    }
    db_close(d);
    free(text);
    hw_free(&h);
    src_free(&s);
    return rc;
}
