/*
 * The three contiguity algorithms (see contig.h).  The per-page loop stops
 * at the first break but carries a compare-and-branch per PFN that the
 * compiler cannot vectorise.  The block scan uses the fact that an array is
 * contiguous iff pfns[i] == pfns[0] + i for every i: it XORs each PFN with
 * the value expected at its position and ORs the results over a block of
 * sixteen with no branch inside, testing the accumulator only between
 * blocks, so a break costs at most one block more.  That scan is the run
 * scan every layer shares (sim/lib/pfn_run.c); on a flat array the run
 * check is the same scan looking for the end of the first run.  Over pfn
 * runs it walks runs, so a pinned range of large folios costs one step per
 * folio rather than per page.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "sim/iommufd/contig.h"
#include "sim/lib/pfn_run.h"

static bool contig_per_page(const uint64_t *pfns, size_t n)
{
	for (size_t i = 1; i < n; i++)
		if (pfns[i] != pfns[i - 1] + 1)
			return false;
	return true;
}

static bool contig_block(const uint64_t *pfns, size_t n)
{
	return n < 2 || isim_pfn_run_len(pfns, n) == n;
}

/* Build runs on the fly; a second run is the first break. */
static bool contig_runs_of_array(const uint64_t *pfns, size_t n)
{
	return isim_pfn_run_len(pfns, n) == n;
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
