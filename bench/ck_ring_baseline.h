/*
 * The baseline the ring-consumer benchmarks (amd, cmdqv) measure against
 * in the same run: Concurrency Kit's single-producer single-consumer ring
 * (ck_ring, Debian's libck-dev) carrying 16-byte entries by value, the
 * producer and the consumer on two threads.  It is what moving one
 * command-sized entry between two threads costs with nothing else done,
 * so a model's ns per command divided by it is a machine-independent
 * ratio.  The reference placement is the two threads pinned to two CPUs,
 * where every entry crosses between the CPUs' caches (as spec/anchors.md
 * §2.4 measures it); on one CPU the threads take turns instead, a
 * ring-full each, which the benchmarks print for reference.
 */
#ifndef ISIM_BENCH_CK_RING_BASELINE_H
#define ISIM_BENCH_CK_RING_BASELINE_H

#include "bench/bench.h"

/*
 * Move @n entries through a ring of @entries slots (a power of two, as
 * the hardware rings it stands in for), the consumer on the calling
 * thread's CPU or on the second CPU (bench_pin_cpu); ns per entry, or -1
 * when the memory, the CPU or the consumer thread cannot be had.
 */
double ck_ring_baseline_run(unsigned long n, unsigned entries,
			    enum bench_cpus cpus);

#endif
