/* Forward kernels of the functional engine (see kern.h). Every GEMM goes through OpenBLAS
 * cblas_sgemm, whose threading follows OPENBLAS_NUM_THREADS; nothing here allocates, and the
 * element-wise loops run over contiguous rows in fixed-size blocks the compiler vectorises. */
#include "kern.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* A convolution (other than 1×1 stride-1 unpadded) whose output maps have fewer pixels than this
 * folds consecutive samples into one GEMM, their im2col columns side by side, so that OpenBLAS
 * gets a wide enough product. Measured at batch 32 on the width-1/4 VGG-19 layers (2-core AMD
 * EPYC, OpenBLAS 0.3.21, 1 and 2 threads): on 32×32 maps with 16-128 channels one GEMM per sample
 * is 1.2-2× faster than folding the whole batch; on 8×8 and 4×4 maps folding to >= 256 columns is
 * 0-15% faster with 1 thread and 10-80% with 2; folding to 1024 columns or more loses up to 25% on
 * 16×16 maps. Pointwise convs read x in place and never fold (folding costs them a gather).
 * Build with -DKERN_CONV_MIN_COLS=n to re-measure. */
#ifndef KERN_CONV_MIN_COLS
#define KERN_CONV_MIN_COLS 256
#endif

/* Element-wise loops run in blocks of KERN_VEC floats with a constant trip count, then a scalar
 * tail: GCC vectorises (and makes branch-free) such blocks even at -O2, whose very-cheap cost
 * model leaves loops of unknown length scalar and branchy. */
enum { KERN_VEC = 16 };

/* Inlined into each caller so that a constant row length becomes a few vector moves. */
#define KERN_ALWAYS_INLINE static inline __attribute__((always_inline))

/* ---- shapes ---- */

int kern_out_dim(int in, int k, int stride, int pad)
{
    if (in < 1 || k < 1 || stride < 1 || pad < 0) return -1;
    long long span = (long long)in + 2LL * pad - k;
    if (span < 0) return -1;
    long long out = span / stride + 1;
    return out > INT_MAX ? -1 : (int)out;
}

/* True when v fits the int that cblas and the loops index with. */
static bool fits_int(size_t v)
{
    return v <= (size_t)INT_MAX;
}

int kern_conv2d_out_hw(const kern_conv2d_desc *d, int *oh, int *ow)
{
    if (!d || d->n < 1 || d->c_in < 1 || d->c_out < 1) return KERN_EINVAL;
    int h = kern_out_dim(d->h, d->kh, d->stride_h, d->pad_h);
    int w = kern_out_dim(d->w, d->kw, d->stride_w, d->pad_w);
    if (h < 1 || w < 1) return KERN_EINVAL;
    size_t k = (size_t)d->c_in * (size_t)d->kh * (size_t)d->kw;
    if (!fits_int(k) || !fits_int((size_t)h * (size_t)w * (size_t)d->n)) return KERN_EINVAL;
    if (oh) *oh = h;
    if (ow) *ow = w;
    return KERN_OK;
}

static bool conv_is_pointwise(const kern_conv2d_desc *d)
{
    return d->kh == 1 && d->kw == 1 && d->stride_h == 1 && d->stride_w == 1 && d->pad_h == 0 &&
           d->pad_w == 0;
}

/* Samples per GEMM: 1 for pointwise convs and maps of at least KERN_CONV_MIN_COLS pixels, else
 * enough to reach that many columns. */
static int conv_group(const kern_conv2d_desc *d, size_t ohw)
{
    if (conv_is_pointwise(d) || ohw >= KERN_CONV_MIN_COLS) return 1;
    size_t g = (KERN_CONV_MIN_COLS + ohw - 1) / ohw;
    return g < (size_t)d->n ? (int)g : d->n;
}

size_t kern_conv2d_workspace_floats(const kern_conv2d_desc *d)
{
    int oh, ow;
    if (kern_conv2d_out_hw(d, &oh, &ow)) return 0;
    size_t ohw = (size_t)oh * (size_t)ow;
    size_t rows = (size_t)d->c_in * (size_t)d->kh * (size_t)d->kw;
    int g = conv_group(d, ohw);
    if (g == 1) return conv_is_pointwise(d) ? 0 : rows * ohw;
    /* im2col of g samples plus the GEMM result before it is scattered back to NCHW */
    return (rows + (size_t)d->c_out) * ohw * (size_t)g;
}

/* ---- convolution ---- */

/* Output columns [lo, hi) whose window tap j reads an input column ox·stride − pad + j inside
 * [0, in); shared by im2col and pooling. */
static void tap_span(int j, int stride, int pad, int in, int out, int *lo, int *hi)
{
    const int off = j - pad;
    int l = off >= 0 ? 0 : (-off + stride - 1) / stride;
    int h = in - off <= 0 ? 0 : (in - off - 1) / stride + 1;
    if (h > out) h = out;
    *lo = l < h ? l : h;
    *hi = h;
}

