/* Offline inference (`pesim infer`): a model's every exit and final classifier on every sample of
 * a dataset with the functional engine, and per exit its accuracy, mean max-softmax and the exit
 * distribution the activation rule (max_c |z_c| >= beta * T_l) would give. */
#ifndef PESIM_INFER_H
#define PESIM_INFER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "data.h"
#include "model.h"

/* Status codes; 0 is success. */
enum infer_status {
    INFER_OK = 0,
    INFER_EARG = -1,   /* a bad argument: batch, beta, a dataset that does not fit the model */
    INFER_ENOMEM = -2, /* out of memory */
    INFER_EENG = -3,   /* the engine failed (its message is passed on) */
};

/* Per exit (0 .. net_exit_count() - 1, then the final classifier) over the samples run. */
typedef struct infer_exit {
    uint64_t correct;     /* argmax of the logits equals the label (first maximum on ties) */
    double max_prob_sum;  /* sum over samples of the largest softmax probability */
    uint64_t fires;       /* max_c |z_c| >= beta * T_l; every sample for the final classifier */
    uint64_t first_fires; /* samples for which this is the first exit that fires */
} infer_exit;

/* Counts of one run; exits[] has model->n_exits entries. */
typedef struct infer_result {
    size_t samples;
    int n_exits;    /* exits plus the final classifier */
    double beta;    /* the activation rule's scale of T_l */
    double seconds; /* wall time of the engine loop (batches, every exit, softmax, counting) */
    infer_exit *exits;
} infer_result;

/* Called after each batch with the samples done so far and the seconds since the start. */
typedef void (*infer_progress_fn)(void *ctx, size_t done, size_t total, double seconds);

/* Runs the first `samples` images of ds (0 or more than ds->n: all) through m in batches of
 * `batch`, evaluating exits in order and then the final classifier, into *res (free it with
 * infer_result_free). progress may be NULL. 0 ok, else a negative infer_status with a one-line
 * message in err. Counts and sums follow sample order, so reruns give identical results. */
int infer_run(const model *m, const data_set *ds, size_t samples, int batch, double beta,
              infer_progress_fn progress, void *ctx, infer_result *res, char *err, size_t errlen);
void infer_result_free(infer_result *res); /* free the exits array and zero res */

/* Prints the per-exit table (index, name, cumulative backbone MACs %, accuracy %, mean
 * max-softmax, fires %, first-firing %) of res for m. 0 ok, -1 on a write error. */
int infer_print_table(const infer_result *res, const model *m, FILE *out);

#endif /* PESIM_INFER_H */
