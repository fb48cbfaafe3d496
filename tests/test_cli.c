/* End-to-end tests of the pesim binary: help, version, exit codes (0 ok, 1 bad input,
 * 2 usage), `check` on good and broken configs, `db info`, and `infer` on a random tiny model
 * with a fixture dataset. The binary comes from the PESIM_BIN environment variable that CTest
 * sets. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "data.h"
#include "model.h"
#include "net.h"

#define SRC        PESIM_SOURCE_DIR
#define OUTPUT_MAX (256 * 1024)

typedef struct result {
    int status; /* exit code, or 128 + signal */
    char out[OUTPUT_MAX], err[OUTPUT_MAX];
} result;

/* Read a whole pipe into buf (NUL-terminated, truncated at len - 1). */
static void drain(int fd, char *buf, size_t len)
{
    size_t n = 0;
    ssize_t got;
    char sink[4096];
    while ((got = read(fd, n + 1 < len ? buf + n : sink, n + 1 < len ? len - 1 - n : sizeof sink)) >
           0)
        if (n + 1 < len) n += (size_t)got;
    buf[n] = '\0';
    close(fd);
}

/* Run pesim with args (NULL-terminated); capture stdout and stderr into r. */
static void run(result *r, const char *const *args)
{
    const char *bin = getenv("PESIM_BIN");
    assert_non_null(bin);
    char *argv[64];
    int argc = 0;
    argv[argc++] = (char *)bin;
    for (; args[argc - 1] && argc < 63; argc++) argv[argc] = (char *)args[argc - 1];
    argv[argc] = NULL;
    /* stderr goes to a file so that two pipes can never deadlock. */
    char errpath[] = "/tmp/pesim-cli-err-XXXXXX";
    int errfd = mkstemp(errpath);
    assert_true(errfd >= 0);
    int outp[2];
    assert_int_equal(pipe(outp), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(outp[1], 1);
        dup2(errfd, 2);
        close(outp[0]);
        execv(bin, argv);
        _exit(127);
    }
    close(outp[1]);
    drain(outp[0], r->out, sizeof r->out);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    lseek(errfd, 0, SEEK_SET);
    drain(errfd, r->err, sizeof r->err);
    unlink(errpath);
}

static result R;

static void test_help_and_version(void **state)
{
    (void)state;
    run(&R, (const char *[]){"--help", NULL});
    assert_int_equal(R.status, 0);
    assert_non_null(strstr(R.out, "usage: pesim"));
    assert_non_null(strstr(R.out, "check"));
    assert_non_null(strstr(R.out, "Exit status: 0 ok, 1 bad input or config, 2 usage error"));
    run(&R, (const char *[]){"--version", NULL});
    assert_int_equal(R.status, 0);
    assert_true(strncmp(R.out, "pesim ", 6) == 0);
    run(&R, (const char *[]){"help", "check", NULL});
    assert_int_equal(R.status, 0);
    assert_non_null(strstr(R.out, "usage: pesim check"));
    run(&R, (const char *[]){"check", "--help", NULL});
    assert_int_equal(R.status, 0);
    assert_non_null(strstr(R.out, "usage: pesim check"));
    run(&R, (const char *[]){"help", "config", NULL});
    assert_int_equal(R.status, 0);
    assert_non_null(strstr(R.out, "dram_bytes_per_ns"));
    assert_non_null(strstr(R.out, "B/ns"));
}

static void test_usage_errors(void **state)
{
    (void)state;
    run(&R, (const char *[]){NULL});
    assert_int_equal(R.status, 2);
    run(&R, (const char *[]){"frobnicate", NULL});
    assert_int_equal(R.status, 2);
    assert_string_equal(R.err, "pesim: unknown subcommand 'frobnicate' (see pesim --help)\n");
    run(&R, (const char *[]){"check", NULL});
    assert_int_equal(R.status, 2);
    run(&R, (const char *[]){"check", "--bogus", "x.ini", NULL});
    assert_int_equal(R.status, 2);
    run(&R, (const char *[]){"help", "frobnicate", NULL});
    assert_int_equal(R.status, 2);
    run(&R, (const char *[]){"db", NULL});
    assert_int_equal(R.status, 2);
    run(&R, (const char *[]){"bench", "--seconds", "-1", NULL});
    assert_int_equal(R.status, 2);
}

