/* Tests of models/model: save/load round trips are bit-exact for vgg19, resnet34 and a network
 * from a layer-list file (which the model file carries in its arch text), every promised load
 * error appears when a saved file is edited with raw SQL, random initialisation is deterministic
 * and sane, and the info printout carries the exit table. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "model.h"
#include "sha256.h"

#define ERR_LEN   512
#define SEED      42
#define SIDE      32
#define CHANNELS  1
#define CLASSES   10
#define N_PROV    4
#define SMALL_W   0.0625 /* a tiny vgg19 for the error tests */
#define THR_SCALE 0.5

static const char *const prov_keys[N_PROV] = {"dataset", "seed", "epochs", "command"};
static const char *const prov_values[N_PROV] = {"fashion-mnist", "42", "3",
                                                "pesim train --seed 42 'x y'"};

/* A per-test file path under /tmp. */
static void tmp_path(char *buf, size_t len, const char *tag)
{
    snprintf(buf, len, "/tmp/test_model_%ld_%s.db", (long)getpid(), tag);
}

static net *build(const char *arch, double width)
{
    net *n = NULL;
    char err[ERR_LEN];
    assert_int_equal(net_build(&n, arch, width, SIDE, SIDE, CHANNELS, CLASSES, err, sizeof err), 0);
    return n;
}

/* Save n with random params and fixed thresholds/accuracies; returns the params. */
static float **save_random(const char *path, const net *n, uint64_t seed)
{
    float **p = NULL;
    char err[ERR_LEN] = "";
    assert_int_equal(model_init_random(n, seed, &p, err, sizeof err), 0);
    int ne = net_exit_count(n);
    double *thr = malloc((size_t)ne * sizeof *thr);
    double *acc = malloc((size_t)(ne + 1) * sizeof *acc);
    assert_non_null(thr);
    assert_non_null(acc);
    for (int i = 0; i < ne; i++) thr[i] = THR_SCALE * i + 0.125;
    for (int i = 0; i <= ne; i++) acc[i] = i == 1 ? NAN : (double)i / (ne + 1);
    int rc = model_save(path, n, (const float *const *)p, thr, acc, prov_keys, prov_values, N_PROV,
                        err, sizeof err);
    if (rc) fprintf(stderr, "%s\n", err);
    assert_int_equal(rc, 0);
    free(thr);
    free(acc);
    return p;
}

/* Save n with random parameters, load it back, check every field; returns the loaded model. */
static model *round_trip_net(const net *n, const char *tag)
{
    char path[256], err[ERR_LEN] = "";
    tmp_path(path, sizeof path, tag);
    float **p = save_random(path, n, SEED);
    model *m = NULL;
    int rc = model_load(path, &m, err, sizeof err);
    if (rc) fprintf(stderr, "%s\n", err);
    assert_int_equal(rc, 0);
    assert_int_equal(m->n_params, net_tensor_count(n));
    for (int i = 0; i < m->n_params; i++)
        assert_memory_equal(m->params[i], p[i], net_tensor_at(n, i)->count * sizeof(float));
    int ne = net_exit_count(n);
    assert_int_equal(m->n_exits, ne + 1);
    for (int i = 0; i < ne; i++) assert_true(m->thresholds[i] == THR_SCALE * i + 0.125);
    assert_true(isnan(m->thresholds[ne]));
    assert_true(isnan(m->test_accuracy[1]));
    for (int i = 0; i <= ne; i++)
        if (i != 1) assert_true(m->test_accuracy[i] == (double)i / (ne + 1));
    for (int i = 0; i < N_PROV; i++)
        assert_string_equal(model_prov(m, prov_keys[i]), prov_values[i]);
    assert_non_null(model_prov(m, "created_at"));
    assert_null(model_prov(m, "nope"));
    assert_null(model_prov(m, "arch"));
    int len = net_arch_text(n, NULL, 0);
    char *a = malloc((size_t)len + 1), *b = malloc((size_t)len + 1);
    assert_non_null(a);
    assert_non_null(b);
    net_arch_text(n, a, (size_t)len + 1);
    assert_int_equal(net_arch_text(m->net, b, (size_t)len + 1), len);
    assert_string_equal(a, b);
    free(a);
    free(b);
    model_free_params(p, net_tensor_count(n));
    unlink(path);
    return m;
}

