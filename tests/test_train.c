/* Tests of models/train: the whole network's gradient against central finite differences of
 * its loss, a tiny multi-exit network that learns a generated fixture (loss falls, accuracy far
 * above chance), thresholds against a direct engine pass, determinism of a seeded run, resume
 * from a checkpoint giving the same model as an uninterrupted run, and bad resumes. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eng.h"
#include "model.h"
#include "net.h"
#include "train.h"

enum { SIDE = 32, CLASSES = 4, TRAIN_N = 256, TEST_N = 128, BATCH = 32 };
static const double TINY_WIDTH = 0.0625; /* vgg19 channels 4, 8, 16, 32, 32 */

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static float rng_unit(uint64_t *s) /* [-1, 1) */
{
    return (float)((double)(rng_next(s) >> 11) * 0x1.0p-52 - 1.0);
}

/* Fixture: class k is a bright 8x8 square in quadrant k on noise; learnable by any conv net. */
static void make_set(data_set *ds, size_t n, uint64_t seed)
{
    memset(ds, 0, sizeof *ds);
    snprintf(ds->name, sizeof ds->name, "quadrants");
    ds->n = n;
    ds->channels = 1;
    ds->height = ds->width = SIDE;
    ds->classes = CLASSES;
    ds->x = malloc(n * SIDE * SIDE * sizeof *ds->x);
    ds->y = malloc(n);
    assert_non_null(ds->x);
    assert_non_null(ds->y);
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++) {
        int k = (int)(rng_next(&s) % CLASSES);
        ds->y[i] = (uint8_t)k;
        float *img = ds->x + i * SIDE * SIDE;
        for (int p = 0; p < SIDE * SIDE; p++) img[p] = 0.5f * rng_unit(&s);
        int r0 = (k / 2) * 16 + 4 + (int)(rng_next(&s) % 4), c0 = (k % 2) * 16 + 4;
        for (int r = r0; r < r0 + 8; r++)
            for (int c = c0; c < c0 + 8; c++) img[r * SIDE + c] += 2.0f;
    }
}

static net *tiny_net(void)
{
    net *n = NULL;
    char err[256];
    int rc = net_build(&n, "vgg19", TINY_WIDTH, SIDE, SIDE, 1, CLASSES, err, sizeof err);
    assert_int_equal(rc, NET_OK);
    return n;
}

/* The loss of a backward pass (stage 2: every exit plus final). */
static double loss_of(trainer *t, train_stage stage, const data_set *ds, int nb)
{
    double loss = 0;
    assert_int_equal(trainer_backward(t, stage, ds->x, ds->y, nb, &loss, NULL), TRAIN_OK);
    return loss;
}

/* Every tensor kind's gradient (two elements each) against central differences of the joint
 * loss over 16 samples, computed in float. Behind the last few layers the differences cross
 * ReLU and max-pool kinks of thousands of units (they move by 5-15 % with the step), so the
 * early tensors get a loose bound; the late ones and the heads must agree to 2 %. */
