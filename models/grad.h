/* Training kernels: backward passes of every forward kernel of kern.h, batch norm in training
 * mode, softmax cross-entropy and the Adam update. Tensors are float32 NCHW as in kern.h.
 *
 * Conventions:
 * - Every gradient output ACCUMULATES (dx += ..., dw += ...): a tensor read by several ops (a
 *   residual shortcut, an exit head beside the backbone, a BoF module shared by several exits)
 *   sums the gradients of all its readers. Callers zero gradient buffers before a step.
 * - A gradient pointer documented as optional may be NULL: that gradient is not computed (e.g.
 *   dx of the first layer).
 * - No kernel allocates; callers pass workspaces sized by the *_workspace_floats helpers.
 * - Sizes and descriptors are validated as in kern.h: KERN_OK, or KERN_EINVAL with nothing
 *   written. */
#ifndef PESIM_GRAD_H
#define PESIM_GRAD_H

#include <stddef.h>
#include <stdint.h>

#include "kern.h"

/* ---- convolution ---- */

/* Floats of workspace grad_conv2d needs for d (0 for an invalid d). */
size_t grad_conv2d_workspace_floats(const kern_conv2d_desc *d);

/* Backward of y = conv(x, w) + bias for the dy of shape N×C_out×OH×OW:
 * dw += dy ⋆ x (C_out×C_in×KH×KW), db += sum of dy over N, OH, OW (optional), dx += the
 * transposed convolution of dy with w (optional). KERN_OK or KERN_EINVAL. */
int grad_conv2d(const kern_conv2d_desc *d, const float *x, const float *w, const float *dy,
                float *dx, float *dw, float *db, float *ws);

/* ---- batch norm, training mode ---- */

/* Batch norm over N×C×HW with the batch's statistics: mean_c and biased var_c over N·HW,
 * y = (x − mean)·invstd·gamma + beta with invstd = 1/sqrt(var + eps). Saves mean and invstd
 * (C floats each) for the backward, and updates the running statistics as PyTorch does:
 * run_mean = (1 − momentum)·run_mean + momentum·mean, run_var likewise with the unbiased
 * variance var·m/(m − 1), m = N·HW (var itself when m == 1). Sums in double. y may be x.
 * KERN_OK or KERN_EINVAL (bad sizes, eps <= 0, momentum outside [0, 1]). */
int grad_bn_forward(int n, int c, size_t hw, const float *x, float *y, const float *gamma,
                    const float *beta, float *run_mean, float *run_var, float momentum, float eps,
                    float *save_mean, float *save_invstd);

/* Backward of grad_bn_forward given its input x (not y), dy and the saved statistics:
 * dgamma += sum(dy·xhat), dbeta += sum(dy), dx += (gamma·invstd/m)·(m·dy − sum(dy) −
 * xhat·sum(dy·xhat)) with xhat = (x − mean)·invstd (dx optional). KERN_OK or KERN_EINVAL. */
int grad_bn_backward(int n, int c, size_t hw, const float *x, const float *dy, const float *gamma,
                     const float *save_mean, const float *save_invstd, float *dx, float *dgamma,
                     float *dbeta);

/* ---- element-wise, pooling, fully connected ---- */

/* ReLU backward from its output y: dx[i] += y[i] > 0 ? dy[i] : 0. */
void grad_relu(const float *y, const float *dy, float *dx, size_t count);

/* Max-pool backward: each dy goes to the first (row-major) input cell of its window holding the
 * window's maximum (the y kern_maxpool2d produced); padding never receives. KERN_OK or
 * KERN_EINVAL. */
int grad_maxpool2d(const kern_pool_desc *d, const float *x, const float *y, const float *dy,
                   float *dx);

/* Average-pool backward (count_include_pad=True, as kern_avgpool2d): each dy/(kh·kw) goes to
 * every non-padding cell of its window. KERN_OK or KERN_EINVAL. */
int grad_avgpool2d(const kern_pool_desc *d, const float *dy, float *dx);

/* Backward of y = x·W^T + bias (kern_fc): dw += dy^T·x, db += column sums of dy (optional),
 * dx += dy·W (optional). KERN_OK or KERN_EINVAL for sizes < 1. */
int grad_fc(int n, int in, int out, const float *x, const float *w, const float *dy, float *dx,
            float *dw, float *db);

/* ---- loss ---- */

/* Softmax cross-entropy of n rows of logits against labels (each < classes): returns the mean
 * loss over the rows (double), sets dlogits = scale·(softmax − onehot)/n (OVERWRITTEN, not
 * accumulated; dlogits may be NULL) and, when correct is not NULL, adds the number of rows whose
 * argmax (first maximum) equals the label. NAN for bad sizes or a label out of range. */
double grad_softmax_xent(int n, int classes, const float *logits, const uint8_t *labels,
                         float scale, float *dlogits, int *correct);

/* ---- Bag-of-Features exit head ---- */

/* Floats of the cache grad_bof_forward keeps for d: the activated responses (N·K·H·W) and the
 * per-pixel codeword sums (N·H·W); 0 for an invalid d. */
size_t grad_bof_cache_floats(const kern_bof_desc *d);

/* Forward as kern_bof (x is NOT overwritten) keeping what the backward needs in cache
 * (grad_bof_cache_floats(d) floats); y gets N×K×(H/s)×(W/s). KERN_OK or KERN_EINVAL. */
int grad_bof_forward(const kern_bof_desc *d, const float *x, float *y, float *cache);

/* Backward of grad_bof_forward for dy (N×K×(H/s)×(W/s)): dx += ∂L/∂x (optional), and the four
 * scalars' gradients added to *da, *dc, *dn1, *dn2. ws holds kern_bof_workspace_floats(d)
 * floats. KERN_OK or KERN_EINVAL. */
int grad_bof_backward(const kern_bof_desc *d, const float *x, const float *cache, const float *dy,
                      float *dx, float *da, float *dc, float *dn1, float *dn2, float *ws);

/* ---- optimiser ---- */

/* Adam hyper-parameters (PyTorch defaults: beta1 0.9, beta2 0.999, eps 1e-8, no decay). */
typedef struct grad_adam {
    float lr, beta1, beta2, eps;
    float weight_decay; /* L2 added to the gradient (g += wd·p), as torch.optim.Adam */
} grad_adam;

/* One Adam step (step counts from 1) over count parameters: g' = g + wd·p,
 * m = β1·m + (1 − β1)·g', v = β2·v + (1 − β2)·g'², p −= lr·(m/(1 − β1^step)) /
 * (sqrt(v/(1 − β2^step)) + eps). m and v start at zero. */
void grad_adam_step(const grad_adam *h, long step, size_t count, float *p, const float *g, float *m,
                    float *v);

#endif /* PESIM_GRAD_H */
