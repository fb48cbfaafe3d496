/* Tests of models/kern: every kernel against a slow, obvious double-precision loop written here,
 * on odd shapes, several strides and paddings and batch > 1, plus hand-computed tiny cases.
 * Closeness: max over elements of |got − ref| / max(1, |ref|) must be <= TOL (1e-5). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kern.h"

#include "fixture.h"

static const double TOL = 1e-5;
static const uint64_t TEST_SEED = 0x7e57c0de1234ULL;
static const float BOF_EPS = 5e-16f; /* the Predictive Exit code's default */

/* ---- helpers ---- */

static double *dbl_array(size_t count)
{
    double *x = calloc(count ? count : 1, sizeof *x);
    assert_non_null(x);
    return x;
}

/* max_i |got_i − ref_i| / max(1, |ref_i|); infinite when a value is NaN. */
static double rel_err(const float *got, const double *ref, size_t count)
{
    double worst = 0.0;
    for (size_t i = 0; i < count; i++) {
        double den = fabs(ref[i]) > 1.0 ? fabs(ref[i]) : 1.0;
        double e = fabs((double)got[i] - ref[i]) / den;
        if (isnan(e)) return INFINITY;
        if (e > worst) worst = e;
    }
    return worst;
}

static void expect_close(const float *got, const double *ref, size_t count, const char *what)
{
    double e = rel_err(got, ref, count);
    if (!(e <= TOL)) fail_msg("%s: relative error %.3g > %.3g", what, e, TOL);
}

/* ---- naive references ---- */

/* Direct 7-loop convolution in double, zero padding. */
static void naive_conv(const kern_conv2d_desc *d, const float *x, const float *w, const float *bias,
                       double *y)
{
    int oh = kern_out_dim(d->h, d->kh, d->stride_h, d->pad_h);
    int ow = kern_out_dim(d->w, d->kw, d->stride_w, d->pad_w);
    for (int n = 0; n < d->n; n++)
        for (int o = 0; o < d->c_out; o++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++) {
                    double acc = bias ? bias[o] : 0.0;
                    for (int c = 0; c < d->c_in; c++)
                        for (int i = 0; i < d->kh; i++)
                            for (int j = 0; j < d->kw; j++) {
                                int iy = oy * d->stride_h - d->pad_h + i;
                                int ix = ox * d->stride_w - d->pad_w + j;
                                if (iy < 0 || iy >= d->h || ix < 0 || ix >= d->w) continue;
                                double xv = x[((n * d->c_in + c) * d->h + iy) * d->w + ix];
                                double wv = w[((o * d->c_in + c) * d->kh + i) * d->kw + j];
                                acc += xv * wv;
                            }
                    y[((n * d->c_out + o) * oh + oy) * ow + ox] = acc;
                }
}

/* Pooling in double over an explicitly padded window: −inf padding for max, zero padding and a
 * kh·kw divisor for average (count_include_pad=True). */
static void naive_pool(const kern_pool_desc *d, const float *x, double *y, int is_max)
{
    int oh = kern_out_dim(d->h, d->kh, d->stride_h, d->pad_h);
    int ow = kern_out_dim(d->w, d->kw, d->stride_w, d->pad_w);
    for (int p = 0; p < d->n * d->c; p++)
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++) {
                double acc = is_max ? -INFINITY : 0.0;
                for (int i = 0; i < d->kh; i++)
                    for (int j = 0; j < d->kw; j++) {
                        int iy = oy * d->stride_h - d->pad_h + i;
                        int ix = ox * d->stride_w - d->pad_w + j;
                        int inside = iy >= 0 && iy < d->h && ix >= 0 && ix < d->w;
                        double v =
                            inside ? x[(p * d->h + iy) * d->w + ix] : (is_max ? -INFINITY : 0.0);
                        acc = is_max ? fmax(acc, v) : acc + v;
                    }
                y[(p * oh + oy) * ow + ox] = is_max ? acc : acc / (d->kh * d->kw);
            }
}

