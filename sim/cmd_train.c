/* pesim train: train a multi-exit network (a config's [network] section) on Fashion-MNIST or
 * MNIST with the two-stage schedule of models/train.h and write a model file. */
#include "cmds.h"

#include <cblas.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"
#include "data.h"
#include "net.h"
#include "train.h"

#define CMD_MAX             2048
#define DEFAULT_EPOCHS      10
#define DEFAULT_BATCH       128
#define DEFAULT_LR          1e-3
#define DEFAULT_THRESH_IMGS 5000

const char train_usage[] =
    "usage: pesim train NET.ini --data fashion-mnist|mnist --out MODEL [options]\n"
    "\n"
    "Train the multi-exit network a config's [network] section describes, in two stages as\n"
    "the paper's code does: the backbone alone with cross-entropy, then every exit and the\n"
    "final classifier jointly with the unweighted sum of cross-entropies (backbone fine-tuned).\n"
    "Adam, cosine learning-rate decay within each stage, seeded shuffling. A checkpoint is\n"
    "written into MODEL after every epoch; --resume continues a killed run from it. At the end\n"
    "the per-exit thresholds T_l (mean max |logit| over 5 000 training images) and per-exit test\n"
    "accuracies go into MODEL with the command line and the training figures.\n"
    "\n"
    "  --data NAME            fashion-mnist or mnist\n"
    "  --data-dir DIR         dataset directory (default: the dataset's own, " MNIST_DEFAULT_DIR
    "\n"
    "                         for mnist)\n"
    "  --out MODEL            model file to write (refused if it exists, unless --force)\n"
    "  --epochs E             backbone-stage epochs (default 10)\n"
    "  --joint-epochs J       joint-stage epochs (default: E)\n"
    "  --seed S               initialisation, shuffling and flips (default 1)\n"
    "  --lr LR                peak Adam learning rate of both stages (default 0.001)\n"
    "  --joint-lr LR          peak learning rate of the joint stage (default: --lr)\n"
    "  --weight-decay WD      Adam L2 decay (default 0)\n"
    "  --batch B              samples per step (default 128)\n"
    "  --limit N              train on the first N training images only\n"
    "  --test-limit N         measure accuracy on the first N test images only\n"
    "  --shift PX             random translation by up to PX pixels each way, 0 .. 8 (default 0)\n"
    "  --flip | --no-flip     random horizontal flips (default: on for fashion-mnist, off for\n"
    "                         digits)\n"
    "  --threads T            OpenBLAS threads (default: OPENBLAS_NUM_THREADS, else 1;\n"
    "                         results are reproducible for a fixed thread count)\n"
    "  --resume               continue from the checkpoint in MODEL (same options)\n"
    "  --stop-after N         stop after N epochs in all, leaving the checkpoint (time-boxing)\n"
    "  --force                overwrite an existing MODEL\n"
    "  -s, --set SECTION.KEY=VALUE  override a [network] parameter\n"
    "  -h, --help             this help\n";

enum {
    OPT_DATA = 256,
    OPT_DATA_DIR,
    OPT_OUT,
    OPT_EPOCHS,
    OPT_JOINT_EPOCHS,
    OPT_SEED,
    OPT_LR,
    OPT_JOINT_LR,
    OPT_WD,
    OPT_BATCH,
    OPT_LIMIT,
    OPT_TEST_LIMIT,
    OPT_FLIP,
    OPT_NO_FLIP,
    OPT_THREADS,
    OPT_RESUME,
    OPT_FORCE,
    OPT_STOP_AFTER,
    OPT_SHIFT,
};

/* Parses a whole decimal number within [lo, hi]; false (message printed) otherwise. */
static bool parse_long(const char *flag, const char *s, long long lo, long long hi, long long *out)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "pesim train: %s wants a whole number in %lld .. %lld, not '%s'\n", flag,
                lo, hi, s);
        return false;
    }
    *out = v;
    return true;
}

static bool parse_real(const char *flag, const char *s, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "pesim train: %s wants a number in %g .. %g, not '%s'\n", flag, lo, hi, s);
        return false;
    }
    *out = v;
    return true;
}

typedef struct train_args {
    const char *net_file, *data, *data_dir, *out;
    long long epochs, joint_epochs, seed, batch, limit, test_limit, threads, stop_after, shift;
    double lr, joint_lr, wd;
    int flip; /* -1 default, 0 off, 1 on */
    bool resume, force;
    const char *overrides[MAX_OVERRIDES];
    int nover;
} train_args;

