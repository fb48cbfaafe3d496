/* Config loading and validation: inih parses, a reader around it counts lines and rejects
 * over-long ones, and every value is checked against the table in cfg_schema.c. Problems are
 * collected as "FILE:LINE: message" so `pesim check` can list them all at once. */
#include "cfg.h"

#include <ini.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum {
    SRC_DEFAULT = -1,           /* value is the table's default */
    SRC_OVERRIDE = -2,          /* value came from -s */
    MAX_INCLUDE_DEPTH = 16,     /* deeper nesting is reported as an error */
    MAX_ERRORS = 100,           /* further problems are counted, not stored */
    MSG_LEN = 512,              /* one error message */
    SUGGEST_MAX_DISTANCE = 2,   /* edit distance accepted for "did you mean" */
    MAX_SWEEP_POINTS = 1000000, /* a range producing more values is refused */
};
#define MAX_CONFIG_BYTES (16u << 20) /* a config file larger than this is refused */

typedef struct cfg_val {
    char *text; /* raw text as written (NULL: default) */
    int src;    /* index into cfg.files, SRC_DEFAULT or SRC_OVERRIDE */
    int line;
} cfg_val;

typedef struct sweep_ent {
    char *param, *values;
    int src, line;
} sweep_ent;

struct cfg {
    cfg_val *vals; /* one per cfg_schema entry */
    char **files;
    size_t nfiles;
    char **errors;
    size_t nerr, nerr_total;
    sweep_ent *sweep;
    size_t nsweep;
    int depth;
    char *stack[MAX_INCLUDE_DEPTH + 1]; /* real paths of the files being read, for cycles */
    int sect_src[16], sect_line[16];    /* where each section was first seen */
};

/* Parsing state of one file. */
typedef struct parse_ctx {
    cfg *c;
    const char *path;
    int src;
    const char *buf;
    size_t len, pos;
    int lineno;
    const char *raw;   /* current raw line */
    bool stop;         /* a fatal problem ended the parse */
    int prev_key;      /* schema index of the previous key line, -1 none */
    int prev_sweep;    /* sweep index of the previous key line, -1 none */
    int *line_in_file; /* per schema key: line it was set at in this file, 0 = not */
} parse_ctx;

static void add_error(cfg *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void add_error(cfg *c, const char *fmt, ...)
{
    c->nerr_total++;
    if (c->nerr >= MAX_ERRORS) return;
    char msg[MSG_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char *copy = strdup(msg);
    char **grown = realloc(c->errors, (c->nerr + 1) * sizeof *grown);
    if (!copy || !grown) {
        free(copy);
        if (grown) c->errors = grown;
        return;
    }
    c->errors = grown;
    c->errors[c->nerr++] = copy;
}

static int section_index(const char *name)
{
    for (int i = 0; cfg_sections[i]; i++)
        if (strcmp(cfg_sections[i], name) == 0) return i;
    return -1;
}

static int key_index(const char *section, const char *key)
{
    for (size_t i = 0; i < cfg_schema_len; i++)
        if (strcmp(cfg_schema[i].section, section) == 0 && strcmp(cfg_schema[i].key, key) == 0)
            return (int)i;
    return -1;
}

const cfg_key *cfg_find(const char *section, const char *key)
{
    int i = key_index(section, key);
    return i < 0 ? NULL : &cfg_schema[i];
}

/* Levenshtein distance, capped: strings longer than the buffer count as far apart. */
static int edit_distance(const char *a, const char *b)
{
    enum { MAXN = 64 };
    size_t la = strlen(a), lb = strlen(b);
    if (la >= MAXN || lb >= MAXN) return INT_MAX;
    int row[MAXN + 1];
    for (size_t j = 0; j <= lb; j++) row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int up = row[j];
            int cost = a[i - 1] == b[j - 1] ? 0 : 1;
            int best = diag + cost;
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* " (did you mean ...?)" for an unknown key, or "" when nothing is close. */
static void suggest_key(const char *section, const char *key, char *out, size_t len)
{
    out[0] = '\0';
    int best = SUGGEST_MAX_DISTANCE + 1;
    const char *best_key = NULL;
    for (size_t i = 0; i < cfg_schema_len; i++) {
        if (strcmp(cfg_schema[i].section, section) != 0) continue;
        int d = edit_distance(key, cfg_schema[i].key);
        if (d < best) best = d, best_key = cfg_schema[i].key;
    }
    if (best_key) {
        snprintf(out, len, " (did you mean '%s'?)", best_key);
        return;
    }
    for (size_t i = 0; i < cfg_schema_len; i++)
        if (strcmp(cfg_schema[i].key, key) == 0) {
            snprintf(out, len, " (did you mean [%s] %s?)", cfg_schema[i].section, key);
            return;
        }
}

static void suggest_section(const char *name, char *out, size_t len)
{
    out[0] = '\0';
    int best = SUGGEST_MAX_DISTANCE + 1;
    for (int i = 0; cfg_sections[i]; i++) {
        int d = edit_distance(name, cfg_sections[i]);
        if (d < best) {
            best = d;
            snprintf(out, len, " (did you mean [%s]?)", cfg_sections[i]);
        }
    }
}

static void suggest_choice(const char *value, const char *choices, char *out, size_t len)
{
    out[0] = '\0';
    int best = SUGGEST_MAX_DISTANCE + 1;
    const char *p = choices;
    while (*p) {
        size_t n = strcspn(p, "|");
        char word[64];
        if (n < sizeof word) {
            memcpy(word, p, n);
            word[n] = '\0';
            int d = edit_distance(value, word);
            if (d < best) {
                best = d;
                snprintf(out, len, " (did you mean '%s'?)", word);
            }
        }
        p += n;
        if (*p == '|') p++;
    }
}

/* ---- value checking ---- */

static bool parse_ll(const char *s, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end != '\0' || errno == ERANGE) return false;
    *out = v;
    return true;
}

static bool parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || errno == ERANGE || !isfinite(v)) return false;
    /* strtod also takes hex floats and "infinity"; accept decimal notation only. */
    for (const char *p = s; *p; p++)
        if (!strchr("0123456789+-.eE", *p)) return false;
    *out = v;
    return true;
}

