/* Fuzz target: NPY logits and labels (3 classes) through trace_import_npy. The input is the
 * logits file, FUZZ_SPLIT, then the labels file; without FUZZ_SPLIT the labels file is empty. */
#include "trace.h"
#include "fuzz_util.h"

#define ERR_LEN      512
#define FUZZ_CLASSES 3
#define FUZZ_SPLIT   "--LABELS--"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t sep_len = strlen(FUZZ_SPLIT), cut = size, rest = size;
    for (size_t i = 0; i + sep_len <= size; i++)
        if (memcmp(data + i, FUZZ_SPLIT, sep_len) == 0) {
            cut = i;
            rest = i + sep_len;
            break;
        }
    char logits[FUZZ_PATH_MAX], labels[FUZZ_PATH_MAX];
    if (fuzz_write_temp(data, cut, "/tmp/pesim-fuzz-XXXXXX.npy", 4, logits)) return 0;
    if (fuzz_write_temp(data + rest, size - rest, "/tmp/pesim-fuzz-XXXXXX.npy", 4, labels)) {
        unlink(logits);
        return 0;
    }
    char err[ERR_LEN];
    trace *t = NULL;
    (void)trace_import_npy(logits, labels, FUZZ_CLASSES, &t, err, sizeof err);
    trace_free(t);
    unlink(logits);
    unlink(labels);
    return 0;
}
