/* Operating-point (OPP) tables of the compute clock domain (DESIGN section 5): frequency/voltage
 * pairs in ascending frequency, with the cost of one switch, loaded from INI files in
 * configs/opp/ or built in (a generic accelerator ladder).
 *
 * File format (INI, validated; errors are "FILE:LINE: message"):
 *   [table]
 *   name = jetson-tx2-gpu          ; required
 *   transition_us = 100            ; latency of one switch (>= 0)
 *   transition_nj = 0              ; energy of one switch (>= 0)
 *   voltage_source = assumed       ; assumed | measured | device-tree (documentation)
 *   [levels]
 *   114.75 = 0.700                 ; freq_mhz = vdd_v, one line per level, any order
 * Frequencies must be distinct and > 0, voltages in (0, 5]; a higher frequency may not have a
 * lower voltage. At least 1 and at most OPP_MAX_LEVELS levels. */
#ifndef PESIM_OPP_H
#define PESIM_OPP_H

#include <stddef.h>
#include <stdio.h>

enum opp_status { OPP_OK = 0, OPP_EARG = -1, OPP_ENOMEM = -2, OPP_EIO = -3, OPP_EFORMAT = -4 };

#define OPP_MAX_LEVELS 256
#define OPP_NAME_MAX   64

typedef struct opp_level {
    double freq_mhz;
    double vdd_v;
} opp_level;

typedef struct opp_table {
    char name[OPP_NAME_MAX];
    char voltage_source[OPP_NAME_MAX]; /* "assumed", "measured", "device-tree" */
    int n;                             /* levels */
    opp_level levels[OPP_MAX_LEVELS];  /* ascending frequency; index 0 is the slowest */
    double transition_ns;              /* latency of one switch */
    double transition_nj;              /* energy of one switch */
} opp_table;

/* Load a table from an INI file into *out. 0 ok, else a negative opp_status with a one-line
 * "FILE:LINE: message" (or "FILE: message") in err. */
int opp_load(const char *path, opp_table *out, char *err, size_t errlen);
/* The built-in generic accelerator ladder (used when [dvfs] opp_table is empty): 8 levels from
 * 200 to 1000 MHz, 0.60 to 1.00 V (assumed), 10 µs and 0 nJ per switch. */
void opp_generic(opp_table *out);
/* Index of the level whose frequency is nearest freq_mhz (ties: the faster). */
int opp_nearest(const opp_table *t, double freq_mhz);
/* Index of the slowest level with frequency >= freq_mhz; the fastest when none is. */
int opp_at_least(const opp_table *t, double freq_mhz);
/* Print the table (index, MHz, V) to out. */
void opp_print(const opp_table *t, FILE *out);

#endif /* PESIM_OPP_H */
