/* Model files: save and load a multi-exit network's tensors, thresholds and provenance as an
 * SQLite database (schema in model.h), checking a loaded file against the architecture it names,
 * and deterministic random initialisation of a network's parameters. */
#include "model.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sqlite3.h>

#include "sha256.h"
#include "util.h"

#define FLOAT_BYTES     4   /* a float32 in a BLOB */
#define NET_ERR_MAX     512 /* a net_build_arch_text message */
#define SHAPE_TEXT_MAX  (NET_MAX_DIMS * 12)
#define ISO_TIME_MAX    32
#define TMP_SUFFIX      ".tmp"
#define BYTE_BITS       8
#define PERCENT         100.0
#define HE_UNIFORM_GAIN 6.0 /* He-uniform bound sqrt(6 / fan_in) (He et al. 2015, eq. 10) */

/* meta keys the format owns; provenance may not use them. */
static const char *const reserved_keys[] = {"format", "format_version", "arch", "arch_sha256"};
#define N_RESERVED (sizeof reserved_keys / sizeof reserved_keys[0])

static const char *const schema_sql =
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT) STRICT;"
    "CREATE TABLE tensors(name TEXT PRIMARY KEY, shape TEXT NOT NULL, data BLOB NOT NULL) STRICT;"
    "CREATE TABLE exits(exit INTEGER PRIMARY KEY, name TEXT NOT NULL, threshold REAL,"
    " test_accuracy REAL) STRICT;";

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

/* "16,1,3,3" for a tensor. */
static void shape_text(const net_tensor *t, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int d = 0; d < t->ndim && used < len; d++)
        used += (size_t)snprintf(buf + used, len - used, "%s%d", d ? "," : "", t->dims[d]);
}

/* Explicit little-endian float32 encoding, independent of the host's byte order. */
static void encode_floats(const float *src, uint64_t count, unsigned char *dst)
{
    for (uint64_t i = 0; i < count; i++) {
        uint32_t u;
        memcpy(&u, &src[i], sizeof u);
        for (int b = 0; b < FLOAT_BYTES; b++)
            dst[i * FLOAT_BYTES + b] = (unsigned char)(u >> (BYTE_BITS * b));
    }
}

static void decode_floats(const unsigned char *src, uint64_t count, float *dst)
{
    for (uint64_t i = 0; i < count; i++) {
        uint32_t u = 0;
        for (int b = 0; b < FLOAT_BYTES; b++)
            u |= (uint32_t)src[i * FLOAT_BYTES + b] << (BYTE_BITS * b);
        memcpy(&dst[i], &u, sizeof u);
    }
}

/* Index of the first non-finite value, or -1. */
static int64_t first_nonfinite(const float *v, uint64_t count)
{
    for (uint64_t i = 0; i < count; i++)
        if (!isfinite(v[i])) return (int64_t)i;
    return -1;
}

/* ---- saving ---- */

static int exec_sql(sqlite3 *db, const char *sql, const char *path, char *err, size_t errlen)
{
    return util_sql_exec(db, sql, path, err, errlen) ? MODEL_EIO : MODEL_OK;
}

/* Run a prepared insert once and reset it; reports the SQLite error against path. */
static int step_insert(sqlite3 *db, sqlite3_stmt *st, const char *path, char *err, size_t errlen)
{
    return util_sql_insert(db, st, path, err, errlen) ? MODEL_EIO : MODEL_OK;
}

static int put_meta(sqlite3 *db, sqlite3_stmt *st, const char *key, const char *value,
                    const char *path, char *err, size_t errlen)
{
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
    return step_insert(db, st, path, err, errlen);
}

/* The architecture text of n (malloc'd; a layer-list network's holds its whole layer list). */
static char *arch_text(const net *n)
{
    int len = net_arch_text(n, NULL, 0);
    char *text = len < 0 ? NULL : malloc((size_t)len + 1);
    if (text) net_arch_text(n, text, (size_t)len + 1);
    return text;
}