static bool parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (strcasecmp(s, yes[i]) == 0) return *out = true, true;
        if (strcasecmp(s, no[i]) == 0) return *out = false, true;
    }
    return false;
}

static bool parse_shape(const char *s, long long dims[3])
{
    char *end;
    const char *p = s;
    for (int i = 0; i < 3; i++) {
        if (!isdigit((unsigned char)*p)) return false;
        errno = 0;
        dims[i] = strtoll(p, &end, 10);
        if (errno == ERANGE) return false;
        p = end;
        if (i < 2) {
            if (*p != 'x' && *p != 'X') return false;
            p++;
        }
    }
    return *p == '\0';
}

static bool in_range(const cfg_key *k, double v)
{
    bool lo = (k->flags & CFG_MIN_OPEN) ? v > k->min : v >= k->min;
    return lo && v <= k->max;
}

static void range_text(const cfg_key *k, char *out, size_t len)
{
    snprintf(out, len, "%c%.15g, %.15g]", (k->flags & CFG_MIN_OPEN) ? '(' : '[', k->min, k->max);
}

static bool is_list_sep(char ch)
{
    return ch == ',' || isspace((unsigned char)ch);
}

/* Next item of a comma/space separated list: copies it into item, advances *p. */
static bool next_item(const char **p, char *item, size_t len, bool *too_long)
{
    const char *s = *p;
    while (*s && is_list_sep(*s)) s++;
    if (!*s) return false;
    size_t n = 0;
    while (s[n] && !is_list_sep(s[n])) n++;
    *too_long = n >= len;
    size_t copy = *too_long ? len - 1 : n;
    memcpy(item, s, copy);
    item[copy] = '\0';
    *p = s + n;
    return true;
}

static bool is_regular_file(const char *path, char *why, size_t len)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(why, len, "%s", strerror(errno));
        return false;
    }
    if (S_ISDIR(st.st_mode)) {
        snprintf(why, len, "is a directory");
        return false;
    }
    return true;
}

/* Check one scalar item of key k. 0 ok, -1 with msg filled. */
static int check_scalar(const cfg_key *k, cfg_type type, const char *v, char *msg, size_t len)
{
    char range[96];
    switch (type) {
    case CFG_INT: {
        long long x;
        if (!parse_ll(v, &x)) return snprintf(msg, len, "'%s' is not an integer", v), -1;
        if (!in_range(k, (double)x)) {
            range_text(k, range, sizeof range);
            return snprintf(msg, len, "%s is out of range %s", v, range), -1;
        }
        return 0;
    }
    case CFG_REAL: {
        double x;
        if (!parse_double(v, &x))
            return snprintf(msg, len, "'%s' is not a finite real number", v), -1;
        if (!in_range(k, x)) {
            range_text(k, range, sizeof range);
            return snprintf(msg, len, "%s is out of range %s", v, range), -1;
        }
        return 0;
    }
    case CFG_BOOL: {
        bool b;
        if (!parse_bool(v, &b)) return snprintf(msg, len, "'%s' is not true or false", v), -1;
        return 0;
    }
    default:
        return 0;
    }
}

/* Validate the text of key k. 0 ok, -1 with a message (without location) in msg. */
static int check_value(const cfg_key *k, const char *v, char *msg, size_t len)
{
    char why[MSG_LEN / 2], hint[96], item[128];
    bool too_long;
    switch (k->type) {
    case CFG_INT:
    case CFG_REAL:
    case CFG_BOOL:
        if (!*v) return snprintf(msg, len, "empty value"), -1;
        return check_scalar(k, k->type, v, msg, len);
    case CFG_STR:
        if ((k->flags & CFG_ARCH) && strcmp(v, "vgg19") != 0 && strcmp(v, "resnet34") != 0) {
            if (!*v) return snprintf(msg, len, "empty value"), -1;
            if (!is_regular_file(v, why, sizeof why)) {
                suggest_choice(v, "vgg19|resnet34", hint, sizeof hint);
                return snprintf(msg, len,
                                "'%s' is neither a built-in architecture (vgg19, resnet34) nor a "
                                "layer-list file%s",
                                v, hint),
                       -1;
            }
        }
        return 0;
    case CFG_ENUM: {
        const char *p = k->choices;
        size_t vl = strlen(v);
        while (*p) {
            size_t n = strcspn(p, "|");
            if (n == vl && strncmp(p, v, n) == 0) return 0;
            p += n;
            if (*p == '|') p++;
        }
        suggest_choice(v, k->choices, hint, sizeof hint);
        return snprintf(msg, len, "'%s' is not one of %s%s", v, k->choices, hint), -1;
    }
    case CFG_PATH:
        return 0;
    case CFG_PATH_IN: /* existence is checked by cfg_finish, after overrides */
        return 0;
    case CFG_SHAPE: {
        long long d[3];
        if (!parse_shape(v, d))
            return snprintf(msg, len, "'%s' is not a shape HxWxC such as 32x32x1", v), -1;
        for (int i = 0; i < 3; i++)
            if (!in_range(k, (double)d[i])) {
                range_text(k, why, sizeof why);
                return snprintf(msg, len, "'%s': each dimension must be in %s", v, why), -1;
            }
        return 0;
    }
    case CFG_INT_LIST:
    case CFG_REAL_LIST:
    case CFG_STR_LIST: {
        cfg_type elem = k->type == CFG_INT_LIST    ? CFG_INT
                        : k->type == CFG_REAL_LIST ? CFG_REAL
                                                   : CFG_STR;
        const char *p = v;
        size_t n = 0;
        while (next_item(&p, item, sizeof item, &too_long)) {
            n++;
            if (too_long) return snprintf(msg, len, "list item %zu is too long", n), -1;
            if (check_scalar(k, elem, item, why, sizeof why))
                return snprintf(msg, len, "list item %zu: %s", n, why), -1;
        }
        if (n == 0 && elem != CFG_STR) return snprintf(msg, len, "empty list"), -1;
        return 0;
    }
    }
    return 0;
}

