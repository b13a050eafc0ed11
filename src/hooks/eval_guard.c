/*
 * eval_guard.c — where a thread's stack ends (see eval_guard.h).
 */
#include "hooks/eval_guard.h"

#include <pthread.h>

#define STACK_MARGIN (1 << 20)

char *cs_find_stack_floor(void)
{
    pthread_attr_t attr;
    void *low = NULL;
    size_t size = 0;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        if (pthread_attr_getstack(&attr, &low, &size) != 0)
            low = NULL;
        pthread_attr_destroy(&attr);
    }
    if (!low || !size)
        return CS_STACK_UNKNOWN; /* the interpreter's count stands */
    return (char *)low + (size / 8 < STACK_MARGIN ? size / 8 : STACK_MARGIN);
}
