/* Trainer: training-mode forward, exit heads, cross-entropy, backward and Adam over a multi-exit
 * network (trainer_*), and whole two-stage runs with checkpoints, thresholds and accuracies
 * (train_*). Buffers are allocated once in trainer_new; a step allocates nothing. */
#include "train.h"

#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "eng.h"
#include "kern.h"
#include "model.h"
#include "util.h"

#define TRAIN_ERR_MAX 256

/* Offsets of a BoF module's, an FC pair's, a BN op's and a conv/FC op's tensors (net.h order). */
enum { BOF_T_WEIGHT, BOF_T_BIAS, BOF_T_A, BOF_T_C, BOF_T_N1, BOF_T_N2 };
enum { FC_T_W0, FC_T_B0, FC_T_W1, FC_T_B1 };
enum { BN_T_GAMMA, BN_T_BETA, BN_T_MEAN, BN_T_VAR };
enum { OP_T_WEIGHT, OP_T_BIAS };

struct trainer {
    const net *n;
    int n_ops, n_tensors, max_batch, batch;
    long step;     /* Adam steps since the last reset */
    float *pblock; /* parameters, gradients, Adam m and v: four blocks of param_count */
    float **p, **g, **m, **v;
    bool *head;    /* per tensor: belongs to an exit head (BoF module or FC pair) */
    float *ablock; /* every activation, gradient and workspace */
    float *input;
    float **out, **dout; /* per op: output and its gradient (max_batch samples) */
    float **bn_mean, **bn_invstd;
    float *conv_ws;
    float *codes, *dcodes, *bof_cache, *bof_ws, *feat, *dfeat, *hid, *dhid, *logits, *dlogits;
    char err[TRAIN_ERR_MAX];
};

#define T_FAIL(t, rc, ...) (util_errf((t)->err, sizeof(t)->err, __VA_ARGS__), (rc))

static size_t shape_elems(net_shape s)
{
    return (size_t)s.c * (size_t)s.h * (size_t)s.w;
}

/* Largest forward + backward conv workspace over batches 1 .. max_batch (not monotone). */
static size_t conv_ws_max(kern_conv2d_desc d, int max_batch)
{
    size_t m = 0;
    for (int b = 1; b <= max_batch; b++) {
        d.n = b;
        size_t f = kern_conv2d_workspace_floats(&d), g = grad_conv2d_workspace_floats(&d);
        if (f > m) m = f;
        if (g > m) m = g;
    }
    return m;
}

static kern_bof_desc bof_desc(const trainer *t, const net_exit *x, int batch)
{
    const net_bof *b = net_bof_at(t->n, x->bof);
    float *const *bt = &t->p[b->tensor_first];
    return (kern_bof_desc){.n = batch,
                           .k = b->codewords,
                           .h = x->in.h,
                           .w = x->in.w,
                           .s = x->s,
                           .a = bt[BOF_T_A][0],
                           .c = bt[BOF_T_C][0],
                           .n1 = bt[BOF_T_N1][0],
                           .n2 = bt[BOF_T_N2][0],
                           .eps = ENG_BOF_EPS};
}

/* Sizes of the buffers the trainer needs beyond the per-op activations. */
typedef struct sizes {
    size_t acts, bn, conv_ws, codes, cache, bof_ws, feat, hid, logits;
} sizes;

static sizes plan(const trainer *t)
{
    sizes s = {0};
    const net *n = t->n;
    const size_t mb = (size_t)t->max_batch;
    for (int i = 0; i < t->n_ops; i++) {
        const net_op *o = net_op_at(n, i);
        s.acts += mb * shape_elems(o->out);
        if (o->kind == NET_OP_BN) s.bn += (size_t)o->out.c;
        if (o->kind == NET_OP_CONV) {
            size_t ws = conv_ws_max(eng_conv_desc(o, t->max_batch), t->max_batch);
            if (ws > s.conv_ws) s.conv_ws = ws;
        }
    }
    for (int i = 0; i < net_exit_count(n); i++) {
        const net_exit *x = net_exit_at(n, i);
        const net_bof *b = net_bof_at(n, x->bof);
        kern_conv2d_desc cd = eng_head_desc(x, b, t->max_batch);
        size_t ws = conv_ws_max(cd, t->max_batch);
        kern_bof_desc bd = {.n = t->max_batch,
                            .k = b->codewords,
                            .h = x->in.h,
                            .w = x->in.w,
                            .s = x->s,
                            .a = 1,
                            .n1 = 1,
                            .n2 = 1,
                            .eps = ENG_BOF_EPS};
        size_t codes = mb * (size_t)b->codewords * (size_t)x->in.h * (size_t)x->in.w;
        size_t cache = grad_bof_cache_floats(&bd), bws = kern_bof_workspace_floats(&bd);
        size_t feat = mb * (size_t)x->features;
        size_t hid = mb * (size_t)net_fc_pair_at(n, x->fc_pair)->hidden;
        if (ws > s.conv_ws) s.conv_ws = ws;
        if (codes > s.codes) s.codes = codes;
        if (cache > s.cache) s.cache = cache;
        if (bws > s.bof_ws) s.bof_ws = bws;
        if (feat > s.feat) s.feat = feat;
        if (hid > s.hid) s.hid = hid;
    }
    s.logits = mb * (size_t)net_classes(n);
    return s;
}