/* ---- sweep values ---- */

/* Count the values of a sweep list for parameter k; -1 with msg on a bad item. Items are
 * separated by ';' when the text has one (lists as values), else by commas/spaces; numeric
 * parameters also take ranges first:last:step. */
static long long sweep_count(const cfg_key *k, const char *text, char *msg, size_t len)
{
    char item[MSG_LEN / 2], why[MSG_LEN / 2];
    bool semi = strchr(text, ';') != NULL;
    long long count = 0;
    const char *p = text;
    while (*p) {
        while (*p && (semi ? (*p == ';' || isspace((unsigned char)*p)) : is_list_sep(*p))) p++;
        if (!*p) break;
        size_t n = semi ? strcspn(p, ";") : 0;
        if (!semi)
            while (p[n] && !is_list_sep(p[n])) n++;
        while (n > 0 && isspace((unsigned char)p[n - 1])) n--;
        if (n >= sizeof item) return snprintf(msg, len, "value %lld is too long", count + 1), -1;
        memcpy(item, p, n);
        item[n] = '\0';
        p += n;
        char *c1 = strchr(item, ':');
        if (c1 && (k->type == CFG_INT || k->type == CFG_REAL)) {
            char *c2 = strchr(c1 + 1, ':');
            double a, b, step;
            if (!c2) return snprintf(msg, len, "range '%s' must be first:last:step", item), -1;
            *c1 = *c2 = '\0';
            if (!parse_double(item, &a) || !parse_double(c1 + 1, &b) ||
                !parse_double(c2 + 1, &step))
                return snprintf(msg, len, "range '%s:%s:%s' needs three numbers", item, c1 + 1,
                                c2 + 1),
                       -1;
            if (step <= 0 || b < a)
                return snprintf(msg, len, "range %s:%s:%s must have first <= last and step > 0",
                                item, c1 + 1, c2 + 1),
                       -1;
            double steps = floor((b - a) / step + 1e-9);
            if (steps + 1 > MAX_SWEEP_POINTS)
                return snprintf(msg, len, "range %s:%s:%s has too many values", item, c1 + 1,
                                c2 + 1),
                       -1;
            char num[64];
            for (double s = 0; s <= steps; s += steps > 0 ? steps : 1) { /* check both ends */
                double x = a + s * step;
                if (k->type == CFG_INT) {
                    if (x != floor(x))
                        return snprintf(msg, len, "range value %.15g is not an integer", x), -1;
                    snprintf(num, sizeof num, "%.0f", x);
                } else {
                    snprintf(num, sizeof num, "%.17g", x);
                }
                if (check_scalar(k, k->type, num, why, sizeof why))
                    return snprintf(msg, len, "%s", why), -1;
                if (steps == 0) break;
            }
            count += (long long)steps + 1;
        } else {
            if (check_value(k, item, why, sizeof why)) return snprintf(msg, len, "%s", why), -1;
            count++;
        }
    }
    if (count == 0) return snprintf(msg, len, "no values"), -1;
    return count;
}

/* ---- parsing ---- */

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (!d) abort(); /* out of memory while reading a config: nothing sensible remains */
    return d;
}

static void where(const parse_ctx *x, char *out, size_t len)
{
    snprintf(out, len, "%s:%d", x->path, x->lineno);
}

/* inih reader: hands inih one line at a time from memory, counting lines and refusing lines
 * longer than inih's buffer instead of letting them be cut. */
