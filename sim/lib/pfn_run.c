/*
 * The run scan (see pfn_run.h).  pfns[i] continues the run iff it equals
 * pfns[0] + i, so a block of PFNs is tested with no branch inside: XOR
 * each with the value expected at its position and OR the results.  Only
 * the block that breaks the run is walked again one PFN at a time.
 */
#include "config.h"

#include <string.h>

#include "sim/lib/pfn_run.h"

/* Sixteen PFNs, two cache lines, per test of the accumulator. */
#define RUN_BLOCK 16

#if defined(__GNUC__)
/*
 * Written with the GNU vector extension because gcc's -O2 cost model does
 * not vectorise 64-bit reductions for baseline x86-64; two lanes hold the
 * PFNs expected at the next two positions.
 */
typedef uint64_t run_v2 __attribute__((vector_size(16)));

static size_t fill_pairs(uint64_t *out, uint64_t pfn, size_t n)
{
	const run_v2 step = { 2, 2 };
	run_v2 v = { pfn, pfn + 1 };
	size_t i;

	for (i = 0; i + 2 <= n; i += 2) {
		memcpy(out + i, &v, sizeof(v));
		v += step;
	}
	return i;
}

static size_t whole_blocks(const uint64_t *pfns, size_t n)
{
	const run_v2 step = { 2, 2 };
	run_v2 expect = { pfns[0], pfns[0] + 1 };
	size_t i;

	for (i = 0; i + RUN_BLOCK <= n; i += RUN_BLOCK) {
		run_v2 acc = { 0, 0 };

#pragma GCC unroll 8
		for (size_t j = 0; j < RUN_BLOCK; j += 2) {
			run_v2 x;

			memcpy(&x, pfns + i + j, sizeof(x));
			acc |= x ^ expect;
			expect += step;
		}
		if (acc[0] | acc[1])
			break;
	}
	return i;
}
#else
static size_t fill_pairs(uint64_t *out, uint64_t pfn, size_t n)
{
	return 0;
}

static size_t whole_blocks(const uint64_t *pfns, size_t n)
{
	size_t i;

	for (i = 0; i + RUN_BLOCK <= n; i += RUN_BLOCK) {
		uint64_t acc = 0;

		for (size_t j = i; j < i + RUN_BLOCK; j++)
			acc |= pfns[j] ^ (pfns[0] + j);
		if (acc)
			break;
	}
	return i;
}
#endif

size_t isim_pfn_run_len(const uint64_t *pfns, size_t n)
{
	size_t i;

	if (!n)
		return 0;
	i = whole_blocks(pfns, n);
	while (i < n && pfns[i] == pfns[0] + i)
		i++;
	return i;
}

void isim_pfn_run_fill(uint64_t *out, uint64_t pfn, size_t n)
{
	for (size_t i = fill_pairs(out, pfn, n); i < n; i++)
		out[i] = pfn + i;
}

size_t isim_pfns_to_runs(const uint64_t *pfns, size_t n,
			 struct isim_pfn_run *runs, size_t max_runs)
{
	size_t nruns = 0;

	for (size_t i = 0; i < n;) {
		size_t len = isim_pfn_run_len(pfns + i, n - i);

		if (nruns < max_runs) {
			runs[nruns].pfn = pfns[i];
			runs[nruns].npages = len;
		}
		nruns++;
		i += len;
	}
	return nruns;
}