trainer *trainer_new(const net *n, const float *const *params, int max_batch, char *err,
                     size_t errlen)
{
    if (!n || !params || max_batch < 1) {
        util_errf(err, errlen, "trainer_new: network, parameters and a batch >= 1 are required");
        return NULL;
    }
    trainer *t = calloc(1, sizeof *t);
    if (!t) goto fail_nomem;
    t->n = n;
    t->n_ops = net_op_count(n);
    t->n_tensors = net_tensor_count(n);
    t->max_batch = max_batch;
    const size_t nt = (size_t)t->n_tensors, no = (size_t)t->n_ops;
    t->p = calloc(nt, sizeof *t->p);
    t->g = calloc(nt, sizeof *t->g);
    t->m = calloc(nt, sizeof *t->m);
    t->v = calloc(nt, sizeof *t->v);
    t->head = calloc(nt, sizeof *t->head);
    t->out = calloc(no, sizeof *t->out);
    t->dout = calloc(no, sizeof *t->dout);
    t->bn_mean = calloc(no, sizeof *t->bn_mean);
    t->bn_invstd = calloc(no, sizeof *t->bn_invstd);
    if (!t->p || !t->g || !t->m || !t->v || !t->head || !t->out || !t->dout || !t->bn_mean ||
        !t->bn_invstd)
        goto fail_nomem;
    const size_t pc = (size_t)net_param_count(n);
    t->pblock = calloc(4 * pc + 1, sizeof *t->pblock);
    if (!t->pblock) goto fail_nomem;
    float *q = t->pblock;
    for (size_t i = 0; i < nt; i++) {
        const net_tensor *tt = net_tensor_at(n, (int)i);
        if (!params[i]) {
            util_errf(err, errlen, "trainer_new: tensor %s is missing", tt->name);
            trainer_free(t);
            return NULL;
        }
        t->p[i] = q;
        t->g[i] = q + pc;
        t->m[i] = q + 2 * pc;
        t->v[i] = q + 3 * pc;
        memcpy(q, params[i], (size_t)tt->count * sizeof *q);
        q += tt->count;
    }
    for (int i = 0; i < net_bof_count(n); i++) {
        const net_bof *b = net_bof_at(n, i);
        for (int k = 0; k < b->tensor_count; k++) t->head[b->tensor_first + k] = true;
    }
    for (int i = 0; i < net_fc_pair_count(n); i++) {
        const net_fc_pair *f = net_fc_pair_at(n, i);
        for (int k = 0; k < f->tensor_count; k++) t->head[f->tensor_first + k] = true;
    }

    sizes s = plan(t);
    size_t in_floats = (size_t)max_batch * shape_elems(net_input(n));
    size_t total = in_floats + 2 * s.acts + 2 * s.bn + s.conv_ws + 2 * s.codes + s.cache +
                   s.bof_ws + 2 * s.feat + 2 * s.hid + 2 * s.logits + 1;
    t->ablock = calloc(total, sizeof *t->ablock);
    if (!t->ablock) goto fail_nomem;
    float *a = t->ablock;
    t->input = a;
    a += in_floats;
    for (size_t i = 0; i < no; i++) {
        const net_op *o = net_op_at(n, (int)i);
        size_t c = (size_t)max_batch * shape_elems(o->out);
        t->out[i] = a;
        t->dout[i] = a + c;
        a += 2 * c;
        if (o->kind == NET_OP_BN) {
            t->bn_mean[i] = a;
            t->bn_invstd[i] = a + o->out.c;
            a += 2 * (size_t)o->out.c;
        }
    }
    t->conv_ws = a;
    a += s.conv_ws;
    t->codes = a;
    a += s.codes;
    t->dcodes = a;
    a += s.codes;
    t->bof_cache = a;
    a += s.cache;
    t->bof_ws = a;
    a += s.bof_ws;
    t->feat = a;
    a += s.feat;
    t->dfeat = a;
    a += s.feat;
    t->hid = a;
    a += s.hid;
    t->dhid = a;
    a += s.hid;
    t->logits = a;
    a += s.logits;
    t->dlogits = a;
    return t;

fail_nomem:
    util_errf(err, errlen, "trainer_new: out of memory");
    trainer_free(t);
    return NULL;
}

void trainer_free(trainer *t)
{
    if (!t) return;
    free(t->pblock);
    free(t->ablock);
    free(t->p);
    free(t->g);
    free(t->m);
    free(t->v);
    free(t->head);
    free(t->out);
    free(t->dout);
    free(t->bn_mean);
    free(t->bn_invstd);
    free(t);
}

void trainer_reset_adam(trainer *t)
{
    if (!t) return;
    const size_t pc = (size_t)net_param_count(t->n);
    memset(t->pblock + 2 * pc, 0, 2 * pc * sizeof *t->pblock);
    t->step = 0;
}

float *const *trainer_params(const trainer *t)
{
    return t ? t->p : NULL;
}

float *const *trainer_grad(const trainer *t)
{
    return t ? t->g : NULL;
}

const char *trainer_error(const trainer *t)
{
    return t ? t->err : "";
}

static const float *op_in(const trainer *t, int src)
{
    return src < 0 ? t->input : t->out[src];
}

static float *op_din(const trainer *t, int src)
{
    return src < 0 ? NULL : t->dout[src];
}

/* Training-mode forward of op i. */
static int forward_op(trainer *t, int i)
{
    const net_op *o = net_op_at(t->n, i);
    const float *x = op_in(t, o->src);
    float *y = t->out[i];
    const int nb = t->batch;
    float *const *p = &t->p[o->tensor_first];
    const size_t count = (size_t)nb * shape_elems(o->out);
    int rc = KERN_OK;
    switch (o->kind) {
    case NET_OP_CONV: {
        kern_conv2d_desc d = eng_conv_desc(o, nb);
        rc = kern_conv2d(&d, x, p[OP_T_WEIGHT], o->bias ? p[OP_T_BIAS] : NULL, y, t->conv_ws);
        break;
    }
    case NET_OP_BN:
        rc = grad_bn_forward(nb, o->out.c, (size_t)o->out.h * (size_t)o->out.w, x, y, p[BN_T_GAMMA],
                             p[BN_T_BETA], p[BN_T_MEAN], p[BN_T_VAR], TRAIN_BN_MOMENTUM, ENG_BN_EPS,
                             t->bn_mean[i], t->bn_invstd[i]);
        break;
    case NET_OP_RELU:
        for (size_t k = 0; k < count; k++) y[k] = x[k] > 0.0f ? x[k] : 0.0f;
        break;
    case NET_OP_ADD: {
        const float *x2 = op_in(t, o->src2);
        for (size_t k = 0; k < count; k++) y[k] = x[k] + x2[k];
        break;
    }
    case NET_OP_MAXPOOL:
    case NET_OP_AVGPOOL: {
        kern_pool_desc d = eng_pool_desc(o, nb);
        rc = o->kind == NET_OP_MAXPOOL ? kern_maxpool2d(&d, x, y) : kern_avgpool2d(&d, x, y);
        break;
    }
    case NET_OP_FC:
        rc = kern_fc(nb, (int)shape_elems(o->in), o->out.c, x, p[OP_T_WEIGHT], p[OP_T_BIAS], y);
        break;
    default:
        rc = KERN_EINVAL;
    }
    return rc ? T_FAIL(t, TRAIN_EKERN, "%s: forward kernel rejected its arguments", o->name)
              : TRAIN_OK;
}

