/* cmocka tests of the exit rules, the prediction engine and the exit policies (sim/pol.c):
 * hand-worked predictor and rule cases, every policy on small hand-derived logit tables read
 * through a recording exit source, invariants over random tables against slow references, and
 * the configuration check's messages. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pol.h"

enum {
    MAX_EXITS = 20,        /* exits in the largest table */
    MAX_CLASSES = 10,      /* classes in the largest table */
    MAX_REQUESTS = 32,     /* logits requests one run may make (exits + final) */
    RANDOM_SAMPLES = 2000, /* random tables in the invariant test */
    RANDOM_MAX_TAPS = 5,   /* longest random predictor kernel */
    RANDOM_MAX_ROUNDS = 10,
    NO_FAIL = -100, /* fake_src.fail_at: never fail */
    ERR_LEN = 256,
    SHORT_ERR_LEN = 8,
};

static const double EXACT = 0.0;  /* tolerance for scores that are small integers */
static const double CLOSE = 1e-6; /* tolerance for scores from float logits of logs */
static const double LN3 = 1.0986122886681098;
static const uint64_t SEED = 0x5eed0f9e0d1c7a11ULL;

/* ---- helpers ---- */

static void assert_near(double got, double want, double tol, const char *what)
{
    if (!(fabs(got - want) <= tol))
        fail_msg("%s: %.17g, want %.17g (tol %g)", what, got, want, tol);
}

/* An exit source over a static table ((n_exits + 1) × classes, the final last) that records
 * the exits asked for and fails the test when one is asked twice or out of order. */
typedef struct fake_src {
    const float *table;
    int n_exits, classes;
    int requested[MAX_REQUESTS];
    int n_requested;
    int fail_at; /* exit whose request fails; NO_FAIL for none */
} fake_src;

static int fake_logits(void *ctx, int exit, float *z)
{
    fake_src *s = ctx;
    if (exit < 0 || exit > s->n_exits) fail_msg("exit %d asked for; %d exits", exit, s->n_exits);
    if (s->n_requested > 0 && exit <= s->requested[s->n_requested - 1])
        fail_msg("exit %d asked for after exit %d", exit, s->requested[s->n_requested - 1]);
    assert_true(s->n_requested < MAX_REQUESTS);
    s->requested[s->n_requested++] = exit;
    if (exit == s->fail_at) return -1;
    memcpy(z, s->table + (size_t)exit * (size_t)s->classes, (size_t)s->classes * sizeof(float));
    return 0;
}

static float work[3 * MAX_CLASSES];

/* Runs c over table; on success checks that the exits asked for are the evaluated ones, then
 * the final classifier only when no exit answered. */
static int run_on(const pol_config *c, const float *table, int true_first, pol_outcome *o,
                  pol_eval *evals)
{
    fake_src s = {.table = table, .n_exits = c->n_exits, .classes = c->classes, .fail_at = NO_FAIL};
    assert_true(pol_work_floats(c) <= sizeof(work) / sizeof(work[0]));
    memset(o, 0xa5, sizeof(*o));
    o->evals = evals;
    int rc = pol_run(c, fake_logits, &s, true_first, work, o);
    if (rc) return rc;
    assert_true(o->n_exit_evals >= 0 && o->n_exit_evals <= c->n_exits);
    for (int i = 0; i < o->n_exit_evals; i++) assert_int_equal(s.requested[i], evals[i].exit);
    bool final = o->exit_layer == c->n_exits;
    assert_int_equal(s.n_requested, o->n_exit_evals + (final ? 1 : 0));
    if (final) assert_int_equal(s.requested[o->n_exit_evals], c->n_exits);
    return rc;
}

/* Expected outcome of one hand-worked run. */
typedef struct expect {
    int exit_layer, pred, first_predicted_exit, n_exit_evals, n_predictions, n_mispredictions;
    uint64_t ops;
    pol_eval evals[MAX_EXITS];
} expect;

static void check_outcome(const pol_outcome *o, const expect *e)
{
    assert_int_equal(o->exit_layer, e->exit_layer);
    assert_int_equal(o->pred, e->pred);
    assert_int_equal(o->first_predicted_exit, e->first_predicted_exit);
    assert_int_equal(o->n_exit_evals, e->n_exit_evals);
    assert_int_equal(o->n_predictions, e->n_predictions);
    assert_int_equal(o->n_mispredictions, e->n_mispredictions);
    assert_int_equal(o->predictor_ops, e->ops);
    for (int i = 0; i < e->n_exit_evals; i++) {
        const pol_eval *g = &o->evals[i], *w = &e->evals[i];
        assert_int_equal(g->exit, w->exit);
        assert_near(g->score, w->score, EXACT, "score");
        assert_near(g->threshold, w->threshold, EXACT, "threshold");
        assert_int_equal(g->fired, w->fired);
        assert_int_equal(g->predicted_jump, w->predicted_jump);
    }
}

static void run_expect(const pol_config *c, const float *table, int true_first, const expect *e)
{
    pol_outcome o;
    pol_eval evals[MAX_EXITS];
    assert_int_equal(pol_config_check(c, NULL, 0), POL_OK);
    assert_int_equal(run_on(c, table, true_first, &o, evals), POL_OK);
    check_outcome(&o, e);
}

static const float ONES3[] = {1, 1, 1};

/* A predictor configuration over thresholds t of n exits with kernel k of len taps. */
static pol_config pred_config(int n_exits, int classes, const double *t, double beta,
                              const float *k, int len, int rounds)
{
    pol_config c = {.policy = POL_PREDICTIVE,
                    .rule = POL_RULE_ACTIVATION,
                    .beta = beta,
                    .rounds = rounds,
                    .kernel_len = len,
                    .n_exits = n_exits,
                    .classes = classes,
                    .thresholds = t,
                    .patience = 1};
    memcpy(c.kernel, k, (size_t)len * sizeof(float));
    return c;
}

/* ---- the prediction engine ---- */

/* z = [1,2,3], kernel [1,1,1]: z1 = [3,6,5] (6), z2 = [9,14,11] (14), z3 = [23,34,25] (34).
 * From l = 1: 6 > T2 = 10 no, 14 > T3 = 14 no (strict), 34 > T4 = 30 yes: J = 3.
 * Ops per round: 3·2 additions, no multiplications (all taps 1), 3 comparisons, 1 threshold. */
static void test_predict_basic(void **state)
{
    (void)state;
    static const double t[] = {1, 1, 10, 14, 30, 1};
    static const float z[] = {1, 2, 3};
    pol_config c = pred_config(6, 3, t, 1.0, ONES3, 3, 8);
    float w[6];
    uint64_t ops = 0;
    assert_int_equal(pol_predict(&c, 1, z, w, &ops), 3);
    assert_int_equal(ops, 3 * 10);
    /* beta scales every threshold: 0.5·T2 = 5 < 6 gives J = 1, and ops accumulate */
    c.beta = 0.5;
    assert_int_equal(pol_predict(&c, 1, z, w, &ops), 1);
    assert_int_equal(ops, 4 * 10);
    /* NULL ops is allowed; z is left alone */
    assert_int_equal(pol_predict(&c, 1, z, w, NULL), 1);
    assert_true(z[0] == 1 && z[1] == 2 && z[2] == 3);
}

/* Negative logits: z = [-4,1,0]: z1 = [-3,-3,1] (|.| max 3), z2 = [-6,-5,-2] (6). The signed
 * maximum (1, then -2) would never fire. 3 > 3 no; 6 > 5.5 yes: J = 2. */
static void test_predict_negative(void **state)
{
    (void)state;
    static const double t[] = {0, 3, 5.5, 100};
    static const float z[] = {-4, 1, 0};
    pol_config c = pred_config(4, 3, t, 1.0, ONES3, 3, 8);
    float w[6];
    uint64_t ops = 0;
    assert_int_equal(pol_predict(&c, 0, z, w, &ops), 2);
    assert_int_equal(ops, 2 * 10);
}

/* Ties: z = [2,2]: z1 = [4,4], z2 = [8,8]; the maximum of equal values is that value. */
static void test_predict_ties(void **state)
{
    (void)state;
    static const double t[] = {0, 4, 7.99};
    static const float z[] = {2, 2};
    pol_config c = pred_config(3, 2, t, 1.0, ONES3, 3, 8);
    float w[4];
    uint64_t ops = 0;
    assert_int_equal(pol_predict(&c, 0, z, w, &ops), 2);
    assert_int_equal(ops, 2 * (2 * 2 + 2 + 1));
}

