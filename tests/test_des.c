/* cmocka tests of the discrete-event core (sim/des.c): queue ordering and tie-breaking, a random
 * run checked against a linear-scan reference, reproducibility, and the simulator's dispatch,
 * stopping rules and error codes. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>

#include "des.h"

enum {
    BIG_N = 1000000,           /* events in the push-all-then-pop-all run */
    HOLD_PENDING = 1000,       /* pending events in the reference hold run */
    HOLD_OPS = 20000,          /* random operations in the reference hold run */
    HOLD_POP_PERCENT = 50,     /* share of pops once the hold run is full */
    PERCENT = 100,             /* denominator of HOLD_POP_PERCENT */
    SMALL_TIME_RANGE = 1 << 8, /* few distinct times, so ties are common */
    SMALL_PRIO_RANGE = 4,      /* few distinct priorities, so ties reach the sequence */
    GROW_N = 10000,            /* pushes into a queue created with capacity 1 */
    ERR_PRIO = -2,
    ERR_OVERFLOW = -3,
    ERR_PAST = -4,
    ERR_NO_HANDLER = -5,
    LOG_MAX = 64, /* entries kept by the recording handler */
};

static const uint64_t SEED = 0x0123456789abcdefULL;
static const uint64_t OTHER_SEED = 0xfedcba9876543210ULL;
static const uint64_t FNV_OFFSET = 0xcbf29ce484222325ULL;
static const uint64_t FNV_PRIME = 0x100000001b3ULL;

/* splitmix64 (Steele, Lea, Flood 2014). */
static uint64_t rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static des_event make_event(des_type type, uint16_t unit, uint32_t sample, uint64_t arg)
{
    des_event ev = {.type = (uint16_t)type, .unit = unit, .sample = sample, .arg = arg};
    return ev;
}

/* True when a must pop strictly before b. */
static bool before(const des_event *a, const des_event *b)
{
    return a->time_ps < b->time_ps || (a->time_ps == b->time_ps && a->key < b->key);
}

static uint64_t hash_mix(uint64_t h, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        h ^= (v >> (8 * i)) & 0xff;
        h *= FNV_PRIME;
    }
    return h;
}

/* ---- bare queue ---- */

static void test_queue_empty_and_bad_capacity(void **state)
{
    (void)state;
    des_queue *q = des_queue_new(0);
    assert_non_null(q);
    des_event ev = make_event(DES_ARRIVAL, 1, 2, 3);
    assert_int_equal(des_queue_len(q), 0);
    assert_false(des_pop(q, &ev));
    assert_false(des_peek(q, &ev));
    assert_int_equal(ev.arg, 3); /* untouched when empty */
    des_queue_free(q);
    assert_null(des_queue_new(SIZE_MAX)); /* byte count overflows */
    des_queue_free(NULL);
}

static void test_order_by_time(void **state)
{
    (void)state;
    static const uint64_t times[] = {50, 10, 30, 20, 40, 0};
    static const uint64_t sorted[] = {0, 10, 20, 30, 40, 50};
    enum { N = sizeof(times) / sizeof(times[0]) };
    des_queue *q = des_queue_new(N);
    assert_non_null(q);
    for (unsigned i = 0; i < N; i++) {
        des_event ev = make_event(DES_DMA_DONE, (uint16_t)i, 100 + i, times[i] * 7);
        assert_int_equal(des_push(q, times[i], DES_PRIO_MAX - i, &ev), 0);
    }
    assert_int_equal(des_queue_len(q), N);
    des_event ev;
    assert_true(des_peek(q, &ev));
    assert_int_equal(ev.time_ps, 0);
    assert_int_equal(des_queue_len(q), N);
    for (unsigned i = 0; i < N; i++) {
        assert_true(des_pop(q, &ev));
        assert_int_equal(ev.time_ps, sorted[i]);
        assert_int_equal(ev.arg, sorted[i] * 7); /* payload travels with its time */
        assert_int_equal(ev.type, DES_DMA_DONE);
        assert_int_equal(times[ev.unit], ev.time_ps);
        assert_int_equal(ev.sample, 100 + ev.unit);
        assert_int_equal(des_event_seq(&ev), ev.unit);
        assert_int_equal(des_event_prio(&ev), DES_PRIO_MAX - ev.unit);
    }
    assert_false(des_pop(q, &ev));
    des_queue_free(q);
}

