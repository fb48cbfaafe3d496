/* Tests of sim/cfg: every broken config under tests/configs/bad gives exactly its expected
 * "FILE:LINE: message" (written on the file's first line), the shipped configs are valid, and
 * includes, continuations, overrides, defaults and the canonical text behave as documented. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"

#define SRC        PESIM_SOURCE_DIR
#define BAD_DIR    SRC "/tests/configs/bad"
#define GOOD_DIR   SRC "/tests/configs/good"
#define EXPECT_TAG "; expect: "

/* Replace every "{dir}" in text by dir. */
static void expand_dir(const char *text, const char *dir, char *out, size_t len)
{
    size_t used = 0;
    while (*text && used + 1 < len) {
        if (strncmp(text, "{dir}", 5) == 0) {
            used += (size_t)snprintf(out + used, len - used, "%s", dir);
            text += 5;
        } else {
            out[used++] = *text++;
        }
    }
    out[used < len ? used : len - 1] = '\0';
}

/* Load path (no overrides), finishing only if loading was clean, as `pesim check` does. */
static cfg *load(const char *path)
{
    cfg *c = cfg_new();
    assert_non_null(c);
    cfg_load_file(c, path);
    if (cfg_error_count(c) == 0) cfg_finish(c);
    return c;
}

static void test_bad_configs(void **state)
{
    (void)state;
    DIR *d = opendir(BAD_DIR);
    assert_non_null(d);
    struct dirent *e;
    int checked = 0;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 4 || strcmp(e->d_name + n - 4, ".ini") != 0) continue;
        char path[1024], first[1024], want[4096], expanded[2048];
        snprintf(path, sizeof path, "%s/%s", BAD_DIR, e->d_name);
        FILE *f = fopen(path, "r");
        assert_non_null(f);
        assert_non_null(fgets(first, sizeof first, f));
        fclose(f);
        first[strcspn(first, "\n")] = '\0';
        assert_true(strncmp(first, EXPECT_TAG, strlen(EXPECT_TAG)) == 0);
        expand_dir(first + strlen(EXPECT_TAG), BAD_DIR, expanded, sizeof expanded);
        if (strncmp(expanded, BAD_DIR, strlen(BAD_DIR)) == 0)
            snprintf(want, sizeof want, "%s", expanded);
        else
            snprintf(want, sizeof want, "%s:%s", path, expanded);
        cfg *c = load(path);
        if (cfg_error_count(c) != 1 || strcmp(cfg_error(c, 0), want) != 0) {
            print_error("%s: %zu problems, first:\n  got  %s\n  want %s\n", e->d_name,
                        cfg_error_count(c), cfg_error_count(c) ? cfg_error(c, 0) : "(none)", want);
            fail();
        }
        cfg_free(c);
        checked++;
    }
    closedir(d);
    assert_true(checked >= 20);
}

/* Every top-level shipped config is valid. */
static void test_shipped_configs(void **state)
{
    (void)state;
    const char *dir = SRC "/configs";
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    int checked = 0;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 4 || strcmp(e->d_name + n - 4, ".ini") != 0) continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        /* shipped configs name files relative to the repository root, as the README runs them;
         * a logit trace under traces/ is recorded by quickstart.sh and may not exist yet */
        assert_int_equal(chdir(PESIM_SOURCE_DIR), 0);
        cfg *c = cfg_new();
        assert_non_null(c);
        cfg_load_file(c, path);
        const char *trace = cfg_get(c, "experiment", "trace");
        if (trace && !strncmp(trace, "traces/", 7) && access(trace, F_OK) != 0)
            assert_int_equal(cfg_override(c, "experiment.trace="), 0); /* not recorded yet */
        if (cfg_error_count(c) == 0) cfg_finish(c);
        if (cfg_error_count(c)) print_error("%s\n", cfg_error(c, 0));
        assert_int_equal(cfg_error_count(c), 0);
        cfg_free(c);
        checked++;
    }
    closedir(d);
    assert_true(checked >= 1);
}