/* Backward of op i from dout[i] into its sources' gradients and its tensors' gradients. */
static int backward_op(trainer *t, int i)
{
    const net_op *o = net_op_at(t->n, i);
    const float *x = op_in(t, o->src);
    float *dx = op_din(t, o->src);
    const float *dy = t->dout[i];
    const int nb = t->batch;
    float *const *p = &t->p[o->tensor_first];
    float *const *g = &t->g[o->tensor_first];
    const size_t count = (size_t)nb * shape_elems(o->out);
    int rc = KERN_OK;
    switch (o->kind) {
    case NET_OP_CONV: {
        kern_conv2d_desc d = eng_conv_desc(o, nb);
        rc = grad_conv2d(&d, x, p[OP_T_WEIGHT], dy, dx, g[OP_T_WEIGHT],
                         o->bias ? g[OP_T_BIAS] : NULL, t->conv_ws);
        break;
    }
    case NET_OP_BN:
        rc = grad_bn_backward(nb, o->out.c, (size_t)o->out.h * (size_t)o->out.w, x, dy,
                              p[BN_T_GAMMA], t->bn_mean[i], t->bn_invstd[i], dx, g[BN_T_GAMMA],
                              g[BN_T_BETA]);
        break;
    case NET_OP_RELU:
        if (dx) grad_relu(t->out[i], dy, dx, count);
        break;
    case NET_OP_ADD: {
        float *dx2 = op_din(t, o->src2);
        if (dx) kern_add(dx, dy, count);
        if (dx2) kern_add(dx2, dy, count);
        break;
    }
    case NET_OP_MAXPOOL:
    case NET_OP_AVGPOOL: {
        if (!dx) break;
        kern_pool_desc d = eng_pool_desc(o, nb);
        rc = o->kind == NET_OP_MAXPOOL ? grad_maxpool2d(&d, x, t->out[i], dy, dx)
                                       : grad_avgpool2d(&d, dy, dx);
        break;
    }
    case NET_OP_FC:
        rc = grad_fc(nb, (int)shape_elems(o->in), o->out.c, x, p[OP_T_WEIGHT], dy, dx,
                     g[OP_T_WEIGHT], g[OP_T_BIAS]);
        break;
    default:
        rc = KERN_EINVAL;
    }
    return rc ? T_FAIL(t, TRAIN_EKERN, "%s: backward kernel rejected its arguments", o->name)
              : TRAIN_OK;
}

/* Exit head forward, its cross-entropy, and its backward into dout[x->op] and the head's
 * tensors' gradients; adds the loss to *loss. */
static int head_step(trainer *t, const net_exit *x, const uint8_t *y, double *loss)
{
    const net *n = t->n;
    const net_bof *b = net_bof_at(n, x->bof);
    const net_fc_pair *f = net_fc_pair_at(n, x->fc_pair);
    float *const *bp = &t->p[b->tensor_first], *const *bg = &t->g[b->tensor_first];
    float *const *fp = &t->p[f->tensor_first], *const *fg = &t->g[f->tensor_first];
    const int nb = t->batch, classes = f->classes;
    kern_conv2d_desc cd = eng_head_desc(x, b, nb);
    kern_bof_desc bd = bof_desc(t, x, nb);
    if (kern_conv2d(&cd, t->out[x->op], bp[BOF_T_WEIGHT], bp[BOF_T_BIAS], t->codes, t->conv_ws) ||
        grad_bof_forward(&bd, t->codes, t->feat, t->bof_cache))
        return T_FAIL(t, TRAIN_EKERN, "exit %s: head forward failed", x->name);
    const float *h = t->feat;
    if (x->uses_fc0) {
        if (kern_fc(nb, f->in, f->hidden, t->feat, fp[FC_T_W0], fp[FC_T_B0], t->hid))
            return T_FAIL(t, TRAIN_EKERN, "exit %s: FC 0 failed", x->name);
        h = t->hid;
    }
    if (kern_fc(nb, f->hidden, classes, h, fp[FC_T_W1], fp[FC_T_B1], t->logits))
        return T_FAIL(t, TRAIN_EKERN, "exit %s: FC 1 failed", x->name);
    double l = grad_softmax_xent(nb, classes, t->logits, y, 1.0f, t->dlogits, NULL);
    if (!isfinite(l)) return T_FAIL(t, TRAIN_ENAN, "exit %s: loss is not finite", x->name);
    *loss += l;

    /* backward: FC 1, FC 0, BoF, codebook conv */
    float *dh = x->uses_fc0 ? t->dhid : t->dfeat;
    memset(dh, 0, (size_t)nb * (size_t)f->hidden * sizeof *dh);
    int rc =
        grad_fc(nb, f->hidden, classes, h, fp[FC_T_W1], t->dlogits, dh, fg[FC_T_W1], fg[FC_T_B1]);
    if (!rc && x->uses_fc0) {
        memset(t->dfeat, 0, (size_t)nb * (size_t)f->in * sizeof *t->dfeat);
        rc = grad_fc(nb, f->in, f->hidden, t->feat, fp[FC_T_W0], t->dhid, t->dfeat, fg[FC_T_W0],
                     fg[FC_T_B0]);
    }
    size_t codes = (size_t)nb * (size_t)b->codewords * (size_t)x->in.h * (size_t)x->in.w;
    memset(t->dcodes, 0, codes * sizeof *t->dcodes);
    if (!rc)
        rc = grad_bof_backward(&bd, t->codes, t->bof_cache, t->dfeat, t->dcodes, bg[BOF_T_A],
                               bg[BOF_T_C], bg[BOF_T_N1], bg[BOF_T_N2], t->bof_ws);
    if (!rc)
        rc = grad_conv2d(&cd, t->out[x->op], bp[BOF_T_WEIGHT], t->dcodes, t->dout[x->op],
                         bg[BOF_T_WEIGHT], bg[BOF_T_BIAS], t->conv_ws);
    return rc ? T_FAIL(t, TRAIN_EKERN, "exit %s: head backward failed", x->name) : TRAIN_OK;
}

