/* cmocka tests of the DVFS governors, the timeline of an inference and the arrival processes
 * (sim/gov.c): hand-computed latencies and energies on a synthetic per-layer cost table (VGG-19
 * at width 1/16 on 32×32×1, three OPP levels), every segment of random outcomes replayed against
 * the table for every governor, the governors' promises (deadline, oracle, paper), arrival
 * processes with their error messages, and the table path against full_des on a real table. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gov.h"

enum {
    LEVELS = 3,       /* 250, 500, 1000 MHz */
    TOP = LEVELS - 1, /* index of the fastest level */
    ERR_LEN = 256,
    MAX_EXITS = 20,  /* exits of the test network */
    PRED_OPS = 5,    /* operations of every prediction in the test outcomes */
    MAX_JUMP = 8,    /* R: the largest predicted jump */
    MAX_L0 = 4,      /* random outcomes start at exit 0 .. MAX_L0 − 1 */
    FIRE_ONE_IN = 3, /* a random evaluated exit fires with probability 1/3 */
    NONE_ONE_IN = 8, /* a random outcome is the classic network with probability 1/8 */
    LIST_LEN = 300,  /* random outcomes per list */
    POISSON_DRAWS = 100000,
    DES_OUTCOMES = 12, /* random outcomes of the full_des comparison */
};

/* The synthetic cost table: op time at the top level 8, 10 or 12 ns (op mod 3), dynamic energy
 * 10 + op mod 5 nJ scaled by (V/V_top)², 2 nJ of unscaled memory energy; heads 1 or 1.5 ns,
 * 1 nJ and 0.2 nJ; static power 100 mW·(V/1 V)³; time scales as f_top/f. */
static const double FREQ_MHZ[LEVELS] = {250.0, 500.0, 1000.0};
static const double VDD_V[LEVELS] = {0.6, 0.8, 1.0};
static const double OP_NS[3] = {8.0, 10.0, 12.0};
static const double OP_COMPUTE_NJ = 10.0, OP_MEMORY_NJ = 2.0;
static const double HEAD_NS[2] = {1.0, 1.5};
static const double HEAD_COMPUTE_NJ = 1.0, HEAD_MEMORY_NJ = 0.2;
static const double CTRL_MHZ = 1000.0;
static const double SWITCH_NS = 4.0, SWITCH_NJ = 3.0;             /* the OPP table's */
static const double EXTRA_SWITCH_NS = 1.0, EXTRA_SWITCH_NJ = 0.5; /* [dvfs] */
static const double NJ_PER_MW_NS = 1e-3;
static const double CLASSIC_NS = 540.0; /* 18 ops each of 8, 10 and 12 ns */
static const double TIGHT = 1e-9;       /* relative tolerance of sums in another order */
static const uint64_t SEED = 0x9e3779b97f4a7c15ULL;

static struct {
    net *n;
    opp_table o;
    pwr_params p;
    acc_table *t;
    int n_ops, n_exits;
    char dir[32];
} F;

/* ---- helpers ---- */

static void assert_near(double got, double want, double rel, const char *what)
{
    if (!(fabs(got - want) <= rel * fmax(1.0, fabs(want))))
        fail_msg("%s: %.17g, want %.17g", what, got, want);
}

static uint64_t rnd(uint64_t *s) /* splitmix64 */
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static acc_cost cost_at(double top_ns, double compute_top_nj, double memory_nj, int level)
{
    acc_cost c = {0};
    c.time_ns = top_ns * FREQ_MHZ[TOP] / FREQ_MHZ[level];
    c.cycles = (uint64_t)llround(c.time_ns * FREQ_MHZ[level] / 1e3);
    double r = VDD_V[level] / VDD_V[TOP];
    c.energy.compute_nj = compute_top_nj * r * r;
    c.energy.memory_nj = memory_nj;
    c.energy.static_nj = pwr_static_mw(&F.p, VDD_V[level]) * c.time_ns * NJ_PER_MW_NS;
    c.energy.total_nj = c.energy.compute_nj + c.energy.memory_nj + c.energy.static_nj;
    return c;
}

static void test_opp(opp_table *o, double switch_ns, double switch_nj)
{
    memset(o, 0, sizeof *o);
    snprintf(o->name, sizeof o->name, "test3");
    snprintf(o->voltage_source, sizeof o->voltage_source, "assumed");
    o->n = LEVELS;
    for (int v = 0; v < LEVELS; v++) o->levels[v] = (opp_level){FREQ_MHZ[v], VDD_V[v]};
    o->transition_ns = switch_ns;
    o->transition_nj = switch_nj;
}

static int setup(void **state)
{
    (void)state;
    char err[ERR_LEN];
    if (net_build(&F.n, "vgg19", 0.0625, 32, 32, 1, 10, err, sizeof err)) return -1;
    F.n_ops = net_op_count(F.n);
    F.n_exits = net_exit_count(F.n);
    if (F.n_exits != MAX_EXITS) return -1;
    test_opp(&F.o, SWITCH_NS, SWITCH_NJ);
    F.p = (pwr_params){.v_ref_v = 1.0,
                       .mac_pj = 1.0,
                       .ctrl_op_pj = 2.0,
                       .static_mw = 100.0,
                       .static_v_exponent = 3.0,
                       .gated_mw = 5.0};
    acc_cost *ops = calloc((size_t)(F.n_ops * LEVELS), sizeof *ops);
    acc_cost *heads = calloc((size_t)(F.n_exits * LEVELS), sizeof *heads);
    if (!ops || !heads) return -1;
    for (int v = 0; v < LEVELS; v++) {
        for (int op = 0; op < F.n_ops; op++)
            ops[op * LEVELS + v] = cost_at(OP_NS[op % 3], OP_COMPUTE_NJ + op % 5, OP_MEMORY_NJ, v);
        for (int e = 0; e < F.n_exits; e++)
            heads[e * LEVELS + v] = cost_at(HEAD_NS[e % 2], HEAD_COMPUTE_NJ, HEAD_MEMORY_NJ, v);
    }
    int rc = acc_table_from_costs(F.n, &F.o, &F.p, CTRL_MHZ, ops, heads, &F.t, err, sizeof err);
    free(ops);
    free(heads);
    snprintf(F.dir, sizeof F.dir, "/tmp/pesim-gov-XXXXXX");
    if (rc || !mkdtemp(F.dir)) return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", F.dir);
    acc_table_free(F.t);
    net_free(F.n);
    return system(cmd);
}

