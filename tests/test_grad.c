/* Tests of models/grad: every backward against central finite differences of a slow, obvious
 * double-precision forward written here, for the loss L = sum(r ⊙ y) with a random projection r
 * (so dy = r), on odd shapes, several strides and paddings and batch > 1; gradient buffers start
 * non-zero to check that kernels accumulate. Hand-computed cases for the loss and Adam. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grad.h"

#include "fixture.h"

/* Closeness: max over elements of |got − ref| / max(1, |ref|). The forwards are checked to
 * FWD_TOL (float kernels against double loops); gradients to GRAD_TOL, which leaves room for the
 * float rounding of sums over a few hundred products, while a wrong index or a missing term
 * is off by O(1). */
static const double FWD_TOL = 1e-5;
static const double GRAD_TOL = 1e-4;
/* Finite-difference step on double inputs: the forwards are linear or piecewise linear (exact
 * for any step inside a piece) or smooth (BN, softmax: error O(h²)); 1e-6 keeps max-pooling off
 * its kinks for random data while rounding stays near 1e-10. */
static const double FD_STEP = 1e-6;
/* At most about this many elements of a tensor are differenced (an odd stride through it). */
static const size_t FD_MAX_CHECKS = 128;
static const uint64_t TEST_SEED = 0x6a7d5eed4321ULL;
static const float BN_EPS = 1e-5f;

/* ---- helpers ---- */

static float *copy_floats(const float *src, size_t count)
{
    float *x = malloc((count ? count : 1) * sizeof *x);
    assert_non_null(x);
    if (count) memcpy(x, src, count * sizeof *x);
    return x;
}

static double *dbl_array(size_t count)
{
    double *x = calloc(count ? count : 1, sizeof *x);
    assert_non_null(x);
    return x;
}

static double *to_double(const float *src, size_t count)
{
    double *x = dbl_array(count);
    for (size_t i = 0; i < count; i++) x[i] = src[i];
    return x;
}

