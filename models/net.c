/* Network descriptions: generators for multi-exit VGG-19 (BN) and CIFAR ResNet-34 built from
 * layer tables, layer-list INI files (docs/netfile.md) and their canonical architecture text, the
 * shape/MAC/parameter bookkeeping of every backbone op and exit head, and the per-layer info
 * table. Conventions and tensor names are documented in net.h. */
#include "net.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

/* ---- architecture tables (DESIGN section 3) ---- */

enum {
    CONV3_KERNEL = 3, /* backbone convs are 3×3 ... */
    CONV3_PAD = 1,    /* ... with "same" padding */
    PROJ_KERNEL = 1,  /* projection shortcuts are 1×1, unpadded */
    PROJ_PAD = 0,
    UNIT_STRIDE = 1,
    POOL_WINDOW = 2, /* VGG max-pools: 2×2, stride 2 */
    POOL_STRIDE = 2,
    INITIAL_CAPACITY = 32, /* first allocation of each growing list */
    /* Element operations per BoF input element: activation, normalisation, average pooling. */
    BOF_VEC_OPS_PER_ELEMENT = 3,
    EXIT_FC_IN = NET_BOF_CODEWORDS * NET_BOF_BINS * NET_BOF_BINS, /* 256 features */
    BN_TENSORS = 4,
};

static const double PERCENT = 100.0;
static const double MACS_PER_MEGA = 1e6;

/* One VGG stage: convs at one map size, then a 2×2 max-pool. */
typedef struct vgg_stage {
    int channels;   /* before width scaling; also names the stage's shared BoF module */
    int convs;      /* 3×3 conv + BN + ReLU layers, each followed by an exit */
    bool pool_exit; /* an exit follows the stage's pool */
} vgg_stage;

static const vgg_stage vgg19_stages[] = {
    {64, 2, true}, {128, 2, true}, {256, 4, true}, {512, 4, true}, {512, 4, false},
};
#define VGG19_STAGES (sizeof vgg19_stages / sizeof vgg19_stages[0])

/* One ResNet stage of basic blocks; the first block has the stride (and a projection). */
typedef struct resnet_stage {
    int channels; /* before width scaling */
    int blocks;
    int stride;
} resnet_stage;

static const resnet_stage resnet34_stages[] = {
    {64, 3, 1},
    {128, 4, 2},
    {256, 6, 2},
    {512, 3, 2},
};
#define RESNET34_STAGES      (sizeof resnet34_stages / sizeof resnet34_stages[0])
#define RESNET_STEM_CHANNELS 64

/* BN tensor suffixes; the first two are learned, the running statistics are not. */
static const struct {
    const char *suffix;
    bool trainable;
} bn_tensors[BN_TENSORS] = {{"gamma", true}, {"beta", true}, {"mean", false}, {"var", false}};

static const char *const op_kind_names[NET_OP_KIND_COUNT] = {
    [NET_OP_CONV] = "conv",       [NET_OP_BN] = "bn",           [NET_OP_RELU] = "relu",
    [NET_OP_MAXPOOL] = "maxpool", [NET_OP_AVGPOOL] = "avgpool", [NET_OP_FC] = "fc",
    [NET_OP_ADD] = "add",
};

struct net {
    char arch[NET_NAME_MAX];
    double width;
    net_shape input;
    int classes;
    net_op *ops;
    int n_ops, cap_ops;
    net_exit *exits; /* n_exits heads, then the final classifier */
    int n_exits, cap_exits;
    net_bof *bofs;
    int n_bofs, cap_bofs;
    net_fc_pair *fcs;
    int n_fcs, cap_fcs;
    net_tensor *tensors;
    int n_tensors, cap_tensors;
    int coarse[NET_MAX_COARSE];
    int n_coarse;
    net_totals totals;
    char *layers; /* canonical layer list of a layer-list network; NULL for a generator's */
    bool oom;     /* sticky: some allocation failed while building */
};

typedef void (*arch_build_fn)(net *n);
static void build_vgg19(net *n);
static void build_resnet34(net *n);

/* A known architecture and the input sides it accepts. */
typedef struct arch_spec {
    const char *name;
    arch_build_fn build;
    int side_multiple;                      /* H = W must be a positive multiple of this */
    const char *side_why;                   /* why, for the error message */
    int widest_channels;                    /* largest unscaled channel count */
    const char *coarse[NET_MAX_COARSE + 1]; /* default coarse exits, NULL-terminated */
} arch_spec;

static const arch_spec arch_specs[] = {
    {"vgg19", build_vgg19, 32, "its 5 max-pools halve it", 512, {"pool2", "pool3", "pool4", NULL}},
    {"resnet34",
     build_resnet34,
     16,
     "3 stride-2 stages halve it and the last stage's BoF window needs 2 px",
     512,
     {"s1b3.add", "s2b4.add", "s3b6.add", NULL}},
};
#define ARCH_SPECS (sizeof arch_specs / sizeof arch_specs[0])

/* ---- helpers ---- */

__attribute__((format(printf, 3, 4))) static void set_err(char *err, size_t errlen, const char *fmt,
                                                          ...)
{
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Names are short and bounded by construction; a longer one would be cut, never overrun. */
__attribute__((format(printf, 2, 3))) static void set_name(char dst[NET_NAME_MAX], const char *fmt,
                                                           ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, NET_NAME_MAX, fmt, ap);
    va_end(ap);
}

/* Make room for need elements of size bytes in *arr; false on failure (*arr unchanged). */
static bool grow_array(void **arr, int *cap, int need, size_t size)
{
    if (need <= *cap) return true;
    int ncap = *cap ? *cap : INITIAL_CAPACITY;
    while (ncap < need) ncap *= 2;
    void *p = realloc(*arr, (size_t)ncap * size);
    if (!p) return false;
    *arr = p;
    *cap = ncap;
    return true;
}

/* grow_array for a list of n; false (and n->oom, sticky) on failure. */
static bool grow(net *n, void **arr, int *cap, int need, size_t size)
{
    if (n->oom) return false;
    if (!grow_array(arr, cap, need, size)) n->oom = true;
    return !n->oom;
}

/* Channels after width scaling: nearest integer (halves away from zero), at least 1. */
static int scale_channels(int base, double width)
{
    long c = lround(base * width);
    return c < 1 ? 1 : (int)c;
}

/* Output extent of a window sweep, floor((in + 2·pad − k) / stride) + 1. */
static int window_out(int in, int k, int stride, int pad)
{
    return (in + 2 * pad - k) / stride + 1;
}

static uint64_t shape_elems(net_shape s)
{
    return (uint64_t)s.c * (uint64_t)s.h * (uint64_t)s.w;
}

static net_shape op_output(const net *n, int src)
{
    return src < 0 ? n->input : n->ops[src].out;
}

/* Append tensor OWNER.SUFFIX; adds its elements to *params and bumps *count. */
static void add_tensor(net *n, const char *owner, const char *suffix, bool trainable, int ndim,
                       const int *dims, uint64_t *params, int *count)
{
    if (!grow(n, (void **)&n->tensors, &n->cap_tensors, n->n_tensors + 1, sizeof *n->tensors))
        return;
    net_tensor *t = &n->tensors[n->n_tensors++];
    memset(t, 0, sizeof *t);
    set_name(t->name, "%s.%s", owner, suffix);
    t->ndim = ndim;
    t->trainable = trainable;
    t->count = 1;
    for (int i = 0; i < ndim; i++) {
        t->dims[i] = dims[i];
        t->count *= (uint64_t)dims[i];
    }
    *params += t->count;
    (*count)++;
}

static void op_tensor(net *n, int op, const char *suffix, bool trainable, int ndim, const int *dims)
{
    net_op *o = &n->ops[op];
    add_tensor(n, o->name, suffix, trainable, ndim, dims, &o->params, &o->tensor_count);
}

/* ---- backbone ops; each returns the new op's index, or -1 once an allocation failed ---- */

static int new_op(net *n, const char *name, net_op_kind kind, int src)
{
    if (!grow(n, (void **)&n->ops, &n->cap_ops, n->n_ops + 1, sizeof *n->ops)) return -1;
    net_op *o = &n->ops[n->n_ops];
    memset(o, 0, sizeof *o);
    set_name(o->name, "%s", name);
    o->kind = kind;
    o->src = src;
    o->src2 = -1;
    o->in = op_output(n, src);
    o->out = o->in;
    o->exit = -1;
    o->tensor_first = n->n_tensors;
    return n->n_ops++;
}

static int add_conv(net *n, const char *name, int src, int c_out, int k, int stride, int pad,
                    bool bias, bool shortcut)
{
    int i = new_op(n, name, NET_OP_CONV, src);
    if (i < 0) return -1;
    net_op *o = &n->ops[i];
    o->kh = o->kw = k;
    o->stride = stride;
    o->pad = pad;
    o->bias = bias;
    o->shortcut = shortcut;
    o->out = (net_shape){c_out, window_out(o->in.h, k, stride, pad),
                         window_out(o->in.w, k, stride, pad)};
    uint64_t out_px = (uint64_t)o->out.h * (uint64_t)o->out.w;
    o->proxy_macs = out_px * (uint64_t)c_out * (uint64_t)o->in.c;
    o->macs = o->proxy_macs * (uint64_t)k * (uint64_t)k;
    op_tensor(n, i, "weight", true, 4, (const int[]){c_out, o->in.c, k, k});
    if (bias) op_tensor(n, i, "bias", true, 1, (const int[]){c_out});
    return i;
}

static int add_bn(net *n, const char *name, int src, bool shortcut)
{
    int i = new_op(n, name, NET_OP_BN, src);
    if (i < 0) return -1;
    n->ops[i].shortcut = shortcut;
    n->ops[i].vec_ops = shape_elems(n->ops[i].out);
    for (int t = 0; t < BN_TENSORS; t++)
        op_tensor(n, i, bn_tensors[t].suffix, bn_tensors[t].trainable, 1,
                  (const int[]){n->ops[i].out.c});
    return i;
}

static int add_relu(net *n, const char *name, int src)
{
    int i = new_op(n, name, NET_OP_RELU, src);
    if (i < 0) return -1;
    n->ops[i].vec_ops = shape_elems(n->ops[i].out);
    return i;
}

