/*
 * Runs of consecutive frames in a PFN array: the shape in which pinned
 * memory is recorded (pages.c), pinned (sim/mm/phys.c) and checked for
 * contiguity (contig.c).  One scan that every layer shares, so a long run
 * costs a vector compare per pair of PFNs instead of a compare-and-branch
 * per PFN.  Arithmetic is modulo 2^64: PFN UINT64_MAX followed by 0 runs on.
 */
#ifndef ISIM_LIB_PFN_RUN_H
#define ISIM_LIB_PFN_RUN_H

#include <stddef.h>
#include <stdint.h>

/* Frames pfn .. pfn + npages - 1. */
struct isim_pfn_run {
	uint64_t pfn;
	uint64_t npages;
};

/* How many of pfns[0..n) continue pfns[0] one frame at a time; 0 if n is. */
size_t isim_pfn_run_len(const uint64_t *pfns, size_t n);

/* Write the run pfn, pfn + 1, ... into out[0..n). */
void isim_pfn_run_fill(uint64_t *out, uint64_t pfn, size_t n);

/*
 * Compress pfns[0..n) into maximal runs of consecutive frames.  Writes at
 * most @max_runs entries (@runs may be NULL when it is 0) and returns how
 * many runs the array needs, as snprintf does, so a caller can size the
 * output with a first call.
 */
size_t isim_pfns_to_runs(const uint64_t *pfns, size_t n,
			 struct isim_pfn_run *runs, size_t max_runs);

#endif