static gov_config gov(gov_kind k)
{
    return (gov_config){
        .kind = k, .extra_transition_ns = EXTRA_SWITCH_NS, .extra_transition_nj = EXTRA_SWITCH_NJ};
}

static exec *make_exec_on(const gov_config *g, const opp_table *o)
{
    exec *x = NULL;
    char err[ERR_LEN] = "";
    int rc = exec_new(F.n, F.t, o, &F.p, g, false, NULL, &x, err, sizeof err);
    if (rc) fail_msg("exec_new: %s", err);
    return x;
}

static exec *make_exec(const gov_config *g)
{
    return make_exec_on(g, &F.o);
}

static void play(exec *x, const pol_outcome *o, int true_first, double arrival_ns, exec_result *r)
{
    assert_int_equal(exec_inference(x, o, true_first, arrival_ns, r), GOV_OK);
}

/* Time and energy of ops first .. last at a level, from the table. */
static double ops_ns(int level, int first, int last)
{
    double t = 0.0;
    for (int op = first; op <= last; op++) t += acc_op(F.t, op, level)->time_ns;
    return t;
}

static double ops_nj(int level, int first, int last)
{
    double e = 0.0;
    for (int op = first; op <= last; op++) e += acc_op(F.t, op, level)->energy.total_nj;
    return e;
}

static double dynamic_nj(const exec_result *r)
{
    double e = 0.0;
    for (int i = 0; i < r->n_segments; i++)
        e += r->segments[i].compute_nj + r->segments[i].memory_nj;
    return e;
}

static int exit_op(int e)
{
    return net_exit_at(F.n, e)->op;
}

/* Outcomes built by hand: start with none, add evaluated exits. */
typedef struct outcome {
    pol_outcome o;
    pol_eval ev[MAX_EXITS];
    int true_first;
} outcome;

static void outcome_none(outcome *c)
{
    memset(c, 0, sizeof *c);
    c->o = (pol_outcome){.exit_layer = MAX_EXITS, .first_predicted_exit = -1, .evals = c->ev};
    c->true_first = -1;
}

/* Appends exit e; a jump >= 0 adds a prediction of PRED_OPS; a firing exit answers. */
static void outcome_add(outcome *c, int e, bool fired, int jump)
{
    c->ev[c->o.n_exit_evals++] = (pol_eval){.exit = e,
                                            .fired = fired,
                                            .predicted_jump = jump,
                                            .predictor_ops = jump >= 0 ? PRED_OPS : 0};
    if (jump >= 0) {
        c->o.n_predictions++;
        c->o.predictor_ops += PRED_OPS;
    }
    if (fired) {
        c->o.exit_layer = e;
        c->true_first = e;
    }
}

/* A predictive-like outcome: from a random l0, each evaluated exit fires with probability 1/3,
 * else the next is l + J (J in 1 .. R, clipped to the last exit) and the final classifier
 * answers after the last exit; or, now and then, the classic network. */
static void outcome_random(uint64_t *s, outcome *c)
{
    outcome_none(c);
    if (rnd(s) % NONE_ONE_IN == 0) return;
    int l = (int)(rnd(s) % MAX_L0);
    for (;;) {
        bool fired = rnd(s) % FIRE_ONE_IN == 0;
        bool last = l == MAX_EXITS - 1;
        int jump = fired || last ? -1 : 1 + (int)(rnd(s) % MAX_JUMP);
        outcome_add(c, l, fired, jump);
        if (fired || last) return;
        l = l + jump < MAX_EXITS - 1 ? l + jump : MAX_EXITS - 1;
    }
}

static outcome *random_list(uint64_t seed, int n)
{
    outcome *list = calloc((size_t)n, sizeof *list);
    assert_non_null(list);
    uint64_t s = seed;
    for (int i = 0; i < n; i++) {
        outcome_random(&s, &list[i]);
        list[i].o.evals = list[i].ev;
    }
    return list;
}

/* Plays a list back to back; returns the total energy, counts misses. */
static double run_list(exec *x, const outcome *list, int n, int *misses)
{
    double total = 0.0, finish = 0.0;
    *misses = 0;
    for (int i = 0; i < n; i++) {
        exec_result r;
        play(x, &list[i].o, list[i].true_first, finish, &r);
        total += r.energy_nj;
        finish = r.finish_ns;
        if (!r.deadline_met) ++*misses;
    }
    return total;
}

/* ---- names and construction ---- */

static void test_names(void **state)
{
    (void)state;
    for (int k = 0; k < GOV_COUNT; k++) assert_int_equal(gov_by_name(gov_name(k)), k);
    assert_string_equal(gov_name(GOV_PAPER), "paper");
    assert_string_equal(gov_name(GOV_RACE_TO_IDLE), "race_to_idle");
    assert_string_equal(gov_name(GOV_COUNT), "?");
    assert_string_equal(gov_name((gov_kind)-1), "?");
    assert_int_equal(gov_by_name("ondemand"), -1);
    assert_int_equal(gov_by_name(NULL), -1);
}

static void expect_new_error(const gov_config *g, const opp_table *o, bool full_des, int want_rc,
                             const char *want)
{
    exec *x = (exec *)&F; /* must be reset to NULL */
    char err[ERR_LEN] = "";
    assert_int_equal(exec_new(F.n, F.t, o, &F.p, g, full_des, NULL, &x, err, sizeof err), want_rc);
    assert_null(x);
    assert_string_equal(err, want);
}

