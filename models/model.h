/* Model files (DESIGN section 3): an SQLite database holding the architecture text and its hash,
 * every parameter tensor as a little-endian float32 BLOB, per-exit thresholds T_l and test
 * accuracies, and provenance; plus deterministic random initialisation of a network's tensors.
 *
 * Schema (format_version 1):
 *   meta(key TEXT PRIMARY KEY, value TEXT) STRICT: format = "pesim-model", format_version = "1",
 *       arch = net_arch_text() (one line, or for a layer-list network that line and the whole
 *       canonical layer list, so the file needs no other file), arch_sha256 = its SHA-256 in
 *       hex, then provenance (dataset, seed, epochs, command, created_at, ... as the caller
 *       gives them; created_at is added in UTC ISO-8601 when the caller does not give it).
 *   tensors(name TEXT PRIMARY KEY, shape TEXT NOT NULL, data BLOB NOT NULL) STRICT: shape is the
 *       dims joined by commas ("16,1,3,3"), data holds count little-endian float32 values.
 *   exits(exit INTEGER PRIMARY KEY, name TEXT NOT NULL, threshold REAL, test_accuracy REAL)
 *       STRICT: one row per exit 0 .. net_exit_count() - 1 and a last row for the final
 *       classifier ("final"). threshold is T_l (finite, >= 0) for exits and NULL for "final",
 *       which always answers. test_accuracy is a fraction in [0, 1], NULL when unknown. */
#ifndef PESIM_MODEL_H
#define PESIM_MODEL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "net.h"

/* Status codes; 0 is success. */
enum model_status {
    MODEL_OK = 0,
    MODEL_EARG = -1,    /* a bad argument (NULL, non-finite threshold, reserved key, ...) */
    MODEL_ENOMEM = -2,  /* out of memory */
    MODEL_EIO = -3,     /* the file could not be opened, written or renamed */
    MODEL_EFORMAT = -4, /* the file is not a valid pesim model for its architecture */
};

#define MODEL_FORMAT         "pesim-model" /* meta 'format' value */
#define MODEL_FORMAT_VERSION 1             /* newest format version written and read */

/* A loaded model. Arrays are owned by the model; model_free releases everything. */
typedef struct model {
    net *net;              /* the architecture, rebuilt from the file's arch text */
    float **params;        /* one array per net tensor, in net tensor order */
    int n_params;          /* net_tensor_count(net) */
    double *thresholds;    /* T_l per exit; the last entry ("final") is NAN */
    double *test_accuracy; /* fraction in [0, 1] per exit and final; NAN when unknown */
    int n_exits;           /* net_exit_count(net) + 1: exits plus the final classifier */
    char **prov_keys;      /* provenance keys (meta rows other than the four format rows) */
    char **prov_values;    /* their values, same order (sorted by key) */
    int n_prov;
} model;

/* Write a model file atomically (path.tmp, then rename) in one transaction. params has one
 * array per net tensor; thresholds has net_exit_count(n) entries (finite, >= 0); test_accuracy
 * has net_exit_count(n) + 1 entries (NAN = unknown) or is NULL (all unknown); n_prov provenance
 * pairs (keys must not be format, format_version, arch, arch_sha256). 0 ok, else a negative
 * model_status with a one-line message naming path in err. */
int model_save(const char *path, const net *n, const float *const *params, const double *thresholds,
               const double *test_accuracy, const char *const *prov_keys,
               const char *const *prov_values, int n_prov, char *err, size_t errlen);
/* Open path read-only, check it fully against its architecture and load it into *out (NULL on
 * failure). 0 ok, else a negative model_status with a one-line message naming path in err. */
int model_load(const char *path, model **out, char *err, size_t errlen);
void model_free(model *m);                               /* free a model; NULL is a no-op */
const char *model_prov(const model *m, const char *key); /* provenance value; NULL if absent */
/* Print arch (its first line), parameter count, file size, provenance and the exit table (index,
 * name, T_l, test accuracy %) to out; path is only used for its size. 0 ok, MODEL_EIO on a write
 * error, MODEL_ENOMEM. */
int model_print_info(const model *m, const char *path, FILE *out);

/* Allocate and initialise every tensor of n, deterministically from seed: He-uniform conv/FC
 * weights (bound sqrt(6 / fan_in)), zero biases, BN gamma 1 / beta 0 / mean 0 / var 1, BoF
 * scalars a = 1, c = 0, n1 = codewords, n2 = the module's window s (as the paper's code).
 * 0 ok, MODEL_EARG or MODEL_ENOMEM with err filled. */
int model_init_random(const net *n, uint64_t seed, float ***params_out, char *err, size_t errlen);
void model_free_params(float **p, int n); /* free n tensor arrays and the list; NULL is a no-op */

#endif /* PESIM_MODEL_H */