static void test_check(void **state)
{
    (void)state;
    /* the default experiment's trace is recorded by quickstart.sh, relative to the repository
     * root: leave it out here */
    run(&R, (const char *[]){"check", "-s", "experiment.trace=", SRC "/configs/default.ini", NULL});
    assert_int_equal(R.status, 0);
    assert_non_null(strstr(R.out, "[accelerator]"));
    assert_non_null(strstr(R.out, "; config sha256 "));
    char first_hash[80];
    snprintf(first_hash, sizeof first_hash, "%s", strstr(R.out, "; config sha256 "));

    /* An override changes the value, its origin and the hash. */
    run(&R, (const char *[]){"check", "-s", "experiment.trace=", "-s", "exit.beta=0.5",
                             SRC "/configs/default.ini", NULL});
    assert_int_equal(R.status, 0);
    assert_non_null(strstr(R.out, "beta = 0.5"));
    assert_null(strstr(R.out, first_hash));

    /* A broken config: exit 1 and exactly its FILE:LINE: message. */
    const char *bad = SRC "/tests/configs/bad/unknown_key.ini";
    run(&R, (const char *[]){"check", bad, NULL});
    assert_int_equal(R.status, 1);
    char want[1024];
    snprintf(want, sizeof want,
             "%s:5: unknown key 'pe_row' in [accelerator] (did you mean 'pe_rows'?)\n", bad);
    assert_string_equal(R.err, want);
    assert_string_equal(R.out, "");

    run(&R, (const char *[]){"check", "-s", "exit.beta=abc", SRC "/configs/default.ini", NULL});
    assert_int_equal(R.status, 1);
    assert_string_equal(R.err,
                        "-s exit.beta=abc: [exit] beta: 'abc' is not a finite real number\n");

    run(&R, (const char *[]){"check", "-q", "-s", "experiment.trace=", SRC "/configs/default.ini",
                             NULL});
    assert_int_equal(R.status, 0);
    assert_string_equal(R.out, "");
}

static void test_db_info_errors(void **state)
{
    (void)state;
    run(&R, (const char *[]){"db", "info", "/nonexistent/pesim.db", NULL});
    assert_int_equal(R.status, 1);
    assert_non_null(strstr(R.err, "/nonexistent/pesim.db"));
    /* A text file is not a result database. */
    run(&R, (const char *[]){"db", "info", SRC "/configs/default.ini", NULL});
    assert_int_equal(R.status, 1);
    assert_non_null(strstr(R.err, "not a pesim result database"));
}

static void test_data(void **state)
{
    (void)state;
    run(&R, (const char *[]){"data", "info", "fashoin-mnist", NULL});
    assert_int_equal(R.status, 1);
    assert_string_equal(R.err,
                        "pesim data: unknown dataset 'fashoin-mnist' (fashion-mnist or mnist)\n");
    run(&R, (const char *[]){"data", "info", "mnist", "--dir", "/nonexistent/mnist", NULL});
    assert_int_equal(R.status, 1);
    assert_non_null(strstr(R.err, "/nonexistent/mnist"));
    run(&R, (const char *[]){"data", "import-mnist", "/nonexistent/pkg", "/tmp/x", NULL});
    assert_int_equal(R.status, 1);
    assert_non_null(strstr(R.err, "/nonexistent/pkg"));
    run(&R, (const char *[]){"data", "frob", NULL});
    assert_int_equal(R.status, 2);
    if (access("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz", R_OK) != 0) {
        skip();
    }
    run(&R, (const char *[]){"data", "info", "fashion-mnist", "--split", "test", NULL});
    assert_int_equal(R.status, 0);
    assert_non_null(strstr(R.out, "images    10000, 32x32x1 (HxWxC, zero-padded), 10 classes"));
    assert_non_null(strstr(R.out, "    9     1000\n"));
}

