/* Fuzz target: an IDX file, gzip or plain, read both as images and as labels (10 classes). */
#include "data.h"
#include "fuzz_util.h"

#define ERR_LEN      512
#define FUZZ_CLASSES 10

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[FUZZ_PATH_MAX];
    if (fuzz_write_temp(data, size, "/tmp/pesim-fuzz-XXXXXX.idx", 4, path)) return 0;
    char err[ERR_LEN];
    uint8_t *pixels = NULL, *labels = NULL;
    size_t n = 0;
    int rows = 0, cols = 0;
    if (data_read_idx_images(path, &pixels, &n, &rows, &cols, err, sizeof err) == 0) free(pixels);
    if (data_read_idx_labels(path, FUZZ_CLASSES, &labels, &n, err, sizeof err) == 0) free(labels);
    unlink(path);
    return 0;
}
