/* Training kernels (see grad.h): convolution backward as two OpenBLAS GEMMs around im2col and
 * col2im, batch norm in training mode, ReLU, pooling and FC backward, softmax cross-entropy and
 * Adam. Every gradient accumulates; nothing allocates; element-wise loops run in fixed-size
 * blocks the compiler vectorises, as in kern.c. */
#include "grad.h"

#include <cblas.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

/* A non-pointwise convolution backward works on tiles of about this many output columns: bands
 * of rows of one sample for large maps, several samples' maps side by side for small ones (as
 * kern_conv2d folds them). The tile's im2col matrix stays in cache between the weight-gradient
 * GEMM, which reduces over its columns, and the column-gradient GEMM that overwrites it. Measured
 * on the width-1/4 VGG-19 layers at batch 128 (OpenBLAS 0.3.21, 1 thread, 2-core AMD EPYC): 128
 * and 256 columns are within noise, 512 loses up to 40% on 16×16 and 8×8 maps, and one GEMM pair
 * per 32×32 sample (1024 columns) is 1.4× slower than bands of 256. Build with
 * -DGRAD_CONV_TILE_COLS=n to re-measure. */
#ifndef GRAD_CONV_TILE_COLS
#define GRAD_CONV_TILE_COLS 256
#endif

/* Maps of at most this many output pixels are lowered through a per-tap gather table rather than
 * row copies of a few floats each: 1.1× faster on 4×4 maps, 1.35× on 2×2, 10% slower on 8×8
 * (same setting as above). */
#ifndef GRAD_CONV_TABLE_PX
#define GRAD_CONV_TABLE_PX 32
#endif
#if GRAD_CONV_TABLE_PX < 1
#error "GRAD_CONV_TABLE_PX must be at least 1"
#endif

/* Element-wise loops run in blocks of GRAD_VEC values with a constant trip count, then a scalar
 * tail, so that GCC vectorises them even at -O2 (see KERN_VEC in kern.c). */
enum { GRAD_VEC = 16 };

/* ---- helpers ---- */

/* sum of count floats: GRAD_VEC float lanes per block, folded into a double per block. */
static double sum_floats(const float *x, size_t count)
{
    double total = 0.0;
    size_t i = 0;
    for (; i + GRAD_VEC <= count; i += GRAD_VEC) {
        float lane = 0.0f;
        for (int k = 0; k < GRAD_VEC; k++) lane += x[i + k];
        total += lane;
    }
    for (; i < count; i++) total += x[i];
    return total;
}

/* y[i] += x[i] for count floats. */
static void add_floats(float *restrict y, const float *restrict x, size_t count)
{
    size_t i = 0;
    for (; i + GRAD_VEC <= count; i += GRAD_VEC)
        for (int k = 0; k < GRAD_VEC; k++) y[i + k] += x[i + k];
    for (; i < count; i++) y[i] += x[i];
}

/* ---- convolution ---- */

static bool conv_is_pointwise(const kern_conv2d_desc *d)
{
    return d->kh == 1 && d->kw == 1 && d->stride_h == 1 && d->stride_w == 1 && d->pad_h == 0 &&
           d->pad_w == 0;
}

/* How a non-pointwise convolution is cut into tiles of about GRAD_CONV_TILE_COLS output columns:
 * bands of `band` output rows of one sample when a map has at least that many pixels, else the
 * whole maps of `group` consecutive samples side by side. */
typedef struct conv_plan {
    const kern_conv2d_desc *d;
    int oh, ow, k;   /* output size; im2col rows C_in·KH·KW */
    size_t ohw;      /* output pixels per map */
    size_t in_sz;    /* floats per input sample */
    int band, group; /* output rows and samples per tile */
    size_t max_cols; /* columns of the widest tile */
    bool same;       /* stride 1 and OW == W: a tap reads the plane shifted as one flat block */
    bool table;      /* maps of at most GRAD_CONV_TABLE_PX pixels: per-tap gather tables */
} conv_plan;

/* Fills p for a valid d; false for an invalid d. */
static bool conv_plan_make(const kern_conv2d_desc *d, conv_plan *p)
{
    int oh, ow;
    if (kern_conv2d_out_hw(d, &oh, &ow)) return false;
    p->d = d;
    p->oh = oh;
    p->ow = ow;
    p->k = d->c_in * d->kh * d->kw;
    p->ohw = (size_t)oh * (size_t)ow;
    p->in_sz = (size_t)d->c_in * (size_t)d->h * (size_t)d->w;
    if (p->ohw >= GRAD_CONV_TILE_COLS) {
        size_t band = (GRAD_CONV_TILE_COLS + (size_t)ow - 1) / (size_t)ow;
        p->band = band < (size_t)oh ? (int)band : oh;
        p->group = 1;
    } else {
        size_t g = (GRAD_CONV_TILE_COLS + p->ohw - 1) / p->ohw;
        p->band = oh;
        p->group = g < (size_t)d->n ? (int)g : d->n;
    }
    p->max_cols = (size_t)p->group * (size_t)p->band * (size_t)ow;
    p->same = d->stride_h == 1 && d->stride_w == 1 && ow == d->w;
    p->table = p->band == oh && p->ohw <= GRAD_CONV_TABLE_PX;
    return true;
}

