/* Tests of models/net: CIFAR VGG-19 and ResNet-34 totals against hand-computed MACs, single
 * layers and exit heads, exit order, windows and features, sharing, parameter and tensor lists
 * (against a slow reference count from the channel tables), width scaling, errors, the table;
 * layer-list files (tests/nets): a hand-computed tiny net, files that describe the generators'
 * networks exactly, every promised error, hostile files, and architecture-text round trips. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net.h"

enum { CIFAR_SIDE = 32, CIFAR_CHANNELS = 3, CLASSES = 10, ERR_LEN = 256 };

static const double MACS_TOLERANCE = 0.002; /* ±0.2 % against the DESIGN reference figures */
static const double VGG19_REF_MACS = 398.1e6;
static const double RESNET34_REF_MACS = 1159.4e6;

/* Hand counts, CIFAR 32×32×3, width 1, 10 classes. VGG conv stack, per stage
 * H·W·9·(C_in·C + (convs−1)·C²): 39 518 208 + 56 623 104 + 132 120 576 + 132 120 576 +
 * 37 748 736 = 398 131 200; the FC adds 512·10. */
static const uint64_t VGG19_CONV_MACS = 398131200u;
static const uint64_t VGG19_FC_MACS = 512u * CLASSES;
/* ResNet-34: stem 1 769 472; stage 1 6 × 37 748 736; stages 2-4 each 18 874 368 (strided conv1)
 * + 2 097 152 (projection) + (2·blocks − 1) × 37 748 736; FC 5 120. */
static const uint64_t RESNET34_MACS = 1159402496u;

/* ---- helpers ---- */

static net *build(const char *arch, double width, int side, int channels)
{
    net *n = NULL;
    char err[ERR_LEN] = "";
    int rc = net_build(&n, arch, width, side, side, channels, CLASSES, err, sizeof err);
    if (rc) fail_msg("net_build(%s, %g, %d, %d): %s", arch, width, side, channels, err);
    assert_non_null(n);
    return n;
}

static const net_op *op_named(const net *n, const char *name)
{
    int i = net_op_by_name(n, name);
    if (i < 0) fail_msg("no op named %s", name);
    return net_op_at(n, i);
}

static const net_exit *exit_named(const net *n, const char *name)
{
    int i = net_exit_by_name(n, name);
    if (i < 0) fail_msg("no exit named %s", name);
    return net_exit_at(n, i);
}

static const net_tensor *tensor_named(const net *n, const char *name)
{
    int i = net_tensor_by_name(n, name);
    if (i < 0) fail_msg("no tensor named %s", name);
    return net_tensor_at(n, i);
}

static void assert_shape(net_shape s, int c, int h, int w)
{
    assert_int_equal(s.c, c);
    assert_int_equal(s.h, h);
    assert_int_equal(s.w, w);
}

/* Reference VGG-19 conv channels at width 1 (DESIGN section 3), pools after convs 2, 4, 8, 12. */
static const int vgg_ref_channels[] = {64,  64,  128, 128, 256, 256, 256, 256,
                                       512, 512, 512, 512, 512, 512, 512, 512};
static const int vgg_ref_pool_after[] = {2, 4, 8, 12, 16};
#define VGG_REF_CONVS (sizeof vgg_ref_channels / sizeof vgg_ref_channels[0])

static bool vgg_ref_pool_follows(size_t conv_no)
{
    for (size_t i = 0; i < sizeof vgg_ref_pool_after / sizeof vgg_ref_pool_after[0]; i++)
        if (vgg_ref_pool_after[i] == (int)conv_no) return true;
    return false;
}

/* Slow reference: conv MACs of a square-input VGG-19 with conv channels ch[0..15]. */
static uint64_t vgg_ref_conv_macs(int side, int in_c, const int *ch)
{
    uint64_t macs = 0;
    int map = side, c_in = in_c;
    for (size_t i = 0; i < VGG_REF_CONVS; i++) {
        macs += (uint64_t)map * map * ch[i] * c_in * 9;
        c_in = ch[i];
        if (vgg_ref_pool_follows(i + 1)) map /= 2;
    }
    return macs;
}

/* ---- CIFAR totals ---- */

static void test_vgg19_cifar_totals(void **state)
{
    (void)state;
    net *n = build("vgg19", 1.0, CIFAR_SIDE, CIFAR_CHANNELS);
    const net_totals *t = net_get_totals(n);
    assert_int_equal(vgg_ref_conv_macs(CIFAR_SIDE, CIFAR_CHANNELS, vgg_ref_channels),
                     VGG19_CONV_MACS);
    assert_int_equal(t->backbone_macs, VGG19_CONV_MACS + VGG19_FC_MACS);
    assert_true(fabs((double)t->backbone_macs / VGG19_REF_MACS - 1.0) <= MACS_TOLERANCE);
    /* the proxy drops the 3×3 kernel: conv MACs / 9, plus the FC */
    assert_int_equal(t->backbone_proxy_macs, VGG19_CONV_MACS / 9 + VGG19_FC_MACS);
    assert_int_equal(net_op_count(n), 16 * 3 + 5 + 1);
    net_free(n);
}

static void test_resnet34_cifar_totals(void **state)
{
    (void)state;
    net *n = build("resnet34", 1.0, CIFAR_SIDE, CIFAR_CHANNELS);
    const net_totals *t = net_get_totals(n);
    uint64_t conv = 37748736u, strided = 18874368u, proj = 2097152u;
    uint64_t hand = 1769472u + 6 * conv + (strided + proj + 7 * conv) +
                    (strided + proj + 11 * conv) + (strided + proj + 5 * conv) + 512u * CLASSES;
    assert_int_equal(hand, RESNET34_MACS);
    assert_int_equal(t->backbone_macs, RESNET34_MACS);
    assert_true(fabs((double)t->backbone_macs / RESNET34_REF_MACS - 1.0) <= MACS_TOLERANCE);
    /* 3 stem ops, 16 blocks of 7 ops, 3 projections of 2, avgpool, classifier */
    assert_int_equal(net_op_count(n), 3 + 16 * 7 + 3 * 2 + 2);
    net_free(n);
}

/* ---- single layers ---- */

static void test_vgg19_layers(void **state)
{
    (void)state;
    net *n = build("vgg19", 1.0, CIFAR_SIDE, CIFAR_CHANNELS);
    const net_op *o = op_named(n, "conv1");
    assert_int_equal(o->kind, NET_OP_CONV);
    assert_int_equal(o->src, -1);
    assert_shape(o->in, 3, 32, 32);
    assert_shape(o->out, 64, 32, 32);
    assert_int_equal(o->kh, 3);
    assert_int_equal(o->stride, 1);
    assert_int_equal(o->pad, 1);
    assert_int_equal(o->macs, 32u * 32 * 64 * 3 * 9); /* 1 769 472 */
    assert_int_equal(o->macs, 1769472u);
    assert_int_equal(o->proxy_macs, 32u * 32 * 3 * 64);
    assert_int_equal(o->vec_ops, 0);
    assert_int_equal(op_named(n, "conv2")->macs, 37748736u);
    assert_int_equal(op_named(n, "conv3")->macs, 16u * 16 * 128 * 64 * 9);
    assert_int_equal(op_named(n, "conv13")->macs, 2u * 2 * 512 * 512 * 9);

    o = op_named(n, "conv1.bn");
    assert_int_equal(o->kind, NET_OP_BN);
    assert_int_equal(o->macs, 0);
    assert_int_equal(o->vec_ops, 64u * 32 * 32);
    assert_int_equal(o->src, net_op_by_name(n, "conv1"));
    assert_int_equal(op_named(n, "conv1.relu")->vec_ops, 64u * 32 * 32);

    o = op_named(n, "pool1");
    assert_int_equal(o->kind, NET_OP_MAXPOOL);
    assert_int_equal(o->src, net_op_by_name(n, "conv2.relu"));
    assert_shape(o->out, 64, 16, 16);
    assert_int_equal(o->macs, 0);
    assert_int_equal(o->vec_ops, 64u * 32 * 32); /* one per input element */
    assert_shape(op_named(n, "pool5")->out, 512, 1, 1);

    o = op_named(n, "classifier");
    assert_int_equal(o->kind, NET_OP_FC);
    assert_int_equal(o->macs, 512u * CLASSES);
    assert_int_equal(o->proxy_macs, 512u * CLASSES);
    assert_shape(o->out, CLASSES, 1, 1);
    assert_int_equal(net_op_count(n) - 1, net_op_by_name(n, "classifier"));
    net_free(n);
}