static void test_exec_new_errors(void **state)
{
    (void)state;
    gov_config g = gov(GOV_STATIC);
    g.static_level = LEVELS;
    expect_new_error(&g, &F.o, false, GOV_EARG,
                     "[dvfs] level = 3: out of range 0..2 (OPP table 'test3')");
    g.static_level = -1;
    expect_new_error(&g, &F.o, false, GOV_EARG,
                     "[dvfs] level = -1: out of range 0..2 (OPP table 'test3')");
    g = gov(GOV_MAX);
    g.extra_transition_ns = -1.0;
    expect_new_error(&g, &F.o, false, GOV_EARG, "[dvfs] transition_ns = -1: must be >= 0");
    g = gov(GOV_MAX);
    g.extra_transition_nj = NAN;
    expect_new_error(&g, &F.o, false, GOV_EARG, "[dvfs] transition_nj = nan: must be >= 0");
    g = gov(GOV_MAX);
    g.deadline_ns = -1500.0;
    expect_new_error(&g, &F.o, false, GOV_EARG, "[workload] deadline_us = -1.5: must be >= 0");
    g = gov(GOV_COUNT);
    expect_new_error(&g, &F.o, false, GOV_EARG, "[dvfs] governor: unknown governor 6");
    g = gov(GOV_MAX);
    expect_new_error(&g, &F.o, true, GOV_EARG, "exec_new: full_des needs the accelerator config");
    opp_table generic;
    opp_generic(&generic);
    expect_new_error(&g, &generic, false, GOV_EARG,
                     "cost table has 3 levels, OPP table 'generic' has 8");

    char err[ERR_LEN] = "";
    exec *x = NULL;
    assert_int_equal(exec_new(NULL, F.t, &F.o, &F.p, &g, false, NULL, &x, err, sizeof err),
                     GOV_EARG);
    assert_string_equal(err, "exec_new: missing argument");
    assert_int_equal(exec_new(F.n, F.t, &F.o, &F.p, &g, false, NULL, NULL, NULL, 0), GOV_EARG);
    exec_free(NULL);
    assert_true(exec_classic_ns(NULL) == 0.0);
}

/* The default deadline is the classic latency at f_max; a configured one replaces it. */
static void test_classic_and_deadline(void **state)
{
    (void)state;
    gov_config g = gov(GOV_PAPER);
    exec *x = make_exec(&g);
    assert_true(exec_classic_ns(x) == CLASSIC_NS);
    assert_true(exec_deadline_ns(x) == CLASSIC_NS);
    exec_free(x);
    g.deadline_ns = 2500.0;
    x = make_exec(&g);
    assert_true(exec_classic_ns(x) == CLASSIC_NS);
    assert_true(exec_deadline_ns(x) == 2500.0);
    exec_free(x);
}

/* ---- hand-computed timelines ---- */

/* none / max: one backbone segment, latency = every op at the top = the classic latency. */
static void test_max_classic(void **state)
{
    (void)state;
    gov_config g = gov(GOV_MAX);
    exec *x = make_exec(&g);
    outcome c;
    outcome_none(&c);
    exec_result r;
    play(x, &c.o, c.true_first, 0.0, &r);
    assert_true(r.latency_ns == CLASSIC_NS);
    assert_true(r.start_ns == 0.0 && r.finish_ns == CLASSIC_NS);
    assert_true(r.deadline_met);
    assert_int_equal(r.n_segments, 1);
    assert_int_equal(r.n_transitions, 0);
    const db_segment *s = &r.segments[0];
    assert_string_equal(s->kind, "backbone");
    assert_int_equal(s->first_layer, 0);
    assert_int_equal(s->last_layer, F.n_ops - 1);
    assert_int_equal(s->opp, TOP);
    assert_true(s->freq_mhz == 1000.0 && s->vdd_v == 1.0);
    assert_near(r.energy_nj, ops_nj(TOP, 0, F.n_ops - 1), TIGHT, "energy");
    /* a second request at the finish: no idle, the same numbers */
    exec_result r2;
    play(x, &c.o, c.true_first, r.finish_ns, &r2);
    assert_int_equal(r2.n_segments, 1);
    assert_true(r2.latency_ns == CLASSIC_NS);
    assert_true(r2.energy_nj == r.energy_nj);
    exec_free(x);
}

/* A predictive outcome under max: exit 0 misses and predicts J = 10, exit 10 fires. */
static void test_max_predictive_segments(void **state)
{
    (void)state;
    gov_config g = gov(GOV_MAX);
    exec *x = make_exec(&g);
    outcome c;
    outcome_none(&c);
    outcome_add(&c, 0, false, 10);
    outcome_add(&c, 10, true, -1);
    exec_result r;
    play(x, &c.o, c.true_first, 0.0, &r);
    static const char *const kinds[] = {"backbone", "exit", "predictor", "backbone", "exit"};
    const int first[] = {0, 0, 0, exit_op(0) + 1, 10};
    const int last[] = {exit_op(0), 0, 0, exit_op(10), 10};
    assert_int_equal(r.n_segments, 5);
    for (int i = 0; i < r.n_segments; i++) {
        assert_int_equal(r.segments[i].seq, i);
        assert_string_equal(r.segments[i].kind, kinds[i]);
        assert_int_equal(r.segments[i].first_layer, first[i]);
        assert_int_equal(r.segments[i].last_layer, last[i]);
        assert_int_equal(r.segments[i].opp, TOP);
    }
    double pred_ns = acc_ctrl(F.t, PRED_OPS).time_ns;
    assert_true(pred_ns == 5.0);
    double want = ops_ns(TOP, 0, exit_op(10)) + acc_head(F.t, 0, TOP)->time_ns + pred_ns +
                  acc_head(F.t, 10, TOP)->time_ns;
    assert_near(r.latency_ns, want, TIGHT, "latency");
    /* the predictor: control-processor energy plus the compute domain's static power */
    const db_segment *p = &r.segments[2];
    acc_cost k = acc_ctrl(F.t, PRED_OPS);
    assert_near(p->compute_nj + p->memory_nj, k.energy.compute_nj + k.energy.memory_nj, TIGHT,
                "predictor dynamic");
    assert_near(p->static_nj, k.energy.static_nj + pwr_idle_nj(&F.p, VDD_V[TOP], pred_ns, 0), TIGHT,
                "predictor static");
    exec_free(x);
}

/* paper, perfect prediction: from exit 0 (R_rem = 19) J = 10 → 1000·10/19 = 526 MHz → 500 MHz;
 * exit 10 fires there. 30 + 1 + 5 + 5 + 2·240 + 2 = 523 ns <= 540 ns classic. */