static void round_trip(const char *arch, double width)
{
    net *n = build(arch, width);
    model_free(round_trip_net(n, arch));
    net_free(n);
}

static void test_round_trip_vgg19(void **state)
{
    (void)state;
    round_trip("vgg19", 0.25);
}

static void test_round_trip_resnet34(void **state)
{
    (void)state;
    round_trip("resnet34", 0.125);
}

/* A network from a layer-list file: the model file holds its whole layer list, so it loads
 * after the file is gone. */
static void test_round_trip_layers(void **state)
{
    (void)state;
    char src[256], copy[256], err[ERR_LEN] = "";
    snprintf(src, sizeof src, "%s/tests/nets/tiny.ini", PESIM_SOURCE_DIR);
    snprintf(copy, sizeof copy, "/tmp/test_model_%ld_layers.ini", (long)getpid());
    FILE *in = fopen(src, "rb"), *out = fopen(copy, "wb");
    assert_non_null(in);
    assert_non_null(out);
    char buf[4096];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, in)) > 0)
        assert_int_equal(fwrite(buf, 1, got, out), got);
    fclose(in);
    assert_int_equal(fclose(out), 0);
    net *n = NULL;
    int rc = net_build(&n, copy, 0.5, SIDE, SIDE, CHANNELS, CLASSES, err, sizeof err);
    if (rc) fprintf(stderr, "%s\n", err);
    assert_int_equal(rc, 0);
    unlink(copy);
    model *m = round_trip_net(n, "layers");
    assert_string_equal(net_arch(m->net), "layers");
    assert_int_equal(net_op_count(m->net), net_op_count(n));
    assert_int_equal(net_exit_count(m->net), 3);
    assert_string_equal(net_exit_at(m->net, 1)->name, "pool1");
    assert_int_equal(net_tensor_count(m->net), net_tensor_count(n));
    assert_int_equal(net_get_totals(m->net)->backbone_macs, net_get_totals(n)->backbone_macs);
    const int *ex = NULL;
    assert_int_equal(net_coarse_exits(m->net, &ex), 2);

    /* the printout shows the arch text's first line only */
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    assert_int_equal(model_print_info(m, NULL, f), 0);
    fclose(f);
    assert_non_null(strstr(text, "  arch: arch=layers width=0.5 input=32x32x1 classes=10\n"));
    assert_null(strstr(text, "[c1]"));
    free(text);
    model_free(m);
    net_free(n);
}

/* A broken layer list in a model file is reported with its line in the arch text. */
static void test_layers_arch_invalid(void **state)
{
    (void)state;
    char path[256], err[ERR_LEN] = "", sql[1024], hex[SHA256_HEX_CHARS + 1];
    tmp_path(path, sizeof path, "badlayers");
    net *n = build("vgg19", SMALL_W);
    float **p = save_random(path, n, SEED);
    const char *text = "arch=layers width=1 input=32x32x1 classes=10\n[fc]\nkind = fc\nout = 7\n";
    sha256_hex(text, strlen(text), hex);
    snprintf(sql, sizeof sql,
             "UPDATE meta SET value = '%s' WHERE key = 'arch';"
             "UPDATE meta SET value = '%s' WHERE key = 'arch_sha256'",
             text, hex);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    model *m = (model *)1;
    assert_int_equal(model_load(path, &m, err, sizeof err), MODEL_EFORMAT);
    assert_null(m);
    char want[512];
    snprintf(want, sizeof want,
             "%s: architecture 'arch=layers width=1 input=32x32x1 classes=10': arch text:2: the "
             "last op 'fc' must be the final classifier: an fc with out = classes (10)",
             path);
    assert_string_equal(err, want);
    model_free_params(p, net_tensor_count(n));
    net_free(n);
    unlink(path);
}

