/* Result database: the SQLite writer behind every pesim run (schema in docs/schema.md).
 * STRICT tables, WAL, prepared statements reused, rows batched in transactions; the run
 * lifecycle (running/done/failed) makes a killed run redo cleanly and a done run skip. */
#ifndef PESIM_DB_H
#define PESIM_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Schema version stored in PRAGMA user_version; a newer file is refused. */
#define DB_SCHEMA_VERSION 2
/* Rows written per transaction unless db_set_batch_rows says otherwise. */
#define DB_DEFAULT_BATCH_ROWS 50000
/* Longest segment kind plus its NUL ("predictor"). */
#define DB_KIND_CHARS 16

/* A handle is used by one thread at a time. Functions returning int give 0 on success and
 * otherwise the negated SQLite primary result code (-SQLITE_CONSTRAINT, -SQLITE_READONLY, ...)
 * with a one-line message naming the file in err or db_errmsg(). */
typedef struct db db;

enum db_open_flags {
    DB_CREATE = 1 << 0,   /* create the file and schema when missing */
    DB_READONLY = 1 << 1, /* open read-only (db info, analysis) */
};

/* Open or create a result database. 0 ok; negative with a one-line message in err (names the
 * file: not a database, newer schema version, read-only, ...). */
int db_open(db **out, const char *path, unsigned flags, char *err, size_t errlen);
/* Commit any open batch and close; safe on NULL. A failed commit is rolled back: call db_commit
 * first to see its error. */
void db_close(db *d);
void db_set_batch_rows(db *d, unsigned rows); /* rows per transaction, >= 1 (0 means 1) */

/* How db_add_inference, db_add_exit_eval, db_add_segment and db_add_dvfs write:
 * - DB_ROWS_DIRECT (the default): each row is inserted at once into the open batch, so a bad
 *   row is reported by its own call; the batch holds the database's write lock from its first
 *   row to its commit.
 * - DB_ROWS_STAGED: rows are held in memory and a whole batch is inserted when it is full or on
 *   db_commit/db_run_end/db_close, so the write lock is held only while inserting and other
 *   writers (parallel sweep workers) get it while this one computes. A bad row is reported by
 *   the call that writes its batch, and the batch is then lost.
 * - DB_ROWS_DISCARD: rows are dropped (pesim bench measures the simulation without logging).
 * Switching commits what is pending. Rows of other tables are always written directly. */
typedef enum db_row_mode { DB_ROWS_DIRECT, DB_ROWS_STAGED, DB_ROWS_DISCARD } db_row_mode;
int db_set_row_mode(db *d, db_row_mode mode);
const char *db_path(const db *d);

/* What db_run_begin found for a config hash. */
typedef enum db_begin_outcome {
    DB_RUN_NEW,     /* no earlier run with this hash: a new run row */
    DB_RUN_REDO,    /* an earlier run was left running/failed (killed): its rows deleted, redone */
    DB_RUN_FORCED,  /* a done run was replaced because force was set */
    DB_RUN_SKIPPED, /* a done run exists and force was not set: nothing to do */
    DB_RUN_BUSY,    /* another live process on this host is writing the run: left alone */
} db_begin_outcome;

typedef struct db_run_spec {
    const char *config_text;   /* full effective config text */
    const char *config_sha256; /* 64 hex digits of SHA-256(config_text) */
    uint64_t seed;
    const char *pesim_version;
} db_run_spec;

/* Start (or skip) the run for spec. Sets *run_id (also for SKIPPED) and *outcome. Runs in its
 * own transaction. 0 ok, negative on error. */
int db_run_begin(db *d, const db_run_spec *spec, bool force, int64_t *run_id,
                 db_begin_outcome *outcome, char *err, size_t errlen);
/* The process id of the writer of the run the last db_run_begin found busy (DB_RUN_BUSY). A
 * running run records its writer (host, PID and process start time) as run_params key
 * run.process until db_run_end, so a run whose writer was killed is redone while one whose
 * writer is alive is not taken from it. */
long db_busy_pid(const db *d);
/* Record one effective parameter ("section.key", value) of a run (batched like rows; a key twice
 * is an error). */
