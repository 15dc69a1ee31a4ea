/*
 * Dirty tracking on paging HWPTs: IOMMU_HWPT_SET_DIRTY_TRACKING,
 * IOMMU_HWPT_GET_DIRTY_BITMAP and the selftest's IOMMU_TEST_OP_DIRTY, as
 * the kernel's hw_pagetable.c, io_pagetable.c, iova_bitmap.c and the mock
 * driver of selftest.c have them.
 *
 * A paging HWPT has dirty ops exactly when it was allocated with
 * IOMMU_HWPT_ALLOC_DIRTY_TRACKING (hwpt->dirty_tracking); the dirty bits
 * themselves live in the domain's leaves (domain.h).
 *
 * Kernel behaviour kept on purpose, because programs can observe it:
 *  - SET_DIRTY_TRACKING does not look at __reserved.
 *  - Every enable clears the dirty bits, also when already enabled.
 *  - GET_DIRTY_BITMAP walks the areas that contiguously cover the range
 *    from its start and stops silently at the first hole; what the walk
 *    returns is dropped, so a range that is not (fully) mapped, or a
 *    domain that is not tracking, still answers 0.
 *  - The bitmap is written like the kernel writes it through pinned user
 *    pages: bits are only ever set, and bits that fall in a page that
 *    cannot be written are lost without an error (pinning happens lazily,
 *    per page, and a failed pin is not reported).
 *  - TEST_OP_DIRTY looks the mock's entry up at index iova / page_size,
 *    which is the entry of that IOVA only when page_size is the mock's
 *    page size (the only size the selftest uses).
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <linux/iommufd.h>
#include <iommufd_test.h>

#include "sim/iommufd/domain.h"
#include "sim/iommufd/iommufd_private.h"
#include "sim/lib/fault.h"
#include "sim/lib/uaccess.h"
#include "sim/machine.h"

extern const struct isim_iommu_ops isim_mock_iommu_ops;
extern const struct isim_iommu_ops isim_mock_iova_iommu_ops;

/*
 * The user bitmap is an array of unsigned long, bit i of the array being
 * the IOVA bitmap->iova + (i << pgshift).  On a little-endian host bit i is
 * in byte i / 8; on a big-endian one the bytes of each word are mirrored.
 */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define BITMAP_BYTE_SWIZZLE ((uint64_t)sizeof(unsigned long) - 1)
#else
#define BITMAP_BYTE_SWIZZLE ((uint64_t)0)
#endif

#define BITS_PER_ULONG (sizeof(unsigned long) * CHAR_BIT)

static struct iommufd_hwpt_paging *get_hwpt_paging(struct iommufd_ctx *ictx,
						   uint32_t id)
{
	/* A HWPT of any other type, or any other object: -ENOENT. */
	return (struct iommufd_hwpt_paging *)iommufd_get_object(
		ictx, id, IOMMUFD_OBJ_HWPT_PAGING);
}

/* --------------------------------------------- SET_DIRTY_TRACKING */

int iommufd_hwpt_set_dirty_tracking(struct iommufd_ucmd *ucmd)
{
	struct iommu_hwpt_set_dirty_tracking *cmd = ucmd->cmd;
	struct iommufd_hwpt_paging *hwpt;
	struct iommufd_domain *domain;
	struct io_pagetable *iopt;
	bool enable;
	int rc = 0;

	if (cmd->flags & ~IOMMU_HWPT_DIRTY_TRACKING_ENABLE)
		return -EOPNOTSUPP;

	hwpt = get_hwpt_paging(ucmd->ictx, cmd->hwpt_id);
	if (IS_ERR(hwpt))
		return (int)PTR_ERR(hwpt);

	/* No dirty ops on the domain (iopt_set_dirty_tracking). */
	if (!hwpt->dirty_tracking) {
		rc = -EOPNOTSUPP;
		goto out_put;
	}

	enable = cmd->flags & IOMMU_HWPT_DIRTY_TRACKING_ENABLE;
	domain = hwpt->common.domain;
	iopt = &hwpt->ioas->iopt;

	pthread_rwlock_rdlock(&iopt->iova_rwsem);
	/*
	 * The kernel clears every dirty bit before it enables, whether or not
	 * tracking was on.  The domain clears on the off -> on transition, so
	 * pass through off: a device write racing with this lands either
	 * before the clear or after it, as it could in the kernel.
	 */
	if (enable)
		iommufd_domain_set_dirty_tracking(domain, false);
	iommufd_domain_set_dirty_tracking(domain, enable);
	pthread_rwlock_unlock(&iopt->iova_rwsem);

	isim_trace(&ucmd->ictx->m->trace, "hwpt.dirty_tracking", "hwpt=%u on=%d",
		   cmd->hwpt_id, enable);
out_put:
	iommufd_put_object(ucmd->ictx, &hwpt->common.obj);
	return rc;
}

