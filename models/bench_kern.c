/* Kernel benchmark for `pesim bench`: the conv layers of a width-1/4 VGG-19 on 32×32×1 input, per
 * layer and as the whole backbone (conv + bias + ReLU + max-pools), at batch 1 and 32, printed
 * next to the raw cblas_sgemm GFLOP/s of a 512×512×512 product measured in the same run. */
#include "kern.h"

#include <cblas.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

/* One conv3×3 layer of VGG-19 at width 1/4 on 32×32 input (DESIGN section 3). */
typedef struct vgg_layer {
    int c_in, c_out; /* channels */
    int map;         /* input (= output) height and width */
    bool pool_after; /* a 2×2 stride-2 max-pool follows */
} vgg_layer;

static const vgg_layer vgg_layers[] = {
    {1, 16, 32, false},   {16, 16, 32, true},   {16, 32, 16, false},  {32, 32, 16, true},
    {32, 64, 8, false},   {64, 64, 8, false},   {64, 64, 8, false},   {64, 64, 8, true},
    {64, 128, 4, false},  {128, 128, 4, false}, {128, 128, 4, false}, {128, 128, 4, true},
    {128, 128, 2, false}, {128, 128, 2, false}, {128, 128, 2, false}, {128, 128, 2, true},
};
#define VGG_NLAYERS (sizeof(vgg_layers) / sizeof(vgg_layers[0]))

static const int bench_batches[] = {1, 32};
#define BENCH_NBATCHES (sizeof(bench_batches) / sizeof(bench_batches[0]))

enum {
    VGG_KERNEL = 3,  /* every conv is 3×3, stride 1, padding 1 */
    VGG_PAD = 1,     /* "same" padding of the 3×3 convs */
    VGG_POOL = 2,    /* max-pool window and stride */
    VGG_IN_MAP = 32, /* input height and width */
    VGG_IN_CHANNELS = 1,
    GEMM_SIZE = 512, /* M = N = K of the raw sgemm ceiling */
    FLOPS_PER_MAC = 2,
};

static const uint64_t BENCH_SEED = 0x6b65726e5eedULL;
static const double NS_PER_S = 1e9;
static const double FLOP_PER_GFLOP = 1e9;
static const double FLOP_PER_MFLOP = 1e6;
static const double MS_PER_S = 1e3;
static const double PERCENT = 100.0;
static const double HE_UNIFORM_GAIN = 6.0; /* weights uniform in ±sqrt(6 / fan_in) */
static const float BIAS_RANGE = 0.1f;      /* biases uniform in ±0.1 */
static const float DATA_RANGE = 1.0f;      /* inputs and GEMM operands uniform in ±1 */

static double bench_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / NS_PER_S;
}

/* splitmix64 (Steele, Lea, Flood 2014) mapped to a float in [-1, 1). */
static float bench_uniform(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return (float)((double)(z >> 11) * 0x1.0p-52 - 1.0);
}

static void bench_fill(float *x, size_t count, float scale, uint64_t *state)
{
    for (size_t i = 0; i < count; i++) x[i] = scale * bench_uniform(state);
}

/* Everything one batch size needs, allocated once before timing. */
typedef struct vgg_net {
    int n;                      /* batch */
    float *w[VGG_NLAYERS];      /* weights C_out×C_in×3×3 */
    float *b[VGG_NLAYERS];      /* biases (BN would be folded into w and b) */
    float *input, *act0, *act1; /* input batch and two ping-pong activation buffers */
    float *ws;                  /* conv workspace */
    int layer;                  /* layer timed by bench_layer_call */
} vgg_net;

static kern_conv2d_desc vgg_desc(const vgg_layer *l, int n)
{
    kern_conv2d_desc d = {n,          l->c_in, l->map, l->map,  l->c_out, VGG_KERNEL,
                          VGG_KERNEL, 1,       1,      VGG_PAD, VGG_PAD};
    return d;
}

static double vgg_layer_flops(const vgg_layer *l)
{
    return (double)FLOPS_PER_MAC * l->c_in * l->c_out * VGG_KERNEL * VGG_KERNEL * l->map * l->map;
}