/* Parses argv into a; -1 when the command should go on, else its exit code. */
static int parse_args(int argc, char **argv, train_args *a)
{
    static const struct option opts[] = {
        {"data", required_argument, NULL, OPT_DATA},
        {"data-dir", required_argument, NULL, OPT_DATA_DIR},
        {"out", required_argument, NULL, OPT_OUT},
        {"epochs", required_argument, NULL, OPT_EPOCHS},
        {"joint-epochs", required_argument, NULL, OPT_JOINT_EPOCHS},
        {"seed", required_argument, NULL, OPT_SEED},
        {"lr", required_argument, NULL, OPT_LR},
        {"joint-lr", required_argument, NULL, OPT_JOINT_LR},
        {"weight-decay", required_argument, NULL, OPT_WD},
        {"batch", required_argument, NULL, OPT_BATCH},
        {"limit", required_argument, NULL, OPT_LIMIT},
        {"test-limit", required_argument, NULL, OPT_TEST_LIMIT},
        {"flip", no_argument, NULL, OPT_FLIP},
        {"no-flip", no_argument, NULL, OPT_NO_FLIP},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"resume", no_argument, NULL, OPT_RESUME},
        {"force", no_argument, NULL, OPT_FORCE},
        {"stop-after", required_argument, NULL, OPT_STOP_AFTER},
        {"shift", required_argument, NULL, OPT_SHIFT},
        {"set", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    *a = (train_args){.epochs = DEFAULT_EPOCHS,
                      .joint_epochs = -1,
                      .seed = 1,
                      .batch = DEFAULT_BATCH,
                      .lr = DEFAULT_LR,
                      .joint_lr = -1,
                      .flip = -1};
    int ch;
    bool ok = true;
    optind = 1;
    while (ok && (ch = getopt_long(argc, argv, "s:h", opts, NULL)) != -1) {
        switch (ch) {
        case OPT_DATA:
            a->data = optarg;
            break;
        case OPT_DATA_DIR:
            a->data_dir = optarg;
            break;
        case OPT_OUT:
            a->out = optarg;
            break;
        case OPT_EPOCHS:
            ok = parse_long("--epochs", optarg, 0, 10000, &a->epochs);
            break;
        case OPT_JOINT_EPOCHS:
            ok = parse_long("--joint-epochs", optarg, 0, 10000, &a->joint_epochs);
            break;
        case OPT_SEED:
            ok = parse_long("--seed", optarg, 0, INT64_MAX, &a->seed);
            break;
        case OPT_LR:
            ok = parse_real("--lr", optarg, 1e-9, 10, &a->lr);
            break;
        case OPT_JOINT_LR:
            ok = parse_real("--joint-lr", optarg, 1e-9, 10, &a->joint_lr);
            break;
        case OPT_WD:
            ok = parse_real("--weight-decay", optarg, 0, 1, &a->wd);
            break;
        case OPT_BATCH:
            ok = parse_long("--batch", optarg, 2, 4096, &a->batch);
            break;
        case OPT_LIMIT:
            ok = parse_long("--limit", optarg, 2, INT64_MAX, &a->limit);
            break;
        case OPT_TEST_LIMIT:
            ok = parse_long("--test-limit", optarg, 1, INT64_MAX, &a->test_limit);
            break;
        case OPT_FLIP:
            a->flip = 1;
            break;
        case OPT_NO_FLIP:
            a->flip = 0;
            break;
        case OPT_THREADS:
            ok = parse_long("--threads", optarg, 1, 256, &a->threads);
            break;
        case OPT_RESUME:
            a->resume = true;
            break;
        case OPT_FORCE:
            a->force = true;
            break;
        case OPT_SHIFT:
            ok = parse_long("--shift", optarg, 0, 8, &a->shift);
            break;
        case OPT_STOP_AFTER:
            ok = parse_long("--stop-after", optarg, 1, 20000, &a->stop_after);
            break;
        case 's':
            if (a->nover == MAX_OVERRIDES) {
                fprintf(stderr, "pesim train: more than %d overrides\n", MAX_OVERRIDES);
                return EXIT_USAGE;
            }
            a->overrides[a->nover++] = optarg;
            break;
        case 'h':
            fputs(train_usage, stdout);
            return EXIT_OK;
        default:
            fputs(train_usage, stderr);
            return EXIT_USAGE;
        }
    }
    if (!ok) return EXIT_USAGE;
    if (optind + 1 != argc || !a->data || !a->out) {
        fprintf(stderr, "pesim train: need NET.ini, --data and --out\n%s", train_usage);
        return EXIT_USAGE;
    }
    if (a->resume && a->force) {
        fprintf(stderr, "pesim train: --resume and --force exclude each other\n");
        return EXIT_USAGE;
    }
    a->net_file = argv[optind];
    if (a->joint_epochs < 0) a->joint_epochs = a->epochs;
    if (a->joint_lr < 0) a->joint_lr = a->lr;
    if (a->epochs + a->joint_epochs < 1) {
        fprintf(stderr, "pesim train: --epochs and --joint-epochs are both 0\n");
        return EXIT_USAGE;
    }
    return -1;
}

/* The network of NET.ini's [network] section with -s overrides; NULL (message printed). */
static net *build_net(const train_args *a)
{
    int status;
    char *files[] = {(char *)a->net_file};
    cfg *c = load_config(1, files, a->overrides, a->nover, false, &status);
    if (!c) return NULL;
    long long dims[3];
    cfg_shape(c, "network", "input", dims);
    net *n = NULL;
    char err[ERR_LEN];
    if (net_build(&n, cfg_get(c, "network", "arch"), cfg_real(c, "network", "width"), (int)dims[0],
                  (int)dims[1], (int)dims[2], (int)cfg_int(c, "network", "classes"), err,
                  sizeof err))
        fprintf(stderr, "%s: [network] %s\n", a->net_file, err);
    cfg_free(c);
    return n;
}

/* The command line as one string, for provenance. */
static void join_args(int argc, char **argv, char *buf, size_t len)
{
    size_t used = (size_t)snprintf(buf, len, "pesim");
    for (int i = 0; i < argc && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, " %s", argv[i]);
}

int cmd_train(int argc, char **argv)
{
    train_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0) return rc;
    const data_info *info = data_find(a.data);
    if (!info) {
        fprintf(stderr, "pesim train: unknown dataset '%s' (fashion-mnist or mnist)\n", a.data);
        return EXIT_USAGE;
    }
    if (!a.resume && !a.force && access(a.out, F_OK) == 0) {
        fprintf(stderr,
                "pesim train: %s exists (--resume continues its checkpoint, --force "
                "overwrites it)\n",
                a.out);
        return EXIT_INPUT;
    }
    if (a.threads > 0) openblas_set_num_threads((int)a.threads);
    net *n = build_net(&a);
    if (!n) return EXIT_INPUT;
    const char *dir = a.data_dir ? a.data_dir : info->default_dir ? NULL : MNIST_DEFAULT_DIR;
    data_set train = {0}, test = {0}, train_v, test_v;
    char err[ERR_LEN], command[CMD_MAX];
    net_shape in = net_input(n);
    if (data_load(&train, a.data, "train", dir, in.h, err, sizeof err) ||
        data_load(&test, a.data, "test", dir, in.h, err, sizeof err)) {
        fprintf(stderr, "pesim: %s\n", err);
        rc = EXIT_INPUT;
        goto done;
    }
    const data_set *tr = &train, *te = &test;
    if (a.limit > 0 && (size_t)a.limit < train.n) {
        data_subset(&train, 0, (size_t)a.limit, &train_v, err, sizeof err);
        tr = &train_v;
    }
    if (a.test_limit > 0 && (size_t)a.test_limit < test.n) {
        data_subset(&test, 0, (size_t)a.test_limit, &test_v, err, sizeof err);
        te = &test_v;
    }
    join_args(argc, argv, command, sizeof command);
    train_opts o = {
        .train = tr,
        .test = te,
        .dataset = a.data,
        .epochs_backbone = (int)a.epochs,
        .epochs_joint = (int)a.joint_epochs,
        .lr_backbone = (float)a.lr,
        .lr_joint = (float)a.joint_lr,
        .weight_decay = (float)a.wd,
        .batch = (int)a.batch,
        .seed = (uint64_t)a.seed,
        .flip = a.flip >= 0 ? a.flip == 1 : strcmp(a.data, "mnist") != 0,
        .threshold_images = DEFAULT_THRESH_IMGS,
        .out = a.out,
        .resume = a.resume,
        .stop_after = (int)a.stop_after,
        .shift_px = (int)a.shift,
        .command = command,
        .progress = stderr,
        .progress_tty = isatty(fileno(stderr)),
    };
    fprintf(stderr,
            "training %s on %s (%zu images, %zu test), %d+%d epochs, batch %d, %d BLAS "
            "thread(s)\n",
            a.net_file, a.data, tr->n, te->n, o.epochs_backbone, o.epochs_joint, o.batch,
            openblas_get_num_threads());
    rc = train_run(n, &o, err, sizeof err);
    if (rc) {
        fprintf(stderr, "pesim: %s\n", err);
        rc = rc == TRAIN_ENOMEM ? EXIT_INTERNAL : EXIT_INPUT;
    } else if (a.stop_after > 0 && a.stop_after < a.epochs + a.joint_epochs) {
        printf("stopped after %lld epochs; checkpoint in %s (continue with --resume)\n",
               a.stop_after, a.out);
    } else {
        printf("wrote %s\n", a.out);
    }
done:
    data_free(&train);
    data_free(&test);
    net_free(n);
    return rc;
}