size_t grad_conv2d_workspace_floats(const kern_conv2d_desc *d)
{
    conv_plan p;
    if (!conv_plan_make(d, &p) || conv_is_pointwise(d)) return 0;
    /* a tile's im2col matrix (then its column gradient) and its dy gathered side by side */
    return ((size_t)p.k + (size_t)d->c_out) * p.max_cols;
}

/* Output columns [lo, hi) whose window tap j reads an input column ox·stride − pad + j inside
 * [0, in) (as in kern.c); also used for rows. */
static void tap_span(int j, int stride, int pad, int in, int out, int *lo, int *hi)
{
    const int off = j - pad;
    int l = off >= 0 ? 0 : (-off + stride - 1) / stride;
    int h = in - off <= 0 ? 0 : (in - off - 1) / stride + 1;
    if (h > out) h = out;
    *lo = l < h ? l : h;
    *hi = h;
}

/* Zeroes count floats unless count is 0. */
static void zero_floats(float *dst, size_t count)
{
    if (count) memset(dst, 0, count * sizeof *dst);
}

/* Where kernel tap (i, j) reads the input plane for the output rows [r0, r1) of a tile; the
 * tile's im2col row of the tap has (r1 − r0)·OW columns. */
typedef struct conv_tap {
    int i, j;
    int lo, hi; /* output columns reading inside the plane */
    int y0, y1; /* output rows reading inside the plane, within [r0, r1) */
    /* same-width plans: relative columns [first, last) copy the plane from offset `shift` on,
     * except adx columns from col0 in each row, which wrapped into a neighbouring row */
    size_t first, last;
    ptrdiff_t shift;
    int col0, adx;
} conv_tap;

/* Fills t for tap (i, j) of the band [r0, r1). */
static void tap_make(const conv_plan *p, int r0, int r1, int i, int j, conv_tap *t)
{
    const kern_conv2d_desc *d = p->d;
    t->i = i;
    t->j = j;
    tap_span(j, d->stride_w, d->pad_w, d->w, p->ow, &t->lo, &t->hi);
    tap_span(i, d->stride_h, d->pad_h, d->h, p->oh, &t->y0, &t->y1);
    if (t->y0 < r0) t->y0 = r0;
    if (t->y1 > r1) t->y1 = r1;
    if (t->y1 < t->y0 || t->hi <= t->lo) t->y1 = t->y0; /* reads nothing */
    const int w = d->w, dx = j - d->pad_w;
    t->adx = dx < 0 ? -dx : dx;
    t->col0 = dx < 0 ? 0 : w - t->adx;
    t->first = t->last = 0;
    t->shift = 0;
    if (!p->same || t->y1 == t->y0) return;
    t->first = (size_t)(t->y0 - r0) * (size_t)w + (size_t)(dx < 0 ? t->adx : 0);
    t->last = (size_t)(t->y1 - r0) * (size_t)w - (size_t)(dx > 0 ? t->adx : 0);
    t->shift = ((ptrdiff_t)r0 + i - d->pad_h) * w + dx;
}

/* Zeroes the wrapped columns of a same-width tap's block in row (an im2col row or scratch). */
static void zero_wrapped(const conv_tap *t, int w, float *row)
{
    if (!t->adx) return;
    for (size_t q = t->first - t->first % (size_t)w + (size_t)t->col0; q < t->last; q += (size_t)w)
        for (int k = 0; k < t->adx; k++) row[q + (size_t)k] = 0.0f;
}

/* The tile's im2col row of tap t of one input plane, `len` columns. */
static void im2col_row(const conv_plan *p, const conv_tap *t, int r0, size_t len,
                       const float *plane, float *dst)
{
    const kern_conv2d_desc *d = p->d;
    if (t->y1 == t->y0) {
        zero_floats(dst, len);
        return;
    }
    if (p->same) {
        zero_floats(dst, t->first);
        memcpy(dst + t->first, plane + (ptrdiff_t)t->first + t->shift,
               (t->last - t->first) * sizeof *dst);
        zero_floats(dst + t->last, len - t->last);
        zero_wrapped(t, d->w, dst);
        return;
    }
    const int ow = p->ow, sw = d->stride_w, off = t->j - d->pad_w;
    zero_floats(dst, (size_t)(t->y0 - r0) * (size_t)ow);
    for (int oy = t->y0; oy < t->y1; oy++) {
        float *row = dst + (size_t)(oy - r0) * (size_t)ow;
        const float *src = plane + (size_t)(oy * d->stride_h - d->pad_h + t->i) * (size_t)d->w;
        zero_floats(row, (size_t)t->lo);
        if (sw == 1)
            memcpy(row + t->lo, src + t->lo + off, (size_t)(t->hi - t->lo) * sizeof *row);
        else
            for (int ox = t->lo; ox < t->hi; ox++) row[ox] = src[(ptrdiff_t)ox * sw + off];
        zero_floats(row + t->hi, (size_t)(ow - t->hi));
    }
    const size_t done = (size_t)(t->y1 - r0) * (size_t)ow;
    zero_floats(dst + done, len - done);
}