/* Inference batch norm in double, in place on N×C×HW. */
static void naive_bn(int n, int c, int hw, double *y, const float *gamma, const float *beta,
                     const float *mean, const float *var, float eps)
{
    for (int s = 0; s < n; s++)
        for (int ch = 0; ch < c; ch++)
            for (int p = 0; p < hw; p++) {
                double *v = &y[(s * c + ch) * hw + p];
                *v = (*v - mean[ch]) / sqrt((double)var[ch] + eps) * gamma[ch] + beta[ch];
            }
}

/* BoF pooling as the Predictive Exit code writes it (LogisticConvBoF.forward), in double. */
static void naive_bof(const kern_bof_desc *d, const float *x, double *y)
{
    int hw = d->h * d->w, oh = d->h / d->s, ow = d->w / d->s;
    double *u = dbl_array((size_t)d->k * hw);
    for (int n = 0; n < d->n; n++) {
        const float *xs = x + (size_t)n * d->k * hw;
        for (int i = 0; i < d->k * hw; i++) u[i] = (tanh((double)d->a * xs[i] + d->c) + 1.0) / 2;
        for (int p = 0; p < hw; p++) {
            double sum = 0.0;
            for (int k = 0; k < d->k; k++) sum += u[k * hw + p];
            for (int k = 0; k < d->k; k++) u[k * hw + p] = u[k * hw + p] / (sum + d->eps) * d->n1;
        }
        for (int k = 0; k < d->k; k++)
            for (int by = 0; by < oh; by++)
                for (int bx = 0; bx < ow; bx++) {
                    double acc = 0.0;
                    for (int i = 0; i < d->s; i++)
                        for (int j = 0; j < d->s; j++)
                            acc += u[k * hw + (by * d->s + i) * d->w + bx * d->s + j];
                    y[((n * d->k + k) * oh + by) * ow + bx] = acc / (d->s * d->s) * d->n2;
                }
    }
    free(u);
}

/* ---- convolution ---- */

static void test_out_dim(void **state)
{
    (void)state;
    assert_int_equal(kern_out_dim(32, 3, 1, 1), 32);
    assert_int_equal(kern_out_dim(7, 3, 2, 1), 4);
    assert_int_equal(kern_out_dim(5, 3, 2, 1), 3);
    assert_int_equal(kern_out_dim(3, 2, 2, 1), 2);
    assert_int_equal(kern_out_dim(2, 5, 1, 1), -1); /* window larger than padded input */
    assert_int_equal(kern_out_dim(0, 1, 1, 0), -1);
    assert_int_equal(kern_out_dim(4, 1, 0, 0), -1);
    assert_int_equal(kern_out_dim(4, 1, 1, -1), -1);
}

/* 3×3 input 1..9, 2×2 kernel [1 2; 3 4], worked out by hand. */
static void test_conv_hand(void **state)
{
    (void)state;
    const float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    const float w[4] = {1, 2, 3, 4};
    const float bias[1] = {0.5f};
    float y[4], ws[16];

    /* stride 1, no padding: 1+4+12+20 = 37, 2+6+15+24 = 47, 4+10+21+32 = 67, 5+12+24+36 = 77 */
    kern_conv2d_desc d = {1, 1, 3, 3, 1, 2, 2, 1, 1, 0, 0};
    assert_true(kern_conv2d_workspace_floats(&d) <= sizeof ws / sizeof ws[0]);
    assert_int_equal(kern_conv2d(&d, x, w, bias, y, ws), KERN_OK);
    const float want1[4] = {37.5f, 47.5f, 67.5f, 77.5f};
    for (int i = 0; i < 4; i++) assert_float_equal(y[i], want1[i], 0.0);

    /* stride 2, padding 1, no bias: windows start at −1 and 1 on each axis:
     * 1·4 = 4, 2·3 + 3·4 = 18, 4·2 + 7·4 = 36, 5·1 + 6·2 + 8·3 + 9·4 = 77 */
    kern_conv2d_desc d2 = {1, 1, 3, 3, 1, 2, 2, 2, 2, 1, 1};
    int oh, ow;
    assert_int_equal(kern_conv2d_out_hw(&d2, &oh, &ow), KERN_OK);
    assert_int_equal(oh, 2);
    assert_int_equal(ow, 2);
    assert_true(kern_conv2d_workspace_floats(&d2) <= sizeof ws / sizeof ws[0]);
    assert_int_equal(kern_conv2d(&d2, x, w, NULL, y, ws), KERN_OK);
    const float want2[4] = {4, 18, 36, 77};
    for (int i = 0; i < 4; i++) assert_float_equal(y[i], want2[i], 0.0);
}

