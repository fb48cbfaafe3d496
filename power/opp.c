/* Operating-point tables (DESIGN section 5): the validating INI loader, the built-in generic
 * accelerator ladder, and level lookup by frequency. The file format is described in opp.h and
 * docs/power.md. */
#include "opp.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#define MAX_VDD_V      5.0    /* highest voltage a level may have */
#define NS_PER_US      1000.0 /* transition_us -> transition_ns */
#define SEC_TABLE      "table"
#define SEC_LEVELS     "levels"
#define SOURCE_DEFAULT "assumed"

/* ---- the built-in generic ladder ---- */

/* An assumed linear V/f ladder V = 0.5 V + f / 2000 MHz/V for a 1 GHz accelerator, with a
 * boost step from 800 to 1000 MHz. */
static const opp_level generic_levels[] = {
    {200.0, 0.60}, {300.0, 0.65}, {400.0, 0.70}, {500.0, 0.75},
    {600.0, 0.80}, {700.0, 0.85}, {800.0, 0.90}, {1000.0, 1.00},
};
#define GENERIC_N             ((int)(sizeof generic_levels / sizeof generic_levels[0]))
#define GENERIC_TRANSITION_NS 10000.0 /* 10 us per switch (assumed) */
#define GENERIC_TRANSITION_NJ 0.0

/* ---- loader state ---- */

enum table_key { TK_NAME, TK_TRANSITION_US, TK_TRANSITION_NJ, TK_VOLTAGE_SOURCE, TK_COUNT };
static const char *const table_keys[TK_COUNT] = {"name", "transition_us", "transition_nj",
                                                 "voltage_source"};
static const char *const voltage_sources[] = {"assumed", "measured", "device-tree"};
#define N_SOURCES (sizeof voltage_sources / sizeof voltage_sources[0])

enum section_id { SID_TABLE, SID_LEVELS, SID_COUNT };
static const char *const section_names[SID_COUNT] = {SEC_TABLE, SEC_LEVELS};

typedef struct level_in {
    double freq_mhz, vdd_v;
    int line;
} level_in;

typedef struct load_ctx {
    const char *path;
    FILE *f;
    char *buf; /* getline buffer */
    size_t cap;
    int lineno;
    int section_line[SID_COUNT]; /* where each section was opened; 0 = not yet */
    int key_line[TK_COUNT];      /* where each [table] key was set; 0 = not yet */
    opp_table t;
    level_in lv[OPP_MAX_LEVELS];
    int n;
    bool failed, oom;
    int err_line;
    int status;
    char *err;
    size_t errlen;
} load_ctx;