int db_run_param(db *d, int64_t run_id, const char *key, const char *value);
/* Commit the batch, then set status ("done" or "failed") and the end time. */
int db_run_end(db *d, int64_t run_id, const char *status, char *err, size_t errlen);

/* Whether a done run with this config hash is in the database (*done false when there is none or
 * it is running/failed). 0 ok, negative on error. */
int db_run_done(db *d, const char *config_sha256, bool *done);

/* What db_merge did with one input. */
typedef struct db_merge_stats {
    int64_t runs_copied;   /* done runs copied, with fresh run_ids */
    int64_t runs_skipped;  /* done runs whose config hash is already done here */
    int64_t runs_not_done; /* running or failed runs of the input, left out */
    int64_t rows_copied;   /* rows of run_params, inferences, exit_evals, ... copied */
} db_merge_stats;

/* Copy every done run of the result database at in_path (same schema version; attached for the
 * copy) with all its rows and a fresh run_id into d, in one transaction: a run whose config hash
 * is already done in d is skipped, one left running or failed in d is replaced. 0 ok; negative
 * with a one-line message naming the file at fault (nothing copied). */
int db_merge(db *d, const char *in_path, db_merge_stats *st, char *err, size_t errlen);

/* One row of `inferences` (column names fixed by DESIGN section 7). */
typedef struct db_inference {
    int64_t run_id;
    int64_t sample;
    int32_t label, pred;
    bool correct;
    int32_t exit_layer;           /* exit index taken; the final classifier is the last index */
    int32_t first_predicted_exit; /* -1 when no prediction was made (stored NULL) */
    int32_t n_exit_evals, n_predictions, n_mispredictions;
    int64_t backbone_macs, exit_macs, predictor_ops;
    double latency_ns, energy_nj; /* NAN when no accelerator was simulated (stored NULL) */
    int32_t deadline_met;         /* 1 met, 0 missed, -1 not simulated (stored NULL) */
} db_inference;

/* One row of `exit_evals`: an exit head evaluated for a sample. */
typedef struct db_exit_eval {
    int64_t run_id, sample;
    int32_t seq;   /* order of evaluation within the sample, from 0 */
    int32_t layer; /* exit index */
    double score, threshold;
    bool fired;
    int32_t predicted_jump;  /* -1 when no prediction followed (stored NULL) */
    int32_t true_first_exit; /* -1 when unknown (stored NULL) */
} db_exit_eval;

/* One row of `segments`: a stretch of work at one OPP. */
typedef struct db_segment {
    int64_t run_id, sample;
    int32_t seq;      /* order within the sample, from 0 */
    const char *kind; /* "backbone", "exit", "predictor", "dvfs", "idle" */
    int32_t first_layer, last_layer;
    int32_t opp; /* OPP index */
    double freq_mhz, vdd_v, time_ns;
    double compute_nj, memory_nj, static_nj; /* energy by part; energy_nj is their sum */
    double dram_nj;                          /* the DRAM part of memory_nj */
} db_segment;

/* One row of `dvfs_transitions`. */
typedef struct db_dvfs {
    int64_t run_id, sample;
    int32_t seq;
    double at_ns;
    int32_t from_opp, to_opp;
    double from_mhz, to_mhz, latency_ns, energy_nj;
} db_dvfs;

/* One row of `layer_costs`: a layer at an OPP. */
typedef struct db_layer_cost {
    int64_t run_id;
    int32_t layer;
    const char *name;
    int32_t opp;
    double freq_mhz, vdd_v;
    int64_t cycles, macs;
    double time_ns, dynamic_nj, static_nj;
} db_layer_cost;

/* Append rows to the open batch (a transaction is begun when needed and committed every
 * batch_rows rows). 0 ok, negative on error (constraint violation, I/O). */
int db_add_inference(db *d, const db_inference *r);
int db_add_exit_eval(db *d, const db_exit_eval *r);
int db_add_segment(db *d, const db_segment *r);
int db_add_dvfs(db *d, const db_dvfs *r);
int db_add_layer_cost(db *d, const db_layer_cost *r);
int db_commit(db *d);               /* commit the open batch now */
const char *db_errmsg(const db *d); /* last error, one line */

/* Print schema version, runs and row counts of the database at path (opened read-only). */
int db_info(const char *path, FILE *out, char *err, size_t errlen);

#endif