/* Runs kern_conv2d on random data and compares with naive_conv. */
static void check_conv(const kern_conv2d_desc *d, int with_bias, uint64_t *rng)
{
    int oh, ow;
    assert_int_equal(kern_conv2d_out_hw(d, &oh, &ow), KERN_OK);
    size_t in = (size_t)d->n * d->c_in * d->h * d->w;
    size_t wn = (size_t)d->c_out * d->c_in * d->kh * d->kw;
    size_t out = (size_t)d->n * d->c_out * oh * ow;
    size_t wsn = kern_conv2d_workspace_floats(d);
    float *x = fx_rnd_array(in, 1.0f, rng), *w = fx_rnd_array(wn, 1.0f, rng);
    float *bias = with_bias ? fx_rnd_array((size_t)d->c_out, 1.0f, rng) : NULL;
    float *y = fx_nan_array(out), *ws = wsn ? fx_nan_array(wsn) : NULL;
    double *ref = dbl_array(out);
    assert_int_equal(kern_conv2d(d, x, w, bias, y, ws), KERN_OK);
    naive_conv(d, x, w, bias, ref);
    char what[160];
    snprintf(what, sizeof what, "conv n%d c%d %dx%d -> c%d k%dx%d s%d,%d p%d,%d bias %d", d->n,
             d->c_in, d->h, d->w, d->c_out, d->kh, d->kw, d->stride_h, d->stride_w, d->pad_h,
             d->pad_w, with_bias);
    expect_close(y, ref, out, what);
    free(x);
    free(w);
    free(bias);
    free(y);
    free(ws);
    free(ref);
}

