/* pesim sweep and pesim merge: a config's [sweep] expanded into points, each point run like
 * `pesim run` into its result database by a pool of worker processes (resumable for free: runs
 * are keyed by their config hash), and result databases merged into one. */
#include "cmds.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "cfg.h"
#include "db.h"
#include "pesim_version.h"
#include "run.h"
#include "sha256.h"
#include "sweep.h"
#include "util.h"

enum {
    MAX_JOBS = 1024,         /* worker processes at most */
    DESCRIBE_CHARS = 512,    /* a point's overrides as printed */
    HASH_SHOWN = 12,         /* hex digits of a point's config hash in --dry-run */
    POLL_MS = 250,           /* progress refresh while waiting for workers */
    BAR_WIDTH = 24,          /* characters of the progress bar */
    SECONDS_PER_MINUTE = 60, /* for the ETA */
    SECONDS_PER_HOUR = 3600,
    NO_POINT = -1, /* a worker holds no point */
};
static const double REDRAW_PERIOD_S = 0.1;

const char sweep_usage[] =
    "usage: pesim sweep [-j N] [--shard K/N] [--force] [--dry-run] [-q] [-s SECTION.KEY=VALUE]...\n"
    "                   CONFIG...\n"
    "\n"
    "Expand the [sweep] section of a config into points and run every point like pesim run:\n"
    "the base config (files in order, then -s overrides) with the point's values on top. The\n"
    "lines of [sweep] are section.key = values: a list (0.5, 0.9), a range first:last:step for\n"
    "numeric keys, or lists separated by ';' for list-valued keys (exit.kernel = 1,1,1; 1,2,1);\n"
    "mode = cross runs every combination (the last line varies fastest), mode = zip pairs the\n"
    "lists element by element. All points write into the result database [experiment] out\n"
    "(which a sweep line may vary too), each as a run keyed by the SHA-256 of its effective\n"
    "config: rerunning a sweep skips the points that are done and redoes an interrupted one,\n"
    "so a killed sweep is resumed by running it again. Sweeps may share a database while they\n"
    "run: a point another live process on this host is running is waited for, not run twice.\n"
    "\n"
    "  -j, --jobs N                 run N points at a time in worker processes (default 1)\n"
    "  --shard K/N                  run only the points whose index i (from 0) has i % N == K-1\n"
    "                               (for job arrays; merge the databases with pesim merge)\n"
    "  --force                      redo points that are already done\n"
    "  -n, --dry-run                print the points (index, config hash, overrides) and check\n"
    "                               their configs, without running them\n"
    "  -s, --set SECTION.KEY=VALUE  override a parameter of the base config (repeatable; a swept\n"
    "                               key takes the sweep's values)\n"
    "  -q, --quiet                  no progress or summary line (failures are still reported)\n"
    "  -h, --help                   this help\n"
    "\n"
    "Progress (points done, failures, points/s, ETA) is drawn on stderr when it is a terminal,\n"
    "else one summary line is printed at the end. A failing point is reported on one line with\n"
    "its overrides and the sweep goes on; the exit status is then 1.\n";

const char merge_usage[] =
    "usage: pesim merge OUT.db IN.db...\n"
    "\n"
    "Copy every done run of each input result database, with all its rows, into OUT (created\n"
    "when missing), one transaction per input. A run whose config hash is already done in OUT is\n"
    "skipped, so merging twice duplicates nothing; runs left running or failed in an input are\n"
    "left out. Inputs with another schema version are refused. Typical use: the shards of a\n"
    "sweep (pesim sweep --shard K/N), each written to its own database, merged into one.\n"
    "\n"
    "Exit status: 0 ok, 1 an input could not be merged (the others are), 2 usage error.\n";

/* ---- running one point ---- */

typedef enum point_outcome { PT_RUN, PT_REDONE, PT_SKIPPED, PT_FAILED } point_outcome;