/* Pooling with a kh×kw window; one element operation per input element. */
static int add_pool(net *n, const char *name, net_op_kind kind, int src, int kh, int kw, int stride,
                    int pad)
{
    int i = new_op(n, name, kind, src);
    if (i < 0) return -1;
    net_op *o = &n->ops[i];
    o->kh = kh;
    o->kw = kw;
    o->stride = stride;
    o->pad = pad;
    o->out.h = window_out(o->in.h, kh, stride, pad);
    o->out.w = window_out(o->in.w, kw, stride, pad);
    o->vec_ops = shape_elems(o->in);
    return i;
}

static int add_fc(net *n, const char *name, int src, int outputs)
{
    int i = new_op(n, name, NET_OP_FC, src);
    if (i < 0) return -1;
    net_op *o = &n->ops[i];
    uint64_t inputs = shape_elems(o->in);
    o->kh = o->kw = o->stride = 1;
    o->bias = true;
    o->out = (net_shape){outputs, 1, 1};
    o->macs = o->proxy_macs = inputs * (uint64_t)outputs;
    op_tensor(n, i, "weight", true, 2, (const int[]){outputs, (int)inputs});
    op_tensor(n, i, "bias", true, 1, (const int[]){outputs});
    return i;
}

static int add_add(net *n, const char *name, int src, int src2)
{
    int i = new_op(n, name, NET_OP_ADD, src);
    if (i < 0) return -1;
    n->ops[i].src2 = src2;
    n->ops[i].vec_ops = shape_elems(n->ops[i].out);
    return i;
}

/* conv3×3 + BN + ReLU named BASE, BASE.bn, BASE.relu (vgg19); returns the ReLU. */
static int add_conv_bn_relu(net *n, const char *base, int src, int c_out)
{
    char name[NET_NAME_MAX];
    int i = add_conv(n, base, src, c_out, CONV3_KERNEL, UNIT_STRIDE, CONV3_PAD, true, false);
    set_name(name, "%s.bn", base);
    i = add_bn(n, name, i, false);
    set_name(name, "%s.relu", base);
    return add_relu(n, name, i);
}

/* ---- exit heads ---- */

/* BoF module named name, created with c_in channels and window s unless it exists. */
static int bof_module(net *n, const char *name, int c_in, int s)
{
    for (int i = 0; i < n->n_bofs; i++)
        if (!strcmp(n->bofs[i].name, name)) return i;
    if (!grow(n, (void **)&n->bofs, &n->cap_bofs, n->n_bofs + 1, sizeof *n->bofs)) return -1;
    net_bof *b = &n->bofs[n->n_bofs];
    memset(b, 0, sizeof *b);
    set_name(b->name, "%s", name);
    b->c_in = c_in;
    b->codewords = NET_BOF_CODEWORDS;
    b->s = s;
    return n->n_bofs++;
}

static int fc_pair(net *n, const char *name)
{
    if (!grow(n, (void **)&n->fcs, &n->cap_fcs, n->n_fcs + 1, sizeof *n->fcs)) return -1;
    net_fc_pair *f = &n->fcs[n->n_fcs];
    memset(f, 0, sizeof *f);
    set_name(f->name, "%s", name);
    f->in = EXIT_FC_IN;
    f->hidden = NET_EXIT_HIDDEN;
    f->classes = n->classes;
    return n->n_fcs++;
}

/* Exit head after op: BoF (Passalis et al. 2020) then the FC pair, DESIGN section 3. */
static void add_exit(net *n, const char *name, int op, int bof, int fc)
{
    if (op < 0 || bof < 0 || fc < 0) return; /* an earlier allocation failed */
    if (!grow(n, (void **)&n->exits, &n->cap_exits, n->n_exits + 1, sizeof *n->exits)) return;
    net_exit *e = &n->exits[n->n_exits];
    const net_bof *b = &n->bofs[bof];
    const net_fc_pair *f = &n->fcs[fc];
    memset(e, 0, sizeof *e);
    set_name(e->name, "%s", name);
    e->op = op;
    e->in = n->ops[op].out;
    e->bof = bof;
    e->fc_pair = fc;
    e->s = b->s;
    e->features = b->codewords * (e->in.h / b->s) * (e->in.w / b->s);
    e->uses_fc0 = e->features != f->hidden;
    uint64_t px = (uint64_t)e->in.h * (uint64_t)e->in.w;
    e->macs = px * (uint64_t)b->codewords * (uint64_t)b->c_in;
    if (e->uses_fc0) e->macs += (uint64_t)f->in * (uint64_t)f->hidden;
    e->macs += (uint64_t)f->hidden * (uint64_t)f->classes;
    e->vec_ops = BOF_VEC_OPS_PER_ELEMENT * px * (uint64_t)b->codewords + (uint64_t)e->features;
    n->ops[op].exit = n->n_exits++;
}

/* ---- generators ---- */

static void build_vgg19(net *n)
{
    char name[NET_NAME_MAX], bof_name[NET_NAME_MAX];
    int fc = fc_pair(n, "fc.shared");
    int cur = -1, conv_no = 0;
    for (size_t st = 0; st < VGG19_STAGES; st++) {
        const vgg_stage *sp = &vgg19_stages[st];
        int ch = scale_channels(sp->channels, n->width);
        /* s = half the map of the module's convs; a later stage of the same width reuses it */
        set_name(bof_name, "bof.w%d", sp->channels);
        int bof = bof_module(n, bof_name, ch, op_output(n, cur).h / NET_BOF_BINS);
        for (int j = 0; j < sp->convs; j++) {
            set_name(name, "conv%d", ++conv_no);
            cur = add_conv_bn_relu(n, name, cur, ch);
            add_exit(n, name, cur, bof, fc);
        }
        set_name(name, "pool%zu", st + 1);
        cur = add_pool(n, name, NET_OP_MAXPOOL, cur, POOL_WINDOW, POOL_WINDOW, POOL_STRIDE, 0);
        if (sp->pool_exit) add_exit(n, name, cur, bof, fc);
    }
    add_fc(n, "classifier", cur, n->classes);
}

/* Basic block sXbY: conv-BN-ReLU (exit), conv-BN, shortcut (projected when the shape changes),
 * add, ReLU (exit). Returns the final ReLU. */
static int resnet_block(net *n, int stage, int block, int src, int ch, int stride, int fc)
{
    char base[NET_NAME_MAX], name[NET_NAME_MAX];
    set_name(base, "s%db%d", stage, block);
    set_name(name, "%s.conv1", base);
    int i = add_conv(n, name, src, ch, CONV3_KERNEL, stride, CONV3_PAD, false, false);
    /* one BoF module per block; s is half the stage's map, which conv1 produced */
    set_name(name, "bof.%s", base);
    int bof = i < 0 ? -1 : bof_module(n, name, ch, n->ops[i].out.h / NET_BOF_BINS);
    set_name(name, "%s.bn1", base);
    i = add_bn(n, name, i, false);
    set_name(name, "%s.relu1", base);
    i = add_relu(n, name, i);
    set_name(name, "%s.conv1", base);
    add_exit(n, name, i, bof, fc);
    set_name(name, "%s.conv2", base);
    i = add_conv(n, name, i, ch, CONV3_KERNEL, UNIT_STRIDE, CONV3_PAD, false, false);
    set_name(name, "%s.bn2", base);
    i = add_bn(n, name, i, false);
    int shortcut = src;
    if (stride != UNIT_STRIDE || op_output(n, src).c != ch) {
        set_name(name, "%s.proj.conv", base);
        shortcut = add_conv(n, name, src, ch, PROJ_KERNEL, stride, PROJ_PAD, false, true);
        set_name(name, "%s.proj.bn", base);
        shortcut = add_bn(n, name, shortcut, true);
    }
    set_name(name, "%s.add", base);
    i = add_add(n, name, i, shortcut);
    set_name(name, "%s.relu2", base);
    i = add_relu(n, name, i);
    set_name(name, "%s.add", base);
    add_exit(n, name, i, bof, fc);
    return i;
}

static void build_resnet34(net *n)
{
    char name[NET_NAME_MAX];
    int cur = add_conv(n, "stem.conv", -1, scale_channels(RESNET_STEM_CHANNELS, n->width),
                       CONV3_KERNEL, UNIT_STRIDE, CONV3_PAD, false, false);
    cur = add_bn(n, "stem.bn", cur, false);
    cur = add_relu(n, "stem.relu", cur);
    for (size_t st = 0; st < RESNET34_STAGES; st++) {
        const resnet_stage *sp = &resnet34_stages[st];
        int ch = scale_channels(sp->channels, n->width);
        set_name(name, "fc.s%zu", st + 1);
        int fc = fc_pair(n, name);
        for (int b = 0; b < sp->blocks; b++)
            cur =
                resnet_block(n, (int)st + 1, b + 1, cur, ch, b == 0 ? sp->stride : UNIT_STRIDE, fc);
    }
    net_shape s = op_output(n, cur);
    cur = add_pool(n, "avgpool", NET_OP_AVGPOOL, cur, s.h, s.h, s.h, 0); /* global: it is square */
    add_fc(n, "classifier", cur, n->classes);
}

/* Head tensors (after every backbone tensor), the final pseudo-exit, cumulative MACs, totals,
 * the coarse exits named in the NULL-terminated list coarse (unknown names are skipped). */
