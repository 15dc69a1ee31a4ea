/*
 * The iommufd's mmap offset space.  A vIOMMU driver registers memory it
 * wants userspace to map (a page of queue registers, a shared buffer) and
 * gets an offset; isim_mmap() at exactly that offset and length hands the
 * memory back.  No new mapping is made: the region is already ordinary
 * process memory, so the "mapping" is the region's own address and a
 * `users` reference on the vIOMMU that owns it, which keeps DESTROY of
 * that vIOMMU at EBUSY until isim_munmap(), as a live VMA does in the
 * kernel.  Mirrors iommufd_fops_mmap() (main.c) and
 * iommufd_viommu_alloc_mmap()/_destroy_mmap() (driver.c).
 *
 * ictx->mmap_lock guards the region list and the mapping counts; it is a
 * leaf lock (the owner's refcount is only touched atomically under it).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "sim/iommufd/eventq.h"
#include "sim/lib/fault.h"

struct iommufd_mmap {
	struct iommufd_mmap *next;	/* ictx->mmaps, ascending offset */
	struct iommufd_viommu *owner;
	void *base;
	size_t length;
	uint64_t offset;
	unsigned mapped;		/* live isim_mmap()s of the region */
};

/* off_t is signed: every region ends at or below 2^63. */
#define MMAP_OFFSET_END ((uint64_t)INT64_MAX + 1)

static inline uint64_t ctx_page_size(struct iommufd_ctx *ictx)
{
	return ictx->m->cfg.page_size;
}

/* As refcount_inc_not_zero(): an owner being destroyed is not mappable. */
static bool users_inc_not_zero(atomic_int *r)
{
	int v = atomic_load_explicit(r, memory_order_relaxed);

	do {
		if (!v)
			return false;
	} while (!atomic_compare_exchange_weak_explicit(
		r, &v, v + 1, memory_order_acquire, memory_order_relaxed));
	return true;
}

int iommufd_viommu_alloc_mmap(struct iommufd_viommu *viommu, void *base,
			      size_t length, uint64_t *offset)
{
	struct iommufd_ctx *ictx = viommu->ictx;
	uint64_t page = ctx_page_size(ictx);
	struct iommufd_mmap *immap, *cur, **pp;
	uint64_t start;

	if ((uintptr_t)base % page || !length || length % page)
		return -EINVAL;
	immap = isim_kzalloc(sizeof(*immap));
	if (!immap)
		return -ENOMEM;
	immap->owner = viommu;
	immap->base = base;
	immap->length = length;

	/*
	 * Lowest fit from PAGE_SIZE up, so offset 0 never names a region.
	 * The list is sorted, so each gap is [end of previous, next start);
	 * ends never wrap, as no region reaches past MMAP_OFFSET_END.
	 */
	pthread_mutex_lock(&ictx->mmap_lock);
	start = page;
	for (pp = &ictx->mmaps; (cur = *pp); pp = &cur->next) {
		if (cur->offset - start >= length)
			break;
		start = cur->offset + cur->length;
	}
	if (length > MMAP_OFFSET_END - start) {
		pthread_mutex_unlock(&ictx->mmap_lock);
		free(immap);
		return -ENOMEM;
	}
	immap->offset = start;
	immap->next = cur;
	*pp = immap;
	pthread_mutex_unlock(&ictx->mmap_lock);

	isim_trace(&ictx->m->trace, "mmap.register",
		   "viommu=%u offset=%#llx length=%#zx", viommu->obj.id,
		   (unsigned long long)start, length);
	*offset = start;
	return 0;
}

