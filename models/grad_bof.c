/* Training forward and backward of the Bag-of-Features exit head (see grad.h): the forward
 * matches kern_bof operation for operation, so its y is bit-identical, and keeps the activated
 * responses and per-pixel sums; the backward makes two passes over them per sample. */
#include "grad.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

/* Element-wise loops run in blocks of BOF_VEC floats with a constant trip count, which GCC
 * vectorises even at -O2 (as in kern.c), then a scalar tail. Window rows are handled BOF_CHUNK
 * columns at a time, each column carrying its bin's dy in a small stack buffer. */
enum { BOF_VEC = 16, BOF_CHUNK = 256 };

/* The forward pools this many codeword planes side by side. */
enum { BOF_POOL = 4 };

/* Same rule as kern_bof: every extent >= 1 and the window no larger than the map. */
static bool bof_ok(const kern_bof_desc *d)
{
    return d && d->n >= 1 && d->k >= 1 && d->h >= 1 && d->w >= 1 && d->s >= 1 && d->s <= d->h &&
           d->s <= d->w;
}

size_t grad_bof_cache_floats(const kern_bof_desc *d)
{
    if (!bof_ok(d)) return 0;
    const size_t nhw = (size_t)d->n * (size_t)d->h * (size_t)d->w;
    return nhw * (size_t)d->k + nhw;
}

/* ---- forward ---- */

/* One sample: act = (tanh(a·x + c) + 1) / 2 in the form kern_bof_activate uses, and
 * sum[p] = (act_0 + act_1 + ... + act_{K−1}) + eps, added in kern_bof's order. */
static void bof_activate_sum(const kern_bof_desc *d, size_t hw, const float *x, float *act,
                             float *sum)
{
    const float a = d->a, c = d->c;
    for (int q = 0; q < d->k; q++) {
        const float *xq = x + (size_t)q * hw;
        float *aq = act + (size_t)q * hw;
        for (size_t i = 0; i < hw; i++) aq[i] = 1.0f / (1.0f + expf(-2.0f * (a * xq[i] + c)));
        if (q == 0) {
            memcpy(sum, aq, hw * sizeof *sum);
            continue;
        }
        size_t i = 0;
        for (; i + BOF_VEC <= hw; i += BOF_VEC)
            for (int j = 0; j < BOF_VEC; j++) sum[i + j] += aq[i + j];
        for (; i < hw; i++) sum[i] += aq[i];
    }
    for (size_t i = 0; i < hw; i++) sum[i] += d->eps;
}

/* BOF_POOL codeword planes (`planes` floats apart) pooled as kern_bof pools each one:
 * y_q[bin] = n2/s² · sum over the bin of act_q·(n1/sum), accumulated in double in row-major
 * order. Each plane keeps its own sum and order, so y is bit-identical to kern_bof's; running
 * the planes side by side shares the division and overlaps their dependency chains. */
static void bof_pool_planes(const kern_bof_desc *d, size_t planes, const float *act,
                            const float *sum, size_t out_hw, float *y)
{
    const int s = d->s, oh = d->h / s, ow = d->w / s;
    const double scale = (double)d->n2 / ((double)s * (double)s);
    const float n1 = d->n1;
    for (int by = 0; by < oh; by++) {
        for (int bx = 0; bx < ow; bx++) {
            double acc[BOF_POOL] = {0.0};
            for (int iy = by * s; iy < (by + 1) * s; iy++) {
                const size_t row = (size_t)iy * (size_t)d->w;
                for (size_t e = row + (size_t)bx * s; e < row + (size_t)(bx + 1) * s; e++) {
                    const float inv = n1 / sum[e];
                    for (int j = 0; j < BOF_POOL; j++) acc[j] += act[j * planes + e] * inv;
                }
            }
            const size_t bin = (size_t)by * (size_t)ow + (size_t)bx;
            for (int j = 0; j < BOF_POOL; j++) y[j * out_hw + bin] = (float)(acc[j] * scale);
        }
    }
}

/* One codeword plane, exactly as kern_bof pools it (for the last K mod BOF_POOL planes). */
static void bof_pool_plane(const kern_bof_desc *d, const float *act, const float *sum, float *y)
{
    const int s = d->s, oh = d->h / s, ow = d->w / s;
    const double scale = (double)d->n2 / ((double)s * (double)s);
    const float n1 = d->n1;
    for (int by = 0; by < oh; by++) {
        for (int bx = 0; bx < ow; bx++) {
            double acc = 0.0;
            for (int iy = by * s; iy < (by + 1) * s; iy++) {
                const size_t row = (size_t)iy * (size_t)d->w;
                for (int ix = bx * s; ix < (bx + 1) * s; ix++)
                    acc += act[row + ix] * (n1 / sum[row + ix]);
            }
            y[(size_t)by * (size_t)ow + bx] = (float)(acc * scale);
        }
    }
}

