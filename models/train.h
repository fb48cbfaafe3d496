/* Trainer for multi-exit networks (DESIGN section 3, "Training"): a training-mode forward over a
 * batch (batch norm with batch statistics), exit heads, softmax cross-entropy, the backward pass
 * of every op and head, and Adam; the two-stage schedule of the paper's code over a dataset with
 * seeded shuffling, per-epoch checkpoints that a killed run resumes from, the per-exit thresholds
 * T_l and the per-exit test accuracy written into the model file. */
#ifndef PESIM_TRAIN_H
#define PESIM_TRAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "data.h"
#include "grad.h"
#include "net.h"

/* Status codes; 0 is success. */
enum train_status {
    TRAIN_OK = 0,
    TRAIN_EARG = -1,   /* a bad argument or option */
    TRAIN_ENOMEM = -2, /* out of memory */
    TRAIN_EIO = -3,    /* reading or writing the model / checkpoint failed */
    TRAIN_EKERN = -4,  /* a kernel rejected its arguments */
    TRAIN_ENAN = -5,   /* the loss became NaN or infinite */
};

/* What a training step optimises. */
typedef enum train_stage {
    TRAIN_STAGE_BACKBONE = 1, /* cross-entropy of the final classifier; heads untouched */
    TRAIN_STAGE_JOINT = 2,    /* unweighted sum of the cross-entropies of every exit and final */
} train_stage;

#define TRAIN_BN_MOMENTUM 0.1f /* running-statistics momentum (PyTorch's default) */
/* Test images whose final-classifier accuracy a trained model records as check_accuracy (the
 * first ones of the test split), so that a quick test can reproduce it. */
#define TRAIN_CHECK_IMAGES 500

/* ---- one step at a time ---- */

typedef struct trainer trainer;

/* Trainer for n (which must outlive it) starting from params (net tensor order; copied) with
 * room for max_batch samples. NULL on error with a one-line message in err. */
trainer *trainer_new(const net *n, const float *const *params, int max_batch, char *err,
                     size_t errlen);
void trainer_free(trainer *t); /* NULL is a no-op */

/* Forward and backward over batch samples x (NCHW) with labels y for stage, then one Adam step
 * of the parameters that stage trains (step counter per stage, from 1). Stores the mean loss
 * (summed over the losses the stage optimises) in *loss and the final classifier's correct
 * answers in *correct (either may be NULL). TRAIN_OK or a negative status. */
int trainer_step(trainer *t, train_stage stage, const grad_adam *h, const float *x,
                 const uint8_t *y, int batch, double *loss, int *correct);
/* Forward and backward only (no update), leaving the gradients readable by trainer_grad; for
 * tests. Same results as trainer_step's loss. */
int trainer_backward(trainer *t, train_stage stage, const float *x, const uint8_t *y, int batch,
                     double *loss, int *correct);
/* Resets the Adam moments and step counter (a new stage starts a new optimiser). */
void trainer_reset_adam(trainer *t);
float *const *trainer_params(const trainer *t); /* current tensors, net tensor order */
float *const *trainer_grad(const trainer *t);   /* gradients of the last backward, same order */
const char *trainer_error(const trainer *t);    /* message of the last failing call */

/* ---- whole runs ---- */

/* A training run (pesim train). */
typedef struct train_opts {
    const data_set *train;   /* training images (already padded and normalised) */
    const data_set *test;    /* test images for per-epoch and final accuracy; may be NULL */
    const char *dataset;     /* dataset name recorded in provenance */
    int epochs_backbone;     /* stage 1 epochs (>= 0) */
    int epochs_joint;        /* stage 2 epochs (>= 0) */
    float lr_backbone;       /* stage 1 Adam peak learning rate */
    float lr_joint;          /* stage 2 Adam peak learning rate */
    float weight_decay;      /* Adam L2 decay (0: none) */
    int batch;               /* samples per step (128) */
    uint64_t seed;           /* initialisation, shuffling and augmentation */
    bool flip;               /* random horizontal flips (off for digits) */
    int shift_px;            /* random translation by up to this many pixels each way (0: none) */
    size_t threshold_images; /* training images for T_l (5 000) */
    const char *out;         /* model file; checkpoints go to it at the end of every epoch */
    bool resume;             /* continue from the checkpoint in out */
    int stop_after;          /* > 0: stop after this many epochs in all, checkpoint written */
    const char *command;     /* the command line, recorded in provenance */
    FILE *progress;          /* progress lines (stderr); NULL for none */
    bool progress_tty;       /* rewrite one line with \r (a TTY) instead of a line per epoch */
} train_opts;

/* Train n per o: initialise (model_init_random with o->seed) or resume, run both stages with a
 * cosine learning-rate decay within each stage, checkpoint after each epoch, then compute T_l
 * and the per-exit test accuracy and write the final model file. TRAIN_OK or a negative status
 * with a one-line message in err. */
int train_run(const net *n, const train_opts *o, char *err, size_t errlen);

/* T_l for every exit over the first `images` samples of ds with params: the mean over those
 * images of max_c |z_c| of exit l's logits (the score the activation rule compares with
 * beta·T_l). thresholds gets net_exit_count(n) values. TRAIN_OK or a negative status. */
int train_thresholds(const net *n, const float *const *params, const data_set *ds, size_t images,
                     int batch, double *thresholds, char *err, size_t errlen);
/* Accuracy (fraction) of every exit and the final classifier over ds with params: acc gets
 * net_exit_count(n) + 1 values. TRAIN_OK or a negative status. */
int train_accuracy(const net *n, const float *const *params, const data_set *ds, int batch,
                   bool final_only, double *acc, char *err, size_t errlen);

/* Trainer throughput of VGG-19 (width 1/4, 32x32x1, batch 128) per stage in images/s and
 * GFLOP/s, each measured for at least min_seconds, printed to out. 0 ok, negative on error. */
int bench_train(FILE *out, double min_seconds);

#endif /* PESIM_TRAIN_H */
