/* Sweep throughput (pesim bench sweep): the synthetic VGG-19 trace of pesim bench trace swept
 * over 4 policies x 6 values of beta (24 points of BS_SAMPLES inferences, log = evals, paper
 * governor) by pesim sweep itself, with 1 and with 2 worker processes, each into a fresh result
 * database: points/s and simulated inferences/s. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "cmds.h"
#include "net.h"
#include "util.h"

enum { BS_TRACE_SAMPLES = 5000, BS_SAMPLES = 5000, BS_POINTS = 24, BS_PATH = 512, BS_CLASSES = 10 };

/* The sweep config: every point on the trace at trace_path into db_path. 0 ok. */
static int write_config(const char *ini, const char *trace_path, const char *db_path)
{
    FILE *f = fopen(ini, "w");
    if (!f) return -1;
    fprintf(f,
            "[experiment]\ntrace = %s\nout = %s\nlog = evals\nsamples = %d\n"
            "[dvfs]\ngovernor = paper\n"
            "[sweep]\nexit.policy = passive, predictive, predictive_single, oracle\n"
            "exit.beta = 0.8, 1.0, 1.2, 1.4, 1.6, 1.8\n",
            trace_path, db_path, BS_SAMPLES);
    return fclose(f) ? -1 : 0;
}

/* Run the sweep with jobs workers into a fresh database; wall seconds, or < 0. */
static double one_sweep(const char *ini, const char *db_path, int jobs)
{
    bench_remove_db(db_path);
    char j[16];
    snprintf(j, sizeof j, "%d", jobs);
    char *argv[] = {"sweep", "-q", "-j", j, (char *)ini, NULL};
    fflush(stdout);
    double t0 = util_now_s();
    int rc = cmd_sweep(5, argv);
    double s = util_now_s() - t0;
    bench_remove_db(db_path);
    return rc ? -1 : s;
}

int bench_sweep(FILE *out, const char *dir)
{
    char tmp[BS_PATH], trace_path[BS_PATH + 16], db_path[BS_PATH + 16], ini[BS_PATH + 16];
    char err[BS_PATH];
    if (snprintf(tmp, sizeof tmp, "%s/pesim-bench-sweep-XXXXXX", dir) >= (int)sizeof tmp ||
        !mkdtemp(tmp))
        return -1;
    snprintf(trace_path, sizeof trace_path, "%s/t.trace", tmp);
    snprintf(db_path, sizeof db_path, "%s/s.db", tmp);
    snprintf(ini, sizeof ini, "%s/s.ini", tmp);
    net *n = NULL;
    int rc = net_build(&n, "vgg19", 0.25, 32, 32, 1, BS_CLASSES, err, sizeof err) ? -1 : 0;
    if (!rc) rc = bench_write_trace(trace_path, n, BS_TRACE_SAMPLES);
    if (!rc) rc = write_config(ini, trace_path, db_path);
    if (!rc)
        fprintf(out,
                "sweeps: pesim sweep of %d points (4 policies x 6 beta) of %d synthetic VGG-19 "
                "(width 1/4) samples, log = evals, fresh database each\n"
                "  %-8s %10s %10s %14s %8s\n",
                BS_POINTS, BS_SAMPLES, "workers", "seconds", "points/s", "inferences/s", "speedup");
    double base = 0;
    for (int jobs = 1; !rc && jobs <= 2; jobs++) {
        double s = one_sweep(ini, db_path, jobs);
        if (s <= 0) {
            fprintf(stderr, "pesim bench sweep: the sweep with %d worker(s) failed\n", jobs);
            rc = -1;
            break;
        }
        if (jobs == 1) base = s;
        fprintf(out, "  %-8d %10.2f %10.1f %14.0f %7.2fx\n", jobs, s, BS_POINTS / s,
                (double)BS_POINTS * BS_SAMPLES / s, base / s);
    }
    unlink(ini);
    unlink(trace_path);
    rmdir(tmp);
    net_free(n);
    return rc;
}
