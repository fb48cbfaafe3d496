/* The one table of every configuration parameter pesim knows (DESIGN section 6 vocabulary).
 * Validation, defaults, `pesim check` and `pesim help config` are all driven by it: adding a
 * parameter is one line here. Default per-action energies follow Horowitz, "Computing's energy
 * problem", ISSCC 2014 (45 nm, 0.9 V); values marked "assumed" have no published source. */
#include "cfg.h"

#define BIG     1e12
#define BIG_INT 2147483647.0

const char *const cfg_sections[] = {"experiment", "network",  "exit",  "accelerator", "dvfs",
                                    "power",      "workload", "sweep", NULL};

/* clang-format off */
const cfg_key cfg_schema[] = {
/* section        key                    type           unit      min   max      default           choices / flags */
{"experiment", "model",              CFG_PATH_IN,   "",       0, 0,       "",  NULL, 0, "trained model file (SQLite) for functional runs"},
{"experiment", "trace",              CFG_PATH_IN,   "",       0, 0,       "",  NULL, 0, "logit trace file (SQLite) for trace-driven runs"},
{"experiment", "data",               CFG_ENUM,      "",       0, 0,       "fashion-mnist", "fashion-mnist|mnist", 0, "dataset the samples come from"},
{"experiment", "data_dir",           CFG_PATH,      "",       0, 0,       "",  NULL, 0, "directory of the dataset's IDX files; empty = its default (/usr/share/datasets/fashion-mnist, .deps/mnist)"},
{"experiment", "split",              CFG_ENUM,      "",       0, 0,       "test", "train|test", 0, "dataset split"},
{"experiment", "first_sample",       CFG_INT,       "",       0, BIG_INT, "0", NULL, 0, "index of the first sample of the split to run"},
{"experiment", "samples",            CFG_INT,       "",       0, BIG_INT, "0", NULL, 0, "number of samples to run; 0 = the rest of the split"},
{"experiment", "seed",               CFG_INT,       "",       0, 4294967295.0, "1", NULL, 0, "seed of every random choice (arrivals, shuffles)"},
{"experiment", "log",                CFG_ENUM,      "",       0, 0,       "all", "all|evals|inferences", 0, "rows a run writes: all (inferences, exit_evals, segments, dvfs_transitions), evals (no segments or transitions), inferences (only inferences)"},
{"experiment", "out",                CFG_PATH,      "",       0, 0,       "",  NULL, CFG_REQUIRED | CFG_WHERE, "result database (SQLite) the run writes (not part of the run's identity)"},

{"network", "arch",                  CFG_STR,       "",       0, 0,       "vgg19", NULL, CFG_ARCH, "vgg19, resnet34, or a layer-list file"},
{"network", "width",                 CFG_REAL,      "",       0, 16,      "1", NULL, CFG_MIN_OPEN, "channel width multiplier"},
{"network", "input",                 CFG_SHAPE,     "",       1, 4096,    "32x32x1", NULL, 0, "input shape HxWxC"},
{"network", "classes",               CFG_INT,       "",       2, 100000,  "10", NULL, 0, "number of classes"},

{"exit", "policy",                   CFG_ENUM,      "",       0, 0,       "predictive", "none|coarse|passive|predictive|predictive_single|oracle", 0, "exit policy (DESIGN section 4)"},
{"exit", "rule",                     CFG_ENUM,      "",       0, 0,       "activation", "activation|softmax|entropy|patience", 0, "exit rule deciding whether an evaluated exit fires"},
{"exit", "beta",                     CFG_REAL,      "",       0, 1000,    "1", NULL, CFG_MIN_OPEN, "confidence parameter of the rule (threshold multiplier, probability or entropy)"},
{"exit", "l0",                       CFG_INT,       "",       0, 4096,    "0", NULL, 0, "first exit evaluated (exit index)"},
{"exit", "rounds",                   CFG_INT,       "",       1, 64,      "8", NULL, 0, "prediction rounds R: the largest jump the predictor forecasts"},
{"exit", "kernel",                   CFG_REAL_LIST, "",       -BIG, BIG,  "1, 1, 1", NULL, 0, "convolution kernel the predictor applies to the logits each round"},
{"exit", "exits",                    CFG_STR_LIST,  "",       0, 0,       "",  NULL, 0, "exits checked by the coarse policy (names or indices); empty = the architecture's default"},
{"exit", "patience",                 CFG_INT,       "",       1, 64,      "2", NULL, 0, "consecutive agreeing exits the patience rule needs"},

{"accelerator", "cores",             CFG_INT,       "",       1, 4096,    "16", NULL, 0, "identical compute cores"},
{"accelerator", "pe_rows",           CFG_INT,       "",       1, 1024,    "16", NULL, 0, "rows of each core's MAC array"},
{"accelerator", "pe_cols",           CFG_INT,       "",       1, 1024,    "16", NULL, 0, "columns of each core's MAC array"},
{"accelerator", "sram_kib",          CFG_INT,       "KiB",    1, 1048576, "128", NULL, 0, "local SRAM per core"},
{"accelerator", "gbuf_kib",          CFG_INT,       "KiB",    0, 16777216, "2048", NULL, 0, "shared global buffer"},
{"accelerator", "dram_bytes_per_ns", CFG_REAL,      "B/ns",   0, 100000,  "25.6", NULL, CFG_MIN_OPEN, "DRAM bandwidth (its own clock; does not scale with the OPP)"},
{"accelerator", "noc_bytes_per_cycle", CFG_REAL,    "B/cycle", 0, 100000, "64", NULL, CFG_MIN_OPEN, "network-on-chip bandwidth per compute cycle"},
{"accelerator", "vector_lanes",      CFG_INT,       "",       1, 4096,    "16", NULL, 0, "lanes of each core's vector unit (pooling, BN, activations)"},
{"accelerator", "cost_table",        CFG_PATH_IN,   "",       0, 0,       "",  NULL, 0, "measured per-layer costs (CSV kind,index,level,time_ns,dynamic_nj,static_nj, as pesim table --csv writes) replacing the simulated table; empty = simulate"},
{"accelerator", "ctrl_mhz",          CFG_REAL,      "MHz",    0, 100000,  "500", NULL, CFG_MIN_OPEN, "control processor clock (runs the predictor and the governor)"},

{"dvfs", "opp_table",                CFG_PATH_IN,   "",       0, 0,       "",  NULL, 0, "operating-point table (INI) of the compute domain; empty = generic ladder"},
{"dvfs", "governor",                 CFG_ENUM,      "",       0, 0,       "max", "max|static|race_to_idle|paper|deadline|oracle", 0, "DVFS governor"},
{"dvfs", "level",                    CFG_INT,       "",       0, 1024,    "0", NULL, 0, "OPP index used by the static governor (0 = slowest)"},
{"dvfs", "transition_ns",            CFG_REAL,      "ns",     0, BIG,     "0", NULL, 0, "extra latency per OPP switch on top of the table's own"},
{"dvfs", "transition_nj",            CFG_REAL,      "nJ",     0, BIG,     "0", NULL, 0, "extra energy per OPP switch on top of the table's own"},

{"power", "v_ref_v",                 CFG_REAL,      "V",      0, 5,       "0.9", NULL, CFG_MIN_OPEN, "reference voltage of the per-action energies"},
{"power", "mac_pj",                  CFG_REAL,      "pJ",     0, BIG,     "1.5", NULL, 0, "energy per MAC at v_ref (16-bit float multiply 1.1 + add 0.4, Horowitz 2014)"},
{"power", "sram_pj_per_byte",        CFG_REAL,      "pJ/B",   0, BIG,     "1.25", NULL, 0, "local SRAM access energy at v_ref (8 KiB SRAM, 10 pJ per 64 bits, Horowitz 2014)"},
{"power", "gbuf_pj_per_byte",        CFG_REAL,      "pJ/B",   0, BIG,     "12.5", NULL, 0, "global buffer access energy at v_ref (1 MiB SRAM, 100 pJ per 64 bits, Horowitz 2014)"},
{"power", "vector_op_pj",            CFG_REAL,      "pJ",     0, BIG,     "0.4", NULL, 0, "vector-unit operation energy at v_ref (16-bit float add, Horowitz 2014)"},
{"power", "noc_pj_per_byte",         CFG_REAL,      "pJ/B",   0, BIG,     "1", NULL, 0, "network-on-chip transfer energy at v_ref (assumed)"},
{"power", "dram_pj_per_byte",        CFG_REAL,      "pJ/B",   0, BIG,     "160", NULL, 0, "DRAM access energy, not voltage-scaled (1.3 nJ per 64 bits, Horowitz 2014)"},
{"power", "ctrl_op_pj",              CFG_REAL,      "pJ",     0, BIG,     "1", NULL, 0, "control-processor operation energy at v_ref (assumed)"},
{"power", "static_mw",               CFG_REAL,      "mW",     0, BIG,     "200", NULL, 0, "static power of the compute domain at v_ref (assumed)"},
{"power", "static_v_exponent",       CFG_REAL,      "",       0, 10,      "3", NULL, 0, "static power scales with (V/v_ref)^exponent (assumed)"},
{"power", "measured_table",         CFG_PATH_IN,   "",       0, 0,       "",  NULL, 0, "measured power per OPP (CSV freq_mhz,vdd_v,power_mw): static power and its voltage exponent come from a GSL fit of C_eff and leakage; empty = the keys above"},
{"power", "gated_mw",                CFG_REAL,      "mW",     0, BIG,     "5", NULL, 0, "power of the compute domain when power-gated (assumed)"},

{"workload", "arrival",              CFG_ENUM,      "",       0, 0,       "back_to_back", "back_to_back|periodic|poisson|trace", 0, "request arrival process"},
{"workload", "period_us",            CFG_REAL,      "us",     0, BIG,     "1000", NULL, CFG_MIN_OPEN, "inter-arrival time of the periodic process"},
{"workload", "rate_per_s",           CFG_REAL,      "1/s",    0, BIG,     "1000", NULL, CFG_MIN_OPEN, "mean arrival rate of the Poisson process"},
{"workload", "arrival_trace",        CFG_PATH_IN,   "",       0, 0,       "",  NULL, 0, "arrival-time trace for arrival = trace"},
{"workload", "deadline_us",          CFG_REAL,      "us",     0, BIG,     "0", NULL, 0, "per-inference deadline; 0 = the classic network's latency at f_max"},

{"sweep", "mode",                    CFG_ENUM,      "",       0, 0,       "cross", "cross|zip", 0, "cross = every combination of the listed values, zip = the lists side by side"},
};
/* clang-format on */

const size_t cfg_schema_len = sizeof cfg_schema / sizeof cfg_schema[0];
