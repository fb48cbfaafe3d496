/* Logit traces: write a trace file (schema in trace.h) atomically, load and validate one into a
 * single contiguous logit array, the threshold rule and per-exit statistics, and the CSV/NPY
 * import and CSV export of `pesim trace`. */
#include "trace.h"
#include "util.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sqlite3.h>

#define FLOAT_BYTES  4 /* a float32 in a BLOB or an NPY '<f4' */
#define DOUBLE_BYTES 8
#define BYTE_BITS    8
#define MIN_CLASSES  2     /* as models/net.h NET_MIN_CLASSES */
#define MAX_CLASSES  65536 /* as models/net.h NET_MAX_CLASSES */
#define INT_TEXT_MAX 24    /* a 64-bit integer as text */
#define NAME_MAX_LEN 32    /* a default exit name "exit4095" */
#define ISO_TIME_MAX 32
#define TMP_SUFFIX   ".tmp"
#define PERCENT      100.0
#define CSV_FIXED    3 /* sample, label, exit before the logit columns */
#define EXPORT_BUF   (1 << 16)

/* meta keys the format owns; provenance may not use them. */
static const char *const reserved_keys[] = {"format", "format_version", "classes", "exits"};
#define N_RESERVED (sizeof reserved_keys / sizeof reserved_keys[0])

static const char *const schema_sql =
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT) STRICT;"
    "CREATE TABLE exits(exit INTEGER PRIMARY KEY, name TEXT NOT NULL, threshold REAL,"
    " backbone_macs INTEGER, head_macs INTEGER) STRICT;"
    "CREATE TABLE samples(sample INTEGER PRIMARY KEY, label INTEGER NOT NULL,"
    " logits BLOB NOT NULL) STRICT;";

struct trace {
    int classes, exits;
    size_t n;      /* samples */
    size_t stride; /* floats per sample: (exits + 1) · classes */
    int64_t *ids;  /* ascending */
    int *labels;
    float *logits;          /* n · stride, sample-major, then exit-major */
    char **names;           /* exits + 1 */
    double *thresholds;     /* exits + 1; NAN for "final" (and for imports until computed) */
    int64_t *backbone_macs; /* exits + 1; -1 unknown */
    int64_t *head_macs;
    char **meta_keys; /* sorted by key */
    char **meta_values;
    int n_meta;
};

struct trace_writer {
    sqlite3 *db;
    sqlite3_stmt *insert;
    char *path, *tmp;
    int classes, exits;
    size_t stride;
    unsigned char *blob;
    uint64_t added;
    bool failed; /* a write failed: finish refuses */
};