/* A worker's report on one point, written to the parent in one atomic pipe write. */
typedef struct point_msg {
    uint32_t worker, point;
    int32_t outcome; /* point_outcome */
    char err[ERR_LEN];
} point_msg;
_Static_assert(sizeof(point_msg) <= PIPE_BUF, "a report must be one atomic pipe write");

typedef struct sweep_ctx {
    sweep *sw;
    cfg *base_cfg;  /* the loaded base config (a worker frees its copy before it exits) */
    uint32_t *todo; /* the points to run (likewise) */
    sweep_base base;
    bool force;
    db *probe;        /* read-only handle on the result database of the last point */
    char *probe_path; /* its path */
} sweep_ctx;

static void probe_close(sweep_ctx *x)
{
    db_close(x->probe);
    free(x->probe_path);
    x->probe = NULL;
    x->probe_path = NULL;
}

/* True when c's run is already done in its result database: such points are skipped without
 * loading their model or trace. Any doubt (no file yet, an error) answers false and leaves the
 * decision to run_config. */
static bool already_done(sweep_ctx *x, const cfg *c)
{
    const char *out = cfg_get(c, "experiment", "out");
    if (!x->probe_path || strcmp(x->probe_path, out) != 0) {
        probe_close(x);
        char err[ERR_LEN];
        if (db_open(&x->probe, out, DB_READONLY, err, sizeof err)) return false;
        x->probe_path = strdup(out);
        if (!x->probe_path) {
            probe_close(x);
            return false;
        }
    }
    char *text = cfg_effective_text(c);
    if (!text) return false;
    char hash[SHA256_HEX_CHARS + 1];
    sha256_hex(text, strlen(text), hash);
    free(text);
    bool done = false;
    if (db_run_done(x->probe, hash, &done)) probe_close(x);
    return done;
}

static void run_point(sweep_ctx *x, size_t point, point_msg *m)
{
    m->point = (uint32_t)point;
    m->outcome = PT_FAILED;
    m->err[0] = '\0';
    cfg *c = sweep_point_cfg(&x->base, x->sw, point, m->err, sizeof m->err);
    if (!c) return;
    if (!*cfg_get(c, "experiment", "model") && !*cfg_get(c, "experiment", "trace")) {
        snprintf(m->err, sizeof m->err, "[experiment] needs a model or a trace to run");
    } else if (!x->force && already_done(x, c)) {
        m->outcome = PT_SKIPPED;
    } else {
        run_opts o = {.force = x->force, .version = PESIM_VERSION};
        run_stats st;
        if (run_config(c, &o, &st, m->err, sizeof m->err) == RUN_OK)
            m->outcome = st.outcome == DB_RUN_SKIPPED ? PT_SKIPPED
                         : st.outcome == DB_RUN_REDO  ? PT_REDONE
                                                      : PT_RUN;
    }
    cfg_free(c);
}

/* ---- progress and the tally ---- */

typedef struct tally {
    size_t total, done, run, redone, skipped, failed;
    double t0, last_draw;
    bool bar;   /* draw the progress bar (stderr is a terminal and not quiet) */
    bool drawn; /* the bar is on screen */
} tally;

static void eta_text(double seconds, char *buf, size_t len)
{
    long s = (long)(seconds + 0.5);
    if (s >= SECONDS_PER_HOUR)
        snprintf(buf, len, "%ld:%02ld:%02ld", s / SECONDS_PER_HOUR,
                 s % SECONDS_PER_HOUR / SECONDS_PER_MINUTE, s % SECONDS_PER_MINUTE);
    else
        snprintf(buf, len, "%ld:%02ld", s / SECONDS_PER_MINUTE, s % SECONDS_PER_MINUTE);
}

