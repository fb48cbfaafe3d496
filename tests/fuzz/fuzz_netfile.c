/* Fuzz target: an architecture text (first line "arch=..." then an optional layer list) through
 * net_build_arch_text, then the table printer and net_arch_text on what it builds. */
#include "net.h"
#include "fuzz_util.h"

#define ERR_LEN 512

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_strdup(data, size);
    if (!text) return 0;
    char err[ERR_LEN];
    net *n = NULL;
    if (net_build_arch_text(&n, text, err, sizeof err) == NET_OK) {
        FILE *null = fopen("/dev/null", "w");
        if (null) {
            net_print_table(n, null, NET_PRINT_PROXY | NET_PRINT_VEC_OPS);
            fclose(null);
        }
        int len = net_arch_text(n, NULL, 0);
        char *again = len >= 0 ? malloc((size_t)len + 1) : NULL;
        if (again) {
            net_arch_text(n, again, (size_t)len + 1);
            net *m = NULL;
            if (net_build_arch_text(&m, again, err, sizeof err) != NET_OK) abort();
            net_free(m);
            free(again);
        }
    }
    net_free(n);
    free(text);
    return 0;
}