static void test_gradient_matches_finite_differences(void **state)
{
    (void)state;
    enum { NB = 8 };
    net *n = tiny_net();
    float **p = NULL;
    char err[256];
    assert_int_equal(model_init_random(n, 7, &p, err, sizeof err), 0);
    data_set ds;
    make_set(&ds, NB, 11);
    trainer *t = trainer_new(n, (const float *const *)p, NB, err, sizeof err);
    assert_non_null(t);
    static const struct {
        const char *name;
        double rel; /* relative tolerance */
        bool head;  /* an exit-head tensor: differenced through the joint loss */
    } checks[] = {
        {"conv1.weight", 0.25, false},      {"conv1.bn.gamma", 0.25, false},
        {"conv6.bn.beta", 0.25, false},     {"conv9.weight", 0.25, false},
        {"conv12.weight", 0.02, false},     {"conv16.weight", 0.02, false},
        {"classifier.weight", 0.02, false}, {"bof.w64.codebook.weight", 0.02, true},
        {"bof.w128.a", 0.02, true},         {"bof.w512.c", 0.02, true},
        {"bof.w256.n1", 0.02, true},        {"bof.w64.n2", 0.02, true},
        {"fc.shared.0.weight", 0.02, true}, {"fc.shared.1.bias", 0.02, true},
    };
    assert_true(isfinite(loss_of(t, TRAIN_STAGE_JOINT, &ds, NB)));
    float *const *g = trainer_grad(t);
    float *const *pp = trainer_params(t);
    uint64_t s = 99;
    for (size_t k = 0; k < sizeof checks / sizeof checks[0]; k++) {
        int ti = net_tensor_by_name(n, checks[k].name);
        assert_true(ti >= 0);
        const net_tensor *tt = net_tensor_at(n, ti);
        for (int rep = 0; rep < 2; rep++) {
            size_t e = (size_t)(rng_next(&s) % tt->count);
            /* backbone tensors through the backbone loss alone: fewer kinks, same code path */
            train_stage st = checks[k].head ? TRAIN_STAGE_JOINT : TRAIN_STAGE_BACKBONE;
            loss_of(t, st, &ds, NB);
            double analytic = g[ti][e];
            float keep = pp[ti][e];
            const float h = 1e-3f * fmaxf(1.0f, fabsf(keep));
            pp[ti][e] = keep + h;
            double up = loss_of(t, st, &ds, NB);
            pp[ti][e] = keep - h;
            double down = loss_of(t, st, &ds, NB);
            pp[ti][e] = keep;
            double fd = (up - down) / (2.0 * (double)h);
            double tol = checks[k].rel * fmax(fabs(fd), fabs(analytic)) + 2e-3;
            if (fabs(fd - analytic) > tol)
                fail_msg("%s[%zu]: analytic %.6g, finite difference %.6g", checks[k].name, e,
                         analytic, fd);
        }
    }
    /* a bias right before batch norm has no effect on the loss: its gradient is exactly 0 */
    int bias = net_tensor_by_name(n, "conv5.bias");
    for (uint64_t e = 0; e < net_tensor_at(n, bias)->count; e++)
        assert_true(fabsf(g[bias][e]) < 1e-6f);
    trainer_free(t);
    data_free(&ds);
    model_free_params(p, net_tensor_count(n));
    net_free(n);
}

/* A few hundred steps on the fixture: the loss falls and every stage learns. */
static void test_tiny_network_learns(void **state)
{
    (void)state;
    net *n = tiny_net();
    float **p = NULL;
    char err[256];
    assert_int_equal(model_init_random(n, 3, &p, err, sizeof err), 0);
    data_set tr, te;
    make_set(&tr, TRAIN_N, 1);
    make_set(&te, TEST_N, 2);
    trainer *t = trainer_new(n, (const float *const *)p, BATCH, err, sizeof err);
    assert_non_null(t);
    grad_adam h = {.lr = 2e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f};
    double first = 0, last = 0;
    for (int stage = 1; stage <= 2; stage++) {
        trainer_reset_adam(t);
        for (int ep = 0; ep < (stage == 1 ? 3 : 2); ep++)
            for (int b = 0; b < TRAIN_N / BATCH; b++) {
                double loss;
                assert_int_equal(trainer_step(t, (train_stage)stage, &h, tr.x + b * BATCH * 1024,
                                              tr.y + b * BATCH, BATCH, &loss, NULL),
                                 TRAIN_OK);
                if (stage == 1 && ep == 0 && b == 0) first = loss;
                if (stage == 1) last = loss;
            }
    }
    assert_true(last < 0.5 * first);
    double acc[22];
    assert_int_equal(train_accuracy(n, (const float *const *)trainer_params(t), &te, 64, false, acc,
                                    err, sizeof err),
                     TRAIN_OK);
    assert_true(acc[20] > 0.9); /* final classifier; chance is 0.25 */
    assert_true(acc[19] > 0.6); /* deepest exit */
    trainer_free(t);
    data_free(&tr);
    data_free(&te);
    model_free_params(p, net_tensor_count(n));
    net_free(n);
}

/* T_l is the mean of max |z| of exit l over the images, as an engine pass computes it. */
static void test_thresholds_match_engine(void **state)
{
    (void)state;
    net *n = tiny_net();
    float **p = NULL;
    char err[256];
    assert_int_equal(model_init_random(n, 5, &p, err, sizeof err), 0);
    data_set ds;
    make_set(&ds, 10, 4);
    double thr[20];
    assert_int_equal(train_thresholds(n, (const float *const *)p, &ds, 10, 3, thr, err, sizeof err),
                     TRAIN_OK);
    eng *e = eng_new(n, (const float *const *)p, 10, err, sizeof err);
    assert_non_null(e);
    assert_int_equal(eng_begin(e, ds.x, 10), 0);
    float z[10 * CLASSES];
    for (int x = 0; x < 20; x += 7) {
        assert_int_equal(eng_exit(e, x, z), 0);
        double sum = 0;
        for (int i = 0; i < 10; i++) {
            double m = 0;
            for (int c = 0; c < CLASSES; c++) m = fmax(m, fabs(z[i * CLASSES + c]));
            sum += m;
        }
        assert_true(fabs(thr[x] - sum / 10) <= 1e-5 * fmax(1, sum / 10));
    }
    eng_free(e);
    data_free(&ds);
    model_free_params(p, net_tensor_count(n));
    net_free(n);
}

