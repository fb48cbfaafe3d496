/* Exit rules, the Predictive Exit prediction engine and the exit policies (DESIGN section 4).
 * Rules and policies are tables: a rule is a score, a threshold and a comparison; a policy is one
 * function that walks a sample's exits through the caller's logits callback. */
#include "pol.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum {
    WORK_BUFFERS = 3,  /* work floats per class: current logits + the predictor's two rounds */
    NO_JUMP = -1,      /* pol_eval.predicted_jump when no prediction followed */
    NO_EXIT = -1,      /* pol_true_first / first_predicted_exit: none */
    ORACLE_FINAL = -1, /* pol_run's true_first when no exit fires */
};

/* ---- rules: score, threshold, comparison ---- */

/* Activation: max_c |z_c| (the paper's confidence). */
static double score_activation(const float *z, int classes)
{
    double peak = 0.0;
    for (int i = 0; i < classes; i++) {
        double a = fabs((double)z[i]);
        if (a > peak) peak = a;
    }
    return peak;
}

/* Largest logit and the softmax denominator sum_c exp(z_c - max), in double. */
static double softmax_sum(const float *z, int classes, double *max_out)
{
    double m = z[0];
    for (int i = 1; i < classes; i++)
        if (z[i] > m) m = z[i];
    double s = 0.0;
    for (int i = 0; i < classes; i++) s += exp((double)z[i] - m);
    *max_out = m;
    return s;
}

/* Softmax: max_c p_c = 1 / sum_c exp(z_c - max). */
static double score_softmax(const float *z, int classes)
{
    double m;
    return 1.0 / softmax_sum(z, classes, &m);
}

/* Entropy in nats: H = log S - (1/S) sum_c (z_c - m) exp(z_c - m), S = sum_c exp(z_c - m);
 * terms with exp(...) = 0 (a class at -inf) contribute nothing. */
static double score_entropy(const float *z, int classes)
{
    double m;
    double s = softmax_sum(z, classes, &m);
    double t = 0.0;
    for (int i = 0; i < classes; i++) {
        double d = (double)z[i] - m;
        double e = exp(d);
        if (e > 0.0) t += d * e;
    }
    return log(s) - t / s;
}

/* Patience has no per-exit score: its score is the agreeing streak of a walk. */
static double score_none(const float *z, int classes)
{
    (void)z;
    (void)classes;
    return NAN;
}

static double threshold_activation(const pol_config *c, int exit)
{
    return c->beta * c->thresholds[exit];
}

static double threshold_beta(const pol_config *c, int exit)
{
    (void)exit;
    return c->beta;
}

static double threshold_patience(const pol_config *c, int exit)
{
    (void)exit;
    return (double)c->patience;
}

static bool at_least(double score, double threshold)
{
    return score >= threshold;
}

static bool at_most(double score, double threshold)
{
    return score <= threshold;
}

/* One exit rule: how an exit is scored, what it is compared with, and how. */
typedef struct rule_entry {
    const char *name;
    double (*score)(const float *z, int classes);
    double (*threshold)(const pol_config *c, int exit);
    bool (*fires)(double score, double threshold);
    bool per_exit; /* false: the score is a streak over the evaluated exits (patience) */
} rule_entry;

static const rule_entry RULES[POL_RULE_COUNT] = {
    [POL_RULE_ACTIVATION] = {"activation", score_activation, threshold_activation, at_least, true},
    [POL_RULE_SOFTMAX] = {"softmax", score_softmax, threshold_beta, at_least, true},
    [POL_RULE_ENTROPY] = {"entropy", score_entropy, threshold_beta, at_most, true},
    [POL_RULE_PATIENCE] = {"patience", score_none, threshold_patience, at_least, false},
};

static bool rule_ok(pol_rule r)
{
    return (int)r >= 0 && r < POL_RULE_COUNT;
}

const char *pol_rule_name(pol_rule r)
{
    return rule_ok(r) ? RULES[r].name : "?";
}

int pol_rule_by_name(const char *name)
{
    if (!name) return -1;
    for (int i = 0; i < POL_RULE_COUNT; i++)
        if (!strcmp(name, RULES[i].name)) return i;
    return -1;
}

double pol_score(pol_rule r, const float *z, int classes)
{
    if (!rule_ok(r) || !z || classes < 1) return NAN;
    return RULES[r].score(z, classes);
}