static void test_paper_perfect_prediction(void **state)
{
    (void)state;
    gov_config g = gov(GOV_PAPER);
    exec *x = make_exec(&g);
    outcome c;
    outcome_none(&c);
    outcome_add(&c, 0, false, 10);
    outcome_add(&c, 10, true, -1);
    exec_result r;
    play(x, &c.o, c.true_first, 0.0, &r);
    assert_int_equal(r.n_transitions, 1);
    assert_int_equal(r.transitions[0].from_opp, TOP);
    assert_int_equal(r.transitions[0].to_opp, 1);
    assert_near(r.latency_ns, 523.0, TIGHT, "latency");
    assert_true(r.latency_ns <= exec_classic_ns(x));
    assert_true(r.deadline_met);
    /* backbone 3 .. 26 and head 10 ran at 500 MHz */
    assert_int_equal(r.n_segments, 6);
    assert_string_equal(r.segments[3].kind, "dvfs");
    assert_int_equal(r.segments[4].opp, 1);
    assert_true(r.segments[4].freq_mhz == 500.0 && r.segments[4].vdd_v == 0.8);
    assert_int_equal(r.segments[5].opp, 1);
    /* and it saved dynamic energy against max */
    gov_config gm = gov(GOV_MAX);
    exec *xm = make_exec(&gm);
    exec_result rm;
    play(xm, &c.o, c.true_first, 0.0, &rm);
    assert_true(dynamic_nj(&r) < dynamic_nj(&rm));
    exec_free(xm);
    exec_free(x);
}

/* paper: a jump past the end clips to f_max; a prediction from the last exit keeps the top. */
static void test_paper_clipping(void **state)
{
    (void)state;
    gov_config g = gov(GOV_PAPER);
    exec *x = make_exec(&g);
    outcome c;
    outcome_none(&c);
    outcome_add(&c, 15, false, 8); /* 1000·8/4 → 1000 MHz */
    outcome_add(&c, 19, false, 3); /* R_rem = 0 → top (no policy predicts here; still defined) */
    exec_result r;
    play(x, &c.o, c.true_first, 0.0, &r);
    assert_int_equal(r.n_transitions, 0);
    for (int i = 0; i < r.n_segments; i++) assert_int_equal(r.segments[i].opp, TOP);
    /* J = 1 from exit 0: 1000/19 = 52.6 MHz → the slowest level */
    outcome_none(&c);
    outcome_add(&c, 0, false, 1);
    outcome_add(&c, 1, true, -1);
    play(x, &c.o, c.true_first, r.finish_ns, &r);
    assert_int_equal(r.n_transitions, 1);
    assert_int_equal(r.transitions[0].to_opp, 0);
    exec_free(x);
}

/* Transitions: counted, priced (table + [dvfs] extra), at the right time; paper returns to the
 * top at the next start, which counts in that request's latency. */
static void test_transitions(void **state)
{
    (void)state;
    gov_config g = gov(GOV_PAPER);
    exec *x = make_exec(&g);
    outcome c;
    outcome_none(&c);
    outcome_add(&c, 0, false, 10);
    outcome_add(&c, 10, true, -1);
    exec_result r1, r2;
    play(x, &c.o, c.true_first, 0.0, &r1);
    assert_int_equal(r1.n_transitions, 1);
    const db_dvfs *t = &r1.transitions[0];
    double before = ops_ns(TOP, 0, exit_op(0)) + acc_head(F.t, 0, TOP)->time_ns +
                    acc_ctrl(F.t, PRED_OPS).time_ns;
    assert_int_equal(t->seq, 0);
    assert_near(t->at_ns, before, TIGHT, "at_ns");
    assert_true(t->from_mhz == 1000.0 && t->to_mhz == 500.0);
    assert_true(t->latency_ns == SWITCH_NS + EXTRA_SWITCH_NS);
    assert_true(t->energy_nj == SWITCH_NJ + EXTRA_SWITCH_NJ);
    const db_segment *d = &r1.segments[3];
    assert_string_equal(d->kind, "dvfs");
    assert_int_equal(d->first_layer, 0);
    assert_true(d->time_ns == SWITCH_NS + EXTRA_SWITCH_NS);
    assert_true(d->compute_nj + d->memory_nj + d->static_nj == SWITCH_NJ + EXTRA_SWITCH_NJ);

    play(x, &c.o, c.true_first, r1.finish_ns, &r2);
    assert_int_equal(r2.n_transitions, 2);
    assert_int_equal(r2.transitions[0].from_opp, 1);
    assert_int_equal(r2.transitions[0].to_opp, TOP);
    assert_true(r2.transitions[0].at_ns == r1.finish_ns);
    assert_int_equal(r2.transitions[1].seq, 1);
    assert_string_equal(r2.segments[0].kind, "dvfs");
    assert_int_equal(r2.segments[0].first_layer, -1);
    assert_near(r2.latency_ns, r1.latency_ns + SWITCH_NS + EXTRA_SWITCH_NS, TIGHT, "latency");
    assert_near(r2.energy_nj - r1.energy_nj, SWITCH_NJ + EXTRA_SWITCH_NJ, 1e-9, "energy");
    exec_free(x);
}

/* static at the slowest level: 4× slower, lower dynamic energy, misses the default deadline. */
static void test_static_lowest(void **state)
{
    (void)state;
    gov_config gs = gov(GOV_STATIC), gm = gov(GOV_MAX);
    gs.static_level = 0;
    exec *xs = make_exec(&gs), *xm = make_exec(&gm);
    outcome c;
    outcome_none(&c);
    exec_result rs, rm;
    play(xs, &c.o, c.true_first, 0.0, &rs);
    play(xm, &c.o, c.true_first, 0.0, &rm);
    assert_int_equal(rs.n_transitions, 0);
    assert_int_equal(rs.segments[0].opp, 0);
    assert_near(rs.latency_ns, 4.0 * CLASSIC_NS, TIGHT, "latency");
    assert_true(rs.latency_ns > rm.latency_ns);
    assert_true(dynamic_nj(&rs) < dynamic_nj(&rm));
    assert_false(rs.deadline_met);
    assert_true(rm.deadline_met);
    exec_free(xs);
    exec_free(xm);
}

/* Periodic requests 1000 ns apart: 460 ns of idle before the second; race_to_idle prices it at
 * gated_mw, max at the top level's static power. */
