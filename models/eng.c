/* Functional engine: forward pass of a multi-exit network op by op over a batch, with exit heads
 * computed on demand. Each BN right after a conv is folded into it; BN, ReLU and residual adds
 * run in place when their input is read by nothing else and carries no exit. */
#include "eng.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kern.h"

#define ENG_ERR_MAX 256 /* bytes of the last error message */

/* Offsets of a BoF module's tensors from its tensor_first (net.h naming order). */
enum { BOF_T_WEIGHT, BOF_T_BIAS, BOF_T_A, BOF_T_C, BOF_T_N1, BOF_T_N2 };
/* Offsets of an FC pair's tensors from its tensor_first. */
enum { FC_T_W0, FC_T_B0, FC_T_W1, FC_T_B1 };
/* Offsets of a BN op's tensors from its tensor_first. */
enum { BN_T_GAMMA, BN_T_BETA, BN_T_MEAN, BN_T_VAR };
/* Offsets of a conv or FC op's tensors from its tensor_first. */
enum { OP_T_WEIGHT, OP_T_BIAS };

struct eng {
    const net *n;
    int n_ops, max_batch, batch, pos;
    float *wblock;      /* copies of every tensor, then the folded convs' biases */
    float **t;          /* per net tensor: its copy in wblock */
    const float **bias; /* per op: bias a conv or FC uses (folded, own, or NULL) */
    bool *folded;       /* per op: a BN folded into its source conv (runs as a no-op) */
    bool *in_place;     /* per op: writes its source's buffer */
    float **out;        /* per op: its output buffer (shared along in-place chains) */
    float *input;       /* max_batch network inputs */
    float *conv_ws;     /* im2col workspace for the largest conv (backbone and heads) */
    float *codes;       /* codeword responses of an exit head */
    float *bof_ws;      /* kern_bof workspace */
    float *feat;        /* pooled BoF features, max_batch × 256 */
    float *hidden;      /* FC 0 output, max_batch × hidden */
    uint64_t macs_backbone, macs_exit;
    char err[ENG_ERR_MAX];
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

#define ENG_FAIL(e, rc, ...) (set_err((e)->err, sizeof(e)->err, __VA_ARGS__), (rc))

static size_t shape_elems(net_shape s)
{
    return (size_t)s.c * (size_t)s.h * (size_t)s.w;
}

kern_conv2d_desc eng_conv_desc(const net_op *o, int batch)
{
    return (kern_conv2d_desc){.n = batch,
                              .c_in = o->in.c,
                              .h = o->in.h,
                              .w = o->in.w,
                              .c_out = o->out.c,
                              .kh = o->kh,
                              .kw = o->kw,
                              .stride_h = o->stride,
                              .stride_w = o->stride,
                              .pad_h = o->pad,
                              .pad_w = o->pad};
}

kern_conv2d_desc eng_head_desc(const net_exit *x, const net_bof *b, int batch)
{
    return (kern_conv2d_desc){.n = batch,
                              .c_in = x->in.c,
                              .h = x->in.h,
                              .w = x->in.w,
                              .c_out = b->codewords,
                              .kh = 1,
                              .kw = 1,
                              .stride_h = 1,
                              .stride_w = 1};
}

kern_pool_desc eng_pool_desc(const net_op *o, int batch)
{
    return (kern_pool_desc){batch, o->in.c,   o->in.h,   o->in.w, o->kh,
                            o->kw, o->stride, o->stride, o->pad,  o->pad};
}

/* Largest conv workspace over batches 1 .. max_batch (it is not monotone in the batch). */
static size_t conv_ws_max(kern_conv2d_desc d, int max_batch)
{
    size_t m = 0;
    for (int b = 1; b <= max_batch; b++) {
        d.n = b;
        size_t f = kern_conv2d_workspace_floats(&d);
        if (f > m) m = f;
    }
    return m;
}

/* Decides folding and in-place execution; returns the floats of new activation buffers. */
static size_t plan_buffers(eng *e, const int *consumers)
{
    size_t total = 0;
    for (int i = 0; i < e->n_ops; i++) {
        const net_op *o = net_op_at(e->n, i);
        bool elementwise = o->kind == NET_OP_BN || o->kind == NET_OP_RELU || o->kind == NET_OP_ADD;
        bool src_free = o->src >= 0 && consumers[o->src] == 1 && net_op_at(e->n, o->src)->exit < 0;
        e->in_place[i] = elementwise && src_free && o->src2 != o->src;
        e->folded[i] =
            e->in_place[i] && o->kind == NET_OP_BN && net_op_at(e->n, o->src)->kind == NET_OP_CONV;
        if (!e->in_place[i]) total += (size_t)e->max_batch * shape_elems(o->out);
    }
    return total;
}

/* Copies the tensors and folds BN into convs; false (message in err) on a bad BN. */
static bool load_weights(eng *e, const float *const *params, float *fold_bias, char *err,
                         size_t errlen)
{
    const int nt = net_tensor_count(e->n);
    float *p = e->wblock;
    for (int i = 0; i < nt; i++) {
        const net_tensor *t = net_tensor_at(e->n, i);
        memcpy(p, params[i], (size_t)t->count * sizeof *p);
        e->t[i] = p;
        p += t->count;
    }
    for (int i = 0; i < e->n_ops; i++) {
        const net_op *o = net_op_at(e->n, i);
        if ((o->kind == NET_OP_CONV || o->kind == NET_OP_FC) && o->bias)
            e->bias[i] = e->t[o->tensor_first + OP_T_BIAS];
        if (!e->folded[i]) continue;
        const net_op *c = net_op_at(e->n, o->src);
        float *b = fold_bias;
        fold_bias += c->out.c;
        if (c->bias)
            memcpy(b, e->t[c->tensor_first + OP_T_BIAS], (size_t)c->out.c * sizeof *b);
        else
            memset(b, 0, (size_t)c->out.c * sizeof *b);
        float *const *bn = &e->t[o->tensor_first];
        size_t per_out = (size_t)c->in.c * (size_t)c->kh * (size_t)c->kw;
        if (kern_bn_fold(c->out.c, per_out, e->t[c->tensor_first + OP_T_WEIGHT], b, bn[BN_T_GAMMA],
                         bn[BN_T_BETA], bn[BN_T_MEAN], bn[BN_T_VAR], ENG_BN_EPS)) {
            set_err(err, errlen, "%s: running variance + eps must be positive", o->name);
            return false;
        }
        e->bias[o->src] = b;
    }
    return true;
}

/* Sizes of the exit-head buffers, as the maxima over every exit. */
typedef struct head_sizes {
    size_t codes, bof_ws, feat, hidden, conv_ws;
} head_sizes;

static head_sizes head_plan(const net *n, int max_batch)
{
    head_sizes h = {0};
    for (int i = 0; i < net_exit_count(n); i++) {
        const net_exit *x = net_exit_at(n, i);
        const net_bof *b = net_bof_at(n, x->bof);
        const net_fc_pair *f = net_fc_pair_at(n, x->fc_pair);
        size_t px = (size_t)x->in.h * (size_t)x->in.w;
        size_t codes = px * (size_t)b->codewords * (size_t)max_batch;
        size_t ws = conv_ws_max(eng_head_desc(x, b, max_batch), max_batch);
        size_t feat = (size_t)x->features * (size_t)max_batch;
        size_t hid = (size_t)f->hidden * (size_t)max_batch;
        if (codes > h.codes) h.codes = codes;
        if (px > h.bof_ws) h.bof_ws = px;
        if (feat > h.feat) h.feat = feat;
        if (hid > h.hidden) h.hidden = hid;
        if (ws > h.conv_ws) h.conv_ws = ws;
    }
    return h;
}

eng *eng_new(const net *n, const float *const *params, int max_batch, char *err, size_t errlen)
{
    if (!n || !params) {
        set_err(err, errlen, "eng_new: network and parameters are required");
        return NULL;
    }
    if (max_batch < 1) {
        set_err(err, errlen, "eng_new: max batch %d must be at least 1", max_batch);
        return NULL;
    }
    for (int i = 0; i < net_tensor_count(n); i++)
        if (!params[i]) {
            set_err(err, errlen, "eng_new: tensor %s is missing", net_tensor_at(n, i)->name);
            return NULL;
        }
    eng *e = calloc(1, sizeof *e);
    int *consumers = NULL;
    if (!e) goto fail_nomem;
    e->n = n;
    e->n_ops = net_op_count(n);
    e->max_batch = max_batch;
    const int nt = net_tensor_count(n);
    consumers = calloc((size_t)e->n_ops, sizeof *consumers);
    e->t = calloc((size_t)nt, sizeof *e->t);
    e->bias = calloc((size_t)e->n_ops, sizeof *e->bias);
    e->folded = calloc((size_t)e->n_ops, sizeof *e->folded);
    e->in_place = calloc((size_t)e->n_ops, sizeof *e->in_place);
    e->out = calloc((size_t)e->n_ops, sizeof *e->out);
    if (!consumers || !e->t || !e->bias || !e->folded || !e->in_place || !e->out) goto fail_nomem;

    for (int i = 0; i < e->n_ops; i++) {
        const net_op *o = net_op_at(n, i);
        if (o->src >= 0) consumers[o->src]++;
        if (o->src2 >= 0) consumers[o->src2]++;
    }
    size_t act = plan_buffers(e, consumers);
    size_t fold = 0, conv_ws = 0;
    for (int i = 0; i < e->n_ops; i++) {
        const net_op *o = net_op_at(n, i);
        if (e->folded[i]) fold += (size_t)o->out.c;
        if (o->kind == NET_OP_CONV) {
            size_t ws = conv_ws_max(eng_conv_desc(o, max_batch), max_batch);
            if (ws > conv_ws) conv_ws = ws;
        }
    }
    head_sizes h = head_plan(n, max_batch);
    if (h.conv_ws > conv_ws) conv_ws = h.conv_ws;

    /* one block for weights and folded biases, one for every activation and workspace */
    e->wblock = malloc((net_param_count(n) + fold) * sizeof *e->wblock);
    size_t in_floats = (size_t)max_batch * shape_elems(net_input(n));
    float *a = malloc((in_floats + act + conv_ws + h.codes + h.bof_ws + h.feat + h.hidden + 1) *
                      sizeof *a);
    if (!e->wblock || !a) {
        free(a);
        goto fail_nomem;
    }
    e->input = a;
    a += in_floats;
    for (int i = 0; i < e->n_ops; i++) {
        const net_op *o = net_op_at(n, i);
        if (e->in_place[i]) {
            e->out[i] = e->out[o->src];
            continue;
        }
        e->out[i] = a;
        a += (size_t)max_batch * shape_elems(o->out);
    }
    e->conv_ws = a;
    a += conv_ws;
    e->codes = a;
    a += h.codes;
    e->bof_ws = a;
    a += h.bof_ws;
    e->feat = a;
    a += h.feat;
    e->hidden = a;
    if (!load_weights(e, params, e->wblock + net_param_count(n), err, errlen)) {
        free(consumers);
        eng_free(e);
        return NULL;
    }
    free(consumers);
    return e;

fail_nomem:
    set_err(err, errlen, "eng_new: out of memory");
    free(consumers);
    eng_free(e);
    return NULL;
}

void eng_free(eng *e)
{
    if (!e) return;
    free(e->input);
    free(e->wblock);
    free(e->t);
    free(e->bias);
    free(e->folded);
    free(e->in_place);
    free(e->out);
    free(e);
}

int eng_begin(eng *e, const float *x, int batch)
{
    if (!e) return ENG_EARG;
    e->err[0] = '\0';
    if (!x) return ENG_FAIL(e, ENG_EARG, "eng_begin: input is NULL");
    if (batch < 1 || batch > e->max_batch)
        return ENG_FAIL(e, ENG_EARG, "eng_begin: batch %d outside 1 .. %d (max batch)", batch,
                        e->max_batch);
    memcpy(e->input, x, (size_t)batch * shape_elems(net_input(e->n)) * sizeof *x);
    e->batch = batch;
    e->pos = 0;
    e->macs_backbone = e->macs_exit = 0;
    return ENG_OK;
}

static const float *op_input(const eng *e, int src)
{
    return src < 0 ? e->input : e->out[src];
}

/* Copies the source into a not-in-place element-wise op's own buffer. */
static void copy_src(const eng *e, int i, const net_op *o)
{
    if (e->in_place[i]) return;
    memcpy(e->out[i], op_input(e, o->src), (size_t)e->batch * shape_elems(o->out) * sizeof(float));
}

static int run_op(eng *e, int i)
{
    const net_op *o = net_op_at(e->n, i);
    const float *x = op_input(e, o->src);
    float *y = e->out[i];
    const int nb = e->batch;
    float *const *t = &e->t[o->tensor_first];
    size_t count = (size_t)nb * shape_elems(o->out);
    size_t hw = (size_t)o->out.h * (size_t)o->out.w;
    int rc = KERN_OK;
    switch (o->kind) {
    case NET_OP_CONV: {
        kern_conv2d_desc d = eng_conv_desc(o, nb);
        rc = kern_conv2d(&d, x, t[OP_T_WEIGHT], e->bias[i], y, e->conv_ws);
        break;
    }
    case NET_OP_BN:
        if (e->folded[i]) break;
        copy_src(e, i, o);
        rc = kern_bn_apply(nb, o->out.c, hw, y, t[BN_T_GAMMA], t[BN_T_BETA], t[BN_T_MEAN],
                           t[BN_T_VAR], ENG_BN_EPS);
        break;
    case NET_OP_RELU:
        copy_src(e, i, o);
        kern_relu(y, count);
        break;
    case NET_OP_ADD:
        copy_src(e, i, o);
        kern_add(y, op_input(e, o->src2), count);
        break;
    case NET_OP_MAXPOOL:
    case NET_OP_AVGPOOL: {
        kern_pool_desc d = eng_pool_desc(o, nb);
        rc = o->kind == NET_OP_MAXPOOL ? kern_maxpool2d(&d, x, y) : kern_avgpool2d(&d, x, y);
        break;
    }
    case NET_OP_FC:
        rc = kern_fc(nb, (int)shape_elems(o->in), o->out.c, x, t[OP_T_WEIGHT], e->bias[i], y);
        break;
    default:
        return ENG_FAIL(e, ENG_EKERN, "%s: unknown op kind %d", o->name, (int)o->kind);
    }
    if (rc) return ENG_FAIL(e, ENG_EKERN, "%s: kernel rejected its arguments", o->name);
    e->macs_backbone += o->macs;
    return ENG_OK;
}

int eng_run_to(eng *e, int op)
{
    if (!e) return ENG_EARG;
    if (op < 0 || op >= e->n_ops)
        return ENG_FAIL(e, ENG_EARG, "eng_run_to: op %d outside 0 .. %d", op, e->n_ops - 1);
    if (e->batch < 1) return ENG_FAIL(e, ENG_ESTATE, "eng_run_to: no batch (call eng_begin)");
    while (e->pos <= op) {
        int rc = run_op(e, e->pos);
        if (rc) return rc;
        e->pos++;
    }
    return ENG_OK;
}

int eng_final(eng *e, float *logits)
{
    if (!e) return ENG_EARG;
    if (!logits) return ENG_FAIL(e, ENG_EARG, "eng_final: logits is NULL");
    int rc = eng_run_to(e, e->n_ops - 1);
    if (rc) return rc;
    memcpy(logits, e->out[e->n_ops - 1],
           (size_t)e->batch * (size_t)net_classes(e->n) * sizeof *logits);
    return ENG_OK;
}

/* Exit head (DESIGN section 3): codebook 1×1 conv, BoF pooling, FC 0 when 256 features, FC 1. */
static int run_head(eng *e, const net_exit *x, float *logits)
{
    const net_bof *b = net_bof_at(e->n, x->bof);
    const net_fc_pair *f = net_fc_pair_at(e->n, x->fc_pair);
    float *const *bt = &e->t[b->tensor_first];
    float *const *ft = &e->t[f->tensor_first];
    const int nb = e->batch;
    kern_conv2d_desc cd = eng_head_desc(x, b, nb);
    if (kern_conv2d(&cd, e->out[x->op], bt[BOF_T_WEIGHT], bt[BOF_T_BIAS], e->codes, e->conv_ws))
        return ENG_FAIL(e, ENG_EKERN, "exit %s: codebook conv failed", x->name);
    kern_bof_desc bd = {.n = nb,
                        .k = b->codewords,
                        .h = x->in.h,
                        .w = x->in.w,
                        .s = x->s,
                        .a = bt[BOF_T_A][0],
                        .c = bt[BOF_T_C][0],
                        .n1 = bt[BOF_T_N1][0],
                        .n2 = bt[BOF_T_N2][0],
                        .eps = ENG_BOF_EPS};
    if (kern_bof(&bd, e->codes, e->feat, e->bof_ws))
        return ENG_FAIL(e, ENG_EKERN, "exit %s: BoF pooling failed", x->name);
    const float *h = e->feat;
    if (x->uses_fc0) {
        if (kern_fc(nb, f->in, f->hidden, e->feat, ft[FC_T_W0], ft[FC_T_B0], e->hidden))
            return ENG_FAIL(e, ENG_EKERN, "exit %s: FC 0 failed", x->name);
        h = e->hidden;
    }
    if (kern_fc(nb, f->hidden, f->classes, h, ft[FC_T_W1], ft[FC_T_B1], logits))
        return ENG_FAIL(e, ENG_EKERN, "exit %s: FC 1 failed", x->name);
    e->macs_exit += x->macs;
    return ENG_OK;
}

int eng_exit(eng *e, int exit_index, float *logits)
{
    if (!e) return ENG_EARG;
    const int count = net_exit_count(e->n);
    if (exit_index < 0 || exit_index > count)
        return ENG_FAIL(e, ENG_EARG, "eng_exit: exit %d outside 0 .. %d (%d is the final)",
                        exit_index, count, count);
    if (exit_index == count) return eng_final(e, logits);
    if (!logits) return ENG_FAIL(e, ENG_EARG, "eng_exit: logits is NULL");
    const net_exit *x = net_exit_at(e->n, exit_index);
    int rc = eng_run_to(e, x->op);
    if (rc) return rc;
    return run_head(e, x, logits);
}

void eng_macs(const eng *e, uint64_t *backbone, uint64_t *exit)
{
    if (backbone) *backbone = e ? e->macs_backbone : 0;
    if (exit) *exit = e ? e->macs_exit : 0;
}

int eng_position(const eng *e)
{
    return e ? e->pos : 0;
}

int eng_batch(const eng *e)
{
    return e ? e->batch : 0;
}

const char *eng_error(const eng *e)
{
    return e ? e->err : "";
}
