/* cmocka tests of the accelerator model (sim/acc.c): hand-computed single conv, FC, vector op
 * and exit head on a one-core 4×4 array, the double-buffered tile pipeline, frequency and
 * bandwidth scaling, core scaling, energy parts, the cost table (lookups equal acc_simulate bit
 * for bit, CSV round trip, every import error), the control processor and the config checks. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "acc.h"

enum {
    ERR_LEN = 512,
    OP_CONV = 0, /* ops of the small test network */
    OP_BN = 1,
    OP_RELU = 2,
    OP_FC = 3,
    EXIT_RELU = 0,
    JETSON_LEVELS = 13,
    VGG_SIDE = 32,
    VGG_CHANNELS = 3,
    VGG_CLASSES = 10,
    VGG_CONV2 = 3, /* conv2: 32×32, 64 → 64 channels (after conv1, its BN and ReLU) */
    MAX_CORES_TRIED = 64,
};

static const double FREQ_MHZ = 1000.0; /* 1 ns per cycle */
static const double VDD_V = 0.9;

/* 6×6×2 input → conv 3×3 pad 1 to 3 channels → BN → ReLU (exit) → FC to 4 classes. */
static const char SMALL_NET[] = "arch=layers width=1 input=6x6x2 classes=4\n"
                                "[conv1]\nkind = conv\nout = 3\nkernel = 3\npad = 1\n"
                                "[conv1.bn]\nkind = bn\n"
                                "[conv1.relu]\nkind = relu\nexit = yes\n"
                                "[classifier]\nkind = fc\nout = classes\n";

/* One core, 4×4 PEs, 1 MiB SRAM, a big global buffer, DRAM 1 B/ns, NoC 4 B/cycle, 4 lanes. */
static acc_config small_acc(void)
{
    return (acc_config){.cores = 1,
                        .pe_rows = 4,
                        .pe_cols = 4,
                        .sram_kib = 1024,
                        .gbuf_kib = 1024,
                        .dram_bytes_per_ns = 1.0,
                        .noc_bytes_per_cycle = 4.0,
                        .vector_lanes = 4,
                        .ctrl_mhz = 100.0};
}

static acc_config default_acc(void)
{
    return (acc_config){.cores = 16,
                        .pe_rows = 16,
                        .pe_cols = 16,
                        .sram_kib = 128,
                        .gbuf_kib = 2048,
                        .dram_bytes_per_ns = 25.6,
                        .noc_bytes_per_cycle = 64,
                        .vector_lanes = 16,
                        .ctrl_mhz = 500};
}

static pwr_params power(void)
{
    return (pwr_params){.v_ref_v = 0.9,
                        .mac_pj = 1.5,
                        .sram_pj_per_byte = 1.25,
                        .gbuf_pj_per_byte = 12.5,
                        .vector_op_pj = 0.4,
                        .noc_pj_per_byte = 1,
                        .dram_pj_per_byte = 160,
                        .ctrl_op_pj = 1,
                        .static_mw = 200,
                        .static_v_exponent = 3,
                        .gated_mw = 5};
}

/* A Jetson-TX2-like 13-level ladder (voltages made up, ascending). */
static opp_table jetson(void)
{
    static const double mhz[JETSON_LEVELS] = {114.75,  216.75,  318.75, 420.75, 522.75,
                                              624.75,  726.75,  828.75, 930.75, 1032.75,
                                              1134.75, 1236.75, 1300.5};
    opp_table o;
    memset(&o, 0, sizeof o);
    snprintf(o.name, sizeof o.name, "test-ladder");
    o.n = JETSON_LEVELS;
    for (int i = 0; i < JETSON_LEVELS; i++) o.levels[i] = (opp_level){mhz[i], 0.7 + 0.025 * i};
    return o;
}

static net *small_net(void)
{
    net *n = NULL;
    char err[ERR_LEN];
    if (net_build_arch_text(&n, SMALL_NET, err, sizeof err)) fail_msg("small net: %s", err);
    return n;
}

static net *vgg19(void)
{
    net *n = NULL;
    char err[ERR_LEN];
    if (net_build(&n, "vgg19", 1, VGG_SIDE, VGG_SIDE, VGG_CHANNELS, VGG_CLASSES, err, sizeof err))
        fail_msg("vgg19: %s", err);
    return n;
}