static void test_race_to_idle_gated(void **state)
{
    (void)state;
    gov_config gr = gov(GOV_RACE_TO_IDLE), gm = gov(GOV_MAX);
    exec *xr = make_exec(&gr), *xm = make_exec(&gm);
    outcome c;
    outcome_none(&c);
    exec_result r;
    for (int i = 0; i < 2; i++) {
        play(xr, &c.o, c.true_first, 1000.0 * i, &r);
        exec_result rm;
        play(xm, &c.o, c.true_first, 1000.0 * i, &rm);
        if (i == 0) continue;
        assert_int_equal(r.n_segments, 2);
        assert_int_equal(rm.n_segments, 2);
        const db_segment *gi = &r.segments[0], *mi = &rm.segments[0];
        assert_string_equal(gi->kind, "idle");
        assert_int_equal(gi->first_layer, -1);
        assert_true(gi->time_ns == 460.0);
        assert_near(gi->static_nj, 5.0 * 460.0 * NJ_PER_MW_NS, TIGHT, "gated idle");
        assert_near(gi->static_nj, pwr_idle_nj(&F.p, VDD_V[TOP], 460.0, 1), TIGHT, "pwr_idle_nj");
        assert_true(gi->compute_nj == 0.0 && gi->memory_nj == 0.0);
        assert_near(mi->static_nj, 100.0 * 460.0 * NJ_PER_MW_NS, TIGHT, "static idle");
        assert_near(rm.energy_nj - r.energy_nj, mi->static_nj - gi->static_nj, TIGHT, "gap");
        assert_true(r.latency_ns == CLASSIC_NS); /* idle lies before the start */
        assert_true(r.start_ns == 1000.0);
    }
    exec_free(xr);
    exec_free(xm);
}

/* Requests 300 ns apart queue behind a 540 ns service: start = previous finish, latency counts
 * the wait, and the second misses the default deadline. */
static void test_queueing(void **state)
{
    (void)state;
    gov_config g = gov(GOV_MAX);
    exec *x = make_exec(&g);
    outcome c;
    outcome_none(&c);
    exec_result r1, r2;
    play(x, &c.o, c.true_first, 0.0, &r1);
    play(x, &c.o, c.true_first, 300.0, &r2);
    assert_true(r2.start_ns == r1.finish_ns);
    assert_true(r2.arrival_ns == 300.0);
    assert_near(r2.latency_ns, 2 * CLASSIC_NS - 300.0, TIGHT, "latency");
    assert_int_equal(r2.n_segments, 1); /* no idle */
    assert_false(r2.deadline_met);
    exec_free(x);
}

/* ---- every governor on random outcomes: the segments replay against the table ---- */

typedef struct replay {
    int level;      /* level before the request (the previous one's last) */
    double free_ns; /* previous finish */
    double switch_ns, switch_nj;
    bool gated;
} replay;

/* Checks every segment of r against the outcome and the table: order and coverage of the work,
 * each one's time and energy parts, the level chain through the switches, the sums. */
static void check_replay(replay *s, const outcome *c, const exec_result *r)
{
    int i = 0, level = s->level, tr = 0, pos = 0;
    double busy = 0.0, energy = 0.0;
    if (r->start_ns > s->free_ns) {
        const db_segment *g = &r->segments[i++];
        assert_string_equal(g->kind, "idle");
        assert_int_equal(g->opp, level);
        assert_near(g->time_ns, r->start_ns - s->free_ns, TIGHT, "idle time");
        assert_near(g->static_nj, pwr_idle_nj(&F.p, VDD_V[level], g->time_ns, s->gated), TIGHT,
                    "idle energy");
        energy += g->static_nj;
    }
    for (; i < r->n_segments; i++) {
        const db_segment *g = &r->segments[i];
        double c_nj = 0.0, m_nj = 0.0, s_nj = 0.0, t_ns = 0.0;
        assert_int_equal(g->seq, i);
        if (!strcmp(g->kind, "dvfs")) {
            const db_dvfs *d = &r->transitions[tr++];
            assert_int_equal(d->from_opp, level);
            assert_int_equal(d->to_opp, g->opp);
            assert_true(g->opp != level);
            assert_near(d->at_ns, r->start_ns + busy, TIGHT, "at_ns");
            level = g->opp;
            t_ns = s->switch_ns;
            c_nj = s->switch_nj;
        } else if (!strcmp(g->kind, "backbone")) {
            assert_int_equal(g->first_layer, pos);
            for (int op = g->first_layer; op <= g->last_layer; op++) {
                const acc_cost *k = acc_op(F.t, op, level);
                t_ns += k->time_ns;
                c_nj += k->energy.compute_nj;
                m_nj += k->energy.memory_nj;
                s_nj += k->energy.static_nj;
            }
            pos = g->last_layer + 1;
        } else if (!strcmp(g->kind, "exit")) {
            assert_true(pos == exit_op(g->first_layer) + 1);
            const acc_cost *k = acc_head(F.t, g->first_layer, level);
            t_ns = k->time_ns;
            c_nj = k->energy.compute_nj;
            m_nj = k->energy.memory_nj;
            s_nj = k->energy.static_nj;
        } else {
            assert_string_equal(g->kind, "predictor");
            acc_cost k = acc_ctrl(F.t, PRED_OPS);
            t_ns = k.time_ns;
            c_nj = k.energy.compute_nj;
            m_nj = k.energy.memory_nj;
            s_nj = k.energy.static_nj + pwr_idle_nj(&F.p, VDD_V[level], t_ns, 0);
        }
        assert_int_equal(g->opp, level);
        assert_true(g->freq_mhz == FREQ_MHZ[level] && g->vdd_v == VDD_V[level]);
        assert_near(g->time_ns, t_ns, TIGHT, "segment time");
        assert_near(g->compute_nj, c_nj, TIGHT, "compute");
        assert_near(g->memory_nj, m_nj, TIGHT, "memory");
        assert_near(g->static_nj, s_nj, TIGHT, "static");
        busy += g->time_ns;
        energy += (g->compute_nj + g->memory_nj) + g->static_nj;
    }
    /* the work: every evaluated head in order, the backbone through the answering exit */
    int heads = 0;
    for (int k = 0; k < r->n_segments; k++)
        if (!strcmp(r->segments[k].kind, "exit")) {
            assert_true(heads < c->o.n_exit_evals);
            assert_int_equal(r->segments[k].first_layer, c->ev[heads++].exit);
        }
    assert_int_equal(heads, c->o.n_exit_evals);
    int last_op = c->o.exit_layer == MAX_EXITS ? F.n_ops - 1 : exit_op(c->o.exit_layer);
    assert_int_equal(pos, last_op + 1);
    assert_int_equal(tr, r->n_transitions);
    assert_true(r->energy_nj == energy); /* same terms, same order */
    assert_near(r->finish_ns - r->start_ns, busy, TIGHT, "busy");
    assert_near(r->latency_ns, r->finish_ns - r->arrival_ns, TIGHT, "latency");
    assert_true(r->start_ns >= r->arrival_ns && r->start_ns >= s->free_ns);
    s->level = level;
    s->free_ns = r->finish_ns;
}

