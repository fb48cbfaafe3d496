/* The column values of the rows the result writer stages (one description per table, shared by
 * the bound INSERT and the staged path, so both store the same values), and eponymous SQLite
 * virtual tables over the staged rows: one per table, read front to back by "INSERT INTO t
 * SELECT * FROM pesim_staged_t". One such statement per batch costs SQLite about half the time
 * of stepping a bound INSERT per row (docs/performance.md), and inserting is most of a run. */
#include "db_stage.h"

#include <math.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

const size_t DB_STAGE_ROW_SIZE[DB_STAGE_TABLES] = {
    [DB_STAGE_INFERENCES] = sizeof(db_inference),
    [DB_STAGE_EXIT_EVALS] = sizeof(db_exit_eval),
    [DB_STAGE_SEGMENTS] = sizeof(db_staged_segment),
    [DB_STAGE_DVFS] = sizeof(db_dvfs),
};

static const char *const MODULE[DB_STAGE_TABLES] = {
    [DB_STAGE_INFERENCES] = "pesim_staged_inferences",
    [DB_STAGE_EXIT_EVALS] = "pesim_staged_exit_evals",
    [DB_STAGE_SEGMENTS] = "pesim_staged_segments",
    [DB_STAGE_DVFS] = "pesim_staged_dvfs_transitions",
};

const char *const DB_STAGE_INSERT_SQL[DB_STAGE_TABLES] = {
    [DB_STAGE_INFERENCES] = "INSERT INTO inferences SELECT * FROM pesim_staged_inferences",
    [DB_STAGE_EXIT_EVALS] = "INSERT INTO exit_evals SELECT * FROM pesim_staged_exit_evals",
    [DB_STAGE_SEGMENTS] = "INSERT INTO segments SELECT * FROM pesim_staged_segments",
    [DB_STAGE_DVFS] = "INSERT INTO dvfs_transitions SELECT * FROM pesim_staged_dvfs_transitions",
};

/* Column lists (names only: the values carry their types) in each table's column order. */
static const char *const SCHEMA[DB_STAGE_TABLES] = {
    [DB_STAGE_INFERENCES] = "CREATE TABLE x(run_id, sample, label, pred, correct, exit_layer,"
                            " first_predicted_exit, n_exit_evals, n_predictions, n_mispredictions,"
                            " backbone_macs, exit_macs, predictor_ops, latency_ns, energy_nj,"
                            " deadline_met)",
    [DB_STAGE_EXIT_EVALS] = "CREATE TABLE x(run_id, sample, seq, layer, score, threshold, fired,"
                            " predicted_jump, true_first_exit)",
    [DB_STAGE_SEGMENTS] = "CREATE TABLE x(run_id, sample, seq, kind, first_layer, last_layer, opp,"
                          " freq_mhz, vdd_v, time_ns, compute_nj, memory_nj, static_nj, energy_nj,"
                          " dram_nj)",
    [DB_STAGE_DVFS] = "CREATE TABLE x(run_id, sample, seq, at_ns, from_opp, to_opp, from_mhz,"
                      " to_mhz, latency_ns, energy_nj)",
};

/* What a module's pAux points to: the table and its stage. */
typedef struct source {
    int table;
    db_stage *stage;
} source;

typedef struct stage_vtab {
    sqlite3_vtab base;
    source src;
} stage_vtab;

typedef struct stage_cursor {
    sqlite3_vtab_cursor base;
    size_t i; /* the row under the cursor */
} stage_cursor;

static int st_connect(sqlite3 *h, void *aux, int argc, const char *const *argv, sqlite3_vtab **out,
                      char **err)
{
    (void)argc;
    (void)argv;
    (void)err;
    const source *src = aux;
    int rc = sqlite3_declare_vtab(h, SCHEMA[src->table]);
    if (rc != SQLITE_OK) return rc;
    stage_vtab *v = sqlite3_malloc(sizeof *v);
    if (!v) return SQLITE_NOMEM;
    memset(v, 0, sizeof *v);
    v->src = *src;
    *out = &v->base;
    return SQLITE_OK;
}

static int st_disconnect(sqlite3_vtab *v)
{
    sqlite3_free(v);
    return SQLITE_OK;
}

static int st_best_index(sqlite3_vtab *v, sqlite3_index_info *info)
{
    const stage_vtab *sv = (const stage_vtab *)v;
    info->estimatedRows = (sqlite3_int64)sv->src.stage->n;
    info->estimatedCost = (double)sv->src.stage->n + 1.0; /* one full scan, no constraints used */
    return SQLITE_OK;
}

static int st_open(sqlite3_vtab *v, sqlite3_vtab_cursor **out)
{
    (void)v;
    stage_cursor *c = sqlite3_malloc(sizeof *c);
    if (!c) return SQLITE_NOMEM;
    memset(c, 0, sizeof *c);
    *out = &c->base;
    return SQLITE_OK;
}

