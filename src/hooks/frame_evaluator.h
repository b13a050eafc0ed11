/*
 * frame_evaluator.h — recording Python calls through the interpreter's frame
 * evaluator (PEP 523), on every supported version (3.8 and later): the
 * frames it is handed are frame objects before 3.11 and interpreter frames
 * from 3.11, which interp_frame.h reads alike.
 *
 * Used by both families (family.h) when the session allows it: it is the
 * cheapest way the interpreter offers to see every Python frame start and
 * end, with the return value or the exception at hand.
 */
#ifndef CALLSCOPE_FRAME_EVALUATOR_H
#define CALLSCOPE_FRAME_EVALUATOR_H

#include "py/compat.h"

/* Whether this session's Python calls should come through the evaluator. */
int cs_evaluator_wanted(void);
/* Puts callscope's evaluator in front of the interpreter's. */
void cs_evaluator_install(void);
/* Takes it out again, where nothing was put in front of it since. */
void cs_evaluator_uninstall(void);

#if CS_PY_INIT_PAST_EVALUATOR
/* 3.13 runs some __init__ frames past the evaluator; the monitoring family
 * reports them (family_monitoring.c) once the evaluator has met their code. */
void cs_monitoring_watch_init(PyCodeObject *code);
#endif

#endif