/* C = 1: only the centre tap sees a class, so [1,1,1] keeps z = [5] every round; 5 > 6 never:
 * J = R = 4, ops 4 rounds × (1·2 + 1 + 1). With kernel [2] from l = 2 z doubles: 10 > T3 = 10
 * no, 20 > T4 = 15 yes: J = 2, ops 2 × (0 additions + 1 multiplication + 1 + 1). */
static void test_predict_one_class(void **state)
{
    (void)state;
    static const double t[] = {6, 6, 6, 10, 15, 15, 15};
    static const float z[] = {5};
    static const float two[] = {2};
    pol_config c = pred_config(7, 1, t, 1.0, ONES3, 3, 4);
    float w[2];
    uint64_t ops = 0;
    assert_int_equal(pol_predict(&c, 0, z, w, &ops), 4);
    assert_int_equal(ops, 4 * 4);
    c = pred_config(7, 1, t, 1.0, two, 1, 8);
    ops = 0;
    assert_int_equal(pol_predict(&c, 2, z, w, &ops), 2);
    assert_int_equal(ops, 2 * 3);
}

/* Kernel [0.5,1,0.5] on z = [2,0,4,0]: z1 = [2,3,4,2] (4), z2 = [3.5,6,6.5,4] (6.5).
 * 4 > 4 no, 6.5 > 6.4 yes: J = 2; ops per round 4·2 + 4·3 + 4 + 1 = 25. */
static void test_predict_kernel_half(void **state)
{
    (void)state;
    static const double t[] = {0, 4, 6.4, 100};
    static const float z[] = {2, 0, 4, 0};
    static const float k[] = {0.5f, 1, 0.5f};
    pol_config c = pred_config(4, 4, t, 1.0, k, 3, 8);
    float w[8];
    uint64_t ops = 0;
    assert_int_equal(pol_predict(&c, 0, z, w, &ops), 2);
    assert_int_equal(ops, 2 * 25);
    /* 6.5 > 6.5 is not: the next rounds compare with T3 = 100 (clipped), R = 3 exhausted */
    static const double t2[] = {0, 4, 6.5, 100};
    c = pred_config(4, 4, t2, 1.0, k, 3, 3);
    ops = 0;
    assert_int_equal(pol_predict(&c, 0, z, w, &ops), 3);
    assert_int_equal(ops, 3 * 25);
}

/* A length-1 kernel: [2] on z = [1,-3,2] gives [2,-6,4] (6), [4,-12,8] (12); ops per round
 * 0 additions + 3 multiplications + 3 + 1 = 7. [1] keeps z: no multiplications, 4 per round. */
static void test_predict_kernel_one_tap(void **state)
{
    (void)state;
    static const double t[] = {0, 6, 11, 100};
    static const float z[] = {1, -3, 2};
    static const float two[] = {2}, one[] = {1};
    pol_config c = pred_config(4, 3, t, 1.0, two, 1, 8);
    float w[6];
    uint64_t ops = 0;
    assert_int_equal(pol_predict(&c, 0, z, w, &ops), 2);
    assert_int_equal(ops, 2 * 7);
    static const double t1[] = {0, 3, 2.9, 0};
    c = pred_config(4, 3, t1, 1.0, one, 1, 8);
    ops = 0;
    assert_int_equal(pol_predict(&c, 0, z, w, &ops), 2); /* 3 > 3 no, 3 > 2.9 yes */
    assert_int_equal(ops, 2 * 4);
}

/* The kernel is a correlation centred at K/2: out[c] = sum_j k[j]·in[c + j - K/2]. With
 * [0,0,1], z = [5,1,1] shifts left: [1,1,0] (1), [1,0,0] (1), then zeros; the flipped
 * convolution would give [0,5,1] (5) and fire at once. An even kernel [1,2] (centre 1):
 * out[c] = in[c-1] + 2·in[c]: [3,0,0] -> [6,3,0] (6). */
static void test_predict_kernel_direction(void **state)
{
    (void)state;
    static const double t[] = {0, 2, 2, 2, 2, 2};
    static const float z[] = {5, 1, 1};
    static const float shift[] = {0, 0, 1};
    pol_config c = pred_config(6, 3, t, 1.0, shift, 3, 4);
    float w[6];
    uint64_t ops = 0;
    assert_int_equal(pol_predict(&c, 0, z, w, &ops), 4);
    assert_int_equal(ops, 4 * (3 * 2 + 3 * 3 + 3 + 1));
    static const double t6[] = {0, 5.99, 100};
    static const float z2[] = {3, 0, 0};
    static const float even[] = {1, 2};
    c = pred_config(3, 3, t6, 1.0, even, 2, 4);
    assert_int_equal(pol_predict(&c, 0, z2, w, NULL), 1);
    static const double t7[] = {0, 6, 100};
    c = pred_config(3, 3, t7, 1.0, even, 2, 4);
    assert_int_equal(pol_predict(&c, 0, z2, w, NULL), 4); /* 6 > 6 no; then T2 = 100 */
}

/* The threshold index is clipped at the last exit: from l = 2 of 4 exits, every round compares
 * with T3 = 7 (the array has exactly 4 entries, so a read past it is an ASan error).
 * z = [1,2,3]: 6 > 7 no, 14 > 7 yes: J = 2. From the last exit itself, T3 too: J = 2. */
static void test_predict_clip(void **state)
{
    (void)state;
    double *t = malloc(4 * sizeof(double)); /* not test_malloc: ASan must see a read past it */
    assert_non_null(t);
    t[0] = t[1] = t[2] = 100;
    t[3] = 7;
    static const float z[] = {1, 2, 3};
    pol_config c = pred_config(4, 3, t, 1.0, ONES3, 3, 8);
    float w[6];
    assert_int_equal(pol_predict(&c, 2, z, w, NULL), 2);
    assert_int_equal(pol_predict(&c, 3, z, w, NULL), 2);
    t[3] = 1000; /* beta*T = 10000; max |z^(k)|: 6, 14, 34, 82, 198, 478, 1154, 2786: J = R */
    c.beta = 10;
    uint64_t ops = 0;
    assert_int_equal(pol_predict(&c, 2, z, w, &ops), 8);
    assert_int_equal(ops, 8 * 10);
    free(t);
}

/* ---- rules ---- */

static void test_rule_scores(void **state)
{
    (void)state;
    static const float a[] = {-3, 2, 1};
    assert_near(pol_score(POL_RULE_ACTIVATION, a, 3), 3, EXACT, "activation");
    static const float neg1[] = {-7};
    assert_near(pol_score(POL_RULE_ACTIVATION, neg1, 1), 7, EXACT, "activation C=1");
    static const float zero[] = {0, 0, 0, 0};
    assert_near(pol_score(POL_RULE_ACTIVATION, zero, 4), 0, EXACT, "activation zeros");

    static const float two0[] = {0, 0};
    assert_near(pol_score(POL_RULE_SOFTMAX, two0, 2), 0.5, EXACT, "softmax [0,0]");
    const float l3[] = {(float)LN3, 0};
    assert_near(pol_score(POL_RULE_SOFTMAX, l3, 2), 0.75, CLOSE, "softmax [ln3,0]");
    static const float big[] = {1000, 1000, 1000, 1000};
    assert_near(pol_score(POL_RULE_SOFTMAX, big, 4), 0.25, EXACT, "softmax large");
    const float inf[] = {0, -INFINITY};
    assert_near(pol_score(POL_RULE_SOFTMAX, inf, 2), 1, EXACT, "softmax -inf");
    assert_near(pol_score(POL_RULE_SOFTMAX, neg1, 1), 1, EXACT, "softmax C=1");

    /* -(1/4 ln 1/4 + 3/4 ln 3/4) = 0.5623351446188083 */
    assert_near(pol_score(POL_RULE_ENTROPY, zero, 4), log(4.0), 1e-15, "entropy uniform 4");
    assert_near(pol_score(POL_RULE_ENTROPY, l3, 2), 0.5623351446188083, CLOSE, "entropy [ln3,0]");
    static const float big2[] = {1000, 1000};
    assert_near(pol_score(POL_RULE_ENTROPY, big2, 2), log(2.0), 1e-15, "entropy large");
    assert_near(pol_score(POL_RULE_ENTROPY, inf, 2), 0, EXACT, "entropy -inf");
    assert_near(pol_score(POL_RULE_ENTROPY, neg1, 1), 0, EXACT, "entropy C=1");

    assert_true(isnan(pol_score(POL_RULE_PATIENCE, a, 3)));
    assert_true(isnan(pol_score(POL_RULE_COUNT, a, 3)));
    assert_true(isnan(pol_score(POL_RULE_ACTIVATION, a, 0)));
}