static void test_ties_prio_then_insertion(void **state)
{
    (void)state;
    /* All at time 100 except the last, which is earlier and has the worst priority. */
    static const struct {
        uint64_t time;
        unsigned prio;
    } in[] = {{100, 3}, {100, 1}, {100, 3}, {100, 0}, {100, 1}, {100, 3}, {99, DES_PRIO_MAX}};
    /* Expected pop order as insertion indices. */
    static const unsigned want[] = {6, 3, 1, 4, 0, 2, 5};
    enum { N = sizeof(in) / sizeof(in[0]) };
    des_queue *q = des_queue_new(1);
    assert_non_null(q);
    for (unsigned i = 0; i < N; i++) {
        des_event ev = make_event(DES_LAYER_DONE, 0, i, 0);
        assert_int_equal(des_push(q, in[i].time, in[i].prio, &ev), 0);
    }
    for (unsigned i = 0; i < N; i++) {
        des_event ev;
        assert_true(des_pop(q, &ev));
        assert_int_equal(ev.sample, want[i]);
        assert_int_equal(des_event_seq(&ev), want[i]);
        assert_int_equal(des_event_prio(&ev), in[want[i]].prio);
        assert_int_equal(ev.time_ps, in[want[i]].time);
    }
    assert_int_equal(des_queue_len(q), 0);
    des_queue_free(q);
}

static void test_prio_range(void **state)
{
    (void)state;
    des_queue *q = des_queue_new(4);
    assert_non_null(q);
    des_event ev = make_event(DES_ARRIVAL, 0, 0, 0);
    assert_int_equal(des_push(q, 5, DES_PRIO_MAX + 1, &ev), ERR_PRIO);
    assert_int_equal(des_push(q, 5, UINT32_MAX, &ev), ERR_PRIO);
    assert_int_equal(des_queue_len(q), 0);
    assert_int_equal(des_push(q, 5, DES_PRIO_MAX, &ev), 0);
    assert_int_equal(des_push(q, 5, DES_PRIO_MIN, &ev), 0);
    assert_true(des_pop(q, &ev));
    assert_int_equal(des_event_prio(&ev), DES_PRIO_MIN);
    assert_int_equal(des_event_seq(&ev), 1); /* refused pushes used no sequence number */
    assert_true(des_pop(q, &ev));
    assert_int_equal(des_event_prio(&ev), DES_PRIO_MAX);
    assert_int_equal(des_event_seq(&ev), 0);
    assert_int_equal(ev.key, (uint64_t)DES_PRIO_MAX << 48);
    des_queue_free(q);
}

static void test_clear_restarts_sequence(void **state)
{
    (void)state;
    des_queue *q = des_queue_new(2);
    assert_non_null(q);
    des_event ev = make_event(DES_ARRIVAL, 0, 0, 0);
    for (int i = 0; i < 3; i++) assert_int_equal(des_push(q, 10, 0, &ev), 0);
    des_queue_clear(q);
    assert_int_equal(des_queue_len(q), 0);
    assert_false(des_peek(q, &ev));
    assert_int_equal(des_push(q, 7, 2, &ev), 0);
    assert_true(des_pop(q, &ev));
    assert_int_equal(ev.time_ps, 7);
    assert_int_equal(des_event_seq(&ev), 0);
    assert_int_equal(des_event_prio(&ev), 2);
    des_queue_free(q);
}

/* Pushes far past the initial capacity, in decreasing time so every push sifts to the root. */
static void test_growth(void **state)
{
    (void)state;
    des_queue *q = des_queue_new(1);
    assert_non_null(q);
    for (uint64_t i = 0; i < GROW_N; i++) {
        des_event ev = make_event(DES_ARRIVAL, 0, 0, i);
        assert_int_equal(des_push(q, GROW_N - i, 0, &ev), 0);
    }
    assert_int_equal(des_queue_len(q), GROW_N);
    for (uint64_t i = 0; i < GROW_N; i++) {
        des_event ev;
        assert_true(des_pop(q, &ev));
        assert_int_equal(ev.time_ps, i + 1);
        assert_int_equal(ev.arg, GROW_N - 1 - i);
    }
    des_queue_free(q);
}