static int write_meta(sqlite3 *db, const net *n, const char *const *keys, const char *const *values,
                      int n_prov, const char *path, char *err, size_t errlen)
{
    char hash[SHA256_HEX_CHARS + 1], version[ISO_TIME_MAX];
    char *arch = arch_text(n);
    if (!arch) {
        set_err(err, errlen, "%s: out of memory", path);
        return MODEL_ENOMEM;
    }
    sha256_hex(arch, strlen(arch), hash);
    snprintf(version, sizeof version, "%d", MODEL_FORMAT_VERSION);

    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "INSERT INTO meta(key, value) VALUES(?, ?)", -1, &st, NULL)) {
        set_err(err, errlen, "%s: %s", path, sqlite3_errmsg(db));
        free(arch);
        return MODEL_EIO;
    }
    int rc = put_meta(db, st, "format", MODEL_FORMAT, path, err, errlen);
    if (!rc) rc = put_meta(db, st, "format_version", version, path, err, errlen);
    if (!rc) rc = put_meta(db, st, "arch", arch, path, err, errlen);
    if (!rc) rc = put_meta(db, st, "arch_sha256", hash, path, err, errlen);
    bool have_created = false;
    for (int i = 0; i < n_prov && !rc; i++) {
        have_created |= !strcmp(keys[i], "created_at");
        rc = put_meta(db, st, keys[i], values[i], path, err, errlen);
    }
    if (!rc && !have_created) {
        char now[ISO_TIME_MAX];
        time_t t = time(NULL);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%SZ", &tm);
        rc = put_meta(db, st, "created_at", now, path, err, errlen);
    }
    sqlite3_finalize(st);
    free(arch);
    return rc;
}

static int write_tensors(sqlite3 *db, const net *n, const float *const *params, const char *path,
                         char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "INSERT INTO tensors(name, shape, data) VALUES(?, ?, ?)", -1, &st,
                           NULL)) {
        set_err(err, errlen, "%s: %s", path, sqlite3_errmsg(db));
        return MODEL_EIO;
    }
    int rc = MODEL_OK;
    for (int i = 0; i < net_tensor_count(n) && !rc; i++) {
        const net_tensor *t = net_tensor_at(n, i);
        char shape[SHAPE_TEXT_MAX];
        shape_text(t, shape, sizeof shape);
        size_t bytes = (size_t)t->count * FLOAT_BYTES;
        unsigned char *blob = malloc(bytes ? bytes : 1);
        if (!blob) {
            set_err(err, errlen, "%s: out of memory", path);
            rc = MODEL_ENOMEM;
            break;
        }
        encode_floats(params[i], t->count, blob);
        sqlite3_bind_text(st, 1, t->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, shape, -1, SQLITE_STATIC);
        sqlite3_bind_blob64(st, 3, blob, bytes, SQLITE_STATIC);
        rc = step_insert(db, st, path, err, errlen);
        free(blob);
    }
    sqlite3_finalize(st);
    return rc;
}

static int write_exits(sqlite3 *db, const net *n, const double *thresholds, const double *acc,
                       const char *path, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO exits(exit, name, threshold, test_accuracy)"
                           " VALUES(?, ?, ?, ?)",
                           -1, &st, NULL)) {
        set_err(err, errlen, "%s: %s", path, sqlite3_errmsg(db));
        return MODEL_EIO;
    }
    int rc = MODEL_OK, n_exits = net_exit_count(n);
    for (int i = 0; i <= n_exits && !rc; i++) {
        sqlite3_bind_int(st, 1, i);
        sqlite3_bind_text(st, 2, net_exit_at(n, i)->name, -1, SQLITE_STATIC);
        if (i < n_exits) sqlite3_bind_double(st, 3, thresholds[i]); /* "final": NULL */
        if (acc && !isnan(acc[i])) sqlite3_bind_double(st, 4, acc[i]);
        rc = step_insert(db, st, path, err, errlen);
    }
    sqlite3_finalize(st);
    return rc;
}