int trainer_backward(trainer *t, train_stage stage, const float *x, const uint8_t *y, int batch,
                     double *loss, int *correct)
{
    if (!t) return TRAIN_EARG;
    t->err[0] = '\0';
    if (!x || !y || batch < 1 || batch > t->max_batch ||
        (stage != TRAIN_STAGE_BACKBONE && stage != TRAIN_STAGE_JOINT))
        return T_FAIL(t, TRAIN_EARG, "trainer: bad batch (%d, max %d) or stage", batch,
                      t->max_batch);
    const net *n = t->n;
    t->batch = batch;
    memcpy(t->input, x, (size_t)batch * shape_elems(net_input(n)) * sizeof *x);
    for (int i = 0; i < t->n_ops; i++) {
        int rc = forward_op(t, i);
        if (rc) return rc;
    }
    const size_t pc = (size_t)net_param_count(n);
    memset(t->pblock + pc, 0, pc * sizeof *t->pblock);
    for (int i = 0; i < t->n_ops; i++)
        memset(t->dout[i], 0, (size_t)batch * shape_elems(net_op_at(n, i)->out) * sizeof(float));

    const int last = t->n_ops - 1;
    int right = 0;
    double l =
        grad_softmax_xent(batch, net_classes(n), t->out[last], y, 1.0f, t->dout[last], &right);
    if (!isfinite(l)) return T_FAIL(t, TRAIN_ENAN, "final classifier: loss is not finite");
    if (stage == TRAIN_STAGE_JOINT)
        for (int e = 0; e < net_exit_count(n); e++) {
            int rc = head_step(t, net_exit_at(n, e), y, &l);
            if (rc) return rc;
        }
    for (int i = last; i >= 0; i--) {
        int rc = backward_op(t, i);
        if (rc) return rc;
    }
    if (loss) *loss = l;
    if (correct) *correct = right;
    return TRAIN_OK;
}

int trainer_step(trainer *t, train_stage stage, const grad_adam *h, const float *x,
                 const uint8_t *y, int batch, double *loss, int *correct)
{
    if (!t || !h) return TRAIN_EARG;
    int rc = trainer_backward(t, stage, x, y, batch, loss, correct);
    if (rc) return rc;
    t->step++;
    for (int i = 0; i < t->n_tensors; i++) {
        const net_tensor *tt = net_tensor_at(t->n, i);
        if (!tt->trainable || (stage == TRAIN_STAGE_BACKBONE && t->head[i])) continue;
        grad_adam_step(h, t->step, (size_t)tt->count, t->p[i], t->g[i], t->m[i], t->v[i]);
    }
    return TRAIN_OK;
}

/* ---- evaluation with the inference engine ---- */

static int argmax(const float *z, int classes)
{
    int best = 0;
    for (int c = 1; c < classes; c++)
        if (z[c] > z[best]) best = c;
    return best;
}

/* Runs params over the first `images` samples of ds in batches and calls visit for every
 * exit (and the final classifier unless heads_only) with that batch's logits. */
typedef void (*visit_fn)(void *ctx, int exit_index, const float *logits, const uint8_t *y, int nb,
                         int classes);

static int eval_pass(const net *n, const float *const *params, const data_set *ds, size_t images,
                     int batch, bool final_only, bool heads_only, visit_fn visit, void *ctx,
                     char *err, size_t errlen)
{
    if (!n || !params || !ds || batch < 1 || images > ds->n) {
        util_errf(err, errlen, "evaluation: bad arguments");
        return TRAIN_EARG;
    }
    const int classes = net_classes(n), exits = net_exit_count(n);
    eng *e = eng_new(n, params, batch, err, errlen);
    float *logits = malloc((size_t)batch * (size_t)classes * sizeof *logits);
    if (!e || !logits) {
        if (e) util_errf(err, errlen, "evaluation: out of memory");
        eng_free(e);
        free(logits);
        return e ? TRAIN_ENOMEM : TRAIN_EKERN;
    }
    int rc = TRAIN_OK;
    for (size_t first = 0; first < images && !rc; first += (size_t)batch) {
        int nb = (int)(images - first < (size_t)batch ? images - first : (size_t)batch);
        rc = eng_begin(e, data_image(ds, first), nb);
        for (int x = final_only ? exits : 0; x <= exits && !rc; x++) {
            if (x == exits && heads_only) break;
            rc = eng_exit(e, x, logits);
            if (!rc) visit(ctx, x, logits, ds->y + first, nb, classes);
        }
        if (rc) util_errf(err, errlen, "evaluation: %s", eng_error(e));
    }
    eng_free(e);
    free(logits);
    return rc ? TRAIN_EKERN : TRAIN_OK;
}

static void count_correct(void *ctx, int x, const float *logits, const uint8_t *y, int nb,
                          int classes)
{
    size_t *right = ctx;
    for (int i = 0; i < nb; i++)
        if (argmax(logits + (size_t)i * (size_t)classes, classes) == y[i]) right[x]++;
}

int train_accuracy(const net *n, const float *const *params, const data_set *ds, int batch,
                   bool final_only, double *acc, char *err, size_t errlen)
{
    if (!n || !ds || !acc || ds->n == 0) {
        util_errf(err, errlen, "accuracy: bad arguments");
        return TRAIN_EARG;
    }
    const int count = net_exit_count(n) + 1;
    size_t *right = calloc((size_t)count, sizeof *right);
    if (!right) {
        util_errf(err, errlen, "accuracy: out of memory");
        return TRAIN_ENOMEM;
    }
    int rc = eval_pass(n, params, ds, ds->n, batch, final_only, false, count_correct, right, err,
                       errlen);
    for (int x = 0; x < count; x++)
        acc[x] = (final_only && x < count - 1) ? NAN : (double)right[x] / (double)ds->n;
    free(right);
    return rc;
}

static void sum_max_abs(void *ctx, int x, const float *logits, const uint8_t *y, int nb,
                        int classes)
{
    (void)y;
    double *sum = ctx;
    for (int i = 0; i < nb; i++) {
        const float *z = logits + (size_t)i * (size_t)classes;
        float m = 0.0f;
        for (int c = 0; c < classes; c++) m = fabsf(z[c]) > m ? fabsf(z[c]) : m;
        sum[x] += m;
    }
}

