/* DVFS governors (one decision function each, in a table), the timeline of one inference as
 * priced segments, OPP switches, idle time and deadlines, and the request arrival processes
 * (DESIGN section 5).
 *
 * An inference's work, in order (exec_inference):
 *   idle       from the previous finish (time 0 for the first request) to the start, at the level
 *              kept after the previous exit: static power there, or gated_mw for race_to_idle
 *              (pwr_idle_nj); start = max(arrival, previous finish)
 *   dvfs       the governor's start decision, when it changes the level
 *   then for each evaluated exit e, ascending:
 *   backbone   ops from the current position through net_exit_at(e)->op, one segment (a
 *              governor switches only between an exit and the next backbone op, so the ops
 *              between two heads always share a level); first/last_layer are op indices
 *   exit       head e (first = last = e)
 *   predictor  when e predicted a jump (predicted_jump >= 0): acc_ctrl(predictor_ops), the
 *              control processor's time and energy, plus the static energy of the compute
 *              domain waiting at its level meanwhile; first = last = e; OPP fields: that level
 *   dvfs       the governor's decision after that prediction, when it changes the level:
 *              transition_ns + extra latency, transition_nj + extra energy (counted in
 *              compute_nj), one db_dvfs row; first = last = e (-1 at the start)
 *   backbone   the rest of the network when the final classifier answers
 * Idle segments carry layers -1. After the exit every governor keeps its level for the idle time;
 * paper and deadline go back to the top at the next start (a switch that counts in that
 * request's latency). Latency = (start − arrival) + the work's time, summed from the start, so
 * the classic network at f_max meets the default deadline exactly.
 *
 * Every cost comes from the per-layer table (acc_op, acc_head, acc_ctrl), or with full_des from
 * acc_simulate per op and head (the same numbers). Governors plan with the table. */
#include "gov.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#define NS_PER_US 1e3
#define NS_PER_S  1e9

enum {
    NO_LAYER = -1,         /* layers of idle segments and of the start switch */
    NO_JUMP = -1,          /* pol_eval.predicted_jump when no prediction followed */
    NO_EXIT = -1,          /* true_first when no exit fires */
    SEGS_PER_EVAL = 4,     /* backbone, exit, predictor, dvfs */
    SEGS_FIXED = 4,        /* idle, start switch, final backbone, one spare */
    TRANSITIONS_FIXED = 2, /* the start switch and one spare */
    TRACE_FIRST_CAP = 64,  /* first allocation of an arrival trace */
    SNIPPET_MAX = 40,      /* characters of a bad trace line quoted in a message */
};

/* Writes a message into err (when given) and returns rc. */
__attribute__((format(printf, 4, 5))) static int fail(int rc, char *err, size_t errlen,
                                                      const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* ---- arrivals ---- */

struct arrivals {
    gov_arrival kind;
    double period_ns; /* periodic */
    uint64_t k;       /* periodic: requests so far */
    double mean_ns;   /* poisson: mean inter-arrival time 1e9 / rate */
    double last_ns;   /* poisson: the previous arrival */
    gsl_rng *rng;
    double *times_ns; /* trace */
    size_t n_times, next;
};

/* Cuts a '#' comment and surrounding white space off s (in place). */
static char *trace_strip(char *s)
{
    char *hash = strchr(s, '#');
    if (hash) *hash = '\0';
    while (*s == ' ' || *s == '\t') s++;
    size_t len = strlen(s);
    while (len > 0 && strchr(" \t\r\n", s[len - 1])) s[--len] = '\0';
    return s;
}

static bool trace_number(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || errno == ERANGE || !isfinite(v)) return false;
    *out = v;
    return true;
}

static int trace_push(arrivals *a, size_t *cap, double t_ns)
{
    if (a->n_times == *cap) {
        size_t ncap = *cap ? 2 * *cap : TRACE_FIRST_CAP;
        double *p = realloc(a->times_ns, ncap * sizeof *p);
        if (!p) return GOV_ENOMEM;
        a->times_ns = p;
        *cap = ncap;
    }
    a->times_ns[a->n_times++] = t_ns;
    return GOV_OK;
}

