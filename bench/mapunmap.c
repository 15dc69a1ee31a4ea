/*
 * mapunmap: the cost of one IOMMU_IOAS_MAP plus one IOMMU_IOAS_UNMAP of a
 * single page at a fixed IOVA, through isim_ioctl, as the number of areas
 * already in the IOAS grows from 1k to 10k to 100k.  The IOAS has no
 * domain, so nothing is pinned and what is measured is the dispatcher plus
 * the area bookkeeping (IOVA checks, interval trees, pages objects).  The
 * existing areas map one page each at every other page of IOVA; the timed
 * operations fill the gaps between them in a scattered order, so every
 * lookup walks the full tree.  The baseline is the same measurement at 1k
 * areas: the target is at most 2x at 100k.  The three IOASes live side by
 * side in one context.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "bench/bench.h"
#include "iommufd-sim/sim.h"

#define MU_DEFAULT_OPS 50000ul
#define MU_IOVA_BASE (1ull << 32)
#define MU_TARGET_RATIO 2.0

#define MU_NCOUNTS 3
/* Pairs per timed batch: short enough to fit between two preemptions. */
#define MU_BATCH 64ul

static const unsigned long mu_counts[MU_NCOUNTS] = { 1000, 10000, 100000 };

/* An IOAS holding @areas one-page areas at every other page of IOVA. */
static int mu_populate(struct isim_fd *fd, void *page, uint64_t ps,
		       unsigned long areas, uint32_t *ioas)
{
	if (bench_ioas_alloc(fd, ioas))
		return -1;
	for (unsigned long i = 0; i < areas; i++)
		if (bench_ioas_map_fixed(fd, *ioas, page, ps,
					 MU_IOVA_BASE + 2 * i * ps))
			return -1;
	return 0;
}

/* @ops map+unmap pairs into the gaps, from gap number @first on. */
static int mu_batch(struct isim_fd *fd, uint32_t ioas, void *page,
		    uint64_t ps, unsigned long areas, unsigned long first,
		    unsigned long ops, double *out)
{
	uint64_t t0 = bench_now_ns();

	for (unsigned long i = first; i < first + ops; i++) {
		/* A gap picked by a prime stride: scattered over the IOAS. */
		uint64_t gap = (uint64_t)i * 7919 % areas;
		uint64_t iova = MU_IOVA_BASE + (2 * gap + 1) * ps;

		if (bench_ioas_map_fixed(fd, ioas, page, ps, iova) ||
		    bench_ioas_unmap(fd, ioas, iova, ps))
			return -1;
	}
	*out = (double)(bench_now_ns() - t0) / (double)ops;
	return 0;
}

int bench_mapunmap(const struct bench_opts *o)
{
	unsigned long ops = bench_n(o, MU_DEFAULT_OPS);
	unsigned long batches = ops / MU_BATCH ? ops / MU_BATCH : 1;
	unsigned long batch = ops < MU_BATCH ? ops : MU_BATCH;
	double ns[MU_NCOUNTS] = { 1e30, 1e30, 1e30 };
	uint32_t ioas[MU_NCOUNTS];
	struct isim_machine *m;
	char what[64], target[64];
	struct isim_fd *fd;
	uint64_t ps;
	void *page;
	int rc = 1;

	if (isim_machine_new(NULL, &m))
		return 1;
	ps = isim_machine_page_size(m);
	if (isim_mem_alloc(m, ps, ISIM_BACKING_4K, &page))
		goto out_machine;
	if (isim_open(m, &fd))
		goto out_mem;
	for (size_t c = 0; c < MU_NCOUNTS; c++)
		if (mu_populate(fd, page, ps, mu_counts[c], &ioas[c]))
			goto out_fd;
	/*
	 * Batches of the three sizes take turns and the fastest batch of
	 * each counts, so a busy moment on the machine hits all alike.
	 */
	for (unsigned long b = 0; b < o->reps * batches; b++) {
		for (size_t c = 0; c < MU_NCOUNTS; c++) {
			double t;

			if (mu_batch(fd, ioas[c], page, ps, mu_counts[c],
				     b * batch, batch, &t)) {
				fprintf(stderr, "mapunmap: %lu areas failed\n",
					mu_counts[c]);
				goto out_fd;
			}
			ns[c] = bench_min(ns[c], t);
		}
	}
	for (size_t c = 0; c < MU_NCOUNTS; c++) {
		const char *tgt = NULL;

		snprintf(what, sizeof(what), "map+unmap 1 page with %lu areas",
			 mu_counts[c]);
		if (c == MU_NCOUNTS - 1)
			tgt = bench_target(target, sizeof(target),
					   ns[c] <= MU_TARGET_RATIO * ns[0],
					   "ratio<=%.2f", MU_TARGET_RATIO);
		bench_row_target("mapunmap", what, ops, ns[c],
				 "same at 1000 areas", ns[0], tgt);
	}
	rc = 0;
out_fd:
	isim_close(fd);
out_mem:
	isim_mem_free(m, page);
out_machine:
	isim_machine_free(m);
	return rc;
}
