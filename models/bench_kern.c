/* Kernel benchmark for `pesim bench`: the forward pass pesim actually runs (net_build + eng with
 * BN folded, ReLU, pools and classifier) for VGG-19 at two shapes and batches 1 and 32, next to
 * cblas_sgemm alone on exactly that forward's GEMM shapes, and the raw 512³ sgemm figure. */
#include "eng.h"
#include "kern.h"
#include "model.h"
#include "net.h"

#include <cblas.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* A network the benchmark runs: vgg19 at a width and a square input. */
typedef struct bench_net {
    const char *label;
    double width;
    int side, channels;
} bench_net;

static const bench_net bench_nets[] = {
    {"vgg19 w1 32x32x3 (CIFAR)", 1.0, 32, 3},
    {"vgg19 w1/4 32x32x1", 0.25, 32, 1},
};
static const int bench_batches[] = {1, 32};
#define BENCH_NNETS    (sizeof bench_nets / sizeof bench_nets[0])
#define BENCH_NBATCHES (sizeof bench_batches / sizeof bench_batches[0])

enum {
    GEMM_SIZE = 512, /* M = N = K of the raw sgemm ceiling */
    FLOPS_PER_MAC = 2,
    BENCH_CLASSES = 10,
};

static const uint64_t BENCH_SEED = 0x6b65726e5eedULL;
static const double NS_PER_S = 1e9;
static const double FLOP_PER_GFLOP = 1e9;
static const double MS_PER_S = 1e3;
static const double PERCENT = 100.0;
static const float DATA_RANGE = 1.0f; /* inputs and GEMM operands uniform in ±1 */

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

/* malloc'ed count floats uniform in ±scale; NULL on out-of-memory. */
static float *bench_random(size_t count, float scale, uint64_t *state)
{
    float *x = malloc((count ? count : 1) * sizeof *x);
    if (x)
        for (size_t i = 0; i < count; i++) x[i] = scale * bench_uniform(state);
    return x;
}

/* ---- the forward's GEMMs alone ---- */

/* One sgemm shape of the forward pass, issued `calls` times by backbone op `op`. fc: kern_fc's
 * call, C (m×n) = X (m×k) · W^T with W stored n×k; else kern_conv2d's, C = W (m×k) · B (k×n). */
typedef struct bench_gemm {
    int op;
    bool fc;
    kern_gemm_shape s;
} bench_gemm;

/* The GEMM list of one forward at batch nb with its operands laid out as the engine has them:
 * weights and outputs per GEMM (a per-sample conv writes each sample's output in turn), each kind
 * in one block as eng_new allocates them, and a shared other operand (the im2col workspace, the
 * pointwise conv's input, the FC input). */
typedef struct gemm_plan {
    bench_gemm *g;
    int count;
    float **w, **c; /* per GEMM: weights, output (pointers into the blocks) */
    float *wblock, *cblock;
    float *b; /* the other operand, largest size */
} gemm_plan;

static void plan_free(gemm_plan *p)
{
    free(p->w);
    free(p->c);
    free(p->wblock);
    free(p->cblock);
    free(p->b);
    free(p->g);
    *p = (gemm_plan){0};
}

/* Floats of GEMM g's weights, other operand and output (over all its calls). */
static void gemm_sizes(const bench_gemm *g, size_t *w, size_t *b, size_t *c)
{
    const kern_gemm_shape *s = &g->s;
    const size_t more = (size_t)s->calls - 1;
    *w = (size_t)(g->fc ? s->n : s->m) * (size_t)s->k;
    *b = (size_t)(g->fc ? s->m : s->n) * (size_t)s->k + more * s->b_step;
    *c = (size_t)s->m * (size_t)s->n + more * s->c_step;
}