/* One line of an arrival trace (comment and blanks stripped, not empty). */
static int trace_line(arrivals *a, size_t *cap, const char *s, const char *path, long line,
                      char *err, size_t errlen)
{
    double us;
    if (!trace_number(s, &us))
        return fail(GOV_EARG, err, errlen, "%s:%ld: '%.*s' is not an arrival time in us", path,
                    line, SNIPPET_MAX, s);
    if (us < 0)
        return fail(GOV_EARG, err, errlen, "%s:%ld: negative arrival time %s us", path, line, s);
    double t_ns = us * NS_PER_US;
    if (a->n_times > 0 && t_ns < a->times_ns[a->n_times - 1])
        return fail(GOV_EARG, err, errlen,
                    "%s:%ld: arrival time %s us is before the previous one (%g us)", path, line, s,
                    a->times_ns[a->n_times - 1] / NS_PER_US);
    if (trace_push(a, cap, t_ns)) return fail(GOV_ENOMEM, err, errlen, "%s: out of memory", path);
    return GOV_OK;
}

static int trace_load(arrivals *a, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) return fail(GOV_EIO, err, errlen, "%s: cannot open: %s", path, strerror(errno));
    char *buf = NULL;
    size_t buf_cap = 0, cap = 0;
    long line = 0;
    int rc = GOV_OK;
    while (!rc && getline(&buf, &buf_cap, f) != -1) {
        line++;
        char *s = trace_strip(buf);
        if (*s) rc = trace_line(a, &cap, s, path, line, err, errlen);
    }
    if (!rc && ferror(f)) rc = fail(GOV_EIO, err, errlen, "%s: read error", path);
    if (!rc && a->n_times == 0) rc = fail(GOV_EARG, err, errlen, "%s: no arrival times", path);
    free(buf);
    fclose(f);
    return rc;
}

static int arrivals_check(gov_arrival kind, double period_us, double rate_per_s,
                          const char *trace_path, char *err, size_t errlen)
{
    switch (kind) {
    case ARR_BACK_TO_BACK:
        return GOV_OK;
    case ARR_PERIODIC:
        if (!(period_us > 0) || !isfinite(period_us))
            return fail(GOV_EARG, err, errlen, "[workload] period_us = %g: must be > 0", period_us);
        return GOV_OK;
    case ARR_POISSON:
        if (!(rate_per_s > 0) || !isfinite(rate_per_s))
            return fail(GOV_EARG, err, errlen, "[workload] rate_per_s = %g: must be > 0",
                        rate_per_s);
        return GOV_OK;
    case ARR_TRACE:
        if (!trace_path || !*trace_path)
            return fail(GOV_EARG, err, errlen,
                        "[workload] arrival_trace is required for arrival = trace");
        return GOV_OK;
    }
    return fail(GOV_EARG, err, errlen, "[workload] arrival: unknown arrival process %d", (int)kind);
}

int arrivals_new(gov_arrival kind, double period_us, double rate_per_s, const char *trace_path,
                 uint64_t seed, arrivals **out, char *err, size_t errlen)
{
    if (!out) return fail(GOV_EARG, err, errlen, "arrivals_new: no output");
    *out = NULL;
    int rc = arrivals_check(kind, period_us, rate_per_s, trace_path, err, errlen);
    if (rc) return rc;
    arrivals *a = calloc(1, sizeof *a);
    if (!a) return fail(GOV_ENOMEM, err, errlen, "out of memory");
    a->kind = kind;
    a->period_ns = period_us * NS_PER_US;
    if (kind == ARR_POISSON) {
        a->mean_ns = NS_PER_S / rate_per_s;
        a->rng = gsl_rng_alloc(gsl_rng_mt19937);
        if (!a->rng)
            rc = fail(GOV_ENOMEM, err, errlen, "out of memory");
        else
            gsl_rng_set(a->rng, (unsigned long)seed);
    }
    if (!rc && kind == ARR_TRACE) rc = trace_load(a, trace_path, err, errlen);
    if (rc) {
        arrivals_free(a);
        return rc;
    }
    *out = a;
    return GOV_OK;
}

void arrivals_free(arrivals *a)
{
    if (!a) return;
    if (a->rng) gsl_rng_free(a->rng);
    free(a->times_ns);
    free(a);
}

/* Periodic: k·period (the first at 0). Poisson: a process from time 0, exponential gaps of mean
 * 1e9/rate ns. Trace: its times in order, then -1. */