static void finish(net *n, const char *const *coarse)
{
    for (int i = 0; i < n->n_bofs; i++) {
        net_bof *b = &n->bofs[i];
        b->tensor_first = n->n_tensors;
        add_tensor(n, b->name, "codebook.weight", true, 4,
                   (const int[]){b->codewords, b->c_in, 1, 1}, &b->params, &b->tensor_count);
        add_tensor(n, b->name, "codebook.bias", true, 1, (const int[]){b->codewords}, &b->params,
                   &b->tensor_count);
        static const char *const scalars[] = {"a", "c", "n1", "n2"};
        for (size_t k = 0; k < sizeof scalars / sizeof scalars[0]; k++)
            add_tensor(n, b->name, scalars[k], true, 1, (const int[]){1}, &b->params,
                       &b->tensor_count);
    }
    for (int i = 0; i < n->n_fcs; i++) {
        net_fc_pair *f = &n->fcs[i];
        f->tensor_first = n->n_tensors;
        add_tensor(n, f->name, "0.weight", true, 2, (const int[]){f->hidden, f->in}, &f->params,
                   &f->tensor_count);
        add_tensor(n, f->name, "0.bias", true, 1, (const int[]){f->hidden}, &f->params,
                   &f->tensor_count);
        add_tensor(n, f->name, "1.weight", true, 2, (const int[]){f->classes, f->hidden},
                   &f->params, &f->tensor_count);
        add_tensor(n, f->name, "1.bias", true, 1, (const int[]){f->classes}, &f->params,
                   &f->tensor_count);
    }
    if (!grow(n, (void **)&n->exits, &n->cap_exits, n->n_exits + 1, sizeof *n->exits)) return;

    net_totals *t = &n->totals;
    memset(t, 0, sizeof *t);
    int next_exit = 0;
    for (int i = 0; i < n->n_ops; i++) {
        const net_op *o = &n->ops[i];
        t->backbone_macs += o->macs;
        t->backbone_proxy_macs += o->proxy_macs;
        t->backbone_vec_ops += o->vec_ops;
        t->backbone_params += o->params;
        while (next_exit < n->n_exits && n->exits[next_exit].op == i)
            n->exits[next_exit++].backbone_macs_cum = t->backbone_macs;
    }
    for (int i = 0; i < n->n_exits; i++) {
        t->exit_macs += n->exits[i].macs;
        t->exit_vec_ops += n->exits[i].vec_ops;
    }
    for (int i = 0; i < n->n_bofs; i++) t->head_params += n->bofs[i].params;
    for (int i = 0; i < n->n_fcs; i++) t->head_params += n->fcs[i].params;
    t->params = t->backbone_params + t->head_params;
    for (int i = 0; i < n->n_tensors; i++)
        if (n->tensors[i].trainable) t->trainable_params += n->tensors[i].count;

    net_exit *fin = &n->exits[n->n_exits];
    memset(fin, 0, sizeof *fin);
    set_name(fin->name, "final");
    fin->op = n->n_ops - 1;
    fin->in = n->ops[fin->op].out;
    fin->bof = fin->fc_pair = -1;
    fin->backbone_macs_cum = t->backbone_macs;

    for (int i = 0; coarse[i] && n->n_coarse < NET_MAX_COARSE; i++) {
        int e = net_exit_by_name(n, coarse[i]);
        if (e >= 0) n->coarse[n->n_coarse++] = e;
    }
}

/* ---- arguments ---- */

/* Arguments of net_build; a NULL a (a layer-list file) skips the generators' own rules. */
static int check_args(const arch_spec *a, double width, int h, int w, int c, int classes, char *err,
                      size_t errlen)
{
    if (!(isfinite(width) && width > 0)) {
        set_err(err, errlen, "width must be a positive number (got %g)", width);
        return NET_EARG;
    }
    if (a && scale_channels(a->widest_channels, fmin(width, NET_MAX_CHANNELS)) > NET_MAX_CHANNELS) {
        set_err(err, errlen, "width %g gives %.0f channels at the widest layer (at most %d)", width,
                a->widest_channels * width, NET_MAX_CHANNELS);
        return NET_EARG;
    }
    if (h < 1 || w < 1 || h > NET_MAX_SIDE || w > NET_MAX_SIDE) {
        set_err(err, errlen, "input %dx%dx%d: height and width must be in 1..%d", h, w, c,
                NET_MAX_SIDE);
        return NET_EARG;
    }
    if (c < 1 || c > NET_MAX_CHANNELS) {
        set_err(err, errlen, "input %dx%dx%d: channels must be in 1..%d", h, w, c,
                NET_MAX_CHANNELS);
        return NET_EARG;
    }
    if (a && h != w) {
        set_err(err, errlen, "input %dx%dx%d: %s needs a square input", h, w, c, a->name);
        return NET_EARG;
    }
    if (a && h % a->side_multiple) {
        set_err(err, errlen, "input %dx%dx%d: %s needs a side that is a multiple of %d (%s)", h, w,
                c, a->name, a->side_multiple, a->side_why);
        return NET_EARG;
    }
    if (classes < NET_MIN_CLASSES || classes > NET_MAX_CLASSES) {
        set_err(err, errlen, "classes must be in %d..%d (got %d)", NET_MIN_CLASSES, NET_MAX_CLASSES,
                classes);
        return NET_EARG;
    }
    return NET_OK;
}

static const arch_spec *find_arch(const char *name)
{
    for (size_t i = 0; name && i < ARCH_SPECS; i++)
        if (!strcmp(name, arch_specs[i].name)) return &arch_specs[i];
    return NULL;
}

/* ---- layer-list files (docs/netfile.md) ---- */

enum {
    LAYER_TEXT_MAX_BYTES = 1 << 20, /* a layer list, from a file or an arch text */
    LAYER_VALUE_MAX = 64,           /* one value: a name or a number (names are shorter) */
    LAYER_LIST_MAX = NET_MAX_COARSE * (NET_NAME_MAX + 2), /* [net] coarse_exits */
    LAYER_MSG_MAX = 1024,
    LAYER_READ_CHUNK = 4096,
    ARCH_TOKEN_MAX = 32, /* the arch name in an arch text */
};

/* Whole-network limits of a layer-list file; they keep every sum within uint64_t. */
static const uint64_t LAYER_MAX_MACS = UINT64_C(1) << 62;
static const uint64_t LAYER_MAX_PARAMS = UINT64_C(1) << 50;

static const char LAYER_INPUT[] = "input";     /* src naming the network input */
static const char LAYER_NET[] = "net";         /* the section of network-level keys */
static const char LAYER_CLASSES[] = "classes"; /* fc out = the network's classes */
static const char LAYER_GLOBAL[] = "global";   /* pooling window = the whole map */
static const char LAYER_FINAL[] = "final";     /* the final classifier's exit name */
static const char DEFAULT_FC_PAIR[] = "fc.shared";
static const char TEXT_LABEL[] = "arch text"; /* FILE in messages about an arch text */
#define KIND_LIST "conv, bn, relu, maxpool, avgpool, fc or add" /* op_kind_names, for messages */

/* Keys of an op section, in canonical order. */
typedef enum layer_key {
    LK_KIND,
    LK_SRC,
    LK_SRC2,
    LK_OUT,
    LK_KERNEL,
    LK_STRIDE,
    LK_PAD,
    LK_BIAS,
    LK_SHORTCUT,
    LK_EXIT,
    LK_EXIT_NAME,
    LK_BOF,
    LK_FC_PAIR,
    LK_COUNT
} layer_key;

#define KIND_BIT(k) (1u << (k))
#define KEY_BIT(k)  (1u << (k))
#define KINDS_ALL   ((1u << NET_OP_KIND_COUNT) - 1)
#define KINDS_POOL  (KIND_BIT(NET_OP_MAXPOOL) | KIND_BIT(NET_OP_AVGPOOL))

/* Each key with the kinds it applies to. */
static const struct {
    const char *name;
    unsigned kinds;
} layer_keys[LK_COUNT] = {
    [LK_KIND] = {"kind", KINDS_ALL},
    [LK_SRC] = {"src", KINDS_ALL},
    [LK_SRC2] = {"src2", KIND_BIT(NET_OP_ADD)},
    [LK_OUT] = {"out", KIND_BIT(NET_OP_CONV) | KIND_BIT(NET_OP_FC)},
    [LK_KERNEL] = {"kernel", KIND_BIT(NET_OP_CONV) | KINDS_POOL},
    [LK_STRIDE] = {"stride", KIND_BIT(NET_OP_CONV) | KINDS_POOL},
    [LK_PAD] = {"pad", KIND_BIT(NET_OP_CONV) | KINDS_POOL},
    [LK_BIAS] = {"bias", KIND_BIT(NET_OP_CONV)},
    [LK_SHORTCUT] = {"shortcut", KIND_BIT(NET_OP_CONV) | KIND_BIT(NET_OP_BN)},
    [LK_EXIT] = {"exit", KINDS_ALL},
    [LK_EXIT_NAME] = {"exit_name", KINDS_ALL},
    [LK_BOF] = {"bof", KINDS_ALL},
    [LK_FC_PAIR] = {"fc_pair", KINDS_ALL},
};

/* Keys each kind requires (kind itself aside). */
static const unsigned layer_required[NET_OP_KIND_COUNT] = {
    [NET_OP_CONV] = KEY_BIT(LK_OUT) | KEY_BIT(LK_KERNEL),
    [NET_OP_MAXPOOL] = KEY_BIT(LK_KERNEL),
    [NET_OP_AVGPOOL] = KEY_BIT(LK_KERNEL),
    [NET_OP_FC] = KEY_BIT(LK_OUT),
    [NET_OP_ADD] = KEY_BIT(LK_SRC2),
};

/* One op section as read: raw values, checked when the op is built. */
typedef struct layer_raw {
    char name[LAYER_VALUE_MAX]; /* section name (inih cuts it below this size) */
    int line;                   /* its header line */
    char val[LK_COUNT][LAYER_VALUE_MAX];
    int key_line[LK_COUNT]; /* 0: the key is absent */
} layer_raw;

/* A growing string; oom is sticky. */
typedef struct strbuf {
    char *s;
    size_t len, cap;
    bool oom;
} strbuf;

/* Reading and building one layer list. */
typedef struct layer_ctx {
    const char *path; /* FILE in messages */
    int line_offset;  /* lines before the layer list (an arch text's first line) */
    const char *buf;  /* the text and the reader's position in it */
    size_t len, pos;
    int lineno;       /* lines handed to inih so far */
    bool failed, oom; /* first error recorded in msg / an allocation failed */
    int err_line;     /* its line in the layer list (0: none) */
    char msg[LAYER_MSG_MAX];
    /* reader and handler state */
    int headers;         /* section headers seen by the reader */
    int headers_started; /* headers whose section the handler has started */
    int header_line;
    char header_name[LAYER_VALUE_MAX];
    bool keys_in_section; /* a key since the last header: inih's prev_name is set */
    bool continuation;    /* the current line continues the previous value */
    bool in_net;          /* the current section is [net] */
    int last_key;         /* key the previous line set (-1: none) */
    int net_line, coarse_line;
    char coarse[LAYER_LIST_MAX];
    layer_raw *raw;
    int n_raw, cap_raw;
    /* build state */
    int *bof_line, cap_bof_line; /* line of the exit that created each BoF module */
    int *fc_line, cap_fc_line;   /* likewise for FC pairs */
    uint64_t macs, params;       /* running totals of the ops built so far */
    strbuf text;                 /* canonical text of the ops built so far */
} layer_ctx;