static void test_resnet34_layers(void **state)
{
    (void)state;
    net *n = build("resnet34", 1.0, CIFAR_SIDE, CIFAR_CHANNELS);
    assert_int_equal(op_named(n, "stem.conv")->macs, 1769472u);
    assert_false(op_named(n, "stem.conv")->bias);

    const net_op *o = op_named(n, "s2b1.conv1");
    assert_int_equal(o->stride, 2);
    assert_shape(o->in, 64, 32, 32);
    assert_shape(o->out, 128, 16, 16);
    assert_int_equal(o->macs, 16u * 16 * 128 * 64 * 9); /* 18 874 368 */
    assert_int_equal(o->src, net_op_by_name(n, "s1b3.relu2"));

    o = op_named(n, "s2b1.proj.conv");
    assert_int_equal(o->kind, NET_OP_CONV);
    assert_true(o->shortcut);
    assert_int_equal(o->kh, 1);
    assert_int_equal(o->stride, 2);
    assert_int_equal(o->pad, 0);
    assert_int_equal(o->src, net_op_by_name(n, "s1b3.relu2"));
    assert_shape(o->out, 128, 16, 16);
    assert_int_equal(o->macs, 16u * 16 * 128 * 64); /* 2 097 152 */
    assert_int_equal(o->params, 128u * 64);
    assert_true(op_named(n, "s2b1.proj.bn")->shortcut);
    assert_int_equal(op_named(n, "s4b1.proj.conv")->macs, 4u * 4 * 512 * 256);
    assert_int_equal(net_op_by_name(n, "s1b1.proj.conv"), -1);
    assert_int_equal(net_op_by_name(n, "s2b2.proj.conv"), -1);

    o = op_named(n, "s2b1.add");
    assert_int_equal(o->kind, NET_OP_ADD);
    assert_int_equal(o->src, net_op_by_name(n, "s2b1.bn2"));
    assert_int_equal(o->src2, net_op_by_name(n, "s2b1.proj.bn"));
    assert_int_equal(o->macs, 0);
    assert_int_equal(o->vec_ops, 128u * 16 * 16);
    o = op_named(n, "s2b2.add"); /* identity shortcut */
    assert_int_equal(o->src2, net_op_by_name(n, "s2b1.relu2"));

    o = op_named(n, "avgpool");
    assert_int_equal(o->kind, NET_OP_AVGPOOL);
    assert_shape(o->in, 512, 4, 4);
    assert_shape(o->out, 512, 1, 1);
    assert_int_equal(o->vec_ops, 512u * 4 * 4);
    assert_int_equal(op_named(n, "classifier")->macs, 512u * CLASSES);
    net_free(n);
}

/* ---- exits ---- */

static void test_vgg19_exit_heads(void **state)
{
    (void)state;
    net *n = build("vgg19", 1.0, CIFAR_SIDE, CIFAR_CHANNELS);
    const net_exit *e = exit_named(n, "conv1");
    /* 1×1 conv 64→64 at 32×32, FC 256→64, FC 64→10 */
    assert_int_equal(e->macs, 32u * 32 * 64 * 64 + 256 * 64 + 64 * CLASSES);
    assert_int_equal(e->macs, 4194304u + 16384u + 640u);
    /* activation, normalisation, pooling over 64×32×32, n2 over 256 features */
    assert_int_equal(e->vec_ops, 3u * 64 * 32 * 32 + 256);
    e = exit_named(n, "pool1"); /* 16×16 map, s = 16: one bin, FC 256→64 skipped */
    assert_int_equal(e->macs, 16u * 16 * 64 * 64 + 64 * CLASSES);
    e = exit_named(n, "conv16");
    assert_int_equal(e->macs, 2u * 2 * 512 * 64 + 64 * CLASSES);
    assert_int_equal(net_exit_at(n, net_exit_count(n))->macs, 0);
    uint64_t sum = 0;
    for (int i = 0; i < net_exit_count(n); i++) sum += net_exit_at(n, i)->macs;
    assert_int_equal(net_get_totals(n)->exit_macs, sum);
    net_free(n);
}

static const char *const vgg_exit_names[] = {
    "conv1", "conv2", "pool1",  "conv3",  "conv4",  "pool2", "conv5",  "conv6",  "conv7",  "conv8",
    "pool3", "conv9", "conv10", "conv11", "conv12", "pool4", "conv13", "conv14", "conv15", "conv16",
};
#define VGG_EXITS (sizeof vgg_exit_names / sizeof vgg_exit_names[0])

static void test_vgg19_exit_order(void **state)
{
    (void)state;
    net *n = build("vgg19", 1.0, CIFAR_SIDE, CIFAR_CHANNELS);
    assert_int_equal(net_exit_count(n), 20);
    assert_int_equal(VGG_EXITS, 20);
    int prev_op = -1;
    for (int i = 0; i < (int)VGG_EXITS; i++) {
        const net_exit *e = net_exit_at(n, i);
        assert_string_equal(e->name, vgg_exit_names[i]);
        assert_int_equal(net_exit_by_name(n, vgg_exit_names[i]), i);
        assert_true(e->op > prev_op);
        prev_op = e->op;
        const net_op *o = net_op_at(n, e->op);
        assert_int_equal(o->exit, i);
        assert_int_equal(o->kind, strncmp(e->name, "pool", 4) ? NET_OP_RELU : NET_OP_MAXPOOL);
        assert_memory_equal(&e->in, &o->out, sizeof e->in);
    }
    assert_string_equal(net_op_at(n, net_exit_at(n, 0)->op)->name, "conv1.relu");
    const net_exit *fin = net_exit_at(n, 20);
    assert_string_equal(fin->name, "final");
    assert_int_equal(net_exit_by_name(n, "final"), 20);
    assert_int_equal(fin->op, net_op_by_name(n, "classifier"));
    assert_int_equal(fin->bof, -1);
    assert_int_equal(fin->fc_pair, -1);
    assert_int_equal(net_exit_by_name(n, "pool5"), -1);
    assert_int_equal(net_exit_by_name(n, "conv1.relu"), -1);
    assert_int_equal(net_exit_by_name(n, NULL), -1);
    assert_int_equal(op_named(n, "conv1.bn")->exit, -1);
    net_free(n);
}

static void test_resnet34_exit_order(void **state)
{
    (void)state;
    static const int blocks[] = {3, 4, 6, 3};
    net *n = build("resnet34", 1.0, CIFAR_SIDE, CIFAR_CHANNELS);
    assert_int_equal(net_exit_count(n), 32);
    int i = 0;
    char name[NET_NAME_MAX], op[NET_NAME_MAX];
    for (int st = 0; st < 4; st++)
        for (int b = 0; b < blocks[st]; b++) {
            snprintf(name, sizeof name, "s%db%d.conv1", st + 1, b + 1);
            snprintf(op, sizeof op, "s%db%d.relu1", st + 1, b + 1);
            assert_string_equal(net_exit_at(n, i)->name, name);
            assert_string_equal(net_op_at(n, net_exit_at(n, i)->op)->name, op);
            i++;
            snprintf(name, sizeof name, "s%db%d.add", st + 1, b + 1);
            snprintf(op, sizeof op, "s%db%d.relu2", st + 1, b + 1);
            assert_string_equal(net_exit_at(n, i)->name, name);
            assert_string_equal(net_op_at(n, net_exit_at(n, i)->op)->name, op);
            i++;
        }
    assert_int_equal(i, 32);
    assert_int_equal(net_exit_by_name(n, "s3b6.add"), 25);
    assert_int_equal(net_exit_by_name(n, "final"), 32);
    net_free(n);
}

static void assert_window(const net *n, const char *exit, int s, int features)
{
    const net_exit *e = exit_named(n, exit);
    assert_int_equal(e->s, s);
    assert_int_equal(e->features, features);
    assert_int_equal(e->uses_fc0, features != NET_EXIT_HIDDEN);
}

static void test_exit_windows(void **state)
{
    (void)state;
    net *n = build("vgg19", 1.0, CIFAR_SIDE, CIFAR_CHANNELS);
    assert_window(n, "conv1", 16, 256);
    assert_window(n, "pool1", 16, 64);
    assert_window(n, "conv3", 8, 256);
    assert_window(n, "pool2", 8, 64);
    assert_window(n, "conv8", 4, 256);
    assert_window(n, "pool3", 4, 64);
    assert_window(n, "conv12", 2, 256);
    assert_window(n, "pool4", 2, 64);
    for (int i = 13; i <= 16; i++) {
        char name[NET_NAME_MAX];
        snprintf(name, sizeof name, "conv%d", i);
        assert_window(n, name, 2, 64); /* 2×2 maps: already s×s */
    }
    net_free(n);

    n = build("resnet34", 1.0, CIFAR_SIDE, CIFAR_CHANNELS);
    assert_window(n, "s1b1.conv1", 16, 256);
    assert_window(n, "s1b3.add", 16, 256);
    assert_window(n, "s2b1.conv1", 8, 256); /* strided conv: already the stage's 16 px */
    assert_window(n, "s3b6.add", 4, 256);
    assert_window(n, "s4b3.add", 2, 256);
    for (int i = 0; i < net_exit_count(n); i++) assert_int_equal(net_exit_at(n, i)->features, 256);
    net_free(n);
}

static void assert_cumulative(const char *arch)
{
    net *n = build(arch, 1.0, CIFAR_SIDE, CIFAR_CHANNELS);
    uint64_t prev = 0;
    for (int i = 0; i <= net_exit_count(n); i++) {
        const net_exit *e = net_exit_at(n, i);
        uint64_t ref = 0;
        for (int k = 0; k <= e->op; k++) ref += net_op_at(n, k)->macs;
        assert_int_equal(e->backbone_macs_cum, ref);
        assert_true(e->backbone_macs_cum >= prev);
        prev = e->backbone_macs_cum;
    }
    assert_int_equal(prev, net_get_totals(n)->backbone_macs);
    net_free(n);
}

static void test_cumulative_macs(void **state)
{
    (void)state;
    assert_cumulative("vgg19");
    assert_cumulative("resnet34");
    net *n = build("vgg19", 1.0, CIFAR_SIDE, CIFAR_CHANNELS);
    assert_int_equal(exit_named(n, "conv1")->backbone_macs_cum, 1769472u);
    assert_int_equal(exit_named(n, "pool1")->backbone_macs_cum, 1769472u + 37748736u);
    assert_int_equal(exit_named(n, "conv16")->backbone_macs_cum, VGG19_CONV_MACS);
    net_free(n);
}