static int st_close(sqlite3_vtab_cursor *c)
{
    sqlite3_free(c);
    return SQLITE_OK;
}

static int st_filter(sqlite3_vtab_cursor *c, int idx, const char *idx_str, int argc,
                     sqlite3_value **argv)
{
    (void)idx;
    (void)idx_str;
    (void)argc;
    (void)argv;
    ((stage_cursor *)c)->i = 0;
    return SQLITE_OK;
}

static int st_next(sqlite3_vtab_cursor *c)
{
    ((stage_cursor *)c)->i++;
    return SQLITE_OK;
}

static int st_eof(sqlite3_vtab_cursor *c)
{
    const stage_vtab *v = (const stage_vtab *)c->pVtab;
    return ((const stage_cursor *)c)->i >= v->src.stage->n;
}

static int st_rowid(sqlite3_vtab_cursor *c, sqlite3_int64 *id)
{
    *id = (sqlite3_int64)((const stage_cursor *)c)->i;
    return SQLITE_OK;
}

/* How a struct field is stored: its C type, and whether -1 / NaN mean NULL. */
typedef enum col_type {
    C_I64,      /* int64_t */
    C_I32,      /* int32_t */
    C_BOOL,     /* bool, stored 0 or 1 */
    C_I32_OPT,  /* int32_t, -1 is NULL */
    C_REAL,     /* double */
    C_REAL_OPT, /* double, NaN is NULL */
    C_KIND,     /* a segment's kind: the string passed beside the row */
    C_SEG_SUM,  /* a segment's energy_nj: (compute + memory) + static, in that order, so that it
                   is bit-identical however the row was written */
} col_type;

typedef struct col {
    col_type type;
    size_t off;
} col;

/* Each table's columns in order, with the field of its row struct they come from. */
static const col INFERENCE_COLS[] = {
    {C_I64, offsetof(db_inference, run_id)},
    {C_I64, offsetof(db_inference, sample)},
    {C_I32, offsetof(db_inference, label)},
    {C_I32, offsetof(db_inference, pred)},
    {C_BOOL, offsetof(db_inference, correct)},
    {C_I32, offsetof(db_inference, exit_layer)},
    {C_I32_OPT, offsetof(db_inference, first_predicted_exit)},
    {C_I32, offsetof(db_inference, n_exit_evals)},
    {C_I32, offsetof(db_inference, n_predictions)},
    {C_I32, offsetof(db_inference, n_mispredictions)},
    {C_I64, offsetof(db_inference, backbone_macs)},
    {C_I64, offsetof(db_inference, exit_macs)},
    {C_I64, offsetof(db_inference, predictor_ops)},
    {C_REAL_OPT, offsetof(db_inference, latency_ns)},
    {C_REAL_OPT, offsetof(db_inference, energy_nj)},
    {C_I32_OPT, offsetof(db_inference, deadline_met)},
};
static const col EXIT_EVAL_COLS[] = {
    {C_I64, offsetof(db_exit_eval, run_id)},
    {C_I64, offsetof(db_exit_eval, sample)},
    {C_I32, offsetof(db_exit_eval, seq)},
    {C_I32, offsetof(db_exit_eval, layer)},
    {C_REAL, offsetof(db_exit_eval, score)},
    {C_REAL, offsetof(db_exit_eval, threshold)},
    {C_BOOL, offsetof(db_exit_eval, fired)},
    {C_I32_OPT, offsetof(db_exit_eval, predicted_jump)},
    {C_I32_OPT, offsetof(db_exit_eval, true_first_exit)},
};
static const col SEGMENT_COLS[] = {
    {C_I64, offsetof(db_segment, run_id)},      {C_I64, offsetof(db_segment, sample)},
    {C_I32, offsetof(db_segment, seq)},         {C_KIND, 0},
    {C_I32, offsetof(db_segment, first_layer)}, {C_I32, offsetof(db_segment, last_layer)},
    {C_I32, offsetof(db_segment, opp)},         {C_REAL, offsetof(db_segment, freq_mhz)},
    {C_REAL, offsetof(db_segment, vdd_v)},      {C_REAL, offsetof(db_segment, time_ns)},
    {C_REAL, offsetof(db_segment, compute_nj)}, {C_REAL, offsetof(db_segment, memory_nj)},
    {C_REAL, offsetof(db_segment, static_nj)},  {C_SEG_SUM, 0},
    {C_REAL, offsetof(db_segment, dram_nj)},
};
static const col DVFS_COLS[] = {
    {C_I64, offsetof(db_dvfs, run_id)},      {C_I64, offsetof(db_dvfs, sample)},
    {C_I32, offsetof(db_dvfs, seq)},         {C_REAL, offsetof(db_dvfs, at_ns)},
    {C_I32, offsetof(db_dvfs, from_opp)},    {C_I32, offsetof(db_dvfs, to_opp)},
    {C_REAL, offsetof(db_dvfs, from_mhz)},   {C_REAL, offsetof(db_dvfs, to_mhz)},
    {C_REAL, offsetof(db_dvfs, latency_ns)}, {C_REAL, offsetof(db_dvfs, energy_nj)},
};