__attribute__((format(printf, 2, 3))) static void sb_printf(strbuf *b, const char *fmt, ...)
{
    if (b->oom) return;
    va_list ap;
    va_start(ap, fmt);
    int need = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (need < 0) {
        b->oom = true;
        return;
    }
    if (b->len + (size_t)need + 1 > b->cap) {
        size_t ncap = b->cap ? b->cap : LAYER_READ_CHUNK;
        while (ncap < b->len + (size_t)need + 1) ncap *= 2;
        char *p = realloc(b->s, ncap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->s = p;
        b->cap = ncap;
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)need;
}

/* Record the first error, "FILE:LINE: message" (line 0: "FILE: message"); always false. */
__attribute__((format(printf, 3, 4))) static bool layer_fail(layer_ctx *x, int line,
                                                             const char *fmt, ...)
{
    if (x->failed) return false;
    x->failed = true;
    x->err_line = line;
    int used = line > 0 ? snprintf(x->msg, sizeof x->msg, "%s:%d: ", x->path, line + x->line_offset)
                        : snprintf(x->msg, sizeof x->msg, "%s: ", x->path);
    if (used < 0 || (size_t)used >= sizeof x->msg) return false;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->msg + used, sizeof x->msg - (size_t)used, fmt, ap);
    va_end(ap);
    return false;
}

static bool layer_oom(layer_ctx *x)
{
    x->oom = true;
    return layer_fail(x, 0, "out of memory reading the layer list");
}

/* [A-Za-z0-9_.]+ */
static bool name_chars_ok(const char *s)
{
    if (!*s) return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '.') return false;
    return true;
}

static bool equal_nocase(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b)) return false;
    return *a == *b;
}

/* yes/no, true/false, on/off, 1/0 in any case (as config files). */
static bool parse_yes_no(const char *s, bool *out)
{
    static const char *const yes[] = {"yes", "true", "on", "1"};
    static const char *const no[] = {"no", "false", "off", "0"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (equal_nocase(s, yes[i])) return *out = true, true;
        if (equal_nocase(s, no[i])) return *out = false, true;
    }
    return false;
}

/* A decimal whole number of digits only, in lo..hi. */
static bool parse_count(const char *s, int lo, int hi, int *out)
{
    long long v = 0;
    if (!*s) return false;
    for (; *s; s++) {
        if (!isdigit((unsigned char)*s)) return false;
        v = v * 10 + (*s - '0');
        if (v > hi) return false;
    }
    if (v < lo) return false;
    *out = (int)v;
    return true;
}

/* ---- reading: inih with a reader that counts lines and sees section headers ---- */

/* inih reader: one line at a time from memory. Refuses NUL bytes and lines longer than inih's
 * buffer (never cut), drops a UTF-8 byte-order mark, and notes continuation lines and section
 * headers exactly where inih sees them. */
static char *layer_reader(char *str, int num, void *stream)
{
    layer_ctx *x = stream;
    if (x->failed || x->pos >= x->len) return NULL;
    const char *line = x->buf + x->pos;
    const char *nl = memchr(line, '\n', x->len - x->pos);
    size_t n = nl ? (size_t)(nl - line) : x->len - x->pos;
    x->pos += n + (nl ? 1 : 0);
    x->lineno++;
    if (n > 0 && line[n - 1] == '\r') n--;
    static const char bom[] = "\xEF\xBB\xBF";
    if (x->lineno == 1 && n >= sizeof bom - 1 && !memcmp(line, bom, sizeof bom - 1)) {
        line += sizeof bom - 1;
        n -= sizeof bom - 1;
    }
    if (memchr(line, '\0', n)) return layer_fail(x, x->lineno, "NUL byte in the line"), NULL;
    size_t limit = num > 2 ? (size_t)num - 2 : 0; /* room for "\n\0" */
    if (n > limit)
        return layer_fail(x, x->lineno, "line is %zu characters long; at most %zu", n, limit), NULL;
    memcpy(str, line, n);
    str[n] = '\n';
    str[n + 1] = '\0';

    const char *s = line, *end = line + n;
    while (s < end && isspace((unsigned char)*s)) s++;
    bool blank = s == end, comment = !blank && (*s == ';' || *s == '#');
    x->continuation = !blank && !comment && s > line && x->keys_in_section;
    const char *close = !blank && !comment && !x->continuation && *s == '['
                            ? memchr(s, ']', (size_t)(end - s))
                            : NULL;
    if (close) {
        if (x->headers && !x->keys_in_section)
            return layer_fail(x, x->header_line, "empty section [%s]", x->header_name), NULL;
        size_t nn = (size_t)(close - s - 1);
        if (nn >= sizeof x->header_name) nn = sizeof x->header_name - 1;
        memcpy(x->header_name, s + 1, nn);
        x->header_name[nn] = '\0';
        x->headers++;
        x->header_line = x->lineno;
        x->keys_in_section = false;
        x->last_key = -1;
    }
    return str;
}

/* Store value into dst (size bytes), appending after a space for a continuation line. */
static bool store_value(layer_ctx *x, char *dst, size_t size, const char *key, const char *value,
                        bool append)
{
    size_t have = append ? strlen(dst) : 0, add = strlen(value) + (append ? 1 : 0);
    if (have + add >= size)
        return layer_fail(x, x->lineno, "value of '%s' is too long (at most %zu characters)", key,
                          size - 1);
    if (append) dst[have++] = ' ';
    memcpy(dst + have, value, strlen(value) + 1);
    return true;
}

/* A new section: [net] or a new op. */
static bool start_section(layer_ctx *x, const char *section)
{
    x->in_net = !strcmp(section, LAYER_NET);
    if (x->in_net) {
        if (x->net_line)
            return layer_fail(x, x->header_line, "duplicate section [%s] (first at line %d)",
                              LAYER_NET, x->net_line + x->line_offset);
        x->net_line = x->header_line;
        return true;
    }
    if (x->n_raw >= NET_MAX_OPS)
        return layer_fail(x, x->header_line, "more than %d ops", NET_MAX_OPS);
    if (!grow_array((void **)&x->raw, &x->cap_raw, x->n_raw + 1, sizeof *x->raw))
        return layer_oom(x);
    layer_raw *r = &x->raw[x->n_raw++];
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", section);
    r->line = x->header_line;
    return true;
}

static bool net_key(layer_ctx *x, const char *name, const char *value)
{
    static const char coarse_key[] = "coarse_exits";
    if (strcmp(name, coarse_key))
        return layer_fail(x, x->lineno, "unknown key '%s' in [%s] (expected %s)", name, LAYER_NET,
                          coarse_key);
    if (x->coarse_line)
        return layer_fail(x, x->lineno, "duplicate key '%s' in [%s] (first set at line %d)", name,
                          LAYER_NET, x->coarse_line + x->line_offset);
    x->coarse_line = x->lineno;
    x->last_key = LK_COUNT; /* marks coarse_exits for a continuation */
    return store_value(x, x->coarse, sizeof x->coarse, name, value, false);
}

static bool op_key(layer_ctx *x, const char *name, const char *value)
{
    layer_raw *r = &x->raw[x->n_raw - 1];
    int k = 0;
    while (k < LK_COUNT && strcmp(name, layer_keys[k].name)) k++;
    if (k == LK_COUNT) return layer_fail(x, x->lineno, "unknown key '%s' in [%s]", name, r->name);
    if (r->key_line[k])
        return layer_fail(x, x->lineno, "duplicate key '%s' in [%s] (first set at line %d)", name,
                          r->name, r->key_line[k] + x->line_offset);
    r->key_line[k] = x->lineno;
    x->last_key = k;
    return store_value(x, r->val[k], sizeof r->val[k], name, value, false);
}

static int layer_handler(void *user, const char *section, const char *name, const char *value)
{
    layer_ctx *x = user;
    if (x->failed) return 1;
    x->keys_in_section = true;
    if (x->continuation && x->last_key >= 0) {
        if (x->in_net) return store_value(x, x->coarse, sizeof x->coarse, name, value, true), 1;
        layer_raw *r = &x->raw[x->n_raw - 1];
        store_value(x, r->val[x->last_key], sizeof r->val[x->last_key], name, value, true);
        return 1;
    }
    if (!x->headers) return layer_fail(x, x->lineno, "key '%s' outside any section", name), 1;
    if (x->headers_started != x->headers) {
        x->headers_started = x->headers;
        if (!start_section(x, section)) return 1;
    }
    if (!*value)
        layer_fail(x, x->lineno, "key '%s' has no value", name);
    else if (x->in_net)
        net_key(x, name, value);
    else
        op_key(x, name, value);
    return 1;
}

/* Parse the text into x->raw and x->coarse; false with the first error recorded. */
static bool layer_parse(layer_ctx *x)
{
    x->last_key = -1;
    int rc = ini_parse_stream(layer_reader, x, layer_handler, x);
    if (rc > 0 && (!x->failed || rc < x->err_line)) { /* inih's own error comes first */
        x->failed = false;
        return layer_fail(x, rc, "syntax error: expected [section], key = value, or a comment");
    }
    if (rc < 0 && !x->failed) return layer_oom(x);
    if (x->failed) return false;
    if (x->headers && !x->keys_in_section)
        return layer_fail(x, x->header_line, "empty section [%s]", x->header_name);
    return true;
}

/* ---- building: one op per section, in file order ---- */

static const char *src_name(const net *n, int src)
{
    return src < 0 ? LAYER_INPUT : n->ops[src].name;
}

/* Longest tensor-name suffix of an op kind (".weight", ".gamma"); 0 for kinds without tensors. */
static size_t kind_suffix_len(net_op_kind kind)
{
    switch (kind) {
    case NET_OP_CONV:
    case NET_OP_FC:
        return strlen(".weight");
    case NET_OP_BN:
        return strlen(".gamma");
    default:
        return 0;
    }
}

/* A name of what ("op", "exit", ...) that must leave room for a tensor suffix of suffix chars. */
static bool check_name(layer_ctx *x, int line, const char *what, const char *name, size_t suffix)
{
    if (!name_chars_ok(name))
        return layer_fail(x, line, "%s name '%s' may only hold letters, digits, '_' and '.'", what,
                          name);
    size_t max = NET_NAME_MAX - 1 - suffix;
    if (strlen(name) > max)
        return layer_fail(x, line, "%s name '%s' is too long (at most %zu characters)", what, name,
                          max);
    return true;
}