static void test_net_info(void **state)
{
    (void)state;
    run(&R, (const char *[]){"net", "info", SRC "/configs/nets/vgg19-cifar.ini", NULL});
    assert_int_equal(R.status, 0);
    assert_non_null(strstr(R.out, "backbone:   398136320 MACs (398.136 M MACs)"));
    assert_non_null(strstr(R.out, "20 exits"));
    run(&R, (const char *[]){"net", "info", SRC "/configs/nets/resnet34-cifar.ini", NULL});
    assert_int_equal(R.status, 0);
    assert_non_null(strstr(R.out, "backbone:   1159402496 MACs (1159.402 M MACs)"));
    assert_non_null(strstr(R.out, "32 exits"));
    run(&R,
        (const char *[]){"net", "info", "--proxy", SRC "/configs/nets/vgg19-w4-32x32x1.ini", NULL});
    assert_int_equal(R.status, 0);
    run(&R, (const char *[]){"net", "info", "-s", "network.width=0",
                             SRC "/configs/nets/vgg19-cifar.ini", NULL});
    assert_int_equal(R.status, 1);
    assert_string_equal(R.err, "-s network.width=0: [network] width: 0 is out of range (0, 16]\n");
    run(&R, (const char *[]){"net", "info", "-s", "network.input=30x30x1",
                             SRC "/configs/nets/vgg19-cifar.ini", NULL});
    assert_int_equal(R.status, 1);
    assert_non_null(strstr(R.err, "vgg19-cifar.ini: [network] "));
    assert_non_null(strstr(R.err, "multiple of 32"));
    run(&R, (const char *[]){"net", "info", NULL});
    assert_int_equal(R.status, 2);
}

static void test_model_info_errors(void **state)
{
    (void)state;
    run(&R, (const char *[]){"model", "info", "/nonexistent/m.db", NULL});
    assert_int_equal(R.status, 1);
    assert_non_null(strstr(R.err, "/nonexistent/m.db"));
    run(&R, (const char *[]){"model", "info", SRC "/configs/default.ini", NULL});
    assert_int_equal(R.status, 1);
    assert_non_null(strstr(R.err, "not a pesim model file"));
    run(&R, (const char *[]){"model", NULL});
    assert_int_equal(R.status, 2);
}

/* ---- pesim infer ---- */

enum {
    FIX_SAMPLES = 50, /* fixture images: not a multiple of the batches used below */
    FIX_SIDE = 28,    /* MNIST-sized, zero-padded to the model's 32 */
    FIX_CLASSES = 10,
    FIX_EXITS = 20, /* vgg19 exits; the final classifier makes 21 rows */
    FIX_ROWS = FIX_EXITS + 1,
};
#define FIX_WIDTH 0.0625 /* vgg19 at width 1/16: 4 .. 32 channels, quick to run */
#define FIX_T0    0.06   /* exit 0's threshold: within its random logits' range */
#define FIX_NEVER 1e3    /* a threshold no random logit reaches */
enum { FIX_ALWAYS = 5 }; /* the exit whose threshold is 0 */
#define FIX_SEED 1234u

typedef struct infer_fixture {
    char dir[64];
    char model[128], images[128], labels[128];
} infer_fixture;

static infer_fixture FIX;