double pol_threshold(const pol_config *c, int exit)
{
    if (!c || !rule_ok(c->rule)) return NAN;
    if (c->rule == POL_RULE_ACTIVATION && (!c->thresholds || exit < 0 || exit >= c->n_exits))
        return NAN;
    return RULES[c->rule].threshold(c, exit);
}

/* For the patience rule the score is the agreeing streak; it fires when the streak reaches
 * patience. */
bool pol_fires(const pol_config *c, int exit, double score)
{
    if (!c || !rule_ok(c->rule)) return false;
    return RULES[c->rule].fires(score, pol_threshold(c, exit));
}

/* First maximum of z. */
static int argmax(const float *z, int classes)
{
    int best = 0;
    for (int i = 1; i < classes; i++)
        if (z[i] > z[best]) best = i;
    return best;
}

/* Patience: the streak of consecutive evaluated exits whose argmax is *cls, after one more exit
 * with argmax k (a streak of 0 means none yet). */
static int streak_next(int *streak, int *cls, int k)
{
    *streak = (*streak > 0 && k == *cls) ? *streak + 1 : 1;
    *cls = k;
    return *streak;
}

size_t pol_work_floats(const pol_config *c)
{
    if (!c || c->classes < 1) return 0;
    return WORK_BUFFERS * (size_t)c->classes;
}

/* ---- the prediction engine ---- */

/* Operations of one predictor round (pol.h): classes·(K-1) additions, classes·K multiplications
 * unless every tap is 1, classes comparisons for the maximum, 1 for the threshold. */
static uint64_t predict_round_ops(const pol_config *c)
{
    uint64_t classes = (uint64_t)c->classes, taps = (uint64_t)c->kernel_len;
    bool all_ones = true;
    for (int j = 0; j < c->kernel_len; j++)
        if (c->kernel[j] != 1.0f) all_ones = false;
    return classes * (taps - 1) + (all_ones ? 0 : classes * taps) + classes + 1;
}

/* z^(k) = z^(k-1) ⊛ kernel, same size, zero padding, kernel centred at K/2 (a correlation, as
 * PyTorch's conv1d): out[i] = sum_j kernel[j]·in[i + j - K/2]. Each output is summed in double
 * in tap order and rounded once to float; the maximum |z^(k)_c| and the comparison with
 * beta·T are in double, so the result is the same on every run. */
int pol_predict(const pol_config *c, int l, const float *z, float *work, uint64_t *ops)
{
    if (!c || !z || !work || c->rounds < 1 || c->classes < 1 || c->kernel_len < 1 ||
        c->kernel_len > POL_MAX_KERNEL || !c->thresholds || c->n_exits < 1)
        return 1; /* the smallest jump: skips no exit */
    const int classes = c->classes, taps = c->kernel_len, half = c->kernel_len / 2;
    const int last = c->n_exits - 1;
    const uint64_t round_ops = predict_round_ops(c);
    float *bufs[2] = {work, work + classes};
    const float *in = z;
    for (int k = 1; k <= c->rounds; k++) {
        float *o = bufs[k & 1];
        double peak = 0.0;
        for (int i = 0; i < classes; i++) {
            int j0 = half - i > 0 ? half - i : 0;                           /* i + j - half >= 0 */
            int j1 = classes - i + half < taps ? classes - i + half : taps; /* < classes */
            double s = 0.0;
            for (int j = j0; j < j1; j++) s += (double)c->kernel[j] * in[i + j - half];
            o[i] = (float)s;
            double a = fabs((double)o[i]);
            if (a > peak) peak = a;
        }
        if (ops) *ops += round_ops;
        int t = l + k < last ? l + k : last;
        if (peak > c->beta * c->thresholds[t]) return k;
        in = o;
    }
    return c->rounds;
}

/* ---- policies ---- */

/* One sample's walk over its exits. */
typedef struct walk {
    const pol_config *c;
    pol_logits_fn src;
    void *ctx;
    int true_first;
    float *z;         /* logits of the exit fetched last (classes floats) */
    float *pred_work; /* the predictor's work space (2·classes floats) */
    pol_outcome *out;
    int streak, streak_class; /* patience: agreeing run of evaluated exits and its class */
} walk;

