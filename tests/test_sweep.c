/* Tests of sim/sweep and the sweep and merge commands: the expansion of [sweep] (cross, zip,
 * ranges, ';' lists) on hand cases and its error messages; point configs; and, through the pesim
 * binary on a tiny recorded trace, a sweep with two workers, a sweep SIGKILLed and resumed, shards
 * merged into one database, failing points and usage errors. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cfg.h"
#include "data.h"
#include "model.h"
#include "net.h"
#include "record.h"
#include "sha256.h"
#include "sweep.h"
#include "train.h"

#include "fixture.h"

enum {
    N_SAMPLES = FIXTURE_SAMPLES,
    ERR_CHARS = 512,
    PATH_CHARS = 256,
    OUTPUT_MAX = 64 * 1024,
    SMALL_POINTS = 8,  /* exit.policy (2) x exit.beta (4) */
    KILL_POINTS = 64,  /* exit.policy (4) x exit.beta (16) */
    KILL_AFTER = 2,    /* done runs seen before the SIGKILL */
    POLL_US = 500,     /* between two looks at the database of the sweep to kill */
    KILL_WAIT_S = 120, /* give up waiting for the sweep to reach KILL_AFTER runs */
};

static fixture F; /* the tiny model, its dataset and its trace (fixture.h) */
#define dir        F.dir
#define trace_path F.trace

static int setup(void **state)
{
    (void)state;
    return fixture_make(&F, "/tmp/pesim_sweep_XXXXXX");
}

static int teardown(void **state)
{
    (void)state;
    return fixture_remove(&F);
}

/* ---- helpers ---- */

