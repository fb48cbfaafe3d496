/* Exit rules, the Predictive Exit prediction engine and the exit policies (DESIGN section 4).
 * A policy walks one sample's exits through a logits callback (the exit source: the functional
 * engine or a trace), decides which exits to evaluate and where to stop, and reports what it did
 * exit by exit. Nothing here allocates; callers pass the work arrays. */
#ifndef PESIM_POL_H
#define PESIM_POL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Status codes; 0 is success. */
enum pol_status {
    POL_OK = 0,
    POL_EARG = -1, /* a bad configuration or argument */
    POL_ESRC = -2, /* the exit source failed (its message is the caller's) */
};

/* Whether an evaluated exit fires. */
typedef enum pol_rule {
    POL_RULE_ACTIVATION, /* max_c |z_c| >= beta·T_l (the paper's) */
    POL_RULE_SOFTMAX,    /* max softmax >= beta */
    POL_RULE_ENTROPY,    /* softmax entropy (nats) <= beta */
    POL_RULE_PATIENCE,   /* the last `patience` evaluated exits agree on the class */
    POL_RULE_COUNT
} pol_rule;

/* Which exits a sample evaluates. */
typedef enum pol_policy {
    POL_NONE,              /* classic network: no exit evaluated, the final classifier answers */
    POL_COARSE,            /* the listed exits, in order, until one fires */
    POL_PASSIVE,           /* every exit from l0 on until one fires */
    POL_PREDICTIVE,        /* l0, then predicted jumps, re-predicting after each miss */
    POL_PREDICTIVE_SINGLE, /* l0, then one prediction; the predicted exit answers regardless */
    POL_ORACLE,            /* only the true first firing exit (from l0), if any */
    POL_POLICY_COUNT
} pol_policy;

#define POL_MAX_KERNEL 15 /* longest predictor kernel */

/* A run's exit configuration plus the network facts a policy needs. */
typedef struct pol_config {
    pol_policy policy;
    pol_rule rule;
    double beta;    /* > 0 */
    int l0;         /* first exit evaluated, 0 .. n_exits - 1 */
    int rounds;     /* R >= 1: the largest jump the predictor forecasts */
    int kernel_len; /* 1 .. POL_MAX_KERNEL; the kernel is centred at kernel_len / 2 */
    float kernel[POL_MAX_KERNEL];
    int patience;             /* k >= 1 for the patience rule */
    const int *coarse;        /* ascending exit indices for POL_COARSE */
    int n_coarse;             /* >= 1 for POL_COARSE */
    int n_exits;              /* exits, not counting the final classifier (index n_exits) */
    int classes;              /* logits per exit, >= 1 */
    const double *thresholds; /* T_l for l = 0 .. n_exits - 1 (activation rule, predictor) */
} pol_config;

/* Name of a policy / rule ("predictive", "activation"); "?" when out of range. */
const char *pol_policy_name(pol_policy p);
const char *pol_rule_name(pol_rule r);
/* Index of a policy / rule name; -1 when unknown. */
int pol_policy_by_name(const char *name);
int pol_rule_by_name(const char *name);

/* Checks c: ranges, a coarse list inside 0 .. n_exits - 1 and ascending, and the combinations:
 * patience only with passive or coarse; predictive, predictive_single and oracle need a rule
 * with a per-exit score (activation, softmax, entropy); the predictor compares with
 * beta·T_{l+k}, so predictive policies need the activation rule. 0 ok, POL_EARG with a one-line
 * message in err naming the [exit] key. */
int pol_config_check(const pol_config *c, char *err, size_t errlen);

/* Score of logits z under a per-exit rule: activation max_c |z_c|, softmax max probability,
 * entropy -sum p log p (nats); computed in double. NAN for the patience rule. */
double pol_score(pol_rule r, const float *z, int classes);
/* Whether an exit with this score fires under rule (not patience) at exit l:
 * activation score >= beta·T_l, softmax score >= beta, entropy score <= beta. */
bool pol_fires(const pol_config *c, int exit, double score);
/* The threshold the rule compares exit l's score with (beta·T_l, beta, beta, or patience). */
double pol_threshold(const pol_config *c, int exit);

/* Floats of work space pol_predict, pol_true_first and pol_run need (3·classes). */
size_t pol_work_floats(const pol_config *c);

/* The prediction engine (DESIGN section 4, from the paper's code): z0 = z (the logits of exit
 * l), zk = z(k-1) convolved with the kernel along the class axis (same size, zero padding);
 * J = the first k in 1 .. R with max_c |zk_c| > beta·T_{min(l + k, n_exits - 1)}, else R.
 * Adds its operation count to *ops: per round executed, classes·(kernel_len − 1) additions,
 * classes·kernel_len multiplications unless every kernel tap is 1, classes comparisons for the
 * maximum and 1 for the threshold. Returns J (1 .. R). */
int pol_predict(const pol_config *c, int l, const float *z, float *work, uint64_t *ops);

/* The logits (classes floats) of exit `exit` (0 .. n_exits; n_exits is the final classifier)
 * for the current sample into z. 0 ok, negative on failure. */
typedef int (*pol_logits_fn)(void *ctx, int exit, float *z);

/* One evaluated exit (an exit_evals row, DESIGN section 7). */
typedef struct pol_eval {
    int exit;
    double score, threshold; /* patience: score = agreeing streak, threshold = patience */
    bool fired;
    int predicted_jump;     /* J predicted from this exit's logits; -1 when none */
    uint64_t predictor_ops; /* operations of that prediction (0 when none) */
} pol_eval;

/* What a policy did for one sample (an inferences row without costs). */
typedef struct pol_outcome {
    int exit_layer;                      /* exit that answered; n_exits = the final classifier */
    int pred;                            /* its argmax class (first maximum) */
    int first_predicted_exit;            /* l0 + J of the first prediction, clipped; -1 when none */
    int n_exit_evals;                    /* exits evaluated (= entries in evals) */
    int n_predictions, n_mispredictions; /* a misprediction: a predicted exit that did not fire */
    uint64_t predictor_ops;
    pol_eval *evals; /* caller's array of n_exits entries, filled in evaluation order */
} pol_outcome;

/* True first firing exit from l0 on, given every exit's logits ((n_exits + 1) × classes, the
 * final last) under a per-exit rule; -1 when none fires (the final classifier answers).
 * For the patience rule: the first exit where the streak reaches `patience` walking from l0. */
int pol_true_first(const pol_config *c, const float *all_logits, float *work);

/* Runs c->policy for one sample: asks src for the logits it needs (each exit at most once,
 * in increasing exit order, then the final classifier when no exit answered), fills *out.
 * true_first is the sample's pol_true_first (the oracle needs it; others ignore it).
 * 0 ok, POL_ESRC when src fails, POL_EARG on bad arguments. */
int pol_run(const pol_config *c, pol_logits_fn src, void *ctx, int true_first, float *work,
            pol_outcome *out);

#endif /* PESIM_POL_H */