/* Collects the GEMMs every conv and FC op of n issues at batch nb; 0 ok, -1 on out-of-memory. */
static int plan_build(gemm_plan *p, const net *n, int nb)
{
    *p = (gemm_plan){0};
    const int ops = net_op_count(n);
    p->g = calloc((size_t)ops * KERN_CONV_GEMM_SHAPES, sizeof *p->g);
    if (!p->g) return -1;
    for (int i = 0; i < ops; i++) {
        const net_op *o = net_op_at(n, i);
        if (o->kind == NET_OP_FC) {
            int in = o->in.c * o->in.h * o->in.w;
            p->g[p->count++] = (bench_gemm){i, true, {nb, o->out.c, in, 1, o->bias, 0, 0}};
        } else if (o->kind == NET_OP_CONV) {
            kern_conv2d_desc d = {nb,    o->in.c,   o->in.h,   o->in.w, o->out.c, o->kh,
                                  o->kw, o->stride, o->stride, o->pad,  o->pad};
            kern_gemm_shape s[KERN_CONV_GEMM_SHAPES];
            /* a conv followed by a BN gets the folded bias even when it has none itself */
            const net_op *next = net_op_at(n, i + 1);
            bool bias = o->bias || (next && next->kind == NET_OP_BN && next->src == i);
            int k = kern_conv2d_gemm_shapes(&d, bias, s);
            if (k == 0) return -1;
            for (int j = 0; j < k; j++) p->g[p->count++] = (bench_gemm){i, false, s[j]};
        }
    }
    size_t w_total = 0, b_max = 0, c_total = 0, w, b, c;
    for (int i = 0; i < p->count; i++) {
        gemm_sizes(&p->g[i], &w, &b, &c);
        w_total += w;
        c_total += c;
        if (b > b_max) b_max = b;
    }
    uint64_t rng = BENCH_SEED;
    p->w = calloc((size_t)p->count, sizeof *p->w);
    p->c = calloc((size_t)p->count, sizeof *p->c);
    p->wblock = bench_random(w_total, DATA_RANGE, &rng);
    p->cblock = bench_random(c_total, DATA_RANGE, &rng);
    p->b = bench_random(b_max, DATA_RANGE, &rng);
    if (!p->w || !p->c || !p->wblock || !p->cblock || !p->b) return -1;
    float *pw = p->wblock, *pc = p->cblock;
    for (int i = 0; i < p->count; i++) {
        gemm_sizes(&p->g[i], &w, &b, &c);
        p->w[i] = pw;
        p->c[i] = pc;
        pw += w;
        pc += c;
    }
    return 0;
}

/* Runs GEMM i of the plan (all its calls). */
static void plan_gemm(const gemm_plan *p, int i)
{
    const kern_gemm_shape *s = &p->g[i].s;
    const float beta = s->accumulate ? 1.0f : 0.0f;
    for (int r = 0; r < s->calls; r++) {
        if (p->g[i].fc)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s->m, s->n, s->k, 1.0f, p->b, s->k,
                        p->w[i], s->k, beta, p->c[i], s->n);
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->m, s->n, s->k, 1.0f, p->w[i],
                        s->k, p->b + (size_t)r * s->b_step, s->n, beta,
                        p->c[i] + (size_t)r * s->c_step, s->n);
    }
}

/* ---- timing ---- */

/* Per-call times of one timed loop: rows × width seconds (width 1 for whole calls, one column
 * per backbone op for op-by-op calls), grown as the loop runs. */
typedef struct series {
    double *v;
    size_t rows, cap;
    int width;
} series;