static void vgg_free(vgg_net *net)
{
    for (size_t i = 0; i < VGG_NLAYERS; i++) {
        free(net->w[i]);
        free(net->b[i]);
    }
    free(net->input);
    free(net->act0);
    free(net->act1);
    free(net->ws);
}

static int vgg_alloc(vgg_net *net, int n)
{
    *net = (vgg_net){.n = n};
    uint64_t rng = BENCH_SEED;
    size_t act_max = 0, ws_max = 0;
    for (size_t i = 0; i < VGG_NLAYERS; i++) {
        const vgg_layer *l = &vgg_layers[i];
        kern_conv2d_desc d = vgg_desc(l, n);
        size_t fan_in = (size_t)l->c_in * VGG_KERNEL * VGG_KERNEL;
        size_t wn = (size_t)l->c_out * fan_in;
        size_t act = (size_t)n * (size_t)l->c_out * (size_t)l->map * (size_t)l->map;
        size_t ws = kern_conv2d_workspace_floats(&d);
        act_max = act > act_max ? act : act_max;
        ws_max = ws > ws_max ? ws : ws_max;
        net->w[i] = malloc(wn * sizeof(float));
        net->b[i] = malloc((size_t)l->c_out * sizeof(float));
        if (!net->w[i] || !net->b[i]) return -1;
        bench_fill(net->w[i], wn, (float)sqrt(HE_UNIFORM_GAIN / (double)fan_in), &rng);
        bench_fill(net->b[i], (size_t)l->c_out, BIAS_RANGE, &rng);
    }
    size_t in_count = (size_t)n * VGG_IN_CHANNELS * VGG_IN_MAP * VGG_IN_MAP;
    net->input = malloc(in_count * sizeof(float));
    net->act0 = malloc(act_max * sizeof(float));
    net->act1 = malloc(act_max * sizeof(float));
    net->ws = malloc((ws_max ? ws_max : 1) * sizeof(float));
    if (!net->input || !net->act0 || !net->act1 || !net->ws) return -1;
    bench_fill(net->input, in_count, DATA_RANGE, &rng);
    bench_fill(net->act0, act_max, DATA_RANGE, &rng);
    return 0;
}

/* One conv layer alone, act0 → act1 (act0 holds random data of the largest layer's size). */
static int bench_layer_call(vgg_net *net)
{
    const size_t i = (size_t)net->layer;
    kern_conv2d_desc d = vgg_desc(&vgg_layers[i], net->n);
    return kern_conv2d(&d, net->act0, net->w[i], net->b[i], net->act1, net->ws);
}

/* The whole backbone: every conv with bias and ReLU, max-pools where VGG-19 has them. */
static int bench_forward_call(vgg_net *net)
{
    const float *x = net->input;
    float *y = net->act0, *other = net->act1;
    for (size_t i = 0; i < VGG_NLAYERS; i++) {
        const vgg_layer *l = &vgg_layers[i];
        kern_conv2d_desc d = vgg_desc(l, net->n);
        int rc = kern_conv2d(&d, x, net->w[i], net->b[i], y, net->ws);
        if (rc) return rc;
        size_t count = (size_t)net->n * (size_t)l->c_out * (size_t)l->map * (size_t)l->map;
        kern_relu(y, count);
        if (l->pool_after) {
            kern_pool_desc p = {net->n,   l->c_out, l->map,   l->map, VGG_POOL,
                                VGG_POOL, VGG_POOL, VGG_POOL, 0,      0};
            rc = kern_maxpool2d(&p, y, other);
            if (rc) return rc;
            float *t = y;
            y = other;
            other = t;
        }
        x = y;
        float *t = y;
        y = other;
        other = t;
    }
    return 0;
}

/* Seconds per call of fn(net), calling it until min_seconds have passed (after one warm-up). */
static double bench_time(int (*fn)(vgg_net *), vgg_net *net, double min_seconds, int *rc)
{
    *rc = fn(net);
    if (*rc) return 0.0;
    long calls = 0;
    double t0 = bench_now_s(), elapsed;
    do {
        *rc = fn(net);
        if (*rc) return 0.0;
        calls++;
        elapsed = bench_now_s() - t0;
    } while (elapsed < min_seconds);
    return elapsed / (double)calls;
}