/* ---- sharing ---- */

static void test_vgg19_sharing(void **state)
{
    (void)state;
    static const char *const names[] = {"bof.w64", "bof.w128", "bof.w256", "bof.w512"};
    static const int c_in[] = {64, 128, 256, 512}, s[] = {16, 8, 4, 2};
    net *n = build("vgg19", 1.0, CIFAR_SIDE, CIFAR_CHANNELS);
    assert_int_equal(net_bof_count(n), 4);
    assert_int_equal(net_fc_pair_count(n), 1);
    for (int i = 0; i < 4; i++) {
        const net_bof *b = net_bof_at(n, i);
        assert_string_equal(b->name, names[i]);
        assert_int_equal(b->c_in, c_in[i]);
        assert_int_equal(b->codewords, NET_BOF_CODEWORDS);
        assert_int_equal(b->s, s[i]);
    }
    const net_fc_pair *f = net_fc_pair_at(n, 0);
    assert_string_equal(f->name, "fc.shared");
    assert_int_equal(f->in, 256);
    assert_int_equal(f->hidden, 64);
    assert_int_equal(f->classes, CLASSES);
    for (int i = 0; i < net_exit_count(n); i++) {
        const net_exit *e = net_exit_at(n, i);
        assert_int_equal(e->fc_pair, 0);
        assert_int_equal(net_bof_at(n, e->bof)->c_in, e->in.c);
    }
    assert_int_equal(exit_named(n, "pool1")->bof, 0);
    assert_int_equal(exit_named(n, "conv12")->bof, 3);
    assert_int_equal(exit_named(n, "conv13")->bof, 3); /* stage 5 reuses bof.w512 */
    net_free(n);
}

static void test_resnet34_sharing(void **state)
{
    (void)state;
    net *n = build("resnet34", 1.0, CIFAR_SIDE, CIFAR_CHANNELS);
    assert_int_equal(net_bof_count(n), 16);
    assert_int_equal(net_fc_pair_count(n), 4);
    for (int i = 0; i < net_exit_count(n); i++) {
        const net_exit *e = net_exit_at(n, i);
        assert_int_equal(e->bof, i / 2); /* a block's two exits share its module */
        assert_int_equal(net_bof_at(n, e->bof)->c_in, e->in.c);
    }
    assert_string_equal(net_bof_at(n, 3)->name, "bof.s2b1");
    assert_string_equal(net_fc_pair_at(n, 2)->name, "fc.s3");
    assert_int_equal(exit_named(n, "s1b3.add")->fc_pair, 0);
    assert_int_equal(exit_named(n, "s2b1.conv1")->fc_pair, 1);
    assert_int_equal(exit_named(n, "s3b6.add")->fc_pair, 2);
    assert_int_equal(exit_named(n, "s4b1.conv1")->fc_pair, 3);
    assert_null(net_bof_at(n, 16));
    assert_null(net_fc_pair_at(n, 4));
    net_free(n);
}

/* ---- parameters and tensors ---- */

static void assert_tensor(const net *n, const char *name, bool trainable, int ndim, int d0, int d1,
                          int d2, int d3)
{
    const net_tensor *t = tensor_named(n, name);
    const int dims[NET_MAX_DIMS] = {d0, d1, d2, d3};
    assert_int_equal(t->ndim, ndim);
    assert_int_equal(t->trainable, trainable);
    uint64_t count = 1;
    for (int i = 0; i < NET_MAX_DIMS; i++) {
        assert_int_equal(t->dims[i], i < ndim ? dims[i] : 0);
        if (i < ndim) count *= (uint64_t)dims[i];
    }
    assert_int_equal(t->count, count);
}

/* Every tensor name unique, counts summing to the totals, op/module ranges covering the list. */
static void assert_tensor_list(const net *n)
{
    int total = net_tensor_count(n);
    uint64_t sum = 0, trainable = 0;
    for (int i = 0; i < total; i++) {
        const net_tensor *t = net_tensor_at(n, i);
        assert_int_equal(net_tensor_by_name(n, t->name), i);
        sum += t->count;
        if (t->trainable) trainable += t->count;
    }
    assert_int_equal(net_param_count(n), sum);
    assert_int_equal(net_trainable_count(n), trainable);
    int next = 0;
    for (int i = 0; i < net_op_count(n); i++) {
        const net_op *o = net_op_at(n, i);
        uint64_t p = 0;
        assert_int_equal(o->tensor_first, next);
        for (int k = 0; k < o->tensor_count; k++) p += net_tensor_at(n, next + k)->count;
        assert_int_equal(o->params, p);
        next += o->tensor_count;
    }
    for (int i = 0; i < net_bof_count(n); i++) {
        assert_int_equal(net_bof_at(n, i)->tensor_first, next);
        next += net_bof_at(n, i)->tensor_count;
    }
    for (int i = 0; i < net_fc_pair_count(n); i++) {
        assert_int_equal(net_fc_pair_at(n, i)->tensor_first, next);
        next += net_fc_pair_at(n, i)->tensor_count;
    }
    assert_int_equal(next, total);
    assert_null(net_tensor_at(n, total));
    assert_int_equal(net_tensor_by_name(n, "nope.weight"), -1);
}

static void test_vgg19_params(void **state)
{
    (void)state;
    net *n = build("vgg19", 1.0, CIFAR_SIDE, CIFAR_CHANNELS);
    assert_int_equal(op_named(n, "conv1")->params, 64u * 3 * 3 * 3 + 64); /* 1 792 */
    assert_tensor(n, "conv1.weight", true, 4, 64, 3, 3, 3);
    assert_tensor(n, "conv1.bias", true, 1, 64, 0, 0, 0);
    assert_int_equal(op_named(n, "conv1.bn")->params, 4u * 64);
    assert_tensor(n, "conv3.bn.gamma", true, 1, 128, 0, 0, 0);
    assert_tensor(n, "conv3.bn.beta", true, 1, 128, 0, 0, 0);
    assert_tensor(n, "conv3.bn.mean", false, 1, 128, 0, 0, 0);
    assert_tensor(n, "conv3.bn.var", false, 1, 128, 0, 0, 0);
    assert_tensor(n, "classifier.weight", true, 2, CLASSES, 512, 0, 0);
    assert_tensor(n, "classifier.bias", true, 1, CLASSES, 0, 0, 0);
    assert_int_equal(op_named(n, "pool1")->params, 0);

    /* one head: BoF on 64 channels (codebook + bias + a, c, n1, n2) and the FC pair */
    assert_int_equal(net_bof_at(n, 0)->params, 64u * 64 + 64 + 4); /* 4 164 */
    assert_tensor(n, "bof.w128.codebook.weight", true, 4, 64, 128, 1, 1);
    assert_tensor(n, "bof.w128.codebook.bias", true, 1, 64, 0, 0, 0);
    assert_tensor(n, "bof.w128.n1", true, 1, 1, 0, 0, 0);
    assert_int_equal(net_fc_pair_at(n, 0)->params, 256u * 64 + 64 + 64 * CLASSES + CLASSES);
    assert_tensor(n, "fc.shared.0.weight", true, 2, 64, 256, 0, 0);
    assert_tensor(n, "fc.shared.1.weight", true, 2, CLASSES, 64, 0, 0);
    assert_tensor(n, "fc.shared.1.bias", true, 1, CLASSES, 0, 0, 0);

    /* slow reference over the channel table: conv weights + bias + 4 BN vectors, FC, heads */
    uint64_t ref = 0, bn_stats = 0;
    int c_in = CIFAR_CHANNELS;
    for (size_t i = 0; i < VGG_REF_CONVS; i++) {
        uint64_t c = (uint64_t)vgg_ref_channels[i];
        ref += c * (uint64_t)c_in * 9 + c + 4 * c;
        bn_stats += 2 * c;
        c_in = vgg_ref_channels[i];
    }
    ref += 512u * CLASSES + CLASSES;
    assert_int_equal(net_get_totals(n)->backbone_params, ref);
    uint64_t heads = 256u * 64 + 64 + 64 * CLASSES + CLASSES;
    static const int widths[] = {64, 128, 256, 512};
    for (int i = 0; i < 4; i++) heads += 64u * (uint64_t)widths[i] + 64 + 4;
    assert_int_equal(net_get_totals(n)->head_params, heads);
    assert_int_equal(net_param_count(n), ref + heads);
    assert_int_equal(net_trainable_count(n), ref + heads - bn_stats);
    assert_tensor_list(n);
    net_free(n);
}

static void test_resnet34_params(void **state)
{
    (void)state;
    net *n = build("resnet34", 1.0, CIFAR_SIDE, CIFAR_CHANNELS);
    assert_int_equal(op_named(n, "s1b1.conv1")->params, 64u * 64 * 9);
    assert_tensor(n, "s2b1.proj.conv.weight", true, 4, 128, 64, 1, 1);
    assert_tensor(n, "s2b1.proj.bn.var", false, 1, 128, 0, 0, 0);
    assert_tensor(n, "stem.bn.gamma", true, 1, 64, 0, 0, 0);
    assert_int_equal(net_tensor_by_name(n, "s1b1.conv1.bias"), -1);
    assert_tensor(n, "bof.s3b2.codebook.weight", true, 4, 64, 256, 1, 1);
    assert_int_equal(net_bof_at(n, 15)->params, 64u * 512 + 64 + 4);
    assert_tensor(n, "fc.s4.0.weight", true, 2, 64, 256, 0, 0);
    assert_int_equal(net_fc_pair_at(n, 1)->params, 256u * 64 + 64 + 64 * CLASSES + CLASSES);
    /* the familiar CIFAR ResNet-34 count of learned backbone parameters */
    uint64_t bn_stats = 0;
    for (int i = 0; i < net_tensor_count(n); i++)
        if (!net_tensor_at(n, i)->trainable) bn_stats += net_tensor_at(n, i)->count;
    assert_int_equal(net_get_totals(n)->backbone_params - bn_stats, 21282122u);
    assert_tensor_list(n);
    net_free(n);
}