/* The value of key k as a whole number in lo..hi; *out unchanged when the key is absent. */
static bool key_count(layer_ctx *x, const layer_raw *r, layer_key k, int lo, int hi, int *out)
{
    if (!r->key_line[k]) return true;
    if (parse_count(r->val[k], lo, hi, out)) return true;
    return layer_fail(x, r->key_line[k], "%s '%s' is not a whole number in %d..%d",
                      layer_keys[k].name, r->val[k], lo, hi);
}

static bool key_bool(layer_ctx *x, const layer_raw *r, layer_key k, bool *out)
{
    if (!r->key_line[k] || parse_yes_no(r->val[k], out)) return true;
    return layer_fail(x, r->key_line[k], "%s '%s' is not yes or no", layer_keys[k].name, r->val[k]);
}

/* The op that key k (src or src2) names: "input" (-1) or an earlier op; *out keeps the default
 * when the key is absent. */
static bool key_src(layer_ctx *x, const net *n, const layer_raw *r, layer_key k, int *out)
{
    if (!r->key_line[k]) return true;
    const char *v = r->val[k];
    if (!strcmp(v, LAYER_INPUT)) return *out = -1, true;
    int i = net_op_by_name(n, v);
    if (i >= 0) return *out = i, true;
    if (!strcmp(v, r->name))
        return layer_fail(x, r->key_line[k], "%s '%s': an op cannot read itself",
                          layer_keys[k].name, v);
    for (int j = n->n_ops; j < x->n_raw; j++)
        if (!strcmp(x->raw[j].name, v))
            return layer_fail(x, r->key_line[k], "%s '%s' is a later op (an op reads earlier ones)",
                              layer_keys[k].name, v);
    return layer_fail(x, r->key_line[k], "unknown %s '%s' (no earlier op has that name)",
                      layer_keys[k].name, v);
}

/* Whether f[0]·f[1]·… (all >= 1) stays within cap, computed without overflow. */
static bool product_within(const uint64_t *f, int nf, uint64_t cap)
{
    uint64_t p = 1;
    for (int i = 0; i < nf; i++) {
        if (p > cap / f[i]) return false;
        p *= f[i];
    }
    return true;
}

/* MACs and parameters an op adds must keep the network within its limits. */
static bool check_budget(layer_ctx *x, const layer_raw *r, const uint64_t *macs, int n_macs,
                         const uint64_t *params, int n_params)
{
    uint64_t macs_left = x->macs < LAYER_MAX_MACS ? LAYER_MAX_MACS - x->macs : 0;
    uint64_t params_left = x->params < LAYER_MAX_PARAMS ? LAYER_MAX_PARAMS - x->params : 0;
    if (!product_within(macs, n_macs, macs_left))
        return layer_fail(x, r->line, "op '%s' takes the network past %llu MACs", r->name,
                          (unsigned long long)LAYER_MAX_MACS);
    if (!product_within(params, n_params, params_left))
        return layer_fail(x, r->line, "op '%s' takes the network past %llu parameters", r->name,
                          (unsigned long long)LAYER_MAX_PARAMS);
    return true;
}

/* kh×kw window with padding pad over map s (read from src) must fit it, and the output must
 * stay within NET_MAX_SIDE. */
static bool check_window(layer_ctx *x, const net *n, const layer_raw *r, int src, int kh, int kw,
                         int stride, int pad)
{
    net_shape s = op_output(n, src);
    if (kh > s.h + 2 * pad || kw > s.w + 2 * pad)
        return layer_fail(x, r->key_line[LK_KERNEL] ? r->key_line[LK_KERNEL] : r->line,
                          "kernel %dx%d does not fit the %dx%d map of '%s' (pad %d)", kh, kw, s.h,
                          s.w, src_name(n, src), pad);
    int oh = window_out(s.h, kh, stride, pad), ow = window_out(s.w, kw, stride, pad);
    if (oh > NET_MAX_SIDE || ow > NET_MAX_SIDE)
        return layer_fail(x, r->line, "op '%s' gives a %dx%d map (at most %d per side)", r->name,
                          oh, ow, NET_MAX_SIDE);
    return true;
}

static int build_conv(layer_ctx *x, net *n, const layer_raw *r, int src)
{
    int base = 0, k = 0, stride = UNIT_STRIDE, pad = 0;
    bool bias = true, shortcut = false;
    if (!key_count(x, r, LK_OUT, 1, NET_MAX_CHANNELS, &base) ||
        !key_count(x, r, LK_KERNEL, 1, NET_MAX_SIDE, &k) ||
        !key_count(x, r, LK_STRIDE, 1, NET_MAX_SIDE, &stride) ||
        !key_count(x, r, LK_PAD, 0, NET_MAX_SIDE, &pad) || !key_bool(x, r, LK_BIAS, &bias) ||
        !key_bool(x, r, LK_SHORTCUT, &shortcut))
        return -1;
    if (pad >= k)
        return layer_fail(x, r->key_line[LK_PAD], "pad %d must be smaller than the kernel %d", pad,
                          k),
               -1;
    int c_out = scale_channels(base, fmin(n->width, NET_MAX_CHANNELS));
    if (c_out > NET_MAX_CHANNELS)
        return layer_fail(x, r->key_line[LK_OUT],
                          "out %d at width %g gives %.0f channels (at most %d)", base, n->width,
                          base * n->width, NET_MAX_CHANNELS),
               -1;
    if (!check_window(x, n, r, src, k, k, stride, pad)) return -1;
    net_shape s = op_output(n, src);
    uint64_t oh = (uint64_t)window_out(s.h, k, stride, pad);
    uint64_t ow = (uint64_t)window_out(s.w, k, stride, pad);
    uint64_t kk = (uint64_t)k * (uint64_t)k, co = (uint64_t)c_out, ci = (uint64_t)s.c;
    if (!check_budget(x, r, (const uint64_t[]){oh, ow, co, ci, kk}, 5,
                      (const uint64_t[]){co, ci, kk + 1}, 3))
        return -1;
    return add_conv(n, r->name, src, c_out, k, stride, pad, bias, shortcut);
}

static int build_pool(layer_ctx *x, net *n, const layer_raw *r, net_op_kind kind, int src)
{
    net_shape s = op_output(n, src);
    if (!strcmp(r->val[LK_KERNEL], LAYER_GLOBAL)) {
        int extra = r->key_line[LK_STRIDE] ? LK_STRIDE : r->key_line[LK_PAD] ? LK_PAD : -1;
        if (extra >= 0)
            return layer_fail(x, r->key_line[extra], "%s pooling takes no %s", LAYER_GLOBAL,
                              layer_keys[extra].name),
                   -1;
        return add_pool(n, r->name, kind, src, s.h, s.w, s.h, 0);
    }
    int k = 0, pad = 0;
    if (!key_count(x, r, LK_KERNEL, 1, NET_MAX_SIDE, &k)) return -1;
    int stride = k;
    if (!key_count(x, r, LK_STRIDE, 1, NET_MAX_SIDE, &stride) ||
        !key_count(x, r, LK_PAD, 0, NET_MAX_SIDE, &pad))
        return -1;
    if (pad > k / 2)
        return layer_fail(x, r->key_line[LK_PAD], "pad %d exceeds half the window %d", pad, k), -1;
    if (!check_window(x, n, r, src, k, k, stride, pad)) return -1;
    return add_pool(n, r->name, kind, src, k, k, stride, pad);
}

static int build_fc(layer_ctx *x, net *n, const layer_raw *r, int src)
{
    int outputs = n->classes;
    if (strcmp(r->val[LK_OUT], LAYER_CLASSES) &&
        !parse_count(r->val[LK_OUT], 1, NET_MAX_CLASSES, &outputs))
        return layer_fail(x, r->key_line[LK_OUT],
                          "out '%s' is neither %s nor a whole number in 1..%d", r->val[LK_OUT],
                          LAYER_CLASSES, NET_MAX_CLASSES),
               -1;
    uint64_t inputs = shape_elems(op_output(n, src));
    if (inputs > INT_MAX)
        return layer_fail(x, r->line, "fc '%s' reads %llu features (at most %d)", r->name,
                          (unsigned long long)inputs, INT_MAX),
               -1;
    uint64_t o = (uint64_t)outputs;
    if (!check_budget(x, r, (const uint64_t[]){inputs, o}, 2, (const uint64_t[]){inputs + 1, o}, 2))
        return -1;
    return add_fc(n, r->name, src, outputs);
}

static int build_add(layer_ctx *x, net *n, const layer_raw *r, int src)
{
    int src2 = -1;
    if (!key_src(x, n, r, LK_SRC2, &src2)) return -1;
    net_shape a = op_output(n, src), b = op_output(n, src2);
    if (a.c != b.c || a.h != b.h || a.w != b.w)
        return layer_fail(x, r->key_line[LK_SRC2],
                          "shape mismatch at add '%s': src '%s' gives %dx%dx%d, src2 '%s' gives "
                          "%dx%dx%d (CxHxW)",
                          r->name, src_name(n, src), a.c, a.h, a.w, src_name(n, src2), b.c, b.h,
                          b.w),
               -1;
    return add_add(n, r->name, src, src2);
}

static int bof_index(const net *n, const char *name)
{
    for (int i = 0; i < n->n_bofs; i++)
        if (!strcmp(n->bofs[i].name, name)) return i;
    return -1;
}

static int fc_pair_index(const net *n, const char *name)
{
    for (int i = 0; i < n->n_fcs; i++)
        if (!strcmp(n->fcs[i].name, name)) return i;
    return -1;
}

/* The BoF module exit (name) on map m uses: an existing one whose channels and window fit, or a
 * new one with s = half the map. */
