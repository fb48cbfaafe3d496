/* Result database writer: opening and checking a pesim SQLite file (creating its schema when
 * new), the run lifecycle (running -> done/failed, skip or redo by config hash), batched inserts
 * through statements prepared once, and `pesim db info`. Schema reference: docs/schema.md. */
#include "db.h"

#include "db_stage.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DB_PAGE_SIZE_TEXT "16384"       /* bytes per page of a new result database */
#define DB_OWNER_KEY      "run.process" /* run_params key of a running run's writing process */

enum { DB_HOST_CHARS = 256 }; /* host name as recorded, NUL included */

enum {
    DB_BUSY_TIMEOUT_MS = 60000, /* wait this long for another writer before SQLITE_BUSY */
    DB_BUSY_POLL_MS = 1,        /* pause between two tries for a lock another writer holds */
    DB_OPEN_RETRY_MS = 10,      /* pause between two checks of a file another process holds */
    DB_ERR_CHARS = 512,         /* longest message kept by db_errmsg */
    DB_HASH_SHOWN = 12,         /* hex digits of config_sha256 shown by db_info */
    DB_SQLITE_PRIMARY = 0xff,   /* mask from an extended SQLite result code to its primary code */
};

/* Current UTC time as ISO-8601 with milliseconds and 'Z', evaluated by SQLite. */
#define DB_NOW_SQL "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"

/* Tables a pesim result database must have, parents first. */
static const char *const DB_TABLES[] = {
    "runs", "run_params", "inferences", "exit_evals", "segments", "dvfs_transitions", "layer_costs",
};
enum { DB_NTABLES = sizeof DB_TABLES / sizeof DB_TABLES[0] };

/* Schema version DB_SCHEMA_VERSION; docs/schema.md explains every column. Applied in one
 * transaction together with PRAGMA user_version. */
static const char DB_SCHEMA_SQL[] =
    "CREATE TABLE runs ("
    " run_id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " started_at TEXT NOT NULL,"
    " finished_at TEXT,"
    " pesim_version TEXT NOT NULL,"
    " config_text TEXT NOT NULL,"
    " config_sha256 TEXT NOT NULL UNIQUE,"
    " seed INTEGER NOT NULL,"
    " status TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed'))"
    ") STRICT;"
    "CREATE TABLE run_params ("
    " run_id INTEGER NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,"
    " key TEXT NOT NULL,"
    " value TEXT NOT NULL,"
    " PRIMARY KEY (run_id, key)"
    ") STRICT, WITHOUT ROWID;"
    "CREATE TABLE inferences ("
    " run_id INTEGER NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,"
    " sample INTEGER NOT NULL,"
    " label INTEGER NOT NULL,"
    " pred INTEGER NOT NULL,"
    " correct INTEGER NOT NULL CHECK (correct IN (0, 1)),"
    " exit_layer INTEGER NOT NULL,"
    " first_predicted_exit INTEGER,"
    " n_exit_evals INTEGER NOT NULL,"
    " n_predictions INTEGER NOT NULL,"
    " n_mispredictions INTEGER NOT NULL,"
    " backbone_macs INTEGER NOT NULL,"
    " exit_macs INTEGER NOT NULL,"
    " predictor_ops INTEGER NOT NULL,"
    " latency_ns REAL,"
    " energy_nj REAL,"
    " deadline_met INTEGER CHECK (deadline_met IN (0, 1)),"
    " PRIMARY KEY (run_id, sample)"
    ") STRICT, WITHOUT ROWID;"
    "CREATE TABLE exit_evals ("
    " run_id INTEGER NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,"
    " sample INTEGER NOT NULL,"
    " seq INTEGER NOT NULL,"
    " layer INTEGER NOT NULL,"
    " score REAL NOT NULL,"
    " threshold REAL NOT NULL,"
    " fired INTEGER NOT NULL CHECK (fired IN (0, 1)),"
    " predicted_jump INTEGER,"
    " true_first_exit INTEGER,"
    " PRIMARY KEY (run_id, sample, seq)"
    ") STRICT, WITHOUT ROWID;"
    "CREATE TABLE segments ("
    " run_id INTEGER NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,"
    " sample INTEGER NOT NULL,"
    " seq INTEGER NOT NULL,"
    " kind TEXT NOT NULL CHECK (kind IN ('backbone', 'exit', 'predictor', 'dvfs', 'idle')),"
    " first_layer INTEGER NOT NULL,"
    " last_layer INTEGER NOT NULL,"
    " opp INTEGER NOT NULL,"
    " freq_mhz REAL NOT NULL,"
    " vdd_v REAL NOT NULL,"
    " time_ns REAL NOT NULL,"
    " compute_nj REAL NOT NULL,"
    " memory_nj REAL NOT NULL,"
    " static_nj REAL NOT NULL,"
    " energy_nj REAL NOT NULL,"
    " dram_nj REAL NOT NULL,"
    " PRIMARY KEY (run_id, sample, seq)"
    ") STRICT, WITHOUT ROWID;"
    "CREATE TABLE dvfs_transitions ("
    " run_id INTEGER NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,"
    " sample INTEGER NOT NULL,"
    " seq INTEGER NOT NULL,"
    " at_ns REAL NOT NULL,"
    " from_opp INTEGER NOT NULL,"
    " to_opp INTEGER NOT NULL,"
    " from_mhz REAL NOT NULL,"
    " to_mhz REAL NOT NULL,"
    " latency_ns REAL NOT NULL,"
    " energy_nj REAL NOT NULL,"
    " PRIMARY KEY (run_id, sample, seq)"
    ") STRICT, WITHOUT ROWID;"
    "CREATE TABLE layer_costs ("
    " run_id INTEGER NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,"
    " layer INTEGER NOT NULL,"
    " name TEXT NOT NULL,"
    " opp INTEGER NOT NULL,"
    " freq_mhz REAL NOT NULL,"
    " vdd_v REAL NOT NULL,"
    " cycles INTEGER NOT NULL,"
    " macs INTEGER NOT NULL,"
    " time_ns REAL NOT NULL,"
    " dynamic_nj REAL NOT NULL,"
    " static_nj REAL NOT NULL,"
    " PRIMARY KEY (run_id, layer, opp)"
    ") STRICT, WITHOUT ROWID;"
    /* p99 is the nearest-rank percentile: the value of rank ceil(0.99 n) in ascending order. */
    "CREATE VIEW run_summary AS SELECT"
    " r.run_id AS run_id,"
    " r.status AS status,"
    " COUNT(i.sample) AS n_inferences,"
    " AVG(i.correct) AS accuracy,"
    " AVG(i.exit_layer) AS mean_exit_layer,"
    " AVG(i.n_exit_evals) AS mean_exit_evals,"
    " AVG(i.backbone_macs) AS mean_backbone_macs,"
    " AVG(i.exit_macs) AS mean_exit_macs,"
    " AVG(i.predictor_ops) AS mean_predictor_ops,"
    " c.classic_macs AS classic_macs,"
    " AVG(i.backbone_macs + i.exit_macs + i.predictor_ops) / c.classic_macs AS rel_computation,"
    " AVG(i.backbone_macs) / c.classic_macs AS rel_backbone,"
    " AVG(i.exit_macs) / c.classic_macs AS rel_exits,"
    " AVG(i.predictor_ops) / c.classic_macs AS rel_predictor,"
    " AVG(i.latency_ns) AS mean_latency_ns,"
    " (SELECT MIN(q.latency_ns) FROM (SELECT latency_ns,"
    "   ROW_NUMBER() OVER (ORDER BY latency_ns) AS rank_1,"
    "   COUNT(*) OVER () AS n FROM inferences"
    "   WHERE run_id = r.run_id AND latency_ns IS NOT NULL) AS q"
    "   WHERE q.rank_1 * 100 >= q.n * 99) AS p99_latency_ns,"
    " AVG(i.energy_nj) AS mean_energy_nj,"
    " TOTAL(i.energy_nj) AS total_energy_nj,"
    " SUM(i.deadline_met = 0) AS deadline_misses,"
    " COALESCE(SUM(i.n_predictions), 0) AS n_predictions,"
    " COALESCE(SUM(i.n_mispredictions), 0) AS n_mispredictions,"
    " CASE WHEN SUM(i.n_predictions) > 0"
    "  THEN 1.0 - CAST(SUM(i.n_mispredictions) AS REAL) / SUM(i.n_predictions)"
    " END AS prediction_hit_rate,"
    " (SELECT AVG(e.predicted_jump) FROM exit_evals AS e WHERE e.run_id = r.run_id)"
    "  AS mean_jump,"
    " AVG(i.energy_nj) / ce.classic_energy_nj AS rel_energy,"
    " AVG(i.latency_ns) / cl.classic_latency_ns AS rel_latency,"
    " CAST(SUM(i.deadline_met = 0) AS REAL) / COUNT(i.deadline_met) AS deadline_miss_rate"
    " FROM runs AS r LEFT JOIN inferences AS i ON i.run_id = r.run_id"
    " LEFT JOIN (SELECT run_id, CAST(value AS REAL) AS classic_macs FROM run_params"
    "  WHERE key = 'run.classic_macs') AS c ON c.run_id = r.run_id"
    " LEFT JOIN (SELECT run_id, CAST(value AS REAL) AS classic_energy_nj FROM run_params"
    "  WHERE key = 'run.classic_energy_nj') AS ce ON ce.run_id = r.run_id"
    " LEFT JOIN (SELECT run_id, CAST(value AS REAL) AS classic_latency_ns FROM run_params"
    "  WHERE key = 'run.classic_latency_ns') AS cl ON cl.run_id = r.run_id"
    " GROUP BY r.run_id;"
    "CREATE VIEW exit_histogram AS"
    " SELECT run_id, exit_layer, COUNT(*) AS n FROM inferences GROUP BY run_id, exit_layer;"
    "CREATE VIEW time_split AS"
    " SELECT run_id, kind, TOTAL(time_ns) AS time_ns, TOTAL(compute_nj) AS compute_nj,"
    " TOTAL(memory_nj) AS memory_nj, TOTAL(dram_nj) AS dram_nj, TOTAL(static_nj) AS static_nj,"
    " TOTAL(energy_nj) AS energy_nj"
    " FROM segments GROUP BY run_id, kind;";

