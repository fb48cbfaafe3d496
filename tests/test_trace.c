/* Tests of sim/trace: write/load round trips are bit-exact, the writer refuses what the loader
 * would reject, every promised load error appears when a written file is edited with raw SQL
 * (or is not a database, or is truncated), CSV and NPY imports of files written here byte by
 * byte give the exact logits, their errors name FILE:LINE, export then import is exact, the
 * threshold rule matches a hand-computed case, and a 10 000-sample trace loads fast. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "trace.h"

#define ERR_LEN  512
#define PATH_LEN 320 /* the directory and a d_name (up to 255) */
#define NPY_BUF  4096

static char g_dir[] = "/tmp/pesim-test-trace-XXXXXX";

static void path_in(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", g_dir, name);
}

static void write_bytes(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void write_text(const char *path, const char *text)
{
    write_bytes(path, text, strlen(text));
}

static bool exists(const char *path)
{
    return access(path, F_OK) == 0;
}

/* Assert err holds want (a substring), and print it when it does not. */
static void assert_err_has(const char *err, const char *want)
{
    if (!strstr(err, want)) fprintf(stderr, "error '%s' lacks '%s'\n", err, want);
    assert_non_null(strstr(err, want));
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- a small standard trace: 4 classes, exits e0 e1 e2 + final, 12 samples ---- */

#define STD_CLASSES 4
#define STD_EXITS   3
#define STD_SAMPLES 12
#define STD_STRIDE  ((STD_EXITS + 1) * STD_CLASSES)

static const char *const std_names[STD_EXITS + 1] = {"e0", "e1", "e2", "final"};
static const double std_thr[STD_EXITS] = {0.5, 1.25, 0.0};
static const int64_t std_backbone[STD_EXITS + 1] = {1000, 5000, -1, 90000};
static const int64_t std_head[STD_EXITS + 1] = {300, 300, 200, 0};
static const char *const std_keys[] = {"dataset", "split", "arch"};
static const char *const std_values[] = {"fashion-mnist", "test", "arch=vgg19 width=0.25"};

static trace_header std_header(void)
{
    return (trace_header){.classes = STD_CLASSES,
                          .exits = STD_EXITS,
                          .names = std_names,
                          .thresholds = std_thr,
                          .backbone_macs = std_backbone,
                          .head_macs = std_head,
                          .meta_keys = std_keys,
                          .meta_values = std_values,
                          .n_meta = 3};
}

/* Deterministic logits with awkward values among them: -0, a subnormal, +-FLT_MAX. */
static void std_logits(int64_t id, float *z)
{
    uint32_t x = (uint32_t)id * 2654435761u + 12345u;
    for (int k = 0; k < STD_STRIDE; k++) {
        x = x * 1664525u + 1013904223u;
        z[k] = (float)((double)(x >> 8) / (double)(1u << 24) * 20.0 - 10.0);
    }
    if (id == 1) {
        z[0] = -0.0f;
        z[1] = FLT_TRUE_MIN;
        z[2] = FLT_MAX;
        z[3] = -FLT_MAX;
    }
}

/* Sample ids 0, 3, 6, ... added in a shuffled order; the loader sorts them. */
static int64_t std_id(int i)
{
    return 3 * (int64_t)((i * 5) % STD_SAMPLES);
}

static void write_std(const char *path)
{
    trace_header h = std_header();
    trace_writer *w = NULL;
    char err[ERR_LEN] = "";
    int rc = trace_writer_open(&w, path, &h, err, sizeof err);
    if (rc) fprintf(stderr, "%s\n", err);
    assert_int_equal(rc, TRACE_OK);
    for (int i = 0; i < STD_SAMPLES; i++) {
        float z[STD_STRIDE];
        int64_t id = std_id(i);
        std_logits(id, z);
        assert_int_equal(trace_writer_add(w, id, (int)(id % STD_CLASSES), z, err, sizeof err),
                         TRACE_OK);
    }
    assert_int_equal(trace_writer_finish(w, err, sizeof err), TRACE_OK);
}

static trace *load_ok(const char *path)
{
    trace *t = NULL;
    char err[ERR_LEN] = "";
    int rc = trace_load(path, &t, err, sizeof err);
    if (rc) fprintf(stderr, "%s\n", err);
    assert_int_equal(rc, TRACE_OK);
    assert_non_null(t);
    return t;
}

/* Bit-exact equality of two traces' samples (ids, labels, logits). */
static void assert_same_samples(const trace *a, const trace *b)
{
    assert_int_equal(trace_samples(a), trace_samples(b));
    assert_int_equal(trace_classes(a), trace_classes(b));
    assert_int_equal(trace_exits(a), trace_exits(b));
    size_t stride = (size_t)(trace_exits(a) + 1) * (size_t)trace_classes(a);
    for (size_t i = 0; i < trace_samples(a); i++) {
        assert_int_equal(trace_sample_id(a, i), trace_sample_id(b, i));
        assert_int_equal(trace_label(a, i), trace_label(b, i));
        assert_memory_equal(trace_logits(a, i), trace_logits(b, i), stride * sizeof(float));
    }
}

/* ---- writing and loading ---- */

static void test_round_trip(void **state)
{
    (void)state;
    char path[PATH_LEN], tmp[PATH_LEN + 8];
    path_in(path, sizeof path, "round.trace");
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    write_std(path);
    assert_false(exists(tmp));
    trace *t = load_ok(path);
    assert_int_equal(trace_samples(t), STD_SAMPLES);
    assert_int_equal(trace_classes(t), STD_CLASSES);
    assert_int_equal(trace_exits(t), STD_EXITS);
    for (size_t i = 0; i < STD_SAMPLES; i++) {
        int64_t id = 3 * (int64_t)i; /* sorted */
        float z[STD_STRIDE];
        std_logits(id, z);
        assert_int_equal(trace_sample_id(t, i), id);
        assert_int_equal(trace_label(t, i), id % STD_CLASSES);
        assert_memory_equal(trace_logits(t, i), z, sizeof z);
        assert_ptr_equal(trace_exit_logits(t, i, 2), trace_logits(t, i) + 2 * STD_CLASSES);
        assert_int_equal(trace_find(t, id), (long long)i);
        assert_int_equal(trace_find(t, id + 1), -1);
    }
    for (int l = 0; l <= STD_EXITS; l++) {
        assert_string_equal(trace_exit_name(t, l), std_names[l]);
        if (l < STD_EXITS)
            assert_true(trace_threshold(t, l) == std_thr[l]);
        else
            assert_true(isnan(trace_threshold(t, l)));
        assert_int_equal(trace_backbone_macs(t, l), std_backbone[l]);
        assert_int_equal(trace_head_macs(t, l), std_head[l]);
    }
    assert_string_equal(trace_meta(t, "format"), TRACE_FORMAT);
    assert_string_equal(trace_meta(t, "format_version"), "1");
    assert_string_equal(trace_meta(t, "classes"), "4");
    assert_string_equal(trace_meta(t, "exits"), "3");
    assert_string_equal(trace_meta(t, "dataset"), "fashion-mnist");
    assert_string_equal(trace_meta(t, "arch"), "arch=vgg19 width=0.25");
    assert_non_null(trace_meta(t, "created_at"));
    assert_null(trace_meta(t, "model"));
    /* out of range */
    assert_null(trace_logits(t, STD_SAMPLES));
    assert_null(trace_exit_logits(t, 0, STD_EXITS + 1));
    assert_null(trace_exit_name(t, -1));
    assert_int_equal(trace_sample_id(t, STD_SAMPLES), -1);
    assert_int_equal(trace_label(t, STD_SAMPLES), -1);
    assert_int_equal(trace_backbone_macs(t, STD_EXITS + 1), -1);
    assert_true(isnan(trace_threshold(t, STD_EXITS + 1)));

    /* trace_save of the loaded trace writes the same samples */
    char again[PATH_LEN];
    path_in(again, sizeof again, "again.trace");
    trace_header h = std_header();
    char err[ERR_LEN] = "";
    assert_int_equal(trace_save(t, again, &h, err, sizeof err), TRACE_OK);
    trace *t2 = load_ok(again);
    assert_same_samples(t, t2);
    trace_free(t2);

    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    assert_non_null(out);
    assert_int_equal(trace_print_info(t, path, out), TRACE_OK);
    fclose(out);
    assert_non_null(strstr(buf, "samples: 12 (ids 0 .. 33)"));
    assert_non_null(strstr(buf, "dataset = fashion-mnist"));
    assert_non_null(strstr(buf, "final"));
    free(buf);
    trace_free(t);
}

/* Without names and MACs the writer uses exit0 .. final and NULL MACs (-1 when loaded). */
static void test_defaults(void **state)
{
    (void)state;
    char path[PATH_LEN], err[ERR_LEN] = "";
    path_in(path, sizeof path, "defaults.trace");
    const double thr[2] = {1, 2};
    trace_header h = {.classes = 2, .exits = 2, .thresholds = thr};
    trace_writer *w = NULL;
    assert_int_equal(trace_writer_open(&w, path, &h, err, sizeof err), TRACE_OK);
    const float z[6] = {1, 2, 3, 4, 5, 6};
    assert_int_equal(trace_writer_add(w, 7, 1, z, err, sizeof err), TRACE_OK);
    assert_int_equal(trace_writer_finish(w, err, sizeof err), TRACE_OK);
    trace *t = load_ok(path);
    assert_string_equal(trace_exit_name(t, 0), "exit0");
    assert_string_equal(trace_exit_name(t, 1), "exit1");
    assert_string_equal(trace_exit_name(t, 2), "final");
    assert_int_equal(trace_backbone_macs(t, 0), -1);
    assert_int_equal(trace_head_macs(t, 2), -1);
    assert_int_equal(trace_sample_id(t, 0), 7);
    trace_free(t);
}

static void expect_open_error(const trace_header *h, const char *want)
{
    char path[PATH_LEN], err[ERR_LEN] = "";
    path_in(path, sizeof path, "refused.trace");
    trace_writer *w = NULL;
    assert_int_equal(trace_writer_open(&w, path, h, err, sizeof err), TRACE_EARG);
    assert_null(w);
    assert_err_has(err, want);
    assert_false(exists(path));
}

static void test_writer_refuses(void **state)
{
    (void)state;
    trace_header h = std_header();
    h.classes = 1;
    expect_open_error(&h, "1 classes; a trace needs 2 .. 65536");
    h = std_header();
    const char *no_final[] = {"e0", "e1", "e2", "last"};
    h.names = no_final;
    expect_open_error(&h, "exit 3 is named 'last'; the last (3) and only it must be 'final'");
    const char *early_final[] = {"e0", "final", "e2", "final"};
    h.names = early_final;
    expect_open_error(&h, "exit 1 is named 'final'");
    const char *dup[] = {"e0", "e1", "e0", "final"};
    h.names = dup;
    expect_open_error(&h, "exit 2 repeats the name 'e0' of exit 0");
    h = std_header();
    const double neg[STD_EXITS] = {0.5, -1, 0};
    h.thresholds = neg;
    expect_open_error(&h, "exit 1 has threshold -1; it must be finite and >= 0");
    h = std_header();
    const char *rkeys[] = {"classes"}, *rvalues[] = {"3"};
    h.meta_keys = rkeys;
    h.meta_values = rvalues;
    h.n_meta = 1;
    expect_open_error(&h, "meta key 'classes' is reserved");

    /* bad samples are refused one by one; the file stays valid */
    char path[PATH_LEN], tmp[PATH_LEN + 8], err[ERR_LEN] = "";
    path_in(path, sizeof path, "adds.trace");
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    h = std_header();
    trace_writer *w = NULL;
    assert_int_equal(trace_writer_open(&w, path, &h, err, sizeof err), TRACE_OK);
    assert_true(exists(tmp));
    float z[STD_STRIDE];
    std_logits(0, z);
    assert_int_equal(trace_writer_add(w, 0, STD_CLASSES, z, err, sizeof err), TRACE_EARG);
    assert_err_has(err, "sample 0: label 4 is not a class in 0 .. 3");
    assert_int_equal(trace_writer_add(w, -2, 0, z, err, sizeof err), TRACE_EARG);
    assert_err_has(err, "sample id -2 is negative");
    z[STD_CLASSES + 1] = NAN;
    assert_int_equal(trace_writer_add(w, 5, 0, z, err, sizeof err), TRACE_EARG);
    assert_err_has(err, "sample 5: exit 1 class 1 logit is not finite");
    std_logits(0, z);
    assert_int_equal(trace_writer_add(w, 5, 0, z, err, sizeof err), TRACE_OK);
    assert_int_equal(trace_writer_add(w, 5, 1, z, err, sizeof err), TRACE_EARG);
    assert_err_has(err, "sample 5 is added twice");
    assert_int_equal(trace_writer_finish(w, err, sizeof err), TRACE_OK);
    trace *t = load_ok(path);
    assert_int_equal(trace_samples(t), 1);
    trace_free(t);

    /* no samples: refused, nothing left behind; abort leaves nothing either */
    path_in(path, sizeof path, "empty.trace");
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_int_equal(trace_writer_open(&w, path, &h, err, sizeof err), TRACE_OK);
    assert_int_equal(trace_writer_finish(w, err, sizeof err), TRACE_EARG);
    assert_err_has(err, "no samples to write");
    assert_false(exists(path));
    assert_false(exists(tmp));
    assert_int_equal(trace_writer_open(&w, path, &h, err, sizeof err), TRACE_OK);
    assert_int_equal(trace_writer_add(w, 1, 1, z, err, sizeof err), TRACE_OK);
    trace_writer_abort(w);
    assert_false(exists(path));
    assert_false(exists(tmp));
    trace_writer_abort(NULL);
}

/* ---- load errors ---- */

static void expect_load_error(const char *path, int want_rc, const char *want)
{
    trace *t = NULL;
    char err[ERR_LEN] = "";
    int rc = trace_load(path, &t, err, sizeof err);
    if (rc != want_rc) fprintf(stderr, "rc %d, error '%s' (wanted '%s')\n", rc, err, want);
    assert_int_equal(rc, want_rc);
    assert_null(t);
    assert_int_equal(strncmp(err, path, strlen(path)), 0); /* names the file */
    assert_null(strchr(err, '\n'));                        /* one line */
    assert_err_has(err, want);
}

static void exec_on(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    if (rc) fprintf(stderr, "%s: %s\n", sql, sqlite3_errmsg(db));
    assert_int_equal(rc, SQLITE_OK);
    sqlite3_close(db);
}

static const struct {
    const char *sql;
    const char *want;
} corruptions[] = {
    {"UPDATE samples SET logits = zeroblob(8) WHERE sample = 6",
     "sample 6: logits hold 8 bytes; 3 exits + final x 4 classes need 64"},
    {"UPDATE samples SET label = 4 WHERE sample = 9",
     "sample 9: label '4' is not a class in 0 .. 3"},
    {"UPDATE samples SET label = -1 WHERE sample = 3", "sample 3: label '-1' is not a class"},
    {"UPDATE samples SET sample = -3 WHERE sample = 0", "sample -3: negative sample id"},
    {"DELETE FROM samples", "no samples"},
    {"DROP TABLE samples", "not a pesim trace file (no such table: samples)"},
    {"DROP TABLE exits", "not a pesim trace file (no such table: exits)"},
    {"DROP TABLE meta", "not a pesim trace file (no such table: meta)"},
    {"DELETE FROM meta", "not a pesim trace file (no meta 'format')"},
    {"UPDATE meta SET value = 'pesim-model' WHERE key = 'format'",
     "not a pesim trace file (format 'pesim-model')"},
    {"UPDATE meta SET value = '2' WHERE key = 'format_version'",
     "format version 2 is newer than this pesim reads (1)"},
    {"UPDATE meta SET value = 'one' WHERE key = 'format_version'", "bad format version 'one'"},
    {"DELETE FROM meta WHERE key = 'classes'", "missing meta 'classes'"},
    {"DELETE FROM meta WHERE key = 'exits'", "missing meta 'exits'"},
    {"UPDATE meta SET value = '3x' WHERE key = 'exits'",
     "meta 'exits' is '3x'; it must be a whole number in 0 .. 4096"},
    {"UPDATE meta SET value = '5' WHERE key = 'classes'",
     "sample 0: logits hold 64 bytes; 3 exits + final x 5 classes need 80"},
    {"DELETE FROM exits WHERE exit = 1", "missing exit row 1"},
    {"DELETE FROM exits WHERE exit = 3", "missing exit row 3"},
    {"INSERT INTO exits VALUES(4, 'extra', NULL, NULL, NULL)",
     "unexpected exit row 4 (meta says 3 exits + final)"},
    {"UPDATE exits SET name = 'last' WHERE exit = 3",
     "exit 3 is named 'last'; the last (3) and only it must be 'final'"},
    {"UPDATE exits SET name = 'final' WHERE exit = 1", "exit 1 is named 'final'"},
    {"UPDATE exits SET name = 'e0' WHERE exit = 2", "exit 2 repeats the name 'e0' of exit 0"},
    {"UPDATE exits SET threshold = -1 WHERE exit = 0",
     "exit 0 ('e0') has threshold -1; it must be finite and >= 0"},
    {"UPDATE exits SET threshold = NULL WHERE exit = 1", "exit 1 ('e1') has threshold nan"},
    {"UPDATE exits SET threshold = 2 WHERE exit = 3",
     "the final classifier has a threshold; it must be NULL"},
    {"UPDATE exits SET backbone_macs = -5 WHERE exit = 1",
     "exit 1 ('e1') has backbone_macs '-5'; it must be a whole number >= 0 or NULL"},
};

static void test_load_errors(void **state)
{
    (void)state;
    char path[PATH_LEN];
    path_in(path, sizeof path, "corrupt.trace");
    for (size_t i = 0; i < sizeof corruptions / sizeof corruptions[0]; i++) {
        write_std(path);
        exec_on(path, corruptions[i].sql);
        expect_load_error(path, TRACE_EFORMAT, corruptions[i].want);
    }
}

/* A NaN logit, written past the writer with a prepared statement. */
static void test_load_nan(void **state)
{
    (void)state;
    char path[PATH_LEN];
    path_in(path, sizeof path, "nan.trace");
    write_std(path);
    float z[STD_STRIDE];
    std_logits(9, z);
    z[2 * STD_CLASSES + 3] = NAN; /* exit 2, class 3 */
    unsigned char blob[sizeof z];
    for (int k = 0; k < STD_STRIDE; k++) {
        uint32_t u;
        memcpy(&u, &z[k], sizeof u);
        for (int b = 0; b < 4; b++) blob[4 * k + b] = (unsigned char)(u >> (8 * b));
    }
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_prepare_v2(db, "UPDATE samples SET logits = ? WHERE sample = 9", -1, &st, NULL),
        SQLITE_OK);
    sqlite3_bind_blob(st, 1, blob, sizeof blob, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3_close(db);
    expect_load_error(path, TRACE_EFORMAT, "sample 9: exit 2 ('e2') class 3 logit is not finite");
}

static void test_load_not_a_trace(void **state)
{
    (void)state;
    char path[PATH_LEN];
    path_in(path, sizeof path, "text.trace");
    write_text(path, "sample,label,exit,z0,z1\nthis is not a database, only text\n");
    expect_load_error(path, TRACE_EFORMAT, "not a pesim trace file (file is not a database)");
    path_in(path, sizeof path, "missing.trace");
    expect_load_error(path, TRACE_EIO, "cannot open");
    expect_load_error(g_dir, TRACE_EIO, "not a regular file");

    /* truncated: a trace large enough for many pages, cut in half */
    path_in(path, sizeof path, "big.trace");
    enum { CLASSES = 10, EXITS = 5, SAMPLES = 400 };
    double thr[EXITS] = {1, 1, 1, 1, 1};
    trace_header h = {.classes = CLASSES, .exits = EXITS, .thresholds = thr};
    trace_writer *w = NULL;
    char err[ERR_LEN] = "";
    assert_int_equal(trace_writer_open(&w, path, &h, err, sizeof err), TRACE_OK);
    float z[(EXITS + 1) * CLASSES];
    for (int i = 0; i < SAMPLES; i++) {
        for (int k = 0; k < (EXITS + 1) * CLASSES; k++) z[k] = (float)(i + k);
        assert_int_equal(trace_writer_add(w, i, i % CLASSES, z, err, sizeof err), TRACE_OK);
    }
    assert_int_equal(trace_writer_finish(w, err, sizeof err), TRACE_OK);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    rewind(f);
    char *buf = malloc((size_t)size);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    char cut[PATH_LEN];
    path_in(cut, sizeof cut, "cut.trace");
    write_bytes(cut, buf, (size_t)size / 2);
    trace *t = NULL;
    int rc = trace_load(cut, &t, err, sizeof err);
    assert_int_equal(rc, TRACE_EFORMAT);
    assert_null(t);
    assert_int_equal(strncmp(err, cut, strlen(cut)), 0);
    char want[80];
    snprintf(want, sizeof want, "truncated: %ld of %ld bytes", size / 2, size);
    assert_err_has(err, want);
    free(buf);
}

/* ---- CSV import ---- */

static trace *import_csv_ok(const char *name, const char *text, int classes)
{
    char path[PATH_LEN], err[ERR_LEN] = "";
    path_in(path, sizeof path, name);
    write_text(path, text);
    trace *t = NULL;
    int rc = trace_import_csv(path, classes, &t, err, sizeof err);
    if (rc) fprintf(stderr, "%s\n", err);
    assert_int_equal(rc, TRACE_OK);
    return t;
}

static void test_csv_import(void **state)
{
    (void)state;
    /* samples out of order, CRLF, blanks around fields, a blank line, exponent forms */
    static const char text[] = "sample,label,exit,z0,z1,z2\r\n"
                               "5,2,0,1.5,-0.25,3\r\n"
                               "5,2,1, 0.1 ,2e-3,-7\r\n"
                               "5,2,2,100,-0,1E+2\r\n"
                               "\r\n"
                               "2,0,0,-1,-2,-3\n"
                               "2,0,1,4,5,6\n"
                               "2,0,2,0.5,0.75,0.125\n";
    trace *t = import_csv_ok("fixture.csv", text, 3);
    assert_int_equal(trace_samples(t), 2);
    assert_int_equal(trace_exits(t), 2);
    assert_int_equal(trace_classes(t), 3);
    assert_int_equal(trace_sample_id(t, 0), 2);
    assert_int_equal(trace_sample_id(t, 1), 5);
    assert_int_equal(trace_label(t, 0), 0);
    assert_int_equal(trace_label(t, 1), 2);
    const float want2[9] = {-1, -2, -3, 4, 5, 6, 0.5f, 0.75f, 0.125f};
    const float want5[9] = {1.5f, -0.25f, 3, 0.1f, 2e-3f, -7, 100, -0.0f, 100};
    assert_memory_equal(trace_logits(t, 0), want2, sizeof want2);
    assert_memory_equal(trace_logits(t, 1), want5, sizeof want5);
    assert_string_equal(trace_exit_name(t, 0), "exit0");
    assert_string_equal(trace_exit_name(t, 2), "final");
    assert_true(isnan(trace_threshold(t, 0)));

    /* written as a trace, it loads back the same */
    char path[PATH_LEN], err[ERR_LEN] = "";
    path_in(path, sizeof path, "fixture.trace");
    double thr[2];
    assert_int_equal(trace_thresholds_rule(t, 0, thr), 2);
    trace_header h = {.classes = 3, .exits = 2, .thresholds = thr};
    assert_int_equal(trace_save(t, path, &h, err, sizeof err), TRACE_OK);
    trace *t2 = load_ok(path);
    assert_same_samples(t, t2);
    assert_true(trace_threshold(t2, 1) == (7.0 + 6.0) / 2.0);
    trace_free(t2);
    trace_free(t);
}

static const char csv_head[] = "sample,label,exit,z0,z1\n";

static const struct {
    const char *body; /* after csv_head, unless it starts with "!" (then the whole file) */
    int line;         /* 0: "FILE: message" */
    const char *want;
} csv_errors[] = {
    {"!", 0, "empty file; expected the header sample,label,exit,z0,..."},
    {"", 0, "no samples (only a header)"},
    {"!sample,label,exit,z0\n", 1, "header has 1 logit columns; expected 2 (one per class)"},
    {"!sample,lbl,exit,z0,z1\n", 1, "header column 2 is 'lbl'; expected 'label'"},
    {"!sample,label,exit,z0,z2\n", 1, "header column 5 is 'z2'; expected 'z1'"},
    {"0,1,0,1,2\n0,1,1,3\n", 3, "4 fields; the header has 5"},
    {"0,1,0,1,2\n0,1,1,3,x\n", 3, "z1 'x' is not a number"},
    {"0,1,0,1,2\n0,1,1,3,4.5.6\n", 3, "z1 '4.5.6' is not a number"},
    {"0,1,0,1,inf\n", 2, "z1 'inf' is not a finite float32"},
    {"0,1,0,1,1e40\n", 2, "z1 '1e40' is not a finite float32"},
    {"0,2,0,1,2\n", 2, "label '2' is not a class in 0 .. 1"},
    {"0,1.0,0,1,2\n", 2, "label '1.0' is not a class in 0 .. 1"},
    {"-1,1,0,1,2\n", 2, "sample '-1' is not a whole number >= 0"},
    {"0,1,-1,1,2\n", 2, "exit '-1' is not a whole number in 0 .. 4096"},
    {"0,1,1,1,2\n", 2, "sample 0 starts at exit 1; each sample's rows start at exit 0"},
    {"0,1,0,1,2\n0,1,2,1,2\n", 3, "sample 0: exit 2 follows exit 0 (exits ascend by one from 0)"},
    {"0,1,0,1,2\n0,1,0,1,2\n", 3, "sample 0: exit 0 again"},
    {"0,1,0,1,2\n0,0,1,1,2\n", 3, "sample 0 has label 0 here but 1 on line 2"},
    {"0,1,0,1,2\n0,1,1,1,2\n1,1,0,1,2\n2,0,0,1,2\n", 4,
     "sample 1 has 1 rows (exits 0 .. 0); every sample needs 2 (exits 0 .. 1, as sample 0)"},
    {"0,1,0,1,2\n0,1,1,1,2\n1,1,0,1,2\n", 4, "sample 1 has 1 rows"},
    {"0,1,0,1,2\n1,1,0,1,2\n1,1,1,1,2\n", 4,
     "sample 1 has more rows than sample 0 (line 2, exits 0 .. 0)"},
    {"0,1,0,1,2\n1,1,0,1,2\n0,1,0,3,4\n", 4, "sample 0 appears again (first at line 2)"},
};

static void test_csv_errors(void **state)
{
    (void)state;
    char path[PATH_LEN], text[512], want[PATH_LEN + 256], err[ERR_LEN];
    path_in(path, sizeof path, "bad.csv");
    for (size_t i = 0; i < sizeof csv_errors / sizeof csv_errors[0]; i++) {
        const char *body = csv_errors[i].body;
        if (body[0] == '!')
            snprintf(text, sizeof text, "%s", body + 1);
        else
            snprintf(text, sizeof text, "%s%s", csv_head, body);
        write_text(path, text);
        if (csv_errors[i].line)
            snprintf(want, sizeof want, "%s:%d: %s", path, csv_errors[i].line, csv_errors[i].want);
        else
            snprintf(want, sizeof want, "%s: %s", path, csv_errors[i].want);
        trace *t = NULL;
        err[0] = '\0';
        int rc = trace_import_csv(path, 2, &t, err, sizeof err);
        if (rc != TRACE_EFORMAT || !strstr(err, want))
            fprintf(stderr, "case %zu: rc %d, error '%s' (wanted '%s')\n", i, rc, err, want);
        assert_int_equal(rc, TRACE_EFORMAT);
        assert_null(t);
        assert_non_null(strstr(err, want));
    }
    trace *t = NULL;
    path_in(path, sizeof path, "nope.csv");
    assert_int_equal(trace_import_csv(path, 2, &t, err, sizeof err), TRACE_EIO);
    assert_err_has(err, "cannot open");
    assert_int_equal(trace_import_csv(path, 1, &t, err, sizeof err), TRACE_EARG);
}

/* ---- NPY import ---- */

typedef struct npy_buf {
    unsigned char b[NPY_BUF];
    size_t n;
} npy_buf;

/* Magic, version major.0, header length and the dict padded with blanks and a newline to a
 * multiple of 64 bytes, as numpy writes it. */
static void npy_start(npy_buf *a, int major, const char *dict)
{
    size_t pre = major == 1 ? 10 : 12, dlen = strlen(dict);
    size_t total = pre + dlen + 1, pad = (64 - total % 64) % 64, hlen = dlen + pad + 1;
    memcpy(a->b, "\x93NUMPY", 6);
    a->b[6] = (unsigned char)major;
    a->b[7] = 0;
    for (size_t k = 0; k < pre - 8; k++) a->b[8 + k] = (unsigned char)(hlen >> (8 * k));
    memcpy(a->b + pre, dict, dlen);
    memset(a->b + pre + dlen, ' ', pad);
    a->b[pre + hlen - 1] = '\n';
    a->n = pre + hlen;
}

static void npy_put(npy_buf *a, uint64_t v, int bytes)
{
    assert_true(a->n + (size_t)bytes <= NPY_BUF);
    for (int k = 0; k < bytes; k++) a->b[a->n++] = (unsigned char)(v >> (8 * k));
}

static void npy_f32(npy_buf *a, float v)
{
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    npy_put(a, u, 4);
}

static void npy_f64(npy_buf *a, double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    npy_put(a, u, 8);
}

#define NPY_N 4
#define NPY_E 3 /* exits + final */
#define NPY_C 2

static double npy_value(int k)
{
    return k == 5 ? 0.1 : (k - 11) * 0.375; /* 0.1 is not a float32: converted */
}

static const int npy_labels_v[NPY_N] = {1, 0, 1, 1};

static void write_logits(const char *name, int major, bool f64, char *path)
{
    npy_buf a;
    npy_start(&a, major,
              f64 ? "{'descr': '<f8', 'fortran_order': False, 'shape': (4, 3, 2), }"
                  : "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 3, 2), }");
    for (int k = 0; k < NPY_N * NPY_E * NPY_C; k++)
        if (f64)
            npy_f64(&a, npy_value(k));
        else
            npy_f32(&a, (float)npy_value(k));
    path_in(path, PATH_LEN, name);
    write_bytes(path, a.b, a.n);
}

static void write_labels(const char *name, const char *descr, int bytes, char *path)
{
    npy_buf a;
    char dict[128];
    snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (4,), }", descr);
    npy_start(&a, 1, dict);
    for (int i = 0; i < NPY_N; i++) npy_put(&a, (uint64_t)npy_labels_v[i], bytes);
    path_in(path, PATH_LEN, name);
    write_bytes(path, a.b, a.n);
}

static void check_npy_trace(const trace *t)
{
    assert_int_equal(trace_samples(t), NPY_N);
    assert_int_equal(trace_exits(t), NPY_E - 1);
    assert_int_equal(trace_classes(t), NPY_C);
    for (int i = 0; i < NPY_N; i++) {
        assert_int_equal(trace_sample_id(t, (size_t)i), i);
        assert_int_equal(trace_label(t, (size_t)i), npy_labels_v[i]);
        for (int k = 0; k < NPY_E * NPY_C; k++) {
            float want = (float)npy_value(i * NPY_E * NPY_C + k);
            assert_memory_equal(&trace_logits(t, (size_t)i)[k], &want, sizeof want);
        }
    }
}

static void test_npy_import(void **state)
{
    (void)state;
    char f32[PATH_LEN], f64[PATH_LEN], f64v2[PATH_LEN], y8[PATH_LEN], y4[PATH_LEN], y1[PATH_LEN],
        err[ERR_LEN] = "";
    write_logits("z32.npy", 1, false, f32);
    write_logits("z64.npy", 1, true, f64);
    write_logits("z64v2.npy", 2, true, f64v2);
    write_labels("y8.npy", "<i8", 8, y8);
    write_labels("y4.npy", "<i4", 4, y4);
    write_labels("y1.npy", "|u1", 1, y1);
    const char *logits[] = {f32, f64, f64v2}, *labels[] = {y8, y4, y1};
    trace *first = NULL;
    for (int k = 0; k < 3; k++) {
        trace *t = NULL;
        int rc = trace_import_npy(logits[k], labels[k], NPY_C, &t, err, sizeof err);
        if (rc) fprintf(stderr, "%s\n", err);
        assert_int_equal(rc, TRACE_OK);
        check_npy_trace(t);
        if (first) {
            assert_same_samples(first, t);
            trace_free(t);
        } else {
            first = t;
        }
    }
    trace_free(first);
}

static const struct {
    const char *dict; /* NULL: raw bytes below */
    int major;
    int data_bytes; /* of '<f4' zeros */
    const char *want;
} npy_errors[] = {
    {"{'descr': '<f4', 'fortran_order': True, 'shape': (4, 3, 2), }", 1, 96,
     "Fortran-order arrays are not supported"},
    {"{'descr': '>f4', 'fortran_order': False, 'shape': (4, 3, 2), }", 1, 96,
     "dtype '>f4' is not supported (need '<f4' or '<f8')"},
    {"{'descr': '<i8', 'fortran_order': False, 'shape': (4, 3, 2), }", 1, 96,
     "dtype '<i8' is not supported"},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (12, 2), }", 1, 96,
     "shape (12, 2) has 2 dimensions; expected 3 (samples, exits + 1, classes)"},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (4, 2, 3), }", 1, 96,
     "shape (4, 2, 3) has 3 classes; expected 2"},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3, 2), }", 1, 0, "no samples"},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (4, 3, 2), }", 1, 92,
     "holds 92 bytes of array data; shape (4, 3, 2) of '<f4' needs 96"},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (4, 3, 2), }", 1, 100,
     "holds 100 bytes of array data"},
    {"{'descr': '<f4', 'fortran_order': False, }", 1, 96, "NPY header has no 'shape'"},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (4, 3, 2), 'x': 1}", 1, 96,
     "NPY header has an unexpected key 'x'"},
    {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (4, 3, 2), }", 1, 96,
     "NPY header has a repeated key 'descr'"},
    {"{'descr': '<f4' 'fortran_order': False, 'shape': (4, 3, 2)}", 1, 96,
     "cannot parse the NPY header dict near"},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (4, 3, 2)", 1, 96,
     "cannot parse the NPY header dict near"},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (4, 3, 2)} x", 1, 96,
     "cannot parse the NPY header dict near 'x'"},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (4, 3, 2), }", 3, 96,
     "NPY format version 3.0 is not supported (1.0 or 2.0)"},
    {NULL, 1, 0, "not an NPY file"},
};