/* Zeroes count floats unless count is 0 (short rows make even an empty libc call costly). */
static void zero_floats(float *dst, size_t count)
{
    if (count) memset(dst, 0, count * sizeof *dst);
}

/* One im2col row (all OH×OW outputs for kernel tap (i, j) of one input plane), general case. */
static void im2col_row(const kern_conv2d_desc *d, int oh, int ow, const float *plane, int i, int j,
                       float *dst)
{
    const int w = d->w, sw = d->stride_w, off = j - d->pad_w;
    int lo, hi;
    tap_span(j, sw, d->pad_w, w, ow, &lo, &hi);
    for (int oy = 0; oy < oh; oy++, dst += ow) {
        int iy = oy * d->stride_h - d->pad_h + i;
        if (iy < 0 || iy >= d->h) {
            zero_floats(dst, (size_t)ow);
            continue;
        }
        const float *src = plane + (size_t)iy * (size_t)w;
        zero_floats(dst, (size_t)lo);
        if (sw == 1)
            memcpy(dst + lo, src + lo + off, (size_t)(hi - lo) * sizeof *dst);
        else
            for (int ox = lo; ox < hi; ox++) dst[ox] = src[(ptrdiff_t)ox * sw + off];
        zero_floats(dst + hi, (size_t)(ow - hi));
    }
}

/* One im2col row when stride is 1 and OW == W ("same" width): the row is the input plane shifted
 * by (dy, dx) as one flat block, so it is one memcpy plus zeroed borders and wrapped columns. */
static void im2col_row_same(const kern_conv2d_desc *d, int oh, const float *plane, int i, int j,
                            float *dst)
{
    const int w = d->w, dy = i - d->pad_h, dx = j - d->pad_w;
    const int adx = dx < 0 ? -dx : dx;
    int y0 = dy < 0 ? -dy : 0;                /* first output row with an input row */
    int y1 = d->h - dy < oh ? d->h - dy : oh; /* one past the last */
    if (y1 <= y0 || adx >= w) {
        zero_floats(dst, (size_t)oh * (size_t)w);
        return;
    }
    zero_floats(dst, (size_t)y0 * (size_t)w);
    const size_t first = (size_t)y0 * (size_t)w + (size_t)(dx < 0 ? adx : 0);
    const size_t last = (size_t)y1 * (size_t)w - (size_t)(dx > 0 ? adx : 0);
    const ptrdiff_t shift = (ptrdiff_t)dy * w + dx;
    memcpy(dst + first, plane + (ptrdiff_t)first + shift, (last - first) * sizeof *dst);
    /* columns whose input column falls outside [0, w) picked up a neighbouring row's pixels */
    const int col0 = dx < 0 ? 0 : w - adx;
    for (int oy = y0; oy < y1; oy++)
        for (int k = 0; k < adx; k++) dst[(size_t)oy * (size_t)w + (size_t)(col0 + k)] = 0.0f;
    zero_floats(dst + (size_t)y1 * (size_t)w, (size_t)(oh - y1) * (size_t)w);
}

/* ---- im2col through a zero-bordered plane ---- */

/* Floats of the stack buffer that holds one zero-bordered input plane (16 KiB). */
enum { KERN_PAD_PLANE = 4096 };

/* Floats of one input plane with its zero border. */
static size_t padded_plane_floats(const kern_conv2d_desc *d)
{
    return ((size_t)d->h + 2 * (size_t)d->pad_h) * ((size_t)d->w + 2 * (size_t)d->pad_w);
}

/* A non-pointwise convolution whose input planes fit KERN_PAD_PLANE with their zero border
 * copies each plane into such a bordered plane first, so that every im2col row is a run of short
 * fixed-size copies with no border cases. Measured on the 3×3 convs of width-1/4 VGG-19 at batch
 * 32 (2-core AMD EPYC, OpenBLAS 0.3.21, one thread): lowered row by row with memcpy/memset, they
 * took 25-35 % longer than their sgemm calls alone on 32×32 to 8×8 maps and up to 85 % longer on
 * 2×2 maps (the calls cost more than the few floats they move); this way 10-25 %. */
static bool conv_pads_planes(const kern_conv2d_desc *d)
{
    return !conv_is_pointwise(d) && padded_plane_floats(d) <= KERN_PAD_PLANE;
}

/* dst[k] = src[k·stride] for k < n. */
KERN_ALWAYS_INLINE void copy_strided(float *restrict dst, const float *restrict src, int n,
                                     int stride)
{
    for (int k = 0; k < n; k++) dst[k] = src[(ptrdiff_t)k * stride];
}

/* im2col of one sample through the zero-bordered plane p (border already zero): each input
 * plane (rows of w floats) goes into p's interior, then row (c, i, j) takes, for each output row
 * oy, the ow values of p's row oy·stride_h + i from column j on, every sw-th. */