/* A random vgg19 model file and an MNIST-like test split of FIX_SAMPLES images in a temp dir. */
static int infer_setup(void **state)
{
    (void)state;
    char err[512];
    snprintf(FIX.dir, sizeof FIX.dir, "/tmp/pesim-cli-infer-XXXXXX");
    if (!mkdtemp(FIX.dir)) return -1;
    snprintf(FIX.model, sizeof FIX.model, "%s/tiny.model", FIX.dir);
    snprintf(FIX.images, sizeof FIX.images, "%s/%s", FIX.dir, DATA_TEST_IMAGES);
    snprintf(FIX.labels, sizeof FIX.labels, "%s/%s", FIX.dir, DATA_TEST_LABELS);
    net *n = NULL;
    float **params = NULL;
    if (net_build(&n, "vgg19", FIX_WIDTH, 32, 32, 1, FIX_CLASSES, err, sizeof err)) return -1;
    if (net_exit_count(n) != FIX_EXITS ||
        model_init_random(n, FIX_SEED, &params, err, sizeof err)) {
        net_free(n);
        return -1;
    }
    /* exit 0 fires on some samples (random logits are small), pool2 (exit 5) on every sample,
     * the others on none: the first-firing shares split between exits 0 and 5 */
    double t[FIX_EXITS];
    for (int l = 0; l < FIX_EXITS; l++) t[l] = FIX_NEVER;
    t[0] = FIX_T0;
    t[FIX_ALWAYS] = 0.0;
    int rc = model_save(FIX.model, n, (const float *const *)params, t, NULL, NULL, NULL, 0, err,
                        sizeof err);
    model_free_params(params, net_tensor_count(n));
    net_free(n);
    if (rc) return -1;
    uint8_t px[FIX_SAMPLES * FIX_SIDE * FIX_SIDE], y[FIX_SAMPLES];
    uint32_t r = FIX_SEED;
    for (size_t i = 0; i < sizeof px; i++) {
        r = r * 1664525u + 1013904223u; /* Numerical Recipes LCG */
        /* brightness grows with the sample index so that logits differ between samples */
        px[i] =
            (uint8_t)((r >> 24) * (i / (FIX_SIDE * FIX_SIDE) % FIX_CLASSES) / (FIX_CLASSES - 1));
    }
    for (int i = 0; i < FIX_SAMPLES; i++) y[i] = (uint8_t)(i % FIX_CLASSES);
    if (data_write_idx_images(FIX.images, px, FIX_SAMPLES, FIX_SIDE, FIX_SIDE, true, err,
                              sizeof err) ||
        data_write_idx_labels(FIX.labels, y, FIX_SAMPLES, true, err, sizeof err))
        return -1;
    return 0;
}

static int infer_teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", FIX.dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Number of newlines in s. */
static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

