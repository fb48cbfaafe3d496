/* Tests of models/eng: engine logits at every exit and the final classifier against a naive
 * double-precision forward written here (direct convolution, unfolded BN, the BoF head formulas of
 * DESIGN section 3), continuation versus fresh runs, MAC counters, batch consistency, errors. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eng.h"
#include "net.h"

static const double REF_TOL = 1e-4;   /* max |got − ref| / max |ref| against the naive forward */
static const double BATCH_TOL = 1e-6; /* the same, batch 3 against three batch-1 runs */
static const uint64_t TEST_SEED = 0x5eed0e17a11ULL;
static const double BN_EPS = 1e-5;   /* PyTorch's default, as eng.h documents */
static const double BOF_EPS = 5e-16; /* the paper's code */
enum { BATCH = 3, CLASSES = 10, ERR_LEN = 256 };

/* ---- helpers ---- */

/* splitmix64 (Steele, Lea, Flood 2014) mapped to a double in [lo, hi). */
static double rnd(uint64_t *state, double lo, double hi)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return lo + (hi - lo) * ((double)(z >> 11) * 0x1.0p-53);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Random parameters by tensor role: He-uniform weights, BN var in [0.5, 1.5), gamma near 1. */
static float **make_params(const net *n, uint64_t seed)
{
    uint64_t st = seed;
    int nt = net_tensor_count(n);
    float **p = calloc((size_t)nt, sizeof *p);
    assert_non_null(p);
    for (int i = 0; i < nt; i++) {
        const net_tensor *t = net_tensor_at(n, i);
        p[i] = malloc(t->count * sizeof **p);
        assert_non_null(p[i]);
        double lo = -0.1, hi = 0.1; /* biases, BN beta and mean */
        if (ends_with(t->name, ".var") || ends_with(t->name, ".a") || ends_with(t->name, ".n1") ||
            ends_with(t->name, ".n2")) {
            lo = 0.5;
            hi = 1.5;
        } else if (ends_with(t->name, ".gamma")) {
            lo = 0.8;
            hi = 1.2;
        } else if (ends_with(t->name, ".c")) {
            lo = -0.5;
            hi = 0.5;
        } else if (t->ndim >= 2) {
            hi = sqrt(6.0 / (double)(t->count / (uint64_t)t->dims[0]));
            lo = -hi;
        }
        for (uint64_t k = 0; k < t->count; k++) p[i][k] = (float)rnd(&st, lo, hi);
    }
    return p;
}

static void free_params(const net *n, float **p)
{
    for (int i = 0; i < net_tensor_count(n); i++) free(p[i]);
    free(p);
}

static float *make_input(const net *n, int batch, uint64_t seed)
{
    net_shape s = net_input(n);
    size_t count = (size_t)batch * (size_t)s.c * (size_t)s.h * (size_t)s.w;
    float *x = malloc(count * sizeof *x);
    assert_non_null(x);
    for (size_t i = 0; i < count; i++) x[i] = (float)rnd(&seed, -1.0, 1.0);
    return x;
}

static size_t elems(net_shape s)
{
    return (size_t)s.c * (size_t)s.h * (size_t)s.w;
}

/* max |a − b| / max |b| over count values. */
static double rel_err(const float *a, const float *b, size_t count)
{
    double diff = 0.0, scale = 0.0;
    for (size_t i = 0; i < count; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > diff) diff = d;
        if (fabs((double)b[i]) > scale) scale = fabs((double)b[i]);
    }
    return diff / (scale > 0.0 ? scale : 1.0);
}

static net *build(const char *arch, double width, int side)
{
    char err[ERR_LEN];
    net *n = NULL;
    int rc = net_build(&n, arch, width, side, side, 1, CLASSES, err, sizeof err);
    if (rc) fail_msg("net_build: %s", err);
    return n;
}

/* ---- the naive reference forward ---- */

