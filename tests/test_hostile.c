/* Hostile inputs through the real pesim binary: one table row per case (argv, files to create,
 * expected exit status and stderr substring). Every case must exit in time with exactly one
 * stderr line naming the offending file or key, and leave no half-written output behind. The
 * binary comes from the PESIM_BIN environment variable that CTest sets. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "data.h"
#include "model.h"
#include "net.h"

#define SRC        PESIM_SOURCE_DIR
#define OUTPUT_MAX (64 * 1024)
#define PATH_MAX_  512
#define DIR_MAX    128
enum {
    DEADLINE_S = 20,   /* a case that runs longer hangs */
    POLL_NS = 2000000, /* waitpid polling interval */
    MAX_ARGS = 16,
    MAX_FILES = 3,
    RANDOM_BYTES = 4096, /* size of the random-garbage files */
    TRACE_EXITS = 20,    /* vgg19's exits; the final classifier makes one more row */
    IDX_SAMPLES = 8,
    IDX_SIDE = 28,
};
#define NET_WIDTH    0.0625 /* vgg19 at width 1/16: small tensors, quick to save */
#define SEED         4321u
#define NOBODY       65534 /* uid and gid a root test run drops to */
#define FIXTURE_ARCH "arch=vgg19 width=0.0625 input=32x32x1 classes=10"

/* How a case's input file is made; "@D" in text and argv stands for the case's temp dir. */
typedef enum file_kind {
    F_NONE,
    F_TEXT,           /* text as given */
    F_RANDOM,         /* RANDOM_BYTES of pseudo-random bytes */
    F_MODEL_SHAPE,    /* the valid model with one tensor's shape text changed */
    F_MODEL_BLOB,     /* the valid model with one tensor's BLOB cut short */
    F_MODEL_TRUNC,    /* the first half of the valid model file */
    F_TRACE_TRUNC,    /* the first half of the valid trace file */
    F_DB_V99,         /* SQLite file with user_version = 99 and one table */
    F_DB_RO,          /* valid result database, chmod 0444 in a 0555 directory */
    F_IDX_TRUNC,      /* IDX test split whose images file is cut short (still gzip-framed) */
    F_IDX_GZ_GARBAGE, /* IDX test split whose images file is random bytes */
    F_TRACE_ARCH      /* `pesim trace import` of the CSV text names, claiming vgg19's arch */
} file_kind;

typedef struct case_file {
    file_kind kind;
    const char *name; /* relative to the case dir */
    const char *text;
} case_file;

typedef struct hostile_case {
    const char *name;
    const char *argv[MAX_ARGS]; /* NULL-terminated */
    case_file files[MAX_FILES];
    int status;         /* 1 bad input, 2 usage */
    const char *substr; /* expected in the stderr line */
    const char *names;  /* the file or key the message must name ("@D/..."), or NULL */
    const char *absent; /* output that must not exist afterwards (nor its .tmp), or NULL */
    bool needs_nonroot; /* run as nobody when root: permissions do not bind root */
} hostile_case;

#define RUN_INI(extra)                                                                             \
    "[experiment]\ntrace = @D/ok.trace\nout = @D/r.db\n[network]\nwidth = 0.0625\n[exit]\n"        \
    "policy = passive\n" extra
#define CHECK_INI(extra) "[experiment]\nout = @D/r.db\n" extra
#define OPP_INI(levels)                                                                            \
    {                                                                                              \
        {F_TEXT, "c.ini", RUN_INI("[dvfs]\nopp_table = @D/opp.ini\n")},                            \
        {                                                                                          \
            F_TEXT, "opp.ini", "[table]\nname = hostile\n[levels]\n" levels                        \
        }                                                                                          \
    }
#define NET_INI "[network]\narch = vgg19\nwidth = 0.0625\ninput = 32x32x1\nclasses = 10\n"