/* --------------------------------------------- GET_DIRTY_BITMAP */

/*
 * The kernel's struct iova_bitmap: where the bits go.  The user memory is
 * written one page at a time: bits are gathered in @staged for the page
 * at @base, then OR-ed into the user page with a read-modify-write when
 * the walk moves to another page or ends.
 */
struct dirty_bitmap {
	uint64_t iova;		/* IOVA of bit 0 */
	unsigned int pgshift;	/* each bit covers 1 << pgshift bytes */
	uint64_t granule;	/* what one report of the domain covers */
	uint64_t data;		/* user address of the bitmap */
	uint64_t ps;		/* PAGE_SIZE */
	bool open;		/* @base names a page */
	uint64_t base;		/* user address of the staged page */
	size_t lo, hi;		/* staged bytes are [lo, hi) of the page */
	uint8_t *staged;	/* ps bytes */
	uint8_t *user;		/* ps bytes: the read-back of the user page */
};

/* Hand the staged bits of the current page to the user. */
static void dirty_bitmap_flush(struct dirty_bitmap *bm)
{
	size_t n;
	void *u;

	if (!bm->open || bm->hi <= bm->lo)
		goto reset;
	n = bm->hi - bm->lo;
	u = u64_to_user_ptr(bm->base + bm->lo);
	/* A page that cannot be pinned for write: its bits are lost. */
	if (!isim_copy_from_user(bm->user, u, n)) {
		for (size_t i = 0; i < n; i++)
			bm->user[i] |= bm->staged[bm->lo + i];
		(void)isim_copy_to_user(u, bm->user, n);
	}
	memset(bm->staged + bm->lo, 0, n);
reset:
	bm->lo = bm->ps;
	bm->hi = 0;
}

/* iova_bitmap_set() in bit numbers: set bits [bit, bit + nbits). */
static void dirty_bitmap_set_bits(struct dirty_bitmap *bm, uint64_t bit,
				  uint64_t nbits)
{
	while (nbits) {
		unsigned int shift = bit % CHAR_BIT;
		unsigned int n = nbits < CHAR_BIT - shift ?
					 (unsigned int)nbits :
					 CHAR_BIT - shift;
		/* Wraps like the kernel's pointer arithmetic; a wrapped
		 * address is simply not writable. */
		uint64_t addr = (bm->data + bit / CHAR_BIT) ^ BITMAP_BYTE_SWIZZLE;
		uint64_t base = addr & ~(bm->ps - 1);
		size_t off;

		if (!bm->open || base != bm->base) {
			dirty_bitmap_flush(bm);
			bm->base = base;
			bm->open = true;
		}
		off = (size_t)(addr - base);
		bm->staged[off] |= (uint8_t)(((1u << n) - 1) << shift);
		if (off < bm->lo)
			bm->lo = off;
		if (off >= bm->hi)
			bm->hi = off + 1;
		bit += n;
		nbits -= n;
	}
}

/* The domain's report: the granule at @iova overlaps a dirty leaf. */
static void dirty_bitmap_record(void *arg, uint64_t iova)
{
	struct dirty_bitmap *bm = arg;
	uint64_t first = (iova - bm->iova) >> bm->pgshift;
	uint64_t last = (iova + bm->granule - 1 - bm->iova) >> bm->pgshift;

	dirty_bitmap_set_bits(bm, first, last - first + 1);
}