static void test_composed(void **state)
{
    (void)state;
    cfg *c = load(GOOD_DIR "/composed.ini");
    if (cfg_error_count(c)) print_error("%s\n", cfg_error(c, 0));
    assert_int_equal(cfg_error_count(c), 0);
    /* The including file overrides the fragment; untouched fragment keys survive. */
    assert_int_equal(cfg_int(c, "accelerator", "cores"), 8);
    assert_int_equal(cfg_int(c, "accelerator", "pe_rows"), 8);
    assert_int_equal(cfg_int(c, "accelerator", "pe_cols"), 32);
    /* Defaults fill what nobody set. */
    assert_int_equal(cfg_int(c, "accelerator", "sram_kib"), 128);
    assert_false(cfg_is_set(c, "accelerator", "sram_kib"));
    assert_true(cfg_is_set(c, "accelerator", "cores"));
    assert_string_equal(cfg_get(c, "exit", "policy"), "predictive");
    /* Continuation lines join a list. */
    double k[4];
    assert_int_equal(cfg_real_list(c, "exit", "kernel", k, 4), 3);
    assert_true(k[0] == 1 && k[1] == 2 && k[2] == 1);
    char buf[256];
    assert_string_equal(cfg_origin(c, "accelerator", "pe_rows", buf, sizeof buf),
                        GOOD_DIR "/parts/accel.ini:4");
    assert_string_equal(cfg_origin(c, "accelerator", "cores", buf, sizeof buf),
                        GOOD_DIR "/composed.ini:17");
    assert_string_equal(cfg_origin(c, "network", "arch", buf, sizeof buf), "default");
    /* Sweep lines keep their text and order. */
    assert_int_equal(cfg_sweep_count(c), 2);
    assert_string_equal(cfg_sweep_param(c, 0), "exit.beta");
    assert_string_equal(cfg_sweep_values(c, 0), "0.5:0.7:0.1");
    assert_string_equal(cfg_sweep_param(c, 1), "exit.l0");
    /* Canonical text: normalised numbers and lists, every key present, no [sweep]. */
    char *t = cfg_effective_text(c);
    assert_non_null(t);
    assert_non_null(strstr(t, "\nbeta = 0.5\n"));
    assert_non_null(strstr(t, "\nkernel = 1, 2, 1\n"));
    assert_non_null(strstr(t, "\nexits = pool2, pool3, pool4\n"));
    assert_non_null(strstr(t, "\nsram_kib = 128\n"));
    assert_non_null(strstr(t, "\nmodel =\n"));
    assert_null(strstr(t, "[sweep]"));
    size_t keys = 0;
    for (const char *p = t; (p = strstr(p, " =")); p++) keys++;
    assert_int_equal(keys, cfg_schema_len - 2); /* all but sweep.mode and experiment.out */
    assert_null(strstr(t, "\nout ="));
    free(t);
    cfg_free(c);
}

/* Same meaning, different spelling: same canonical text; an override changes it. */
static void test_canonical_and_overrides(void **state)
{
    (void)state;
    char dir[] = "/tmp/pesim-cfg-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char a[256], b[256];
    snprintf(a, sizeof a, "%s/a.ini", dir);
    snprintf(b, sizeof b, "%s/b.ini", dir);
    FILE *f = fopen(a, "w");
    fprintf(f, "[experiment]\nout = r.db\n[exit]\nbeta = 1.0\nkernel = 1,1,1\n");
    fclose(f);
    f = fopen(b, "w");
    fprintf(f, "[exit]\nkernel = 1 1 1  ; inline comment\nbeta = 1e0\n[experiment]\nout = r.db\n");
    fclose(f);
    cfg *ca = load(a), *cb = load(b);
    assert_int_equal(cfg_error_count(ca) + cfg_error_count(cb), 0);
    char *ta = cfg_effective_text(ca), *tb = cfg_effective_text(cb);
    assert_string_equal(ta, tb);

    assert_int_equal(cfg_override(ca, "exit.beta=0.75"), 0);
    assert_int_equal(cfg_override(ca, " accelerator.cores = 32 "), 0);
    assert_true(cfg_real(ca, "exit", "beta") == 0.75);
    assert_int_equal(cfg_int(ca, "accelerator", "cores"), 32);
    char buf[64];
    assert_string_equal(cfg_origin(ca, "exit", "beta", buf, sizeof buf), "-s");
    char *ta2 = cfg_effective_text(ca);
    assert_string_not_equal(ta, ta2);

    /* Bad overrides: each a one-line message naming the override. */
    assert_int_equal(cfg_override(ca, "exit.beta"), -1);
    assert_string_equal(cfg_error(ca, 0), "-s exit.beta: expected section.key=value");
    assert_int_equal(cfg_override(ca, "exit.bta=1"), -1);
    assert_string_equal(cfg_error(ca, 1),
                        "-s exit.bta=1: unknown key 'bta' in [exit] (did you mean 'beta'?)");
    assert_int_equal(cfg_override(ca, "exti.beta=1"), -1);
    assert_string_equal(cfg_error(ca, 2),
                        "-s exti.beta=1: unknown section [exti] (did you mean [exit]?)");
    assert_int_equal(cfg_override(ca, "accelerator.cores=-1"), -1);
    assert_string_equal(
        cfg_error(ca, 3),
        "-s accelerator.cores=-1: [accelerator] cores: -1 is out of range [1, 4096]");
    assert_int_equal(cfg_override(ca, "exit.beta=inf"), -1);
    assert_int_equal(cfg_override(ca, "exit.beta=0x10"), -1);
    assert_int_equal(cfg_error_count(ca), 6);
    /* A failed override keeps the previous value. */
    assert_true(cfg_real(ca, "exit", "beta") == 0.75);

    free(ta);
    free(tb);
    free(ta2);
    cfg_free(ca);
    cfg_free(cb);
    unlink(a);
    unlink(b);
    rmdir(dir);
}