/* 10^6 random events with many ties: popped in strictly increasing (time, key), none lost. */
static void test_random_million(void **state)
{
    (void)state;
    des_queue *q = des_queue_new(0);
    assert_non_null(q);
    uint64_t rng = SEED;
    for (uint32_t i = 0; i < BIG_N; i++) {
        uint64_t r = rng_next(&rng);
        des_event ev = make_event(DES_COMPUTE_DONE, 0, i, r);
        unsigned prio = (unsigned)(r >> 32) % SMALL_PRIO_RANGE;
        assert_int_equal(des_push(q, r % SMALL_TIME_RANGE, prio, &ev), 0);
    }
    assert_int_equal(des_queue_len(q), BIG_N);
    des_event prev, ev;
    size_t popped = 0;
    while (des_pop(q, &ev)) {
        if (popped > 0 && !before(&prev, &ev)) fail_msg("pop %zu out of order", popped);
        if (des_event_seq(&ev) != ev.sample || ev.time_ps != ev.arg % SMALL_TIME_RANGE)
            fail_msg("pop %zu: payload does not match its key", popped);
        prev = ev;
        popped++;
    }
    assert_int_equal(popped, BIG_N);
    assert_int_equal(prev.time_ps, SMALL_TIME_RANGE - 1);
    des_queue_free(q);
}

/* Index of the earliest event in ref[0..n), by linear scan. */
static size_t ref_min(const des_event *ref, size_t n)
{
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (before(&ref[i], &ref[best])) best = i;
    return best;
}

/* Interleaved pushes and pops (hold model around HOLD_PENDING events) against a linear-scan
 * reference that assigns keys the same way. */
static void test_hold_against_reference(void **state)
{
    (void)state;
    des_queue *q = des_queue_new(0);
    des_event *ref = malloc((HOLD_OPS + 1) * sizeof(*ref));
    assert_non_null(q);
    assert_non_null(ref);
    size_t n = 0, pops = 0;
    uint64_t rng = SEED, seq = 0, now = 0;
    for (uint32_t op = 0; op < HOLD_OPS; op++) {
        uint64_t r = rng_next(&rng);
        bool pop = n >= HOLD_PENDING && r % PERCENT < HOLD_POP_PERCENT;
        if (pop || (n > 0 && r % PERCENT == 0)) {
            size_t m = ref_min(ref, n);
            des_event ev;
            assert_true(des_pop(q, &ev));
            assert_int_equal(ev.time_ps, ref[m].time_ps);
            assert_int_equal(ev.key, ref[m].key);
            assert_int_equal(ev.sample, ref[m].sample);
            assert_int_equal(ev.arg, ref[m].arg);
            assert_true(ev.time_ps >= now);
            now = ev.time_ps;
            ref[m] = ref[--n];
            pops++;
        } else {
            unsigned prio = (unsigned)(r >> 40) % SMALL_PRIO_RANGE;
            des_event ev = make_event(DES_EXIT_EVALUATED, 0, op, r);
            uint64_t t = now + (r >> 8) % SMALL_TIME_RANGE;
            assert_int_equal(des_push(q, t, prio, &ev), 0);
            ev.time_ps = t;
            ev.key = (uint64_t)prio << 48 | seq++;
            ref[n++] = ev;
        }
        assert_int_equal(des_queue_len(q), n);
    }
    assert_true(pops > HOLD_OPS / 4);
    des_queue_free(q);
    free(ref);
}

/* Hash of the pop sequence of a seeded hold run; *count gets the number of pops. */
static uint64_t hold_hash(des_queue *q, uint64_t seed, size_t *count)
{
    uint64_t rng = seed, h = FNV_OFFSET;
    *count = 0;
    for (uint32_t i = 0; i < HOLD_PENDING; i++) {
        uint64_t r = rng_next(&rng);
        des_event ev = make_event(DES_ARRIVAL, 0, i, r);
        assert_int_equal(des_push(q, r % SMALL_TIME_RANGE, (unsigned)(r >> 32) % 2, &ev), 0);
    }
    des_event ev;
    for (uint32_t i = 0; i < HOLD_OPS; i++) {
        assert_true(des_pop(q, &ev));
        h = hash_mix(hash_mix(hash_mix(h, ev.time_ps), ev.key), ev.arg);
        (*count)++;
        uint64_t r = rng_next(&rng);
        ev.arg = r;
        assert_int_equal(des_push(q, ev.time_ps + r % SMALL_TIME_RANGE, 0, &ev), 0);
    }
    while (des_pop(q, &ev)) {
        h = hash_mix(hash_mix(hash_mix(h, ev.time_ps), ev.key), ev.arg);
        (*count)++;
    }
    return h;
}