KERN_ALWAYS_INLINE void im2col_padded_w(const kern_conv2d_desc *d, int w, int oh, int ow, int sw,
                                        const float *x, float *p, float *col, size_t ld)
{
    const size_t pw = (size_t)w + 2 * (size_t)d->pad_w;
    const size_t rstep = (size_t)d->stride_h * pw;
    float *interior = p + (size_t)d->pad_h * pw + (size_t)d->pad_w;
    size_t row = 0;
    for (int c = 0; c < d->c_in; c++) {
        for (int y = 0; y < d->h; y++, x += w) copy_strided(interior + (size_t)y * pw, x, w, 1);
        for (int i = 0; i < d->kh; i++)
            for (int j = 0; j < d->kw; j++, row++) {
                const float *src = p + (size_t)i * pw + (size_t)j;
                float *dst = col + row * ld;
                for (int oy = 0; oy < oh; oy++, src += rstep, dst += ow)
                    copy_strided(dst, src, ow, sw);
            }
    }
}

/* im2col_padded_w for square "same" 2×2 and 4×4 maps with OH constant too, so that a channel's
 * rows unroll completely; a function of its own, since unrolling them inside im2col_padded made
 * its 8×8 case 10 % slower (code layout, not work). */
static __attribute__((noinline)) void im2col_padded_tiny(const kern_conv2d_desc *d, int side,
                                                         const float *x, float *p, float *col,
                                                         size_t ld)
{
    if (side == 2)
        im2col_padded_w(d, 2, 2, 2, 1, x, p, col, ld);
    else
        im2col_padded_w(d, 4, 4, 4, 1, x, p, col, ld);
}

/* im2col_padded_w with the common "same" widths (stride 1, OW = W) as constants, so that each
 * output row is a few vector moves. */
static void im2col_padded(const kern_conv2d_desc *d, int oh, int ow, const float *x, float *p,
                          float *col, size_t ld)
{
    if (d->stride_w != 1 || ow != d->w) {
        im2col_padded_w(d, d->w, oh, ow, d->stride_w, x, p, col, ld);
        return;
    }
    if (oh == ow && (ow == 2 || ow == 4)) {
        im2col_padded_tiny(d, ow, x, p, col, ld);
        return;
    }
    switch (ow) {
    case 2:
        im2col_padded_w(d, 2, oh, 2, 1, x, p, col, ld);
        break;
    case 4:
        im2col_padded_w(d, 4, oh, 4, 1, x, p, col, ld);
        break;
    case 8:
        im2col_padded_w(d, 8, oh, 8, 1, x, p, col, ld);
        break;
    case 16:
        im2col_padded_w(d, 16, oh, 16, 1, x, p, col, ld);
        break;
    case 32:
        im2col_padded_w(d, 32, oh, 32, 1, x, p, col, ld);
        break;
    default:
        im2col_padded_w(d, ow, oh, ow, 1, x, p, col, ld);
        break;
    }
}

/* Lowers one C_in×H×W sample to its (C_in·KH·KW)×(OH·OW) im2col matrix with row stride ld;
 * through the zero-bordered plane pad when there is one (conv_pads_planes). */
static void im2col(const kern_conv2d_desc *d, float *pad, int oh, int ow, const float *x,
                   float *col, size_t ld)
{
    if (pad) {
        im2col_padded(d, oh, ow, x, pad, col, ld);
        return;
    }
    const bool same = d->stride_h == 1 && d->stride_w == 1 && ow == d->w;
    const size_t plane_sz = (size_t)d->h * (size_t)d->w;
    size_t row = 0;
    for (int c = 0; c < d->c_in; c++) {
        const float *plane = x + (size_t)c * plane_sz;
        for (int i = 0; i < d->kh; i++)
            for (int j = 0; j < d->kw; j++, row++) {
                if (same)
                    im2col_row_same(d, oh, plane, i, j, col + row * ld);
                else
                    im2col_row(d, oh, ow, plane, i, j, col + row * ld);
            }
    }
}

/* Sets each of the `rows` rows of length `len` (stride ld) to bias[row]. */
static void fill_rows(float *c, int rows, size_t len, size_t ld, const float *bias)
{
    for (int r = 0; r < rows; r++) {
        float *dst = c + (size_t)r * ld;
        const float b = bias[r];
        size_t i = 0;
        for (; i + KERN_VEC <= len; i += KERN_VEC)
            for (int k = 0; k < KERN_VEC; k++) dst[i + k] = b;
        for (; i < len; i++) dst[i] = b;
    }
}

/* C (M×cols, row stride cols) = W (M×K) · B (K×cols) [+ C when accumulate]. */
static void gemm_rows(int m, int cols, int k, const float *w, const float *b, float *c,
                      bool accumulate)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, cols, k, 1.0f, w, k, b, cols,
                accumulate ? 1.0f : 0.0f, c, cols);
}

/* dst[i] = src[i] + b for count floats. */
static void add_scalar(float *restrict dst, const float *restrict src, size_t count, float b)
{
    size_t i = 0;
    for (; i + KERN_VEC <= count; i += KERN_VEC)
        for (int k = 0; k < KERN_VEC; k++) dst[i + k] = src[i + k] + b;
    for (; i < count; i++) dst[i] = src[i] + b;
}