/* Generated hostile files: an over-long line, a NUL byte, an empty file, a directory. */
static void test_generated_bad_files(void **state)
{
    (void)state;
    char dir[] = "/tmp/pesim-cfg-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char p[256], want[512];

    snprintf(p, sizeof p, "%s/long.ini", dir);
    FILE *f = fopen(p, "w");
    fprintf(f, "[experiment]\nout = r.db\n[exit]\nexits = ");
    for (int i = 0; i < 60; i++) fprintf(f, "l%d, ", i);
    fprintf(f, "\n");
    fclose(f);
    cfg *c = load(p);
    assert_int_equal(cfg_error_count(c), 1);
    snprintf(want, sizeof want,
             "%s:4: line is 298 characters long; the INI reader takes at most "
             "198 (continue a long value on indented lines)",
             p);
    assert_string_equal(cfg_error(c, 0), want);
    cfg_free(c);
    unlink(p);

    snprintf(p, sizeof p, "%s/nul.ini", dir);
    f = fopen(p, "w");
    fwrite("[experiment]\nout = a\0b\n", 1, 23, f);
    fclose(f);
    c = load(p);
    snprintf(want, sizeof want, "%s:2: NUL byte in the file; not a text config", p);
    assert_int_equal(cfg_error_count(c), 1);
    assert_string_equal(cfg_error(c, 0), want);
    cfg_free(c);
    unlink(p);

    snprintf(p, sizeof p, "%s/empty.ini", dir);
    f = fopen(p, "w");
    fclose(f);
    c = load(p);
    snprintf(want, sizeof want, "%s: missing required key 'out' in [experiment]", p);
    assert_int_equal(cfg_error_count(c), 1);
    assert_string_equal(cfg_error(c, 0), want);
    cfg_free(c);
    unlink(p);

    c = load(dir);
    snprintf(want, sizeof want, "%s: is a directory", dir);
    assert_string_equal(cfg_error(c, 0), want);
    cfg_free(c);

    c = load("/nonexistent/pesim.ini");
    assert_string_equal(cfg_error(c, 0), "/nonexistent/pesim.ini: No such file or directory");
    cfg_free(c);
    rmdir(dir);
}

/* Several problems in one file are all reported, in line order. */
static void test_all_problems_reported(void **state)
{
    (void)state;
    char p[] = "/tmp/pesim-cfg-XXXXXX";
    int fd = mkstemp(p);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "[experiment]\nout = r.db\nseed = -1\n[accelerator]\ncores = 0\npe_cols = x\n");
    fclose(f);
    cfg *c = load(p);
    assert_int_equal(cfg_error_count(c), 3);
    assert_non_null(strstr(cfg_error(c, 0), ":3: [experiment] seed: -1 is out of range"));
    assert_non_null(strstr(cfg_error(c, 1), ":5: [accelerator] cores: 0 is out of range"));
    assert_non_null(strstr(cfg_error(c, 2), ":6: [accelerator] pe_cols: 'x' is not an integer"));
    cfg_free(c);
    unlink(p);
}

/* The table itself: unique keys, defaults valid, every section listed. */
static void test_schema_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < cfg_schema_len; i++) {
        const cfg_key *k = &cfg_schema[i];
        assert_ptr_equal(cfg_find(k->section, k->key), k);
        assert_non_null(k->doc);
        assert_true(strlen(k->doc) > 10);
        bool listed = false;
        for (int s = 0; cfg_sections[s]; s++) listed |= strcmp(cfg_sections[s], k->section) == 0;
        assert_true(listed);
    }
    /* Defaults pass validation: a config setting only the required key is valid. */
    cfg *c = cfg_new();
    assert_int_equal(cfg_override(c, "experiment.out=x.db"), 0);
    assert_int_equal(cfg_finish(c), 0);
    assert_int_equal(cfg_error_count(c), 0);
    assert_null(cfg_find("exit", "nope"));
    cfg_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_configs),
        cmocka_unit_test(test_shipped_configs),
        cmocka_unit_test(test_composed),
        cmocka_unit_test(test_canonical_and_overrides),
        cmocka_unit_test(test_generated_bad_files),
        cmocka_unit_test(test_all_problems_reported),
        cmocka_unit_test(test_schema_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
