/* Forward kernels of the functional engine: convolution (im2col + OpenBLAS sgemm), batch norm,
 * ReLU, pooling, fully connected, residual add, softmax and the Bag-of-Features exit head.
 * Tensors are float32 NCHW; no kernel allocates: callers pass workspaces sized by the helpers. */
#ifndef PESIM_KERN_H
#define PESIM_KERN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Status codes returned by the kernels that validate their arguments. */
enum { KERN_OK = 0, KERN_EINVAL = -1 };

/* 2-D convolution geometry: input N×C_in×H×W, weights C_out×C_in×KH×KW (PyTorch order),
 * output N×C_out×OH×OW with OH = floor((H + 2·pad_h − KH) / stride_h) + 1 (likewise OW). */
typedef struct kern_conv2d_desc {
    int n, c_in, h, w;      /* input batch, channels, height, width (all >= 1) */
    int c_out;              /* output channels (>= 1) */
    int kh, kw;             /* kernel height and width (>= 1) */
    int stride_h, stride_w; /* strides (>= 1) */
    int pad_h, pad_w;       /* zero padding added on each side (>= 0) */
} kern_conv2d_desc;

/* Pooling geometry over an N×C×H×W input; output size as for a convolution (floor mode).
 * Padding may be at most half the window, as in PyTorch, so no window is padding only. */
typedef struct kern_pool_desc {
    int n, c, h, w;         /* input batch, channels, height, width (all >= 1) */
    int kh, kw;             /* window height and width (>= 1) */
    int stride_h, stride_w; /* strides (>= 1) */
    int pad_h, pad_w;       /* padding on each side, 0 <= pad <= window / 2 */
} kern_pool_desc;

/* Bag-of-Features exit-head pooling (Passalis et al. 2020) applied to the N×K×H×W output of a
 * 1×1 convolution to K codewords; output N×K×(H/s)×(W/s) (floor), flattened per sample. */
typedef struct kern_bof_desc {
    int n, k, h, w; /* batch, codewords, height, width of the codeword responses (all >= 1) */
    int s;          /* average-pooling window and stride, 1 <= s <= min(h, w) */
    float a, c;     /* activation slope and offset: x = (tanh(a·x + c) + 1) / 2 */
    float n1;       /* scale after normalising across codewords */
    float n2;       /* scale after average pooling */
    float eps;      /* added to the per-pixel codeword sum before dividing (e.g. 5e-16) */
} kern_bof_desc;

/* Output extent floor((in + 2·pad − k) / stride) + 1 of a window sweep; -1 if it is not >= 1. */
int kern_out_dim(int in, int k, int stride, int pad);

/* Stores the output height and width of d in *oh, *ow; KERN_OK, or KERN_EINVAL for a bad d. */
int kern_conv2d_out_hw(const kern_conv2d_desc *d, int *oh, int *ow);

/* Floats of workspace kern_conv2d needs for d: 0 for a 1×1 stride-1 unpadded conv (it reads x in
 * place) or an invalid d, else room for the im2col matrix of one sample or of a folded group. */
size_t kern_conv2d_workspace_floats(const kern_conv2d_desc *d);

/* y = conv(x, w) + bias (bias may be NULL); ws holds kern_conv2d_workspace_floats(d) floats
 * (may be NULL when that is 0). y must not overlap x or ws. KERN_OK or KERN_EINVAL. */
int kern_conv2d(const kern_conv2d_desc *d, const float *x, const float *w, const float *bias,
                float *y, float *ws);

/* One cblas_sgemm shape: row-major C (m×n) = W (m×k) · B (k×n), no transposes, issued `calls`
 * times with the same W; accumulate when C starts from its previous contents (beta = 1). */
typedef struct kern_gemm_shape {
    int m, n, k;
    int calls;
    bool accumulate;
    size_t b_step, c_step; /* floats between the B (C) of consecutive calls; 0: the same one */
} kern_gemm_shape;
#define KERN_CONV_GEMM_SHAPES 2 /* most shapes kern_conv2d_gemm_shapes reports */

/* The GEMMs kern_conv2d runs for d (with_bias: it gets a bias): full groups of folded samples,
 * then a smaller last group. Fills shapes[0 .. KERN_CONV_GEMM_SHAPES); returns how many, 0 for a
 * bad d. For benchmarks that compare the convolution with its GEMMs alone. */