/* One sample per GEMM, written straight into y. */
static void conv_per_sample(const kern_conv2d_desc *d, float *pad, int oh, int ow, const float *x,
                            const float *w, const float *bias, float *y, float *ws)
{
    const size_t ohw = (size_t)oh * (size_t)ow;
    const size_t in_sz = (size_t)d->c_in * (size_t)d->h * (size_t)d->w;
    const size_t out_sz = (size_t)d->c_out * ohw;
    const int k = d->c_in * d->kh * d->kw;
    const bool pointwise = conv_is_pointwise(d);
    for (int s = 0; s < d->n; s++) {
        const float *xs = x + (size_t)s * in_sz;
        float *ys = y + (size_t)s * out_sz;
        if (!pointwise) im2col(d, pad, oh, ow, xs, ws, ohw);
        if (bias) fill_rows(ys, d->c_out, ohw, ohw, bias);
        gemm_rows(d->c_out, (int)ohw, k, w, pointwise ? xs : ws, ys, bias != NULL);
    }
}

/* g samples per GEMM (not for pointwise convs): their im2col matrices side by side, the
 * C_out×(g·OH·OW) result scattered back to NCHW with the bias added. */
static void conv_grouped(const kern_conv2d_desc *d, float *pad, int oh, int ow, int g,
                         const float *x, const float *w, const float *bias, float *y, float *ws)
{
    const size_t ohw = (size_t)oh * (size_t)ow;
    const size_t in_sz = (size_t)d->c_in * (size_t)d->h * (size_t)d->w;
    const size_t out_sz = (size_t)d->c_out * ohw;
    const int k = d->c_in * d->kh * d->kw;
    float *col = ws;
    float *res = ws + (size_t)k * ohw * (size_t)g;
    for (int s0 = 0; s0 < d->n; s0 += g) {
        const int gs = d->n - s0 < g ? d->n - s0 : g;
        const size_t ld = ohw * (size_t)gs;
        for (int s = 0; s < gs; s++)
            im2col(d, pad, oh, ow, x + (size_t)(s0 + s) * in_sz, col + (size_t)s * ohw, ld);
        gemm_rows(d->c_out, (int)ld, k, w, col, res, false);
        for (int s = 0; s < gs; s++) {
            float *ys = y + (size_t)(s0 + s) * out_sz;
            for (int o = 0; o < d->c_out; o++) {
                const float *src = res + (size_t)o * ld + (size_t)s * ohw;
                float *dst = ys + (size_t)o * ohw;
                add_scalar(dst, src, ohw, bias ? bias[o] : 0.0f);
            }
        }
    }
}

int kern_conv2d_gemm_shapes(const kern_conv2d_desc *d, bool with_bias, kern_gemm_shape *shapes)
{
    int oh, ow;
    if (kern_conv2d_out_hw(d, &oh, &ow) || !shapes) return 0;
    const int ohw = oh * ow, k = d->c_in * d->kh * d->kw;
    const int g = conv_group(d, (size_t)ohw);
    if (g == 1) {
        /* conv_per_sample: B is the sample itself (pointwise) or the im2col workspace, C the
         * sample's output, filled with the bias first */
        const size_t in_sz = (size_t)d->c_in * (size_t)d->h * (size_t)d->w;
        shapes[0] = (kern_gemm_shape){d->c_out,
                                      ohw,
                                      k,
                                      d->n,
                                      with_bias,
                                      conv_is_pointwise(d) ? in_sz : 0,
                                      (size_t)d->c_out * (size_t)ohw};
        return 1;
    }
    /* conv_grouped: the same im2col and result buffers for every group, bias added afterwards */
    shapes[0] = (kern_gemm_shape){d->c_out, ohw * g, k, d->n / g, false, 0, 0};
    if (d->n % g == 0) return 1;
    shapes[1] = (kern_gemm_shape){d->c_out, ohw * (d->n % g), k, 1, false, 0, 0};
    return 2;
}

int kern_conv2d(const kern_conv2d_desc *d, const float *x, const float *w, const float *bias,
                float *y, float *ws)
{
    int oh, ow;
    if (kern_conv2d_out_hw(d, &oh, &ow) || !x || !w || !y) return KERN_EINVAL;
    if (kern_conv2d_workspace_floats(d) > 0 && !ws) return KERN_EINVAL;
    int g = conv_group(d, (size_t)oh * (size_t)ow);
    float plane[KERN_PAD_PLANE], *pad = NULL; /* its border is zeroed once per call */
    if (conv_pads_planes(d)) {
        memset(plane, 0, padded_plane_floats(d) * sizeof *plane);
        pad = plane;
    }
    if (g == 1)
        conv_per_sample(d, pad, oh, ow, x, w, bias, y, ws);
    else
        conv_grouped(d, pad, oh, ow, g, x, w, bias, y, ws);
    return KERN_OK;
}

