/* Small helpers every module uses: one-line error messages into a caller's buffer, and a
 * monotonic clock for progress lines and throughput figures. */
#ifndef PESIM_UTIL_H
#define PESIM_UTIL_H

#include <stddef.h>

/* printf into err (errlen bytes, always terminated); a no-op when err is NULL or errlen 0. */
void util_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
typedef struct sqlite3 sqlite3;
typedef struct sqlite3_stmt sqlite3_stmt;
/* Run sql on db; on failure "PATH: sqlite message" into err and -1, else 0. */
int util_sql_exec(sqlite3 *db, const char *sql, const char *path, char *err, size_t errlen);
/* Step a prepared insert once, then reset it and clear its bindings; on failure "PATH: sqlite
 * message" into err and -1, else 0. */
int util_sql_insert(sqlite3 *db, sqlite3_stmt *st, const char *path, char *err, size_t errlen);
/* A model or trace file (an SQLite database) cut short: when the file at path has a valid
 * SQLite header whose page count needs more bytes than the file holds, "PATH: truncated: N of
 * M bytes (...)" into err and -1; else 0 (not SQLite, unreadable or whole: the loader decides). */
int util_sqlite_truncated(const char *path, char *err, size_t errlen);
/* Seconds on the monotonic clock (for durations only). */
double util_now_s(void);
/* Sleep ms milliseconds (resumed after signals). */
void util_sleep_ms(unsigned ms);

#endif /* PESIM_UTIL_H */
