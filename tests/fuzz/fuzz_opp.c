/* Fuzz target: an OPP table INI file through opp_load and the lookups on what it loads. */
#include "opp.h"
#include "fuzz_util.h"

#define ERR_LEN 512

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[FUZZ_PATH_MAX];
    if (fuzz_write_temp(data, size, "/tmp/pesim-fuzz-XXXXXX.ini", 4, path)) return 0;
    char err[ERR_LEN];
    static opp_table t; /* large: kept off the stack */
    if (opp_load(path, &t, err, sizeof err) == OPP_OK) {
        (void)opp_nearest(&t, 500.0);
        (void)opp_at_least(&t, 500.0);
        FILE *null = fopen("/dev/null", "w");
        if (null) {
            opp_print(&t, null);
            fclose(null);
        }
    }
    unlink(path);
    return 0;
}