static void test_rerun_identical(void **state)
{
    (void)state;
    des_queue *a = des_queue_new(0), *b = des_queue_new(HOLD_PENDING);
    assert_non_null(a);
    assert_non_null(b);
    size_t na, nb, nc, nd;
    uint64_t ha = hold_hash(a, SEED, &na);
    uint64_t hb = hold_hash(b, SEED, &nb);
    des_queue_clear(a);
    uint64_t hc = hold_hash(a, SEED, &nc);
    uint64_t hd = hold_hash(b, OTHER_SEED, &nd);
    assert_int_equal(na, HOLD_PENDING + HOLD_OPS);
    assert_int_equal(nb, na);
    assert_int_equal(nc, na);
    assert_int_equal(nd, na);
    assert_int_equal(ha, hb);
    assert_int_equal(ha, hc);
    assert_int_not_equal(ha, hd); /* the hash does depend on the sequence */
    des_queue_free(a);
    des_queue_free(b);
}

/* ---- simulator ---- */

/* What a recording handler saw. */
typedef struct log_entry {
    uint64_t now_ps;
    uint64_t time_ps;
    uint16_t type;
    uint64_t arg;
    uint64_t seq;
    int ctx_id;
} log_entry;

typedef struct sim_log {
    log_entry e[LOG_MAX];
    size_t n;
    size_t fail_at; /* return fail_rc on this entry (0: never) */
    int fail_rc;
} sim_log;

/* Handler context: an identity and the shared log. */
typedef struct rec_ctx {
    int id;
    sim_log *log;
} rec_ctx;

static int record(des_sim *sim, const des_event *ev, void *ctx)
{
    rec_ctx *c = ctx;
    sim_log *log = c->log;
    if (log->n >= LOG_MAX) return -100;
    log->e[log->n] = (log_entry){.now_ps = des_now_ps(sim),
                                 .time_ps = ev->time_ps,
                                 .type = ev->type,
                                 .arg = ev->arg,
                                 .seq = des_event_seq(ev),
                                 .ctx_id = c->id};
    log->n++;
    return log->n == log->fail_at ? log->fail_rc : 0;
}

static void test_sim_dispatch(void **state)
{
    (void)state;
    des_sim *sim = des_sim_new(0);
    assert_non_null(sim);
    sim_log log = {0};
    rec_ctx ca = {1, &log}, cb = {2, &log};
    des_on(sim, DES_ARRIVAL, record, &ca);
    des_on(sim, DES_DMA_DONE, record, &cb);
    des_on(sim, DES_TYPE_COUNT, record, &cb); /* out of range: ignored */
    des_event a = make_event(DES_ARRIVAL, 0, 0, 11), d = make_event(DES_DMA_DONE, 0, 0, 22);
    assert_int_equal(des_schedule(sim, 300, 0, &d), 0);
    assert_int_equal(des_schedule_at(sim, 100, 0, &a), 0);
    assert_int_equal(des_schedule(sim, 300, 0, &a), 0); /* same time as d, inserted later */
    assert_int_equal(des_pending(sim), 3);
    assert_int_equal(des_now_ps(sim), 0);
    assert_int_equal(des_run_until(sim, UINT64_MAX), 0);
    assert_int_equal(log.n, 3);
    static const struct {
        uint64_t now;
        uint16_t type;
        int ctx;
        uint64_t arg;
    } want[] = {{100, DES_ARRIVAL, 1, 11}, {300, DES_DMA_DONE, 2, 22}, {300, DES_ARRIVAL, 1, 11}};
    for (size_t i = 0; i < log.n; i++) {
        assert_int_equal(log.e[i].now_ps, want[i].now);
        assert_int_equal(log.e[i].time_ps, want[i].now);
        assert_int_equal(log.e[i].type, want[i].type);
        assert_int_equal(log.e[i].ctx_id, want[i].ctx);
        assert_int_equal(log.e[i].arg, want[i].arg);
    }
    assert_int_equal(des_now_ps(sim), 300);
    assert_int_equal(des_events_processed(sim), 3);
    assert_int_equal(des_pending(sim), 0);
    assert_int_equal(des_run_until(sim, UINT64_MAX), 0); /* empty: nothing to do */
    assert_int_equal(des_events_processed(sim), 3);
    des_sim_free(sim);
}