/* Save a small vgg19, apply sql (may be NULL), load, expect failure with want in the message. */
static void expect_error(const char *tag, const char *sql, const char *want)
{
    char path[256], err[ERR_LEN] = "";
    tmp_path(path, sizeof path, tag);
    net *n = build("vgg19", SMALL_W);
    float **p = save_random(path, n, SEED);
    if (sql) {
        sqlite3 *db = NULL;
        assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
        char *msg = NULL;
        int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
        if (rc) fprintf(stderr, "%s: %s\n", sql, msg);
        assert_int_equal(rc, SQLITE_OK);
        sqlite3_close(db);
    }
    model *m = (model *)1;
    int rc = model_load(path, &m, err, sizeof err);
    assert_true(rc < 0);
    assert_null(m);
    if (!strstr(err, want)) fprintf(stderr, "got '%s', want '%s'\n", err, want);
    assert_non_null(strstr(err, want));
    assert_true(strncmp(err, path, strlen(path)) == 0);
    assert_null(strchr(err, '\n'));
    model_free_params(p, net_tensor_count(n));
    net_free(n);
    unlink(path);
}

static void test_missing_tensor(void **state)
{
    (void)state;
    expect_error("miss", "DELETE FROM tensors WHERE name = 'conv3.weight'",
                 ": missing tensor 'conv3.weight'");
}

static void test_extra_tensor(void **state)
{
    (void)state;
    expect_error("extra", "INSERT INTO tensors VALUES('foo', '1', x'00000000')",
                 ": unexpected tensor 'foo'");
}

/* A hand-edited file whose tensors table lost its key and holds a tensor twice (found by the
 * model fuzz target, which leaked the first copy). */
static void test_duplicate_tensor(void **state)
{
    (void)state;
    expect_error("dup",
                 "CREATE TABLE t2(name TEXT, shape TEXT NOT NULL, data BLOB NOT NULL) STRICT;"
                 "INSERT INTO t2 SELECT * FROM tensors;"
                 "INSERT INTO t2 SELECT * FROM tensors WHERE name = 'conv3.weight';"
                 "DROP TABLE tensors; ALTER TABLE t2 RENAME TO tensors",
                 ": tensor 'conv3.weight' is stored twice");
}

static void test_wrong_shape(void **state)
{
    (void)state;
    /* width 1/16: conv3 is 8 ← 4 channels */
    expect_error("shape", "UPDATE tensors SET shape = '8,4,3,4' WHERE name = 'conv3.weight'",
                 ": tensor 'conv3.weight' has shape 8,4,3,4; the architecture needs 8,4,3,3");
}

static void test_truncated_blob(void **state)
{
    (void)state;
    expect_error("trunc",
                 "UPDATE tensors SET data = substr(data, 1, length(data) - 4)"
                 " WHERE name = 'conv1.bias'",
                 ": tensor 'conv1.bias' holds 12 bytes; its shape needs 16");
}

static void test_nan_tensor(void **state)
{
    (void)state;
    /* conv2.bias (4 zeros at width 1/16) gets a quiet NaN, little-endian 0x7fc00000, at 2 */
    expect_error("nan",
                 "UPDATE tensors SET data = x'00000000000000000000c07f00000000'"
                 " WHERE name = 'conv2.bias'",
                 ": tensor 'conv2.bias' holds a non-finite value at element 2");
}

static void test_arch_text_changed(void **state)
{
    (void)state;
    expect_error("archtxt",
                 "UPDATE meta SET value = 'arch=vgg19 width=0.125 input=32x32x1 classes=10'"
                 " WHERE key = 'arch'",
                 ": architecture hash mismatch (file says ");
}

static void test_hash_changed(void **state)
{
    (void)state;
    expect_error("hash", "UPDATE meta SET value = 'abc' WHERE key = 'arch_sha256'",
                 ": architecture hash mismatch (file says abc, arch text hashes to ");
}