__attribute__((format(printf, 3, 4))) static void set_err(char *err, size_t errlen, const char *fmt,
                                                          ...)
{
    if (!err || errlen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static bool is_reserved(const char *key)
{
    for (size_t i = 0; i < N_RESERVED; i++)
        if (!strcmp(key, reserved_keys[i])) return true;
    return false;
}

static bool host_little_endian(void)
{
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* Explicit little-endian float32 encoding, independent of the host's byte order. */
static void encode_floats(const float *src, size_t count, unsigned char *dst)
{
    if (host_little_endian()) {
        memcpy(dst, src, count * FLOAT_BYTES);
        return;
    }
    for (size_t i = 0; i < count; i++) {
        uint32_t u;
        memcpy(&u, &src[i], sizeof u);
        for (int b = 0; b < FLOAT_BYTES; b++)
            dst[i * FLOAT_BYTES + b] = (unsigned char)(u >> (BYTE_BITS * b));
    }
}

static void decode_floats(const unsigned char *src, size_t count, float *dst)
{
    if (host_little_endian()) {
        memcpy(dst, src, count * FLOAT_BYTES);
        return;
    }
    for (size_t i = 0; i < count; i++) {
        uint32_t u = 0;
        for (int b = 0; b < FLOAT_BYTES; b++)
            u |= (uint32_t)src[i * FLOAT_BYTES + b] << (BYTE_BITS * b);
        memcpy(&dst[i], &u, sizeof u);
    }
}

/* Little-endian unsigned integer of `bytes` bytes. */
static uint64_t read_le(const unsigned char *p, int bytes)
{
    uint64_t v = 0;
    for (int b = 0; b < bytes; b++) v |= (uint64_t)p[b] << (BYTE_BITS * b);
    return v;
}

/* Index of the first non-finite value, or -1. */
static long long first_nonfinite(const float *v, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (!isfinite(v[i])) return (long long)i;
    return -1;
}

static void default_name(int l, int exits, char *buf, size_t len)
{
    if (l == exits)
        snprintf(buf, len, "%s", TRACE_FINAL_NAME);
    else
        snprintf(buf, len, "exit%d", l);
}

static char *path_with_suffix(const char *path)
{
    size_t len = strlen(path) + sizeof TMP_SUFFIX;
    char *tmp = malloc(len);
    if (tmp) snprintf(tmp, len, "%s%s", path, TMP_SUFFIX);
    return tmp;
}

/* ---- the in-memory trace ---- */

/* A trace with classes, exits and room for n samples; default names, unknown thresholds and
 * MACs, no meta. NULL on out-of-memory. */
static trace *trace_new(int classes, int exits, size_t n)
{
    size_t stride = (size_t)(exits + 1) * (size_t)classes;
    if (n > SIZE_MAX / sizeof(float) / stride) return NULL;
    trace *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->classes = classes;
    t->exits = exits;
    t->n = n;
    t->stride = stride;
    size_t rows = (size_t)exits + 1, alloc_n = n ? n : 1;
    t->ids = malloc(alloc_n * sizeof *t->ids);
    t->labels = malloc(alloc_n * sizeof *t->labels);
    t->logits = malloc(alloc_n * t->stride * sizeof *t->logits);
    t->names = calloc(rows, sizeof *t->names);
    t->thresholds = malloc(rows * sizeof *t->thresholds);
    t->backbone_macs = malloc(rows * sizeof *t->backbone_macs);
    t->head_macs = malloc(rows * sizeof *t->head_macs);
    if (!t->ids || !t->labels || !t->logits || !t->names || !t->thresholds || !t->backbone_macs ||
        !t->head_macs) {
        trace_free(t);
        return NULL;
    }
    for (size_t l = 0; l < rows; l++) {
        char name[NAME_MAX_LEN];
        default_name((int)l, exits, name, sizeof name);
        t->names[l] = strdup(name);
        if (!t->names[l]) {
            trace_free(t);
            return NULL;
        }
        t->thresholds[l] = NAN;
        t->backbone_macs[l] = -1;
        t->head_macs[l] = -1;
    }
    return t;
}

void trace_free(trace *t)
{
    if (!t) return;
    for (int l = 0; t->names && l <= t->exits; l++) free(t->names[l]);
    for (int i = 0; i < t->n_meta; i++) {
        free(t->meta_keys[i]);
        free(t->meta_values[i]);
    }
    free(t->meta_keys);
    free(t->meta_values);
    free(t->names);
    free(t->thresholds);
    free(t->backbone_macs);
    free(t->head_macs);
    free(t->ids);
    free(t->labels);
    free(t->logits);
    free(t);
}

/* ---- writing ---- */

static int exec_sql(sqlite3 *db, const char *sql, const char *path, char *err, size_t errlen)
{
    return util_sql_exec(db, sql, path, err, errlen) ? TRACE_EIO : TRACE_OK;
}

/* Run a prepared insert once and reset it; reports the SQLite error against path. */
static int step_insert(sqlite3 *db, sqlite3_stmt *st, const char *path, char *err, size_t errlen)
{
    return util_sql_insert(db, st, path, err, errlen) ? TRACE_EIO : TRACE_OK;
}

static int check_names(const char *path, const trace_header *h, char *err, size_t errlen)
{
    for (int l = 0; l <= h->exits; l++) {
        const char *name = h->names[l];
        if (!name || !*name) {
            set_err(err, errlen, "%s: exit %d has no name", path, l);
            return TRACE_EARG;
        }
        if ((l == h->exits) != !strcmp(name, TRACE_FINAL_NAME)) {
            set_err(err, errlen,
                    "%s: exit %d is named '%s'; the last (%d) and only it must be '%s'", path, l,
                    name, h->exits, TRACE_FINAL_NAME);
            return TRACE_EARG;
        }
        for (int k = 0; k < l; k++)
            if (!strcmp(name, h->names[k])) {
                set_err(err, errlen, "%s: exit %d repeats the name '%s' of exit %d", path, l, name,
                        k);
                return TRACE_EARG;
            }
    }
    return TRACE_OK;
}

static int check_meta_args(const char *path, const trace_header *h, char *err, size_t errlen)
{
    if (h->n_meta < 0 || (h->n_meta && (!h->meta_keys || !h->meta_values))) {
        set_err(err, errlen, "%s: trace header: missing meta arrays", path);
        return TRACE_EARG;
    }
    for (int i = 0; i < h->n_meta; i++) {
        if (!h->meta_keys[i] || !h->meta_values[i] || !*h->meta_keys[i]) {
            set_err(err, errlen, "%s: meta entry %d is empty", path, i);
            return TRACE_EARG;
        }
        if (is_reserved(h->meta_keys[i])) {
            set_err(err, errlen, "%s: meta key '%s' is reserved", path, h->meta_keys[i]);
            return TRACE_EARG;
        }
        for (int k = 0; k < i; k++)
            if (!strcmp(h->meta_keys[i], h->meta_keys[k])) {
                set_err(err, errlen, "%s: meta key '%s' is given twice", path, h->meta_keys[i]);
                return TRACE_EARG;
            }
    }
    return TRACE_OK;
}

/* Refuse to write a header trace_load would reject. */
static int check_header(const char *path, const trace_header *h, char *err, size_t errlen)
{
    if (h->classes < MIN_CLASSES || h->classes > MAX_CLASSES) {
        set_err(err, errlen, "%s: %d classes; a trace needs %d .. %d", path, h->classes,
                MIN_CLASSES, MAX_CLASSES);
        return TRACE_EARG;
    }
    if (h->exits < 0 || h->exits > TRACE_MAX_EXITS) {
        set_err(err, errlen, "%s: %d exits; a trace holds 0 .. %d", path, h->exits,
                TRACE_MAX_EXITS);
        return TRACE_EARG;
    }
    if (h->exits > 0 && !h->thresholds) {
        set_err(err, errlen, "%s: trace header: no thresholds", path);
        return TRACE_EARG;
    }
    for (int l = 0; l < h->exits; l++)
        if (!isfinite(h->thresholds[l]) || h->thresholds[l] < 0) {
            set_err(err, errlen, "%s: exit %d has threshold %g; it must be finite and >= 0", path,
                    l, h->thresholds[l]);
            return TRACE_EARG;
        }
    int rc = h->names ? check_names(path, h, err, errlen) : TRACE_OK;
    return rc ? rc : check_meta_args(path, h, err, errlen);
}

static int put_meta(sqlite3 *db, sqlite3_stmt *st, const char *key, const char *value,
                    const char *path, char *err, size_t errlen)
{
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
    return step_insert(db, st, path, err, errlen);
}

static int write_meta(trace_writer *w, const trace_header *h, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(w->db, "INSERT INTO meta(key, value) VALUES(?, ?)", -1, &st, NULL)) {
        set_err(err, errlen, "%s: %s", w->path, sqlite3_errmsg(w->db));
        return TRACE_EIO;
    }
    char version[INT_TEXT_MAX], classes[INT_TEXT_MAX], exits[INT_TEXT_MAX];
    snprintf(version, sizeof version, "%d", TRACE_FORMAT_VERSION);
    snprintf(classes, sizeof classes, "%d", h->classes);
    snprintf(exits, sizeof exits, "%d", h->exits);
    int rc = put_meta(w->db, st, "format", TRACE_FORMAT, w->path, err, errlen);
    if (!rc) rc = put_meta(w->db, st, "format_version", version, w->path, err, errlen);
    if (!rc) rc = put_meta(w->db, st, "classes", classes, w->path, err, errlen);
    if (!rc) rc = put_meta(w->db, st, "exits", exits, w->path, err, errlen);
    bool have_created = false;
    for (int i = 0; i < h->n_meta && !rc; i++) {
        have_created |= !strcmp(h->meta_keys[i], "created_at");
        rc = put_meta(w->db, st, h->meta_keys[i], h->meta_values[i], w->path, err, errlen);
    }
    if (!rc && !have_created) {
        char now[ISO_TIME_MAX];
        time_t tt = time(NULL);
        struct tm tm;
        gmtime_r(&tt, &tm);
        strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%SZ", &tm);
        rc = put_meta(w->db, st, "created_at", now, w->path, err, errlen);
    }
    sqlite3_finalize(st);
    return rc;
}

static int write_exits(trace_writer *w, const trace_header *h, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(w->db,
                           "INSERT INTO exits(exit, name, threshold, backbone_macs, head_macs)"
                           " VALUES(?, ?, ?, ?, ?)",
                           -1, &st, NULL)) {
        set_err(err, errlen, "%s: %s", w->path, sqlite3_errmsg(w->db));
        return TRACE_EIO;
    }
    int rc = TRACE_OK;
    for (int l = 0; l <= h->exits && !rc; l++) {
        char name[NAME_MAX_LEN];
        default_name(l, h->exits, name, sizeof name);
        sqlite3_bind_int(st, 1, l);
        sqlite3_bind_text(st, 2, h->names ? h->names[l] : name, -1, SQLITE_TRANSIENT);
        if (l < h->exits) sqlite3_bind_double(st, 3, h->thresholds[l]); /* "final": NULL */
        if (h->backbone_macs && h->backbone_macs[l] >= 0)
            sqlite3_bind_int64(st, 4, h->backbone_macs[l]);
        if (h->head_macs && h->head_macs[l] >= 0) sqlite3_bind_int64(st, 5, h->head_macs[l]);
        rc = step_insert(w->db, st, w->path, err, errlen);
    }
    sqlite3_finalize(st);
    return rc;
}

/* Close the database and remove the temporary file, then free w. */
static void writer_discard(trace_writer *w)
{
    if (!w) return;
    sqlite3_finalize(w->insert);
    sqlite3_close(w->db);
    if (w->tmp) remove(w->tmp);
    free(w->tmp);
    free(w->path);
    free(w->blob);
    free(w);
}

int trace_writer_open(trace_writer **out, const char *path, const trace_header *h, char *err,
                      size_t errlen)
{
    if (!out || !path || !h) {
        set_err(err, errlen, "%s: trace_writer_open: missing argument", path ? path : "(null)");
        return TRACE_EARG;
    }
    *out = NULL;
    int rc = check_header(path, h, err, errlen);
    if (rc) return rc;
    trace_writer *w = calloc(1, sizeof *w);
    if (w) {
        w->classes = h->classes;
        w->exits = h->exits;
        w->stride = (size_t)(h->exits + 1) * (size_t)h->classes;
        w->path = strdup(path);
        w->tmp = path_with_suffix(path);
        w->blob = malloc(w->stride * FLOAT_BYTES);
    }
    if (!w || !w->path || !w->tmp || !w->blob) {
        set_err(err, errlen, "%s: out of memory", path);
        writer_discard(w);
        return TRACE_ENOMEM;
    }
    remove(w->tmp); /* a stale temporary from an interrupted write */
    if (sqlite3_open_v2(w->tmp, &w->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL)) {
        set_err(err, errlen, "%s: cannot create: %s", w->tmp,
                w->db ? sqlite3_errmsg(w->db) : "no memory");
        writer_discard(w);
        return TRACE_EIO;
    }
    rc = exec_sql(w->db, "BEGIN", path, err, errlen);
    if (!rc) rc = exec_sql(w->db, schema_sql, path, err, errlen);
    if (!rc) rc = write_meta(w, h, err, errlen);
    if (!rc) rc = write_exits(w, h, err, errlen);
    if (!rc &&
        sqlite3_prepare_v2(w->db, "INSERT INTO samples(sample, label, logits) VALUES(?, ?, ?)", -1,
                           &w->insert, NULL)) {
        set_err(err, errlen, "%s: %s", path, sqlite3_errmsg(w->db));
        rc = TRACE_EIO;
    }
    if (rc) {
        writer_discard(w);
        return rc;
    }
    *out = w;
    return TRACE_OK;
}

int trace_writer_add(trace_writer *w, int64_t sample, int label, const float *logits, char *err,
                     size_t errlen)
{
    if (!w || !logits) {
        set_err(err, errlen, "trace_writer_add: missing argument");
        return TRACE_EARG;
    }
    if (sample < 0) {
        set_err(err, errlen, "%s: sample id %lld is negative", w->path, (long long)sample);
        return TRACE_EARG;
    }
    if (label < 0 || label >= w->classes) {
        set_err(err, errlen, "%s: sample %lld: label %d is not a class in 0 .. %d", w->path,
                (long long)sample, label, w->classes - 1);
        return TRACE_EARG;
    }
    long long bad = first_nonfinite(logits, w->stride);
    if (bad >= 0) {
        set_err(err, errlen, "%s: sample %lld: exit %lld class %lld logit is not finite (%g)",
                w->path, (long long)sample, bad / w->classes, bad % w->classes,
                (double)logits[bad]);
        return TRACE_EARG;
    }
    encode_floats(logits, w->stride, w->blob);
    sqlite3_bind_int64(w->insert, 1, sample);
    sqlite3_bind_int(w->insert, 2, label);
    sqlite3_bind_blob64(w->insert, 3, w->blob, w->stride * FLOAT_BYTES, SQLITE_STATIC);
    int step = sqlite3_step(w->insert);
    int ext = sqlite3_extended_errcode(w->db);
    sqlite3_reset(w->insert);
    if (step == SQLITE_DONE) {
        w->added++;
        return TRACE_OK;
    }
    if (ext == SQLITE_CONSTRAINT_PRIMARYKEY) {
        set_err(err, errlen, "%s: sample %lld is added twice", w->path, (long long)sample);
        return TRACE_EARG;
    }
    set_err(err, errlen, "%s: %s", w->path, sqlite3_errmsg(w->db));
    w->failed = true;
    return TRACE_EIO;
}

int trace_writer_finish(trace_writer *w, char *err, size_t errlen)
{
    if (!w) {
        set_err(err, errlen, "trace_writer_finish: missing argument");
        return TRACE_EARG;
    }
    int rc = TRACE_OK;
    if (w->failed) {
        set_err(err, errlen, "%s: not written after an earlier write error", w->path);
        rc = TRACE_EIO;
    } else if (w->added == 0) {
        set_err(err, errlen, "%s: no samples to write", w->path);
        rc = TRACE_EARG;
    }
    sqlite3_finalize(w->insert);
    w->insert = NULL;
    if (!rc) rc = exec_sql(w->db, "COMMIT", w->path, err, errlen);
    if (!rc && sqlite3_close(w->db) != SQLITE_OK) {
        set_err(err, errlen, "%s: closing failed", w->tmp);
        rc = TRACE_EIO;
    }
    if (!rc) {
        w->db = NULL;
        if (rename(w->tmp, w->path)) {
            set_err(err, errlen, "%s: cannot rename %s into place: %s", w->path, w->tmp,
                    strerror(errno));
            rc = TRACE_EIO;
        } else {
            free(w->tmp);
            w->tmp = NULL; /* nothing left to remove */
        }
    }
    writer_discard(w);
    return rc;
}

void trace_writer_abort(trace_writer *w)
{
    writer_discard(w); /* the transaction dies with the file */
}

int trace_save(const trace *t, const char *path, const trace_header *h, char *err, size_t errlen)
{
    if (!t || !h) {
        set_err(err, errlen, "%s: trace_save: missing argument", path ? path : "(null)");
        return TRACE_EARG;
    }
    if (h->classes != t->classes || h->exits != t->exits) {
        set_err(err, errlen, "%s: header says %d classes and %d exits; the trace has %d and %d",
                path ? path : "(null)", h->classes, h->exits, t->classes, t->exits);
        return TRACE_EARG;
    }
    trace_writer *w = NULL;
    int rc = trace_writer_open(&w, path, h, err, errlen);
    for (size_t i = 0; !rc && i < t->n; i++)
        rc = trace_writer_add(w, t->ids[i], t->labels[i], trace_logits(t, i), err, errlen);
    if (rc) {
        trace_writer_abort(w);
        return rc;
    }
    return trace_writer_finish(w, err, errlen);
}

/* ---- loading ---- */

/* Loader state: the open database, the trace being filled and the file name for messages. */
typedef struct loader {
    sqlite3 *db;
    const char *path;
    char *err;
    size_t errlen;
} loader;

/* The message for a failed SQLite call on the file: damaged, or not a trace at all. */
static void sql_error(loader *l)
{
    int code = sqlite3_errcode(l->db);
    const char *what = code == SQLITE_CORRUPT                          ? "damaged or truncated file"
                       : code == SQLITE_NOTADB || code == SQLITE_ERROR ? "not a pesim trace file"
                                                                       : "cannot read";
    set_err(l->err, l->errlen, "%s: %s (%s)", l->path, what, sqlite3_errmsg(l->db));
}

/* Every meta row into t (sorted by key). */
static int load_meta(loader *l, trace *t)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(l->db, "SELECT key, value FROM meta ORDER BY key", -1, &st, NULL)) {
        sql_error(l);
        return TRACE_EFORMAT;
    }
    int rc = TRACE_OK, step;
    while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(st, 0);
        const char *v = (const char *)sqlite3_column_text(st, 1);
        char **nk = realloc(t->meta_keys, (size_t)(t->n_meta + 1) * sizeof *nk);
        if (nk) t->meta_keys = nk;
        char **nv = realloc(t->meta_values, (size_t)(t->n_meta + 1) * sizeof *nv);
        if (nv) t->meta_values = nv;
        char *ks = nk && nv ? strdup(k ? k : "") : NULL;
        char *vs = ks ? strdup(v ? v : "") : NULL;
        if (!vs) {
            free(ks);
            set_err(l->err, l->errlen, "%s: out of memory", l->path);
            rc = TRACE_ENOMEM;
            break;
        }
        t->meta_keys[t->n_meta] = ks;
        t->meta_values[t->n_meta++] = vs;
    }
    if (!rc && step != SQLITE_DONE) {
        sql_error(l);
        rc = TRACE_EFORMAT;
    }
    sqlite3_finalize(st);
    return rc;
}