/* iommufd_check_iova_range(): -EOVERFLOW or -EINVAL. */
static int check_iova_range(struct io_pagetable *iopt,
			    const struct iommu_hwpt_get_dirty_bitmap *cmd,
			    uint64_t *last)
{
	uint64_t align = iopt->iova_alignment;

	/* A length of 0 is length - 1 == U64_MAX here, as in the kernel. */
	if (__builtin_add_overflow(cmd->iova, cmd->length - 1, last))
		return -EOVERFLOW;
	/* (The kernel's "> ULONG_MAX" test cannot fire on 64 bits.) */
	if ((cmd->iova & (align - 1)) || ((*last + 1) & (align - 1)))
		return -EINVAL;
	if (!cmd->page_size)
		return -EINVAL;
	/* page_size need not be a power of two: the kernel masks with
	 * page_size - 1 and takes the granule from its lowest set bit. */
	if ((cmd->iova & (cmd->page_size - 1)) ||
	    ((*last + 1) & (cmd->page_size - 1)))
		return -EINVAL;
	return 0;
}

/*
 * iommu_read_and_clear_dirty(), under iova_rwsem: each area of the
 * contiguous run from cmd->iova has the domain report and clear its dirty
 * granules into the bitmap.
 */
static int read_and_clear_dirty(struct isim_machine *m,
				struct io_pagetable *iopt,
				struct iommufd_domain *domain, bool no_clear,
				const struct iommu_hwpt_get_dirty_bitmap *cmd,
				uint64_t last)
{
	struct iopt_area_contig_iter iter;
	struct dirty_bitmap *bm;
	struct iopt_area *area;

	/* iova_bitmap_alloc(): the object, then a page for the pins. */
	bm = isim_kzalloc(sizeof(*bm));
	if (!bm)
		return -ENOMEM;
	bm->ps = m->cfg.page_size;
	bm->staged = isim_kzalloc(2 * bm->ps);
	if (!bm->staged) {
		free(bm);
		return -ENOMEM;
	}
	bm->user = bm->staged + bm->ps;
	bm->iova = cmd->iova;
	bm->pgshift = (unsigned int)__builtin_ctzll(cmd->page_size);
	bm->granule = iommufd_domain_min_pgsize(domain);
	bm->data = cmd->data;
	bm->lo = bm->ps;

	iopt_for_each_contig_area(&iter, area, iopt, cmd->iova, last) {
		uint64_t area_last = iopt_area_contig_last(&iter);
		uint64_t len = area_last - iter.cur_iova + 1;

		/* Only the whole 64-bit space has no length. */
		if (!len ||
		    iommufd_domain_read_and_clear_dirty(domain, iter.cur_iova,
							len, bm->granule,
							no_clear,
							dirty_bitmap_record,
							bm))
			break;
	}
	/* The walk's result (a hole, tracking off) is dropped: rc 0. */
	dirty_bitmap_flush(bm);
	free(bm->staged);
	free(bm);
	return 0;
}

int iommufd_hwpt_get_dirty_bitmap(struct iommufd_ucmd *ucmd)
{
	struct iommu_hwpt_get_dirty_bitmap *cmd = ucmd->cmd;
	struct iommufd_hwpt_paging *hwpt;
	struct io_pagetable *iopt;
	uint64_t last;
	int rc;

	if ((cmd->flags & ~IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR) ||
	    cmd->__reserved)
		return -EOPNOTSUPP;

	hwpt = get_hwpt_paging(ucmd->ictx, cmd->hwpt_id);
	if (IS_ERR(hwpt))
		return (int)PTR_ERR(hwpt);

	iopt = &hwpt->ioas->iopt;
	pthread_rwlock_rdlock(&iopt->iova_rwsem);
	rc = check_iova_range(iopt, cmd, &last);
	if (!rc && !hwpt->dirty_tracking)
		rc = -EOPNOTSUPP;	/* no dirty ops */
	if (!rc)
		rc = read_and_clear_dirty(
			ucmd->ictx->m, iopt, hwpt->common.domain,
			cmd->flags & IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR, cmd,
			last);
	pthread_rwlock_unlock(&iopt->iova_rwsem);

	isim_trace(&ucmd->ictx->m->trace, "hwpt.dirty_bitmap",
		   "hwpt=%u iova=%#llx len=%#llx rc=%d", cmd->hwpt_id,
		   (unsigned long long)cmd->iova,
		   (unsigned long long)cmd->length, rc);
	iommufd_put_object(ucmd->ictx, &hwpt->common.obj);
	return rc;
}

