/* pesim report: regenerate the paper's figures and the headline table from result databases by
 * running analysis/report.py (Debian python3 with python3-matplotlib) and passing its exit status
 * through. The analysis folder is $PESIM_ANALYSIS_DIR, else the source tree's analysis/ recorded
 * at compile time; the interpreter is $PESIM_PYTHON, else /usr/bin/python3. */
#include "cmds.h"

#include <errno.h>
#include <getopt.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef PESIM_SOURCE_DIR
#define PESIM_SOURCE_DIR "."
#endif
#define REPORT_PYTHON     "/usr/bin/python3"
#define REPORT_SCRIPT     "report.py"
#define REPORT_EXTRA_ARGS 16 /* interpreter, script, options and their values, terminator */

extern char **environ;

const char report_usage[] =
    "usage: pesim report [--out DIR] [--acc-tol POINTS] [--miss-tol FRACTION] DB...\n"
    "\n"
    "Read one or more result databases (e.g. results/paper-*.db written by the sweeps of\n"
    "configs/paper/) and write the paper's figures as PNG files and report.html (the figures\n"
    "and the headline table of computation reduction and energy saving at equal accuracy and\n"
    "latency) into DIR. Runs are grouped by network and dataset; every group gets its own\n"
    "figures. The figures and the selection rule are described in docs/figures.md.\n"
    "\n"
    "  --out DIR             output folder, created if missing (default: report)\n"
    "  --acc-tol POINTS      equal accuracy: at most this many percentage points below the\n"
    "                        classic network (default 0.5)\n"
    "  --miss-tol FRACTION   equal latency: at most this share of deadline misses (default 0.01)\n"
    "  -h, --help            this help\n"
    "\n"
    "Runs /usr/bin/python3 (or $PESIM_PYTHON) on report.py in $PESIM_ANALYSIS_DIR, else in\n"
    "the analysis/ folder of the sources pesim was built from. Needs the Debian packages\n"
    "python3 and python3-matplotlib.\n"
    "\n"
    "Exit status: that of report.py: 0 ok, 1 bad input (a database that is missing or not a\n"
    "pesim result database, no finished runs, python or matplotlib missing), 2 usage error,\n"
    "3 internal error.\n";

/* The folder that holds report.py: $PESIM_ANALYSIS_DIR, else the compile-time source tree's. */
static const char *analysis_dir(char *buf, size_t len)
{
    const char *env = getenv("PESIM_ANALYSIS_DIR");
    if (env && *env) return env;
    snprintf(buf, len, "%s/analysis", PESIM_SOURCE_DIR);
    return buf;
}

static bool is_executable_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

int cmd_report(int argc, char **argv)
{
    enum { OPT_ACC = 256, OPT_MISS };
    static const struct option opts[] = {{"out", required_argument, NULL, 'o'},
                                         {"acc-tol", required_argument, NULL, OPT_ACC},
                                         {"miss-tol", required_argument, NULL, OPT_MISS},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *out = "report", *acc_tol = NULL, *miss_tol = NULL;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'o':
            out = optarg;
            break;
        case OPT_ACC:
            acc_tol = optarg;
            break;
        case OPT_MISS:
            miss_tol = optarg;
            break;
        case 'h':
            fputs(report_usage, stdout);
            return EXIT_OK;
        default:
            fputs(report_usage, stderr);
            return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "pesim report: no result database given\n%s", report_usage);
        return EXIT_USAGE;
    }
    if (!*out) {
        fprintf(stderr, "pesim report: --out needs a folder name\n");
        return EXIT_USAGE;
    }

    const char *python = getenv("PESIM_PYTHON");
    if (!python || !*python) python = REPORT_PYTHON;
    if (!is_executable_file(python)) {
        fprintf(stderr,
                "pesim report: %s not found; install the Debian packages python3 and "
                "python3-matplotlib (apt-get install python3-matplotlib)\n",
                python);
        return EXIT_INPUT;
    }
    char dirbuf[4096];
    const char *dir = analysis_dir(dirbuf, sizeof dirbuf);
    size_t slen = strlen(dir) + 1 + strlen(REPORT_SCRIPT) + 1;
    char *script = malloc(slen);
    if (!script) return EXIT_INTERNAL;
    snprintf(script, slen, "%s/%s", dir, REPORT_SCRIPT);
    if (access(script, R_OK) != 0) {
        fprintf(stderr,
                "pesim report: %s: %s (set PESIM_ANALYSIS_DIR to the analysis/ folder of the "
                "pesim sources)\n",
                script, strerror(errno));
        free(script);
        return EXIT_INPUT;
    }

    int ndb = argc - optind;
    char **args = calloc((size_t)ndb + REPORT_EXTRA_ARGS, sizeof *args);
    if (!args) {
        free(script);
        return EXIT_INTERNAL;
    }
    int n = 0;
    args[n++] = (char *)python;
    args[n++] = script;
    for (int i = 0; i < ndb; i++) args[n++] = argv[optind + i];
    args[n++] = "--out";
    args[n++] = (char *)out;
    if (acc_tol) {
        args[n++] = "--acc-tol";
        args[n++] = (char *)acc_tol;
    }
    if (miss_tol) {
        args[n++] = "--miss-tol";
        args[n++] = (char *)miss_tol;
    }
    args[n] = NULL;

    fflush(stdout);
    fflush(stderr);
    pid_t pid;
    int rc = posix_spawn(&pid, python, NULL, NULL, args, environ);
    free(args);
    if (rc != 0) {
        fprintf(stderr, "pesim report: cannot run %s: %s\n", python, strerror(rc));
        free(script);
        return EXIT_INPUT;
    }
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            fprintf(stderr, "pesim report: waiting for %s: %s\n", script, strerror(errno));
            free(script);
            return EXIT_INTERNAL;
        }
    }
    int result;
    if (WIFEXITED(status)) {
        result = WEXITSTATUS(status);
    } else {
        fprintf(stderr, "pesim report: %s was killed by signal %d\n", script,
                WIFSIGNALED(status) ? WTERMSIG(status) : 0);
        result = EXIT_INTERNAL;
    }
    free(script);
    return result;
}