int grad_bof_forward(const kern_bof_desc *d, const float *x, float *y, float *cache)
{
    if (!bof_ok(d) || !x || !y || !cache) return KERN_EINVAL;
    const size_t hw = (size_t)d->h * (size_t)d->w, khw = (size_t)d->k * hw;
    const size_t out_hw = (size_t)(d->h / d->s) * (size_t)(d->w / d->s);
    float *sums = cache + (size_t)d->n * khw;
    for (int n = 0; n < d->n; n++) {
        float *act = cache + (size_t)n * khw, *sum = sums + (size_t)n * hw;
        bof_activate_sum(d, hw, x + (size_t)n * khw, act, sum);
        float *yn = y + (size_t)n * (size_t)d->k * out_hw;
        int q = 0;
        for (; q + BOF_POOL <= d->k; q += BOF_POOL)
            bof_pool_planes(d, hw, act + (size_t)q * hw, sum, out_hw, yn + (size_t)q * out_hw);
        for (; q < d->k; q++) bof_pool_plane(d, act + (size_t)q * hw, sum, yn + (size_t)q * out_hw);
    }
    return KERN_OK;
}

/* ---- backward ----
 *
 * With g = dy of a pixel's bin, S = sum_k act_k + eps and R = sum_k g_k·act_k / S per pixel
 * (the chain rule through u_k = n1·act_k/S, pooled = mean of u over the bin, y = n2·pooled):
 *   dn2 = (n1/s²)·T and dn1 = (n2/s²)·T with T = sum over pixels of R,
 *   du_k = n2·g_k/s², dact_k = (n1/S)·(du_k − sum_j du_j·act_j/S) = (n1·n2/s²)·(g_k − R)/S,
 *   dz_k = dact_k/2 · (1 − t²) with t = 2·act − 1, i.e. 1 − t² = 4·act·(1 − act), so
 *   dz_k = C·e_k with C = 2·n1·n2/s² and e_k = (g_k − R)·(act_k/S)·(1 − act_k)
 * (act/S <= 1, so e stays finite as S tends to eps). Then dx += a·dz, da += sum dz·x and
 * dc += sum dz. Pixels outside the bins (floor) get g = 0, R = 0, hence dz = 0: skipped. */

/* Double accumulators of sum e·x and sum e, one lane per position of a BOF_VEC block so that
 * the block loops vectorise; the lanes are added in a fixed order at the end, so the result
 * does not depend on the compiler. */
typedef struct bof_lanes {
    double ex[BOF_VEC], e[BOF_VEC];
} bof_lanes;

/* g[i] = dy[(c0 + i) / s] for i < len: each column of a window row gets its bin's dy. */
static void bof_spread_bins(const float *dy, int s, int c0, int len, float *g)
{
    int bin = c0 / s, left = s - c0 % s;
    for (int i = 0; i < len; i++) {
        g[i] = dy[bin];
        if (--left == 0) {
            bin++;
            left = s;
        }
    }
}

/* r[i] += g[i]·act[i] for len floats. */
static void bof_acc_products(float *restrict r, const float *restrict g, const float *restrict act,
                             int len)
{
    int i = 0;
    for (; i + BOF_VEC <= len; i += BOF_VEC)
        for (int j = 0; j < BOF_VEC; j++) r[i + j] += g[i + j] * act[i + j];
    for (; i < len; i++) r[i] += g[i] * act[i];
}

/* e = (g − r)·(act/sum)·(1 − act) over len <= BOF_CHUNK floats of one window row of one
 * plane: dx += adz·e when dx is not NULL, and sums of e·x and e into the lanes. Each step is
 * its own simple loop: GCC 12 vectorises these at -O2 and at -O3 -march=native, whereas one
 * fused loop came out scalar at -O3 (about 1.5× slower). */
static void bof_dz_row(const float *restrict g, const float *restrict r, const float *restrict sum,
                       const float *restrict act, const float *restrict x, float *restrict dx,
                       float adz, int len, bof_lanes *restrict acc)
{
    float e[BOF_CHUNK];
    int i = 0;
    for (; i + BOF_VEC <= len; i += BOF_VEC)
        for (int j = 0; j < BOF_VEC; j++)
            e[i + j] = (g[i + j] - r[i + j]) * (act[i + j] / sum[i + j]) * (1.0f - act[i + j]);
    for (; i < len; i++) e[i] = (g[i] - r[i]) * (act[i] / sum[i]) * (1.0f - act[i]);
    if (dx) {
        for (i = 0; i + BOF_VEC <= len; i += BOF_VEC)
            for (int j = 0; j < BOF_VEC; j++) dx[i + j] += adz * e[i + j];
        for (; i < len; i++) dx[i] += adz * e[i];
    }
    for (i = 0; i + BOF_VEC <= len; i += BOF_VEC)
        for (int j = 0; j < BOF_VEC; j++) {
            acc->ex[j] += (double)e[i + j] * (double)x[i + j];
            acc->e[j] += (double)e[i + j];
        }
    for (; i < len; i++) {
        acc->ex[0] += (double)e[i] * (double)x[i];
        acc->e[0] += (double)e[i];
    }
}