static void test_rule_fires(void **state)
{
    (void)state;
    static const double t[] = {0, 5, 2};
    pol_config c = {.rule = POL_RULE_ACTIVATION,
                    .beta = 1.5,
                    .n_exits = 3,
                    .classes = 3,
                    .thresholds = t,
                    .patience = 3};
    assert_near(pol_threshold(&c, 2), 3, EXACT, "beta*T_2");
    assert_true(pol_fires(&c, 2, 3.0)); /* >= */
    assert_false(pol_fires(&c, 2, 2.999));
    assert_true(pol_fires(&c, 0, 0.0)); /* T_0 = 0 */
    assert_false(pol_fires(&c, 1, 7.0));
    assert_false(pol_fires(&c, 3, 1e9)); /* no such exit */
    assert_true(isnan(pol_threshold(&c, -1)));

    c.rule = POL_RULE_SOFTMAX;
    c.beta = 0.75;
    assert_near(pol_threshold(&c, 1), 0.75, EXACT, "softmax threshold");
    assert_true(pol_fires(&c, 1, 0.75));
    assert_false(pol_fires(&c, 1, 0.7499));

    c.rule = POL_RULE_ENTROPY;
    c.beta = 0.5;
    assert_near(pol_threshold(&c, 0), 0.5, EXACT, "entropy threshold");
    assert_true(pol_fires(&c, 0, 0.5)); /* <= */
    assert_true(pol_fires(&c, 0, 0.0));
    assert_false(pol_fires(&c, 0, 0.5001));

    c.rule = POL_RULE_PATIENCE;
    assert_near(pol_threshold(&c, 0), 3, EXACT, "patience threshold");
    assert_true(pol_fires(&c, 0, 3));
    assert_false(pol_fires(&c, 0, 2));

    c.rule = POL_RULE_COUNT;
    assert_false(pol_fires(&c, 0, 1e9));
    assert_false(pol_fires(NULL, 0, 1e9));
}

static void test_names(void **state)
{
    (void)state;
    static const char *const policies[] = {
        "none", "coarse", "passive", "predictive", "predictive_single", "oracle"};
    static const char *const rules[] = {"activation", "softmax", "entropy", "patience"};
    for (int i = 0; i < POL_POLICY_COUNT; i++) {
        assert_string_equal(pol_policy_name((pol_policy)i), policies[i]);
        assert_int_equal(pol_policy_by_name(policies[i]), i);
    }
    for (int i = 0; i < POL_RULE_COUNT; i++) {
        assert_string_equal(pol_rule_name((pol_rule)i), rules[i]);
        assert_int_equal(pol_rule_by_name(rules[i]), i);
    }
    assert_string_equal(pol_policy_name(POL_POLICY_COUNT), "?");
    assert_string_equal(pol_policy_name((pol_policy)-1), "?");
    assert_string_equal(pol_rule_name(POL_RULE_COUNT), "?");
    assert_int_equal(pol_policy_by_name("Predictive"), -1);
    assert_int_equal(pol_policy_by_name(""), -1);
    assert_int_equal(pol_policy_by_name(NULL), -1);
    assert_int_equal(pol_rule_by_name("max"), -1);
    pol_config c = {.classes = 10};
    assert_int_equal(pol_work_floats(&c), 30);
    assert_int_equal(pol_work_floats(NULL), 0);
}

/* ---- policies on hand-worked tables ---- */

/* Table A: 6 exits, 3 classes, T = 10 everywhere. Scores (max |z|): 2, 3, 4, 12, 11, 15, so
 * with beta 1 exits 3, 4, 5 fire. The final classifier's [1,5,5] ties: class 1.
 * Predictor from exit 0 ([1,2,0], kernel [1,1,1]): 3, 8, 19, 46, 111, 268, 647, 1562. */
enum { A_EXITS = 6, A_CLASSES = 3 };
static const float TABLE_A[(A_EXITS + 1) * A_CLASSES] = {
    1,  2,  0,  /* exit 0: 2 */
    3,  -1, 0,  /* exit 1: 3 */
    0,  0,  4,  /* exit 2: 4 */
    12, 0,  1,  /* exit 3: 12, fires */
    0,  11, 0,  /* exit 4: 11, fires */
    0,  0,  15, /* exit 5: 15, fires */
    1,  5,  5,  /* final: class 1 (tie) */
};
static const double T_A[A_EXITS] = {10, 10, 10, 10, 10, 10};

static pol_config config_a(pol_policy p, double beta, int l0, int rounds)
{
    pol_config c = pred_config(A_EXITS, A_CLASSES, T_A, beta, ONES3, 3, rounds);
    c.policy = p;
    c.l0 = l0;
    return c;
}

/* Table B: 8 exits, 3 classes, T = 10. Scores 1, 1, 10, 0, 2, 20, 0, 11: exits 2 (10 >= 10),
 * 5 and 7 fire. Exit 7 is [0,-11,3]: its score comes from class 1, its argmax is class 2.
 * Predictor from exit 0 ([1,0,0]): 1, 2, 5, 12: J = 4; from exit 4 ([2,0,0]): 2, 4, 10 (not
 * > 10), 24: J = 4, clipped to exit 7. */
enum { B_EXITS = 8, B_CLASSES = 3 };
static const float TABLE_B[(B_EXITS + 1) * B_CLASSES] = {
    1,  0,   0, /* exit 0: 1 */
    0,  0,   1, /* exit 1: 1 */
    0,  10,  0, /* exit 2: 10, fires (the true first) */
    0,  0,   0, /* exit 3: 0 */
    2,  0,   0, /* exit 4: 2 */
    20, 0,   0, /* exit 5: 20, fires */
    0,  0,   0, /* exit 6: 0 */
    0,  -11, 3, /* exit 7: 11, fires; class 2 */
    0,  0,   1, /* final: class 2 */
};
static const double T_B[B_EXITS] = {10, 10, 10, 10, 10, 10, 10, 10};

static pol_config config_b(pol_policy p, int l0)
{
    pol_config c = pred_config(B_EXITS, B_CLASSES, T_B, 1.0, ONES3, 3, 8);
    c.policy = p;
    c.l0 = l0;
    return c;
}

/* Table C: 5 exits, 1 class, T = [10,10,3,1,0.25], z = 5, 10, 2, 0.5, 0.5. With one class the
 * predictor's z stays put, so J = first k with z > T_{l+k}. Exit 1 is the true first (10 >=
 * 10), but the predictor jumps from 0 over it (5 > T_2 = 3: J = 2). */
enum { C_EXITS = 5 };
static const float TABLE_C[C_EXITS + 1] = {5, 10, 2, 0.5f, 0.5f, 7};
static const double T_C[C_EXITS] = {10, 10, 3, 1, 0.25};

/* Table P (patience): 6 exits, 2 classes; argmaxes 0, 1, 1, 0, 0 (a tie [1,1]), 1; final 1. */
enum { P_EXITS = 6, P_CLASSES = 2 };
static const float TABLE_P[(P_EXITS + 1) * P_CLASSES] = {
    1, 0, /* exit 0: class 0 */
    0, 1, /* exit 1: class 1 */
    0, 2, /* exit 2: class 1 */
    3, 0, /* exit 3: class 0 */
    1, 1, /* exit 4: class 0 (tie) */
    0, 1, /* exit 5: class 1 */
    0, 1, /* final: class 1 */
};

static pol_config config_p(pol_policy p, int l0, int patience)
{
    pol_config c = {.policy = p,
                    .rule = POL_RULE_PATIENCE,
                    .l0 = l0,
                    .patience = patience,
                    .n_exits = P_EXITS,
                    .classes = P_CLASSES};
    return c;
}

static void test_policy_none(void **state)
{
    (void)state;
    pol_config c = config_a(POL_NONE, 1.0, 0, 8);
    expect e = {.exit_layer = 6, .pred = 1, .first_predicted_exit = -1};
    run_expect(&c, TABLE_A, -1, &e);
    /* policy none needs no evals array */
    pol_outcome o = {0};
    fake_src s = {.table = TABLE_A, .n_exits = A_EXITS, .classes = A_CLASSES, .fail_at = NO_FAIL};
    assert_int_equal(pol_run(&c, fake_logits, &s, -1, work, &o), POL_OK);
    assert_int_equal(o.exit_layer, 6);
    assert_int_equal(s.n_requested, 1);
}