static void test_arch_unparsable(void **state)
{
    (void)state;
    /* the hash is recomputed so that only the parse fails */
    char sql[512], hex[SHA256_HEX_CHARS + 1];
    const char *text = "arch=vgg19 width=0.0625 input=32x32 classes=10";
    sha256_hex(text, strlen(text), hex);
    snprintf(sql, sizeof sql,
             "UPDATE meta SET value = '%s' WHERE key = 'arch';"
             "UPDATE meta SET value = '%s' WHERE key = 'arch_sha256'",
             text, hex);
    expect_error("parse", sql, ": cannot parse architecture text 'arch=vgg19 width=0.0625");
}

static void test_arch_invalid(void **state)
{
    (void)state;
    char sql[512], hex[SHA256_HEX_CHARS + 1];
    const char *text = "arch=vgg20 width=0.0625 input=32x32x1 classes=10";
    sha256_hex(text, strlen(text), hex);
    snprintf(sql, sizeof sql,
             "UPDATE meta SET value = '%s' WHERE key = 'arch';"
             "UPDATE meta SET value = '%s' WHERE key = 'arch_sha256'",
             text, hex);
    expect_error("badarch", sql, ": architecture 'arch=vgg20");
}

static void test_format_version_newer(void **state)
{
    (void)state;
    expect_error("ver", "UPDATE meta SET value = '99' WHERE key = 'format_version'",
                 ": format version 99 is newer than this pesim reads (1)");
}

static void test_not_pesim(void **state)
{
    (void)state;
    expect_error("fmt", "UPDATE meta SET value = 'other' WHERE key = 'format'",
                 ": not a pesim model file");
    expect_error("nometa", "DROP TABLE meta", ": not a pesim model file");
}

static void test_exit_rows(void **state)
{
    (void)state;
    expect_error("exmiss", "DELETE FROM exits WHERE exit = 3", ": missing exit 3 ('conv3')");
    expect_error("exlast", "DELETE FROM exits WHERE exit = 20", ": missing exit 20 ('final')");
    expect_error("exextra", "INSERT INTO exits VALUES(21, 'more', 1.0, NULL)",
                 ": unexpected exit 21 ('more')");
    expect_error("exname", "UPDATE exits SET name = 'x' WHERE exit = 0",
                 ": exit 0 is named 'x'; the architecture names it 'conv1'");
}

static void test_bad_thresholds(void **state)
{
    (void)state;
    expect_error("thrneg", "UPDATE exits SET threshold = -1 WHERE exit = 2",
                 ": exit 2 ('pool1') has threshold -1; it must be finite and >= 0");
    expect_error("thrinf", "UPDATE exits SET threshold = 9e999 WHERE exit = 2",
                 ": exit 2 ('pool1') has threshold inf; it must be finite and >= 0");
    expect_error("thrnull", "UPDATE exits SET threshold = NULL WHERE exit = 2",
                 ": exit 2 ('pool1') has threshold nan");
    expect_error("thrfinal", "UPDATE exits SET threshold = 1 WHERE exit = 20",
                 ": the final classifier has a threshold");
    expect_error("acc", "UPDATE exits SET test_accuracy = 1.5 WHERE exit = 2",
                 ": exit 2 ('pool1') has test accuracy 1.5");
}

/* Write bytes into a fresh file at path. */
static void write_file(const char *path, const char *bytes, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, len, f), len);
    fclose(f);
}

static void expect_raw_error(const char *path, const char *want)
{
    char err[ERR_LEN] = "";
    model *m = NULL;
    assert_true(model_load(path, &m, err, sizeof err) < 0);
    assert_null(m);
    char full[ERR_LEN];
    snprintf(full, sizeof full, "%s: %s", path, want);
    if (strncmp(err, full, strlen(full))) fprintf(stderr, "got '%s', want '%s'\n", err, full);
    assert_true(strncmp(err, full, strlen(full)) == 0);
}

