/*
 * domain: the I/O page-table cost of a paging domain (sim/iommufd/domain.c)
 * per 4 KiB page, mapping and unmapping 1 MiB either as 256 separate
 * single-page calls (each page at its own PA, as scattered 4K frames are)
 * or as one call for a physically contiguous 1 MiB run, which the
 * io_pagetable layer issues for every pfn run.  The single-page loop is
 * the baseline; the kernel's iommupt numbers (spec/anchors.md §2.3) show
 * the gap batching should open.
 */
#include "config.h"

#include <stdio.h>

#include "bench/bench.h"
#include "sim/iommufd/domain.h"

#define DOM_DEFAULT_ITERS 20000ul
#define DOM_PAGE 4096ull
#define DOM_PAGES 256ull
#define DOM_IOVA (1ull << 32)
#define DOM_PA (1ull << 34)
#define DOM_PROT (IOMMUFD_DOMAIN_READ | IOMMUFD_DOMAIN_WRITE)

/* 256 maps of one page each, then 256 unmaps; ns per page. */
static int dom_single(struct iommufd_domain *d, unsigned long iters,
		      double *out)
{
	uint64_t t0 = bench_now_ns();

	for (unsigned long it = 0; it < iters; it++) {
		for (uint64_t i = 0; i < DOM_PAGES; i++)
			/* Every other frame: no two pages are neighbours. */
			if (iommufd_domain_map(d, DOM_IOVA + i * DOM_PAGE,
					       DOM_PA + 2 * i * DOM_PAGE,
					       DOM_PAGE, DOM_PROT))
				return -1;
		for (uint64_t i = 0; i < DOM_PAGES; i++)
			if (iommufd_domain_unmap(d, DOM_IOVA + i * DOM_PAGE,
						 DOM_PAGE) != DOM_PAGE)
				return -1;
	}
	*out = (double)(bench_now_ns() - t0) / (double)(iters * DOM_PAGES);
	return 0;
}

/* One map and one unmap of a 1 MiB run; ns per page. */
static int dom_run(struct iommufd_domain *d, unsigned long iters,
		   double *out)
{
	const uint64_t len = DOM_PAGES * DOM_PAGE;
	uint64_t t0 = bench_now_ns();

	for (unsigned long it = 0; it < iters; it++) {
		if (iommufd_domain_map(d, DOM_IOVA, DOM_PA, len, DOM_PROT))
			return -1;
		if (iommufd_domain_unmap(d, DOM_IOVA, len) != len)
			return -1;
	}
	*out = (double)(bench_now_ns() - t0) / (double)(iters * DOM_PAGES);
	return 0;
}

/* Iterations per timed batch (2048 pages): well inside one time slice. */
#define DOM_BATCH 8ul

int bench_domain(const struct bench_opts *o)
{
	const struct iommufd_domain_geometry g = {
		/* 4 KiB granule with 2 MiB and 1 GiB leaves. */
		.pgsize_bitmap = DOM_PAGE | (DOM_PAGE << 9) | (DOM_PAGE << 18),
		.aperture_start = 0,
		.aperture_last = (1ull << 48) - 1,
	};
	unsigned long iters = bench_n(o, DOM_DEFAULT_ITERS);
	unsigned long batches = iters / DOM_BATCH ? iters / DOM_BATCH : 1;
	unsigned long batch = iters < DOM_BATCH ? iters : DOM_BATCH;
	double single = 1e30, run = 1e30;
	struct iommufd_domain *d;
	int rc = 1;

	if (iommufd_domain_new(&g, &d))
		return 1;
	/* The two take turns; the fastest batch of each counts. */
	for (unsigned long b = 0; b < o->reps * batches; b++) {
		double ns;

		if (dom_single(d, batch, &ns))
			goto out;
		single = bench_min(single, ns);
		if (dom_run(d, batch, &ns))
			goto out;
		run = bench_min(run, ns);
	}
	bench_row("domain", "256 x 1-page map+unmap", iters * DOM_PAGES,
		  single, "256 x 1-page map+unmap", single);
	bench_row("domain", "1 MiB run map+unmap", iters * DOM_PAGES, run,
		  "256 x 1-page map+unmap", single);
	rc = 0;
out:
	if (rc)
		fprintf(stderr, "domain: map or unmap failed\n");
	iommufd_domain_free(d);
	return rc;
}