static int exit_bof(layer_ctx *x, net *n, const layer_raw *r, const char *exit, const char *name,
                    net_shape m)
{
    int line = r->key_line[LK_BOF] ? r->key_line[LK_BOF] : r->key_line[LK_EXIT];
    int b = bof_index(n, name);
    if (b >= 0) {
        const net_bof *mod = &n->bofs[b];
        int at = x->bof_line[b] + x->line_offset;
        if (mod->c_in != m.c)
            return layer_fail(x, line,
                              "BoF module '%s' (line %d) reads %d channels; exit '%s' has %d", name,
                              at, mod->c_in, exit, m.c),
                   -1;
        if (m.h != m.w || (m.h != NET_BOF_BINS * mod->s && m.h != mod->s))
            return layer_fail(x, line,
                              "BoF module '%s' (line %d) has window s = %d; exit '%s' needs a "
                              "%dx%d or %dx%d map, not %dx%d",
                              name, at, mod->s, exit, NET_BOF_BINS * mod->s, NET_BOF_BINS * mod->s,
                              mod->s, mod->s, m.h, m.w),
                   -1;
        return b;
    }
    if (m.h != m.w || m.h < NET_BOF_BINS || m.h % NET_BOF_BINS)
        return layer_fail(x, line,
                          "exit '%s' creates BoF module '%s' on a %dx%d map; it needs a square map "
                          "with an even side (its window s is half the side)",
                          exit, name, m.h, m.w),
               -1;
    if (!grow_array((void **)&x->bof_line, &x->cap_bof_line, n->n_bofs + 1, sizeof *x->bof_line))
        return layer_oom(x), -1;
    x->bof_line[n->n_bofs] = line;
    return bof_module(n, name, m.c, m.h / NET_BOF_BINS);
}

static int exit_fc_pair(layer_ctx *x, net *n, const layer_raw *r, const char *name)
{
    int f = fc_pair_index(n, name);
    if (f >= 0) return f;
    if (!grow_array((void **)&x->fc_line, &x->cap_fc_line, n->n_fcs + 1, sizeof *x->fc_line))
        return layer_oom(x), -1;
    x->fc_line[n->n_fcs] = r->key_line[LK_FC_PAIR] ? r->key_line[LK_FC_PAIR] : r->key_line[LK_EXIT];
    return fc_pair(n, name);
}

/* The exit head on op (exit = yes): its name, BoF module and FC pair. */
static bool build_exit(layer_ctx *x, net *n, const layer_raw *r, int op)
{
    bool on = false;
    if (!key_bool(x, r, LK_EXIT, &on)) return false;
    if (!on) {
        for (int k = LK_EXIT_NAME; k <= LK_FC_PAIR; k++)
            if (r->key_line[k])
                return layer_fail(x, r->key_line[k], "%s needs exit = yes", layer_keys[k].name);
        return true;
    }
    int line = r->key_line[LK_EXIT];
    if (r == &x->raw[x->n_raw - 1])
        return layer_fail(x, line, "the final classifier '%s' cannot carry an exit", r->name);
    const char *name = r->key_line[LK_EXIT_NAME] ? r->val[LK_EXIT_NAME] : r->name;
    int name_line = r->key_line[LK_EXIT_NAME] ? r->key_line[LK_EXIT_NAME] : line;
    if (!check_name(x, name_line, "exit", name, 0)) return false;
    if (!strcmp(name, LAYER_FINAL))
        return layer_fail(x, name_line, "exit name '%s' is the final classifier's", LAYER_FINAL);
    for (int i = 0; i < n->n_exits; i++)
        if (!strcmp(n->exits[i].name, name))
            return layer_fail(x, name_line, "duplicate exit name '%s' (first on op '%s')", name,
                              n->ops[n->exits[i].op].name);
    net_shape m = n->ops[op].out;
    char bof_name[NET_NAME_MAX], fc_name[NET_NAME_MAX];
    if (r->key_line[LK_BOF])
        set_name(bof_name, "%s", r->val[LK_BOF]);
    else
        set_name(bof_name, "bof.c%d", m.c);
    set_name(fc_name, "%s", r->key_line[LK_FC_PAIR] ? r->val[LK_FC_PAIR] : DEFAULT_FC_PAIR);
    if (!check_name(x, r->key_line[LK_BOF] ? r->key_line[LK_BOF] : line, "BoF module", bof_name,
                    strlen(".codebook.weight")) ||
        !check_name(x, r->key_line[LK_FC_PAIR] ? r->key_line[LK_FC_PAIR] : line, "FC pair", fc_name,
                    strlen(".0.weight")))
        return false;
    int bof = exit_bof(x, n, r, name, bof_name, m);
    if (bof < 0) return false;
    int fc = exit_fc_pair(x, n, r, fc_name);
    if (fc < 0) return false;
    add_exit(n, name, op, bof, fc);
    return true;
}

/* Canonical text of op i (every key it has, defaults written out). */
static void op_text(strbuf *b, const net *n, int i, const layer_raw *r)
{
    const net_op *o = &n->ops[i];
    sb_printf(b, "[%s]\nkind = %s\nsrc = %s\n", o->name, net_op_kind_name(o->kind),
              src_name(n, o->src));
    int base = 0; /* a conv's out before width scaling, as the file gave it */
    switch (o->kind) {
    case NET_OP_CONV:
        parse_count(r->val[LK_OUT], 1, NET_MAX_CHANNELS, &base);
        sb_printf(b, "out = %d\nkernel = %d\nstride = %d\npad = %d\nbias = %s\nshortcut = %s\n",
                  base, o->kh, o->stride, o->pad, o->bias ? "yes" : "no",
                  o->shortcut ? "yes" : "no");
        break;
    case NET_OP_BN:
        sb_printf(b, "shortcut = %s\n", o->shortcut ? "yes" : "no");
        break;
    case NET_OP_MAXPOOL:
    case NET_OP_AVGPOOL:
        if (!strcmp(r->val[LK_KERNEL], LAYER_GLOBAL))
            sb_printf(b, "kernel = %s\n", LAYER_GLOBAL);
        else
            sb_printf(b, "kernel = %d\nstride = %d\npad = %d\n", o->kh, o->stride, o->pad);
        break;
    case NET_OP_FC:
        if (!strcmp(r->val[LK_OUT], LAYER_CLASSES))
            sb_printf(b, "out = %s\n", LAYER_CLASSES);
        else
            sb_printf(b, "out = %d\n", o->out.c);
        break;
    case NET_OP_ADD:
        sb_printf(b, "src2 = %s\n", src_name(n, o->src2));
        break;
    default:
        break;
    }
    if (o->exit < 0) {
        sb_printf(b, "exit = no\n\n");
        return;
    }
    const net_exit *e = &n->exits[o->exit];
    sb_printf(b, "exit = yes\nexit_name = %s\nbof = %s\nfc_pair = %s\n\n", e->name,
              n->bofs[e->bof].name, n->fcs[e->fc_pair].name);
}

/* Kind and keys of an op section; the kind or -1. */
static int op_kind(layer_ctx *x, const layer_raw *r)
{
    if (!r->key_line[LK_KIND])
        return layer_fail(x, r->line, "op '%s' has no kind (%s)", r->name, KIND_LIST), -1;
    int kind = 0;
    while (kind < NET_OP_KIND_COUNT && strcmp(r->val[LK_KIND], op_kind_names[kind])) kind++;
    if (kind == NET_OP_KIND_COUNT)
        return layer_fail(x, r->key_line[LK_KIND], "unknown kind '%s' (expected %s)",
                          r->val[LK_KIND], KIND_LIST),
               -1;
    int bad = -1; /* the first key, by line, that does not apply */
    for (int k = 0; k < LK_COUNT; k++)
        if (r->key_line[k] && !(layer_keys[k].kinds & KIND_BIT(kind)) &&
            (bad < 0 || r->key_line[k] < r->key_line[bad]))
            bad = k;
    if (bad >= 0)
        return layer_fail(x, r->key_line[bad], "key '%s' does not apply to kind %s",
                          layer_keys[bad].name, op_kind_names[kind]),
               -1;
    for (int k = 0; k < LK_COUNT; k++)
        if ((layer_required[kind] & KEY_BIT(k)) && !r->key_line[k])
            return layer_fail(x, r->line, "%s '%s' needs key '%s'", op_kind_names[kind], r->name,
                              layer_keys[k].name),
                   -1;
    return kind;
}

/* Build the op of section r (the next op) with its exit; false on an error. */
static bool build_op(layer_ctx *x, net *n, const layer_raw *r)
{
    int kind = op_kind(x, r);
    if (kind < 0 || !check_name(x, r->line, "op", r->name, kind_suffix_len((net_op_kind)kind)))
        return false;
    if (!strcmp(r->name, LAYER_INPUT))
        return layer_fail(x, r->line, "op name '%s' is reserved for the network input",
                          LAYER_INPUT);
    int dup = net_op_by_name(n, r->name);
    if (dup >= 0)
        return layer_fail(x, r->line, "duplicate op name '%s' (first at line %d)", r->name,
                          x->raw[dup].line + x->line_offset);
    int src = n->n_ops - 1, i = -1;
    if (!key_src(x, n, r, LK_SRC, &src)) return false;
    switch ((net_op_kind)kind) {
    case NET_OP_CONV:
        i = build_conv(x, n, r, src);
        break;
    case NET_OP_BN: {
        bool shortcut = false;
        if (key_bool(x, r, LK_SHORTCUT, &shortcut)) i = add_bn(n, r->name, src, shortcut);
        break;
    }
    case NET_OP_RELU:
        i = add_relu(n, r->name, src);
        break;
    case NET_OP_MAXPOOL:
    case NET_OP_AVGPOOL:
        i = build_pool(x, n, r, (net_op_kind)kind, src);
        break;
    case NET_OP_FC:
        i = build_fc(x, n, r, src);
        break;
    case NET_OP_ADD:
        i = build_add(x, n, r, src);
        break;
    default:
        break;
    }
    bool ok = i >= 0 && build_exit(x, n, r, i);
    if (n->oom) return layer_oom(x); /* a list did not grow: no other message applies */
    if (!ok) return false;
    x->macs += n->ops[i].macs;
    x->params += n->ops[i].params;
    op_text(&x->text, n, i, r);
    return true;
}

/* The last op is the final classifier: an fc with out = classes (build_exit refused its exit). */
static bool check_final(layer_ctx *x, const net *n)
{
    if (!n->n_ops)
        return layer_fail(x, 0, "no ops (the last op must be an fc with out = %s)", LAYER_CLASSES);
    const net_op *o = &n->ops[n->n_ops - 1];
    const layer_raw *r = &x->raw[n->n_ops - 1];
    if (o->kind != NET_OP_FC || o->out.c != n->classes)
        return layer_fail(x, r->line,
                          "the last op '%s' must be the final classifier: an fc with out = %s "
                          "(%d)",
                          o->name, LAYER_CLASSES, n->classes);
    return true;
}