static void test_policy_passive(void **state)
{
    (void)state;
    pol_config c = config_a(POL_PASSIVE, 1.0, 0, 8);
    expect e = {.exit_layer = 3,
                .pred = 0,
                .first_predicted_exit = -1,
                .n_exit_evals = 4,
                .evals = {{0, 2, 10, false, -1},
                          {1, 3, 10, false, -1},
                          {2, 4, 10, false, -1},
                          {3, 12, 10, true, -1}}};
    run_expect(&c, TABLE_A, -1, &e);
    c.l0 = 4;
    expect e4 = {.exit_layer = 4,
                 .pred = 1,
                 .first_predicted_exit = -1,
                 .n_exit_evals = 1,
                 .evals = {{4, 11, 10, true, -1}}};
    run_expect(&c, TABLE_A, -1, &e4);
    /* beta 100: nothing fires from l0 = 4; the final classifier's tie gives class 1 */
    c = config_a(POL_PASSIVE, 100.0, 4, 8);
    expect ef = {.exit_layer = 6,
                 .pred = 1,
                 .first_predicted_exit = -1,
                 .n_exit_evals = 2,
                 .evals = {{4, 11, 1000, false, -1}, {5, 15, 1000, false, -1}}};
    run_expect(&c, TABLE_A, -1, &ef);
    /* table B: the true first exit 2 (10 >= 10) */
    c = config_b(POL_PASSIVE, 0);
    expect eb = {.exit_layer = 2,
                 .pred = 1,
                 .first_predicted_exit = -1,
                 .n_exit_evals = 3,
                 .evals = {{0, 1, 10, false, -1}, {1, 1, 10, false, -1}, {2, 10, 10, true, -1}}};
    run_expect(&c, TABLE_B, -1, &eb);
}

/* Passive under softmax: exits [0,0] (0.5) and [ln3,0] (0.75) with beta 0.7. */
static void test_policy_passive_softmax(void **state)
{
    (void)state;
    const float table[] = {0, 0, (float)LN3, 0, 0, 1};
    pol_config c = {
        .policy = POL_PASSIVE, .rule = POL_RULE_SOFTMAX, .beta = 0.7, .n_exits = 2, .classes = 2};
    pol_outcome o;
    pol_eval evals[2];
    assert_int_equal(run_on(&c, table, -1, &o, evals), POL_OK);
    assert_int_equal(o.exit_layer, 1);
    assert_int_equal(o.pred, 0);
    assert_int_equal(o.n_exit_evals, 2);
    assert_near(evals[0].score, 0.5, EXACT, "softmax exit 0");
    assert_near(evals[1].score, 0.75, CLOSE, "softmax exit 1");
    assert_false(evals[0].fired);
    assert_true(evals[1].fired);
    assert_int_equal(pol_true_first(&c, table, work), 1);
    c.rule = POL_RULE_ENTROPY; /* H = ln 2 = 0.693 <= 0.7 at exit 0 */
    assert_int_equal(run_on(&c, table, -1, &o, evals), POL_OK);
    assert_int_equal(o.exit_layer, 0);
    assert_near(evals[0].score, log(2.0), 1e-15, "entropy exit 0");
}

static void test_policy_coarse(void **state)
{
    (void)state;
    static const int list[] = {1, 2, 4};
    pol_config c = config_a(POL_COARSE, 1.0, 5, 8); /* l0 is ignored */
    c.coarse = list;
    c.n_coarse = 3;
    expect e = {.exit_layer = 4,
                .pred = 1,
                .first_predicted_exit = -1,
                .n_exit_evals = 3,
                .evals = {{1, 3, 10, false, -1}, {2, 4, 10, false, -1}, {4, 11, 10, true, -1}}};
    run_expect(&c, TABLE_A, -1, &e);
    static const int none_fire[] = {0, 1};
    c.coarse = none_fire;
    c.n_coarse = 2;
    expect ef = {.exit_layer = 6,
                 .pred = 1,
                 .first_predicted_exit = -1,
                 .n_exit_evals = 2,
                 .evals = {{0, 2, 10, false, -1}, {1, 3, 10, false, -1}}};
    run_expect(&c, TABLE_A, -1, &ef);
}

static void test_policy_oracle(void **state)
{
    (void)state;
    pol_config c = config_a(POL_ORACLE, 1.0, 0, 8);
    assert_int_equal(pol_true_first(&c, TABLE_A, work), 3);
    expect e = {.exit_layer = 3,
                .pred = 0,
                .first_predicted_exit = -1,
                .n_exit_evals = 1,
                .evals = {{3, 12, 10, true, -1}}};
    run_expect(&c, TABLE_A, 3, &e);
    c = config_a(POL_ORACLE, 100.0, 0, 8);
    assert_int_equal(pol_true_first(&c, TABLE_A, work), -1);
    expect ef = {.exit_layer = 6, .pred = 1, .first_predicted_exit = -1};
    run_expect(&c, TABLE_A, -1, &ef);
    c = config_b(POL_ORACLE, 3); /* from l0 = 3 the true first is 5 */
    assert_int_equal(pol_true_first(&c, TABLE_B, work), 5);
    expect eb = {.exit_layer = 5,
                 .pred = 0,
                 .first_predicted_exit = -1,
                 .n_exit_evals = 1,
                 .evals = {{5, 20, 10, true, -1}}};
    run_expect(&c, TABLE_B, 5, &eb);
}

static void test_policy_predictive(void **state)
{
    (void)state;
    /* hit: 0 misses, J = 3 (19 > 10), exit 3 fires; 3 rounds × 10 ops */
    pol_config c = config_a(POL_PREDICTIVE, 1.0, 0, 8);
    expect hit = {.exit_layer = 3,
                  .pred = 0,
                  .first_predicted_exit = 3,
                  .n_exit_evals = 2,
                  .n_predictions = 1,
                  .ops = 30,
                  .evals = {{0, 2, 10, false, 3}, {3, 12, 10, true, -1}}};
    run_expect(&c, TABLE_A, -1, &hit);
    /* l0 fires: no prediction */
    c.l0 = 3;
    expect at_l0 = {.exit_layer = 3,
                    .pred = 0,
                    .first_predicted_exit = -1,
                    .n_exit_evals = 1,
                    .evals = {{3, 12, 10, true, -1}}};
    run_expect(&c, TABLE_A, -1, &at_l0);
    /* beta 100 (beta*T = 1000): J = 8 (1562 > 1000 at round 8), clipped to exit 5, which
     * misses; the last exit missed, so the final classifier answers */
    c = config_a(POL_PREDICTIVE, 100.0, 0, 8);
    expect clip = {.exit_layer = 6,
                   .pred = 1,
                   .first_predicted_exit = 5,
                   .n_exit_evals = 2,
                   .n_predictions = 1,
                   .n_mispredictions = 1,
                   .ops = 80,
                   .evals = {{0, 2, 1000, false, 8}, {5, 15, 1000, false, -1}}};
    run_expect(&c, TABLE_A, -1, &clip);
    /* R = 4: R exhausted at exit 0 (J = 4) and at exit 4 ([0,11,0]: 11, 33, 77, 187), clipped
     * to 5, which misses: two mispredictions, final classifier */
    c = config_a(POL_PREDICTIVE, 100.0, 0, 4);
    expect reexhaust = {
        .exit_layer = 6,
        .pred = 1,
        .first_predicted_exit = 4,
        .n_exit_evals = 3,
        .n_predictions = 2,
        .n_mispredictions = 2,
        .ops = 80,
        .evals = {{0, 2, 1000, false, 4}, {4, 11, 1000, false, 4}, {5, 15, 1000, false, -1}}};
    run_expect(&c, TABLE_A, -1, &reexhaust);
    /* l0 is the last exit and misses: no prediction, final classifier */
    c.l0 = 5;
    expect last = {.exit_layer = 6,
                   .pred = 1,
                   .first_predicted_exit = -1,
                   .n_exit_evals = 1,
                   .evals = {{5, 15, 1000, false, -1}}};
    run_expect(&c, TABLE_A, -1, &last);
    /* table B: 0 -> 4 (miss) -> 7 (clipped, fires, argmax 2); it skips the true first exit 2 */
    c = config_b(POL_PREDICTIVE, 0);
    expect b = {.exit_layer = 7,
                .pred = 2,
                .first_predicted_exit = 4,
                .n_exit_evals = 3,
                .n_predictions = 2,
                .n_mispredictions = 1,
                .ops = 80,
                .evals = {{0, 1, 10, false, 4}, {4, 2, 10, false, 4}, {7, 11, 10, true, -1}}};
    run_expect(&c, TABLE_B, -1, &b);
}