/* Refuse to write what model_load would reject. */
static int check_save_args(const char *path, const net *n, const float *const *params,
                           const double *thresholds, const double *acc, const char *const *keys,
                           const char *const *values, int n_prov, char *err, size_t errlen)
{
    if (!path || !n || !params || !thresholds || n_prov < 0 || (n_prov && (!keys || !values))) {
        set_err(err, errlen, "%s: model_save: missing argument", path ? path : "(null)");
        return MODEL_EARG;
    }
    for (int i = 0; i < net_tensor_count(n); i++) {
        const net_tensor *t = net_tensor_at(n, i);
        if (!params[i]) {
            set_err(err, errlen, "%s: no data for tensor '%s'", path, t->name);
            return MODEL_EARG;
        }
        int64_t bad = first_nonfinite(params[i], t->count);
        if (bad >= 0) {
            set_err(err, errlen, "%s: tensor '%s' holds a non-finite value at element %lld", path,
                    t->name, (long long)bad);
            return MODEL_EARG;
        }
    }
    for (int i = 0; i < net_exit_count(n); i++)
        if (!isfinite(thresholds[i]) || thresholds[i] < 0) {
            set_err(err, errlen, "%s: exit %d ('%s') has threshold %g; it must be finite and >= 0",
                    path, i, net_exit_at(n, i)->name, thresholds[i]);
            return MODEL_EARG;
        }
    for (int i = 0; acc && i <= net_exit_count(n); i++)
        if (!isnan(acc[i]) && !(acc[i] >= 0 && acc[i] <= 1)) {
            set_err(err, errlen, "%s: exit %d ('%s') has test accuracy %g; it must be in [0, 1]",
                    path, i, net_exit_at(n, i)->name, acc[i]);
            return MODEL_EARG;
        }
    for (int i = 0; i < n_prov; i++) {
        if (!keys[i] || !values[i]) {
            set_err(err, errlen, "%s: provenance entry %d is NULL", path, i);
            return MODEL_EARG;
        }
        if (is_reserved(keys[i])) {
            set_err(err, errlen, "%s: provenance key '%s' is reserved", path, keys[i]);
            return MODEL_EARG;
        }
    }
    return MODEL_OK;
}

int model_save(const char *path, const net *n, const float *const *params, const double *thresholds,
               const double *test_accuracy, const char *const *prov_keys,
               const char *const *prov_values, int n_prov, char *err, size_t errlen)
{
    int rc = check_save_args(path, n, params, thresholds, test_accuracy, prov_keys, prov_values,
                             n_prov, err, errlen);
    if (rc) return rc;
    size_t plen = strlen(path) + sizeof TMP_SUFFIX;
    char *tmp = malloc(plen);
    if (!tmp) {
        set_err(err, errlen, "%s: out of memory", path);
        return MODEL_ENOMEM;
    }
    snprintf(tmp, plen, "%s%s", path, TMP_SUFFIX);
    remove(tmp); /* a stale temporary from an interrupted save */

    sqlite3 *db = NULL;
    if (sqlite3_open_v2(tmp, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL)) {
        set_err(err, errlen, "%s: cannot create: %s", tmp, db ? sqlite3_errmsg(db) : "no memory");
        rc = MODEL_EIO;
        goto fail_db;
    }
    rc = exec_sql(db, "BEGIN", path, err, errlen);
    if (!rc) rc = exec_sql(db, schema_sql, path, err, errlen);
    if (!rc) rc = write_meta(db, n, prov_keys, prov_values, n_prov, path, err, errlen);
    if (!rc) rc = write_tensors(db, n, params, path, err, errlen);
    if (!rc) rc = write_exits(db, n, thresholds, test_accuracy, path, err, errlen);
    if (!rc) rc = exec_sql(db, "COMMIT", path, err, errlen);
    if (rc) goto fail_db;
    if (sqlite3_close(db) != SQLITE_OK) {
        set_err(err, errlen, "%s: closing failed", tmp);
        rc = MODEL_EIO;
        db = NULL;
        goto fail_file;
    }
    db = NULL;
    if (rename(tmp, path)) {
        set_err(err, errlen, "%s: cannot rename %s into place", path, tmp);
        rc = MODEL_EIO;
        goto fail_file;
    }
    free(tmp);
    return MODEL_OK;

fail_db:
    sqlite3_close(db);
fail_file:
    remove(tmp);
    free(tmp);
    return rc;
}