/* Evaluates exit `exit`: fetches its logits, scores it, appends an evals row. */
static int walk_eval(walk *w, int exit, bool *fired)
{
    const pol_config *c = w->c;
    const rule_entry *r = &RULES[c->rule];
    if (w->src(w->ctx, exit, w->z) != 0) return POL_ESRC;
    double score = r->per_exit
                       ? r->score(w->z, c->classes)
                       : streak_next(&w->streak, &w->streak_class, argmax(w->z, c->classes));
    double threshold = r->threshold(c, exit);
    pol_eval *e = &w->out->evals[w->out->n_exit_evals++];
    *e = (pol_eval){.exit = exit,
                    .score = score,
                    .threshold = threshold,
                    .fired = r->fires(score, threshold),
                    .predicted_jump = NO_JUMP,
                    .predictor_ops = 0};
    *fired = e->fired;
    return POL_OK;
}

/* The exit whose logits are in w->z answers. */
static int walk_answer(walk *w, int exit)
{
    w->out->exit_layer = exit;
    w->out->pred = argmax(w->z, w->c->classes);
    return POL_OK;
}

/* The final classifier answers. */
static int walk_final(walk *w)
{
    if (w->src(w->ctx, w->c->n_exits, w->z) != 0) return POL_ESRC;
    return walk_answer(w, w->c->n_exits);
}

/* Predicts the jump from exit l (which missed, with its logits in w->z) and returns the exit it
 * points at, clipped to the last exit. */
static int walk_predict(walk *w, int l)
{
    const pol_config *c = w->c;
    pol_outcome *out = w->out;
    uint64_t ops = 0;
    int jump = pol_predict(c, l, w->z, w->pred_work, &ops);
    int next = l + jump < c->n_exits - 1 ? l + jump : c->n_exits - 1;
    out->predictor_ops += ops;
    out->evals[out->n_exit_evals - 1].predicted_jump = jump;
    out->evals[out->n_exit_evals - 1].predictor_ops = ops;
    if (out->n_predictions++ == 0) out->first_predicted_exit = next;
    return next;
}

static int run_none(walk *w)
{
    return walk_final(w);
}

static int run_coarse(walk *w)
{
    const pol_config *c = w->c;
    for (int i = 0; i < c->n_coarse; i++) {
        int l = c->coarse[i];
        if (l < 0 || l >= c->n_exits || (i > 0 && l <= c->coarse[i - 1])) return POL_EARG;
        bool fired;
        int rc = walk_eval(w, l, &fired);
        if (rc) return rc;
        if (fired) return walk_answer(w, l);
    }
    return walk_final(w);
}

static int run_passive(walk *w)
{
    for (int l = w->c->l0; l < w->c->n_exits; l++) {
        bool fired;
        int rc = walk_eval(w, l, &fired);
        if (rc) return rc;
        if (fired) return walk_answer(w, l);
    }
    return walk_final(w);
}

/* The paper's: l0, then predicted jumps; every predicted exit that misses is re-predicted from,
 * until the last exit misses and the final classifier answers. Exits only increase, since a
 * jump is >= 1 and predictions start below the last exit. */
static int run_predictive(walk *w)
{
    int l = w->c->l0;
    for (;;) {
        bool fired;
        int rc = walk_eval(w, l, &fired);
        if (rc) return rc;
        if (fired) return walk_answer(w, l);
        if (w->out->n_predictions > 0) w->out->n_mispredictions++;
        if (l == w->c->n_exits - 1) return walk_final(w);
        l = walk_predict(w, l);
    }
}

/* l0, then one prediction whose exit answers whether it fires or not. */
static int run_predictive_single(walk *w)
{
    int l = w->c->l0;
    bool fired;
    int rc = walk_eval(w, l, &fired);
    if (rc) return rc;
    if (fired) return walk_answer(w, l);
    if (l == w->c->n_exits - 1) return walk_final(w);
    l = walk_predict(w, l);
    rc = walk_eval(w, l, &fired);
    if (rc) return rc;
    if (!fired) w->out->n_mispredictions++;
    return walk_answer(w, l);
}

/* Only the true first firing exit, which answers. */
static int run_oracle(walk *w)
{
    if (w->true_first == ORACLE_FINAL) return walk_final(w);
    bool fired;
    int rc = walk_eval(w, w->true_first, &fired);
    if (rc) return rc;
    return walk_answer(w, w->true_first);
}

/* One exit policy: its name, its walk, and what it needs from the configuration. */
typedef struct policy_entry {
    const char *name;
    int (*run)(walk *w);
    bool uses_l0;  /* starts at l0 (needs a valid l0) */
    bool predicts; /* runs the predictor (activation rule, rounds, kernel) */
} policy_entry;

