/*
 * The I/O page table of one paging domain: what a simulated IOMMU walks to
 * turn a device's IOVA into a physical address.  It is a radix tree of
 * 512-entry tables over a configurable minimum granule (4 KiB for a normal
 * domain, 2 KiB for the kernel selftest's mock domain), with large leaves of
 * granule * 512 and granule * 512^2 when the page-size bitmap allows them.
 * The io_pagetable layer maps and unmaps whole pfn runs through it, device
 * DMA and the selftest checks translate through it, and the dirty-tracking
 * ioctls read its per-leaf dirty bits.  Every entry point takes the domain's
 * internal rwlock, so DMA lookups may race with map and unmap.
 */
#ifndef ISIM_IOMMUFD_DOMAIN_H
#define ISIM_IOMMUFD_DOMAIN_H

#include <stdbool.h>
#include <stdint.h>

struct iommufd_domain;

/*
 * Protection bits, numerically the kernel's IOMMU_READ / IOMMU_WRITE so that
 * an area's iommu_prot can be passed straight in.  Other kernel prot bits
 * (IOMMU_CACHE, ...) are accepted and dropped: this format has no such
 * attributes, so lookups report only these two.
 */
enum {
	IOMMUFD_DOMAIN_READ = 1 << 0,
	IOMMUFD_DOMAIN_WRITE = 1 << 1,
};

/* The three leaf sizes, smallest first: granule, granule*512, granule*512^2. */
#define IOMMUFD_DOMAIN_LEAF_LEVELS 3

struct iommufd_domain_geometry {
	/*
	 * The lowest set bit is the granule: a power of two >= 1 KiB.  Any
	 * other set bit must be granule << 9 or granule << 18 and allows leaves
	 * of that size; a bitmap with only the granule gives a domain without
	 * large leaves.
	 */
	uint64_t pgsize_bitmap;
	/* Inclusive; start and last + 1 must be granule aligned. */
	uint64_t aperture_start, aperture_last;
};

/* 0, -EINVAL (bad geometry) or -ENOMEM. */
int iommufd_domain_new(const struct iommufd_domain_geometry *g,
		       struct iommufd_domain **out);
void iommufd_domain_free(struct iommufd_domain *d);
uint64_t iommufd_domain_min_pgsize(const struct iommufd_domain *d);

/*
 * Map the physically contiguous run [iova, iova + len) -> [pa, pa + len)
 * with the largest leaves that the alignment of both addresses allows.
 * All or nothing.  Errors: -EINVAL when len is 0 or iova, pa or len is not
 * granule aligned (or pa + len wraps); -ERANGE when any part lies outside
 * the aperture (including iova + len wrapping); -EEXIST when any part is
 * already mapped; -ENOMEM.  The state is unchanged after every error.
 */
int iommufd_domain_map(struct iommufd_domain *d, uint64_t iova, uint64_t pa,
		       uint64_t len, int prot);

/*
 * Unmap whatever is mapped in [iova, iova + len) and return the number of
 * bytes that were mapped there (holes are skipped, not an error).  A large
 * leaf that straddles either end is first split into smaller leaves, so the
 * translation outside the range survives.  The tables a split needs come
 * from a small per-domain reserve that every map tops up, so an unmap after
 * a map never allocates and cannot fail; only when the reserve was drained
 * by earlier unmaps does it allocate, outside fault injection, and only if
 * that allocation really fails does it return 0 with nothing unmapped.  An
 * unaligned iova or len also returns 0.
 */
uint64_t iommufd_domain_unmap(struct iommufd_domain *d, uint64_t iova,
			      uint64_t len);

/* 0 with the physical address of @iova (offset included) and its prot, or
 * -ENOENT when @iova is not mapped. */
int iommufd_domain_iova_to_phys(struct iommufd_domain *d, uint64_t iova,
				uint64_t *pa, int *prot);

/*
 * Run @fn under the domain's read lock and pass it the unmap generation: a
 * count that every unmap which removed anything bumps under the write lock
 * (never 0).  A caller may keep what it learnt from the domain, such as the
 * host bytes of a frame mapped at some IOVA, together with the generation,
 * and use it again inside a later call while the generation is unchanged:
 * no unmap came in between, and none can while @fn runs, so the frame is
 * still mapped (and pinned by the IOAS that mapped it).  Returns what @fn
 * returns.
 */
int iommufd_domain_read_locked(struct iommufd_domain *d,
			       int (*fn)(void *arg, uint64_t gen), void *arg);

/*
 * Call @fn for every mapped range inside [iova, last], in ascending IOVA
 * order, clipped to the window, with neighbours that are contiguous in both
 * IOVA and PA and have equal prot merged into one call.  A non-zero return
 * from @fn stops the walk and is returned; -EINVAL when last < iova.  @fn
 * runs under the domain's read lock and must not map or unmap this domain.
 */
int iommufd_domain_for_each(struct iommufd_domain *d, uint64_t iova,
			    uint64_t last,
			    int (*fn)(void *arg, uint64_t iova, uint64_t pa,
				      uint64_t len, int prot),
			    void *arg);

/* Number of leaves at each level: [0] granule, [1] granule*512,
 * [2] granule*512^2. */
void iommufd_domain_stats(const struct iommufd_domain *d,
			  uint64_t leaves_per_level[IOMMUFD_DOMAIN_LEAF_LEVELS]);

/*
 * Dirty tracking, the kernel's set_dirty_tracking / read_and_clear_dirty.
 * Every leaf has one dirty bit, as hardware PTEs do, so a write anywhere in
 * a large leaf dirties all of it.  Enabling clears every dirty bit, so only
 * writes made while tracking count.
 */
void iommufd_domain_set_dirty_tracking(struct iommufd_domain *d, bool enable);

/*
 * A device write to [iova, iova + len): sets the dirty bit of every leaf it
 * touches when tracking is enabled (and is a no-op otherwise, as hardware
 * that is not tracking sets nothing).  No alignment is needed.  -EINVAL for
 * len 0 or a wrapping range; -ENOENT, with nothing marked, when any byte is
 * unmapped.
 */
int iommufd_domain_mark_dirty(struct iommufd_domain *d, uint64_t iova,
			      uint64_t len);

/*
 * Call @fn once, in ascending order, for every @pgsize granule of
 * [iova, iova + len) that overlaps a dirty leaf, then clear the dirty bits
 * of those leaves unless @no_clear.  A dirty leaf that extends past either
 * end of the range keeps its bit: clearing it would lose the writes outside
 * the range, and reporting a page twice is safe where missing one is not.
 * -EINVAL when tracking is off (the mock driver's rule), when @pgsize is
 * not a power of two, when len is 0, when iova or len is not @pgsize
 * aligned, or when the range wraps.  @fn runs under the domain's write lock.
 */
int iommufd_domain_read_and_clear_dirty(struct iommufd_domain *d,
					uint64_t iova, uint64_t len,
					uint64_t pgsize, bool no_clear,
					void (*fn)(void *arg, uint64_t iova),
					void *arg);

#endif