static void test_replay_all_governors(void **state)
{
    (void)state;
    outcome *list = random_list(SEED, LIST_LEN);
    for (int k = 0; k < GOV_COUNT + 2; k++) {
        gov_config g = gov(k < GOV_COUNT ? (gov_kind)k : GOV_STATIC);
        g.static_level = k < GOV_COUNT ? 1 : k - GOV_COUNT; /* static at 1, then at 0 and 1 */
        arrivals *a = NULL;
        char err[ERR_LEN];
        /* mean gap 600 ns: idle time and queueing both happen */
        assert_int_equal(arrivals_new(ARR_POISSON, 0, 1e9 / 600.0, NULL, SEED + (uint64_t)k, &a,
                                      err, sizeof err),
                         GOV_OK);
        exec *x = make_exec(&g);
        replay s = {.level = g.kind == GOV_STATIC ? g.static_level : TOP,
                    .switch_ns = SWITCH_NS + EXTRA_SWITCH_NS,
                    .switch_nj = SWITCH_NJ + EXTRA_SWITCH_NJ,
                    .gated = g.kind == GOV_RACE_TO_IDLE};
        for (int i = 0; i < LIST_LEN; i++) {
            exec_result r;
            play(x, &list[i].o, list[i].true_first, arrivals_next_ns(a, s.free_ns), &r);
            check_replay(&s, &list[i], &r);
        }
        exec_free(x);
        arrivals_free(a);
    }
    free(list);
}

/* ---- the governors' promises ---- */

/* When every request of a back-to-back list meets the deadline at f_max with one switch to
 * spare (the start's), the deadline governor meets every one; given room, it saves energy. */
static void test_deadline_never_misses(void **state)
{
    (void)state;
    outcome *list = random_list(SEED + 1, LIST_LEN);
    gov_config gm = gov(GOV_MAX);
    exec *xm = make_exec(&gm);
    double worst = 0.0, finish = 0.0;
    for (int i = 0; i < LIST_LEN; i++) {
        exec_result r;
        play(xm, &list[i].o, list[i].true_first, finish, &r);
        finish = r.finish_ns;
        if (r.latency_ns > worst) worst = r.latency_ns;
    }
    exec_free(xm);
    int misses;
    for (int tight = 0; tight < 2; tight++) {
        gov_config gd = gov(GOV_DEADLINE), g2 = gov(GOV_MAX);
        gd.deadline_ns = g2.deadline_ns = worst + SWITCH_NS + EXTRA_SWITCH_NS + (tight ? 0 : 200);
        exec *xd = make_exec(&gd), *x2 = make_exec(&g2);
        double e_deadline = run_list(xd, list, LIST_LEN, &misses);
        assert_int_equal(misses, 0);
        double e_max = run_list(x2, list, LIST_LEN, &misses);
        assert_int_equal(misses, 0);
        if (!tight) assert_true(e_deadline < e_max); /* the tight list leaves it no room */
        exec_free(xd);
        exec_free(x2);
    }
    free(list);
}

/* The oracle, with free switches: with a loose deadline no governor spends less on the same
 * list; with the tightest deadline max meets back to back, no single-level governor that meets
 * every deadline spends less (a governor that mixes levels within an inference could). */
static void test_oracle_lowest_energy(void **state)
{
    (void)state;
    outcome *list = random_list(SEED + 2, LIST_LEN);
    opp_table free_switch;
    test_opp(&free_switch, 0.0, 0.0);
    gov_config gm = gov(GOV_MAX);
    exec *xm = make_exec(&gm);
    double worst = 0.0, finish = 0.0;
    for (int i = 0; i < LIST_LEN; i++) {
        exec_result r;
        play(xm, &list[i].o, list[i].true_first, finish, &r);
        finish = r.finish_ns;
        if (r.latency_ns > worst) worst = r.latency_ns;
    }
    exec_free(xm);
    int misses;
    for (int loose = 1; loose >= 0; loose--) {
        gov_config go = gov(GOV_ORACLE);
        go.extra_transition_ns = go.extra_transition_nj = 0.0;
        go.deadline_ns = loose ? 100.0 * CLASSIC_NS : worst;
        exec *xo = make_exec_on(&go, &free_switch);
        double e_oracle = run_list(xo, list, LIST_LEN, &misses);
        assert_int_equal(misses, 0);
        exec_free(xo);
        int compared = 0;
        for (int k = 0; k < GOV_COUNT + LEVELS; k++) {
            gov_config g = go;
            g.kind = k < GOV_COUNT ? (gov_kind)k : GOV_STATIC;
            g.static_level = k < GOV_COUNT ? 0 : k - GOV_COUNT;
            bool single = g.kind == GOV_MAX || g.kind == GOV_STATIC || g.kind == GOV_RACE_TO_IDLE;
            if (g.kind == GOV_ORACLE || (!loose && !single)) continue;
            exec *x = make_exec_on(&g, &free_switch);
            double e = run_list(x, list, LIST_LEN, &misses);
            exec_free(x);
            if (!loose && misses) continue;
            compared++;
            if (e_oracle > e * (1 + TIGHT))
                fail_msg("%s (level %d): %.17g nJ < oracle %.17g nJ", gov_name(g.kind),
                         g.static_level, e, e_oracle);
        }
        assert_true(compared >= (loose ? GOV_COUNT - 1 + LEVELS : 2));
    }
    free(list);
}

/* The oracle picks one level at the start: here the slowest that fits a loose deadline, with no
 * switch during the inference. */
static void test_oracle_single_level(void **state)
{
    (void)state;
    gov_config g = gov(GOV_ORACLE);
    g.deadline_ns = 3.0 * CLASSIC_NS; /* 500 MHz fits the whole network, 250 MHz does not */
    exec *x = make_exec(&g);
    outcome c;
    outcome_none(&c);
    exec_result r;
    play(x, &c.o, c.true_first, 0.0, &r);
    assert_int_equal(r.n_transitions, 1);
    assert_int_equal(r.transitions[0].to_opp, 1);
    assert_true(r.deadline_met);
    /* an early exit fits the slowest level */
    outcome_none(&c);
    outcome_add(&c, 2, true, -1);
    play(x, &c.o, c.true_first, r.finish_ns, &r);
    assert_int_equal(r.n_transitions, 1);
    assert_int_equal(r.transitions[0].to_opp, 0);
    for (int i = 1; i < r.n_segments; i++) assert_int_equal(r.segments[i].opp, 0);
    exec_free(x);
}