/* Statements prepared once at open and reused for the life of the handle. */
typedef enum db_stmt_id {
    ST_BEGIN,
    ST_COMMIT,
    ST_FIND_RUN,
    ST_DELETE_RUN,
    ST_INSERT_RUN,
    ST_END_RUN,
    ST_PARAM,
    ST_OWNER,
    ST_DROP_OWNER,
    ST_INFERENCE,
    ST_EXIT_EVAL,
    ST_SEGMENT,
    ST_DVFS,
    ST_LAYER_COST,
    ST_COUNT
} db_stmt_id;

static const struct {
    const char *sql;
    const char *what; /* names the statement in error messages */
} DB_STMTS[ST_COUNT] = {
    [ST_BEGIN] = {"BEGIN IMMEDIATE", "begin a transaction"},
    [ST_COMMIT] = {"COMMIT", "commit"},
    [ST_FIND_RUN] = {"SELECT run_id, status FROM runs WHERE config_sha256 = ?1", "look up run"},
    [ST_DELETE_RUN] = {"DELETE FROM runs WHERE run_id = ?1", "delete run"},
    [ST_INSERT_RUN] = {"INSERT INTO runs (started_at, pesim_version, config_text, config_sha256,"
                       " seed, status) VALUES (" DB_NOW_SQL ", ?1, ?2, ?3, ?4, 'running')",
                       "add run"},
    [ST_END_RUN] = {"UPDATE runs SET status = ?2, finished_at = " DB_NOW_SQL " WHERE run_id = ?1",
                    "end run"},
    [ST_PARAM] = {"INSERT INTO run_params VALUES (?1, ?2, ?3)", "add to run_params"},
    [ST_OWNER] = {"SELECT value FROM run_params WHERE run_id = ?1 AND key = '" DB_OWNER_KEY "'",
                  "look up the process of a running run"},
    [ST_DROP_OWNER] = {"DELETE FROM run_params WHERE run_id = ?1 AND key = '" DB_OWNER_KEY "'",
                       "forget the process of an ended run"},
    [ST_INFERENCE] = {"INSERT INTO inferences VALUES "
                      "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
                      "add to inferences"},
    [ST_EXIT_EVAL] = {"INSERT INTO exit_evals VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                      "add to exit_evals"},
    [ST_SEGMENT] = {"INSERT INTO segments VALUES "
                    "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
                    "add to segments"},
    [ST_DVFS] = {"INSERT INTO dvfs_transitions VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                 "add to dvfs_transitions"},
    [ST_LAYER_COST] = {"INSERT INTO layer_costs VALUES "
                       "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                       "add to layer_costs"},
};

struct db {
    sqlite3 *h;
    sqlite3_stmt *st[ST_COUNT];
    unsigned batch_rows; /* rows per batch transaction */
    unsigned pending;    /* rows added in the open batch (staged ones included) */
    db_row_mode mode;
    db_stage stage[DB_STAGE_TABLES];
    sqlite3_stmt *flush[DB_STAGE_TABLES]; /* INSERT ... SELECT of each table's staged rows */
    long busy_pid; /* the live process writing the run db_run_begin left alone (DB_RUN_BUSY) */
    bool readonly;
    char err[DB_ERR_CHARS];
    char path[]; /* as given to db_open */
};

/* Negated SQLite primary result code of rc, never 0. */
static int neg_code(int rc)
{
    int primary = rc & DB_SQLITE_PRIMARY;
    if (primary == SQLITE_OK || primary >= SQLITE_ROW) primary = SQLITE_ERROR;
    return -primary;
}

/* Record "PATH: message" as the handle's last error; returns neg_code(rc). */
__attribute__((format(printf, 3, 4))) static int fail(db *d, int rc, const char *fmt, ...)
{
    int n = snprintf(d->err, sizeof d->err, "%s: ", d->path);
    if (n < 0 || (size_t)n >= sizeof d->err) n = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->err + n, sizeof d->err - (size_t)n, fmt, ap);
    va_end(ap);
    for (char *c = d->err; *c; c++)
        if (*c == '\n' || *c == '\r') *c = ' ';
    return neg_code(rc);
}

/* Copy the handle's last error to a caller's buffer; returns rc. */
static int give(const db *d, int rc, char *err, size_t errlen)
{
    if (err && errlen) snprintf(err, errlen, "%s", d->err);
    return rc;
}

static void set_err(char *err, size_t errlen, const char *path, const char *msg)
{
    if (err && errlen) snprintf(err, errlen, "%s: %s", path ? path : "(null)", msg);
}

/* Run SQL text without results (pragmas, schema). */
static int exec_sql(db *d, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(d->h, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        rc = fail(d, rc, "%s", msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        return rc;
    }
    return 0;
}

/* One-row query; its first column as an integer (or text into buf when buf is not NULL). */
static int query_one(db *d, const char *sql, int64_t *value, char *buf, size_t buflen)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(d->h, sql, -1, &s, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
            if (value) *value = sqlite3_column_int64(s, 0);
            const unsigned char *text = sqlite3_column_text(s, 0);
            if (buf && buflen) snprintf(buf, buflen, "%s", text ? (const char *)text : "");
            rc = SQLITE_OK;
        } else if (rc == SQLITE_DONE) {
            rc = fail(d, SQLITE_ERROR, "no result from '%s'", sql);
            sqlite3_finalize(s);
            return rc;
        }
    }
    if (rc != SQLITE_OK) rc = fail(d, rc, "%s", sqlite3_errmsg(d->h));
    sqlite3_finalize(s);
    return rc;
}

/* Step a bound statement that returns no rows, then reset it; 0 ok. */
static int step_done(db *d, db_stmt_id id)
{
    sqlite3_stmt *s = d->st[id];
    int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
        sqlite3_reset(s); /* returns SQLITE_OK after a successful step */
        return 0;
    }
    rc = fail(d, rc, "cannot %s: %s", DB_STMTS[id].what, sqlite3_errmsg(d->h));
    sqlite3_reset(s);
    return rc;
}

