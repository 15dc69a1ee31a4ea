/*
 * Per-thread fail-nth counters (see fault.h).  The counter lives in TLS so
 * that sweeps in one thread never disturb ioctls running in another, which
 * is also how the kernel scopes /proc/self/task/<tid>/fail-nth.
 */
#include "config.h"

#include "sim/lib/fault.h"

_Thread_local unsigned isim_fail_nth_left;
static _Thread_local unsigned long fail_injected;

void isim_fail_nth_set(unsigned nth)
{
	isim_fail_nth_left = nth;
}

unsigned isim_fail_nth_get(void)
{
	return isim_fail_nth_left;
}

unsigned long isim_fail_injected(void)
{
	return fail_injected;
}

bool isim_should_fail_slow(void)
{
	if (--isim_fail_nth_left)
		return false;
	fail_injected++;
	return true;
}
