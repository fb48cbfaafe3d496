/* Tests of models/grad_bof: the BoF head's training forward against kern_bof, and its backward
 * against central finite differences of a slow double-precision forward written here, on odd
 * shapes (floor-cut maps, s = 1, s = the map), plus accumulation and the error exits. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grad.h"

#include "fixture.h"

static const double GRAD_TOL = 1e-4;   /* backward vs finite differences, relative */
static const double FWD_TOL = 1e-6;    /* forward vs kern_bof, relative */
static const double FD_STEP = 1e-5;    /* central-difference step on x and on the scalars */
static const float ADD_TOL = 0x1p-22f; /* accumulated vs fresh gradient plus prior, relative */
static const uint64_t TEST_SEED = 0x7e57b0f5eedULL;
#define BOF_EPS 5e-16f /* the Predictive Exit code's default */

/* ---- helpers ---- */

static float *zero_array(size_t count)
{
    float *x = calloc(count ? count : 1, sizeof *x);
    assert_non_null(x);
    return x;
}

static double *dbl_array(size_t count)
{
    double *x = calloc(count ? count : 1, sizeof *x);
    assert_non_null(x);
    return x;
}

static size_t in_count(const kern_bof_desc *d)
{
    return (size_t)d->n * d->k * d->h * d->w;
}

static size_t out_count(const kern_bof_desc *d)
{
    return (size_t)d->n * d->k * (d->h / d->s) * (d->w / d->s);
}

/* max_i |got_i − ref_i| / max_i |ref_i|: the error against the size of the whole gradient. */
static double norm_rel_err(const float *got, const double *ref, size_t count)
{
    double worst = 0.0, big = 1e-30;
    for (size_t i = 0; i < count; i++) {
        double e = fabs((double)got[i] - ref[i]);
        if (isnan(e)) return INFINITY;
        if (e > worst) worst = e;
        if (fabs(ref[i]) > big) big = fabs(ref[i]);
    }
    return worst / big;
}

static void expect_scalar(double got, double ref, const char *what)
{
    double e = fabs(got - ref) / (fabs(ref) > 1e-30 ? fabs(ref) : 1e-30);
    if (!(e <= GRAD_TOL))
        fail_msg("%s: got %.9g, want %.9g (relative error %.3g)", what, got, ref, e);
}

/* ---- naive reference ---- */

/* The head's four scalars in double, so that finite differences can perturb them. */
typedef struct bof_params {
    double a, c, n1, n2;
} bof_params;

/* L = sum(r ⊙ y) with y the BoF output of x as the Predictive Exit code writes it
 * (LogisticConvBoF.forward), all in double; u holds K·H·W doubles of scratch. */
static double naive_loss(const kern_bof_desc *d, const bof_params *p, const double *x,
                         const float *r, double *u)
{
    const int hw = d->h * d->w, oh = d->h / d->s, ow = d->w / d->s;
    double loss = 0.0;
    for (int n = 0; n < d->n; n++) {
        const double *xs = x + (size_t)n * d->k * hw;
        for (int i = 0; i < d->k * hw; i++) u[i] = (tanh(p->a * xs[i] + p->c) + 1.0) / 2.0;
        for (int q = 0; q < hw; q++) {
            double sum = 0.0;
            for (int k = 0; k < d->k; k++) sum += u[k * hw + q];
            for (int k = 0; k < d->k; k++) u[k * hw + q] = p->n1 * u[k * hw + q] / (sum + d->eps);
        }
        for (int k = 0; k < d->k; k++)
            for (int by = 0; by < oh; by++)
                for (int bx = 0; bx < ow; bx++) {
                    double acc = 0.0;
                    for (int i = 0; i < d->s; i++)
                        for (int j = 0; j < d->s; j++)
                            acc += u[k * hw + (by * d->s + i) * d->w + bx * d->s + j];
                    double y = p->n2 * acc / (d->s * d->s);
                    loss += r[((size_t)(n * d->k + k) * oh + by) * ow + bx] * y;
                }
    }
    return loss;
}

/* Central difference of naive_loss in *v (an element of x or one of the scalars). */
static double central_diff(const kern_bof_desc *d, const bof_params *p, double *x, const float *r,
                           double *u, double *v)
{
    const double keep = *v, h = FD_STEP * (fabs(keep) > 1.0 ? fabs(keep) : 1.0);
    *v = keep + h;
    double up = naive_loss(d, p, x, r, u);
    *v = keep - h;
    double down = naive_loss(d, p, x, r, u);
    *v = keep;
    return (up - down) / (2.0 * h);
}

