/*
 * contig: the cost per PFN of the three physical-contiguity checks of
 * sim/iommufd/contig.c (the kernel's per-page loop, the block-wise
 * branch-free scan, the run-length walk over the array) on fully
 * contiguous PFN arrays, the worst case, since every check must read the
 * whole array to say yes.  Sizes go from 1 PFN (4 KiB of guest memory) by
 * powers of 8 past 262144 PFNs (1 GiB of guest memory) to arrays larger
 * than the last-level cache.  Each row's baseline is a streaming read (a
 * sum) of the same array in the same run, so the ratio says how close a
 * check comes to memory speed.  A fourth kind of input is a list of pfn
 * runs (as pages.c keeps pins), checked with isim_contig_runs: with 512
 * pages per run (THP folios) and with 1 page per run (4K pages); its cost
 * should follow the number of runs, not of pages.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "bench/bench.h"
#include "sim/iommufd/contig.h"

/*
 * PFNs (or runs) visited per timing, and calls at most: a few ms, so a
 * timing mostly fits in one time slice; each --reps takes the best of
 * CONTIG_INNER timings.
 */
#define CONTIG_BUDGET (4ul << 20)
#define CONTIG_MAX_CALLS (1ul << 20)
#define CONTIG_INNER 8
/* The default largest array: 256 MiB of PFNs. */
#define CONTIG_DEFAULT_MAX (32ul << 20)
/* Block scan vs streaming read on out-of-cache arrays: rate >= 0.8x. */
#define CONTIG_TARGET_RATIO 1.25
/* Pages per run of the few-runs list: one THP folio. */
#define CONTIG_FOLIO 512ul

struct scan_in {
	const uint64_t *pfns;
	const struct isim_pfn_run *runs;
	size_t n;	/* PFNs, or runs for a run list */
};

typedef uint64_t (*scan_fn)(const struct scan_in *in);

/* Four independent sums so the probe is bound by loads, not by adds. */
static uint64_t scan_sum(const struct scan_in *in)
{
	const uint64_t *p = in->pfns;
	uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
	size_t i = 0;

	for (; i + 4 <= in->n; i += 4) {
		s0 += p[i];
		s1 += p[i + 1];
		s2 += p[i + 2];
		s3 += p[i + 3];
	}
	for (; i < in->n; i++)
		s0 += p[i];
	return s0 + s1 + s2 + s3;
}

static uint64_t scan_per_page(const struct scan_in *in)
{
	return isim_contig_pfns(ISIM_CONTIG_PER_PAGE, in->pfns, in->n);
}

static uint64_t scan_block(const struct scan_in *in)
{
	return isim_contig_pfns(ISIM_CONTIG_BLOCK, in->pfns, in->n);
}

static uint64_t scan_runs(const struct scan_in *in)
{
	return isim_contig_pfns(ISIM_CONTIG_RUNS, in->pfns, in->n);
}

static uint64_t scan_run_list(const struct scan_in *in)
{
	return isim_contig_runs(in->runs, in->n);
}

/* One timing of @fn on @in, in ns per unit (PFN or run). */
static double scan_once(scan_fn fn, const struct scan_in *in)
{
	unsigned long calls = CONTIG_BUDGET / (in->n ? in->n : 1);
	uint64_t t0;

	if (!calls)
		calls = 1;
	if (calls > CONTIG_MAX_CALLS)
		calls = CONTIG_MAX_CALLS;
	t0 = bench_now_ns();
	for (unsigned long c = 0; c < calls; c++)
		bench_keep(fn(in));	/* also a compiler barrier */
	return (double)(bench_now_ns() - t0) /
	       ((double)calls * (double)in->n);
}

/* Contiguous runs of @len pages covering @npages from PFN @base. */
static size_t make_runs(struct isim_pfn_run *runs, size_t npages, size_t len,
			uint64_t base)
{
	size_t nruns = 0;

	for (size_t i = 0; i < npages; i += len, nruns++) {
		runs[nruns].pfn = base + i;
		runs[nruns].npages = npages - i < len ? npages - i : len;
	}
	return nruns;
}

static size_t cache_bytes(void)
{
	long c = sysconf(_SC_LEVEL3_CACHE_SIZE);

	if (c <= 0)
		c = sysconf(_SC_LEVEL2_CACHE_SIZE);
	return c > 0 ? (size_t)c : 32ul << 20;
}

static size_t mem_cap_bytes(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), ps = sysconf(_SC_PAGESIZE);

	if (pages <= 0 || ps <= 0)
		return 1ul << 30;
	return (size_t)pages * (size_t)ps / 4;
}

/*
 * Sizes: powers of 8 from 1, then x4 up to the default 32M or --n; without
 * --n, keep going by x4 while the array still fits in the reported cache
 * and memory allows, so the last size is out of cache.
 */
static size_t contig_sizes(const struct bench_opts *o, size_t *sizes,
			   size_t max_sizes)
{
	size_t max = o->n_set ? o->n : CONTIG_DEFAULT_MAX, cnt = 0, s;

	for (s = 1; s <= max && s <= 262144 && cnt < max_sizes; s *= 8)
		sizes[cnt++] = s;
	for (s = 262144ul * 8; s <= max && cnt < max_sizes; s *= 4)
		sizes[cnt++] = s;
	if (!o->n_set) {
		while (sizes[cnt - 1] * 8 <= cache_bytes() &&
		       sizes[cnt - 1] * 4 * 8 <= mem_cap_bytes() &&
		       cnt < max_sizes) {
			sizes[cnt] = sizes[cnt - 1] * 4;
			cnt++;
		}
	} else if (sizes[cnt - 1] != max && cnt < max_sizes) {
		sizes[cnt++] = max;
	}
	return cnt;
}