static acc_cost sim(const acc_config *a, const net *n, int op, int exit, double mhz,
                    uint64_t *events)
{
    opp_level lv = {mhz, VDD_V};
    pwr_params p = power();
    acc_cost c;
    assert_int_equal(acc_simulate(a, n, op, exit, &lv, &p, &c, events), ACC_OK);
    return c;
}

/* |got − want| <= tol. */
static void assert_near(double got, double want, double tol)
{
    if (!(fabs(got - want) <= tol))
        fail_msg("got %.17g, want %.17g (tolerance %g)", got, want, tol);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- hand-computed single ops ---- */

/* conv1: GEMM M = 6·6 = 36, N = 3, K = 2·3·3 = 18. With 1 MiB SRAM every tiling fits; the
 * single 36×3 tile is cheapest (its DMA reads the 6·6·2 input once; 4×3 tiles would read
 * 36 elements each, 756 ns of DRAM). DMA-in from DRAM (network input): A footprint 72·2 =
 * 144 B + B 18·3·2 = 108 B = 252 ns at 1 B/ns. Compute: ceil(36/4)·ceil(3/4) = 9 folds ×
 * (18 + 4 + 4 − 2) = 216 cycles = 216 ns. DMA-out to the global buffer: 36·3·2 = 216 B at
 * 4 B/ns = 54 ns. Total 522 ns.
 * SRAM: the im2col A 36·18·2 = 1296 B and B 108 B written, A read once (1 column fold), B 9
 * times (9 row folds), C written once and read once: 1296 + 108 + 1296 + 972 + 216 + 216. */
static void test_conv_hand(void **state)
{
    (void)state;
    net *n = small_net();
    acc_config a = small_acc();
    uint64_t events = 0;
    acc_cost c = sim(&a, n, OP_CONV, -1, FREQ_MHZ, &events);
    assert_true(c.time_ns == 522.0);
    assert_int_equal(c.cycles, 522);
    assert_true(c.compute_ns == 216.0);
    assert_true(c.dram_ns == 252.0);
    assert_int_equal(c.counts.macs, net_op_at(n, OP_CONV)->macs);
    assert_int_equal(c.counts.macs, 36 * 3 * 18);
    assert_int_equal(c.counts.dram_bytes, 252);
    assert_int_equal(c.counts.noc_bytes, 216);
    assert_int_equal(c.counts.gbuf_bytes, 216);
    assert_int_equal(c.counts.sram_bytes, 4104);
    assert_int_equal(c.counts.vector_ops, 0);
    assert_int_equal(events, 4); /* DMA-in, compute, DMA-out, layer done */
    net_free(n);
}

/* classifier: M = 1, N = 4, K = 108, one tile. DMA-in: A 216 B over the NoC (54 ns) and B
 * 108·4·2 = 864 B from DRAM (864 ns) at once: 864 ns. Compute: 1 fold × (108 + 6) = 114 ns.
 * DMA-out 8 B over the NoC: 2 ns. Total 980 ns. */
static void test_fc_hand(void **state)
{
    (void)state;
    net *n = small_net();
    acc_config a = small_acc();
    acc_cost c = sim(&a, n, OP_FC, -1, FREQ_MHZ, NULL);
    assert_true(c.time_ns == 980.0);
    assert_int_equal(c.cycles, 980);
    assert_true(c.compute_ns == 114.0);
    assert_true(c.dram_ns == 864.0);
    assert_int_equal(c.counts.macs, net_op_at(n, OP_FC)->macs);
    assert_int_equal(c.counts.dram_bytes, 864);
    assert_int_equal(c.counts.noc_bytes, 216 + 8);
    net_free(n);
}

/* ReLU on 6·6·3 = 108 elements: in 216 B over the NoC (54 ns), ceil(108/4) = 27 cycles,
 * out 216 B (54 ns): 135 ns. BN also loads its 4·3 parameters (24 B) from DRAM in parallel
 * (24 ns < 54 ns): 135 ns too. With 4 cores the busiest computes ceil(108/16) = 7 cycles. */
static void test_vector_hand(void **state)
{
    (void)state;
    net *n = small_net();
    acc_config a = small_acc();
    acc_cost relu = sim(&a, n, OP_RELU, -1, FREQ_MHZ, NULL);
    assert_true(relu.time_ns == 135.0);
    assert_true(relu.compute_ns == 27.0);
    assert_int_equal(relu.counts.vector_ops, 108);
    assert_int_equal(relu.counts.macs, 0);
    assert_int_equal(relu.counts.sram_bytes, 2 * (216 + 216));
    acc_cost bn = sim(&a, n, OP_BN, -1, FREQ_MHZ, NULL);
    assert_true(bn.time_ns == 135.0);
    assert_int_equal(bn.counts.dram_bytes, 24);
    a.cores = 4;
    acc_cost four = sim(&a, n, OP_RELU, -1, FREQ_MHZ, NULL);
    assert_true(four.compute_ns == 7.0);
    assert_int_equal(four.counts.vector_ops, 108);
    net_free(n);
}

/* Exit head on the 6×6×3 map (s = 3, 256 features, FC 0 runs):
 * codebook M = 36, N = 64, K = 3: one 36×64 tile; A 216 B NoC (54 ns) ∥ B 384 B DRAM
 * (384 ns); 9·16 = 144 folds × (3 + 6) = 1296 ns; C 4608 B NoC 1152 ns: 2832 ns.
 * BoF: 3·36·64 + 256 = 7168 ops: in 4608 B (1152 ns), 1792 cycles, out 512 B (128 ns): 3072.
 * FC 0 M = 1, N = 64, K = 256: A 512 B NoC ∥ B 32768 B DRAM (32768 ns); 16 folds × 262 =
 * 4192 ns; out 128 B 32 ns: 36992. FC 1 M = 1, N = 4, K = 64: B 512 B (512 ns), 70 ns, 2 ns:
 * 584. Total 2832 + 3072 + 36992 + 584 = 43480 ns. */
static void test_head_hand(void **state)
{
    (void)state;
    net *n = small_net();
    acc_config a = small_acc();
    uint64_t events = 0;
    acc_cost c = sim(&a, n, -1, EXIT_RELU, FREQ_MHZ, &events);
    const net_exit *e = net_exit_at(n, EXIT_RELU);
    assert_true(e->uses_fc0);
    assert_true(c.time_ns == 43480.0);
    assert_true(c.compute_ns == 1296.0 + 1792.0 + 4192.0 + 70.0);
    assert_true(c.dram_ns == 384.0 + 32768.0 + 512.0);
    assert_int_equal(c.counts.macs, e->macs);
    assert_int_equal(c.counts.vector_ops, e->vec_ops);
    assert_int_equal(events, 4 * 4);
    /* The op argument is ignored for a head. */
    acc_cost same = sim(&a, n, OP_FC, EXIT_RELU, FREQ_MHZ, NULL);
    assert_memory_equal(&c, &same, sizeof c);
    net_free(n);
}

/* 1 KiB SRAM: half = 256 elements. Cheapest now (DRAM-bound): one 36×3 tile with K split into
 * 6 steps of kt = 3 (108 + 39·3 <= 256): each step reads one input channel plane (72 B) and a
 * 3×3 B chunk (18 B) from DRAM, 90 ns, and computes 9 folds × (3 + 6) = 81 cycles; partial
 * sums stay in SRAM; one 216 B store (54 ns) after the last. (Nine 4×3 tiles with whole K
 * would move 756 B.) Double-buffered, the loads run back to back: the last ends at 540, its
 * compute at 621, the store at 675 ns. */
static void test_pipeline_hand(void **state)
{
    (void)state;
    net *n = small_net();
    acc_config a = small_acc();
    a.sram_kib = 1;
    uint64_t events = 0;
    acc_cost c = sim(&a, n, OP_CONV, -1, FREQ_MHZ, &events);
    assert_true(c.time_ns == 675.0);
    assert_true(c.compute_ns == 6 * 81.0);
    assert_true(c.dram_ns == 540.0);
    assert_int_equal(c.counts.dram_bytes, 540);
    assert_int_equal(c.counts.noc_bytes, 216);
    assert_int_equal(c.counts.macs, net_op_at(n, OP_CONV)->macs);
    assert_int_equal(events, 6 * 2 + 1 + 1);
    net_free(n);
}

/* Compute-bound (DRAM 1000 B/ns, NoC 1000 B/cycle, 1 KiB SRAM): the fewest compute cycles win,
 * nine 4×3 tiles of 24 cycles at either clock. The first load (A 72 B + B 108 B: 180 ps; the
 * later tiles keep B), nine computes, the last 24 B store (24 ps at 1 GHz, 48 at 500 MHz).
 * Halving the frequency doubles the compute time exactly and leaves the DRAM time. */
static void test_frequency_compute_bound(void **state)
{
    (void)state;
    net *n = small_net();
    acc_config a = small_acc();
    a.sram_kib = 1;
    a.dram_bytes_per_ns = 1000;
    a.noc_bytes_per_cycle = 1000;
    acc_cost fast = sim(&a, n, OP_CONV, -1, FREQ_MHZ, NULL);
    acc_cost slow = sim(&a, n, OP_CONV, -1, FREQ_MHZ / 2, NULL);
    assert_true(fast.time_ns == (180 + 216000 + 24) / 1e3);
    assert_true(slow.time_ns == (180 + 432000 + 48) / 1e3);
    assert_int_equal(fast.counts.dram_bytes, slow.counts.dram_bytes);
    /* Footprints of the 4-pixel tiles on the 6-wide map: 3 input rows × 6 columns × 2 channels
     * (72 B) within one output row, 4 rows (96 B) across two (tiles 1, 4, 7); B once (108 B). */
    assert_int_equal(fast.counts.dram_bytes, 6 * 72 + 3 * 96 + 108);
    assert_true(slow.compute_ns == 2 * fast.compute_ns);
    assert_true(slow.dram_ns == fast.dram_ns);
    net_free(n);
}

/* A memory-bound layer (VGG-19 conv2 with a 0.05 B/ns DRAM) gains little from 10× the clock. */
static void test_frequency_memory_bound(void **state)
{
    (void)state;
    net *n = vgg19();
    acc_config a = default_acc();
    a.dram_bytes_per_ns = 0.05;
    acc_cost slow = sim(&a, n, VGG_CONV2, -1, 100.0, NULL);
    acc_cost fast = sim(&a, n, VGG_CONV2, -1, 1000.0, NULL);
    assert_true(fast.time_ns <= slow.time_ns);
    assert_true(fast.time_ns > 0.97 * slow.time_ns);
    assert_true(slow.dram_ns == fast.dram_ns);
    assert_true(fast.dram_ns > 0.97 * fast.time_ns);
    net_free(n);
}

/* More cores never make a big conv slower (VGG-19 conv2 and the 16 convs at once). */
static void test_more_cores(void **state)
{
    (void)state;
    net *n = vgg19();
    acc_config a = default_acc();
    double prev = INFINITY;
    for (int cores = 1; cores <= MAX_CORES_TRIED; cores *= 2) {
        a.cores = cores;
        acc_cost c = sim(&a, n, VGG_CONV2, -1, FREQ_MHZ, NULL);
        assert_true(c.time_ns <= prev);
        assert_int_equal(c.counts.macs, net_op_at(n, VGG_CONV2)->macs);
        prev = c.time_ns;
    }
    for (int i = 0; i < net_op_count(n); i++) {
        if (net_op_at(n, i)->kind != NET_OP_CONV) continue;
        a.cores = 1;
        double one = sim(&a, n, i, -1, FREQ_MHZ, NULL).time_ns;
        a.cores = 16;
        double many = sim(&a, n, i, -1, FREQ_MHZ, NULL).time_ns;
        assert_true(many <= one);
    }
    net_free(n);
}

/* Energy parts sum to the total and follow pwr_energy_of's formulas by hand. */
static void test_energy_parts(void **state)
{
    (void)state;
    net *n = small_net();
    acc_config a = small_acc();
    pwr_params p = power();
    double vdd = 1.0, scale = (vdd / p.v_ref_v) * (vdd / p.v_ref_v);
    opp_level lv = {FREQ_MHZ, vdd};
    acc_cost c;
    assert_int_equal(acc_simulate(&a, n, OP_CONV, -1, &lv, &p, &c, NULL), ACC_OK);
    const pwr_counts *k = &c.counts;
    double compute = scale * (double)k->macs * p.mac_pj * 1e-3;
    double memory = scale *
                        ((double)k->sram_bytes * p.sram_pj_per_byte +
                         (double)k->gbuf_bytes * p.gbuf_pj_per_byte +
                         (double)k->noc_bytes * p.noc_pj_per_byte) *
                        1e-3 +
                    (double)k->dram_bytes * p.dram_pj_per_byte * 1e-3;
    double stat = p.static_mw * pow(vdd / p.v_ref_v, p.static_v_exponent) * c.time_ns * 1e-3;
    assert_near(c.energy.compute_nj, compute, 1e-9 * compute);
    assert_near(c.energy.memory_nj, memory, 1e-9 * memory);
    assert_near(c.energy.static_nj, stat, 1e-9 * stat);
    double sum = c.energy.compute_nj + c.energy.memory_nj + c.energy.static_nj;
    assert_near(c.energy.total_nj, sum, 1e-12 * sum);
    net_free(n);
}

/* ---- the table ---- */

static acc_table *build_table(const acc_config *a, const net *n, const opp_table *o)
{
    pwr_params p = power();
    acc_table *t = NULL;
    char err[ERR_LEN];
    if (acc_table_build(a, n, o, &p, &t, err, sizeof err)) fail_msg("build: %s", err);
    return t;
}

/* Every lookup equals a fresh acc_simulate bit for bit; out-of-range lookups are NULL. */
static void test_table_lookups(void **state)
{
    (void)state;
    net *n = vgg19();
    acc_config a = default_acc();
    opp_table o = jetson();
    acc_table *t = build_table(&a, n, &o);
    pwr_params p = power();
    assert_int_equal(acc_levels(t), JETSON_LEVELS);
    uint64_t sum_events = 0;
    for (int i = 0; i < net_op_count(n) + net_exit_count(n); i++) {
        bool head = i >= net_op_count(n);
        int idx = head ? i - net_op_count(n) : i;
        for (int l = 0; l < o.n; l++) {
            acc_cost c;
            uint64_t ev = 0;
            assert_int_equal(
                acc_simulate(&a, n, head ? -1 : idx, head ? idx : -1, &o.levels[l], &p, &c, &ev),
                ACC_OK);
            sum_events += ev;
            const acc_cost *got = head ? acc_head(t, idx, l) : acc_op(t, idx, l);
            assert_non_null(got);
            assert_memory_equal(got, &c, sizeof c);
        }
    }
    assert_int_equal(acc_build_events(t), sum_events);
    assert_null(acc_op(t, net_op_count(n), 0));
    assert_null(acc_op(t, -1, 0));
    assert_null(acc_op(t, 0, JETSON_LEVELS));
    assert_null(acc_head(t, net_exit_count(n), 0)); /* "final" has no head */
    assert_null(acc_head(t, 0, -1));
    acc_table_free(t);
    net_free(n);
}

/* The whole VGG-19 (CIFAR) table at 13 levels, timed. */
static void test_table_vgg19_speed(void **state)
{
    (void)state;
    net *n = vgg19();
    acc_config a = default_acc();
    opp_table o = jetson();
    double t0 = now_s();
    acc_table *t = build_table(&a, n, &o);
    double ms = 1e3 * (now_s() - t0);
    print_message("vgg19 w1 cost table: %d ops + %d heads x %d levels in %.1f ms, %llu events\n",
                  net_op_count(n), net_exit_count(n), o.n, ms,
                  (unsigned long long)acc_build_events(t));
    /* The fastest level is never slower than the slowest for any op. */
    for (int i = 0; i < net_op_count(n); i++)
        assert_true(acc_op(t, i, o.n - 1)->time_ns <= acc_op(t, i, 0)->time_ns);
    acc_table_free(t);
    net_free(n);
}

static char *print_to_string(const acc_table *t, bool csv)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(acc_table_print(t, f, csv), ACC_OK);
    fclose(f);
    return buf;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static char *temp_path(void)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/test_acc_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    return path;
}

