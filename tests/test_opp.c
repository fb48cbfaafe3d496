/* cmocka tests of the OPP tables (power/opp.c): the shipped configs/opp/ files, the built-in
 * generic ladder, every loader error as an exact "FILE:LINE: message", and the nearest /
 * at-least lookups on a hand-made table. */
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

#include "opp.h"

#ifndef PESIM_SOURCE_DIR
#define PESIM_SOURCE_DIR "."
#endif

enum {
    ERR_LEN = 1024,
    PATH_LEN = 256,
    TX2_LEVELS = 13,
    EXYNOS_LEVELS = 19,
    GENERIC_LEVELS = 8,
    LONG_LINE = 300,  /* longer than inih's line buffer */
    PRINT_LINES = 10, /* opp_print of the generic ladder: title, column names, 8 levels */
};

static char tmpdir[] = "/tmp/pesim-opp-XXXXXX";

static int setup(void **state)
{
    (void)state;
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[PATH_LEN];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd);
}

/* Write text (len bytes) to a file in the temporary directory; its path in path. */
static void write_file(char *path, const char *name, const char *text, size_t len)
{
    snprintf(path, PATH_LEN, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static int load_shipped(const char *name, opp_table *t)
{
    char path[PATH_LEN], err[ERR_LEN] = "";
    snprintf(path, sizeof path, "%s/configs/opp/%s", PESIM_SOURCE_DIR, name);
    int rc = opp_load(path, t, err, sizeof err);
    if (rc) print_error("%s\n", err);
    return rc;
}

static void assert_ladder(const opp_table *t)
{
    assert_true(t->n >= 1 && t->n <= OPP_MAX_LEVELS);
    for (int i = 1; i < t->n; i++) {
        assert_true(t->levels[i].freq_mhz > t->levels[i - 1].freq_mhz);
        assert_true(t->levels[i].vdd_v >= t->levels[i - 1].vdd_v);
    }
}

/* ---- shipped tables ---- */

static void test_tx2(void **state)
{
    (void)state;
    opp_table t;
    assert_int_equal(load_shipped("jetson-tx2-gpu.ini", &t), OPP_OK);
    assert_string_equal(t.name, "jetson-tx2-gpu");
    assert_string_equal(t.voltage_source, "assumed");
    assert_int_equal(t.n, TX2_LEVELS);
    assert_ladder(&t);
    assert_true(t.levels[0].freq_mhz == 114.75);
    assert_true(t.levels[1].freq_mhz == 216.75);
    assert_true(t.levels[TX2_LEVELS - 2].freq_mhz == 1236.75);
    assert_true(t.levels[TX2_LEVELS - 1].freq_mhz == 1300.5);
    assert_true(t.levels[0].vdd_v == 0.700);
    assert_true(t.levels[TX2_LEVELS - 1].vdd_v == 1.070);
    assert_true(t.transition_ns == 100000.0);
    assert_true(t.transition_nj == 0.0);
}

static void test_exynos(void **state)
{
    (void)state;
    opp_table t;
    assert_int_equal(load_shipped("exynos5422-a15.ini", &t), OPP_OK);
    assert_string_equal(t.name, "exynos5422-a15");
    assert_string_equal(t.voltage_source, "device-tree");
    assert_int_equal(t.n, EXYNOS_LEVELS);
    assert_ladder(&t);
    for (int i = 0; i < EXYNOS_LEVELS; i++) assert_true(t.levels[i].freq_mhz == 200.0 + 100.0 * i);
    assert_true(t.levels[0].vdd_v == 0.9);
    assert_true(t.levels[EXYNOS_LEVELS - 1].vdd_v == 1.3125);
    assert_true(t.transition_ns == 140000.0);
}

static void test_generic_builtin(void **state)
{
    (void)state;
    opp_table t;
    memset(&t, 0xff, sizeof t);
    opp_generic(&t);
    assert_string_equal(t.name, "generic");
    assert_string_equal(t.voltage_source, "assumed");
    assert_int_equal(t.n, GENERIC_LEVELS);
    assert_ladder(&t);
    assert_true(t.levels[0].freq_mhz == 200.0 && t.levels[0].vdd_v == 0.60);
    assert_true(t.levels[GENERIC_LEVELS - 1].freq_mhz == 1000.0);
    assert_true(t.levels[GENERIC_LEVELS - 1].vdd_v == 1.00);
    assert_true(t.transition_ns == 10000.0);
    assert_true(t.transition_nj == 0.0);
}

/* configs/opp/generic.ini is the built-in ladder, number for number. */
static void test_generic_file_matches_builtin(void **state)
{
    (void)state;
    opp_table file, builtin;
    assert_int_equal(load_shipped("generic.ini", &file), OPP_OK);
    opp_generic(&builtin);
    assert_string_equal(file.name, builtin.name);
    assert_string_equal(file.voltage_source, builtin.voltage_source);
    assert_int_equal(file.n, builtin.n);
    assert_memory_equal(file.levels, builtin.levels, (size_t)builtin.n * sizeof builtin.levels[0]);
    assert_true(file.transition_ns == builtin.transition_ns);
    assert_true(file.transition_nj == builtin.transition_nj);
}

/* ---- loader: accepted forms ---- */

static void test_sorted_defaults_and_forms(void **state)
{
    (void)state;
    static const char text[] = "\xEF\xBB\xBF; a comment\r\n"
                               "# another\r\n"
                               "[table]\r\n"
                               "name = hand ; inline comment\r\n"
                               "[levels]\r\n"
                               "800 = 0.9\r\n"
                               "  200 = 0.6\r\n" /* indented: a key, not a continuation */
                               "\r\n"
                               "500: 0.75\r\n"
                               "1e3 = 1.0\r\n";
    char path[PATH_LEN], err[ERR_LEN] = "";
    write_file(path, "forms.ini", text, sizeof text - 1);
    opp_table t;
    assert_int_equal(opp_load(path, &t, err, sizeof err), OPP_OK);
    assert_string_equal(t.name, "hand");
    assert_string_equal(t.voltage_source, "assumed"); /* default */
    assert_true(t.transition_ns == 0.0 && t.transition_nj == 0.0);
    assert_int_equal(t.n, 4);
    static const opp_level want[] = {{200, 0.6}, {500, 0.75}, {800, 0.9}, {1000, 1.0}};
    assert_memory_equal(t.levels, want, sizeof want);
}

static void test_bom_before_header(void **state)
{
    (void)state;
    static const char text[] = "\xEF\xBB\xBF[tabel]\nname = x\n";
    char path[PATH_LEN], err[ERR_LEN] = "", want[ERR_LEN];
    write_file(path, "bom.ini", text, sizeof text - 1);
    opp_table t;
    assert_int_equal(opp_load(path, &t, err, sizeof err), OPP_EFORMAT);
    snprintf(want, sizeof want, "%s:1: unknown section [tabel] (expected [table] or [levels])",
             path);
    assert_string_equal(err, want);
}

static void test_table_keys(void **state)
{
    (void)state;
    static const char text[] = "[levels]\n100 = 1\n"
                               "[table]\nname = k\ntransition_us = 2.5\ntransition_nj = 7\n"
                               "voltage_source = measured\n";
    char path[PATH_LEN], err[ERR_LEN] = "";
    write_file(path, "keys.ini", text, sizeof text - 1);
    opp_table t;
    assert_int_equal(opp_load(path, &t, err, sizeof err), OPP_OK);
    assert_true(t.transition_ns == 2500.0);
    assert_true(t.transition_nj == 7.0);
    assert_string_equal(t.voltage_source, "measured");
}

/* Exactly OPP_MAX_LEVELS levels load; one more is an error at that line. */
static char *many_levels(int n)
{
    enum { PER_LINE = 32 };
    size_t cap = (size_t)(n + 2) * PER_LINE;
    char *text = malloc(cap);
    assert_non_null(text);
    size_t used = (size_t)snprintf(text, cap, "[table]\nname = many\n[levels]\n");
    for (int i = 0; i < n; i++)
        used += (size_t)snprintf(text + used, cap - used, "%d = 1\n", 100 + i);
    return text;
}

static void test_level_count_limit(void **state)
{
    (void)state;
    char path[PATH_LEN], err[ERR_LEN] = "", want[ERR_LEN];
    opp_table t;
    char *text = many_levels(OPP_MAX_LEVELS);
    write_file(path, "max.ini", text, strlen(text));
    free(text);
    assert_int_equal(opp_load(path, &t, err, sizeof err), OPP_OK);
    assert_int_equal(t.n, OPP_MAX_LEVELS);

    text = many_levels(OPP_MAX_LEVELS + 1);
    write_file(path, "toomany.ini", text, strlen(text));
    free(text);
    assert_int_equal(opp_load(path, &t, err, sizeof err), OPP_EFORMAT);
    snprintf(want, sizeof want, "%s:%d: more than %d levels", path, 3 + OPP_MAX_LEVELS + 1,
             OPP_MAX_LEVELS);
    assert_string_equal(err, want);
}

/* ---- loader: errors ---- */

typedef struct bad_case {
    const char *text;
    int line;         /* 0: the message has no line ("FILE: message") */
    const char *want; /* the message after "FILE:LINE: " */
} bad_case;

static const bad_case bad_cases[] = {
    {"[table]\nname = x\n[levles]\n100 = 0.8\n", 3,
     "unknown section [levles] (expected [table] or [levels])"},
    {"[table]\nname = x\ntransition = 5\n", 3,
     "unknown key 'transition' in [table] (expected name, transition_us, transition_nj or "
     "voltage_source)"},
    {"[table]\nname = x\nname = y\n", 3, "duplicate key 'name' in [table] (first set at line 2)"},
    {"[table]\nname = x\n[levels]\n100 = 1\n[table]\n", 5,
     "duplicate section [table] (first at line 1)"},
    {"name = x\n", 1, "key 'name' outside any section (expected [table] or [levels])"},
    {"[table]\nname =\n", 2, "key 'name' has no value"},
    {"[table]\n= x\n", 2, "missing key before '='"},
    {"[table]\nname = x\nvoltage_source = guessed\n", 3,
     "voltage_source 'guessed' is not one of assumed, measured, device-tree"},
    {"[table]\ntransition_us = -1\n", 2, "transition_us '-1' is not a number >= 0"},
    {"[table]\ntransition_nj = lots\n", 2, "transition_nj 'lots' is not a number >= 0"},
    {"[table]\nname = 0123456789012345678901234567890123456789012345678901234567890123\n", 2,
     "name is 64 characters long; at most 63"},
    {"[levels]\nabc = 0.8\n", 2, "bad frequency 'abc' in [levels]: expected 'freq_mhz = vdd_v'"},
    {"[levels]\n100MHz = 0.8\n", 2,
     "bad frequency '100MHz' in [levels]: expected 'freq_mhz = vdd_v'"},
    {"[levels]\nnan = 0.8\n", 2, "bad frequency 'nan' in [levels]: expected 'freq_mhz = vdd_v'"},
    {"[levels]\n1e999 = 0.8\n", 2,
     "bad frequency '1e999' in [levels]: expected 'freq_mhz = vdd_v'"},
    {"[levels]\n0 = 0.8\n", 2, "frequency 0 MHz is not > 0"},
    {"[levels]\n-5 = 0.8\n", 2, "frequency -5 MHz is not > 0"},
    {"[levels]\n100 = high\n", 2, "bad voltage 'high' at 100 MHz: expected a number of volts"},
    {"[levels]\n100 = inf\n", 2, "bad voltage 'inf' at 100 MHz: expected a number of volts"},
    {"[levels]\n100 = 0\n", 2, "voltage 0 V at 100 MHz is outside (0, 5]"},
    {"[levels]\n100 = 5.5\n", 2, "voltage 5.5 V at 100 MHz is outside (0, 5]"},
    {"[table]\nname = x\n[levels]\n100 = 0.8\n100.0 = 0.9\n", 5,
     "duplicate frequency 100 MHz (first at line 4)"},
    {"[table]\nname = x\n[levels]\n200 = 0.9\n100 = 1.0\n", 4,
     "voltage 0.9 V at 200 MHz is lower than 1 V at 100 MHz (line 5); voltage may not fall as "
     "frequency rises"},
    /* the Exynos 5800/5422 device tree as written (configs/opp/exynos5422-a15.ini says why) */
    {"[table]\nname = x\n[levels]\n1700 = 1.25\n1800 = 1.2375\n", 5,
     "voltage 1.2375 V at 1800 MHz is lower than 1.25 V at 1700 MHz (line 4); voltage may not "
     "fall as frequency rises"},
    {"[table]\nname = x\n[levels]\n", 0,
     "no levels: [levels] needs at least one 'freq_mhz = vdd_v' line"},
    {"", 0, "missing key 'name' in [table]"},
    {"[levels]\n100 = 1\n", 0, "missing key 'name' in [table]"},
    {"[table]\nname = x\nthis is not ini\n", 3,
     "syntax error: expected [section], key = value, or a comment"},
    {"[table\nname = x\n", 1, "syntax error: expected [section], key = value, or a comment"},
    /* the earlier of a syntax error and a validation error wins */
    {"[table]\nnot ini\nname = x\nbogus = 1\n", 2,
     "syntax error: expected [section], key = value, or a comment"},
    {"[table]\nbogus = 1\nnot ini\n", 2,
     "unknown key 'bogus' in [table] (expected name, transition_us, transition_nj or "
     "voltage_source)"},
};

static void test_bad_files(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const bad_case *c = &bad_cases[i];
        char path[PATH_LEN], err[ERR_LEN] = "", want[ERR_LEN], name[32];
        snprintf(name, sizeof name, "bad%zu.ini", i);
        write_file(path, name, c->text, strlen(c->text));
        opp_table t, before;
        memset(&t, 0x5a, sizeof t);
        before = t;
        int rc = opp_load(path, &t, err, sizeof err);
        if (c->line)
            snprintf(want, sizeof want, "%s:%d: %s", path, c->line, c->want);
        else
            snprintf(want, sizeof want, "%s: %s", path, c->want);
        if (rc != OPP_EFORMAT || strcmp(err, want))
            print_error("case %zu: rc %d\n  got  '%s'\n  want '%s'\n", i, rc, err, want);
        assert_int_equal(rc, OPP_EFORMAT);
        assert_string_equal(err, want);
        assert_memory_equal(&t, &before, sizeof t); /* untouched on error */
    }
}

static void test_long_line_and_nul(void **state)
{
    (void)state;
    char path[PATH_LEN], err[ERR_LEN] = "", want[ERR_LEN];
    opp_table t;
    char text[LONG_LINE + 64];
    int used = snprintf(text, sizeof text, "[table]\nname = ");
    memset(text + used, 'n', LONG_LINE - strlen("name = "));
    strcpy(text + used + LONG_LINE - strlen("name = "), "\n");
    write_file(path, "long.ini", text, strlen(text));
    assert_int_equal(opp_load(path, &t, err, sizeof err), OPP_EFORMAT);
    snprintf(want, sizeof want, "%s:2: line is %d characters long; at most ", path, LONG_LINE);
    assert_memory_equal(err, want, strlen(want));

    static const char nul[] = "[table]\nname = a\0b\n";
    write_file(path, "nul.ini", nul, sizeof nul - 1);
    assert_int_equal(opp_load(path, &t, err, sizeof err), OPP_EFORMAT);
    snprintf(want, sizeof want, "%s:2: NUL byte in the line", path);
    assert_string_equal(err, want);
}

static void test_io_and_args(void **state)
{
    (void)state;
    char path[PATH_LEN], err[ERR_LEN] = "", want[ERR_LEN];
    opp_table t;
    snprintf(path, sizeof path, "%s/missing.ini", tmpdir);
    assert_int_equal(opp_load(path, &t, err, sizeof err), OPP_EIO);
    snprintf(want, sizeof want, "%s: cannot open: ", path);
    assert_memory_equal(err, want, strlen(want));

    assert_int_equal(opp_load(NULL, &t, err, sizeof err), OPP_EARG);
    assert_string_equal(err, "opp_load: missing argument");
    assert_int_equal(opp_load(path, NULL, err, sizeof err), OPP_EARG);
    /* no error buffer: still a status, no crash */
    assert_int_equal(opp_load(path, &t, NULL, 0), OPP_EIO);
    char tiny[8];
    assert_int_equal(opp_load(path, &t, tiny, sizeof tiny), OPP_EIO);
    assert_int_equal(strlen(tiny), sizeof tiny - 1);
}

/* ---- lookups ---- */

static opp_table hand_table(void)
{
    opp_table t = {.name = "hand", .voltage_source = "assumed", .n = 3};
    t.levels[0] = (opp_level){100, 0.7};
    t.levels[1] = (opp_level){200, 0.8};
    t.levels[2] = (opp_level){400, 1.0};
    return t;
}

static void test_nearest(void **state)
{
    (void)state;
    opp_table t = hand_table();
    assert_int_equal(opp_nearest(&t, 100), 0);
    assert_int_equal(opp_nearest(&t, 149), 0);
    assert_int_equal(opp_nearest(&t, 150), 1); /* tie: the faster */
    assert_int_equal(opp_nearest(&t, 151), 1);
    assert_int_equal(opp_nearest(&t, 299), 1);
    assert_int_equal(opp_nearest(&t, 300), 2); /* tie: the faster */
    assert_int_equal(opp_nearest(&t, 400), 2);
    assert_int_equal(opp_nearest(&t, 0), 0);
    assert_int_equal(opp_nearest(&t, -1e300), 0);
    assert_int_equal(opp_nearest(&t, -INFINITY), 0);
    assert_int_equal(opp_nearest(&t, 1e9), 2);
    assert_int_equal(opp_nearest(&t, INFINITY), 2);
    assert_int_equal(opp_nearest(&t, NAN), 2);
    opp_table one = {.n = 1, .levels = {{500, 1}}};
    assert_int_equal(opp_nearest(&one, 1), 0);
    assert_int_equal(opp_nearest(&one, 1e4), 0);
    opp_table empty = {.n = 0};
    assert_int_equal(opp_nearest(&empty, 100), -1);
    assert_int_equal(opp_nearest(NULL, 100), -1);
}

static void test_at_least(void **state)
{
    (void)state;
    opp_table t = hand_table();
    assert_int_equal(opp_at_least(&t, 0), 0);
    assert_int_equal(opp_at_least(&t, 100), 0);
    assert_int_equal(opp_at_least(&t, 100.000001), 1);
    assert_int_equal(opp_at_least(&t, 200), 1);
    assert_int_equal(opp_at_least(&t, 201), 2);
    assert_int_equal(opp_at_least(&t, 400), 2);
    assert_int_equal(opp_at_least(&t, 401), 2); /* none is fast enough: the fastest */
    assert_int_equal(opp_at_least(&t, INFINITY), 2);
    assert_int_equal(opp_at_least(&t, NAN), 2);
    assert_int_equal(opp_at_least(&t, -INFINITY), 0);
    opp_table empty = {.n = 0};
    assert_int_equal(opp_at_least(&empty, 100), -1);
    assert_int_equal(opp_at_least(NULL, 100), -1);

    /* on the TX2 ladder: the paper governor's f_max * J / R */
    opp_table tx2;
    assert_int_equal(load_shipped("jetson-tx2-gpu.ini", &tx2), OPP_OK);
    assert_int_equal(opp_at_least(&tx2, 1300.5 * 3 / 7), 5); /* 557.4 -> 624.75 */
    assert_int_equal(opp_nearest(&tx2, 1300.5 * 3 / 7), 4);  /* 557.4 -> 522.75 */
    assert_int_equal(opp_nearest(&tx2, 1268.625), 12);       /* midway 1236.75/1300.5 */
}

static void test_print(void **state)
{
    (void)state;
    opp_table t;
    opp_generic(&t);
    FILE *f = tmpfile();
    assert_non_null(f);
    opp_print(&t, f);
    rewind(f);
    char text[2048];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    assert_non_null(strstr(text, "OPP table 'generic' (voltages assumed): 8 levels, 10000 ns and "
                                 "0 nJ per switch\n"));
    assert_non_null(strstr(text, "    0     200.00  0.6000\n"));
    assert_non_null(strstr(text, "    7    1000.00  1.0000\n"));
    int lines = 0;
    for (const char *p = text; *p; p++) lines += *p == '\n';
    assert_int_equal(lines, PRINT_LINES);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tx2),
        cmocka_unit_test(test_exynos),
        cmocka_unit_test(test_generic_builtin),
        cmocka_unit_test(test_generic_file_matches_builtin),
        cmocka_unit_test(test_sorted_defaults_and_forms),
        cmocka_unit_test(test_bom_before_header),
        cmocka_unit_test(test_table_keys),
        cmocka_unit_test(test_level_count_limit),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_long_line_and_nul),
        cmocka_unit_test(test_io_and_args),
        cmocka_unit_test(test_nearest),
        cmocka_unit_test(test_at_least),
        cmocka_unit_test(test_print),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