void iommufd_viommu_destroy_mmap(struct iommufd_viommu *viommu,
				 uint64_t offset)
{
	struct iommufd_ctx *ictx = viommu->ictx;
	struct iommufd_mmap *immap, **pp;

	pthread_mutex_lock(&ictx->mmap_lock);
	for (pp = &ictx->mmaps; (immap = *pp); pp = &immap->next)
		if (immap->offset == offset)
			break;
	if (ISIM_WARN_ON(ictx->m, !immap || immap->owner != viommu)) {
		pthread_mutex_unlock(&ictx->mmap_lock);
		return;
	}
	*pp = immap->next;
	/*
	 * A live mapping holds the owner, so this is a driver bug.  The
	 * kernel would leave a VMA pointing at freed memory; here the
	 * mappings' references are let go so the counts stay true.
	 */
	if (ISIM_WARN_ON(ictx->m, immap->mapped))
		for (; immap->mapped; immap->mapped--)
			refcount_dec(&viommu->obj.users);
	pthread_mutex_unlock(&ictx->mmap_lock);
	isim_trace(&ictx->m->trace, "mmap.unregister",
		   "viommu=%u offset=%#llx", viommu->obj.id,
		   (unsigned long long)offset);
	free(immap);
}

int isim_mmap(struct isim_fd *fd, uint64_t offset, size_t len, int prot,
	      int flags, void **out)
{
	struct iommufd_ctx *ictx = &fd->ictx;
	uint64_t page = ctx_page_size(ictx);
	struct iommufd_mmap *immap;
	int type = flags & MAP_TYPE;
	int rc = -ENXIO;

	/* mmap(2)'s own rules come before the file's. */
	if (!len || offset % page)
		return -EINVAL;
	if (len % page)
		return -EINVAL;
	if (type != MAP_SHARED && type != MAP_SHARED_VALIDATE)
		return -EINVAL;
	if (prot & PROT_EXEC)
		return -EPERM;

	pthread_mutex_lock(&ictx->mmap_lock);
	for (immap = ictx->mmaps; immap; immap = immap->next)
		if (offset < immap->offset + immap->length)
			break;
	/* Only a whole region from its start: no window into part of one. */
	if (immap && immap->offset == offset && immap->length == len &&
	    users_inc_not_zero(&immap->owner->obj.users)) {
		immap->mapped++;
		*out = immap->base;
		rc = 0;
	}
	pthread_mutex_unlock(&ictx->mmap_lock);
	isim_trace(&ictx->m->trace, "mmap.map",
		   "offset=%#llx len=%#zx rc=%d", (unsigned long long)offset,
		   len, rc);
	return rc;
}

int isim_munmap(struct isim_fd *fd, void *addr, size_t len)
{
	struct iommufd_ctx *ictx = &fd->ictx;
	uint64_t page = ctx_page_size(ictx);
	struct iommufd_mmap *immap;
	int rc = -EINVAL;

	/* munmap(2) rounds the length up to whole pages. */
	if ((uintptr_t)addr % page || !len)
		return -EINVAL;
	len = (len + page - 1) / page * page;

	pthread_mutex_lock(&ictx->mmap_lock);
	for (immap = ictx->mmaps; immap; immap = immap->next)
		if (immap->base == addr && immap->length == len &&
		    immap->mapped) {
			immap->mapped--;
			refcount_dec(&immap->owner->obj.users);
			rc = 0;
			break;
		}
	pthread_mutex_unlock(&ictx->mmap_lock);
	isim_trace(&ictx->m->trace, "mmap.unmap", "len=%#zx rc=%d", len, rc);
	return rc;
}

void iommufd_mmap_for_each_ref(struct iommufd_ctx *ictx, iommufd_ref_fn fn,
			       void *arg)
{
	struct iommufd_mmap *immap;

	pthread_mutex_lock(&ictx->mmap_lock);
	for (immap = ictx->mmaps; immap; immap = immap->next)
		for (unsigned i = 0; i < immap->mapped; i++)
			fn(&immap->owner->obj, false, arg);
	pthread_mutex_unlock(&ictx->mmap_lock);
}

/*
 * Close: in the kernel every VMA pins the file, so release comes after
 * the last munmap; the simulator unmaps for the program.  The regions
 * themselves stay until their drivers unregister them.
 */
void iommufd_mmaps_release_all(struct iommufd_ctx *ictx)
{
	struct iommufd_mmap *immap;

	pthread_mutex_lock(&ictx->mmap_lock);
	for (immap = ictx->mmaps; immap; immap = immap->next)
		for (; immap->mapped; immap->mapped--)
			refcount_dec(&immap->owner->obj.users);
	pthread_mutex_unlock(&ictx->mmap_lock);
}