/* Export as CSV, import, export again: the same text and the same numbers. */
static void test_csv_round_trip(void **state)
{
    (void)state;
    net *n = small_net();
    acc_config a = small_acc();
    opp_table o;
    opp_generic(&o);
    acc_table *t = build_table(&a, n, &o);
    char *csv = print_to_string(t, true);
    char *path = temp_path();
    write_file(path, csv);
    pwr_params p = power();
    acc_table *u = NULL;
    char err[ERR_LEN] = "";
    assert_int_equal(acc_table_import_csv(path, n, &o, &p, a.ctrl_mhz, &u, err, sizeof err),
                     ACC_OK);
    char *again = print_to_string(u, true);
    assert_string_equal(csv, again);
    for (int i = 0; i < net_op_count(n); i++)
        for (int l = 0; l < o.n; l++) {
            const acc_cost *x = acc_op(t, i, l), *y = acc_op(u, i, l);
            assert_true(x->time_ns == y->time_ns);
            assert_true(x->energy.static_nj == y->energy.static_nj);
            assert_true(x->energy.compute_nj + x->energy.memory_nj == y->energy.compute_nj);
            assert_true(y->energy.total_nj == y->energy.compute_nj + y->energy.static_nj);
            assert_true(y->cycles == (uint64_t)llround(x->time_ns * o.levels[l].freq_mhz / 1e3));
        }
    assert_true(acc_head(t, 0, 1)->time_ns == acc_head(u, 0, 1)->time_ns);
    assert_int_equal(acc_build_events(u), 0);
    char *human = print_to_string(t, false);
    assert_non_null(strstr(human, "conv1.relu"));
    assert_non_null(strstr(human, "dynamic_nj"));
    free(human);
    free(csv);
    free(again);
    acc_table_free(t);
    acc_table_free(u);
    unlink(path);
    net_free(n);
}