static void test_npy_errors(void **state)
{
    (void)state;
    char path[PATH_LEN], labels[PATH_LEN], err[ERR_LEN];
    path_in(path, sizeof path, "bad.npy");
    write_labels("good_labels.npy", "<i8", 8, labels);
    for (size_t i = 0; i < sizeof npy_errors / sizeof npy_errors[0]; i++) {
        npy_buf a = {.n = 0};
        if (npy_errors[i].dict) {
            npy_start(&a, npy_errors[i].major, npy_errors[i].dict);
            for (int k = 0; k < npy_errors[i].data_bytes; k++) npy_put(&a, 0, 1);
        } else {
            memcpy(a.b, "PK\3\4 a zip file, not an npy", 28);
            a.n = 28;
        }
        write_bytes(path, a.b, a.n);
        trace *t = NULL;
        err[0] = '\0';
        int rc = trace_import_npy(path, labels, NPY_C, &t, err, sizeof err);
        if (rc != TRACE_EFORMAT || !strstr(err, npy_errors[i].want))
            fprintf(stderr, "case %zu: rc %d, error '%s' (wanted '%s')\n", i, rc, err,
                    npy_errors[i].want);
        assert_int_equal(rc, TRACE_EFORMAT);
        assert_null(t);
        assert_int_equal(strncmp(err, path, strlen(path)), 0);
        assert_non_null(strstr(err, npy_errors[i].want));
    }

    /* values: NaN, and a float64 beyond float32's range */
    npy_buf a;
    npy_start(&a, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (4, 3, 2), }");
    for (int k = 0; k < NPY_N * NPY_E * NPY_C; k++) npy_f64(&a, k == 13 ? 1e300 : 0.5);
    write_bytes(path, a.b, a.n);
    trace *t = NULL;
    assert_int_equal(trace_import_npy(path, labels, NPY_C, &t, err, sizeof err), TRACE_EFORMAT);
    assert_err_has(err, "sample 2 exit 0 class 1 logit 1e+300 is not a finite float32");
    npy_start(&a, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 3, 2), }");
    for (int k = 0; k < NPY_N * NPY_E * NPY_C; k++) npy_f32(&a, k == 7 ? NAN : 0.5f);
    write_bytes(path, a.b, a.n);
    assert_int_equal(trace_import_npy(path, labels, NPY_C, &t, err, sizeof err), TRACE_EFORMAT);
    assert_err_has(err, "sample 1 exit 0 class 1 logit is not finite");

    /* labels: count, range, rank */
    char z[PATH_LEN], y[PATH_LEN];
    write_logits("zz.npy", 1, false, z);
    path_in(y, sizeof y, "bad_labels.npy");
    npy_start(&a, 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }");
    for (int i = 0; i < 3; i++) npy_put(&a, 0, 8);
    write_bytes(y, a.b, a.n);
    assert_int_equal(trace_import_npy(z, y, NPY_C, &t, err, sizeof err), TRACE_EFORMAT);
    assert_err_has(err, "holds 3 labels; the logits hold 4 samples");
    npy_start(&a, 1, "{'descr': '<i4', 'fortran_order': False, 'shape': (4,), }");
    for (int i = 0; i < 4; i++) npy_put(&a, i == 2 ? 0xffffffffu : 0, 4);
    write_bytes(y, a.b, a.n);
    assert_int_equal(trace_import_npy(z, y, NPY_C, &t, err, sizeof err), TRACE_EFORMAT);
    assert_err_has(err, "label -1 of sample 2 is not a class in 0 .. 1");
    npy_start(&a, 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (2, 2), }");
    for (int i = 0; i < 4; i++) npy_put(&a, 0, 8);
    write_bytes(y, a.b, a.n);
    assert_int_equal(trace_import_npy(z, y, NPY_C, &t, err, sizeof err), TRACE_EFORMAT);
    assert_err_has(err, "has 2 dimensions; expected 1 (samples,)");
    npy_start(&a, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (4,), }");
    for (int i = 0; i < 4; i++) npy_put(&a, 0, 8);
    write_bytes(y, a.b, a.n);
    assert_int_equal(trace_import_npy(z, y, NPY_C, &t, err, sizeof err), TRACE_EFORMAT);
    assert_err_has(err, "dtype '<f8' is not supported (need '<i8', '<i4', '|u1' or '<u1')");
    assert_null(t);
}

