/* cmocka tests of the result database (sim/db.c): schema and pragmas of a new file, rows read
 * back exactly through raw SQL, the run lifecycle and summary views against hand-computed values,
 * every promised error message, and a writer SIGKILLed mid-run whose database stays usable. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "db.h"

enum {
    ERR_LEN = 512,
    DIR_LEN = 64,
    PATH_LEN = 256,
    SHA_HEX = 64,
    SMALL_BATCH = 7,       /* rows per transaction in the round-trip test */
    ROUNDTRIP_ROWS = 50,   /* inference rows in the round-trip test */
    ROUNDTRIP_EVALS = 3,   /* exit evaluations per sample in the round-trip test */
    ROUNDTRIP_SAMPLES = 4, /* samples with evals, segments and transitions */
    ROUNDTRIP_LAYERS = 5,  /* layers x OPPs in layer_costs */
    ROUNDTRIP_OPPS = 2,
    LIFECYCLE_ROWS = 5,
    P99_ROWS = 200, /* latencies 1..200 ns: p99 is rank 198 */
    P99_RANK = 198,
    KILL_A_ROWS = 1234,      /* run A, completed before the kill */
    KILL_B_ROWS = 200000,    /* run B, killed while writing */
    KILL_BATCH = 1000,       /* rows per transaction in run B */
    KILL_SIGNAL_BATCHES = 5, /* committed batches before the child signals the parent */
    CONCURRENT_WRITERS = 3,  /* processes creating and writing one new file at once */
    CONCURRENT_ROWS = 20000, /* rows each of them writes */
    CONCURRENT_BATCH = 1000,
    DISK_FULL_BYTES = 1 << 20, /* file-size limit standing in for a full disk */
    STAGED_SAMPLES = 40,       /* samples of 7 rows each in the staged-rows test */
    STAGED_BATCH = 30,         /* rows per batch there: batches end mid-sample */
    GARBAGE_BYTES = 4096,
    CHILD_EXIT_FAILED = 3,
};

#define INFERENCE_COLUMN_LIST                                                                      \
    "sample, label, pred, correct, exit_layer, first_predicted_exit, n_exit_evals,"                \
    " n_predictions, n_mispredictions, backbone_macs, exit_macs, predictor_ops, latency_ns,"       \
    " energy_nj, deadline_met"

static const char *const INFERENCE_COLUMNS[] = {
    "run_id",
    "sample",
    "label",
    "pred",
    "correct",
    "exit_layer",
    "first_predicted_exit",
    "n_exit_evals",
    "n_predictions",
    "n_mispredictions",
    "backbone_macs",
    "exit_macs",
    "predictor_ops",
    "latency_ns",
    "energy_nj",
    "deadline_met",
};
enum { N_INFERENCE_COLUMNS = sizeof INFERENCE_COLUMNS / sizeof INFERENCE_COLUMNS[0] };

static const char *const TABLES[] = {
    "runs", "run_params", "inferences", "exit_evals", "segments", "dvfs_transitions", "layer_costs",
};
static const char *const VIEWS[] = {"run_summary", "exit_histogram", "time_split"};

/* Per-test temporary directory and database path. */
typedef struct fixture {
    char dir[DIR_LEN];
    char path[PATH_LEN];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f) return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/pesim-test-db-XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof f->path, "%s/results.db", f->dir);
    *state = f;
    return 0;
}