/* Roll back an open transaction after an error; the first error stays the reported one. */
static void rollback(db *d)
{
    if (!sqlite3_get_autocommit(d->h)) (void)sqlite3_exec(d->h, "ROLLBACK", NULL, NULL, NULL);
    d->pending = 0;
    for (int i = 0; i < DB_STAGE_TABLES; i++) d->stage[i].n = 0;
}

/* COMMIT the open transaction. SQLITE_BUSY leaves it open (another connection holds a lock the
 * commit needs), so it is retried for up to the busy timeout instead of losing the batch. */
static int commit_tx(db *d)
{
    for (int waited_ms = 0;; waited_ms += DB_OPEN_RETRY_MS) {
        int rc = step_done(d, ST_COMMIT);
        if (rc != -SQLITE_BUSY || sqlite3_get_autocommit(d->h) || waited_ms >= DB_BUSY_TIMEOUT_MS)
            return rc;
        sqlite3_sleep(DB_OPEN_RETRY_MS);
    }
}

/* user_version and the number of schema objects, read in one snapshot (so a concurrent
 * creator's transaction is seen whole or not at all). */
static int read_header(db *d, int64_t *version, int64_t *objects)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(d->h,
                                "SELECT (SELECT user_version FROM pragma_user_version),"
                                " (SELECT count(*) FROM sqlite_master)",
                                -1, &s, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *version = sqlite3_column_int64(s, 0);
        *objects = sqlite3_column_int64(s, 1);
        rc = SQLITE_OK;
    }
    int ret = rc == SQLITE_OK ? 0 : fail(d, rc, "%s", sqlite3_errmsg(d->h));
    sqlite3_finalize(s);
    return ret;
}

/* Create tables, views and user_version in one transaction, unless a concurrent opener did. */
static int create_schema(db *d)
{
    char sql[sizeof "PRAGMA user_version = -9223372036854775808"];
    int64_t version = 0, objects = 0;
    int rc = exec_sql(d, "BEGIN IMMEDIATE");
    if (rc) return rc;
    rc = read_header(d, &version, &objects);
    bool empty = version == 0 && objects == 0;
    if (!rc && empty) rc = exec_sql(d, DB_SCHEMA_SQL);
    if (!rc && empty) {
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d", DB_SCHEMA_VERSION);
        rc = exec_sql(d, sql);
    }
    if (!rc) rc = exec_sql(d, "COMMIT");
    if (rc) rollback(d);
    return rc;
}

/* Fail unless every table of DB_TABLES exists. */
static int check_tables(db *d)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(
        d->h, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1", -1, &s,
        NULL);
    if (rc != SQLITE_OK) return fail(d, rc, "%s", sqlite3_errmsg(d->h));
    int ret = 0;
    for (size_t i = 0; i < DB_NTABLES && !ret; i++) {
        rc = sqlite3_bind_text(s, 1, DB_TABLES[i], -1, SQLITE_STATIC);
        if (rc == SQLITE_OK) rc = sqlite3_step(s);
        if (rc != SQLITE_ROW)
            ret = fail(d, rc, "%s", sqlite3_errmsg(d->h));
        else if (sqlite3_column_int64(s, 0) == 0)
            ret =
                fail(d, SQLITE_NOTADB, "not a pesim result database (no table '%s')", DB_TABLES[i]);
        sqlite3_reset(s);
    }
    sqlite3_finalize(s);
    return ret;
}

/* Switch a writable file to WAL (persistent; a no-op when it already is). */
static int set_wal(db *d)
{
    char mode[sizeof "memory"] = "";
    return query_one(d, "PRAGMA journal_mode = WAL", NULL, mode, sizeof mode);
}

/* Check the file is a pesim result database of a version this build reads; create the schema
 * when the file is new and create is set. Changes nothing in a file that is not ours. */
static int check_or_create(db *d, bool create)
{
    int64_t version = 0, objects = 0;
    int rc = read_header(d, &version, &objects);
    if (rc == -SQLITE_NOTADB)
        return fail(d, SQLITE_NOTADB, "not a pesim result database (file is not a database)");
    if (rc) return rc;
    bool empty = version == 0 && objects == 0;
    if (empty && !create) return fail(d, SQLITE_NOTADB, "not a pesim result database (empty)");
    if (empty) {
        /* 16 KiB pages: result tables are appended to in key order and scanned whole; against
         * the 4 KiB default this wrote 20 % more rows/s (docs/performance.md) */
        rc = exec_sql(d, "PRAGMA page_size = " DB_PAGE_SIZE_TEXT);
        if (!rc) rc = set_wal(d);
        if (!rc) rc = create_schema(d);
        if (!rc) rc = read_header(d, &version, &objects); /* ours, or a concurrent opener's */
        if (rc) return rc;
    }
    if (version > DB_SCHEMA_VERSION)
        return fail(d, SQLITE_ERROR,
                    "result database has schema version %" PRId64 ", this pesim reads up to %d",
                    version, DB_SCHEMA_VERSION);
    rc = check_tables(d);
    if (!rc && version < DB_SCHEMA_VERSION)
        rc = fail(d, SQLITE_NOTADB, "not a pesim result database (schema version %" PRId64 ")",
                  version);
    if (!rc && !empty && !d->readonly) rc = set_wal(d);
    return rc;
}

/* Per-connection settings: durability and cascades. */
static int set_pragmas(db *d)
{
    int64_t fk = 0;
    int rc = exec_sql(d, "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON");
    if (!rc) rc = query_one(d, "PRAGMA foreign_keys", &fk, NULL, 0);
    if (!rc && fk != 1) rc = fail(d, SQLITE_ERROR, "sqlite was built without foreign keys");
    return rc;
}

static int prepare_all(db *d)
{
    int rc = db_stage_register(d->h, d->stage);
    if (rc != SQLITE_OK)
        return fail(d, rc, "cannot register the staged-row tables: %s", sqlite3_errstr(rc));
    for (int t = 0; t < DB_STAGE_TABLES; t++) {
        rc = sqlite3_prepare_v3(d->h, DB_STAGE_INSERT_SQL[t], -1, SQLITE_PREPARE_PERSISTENT,
                                &d->flush[t], NULL);
        if (rc != SQLITE_OK)
            return fail(d, rc, "cannot prepare '%s': %s", DB_STAGE_INSERT_SQL[t],
                        sqlite3_errmsg(d->h));
    }
    for (int i = 0; i < ST_COUNT; i++) {
        rc = sqlite3_prepare_v3(d->h, DB_STMTS[i].sql, -1, SQLITE_PREPARE_PERSISTENT, &d->st[i],
                                NULL);
        if (rc != SQLITE_OK)
            return fail(d, rc, "cannot prepare '%s': %s", DB_STMTS[i].what, sqlite3_errmsg(d->h));
    }
    return 0;
}