/* Raw cblas_sgemm GFLOP/s on a GEMM_SIZE³ product; negative on out-of-memory. */
static double bench_sgemm_gflops(double min_seconds)
{
    const size_t count = (size_t)GEMM_SIZE * GEMM_SIZE;
    float *a = malloc(count * sizeof(float));
    float *b = malloc(count * sizeof(float));
    float *c = malloc(count * sizeof(float));
    double gflops = -1.0;
    if (!a || !b || !c) goto out;
    uint64_t rng = BENCH_SEED;
    bench_fill(a, count, DATA_RANGE, &rng);
    bench_fill(b, count, DATA_RANGE, &rng);
    long calls = -1; /* the first call warms up and is not counted */
    double t0 = 0.0, elapsed = 0.0;
    do {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, GEMM_SIZE, GEMM_SIZE, GEMM_SIZE,
                    1.0f, a, GEMM_SIZE, b, GEMM_SIZE, 0.0f, c, GEMM_SIZE);
        if (calls++ < 0) t0 = bench_now_s();
        elapsed = bench_now_s() - t0;
    } while (calls < 1 || elapsed < min_seconds);
    gflops = (double)FLOPS_PER_MAC * GEMM_SIZE * GEMM_SIZE * GEMM_SIZE * (double)calls / elapsed /
             FLOP_PER_GFLOP;
out:
    free(a);
    free(b);
    free(c);
    return gflops;
}

/* Per-layer rows and the backbone line for one batch size. */
static int bench_batch(FILE *out, int n, double raw_gflops, double min_seconds)
{
    vgg_net net;
    int rc = vgg_alloc(&net, n);
    if (rc) goto done;
    double total_flops = 0.0;
    for (size_t i = 0; i < VGG_NLAYERS; i++) {
        const vgg_layer *l = &vgg_layers[i];
        net.layer = (int)i;
        double s = bench_time(bench_layer_call, &net, min_seconds, &rc);
        if (rc) goto done;
        double flops = vgg_layer_flops(l) * n;
        double gf = flops / s / FLOP_PER_GFLOP;
        total_flops += flops;
        fprintf(out, "%5d  conv%-2zu %4d %5d %3dx%-3d %9.3f %10.4f %8.2f %6.1f%%\n", n, i + 1,
                l->c_in, l->c_out, l->map, l->map, vgg_layer_flops(l) / FLOP_PER_MFLOP,
                s * MS_PER_S, gf, PERCENT * gf / raw_gflops);
    }
    double s = bench_time(bench_forward_call, &net, min_seconds, &rc);
    if (rc) goto done;
    double gf = total_flops / s / FLOP_PER_GFLOP;
    fprintf(out,
            "%5d  backbone (16 conv+bias+ReLU, 5 max-pools): %.4f ms/batch, %.1f images/s, "
            "%.2f GFLOP/s (%.1f%% of raw sgemm)\n",
            n, s * MS_PER_S, (double)n / s, gf, PERCENT * gf / raw_gflops);
done:
    vgg_free(&net);
    return rc;
}

int bench_kern(FILE *out, double min_seconds)
{
    double raw = bench_sgemm_gflops(min_seconds);
    if (raw <= 0.0) return -1;
    fprintf(out, "kern: width-1/4 VGG-19 conv3x3 layers on 32x32x1 input, OpenBLAS %d thread(s)\n",
            openblas_get_num_threads());
    fprintf(out, "raw cblas_sgemm %dx%dx%d: %.2f GFLOP/s\n", GEMM_SIZE, GEMM_SIZE, GEMM_SIZE, raw);
    fprintf(out, "batch  layer  c_in c_out  map     MFLOP/img   ms/batch  GFLOP/s   %%raw\n");
    for (size_t b = 0; b < BENCH_NBATCHES; b++) {
        int rc = bench_batch(out, bench_batches[b], raw, min_seconds);
        if (rc) return rc;
    }
    return 0;
}