/* ---- width and input shape ---- */

static void test_width_quarter(void **state)
{
    (void)state;
    net *n = build("vgg19", 0.25, CIFAR_SIDE, 1);
    int conv = 0;
    for (int i = 0; i < net_op_count(n); i++) {
        const net_op *o = net_op_at(n, i);
        if (o->kind != NET_OP_CONV) continue;
        assert_int_equal(o->out.c, vgg_ref_channels[conv] / 4);
        conv++;
    }
    assert_int_equal(conv, 16);
    assert_shape(op_named(n, "conv1")->in, 1, 32, 32);
    assert_int_equal(op_named(n, "conv1")->macs, 32u * 32 * 16 * 1 * 9);
    assert_int_equal(net_bof_at(n, 0)->c_in, 16);
    assert_int_equal(net_bof_at(n, 3)->c_in, 128);
    assert_string_equal(net_bof_at(n, 3)->name, "bof.w512"); /* named by unscaled width */
    assert_tensor(n, "classifier.weight", true, 2, CLASSES, 128, 0, 0);
    assert_int_equal(exit_named(n, "conv1")->macs, 32u * 32 * 64 * 16 + 256 * 64 + 64 * CLASSES);
    int quarter[VGG_REF_CONVS];
    for (size_t i = 0; i < VGG_REF_CONVS; i++) quarter[i] = vgg_ref_channels[i] / 4;
    assert_int_equal(net_get_totals(n)->backbone_macs,
                     vgg_ref_conv_macs(CIFAR_SIDE, 1, quarter) + 128u * CLASSES);
    assert_tensor_list(n);
    net_free(n);

    n = build("resnet34", 0.25, CIFAR_SIDE, 1);
    assert_shape(op_named(n, "stem.conv")->out, 16, 32, 32);
    assert_shape(op_named(n, "s4b3.relu2")->out, 128, 4, 4);
    assert_int_equal(net_bof_at(n, 0)->c_in, 16);
    net_free(n);
}

static void test_width_rounding(void **state)
{
    (void)state;
    /* 0.3: 19.2 → 19, 38.4 → 38, 76.8 → 77, 153.6 → 154 */
    net *n = build("vgg19", 0.3, CIFAR_SIDE, 1);
    assert_int_equal(op_named(n, "conv1")->out.c, 19);
    assert_int_equal(op_named(n, "conv3")->out.c, 38);
    assert_int_equal(op_named(n, "conv5")->out.c, 77);
    assert_int_equal(op_named(n, "conv9")->out.c, 154);
    net_free(n);
    /* 64 · 0.0390625 = 2.5 exactly: halves round away from zero */
    n = build("vgg19", 0.0390625, CIFAR_SIDE, 1);
    assert_int_equal(op_named(n, "conv1")->out.c, 3);
    assert_int_equal(op_named(n, "conv3")->out.c, 5);
    net_free(n);
    n = build("resnet34", 1e-6, CIFAR_SIDE, 1); /* never below one channel */
    assert_int_equal(op_named(n, "stem.conv")->out.c, 1);
    assert_int_equal(op_named(n, "s4b1.conv1")->out.c, 1);
    net_free(n);
}

static void test_other_inputs(void **state)
{
    (void)state;
    net *n = build("vgg19", 1.0, 64, 3);
    assert_tensor(n, "classifier.weight", true, 2, CLASSES, 512 * 2 * 2, 0, 0);
    assert_int_equal(net_bof_at(n, 0)->s, 32);
    assert_window(n, "conv2", 32, 256);
    assert_window(n, "pool1", 32, 64);
    assert_window(n, "conv16", 4, 64);
    assert_int_equal(net_get_totals(n)->backbone_macs, 4 * VGG19_CONV_MACS + 2048u * CLASSES);
    net_free(n);

    n = build("resnet34", 1.0, 16, 1); /* smallest: stage 4 at 2×2, s = 1 */
    assert_window(n, "s4b3.add", 1, 256);
    assert_shape(op_named(n, "avgpool")->in, 512, 2, 2);
    net_free(n);
}

/* ---- errors ---- */

static void assert_build_error(const char *arch, double width, int h, int w, int c, int classes,
                               const char *msg)
{
    net *n = (net *)&n; /* any non-NULL value: it must come back NULL */
    char err[ERR_LEN] = "";
    assert_int_equal(net_build(&n, arch, width, h, w, c, classes, err, sizeof err), NET_EARG);
    assert_null(n);
    assert_string_equal(err, msg);
}

static void test_errors(void **state)
{
    (void)state;
    assert_build_error("vgg16", 1, 32, 32, 3, 10,
                       "unknown arch 'vgg16' (expected vgg19 or resnet34)");
    assert_build_error(NULL, 1, 32, 32, 3, 10,
                       "unknown arch '(null)' (expected vgg19 or resnet34)");
    assert_build_error("vgg19", 0, 32, 32, 3, 10, "width must be a positive number (got 0)");
    assert_build_error("vgg19", -0.5, 32, 32, 3, 10, "width must be a positive number (got -0.5)");
    assert_build_error("resnet34", NAN, 32, 32, 3, 10, "width must be a positive number (got nan)");
    assert_build_error("resnet34", INFINITY, 32, 32, 3, 10,
                       "width must be a positive number (got inf)");
    assert_build_error("vgg19", 64, 32, 32, 3, 10,
                       "width 64 gives 32768 channels at the widest layer (at most 16384)");
    assert_build_error("vgg19", 1, 28, 28, 1, 10,
                       "input 28x28x1: vgg19 needs a side that is a multiple of 32 "
                       "(its 5 max-pools halve it)");
    assert_build_error("vgg19", 1, 16, 16, 1, 10,
                       "input 16x16x1: vgg19 needs a side that is a multiple of 32 "
                       "(its 5 max-pools halve it)");
    assert_build_error("resnet34", 1, 24, 24, 1, 10,
                       "input 24x24x1: resnet34 needs a side that is a multiple of 16 "
                       "(3 stride-2 stages halve it and the last stage's BoF window needs 2 px)");
    assert_build_error("vgg19", 1, 32, 64, 3, 10, "input 32x64x3: vgg19 needs a square input");
    assert_build_error("vgg19", 1, 0, 0, 3, 10, "input 0x0x3: height and width must be in 1..4096");
    assert_build_error("vgg19", 1, 8192, 8192, 3, 10,
                       "input 8192x8192x3: height and width must be in 1..4096");
    assert_build_error("vgg19", 1, 32, 32, 0, 10, "input 32x32x0: channels must be in 1..16384");
    assert_build_error("vgg19", 1, 32, 32, 3, 1, "classes must be in 2..65536 (got 1)");
    assert_build_error("resnet34", 1, 32, 32, 3, -3, "classes must be in 2..65536 (got -3)");

    /* no error buffer, a one-byte buffer, no result pointer */
    net *n = NULL;
    assert_int_equal(net_build(&n, "vgg19", 0, 32, 32, 3, 10, NULL, 0), NET_EARG);
    char tiny[1] = {'x'};
    assert_int_equal(net_build(&n, "vgg19", 0, 32, 32, 3, 10, tiny, sizeof tiny), NET_EARG);
    assert_int_equal(tiny[0], '\0');
    char err[ERR_LEN];
    assert_int_equal(net_build(NULL, "vgg19", 1, 32, 32, 3, 10, err, sizeof err), NET_EARG);
    assert_int_equal(net_build(&n, "vgg19", 1, 32, 32, 3, 2, err, sizeof err), NET_OK);
    net_free(n);
    net_free(NULL);
}

/* ---- misc API ---- */

static void test_coarse_and_accessors(void **state)
{
    (void)state;
    net *n = build("vgg19", 1.0, CIFAR_SIDE, CIFAR_CHANNELS);
    const int *ex = NULL;
    assert_int_equal(net_coarse_exits(n, &ex), 3);
    assert_int_equal(ex[0], net_exit_by_name(n, "pool2"));
    assert_int_equal(ex[1], net_exit_by_name(n, "pool3"));
    assert_int_equal(ex[2], net_exit_by_name(n, "pool4"));
    assert_int_equal(ex[0], 5);
    assert_int_equal(ex[2], 15);
    assert_string_equal(net_arch(n), "vgg19");
    assert_true(net_width(n) == 1.0);
    assert_shape(net_input(n), CIFAR_CHANNELS, CIFAR_SIDE, CIFAR_SIDE);
    assert_int_equal(net_classes(n), CLASSES);
    assert_null(net_op_at(n, -1));
    assert_null(net_op_at(n, net_op_count(n)));
    assert_null(net_exit_at(n, -1));
    assert_null(net_exit_at(n, net_exit_count(n) + 1));
    assert_int_equal(net_op_by_name(n, "conv17"), -1);
    assert_string_equal(net_op_kind_name(NET_OP_MAXPOOL), "maxpool");
    assert_string_equal(net_op_kind_name(NET_OP_KIND_COUNT), "?");
    char text[128];
    int len = net_arch_text(n, text, sizeof text);
    assert_string_equal(text, "arch=vgg19 width=1 input=32x32x3 classes=10");
    assert_int_equal(len, (int)strlen(text));
    net_free(n);

    n = build("resnet34", 0.25, CIFAR_SIDE, 1);
    assert_int_equal(net_coarse_exits(n, &ex), 3);
    assert_int_equal(ex[0], net_exit_by_name(n, "s1b3.add"));
    assert_int_equal(ex[1], net_exit_by_name(n, "s2b4.add"));
    assert_int_equal(ex[2], net_exit_by_name(n, "s3b6.add"));
    net_arch_text(n, text, sizeof text);
    assert_string_equal(text, "arch=resnet34 width=0.25 input=32x32x1 classes=10");
    net_free(n);
}

