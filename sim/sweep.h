/* Parameter sweeps: the [sweep] section of a config expanded into points (the cross product of
 * value lists and ranges, or the lists zipped element by element), each point a list of
 * `section.key=value` overrides applied on top of the base config (DESIGN section 6). */
#ifndef PESIM_SWEEP_H
#define PESIM_SWEEP_H

#include <stdbool.h>
#include <stddef.h>

#include "cfg.h"

/* A sweep with more points than this is refused. */
#define SWEEP_MAX_POINTS 1000000

typedef struct sweep sweep;

/* Expand the [sweep] section of c ([sweep] mode: cross or zip). 0 ok; -1 with a one-line
 * "[sweep] section.key: message" in err. A config without sweep lines has one point, with no
 * overrides. */
int sweep_expand(const cfg *c, sweep **out, char *err, size_t errlen);
/* Expand explicit lines (names "section.key", value texts as written after '=' in [sweep]), in
 * file order: what sweep_expand does with the lines of a config. 0 ok; -1 with err. */
int sweep_expand_lines(size_t nparams, const char *const *params, const char *const *values,
                       bool zip, sweep **out, char *err, size_t errlen);
void sweep_free(sweep *s); /* safe on NULL */

size_t sweep_points(const sweep *s);                             /* number of points, >= 1 */
size_t sweep_params(const sweep *s);                             /* swept parameters */
const char *sweep_param(const sweep *s, size_t j);               /* "section.key" of parameter j */
size_t sweep_values(const sweep *s, size_t j);                   /* values parameter j takes */
const char *sweep_value(const sweep *s, size_t point, size_t j); /* its value at a point */
/* The point's overrides as one line, "exit.policy=passive exit.beta=0.9" (a value with spaces is
 * quoted, '1, 2'); "(base config)" for a sweep without parameters. Truncated to len. */
void sweep_describe(const sweep *s, size_t point, char *buf, size_t len);

/* What every point's config is built from: the config files and -s overrides of the command. */
typedef struct sweep_base {
    int nfiles;
    char *const *files;
    int nover;
    const char *const *overrides;
} sweep_base;

/* The config of a point: the base files, the base overrides, then the point's overrides (they win
 * over -s on the same key), checked with cfg_finish. The config (caller frees with cfg_free), or
 * NULL with its first problem in err. */
cfg *sweep_point_cfg(const sweep_base *b, const sweep *s, size_t point, char *err, size_t errlen);

#endif /* PESIM_SWEEP_H */
