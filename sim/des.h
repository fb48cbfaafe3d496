/* Discrete-event core: an event queue on integer picoseconds ordered by (time, priority,
 * insertion sequence), a binary heap with no per-event allocation, and handlers dispatched by
 * event type. Every run with the same pushes pops the same sequence. */
#ifndef PESIM_DES_H
#define PESIM_DES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Event types of the accelerator model (DESIGN section 5). */
typedef enum des_type {
    DES_ARRIVAL,         /* a request arrives */
    DES_DMA_DONE,        /* a tile's DMA transfer finished */
    DES_COMPUTE_DONE,    /* a tile's compute finished */
    DES_LAYER_DONE,      /* every tile of a layer finished */
    DES_EXIT_EVALUATED,  /* an exit head finished and its score is known */
    DES_PREDICTION_DONE, /* the prediction engine produced a jump */
    DES_DVFS_DONE,       /* an OPP transition finished */
    DES_INFERENCE_DONE,  /* an inference left the accelerator */
    DES_DEADLINE,        /* an inference's deadline passed */
    DES_TYPE_COUNT
} des_type;

/* Lower priority values pop first among events at the same time. */
enum { DES_PRIO_MIN = 0, DES_PRIO_MAX = 65535 };

/* One event, 32 bytes. `key` packs (prio << 48 | seq) so that one 64-bit compare after the time
 * settles every tie; use des_event_prio()/des_event_seq() to read them back. */
typedef struct des_event {
    uint64_t time_ps; /* simulated time the event fires */
    uint64_t key;     /* (prio << 48) | insertion sequence number */
    uint16_t type;    /* a des_type */
    uint16_t unit;    /* core, DMA channel or other resource index */
    uint32_t sample;  /* inference (sample) the event belongs to */
    uint64_t arg;     /* handler-defined payload: layer, tile, OPP index, ... */
} des_event;

static inline unsigned des_event_prio(const des_event *e)
{
    return (unsigned)(e->key >> 48);
}
static inline uint64_t des_event_seq(const des_event *e)
{
    return e->key & ((UINT64_C(1) << 48) - 1);
}

/* ---- bare queue ---- */

typedef struct des_queue des_queue;
des_queue *des_queue_new(size_t capacity_hint); /* NULL on out-of-memory */
void des_queue_free(des_queue *q);
void des_queue_clear(des_queue *q); /* drop all events and restart the sequence at 0 */
size_t des_queue_len(const des_queue *q);
/* Insert an event; its key is filled from prio and the next sequence number.
 * 0 ok, -1 out of memory, -2 prio out of range. */
int des_push(des_queue *q, uint64_t time_ps, unsigned prio, const des_event *ev);
bool des_pop(des_queue *q, des_event *out);        /* false when empty */
bool des_peek(const des_queue *q, des_event *out); /* earliest event without removing it */

/* ---- simulator: clock, queue and handler table ---- */

typedef struct des_sim des_sim;
/* A handler runs when its event pops; `now` is already the event time. Non-zero stops the run
 * and is returned by des_run_until. */
typedef int (*des_handler)(des_sim *sim, const des_event *ev, void *ctx);

des_sim *des_sim_new(size_t capacity_hint); /* NULL on out-of-memory */
void des_sim_free(des_sim *sim);
void des_sim_reset(des_sim *sim); /* time 0, empty queue, counters 0; handlers kept */
void des_on(des_sim *sim, des_type type, des_handler fn, void *ctx); /* register a handler */
uint64_t des_now_ps(const des_sim *sim);
uint64_t des_events_processed(const des_sim *sim);
size_t des_pending(const des_sim *sim);
/* Schedule `ev` at now + delay_ps (time overflow is -3). 0 ok, negative as des_push. */
int des_schedule(des_sim *sim, uint64_t delay_ps, unsigned prio, const des_event *ev);
/* Schedule at an absolute time >= now (earlier is -4). */
int des_schedule_at(des_sim *sim, uint64_t time_ps, unsigned prio, const des_event *ev);
/* Pop and dispatch events with time <= until_ps (UINT64_MAX: until empty). Returns 0 when it
 * ran out of events or reached until_ps (the clock then stays at the last event's time), the first
 * non-zero handler result otherwise, -5 when an event has no handler. */
int des_run_until(des_sim *sim, uint64_t until_ps);

#endif