/* Table rows (header and one per op) all have the same width; totals follow. */
static void assert_table(const char *arch, unsigned flags)
{
    net *n = build(arch, 1.0, CIFAR_SIDE, CIFAR_CHANNELS);
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    assert_non_null(f);
    assert_int_equal(flags ? net_print_table(n, f, flags) : net_print_info(n, f), NET_OK);
    fclose(f);

    int lines = 0;
    size_t row_len = 0;
    for (char *line = buf, *end; (end = strchr(line, '\n')); line = end + 1, lines++) {
        size_t len = (size_t)(end - line);
        if (lines == 1) row_len = len;
        if (lines >= 1 && lines <= net_op_count(n)) assert_int_equal(len, row_len);
    }
    assert_int_equal(lines, 1 + 1 + net_op_count(n) + 3);
    assert_non_null(strstr(buf, "MACs"));
    assert_non_null(strstr(buf, "M MACs"));
    assert_non_null(strstr(buf, "cum %"));
    assert_non_null(strstr(buf, "exit MACs"));
    assert_true((strstr(buf, "proxy MACs") != NULL) == ((flags & NET_PRINT_PROXY) != 0));
    char total[64];
    snprintf(total, sizeof total, "backbone:   %llu MACs",
             (unsigned long long)net_get_totals(n)->backbone_macs);
    assert_non_null(strstr(buf, total));
    snprintf(total, sizeof total, "%llu MACs summed over %d exits",
             (unsigned long long)net_get_totals(n)->exit_macs, net_exit_count(n));
    assert_non_null(strstr(buf, total));
    snprintf(total, sizeof total, "parameters: %llu", (unsigned long long)net_param_count(n));
    assert_non_null(strstr(buf, total));
    free(buf);
    net_free(n);
}

static void test_print_info(void **state)
{
    (void)state;
    assert_table("vgg19", 0);
    assert_table("resnet34", 0);
    assert_table("vgg19", NET_PRINT_PROXY | NET_PRINT_VEC_OPS);

    net *n = build("vgg19", 1.0, CIFAR_SIDE, CIFAR_CHANNELS);
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    assert_non_null(f);
    assert_int_equal(net_print_info(n, f), NET_OK);
    fclose(f);
    /* conv1.relu carries exit 0 with its head MACs; the last row reaches 100 % */
    const char *row = strstr(buf, "conv1.relu");
    assert_non_null(row);
    const char *eol = strchr(row, '\n');
    assert_non_null(strstr(row, "4211328"));
    assert_true(strstr(row, "4211328") < eol);
    row = strstr(buf, "classifier ");
    assert_non_null(row);
    assert_non_null(strstr(row, " fc "));
    assert_non_null(strstr(row, "100.00\n"));
    free(buf);
    net_free(n);
}

/* ---- layer-list files ---- */

#define NETS_DIR    PESIM_SOURCE_DIR "/tests/nets"
#define EXPECT_TAG  "; expect: FILE"
#define TINY_SIDE   8
#define TINY_CLASS  3
#define PATH_LEN    512
#define BIG_ERR_LEN 2048

static net *build_file(const char *file, double width, int h, int w, int c, int classes)
{
    char path[PATH_LEN], err[BIG_ERR_LEN] = "";
    snprintf(path, sizeof path, "%s/%s", NETS_DIR, file);
    net *n = NULL;
    int rc = net_build(&n, path, width, h, w, c, classes, err, sizeof err);
    if (rc) fail_msg("net_build(%s): %s", path, err);
    assert_non_null(n);
    return n;
}

/* Every table of a and b is equal (the arch name and text aside). */
static void assert_same_net(const net *a, const net *b)
{
    assert_true(net_width(a) == net_width(b));
    net_shape ia = net_input(a), ib = net_input(b);
    assert_shape(ia, ib.c, ib.h, ib.w);
    assert_int_equal(net_classes(a), net_classes(b));
    assert_int_equal(net_op_count(a), net_op_count(b));
    for (int i = 0; i < net_op_count(a); i++) {
        const net_op *x = net_op_at(a, i), *y = net_op_at(b, i);
        assert_string_equal(x->name, y->name);
        assert_int_equal(x->kind, y->kind);
        assert_int_equal(x->src, y->src);
        assert_int_equal(x->src2, y->src2);
        assert_shape(x->in, y->in.c, y->in.h, y->in.w);
        assert_shape(x->out, y->out.c, y->out.h, y->out.w);
        assert_int_equal(x->kh, y->kh);
        assert_int_equal(x->kw, y->kw);
        assert_int_equal(x->stride, y->stride);
        assert_int_equal(x->pad, y->pad);
        assert_int_equal(x->bias, y->bias);
        assert_int_equal(x->shortcut, y->shortcut);
        assert_int_equal(x->params, y->params);
        assert_int_equal(x->macs, y->macs);
        assert_int_equal(x->proxy_macs, y->proxy_macs);
        assert_int_equal(x->vec_ops, y->vec_ops);
        assert_int_equal(x->exit, y->exit);
        assert_int_equal(x->tensor_first, y->tensor_first);
        assert_int_equal(x->tensor_count, y->tensor_count);
    }
    assert_int_equal(net_exit_count(a), net_exit_count(b));
    for (int i = 0; i <= net_exit_count(a); i++) {
        const net_exit *x = net_exit_at(a, i), *y = net_exit_at(b, i);
        assert_string_equal(x->name, y->name);
        assert_int_equal(x->op, y->op);
        assert_shape(x->in, y->in.c, y->in.h, y->in.w);
        assert_int_equal(x->bof, y->bof);
        assert_int_equal(x->fc_pair, y->fc_pair);
        assert_int_equal(x->s, y->s);
        assert_int_equal(x->features, y->features);
        assert_int_equal(x->uses_fc0, y->uses_fc0);
        assert_int_equal(x->backbone_macs_cum, y->backbone_macs_cum);
        assert_int_equal(x->macs, y->macs);
        assert_int_equal(x->vec_ops, y->vec_ops);
    }
    assert_int_equal(net_bof_count(a), net_bof_count(b));
    for (int i = 0; i < net_bof_count(a); i++) {
        const net_bof *x = net_bof_at(a, i), *y = net_bof_at(b, i);
        assert_string_equal(x->name, y->name);
        assert_int_equal(x->c_in, y->c_in);
        assert_int_equal(x->codewords, y->codewords);
        assert_int_equal(x->s, y->s);
        assert_int_equal(x->params, y->params);
        assert_int_equal(x->tensor_first, y->tensor_first);
        assert_int_equal(x->tensor_count, y->tensor_count);
    }
    assert_int_equal(net_fc_pair_count(a), net_fc_pair_count(b));
    for (int i = 0; i < net_fc_pair_count(a); i++) {
        const net_fc_pair *x = net_fc_pair_at(a, i), *y = net_fc_pair_at(b, i);
        assert_string_equal(x->name, y->name);
        assert_int_equal(x->in, y->in);
        assert_int_equal(x->hidden, y->hidden);
        assert_int_equal(x->classes, y->classes);
        assert_int_equal(x->params, y->params);
        assert_int_equal(x->tensor_first, y->tensor_first);
        assert_int_equal(x->tensor_count, y->tensor_count);
    }
    assert_int_equal(net_tensor_count(a), net_tensor_count(b));
    for (int i = 0; i < net_tensor_count(a); i++) {
        const net_tensor *x = net_tensor_at(a, i), *y = net_tensor_at(b, i);
        assert_string_equal(x->name, y->name);
        assert_int_equal(x->ndim, y->ndim);
        assert_memory_equal(x->dims, y->dims, sizeof x->dims);
        assert_int_equal(x->count, y->count);
        assert_int_equal(x->trainable, y->trainable);
    }
    assert_memory_equal(net_get_totals(a), net_get_totals(b), sizeof(net_totals));
    const int *ca = NULL, *cb = NULL;
    int nc = net_coarse_exits(a, &ca);
    assert_int_equal(nc, net_coarse_exits(b, &cb));
    for (int i = 0; i < nc; i++) assert_int_equal(ca[i], cb[i]);
}

/* The architecture text of n (malloc'd). */
static char *arch_text_of(const net *n)
{
    int len = net_arch_text(n, NULL, 0);
    assert_true(len > 0);
    char *text = malloc((size_t)len + 1);
    assert_non_null(text);
    assert_int_equal(net_arch_text(n, text, (size_t)len + 1), len);
    assert_int_equal(strlen(text), (size_t)len);
    return text;
}

