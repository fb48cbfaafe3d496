/* `pesim bench` result-database figures: rows/s of a bare prepared INSERT loop in one transaction
 * (the ceiling of stepping one INSERT per row on this machine) against db_add_inference through
 * the batching writer, rows inserted directly and rows staged (one INSERT ... SELECT per batch,
 * as runs write), and the time a cascade delete of the benchmarked run takes. */
#include "bench.h"
#include "db.h"

#include <inttypes.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum {
    BENCH_DB_MIN_ROWS = 200000,    /* each loop writes at least this many rows */
    BENCH_DB_CLOCK_EVERY = 1024,   /* rows between two reads of the clock */
    BENCH_DB_ERR = PATH_MAX + 512, /* a path and an SQLite message */
    BENCH_DB_COLUMNS = 16,         /* columns of an inference row */
};

static const double NS_PER_S = 1e9;
static const double MS_PER_S = 1e3;

/* The bare table: the 16 columns of `inferences` with its primary key and layout, nothing else
 * (no foreign key, no CHECK, no NOT NULL). */
static const char BARE_SQL[] =
    "PRAGMA page_size = 16384; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
    "CREATE TABLE bare (run_id INTEGER, sample INTEGER, label INTEGER, pred INTEGER,"
    " correct INTEGER, exit_layer INTEGER, first_predicted_exit INTEGER, n_exit_evals INTEGER,"
    " n_predictions INTEGER, n_mispredictions INTEGER, backbone_macs INTEGER, exit_macs INTEGER,"
    " predictor_ops INTEGER, latency_ns REAL, energy_nj REAL, deadline_met INTEGER,"
    " PRIMARY KEY (run_id, sample)) STRICT, WITHOUT ROWID";
static const char BARE_INSERT[] = "INSERT INTO bare VALUES "
                                  "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, "
                                  "?15, ?16)";

/* Files of one benchmark database (the database, its WAL, shared-memory index and journal). */
static const char *const DB_SUFFIXES[] = {"", "-wal", "-shm", "-journal"};

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / NS_PER_S;
}

/* Row i of the benchmark: varied, plausible values, a third of first_predicted_exit NULL. */
static db_inference bench_row(int64_t run_id, int64_t i)
{
    db_inference r = {
        .run_id = run_id,
        .sample = i,
        .label = (int32_t)(i % 10),
        .pred = (int32_t)((i * 7) % 10),
        .exit_layer = (int32_t)(i % 5),
        .first_predicted_exit = i % 3 == 0 ? -1 : (int32_t)(i % 4),
        .n_exit_evals = (int32_t)(1 + i % 4),
        .n_predictions = (int32_t)(i % 3),
        .n_mispredictions = (int32_t)(i % 7 == 0),
        .backbone_macs = 398000000 + i % 1000 * 1000,
        .exit_macs = 120000 + i % 100,
        .predictor_ops = 64 * (i % 3),
        .latency_ns = 1.25e6 + (double)(i % 9973) * 0.37,
        .energy_nj = 5.5e4 + (double)(i % 7919) * 0.11,
        .deadline_met = i % 11 != 0,
    };
    r.correct = r.label == r.pred;
    return r;
}

/* True once a loop has run long enough and written enough rows. */
static bool loop_done(int64_t rows, double t0, double min_seconds, double *t)
{
    if (rows < BENCH_DB_MIN_ROWS || rows % BENCH_DB_CLOCK_EVERY) return false;
    *t = now_s();
    return *t - t0 >= min_seconds;
}