double arrivals_next_ns(arrivals *a, double prev_finish_ns)
{
    if (!a) return -1;
    switch (a->kind) {
    case ARR_BACK_TO_BACK:
        return prev_finish_ns;
    case ARR_PERIODIC:
        return (double)a->k++ * a->period_ns;
    case ARR_POISSON:
        a->last_ns += gsl_ran_exponential(a->rng, a->mean_ns);
        return a->last_ns;
    case ARR_TRACE:
        return a->next < a->n_times ? a->times_ns[a->next++] : -1;
    }
    return -1;
}

/* ---- executor state ---- */

struct exec {
    const net *n;
    const acc_table *t;
    const opp_table *o;
    const pwr_params *p;
    gov_config g;
    bool full_des;
    acc_config a;
    acc_cost scratch; /* full_des: the op or head just simulated */
    int n_ops, n_exits, top;
    int *exit_op;          /* n_exits + 1: the op each exit follows (the final: the last op) */
    double *cum_ns;        /* levels × (n_ops + 1): time of ops 0 .. k−1 at each level */
    double *cum_nj;        /* likewise, total energy */
    double *heads_from_ns; /* n_exits + 1: time of heads e .. n_exits − 1 at the top level */
    double classic_ns, deadline_ns;
    double switch_ns, switch_nj; /* one OPP switch: the table's plus the configured extra */
    /* the timeline */
    int level;      /* current level */
    double free_ns; /* when the previous inference finished */
    /* the inference being played */
    double wait_ns;  /* start − arrival */
    double start_ns; /* start */
    double busy_ns;  /* time since the start */
    double energy_nj;
    db_segment *seg;
    int n_seg, seg_cap;
    db_dvfs *tr;
    int n_tr, tr_cap;
};

/* What a governor sees at a decision. */
typedef struct decision {
    const pol_outcome *o;
    int exit;          /* exit the prediction came from (-1 at the start) */
    int jump;          /* predicted jump J */
    double pred_ns;    /* control-processor time of that prediction */
    double elapsed_ns; /* since the arrival */
} decision;

static double cum_ns(const exec *x, int level, int k)
{
    return x->cum_ns[(size_t)level * (size_t)(x->n_ops + 1) + (size_t)k];
}

static double cum_nj(const exec *x, int level, int k)
{
    return x->cum_nj[(size_t)level * (size_t)(x->n_ops + 1) + (size_t)k];
}

/* Ops first .. last (inclusive; none when last < first) at a level: time and total energy. */
static double ops_ns(const exec *x, int level, int first, int last)
{
    return last < first ? 0.0 : cum_ns(x, level, last + 1) - cum_ns(x, level, first);
}

static double ops_nj(const exec *x, int level, int first, int last)
{
    return last < first ? 0.0 : cum_nj(x, level, last + 1) - cum_nj(x, level, first);
}

/* ---- governors ---- */

static int keep_level(const exec *x, const decision *d)
{
    (void)d;
    return x->level;
}

static int top_level(const exec *x, const decision *d)
{
    (void)d;
    return x->top;
}

static int static_level(const exec *x, const decision *d)
{
    (void)d;
    return x->g.static_level;
}

/* The paper's (Li et al., AAAI 2023, section "DVFS"): after a prediction of jump J from exit l,
 * f = f_max·J/R_rem with R_rem = n_exits − 1 − l exits left after the current one, clipped to
 * f_max, at the nearest level; the top when no exit is left. */
static int paper_predict(const exec *x, const decision *d)
{
    int r_rem = x->n_exits - 1 - d->exit;
    if (r_rem <= 0) return x->top;
    double f_max = x->o->levels[x->top].freq_mhz;
    double f = f_max * (double)d->jump / (double)r_rem;
    if (f > f_max) f = f_max;
    return opp_nearest(x->o, f);
}

/* Among levels whose plan fits: elapsed + switch + work_ns(v) + reserve_ns(v) <= deadline, the one
 * of lowest work_nj(v) + switch energy (ties: the faster); the top when none fits. */
typedef struct plan {
    double elapsed_ns;
    double work_ns[OPP_MAX_LEVELS], work_nj[OPP_MAX_LEVELS], reserve_ns[OPP_MAX_LEVELS];
} plan;

