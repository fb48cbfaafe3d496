/* Power and energy model (DESIGN section 5): per-action energies scaled by (V/V_ref)^2, unscaled
 * DRAM energy, voltage-dependent static power, the power-gated floor, a GSL nonlinear
 * least-squares fit of C_eff and leakage to measured power, and the measured-power CSV reader. */
#include "pwr.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_errno.h>
#include <gsl/gsl_multifit_nlinear.h>
#include <gsl/gsl_vector.h>

#define NJ_PER_PJ    1e-3 /* 1 pJ = 1e-3 nJ */
#define NJ_PER_MW_NS 1e-3 /* 1 mW x 1 ns = 1e-12 J = 1e-3 nJ */

/* ---- energy ---- */

double pwr_dyn_scale(const pwr_params *p, double vdd_v)
{
    double r = vdd_v / p->v_ref_v;
    return r * r;
}

double pwr_static_mw(const pwr_params *p, double vdd_v)
{
    return p->static_mw * pow(vdd_v / p->v_ref_v, p->static_v_exponent);
}

/* E = (V/V_ref)^2 * E_ref per core-domain action (CMOS switching energy C V^2; Horowitz, ISSCC
 * 2014, for the per-action numbers at V_ref), DRAM per byte unscaled, static P(V) * t. */
pwr_energy pwr_energy_of(const pwr_params *p, const pwr_counts *c, double vdd_v, double time_ns)
{
    pwr_energy e = {0};
    if (!p) return e;
    if (c) {
        double s = pwr_dyn_scale(p, vdd_v);
        double compute_pj = (double)c->macs * p->mac_pj + (double)c->vector_ops * p->vector_op_pj +
                            (double)c->ctrl_ops * p->ctrl_op_pj;
        double core_mem_pj = (double)c->sram_bytes * p->sram_pj_per_byte +
                             (double)c->gbuf_bytes * p->gbuf_pj_per_byte +
                             (double)c->noc_bytes * p->noc_pj_per_byte;
        double dram_pj = (double)c->dram_bytes * p->dram_pj_per_byte;
        e.compute_nj = s * compute_pj * NJ_PER_PJ;
        e.memory_nj = (s * core_mem_pj + dram_pj) * NJ_PER_PJ;
        e.dram_nj = dram_pj * NJ_PER_PJ;
    }
    e.static_nj = pwr_static_mw(p, vdd_v) * time_ns * NJ_PER_MW_NS;
    e.total_nj = e.compute_nj + e.memory_nj + e.static_nj;
    return e;
}

double pwr_idle_nj(const pwr_params *p, double vdd_v, double time_ns, int gated)
{
    double mw = gated ? p->gated_mw : pwr_static_mw(p, vdd_v);
    return mw * time_ns * NJ_PER_MW_NS;
}

/* ---- fit ---- */

