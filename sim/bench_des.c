/* Event-queue benchmark for `pesim bench`: hold-model throughput (pop the earliest event, push one
 * at its time plus a random increment) of a bare 16-byte binary heap, des_queue and the full
 * des_sim dispatch path, at several numbers of pending events. */
#include "bench.h"
#include "des.h"

#include <stdint.h>
#include <stdlib.h>
#include <time.h>

enum {
    BENCH_BATCH_OPS = 1 << 14,      /* hold operations between two clock reads */
    BENCH_INC_MASK = (1 << 20) - 1, /* time increments are uniform in [0, 2^20) ps */
    BENCH_STOP = 1,                 /* handler result that ends one des_run_until batch */
    BENCH_NAME_MAX = 32,            /* longest column header */
};

static const size_t bench_pending[] = {10, 1000, 100000};
#define BENCH_NPENDING (sizeof(bench_pending) / sizeof(bench_pending[0]))

static const uint64_t BENCH_SEED = 0x5eed5eed5eed5eedULL;
static const double NS_PER_S = 1e9;
static const double EVENTS_PER_M = 1e6;

/* Checksum of popped times, so the compiler cannot drop the work. */
static volatile uint64_t bench_sink;

/* splitmix64 (Steele, Lea, Flood 2014): fast, seedable, good enough for time increments. */
static uint64_t bench_rng(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double bench_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / NS_PER_S;
}

/* ---- (a) bare binary heap of 16-byte events: the ceiling the real queue is compared with ---- */

typedef struct bare_ev {
    uint64_t time;
    uint64_t key;
} bare_ev;

typedef struct bare_heap {
    bare_ev *h;
    size_t len;
    uint64_t seq;
} bare_heap;

static inline int bare_before(const bare_ev *a, const bare_ev *b)
{
    return a->time < b->time || (a->time == b->time && a->key < b->key);
}

static void bare_push(bare_heap *q, uint64_t time)
{
    bare_ev e = {time, q->seq++};
    size_t i = q->len++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!bare_before(&e, &q->h[parent])) break;
        q->h[i] = q->h[parent];
        i = parent;
    }
    q->h[i] = e;
}

/* Remove and return the earliest event; the heap must not be empty. */
static bare_ev bare_pop(bare_heap *q)
{
    bare_ev top = q->h[0];
    size_t len = --q->len;
    bare_ev last = q->h[len];
    size_t i = 0;
    size_t child;
    while ((child = 2 * i + 1) < len) {
        if (child + 1 < len && bare_before(&q->h[child + 1], &q->h[child])) child++;
        if (!bare_before(&q->h[child], &last)) break;
        q->h[i] = q->h[child];
        i = child;
    }
    q->h[i] = last;
    return top;
}

/* ---- the three contenders, each run as a batch of hold operations ---- */

typedef struct bench_state {
    uint64_t rng;
    uint64_t sum;
    uint64_t left; /* des_sim: operations left in the current batch */
    bare_heap bare;
    des_queue *queue;
    des_sim *sim;
} bench_state;

static int bare_batch(bench_state *st, uint64_t ops)
{
    for (uint64_t i = 0; i < ops; i++) {
        bare_ev e = bare_pop(&st->bare);
        st->sum += e.time;
        bare_push(&st->bare, e.time + (bench_rng(&st->rng) & BENCH_INC_MASK));
    }
    return 0;
}

static int queue_batch(bench_state *st, uint64_t ops)
{
    des_event e;
    for (uint64_t i = 0; i < ops; i++) {
        if (!des_pop(st->queue, &e)) return -1;
        st->sum += e.time_ps;
        int rc = des_push(st->queue, e.time_ps + (bench_rng(&st->rng) & BENCH_INC_MASK),
                          DES_PRIO_MIN, &e);
        if (rc) return rc;
    }
    return 0;
}

/* des_sim handler: reschedule the same event; stop the run when the batch is done. */
static int hold_handler(des_sim *sim, const des_event *ev, void *ctx)
{
    bench_state *st = ctx;
    st->sum += ev->time_ps;
    int rc = des_schedule(sim, bench_rng(&st->rng) & BENCH_INC_MASK, DES_PRIO_MIN, ev);
    if (rc) return rc;
    return --st->left == 0 ? BENCH_STOP : 0;
}

static int sim_batch(bench_state *st, uint64_t ops)
{
    if (ops == 0) return 0;
    st->left = ops;
    int rc = des_run_until(st->sim, UINT64_MAX);
    if (rc == BENCH_STOP) return 0;
    return rc ? rc : -1; /* 0 would mean the queue ran dry, which a hold model never does */
}