/* Write a file under the fixture directory; its path in path. */
static void write_file(const char *name, const char *text, char *path, size_t len)
{
    snprintf(path, len, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* A directory under the fixture directory (a sweep's working directory); its path in path. */
static void make_dir(const char *name, char *path, size_t len)
{
    snprintf(path, len, "%s/%s", dir, name);
    assert_int_equal(mkdir(path, 0700), 0);
}

/* A sweep config over the trace (out = sweep.db, relative to the working directory) with the
 * given [sweep] lines; its path in path. */
static void sweep_config(const char *name, const char *sweep_lines, char *path, size_t len)
{
    char text[1024];
    snprintf(text, sizeof text,
             "[experiment]\ntrace = %s\nout = sweep.db\n[network]\narch = vgg19\nwidth = 0.0625\n"
             "[sweep]\n%s",
             trace_path, sweep_lines);
    write_file(name, text, path, len);
}

static sweep *expand_ok(size_t n, const char *const *params, const char *const *values, bool zip)
{
    sweep *s = NULL;
    char err[ERR_CHARS] = "";
    if (sweep_expand_lines(n, params, values, zip, &s, err, sizeof err)) fail_msg("%s", err);
    return s;
}

/* The expansion fails with exactly want. */
static void expand_err(size_t n, const char *const *params, const char *const *values, bool zip,
                       const char *want)
{
    sweep *s = NULL;
    char err[ERR_CHARS] = "";
    assert_int_equal(sweep_expand_lines(n, params, values, zip, &s, err, sizeof err), -1);
    assert_null(s);
    assert_string_equal(err, want);
}

/* The values of a one-parameter sweep are exactly want (NULL-terminated). */
static void expect_values(const char *param, const char *values, const char *const *want)
{
    sweep *s = expand_ok(1, &param, &values, false);
    size_t n = 0;
    while (want[n]) n++;
    assert_int_equal(sweep_points(s), n);
    assert_int_equal(sweep_values(s, 0), n);
    for (size_t i = 0; i < n; i++) assert_string_equal(sweep_value(s, i, 0), want[i]);
    sweep_free(s);
}

/* The points of s, described, are exactly want (NULL-terminated). */
static void expect_points(const sweep *s, const char *const *want)
{
    size_t n = 0;
    while (want[n]) n++;
    assert_int_equal(sweep_points(s), n);
    char buf[256];
    for (size_t i = 0; i < n; i++) {
        sweep_describe(s, i, buf, sizeof buf);
        assert_string_equal(buf, want[i]);
    }
}

typedef struct result {
    int status; /* exit code, or 128 + signal */
    char out[OUTPUT_MAX], err[OUTPUT_MAX];
} result;

static void slurp_fd(int fd, char *buf, size_t len)
{
    size_t n = 0;
    ssize_t got;
    lseek(fd, 0, SEEK_SET);
    while (n + 1 < len && (got = read(fd, buf + n, len - 1 - n)) > 0) n += (size_t)got;
    buf[n] = '\0';
    close(fd);
}

/* Start pesim with args (NULL-terminated) in the working directory cwd; stdout and stderr go to
 * temporary files whose descriptors are returned in fds. */
static pid_t start(const char *cwd, const char *const *args, int fds[2])
{
    const char *bin = getenv("PESIM_BIN");
    assert_non_null(bin);
    char *argv[64];
    int argc = 0;
    argv[argc++] = (char *)bin;
    for (; args[argc - 1] && argc < 63; argc++) argv[argc] = (char *)args[argc - 1];
    argv[argc] = NULL;
    for (int i = 0; i < 2; i++) {
        char tmp[] = "/tmp/pesim-sweep-out-XXXXXX";
        fds[i] = mkstemp(tmp);
        assert_true(fds[i] >= 0);
        unlink(tmp);
    }
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[0], 1);
        dup2(fds[1], 2);
        if (chdir(cwd) != 0) _exit(126);
        execv(bin, argv);
        _exit(127);
    }
    return pid;
}

static void finish(pid_t pid, const int fds[2], result *r)
{
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    slurp_fd(fds[0], r->out, sizeof r->out);
    slurp_fd(fds[1], r->err, sizeof r->err);
}

static result R;

static void pesim(const char *cwd, const char *const *args)
{
    int fds[2];
    pid_t pid = start(cwd, args, fds);
    finish(pid, fds, &R);
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

/* One integer from a query on the database at path (opened read-only). */
static long long query_int(const char *path, const char *sql)
{
    sqlite3 *h = NULL;
    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(h, 10000);
    if (sqlite3_prepare_v2(h, sql, -1, &s, NULL) != SQLITE_OK) fail_msg("%s", sqlite3_errmsg(h));
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    long long v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(h);
    return v;
}

/* Done runs in the database at path, -1 while it cannot be read yet (not created, no schema). */
static long long done_runs(const char *path)
{
    if (access(path, F_OK) != 0) return -1;
    sqlite3 *h = NULL;
    sqlite3_stmt *s = NULL;
    long long v = -1;
    if (sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(h, "SELECT count(*) FROM runs WHERE status = 'done'", -1, &s, NULL) ==
            SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(h);
    return v;
}

static int cmp_lines(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every row of a query as one line (columns named run_id, started_at and finished_at left out:
 * they differ between databases; reals in hexadecimal, so equal means bit-identical), lines
 * sorted and joined. Caller frees. */
static char *dump(const char *path, const char *sql)
{
    sqlite3 *h = NULL;
    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    if (sqlite3_prepare_v2(h, sql, -1, &s, NULL) != SQLITE_OK) fail_msg("%s", sqlite3_errmsg(h));
    char **lines = NULL;
    size_t n = 0, nlines = 0, total = 1;
    while (sqlite3_step(s) == SQLITE_ROW) {
        size_t cap = 256, len = 0;
        char *line = malloc(cap);
        assert_non_null(line);
        line[0] = '\0';
        for (int c = 0; c < sqlite3_column_count(s); c++) {
            const char *name = sqlite3_column_name(s, c);
            if (!strcmp(name, "run_id") || !strcmp(name, "started_at") ||
                !strcmp(name, "finished_at"))
                continue;
            char num[64];
            const char *v = num;
            switch (sqlite3_column_type(s, c)) {
            case SQLITE_INTEGER:
                snprintf(num, sizeof num, "%lld", (long long)sqlite3_column_int64(s, c));
                break;
            case SQLITE_FLOAT:
                snprintf(num, sizeof num, "%a", sqlite3_column_double(s, c));
                break;
            case SQLITE_NULL:
                v = "NULL";
                break;
            default:
                v = (const char *)sqlite3_column_text(s, c);
            }
            size_t need = len + strlen(v) + 2;
            if (need > cap) {
                cap = 2 * need;
                line = realloc(line, cap);
                assert_non_null(line);
            }
            len += (size_t)sprintf(line + len, "%s|", v);
        }
        if (n == nlines) {
            nlines = nlines ? 2 * nlines : 1024;
            lines = realloc(lines, nlines * sizeof *lines);
            assert_non_null(lines);
        }
        lines[n++] = line;
        total += len + 1;
    }
    sqlite3_finalize(s);
    sqlite3_close(h);
    if (n) qsort(lines, n, sizeof *lines, cmp_lines);
    char *all = malloc(total);
    assert_non_null(all);
    all[0] = '\0';
    for (size_t i = 0, at = 0; i < n; i++) {
        at += (size_t)sprintf(all + at, "%s\n", lines[i]);
        free(lines[i]);
    }
    free(lines);
    return all;
}

/* Two databases hold the same runs with identical rows in every table, run by run (matched by
 * config hash, whatever their run_ids). */
static void same_results(const char *a, const char *b)
{
    static const char *const sql[] = {
        "SELECT * FROM runs",
        "SELECT r.config_sha256, t.* FROM run_params t JOIN runs r USING (run_id)",
        "SELECT r.config_sha256, t.* FROM inferences t JOIN runs r USING (run_id)",
        "SELECT r.config_sha256, t.* FROM exit_evals t JOIN runs r USING (run_id)",
        "SELECT r.config_sha256, t.* FROM segments t JOIN runs r USING (run_id)",
        "SELECT r.config_sha256, t.* FROM dvfs_transitions t JOIN runs r USING (run_id)",
        "SELECT r.config_sha256, t.* FROM layer_costs t JOIN runs r USING (run_id)",
        "SELECT r.config_sha256, t.* FROM run_summary t JOIN runs r USING (run_id)",
    };
    for (size_t i = 0; i < sizeof sql / sizeof sql[0]; i++) {
        char *x = dump(a, sql[i]), *y = dump(b, sql[i]);
        if (strcmp(x, y) != 0) fail_msg("%s differs between %s and %s", sql[i], a, b);
        free(x);
        free(y);
    }
}

/* Every point of a sweep is done exactly once, with one inference per sample. */
static void all_done_once(const char *db_path, long long points)
{
    assert_int_equal(query_int(db_path, "SELECT count(*) FROM runs"), points);
    assert_int_equal(query_int(db_path, "SELECT count(DISTINCT config_sha256) FROM runs"), points);
    assert_int_equal(query_int(db_path, "SELECT count(*) FROM runs WHERE status = 'done'"), points);
    assert_int_equal(query_int(db_path, "SELECT count(*) FROM inferences"), points * N_SAMPLES);
    char sql[160];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM runs WHERE (SELECT count(*) FROM inferences AS i"
             " WHERE i.run_id = runs.run_id) <> %d",
             N_SAMPLES);
    assert_int_equal(query_int(db_path, sql), 0);
    assert_int_equal(query_int(db_path, "SELECT count(*) FROM (SELECT run_id, sample FROM "
                                        "inferences GROUP BY run_id, sample HAVING count(*) > 1)"),
                     0);
}

/* ---- expansion ---- */

static void test_cross_order(void **state)
{
    (void)state;
    const char *params[] = {"exit.policy", "exit.beta"};
    const char *values[] = {"passive, predictive", "0.5 0.9,1"};
    sweep *s = expand_ok(2, params, values, false);
    assert_int_equal(sweep_params(s), 2);
    assert_string_equal(sweep_param(s, 0), "exit.policy");
    assert_string_equal(sweep_param(s, 1), "exit.beta");
    expect_points(s, (const char *[]){
                         "exit.policy=passive exit.beta=0.5", "exit.policy=passive exit.beta=0.9",
                         "exit.policy=passive exit.beta=1", "exit.policy=predictive exit.beta=0.5",
                         "exit.policy=predictive exit.beta=0.9",
                         "exit.policy=predictive exit.beta=1", NULL});
    assert_null(sweep_value(s, 6, 0));
    assert_null(sweep_param(s, 2));
    sweep_free(s);

    /* three parameters: the last varies fastest, the first slowest */
    const char *p3[] = {"exit.l0", "exit.rounds", "exit.beta"};
    const char *v3[] = {"0,2", "4,8", "0.5,1"};
    s = expand_ok(3, p3, v3, false);
    expect_points(
        s,
        (const char *[]){
            "exit.l0=0 exit.rounds=4 exit.beta=0.5", "exit.l0=0 exit.rounds=4 exit.beta=1",
            "exit.l0=0 exit.rounds=8 exit.beta=0.5", "exit.l0=0 exit.rounds=8 exit.beta=1",
            "exit.l0=2 exit.rounds=4 exit.beta=0.5", "exit.l0=2 exit.rounds=4 exit.beta=1",
            "exit.l0=2 exit.rounds=8 exit.beta=0.5", "exit.l0=2 exit.rounds=8 exit.beta=1", NULL});
    sweep_free(s);

    /* no sweep lines: one point, the base config */
    s = expand_ok(0, NULL, NULL, false);
    expect_points(s, (const char *[]){"(base config)", NULL});
    sweep_free(s);
}

static void test_zip(void **state)
{
    (void)state;
    const char *params[] = {"exit.policy", "exit.beta", "exit.l0"};
    const char *values[] = {"passive, predictive, oracle", "0.5:0.7:0.1", "0 1 2"};
    sweep *s = expand_ok(3, params, values, true);
    expect_points(s, (const char *[]){"exit.policy=passive exit.beta=0.5 exit.l0=0",
                                      "exit.policy=predictive exit.beta=0.6 exit.l0=1",
                                      "exit.policy=oracle exit.beta=0.7 exit.l0=2", NULL});
    sweep_free(s);
}

static void test_ranges(void **state)
{
    (void)state;
    expect_values("exit.beta", "0.5:0.95:0.05",
                  (const char *[]){"0.5", "0.55", "0.6", "0.65", "0.7", "0.75", "0.8", "0.85",
                                   "0.9", "0.95", NULL});
    /* 0.1 + 2 * 0.1 is 0.30000000000000004: last is included within 1e-9 step */
    expect_values("exit.beta", "0.1:0.3:0.1", (const char *[]){"0.1", "0.2", "0.3", NULL});
    /* -0.3 + 3 * 0.1 is 5.6e-17, which is 0 (expansion checks types, the point config ranges) */
    expect_values("power.static_mw", "-0.3:0.3:0.1",
                  (const char *[]){"-0.3", "-0.2", "-0.1", "0", "0.1", "0.2", "0.3", NULL});
    /* last is not on the grid: the range stops before it */
    expect_values("exit.beta", "0:1:0.3", (const char *[]){"0", "0.3", "0.6", "0.9", NULL});
    expect_values("exit.beta", "1:1:0.5", (const char *[]){"1", NULL});
    expect_values("accelerator.cores", "1:10:3", (const char *[]){"1", "4", "7", "10", NULL});
    expect_values("accelerator.cores", "2:9:3", (const char *[]){"2", "5", "8", NULL});
    expect_values("accelerator.cores", "1000000000:3000000000:1000000000",
                  (const char *[]){"1000000000", "2000000000", "3000000000", NULL});
    /* items and ranges mixed, in order */
    expect_values("exit.beta", "0.1, 0.5:0.7:0.1, 2",
                  (const char *[]){"0.1", "0.5", "0.6", "0.7", "2", NULL});
    /* a ':' in a value of a non-numeric key is not a range */
    expect_values("experiment.out", "a:b.db, c.db", (const char *[]){"a:b.db", "c.db", NULL});
}

static void test_semicolon_lists(void **state)
{
    (void)state;
    expect_values("exit.kernel", "1,1,1; 1,2,1", (const char *[]){"1,1,1", "1,2,1", NULL});
    expect_values("exit.kernel", " 1, 1, 1 ;1, 2, 1 ; ",
                  (const char *[]){"1, 1, 1", "1, 2, 1", NULL});
    /* without ';' a list key takes one element per point */
    expect_values("exit.exits", "conv4, pool3", (const char *[]){"conv4", "pool3", NULL});
    const char *params[] = {"exit.kernel", "exit.beta"};
    const char *values[] = {"1, 1, 1; 1, 2, 1", "0.9"};
    sweep *s = expand_ok(2, params, values, false);
    expect_points(s, (const char *[]){"exit.kernel='1, 1, 1' exit.beta=0.9",
                                      "exit.kernel='1, 2, 1' exit.beta=0.9", NULL});
    sweep_free(s);
}

static void test_expand_errors(void **state)
{
    (void)state;
    const char *beta[] = {"exit.beta"};
    expand_err(1, beta, (const char *[]){"0.5:1:0"}, false,
               "[sweep] exit.beta: range 0.5:1:0 has step 0");
    expand_err(1, beta, (const char *[]){"0.9:0.5:0.1"}, false,
               "[sweep] exit.beta: range 0.9:0.5:0.1 must have first <= last and step > 0");
    expand_err(1, beta, (const char *[]){"0.5:0.9:-0.1"}, false,
               "[sweep] exit.beta: range 0.5:0.9:-0.1 must have first <= last and step > 0");
    expand_err(1, beta, (const char *[]){"0.5:0.9"}, false,
               "[sweep] exit.beta: range '0.5:0.9' must be first:last:step");
    expand_err(1, beta, (const char *[]){"a:b:c"}, false,
               "[sweep] exit.beta: range 'a:b:c' needs three numbers");
    expand_err(1, beta, (const char *[]){"0:2:0.000001"}, false,
               "[sweep] exit.beta: range 0:2:0.000001 has more than 1000000 values");
    expand_err(1, beta, (const char *[]){" ; ;"}, false, "[sweep] exit.beta: no values");
    expand_err(1, (const char *[]){"accelerator.cores"}, (const char *[]){"1:2:0.5"}, false,
               "[sweep] accelerator.cores: range value 1.5 is not an integer");
    expand_err(1, (const char *[]){"accelerator.cores"}, (const char *[]){"1e100:1e100:1"}, false,
               "[sweep] accelerator.cores: range value 1e+100 is too large");
    expand_err(1, (const char *[]){"exit.nosuch"}, (const char *[]){"1"}, false,
               "[sweep] exit.nosuch: unknown parameter; sweep lines are section.key = values");
    expand_err(1, (const char *[]){"sweep.mode"}, (const char *[]){"zip"}, false,
               "[sweep] sweep.mode: unknown parameter; sweep lines are section.key = values");
    expand_err(2, (const char *[]){"exit.beta", "exit.beta"}, (const char *[]){"1", "2"}, false,
               "[sweep] exit.beta: swept twice");
    expand_err(2, (const char *[]){"exit.policy", "exit.beta"},
               (const char *[]){"passive, oracle", "0.5, 0.7, 0.9"}, true,
               "[sweep] exit.beta: 3 values; mode = zip needs 2 like exit.policy");
    /* 1001 x 1001 points */
    expand_err(2, (const char *[]){"exit.beta", "dvfs.transition_ns"},
               (const char *[]){"0.001:1.001:0.001", "0:1000:1"}, false,
               "[sweep]: 1002001 points; at most 1000000");
    /* exactly the limit is fine */
    sweep *s = expand_ok(2, (const char *[]){"exit.beta", "dvfs.transition_ns"},
                         (const char *[]){"0.001:1:0.001", "0:999:1"}, false);
    assert_int_equal(sweep_points(s), SWEEP_MAX_POINTS);
    assert_string_equal(sweep_value(s, SWEEP_MAX_POINTS - 1, 0), "1");
    assert_string_equal(sweep_value(s, SWEEP_MAX_POINTS - 1, 1), "999");
    assert_string_equal(sweep_value(s, 1000, 0), "0.002");
    sweep_free(s);
}

/* Loaded from a file: [sweep] lines in file order, mode = zip read; each point's config is the
 * base plus its overrides, the same as the equivalent -s command line. */
static void test_point_configs(void **state)
{
    (void)state;
    char path[PATH_CHARS], err[ERR_CHARS];
    sweep_config("points.ini",
                 "exit.beta = 0.8:1:0.1\nexit.policy = passive, predictive, oracle\nmode = zip\n",
                 path, sizeof path);
    char *files[] = {path};
    cfg *c = cfg_new();
    assert_int_equal(cfg_load_file(c, path), 0);
    assert_int_equal(cfg_finish(c), 0);
    sweep *s = NULL;
    assert_int_equal(sweep_expand(c, &s, err, sizeof err), 0);
    expect_points(s, (const char *[]){"exit.beta=0.8 exit.policy=passive",
                                      "exit.beta=0.9 exit.policy=predictive",
                                      "exit.beta=1 exit.policy=oracle", NULL});
    const char *base_over[] = {"exit.beta=0.5", "exit.l0=2"};
    sweep_base b = {1, files, 2, base_over};
    char *texts[3];
    for (size_t p = 0; p < 3; p++) {
        cfg *pc = sweep_point_cfg(&b, s, p, err, sizeof err);
        if (!pc) fail_msg("%s", err);
        assert_string_equal(cfg_get(pc, "exit", "policy"), sweep_value(s, p, 1));
        assert_string_equal(cfg_get(pc, "exit", "beta"), sweep_value(s, p, 0)); /* sweep wins */
        assert_string_equal(cfg_get(pc, "exit", "l0"), "2");
        texts[p] = cfg_effective_text(pc);
        cfg_free(pc);
        /* the same config spelled with -s has the same effective text (and hash) */
        cfg *same = cfg_new();
        cfg_load_file(same, path);
        char o1[64], o2[64];
        snprintf(o1, sizeof o1, "exit.policy=%s", sweep_value(s, p, 1));
        snprintf(o2, sizeof o2, "exit.beta=%s", sweep_value(s, p, 0));
        assert_int_equal(cfg_override(same, "exit.l0=2"), 0);
        assert_int_equal(cfg_override(same, o1), 0);
        assert_int_equal(cfg_override(same, o2), 0);
        assert_int_equal(cfg_finish(same), 0);
        char *t = cfg_effective_text(same);
        assert_string_equal(t, texts[p]);
        free(t);
        cfg_free(same);
    }
    assert_string_not_equal(texts[0], texts[1]);
    assert_string_not_equal(texts[1], texts[2]);
    assert_string_not_equal(texts[0], texts[2]);
    for (size_t p = 0; p < 3; p++) free(texts[p]);
    sweep_free(s);
    cfg_free(c);

    /* a point whose config is invalid: NULL and the problem, without the -s prefix */
    const char *params[] = {"exit.beta"};
    const char *values[] = {"0.5, 70000"};
    s = expand_ok(1, params, values, false);
    sweep_base plain = {1, files, 0, NULL};
    cfg *pc = sweep_point_cfg(&plain, s, 1, err, sizeof err);
    assert_null(pc);
    assert_non_null(strstr(err, "exit.beta=70000: [exit] beta: "));
    assert_true(strncmp(err, "-s ", 3) != 0);
    pc = sweep_point_cfg(&plain, s, 0, err, sizeof err);
    assert_non_null(pc);
    cfg_free(pc);
    sweep_free(s);
}

/* ---- the commands ---- */

static const char SMALL_SWEEP[] = "exit.policy = passive, predictive\nexit.beta = 0.8:1.1:0.1\n";

static void test_sweep_two_workers(void **state)
{
    (void)state;
    char cfg_path[PATH_CHARS], wd[PATH_CHARS], db_path[PATH_CHARS + 16];
    sweep_config("small.ini", SMALL_SWEEP, cfg_path, sizeof cfg_path);
    make_dir("two", wd, sizeof wd);
    snprintf(db_path, sizeof db_path, "%s/sweep.db", wd);

    pesim(wd, (const char *[]){"sweep", "--dry-run", cfg_path, NULL});
    assert_int_equal(R.status, 0);
    assert_int_equal(count_lines(R.out), SMALL_POINTS);
    assert_non_null(strstr(R.out, "  exit.policy=passive exit.beta=0.8\n"));
    assert_non_null(strstr(R.out, "  exit.policy=predictive exit.beta=1.1\n"));
    assert_true(strncmp(R.out, "1  ", 3) == 0);
    assert_int_equal(access(db_path, F_OK), -1); /* nothing run */

    pesim(wd, (const char *[]){"sweep", "-j", "2", cfg_path, NULL});
    if (R.status) fail_msg("%s", R.err);
    assert_non_null(strstr(R.err, "pesim sweep: 8 points in "));
    assert_non_null(strstr(R.err, "8 run, 0 already done, 0 failed -> sweep.db\n"));
    all_done_once(db_path, SMALL_POINTS);

    /* every hash is the one pesim check prints for the same point */
    pesim(wd, (const char *[]){"check", "-s", "exit.policy=predictive", "-s", "exit.beta=0.9",
                               cfg_path, NULL});
    assert_int_equal(R.status, 0);
    const char *h = strstr(R.out, "; config sha256 ");
    assert_non_null(h);
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM runs WHERE config_sha256 = '%.64s'", h + 16);
    assert_int_equal(query_int(db_path, sql), 1);

    /* a rerun skips every point; --force redoes them, still once each */
    pesim(wd, (const char *[]){"sweep", "-j", "2", cfg_path, NULL});
    assert_int_equal(R.status, 0);
    assert_non_null(strstr(R.err, "0 run, 8 already done, 0 failed"));
    all_done_once(db_path, SMALL_POINTS);
    pesim(wd, (const char *[]){"sweep", "-j", "3", "--force", "-q", cfg_path, NULL});
    assert_int_equal(R.status, 0);
    assert_string_equal(R.err, "");
    all_done_once(db_path, SMALL_POINTS);
}

/* The sweep SIGKILLed three times (once with two workers) after more and more done runs, then
 * run again: every point done once, and the same results as a sweep never interrupted. */
static void test_sweep_killed(void **state)
{
    (void)state;
    char cfg_path[PATH_CHARS], killed[PATH_CHARS], whole[PATH_CHARS];
    char killed_db[PATH_CHARS + 16], whole_db[PATH_CHARS + 16];
    sweep_config("kill.ini",
                 "exit.policy = passive, predictive, predictive_single, oracle\n"
                 "exit.beta = 0.5:1.25:0.05\n",
                 cfg_path, sizeof cfg_path);
    make_dir("killed", killed, sizeof killed);
    make_dir("whole", whole, sizeof whole);
    snprintf(killed_db, sizeof killed_db, "%s/sweep.db", killed);
    snprintf(whole_db, sizeof whole_db, "%s/sweep.db", whole);

    /* killed three times, each time once more runs are done and then a few hundred
     * microseconds later, so that the kill lands inside a run; every run that is done is done
     * exactly once in between */
    static const long long kill_at[] = {KILL_AFTER, KILL_AFTER + 4, KILL_AFTER + 10};
    long long before = 0;
    for (size_t k = 0; k < sizeof kill_at / sizeof kill_at[0]; k++) {
        int fds[2];
        /* the second time with two workers: the kill takes their parent, and PDEATHSIG them */
        const char *jobs = k == 1 ? "2" : "1";
        pid_t pid = start(killed, (const char *[]){"sweep", "-j", jobs, cfg_path, NULL}, fds);
        struct timespec t0, now, nap = {0, POLL_US * 1000L};
        clock_gettime(CLOCK_MONOTONIC, &t0);
        long long seen = -1;
        for (;;) {
            seen = done_runs(killed_db);
            if (seen >= kill_at[k]) break;
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (now.tv_sec - t0.tv_sec > KILL_WAIT_S) break;
            nanosleep(&nap, NULL);
        }
        struct timespec late = {0, (long)(100 + 150 * k) * 1000L};
        nanosleep(&late, NULL);
        assert_int_equal(kill(pid, SIGKILL), 0);
        finish(pid, fds, &R);
        assert_int_equal(R.status, 128 + SIGKILL);
        assert_true(seen >= kill_at[k]);
        before = done_runs(killed_db);
        assert_true(before < KILL_POINTS); /* it was killed mid-sweep */
        assert_int_equal(query_int(killed_db, "SELECT count(*) FROM (SELECT config_sha256 FROM"
                                              " runs GROUP BY config_sha256 HAVING count(*) > 1)"),
                         0);
    }

    pesim(killed, (const char *[]){"sweep", "-j", "1", cfg_path, NULL});
    if (R.status) fail_msg("%s", R.err);
    char want[128];
    snprintf(want, sizeof want, "%lld run, %lld already done, 0 failed", KILL_POINTS - before,
             before);
    assert_non_null(strstr(R.err, want));
    all_done_once(killed_db, KILL_POINTS);

    pesim(whole, (const char *[]){"sweep", "-q", "-j", "2", cfg_path, NULL});
    assert_int_equal(R.status, 0);
    all_done_once(whole_db, KILL_POINTS);
    same_results(killed_db, whole_db);
}

/* Two sweeps of one config started at once into one database: every point is run by exactly
 * one of them (a point the other is running is waited for, then found done), neither reports a
 * failure, and no run keeps its writer's claim. */
static void test_two_sweeps_at_once(void **state)
{
    (void)state;
    char cfg_path[PATH_CHARS], wd[PATH_CHARS], db_path[PATH_CHARS + 16];
    sweep_config("both.ini",
                 "exit.policy = passive, predictive, predictive_single, oracle\n"
                 "exit.beta = 0.5:1.25:0.05\n",
                 cfg_path, sizeof cfg_path);
    make_dir("both", wd, sizeof wd);
    snprintf(db_path, sizeof db_path, "%s/sweep.db", wd);
    int fa[2], fb[2];
    pid_t a = start(wd, (const char *[]){"sweep", "-j", "1", cfg_path, NULL}, fa);
    pid_t b = start(wd, (const char *[]){"sweep", "-j", "1", cfg_path, NULL}, fb);
    static result ra, rb;
    finish(a, fa, &ra);
    finish(b, fb, &rb);
    if (ra.status || rb.status) fail_msg("sweeps: %s / %s", ra.err, rb.err);
    long long run[2] = {0, 0}, done[2] = {0, 0};
    const result *r[2] = {&ra, &rb};
    for (int k = 0; k < 2; k++) {
        const char *line = strstr(r[k]->err, "pesim sweep: 64 points in ");
        assert_non_null(line);
        const char *c = strstr(line, "points/s): ");
        assert_non_null(c);
        assert_int_equal(
            sscanf(c, "points/s): %lld run, %lld already done, 0 failed", &run[k], &done[k]), 2);
        assert_null(strstr(line, "redone")); /* nothing was taken from a live writer */
    }
    assert_int_equal(run[0] + run[1], KILL_POINTS);
    assert_int_equal(run[0] + done[0], KILL_POINTS);
    assert_int_equal(run[1] + done[1], KILL_POINTS);
    all_done_once(db_path, KILL_POINTS);
    assert_int_equal(
        query_int(db_path, "SELECT count(*) FROM run_params WHERE key = 'run.process'"), 0);
}

/* Two shards into two databases merged into one: the same runs and rows as one sweep; merging
 * again adds nothing. */
static void test_shards_merge(void **state)
{
    (void)state;
    char cfg_path[PATH_CHARS], one[PATH_CHARS], s1[PATH_CHARS], s2[PATH_CHARS];
    char one_db[PATH_CHARS + 16], s1_db[PATH_CHARS + 16], s2_db[PATH_CHARS + 16];
    char merged[PATH_CHARS];
    sweep_config("shard.ini", SMALL_SWEEP, cfg_path, sizeof cfg_path);
    make_dir("one", one, sizeof one);
    make_dir("s1", s1, sizeof s1);
    make_dir("s2", s2, sizeof s2);
    snprintf(one_db, sizeof one_db, "%s/sweep.db", one);
    snprintf(s1_db, sizeof s1_db, "%s/sweep.db", s1);
    snprintf(s2_db, sizeof s2_db, "%s/sweep.db", s2);
    snprintf(merged, sizeof merged, "%s/merged.db", dir);

    pesim(one, (const char *[]){"sweep", "-q", cfg_path, NULL});
    assert_int_equal(R.status, 0);
    pesim(s1, (const char *[]){"sweep", "--shard", "1/2", "--dry-run", cfg_path, NULL});
    assert_int_equal(R.status, 0);
    assert_int_equal(count_lines(R.out), SMALL_POINTS / 2);
    assert_true(strncmp(R.out, "1  ", 3) == 0);
    assert_non_null(strstr(R.out, "\n3  "));
    pesim(s1, (const char *[]){"sweep", "--shard", "1/2", "-j", "2", cfg_path, NULL});
    assert_int_equal(R.status, 0);
    assert_non_null(strstr(R.err, "pesim sweep: 4 points in "));
    pesim(s2, (const char *[]){"sweep", "--shard", "2/2", cfg_path, NULL});
    assert_int_equal(R.status, 0);
    assert_int_equal(query_int(s1_db, "SELECT count(*) FROM runs"), SMALL_POINTS / 2);
    assert_int_equal(query_int(s2_db, "SELECT count(*) FROM runs"), SMALL_POINTS / 2);

    pesim(dir, (const char *[]){"merge", merged, s1_db, s2_db, NULL});
    if (R.status) fail_msg("%s", R.err);
    assert_non_null(strstr(R.out, "4 runs copied ("));
    assert_int_equal(count_lines(R.out), 2);
    all_done_once(merged, SMALL_POINTS);
    same_results(merged, one_db);

    /* merging again (and the single-process database on top) duplicates nothing */
    pesim(dir, (const char *[]){"merge", merged, s2_db, one_db, NULL});
    assert_int_equal(R.status, 0);
    char want[PATH_CHARS * 8];
    snprintf(want, sizeof want,
             "%s: 0 runs copied (0 rows), 4 already done in %s skipped\n"
             "%s: 0 runs copied (0 rows), 8 already done in %s skipped\n",
             s2_db, merged, one_db, merged);
    assert_string_equal(R.out, want);
    all_done_once(merged, SMALL_POINTS);
    same_results(merged, one_db);

    /* a run left running in the output is replaced by the input's done run */
    {
        sqlite3 *h = NULL;
        assert_int_equal(sqlite3_open(merged, &h), SQLITE_OK);
        assert_int_equal(sqlite3_exec(h,
                                      "PRAGMA foreign_keys = ON; UPDATE runs SET status = "
                                      "'running' WHERE run_id = (SELECT min(run_id) FROM runs);"
                                      "DELETE FROM inferences WHERE run_id = (SELECT min(run_id) "
                                      "FROM runs) AND sample > 10",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
        sqlite3_close(h);
    }
    pesim(dir, (const char *[]){"merge", merged, one_db, NULL});
    assert_int_equal(R.status, 0);
    assert_non_null(strstr(R.out, ": 1 runs copied ("));
    all_done_once(merged, SMALL_POINTS);
    same_results(merged, one_db);
}

static void test_merge_errors(void **state)
{
    (void)state;
    char old[PATH_CHARS], out[PATH_CHARS], text[PATH_CHARS], wd[PATH_CHARS], cfg_path[PATH_CHARS];
    char src[PATH_CHARS + 16];
    sweep_config("merr.ini", "exit.beta = 0.9, 1\n", cfg_path, sizeof cfg_path);
    make_dir("merr", wd, sizeof wd);
    pesim(wd, (const char *[]){"sweep", "-q", cfg_path, NULL});
    assert_int_equal(R.status, 0);
    snprintf(src, sizeof src, "%s/sweep.db", wd);
    snprintf(old, sizeof old, "%s/old.db", dir);
    snprintf(out, sizeof out, "%s/merr-out.db", dir);

    /* an older schema version is refused, the other inputs are merged */
    {
        sqlite3 *h = NULL;
        assert_int_equal(sqlite3_open(old, &h), SQLITE_OK);
        assert_int_equal(sqlite3_exec(h,
                                      "CREATE TABLE runs (run_id INTEGER PRIMARY KEY);"
                                      "PRAGMA user_version = 1",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
        sqlite3_close(h);
    }
    pesim(dir, (const char *[]){"merge", out, old, src, NULL});
    assert_int_equal(R.status, 1);
    char want[PATH_CHARS * 3];
    snprintf(want, sizeof want, "pesim merge: %s: schema version 1, %s has 2: not merged\n", old,
             out);
    assert_string_equal(R.err, want);
    assert_non_null(strstr(R.out, "2 runs copied ("));
    all_done_once(out, 2);

    /* a missing input, a text file, the output itself */
    pesim(dir, (const char *[]){"merge", out, "/nonexistent/x.db", NULL});
    assert_int_equal(R.status, 1);
    assert_non_null(strstr(R.err, "/nonexistent/x.db: No such file or directory"));
    write_file("text.db", "not a database\n", text, sizeof text);
    pesim(dir, (const char *[]){"merge", out, text, NULL});
    assert_int_equal(R.status, 1);
    assert_non_null(strstr(R.err, "not a pesim result database"));
    char other[PATH_CHARS];
    snprintf(other, sizeof other, "%s/other.db", dir);
    {
        sqlite3 *h = NULL;
        assert_int_equal(sqlite3_open(other, &h), SQLITE_OK);
        assert_int_equal(sqlite3_exec(h, "CREATE TABLE x (a)", NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(h);
    }
    pesim(dir, (const char *[]){"merge", out, other, NULL});
    assert_int_equal(R.status, 1);
    snprintf(want, sizeof want, "pesim merge: %s: not a pesim result database (no table 'runs')\n",
             other);
    assert_string_equal(R.err, want);
    pesim(dir, (const char *[]){"merge", out, out, NULL});
    assert_int_equal(R.status, 1);
    assert_non_null(strstr(R.err, "is the output database itself"));
    all_done_once(out, 2);

    /* the output must be a result database too */
    pesim(dir, (const char *[]){"merge", text, src, NULL});
    assert_int_equal(R.status, 1);
    assert_int_equal(count_lines(R.err), 1);

    pesim(dir, (const char *[]){"merge", out, NULL});
    assert_int_equal(R.status, 2);
    pesim(dir, (const char *[]){"merge", "--help", NULL});
    assert_int_equal(R.status, 0);
    assert_non_null(strstr(R.out, "usage: pesim merge OUT.db IN.db..."));
}

/* A point that fails is reported with its overrides; the others run; exit status 1. */
static void test_sweep_failures(void **state)
{
    (void)state;
    char cfg_path[PATH_CHARS], wd[PATH_CHARS], db_path[PATH_CHARS + 16];
    sweep_config("fail.ini", "exit.rule = activation, softmax\nexit.beta = 0.9, 1.5\n", cfg_path,
                 sizeof cfg_path);
    make_dir("fail", wd, sizeof wd);
    snprintf(db_path, sizeof db_path, "%s/sweep.db", wd);
    for (int jobs = 1; jobs <= 2; jobs++) {
        char j[8];
        snprintf(j, sizeof j, "%d", jobs);
        pesim(wd, (const char *[]){"sweep", "-j", j, "-s", "exit.policy=passive", cfg_path, NULL});
        assert_int_equal(R.status, 1);
        assert_non_null(strstr(R.err, "pesim sweep: point 4/4 (exit.rule=softmax exit.beta=1.5) "
                                      "failed: "));
        assert_non_null(strstr(R.err, "with rule = softmax it is a probability in (0, 1]\n"));
        assert_non_null(strstr(R.err, jobs == 1 ? "3 run, 0 already done, 1 failed"
                                                : "0 run, 3 already done, 1 failed"));
        assert_int_equal(count_lines(R.err), 2);
        all_done_once(db_path, 3);
    }
    /* a sweep whose base config is broken, or whose [sweep] is: nothing runs */
    pesim(wd, (const char *[]){"sweep", "-s", "exit.beta=abc", cfg_path, NULL});
    assert_int_equal(R.status, 1);
    assert_string_equal(R.err,
                        "-s exit.beta=abc: [exit] beta: 'abc' is not a finite real number\n");
    char bad[PATH_CHARS];
    sweep_config("badrange.ini", "exit.beta = 0.9:0.5:0.1\n", bad, sizeof bad);
    pesim(wd, (const char *[]){"sweep", bad, NULL});
    assert_int_equal(R.status, 1);
    char want[PATH_CHARS * 2];
    snprintf(want, sizeof want,
             "%s:8: [sweep] exit.beta: range 0.9:0.5:0.1 must have first <= last and step > 0\n",
             bad);
    assert_string_equal(R.err, want);
    sweep_config("badzip.ini", "exit.rule = activation, softmax\nexit.beta = 0.9\nmode = zip\n",
                 bad, sizeof bad);
    pesim(wd, (const char *[]){"sweep", bad, NULL});
    assert_int_equal(R.status, 1);
    snprintf(want, sizeof want,
             "%s:9: [sweep] exit.beta has 1 values; mode = zip needs 2 like the first\n", bad);
    assert_string_equal(R.err, want);
    /* --dry-run checks every point's config */
    pesim(wd, (const char *[]){"sweep", "-n", "-s", "exit.policy=passive", cfg_path, NULL});
    assert_int_equal(R.status, 1);
    assert_int_equal(count_lines(R.out), 4);
    assert_non_null(strstr(R.out, "4  -  exit.rule=softmax exit.beta=1.5\n"));
    assert_non_null(strstr(R.err, "pesim sweep: point 4/4 (exit.rule=softmax exit.beta=1.5) is "
                                  "invalid: "));
}

static void test_sweep_usage(void **state)
{
    (void)state;
    char cfg_path[PATH_CHARS];
    sweep_config("usage.ini", SMALL_SWEEP, cfg_path, sizeof cfg_path);
    const char *const bad[][6] = {
        {"sweep", NULL},
        {"sweep", "--shard", "0/2", cfg_path, NULL},
        {"sweep", "--shard", "3/2", cfg_path, NULL},
        {"sweep", "--shard", "1/0", cfg_path, NULL},
        {"sweep", "--shard", "1-2", cfg_path, NULL},
        {"sweep", "-j", "0", cfg_path, NULL},
        {"sweep", "-j", "two", cfg_path, NULL},
        {"sweep", "--bogus", cfg_path, NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pesim(dir, bad[i]);
        assert_int_equal(R.status, 2);
        assert_string_equal(R.out, "");
    }
    pesim(dir, (const char *[]){"sweep", "--help", NULL});
    assert_int_equal(R.status, 0);
    assert_non_null(strstr(R.out, "usage: pesim sweep [-j N] [--shard K/N]"));
    /* a shard with no points runs nothing and succeeds */
    char one[PATH_CHARS];
    sweep_config("onepoint.ini", "exit.beta = 0.9\n", one, sizeof one);
    pesim(dir, (const char *[]){"sweep", "--shard", "2/3", "-n", one, NULL});
    assert_int_equal(R.status, 0);
    assert_string_equal(R.out, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cross_order),
        cmocka_unit_test(test_zip),
        cmocka_unit_test(test_ranges),
        cmocka_unit_test(test_semicolon_lists),
        cmocka_unit_test(test_expand_errors),
        cmocka_unit_test(test_point_configs),
        cmocka_unit_test(test_sweep_two_workers),
        cmocka_unit_test(test_sweep_killed),
        cmocka_unit_test(test_two_sweeps_at_once),
        cmocka_unit_test(test_shards_merge),
        cmocka_unit_test(test_merge_errors),
        cmocka_unit_test(test_sweep_failures),
        cmocka_unit_test(test_sweep_usage),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