/* ---- export ---- */

static void test_export_round_trip(void **state)
{
    (void)state;
    char path[PATH_LEN], csv[PATH_LEN], err[ERR_LEN] = "";
    path_in(path, sizeof path, "export.trace");
    path_in(csv, sizeof csv, "export.csv");
    write_std(path);
    trace *t = load_ok(path);
    assert_int_equal(trace_export_csv(t, csv, err, sizeof err), TRACE_OK);
    trace *back = NULL;
    int rc = trace_import_csv(csv, STD_CLASSES, &back, err, sizeof err);
    if (rc) fprintf(stderr, "%s\n", err);
    assert_int_equal(rc, TRACE_OK);
    assert_same_samples(t, back); /* -0, a subnormal and +-FLT_MAX among them */
    trace_free(back);
    trace_free(t);
}

/* ---- thresholds and statistics ---- */

static void test_thresholds(void **state)
{
    (void)state;
    /* max_c |z_c| per sample: exit 0: 4, 3, 0; exit 1: 0.75, 2.5, 1 */
    static const char text[] = "sample,label,exit,z0,z1,z2\n"
                               "0,1,0,1,-4,2\n"
                               "0,1,1,0.5,0.25,-0.75\n"
                               "0,1,2,0,9,0\n"
                               "1,0,0,-3,1,0\n"
                               "1,0,1,2,-2.5,1\n"
                               "1,0,2,1,0,0\n"
                               "2,2,0,0,0,0\n"
                               "2,2,1,-1,1,0.5\n"
                               "2,2,2,0,0,1\n";
    trace *t = import_csv_ok("thr.csv", text, 3);
    double thr[2] = {0, 0};
    assert_int_equal(trace_thresholds_rule(t, 0, thr), 3);
    assert_true(thr[0] == 7.0 / 3.0);
    assert_true(thr[1] == 4.25 / 3.0);
    assert_int_equal(trace_thresholds_rule(t, 2, thr), 2);
    assert_true(thr[0] == 3.5);
    assert_true(thr[1] == 1.625);
    assert_int_equal(trace_thresholds_rule(t, 99, thr), 3); /* clipped to all */
    assert_int_equal(trace_thresholds_rule(NULL, 0, thr), 0);

    /* argmax (the first maximum on ties) against labels 1, 0, 2 */
    double acc, mean;
    assert_int_equal(trace_exit_stats(t, 0, &acc, &mean), TRACE_OK);
    assert_true(acc == 0.0); /* predicts 2, 1, and 0 for the all-zero tie */
    assert_true(mean == 7.0 / 3.0);
    assert_int_equal(trace_exit_stats(t, 1, &acc, &mean), TRACE_OK);
    assert_true(acc == 1.0 / 3.0); /* predicts 0, 0, 1 */
    assert_true(mean == 4.25 / 3.0);
    assert_int_equal(trace_exit_stats(t, 2, &acc, &mean), TRACE_OK);
    assert_true(acc == 1.0); /* 1, 0, 2 */
    assert_int_equal(trace_exit_stats(t, 3, &acc, &mean), TRACE_EARG);
    trace_free(t);
}