static int plan_pick(const exec *x, const plan *pl)
{
    int best = x->top;
    double best_nj = INFINITY;
    for (int v = x->top; v >= 0; v--) {
        bool sw = v != x->level;
        double t = pl->elapsed_ns + (sw ? x->switch_ns : 0.0) + pl->work_ns[v] + pl->reserve_ns[v];
        double e = pl->work_nj[v] + (sw ? x->switch_nj : 0.0);
        if (t <= x->deadline_ns && e < best_nj) {
            best = v;
            best_nj = e;
        }
    }
    return best;
}

/* Deadline-aware: plans the ops and head up to the predicted exit pe = min(l + J, last) at each
 * level, and reserves what a miss there can still cost. Below the last exit a miss is followed by
 * a prediction, where the governor can go back to f_max: the reserve is that switch, the rest of
 * the backbone to the final classifier, every head after pe (a predictive policy may evaluate
 * each) and a prediction from pe and from each later exit but the last (each estimated at this
 * prediction's time), all at f_max. A miss at the last exit runs the final classifier with no
 * decision in between: the reserve is the rest of the backbone at the same level. So whenever
 * the deadline can be met at f_max from here (with the predictions costing alike), it is still
 * met after any miss: top stays feasible at the next decision. */
static int deadline_predict(const exec *x, const decision *d)
{
    int l = d->exit, last = x->n_exits - 1;
    if (l >= last || d->jump < 1) return x->top;
    int pe = l + d->jump < last ? l + d->jump : last;
    int from = x->exit_op[l] + 1, to = x->exit_op[pe];
    double miss_top_ns = ops_ns(x, x->top, to + 1, x->n_ops - 1) + x->heads_from_ns[pe + 1] +
                         (double)(last - pe) * d->pred_ns;
    plan pl;
    pl.elapsed_ns = d->elapsed_ns;
    for (int v = 0; v <= x->top; v++) {
        const acc_cost *h = acc_head(x->t, pe, v);
        pl.work_ns[v] = ops_ns(x, v, from, to) + h->time_ns;
        pl.work_nj[v] = ops_nj(x, v, from, to) + h->energy.total_nj;
        if (pe == last)
            pl.reserve_ns[v] = ops_ns(x, v, to + 1, x->n_ops - 1);
        else
            pl.reserve_ns[v] = miss_top_ns + (v != x->top ? x->switch_ns : 0.0);
    }
    return plan_pick(x, &pl);
}

/* Knows the inference's outcome: the lowest-energy single level at which all of its work (ops
 * through the exit that answers, every evaluated head, the predictions) meets the deadline,
 * chosen at the start; no switch during the inference. For the oracle policy this is the work up
 * to the true first exit (or the whole network when none fires). */
static int oracle_start(const exec *x, const decision *d)
{
    const pol_outcome *o = d->o;
    int last_op = o->exit_layer >= x->n_exits ? x->n_ops - 1 : x->exit_op[o->exit_layer];
    plan pl;
    pl.elapsed_ns = d->elapsed_ns;
    for (int v = 0; v <= x->top; v++) {
        pl.work_ns[v] = ops_ns(x, v, 0, last_op);
        pl.work_nj[v] = ops_nj(x, v, 0, last_op);
        pl.reserve_ns[v] = 0.0;
    }
    for (int i = 0; i < o->n_exit_evals; i++) {
        const pol_eval *ev = &o->evals[i];
        for (int v = 0; v <= x->top; v++) {
            const acc_cost *h = acc_head(x->t, ev->exit, v);
            pl.work_ns[v] += h->time_ns;
            pl.work_nj[v] += h->energy.total_nj;
        }
        if (ev->predicted_jump == NO_JUMP) continue;
        double pred_ns = acc_ctrl(x->t, ev->predictor_ops).time_ns;
        for (int v = 0; v <= x->top; v++) {
            pl.work_ns[v] += pred_ns;
            pl.work_nj[v] += pwr_idle_nj(x->p, x->o->levels[v].vdd_v, pred_ns, 0);
        }
    }
    return plan_pick(x, &pl);
}

typedef int (*gov_decide_fn)(const exec *x, const decision *d);