static void test_garbage_empty_missing(void **state)
{
    (void)state;
    char path[256];
    tmp_path(path, sizeof path, "garbage");
    const char garbage[] = "this is certainly not an sqlite database, just some text....\n";
    write_file(path, garbage, sizeof garbage - 1);
    expect_raw_error(path, "not a pesim model file");
    write_file(path, "", 0);
    expect_raw_error(path, "not a pesim model file");
    unlink(path);
    expect_raw_error(path, "cannot open");
}

static void test_save_rejects(void **state)
{
    (void)state;
    char path[256], err[ERR_LEN] = "";
    tmp_path(path, sizeof path, "rej");
    net *n = build("vgg19", SMALL_W);
    float **p = NULL;
    assert_int_equal(model_init_random(n, SEED, &p, err, sizeof err), 0);
    int ne = net_exit_count(n);
    double *thr = calloc((size_t)ne, sizeof *thr);
    assert_non_null(thr);
    const char *bad_key[] = {"arch"}, *val[] = {"x"};
    assert_int_equal(
        model_save(path, n, (const float *const *)p, thr, NULL, bad_key, val, 1, err, sizeof err),
        MODEL_EARG);
    assert_non_null(strstr(err, "provenance key 'arch' is reserved"));
    thr[3] = -0.5;
    assert_int_equal(
        model_save(path, n, (const float *const *)p, thr, NULL, NULL, NULL, 0, err, sizeof err),
        MODEL_EARG);
    assert_non_null(strstr(err, "exit 3 ('conv3') has threshold -0.5"));
    thr[3] = 0;
    p[1][0] = INFINITY;
    assert_int_equal(
        model_save(path, n, (const float *const *)p, thr, NULL, NULL, NULL, 0, err, sizeof err),
        MODEL_EARG);
    assert_non_null(strstr(err, "holds a non-finite value at element 0"));
    assert_int_equal(access(path, F_OK), -1); /* nothing written */
    p[1][0] = 0;
    /* with NULL accuracies and no provenance: loads, accuracies NAN, created_at added */
    assert_int_equal(
        model_save(path, n, (const float *const *)p, thr, NULL, NULL, NULL, 0, err, sizeof err), 0);
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_int_equal(access(tmp, F_OK), -1);
    model *m = NULL;
    assert_int_equal(model_load(path, &m, err, sizeof err), 0);
    for (int i = 0; i <= ne; i++) assert_true(isnan(m->test_accuracy[i]));
    assert_int_equal(m->n_prov, 1);
    assert_non_null(model_prov(m, "created_at"));
    model_free(m);
    free(thr);
    model_free_params(p, net_tensor_count(n));
    net_free(n);
    unlink(path);
}

/* The BoF module owning tensor i, or -1. */
static int net_bof_by_tensor(const net *n, int i)
{
    for (int b = 0; b < net_bof_count(n); b++) {
        const net_bof *m = net_bof_at(n, b);
        if (i >= m->tensor_first && i < m->tensor_first + m->tensor_count) return b;
    }
    return -1;
}

