/*
 * The baseline the ring-consumer benchmarks (amd, cmdqv) measure against
 * in the same run: a textbook single-producer single-consumer ring of
 * 16-byte entries, head and tail published with release stores and read
 * with acquire loads, producer and consumer on two threads.  What moving
 * one command-sized entry between two threads costs with nothing else
 * done, so a model's ns per command divided by it is a machine-independent
 * ratio.
 */
#ifndef ISIM_BENCH_SPSC_RING_H
#define ISIM_BENCH_SPSC_RING_H

/*
 * Move @n entries through a ring of @entries slots (a power of two, as
 * the hardware rings it stands in for); ns per entry, or -1 when the
 * memory or the consumer thread cannot be had.
 */
double spsc_ring_run(unsigned long n, unsigned entries);

#endif
