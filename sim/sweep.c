/* Sweep expansion: the value lists of [sweep] (items, ranges first:last:step, ';'-separated lists
 * for list-valued keys) turned into points, and the config of one point. Values are stored once
 * per parameter; a point's values are found from its index (mixed radix for cross, the same index
 * for zip), so a million points cost no more than their distinct values. */
#include "sweep.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Slack on the last range value: `last` is included when first + i·step lands within
 * RANGE_SLACK·|step| of it (the cfg loader counts with the same slack). */
static const double RANGE_SLACK = 1e-9;
enum { NUM_CHARS = 64 }; /* a generated number as text */

typedef struct sweep_par {
    char *name;         /* "section.key" */
    const cfg_key *key; /* its table entry */
    char **vals;
    size_t n, cap;
    size_t stride; /* cross: points between two successive values */
} sweep_par;

struct sweep {
    sweep_par *par;
    size_t npar, npoints;
    bool zip;
};

__attribute__((format(printf, 3, 4))) static int say(char *err, size_t len, const char *fmt, ...)
{
    if (err && len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, len, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Append a copy of text[0..n) to the values of p; -1 on out-of-memory. */
static int add_value(sweep_par *p, const char *text, size_t n)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 8;
        char **grown = realloc(p->vals, cap * sizeof *grown);
        if (!grown) return -1;
        p->vals = grown;
        p->cap = cap;
    }
    char *v = malloc(n + 1);
    if (!v) return -1;
    memcpy(v, text, n);
    v[n] = '\0';
    p->vals[p->n++] = v;
    return 0;
}

/* Parse a whole string (surrounding spaces allowed) as a finite double. */
static bool parse_num(const char *s, double *out)
{
    char *end;
    errno = 0;
    *out = strtod(s, &end);
    if (end == s || errno == ERANGE || !isfinite(*out)) return false;
    while (isspace((unsigned char)*end)) end++;
    return *end == '\0';
}

