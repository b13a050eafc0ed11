/*
 * code_info.h — what the tracer knows about one code object.
 *
 * Kept in the code object's co_extra slot, so finding it costs one load on
 * every call. It says whether the code is traced at all (include/exclude,
 * --no-stdlib, callscope's own code), the id its function has in the ring,
 * and how to read its arguments.
 */
#ifndef CALLSCOPE_CODE_INFO_H
#define CALLSCOPE_CODE_INFO_H

#include <Python.h>

#include "capture/recording_state.h"

struct cs_code_info {
    uint64_t id;         /* function id in the current session's ring */
    uint32_t session;    /* the session `id` and `traced` were decided in */
    uint16_t nargs;      /* positional + keyword-only + *args + **kwargs */
    uint8_t traced;      /* 0: skipped by the filters */
    uint8_t notrace;     /* @callscope.notrace: skip it and all it calls */
    uint8_t flags;       /* CS_CODE_* of event.h */
    uint8_t names_thread; /* threading.Thread._bootstrap_inner: names its thread */
    PyObject *module;    /* str */
    PyObject *qualname;  /* str */
    PyObject *arg_names; /* tuple of str */
};


int cs_code_info_init(void);
/* Fast path: the info if it is current, else NULL. */
static inline struct cs_code_info *cs_code_info_current(void *extra)
{
    struct cs_code_info *ci = extra;
    return ci && ci->session == cs_rec.session ? ci : NULL;
}
/* Creates or refreshes the info for the current session. NULL on memory
 * error (the call is then not recorded). `globals` names the module;
 * `first_arg` helps name methods on old Pythons; either may be NULL. */
struct cs_code_info *cs_code_info_resolve(PyCodeObject *code, PyObject *globals, PyObject *first_arg);
/* The info with its names filled in (module, qualname, arguments), leaving
 * the recorder's decisions alone; for the live agent. NULL on error. */
struct cs_code_info *cs_code_info_named(PyCodeObject *code, PyObject *globals, PyObject *first_arg);
/* The info of a code object whatever its session (for @notrace). */
struct cs_code_info *cs_code_info_of(PyCodeObject *code);

/* Filters of the current session: prefixes (paths when they contain '/',
 * module names otherwise), copied from the ring and the Python side. */
int cs_filters_set(const char *include_list, const char *exclude_list);
void cs_filters_clear(void);

#endif
