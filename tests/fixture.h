/* Shared by the tests: a fixture (a random-weight VGG-19 at width 1/16 with thresholds that make
 * exits fire at several depths, an MNIST-like generated IDX test split, and the model's logit
 * trace, all in a fresh temporary directory) and seeded random arrays for kernel tests. */
#ifndef PESIM_TEST_FIXTURE_H
#define PESIM_TEST_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

enum { FIXTURE_SAMPLES = 70, FIXTURE_SIDE = 28, FIXTURE_CLASSES = 10 };
#define FIXTURE_WIDTH 0.0625 /* vgg19 channels 4 .. 32 */

typedef struct fixture {
    char dir[64];    /* the temporary directory */
    char model[128]; /* dir/tiny.model */
    char trace[128]; /* dir/tiny.trace: every exit of every sample */
    char data[128];  /* dir/data: t10k-*-ubyte.gz of FIXTURE_SAMPLES images ("mnist" layout) */
} fixture;

/* Creates everything under a new directory named from prefix ("/tmp/pesim_run_XXXXXX").
 * 0 ok, -1 on any failure (with a message on stderr). */
int fixture_make(fixture *f, const char *prefix);
/* Removes the directory and everything in it; 0 ok. */
int fixture_remove(const fixture *f);

/* splitmix64 (Steele, Lea, Flood 2014) mapped to a float in [-1, 1). */
float fx_rnd(uint64_t *state);
/* count floats (malloc'ed, exactly sized so that ASan catches any overrun) in [-scale, scale);
 * aborts on out-of-memory. */
float *fx_rnd_array(size_t count, float scale, uint64_t *state);
/* count floats set to NaN, so that an element a kernel forgets to write fails a comparison. */
float *fx_nan_array(size_t count);

#endif
