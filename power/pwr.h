/* Power and energy model (DESIGN section 5): energy per action at a reference voltage, scaled by
 * (V/V_ref)^2 for core-domain actions (MAC, SRAM byte, global-buffer byte, vector op, NoC byte,
 * control op), DRAM energy per byte unscaled, static power per OPP growing as
 * (V/V_ref)^static_v_exponent, and a power-gated floor. Plus a GSL nonlinear least-squares fit of
 * C_eff and leakage to a measured power-per-OPP table. */
#ifndef PESIM_PWR_H
#define PESIM_PWR_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum pwr_status { PWR_OK = 0, PWR_EARG = -1, PWR_EFIT = -2, PWR_EIO = -3, PWR_EFORMAT = -4 };

/* The [power] section of a config (units in the names). */
typedef struct pwr_params {
    double v_ref_v;
    double mac_pj, sram_pj_per_byte, gbuf_pj_per_byte, vector_op_pj, noc_pj_per_byte;
    double dram_pj_per_byte; /* not voltage-scaled */
    double ctrl_op_pj;       /* control processor; scaled like the core domain */
    double static_mw;        /* compute-domain static power at v_ref */
    double static_v_exponent;
    double gated_mw; /* power-gated compute domain */
} pwr_params;

/* Actions a piece of work performs. */
typedef struct pwr_counts {
    uint64_t macs, sram_bytes, gbuf_bytes, noc_bytes, dram_bytes, vector_ops, ctrl_ops;
} pwr_counts;

/* Energy of a piece of work by part (nJ); the parts sum to total_nj. */
typedef struct pwr_energy {
    double compute_nj; /* MACs, vector ops and control ops */
    double memory_nj;  /* SRAM, global buffer, NoC and DRAM bytes */
    double dram_nj;    /* the DRAM part of memory_nj */
    double static_nj;  /* static power over the work's duration */
    double total_nj;
} pwr_energy;

/* (vdd_v / v_ref_v)^2. */
double pwr_dyn_scale(const pwr_params *p, double vdd_v);
/* Static power (mW) of the compute domain at vdd_v: static_mw · (vdd_v / v_ref_v)^exponent. */
double pwr_static_mw(const pwr_params *p, double vdd_v);
/* Energy of counts at vdd_v lasting time_ns (static part = pwr_static_mw · time). */
pwr_energy pwr_energy_of(const pwr_params *p, const pwr_counts *c, double vdd_v, double time_ns);
/* Energy (nJ) of time_ns of idling at vdd_v (static only), or power-gated when gated is true. */
double pwr_idle_nj(const pwr_params *p, double vdd_v, double time_ns, int gated);

/* Fit P(f, V) = c_eff_nf · V² · f_MHz + leak_mw · (V / v_ref)^exponent (mW; nF·V²·MHz = mW) to
 * n >= 3 measured points (freq_mhz, vdd_v, power_mw) with GSL's nonlinear least squares (the
 * exponent is fitted too, from the best local minima of a grid over [0, 10]). Results: C_eff
 * (nF), leakage at v_ref (mW), exponent and the RMS residual (mW). PWR_OK or PWR_EFIT /
 * PWR_EARG with a message in err. */
typedef struct pwr_fit_result {
    double c_eff_nf, leak_mw, exponent, rms_mw;
    int iterations;
} pwr_fit_result;
int pwr_fit(const double *freq_mhz, const double *vdd_v, const double *power_mw, int n,
            double v_ref_v, pwr_fit_result *out, char *err, size_t errlen);
/* Read a measured power table CSV "freq_mhz,vdd_v,power_mw" (header line first) into malloc'ed
 * arrays. PWR_OK or a negative status with "FILE:LINE: message". */
int pwr_read_csv(const char *path, double **freq_mhz, double **vdd_v, double **power_mw, int *n,
                 char *err, size_t errlen);

#endif /* PESIM_PWR_H */