/* ---- loading ---- */

/* Loader state: the open database and the file name for messages. */
typedef struct loader {
    sqlite3 *db;
    const char *path;
    char *err;
    size_t errlen;
} loader;

/* Copy of meta value for key into a new string (*out NULL when absent). */
static int get_meta(loader *l, const char *key, char **out)
{
    *out = NULL;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(l->db, "SELECT value FROM meta WHERE key = ?", -1, &st, NULL)) {
        set_err(l->err, l->errlen, "%s: not a pesim model file", l->path);
        return MODEL_EFORMAT;
    }
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st), status = MODEL_OK;
    if (rc == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        *out = strdup(v ? v : "");
        if (!*out) {
            set_err(l->err, l->errlen, "%s: out of memory", l->path);
            status = MODEL_ENOMEM;
        }
    } else if (rc != SQLITE_DONE) {
        set_err(l->err, l->errlen, "%s: not a pesim model file", l->path);
        status = MODEL_EFORMAT;
    }
    sqlite3_finalize(st);
    return status;
}

/* Check format and version; the file is unusable otherwise. */
static int check_format(loader *l)
{
    char *format = NULL, *version = NULL;
    int rc = get_meta(l, "format", &format);
    if (!rc && (!format || strcmp(format, MODEL_FORMAT))) {
        set_err(l->err, l->errlen, "%s: not a pesim model file", l->path);
        rc = MODEL_EFORMAT;
    }
    if (!rc) rc = get_meta(l, "format_version", &version);
    if (!rc) {
        char *end = NULL;
        long v = version ? strtol(version, &end, 10) : 0;
        if (!version || end == version || *end || v < 1) {
            set_err(l->err, l->errlen, "%s: bad format version '%s'", l->path,
                    version ? version : "(missing)");
            rc = MODEL_EFORMAT;
        } else if (v > MODEL_FORMAT_VERSION) {
            set_err(l->err, l->errlen, "%s: format version %ld is newer than this pesim reads (%d)",
                    l->path, v, MODEL_FORMAT_VERSION);
            rc = MODEL_EFORMAT;
        }
    }
    free(format);
    free(version);
    return rc;
}

/* Check the arch hash and build the net from the arch text (net_build_arch_text). */
static int load_arch(loader *l, net **out)
{
    char *arch = NULL, *hash = NULL;
    int rc = get_meta(l, "arch", &arch);
    if (!rc) rc = get_meta(l, "arch_sha256", &hash);
    if (!rc && (!arch || !hash)) {
        set_err(l->err, l->errlen, "%s: missing meta '%s'", l->path,
                !arch ? "arch" : "arch_sha256");
        rc = MODEL_EFORMAT;
    }
    if (!rc) {
        char want[SHA256_HEX_CHARS + 1];
        sha256_hex(arch, strlen(arch), want);
        if (strcmp(want, hash)) {
            set_err(l->err, l->errlen,
                    "%s: architecture hash mismatch (file says %s, arch text hashes to %s)",
                    l->path, hash, want);
            rc = MODEL_EFORMAT;
        }
    }
    if (!rc) {
        char nerr[NET_ERR_MAX];
        int nrc = net_build_arch_text(out, arch, nerr, sizeof nerr);
        if (nrc) {
            set_err(l->err, l->errlen, "%s: %s", l->path, nerr);
            rc = nrc == NET_ENOMEM ? MODEL_ENOMEM : MODEL_EFORMAT;
        }
    }
    free(arch);
    free(hash);
    return rc;
}