static void ref_conv(const net_op *o, const float *x, const float *w, const float *b, float *y,
                     int batch)
{
    for (int n = 0; n < batch; n++)
        for (int co = 0; co < o->out.c; co++)
            for (int oy = 0; oy < o->out.h; oy++)
                for (int ox = 0; ox < o->out.w; ox++) {
                    double acc = b ? b[co] : 0.0;
                    for (int ci = 0; ci < o->in.c; ci++)
                        for (int ky = 0; ky < o->kh; ky++)
                            for (int kx = 0; kx < o->kw; kx++) {
                                int iy = oy * o->stride - o->pad + ky;
                                int ix = ox * o->stride - o->pad + kx;
                                if (iy < 0 || iy >= o->in.h || ix < 0 || ix >= o->in.w) continue;
                                acc +=
                                    (double)x[((n * o->in.c + ci) * o->in.h + iy) * o->in.w + ix] *
                                    w[((co * o->in.c + ci) * o->kh + ky) * o->kw + kx];
                            }
                    y[((n * o->out.c + co) * o->out.h + oy) * o->out.w + ox] = (float)acc;
                }
}

static void ref_pool(const net_op *o, const float *x, float *y, int batch)
{
    for (int n = 0; n < batch; n++)
        for (int c = 0; c < o->out.c; c++)
            for (int oy = 0; oy < o->out.h; oy++)
                for (int ox = 0; ox < o->out.w; ox++) {
                    double mx = -INFINITY, sum = 0.0;
                    for (int ky = 0; ky < o->kh; ky++)
                        for (int kx = 0; kx < o->kw; kx++) {
                            double v =
                                x[((n * o->in.c + c) * o->in.h + oy * o->stride + ky) * o->in.w +
                                  ox * o->stride + kx];
                            sum += v;
                            if (v > mx) mx = v;
                        }
                    double r = o->kind == NET_OP_MAXPOOL ? mx : sum / (o->kh * o->kw);
                    y[((n * o->out.c + c) * o->out.h + oy) * o->out.w + ox] = (float)r;
                }
}

static void ref_fc(int batch, int in, int out, const float *x, const float *w, const float *b,
                   float *y)
{
    for (int n = 0; n < batch; n++)
        for (int o = 0; o < out; o++) {
            double acc = b[o];
            for (int i = 0; i < in; i++) acc += (double)x[n * in + i] * w[o * in + i];
            y[n * out + o] = (float)acc;
        }
}

/* Every op's output into outs[op] (allocated here). */
static void ref_forward(const net *n, float *const *p, const float *x, int batch, float **outs)
{
    for (int i = 0; i < net_op_count(n); i++) {
        const net_op *o = net_op_at(n, i);
        const float *in = o->src < 0 ? x : outs[o->src];
        float *const *t = &p[o->tensor_first];
        size_t cnt = (size_t)batch * elems(o->out), hw = (size_t)o->out.h * (size_t)o->out.w;
        float *y = outs[i] = malloc(cnt * sizeof *y);
        assert_non_null(y);
        switch (o->kind) {
        case NET_OP_CONV:
            ref_conv(o, in, t[0], o->bias ? t[1] : NULL, y, batch);
            break;
        case NET_OP_BN:
            for (size_t k = 0; k < cnt; k++) {
                size_t c = (k / hw) % (size_t)o->out.c;
                y[k] =
                    (float)(((double)in[k] - t[2][c]) / sqrt((double)t[3][c] + BN_EPS) * t[0][c] +
                            t[1][c]);
            }
            break;
        case NET_OP_RELU:
            for (size_t k = 0; k < cnt; k++) y[k] = in[k] > 0.0f ? in[k] : 0.0f;
            break;
        case NET_OP_ADD:
            for (size_t k = 0; k < cnt; k++) y[k] = in[k] + outs[o->src2][k];
            break;
        case NET_OP_MAXPOOL:
        case NET_OP_AVGPOOL:
            ref_pool(o, in, y, batch);
            break;
        case NET_OP_FC:
            ref_fc(batch, (int)elems(o->in), o->out.c, in, t[0], t[1], y);
            break;
        default:
            fail_msg("unknown op kind");
        }
    }
}