/* A meta value as a whole number in lo .. hi. */
static int meta_int(loader *l, const trace *t, const char *key, long lo, long hi, long *out)
{
    const char *v = trace_meta(t, key);
    if (!v) {
        set_err(l->err, l->errlen, "%s: missing meta '%s'", l->path, key);
        return TRACE_EFORMAT;
    }
    char *end = NULL;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (end == v || *end || errno || x < lo || x > hi) {
        set_err(l->err, l->errlen, "%s: meta '%s' is '%s'; it must be a whole number in %ld .. %ld",
                l->path, key, v, lo, hi);
        return TRACE_EFORMAT;
    }
    *out = x;
    return TRACE_OK;
}

/* Format, version, classes and exits from meta. */
static int check_format(loader *l, const trace *t, long *classes, long *exits)
{
    const char *format = trace_meta(t, "format");
    if (!format || strcmp(format, TRACE_FORMAT)) {
        if (format)
            set_err(l->err, l->errlen, "%s: not a pesim trace file (format '%s')", l->path, format);
        else
            set_err(l->err, l->errlen, "%s: not a pesim trace file (no meta 'format')", l->path);
        return TRACE_EFORMAT;
    }
    const char *version = trace_meta(t, "format_version");
    char *end = NULL;
    long v = version ? strtol(version, &end, 10) : 0;
    if (!version || end == version || *end || v < 1) {
        set_err(l->err, l->errlen, "%s: bad format version '%s'", l->path,
                version ? version : "(missing)");
        return TRACE_EFORMAT;
    }
    if (v > TRACE_FORMAT_VERSION) {
        set_err(l->err, l->errlen, "%s: format version %ld is newer than this pesim reads (%d)",
                l->path, v, TRACE_FORMAT_VERSION);
        return TRACE_EFORMAT;
    }
    int rc = meta_int(l, t, "classes", MIN_CLASSES, MAX_CLASSES, classes);
    return rc ? rc : meta_int(l, t, "exits", 0, TRACE_MAX_EXITS, exits);
}

/* A MAC column: NULL → -1, else an integer >= 0. */
static int load_macs(loader *l, sqlite3_stmt *st, int col, int i, const char *name,
                     const char *what, int64_t *out)
{
    int type = sqlite3_column_type(st, col);
    if (type == SQLITE_NULL) {
        *out = -1;
        return TRACE_OK;
    }
    int64_t v = sqlite3_column_int64(st, col);
    if (type != SQLITE_INTEGER || v < 0) {
        set_err(l->err, l->errlen,
                "%s: exit %d ('%s') has %s '%s'; it must be a whole number >= 0 or NULL", l->path,
                i, name, what, (const char *)sqlite3_column_text(st, col));
        return TRACE_EFORMAT;
    }
    *out = v;
    return TRACE_OK;
}

/* Check one exits row (expected index i) and store it. */
static int load_exit_row(loader *l, trace *t, sqlite3_stmt *st, int i)
{
    sqlite3_int64 idx = sqlite3_column_int64(st, 0);
    const char *name = (const char *)sqlite3_column_text(st, 1);
    name = name ? name : "";
    if (idx != i || i > t->exits) {
        if (i <= t->exits)
            set_err(l->err, l->errlen, "%s: missing exit row %d", l->path, i);
        else
            set_err(l->err, l->errlen, "%s: unexpected exit row %lld (meta says %d exits + final)",
                    l->path, (long long)idx, t->exits);
        return TRACE_EFORMAT;
    }
    bool final = i == t->exits;
    if (!*name || final != !strcmp(name, TRACE_FINAL_NAME)) {
        set_err(l->err, l->errlen,
                "%s: exit %d is named '%s'; the last (%d) and only it must be '%s'", l->path, i,
                name, t->exits, TRACE_FINAL_NAME);
        return TRACE_EFORMAT;
    }
    for (int k = 0; k < i; k++)
        if (!strcmp(name, t->names[k])) {
            set_err(l->err, l->errlen, "%s: exit %d repeats the name '%s' of exit %d", l->path, i,
                    name, k);
            return TRACE_EFORMAT;
        }
    char *copy = strdup(name);
    if (!copy) {
        set_err(l->err, l->errlen, "%s: out of memory", l->path);
        return TRACE_ENOMEM;
    }
    free(t->names[i]);
    t->names[i] = copy;
    bool null_thr = sqlite3_column_type(st, 2) == SQLITE_NULL;
    double thr = null_thr ? NAN : sqlite3_column_double(st, 2);
    if (final && !null_thr) {
        set_err(l->err, l->errlen, "%s: the final classifier has a threshold; it must be NULL",
                l->path);
        return TRACE_EFORMAT;
    }
    if (!final && (null_thr || !isfinite(thr) || thr < 0)) {
        set_err(l->err, l->errlen,
                "%s: exit %d ('%s') has threshold %g; it must be finite and >= 0", l->path, i, name,
                thr);
        return TRACE_EFORMAT;
    }
    t->thresholds[i] = thr;
    int rc = load_macs(l, st, 3, i, name, "backbone_macs", &t->backbone_macs[i]);
    return rc ? rc : load_macs(l, st, 4, i, name, "head_macs", &t->head_macs[i]);
}

