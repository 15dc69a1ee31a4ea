/*
 * Entry point and CSV output of iommufd-sim-bench: the table of benchmark
 * subcommands (which --help lists), option parsing, and the one CSV row
 * format every benchmark prints, with a last column naming the target a row
 * is held to and whether this run met it.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/bench.h"

static const struct {
	const char *name;
	const char *what;
	int (*run)(const struct bench_opts *o);
} benches[] = {
	{ "objtable", "object alloc+destroy and lookup vs uthash",
	  bench_objtable },
	{ "pin", "access pin+unpin ns/page: 4K/THP, pre-faulted/first touch",
	  bench_pin },
	{ "contig", "contiguity check ns/PFN per algorithm vs a streaming read",
	  bench_contig },
	{ "mapunmap", "IOAS_MAP+IOAS_UNMAP of one page with 1k/10k/100k areas",
	  bench_mapunmap },
	{ "domain", "domain map+unmap: 256 single pages vs one 1 MiB run",
	  bench_domain },
	{ "hwqueue", "HW_QUEUE_ALLOC+DESTROY (mock, phys) vs access pin+unpin",
	  bench_hwqueue },
	{ "amd", "AMD cmd consume + event produce vs ck_ring", bench_amd },
	{ "cmdqv", "Tegra241 VCMDQ consume, stepped/threaded, vs ck_ring",
	  bench_cmdqv },
};

#define NBENCH (sizeof(benches) / sizeof(benches[0]))

uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void bench_header(void)
{
	printf("bench,what,n,ns_per_op,baseline,baseline_ns_per_op,ratio,"
	       "target\n");
}

void bench_row_target(const char *bench, const char *what, unsigned long n,
		      double ns_per_op, const char *baseline,
		      double base_ns_per_op, const char *target)
{
	/* Small per-PFN costs need more than two decimals. */
	printf("%s,%s,%lu,%.*f,%s,%.*f,%.3f,%s\n", bench, what, n,
	       ns_per_op < 10 ? 4 : 2, ns_per_op, baseline,
	       base_ns_per_op < 10 ? 4 : 2, base_ns_per_op,
	       base_ns_per_op > 0 ? ns_per_op / base_ns_per_op : 0.0,
	       target ? target : "");
	fflush(stdout);
}

void bench_row(const char *bench, const char *what, unsigned long n,
	       double ns_per_op, const char *baseline, double base_ns_per_op)
{
	bench_row_target(bench, what, n, ns_per_op, baseline, base_ns_per_op,
			 NULL);
}

const char *bench_target(char *buf, size_t len, bool met, const char *fmt,
			 ...)
{
	va_list ap;
	int used;

	va_start(ap, fmt);
	used = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	if (used >= 0 && (size_t)used < len)
		snprintf(buf + used, len - (size_t)used, " %s",
			 met ? "met" : "MISSED");
	return buf;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: iommufd-sim-bench BENCH [--n N] [--reps R]\n\n"
		     "--n sets each benchmark's size (docs/benchmarks.md);\n"
		     "without it each uses its own default.  Output: CSV.\n\n");
	for (size_t i = 0; i < NBENCH; i++)
		fprintf(out, "  %-10s %s\n", benches[i].name, benches[i].what);
	fprintf(out, "  all        every benchmark\n");
}

int main(int argc, char **argv)
{
	struct bench_opts o = { .n = 100000, .reps = 3 };
	const char *which;
	int rc = 0;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	which = argv[1];
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--n") && i + 1 < argc) {
			o.n = strtoul(argv[++i], NULL, 0);
			o.n_set = true;
		}
		else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
			o.reps = (unsigned)strtoul(argv[++i], NULL, 0);
		else {
			fprintf(stderr, "iommufd-sim-bench: bad option %s\n",
				argv[i]);
			return 2;
		}
	}
	if (!o.n || !o.reps) {
		fprintf(stderr, "iommufd-sim-bench: --n and --reps must be > 0\n");
		return 2;
	}
	bench_header();
	for (size_t i = 0; i < NBENCH; i++)
		if (!strcmp(which, "all") || !strcmp(which, benches[i].name)) {
			rc |= benches[i].run(&o);
			which = !strcmp(which, "all") ? which : "";
		}
	if (*which && strcmp(which, "all")) {
		fprintf(stderr, "iommufd-sim-bench: unknown benchmark %s\n", which);
		return 2;
	}
	return rc ? 1 : 0;
}