/* Check one tensor row against the net and decode it into m->params. */
static int load_tensor_row(loader *l, model *m, sqlite3_stmt *st)
{
    const char *name = (const char *)sqlite3_column_text(st, 0);
    name = name ? name : "";
    int i = net_tensor_by_name(m->net, name);
    if (i < 0) {
        set_err(l->err, l->errlen, "%s: unexpected tensor '%s'", l->path, name);
        return MODEL_EFORMAT;
    }
    if (m->params[i]) {
        set_err(l->err, l->errlen, "%s: tensor '%s' is stored twice", l->path, name);
        return MODEL_EFORMAT;
    }
    const net_tensor *t = net_tensor_at(m->net, i);
    const char *shape = (const char *)sqlite3_column_text(st, 1);
    char want[SHAPE_TEXT_MAX];
    shape_text(t, want, sizeof want);
    if (!shape || strcmp(shape, want)) {
        set_err(l->err, l->errlen, "%s: tensor '%s' has shape %s; the architecture needs %s",
                l->path, name, shape ? shape : "(none)", want);
        return MODEL_EFORMAT;
    }
    const unsigned char *blob = sqlite3_column_blob(st, 2);
    sqlite3_int64 bytes = sqlite3_column_bytes(st, 2);
    if (sqlite3_column_type(st, 2) != SQLITE_BLOB || (uint64_t)bytes != t->count * FLOAT_BYTES) {
        set_err(l->err, l->errlen, "%s: tensor '%s' holds %lld bytes; its shape needs %llu",
                l->path, name, (long long)bytes, (unsigned long long)(t->count * FLOAT_BYTES));
        return MODEL_EFORMAT;
    }
    m->params[i] = malloc(t->count ? (size_t)t->count * sizeof(float) : 1);
    if (!m->params[i]) {
        set_err(l->err, l->errlen, "%s: out of memory", l->path);
        return MODEL_ENOMEM;
    }
    decode_floats(blob, t->count, m->params[i]);
    int64_t bad = first_nonfinite(m->params[i], t->count);
    if (bad >= 0) {
        set_err(l->err, l->errlen, "%s: tensor '%s' holds a non-finite value at element %lld",
                l->path, name, (long long)bad);
        return MODEL_EFORMAT;
    }
    return MODEL_OK;
}

static int load_tensors(loader *l, model *m)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(l->db, "SELECT name, shape, data FROM tensors ORDER BY name", -1, &st,
                           NULL)) {
        set_err(l->err, l->errlen, "%s: not a pesim model file (no tensors table)", l->path);
        return MODEL_EFORMAT;
    }
    int rc = MODEL_OK, step;
    while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) rc = load_tensor_row(l, m, st);
    if (!rc && step != SQLITE_DONE) {
        set_err(l->err, l->errlen, "%s: %s", l->path, sqlite3_errmsg(l->db));
        rc = MODEL_EFORMAT;
    }
    sqlite3_finalize(st);
    for (int i = 0; !rc && i < m->n_params; i++)
        if (!m->params[i]) {
            set_err(l->err, l->errlen, "%s: missing tensor '%s'", l->path,
                    net_tensor_at(m->net, i)->name);
            rc = MODEL_EFORMAT;
        }
    return rc;
}

