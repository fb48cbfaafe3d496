/* Fuzz target: a config with a [sweep] section through cfg_load_file, sweep_expand,
 * sweep_describe and sweep_point_cfg of the first and last points. */
#include "cfg.h"
#include "sweep.h"
#include "fuzz_util.h"

#define ERR_LEN      512
#define DESCRIBE_MAX 64 /* points described per input, to keep each run short */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[FUZZ_PATH_MAX];
    if (fuzz_write_temp(data, size, "/tmp/pesim-fuzz-XXXXXX.ini", 4, path)) return 0;
    cfg *c = cfg_new();
    sweep *s = NULL;
    char err[ERR_LEN];
    if (c && cfg_load_file(c, path) == 0 && sweep_expand(c, &s, err, sizeof err) == 0) {
        size_t points = sweep_points(s);
        char line[ERR_LEN];
        for (size_t p = 0; p < points && p < DESCRIBE_MAX; p++)
            sweep_describe(s, p, line, sizeof line);
        for (size_t j = 0; j < sweep_params(s); j++) {
            (void)sweep_param(s, j);
            (void)sweep_value(s, points - 1, j);
        }
        char *files[] = {path};
        sweep_base base = {.nfiles = 1, .files = files};
        cfg_free(sweep_point_cfg(&base, s, 0, err, sizeof err));
        cfg_free(sweep_point_cfg(&base, s, points - 1, err, sizeof err));
    }
    sweep_free(s);
    cfg_free(c);
    unlink(path);
    return 0;
}
