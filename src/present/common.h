/*
 * common.h — kept so that the live commands and the live renderer, which
 * include "present/common.h", build unchanged while the readers' shared
 * helpers live in query/common.h. Include that header in new code.
 */
#ifndef CALLSCOPE_PRESENT_COMMON_FORWARD_H
#define CALLSCOPE_PRESENT_COMMON_FORWARD_H

#include "query/common.h"

#endif