int train_thresholds(const net *n, const float *const *params, const data_set *ds, size_t images,
                     int batch, double *thresholds, char *err, size_t errlen)
{
    if (!n || !ds || !thresholds || images == 0) {
        util_errf(err, errlen, "thresholds: bad arguments");
        return TRAIN_EARG;
    }
    if (images > ds->n) images = ds->n;
    const int exits = net_exit_count(n);
    double *sum = calloc((size_t)exits + 1, sizeof *sum);
    if (!sum) {
        util_errf(err, errlen, "thresholds: out of memory");
        return TRAIN_ENOMEM;
    }
    int rc = eval_pass(n, params, ds, images, batch, false, true, sum_max_abs, sum, err, errlen);
    for (int x = 0; x < exits; x++) thresholds[x] = sum[x] / (double)images;
    free(sum);
    return rc;
}

/* ---- whole runs: schedule, checkpoints, final model ---- */

#define CKPT_TABLE "train_state"
#define PROV_MAX   24
#define VALUE_MAX  128
static const double PROGRESS_PERIOD_S = 0.5;
static const double PI = 3.14159265358979323846;

/* The network's architecture text in a new string (a layer-list net's runs over many lines);
 * NULL on out-of-memory. */
static char *arch_text(const net *n)
{
    int len = net_arch_text(n, NULL, 0);
    char *s = len >= 0 ? malloc((size_t)len + 1) : NULL;
    if (s) net_arch_text(n, s, (size_t)len + 1);
    return s;
}

/* Text naming everything a resumed run must share with the run that wrote the checkpoint
 * (malloc'ed; NULL on out-of-memory). */
static char *opts_text(const net *n, const train_opts *o)
{
    char *arch = arch_text(n);
    if (!arch) return NULL;
    const char *fmt = "%s dataset=%s train_images=%zu seed=%llu epochs=%d+%d lr=%g/%g wd=%g "
                      "batch=%d flip=%d shift=%d";
#define OPTS_ARGS                                                                                  \
    arch, o->dataset ? o->dataset : "?", o->train->n, (unsigned long long)o->seed,                 \
        o->epochs_backbone, o->epochs_joint, (double)o->lr_backbone, (double)o->lr_joint,          \
        (double)o->weight_decay, o->batch, o->flip ? 1 : 0, o->shift_px
    int len = snprintf(NULL, 0, fmt, OPTS_ARGS);
    char *buf = len >= 0 ? malloc((size_t)len + 1) : NULL;
    if (buf) snprintf(buf, (size_t)len + 1, fmt, OPTS_ARGS);
#undef OPTS_ARGS
    free(arch);
    return buf;
}

/* Per-epoch RNG seed: shuffling and flips of epoch ep depend only on (seed, ep), so a resumed
 * run draws exactly what the uninterrupted one would have (splitmix64 finaliser). */
static unsigned long epoch_seed(uint64_t seed, int ep)
{
    uint64_t z = seed + 0x9e3779b97f4a7c15ULL * (uint64_t)(ep + 1);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return (unsigned long)(z ^ (z >> 31));
}

typedef struct ckpt_state {
    int epochs_done;
    long adam_step;
    double seconds;
} ckpt_state;

static int sql_fail(sqlite3 *db, const char *path, char *err, size_t errlen)
{
    util_errf(err, errlen, "%s: checkpoint: %s", path, db ? sqlite3_errmsg(db) : "cannot open");
    return TRAIN_EIO;
}