/* One governor: its level at each inference's start, after each prediction, and whether idle
 * time is power-gated. */
typedef struct gov_entry {
    const char *name;
    gov_decide_fn start, predict;
    bool gated_idle;
} gov_entry;

static const gov_entry GOVS[GOV_COUNT] = {
    [GOV_MAX] = {"max", top_level, keep_level, false},
    [GOV_STATIC] = {"static", static_level, keep_level, false},
    [GOV_RACE_TO_IDLE] = {"race_to_idle", top_level, keep_level, true},
    [GOV_PAPER] = {"paper", top_level, paper_predict, false},
    [GOV_DEADLINE] = {"deadline", top_level, deadline_predict, false},
    [GOV_ORACLE] = {"oracle", oracle_start, keep_level, false},
};

const char *gov_name(gov_kind k)
{
    return (int)k >= 0 && k < GOV_COUNT ? GOVS[k].name : "?";
}

int gov_by_name(const char *name)
{
    if (!name) return -1;
    for (int i = 0; i < GOV_COUNT; i++)
        if (!strcmp(name, GOVS[i].name)) return i;
    return -1;
}

/* ---- executor construction ---- */

static int exec_check(const net *n, const acc_table *t, const opp_table *o, const pwr_params *p,
                      const gov_config *g, bool full_des, const acc_config *a, char *err,
                      size_t errlen)
{
    if (!n || !t || !o || !p || !g)
        return fail(GOV_EARG, err, errlen, "exec_new: missing argument");
    if (o->n < 1 || o->n > OPP_MAX_LEVELS)
        return fail(GOV_EARG, err, errlen, "OPP table '%s' has %d levels", o->name, o->n);
    if (acc_levels(t) != o->n)
        return fail(GOV_EARG, err, errlen, "cost table has %d levels, OPP table '%s' has %d",
                    acc_levels(t), o->name, o->n);
    if ((int)g->kind < 0 || g->kind >= GOV_COUNT)
        return fail(GOV_EARG, err, errlen, "[dvfs] governor: unknown governor %d", (int)g->kind);
    if (g->kind == GOV_STATIC && (g->static_level < 0 || g->static_level >= o->n))
        return fail(GOV_EARG, err, errlen, "[dvfs] level = %d: out of range 0..%d (OPP table '%s')",
                    g->static_level, o->n - 1, o->name);
    if (!(g->extra_transition_ns >= 0) || !isfinite(g->extra_transition_ns))
        return fail(GOV_EARG, err, errlen, "[dvfs] transition_ns = %g: must be >= 0",
                    g->extra_transition_ns);
    if (!(g->extra_transition_nj >= 0) || !isfinite(g->extra_transition_nj))
        return fail(GOV_EARG, err, errlen, "[dvfs] transition_nj = %g: must be >= 0",
                    g->extra_transition_nj);
    if (!(g->deadline_ns >= 0) || !isfinite(g->deadline_ns))
        return fail(GOV_EARG, err, errlen, "[workload] deadline_us = %g: must be >= 0",
                    g->deadline_ns / NS_PER_US);
    if (full_des && !a)
        return fail(GOV_EARG, err, errlen, "exec_new: full_des needs the accelerator config");
    if (full_des && acc_config_check(a, err, errlen)) return GOV_EARG;
    int n_ops = net_op_count(n), n_exits = net_exit_count(n);
    if (n_ops < 1 || n_exits < 0) return fail(GOV_EARG, err, errlen, "network has no ops");
    for (int e = 0; e <= n_exits; e++) {
        const net_exit *ex = net_exit_at(n, e);
        if (!ex || ex->op < 0 || ex->op >= n_ops)
            return fail(GOV_EARG, err, errlen, "exit %d follows no op of the network", e);
        if (e > 0 && ex->op < net_exit_at(n, e - 1)->op)
            return fail(GOV_EARG, err, errlen, "exit %d ('%s') comes before exit %d in the network",
                        e, ex->name, e - 1);
    }
    for (int v = 0; v < o->n; v++) {
        for (int op = 0; op < n_ops; op++)
            if (!acc_op(t, op, v))
                return fail(GOV_EARG, err, errlen, "cost table lacks op %d at level %d", op, v);
        for (int e = 0; e < n_exits; e++)
            if (!acc_head(t, e, v))
                return fail(GOV_EARG, err, errlen, "cost table lacks exit head %d at level %d", e,
                            v);
    }
    return GOV_OK;
}