static int bare_fill_one(bench_state *st, uint64_t time_ps)
{
    bare_push(&st->bare, time_ps);
    return 0;
}

static int queue_fill_one(bench_state *st, uint64_t time_ps)
{
    des_event ev = {.type = DES_ARRIVAL};
    return des_push(st->queue, time_ps, DES_PRIO_MIN, &ev);
}

static int sim_fill_one(bench_state *st, uint64_t time_ps)
{
    des_event ev = {.type = DES_ARRIVAL};
    return des_schedule_at(st->sim, time_ps, DES_PRIO_MIN, &ev);
}

/* One column of the table: how to insert an initial event and how to run hold operations. */
typedef struct bench_contender {
    const char *name;
    const char *what; /* legend line */
    int (*fill_one)(bench_state *st, uint64_t time_ps);
    int (*batch)(bench_state *st, uint64_t ops);
} bench_contender;

static const bench_contender bench_contenders[] = {
    {"bare", "16-byte {time, key} binary heap, the baseline", bare_fill_one, bare_batch},
    {"queue", "des_queue with the 32-byte des_event", queue_fill_one, queue_batch},
    {"sim", "des_sim: des_run_until dispatching a handler that reschedules", sim_fill_one,
     sim_batch},
};
enum { BENCH_NCONTENDERS = sizeof(bench_contenders) / sizeof(bench_contenders[0]) };

/* Run batches for at least min_seconds after a warm-up; M events/s in *meps. */
static int bench_measure(const bench_contender *c, size_t pending, double min_seconds, double *meps)
{
    bench_state st = {.rng = BENCH_SEED};
    int rc = -1;
    st.bare.h = malloc(pending * sizeof(bare_ev));
    st.queue = des_queue_new(pending);
    st.sim = des_sim_new(pending);
    if (!st.bare.h || !st.queue || !st.sim) goto out;
    des_on(st.sim, DES_ARRIVAL, hold_handler, &st);

    for (size_t i = 0; i < pending; i++) {
        rc = c->fill_one(&st, bench_rng(&st.rng) & BENCH_INC_MASK);
        if (rc) goto out;
    }
    uint64_t warmup = pending > BENCH_BATCH_OPS ? pending : BENCH_BATCH_OPS;
    rc = c->batch(&st, warmup);
    if (rc) goto out;

    uint64_t ops = 0;
    double start = bench_now_s(), elapsed;
    do {
        rc = c->batch(&st, BENCH_BATCH_OPS);
        if (rc) goto out;
        ops += BENCH_BATCH_OPS;
        elapsed = bench_now_s() - start;
    } while (elapsed < min_seconds);
    *meps = (double)ops / elapsed / EVENTS_PER_M;
    bench_sink += st.sum;

out:
    des_sim_free(st.sim);
    des_queue_free(st.queue);
    free(st.bare.h);
    return rc;
}

int bench_des(FILE *out, double min_seconds)
{
    fprintf(out,
            "event queue, hold model: M events/s (one event = one push + one pop), "
            ">= %.2f s each\n",
            min_seconds);
    for (size_t f = 0; f < BENCH_NCONTENDERS; f++)
        fprintf(out, "  %-6s %s\n", bench_contenders[f].name, bench_contenders[f].what);
    fprintf(out, "%9s", "pending");
    for (size_t f = 0; f < BENCH_NCONTENDERS; f++) fprintf(out, " %10s", bench_contenders[f].name);
    for (size_t f = 1; f < BENCH_NCONTENDERS; f++) {
        char ratio[BENCH_NAME_MAX];
        snprintf(ratio, sizeof(ratio), "%s/%s", bench_contenders[f].name, bench_contenders[0].name);
        fprintf(out, " %10s", ratio);
    }
    fprintf(out, "\n");

    for (size_t p = 0; p < BENCH_NPENDING; p++) {
        double meps[BENCH_NCONTENDERS];
        for (size_t f = 0; f < BENCH_NCONTENDERS; f++) {
            int rc = bench_measure(&bench_contenders[f], bench_pending[p], min_seconds, &meps[f]);
            if (rc) {
                fprintf(out, "bench_des: %s with %zu pending events failed (%d)\n",
                        bench_contenders[f].name, bench_pending[p], rc);
                return rc;
            }
        }
        fprintf(out, "%9zu", bench_pending[p]);
        for (size_t f = 0; f < BENCH_NCONTENDERS; f++) fprintf(out, " %10.2f", meps[f]);
        for (size_t f = 1; f < BENCH_NCONTENDERS; f++) fprintf(out, " %10.2f", meps[f] / meps[0]);
        fprintf(out, "\n");
    }
    return 0;
}
