/* Eponymous SQLite virtual tables over the rows the result writer stages in memory: one per
 * staged table, read front to back by "INSERT INTO t SELECT * FROM pesim_staged_t". One such
 * statement per batch costs SQLite about half the time of stepping a bound INSERT per row
 * (docs/performance.md), and SQLite's insert is most of a run's time. */
#include "db_stage.h"

#include <math.h>
#include <sqlite3.h>
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

/* An index where -1 means "none": NULL. */
static void opt_int(sqlite3_context *x, int32_t v)
{
    if (v == -1)
        sqlite3_result_null(x);
    else
        sqlite3_result_int(x, v);
}

/* A real that is NaN when absent: NULL. */
static void opt_real(sqlite3_context *x, double v)
{
    if (isnan(v))
        sqlite3_result_null(x);
    else
        sqlite3_result_double(x, v);
}

static void inference_column(sqlite3_context *x, const db_inference *r, int col)
{
    switch (col) {
    case 0:
        sqlite3_result_int64(x, r->run_id);
        break;
    case 1:
        sqlite3_result_int64(x, r->sample);
        break;
    case 2:
        sqlite3_result_int(x, r->label);
        break;
    case 3:
        sqlite3_result_int(x, r->pred);
        break;
    case 4:
        sqlite3_result_int(x, r->correct);
        break;
    case 5:
        sqlite3_result_int(x, r->exit_layer);
        break;
    case 6:
        opt_int(x, r->first_predicted_exit);
        break;
    case 7:
        sqlite3_result_int(x, r->n_exit_evals);
        break;
    case 8:
        sqlite3_result_int(x, r->n_predictions);
        break;
    case 9:
        sqlite3_result_int(x, r->n_mispredictions);
        break;
    case 10:
        sqlite3_result_int64(x, r->backbone_macs);
        break;
    case 11:
        sqlite3_result_int64(x, r->exit_macs);
        break;
    case 12:
        sqlite3_result_int64(x, r->predictor_ops);
        break;
    case 13:
        opt_real(x, r->latency_ns);
        break;
    case 14:
        opt_real(x, r->energy_nj);
        break;
    default:
        opt_int(x, r->deadline_met);
        break;
    }
}

static void exit_eval_column(sqlite3_context *x, const db_exit_eval *r, int col)
{
    switch (col) {
    case 0:
        sqlite3_result_int64(x, r->run_id);
        break;
    case 1:
        sqlite3_result_int64(x, r->sample);
        break;
    case 2:
        sqlite3_result_int(x, r->seq);
        break;
    case 3:
        sqlite3_result_int(x, r->layer);
        break;
    case 4:
        sqlite3_result_double(x, r->score);
        break;
    case 5:
        sqlite3_result_double(x, r->threshold);
        break;
    case 6:
        sqlite3_result_int(x, r->fired);
        break;
    case 7:
        opt_int(x, r->predicted_jump);
        break;
    default:
        opt_int(x, r->true_first_exit);
        break;
    }
}

static void segment_column(sqlite3_context *x, const db_staged_segment *s, int col)
{
    const db_segment *r = &s->row;
    switch (col) {
    case 0:
        sqlite3_result_int64(x, r->run_id);
        break;
    case 1:
        sqlite3_result_int64(x, r->sample);
        break;
    case 2:
        sqlite3_result_int(x, r->seq);
        break;
    case 3:
        sqlite3_result_text(x, s->kind, -1, SQLITE_STATIC);
        break;
    case 4:
        sqlite3_result_int(x, r->first_layer);
        break;
    case 5:
        sqlite3_result_int(x, r->last_layer);
        break;
    case 6:
        sqlite3_result_int(x, r->opp);
        break;
    case 7:
        sqlite3_result_double(x, r->freq_mhz);
        break;
    case 8:
        sqlite3_result_double(x, r->vdd_v);
        break;
    case 9:
        sqlite3_result_double(x, r->time_ns);
        break;
    case 10:
        sqlite3_result_double(x, r->compute_nj);
        break;
    case 11:
        sqlite3_result_double(x, r->memory_nj);
        break;
    case 12:
        sqlite3_result_double(x, r->static_nj);
        break;
    /* the total in the direct writer's order, so it is bit-identical */
    case 13:
        sqlite3_result_double(x, (r->compute_nj + r->memory_nj) + r->static_nj);
        break;
    default:
        sqlite3_result_double(x, r->dram_nj);
        break;
    }
}

static void dvfs_column(sqlite3_context *x, const db_dvfs *r, int col)
{
    switch (col) {
    case 0:
        sqlite3_result_int64(x, r->run_id);
        break;
    case 1:
        sqlite3_result_int64(x, r->sample);
        break;
    case 2:
        sqlite3_result_int(x, r->seq);
        break;
    case 3:
        sqlite3_result_double(x, r->at_ns);
        break;
    case 4:
        sqlite3_result_int(x, r->from_opp);
        break;
    case 5:
        sqlite3_result_int(x, r->to_opp);
        break;
    case 6:
        sqlite3_result_double(x, r->from_mhz);
        break;
    case 7:
        sqlite3_result_double(x, r->to_mhz);
        break;
    case 8:
        sqlite3_result_double(x, r->latency_ns);
        break;
    default:
        sqlite3_result_double(x, r->energy_nj);
        break;
    }
}

static int st_column(sqlite3_vtab_cursor *c, sqlite3_context *x, int col)
{
    const stage_vtab *v = (const stage_vtab *)c->pVtab;
    size_t i = ((const stage_cursor *)c)->i;
    const char *row = (const char *)v->src.stage->rows + i * DB_STAGE_ROW_SIZE[v->src.table];
    switch (v->src.table) {
    case DB_STAGE_INFERENCES:
        inference_column(x, (const db_inference *)(const void *)row, col);
        break;
    case DB_STAGE_EXIT_EVALS:
        exit_eval_column(x, (const db_exit_eval *)(const void *)row, col);
        break;
    case DB_STAGE_SEGMENTS:
        segment_column(x, (const db_staged_segment *)(const void *)row, col);
        break;
    default:
        dvfs_column(x, (const db_dvfs *)(const void *)row, col);
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
