/* Shared test fixture (fixture.h): a tiny model, its dataset and its trace in a temp dir. */
#include "fixture.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data.h"
#include "model.h"
#include "net.h"
#include "record.h"
#include "train.h"

/* splitmix64 (Steele, Lea, Flood 2014). */
static uint64_t next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Images whose brightness grows with the label, so that logits differ between samples. */
static int write_data(const fixture *f, char *err, size_t errlen)
{
    static uint8_t px[FIXTURE_SAMPLES * FIXTURE_SIDE * FIXTURE_SIDE];
    uint8_t lab[FIXTURE_SAMPLES];
    uint64_t s = 5;
    for (int i = 0; i < FIXTURE_SAMPLES; i++) {
        lab[i] = (uint8_t)(next(&s) % FIXTURE_CLASSES);
        for (int p = 0; p < FIXTURE_SIDE * FIXTURE_SIDE; p++)
            px[i * FIXTURE_SIDE * FIXTURE_SIDE + p] = (uint8_t)((next(&s) % 64) + 24 * lab[i]);
    }
    char p1[192], p2[192];
    snprintf(p1, sizeof p1, "%s/%s", f->data, DATA_TEST_IMAGES);
    snprintf(p2, sizeof p2, "%s/%s", f->data, DATA_TEST_LABELS);
    if (mkdir(f->data, 0700) ||
        data_write_idx_images(p1, px, FIXTURE_SAMPLES, FIXTURE_SIDE, FIXTURE_SIDE, true, err,
                              errlen) ||
        data_write_idx_labels(p2, lab, FIXTURE_SAMPLES, true, err, errlen))
        return -1;
    return 0;
}

int fixture_make(fixture *f, const char *prefix)
{
    memset(f, 0, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "%s", prefix);
    if (!mkdtemp(f->dir)) return -1;
    snprintf(f->model, sizeof f->model, "%s/tiny.model", f->dir);
    snprintf(f->trace, sizeof f->trace, "%s/tiny.trace", f->dir);
    snprintf(f->data, sizeof f->data, "%s/data", f->dir);
    char err[512] = "";
    net *n = NULL;
    float **p = NULL;
    model *m = NULL;
    data_set ds = {0};
    double thr[64];
    int rc = write_data(f, err, sizeof err);
    if (!rc)
        rc = net_build(&n, "vgg19", FIXTURE_WIDTH, 32, 32, 1, FIXTURE_CLASSES, err, sizeof err);
    if (!rc) rc = model_init_random(n, 11, &p, err, sizeof err);
    if (!rc) rc = data_load(&ds, "mnist", "test", f->data, 32, err, sizeof err);
    /* the rule's own thresholds, raised towards the early exits so that exits fire at several
     * depths */
    if (!rc)
        rc = train_thresholds(n, (const float *const *)p, &ds, FIXTURE_SAMPLES, 16, thr, err,
                              sizeof err);
    for (int l = 0; !rc && l < net_exit_count(n); l++) thr[l] *= 1.0 + 0.04 * (double)(20 - l);
    if (!rc)
        rc = model_save(f->model, n, (const float *const *)p, thr, NULL, NULL, NULL, 0, err,
                        sizeof err);
    if (!rc) rc = model_load(f->model, &m, err, sizeof err);
    if (!rc)
        rc = record_trace(m, f->model, &ds, "mnist", "test", 0, FIXTURE_SAMPLES, f->trace, NULL,
                          false, err, sizeof err);
    if (rc) fprintf(stderr, "fixture: %s\n", err);
    model_free(m);
    data_free(&ds);
    if (n) model_free_params(p, net_tensor_count(n));
    net_free(n);
    return rc ? -1 : 0;
}

int fixture_remove(const fixture *f)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    return system(cmd) == 0 ? 0 : -1;
}

float fx_rnd(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return (float)((double)(z >> 11) * 0x1.0p-52 - 1.0);
}

float *fx_rnd_array(size_t count, float scale, uint64_t *state)
{
    float *x = malloc((count ? count : 1) * sizeof *x);
    if (!x) abort();
    for (size_t i = 0; i < count; i++) x[i] = scale * fx_rnd(state);
    return x;
}

float *fx_nan_array(size_t count)
{
    float *x = malloc((count ? count : 1) * sizeof *x);
    if (!x) abort();
    for (size_t i = 0; i < count; i++) x[i] = NAN;
    return x;
}