/* Finite-difference gradients of L = sum(r ⊙ y): dx (in_count doubles) and da, dc, dn1, dn2. */
static void fd_grads(const kern_bof_desc *d, const float *x, const float *r, double *dx,
                     double scalars[4])
{
    const size_t in = in_count(d);
    double *xd = dbl_array(in), *u = dbl_array((size_t)d->k * d->h * d->w);
    for (size_t i = 0; i < in; i++) xd[i] = x[i];
    bof_params p = {d->a, d->c, d->n1, d->n2};
    for (size_t i = 0; i < in; i++) dx[i] = central_diff(d, &p, xd, r, u, &xd[i]);
    double *pv[4] = {&p.a, &p.c, &p.n1, &p.n2};
    for (int j = 0; j < 4; j++) scalars[j] = central_diff(d, &p, xd, r, u, pv[j]);
    free(xd);
    free(u);
}

/* Forward then backward of grad_bof with dy = r, into dx (optional) and g[4] = da, dc, dn1,
 * dn2 (both accumulate onto what they hold). */
static void run_grad(const kern_bof_desc *d, const float *x, const float *r, float *dx, float g[4])
{
    float *cache = fx_nan_array(grad_bof_cache_floats(d)), *y = fx_nan_array(out_count(d));
    float *ws = fx_nan_array(kern_bof_workspace_floats(d));
    assert_int_equal(grad_bof_forward(d, x, y, cache), KERN_OK);
    assert_int_equal(grad_bof_backward(d, x, cache, r, dx, &g[0], &g[1], &g[2], &g[3], ws),
                     KERN_OK);
    free(cache);
    free(y);
    free(ws);
}

/* ---- tests ---- */

/* Shapes and scalars of the gradient and forward checks. */
typedef struct bof_case {
    int n, k, h, w, s;
    float a, c, n1, n2, eps;
    const char *what;
} bof_case;

static const bof_case CASES[] = {
    {2, 5, 6, 6, 3, 1.3f, -0.2f, 5.0f, 3.0f, BOF_EPS, "2x2 bins"},
    {2, 5, 7, 5, 2, 0.7f, 0.4f, 1.5f, 0.8f, BOF_EPS, "floor drops the last row and column"},
    {2, 4, 5, 5, 1, 1.1f, 0.1f, 4.0f, 1.0f, BOF_EPS, "s = 1"},
    {2, 3, 4, 4, 4, 0.9f, -0.5f, 2.0f, 4.0f, BOF_EPS, "s = h = w: one bin"},
    {2, 3, 4, 9, 4, 1.2f, 0.3f, 3.0f, 2.5f, BOF_EPS, "s = h < w: 1x2 bins, one column dropped"},
    {1, 64, 4, 4, 2, 1.0f, 0.0f, 64.0f, 2.0f, BOF_EPS, "64 codewords as in the paper"},
    {1, 3, 4, 41, 2, 0.8f, -0.1f, 3.0f, 2.0f, BOF_EPS, "rows of 40 binned columns: full blocks"},
    {1, 2, 3, 301, 3, 1.0f, 0.2f, 2.0f, 1.0f, BOF_EPS, "rows longer than one chunk, s odd"},
    {2, 4, 6, 6, 3, 1.3f, -0.8f, 4.0f, 3.0f, 0.75f, "eps comparable with the sums"},
};

static kern_bof_desc case_desc(const bof_case *c)
{
    kern_bof_desc d = {c->n, c->k, c->h, c->w, c->s, c->a, c->c, c->n1, c->n2, c->eps};
    return d;
}

static void test_backward_vs_fd(void **state)
{
    (void)state;
    static const char *names[4] = {"da", "dc", "dn1", "dn2"};
    uint64_t rng = TEST_SEED;
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        const kern_bof_desc d = case_desc(&CASES[i]);
        const size_t in = in_count(&d);
        float *x = fx_rnd_array(in, 2.0f, &rng), *r = fx_rnd_array(out_count(&d), 1.0f, &rng);
        float *dx = zero_array(in), g[4] = {0};
        double *ref = dbl_array(in), ref_g[4];
        fd_grads(&d, x, r, ref, ref_g);
        run_grad(&d, x, r, dx, g);
        double e = norm_rel_err(dx, ref, in);
        if (!(e <= GRAD_TOL)) fail_msg("%s: dx relative error %.3g", CASES[i].what, e);
        for (int j = 0; j < 4; j++) {
            char what[96];
            snprintf(what, sizeof what, "%s: %s", CASES[i].what, names[j]);
            expect_scalar(g[j], ref_g[j], what);
        }
        free(x);
        free(r);
        free(dx);
        free(ref);
    }
}