/* Adds the train_state table (options, progress, Adam moments) to the model file at path. */
static int put_state(const char *path, const trainer *t, const char *opts, const ckpt_state *s,
                     char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    const size_t pc = (size_t)net_param_count(t->n);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) goto fail;
    if (sqlite3_exec(db,
                     "BEGIN; CREATE TABLE " CKPT_TABLE "(key TEXT PRIMARY KEY, value ANY) STRICT;",
                     NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    if (sqlite3_prepare_v2(db, "INSERT INTO " CKPT_TABLE " VALUES(?, ?)", -1, &st, NULL)) goto fail;
    struct {
        const char *key;
        const void *blob;
        size_t bytes;
        const char *text;
        double real;
    } rows[] = {
        {"opts", NULL, 0, opts, 0},
        {"epochs_done", NULL, 0, NULL, s->epochs_done},
        {"adam_step", NULL, 0, NULL, (double)s->adam_step},
        {"seconds", NULL, 0, NULL, s->seconds},
        {"adam_m", t->m[0], pc * sizeof(float), NULL, 0},
        {"adam_v", t->v[0], pc * sizeof(float), NULL, 0},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        sqlite3_bind_text(st, 1, rows[i].key, -1, SQLITE_STATIC);
        if (rows[i].blob)
            sqlite3_bind_blob64(st, 2, rows[i].blob, rows[i].bytes, SQLITE_STATIC);
        else if (rows[i].text)
            sqlite3_bind_text(st, 2, rows[i].text, -1, SQLITE_STATIC);
        else
            sqlite3_bind_double(st, 2, rows[i].real);
        if (sqlite3_step(st) != SQLITE_DONE) goto fail;
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) goto fail;
    sqlite3_close(db);
    return TRAIN_OK;
fail : {
    int rc = sql_fail(db, path, err, errlen);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}
}

/* Checkpoint: the current tensors as a model file (thresholds 0, status=checkpoint) with the
 * training state, written beside out and renamed over it, so a kill leaves either the previous
 * checkpoint or this one. */
static int write_checkpoint(const trainer *t, const train_opts *o, const char *opts,
                            const ckpt_state *s, char *err, size_t errlen)
{
    const int exits = net_exit_count(t->n);
    double *thr = calloc((size_t)exits + 1, sizeof *thr);
    size_t plen = strlen(o->out) + sizeof ".ckpt";
    char *tmp = malloc(plen);
    if (!thr || !tmp) {
        free(thr);
        free(tmp);
        util_errf(err, errlen, "%s: checkpoint: out of memory", o->out);
        return TRAIN_ENOMEM;
    }
    snprintf(tmp, plen, "%s.ckpt", o->out);
    char done[VALUE_MAX];
    snprintf(done, sizeof done, "%d", s->epochs_done);
    const char *keys[] = {"status", "epochs_done", "dataset", "command"};
    const char *vals[] = {"checkpoint", done, o->dataset ? o->dataset : "",
                          o->command ? o->command : ""};
    int rc =
        model_save(tmp, t->n, (const float *const *)t->p, thr, NULL, keys, vals, 4, err, errlen);
    rc = rc ? TRAIN_EIO : put_state(tmp, t, opts, s, err, errlen);
    if (!rc && rename(tmp, o->out) != 0) {
        util_errf(err, errlen, "%s: cannot rename checkpoint into place", o->out);
        rc = TRAIN_EIO;
    }
    if (rc) remove(tmp);
    free(thr);
    free(tmp);
    return rc;
}

/* Reads the checkpoint in o->out: tensors into *params, state into *s, Adam moments into m, v
 * (param_count floats each, allocated here). */
static int read_checkpoint(const net *n, const train_opts *o, const char *opts, float ***params,
                           ckpt_state *s, float **m, float **v, char *err, size_t errlen)
{
    model *md = NULL;
    if (model_load(o->out, &md, err, errlen)) return TRAIN_EIO;
    char *want = arch_text(n), *have = arch_text(md->net);
    bool same = want && have && !strcmp(want, have);
    if (!same) {
        util_errf(err, errlen, "%s: checkpoint is of another network (%.80s)", o->out,
                  have ? have : "?");
        free(want);
        free(have);
        model_free(md);
        return TRAIN_EARG;
    }
    free(want);
    free(have);
    const size_t pc = (size_t)net_param_count(n);
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int rc = TRAIN_OK, found = 0;
    *m = calloc(pc + 1, sizeof **m);
    *v = calloc(pc + 1, sizeof **v);
    if (!*m || !*v) {
        util_errf(err, errlen, "%s: out of memory", o->out);
        rc = TRAIN_ENOMEM;
        goto done;
    }
    if (sqlite3_open_v2(o->out, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT key, value FROM " CKPT_TABLE, -1, &st, NULL) != SQLITE_OK) {
        util_errf(err, errlen,
                  "%s: no checkpoint to resume (a finished model, or not written by "
                  "pesim train)",
                  o->out);
        rc = TRAIN_EARG;
        goto done;
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *key = (const char *)sqlite3_column_text(st, 0);
        if (!key) continue;
        if (!strcmp(key, "opts")) {
            const char *t = (const char *)sqlite3_column_text(st, 1);
            if (!t || strcmp(t, opts)) {
                util_errf(err, errlen,
                          "%s: checkpoint was made with other options (%s); resume with the same "
                          "command",
                          o->out, t ? t : "?");
                rc = TRAIN_EARG;
                goto done;
            }
            found |= 1;
        } else if (!strcmp(key, "epochs_done")) {
            s->epochs_done = sqlite3_column_int(st, 1);
            found |= 2;
        } else if (!strcmp(key, "adam_step")) {
            s->adam_step = (long)sqlite3_column_int64(st, 1);
            found |= 4;
        } else if (!strcmp(key, "seconds")) {
            s->seconds = sqlite3_column_double(st, 1);
        } else if (!strcmp(key, "adam_m") || !strcmp(key, "adam_v")) {
            if ((size_t)sqlite3_column_bytes(st, 1) != pc * sizeof(float)) {
                util_errf(err, errlen, "%s: checkpoint %s has the wrong size", o->out, key);
                rc = TRAIN_EARG;
                goto done;
            }
            memcpy(key[5] == 'm' ? *m : *v, sqlite3_column_blob(st, 1), pc * sizeof(float));
            found |= key[5] == 'm' ? 8 : 16;
        }
    }
    if (found != 31 || s->epochs_done < 1 ||
        s->epochs_done > o->epochs_backbone + o->epochs_joint || s->adam_step < 0) {
        util_errf(err, errlen, "%s: checkpoint state is incomplete or inconsistent", o->out);
        rc = TRAIN_EARG;
    }
done:
    sqlite3_finalize(st);
    sqlite3_close(db);
    if (!rc) {
        *params = md->params; /* take the tensors over */
        md->params = NULL;
        md->n_params = 0;
    } else {
        free(*m);
        free(*v);
        *m = *v = NULL;
    }
    model_free(md);
    return rc;
}

/* Progress of the epoch in flight. */
typedef struct progress {
    double start, last, seconds_before;
    size_t images;
    double loss_sum;
    long right, seen, steps;
} progress;

static void print_progress(const train_opts *o, int stage, int ep, int epochs, long b, long steps,
                           const progress *pr, double remaining_steps, bool final)
{
    if (!o->progress) return;
    double el = util_now_s() - pr->start;
    double ips = el > 0 ? (double)pr->images / el : 0;
    double per_step = pr->steps > 0 ? el / (double)pr->steps : 0;
    double eta = per_step * remaining_steps;
    fprintf(o->progress,
            "%sstage %d epoch %d/%d batch %ld/%ld loss %.4f acc %.2f%% %.0f img/s ETA %dm%02ds%s",
            o->progress_tty ? "\r" : "", stage, ep, epochs, b, steps,
            pr->steps ? pr->loss_sum / (double)pr->steps : 0.0,
            pr->seen ? 100.0 * (double)pr->right / (double)pr->seen : 0.0, ips, (int)(eta / 60),
            (int)eta % 60, final || !o->progress_tty ? "\n" : "");
    fflush(o->progress);
}

/* Shifts the CHW image in x (c planes of h×w) by (dy, dx) pixels, filling with its corner value
 * (the zero padding of the loader, normalised); tmp holds one plane. */
static void shift_image(float *x, int c, int h, int w, int dy, int dx, float *tmp)
{
    for (int ch = 0; ch < c; ch++) {
        float *p = x + (size_t)ch * (size_t)h * (size_t)w;
        const float fill = p[0];
        for (int row = 0; row < h; row++)
            for (int col = 0; col < w; col++) {
                int sr = row - dy, sc = col - dx;
                tmp[row * w + col] = sr >= 0 && sr < h && sc >= 0 && sc < w ? p[sr * w + sc] : fill;
            }
        memcpy(p, tmp, (size_t)h * (size_t)w * sizeof *p);
    }
}

/* Copies samples perm[first .. first+nb-1] into x, flipped left-right and shifted by up to
 * `shift` pixels each way when the options and the RNG say so. */
static void gather(const data_set *ds, const size_t *perm, size_t first, int nb, bool flip,
                   int shift, gsl_rng *r, float *x, uint8_t *y, float *tmp)
{
    const size_t len = data_image_len(ds), w = (size_t)ds->width;
    for (int i = 0; i < nb; i++) {
        size_t k = perm[first + (size_t)i];
        const float *src = data_image(ds, k);
        float *dst = x + (size_t)i * len;
        y[i] = ds->y[k];
        if (flip && gsl_rng_uniform(r) < 0.5) {
            for (size_t row = 0; row < len / w; row++)
                for (size_t c = 0; c < w; c++) dst[row * w + c] = src[row * w + (w - 1 - c)];
        } else {
            memcpy(dst, src, len * sizeof *dst);
        }
        if (shift > 0) {
            int dy = (int)gsl_rng_uniform_int(r, (unsigned long)(2 * shift + 1)) - shift;
            int dx = (int)gsl_rng_uniform_int(r, (unsigned long)(2 * shift + 1)) - shift;
            if (dy || dx) shift_image(dst, ds->channels, ds->height, ds->width, dy, dx, tmp);
        }
    }
}

static int check_opts(const net *n, const train_opts *o, char *err, size_t errlen)
{
    if (!n || !o || !o->train || !o->out || o->train->n < 2 || o->batch < 2 ||
        o->epochs_backbone < 0 || o->epochs_joint < 0 || o->epochs_backbone + o->epochs_joint < 1 ||
        !(o->lr_backbone > 0) || !(o->lr_joint > 0) || !(o->weight_decay >= 0) || o->shift_px < 0 ||
        o->shift_px > 8 || o->threshold_images < 1) {
        util_errf(err, errlen, "train: bad options (need data, out, batch >= 2, epochs, lr > 0)");
        return TRAIN_EARG;
    }
    net_shape in = net_input(n);
    const data_set *sets[] = {o->train, o->test};
    for (int i = 0; i < 2; i++) {
        const data_set *d = sets[i];
        if (!d) continue;
        if (d->channels != in.c || d->height != in.h || d->width != in.w ||
            d->classes > net_classes(n)) {
            util_errf(err, errlen,
                      "train: dataset %s is %dx%dx%d with %d classes; the network takes %dx%dx%d "
                      "with %d",
                      d->name, d->height, d->width, d->channels, d->classes, in.h, in.w, in.c,
                      net_classes(n));
            return TRAIN_EARG;
        }
    }
    return TRAIN_OK;
}

/* Final model: T_l over the first threshold images, per-exit test accuracy, provenance. */
static int write_final(const trainer *t, const train_opts *o, double seconds, double ips1,
                       double ips2, char *err, size_t errlen)
{
    const net *n = t->n;
    const int exits = net_exit_count(n);
    double *thr = calloc((size_t)exits + 1, sizeof *thr);
    double *acc = calloc((size_t)exits + 1, sizeof *acc);
    int rc = thr && acc ? TRAIN_OK : TRAIN_ENOMEM;
    if (rc) util_errf(err, errlen, "train: out of memory");
    const float *const *p = (const float *const *)t->p;
    if (!rc) rc = train_thresholds(n, p, o->train, o->threshold_images, 128, thr, err, errlen);
    if (!rc && o->test) rc = train_accuracy(n, p, o->test, 128, false, acc, err, errlen);
    /* the final classifier on the first TRAIN_CHECK_IMAGES test images: a figure a quick test
     * can reproduce */
    double check = NAN;
    size_t check_n = 0;
    if (!rc && o->test) {
        data_set sub;
        check_n = o->test->n < TRAIN_CHECK_IMAGES ? o->test->n : TRAIN_CHECK_IMAGES;
        double *cacc = calloc((size_t)exits + 1, sizeof *cacc);
        rc = cacc ? TRAIN_OK : TRAIN_ENOMEM;
        if (!rc && data_subset(o->test, 0, check_n, &sub, err, errlen)) rc = TRAIN_EARG;
        if (!rc) rc = train_accuracy(n, p, &sub, 128, true, cacc, err, errlen);
        if (!rc) check = cacc[exits];
        free(cacc);
    }
    if (!rc && !o->test)
        for (int x = 0; x <= exits; x++) acc[x] = NAN;
    if (!rc) {
        char v[PROV_MAX][VALUE_MAX];
        const char *keys[PROV_MAX], *vals[PROV_MAX];
        int k = 0;
#define PROV(key, ...)                                                                             \
    do {                                                                                           \
        keys[k] = key;                                                                             \
        snprintf(v[k], VALUE_MAX, __VA_ARGS__);                                                    \
        vals[k] = v[k];                                                                            \
        k++;                                                                                       \
    } while (0)
        PROV("dataset", "%s", o->dataset ? o->dataset : "");
        PROV("train_images", "%zu", o->train->n);
        PROV("seed", "%llu", (unsigned long long)o->seed);
        PROV("epochs", "%d", o->epochs_backbone + o->epochs_joint);
        PROV("epochs_backbone", "%d", o->epochs_backbone);
        PROV("epochs_joint", "%d", o->epochs_joint);
        PROV("optimizer", "adam beta1=0.9 beta2=0.999 eps=1e-8 weight_decay=%g",
             (double)o->weight_decay);
        PROV("lr", "backbone %g, joint %g, cosine decay to 0 within each stage",
             (double)o->lr_backbone, (double)o->lr_joint);
        PROV("batch", "%d", o->batch);
        PROV("augmentation", "%s%s%.0d%s", o->flip ? "random horizontal flip" : "",
             o->shift_px > 0 ? (o->flip ? ", random shift up to " : "random shift up to ") : "",
             o->shift_px, o->shift_px > 0 ? " px" : (o->flip ? "" : "none"));
        PROV("threshold_rule", "mean over %zu training images of max_c |z_c|",
             o->threshold_images < o->train->n ? o->threshold_images : o->train->n);
        PROV("train_seconds", "%.0f", seconds);
        PROV("train_images_per_s", "backbone %.0f, joint %.0f", ips1, ips2);
        if (o->test) PROV("test_images", "%zu", o->test->n);
        if (o->test) PROV("check_images", "%zu", check_n);
        if (o->test) PROV("check_accuracy", "%.6f", check);
#undef PROV
        keys[k] = "command";
        vals[k++] = o->command ? o->command : "";
        if (model_save(o->out, n, p, thr, acc, keys, vals, k, err, errlen)) rc = TRAIN_EIO;
    }
    free(thr);
    free(acc);
    return rc;
}

int train_run(const net *n, const train_opts *o, char *err, size_t errlen)
{
    int rc = check_opts(n, o, err, errlen);
    if (rc) return rc;
    char *opts = opts_text(n, o);
    if (!opts) {
        util_errf(err, errlen, "train: out of memory");
        return TRAIN_ENOMEM;
    }
    float **params = NULL, *m = NULL, *v = NULL;
    ckpt_state s = {0};
    if (o->resume)
        rc = read_checkpoint(n, o, opts, &params, &s, &m, &v, err, errlen);
    else if (model_init_random(n, o->seed, &params, err, errlen))
        rc = TRAIN_EARG;
    if (rc) {
        free(opts);
        return rc;
    }

    const size_t pc = (size_t)net_param_count(n), len = data_image_len(o->train);
    const size_t N = o->train->n, B = (size_t)o->batch;
    trainer *t = trainer_new(n, (const float *const *)params, o->batch, err, errlen);
    model_free_params(params, net_tensor_count(n));
    size_t *perm = malloc(N * sizeof *perm);
    float *xb = malloc(B * len * sizeof *xb);
    float *plane = malloc(len * sizeof *plane); /* shift_image's scratch plane */
    uint8_t *yb = malloc(B);
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    if (!t || !perm || !xb || !plane || !yb || !r) {
        if (t) util_errf(err, errlen, "train: out of memory");
        rc = t ? TRAIN_ENOMEM : TRAIN_EARG;
        goto done;
    }
    if (m) {
        memcpy(t->m[0], m, pc * sizeof *m);
        memcpy(t->v[0], v, pc * sizeof *v);
        t->step = s.adam_step;
    }
    /* full batches, plus the remainder when it has at least 2 samples (batch norm needs 2) */
    const long steps = (long)(N / B) + (N % B >= 2 ? 1 : 0);
    const int e1 = o->epochs_backbone, total = e1 + o->epochs_joint;
    double ips[2] = {0, 0};
    for (int ep = s.epochs_done; ep < total && !rc; ep++) {
        const train_stage stage = ep < e1 ? TRAIN_STAGE_BACKBONE : TRAIN_STAGE_JOINT;
        const int first_ep = stage == TRAIN_STAGE_BACKBONE ? 0 : e1;
        const int stage_epochs = stage == TRAIN_STAGE_BACKBONE ? e1 : o->epochs_joint;
        const float peak = stage == TRAIN_STAGE_BACKBONE ? o->lr_backbone : o->lr_joint;
        if (ep == e1) trainer_reset_adam(t);
        for (size_t i = 0; i < N; i++) perm[i] = i;
        gsl_rng_set(r, epoch_seed(o->seed, ep));
        gsl_ran_shuffle(r, perm, N, sizeof *perm);
        progress pr = {.start = util_now_s()};
        pr.last = pr.start;
        for (long b = 0; b < steps && !rc; b++) {
            size_t first = (size_t)b * B;
            int nb = (int)(N - first < B ? N - first : B);
            gather(o->train, perm, first, nb, o->flip, o->shift_px, r, xb, yb, plane);
            /* cosine decay within the stage (Loshchilov & Hutter 2017, no restarts) */
            double idx = (double)(ep - first_ep) * (double)steps + (double)b;
            double span = (double)stage_epochs * (double)steps;
            grad_adam h = {.lr = (float)(peak * 0.5 * (1.0 + cos(PI * idx / span))),
                           .beta1 = 0.9f,
                           .beta2 = 0.999f,
                           .eps = 1e-8f,
                           .weight_decay = o->weight_decay};
            double loss = 0;
            int right = 0;
            rc = trainer_step(t, stage, &h, xb, yb, nb, &loss, &right);
            if (rc) {
                util_errf(err, errlen, "train: epoch %d batch %ld: %s", ep + 1, b + 1, t->err);
                break;
            }
            pr.loss_sum += loss;
            pr.right += right;
            pr.seen += nb;
            pr.images += (size_t)nb;
            pr.steps++;
            double tnow = util_now_s();
            if (o->progress_tty && tnow - pr.last >= PROGRESS_PERIOD_S) {
                pr.last = tnow;
                double left = (double)(steps - b - 1) + (double)(total - ep - 1) * (double)steps;
                print_progress(o, stage, ep + 1, total, b + 1, steps, &pr, left, false);
            }
        }
        if (rc) break;
        double el = util_now_s() - pr.start;
        s.seconds += el;
        ips[stage - 1] = el > 0 ? (double)pr.images / el : 0;
        print_progress(o, stage, ep + 1, total, steps, steps, &pr,
                       (double)(total - ep - 1) * (double)steps, true);
        if (o->test && o->progress) {
            double *acc = calloc((size_t)net_exit_count(n) + 1, sizeof *acc);
            if (acc && !train_accuracy(n, (const float *const *)t->p, o->test, 128, true, acc, err,
                                       errlen))
                fprintf(o->progress, "  test accuracy (final classifier) %.2f%%\n",
                        100.0 * acc[net_exit_count(n)]);
            free(acc);
        }
        s.epochs_done = ep + 1;
        s.adam_step = t->step;
        if (s.epochs_done < total) rc = write_checkpoint(t, o, opts, &s, err, errlen);
        if (!rc && o->stop_after > 0 && s.epochs_done >= o->stop_after && s.epochs_done < total)
            goto done; /* stopped early on purpose: the checkpoint is the result */
    }
    if (!rc) rc = write_final(t, o, s.seconds, ips[0], ips[1], err, errlen);
done:
    gsl_rng_free(r);
    free(perm);
    free(xb);
    free(plane);
    free(yb);
    free(m);
    free(v);
    free(opts);
    trainer_free(t);
    return rc;
}