/* Rebuild n from its arch text: the same tables and the same text again. */
static void assert_arch_round_trip(const net *n)
{
    char *text = arch_text_of(n), err[BIG_ERR_LEN] = "";
    net *m = NULL;
    int rc = net_build_arch_text(&m, text, err, sizeof err);
    if (rc) fail_msg("net_build_arch_text: %s\n%s", err, text);
    assert_same_net(n, m);
    assert_string_equal(net_arch(m), net_arch(n));
    char *again = arch_text_of(m);
    assert_string_equal(again, text);
    free(again);
    free(text);
    net_free(m);
}

/* tests/nets/tiny.ini, every number worked out by hand (8x8x1 input, 3 classes). */
static void test_layers_tiny(void **state)
{
    (void)state;
    net *n = build_file("tiny.ini", 1.0, TINY_SIDE, TINY_SIDE, 1, TINY_CLASS);
    assert_string_equal(net_arch(n), "layers");
    assert_int_equal(net_op_count(n), 9);

    const net_op *o = op_named(n, "c1"); /* 3×3 "same" conv with bias, 1 → 4 channels */
    assert_int_equal(o->src, -1);
    assert_shape(o->out, 4, 8, 8);
    assert_int_equal(o->macs, 8u * 8 * 4 * 1 * 9); /* 2 304 */
    assert_int_equal(o->proxy_macs, 8u * 8 * 4 * 1);
    assert_int_equal(o->params, 4u * 9 + 4);
    assert_true(o->bias);
    assert_tensor(n, "c1.weight", true, 4, 4, 1, 3, 3);
    assert_tensor(n, "c1.bias", true, 1, 4, 0, 0, 0);
    o = op_named(n, "c1.bn");
    assert_int_equal(o->src, 0);
    assert_int_equal(o->params, 16);
    assert_int_equal(o->vec_ops, 256);
    assert_tensor(n, "c1.bn.gamma", true, 1, 4, 0, 0, 0);
    assert_tensor(n, "c1.bn.var", false, 1, 4, 0, 0, 0);
    assert_int_equal(op_named(n, "c1.relu")->vec_ops, 256);
    o = op_named(n, "p1"); /* 2×2 window, stride defaults to the window */
    assert_int_equal(o->kind, NET_OP_MAXPOOL);
    assert_int_equal(o->stride, 2);
    assert_shape(o->out, 4, 4, 4);
    assert_int_equal(o->vec_ops, 256);
    o = op_named(n, "c2"); /* (4 + 2 − 3) / 2 + 1 = 2 */
    assert_shape(o->out, 8, 2, 2);
    assert_int_equal(o->macs, 2u * 2 * 8 * 4 * 9); /* 1 152 */
    assert_false(o->bias);
    assert_int_equal(o->params, 8u * 4 * 9);
    assert_int_equal(net_tensor_by_name(n, "c2.bias"), -1);
    o = op_named(n, "proj");
    assert_true(o->shortcut);
    assert_int_equal(o->src, net_op_by_name(n, "p1"));
    assert_shape(o->out, 8, 2, 2);
    assert_int_equal(o->macs, 2u * 2 * 8 * 4); /* 128 */
    o = op_named(n, "sum");
    assert_int_equal(o->kind, NET_OP_ADD);
    assert_int_equal(o->src, net_op_by_name(n, "c2"));
    assert_int_equal(o->src2, net_op_by_name(n, "proj"));
    assert_int_equal(o->vec_ops, 32);
    o = op_named(n, "gap");
    assert_int_equal(o->kind, NET_OP_AVGPOOL);
    assert_int_equal(o->kh, 2);
    assert_int_equal(o->kw, 2);
    assert_shape(o->out, 8, 1, 1);
    o = op_named(n, "fc");
    assert_int_equal(o->macs, 8u * TINY_CLASS);
    assert_int_equal(o->params, 8u * TINY_CLASS + TINY_CLASS);

    /* exits: c1.relu (8×8, s = 4, 256 features), pool1 (4×4 = s: 64), sum (2×2, own module) */
    assert_int_equal(net_exit_count(n), 3);
    const net_exit *e = net_exit_at(n, 0);
    assert_string_equal(e->name, "c1.relu");
    assert_int_equal(e->op, net_op_by_name(n, "c1.relu"));
    assert_window(n, "c1.relu", 4, 256);
    assert_int_equal(e->macs, 8u * 8 * 64 * 4 + 256 * 64 + 64 * TINY_CLASS); /* 32 960 */
    assert_int_equal(e->vec_ops, 3u * 64 * 8 * 8 + 256);
    assert_int_equal(e->backbone_macs_cum, 2304);
    e = exit_named(n, "pool1");
    assert_int_equal(e->bof, 0);
    assert_window(n, "pool1", 4, 64);
    assert_int_equal(e->macs, 4u * 4 * 64 * 4 + 64 * TINY_CLASS); /* 4 288 */
    e = exit_named(n, "sum");
    assert_window(n, "sum", 1, 256);
    assert_int_equal(e->macs, 2u * 2 * 64 * 8 + 256 * 64 + 64 * TINY_CLASS); /* 18 624 */
    assert_int_equal(e->backbone_macs_cum, 2304u + 1152 + 128);
    assert_int_equal(net_exit_by_name(n, "final"), 3);
    assert_int_equal(net_exit_at(n, 3)->op, 8);

    /* modules: bof.c4 (default name) shared by two exits, bof.sum; fc.shared and fc.tail */
    assert_int_equal(net_bof_count(n), 2);
    assert_string_equal(net_bof_at(n, 0)->name, "bof.c4");
    assert_int_equal(net_bof_at(n, 0)->s, 4);
    assert_int_equal(net_bof_at(n, 0)->params, 64u * 4 + 64 + 4);
    assert_string_equal(net_bof_at(n, 1)->name, "bof.sum");
    assert_int_equal(net_fc_pair_count(n), 2);
    assert_string_equal(net_fc_pair_at(n, 0)->name, "fc.shared");
    assert_string_equal(net_fc_pair_at(n, 1)->name, "fc.tail");
    assert_int_equal(net_exit_at(n, 2)->fc_pair, 1);
    assert_tensor(n, "fc.tail.1.weight", true, 2, TINY_CLASS, 64, 0, 0);

    const net_totals *t = net_get_totals(n);
    assert_int_equal(t->backbone_macs, 2304u + 1152 + 128 + 24);
    assert_int_equal(t->backbone_params, 40u + 16 + 288 + 32 + 27);
    assert_int_equal(t->exit_macs, 32960u + 4288 + 18624);
    uint64_t fc_pair_params = 256u * 64 + 64 + 64 * TINY_CLASS + TINY_CLASS;
    assert_int_equal(t->head_params, 324u + 580 + 2 * fc_pair_params);
    assert_int_equal(net_param_count(n), t->backbone_params + t->head_params);
    assert_tensor_list(n);

    const int *ex = NULL;
    assert_int_equal(net_coarse_exits(n, &ex), 2);
    assert_int_equal(ex[0], 1); /* listed "sum, pool1": stored ascending */
    assert_int_equal(ex[1], 2);
    net_free(n);

    /* width 1/2 scales conv outs only; the BoF default name follows the scaled channels */
    n = build_file("tiny.ini", 0.5, TINY_SIDE, TINY_SIDE, 1, TINY_CLASS);
    assert_shape(op_named(n, "c1")->out, 2, 8, 8);
    assert_shape(op_named(n, "sum")->out, 4, 2, 2);
    assert_string_equal(net_bof_at(n, 0)->name, "bof.c2");
    assert_shape(op_named(n, "fc")->out, TINY_CLASS, 1, 1);
    net_free(n);
}

/* The canonical text of tiny.ini: every key written out, defaults resolved. */
static void test_layers_canonical_text(void **state)
{
    (void)state;
    net *n = build_file("tiny.ini", 1.0, TINY_SIDE, TINY_SIDE, 1, TINY_CLASS);
    char *text = arch_text_of(n);
    static const char *const want =
        "arch=layers width=1 input=8x8x1 classes=3\n"
        "[net]\ncoarse_exits = pool1, sum\n\n"
        "[c1]\nkind = conv\nsrc = input\nout = 4\nkernel = 3\nstride = 1\npad = 1\nbias = yes\n"
        "shortcut = no\nexit = no\n\n"
        "[c1.bn]\nkind = bn\nsrc = c1\nshortcut = no\nexit = no\n\n"
        "[c1.relu]\nkind = relu\nsrc = c1.bn\nexit = yes\nexit_name = c1.relu\nbof = bof.c4\n"
        "fc_pair = fc.shared\n\n"
        "[p1]\nkind = maxpool\nsrc = c1.relu\nkernel = 2\nstride = 2\npad = 0\nexit = yes\n"
        "exit_name = pool1\nbof = bof.c4\nfc_pair = fc.shared\n\n"
        "[c2]\nkind = conv\nsrc = p1\nout = 8\nkernel = 3\nstride = 2\npad = 1\nbias = no\n"
        "shortcut = no\nexit = no\n\n"
        "[proj]\nkind = conv\nsrc = p1\nout = 8\nkernel = 1\nstride = 2\npad = 0\nbias = no\n"
        "shortcut = yes\nexit = no\n\n"
        "[sum]\nkind = add\nsrc = c2\nsrc2 = proj\nexit = yes\nexit_name = sum\nbof = bof.sum\n"
        "fc_pair = fc.tail\n\n"
        "[gap]\nkind = avgpool\nsrc = sum\nkernel = global\nexit = no\n\n"
        "[fc]\nkind = fc\nsrc = gap\nout = classes\nexit = no\n\n";
    assert_string_equal(text, want);
    char small[16];
    assert_int_equal(net_arch_text(n, small, sizeof small), (int)strlen(want));
    assert_string_equal(small, "arch=layers wid");
    free(text);
    net_free(n);
}