/* Pixels cut by the floor receive no gradient; the rest of the map does. */
static void test_backward_floor_cut(void **state)
{
    (void)state;
    uint64_t rng = TEST_SEED + 1;
    const kern_bof_desc d = case_desc(&CASES[1]); /* 7×5 map, s = 2: row 6 and column 4 cut */
    float *x = fx_rnd_array(in_count(&d), 2.0f, &rng), *r = fx_rnd_array(out_count(&d), 1.0f, &rng);
    float *dx = zero_array(in_count(&d)), g[4] = {0};
    run_grad(&d, x, r, dx, g);
    for (int p = 0; p < d.n * d.k; p++)
        for (int iy = 0; iy < d.h; iy++)
            for (int ix = 0; ix < d.w; ix++) {
                float v = dx[((size_t)p * d.h + iy) * d.w + ix];
                if (iy >= 6 || ix >= 4)
                    assert_true(v == 0.0f);
                else
                    assert_true(v != 0.0f);
            }
    free(x);
    free(r);
    free(dx);
}

/* Gradients add onto what dx and the scalars hold; dx = NULL leaves the scalars unchanged. */
static void test_backward_accumulates(void **state)
{
    (void)state;
    uint64_t rng = TEST_SEED + 2;
    const kern_bof_desc d = case_desc(&CASES[0]);
    const size_t in = in_count(&d);
    float *x = fx_rnd_array(in, 2.0f, &rng), *r = fx_rnd_array(out_count(&d), 1.0f, &rng);
    float *fresh = zero_array(in), g0[4] = {0};
    run_grad(&d, x, r, fresh, g0);

    float *dx = fx_rnd_array(in, 1.0f, &rng), *before = malloc(in * sizeof *before);
    assert_non_null(before);
    memcpy(before, dx, in * sizeof *dx);
    const float pre[4] = {0.25f, -1.5f, 3.0f, -0.125f};
    float g[4];
    memcpy(g, pre, sizeof g);
    run_grad(&d, x, r, dx, g);
    for (size_t i = 0; i < in; i++) /* one rounding apart when the compiler fuses dx += a·e */
        assert_true(fabsf(dx[i] - (before[i] + fresh[i])) <=
                    ADD_TOL * (fabsf(before[i]) + fabsf(fresh[i])));
    for (int j = 0; j < 4; j++) assert_true(g[j] == pre[j] + g0[j]);

    float g_nodx[4] = {0};
    run_grad(&d, x, r, NULL, g_nodx);
    for (int j = 0; j < 4; j++) assert_true(g_nodx[j] == g0[j]);
    free(x);
    free(r);
    free(fresh);
    free(dx);
    free(before);
}

/* One codeword: u = n1·act/(act + eps) is n1 whatever x, so x, a and c get no gradient. */
static void test_backward_one_codeword(void **state)
{
    (void)state;
    uint64_t rng = TEST_SEED + 3;
    const kern_bof_desc d = {2, 1, 4, 4, 2, 1.3f, -0.2f, 2.0f, 3.0f, BOF_EPS};
    float *x = fx_rnd_array(in_count(&d), 2.0f, &rng), *r = fx_rnd_array(out_count(&d), 1.0f, &rng);
    float *dx = zero_array(in_count(&d)), g[4] = {0};
    double sum_r = 0.0;
    for (size_t i = 0; i < out_count(&d); i++) sum_r += r[i];
    run_grad(&d, x, r, dx, g);
    for (size_t i = 0; i < in_count(&d); i++) assert_true(fabsf(dx[i]) <= 1e-6f);
    assert_true(fabsf(g[0]) <= 1e-6f && fabsf(g[1]) <= 1e-6f);
    expect_scalar(g[2], d.n2 * sum_r, "one codeword: dn1"); /* y = n1·n2 everywhere */
    expect_scalar(g[3], d.n1 * sum_r, "one codeword: dn2");
    free(x);
    free(r);
    free(dx);
}

/* The training forward gives kern_bof's y, leaves x alone and caches act and the sums. */
static void test_forward_vs_kern(void **state)
{
    (void)state;
    uint64_t rng = TEST_SEED + 4;
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        const kern_bof_desc d = case_desc(&CASES[i]);
        const size_t in = in_count(&d), out = out_count(&d), hw = (size_t)d.h * d.w;
        assert_int_equal(grad_bof_cache_floats(&d), in + (size_t)d.n * hw);
        float *x = fx_rnd_array(in, 2.0f, &rng), *xk = malloc(in * sizeof *xk);
        assert_non_null(xk);
        memcpy(xk, x, in * sizeof *x);
        float *y = fx_nan_array(out), *yk = fx_nan_array(out);
        float *cache = fx_nan_array(grad_bof_cache_floats(&d));
        float *ws = fx_nan_array(kern_bof_workspace_floats(&d));
        assert_int_equal(kern_bof(&d, xk, yk, ws), KERN_OK); /* xk now holds act */
        assert_int_equal(grad_bof_forward(&d, x, y, cache), KERN_OK);
        for (size_t j = 0; j < out; j++)
            if (!(fabs((double)y[j] - yk[j]) <= FWD_TOL * fabs((double)yk[j])))
                fail_msg("%s: y[%zu] = %.9g, kern_bof %.9g", CASES[i].what, j, y[j], yk[j]);
        for (size_t j = 0; j < in; j++) assert_true(fabs((double)cache[j] - xk[j]) <= FWD_TOL);
        for (int n = 0; n < d.n; n++) /* cached sums: sum_k act_k + eps per pixel */
            for (size_t p = 0; p < hw; p++) {
                double sum = d.eps;
                for (int k = 0; k < d.k; k++) sum += xk[((size_t)n * d.k + k) * hw + p];
                assert_true(fabs(cache[in + (size_t)n * hw + p] - sum) <= FWD_TOL * sum);
            }
        free(x);
        free(xk);
        free(y);
        free(yk);
        free(cache);
        free(ws);
    }
}

