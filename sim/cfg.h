/* Experiment configuration: INI files read with inih, validated against one table of every
 * section/key (type, unit, range, default, doc), composed with `include`, overridden with
 * `-s section.key=value`, and printed back as the canonical effective config that runs hash. */
#ifndef PESIM_CFG_H
#define PESIM_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef enum cfg_type {
    CFG_INT,       /* integer, range-checked */
    CFG_REAL,      /* finite real, range-checked */
    CFG_BOOL,      /* true/false, yes/no, on/off, 1/0 */
    CFG_STR,       /* free text */
    CFG_ENUM,      /* one of `choices` ("a|b|c") */
    CFG_PATH,      /* a path (output or optional input) */
    CFG_PATH_IN,   /* a path that must name an existing file when set */
    CFG_SHAPE,     /* HxWxC, e.g. 32x32x1 */
    CFG_INT_LIST,  /* integers separated by commas or spaces, each range-checked */
    CFG_REAL_LIST, /* reals separated by commas or spaces, each range-checked */
    CFG_STR_LIST,  /* words separated by commas or spaces */
} cfg_type;

enum cfg_flags {
    CFG_REQUIRED = 1 << 0, /* must be set by a file or override */
    CFG_MIN_OPEN = 1 << 1, /* the minimum is exclusive: value > min */
    CFG_ARCH = 1 << 2,     /* a built-in architecture name or an existing layer-list file */
    CFG_WHERE = 1 << 3,    /* where results go, not what a run computes: left out of the
                              effective text, so a run's identity does not depend on it */
};

/* One parameter: adding a parameter to pesim is one line in cfg_schema.c. */
typedef struct cfg_key {
    const char *section;
    const char *key;
    cfg_type type;
    const char *unit;    /* "" when the quantity has no unit */
    double min, max;     /* inclusive range for numbers and list elements */
    const char *def;     /* default text; "" means unset */
    const char *choices; /* "a|b|c" for CFG_ENUM */
    unsigned flags;      /* cfg_flags */
    const char *doc;     /* one line */
} cfg_key;

extern const cfg_key cfg_schema[]; /* every parameter, in section order */
extern const size_t cfg_schema_len;
extern const char *const cfg_sections[]; /* section names in print order, NULL-terminated */

/* Find a key of the table; NULL when unknown. */
const cfg_key *cfg_find(const char *section, const char *key);
/* Print the parameter reference (every section and key with type, unit, range, default, doc). */
void cfg_print_reference(FILE *out);

typedef struct cfg cfg;

cfg *cfg_new(void); /* NULL on out-of-memory */
void cfg_free(cfg *c);

/* Read an INI file (and its includes); later files and keys override earlier ones. Problems are
 * collected as "FILE:LINE: message" (see cfg_error); returns 0 or -1 when any was found. */
int cfg_load_file(cfg *c, const char *path);
/* Apply one `section.key=value` override (validated like a file line); 0 or -1. */
int cfg_override(cfg *c, const char *assignment);
/* Check required keys and cross-key rules once everything is loaded; 0 or -1. */
int cfg_finish(cfg *c);

size_t cfg_error_count(const cfg *c);
const char *cfg_error(const cfg *c, size_t i); /* i-th message, one line, no newline */

/* Effective value text of a key (default filled in); NULL for a key not in the table. */
const char *cfg_get(const cfg *c, const char *section, const char *key);
bool cfg_is_set(const cfg *c, const char *section, const char *key); /* set by file/override */
long long cfg_int(const cfg *c, const char *section, const char *key);
double cfg_real(const cfg *c, const char *section, const char *key);
bool cfg_bool(const cfg *c, const char *section, const char *key);
/* Parse a list key into out (at most max items); returns the number of items in the list. */
size_t cfg_real_list(const cfg *c, const char *section, const char *key, double *out, size_t max);
size_t cfg_int_list(const cfg *c, const char *section, const char *key, long long *out, size_t max);
/* Parse a shape key (HxWxC) into dims[0..2]; zeros when unparsable. */
void cfg_shape(const cfg *c, const char *section, const char *key, long long dims[3]);
/* Where the effective value came from: "FILE:LINE", "-s", or "default". */
const char *cfg_origin(const cfg *c, const char *section, const char *key, char *buf, size_t len);

/* The [sweep] section: parameters and their value text, in file order. */
size_t cfg_sweep_count(const cfg *c);
const char *cfg_sweep_param(const cfg *c, size_t i); /* "section.key" */
const char *cfg_sweep_values(const cfg *c, size_t i);

/* Canonical effective config (every key, defaults filled, normalised values, no comments,
 * without [sweep]): the text runs store and hash. Caller frees. NULL on out-of-memory. */
char *cfg_effective_text(const cfg *c);
/* Print the effective config annotated with each value's origin and unit, [sweep] included. */
void cfg_print_annotated(const cfg *c, FILE *out);

#endif
