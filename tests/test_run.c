/* Tests of sim/run and sim/record: a tiny model on a generated IDX dataset, recorded as a trace;
 * for every policy a functional run and a trace run write identical inferences and exit_evals
 * rows; invariants between policies on the same trace; costs equal the per-layer tables; the
 * run lifecycle (skip, force) and determinism; bad configs give one-line errors. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfg.h"
#include "data.h"
#include "model.h"
#include "net.h"
#include "record.h"
#include "run.h"
#include "train.h"

#include "fixture.h"

enum { N_SAMPLES = FIXTURE_SAMPLES, CLASSES = FIXTURE_CLASSES };

static fixture F; /* the tiny model, its dataset and its trace (fixture.h) */
#define dir        F.dir
#define model_path F.model
#define trace_path F.trace
#define data_path  F.data

static int setup(void **state)
{
    (void)state;
    return fixture_make(&F, "/tmp/pesim_run_XXXXXX");
}

static int teardown(void **state)
{
    (void)state;
    return fixture_remove(&F);
}

/* A config for a run from the model (functional) or the trace into db. extra: more lines. */
static cfg *make_cfg(bool from_trace, const char *db_name, const char *extra)
{
    char path[160];
    snprintf(path, sizeof path, "%s/run.ini", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "[experiment]\n%s = %s\ndata = mnist\ndata_dir = %s\nout = %s/%s\n",
            from_trace ? "trace" : "model", from_trace ? trace_path : model_path, data_path, dir,
            db_name);
    fprintf(f, "[network]\narch = vgg19\nwidth = 0.0625\n%s\n", extra ? extra : "");
    fclose(f);
    cfg *c = cfg_new();
    assert_non_null(c);
    cfg_load_file(c, path);
    if (cfg_error_count(c) == 0) cfg_finish(c);
    if (cfg_error_count(c)) fail_msg("config: %s", cfg_error(c, 0));
    return c;
}

static run_stats run_full(bool from_trace, const char *db_name, const char *extra, bool force,
                          bool full_des)
{
    cfg *c = make_cfg(from_trace, db_name, extra);
    run_opts o = {.force = force, .full_des = full_des, .version = "test"};
    run_stats st;
    char err[512] = "";
    int rc = run_config(c, &o, &st, err, sizeof err);
    if (rc) fail_msg("run: %s", err);
    cfg_free(c);
    return st;
}

static run_stats run_ok(bool from_trace, const char *db_name, const char *extra, bool force)
{
    return run_full(from_trace, db_name, extra, force, false);
}

/* A run expected to fail: extra config lines, then one -s style override (either may be NULL). */
static int run_err(bool from_trace, const char *lines, const char *override, char *err, size_t len)
{
    cfg *c = make_cfg(from_trace, "err.db", lines);
    if (override) assert_int_equal(cfg_override(c, override), 0);
    run_opts o = {.version = "test"};
    run_stats st;
    err[0] = '\0';
    int rc = run_config(c, &o, &st, err, len);
    cfg_free(c);
    return rc;
}

/* Every row of a table of the last run in db as text, one line per row, in key order. */
static char *dump(const char *db_name, const char *sql)
{
    char path[160];
    snprintf(path, sizeof path, "%s/%s", dir, db_name);
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK) fail_msg("%s", sqlite3_errmsg(h));
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap);
    assert_non_null(out);
    out[0] = '\0';
    while (sqlite3_step(st) == SQLITE_ROW) {
        for (int i = 0; i < sqlite3_column_count(st); i++) {
            const char *v = (const char *)sqlite3_column_text(st, i);
            size_t need = len + (v ? strlen(v) : 4) + 2;
            if (need >= cap) {
                cap = 2 * need;
                out = realloc(out, cap);
                assert_non_null(out);
            }
            len += (size_t)sprintf(out + len, "%s%c", v ? v : "NULL",
                                   i + 1 < sqlite3_column_count(st) ? '|' : '\n');
        }
    }
    sqlite3_finalize(st);
    sqlite3_close(h);
    return out;
}