enum { CHAIN_STEP_PS = 250, CHAIN_LEN = 5 };

/* Each event schedules the next, CHAIN_STEP_PS later, until arg reaches CHAIN_LEN. */
static int chain(des_sim *sim, const des_event *ev, void *ctx)
{
    uint64_t *seen = ctx;
    *seen = *seen * 10 + ev->arg;
    if (des_now_ps(sim) != ev->time_ps) return -200;
    if (ev->arg + 1 >= CHAIN_LEN) return 0;
    des_event next = *ev;
    next.arg++;
    next.type = ev->type == DES_DMA_DONE ? DES_COMPUTE_DONE : DES_DMA_DONE;
    return des_schedule(sim, CHAIN_STEP_PS, 0, &next);
}

static void test_sim_handler_schedules(void **state)
{
    (void)state;
    des_sim *sim = des_sim_new(1);
    assert_non_null(sim);
    uint64_t seen = 0;
    des_on(sim, DES_DMA_DONE, chain, &seen);
    des_on(sim, DES_COMPUTE_DONE, chain, &seen);
    des_event ev = make_event(DES_DMA_DONE, 0, 0, 0);
    assert_int_equal(des_schedule_at(sim, 1000, 0, &ev), 0);
    assert_int_equal(des_run_until(sim, UINT64_MAX), 0);
    assert_int_equal(seen, 1234); /* args 0, 1, 2, 3, 4 in order */
    assert_int_equal(des_now_ps(sim), 1000 + (CHAIN_LEN - 1) * CHAIN_STEP_PS);
    assert_int_equal(des_events_processed(sim), CHAIN_LEN);
    assert_int_equal(des_pending(sim), 0);
    des_sim_free(sim);
}

static void test_run_until_stops(void **state)
{
    (void)state;
    des_sim *sim = des_sim_new(0);
    assert_non_null(sim);
    sim_log log = {0};
    rec_ctx c = {1, &log};
    des_on(sim, DES_LAYER_DONE, record, &c);
    for (uint64_t t = 10; t <= 40; t += 10) {
        des_event ev = make_event(DES_LAYER_DONE, 0, 0, t);
        assert_int_equal(des_schedule_at(sim, t, 0, &ev), 0);
    }
    assert_int_equal(des_run_until(sim, 25), 0);
    assert_int_equal(log.n, 2);
    assert_int_equal(des_now_ps(sim), 20); /* last processed event, not until_ps */
    assert_int_equal(des_pending(sim), 2);
    assert_int_equal(des_run_until(sim, 25), 0);
    assert_int_equal(log.n, 2);
    assert_int_equal(des_run_until(sim, 30), 0); /* until is inclusive */
    assert_int_equal(log.n, 3);
    assert_int_equal(des_now_ps(sim), 30);
    assert_int_equal(des_run_until(sim, 5), 0); /* until in the past: nothing */
    assert_int_equal(des_now_ps(sim), 30);
    assert_int_equal(des_pending(sim), 1);
    assert_int_equal(des_run_until(sim, UINT64_MAX), 0);
    assert_int_equal(log.n, 4);
    assert_int_equal(log.e[3].now_ps, 40);
    assert_int_equal(des_now_ps(sim), 40);
    assert_int_equal(des_events_processed(sim), 4);
    des_sim_free(sim);
}