/* Transpose of im2col_row: adds the column-gradient row src of tap t into plane. A same-width
 * tap first zeroes its wrapped columns in src (scratch), so that one contiguous add does it. */
static void col2im_row(const conv_plan *p, const conv_tap *t, int r0, float *src, float *plane)
{
    const kern_conv2d_desc *d = p->d;
    if (t->y1 == t->y0) return;
    if (p->same) {
        zero_wrapped(t, d->w, src);
        add_floats(plane + (ptrdiff_t)t->first + t->shift, src + t->first, t->last - t->first);
        return;
    }
    const int ow = p->ow, sw = d->stride_w, off = t->j - d->pad_w;
    for (int oy = t->y0; oy < t->y1; oy++) {
        const float *row = src + (size_t)(oy - r0) * (size_t)ow;
        float *dst = plane + (size_t)(oy * d->stride_h - d->pad_h + t->i) * (size_t)d->w;
        if (sw == 1)
            add_floats(dst + t->lo + off, row + t->lo, (size_t)(t->hi - t->lo));
        else
            for (int ox = t->lo; ox < t->hi; ox++) dst[(ptrdiff_t)ox * sw + off] += row[ox];
    }
}

/* Gather table of tap (i, j) over a whole map: off[p] is the plane offset output pixel p reads,
 * or −1 in the padding. Tiny maps use it instead of im2col_row, whose copies are a few floats. */
static void tap_table(const conv_plan *p, int i, int j, ptrdiff_t *off)
{
    const kern_conv2d_desc *d = p->d;
    for (int oy = 0, q = 0; oy < p->oh; oy++) {
        const int iy = oy * d->stride_h - d->pad_h + i;
        for (int ox = 0; ox < p->ow; ox++, q++) {
            const int ix = ox * d->stride_w - d->pad_w + j;
            const bool inside = iy >= 0 && iy < d->h && ix >= 0 && ix < d->w;
            off[q] = inside ? (ptrdiff_t)iy * d->w + ix : -1;
        }
    }
}

/* Lowers output rows [r0, r1) of samples x[0 .. gs) to their im2col columns side by side (seg
 * columns each) in col, row stride ld. Taps outermost, so that each tap's geometry is worked out
 * once per tile. */
static void im2col(const conv_plan *p, int gs, int r0, int r1, const float *x, float *col,
                   size_t ld)
{
    const kern_conv2d_desc *d = p->d;
    const size_t plane_sz = (size_t)d->h * (size_t)d->w, taps = (size_t)d->kh * (size_t)d->kw;
    const size_t seg = (size_t)(r1 - r0) * (size_t)p->ow;
    ptrdiff_t off[GRAD_CONV_TABLE_PX];
    conv_tap t;
    for (int i = 0; i < d->kh; i++)
        for (int j = 0; j < d->kw; j++) {
            if (p->table)
                tap_table(p, i, j, off);
            else
                tap_make(p, r0, r1, i, j, &t);
            float *tap_rows = col + ((size_t)i * (size_t)d->kw + (size_t)j) * ld;
            for (int s = 0; s < gs; s++)
                for (int c = 0; c < d->c_in; c++) {
                    const float *plane = x + (size_t)s * p->in_sz + (size_t)c * plane_sz;
                    float *dst = tap_rows + (size_t)c * taps * ld + (size_t)s * seg;
                    if (!p->table) {
                        im2col_row(p, &t, r0, seg, plane, dst);
                        continue;
                    }
                    for (size_t q = 0; q < seg; q++) dst[q] = off[q] < 0 ? 0.0f : plane[off[q]];
                }
        }
}