static train_opts run_opts(const data_set *tr, const data_set *te, const char *out)
{
    return (train_opts){.train = tr,
                        .test = te,
                        .dataset = "quadrants",
                        .epochs_backbone = 2,
                        .epochs_joint = 1,
                        .lr_backbone = 2e-3f,
                        .lr_joint = 1e-3f,
                        .batch = BATCH,
                        .seed = 42,
                        .flip = true,
                        .shift_px = 1,
                        .threshold_images = 30,
                        .out = out};
}

static void expect_same_models(const char *a, const char *b)
{
    model *ma = NULL, *mb = NULL;
    char err[256];
    assert_int_equal(model_load(a, &ma, err, sizeof err), 0);
    assert_int_equal(model_load(b, &mb, err, sizeof err), 0);
    assert_int_equal(ma->n_params, mb->n_params);
    for (int i = 0; i < ma->n_params; i++) {
        const net_tensor *t = net_tensor_at(ma->net, i);
        if (memcmp(ma->params[i], mb->params[i], t->count * sizeof(float)))
            fail_msg("tensor %s differs between %s and %s", t->name, a, b);
    }
    for (int x = 0; x < ma->n_exits - 1; x++) assert_true(ma->thresholds[x] == mb->thresholds[x]);
    for (int x = 0; x < ma->n_exits; x++) assert_true(ma->test_accuracy[x] == mb->test_accuracy[x]);
    model_free(ma);
    model_free(mb);
}

/* Same seed twice gives the same tensors; a run stopped after one epoch and resumed gives the
 * same model as the uninterrupted run; the model records its provenance. */
static void test_run_deterministic_and_resumable(void **state)
{
    (void)state;
    net *n = tiny_net();
    data_set tr, te;
    make_set(&tr, 66, 8); /* 2 full batches and a remainder of 2 */
    make_set(&te, 20, 9);
    char dir[] = "/tmp/pesim_train_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char a[64], b[64], c[64];
    snprintf(a, sizeof a, "%s/a.model", dir);
    snprintf(b, sizeof b, "%s/b.model", dir);
    snprintf(c, sizeof c, "%s/c.model", dir);
    char err[512];
    train_opts o = run_opts(&tr, &te, a);
    assert_int_equal(train_run(n, &o, err, sizeof err), TRAIN_OK);
    o.out = b;
    assert_int_equal(train_run(n, &o, err, sizeof err), TRAIN_OK);
    expect_same_models(a, b);

    o.out = c;
    o.stop_after = 1;
    assert_int_equal(train_run(n, &o, err, sizeof err), TRAIN_OK);
    model *m = NULL;
    assert_int_equal(model_load(c, &m, err, sizeof err), 0);
    assert_string_equal(model_prov(m, "status"), "checkpoint");
    assert_string_equal(model_prov(m, "epochs_done"), "1");
    model_free(m);
    o.stop_after = 2; /* into the joint stage, then finish */
    o.resume = true;
    assert_int_equal(train_run(n, &o, err, sizeof err), TRAIN_OK);
    o.stop_after = 0;
    assert_int_equal(train_run(n, &o, err, sizeof err), TRAIN_OK);
    expect_same_models(a, c);
    assert_int_equal(model_load(c, &m, err, sizeof err), 0);
    assert_null(model_prov(m, "status"));
    assert_string_equal(model_prov(m, "dataset"), "quadrants");
    assert_string_equal(model_prov(m, "epochs"), "3");
    assert_string_equal(model_prov(m, "seed"), "42");
    model_free(m);

    /* a finished model has no checkpoint to resume */
    assert_int_equal(train_run(n, &o, err, sizeof err), TRAIN_EARG);
    assert_non_null(strstr(err, "no checkpoint"));
    /* a checkpoint made with other options is refused */
    o.resume = false;
    o.stop_after = 1;
    assert_int_equal(train_run(n, &o, err, sizeof err), TRAIN_OK);
    o.resume = true;
    o.seed = 43;
    assert_int_equal(train_run(n, &o, err, sizeof err), TRAIN_EARG);
    assert_non_null(strstr(err, "other options"));
    /* a missing file */
    o.out = "/nonexistent/dir/x.model";
    assert_true(train_run(n, &o, err, sizeof err) < 0);
    assert_non_null(strstr(err, "/nonexistent/dir/x.model"));

    remove(a);
    remove(b);
    remove(c);
    rmdir(dir);
    data_free(&tr);
    data_free(&te);
    net_free(n);
}

