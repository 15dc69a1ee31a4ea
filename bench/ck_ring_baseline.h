/*
 * The baseline the ring-consumer benchmarks (amd, cmdqv) measure against
 * in the same run: Concurrency Kit's single-producer single-consumer ring
 * (ck_ring, Debian's libck-dev) carrying 16-byte entries by value, the
 * producer and the consumer on two threads.  It is what moving one
 * command-sized entry between two threads costs with nothing else done,
 * so a model's ns per command divided by it is a machine-independent
 * ratio.
 */
#ifndef ISIM_BENCH_CK_RING_BASELINE_H
#define ISIM_BENCH_CK_RING_BASELINE_H

/*
 * Move @n entries through a ring of @entries slots (a power of two, as
 * the hardware rings it stands in for); ns per entry, or -1 when the
 * memory or the consumer thread cannot be had.
 */
double ck_ring_baseline_run(unsigned long n, unsigned entries);

#endif
