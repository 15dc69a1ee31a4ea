/*
 * Physical contiguity checks for the HW queue's phys path, which must prove
 * that the pinned pages behind a queue are consecutive frames before it
 * hands the hardware one base PA.  The kernel checks PFN[i] == PFN[i-1] + 1
 * page by page; we keep that as the default and add two alternatives to
 * prototype and benchmark against it: a block-wise branch-free scan of the
 * PFN array and a run-length check over pfn runs (the shape in which
 * pages.c keeps pinned PFNs).  All three give the same answer for every
 * input; arithmetic is modulo 2^64, so PFN UINT64_MAX followed by 0 counts
 * as contiguous for all of them alike.  Pure functions, no locking needed.
 */
#ifndef ISIM_IOMMUFD_CONTIG_H
#define ISIM_IOMMUFD_CONTIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* struct isim_pfn_run and isim_pfns_to_runs live with the run scan. */
#include "sim/lib/pfn_run.h"

enum isim_contig_algo {
	ISIM_CONTIG_PER_PAGE,	/* the kernel's loop; the default */
	ISIM_CONTIG_BLOCK,	/* block-wise branch-free scan */
	ISIM_CONTIG_RUNS,	/* run-length over pfn runs */
};

/* Whether pfns[0..n) are consecutive frames; true for n <= 1.  An unknown
 * @algo falls back to the per-page loop. */
bool isim_contig_pfns(enum isim_contig_algo algo, const uint64_t *pfns,
		      size_t n);

/* True iff every run starts right after the previous one ends; true for
 * nruns <= 1.  Runs of 0 pages are allowed and chain like any other. */
bool isim_contig_runs(const struct isim_pfn_run *runs, size_t nruns);

/* "per-page", "block", "runs"; NULL for a value outside the enum. */
const char *isim_contig_algo_name(enum isim_contig_algo a);
/* 0, or -EINVAL for an unknown name (or NULL). */
int isim_contig_algo_parse(const char *s, enum isim_contig_algo *out);

#endif
