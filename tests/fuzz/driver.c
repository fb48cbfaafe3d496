/* Corpus replay driver: runs LLVMFuzzerTestOneInput over every regular file in the directories
 * given as arguments, so builds without libFuzzer (gcc, ASan) replay the seed corpora as a
 * regression test. Prints how many inputs ran; exits 0 unless a directory cannot be read. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Read a whole file into a malloc'ed buffer; 0 ok, -1 on error. */
static int read_all(const char *path, uint8_t **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? 2 * cap : 4096;
            uint8_t *g = realloc(buf, cap);
            if (!g) {
                free(buf);
                fclose(f);
                return -1;
            }
            buf = g;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return -1;
    }
    *out = buf;
    *len = n;
    return 0;
}

/* Run every regular file of dir; the count run, or -1 when dir cannot be opened. */
static long run_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "driver: cannot open directory '%s'\n", dir);
        return -1;
    }
    long count = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) || !S_ISREG(st.st_mode)) continue;
        uint8_t *buf;
        size_t len;
        if (read_all(path, &buf, &len)) {
            fprintf(stderr, "driver: cannot read '%s'\n", path);
            continue;
        }
        LLVMFuzzerTestOneInput(buf, len);
        free(buf);
        count++;
    }
    closedir(d);
    return count;
}

int main(int argc, char **argv)
{
    long total = 0;
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        long n = run_dir(argv[i]);
        if (n < 0)
            rc = 1;
        else
            total += n;
    }
    printf("driver: ran %ld inputs\n", total);
    return rc;
}
