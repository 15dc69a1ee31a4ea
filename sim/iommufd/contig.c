/*
 * The three contiguity algorithms (see contig.h).  The per-page loop stops
 * at the first break but carries a compare-and-branch per PFN that the
 * compiler cannot vectorise.  The block scan uses the fact that an array is
 * contiguous iff pfns[i] - pfns[0] == i for every i: it ORs the differences
 * (pfns[i] - pfns[0]) ^ i over a fixed-size block with no branch inside, so
 * gcc turns the block into vector subtracts, xors and ors, and only tests
 * the accumulator between blocks, which keeps early exit on a break at a
 * cost of at most one block.  The run check walks runs, so a pinned range
 * of large folios costs one step per folio rather than per page.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "sim/iommufd/contig.h"
#include "sim/lib/pfn_run.h"

/*
 * Sixteen PFNs are two cache lines: long enough to amortise the test
 * between blocks, short enough that a break costs little extra work.
 */
#define CONTIG_BLOCK 16

static bool contig_per_page(const uint64_t *pfns, size_t n)
{
	for (size_t i = 1; i < n; i++)
		if (pfns[i] != pfns[i - 1] + 1)
			return false;
	return true;
}

#if defined(__GNUC__)
/*
 * gcc's -O2 cost model declines to vectorise a reduction over 64-bit lanes
 * for baseline x86-64 (two lanes per SSE2 register, unaligned loads), so
 * the block is written with the GNU vector extension (gcc and clang): two
 * lanes hold the PFNs expected at the next two positions, and the block
 * ORs pfn ^ expected into a vector accumulator.  That compiles to one
 * load, xor, or and add per two PFNs at any optimisation level, and to
 * scalar code on targets without SIMD.
 */
typedef uint64_t contig_v2 __attribute__((vector_size(16)));

static bool contig_block(const uint64_t *pfns, size_t n)
{
	const contig_v2 step = { 2, 2 };
	contig_v2 expect;
	uint64_t tail = 0;
	size_t i = 0;

	if (n < 2)
		return true;
	expect = (contig_v2){ pfns[0], pfns[0] + 1 };
	for (; i + CONTIG_BLOCK <= n; i += CONTIG_BLOCK) {
		contig_v2 acc = { 0, 0 };

#pragma GCC unroll 8
		for (size_t j = 0; j < CONTIG_BLOCK; j += 2) {
			contig_v2 x;

			memcpy(&x, pfns + i + j, sizeof(x));
			acc |= x ^ expect;
			expect += step;
		}
		if (acc[0] | acc[1])
			return false;
	}
	for (; i < n; i++)
		tail |= (pfns[i] - pfns[0]) ^ (uint64_t)i;
	return !tail;
}
#else
/* The same scan in plain C: contiguous iff pfns[i] - pfns[0] == i. */
static bool contig_block(const uint64_t *pfns, size_t n)
{
	uint64_t acc = 0;
	size_t i = 0;

	if (n < 2)
		return true;
	for (; i + CONTIG_BLOCK <= n; i += CONTIG_BLOCK) {
		for (size_t j = i; j < i + CONTIG_BLOCK; j++)
			acc |= (pfns[j] - pfns[0]) ^ (uint64_t)j;
		if (acc)
			return false;
	}
	for (; i < n; i++)
		acc |= (pfns[i] - pfns[0]) ^ (uint64_t)i;
	return !acc;
}
#endif

/* Length of the run of consecutive frames starting at pfns[i]. */
static size_t run_length(const uint64_t *pfns, size_t n, size_t i)
{
	return isim_pfn_run_len(pfns + i, n - i);
}

/* Build runs on the fly; a second run is the first break. */
static bool contig_runs_of_array(const uint64_t *pfns, size_t n)
{
	return n == 0 || run_length(pfns, n, 0) == n;
}

bool isim_contig_pfns(enum isim_contig_algo algo, const uint64_t *pfns,
		      size_t n)
{
	switch (algo) {
	case ISIM_CONTIG_BLOCK:
		return contig_block(pfns, n);
	case ISIM_CONTIG_RUNS:
		return contig_runs_of_array(pfns, n);
	case ISIM_CONTIG_PER_PAGE:
	default:
		return contig_per_page(pfns, n);
	}
}

bool isim_contig_runs(const struct isim_pfn_run *runs, size_t nruns)
{
	for (size_t i = 1; i < nruns; i++)
		if (runs[i].pfn != runs[i - 1].pfn + runs[i - 1].npages)
			return false;
	return true;
}

size_t isim_pfns_to_runs(const uint64_t *pfns, size_t n,
			 struct isim_pfn_run *runs, size_t max_runs)
{
	size_t nruns = 0;

	for (size_t i = 0; i < n;) {
		size_t len = run_length(pfns, n, i);

		if (nruns < max_runs) {
			runs[nruns].pfn = pfns[i];
			runs[nruns].npages = len;
		}
		nruns++;
		i += len;
	}
	return nruns;
}

static const char *const algo_names[] = {
	[ISIM_CONTIG_PER_PAGE] = "per-page",
	[ISIM_CONTIG_BLOCK] = "block",
	[ISIM_CONTIG_RUNS] = "runs",
};

const char *isim_contig_algo_name(enum isim_contig_algo a)
{
	if ((unsigned int)a >= sizeof(algo_names) / sizeof(algo_names[0]))
		return NULL;
	return algo_names[a];
}

int isim_contig_algo_parse(const char *s, enum isim_contig_algo *out)
{
	if (!s)
		return -EINVAL;
	for (unsigned int a = 0;
	     a < sizeof(algo_names) / sizeof(algo_names[0]); a++) {
		if (!strcmp(s, algo_names[a])) {
			*out = (enum isim_contig_algo)a;
			return 0;
		}
	}
	return -EINVAL;
}
