/* Small helpers every module uses: one-line error messages into a caller's buffer, and a
 * monotonic clock for progress lines and throughput figures. */
#ifndef PESIM_UTIL_H
#define PESIM_UTIL_H

#include <stddef.h>

/* printf into err (errlen bytes, always terminated); a no-op when err is NULL or errlen 0. */
void util_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Seconds on the monotonic clock (for durations only). */
double util_now_s(void);

#endif /* PESIM_UTIL_H */