static const policy_entry POLICIES[POL_POLICY_COUNT] = {
    [POL_NONE] = {"none", run_none, false, false},
    [POL_COARSE] = {"coarse", run_coarse, false, false},
    [POL_PASSIVE] = {"passive", run_passive, true, false},
    [POL_PREDICTIVE] = {"predictive", run_predictive, true, true},
    [POL_PREDICTIVE_SINGLE] = {"predictive_single", run_predictive_single, true, true},
    [POL_ORACLE] = {"oracle", run_oracle, true, false},
};

static bool policy_ok(pol_policy p)
{
    return (int)p >= 0 && p < POL_POLICY_COUNT;
}

const char *pol_policy_name(pol_policy p)
{
    return policy_ok(p) ? POLICIES[p].name : "?";
}

int pol_policy_by_name(const char *name)
{
    if (!name) return -1;
    for (int i = 0; i < POL_POLICY_COUNT; i++)
        if (!strcmp(name, POLICIES[i].name)) return i;
    return -1;
}

/* The checks pol_run can afford per sample (no loops); the rest is pol_config_check's job. */
static bool run_args_ok(const pol_config *c, pol_logits_fn src, const float *work,
                        const pol_outcome *out, int true_first)
{
    if (!c || !src || !work || !out || !policy_ok(c->policy) || !rule_ok(c->rule)) return false;
    const policy_entry *p = &POLICIES[c->policy];
    if (c->classes < 1 || c->n_exits < 0) return false;
    if (c->policy == POL_NONE) return true;
    if (c->n_exits < 1 || !out->evals) return false;
    if (p->uses_l0 && (c->l0 < 0 || c->l0 >= c->n_exits)) return false;
    if (c->rule == POL_RULE_ACTIVATION && !c->thresholds) return false;
    if (c->rule == POL_RULE_PATIENCE &&
        (c->patience < 1 || (c->policy != POL_PASSIVE && c->policy != POL_COARSE)))
        return false;
    if (p->predicts && (c->rule != POL_RULE_ACTIVATION || c->rounds < 1 || c->kernel_len < 1 ||
                        c->kernel_len > POL_MAX_KERNEL))
        return false;
    if (c->policy == POL_COARSE && (!c->coarse || c->n_coarse < 1)) return false;
    if (c->policy == POL_ORACLE && true_first != ORACLE_FINAL &&
        (true_first < c->l0 || true_first >= c->n_exits))
        return false;
    return true;
}

int pol_run(const pol_config *c, pol_logits_fn src, void *ctx, int true_first, float *work,
            pol_outcome *out)
{
    if (!run_args_ok(c, src, work, out, true_first)) return POL_EARG;
    out->exit_layer = c->n_exits;
    out->pred = 0;
    out->first_predicted_exit = NO_EXIT;
    out->n_exit_evals = 0;
    out->n_predictions = 0;
    out->n_mispredictions = 0;
    out->predictor_ops = 0;
    walk w = {.c = c,
              .src = src,
              .ctx = ctx,
              .true_first = true_first,
              .z = work,
              .pred_work = work + c->classes,
              .out = out};
    return POLICIES[c->policy].run(&w);
}

int pol_true_first(const pol_config *c, const float *all_logits, float *work)
{
    (void)work; /* every exit's logits are at hand; nothing to compute into */
    if (!c || !all_logits || !rule_ok(c->rule) || c->classes < 1 || c->l0 < 0 ||
        c->l0 >= c->n_exits)
        return NO_EXIT;
    if (c->rule == POL_RULE_ACTIVATION && !c->thresholds) return NO_EXIT;
    const rule_entry *r = &RULES[c->rule];
    int streak = 0, cls = 0;
    for (int l = c->l0; l < c->n_exits; l++) {
        const float *z = all_logits + (size_t)l * (size_t)c->classes;
        double score = r->per_exit ? r->score(z, c->classes)
                                   : streak_next(&streak, &cls, argmax(z, c->classes));
        if (r->fires(score, r->threshold(c, l))) return l;
    }
    return NO_EXIT;
}

/* ---- configuration check ---- */

/* Writes a message into err (when given) and returns POL_EARG. */
__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t errlen, const char *fmt,
                                                      ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return POL_EARG;
}