/* dx[0 .. gs) += col2im of the column gradients laid out as im2col's (col is scratch). */
static void col2im(const conv_plan *p, int gs, int r0, int r1, float *col, size_t ld, float *dx)
{
    const kern_conv2d_desc *d = p->d;
    const size_t plane_sz = (size_t)d->h * (size_t)d->w, taps = (size_t)d->kh * (size_t)d->kw;
    const size_t seg = (size_t)(r1 - r0) * (size_t)p->ow;
    ptrdiff_t off[GRAD_CONV_TABLE_PX];
    conv_tap t;
    for (int i = 0; i < d->kh; i++)
        for (int j = 0; j < d->kw; j++) {
            if (p->table)
                tap_table(p, i, j, off);
            else
                tap_make(p, r0, r1, i, j, &t);
            float *tap_rows = col + ((size_t)i * (size_t)d->kw + (size_t)j) * ld;
            for (int s = 0; s < gs; s++)
                for (int c = 0; c < d->c_in; c++) {
                    float *plane = dx + (size_t)s * p->in_sz + (size_t)c * plane_sz;
                    float *src = tap_rows + (size_t)c * taps * ld + (size_t)s * seg;
                    if (!p->table) {
                        col2im_row(p, &t, r0, src, plane);
                        continue;
                    }
                    for (size_t q = 0; q < seg; q++)
                        if (off[q] >= 0) plane[off[q]] += src[q];
                }
        }
}

/* db[o] += sum of each row o of a C_out×cols block (row stride ld). */
static void bias_grad(int c_out, size_t cols, size_t ld, const float *dy, float *db)
{
    for (int o = 0; o < c_out; o++)
        db[o] = (float)((double)db[o] + sum_floats(dy + (size_t)o * ld, cols));
}

/* dw (C_out×K) += dy (C_out×cols) · col^T (col K×cols); all row-major with row stride cols. */
static void gemm_dw(int c_out, int k, int cols, const float *dy, const float *col, float *dw)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, c_out, k, cols, 1.0f, dy, cols, col, cols,
                1.0f, dw, k);
}

/* dcol (K×cols) = w^T · dy (dy C_out×cols), plus dcol's old value when accumulate. */
static void gemm_dcol(int c_out, int k, int cols, const float *w, const float *dy, float *dcol,
                      bool accumulate)
{
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, cols, c_out, 1.0f, w, k, dy, cols,
                accumulate ? 1.0f : 0.0f, dcol, cols);
}

/* Pointwise (1×1 stride-1 unpadded): x is its own im2col matrix and dx its column gradient, so
 * each sample is two GEMMs on the tensors in place. */
static void conv_back_pointwise(const kern_conv2d_desc *d, const float *x, const float *w,
                                const float *dy, float *dx, float *dw, float *db)
{
    const size_t hw = (size_t)d->h * (size_t)d->w;
    const size_t in_sz = (size_t)d->c_in * hw, out_sz = (size_t)d->c_out * hw;
    for (int s = 0; s < d->n; s++) {
        const float *dys = dy + (size_t)s * out_sz;
        if (db) bias_grad(d->c_out, hw, hw, dys, db);
        gemm_dw(d->c_out, d->c_in, (int)hw, dys, x + (size_t)s * in_sz, dw);
        if (dx) gemm_dcol(d->c_out, d->c_in, (int)hw, w, dys, dx + (size_t)s * in_sz, true);
    }
}

/* One tile: output rows [r0, r1) of samples [s0, s0 + gs). Their im2col columns and their dy go
 * side by side into ws, then dw += dy·col^T, dcol = w^T·dy over the im2col matrix, and col2im. */
static void conv_back_tile(const conv_plan *p, int s0, int gs, int r0, int r1, const float *x,
                           const float *w, const float *dy, float *dx, float *dw, float *db,
                           float *ws)
{
    const kern_conv2d_desc *d = p->d;
    const size_t out_sz = (size_t)d->c_out * p->ohw;
    const size_t seg = (size_t)(r1 - r0) * (size_t)p->ow, cols = seg * (size_t)gs;
    float *col = ws, *dyt = ws + (size_t)p->k * cols;
    im2col(p, gs, r0, r1, x + (size_t)s0 * p->in_sz, col, cols);
    for (int s = 0; s < gs; s++) {
        const float *dys = dy + (size_t)(s0 + s) * out_sz + (size_t)r0 * (size_t)p->ow;
        for (int o = 0; o < d->c_out; o++)
            memcpy(dyt + (size_t)o * cols + (size_t)s * seg, dys + (size_t)o * p->ohw,
                   seg * sizeof *dyt);
    }
    if (db) bias_grad(d->c_out, cols, cols, dyt, db);
    gemm_dw(d->c_out, p->k, (int)cols, dyt, col, dw);
    if (!dx) return;
    gemm_dcol(d->c_out, p->k, (int)cols, w, dyt, col, false);
    col2im(p, gs, r0, r1, col, cols, dx + (size_t)s0 * p->in_sz);
}