/* Remove every file of the temporary directory, then the directory. */
static int teardown(void **state)
{
    fixture *f = *state;
    DIR *dir = opendir(f->dir);
    if (dir) {
        struct dirent *e;
        while ((e = readdir(dir))) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            unlinkat(dirfd(dir), e->d_name, 0);
        }
        closedir(dir);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

/* A 64-hex-digit hash made of one repeated digit. */
static const char *sha_of(char digit, char buf[SHA_HEX + 1])
{
    memset(buf, digit, SHA_HEX);
    buf[SHA_HEX] = '\0';
    return buf;
}

static db_run_spec spec_of(const char *sha)
{
    db_run_spec spec = {.config_text = "[experiment]\nseed = 7\n",
                        .config_sha256 = sha,
                        .seed = 7,
                        .pesim_version = "0.1.0-test"};
    return spec;
}

/* A deterministic inference row exercising every column, NULLs included. */
static db_inference make_inference(int64_t run_id, int64_t sample)
{
    db_inference r = {
        .run_id = run_id,
        .sample = sample,
        .label = (int32_t)(sample % 10),
        .pred = (int32_t)((sample * 3) % 10),
        .exit_layer = (int32_t)(sample % 5),
        .first_predicted_exit = sample % 3 == 0 ? -1 : (int32_t)(sample % 4),
        .n_exit_evals = (int32_t)(1 + sample % 3),
        .n_predictions = (int32_t)(sample % 2),
        .n_mispredictions = (int32_t)(sample % 4 == 1),
        .backbone_macs = 1000000000LL + sample * 12345,
        .exit_macs = 5000 + sample,
        .predictor_ops = 77 * sample,
        .latency_ns = 1000.0 + (double)sample / 3.0,
        .energy_nj = 0.1 + (double)sample * 1e-3,
        .deadline_met = sample % 7 != 0,
    };
    r.correct = r.label == r.pred;
    return r;
}

static sqlite3 *raw_open(const char *path)
{
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open_v2(path, &h, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    return h;
}

/* Prepare formatted SQL and step it to its first row (asserts there is one). */
static sqlite3_stmt *raw_row(sqlite3 *h, const char *fmt, va_list ap)
{
    char *sql = sqlite3_vmprintf(fmt, ap);
    assert_non_null(sql);
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(h, sql, -1, &s, NULL);
    if (rc != SQLITE_OK) fail_msg("%s: %s", sql, sqlite3_errmsg(h));
    sqlite3_free(sql);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    return s;
}

static int64_t q_int(sqlite3 *h, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sqlite3_stmt *s = raw_row(h, fmt, ap);
    va_end(ap);
    int64_t v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

static double q_real(sqlite3 *h, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sqlite3_stmt *s = raw_row(h, fmt, ap);
    va_end(ap);
    assert_int_equal(sqlite3_column_type(s, 0), SQLITE_FLOAT);
    double v = sqlite3_column_double(s, 0);
    sqlite3_finalize(s);
    return v;
}

static bool q_null(sqlite3 *h, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sqlite3_stmt *s = raw_row(h, fmt, ap);
    va_end(ap);
    bool is_null = sqlite3_column_type(s, 0) == SQLITE_NULL;
    sqlite3_finalize(s);
    return is_null;
}

static void q_text(sqlite3 *h, char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sqlite3_stmt *s = raw_row(h, fmt, ap);
    va_end(ap);
    const unsigned char *t = sqlite3_column_text(s, 0);
    snprintf(buf, len, "%s", t ? (const char *)t : "(null)");
    sqlite3_finalize(s);
}

/* Compare a nullable integer column with a -1-means-NULL field. */
static void assert_opt(sqlite3_stmt *s, int col, int32_t want)
{
    if (want == -1) {
        assert_int_equal(sqlite3_column_type(s, col), SQLITE_NULL);
    } else {
        assert_int_equal(sqlite3_column_type(s, col), SQLITE_INTEGER);
        assert_int_equal(sqlite3_column_int64(s, col), want);
    }
}

/* Exact equality of doubles (bit-identical round trip). */
static void assert_real(sqlite3_stmt *s, int col, double want)
{
    assert_int_equal(sqlite3_column_type(s, col), SQLITE_FLOAT);
    double got = sqlite3_column_double(s, col);
    assert_memory_equal(&got, &want, sizeof got);
}

static db *open_new(const fixture *f)
{
    db *d = NULL;
    char err[ERR_LEN] = "";
    int rc = db_open(&d, f->path, DB_CREATE, err, sizeof err);
    if (rc) fail_msg("db_open: %s", err);
    return d;
}

static int64_t begin_run(db *d, const char *sha, bool force, db_begin_outcome want)
{
    char err[ERR_LEN] = "";
    db_run_spec spec = spec_of(sha);
    int64_t id = -1;
    db_begin_outcome got = DB_RUN_NEW;
    int rc = db_run_begin(d, &spec, force, &id, &got, err, sizeof err);
    if (rc) fail_msg("db_run_begin: %s", err);
    assert_int_equal(got, want);
    assert_true(id > 0);
    return id;
}

static void end_run(db *d, int64_t id, const char *status)
{
    char err[ERR_LEN] = "";
    int rc = db_run_end(d, id, status, err, sizeof err);
    if (rc) fail_msg("db_run_end: %s", err);
}

static void add_inferences(db *d, int64_t run_id, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        db_inference r = make_inference(run_id, i);
        int rc = db_add_inference(d, &r);
        if (rc) fail_msg("db_add_inference: %s", db_errmsg(d));
    }
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}

/* A new file gets the schema, its version and WAL; it reopens read-write and read-only. */
static void test_create_reopen(void **state)
{
    fixture *f = *state;
    db *d = open_new(f);
    assert_string_equal(db_path(d), f->path);
    db_close(d);

    sqlite3 *h = raw_open(f->path);
    assert_int_equal(q_int(h, "PRAGMA user_version"), DB_SCHEMA_VERSION);
    char mode[16];
    q_text(h, mode, sizeof mode, "PRAGMA journal_mode");
    assert_string_equal(mode, "wal");
    assert_int_equal(q_int(h, "PRAGMA page_size"), 16384); /* chosen for bulk appends */
    for (size_t i = 0; i < sizeof TABLES / sizeof TABLES[0]; i++) {
        assert_int_equal(q_int(h,
                               "SELECT count(*) FROM sqlite_master WHERE type='table' AND name=%Q",
                               TABLES[i]),
                         1);
        assert_int_equal(q_int(h, "SELECT strict FROM pragma_table_list WHERE name=%Q", TABLES[i]),
                         1);
    }
    for (size_t i = 0; i < sizeof VIEWS / sizeof VIEWS[0]; i++)
        assert_int_equal(
            q_int(h, "SELECT count(*) FROM sqlite_master WHERE type='view' AND name=%Q", VIEWS[i]),
            1);

    /* The columns of inferences, exactly and in order. */
    sqlite3_stmt *s = NULL;
    assert_int_equal(
        sqlite3_prepare_v2(h, "SELECT name FROM pragma_table_info('inferences') ORDER BY cid", -1,
                           &s, NULL),
        SQLITE_OK);
    size_t n = 0;
    while (sqlite3_step(s) == SQLITE_ROW) {
        assert_true(n < N_INFERENCE_COLUMNS);
        assert_string_equal((const char *)sqlite3_column_text(s, 0), INFERENCE_COLUMNS[n]);
        n++;
    }
    sqlite3_finalize(s);
    assert_int_equal(n, N_INFERENCE_COLUMNS);

    /* STRICT: text in an INTEGER column is refused. */
    assert_int_equal(sqlite3_exec(h,
                                  "INSERT INTO runs (started_at, pesim_version, config_text,"
                                  " config_sha256, seed, status)"
                                  " VALUES ('t', 'v', 'c', 'h', 1, 'done')",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    int rc = sqlite3_exec(h,
                          "INSERT INTO inferences VALUES (1, 'abc', 0, 0, 0, 0, NULL, 0, 0, 0,"
                          " 0, 0, 0, 0.0, 0.0, 1)",
                          NULL, NULL, NULL);
    assert_int_equal(rc, SQLITE_CONSTRAINT);
    assert_int_equal(sqlite3_extended_errcode(h), SQLITE_CONSTRAINT_DATATYPE);
    assert_int_equal(sqlite3_close(h), SQLITE_OK);

    char err[ERR_LEN] = "";
    assert_int_equal(db_open(&d, f->path, 0, err, sizeof err), 0);
    db_close(d);
    assert_int_equal(db_open(&d, f->path, DB_READONLY, err, sizeof err), 0);
    db_close(d);
    assert_int_equal(db_open(&d, f->path, DB_CREATE, err, sizeof err), 0);
    db_close(d);
}

/* Every field of every table reads back exactly; -1 fields are NULL; small batches commit. */
static void test_rows_roundtrip(void **state)
{
    fixture *f = *state;
    db *d = open_new(f);
    db_set_batch_rows(d, SMALL_BATCH);
    char sha[SHA_HEX + 1];
    int64_t run = begin_run(d, sha_of('a', sha), false, DB_RUN_NEW);
    sqlite3 *h = raw_open(f->path);

    /* A batch commits on its SMALL_BATCH-th row; the rows after it stay uncommitted. */
    for (int64_t i = 0; i < ROUNDTRIP_ROWS; i++) {
        db_inference r = make_inference(run, i);
        assert_int_equal(db_add_inference(d, &r), 0);
        int64_t visible = (i + 1) / SMALL_BATCH * SMALL_BATCH;
        assert_int_equal(q_int(h, "SELECT count(*) FROM inferences"), visible);
    }
    assert_int_equal(db_run_param(d, run, "exit.policy", "pep"), 0);
    assert_int_equal(db_run_param(d, run, "exit.beta", "0.25"), 0);
    for (int32_t smp = 0; smp < ROUNDTRIP_SAMPLES; smp++) {
        for (int32_t k = 0; k < ROUNDTRIP_EVALS; k++) {
            db_exit_eval e = {.run_id = run,
                              .sample = smp,
                              .seq = k,
                              .layer = 2 * k + 1,
                              .score = 0.1 * k + smp / 7.0,
                              .threshold = 0.9 - k / 11.0,
                              .fired = k == ROUNDTRIP_EVALS - 1,
                              .predicted_jump = k == 0 ? -1 : k + 2,
                              .true_first_exit = smp == 0 ? -1 : smp};
            assert_int_equal(db_add_exit_eval(d, &e), 0);
        }
        db_segment g = {.run_id = run,
                        .sample = smp,
                        .seq = 0,
                        .kind = smp % 2 ? "exit" : "backbone",
                        .first_layer = smp,
                        .last_layer = smp + 3,
                        .opp = smp % 3,
                        .freq_mhz = 800.0 + smp,
                        .vdd_v = 0.7 + smp / 100.0,
                        .time_ns = 1234.5 / (smp + 1),
                        .compute_nj = 0.1,
                        .memory_nj = 0.2,
                        .static_nj = 0.3 + smp};
        assert_int_equal(db_add_segment(d, &g), 0);
        db_dvfs v = {.run_id = run,
                     .sample = smp,
                     .seq = 0,
                     .at_ns = 99.5 + smp,
                     .from_opp = smp,
                     .to_opp = smp + 1,
                     .from_mhz = 400.0,
                     .to_mhz = 800.0 / 3.0,
                     .latency_ns = 1e4,
                     .energy_nj = 2.0 / 3.0};
        assert_int_equal(db_add_dvfs(d, &v), 0);
    }
    for (int32_t l = 0; l < ROUNDTRIP_LAYERS; l++) {
        for (int32_t o = 0; o < ROUNDTRIP_OPPS; o++) {
            char name[16];
            snprintf(name, sizeof name, "conv%d", l);
            db_layer_cost c = {.run_id = run,
                               .layer = l,
                               .name = name,
                               .opp = o,
                               .freq_mhz = 500.0 * (o + 1),
                               .vdd_v = 0.6 + 0.1 * o,
                               .cycles = 1000000LL * (l + 1),
                               .macs = 3000000000LL + l,
                               .time_ns = 1e6 / (o + 1),
                               .dynamic_nj = 1.0 / 3.0 + l,
                               .static_nj = 0.5 * o};
            assert_int_equal(db_add_layer_cost(d, &c), 0);
        }
    }
    end_run(d, run, "done");

    /* Inferences, every column. */
    sqlite3_stmt *s = NULL;
    assert_int_equal(
        sqlite3_prepare_v2(h, "SELECT * FROM inferences ORDER BY sample", -1, &s, NULL), SQLITE_OK);
    int64_t n = 0;
    while (sqlite3_step(s) == SQLITE_ROW) {
        db_inference w = make_inference(run, n);
        assert_int_equal(sqlite3_column_int64(s, 0), w.run_id);
        assert_int_equal(sqlite3_column_int64(s, 1), w.sample);
        assert_int_equal(sqlite3_column_int64(s, 2), w.label);
        assert_int_equal(sqlite3_column_int64(s, 3), w.pred);
        assert_int_equal(sqlite3_column_int64(s, 4), w.correct);
        assert_int_equal(sqlite3_column_int64(s, 5), w.exit_layer);
        assert_opt(s, 6, w.first_predicted_exit);
        assert_int_equal(sqlite3_column_int64(s, 7), w.n_exit_evals);
        assert_int_equal(sqlite3_column_int64(s, 8), w.n_predictions);
        assert_int_equal(sqlite3_column_int64(s, 9), w.n_mispredictions);
        assert_int_equal(sqlite3_column_int64(s, 10), w.backbone_macs);
        assert_int_equal(sqlite3_column_int64(s, 11), w.exit_macs);
        assert_int_equal(sqlite3_column_int64(s, 12), w.predictor_ops);
        assert_real(s, 13, w.latency_ns);
        assert_real(s, 14, w.energy_nj);
        assert_int_equal(sqlite3_column_int64(s, 15), w.deadline_met);
        n++;
    }
    sqlite3_finalize(s);
    assert_int_equal(n, ROUNDTRIP_ROWS);
    assert_int_equal(q_int(h, "SELECT count(*) FROM inferences WHERE first_predicted_exit IS NULL"),
                     (ROUNDTRIP_ROWS + 2) / 3);

    /* Exit evaluations. */
    assert_int_equal(
        sqlite3_prepare_v2(h, "SELECT * FROM exit_evals ORDER BY sample, seq", -1, &s, NULL),
        SQLITE_OK);
    for (int32_t smp = 0; smp < ROUNDTRIP_SAMPLES; smp++) {
        for (int32_t k = 0; k < ROUNDTRIP_EVALS; k++) {
            assert_int_equal(sqlite3_step(s), SQLITE_ROW);
            assert_int_equal(sqlite3_column_int64(s, 0), run);
            assert_int_equal(sqlite3_column_int64(s, 1), smp);
            assert_int_equal(sqlite3_column_int64(s, 2), k);
            assert_int_equal(sqlite3_column_int64(s, 3), 2 * k + 1);
            assert_real(s, 4, 0.1 * k + smp / 7.0);
            assert_real(s, 5, 0.9 - k / 11.0);
            assert_int_equal(sqlite3_column_int64(s, 6), k == ROUNDTRIP_EVALS - 1);
            assert_opt(s, 7, k == 0 ? -1 : k + 2);
            assert_opt(s, 8, smp == 0 ? -1 : smp);
        }
    }
    assert_int_equal(sqlite3_step(s), SQLITE_DONE);
    sqlite3_finalize(s);

    /* Segments, with the stored total. */
    assert_int_equal(sqlite3_prepare_v2(h, "SELECT * FROM segments ORDER BY sample", -1, &s, NULL),
                     SQLITE_OK);
    for (int32_t smp = 0; smp < ROUNDTRIP_SAMPLES; smp++) {
        assert_int_equal(sqlite3_step(s), SQLITE_ROW);
        assert_int_equal(sqlite3_column_int64(s, 1), smp);
        assert_string_equal((const char *)sqlite3_column_text(s, 3), smp % 2 ? "exit" : "backbone");
        assert_int_equal(sqlite3_column_int64(s, 4), smp);
        assert_int_equal(sqlite3_column_int64(s, 5), smp + 3);
        assert_int_equal(sqlite3_column_int64(s, 6), smp % 3);
        assert_real(s, 7, 800.0 + smp);
        assert_real(s, 8, 0.7 + smp / 100.0);
        assert_real(s, 9, 1234.5 / (smp + 1));
        assert_real(s, 10, 0.1);
        assert_real(s, 11, 0.2);
        assert_real(s, 12, 0.3 + smp);
        assert_real(s, 13, (0.1 + 0.2) + (0.3 + smp));
    }
    assert_int_equal(sqlite3_step(s), SQLITE_DONE);
    sqlite3_finalize(s);

    /* DVFS transitions. */
    assert_int_equal(
        sqlite3_prepare_v2(h, "SELECT * FROM dvfs_transitions ORDER BY sample", -1, &s, NULL),
        SQLITE_OK);
    for (int32_t smp = 0; smp < ROUNDTRIP_SAMPLES; smp++) {
        assert_int_equal(sqlite3_step(s), SQLITE_ROW);
        assert_int_equal(sqlite3_column_int64(s, 1), smp);
        assert_int_equal(sqlite3_column_int64(s, 2), 0);
        assert_real(s, 3, 99.5 + smp);
        assert_int_equal(sqlite3_column_int64(s, 4), smp);
        assert_int_equal(sqlite3_column_int64(s, 5), smp + 1);
        assert_real(s, 6, 400.0);
        assert_real(s, 7, 800.0 / 3.0);
        assert_real(s, 8, 1e4);
        assert_real(s, 9, 2.0 / 3.0);
    }
    assert_int_equal(sqlite3_step(s), SQLITE_DONE);
    sqlite3_finalize(s);

    /* Layer costs. */
    assert_int_equal(
        sqlite3_prepare_v2(h, "SELECT * FROM layer_costs ORDER BY layer, opp", -1, &s, NULL),
        SQLITE_OK);
    for (int32_t l = 0; l < ROUNDTRIP_LAYERS; l++) {
        for (int32_t o = 0; o < ROUNDTRIP_OPPS; o++) {
            char name[16];
            snprintf(name, sizeof name, "conv%d", l);
            assert_int_equal(sqlite3_step(s), SQLITE_ROW);
            assert_int_equal(sqlite3_column_int64(s, 1), l);
            assert_string_equal((const char *)sqlite3_column_text(s, 2), name);
            assert_int_equal(sqlite3_column_int64(s, 3), o);
            assert_real(s, 4, 500.0 * (o + 1));
            assert_real(s, 5, 0.6 + 0.1 * o);
            assert_int_equal(sqlite3_column_int64(s, 6), 1000000LL * (l + 1));
            assert_int_equal(sqlite3_column_int64(s, 7), 3000000000LL + l);
            assert_real(s, 8, 1e6 / (o + 1));
            assert_real(s, 9, 1.0 / 3.0 + l);
            assert_real(s, 10, 0.5 * o);
        }
    }
    assert_int_equal(sqlite3_step(s), SQLITE_DONE);
    sqlite3_finalize(s);

    /* Parameters and the run row. */
    char text[ERR_LEN];
    q_text(h, text, sizeof text, "SELECT value FROM run_params WHERE run_id=%lld AND key=%Q",
           (long long)run, "exit.beta");
    assert_string_equal(text, "0.25");
    q_text(h, text, sizeof text, "SELECT status FROM runs WHERE run_id=%lld", (long long)run);
    assert_string_equal(text, "done");
    q_text(h, text, sizeof text, "SELECT config_sha256 FROM runs WHERE run_id=%lld",
           (long long)run);
    assert_string_equal(text, sha);
    assert_int_equal(q_int(h, "SELECT seed FROM runs"), 7);
    assert_int_equal(q_int(h, "SELECT count(*) FROM runs WHERE started_at GLOB "
                              "'[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T*Z'"
                              " AND finished_at GLOB '*Z' AND finished_at >= started_at"),
                     1);

    /* batch_rows 0 means 1: each row commits at once. */
    db_set_batch_rows(d, 0);
    db_inference extra = make_inference(run, ROUNDTRIP_ROWS);
    assert_int_equal(db_add_inference(d, &extra), 0);
    assert_int_equal(q_int(h, "SELECT count(*) FROM inferences"), ROUNDTRIP_ROWS + 1);
    assert_int_equal(sqlite3_close(h), SQLITE_OK);
    db_close(d);
}

static int64_t count_rows(sqlite3 *h, const char *table, int64_t run_id)
{
    return q_int(h, "SELECT count(*) FROM %s WHERE run_id=%lld", table, (long long)run_id);
}

/* New, skipped, forced and redone runs, with their rows kept or deleted by cascade. */
static void test_lifecycle(void **state)
{
    fixture *f = *state;
    db *d = open_new(f);
    sqlite3 *h = raw_open(f->path);
    char sha_a[SHA_HEX + 1], sha_b[SHA_HEX + 1];
    sha_of('a', sha_a);
    sha_of('b', sha_b);

    int64_t a = begin_run(d, sha_a, false, DB_RUN_NEW);
    add_inferences(d, a, LIFECYCLE_ROWS);
    assert_int_equal(db_run_param(d, a, "dvfs.governor", "static"), 0);
    end_run(d, a, "done");
    assert_int_equal(begin_run(d, sha_a, false, DB_RUN_SKIPPED), a);
    assert_int_equal(count_rows(h, "inferences", a), LIFECYCLE_ROWS);

    /* Force: the done run and all its rows are replaced by a new, empty, running run. */
    int64_t a2 = begin_run(d, sha_a, true, DB_RUN_FORCED);
    assert_true(a2 != a);
    assert_int_equal(count_rows(h, "inferences", a), 0);
    assert_int_equal(count_rows(h, "run_params", a), 0);
    assert_int_equal(count_rows(h, "runs", a), 0);
    assert_int_equal(count_rows(h, "inferences", a2), 0);
    char status[16];
    q_text(h, status, sizeof status, "SELECT status FROM runs WHERE run_id=%lld", (long long)a2);
    assert_string_equal(status, "running");
    assert_true(q_null(h, "SELECT finished_at FROM runs WHERE run_id=%lld", (long long)a2));
    add_inferences(d, a2, LIFECYCLE_ROWS - 2);
    end_run(d, a2, "done");

    /* A run left 'running' (killed) is redone; its rows go, the other run's stay. */
    int64_t b = begin_run(d, sha_b, false, DB_RUN_NEW);
    add_inferences(d, b, LIFECYCLE_ROWS);
    assert_int_equal(db_commit(d), 0);
    db_segment g = {.run_id = b, .sample = 0, .seq = 0, .kind = "idle"};
    assert_int_equal(db_add_segment(d, &g), 0);
    db_close(d);
    assert_int_equal(count_rows(h, "inferences", b), LIFECYCLE_ROWS);
    d = open_new(f);
    int64_t b2 = begin_run(d, sha_b, false, DB_RUN_REDO);
    assert_true(b2 != b);
    assert_int_equal(count_rows(h, "inferences", b), 0);
    assert_int_equal(count_rows(h, "segments", b), 0);
    assert_int_equal(count_rows(h, "inferences", a2), LIFECYCLE_ROWS - 2);

    /* A failed run is redone too, even without force. */
    end_run(d, b2, "failed");
    int64_t b3 = begin_run(d, sha_b, false, DB_RUN_REDO);
    assert_true(b3 != b2);
    assert_int_equal(q_int(h, "SELECT count(*) FROM runs"), 2);
    assert_int_equal(q_int(h, "SELECT count(*) FROM runs WHERE status='running'"), 1);
    assert_int_equal(sqlite3_close(h), SQLITE_OK);
    db_close(d);
}

static void add_summary_row(db *d, int64_t run, int64_t sample, bool correct, int32_t exit_layer,
                            double latency_ns, double energy_nj, bool deadline_met,
                            int32_t n_predictions, int32_t n_mispredictions)
{
    db_inference r = {.run_id = run,
                      .sample = sample,
                      .correct = correct,
                      .exit_layer = exit_layer,
                      .first_predicted_exit = -1,
                      .n_predictions = n_predictions,
                      .n_mispredictions = n_mispredictions,
                      .backbone_macs = 100 * (sample + 1),
                      .exit_macs = 10 * (sample + 1),
                      .latency_ns = latency_ns,
                      .energy_nj = energy_nj,
                      .deadline_met = deadline_met};
    assert_int_equal(db_add_inference(d, &r), 0);
}

/* run_summary, exit_histogram and time_split against values computed by hand. */
static void test_summary_views(void **state)
{
    fixture *f = *state;
    db *d = open_new(f);
    char sha[SHA_HEX + 1];
    int64_t run = begin_run(d, sha_of('1', sha), false, DB_RUN_NEW);
    /* sample, correct, exit, latency, energy, deadline met, predictions, mispredictions */
    add_summary_row(d, run, 0, true, 1, 100.0, 1.5, true, 2, 1);
    add_summary_row(d, run, 1, true, 2, 200.0, 2.5, true, 0, 0);
    add_summary_row(d, run, 2, false, 2, 300.0, 3.0, false, 1, 0);
    add_summary_row(d, run, 3, true, 3, 400.0, 4.0, true, 1, 0);
    const char *kinds[] = {"backbone", "exit", "backbone"};
    for (int32_t k = 0; k < 3; k++) {
        db_segment g = {.run_id = run,
                        .sample = 0,
                        .seq = k,
                        .kind = kinds[k],
                        .time_ns = 10.0 * (k + 1),
                        .compute_nj = 1.0,
                        .memory_nj = 0.5,
                        .static_nj = 0.25};
        assert_int_equal(db_add_segment(d, &g), 0);
    }
    end_run(d, run, "done");
    int64_t no_pred = begin_run(d, sha_of('2', sha), false, DB_RUN_NEW);
    add_summary_row(d, no_pred, 0, true, 0, 50.0, 1.0, true, 0, 0);
    end_run(d, no_pred, "done");
    int64_t empty = begin_run(d, sha_of('3', sha), false, DB_RUN_NEW);
    int64_t p99 = begin_run(d, sha_of('4', sha), false, DB_RUN_NEW);
    for (int64_t i = 0; i < P99_ROWS; i++)
        add_summary_row(d, p99, i, true, 0, (double)(P99_ROWS - i), 1.0, true, 0, 0);
    db_close(d);

    sqlite3 *h = raw_open(f->path);
    long long r = (long long)run;
    const char *q = "SELECT %s FROM run_summary WHERE run_id=%lld";
    assert_int_equal(q_int(h, q, "n_inferences", r), 4);
    assert_true(q_real(h, q, "accuracy", r) == 0.75);
    assert_true(q_real(h, q, "mean_exit_layer", r) == 2.0);
    assert_true(q_real(h, q, "mean_backbone_macs", r) == 250.0);
    assert_true(q_real(h, q, "mean_exit_macs", r) == 25.0);
    assert_true(q_real(h, q, "mean_latency_ns", r) == 250.0);
    assert_true(q_real(h, q, "p99_latency_ns", r) == 400.0);
    assert_true(q_real(h, q, "mean_energy_nj", r) == 2.75);
    assert_true(q_real(h, q, "total_energy_nj", r) == 11.0);
    assert_int_equal(q_int(h, q, "deadline_misses", r), 1);
    assert_int_equal(q_int(h, q, "n_predictions", r), 4);
    assert_int_equal(q_int(h, q, "n_mispredictions", r), 1);
    assert_true(q_real(h, q, "prediction_hit_rate", r) == 0.75);
    char status[16];
    q_text(h, status, sizeof status, q, "status", r);
    assert_string_equal(status, "done");

    assert_true(q_null(h, q, "prediction_hit_rate", (long long)no_pred));
    assert_true(q_real(h, q, "accuracy", (long long)no_pred) == 1.0);
    assert_int_equal(q_int(h, q, "n_inferences", (long long)empty), 0);
    assert_true(q_null(h, q, "accuracy", (long long)empty));
    assert_true(q_null(h, q, "p99_latency_ns", (long long)empty));
    assert_true(q_real(h, q, "total_energy_nj", (long long)empty) == 0.0);
    assert_int_equal(q_int(h, q, "deadline_misses", (long long)empty), 0);
    assert_true(q_real(h, q, "p99_latency_ns", (long long)p99) == P99_RANK);

    const char *hq = "SELECT n FROM exit_histogram WHERE run_id=%lld AND exit_layer=%d";
    assert_int_equal(q_int(h, hq, r, 1), 1);
    assert_int_equal(q_int(h, hq, r, 2), 2);
    assert_int_equal(q_int(h, hq, r, 3), 1);
    assert_int_equal(q_int(h, "SELECT count(*) FROM exit_histogram WHERE run_id=%lld", r), 3);

    const char *tq = "SELECT %s FROM time_split WHERE run_id=%lld AND kind=%Q";
    assert_true(q_real(h, tq, "time_ns", r, "backbone") == 40.0);
    assert_true(q_real(h, tq, "time_ns", r, "exit") == 20.0);
    assert_true(q_real(h, tq, "energy_nj", r, "backbone") == 3.5);
    assert_true(q_real(h, tq, "compute_nj", r, "exit") == 1.0);
    assert_int_equal(sqlite3_close(h), SQLITE_OK);
}

/* Open must fail with err == "PATH: what". */
static void expect_open_error(const char *path, unsigned flags, const char *what)
{
    static char sentinel;
    db *d = (db *)&sentinel; /* db_open must reset it to NULL */
    char err[ERR_LEN] = "", want[ERR_LEN];
    assert_true(db_open(&d, path, flags, err, sizeof err) < 0);
    assert_null(d);
    snprintf(want, sizeof want, "%s: %s", path, what);
    assert_string_equal(err, want);
}

/* Files that are not ours, newer, missing, empty or in a missing directory. */
static void test_open_errors(void **state)
{
    fixture *f = *state;
    char path[PATH_LEN];

    expect_open_error(f->path, 0, "no such file");
    expect_open_error(f->path, DB_READONLY, "no such file");
    assert_int_equal(access(f->path, F_OK), -1);

    snprintf(path, sizeof path, "%s/garbage.db", f->dir);
    char garbage[GARBAGE_BYTES];
    for (size_t i = 0; i < sizeof garbage; i++) garbage[i] = (char)('a' + i % 26);
    write_file(path, garbage, sizeof garbage);
    expect_open_error(path, 0, "not a pesim result database (file is not a database)");
    expect_open_error(path, DB_CREATE, "not a pesim result database (file is not a database)");
    char back[GARBAGE_BYTES];
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    assert_int_equal(fread(back, 1, sizeof back, fp), sizeof back);
    fclose(fp);
    assert_memory_equal(back, garbage, sizeof garbage); /* left untouched */

    snprintf(path, sizeof path, "%s/foreign.db", f->dir);
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h, "CREATE TABLE foo (x INTEGER)", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_close(h), SQLITE_OK);
    expect_open_error(path, DB_CREATE, "not a pesim result database (no table 'runs')");
    h = raw_open(path);
    char mode[16];
    q_text(h, mode, sizeof mode, "PRAGMA journal_mode");
    assert_string_equal(mode, "delete"); /* not switched to WAL */
    assert_int_equal(sqlite3_close(h), SQLITE_OK);

    db *d = open_new(f);
    db_close(d);
    h = raw_open(f->path);
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", DB_SCHEMA_VERSION + 1);
    assert_int_equal(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_close(h), SQLITE_OK);
    char what[ERR_LEN];
    snprintf(what, sizeof what, "result database has schema version %d, this pesim reads up to %d",
             DB_SCHEMA_VERSION + 1, DB_SCHEMA_VERSION);
    expect_open_error(f->path, 0, what);
    expect_open_error(f->path, DB_READONLY, what);

    snprintf(path, sizeof path, "%s/empty.db", f->dir);
    write_file(path, "", 0);
    expect_open_error(path, 0, "not a pesim result database (empty)");
    char err[ERR_LEN] = "";
    assert_int_equal(db_open(&d, path, DB_CREATE, err, sizeof err), 0);
    db_close(d);
    assert_int_equal(db_open(&d, path, 0, err, sizeof err), 0);
    db_close(d);

    snprintf(path, sizeof path, "%s/no/such/dir.db", f->dir);
    expect_open_error(path, DB_CREATE, "unable to open database file");

    assert_true(db_open(NULL, f->path, 0, err, sizeof err) < 0);
    assert_true(db_open(&d, NULL, 0, err, sizeof err) < 0);
    assert_true(db_open(&d, "", 0, err, sizeof err) < 0);
    assert_int_equal(db_info(path, stdout, err, sizeof err) < 0, 1);
}

/* Writing to a read-only database fails cleanly and changes nothing. */
static void test_readonly(void **state)
{
    fixture *f = *state;
    db *d = open_new(f);
    char sha[SHA_HEX + 1], err[ERR_LEN] = "";
    int64_t run = begin_run(d, sha_of('a', sha), false, DB_RUN_NEW);
    end_run(d, run, "done");
    db_close(d);

    assert_int_equal(db_open(&d, f->path, DB_READONLY, err, sizeof err), 0);
    db_inference r = make_inference(run, 0);
    int rc = db_add_inference(d, &r);
    assert_int_equal(rc, -SQLITE_READONLY);
    assert_non_null(strstr(db_errmsg(d), f->path));
    assert_non_null(strstr(db_errmsg(d), "readonly"));
    db_run_spec spec = spec_of(sha_of('b', sha));
    int64_t id = 0;
    db_begin_outcome out;
    assert_true(db_run_begin(d, &spec, false, &id, &out, err, sizeof err) < 0);
    assert_non_null(strstr(err, "readonly"));
    assert_true(db_run_end(d, run, "failed", err, sizeof err) < 0);
    db_close(d);

    sqlite3 *h = raw_open(f->path);
    assert_int_equal(q_int(h, "SELECT count(*) FROM inferences"), 0);
    assert_int_equal(q_int(h, "SELECT count(*) FROM runs WHERE status='done'"), 1);
    assert_int_equal(sqlite3_close(h), SQLITE_OK);

    /* A write-protected file: only meaningful where permissions bind (not as root). */
    if (geteuid() != 0) {
        assert_int_equal(chmod(f->path, 0444), 0);
        expect_open_error(f->path, 0, "result database is read-only (no write permission)");
        assert_int_equal(db_open(&d, f->path, DB_READONLY, err, sizeof err), 0);
        db_close(d);
    }
}

/* Bad rows and bad calls return errors with a message naming the file; the writer goes on. */
static void test_row_errors(void **state)
{
    fixture *f = *state;
    db *d = open_new(f);
    char sha[SHA_HEX + 1], err[ERR_LEN] = "";
    int64_t run = begin_run(d, sha_of('a', sha), false, DB_RUN_NEW);

    db_inference r = make_inference(run, 1);
    assert_int_equal(db_add_inference(d, &r), 0);
    assert_int_equal(db_add_inference(d, &r), -SQLITE_CONSTRAINT);
    assert_non_null(strstr(db_errmsg(d), f->path));
    assert_non_null(strstr(db_errmsg(d), "cannot add to inferences: UNIQUE constraint failed"));
    assert_null(strchr(db_errmsg(d), '\n'));
    r.sample = 2;
    assert_int_equal(db_add_inference(d, &r), 0); /* the batch survived the bad row */

    r.run_id = run + 100;
    assert_int_equal(db_add_inference(d, &r), -SQLITE_CONSTRAINT);
    assert_non_null(strstr(db_errmsg(d), "FOREIGN KEY constraint failed"));
    r = make_inference(run, 3);
    r.deadline_met = 2; /* only 0, 1 or -1 (NULL: not simulated) */
    assert_int_equal(db_add_inference(d, &r), -SQLITE_CONSTRAINT);
    r.deadline_met = -1; /* a run without the accelerator: NULL costs are accepted */
    r.latency_ns = r.energy_nj = NAN;
    assert_int_equal(db_add_inference(d, &r), 0);

    db_segment g = {.run_id = run, .kind = NULL};
    assert_int_equal(db_add_segment(d, &g), -SQLITE_CONSTRAINT);
    g.kind = "warp";
    assert_int_equal(db_add_segment(d, &g), -SQLITE_CONSTRAINT);
    assert_non_null(strstr(db_errmsg(d), "CHECK constraint failed"));
    db_layer_cost c = {.run_id = run, .name = NULL};
    assert_int_equal(db_add_layer_cost(d, &c), -SQLITE_CONSTRAINT);
    assert_int_equal(db_run_param(d, run, "exit.beta", "1"), 0);
    assert_int_equal(db_run_param(d, run, "exit.beta", "2"), -SQLITE_CONSTRAINT);
    assert_true(db_run_param(d, run, NULL, "2") < 0);

    assert_true(db_add_inference(d, NULL) < 0);
    assert_true(db_add_exit_eval(d, NULL) < 0);
    assert_true(db_add_segment(d, NULL) < 0);
    assert_true(db_add_dvfs(d, NULL) < 0);
    assert_true(db_add_layer_cost(d, NULL) < 0);
    assert_true(db_add_inference(NULL, &r) < 0);
    assert_true(db_commit(NULL) < 0);
    assert_non_null(db_errmsg(NULL));
    assert_null(db_path(NULL));
    db_set_batch_rows(NULL, 1);
    db_close(NULL);

    char want[ERR_LEN];
    assert_true(db_run_end(d, run, "finished", err, sizeof err) < 0);
    snprintf(want, sizeof want,
             "%s: cannot end run %lld: status 'finished' is not 'done' or 'failed'", f->path,
             (long long)run);
    assert_string_equal(err, want);
    assert_true(db_run_end(d, run + 100, "done", err, sizeof err) < 0);
    snprintf(want, sizeof want, "%s: cannot end run %lld: no such run", f->path,
             (long long)run + 100);
    assert_string_equal(err, want);
    db_run_spec spec = spec_of(sha);
    spec.config_text = NULL;
    int64_t id;
    db_begin_outcome out;
    assert_true(db_run_begin(d, &spec, false, &id, &out, err, sizeof err) < 0);
    assert_true(db_run_begin(d, NULL, false, &id, &out, err, sizeof err) < 0);
    end_run(d, run, "done");
    db_close(d);

    sqlite3 *h = raw_open(f->path);
    assert_int_equal(q_int(h, "SELECT count(*) FROM inferences"), 3);
    assert_int_equal(q_int(h, "SELECT count(*) FROM run_params"), 1);
    assert_int_equal(sqlite3_close(h), SQLITE_OK);
}

/* The child of test_kill: run A to completion, then write run B until killed. */
static void kill_child(const char *path, int signal_fd, int hold_fd)
{
    db *d = NULL;
    char err[ERR_LEN], sha[SHA_HEX + 1];
    db_run_spec spec = spec_of(sha_of('a', sha));
    int64_t id = 0;
    db_begin_outcome out;
    if (db_open(&d, path, DB_CREATE, err, sizeof err) ||
        db_run_begin(d, &spec, false, &id, &out, err, sizeof err))
        _exit(CHILD_EXIT_FAILED);
    for (int64_t i = 0; i < KILL_A_ROWS; i++) {
        db_inference r = make_inference(id, i);
        if (db_add_inference(d, &r)) _exit(CHILD_EXIT_FAILED);
    }
    if (db_run_end(d, id, "done", err, sizeof err)) _exit(CHILD_EXIT_FAILED);
    spec = spec_of(sha_of('b', sha));
    if (db_run_begin(d, &spec, false, &id, &out, err, sizeof err)) _exit(CHILD_EXIT_FAILED);
    db_set_batch_rows(d, KILL_BATCH);
    for (int64_t i = 0; i < KILL_B_ROWS; i++) {
        db_inference r = make_inference(id, i);
        if (db_add_inference(d, &r)) _exit(CHILD_EXIT_FAILED);
        if (i + 1 == (int64_t)KILL_BATCH * KILL_SIGNAL_BATCHES && write(signal_fd, "c", 1) != 1)
            _exit(CHILD_EXIT_FAILED);
    }
    char c;
    (void)!read(hold_fd, &c, 1); /* wait for the kill if every row got written first */
    _exit(CHILD_EXIT_FAILED);
}

/* A writer SIGKILLed mid-run leaves a sound database: the done run intact, the killed one
 * 'running' with whole batches only, and redone exactly on the next attempt. */
static void test_kill(void **state)
{
    fixture *f = *state;
    int sig[2], hold[2];
    assert_int_equal(pipe(sig), 0);
    assert_int_equal(pipe(hold), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(sig[0]);
        close(hold[1]);
        kill_child(f->path, sig[1], hold[0]);
    }
    close(sig[1]);
    close(hold[0]);
    char c = 0;
    ssize_t got = read(sig[0], &c, 1);
    assert_int_equal(kill(pid, SIGKILL), 0);
    int wstatus = 0;
    assert_int_equal(waitpid(pid, &wstatus, 0), pid);
    close(sig[0]);
    close(hold[1]);
    assert_int_equal(got, 1); /* the child reached its signal point */
    assert_true(WIFSIGNALED(wstatus));
    assert_int_equal(WTERMSIG(wstatus), SIGKILL);

    sqlite3 *h = raw_open(f->path);
    char text[ERR_LEN];
    q_text(h, text, sizeof text, "PRAGMA integrity_check");
    assert_string_equal(text, "ok");
    int64_t a = q_int(h, "SELECT run_id FROM runs WHERE status='done'");
    int64_t b = q_int(h, "SELECT run_id FROM runs WHERE status='running'");
    assert_int_equal(q_int(h, "SELECT count(*) FROM runs"), 2);
    assert_int_equal(count_rows(h, "inferences", a), KILL_A_ROWS);
    int64_t b_rows = count_rows(h, "inferences", b);
    assert_true(b_rows >= (int64_t)KILL_BATCH * KILL_SIGNAL_BATCHES);
    assert_true(b_rows <= KILL_B_ROWS);
    assert_int_equal(b_rows % KILL_BATCH, 0); /* whole batches only */

    /* The rerun redoes B from scratch. */
    db *d = NULL;
    char err[ERR_LEN] = "", sha[SHA_HEX + 1];
    assert_int_equal(db_open(&d, f->path, 0, err, sizeof err), 0);
    int64_t b2 = begin_run(d, sha_of('b', sha), false, DB_RUN_REDO);
    assert_int_equal(count_rows(h, "inferences", b), 0);
    add_inferences(d, b2, KILL_B_ROWS);
    end_run(d, b2, "done");
    db_close(d);
    assert_int_equal(count_rows(h, "inferences", b2), KILL_B_ROWS);
    assert_int_equal(
        q_int(h, "SELECT count(DISTINCT sample) FROM inferences WHERE run_id=%lld", (long long)b2),
        KILL_B_ROWS);
    assert_int_equal(count_rows(h, "inferences", a), KILL_A_ROWS);
    assert_int_equal(q_int(h, "SELECT count(*) FROM runs WHERE status='done'"), 2);
    q_text(h, text, sizeof text, "PRAGMA integrity_check");
    assert_string_equal(text, "ok");
    assert_int_equal(sqlite3_close(h), SQLITE_OK);
}

/* Add the rows of one sample to run: an inference, two exit evaluations, three segments (kinds
 * from a buffer the caller overwrites afterwards) and a DVFS transition. 0 ok. */
static int add_sample_rows(db *d, int64_t run, int64_t sample)
{
    db_inference r = make_inference(run, sample);
    int rc = db_add_inference(d, &r);
    for (int32_t k = 0; k < 2 && !rc; k++) {
        db_exit_eval e = {.run_id = run,
                          .sample = sample,
                          .seq = k,
                          .layer = 3 * k + 1,
                          .score = 0.5 + 0.1 * k + (double)sample / 1000.0,
                          .threshold = 0.9,
                          .fired = k == 1,
                          .predicted_jump = k == 0 ? 2 : -1,
                          .true_first_exit = (int32_t)(sample % 4)};
        rc = db_add_exit_eval(d, &e);
    }
    static const char *const kinds[] = {"backbone", "exit", "dvfs"};
    for (int32_t k = 0; k < 3 && !rc; k++) {
        char kind[DB_KIND_CHARS];
        snprintf(kind, sizeof kind, "%s", kinds[k]);
        db_segment g = {.run_id = run,
                        .sample = sample,
                        .seq = k,
                        .kind = kind,
                        .first_layer = k,
                        .last_layer = k + 2,
                        .opp = k,
                        .freq_mhz = 500.0 + 100 * k,
                        .vdd_v = 0.8,
                        .time_ns = 10.0 * (double)(sample + k),
                        .compute_nj = 1.5,
                        .memory_nj = 0.25,
                        .static_nj = 0.125,
                        .dram_nj = 0.0625};
        rc = db_add_segment(d, &g);
        memset(kind, 'x', sizeof kind - 1); /* the row must not keep the caller's string */
    }
    db_dvfs v = {.run_id = run,
                 .sample = sample,
                 .seq = 0,
                 .at_ns = 1.0 * (double)sample,
                 .from_opp = 1,
                 .to_opp = 2,
                 .from_mhz = 600,
                 .to_mhz = 700,
                 .latency_ns = 20,
                 .energy_nj = 0.5};
    if (!rc) rc = db_add_dvfs(d, &v);
    return rc;
}

/* Rows that differ between runs a and b of one table (every column but run_id). */
static int64_t rows_differ(sqlite3 *h, const char *table, const char *cols, int64_t a, int64_t b)
{
    return q_int(h,
                 "SELECT count(*) FROM (SELECT %s FROM %s WHERE run_id = %lld EXCEPT "
                 "SELECT %s FROM %s WHERE run_id = %lld)",
                 cols, table, (long long)a, cols, table, (long long)b) +
           q_int(h, "SELECT count(*) FROM %s WHERE run_id = %lld", table, (long long)a) -
           q_int(h, "SELECT count(*) FROM %s WHERE run_id = %lld", table, (long long)b);
}

/* Staged rows: nothing is written and no lock is held until a batch is full; then the batch
 * lands whole, with the same rows as direct writes. A bad row fails the call that writes its
 * batch, that batch is lost and writing goes on. Discarded rows are dropped. */
static void test_staged_rows(void **state)
{
    fixture *f = *state;
    db *d = open_new(f);
    char sha[SHA_HEX + 1];
    int64_t direct = begin_run(d, sha_of('a', sha), false, DB_RUN_NEW);
    for (int64_t i = 0; i < STAGED_SAMPLES; i++) assert_int_equal(add_sample_rows(d, direct, i), 0);
    end_run(d, direct, "done");

    int64_t staged = begin_run(d, sha_of('b', sha), false, DB_RUN_NEW);
    db_set_batch_rows(d, STAGED_BATCH);
    assert_int_equal(db_set_row_mode(d, DB_ROWS_STAGED), 0);
    sqlite3 *h = raw_open(f->path);
    int64_t added = 0; /* rows given to the writer: 7 per sample */
    for (int64_t i = 0; i < STAGED_SAMPLES; i++) {
        assert_int_equal(add_sample_rows(d, staged, i), 0);
        added += 7;
        int64_t visible =
            q_int(h,
                  "SELECT (SELECT count(*) FROM inferences WHERE run_id = %lld)"
                  " + (SELECT count(*) FROM exit_evals WHERE run_id = %lld)"
                  " + (SELECT count(*) FROM segments WHERE run_id = %lld)"
                  " + (SELECT count(*) FROM dvfs_transitions WHERE run_id = %lld)",
                  (long long)staged, (long long)staged, (long long)staged, (long long)staged);
        assert_int_equal(visible, added / STAGED_BATCH * STAGED_BATCH); /* whole batches */
        /* between batches the write lock is free for another writer */
        assert_int_equal(sqlite3_exec(h, "BEGIN IMMEDIATE; COMMIT", NULL, NULL, NULL), SQLITE_OK);
    }
    end_run(d, staged, "done"); /* writes the partial last batch */
    assert_int_equal(rows_differ(h, "inferences", INFERENCE_COLUMN_LIST, direct, staged), 0);
    assert_int_equal(rows_differ(h, "exit_evals",
                                 "sample, seq, layer, score, threshold, fired, predicted_jump,"
                                 " true_first_exit",
                                 direct, staged),
                     0);
    assert_int_equal(rows_differ(h, "segments",
                                 "sample, seq, kind, first_layer, last_layer, opp, freq_mhz,"
                                 " vdd_v, time_ns, compute_nj, memory_nj, static_nj, energy_nj,"
                                 " dram_nj",
                                 direct, staged),
                     0);
    assert_int_equal(rows_differ(h, "dvfs_transitions",
                                 "sample, seq, at_ns, from_opp, to_opp, from_mhz, to_mhz,"
                                 " latency_ns, energy_nj",
                                 direct, staged),
                     0);
    assert_int_equal(
        q_int(h, "SELECT count(*) FROM segments WHERE run_id = %lld", (long long)staged),
        3 * STAGED_SAMPLES);

    /* a duplicate row: its batch fails when written and is lost; the next batch lands */
    int64_t bad = begin_run(d, sha_of('c', sha), false, DB_RUN_NEW);
    db_set_batch_rows(d, 4);
    db_inference r = make_inference(bad, 1);
    assert_int_equal(db_add_inference(d, &r), 0);
    assert_int_equal(db_add_inference(d, &r), 0); /* staged: not checked yet */
    r.sample = 2;
    assert_int_equal(db_add_inference(d, &r), 0);
    r.sample = 3;
    assert_int_equal(db_add_inference(d, &r), -SQLITE_CONSTRAINT); /* the 4th row writes */
    assert_non_null(strstr(db_errmsg(d), "UNIQUE constraint failed"));
    assert_non_null(strstr(db_errmsg(d), "(batch of 4 rows lost)"));
    for (int64_t i = 10; i < 14; i++) {
        r = make_inference(bad, i);
        assert_int_equal(db_add_inference(d, &r), 0);
    }
    assert_int_equal(
        q_int(h, "SELECT count(*) FROM inferences WHERE run_id = %lld", (long long)bad), 4);
    /* a kind that cannot be held is refused at once */
    db_segment g = {.run_id = bad, .kind = "backbone-and-more-than-fits"};
    assert_int_equal(db_add_segment(d, &g), -SQLITE_CONSTRAINT);
    g.kind = NULL;
    assert_int_equal(db_add_segment(d, &g), -SQLITE_CONSTRAINT);

    /* discarded rows are dropped; switching back writes directly again */
    assert_int_equal(db_set_row_mode(d, DB_ROWS_DISCARD), 0);
    r = make_inference(bad, 20);
    assert_int_equal(db_add_inference(d, &r), 0);
    assert_int_equal(db_add_inference(d, &r), 0);
    assert_int_equal(db_set_row_mode(d, DB_ROWS_DIRECT), 0);
    end_run(d, bad, "done");
    assert_int_equal(
        q_int(h, "SELECT count(*) FROM inferences WHERE run_id = %lld", (long long)bad), 4);
    assert_int_equal(sqlite3_close(h), SQLITE_OK);
    db_close(d);
}

/* A running run records its writer until it ends. Another live process's running run is busy
 * (left alone); once that process is gone, or when the run is this process's own, it is redone. */
static void test_run_owner(void **state)
{
    fixture *f = *state;
    db *d = open_new(f);
    char sha[SHA_HEX + 1], err[ERR_LEN] = "";
    int64_t mine = begin_run(d, sha_of('a', sha), false, DB_RUN_NEW);
    sqlite3 *h = raw_open(f->path);
    char owner[320];
    q_text(h, owner, sizeof owner,
           "SELECT value FROM run_params WHERE run_id = %lld AND key = "
           "'run.process'",
           (long long)mine);
    char host[256];
    long pid = 0;
    unsigned long long start = 0;
    assert_int_equal(sscanf(owner, "%255s %ld %llu", host, &pid, &start), 3);
    assert_int_equal(pid, (long)getpid());
    assert_true(start > 0);
    /* this process's own running run (abandoned) is redone */
    int64_t again = begin_run(d, sha_of('a', sha), false, DB_RUN_REDO);
    end_run(d, again, "done");
    assert_int_equal(q_int(h, "SELECT count(*) FROM run_params WHERE key = 'run.process'"), 0);

    /* a child begins run 'b' and stays alive until told */
    int go[2], hold[2];
    assert_int_equal(pipe(go), 0);
    assert_int_equal(pipe(hold), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        db *c = NULL;
        char e[ERR_LEN], s2[SHA_HEX + 1];
        db_run_spec spec = spec_of(sha_of('b', s2));
        int64_t id;
        db_begin_outcome out;
        if (db_open(&c, f->path, DB_CREATE, e, sizeof e) ||
            db_run_begin(c, &spec, false, &id, &out, e, sizeof e))
            _exit(CHILD_EXIT_FAILED);
        char x = 1;
        (void)!write(go[1], &x, 1);
        (void)!read(hold[0], &x, 1); /* until the parent closes the pipe or kills us */
        _exit(0);
    }
    char x;
    assert_int_equal(read(go[0], &x, 1), 1);
    db_run_spec spec = spec_of(sha_of('b', sha));
    int64_t id = 0;
    db_begin_outcome out = DB_RUN_NEW;
    assert_int_equal(db_run_begin(d, &spec, false, &id, &out, err, sizeof err), 0);
    assert_int_equal(out, DB_RUN_BUSY);
    assert_int_equal(db_busy_pid(d), (long)child);
    assert_int_equal(db_run_begin(d, &spec, true, &id, &out, err, sizeof err), 0);
    assert_int_equal(out, DB_RUN_BUSY); /* --force does not take it either */
    assert_int_equal(kill(child, SIGKILL), 0);
    int wstatus = 0;
    assert_int_equal(waitpid(child, &wstatus, 0), child);
    close(go[0]);
    close(go[1]);
    close(hold[0]);
    close(hold[1]);
    int64_t redo = begin_run(d, sha_of('b', sha), false, DB_RUN_REDO); /* its writer is gone */
    assert_true(redo != id);
    end_run(d, redo, "done");
    assert_int_equal(q_int(h, "SELECT count(*) FROM runs WHERE status = 'done'"), 2);
    assert_int_equal(sqlite3_close(h), SQLITE_OK);
    db_close(d);
}

/* The child of test_disk_full: write run 'f' under a file-size limit until the writer fails;
 * exit 0 when the failure came as a one-line error naming the file. */
static void disk_full_child(const char *path)
{
    signal(SIGXFSZ, SIG_IGN); /* writes past the limit then fail with EFBIG instead */
    struct rlimit lim = {DISK_FULL_BYTES, DISK_FULL_BYTES};
    if (setrlimit(RLIMIT_FSIZE, &lim)) _exit(CHILD_EXIT_FAILED);
    db *d = NULL;
    char err[ERR_LEN] = "", sha[SHA_HEX + 1];
    db_run_spec spec = spec_of(sha_of('f', sha));
    int64_t id;
    db_begin_outcome out;
    if (db_open(&d, path, DB_CREATE, err, sizeof err) ||
        db_run_begin(d, &spec, false, &id, &out, err, sizeof err))
        _exit(CHILD_EXIT_FAILED);
    db_set_batch_rows(d, KILL_BATCH);
    if (db_set_row_mode(d, DB_ROWS_STAGED)) _exit(CHILD_EXIT_FAILED);
    int rc = 0;
    for (int64_t i = 0; i < KILL_B_ROWS && !rc; i++) {
        db_inference r = make_inference(id, i);
        rc = db_add_inference(d, &r);
    }
    if (!rc) _exit(CHILD_EXIT_FAILED); /* the limit was never reached */
    const char *msg = db_errmsg(d);
    bool ok = strncmp(msg, path, strlen(path)) == 0 && !strchr(msg, '\n') &&
              strstr(msg, "rows lost") && db_run_end(d, id, "failed", err, sizeof err) <= 0;
    db_close(d);
    _exit(ok ? 0 : CHILD_EXIT_FAILED);
}

/* A disk that fills up in the middle of a run (a file-size limit stands in for it): the write
 * fails with a one-line error, the file stays sound, and the run is redone in full once there is
 * room again. */
static void test_disk_full(void **state)
{
    fixture *f = *state;
    db *d = open_new(f);
    char sha[SHA_HEX + 1];
    int64_t a = begin_run(d, sha_of('a', sha), false, DB_RUN_NEW);
    add_inferences(d, a, KILL_A_ROWS);
    end_run(d, a, "done");
    db_close(d);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) disk_full_child(f->path);
    int wstatus = 0;
    assert_int_equal(waitpid(pid, &wstatus, 0), pid);
    assert_true(WIFEXITED(wstatus));
    assert_int_equal(WEXITSTATUS(wstatus), 0);

    sqlite3 *h = raw_open(f->path);
    char ok[16];
    q_text(h, ok, sizeof ok, "PRAGMA integrity_check");
    assert_string_equal(ok, "ok");
    assert_int_equal(count_rows(h, "inferences", a), KILL_A_ROWS); /* the done run is intact */
    d = open_new(f);
    int64_t redo = begin_run(d, sha_of('f', sha), false, DB_RUN_REDO);
    add_inferences(d, redo, LIFECYCLE_ROWS);
    end_run(d, redo, "done");
    db_close(d);
    assert_int_equal(q_int(h, "SELECT count(*) FROM inferences"), KILL_A_ROWS + LIFECYCLE_ROWS);
    assert_int_equal(sqlite3_close(h), SQLITE_OK);
}

/* Child k of test_concurrent: open (maybe create) the shared file and write its own run. */
static void concurrent_child(const char *path, int k)
{
    db *d = NULL;
    char err[ERR_LEN], sha[SHA_HEX + 1];
    db_run_spec spec = spec_of(sha_of((char)('a' + k), sha));
    int64_t id = 0;
    db_begin_outcome out;
    if (db_open(&d, path, DB_CREATE, err, sizeof err) ||
        db_run_begin(d, &spec, false, &id, &out, err, sizeof err)) {
        fprintf(stderr, "writer %d: %s\n", k, err);
        _exit(CHILD_EXIT_FAILED);
    }
    db_set_batch_rows(d, CONCURRENT_BATCH);
    if (k % 2 && db_set_row_mode(d, DB_ROWS_STAGED)) _exit(CHILD_EXIT_FAILED); /* both modes */
    for (int64_t i = 0; i < CONCURRENT_ROWS; i++) {
        db_inference r = make_inference(id, i);
        if (db_add_inference(d, &r)) {
            fprintf(stderr, "writer %d: %s\n", k, db_errmsg(d));
            _exit(CHILD_EXIT_FAILED);
        }
    }
    if (db_run_end(d, id, "done", err, sizeof err)) {
        fprintf(stderr, "writer %d: %s\n", k, err);
        _exit(CHILD_EXIT_FAILED);
    }
    db_close(d);
    _exit(0);
}

/* Processes of a sweep that create and write one new file at the same time all succeed: the
 * schema is created once and batches wait for each other (busy timeout), whether rows are
 * written directly or staged. */
static void test_concurrent(void **state)
{
    fixture *f = *state;
    pid_t pids[CONCURRENT_WRITERS];
    for (int k = 0; k < CONCURRENT_WRITERS; k++) {
        pids[k] = fork();
        assert_true(pids[k] >= 0);
        if (pids[k] == 0) concurrent_child(f->path, k);
    }
    for (int k = 0; k < CONCURRENT_WRITERS; k++) {
        int wstatus = 0;
        assert_int_equal(waitpid(pids[k], &wstatus, 0), pids[k]);
        assert_true(WIFEXITED(wstatus));
        assert_int_equal(WEXITSTATUS(wstatus), 0);
    }
    sqlite3 *h = raw_open(f->path);
    assert_int_equal(q_int(h, "SELECT count(*) FROM runs WHERE status='done'"), CONCURRENT_WRITERS);
    assert_int_equal(q_int(h, "SELECT count(*) FROM inferences"),
                     (int64_t)CONCURRENT_WRITERS * CONCURRENT_ROWS);
    assert_int_equal(q_int(h, "SELECT min(n_inferences) FROM run_summary"), CONCURRENT_ROWS);
    assert_int_equal(sqlite3_close(h), SQLITE_OK);
}

/* db_info prints the version, each run with its hash prefix and count, and table counts. */
static void test_info(void **state)
{
    fixture *f = *state;
    db *d = open_new(f);
    char sha[SHA_HEX + 1], err[ERR_LEN] = "";
    int64_t a = begin_run(d, sha_of('c', sha), false, DB_RUN_NEW);
    add_inferences(d, a, LIFECYCLE_ROWS);
    end_run(d, a, "done");
    begin_run(d, sha_of('d', sha), false, DB_RUN_NEW);
    db_close(d);

    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    assert_non_null(out);
    assert_int_equal(db_info(f->path, out, err, sizeof err), 0);
    assert_int_equal(fclose(out), 0);
    char want[ERR_LEN];
    snprintf(want, sizeof want, "%s: pesim result database, schema version %d\n", f->path,
             DB_SCHEMA_VERSION);
    assert_int_equal(strncmp(buf, want, strlen(want)), 0);
    assert_non_null(strstr(buf, "run_id  status "));
    assert_non_null(strstr(buf, "  done     "));
    assert_non_null(strstr(buf, "  running  "));
    assert_non_null(strstr(buf, "  cccccccccccc             5\n"));
    assert_null(strstr(buf, "ccccccccccccc")); /* only 12 digits of the hash */
    const struct {
        const char *table;
        int rows;
    } counts[] = {{"runs", 2}, {"inferences", LIFECYCLE_ROWS}, {"layer_costs", 0}};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        snprintf(want, sizeof want, "\n%-16s  %12d\n", counts[i].table, counts[i].rows);
        assert_non_null(strstr(buf, want));
    }
    free(buf);

    char path[PATH_LEN];
    snprintf(path, sizeof path, "%s/missing.db", f->dir);
    assert_true(db_info(path, stdout, err, sizeof err) < 0);
    snprintf(want, sizeof want, "%s: no such file", path);
    assert_string_equal(err, want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rows_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_summary_views, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readonly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_row_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill, setup, teardown),
        cmocka_unit_test_setup_teardown(test_staged_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_owner, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disk_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_info, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