static void draw(tally *t, bool force)
{
    double now = util_now_s();
    if (!t->bar || (!force && now - t->last_draw < REDRAW_PERIOD_S)) return;
    t->last_draw = now;
    double el = now - t->t0, rate = el > 0 ? (double)t->done / el : 0;
    /* skipped points take no time: the ETA comes from the points that ran */
    double run_rate = el > 0 ? (double)(t->done - t->skipped) / el : 0;
    char bar[BAR_WIDTH + 1], eta[32] = "?";
    size_t fill = t->total ? t->done * BAR_WIDTH / t->total : BAR_WIDTH;
    for (size_t i = 0; i < BAR_WIDTH; i++) bar[i] = i < fill ? '#' : '.';
    bar[BAR_WIDTH] = '\0';
    if (run_rate > 0) eta_text((double)(t->total - t->done) / run_rate, eta, sizeof eta);
    fprintf(stderr, "\rsweep [%s] %zu/%zu points, %zu failed, %.2f points/s, ETA %s\033[K", bar,
            t->done, t->total, t->failed, rate, eta);
    fflush(stderr);
    t->drawn = true;
}

/* Take the bar off the screen before a line is printed. */
static void clear_bar(tally *t)
{
    if (t->drawn) fputs("\r\033[K", stderr);
    t->drawn = false;
}

static void record(const sweep *sw, tally *t, const point_msg *m)
{
    t->done++;
    switch ((point_outcome)m->outcome) {
    case PT_RUN:
        t->run++;
        break;
    case PT_REDONE:
        t->run++;
        t->redone++;
        break;
    case PT_SKIPPED:
        t->skipped++;
        break;
    case PT_FAILED: {
        char what[DESCRIBE_CHARS];
        t->failed++;
        sweep_describe(sw, m->point, what, sizeof what);
        clear_bar(t);
        fprintf(stderr, "pesim sweep: point %u/%zu (%s) failed: %s\n", m->point + 1,
                sweep_points(sw), what, m->err);
        break;
    }
    }
    draw(t, t->done == t->total);
}

static void summary(tally *t, const char *out)
{
    clear_bar(t);
    double el = util_now_s() - t->t0;
    fprintf(stderr,
            "pesim sweep: %zu points in %.2f s (%.2f points/s): %zu run, %zu already done, %zu "
            "failed",
            t->done, el, el > 0 ? (double)t->done / el : 0.0, t->run, t->skipped, t->failed);
    if (t->redone) fprintf(stderr, " (%zu redone after an interruption)", t->redone);
    fprintf(stderr, " -> %s\n", out);
}

/* ---- worker processes ---- */

static int read_full(int fd, void *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, (char *)buf + got, len - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        got += (size_t)n;
    }
    return 0;
}

static int write_full(int fd, const void *buf, size_t len)
{
    size_t put = 0;
    while (put < len) {
        ssize_t n = write(fd, (const char *)buf + put, len - put);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        put += (size_t)n;
    }
    return 0;
}

/* A worker: run the points the parent sends until it closes the pipe. */
static void worker(sweep_ctx *x, uint32_t id, int task_fd, int result_fd)
{
    uint32_t point;
    while (read_full(task_fd, &point, sizeof point) == 0) {
        point_msg m = {.worker = id};
        run_point(x, point, &m);
        if (write_full(result_fd, &m, sizeof m)) break;
    }
    probe_close(x);
    run_cache_clear();
}

typedef struct pool {
    int n;          /* workers */
    pid_t *pid;     /* process of each worker */
    int *task;      /* write end of each worker's task pipe, -1 when closed */
    int64_t *holds; /* point a worker runs, NO_POINT when idle */
    int result;     /* read end of the report pipe */
    const uint32_t *todo;
    size_t ntodo, next; /* todo[next] is the next point to hand out */
} pool;

/* Hand the next point to worker w, or close its pipe when none is left (it then exits). */
static void feed(pool *p, int w)
{
    while (p->task[w] >= 0 && p->next < p->ntodo) {
        uint32_t point = p->todo[p->next];
        if (write_full(p->task[w], &point, sizeof point) == 0) {
            p->holds[w] = point;
            p->next++;
            return;
        }
        close(p->task[w]); /* the worker is gone (EPIPE): its share goes to the others */
        p->task[w] = -1;
    }
    if (p->task[w] >= 0) close(p->task[w]);
    p->task[w] = -1;
}