/* Appends a zeroed row; NULL on out-of-memory. */
static double *series_row(series *s)
{
    if (s->rows == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        double *v = realloc(s->v, cap * (size_t)s->width * sizeof *v);
        if (!v) return NULL;
        s->v = v;
        s->cap = cap;
    }
    double *row = s->v + s->rows++ * (size_t)s->width;
    for (int i = 0; i < s->width; i++) row[i] = 0.0;
    return row;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of column c, sorting a copy in tmp (rows doubles). */
static double series_median(const series *s, int c, double *tmp)
{
    for (size_t i = 0; i < s->rows; i++) tmp[i] = s->v[i * (size_t)s->width + (size_t)c];
    qsort(tmp, s->rows, sizeof *tmp, cmp_double);
    size_t h = s->rows / 2;
    return s->rows % 2 ? tmp[h] : 0.5 * (tmp[h - 1] + tmp[h]);
}

/* What the timed loops run: the engine's forward or the plan's GEMMs. */
typedef struct bench_run {
    eng *e;
    const float *input;
    float *logits;
    int batch, n_ops;
    const gemm_plan *plan;
} bench_run;

/* A timed call: fills its row (row[0] = seconds of the whole call, or seconds per op). */
typedef int (*bench_fn)(bench_run *r, double *row);

static int run_forward(bench_run *r, double *row)
{
    double t0 = bench_now_s();
    int rc = eng_begin(r->e, r->input, r->batch);
    if (!rc) rc = eng_final(r->e, r->logits);
    row[0] = bench_now_s() - t0;
    return rc;
}

static int run_gemms(bench_run *r, double *row)
{
    double t0 = bench_now_s();
    for (int i = 0; i < r->plan->count; i++) plan_gemm(r->plan, i);
    row[0] = bench_now_s() - t0;
    return 0;
}

static int run_forward_by_op(bench_run *r, double *row)
{
    int rc = eng_begin(r->e, r->input, r->batch);
    for (int i = 0; !rc && i < r->n_ops; i++) {
        double t0 = bench_now_s();
        rc = eng_run_to(r->e, i);
        row[i] = bench_now_s() - t0;
    }
    return rc;
}

static int run_gemms_by_op(bench_run *r, double *row)
{
    for (int i = 0; i < r->plan->count; i++) {
        double t0 = bench_now_s();
        plan_gemm(r->plan, i);
        row[r->plan->g[i].op] += bench_now_s() - t0;
    }
    return 0;
}

/* Calls fn[0] and fn[1] alternately (one untimed warm-up call each first) until min_seconds
 * have passed, and stores each column's median seconds per call in med[0] and med[1] (width
 * doubles each). Alternating and taking medians keeps the ratio of the two steady on a machine
 * that other work disturbs. 0 ok, -1 on a failing call or out-of-memory. */
static int bench_pair(const bench_fn fn[2], bench_run *r, int width, double min_seconds,
                      double *const med[2])
{
    series s[2] = {{NULL, 0, 0, width}, {NULL, 0, 0, width}};
    double *tmp = NULL;
    int rc = -1;
    for (int k = 0; k < 2; k++) {
        double *row = series_row(&s[k]);
        if (!row || fn[k](r, row)) goto done;
        s[k].rows = 0;
    }
    double t0 = bench_now_s();
    do {
        for (int k = 0; k < 2; k++) {
            double *row = series_row(&s[k]);
            if (!row || fn[k](r, row)) goto done;
        }
    } while (bench_now_s() - t0 < min_seconds);
    tmp = malloc(s[0].rows * sizeof *tmp);
    if (!tmp) goto done;
    for (int k = 0; k < 2; k++)
        for (int c = 0; c < width; c++) med[k][c] = series_median(&s[k], c, tmp);
    rc = 0;
done:
    free(tmp);
    free(s[0].v);
    free(s[1].v);
    return rc;
}

/* Raw cblas_sgemm GFLOP/s on a GEMM_SIZE³ product; negative on out-of-memory. */
static double bench_sgemm_gflops(double min_seconds)
{
    const size_t count = (size_t)GEMM_SIZE * GEMM_SIZE;
    uint64_t rng = BENCH_SEED;
    float *a = bench_random(count, DATA_RANGE, &rng);
    float *b = bench_random(count, DATA_RANGE, &rng);
    float *c = bench_random(count, DATA_RANGE, &rng);
    double gflops = -1.0;
    if (!a || !b || !c) goto out;
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

/* ---- one network at one batch ---- */

/* Milliseconds per batch by op kind, of the engine (real) and of the GEMMs alone (bound). */
static void print_split(FILE *out, const net *n, const double *real_s, const double *bound_s)
{
    double real[NET_OP_KIND_COUNT] = {0}, bound[NET_OP_KIND_COUNT] = {0};
    for (int i = 0; i < net_op_count(n); i++) {
        net_op_kind k = net_op_at(n, i)->kind;
        real[k] += real_s[i];
        bound[k] += bound_s[i];
    }
    fprintf(out, "    ms/batch by op (sgemm alone):");
    for (int k = 0; k < NET_OP_KIND_COUNT; k++) {
        bool gemm = k == NET_OP_CONV || k == NET_OP_FC;
        if (real[k] == 0.0 && !gemm) continue;
        fprintf(out, " %s %.3f", net_op_kind_name((net_op_kind)k), real[k] * MS_PER_S);
        if (gemm) fprintf(out, " (%.3f)", bound[k] * MS_PER_S);
    }
    fprintf(out, "\n");
}

/* Rows for network b at batch nb: the engine's forward against its GEMMs alone. */
static int bench_one(FILE *out, const bench_net *b, int nb, double min_seconds)
{
    char err[256] = "";
    net *n = NULL;
    float **params = NULL;
    eng *e = NULL;
    gemm_plan plan = {0};
    float *input = NULL, *logits = NULL;
    double *real_op_s = NULL, *bound_op_s = NULL;
    int rc = net_build(&n, "vgg19", b->width, b->side, b->side, b->channels, BENCH_CLASSES, err,
                       sizeof err);
    if (rc) goto done;
    const int n_ops = net_op_count(n);
    rc = model_init_random(n, BENCH_SEED, &params, err, sizeof err);
    if (rc) goto done;
    rc = -1;
    e = eng_new(n, (const float *const *)params, nb, err, sizeof err);
    uint64_t rng = BENCH_SEED;
    net_shape in = net_input(n);
    input = bench_random((size_t)nb * (size_t)in.c * (size_t)in.h * (size_t)in.w, DATA_RANGE, &rng);
    logits = malloc((size_t)nb * BENCH_CLASSES * sizeof *logits);
    real_op_s = calloc((size_t)n_ops, sizeof *real_op_s);
    bound_op_s = calloc((size_t)n_ops, sizeof *bound_op_s);
    if (!e || !input || !logits || !real_op_s || !bound_op_s || plan_build(&plan, n, nb)) goto done;

    bench_run r = {e, input, logits, nb, n_ops, &plan};
    double fwd_s, gemm_s;
    static const bench_fn whole[2] = {run_forward, run_gemms};
    static const bench_fn by_op[2] = {run_forward_by_op, run_gemms_by_op};
    if (bench_pair(whole, &r, 1, min_seconds, (double *const[2]){&fwd_s, &gemm_s}) ||
        bench_pair(by_op, &r, n_ops, min_seconds, (double *const[2]){real_op_s, bound_op_s}))
        goto done;

    const double gflop = (double)FLOPS_PER_MAC * (double)net_get_totals(n)->backbone_macs *
                         (double)nb / FLOP_PER_GFLOP;
    fprintf(out, "%-26s %5d %9.1f %8.2f %12.1f %14.2f %6.1f%%\n", b->label, nb, nb / fwd_s,
            gflop / fwd_s, nb / gemm_s, gflop / gemm_s, PERCENT * gemm_s / fwd_s);
    print_split(out, n, real_op_s, bound_op_s);
    rc = 0;
done:
    if (rc && !err[0])
        snprintf(err, sizeof err, "%s", e && eng_error(e)[0] ? eng_error(e) : "out of memory");
    if (rc) fprintf(stderr, "pesim bench kern: %s: %s\n", b->label, err);
    free(real_op_s);
    free(bound_op_s);
    free(input);
    free(logits);
    plan_free(&plan);
    eng_free(e);
    model_free_params(params, n ? net_tensor_count(n) : 0);
    net_free(n);
    return rc;
}

int bench_kern(FILE *out, double min_seconds)
{
    double raw = bench_sgemm_gflops(min_seconds);
    if (raw <= 0.0) return -1;
    fprintf(out, "kern: OpenBLAS %d thread(s); raw cblas_sgemm %dx%dx%d: %.2f GFLOP/s\n",
            openblas_get_num_threads(), GEMM_SIZE, GEMM_SIZE, GEMM_SIZE, raw);
    fprintf(out, "forward = eng_begin + eng_final (BN folded, ReLU, max-pools, classifier)\n"
                 "bound = cblas_sgemm alone on the forward's GEMM shapes; ratio = bound time / "
                 "forward time\n");
    fprintf(out, "network                    batch  images/s  GFLOP/s  bound img/s  bound "
                 "GFLOP/s  ratio\n");
    for (size_t i = 0; i < BENCH_NNETS; i++)
        for (size_t j = 0; j < BENCH_NBATCHES; j++) {
            int rc = bench_one(out, &bench_nets[i], bench_batches[j], min_seconds);
            if (rc) return rc;
        }
    return 0;
}