__attribute__((format(printf, 3, 4))) static void set_err(char *err, size_t errlen, const char *fmt,
                                                          ...)
{
    if (!err || errlen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Record the first error, "FILE:LINE: message"; returns 1 so inih carries on (the reader stops
 * it at the next line). */
__attribute__((format(printf, 3, 4))) static int fail(load_ctx *x, int line, const char *fmt, ...)
{
    if (x->failed) return 1;
    x->failed = true;
    x->err_line = line;
    x->status = OPP_EFORMAT;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    set_err(x->err, x->errlen, "%s:%d: %s", x->path, line, msg);
    return 1;
}

/* A finite decimal number filling the whole string. */
static bool parse_real(const char *s, double *out)
{
    if (!*s) return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*end || errno == ERANGE || !isfinite(v)) return false;
    *out = v;
    return true;
}

/* ---- reader: one line per call, so its count is inih's line number ---- */

static void check_header(load_ctx *x, const char *s, size_t n)
{
    const char *close = memchr(s, ']', n);
    if (!close) return; /* inih reports the syntax error */
    size_t len = (size_t)(close - s - 1);
    const char *name = s + 1;
    for (int i = 0; i < SID_COUNT; i++) {
        if (strlen(section_names[i]) != len || memcmp(name, section_names[i], len)) continue;
        if (x->section_line[i]) {
            fail(x, x->lineno, "duplicate section [%s] (first at line %d)", section_names[i],
                 x->section_line[i]);
            return;
        }
        x->section_line[i] = x->lineno;
        return;
    }
    fail(x, x->lineno, "unknown section [%.*s] (expected [%s] or [%s])", (int)len, name, SEC_TABLE,
         SEC_LEVELS);
}

static char *reader(char *str, int num, void *stream)
{
    load_ctx *x = stream;
    if (x->failed) return NULL;
    errno = 0;
    ssize_t got = getline(&x->buf, &x->cap, x->f);
    if (got < 0) {
        if (errno == ENOMEM) x->oom = true;
        return NULL;
    }
    x->lineno++;
    size_t n = (size_t)got;
    if (n > 0 && x->buf[n - 1] == '\n') n--;
    if (n > 0 && x->buf[n - 1] == '\r') n--;
    if (memchr(x->buf, '\0', n)) return fail(x, x->lineno, "NUL byte in the line"), NULL;
    /* Leading blanks are dropped, so an indented line is never an inih continuation. */
    static const char bom[] = "\xEF\xBB\xBF";
    const char *s = x->buf;
    if (x->lineno == 1 && n >= sizeof bom - 1 && !memcmp(s, bom, sizeof bom - 1))
        s += sizeof bom - 1, n -= sizeof bom - 1;
    while (n > 0 && (*s == ' ' || *s == '\t')) s++, n--;
    size_t limit = num > 2 ? (size_t)num - 2 : 0; /* room for "\n\0" */
    if (n > limit)
        return fail(x, x->lineno, "line is %zu characters long; at most %zu", n, limit), NULL;
    if (n > 0 && *s == '[') check_header(x, s, n);
    memcpy(str, s, n);
    str[n] = '\n';
    str[n + 1] = '\0';
    return str;
}

/* ---- handler ---- */

static int table_key(load_ctx *x, const char *name, const char *value)
{
    int k = 0;
    while (k < TK_COUNT && strcmp(name, table_keys[k])) k++;
    if (k == TK_COUNT)
        return fail(x, x->lineno,
                    "unknown key '%s' in [%s] (expected name, transition_us, transition_nj or "
                    "voltage_source)",
                    name, SEC_TABLE);
    if (x->key_line[k])
        return fail(x, x->lineno, "duplicate key '%s' in [%s] (first set at line %d)", name,
                    SEC_TABLE, x->key_line[k]);
    x->key_line[k] = x->lineno;
    double v;
    switch (k) {
    case TK_NAME:
        if (strlen(value) >= OPP_NAME_MAX)
            return fail(x, x->lineno, "name is %zu characters long; at most %d", strlen(value),
                        OPP_NAME_MAX - 1);
        strcpy(x->t.name, value);
        return 1;
    case TK_VOLTAGE_SOURCE:
        for (size_t i = 0; i < N_SOURCES; i++)
            if (!strcmp(value, voltage_sources[i])) {
                strcpy(x->t.voltage_source, value);
                return 1;
            }
        return fail(x, x->lineno,
                    "voltage_source '%s' is not one of assumed, measured, device-tree", value);
    default: /* TK_TRANSITION_US, TK_TRANSITION_NJ */
        if (!parse_real(value, &v) || v < 0)
            return fail(x, x->lineno, "%s '%s' is not a number >= 0", name, value);
        if (k == TK_TRANSITION_US)
            x->t.transition_ns = v * NS_PER_US;
        else
            x->t.transition_nj = v;
        return 1;
    }
}

static int level_key(load_ctx *x, const char *name, const char *value)
{
    double f, v;
    if (!parse_real(name, &f))
        return fail(x, x->lineno, "bad frequency '%s' in [%s]: expected 'freq_mhz = vdd_v'", name,
                    SEC_LEVELS);
    if (f <= 0) return fail(x, x->lineno, "frequency %g MHz is not > 0", f);
    if (!parse_real(value, &v))
        return fail(x, x->lineno, "bad voltage '%s' at %g MHz: expected a number of volts", value,
                    f);
    if (v <= 0 || v > MAX_VDD_V)
        return fail(x, x->lineno, "voltage %g V at %g MHz is outside (0, %g]", v, f, MAX_VDD_V);
    for (int i = 0; i < x->n; i++)
        if (x->lv[i].freq_mhz == f)
            return fail(x, x->lineno, "duplicate frequency %g MHz (first at line %d)", f,
                        x->lv[i].line);
    if (x->n == OPP_MAX_LEVELS) return fail(x, x->lineno, "more than %d levels", OPP_MAX_LEVELS);
    x->lv[x->n++] = (level_in){f, v, x->lineno};
    return 1;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
    load_ctx *x = user;
    if (x->failed) return 1;
    if (!*section)
        return fail(x, x->lineno, "key '%s' outside any section (expected [%s] or [%s])", name,
                    SEC_TABLE, SEC_LEVELS);
    if (!*name) return fail(x, x->lineno, "missing key before '='");
    if (!*value) return fail(x, x->lineno, "key '%s' has no value", name);
    if (!strcmp(section, SEC_TABLE)) return table_key(x, name, value);
    if (!strcmp(section, SEC_LEVELS)) return level_key(x, name, value);
    return fail(x, x->lineno, "key '%s' in unknown section [%s]", name, section); /* not reached */
}

/* ---- whole-table checks ---- */

static int cmp_level(const void *a, const void *b)
{
    double fa = ((const level_in *)a)->freq_mhz, fb = ((const level_in *)b)->freq_mhz;
    return (fa > fb) - (fa < fb);
}

/* Sort, check voltages and copy the levels; false with the error recorded. */
static bool finish_table(load_ctx *x)
{
    if (!x->key_line[TK_NAME]) {
        x->status = OPP_EFORMAT;
        set_err(x->err, x->errlen, "%s: missing key 'name' in [%s]", x->path, SEC_TABLE);
        return false;
    }
    if (x->n == 0) {
        x->status = OPP_EFORMAT;
        set_err(x->err, x->errlen, "%s: no levels: [%s] needs at least one 'freq_mhz = vdd_v' line",
                x->path, SEC_LEVELS);
        return false;
    }
    qsort(x->lv, (size_t)x->n, sizeof x->lv[0], cmp_level);
    for (int i = 1; i < x->n; i++) {
        const level_in *lo = &x->lv[i - 1], *hi = &x->lv[i];
        if (hi->vdd_v < lo->vdd_v) {
            fail(x, hi->line,
                 "voltage %g V at %g MHz is lower than %g V at %g MHz (line %d); voltage may not "
                 "fall as frequency rises",
                 hi->vdd_v, hi->freq_mhz, lo->vdd_v, lo->freq_mhz, lo->line);
            return false;
        }
    }
    x->t.n = x->n;
    for (int i = 0; i < x->n; i++) x->t.levels[i] = (opp_level){x->lv[i].freq_mhz, x->lv[i].vdd_v};
    return true;
}

/* ---- public API ---- */

int opp_load(const char *path, opp_table *out, char *err, size_t errlen)
{
    if (!path || !out) {
        set_err(err, errlen, "opp_load: missing argument");
        return OPP_EARG;
    }
    load_ctx *x = calloc(1, sizeof *x);
    if (!x) {
        set_err(err, errlen, "%s: out of memory", path);
        return OPP_ENOMEM;
    }
    x->path = path;
    x->err = err;
    x->errlen = errlen;
    strcpy(x->t.voltage_source, SOURCE_DEFAULT);
    x->f = fopen(path, "r");
    if (!x->f) {
        set_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        free(x);
        return OPP_EIO;
    }
    int rc = ini_parse_stream(reader, x, handler, x);
    bool read_error = ferror(x->f);
    fclose(x->f);
    free(x->buf);

    int status = OPP_OK;
    if (rc > 0 && (!x->failed || rc < x->err_line)) { /* inih's own error comes first */
        set_err(err, errlen, "%s:%d: syntax error: expected [section], key = value, or a comment",
                path, rc);
        status = OPP_EFORMAT;
    } else if (x->failed) {
        status = x->status;
    } else if (x->oom || rc == -2) {
        set_err(err, errlen, "%s: out of memory", path);
        status = OPP_ENOMEM;
    } else if (read_error) {
        set_err(err, errlen, "%s: read error", path);
        status = OPP_EIO;
    } else if (!finish_table(x)) {
        status = x->status;
    } else {
        *out = x->t;
    }
    free(x);
    return status;
}

void opp_generic(opp_table *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "generic");
    snprintf(out->voltage_source, sizeof out->voltage_source, "assumed");
    out->n = GENERIC_N;
    memcpy(out->levels, generic_levels, sizeof generic_levels);
    out->transition_ns = GENERIC_TRANSITION_NS;
    out->transition_nj = GENERIC_TRANSITION_NJ;
}