/* tests/nets/vgg19.ini and resnet34.ini describe the generators' networks exactly. */
static void assert_file_is_generator(const char *file, const char *arch, double width, int side,
                                     int channels)
{
    net *g = build(arch, width, side, channels);
    net *f = build_file(file, width, side, side, channels, CLASSES);
    assert_same_net(g, f);
    assert_string_equal(net_arch(f), "layers");
    assert_arch_round_trip(f);
    net_free(f);
    net_free(g);
}

static void test_layers_match_generators(void **state)
{
    (void)state;
    assert_file_is_generator("vgg19.ini", "vgg19", 1.0, CIFAR_SIDE, CIFAR_CHANNELS);
    assert_file_is_generator("vgg19.ini", "vgg19", 0.25, CIFAR_SIDE, 1);
    assert_file_is_generator("vgg19.ini", "vgg19", 0.3, 64, 3);
    assert_file_is_generator("resnet34.ini", "resnet34", 1.0, CIFAR_SIDE, CIFAR_CHANNELS);
    assert_file_is_generator("resnet34.ini", "resnet34", 0.25, CIFAR_SIDE, 1);
    assert_file_is_generator("resnet34.ini", "resnet34", 0.125, 16, 1);
    net *f = build_file("vgg19.ini", 1.0, CIFAR_SIDE, CIFAR_SIDE, CIFAR_CHANNELS, CLASSES);
    assert_int_equal(net_get_totals(f)->backbone_macs, VGG19_CONV_MACS + VGG19_FC_MACS);
    assert_int_equal(exit_named(f, "conv1")->macs, 4194304u + 16384u + 640u);
    net_free(f);
}

/* Arch texts of both forms; the generators' one-liner still builds. */
static void test_layers_arch_text(void **state)
{
    (void)state;
    net *n = build_file("tiny.ini", 0.75, TINY_SIDE, TINY_SIDE, 1, TINY_CLASS);
    assert_arch_round_trip(n);
    net_free(n);

    char err[BIG_ERR_LEN] = "";
    assert_int_equal(
        net_build_arch_text(&n, "arch=vgg19 width=0.25 input=32x32x1 classes=10", err, sizeof err),
        NET_OK);
    net *g = build("vgg19", 0.25, CIFAR_SIDE, 1);
    assert_same_net(n, g);
    assert_string_equal(net_arch(n), "vgg19");
    net_free(g);
    net_free(n);

    /* a hand-written layer list (defaults, comments) is accepted after the first line */
    const char *text = "arch=layers width=1 input=4x4x2 classes=2\n"
                       "; comment\n[r]\nkind = relu\n[fc]\nkind = fc\nout = classes\n";
    assert_int_equal(net_build_arch_text(&n, text, err, sizeof err), NET_OK);
    assert_int_equal(net_op_count(n), 2);
    assert_int_equal(net_exit_count(n), 0);
    assert_int_equal(op_named(n, "fc")->macs, 4u * 4 * 2 * 2);
    const int *ex = NULL;
    assert_int_equal(net_coarse_exits(n, &ex), 0);
    assert_arch_round_trip(n);
    net_free(n);

    static const struct {
        const char *text, *want;
    } bad[] = {
        {"arch=vgg19 width=1 input=32x32 classes=10",
         "cannot parse architecture text 'arch=vgg19 width=1 input=32x32 classes=10'"},
        {"arch=vgg19 width=1 input=32x32x3 classes=10 ", "cannot parse architecture text"},
        {"arch=vgg19 width= input=32x32x3 classes=10", "cannot parse architecture text"},
        {"arch=vgg19 width=1 input=-32x32x3 classes=10", "cannot parse architecture text"},
        {"arch=vgg19 width=1 input=99999999999x32x3 classes=10", "cannot parse architecture text"},
        {"", "cannot parse architecture text ''"},
        {"arch=tests/nets/tiny.ini width=1 input=8x8x1 classes=3",
         "architecture 'arch=tests/nets/tiny.ini width=1 input=8x8x1 classes=3': unknown arch "
         "'tests/nets/tiny.ini' (expected vgg19, resnet34 or layers)"},
        {"arch=vgg19 width=1 input=32x32x3 classes=10\n[x]\n",
         "architecture 'arch=vgg19 width=1 input=32x32x3 classes=10': text after the first line "
         "(only arch=layers has a layer list)"},
        {"arch=vgg19 width=1 input=28x28x3 classes=10",
         "architecture 'arch=vgg19 width=1 input=28x28x3 classes=10': input 28x28x3: vgg19 needs"},
        {"arch=layers width=1 input=8x8x1 classes=3",
         "architecture 'arch=layers width=1 input=8x8x1 classes=3': arch text: no ops"},
        {"arch=layers width=1 input=8x8x1 classes=3\n[fc]\nkind = fc\nout = 4\n",
         "architecture 'arch=layers width=1 input=8x8x1 classes=3': arch text:2: the last op 'fc' "
         "must be"},
        {"arch=layers width=1 input=8x8x1 classes=3\n[r]\nkind = relu\nsrc = x\n",
         "arch text:4: unknown src 'x'"},
        {"arch=layers width=0 input=8x8x1 classes=3\n[fc]\nkind = fc\nout = classes\n",
         "': width must be a positive number (got 0)"},
        /* a huge op: 4096² map, 16384 → 16384 channels, 4095² kernel */
        {"arch=layers width=1 input=4096x4096x16384 classes=3\n[c]\nkind = conv\nout = 16384\n"
         "kernel = 4095\npad = 2047\n[fc]\nkind = fc\nout = classes\n",
         "arch text:2: op 'c' takes the network past 4611686018427387904 MACs"},
        {"arch=layers width=1 input=4096x4096x1 classes=3\n[c]\nkind = conv\nout = 1\n"
         "kernel = 5\npad = 4\n[fc]\nkind = fc\nout = classes\n",
         "arch text:2: op 'c' gives a 4100x4100 map (at most 4096 per side)"},
        {"arch=layers width=1 input=4096x4096x256 classes=3\n[fc]\nkind = fc\nout = classes\n",
         "arch text:2: fc 'fc' reads 4294967296 features (at most 2147483647)"},
        {"arch=layers width=64 input=8x8x1 classes=3\n[c]\nkind = conv\nout = 512\nkernel = 1\n"
         "[fc]\nkind = fc\nout = classes\n",
         "arch text:4: out 512 at width 64 gives 32768 channels (at most 16384)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        n = (net *)&n;
        err[0] = '\0';
        assert_int_equal(net_build_arch_text(&n, bad[i].text, err, sizeof err), NET_EARG);
        assert_null(n);
        if (!strstr(err, bad[i].want)) fail_msg("got '%s', want '%s'", err, bad[i].want);
        assert_null(strchr(err, '\n'));
    }
    assert_int_equal(net_build_arch_text(NULL, "x", err, sizeof err), NET_EARG);
    assert_int_equal(net_build_arch_text(&n, NULL, err, sizeof err), NET_EARG);
    assert_null(n);
}

/* INI syntax that inih accepts: CRLF, a byte-order mark, ':' separators, inline comments,
 * indented headers and continuation lines, bools in any case; keys are case-sensitive. */
static void test_layers_syntax(void **state)
{
    (void)state;
    static const char head[] = "arch=layers width=1 input=4x4x3 classes=2\n"
                               "\xEF\xBB\xBF  [net]\r\n"
                               "coarse_exits = r, ; the list goes on\r\n"
                               "   c2\r\n"
                               "[c]\r\n"
                               "kind: conv\r\n"
                               "out = 2 ; channels\r\n"
                               "kernel = 1\r\n"
                               "bias = NO\r\n"
                               "exit = False\r\n"
                               "[r]\n"
                               "kind = relu\n";
    static const char tail[] = "[c2]\nkind = conv\nsrc = input\nout = 2\nkernel = 1\nexit = on\n"
                               "[fc]\nkind = fc\nout = classes\n";
    char text[1024], err[BIG_ERR_LEN] = "";
    net *n = NULL;
    snprintf(text, sizeof text, "%sEXIT = yes\n%s", head, tail);
    assert_int_equal(net_build_arch_text(&n, text, err, sizeof err), NET_EARG);
    assert_non_null(strstr(err, "': arch text:13: unknown key 'EXIT' in [r]"));

    snprintf(text, sizeof text, "%sexit = YES\n%s", head, tail);
    int rc = net_build_arch_text(&n, text, err, sizeof err);
    if (rc) fail_msg("%s", err);
    assert_false(op_named(n, "c")->bias);
    assert_int_equal(op_named(n, "c")->exit, -1);
    assert_int_equal(net_exit_count(n), 2);
    assert_window(n, "r", 2, 256);
    assert_window(n, "c2", 2, 256);
    assert_int_equal(net_bof_count(n), 1); /* both exits read 2 channels: bof.c2 */
    const int *ex = NULL;
    assert_int_equal(net_coarse_exits(n, &ex), 2);
    assert_int_equal(ex[0], 0);
    assert_int_equal(ex[1], 1);
    assert_arch_round_trip(n);
    net_free(n);

    /* a non-square input: fine without exits, global pooling takes the whole map */
    rc = net_build_arch_text(&n,
                             "arch=layers width=1 input=4x8x3 classes=2\n[c]\nkind = conv\n"
                             "out = 2\nkernel = 3\npad = 1\n[p]\nkind = avgpool\nkernel = global\n"
                             "[fc]\nkind = fc\nout = classes\n",
                             err, sizeof err);
    if (rc) fail_msg("%s", err);
    assert_shape(op_named(n, "c")->out, 2, 4, 8);
    assert_int_equal(op_named(n, "p")->kh, 4);
    assert_int_equal(op_named(n, "p")->kw, 8);
    assert_shape(op_named(n, "p")->out, 2, 1, 1);
    assert_int_equal(op_named(n, "fc")->macs, 4);
    net_free(n);
    assert_int_equal(net_build_arch_text(&n,
                                         "arch=layers width=1 input=4x8x3 classes=2\n[c]\n"
                                         "kind = conv\nout = 2\nkernel = 1\nexit = yes\n[fc]\n"
                                         "kind = fc\nout = classes\n",
                                         err, sizeof err),
                     NET_EARG);
    assert_non_null(strstr(err, "arch text:6: exit 'c' creates BoF module 'bof.c2' on a 4x8 map"));
}

/* Each tests/nets/bad/NAME.ini says on its first line "; expect: FILE:LINE: message". */
static void test_layers_bad_files(void **state)
{
    (void)state;
    const char *dir = NETS_DIR "/bad";
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    int checked = 0, failed = 0;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 4 || strcmp(e->d_name + len - 4, ".ini")) continue;
        char path[PATH_LEN], first[PATH_LEN], want[BIG_ERR_LEN], err[BIG_ERR_LEN] = "";
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "r");
        assert_non_null(f);
        assert_non_null(fgets(first, sizeof first, f));
        fclose(f);
        first[strcspn(first, "\n")] = '\0';
        if (strncmp(first, EXPECT_TAG, strlen(EXPECT_TAG))) fail_msg("%s: no expect line", path);
        snprintf(want, sizeof want, "%s%s", path, first + strlen(EXPECT_TAG));
        net *n = (net *)&n;
        int rc = net_build(&n, path, 1.0, TINY_SIDE, TINY_SIDE, 1, TINY_CLASS, err, sizeof err);
        if (rc != NET_EARG || strcmp(err, want) || n) {
            print_error("%s: rc %d\n  got  %s\n  want %s\n", e->d_name, rc, err, want);
            failed++;
        }
        checked++;
    }
    closedir(d);
    assert_int_equal(failed, 0);
    assert_true(checked >= 40);
}

