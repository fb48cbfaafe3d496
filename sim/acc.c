/* The many-core accelerator model (acc.h): an op or exit head becomes phases (GEMMs and vector
 * work), each phase is tiled to fit half a core's SRAM and played tile by tile on the event core
 * (DMA-in, compute, DMA-out per tile, two tiles in flight per core, one FIFO DRAM channel and one
 * FIFO NoC shared by all cores); plus the per-layer cost table built from it or imported. */
#include "acc.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "des.h"
#include "util.h"

/* Limits of acc_config_check (as in the [accelerator] schema); cores also fit des_event.unit. */
enum {
    ACC_MAX_CORES = 4096,
    ACC_MAX_PE = 1024,
    ACC_MAX_SRAM_KIB = 1048576,
    ACC_MAX_GBUF_KIB = 16777216,
    ACC_MAX_LANES = 4096,
    KIB = 1024,
    SLOTS = 2,      /* tiles in a core's SRAM at once: double buffering */
    MAX_PHASES = 4, /* an exit head: codebook GEMM, BoF vector work, FC 0, FC 1 */
    DMA_STORE = 1,  /* bit 0 of a DES_DMA_DONE event's arg: an output transfer */
    PRIO = 0,       /* every event of the model has the same priority: ties in push order */
    CSV_FIELDS = 6,
    LINE_MAX_LEN = 512,
};

static const double PS_PER_NS = 1e3;
static const double PS_PER_CYCLE_MHZ = 1e6; /* ps per cycle = 1e6 / f_MHz */
static const double MAX_PS = 1e18;          /* durations are clamped here (11.6 days) */
static const double MAX_REAL = 1e5;         /* dram_bytes_per_ns, noc_bytes_per_cycle */
static const double MAX_CTRL_MHZ = 1e5;
static const double TILE_REF_MHZ = 1000.0; /* the clock schedules are chosen for */

static const char CSV_HEADER[] = "kind,index,level,time_ns,dynamic_nj,static_nj";

/* ---- config ---- */

static bool int_ok(char *err, size_t errlen, const char *key, int v, int lo, int hi)
{
    if (v >= lo && v <= hi) return true;
    util_errf(err, errlen, "[accelerator] %s = %d: must be in %d..%d", key, v, lo, hi);
    return false;
}

static bool real_ok(char *err, size_t errlen, const char *key, double v, double hi)
{
    if (isfinite(v) && v > 0 && v <= hi) return true;
    util_errf(err, errlen, "[accelerator] %s = %g: must be > 0 and <= %g", key, v, hi);
    return false;
}

/* Half the SRAM in bytes: one of the two tile buffers. */
static uint64_t half_sram_bytes(const acc_config *a)
{
    return (uint64_t)a->sram_kib * KIB / SLOTS;
}

int acc_config_check(const acc_config *a, char *err, size_t errlen)
{
    if (!a) {
        util_errf(err, errlen, "[accelerator] no configuration given");
        return ACC_EARG;
    }
    bool ok = int_ok(err, errlen, "cores", a->cores, 1, ACC_MAX_CORES) &&
              int_ok(err, errlen, "pe_rows", a->pe_rows, 1, ACC_MAX_PE) &&
              int_ok(err, errlen, "pe_cols", a->pe_cols, 1, ACC_MAX_PE) &&
              int_ok(err, errlen, "sram_kib", a->sram_kib, 1, ACC_MAX_SRAM_KIB) &&
              int_ok(err, errlen, "gbuf_kib", a->gbuf_kib, 0, ACC_MAX_GBUF_KIB) &&
              real_ok(err, errlen, "dram_bytes_per_ns", a->dram_bytes_per_ns, MAX_REAL) &&
              real_ok(err, errlen, "noc_bytes_per_cycle", a->noc_bytes_per_cycle, MAX_REAL) &&
              int_ok(err, errlen, "vector_lanes", a->vector_lanes, 1, ACC_MAX_LANES) &&
              real_ok(err, errlen, "ctrl_mhz", a->ctrl_mhz, MAX_CTRL_MHZ);
    if (!ok) return ACC_EARG;
    /* The smallest GEMM tile: a pe_rows × pe_cols output tile and one step of K. */
    uint64_t r = (uint64_t)a->pe_rows, c = (uint64_t)a->pe_cols;
    uint64_t need = (r * c + r + c) * ACC_BYTES_PER_ELEM;
    if (need > half_sram_bytes(a)) {
        util_errf(err, errlen,
                  "[accelerator] sram_kib = %d: half of it (%" PRIu64 " bytes, double buffering) "
                  "cannot hold a %dx%d output tile with one step of K (%" PRIu64 " bytes)",
                  a->sram_kib, half_sram_bytes(a), a->pe_rows, a->pe_cols, need);
        return ACC_EARG;
    }
    return ACC_OK;
}

/* ---- work of an op or head: phases ---- */

typedef enum phase_kind { PH_GEMM, PH_VEC } phase_kind;

/* One phase: a GEMM (M × K) · (K × N) or vector work of `ops` element operations. Activations
 * come from and go to DRAM or the global buffer; weights always come from DRAM. */
typedef struct phase {
    phase_kind kind;
    uint64_t m, n, k;                  /* GEMM */
    bool window;                       /* GEMM of a conv with a kh×kw > 1 window */
    uint64_t kh, kw, stride;           /* its window */
    uint64_t in_h, in_w, out_w;        /* its input map and output width */
    uint64_t ops, in_bytes, out_bytes; /* vector: element ops, input and output tensors */
    uint64_t w_bytes;                  /* vector: parameters (BN), from DRAM */
    bool in_dram, out_dram;            /* activations through DRAM instead of the NoC */
} phase;

static uint64_t elems(net_shape s)
{
    return (uint64_t)s.c * (uint64_t)s.h * (uint64_t)s.w;
}

