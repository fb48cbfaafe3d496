/* Helpers shared by the fuzz targets: write the fuzzer's bytes to a private temp file under /tmp
 * for loaders that take a path. Header-only so each target builds from one .c plus the driver. */
#ifndef PESIM_FUZZ_UTIL_H
#define PESIM_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FUZZ_PATH_MAX 64 /* "/tmp/pesim-fuzz-XXXXXX" plus a suffix */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Write size bytes to a new file named from tmpl ("/tmp/pesim-fuzz-XXXXXX" or with a suffix of
 * suffix_len characters); path receives the name. 0 ok, -1 when the file cannot be written. */
static inline int fuzz_write_temp(const uint8_t *data, size_t size, const char *tmpl,
                                  int suffix_len, char path[FUZZ_PATH_MAX])
{
    snprintf(path, FUZZ_PATH_MAX, "%s", tmpl);
    int fd = suffix_len ? mkstemps(path, suffix_len) : mkstemp(path);
    if (fd < 0) return -1;
    size_t done = 0;
    while (done < size) {
        ssize_t w = write(fd, data + done, size - done);
        if (w <= 0) {
            close(fd);
            unlink(path);
            return -1;
        }
        done += (size_t)w;
    }
    close(fd);
    return 0;
}

/* NUL-terminated copy of the input; NULL on out-of-memory. */
static inline char *fuzz_strdup(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s) return NULL;
    if (size) memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

#endif /* PESIM_FUZZ_UTIL_H */
