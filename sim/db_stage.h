/* Rows staged in memory by the result writer (DB_ROWS_STAGED), and the SQLite virtual tables
 * that read them, so that a whole batch goes into its table with one INSERT ... SELECT instead
 * of one bound INSERT per row. Internal to db.c. */
#ifndef PESIM_DB_STAGE_H
#define PESIM_DB_STAGE_H

#include <stddef.h>
#include <stdint.h>

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

/* One column value of a row, as SQLite stores it: type SQLITE_INTEGER (i), SQLITE_FLOAT (f),
 * SQLITE_TEXT (s) or SQLITE_NULL. */
typedef struct db_value {
    int type;
    int64_t i;
    double f;
    const char *s;
} db_value;

/* Columns of table t. */
int db_row_columns(int table);
/* Column column of row (a db_inference, db_exit_eval, db_segment or db_dvfs for table t) as the
 * table stores it: -1 indices and NaN reals NULL, a segment's energy_nj the sum of its parts,
 * its kind the string kind (the row's own kind field is not read; NULL gives NULL). Both
 * writers, bound INSERT and staged INSERT ... SELECT, take their values from here. */
db_value db_row_value(int table, const void *row, const char *kind, int column);

/* Register the virtual tables on connection h, table t reading stages[t] (which must outlive
 * h). SQLITE_OK or an SQLite error code. */
int db_stage_register(sqlite3 *h, db_stage stages[DB_STAGE_TABLES]);

#endif
