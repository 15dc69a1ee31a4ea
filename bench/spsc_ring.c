/*
 * The SPSC ring baseline (see spsc_ring.h).  Indices count entries for
 * ever and a slot is the index modulo the capacity; each side keeps a
 * private copy of the other's index and loads the shared one again only
 * when the ring looks full (producer) or empty (consumer), which is what
 * keeps a well-built ring from bouncing both cache lines on every entry.
 * Head and tail live on cache lines of their own for the same reason.
 */
#include "config.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "bench/spsc_ring.h"

struct spsc_entry {
	uint64_t q0, q1;
};

struct spsc {
	_Alignas(64) _Atomic uint64_t head;	/* the consumer's */
	_Alignas(64) _Atomic uint64_t tail;	/* the producer's */
	_Alignas(64) struct spsc_entry *slot;
	uint64_t mask;
	unsigned long n;
	uint64_t sum;
};

static void *spsc_consumer(void *arg)
{
	struct spsc *r = arg;
	uint64_t head = 0, tail = 0, sum = 0;

	while (head < r->n) {
		if (head == tail) {
			tail = atomic_load_explicit(&r->tail,
						    memory_order_acquire);
			if (head == tail) {
				sched_yield();
				continue;
			}
		}
		/* Read the entry as a consumer would: both words. */
		sum += r->slot[head & r->mask].q0 ^ r->slot[head & r->mask].q1;
		head++;
		atomic_store_explicit(&r->head, head, memory_order_release);
	}
	r->sum = sum;
	return NULL;
}

double spsc_ring_run(unsigned long n, unsigned entries)
{
	struct spsc *r;
	uint64_t head = 0, t0, t1;
	pthread_t t;
	double ns = -1;

	if (!entries || (entries & (entries - 1)))
		return -1;
	r = aligned_alloc(64, sizeof(*r));
	if (!r)
		return -1;
	memset(r, 0, sizeof(*r));
	r->slot = aligned_alloc(64, (size_t)entries * sizeof(*r->slot));
	if (!r->slot)
		goto out;
	/* Fault the ring in before the clock starts, as a guest's is. */
	memset(r->slot, 0, (size_t)entries * sizeof(*r->slot));
	r->mask = entries - 1;
	r->n = n;
	t0 = bench_now_ns();
	if (pthread_create(&t, NULL, spsc_consumer, r))
		goto out;
	for (uint64_t tail = 0; tail < n; tail++) {
		while (tail - head == entries) {
			head = atomic_load_explicit(&r->head,
						    memory_order_acquire);
			if (tail - head == entries)
				sched_yield();
		}
		r->slot[tail & r->mask] = (struct spsc_entry){
			.q0 = tail, .q1 = ~tail };
		atomic_store_explicit(&r->tail, tail + 1, memory_order_release);
	}
	pthread_join(t, NULL);
	t1 = bench_now_ns();
	bench_keep(r->sum);
	ns = (double)(t1 - t0) / (double)n;
out:
	free(r->slot);
	free(r);
	return ns;
}