static char *reader(char *str, int num, void *stream)
{
    parse_ctx *x = stream;
    if (x->stop || x->pos >= x->len) return NULL;
    const char *line = x->buf + x->pos;
    const char *nl = memchr(line, '\n', x->len - x->pos);
    size_t n = nl ? (size_t)(nl - line) : x->len - x->pos;
    x->pos += n + (nl ? 1 : 0);
    x->lineno++;
    if (n > 0 && line[n - 1] == '\r') n--;
    size_t limit = num > 2 ? (size_t)num - 2 : 0; /* room for "\n\0" */
    if (n > limit) {
        add_error(x->c,
                  "%s:%d: line is %zu characters long; the INI reader takes at most %zu "
                  "(continue a long value on indented lines)",
                  x->path, x->lineno, n, limit);
        x->stop = true;
        return NULL;
    }
    memcpy(str, line, n);
    str[n] = '\n';
    str[n + 1] = '\0';
    x->raw = line;
    /* A section header: report an unknown one at its own line. */
    const char *s = line;
    while (s < line + n && isspace((unsigned char)*s)) s++;
    if (s < line + n && *s == '[') {
        const char *e = memchr(s, ']', (size_t)(line + n - s));
        if (e) {
            char name[128];
            size_t nn = (size_t)(e - s - 1);
            if (nn >= sizeof name) nn = sizeof name - 1;
            memcpy(name, s + 1, nn);
            name[nn] = '\0';
            int si = section_index(name);
            if (si < 0) {
                char hint[96];
                suggest_section(name, hint, sizeof hint);
                add_error(x->c, "%s:%d: unknown section [%s]%s", x->path, x->lineno, name, hint);
            } else if (x->c->sect_line[si] == 0) {
                x->c->sect_src[si] = x->src;
                x->c->sect_line[si] = x->lineno;
            }
        }
        x->prev_key = x->prev_sweep = -1;
    }
    return str;
}

static int load_file(cfg *c, const char *path, const char *from, int from_line);

/* Append a continuation line to a value. */
static void append_text(char **text, const char *more)
{
    size_t a = strlen(*text), b = strlen(more);
    char *t = realloc(*text, a + b + 2);
    if (!t) abort();
    t[a] = ' ';
    memcpy(t + a + 1, more, b + 1);
    *text = t;
}

static void handle_include(parse_ctx *x, const char *value)
{
    char loc[MSG_LEN];
    where(x, loc, sizeof loc);
    if (!*value) {
        add_error(x->c, "%s: include needs a file name", loc);
        return;
    }
    char target[PATH_MAX];
    const char *slash = strrchr(x->path, '/');
    if (value[0] == '/' || !slash)
        snprintf(target, sizeof target, "%s", value);
    else
        snprintf(target, sizeof target, "%.*s/%s", (int)(slash - x->path), x->path, value);
    load_file(x->c, target, x->path, x->lineno);
}

static void handle_sweep(parse_ctx *x, const char *name, const char *value, bool continuation)
{
    cfg *c = x->c;
    if (continuation && x->prev_sweep >= 0 && strcmp(c->sweep[x->prev_sweep].param, name) == 0) {
        append_text(&c->sweep[x->prev_sweep].values, value);
        return;
    }
    const char *dot = strchr(name, '.');
    char sect[64] = "", key[128] = "";
    if (dot && (size_t)(dot - name) < sizeof sect) {
        memcpy(sect, name, (size_t)(dot - name));
        sect[dot - name] = '\0';
        snprintf(key, sizeof key, "%s", dot + 1);
    }
    int ki = dot ? key_index(sect, key) : -1;
    if (ki < 0 || strcmp(sect, "sweep") == 0) {
        char hint[256] = "";
        int best = SUGGEST_MAX_DISTANCE + 1;
        for (size_t i = 0; i < cfg_schema_len; i++) {
            char full[192];
            snprintf(full, sizeof full, "%s.%s", cfg_schema[i].section, cfg_schema[i].key);
            int d = edit_distance(name, full);
            if (d < best && strcmp(cfg_schema[i].section, "sweep") != 0) {
                best = d;
                snprintf(hint, sizeof hint, " (did you mean '%s'?)", full);
            }
        }
        add_error(c,
                  "%s:%d: [sweep] unknown parameter '%s'%s; sweep lines are section.key = values",
                  x->path, x->lineno, name, hint);
        return;
    }
    for (size_t i = 0; i < c->nsweep; i++) {
        if (strcmp(c->sweep[i].param, name) != 0) continue;
        if (c->sweep[i].src == x->src) {
            add_error(c, "%s:%d: duplicate key '%s' in [sweep] (first set at line %d)", x->path,
                      x->lineno, name, c->sweep[i].line);
            return;
        }
        free(c->sweep[i].values);
        c->sweep[i].values = xstrdup(value);
        c->sweep[i].src = x->src;
        c->sweep[i].line = x->lineno;
        x->prev_sweep = (int)i;
        return;
    }
    sweep_ent *grown = realloc(c->sweep, (c->nsweep + 1) * sizeof *grown);
    if (!grown) abort();
    c->sweep = grown;
    c->sweep[c->nsweep] = (sweep_ent){xstrdup(name), xstrdup(value), x->src, x->lineno};
    x->prev_sweep = (int)c->nsweep++;
}