/* clang-format off */
static const hostile_case CASES[] = {
{"empty config", {"check", "@D/c.ini", NULL}, {{F_TEXT, "c.ini", ""}},
 1, "missing required key 'out' in [experiment]", "@D/c.ini", NULL, false},
{"binary config", {"check", "@D/c.ini", NULL}, {{F_RANDOM, "c.ini", NULL}},
 1, "NUL byte in the file; not a text config", "@D/c.ini", NULL, false},
{"huge cores", {"check", "@D/c.ini", NULL}, {{F_TEXT, "c.ini", CHECK_INI("[accelerator]\ncores = 1e300\n")}},
 1, "[accelerator] cores: '1e300' is not an integer", "@D/c.ini", NULL, false},
{"huge width", {"check", "@D/c.ini", NULL}, {{F_TEXT, "c.ini", CHECK_INI("[network]\nwidth = 1e400\n")}},
 1, "[network] width: '1e400' is not a finite real number", "@D/c.ini", NULL, false},
{"beta nan", {"check", "@D/c.ini", NULL}, {{F_TEXT, "c.ini", CHECK_INI("[exit]\nbeta = nan\n")}},
 1, "[exit] beta: 'nan' is not a finite real number", "@D/c.ini", NULL, false},
{"beta inf", {"check", "@D/c.ini", NULL}, {{F_TEXT, "c.ini", CHECK_INI("[exit]\nbeta = inf\n")}},
 1, "[exit] beta: 'inf' is not a finite real number", "@D/c.ini", NULL, false},
{"beta zero", {"check", "@D/c.ini", NULL}, {{F_TEXT, "c.ini", CHECK_INI("[exit]\nbeta = 0\n")}},
 1, "[exit] beta: 0 is out of range (0, 1000]", "@D/c.ini", NULL, false},
{"beta negative", {"check", "@D/c.ini", NULL}, {{F_TEXT, "c.ini", CHECK_INI("[exit]\nbeta = -0.5\n")}},
 1, "[exit] beta: -0.5 is out of range (0, 1000]", "@D/c.ini", NULL, false},
{"sram negative", {"check", "@D/c.ini", NULL}, {{F_TEXT, "c.ini", CHECK_INI("[accelerator]\nsram_kib = -1\n")}},
 1, "[accelerator] sram_kib: -1 is out of range", "@D/c.ini", NULL, false},
{"zero cores", {"check", "@D/c.ini", NULL}, {{F_TEXT, "c.ini", CHECK_INI("[accelerator]\ncores = 0\n")}},
 1, "[accelerator] cores: 0 is out of range [1, 4096]", "@D/c.ini", NULL, false},
{"opp voltage falls (unsorted)", {"run", "-q", "@D/c.ini", NULL},
 OPP_INI("800 = 0.8\n200 = 1.0\n"),
 1, "voltage may not fall", "@D/opp.ini", "@D/r.db", false},
{"opp voltage falls", {"run", "-q", "@D/c.ini", NULL},
 OPP_INI("200 = 1.0\n400 = 1.1\n800 = 0.9\n"),
 1, "voltage may not fall", "@D/opp.ini", "@D/r.db", false},
{"opp no levels", {"run", "-q", "@D/c.ini", NULL}, OPP_INI(""),
 1, "no levels", "@D/opp.ini", "@D/r.db", false},
{"l0 beyond last exit", {"run", "-q", "@D/c.ini", NULL},
 {{F_TEXT, "c.ini", RUN_INI("l0 = 4000\n")}},
 1, "@D/c.ini:8: [exit] l0 = 4000 is past the last exit (19)", "@D/c.ini", "@D/r.db", false},
{"trace arch != its logits", {"run", "-q", "-s", "experiment.trace=@D/t.trace", "@D/c.ini", NULL},
 {{F_TEXT, "c.ini", RUN_INI("")}, {F_TEXT, "t.csv", "sample,label,exit,z0,z1\n0,1,0,0.5,1\n0,1,1,1,2\n"},
  {F_TRACE_ARCH, "t.trace", "@D/t.csv"}},
 1, "its architecture has 20 exits and 10 classes, its logits 1 and 2", "@D/t.trace", "@D/r.db", false},
{"csv nan logit", {"trace", "import", "@D/t.csv", "--classes", "2", "--out", "@D/t.trace", NULL},
 {{F_TEXT, "t.csv", "sample,label,exit,z0,z1\n0,1,0,0.5,nan\n0,1,1,1,2\n"}},
 1, "@D/t.csv:2:", "@D/t.csv", "@D/t.trace", false},
{"csv ragged row", {"trace", "import", "@D/t.csv", "--classes", "2", "--out", "@D/t.trace", NULL},
 {{F_TEXT, "t.csv", "sample,label,exit,z0,z1\n0,1,0,0.5,1\n0,1,1,1\n"}},
 1, "@D/t.csv:3:", "@D/t.csv", "@D/t.trace", false},
{"csv wrong class count", {"trace", "import", "@D/t.csv", "--classes", "3", "--out", "@D/t.trace", NULL},
 {{F_TEXT, "t.csv", "sample,label,exit,z0,z1\n0,1,0,0.5,1\n0,1,1,1,2\n"}},
 1, "@D/t.csv", "@D/t.csv", "@D/t.trace", false},
{"trace random bytes", {"trace", "info", "@D/x.trace", NULL}, {{F_RANDOM, "x.trace", NULL}},
 1, "not a pesim trace file (file is not a database)", "@D/x.trace", NULL, false},
{"trace empty", {"trace", "info", "@D/x.trace", NULL}, {{F_TEXT, "x.trace", ""}},
 1, "not a pesim trace file", "@D/x.trace", NULL, false},
{"run on random trace", {"run", "-q", "@D/c.ini", NULL},
 {{F_TEXT, "c.ini", "[experiment]\ntrace = @D/x.trace\nout = @D/r.db\n"}, {F_RANDOM, "x.trace", NULL}},
 1, "not a pesim trace file (file is not a database)", "@D/x.trace", "@D/r.db", false},
{"model tensor shape", {"model", "info", "@D/m.model", NULL}, {{F_MODEL_SHAPE, "m.model", NULL}},
 1, "has shape 1,2,3; the architecture needs", "@D/m.model", NULL, false},
{"model tensor blob", {"model", "info", "@D/m.model", NULL}, {{F_MODEL_BLOB, "m.model", NULL}},
 1, "holds 3 bytes; its shape needs", "@D/m.model", NULL, false},
{"model text file", {"model", "info", "@D/m.model", NULL}, {{F_TEXT, "m.model", "hello, model\n"}},
 1, "not a pesim model file", "@D/m.model", NULL, false},
{"model truncated", {"model", "info", "@D/m.model", NULL}, {{F_MODEL_TRUNC, "m.model", NULL}},
 1, "@D/m.model: truncated: ", "@D/m.model", NULL, false},
{"trace truncated", {"trace", "info", "@D/t.trace", NULL}, {{F_TRACE_TRUNC, "t.trace", NULL}},
 1, "@D/t.trace: truncated: ", "@D/t.trace", NULL, false},
{"infer truncated model", {"infer", "@D/m.model", "--data", "mnist", "--data-dir", "@D", NULL},
 {{F_MODEL_TRUNC, "m.model", NULL}},
 1, "@D/m.model: truncated: ", "@D/m.model", NULL, false},
{"db read-only", {"run", "-q", "-s", "experiment.out=@D/ro/r.db", "@D/c.ini", NULL},
 {{F_TEXT, "c.ini", RUN_INI("")}, {F_DB_RO, "ro/r.db", NULL}},
 1, "result database is read-only", "@D/ro/r.db", NULL, true},
{"db newer schema (info)", {"db", "info", "@D/v.db", NULL}, {{F_DB_V99, "v.db", NULL}},
 1, "result database has schema version 99, this pesim reads up to", "@D/v.db", NULL, false},
{"db newer schema (run)", {"run", "-q", "-s", "experiment.out=@D/v.db", "@D/c.ini", NULL},
 {{F_TEXT, "c.ini", RUN_INI("")}, {F_DB_V99, "v.db", NULL}},
 1, "result database has schema version 99, this pesim reads up to", "@D/v.db", NULL, false},
{"out /dev/full", {"run", "-q", "-s", "experiment.out=/dev/full", "@D/c.ini", NULL},
 {{F_TEXT, "c.ini", RUN_INI("")}},
 1, "database or disk is full", "/dev/full", NULL, false},
{"out in missing dir", {"run", "-q", "-s", "experiment.out=@D/nodir/r.db", "@D/c.ini", NULL},
 {{F_TEXT, "c.ini", RUN_INI("")}},
 1, "unable to open database file", "@D/nodir/r.db", "@D/nodir/r.db", false},
{"out is a directory", {"run", "-q", "-s", "experiment.out=@D", "@D/c.ini", NULL},
 {{F_TEXT, "c.ini", RUN_INI("")}},
 1, "unable to open database file", "@D", NULL, false},
{"idx truncated", {"infer", "@D/ok.model", "--data", "mnist", "--data-dir", "@D/idx", NULL},
 {{F_IDX_TRUNC, "idx", NULL}},
 1, "truncated", "@D/idx/" DATA_TEST_IMAGES, NULL, false},
{"idx gzip garbage", {"infer", "@D/ok.model", "--data", "mnist", "--data-dir", "@D/idx", NULL},
 {{F_IDX_GZ_GARBAGE, "idx", NULL}},
 1, "not an IDX image file", "@D/idx/" DATA_TEST_IMAGES, NULL, false},
{"train epochs -1", {"train", "@D/n.ini", "--data", "mnist", "--out", "@D/m2.model", "--epochs", "-1", NULL},
 {{F_TEXT, "n.ini", NET_INI}},
 2, "pesim train: --epochs wants a whole number in 0 .. 10000, not '-1'", "--epochs", "@D/m2.model", false},
{"train batch 0", {"train", "@D/n.ini", "--data", "mnist", "--out", "@D/m2.model", "--batch", "0", NULL},
 {{F_TEXT, "n.ini", NET_INI}},
 2, "pesim train: --batch wants a whole number in 2 .. 4096, not '0'", "--batch", "@D/m2.model", false},
{"train shift 99", {"train", "@D/n.ini", "--data", "mnist", "--out", "@D/m2.model", "--shift", "99", NULL},
 {{F_TEXT, "n.ini", NET_INI}},
 2, "pesim train: --shift wants a whole number in 0 .. 8, not '99'", "--shift", "@D/m2.model", false},
{"sweep step 0", {"sweep", "--dry-run", "@D/c.ini", NULL},
 {{F_TEXT, "c.ini", RUN_INI("[sweep]\nexit.beta = 0.5:0.9:0\n")}},
 1, "[sweep] exit.beta: range 0.5:0.9:0 must have first <= last and step > 0", "@D/c.ini", "@D/r.db", false},
{"arrival times decrease", {"run", "-q", "@D/c.ini", NULL},
 {{F_TEXT, "c.ini", RUN_INI("[workload]\narrival = trace\narrival_trace = @D/arr.txt\n")},
  {F_TEXT, "arr.txt", "0\n10\n5\n20\n"}},
 1, "@D/arr.txt:3: arrival time 5 us is before the previous one (10 us)", "@D/arr.txt", "@D/r.db", false},
};
/* clang-format on */