/* ---- argument errors ---- */

static void test_inference_errors(void **state)
{
    (void)state;
    gov_config g = gov(GOV_PAPER);
    exec *x = make_exec(&g);
    exec_result r;
    outcome c;
    outcome_none(&c);
    outcome_add(&c, 5, false, 2);
    outcome_add(&c, 3, true, -1); /* not ascending */
    assert_int_equal(exec_inference(x, &c.o, 3, 0.0, &r), GOV_EARG);
    outcome_none(&c);
    outcome_add(&c, 3, false, -1);
    c.o.exit_layer = 4; /* not the last evaluated exit */
    assert_int_equal(exec_inference(x, &c.o, 4, 0.0, &r), GOV_EARG);
    outcome_none(&c);
    outcome_add(&c, MAX_EXITS, true, -1); /* the final classifier is no head */
    assert_int_equal(exec_inference(x, &c.o, -1, 0.0, &r), GOV_EARG);
    outcome_none(&c);
    assert_int_equal(exec_inference(x, &c.o, MAX_EXITS + 1, 0.0, &r), GOV_EARG);
    assert_int_equal(exec_inference(x, &c.o, -1, -1.0, &r), GOV_EARG);
    assert_int_equal(exec_inference(x, &c.o, -1, NAN, &r), GOV_EARG);
    assert_int_equal(exec_inference(x, NULL, -1, 0.0, &r), GOV_EARG);
    assert_int_equal(exec_inference(x, &c.o, -1, 0.0, NULL), GOV_EARG);
    c.o.exit_layer = -1;
    assert_int_equal(exec_inference(x, &c.o, -1, 0.0, &r), GOV_EARG);
    /* nothing changed: the next valid request starts at 0 like the first */
    outcome_none(&c);
    play(x, &c.o, -1, 0.0, &r);
    assert_true(r.start_ns == 0.0 && r.latency_ns == CLASSIC_NS);
    exec_free(x);
}

/* ---- arrivals ---- */