/* Exit head: codebook conv, x = (tanh(a·x + c) + 1)/2, n1·x_k/(sum_k x_k + eps), n2·avg-pool s,
 * flatten (K, h, w), FC 0 when 256 features, FC 1 (DESIGN section 3). */
static void ref_head(const net *n, float *const *p, int exit_index, const float *act, int batch,
                     float *logits)
{
    const net_exit *x = net_exit_at(n, exit_index);
    const net_bof *b = net_bof_at(n, x->bof);
    const net_fc_pair *f = net_fc_pair_at(n, x->fc_pair);
    float *const *bt = &p[b->tensor_first];
    float *const *ft = &p[f->tensor_first];
    const int k = b->codewords, h = x->in.h, w = x->in.w, s = x->s;
    const int ph = h / s, pw = w / s, feats = k * ph * pw;
    assert_int_equal(feats, x->features);
    double *u = malloc((size_t)k * (size_t)h * (size_t)w * sizeof *u);
    float *feat = malloc((size_t)batch * (size_t)feats * sizeof *feat);
    float *hid = malloc((size_t)batch * (size_t)f->hidden * sizeof *hid);
    assert_true(u && feat && hid);
    for (int nb = 0; nb < batch; nb++) {
        for (int q = 0; q < k; q++)
            for (int px = 0; px < h * w; px++) {
                double acc = bt[1][q];
                for (int c = 0; c < x->in.c; c++)
                    acc += (double)act[((size_t)nb * x->in.c + c) * h * w + px] *
                           bt[0][q * x->in.c + c];
                u[q * h * w + px] = (tanh(bt[2][0] * acc + bt[3][0]) + 1.0) / 2.0;
            }
        for (int px = 0; px < h * w; px++) {
            double sum = 0.0;
            for (int q = 0; q < k; q++) sum += u[q * h * w + px];
            for (int q = 0; q < k; q++)
                u[q * h * w + px] = bt[4][0] * u[q * h * w + px] / (sum + BOF_EPS);
        }
        for (int q = 0; q < k; q++)
            for (int by = 0; by < ph; by++)
                for (int bx = 0; bx < pw; bx++) {
                    double sum = 0.0;
                    for (int yy = 0; yy < s; yy++)
                        for (int xx = 0; xx < s; xx++)
                            sum += u[q * h * w + (by * s + yy) * w + bx * s + xx];
                    feat[nb * feats + (q * ph + by) * pw + bx] = (float)(bt[5][0] * sum / (s * s));
                }
    }
    const float *in1 = feat;
    if (x->uses_fc0) {
        ref_fc(batch, f->in, f->hidden, feat, ft[0], ft[1], hid);
        in1 = hid;
    }
    ref_fc(batch, f->hidden, f->classes, in1, ft[2], ft[3], logits);
    free(u);
    free(feat);
    free(hid);
}

static eng *new_eng(const net *n, float **p, int max_batch)
{
    char err[ERR_LEN] = "";
    eng *e = eng_new(n, (const float *const *)p, max_batch, err, sizeof err);
    if (!e) fail_msg("eng_new: %s", err);
    return e;
}

/* ---- tests ---- */

/* Every exit and the final classifier against the naive forward at batch 3. */
static void check_vs_reference(const char *arch, double width, int side)
{
    net *n = build(arch, width, side);
    float **p = make_params(n, TEST_SEED);
    float *x = make_input(n, BATCH, TEST_SEED + 1);
    int ops = net_op_count(n), exits = net_exit_count(n);
    float **outs = calloc((size_t)ops, sizeof *outs);
    assert_non_null(outs);
    ref_forward(n, p, x, BATCH, outs);

    eng *e = new_eng(n, p, BATCH);
    assert_int_equal(eng_begin(e, x, BATCH), 0);
    float got[BATCH * CLASSES], want[BATCH * CLASSES];
    for (int l = 0; l < exits; l++) {
        assert_int_equal(eng_exit(e, l, got), 0);
        ref_head(n, p, l, outs[net_exit_at(n, l)->op], BATCH, want);
        double r = rel_err(got, want, BATCH * CLASSES);
        if (r > REF_TOL) fail_msg("%s exit %d: relative error %g", arch, l, r);
    }
    assert_int_equal(eng_final(e, got), 0);
    double r = rel_err(got, outs[ops - 1], BATCH * CLASSES);
    if (r > REF_TOL) fail_msg("%s final: relative error %g", arch, r);

    eng_free(e);
    for (int i = 0; i < ops; i++) free(outs[i]);
    free(outs);
    free(x);
    free_params(n, p);
    net_free(n);
}