/* A table from given costs hands them back; acc_ctrl prices control work. */
static void test_from_costs_and_ctrl(void **state)
{
    (void)state;
    net *n = small_net();
    opp_table o;
    opp_generic(&o);
    pwr_params p = power();
    int nops = net_op_count(n), nheads = net_exit_count(n);
    acc_cost *ops = calloc((size_t)(nops * o.n), sizeof *ops);
    acc_cost *heads = calloc((size_t)(nheads * o.n), sizeof *heads);
    for (int i = 0; i < nops * o.n; i++) ops[i].time_ns = i + 0.5;
    for (int i = 0; i < nheads * o.n; i++) heads[i].time_ns = 100 + i;
    acc_table *t = NULL;
    char err[ERR_LEN];
    assert_int_equal(acc_table_from_costs(n, &o, &p, 250.0, ops, heads, &t, err, sizeof err),
                     ACC_OK);
    assert_true(acc_op(t, 2, 3)->time_ns == 2 * o.n + 3 + 0.5);
    assert_true(acc_head(t, 0, 5)->time_ns == 105);
    /* 1000 ops at 250 MHz: 4000 ns; 1000 pJ at v_ref: 1 nJ, no static part. */
    acc_cost c = acc_ctrl(t, 1000);
    assert_true(c.time_ns == 4000.0);
    assert_int_equal(c.cycles, 1000);
    assert_int_equal(c.counts.ctrl_ops, 1000);
    assert_near(c.energy.compute_nj, 1.0, 1e-12);
    assert_true(c.energy.static_nj == 0.0);
    assert_near(c.energy.total_nj, 1.0, 1e-12);
    acc_table_free(t);
    assert_int_equal(acc_table_from_costs(n, &o, &p, 0.0, ops, heads, &t, err, sizeof err),
                     ACC_EARG);
    assert_string_equal(err, "cost table: ctrl_mhz = 0: must be > 0");
    assert_null(t);
    free(ops);
    free(heads);
    net_free(n);
}