static const char *write_file(const char *name, const char *text)
{
    static char path[96];
    snprintf(path, sizeof path, "%s/%s", F.dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static void test_arrivals_periodic_b2b(void **state)
{
    (void)state;
    arrivals *a = NULL;
    char err[ERR_LEN];
    assert_int_equal(arrivals_new(ARR_PERIODIC, 250.0, 0, NULL, 1, &a, err, sizeof err), GOV_OK);
    for (int k = 0; k < 5; k++) assert_true(arrivals_next_ns(a, 1e9) == 250e3 * k);
    arrivals_free(a);
    assert_int_equal(arrivals_new(ARR_BACK_TO_BACK, 0, 0, NULL, 1, &a, err, sizeof err), GOV_OK);
    assert_true(arrivals_next_ns(a, 0.0) == 0.0);
    assert_true(arrivals_next_ns(a, 1234.5) == 1234.5);
    arrivals_free(a);
    arrivals_free(NULL);
}

static void test_arrivals_poisson(void **state)
{
    (void)state;
    const double rate = 1000.0, mean_ns = 1e6;
    arrivals *a = NULL, *b = NULL, *c = NULL;
    char err[ERR_LEN];
    assert_int_equal(arrivals_new(ARR_POISSON, 0, rate, NULL, 42, &a, err, sizeof err), GOV_OK);
    assert_int_equal(arrivals_new(ARR_POISSON, 0, rate, NULL, 42, &b, err, sizeof err), GOV_OK);
    assert_int_equal(arrivals_new(ARR_POISSON, 0, rate, NULL, 43, &c, err, sizeof err), GOV_OK);
    double prev = 0.0, last_c = 0.0;
    bool differ = false;
    for (int i = 0; i < POISSON_DRAWS; i++) {
        double t = arrivals_next_ns(a, 0.0);
        assert_true(t == arrivals_next_ns(b, 0.0)); /* reproducible for a seed */
        last_c = arrivals_next_ns(c, 0.0);
        if (last_c != t) differ = true;
        assert_true(t > prev);
        prev = t;
    }
    assert_true(differ);
    /* mean gap within 1 % (the standard error is 0.32 %) */
    assert_near(prev / POISSON_DRAWS, mean_ns, 0.01, "mean gap");
    assert_near(last_c / POISSON_DRAWS, mean_ns, 0.01, "mean gap, other seed");
    arrivals_free(a);
    arrivals_free(b);
    arrivals_free(c);
}

static void test_arrivals_trace(void **state)
{
    (void)state;
    const char *path = write_file("ok.txt", "# arrival times in us\n0\n  12.5  # a comment\n\n"
                                            "12.5\r\n1e2\n");
    arrivals *a = NULL;
    char err[ERR_LEN];
    assert_int_equal(arrivals_new(ARR_TRACE, 0, 0, path, 0, &a, err, sizeof err), GOV_OK);
    const double want[] = {0.0, 12500.0, 12500.0, 100000.0, -1.0, -1.0};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        assert_true(arrivals_next_ns(a, 5.0) == want[i]);
    arrivals_free(a);
}

static void expect_arrivals_error(gov_arrival kind, double period_us, double rate, const char *path,
                                  int want_rc, const char *want)
{
    arrivals *a = (arrivals *)&F;
    char err[ERR_LEN] = "";
    assert_int_equal(arrivals_new(kind, period_us, rate, path, 0, &a, err, sizeof err), want_rc);
    assert_null(a);
    assert_string_equal(err, want);
}

static void expect_trace_error(const char *text, const char *want_fmt)
{
    const char *path = write_file("bad.txt", text);
    char want[ERR_LEN];
    snprintf(want, sizeof want, want_fmt, path);
    expect_arrivals_error(ARR_TRACE, 0, 0, path, GOV_EARG, want);
}

static void test_arrivals_errors(void **state)
{
    (void)state;
    expect_trace_error("1\nabc\n", "%s:2: 'abc' is not an arrival time in us");
    expect_trace_error("12abc\n", "%s:1: '12abc' is not an arrival time in us");
    expect_trace_error("1e999\n", "%s:1: '1e999' is not an arrival time in us");
    expect_trace_error("nan\n", "%s:1: 'nan' is not an arrival time in us");
    expect_trace_error("1 2\n", "%s:1: '1 2' is not an arrival time in us");
    expect_trace_error("# c\n-3\n", "%s:2: negative arrival time -3 us");
    expect_trace_error("5\n\n3 # late\n",
                       "%s:3: arrival time 3 us is before the previous one (5 us)");
    expect_trace_error("# nothing\n\n", "%s: no arrival times");
    expect_trace_error("", "%s: no arrival times");
    char missing[128];
    snprintf(missing, sizeof missing, "%s/missing.txt", F.dir);
    char want[ERR_LEN];
    snprintf(want, sizeof want, "%s: cannot open: No such file or directory", missing);
    expect_arrivals_error(ARR_TRACE, 0, 0, missing, GOV_EIO, want);
    expect_arrivals_error(ARR_TRACE, 0, 0, "", GOV_EARG,
                          "[workload] arrival_trace is required for arrival = trace");
    expect_arrivals_error(ARR_TRACE, 0, 0, NULL, GOV_EARG,
                          "[workload] arrival_trace is required for arrival = trace");
    expect_arrivals_error(ARR_PERIODIC, 0, 0, NULL, GOV_EARG,
                          "[workload] period_us = 0: must be > 0");
    expect_arrivals_error(ARR_POISSON, 0, -2, NULL, GOV_EARG,
                          "[workload] rate_per_s = -2: must be > 0");
    expect_arrivals_error((gov_arrival)7, 0, 0, NULL, GOV_EARG,
                          "[workload] arrival: unknown arrival process 7");
    assert_true(arrivals_next_ns(NULL, 3.0) == -1);
}

/* ---- full_des: the same numbers as the table on a real run ---- */

static void test_full_des_matches_table(void **state)
{
    (void)state;
    acc_config a = {.cores = 2,
                    .pe_rows = 4,
                    .pe_cols = 4,
                    .sram_kib = 64,
                    .gbuf_kib = 256,
                    .dram_bytes_per_ns = 8.0,
                    .noc_bytes_per_cycle = 16.0,
                    .vector_lanes = 4,
                    .ctrl_mhz = 500.0};
    pwr_params p = {.v_ref_v = 0.9,
                    .mac_pj = 1.5,
                    .sram_pj_per_byte = 1.25,
                    .gbuf_pj_per_byte = 12.5,
                    .vector_op_pj = 0.4,
                    .noc_pj_per_byte = 1.0,
                    .dram_pj_per_byte = 160.0,
                    .ctrl_op_pj = 1.0,
                    .static_mw = 200.0,
                    .static_v_exponent = 3.0,
                    .gated_mw = 5.0};
    opp_table o;
    opp_generic(&o);
    acc_table *t = NULL;
    char err[ERR_LEN];
    if (acc_table_build(&a, F.n, &o, &p, &t, err, sizeof err)) fail_msg("table: %s", err);
    exec *bad = NULL;
    gov_config gb = gov(GOV_MAX);
    acc_config no_cores = a;
    no_cores.cores = 0;
    assert_int_equal(exec_new(F.n, t, &o, &p, &gb, true, &no_cores, &bad, err, sizeof err),
                     GOV_EARG);
    assert_null(bad);
    assert_string_equal(err, "[accelerator] cores = 0: must be in 1..4096");
    outcome *list = random_list(SEED + 3, DES_OUTCOMES);
    const gov_kind kinds[] = {GOV_MAX, GOV_PAPER, GOV_DEADLINE, GOV_ORACLE};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        gov_config g = gov(kinds[k]);
        g.deadline_ns = 0.0;
        exec *xt = NULL, *xd = NULL;
        assert_int_equal(exec_new(F.n, t, &o, &p, &g, false, NULL, &xt, err, sizeof err), GOV_OK);
        assert_int_equal(exec_new(F.n, t, &o, &p, &g, true, &a, &xd, err, sizeof err), GOV_OK);
        double finish = 0.0;
        for (int i = 0; i < DES_OUTCOMES; i++) {
            exec_result rt, rd;
            play(xt, &list[i].o, list[i].true_first, finish, &rt);
            play(xd, &list[i].o, list[i].true_first, finish, &rd);
            finish = rt.finish_ns;
            assert_true(rt.latency_ns == rd.latency_ns && rt.energy_nj == rd.energy_nj);
            assert_true(rt.finish_ns == rd.finish_ns && rt.deadline_met == rd.deadline_met);
            assert_int_equal(rt.n_segments, rd.n_segments);
            assert_int_equal(rt.n_transitions, rd.n_transitions);
            for (int s = 0; s < rt.n_segments; s++) {
                const db_segment *u = &rt.segments[s], *v = &rd.segments[s];
                assert_string_equal(u->kind, v->kind);
                assert_true(u->first_layer == v->first_layer && u->last_layer == v->last_layer);
                assert_true(u->opp == v->opp && u->time_ns == v->time_ns);
                assert_true(u->compute_nj == v->compute_nj && u->memory_nj == v->memory_nj &&
                            u->static_nj == v->static_nj);
            }
        }
        exec_free(xt);
        exec_free(xd);
    }
    free(list);
    acc_table_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_exec_new_errors),
        cmocka_unit_test(test_classic_and_deadline),
        cmocka_unit_test(test_max_classic),
        cmocka_unit_test(test_max_predictive_segments),
        cmocka_unit_test(test_paper_perfect_prediction),
        cmocka_unit_test(test_paper_clipping),
        cmocka_unit_test(test_transitions),
        cmocka_unit_test(test_static_lowest),
        cmocka_unit_test(test_race_to_idle_gated),
        cmocka_unit_test(test_queueing),
        cmocka_unit_test(test_replay_all_governors),
        cmocka_unit_test(test_deadline_never_misses),
        cmocka_unit_test(test_oracle_lowest_energy),
        cmocka_unit_test(test_oracle_single_level),
        cmocka_unit_test(test_inference_errors),
        cmocka_unit_test(test_arrivals_periodic_b2b),
        cmocka_unit_test(test_arrivals_poisson),
        cmocka_unit_test(test_arrivals_trace),
        cmocka_unit_test(test_arrivals_errors),
        cmocka_unit_test(test_full_des_matches_table),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