/* Check one exit row (expected index i) and store its threshold and accuracy. */
static int load_exit_row(loader *l, model *m, sqlite3_stmt *st, int i)
{
    int idx = sqlite3_column_int(st, 0);
    const char *name = (const char *)sqlite3_column_text(st, 1);
    name = name ? name : "";
    if (idx != i || i >= m->n_exits) {
        if (i < m->n_exits)
            set_err(l->err, l->errlen, "%s: missing exit %d ('%s')", l->path, i,
                    net_exit_at(m->net, i)->name);
        else
            set_err(l->err, l->errlen, "%s: unexpected exit %d ('%s')", l->path, idx, name);
        return MODEL_EFORMAT;
    }
    const char *want = net_exit_at(m->net, i)->name;
    if (strcmp(name, want)) {
        set_err(l->err, l->errlen, "%s: exit %d is named '%s'; the architecture names it '%s'",
                l->path, i, name, want);
        return MODEL_EFORMAT;
    }
    bool final = i == m->n_exits - 1, null_thr = sqlite3_column_type(st, 2) == SQLITE_NULL;
    double thr = null_thr ? NAN : sqlite3_column_double(st, 2);
    if (final && !null_thr) {
        set_err(l->err, l->errlen, "%s: the final classifier has a threshold; it must be NULL",
                l->path);
        return MODEL_EFORMAT;
    }
    if (!final && (null_thr || !isfinite(thr) || thr < 0)) {
        set_err(l->err, l->errlen,
                "%s: exit %d ('%s') has threshold %g; it must be finite and >= 0", l->path, i, name,
                thr);
        return MODEL_EFORMAT;
    }
    m->thresholds[i] = thr;
    double acc = sqlite3_column_type(st, 3) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 3);
    if (!isnan(acc) && !(acc >= 0 && acc <= 1)) {
        set_err(l->err, l->errlen, "%s: exit %d ('%s') has test accuracy %g; it must be in [0, 1]",
                l->path, i, name, acc);
        return MODEL_EFORMAT;
    }
    m->test_accuracy[i] = acc;
    return MODEL_OK;
}

static int load_exits(loader *l, model *m)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(l->db,
                           "SELECT exit, name, threshold, test_accuracy FROM exits ORDER BY exit",
                           -1, &st, NULL)) {
        set_err(l->err, l->errlen, "%s: not a pesim model file (no exits table)", l->path);
        return MODEL_EFORMAT;
    }
    int rc = MODEL_OK, step, i = 0;
    while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) rc = load_exit_row(l, m, st, i++);
    if (!rc && step != SQLITE_DONE) {
        set_err(l->err, l->errlen, "%s: %s", l->path, sqlite3_errmsg(l->db));
        rc = MODEL_EFORMAT;
    }
    sqlite3_finalize(st);
    if (!rc && i < m->n_exits) {
        set_err(l->err, l->errlen, "%s: missing exit %d ('%s')", l->path, i,
                net_exit_at(m->net, i)->name);
        rc = MODEL_EFORMAT;
    }
    return rc;
}

/* Every meta row except the format's own, sorted by key. */
static int load_prov(loader *l, model *m)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(l->db,
                           "SELECT key, value FROM meta WHERE key NOT IN"
                           " ('format', 'format_version', 'arch', 'arch_sha256') ORDER BY key",
                           -1, &st, NULL)) {
        set_err(l->err, l->errlen, "%s: %s", l->path, sqlite3_errmsg(l->db));
        return MODEL_EFORMAT;
    }
    int rc = MODEL_OK;
    while (!rc && sqlite3_step(st) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(st, 0);
        const char *v = (const char *)sqlite3_column_text(st, 1);
        char **nk = realloc(m->prov_keys, (size_t)(m->n_prov + 1) * sizeof *nk);
        if (nk) m->prov_keys = nk;
        char **nv = realloc(m->prov_values, (size_t)(m->n_prov + 1) * sizeof *nv);
        if (nv) m->prov_values = nv;
        char *ks = nk && nv ? strdup(k ? k : "") : NULL;
        char *vs = ks ? strdup(v ? v : "") : NULL;
        if (!vs) {
            free(ks);
            set_err(l->err, l->errlen, "%s: out of memory", l->path);
            rc = MODEL_ENOMEM;
            break;
        }
        m->prov_keys[m->n_prov] = ks;
        m->prov_values[m->n_prov++] = vs;
    }
    sqlite3_finalize(st);
    return rc;
}

/* Allocate the model's arrays for its net. */
static int alloc_model(loader *l, model *m)
{
    m->n_params = net_tensor_count(m->net);
    m->n_exits = net_exit_count(m->net) + 1;
    m->params = calloc((size_t)m->n_params, sizeof *m->params);
    m->thresholds = calloc((size_t)m->n_exits, sizeof *m->thresholds);
    m->test_accuracy = calloc((size_t)m->n_exits, sizeof *m->test_accuracy);
    if (m->params && m->thresholds && m->test_accuracy) return MODEL_OK;
    set_err(l->err, l->errlen, "%s: out of memory", l->path);
    return MODEL_ENOMEM;
}

