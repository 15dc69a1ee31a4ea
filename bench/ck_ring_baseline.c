/*
 * The ck_ring baseline (see ck_ring_baseline.h).  CK_RING_PROTOTYPE gives
 * typed SPSC calls that copy a whole entry into and out of the buffer, as
 * a command ring holds its commands.  Either side yields the CPU when the
 * ring is empty (consumer) or full (producer), the same policy as the
 * models' threaded mode.
 */
#include "config.h"

#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <ck_ring.h>

#include "bench/bench.h"
#include "bench/ck_ring_baseline.h"

struct ring_entry {
	uint64_t q0, q1;
};

CK_RING_PROTOTYPE(entry, ring_entry)

struct baseline {
	struct ck_ring ring;
	struct ring_entry *slot;
	unsigned long n;
	uint64_t sum;
};

static void *baseline_consumer(void *arg)
{
	struct baseline *b = arg;
	struct ring_entry e;
	uint64_t sum = 0;

	for (unsigned long i = 0; i < b->n; i++) {
		while (!ck_ring_dequeue_spsc_entry(&b->ring, b->slot, &e))
			sched_yield();
		/* Read the entry as a consumer would: both words. */
		sum += e.q0 ^ e.q1;
	}
	b->sum = sum;
	return NULL;
}

double ck_ring_baseline_run(unsigned long n, unsigned entries,
			    enum bench_cpus cpus)
{
	struct baseline *b;
	uint64_t t0, t1;
	pthread_t t;
	double ns = -1;
	int rc;

	if (entries < 2 || (entries & (entries - 1)))
		return -1;
	/* C11 wants the size a multiple of the alignment. */
	b = aligned_alloc(64, (sizeof(*b) + 63) & ~(size_t)63);
	if (!b)
		return -1;
	memset(b, 0, sizeof(*b));
	b->slot = aligned_alloc(64, ((size_t)entries * sizeof(*b->slot) + 63) &
					    ~(size_t)63);
	if (!b->slot)
		goto out;
	/* Fault the ring in before the clock starts, as a guest's is. */
	memset(b->slot, 0, (size_t)entries * sizeof(*b->slot));
	ck_ring_init(&b->ring, entries);
	b->n = n;
	/* The consumer waits on the empty ring until the clock starts. */
	rc = cpus == BENCH_TWO_CPUS ?
		     bench_thread_on_cpu1(&t, baseline_consumer, b) :
		     pthread_create(&t, NULL, baseline_consumer, b);
	if (rc)
		goto out;
	t0 = bench_now_ns();
	for (uint64_t i = 0; i < n; i++) {
		struct ring_entry e = { .q0 = i, .q1 = ~i };

		while (!ck_ring_enqueue_spsc_entry(&b->ring, b->slot, &e))
			sched_yield();
	}
	pthread_join(t, NULL);
	t1 = bench_now_ns();
	bench_keep(b->sum);
	ns = (double)(t1 - t0) / (double)n;
out:
	free(b->slot);
	free(b);
	return ns;
}