static int load_exits(loader *l, trace *t)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(l->db,
                           "SELECT exit, name, threshold, backbone_macs, head_macs FROM exits"
                           " ORDER BY exit",
                           -1, &st, NULL)) {
        sql_error(l);
        return TRACE_EFORMAT;
    }
    int rc = TRACE_OK, step, i = 0;
    while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) rc = load_exit_row(l, t, st, i++);
    if (!rc && step != SQLITE_DONE) {
        sql_error(l);
        rc = TRACE_EFORMAT;
    }
    sqlite3_finalize(st);
    if (!rc && i <= t->exits) {
        set_err(l->err, l->errlen, "%s: missing exit row %d", l->path, i);
        rc = TRACE_EFORMAT;
    }
    return rc;
}

static int count_samples(loader *l, size_t *n)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(l->db, "SELECT count(*) FROM samples", -1, &st, NULL)) {
        sql_error(l);
        return TRACE_EFORMAT;
    }
    int rc = TRACE_OK;
    if (sqlite3_step(st) == SQLITE_ROW) {
        *n = (size_t)sqlite3_column_int64(st, 0);
    } else {
        sql_error(l);
        rc = TRACE_EFORMAT;
    }
    sqlite3_finalize(st);
    if (!rc && *n == 0) {
        set_err(l->err, l->errlen, "%s: no samples", l->path);
        rc = TRACE_EFORMAT;
    }
    return rc;
}

/* Check one samples row and decode it into sample slot i. */
static int load_sample_row(loader *l, trace *t, sqlite3_stmt *st, size_t i)
{
    long long id = sqlite3_column_int64(st, 0);
    if (id < 0) {
        set_err(l->err, l->errlen, "%s: sample %lld: negative sample id", l->path, id);
        return TRACE_EFORMAT;
    }
    int label_type = sqlite3_column_type(st, 1), blob_type = sqlite3_column_type(st, 2);
    long long label = sqlite3_column_int64(st, 1);
    if (label_type != SQLITE_INTEGER || label < 0 || label >= t->classes) {
        set_err(l->err, l->errlen, "%s: sample %lld: label '%s' is not a class in 0 .. %d", l->path,
                id, (const char *)sqlite3_column_text(st, 1), t->classes - 1);
        return TRACE_EFORMAT;
    }
    const unsigned char *blob = sqlite3_column_blob(st, 2);
    size_t bytes = (size_t)sqlite3_column_bytes(st, 2), want = t->stride * FLOAT_BYTES;
    if (blob_type != SQLITE_BLOB || bytes != want) {
        set_err(l->err, l->errlen,
                "%s: sample %lld: logits hold %zu bytes; %d exits + final x %d classes need %zu",
                l->path, id, bytes, t->exits, t->classes, want);
        return TRACE_EFORMAT;
    }
    float *z = t->logits + i * t->stride;
    decode_floats(blob, t->stride, z);
    long long bad = first_nonfinite(z, t->stride);
    if (bad >= 0) {
        int l_bad = (int)(bad / t->classes);
        set_err(l->err, l->errlen,
                "%s: sample %lld: exit %d ('%s') class %lld logit is not finite (%g)", l->path, id,
                l_bad, t->names[l_bad], bad % t->classes, (double)z[bad]);
        return TRACE_EFORMAT;
    }
    t->ids[i] = id;
    t->labels[i] = (int)label;
    return TRACE_OK;
}

static int load_samples(loader *l, trace *t)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(l->db, "SELECT sample, label, logits FROM samples ORDER BY sample", -1,
                           &st, NULL)) {
        sql_error(l);
        return TRACE_EFORMAT;
    }
    int rc = TRACE_OK, step;
    size_t i = 0;
    while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
        if (i == t->n) break; /* more rows than counted: reported below */
        rc = load_sample_row(l, t, st, i++);
    }
    if (!rc && step != SQLITE_DONE && step != SQLITE_ROW) {
        sql_error(l);
        rc = TRACE_EFORMAT;
    }
    if (!rc && (i != t->n || step == SQLITE_ROW)) {
        set_err(l->err, l->errlen, "%s: the samples table changed while it was read", l->path);
        rc = TRACE_EFORMAT;
    }
    sqlite3_finalize(st);
    return rc;
}

/* With meta read into the shell *tp: check it, then move the meta into a trace sized from it
 * (*tp replaced) and read the exits and samples. */
static int load_body(loader *l, trace **tp)
{
    trace *shell = *tp;
    long classes = 0, exits = 0;
    int rc = check_format(l, shell, &classes, &exits);
    size_t n = 0;
    if (!rc) rc = count_samples(l, &n);
    if (rc) return rc;
    trace *t = trace_new((int)classes, (int)exits, n);
    if (!t) {
        set_err(l->err, l->errlen, "%s: out of memory", l->path);
        return TRACE_ENOMEM;
    }
    /* meta moves over from the shell */
    t->meta_keys = shell->meta_keys;
    t->meta_values = shell->meta_values;
    t->n_meta = shell->n_meta;
    shell->meta_keys = shell->meta_values = NULL;
    shell->n_meta = 0;
    trace_free(shell);
    *tp = t;
    rc = load_exits(l, t);
    return rc ? rc : load_samples(l, t);
}

int trace_load(const char *path, trace **out, char *err, size_t errlen)
{
    if (!out || !path) {
        set_err(err, errlen, "trace_load: missing argument");
        return TRACE_EARG;
    }
    *out = NULL;
    struct stat sb;
    if (stat(path, &sb)) {
        set_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return TRACE_EIO;
    }
    if (!S_ISREG(sb.st_mode)) {
        set_err(err, errlen, "%s: not a pesim trace file (not a regular file)", path);
        return TRACE_EIO;
    }
    if (util_sqlite_truncated(path, err, errlen)) return TRACE_EFORMAT;
    loader l = {NULL, path, err, errlen};
    if (sqlite3_open_v2(path, &l.db, SQLITE_OPEN_READONLY, NULL)) {
        set_err(err, errlen, "%s: cannot open: %s", path,
                l.db ? sqlite3_errmsg(l.db) : "no memory");
        sqlite3_close(l.db);
        return TRACE_EIO;
    }
    trace *t = trace_new(MIN_CLASSES, 0, 0); /* a shell for meta until sizes are known */
    int rc = t ? TRACE_OK : TRACE_ENOMEM;
    if (!t) set_err(err, errlen, "%s: out of memory", path);
    if (!rc) rc = load_meta(&l, t);
    if (!rc) rc = load_body(&l, &t);
    sqlite3_close(l.db);
    if (rc) {
        trace_free(t);
        return rc;
    }
    *out = t;
    return TRACE_OK;
}

/* ---- accessors ---- */

size_t trace_samples(const trace *t)
{
    return t ? t->n : 0;
}

int trace_classes(const trace *t)
{
    return t ? t->classes : 0;
}

int trace_exits(const trace *t)
{
    return t ? t->exits : 0;
}

int64_t trace_sample_id(const trace *t, size_t i)
{
    return t && i < t->n ? t->ids[i] : -1;
}

int trace_label(const trace *t, size_t i)
{
    return t && i < t->n ? t->labels[i] : -1;
}

const float *trace_logits(const trace *t, size_t i)
{
    return t && i < t->n ? t->logits + i * t->stride : NULL;
}

const float *trace_exit_logits(const trace *t, size_t i, int l)
{
    if (!t || i >= t->n || l < 0 || l > t->exits) return NULL;
    return t->logits + i * t->stride + (size_t)l * (size_t)t->classes;
}

