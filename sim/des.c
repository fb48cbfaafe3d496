/* Discrete-event core: a binary min-heap of 32-byte events in one growable array, ordered by
 * (time_ps, key) where key = prio << 48 | sequence, and a simulator that owns a clock, a queue
 * and a handler table indexed by event type. */
#include "des.h"

#include <stdlib.h>

enum {
    DES_PRIO_SHIFT = 48,     /* key = prio << DES_PRIO_SHIFT | seq */
    DES_MIN_CAPACITY = 16,   /* smallest heap array allocated */
    DES_GROWTH_FACTOR = 2,   /* heap array growth on a full push */
    DES_ERR_NOMEM = -1,      /* des_push: out of memory */
    DES_ERR_PRIO = -2,       /* des_push: prio > DES_PRIO_MAX */
    DES_ERR_OVERFLOW = -3,   /* des_schedule: now + delay does not fit in 64 bits */
    DES_ERR_PAST = -4,       /* des_schedule_at: time before now */
    DES_ERR_NO_HANDLER = -5, /* des_run_until: type out of range or without handler */
};

struct des_queue {
    des_event *heap; /* heap[0] is the earliest event; children of i are 2i+1 and 2i+2 */
    size_t len;
    size_t cap;
    uint64_t seq; /* next insertion sequence number; 2^48 pushes per clear are assumed */
};

/* One registered handler and its context. */
typedef struct des_slot {
    des_handler fn;
    void *ctx;
} des_slot;

struct des_sim {
    des_queue queue;
    uint64_t now_ps;
    uint64_t processed;
    des_slot handlers[DES_TYPE_COUNT];
};

/* True when a pops before b: earlier time, then smaller key (prio, then sequence). */
static inline bool des_before(const des_event *a, const des_event *b)
{
    return a->time_ps < b->time_ps || (a->time_ps == b->time_ps && a->key < b->key);
}

/* Allocate the heap array of an empty queue; false on out-of-memory. */
static bool queue_init(des_queue *q, size_t capacity_hint)
{
    size_t cap = capacity_hint < DES_MIN_CAPACITY ? DES_MIN_CAPACITY : capacity_hint;
    if (cap > SIZE_MAX / sizeof(des_event)) return false;
    q->heap = malloc(cap * sizeof(des_event));
    if (!q->heap) return false;
    q->len = 0;
    q->cap = cap;
    q->seq = 0;
    return true;
}

/* Grow the heap array by DES_GROWTH_FACTOR; false (queue unchanged) on out-of-memory. */
static bool queue_grow(des_queue *q)
{
    if (q->cap > SIZE_MAX / sizeof(des_event) / DES_GROWTH_FACTOR) return false;
    size_t cap = q->cap * DES_GROWTH_FACTOR;
    des_event *heap = realloc(q->heap, cap * sizeof(des_event));
    if (!heap) return false;
    q->heap = heap;
    q->cap = cap;
    return true;
}

des_queue *des_queue_new(size_t capacity_hint)
{
    des_queue *q = malloc(sizeof(*q));
    if (!q) return NULL;
    if (!queue_init(q, capacity_hint)) {
        free(q);
        return NULL;
    }
    return q;
}

void des_queue_free(des_queue *q)
{
    if (!q) return;
    free(q->heap);
    free(q);
}

void des_queue_clear(des_queue *q)
{
    q->len = 0;
    q->seq = 0;
}

size_t des_queue_len(const des_queue *q)
{
    return q->len;
}

int des_push(des_queue *q, uint64_t time_ps, unsigned prio, const des_event *ev)
{
    if (prio > DES_PRIO_MAX) return DES_ERR_PRIO;
    if (q->len == q->cap && !queue_grow(q)) return DES_ERR_NOMEM;

    des_event e = *ev;
    e.time_ps = time_ps;
    e.key = (uint64_t)prio << DES_PRIO_SHIFT | q->seq++;

    /* Sift up: move parents down into the hole until e fits. */
    des_event *h = q->heap;
    size_t i = q->len++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!des_before(&e, &h[parent])) break;
        h[i] = h[parent];
        i = parent;
    }
    h[i] = e;
    return 0;
}

bool des_pop(des_queue *q, des_event *out)
{
    if (q->len == 0) return false;
    des_event *h = q->heap;
    *out = h[0];
    size_t len = --q->len;
    if (len == 0) return true;

    /* Sift the last element down from the root, moving the smaller child up into the hole. */
    des_event last = h[len];
    size_t i = 0;
    size_t child;
    while ((child = 2 * i + 1) < len) {
        if (child + 1 < len && des_before(&h[child + 1], &h[child])) child++;
        if (!des_before(&h[child], &last)) break;
        h[i] = h[child];
        i = child;
    }
    h[i] = last;
    return true;
}

bool des_peek(const des_queue *q, des_event *out)
{
    if (q->len == 0) return false;
    *out = q->heap[0];
    return true;
}

des_sim *des_sim_new(size_t capacity_hint)
{
    des_sim *sim = calloc(1, sizeof(*sim));
    if (!sim) return NULL;
    if (!queue_init(&sim->queue, capacity_hint)) {
        free(sim);
        return NULL;
    }
    return sim;
}

void des_sim_free(des_sim *sim)
{
    if (!sim) return;
    free(sim->queue.heap);
    free(sim);
}

void des_sim_reset(des_sim *sim)
{
    des_queue_clear(&sim->queue);
    sim->now_ps = 0;
    sim->processed = 0;
}

/* Register fn (NULL unregisters) for one event type; a type out of range is ignored. */
void des_on(des_sim *sim, des_type type, des_handler fn, void *ctx)
{
    if ((unsigned)type >= DES_TYPE_COUNT) return;
    sim->handlers[type].fn = fn;
    sim->handlers[type].ctx = ctx;
}

uint64_t des_now_ps(const des_sim *sim)
{
    return sim->now_ps;
}

uint64_t des_events_processed(const des_sim *sim)
{
    return sim->processed;
}

size_t des_pending(const des_sim *sim)
{
    return sim->queue.len;
}

int des_schedule(des_sim *sim, uint64_t delay_ps, unsigned prio, const des_event *ev)
{
    if (delay_ps > UINT64_MAX - sim->now_ps) return DES_ERR_OVERFLOW;
    return des_push(&sim->queue, sim->now_ps + delay_ps, prio, ev);
}

int des_schedule_at(des_sim *sim, uint64_t time_ps, unsigned prio, const des_event *ev)
{
    if (time_ps < sim->now_ps) return DES_ERR_PAST;
    return des_push(&sim->queue, time_ps, prio, ev);
}

/* An event without a handler is left in the queue and the clock is not moved, so the caller
 * sees the state just before the failing event. */
int des_run_until(des_sim *sim, uint64_t until_ps)
{
    des_queue *q = &sim->queue;
    while (q->len > 0) {
        const des_event *top = &q->heap[0];
        if (top->time_ps > until_ps) return 0;
        if (top->type >= DES_TYPE_COUNT || !sim->handlers[top->type].fn) return DES_ERR_NO_HANDLER;
        des_event ev;
        des_pop(q, &ev);
        sim->now_ps = ev.time_ps;
        sim->processed++;
        const des_slot *slot = &sim->handlers[ev.type];
        int rc = slot->fn(sim, &ev, slot->ctx);
        if (rc) return rc;
    }
    return 0;
}