static void test_vgg19_vs_reference(void **state)
{
    (void)state;
    check_vs_reference("vgg19", 0.125, 32);
}

static void test_resnet34_vs_reference(void **state)
{
    (void)state;
    check_vs_reference("resnet34", 0.125, 16);
}

/* Exits 0, 3, 7 then the final in one pass equal fresh engines evaluating each alone; exits
 * already passed stay available; MAC counters follow the net's sums. */
static void test_continue_matches_fresh(void **state)
{
    (void)state;
    net *n = build("vgg19", 0.125, 32);
    float **p = make_params(n, TEST_SEED);
    float *x = make_input(n, BATCH, TEST_SEED + 2);
    const int seq[] = {0, 3, 7, net_exit_count(n)};
    const size_t seq_len = sizeof seq / sizeof seq[0];
    float got[4][BATCH * CLASSES], fresh[BATCH * CLASSES];
    eng *e = new_eng(n, p, BATCH);
    assert_int_equal(eng_begin(e, x, BATCH), 0);
    uint64_t exit_sum = 0;
    for (size_t i = 0; i < seq_len; i++) {
        assert_int_equal(eng_exit(e, seq[i], got[i]), 0);
        const net_exit *ex = net_exit_at(n, seq[i]);
        exit_sum += ex->macs;
        uint64_t bb, xm;
        eng_macs(e, &bb, &xm);
        assert_true(bb == ex->backbone_macs_cum);
        assert_true(xm == exit_sum);
        assert_int_equal(eng_position(e), ex->op + 1);
    }
    assert_true(net_exit_at(n, seq[seq_len - 1])->backbone_macs_cum ==
                net_get_totals(n)->backbone_macs);
    /* out of order: exit 3 again after the final, then a run_to that is already past */
    float again[BATCH * CLASSES];
    assert_int_equal(eng_exit(e, 3, again), 0);
    assert_memory_equal(again, got[1], sizeof again);
    assert_int_equal(eng_run_to(e, 0), 0);
    for (size_t i = 0; i < seq_len; i++) {
        eng *f = new_eng(n, p, BATCH);
        assert_int_equal(eng_begin(f, x, BATCH), 0);
        assert_int_equal(eng_exit(f, seq[i], fresh), 0);
        assert_memory_equal(fresh, got[i], sizeof fresh);
        eng_free(f);
    }
    /* eng_begin resets position and counters */
    assert_int_equal(eng_begin(e, x, BATCH), 0);
    uint64_t bb = 1, xm = 1;
    eng_macs(e, &bb, &xm);
    assert_true(bb == 0 && xm == 0);
    assert_int_equal(eng_position(e), 0);
    eng_free(e);
    free(x);
    free_params(n, p);
    net_free(n);
}

/* Batch 3 equals three batch-1 runs at every exit and the final classifier. */
static void check_batch(const char *arch, double width, int side)
{
    net *n = build(arch, width, side);
    float **p = make_params(n, TEST_SEED + 3);
    float *x = make_input(n, BATCH, TEST_SEED + 4);
    size_t in_sz = elems(net_input(n));
    int exits = net_exit_count(n);
    eng *e = new_eng(n, p, BATCH);
    float all[BATCH * CLASSES], one[CLASSES];
    for (int l = 0; l <= exits; l++) {
        assert_int_equal(eng_begin(e, x, BATCH), 0);
        assert_int_equal(eng_exit(e, l, all), 0);
        for (int s = 0; s < BATCH; s++) {
            assert_int_equal(eng_begin(e, x + (size_t)s * in_sz, 1), 0);
            assert_int_equal(eng_exit(e, l, one), 0);
            double r = rel_err(one, all + s * CLASSES, CLASSES);
            if (r > BATCH_TOL) fail_msg("%s exit %d sample %d: relative error %g", arch, l, s, r);
        }
    }
    eng_free(e);
    free(x);
    free_params(n, p);
    net_free(n);
}