/* ---- batch norm ---- */

/* True when var + eps > 0 for every channel (a NaN variance fails too). */
static bool bn_check(int c, const float *var, float eps)
{
    for (int i = 0; i < c; i++)
        if (!((double)var[i] + (double)eps > 0.0)) return false;
    return true;
}

int kern_bn_fold(int c_out, size_t w_per_out, float *w, float *bias, const float *gamma,
                 const float *beta, const float *mean, const float *var, float eps)
{
    if (c_out < 1 || !bias || !gamma || !beta || !mean || !var || (w_per_out && !w))
        return KERN_EINVAL;
    if (!bn_check(c_out, var, eps)) return KERN_EINVAL;
    for (int o = 0; o < c_out; o++) {
        const double s = (double)gamma[o] / sqrt((double)var[o] + (double)eps);
        float *wo = w + (size_t)o * w_per_out;
        for (size_t i = 0; i < w_per_out; i++) wo[i] = (float)((double)wo[i] * s);
        bias[o] = (float)(((double)bias[o] - (double)mean[o]) * s + (double)beta[o]);
    }
    return KERN_OK;
}

int kern_bn_apply(int n, int c, size_t hw, float *x, const float *gamma, const float *beta,
                  const float *mean, const float *var, float eps)
{
    if (n < 1 || c < 1 || !x || !gamma || !beta || !mean || !var) return KERN_EINVAL;
    if (!bn_check(c, var, eps)) return KERN_EINVAL;
    for (int s = 0; s < n; s++) {
        for (int ch = 0; ch < c; ch++) {
            const double sc = (double)gamma[ch] / sqrt((double)var[ch] + (double)eps);
            const float scale = (float)sc;
            const float shift = (float)((double)beta[ch] - (double)mean[ch] * sc);
            float *p = x + ((size_t)s * (size_t)c + (size_t)ch) * hw;
            size_t i = 0;
            for (; i + KERN_VEC <= hw; i += KERN_VEC)
                for (int k = 0; k < KERN_VEC; k++) p[i + k] = p[i + k] * scale + shift;
            for (; i < hw; i++) p[i] = p[i] * scale + shift;
        }
    }
    return KERN_OK;
}

/* ---- element-wise ---- */

/* x[i] *= s for count floats. */
static void scale_floats(float *x, size_t count, float s)
{
    size_t i = 0;
    for (; i + KERN_VEC <= count; i += KERN_VEC)
        for (int k = 0; k < KERN_VEC; k++) x[i + k] *= s;
    for (; i < count; i++) x[i] *= s;
}

/* max(v, 0), written so that NaN passes through. */
static inline float relu1(float v)
{
    return v < 0.0f ? 0.0f : v;
}

void kern_relu(float *x, size_t count)
{
    size_t i = 0;
    for (; i + KERN_VEC <= count; i += KERN_VEC)
        for (int k = 0; k < KERN_VEC; k++) x[i + k] = relu1(x[i + k]);
    for (; i < count; i++) x[i] = relu1(x[i]);
}

void kern_add(float *restrict y, const float *restrict x, size_t count)
{
    size_t i = 0;
    for (; i + KERN_VEC <= count; i += KERN_VEC)
        for (int k = 0; k < KERN_VEC; k++) y[i + k] += x[i + k];
    for (; i < count; i++) y[i] += x[i];
}

/* ---- pooling ---- */

int kern_pool_out_hw(const kern_pool_desc *d, int *oh, int *ow)
{
    if (!d || d->n < 1 || d->c < 1) return KERN_EINVAL;
    if (d->pad_h < 0 || d->pad_w < 0 || d->pad_h > d->kh / 2 || d->pad_w > d->kw / 2)
        return KERN_EINVAL;
    int h = kern_out_dim(d->h, d->kh, d->stride_h, d->pad_h);
    int w = kern_out_dim(d->w, d->kw, d->stride_w, d->pad_w);
    if (h < 1 || w < 1) return KERN_EINVAL;
    if (oh) *oh = h;
    if (ow) *ow = w;
    return KERN_OK;
}

/* The larger of m and v; NaN wins, as in PyTorch. The choice is a bit mask rather than a ?:
 * on floats, which GCC turns into two data-dependent branches outside vectorised loops: on
 * random data they mispredicted so often that max-pooling 8×8 maps cost 10 ns per output. */
static inline float max_nan(float m, float v)
{
    const uint32_t take = (uint32_t)((v > m) | (v != v)); /* 1: v wins */
    uint32_t mb, vb;
    memcpy(&mb, &m, sizeof mb);
    memcpy(&vb, &v, sizeof vb);
    const uint32_t r = (vb & (0u - take)) | (mb & (take - 1u));
    float out;
    memcpy(&out, &r, sizeof out);
    return out;
}