/* Writes rows for every (kind, index, level) of the small net on the generic ladder except
 * `skip` (-1: none), with `bad` replacing row number bad_row (0-based, after the header). */
static void write_rows(const char *path, const opp_table *o, int skip, int bad_row, const char *bad)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "kind,index,level,time_ns,dynamic_nj,static_nj\n");
    int row = 0;
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < (k ? 1 : 4); i++)
            for (int l = 0; l < o->n; l++, row++) {
                if (row == skip) continue;
                if (row == bad_row)
                    fprintf(f, "%s\n", bad);
                else
                    fprintf(f, "%s,%d,%d,1.5,2,0.25\n", k ? "head" : "op", i, l);
            }
    fclose(f);
}

static void expect_import_error(const char *path, const char *want_suffix, int want_rc)
{
    net *n = small_net();
    opp_table o;
    opp_generic(&o);
    pwr_params p = power();
    acc_table *t = NULL;
    char err[ERR_LEN] = "";
    assert_int_equal(acc_table_import_csv(path, n, &o, &p, 100.0, &t, err, sizeof err), want_rc);
    assert_null(t);
    size_t lp = strlen(path);
    if (strncmp(err, path, lp) != 0 || strcmp(err + lp, want_suffix) != 0)
        fail_msg("got '%s', want '%s%s'", err, path, want_suffix);
    net_free(n);
}