static void test_batch_consistency(void **state)
{
    (void)state;
    check_batch("vgg19", 0.125, 32);
    check_batch("resnet34", 0.125, 16);
}

static void expect_msg(const eng *e, const char *part)
{
    if (!strstr(eng_error(e), part)) fail_msg("message '%s' lacks '%s'", eng_error(e), part);
}

static void test_errors(void **state)
{
    (void)state;
    net *n = build("resnet34", 0.125, 16);
    float **p = make_params(n, TEST_SEED);
    float *x = make_input(n, BATCH, TEST_SEED);
    float logits[BATCH * CLASSES];
    char err[ERR_LEN] = "";

    assert_null(eng_new(n, (const float *const *)p, 0, err, sizeof err));
    assert_non_null(strstr(err, "max batch"));
    assert_null(eng_new(NULL, (const float *const *)p, 1, err, sizeof err));
    assert_null(eng_new(n, NULL, 1, NULL, 0));

    eng *e = new_eng(n, p, 2);
    assert_int_equal(eng_run_to(e, 0), ENG_ESTATE);
    expect_msg(e, "eng_begin");
    assert_int_equal(eng_exit(e, 0, logits), ENG_ESTATE);
    assert_int_equal(eng_begin(e, x, BATCH), ENG_EARG);
    expect_msg(e, "batch 3 outside 1 .. 2");
    assert_int_equal(eng_begin(e, x, 0), ENG_EARG);
    assert_int_equal(eng_begin(e, NULL, 1), ENG_EARG);
    assert_int_equal(eng_begin(e, x, 2), 0);
    assert_string_equal(eng_error(e), "");
    assert_int_equal(eng_batch(e), 2);
    assert_int_equal(eng_run_to(e, net_op_count(n)), ENG_EARG);
    expect_msg(e, "outside 0 ..");
    assert_int_equal(eng_run_to(e, -1), ENG_EARG);
    assert_int_equal(eng_exit(e, net_exit_count(n) + 1, logits), ENG_EARG);
    expect_msg(e, "eng_exit: exit");
    assert_int_equal(eng_exit(e, -1, logits), ENG_EARG);
    assert_int_equal(eng_exit(e, 0, NULL), ENG_EARG);
    assert_int_equal(eng_final(e, NULL), ENG_EARG);
    assert_int_equal(eng_position(e), 0);
    eng_free(e);
    eng_free(NULL);

    /* a folded BN with var + eps <= 0 is rejected by name */
    int bn = net_op_by_name(n, "stem.bn");
    assert_true(bn >= 0);
    p[net_op_at(n, bn)->tensor_first + 3][0] = -1.0f;
    assert_null(eng_new(n, (const float *const *)p, 1, err, sizeof err));
    assert_non_null(strstr(err, "stem.bn"));

    free(x);
    free_params(n, p);
    net_free(n);
}

/* A hand-built two-exit network (tests/nets/two_exits.ini) with chosen weights; every logit is
 * worked out by hand. Input 4x4x1 of ones; conv 1x1 weight -2, bias 1 → -1 everywhere; ReLU → 0.
 * Both exits share one BoF module (s = 2, 2x2 bins, 256 features) and the FC pair:
 * codebook weight +1 for codewords 0..31, -1 for 32..63, bias 0; a = 1, c = 0, n1 = 64, n2 = 2.
 * Exit 0 (input -1): responses -1 / +1 → act (tanh(∓1) + 1)/2 = 0.1192029 / 0.8807971, their
 * sum over codewords 32, so u = 64·act/32 = 0.2384058 / 1.7615942; pooled mean u, times n2 = 2.
 * FC 0 picks bin 0 of codeword j with weight 0.01: h_j = 0.02·u_j. FC 1: class 0 sums h over
 * codewords 0..31, class 1 over 32..63: logits 32·0.02·u = 0.1525797, 1.1274203.
 * Exit 1 (input 0): responses 0 → act 0.5 → u = 1: logits 0.64, 0.64.
 * Final: FC over the 16 zeros of the ReLU with biases 0.3, -0.3: logits 0.3, -0.3. */
