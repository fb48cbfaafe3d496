/* Logit traces (DESIGN sections 2 and 7): every exit's and the final classifier's logits for each
 * sample of a functional run, so that a trace-driven run replays the same exits fast. Writing,
 * loading with full validation, accessors, the threshold rule, and CSV/NPY import and CSV export.
 *
 * File format (an SQLite database, format_version 1; traces/README.md says the same):
 *   meta(key TEXT PRIMARY KEY, value TEXT) STRICT: format = "pesim-trace", format_version = "1",
 *       classes = C, exits = E (exits, the final classifier not counted), then optional
 *       provenance: arch (net_arch_text of the network, when known), arch_sha256, model (path),
 *       dataset, split, first_sample, source ("pesim infer" | "import csv" | "import npy"),
 *       threshold_rule, created_at (UTC ISO-8601, added when the writer is not given it), ...
 *   exits(exit INTEGER PRIMARY KEY, name TEXT NOT NULL, threshold REAL, backbone_macs INTEGER,
 *       head_macs INTEGER) STRICT: rows 0 .. E; the last is the final classifier, named "final",
 *       with a NULL threshold. threshold is T_l (finite, >= 0); backbone_macs the cumulative
 *       backbone MACs up to the exit's op, head_macs the exit head's own MACs (both >= 0, NULL
 *       when unknown, e.g. an import without a network). Names are unique and non-empty.
 *   samples(sample INTEGER PRIMARY KEY, label INTEGER NOT NULL, logits BLOB NOT NULL) STRICT:
 *       sample is the dataset index (>= 0), label in 0 .. C - 1, logits (E + 1) · C
 *       little-endian float32, exit-major (exit 0's C classes first, the final classifier's
 *       last), all finite. A trace holds at least one sample.
 * A loaded trace keeps its samples in ascending sample order. */
#ifndef PESIM_TRACE_H
#define PESIM_TRACE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Status codes; 0 is success. */
enum trace_status {
    TRACE_OK = 0,
    TRACE_EARG = -1,    /* a bad argument (header, label, non-finite logit, reserved key, ...) */
    TRACE_ENOMEM = -2,  /* out of memory */
    TRACE_EIO = -3,     /* a file could not be opened, read, written or renamed */
    TRACE_EFORMAT = -4, /* not a valid trace, CSV or NPY file */
};

#define TRACE_FORMAT         "pesim-trace" /* meta 'format' value */
#define TRACE_FORMAT_VERSION 1             /* newest format version written and read */
#define TRACE_FINAL_NAME     "final"       /* name of the last exits row */
#define TRACE_MAX_EXITS      4096          /* exits (final not counted) a trace may hold */

/* What a writer records besides the samples. Arrays are read during trace_writer_open only. */
typedef struct trace_header {
    int classes;                    /* C: 2 .. 65536 */
    int exits;                      /* E: exits, the final classifier not counted */
    const char *const *names;       /* E + 1 names, the last "final"; NULL: exit0 .. final */
    const double *thresholds;       /* E values T_l, finite and >= 0 */
    const int64_t *backbone_macs;   /* E + 1 values (< 0: unknown) or NULL (all unknown) */
    const int64_t *head_macs;       /* likewise */
    const char *const *meta_keys;   /* provenance; not format, format_version, classes, exits */
    const char *const *meta_values; /* their values, same order */
    int n_meta;
} trace_header;

/* A trace in memory: loaded from a file or imported. */
typedef struct trace trace;

/* ---- writing ---- */

/* Writes PATH.tmp in one transaction; trace_writer_finish renames it into place. */
typedef struct trace_writer trace_writer;
/* Check h, create path.tmp (replacing a stale one) and write the header into *out. 0 ok, else a
 * negative trace_status with a one-line message naming path in err; *out NULL then. */
int trace_writer_open(trace_writer **out, const char *path, const trace_header *h, char *err,
                      size_t errlen);
/* Add one sample: id >= 0, never added before; label in 0 .. C - 1; (E + 1) · C finite logits,
 * exit-major. 0 ok, else a negative trace_status (the sample is not written). */
int trace_writer_add(trace_writer *w, int64_t sample, int label, const float *logits, char *err,
                     size_t errlen);
/* Commit, close and rename path.tmp to path, then free w. Refuses a trace with no samples or
 * after a failed write (the temporary is removed). 0 ok, else a negative trace_status. */
