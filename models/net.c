/* Network descriptions: generators for multi-exit VGG-19 (BN) and CIFAR ResNet-34 built from
 * layer tables, the shape/MAC/parameter bookkeeping of every backbone op and exit head, and the
 * per-layer info table. Conventions and tensor names are documented in net.h. */
#include "net.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

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
    bool oom; /* sticky: some allocation failed while building */
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

/* Make room for need elements of size bytes in *arr; false (and n->oom) on failure. */
static bool grow(net *n, void **arr, int *cap, int need, size_t size)
{
    if (n->oom) return false;
    if (need <= *cap) return true;
    int ncap = *cap ? *cap : INITIAL_CAPACITY;
    while (ncap < need) ncap *= 2;
    void *p = realloc(*arr, (size_t)ncap * size);
    if (!p) {
        n->oom = true;
        return false;
    }
    *arr = p;
    *cap = ncap;
    return true;
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

/* Pooling with a square window and no padding; one element operation per input element. */
static int add_pool(net *n, const char *name, net_op_kind kind, int src, int k, int stride)
{
    int i = new_op(n, name, kind, src);
    if (i < 0) return -1;
    net_op *o = &n->ops[i];
    o->kh = o->kw = k;
    o->stride = stride;
    o->out.h = window_out(o->in.h, k, stride, 0);
    o->out.w = window_out(o->in.w, k, stride, 0);
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
        cur = add_pool(n, name, NET_OP_MAXPOOL, cur, POOL_WINDOW, POOL_STRIDE);
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
    cur = add_pool(n, "avgpool", NET_OP_AVGPOOL, cur, s.h, s.h); /* global: the map is square */
    add_fc(n, "classifier", cur, n->classes);
}

/* Head tensors (after every backbone tensor), the final pseudo-exit, cumulative MACs, totals. */
static void finish(net *n, const arch_spec *a)
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

    for (int i = 0; a->coarse[i] && n->n_coarse < NET_MAX_COARSE; i++) {
        int e = net_exit_by_name(n, a->coarse[i]);
        if (e >= 0) n->coarse[n->n_coarse++] = e;
    }
}

/* ---- construction ---- */

static int check_args(const arch_spec *a, double width, int h, int w, int c, int classes, char *err,
                      size_t errlen)
{
    if (!(isfinite(width) && width > 0)) {
        set_err(err, errlen, "width must be a positive number (got %g)", width);
        return NET_EARG;
    }
    if (scale_channels(a->widest_channels, fmin(width, NET_MAX_CHANNELS)) > NET_MAX_CHANNELS) {
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
    if (h != w) {
        set_err(err, errlen, "input %dx%dx%d: %s needs a square input", h, w, c, a->name);
        return NET_EARG;
    }
    if (h % a->side_multiple) {
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

int net_build(net **out, const char *arch, double width, int h, int w, int c, int classes,
              char *err, size_t errlen)
{
    if (!out) {
        set_err(err, errlen, "net_build: no place for the result");
        return NET_EARG;
    }
    *out = NULL;
    const arch_spec *a = NULL;
    for (size_t i = 0; arch && i < ARCH_SPECS; i++)
        if (!strcmp(arch, arch_specs[i].name)) a = &arch_specs[i];
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
    finish(n, a);
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
    return snprintf(buf, len, "arch=%s width=%.17g input=%dx%dx%d classes=%d", n->arch, n->width,
                    n->input.h, n->input.w, n->input.c, n->classes);
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