static double dot(const double *a, const double *b, size_t count)
{
    double s = 0.0;
    for (size_t i = 0; i < count; i++) s += a[i] * b[i];
    return s;
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

static void expect_close(const float *got, const double *ref, size_t count, double tol,
                         const char *what)
{
    double e = rel_err(got, ref, count);
    if (!(e <= tol)) fail_msg("%s: relative error %.3g > %.3g", what, e, tol);
}

/* ---- finite differences ---- */

/* L(ctx) in double. */
typedef double (*loss_fn)(void *ctx);

/* Stride through count elements that checks at most about FD_MAX_CHECKS of them; odd, so that it
 * does not keep hitting the same position of a power-of-two plane. */
static size_t fd_every(size_t count)
{
    size_t every = count / FD_MAX_CHECKS;
    return every < 1 ? 1 : every | 1;
}

/* grad[i] = (L(p_i + h) − L(p_i − h)) / 2h for every fd_every(count)-th element p_i of p (which
 * the loss reads through ctx), NaN for the others. */
static void fd_grad(double *p, size_t count, loss_fn loss, void *ctx, double *grad)
{
    const size_t every = fd_every(count);
    for (size_t i = 0; i < count; i++) grad[i] = NAN;
    for (size_t i = 0; i < count; i += every) {
        const double keep = p[i];
        p[i] = keep + FD_STEP;
        const double up = loss(ctx);
        p[i] = keep - FD_STEP;
        const double down = loss(ctx);
        p[i] = keep;
        grad[i] = (up - down) / (2.0 * FD_STEP);
    }
}

/* got (a gradient buffer that held pre before the kernel added to it) against pre + fd at the
 * differenced elements, to GRAD_TOL. */
static void expect_grad(const float *got, const float *pre, const double *fd, size_t count,
                        const char *what)
{
    double worst = 0.0;
    size_t at = 0, checked = 0;
    for (size_t i = 0; i < count; i++) {
        if (isnan(fd[i])) continue;
        const double ref = (double)pre[i] + fd[i];
        const double den = fabs(ref) > 1.0 ? fabs(ref) : 1.0;
        double e = fabs((double)got[i] - ref) / den;
        if (isnan(e)) e = INFINITY;
        if (e > worst) {
            worst = e;
            at = i;
        }
        checked++;
    }
    assert_true(checked > 0);
    if (!(worst <= GRAD_TOL))
        fail_msg("%s: relative error %.3g > %.3g at %zu (got %.7g, want %.7g)", what, worst,
                 GRAD_TOL, at, (double)got[at], (double)pre[at] + fd[at]);
}

/* ---- convolution ---- */

static size_t conv_in_count(const kern_conv2d_desc *d)
{
    return (size_t)d->n * d->c_in * d->h * d->w;
}

static size_t conv_w_count(const kern_conv2d_desc *d)
{
    return (size_t)d->c_out * d->c_in * d->kh * d->kw;
}

static size_t conv_out_count(const kern_conv2d_desc *d)
{
    int oh, ow;
    assert_int_equal(kern_conv2d_out_hw(d, &oh, &ow), KERN_OK);
    return (size_t)d->n * d->c_out * oh * ow;
}

/* Direct 7-loop convolution in double, zero padding. */
static void naive_conv(const kern_conv2d_desc *d, const double *x, const double *w,
                       const double *bias, double *y)
{
    int oh = kern_out_dim(d->h, d->kh, d->stride_h, d->pad_h);
    int ow = kern_out_dim(d->w, d->kw, d->stride_w, d->pad_w);
    for (int n = 0; n < d->n; n++)
        for (int o = 0; o < d->c_out; o++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++) {
                    double acc = bias[o];
                    for (int c = 0; c < d->c_in; c++)
                        for (int i = 0; i < d->kh; i++) {
                            int iy = oy * d->stride_h - d->pad_h + i;
                            if (iy < 0 || iy >= d->h) continue;
                            for (int j = 0; j < d->kw; j++) {
                                int ix = ox * d->stride_w - d->pad_w + j;
                                if (ix < 0 || ix >= d->w) continue;
                                acc += x[((n * d->c_in + c) * d->h + iy) * d->w + ix] *
                                       w[((o * d->c_in + c) * d->kh + i) * d->kw + j];
                            }
                        }
                    y[((n * d->c_out + o) * oh + oy) * ow + ox] = acc;
                }
}

typedef struct conv_ctx {
    const kern_conv2d_desc *d;
    const double *x, *w, *bias, *r;
    double *y;
    size_t out;
} conv_ctx;

static double conv_loss(void *ctx)
{
    conv_ctx *c = ctx;
    naive_conv(c->d, c->x, c->w, c->bias, c->y);
    return dot(c->r, c->y, c->out);
}

/* grad_conv2d on random data with dy = r against finite differences of sum(r ⊙ conv), with all
 * gradients requested and again with dx and db left out. */
static void check_conv(const kern_conv2d_desc *d, uint64_t *rng)
{
    const size_t in = conv_in_count(d), wn = conv_w_count(d), out = conv_out_count(d);
    const size_t cout = (size_t)d->c_out, wsn = grad_conv2d_workspace_floats(d);
    float *x = fx_rnd_array(in, 1.0f, rng), *w = fx_rnd_array(wn, 1.0f, rng);
    float *bias = fx_rnd_array(cout, 1.0f, rng), *dy = fx_rnd_array(out, 1.0f, rng);
    float *dx0 = fx_rnd_array(in, 1.0f, rng), *dw0 = fx_rnd_array(wn, 1.0f, rng);
    float *db0 = fx_rnd_array(cout, 1.0f, rng);
    float *dx = copy_floats(dx0, in), *dw = copy_floats(dw0, wn), *db = copy_floats(db0, cout);
    float *ws = fx_nan_array(wsn);

    double *xd = to_double(x, in), *wd = to_double(w, wn), *bd = to_double(bias, cout);
    double *rd = to_double(dy, out), *yd = dbl_array(out);
    double *gx = dbl_array(in), *gw = dbl_array(wn), *gb = dbl_array(cout);
    conv_ctx ctx = {d, xd, wd, bd, rd, yd, out};
    fd_grad(xd, in, conv_loss, &ctx, gx);
    fd_grad(wd, wn, conv_loss, &ctx, gw);
    fd_grad(bd, cout, conv_loss, &ctx, gb);

    char what[160];
    int len =
        snprintf(what, sizeof what, "conv n%d c%d %dx%d -> c%d k%dx%d s%d,%d p%d,%d", d->n, d->c_in,
                 d->h, d->w, d->c_out, d->kh, d->kw, d->stride_h, d->stride_w, d->pad_h, d->pad_w);
    assert_int_equal(grad_conv2d(d, x, w, dy, dx, dw, db, wsn ? ws : NULL), KERN_OK);
    snprintf(what + len, sizeof what - (size_t)len, " dx");
    expect_grad(dx, dx0, gx, in, what);
    snprintf(what + len, sizeof what - (size_t)len, " dw");
    expect_grad(dw, dw0, gw, wn, what);
    snprintf(what + len, sizeof what - (size_t)len, " db");
    expect_grad(db, db0, gb, cout, what);

    memcpy(dw, dw0, wn * sizeof *dw);
    assert_int_equal(grad_conv2d(d, x, w, dy, NULL, dw, NULL, wsn ? ws : NULL), KERN_OK);
    snprintf(what + len, sizeof what - (size_t)len, " dw alone");
    expect_grad(dw, dw0, gw, wn, what);

    free(x);
    free(w);
    free(bias);
    free(dy);
    free(dx0);
    free(dw0);
    free(db0);
    free(dx);
    free(dw);
    free(db);
    free(ws);
    free(xd);
    free(wd);
    free(bd);
    free(rd);
    free(yd);
    free(gx);
    free(gw);
    free(gb);
}

static void test_conv_vs_fd(void **state)
{
    (void)state;
    uint64_t rng = TEST_SEED;
    /* Maps of at most 32 output pixels go through gather tables, maps under 256 pixels are
     * folded several samples to a tile, larger ones cut into bands of rows; same-width convs
     * (stride 1, OW == W) take the flat-block path, others the row-by-row one. */
    static const kern_conv2d_desc cases[] = {
        /* n  cin h   w  cout kh kw sh sw ph pw */
        {3, 3, 7, 5, 4, 3, 3, 2, 2, 1, 1},   /* stride 2, pad 1, 4×3 out: table */
        {3, 3, 7, 5, 2, 3, 3, 1, 1, 0, 0},   /* 3×3 unpadded, 5×3 out: table */
        {3, 2, 8, 7, 3, 3, 3, 2, 2, 0, 0},   /* 3×3 stride 2 unpadded: table */
        {3, 4, 9, 6, 5, 1, 1, 2, 2, 0, 0},   /* 1×1 stride 2 (projection shortcut): table */
        {2, 2, 3, 2, 2, 5, 5, 1, 1, 2, 2},   /* kernel larger than the map: table */
        {2, 2, 1, 2, 3, 1, 7, 1, 1, 0, 3},   /* taps shifted past the whole row: table */
        {40, 2, 4, 4, 2, 3, 3, 1, 1, 1, 1},  /* 4×4 maps, batch 40: tiles of 16 + 16 + 8 */
        {5, 2, 9, 7, 3, 3, 3, 2, 2, 1, 1},   /* strided on small maps: the whole batch */
        {3, 3, 7, 5, 2, 3, 3, 1, 1, 1, 1},   /* same padding, 35 px: folded flat blocks */
        {2, 2, 6, 7, 3, 1, 1, 1, 1, 1, 0},   /* 1×1 with row padding: folded flat blocks */
        {2, 3, 8, 9, 2, 5, 3, 2, 1, 2, 1},   /* rectangular kernel, mixed strides: rows */
        {3, 2, 15, 13, 3, 3, 3, 2, 2, 1, 1}, /* stride 2, pad 1, 8×7 out: folded rows */
        {2, 2, 9, 10, 3, 3, 3, 1, 1, 0, 0},  /* unpadded 7×8 out: folded rows */
        {2, 2, 16, 17, 3, 3, 3, 1, 1, 1, 1}, /* 272 px: bands of 16 + 1 rows, flat blocks */
        {2, 1, 32, 32, 2, 3, 3, 1, 1, 1, 1}, /* 32×32: four bands of 8 rows */
        {1, 2, 3, 260, 2, 3, 3, 1, 1, 1, 1}, /* rows wider than a tile: one-row bands */
        {2, 2, 20, 20, 2, 3, 3, 1, 1, 0, 0}, /* unpadded 18×18 out: bands of 15 + 3 rows */
        {2, 2, 35, 33, 3, 3, 3, 2, 2, 0, 0}, /* strided 17×16 out: bands of 16 + 1 rows */
        {3, 5, 7, 5, 3, 1, 1, 1, 1, 0, 0},   /* pointwise: no im2col */
        {3, 6, 5, 3, 4, 1, 1, 1, 1, 0, 0},   /* pointwise on a tiny map */
        {2, 3, 16, 16, 2, 1, 1, 1, 1, 0, 0}, /* pointwise on a 256-px map */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_conv(&cases[i], &rng);
}

static void test_conv_workspace_and_errors(void **state)
{
    (void)state;
    kern_conv2d_desc pw = {4, 8, 5, 3, 2, 1, 1, 1, 1, 0, 0};
    assert_int_equal(grad_conv2d_workspace_floats(&pw), 0);
    /* 32×32 maps go in bands of 8 output rows: 27 im2col rows plus 8 gathered dy rows, 256
     * columns; a 17-wide map in bands of 16 rows (272 columns), a 300-wide one row by row */
    kern_conv2d_desc big = {1, 3, 32, 32, 8, 3, 3, 1, 1, 1, 1};
    assert_int_equal(grad_conv2d_workspace_floats(&big), (27 + 8) * 8 * 32);
    kern_conv2d_desc odd = {1, 3, 20, 17, 8, 3, 3, 1, 1, 1, 1};
    assert_int_equal(grad_conv2d_workspace_floats(&odd), (27 + 8) * 16 * 17);
    kern_conv2d_desc wide = {1, 3, 5, 300, 8, 3, 3, 1, 1, 1, 1};
    assert_int_equal(grad_conv2d_workspace_floats(&wide), (27 + 8) * 300);
    /* 4×4 maps fold 16 samples: 27 im2col rows plus 5 gathered dy rows, 16·16 columns */
    kern_conv2d_desc small = {40, 3, 4, 4, 5, 3, 3, 1, 1, 1, 1};
    assert_int_equal(grad_conv2d_workspace_floats(&small), (27 + 5) * 16 * 16);
    kern_conv2d_desc few = {2, 3, 4, 4, 5, 3, 3, 1, 1, 1, 1}; /* the group is the whole batch */
    assert_int_equal(grad_conv2d_workspace_floats(&few), (27 + 5) * 16 * 2);

    float x[4] = {1, 2, 3, 4}, w[4] = {1, 2, 3, 4}, dy[4] = {1, 1, 1, 1}, ws[64];
    float dx[4] = {0}, dw[4] = {0}, db[1] = {0};
    kern_conv2d_desc bad = {1, 1, 2, 2, 1, 3, 3, 1, 1, 0, 0}; /* 3×3 kernel on a 2×2 map */
    assert_int_equal(grad_conv2d_workspace_floats(&bad), 0);
    assert_int_equal(grad_conv2d(&bad, x, w, dy, dx, dw, db, ws), KERN_EINVAL);
    kern_conv2d_desc zero_stride = {1, 1, 2, 2, 1, 1, 1, 0, 1, 0, 0};
    assert_int_equal(grad_conv2d(&zero_stride, x, w, dy, dx, dw, db, ws), KERN_EINVAL);
    kern_conv2d_desc no_batch = {0, 1, 2, 2, 1, 1, 1, 1, 1, 0, 0};
    assert_int_equal(grad_conv2d(&no_batch, x, w, dy, dx, dw, db, ws), KERN_EINVAL);
    assert_int_equal(grad_conv2d(NULL, x, w, dy, dx, dw, db, ws), KERN_EINVAL);
    kern_conv2d_desc ok = {1, 1, 2, 2, 1, 2, 2, 1, 1, 0, 0};
    assert_true(grad_conv2d_workspace_floats(&ok) > 0);
    assert_int_equal(grad_conv2d(&ok, x, w, dy, dx, dw, db, NULL), KERN_EINVAL); /* needs ws */
    assert_int_equal(grad_conv2d(&ok, NULL, w, dy, dx, dw, db, ws), KERN_EINVAL);
    assert_int_equal(grad_conv2d(&ok, x, NULL, dy, dx, dw, db, ws), KERN_EINVAL);
    assert_int_equal(grad_conv2d(&ok, x, w, NULL, dx, dw, db, ws), KERN_EINVAL);
    assert_int_equal(grad_conv2d(&ok, x, w, dy, dx, NULL, db, ws), KERN_EINVAL);
    for (int i = 0; i < 4; i++) {
        assert_true(dx[i] == 0.0f);
        assert_true(dw[i] == 0.0f);
    }
    assert_true(db[0] == 0.0f);

    /* the same 2×2 kernel over the 2×2 map: dw = x, db = 1, dx = w (one output) */
    assert_int_equal(grad_conv2d(&ok, x, w, dy, dx, dw, db, ws), KERN_OK);
    for (int i = 0; i < 4; i++) {
        assert_float_equal(dw[i], x[i], 0.0);
        assert_float_equal(dx[i], w[i], 0.0);
    }
    assert_float_equal(db[0], 1.0f, 0.0);
}

/* ---- batch norm ---- */

/* Training-mode batch norm in double (two-pass biased variance); mean and var get C values. */
static void naive_bn_train(int n, int c, int hw, const double *x, const double *gamma,
                           const double *beta, double eps, double *y, double *mean, double *var)
{
    const double m = (double)n * hw;
    for (int ch = 0; ch < c; ch++) {
        double s = 0.0, q = 0.0;
        for (int i = 0; i < n; i++)
            for (int p = 0; p < hw; p++) s += x[(i * c + ch) * hw + p];
        const double mu = s / m;
        for (int i = 0; i < n; i++)
            for (int p = 0; p < hw; p++) {
                const double v = x[(i * c + ch) * hw + p] - mu;
                q += v * v;
            }
        const double va = q / m, inv = 1.0 / sqrt(va + eps);
        for (int i = 0; i < n; i++)
            for (int p = 0; p < hw; p++) {
                const int k = (i * c + ch) * hw + p;
                y[k] = (x[k] - mu) * inv * gamma[ch] + beta[ch];
            }
        if (mean) mean[ch] = mu;
        if (var) var[ch] = va;
    }
}

typedef struct bn_ctx {
    int n, c, hw;
    const double *x, *gamma, *beta, *r;
    double *y;
} bn_ctx;

static double bn_loss(void *ctx)
{
    bn_ctx *b = ctx;
    naive_bn_train(b->n, b->c, b->hw, b->x, b->gamma, b->beta, BN_EPS, b->y, NULL, NULL);
    return dot(b->r, b->y, (size_t)b->n * b->c * b->hw);
}

/* Forward values, saved statistics and running statistics against naive_bn_train, the same in
 * place, then (when backward) the backward against finite differences. x is offset by `offset`
 * to check that the statistics survive data far from zero. */
static void check_bn(int n, int c, int hw, float offset, bool backward, uint64_t *rng)
{
    const size_t count = (size_t)n * c * hw, cn = (size_t)c;
    const float momentum = 0.1f;
    float *x = fx_rnd_array(count, 1.0f, rng);
    for (size_t i = 0; i < count; i++) x[i] += offset;
    float *gamma = fx_rnd_array(cn, 1.0f, rng), *beta = fx_rnd_array(cn, 1.0f, rng);
    float *dy = fx_rnd_array(count, 1.0f, rng);
    float *rm = fx_rnd_array(cn, 1.0f, rng), *rv = fx_rnd_array(cn, 1.0f, rng);
    for (size_t i = 0; i < cn; i++) rv[i] = fabsf(rv[i]) + 0.5f;
    float *rm0 = copy_floats(rm, cn), *rv0 = copy_floats(rv, cn);
    float *y = fx_nan_array(count), *smean = fx_nan_array(cn), *sinv = fx_nan_array(cn);

    double *xd = to_double(x, count), *gd = to_double(gamma, cn), *bd = to_double(beta, cn);
    double *rd = to_double(dy, count), *yd = dbl_array(count);
    double *mu = dbl_array(cn), *var = dbl_array(cn);
    naive_bn_train(n, c, hw, xd, gd, bd, BN_EPS, yd, mu, var);

    char what[96];
    snprintf(what, sizeof what, "bn n%d c%d hw%d offset %g", n, c, hw, (double)offset);
    assert_int_equal(
        grad_bn_forward(n, c, (size_t)hw, x, y, gamma, beta, rm, rv, momentum, BN_EPS, smean, sinv),
        KERN_OK);
    expect_close(y, yd, count, FWD_TOL, what);
    const double m = (double)n * hw;
    for (int ch = 0; ch < c; ch++) {
        const double unbiased = m > 1 ? var[ch] * m / (m - 1) : var[ch];
        const double inv = 1.0 / sqrt(var[ch] + BN_EPS);
        assert_true(fabs(smean[ch] - mu[ch]) <= FWD_TOL * fmax(1.0, fabs(mu[ch])));
        assert_true(fabs(sinv[ch] - inv) <= FWD_TOL * fmax(1.0, inv));
        const double want_rm = (1 - momentum) * (double)rm0[ch] + momentum * mu[ch];
        const double want_rv = (1 - momentum) * (double)rv0[ch] + momentum * unbiased;
        assert_true(fabs(rm[ch] - want_rm) <= FWD_TOL * fmax(1.0, fabs(want_rm)));
        assert_true(fabs(rv[ch] - want_rv) <= FWD_TOL * fmax(1.0, fabs(want_rv)));
    }

    /* in place gives the same output */
    float *inplace = copy_floats(x, count);
    float *m2 = fx_nan_array(cn), *s2 = fx_nan_array(cn);
    assert_int_equal(grad_bn_forward(n, c, (size_t)hw, inplace, inplace, gamma, beta, rm, rv,
                                     momentum, BN_EPS, m2, s2),
                     KERN_OK);
    assert_memory_equal(inplace, y, count * sizeof *y);

    if (backward) {
        float *dx0 = fx_rnd_array(count, 1.0f, rng), *dg0 = fx_rnd_array(cn, 1.0f, rng);
        float *db0 = fx_rnd_array(cn, 1.0f, rng);
        float *dx = copy_floats(dx0, count), *dg = copy_floats(dg0, cn);
        float *db = copy_floats(db0, cn);
        double *gx = dbl_array(count), *gg = dbl_array(cn), *gb = dbl_array(cn);
        bn_ctx ctx = {n, c, hw, xd, gd, bd, rd, yd};
        fd_grad(xd, count, bn_loss, &ctx, gx);
        fd_grad(gd, cn, bn_loss, &ctx, gg);
        fd_grad(bd, cn, bn_loss, &ctx, gb);
        assert_int_equal(grad_bn_backward(n, c, (size_t)hw, x, dy, gamma, smean, sinv, dx, dg, db),
                         KERN_OK);
        expect_grad(dx, dx0, gx, count, "bn dx");
        expect_grad(dg, dg0, gg, cn, "bn dgamma");
        expect_grad(db, db0, gb, cn, "bn dbeta");
        /* dx optional */
        memcpy(dg, dg0, cn * sizeof *dg);
        memcpy(db, db0, cn * sizeof *db);
        assert_int_equal(
            grad_bn_backward(n, c, (size_t)hw, x, dy, gamma, smean, sinv, NULL, dg, db), KERN_OK);
        expect_grad(dg, dg0, gg, cn, "bn dgamma without dx");
        expect_grad(db, db0, gb, cn, "bn dbeta without dx");
        free(dx0);
        free(dg0);
        free(db0);
        free(dx);
        free(dg);
        free(db);
        free(gx);
        free(gg);
        free(gb);
    }

    free(x);
    free(gamma);
    free(beta);
    free(dy);
    free(rm);
    free(rv);
    free(rm0);
    free(rv0);
    free(y);
    free(smean);
    free(sinv);
    free(inplace);
    free(m2);
    free(s2);
    free(xd);
    free(gd);
    free(bd);
    free(rd);
    free(yd);
    free(mu);
    free(var);
}

static void test_bn(void **state)
{
    (void)state;
    uint64_t rng = TEST_SEED + 1;
    check_bn(3, 4, 35, 0.0f, true, &rng);    /* 35-px planes: vector blocks plus a tail */
    check_bn(2, 3, 1, 0.0f, true, &rng);     /* 1×1 maps: statistics over the batch only */
    check_bn(1, 2, 7, 0.0f, true, &rng);     /* batch 1 */
    check_bn(4, 3, 20, 300.0f, false, &rng); /* data far from zero */
    check_bn(2, 2, 17, -50.0f, false, &rng);
}

/* m = N·HW = 1: zero variance, invstd = 1/sqrt(eps), y = beta, run_var takes var itself (0). */
static void test_bn_single_value(void **state)
{
    (void)state;
    float x[1] = {3.0f}, y[1], gamma[1] = {2.0f}, beta[1] = {0.25f};
    float rm[1] = {1.0f}, rv[1] = {2.0f}, smean[1], sinv[1];
    assert_int_equal(grad_bn_forward(1, 1, 1, x, y, gamma, beta, rm, rv, 0.5f, 0.25f, smean, sinv),
                     KERN_OK);
    assert_float_equal(y[0], 0.25f, 0.0);
    assert_float_equal(smean[0], 3.0f, 0.0);
    assert_float_equal(sinv[0], 2.0f, 0.0); /* 1/sqrt(0.25) */
    assert_float_equal(rm[0], 2.0f, 0.0);   /* 0.5·1 + 0.5·3 */
    assert_float_equal(rv[0], 1.0f, 0.0);   /* 0.5·2 + 0.5·0 */
    /* backward: xhat = 0, so dgamma gets 0, dbeta gets dy, dx gets gamma·invstd·(dy − dy) = 0 */
    float dy[1] = {1.5f}, dx[1] = {1.0f}, dg[1] = {1.0f}, db[1] = {1.0f};
    assert_int_equal(grad_bn_backward(1, 1, 1, x, dy, gamma, smean, sinv, dx, dg, db), KERN_OK);
    assert_float_equal(dx[0], 1.0f, 0.0);
    assert_float_equal(dg[0], 1.0f, 0.0);
    assert_float_equal(db[0], 2.5f, 0.0);
}

static void test_bn_errors(void **state)
{
    (void)state;
    float x[4] = {1, 2, 3, 4}, y[4] = {0}, g[2] = {1, 1}, b[2] = {0, 0};
    float rm[2] = {7, 7}, rv[2] = {7, 7}, sm[2] = {7, 7}, si[2] = {7, 7};
    const float eps = BN_EPS;
    assert_int_equal(grad_bn_forward(2, 2, 1, x, y, g, b, rm, rv, 0.1f, 0.0f, sm, si), KERN_EINVAL);
    assert_int_equal(grad_bn_forward(2, 2, 1, x, y, g, b, rm, rv, 0.1f, -1e-5f, sm, si),
                     KERN_EINVAL);
    assert_int_equal(grad_bn_forward(2, 2, 1, x, y, g, b, rm, rv, 0.1f, NAN, sm, si), KERN_EINVAL);
    assert_int_equal(grad_bn_forward(2, 2, 1, x, y, g, b, rm, rv, -0.1f, eps, sm, si), KERN_EINVAL);
    assert_int_equal(grad_bn_forward(2, 2, 1, x, y, g, b, rm, rv, 1.5f, eps, sm, si), KERN_EINVAL);
    assert_int_equal(grad_bn_forward(2, 2, 1, x, y, g, b, rm, rv, NAN, eps, sm, si), KERN_EINVAL);
    assert_int_equal(grad_bn_forward(0, 2, 1, x, y, g, b, rm, rv, 0.1f, eps, sm, si), KERN_EINVAL);
    assert_int_equal(grad_bn_forward(2, 0, 1, x, y, g, b, rm, rv, 0.1f, eps, sm, si), KERN_EINVAL);
    assert_int_equal(grad_bn_forward(2, 2, 0, x, y, g, b, rm, rv, 0.1f, eps, sm, si), KERN_EINVAL);
    assert_int_equal(grad_bn_forward(2, 2, 1, x, y, g, b, NULL, rv, 0.1f, eps, sm, si),
                     KERN_EINVAL);
    assert_int_equal(grad_bn_forward(2, 2, 1, x, y, g, b, rm, rv, 0.1f, eps, sm, NULL),
                     KERN_EINVAL);
    for (int i = 0; i < 4; i++) assert_true(y[i] == 0.0f);
    for (int i = 0; i < 2; i++)
        assert_true(rm[i] == 7.0f && rv[i] == 7.0f && sm[i] == 7.0f && si[i] == 7.0f);
    /* momentum 0 and 1 are allowed: running stats kept, or replaced by the batch's */
    assert_int_equal(grad_bn_forward(2, 2, 1, x, y, g, b, rm, rv, 0.0f, eps, sm, si), KERN_OK);
    assert_true(rm[0] == 7.0f && rv[1] == 7.0f);
    assert_int_equal(grad_bn_forward(2, 2, 1, x, y, g, b, rm, rv, 1.0f, eps, sm, si), KERN_OK);
    assert_float_equal(rm[0], 2.0f, 0.0);  /* channel 0 holds x[0] = 1 and x[2] = 3 */
    assert_float_equal(rv[0], 2.0f, 1e-6); /* unbiased: ((−1)² + 1²)/(2 − 1) */

    float dx[4] = {0}, dg[2] = {0}, db[2] = {0};
    assert_int_equal(grad_bn_backward(0, 2, 1, x, y, g, sm, si, dx, dg, db), KERN_EINVAL);
    assert_int_equal(grad_bn_backward(2, 2, 0, x, y, g, sm, si, dx, dg, db), KERN_EINVAL);
    assert_int_equal(grad_bn_backward(2, 2, 1, x, NULL, g, sm, si, dx, dg, db), KERN_EINVAL);
    assert_int_equal(grad_bn_backward(2, 2, 1, x, y, g, sm, si, dx, NULL, db), KERN_EINVAL);
    for (int i = 0; i < 4; i++) assert_true(dx[i] == 0.0f);
}

/* ---- ReLU ---- */

static void test_relu(void **state)
{
    (void)state;
    enum { COUNT = 37 }; /* two vector blocks and a tail */
    float y[COUNT], dy[COUNT], dx[COUNT];
    for (int i = 0; i < COUNT; i++) {
        y[i] = (float)(i % 3) - 1.0f; /* −1, 0, 1, ... */
        dy[i] = (float)i;
        dx[i] = 0.5f;
    }
    grad_relu(y, dy, dx, COUNT);
    for (int i = 0; i < COUNT; i++) assert_float_equal(dx[i], (i % 3 == 2 ? i + 0.5f : 0.5f), 0.0);
    grad_relu(y, dy, dx, 0); /* nothing to do */
    assert_float_equal(dx[2], 2.5f, 0.0);
}

/* ---- pooling ---- */

static size_t pool_out_count(const kern_pool_desc *d)
{
    int oh, ow;
    assert_int_equal(kern_pool_out_hw(d, &oh, &ow), KERN_OK);
    return (size_t)d->n * d->c * oh * ow;
}

/* Pooling in double over an explicitly padded window: −inf padding for max, zero padding and a
 * kh·kw divisor for average (count_include_pad=True). */
static void naive_pool(const kern_pool_desc *d, const double *x, double *y, int is_max)
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

typedef struct pool_ctx {
    const kern_pool_desc *d;
    const double *x, *r;
    double *y;
    size_t out;
    int is_max;
} pool_ctx;

static double pool_loss(void *ctx)
{
    pool_ctx *p = ctx;
    naive_pool(p->d, p->x, p->y, p->is_max);
    return dot(p->r, p->y, p->out);
}

static void check_pool(const kern_pool_desc *d, int is_max, uint64_t *rng)
{
    const size_t in = (size_t)d->n * d->c * d->h * d->w, out = pool_out_count(d);
    float *x = fx_rnd_array(in, 1.0f, rng), *dy = fx_rnd_array(out, 1.0f, rng);
    float *dx0 = fx_rnd_array(in, 1.0f, rng), *dx = copy_floats(dx0, in), *y = fx_nan_array(out);
    double *xd = to_double(x, in), *rd = to_double(dy, out), *yd = dbl_array(out);
    double *gx = dbl_array(in);
    pool_ctx ctx = {d, xd, rd, yd, out, is_max};
    fd_grad(xd, in, pool_loss, &ctx, gx);
    if (is_max) {
        assert_int_equal(kern_maxpool2d(d, x, y), KERN_OK);
        assert_int_equal(grad_maxpool2d(d, x, y, dy, dx), KERN_OK);
    } else {
        assert_int_equal(grad_avgpool2d(d, dy, dx), KERN_OK);
    }
    char what[128];
    snprintf(what, sizeof what, "%s n%d c%d %dx%d k%dx%d s%d,%d p%d,%d", is_max ? "max" : "avg",
             d->n, d->c, d->h, d->w, d->kh, d->kw, d->stride_h, d->stride_w, d->pad_h, d->pad_w);
    expect_grad(dx, dx0, gx, in, what);
    free(x);
    free(dy);
    free(dx0);
    free(dx);
    free(y);
    free(xd);
    free(rd);
    free(yd);
    free(gx);
}

static void test_pool_vs_fd(void **state)
{
    (void)state;
    uint64_t rng = TEST_SEED + 2;
    static const kern_pool_desc cases[] = {
        /* n c  h  w kh kw sh sw ph pw */
        {2, 3, 8, 6, 2, 2, 2, 2, 0, 0}, /* VGG's 2×2 stride 2 */
        {2, 3, 7, 5, 2, 2, 2, 2, 0, 0}, /* odd map: last row and column dropped */
        {2, 2, 7, 6, 3, 3, 2, 2, 1, 1}, /* ResNet stem 3×3 stride 2 pad 1 */
        {1, 3, 5, 7, 3, 3, 1, 1, 1, 1}, /* overlapping windows, stride 1 */
        {2, 2, 6, 5, 2, 3, 1, 2, 1, 1}, /* rectangular window, padding on both axes */
        {3, 1, 9, 4, 4, 2, 3, 1, 2, 0}, /* stride 3 rows, padding on rows only */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        check_pool(&cases[i], 1, &rng);
        check_pool(&cases[i], 0, &rng);
    }
}

static void test_pool_hand(void **state)
{
    (void)state;
    /* ties: the first (row-major) maximum takes the gradient */
    const kern_pool_desc d22 = {1, 1, 2, 2, 2, 2, 2, 2, 0, 0};
    const float same[4] = {5, 5, 5, 5}, tie[4] = {1, 4, 4, 2};
    float y[4], dy[1] = {3.0f}, dx[4] = {0};
    assert_int_equal(kern_maxpool2d(&d22, same, y), KERN_OK);
    assert_int_equal(grad_maxpool2d(&d22, same, y, dy, dx), KERN_OK);
    const float want_same[4] = {3, 0, 0, 0};
    assert_memory_equal(dx, want_same, sizeof dx);
    memset(dx, 0, sizeof dx);
    assert_int_equal(kern_maxpool2d(&d22, tie, y), KERN_OK);
    assert_int_equal(grad_maxpool2d(&d22, tie, y, dy, dx), KERN_OK);
    const float want_tie[4] = {0, 3, 0, 0};
    assert_memory_equal(dx, want_tie, sizeof dx);

    /* all-negative 3×3 map, 3×3 windows, stride 2, pad 1: the windows' maxima −1, −2, −4, −5 sit
     * at cells 0, 1, 3, 4 (padding, −inf, never wins). Average pooling spreads dy/9 to the
     * real cells of each window: cell 4 is in all four windows, cells 1, 3, 5, 7 in two. */
    const kern_pool_desc d33 = {1, 1, 3, 3, 3, 3, 2, 2, 1, 1};
    const float neg[9] = {-1, -2, -3, -4, -5, -6, -7, -8, -9};
    const float dy4[4] = {1, 2, 4, 8};
    float y4[4], dx9[9];
    for (int i = 0; i < 9; i++) dx9[i] = 1.0f;
    assert_int_equal(kern_maxpool2d(&d33, neg, y4), KERN_OK);
    assert_int_equal(grad_maxpool2d(&d33, neg, y4, dy4, dx9), KERN_OK);
    const float want_max[9] = {2, 3, 1, 5, 9, 1, 1, 1, 1};
    assert_memory_equal(dx9, want_max, sizeof dx9);
    for (int i = 0; i < 9; i++) dx9[i] = 0.0f;
    assert_int_equal(grad_avgpool2d(&d33, dy4, dx9), KERN_OK);
    const float want_avg[9] = {1, 3, 2, 5, 15, 10, 4, 12, 8}; /* in ninths */
    for (int i = 0; i < 9; i++) assert_float_equal(dx9[i], want_avg[i] / 9.0f, 1e-6);

    /* an all −inf map: each window's first real cell; a NaN wins every window holding it
     * (cell 5 is in windows 1 and 3), as in kern_maxpool2d; windows 0 and 2 keep their maxima
     * 4 and 7 */
    float inf9[9], nan9[9];
    for (int i = 0; i < 9; i++) {
        inf9[i] = -INFINITY;
        nan9[i] = (float)i;
    }
    nan9[5] = NAN;
    memset(dx9, 0, sizeof dx9);
    assert_int_equal(grad_maxpool2d(&d33, inf9, y4, dy4, dx9), KERN_OK);
    const float want_inf[9] = {1, 2, 0, 4, 8, 0, 0, 0, 0};
    assert_memory_equal(dx9, want_inf, sizeof dx9);
    memset(dx9, 0, sizeof dx9);
    assert_int_equal(grad_maxpool2d(&d33, nan9, y4, dy4, dx9), KERN_OK);
    const float want_nan[9] = {0, 0, 0, 0, 1, 2 + 8, 0, 4, 0};
    assert_memory_equal(dx9, want_nan, sizeof dx9);
    /* the same on the 2×2 stride-2 path */
    const float inf4[4] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY}, nan4[4] = {1, 2, 3, NAN};
    memset(dx, 0, sizeof dx);
    assert_int_equal(grad_maxpool2d(&d22, inf4, y, dy, dx), KERN_OK);
    assert_memory_equal(dx, want_same, sizeof dx);
    memset(dx, 0, sizeof dx);
    assert_int_equal(grad_maxpool2d(&d22, nan4, y, dy, dx), KERN_OK);
    const float want_nan4[4] = {0, 0, 0, 3};
    assert_memory_equal(dx, want_nan4, sizeof dx);
}

static void test_pool_errors(void **state)
{
    (void)state;
    float x[4] = {0}, y[4] = {0}, dy[4] = {0}, dx[4] = {0};
    kern_pool_desc big_pad = {1, 1, 2, 2, 2, 2, 2, 2, 2, 0}; /* pad > window / 2 */
    assert_int_equal(grad_maxpool2d(&big_pad, x, y, dy, dx), KERN_EINVAL);
    assert_int_equal(grad_avgpool2d(&big_pad, dy, dx), KERN_EINVAL);
    kern_pool_desc too_big = {1, 1, 2, 2, 3, 3, 1, 1, 0, 0};
    assert_int_equal(grad_maxpool2d(&too_big, x, y, dy, dx), KERN_EINVAL);
    assert_int_equal(grad_avgpool2d(&too_big, dy, dx), KERN_EINVAL);
    kern_pool_desc ok = {1, 1, 2, 2, 2, 2, 2, 2, 0, 0};
    assert_int_equal(grad_maxpool2d(&ok, NULL, y, dy, dx), KERN_EINVAL);
    assert_int_equal(grad_maxpool2d(&ok, x, y, dy, NULL), KERN_EINVAL);
    assert_int_equal(grad_avgpool2d(&ok, NULL, dx), KERN_EINVAL);
    assert_int_equal(grad_maxpool2d(NULL, x, y, dy, dx), KERN_EINVAL);
    assert_int_equal(grad_avgpool2d(NULL, dy, dx), KERN_EINVAL);
}

/* ---- fully connected ---- */

typedef struct fc_ctx {
    int n, in, out;
    const double *x, *w, *bias, *r;
    double *y;
} fc_ctx;

static double fc_loss(void *ctx)
{
    fc_ctx *f = ctx;
    for (int i = 0; i < f->n; i++)
        for (int o = 0; o < f->out; o++) {
            double acc = f->bias[o];
            for (int k = 0; k < f->in; k++) acc += f->x[i * f->in + k] * f->w[o * f->in + k];
            f->y[i * f->out + o] = acc;
        }
    return dot(f->r, f->y, (size_t)f->n * f->out);
}

static void check_fc(int n, int in, int out, uint64_t *rng)
{
    const size_t xn = (size_t)n * in, wn = (size_t)out * in, yn = (size_t)n * out;
    const size_t on = (size_t)out;
    float *x = fx_rnd_array(xn, 1.0f, rng), *w = fx_rnd_array(wn, 1.0f, rng);
    float *bias = fx_rnd_array(on, 1.0f, rng), *dy = fx_rnd_array(yn, 1.0f, rng);
    float *dx0 = fx_rnd_array(xn, 1.0f, rng), *dw0 = fx_rnd_array(wn, 1.0f, rng);
    float *db0 = fx_rnd_array(on, 1.0f, rng);
    float *dx = copy_floats(dx0, xn), *dw = copy_floats(dw0, wn), *db = copy_floats(db0, on);
    double *xd = to_double(x, xn), *wd = to_double(w, wn), *bd = to_double(bias, on);
    double *rd = to_double(dy, yn), *yd = dbl_array(yn);
    double *gx = dbl_array(xn), *gw = dbl_array(wn), *gb = dbl_array(on);
    fc_ctx ctx = {n, in, out, xd, wd, bd, rd, yd};
    fd_grad(xd, xn, fc_loss, &ctx, gx);
    fd_grad(wd, wn, fc_loss, &ctx, gw);
    fd_grad(bd, on, fc_loss, &ctx, gb);
    assert_int_equal(grad_fc(n, in, out, x, w, dy, dx, dw, db), KERN_OK);
    expect_grad(dx, dx0, gx, xn, "fc dx");
    expect_grad(dw, dw0, gw, wn, "fc dw");
    expect_grad(db, db0, gb, on, "fc db");
    memcpy(dw, dw0, wn * sizeof *dw);
    assert_int_equal(grad_fc(n, in, out, x, w, dy, NULL, dw, NULL), KERN_OK);
    expect_grad(dw, dw0, gw, wn, "fc dw alone");
    free(x);
    free(w);
    free(bias);
    free(dy);
    free(dx0);
    free(dw0);
    free(db0);
    free(dx);
    free(dw);
    free(db);
    free(xd);
    free(wd);
    free(bd);
    free(rd);
    free(yd);
    free(gx);
    free(gw);
    free(gb);
}

static void test_fc(void **state)
{
    (void)state;
    uint64_t rng = TEST_SEED + 3;
    check_fc(3, 7, 5, &rng);
    check_fc(1, 4, 3, &rng);
    check_fc(6, 33, 10, &rng);

    float x[2] = {1, 2}, w[2] = {3, 4}, dy[1] = {1}, dw[2] = {0};
    assert_int_equal(grad_fc(0, 2, 1, x, w, dy, NULL, dw, NULL), KERN_EINVAL);
    assert_int_equal(grad_fc(1, 0, 1, x, w, dy, NULL, dw, NULL), KERN_EINVAL);
    assert_int_equal(grad_fc(1, 2, 0, x, w, dy, NULL, dw, NULL), KERN_EINVAL);
    assert_int_equal(grad_fc(1, 2, 1, x, w, dy, NULL, NULL, NULL), KERN_EINVAL);
    assert_int_equal(grad_fc(1, 2, 1, NULL, w, dy, NULL, dw, NULL), KERN_EINVAL);
    assert_true(dw[0] == 0.0f && dw[1] == 0.0f);
}

/* ---- loss ---- */

/* Rows whose softmax is known exactly: {0, 0, ln 2} → {1/4, 1/4, 1/2}, {1, 1, 1} → 1/3 each,
 * {0, ln 3, 0} → {1/5, 3/5, 1/5}. With labels 2, 0, 0 the losses are ln 2, ln 3, ln 5 (mean
 * ln(30)/3), and the argmax (first maximum) is right for the first two rows only. */
static void test_softmax_xent_hand(void **state)
{
    (void)state;
    const float logits[9] = {0, 0, (float)log(2.0), 1, 1, 1, 0, (float)log(3.0), 0};
    const uint8_t labels[3] = {2, 0, 0};
    const float scale = 2.0f;
    float dl[9];
    int correct = 5;
    double loss = grad_softmax_xent(3, 3, logits, labels, scale, dl, &correct);
    assert_true(fabs(loss - log(30.0) / 3.0) < 1e-6);
    assert_int_equal(correct, 7);
    const double p[9] = {0.25, 0.25, 0.5, 1.0 / 3, 1.0 / 3, 1.0 / 3, 0.2, 0.6, 0.2};
    for (int i = 0; i < 9; i++) {
        const double onehot = i == 2 || i == 3 || i == 6 ? 1.0 : 0.0;
        assert_true(fabs(dl[i] - scale * (p[i] - onehot) / 3.0) < 1e-6);
    }
    /* dlogits and correct are optional */
    assert_true(fabs(grad_softmax_xent(3, 3, logits, labels, scale, NULL, NULL) - loss) == 0.0);

    /* huge logits stay finite: loss ≈ exp(−1000) ≈ 0, gradient 0 */
    const float big[3] = {1000, 0, -1000};
    const uint8_t l0[1] = {0};
    float g[3];
    double l = grad_softmax_xent(1, 3, big, l0, 1.0f, g, NULL);
    assert_true(l >= 0.0 && l < 1e-300);
    for (int i = 0; i < 3; i++) assert_true(fabs(g[i]) < 1e-30);
}

typedef struct xent_ctx {
    int n, classes;
    const double *logits;
    const uint8_t *labels;
} xent_ctx;

/* Mean cross-entropy in double, written the obvious way. */
static double xent_loss(void *ctx)
{
    xent_ctx *c = ctx;
    double total = 0.0;
    for (int r = 0; r < c->n; r++) {
        const double *x = c->logits + (size_t)r * c->classes;
        double sum = 0.0;
        for (int j = 0; j < c->classes; j++) sum += exp(x[j]);
        total += log(sum) - x[c->labels[r]];
    }
    return total / c->n;
}

static void test_softmax_xent_vs_fd(void **state)
{
    (void)state;
    uint64_t rng = TEST_SEED + 4;
    enum { N = 5, CLASSES = 7 };
    const float scale = 0.75f;
    float *logits = fx_rnd_array(N * CLASSES, 3.0f, &rng);
    uint8_t labels[N] = {0, 6, 3, 3, 1};
    float *dl = fx_nan_array(N * CLASSES), *zero = calloc(N * CLASSES, sizeof *zero);
    assert_non_null(zero);
    double *ld = to_double(logits, N * CLASSES), *g = dbl_array(N * CLASSES);
    xent_ctx ctx = {N, CLASSES, ld, labels};
    double loss = grad_softmax_xent(N, CLASSES, logits, labels, scale, dl, NULL);
    assert_true(fabs(loss - xent_loss(&ctx)) < 1e-6);
    fd_grad(ld, N * CLASSES, xent_loss, &ctx, g);
    for (int i = 0; i < N * CLASSES; i++) g[i] *= scale;
    expect_grad(dl, zero, g, N * CLASSES, "softmax xent dlogits");
    free(logits);
    free(dl);
    free(zero);
    free(ld);
    free(g);
}

static void test_softmax_xent_errors(void **state)
{
    (void)state;
    const float logits[4] = {1, 2, 3, 4};
    const uint8_t ok[2] = {1, 0}, bad[2] = {0, 2};
    float dl[4] = {7, 7, 7, 7};
    int correct = 3;
    assert_true(isnan(grad_softmax_xent(0, 2, logits, ok, 1.0f, dl, &correct)));
    assert_true(isnan(grad_softmax_xent(2, 0, logits, ok, 1.0f, dl, &correct)));
    assert_true(isnan(grad_softmax_xent(2, 2, NULL, ok, 1.0f, dl, &correct)));
    assert_true(isnan(grad_softmax_xent(2, 2, logits, NULL, 1.0f, dl, &correct)));
    assert_true(isnan(grad_softmax_xent(2, 2, logits, bad, 1.0f, dl, &correct)));
    for (int i = 0; i < 4; i++) assert_true(dl[i] == 7.0f);
    assert_int_equal(correct, 3);
    /* a NaN logit gives a NaN loss */
    const float with_nan[2] = {1, NAN};
    assert_true(isnan(grad_softmax_xent(1, 2, with_nan, ok, 1.0f, NULL, NULL)));
}

/* ---- Adam ---- */

/* Two steps worked out by hand with lr 0.1, PyTorch's betas and eps, no decay:
 * p = 1, g = 0.5 then −0.25: m = 0.05, v = 2.5e-4, p = 1 − 0.1·0.5/(0.5 + 1e-8) ≈ 0.9; then
 * m = 0.02, v = 3.1225e-4, p −= 0.1·(0.02/0.19)/(sqrt(3.1225e-4/0.001999) + 1e-8) ≈ 0.8733663.
 * p = −2, g = −3 then 1: m = −0.3, v = 9e-3, p ≈ −1.9; then m = −0.17, v = 9.991e-3,
 * p ≈ −1.8599781. */
static void test_adam_hand(void **state)
{
    (void)state;
    const grad_adam h = {0.1f, 0.9f, 0.999f, 1e-8f, 0.0f};
    float p[2] = {1.0f, -2.0f}, m[2] = {0}, v[2] = {0};
    const float g1[2] = {0.5f, -3.0f}, g2[2] = {-0.25f, 1.0f};
    /* m and v to 1e-4 relative: 1 − β in float is exact but β itself is not 0.9 or 0.999 */
    grad_adam_step(&h, 1, 2, p, g1, m, v);
    assert_float_equal(m[0], 0.05f, 5e-6);
    assert_float_equal(v[0], 2.5e-4f, 2.5e-8);
    assert_float_equal(p[0], 0.9f, 1e-6);
    assert_float_equal(m[1], -0.3f, 3e-5);
    assert_float_equal(v[1], 9e-3f, 9e-7);
    assert_float_equal(p[1], -1.9f, 1e-6);
    grad_adam_step(&h, 2, 2, p, g2, m, v);
    assert_float_equal(m[0], 0.02f, 2e-6);
    assert_float_equal(v[0], 3.1225e-4f, 3e-8);
    assert_float_equal(p[0], 0.8733663f, 1e-6);
    assert_float_equal(m[1], -0.17f, 1.7e-5);
    assert_float_equal(v[1], 9.991e-3f, 1e-6);
    assert_float_equal(p[1], -1.8599781f, 1e-6);
}

/* Weight decay and later steps against grad.h's formula evaluated in double. */
static void test_adam_decay(void **state)
{
    (void)state;
    uint64_t rng = TEST_SEED + 5;
    enum { COUNT = 21, STEPS = 5 };
    const grad_adam h = {1e-2f, 0.8f, 0.99f, 1e-6f, 0.05f};
    float *p = fx_rnd_array(COUNT, 1.0f, &rng), m[COUNT] = {0}, v[COUNT] = {0};
    double pd[COUNT], md[COUNT] = {0}, vd[COUNT] = {0};
    for (int i = 0; i < COUNT; i++) pd[i] = p[i];
    for (long step = 1; step <= STEPS; step++) {
        float *g = fx_rnd_array(COUNT, 1.0f, &rng);
        grad_adam_step(&h, step, COUNT, p, g, m, v);
        for (int i = 0; i < COUNT; i++) {
            const double gi = g[i] + (double)h.weight_decay * pd[i];
            md[i] = h.beta1 * md[i] + (1.0 - h.beta1) * gi;
            vd[i] = h.beta2 * vd[i] + (1.0 - h.beta2) * gi * gi;
            const double mh = md[i] / (1.0 - pow(h.beta1, (double)step));
            const double vh = vd[i] / (1.0 - pow(h.beta2, (double)step));
            pd[i] -= h.lr * mh / (sqrt(vh) + h.eps);
        }
        free(g);
    }
    expect_close(p, pd, COUNT, FWD_TOL, "adam with decay");
    /* step 0, a NULL hyper-parameter block or count 0 change nothing */
    float keep[COUNT];
    memcpy(keep, p, sizeof keep);
    grad_adam_step(&h, 0, COUNT, p, p, m, v);
    grad_adam_step(NULL, 1, COUNT, p, p, m, v);
    grad_adam_step(&h, 1, 0, p, p, m, v);
    assert_memory_equal(keep, p, sizeof keep);
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_vs_fd),
        cmocka_unit_test(test_conv_workspace_and_errors),
        cmocka_unit_test(test_bn),
        cmocka_unit_test(test_bn_single_value),
        cmocka_unit_test(test_bn_errors),
        cmocka_unit_test(test_relu),
        cmocka_unit_test(test_pool_vs_fd),
        cmocka_unit_test(test_pool_hand),
        cmocka_unit_test(test_pool_errors),
        cmocka_unit_test(test_fc),
        cmocka_unit_test(test_softmax_xent_hand),
        cmocka_unit_test(test_softmax_xent_vs_fd),
        cmocka_unit_test(test_softmax_xent_errors),
        cmocka_unit_test(test_adam_hand),
        cmocka_unit_test(test_adam_decay),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
