/* pesim trace: import a logit trace from a CSV or NPY file (e.g. another framework's multi-exit
 * model), export a trace as CSV, and check and summarise a trace (sim/trace.h; formats in
 * traces/README.md). */
#include "cmds.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "trace.h"

#define MAX_META      64 /* --meta entries */
#define AUTO_META     4  /* entries import records itself */
#define META_KEY_MAX  64 /* longest --meta key, terminator included */
#define RULE_TEXT_MAX 96

const char trace_usage[] =
    "usage: pesim trace import FILE.csv|FILE.npy --classes C --out TRACE [options]\n"
    "       pesim trace export TRACE --out FILE.csv [--force]\n"
    "       pesim trace info TRACE\n"
    "\n"
    "A logit trace holds every exit's and the final classifier's logits for each sample, so\n"
    "that a trace-driven run replays a functional run fast. Formats: traces/README.md.\n"
    "\n"
    "import: read logits from another framework and write a trace. A CSV has the header\n"
    "sample,label,exit,z0,...,z{C-1} and one row per (sample, exit), exits 0 .. E ascending\n"
    "(E = the final classifier) and grouped by sample. An NPY file (format 1.0 or 2.0) holds\n"
    "a '<f4' or '<f8' array of shape (samples, E + 1, C) in C order; its labels come from\n"
    "--labels.\n"
    "  --classes C                classes: logit columns of the CSV, last axis of the NPY\n"
    "  --out TRACE                trace to write (refused if it exists, unless --force)\n"
    "  --labels LABELS.npy        labels of an NPY import (required): shape (samples,),\n"
    "                             '<i8', '<i4', '|u1' or '<u1'\n"
    "  --exit-names A,B,...       names of exits 0 .. E-1 (default exit0, exit1, ...);\n"
    "                             'final' is added unless given last\n"
    "  --thresholds T0,T1,...     the exits' thresholds T_l (E values, finite, >= 0)\n"
    "  --thresholds-from-trace N  T_l = mean over the first N samples of max_c |z_c| (the\n"
    "                             default, over all samples: pesim's rule for trained models)\n"
    "  --meta KEY=VALUE           provenance to record, e.g. dataset=fashion-mnist,\n"
    "                             arch=..., model=... (repeatable)\n"
    "  --force                    overwrite an existing TRACE\n"
    "\n"
    "export: write TRACE as the CSV that import reads; logits carry 9 significant digits,\n"
    "which round-trips float32 exactly.\n"
    "  --out FILE.csv             CSV to write (refused if it exists, unless --force)\n"
    "  --force                    overwrite an existing FILE.csv\n"
    "\n"
    "info: check TRACE fully and print its samples, classes, provenance and, per exit, name,\n"
    "T_l, argmax accuracy against the labels, mean max|z| and MACs.\n"
    "\n"
    "Exit status: 0 ok, 1 bad input, 2 usage error, 3 internal error.\n";

/* meta keys import writes itself (with the format's own); --meta may not set them. */
static const char *const pesim_keys[] = {"format", "format_version", "classes",
                                         "exits",  "source",         "imported_from",
                                         "labels", "threshold_rule", NULL};

enum {
    OPT_CLASSES = 256,
    OPT_OUT,
    OPT_LABELS,
    OPT_EXIT_NAMES,
    OPT_THRESHOLDS,
    OPT_THR_FROM,
    OPT_META,
    OPT_FORCE,
};

#define SEE_HELP "(see pesim trace --help)"

/* A getopt error (':' missing value, else unknown option) as one line; EXIT_USAGE. */
static int bad_option(const char *verb, int ch, char **argv)
{
    if (ch == ':')
        fprintf(stderr, "pesim trace %s: option '%s' needs a value " SEE_HELP "\n", verb,
                argv[optind - 1]);
    else
        fprintf(stderr, "pesim trace %s: unknown option '%s' " SEE_HELP "\n", verb,
                argv[optind - 1]);
    return EXIT_USAGE;
}

static int status_exit(int trace_rc)
{
    return trace_rc == TRACE_ENOMEM ? EXIT_INTERNAL : EXIT_INPUT;
}

/* Parses a whole decimal number within [lo, hi]; false (message printed) otherwise. */
static bool parse_long(const char *flag, const char *s, long long lo, long long hi, long long *out)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "pesim trace: %s wants a whole number in %lld .. %lld, not '%s'\n", flag,
                lo, hi, s);
        return false;
    }
    *out = v;
    return true;
}

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcasecmp(s + n - k, suffix);
}

