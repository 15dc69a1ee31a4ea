/*
 * iommufd-sim-bench: shared pieces of the benchmark subcommands.  Every
 * benchmark measures a baseline in the same run and reports the ratio, so
 * results compare across machines; output is CSV on stdout.
 */
#ifndef ISIM_BENCH_H
#define ISIM_BENCH_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct isim_fd;

struct bench_opts {
	unsigned long n;	/* operations per measurement (--n) */
	unsigned reps;		/* repetitions; the best is kept (--reps) */
	bool n_set;		/* --n given: overrides a bench's default */
};

/* The bench's own default @dflt unless --n was given. */
static inline unsigned long bench_n(const struct bench_opts *o,
				    unsigned long dflt)
{
	return o->n_set ? o->n : dflt;
}

static inline double bench_min(double a, double b)
{
	return a < b ? a : b;
}

uint64_t bench_now_ns(void);
/* One CSV row: the measured cost, the baseline's, and their ratio. */
void bench_row(const char *bench, const char *what, unsigned long n,
	       double ns_per_op, const char *baseline, double base_ns_per_op);
void bench_header(void);
/*
 * The same row with the target it is held to in the last column, e.g.
 * "ratio<=3.00 MISSED"; bench_row leaves that column empty.  bench_target
 * formats one into @buf and returns it.
 */
void bench_row_target(const char *bench, const char *what, unsigned long n,
		      double ns_per_op, const char *baseline,
		      double base_ns_per_op, const char *target);
const char *bench_target(char *buf, size_t len, bool met, const char *fmt,
			 ...) __attribute__((format(printf, 4, 5)));

/* One measurement: ns per operation over @n operations, or < 0 on failure. */
typedef double (*bench_fn)(unsigned long n);

/*
 * Where a ring benchmark's threads run.  Left to the scheduler, a
 * producer and a consumer on a two-CPU machine are sometimes on one CPU,
 * taking turns a ring-full at a time (a new thread often starts on its
 * creator's CPU), and sometimes on two, passing cache lines: two
 * different measurements, several times apart.  The ring benchmarks
 * therefore pin every thread: the measuring thread on the first CPU this
 * process may use, any other thread on the second (BENCH_TWO_CPUS) or
 * with it on the first (BENCH_ONE_CPU).
 */
enum bench_cpus { BENCH_ONE_CPU = 1, BENCH_TWO_CPUS = 2 };

/*
 * Pin the calling thread to the @idx-th CPU this process was allowed at
 * its first call (0 or 1), or give it all of them back (@idx < 0).  A
 * thread inherits its creator's CPUs, which is how a row places the
 * threads a library call starts: pin to 1, make the call, pin back to 0.
 * 0, or -ENODEV when there is no such CPU.
 */
int bench_pin_cpu(int idx);

/*
 * @fn(@arg) with the caller pinned to the second CPU, so that the threads
 * it starts run there, then the caller back on the first: how a row puts
 * a library's threads on the other CPU.  @fn's result, or -ENODEV.
 */
int bench_start_on_cpu1(int (*fn)(void *arg), void *arg);
/* pthread_create(@t, NULL, @fn, @arg) on the second CPU; 0 or -errno. */
int bench_thread_on_cpu1(pthread_t *t, void *(*fn)(void *arg), void *arg);

/* A row held to a share of the baseline's throughput. */
struct bench_rows_spec {
	const char *what;
	bench_fn fn;
	double min_throughput;	/* of the baseline's; 0: no target */
};

/* A two-thread baseline that can run on two CPUs or on one. */
struct bench_baseline {
	const char *name;
	double (*fn)(unsigned long n, enum bench_cpus cpus);
};

/*
 * Measure the baseline @base and each of @rows over @n operations, in
 * turns, @reps rounds of the baseline then every row, keeping each one's
 * best: a stretch of time when the machine is slower then touches the
 * baseline and the rows alike instead of one of them.  The measuring
 * thread is on the first CPU for every call (unpinned at the end); a row
 * with a second thread puts it on the second CPU.  The baseline of every
 * ratio and target is @base on two CPUs; @base on one CPU, where its
 * threads take turns, is measured too and printed first, against it, for
 * reference.  Each row is printed with the target
 * "ratio<=1/min_throughput" (none when min_throughput is 0).  Returns 0,
 * or 1 if the baseline or a row failed (reported on stderr).
 */
int bench_rows_against(const char *bench, const struct bench_rows_spec *rows,
		       size_t nrows, unsigned long n, unsigned reps,
		       const struct bench_baseline *base);

/* IOAS helpers over isim_ioctl (bench/ioas.c); 0 or -errno. */
int bench_ioas_alloc(struct isim_fd *fd, uint32_t *out_id);
int bench_ioas_map_fixed(struct isim_fd *fd, uint32_t ioas, void *va,
			 uint64_t len, uint64_t iova);
int bench_ioas_unmap(struct isim_fd *fd, uint32_t ioas, uint64_t iova,
		     uint64_t len);
int bench_destroy(struct isim_fd *fd, uint32_t id);

int bench_objtable(const struct bench_opts *o);
int bench_pin(const struct bench_opts *o);
int bench_contig(const struct bench_opts *o);
int bench_mapunmap(const struct bench_opts *o);
int bench_domain(const struct bench_opts *o);
int bench_hwqueue(const struct bench_opts *o);
int bench_amd(const struct bench_opts *o);
int bench_cmdqv(const struct bench_opts *o);

/* Keep the compiler from deleting a computed value. */
static inline void bench_keep(uint64_t v)
{
	__asm__ volatile("" : : "r"(v) : "memory");
}

#endif
