/*
 * recording_state.h — the process-wide state of a recording, in one place.
 *
 * A process records at most one session at a time (callscope run, or the
 * API's start()). What the hooks read on every call about it lives in this
 * one object, defined once (session.c); the per-thread state is struct
 * cs_thread (recorder.h), the per-code state struct cs_code_info
 * (code_info.h).
 */
#ifndef CALLSCOPE_RECORDING_STATE_H
#define CALLSCOPE_RECORDING_STATE_H

#include <Python.h>

#include "capture/values.h"
#include "core/ring.h"

struct cs_recording_state {
    int recording;               /* a session is active: hooks record */
    uint32_t session;            /* bumped by every start(): code infos of older ones are stale */
    struct cs_ring ring;         /* the ring of the active session */
    int no_args;                 /* --no-args: timing only */
    struct cs_value_limits limits; /* how much of each value to keep */
    Py_ssize_t code_extra_index; /* our co_extra slot; -1 until requested */
};

extern struct cs_recording_state cs_rec;

#endif