int grad_conv2d(const kern_conv2d_desc *d, const float *x, const float *w, const float *dy,
                float *dx, float *dw, float *db, float *ws)
{
    conv_plan p;
    if (!conv_plan_make(d, &p) || !x || !w || !dy || !dw) return KERN_EINVAL;
    if (conv_is_pointwise(d)) {
        conv_back_pointwise(d, x, w, dy, dx, dw, db);
        return KERN_OK;
    }
    if (!ws) return KERN_EINVAL;
    for (int s0 = 0; s0 < d->n; s0 += p.group) {
        const int gs = d->n - s0 < p.group ? d->n - s0 : p.group;
        for (int r0 = 0; r0 < p.oh; r0 += p.band) {
            const int r1 = p.oh - r0 < p.band ? p.oh : r0 + p.band;
            conv_back_tile(&p, s0, gs, r0, r1, x, w, dy, dx, dw, db, ws);
        }
    }
    return KERN_OK;
}

/* ---- batch norm, training mode ---- */

/* Double accumulators per BN sum: blocks of BN_LANES values add lane-wise (vectorised, and in a
 * fixed order), the lanes carry across the N runs of a channel and are added up once. */
enum { BN_LANES = 8 };

/* Sum of the lanes, in lane order. */
static double lanes_sum(const double *lane)
{
    double s = 0.0;
    for (int k = 0; k < BN_LANES; k++) s += lane[k];
    return s;
}

/* Adds x − shift and (x − shift)² over count floats, in double, into the lanes s1 and s2 (a tail
 * shorter than a block into the first lanes). Shifting by a value of the data keeps the one-pass
 * variance free of cancellation for data far from 0. */
static void shifted_sums(const float *x, size_t count, double shift, double *s1, double *s2)
{
    size_t i = 0;
    for (; i + BN_LANES <= count; i += BN_LANES)
        for (int k = 0; k < BN_LANES; k++) {
            const double v = (double)x[i + k] - shift;
            s1[k] += v;
            s2[k] += v * v;
        }
    for (int k = 0; i < count; i++, k++) {
        const double v = (double)x[i] - shift;
        s1[k] += v;
        s2[k] += v * v;
    }
}

/* y[i] = (x[i] − mean)·scale + shift for count floats; y may be x. */
static void affine(const float *x, float *y, size_t count, float mean, float scale, float shift)
{
    size_t i = 0;
    for (; i + GRAD_VEC <= count; i += GRAD_VEC)
        for (int k = 0; k < GRAD_VEC; k++) y[i + k] = (x[i + k] - mean) * scale + shift;
    for (; i < count; i++) y[i] = (x[i] - mean) * scale + shift;
}

static bool bn_sizes_ok(int n, int c, size_t hw)
{
    return n >= 1 && c >= 1 && hw >= 1;
}

int grad_bn_forward(int n, int c, size_t hw, const float *x, float *y, const float *gamma,
                    const float *beta, float *run_mean, float *run_var, float momentum, float eps,
                    float *save_mean, float *save_invstd)
{
    if (!bn_sizes_ok(n, c, hw) || !x || !y || !gamma || !beta || !run_mean || !run_var ||
        !save_mean || !save_invstd)
        return KERN_EINVAL;
    if (!(eps > 0.0f) || !(momentum >= 0.0f && momentum <= 1.0f)) return KERN_EINVAL;
    const double m = (double)n * (double)hw;
    const double mom = momentum;
    const size_t plane_stride = (size_t)c * hw;
    for (int ch = 0; ch < c; ch++) {
        const float *xc = x + (size_t)ch * hw;
        const double shift = xc[0];
        double s1[BN_LANES] = {0}, s2[BN_LANES] = {0};
        for (int s = 0; s < n; s++) shifted_sums(xc + (size_t)s * plane_stride, hw, shift, s1, s2);
        const double dmean = lanes_sum(s1) / m;
        double var = lanes_sum(s2) / m - dmean * dmean;
        if (var < 0.0) var = 0.0;
        const double mean = shift + dmean;
        const double invstd = 1.0 / sqrt(var + (double)eps);
        save_mean[ch] = (float)mean;
        save_invstd[ch] = (float)invstd;
        const double unbiased = m > 1.0 ? var * m / (m - 1.0) : var;
        run_mean[ch] = (float)((1.0 - mom) * run_mean[ch] + mom * mean);
        run_var[ch] = (float)((1.0 - mom) * run_var[ch] + mom * unbiased);
        const float scale = (float)(invstd * gamma[ch]);
        for (int s = 0; s < n; s++) {
            const size_t off = (size_t)s * plane_stride + (size_t)ch * hw;
            affine(x + off, y + off, hw, (float)mean, scale, beta[ch]);
        }
    }
    return KERN_OK;
}

/* Adds dy and dy·(x − mean) over count floats, in double, into the lanes sdy and sdyx. */
static void bn_back_sums(const float *x, const float *dy, size_t count, float mean, double *sdy,
                         double *sdyx)
{
    size_t i = 0;
    for (; i + BN_LANES <= count; i += BN_LANES)
        for (int k = 0; k < BN_LANES; k++) {
            sdy[k] += (double)dy[i + k];
            sdyx[k] += (double)dy[i + k] * (double)(x[i + k] - mean);
        }
    for (int k = 0; i < count; i++, k++) {
        sdy[k] += (double)dy[i];
        sdyx[k] += (double)dy[i] * (double)(x[i] - mean);
    }
}

