/* Rows staged in memory by the result writer (DB_ROWS_STAGED), and the SQLite virtual tables
 * that read them, so that a whole batch goes into its table with one INSERT ... SELECT instead
 * of one bound INSERT per row. Internal to db.c. */
#ifndef PESIM_DB_STAGE_H
#define PESIM_DB_STAGE_H

#include <stddef.h>

#include "db.h"

typedef struct sqlite3 sqlite3;

/* The tables whose rows are staged, in the order a batch writes them. */
enum {
    DB_STAGE_INFERENCES,
    DB_STAGE_EXIT_EVALS,
    DB_STAGE_SEGMENTS,
    DB_STAGE_DVFS,
    DB_STAGE_TABLES
};

/* The rows of one table held until their batch is written: n rows of DB_STAGE_ROW_SIZE[t] bytes
 * (db_inference, db_exit_eval, db_staged_segment or db_dvfs). */
typedef struct db_stage {
    void *rows;
    size_t n, cap;
} db_stage;

/* A segment row as staged: its kind copied (the caller's string need not outlive the call). */
typedef struct db_staged_segment {
    db_segment row; /* row.kind is NULL */
    char kind[DB_KIND_CHARS];
} db_staged_segment;

extern const size_t DB_STAGE_ROW_SIZE[DB_STAGE_TABLES];

/* The statement that inserts every staged row of table t into it, e.g. "INSERT INTO inferences
 * SELECT * FROM pesim_staged_inferences". Columns come out as the direct writer binds them:
 * -1 indices and NaN reals as NULL, a segment's energy_nj as (compute + memory) + static. */
extern const char *const DB_STAGE_INSERT_SQL[DB_STAGE_TABLES];

/* Register the virtual tables on connection h, table t reading stages[t] (which must outlive
 * h). SQLITE_OK or an SQLite error code. */
int db_stage_register(sqlite3 *h, db_stage stages[DB_STAGE_TABLES]);

#endif
