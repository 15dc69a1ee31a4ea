/*
 * Fault injection in the style of the kernel's fail_nth: a thread arms a
 * counter N, and the N-th fallible point that thread reaches afterwards
 * fails.  Every allocation, ID reservation and user copy in the simulator
 * asks isim_should_fail() first, so a sweep over N = 1, 2, ... visits every
 * error path of an operation.
 */
#ifndef ISIM_LIB_FAULT_H
#define ISIM_LIB_FAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <limits.h>
#include <stdlib.h>

/* Arm: the @nth fallible point reached by this thread fails.  0 disarms. */
void isim_fail_nth_set(unsigned nth);
/* Points left before the armed failure; 0 once it fired (or when disarmed). */
unsigned isim_fail_nth_get(void);
/* How many failures this thread has had injected so far. */
unsigned long isim_fail_injected(void);

bool isim_should_fail_slow(void);

extern _Thread_local unsigned isim_fail_nth_left;

static inline bool isim_should_fail(void)
{
	return isim_fail_nth_left && isim_should_fail_slow();
}

/* calloc that takes part in fault injection; the kernel's kzalloc. */
static inline void *isim_kzalloc(size_t size)
{
	return isim_should_fail() ? NULL : calloc(1, size);
}

static inline void *isim_kcalloc(size_t n, size_t size)
{
	return isim_should_fail() ? NULL : calloc(n, size);
}

/*
 * The kernel's kvcalloc: as isim_kcalloc, and like kvmalloc it refuses
 * any size above INT_MAX, whatever memory the host has.
 */
static inline void *isim_kvcalloc(size_t n, size_t size)
{
	if (size && n > INT_MAX / size)
		return NULL;
	return isim_kcalloc(n, size);
}

#endif