/* inih handler: one key = value line (or a continuation line of the previous key). */
static int handler(void *user, const char *section, const char *name, const char *value)
{
    parse_ctx *x = user;
    cfg *c = x->c;
    bool continuation = x->raw && (x->raw[0] == ' ' || x->raw[0] == '\t');
    if (strcmp(name, "include") == 0 && !continuation) {
        handle_include(x, value);
        x->prev_key = x->prev_sweep = -1;
        return 1;
    }
    if (!*section) {
        add_error(c, "%s:%d: key '%s' outside any section", x->path, x->lineno, name);
        return 1;
    }
    if (section_index(section) < 0) return 1; /* reported at the section header */
    if (strcmp(section, "sweep") == 0 && strcmp(name, "mode") != 0) {
        handle_sweep(x, name, value, continuation);
        return 1;
    }
    int ki = key_index(section, name);
    if (continuation && x->prev_key >= 0 && x->prev_key == ki) {
        append_text(&c->vals[ki].text, value);
        return 1;
    }
    if (ki < 0) {
        char hint[128];
        suggest_key(section, name, hint, sizeof hint);
        add_error(c, "%s:%d: unknown key '%s' in [%s]%s", x->path, x->lineno, name, section, hint);
        x->prev_key = -1;
        return 1;
    }
    if (x->line_in_file[ki]) {
        add_error(c, "%s:%d: duplicate key '%s' in [%s] (first set at line %d)", x->path, x->lineno,
                  name, section, x->line_in_file[ki]);
        x->prev_key = -1;
        return 1;
    }
    x->line_in_file[ki] = x->lineno;
    free(c->vals[ki].text);
    c->vals[ki] = (cfg_val){xstrdup(value), x->src, x->lineno};
    x->prev_key = ki;
    x->prev_sweep = -1;
    return 1;
}

/* Read a whole file; -1 with an error added. */
static int slurp(cfg *c, const char *path, const char *from, int from_line, char **out, size_t *len)
{
    char loc[MSG_LEN];
    if (from)
        snprintf(loc, sizeof loc, "%s:%d: include '%s'", from, from_line, path);
    else
        snprintf(loc, sizeof loc, "%s", path);
    char why[128];
    if (!is_regular_file(path, why, sizeof why)) {
        add_error(c, "%s: %s", loc, why);
        return -1;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        add_error(c, "%s: %s", loc, strerror(errno));
        return -1;
    }
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? 2 * cap : 4096;
            if (cap > MAX_CONFIG_BYTES + 1) cap = MAX_CONFIG_BYTES + 1;
            char *g = realloc(buf, cap);
            if (!g) abort();
            buf = g;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0 || n > MAX_CONFIG_BYTES) break;
    }
    bool err = ferror(f);
    fclose(f);
    if (err) {
        add_error(c, "%s: read error", loc);
        free(buf);
        return -1;
    }
    if (n > MAX_CONFIG_BYTES) {
        add_error(c, "%s: larger than %u bytes; not a config file", loc, MAX_CONFIG_BYTES);
        free(buf);
        return -1;
    }
    const char *nul = memchr(buf, '\0', n);
    if (nul) {
        int line = 1;
        for (const char *p = buf; p < nul; p++) line += *p == '\n';
        add_error(c, "%s:%d: NUL byte in the file; not a text config", path, line);
        free(buf);
        return -1;
    }
    *out = buf;
    *len = n;
    return 0;
}

/* Validate every value this file set (after continuations are joined). */
static void check_file_values(cfg *c, int src)
{
    char msg[MSG_LEN];
    for (size_t i = 0; i < cfg_schema_len; i++) {
        const cfg_val *v = &c->vals[i];
        if (v->src != src || !v->text) continue;
        if (check_value(&cfg_schema[i], v->text, msg, sizeof msg))
            add_error(c, "%s:%d: [%s] %s: %s", c->files[src], v->line, cfg_schema[i].section,
                      cfg_schema[i].key, msg);
    }
    for (size_t i = 0; i < c->nsweep; i++) {
        const sweep_ent *s = &c->sweep[i];
        if (s->src != src) continue;
        const char *dot = strchr(s->param, '.');
        char sect[64];
        snprintf(sect, sizeof sect, "%.*s", (int)(dot - s->param), s->param);
        const cfg_key *k = cfg_find(sect, dot + 1);
        if (sweep_count(k, s->values, msg, sizeof msg) < 0)
            add_error(c, "%s:%d: [sweep] %s: %s", c->files[src], s->line, s->param, msg);
    }
}

static int load_file(cfg *c, const char *path, const char *from, int from_line)
{
    size_t before = c->nerr_total;
    if (c->depth >= MAX_INCLUDE_DEPTH) {
        add_error(c, "%s:%d: includes nested deeper than %d", from, from_line, MAX_INCLUDE_DEPTH);
        return -1;
    }
    char *buf;
    size_t len;
    if (slurp(c, path, from, from_line, &buf, &len)) return -1;
    char real[PATH_MAX];
    if (!realpath(path, real)) snprintf(real, sizeof real, "%s", path);
    for (int i = 0; i < c->depth; i++)
        if (strcmp(c->stack[i], real) == 0) {
            add_error(c, "%s:%d: include cycle: '%s' is already being read", from, from_line, path);
            free(buf);
            return -1;
        }
    char **grown = realloc(c->files, (c->nfiles + 1) * sizeof *grown);
    if (!grown) abort();
    c->files = grown;
    int src = (int)c->nfiles;
    c->files[c->nfiles++] = xstrdup(path);
    c->stack[c->depth++] = xstrdup(real);

    int *lines = calloc(cfg_schema_len, sizeof *lines);
    if (!lines) abort();
    parse_ctx x = {.c = c,
                   .path = c->files[src],
                   .src = src,
                   .buf = buf,
                   .len = len,
                   .prev_key = -1,
                   .prev_sweep = -1,
                   .line_in_file = lines};
    int rc = ini_parse_stream(reader, &x, handler, &x);
    if (rc > 0 && !x.stop)
        add_error(c, "%s:%d: syntax error: expected [section], key = value, or a comment", path,
                  rc);
    check_file_values(c, src);
    free(lines);
    free(buf);
    free(c->stack[--c->depth]);
    return c->nerr_total > before ? -1 : 0;
}

