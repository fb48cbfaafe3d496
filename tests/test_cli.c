/* End-to-end tests of the pesim binary: help, version, exit codes (0 ok, 1 bad input,
 * 2 usage), `check` on good and broken configs, and `db info`. The binary comes from the
 * PESIM_BIN environment variable that CTest sets. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

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
    run(&R, (const char *[]){"check", SRC "/configs/default.ini", NULL});
    assert_int_equal(R.status, 0);
    assert_non_null(strstr(R.out, "[accelerator]"));
    assert_non_null(strstr(R.out, "; config sha256 "));
    char first_hash[80];
    snprintf(first_hash, sizeof first_hash, "%s", strstr(R.out, "; config sha256 "));

    /* An override changes the value, its origin and the hash. */
    run(&R, (const char *[]){"check", "-s", "exit.beta=0.5", SRC "/configs/default.ini", NULL});
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

    run(&R, (const char *[]){"check", "-q", SRC "/configs/default.ini", NULL});
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