static char TOP[64]; /* shared fixtures: valid model and trace */
static char MODEL[PATH_MAX_], TRACE[PATH_MAX_];

/* s with every "@D" replaced by dir. */
static void subst(char *out, size_t len, const char *s, const char *dir)
{
    size_t n = 0;
    for (; *s && n + 1 < len; s++) {
        if (s[0] == '@' && s[1] == 'D') {
            n += (size_t)snprintf(out + n, len - n, "%s", dir);
            if (n >= len) n = len - 1;
            s++;
        } else {
            out[n++] = *s;
        }
    }
    out[n] = '\0';
}

static void write_bytes(const char *path, const void *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void write_random(const char *path, uint32_t seed)
{
    uint8_t buf[RANDOM_BYTES];
    for (size_t i = 0; i < sizeof buf; i++) {
        seed = seed * 1664525u + 1013904223u; /* Numerical Recipes LCG */
        buf[i] = (uint8_t)(seed >> 24);
    }
    write_bytes(path, buf, sizeof buf);
}

static void copy_file(const char *from, const char *to, double fraction)
{
    FILE *f = fopen(from, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)len);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    write_bytes(to, buf, (size_t)((double)len * fraction));
    free(buf);
}

static void sql_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) fail_msg("%s: %s", path, msg);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