static void test_bad_options(void **state)
{
    (void)state;
    net *n = tiny_net();
    data_set tr;
    make_set(&tr, 8, 1);
    char err[256];
    train_opts o = run_opts(&tr, NULL, "/tmp/never.model");
    o.batch = 1;
    assert_int_equal(train_run(n, &o, err, sizeof err), TRAIN_EARG);
    o = run_opts(&tr, NULL, "/tmp/never.model");
    o.epochs_backbone = o.epochs_joint = 0;
    assert_int_equal(train_run(n, &o, err, sizeof err), TRAIN_EARG);
    o = run_opts(&tr, NULL, "/tmp/never.model");
    tr.height = 28;
    assert_int_equal(train_run(n, &o, err, sizeof err), TRAIN_EARG);
    assert_non_null(strstr(err, "28x"));
    tr.height = 32;
    assert_int_equal(access("/tmp/never.model", F_OK), -1);
    data_free(&tr);
    net_free(n);
}

/* The shipped models (the .model files in models/): each loads, and its final classifier
 * reproduces the accuracy the trainer recorded over the first check_images test images, when
 * that dataset is installed. The figure was computed by a -march=native build, whose fused
 * multiply-adds may move a borderline image: SHIPPED_SLACK images of difference are accepted. */
static void test_shipped_models(void **state)
{
    (void)state;
    static const struct {
        const char *file, *dataset, *dir;
    } shipped[] = {
        {"vgg19-w4-fashion-mnist.model", "fashion-mnist", NULL},
        {"resnet34-w8-fashion-mnist.model", "fashion-mnist", NULL},
        {"vgg19-w4-mnist.model", "mnist", PESIM_SOURCE_DIR "/.deps/mnist"},
    };
    enum { SHIPPED_SLACK = 2 };
    int checked = 0;
    for (size_t i = 0; i < sizeof shipped / sizeof shipped[0]; i++) {
        char path[512], err[512];
        snprintf(path, sizeof path, "%s/models/%s", PESIM_SOURCE_DIR, shipped[i].file);
        model *m = NULL;
        if (access(path, R_OK) != 0) continue;
        if (model_load(path, &m, err, sizeof err)) fail_msg("%s", err);
        if (model_prov(m, "status")) { /* a checkpoint of a training still running */
            model_free(m);
            continue;
        }
        const char *ni = model_prov(m, "check_images"), *na = model_prov(m, "check_accuracy");
        assert_non_null(ni);
        assert_non_null(na);
        data_set ds, sub;
        if (data_load(&ds, shipped[i].dataset, "test", shipped[i].dir, 32, err, sizeof err)) {
            printf("  %s: dataset %s not installed, accuracy not checked\n", shipped[i].file,
                   shipped[i].dataset);
            model_free(m);
            continue;
        }
        size_t n = (size_t)strtoul(ni, NULL, 10);
        assert_int_equal(data_subset(&ds, 0, n, &sub, err, sizeof err), 0);
        double *acc = calloc((size_t)m->n_exits, sizeof *acc);
        assert_non_null(acc);
        assert_int_equal(train_accuracy(m->net, (const float *const *)m->params, &sub, 128, true,
                                        acc, err, sizeof err),
                         TRAIN_OK);
        double want = strtod(na, NULL), got = acc[m->n_exits - 1];
        printf("  %s: final classifier %.2f%% on the first %zu test images (recorded %.2f%%)\n",
               shipped[i].file, 100 * got, n, 100 * want);
        assert_true(fabs(got - want) * (double)n <= SHIPPED_SLACK + 0.5);
        checked++;
        free(acc);
        data_free(&ds);
        model_free(m);
    }
    if (!checked) skip();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradient_matches_finite_differences),
        cmocka_unit_test(test_tiny_network_learns),
        cmocka_unit_test(test_thresholds_match_engine),
        cmocka_unit_test(test_run_deterministic_and_resumable),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_shipped_models),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