/* acc[ox] = max(acc[ox], src[ox·stride + off]) for ox in [lo, hi). */
static void max_taps(float *restrict acc, const float *restrict src, int lo, int hi, int stride,
                     int off)
{
    int ox = lo;
    for (; ox + KERN_VEC <= hi; ox += KERN_VEC)
        for (int k = 0; k < KERN_VEC; k++)
            acc[ox + k] = max_nan(acc[ox + k], src[(ptrdiff_t)(ox + k) * stride + off]);
    for (; ox < hi; ox++) acc[ox] = max_nan(acc[ox], src[(ptrdiff_t)ox * stride + off]);
}

/* acc[ox] += src[ox·stride + off] for ox in [lo, hi). */
static void sum_taps(float *restrict acc, const float *restrict src, int lo, int hi, int stride,
                     int off)
{
    int ox = lo;
    for (; ox + KERN_VEC <= hi; ox += KERN_VEC)
        for (int k = 0; k < KERN_VEC; k++) acc[ox + k] += src[(ptrdiff_t)(ox + k) * stride + off];
    for (; ox < hi; ox++) acc[ox] += src[(ptrdiff_t)ox * stride + off];
}

typedef void (*pool_taps_fn)(float *restrict acc, const float *restrict src, int lo, int hi,
                             int stride, int off);

/* One plane, one output row at a time: the row starts at `init` and folds in, for every column
 * tap and input row of the window, that tap's values for all outputs of the row at once. Padded
 * cells are skipped, which for max is −inf padding and for a sum is zero padding. */
static void pool_plane(const kern_pool_desc *d, int oh, int ow, const float *x, float *y,
                       float init, pool_taps_fn taps)
{
    for (int oy = 0; oy < oh; oy++) {
        float *yr = y + (size_t)oy * (size_t)ow;
        for (int ox = 0; ox < ow; ox++) yr[ox] = init;
        int top = oy * d->stride_h - d->pad_h;
        int y0 = top < 0 ? 0 : top;
        int y1 = top + d->kh < d->h ? top + d->kh : d->h;
        for (int j = 0; j < d->kw; j++) {
            int lo, hi;
            tap_span(j, d->stride_w, d->pad_w, d->w, ow, &lo, &hi);
            for (int iy = y0; iy < y1; iy++)
                taps(yr, x + (size_t)iy * (size_t)d->w, lo, hi, d->stride_w, j - d->pad_w);
        }
    }
}

static void maxpool_plane(const kern_pool_desc *d, int oh, int ow, const float *x, float *y)
{
    pool_plane(d, oh, ow, x, y, -INFINITY, max_taps);
}

/* The 2×2 stride-2 unpadded max-pool of VGG over `rows` output rows of ow values, input rows
 * w floats apart, window by window in pool_plane's order (column tap, then row). */
static void maxpool2x2_rows(const float *x, int w, size_t rows, int ow, float *y)
{
    for (size_t oy = 0; oy < rows; oy++, y += ow) {
        const float *r0 = x + 2 * oy * (size_t)w, *r1 = r0 + w;
        for (int ox = 0; ox < ow; ox++) {
            float m = max_nan(r0[2 * ox], r1[2 * ox]);
            m = max_nan(m, r0[2 * ox + 1]);
            y[ox] = max_nan(m, r1[2 * ox + 1]);
        }
    }
}

/* Floats of the stack buffer of maxpool2x2_even (16 KiB). */
enum { KERN_POOL_BLOCK = 4096 };

/* y[r·ow + ox] = max(h[2r·ow + ox], h[(2r + 1)·ow + ox]) for r < rows, ox < ow: the larger of
 * each pair of consecutive ow-float rows. */
KERN_ALWAYS_INLINE void max_row_pairs(const float *h, size_t rows, int ow, float *y)
{
    for (size_t r = 0; r < rows; r++, h += 2 * (size_t)ow, y += ow)
        for (int ox = 0; ox < ow; ox++) y[ox] = max_nan(h[ox], h[ow + ox]);
}

/* maxpool2x2_rows for an even w <= KERN_POOL_BLOCK, in blocks of rows: first the larger of each
 * column pair (one flat loop over the block, since w is even), then of each row pair of that,
 * with the common row widths as constants. Per-row loops over 2 to 8 floats stayed scalar and
 * cost ~10 ns per output. Window order (a, b), (c, d) instead of pool_plane's ((a, c), b), d
 * gives the same values, but for which zero's sign or NaN's payload wins. */