/* Prefix sums of op time and energy per level, head time from each exit on at the top, the
 * classic latency. */
static void exec_tables(exec *x)
{
    size_t stride = (size_t)(x->n_ops + 1);
    for (int v = 0; v <= x->top; v++) {
        double *cn = x->cum_ns + (size_t)v * stride, *ce = x->cum_nj + (size_t)v * stride;
        cn[0] = ce[0] = 0.0;
        for (int op = 0; op < x->n_ops; op++) {
            const acc_cost *c = acc_op(x->t, op, v);
            cn[op + 1] = cn[op] + c->time_ns;
            ce[op + 1] = ce[op] + c->energy.total_nj;
        }
    }
    x->heads_from_ns[x->n_exits] = 0.0;
    for (int e = x->n_exits - 1; e >= 0; e--)
        x->heads_from_ns[e] = x->heads_from_ns[e + 1] + acc_head(x->t, e, x->top)->time_ns;
    /* summed op by op from 0, as run_ops does, so that latency == classic bit for bit */
    double classic = 0.0;
    for (int op = 0; op < x->n_ops; op++) classic += acc_op(x->t, op, x->top)->time_ns;
    x->classic_ns = classic;
    for (int e = 0; e <= x->n_exits; e++) x->exit_op[e] = net_exit_at(x->n, e)->op;
}

int exec_new(const net *n, const acc_table *t, const opp_table *o, const pwr_params *p,
             const gov_config *g, bool full_des, const acc_config *a, exec **out, char *err,
             size_t errlen)
{
    if (!out) return fail(GOV_EARG, err, errlen, "exec_new: no output");
    *out = NULL;
    int rc = exec_check(n, t, o, p, g, full_des, a, err, errlen);
    if (rc) return rc;
    exec *x = calloc(1, sizeof *x);
    if (!x) return fail(GOV_ENOMEM, err, errlen, "out of memory");
    *x = (exec){.n = n, .t = t, .o = o, .p = p, .g = *g, .full_des = full_des};
    if (a) x->a = *a;
    x->n_ops = net_op_count(n);
    x->n_exits = net_exit_count(n);
    x->top = o->n - 1;
    /* one inference: idle, a start switch, per evaluated exit (at most every exit once) backbone,
     * head, predictor and switch, the final backbone */
    x->seg_cap = SEGS_PER_EVAL * x->n_exits + SEGS_FIXED;
    x->tr_cap = x->n_exits + TRANSITIONS_FIXED;
    size_t cells = (size_t)o->n * (size_t)(x->n_ops + 1);
    x->exit_op = malloc((size_t)(x->n_exits + 1) * sizeof *x->exit_op);
    x->cum_ns = malloc(cells * sizeof *x->cum_ns);
    x->cum_nj = malloc(cells * sizeof *x->cum_nj);
    x->heads_from_ns = malloc((size_t)(x->n_exits + 1) * sizeof *x->heads_from_ns);
    x->seg = calloc((size_t)x->seg_cap, sizeof *x->seg);
    x->tr = calloc((size_t)x->tr_cap, sizeof *x->tr);
    if (!x->exit_op || !x->cum_ns || !x->cum_nj || !x->heads_from_ns || !x->seg || !x->tr) {
        exec_free(x);
        return fail(GOV_ENOMEM, err, errlen, "out of memory");
    }
    exec_tables(x);
    x->deadline_ns = g->deadline_ns > 0 ? g->deadline_ns : x->classic_ns;
    x->switch_ns = o->transition_ns + g->extra_transition_ns;
    x->switch_nj = o->transition_nj + g->extra_transition_nj;
    x->level = g->kind == GOV_STATIC ? g->static_level : x->top;
    x->free_ns = 0.0;
    *out = x;
    return GOV_OK;
}

void exec_free(exec *x)
{
    if (!x) return;
    free(x->exit_op);
    free(x->cum_ns);
    free(x->cum_nj);
    free(x->heads_from_ns);
    free(x->seg);
    free(x->tr);
    free(x);
}

double exec_classic_ns(const exec *x)
{
    return x ? x->classic_ns : 0.0;
}