/* dx[i] += a·dy[i] + b·(x[i] − mean) + c for count floats. */
static void bn_back_dx(const float *restrict x, const float *restrict dy, float *restrict dx,
                       size_t count, float mean, float a, float b, float c)
{
    size_t i = 0;
    for (; i + GRAD_VEC <= count; i += GRAD_VEC)
        for (int k = 0; k < GRAD_VEC; k++) dx[i + k] += a * dy[i + k] + b * (x[i + k] - mean) + c;
    for (; i < count; i++) dx[i] += a * dy[i] + b * (x[i] - mean) + c;
}

int grad_bn_backward(int n, int c, size_t hw, const float *x, const float *dy, const float *gamma,
                     const float *save_mean, const float *save_invstd, float *dx, float *dgamma,
                     float *dbeta)
{
    if (!bn_sizes_ok(n, c, hw) || !x || !dy || !gamma || !save_mean || !save_invstd || !dgamma ||
        !dbeta)
        return KERN_EINVAL;
    const double m = (double)n * (double)hw;
    const size_t plane_stride = (size_t)c * hw;
    for (int ch = 0; ch < c; ch++) {
        const float mean = save_mean[ch];
        const double invstd = save_invstd[ch];
        double ldy[BN_LANES] = {0}, ldyx[BN_LANES] = {0};
        for (int s = 0; s < n; s++) {
            const size_t off = (size_t)s * plane_stride + (size_t)ch * hw;
            bn_back_sums(x + off, dy + off, hw, mean, ldy, ldyx);
        }
        const double sdy = lanes_sum(ldy);
        const double sdyxhat = lanes_sum(ldyx) * invstd; /* sum(dy·xhat) */
        dgamma[ch] = (float)((double)dgamma[ch] + sdyxhat);
        dbeta[ch] = (float)((double)dbeta[ch] + sdy);
        if (!dx) continue;
        /* (gamma·invstd/m)·(m·dy − sum(dy) − xhat·sum(dy·xhat)) = a·dy + b·(x − mean) + c */
        const double k = (double)gamma[ch] * invstd / m;
        const float a = (float)(k * m);
        const float b = (float)(-k * sdyxhat * invstd);
        const float cc = (float)(-k * sdy);
        for (int s = 0; s < n; s++) {
            const size_t off = (size_t)s * plane_stride + (size_t)ch * hw;
            bn_back_dx(x + off, dy + off, dx + off, hw, mean, a, b, cc);
        }
    }
    return KERN_OK;
}

/* ---- element-wise ---- */

/* The gradient of a block goes through a local array so that the loops are branch-free and need
 * no aliasing checks (dx may even be dy), which lets GCC vectorise them at -O2. */
void grad_relu(const float *y, const float *dy, float *dx, size_t count)
{
    size_t i = 0;
    for (; i + GRAD_VEC <= count; i += GRAD_VEC) {
        float g[GRAD_VEC];
        for (int k = 0; k < GRAD_VEC; k++) {
            const float v = dy[i + k];
            g[k] = y[i + k] > 0.0f ? v : 0.0f;
        }
        for (int k = 0; k < GRAD_VEC; k++) dx[i + k] += g[k];
    }
    for (; i < count; i++) {
        const float v = dy[i];
        dx[i] += y[i] > 0.0f ? v : 0.0f;
    }
}

/* ---- pooling ---- */

/* pick ? a : b through the bits, which GCC keeps branch-free (a ?: on floats it may branch). */
static inline float select_float(int pick, float a, float b)
{
    uint32_t ua, ub;
    memcpy(&ua, &a, sizeof ua);
    memcpy(&ub, &b, sizeof ub);
    const uint32_t mask = 0u - (uint32_t)pick;
    const uint32_t r = (ua & mask) | (ub & ~mask);
    float out;
    memcpy(&out, &r, sizeof out);
    return out;
}

/* Outputs of a pooling row handled together by the max-pool backward (stack arrays). */
enum { POOL_CHUNK = 64 };

/* Max-pool backward of outputs [c0, c1) of output row oy of one plane: the window maxima of all of
 * them are found together, one window cell (row-major) at a time, then each dy goes to its
 * window's first maximal cell, the first NaN if any (NaN wins kern_maxpool2d). Selects rather than
 * branches: which cell wins is data-dependent and would mispredict. */