/* Bind row r to the bare INSERT and step it; an SQLite result code. */
static int bare_insert(sqlite3_stmt *s, const db_inference *r)
{
    int rc = sqlite3_bind_int64(s, 1, r->run_id);
    rc |= sqlite3_bind_int64(s, 2, r->sample);
    rc |= sqlite3_bind_int(s, 3, r->label);
    rc |= sqlite3_bind_int(s, 4, r->pred);
    rc |= sqlite3_bind_int(s, 5, r->correct);
    rc |= sqlite3_bind_int(s, 6, r->exit_layer);
    rc |= r->first_predicted_exit == -1 ? sqlite3_bind_null(s, 7)
                                        : sqlite3_bind_int(s, 7, r->first_predicted_exit);
    rc |= sqlite3_bind_int(s, 8, r->n_exit_evals);
    rc |= sqlite3_bind_int(s, 9, r->n_predictions);
    rc |= sqlite3_bind_int(s, 10, r->n_mispredictions);
    rc |= sqlite3_bind_int64(s, 11, r->backbone_macs);
    rc |= sqlite3_bind_int64(s, 12, r->exit_macs);
    rc |= sqlite3_bind_int64(s, 13, r->predictor_ops);
    rc |= sqlite3_bind_double(s, 14, r->latency_ns);
    rc |= sqlite3_bind_double(s, 15, r->energy_nj);
    rc |= sqlite3_bind_int(s, BENCH_DB_COLUMNS, r->deadline_met);
    if (rc != SQLITE_OK) return SQLITE_MISUSE;
    rc = sqlite3_step(s);
    sqlite3_reset(s); /* repeats step's code, already in rc */
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* (a) The ceiling: a prepared INSERT of 16-column rows in one transaction on a fresh file. */
static int bench_bare(const char *path, double min_seconds, int64_t *rows, double *secs, char *err,
                      size_t errlen)
{
    sqlite3 *h = NULL;
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_open_v2(
        path, &h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_exec(h, BARE_SQL, NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v3(h, BARE_INSERT, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL);
    double t0 = now_s(), t = t0;
    if (rc == SQLITE_OK) rc = sqlite3_exec(h, "BEGIN", NULL, NULL, NULL);
    int64_t n = 0;
    while (rc == SQLITE_OK && !loop_done(n, t0, min_seconds, &t)) {
        db_inference r = bench_row(1, n);
        rc = bare_insert(s, &r);
        n++;
    }
    if (rc == SQLITE_OK) rc = sqlite3_exec(h, "COMMIT", NULL, NULL, NULL);
    *secs = now_s() - t0;
    *rows = n;
    if (rc != SQLITE_OK)
        snprintf(err, errlen, "%s: %s", path, h ? sqlite3_errmsg(h) : sqlite3_errstr(rc));
    sqlite3_finalize(s);
    sqlite3_close(h);
    return rc == SQLITE_OK ? 0 : -1;
}

/* db_add_inference with default batching in row mode mode, then the cascade delete of that run
 * by a forced db_run_begin. */
static int bench_writer(const char *path, db_row_mode mode, double min_seconds, int64_t *rows,
                        double *secs, double *delete_s, char *err, size_t errlen)
{
    static const char SHA[] = "000000000000000000000000000000000000000000000000000000000000bec4";
    db_run_spec spec = {.config_text = "[experiment]\nmodel = bench\n",
                        .config_sha256 = SHA,
                        .seed = 1,
                        .pesim_version = "bench"};
    db *d = NULL;
    int64_t run_id = 0, n = 0;
    db_begin_outcome outcome;
    int rc = db_open(&d, path, DB_CREATE, err, errlen);
    if (rc) return rc;
    rc = db_run_begin(d, &spec, false, &run_id, &outcome, err, errlen);
    if (!rc && db_set_row_mode(d, mode)) rc = -1;
    double t0 = now_s(), t = t0;
    while (!rc && !loop_done(n, t0, min_seconds, &t)) {
        db_inference r = bench_row(run_id, n);
        rc = db_add_inference(d, &r);
        n++;
    }
    if (!rc) rc = db_commit(d);
    *secs = now_s() - t0;
    *rows = n;
    if (rc) snprintf(err, errlen, "%s", db_errmsg(d));
    if (!rc && db_set_row_mode(d, DB_ROWS_DIRECT)) rc = -1;
    if (!rc) rc = db_run_end(d, run_id, "done", err, errlen);
    if (!rc) {
        t0 = now_s();
        rc = db_run_begin(d, &spec, true, &run_id, &outcome, err, errlen);
        *delete_s = now_s() - t0;
    }
    db_close(d);
    return rc;
}

void bench_remove_db(const char *path)
{
    for (size_t i = 0; i < sizeof DB_SUFFIXES / sizeof DB_SUFFIXES[0]; i++) {
        char p[PATH_MAX];
        if (snprintf(p, sizeof p, "%s%s", path, DB_SUFFIXES[i]) < (int)sizeof p) unlink(p);
    }
}

int bench_db(FILE *out, const char *dir, double min_seconds)
{
    char tmp[PATH_MAX], bare[PATH_MAX], writer[PATH_MAX], err[BENCH_DB_ERR] = "";
    if (!out || !dir) return -1;
    if (snprintf(tmp, sizeof tmp, "%s/pesim-bench-db-XXXXXX", dir) >= (int)sizeof tmp ||
        !mkdtemp(tmp)) {
        fprintf(stderr, "%s: cannot make a temporary directory\n", dir);
        return -1;
    }
    if (snprintf(bare, sizeof bare, "%s/bare.db", tmp) >= (int)sizeof bare ||
        snprintf(writer, sizeof writer, "%s/writer.db", tmp) >= (int)sizeof writer) {
        fprintf(stderr, "%s: path too long\n", tmp);
        rmdir(tmp);
        return -1;
    }
    int64_t bare_rows = 0, direct_rows = 0, staged_rows = 0;
    double bare_s = 0, direct_s = 0, staged_s = 0, delete_s = 0, unused = 0;
    int rc = bench_bare(bare, min_seconds, &bare_rows, &bare_s, err, sizeof err);
    bench_remove_db(bare);
    if (!rc)
        rc = bench_writer(writer, DB_ROWS_DIRECT, min_seconds, &direct_rows, &direct_s, &delete_s,
                          err, sizeof err);
    bench_remove_db(writer);
    if (!rc)
        rc = bench_writer(writer, DB_ROWS_STAGED, min_seconds, &staged_rows, &staged_s, &unused,
                          err, sizeof err);
    bench_remove_db(writer);
    rmdir(tmp);
    if (rc) {
        fprintf(stderr, "%s\n", err);
        return rc < 0 ? rc : -1;
    }

    double bare_rate = (double)bare_rows / bare_s, direct_rate = (double)direct_rows / direct_s,
           staged_rate = (double)staged_rows / staged_s;
    fprintf(out, "result database: SQLite %s, %d-column inference rows, files in %s\n",
            sqlite3_libversion(), BENCH_DB_COLUMNS, dir);
    fprintf(out,
            "  (a) bare prepared INSERT, one transaction  %10.0f rows/s  (%" PRId64
            " rows in %.2f s)\n",
            bare_rate, bare_rows, bare_s);
    fprintf(out,
            "  (b) db_add_inference direct, batch %-6d  %10.0f rows/s  (%" PRId64
            " rows in %.2f s)  %.2f of (a)\n",
            DB_DEFAULT_BATCH_ROWS, direct_rate, direct_rows, direct_s, direct_rate / bare_rate);
    fprintf(out,
            "  (c) db_add_inference staged (as runs)      %10.0f rows/s  (%" PRId64
            " rows in %.2f s)  %.2f of (a)\n",
            staged_rate, staged_rows, staged_s, staged_rate / bare_rate);
    fprintf(out, "  (d) cascade delete of run (b)              %10.1f ms     (%" PRId64 " rows)\n",
            delete_s * MS_PER_S, direct_rows);
    return ferror(out) ? -1 : 0;
}