int bench_contig(const struct bench_opts *o)
{
	static const struct {
		const char *what;
		scan_fn fn;
	} algos[] = {
		{ "per-page contiguous", scan_per_page },
		{ "block contiguous", scan_block },
		{ "runs contiguous", scan_runs },
	};
#define NALGOS (sizeof(algos) / sizeof(algos[0]))
	const uint64_t base_pfn = 0x100000;
	struct isim_pfn_run *few, *many;
	size_t sizes[24], nsizes, max, many_max, cache = cache_bytes();
	char what[96], target[64];
	uint64_t *pfns;
	int rc = 1;

	nsizes = contig_sizes(o, sizes, sizeof(sizes) / sizeof(sizes[0]));
	max = sizes[nsizes - 1];
	/* One run per page takes 16 bytes a page: cap that list's size. */
	many_max = mem_cap_bytes() / 2 / sizeof(*many);
	if (many_max > 32ul << 20)
		many_max = 32ul << 20;
	if (many_max > max)
		many_max = max;
	pfns = malloc(max * sizeof(*pfns));
	few = malloc((max / CONTIG_FOLIO + 1) * sizeof(*few));
	many = malloc(many_max * sizeof(*many));
	if (!pfns || !few || !many) {
		fprintf(stderr, "contig: cannot allocate %zu PFNs\n", max);
		goto out;
	}
	/* Written here, so page faults stay out of the timed loops. */
	for (size_t i = 0; i < max; i++)
		pfns[i] = base_pfn + i;
	make_runs(many, many_max, 1, base_pfn);

	for (size_t s = 0; s < nsizes; s++) {
		struct scan_in in = { .pfns = pfns, .n = sizes[s] };
		struct scan_in fin = { .runs = few }, min = { .runs = many };
		bool out_of_cache = sizes[s] * sizeof(*pfns) > cache;
		bool do_many = sizes[s] <= many_max;
		double stream = 1e30, ns[NALGOS], ns_few = 1e30, ns_many = 1e30;
		/* An array of a whole budget is one long pass: no reps. */
		unsigned inner = sizes[s] < CONTIG_BUDGET ? CONTIG_INNER : 1;

		fin.n = make_runs(few, sizes[s], CONTIG_FOLIO, base_pfn);
		min.n = sizes[s];
		for (size_t a = 0; a < NALGOS; a++)
			ns[a] = 1e30;
		/* Interleaved, so drift on a shared machine hits all alike. */
		for (unsigned r = 0; r < inner * o->reps; r++) {
			stream = bench_min(stream, scan_once(scan_sum, &in));
			for (size_t a = 0; a < NALGOS; a++)
				ns[a] = bench_min(ns[a],
						  scan_once(algos[a].fn, &in));
			ns_few = bench_min(ns_few,
					   scan_once(scan_run_list, &fin));
			if (do_many)
				ns_many = bench_min(ns_many,
						    scan_once(scan_run_list,
							      &min));
		}

		for (size_t a = 0; a < NALGOS; a++) {
			bool met = ns[a] <= CONTIG_TARGET_RATIO * stream;
			const char *tgt = NULL;

			if (algos[a].fn == scan_block && out_of_cache)
				tgt = bench_target(target, sizeof(target), met,
						   "ratio<=%.2f (rate>=0.8x)",
						   CONTIG_TARGET_RATIO);
			bench_row_target("contig", algos[a].what, sizes[s],
					 ns[a], "stream-read sum", stream, tgt);
		}
		/* Per PFN: the runs' time spread over the pages they cover. */
		snprintf(what, sizeof(what), "run-list %zu runs of <=%lu pages",
			 fin.n, CONTIG_FOLIO);
		bench_row("contig", what, sizes[s],
			  ns_few * (double)fin.n / (double)sizes[s],
			  "stream-read sum", stream);
		if (do_many) {
			snprintf(what, sizeof(what),
				 "run-list %zu runs x 1 page", min.n);
			bench_row("contig", what, sizes[s], ns_many,
				  "stream-read sum", stream);
		}
	}

	/*
	 * Runs, not pages: the same number of runs covering 512x more pages
	 * must cost about the same per run.
	 */
	{
		size_t nruns = max / CONTIG_FOLIO ? max / CONTIG_FOLIO : 1;
		struct scan_in fin = { .runs = few }, min = { .runs = many };
		double ns_few = 1e30, ns_many = 1e30;

		if (nruns > many_max)
			nruns = many_max;
		fin.n = make_runs(few, nruns * CONTIG_FOLIO, CONTIG_FOLIO,
				  base_pfn);
		min.n = nruns;
		for (unsigned r = 0;
		     r < (nruns < CONTIG_BUDGET ? CONTIG_INNER : 1) * o->reps;
		     r++) {
			ns_few = bench_min(ns_few,
					   scan_once(scan_run_list, &fin));
			ns_many = bench_min(ns_many,
					    scan_once(scan_run_list, &min));
		}
		snprintf(what, sizeof(what),
			 "run-list ns/run %zu runs x %lu pages", fin.n,
			 CONTIG_FOLIO);
		bench_row_target("contig", what, fin.n, ns_few,
				 "same runs x 1 page", ns_many,
				 bench_target(target, sizeof(target),
					      ns_few <= 2 * ns_many &&
						      ns_many <= 2 * ns_few,
					      "0.5<=ratio<=2 (cost per run)"));
	}
	rc = 0;
out:
	free(pfns);
	free(few);
	free(many);
	return rc;
}