/* Start the workers: fork each with its own task pipe; all share the report pipe. 0 ok. */
static int pool_start(pool *p, sweep_ctx *x, int jobs)
{
    int rep[2];
    if (pipe(rep)) return -1;
    int(*fds)[2] = calloc((size_t)jobs, sizeof *fds);
    p->pid = calloc((size_t)jobs, sizeof *p->pid);
    p->task = calloc((size_t)jobs, sizeof *p->task);
    p->holds = calloc((size_t)jobs, sizeof *p->holds);
    int made = 0;
    if (fds && p->pid && p->task && p->holds)
        for (; made < jobs && pipe(fds[made]) == 0; made++) {
        }
    fflush(stdout);
    fflush(stderr);
    pid_t parent = getpid();
    p->n = 0;
    for (int i = 0; i < made; i++) {
        pid_t pid = fork();
        if (pid == 0) {
#ifdef __linux__
            prctl(PR_SET_PDEATHSIG, SIGKILL); /* a killed sweep leaves no worker behind */
#endif
            if (getppid() != parent) _exit(0);
            for (int j = 0; j < made; j++) {
                close(fds[j][1]);
                if (j != i) close(fds[j][0]);
            }
            close(rep[0]);
            worker(x, (uint32_t)i, fds[i][0], rep[1]);
            /* the parent's memory, copied by fork: freed so that leak checkers see a clean exit */
            free(fds);
            free(p->pid);
            free(p->task);
            free(p->holds);
            free(x->todo);
            sweep_free(x->sw);
            cfg_free(x->base_cfg);
            _exit(0);
        }
        if (pid < 0) break;
        p->pid[p->n++] = pid;
    }
    for (int i = 0; i < made; i++) {
        close(fds[i][0]);
        if (i < p->n)
            p->task[i] = fds[i][1];
        else
            close(fds[i][1]);
    }
    free(fds);
    close(rep[1]);
    p->result = rep[0];
    if (p->n == 0) close(rep[0]);
    return p->n > 0 ? 0 : -1;
}

