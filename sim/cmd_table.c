/* pesim table: the per-layer cost table (sim/acc.h) of a config's network on its accelerator,
 * OPP table and power model, printed as a table or as the CSV a measured table is imported
 * from. */
#include "cmds.h"
#include "run.h"

#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "acc.h"

const char table_usage[] =
    "usage: pesim table [-s SECTION.KEY=VALUE]... [--csv] CONFIG\n"
    "\n"
    "Simulate every backbone op and exit head of the config's [network] on its [accelerator]\n"
    "at every level of [dvfs] opp_table (the generic ladder when empty), priced by [power],\n"
    "and print the per-layer cost table that runs and governors use: cycles, ns, dynamic and\n"
    "static nJ per op or exit head and level.\n"
    "\n"
    "  -s, --set SECTION.KEY=VALUE  override one parameter (repeatable)\n"
    "  --csv                        print CSV kind,index,level,time_ns,dynamic_nj,static_nj\n"
    "                               (the format of an imported, measured table)\n"
    "  -h, --help                   this help\n"
    "\n"
    "Exit status: 0 ok, 1 bad input, 2 usage error, 3 internal error.\n";

/* Build the config's network, accelerator, OPP table and power model, then the table, and
 * print it. An exit status. */
static int print_table(const cfg *c, const char *path, bool csv)
{
    char err[ERR_LEN];
    long long dims[3];
    cfg_shape(c, "network", "input", dims);
    net *n = NULL;
    if (net_build(&n, cfg_get(c, "network", "arch"), cfg_real(c, "network", "width"), (int)dims[0],
                  (int)dims[1], (int)dims[2], (int)cfg_int(c, "network", "classes"), err,
                  sizeof err)) {
        fprintf(stderr, "%s: [network] %s\n", path, err);
        return EXIT_INPUT;
    }
    acc_config a;
    pwr_params p;
    static opp_table o; /* 4 KiB: off the stack */
    acc_table *t = NULL;
    int rc = run_cost_table(c, n, &o, &p, &a, &t, stderr, err, sizeof err);
    if (rc) {
        fprintf(stderr, "%s: %s\n", path, err);
        rc = rc == RUN_EINTERNAL ? EXIT_INTERNAL : EXIT_INPUT;
        goto done;
    }
    if (!csv) {
        char arch[ERR_LEN];
        net_arch_text(n, arch, sizeof arch);
        const char *eol = strchr(arch, '\n');
        printf("# %s: %.*s on %d cores of %dx%d PEs, OPP table %s\n", path,
               eol ? (int)(eol - arch) : (int)strlen(arch), arch, a.cores, a.pe_rows, a.pe_cols,
               o.name);
    }
    rc = acc_table_print(t, stdout, csv) ? EXIT_INTERNAL : EXIT_OK;
    if (rc) fprintf(stderr, "pesim table: cannot write the table\n");
done:
    acc_table_free(t);
    net_free(n);
    return rc;
}

int cmd_table(int argc, char **argv)
{
    enum { OPT_CSV = 256 };
    static const struct option opts[] = {{"set", required_argument, NULL, 's'},
                                         {"csv", no_argument, NULL, OPT_CSV},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *overrides[MAX_OVERRIDES];
    int nover = 0, ch;
    bool csv = false;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "s:h", opts, NULL)) != -1) {
        if (ch == 's' && nover < MAX_OVERRIDES)
            overrides[nover++] = optarg;
        else if (ch == 's')
            return fprintf(stderr, "pesim table: more than %d -s options\n", MAX_OVERRIDES),
                   EXIT_USAGE;
        else if (ch == OPT_CSV)
            csv = true;
        else if (ch == 'h')
            return fputs(table_usage, stdout), EXIT_OK;
        else
            return fputs(table_usage, stderr), EXIT_USAGE;
    }
    if (optind + 1 != argc) {
        fprintf(stderr, "pesim table: %s\n%s",
                optind >= argc ? "no config file given" : "give exactly one config file",
                table_usage);
        return EXIT_USAGE;
    }
    const char *path = argv[optind];
    cfg *c = cfg_new();
    if (!c) return EXIT_INTERNAL;
    cfg_load_file(c, path);
    for (int i = 0; i < nover; i++) cfg_override(c, overrides[i]);
    if (print_cfg_errors(c)) {
        cfg_free(c);
        return EXIT_INPUT;
    }
    int rc = print_table(c, path, csv);
    cfg_free(c);
    return rc;
}
