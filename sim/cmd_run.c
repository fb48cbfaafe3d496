/* pesim run: validate a config and run its experiment into the result database. */
#include "cmds.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"
#include "pesim_version.h"
#include "run.h"

static const double PERCENT = 100.0;

const char run_usage[] =
    "usage: pesim run [-s SECTION.KEY=VALUE]... [--force] [-q] CONFIG...\n"
    "\n"
    "Run the experiment a config describes (later files override earlier ones): the samples of\n"
    "[experiment] through the exit policy of [exit], from a model file (functional: the engine\n"
    "computes layers and exit heads as the policy asks) or from a logit trace (trace-driven;\n"
    "the same rows, much faster). Every inference and every exit evaluation goes into the\n"
    "result database [experiment] out, in transactions, under a run keyed by the SHA-256 of\n"
    "the effective config: a finished run is skipped, a killed one is redone.\n"
    "\n"
    "  -s, --set SECTION.KEY=VALUE  override one parameter (repeatable)\n"
    "  --force                      redo the run even when it is already done\n"
    "  --full-des                   re-simulate every layer of every inference at tile level\n"
    "                               instead of reusing the per-layer table (same results)\n"
    "  -q, --quiet                  no progress or summary\n"
    "  -h, --help                   this help\n"
    "\n"
    "Query the result with SQL, e.g.\n"
    "  sqlite3 results/default.db 'SELECT * FROM run_summary'\n";

int cmd_run(int argc, char **argv)
{
    enum { OPT_FORCE = 256, OPT_FULL_DES };
    static const struct option opts[] = {{"set", required_argument, NULL, 's'},
                                         {"force", no_argument, NULL, OPT_FORCE},
                                         {"full-des", no_argument, NULL, OPT_FULL_DES},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *overrides[MAX_OVERRIDES];
    int nover = 0, ch;
    bool quiet = false, force = false, full_des = false;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "s:qh", opts, NULL)) != -1) {
        if (ch == 's' && nover < MAX_OVERRIDES)
            overrides[nover++] = optarg;
        else if (ch == 'q')
            quiet = true;
        else if (ch == OPT_FORCE)
            force = true;
        else if (ch == OPT_FULL_DES)
            full_des = true;
        else if (ch == 'h')
            return fputs(run_usage, stdout), EXIT_OK;
        else
            return fputs(run_usage, stderr), EXIT_USAGE;
    }
    if (optind >= argc) {
        fprintf(stderr, "pesim run: no config file given\n%s", run_usage);
        return EXIT_USAGE;
    }
    int status;
    cfg *c = load_config(argc - optind, argv + optind, overrides, nover, true, &status);
    if (!c) return status;
    const char *model = cfg_get(c, "experiment", "model"),
               *trace = cfg_get(c, "experiment", "trace");
    if ((!model || !*model) && (!trace || !*trace)) {
        fprintf(stderr, "%s: [experiment] needs a model or a trace to run\n", argv[optind]);
        cfg_free(c);
        return EXIT_INPUT;
    }
    run_opts o = {.force = force,
                  .full_des = full_des,
                  .progress = quiet ? NULL : stderr,
                  .progress_tty = isatty(fileno(stderr)),
                  .version = PESIM_VERSION};
    run_stats st;
    char err[ERR_LEN] = "";
    int rc = run_config(c, &o, &st, err, sizeof err);
    const char *out = cfg_get(c, "experiment", "out");
    if (rc) {
        fprintf(stderr, "pesim: %s\n", err);
        cfg_free(c);
        return rc == RUN_EINTERNAL ? EXIT_INTERNAL : EXIT_INPUT;
    }
    if (!quiet && st.outcome == DB_RUN_SKIPPED) {
        printf("run %lld in %s is already done (--force redoes it)\n", (long long)st.run_id, out);
    } else if (!quiet) {
        printf("run %lld -> %s: %zu samples in %.2f s (%.0f inferences/s)%s\n",
               (long long)st.run_id, out, st.samples, st.seconds,
               st.seconds > 0 ? (double)st.samples / st.seconds : 0.0,
               st.outcome == DB_RUN_REDO     ? ", redone after an interrupted run"
               : st.outcome == DB_RUN_FORCED ? ", forced"
                                             : "");
        printf("accuracy %.2f%%, ", PERCENT * st.accuracy);
        if (isnan(st.rel_computation))
            printf("computation unknown (no MAC counts)");
        else
            printf("computation %.2f%% of the classic network", PERCENT * st.rel_computation);
        printf(", %.2f exits evaluated per sample", st.exit_evals);
        if (!isnan(st.hit_rate)) printf(", prediction hit rate %.2f%%", PERCENT * st.hit_rate);
        printf("\n");
        if (!isnan(st.mean_energy_nj))
            printf("latency %.1f us, energy %.2f uJ per inference (%.2f%% of the classic network "
                   "at f_max), %zu deadline misses\n",
                   st.mean_latency_ns * 1e-3, st.mean_energy_nj * 1e-3, PERCENT * st.rel_energy,
                   st.deadline_misses);
    }
    cfg_free(c);
    return EXIT_OK;
}