/* Expand the range item "first:last:step" into the values of p. */
static int add_range(sweep_par *p, char *item, char *err, size_t len)
{
    char *c1 = strchr(item, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (!c2 || strchr(c2 + 1, ':'))
        return say(err, len, "[sweep] %s: range '%s' must be first:last:step", p->name, item);
    *c1 = *c2 = '\0';
    const char *a_txt = item, *b_txt = c1 + 1, *s_txt = c2 + 1;
    double first, last, step;
    if (!parse_num(a_txt, &first) || !parse_num(b_txt, &last) || !parse_num(s_txt, &step))
        return say(err, len, "[sweep] %s: range '%s:%s:%s' needs three numbers", p->name, a_txt,
                   b_txt, s_txt);
    if (step == 0)
        return say(err, len, "[sweep] %s: range %s:%s:%s has step 0", p->name, a_txt, b_txt, s_txt);
    if (step < 0 || last < first)
        return say(err, len, "[sweep] %s: range %s:%s:%s must have first <= last and step > 0",
                   p->name, a_txt, b_txt, s_txt);
    double steps = floor((last - first) / step + RANGE_SLACK);
    if (steps + 1 > SWEEP_MAX_POINTS)
        return say(err, len, "[sweep] %s: range %s:%s:%s has more than %d values", p->name, a_txt,
                   b_txt, s_txt, SWEEP_MAX_POINTS);
    bool integer = p->key->type == CFG_INT;
    for (size_t i = 0; i <= (size_t)steps; i++) {
        double x = first + (double)i * step;
        /* 0.1 * 3 - 0.3 is 5.6e-17, which %.10g would print as such: it is the value 0 */
        if (fabs(x) < RANGE_SLACK * fabs(step)) x = 0;
        char num[NUM_CHARS];
        if (integer && x != floor(x))
            return say(err, len, "[sweep] %s: range value %.10g is not an integer", p->name, x);
        int n =
            integer ? snprintf(num, sizeof num, "%.0f", x) : snprintf(num, sizeof num, "%.10g", x);
        if (n < 0 || n >= NUM_CHARS)
            return say(err, len, "[sweep] %s: range value %.10g is too large", p->name, x);
        if (add_value(p, num, (size_t)n)) return say(err, len, "[sweep] out of memory");
    }
    return 0;
}

static bool is_sep(char ch, bool semi)
{
    return semi ? ch == ';' || isspace((unsigned char)ch) : ch == ',' || isspace((unsigned char)ch);
}

/* Split the value text of p into items: by ';' when it has one (each item a list), else by
 * commas and spaces; ranges for numeric keys. */
static int parse_values(sweep_par *p, const char *text, char *err, size_t len)
{
    bool semi = strchr(text, ';') != NULL;
    bool numeric = p->key->type == CFG_INT || p->key->type == CFG_REAL;
    const char *q = text;
    while (*q) {
        while (*q && is_sep(*q, semi)) q++;
        if (!*q) break;
        size_t n = 0;
        if (semi)
            n = strcspn(q, ";");
        else
            while (q[n] && !is_sep(q[n], false)) n++;
        size_t used = n;
        while (n > 0 && isspace((unsigned char)q[n - 1])) n--;
        if (numeric && memchr(q, ':', n)) {
            char *item = malloc(n + 1);
            if (!item) return say(err, len, "[sweep] out of memory");
            memcpy(item, q, n);
            item[n] = '\0';
            int rc = add_range(p, item, err, len);
            free(item);
            if (rc) return rc;
        } else if (add_value(p, q, n)) {
            return say(err, len, "[sweep] out of memory");
        }
        q += used;
    }
    if (p->n == 0) return say(err, len, "[sweep] %s: no values", p->name);
    return 0;
}

/* Look up "section.key" in the table. */
static const cfg_key *find_param(const char *name)
{
    const char *dot = strchr(name, '.');
    if (!dot || (size_t)(dot - name) >= NUM_CHARS) return NULL;
    char sect[NUM_CHARS];
    snprintf(sect, sizeof sect, "%.*s", (int)(dot - name), name);
    if (strcmp(sect, "sweep") == 0) return NULL;
    return cfg_find(sect, dot + 1);
}

/* Count the points (cross: the product, last parameter fastest; zip: the common length). */
static int count_points(sweep *s, char *err, size_t len)
{
    s->npoints = 1;
    if (s->npar == 0) return 0;
    if (s->zip) {
        for (size_t j = 1; j < s->npar; j++)
            if (s->par[j].n != s->par[0].n)
                return say(err, len, "[sweep] %s: %zu values; mode = zip needs %zu like %s",
                           s->par[j].name, s->par[j].n, s->par[0].n, s->par[0].name);
        s->npoints = s->par[0].n;
        return 0;
    }
    double total = 1; /* in double: a product of a few million-value ranges cannot overflow */
    for (size_t j = 0; j < s->npar; j++) total *= (double)s->par[j].n;
    if (total > SWEEP_MAX_POINTS)
        return say(err, len, "[sweep]: %.0f points; at most %d", total, SWEEP_MAX_POINTS);
    for (size_t j = s->npar; j-- > 0;) {
        s->par[j].stride = s->npoints;
        s->npoints *= s->par[j].n;
    }
    return 0;
}

int sweep_expand_lines(size_t nparams, const char *const *params, const char *const *values,
                       bool zip, sweep **out, char *err, size_t errlen)
{
    *out = NULL;
    sweep *s = calloc(1, sizeof *s);
    if (!s || (nparams && !(s->par = calloc(nparams, sizeof *s->par)))) {
        free(s);
        return say(err, errlen, "[sweep] out of memory");
    }
    s->zip = zip;
    int rc = 0;
    for (size_t j = 0; j < nparams && !rc; j++) {
        sweep_par *p = &s->par[s->npar++];
        p->name = strdup(params[j]);
        if (!p->name) {
            rc = say(err, errlen, "[sweep] out of memory");
            break;
        }
        for (size_t k = 0; k < j && !rc; k++)
            if (strcmp(s->par[k].name, p->name) == 0)
                rc = say(err, errlen, "[sweep] %s: swept twice", p->name);
        p->key = find_param(p->name);
        if (!rc && !p->key)
            rc = say(err, errlen,
                     "[sweep] %s: unknown parameter; sweep lines are section.key = "
                     "values",
                     p->name);
        if (!rc) rc = parse_values(p, values[j], err, errlen);
    }
    if (!rc) rc = count_points(s, err, errlen);
    if (rc) {
        sweep_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

int sweep_expand(const cfg *c, sweep **out, char *err, size_t errlen)
{
    size_t n = cfg_sweep_count(c);
    const char **params = calloc(n ? n : 1, sizeof *params);
    const char **values = calloc(n ? n : 1, sizeof *values);
    int rc;
    if (!params || !values) {
        *out = NULL;
        rc = say(err, errlen, "[sweep] out of memory");
    } else {
        for (size_t j = 0; j < n; j++) {
            params[j] = cfg_sweep_param(c, j);
            values[j] = cfg_sweep_values(c, j);
        }
        const char *mode = cfg_get(c, "sweep", "mode");
        bool zip = mode && strcmp(mode, "zip") == 0;
        rc = sweep_expand_lines(n, params, values, zip, out, err, errlen);
    }
    free(params);
    free(values);
    return rc;
}

void sweep_free(sweep *s)
{
    if (!s) return;
    for (size_t j = 0; j < s->npar; j++) {
        for (size_t k = 0; k < s->par[j].n; k++) free(s->par[j].vals[k]);
        free(s->par[j].vals);
        free(s->par[j].name);
    }
    free(s->par);
    free(s);
}

size_t sweep_points(const sweep *s)
{
    return s->npoints;
}

size_t sweep_params(const sweep *s)
{
    return s->npar;
}

const char *sweep_param(const sweep *s, size_t j)
{
    return j < s->npar ? s->par[j].name : NULL;
}

size_t sweep_values(const sweep *s, size_t j)
{
    return j < s->npar ? s->par[j].n : 0;
}

const char *sweep_value(const sweep *s, size_t point, size_t j)
{
    if (j >= s->npar || point >= s->npoints) return NULL;
    const sweep_par *p = &s->par[j];
    return p->vals[s->zip ? point : (point / p->stride) % p->n];
}

void sweep_describe(const sweep *s, size_t point, char *buf, size_t len)
{
    if (!len) return;
    buf[0] = '\0';
    if (point >= s->npoints) {
        snprintf(buf, len, "(no point %zu)", point + 1);
        return;
    }
    if (s->npar == 0) {
        snprintf(buf, len, "(base config)");
        return;
    }
    size_t used = 0;
    for (size_t j = 0; j < s->npar && used < len; j++) {
        const char *v = sweep_value(s, point, j);
        bool quote = !*v || strpbrk(v, " \t") != NULL;
        int n = snprintf(buf + used, len - used, "%s%s=%s%s%s", j ? " " : "", s->par[j].name,
                         quote ? "'" : "", v, quote ? "'" : "");
        if (n < 0) break;
        used += (size_t)n;
    }
}

cfg *sweep_point_cfg(const sweep_base *b, const sweep *s, size_t point, char *err, size_t errlen)
{
    cfg *c = cfg_new();
    if (!c) {
        say(err, errlen, "out of memory");
        return NULL;
    }
    for (int i = 0; i < b->nfiles; i++) cfg_load_file(c, b->files[i]);
    for (int i = 0; i < b->nover; i++) cfg_override(c, b->overrides[i]);
    for (size_t j = 0; j < s->npar && point < s->npoints; j++) {
        const char *v = sweep_value(s, point, j);
        size_t n = strlen(s->par[j].name) + strlen(v) + 2;
        char *assign = malloc(n);
        if (!assign) {
            cfg_free(c);
            say(err, errlen, "out of memory");
            return NULL;
        }
        snprintf(assign, n, "%s=%s", s->par[j].name, v);
        cfg_override(c, assign);
        free(assign);
    }
    if (cfg_error_count(c) == 0) cfg_finish(c);
    if (cfg_error_count(c) == 0) return c;
    const char *e = cfg_error(c, 0);
    /* the point's own overrides read better without the -s of the command line */
    say(err, errlen, "%s", strncmp(e, "-s ", 3) == 0 ? e + 3 : e);
    cfg_free(c);
    return NULL;
}