/* Predictive can evaluate more exits than passive when firing is not monotone: on table C
 * passive stops at exit 1 after 2 evaluations; predictive goes 0 -> 2 -> 3 -> 4 (4). */
static void test_policy_predictive_more_than_passive(void **state)
{
    (void)state;
    pol_config c = pred_config(C_EXITS, 1, T_C, 1.0, ONES3, 3, 8);
    expect e = {.exit_layer = 4,
                .pred = 0,
                .first_predicted_exit = 2,
                .n_exit_evals = 4,
                .n_predictions = 3,
                .n_mispredictions = 2,
                .ops = 4 * 4, /* rounds 2 + 1 + 1, each 1·2 + 1 + 1 */
                .evals = {{0, 5, 10, false, 2},
                          {2, 2, 3, false, 1},
                          {3, 0.5, 1, false, 1},
                          {4, 0.5, 0.25, true, -1}}};
    run_expect(&c, TABLE_C, -1, &e);
    c.policy = POL_PASSIVE;
    expect p = {.exit_layer = 1,
                .pred = 0,
                .first_predicted_exit = -1,
                .n_exit_evals = 2,
                .evals = {{0, 5, 10, false, -1}, {1, 10, 10, true, -1}}};
    run_expect(&c, TABLE_C, -1, &p);
}

static void test_policy_predictive_single(void **state)
{
    (void)state;
    /* table B: 0 misses, J = 4, exit 4 misses but answers ([2,0,0]: class 0) */
    pol_config c = config_b(POL_PREDICTIVE_SINGLE, 0);
    expect miss = {.exit_layer = 4,
                   .pred = 0,
                   .first_predicted_exit = 4,
                   .n_exit_evals = 2,
                   .n_predictions = 1,
                   .n_mispredictions = 1,
                   .ops = 40,
                   .evals = {{0, 1, 10, false, 4}, {4, 2, 10, false, -1}}};
    run_expect(&c, TABLE_B, -1, &miss);
    /* table A: the prediction hits exit 3 */
    c = config_a(POL_PREDICTIVE_SINGLE, 1.0, 0, 8);
    expect hit = {.exit_layer = 3,
                  .pred = 0,
                  .first_predicted_exit = 3,
                  .n_exit_evals = 2,
                  .n_predictions = 1,
                  .ops = 30,
                  .evals = {{0, 2, 10, false, 3}, {3, 12, 10, true, -1}}};
    run_expect(&c, TABLE_A, -1, &hit);
    /* a predicted exit clipped to the last one answers even though it misses */
    c = config_a(POL_PREDICTIVE_SINGLE, 100.0, 0, 8);
    expect clip = {.exit_layer = 5,
                   .pred = 2,
                   .first_predicted_exit = 5,
                   .n_exit_evals = 2,
                   .n_predictions = 1,
                   .n_mispredictions = 1,
                   .ops = 80,
                   .evals = {{0, 2, 1000, false, 8}, {5, 15, 1000, false, -1}}};
    run_expect(&c, TABLE_A, -1, &clip);
    /* l0 is the last exit and misses: the final classifier, no prediction */
    c.l0 = 5;
    expect last = {.exit_layer = 6,
                   .pred = 1,
                   .first_predicted_exit = -1,
                   .n_exit_evals = 1,
                   .evals = {{5, 15, 1000, false, -1}}};
    run_expect(&c, TABLE_A, -1, &last);
}

/* Patience: the score is the streak of evaluated exits agreeing on the class. */
static void test_policy_patience(void **state)
{
    (void)state;
    pol_config c = config_p(POL_PASSIVE, 0, 2);
    expect e = {.exit_layer = 2,
                .pred = 1,
                .first_predicted_exit = -1,
                .n_exit_evals = 3,
                .evals = {{0, 1, 2, false, -1}, {1, 1, 2, false, -1}, {2, 2, 2, true, -1}}};
    run_expect(&c, TABLE_P, -1, &e);
    assert_int_equal(pol_true_first(&c, TABLE_P, work), 2);
    c.l0 = 2; /* classes 1, 0, 0 (the tie [1,1] is class 0) */
    expect e2 = {.exit_layer = 4,
                 .pred = 0,
                 .first_predicted_exit = -1,
                 .n_exit_evals = 3,
                 .evals = {{2, 1, 2, false, -1}, {3, 1, 2, false, -1}, {4, 2, 2, true, -1}}};
    run_expect(&c, TABLE_P, -1, &e2);
    assert_int_equal(pol_true_first(&c, TABLE_P, work), 4);
    c = config_p(POL_PASSIVE, 0, 3); /* streaks 1, 1, 2, 1, 2, 1 */
    expect e3 = {.exit_layer = 6,
                 .pred = 1,
                 .first_predicted_exit = -1,
                 .n_exit_evals = 6,
                 .evals = {{0, 1, 3, false, -1},
                           {1, 1, 3, false, -1},
                           {2, 2, 3, false, -1},
                           {3, 1, 3, false, -1},
                           {4, 2, 3, false, -1},
                           {5, 1, 3, false, -1}}};
    run_expect(&c, TABLE_P, -1, &e3);
    assert_int_equal(pol_true_first(&c, TABLE_P, work), -1);
    c = config_p(POL_PASSIVE, 1, 1); /* patience 1 fires at the first exit evaluated */
    expect e1 = {.exit_layer = 1,
                 .pred = 1,
                 .first_predicted_exit = -1,
                 .n_exit_evals = 1,
                 .evals = {{1, 1, 1, true, -1}}};
    run_expect(&c, TABLE_P, -1, &e1);
    /* coarse: the streak runs over the listed exits, not over layers */
    static const int agree[] = {0, 3, 4};
    c = config_p(POL_COARSE, 0, 2);
    c.coarse = agree;
    c.n_coarse = 3;
    expect ec = {.exit_layer = 3,
                 .pred = 0,
                 .first_predicted_exit = -1,
                 .n_exit_evals = 2,
                 .evals = {{0, 1, 2, false, -1}, {3, 2, 2, true, -1}}};
    run_expect(&c, TABLE_P, -1, &ec);
    static const int alternate[] = {1, 3, 5};
    c.coarse = alternate;
    expect ea = {.exit_layer = 6,
                 .pred = 1,
                 .first_predicted_exit = -1,
                 .n_exit_evals = 3,
                 .evals = {{1, 1, 2, false, -1}, {3, 1, 2, false, -1}, {5, 1, 2, false, -1}}};
    run_expect(&c, TABLE_P, -1, &ea);
}

static void test_run_errors(void **state)
{
    (void)state;
    pol_config c = config_a(POL_PASSIVE, 1.0, 0, 8);
    pol_outcome o;
    pol_eval evals[MAX_EXITS];
    o.evals = evals;
    fake_src s = {.table = TABLE_A, .n_exits = A_EXITS, .classes = A_CLASSES, .fail_at = 2};
    assert_int_equal(pol_run(&c, fake_logits, &s, -1, work, &o), POL_ESRC);
    assert_int_equal(s.n_requested, 3);
    s = (fake_src){.table = TABLE_A, .n_exits = A_EXITS, .classes = A_CLASSES, .fail_at = 6};
    c.beta = 100; /* nothing fires: the final classifier fails */
    assert_int_equal(pol_run(&c, fake_logits, &s, -1, work, &o), POL_ESRC);
    s = (fake_src){.table = TABLE_A, .n_exits = A_EXITS, .classes = A_CLASSES, .fail_at = 4};
    c = config_a(POL_PREDICTIVE, 100.0, 0, 4); /* 0 -> 4 fails */
    assert_int_equal(pol_run(&c, fake_logits, &s, -1, work, &o), POL_ESRC);

    s = (fake_src){.table = TABLE_A, .n_exits = A_EXITS, .classes = A_CLASSES, .fail_at = NO_FAIL};
    assert_int_equal(pol_run(NULL, fake_logits, &s, -1, work, &o), POL_EARG);
    assert_int_equal(pol_run(&c, fake_logits, &s, -1, NULL, &o), POL_EARG);
    assert_int_equal(pol_run(&c, fake_logits, &s, -1, work, NULL), POL_EARG);
    o.evals = NULL;
    assert_int_equal(pol_run(&c, fake_logits, &s, -1, work, &o), POL_EARG);
    o.evals = evals;
    c.l0 = A_EXITS;
    assert_int_equal(pol_run(&c, fake_logits, &s, -1, work, &o), POL_EARG);
    c = config_a(POL_PREDICTIVE, 1.0, 0, 8);
    c.rule = POL_RULE_SOFTMAX;
    assert_int_equal(pol_run(&c, fake_logits, &s, -1, work, &o), POL_EARG);
    c = config_a(POL_ORACLE, 1.0, 2, 8);
    assert_int_equal(pol_run(&c, fake_logits, &s, 1, work, &o), POL_EARG);       /* < l0 */
    assert_int_equal(pol_run(&c, fake_logits, &s, A_EXITS, work, &o), POL_EARG); /* final */
    assert_int_equal(pol_run(&c, fake_logits, &s, -2, work, &o), POL_EARG);
    c = config_a(POL_PASSIVE, 1.0, 0, 8);
    c.thresholds = NULL;
    assert_int_equal(pol_run(&c, fake_logits, &s, -1, work, &o), POL_EARG);
    c = config_p(POL_ORACLE, 0, 2);
    assert_int_equal(pol_run(&c, fake_logits, &s, -1, work, &o), POL_EARG);
    assert_int_equal(s.n_requested, 0);
    /* a coarse list that does not ascend is refused before the repeated exit is asked for */
    static const int bad[] = {1, 1};
    c = config_a(POL_COARSE, 1.0, 0, 8);
    c.coarse = bad;
    c.n_coarse = 2;
    assert_int_equal(pol_run(&c, fake_logits, &s, -1, work, &o), POL_EARG);
    assert_int_equal(s.n_requested, 1);
}