/* Busy handler: retry every DB_BUSY_POLL_MS for DB_BUSY_TIMEOUT_MS. (sqlite3_busy_timeout backs off
 * to 100 ms naps, which leaves the lock unused through most of the short gaps between another
 * writer's transactions, e.g. between the runs of parallel sweep workers.) */
static int busy_wait(void *arg, int count)
{
    (void)arg;
    if ((long long)count * DB_BUSY_POLL_MS >= DB_BUSY_TIMEOUT_MS) return 0;
    sqlite3_sleep(DB_BUSY_POLL_MS);
    return 1;
}

/* Open the SQLite file itself: a missing file is an error unless creating. */
static int open_file(db *d, unsigned flags)
{
    bool create = (flags & DB_CREATE) && !d->readonly;
    struct stat sb;
    if (stat(d->path, &sb) != 0 && errno == ENOENT && !create)
        return fail(d, SQLITE_CANTOPEN, "no such file");
    int oflags = SQLITE_OPEN_NOMUTEX;
    if (d->readonly)
        oflags |= SQLITE_OPEN_READONLY;
    else
        oflags |= SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
    int rc = sqlite3_open_v2(d->path, &d->h, oflags, NULL);
    if (rc != SQLITE_OK) return fail(d, rc, "%s", d->h ? sqlite3_errmsg(d->h) : sqlite3_errstr(rc));
    rc = sqlite3_busy_handler(d->h, busy_wait, NULL); /* wait for other writers */
    if (rc != SQLITE_OK) return fail(d, rc, "%s", sqlite3_errmsg(d->h));
    /* SQLite falls back to read-only when the file is write-protected; writing needs more. */
    if (!d->readonly && sqlite3_db_readonly(d->h, "main") == 1)
        return fail(d, SQLITE_READONLY, "result database is read-only (no write permission)");
    return 0;
}

int db_open(db **out, const char *path, unsigned flags, char *err, size_t errlen)
{
    if (!out || !path || !*path) {
        set_err(err, errlen, path, "no result database path given");
        return -SQLITE_MISUSE;
    }
    *out = NULL;
    size_t len = strlen(path);
    db *d = calloc(1, sizeof *d + len + 1);
    if (!d) {
        set_err(err, errlen, path, "out of memory");
        return -SQLITE_NOMEM;
    }
    memcpy(d->path, path, len + 1);
    d->batch_rows = DB_DEFAULT_BATCH_ROWS;
    d->readonly = (flags & DB_READONLY) != 0;
    int rc = open_file(d, flags);
    /* Switching a new file to WAL reads, then writes: with several processes opening it at once
     * that gets SQLITE_BUSY without the busy handler, so the whole check is retried. */
    for (int waited_ms = 0; !rc; waited_ms += DB_OPEN_RETRY_MS) {
        rc = check_or_create(d, (flags & DB_CREATE) != 0);
        if (rc != -SQLITE_BUSY || waited_ms >= DB_BUSY_TIMEOUT_MS) break;
        rc = 0;
        sqlite3_sleep(DB_OPEN_RETRY_MS);
    }
    if (!rc) rc = set_pragmas(d);
    if (!rc) rc = prepare_all(d);
    if (rc) {
        give(d, rc, err, errlen);
        db_close(d);
        return rc;
    }
    *out = d;
    return 0;
}

/* The statement and table name of each staged table's bound INSERT. */
static const struct {
    db_stmt_id stmt;
    const char *name;
} ROW_TABLE[DB_STAGE_TABLES] = {
    [DB_STAGE_INFERENCES] = {ST_INFERENCE, "inferences"},
    [DB_STAGE_EXIT_EVALS] = {ST_EXIT_EVAL, "exit_evals"},
    [DB_STAGE_SEGMENTS] = {ST_SEGMENT, "segments"},
    [DB_STAGE_DVFS] = {ST_DVFS, "dvfs_transitions"},
};

/* Hold a row of table t in memory (DB_ROWS_STAGED) or drop it (DB_ROWS_DISCARD); a full batch
 * is written at once. */
static int stage_row(db *d, int t, const void *row)
{
    if (d->mode == DB_ROWS_DISCARD) return 0;
    db_stage *g = &d->stage[t];
    if (t == DB_STAGE_SEGMENTS) {
        const char *kind = ((const db_segment *)row)->kind;
        if (!kind || strlen(kind) >= DB_KIND_CHARS)
            return fail(d, SQLITE_CONSTRAINT,
                        "cannot add to segments: kind '%s' is not one of "
                        "backbone, exit, predictor, dvfs, idle",
                        kind ? kind : "(null)");
    }
    if (g->n == g->cap) {
        size_t cap = g->cap ? 2 * g->cap : 1024;
        void *p = realloc(g->rows, cap * DB_STAGE_ROW_SIZE[t]);
        if (!p) return fail(d, SQLITE_NOMEM, "cannot hold a row in memory: out of memory");
        g->rows = p;
        g->cap = cap;
    }
    char *slot = (char *)g->rows + g->n * DB_STAGE_ROW_SIZE[t];
    if (t == DB_STAGE_SEGMENTS) {
        db_staged_segment *ss = (db_staged_segment *)slot;
        ss->row = *(const db_segment *)row;
        snprintf(ss->kind, sizeof ss->kind, "%s", ss->row.kind);
        ss->row.kind = NULL;
    } else {
        memcpy(slot, row, DB_STAGE_ROW_SIZE[t]);
    }
    g->n++;
    if (++d->pending >= d->batch_rows) return db_commit(d);
    return 0;
}

/* Insert every staged row, table by table, into the open transaction: one INSERT ... SELECT
 * from the table's staged rows each. */
static int write_staged(db *d)
{
    for (int t = 0; t < DB_STAGE_TABLES; t++) {
        if (!d->stage[t].n) continue;
        sqlite3_stmt *s = d->flush[t];
        int rc = sqlite3_step(s);
        if (rc != SQLITE_DONE) {
            rc = fail(d, rc, "cannot add to %s: %s", ROW_TABLE[t].name, sqlite3_errmsg(d->h));
            sqlite3_reset(s);
            return rc;
        }
        sqlite3_reset(s);
    }
    return 0;
}

static bool have_staged(const db *d)
{
    for (int i = 0; i < DB_STAGE_TABLES; i++)
        if (d->stage[i].n) return true;
    return false;
}

int db_commit(db *d)
{
    if (!d) return -SQLITE_MISUSE;
    bool staged = have_staged(d);
    if (!staged && sqlite3_get_autocommit(d->h)) {
        d->pending = 0;
        return 0;
    }
    unsigned lost = d->pending;
    int rc = 0;
    if (staged) { /* the write lock is taken only now, for the inserts themselves */
        if (sqlite3_get_autocommit(d->h)) rc = step_done(d, ST_BEGIN);
        if (!rc) rc = write_staged(d);
        for (int i = 0; i < DB_STAGE_TABLES; i++) d->stage[i].n = 0;
    }
    if (!rc) rc = commit_tx(d);
    if (rc) {
        rollback(d);
        size_t n = strlen(d->err);
        snprintf(d->err + n, sizeof d->err - n, " (batch of %u rows lost)", lost);
        return rc;
    }
    d->pending = 0;
    return 0;
}