double exec_deadline_ns(const exec *x)
{
    return x ? x->deadline_ns : 0.0;
}

/* ---- one inference ---- */

/* Cost of op `op` (exit < 0) or head `exit` at the current level: the table's, or simulated. */
static const acc_cost *work_cost(exec *x, int op, int exit, int *rc)
{
    if (!x->full_des) return exit < 0 ? acc_op(x->t, op, x->level) : acc_head(x->t, exit, x->level);
    int arc = acc_simulate(&x->a, x->n, exit < 0 ? op : 0, exit, &x->o->levels[x->level], x->p,
                           &x->scratch, NULL);
    if (arc) {
        *rc = arc == ACC_ENOMEM ? GOV_ENOMEM : GOV_EARG;
        return NULL;
    }
    return &x->scratch;
}

/* Appends a segment at `level` (the caps bound every valid outcome) and advances the clock. */
static void seg_push(exec *x, const char *kind, int first, int last, int level, double time_ns,
                     double compute_nj, double memory_nj, double static_nj, double dram_nj)
{
    const opp_level *lv = &x->o->levels[level];
    x->seg[x->n_seg] = (db_segment){.seq = x->n_seg,
                                    .kind = kind,
                                    .first_layer = first,
                                    .last_layer = last,
                                    .opp = level,
                                    .freq_mhz = lv->freq_mhz,
                                    .vdd_v = lv->vdd_v,
                                    .time_ns = time_ns,
                                    .compute_nj = compute_nj,
                                    .memory_nj = memory_nj,
                                    .static_nj = static_nj,
                                    .dram_nj = dram_nj};
    x->n_seg++;
    x->busy_ns += time_ns;
    x->energy_nj += (compute_nj + memory_nj) + static_nj;
}

/* Backbone ops first .. last at the current level as one segment (none when last < first). */
static int run_ops(exec *x, int first, int last)
{
    if (last < first) return GOV_OK;
    double t = 0.0, c = 0.0, m = 0.0, s = 0.0, dr = 0.0;
    int rc = GOV_OK;
    for (int op = first; op <= last; op++) {
        const acc_cost *k = work_cost(x, op, -1, &rc);
        if (!k) return rc;
        t += k->time_ns;
        c += k->energy.compute_nj;
        m += k->energy.memory_nj;
        s += k->energy.static_nj;
        dr += k->energy.dram_nj;
    }
    seg_push(x, "backbone", first, last, x->level, t, c, m, s, dr);
    return GOV_OK;
}

static int run_head(exec *x, int exit)
{
    int rc = GOV_OK;
    const acc_cost *k = work_cost(x, 0, exit, &rc);
    if (!k) return rc;
    seg_push(x, "exit", exit, exit, x->level, k->time_ns, k->energy.compute_nj, k->energy.memory_nj,
             k->energy.static_nj, k->energy.dram_nj);
    return GOV_OK;
}

/* The prediction after exit `exit` on the control processor; returns its time. The compute
 * domain waits meanwhile at its level, not gated: its static power counts in static_nj. */
static double run_predictor(exec *x, int exit, uint64_t ops)
{
    acc_cost k = acc_ctrl(x->t, ops);
    double wait_nj = pwr_idle_nj(x->p, x->o->levels[x->level].vdd_v, k.time_ns, 0);
    seg_push(x, "predictor", exit, exit, x->level, k.time_ns, k.energy.compute_nj,
             k.energy.memory_nj, k.energy.static_nj + wait_nj, k.energy.dram_nj);
    return k.time_ns;
}

/* Switches to level `to` (nothing when already there): a transition row and a dvfs segment. */
static void switch_to(exec *x, int to, int layer)
{
    if (to == x->level) return;
    const opp_level *from_lv = &x->o->levels[x->level], *to_lv = &x->o->levels[to];
    x->tr[x->n_tr] = (db_dvfs){.seq = x->n_tr,
                               .at_ns = x->start_ns + x->busy_ns,
                               .from_opp = x->level,
                               .to_opp = to,
                               .from_mhz = from_lv->freq_mhz,
                               .to_mhz = to_lv->freq_mhz,
                               .latency_ns = x->switch_ns,
                               .energy_nj = x->switch_nj};
    x->n_tr++;
    seg_push(x, "dvfs", layer, layer, to, x->switch_ns, x->switch_nj, 0.0, 0.0, 0.0);
    x->level = to;
}