/* The predictor's keys: rounds and kernel. */
static int check_predictor(const pol_config *c, char *err, size_t errlen)
{
    if (c->rounds < 1) return fail(err, errlen, "[exit] rounds = %d must be >= 1", c->rounds);
    if (c->kernel_len < 1) return fail(err, errlen, "[exit] kernel is empty");
    if (c->kernel_len > POL_MAX_KERNEL)
        return fail(err, errlen, "[exit] kernel has %d taps; at most %d", c->kernel_len,
                    POL_MAX_KERNEL);
    for (int j = 0; j < c->kernel_len; j++)
        if (!isfinite(c->kernel[j]))
            return fail(err, errlen, "[exit] kernel tap %d is %g; taps must be finite", j,
                        (double)c->kernel[j]);
    return POL_OK;
}

/* The coarse policy's exit list: inside 0 .. n_exits - 1, strictly ascending. */
static int check_coarse(const pol_config *c, char *err, size_t errlen)
{
    const int last = c->n_exits - 1;
    if (!c->coarse || c->n_coarse < 1)
        return fail(err, errlen, "[exit] exits is empty; policy coarse needs at least one exit");
    for (int i = 0; i < c->n_coarse; i++) {
        int l = c->coarse[i];
        if (l < 0) return fail(err, errlen, "[exit] exits: %d is negative", l);
        if (l > last)
            return fail(err, errlen, "[exit] exits: %d is past the last exit (%d)", l, last);
        if (i > 0 && l <= c->coarse[i - 1])
            return fail(err, errlen, "[exit] exits: %d after %d (the list must ascend)", l,
                        c->coarse[i - 1]);
    }
    return POL_OK;
}

/* The model's thresholds T_l, which the activation rule and the predictor compare with. */
static int check_thresholds(const pol_config *c, char *err, size_t errlen)
{
    if (!c->thresholds)
        return fail(err, errlen,
                    "[exit] rule = activation needs the exit thresholds T_l; the model has none");
    for (int l = 0; l < c->n_exits; l++)
        if (!isfinite(c->thresholds[l]) || c->thresholds[l] < 0)
            return fail(err, errlen,
                        "[exit] rule = activation needs thresholds finite and >= 0; "
                        "the model's T_%d is %g",
                        l, c->thresholds[l]);
    return POL_OK;
}

/* Keys are checked only where the policy and rule use them (policy none evaluates no exit, so
 * it needs no beta, l0 or thresholds; l0 means nothing to coarse). */
int pol_config_check(const pol_config *c, char *err, size_t errlen)
{
    if (!c) return fail(err, errlen, "no [exit] configuration");
    if (!policy_ok(c->policy)) return fail(err, errlen, "[exit] policy %d is unknown", c->policy);
    if (!rule_ok(c->rule)) return fail(err, errlen, "[exit] rule %d is unknown", c->rule);
    const policy_entry *p = &POLICIES[c->policy];
    const char *name = p->name;
    if (c->classes < 1) return fail(err, errlen, "[network] classes = %d must be >= 1", c->classes);
    if (c->n_exits < 0 || (c->n_exits < 1 && c->policy != POL_NONE))
        return fail(err, errlen, "[exit] policy = %s needs a network with exits; it has %d", name,
                    c->n_exits);
    if (c->rule == POL_RULE_PATIENCE && c->policy != POL_PASSIVE && c->policy != POL_COARSE)
        return fail(err, errlen, "[exit] rule = patience needs policy passive or coarse");
    if (p->predicts && c->rule != POL_RULE_ACTIVATION)
        return fail(err, errlen,
                    "[exit] policy = %s needs rule = activation (the predictor compares with "
                    "beta*T_l)",
                    name);
    if (c->policy == POL_NONE) return POL_OK;
    if (c->rule == POL_RULE_PATIENCE) {
        if (c->patience < 1)
            return fail(err, errlen, "[exit] patience = %d must be >= 1", c->patience);
    } else if (!isfinite(c->beta) || c->beta <= 0) {
        return fail(err, errlen, "[exit] beta = %g must be finite and > 0", c->beta);
    }
    if (p->uses_l0 && c->l0 < 0) return fail(err, errlen, "[exit] l0 = %d must be >= 0", c->l0);
    if (p->uses_l0 && c->l0 >= c->n_exits)
        return fail(err, errlen, "[exit] l0 = %d is past the last exit (%d)", c->l0,
                    c->n_exits - 1);
    int rc = p->predicts ? check_predictor(c, err, errlen) : POL_OK;
    if (!rc && c->policy == POL_COARSE) rc = check_coarse(c, err, errlen);
    if (!rc && c->rule == POL_RULE_ACTIVATION) rc = check_thresholds(c, err, errlen);
    return rc;
}
