/*
 * iommufd-sim-bench: shared pieces of the benchmark subcommands.  Every
 * benchmark measures a baseline in the same run and reports the ratio, so
 * results compare across machines; output is CSV on stdout.
 */
#ifndef ISIM_BENCH_H
#define ISIM_BENCH_H

#include <stdint.h>

struct bench_opts {
	unsigned long n;	/* operations per measurement (--n) */
	unsigned reps;		/* repetitions; the best is kept (--reps) */
};

uint64_t bench_now_ns(void);
/* One CSV row: the measured cost, the baseline's, and their ratio. */
void bench_row(const char *bench, const char *what, unsigned long n,
	       double ns_per_op, const char *baseline, double base_ns_per_op);
void bench_header(void);

int bench_objtable(const struct bench_opts *o);

/* Keep the compiler from deleting a computed value. */
static inline void bench_keep(uint64_t v)
{
	__asm__ volatile("" : : "r"(v) : "memory");
}

#endif
