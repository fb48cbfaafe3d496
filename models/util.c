/* Small helpers every module uses (util.h). */
#include "util.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

void util_errf(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

double util_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Big-endian integers of the SQLite file header. */
static unsigned long be(const unsigned char *p, int n)
{
    unsigned long v = 0;
    for (int i = 0; i < n; i++) v = v << 8 | p[i];
    return v;
}

int util_sqlite_truncated(const char *path, char *err, size_t errlen)
{
    enum { HEADER = 100, PAGE_SIZE_AT = 16, CHANGES_AT = 24, PAGES_AT = 28, VALID_FOR_AT = 92 };
    unsigned char h[HEADER];
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t n = fread(h, 1, sizeof h, f);
    long long size = -1;
    if (n == sizeof h && fseek(f, 0, SEEK_END) == 0) size = ftell(f);
    fclose(f);
    if (n < sizeof h || size < 0 || memcmp(h, "SQLite format 3", 16) != 0) return 0;
    unsigned long page = be(h + PAGE_SIZE_AT, 2), pages = be(h + PAGES_AT, 4);
    if (page == 1) page = 65536;
    /* the page count is trusted only when written by a version that keeps it (SQLite 3.7+) */
    if (be(h + VALID_FOR_AT, 4) != be(h + CHANGES_AT, 4) || pages == 0 || page < 512) return 0;
    long long want = (long long)page * (long long)pages;
    if (size >= want) return 0;
    util_errf(err, errlen,
              "%s: truncated: %lld of %lld bytes (the file was cut short; copy it again)", path,
              size, want);
    return -1;
}

void util_sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

int util_sql_exec(sqlite3 *db, const char *sql, const char *path, char *err, size_t errlen)
{
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK) return 0;
    util_errf(err, errlen, "%s: %s", path, sqlite3_errmsg(db));
    return -1;
}

int util_sql_insert(sqlite3 *db, sqlite3_stmt *st, const char *path, char *err, size_t errlen)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc == SQLITE_DONE) return 0;
    util_errf(err, errlen, "%s: %s", path, sqlite3_errmsg(db));
    return -1;
}