/* Refuse to replace path unless forced; false (message printed) when it exists. */
static bool out_free(const char *path, bool force)
{
    if (force || access(path, F_OK) != 0) return true;
    fprintf(stderr, "pesim trace: %s exists (--force overwrites it)\n", path);
    return false;
}

/* ---- import ---- */

typedef struct import_args {
    const char *in, *out, *labels, *names, *thresholds;
    long long classes, thr_samples; /* thr_samples 0: all */
    bool npy, force;
    const char *meta[MAX_META]; /* KEY=VALUE */
    int n_meta;
} import_args;

static bool check_meta_arg(const char *kv)
{
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv || eq - kv >= META_KEY_MAX) {
        fprintf(stderr,
                "pesim trace: --meta wants KEY=VALUE with a key of 1 .. %d characters, not '%s'\n",
                META_KEY_MAX - 1, kv);
        return false;
    }
    for (int i = 0; pesim_keys[i]; i++)
        if (strlen(pesim_keys[i]) == (size_t)(eq - kv) && !strncmp(kv, pesim_keys[i], eq - kv)) {
            fprintf(stderr, "pesim trace: --meta may not set '%s'; pesim records it\n",
                    pesim_keys[i]);
            return false;
        }
    return true;
}

/* Checks the combination of options once they are all read; -1 to go on, else the exit code. */
static int check_import_args(import_args *a, int argc, char **argv)
{
    if (optind + 1 != argc || !a->classes || !a->out) {
        fprintf(stderr, "pesim trace import: need FILE, --classes and --out " SEE_HELP "\n");
        return EXIT_USAGE;
    }
    a->in = argv[optind];
    a->npy = has_suffix(a->in, ".npy");
    if (!a->npy && !has_suffix(a->in, ".csv")) {
        fprintf(stderr, "pesim trace import: cannot tell the format of '%s' (need .csv or .npy)\n",
                a->in);
        return EXIT_USAGE;
    }
    if (a->npy != (a->labels != NULL)) {
        fprintf(stderr, "pesim trace import: %s\n",
                a->npy ? "an NPY import needs --labels LABELS.npy"
                       : "--labels is for NPY imports; a CSV carries its labels");
        return EXIT_USAGE;
    }
    if (a->thresholds && a->thr_samples) {
        fprintf(stderr, "pesim trace import: --thresholds and --thresholds-from-trace exclude "
                        "each other\n");
        return EXIT_USAGE;
    }
    for (int i = 0; i < a->n_meta; i++)
        for (int k = 0; k < i; k++)
            if (strcspn(a->meta[i], "=") == strcspn(a->meta[k], "=") &&
                !strncmp(a->meta[i], a->meta[k], strcspn(a->meta[i], "="))) {
                fprintf(stderr, "pesim trace import: --meta '%.*s' is given twice\n",
                        (int)strcspn(a->meta[i], "="), a->meta[i]);
                return EXIT_USAGE;
            }
    return -1;
}