/* --------------------------------------------- IOMMU_TEST_OP_DIRTY */

static void ignore_dirty(void *arg, uint64_t iova)
{
	(void)arg;
	(void)iova;
}

/*
 * The mock's MOCK_DIRTY_TRACK flag.  The domain answers -EINVAL to a read
 * while tracking is off, after its argument checks, which one granule at
 * IOVA 0 passes; with no_clear the read changes nothing.
 */
static bool domain_is_tracking(struct iommufd_domain *domain)
{
	uint64_t g = iommufd_domain_min_pgsize(domain);

	return !iommufd_domain_read_and_clear_dirty(domain, 0, g, g, true,
						    ignore_dirty, NULL);
}

/*
 * iommufd_test_dirty(): every set bit i of the user's bitmap marks the
 * mock entry of iova + i * page_size dirty; out_nr_dirty counts the bits
 * that found an entry.
 */
int iommufd_test_dirty(struct iommufd_ucmd *ucmd, struct iommu_test_cmd *cmd)
{
	uint64_t iova = cmd->dirty.iova, length = cmd->dirty.length;
	uint64_t page_size = cmd->dirty.page_size;
	void *uptr = u64_to_user_ptr(cmd->dirty.uptr);
	struct iommufd_hwpt_paging *hwpt;
	struct iommufd_domain *domain;
	uint64_t max, words, size, entry, count = 0;
	unsigned long *tmp;
	int rc;

	if (!page_size || !length || iova % page_size || length % page_size ||
	    !uptr)
		return -EINVAL;

	/* get_md_pagetable(): a paging HWPT of the mock driver. */
	hwpt = get_hwpt_paging(ucmd->ictx, cmd->id);
	if (IS_ERR(hwpt))
		return (int)PTR_ERR(hwpt);
	domain = hwpt->common.domain;
	if ((hwpt->common.iommu->ops != &isim_mock_iommu_ops &&
	     hwpt->common.iommu->ops != &isim_mock_iova_iommu_ops) ||
	    !domain) {
		rc = -EINVAL;
		goto out_put;
	}

	if (!domain_is_tracking(domain)) {
		rc = -EINVAL;
		goto out_put;
	}

	max = length / page_size;
	words = max / BITS_PER_ULONG + (max % BITS_PER_ULONG != 0);
	size = words * sizeof(unsigned long);
	/* kvzalloc() refuses anything above INT_MAX. */
	if (size > INT_MAX) {
		rc = -ENOMEM;
		goto out_put;
	}
	tmp = isim_kzalloc((size_t)size);
	if (!tmp) {
		rc = -ENOMEM;
		goto out_put;
	}
	if (isim_copy_from_user(tmp, uptr,
				(size_t)(max / CHAR_BIT +
					 (max % CHAR_BIT != 0)))) {
		rc = -EFAULT;
		goto out_free;
	}

	/*
	 * The mock keeps one xarray entry per MOCK_IO_PAGE_SIZE (PAGE_SIZE / 2)
	 * in both of its formats; marking any byte of an entry dirties the
	 * domain leaf that holds it.
	 */
	entry = ucmd->ictx->m->cfg.page_size / 2;
	for (uint64_t w = 0; w < words; w++) {
		unsigned long bits = tmp[w];

		while (bits) {
			uint64_t i = w * BITS_PER_ULONG +
				     (uint64_t)__builtin_ctzl(bits);
			uint64_t index;

			bits &= bits - 1;
			if (i >= max)
				break;
			/* xa_load(&mock->pfns, cur / page_size) */
			index = (iova + i * page_size) / page_size;
			if (index > UINT64_MAX / entry)
				continue;	/* beyond every entry */
			if (!iommufd_domain_mark_dirty(domain, index * entry,
						       entry))
				count++;
		}
	}

	cmd->dirty.out_nr_dirty = count;
	rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
out_free:
	free(tmp);
out_put:
	iommufd_put_object(ucmd->ictx, &hwpt->common.obj);
	return rc;
}
