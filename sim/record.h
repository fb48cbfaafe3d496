/* Trace recording: every exit's and the final classifier's logits of a model over a range of
 * dataset samples, written as a logit trace (sim/trace.h) that trace-driven runs replay. */
#ifndef PESIM_RECORD_H
#define PESIM_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "data.h"
#include "model.h"

/* Runs samples first .. first + count - 1 of ds through m in batches of RUN_BATCH (the batching
 * of functional runs, so both give bit-identical logits), every exit in order then the final
 * classifier, and writes them with the model's thresholds, exit names and MACs to out
 * (atomically). dataset and split are recorded in the trace's meta. progress may be NULL.
 * 0 ok, else negative with a one-line message in err. */
int record_trace(const model *m, const char *model_path, const data_set *ds, const char *dataset,
                 const char *split, size_t first, size_t count, const char *out, FILE *progress,
                 bool progress_tty, char *err, size_t errlen);

#endif /* PESIM_RECORD_H */