static void maxpool_back_chunk(const kern_pool_desc *d, int ow, int oy, int c0, int c1,
                               const float *x, const float *dyr, float *dx)
{
    const int w = d->w, sw = d->stride_w, top = oy * d->stride_h - d->pad_h;
    const int y0 = top < 0 ? 0 : top, y1 = top + d->kh < d->h ? top + d->kh : d->h;
    float m[POOL_CHUNK];
    size_t best[POOL_CHUNK];
    for (int ox = c0; ox < c1; ox++) {
        const int left = ox * sw - d->pad_w;
        m[ox - c0] = -INFINITY; /* an all −inf window keeps its first cell */
        best[ox - c0] = (size_t)y0 * (size_t)w + (size_t)(left < 0 ? 0 : left);
    }
    for (int iy = y0; iy < y1; iy++) {
        const float *row = x + (size_t)iy * (size_t)w;
        for (int j = 0; j < d->kw; j++) {
            int lo, hi;
            tap_span(j, sw, d->pad_w, w, ow, &lo, &hi);
            lo = lo < c0 ? c0 : lo;
            hi = hi > c1 ? c1 : hi;
            for (int ox = lo; ox < hi; ox++) {
                const size_t p = (size_t)((ptrdiff_t)ox * sw + j - d->pad_w);
                const float v = row[p], cur = m[ox - c0];
                const int better = (v > cur) | ((v != v) & (cur == cur));
                m[ox - c0] = select_float(better, v, cur);
                const size_t take = (size_t)0 - (size_t)better;
                best[ox - c0] = (((size_t)iy * (size_t)w + p) & take) | (best[ox - c0] & ~take);
            }
        }
    }
    for (int ox = c0; ox < c1; ox++) dx[best[ox - c0]] += dyr[ox];
}

/* Index 0..3 of the first maximum (first NaN) of a, b, c, e, as maxpool_back_chunk decides. */
static inline int argmax4(float a, float b, float c, float e)
{
    float m = a;
    int at = 0;
    const float v[3] = {b, c, e};
    for (int k = 0; k < 3; k++) {
        const int better = (v[k] > m) | ((v[k] != v[k]) & (m == m));
        m = select_float(better, v[k], m);
        at = better ? k + 1 : at;
    }
    return at;
}

/* VGG's 2×2 stride-2 unpadded pooling of one plane, window by window in straight-line code. */
static void maxpool_back_2x2(int w, int oh, int ow, const float *x, const float *dy, float *dx)
{
    const size_t cell[4] = {0, 1, (size_t)w, (size_t)w + 1};
    for (int oy = 0; oy < oh; oy++) {
        const size_t top = (size_t)(2 * oy) * (size_t)w;
        const float *r0 = x + top, *r1 = r0 + w;
        const float *dyr = dy + (size_t)oy * (size_t)ow;
        for (int ox = 0; ox < ow; ox++) {
            const int at = argmax4(r0[2 * ox], r0[2 * ox + 1], r1[2 * ox], r1[2 * ox + 1]);
            dx[top + (size_t)(2 * ox) + cell[at]] += dyr[ox];
        }
    }
}

static bool pool_is_2x2(const kern_pool_desc *d)
{
    return d->kh == 2 && d->kw == 2 && d->stride_h == 2 && d->stride_w == 2 && d->pad_h == 0 &&
           d->pad_w == 0;
}

/* The window maximum is recomputed from x rather than matched against y, so that a y rounded
 * or altered in between cannot lose a gradient. */
int grad_maxpool2d(const kern_pool_desc *d, const float *x, const float *y, const float *dy,
                   float *dx)
{
    int oh, ow;
    (void)y;
    if (kern_pool_out_hw(d, &oh, &ow) || !x || !dy || !dx) return KERN_EINVAL;
    const size_t in_sz = (size_t)d->h * (size_t)d->w;
    const size_t out_sz = (size_t)oh * (size_t)ow;
    const size_t planes = (size_t)d->n * (size_t)d->c;
    for (size_t p = 0; p < planes; p++) {
        if (pool_is_2x2(d)) {
            maxpool_back_2x2(d->w, oh, ow, x + p * in_sz, dy + p * out_sz, dx + p * in_sz);
            continue;
        }
        for (int oy = 0; oy < oh; oy++)
            for (int c0 = 0; c0 < ow; c0 += POOL_CHUNK)
                maxpool_back_chunk(d, ow, oy, c0, ow - c0 < POOL_CHUNK ? ow : c0 + POOL_CHUNK,
                                   x + p * in_sz, dy + p * out_sz + (size_t)oy * (size_t)ow,
                                   dx + p * in_sz);
    }
    return KERN_OK;
}

/* dst[ox·stride + off] += s·src[ox] for ox in [lo, hi). */
static void spread_taps(float *restrict dst, const float *restrict src, int lo, int hi, int stride,
                        int off, float s)
{
    for (int ox = lo; ox < hi; ox++) dst[(ptrdiff_t)ox * stride + off] += s * src[ox];
}

