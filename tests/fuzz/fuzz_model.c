/* Fuzz target: a model file (SQLite database) through model_load and model_print_info. */
#include "model.h"
#include "fuzz_util.h"

#define ERR_LEN 512

/* Remove the file and any SQLite side files that opening it may have left. */
static void remove_db(const char *path)
{
    static const char *const side[] = {"-journal", "-wal", "-shm"};
    char p[FUZZ_PATH_MAX + 16];
    for (size_t i = 0; i < sizeof side / sizeof *side; i++) {
        snprintf(p, sizeof p, "%s%s", path, side[i]);
        unlink(p);
    }
    unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[FUZZ_PATH_MAX];
    if (fuzz_write_temp(data, size, "/tmp/pesim-fuzz-XXXXXX.model", 6, path)) return 0;
    char err[ERR_LEN];
    model *m = NULL;
    if (model_load(path, &m, err, sizeof err) == MODEL_OK) {
        FILE *null = fopen("/dev/null", "w");
        if (null) {
            model_print_info(m, path, null);
            fclose(null);
        }
    }
    model_free(m);
    remove_db(path);
    return 0;
}