/* The CPUs this process was allowed at the first bench_pin_cpu call. */
static cpu_set_t allowed_cpus;
static int first_cpus[2] = { -1, -1 };

static void read_allowed_cpus(void)
{
	int k = 0;

	if (sched_getaffinity(0, sizeof(allowed_cpus), &allowed_cpus))
		return;
	for (int c = 0; c < CPU_SETSIZE && k < 2; c++)
		if (CPU_ISSET(c, &allowed_cpus))
			first_cpus[k++] = c;
}

int bench_pin_cpu(int idx)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	cpu_set_t set;

	pthread_once(&once, read_allowed_cpus);
	if (idx >= 2 || (idx >= 0 && first_cpus[idx] < 0))
		return -ENODEV;
	if (idx < 0) {
		set = allowed_cpus;
	} else {
		CPU_ZERO(&set);
		CPU_SET(first_cpus[idx], &set);
	}
	return -pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

int bench_start_on_cpu1(int (*fn)(void *arg), void *arg)
{
	int rc;

	if (bench_pin_cpu(1))
		return -ENODEV;
	rc = fn(arg);
	/* It was allowed a moment ago, so it still is. */
	bench_pin_cpu(0);
	return rc;
}

struct thread_start {
	pthread_t *t;
	void *(*fn)(void *arg);
	void *arg;
};

static int thread_start(void *arg)
{
	struct thread_start *s = arg;

	return -pthread_create(s->t, NULL, s->fn, s->arg);
}

int bench_thread_on_cpu1(pthread_t *t, void *(*fn)(void *arg), void *arg)
{
	struct thread_start s = { t, fn, arg };

	return bench_start_on_cpu1(thread_start, &s);
}

int bench_rows_against(const char *bench, const struct bench_rows_spec *rows,
		       size_t nrows, unsigned long n, unsigned reps,
		       const struct bench_baseline *base)
{
	/* [0]: the baseline on two CPUs, [1]: on one; then the rows. */
	double best[nrows + 2];
	char tgt[64], name[64], turns[64];
	int rc = 0;

	for (size_t i = 0; i < nrows + 2; i++)
		best[i] = -1;
	for (unsigned r = 0; r < reps; r++)
		for (size_t i = 0; i < nrows + 2; i++) {
			double v = -1;

			if (bench_pin_cpu(0))
				break;
			/* On a one-CPU machine, what needs two fails. */
			if (i >= 2)
				v = rows[i - 2].fn(n);
			else
				v = base->fn(n, i ? BENCH_ONE_CPU :
						    BENCH_TWO_CPUS);
			if (v >= 0)
				best[i] = best[i] < 0 ? v : bench_min(best[i], v);
		}
	bench_pin_cpu(-1);
	snprintf(name, sizeof(name), "%s 2 cpus", base->name);
	if (best[0] < 0) {
		fprintf(stderr, "%s: %s failed (it needs two CPUs)\n", bench,
			name);
		return 1;
	}
	snprintf(turns, sizeof(turns), "%s 1 cpu (reference)", base->name);
	if (best[1] >= 0)
		bench_row(bench, turns, n, best[1], name, best[0]);
	for (size_t i = 0; i < nrows; i++) {
		double v = best[i + 2];
		double max_ratio;

		if (v < 0) {
			fprintf(stderr, "%s: %s failed\n", bench, rows[i].what);
			rc = 1;
			continue;
		}
		if (rows[i].min_throughput <= 0) {
			bench_row(bench, rows[i].what, n, v, name, best[0]);
			continue;
		}
		max_ratio = 1.0 / rows[i].min_throughput;
		bench_row_target(bench, rows[i].what, n, v, name, best[0],
				 bench_target(tgt, sizeof(tgt),
					      v / best[0] <= max_ratio,
					      "ratio<=%.2f", max_ratio));
	}
	return rc;
}