__attribute__((format(printf, 3, 4))) static void set_err(char *err, size_t errlen, const char *fmt,
                                                          ...)
{
    if (!err || errlen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

enum { P_CEFF, P_LEAK, P_EXP, N_PARAMS };

#define FIT_MIN_POINTS N_PARAMS
#define FIT_EXP_MAX    10.0 /* [power] static_v_exponent takes [0, 10] */
#define FIT_EXP_SLACK  1e-9 /* an exponent this close outside [0, 10] is rounding: clamped */
#define FIT_GRID       1000 /* exponent grid steps over [0, FIT_EXP_MAX] for the starts */
#define FIT_STARTS     4    /* solver runs, from the best local minima on the grid */
#define FIT_MAX_ITER   200
#define FIT_XTOL       1e-12 /* relative step size at convergence */
#define FIT_GTOL       1e-12 /* scaled gradient at convergence */
#define FIT_FTOL       0.0   /* residual-change test off: stop on step or gradient */
#define FIT_SAME_V_REL 1e-9  /* voltages closer than this (relative) count as one */
#define FIT_DET_REL    1e-12 /* a 2x2 normal system below this relative determinant is singular */

typedef struct fit_data {
    const double *f, *v, *p;
    int n;
    double v_ref;
} fit_data;

/* P_i = c V_i^2 f_i + L (V_i/V_ref)^e: nF V^2 MHz = 1e-9 F V^2 1e6 /s = 1 mW. */
static double model_mw(const fit_data *d, int i, double c, double leak, double ex)
{
    return c * d->v[i] * d->v[i] * d->f[i] + leak * pow(d->v[i] / d->v_ref, ex);
}

static int fit_residual(const gsl_vector *x, void *data, gsl_vector *r)
{
    const fit_data *d = data;
    double c = gsl_vector_get(x, P_CEFF), l = gsl_vector_get(x, P_LEAK);
    double ex = gsl_vector_get(x, P_EXP);
    for (int i = 0; i < d->n; i++) gsl_vector_set(r, (size_t)i, model_mw(d, i, c, l, ex) - d->p[i]);
    return GSL_SUCCESS;
}

/* dP/dc = V^2 f, dP/dL = (V/V_ref)^e, dP/de = L (V/V_ref)^e ln(V/V_ref). */
static int fit_jacobian(const gsl_vector *x, void *data, gsl_matrix *j)
{
    const fit_data *d = data;
    double l = gsl_vector_get(x, P_LEAK), ex = gsl_vector_get(x, P_EXP);
    for (int i = 0; i < d->n; i++) {
        double ratio = d->v[i] / d->v_ref, g = pow(ratio, ex);
        gsl_matrix_set(j, (size_t)i, P_CEFF, d->v[i] * d->v[i] * d->f[i]);
        gsl_matrix_set(j, (size_t)i, P_LEAK, g);
        gsl_matrix_set(j, (size_t)i, P_EXP, l * g * log(ratio));
    }
    return GSL_SUCCESS;
}

static double sum_sq_mw(const fit_data *d, const double x[N_PARAMS])
{
    double ss = 0;
    for (int i = 0; i < d->n; i++) {
        double r = model_mw(d, i, x[P_CEFF], x[P_LEAK], x[P_EXP]) - d->p[i];
        ss += r * r;
    }
    return ss;
}

/* For a fixed exponent the model is linear in (c, L): solve the 2x2 normal equations into x and
 * return the residual sum of squares (HUGE_VAL when singular). */
static double fit_linear(const fit_data *d, double ex, double x[N_PARAMS])
{
    double saa = 0, sab = 0, sbb = 0, sap = 0, sbp = 0;
    for (int i = 0; i < d->n; i++) {
        double a = d->v[i] * d->v[i] * d->f[i], b = pow(d->v[i] / d->v_ref, ex);
        saa += a * a;
        sab += a * b;
        sbb += b * b;
        sap += a * d->p[i];
        sbp += b * d->p[i];
    }
    double det = saa * sbb - sab * sab;
    if (!(det > FIT_DET_REL * saa * sbb)) return HUGE_VAL;
    x[P_CEFF] = (sap * sbb - sbp * sab) / det;
    x[P_LEAK] = (saa * sbp - sab * sap) / det;
    x[P_EXP] = ex;
    return sum_sq_mw(d, x);
}

/* Starting points: the residual profiled over an exponent grid (c and L solved linearly at each
 * exponent: variable projection, Golub and Pereyra 1973) has several local minima when the
 * points lie near one V/f curve, so the solver starts from the FIT_STARTS lowest of them, best
 * first. Returns the count of starts. */
static int fit_starts(const fit_data *d, double starts[FIT_STARTS][N_PARAMS])
{
    const double step = FIT_EXP_MAX / FIT_GRID;
    double ss[FIT_GRID + 1], x[N_PARAMS];
    for (int k = 0; k <= FIT_GRID; k++) ss[k] = fit_linear(d, step * k, x);
    int best[FIT_STARTS], found = 0;
    for (int k = 0; k <= FIT_GRID; k++) {
        bool local_min = ss[k] < HUGE_VAL && (k == 0 || ss[k] <= ss[k - 1]) &&
                         (k == FIT_GRID || ss[k] < ss[k + 1]);
        if (!local_min) continue;
        int at = found; /* insertion into the sorted list of the best */
        while (at > 0 && ss[best[at - 1]] > ss[k]) {
            if (at < FIT_STARTS) best[at] = best[at - 1];
            at--;
        }
        if (at < FIT_STARTS) best[at] = k;
        if (found < FIT_STARTS) found++;
    }
    for (int i = 0; i < found; i++) fit_linear(d, step * best[i], starts[i]);
    return found;
}

/* PWR_OK, or PWR_EARG with the message, for points the fit cannot take. */
static int fit_check_input(const double *f, const double *v, const double *p, int n, double v_ref_v,
                           char *err, size_t errlen)
{
    if (n < FIT_MIN_POINTS) {
        set_err(err, errlen, "pwr_fit: %d points; the fit needs at least %d", n, FIT_MIN_POINTS);
        return PWR_EARG;
    }
    if (!isfinite(v_ref_v) || v_ref_v <= 0) {
        set_err(err, errlen, "pwr_fit: v_ref_v %g is not a number > 0", v_ref_v);
        return PWR_EARG;
    }
    for (int i = 0; i < n; i++) {
        if (!isfinite(f[i]) || !isfinite(v[i]) || !isfinite(p[i])) {
            set_err(err, errlen, "pwr_fit: point %d (%g MHz, %g V, %g mW) is not finite", i, f[i],
                    v[i], p[i]);
            return PWR_EARG;
        }
        if (f[i] <= 0 || v[i] <= 0 || p[i] < 0) {
            set_err(err, errlen,
                    "pwr_fit: point %d (%g MHz, %g V, %g mW) needs frequency > 0, voltage > 0 "
                    "and power >= 0",
                    i, f[i], v[i], p[i]);
            return PWR_EARG;
        }
    }
    return PWR_OK;
}

static bool two_voltages(const double *v, int n)
{
    for (int i = 1; i < n; i++)
        if (fabs(v[i] - v[0]) > FIT_SAME_V_REL * v[0]) return true;
    return false;
}

/* One trust-region Levenberg-Marquardt run from x (solution back in x); the GSL status. */
static int fit_solve(gsl_multifit_nlinear_workspace *w, gsl_multifit_nlinear_fdf *fdf,
                     double x[N_PARAMS], int *iterations)
{
    gsl_vector_view xv = gsl_vector_view_array(x, N_PARAMS);
    int info = 0;
    int status = gsl_multifit_nlinear_init(&xv.vector, fdf, w);
    if (status == GSL_SUCCESS)
        status = gsl_multifit_nlinear_driver(FIT_MAX_ITER, FIT_XTOL, FIT_GTOL, FIT_FTOL, NULL, NULL,
                                             &info, w);
    /* GSL gives up with EMAXITER when not one step lowers the cost from the start: then the
     * start itself is the minimum (an exact fit on the exponent grid). */
    if (status == GSL_EMAXITER && info == GSL_ENOPROG) status = GSL_SUCCESS;
    *iterations = (int)gsl_multifit_nlinear_niter(w);
    const gsl_vector *pos = gsl_multifit_nlinear_position(w);
    for (int k = 0; k < N_PARAMS; k++) x[k] = gsl_vector_get(pos, (size_t)k);
    return status;
}

/* Run the solver from every start; the best converged run (least residual) in *out. The GSL
 * status of that run, or of the last failure when none converged. */
static int fit_best(fit_data *d, double starts[FIT_STARTS][N_PARAMS], int n_starts,
                    pwr_fit_result *out)
{
    gsl_multifit_nlinear_parameters params = gsl_multifit_nlinear_default_parameters();
    params.trs = gsl_multifit_nlinear_trs_lm;
    gsl_multifit_nlinear_workspace *w =
        gsl_multifit_nlinear_alloc(gsl_multifit_nlinear_trust, &params, (size_t)d->n, N_PARAMS);
    if (!w) return GSL_ENOMEM;
    gsl_multifit_nlinear_fdf fdf = {.f = fit_residual,
                                    .df = fit_jacobian,
                                    .fvv = NULL,
                                    .n = (size_t)d->n,
                                    .p = N_PARAMS,
                                    .params = d};
    int best_status = GSL_FAILURE;
    double best_ss = HUGE_VAL;
    for (int s = 0; s < n_starts; s++) {
        double x[N_PARAMS];
        memcpy(x, starts[s], sizeof x);
        int iterations;
        int status = fit_solve(w, &fdf, x, &iterations);
        double ss = sum_sq_mw(d, x);
        bool better = status == GSL_SUCCESS ? best_status != GSL_SUCCESS || ss < best_ss
                                            : best_status != GSL_SUCCESS;
        if (!better) continue;
        best_status = status;
        best_ss = ss;
        *out = (pwr_fit_result){.c_eff_nf = x[P_CEFF],
                                .leak_mw = x[P_LEAK],
                                .exponent = x[P_EXP],
                                .rms_mw = sqrt(ss / d->n),
                                .iterations = iterations};
    }
    gsl_multifit_nlinear_free(w);
    return best_status;
}

int pwr_fit(const double *freq_mhz, const double *vdd_v, const double *power_mw, int n,
            double v_ref_v, pwr_fit_result *out, char *err, size_t errlen)
{
    if (!freq_mhz || !vdd_v || !power_mw || !out) {
        set_err(err, errlen, "pwr_fit: missing argument");
        return PWR_EARG;
    }
    int rc = fit_check_input(freq_mhz, vdd_v, power_mw, n, v_ref_v, err, errlen);
    if (rc) return rc;
    if (!two_voltages(vdd_v, n)) {
        set_err(err, errlen,
                "pwr_fit: all points have the same voltage; fitting the static exponent needs "
                "at least 2 distinct voltages");
        return PWR_EFIT;
    }
    fit_data d = {freq_mhz, vdd_v, power_mw, n, v_ref_v};
    double starts[FIT_STARTS][N_PARAMS];
    int n_starts = fit_starts(&d, starts);
    if (n_starts == 0) {
        set_err(err, errlen,
                "pwr_fit: the points cannot separate dynamic from static power (V^2 f and "
                "(V/V_ref)^e are proportional for every exponent)");
        return PWR_EFIT;
    }
    /* GSL's default handler aborts; a failed fit must come back as a status instead. */
    gsl_error_handler_t *old_handler = gsl_set_error_handler_off();
    *out = (pwr_fit_result){0};
    int status = fit_best(&d, starts, n_starts, out);
    gsl_set_error_handler(old_handler);

    if (status != GSL_SUCCESS) {
        set_err(err, errlen, "pwr_fit: no convergence (%s)", gsl_strerror(status));
        return PWR_EFIT;
    }
    if (!isfinite(out->c_eff_nf) || !isfinite(out->leak_mw) || !isfinite(out->exponent) ||
        !isfinite(out->rms_mw)) {
        set_err(err, errlen, "pwr_fit: the fit diverged (non-finite parameters)");
        return PWR_EFIT;
    }
    if (out->exponent < 0 && out->exponent > -FIT_EXP_SLACK) out->exponent = 0;
    if (out->exponent > FIT_EXP_MAX && out->exponent < FIT_EXP_MAX + FIT_EXP_SLACK)
        out->exponent = FIT_EXP_MAX;
    if (out->c_eff_nf < 0 || out->leak_mw < 0 || out->exponent < 0 || out->exponent > FIT_EXP_MAX) {
        set_err(err, errlen,
                "pwr_fit: the measurements do not follow the model: C_eff %g nF, leakage %g mW, "
                "exponent %g (need C_eff >= 0, leakage >= 0, exponent in [0, %g])",
                out->c_eff_nf, out->leak_mw, out->exponent, FIT_EXP_MAX);
        return PWR_EFIT;
    }
    return PWR_OK;
}

/* ---- measured power CSV ---- */

#define CSV_FIELDS    3
#define CSV_MAX_ROWS  1000000
#define CSV_MAX_VDD_V 5.0
static const char *const csv_names[CSV_FIELDS] = {"freq_mhz", "vdd_v", "power_mw"};
#define CSV_HEADER "freq_mhz,vdd_v,power_mw"

typedef struct csv_rows {
    double *col[CSV_FIELDS];
    int n, cap;
} csv_rows;

static void rows_free(csv_rows *r)
{
    for (int k = 0; k < CSV_FIELDS; k++) free(r->col[k]);
}

static bool rows_push(csv_rows *r, const double val[CSV_FIELDS])
{
    if (r->n == r->cap) {
        int cap = r->cap ? 2 * r->cap : 64;
        for (int k = 0; k < CSV_FIELDS; k++) {
            double *g = realloc(r->col[k], (size_t)cap * sizeof *g);
            if (!g) return false;
            r->col[k] = g;
        }
        r->cap = cap;
    }
    for (int k = 0; k < CSV_FIELDS; k++) r->col[k][r->n] = val[k];
    r->n++;
    return true;
}

/* Trim blanks at both ends in place. */
static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t')) s[--n] = '\0';
    return s;
}

/* Split s at commas into at most CSV_FIELDS trimmed fields; the count of fields found. */
static int split_fields(char *s, char *fields[CSV_FIELDS])
{
    int n = 0;
    for (char *tok = s;; n++) {
        char *comma = strchr(tok, ',');
        if (comma) *comma = '\0';
        if (n < CSV_FIELDS) fields[n] = trim(tok);
        if (!comma) return n + 1;
        tok = comma + 1;
    }
}

static bool csv_number(const char *s, double *out)
{
    if (!*s) return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*end || errno == ERANGE || !isfinite(v)) return false;
    *out = v;
    return true;
}