static void maxpool2x2_even(const float *x, int w, size_t rows, float *y)
{
    float h[KERN_POOL_BLOCK];
    const int ow = w / 2;
    const size_t block = KERN_POOL_BLOCK / (size_t)w; /* output rows per block */
    for (size_t r0 = 0; r0 < rows; r0 += block) {
        const size_t nr = rows - r0 < block ? rows - r0 : block;
        const float *xb = x + 2 * r0 * (size_t)w;
        const size_t nh = 2 * nr * (size_t)ow; /* column-pair maxima of 2·nr input rows */
        size_t t = 0;
        for (; t + KERN_VEC <= nh; t += KERN_VEC)
            for (int k = 0; k < KERN_VEC; k++)
                h[t + k] = max_nan(xb[2 * (t + k)], xb[2 * (t + k) + 1]);
        for (; t < nh; t++) h[t] = max_nan(xb[2 * t], xb[2 * t + 1]);
        float *yb = y + r0 * (size_t)ow;
        switch (ow) {
        case 1:
            max_row_pairs(h, nr, 1, yb);
            break;
        case 2:
            max_row_pairs(h, nr, 2, yb);
            break;
        case 4:
            max_row_pairs(h, nr, 4, yb);
            break;
        case 8:
            max_row_pairs(h, nr, 8, yb);
            break;
        case 16:
            max_row_pairs(h, nr, 16, yb);
            break;
        default:
            max_row_pairs(h, nr, ow, yb);
            break;
        }
    }
}

static bool pool_is_2x2(const kern_pool_desc *d)
{
    return d->kh == 2 && d->kw == 2 && d->stride_h == 2 && d->stride_w == 2 && d->pad_h == 0 &&
           d->pad_w == 0;
}

/* count_include_pad=True: with floor-mode output sizes no window reaches past the padding, so
 * every window sum is divided by kh·kw. */
static void avgpool_plane(const kern_pool_desc *d, int oh, int ow, const float *x, float *y)
{
    pool_plane(d, oh, ow, x, y, 0.0f, sum_taps);
    scale_floats(y, (size_t)oh * (size_t)ow, 1.0f / (float)(d->kh * d->kw));
}

typedef void (*pool_plane_fn)(const kern_pool_desc *d, int oh, int ow, const float *x, float *y);

static int pool_run(const kern_pool_desc *d, const float *x, float *y, pool_plane_fn plane)
{
    int oh, ow;
    if (kern_pool_out_hw(d, &oh, &ow) || !x || !y) return KERN_EINVAL;
    const size_t in_sz = (size_t)d->h * (size_t)d->w;
    const size_t out_sz = (size_t)oh * (size_t)ow;
    const size_t planes = (size_t)d->n * (size_t)d->c;
    for (size_t p = 0; p < planes; p++) plane(d, oh, ow, x + p * in_sz, y + p * out_sz);
    return KERN_OK;
}

int kern_maxpool2d(const kern_pool_desc *d, const float *x, float *y)
{
    int oh, ow;
    if (kern_pool_out_hw(d, &oh, &ow) || !x || !y) return KERN_EINVAL;
    if (!pool_is_2x2(d)) return pool_run(d, x, y, maxpool_plane);
    /* planes of even height stack into one tall plane (small maps would spend more on a call per
     * plane than on pooling it); an odd height drops its last row, so goes plane by plane */
    const size_t planes = (size_t)d->n * (size_t)d->c;
    if (d->h % 2 == 0) {
        if (d->w % 2 == 0 && d->w <= KERN_POOL_BLOCK)
            maxpool2x2_even(x, d->w, planes * (size_t)oh, y);
        else
            maxpool2x2_rows(x, d->w, planes * (size_t)oh, ow, y);
        return KERN_OK;
    }
    for (size_t p = 0; p < planes; p++)
        maxpool2x2_rows(x + p * (size_t)d->h * (size_t)d->w, d->w, (size_t)oh, ow,
                        y + p * (size_t)oh * (size_t)ow);
    return KERN_OK;
}

int kern_avgpool2d(const kern_pool_desc *d, const float *x, float *y)
{
    return pool_run(d, x, y, avgpool_plane);
}

/* ---- fully connected ---- */

int kern_fc(int n, int in, int out, const float *x, const float *w, const float *bias, float *y)
{
    if (n < 1 || in < 1 || out < 1 || !x || !w || !y) return KERN_EINVAL;
    if (bias)
        for (int r = 0; r < n; r++)
            memcpy(y + (size_t)r * (size_t)out, bias, (size_t)out * sizeof *y);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out, in, 1.0f, x, in, w, in,
                bias ? 1.0f : 0.0f, y, out);
    return KERN_OK;
}

/* ---- softmax ---- */

/* Largest value of a row (NaN if any, so that NaN logits stay visible in the result). */
static double row_max(const float *x, int classes)
{
    double m = x[0];
    for (int j = 1; j < classes; j++)
        if (x[j] > m || isnan(x[j])) m = x[j];
    return m;
}

/* sum_j exp(x_j - m) in double. */
static double row_expsum(const float *x, int classes, double m)
{
    double sum = 0.0;
    for (int j = 0; j < classes; j++) sum += exp((double)x[j] - m);
    return sum;
}

void kern_softmax(int n, int classes, const float *x, float *y)
{
    if (n < 1 || classes < 1) return;
    for (int r = 0; r < n; r++) {
        const float *xr = x + (size_t)r * (size_t)classes;
        float *yr = y + (size_t)r * (size_t)classes;
        const double m = row_max(xr, classes);
        const double inv = 1.0 / row_expsum(xr, classes, m);
        for (int j = 0; j < classes; j++) yr[j] = (float)(exp((double)xr[j] - m) * inv);
    }
}