static void test_conv_vs_naive(void **state)
{
    (void)state;
    uint64_t rng = TEST_SEED;
    static const kern_conv2d_desc cases[] = {
        /* n  cin h   w  cout kh kw sh sw ph pw */
        {2, 3, 7, 5, 4, 3, 3, 2, 2, 1, 1},   /* odd map, stride 2, pad 1 */
        {3, 3, 7, 5, 2, 3, 3, 1, 1, 1, 1},   /* same padding */
        {2, 5, 7, 5, 3, 1, 1, 1, 1, 0, 0},   /* pointwise: no im2col */
        {3, 4, 9, 6, 5, 1, 1, 2, 2, 0, 0},   /* 1×1 stride 2 (projection shortcut) */
        {2, 2, 6, 7, 3, 1, 1, 1, 1, 1, 0},   /* 1×1 with padding */
        {2, 3, 8, 9, 2, 5, 3, 2, 1, 2, 1},   /* rectangular kernel, mixed strides */
        {1, 2, 4, 4, 3, 2, 2, 1, 1, 0, 0},   /* even kernel */
        {2, 2, 3, 2, 2, 5, 5, 1, 1, 2, 2},   /* kernel larger than the map */
        {2, 2, 1, 2, 3, 1, 7, 1, 1, 0, 3},   /* taps shifted past the whole row */
        {2, 3, 7, 5, 2, 3, 3, 3, 2, 0, 1},   /* stride 3 */
        {5, 2, 10, 20, 3, 3, 3, 1, 1, 1, 1}, /* 200-px maps: folded in pairs, 2 + 2 + 1 */
        {5, 3, 10, 10, 2, 3, 3, 1, 1, 1, 1}, /* 100-px maps: folded groups 3 + 2 */
        {3, 2, 9, 7, 4, 3, 3, 2, 2, 1, 1},   /* strided conv on small maps, folded */
        {4, 3, 4, 4, 6, 3, 3, 1, 1, 1, 1},   /* 4×4 maps: the whole batch in one GEMM */
        {2, 4, 32, 32, 3, 3, 3, 1, 1, 1, 1}, /* 32×32 maps: one GEMM per sample */
        {3, 6, 5, 3, 4, 1, 1, 1, 1, 0, 0},   /* pointwise on a tiny map, batch 3 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        check_conv(&cases[i], 1, &rng);
        check_conv(&cases[i], 0, &rng);
    }
}

static void test_conv_workspace_and_errors(void **state)
{
    (void)state;
    kern_conv2d_desc pw = {4, 8, 5, 3, 2, 1, 1, 1, 1, 0, 0};
    assert_int_equal(kern_conv2d_workspace_floats(&pw), 0);
    kern_conv2d_desc big = {1, 3, 32, 32, 8, 3, 3, 1, 1, 1, 1};
    assert_int_equal(kern_conv2d_workspace_floats(&big), 3 * 3 * 3 * 32 * 32);

    float x[4] = {0}, w[4] = {0}, y[4], ws[4];
    kern_conv2d_desc bad = {1, 1, 2, 2, 1, 3, 3, 1, 1, 0, 0}; /* 3×3 kernel on a 2×2 map */
    assert_int_equal(kern_conv2d_workspace_floats(&bad), 0);
    assert_int_equal(kern_conv2d(&bad, x, w, NULL, y, ws), KERN_EINVAL);
    kern_conv2d_desc zero_stride = {1, 1, 2, 2, 1, 1, 1, 0, 1, 0, 0};
    assert_int_equal(kern_conv2d(&zero_stride, x, w, NULL, y, ws), KERN_EINVAL);
    kern_conv2d_desc no_batch = {0, 1, 2, 2, 1, 1, 1, 1, 1, 0, 0};
    assert_int_equal(kern_conv2d(&no_batch, x, w, NULL, y, ws), KERN_EINVAL);
    kern_conv2d_desc needs_ws = {1, 1, 2, 2, 1, 2, 2, 1, 1, 0, 0};
    assert_int_equal(kern_conv2d(&needs_ws, x, w, NULL, y, NULL), KERN_EINVAL);
    assert_int_equal(kern_conv2d(NULL, x, w, NULL, y, ws), KERN_EINVAL);
}

/* ---- batch norm ---- */

static void test_bn_fold(void **state)
{
    (void)state;
    uint64_t rng = TEST_SEED + 1;
    const kern_conv2d_desc d = {2, 3, 7, 5, 4, 3, 3, 2, 2, 1, 1};
    const float eps = 1e-5f;
    int oh, ow;
    assert_int_equal(kern_conv2d_out_hw(&d, &oh, &ow), KERN_OK);
    size_t per_out = (size_t)d.c_in * d.kh * d.kw, wn = per_out * d.c_out;
    size_t out = (size_t)d.n * d.c_out * oh * ow;
    float *x = fx_rnd_array((size_t)d.n * d.c_in * d.h * d.w, 1.0f, &rng);
    float *w = fx_rnd_array(wn, 1.0f, &rng);
    float gamma[4], beta[4], mean[4], var[4], bias[4], wf[4 * 27], bf[4];
    for (int o = 0; o < d.c_out; o++) {
        gamma[o] = 1.0f + 0.5f * fx_rnd(&rng);
        beta[o] = fx_rnd(&rng);
        mean[o] = fx_rnd(&rng);
        var[o] = 1.0f + 0.9f * fx_rnd(&rng);
        bias[o] = fx_rnd(&rng);
    }
    assert_int_equal(wn, sizeof wf / sizeof wf[0]);
    size_t wsn = kern_conv2d_workspace_floats(&d);
    float *ws = fx_nan_array(wsn), *y = fx_nan_array(out);
    double *ref = dbl_array(out);

    for (int with_bias = 0; with_bias <= 1; with_bias++) {
        memcpy(wf, w, sizeof wf);
        for (int o = 0; o < d.c_out; o++) bf[o] = with_bias ? bias[o] : 0.0f;
        assert_int_equal(kern_bn_fold(d.c_out, per_out, wf, bf, gamma, beta, mean, var, eps),
                         KERN_OK);
        assert_int_equal(kern_conv2d(&d, x, wf, bf, y, ws), KERN_OK);
        naive_conv(&d, x, w, with_bias ? bias : NULL, ref);
        naive_bn(d.n, d.c_out, oh * ow, ref, gamma, beta, mean, var, eps);
        expect_close(y, ref, out, with_bias ? "bn fold, conv with bias" : "bn fold, no bias");
    }

    /* a non-positive variance is refused and nothing is changed */
    memcpy(wf, w, sizeof wf);
    memcpy(bf, bias, sizeof bf);
    var[2] = -1.0f;
    assert_int_equal(kern_bn_fold(d.c_out, per_out, wf, bf, gamma, beta, mean, var, eps),
                     KERN_EINVAL);
    assert_memory_equal(wf, w, sizeof wf);
    assert_memory_equal(bf, bias, sizeof bf);
    assert_int_equal(kern_bn_fold(0, per_out, wf, bf, gamma, beta, mean, var, eps), KERN_EINVAL);
    free(x);
    free(w);
    free(ws);
    free(y);
    free(ref);
}

static void test_bn_apply(void **state)
{
    (void)state;
    uint64_t rng = TEST_SEED + 2;
    const int n = 3, c = 5, hw = 7 * 3;
    const float eps = 1e-3f;
    size_t count = (size_t)n * c * hw;
    float *x = fx_rnd_array(count, 4.0f, &rng);
    double *ref = dbl_array(count);
    float gamma[5], beta[5], mean[5], var[5];
    for (int i = 0; i < c; i++) {
        gamma[i] = 2.0f * fx_rnd(&rng);
        beta[i] = fx_rnd(&rng);
        mean[i] = fx_rnd(&rng);
        var[i] = 1.0f + fx_rnd(&rng);
    }
    for (size_t i = 0; i < count; i++) ref[i] = x[i];
    naive_bn(n, c, hw, ref, gamma, beta, mean, var, eps);
    assert_int_equal(kern_bn_apply(n, c, (size_t)hw, x, gamma, beta, mean, var, eps), KERN_OK);
    expect_close(x, ref, count, "bn apply");

    var[4] = -eps;
    float keep = x[0];
    assert_int_equal(kern_bn_apply(n, c, (size_t)hw, x, gamma, beta, mean, var, eps), KERN_EINVAL);
    assert_float_equal(x[0], keep, 0.0);
    free(x);
    free(ref);
}

/* ---- element-wise ---- */

static void test_relu_and_add(void **state)
{
    (void)state;
    float x[7] = {-2.0f, -0.0f, 0.0f, 1e-30f, 3.5f, -1e30f, 7.0f};
    const float want[7] = {0.0f, 0.0f, 0.0f, 1e-30f, 3.5f, 0.0f, 7.0f};
    kern_relu(x, 7);
    for (int i = 0; i < 7; i++) assert_float_equal(x[i], want[i], 0.0);

    float y[5] = {1, 2, 3, 4, 5};
    const float d[5] = {0.5f, -2, 10, 0, -5};
    const float sum[5] = {1.5f, 0, 13, 4, 0};
    kern_add(y, d, 5);
    for (int i = 0; i < 5; i++) assert_float_equal(y[i], sum[i], 0.0);
}

/* ---- pooling ---- */

static void test_maxpool_hand(void **state)
{
    (void)state;
    const float x[9] = {1, -2, 3, -4, 5, -6, 7, -8, 9};
    float y[4];
    /* 2×2 stride 1: max(1,−2,−4,5) = 5, max(−2,3,5,−6) = 5, max(−4,5,7,−8) = 7, max(5,−6,−8,9) = 9
     */
    kern_pool_desc d = {1, 1, 3, 3, 2, 2, 1, 1, 0, 0};
    assert_int_equal(kern_maxpool2d(&d, x, y), KERN_OK);
    const float want1[4] = {5, 5, 7, 9};
    for (int i = 0; i < 4; i++) assert_float_equal(y[i], want1[i], 0.0);

    /* all negative, 2×2 stride 2 padding 1: padding must never win (zero padding would give 0):
     * windows {−1}, {−2,−3}, {−4,−7}, {−5,−6,−8,−9} */
    const float neg[9] = {-1, -2, -3, -4, -5, -6, -7, -8, -9};
    kern_pool_desc d2 = {1, 1, 3, 3, 2, 2, 2, 2, 1, 1};
    assert_int_equal(kern_maxpool2d(&d2, neg, y), KERN_OK);
    const float want2[4] = {-1, -2, -4, -5};
    for (int i = 0; i < 4; i++) assert_float_equal(y[i], want2[i], 0.0);

    /* average, count_include_pad: 1/4, (2+3)/4, (4+7)/4, (5+6+8+9)/4 */
    const float pos[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    assert_int_equal(kern_avgpool2d(&d2, pos, y), KERN_OK);
    const float want3[4] = {0.25f, 1.25f, 2.75f, 7.0f};
    for (int i = 0; i < 4; i++) assert_float_equal(y[i], want3[i], 0.0);

    /* a NaN in a window propagates */
    float nan_in[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    nan_in[4] = NAN;
    assert_int_equal(kern_maxpool2d(&d, nan_in, y), KERN_OK);
    for (int i = 0; i < 4; i++) assert_true(isnan(y[i]));
}

static void test_pool_vs_naive(void **state)
{
    (void)state;
    uint64_t rng = TEST_SEED + 3;
    static const kern_pool_desc cases[] = {
        /* n  c  h  w  kh kw sh sw ph pw */
        {2, 3, 7, 5, 2, 2, 2, 2, 0, 0},   /* VGG's 2×2/2 on an odd map (floor) */
        {2, 3, 7, 5, 3, 3, 2, 2, 1, 1},   /* ResNet-style 3×3/2 pad 1 */
        {3, 2, 8, 6, 3, 3, 1, 1, 1, 1},   /* stride 1 */
        {2, 2, 9, 7, 3, 2, 3, 2, 1, 1},   /* rectangular window, mixed strides */
        {1, 4, 5, 5, 5, 5, 1, 1, 2, 2},   /* window as large as the map */
        {2, 2, 32, 32, 2, 2, 2, 2, 0, 0}, /* a real VGG map */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const kern_pool_desc *d = &cases[i];
        int oh, ow;
        assert_int_equal(kern_pool_out_hw(d, &oh, &ow), KERN_OK);
        size_t in = (size_t)d->n * d->c * d->h * d->w, out = (size_t)d->n * d->c * oh * ow;
        float *x = fx_rnd_array(in, 3.0f, &rng), *y = fx_nan_array(out);
        double *ref = dbl_array(out);
        char what[96];
        for (int is_max = 0; is_max <= 1; is_max++) {
            int rc = is_max ? kern_maxpool2d(d, x, y) : kern_avgpool2d(d, x, y);
            assert_int_equal(rc, KERN_OK);
            naive_pool(d, x, ref, is_max);
            snprintf(what, sizeof what, "%s pool case %zu", is_max ? "max" : "avg", i);
            expect_close(y, ref, out, what);
        }
        free(x);
        free(y);
        free(ref);
    }
}

static void test_pool_errors(void **state)
{
    (void)state;
    float x[16] = {0}, y[16];
    kern_pool_desc pad_too_big = {1, 1, 4, 4, 2, 2, 2, 2, 2, 0};
    assert_int_equal(kern_maxpool2d(&pad_too_big, x, y), KERN_EINVAL);
    assert_int_equal(kern_avgpool2d(&pad_too_big, x, y), KERN_EINVAL);
    kern_pool_desc window_too_big = {1, 1, 4, 4, 5, 5, 1, 1, 0, 0};
    assert_int_equal(kern_maxpool2d(&window_too_big, x, y), KERN_EINVAL);
    kern_pool_desc no_channels = {1, 0, 4, 4, 2, 2, 2, 2, 0, 0};
    assert_int_equal(kern_pool_out_hw(&no_channels, NULL, NULL), KERN_EINVAL);
}

/* ---- fully connected ---- */

static void test_fc(void **state)
{
    (void)state;
    uint64_t rng = TEST_SEED + 4;
    const int n = 3, in = 7, out = 5;
    float *x = fx_rnd_array((size_t)n * in, 1.0f, &rng),
          *w = fx_rnd_array((size_t)out * in, 1.0f, &rng);
    float *b = fx_rnd_array((size_t)out, 1.0f, &rng), *y = fx_nan_array((size_t)n * out);
    double ref[15];
    for (int with_bias = 0; with_bias <= 1; with_bias++) {
        for (int r = 0; r < n; r++)
            for (int o = 0; o < out; o++) {
                double acc = with_bias ? b[o] : 0.0;
                for (int i = 0; i < in; i++) acc += (double)x[r * in + i] * w[o * in + i];
                ref[r * out + o] = acc;
            }
        assert_int_equal(kern_fc(n, in, out, x, w, with_bias ? b : NULL, y), KERN_OK);
        expect_close(y, ref, (size_t)n * out, with_bias ? "fc with bias" : "fc without bias");
    }
    assert_int_equal(kern_fc(0, in, out, x, w, b, y), KERN_EINVAL);
    free(x);
    free(w);
    free(b);
    free(y);
}

/* ---- softmax ---- */

static void test_softmax(void **state)
{
    (void)state;
    uint64_t rng = TEST_SEED + 5;
    enum { ROWS = 4, CLASSES = 10 };
    float x[ROWS * CLASSES], p[ROWS * CLASSES], lp[ROWS * CLASSES];
    double ref[ROWS * CLASSES], lref[ROWS * CLASSES];
    for (int i = 0; i < ROWS * CLASSES; i++) x[i] = 5.0f * fx_rnd(&rng);
    x[CLASSES * 2] = 1000.0f; /* would overflow exp without the max subtraction */
    x[CLASSES * 2 + 1] = 999.0f;
    for (int i = 0; i < CLASSES; i++) x[CLASSES * 3 + i] = -1000.0f + (float)i;
    for (int r = 0; r < ROWS; r++) {
        double m = -INFINITY, sum = 0.0;
        for (int j = 0; j < CLASSES; j++) m = fmax(m, x[r * CLASSES + j]);
        for (int j = 0; j < CLASSES; j++) sum += exp(x[r * CLASSES + j] - m);
        for (int j = 0; j < CLASSES; j++) {
            ref[r * CLASSES + j] = exp(x[r * CLASSES + j] - m) / sum;
            lref[r * CLASSES + j] = x[r * CLASSES + j] - m - log(sum);
        }
    }
    kern_softmax(ROWS, CLASSES, x, p);
    kern_log_softmax(ROWS, CLASSES, x, lp);
    expect_close(p, ref, ROWS * CLASSES, "softmax");
    expect_close(lp, lref, ROWS * CLASSES, "log-softmax");
    for (int r = 0; r < ROWS; r++) {
        double sum = 0.0;
        for (int j = 0; j < CLASSES; j++) {
            sum += p[r * CLASSES + j];
            /* log-softmax = log(softmax) wherever softmax is not flushed to zero */
            if (p[r * CLASSES + j] > 0.0f)
                assert_true(fabs(lp[r * CLASSES + j] - log(p[r * CLASSES + j])) <=
                            TOL * fmax(1.0, fabs(lp[r * CLASSES + j])));
        }
        assert_true(fabs(sum - 1.0) <= TOL);
    }
    /* in place gives the same result */
    float inplace[ROWS * CLASSES];
    memcpy(inplace, x, sizeof x);
    kern_softmax(ROWS, CLASSES, inplace, inplace);
    assert_memory_equal(inplace, p, sizeof p);
    memcpy(inplace, x, sizeof x);
    kern_log_softmax(ROWS, CLASSES, inplace, inplace);
    assert_memory_equal(inplace, lp, sizeof lp);

    /* a NaN logit makes its whole row NaN instead of a plausible distribution */
    float bad[3] = {1.0f, NAN, 2.0f}, out[3];
    kern_softmax(1, 3, bad, out);
    for (int j = 0; j < 3; j++) assert_true(isnan(out[j]));
    kern_log_softmax(1, 3, bad, out);
    for (int j = 0; j < 3; j++) assert_true(isnan(out[j]));
}

/* ---- Bag-of-Features head ---- */

static void test_bof_vs_naive(void **state)
{
    (void)state;
    uint64_t rng = TEST_SEED + 6;
    static const int shapes[][5] = {
        /* n  k  h  w  s */
        {2, 6, 8, 8, 4},  /* exit after a conv: 2×2 bins */
        {3, 5, 7, 5, 2},  /* odd map: the remainder row and column are dropped */
        {2, 4, 4, 4, 4},  /* map already s×s: one bin */
        {1, 64, 4, 4, 2}, /* 64 codewords as in the paper */
        {2, 3, 6, 9, 3},  /* non-square */
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        kern_bof_desc d = {shapes[i][0],        shapes[i][1], shapes[i][2], shapes[i][3],
                           shapes[i][4],        1.3f,         -0.2f,        (float)shapes[i][1],
                           (float)shapes[i][4], BOF_EPS};
        size_t in = (size_t)d.n * d.k * d.h * d.w;
        size_t out = (size_t)d.n * d.k * (d.h / d.s) * (d.w / d.s);
        float *x = fx_rnd_array(in, 2.0f, &rng), *y = fx_nan_array(out);
        float *ws = fx_nan_array(kern_bof_workspace_floats(&d));
        double *ref = dbl_array(out);
        naive_bof(&d, x, ref);
        assert_int_equal(kern_bof(&d, x, y, ws), KERN_OK);
        char what[64];
        snprintf(what, sizeof what, "bof case %zu", i);
        expect_close(y, ref, out, what);
        free(x);
        free(y);
        free(ws);
        free(ref);
    }
}

/* The exposed pieces (activate, normalise, then average-pool and scale) give the same result. */
static void test_bof_pieces(void **state)
{
    (void)state;
    uint64_t rng = TEST_SEED + 7;
    const kern_bof_desc d = {2, 5, 6, 6, 3, 0.8f, 0.1f, 5.0f, 3.0f, BOF_EPS};
    const size_t hw = (size_t)d.h * d.w, in = (size_t)d.n * d.k * hw;
    const size_t out = (size_t)d.n * d.k * (d.h / d.s) * (d.w / d.s);
    float *x = fx_rnd_array(in, 2.0f, &rng), *ws = fx_nan_array(hw), *y = fx_nan_array(out);
    double *ref = dbl_array(out);
    naive_bof(&d, x, ref);

    kern_bof_activate(x, in, d.a, d.c);
    for (size_t i = 0; i < in; i++) assert_true(x[i] >= 0.0f && x[i] <= 1.0f);
    assert_int_equal(kern_bof_normalise(d.n, d.k, hw, x, d.n1, d.eps, ws), KERN_OK);
    for (int s = 0; s < d.n; s++) /* codewords at each pixel now sum to n1 */
        for (size_t p = 0; p < hw; p++) {
            double sum = 0.0;
            for (int k = 0; k < d.k; k++) sum += x[((size_t)s * d.k + k) * hw + p];
            assert_true(fabs(sum - d.n1) <= TOL * d.n1);
        }
    kern_pool_desc pd = {d.n, d.k, d.h, d.w, d.s, d.s, d.s, d.s, 0, 0};
    assert_int_equal(kern_avgpool2d(&pd, x, y), KERN_OK);
    for (size_t i = 0; i < out; i++) y[i] *= d.n2;
    expect_close(y, ref, out, "bof pieces");

    kern_bof_desc bad = d;
    bad.s = 7; /* window larger than the map */
    assert_int_equal(kern_bof_workspace_floats(&bad), 0);
    assert_int_equal(kern_bof(&bad, x, y, ws), KERN_EINVAL);
    free(x);
    free(ws);
    free(y);
    free(ref);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_out_dim),
        cmocka_unit_test(test_conv_hand),
        cmocka_unit_test(test_conv_vs_naive),
        cmocka_unit_test(test_conv_workspace_and_errors),
        cmocka_unit_test(test_bn_fold),
        cmocka_unit_test(test_bn_apply),
        cmocka_unit_test(test_relu_and_add),
        cmocka_unit_test(test_maxpool_hand),
        cmocka_unit_test(test_pool_vs_naive),
        cmocka_unit_test(test_pool_errors),
        cmocka_unit_test(test_fc),
        cmocka_unit_test(test_softmax),
        cmocka_unit_test(test_bof_vs_naive),
        cmocka_unit_test(test_bof_pieces),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