/* Write len bytes to a fresh file under /tmp; returns its path in buf. */
static void write_tmp(char *buf, size_t buflen, const char *tag, const char *bytes, size_t len)
{
    snprintf(buf, buflen, "/tmp/test_net_%ld_%s.ini", (long)getpid(), tag);
    FILE *f = fopen(buf, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void expect_file_error(const char *path, int want_rc, const char *want)
{
    char err[BIG_ERR_LEN] = "";
    net *n = (net *)&n;
    int rc = net_build(&n, path, 1.0, TINY_SIDE, TINY_SIDE, 1, TINY_CLASS, err, sizeof err);
    if (rc != want_rc || !strstr(err, want))
        fail_msg("%s: rc %d, got '%s', want '%s'", path, rc, err, want);
    assert_null(n);
}

/* Files no fixture can hold: NUL bytes, overlong lines and files, too many ops, unreadable
 * paths; a missing bare word is still an unknown arch. */
static void test_layers_hostile(void **state)
{
    (void)state;
    char path[PATH_LEN], want[BIG_ERR_LEN];
    static const char nul[] = "[r]\nkind = relu\x00x\n[fc]\nkind = fc\nout = classes\n";
    write_tmp(path, sizeof path, "nul", nul, sizeof nul - 1);
    snprintf(want, sizeof want, "%s:2: NUL byte in the line", path);
    expect_file_error(path, NET_EARG, want);
    unlink(path);

    char line[512];
    memset(line, 'x', sizeof line);
    memcpy(line, "[r]\nsrc = ", 10);
    write_tmp(path, sizeof path, "long", line, sizeof line);
    snprintf(want, sizeof want, "%s:2: line is 508 characters long; at most 198", path);
    expect_file_error(path, NET_EARG, want);
    unlink(path);

    /* too big: 2 MiB of comments */
    size_t big = 2u << 20;
    char *text = malloc(big);
    assert_non_null(text);
    for (size_t i = 0; i < big; i++) text[i] = i % 64 == 63 ? '\n' : ';';
    write_tmp(path, sizeof path, "big", text, big);
    snprintf(want, sizeof want, "%s: layer list longer than 1048576 bytes", path);
    expect_file_error(path, NET_EARG, want);
    unlink(path);

    /* NET_MAX_OPS + 1 relus */
    size_t used = 0;
    for (int i = 0; i <= NET_MAX_OPS; i++)
        used += (size_t)snprintf(text + used, big - used, "[r%d]\nkind = relu\n", i);
    write_tmp(path, sizeof path, "many", text, used);
    snprintf(want, sizeof want, "%s:%d: more than %d ops", path, 2 * NET_MAX_OPS + 1, NET_MAX_OPS);
    expect_file_error(path, NET_EARG, want);
    unlink(path);
    free(text);

    expect_file_error("/nonexistent/net.ini", NET_EIO,
                      "/nonexistent/net.ini: cannot open: No such file or directory");
    expect_file_error(NETS_DIR, NET_EIO, NETS_DIR ": cannot read: Is a directory");
    expect_file_error("resnet", NET_EARG, "unknown arch 'resnet' (expected vgg19 or resnet34)");
    /* the arguments are checked as for the generators */
    char err[BIG_ERR_LEN];
    net *n = NULL;
    assert_int_equal(net_build(&n, NETS_DIR "/tiny.ini", 1.0, 8, 8, 1, 1, err, sizeof err),
                     NET_EARG);
    assert_string_equal(err, "classes must be in 2..65536 (got 1)");
    assert_int_equal(net_build(&n, NETS_DIR "/tiny.ini", -1, 8, 8, 1, 3, err, sizeof err),
                     NET_EARG);
    assert_string_equal(err, "width must be a positive number (got -1)");
    /* an op too small for its input: tiny.ini on a 2x2 input */
    assert_int_equal(net_build(&n, NETS_DIR "/tiny.ini", 1.0, 2, 2, 1, 3, err, sizeof err),
                     NET_EARG);
    assert_non_null(strstr(err, "/tiny.ini:"));
}

/* The shipped example: VGG-11 with BN and an exit after every conv. */
static void test_layers_shipped_example(void **state)
{
    (void)state;
    char path[PATH_LEN], err[BIG_ERR_LEN] = "";
    snprintf(path, sizeof path, "%s/configs/nets/layers/vgg11.ini", PESIM_SOURCE_DIR);
    net *n = NULL;
    int rc =
        net_build(&n, path, 1.0, CIFAR_SIDE, CIFAR_SIDE, CIFAR_CHANNELS, CLASSES, err, sizeof err);
    if (rc) fail_msg("%s", err);
    assert_int_equal(net_exit_count(n), 8);
    /* VGG-11 convs at 32, 16, 8, 8, 4, 4, 2, 2 px: 64, 128, 256, 256, 512 ×4 channels */
    uint64_t conv = 32u * 32 * 64 * 3 * 9 + 16u * 16 * 128 * 64 * 9 + 8u * 8 * 256 * 128 * 9 +
                    8u * 8 * 256 * 256 * 9 + 4u * 4 * 512 * 256 * 9 + 4u * 4 * 512 * 512 * 9 +
                    2u * 2 * 512 * 512 * 9 * 2;
    assert_int_equal(net_get_totals(n)->backbone_macs, conv + 512u * CLASSES);
    const int *ex = NULL;
    assert_int_equal(net_coarse_exits(n, &ex), 3);
    assert_arch_round_trip(n);
    net_free(n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vgg19_cifar_totals),
        cmocka_unit_test(test_resnet34_cifar_totals),
        cmocka_unit_test(test_vgg19_layers),
        cmocka_unit_test(test_resnet34_layers),
        cmocka_unit_test(test_vgg19_exit_heads),
        cmocka_unit_test(test_vgg19_exit_order),
        cmocka_unit_test(test_resnet34_exit_order),
        cmocka_unit_test(test_exit_windows),
        cmocka_unit_test(test_cumulative_macs),
        cmocka_unit_test(test_vgg19_sharing),
        cmocka_unit_test(test_resnet34_sharing),
        cmocka_unit_test(test_vgg19_params),
        cmocka_unit_test(test_resnet34_params),
        cmocka_unit_test(test_width_quarter),
        cmocka_unit_test(test_width_rounding),
        cmocka_unit_test(test_other_inputs),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_coarse_and_accessors),
        cmocka_unit_test(test_print_info),
        cmocka_unit_test(test_layers_tiny),
        cmocka_unit_test(test_layers_canonical_text),
        cmocka_unit_test(test_layers_match_generators),
        cmocka_unit_test(test_layers_arch_text),
        cmocka_unit_test(test_layers_syntax),
        cmocka_unit_test(test_layers_bad_files),
        cmocka_unit_test(test_layers_hostile),
        cmocka_unit_test(test_layers_shipped_example),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