static const struct {
    const col *cols;
    int n;
} COLS[DB_STAGE_TABLES] = {
    [DB_STAGE_INFERENCES] = {INFERENCE_COLS, sizeof INFERENCE_COLS / sizeof INFERENCE_COLS[0]},
    [DB_STAGE_EXIT_EVALS] = {EXIT_EVAL_COLS, sizeof EXIT_EVAL_COLS / sizeof EXIT_EVAL_COLS[0]},
    [DB_STAGE_SEGMENTS] = {SEGMENT_COLS, sizeof SEGMENT_COLS / sizeof SEGMENT_COLS[0]},
    [DB_STAGE_DVFS] = {DVFS_COLS, sizeof DVFS_COLS / sizeof DVFS_COLS[0]},
};

int db_row_columns(int table)
{
    return COLS[table].n;
}

db_value db_row_value(int table, const void *row, const char *kind, int column)
{
    const col *c = &COLS[table].cols[column];
    const char *p = (const char *)row + c->off;
    db_value v = {.type = SQLITE_INTEGER};
    switch (c->type) {
    case C_I64:
        memcpy(&v.i, p, sizeof(int64_t));
        break;
    case C_I32:
    case C_I32_OPT: {
        int32_t x;
        memcpy(&x, p, sizeof x);
        v.i = x;
        if (c->type == C_I32_OPT && x == -1) v.type = SQLITE_NULL;
        break;
    }
    case C_BOOL: {
        bool x;
        memcpy(&x, p, sizeof x);
        v.i = x;
        break;
    }
    case C_REAL:
    case C_REAL_OPT:
        memcpy(&v.f, p, sizeof(double));
        v.type = c->type == C_REAL_OPT && isnan(v.f) ? SQLITE_NULL : SQLITE_FLOAT;
        break;
    case C_KIND:
        v.type = kind ? SQLITE_TEXT : SQLITE_NULL;
        v.s = kind;
        break;
    case C_SEG_SUM: {
        const db_segment *g = row;
        v.type = SQLITE_FLOAT;
        v.f = (g->compute_nj + g->memory_nj) + g->static_nj;
        break;
    }
    }
    return v;
}

static int st_column(sqlite3_vtab_cursor *c, sqlite3_context *x, int column)
{
    const stage_vtab *v = (const stage_vtab *)c->pVtab;
    int t = v->src.table;
    const char *row =
        (const char *)v->src.stage->rows + ((const stage_cursor *)c)->i * DB_STAGE_ROW_SIZE[t];
    const char *kind =
        t == DB_STAGE_SEGMENTS ? ((const db_staged_segment *)(const void *)row)->kind : NULL;
    db_value val = db_row_value(t, row, kind, column);
    switch (val.type) {
    case SQLITE_INTEGER:
        sqlite3_result_int64(x, val.i);
        break;
    case SQLITE_FLOAT:
        sqlite3_result_double(x, val.f);
        break;
    case SQLITE_TEXT:
        sqlite3_result_text(x, val.s, -1, SQLITE_STATIC);
        break;
    default:
        sqlite3_result_null(x);
        break;
    }
    return SQLITE_OK;
}

/* xCreate NULL: eponymous-only, usable by name, never created in (or stored by) a file. */
static const sqlite3_module STAGE_MODULE = {
    .iVersion = 1,
    .xCreate = NULL,
    .xConnect = st_connect,
    .xBestIndex = st_best_index,
    .xDisconnect = st_disconnect,
    .xDestroy = st_disconnect,
    .xOpen = st_open,
    .xClose = st_close,
    .xFilter = st_filter,
    .xNext = st_next,
    .xEof = st_eof,
    .xColumn = st_column,
    .xRowid = st_rowid,
};

static void free_source(void *p)
{
    sqlite3_free(p);
}

int db_stage_register(sqlite3 *h, db_stage stages[DB_STAGE_TABLES])
{
    for (int t = 0; t < DB_STAGE_TABLES; t++) {
        source *src = sqlite3_malloc(sizeof *src);
        if (!src) return SQLITE_NOMEM;
        *src = (source){.table = t, .stage = &stages[t]};
        int rc = sqlite3_create_module_v2(h, MODULE[t], &STAGE_MODULE, src, free_source);
        if (rc != SQLITE_OK) return rc; /* the destructor has freed src */
    }
    return SQLITE_OK;
}
