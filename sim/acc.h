/* The many-core accelerator (DESIGN section 5): `cores` cores, each a pe_rows × pe_cols
 * output-stationary MAC array with local SRAM and a vector unit, a shared global buffer, DRAM on
 * its own clock, a control processor. Every backbone op and exit head is simulated once per OPP
 * at tile level with the event core (des.h) into a per-layer cost table that runs then reuse:
 * a layer's time and energy at one OPP do not depend on the sample, and governors switch only
 * between layers.
 *
 * Timing model (documented in acc.c next to each formula):
 * - A conv or FC is a GEMM in the im2col view: M output pixels × N output channels × K =
 *   C_in·kh·kw, cut into tiles (M_t × N_t, the whole K) that fit half the SRAM (double
 *   buffering), dealt round-robin to the cores. Per tile: DMA-in (its input rows and weights),
 *   compute, DMA-out; a core computes tile i while tile i+1 is loaded. Compute cycles per tile:
 *   ceil(M_t/rows)·ceil(N_t/cols) folds of (K + rows + cols − 2) cycles each (output-stationary
 *   systolic array: K accumulations plus the fill and drain skew). Cycles take 1/f of the OPP.
 * - DMA goes through one DRAM channel of dram_bytes_per_ns (FIFO; independent of the OPP) for
 *   weights, the network input, and activations that do not fit the global buffer; else through
 *   the NoC at noc_bytes_per_cycle per compute cycle (scales with the OPP).
 * - BN, ReLU, pooling, residual adds and the BoF activation/normalisation/pooling run on the
 *   vector units: ceil(ops / (cores·vector_lanes)) cycles.
 * - The predictor and the governor run on the control processor at ctrl_mhz, one op a cycle,
 *   at v_ref (not scaled by the OPP).
 * Elements are ACC_BYTES_PER_ELEM bytes (16-bit). */
#ifndef PESIM_ACC_H
#define PESIM_ACC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "net.h"
#include "opp.h"
#include "pwr.h"

enum acc_status { ACC_OK = 0, ACC_EARG = -1, ACC_ENOMEM = -2, ACC_EIO = -3, ACC_EFORMAT = -4 };

#define ACC_BYTES_PER_ELEM 2

/* The [accelerator] section. */
typedef struct acc_config {
    int cores, pe_rows, pe_cols;
    int sram_kib, gbuf_kib;
    double dram_bytes_per_ns;
    double noc_bytes_per_cycle;
    int vector_lanes;
    double ctrl_mhz;
} acc_config;

/* Cost of one op (or exit head) at one OPP. */
typedef struct acc_cost {
    uint64_t cycles;   /* compute-domain cycles from start to end (time_ns · f) */
    double time_ns;    /* latency of the op */
    double compute_ns; /* time the MAC arrays / vector units were busy (max over cores) */
    double dram_ns;    /* time the DRAM channel was busy */
    pwr_counts counts; /* actions performed */
    pwr_energy energy; /* dynamic and static energy at the OPP over time_ns */
} acc_cost;

/* 0 ok, ACC_EARG with "[accelerator] key = value: why" in err. */
int acc_config_check(const acc_config *a, char *err, size_t errlen);

/* Tile-level simulation of backbone op `op` (exit < 0) or of exit head `exit` (op ignored) of n
 * at level lv, with the event core. Deterministic; the table caches exactly these results.
 * ACC_OK or a negative status. events (may be NULL) gets the DES events processed. */
int acc_simulate(const acc_config *a, const net *n, int op, int exit, const opp_level *lv,
                 const pwr_params *p, acc_cost *out, uint64_t *events);

typedef struct acc_table acc_table;

/* Simulates every backbone op and every exit head of n at every level of o. ACC_OK or a
 * negative status with a message in err. */
int acc_table_build(const acc_config *a, const net *n, const opp_table *o, const pwr_params *p,
                    acc_table **out, char *err, size_t errlen);
/* A table from given costs (op-major: ops[op·levels + level], heads[exit·levels + level]),
 * e.g. imported measurements; ctrl_mhz and p price the control processor. */
int acc_table_from_costs(const net *n, const opp_table *o, const pwr_params *p, double ctrl_mhz,
                         const acc_cost *ops, const acc_cost *heads, acc_table **out, char *err,
                         size_t errlen);
/* A measured table from CSV "kind,index,level,time_ns,dynamic_nj,static_nj" (kind op|head,
 * index the op or exit index; every (kind, index, level) exactly once). */
int acc_table_import_csv(const char *path, const net *n, const opp_table *o, const pwr_params *p,
                         double ctrl_mhz, acc_table **out, char *err, size_t errlen);
void acc_table_free(acc_table *t);

const acc_cost *acc_op(const acc_table *t, int op, int level);     /* NULL when out of range */
const acc_cost *acc_head(const acc_table *t, int exit, int level); /* NULL when out of range */
/* Control-processor work of `ops` operations: time and energy (at v_ref). */
acc_cost acc_ctrl(const acc_table *t, uint64_t ops);
int acc_levels(const acc_table *t);
uint64_t acc_build_events(const acc_table *t); /* DES events spent building the table */

/* Print the table: per op and head, per level, cycles, ns, dynamic nJ, static nJ; or as CSV in
 * acc_table_import_csv's format. */
int acc_table_print(const acc_table *t, FILE *out, bool csv);

#endif /* PESIM_ACC_H */
