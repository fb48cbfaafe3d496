/* Offline inference: every exit and the final classifier of a model on a dataset with the
 * functional engine, tallied per exit (accuracy, confidence, activation-rule exit distribution). */
#include "infer.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "eng.h"
#include "kern.h"
#include "util.h"

static const double PERCENT = 100.0;

/* Index of the largest of n values (the first on ties; NaN never wins). */
static int argmax(const float *x, int n)
{
    int best = 0;
    for (int c = 1; c < n; c++)
        if (x[c] > x[best] || isnan(x[best])) best = c;
    return best;
}

/* max_c |z_c| over one row of logits (NaN when a logit is NaN, so the rule does not fire). */
static double max_abs(const float *z, int n)
{
    double m = 0.0;
    for (int c = 0; c < n; c++) {
        double a = fabs((double)z[c]);
        if (a > m || isnan(a)) m = a;
    }
    return m;
}

/* Scratch of one run, allocated once. */
typedef struct infer_buf {
    float *logits, *probs; /* batch × classes */
    int *first;            /* per sample of the batch: first exit that fired, -1 while none */
} infer_buf;

/* Adds one batch's logits of exit index `exit` (threshold NAN: the final classifier) to x. */
static void tally(infer_exit *x, int exit, double threshold, const infer_buf *b,
                  const uint8_t *labels, int nb, int classes)
{
    kern_softmax(nb, classes, b->logits, b->probs);
    for (int s = 0; s < nb; s++) {
        const float *z = b->logits + (size_t)s * (size_t)classes;
        const float *p = b->probs + (size_t)s * (size_t)classes;
        if (argmax(z, classes) == labels[s]) x->correct++;
        x->max_prob_sum += (double)p[argmax(p, classes)];
        bool fires = isnan(threshold) || max_abs(z, classes) >= threshold;
        if (!fires) continue;
        x->fires++;
        if (b->first[s] < 0) {
            b->first[s] = exit;
            x->first_fires++;
        }
    }
}

/* The dataset must match the model's input shape and fit its classes. */
static int check_fit(const model *m, const data_set *ds, char *err, size_t errlen)
{
    net_shape in = net_input(m->net);
    if (ds->channels != in.c || ds->height != in.h || ds->width != in.w) {
        util_errf(err, errlen, "dataset %s has %dx%dx%d images but the model takes %dx%dx%d",
                  ds->name, ds->height, ds->width, ds->channels, in.h, in.w, in.c);
        return INFER_EARG;
    }
    if (ds->classes > net_classes(m->net)) {
        util_errf(err, errlen, "dataset %s has %d classes but the model only %d", ds->name,
                  ds->classes, net_classes(m->net));
        return INFER_EARG;
    }
    return INFER_OK;
}

/* Every exit, then the final classifier, on one batch starting at sample `start`. */
static int run_batch(eng *e, const model *m, const data_set *ds, size_t start, int nb,
                     const infer_buf *b, infer_result *res, char *err, size_t errlen)
{
    const int classes = net_classes(m->net);
    int rc = eng_begin(e, data_image(ds, start), nb);
    for (int s = 0; s < nb; s++) b->first[s] = -1;
    for (int l = 0; !rc && l < res->n_exits; l++) {
        rc = eng_exit(e, l, b->logits);
        if (rc) break;
        double t = l + 1 < res->n_exits ? res->beta * m->thresholds[l] : NAN;
        tally(&res->exits[l], l, t, b, ds->y + start, nb, classes);
    }
    if (rc) util_errf(err, errlen, "engine: %s", eng_error(e));
    return rc ? INFER_EENG : INFER_OK;
}

int infer_run(const model *m, const data_set *ds, size_t samples, int batch, double beta,
              infer_progress_fn progress, void *ctx, infer_result *res, char *err, size_t errlen)
{
    if (!m || !ds || !res || batch < 1 || !(beta >= 0.0 && isfinite(beta))) {
        util_errf(err, errlen, "infer: bad arguments (batch %d, beta %g)", batch, beta);
        return INFER_EARG;
    }
    *res = (infer_result){0};
    int rc = check_fit(m, ds, err, errlen);
    if (rc) return rc;
    const size_t total = samples == 0 || samples > ds->n ? ds->n : samples;
    const int classes = net_classes(m->net);
    const size_t row = (size_t)batch * (size_t)classes;
    infer_buf b = {malloc(row * sizeof *b.logits), malloc(row * sizeof *b.probs),
                   malloc((size_t)batch * sizeof *b.first)};
    eng *e = eng_new(m->net, (const float *const *)m->params, batch, err, errlen);
    res->exits = calloc((size_t)m->n_exits, sizeof *res->exits);
    res->n_exits = m->n_exits;
    res->beta = beta;
    rc = INFER_EENG;
    if (!e) goto done; /* eng_new wrote the message */
    rc = INFER_ENOMEM;
    if (!b.logits || !b.probs || !b.first || !res->exits) {
        util_errf(err, errlen, "infer: out of memory");
        goto done;
    }
    const double t0 = util_now_s();
    rc = INFER_OK;
    for (size_t start = 0; start < total && !rc; start += (size_t)batch) {
        const int nb = total - start < (size_t)batch ? (int)(total - start) : batch;
        rc = run_batch(e, m, ds, start, nb, &b, res, err, errlen);
        res->samples = start + (size_t)nb;
        if (progress && !rc) progress(ctx, res->samples, total, util_now_s() - t0);
    }
    res->seconds = util_now_s() - t0;
done:
    if (rc) infer_result_free(res);
    eng_free(e);
    free(b.logits);
    free(b.probs);
    free(b.first);
    return rc;
}

void infer_result_free(infer_result *res)
{
    if (!res) return;
    free(res->exits);
    *res = (infer_result){0};
}

int infer_print_table(const infer_result *res, const model *m, FILE *out)
{
    const net *n = m->net;
    const double total_macs = (double)net_get_totals(n)->backbone_macs;
    const double samples = res->samples ? (double)res->samples : 1.0;
    fprintf(out, "exit  name          MACs %%    acc %%  mean p_max  fires %%  first %%\n");
    for (int l = 0; l < res->n_exits; l++) {
        const net_exit *x = net_exit_at(n, l);
        const infer_exit *t = &res->exits[l];
        fprintf(out, "%4d  %-12s %7.2f %8.2f %11.4f %8.2f %8.2f\n", l, x->name,
                PERCENT * (double)x->backbone_macs_cum / total_macs,
                PERCENT * (double)t->correct / samples, t->max_prob_sum / samples,
                PERCENT * (double)t->fires / samples, PERCENT * (double)t->first_fires / samples);
    }
    return ferror(out) ? -1 : 0;
}