static uint64_t ceil_div(uint64_t a, uint64_t b)
{
    return a / b + (a % b != 0);
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/* Where activations live: an op's input and output stay in the global buffer when both fit in
 * it together, else both go through DRAM; the network input always comes from DRAM. */
static void place(phase *ph, const acc_config *a, uint64_t in_bytes, uint64_t out_bytes,
                  bool net_input)
{
    bool fits = in_bytes + out_bytes <= (uint64_t)a->gbuf_kib * KIB;
    ph->in_dram = net_input || !fits;
    ph->out_dram = !fits;
}

static phase gemm(const acc_config *a, uint64_t m, uint64_t n, uint64_t k, uint64_t in_elems,
                  uint64_t out_elems, bool net_input)
{
    phase ph = {.kind = PH_GEMM, .m = m, .n = n, .k = k};
    place(&ph, a, in_elems * ACC_BYTES_PER_ELEM, out_elems * ACC_BYTES_PER_ELEM, net_input);
    return ph;
}

static phase vec(const acc_config *a, uint64_t ops, uint64_t in_elems, uint64_t out_elems,
                 uint64_t w_elems, bool net_input)
{
    phase ph = {.kind = PH_VEC,
                .ops = ops,
                .in_bytes = in_elems * ACC_BYTES_PER_ELEM,
                .out_bytes = out_elems * ACC_BYTES_PER_ELEM,
                .w_bytes = w_elems * ACC_BYTES_PER_ELEM};
    place(&ph, a, ph.in_bytes, ph.out_bytes, net_input);
    return ph;
}

/* Backbone op: conv (M = H_out·W_out, N = C_out, K = C_in·kh·kw), FC (M = 1, N = outputs,
 * K = inputs), else vector work on its vec_ops (an add reads two inputs; BN loads its
 * parameters). Returns the phase count. */
static int op_phases(const acc_config *a, const net_op *o, phase *ph)
{
    uint64_t in = elems(o->in), out = elems(o->out);
    bool net_input = o->src < 0;
    switch (o->kind) {
    case NET_OP_CONV:
        ph[0] = gemm(a, (uint64_t)o->out.h * (uint64_t)o->out.w, (uint64_t)o->out.c,
                     (uint64_t)o->in.c * (uint64_t)o->kh * (uint64_t)o->kw, in, out, net_input);
        ph[0].window = o->kh * o->kw > 1;
        ph[0].kh = (uint64_t)o->kh;
        ph[0].kw = (uint64_t)o->kw;
        ph[0].stride = (uint64_t)o->stride;
        ph[0].in_h = (uint64_t)o->in.h;
        ph[0].in_w = (uint64_t)o->in.w;
        ph[0].out_w = (uint64_t)o->out.w;
        return 1;
    case NET_OP_FC:
        ph[0] = gemm(a, 1, (uint64_t)o->out.c, in, in, out, net_input);
        return 1;
    case NET_OP_ADD:
        ph[0] = vec(a, o->vec_ops, 2 * in, out, 0, net_input);
        return 1;
    case NET_OP_BN:
        ph[0] = vec(a, o->vec_ops, in, out, o->params, net_input);
        return 1;
    default: /* ReLU, pooling */
        ph[0] = vec(a, o->vec_ops, in, out, 0, net_input);
        return 1;
    }
}

/* Exit head: codebook 1×1 conv (M = H·W of the map, N = codewords, K = C_in), the BoF vector
 * work (its input the codebook output, its output the features), FC 0 when it runs and FC 1
 * (M = 1). The head's small parameters other than the GEMM weights are ignored. */
static int head_phases(const acc_config *a, const net *n, const net_exit *e, phase *ph)
{
    const net_bof *b = net_bof_at(n, e->bof);
    const net_fc_pair *f = net_fc_pair_at(n, e->fc_pair);
    if (!b || !f) return 0;
    uint64_t px = (uint64_t)e->in.h * (uint64_t)e->in.w;
    uint64_t cw = (uint64_t)b->codewords, feats = (uint64_t)e->features;
    int k = 0;
    ph[k++] = gemm(a, px, cw, (uint64_t)b->c_in, elems(e->in), px * cw, false);
    ph[k++] = vec(a, e->vec_ops, px * cw, feats, 0, false);
    if (e->uses_fc0)
        ph[k++] = gemm(a, 1, (uint64_t)f->hidden, (uint64_t)f->in, (uint64_t)f->in,
                       (uint64_t)f->hidden, false);
    ph[k++] = gemm(a, 1, (uint64_t)f->classes, (uint64_t)f->hidden, (uint64_t)f->hidden,
                   (uint64_t)f->classes, false);
    return k;
}

/* ---- tiling ---- */

/* A phase cut into tiles. GEMM: output tiles mt × nt over kchunks steps of kt, numbered
 * column-major (tile t covers rows t % tiles_m and columns t / tiles_m, so consecutive tiles
 * share their weights), dealt round-robin (tile t on core t % cores), a tile's K steps back to
 * back on its core. Vector: `parts` equal slices (parts = cores · steps per core), slice g on
 * core g % cores. */
typedef struct tiling {
    uint64_t mt, nt, kt, tiles_m, kchunks, tiles;
    uint64_t parts, lane_cycles;
} tiling;

/* A clock and the bandwidths, as picoseconds per cycle and per byte. */
typedef struct rates {
    double ps_per_cycle, dram_ps_per_byte, noc_ps_per_byte;
} rates;

static rates rates_at(const acc_config *a, double freq_mhz)
{
    return (rates){.ps_per_cycle = PS_PER_CYCLE_MHZ / freq_mhz,
                   .dram_ps_per_byte = PS_PER_NS / a->dram_bytes_per_ns,
                   .noc_ps_per_byte = PS_PER_CYCLE_MHZ / (a->noc_bytes_per_cycle * freq_mhz)};
}

/* Bytes the DMA reads for the A tile of im2col rows [m0, m0 + mt) and columns [k0, k0 + kt)
 * (K ordered channel-major): the input pixels the tile's output pixels' windows cover, i.e.
 * the input rows they span (all columns, or only the window's reach within one output row)
 * times the channels the columns span, at most the im2col tile itself (1×1 convs and FCs: the
 * im2col tile). The DMA engine expands them into the im2col tile in SRAM. */
static uint64_t a_footprint(const phase *ph, uint64_t m0, uint64_t mt, uint64_t k0, uint64_t kt)
{
    uint64_t im2col = mt * kt;
    if (!ph->window) return im2col * ACC_BYTES_PER_ELEM;
    uint64_t win = ph->kh * ph->kw;
    uint64_t r0 = m0 / ph->out_w, r1 = (m0 + mt - 1) / ph->out_w;
    uint64_t rows_in = min_u64(ph->in_h, (r1 - r0) * ph->stride + ph->kh);
    uint64_t cols_in = r0 == r1 ? min_u64(ph->in_w, (mt - 1) * ph->stride + ph->kw) : ph->in_w;
    uint64_t ch = (k0 + kt - 1) / win - k0 / win + 1;
    return min_u64(im2col, rows_in * cols_in * ch) * ACC_BYTES_PER_ELEM;
}

/* True when a[0..n) is lexicographically smaller than b[0..n). */
static bool lex_less(const uint64_t *a, const uint64_t *b, int n)
{
    for (int i = 0; i < n; i++)
        if (a[i] != b[i]) return a[i] < b[i];
    return false;
}

/* GEMM tile choice. Candidates: mt = min(M, fa·rows), nt = min(N, fb·cols) for every fold
 * count fa, fb, with the largest kt <= K for which A (mt × kt), B (kt × nt) and C (mt × nt)
 * fit half the SRAM (the other half loads the next tile). When even full K does not fit, K is
 * split into kchunks steps whose partial sums accumulate in the tile's C buffer in SRAM and are
 * written out after the last step. Weight reuse: with whole K (kchunks = 1) a core keeps its
 * B tile while its next tile has the same columns, so the weights cross DRAM
 * min(tiles_m, cores) times; with K split every step loads its B.
 * Each candidate is priced as a roofline at TILE_REF_MHZ (double buffering overlaps
 * transfers and compute): the largest of the busiest core's compute, ceil(tiles/cores) ·
 * folds · (K + kchunks·(rows + cols − 2)) cycles, the DRAM bytes and the NoC bytes over their
 * bandwidths (A estimated from the first tile's footprint). The cheapest wins, ties going to
 * fewer DRAM bytes, then fewer NoC bytes, then fewer steps (tiles · kchunks), then the first
 * (fa, then fb, ascending). The schedule is chosen once, for the reference clock, and runs
 * unchanged at every OPP (as a compiled network would): DVFS changes only the clock, so the
 * action counts, hence the dynamic energy before voltage scaling, are the same at every
 * level. false when no tile fits. */
static bool tile_gemm(const acc_config *a, const phase *ph, tiling *t)
{
    rates r = rates_at(a, TILE_REF_MHZ);
    uint64_t budget = half_sram_bytes(a) / ACC_BYTES_PER_ELEM; /* elements */
    uint64_t rows = (uint64_t)a->pe_rows, cols = (uint64_t)a->pe_cols;
    uint64_t cores = (uint64_t)a->cores, skew = rows + cols - 2;
    uint64_t fm = ceil_div(ph->m, rows), fn = ceil_div(ph->n, cols);
    uint64_t c_bytes = ph->m * ph->n * ACC_BYTES_PER_ELEM;
    double best_ps = INFINITY;
    uint64_t best[3] = {UINT64_MAX, UINT64_MAX, UINT64_MAX}; /* DRAM bytes, NoC bytes, steps */
    bool found = false;
    for (uint64_t fa = 1; fa <= fm; fa++) {
        uint64_t mt = min_u64(ph->m, fa * rows);
        for (uint64_t fb = 1; fb <= fn; fb++) {
            uint64_t nt = min_u64(ph->n, fb * cols);
            if (mt * nt >= budget) break;
            uint64_t kt = min_u64(ph->k, (budget - mt * nt) / (mt + nt));
            if (kt == 0) break;
            uint64_t tm = ceil_div(ph->m, mt), tn = ceil_div(ph->n, nt);
            uint64_t kch = ceil_div(ph->k, kt);
            uint64_t folds = ceil_div(mt, rows) * ceil_div(nt, cols);
            uint64_t cyc = ceil_div(tm * tn, cores) * folds * (ph->k + kch * skew);
            uint64_t a_bytes = tm * tn * kch * a_footprint(ph, 0, mt, 0, kt);
            uint64_t b_bytes =
                ph->k * ph->n * ACC_BYTES_PER_ELEM * (kch == 1 ? min_u64(tm, cores) : tm);
            uint64_t dram = b_bytes + (ph->in_dram ? a_bytes : 0) + (ph->out_dram ? c_bytes : 0);
            uint64_t noc = (ph->in_dram ? 0 : a_bytes) + (ph->out_dram ? 0 : c_bytes);
            double ps = fmax((double)cyc * r.ps_per_cycle, fmax((double)dram * r.dram_ps_per_byte,
                                                                (double)noc * r.noc_ps_per_byte));
            uint64_t key[3] = {dram, noc, tm * tn * kch};
            if (ps < best_ps || (ps == best_ps && lex_less(key, best, 3))) {
                best_ps = ps;
                memcpy(best, key, sizeof best);
                *t = (tiling){
                    .mt = mt, .nt = nt, .kt = kt, .tiles_m = tm, .kchunks = kch, .tiles = tm * tn};
                found = true;
            }
        }
    }
    return found;
}

/* Vector tiling: the fewest slices per core for which one slice's input, output and
 * parameter bytes fit half the SRAM. Slice g gets an equal share (±1) of every quantity and of
 * the ceil(ops / lanes) lane-cycles, so the busiest core computes ceil(ops / (cores·lanes))
 * cycles. */
static uint64_t share(uint64_t x, uint64_t parts, uint64_t g)
{
    return x / parts + (g < x % parts);
}

static void tile_vec(const acc_config *a, const phase *ph, tiling *t)
{
    uint64_t budget = half_sram_bytes(a), cores = (uint64_t)a->cores;
    uint64_t total = ph->in_bytes + ph->out_bytes + ph->w_bytes;
    uint64_t per_core = ceil_div(total, cores * budget);
    if (per_core == 0) per_core = 1;
    for (;;) {
        uint64_t p = per_core * cores;
        if (ceil_div(ph->in_bytes, p) + ceil_div(ph->out_bytes, p) + ceil_div(ph->w_bytes, p) <=
            budget)
            break;
        per_core++;
    }
    *t = (tiling){.parts = per_core * cores,
                  .lane_cycles = ceil_div(ph->ops, (uint64_t)a->vector_lanes)};
}

/* ---- the event-driven tile simulation ---- */

/* A core's progress through the current phase (steps are its tiles' K steps or slices). */
typedef struct core_state {
    uint64_t steps;        /* steps of the phase on this core */
    uint64_t next_load;    /* next step to DMA in */
    uint64_t loaded;       /* steps whose DMA-in finished */
    uint64_t next_compute; /* next step to compute */
    uint64_t released;     /* steps whose SRAM buffer is free again */
    uint64_t busy_ps;      /* compute time, all phases */
    bool dma_busy, compute_busy;
} core_state;

/* One step's work. */
typedef struct step {
    uint64_t in_bytes;  /* activations in (A tile or input slice) */
    uint64_t w_bytes;   /* weights in (B tile or parameters), always from DRAM */
    uint64_t out_bytes; /* results out after compute; 0 for a K step before the last */
    uint64_t cycles;    /* compute cycles */
    uint64_t sram_bytes;
} step;

typedef struct engine {
    des_sim *sim;
    core_state *cores;
    int cap_cores;
    const acc_config *a;
    phase ph[MAX_PHASES];
    int n_ph, cur;
    tiling tl;
    uint64_t steps_left; /* steps of the phase not yet released */
    uint64_t dram_free_ps, noc_free_ps, dram_busy_ps;
    rates r;
    uint64_t end_ps;
    pwr_counts counts;
} engine;

static uint64_t to_ps(double x)
{
    return x >= MAX_PS ? (uint64_t)MAX_PS : (uint64_t)llround(x);
}

/* GEMM step j of core c: tile c + cores·(j / kchunks), K step j % kchunks; no B load when
 * the core's previous tile had the same columns and K is whole.
 * Compute cycles: ceil(mt/rows)·ceil(nt/cols) folds of kt + rows + cols − 2 cycles each, the
 * output-stationary systolic array's K accumulations plus the skew to fill and drain it (Kung
 * & Leiserson 1979; the output-stationary analytical model of SCALE-Sim, Samajdar et al.,
 * ISPASS 2020, Sec. III).
 * SRAM bytes: DMA-in writes the im2col A tile and B (when loaded) once; the array reads A once per
 * column fold and B once per row fold, writes C after every K step and reads the partial C back
 * before every K step but the first; DMA-out reads the final C once. */
static void gemm_step(const engine *e, int c, uint64_t j, step *s)
{
    const phase *ph = &e->ph[e->cur];
    const tiling *t = &e->tl;
    uint64_t rows = (uint64_t)e->a->pe_rows, cols = (uint64_t)e->a->pe_cols;
    uint64_t tile = (uint64_t)c + (uint64_t)e->a->cores * (j / t->kchunks);
    uint64_t kc = j % t->kchunks;
    uint64_t mi = tile % t->tiles_m, ni = tile / t->tiles_m;
    uint64_t cores = (uint64_t)e->a->cores;
    bool keep_b = t->kchunks == 1 && j > 0 && (tile - cores) / t->tiles_m == ni;
    uint64_t mt = min_u64(t->mt, ph->m - mi * t->mt), nt = min_u64(t->nt, ph->n - ni * t->nt);
    uint64_t kt = min_u64(t->kt, ph->k - kc * t->kt);
    uint64_t fm = ceil_div(mt, rows), fn = ceil_div(nt, cols);
    uint64_t a_b = mt * kt * ACC_BYTES_PER_ELEM, b_b = kt * nt * ACC_BYTES_PER_ELEM;
    uint64_t a_in = a_footprint(ph, mi * t->mt, mt, kc * t->kt, kt);
    uint64_t c_b = mt * nt * ACC_BYTES_PER_ELEM;
    bool last = kc + 1 == t->kchunks;
    s->in_bytes = a_in;
    s->w_bytes = keep_b ? 0 : b_b;
    s->out_bytes = last ? c_b : 0;
    s->cycles = fm * fn * (kt + rows + cols - 2);
    s->sram_bytes =
        a_b + s->w_bytes + a_b * fn + b_b * fm + c_b + (kc > 0 ? c_b : 0) + (last ? c_b : 0);
}

/* Vector step j of core c: slice c + cores·j. SRAM bytes: DMA-in writes the input and
 * parameters, the vector unit reads them, writes the output, DMA-out reads it. */
static void vec_step(const engine *e, int c, uint64_t j, step *s)
{
    const phase *ph = &e->ph[e->cur];
    uint64_t p = e->tl.parts, g = (uint64_t)c + (uint64_t)e->a->cores * j;
    s->in_bytes = share(ph->in_bytes, p, g);
    s->w_bytes = share(ph->w_bytes, p, g);
    s->out_bytes = share(ph->out_bytes, p, g);
    s->cycles = share(e->tl.lane_cycles, p, g);
    s->sram_bytes = 2 * (s->in_bytes + s->w_bytes + s->out_bytes);
}

static void step_of(const engine *e, int c, uint64_t j, step *s)
{
    if (e->ph[e->cur].kind == PH_GEMM)
        gemm_step(e, c, j, s);
    else
        vec_step(e, c, j, s);
}

/* A FIFO channel: a transfer asked for at `now` starts when the channel is free. */
static uint64_t channel(uint64_t *free_ps, uint64_t now, uint64_t dur_ps)
{
    uint64_t start = *free_ps > now ? *free_ps : now;
    *free_ps = start + dur_ps;
    return *free_ps;
}

/* Starts a transfer of dram_bytes over the DRAM channel (its own clock) and noc_bytes over the
 * NoC (noc_bytes_per_cycle per compute cycle) at once; returns when both are done. NoC bytes
 * are global-buffer bytes (read on a load, written on a store). */
static uint64_t transfer(engine *e, uint64_t dram_bytes, uint64_t noc_bytes)
{
    uint64_t now = des_now_ps(e->sim), done = now;
    if (dram_bytes) {
        uint64_t dur = to_ps((double)dram_bytes * e->r.dram_ps_per_byte);
        e->dram_busy_ps += dur;
        uint64_t end = channel(&e->dram_free_ps, now, dur);
        if (end > done) done = end;
    }
    if (noc_bytes) {
        uint64_t end =
            channel(&e->noc_free_ps, now, to_ps((double)noc_bytes * e->r.noc_ps_per_byte));
        if (end > done) done = end;
    }
    e->counts.dram_bytes += dram_bytes;
    e->counts.noc_bytes += noc_bytes;
    e->counts.gbuf_bytes += noc_bytes;
    return done;
}

static int emit(engine *e, des_type type, int c, uint64_t time_ps, uint64_t arg)
{
    des_event ev = {.type = (uint16_t)type, .unit = (uint16_t)c, .arg = arg};
    return des_schedule_at(e->sim, time_ps, PRIO, &ev);
}

/* DMA-in the core's next step when its DMA engine is idle and one of the two buffers is free. */
static int try_load(engine *e, int c)
{
    core_state *cs = &e->cores[c];
    if (cs->dma_busy || cs->next_load >= cs->steps || cs->next_load >= cs->released + SLOTS)
        return 0;
    step s;
    step_of(e, c, cs->next_load, &s);
    bool in_dram = e->ph[e->cur].in_dram;
    uint64_t done = transfer(e, s.w_bytes + (in_dram ? s.in_bytes : 0), in_dram ? 0 : s.in_bytes);
    e->counts.sram_bytes += s.sram_bytes;
    cs->next_load++;
    cs->dma_busy = true;
    return emit(e, DES_DMA_DONE, c, done, 0);
}

/* Compute the core's next loaded step when its array (or vector unit) is idle. */
static int try_compute(engine *e, int c)
{
    core_state *cs = &e->cores[c];
    if (cs->compute_busy || cs->next_compute >= cs->loaded) return 0;
    step s;
    step_of(e, c, cs->next_compute, &s);
    uint64_t dur = to_ps((double)s.cycles * e->r.ps_per_cycle);
    cs->busy_ps += dur;
    cs->compute_busy = true;
    return emit(e, DES_COMPUTE_DONE, c, des_now_ps(e->sim) + dur, cs->next_compute++);
}

/* A step's buffer is free: maybe the phase is over, maybe the next load can start. */
static int release(engine *e, int c)
{
    e->cores[c].released++;
    if (--e->steps_left == 0) return emit(e, DES_LAYER_DONE, 0, des_now_ps(e->sim), 0);
    return try_load(e, c);
}

static int on_dma_done(des_sim *sim, const des_event *ev, void *ctx)
{
    (void)sim;
    engine *e = ctx;
    if (ev->arg & DMA_STORE) return release(e, ev->unit);
    e->cores[ev->unit].dma_busy = false;
    e->cores[ev->unit].loaded++;
    int rc = try_compute(e, ev->unit);
    return rc ? rc : try_load(e, ev->unit);
}

static int on_compute_done(des_sim *sim, const des_event *ev, void *ctx)
{
    (void)sim;
    engine *e = ctx;
    int c = ev->unit, rc;
    e->cores[c].compute_busy = false;
    step s;
    step_of(e, c, ev->arg, &s);
    if (s.out_bytes) {
        bool out_dram = e->ph[e->cur].out_dram;
        uint64_t done = transfer(e, out_dram ? s.out_bytes : 0, out_dram ? 0 : s.out_bytes);
        rc = emit(e, DES_DMA_DONE, c, done, DMA_STORE);
    } else {
        rc = release(e, c);
    }
    if (!rc) rc = try_compute(e, c);
    return rc ? rc : try_load(e, c);
}

/* Tile the current phase, count its MACs and vector ops, and start every core. */
static int start_phase(engine *e)
{
    const phase *ph = &e->ph[e->cur];
    uint64_t cores = (uint64_t)e->a->cores, total = 0;
    if (ph->kind == PH_GEMM) {
        if (!tile_gemm(e->a, ph, &e->tl)) return ACC_EARG;
        e->counts.macs += ph->m * ph->n * ph->k;
    } else {
        tile_vec(e->a, ph, &e->tl);
        e->counts.vector_ops += ph->ops;
    }
    for (int c = 0; c < e->a->cores; c++) {
        core_state *cs = &e->cores[c];
        uint64_t busy = cs->busy_ps;
        *cs = (core_state){.busy_ps = busy};
        if (ph->kind == PH_GEMM)
            cs->steps = share(e->tl.tiles, cores, (uint64_t)c) * e->tl.kchunks;
        else
            cs->steps = e->tl.parts / cores;
        total += cs->steps;
    }
    e->steps_left = total;
    for (int c = 0; c < e->a->cores; c++) {
        int rc = try_load(e, c);
        if (rc) return rc;
    }
    return 0;
}

static int on_phase_done(des_sim *sim, const des_event *ev, void *ctx)
{
    (void)ev;
    engine *e = ctx;
    if (++e->cur < e->n_ph) return start_phase(e);
    e->end_ps = des_now_ps(sim);
    return 0;
}

static int engine_init(engine *e, int cores)
{
    memset(e, 0, sizeof *e);
    e->sim = des_sim_new((size_t)cores * (SLOTS + 1) + 1);
    e->cores = calloc((size_t)cores, sizeof *e->cores);
    if (!e->sim || !e->cores) {
        des_sim_free(e->sim);
        free(e->cores);
        return ACC_ENOMEM;
    }
    e->cap_cores = cores;
    des_on(e->sim, DES_DMA_DONE, on_dma_done, e);
    des_on(e->sim, DES_COMPUTE_DONE, on_compute_done, e);
    des_on(e->sim, DES_LAYER_DONE, on_phase_done, e);
    return ACC_OK;
}

static void engine_free(engine *e)
{
    des_sim_free(e->sim);
    free(e->cores);
}

static bool level_ok(const opp_level *lv)
{
    return lv && isfinite(lv->freq_mhz) && lv->freq_mhz > 0 && isfinite(lv->vdd_v) && lv->vdd_v > 0;
}

/* One op or head at one level on an engine with room for a->cores cores. */
static int engine_run(engine *e, const acc_config *a, const net *n, int op, int exit,
                      const opp_level *lv, const pwr_params *p, acc_cost *out, uint64_t *events)
{
    if (!n || !p || !out || !level_ok(lv) || a->cores > e->cap_cores) return ACC_EARG;
    e->a = a;
    if (exit >= 0) {
        if (exit >= net_exit_count(n)) return ACC_EARG;
        e->n_ph = head_phases(a, n, net_exit_at(n, exit), e->ph);
        if (e->n_ph == 0) return ACC_EARG;
    } else {
        const net_op *o = net_op_at(n, op);
        if (!o) return ACC_EARG;
        e->n_ph = op_phases(a, o, e->ph);
    }
    des_sim_reset(e->sim);
    memset(e->cores, 0, (size_t)a->cores * sizeof *e->cores);
    e->cur = 0;
    e->dram_free_ps = e->noc_free_ps = e->dram_busy_ps = e->end_ps = 0;
    e->counts = (pwr_counts){0};
    e->r = rates_at(a, lv->freq_mhz);
    int rc = start_phase(e);
    if (!rc) rc = des_run_until(e->sim, UINT64_MAX);
    if (events) *events = des_events_processed(e->sim);
    if (rc == -1) return ACC_ENOMEM;
    if (rc || e->cur != e->n_ph) return ACC_EARG;
    uint64_t busy = 0;
    for (int c = 0; c < a->cores; c++)
        if (e->cores[c].busy_ps > busy) busy = e->cores[c].busy_ps;
    *out = (acc_cost){0};
    out->time_ns = (double)e->end_ps / PS_PER_NS;
    out->cycles = (uint64_t)llround((double)e->end_ps * lv->freq_mhz / PS_PER_CYCLE_MHZ);
    out->compute_ns = (double)busy / PS_PER_NS;
    out->dram_ns = (double)e->dram_busy_ps / PS_PER_NS;
    out->counts = e->counts;
    out->energy = pwr_energy_of(p, &out->counts, lv->vdd_v, out->time_ns);
    return ACC_OK;
}

int acc_simulate(const acc_config *a, const net *n, int op, int exit, const opp_level *lv,
                 const pwr_params *p, acc_cost *out, uint64_t *events)
{
    char err[1];
    if (events) *events = 0;
    if (acc_config_check(a, err, sizeof err)) return ACC_EARG;
    engine e;
    int rc = engine_init(&e, a->cores);
    if (rc) return rc;
    rc = engine_run(&e, a, n, op, exit, lv, p, out, events);
    engine_free(&e);
    return rc;
}

/* ---- the cost table ---- */

struct acc_table {
    int n_ops, n_heads, levels;
    opp_level *lv;
    char (*op_names)[NET_NAME_MAX];
    char (*head_names)[NET_NAME_MAX];
    acc_cost *ops, *heads; /* [index · levels + level] */
    pwr_params p;
    double ctrl_mhz;
    uint64_t events;
};

void acc_table_free(acc_table *t)
{
    if (!t) return;
    free(t->lv);
    free(t->op_names);
    free(t->head_names);
    free(t->ops);
    free(t->heads);
    free(t);
}

/* An empty table shaped for n and o (costs zeroed); NULL on out-of-memory. */
static acc_table *table_new(const net *n, const opp_table *o, const pwr_params *p, double ctrl_mhz)
{
    acc_table *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->n_ops = net_op_count(n);
    t->n_heads = net_exit_count(n);
    t->levels = o->n;
    t->p = *p;
    t->ctrl_mhz = ctrl_mhz;
    size_t lv = (size_t)o->n;
    t->lv = malloc(lv * sizeof *t->lv);
    t->op_names = calloc((size_t)t->n_ops + 1, sizeof *t->op_names);
    t->head_names = calloc((size_t)t->n_heads + 1, sizeof *t->head_names);
    t->ops = calloc((size_t)t->n_ops * lv + 1, sizeof *t->ops);
    t->heads = calloc((size_t)t->n_heads * lv + 1, sizeof *t->heads);
    if (!t->lv || !t->op_names || !t->head_names || !t->ops || !t->heads) {
        acc_table_free(t);
        return NULL;
    }
    memcpy(t->lv, o->levels, lv * sizeof *t->lv);
    for (int i = 0; i < t->n_ops; i++)
        snprintf(t->op_names[i], NET_NAME_MAX, "%s", net_op_at(n, i)->name);
    for (int i = 0; i < t->n_heads; i++)
        snprintf(t->head_names[i], NET_NAME_MAX, "%s", net_exit_at(n, i)->name);
    return t;
}

static bool table_args_ok(const net *n, const opp_table *o, const pwr_params *p, double ctrl_mhz,
                          acc_table **out, char *err, size_t errlen)
{
    if (!n || !o || !p || !out) {
        util_errf(err, errlen, "cost table: missing network, OPP table or power parameters");
        return false;
    }
    if (o->n < 1 || o->n > OPP_MAX_LEVELS) {
        util_errf(err, errlen, "cost table: OPP table '%s' has %d levels", o->name, o->n);
        return false;
    }
    for (int l = 0; l < o->n; l++)
        if (!level_ok(&o->levels[l])) {
            util_errf(err, errlen, "cost table: OPP level %d: frequency and voltage must be > 0",
                      l);
            return false;
        }
    if (!(isfinite(ctrl_mhz) && ctrl_mhz > 0)) {
        util_errf(err, errlen, "cost table: ctrl_mhz = %g: must be > 0", ctrl_mhz);
        return false;
    }
    return true;
}

int acc_table_build(const acc_config *a, const net *n, const opp_table *o, const pwr_params *p,
                    acc_table **out, char *err, size_t errlen)
{
    if (out) *out = NULL;
    int rc = acc_config_check(a, err, errlen);
    if (rc) return rc;
    if (!table_args_ok(n, o, p, a->ctrl_mhz, out, err, errlen)) return ACC_EARG;
    acc_table *t = table_new(n, o, p, a->ctrl_mhz);
    engine e;
    if (!t || engine_init(&e, a->cores)) {
        acc_table_free(t);
        util_errf(err, errlen, "cost table: out of memory");
        return ACC_ENOMEM;
    }
    int items = t->n_ops + t->n_heads;
    for (int i = 0; i < items && !rc; i++) {
        bool head = i >= t->n_ops;
        int idx = head ? i - t->n_ops : i;
        for (int l = 0; l < o->n && !rc; l++) {
            acc_cost *c = head ? &t->heads[(size_t)idx * (size_t)o->n + (size_t)l]
                               : &t->ops[(size_t)idx * (size_t)o->n + (size_t)l];
            uint64_t ev = 0;
            rc = engine_run(&e, a, n, head ? -1 : idx, head ? idx : -1, &o->levels[l], p, c, &ev);
            t->events += ev;
            if (rc)
                util_errf(err, errlen, "cost table: %s %s at level %d: simulation failed (%s)",
                          head ? "exit head" : "op", head ? t->head_names[idx] : t->op_names[idx],
                          l, rc == ACC_ENOMEM ? "out of memory" : "internal error");
        }
    }
    engine_free(&e);
    if (rc) {
        acc_table_free(t);
        return rc;
    }
    *out = t;
    return ACC_OK;
}

int acc_table_from_costs(const net *n, const opp_table *o, const pwr_params *p, double ctrl_mhz,
                         const acc_cost *ops, const acc_cost *heads, acc_table **out, char *err,
                         size_t errlen)
{
    if (out) *out = NULL;
    if (!table_args_ok(n, o, p, ctrl_mhz, out, err, errlen)) return ACC_EARG;
    if (!ops || (!heads && net_exit_count(n) > 0)) {
        util_errf(err, errlen, "cost table: missing op or head costs");
        return ACC_EARG;
    }
    acc_table *t = table_new(n, o, p, ctrl_mhz);
    if (!t) {
        util_errf(err, errlen, "cost table: out of memory");
        return ACC_ENOMEM;
    }
    memcpy(t->ops, ops, (size_t)t->n_ops * (size_t)t->levels * sizeof *ops);
    if (t->n_heads > 0)
        memcpy(t->heads, heads, (size_t)t->n_heads * (size_t)t->levels * sizeof *heads);
    *out = t;
    return ACC_OK;
}

const acc_cost *acc_op(const acc_table *t, int op, int level)
{
    if (!t || op < 0 || op >= t->n_ops || level < 0 || level >= t->levels) return NULL;
    return &t->ops[(size_t)op * (size_t)t->levels + (size_t)level];
}

const acc_cost *acc_head(const acc_table *t, int exit, int level)
{
    if (!t || exit < 0 || exit >= t->n_heads || level < 0 || level >= t->levels) return NULL;
    return &t->heads[(size_t)exit * (size_t)t->levels + (size_t)level];
}

/* The control processor runs one op a cycle at ctrl_mhz and v_ref: its dynamic energy is
 * ctrl_ops · ctrl_op_pj unscaled; its static power is not modelled (no static part). `cycles`
 * counts control-processor cycles. */
acc_cost acc_ctrl(const acc_table *t, uint64_t ops)
{
    acc_cost c = {0};
    if (!t) return c;
    c.cycles = ops;
    c.time_ns = (double)ops * PS_PER_NS / t->ctrl_mhz;
    c.compute_ns = c.time_ns;
    c.counts.ctrl_ops = ops;
    c.energy = pwr_energy_of(&t->p, &c.counts, t->p.v_ref_v, 0.0);
    return c;
}

int acc_levels(const acc_table *t)
{
    return t ? t->levels : 0;
}

uint64_t acc_build_events(const acc_table *t)
{
    return t ? t->events : 0;
}

/* ---- CSV import ---- */

static void trim(char **s)
{
    while (**s == ' ' || **s == '\t') (*s)++;
    char *end = *s + strlen(*s);
    while (end > *s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' || end[-1] == '\n'))
        *--end = '\0';
}

/* Split a line at commas into at most max trimmed fields; returns the field count. */
static int split_csv(char *line, char **f, int max)
{
    int k = 0;
    for (char *s = line;; s++) {
        char *comma = strchr(s, ',');
        if (k == max) return max + 1;
        if (comma) *comma = '\0';
        f[k] = s;
        trim(&f[k]);
        k++;
        if (!comma) return k;
        s = comma;
    }
}

static bool parse_int(const char *s, int *v)
{
    char *end;
    errno = 0;
    long x = strtol(s, &end, 10);
    if (!*s || *end || errno || x < 0 || x > INT32_MAX) return false;
    *v = (int)x;
    return true;
}

static bool parse_real(const char *s, double *v)
{
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    return *s && !*end && !errno && isfinite(*v) && *v >= 0;
}

/* Parses one data line into the costs; message in err on failure. `seen` holds the line
 * each (kind, index, level) was given on (0: not yet). */
static int import_line(acc_table *t, char *line, int lineno, int *seen, const char *path, char *err,
                       size_t errlen)
{
    static const char *const names[] = {"time_ns", "dynamic_nj", "static_nj"};
    char *f[CSV_FIELDS];
    int nf = split_csv(line, f, CSV_FIELDS);
    if (nf != CSV_FIELDS) {
        util_errf(err, errlen, "%s:%d: expected %d fields (%s), got %s%d", path, lineno, CSV_FIELDS,
                  CSV_HEADER, nf > CSV_FIELDS ? "more than " : "",
                  nf > CSV_FIELDS ? CSV_FIELDS : nf);
        return ACC_EFORMAT;
    }
    bool head = strcmp(f[0], "head") == 0;
    if (!head && strcmp(f[0], "op") != 0) {
        util_errf(err, errlen, "%s:%d: kind '%s' is not op or head", path, lineno, f[0]);
        return ACC_EFORMAT;
    }
    int count = head ? t->n_heads : t->n_ops, idx, lv;
    if (!parse_int(f[1], &idx) || idx >= count) {
        util_errf(err, errlen, "%s:%d: %s index '%s' is not in 0..%d", path, lineno, f[0], f[1],
                  count - 1);
        return ACC_EFORMAT;
    }
    if (!parse_int(f[2], &lv) || lv >= t->levels) {
        util_errf(err, errlen, "%s:%d: level '%s' is not in 0..%d", path, lineno, f[2],
                  t->levels - 1);
        return ACC_EFORMAT;
    }
    double v[3];
    for (int i = 0; i < 3; i++)
        if (!parse_real(f[3 + i], &v[i])) {
            util_errf(err, errlen, "%s:%d: %s '%s' is not a finite number >= 0", path, lineno,
                      names[i], f[3 + i]);
            return ACC_EFORMAT;
        }
    size_t slot = (size_t)idx * (size_t)t->levels + (size_t)lv;
    int *first = &seen[(head ? (size_t)t->n_ops * (size_t)t->levels : 0) + slot];
    if (*first) {
        util_errf(err, errlen, "%s:%d: %s %d level %d given twice (first on line %d)", path, lineno,
                  f[0], idx, lv, *first);
        return ACC_EFORMAT;
    }
    *first = lineno;
    acc_cost *c = head ? &t->heads[slot] : &t->ops[slot];
    *c = (acc_cost){0};
    c->time_ns = v[0];
    c->cycles = (uint64_t)llround(v[0] * t->lv[lv].freq_mhz / PS_PER_NS);
    c->energy.compute_nj = v[1];
    c->energy.static_nj = v[2];
    c->energy.total_nj = v[1] + v[2];
    return ACC_OK;
}

/* Reads every line of f into t; the first missing entry is an error too. */
static int import_lines(acc_table *t, FILE *f, int *seen, const char *path, char *err,
                        size_t errlen)
{
    char buf[LINE_MAX_LEN];
    int lineno = 0, rc = ACC_OK;
    bool header_ok = true;
    while (!rc && fgets(buf, sizeof buf, f)) {
        lineno++;
        if (!strchr(buf, '\n') && !feof(f)) {
            util_errf(err, errlen, "%s:%d: line longer than %d characters", path, lineno,
                      LINE_MAX_LEN - 2);
            return ACC_EFORMAT;
        }
        char *s = buf;
        trim(&s);
        if (!*s || *s == '#') continue;
        if (header_ok && strcmp(s, CSV_HEADER) == 0) {
            header_ok = false;
            continue;
        }
        header_ok = false;
        rc = import_line(t, s, lineno, seen, path, err, errlen);
    }
    if (rc) return rc;
    if (ferror(f)) {
        util_errf(err, errlen, "%s: read error", path);
        return ACC_EIO;
    }
    size_t n_ops = (size_t)t->n_ops * (size_t)t->levels;
    size_t total = n_ops + (size_t)t->n_heads * (size_t)t->levels;
    for (size_t i = 0; i < total; i++)
        if (!seen[i]) {
            bool head = i >= n_ops;
            size_t j = head ? i - n_ops : i;
            util_errf(err, errlen, "%s: no line for %s %zu level %zu", path, head ? "head" : "op",
                      j / (size_t)t->levels, j % (size_t)t->levels);
            return ACC_EFORMAT;
        }
    return ACC_OK;
}

int acc_table_import_csv(const char *path, const net *n, const opp_table *o, const pwr_params *p,
                         double ctrl_mhz, acc_table **out, char *err, size_t errlen)
{
    if (out) *out = NULL;
    if (!path) {
        util_errf(err, errlen, "cost table: no CSV path given");
        return ACC_EARG;
    }
    if (!table_args_ok(n, o, p, ctrl_mhz, out, err, errlen)) return ACC_EARG;
    FILE *f = fopen(path, "r");
    if (!f) {
        util_errf(err, errlen, "%s: %s", path, strerror(errno));
        return ACC_EIO;
    }
    int rc = ACC_ENOMEM;
    acc_table *t = table_new(n, o, p, ctrl_mhz);
    size_t total = ((size_t)net_op_count(n) + (size_t)net_exit_count(n)) * (size_t)o->n;
    int *seen = t ? calloc(total + 1, sizeof *seen) : NULL;
    if (!seen) {
        util_errf(err, errlen, "%s: out of memory", path);
        goto fail;
    }
    rc = import_lines(t, f, seen, path, err, errlen);
fail:
    free(seen);
    fclose(f);
    if (rc) {
        acc_table_free(t);
        return rc;
    }
    *out = t;
    return ACC_OK;
}

/* ---- printing ---- */

static int print_rows(const acc_table *t, FILE *out, bool csv, bool head)
{
    int count = head ? t->n_heads : t->n_ops;
    const char *kind = head ? "head" : "op";
    for (int i = 0; i < count; i++)
        for (int l = 0; l < t->levels; l++) {
            const acc_cost *c = head ? acc_head(t, i, l) : acc_op(t, i, l);
            double dyn = c->energy.compute_nj + c->energy.memory_nj;
            int w;
            if (csv)
                w = fprintf(out, "%s,%d,%d,%.17g,%.17g,%.17g\n", kind, i, l, c->time_ns, dyn,
                            c->energy.static_nj);
            else
                w = fprintf(out,
                            "%-4s %5d %-16s %5d %9.2f %6.3f %12" PRIu64 " %14.1f %14.3f %12.3f\n",
                            kind, i, head ? t->head_names[i] : t->op_names[i], l, t->lv[l].freq_mhz,
                            t->lv[l].vdd_v, c->cycles, c->time_ns, dyn, c->energy.static_nj);
            if (w < 0) return ACC_EIO;
        }
    return ACC_OK;
}

int acc_table_print(const acc_table *t, FILE *out, bool csv)
{
    if (!t || !out) return ACC_EARG;
    int w;
    if (csv)
        w = fprintf(out, "%s\n", CSV_HEADER);
    else
        w = fprintf(out,
                    "# cost table: %d ops, %d exit heads, %d levels, %" PRIu64 " DES events\n"
                    "%-4s %5s %-16s %5s %9s %6s %12s %14s %14s %12s\n",
                    t->n_ops, t->n_heads, t->levels, t->events, "kind", "index", "name", "level",
                    "freq_mhz", "vdd_v", "cycles", "time_ns", "dynamic_nj", "static_nj");
    if (w < 0) return ACC_EIO;
    int rc = print_rows(t, out, csv, false);
    if (!rc) rc = print_rows(t, out, csv, true);
    if (!rc && fflush(out)) rc = ACC_EIO;
    return rc;
}