int kern_conv2d_gemm_shapes(const kern_conv2d_desc *d, bool with_bias, kern_gemm_shape *shapes);

/* Folds inference batch norm into a conv or FC layer with c_out outputs of w_per_out weights each:
 * w[o][:] *= s_o, bias[o] = (bias[o] − mean[o])·s_o + beta[o], s_o = gamma[o]/sqrt(var[o] + eps).
 * bias must hold c_out floats (zeros for a layer without bias). KERN_OK, or KERN_EINVAL (nothing
 * changed) when c_out < 1 or some var + eps <= 0. */
int kern_bn_fold(int c_out, size_t w_per_out, float *w, float *bias, const float *gamma,
                 const float *beta, const float *mean, const float *var, float eps);

/* In place over N×C×HW: x = (x − mean[c])·gamma[c]/sqrt(var[c] + eps) + beta[c].
 * KERN_OK, or KERN_EINVAL (nothing changed) for bad sizes or some var + eps <= 0. */
int kern_bn_apply(int n, int c, size_t hw, float *x, const float *gamma, const float *beta,
                  const float *mean, const float *var, float eps);

/* In place x = max(x, 0) over count floats; NaN stays NaN. */
void kern_relu(float *x, size_t count);

/* Stores the output height and width of d in *oh, *ow; KERN_OK, or KERN_EINVAL for a bad d. */
int kern_pool_out_hw(const kern_pool_desc *d, int *oh, int *ow);

/* Max pooling, padding acting as −inf (it never wins); NaN propagates. KERN_OK or KERN_EINVAL. */
int kern_maxpool2d(const kern_pool_desc *d, const float *x, float *y);

/* Average pooling with PyTorch's default count_include_pad=True: every window sum is divided by
 * kh·kw, padded cells counting as zeros. KERN_OK or KERN_EINVAL. */
int kern_avgpool2d(const kern_pool_desc *d, const float *x, float *y);

/* Fully connected y[n][out] = x[n][in]·W^T + bias, W stored [out][in] as in PyTorch; bias may be
 * NULL; y must not overlap x. KERN_OK or KERN_EINVAL for sizes < 1. */
int kern_fc(int n, int in, int out, const float *x, const float *w, const float *bias, float *y);

/* Residual add in place: y[i] += x[i] for count floats; x and y must not overlap. */
void kern_add(float *restrict y, const float *restrict x, size_t count);

/* Row-wise softmax over `classes` logits of n rows (max-subtracted, double sums); y may be x.
 * A row holding NaN comes out all NaN. */
void kern_softmax(int n, int classes, const float *x, float *y);

/* Row-wise log-softmax: x − max − log(sum(exp(x − max))), in double; y may be x. */
void kern_log_softmax(int n, int classes, const float *x, float *y);

/* BoF activation in place over count floats: x = (tanh(a·x + c) + 1) / 2, in [0, 1]. */
void kern_bof_activate(float *x, size_t count, float a, float c);

/* BoF normalisation in place over N×K×HW: x_k = n1·x_k / (sum_k x_k + eps) at each pixel;
 * ws holds hw floats. KERN_OK or KERN_EINVAL for sizes < 1. */
int kern_bof_normalise(int n, int k, size_t hw, float *x, float n1, float eps, float *ws);

/* Floats of workspace kern_bof needs for d (h·w), 0 for an invalid d. */
size_t kern_bof_workspace_floats(const kern_bof_desc *d);

/* Whole BoF pooling: activate (x is overwritten), normalise across codewords, average-pool with
 * window and stride s, scale by n2; y gets N×K×(H/s)×(W/s). KERN_OK or KERN_EINVAL. */
int kern_bof(const kern_bof_desc *d, float *x, float *y, float *ws);

/* Forward-pass throughput of the functional engine (net_build + eng_new with random parameters,
 * eng_begin + eng_final) for VGG-19 at width 1 on 32×32×3 and width 1/4 on 32×32×1, batch 1 and
 * 32, next to cblas_sgemm alone on exactly that forward's GEMM shapes (the bound) and a raw 512³
 * sgemm; prints images/s, GFLOP/s, the ratio bound time / forward time and the time per op kind
 * to out. Forward and bound are timed alternately for at least min_seconds (whole passes, then
 * op by op) and reported as medians. 0 ok, negative on error. */
int bench_kern(FILE *out, double min_seconds);

#endif
