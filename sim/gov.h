/* DVFS governors and the timeline of one inference on the accelerator (DESIGN section 5): the
 * exits a policy evaluated (pol.h) become segments of backbone ops, exit heads, predictor work
 * on the control processor and OPP switches, each priced from the per-layer cost table (acc.h)
 * at the OPP the governor chose; plus request arrivals, queueing, idle time and deadlines.
 *
 * Governors (one function plus one table line each; decisions happen only between layers):
 *   max           always the fastest level
 *   static        [dvfs] level throughout
 *   race_to_idle  the fastest level, power-gated while idle
 *   paper         at each prediction f = f_max·J/R_rem (J the predicted jump, R_rem the exits
 *                 left after the current one), nearest level; back to f_max after the exit
 *   deadline      at each prediction the lowest-energy level that finishes the work up to the
 *                 predicted exit and still meets the deadline if that exit misses (the rest of
 *                 the network at f_max, switch cost included), from the cost table
 *   oracle        knows the true exit: the lowest-energy single level that finishes the work up
 *                 to it within the deadline (a lower bound for any governor)
 * Deadline of a request: [workload] deadline_us, or (0) the classic network's latency at f_max.
 * Latency = finish − arrival (queueing included). */
#ifndef PESIM_GOV_H
#define PESIM_GOV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "acc.h"
#include "db.h"
#include "net.h"
#include "opp.h"
#include "pol.h"
#include "pwr.h"

enum gov_status { GOV_OK = 0, GOV_EARG = -1, GOV_ENOMEM = -2, GOV_EIO = -3 };

typedef enum gov_kind {
    GOV_MAX,
    GOV_STATIC,
    GOV_RACE_TO_IDLE,
    GOV_PAPER,
    GOV_DEADLINE,
    GOV_ORACLE,
    GOV_COUNT
} gov_kind;

const char *gov_name(gov_kind k);  /* "paper"; "?" when out of range */
int gov_by_name(const char *name); /* -1 when unknown */

typedef struct gov_config {
    gov_kind kind;
    int static_level;           /* for static */
    double extra_transition_ns; /* [dvfs] transition_ns, added to the OPP table's own */
    double extra_transition_nj;
    double deadline_ns; /* 0: the classic network's latency at f_max */
} gov_config;

/* Request arrival processes ([workload]). */
typedef enum gov_arrival { ARR_BACK_TO_BACK, ARR_PERIODIC, ARR_POISSON, ARR_TRACE } gov_arrival;
typedef struct arrivals arrivals;
/* arrival trace: a text file, one arrival time in µs per line (ascending, '#' comments). */
int arrivals_new(gov_arrival kind, double period_us, double rate_per_s, const char *trace_path,
                 uint64_t seed, arrivals **out, char *err, size_t errlen);
void arrivals_free(arrivals *a);
/* Arrival time (ns) of the next request; back-to-back: prev_finish_ns. Poisson draws from a
 * seeded GSL RNG; a trace that runs out returns -1. */
double arrivals_next_ns(arrivals *a, double prev_finish_ns);

/* One inference's outcome on the accelerator. segments/transitions point into the exec and stay
 * valid until the next exec_inference. */
typedef struct exec_result {
    double arrival_ns, start_ns, finish_ns;
    double latency_ns; /* finish − arrival */
    double energy_nj;  /* sum of the segments' energy (idle before the start included) */
    bool deadline_met; /* latency <= deadline */
    int n_segments;
    const db_segment *segments; /* run_id and sample left 0: the caller fills them */
    int n_transitions;
    const db_dvfs *transitions;
} exec_result;

typedef struct exec exec;
/* An executor for a run: n's ops and exits, priced by t (levels of o), governor g. With
 * full_des every op is re-simulated with acc_simulate (a, p) instead of read from the table
 * (same numbers, slower; for checking). GOV_OK or a negative status with a message in err. */
int exec_new(const net *n, const acc_table *t, const opp_table *o, const pwr_params *p,
             const gov_config *g, bool full_des, const acc_config *a, exec **out, char *err,
             size_t errlen);
void exec_free(exec *x);
double exec_classic_ns(const exec *x);  /* whole backbone at the fastest level */
double exec_deadline_ns(const exec *x); /* the deadline every request gets */
/* Plays one inference arriving at arrival_ns: the policy's evaluated exits in order
 * (o->evals, with predicted jumps and predictor ops), the final classifier when o->exit_layer
 * is the final one, true_first for the oracle governor (-1: none fires). GOV_OK or negative. */
int exec_inference(exec *x, const pol_outcome *o, int true_first, double arrival_ns,
                   exec_result *r);

#endif /* PESIM_GOV_H */