void db_close(db *d)
{
    if (!d) return;
    /* Callers that need the commit's status call db_commit (or db_run_end) first; a failed
     * commit is rolled back. */
    if (d->h) (void)db_commit(d);
    for (int i = 0; i < ST_COUNT; i++) sqlite3_finalize(d->st[i]);
    for (int t = 0; t < DB_STAGE_TABLES; t++) sqlite3_finalize(d->flush[t]);
    sqlite3_close(d->h); /* SQLITE_OK once every statement above is finalized */
    for (int i = 0; i < DB_STAGE_TABLES; i++) free(d->stage[i].rows);
    free(d);
}

void db_set_batch_rows(db *d, unsigned rows)
{
    if (d) d->batch_rows = rows ? rows : 1;
}

int db_set_row_mode(db *d, db_row_mode mode)
{
    if (!d) return -SQLITE_MISUSE;
    int rc = db_commit(d);
    if (!rc) d->mode = mode;
    return rc;
}

const char *db_path(const db *d)
{
    return d ? d->path : NULL;
}

const char *db_errmsg(const db *d)
{
    return d ? d->err : "no result database";
}

/* Step a bound INSERT inside the open batch (begun when none is), committing every batch_rows
 * rows. A failed row leaves the batch open unless SQLite rolled it back (I/O, disk full). */
static int add_bound(db *d, db_stmt_id id)
{
    if (sqlite3_get_autocommit(d->h)) {
        d->pending = 0;
        int rc = step_done(d, ST_BEGIN);
        if (rc) return rc;
    }
    int rc = step_done(d, id);
    if (rc) {
        if (d->pending && sqlite3_get_autocommit(d->h)) {
            size_t n = strlen(d->err);
            snprintf(d->err + n, sizeof d->err - n, " (open batch of %u rows rolled back)",
                     d->pending);
            d->pending = 0;
        }
        return rc;
    }
    if (++d->pending >= d->batch_rows) return db_commit(d);
    return 0;
}

/* Report a failed bind (bind codes are OR-ed, so only zero/non-zero is meaningful). */
static int bind_failed(db *d, db_stmt_id id)
{
    return fail(d, SQLITE_MISUSE, "cannot %s: cannot bind values: %s", DB_STMTS[id].what,
                sqlite3_errmsg(d->h));
}

/* Bind every column of row to table t's INSERT. Strings are bound SQLITE_STATIC: every column
 * is rebound before each step. */
static int bind_row(db *d, int t, const void *row, const char *kind)
{
    sqlite3_stmt *s = d->st[ROW_TABLE[t].stmt];
    int rc = SQLITE_OK;
    for (int c = 0; c < db_row_columns(t); c++) {
        db_value v = db_row_value(t, row, kind, c);
        switch (v.type) {
        case SQLITE_INTEGER:
            rc |= sqlite3_bind_int64(s, c + 1, v.i);
            break;
        case SQLITE_FLOAT:
            rc |= sqlite3_bind_double(s, c + 1, v.f);
            break;
        case SQLITE_TEXT:
            rc |= sqlite3_bind_text(s, c + 1, v.s, -1, SQLITE_STATIC);
            break;
        default:
            rc |= sqlite3_bind_null(s, c + 1);
            break;
        }
    }
    return rc != SQLITE_OK ? bind_failed(d, ROW_TABLE[t].stmt) : 0;
}

/* Add a row of staged table t: staged or dropped, or bound and stepped into the open batch. */
static int add_row(db *d, int t, const void *row, const char *kind)
{
    if (!d) return -SQLITE_MISUSE;
    if (!row) return fail(d, SQLITE_MISUSE, "cannot add to %s: no row given", ROW_TABLE[t].name);
    if (d->mode != DB_ROWS_DIRECT) return stage_row(d, t, row);
    int rc = bind_row(d, t, row, kind);
    return rc ? rc : add_bound(d, ROW_TABLE[t].stmt);
}

int db_add_inference(db *d, const db_inference *r)
{
    return add_row(d, DB_STAGE_INFERENCES, r, NULL);
}

int db_add_exit_eval(db *d, const db_exit_eval *r)
{
    return add_row(d, DB_STAGE_EXIT_EVALS, r, NULL);
}

int db_add_segment(db *d, const db_segment *r)
{
    return add_row(d, DB_STAGE_SEGMENTS, r, r ? r->kind : NULL);
}

int db_add_dvfs(db *d, const db_dvfs *r)
{
    return add_row(d, DB_STAGE_DVFS, r, NULL);
}

int db_add_layer_cost(db *d, const db_layer_cost *r)
{
    if (!d) return -SQLITE_MISUSE;
    if (!r) return fail(d, SQLITE_MISUSE, "cannot add to layer_costs: no row given");
    sqlite3_stmt *s = d->st[ST_LAYER_COST];
    int rc = sqlite3_bind_int64(s, 1, r->run_id);
    rc |= sqlite3_bind_int(s, 2, r->layer);
    rc |= sqlite3_bind_text(s, 3, r->name, -1, SQLITE_STATIC);
    rc |= sqlite3_bind_int(s, 4, r->opp);
    rc |= sqlite3_bind_double(s, 5, r->freq_mhz);
    rc |= sqlite3_bind_double(s, 6, r->vdd_v);
    rc |= sqlite3_bind_int64(s, 7, r->cycles);
    rc |= sqlite3_bind_int64(s, 8, r->macs);
    rc |= sqlite3_bind_double(s, 9, r->time_ns);
    rc |= sqlite3_bind_double(s, 10, r->dynamic_nj);
    rc |= sqlite3_bind_double(s, 11, r->static_nj);
    if (rc != SQLITE_OK) return bind_failed(d, ST_LAYER_COST);
    return add_bound(d, ST_LAYER_COST);
}

int db_run_param(db *d, int64_t run_id, const char *key, const char *value)
{
    if (!d) return -SQLITE_MISUSE;
    if (!key || !value)
        return fail(d, SQLITE_MISUSE, "cannot add to run_params: no key or value given");
    sqlite3_stmt *s = d->st[ST_PARAM];
    int rc = sqlite3_bind_int64(s, 1, run_id);
    rc |= sqlite3_bind_text(s, 2, key, -1, SQLITE_STATIC);
    rc |= sqlite3_bind_text(s, 3, value, -1, SQLITE_STATIC);
    if (rc != SQLITE_OK) return bind_failed(d, ST_PARAM);
    return add_bound(d, ST_PARAM);
}

/* Look up the run of a config hash: *found, its id and whether it is done. */
static int find_run(db *d, const char *sha, bool *found, int64_t *id, bool *done)
{
    sqlite3_stmt *s = d->st[ST_FIND_RUN];
    int rc = sqlite3_bind_text(s, 1, sha, -1, SQLITE_STATIC);
    if (rc != SQLITE_OK) return bind_failed(d, ST_FIND_RUN);
    rc = sqlite3_step(s);
    *found = rc == SQLITE_ROW;
    if (rc == SQLITE_ROW) {
        *id = sqlite3_column_int64(s, 0);
        const unsigned char *status = sqlite3_column_text(s, 1);
        *done = status && strcmp((const char *)status, "done") == 0;
    } else if (rc != SQLITE_DONE) {
        rc = fail(d, rc, "cannot look up run: %s", sqlite3_errmsg(d->h));
        sqlite3_reset(s);
        return rc;
    }
    sqlite3_reset(s);
    return 0;
}