static void test_init_random(void **state)
{
    (void)state;
    char err[ERR_LEN];
    net *n = build("resnet34", 0.125);
    float **a = NULL, **b = NULL, **c = NULL;
    assert_int_equal(model_init_random(n, SEED, &a, err, sizeof err), 0);
    assert_int_equal(model_init_random(n, SEED, &b, err, sizeof err), 0);
    assert_int_equal(model_init_random(n, SEED + 1, &c, err, sizeof err), 0);
    bool differs = false;
    for (int i = 0; i < net_tensor_count(n); i++) {
        const net_tensor *t = net_tensor_at(n, i);
        assert_memory_equal(a[i], b[i], t->count * sizeof(float));
        if (memcmp(a[i], c[i], t->count * sizeof(float))) differs = true;
        size_t len = strlen(t->name);
        const char *suffix = strrchr(t->name, '.');
        assert_non_null(suffix);
        float want = NAN;
        if (!strcmp(suffix, ".gamma") || !strcmp(suffix, ".var") || !strcmp(suffix, ".a"))
            want = 1.0f;
        else if (!strcmp(suffix, ".n1"))
            want = NET_BOF_CODEWORDS;
        else if (!strcmp(suffix, ".n2"))
            want = (float)net_bof_at(n, net_bof_by_tensor(n, i))->s;
        else if (!strcmp(suffix, ".beta") || !strcmp(suffix, ".mean") || !strcmp(suffix, ".c") ||
                 !strcmp(suffix, ".bias"))
            want = 0.0f;
        if (!isnan(want)) {
            for (uint64_t k = 0; k < t->count; k++) assert_true(a[i][k] == want);
            continue;
        }
        assert_true(len > 0 && !strcmp(suffix, ".weight"));
        uint64_t fan_in = 1;
        for (int d = 1; d < t->ndim; d++) fan_in *= (uint64_t)t->dims[d];
        double bound = sqrt(6.0 / (double)fan_in), sum = 0, sq = 0;
        for (uint64_t k = 0; k < t->count; k++) {
            assert_true(fabs(a[i][k]) <= bound);
            sum += a[i][k];
            sq += (double)a[i][k] * a[i][k];
        }
        if (t->count >= 1000) { /* uniform(-b, b): mean 0, variance b²/3 */
            double mean = sum / (double)t->count, var = sq / (double)t->count;
            assert_true(fabs(mean) < 0.1 * bound);
            assert_true(fabs(var / (bound * bound / 3) - 1) < 0.1);
        }
    }
    assert_true(differs);
    model_free_params(a, net_tensor_count(n));
    model_free_params(b, net_tensor_count(n));
    model_free_params(c, net_tensor_count(n));
    net_free(n);
}

static void test_print_info(void **state)
{
    (void)state;
    char path[256], err[ERR_LEN] = "";
    tmp_path(path, sizeof path, "info");
    net *n = build("vgg19", SMALL_W);
    float **p = save_random(path, n, SEED);
    model *m = NULL;
    assert_int_equal(model_load(path, &m, err, sizeof err), 0);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(model_print_info(m, path, f), 0);
    fclose(f);
    assert_non_null(strstr(buf, "arch=vgg19 width=0.0625 input=32x32x1 classes=10"));
    assert_non_null(strstr(buf, "file size: "));
    assert_non_null(strstr(buf, "dataset = fashion-mnist"));
    assert_non_null(strstr(buf, "T_l"));
    assert_non_null(strstr(buf, "test acc %"));
    /* exit 2 (pool1): T_l = 1.125, accuracy 2/21 = 9.52 % */
    assert_non_null(strstr(buf, "      2  pool1                    1.125        9.52\n"));
    assert_non_null(strstr(buf, "     20  final                        -       95.24\n"));
    free(buf);
    model_free(m);
    model_free_params(p, net_tensor_count(n));
    net_free(n);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_vgg19),
        cmocka_unit_test(test_round_trip_resnet34),
        cmocka_unit_test(test_missing_tensor),
        cmocka_unit_test(test_extra_tensor),
        cmocka_unit_test(test_duplicate_tensor),
        cmocka_unit_test(test_wrong_shape),
        cmocka_unit_test(test_truncated_blob),
        cmocka_unit_test(test_nan_tensor),
        cmocka_unit_test(test_arch_text_changed),
        cmocka_unit_test(test_hash_changed),
        cmocka_unit_test(test_arch_unparsable),
        cmocka_unit_test(test_arch_invalid),
        cmocka_unit_test(test_format_version_newer),
        cmocka_unit_test(test_not_pesim),
        cmocka_unit_test(test_exit_rows),
        cmocka_unit_test(test_bad_thresholds),
        cmocka_unit_test(test_garbage_empty_missing),
        cmocka_unit_test(test_save_rejects),
        cmocka_unit_test(test_init_random),
        cmocka_unit_test(test_print_info),
        cmocka_unit_test(test_round_trip_layers),
        cmocka_unit_test(test_layers_arch_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