/* [net] coarse_exits: exit names, separated by commas and/or spaces, stored ascending. */
static bool resolve_coarse(layer_ctx *x, net *n)
{
    static const char seps[] = ", \t";
    for (const char *p = x->coarse + strspn(x->coarse, seps); *p; p += strspn(p, seps)) {
        char tok[LAYER_LIST_MAX];
        size_t len = strcspn(p, seps);
        memcpy(tok, p, len);
        tok[len] = '\0';
        p += len;
        int e = net_exit_by_name(n, tok);
        if (e < 0 || e == n->n_exits)
            return layer_fail(x, x->coarse_line, "coarse_exits: unknown exit '%s'", tok);
        if (n->n_coarse == NET_MAX_COARSE)
            return layer_fail(x, x->coarse_line, "coarse_exits lists more than %d exits",
                              NET_MAX_COARSE);
        int at = n->n_coarse++;
        for (; at > 0 && n->coarse[at - 1] >= e; at--) {
            if (n->coarse[at - 1] == e)
                return layer_fail(x, x->coarse_line, "coarse_exits lists '%s' twice", tok);
            n->coarse[at] = n->coarse[at - 1];
        }
        n->coarse[at] = e;
    }
    return true;
}

static int tensor_cmp(const void *a, const void *b)
{
    return strcmp((*(const net_tensor *const *)a)->name, (*(const net_tensor *const *)b)->name);
}

/* Owner (op, BoF module or FC pair) of tensor t and the line that made it. */
static const char *tensor_owner(const layer_ctx *x, const net *n, int t, int *line)
{
    for (int i = 0; i < n->n_ops; i++)
        if (t < n->ops[i].tensor_first + n->ops[i].tensor_count)
            return *line = x->raw[i].line, n->ops[i].name;
    for (int i = 0; i < n->n_bofs; i++)
        if (t < n->bofs[i].tensor_first + n->bofs[i].tensor_count)
            return *line = x->bof_line[i], n->bofs[i].name;
    for (int i = 0; i < n->n_fcs; i++)
        if (t < n->fcs[i].tensor_first + n->fcs[i].tensor_count)
            return *line = x->fc_line[i], n->fcs[i].name;
    return *line = 0, "?";
}

/* Tensor names are a model file's keys: no two may be equal. */
static bool check_tensor_names(layer_ctx *x, const net *n)
{
    if (n->n_tensors < 2) return true;
    const net_tensor **sorted = malloc((size_t)n->n_tensors * sizeof *sorted);
    if (!sorted) return layer_oom(x);
    for (int i = 0; i < n->n_tensors; i++) sorted[i] = &n->tensors[i];
    qsort(sorted, (size_t)n->n_tensors, sizeof *sorted, tensor_cmp);
    bool ok = true;
    for (int i = 1; ok && i < n->n_tensors; i++) {
        if (strcmp(sorted[i - 1]->name, sorted[i]->name)) continue;
        int la, lb;
        const char *a = tensor_owner(x, n, (int)(sorted[i - 1] - n->tensors), &la);
        const char *b = tensor_owner(x, n, (int)(sorted[i] - n->tensors), &lb);
        ok = layer_fail(x, la > lb ? la : lb, "tensor name '%s' belongs to both '%s' and '%s'",
                        sorted[i]->name, a, b);
    }
    free(sorted);
    return ok;
}

/* Build n's ops, exits and canonical text from the parsed sections. */
static bool layer_build(layer_ctx *x, net *n)
{
    static const char *const no_coarse[] = {NULL};
    for (int i = 0; i < x->n_raw; i++)
        if (!build_op(x, n, &x->raw[i])) return false;
    if (!check_final(x, n)) return false;
    finish(n, no_coarse);
    if (n->oom) return layer_oom(x);
    if (!resolve_coarse(x, n) || !check_tensor_names(x, n)) return false;

    strbuf all = {0};
    if (n->n_coarse) {
        sb_printf(&all, "[%s]\ncoarse_exits =", LAYER_NET);
        for (int i = 0; i < n->n_coarse; i++)
            sb_printf(&all, "%s %s", i ? "," : "", n->exits[n->coarse[i]].name);
        sb_printf(&all, "\n\n");
    }
    sb_printf(&all, "%s", x->text.s ? x->text.s : "");
    if (all.oom || x->text.oom) {
        free(all.s);
        return layer_oom(x);
    }
    n->layers = all.s;
    return true;
}

/* Build a network from the layer list text[0..len) named path in messages (line_offset lines
 * precede it). */
static int build_layers(net **out, const char *path, int line_offset, const char *text, size_t len,
                        double width, int h, int w, int c, int classes, char *err, size_t errlen)
{
    int rc = check_args(NULL, width, h, w, c, classes, err, errlen);
    if (rc) return rc;
    if (len > LAYER_TEXT_MAX_BYTES) {
        set_err(err, errlen, "%s: layer list longer than %d bytes", path, LAYER_TEXT_MAX_BYTES);
        return NET_EARG;
    }
    layer_ctx *x = calloc(1, sizeof *x);
    net *n = calloc(1, sizeof *n);
    if (!x || !n) {
        free(x);
        free(n);
        set_err(err, errlen, "%s: out of memory reading the layer list", path);
        return NET_ENOMEM;
    }
    x->path = path;
    x->line_offset = line_offset;
    x->buf = text;
    x->len = len;
    set_name(n->arch, "%s", NET_LAYERS_ARCH);
    n->width = width;
    n->input = (net_shape){c, h, w};
    n->classes = classes;
    bool ok = layer_parse(x) && layer_build(x, n);
    rc = ok ? NET_OK : x->oom ? NET_ENOMEM : NET_EARG;
    if (ok)
        *out = n;
    else {
        set_err(err, errlen, "%s", x->msg);
        net_free(n);
    }
    free(x->raw);
    free(x->bof_line);
    free(x->fc_line);
    free(x->text.s);
    free(x);
    return rc;
}

/* Read a whole layer-list file into *text (malloc'd); it stops a little past
 * LAYER_TEXT_MAX_BYTES so that build_layers reports a longer file. */
static int read_layer_file(const char *path, char **text, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        if (e == ENOENT && !strpbrk(path, "/.")) { /* a bare word: a misspelt arch */
            set_err(err, errlen, "unknown arch '%s' (expected vgg19 or resnet34)", path);
            return NET_EARG;
        }
        set_err(err, errlen, "%s: cannot open: %s", path, strerror(e));
        return NET_EIO;
    }
    size_t cap = 0, used = 0;
    char *buf = NULL;
    int rc = NET_OK;
    while (used <= LAYER_TEXT_MAX_BYTES) {
        if (used == cap) {
            size_t ncap = cap ? cap * 2 : LAYER_READ_CHUNK;
            char *p = realloc(buf, ncap);
            if (!p) {
                rc = NET_ENOMEM;
                break;
            }
            buf = p;
            cap = ncap;
        }
        size_t got = fread(buf + used, 1, cap - used, f);
        used += got;
        if (got == 0) break;
    }
    int e = errno;
    if (!rc && ferror(f)) {
        set_err(err, errlen, "%s: cannot read: %s", path, strerror(e));
        rc = NET_EIO;
    } else if (rc) {
        set_err(err, errlen, "%s: out of memory reading the layer list", path);
    }
    fclose(f);
    if (rc) {
        free(buf);
        return rc;
    }
    *text = buf;
    *len = used;
    return NET_OK;
}

static int build_layer_file(net **out, const char *path, double width, int h, int w, int c,
                            int classes, char *err, size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    int rc = read_layer_file(path, &text, &len, err, errlen);
    if (!rc) rc = build_layers(out, path, 0, text, len, width, h, w, c, classes, err, errlen);
    free(text);
    return rc;
}

/* ---- architecture text ---- */

/* Skip literal lit at *p; false when it is not there. */
static bool skip_lit(const char **p, const char *lit)
{
    size_t n = strlen(lit);
    if (strncmp(*p, lit, n)) return false;
    *p += n;
    return true;
}

/* A decimal int of digits only at *p (no sign, no overflow). */
static bool take_int(const char **p, int *out)
{
    const char *s = *p;
    long long v = 0;
    while (isdigit((unsigned char)*s)) {
        v = v * 10 + (*s++ - '0');
        if (v > INT_MAX) return false;
    }
    if (s == *p) return false;
    *p = s;
    *out = (int)v;
    return true;
}

/* The first line of an arch text: "arch=A width=W input=HxWxC classes=N"; *rest is what follows
 * its newline, or NULL when the text ends there. */
static bool parse_arch_line(const char *text, char arch[ARCH_TOKEN_MAX], double *width, int *h,
                            int *w, int *c, int *classes, const char **rest)
{
    const char *p = text;
    if (!skip_lit(&p, "arch=")) return false;
    size_t n = strcspn(p, " \n");
    if (n == 0 || n >= ARCH_TOKEN_MAX) return false;
    memcpy(arch, p, n);
    arch[n] = '\0';
    p += n;
    if (!skip_lit(&p, " width=") || isspace((unsigned char)*p)) return false;
    char *end = NULL;
    *width = strtod(p, &end);
    if (end == p) return false;
    p = end;
    if (!skip_lit(&p, " input=") || !take_int(&p, h) || !skip_lit(&p, "x") || !take_int(&p, w) ||
        !skip_lit(&p, "x") || !take_int(&p, c) || !skip_lit(&p, " classes=") ||
        !take_int(&p, classes))
        return false;
    if (*p == '\0') return *rest = NULL, true;
    if (*p != '\n') return false;
    *rest = p + 1;
    return true;
}