static const char *INF_SQL =
    "SELECT sample, label, pred, correct, exit_layer, first_predicted_exit, n_exit_evals,"
    " n_predictions, n_mispredictions, backbone_macs, exit_macs, predictor_ops, latency_ns,"
    " energy_nj, deadline_met FROM inferences WHERE run_id = (SELECT MAX(run_id) FROM runs)"
    " ORDER BY sample";
static const char *EVAL_SQL =
    "SELECT sample, seq, layer, score, threshold, fired, predicted_jump, true_first_exit"
    " FROM exit_evals WHERE run_id = (SELECT MAX(run_id) FROM runs) ORDER BY sample, seq";

static const char *const POLICIES[] = {
    "none", "coarse", "passive", "predictive", "predictive_single", "oracle"};

/* The seam of DESIGN section 2: both sources give the same rows, policy by policy. */
static void test_functional_equals_trace(void **state)
{
    (void)state;
    char extra[128], fdb[32], tdb[32];
    for (size_t k = 0; k < sizeof POLICIES / sizeof POLICIES[0]; k++) {
        snprintf(extra, sizeof extra, "[exit]\npolicy = %s\nbeta = 1\nexits = conv4, pool3, 15",
                 POLICIES[k]);
        snprintf(fdb, sizeof fdb, "f_%zu.db", k);
        snprintf(tdb, sizeof tdb, "t_%zu.db", k);
        run_stats a = run_ok(false, fdb, extra, false);
        run_stats b = run_ok(true, tdb, extra, false);
        assert_int_equal(a.samples, N_SAMPLES);
        assert_int_equal(b.samples, N_SAMPLES);
        char *fa = dump(fdb, INF_SQL), *ta = dump(tdb, INF_SQL);
        char *fe = dump(fdb, EVAL_SQL), *te = dump(tdb, EVAL_SQL);
        assert_string_equal(fa, ta);
        assert_string_equal(fe, te);
        assert_true(strlen(fa) > 100);
        free(fa);
        free(ta);
        free(fe);
        free(te);
    }
}

static double query(const char *db_name, const char *sql)
{
    char *t = dump(db_name, sql);
    double v = strtod(t, NULL);
    free(t);
    return v;
}