/* ---- public API ---- */

cfg *cfg_new(void)
{
    cfg *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->vals = calloc(cfg_schema_len, sizeof *c->vals);
    if (!c->vals) {
        free(c);
        return NULL;
    }
    for (size_t i = 0; i < cfg_schema_len; i++) c->vals[i].src = SRC_DEFAULT;
    return c;
}

void cfg_free(cfg *c)
{
    if (!c) return;
    for (size_t i = 0; i < cfg_schema_len; i++) free(c->vals[i].text);
    free(c->vals);
    for (size_t i = 0; i < c->nfiles; i++) free(c->files[i]);
    free(c->files);
    for (size_t i = 0; i < c->nerr; i++) free(c->errors[i]);
    free(c->errors);
    for (size_t i = 0; i < c->nsweep; i++) {
        free(c->sweep[i].param);
        free(c->sweep[i].values);
    }
    free(c->sweep);
    free(c);
}

int cfg_load_file(cfg *c, const char *path)
{
    return load_file(c, path, NULL, 0);
}

static void trim(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1])) s[--n] = '\0';
    size_t lead = strspn(s, " \t");
    memmove(s, s + lead, n - lead + 1);
}

int cfg_override(cfg *c, const char *assignment)
{
    char buf[1024];
    if (strlen(assignment) >= sizeof buf) {
        add_error(c, "-s %.40s...: override too long", assignment);
        return -1;
    }
    snprintf(buf, sizeof buf, "%s", assignment);
    char *eq = strchr(buf, '=');
    char *dot = strchr(buf, '.');
    if (!eq || !dot || dot > eq) {
        add_error(c, "-s %s: expected section.key=value", assignment);
        return -1;
    }
    *eq = *dot = '\0';
    char *sect = buf, *key = dot + 1, *value = eq + 1;
    trim(sect);
    trim(key);
    trim(value);
    if (section_index(sect) < 0) {
        char hint[96];
        suggest_section(sect, hint, sizeof hint);
        add_error(c, "-s %s: unknown section [%s]%s", assignment, sect, hint);
        return -1;
    }
    int ki = key_index(sect, key);
    if (ki < 0) {
        char hint[128];
        suggest_key(sect, key, hint, sizeof hint);
        add_error(c, "-s %s: unknown key '%s' in [%s]%s", assignment, key, sect, hint);
        return -1;
    }
    char msg[MSG_LEN];
    if (check_value(&cfg_schema[ki], value, msg, sizeof msg)) {
        add_error(c, "-s %s: [%s] %s: %s", assignment, sect, key, msg);
        return -1;
    }
    free(c->vals[ki].text);
    c->vals[ki] = (cfg_val){xstrdup(value), SRC_OVERRIDE, 0};
    return 0;
}

size_t cfg_error_count(const cfg *c)
{
    return c->nerr_total;
}

const char *cfg_error(const cfg *c, size_t i)
{
    if (i < c->nerr) return c->errors[i];
    return "(further problems not shown)";
}

const char *cfg_get(const cfg *c, const char *section, const char *key)
{
    int i = key_index(section, key);
    if (i < 0) return NULL;
    return c->vals[i].text ? c->vals[i].text : cfg_schema[i].def;
}

bool cfg_is_set(const cfg *c, const char *section, const char *key)
{
    int i = key_index(section, key);
    return i >= 0 && c->vals[i].text != NULL;
}

long long cfg_int(const cfg *c, const char *section, const char *key)
{
    long long v = 0;
    const char *t = cfg_get(c, section, key);
    if (t) parse_ll(t, &v);
    return v;
}

double cfg_real(const cfg *c, const char *section, const char *key)
{
    double v = 0;
    const char *t = cfg_get(c, section, key);
    if (t) parse_double(t, &v);
    return v;
}

bool cfg_bool(const cfg *c, const char *section, const char *key)
{
    bool v = false;
    const char *t = cfg_get(c, section, key);
    if (t) parse_bool(t, &v);
    return v;
}

size_t cfg_real_list(const cfg *c, const char *section, const char *key, double *out, size_t max)
{
    const char *p = cfg_get(c, section, key);
    char item[128];
    bool too_long;
    size_t n = 0;
    while (p && next_item(&p, item, sizeof item, &too_long)) {
        double v = 0;
        parse_double(item, &v);
        if (n < max) out[n] = v;
        n++;
    }
    return n;
}

size_t cfg_int_list(const cfg *c, const char *section, const char *key, long long *out, size_t max)
{
    const char *p = cfg_get(c, section, key);
    char item[128];
    bool too_long;
    size_t n = 0;
    while (p && next_item(&p, item, sizeof item, &too_long)) {
        long long v = 0;
        parse_ll(item, &v);
        if (n < max) out[n] = v;
        n++;
    }
    return n;
}

void cfg_shape(const cfg *c, const char *section, const char *key, long long dims[3])
{
    const char *t = cfg_get(c, section, key);
    dims[0] = dims[1] = dims[2] = 0;
    if (t && !parse_shape(t, dims)) dims[0] = dims[1] = dims[2] = 0;
}

static const char *origin_of(const cfg *c, int ki, char *buf, size_t len)
{
    const cfg_val *v = &c->vals[ki];
    if (v->src == SRC_DEFAULT) return "default";
    if (v->src == SRC_OVERRIDE) return "-s";
    snprintf(buf, len, "%s:%d", c->files[v->src], v->line);
    return buf;
}