/* An IDX test split in dir whose images file is made by kind; labels are valid. */
static void write_idx(const char *dir, file_kind kind)
{
    char err[256], images[PATH_MAX_ + 32], labels[PATH_MAX_ + 32];
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(images, sizeof images, "%s/%s", dir, DATA_TEST_IMAGES);
    snprintf(labels, sizeof labels, "%s/%s", dir, DATA_TEST_LABELS);
    uint8_t px[IDX_SAMPLES * IDX_SIDE * IDX_SIDE] = {0}, y[IDX_SAMPLES] = {0};
    assert_int_equal(data_write_idx_labels(labels, y, IDX_SAMPLES, true, err, sizeof err), 0);
    if (kind == F_IDX_GZ_GARBAGE) {
        write_random(images, SEED);
        return;
    }
    char full[PATH_MAX_ + 40];
    snprintf(full, sizeof full, "%s.full", images);
    assert_int_equal(
        data_write_idx_images(full, px, IDX_SAMPLES, IDX_SIDE, IDX_SIDE, true, err, sizeof err), 0);
    copy_file(full, images, 0.5);
    unlink(full);
}

static void make_file(const char *dir, const case_file *cf)
{
    char path[PATH_MAX_], text[4096];
    snprintf(path, sizeof path, "%s/%s", dir, cf->name);
    switch (cf->kind) {
    case F_NONE:
        return;
    case F_TEXT:
        subst(text, sizeof text, cf->text, dir);
        write_bytes(path, text, strlen(text));
        return;
    case F_RANDOM:
        write_random(path, SEED);
        return;
    case F_MODEL_SHAPE:
        copy_file(MODEL, path, 1.0);
        sql_exec(path, "UPDATE tensors SET shape = '1,2,3' WHERE name = "
                       "(SELECT min(name) FROM tensors)");
        return;
    case F_MODEL_BLOB:
        copy_file(MODEL, path, 1.0);
        sql_exec(path, "UPDATE tensors SET data = x'010203' WHERE name = "
                       "(SELECT min(name) FROM tensors)");
        return;
    case F_MODEL_TRUNC:
        copy_file(MODEL, path, 0.5);
        return;
    case F_TRACE_TRUNC:
        copy_file(TRACE, path, 0.5);
        return;
    case F_DB_V99:
        sql_exec(path, "CREATE TABLE runs(id INTEGER PRIMARY KEY); PRAGMA user_version = 99;");
        return;
    case F_DB_RO: {
        char sub[PATH_MAX_];
        snprintf(sub, sizeof sub, "%s/ro", dir);
        assert_int_equal(mkdir(sub, 0755), 0);
        char cmd[PATH_MAX_ * 5];
        /* a real result database: pesim db info refuses it unless its schema is pesim's, so
         * let a valid run create it, then take away write permission */
        snprintf(cmd, sizeof cmd, "%s run -q -s experiment.out=%s %s/c.ini >/dev/null 2>&1",
                 getenv("PESIM_BIN"), path, dir);
        assert_int_equal(system(cmd), 0);
        snprintf(cmd, sizeof cmd, "rm -f %s-wal %s-shm; chmod 0444 %s; chmod 0555 %s", path, path,
                 path, sub);
        assert_int_equal(system(cmd), 0);
        return;
    }
    case F_TRACE_ARCH: {
        char csv[PATH_MAX_], cmd[PATH_MAX_ * 5];
        subst(csv, sizeof csv, cf->text, dir);
        snprintf(cmd, sizeof cmd,
                 "%s trace import %s --classes 2 --out %s --meta 'arch=%s' >/dev/null 2>&1",
                 getenv("PESIM_BIN"), csv, path, FIXTURE_ARCH);
        assert_int_equal(system(cmd), 0);
        return;
    }
    case F_IDX_TRUNC:
    case F_IDX_GZ_GARBAGE:
        write_idx(path, cf->kind);
        return;
    }
}