/* Delete a run (its rows go by ON DELETE CASCADE) and insert a fresh 'running' row. */
/* The writing process of a running run, "HOST PID START" (START: the process's start time in
 * clock ticks after boot, /proc/PID/stat field 22, so that a reused PID is not taken for the
 * original process). Written with the run row, deleted when the run ends. */
static int process_start(long pid, unsigned long long *start)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces and parentheses */
    if (!p) return -1;
    /* after ") " come fields 3 (state) to 52; starttime is field 22 */
    for (int field = 2; field < 22 && p; field++) p = strchr(p + 1, ' ');
    return p && sscanf(p + 1, "%llu", start) == 1 ? 0 : -1;
}

/* This host's name as recorded (spaces, which would split the field, as '_'). */
static void self_host(char host[DB_HOST_CHARS])
{
    memset(host, 0, DB_HOST_CHARS);
    if (gethostname(host, DB_HOST_CHARS - 1)) snprintf(host, DB_HOST_CHARS, "?");
    for (char *c = host; *c; c++)
        if (*c == ' ') *c = '_';
}

static void owner_text(char *buf, size_t len)
{
    char host[DB_HOST_CHARS];
    self_host(host);
    unsigned long long start = 0;
    long pid = (long)getpid();
    (void)process_start(pid, &start);
    snprintf(buf, len, "%s %ld %llu", host, pid, start);
}

/* True when the running run run_id is being written by another live process on this host.
 * A run of this very process, of another host, of a process that has ended, or without a
 * recorded process, is not: it was interrupted and may be redone. */
static bool owner_alive(db *d, int64_t run_id)
{
    sqlite3_stmt *s = d->st[ST_OWNER];
    bool alive = false;
    if (sqlite3_bind_int64(s, 1, run_id) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(s, 0);
        char host[DB_HOST_CHARS], me[DB_HOST_CHARS];
        long pid = 0;
        unsigned long long start = 0, now = 0;
        self_host(me);
        if (v && sscanf(v, "%255s %ld %llu", host, &pid, &start) == 3 && pid > 0 &&
            pid != (long)getpid() && strcmp(me, host) == 0 && process_start(pid, &now) == 0 &&
            now == start) {
            d->busy_pid = pid;
            alive = true;
        }
    }
    sqlite3_reset(s);
    return alive;
}

static int replace_run(db *d, const db_run_spec *spec, bool found, int64_t old_id, int64_t *run_id)
{
    int rc = 0;
    if (found) {
        rc = sqlite3_bind_int64(d->st[ST_DELETE_RUN], 1, old_id);
        if (rc != SQLITE_OK) return bind_failed(d, ST_DELETE_RUN);
        rc = step_done(d, ST_DELETE_RUN);
        if (rc) return rc;
    }
    sqlite3_stmt *s = d->st[ST_INSERT_RUN];
    rc = sqlite3_bind_text(s, 1, spec->pesim_version, -1, SQLITE_STATIC);
    rc |= sqlite3_bind_text(s, 2, spec->config_text, -1, SQLITE_STATIC);
    rc |= sqlite3_bind_text(s, 3, spec->config_sha256, -1, SQLITE_STATIC);
    /* INTEGER is signed 64-bit: seeds of 2^63 and above are stored as their two's complement. */
    rc |= sqlite3_bind_int64(s, 4, (sqlite3_int64)spec->seed);
    if (rc != SQLITE_OK) return bind_failed(d, ST_INSERT_RUN);
    rc = step_done(d, ST_INSERT_RUN);
    if (rc) return rc;
    *run_id = sqlite3_last_insert_rowid(d->h);
    char owner[DB_HOST_CHARS + 48];
    owner_text(owner, sizeof owner);
    s = d->st[ST_PARAM];
    rc = sqlite3_bind_int64(s, 1, *run_id);
    rc |= sqlite3_bind_text(s, 2, DB_OWNER_KEY, -1, SQLITE_STATIC);
    rc |= sqlite3_bind_text(s, 3, owner, -1, SQLITE_TRANSIENT);
    if (rc != SQLITE_OK) return bind_failed(d, ST_PARAM);
    return step_done(d, ST_PARAM);
}

int db_run_begin(db *d, const db_run_spec *spec, bool force, int64_t *run_id,
                 db_begin_outcome *outcome, char *err, size_t errlen)
{
    if (!d) {
        set_err(err, errlen, NULL, "no result database");
        return -SQLITE_MISUSE;
    }
    if (!spec || !run_id || !outcome || !spec->config_text || !spec->config_sha256 ||
        !spec->pesim_version)
        return give(d, fail(d, SQLITE_MISUSE, "cannot begin run: incomplete run spec"), err,
                    errlen);
    int rc = db_commit(d);
    if (!rc) rc = step_done(d, ST_BEGIN);
    if (rc) return give(d, rc, err, errlen);
    bool found = false, done = false;
    int64_t old_id = 0, new_id = 0;
    db_begin_outcome what = DB_RUN_NEW;
    rc = find_run(d, spec->config_sha256, &found, &old_id, &done);
    d->busy_pid = 0;
    if (!rc && found)
        what = done                     ? (force ? DB_RUN_FORCED : DB_RUN_SKIPPED)
               : owner_alive(d, old_id) ? DB_RUN_BUSY
                                        : DB_RUN_REDO;
    if (!rc && what != DB_RUN_SKIPPED && what != DB_RUN_BUSY)
        rc = replace_run(d, spec, found, old_id, &new_id);
    if (!rc) rc = commit_tx(d);
    if (rc) {
        rollback(d);
        return give(d, rc, err, errlen);
    }
    *run_id = what == DB_RUN_SKIPPED || what == DB_RUN_BUSY ? old_id : new_id;
    *outcome = what;
    return 0;
}

int db_run_end(db *d, int64_t run_id, const char *status, char *err, size_t errlen)
{
    if (!d) {
        set_err(err, errlen, NULL, "no result database");
        return -SQLITE_MISUSE;
    }
    if (!status || (strcmp(status, "done") != 0 && strcmp(status, "failed") != 0))
        return give(d,
                    fail(d, SQLITE_MISUSE,
                         "cannot end run %" PRId64 ": status '%s' is not "
                         "'done' or 'failed'",
                         run_id, status ? status : "(null)"),
                    err, errlen);
    int rc = db_commit(d);
    if (!rc) rc = step_done(d, ST_BEGIN);
    if (rc) return give(d, rc, err, errlen);
    /* the status and the end of the writing process's claim, in one transaction */
    sqlite3_stmt *s = d->st[ST_END_RUN];
    rc = sqlite3_bind_int64(s, 1, run_id);
    rc |= sqlite3_bind_text(s, 2, status, -1, SQLITE_STATIC);
    if (rc != SQLITE_OK) rc = bind_failed(d, ST_END_RUN);
    if (!rc) rc = step_done(d, ST_END_RUN);
    if (!rc && sqlite3_changes(d->h) != 1)
        rc = fail(d, SQLITE_NOTFOUND, "cannot end run %" PRId64 ": no such run", run_id);
    if (!rc && sqlite3_bind_int64(d->st[ST_DROP_OWNER], 1, run_id) != SQLITE_OK)
        rc = bind_failed(d, ST_DROP_OWNER);
    if (!rc) rc = step_done(d, ST_DROP_OWNER);
    if (!rc) rc = commit_tx(d);
    if (rc) rollback(d);
    return rc ? give(d, rc, err, errlen) : 0;
}