static int parse_import_args(int argc, char **argv, import_args *a)
{
    static const struct option opts[] = {
        {"classes", required_argument, NULL, OPT_CLASSES},
        {"out", required_argument, NULL, OPT_OUT},
        {"labels", required_argument, NULL, OPT_LABELS},
        {"exit-names", required_argument, NULL, OPT_EXIT_NAMES},
        {"thresholds", required_argument, NULL, OPT_THRESHOLDS},
        {"thresholds-from-trace", required_argument, NULL, OPT_THR_FROM},
        {"meta", required_argument, NULL, OPT_META},
        {"force", no_argument, NULL, OPT_FORCE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    *a = (import_args){0};
    int ch;
    bool ok = true;
    optind = 1;
    opterr = 0;
    while (ok && (ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (ch) {
        case OPT_CLASSES:
            ok = parse_long("--classes", optarg, 2, 65536, &a->classes);
            break;
        case OPT_OUT:
            a->out = optarg;
            break;
        case OPT_LABELS:
            a->labels = optarg;
            break;
        case OPT_EXIT_NAMES:
            a->names = optarg;
            break;
        case OPT_THRESHOLDS:
            a->thresholds = optarg;
            break;
        case OPT_THR_FROM:
            ok = parse_long("--thresholds-from-trace", optarg, 1, INT64_MAX, &a->thr_samples);
            break;
        case OPT_META:
            if (a->n_meta == MAX_META) {
                fprintf(stderr, "pesim trace: more than %d --meta entries\n", MAX_META);
                return EXIT_USAGE;
            }
            ok = check_meta_arg(optarg);
            a->meta[a->n_meta++] = optarg;
            break;
        case OPT_FORCE:
            a->force = true;
            break;
        case 'h':
            fputs(trace_usage, stdout);
            return EXIT_OK;
        default:
            return bad_option("import", ch, argv);
        }
    }
    return ok ? check_import_args(a, argc, argv) : EXIT_USAGE;
}

/* Split a copy of list at commas into *items (pointers into *copy); the count, -1 on OOM. */
static int split_list(const char *list, char **copy, char ***items)
{
    *copy = strdup(list);
    int n = 1;
    for (const char *p = list; *p; p++) n += *p == ',';
    *items = malloc((size_t)n * sizeof **items);
    if (!*copy || !*items) return -1;
    char *p = *copy;
    for (int i = 0; i < n; i++) {
        (*items)[i] = p;
        p += strcspn(p, ",");
        if (*p) *p++ = '\0';
    }
    return n;
}

/* Exit names for exits exits (+ final) from --exit-names into names (exits + 1 entries); false
 * (message printed) when the count does not fit. */
static bool fill_names(const char *list, int exits, const char **names, char **copy, char ***items)
{
    int n = split_list(list, copy, items);
    if (n < 0) {
        fprintf(stderr, "pesim: out of memory\n");
        return false;
    }
    bool with_final = n == exits + 1 && !strcmp((*items)[n - 1], TRACE_FINAL_NAME);
    if (n != exits && !with_final) {
        fprintf(stderr,
                "pesim trace import: --exit-names gives %d names; the input has %d exits "
                "(and the final classifier)\n",
                n, exits);
        return false;
    }
    for (int l = 0; l < exits; l++) names[l] = (*items)[l];
    names[exits] = TRACE_FINAL_NAME;
    return true;
}

/* --thresholds into thr (exits values); false (message printed) on a bad list. */
static bool parse_thresholds(const char *list, int exits, double *thr)
{
    char *copy = NULL, **items = NULL;
    int n = split_list(list, &copy, &items);
    bool ok = n >= 0;
    if (!ok) fprintf(stderr, "pesim: out of memory\n");
    if (ok && n != exits) {
        fprintf(stderr,
                "pesim trace import: --thresholds gives %d values; the input has %d exits\n", n,
                exits);
        ok = false;
    }
    for (int l = 0; ok && l < n; l++) {
        char *end;
        thr[l] = strtod(items[l], &end);
        if (end == items[l] || *end || !isfinite(thr[l]) || thr[l] < 0) {
            fprintf(stderr,
                    "pesim trace import: --thresholds value %d '%s' is not a finite number >= 0\n",
                    l, items[l]);
            ok = false;
        }
    }
    free(copy);
    free(items);
    return ok;
}

/* The provenance import records plus --meta, as parallel key/value arrays (values of --meta
 * point into their argument after '=', keys into keybuf). */
static int fill_meta(const import_args *a, const char *rule, const char **keys, const char **values,
                     char (*keybuf)[META_KEY_MAX])
{
    int n = 0;
    keys[n] = "source";
    values[n++] = a->npy ? "import npy" : "import csv";
    keys[n] = "imported_from";
    values[n++] = a->in;
    if (a->labels) {
        keys[n] = "labels";
        values[n++] = a->labels;
    }
    keys[n] = "threshold_rule";
    values[n++] = rule;
    for (int i = 0; i < a->n_meta; i++) {
        size_t klen = strcspn(a->meta[i], "=");
        snprintf(keybuf[i], META_KEY_MAX, "%.*s", (int)klen, a->meta[i]);
        keys[n] = keybuf[i];
        values[n++] = a->meta[i] + klen + 1;
    }
    return n;
}

static int import_write(const import_args *a, const trace *t)
{
    int exits = trace_exits(t), rc = EXIT_INPUT;
    const char **names = malloc((size_t)(exits + 1) * sizeof *names);
    double *thr = malloc((size_t)(exits ? exits : 1) * sizeof *thr);
    char *names_copy = NULL, **name_items = NULL, rule[RULE_TEXT_MAX], err[ERR_LEN];
    char keybuf[MAX_META][META_KEY_MAX];
    const char *keys[MAX_META + AUTO_META], *values[MAX_META + AUTO_META];
    if (!names || !thr) {
        fprintf(stderr, "pesim: out of memory\n");
        rc = EXIT_INTERNAL;
        goto done;
    }
    if (a->names && !fill_names(a->names, exits, names, &names_copy, &name_items)) goto done;
    if (a->thresholds) {
        if (!parse_thresholds(a->thresholds, exits, thr)) goto done;
        snprintf(rule, sizeof rule, "given (--thresholds)");
    } else {
        size_t used = trace_thresholds_rule(t, (size_t)a->thr_samples, thr);
        snprintf(rule, sizeof rule, "mean over the first %zu samples of max_c |z_c|", used);
    }
    trace_header h = {.classes = trace_classes(t),
                      .exits = exits,
                      .names = a->names ? names : NULL,
                      .thresholds = thr,
                      .meta_keys = keys,
                      .meta_values = values};
    h.n_meta = fill_meta(a, rule, keys, values, keybuf);
    int trc = trace_save(t, a->out, &h, err, sizeof err);
    if (trc) {
        fprintf(stderr, "pesim: %s\n", err);
        rc = status_exit(trc);
        goto done;
    }
    printf("wrote %s: %zu samples, %d exits + final, %d classes\n", a->out, trace_samples(t), exits,
           trace_classes(t));
    rc = EXIT_OK;
done:
    free(names);
    free(thr);
    free(names_copy);
    free(name_items);
    return rc;
}

static int import_cmd(int argc, char **argv)
{
    import_args a;
    int rc = parse_import_args(argc, argv, &a);
    if (rc >= 0) return rc;
    if (!out_free(a.out, a.force)) return EXIT_INPUT;
    trace *t = NULL;
    char err[ERR_LEN];
    int trc = a.npy ? trace_import_npy(a.in, a.labels, (int)a.classes, &t, err, sizeof err)
                    : trace_import_csv(a.in, (int)a.classes, &t, err, sizeof err);
    if (trc) {
        fprintf(stderr, "pesim: %s\n", err);
        return status_exit(trc);
    }
    rc = import_write(&a, t);
    trace_free(t);
    return rc;
}

/* ---- export ---- */

static int export_cmd(int argc, char **argv)
{
    static const struct option opts[] = {{"out", required_argument, NULL, OPT_OUT},
                                         {"force", no_argument, NULL, OPT_FORCE},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *out = NULL;
    bool force = false;
    int ch;
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (ch) {
        case OPT_OUT:
            out = optarg;
            break;
        case OPT_FORCE:
            force = true;
            break;
        case 'h':
            fputs(trace_usage, stdout);
            return EXIT_OK;
        default:
            return bad_option("export", ch, argv);
        }
    }
    if (optind + 1 != argc || !out) {
        fprintf(stderr, "pesim trace export: need TRACE and --out " SEE_HELP "\n");
        return EXIT_USAGE;
    }
    if (!out_free(out, force)) return EXIT_INPUT;
    trace *t = NULL;
    char err[ERR_LEN];
    int trc = trace_load(argv[optind], &t, err, sizeof err);
    if (!trc) trc = trace_export_csv(t, out, err, sizeof err);
    if (trc) {
        fprintf(stderr, "pesim: %s\n", err);
        trace_free(t);
        return status_exit(trc);
    }
    printf("wrote %s: %zu samples x %d rows\n", out, trace_samples(t), trace_exits(t) + 1);
    trace_free(t);
    return EXIT_OK;
}

/* ---- info ---- */

static int info_cmd(int argc, char **argv)
{
    if (argc >= 2 && is_help(argv[1])) {
        fputs(trace_usage, stdout);
        return EXIT_OK;
    }
    if (argc != 2) {
        fprintf(stderr, "pesim trace info: need exactly one TRACE " SEE_HELP "\n");
        return EXIT_USAGE;
    }
    trace *t = NULL;
    char err[ERR_LEN];
    int trc = trace_load(argv[1], &t, err, sizeof err);
    if (trc) {
        fprintf(stderr, "pesim: %s\n", err);
        return status_exit(trc);
    }
    trc = trace_print_info(t, argv[1], stdout);
    trace_free(t);
    return trc ? EXIT_INTERNAL : EXIT_OK;
}

/* ---- dispatch ---- */

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
} verbs[] = {{"import", import_cmd}, {"export", export_cmd}, {"info", info_cmd}};

int cmd_trace(int argc, char **argv)
{
    if (argc >= 2 && is_help(argv[1])) {
        fputs(trace_usage, stdout);
        return EXIT_OK;
    }
    for (size_t i = 0; argc >= 2 && i < sizeof verbs / sizeof verbs[0]; i++)
        if (!strcmp(argv[1], verbs[i].name)) return verbs[i].run(argc - 1, argv + 1);
    if (argc >= 2)
        fprintf(stderr, "pesim trace: unknown verb '%s' (import, export or info)\n", argv[1]);
    else
        fprintf(stderr, "pesim trace: need a verb: import, export or info " SEE_HELP "\n");
    return EXIT_USAGE;
}
