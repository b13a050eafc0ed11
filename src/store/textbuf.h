/*
 * textbuf.h — kept so that files still including "store/textbuf.h" (the
 * live agent's) build unchanged; the buffer lives in util/textbuf.h, which
 * new code includes.
 */
#ifndef CALLSCOPE_STORE_TEXTBUF_FORWARD_H
#define CALLSCOPE_STORE_TEXTBUF_FORWARD_H

#include "util/textbuf.h"

#endif