typedef struct csv_ctx {
    const char *path;
    int line;
    char *err;
    size_t errlen;
} csv_ctx;

/* Parse one data row; PWR_OK or PWR_EFORMAT with the message. */
static int csv_row(const csv_ctx *x, char *s, double val[CSV_FIELDS])
{
    char *fields[CSV_FIELDS];
    int nf = split_fields(s, fields);
    if (nf != CSV_FIELDS) {
        set_err(x->err, x->errlen, "%s:%d: %d fields; expected %d (" CSV_HEADER ")", x->path,
                x->line, nf, CSV_FIELDS);
        return PWR_EFORMAT;
    }
    for (int k = 0; k < CSV_FIELDS; k++)
        if (!csv_number(fields[k], &val[k])) {
            set_err(x->err, x->errlen, "%s:%d: %s '%s' is not a number", x->path, x->line,
                    csv_names[k], fields[k]);
            return PWR_EFORMAT;
        }
    if (val[0] <= 0) {
        set_err(x->err, x->errlen, "%s:%d: freq_mhz %g is not > 0", x->path, x->line, val[0]);
        return PWR_EFORMAT;
    }
    if (val[1] <= 0 || val[1] > CSV_MAX_VDD_V) {
        set_err(x->err, x->errlen, "%s:%d: vdd_v %g is outside (0, %g]", x->path, x->line, val[1],
                CSV_MAX_VDD_V);
        return PWR_EFORMAT;
    }
    if (val[2] < 0) {
        set_err(x->err, x->errlen, "%s:%d: power_mw %g is negative", x->path, x->line, val[2]);
        return PWR_EFORMAT;
    }
    return PWR_OK;
}