long db_busy_pid(const db *d)
{
    return d ? d->busy_pid : 0;
}

int db_run_done(db *d, const char *config_sha256, bool *done)
{
    if (!d) return -SQLITE_MISUSE;
    if (!config_sha256 || !done)
        return fail(d, SQLITE_MISUSE, "cannot look up run: no config hash given");
    bool found = false;
    int64_t id = 0;
    *done = false;
    int rc = find_run(d, config_sha256, &found, &id, done);
    if (!found) *done = false;
    return rc;
}

/* ---- merging databases ---- */

enum { MERGE_SQL_CHARS = 4096 }; /* one generated copy statement */
#define MERGE_SCHEMA "merge_src" /* the input's name while attached */

/* Step a one-off statement to its end; sqlite3_changes() of it in *changes when not NULL. */
static int exec_bound(db *d, const char *sql, const char *text, int64_t num, int64_t *changes)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(d->h, sql, -1, &s, NULL);
    if (rc == SQLITE_OK && text && sqlite3_bind_parameter_count(s) >= 1)
        rc = sqlite3_bind_text(s, 1, text, -1, SQLITE_STATIC);
    else if (rc == SQLITE_OK && sqlite3_bind_parameter_count(s) >= 1)
        rc = sqlite3_bind_int64(s, 1, num);
    if (rc == SQLITE_OK) {
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        }
        if (rc == SQLITE_DONE) rc = SQLITE_OK;
    }
    int ret = rc == SQLITE_OK ? 0 : fail(d, rc, "merge: %s", sqlite3_errmsg(d->h));
    if (!ret && changes) *changes = sqlite3_changes64(d->h);
    sqlite3_finalize(s);
    return ret;
}

/* Append to buf (already holding a string) within len; false when it does not fit. */
__attribute__((format(printf, 3, 4))) static bool append(char *buf, size_t len, const char *fmt,
                                                         ...)
{
    size_t n = strlen(buf);
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(buf + n, len - n, fmt, ap);
    va_end(ap);
    return w >= 0 && (size_t)w < len - n;
}

/* Build "INSERT INTO main.T (cols) SELECT ... FROM merge_src.T AS s ..." from main's columns of
 * table T: run_id comes from the id map (child tables) or is left to AUTOINCREMENT (runs). */
static int copy_sql(db *d, const char *table, char *sql, size_t len)
{
    char pragma[64], cols[MERGE_SQL_CHARS / 2] = "", sel[MERGE_SQL_CHARS / 2] = "";
    snprintf(pragma, sizeof pragma, "PRAGMA main.table_info(%s)", table);
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(d->h, pragma, -1, &s, NULL);
    bool runs = strcmp(table, "runs") == 0, fits = true;
    while (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        rc = SQLITE_OK;
        const char *name = (const char *)sqlite3_column_text(s, 1);
        bool id = strcmp(name, "run_id") == 0;
        if (runs && id) continue;
        const char *sep = *cols ? ", " : "";
        fits = fits && append(cols, sizeof cols, "%s\"%s\"", sep, name);
        fits = fits && (id ? append(sel, sizeof sel, "%sm.dst_id", sep)
                           : append(sel, sizeof sel, "%ss.\"%s\"", sep, name));
    }
    int ret = rc == SQLITE_DONE ? 0 : fail(d, rc, "%s", sqlite3_errmsg(d->h));
    sqlite3_finalize(s);
    if (ret) return ret;
    if (!fits || !*cols)
        return fail(d, SQLITE_ERROR, "merge: cannot list the columns of %s", table);
    int w = runs ? snprintf(sql, len,
                            "INSERT INTO main.runs (%s) SELECT %s FROM " MERGE_SCHEMA ".runs AS s"
                            " WHERE s.status = 'done' AND NOT EXISTS (SELECT 1 FROM main.runs AS r"
                            " WHERE r.config_sha256 = s.config_sha256) ORDER BY s.run_id",
                            cols, sel)
                 : snprintf(sql, len,
                            "INSERT INTO main.%s (%s) SELECT %s FROM " MERGE_SCHEMA ".%s AS s"
                            " JOIN temp.merge_map AS m ON m.src_id = s.run_id",
                            table, cols, sel, table);
    if (w < 0 || (size_t)w >= len)
        return fail(d, SQLITE_ERROR, "merge: copy statement of %s too long", table);
    return 0;
}

/* Record "IN_PATH: message" (a problem of a merge input, not of this database); neg_code(rc). */
__attribute__((format(printf, 4, 5))) static int fail_input(db *d, int rc, const char *in_path,
                                                            const char *fmt, ...)
{
    int n = snprintf(d->err, sizeof d->err, "%s: ", in_path);
    if (n < 0 || (size_t)n >= sizeof d->err) n = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->err + n, sizeof d->err - (size_t)n, fmt, ap);
    va_end(ap);
    return neg_code(rc);
}

/* The attached input is a pesim result database of this schema version. */
static int check_source(db *d, const char *in_path)
{
    int64_t version = 0;
    int rc = query_one(d, "PRAGMA " MERGE_SCHEMA ".user_version", &version, NULL, 0);
    if (rc == -SQLITE_NOTADB)
        return fail_input(d, SQLITE_NOTADB, in_path,
                          "not a pesim result database (file is not a database)");
    if (rc) return rc;
    if (version != 0 && version != DB_SCHEMA_VERSION)
        return fail_input(d, SQLITE_MISMATCH, in_path,
                          "schema version %" PRId64 ", %s has %d: not merged", version, d->path,
                          DB_SCHEMA_VERSION);
    for (size_t i = 0; i < DB_NTABLES; i++) {
        char sql[160];
        int64_t n = 0;
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM " MERGE_SCHEMA ".sqlite_master WHERE type = 'table'"
                 " AND name = '%s'",
                 DB_TABLES[i]);
        rc = query_one(d, sql, &n, NULL, 0);
        if (rc) return rc;
        if (n == 0)
            return fail_input(d, SQLITE_NOTADB, in_path,
                              "not a pesim result database (no table '%s')", DB_TABLES[i]);
    }
    if (version != DB_SCHEMA_VERSION)
        return fail_input(d, SQLITE_NOTADB, in_path, "not a pesim result database (version 0)");
    return 0;
}

/* Copy the done runs of the attached input inside one transaction. */
static int merge_runs(db *d, db_merge_stats *st)
{
    char sql[MERGE_SQL_CHARS];
    int64_t max_id = 0, n = 0;
    int rc = query_one(d, "SELECT COALESCE(MAX(run_id), 0) FROM main.runs", &max_id, NULL, 0);
    if (!rc)
        rc = query_one(d,
                       "SELECT count(*) FROM " MERGE_SCHEMA ".runs AS s WHERE s.status = 'done'"
                       " AND EXISTS (SELECT 1 FROM main.runs AS r WHERE r.status = 'done'"
                       " AND r.config_sha256 = s.config_sha256)",
                       &st->runs_skipped, NULL, 0);
    if (!rc)
        rc = query_one(d, "SELECT count(*) FROM " MERGE_SCHEMA ".runs WHERE status <> 'done'",
                       &st->runs_not_done, NULL, 0);
    /* a run left running or failed here is replaced by the input's done run */
    if (!rc)
        rc = exec_bound(d,
                        "DELETE FROM main.runs WHERE status <> 'done' AND config_sha256 IN"
                        " (SELECT config_sha256 FROM " MERGE_SCHEMA ".runs WHERE status = 'done')",
                        NULL, 0, NULL);
    if (!rc) rc = copy_sql(d, "runs", sql, sizeof sql);
    if (!rc) rc = exec_bound(d, sql, NULL, 0, &st->runs_copied);
    if (!rc)
        rc = exec_bound(d,
                        "INSERT INTO temp.merge_map SELECT s.run_id, r.run_id FROM " MERGE_SCHEMA
                        ".runs AS s JOIN main.runs AS r ON r.config_sha256 = s.config_sha256"
                        " WHERE r.run_id > ?1",
                        NULL, max_id, &n);
    if (!rc && n != st->runs_copied)
        rc = fail(d, SQLITE_INTERNAL, "merge: %" PRId64 " runs copied but %" PRId64 " mapped",
                  st->runs_copied, n);
    for (size_t i = 1; i < DB_NTABLES && !rc; i++) { /* every table after runs */
        rc = copy_sql(d, DB_TABLES[i], sql, sizeof sql);
        if (!rc) rc = exec_bound(d, sql, NULL, 0, &n);
        st->rows_copied += n;
    }
    return rc;
}