typedef struct result {
    int status; /* exit code, 128 + signal, or -1 when killed at the deadline */
    char out[OUTPUT_MAX], err[OUTPUT_MAX];
} result;

static void slurp(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t n = fread(buf, 1, len - 1, f);
    buf[n] = '\0';
    fclose(f);
    unlink(path);
}

/* Run pesim with args in cwd dir; stdout and stderr go to files; kill after DEADLINE_S. */
static void run(result *r, char *const *args, bool drop_root)
{
    const char *bin = getenv("PESIM_BIN");
    assert_non_null(bin);
    char outpath[] = "/tmp/pesim-hostile-out-XXXXXX", errpath[] = "/tmp/pesim-hostile-err-XXXXXX";
    int outfd = mkstemp(outpath), errfd = mkstemp(errpath);
    assert_true(outfd >= 0 && errfd >= 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(outfd, 1);
        dup2(errfd, 2);
        if (drop_root && geteuid() == 0 && (setgid(NOBODY) || setuid(NOBODY))) _exit(126);
        execv(bin, args);
        _exit(127);
    }
    close(outfd);
    close(errfd);
    int st = 0;
    struct timespec poll = {0, POLL_NS};
    time_t start = time(NULL);
    pid_t got;
    while ((got = waitpid(pid, &st, WNOHANG)) == 0 && time(NULL) - start < DEADLINE_S)
        nanosleep(&poll, NULL);
    if (got == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        r->status = -1;
    } else {
        r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    slurp(outpath, r->out, sizeof r->out);
    slurp(errpath, r->err, sizeof r->err);
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

static bool exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

static result R;

/* Each case reads the shared fixtures through "@D/ok.*" links in its own directory. */
static void link_fixtures(size_t index)
{
    char dir[DIR_MAX], link[PATH_MAX_];
    snprintf(dir, sizeof dir, "%s/case%02zu", TOP, index);
    snprintf(link, sizeof link, "%s/ok.model", dir);
    assert_int_equal(symlink(MODEL, link), 0);
    snprintf(link, sizeof link, "%s/ok.trace", dir);
    assert_int_equal(symlink(TRACE, link), 0);
}

/* One case in its own temp dir under TOP; a failure names the case. */
static bool run_case(const hostile_case *c, size_t index)
{
    char dir[DIR_MAX];
    snprintf(dir, sizeof dir, "%s/case%02zu", TOP, index);
    assert_int_equal(mkdir(dir, 0755), 0);
    link_fixtures(index);
    for (int i = 0; i < MAX_FILES; i++) make_file(dir, &c->files[i]);

    static char argbuf[MAX_ARGS][PATH_MAX_ * 2];
    char *argv[MAX_ARGS + 1];
    int argc = 0;
    argv[argc++] = (char *)getenv("PESIM_BIN");
    for (int i = 0; c->argv[i] && argc < MAX_ARGS; i++) {
        subst(argbuf[i], sizeof argbuf[i], c->argv[i], dir);
        argv[argc++] = argbuf[i];
    }
    argv[argc] = NULL;
    run(&R, argv, c->needs_nonroot);

    char names[PATH_MAX_], absent[PATH_MAX_], tmp[PATH_MAX_ + 8];
    subst(names, sizeof names, c->names ? c->names : "", dir);
    bool ok = true;
#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            print_error("case '%s': ", c->name);                                                   \
            print_error(__VA_ARGS__);                                                              \
            print_error("\n  status %d\n  stderr: %s\n", R.status, R.err);                         \
            ok = false;                                                                            \
        }                                                                                          \
    } while (0)
    CHECK(R.status != -1, "hangs: killed after %d s", DEADLINE_S);
    CHECK(R.status == c->status, "exit status %d, expected %d", R.status, c->status);
    CHECK(count_lines(R.err) == 1 && R.err[strlen(R.err) - 1] == '\n',
          "stderr is not exactly one line");
    char want[PATH_MAX_ * 2];
    subst(want, sizeof want, c->substr, dir);
    CHECK(strstr(R.err, want) != NULL, "stderr lacks '%s'", want);
    CHECK(!*names || strstr(R.err, names) != NULL, "stderr does not name '%s'", names);
    if (c->absent) {
        subst(absent, sizeof absent, c->absent, dir);
        snprintf(tmp, sizeof tmp, "%s.tmp", absent);
        CHECK(!exists(absent), "output '%s' was left behind", absent);
        CHECK(!exists(tmp), "output '%s' was left behind", tmp);
    }
#undef CHECK
    if (getenv("PESIM_HOSTILE_VERBOSE")) print_message("%-32s %d  %s", c->name, R.status, R.err);
    return ok;
}