/* The header: the three column names in order. */
static int csv_header(const csv_ctx *x, char *s)
{
    enum { SHOWN = 60 }; /* characters of a wrong header quoted in the message */
    char shown[SHOWN + 4];
    snprintf(shown, sizeof shown, "%.*s%s", SHOWN, s, strlen(s) > SHOWN ? "..." : "");
    char *fields[CSV_FIELDS];
    int nf = split_fields(s, fields);
    bool ok = nf == CSV_FIELDS;
    for (int k = 0; ok && k < CSV_FIELDS; k++) ok = !strcmp(fields[k], csv_names[k]);
    if (ok) return PWR_OK;
    set_err(x->err, x->errlen, "%s:%d: expected the header '" CSV_HEADER "', got '%s'", x->path,
            x->line, shown);
    return PWR_EFORMAT;
}

/* Next line without its end-of-line; NULL at the end (or on a read error: see ferror). */
static char *next_line(FILE *f, char **buf, size_t *cap, size_t *len)
{
    ssize_t got = getline(buf, cap, f);
    if (got < 0) return NULL;
    size_t n = (size_t)got;
    if (n > 0 && (*buf)[n - 1] == '\n') n--;
    if (n > 0 && (*buf)[n - 1] == '\r') n--;
    (*buf)[n] = '\0';
    *len = n;
    return *buf;
}