/* Invariants across policies on one trace, and costs from the per-layer table. */
static void test_policy_invariants(void **state)
{
    (void)state;
    run_ok(true, "inv.db", "[exit]\npolicy = passive\nbeta = 1", false);
    run_ok(true, "inv.db", "[exit]\npolicy = oracle\nbeta = 1", false);
    run_ok(true, "inv.db", "[exit]\npolicy = predictive\nbeta = 1", false);
    run_ok(true, "inv.db", "[exit]\npolicy = none", false);
    /* runs 1..4: passive, oracle, predictive, none */
    assert_true(query("inv.db", "SELECT COUNT(*) FROM inferences a JOIN inferences b USING (sample)"
                                " WHERE a.run_id = 1 AND b.run_id = 2 AND (a.exit_layer !="
                                " b.exit_layer OR a.pred != b.pred)") == 0);
    assert_true(query("inv.db", "SELECT COUNT(*) FROM inferences WHERE run_id = 2 AND"
                                " n_exit_evals > 1") == 0);
    assert_true(query("inv.db", "SELECT COUNT(*) FROM exit_evals WHERE run_id = 2 AND fired = 0") ==
                0);
    /* the oracle's single exit is the logged true first exit */
    assert_true(query("inv.db", "SELECT COUNT(*) FROM exit_evals WHERE run_id = 2 AND"
                                " layer != true_first_exit") == 0);
    /* predictive answers at or after passive's exit */
    assert_true(query("inv.db", "SELECT COUNT(*) FROM inferences a JOIN inferences b USING (sample)"
                                " WHERE a.run_id = 1 AND b.run_id = 3 AND b.exit_layer <"
                                " a.exit_layer") == 0);
    /* exits fire at several depths with these thresholds */
    assert_true(
        query("inv.db", "SELECT COUNT(DISTINCT exit_layer) FROM inferences WHERE run_id = 1") >= 3);
    /* none: the final classifier's accuracy, the whole backbone, no exits */
    net *n = NULL;
    char err[256];
    assert_int_equal(net_build(&n, "vgg19", 0.0625, 32, 32, 1, CLASSES, err, sizeof err), 0);
    double total = (double)net_get_totals(n)->backbone_macs;
    assert_true(query("inv.db",
                      "SELECT MIN(backbone_macs) = MAX(backbone_macs) AND"
                      " MIN(backbone_macs) = (SELECT value FROM run_params WHERE run_id = 4"
                      " AND key = 'run.classic_macs') FROM inferences WHERE run_id = 4") == 1);
    assert_true(query("inv.db", "SELECT MAX(backbone_macs) FROM inferences WHERE run_id = 4") ==
                total);
    assert_true(query("inv.db", "SELECT SUM(n_exit_evals) + SUM(exit_macs) FROM inferences"
                                " WHERE run_id = 4") == 0);
    assert_true(fabs(query("inv.db", "SELECT rel_computation FROM run_summary WHERE run_id = 4") -
                     1.0) < 1e-12);
    /* passive's costs: backbone up to the exit taken, every head evaluated from l0 = 0 on */
    for (int l = 0; l < net_exit_count(n); l++) {
        char sql[512];
        const net_exit *x = net_exit_at(n, l);
        uint64_t heads = 0;
        for (int k = 0; k <= l; k++) heads += net_exit_at(n, k)->macs;
        snprintf(sql, sizeof sql,
                 "SELECT COUNT(*) FROM inferences WHERE run_id = 1 AND exit_layer = %d AND"
                 " (backbone_macs != %llu OR exit_macs != %llu OR n_exit_evals != %d)",
                 l, (unsigned long long)x->backbone_macs_cum, (unsigned long long)heads, l + 1);
        assert_true(query("inv.db", sql) == 0);
    }
    net_free(n);
}

/* The same config twice: skipped; forced: the same rows again. */
static void test_lifecycle_and_determinism(void **state)
{
    (void)state;
    const char *extra = "[exit]\npolicy = predictive\nbeta = 0.9";
    run_stats a = run_ok(true, "life.db", extra, false);
    assert_int_equal(a.outcome, DB_RUN_NEW);
    char *rows = dump("life.db", INF_SQL), *evals = dump("life.db", EVAL_SQL);
    run_stats b = run_ok(true, "life.db", extra, false);
    assert_int_equal(b.outcome, DB_RUN_SKIPPED);
    assert_int_equal(b.run_id, a.run_id);
    run_stats c = run_ok(true, "life.db", extra, true);
    assert_int_equal(c.outcome, DB_RUN_FORCED);
    char *rows2 = dump("life.db", INF_SQL), *evals2 = dump("life.db", EVAL_SQL);
    assert_string_equal(rows, rows2);
    assert_string_equal(evals, evals2);
    free(rows);
    free(rows2);
    free(evals);
    free(evals2);
    /* the sample range */
    run_stats d =
        run_ok(true, "range.db", "[exit]\npolicy = none\n[experiment]\nfirst_sample = 60", false);
    assert_int_equal(d.samples, 10);
}

/* run_config keeps the last trace for the next run; a trace file rewritten in between (new
 * labels, same path) is read again, and the cached trace gives the same rows as a fresh load. */