/* Bad descriptors and NULL pointers give KERN_EINVAL and write nothing. */
static void test_errors(void **state)
{
    (void)state;
    const kern_bof_desc good = case_desc(&CASES[0]);
    kern_bof_desc bad[8];
    for (int i = 0; i < 8; i++) bad[i] = good;
    bad[0].n = 0;
    bad[1].k = 0;
    bad[2].h = 0;
    bad[3].w = -1;
    bad[4].s = 0;
    bad[5].s = 7; /* larger than h and w */
    bad[6].w = 2; /* s = 3 wider than the map */
    bad[7].h = 2; /* s = 3 taller than the map */
    float x[4] = {0}, y[4] = {0}, cache[4] = {0}, dy[4] = {0}, ws[4] = {0};
    float dx[4] = {1, 2, 3, 4}, g[4] = {1, 2, 3, 4};
    for (int i = 0; i < 8; i++) {
        assert_int_equal(grad_bof_cache_floats(&bad[i]), 0);
        assert_int_equal(grad_bof_forward(&bad[i], x, y, cache), KERN_EINVAL);
        assert_int_equal(
            grad_bof_backward(&bad[i], x, cache, dy, dx, &g[0], &g[1], &g[2], &g[3], ws),
            KERN_EINVAL);
    }
    assert_int_equal(grad_bof_cache_floats(NULL), 0);
    assert_int_equal(grad_bof_forward(NULL, x, y, cache), KERN_EINVAL);
    assert_int_equal(grad_bof_forward(&good, NULL, y, cache), KERN_EINVAL);
    assert_int_equal(grad_bof_forward(&good, x, NULL, cache), KERN_EINVAL);
    assert_int_equal(grad_bof_forward(&good, x, y, NULL), KERN_EINVAL);

    const kern_bof_desc *d = &good;
    assert_int_equal(grad_bof_backward(NULL, x, cache, dy, dx, &g[0], &g[1], &g[2], &g[3], ws),
                     KERN_EINVAL);
    assert_int_equal(grad_bof_backward(d, NULL, cache, dy, dx, &g[0], &g[1], &g[2], &g[3], ws),
                     KERN_EINVAL);
    assert_int_equal(grad_bof_backward(d, x, NULL, dy, dx, &g[0], &g[1], &g[2], &g[3], ws),
                     KERN_EINVAL);
    assert_int_equal(grad_bof_backward(d, x, cache, NULL, dx, &g[0], &g[1], &g[2], &g[3], ws),
                     KERN_EINVAL);
    assert_int_equal(grad_bof_backward(d, x, cache, dy, dx, NULL, &g[1], &g[2], &g[3], ws),
                     KERN_EINVAL);
    assert_int_equal(grad_bof_backward(d, x, cache, dy, dx, &g[0], NULL, &g[2], &g[3], ws),
                     KERN_EINVAL);
    assert_int_equal(grad_bof_backward(d, x, cache, dy, dx, &g[0], &g[1], NULL, &g[3], ws),
                     KERN_EINVAL);
    assert_int_equal(grad_bof_backward(d, x, cache, dy, dx, &g[0], &g[1], &g[2], NULL, ws),
                     KERN_EINVAL);
    assert_int_equal(grad_bof_backward(d, x, cache, dy, dx, &g[0], &g[1], &g[2], &g[3], NULL),
                     KERN_EINVAL);
    for (int i = 0; i < 4; i++) { /* nothing written */
        assert_true(dx[i] == (float)(i + 1));
        assert_true(g[i] == (float)(i + 1));
        assert_true(y[i] == 0.0f && cache[i] == 0.0f && ws[i] == 0.0f);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backward_vs_fd),       cmocka_unit_test(test_backward_floor_cut),
        cmocka_unit_test(test_backward_accumulates), cmocka_unit_test(test_backward_one_codeword),
        cmocka_unit_test(test_forward_vs_kern),      cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