/* Describe how a worker ended, for the point it was running. */
static void death_text(int status, char *buf, size_t len)
{
    if (WIFSIGNALED(status))
        snprintf(buf, len, "worker process killed by signal %d", WTERMSIG(status));
    else
        snprintf(buf, len, "worker process exited with status %d",
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

/* Run the todo points on jobs worker processes handing them out one at a time. */
static int run_parallel(sweep_ctx *x, const uint32_t *todo, size_t ntodo, int jobs, tally *t)
{
    pool p = {.todo = todo, .ntodo = ntodo};
    void (*old_pipe)(int) = signal(SIGPIPE, SIG_IGN);
    int rc = pool_start(&p, x, jobs);
    if (rc) {
        fprintf(stderr, "pesim sweep: cannot start worker processes: %s\n", strerror(errno));
    } else {
        for (int w = 0; w < p.n; w++) {
            p.holds[w] = NO_POINT;
            feed(&p, w);
        }
        struct pollfd pfd = {.fd = p.result, .events = POLLIN};
        for (;;) {
            int ready = poll(&pfd, 1, POLL_MS);
            if (ready < 0 && errno == EINTR) continue;
            if (ready == 0) {
                draw(t, false);
                continue;
            }
            point_msg m;
            if (ready < 0 || read_full(p.result, &m, sizeof m)) break; /* every worker is gone */
            record(x->sw, t, &m);
            if (m.worker < (uint32_t)p.n) {
                p.holds[m.worker] = NO_POINT;
                feed(&p, (int)m.worker);
            }
        }
        close(p.result);
        for (int w = 0; w < p.n; w++) {
            if (p.task[w] >= 0) close(p.task[w]);
            int status = 0;
            while (waitpid(p.pid[w], &status, 0) < 0 && errno == EINTR) {
            }
            if (p.holds[w] == NO_POINT) continue;
            point_msg m = {
                .worker = (uint32_t)w, .point = (uint32_t)p.holds[w], .outcome = PT_FAILED};
            death_text(status, m.err, sizeof m.err);
            record(x->sw, t, &m);
        }
        for (; p.next < p.ntodo; p.next++) {
            point_msg m = {.point = p.todo[p.next], .outcome = PT_FAILED};
            snprintf(m.err, sizeof m.err, "not run: every worker process ended");
            record(x->sw, t, &m);
        }
    }
    signal(SIGPIPE, old_pipe);
    free(p.pid);
    free(p.task);
    free(p.holds);
    return rc;
}

/* ---- pesim sweep ---- */

typedef struct sweep_args {
    int jobs;
    unsigned shard_k, shard_n;
    bool force, dry_run, quiet;
    const char *overrides[MAX_OVERRIDES];
    int nover;
} sweep_args;

/* Parse "K/N" with 1 <= K <= N. */
static bool parse_shard(const char *s, unsigned *k, unsigned *n)
{
    char tail;
    return sscanf(s, "%u/%u%c", k, n, &tail) == 2 && *n >= 1 && *k >= 1 && *k <= *n;
}

/* 0 ok, else the exit code (help printed, or a usage error). */
static int parse_sweep_args(int argc, char **argv, sweep_args *a, bool *help)
{
    enum { OPT_SHARD = 256, OPT_FORCE };
    static const struct option opts[] = {
        {"jobs", required_argument, NULL, 'j'},  {"shard", required_argument, NULL, OPT_SHARD},
        {"force", no_argument, NULL, OPT_FORCE}, {"dry-run", no_argument, NULL, 'n'},
        {"set", required_argument, NULL, 's'},   {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0}};
    *a = (sweep_args){.jobs = 1, .shard_k = 1, .shard_n = 1};
    *help = false;
    int ch;
    char *end;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "j:ns:qh", opts, NULL)) != -1) {
        if (ch == 'j') {
            long j = strtol(optarg, &end, 10);
            if (*end || end == optarg || j < 1 || j > MAX_JOBS) {
                fprintf(stderr, "pesim sweep: -j %s: expected 1 to %d worker processes\n", optarg,
                        MAX_JOBS);
                return EXIT_USAGE;
            }
            a->jobs = (int)j;
        } else if (ch == OPT_SHARD) {
            if (!parse_shard(optarg, &a->shard_k, &a->shard_n)) {
                fprintf(stderr, "pesim sweep: --shard %s: expected K/N with 1 <= K <= N\n", optarg);
                return EXIT_USAGE;
            }
        } else if (ch == 's') {
            if (a->nover == MAX_OVERRIDES) {
                fprintf(stderr, "pesim sweep: more than %d overrides\n", MAX_OVERRIDES);
                return EXIT_USAGE;
            }
            a->overrides[a->nover++] = optarg;
        } else if (ch == OPT_FORCE) {
            a->force = true;
        } else if (ch == 'n') {
            a->dry_run = true;
        } else if (ch == 'q') {
            a->quiet = true;
        } else if (ch == 'h') {
            *help = true;
            return fputs(sweep_usage, stdout), EXIT_OK;
        } else {
            return fputs(sweep_usage, stderr), EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "pesim sweep: no config file given\n%s", sweep_usage);
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

/* Print the points with their config hash, checking each point's config; exit code. */
static int dry_run(const sweep_ctx *x, const uint32_t *todo, size_t ntodo)
{
    int status = EXIT_OK;
    for (size_t k = 0; k < ntodo; k++) {
        char what[DESCRIBE_CHARS], err[ERR_LEN], hash[SHA256_HEX_CHARS + 1] = "-";
        sweep_describe(x->sw, todo[k], what, sizeof what);
        cfg *c = sweep_point_cfg(&x->base, x->sw, todo[k], err, sizeof err);
        char *text = c ? cfg_effective_text(c) : NULL;
        if (text) sha256_hex(text, strlen(text), hash);
        printf("%u  %.*s  %s\n", todo[k] + 1, HASH_SHOWN, hash, what);
        if (!c) {
            fprintf(stderr, "pesim sweep: point %u/%zu (%s) is invalid: %s\n", todo[k] + 1,
                    sweep_points(x->sw), what, err);
            status = EXIT_INPUT;
        } else if (!text) {
            status = EXIT_INTERNAL;
        }
        free(text);
        cfg_free(c);
    }
    return status;
}

int cmd_sweep(int argc, char **argv)
{
    sweep_args a;
    bool help;
    int status = parse_sweep_args(argc, argv, &a, &help);
    if (status || help) return status;
    char **files = argv + optind;
    int nfiles = argc - optind;
    cfg *base = load_config(nfiles, files, a.overrides, a.nover, true, &status);
    if (!base) return status;
    sweep *sw = NULL;
    char err[ERR_LEN];
    if (sweep_expand(base, &sw, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", files[0], err);
        cfg_free(base);
        return EXIT_INPUT;
    }
    size_t npoints = sweep_points(sw), ntodo = 0;
    uint32_t *todo = malloc(npoints * sizeof *todo);
    if (!todo) {
        fprintf(stderr, "pesim sweep: out of memory\n");
        sweep_free(sw);
        cfg_free(base);
        return EXIT_INTERNAL;
    }
    for (size_t i = 0; i < npoints; i++)
        if (i % a.shard_n == a.shard_k - 1) todo[ntodo++] = (uint32_t)i;
    sweep_ctx x = {.sw = sw,
                   .base_cfg = base,
                   .todo = todo,
                   .base = {nfiles, files, a.nover, a.overrides},
                   .force = a.force};
    if (a.dry_run) {
        status = dry_run(&x, todo, ntodo);
    } else {
        tally t = {.total = ntodo, .t0 = util_now_s(), .bar = !a.quiet && isatty(fileno(stderr))};
        int jobs = (size_t)a.jobs < ntodo ? a.jobs : (int)ntodo;
        if (jobs > 1) {
            status = run_parallel(&x, todo, ntodo, jobs, &t) ? EXIT_INTERNAL : EXIT_OK;
        } else {
            for (size_t k = 0; k < ntodo; k++) {
                point_msg m = {0};
                run_point(&x, todo[k], &m);
                record(sw, &t, &m);
            }
            probe_close(&x);
        }
        if (!a.quiet) summary(&t, cfg_get(base, "experiment", "out"));
        if (!status && t.failed) status = EXIT_INPUT;
    }
    free(todo);
    sweep_free(sw);
    cfg_free(base);
    return status;
}

/* ---- pesim merge ---- */

int cmd_merge(int argc, char **argv)
{
    if (argc >= 2 && is_help(argv[1])) return fputs(merge_usage, stdout), EXIT_OK;
    if (argc < 3 || argv[1][0] == '-') {
        fputs(merge_usage, stderr);
        return EXIT_USAGE;
    }
    char err[ERR_LEN];
    db *out = NULL;
    if (db_open(&out, argv[1], DB_CREATE, err, sizeof err)) {
        fprintf(stderr, "pesim merge: %s\n", err);
        return EXIT_INPUT;
    }
    int status = EXIT_OK;
    for (int i = 2; i < argc; i++) {
        db_merge_stats st;
        if (db_merge(out, argv[i], &st, err, sizeof err)) {
            fprintf(stderr, "pesim merge: %s\n", err);
            status = EXIT_INPUT;
            continue;
        }
        printf("%s: %lld runs copied (%lld rows), %lld already done in %s skipped", argv[i],
               (long long)st.runs_copied, (long long)st.rows_copied, (long long)st.runs_skipped,
               argv[1]);
        if (st.runs_not_done) printf(", %lld not done left out", (long long)st.runs_not_done);
        printf("\n");
    }
    db_close(out);
    return status;
}