static void test_infer_usage(void **state)
{
    (void)state;
    run(&R, (const char *[]){"infer", "--help", NULL});
    assert_int_equal(R.status, 0);
    assert_non_null(strstr(R.out, "usage: pesim infer MODEL --data"));
    run(&R, (const char *[]){"help", "infer", NULL});
    assert_int_equal(R.status, 0);
    assert_non_null(strstr(R.out, "usage: pesim infer MODEL --data"));

    /* every usage error: exit 2 and one line on stderr, nothing on stdout */
    static const char *const bad[][8] = {
        {"infer", NULL},
        {"infer", "m.db", NULL},
        {"infer", "m.db", "--data", "cifar10", NULL},
        {"infer", "m.db", "--data", "mnist", "--batch", "0", NULL},
        {"infer", "m.db", "--data", "mnist", "--batch", "1025", NULL},
        {"infer", "m.db", "--data", "mnist", "--limit", "ten", NULL},
        {"infer", "m.db", "--data", "mnist", "--split", "val", NULL},
        {"infer", "m.db", "--data", "mnist", "--bogus", NULL},
        {"infer", "m.db", "--data", "mnist", "--batch", NULL},
        {"infer", "m.db", "other.db", "--data", "mnist", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        run(&R, bad[i]);
        assert_int_equal(R.status, 2);
        assert_int_equal(count_lines(R.err), 1);
        assert_true(strncmp(R.err, "pesim infer: ", 13) == 0);
        assert_string_equal(R.out, "");
    }
    run(&R, (const char *[]){"infer", "m.db", "--data", "mnist", "--batch", "0", NULL});
    assert_string_equal(R.err, "pesim infer: --batch '0': expected an integer in 1 .. 1024\n");
}

static void test_infer_bad_input(void **state)
{
    (void)state;
    run(&R, (const char *[]){"infer", "/nonexistent/m.db", "--data", "mnist", NULL});
    assert_int_equal(R.status, 1);
    assert_int_equal(count_lines(R.err), 1);
    assert_non_null(strstr(R.err, "/nonexistent/m.db"));
    run(&R, (const char *[]){"infer", SRC "/configs/default.ini", "--data", "mnist", NULL});
    assert_int_equal(R.status, 1);
    assert_non_null(strstr(R.err, "not a pesim model file"));
    run(&R, (const char *[]){"infer", FIX.model, "--data", "mnist", "--data-dir",
                             "/nonexistent/mnist", NULL});
    assert_int_equal(R.status, 1);
    assert_int_equal(count_lines(R.err), 1);
    assert_non_null(strstr(R.err, "/nonexistent/mnist"));
    /* the fixture directory has no train split */
    run(&R, (const char *[]){"infer", FIX.model, "--data", "mnist", "--data-dir", FIX.dir,
                             "--split", "train", NULL});
    assert_int_equal(R.status, 1);
    assert_non_null(strstr(R.err, DATA_TRAIN_IMAGES));
}

/* One parsed row of the infer table. */
typedef struct infer_row {
    int exit;
    char name[48];
    double macs, acc, pmax, fires, first;
} infer_row;

/* Parses the table rows of out into rows (at most max); returns how many there were. */
static int parse_infer_rows(const char *out, infer_row *rows, int max)
{
    int n = 0;
    for (const char *line = out; line && *line;
         line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        infer_row r;
        if (sscanf(line, "%d %47s %lf %lf %lf %lf %lf", &r.exit, r.name, &r.macs, &r.acc, &r.pmax,
                   &r.fires, &r.first) != 7)
            continue;
        if (n < max) rows[n] = r;
        n++;
    }
    return n;
}

static void test_infer_run(void **state)
{
    (void)state;
    run(&R, (const char *[]){"infer", FIX.model, "--data", "mnist", "--data-dir", FIX.dir,
                             "--batch", "8", NULL});
    assert_int_equal(R.status, 0);
    assert_string_equal(R.err, ""); /* stderr is not a terminal: no progress */
    assert_non_null(strstr(R.out, "arch=vgg19 width=0.0625 input=32x32x1 classes=10"));
    assert_non_null(strstr(R.out, "dataset mnist (test split), 50 samples, batch 8"));
    assert_non_null(strstr(R.out, "images/s"));
    infer_row rows[FIX_ROWS + 4];
    assert_int_equal(parse_infer_rows(R.out, rows, FIX_ROWS + 4), FIX_ROWS);
    double first_sum = 0.0, prev_macs = 0.0;
    for (int l = 0; l < FIX_ROWS; l++) {
        assert_int_equal(rows[l].exit, l);
        assert_true(rows[l].acc >= 0.0 && rows[l].acc <= 100.0);
        assert_true(rows[l].pmax >= 1.0 / FIX_CLASSES - 1e-4 && rows[l].pmax <= 1.0);
        assert_true(rows[l].fires >= 0.0 && rows[l].fires <= 100.0);
        assert_true(rows[l].first >= 0.0 && rows[l].first <= rows[l].fires);
        assert_true(rows[l].macs >= prev_macs && rows[l].macs <= 100.0);
        prev_macs = rows[l].macs;
        first_sum += rows[l].first;
    }
    assert_string_equal(rows[0].name, "conv1");
    assert_string_equal(rows[FIX_EXITS].name, "final");
    assert_true(rows[FIX_EXITS].fires == 100.0 && rows[FIX_EXITS].macs == 100.0);
    /* each sample has exactly one first-firing exit; 21 values rounded to 0.01 */
    assert_true(fabs(first_sum - 100.0) <= FIX_ROWS * 0.005 + 1e-9);
    assert_true(rows[FIX_ALWAYS].fires == 100.0);
    assert_true(fabs(rows[0].first + rows[FIX_ALWAYS].first - 100.0) < 0.011);
    assert_true(rows[FIX_EXITS].first == 0.0);

    /* a rerun gives the same table; --limit takes the first samples */
    char table[OUTPUT_MAX];
    snprintf(table, sizeof table, "%s", R.out);
    *strstr(table, "throughput") = '\0';
    run(&R, (const char *[]){"infer", FIX.model, "--data", "mnist", "--data-dir", FIX.dir,
                             "--batch", "8", NULL});
    assert_int_equal(R.status, 0);
    assert_true(strncmp(R.out, table, strlen(table)) == 0);
    run(&R, (const char *[]){"infer", FIX.model, "--data", "mnist", "--data-dir", FIX.dir,
                             "--limit", "20", "--batch", "3", NULL});
    assert_int_equal(R.status, 0);
    assert_non_null(strstr(R.out, "20 samples, batch 3"));
    assert_int_equal(parse_infer_rows(R.out, rows, FIX_ROWS + 4), FIX_ROWS);
}

/* infer --trace-out, trace info/export/import, run from the trace and from the model, and the
 * usage and input errors of run, trace and train. */
static void test_trace_run_train(void **state)
{
    (void)state;
    char trace[160], csv[160], trace2[160], ini[160], db[160];
    snprintf(trace, sizeof trace, "%s/t.trace", FIX.dir);
    snprintf(csv, sizeof csv, "%s/t.csv", FIX.dir);
    snprintf(trace2, sizeof trace2, "%s/t2.trace", FIX.dir);
    snprintf(ini, sizeof ini, "%s/run.ini", FIX.dir);
    snprintf(db, sizeof db, "%s/r.db", FIX.dir);
    run(&R, (const char *[]){"infer", FIX.model, "--data", "mnist", "--data-dir", FIX.dir,
                             "--trace-out", trace, NULL});
    assert_int_equal(R.status, 0);
    assert_non_null(strstr(R.err, "recorded 50 samples"));
    run(&R, (const char *[]){"infer", FIX.model, "--data", "mnist", "--data-dir", FIX.dir,
                             "--trace-out", trace, NULL});
    assert_int_equal(R.status, 1);
    assert_non_null(strstr(R.err, "exists"));
    run(&R, (const char *[]){"trace", "info", trace, NULL});
    assert_int_equal(R.status, 0);
    assert_non_null(strstr(R.out, "samples: 50"));
    run(&R, (const char *[]){"trace", "export", trace, "--out", csv, NULL});
    assert_int_equal(R.status, 0);
    run(&R, (const char *[]){"trace", "import", csv, "--classes", "10", "--out", trace2, NULL});
    assert_int_equal(R.status, 0);
    run(&R, (const char *[]){"trace", "info", "/nonexistent.trace", NULL});
    assert_int_equal(R.status, 1);

    FILE *f = fopen(ini, "w");
    assert_non_null(f);
    fprintf(f, "[experiment]\ntrace = %s\nout = %s\n[exit]\npolicy = passive\n", trace, db);
    fclose(f);
    run(&R, (const char *[]){"run", "-q", ini, NULL});
    assert_int_equal(R.status, 0);
    run(&R, (const char *[]){"run", ini, NULL});
    assert_int_equal(R.status, 0);
    assert_non_null(strstr(R.out, "already done"));
    run(&R, (const char *[]){"run", "-s", "exit.policy=predictive", "-s", "exit.l0=1", ini, NULL});
    assert_int_equal(R.status, 0);
    if (!strstr(R.out, "prediction hit rate")) fail_msg("out: %s err: %s", R.out, R.err);
    run(&R, (const char *[]){"run", "-s", "experiment.trace=", ini, NULL});
    assert_int_equal(R.status, 1);
    assert_non_null(strstr(R.err, "needs a model or a trace"));
    run(&R, (const char *[]){"run", NULL});
    assert_int_equal(R.status, 2);
    run(&R, (const char *[]){"run", "-s", "exit.rule=softmax", "-s", "exit.policy=predictive", ini,
                             NULL});
    assert_int_equal(R.status, 1);
    assert_non_null(strstr(R.err, "needs rule = activation"));

    run(&R, (const char *[]){"train", SRC "/configs/nets/vgg19-w4-32x32x1.ini", "--out", db, NULL});
    assert_int_equal(R.status, 2);
    run(&R, (const char *[]){"train", SRC "/configs/nets/vgg19-w4-32x32x1.ini", "--data", "cifar",
                             "--out", db, NULL});
    assert_int_equal(R.status, 2);
    run(&R, (const char *[]){"train", SRC "/configs/nets/vgg19-w4-32x32x1.ini", "--data", "mnist",
                             "--out", db, NULL});
    assert_int_equal(R.status, 1);
    assert_non_null(strstr(R.err, "exists"));
    run(&R, (const char *[]){"train", "--epochs", "x", "a.ini", NULL});
    assert_int_equal(R.status, 2);
}

/* pesim table: the simulated table, its CSV read back as a measured table, a power fit. */
static void test_table(void **state)
{
    (void)state;
    const char *cfgfile = SRC "/configs/nets/vgg19-w4-32x32x1.ini";
    char csv[] = "/tmp/pesim-cli-costs-XXXXXX", pw[] = "/tmp/pesim-cli-power-XXXXXX";
    int fd = mkstemp(csv);
    assert_true(fd >= 0);
    run(&R, (const char *[]){"table", "--csv", cfgfile, NULL});
    assert_int_equal(R.status, 0);
    assert_int_equal(write(fd, R.out, strlen(R.out)), (ssize_t)strlen(R.out));
    close(fd);
    char *simulated = strdup(R.out);
    char set[128];
    snprintf(set, sizeof set, "accelerator.cost_table=%s", csv);
    run(&R, (const char *[]){"table", "--csv", "-s", set, cfgfile, NULL});
    assert_int_equal(R.status, 0);
    assert_string_equal(R.out, simulated); /* the CSV reads back to the same table */
    free(simulated);
    fd = mkstemp(pw);
    assert_true(fd >= 0);
    const char *points = "freq_mhz,vdd_v,power_mw\n200,0.6,60\n400,0.7,150\n600,0.8,290\n"
                         "800,0.9,480\n1000,1.0,740\n";
    assert_int_equal(write(fd, points, strlen(points)), (ssize_t)strlen(points));
    close(fd);
    snprintf(set, sizeof set, "power.measured_table=%s", pw);
    run(&R, (const char *[]){"table", "-s", set, cfgfile, NULL});
    assert_int_equal(R.status, 0);
    assert_non_null(strstr(R.err, "power fit of"));
    assert_non_null(strstr(R.err, "RMS residual"));
    run(&R, (const char *[]){"table", "-s", "accelerator.cores=0", cfgfile, NULL});
    assert_int_equal(R.status, 1);
    unlink(csv);
    unlink(pw);
}

/* pesim bench trace: three log levels, each a positive rate. */
static void test_bench_trace(void **state)
{
    (void)state;
    char dir[] = "/tmp/pesim-cli-bench-XXXXXX";
    assert_non_null(mkdtemp(dir));
    run(&R, (const char *[]){"bench", "--dir", dir, "trace", NULL});
    assert_int_equal(R.status, 0);
    const char *levels[] = {"inferences", "evals", "all"};
    for (size_t i = 0; i < 3; i++) {
        char key[32];
        snprintf(key, sizeof key, "\n  %s ", levels[i]);
        const char *row = strstr(R.out, key);
        assert_non_null(row);
        assert_true(strtod(row + strlen(key), NULL) > 0);
    }
    assert_int_equal(rmdir(dir), 0); /* the benchmark cleaned up after itself */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help_and_version),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_db_info_errors),
        cmocka_unit_test(test_data),
        cmocka_unit_test(test_net_info),
        cmocka_unit_test(test_model_info_errors),
        cmocka_unit_test(test_infer_usage),
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_bench_trace),
        cmocka_unit_test_setup_teardown(test_infer_bad_input, infer_setup, infer_teardown),
        cmocka_unit_test_setup_teardown(test_infer_run, infer_setup, infer_teardown),
        cmocka_unit_test_setup_teardown(test_trace_run_train, infer_setup, infer_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