const char *cfg_origin(const cfg *c, const char *section, const char *key, char *buf, size_t len)
{
    int i = key_index(section, key);
    if (i < 0) return "unknown";
    return origin_of(c, i, buf, len);
}

/* "FILE:LINE" of a key for semantic errors; the main file when the key was not set there. */
static void key_loc(const cfg *c, const char *section, const char *key, char *buf, size_t len)
{
    int i = key_index(section, key);
    const cfg_val *v = &c->vals[i];
    if (v->src >= 0)
        snprintf(buf, len, "%s:%d", c->files[v->src], v->line);
    else if (v->src == SRC_OVERRIDE)
        snprintf(buf, len, "-s %s.%s", section, key);
    else
        snprintf(buf, len, "%s", c->nfiles ? c->files[0] : "(no config file)");
}

static bool is(const cfg *c, const char *section, const char *key, const char *value)
{
    return strcmp(cfg_get(c, section, key), value) == 0;
}

int cfg_finish(cfg *c)
{
    size_t before = c->nerr_total;
    char loc[MSG_LEN];
    for (size_t i = 0; i < cfg_schema_len; i++) {
        const cfg_key *k = &cfg_schema[i];
        if (!(k->flags & CFG_REQUIRED) || (c->vals[i].text && *c->vals[i].text)) continue;
        int si = section_index(k->section);
        if (c->sect_line[si])
            snprintf(loc, sizeof loc, "%s:%d", c->files[c->sect_src[si]], c->sect_line[si]);
        else
            snprintf(loc, sizeof loc, "%s", c->nfiles ? c->files[0] : "(no config file)");
        add_error(c, "%s: missing required key '%s' in [%s]", loc, k->key, k->section);
    }
    /* input files must exist; checked once every file and override is in, so that -s can
     * point a config at another file */
    for (size_t i = 0; i < cfg_schema_len; i++) {
        const cfg_key *k = &cfg_schema[i];
        const char *v = c->vals[i].text;
        char why[MSG_LEN];
        if (k->type != CFG_PATH_IN || !v || !*v || is_regular_file(v, why, sizeof why)) continue;
        key_loc(c, k->section, k->key, loc, sizeof loc);
        add_error(c, "%s: [%s] %s: '%s': %s", loc, k->section, k->key, v, why);
    }
    if (*cfg_get(c, "experiment", "model") && *cfg_get(c, "experiment", "trace")) {
        key_loc(c, "experiment", "trace", loc, sizeof loc);
        add_error(c, "%s: [experiment] set either model or trace, not both", loc);
    }
    if (is(c, "exit", "rule", "patience") && !is(c, "exit", "policy", "passive") &&
        !is(c, "exit", "policy", "coarse")) {
        key_loc(c, "exit", "rule", loc, sizeof loc);
        add_error(c, "%s: [exit] rule = patience works only with the passive and coarse policies",
                  loc);
    }
    if (is(c, "exit", "rule", "softmax") && cfg_real(c, "exit", "beta") > 1) {
        key_loc(c, "exit", "beta", loc, sizeof loc);
        add_error(c, "%s: [exit] beta = %s: with rule = softmax it is a probability in (0, 1]", loc,
                  cfg_get(c, "exit", "beta"));
    }
    if (is(c, "workload", "arrival", "trace") && !*cfg_get(c, "workload", "arrival_trace")) {
        key_loc(c, "workload", "arrival", loc, sizeof loc);
        add_error(c, "%s: [workload] arrival = trace needs arrival_trace", loc);
    }
    if (c->nsweep > 0 && is(c, "sweep", "mode", "zip")) {
        long long first = -1;
        char msg[MSG_LEN];
        for (size_t i = 0; i < c->nsweep; i++) {
            const char *dot = strchr(c->sweep[i].param, '.');
            char sect[64];
            snprintf(sect, sizeof sect, "%.*s", (int)(dot - c->sweep[i].param), c->sweep[i].param);
            long long n = sweep_count(cfg_find(sect, dot + 1), c->sweep[i].values, msg, sizeof msg);
            if (n < 0) continue; /* already reported */
            if (first < 0) first = n;
            if (n != first)
                add_error(c,
                          "%s:%d: [sweep] %s has %lld values; mode = zip needs %lld like the first",
                          c->files[c->sweep[i].src], c->sweep[i].line, c->sweep[i].param, n, first);
        }
    }
    return c->nerr_total > before ? -1 : 0;
}

size_t cfg_sweep_count(const cfg *c)
{
    return c->nsweep;
}

const char *cfg_sweep_param(const cfg *c, size_t i)
{
    return i < c->nsweep ? c->sweep[i].param : NULL;
}

const char *cfg_sweep_values(const cfg *c, size_t i)
{
    return i < c->nsweep ? c->sweep[i].values : NULL;
}

/* ---- printing ---- */

/* Shortest decimal text that reads back to the same double. */
static void format_real(double v, char *out, size_t len)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, len, "%.*g", prec, v);
        if (strtod(out, NULL) == v) return;
    }
}