/* Every promised import error, as FILE:LINE: message. */
static void test_import_errors(void **state)
{
    (void)state;
    opp_table o;
    opp_generic(&o); /* 8 levels: the small net has 4 ops, 1 head: 40 rows, lines 2..41 */
    char *path = temp_path();
    write_rows(path, &o, -1, -1, "");
    {
        net *n = small_net();
        pwr_params p = power();
        acc_table *t = NULL;
        char err[ERR_LEN];
        assert_int_equal(acc_table_import_csv(path, n, &o, &p, 100.0, &t, err, sizeof err), ACC_OK);
        assert_true(acc_head(t, 0, 7)->energy.total_nj == 2.25);
        acc_table_free(t);
        net_free(n);
    }
    struct {
        const char *row, *want;
    } cases[] = {
        {"layer,0,0,1,1,1", ":4: kind 'layer' is not op or head"},
        {"op,4,0,1,1,1", ":4: op index '4' is not in 0..3"},
        {"head,1,0,1,1,1", ":4: head index '1' is not in 0..0"},
        {"op,-1,0,1,1,1", ":4: op index '-1' is not in 0..3"},
        {"op,x,0,1,1,1", ":4: op index 'x' is not in 0..3"},
        {"op,0,8,1,1,1", ":4: level '8' is not in 0..7"},
        {"op,0,1,-1,1,1", ":4: time_ns '-1' is not a finite number >= 0"},
        {"op,0,1,1,nan,1", ":4: dynamic_nj 'nan' is not a finite number >= 0"},
        {"op,0,1,1,1,inf", ":4: static_nj 'inf' is not a finite number >= 0"},
        {"op,0,1,1,1,1e999", ":4: static_nj '1e999' is not a finite number >= 0"},
        {"op,0,1,1,1", ":4: expected 6 fields (kind,index,level,time_ns,dynamic_nj,static_nj), "
                       "got 5"},
        {"op,0,1,1,1,1,1", ":4: expected 6 fields (kind,index,level,time_ns,dynamic_nj,"
                           "static_nj), got more than 6"},
        {"op,0,0,1,1,1", ":4: op 0 level 0 given twice (first on line 2)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_rows(path, &o, -1, 2, cases[i].row);
        expect_import_error(path, cases[i].want, ACC_EFORMAT);
    }
    write_rows(path, &o, 11, -1, "");
    expect_import_error(path, ": no line for op 1 level 3", ACC_EFORMAT);
    write_rows(path, &o, 39, -1, "");
    expect_import_error(path, ": no line for head 0 level 7", ACC_EFORMAT);
    write_file(path, "");
    expect_import_error(path, ": no line for op 0 level 0", ACC_EFORMAT);
    unlink(path);
    expect_import_error(path, ": No such file or directory", ACC_EIO);
}

/* ---- errors ---- */

static void check_msg(acc_config a, const char *want)
{
    char err[ERR_LEN] = "";
    assert_int_equal(acc_config_check(&a, err, sizeof err), ACC_EARG);
    assert_string_equal(err, want);
}

static void test_config_check(void **state)
{
    (void)state;
    char err[ERR_LEN];
    acc_config a = default_acc();
    assert_int_equal(acc_config_check(&a, err, sizeof err), ACC_OK);
    a = small_acc();
    assert_int_equal(acc_config_check(&a, err, sizeof err), ACC_OK);
    assert_int_equal(acc_config_check(NULL, err, sizeof err), ACC_EARG);
    assert_string_equal(err, "[accelerator] no configuration given");
    a = default_acc();
    a.cores = 0;
    check_msg(a, "[accelerator] cores = 0: must be in 1..4096");
    a = default_acc();
    a.pe_rows = 2000;
    check_msg(a, "[accelerator] pe_rows = 2000: must be in 1..1024");
    a = default_acc();
    a.pe_cols = -1;
    check_msg(a, "[accelerator] pe_cols = -1: must be in 1..1024");
    a = default_acc();
    a.sram_kib = 0;
    check_msg(a, "[accelerator] sram_kib = 0: must be in 1..1048576");
    a = default_acc();
    a.gbuf_kib = -1;
    check_msg(a, "[accelerator] gbuf_kib = -1: must be in 0..16777216");
    a = default_acc();
    a.dram_bytes_per_ns = 0;
    check_msg(a, "[accelerator] dram_bytes_per_ns = 0: must be > 0 and <= 100000");
    a = default_acc();
    a.noc_bytes_per_cycle = NAN;
    check_msg(a, "[accelerator] noc_bytes_per_cycle = nan: must be > 0 and <= 100000");
    a = default_acc();
    a.vector_lanes = 0;
    check_msg(a, "[accelerator] vector_lanes = 0: must be in 1..4096");
    a = default_acc();
    a.ctrl_mhz = -5;
    check_msg(a, "[accelerator] ctrl_mhz = -5: must be > 0 and <= 100000");
    a = default_acc();
    a.sram_kib = 1;
    check_msg(a, "[accelerator] sram_kib = 1: half of it (512 bytes, double buffering) "
                 "cannot hold a 16x16 output tile with one step of K (576 bytes)");
    a.pe_rows = a.pe_cols = 15; /* (225 + 30)·2 = 510 bytes fit */
    assert_int_equal(acc_config_check(&a, err, sizeof err), ACC_OK);
}

static void test_simulate_errors(void **state)
{
    (void)state;
    net *n = small_net();
    acc_config a = small_acc();
    pwr_params p = power();
    opp_level lv = {FREQ_MHZ, VDD_V}, zero = {0, VDD_V}, nov = {FREQ_MHZ, 0};
    acc_cost c;
    uint64_t ev = 7;
    assert_int_equal(acc_simulate(&a, n, net_op_count(n), -1, &lv, &p, &c, &ev), ACC_EARG);
    assert_int_equal(ev, 0);
    assert_int_equal(acc_simulate(&a, n, -1, -1, &lv, &p, &c, NULL), ACC_EARG);
    assert_int_equal(acc_simulate(&a, n, 0, net_exit_count(n), &lv, &p, &c, NULL), ACC_EARG);
    assert_int_equal(acc_simulate(&a, n, 0, -1, &zero, &p, &c, NULL), ACC_EARG);
    assert_int_equal(acc_simulate(&a, n, 0, -1, &nov, &p, &c, NULL), ACC_EARG);
    assert_int_equal(acc_simulate(&a, n, 0, -1, NULL, &p, &c, NULL), ACC_EARG);
    assert_int_equal(acc_simulate(&a, n, 0, -1, &lv, NULL, &c, NULL), ACC_EARG);
    assert_int_equal(acc_simulate(&a, NULL, 0, -1, &lv, &p, &c, NULL), ACC_EARG);
    a.cores = 0;
    assert_int_equal(acc_simulate(&a, n, 0, -1, &lv, &p, &c, NULL), ACC_EARG);
    a = small_acc();
    opp_table o;
    opp_generic(&o);
    acc_table *t = NULL;
    char err[ERR_LEN];
    a.vector_lanes = 0;
    assert_int_equal(acc_table_build(&a, n, &o, &p, &t, err, sizeof err), ACC_EARG);
    assert_string_equal(err, "[accelerator] vector_lanes = 0: must be in 1..4096");
    a = small_acc();
    o.n = 0;
    assert_int_equal(acc_table_build(&a, n, &o, &p, &t, err, sizeof err), ACC_EARG);
    assert_null(t);
    assert_int_equal(acc_table_print(NULL, stdout, false), ACC_EARG);
    net_free(n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_hand),
        cmocka_unit_test(test_fc_hand),
        cmocka_unit_test(test_vector_hand),
        cmocka_unit_test(test_head_hand),
        cmocka_unit_test(test_pipeline_hand),
        cmocka_unit_test(test_frequency_compute_bound),
        cmocka_unit_test(test_frequency_memory_bound),
        cmocka_unit_test(test_more_cores),
        cmocka_unit_test(test_energy_parts),
        cmocka_unit_test(test_table_lookups),
        cmocka_unit_test(test_table_vgg19_speed),
        cmocka_unit_test(test_csv_round_trip),
        cmocka_unit_test(test_from_costs_and_ctrl),
        cmocka_unit_test(test_import_errors),
        cmocka_unit_test(test_config_check),
        cmocka_unit_test(test_simulate_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