int opp_nearest(const opp_table *t, double freq_mhz)
{
    if (!t || t->n <= 0) return -1;
    if (isnan(freq_mhz) || freq_mhz >= t->levels[t->n - 1].freq_mhz) return t->n - 1;
    if (freq_mhz <= t->levels[0].freq_mhz) return 0;
    int best = 0;
    double best_d = fabs(t->levels[0].freq_mhz - freq_mhz);
    for (int i = 1; i < t->n; i++) {
        double d = fabs(t->levels[i].freq_mhz - freq_mhz);
        if (d <= best_d) { /* ascending order: on a tie the later level is the faster */
            best = i;
            best_d = d;
        }
    }
    return best;
}

int opp_at_least(const opp_table *t, double freq_mhz)
{
    if (!t || t->n <= 0) return -1;
    for (int i = 0; i < t->n; i++)
        if (t->levels[i].freq_mhz >= freq_mhz) return i;
    return t->n - 1;
}

void opp_print(const opp_table *t, FILE *out)
{
    fprintf(out, "OPP table '%s' (voltages %s): %d levels, %g ns and %g nJ per switch\n", t->name,
            t->voltage_source, t->n, t->transition_ns, t->transition_nj);
    fprintf(out, "%5s %10s %7s\n", "level", "freq_mhz", "vdd_v");
    for (int i = 0; i < t->n; i++)
        fprintf(out, "%5d %10.2f %7.4f\n", i, t->levels[i].freq_mhz, t->levels[i].vdd_v);
}