int model_load(const char *path, model **out, char *err, size_t errlen)
{
    if (!out || !path) {
        set_err(err, errlen, "model_load: missing argument");
        return MODEL_EARG;
    }
    *out = NULL;
    struct stat sb;
    if (stat(path, &sb)) {
        set_err(err, errlen, "%s: cannot open: no such file", path);
        return MODEL_EIO;
    }
    if (util_sqlite_truncated(path, err, errlen)) return MODEL_EFORMAT;
    loader l = {NULL, path, err, errlen};
    if (sqlite3_open_v2(path, &l.db, SQLITE_OPEN_READONLY, NULL)) {
        set_err(err, errlen, "%s: cannot open: %s", path,
                l.db ? sqlite3_errmsg(l.db) : "no memory");
        sqlite3_close(l.db);
        return MODEL_EIO;
    }
    model *m = calloc(1, sizeof *m);
    int rc = m ? MODEL_OK : MODEL_ENOMEM;
    if (!m) set_err(err, errlen, "%s: out of memory", path);
    if (!rc) rc = check_format(&l);
    if (!rc) rc = load_arch(&l, &m->net);
    if (!rc) rc = alloc_model(&l, m);
    if (!rc) rc = load_tensors(&l, m);
    if (!rc) rc = load_exits(&l, m);
    if (!rc) rc = load_prov(&l, m);
    sqlite3_close(l.db);
    if (rc) {
        model_free(m);
        return rc;
    }
    *out = m;
    return MODEL_OK;
}

void model_free(model *m)
{
    if (!m) return;
    model_free_params(m->params, m->n_params);
    free(m->thresholds);
    free(m->test_accuracy);
    for (int i = 0; i < m->n_prov; i++) {
        free(m->prov_keys[i]);
        free(m->prov_values[i]);
    }
    free(m->prov_keys);
    free(m->prov_values);
    net_free(m->net);
    free(m);
}

const char *model_prov(const model *m, const char *key)
{
    if (!m || !key) return NULL;
    for (int i = 0; i < m->n_prov; i++)
        if (!strcmp(m->prov_keys[i], key)) return m->prov_values[i];
    return NULL;
}

int model_print_info(const model *m, const char *path, FILE *out)
{
    if (!m || !out) return MODEL_EARG;
    char *arch = arch_text(m->net);
    if (!arch) return MODEL_ENOMEM;
    struct stat sb;
    fprintf(out, "model: %s\n", path ? path : "(memory)");
    /* the first line; a layer-list network's layer list follows it in the file */
    fprintf(out, "  arch: %.*s\n", (int)strcspn(arch, "\n"), arch);
    free(arch);
    fprintf(out, "  parameters: %llu (%llu trainable)\n",
            (unsigned long long)net_param_count(m->net),
            (unsigned long long)net_trainable_count(m->net));
    if (path && !stat(path, &sb))
        fprintf(out, "  file size: %lld bytes\n", (long long)sb.st_size);
    else
        fprintf(out, "  file size: unknown\n");
    fprintf(out, "provenance:\n");
    for (int i = 0; i < m->n_prov; i++)
        fprintf(out, "  %s = %s\n", m->prov_keys[i], m->prov_values[i]);
    fprintf(out, "exits:\n  %5s  %-16s  %12s  %10s\n", "index", "name", "T_l", "test acc %");
    for (int i = 0; i < m->n_exits; i++) {
        fprintf(out, "  %5d  %-16s  ", i, net_exit_at(m->net, i)->name);
        if (isnan(m->thresholds[i]))
            fprintf(out, "%12s  ", "-");
        else
            fprintf(out, "%12.6g  ", m->thresholds[i]);
        if (isnan(m->test_accuracy[i]))
            fprintf(out, "%10s\n", "-");
        else
            fprintf(out, "%10.2f\n", m->test_accuracy[i] * PERCENT);
    }
    return ferror(out) ? MODEL_EIO : MODEL_OK;
}