/* Geometry and per-sample pointers shared by the two passes. */
typedef struct bof_sample {
    const kern_bof_desc *d;
    size_t hw, out_hw;
    const float *x, *act, *sum, *dy;
    float *dx; /* NULL when dx is not wanted */
} bof_sample;

/* Pass 1: r[p] = sum_k g_k(p)·act_k(p) over the binned pixels, then r = r/S; returns the sum
 * of r over the pixels (T of one sample). */
static double bof_pass_r(const bof_sample *b, float *r)
{
    const kern_bof_desc *d = b->d;
    const int s = d->s, oh = d->h / s, ow = d->w / s, cols = ow * s;
    float g[BOF_CHUNK];
    memset(r, 0, b->hw * sizeof *r);
    for (int q = 0; q < d->k; q++) {
        const float *aq = b->act + (size_t)q * b->hw, *dyq = b->dy + (size_t)q * b->out_hw;
        for (int by = 0; by < oh; by++)
            for (int c0 = 0; c0 < cols; c0 += BOF_CHUNK) {
                const int len = cols - c0 < BOF_CHUNK ? cols - c0 : BOF_CHUNK;
                bof_spread_bins(dyq + (size_t)by * (size_t)ow, s, c0, len, g);
                for (int iy = by * s; iy < (by + 1) * s; iy++) {
                    const size_t row = (size_t)iy * (size_t)d->w + (size_t)c0;
                    bof_acc_products(r + row, g, aq + row, len);
                }
            }
    }
    double t = 0.0;
    for (size_t p = 0; p < b->hw; p++) {
        r[p] /= b->sum[p];
        t += r[p];
    }
    return t;
}

/* Pass 2: dx += adz·e and the lane sums, plane by plane over the binned pixels. */
static void bof_pass_dz(const bof_sample *b, const float *r, float adz, bof_lanes *acc)
{
    const kern_bof_desc *d = b->d;
    const int s = d->s, oh = d->h / s, ow = d->w / s, cols = ow * s;
    float g[BOF_CHUNK];
    for (int q = 0; q < d->k; q++) {
        const size_t off = (size_t)q * b->hw;
        const float *aq = b->act + off, *xq = b->x + off, *dyq = b->dy + (size_t)q * b->out_hw;
        float *dxq = b->dx ? b->dx + off : NULL;
        for (int by = 0; by < oh; by++)
            for (int c0 = 0; c0 < cols; c0 += BOF_CHUNK) {
                const int len = cols - c0 < BOF_CHUNK ? cols - c0 : BOF_CHUNK;
                bof_spread_bins(dyq + (size_t)by * (size_t)ow, s, c0, len, g);
                for (int iy = by * s; iy < (by + 1) * s; iy++) {
                    const size_t row = (size_t)iy * (size_t)d->w + (size_t)c0;
                    bof_dz_row(g, r + row, b->sum + row, aq + row, xq + row, dxq ? dxq + row : NULL,
                               adz, len, acc);
                }
            }
    }
}

int grad_bof_backward(const kern_bof_desc *d, const float *x, const float *cache, const float *dy,
                      float *dx, float *da, float *dc, float *dn1, float *dn2, float *ws)
{
    if (!bof_ok(d) || !x || !cache || !dy || !da || !dc || !dn1 || !dn2 || !ws) return KERN_EINVAL;
    const size_t hw = (size_t)d->h * (size_t)d->w, khw = (size_t)d->k * hw;
    const size_t out_hw = (size_t)(d->h / d->s) * (size_t)(d->w / d->s);
    const double inv_s2 = 1.0 / ((double)d->s * (double)d->s);
    const double c_dz = 2.0 * (double)d->n1 * (double)d->n2 * inv_s2;
    const float adz = (float)((double)d->a * c_dz);
    bof_lanes acc = {{0.0}, {0.0}};
    double t = 0.0;
    for (int n = 0; n < d->n; n++) {
        const bof_sample b = {
            .d = d,
            .hw = hw,
            .out_hw = out_hw,
            .x = x + (size_t)n * khw,
            .act = cache + (size_t)n * khw,
            .sum = cache + (size_t)d->n * khw + (size_t)n * hw,
            .dy = dy + (size_t)n * (size_t)d->k * out_hw,
            .dx = dx ? dx + (size_t)n * khw : NULL,
        };
        t += bof_pass_r(&b, ws);
        bof_pass_dz(&b, ws, adz, &acc);
    }
    double sum_ex = 0.0, sum_e = 0.0;
    for (int j = 0; j < BOF_VEC; j++) {
        sum_ex += acc.ex[j];
        sum_e += acc.e[j];
    }
    *da += (float)(c_dz * sum_ex);
    *dc += (float)(c_dz * sum_e);
    *dn1 += (float)((double)d->n2 * inv_s2 * t);
    *dn2 += (float)((double)d->n1 * inv_s2 * t);
    return KERN_OK;
}