int trace_writer_finish(trace_writer *w, char *err, size_t errlen);
void trace_writer_abort(trace_writer *w); /* roll back, remove path.tmp, free; NULL is a no-op */
/* Write every sample of t (h->classes and h->exits must match it) to path with header h, as
 * open + add + finish. 0 ok, else a negative trace_status with a message in err. */
int trace_save(const trace *t, const char *path, const trace_header *h, char *err, size_t errlen);

/* ---- loading and reading ---- */

/* Open path read-only, check everything the format promises and read it into memory (one
 * contiguous logit array) into *out (NULL on failure). 0 ok, else a negative trace_status with a
 * one-line message naming path (and the sample or exit) in err. */
int trace_load(const char *path, trace **out, char *err, size_t errlen);
void trace_free(trace *t); /* free a trace; NULL is a no-op */

size_t trace_samples(const trace *t);                /* samples held (>= 1) */
int trace_classes(const trace *t);                   /* C */
int trace_exits(const trace *t);                     /* E, the final classifier not counted */
int64_t trace_sample_id(const trace *t, size_t i);   /* dataset index of sample i; -1 if none */
int trace_label(const trace *t, size_t i);           /* label of sample i; -1 if none */
const float *trace_logits(const trace *t, size_t i); /* (E + 1) · C floats of sample i; NULL */
const float *trace_exit_logits(const trace *t, size_t i, int l); /* C floats of exit l; NULL */
/* Index of the sample with dataset index id (binary search); -1 when absent. */
long long trace_find(const trace *t, int64_t id);
double trace_threshold(const trace *t, int l);           /* T_l; NAN for "final" or out of range */
const char *trace_exit_name(const trace *t, int l);      /* exit l's name (E: "final"); NULL */
int64_t trace_backbone_macs(const trace *t, int l);      /* cumulative backbone MACs; -1 unknown */
int64_t trace_head_macs(const trace *t, int l);          /* exit head MACs; -1 unknown */
const char *trace_meta(const trace *t, const char *key); /* any meta value; NULL if absent */

/* ---- statistics ---- */

/* T_l for l in 0 .. E - 1 over the first n samples (0 or more than held: all), pesim's rule for
 * trained models (models/train.h): the mean of max_c |z_c| of exit l, the max taken in float
 * and the sum in double in sample order. Returns the samples used, 0 on a bad argument. */
size_t trace_thresholds_rule(const trace *t, size_t n, double *thresholds);
/* Over all samples, exit l's accuracy (argmax, the first maximum on ties, equals the label)
 * and its mean max_c |z_c|. 0 ok, TRACE_EARG for a bad l. */
int trace_exit_stats(const trace *t, int l, double *accuracy, double *mean_max_abs);
/* Summary: samples, classes, exits, meta, and per exit name, T_l, accuracy %, mean max|z|,
 * MACs. path is only printed. 0 ok, TRACE_EIO on a write error. */
int trace_print_info(const trace *t, const char *path, FILE *out);

/* ---- import and export ---- */

/* CSV: a header "sample,label,exit,z0,...,z{C-1}", then one row per (sample, exit), exits 0 .. E
 * (E = the final classifier) ascending and grouped by sample; every sample has E + 1 rows with
 * one label. Samples may come in any order; the result is sorted by sample. Default exit names
 * exit0 .. exit{E-1}, final; thresholds NAN (compute them with trace_thresholds_rule). 0 ok,
 * else a negative trace_status with "FILE:LINE: message" (or "FILE: message") in err. */
int trace_import_csv(const char *path, int classes, trace **out, char *err, size_t errlen);
/* NPY (format 1.0 or 2.0): logits '<f4' or '<f8' (converted to float32) of shape (N, E + 1, C)
 * in C order; labels a 1-D array of N '<i8', '<i4', '|u1' or '<u1' values. Sample ids 0 .. N-1.
 * Returns as trace_import_csv. */
int trace_import_npy(const char *path, const char *labels_path, int classes, trace **out, char *err,
                     size_t errlen);
/* Write t as the CSV trace_import_csv reads (logits as %.9g, which round-trips float32),
 * atomically via path.tmp. 0 ok, else a negative trace_status with a message in err. */
int trace_export_csv(const trace *t, const char *path, char *err, size_t errlen);

#endif /* PESIM_TRACE_H */
