/* Training throughput (pesim bench train): trainer steps of VGG-19 at width 1/4 on 32x32x1
 * inputs at batch 128, backbone stage and joint stage (every exit head too), in images/s and in
 * GFLOP/s counted as 3 × 2 × MACs per image (forward, input gradient, weight gradient). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model.h"
#include "net.h"
#include "train.h"
#include "util.h"

enum { BENCH_BATCH = 128, BENCH_CLASSES = 10, BENCH_SIDE = 32 };
static const double BENCH_WIDTH = 0.25;
static const double FLOPS_PER_MAC_STEP = 6.0; /* 2 flops × (forward + dX + dW) */

int bench_train(FILE *out, double min_seconds)
{
    net *n = NULL;
    char err[256];
    if (net_build(&n, "vgg19", BENCH_WIDTH, BENCH_SIDE, BENCH_SIDE, 1, BENCH_CLASSES, err,
                  sizeof err))
        return -1;
    float **p = NULL;
    const size_t img = (size_t)BENCH_SIDE * BENCH_SIDE;
    float *x = malloc((size_t)BENCH_BATCH * img * sizeof *x);
    uint8_t y[BENCH_BATCH];
    trainer *t = NULL;
    int rc = -1;
    if (!x || model_init_random(n, 1, &p, err, sizeof err)) goto done;
    t = trainer_new(n, (const float *const *)p, BENCH_BATCH, err, sizeof err);
    if (!t) goto done;
    uint64_t s = 0x5eed;
    for (size_t i = 0; i < (size_t)BENCH_BATCH * img; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        x[i] = (float)((s >> 40) & 0xffff) / 65536.0f - 0.5f;
    }
    for (int i = 0; i < BENCH_BATCH; i++) y[i] = (uint8_t)(i % BENCH_CLASSES);
    const grad_adam h = {.lr = 1e-4f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f};
    const net_totals *tot = net_get_totals(n);
    fprintf(out, "training: VGG-19 width %.2g, %dx%dx1, batch %d, Adam\n", BENCH_WIDTH, BENCH_SIDE,
            BENCH_SIDE, BENCH_BATCH);
    fprintf(out, "  %-9s %10s %10s\n", "stage", "images/s", "GFLOP/s");
    for (int stage = TRAIN_STAGE_BACKBONE; stage <= TRAIN_STAGE_JOINT; stage++) {
        double macs = (double)tot->backbone_macs +
                      (stage == TRAIN_STAGE_JOINT ? (double)tot->exit_macs : 0.0);
        if (trainer_step(t, (train_stage)stage, &h, x, y, BENCH_BATCH, NULL, NULL)) goto done;
        long steps = 0;
        double t0 = util_now_s(), el = 0;
        do {
            if (trainer_step(t, (train_stage)stage, &h, x, y, BENCH_BATCH, NULL, NULL)) goto done;
            steps++;
            el = util_now_s() - t0;
        } while (el < min_seconds || steps < 2);
        double ips = (double)steps * BENCH_BATCH / el;
        fprintf(out, "  %-9s %10.0f %10.1f\n", stage == TRAIN_STAGE_BACKBONE ? "backbone" : "joint",
                ips, ips * macs * FLOPS_PER_MAC_STEP * 1e-9);
    }
    rc = 0;
done:
    trainer_free(t);
    model_free_params(p, net_tensor_count(n));
    free(x);
    net_free(n);
    return rc;
}