static void test_trace_cache(void **state)
{
    (void)state;
    const char *extra = "[exit]\npolicy = none";
    run_ok(true, "cache1.db", extra, false); /* loads the trace and keeps it */
    run_ok(true, "cache2.db", extra, false); /* from the cache */
    char *one = dump("cache1.db", INF_SQL), *two = dump("cache2.db", INF_SQL);
    assert_string_equal(one, two);
    free(two);
    char copy[200];
    snprintf(copy, sizeof copy, "%s.orig", trace_path);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "cp -p '%s' '%s'", trace_path, copy);
    assert_int_equal(system(cmd), 0);
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open(trace_path, &h), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(h, "UPDATE samples SET label = (label + 1) % 10", NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(h);
    run_ok(true, "cache3.db", extra, false);
    char *three = dump("cache3.db", "SELECT sample, label FROM inferences ORDER BY sample");
    char *want =
        dump("cache1.db", "SELECT sample, (label + 1) % 10 FROM inferences ORDER BY sample");
    assert_string_equal(three, want);
    free(three);
    free(want);
    assert_int_equal(rename(copy, trace_path), 0); /* the fixture's trace as it was */
    run_cache_clear();
    run_ok(true, "cache4.db", extra, false);
    char *four = dump("cache4.db", INF_SQL);
    assert_string_equal(one, four);
    free(one);
    free(four);
}

static void test_bad_configs(void **state)
{
    (void)state;
    char err[512];
    assert_int_equal(run_err(true, NULL, "exit.rule=softmax", err, sizeof err), RUN_EINPUT);
    assert_non_null(strstr(err, "needs rule = activation"));
    assert_int_equal(
        run_err(true, "[exit]\npolicy = coarse\nexits = conv4, nosuch", NULL, err, sizeof err),
        RUN_EINPUT);
    assert_non_null(strstr(err, "'nosuch' is not an exit"));
    assert_int_equal(run_err(false, NULL, "experiment.first_sample=70", err, sizeof err),
                     RUN_EINPUT);
    assert_non_null(strstr(err, "first_sample = 70"));
    assert_int_equal(run_err(true, NULL, "experiment.first_sample=700", err, sizeof err),
                     RUN_EINPUT);
    assert_non_null(strstr(err, "no sample at or after"));
    assert_int_equal(run_err(false, NULL, "experiment.data_dir=/nonexistent", err, sizeof err),
                     RUN_EINPUT);
    assert_non_null(strstr(err, "/nonexistent"));
}

/* Re-simulating every layer of every inference at tile level (--full-des) gives exactly the
 * latency, energy, segments and transitions of the per-layer table, on a real run. */
static void test_full_des_equals_table(void **state)
{
    (void)state;
    const char *extra = "[exit]\npolicy = predictive\nbeta = 1\n[dvfs]\ngovernor = paper";
    run_full(true, "tab.db", extra, false, false);
    run_full(true, "des.db", extra, false, true);
    const char *sqls[] = {INF_SQL,
                          "SELECT sample, seq, kind, first_layer, last_layer, opp, time_ns,"
                          " compute_nj, memory_nj, static_nj FROM segments ORDER BY sample, seq",
                          "SELECT sample, seq, at_ns, from_opp, to_opp, latency_ns, energy_nj"
                          " FROM dvfs_transitions ORDER BY sample, seq"};
    for (size_t i = 0; i < sizeof sqls / sizeof sqls[0]; i++) {
        char *a = dump("tab.db", sqls[i]), *b = dump("des.db", sqls[i]);
        assert_true(strlen(a) > 10);
        assert_string_equal(a, b);
        free(a);
        free(b);
    }
    /* the DRAM part of the memory energy: present, never more than the whole */
    assert_true(query("tab.db", "SELECT COUNT(*) FROM segments WHERE dram_nj > memory_nj") == 0);
    assert_true(query("tab.db", "SELECT SUM(dram_nj) > 0 FROM segments") == 1);
    /* the latency and energy are there */
    assert_true(query("tab.db", "SELECT COUNT(*) FROM inferences WHERE latency_ns > 0 AND"
                                " energy_nj > 0") == N_SAMPLES);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_functional_equals_trace),
        cmocka_unit_test(test_policy_invariants),
        cmocka_unit_test(test_lifecycle_and_determinism),
        cmocka_unit_test(test_trace_cache),
        cmocka_unit_test(test_bad_configs),
        cmocka_unit_test(test_full_des_equals_table),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
