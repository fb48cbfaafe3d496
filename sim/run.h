/* Experiment runs (pesim run): one validated config → one run in its result database. The exit
 * source is the functional engine on a model file and a dataset, or a logit trace; the exit
 * policy of [exit] decides per sample which exits to evaluate; every inference and every exit
 * evaluation is written to the database (DESIGN sections 2, 4 and 7). */
#ifndef PESIM_RUN_H
#define PESIM_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "acc.h"
#include "cfg.h"
#include "db.h"
#include "net.h"
#include "opp.h"
#include "pwr.h"

/* Status codes; 0 is success. */
enum run_status {
    RUN_OK = 0,
    RUN_EINPUT = -1,    /* bad input: config, model, trace or dataset (message says which) */
    RUN_EDB = -2,       /* the result database failed */
    RUN_EINTERNAL = -3, /* out of memory or an engine failure */
};

/* Samples per engine batch in functional runs; pesim infer --trace-out records traces with the
 * same batch so that both sources give bit-identical logits. */
#define RUN_BATCH 32

typedef struct run_opts {
    bool force;          /* redo a run that is already done */
    FILE *progress;      /* progress and the summary line; NULL for none */
    bool progress_tty;   /* rewrite one progress line with \r */
    const char *version; /* pesim version recorded in runs */
    bool full_des;       /* re-simulate every op of every inference at tile level */
    bool discard_rows;   /* simulate but write no inference/eval/segment rows (pesim bench) */
} run_opts;

/* What a run did. */
typedef struct run_stats {
    db_begin_outcome outcome;
    int64_t run_id;
    size_t samples;
    double seconds;         /* wall time of the sample loop (rows written) */
    double accuracy;        /* fraction */
    double rel_computation; /* (backbone + exit MACs + predictor ops) / classic MACs; NAN */
    double exit_evals;      /* per sample */
    double hit_rate;        /* 1 − mispredictions / predictions; NAN without predictions */
    double mean_latency_ns; /* NAN when no accelerator was simulated */
    double mean_energy_nj;
    double rel_energy; /* mean energy / the classic network's at the fastest level */
    size_t deadline_misses;
} run_stats;

/* Runs the experiment c describes (c must have no errors). 0 ok (also when skipped: see
 * st->outcome), else a negative run_status with a one-line message in err. */
int run_config(const cfg *c, const run_opts *o, run_stats *st, char *err, size_t errlen);

/* run_config keeps the last trace it loaded for the next run on the same unchanged file; this
 * frees it (call before exit so leak checkers see nothing held). */
void run_cache_clear(void);

/* The OPP table ([dvfs] opp_table, or the generic ladder), power parameters ([power]; with a
 * measured_table, static power and its exponent from a GSL fit, printed to msg) and accelerator
 * ([accelerator]) of c, and the per-layer cost table of n on them: simulated at tile level, or
 * read from [accelerator] cost_table. RUN_OK or a negative run_status with a message in err. */
int run_cost_table(const cfg *c, const net *n, opp_table *o, pwr_params *p, acc_config *a,
                   acc_table **t, FILE *msg, char *err, size_t errlen);

#endif /* PESIM_RUN_H */
