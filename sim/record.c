/* Trace recording: the functional engine over a sample range, every exit of every sample, into a
 * trace file through the trace writer (one transaction, renamed into place at the end). */
#include "record.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eng.h"
#include "net.h"
#include "run.h"
#include "sha256.h"
#include "trace.h"
#include "util.h"

#define META_MAX 8
#define NUM_MAX  32
static const double PROGRESS_PERIOD_S = 0.5;

/* Header fields from the model: names, thresholds, MACs per exit and the final classifier. */
typedef struct header_data {
    const char **names;
    int64_t *bmacs, *hmacs;
    char *arch;
} header_data;

static void header_free(header_data *h)
{
    free(h->names);
    free(h->bmacs);
    free(h->hmacs);
    free(h->arch);
}

static int header_fill(const model *m, header_data *h)
{
    const net *n = m->net;
    const int exits = net_exit_count(n);
    h->names = calloc((size_t)exits + 1, sizeof *h->names);
    h->bmacs = calloc((size_t)exits + 1, sizeof *h->bmacs);
    h->hmacs = calloc((size_t)exits + 1, sizeof *h->hmacs);
    int len = net_arch_text(n, NULL, 0);
    h->arch = len >= 0 ? malloc((size_t)len + 1) : NULL;
    if (!h->names || !h->bmacs || !h->hmacs || !h->arch) return -1;
    net_arch_text(n, h->arch, (size_t)len + 1);
    for (int l = 0; l <= exits; l++) {
        const net_exit *x = net_exit_at(n, l);
        h->names[l] = x->name;
        h->bmacs[l] = (int64_t)x->backbone_macs_cum;
        h->hmacs[l] = (int64_t)x->macs;
    }
    return 0;
}

int record_trace(const model *m, const char *model_path, const data_set *ds, const char *dataset,
                 const char *split, size_t first, size_t count, const char *out, FILE *progress,
                 bool progress_tty, char *err, size_t errlen)
{
    if (!m || !ds || !out || first >= ds->n || count == 0 || count > ds->n - first) {
        util_errf(err, errlen, "record: bad sample range");
        return -1;
    }
    const net *n = m->net;
    const int exits = net_exit_count(n), classes = net_classes(n);
    header_data hd = {0};
    char hash[SHA256_HEX_CHARS + 1], first_text[NUM_MAX];
    const size_t per = ((size_t)exits + 1) * (size_t)classes;
    float *batch = malloc((size_t)RUN_BATCH * per * sizeof *batch);
    float *row = malloc(per * sizeof *row);
    eng *e = NULL;
    trace_writer *w = NULL;
    int rc = batch && row && !header_fill(m, &hd) ? 0 : -1;
    if (rc) {
        util_errf(err, errlen, "record: out of memory");
        goto done;
    }
    sha256_hex(hd.arch, strlen(hd.arch), hash);
    snprintf(first_text, sizeof first_text, "%zu", first);
    const char *keys[META_MAX] = {"arch",  "arch_sha256",  "model", "dataset",
                                  "split", "first_sample", "source"};
    const char *vals[META_MAX] = {hd.arch,
                                  hash,
                                  model_path ? model_path : "",
                                  dataset ? dataset : "",
                                  split ? split : "",
                                  first_text,
                                  "pesim infer"};
    trace_header th = {.classes = classes,
                       .exits = exits,
                       .names = hd.names,
                       .thresholds = m->thresholds,
                       .backbone_macs = hd.bmacs,
                       .head_macs = hd.hmacs,
                       .meta_keys = keys,
                       .meta_values = vals,
                       .n_meta = 7};
    if (trace_writer_open(&w, out, &th, err, errlen)) {
        rc = -1;
        goto done;
    }
    e = eng_new(n, (const float *const *)m->params, RUN_BATCH, err, errlen);
    if (!e) {
        rc = -1;
        goto done;
    }
    const size_t stride = (size_t)RUN_BATCH * (size_t)classes;
    double t0 = util_now_s(), last = t0;
    for (size_t b = 0; b < count && !rc; b += RUN_BATCH) {
        int nb = (int)(count - b < RUN_BATCH ? count - b : RUN_BATCH);
        rc = eng_begin(e, data_image(ds, first + b), nb);
        for (int l = 0; l <= exits && !rc; l++) rc = eng_exit(e, l, batch + (size_t)l * stride);
        if (rc) {
            util_errf(err, errlen, "record: engine: %s", eng_error(e));
            break;
        }
        for (int j = 0; j < nb && !rc; j++) {
            for (int l = 0; l <= exits; l++)
                memcpy(row + (size_t)l * (size_t)classes,
                       batch + (size_t)l * stride + (size_t)j * (size_t)classes,
                       (size_t)classes * sizeof *row);
            size_t id = first + b + (size_t)j;
            rc = trace_writer_add(w, (int64_t)id, ds->y[id], row, err, errlen);
        }
        double tn = util_now_s();
        if (progress && progress_tty && tn - last >= PROGRESS_PERIOD_S) {
            last = tn;
            fprintf(progress, "\rrecording: %zu/%zu samples", b + (size_t)nb, count);
            fflush(progress);
        }
    }
    if (progress && progress_tty) fprintf(progress, "\r%40s\r", "");
    if (!rc) {
        rc = trace_writer_finish(w, err, errlen);
        w = NULL;
    }
done:
    trace_writer_abort(w);
    eng_free(e);
    header_free(&hd);
    free(batch);
    free(row);
    return rc ? -1 : 0;
}