static void test_handler_error_propagates(void **state)
{
    (void)state;
    enum { HANDLER_RC = 7 };
    des_sim *sim = des_sim_new(0);
    assert_non_null(sim);
    sim_log log = {.fail_at = 2, .fail_rc = HANDLER_RC};
    rec_ctx c = {1, &log};
    des_on(sim, DES_DEADLINE, record, &c);
    for (uint64_t t = 1; t <= 3; t++) {
        des_event ev = make_event(DES_DEADLINE, 0, 0, t);
        assert_int_equal(des_schedule_at(sim, t, 0, &ev), 0);
    }
    assert_int_equal(des_run_until(sim, UINT64_MAX), HANDLER_RC);
    assert_int_equal(log.n, 2);
    assert_int_equal(des_now_ps(sim), 2);
    assert_int_equal(des_events_processed(sim), 2);
    assert_int_equal(des_pending(sim), 1);
    assert_int_equal(des_run_until(sim, UINT64_MAX), 0); /* the run can resume */
    assert_int_equal(log.n, 3);
    assert_int_equal(des_now_ps(sim), 3);
    des_sim_free(sim);
}

static void test_missing_handler(void **state)
{
    (void)state;
    des_sim *sim = des_sim_new(0);
    assert_non_null(sim);
    sim_log log = {0};
    rec_ctx c = {1, &log};
    des_on(sim, DES_ARRIVAL, record, &c);
    des_event ok = make_event(DES_ARRIVAL, 0, 0, 0);
    des_event none = make_event(DES_DVFS_DONE, 0, 0, 0);
    assert_int_equal(des_schedule_at(sim, 10, 0, &ok), 0);
    assert_int_equal(des_schedule_at(sim, 20, 0, &none), 0);
    assert_int_equal(des_run_until(sim, UINT64_MAX), ERR_NO_HANDLER);
    assert_int_equal(log.n, 1);
    assert_int_equal(des_now_ps(sim), 10); /* the failing event is not consumed */
    assert_int_equal(des_pending(sim), 1);
    assert_int_equal(des_events_processed(sim), 1);

    des_on(sim, DES_DVFS_DONE, record, &c); /* register it: the run completes */
    assert_int_equal(des_run_until(sim, UINT64_MAX), 0);
    assert_int_equal(log.n, 2);
    assert_int_equal(log.e[1].type, DES_DVFS_DONE);
    des_on(sim, DES_DVFS_DONE, NULL, NULL); /* and unregister it again */
    assert_int_equal(des_schedule(sim, 5, 0, &none), 0);
    assert_int_equal(des_run_until(sim, UINT64_MAX), ERR_NO_HANDLER);
    assert_int_equal(des_now_ps(sim), 20);

    des_sim_reset(sim);
    des_event bad = make_event(DES_ARRIVAL, 0, 0, 0);
    bad.type = DES_TYPE_COUNT; /* out of range */
    assert_int_equal(des_schedule(sim, 1, 0, &bad), 0);
    assert_int_equal(des_run_until(sim, UINT64_MAX), ERR_NO_HANDLER);
    bad.type = UINT16_MAX;
    des_sim_reset(sim);
    assert_int_equal(des_schedule(sim, 1, 0, &bad), 0);
    assert_int_equal(des_run_until(sim, UINT64_MAX), ERR_NO_HANDLER);
    assert_int_equal(des_pending(sim), 1);
    des_sim_free(sim);
}

/* Move the clock of a fresh sim to t by running one DES_ARRIVAL there, recorded through c. */
static void advance_to(des_sim *sim, rec_ctx *c, uint64_t t)
{
    des_on(sim, DES_ARRIVAL, record, c);
    des_event ev = make_event(DES_ARRIVAL, 0, 0, 0);
    assert_int_equal(des_schedule_at(sim, t, 0, &ev), 0);
    assert_int_equal(des_run_until(sim, UINT64_MAX), 0);
    assert_int_equal(des_now_ps(sim), t);
}

static void test_schedule_overflow(void **state)
{
    (void)state;
    enum { NOW = 1000 };
    des_sim *sim = des_sim_new(0);
    assert_non_null(sim);
    sim_log log = {0};
    rec_ctx c = {1, &log};
    advance_to(sim, &c, NOW);
    des_event ev = make_event(DES_ARRIVAL, 0, 0, 0);
    assert_int_equal(des_schedule(sim, UINT64_MAX - NOW + 1, 0, &ev), ERR_OVERFLOW);
    assert_int_equal(des_schedule(sim, UINT64_MAX, 0, &ev), ERR_OVERFLOW);
    assert_int_equal(des_pending(sim), 0);
    assert_int_equal(des_schedule(sim, UINT64_MAX - NOW, 0, &ev), 0); /* exactly UINT64_MAX */
    assert_int_equal(des_run_until(sim, UINT64_MAX), 0);
    assert_int_equal(des_now_ps(sim), UINT64_MAX);
    assert_int_equal(des_schedule(sim, 1, 0, &ev), ERR_OVERFLOW);
    assert_int_equal(des_schedule(sim, 0, 0, &ev), 0);
    des_sim_free(sim);
}