static bool blank_or_comment(const char *s)
{
    while (*s == ' ' || *s == '\t') s++;
    return !*s || *s == '#';
}

/* Read every line of f into r; PWR_OK or a negative status with the message. */
static int csv_read_rows(FILE *f, csv_ctx *x, csv_rows *r)
{
    static const char bom[] = "\xEF\xBB\xBF";
    char *buf = NULL;
    size_t cap = 0, len;
    bool header_seen = false;
    int rc = PWR_OK;
    errno = 0;
    for (char *s; rc == PWR_OK && (s = next_line(f, &buf, &cap, &len)); errno = 0) {
        x->line++;
        if (strlen(s) != len) {
            set_err(x->err, x->errlen, "%s:%d: NUL byte in the line", x->path, x->line);
            rc = PWR_EFORMAT;
        } else if (x->line == 1 && !strncmp(s, bom, sizeof bom - 1)) {
            memmove(s, s + sizeof bom - 1, len - (sizeof bom - 1) + 1);
        }
        if (rc || blank_or_comment(s)) continue;
        if (!header_seen) {
            rc = csv_header(x, s);
            header_seen = true;
            continue;
        }
        double val[CSV_FIELDS];
        rc = csv_row(x, s, val);
        if (!rc && r->n == CSV_MAX_ROWS) {
            set_err(x->err, x->errlen, "%s:%d: more than %d rows", x->path, x->line, CSV_MAX_ROWS);
            rc = PWR_EFORMAT;
        }
        if (!rc && !rows_push(r, val)) {
            set_err(x->err, x->errlen, "%s: out of memory", x->path);
            rc = PWR_EIO;
        }
    }
    if (!rc && (ferror(f) || errno == ENOMEM)) {
        set_err(x->err, x->errlen, "%s: read error: %s", x->path, strerror(errno ? errno : EIO));
        rc = PWR_EIO;
    }
    free(buf);
    if (!rc && !header_seen) {
        set_err(x->err, x->errlen, "%s: empty file; expected the header '" CSV_HEADER "'", x->path);
        rc = PWR_EFORMAT;
    } else if (!rc && r->n == 0) {
        set_err(x->err, x->errlen, "%s: no data rows after the header", x->path);
        rc = PWR_EFORMAT;
    }
    return rc;
}

int pwr_read_csv(const char *path, double **freq_mhz, double **vdd_v, double **power_mw, int *n,
                 char *err, size_t errlen)
{
    if (!path || !freq_mhz || !vdd_v || !power_mw || !n) {
        set_err(err, errlen, "pwr_read_csv: missing argument");
        return PWR_EARG;
    }
    *freq_mhz = *vdd_v = *power_mw = NULL;
    *n = 0;
    FILE *f = fopen(path, "r");
    if (!f) {
        set_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return PWR_EIO;
    }
    csv_ctx x = {path, 0, err, errlen};
    csv_rows r = {0};
    int rc = csv_read_rows(f, &x, &r);
    fclose(f);
    if (rc) {
        rows_free(&r);
        return rc;
    }
    *freq_mhz = r.col[0];
    *vdd_v = r.col[1];
    *power_mw = r.col[2];
    *n = r.n;
    return PWR_OK;
}