int grad_avgpool2d(const kern_pool_desc *d, const float *dy, float *dx)
{
    int oh, ow;
    if (kern_pool_out_hw(d, &oh, &ow) || !dy || !dx) return KERN_EINVAL;
    const size_t in_sz = (size_t)d->h * (size_t)d->w;
    const size_t out_sz = (size_t)oh * (size_t)ow;
    const size_t planes = (size_t)d->n * (size_t)d->c;
    const float inv = 1.0f / (float)(d->kh * d->kw);
    for (size_t p = 0; p < planes; p++) {
        float *dxp = dx + p * in_sz;
        for (int oy = 0; oy < oh; oy++) {
            const float *dyr = dy + p * out_sz + (size_t)oy * (size_t)ow;
            const int top = oy * d->stride_h - d->pad_h;
            const int y0 = top < 0 ? 0 : top;
            const int y1 = top + d->kh < d->h ? top + d->kh : d->h;
            for (int j = 0; j < d->kw; j++) {
                int lo, hi;
                tap_span(j, d->stride_w, d->pad_w, d->w, ow, &lo, &hi);
                for (int iy = y0; iy < y1; iy++)
                    spread_taps(dxp + (size_t)iy * (size_t)d->w, dyr, lo, hi, d->stride_w,
                                j - d->pad_w, inv);
            }
        }
    }
    return KERN_OK;
}

/* ---- fully connected ---- */

int grad_fc(int n, int in, int out, const float *x, const float *w, const float *dy, float *dx,
            float *dw, float *db)
{
    if (n < 1 || in < 1 || out < 1 || !x || !w || !dy || !dw) return KERN_EINVAL;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, n, 1.0f, dy, out, x, in, 1.0f, dw,
                in);
    if (dx)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, in, out, 1.0f, dy, out, w, in,
                    1.0f, dx, in);
    if (db)
        for (int j = 0; j < out; j++) {
            double sum = 0.0;
            for (int r = 0; r < n; r++) sum += dy[(size_t)r * (size_t)out + (size_t)j];
            db[j] = (float)((double)db[j] + sum);
        }
    return KERN_OK;
}

/* ---- loss ---- */

/* Index of the first maximum of a row (of the first NaN if any). */
static int row_argmax(const float *x, int classes)
{
    int best = 0;
    for (int j = 0; j < classes; j++) {
        if (x[j] != x[j]) return j;
        if (x[j] > x[best]) best = j;
    }
    return best;
}

double grad_softmax_xent(int n, int classes, const float *logits, const uint8_t *labels,
                         float scale, float *dlogits, int *correct)
{
    if (n < 1 || classes < 1 || !logits || !labels) return NAN;
    for (int r = 0; r < n; r++)
        if (labels[r] >= classes) return NAN;
    const double coef = (double)scale / n;
    double total = 0.0;
    int hits = 0;
    for (int r = 0; r < n; r++) {
        const float *xr = logits + (size_t)r * (size_t)classes;
        const int label = labels[r];
        const int top = row_argmax(xr, classes);
        const double mx = xr[top]; /* the maximum, or NaN that spreads to the loss */
        double sum = 0.0;
        for (int j = 0; j < classes; j++) sum += exp((double)xr[j] - mx);
        total += mx + log(sum) - (double)xr[label];
        hits += top == label;
        if (!dlogits) continue;
        float *gr = dlogits + (size_t)r * (size_t)classes;
        const double inv = 1.0 / sum;
        for (int j = 0; j < classes; j++) {
            const double p = exp((double)xr[j] - mx) * inv;
            gr[j] = (float)(coef * (p - (j == label ? 1.0 : 0.0)));
        }
    }
    if (correct) *correct += hits;
    return total / n;
}

/* ---- optimiser ---- */

/* As torch.optim.Adam: p −= (lr/bc1)·m / (sqrt(v)/sqrt(bc2) + eps), which is the formula of
 * grad.h with the bias corrections bc1 = 1 − β1^step, bc2 = 1 − β2^step computed once. */
void grad_adam_step(const grad_adam *h, long step, size_t count, float *p, const float *g, float *m,
                    float *v)
{
    if (!h || step < 1 || !count || !p || !g || !m || !v) return;
    const double bc1 = 1.0 - pow((double)h->beta1, (double)step);
    const double bc2 = 1.0 - pow((double)h->beta2, (double)step);
    const float step_size = (float)((double)h->lr / bc1);
    const float inv_sqrt_bc2 = (float)(1.0 / sqrt(bc2));
    const float b1 = h->beta1, b2 = h->beta2, wd = h->weight_decay, eps = h->eps;
    for (size_t i = 0; i < count; i++) {
        const float gi = g[i] + wd * p[i];
        m[i] = b1 * m[i] + (1.0f - b1) * gi;
        v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
        p[i] -= step_size * m[i] / (sqrtf(v[i]) * inv_sqrt_bc2 + eps);
    }
}