long long trace_find(const trace *t, int64_t id)
{
    if (!t) return -1;
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->ids[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < t->n && t->ids[lo] == id ? (long long)lo : -1;
}

double trace_threshold(const trace *t, int l)
{
    return t && l >= 0 && l <= t->exits ? t->thresholds[l] : NAN;
}

const char *trace_exit_name(const trace *t, int l)
{
    return t && l >= 0 && l <= t->exits ? t->names[l] : NULL;
}

int64_t trace_backbone_macs(const trace *t, int l)
{
    return t && l >= 0 && l <= t->exits ? t->backbone_macs[l] : -1;
}

int64_t trace_head_macs(const trace *t, int l)
{
    return t && l >= 0 && l <= t->exits ? t->head_macs[l] : -1;
}

const char *trace_meta(const trace *t, const char *key)
{
    if (!t || !key) return NULL;
    for (int i = 0; i < t->n_meta; i++)
        if (!strcmp(t->meta_keys[i], key)) return t->meta_values[i];
    return NULL;
}

/* ---- statistics ---- */

/* max_c |z_c| in float, as models/train.c computes it. */
static float max_abs(const float *z, int classes)
{
    float m = 0.0f;
    for (int c = 0; c < classes; c++) m = fabsf(z[c]) > m ? fabsf(z[c]) : m;
    return m;
}

static int argmax(const float *z, int classes)
{
    int best = 0;
    for (int c = 1; c < classes; c++)
        if (z[c] > z[best]) best = c;
    return best;
}

size_t trace_thresholds_rule(const trace *t, size_t n, double *thresholds)
{
    if (!t || !thresholds || t->n == 0) return 0;
    if (n == 0 || n > t->n) n = t->n;
    for (int l = 0; l < t->exits; l++) {
        double sum = 0.0;
        for (size_t i = 0; i < n; i++) sum += max_abs(trace_exit_logits(t, i, l), t->classes);
        thresholds[l] = sum / (double)n;
    }
    return n;
}

int trace_exit_stats(const trace *t, int l, double *accuracy, double *mean_max_abs)
{
    if (!t || l < 0 || l > t->exits || t->n == 0) return TRACE_EARG;
    size_t correct = 0;
    double sum = 0.0;
    for (size_t i = 0; i < t->n; i++) {
        const float *z = trace_exit_logits(t, i, l);
        correct += argmax(z, t->classes) == t->labels[i];
        sum += max_abs(z, t->classes);
    }
    if (accuracy) *accuracy = (double)correct / (double)t->n;
    if (mean_max_abs) *mean_max_abs = sum / (double)t->n;
    return TRACE_OK;
}

static void print_macs(FILE *out, int64_t macs)
{
    if (macs < 0)
        fprintf(out, "  %14s", "-");
    else
        fprintf(out, "  %14lld", (long long)macs);
}

int trace_print_info(const trace *t, const char *path, FILE *out)
{
    if (!t || !out) return TRACE_EARG;
    fprintf(out, "trace: %s\n", path ? path : "(memory)");
    fprintf(out, "  samples: %zu (ids %lld .. %lld)\n", t->n, (long long)t->ids[0],
            (long long)t->ids[t->n - 1]);
    fprintf(out, "  classes: %d\n  exits: %d + final\n", t->classes, t->exits);
    fprintf(out, "meta:\n");
    for (int i = 0; i < t->n_meta; i++) {
        if (is_reserved(t->meta_keys[i])) continue;
        const char *v = t->meta_values[i];
        int first = (int)strcspn(v, "\n"); /* a layer-list arch runs over many lines */
        fprintf(out, "  %s = %.*s%s\n", t->meta_keys[i], first, v, v[first] ? " ..." : "");
    }
    fprintf(out, "exits:\n  %5s  %-16s  %12s  %10s  %12s  %14s  %14s\n", "index", "name", "T_l",
            "accuracy %", "mean max|z|", "backbone MACs", "head MACs");
    for (int l = 0; l <= t->exits; l++) {
        double acc = 0, mean = 0;
        trace_exit_stats(t, l, &acc, &mean);
        fprintf(out, "  %5d  %-16s  ", l, t->names[l]);
        if (isnan(t->thresholds[l]))
            fprintf(out, "%12s", "-");
        else
            fprintf(out, "%12.6g", t->thresholds[l]);
        fprintf(out, "  %10.2f  %12.6g", acc * PERCENT, mean);
        print_macs(out, t->backbone_macs[l]);
        print_macs(out, t->head_macs[l]);
        fputc('\n', out);
    }
    return ferror(out) ? TRACE_EIO : TRACE_OK;
}

/* ---- import: shared ---- */

/* A sample waiting to be sorted by id: its id and where it came from. */
typedef struct pending {
    int64_t id;
    size_t index; /* order of appearance */
    size_t line;  /* CSV line of its first row; 0 for NPY */
} pending;

static int cmp_pending(const void *a, const void *b)
{
    const pending *x = a, *y = b;
    if (x->id != y->id) return x->id < y->id ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Build a trace from samples in order of appearance (logits n · stride floats), sorted by id;
 * duplicates are an error naming their lines. */
static int build_sorted(const char *path, int classes, int exits, size_t n, const int64_t *ids,
                        const int *labels, const size_t *lines, const float *z, trace **out,
                        char *err, size_t errlen)
{
    pending *p = malloc(n * sizeof *p);
    trace *t = p ? trace_new(classes, exits, n) : NULL;
    if (!t) {
        free(p);
        set_err(err, errlen, "%s: out of memory", path);
        return TRACE_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) p[i] = (pending){ids[i], i, lines ? lines[i] : 0};
    qsort(p, n, sizeof *p, cmp_pending);
    for (size_t i = 1; i < n; i++)
        if (p[i].id == p[i - 1].id) {
            set_err(err, errlen, "%s:%zu: sample %lld appears again (first at line %zu)", path,
                    p[i].line, (long long)p[i].id, p[i - 1].line);
            free(p);
            trace_free(t);
            return TRACE_EFORMAT;
        }
    for (size_t i = 0; i < n; i++) {
        t->ids[i] = p[i].id;
        t->labels[i] = labels[p[i].index];
        memcpy(t->logits + i * t->stride, z + p[i].index * t->stride, t->stride * sizeof *z);
    }
    free(p);
    *out = t;
    return TRACE_OK;
}

static bool check_classes_arg(const char *path, int classes, char *err, size_t errlen)
{
    if (classes >= MIN_CLASSES && classes <= MAX_CLASSES) return true;
    set_err(err, errlen, "%s: %d classes; a trace needs %d .. %d", path, classes, MIN_CLASSES,
            MAX_CLASSES);
    return false;
}

/* ---- import: CSV ---- */

/* Growing arrays of a CSV being read. */
typedef struct csv_state {
    const char *path;
    int classes;
    float *z; /* logit rows, in file order */
    size_t z_rows, z_cap;
    int64_t *ids; /* per sample, in file order */
    int *labels;
    size_t *lines;
    size_t n, cap;
    int exits;      /* E, known once the first sample is complete; -1 before */
    bool in_sample; /* a sample's rows are being read */
    int next_exit;  /* exit the current sample's next row must have */
    char *err;
    size_t errlen;
} csv_state;

static void csv_free(csv_state *s)
{
    free(s->z);
    free(s->ids);
    free(s->labels);
    free(s->lines);
}

/* Split line in place at commas into at most max fields, trimming blanks; returns the number of
 * fields the line has (which may exceed max). */
static int split_fields(char *line, char **fields, int max)
{
    int n = 0;
    char *p = line;
    for (;;) {
        char *comma = strchr(p, ',');
        if (comma) *comma = '\0';
        while (*p == ' ' || *p == '\t') p++;
        size_t len = strlen(p);
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t')) p[--len] = '\0';
        if (n < max) fields[n] = p;
        n++;
        if (!comma) return n;
        p = comma + 1;
    }
}

static bool parse_ll(const char *s, long long lo, long long hi, long long *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end || errno || v < lo || v > hi) return false;
    *out = v;
    return true;
}

static int csv_header(csv_state *s, char **fields, int nf)
{
    static const char *const fixed[CSV_FIXED] = {"sample", "label", "exit"};
    for (int i = 0; i < CSV_FIXED && i < nf; i++)
        if (strcmp(fields[i], fixed[i])) {
            set_err(s->err, s->errlen,
                    "%s:1: header column %d is '%s'; expected '%s' (the header "
                    "is sample,label,exit,z0,...)",
                    s->path, i + 1, fields[i], fixed[i]);
            return TRACE_EFORMAT;
        }
    if (nf != CSV_FIXED + s->classes) {
        set_err(s->err, s->errlen, "%s:1: header has %d logit columns; expected %d (one per class)",
                s->path, nf > CSV_FIXED ? nf - CSV_FIXED : 0, s->classes);
        return TRACE_EFORMAT;
    }
    for (int c = 0; c < s->classes; c++) {
        char want[INT_TEXT_MAX];
        snprintf(want, sizeof want, "z%d", c);
        if (strcmp(fields[CSV_FIXED + c], want)) {
            set_err(s->err, s->errlen, "%s:1: header column %d is '%s'; expected '%s'", s->path,
                    CSV_FIXED + c + 1, fields[CSV_FIXED + c], want);
            return TRACE_EFORMAT;
        }
    }
    return TRACE_OK;
}

/* Close the current sample: its row count must be the trace's E + 1. */
static int csv_close_sample(csv_state *s)
{
    if (!s->in_sample) return TRACE_OK;
    s->in_sample = false;
    int rows = s->next_exit;
    if (s->exits < 0) {
        s->exits = rows - 1;
        return TRACE_OK;
    }
    if (rows == s->exits + 1) return TRACE_OK;
    set_err(s->err, s->errlen,
            "%s:%zu: sample %lld has %d rows (exits 0 .. %d); every sample "
            "needs %d (exits 0 .. %d, as sample %lld)",
            s->path, s->lines[s->n - 1], (long long)s->ids[s->n - 1], rows, rows - 1, s->exits + 1,
            s->exits, (long long)s->ids[0]);
    return TRACE_EFORMAT;
}

static int csv_grow(csv_state *s)
{
    if (s->z_rows == s->z_cap) {
        size_t cap = s->z_cap ? 2 * s->z_cap : 64;
        float *z = realloc(s->z, cap * (size_t)s->classes * sizeof *z);
        if (!z) return TRACE_ENOMEM;
        s->z = z;
        s->z_cap = cap;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        int64_t *ids = realloc(s->ids, cap * sizeof *ids);
        if (ids) s->ids = ids;
        int *labels = realloc(s->labels, cap * sizeof *labels);
        if (labels) s->labels = labels;
        size_t *lines = realloc(s->lines, cap * sizeof *lines);
        if (lines) s->lines = lines;
        if (!ids || !labels || !lines) return TRACE_ENOMEM;
        s->cap = cap;
    }
    return TRACE_OK;
}

/* Where a row of (id, label, exit) fits: a new sample at exit 0, else the next exit of the
 * current one with the same label. */
static int csv_place_row(csv_state *s, size_t line, long long id, long long label, long long ex)
{
    if (ex == 0) {
        if (s->in_sample && id == s->ids[s->n - 1]) {
            set_err(s->err, s->errlen,
                    "%s:%zu: sample %lld: exit 0 again (exits ascend by one from 0)", s->path, line,
                    id);
            return TRACE_EFORMAT;
        }
        int rc = csv_close_sample(s);
        if (rc) return rc;
        s->ids[s->n] = id;
        s->labels[s->n] = (int)label;
        s->lines[s->n++] = line;
        s->in_sample = true;
        s->next_exit = 1;
        return TRACE_OK;
    }
    if (!s->in_sample || id != s->ids[s->n - 1]) {
        set_err(s->err, s->errlen,
                "%s:%zu: sample %lld starts at exit %lld; each sample's rows start at exit 0",
                s->path, line, id, ex);
        return TRACE_EFORMAT;
    }
    if (ex != s->next_exit) {
        set_err(s->err, s->errlen,
                "%s:%zu: sample %lld: exit %lld follows exit %d (exits ascend by one from 0)",
                s->path, line, id, ex, s->next_exit - 1);
        return TRACE_EFORMAT;
    }
    if (s->exits >= 0 && ex > s->exits) {
        set_err(s->err, s->errlen,
                "%s:%zu: sample %lld has more rows than sample %lld (line %zu, "
                "exits 0 .. %d); every sample needs the same exits",
                s->path, line, id, (long long)s->ids[0], s->lines[0], s->exits);
        return TRACE_EFORMAT;
    }
    if (label != s->labels[s->n - 1]) {
        set_err(s->err, s->errlen, "%s:%zu: sample %lld has label %lld here but %d on line %zu",
                s->path, line, id, label, s->labels[s->n - 1], s->lines[s->n - 1]);
        return TRACE_EFORMAT;
    }
    s->next_exit++;
    return TRACE_OK;
}

static int csv_row(csv_state *s, size_t line, char **fields, int nf)
{
    if (nf != CSV_FIXED + s->classes) {
        set_err(s->err, s->errlen, "%s:%zu: %d fields; the header has %d", s->path, line, nf,
                CSV_FIXED + s->classes);
        return TRACE_EFORMAT;
    }
    long long id, label, ex;
    if (!parse_ll(fields[0], 0, INT64_MAX, &id)) {
        set_err(s->err, s->errlen, "%s:%zu: sample '%s' is not a whole number >= 0", s->path, line,
                fields[0]);
        return TRACE_EFORMAT;
    }
    if (!parse_ll(fields[1], 0, s->classes - 1, &label)) {
        set_err(s->err, s->errlen, "%s:%zu: label '%s' is not a class in 0 .. %d", s->path, line,
                fields[1], s->classes - 1);
        return TRACE_EFORMAT;
    }
    if (!parse_ll(fields[2], 0, TRACE_MAX_EXITS, &ex)) {
        set_err(s->err, s->errlen, "%s:%zu: exit '%s' is not a whole number in 0 .. %d", s->path,
                line, fields[2], TRACE_MAX_EXITS);
        return TRACE_EFORMAT;
    }
    if (csv_grow(s)) {
        set_err(s->err, s->errlen, "%s: out of memory", s->path);
        return TRACE_ENOMEM;
    }
    float *z = s->z + s->z_rows * (size_t)s->classes;
    for (int c = 0; c < s->classes; c++) {
        const char *f = fields[CSV_FIXED + c];
        char *end = NULL;
        z[c] = strtof(f, &end);
        if (end == f || *end) {
            set_err(s->err, s->errlen, "%s:%zu: z%d '%s' is not a number", s->path, line, c, f);
            return TRACE_EFORMAT;
        }
        if (!isfinite(z[c])) {
            set_err(s->err, s->errlen, "%s:%zu: z%d '%s' is not a finite float32", s->path, line, c,
                    f);
            return TRACE_EFORMAT;
        }
    }
    int rc = csv_place_row(s, line, id, label, ex);
    if (!rc) s->z_rows++;
    return rc;
}

/* Strip a trailing newline (and CR); true when nothing but blanks is left. */
static bool chomp_blank(char *line)
{
    size_t len = strlen(line);
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
    return strspn(line, " \t") == len;
}

static int csv_read(csv_state *s, FILE *f)
{
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    int max = CSV_FIXED + s->classes, rc = TRACE_OK;
    char **fields = malloc((size_t)max * sizeof *fields);
    if (!fields) {
        set_err(s->err, s->errlen, "%s: out of memory", s->path);
        return TRACE_ENOMEM;
    }
    bool header = false;
    while (!rc && getline(&line, &cap, f) != -1) {
        lineno++;
        if (chomp_blank(line)) continue;
        int nf = split_fields(line, fields, max);
        if (!header) {
            if (lineno != 1) {
                set_err(s->err, s->errlen, "%s:%zu: the header must be the first line", s->path,
                        lineno);
                rc = TRACE_EFORMAT;
                break;
            }
            rc = csv_header(s, fields, nf);
            header = true;
        } else {
            rc = csv_row(s, lineno, fields, nf);
        }
    }
    if (!rc && ferror(f)) {
        set_err(s->err, s->errlen, "%s: read error: %s", s->path, strerror(errno));
        rc = TRACE_EIO;
    }
    if (!rc && !header) {
        set_err(s->err, s->errlen, "%s: empty file; expected the header sample,label,exit,z0,...",
                s->path);
        rc = TRACE_EFORMAT;
    }
    if (!rc) rc = csv_close_sample(s);
    if (!rc && s->n == 0) {
        set_err(s->err, s->errlen, "%s: no samples (only a header)", s->path);
        rc = TRACE_EFORMAT;
    }
    free(fields);
    free(line);
    return rc;
}

int trace_import_csv(const char *path, int classes, trace **out, char *err, size_t errlen)
{
    if (!path || !out) {
        set_err(err, errlen, "trace_import_csv: missing argument");
        return TRACE_EARG;
    }
    *out = NULL;
    if (!check_classes_arg(path, classes, err, errlen)) return TRACE_EARG;
    FILE *f = fopen(path, "r");
    if (!f) {
        set_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return TRACE_EIO;
    }
    csv_state s = {.path = path, .classes = classes, .exits = -1, .err = err, .errlen = errlen};
    int rc = csv_read(&s, f);
    fclose(f);
    if (!rc)
        rc = build_sorted(path, classes, s.exits, s.n, s.ids, s.labels, s.lines, s.z, out, err,
                          errlen);
    csv_free(&s);
    return rc;
}

/* ---- import: NPY (numpy.lib.format, versions 1.0 and 2.0) ---- */

#define NPY_MAGIC       "\x93NUMPY"
#define NPY_MAGIC_LEN   6
#define NPY_V1_PREAMBLE 10 /* magic, version, 2-byte header length */
#define NPY_V2_PREAMBLE 12 /* magic, version, 4-byte header length */
#define NPY_MAX_DIMS    8
#define NPY_DESCR_MAX   16
#define NPY_KEY_MAX     64
#define NPY_SNIPPET     24 /* header text quoted in a parse error */

/* dtypes this reader accepts, with their element sizes. */
static const struct {
    const char *descr;
    int bytes;
} npy_types[] = {{"<f4", 4}, {"<f8", 8}, {"<i8", 8}, {"<i4", 4}, {"|u1", 1}, {"<u1", 1}};

/* A parsed NPY file: the whole file in buf, data pointing into it. */
typedef struct npy {
    unsigned char *buf;
    char descr[NPY_DESCR_MAX];
    int bytes; /* element size */
    int ndim;
    uint64_t shape[NPY_MAX_DIMS];
    uint64_t count; /* elements */
    const unsigned char *data;
} npy;

typedef struct cursor {
    const char *p, *end;
} cursor;

static void skip_ws(cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static bool eat(cursor *c, char ch)
{
    skip_ws(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return true;
    }
    return false;
}

/* A Python string literal in single or double quotes, without escapes. */
static bool parse_pystr(cursor *c, char *buf, size_t len)
{
    skip_ws(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"')) return false;
    char q = *c->p++;
    const char *start = c->p;
    while (c->p < c->end && *c->p != q && *c->p != '\\') c->p++;
    if (c->p >= c->end || *c->p != q || (size_t)(c->p - start) >= len) return false;
    memcpy(buf, start, (size_t)(c->p - start));
    buf[c->p - start] = '\0';
    c->p++;
    return true;
}

static bool parse_pybool(cursor *c, bool *v)
{
    skip_ws(c);
    static const char t[] = "True", f[] = "False";
    if ((size_t)(c->end - c->p) >= sizeof t - 1 && !memcmp(c->p, t, sizeof t - 1)) {
        c->p += sizeof t - 1;
        *v = true;
        return true;
    }
    if ((size_t)(c->end - c->p) >= sizeof f - 1 && !memcmp(c->p, f, sizeof f - 1)) {
        c->p += sizeof f - 1;
        *v = false;
        return true;
    }
    return false;
}

/* A tuple of non-negative integers: (), (N,), (A, B, C) with an optional trailing comma. */
static bool parse_shape(cursor *c, npy *a)
{
    if (!eat(c, '(')) return false;
    a->ndim = 0;
    for (;;) {
        if (eat(c, ')')) return true;
        skip_ws(c);
        if (c->p >= c->end || *c->p < '0' || *c->p > '9' || a->ndim == NPY_MAX_DIMS) return false;
        uint64_t v = 0;
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
            if (v > (UINT64_MAX - 9) / 10) return false;
            v = v * 10 + (uint64_t)(*c->p++ - '0');
        }
        a->shape[a->ndim++] = v;
        if (!eat(c, ',')) return eat(c, ')') && a->ndim > 1;
    }
}

/* The header dict {'descr': ..., 'fortran_order': ..., 'shape': (...)} in any key order. */
static int parse_npy_dict(const char *path, cursor *c, npy *a, char *err, size_t errlen)
{
    bool seen[3] = {false, false, false}, fortran = false, closed = false, ok = eat(c, '{');
    static const char *const keys[3] = {"descr", "fortran_order", "shape"};
    while (ok && !closed) {
        if (eat(c, '}')) {
            closed = true;
            break;
        }
        char key[NPY_KEY_MAX];
        int k = -1;
        ok = parse_pystr(c, key, sizeof key) && eat(c, ':');
        for (int i = 0; ok && i < 3; i++)
            if (!strcmp(key, keys[i])) k = i;
        if (ok && (k < 0 || seen[k])) {
            set_err(err, errlen, "%s: NPY header has %s key '%s'", path,
                    k < 0 ? "an unexpected" : "a repeated", key);
            return TRACE_EFORMAT;
        }
        if (ok && k == 0) ok = parse_pystr(c, a->descr, sizeof a->descr);
        if (ok && k == 1) ok = parse_pybool(c, &fortran);
        if (ok && k == 2) ok = parse_shape(c, a);
        if (ok) seen[k] = true;
        if (ok && !eat(c, ',')) ok = closed = eat(c, '}');
    }
    skip_ws(c);
    if (!ok || !closed || c->p != c->end) {
        int shown = 0; /* up to NPY_SNIPPET printable characters, trailing blanks dropped */
        while (shown < NPY_SNIPPET && c->p + shown < c->end && c->p[shown] >= ' ') shown++;
        while (shown > 0 && c->p[shown - 1] == ' ') shown--;
        set_err(err, errlen, "%s: cannot parse the NPY header dict near '%.*s'", path, shown, c->p);
        return TRACE_EFORMAT;
    }
    for (int i = 0; i < 3; i++)
        if (!seen[i]) {
            set_err(err, errlen, "%s: NPY header has no '%s'", path, keys[i]);
            return TRACE_EFORMAT;
        }
    if (fortran) {
        set_err(err, errlen,
                "%s: Fortran-order arrays are not supported (save a C-order array, "
                "e.g. np.ascontiguousarray)",
                path);
        return TRACE_EFORMAT;
    }
    return TRACE_OK;
}

static int read_whole_file(const char *path, unsigned char **buf, size_t *len, char *err,
                           size_t errlen)
{
    FILE *f = fopen(path, "rb");
    struct stat sb;
    if (!f || fstat(fileno(f), &sb) || !S_ISREG(sb.st_mode)) {
        set_err(err, errlen, "%s: cannot open: %s", path,
                f ? "not a regular file" : strerror(errno));
        if (f) fclose(f);
        return TRACE_EIO;
    }
    *len = (size_t)sb.st_size;
    *buf = malloc(*len ? *len : 1);
    if (!*buf) {
        fclose(f);
        set_err(err, errlen, "%s: out of memory", path);
        return TRACE_ENOMEM;
    }
    size_t got = fread(*buf, 1, *len, f);
    fclose(f);
    if (got != *len) {
        free(*buf);
        *buf = NULL;
        set_err(err, errlen, "%s: read error", path);
        return TRACE_EIO;
    }
    return TRACE_OK;
}

/* Shape as "(a, b, c)" for messages. */
static void shape_text(const npy *a, char *buf, size_t len)
{
    size_t used = (size_t)snprintf(buf, len, "(");
    for (int d = 0; d < a->ndim && used < len; d++)
        used += (size_t)snprintf(buf + used, len - used, "%s%llu", d ? ", " : "",
                                 (unsigned long long)a->shape[d]);
    if (used < len) snprintf(buf + used, len - used, a->ndim == 1 ? ",)" : ")");
}

/* Check the dtype against allowed (a NULL-terminated list, named in the message as want), the
 * rank, and that the data size matches the shape exactly. */
static int npy_check(const char *path, npy *a, size_t file_len, size_t data_off,
                     const char *const *allowed, const char *want, int rank, const char *layout,
                     char *err, size_t errlen)
{
    bool ok = false;
    for (int i = 0; allowed[i]; i++) ok |= !strcmp(a->descr, allowed[i]);
    for (size_t i = 0; ok && i < sizeof npy_types / sizeof npy_types[0]; i++)
        if (!strcmp(a->descr, npy_types[i].descr)) a->bytes = npy_types[i].bytes;
    if (!ok) {
        set_err(err, errlen, "%s: dtype '%s' is not supported (need %s)", path, a->descr, want);
        return TRACE_EFORMAT;
    }
    char shape[NPY_MAX_DIMS * INT_TEXT_MAX];
    shape_text(a, shape, sizeof shape);
    if (a->ndim != rank) {
        set_err(err, errlen, "%s: shape %s has %d dimensions; expected %d %s", path, shape, a->ndim,
                rank, layout);
        return TRACE_EFORMAT;
    }
    uint64_t count = 1, have = file_len - data_off;
    for (int d = 0; d < a->ndim; d++) {
        if (a->shape[d] && count > UINT64_MAX / (uint64_t)a->bytes / a->shape[d]) {
            set_err(err, errlen, "%s: shape %s is too large", path, shape);
            return TRACE_EFORMAT;
        }
        count *= a->shape[d];
    }
    if (count * (uint64_t)a->bytes != have) {
        set_err(err, errlen, "%s: holds %llu bytes of array data; shape %s of '%s' needs %llu",
                path, (unsigned long long)have, shape, a->descr,
                (unsigned long long)(count * (uint64_t)a->bytes));
        return TRACE_EFORMAT;
    }
    a->count = count;
    a->data = a->buf + data_off;
    return TRACE_OK;
}

/* Read an NPY file whose dtype is one of allowed and whose rank is rank into *a. */
static int npy_read(const char *path, const char *const *allowed, const char *want, int rank,
                    const char *layout, npy *a, char *err, size_t errlen)
{
    size_t len = 0;
    *a = (npy){0};
    int rc = read_whole_file(path, &a->buf, &len, err, errlen);
    if (rc) return rc;
    if (len < NPY_V1_PREAMBLE || memcmp(a->buf, NPY_MAGIC, NPY_MAGIC_LEN)) {
        set_err(err, errlen, "%s: not an NPY file (no \\x93NUMPY magic)", path);
        return TRACE_EFORMAT;
    }
    int major = a->buf[NPY_MAGIC_LEN], minor = a->buf[NPY_MAGIC_LEN + 1];
    if ((major != 1 && major != 2) || minor != 0) {
        set_err(err, errlen, "%s: NPY format version %d.%d is not supported (1.0 or 2.0)", path,
                major, minor);
        return TRACE_EFORMAT;
    }
    size_t pre = major == 1 ? NPY_V1_PREAMBLE : NPY_V2_PREAMBLE;
    if (len < pre) {
        set_err(err, errlen, "%s: NPY file is truncated in its preamble", path);
        return TRACE_EFORMAT;
    }
    uint64_t hlen = read_le(a->buf + NPY_MAGIC_LEN + 2, major == 1 ? 2 : 4);
    if (hlen > len - pre) {
        set_err(err, errlen, "%s: NPY header of %llu bytes runs past the end of the file", path,
                (unsigned long long)hlen);
        return TRACE_EFORMAT;
    }
    const char *h = (const char *)a->buf + pre;
    for (uint64_t i = 0; i < hlen; i++)
        if ((unsigned char)h[i] > 0x7f || h[i] == '\0') {
            set_err(err, errlen, "%s: NPY header is not ASCII text", path);
            return TRACE_EFORMAT;
        }
    cursor c = {h, h + hlen};
    rc = parse_npy_dict(path, &c, a, err, errlen);
    return rc ? rc
              : npy_check(path, a, len, pre + (size_t)hlen, allowed, want, rank, layout, err,
                          errlen);
}

/* Decode the logits array into z (count floats), checking every value. */
static int npy_logits(const char *path, const npy *a, float *z, char *err, size_t errlen)
{
    size_t stride = (size_t)(a->shape[1] * a->shape[2]), classes = (size_t)a->shape[2];
    if (a->bytes == FLOAT_BYTES) {
        decode_floats(a->data, (size_t)a->count, z);
        long long bad = first_nonfinite(z, (size_t)a->count);
        if (bad < 0) return TRACE_OK;
        size_t b = (size_t)bad;
        set_err(err, errlen, "%s: sample %zu exit %zu class %zu logit is not finite (%g)", path,
                b / stride, b % stride / classes, b % classes, (double)z[b]);
        return TRACE_EFORMAT;
    }
    for (size_t i = 0; i < a->count; i++) {
        uint64_t u = read_le(a->data + i * DOUBLE_BYTES, DOUBLE_BYTES);
        double d;
        memcpy(&d, &u, sizeof d);
        if (!isfinite(d) || fabs(d) > FLT_MAX) {
            set_err(err, errlen,
                    "%s: sample %zu exit %zu class %zu logit %g is not a finite float32", path,
                    i / stride, i % stride / classes, i % classes, d);
            return TRACE_EFORMAT;
        }
        z[i] = (float)d;
    }
    return TRACE_OK;
}

/* Decode the labels array (checked against n samples and classes) into labels. */
static int npy_labels(const char *path, const npy *a, uint64_t n, int classes, int *labels,
                      char *err, size_t errlen)
{
    if (a->shape[0] != n) {
        set_err(err, errlen, "%s: holds %llu labels; the logits hold %llu samples", path,
                (unsigned long long)a->shape[0], (unsigned long long)n);
        return TRACE_EFORMAT;
    }
    for (uint64_t i = 0; i < n; i++) {
        uint64_t u = read_le(a->data + i * (uint64_t)a->bytes, a->bytes);
        long long v = a->bytes == 8   ? (long long)u
                      : a->bytes == 4 ? (long long)(int32_t)(uint32_t)u
                                      : (long long)u; /* u1 */
        if (v < 0 || v >= classes) {
            set_err(err, errlen, "%s: label %lld of sample %llu is not a class in 0 .. %d", path, v,
                    (unsigned long long)i, classes - 1);
            return TRACE_EFORMAT;
        }
        labels[i] = (int)v;
    }
    return TRACE_OK;
}

static const char *const logit_types[] = {"<f4", "<f8", NULL};
static const char *const label_types[] = {"<i8", "<i4", "|u1", "<u1", NULL};

/* The logits file's shape against classes and the limits. */
static int npy_check_logit_shape(const char *path, const npy *a, int classes, char *err,
                                 size_t errlen)
{
    char shape[NPY_MAX_DIMS * INT_TEXT_MAX];
    shape_text(a, shape, sizeof shape);
    if (a->shape[0] == 0) {
        set_err(err, errlen, "%s: no samples (shape %s)", path, shape);
        return TRACE_EFORMAT;
    }
    if (a->shape[1] < 1 || a->shape[1] > TRACE_MAX_EXITS + 1) {
        set_err(err, errlen, "%s: shape %s has %llu exits + final; a trace holds 1 .. %d", path,
                shape, (unsigned long long)a->shape[1], TRACE_MAX_EXITS + 1);
        return TRACE_EFORMAT;
    }
    if (a->shape[2] != (uint64_t)classes) {
        set_err(err, errlen, "%s: shape %s has %llu classes; expected %d", path, shape,
                (unsigned long long)a->shape[2], classes);
        return TRACE_EFORMAT;
    }
    if (a->shape[0] > SIZE_MAX / sizeof(float) / (a->shape[1] * a->shape[2])) {
        set_err(err, errlen, "%s: shape %s is too large", path, shape);
        return TRACE_EFORMAT;
    }
    return TRACE_OK;
}

int trace_import_npy(const char *path, const char *labels_path, int classes, trace **out, char *err,
                     size_t errlen)
{
    if (!path || !labels_path || !out) {
        set_err(err, errlen, "trace_import_npy: missing argument");
        return TRACE_EARG;
    }
    *out = NULL;
    if (!check_classes_arg(path, classes, err, errlen)) return TRACE_EARG;
    npy z = {0}, y = {0};
    trace *t = NULL;
    int rc = npy_read(path, logit_types, "'<f4' or '<f8'", 3, "(samples, exits + 1, classes)", &z,
                      err, errlen);
    if (!rc) rc = npy_check_logit_shape(path, &z, classes, err, errlen);
    if (!rc)
        rc = npy_read(labels_path, label_types, "'<i8', '<i4', '|u1' or '<u1'", 1, "(samples,)", &y,
                      err, errlen);
    if (!rc) {
        t = trace_new(classes, (int)z.shape[1] - 1, (size_t)z.shape[0]);
        if (!t) set_err(err, errlen, "%s: out of memory", path);
        rc = t ? TRACE_OK : TRACE_ENOMEM;
    }
    if (!rc) rc = npy_logits(path, &z, t->logits, err, errlen);
    if (!rc) rc = npy_labels(labels_path, &y, z.shape[0], classes, t->labels, err, errlen);
    for (size_t i = 0; !rc && i < t->n; i++) t->ids[i] = (int64_t)i;
    if (rc)
        trace_free(t);
    else
        *out = t;
    free(z.buf);
    free(y.buf);
    return rc;
}

/* ---- export ---- */

static int write_csv(const trace *t, FILE *f)
{
    fputs("sample,label,exit", f);
    for (int c = 0; c < t->classes; c++) fprintf(f, ",z%d", c);
    fputc('\n', f);
    for (size_t i = 0; i < t->n; i++)
        for (int l = 0; l <= t->exits; l++) {
            const float *z = trace_exit_logits(t, i, l);
            fprintf(f, "%lld,%d,%d", (long long)t->ids[i], t->labels[i], l);
            for (int c = 0; c < t->classes; c++) fprintf(f, ",%.9g", (double)z[c]);
            fputc('\n', f);
        }
    return ferror(f) ? TRACE_EIO : TRACE_OK;
}

int trace_export_csv(const trace *t, const char *path, char *err, size_t errlen)
{
    if (!t || !path) {
        set_err(err, errlen, "trace_export_csv: missing argument");
        return TRACE_EARG;
    }
    char *tmp = path_with_suffix(path);
    if (!tmp) {
        set_err(err, errlen, "%s: out of memory", path);
        return TRACE_ENOMEM;
    }
    FILE *f = fopen(tmp, "w");
    if (!f) {
        set_err(err, errlen, "%s: cannot create: %s", tmp, strerror(errno));
        free(tmp);
        return TRACE_EIO;
    }
    setvbuf(f, NULL, _IOFBF, EXPORT_BUF);
    int rc = write_csv(t, f);
    if (fclose(f) || rc) {
        set_err(err, errlen, "%s: write error: %s", tmp, strerror(errno));
        rc = TRACE_EIO;
    } else if (rename(tmp, path)) {
        set_err(err, errlen, "%s: cannot rename %s into place: %s", path, tmp, strerror(errno));
        rc = TRACE_EIO;
    }
    if (rc) remove(tmp);
    free(tmp);
    return rc;
}