/* Canonical text of a value: numbers normalised, lists joined with ", ". */
static void canonical(const cfg_key *k, const char *text, char *out, size_t len)
{
    char item[128], num[64];
    bool too_long;
    switch (k->type) {
    case CFG_INT: {
        long long v = 0;
        parse_ll(text, &v);
        snprintf(out, len, "%lld", v);
        return;
    }
    case CFG_REAL: {
        double v = 0;
        parse_double(text, &v);
        format_real(v, out, len);
        return;
    }
    case CFG_BOOL: {
        bool b = false;
        parse_bool(text, &b);
        snprintf(out, len, "%s", b ? "true" : "false");
        return;
    }
    case CFG_SHAPE: {
        long long d[3] = {0, 0, 0};
        parse_shape(text, d);
        snprintf(out, len, "%lldx%lldx%lld", d[0], d[1], d[2]);
        return;
    }
    case CFG_INT_LIST:
    case CFG_REAL_LIST:
    case CFG_STR_LIST: {
        size_t used = 0;
        out[0] = '\0';
        const char *p = text;
        while (next_item(&p, item, sizeof item, &too_long) && used < len) {
            const char *piece = item;
            if (k->type == CFG_REAL_LIST) {
                double v = 0;
                parse_double(item, &v);
                format_real(v, num, sizeof num);
                piece = num;
            } else if (k->type == CFG_INT_LIST) {
                long long v = 0;
                parse_ll(item, &v);
                snprintf(num, sizeof num, "%lld", v);
                piece = num;
            }
            used += (size_t)snprintf(out + used, len - used, "%s%s", used ? ", " : "", piece);
        }
        return;
    }
    default:
        snprintf(out, len, "%s", text);
    }
}

/* Growable string used to build the effective text. */
typedef struct sbuf {
    char *s;
    size_t n, cap;
    bool oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(sbuf *b, const char *fmt, ...)
{
    if (b->oom) return;
    va_list ap;
    va_start(ap, fmt);
    int need = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (b->n + (size_t)need + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->n + (size_t)need + 1) cap *= 2;
        char *g = realloc(b->s, cap);
        if (!g) {
            b->oom = true;
            return;
        }
        b->s = g;
        b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->n, b->cap - b->n, fmt, ap);
    va_end(ap);
    b->n += (size_t)need;
}

char *cfg_effective_text(const cfg *c)
{
    sbuf b = {0};
    char val[4096];
    for (int s = 0; cfg_sections[s]; s++) {
        if (strcmp(cfg_sections[s], "sweep") == 0) continue;
        sb_printf(&b, "%s[%s]\n", s ? "\n" : "", cfg_sections[s]);
        for (size_t i = 0; i < cfg_schema_len; i++) {
            const cfg_key *k = &cfg_schema[i];
            if (strcmp(k->section, cfg_sections[s]) != 0 || (k->flags & CFG_WHERE)) continue;
            canonical(k, cfg_get(c, k->section, k->key), val, sizeof val);
            sb_printf(&b, "%s =%s%s\n", k->key, *val ? " " : "", val);
        }
    }
    if (b.oom) {
        free(b.s);
        return NULL;
    }
    return b.s;
}

void cfg_print_annotated(const cfg *c, FILE *out)
{
    char val[4096], line[4200], org[MSG_LEN];
    for (int s = 0; cfg_sections[s]; s++) {
        fprintf(out, "%s[%s]\n", s ? "\n" : "", cfg_sections[s]);
        for (size_t i = 0; i < cfg_schema_len; i++) {
            const cfg_key *k = &cfg_schema[i];
            if (strcmp(k->section, cfg_sections[s]) != 0) continue;
            canonical(k, cfg_get(c, k->section, k->key), val, sizeof val);
            snprintf(line, sizeof line, "%s =%s%s", k->key, *val ? " " : "", val);
            fprintf(out, "%-40s ; %s%s%s\n", line, origin_of(c, (int)i, org, sizeof org),
                    *k->unit ? ", unit " : "", k->unit);
        }
        if (strcmp(cfg_sections[s], "sweep") == 0)
            for (size_t i = 0; i < c->nsweep; i++) {
                snprintf(line, sizeof line, "%s = %s", c->sweep[i].param, c->sweep[i].values);
                fprintf(out, "%-40s ; %s:%d\n", line, c->files[c->sweep[i].src], c->sweep[i].line);
            }
    }
}

static const char *type_name(cfg_type t)
{
    static const char *const names[] = {"int",      "real",      "bool",       "string",
                                        "choice",   "path",      "input file", "shape",
                                        "int list", "real list", "word list"};
    return names[t];
}

void cfg_print_reference(FILE *out)
{
    for (int s = 0; cfg_sections[s]; s++) {
        fprintf(out, "[%s]\n", cfg_sections[s]);
        for (size_t i = 0; i < cfg_schema_len; i++) {
            const cfg_key *k = &cfg_schema[i];
            if (strcmp(k->section, cfg_sections[s]) != 0) continue;
            char range[128] = "";
            if (k->type == CFG_INT || k->type == CFG_REAL || k->type == CFG_INT_LIST ||
                k->type == CFG_REAL_LIST || k->type == CFG_SHAPE)
                range_text(k, range, sizeof range);
            if (k->type == CFG_ENUM) snprintf(range, sizeof range, "%s", k->choices);
            fprintf(out, "  %-20s %-10s %-8s %-24s default %s%s\n      %s\n", k->key,
                    type_name(k->type), *k->unit ? k->unit : "-", range,
                    *k->def ? k->def : "(none)", (k->flags & CFG_REQUIRED) ? ", required" : "",
                    k->doc);
        }
        if (strcmp(cfg_sections[s], "sweep") == 0)
            fprintf(out, "  section.key          values   -        -                        "
                         "a list (1, 2, 4), ranges first:last:step, or ';'-separated lists\n");
    }
}