/* ---- invariants over random tables ---- */

/* splitmix64 (Steele, Lea, Flood 2014). */
static uint64_t rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double rng_unit(uint64_t *s) /* [0, 1) */
{
    return (double)(rng_next(s) >> 11) * 0x1.0p-53;
}

static int rng_int(uint64_t *s, int n) /* 0 .. n - 1 */
{
    return (int)(rng_next(s) % (uint64_t)n);
}

/* Slow, obvious references. */
static int ref_argmax(const float *z, int classes)
{
    int best = 0;
    for (int i = 0; i < classes; i++)
        if (z[i] > z[best]) best = i;
    return best;
}

static double ref_score(pol_rule r, const float *z, int classes)
{
    double p[MAX_CLASSES], m = -INFINITY, sum = 0, best = 0, h = 0;
    for (int i = 0; i < classes; i++) m = fmax(m, z[i]);
    for (int i = 0; i < classes; i++) sum += p[i] = exp(z[i] - m);
    for (int i = 0; i < classes; i++) {
        p[i] /= sum;
        if (p[i] > 0) h -= p[i] * log(p[i]);
        best = fmax(best, r == POL_RULE_ACTIVATION ? fabs(z[i]) : p[i]);
    }
    return r == POL_RULE_ENTROPY ? h : best;
}

static bool ref_fires(const pol_config *c, int l, double score)
{
    switch (c->rule) {
    case POL_RULE_ACTIVATION:
        return score >= c->beta * c->thresholds[l];
    case POL_RULE_SOFTMAX:
        return score >= c->beta;
    case POL_RULE_ENTROPY:
        return score <= c->beta;
    default:
        return score >= c->patience;
    }
}

/* The predictor with an explicit zero-padded copy each round. */
static int ref_predict(const pol_config *c, int l, const float *z, uint64_t *ops)
{
    enum { PAD = POL_MAX_KERNEL };
    float cur[MAX_CLASSES], padded[MAX_CLASSES + 2 * PAD];
    int half = c->kernel_len / 2, last = c->n_exits - 1, ones = 1;
    for (int j = 0; j < c->kernel_len; j++) ones &= c->kernel[j] == 1.0f;
    memcpy(cur, z, (size_t)c->classes * sizeof(float));
    for (int k = 1; k <= c->rounds; k++) {
        memset(padded, 0, sizeof(padded));
        memcpy(padded + PAD, cur, (size_t)c->classes * sizeof(float));
        double peak = 0;
        for (int i = 0; i < c->classes; i++) {
            double s = 0;
            for (int j = 0; j < c->kernel_len; j++)
                s += (double)c->kernel[j] * padded[PAD + i + j - half];
            cur[i] = (float)s;
            peak = fmax(peak, fabs((double)cur[i]));
        }
        *ops += (uint64_t)(c->classes * (c->kernel_len - 1) +
                           (ones ? 0 : c->classes * c->kernel_len) + c->classes + 1);
        if (peak > c->beta * c->thresholds[l + k < last ? l + k : last]) return k;
    }
    return c->rounds;
}

static const float *row(const pol_config *c, const float *table, int l)
{
    return table + (size_t)l * (size_t)c->classes;
}

/* Every evals row agrees with the references; exits ascend. */
static void check_rows(const pol_config *c, const float *table, const pol_outcome *o)
{
    int streak = 0, cls = -1;
    for (int i = 0; i < o->n_exit_evals; i++) {
        const pol_eval *e = &o->evals[i];
        if (i > 0) assert_true(e->exit > o->evals[i - 1].exit);
        const float *z = row(c, table, e->exit);
        double want;
        if (c->rule == POL_RULE_PATIENCE) {
            int k = ref_argmax(z, c->classes);
            streak = k == cls ? streak + 1 : 1;
            cls = k;
            want = streak;
        } else {
            want = ref_score(c->rule, z, c->classes);
        }
        assert_near(e->score, want, 1e-9 * (1 + fabs(want)), "eval score");
        if (c->rule != POL_RULE_PATIENCE)
            assert_near(e->score, pol_score(c->rule, z, c->classes), EXACT, "pol_score");
        assert_int_equal(e->fired, ref_fires(c, e->exit, e->score));
        assert_int_equal(e->fired, pol_fires(c, e->exit, e->score));
        assert_true(e->threshold == pol_threshold(c, e->exit));
    }
    int answered = o->exit_layer;
    assert_int_equal(o->pred, ref_argmax(row(c, table, answered), c->classes));
}

/* The passive walk: l0 .. answer, only the last fired; the reference first firing exit. */
static int ref_first(const pol_config *c, const float *table)
{
    int streak = 0, cls = -1;
    for (int l = c->l0; l < c->n_exits; l++) {
        const float *z = row(c, table, l);
        double score;
        if (c->rule == POL_RULE_PATIENCE) {
            int k = ref_argmax(z, c->classes);
            streak = k == cls ? streak + 1 : 1;
            cls = k;
            score = streak;
        } else {
            score = ref_score(c->rule, z, c->classes);
        }
        if (ref_fires(c, l, score)) return l;
    }
    return -1;
}

/* Counters of the predictive-versus-passive comparison (see test_random_invariants). */
typedef struct counts {
    int more_than_passive; /* samples where predictive evaluated more exits than passive */
    int monotone;          /* samples whose firing is monotone from the true first exit */
    int hits_first;        /* samples where predictive answered at the true first exit */
} counts;

static void check_predictive(const pol_config *c, const float *table, int t, const pol_outcome *d,
                             const pol_outcome *p, bool monotone, counts *n)
{
    const int last = c->n_exits - 1;
    check_rows(c, table, d);
    assert_true(d->n_exit_evals >= 1);
    assert_int_equal(d->evals[0].exit, c->l0);
    assert_int_equal(d->n_exit_evals, d->n_predictions + 1);
    uint64_t ops = 0;
    for (int i = 0; i + 1 < d->n_exit_evals; i++) {
        const pol_eval *e = &d->evals[i];
        assert_false(e->fired);
        int j = ref_predict(c, e->exit, row(c, table, e->exit), &ops);
        assert_int_equal(e->predicted_jump, j);
        assert_int_equal(d->evals[i + 1].exit, e->exit + j < last ? e->exit + j : last);
    }
    assert_int_equal(d->predictor_ops, ops);
    const pol_eval *end = &d->evals[d->n_exit_evals - 1];
    assert_int_equal(end->predicted_jump, -1);
    if (end->fired) {
        assert_int_equal(d->exit_layer, end->exit);
        assert_int_equal(d->n_mispredictions, d->n_predictions > 0 ? d->n_predictions - 1 : 0);
    } else {
        assert_int_equal(end->exit, last);
        assert_int_equal(d->exit_layer, c->n_exits);
        assert_int_equal(d->n_mispredictions, d->n_predictions);
    }
    assert_int_equal(d->first_predicted_exit, d->n_predictions ? d->evals[1].exit : -1);
    /* what always holds: it never answers before the true first exit, evaluates each exit at
     * most once, and nothing before the true first exit fires */
    assert_true(d->exit_layer >= p->exit_layer);
    assert_true(d->n_exit_evals <= c->n_exits - c->l0);
    /* at most passive's count when it lands on the true first exit, when none fires, or when
     * firing is monotone; otherwise it may evaluate more (test_policy_predictive_more_...) */
    if (d->exit_layer == t) n->hits_first++;
    if (monotone) n->monotone++;
    if (d->exit_layer == t || t < 0 || monotone) assert_true(d->n_exit_evals <= p->n_exit_evals);
    if (d->n_exit_evals > p->n_exit_evals) n->more_than_passive++;
}

