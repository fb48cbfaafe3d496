/* Benchmarks printed by `pesim bench`: each figure next to the bare ceiling measured in the same
 * run, so the numbers can be compared across machines. */
#ifndef PESIM_BENCH_H
#define PESIM_BENCH_H

#include <stdio.h>

/* Event-queue throughput: pesim's des_queue/des_sim with its real 32-byte event against a bare
 * binary heap of 16-byte events, at several numbers of pending events. Prints a table to out.
 * Each measurement runs for at least min_seconds. 0 ok, negative on error. */
int bench_des(FILE *out, double min_seconds);

/* Result-database throughput: db_add_inference rows/s, rows inserted directly and staged (one
 * INSERT ... SELECT per batch, as runs write), against a bare prepared INSERT loop of a 16-column
 * row in one transaction, all on fresh files in dir. 0 ok, negative on error. */
int bench_db(FILE *out, const char *dir, double min_seconds);

/* Remove a scratch database and its side files (-wal, -shm, -journal); missing ones are fine. */
void bench_remove_db(const char *path);

/* Trace-driven run throughput: a synthetic VGG-19 trace replayed through the predictive policy
 * with the accelerator model on, at each [experiment] log level, into fresh databases in dir;
 * simulated inferences/s. 0 ok, negative on error. */
int bench_trace(FILE *out, const char *dir, double min_seconds);

/* Write the synthetic trace of bench_trace (samples samples of network n, 10 classes, exits
 * growing confident with depth) to path. 0 ok, negative on error (message on stderr). */
struct net;
int bench_write_trace(const char *path, const struct net *n, int samples);

/* Sweep throughput: pesim sweep of a 24-point config on a synthetic trace with 1 and with 2
 * worker processes into fresh databases in dir; points/s and simulated inferences/s. Lives in
 * the pesim binary (it runs cmd_sweep). 0 ok, negative on error. */
int bench_sweep(FILE *out, const char *dir);

#endif
