/* Fuzz target: a CSV logit trace (3 classes, as the seed corpus) through trace_import_csv. */
#include "trace.h"
#include "fuzz_util.h"

#define ERR_LEN      512
#define FUZZ_CLASSES 3

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[FUZZ_PATH_MAX];
    if (fuzz_write_temp(data, size, "/tmp/pesim-fuzz-XXXXXX.csv", 4, path)) return 0;
    char err[ERR_LEN];
    trace *t = NULL;
    if (trace_import_csv(path, FUZZ_CLASSES, &t, err, sizeof err) == TRACE_OK) {
        FILE *null = fopen("/dev/null", "w");
        if (null) {
            trace_print_info(t, path, null);
            fclose(null);
        }
    }
    trace_free(t);
    unlink(path);
    return 0;
}