/* ---- speed ---- */

static void test_load_speed(void **state)
{
    (void)state;
    enum { SAMPLES = 10000, EXITS = 20, CLASSES = 10, STRIDE = (EXITS + 1) * CLASSES };
    char path[PATH_LEN], err[ERR_LEN] = "";
    path_in(path, sizeof path, "speed.trace");
    double thr[EXITS];
    for (int l = 0; l < EXITS; l++) thr[l] = l;
    trace_header h = {.classes = CLASSES, .exits = EXITS, .thresholds = thr};
    trace_writer *w = NULL;
    double t0 = now_s();
    assert_int_equal(trace_writer_open(&w, path, &h, err, sizeof err), TRACE_OK);
    float z[STRIDE];
    for (int i = 0; i < SAMPLES; i++) {
        for (int k = 0; k < STRIDE; k++) z[k] = (float)((i * 31 + k * 7) % 101) * 0.25f - 12.0f;
        assert_int_equal(trace_writer_add(w, i, i % CLASSES, z, err, sizeof err), TRACE_OK);
    }
    assert_int_equal(trace_writer_finish(w, err, sizeof err), TRACE_OK);
    double t1 = now_s();
    trace *t = load_ok(path);
    double t2 = now_s();
    assert_int_equal(trace_samples(t), SAMPLES);
    assert_true(trace_logits(t, SAMPLES - 1)[STRIDE - 1] == z[STRIDE - 1]);
    fprintf(stderr, "trace of %d samples x %d exits x %d classes: write %.3f s, load %.3f s\n",
            SAMPLES, EXITS + 1, CLASSES, t1 - t0, t2 - t1);
    assert_true(t2 - t1 < 1.0);
    trace_free(t);
}

/* ---- fixture directory ---- */

static int setup_dir(void **state)
{
    (void)state;
    return mkdtemp(g_dir) ? 0 : -1;
}

/* The directory holds only files the tests wrote. */
static int remove_dir(void **state)
{
    (void)state;
    DIR *d = opendir(g_dir);
    if (!d) return -1;
    const struct dirent *e;
    char path[PATH_LEN];
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            path_in(path, sizeof path, e->d_name);
            remove(path);
        }
    closedir(d);
    return rmdir(g_dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_writer_refuses),    cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_load_nan),          cmocka_unit_test(test_load_not_a_trace),
        cmocka_unit_test(test_csv_import),        cmocka_unit_test(test_csv_errors),
        cmocka_unit_test(test_npy_import),        cmocka_unit_test(test_npy_errors),
        cmocka_unit_test(test_export_round_trip), cmocka_unit_test(test_thresholds),
        cmocka_unit_test(test_load_speed),
    };
    return cmocka_run_group_tests(tests, setup_dir, remove_dir);
}