static void check_single(const pol_config *c, const float *table, const pol_outcome *s,
                         const pol_outcome *d)
{
    check_rows(c, table, s);
    assert_true(s->n_exit_evals == 1 || s->n_exit_evals == 2);
    assert_int_equal(s->evals[0].exit, c->l0);
    assert_int_equal(s->first_predicted_exit, d->first_predicted_exit);
    if (s->evals[0].fired || c->l0 == c->n_exits - 1) {
        assert_int_equal(s->n_exit_evals, 1);
        assert_int_equal(s->n_predictions, 0);
        assert_int_equal(s->exit_layer, s->evals[0].fired ? c->l0 : c->n_exits);
        return;
    }
    assert_int_equal(s->n_exit_evals, 2);
    assert_int_equal(s->n_predictions, 1);
    assert_int_equal(s->exit_layer, s->evals[1].exit);
    assert_int_equal(s->n_mispredictions, s->evals[1].fired ? 0 : 1);
    assert_int_equal(s->evals[1].exit, d->evals[1].exit);
}

/* Passive, oracle, coarse and none under any rule; true_first agrees with passive. */
static void check_passive_family(const pol_config *base, const float *table, uint64_t *rng,
                                 pol_outcome *p)
{
    pol_config c = *base;
    pol_outcome o;
    pol_eval ev[MAX_EXITS];
    c.policy = POL_PASSIVE;
    int t = pol_true_first(&c, table, work);
    assert_int_equal(t, ref_first(&c, table));
    assert_int_equal(run_on(&c, table, -1, p, p->evals), POL_OK);
    check_rows(&c, table, p);
    assert_int_equal(p->exit_layer, t >= 0 ? t : c.n_exits);
    assert_int_equal(p->n_exit_evals, (t >= 0 ? t + 1 : c.n_exits) - c.l0);
    assert_int_equal(p->n_predictions + p->n_mispredictions + (int)p->predictor_ops, 0);
    if (p->n_exit_evals) assert_int_equal(p->evals[0].exit, c.l0);

    if (c.rule != POL_RULE_PATIENCE) {
        c.policy = POL_ORACLE;
        assert_int_equal(run_on(&c, table, t, &o, ev), POL_OK);
        assert_true(o.n_exit_evals <= 1);
        if (o.n_exit_evals) assert_true(ev[0].fired);
        assert_int_equal(o.exit_layer, p->exit_layer);
        assert_int_equal(o.pred, p->pred);
    }

    int list[MAX_EXITS], n = 0; /* a random ascending subset, at least one exit */
    for (int l = 0; l < c.n_exits; l++)
        if (rng_int(rng, 2)) list[n++] = l;
    if (!n) list[n++] = rng_int(rng, c.n_exits);
    c.policy = POL_COARSE;
    c.coarse = list;
    c.n_coarse = n;
    assert_int_equal(run_on(&c, table, -1, &o, ev), POL_OK);
    check_rows(&c, table, &o);
    int want = c.n_exits, streak = 0, cls = -1, i;
    for (i = 0; i < n; i++) {
        const float *z = row(&c, table, list[i]);
        double score = ref_score(c.rule, z, c.classes);
        if (c.rule == POL_RULE_PATIENCE) {
            int k = ref_argmax(z, c.classes);
            streak = k == cls ? streak + 1 : 1;
            cls = k;
            score = streak;
        }
        if (ref_fires(&c, list[i], score)) {
            want = list[i];
            break;
        }
    }
    assert_int_equal(o.exit_layer, want);
    assert_int_equal(o.n_exit_evals, i < n ? i + 1 : n);

    c.policy = POL_NONE;
    assert_int_equal(run_on(&c, table, -1, &o, ev), POL_OK);
    assert_int_equal(o.exit_layer, c.n_exits);
    assert_int_equal(o.pred, ref_argmax(row(&c, table, c.n_exits), c.classes));
    assert_int_equal(o.n_exit_evals, 0);
}

/* Random logits; half the tables have scales that grow with the exit and one threshold, so the
 * activation rule's firing is monotone. */
static void random_table(uint64_t *rng, int n_exits, int classes, bool growing, float *table,
                         double *t)
{
    double t_all = 0.5 + 2 * rng_unit(rng);
    for (int l = 0; l <= n_exits; l++) {
        double scale = growing ? 0.2 + 4.0 * l / n_exits : 4 * rng_unit(rng);
        for (int i = 0; i < classes; i++)
            table[l * classes + i] = (float)(scale * (2 * rng_unit(rng) - 1));
        if (l < n_exits) t[l] = growing ? t_all : 3 * rng_unit(rng);
    }
}

/* Whether activation firing from l0 on is monotone (every exit after the first firing fires). */
static bool firing_monotone(const pol_config *c, const float *table)
{
    bool seen = false;
    for (int l = c->l0; l < c->n_exits; l++) {
        bool f = ref_fires(c, l, ref_score(c->rule, row(c, table, l), c->classes));
        if (seen && !f) return false;
        seen |= f;
    }
    return true;
}

/* Over RANDOM_SAMPLES random tables, configurations and kernels: oracle evaluates at most one
 * exit and it fires; passive and oracle answer at the same exit with the same class;
 * pol_true_first is passive's exit; none is the final classifier; predictive and
 * predictive_single follow their definitions exactly (references for every score, jump and op
 * count). Predictive evaluating no more exits than passive is NOT an invariant: it holds when
 * predictive answers at the true first exit, when none fires, or when firing is monotone,
 * and is asserted there; the rest are counted. */
static void test_random_invariants(void **state)
{
    (void)state;
    uint64_t rng = SEED;
    static float table[(MAX_EXITS + 1) * MAX_CLASSES];
    static double t[MAX_EXITS];
    counts n = {0};
    for (int s = 0; s < RANDOM_SAMPLES; s++) {
        int n_exits = 1 + rng_int(&rng, MAX_EXITS), classes = 1 + rng_int(&rng, MAX_CLASSES);
        bool growing = s % 2;
        random_table(&rng, n_exits, classes, growing, table, t);
        pol_config c = {.policy = POL_PASSIVE,
                        .rule = POL_RULE_ACTIVATION,
                        .beta = 0.2 + 1.5 * rng_unit(&rng),
                        .l0 = rng_int(&rng, n_exits),
                        .rounds = 1 + rng_int(&rng, RANDOM_MAX_ROUNDS),
                        .kernel_len = 1 + rng_int(&rng, RANDOM_MAX_TAPS),
                        .patience = 1,
                        .n_exits = n_exits,
                        .classes = classes,
                        .thresholds = t};
        for (int j = 0; j < c.kernel_len; j++)
            c.kernel[j] = rng_int(&rng, 3) ? 1.0f : (float)(1.5 * rng_unit(&rng));
        assert_int_equal(pol_config_check(&c, NULL, 0), POL_OK);

        pol_outcome p, d, sgl;
        pol_eval pe[MAX_EXITS], de[MAX_EXITS], se[MAX_EXITS];
        p.evals = pe;
        check_passive_family(&c, table, &rng, &p);
        int tf = pol_true_first(&c, table, work);
        c.policy = POL_PREDICTIVE;
        assert_int_equal(pol_config_check(&c, NULL, 0), POL_OK);
        assert_int_equal(run_on(&c, table, -1, &d, de), POL_OK);
        check_predictive(&c, table, tf, &d, &p, firing_monotone(&c, table), &n);
        c.policy = POL_PREDICTIVE_SINGLE;
        assert_int_equal(run_on(&c, table, -1, &sgl, se), POL_OK);
        check_single(&c, table, &sgl, &d);

        /* the other rules, on the same table */
        c.rule = (pol_rule)(POL_RULE_SOFTMAX + rng_int(&rng, 3));
        c.policy = POL_PASSIVE;
        if (c.rule == POL_RULE_SOFTMAX)
            c.beta = 1.0 / classes + rng_unit(&rng) * (1 - 1.0 / classes);
        if (c.rule == POL_RULE_ENTROPY) c.beta = 0.01 + rng_unit(&rng) * log(classes + 1.0);
        if (c.rule == POL_RULE_PATIENCE) c.patience = 1 + rng_int(&rng, 3);
        assert_int_equal(pol_config_check(&c, NULL, 0), POL_OK);
        check_passive_family(&c, table, &rng, &p);
    }
    /* the conditions above were exercised; the counterexamples are real */
    assert_true(n.monotone > RANDOM_SAMPLES / 4);
    assert_true(n.hits_first > RANDOM_SAMPLES / 10);
    assert_true(n.more_than_passive > 0);
    print_message("random: %d of %d samples had predictive evaluate more exits than passive "
                  "(%d monotone, %d answered at the true first exit)\n",
                  n.more_than_passive, RANDOM_SAMPLES, n.monotone, n.hits_first);
}

