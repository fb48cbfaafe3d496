/* Functional engine: runs a multi-exit network (net.h) on a batch op by op with the forward
 * kernels (kern.h), evaluating an exit head only when asked and continuing from where it stopped.
 * All buffers are allocated in eng_new; nothing allocates afterwards. */
#ifndef PESIM_ENG_H
#define PESIM_ENG_H

#include <stddef.h>
#include <stdint.h>

#include "kern.h"
#include "net.h"

/* Status codes; 0 is success. */
enum eng_status {
    ENG_OK = 0,
    ENG_EARG = -1,   /* a bad argument: batch, op or exit index out of range, NULL pointer */
    ENG_ENOMEM = -2, /* out of memory in eng_new */
    ENG_ESTATE = -3, /* called before eng_begin */
    ENG_EKERN = -4,  /* a kernel rejected its arguments (bad parameters, e.g. BN var + eps <= 0) */
};

/* Batch-norm epsilon (PyTorch's default), used when folding BN into the preceding conv and for
 * any BN that is applied on its own. */
#define ENG_BN_EPS 1e-5f
/* Added to the per-pixel codeword sum before the BoF normalisation divides by it (the paper's
 * code uses 5e-16; it only matters when every codeword response is 0). */
#define ENG_BOF_EPS 5e-16f

typedef struct eng eng;

/* Engine for n (which must outlive it) with params[i] holding net tensor i (net tensor order;
 * weights are copied and each BN that directly follows a conv is folded into it) and room for
 * max_batch samples. NULL on error, with a one-line message in err (may be NULL). */
eng *eng_new(const net *n, const float *const *params, int max_batch, char *err, size_t errlen);
void eng_free(eng *e); /* free an engine; NULL is a no-op */

/* Copies batch (1 .. max_batch) NCHW input samples in and rewinds to before op 0; resets the
 * MAC counters. 0 ok, ENG_EARG. */
int eng_begin(eng *e, const float *x, int batch);
/* Runs backbone ops up to and including op (a no-op when already past it). 0 ok, ENG_EARG when
 * op is out of range, ENG_ESTATE before eng_begin, ENG_EKERN. */
int eng_run_to(eng *e, int op);
/* Logits (batch × classes) of exit exit_index, running the backbone to that exit's op first if
 * needed; exits may be evaluated in any order (every op with an exit keeps its own output
 * buffer). exit_index net_exit_count() is the final classifier. 0 ok or a negative status. */
int eng_exit(eng *e, int exit_index, float *logits);
/* Runs to the end and copies the final classifier's logits (batch × classes). 0 ok or < 0. */
int eng_final(eng *e, float *logits);
/* Backbone and exit-head MACs executed since eng_begin (an exit evaluated twice counts twice);
 * either pointer may be NULL. */
void eng_macs(const eng *e, uint64_t *backbone, uint64_t *exit);
int eng_position(const eng *e);      /* ops run so far: the next op to run */
int eng_batch(const eng *e);         /* samples of the current batch; 0 before eng_begin */
const char *eng_error(const eng *e); /* message of the last failing call, "" when none */

/* Kernel descriptors of a backbone conv op, of exit x's 1×1 codebook conv with module b, and of
 * a pooling op, for a batch (shared with the trainer). */
kern_conv2d_desc eng_conv_desc(const net_op *o, int batch);
kern_conv2d_desc eng_head_desc(const net_exit *x, const net_bof *b, int batch);
kern_pool_desc eng_pool_desc(const net_op *o, int batch);

#endif /* PESIM_ENG_H */