/* A valid tiny model and its trace of IDX_SAMPLES samples in TOP. */
static int setup(void **state)
{
    (void)state;
    char err[512];
    snprintf(TOP, sizeof TOP, "/tmp/pesim-hostile-XXXXXX");
    if (!mkdtemp(TOP) || chmod(TOP, 0755)) return -1;
    snprintf(MODEL, sizeof MODEL, "%s/ok.model", TOP);
    snprintf(TRACE, sizeof TRACE, "%s/ok.trace", TOP);
    net *n = NULL;
    float **params = NULL;
    if (net_build(&n, "vgg19", NET_WIDTH, 32, 32, 1, 10, err, sizeof err)) return -1;
    if (net_exit_count(n) != TRACE_EXITS || model_init_random(n, SEED, &params, err, sizeof err)) {
        net_free(n);
        return -1;
    }
    double t[TRACE_EXITS];
    for (int l = 0; l < TRACE_EXITS; l++) t[l] = 1.0;
    int rc =
        model_save(MODEL, n, (const float *const *)params, t, NULL, NULL, NULL, 0, err, sizeof err);
    model_free_params(params, net_tensor_count(n));
    net_free(n);
    if (rc) return -1;

    /* the trace comes from `pesim infer`, so that it carries the architecture and runs
     * simulate latency, energy, OPPs and arrivals */
    char idx[PATH_MAX_], cmd[PATH_MAX_ * 4];
    snprintf(idx, sizeof idx, "%s/data", TOP);
    if (mkdir(idx, 0755)) return -1;
    uint8_t px[IDX_SAMPLES * IDX_SIDE * IDX_SIDE], y[IDX_SAMPLES];
    for (size_t i = 0; i < sizeof px; i++) px[i] = (uint8_t)(i * 37u);
    for (int i = 0; i < IDX_SAMPLES; i++) y[i] = (uint8_t)i;
    char images[PATH_MAX_ + 32], labels[PATH_MAX_ + 32];
    snprintf(images, sizeof images, "%s/%s", idx, DATA_TEST_IMAGES);
    snprintf(labels, sizeof labels, "%s/%s", idx, DATA_TEST_LABELS);
    if (data_write_idx_images(images, px, IDX_SAMPLES, IDX_SIDE, IDX_SIDE, true, err, sizeof err) ||
        data_write_idx_labels(labels, y, IDX_SAMPLES, true, err, sizeof err))
        return -1;
    snprintf(cmd, sizeof cmd,
             "%s infer %s --data mnist --data-dir %s --trace-out %s >/dev/null 2>&1",
             getenv("PESIM_BIN"), MODEL, idx, TRACE);
    return system(cmd) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[PATH_MAX_];
    snprintf(cmd, sizeof cmd, "chmod -R u+w %s; rm -rf %s", TOP, TOP);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_hostile(void **state)
{
    (void)state;
    int failed = 0;
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        failed += !run_case(&CASES[i], i);
    }
    if (failed) fail_msg("%d of %zu hostile cases failed", failed, sizeof CASES / sizeof CASES[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_hostile, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