int db_merge(db *d, const char *in_path, db_merge_stats *st, char *err, size_t errlen)
{
    if (!d) {
        set_err(err, errlen, in_path, "no result database");
        return -SQLITE_MISUSE;
    }
    if (!in_path || !st || d->readonly)
        return give(d,
                    fail(d, SQLITE_MISUSE, "cannot merge: %s",
                         !in_path ? "no input given"
                         : !st    ? "no statistics given"
                                  : "opened read-only"),
                    err, errlen);
    memset(st, 0, sizeof *st);
    struct stat in_sb, out_sb;
    if (stat(in_path, &in_sb) != 0)
        return give(d, fail_input(d, SQLITE_CANTOPEN, in_path, "%s", strerror(errno)), err, errlen);
    if (stat(d->path, &out_sb) == 0 && in_sb.st_dev == out_sb.st_dev &&
        in_sb.st_ino == out_sb.st_ino)
        return give(d, fail_input(d, SQLITE_MISUSE, in_path, "is the output database itself"), err,
                    errlen);
    int rc = db_commit(d); /* ATTACH is refused inside a transaction */
    if (rc) return give(d, rc, err, errlen);
    rc = exec_bound(d, "ATTACH ?1 AS " MERGE_SCHEMA, in_path, 0, NULL);
    if (rc == -SQLITE_NOTADB)
        rc = fail_input(d, SQLITE_NOTADB, in_path,
                        "not a pesim result database (file is not a database)");
    else if (rc)
        rc = fail_input(d, -rc, in_path, "cannot open: %s", sqlite3_errmsg(d->h));
    if (rc) return give(d, rc, err, errlen);
    rc = check_source(d, in_path);
    if (!rc) rc = step_done(d, ST_BEGIN);
    if (!rc) {
        rc = exec_sql(d, "CREATE TEMP TABLE IF NOT EXISTS merge_map (src_id INTEGER PRIMARY KEY,"
                         " dst_id INTEGER NOT NULL); DELETE FROM temp.merge_map");
        if (!rc) rc = merge_runs(d, st);
        if (!rc) rc = commit_tx(d);
        if (rc) {
            rollback(d);
            memset(st, 0, sizeof *st);
        }
    }
    (void)sqlite3_exec(d->h, "DETACH " MERGE_SCHEMA, NULL, NULL, NULL);
    return rc ? give(d, rc, err, errlen) : 0;
}

/* db_info column widths (characters). */
enum {
    INFO_ID_W = 6,
    INFO_STATUS_W = 7,
    INFO_TIME_W = 24, /* 2024-01-31T12:34:56.789Z */
    INFO_SEED_W = 20, /* digits of the largest 64-bit seed */
    INFO_COUNT_W = 12,
    INFO_TABLE_W = 16,
};

/* Text of a result column, "-" for NULL. */
static const char *col_text(sqlite3_stmt *s, int col)
{
    const unsigned char *t = sqlite3_column_text(s, col);
    return t ? (const char *)t : "-";
}

/* Print the runs table of db_info. */
static int info_runs(db *d, FILE *out)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(d->h,
                                "SELECT run_id, status, started_at, finished_at, seed,"
                                " substr(config_sha256, 1, ?1),"
                                " (SELECT count(*) FROM inferences AS i WHERE i.run_id = r.run_id)"
                                " FROM runs AS r ORDER BY run_id",
                                -1, &s, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int(s, 1, DB_HASH_SHOWN);
    if (rc != SQLITE_OK) {
        rc = fail(d, rc, "%s", sqlite3_errmsg(d->h));
        sqlite3_finalize(s);
        return rc;
    }
    fprintf(out, "%*s  %-*s  %-*s  %-*s  %*s  %-*s  %*s\n", INFO_ID_W, "run_id", INFO_STATUS_W,
            "status", INFO_TIME_W, "started_at", INFO_TIME_W, "finished_at", INFO_SEED_W, "seed",
            DB_HASH_SHOWN, "config", INFO_COUNT_W, "inferences");
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        fprintf(out, "%*" PRId64 "  %-*s  %-*s  %-*s  %*" PRId64 "  %-*s  %*" PRId64 "\n",
                INFO_ID_W, (int64_t)sqlite3_column_int64(s, 0), INFO_STATUS_W, col_text(s, 1),
                INFO_TIME_W, col_text(s, 2), INFO_TIME_W, col_text(s, 3), INFO_SEED_W,
                (int64_t)sqlite3_column_int64(s, 4), DB_HASH_SHOWN, col_text(s, 5), INFO_COUNT_W,
                (int64_t)sqlite3_column_int64(s, 6));
    }
    rc = rc == SQLITE_DONE ? 0 : fail(d, rc, "%s", sqlite3_errmsg(d->h));
    sqlite3_finalize(s);
    return rc;
}

/* Print the row count of every table. */
static int info_counts(db *d, FILE *out)
{
    fprintf(out, "%-*s  %*s\n", INFO_TABLE_W, "table", INFO_COUNT_W, "rows");
    for (size_t i = 0; i < DB_NTABLES; i++) {
        char sql[sizeof "SELECT count(*) FROM " + INFO_TABLE_W * 2];
        int64_t n = 0;
        snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", DB_TABLES[i]);
        int rc = query_one(d, sql, &n, NULL, 0);
        if (rc) return rc;
        fprintf(out, "%-*s  %*" PRId64 "\n", INFO_TABLE_W, DB_TABLES[i], INFO_COUNT_W, n);
    }
    return 0;
}

int db_info(const char *path, FILE *out, char *err, size_t errlen)
{
    if (!out) {
        set_err(err, errlen, path, "no output stream");
        return -SQLITE_MISUSE;
    }
    db *d = NULL;
    int rc = db_open(&d, path, DB_READONLY, err, errlen);
    if (rc) return rc;
    int64_t version = 0;
    rc = query_one(d, "PRAGMA user_version", &version, NULL, 0);
    if (!rc) {
        fprintf(out, "%s: pesim result database, schema version %" PRId64 "\n\n", path, version);
        rc = info_runs(d, out);
    }
    if (!rc) {
        fputc('\n', out);
        rc = info_counts(d, out);
    }
    if (!rc && (fflush(out) != 0 || ferror(out)))
        rc = fail(d, SQLITE_IOERR, "cannot write the report: %s", strerror(errno));
    if (rc) give(d, rc, err, errlen);
    db_close(d);
    return rc;
}
