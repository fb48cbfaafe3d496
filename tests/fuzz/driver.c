/* Corpus replay and mutation driver: runs LLVMFuzzerTestOneInput over every regular file in the
 * directories given as arguments, so builds without libFuzzer (gcc, ASan) replay the seed
 * corpora as a regression test; with --mutants N each input is also run as N mutants (bit
 * flips, interesting bytes, deleted, duplicated and truncated ranges) from a generator seeded
 * by the file's name and the mutant's index, so every run tries the same inputs. A mutant that
 * crashes is written to crash-mutant.bin in the working directory first (with the sanitizers'
 * death callback, or a signal handler). Prints how many inputs ran; exits 0 unless a directory
 * cannot be read. usage: driver [--mutants N] DIR... */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_UNDEFINED__)
#define DRIVER_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(undefined_behavior_sanitizer)
#define DRIVER_SANITIZED 1
#endif
#endif
#ifdef DRIVER_SANITIZED
void __sanitizer_set_death_callback(void (*callback)(void));
#endif

enum { MAX_GROWTH = 256, MAX_EDITS = 4 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input in flight, written out if it crashes. */
static const uint8_t *g_cur;
static size_t g_cur_len;
static int g_mutating;

static void save_current(void)
{
    if (!g_mutating || !g_cur) return;
    int fd = open("crash-mutant.bin", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return;
    size_t off = 0;
    while (off < g_cur_len) {
        ssize_t n = write(fd, g_cur + off, g_cur_len - off);
        if (n <= 0) break;
        off += (size_t)n;
    }
    close(fd);
    static const char msg[] = "driver: the crashing mutant is in crash-mutant.bin\n";
    (void)!write(2, msg, sizeof msg - 1);
}

static void on_signal(int sig)
{
    save_current();
    signal(sig, SIG_DFL);
    raise(sig);
}

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

/* splitmix64 (Steele, Lea, Flood 2014). */
static uint64_t next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t name_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ULL;
    return h;
}

/* Mutant k of in (len bytes) into out (room for len + MAX_GROWTH); its length. */
static size_t mutate(const uint8_t *in, size_t len, uint8_t *out, uint64_t seed)
{
    static const uint8_t interesting[] = {0,   1,   0x7f, 0x80, 0xff, '\n', '=', ',', ';', ':',
                                          '[', ']', '-',  '.',  '9',  '0',  'e', ' ', '#', '"'};
    uint64_t s = seed;
    memcpy(out, in, len);
    size_t n = len;
    int edits = 1 + (int)(next(&s) % MAX_EDITS);
    for (int e = 0; e < edits; e++) {
        uint64_t r = next(&s);
        size_t at = n ? (size_t)(next(&s) % n) : 0;
        switch (r % 6) {
        case 0: /* flip a bit */
            if (n) out[at] ^= (uint8_t)(1u << (next(&s) % 8));
            break;
        case 1: /* an interesting byte */
            if (n) out[at] = interesting[next(&s) % sizeof interesting];
            break;
        case 2: { /* delete a range */
            size_t k = n - at < 16 ? n - at : 1 + (size_t)(next(&s) % 16);
            memmove(out + at, out + at + k, n - at - k);
            n -= k;
            break;
        }
        case 3: { /* duplicate a range in place */
            size_t k = n - at < 16 ? n - at : 1 + (size_t)(next(&s) % 16);
            if (n + k > len + MAX_GROWTH) break;
            memmove(out + at + k, out + at, n - at);
            n += k;
            break;
        }
        case 4: /* truncate */
            n = at;
            break;
        default: /* overwrite with a copy from elsewhere */
            if (n) {
                size_t from = (size_t)(next(&s) % n), k = 1 + (size_t)(next(&s) % 8);
                if (from + k > n) k = n - from;
                if (at + k > n) k = n - at;
                memmove(out + at, out + from, k);
            }
            break;
        }
    }
    return n;
}

/* Run every regular file of dir, and mutants of each; the count run, or -1 when dir cannot be
 * opened. */
static long run_dir(const char *dir, long mutants)
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
        count++;
        uint8_t *m = mutants > 0 ? malloc(len + MAX_GROWTH) : NULL;
        for (long k = 0; m && k < mutants; k++) {
            size_t n =
                mutate(buf, len, m, name_hash(e->d_name) ^ (uint64_t)k * 0x2545f4914f6cdd1dULL);
            g_cur = m;
            g_cur_len = n;
            g_mutating = 1;
            LLVMFuzzerTestOneInput(m, n);
            g_mutating = 0;
            count++;
        }
        free(m);
        free(buf);
    }
    closedir(d);
    return count;
}

int main(int argc, char **argv)
{
    long total = 0, mutants = 0;
    int rc = 0, first = 1;
    if (argc >= 3 && strcmp(argv[1], "--mutants") == 0) {
        mutants = atol(argv[2]);
        first = 3;
    }
#ifdef DRIVER_SANITIZED
    __sanitizer_set_death_callback(save_current);
#endif
    signal(SIGSEGV, on_signal);
    signal(SIGABRT, on_signal);
    signal(SIGFPE, on_signal);
    signal(SIGBUS, on_signal);
    for (int i = first; i < argc; i++) {
        long n = run_dir(argv[i], mutants);
        if (n < 0)
            rc = 1;
        else
            total += n;
    }
    printf("driver: ran %ld inputs (%ld mutants of each file)\n", total, mutants);
    return rc;
}
