/*
 * json.h — kept so that files still including "store/json.h" (the live
 * commands') build unchanged; the JSON writer and reader live in
 * util/json.h, which new code includes.
 */
#ifndef CALLSCOPE_STORE_JSON_FORWARD_H
#define CALLSCOPE_STORE_JSON_FORWARD_H

#include "util/json.h"

#endif