void kern_log_softmax(int n, int classes, const float *x, float *y)
{
    if (n < 1 || classes < 1) return;
    for (int r = 0; r < n; r++) {
        const float *xr = x + (size_t)r * (size_t)classes;
        float *yr = y + (size_t)r * (size_t)classes;
        const double m = row_max(xr, classes);
        const double lse = m + log(row_expsum(xr, classes, m));
        for (int j = 0; j < classes; j++) yr[j] = (float)((double)xr[j] - lse);
    }
}

/* ---- Bag-of-Features exit head ---- */

/* Passalis et al. 2020 as the Predictive Exit code has it (LogisticConvBoF.forward). The
 * activation uses (tanh(z) + 1) / 2 = 1 / (1 + exp(−2z)): the same value, with no cancellation
 * near 0 for negative z, and expf is about 5× faster than tanhf in glibc. */
void kern_bof_activate(float *x, size_t count, float a, float c)
{
    for (size_t i = 0; i < count; i++) x[i] = 1.0f / (1.0f + expf(-2.0f * (a * x[i] + c)));
}

/* ws[p] = n1 / (sum_k x[k][p] + eps) over the K planes of one sample. */
static void bof_inv_sums(int k, size_t hw, const float *x, float n1, float eps, float *ws)
{
    memcpy(ws, x, hw * sizeof *ws);
    for (int q = 1; q < k; q++) kern_add(ws, x + (size_t)q * hw, hw);
    size_t p = 0;
    for (; p + KERN_VEC <= hw; p += KERN_VEC)
        for (int i = 0; i < KERN_VEC; i++) ws[p + i] = n1 / (ws[p + i] + eps);
    for (; p < hw; p++) ws[p] = n1 / (ws[p] + eps);
}

/* x[i] *= s[i] for count floats. */
static void mul_floats(float *restrict x, const float *restrict s, size_t count)
{
    size_t i = 0;
    for (; i + KERN_VEC <= count; i += KERN_VEC)
        for (int k = 0; k < KERN_VEC; k++) x[i + k] *= s[i + k];
    for (; i < count; i++) x[i] *= s[i];
}

int kern_bof_normalise(int n, int k, size_t hw, float *x, float n1, float eps, float *ws)
{
    if (n < 1 || k < 1 || hw < 1 || !x || !ws) return KERN_EINVAL;
    for (int s = 0; s < n; s++) {
        float *xs = x + (size_t)s * (size_t)k * hw;
        bof_inv_sums(k, hw, xs, n1, eps, ws);
        for (int q = 0; q < k; q++) mul_floats(xs + (size_t)q * hw, ws, hw);
    }
    return KERN_OK;
}

static bool bof_valid(const kern_bof_desc *d)
{
    return d && d->n >= 1 && d->k >= 1 && d->h >= 1 && d->w >= 1 && d->s >= 1 && d->s <= d->h &&
           d->s <= d->w;
}

size_t kern_bof_workspace_floats(const kern_bof_desc *d)
{
    return bof_valid(d) ? (size_t)d->h * (size_t)d->w : 0;
}

/* One codeword plane: y[by][bx] = scale · sum over the s×s bin of x[p]·inv[p]. */
static void bof_pool_plane(const kern_bof_desc *d, const float *x, const float *inv, float *y)
{
    const int s = d->s, oh = d->h / s, ow = d->w / s;
    const double scale = (double)d->n2 / ((double)s * (double)s);
    for (int by = 0; by < oh; by++) {
        for (int bx = 0; bx < ow; bx++) {
            double sum = 0.0;
            for (int iy = by * s; iy < (by + 1) * s; iy++) {
                const size_t row = (size_t)iy * (size_t)d->w;
                for (int ix = bx * s; ix < (bx + 1) * s; ix++) sum += x[row + ix] * inv[row + ix];
            }
            y[(size_t)by * (size_t)ow + bx] = (float)(sum * scale);
        }
    }
}

int kern_bof(const kern_bof_desc *d, float *x, float *y, float *ws)
{
    if (!bof_valid(d) || !x || !y || !ws) return KERN_EINVAL;
    const size_t hw = (size_t)d->h * (size_t)d->w;
    const size_t out_hw = (size_t)(d->h / d->s) * (size_t)(d->w / d->s);
    kern_bof_activate(x, (size_t)d->n * (size_t)d->k * hw, d->a, d->c);
    for (int s = 0; s < d->n; s++) {
        const float *xs = x + (size_t)s * (size_t)d->k * hw;
        float *ys = y + (size_t)s * (size_t)d->k * out_hw;
        bof_inv_sums(d->k, hw, xs, d->n1, d->eps, ws);
        for (int q = 0; q < d->k; q++)
            bof_pool_plane(d, xs + (size_t)q * hw, ws, ys + (size_t)q * out_hw);
    }
    return KERN_OK;
}