/* ---- configuration check ---- */

static double T20[MAX_EXITS];

static pol_config valid_config(void)
{
    for (int l = 0; l < MAX_EXITS; l++) T20[l] = 1.0;
    pol_config c = pred_config(MAX_EXITS, MAX_CLASSES, T20, 1.0, ONES3, 3, 8);
    c.patience = 2;
    return c;
}

static void expect_error(const pol_config *c, const char *want)
{
    char err[ERR_LEN] = "";
    int rc = pol_config_check(c, err, sizeof(err));
    if (rc != POL_EARG) fail_msg("check passed (%d); expected \"%s\"", rc, want);
    if (strcmp(err, want)) fail_msg("error \"%s\", want \"%s\"", err, want);
    assert_null(strchr(err, '\n'));
    assert_int_equal(pol_config_check(c, NULL, 0), POL_EARG);
    char small[SHORT_ERR_LEN];
    assert_int_equal(pol_config_check(c, small, sizeof(small)), POL_EARG);
    assert_int_equal(strlen(small), SHORT_ERR_LEN - 1); /* truncated, terminated */
}

static void expect_ok(const pol_config *c)
{
    char err[ERR_LEN] = "";
    int rc = pol_config_check(c, err, sizeof(err));
    if (rc) fail_msg("check failed: %s", err);
}

static void test_config_check(void **state)
{
    (void)state;
    pol_config c = valid_config();
    expect_ok(&c);
    for (int p = 0; p < POL_POLICY_COUNT; p++) {
        static const int list[] = {0, 5, 19};
        c = valid_config();
        c.policy = (pol_policy)p;
        c.coarse = list;
        c.n_coarse = 3;
        expect_ok(&c);
    }
    expect_error(NULL, "no [exit] configuration");

    c = valid_config();
    c.policy = (pol_policy)99;
    expect_error(&c, "[exit] policy 99 is unknown");
    c = valid_config();
    c.rule = POL_RULE_COUNT;
    expect_error(&c, "[exit] rule 4 is unknown");
    c = valid_config();
    c.classes = 0;
    expect_error(&c, "[network] classes = 0 must be >= 1");
    c = valid_config();
    c.policy = POL_PASSIVE;
    c.n_exits = 0;
    expect_error(&c, "[exit] policy = passive needs a network with exits; it has 0");
    c.policy = POL_NONE; /* a classic network may have no exits */
    expect_ok(&c);

    c = valid_config();
    c.rule = POL_RULE_PATIENCE;
    expect_error(&c, "[exit] rule = patience needs policy passive or coarse");
    c.policy = POL_ORACLE;
    expect_error(&c, "[exit] rule = patience needs policy passive or coarse");
    c.policy = POL_PASSIVE;
    c.beta = 0; /* beta means nothing to patience */
    expect_ok(&c);
    c.patience = 0;
    expect_error(&c, "[exit] patience = 0 must be >= 1");

    c = valid_config();
    c.rule = POL_RULE_SOFTMAX;
    expect_error(&c, "[exit] policy = predictive needs rule = activation (the predictor compares "
                     "with beta*T_l)");
    c.policy = POL_PREDICTIVE_SINGLE;
    c.rule = POL_RULE_ENTROPY;
    expect_error(&c, "[exit] policy = predictive_single needs rule = activation (the predictor "
                     "compares with beta*T_l)");
    c.policy = POL_ORACLE; /* the oracle takes any per-exit rule */
    expect_ok(&c);

    c = valid_config();
    c.beta = 0;
    expect_error(&c, "[exit] beta = 0 must be finite and > 0");
    c.beta = -1;
    expect_error(&c, "[exit] beta = -1 must be finite and > 0");
    c.beta = NAN;
    expect_error(&c, "[exit] beta = nan must be finite and > 0");
    c.beta = INFINITY;
    expect_error(&c, "[exit] beta = inf must be finite and > 0");
    c.policy = POL_NONE; /* none evaluates no exit */
    expect_ok(&c);

    c = valid_config();
    c.l0 = 25;
    expect_error(&c, "[exit] l0 = 25 is past the last exit (19)");
    c.l0 = 20;
    expect_error(&c, "[exit] l0 = 20 is past the last exit (19)");
    c.l0 = -1;
    expect_error(&c, "[exit] l0 = -1 must be >= 0");
    c.l0 = 19;
    expect_ok(&c);
    c.l0 = 25;
    c.policy = POL_ORACLE;
    expect_error(&c, "[exit] l0 = 25 is past the last exit (19)");
    static const int one[] = {3};
    c.policy = POL_COARSE; /* coarse ignores l0 */
    c.coarse = one;
    c.n_coarse = 1;
    expect_ok(&c);

    c = valid_config();
    c.rounds = 0;
    expect_error(&c, "[exit] rounds = 0 must be >= 1");
    c.policy = POL_PASSIVE; /* only the predictor uses rounds and kernel */
    expect_ok(&c);
    c = valid_config();
    c.kernel_len = 16;
    expect_error(&c, "[exit] kernel has 16 taps; at most 15");
    c.kernel_len = 0;
    expect_error(&c, "[exit] kernel is empty");
    c.kernel_len = POL_MAX_KERNEL;
    expect_ok(&c);
    c = valid_config();
    c.kernel[1] = NAN;
    expect_error(&c, "[exit] kernel tap 1 is nan; taps must be finite");

    c = valid_config();
    c.policy = POL_COARSE;
    expect_error(&c, "[exit] exits is empty; policy coarse needs at least one exit");
    static const int down[] = {5, 3}, same[] = {5, 5}, neg[] = {-1, 2}, past[] = {4, 20};
    c.n_coarse = 2;
    c.coarse = down;
    expect_error(&c, "[exit] exits: 3 after 5 (the list must ascend)");
    c.coarse = same;
    expect_error(&c, "[exit] exits: 5 after 5 (the list must ascend)");
    c.coarse = neg;
    expect_error(&c, "[exit] exits: -1 is negative");
    c.coarse = past;
    expect_error(&c, "[exit] exits: 20 is past the last exit (19)");
    c.coarse = NULL;
    expect_error(&c, "[exit] exits is empty; policy coarse needs at least one exit");

    c = valid_config();
    c.thresholds = NULL;
    expect_error(&c, "[exit] rule = activation needs the exit thresholds T_l; the model has none");
    c.policy = POL_PASSIVE;
    c.rule = POL_RULE_SOFTMAX; /* softmax does not use T_l */
    expect_ok(&c);
    c = valid_config();
    T20[3] = -1;
    expect_error(&c, "[exit] rule = activation needs thresholds finite and >= 0; the model's "
                     "T_3 is -1");
    T20[3] = NAN;
    expect_error(&c, "[exit] rule = activation needs thresholds finite and >= 0; the model's "
                     "T_3 is nan");
    T20[3] = 0;
    expect_ok(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_predict_basic),
        cmocka_unit_test(test_predict_negative),
        cmocka_unit_test(test_predict_ties),
        cmocka_unit_test(test_predict_one_class),
        cmocka_unit_test(test_predict_kernel_half),
        cmocka_unit_test(test_predict_kernel_one_tap),
        cmocka_unit_test(test_predict_kernel_direction),
        cmocka_unit_test(test_predict_clip),
        cmocka_unit_test(test_rule_scores),
        cmocka_unit_test(test_rule_fires),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_policy_none),
        cmocka_unit_test(test_policy_passive),
        cmocka_unit_test(test_policy_passive_softmax),
        cmocka_unit_test(test_policy_coarse),
        cmocka_unit_test(test_policy_oracle),
        cmocka_unit_test(test_policy_predictive),
        cmocka_unit_test(test_policy_predictive_more_than_passive),
        cmocka_unit_test(test_policy_predictive_single),
        cmocka_unit_test(test_policy_patience),
        cmocka_unit_test(test_run_errors),
        cmocka_unit_test(test_random_invariants),
        cmocka_unit_test(test_config_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