/* ---- random initialisation ---- */

/* splitmix64 (Steele et al. 2014) seeds xoshiro256** (Blackman and Vigna 2018). */
typedef struct rng {
    uint64_t s[4];
} rng;

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(rng *r)
{
    uint64_t *s = r->s, result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* Uniform in [-1, 1) from the top 53 bits. */
static double rng_signed_unit(rng *r)
{
    const int mantissa_bits = 53;
    double u = (double)(rng_next(r) >> (64 - mantissa_bits)) / (double)(1ULL << mantissa_bits);
    return 2.0 * u - 1.0;
}

/* Offsets of a BoF module's n1 and n2 from its first tensor (net.h naming order). */
enum { BOF_TENSOR_N1 = 4, BOF_TENSOR_N2 = 5 };

/* Constant initial values by name suffix; weights are the only random tensors. */
static const struct {
    const char *suffix;
    float value;
} const_init[] = {
    {".bias", 0.0f}, {".gamma", 1.0f}, {".beta", 0.0f}, {".mean", 0.0f}, {".var", 1.0f},
    {".a", 1.0f},    {".c", 0.0f},     {".n1", 1.0f},   {".n2", 1.0f}, /* n1, n2: see below */
};

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

static int init_tensor(const net_tensor *t, rng *r, float *v, char *err, size_t errlen)
{
    for (size_t k = 0; k < sizeof const_init / sizeof const_init[0]; k++)
        if (ends_with(t->name, const_init[k].suffix)) {
            for (uint64_t i = 0; i < t->count; i++) v[i] = const_init[k].value;
            return MODEL_OK;
        }
    if (!ends_with(t->name, ".weight") || t->ndim < 2) {
        set_err(err, errlen, "model_init_random: no initialiser for tensor '%s'", t->name);
        return MODEL_EARG;
    }
    uint64_t fan_in = 1; /* conv [out, in, kh, kw] or FC [out, in] */
    for (int d = 1; d < t->ndim; d++) fan_in *= (uint64_t)t->dims[d];
    double bound = sqrt(HE_UNIFORM_GAIN / (double)fan_in);
    for (uint64_t i = 0; i < t->count; i++) v[i] = (float)(bound * rng_signed_unit(r));
    return MODEL_OK;
}

int model_init_random(const net *n, uint64_t seed, float ***params_out, char *err, size_t errlen)
{
    if (!n || !params_out) {
        set_err(err, errlen, "model_init_random: missing argument");
        return MODEL_EARG;
    }
    *params_out = NULL;
    int count = net_tensor_count(n);
    float **p = calloc((size_t)count, sizeof *p);
    if (!p) goto fail_nomem;
    rng r;
    uint64_t x = seed;
    for (size_t k = 0; k < sizeof r.s / sizeof r.s[0]; k++) r.s[k] = splitmix64(&x);
    for (int i = 0; i < count; i++) {
        const net_tensor *t = net_tensor_at(n, i);
        p[i] = malloc(t->count ? (size_t)t->count * sizeof(float) : 1);
        if (!p[i]) goto fail_nomem;
        int rc = init_tensor(t, &r, p[i], err, errlen);
        if (rc) {
            model_free_params(p, count);
            return rc;
        }
    }
    /* BoF scales start where the paper's code starts them: n1 = codewords (the normalised
     * responses then average 1) and n2 = the pooling window s */
    for (int i = 0; i < net_bof_count(n); i++) {
        const net_bof *b = net_bof_at(n, i);
        p[b->tensor_first + BOF_TENSOR_N1][0] = (float)b->codewords;
        p[b->tensor_first + BOF_TENSOR_N2][0] = (float)b->s;
    }
    *params_out = p;
    return MODEL_OK;

fail_nomem:
    model_free_params(p, count);
    set_err(err, errlen, "model_init_random: out of memory");
    return MODEL_ENOMEM;
}

void model_free_params(float **p, int n)
{
    if (!p) return;
    for (int i = 0; i < n; i++) free(p[i]);
    free(p);
}