static void test_schedule_at_past(void **state)
{
    (void)state;
    enum { NOW = 100 };
    des_sim *sim = des_sim_new(0);
    assert_non_null(sim);
    sim_log log = {0};
    rec_ctx c = {1, &log};
    advance_to(sim, &c, NOW);
    des_event ev = make_event(DES_ARRIVAL, 0, 0, 0);
    assert_int_equal(des_schedule_at(sim, NOW - 1, 0, &ev), ERR_PAST);
    assert_int_equal(des_schedule_at(sim, 0, 0, &ev), ERR_PAST);
    assert_int_equal(des_pending(sim), 0);
    assert_int_equal(des_schedule_at(sim, NOW, 0, &ev), 0); /* now itself is allowed */
    assert_int_equal(des_pending(sim), 1);
    des_sim_free(sim);
}

static void test_sim_prio_range(void **state)
{
    (void)state;
    des_sim *sim = des_sim_new(0);
    assert_non_null(sim);
    des_event ev = make_event(DES_ARRIVAL, 0, 0, 0);
    assert_int_equal(des_schedule(sim, 1, DES_PRIO_MAX + 1, &ev), ERR_PRIO);
    assert_int_equal(des_schedule_at(sim, 1, DES_PRIO_MAX + 1, &ev), ERR_PRIO);
    assert_int_equal(des_pending(sim), 0);
    assert_int_equal(des_schedule_at(sim, 1, DES_PRIO_MAX, &ev), 0);
    assert_int_equal(des_pending(sim), 1);
    des_sim_free(sim);
}

static void test_sim_reset(void **state)
{
    (void)state;
    des_sim *sim = des_sim_new(0);
    assert_non_null(sim);
    sim_log log = {0};
    rec_ctx c = {1, &log};
    advance_to(sim, &c, 500);
    des_event ev = make_event(DES_ARRIVAL, 0, 0, 9);
    assert_int_equal(des_schedule(sim, 10, 0, &ev), 0);
    assert_int_equal(des_schedule(sim, 20, 0, &ev), 0);
    des_sim_reset(sim);
    assert_int_equal(des_now_ps(sim), 0);
    assert_int_equal(des_events_processed(sim), 0);
    assert_int_equal(des_pending(sim), 0);
    assert_int_equal(des_run_until(sim, UINT64_MAX), 0);
    assert_int_equal(log.n, 1);
    assert_int_equal(des_schedule_at(sim, 5, 0, &ev), 0); /* 5 < 500: the clock really is 0 */
    assert_int_equal(des_run_until(sim, UINT64_MAX), 0);  /* handler kept */
    assert_int_equal(log.n, 2);
    assert_int_equal(log.e[1].now_ps, 5);
    assert_int_equal(log.e[1].arg, 9);
    assert_int_equal(log.e[1].seq, 0); /* sequence restarted */
    assert_int_equal(des_events_processed(sim), 1);
    des_sim_free(sim);
    des_sim_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_queue_empty_and_bad_capacity),
        cmocka_unit_test(test_order_by_time),
        cmocka_unit_test(test_ties_prio_then_insertion),
        cmocka_unit_test(test_prio_range),
        cmocka_unit_test(test_clear_restarts_sequence),
        cmocka_unit_test(test_growth),
        cmocka_unit_test(test_random_million),
        cmocka_unit_test(test_hold_against_reference),
        cmocka_unit_test(test_rerun_identical),
        cmocka_unit_test(test_sim_dispatch),
        cmocka_unit_test(test_sim_handler_schedules),
        cmocka_unit_test(test_run_until_stops),
        cmocka_unit_test(test_handler_error_propagates),
        cmocka_unit_test(test_missing_handler),
        cmocka_unit_test(test_schedule_overflow),
        cmocka_unit_test(test_schedule_at_past),
        cmocka_unit_test(test_sim_prio_range),
        cmocka_unit_test(test_sim_reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
