/*
 * objtable: cost of object creation + destruction through the ioctl path
 * (IOMMU_IOAS_ALLOC + IOMMU_DESTROY) and of an ID lookup, against a plain
 * uthash table doing add+delete and find of the same number of IDs.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <uthash.h>

#include <linux/iommufd.h>

#include "bench/bench.h"
#include "sim/iommufd/iommufd_private.h"

struct hash_obj {
	uint32_t id;
	UT_hash_handle hh;
};

static double uthash_add_del(unsigned long n)
{
	struct hash_obj *table = NULL, *objs = calloc(n, sizeof(*objs));
	uint64_t t0 = bench_now_ns();

	for (unsigned long i = 0; i < n; i++) {
		objs[i].id = (uint32_t)i + 1;
		HASH_ADD_INT(table, id, &objs[i]);
	}
	for (unsigned long i = 0; i < n; i++)
		HASH_DEL(table, &objs[i]);
	t0 = bench_now_ns() - t0;
	free(objs);
	return (double)t0 / (double)n;
}

static double uthash_find(unsigned long n)
{
	struct hash_obj *table = NULL, *objs = calloc(n, sizeof(*objs)), *f;
	uint64_t t0, sum = 0;

	for (unsigned long i = 0; i < n; i++) {
		objs[i].id = (uint32_t)i + 1;
		HASH_ADD_INT(table, id, &objs[i]);
	}
	t0 = bench_now_ns();
	for (unsigned long i = 0; i < n; i++) {
		uint32_t id = (uint32_t)(i * 7919 % n) + 1;

		HASH_FIND_INT(table, &id, f);
		sum += f->id;
	}
	t0 = bench_now_ns() - t0;
	bench_keep(sum);
	HASH_CLEAR(hh, table);
	free(objs);
	return (double)t0 / (double)n;
}

static double ioas_alloc_destroy(struct isim_fd *fd, unsigned long n)
{
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	struct iommu_destroy destroy = { .size = sizeof(destroy) };
	uint64_t t0 = bench_now_ns();

	for (unsigned long i = 0; i < n; i++)
		isim_ioctl(fd, IOMMU_IOAS_ALLOC, &alloc);
	for (unsigned long i = 0; i < n; i++) {
		destroy.id = (uint32_t)i + 1;
		isim_ioctl(fd, IOMMU_DESTROY, &destroy);
	}
	return (double)(bench_now_ns() - t0) / (double)n;
}

static double object_lookup(struct isim_fd *fd, unsigned long n)
{
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	struct iommufd_ctx *ictx = &fd->ictx;
	uint64_t t0, sum = 0;

	for (unsigned long i = 0; i < n; i++)
		isim_ioctl(fd, IOMMU_IOAS_ALLOC, &alloc);
	t0 = bench_now_ns();
	for (unsigned long i = 0; i < n; i++) {
		uint32_t id = (uint32_t)(i * 7919 % n) + 1;
		struct iommufd_object *obj =
			iommufd_get_object(ictx, id, IOMMUFD_OBJ_IOAS);

		sum += obj->id;
		iommufd_put_object(ictx, obj);
	}
	t0 = bench_now_ns() - t0;
	bench_keep(sum);
	return (double)t0 / (double)n;
}

static double best(double a, double b)
{
	return a < b ? a : b;
}

int bench_objtable(const struct bench_opts *o)
{
	double ad = 1e30, base_ad = 1e30, lk = 1e30, base_lk = 1e30;
	struct isim_machine *m;

	if (isim_machine_new(NULL, &m))
		return 1;
	for (unsigned r = 0; r < o->reps; r++) {
		struct isim_fd *fd;

		if (isim_open(m, &fd))
			return 1;
		ad = best(ad, ioas_alloc_destroy(fd, o->n));
		lk = best(lk, object_lookup(fd, o->n));
		isim_close(fd);
		base_ad = best(base_ad, uthash_add_del(o->n));
		base_lk = best(base_lk, uthash_find(o->n));
	}
	isim_machine_free(m);
	bench_row("objtable", "alloc+destroy", o->n, ad, "uthash add+del",
		  base_ad);
	bench_row("objtable", "lookup", o->n, lk, "uthash find", base_lk);
	return 0;
}
