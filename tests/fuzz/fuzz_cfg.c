/* Fuzz target: an INI experiment config through cfg_load_file, cfg_finish and the effective and
 * annotated printers. Any input must give errors, never a crash, hang or leak. */
#include "cfg.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[FUZZ_PATH_MAX];
    if (fuzz_write_temp(data, size, "/tmp/pesim-fuzz-XXXXXX.ini", 4, path)) return 0;
    cfg *c = cfg_new();
    if (c) {
        if (cfg_load_file(c, path) == 0 && cfg_finish(c) == 0) {
            free(cfg_effective_text(c));
            FILE *null = fopen("/dev/null", "w");
            if (null) {
                cfg_print_annotated(c, null);
                fclose(null);
            }
        }
        for (size_t i = 0; i < cfg_error_count(c); i++) (void)cfg_error(c, i);
        cfg_free(c);
    }
    unlink(path);
    return 0;
}