static void test_two_exits_by_hand(void **state)
{
    (void)state;
    enum { SIDE = 4, CLASSES2 = 2, CODEWORDS = 64, FEATURES = 256 };
    char err[ERR_LEN], path[512];
    snprintf(path, sizeof path, "%s/tests/nets/two_exits.ini", PESIM_SOURCE_DIR);
    net *n = NULL;
    if (net_build(&n, path, 1.0, SIDE, SIDE, 1, CLASSES2, err, sizeof err)) fail_msg("%s", err);
    assert_int_equal(net_exit_count(n), 2);
    const int nt = net_tensor_count(n);
    float **p = calloc((size_t)nt, sizeof *p);
    assert_non_null(p);
    for (int i = 0; i < nt; i++) {
        p[i] = calloc(net_tensor_at(n, i)->count, sizeof **p);
        assert_non_null(p[i]);
    }
#define T(name) p[net_tensor_by_name(n, name) >= 0 ? net_tensor_by_name(n, name) : (fail(), 0)]
    T("conv.weight")[0] = -2.0f;
    T("conv.bias")[0] = 1.0f;
    const net_bof *b = net_bof_at(n, 0);
    const net_fc_pair *f = net_fc_pair_at(n, 0);
    char name[96];
    snprintf(name, sizeof name, "%s.codebook.weight", b->name);
    for (int k = 0; k < CODEWORDS; k++) T(name)[k] = k < CODEWORDS / 2 ? 1.0f : -1.0f;
    const char *scalars[] = {"a", "n1", "n2"};
    const float values[] = {1.0f, 64.0f, 2.0f};
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof name, "%s.%s", b->name, scalars[i]);
        T(name)[0] = values[i];
    }
    snprintf(name, sizeof name, "%s.0.weight", f->name);
    for (int j = 0; j < CODEWORDS; j++) T(name)[j * FEATURES + 4 * j] = 0.01f;
    snprintf(name, sizeof name, "%s.1.weight", f->name);
    for (int j = 0; j < CODEWORDS; j++) T(name)[(j < CODEWORDS / 2 ? 0 : 1) * CODEWORDS + j] = 1;
    T("fc.bias")[0] = 0.3f;
    T("fc.bias")[1] = -0.3f;
#undef T
    eng *e = eng_new(n, (const float *const *)p, 1, err, sizeof err);
    assert_non_null(e);
    float x[SIDE * SIDE], z[CLASSES2];
    for (int i = 0; i < SIDE * SIDE; i++) x[i] = 1.0f;
    assert_int_equal(eng_begin(e, x, 1), 0);
    const double t1 = tanh(1.0), lo = 64.0 * (1.0 - t1) / 2.0 / 32.0,
                 hi = 64.0 * (1.0 + t1) / 2.0 / 32.0;
    const double want[3][CLASSES2] = {{0.64 * lo, 0.64 * hi}, {0.64, 0.64}, {0.3, -0.3}};
    for (int x_i = 0; x_i < 3; x_i++) {
        assert_int_equal(eng_exit(e, x_i, z), 0);
        for (int c = 0; c < CLASSES2; c++)
            if (fabs(z[c] - want[x_i][c]) > 1e-5)
                fail_msg("exit %d class %d: %.7f, by hand %.7f", x_i, c, z[c], want[x_i][c]);
    }
    assert_true(fabs(want[0][0] - 0.1525797) < 1e-6 && fabs(want[0][1] - 1.1274203) < 1e-6);
    eng_free(e);
    for (int i = 0; i < nt; i++) free(p[i]);
    free(p);
    net_free(n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vgg19_vs_reference),
        cmocka_unit_test(test_resnet34_vs_reference),
        cmocka_unit_test(test_continue_matches_fresh),
        cmocka_unit_test(test_batch_consistency),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_two_exits_by_hand),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