/* Evaluated exits ascending inside the network, the answering exit the last evaluated one (or
 * the final classifier), jumps -1 or >= 0. */
static bool outcome_ok(const exec *x, const pol_outcome *o, int true_first)
{
    if (!o || o->n_exit_evals < 0 || o->n_exit_evals > x->n_exits) return false;
    if (o->n_exit_evals > 0 && !o->evals) return false;
    for (int i = 0; i < o->n_exit_evals; i++) {
        const pol_eval *e = &o->evals[i];
        if (e->exit < 0 || e->exit >= x->n_exits || e->predicted_jump < NO_JUMP) return false;
        if (i > 0 && e->exit <= o->evals[i - 1].exit) return false;
    }
    if (o->exit_layer < 0 || o->exit_layer > x->n_exits) return false;
    if (o->exit_layer < x->n_exits &&
        (o->n_exit_evals == 0 || o->evals[o->n_exit_evals - 1].exit != o->exit_layer))
        return false;
    return true_first >= NO_EXIT && true_first <= x->n_exits;
}

/* The evaluated exits with their predictions and decisions, then the rest of the network when
 * the final classifier answers. */
static int run_work(exec *x, const pol_outcome *o)
{
    int pos = 0, rc;
    for (int i = 0; i < o->n_exit_evals; i++) {
        const pol_eval *ev = &o->evals[i];
        int op = x->exit_op[ev->exit];
        if ((rc = run_ops(x, pos, op))) return rc;
        if (op + 1 > pos) pos = op + 1;
        if ((rc = run_head(x, ev->exit))) return rc;
        if (ev->predicted_jump == NO_JUMP) continue;
        double pred_ns = run_predictor(x, ev->exit, ev->predictor_ops);
        decision d = {.o = o,
                      .exit = ev->exit,
                      .jump = ev->predicted_jump,
                      .pred_ns = pred_ns,
                      .elapsed_ns = x->wait_ns + x->busy_ns};
        switch_to(x, GOVS[x->g.kind].predict(x, &d), ev->exit);
    }
    if (o->exit_layer == x->n_exits) return run_ops(x, pos, x->n_ops - 1);
    return GOV_OK;
}

int exec_inference(exec *x, const pol_outcome *o, int true_first, double arrival_ns, exec_result *r)
{
    if (!x || !r || !isfinite(arrival_ns) || !(arrival_ns >= 0) || !outcome_ok(x, o, true_first))
        return GOV_EARG;
    const gov_entry *gv = &GOVS[x->g.kind];
    int level_before = x->level;
    double start = arrival_ns > x->free_ns ? arrival_ns : x->free_ns;
    x->n_seg = x->n_tr = 0;
    x->energy_nj = 0.0;
    x->busy_ns = 0.0;
    if (start > x->free_ns) {
        double idle_ns = start - x->free_ns;
        seg_push(x, "idle", NO_LAYER, NO_LAYER, x->level, idle_ns, 0.0, 0.0,
                 pwr_idle_nj(x->p, x->o->levels[x->level].vdd_v, idle_ns, gv->gated_idle), 0.0);
    }
    x->start_ns = start;
    x->wait_ns = start - arrival_ns;
    x->busy_ns = 0.0; /* the idle segment lies before the start */
    decision d = {.o = o, .exit = NO_LAYER, .jump = NO_JUMP, .elapsed_ns = x->wait_ns};
    switch_to(x, gv->start(x, &d), NO_LAYER);
    int rc = run_work(x, o);
    if (rc) {
        x->level = level_before;
        return rc;
    }
    double latency = x->wait_ns + x->busy_ns;
    *r = (exec_result){.arrival_ns = arrival_ns,
                       .start_ns = start,
                       .finish_ns = start + x->busy_ns,
                       .latency_ns = latency,
                       .energy_nj = x->energy_nj,
                       .deadline_met = latency <= x->deadline_ns,
                       .n_segments = x->n_seg,
                       .segments = x->seg,
                       .n_transitions = x->n_tr,
                       .transitions = x->tr};
    x->free_ns = r->finish_ns;
    return GOV_OK;
}