int net_build_arch_text(net **out, const char *text, char *err, size_t errlen)
{
    if (!out || !text) {
        set_err(err, errlen, "net_build_arch_text: missing argument");
        if (out) *out = NULL;
        return NET_EARG;
    }
    *out = NULL;
    int line_len = (int)strcspn(text, "\n");
    char arch[ARCH_TOKEN_MAX];
    double width = 0;
    int h = 0, w = 0, c = 0, classes = 0;
    const char *rest = NULL;
    if (!parse_arch_line(text, arch, &width, &h, &w, &c, &classes, &rest)) {
        set_err(err, errlen, "cannot parse architecture text '%.*s'", line_len, text);
        return NET_EARG;
    }
    char why[LAYER_MSG_MAX] = "";
    int rc;
    if (!strcmp(arch, NET_LAYERS_ARCH)) {
        rc = build_layers(out, TEXT_LABEL, 1, rest ? rest : "", rest ? strlen(rest) : 0, width, h,
                          w, c, classes, why, sizeof why);
    } else if (!find_arch(arch)) {
        snprintf(why, sizeof why, "unknown arch '%s' (expected vgg19, resnet34 or %s)", arch,
                 NET_LAYERS_ARCH);
        rc = NET_EARG;
    } else if (rest) {
        snprintf(why, sizeof why, "text after the first line (only arch=%s has a layer list)",
                 NET_LAYERS_ARCH);
        rc = NET_EARG;
    } else {
        rc = net_build(out, arch, width, h, w, c, classes, why, sizeof why);
    }
    if (rc) set_err(err, errlen, "architecture '%.*s': %s", line_len, text, why);
    return rc;
}

/* ---- construction ---- */

int net_build(net **out, const char *arch, double width, int h, int w, int c, int classes,
              char *err, size_t errlen)
{
    if (!out) {
        set_err(err, errlen, "net_build: no place for the result");
        return NET_EARG;
    }
    *out = NULL;
    const arch_spec *a = find_arch(arch);
    if (!a && arch) return build_layer_file(out, arch, width, h, w, c, classes, err, errlen);
    if (!a) {
        set_err(err, errlen, "unknown arch '%s' (expected vgg19 or resnet34)",
                arch ? arch : "(null)");
        return NET_EARG;
    }
    int rc = check_args(a, width, h, w, c, classes, err, errlen);
    if (rc) return rc;

    net *n = calloc(1, sizeof *n);
    if (!n) goto fail_nomem;
    set_name(n->arch, "%s", a->name);
    n->width = width;
    n->input = (net_shape){c, h, w};
    n->classes = classes;
    a->build(n);
    finish(n, a->coarse);
    if (n->oom) goto fail_nomem;
    *out = n;
    return NET_OK;

fail_nomem:
    net_free(n);
    set_err(err, errlen, "out of memory building %s", a->name);
    return NET_ENOMEM;
}

void net_free(net *n)
{
    if (!n) return;
    free(n->ops);
    free(n->exits);
    free(n->bofs);
    free(n->fcs);
    free(n->tensors);
    free(n->layers);
    free(n);
}

/* ---- accessors ---- */

const char *net_arch(const net *n)
{
    return n->arch;
}

double net_width(const net *n)
{
    return n->width;
}

net_shape net_input(const net *n)
{
    return n->input;
}

int net_classes(const net *n)
{
    return n->classes;
}

int net_arch_text(const net *n, char *buf, size_t len)
{
    return snprintf(buf, len, "arch=%s width=%.17g input=%dx%dx%d classes=%d%s%s", n->arch,
                    n->width, n->input.h, n->input.w, n->input.c, n->classes, n->layers ? "\n" : "",
                    n->layers ? n->layers : "");
}

int net_op_count(const net *n)
{
    return n->n_ops;
}

const net_op *net_op_at(const net *n, int i)
{
    return i >= 0 && i < n->n_ops ? &n->ops[i] : NULL;
}

int net_op_by_name(const net *n, const char *name)
{
    for (int i = 0; name && i < n->n_ops; i++)
        if (!strcmp(n->ops[i].name, name)) return i;
    return -1;
}

const char *net_op_kind_name(net_op_kind kind)
{
    return (unsigned)kind < NET_OP_KIND_COUNT ? op_kind_names[kind] : "?";
}

int net_exit_count(const net *n)
{
    return n->n_exits;
}

const net_exit *net_exit_at(const net *n, int i)
{
    return i >= 0 && i <= n->n_exits ? &n->exits[i] : NULL;
}

int net_exit_by_name(const net *n, const char *name)
{
    for (int i = 0; name && i <= n->n_exits; i++)
        if (!strcmp(n->exits[i].name, name)) return i;
    return -1;
}

int net_coarse_exits(const net *n, const int **exits)
{
    *exits = n->coarse;
    return n->n_coarse;
}

int net_bof_count(const net *n)
{
    return n->n_bofs;
}

const net_bof *net_bof_at(const net *n, int i)
{
    return i >= 0 && i < n->n_bofs ? &n->bofs[i] : NULL;
}

int net_fc_pair_count(const net *n)
{
    return n->n_fcs;
}

const net_fc_pair *net_fc_pair_at(const net *n, int i)
{
    return i >= 0 && i < n->n_fcs ? &n->fcs[i] : NULL;
}

int net_tensor_count(const net *n)
{
    return n->n_tensors;
}

const net_tensor *net_tensor_at(const net *n, int i)
{
    return i >= 0 && i < n->n_tensors ? &n->tensors[i] : NULL;
}

int net_tensor_by_name(const net *n, const char *name)
{
    for (int i = 0; name && i < n->n_tensors; i++)
        if (!strcmp(n->tensors[i].name, name)) return i;
    return -1;
}

uint64_t net_param_count(const net *n)
{
    return n->totals.params;
}

uint64_t net_trainable_count(const net *n)
{
    return n->totals.trainable_params;
}

const net_totals *net_get_totals(const net *n)
{
    return &n->totals;
}

/* ---- info table ---- */

enum {
    COL_INDEX = 3,
    COL_KIND = 7,
    COL_SHAPE = 14,
    COL_PARAMS = 10,
    COL_MACS = 13,
    COL_EXIT = 4,
    COL_EXIT_MACS = 11,
    COL_SHARE = 7,
    COL_VEC = 11,
    SHAPE_TEXT = 40,
};

static double mega(uint64_t x)
{
    return (double)x / MACS_PER_MEGA;
}

static void print_header(const net *n, FILE *out, int name_w, unsigned flags)
{
    fprintf(out, "%s width %g, input %dx%dx%d, %d classes, %d ops, %d exits\n", n->arch, n->width,
            n->input.h, n->input.w, n->input.c, n->classes, n->n_ops, n->n_exits);
    fprintf(out, "%*s  %-*s  %-*s  %*s  %*s  %*s", COL_INDEX, "#", name_w, "layer", COL_KIND,
            "kind", COL_SHAPE, "out (CxHxW)", COL_PARAMS, "params", COL_MACS, "MACs");
    if (flags & NET_PRINT_PROXY) fprintf(out, "  %*s", COL_MACS, "proxy MACs");
    if (flags & NET_PRINT_VEC_OPS) fprintf(out, "  %*s", COL_VEC, "vec ops");
    fprintf(out, "  %*s  %*s  %*s\n", COL_EXIT, "exit", COL_EXIT_MACS, "exit MACs", COL_SHARE,
            "cum %");
}

static void print_row(const net *n, FILE *out, int i, int name_w, unsigned flags, uint64_t cum_macs)
{
    const net_op *o = &n->ops[i];
    char shape[SHAPE_TEXT];
    snprintf(shape, sizeof shape, "%dx%dx%d", o->out.c, o->out.h, o->out.w);
    fprintf(out, "%*d  %-*s  %-*s  %*s  %*llu  %*llu", COL_INDEX, i, name_w, o->name, COL_KIND,
            net_op_kind_name(o->kind), COL_SHAPE, shape, COL_PARAMS, (unsigned long long)o->params,
            COL_MACS, (unsigned long long)o->macs);
    if (flags & NET_PRINT_PROXY)
        fprintf(out, "  %*llu", COL_MACS, (unsigned long long)o->proxy_macs);
    if (flags & NET_PRINT_VEC_OPS) fprintf(out, "  %*llu", COL_VEC, (unsigned long long)o->vec_ops);
    if (o->exit >= 0)
        fprintf(out, "  %*d  %*llu", COL_EXIT, o->exit, COL_EXIT_MACS,
                (unsigned long long)n->exits[o->exit].macs);
    else
        fprintf(out, "  %*s  %*s", COL_EXIT, "-", COL_EXIT_MACS, "-");
    double total = (double)n->totals.backbone_macs;
    fprintf(out, "  %*.2f\n", COL_SHARE, total > 0 ? PERCENT * (double)cum_macs / total : 0.0);
}

/* Totals; the proxy and vec-op sums only when their columns were asked for. */
static void print_totals(const net *n, FILE *out, unsigned flags)
{
    const net_totals *t = &n->totals;
    fprintf(out, "backbone:   %llu MACs (%.3f M MACs)", (unsigned long long)t->backbone_macs,
            mega(t->backbone_macs));
    if (flags & NET_PRINT_PROXY)
        fprintf(out, ", %llu proxy MACs", (unsigned long long)t->backbone_proxy_macs);
    if (flags & NET_PRINT_VEC_OPS)
        fprintf(out, ", %llu vec ops", (unsigned long long)t->backbone_vec_ops);
    fprintf(out, ", %llu params\n", (unsigned long long)t->backbone_params);
    fprintf(out, "exit heads: %llu MACs summed over %d exits (%.3f M MACs)",
            (unsigned long long)t->exit_macs, n->n_exits, mega(t->exit_macs));
    if (flags & NET_PRINT_VEC_OPS)
        fprintf(out, ", %llu vec ops", (unsigned long long)t->exit_vec_ops);
    fprintf(out, ", %d BoF modules + %d FC pairs = %llu params\n", n->n_bofs, n->n_fcs,
            (unsigned long long)t->head_params);
    fprintf(out, "parameters: %llu stored in %d tensors (%llu trainable)\n",
            (unsigned long long)t->params, n->n_tensors, (unsigned long long)t->trainable_params);
}

int net_print_table(const net *n, FILE *out, unsigned flags)
{
    int name_w = (int)strlen("layer");
    for (int i = 0; i < n->n_ops; i++) {
        int len = (int)strlen(n->ops[i].name);
        if (len > name_w) name_w = len;
    }
    print_header(n, out, name_w, flags);
    uint64_t cum = 0;
    for (int i = 0; i < n->n_ops; i++) {
        cum += n->ops[i].macs;
        print_row(n, out, i, name_w, flags, cum);
    }
    print_totals(n, out, flags);
    return ferror(out) ? NET_EIO : NET_OK;
}

int net_print_info(const net *n, FILE *out)
{
    return net_print_table(n, out, 0);
}
