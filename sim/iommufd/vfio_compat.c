/*
 * The VFIO type1 container ABI on an iommufd (spec/core.md §8.11, §4.13,
 * §10 quirk 6; the kernel's drivers/iommu/iommufd/vfio_compat.c).
 *
 * One IOAS of the context is the "compat IOAS": the one the container
 * ioctls act on, since they carry no IOAS ID.  Userspace picks it with
 * IOMMU_VFIO_IOAS (or VFIO creates it when a group joins the container,
 * iommufd_vfio_compat_ioas_create()).  The context only points at it; the
 * pointer holds no reference, and destroying that IOAS clears it (main.c).
 *
 * The container ioctls are the numbers the iommufd table does not cover
 * (ioctl.c hands them here): GET_API_VERSION, CHECK_EXTENSION, SET_IOMMU,
 * IOMMU_GET_INFO, IOMMU_MAP_DMA and IOMMU_UNMAP_DMA.  Anything else,
 * VFIO_IOMMU_DIRTY_PAGES included, is "no such ioctl": ENOTTY.
 *
 * Type1 (v1) allows unmapping part of a mapping.  It is emulated by turning
 * large pages off on the compat IOAS at SET_IOMMU time and cutting areas at
 * the edges of every UNMAP_DMA range (iopt_cut_iova, below).  The cut is
 * the only place an area is ever split.
 *
 * Not modelled: no-IOMMU mode (CONFIG_VFIO_NOIOMMU is off, as in Debian's
 * 6.12 build, so VFIO_NOIOMMU_IOMMU is neither advertised nor accepted) and
 * cache-coherency enforcement (our domains have no snoop-control bit, so
 * no paging HWPT enforces it; VFIO_DMA_CC_IOMMU answers 1 only while the
 * compat IOAS has no HWPT).
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <linux/iommufd.h>
#include <linux/vfio.h>

#include "sim/iommufd/domain.h"
#include "sim/iommufd/io_pagetable.h"
#include "sim/iommufd/iommufd_private.h"
#include "sim/lib/fault.h"
#include "sim/lib/uaccess.h"

#define offsetofend(type, member)                                          \
	(offsetof(type, member) + sizeof(((type *)0)->member))

static inline uint64_t compat_page_size(const struct io_pagetable *iopt)
{
	return iopt->m->cfg.page_size;
}

/* ------------------------------------------------------- the compat IOAS */

/*
 * The compat IOAS with a short-term reference, or ERR_PTR(-ENODEV) when
 * there is none or it is on its way out (users already 0).
 */
static struct iommufd_ioas *get_compat_ioas(struct iommufd_ctx *ictx)
{
	struct iommufd_ioas *ioas = ERR_PTR(-ENODEV);

	pthread_mutex_lock(&ictx->obj_lock);
	if (ictx->vfio_ioas && iommufd_lock_obj(&ictx->vfio_ioas->obj))
		ioas = ictx->vfio_ioas;
	pthread_mutex_unlock(&ictx->obj_lock);
	return ioas;
}

int iommufd_vfio_compat_ioas_get_id(struct iommufd_ctx *ictx,
				    uint32_t *out_ioas_id)
{
	struct iommufd_ioas *ioas = get_compat_ioas(ictx);

	if (IS_ERR(ioas))
		return (int)PTR_ERR(ioas);
	*out_ioas_id = ioas->obj.id;
	iommufd_put_object(ictx, &ioas->obj);
	return 0;
}

/*
 * What VFIO does when a group joins an iommufd-backed container: make sure
 * a compat IOAS exists.  A live one is kept; otherwise a new IOAS becomes
 * it.  The new IOAS is an ordinary object: userspace can learn its ID with
 * IOMMU_VFIO_IOAS GET and destroy it, and close destroys it otherwise.
 */
int iommufd_vfio_compat_ioas_create(struct iommufd_ctx *ictx)
{
	struct iommufd_ioas *ioas;

	/* The same construction as IOMMU_IOAS_ALLOC's (ioas.c). */
	ioas = (struct iommufd_ioas *)_iommufd_object_alloc(
		ictx, sizeof(*ioas), IOMMUFD_OBJ_IOAS);
	if (IS_ERR(ioas))
		return (int)PTR_ERR(ioas);
	iopt_init_table(&ioas->iopt, ictx->m);
	pthread_mutex_init(&ioas->mutex, NULL);

	pthread_mutex_lock(&ictx->obj_lock);
	if (ictx->vfio_ioas && iommufd_lock_obj(&ictx->vfio_ioas->obj)) {
		struct iommufd_ioas *cur = ictx->vfio_ioas;

		pthread_mutex_unlock(&ictx->obj_lock);
		iommufd_put_object(ictx, &cur->obj);
		iommufd_object_abort_and_destroy(ictx, &ioas->obj);
		return 0;
	}
	ictx->vfio_ioas = ioas;
	pthread_mutex_unlock(&ictx->obj_lock);

	pthread_rwlock_rdlock(&ictx->ioas_creation_lock);
	iommufd_object_finalize(ictx, &ioas->obj);
	pthread_rwlock_unlock(&ictx->ioas_creation_lock);
	return 0;
}

/* IOMMU_VFIO_IOAS (§8.11).  SET and CLEAR never write back. */
int iommufd_vfio_ioas(struct iommufd_ucmd *ucmd)
{
	struct iommu_vfio_ioas *cmd = ucmd->cmd;
	struct iommufd_ctx *ictx = ucmd->ictx;
	struct iommufd_ioas *ioas;

	if (cmd->__reserved)
		return -EOPNOTSUPP;
	switch (cmd->op) {
	case IOMMU_VFIO_IOAS_GET:
		ioas = get_compat_ioas(ictx);
		if (IS_ERR(ioas))
			return (int)PTR_ERR(ioas);
		cmd->ioas_id = ioas->obj.id;
		iommufd_put_object(ictx, &ioas->obj);
		return iommufd_ucmd_respond(ucmd, sizeof(*cmd));
	case IOMMU_VFIO_IOAS_SET:
		ioas = iommufd_get_ioas(ictx, cmd->ioas_id);
		if (IS_ERR(ioas))
			return (int)PTR_ERR(ioas);
		pthread_mutex_lock(&ictx->obj_lock);
		ictx->vfio_ioas = ioas;
		pthread_mutex_unlock(&ictx->obj_lock);
		iommufd_put_object(ictx, &ioas->obj);
		return 0;
	case IOMMU_VFIO_IOAS_CLEAR:
		pthread_mutex_lock(&ictx->obj_lock);
		ictx->vfio_ioas = NULL;
		pthread_mutex_unlock(&ictx->obj_lock);
		return 0;
	default:
		return -EOPNOTSUPP;
	}
}

/* ------------------------------------------------------- area cutting */

static void trace_area(struct io_pagetable *iopt, const char *point,
		       const struct iopt_area *area, const char *why)
{
	isim_trace(&iopt->m->trace, point, "ioas=%u iova=%#llx last=%#llx%s%s",
		   ioas_of_iopt(iopt)->obj.id,
		   (unsigned long long)iopt_area_iova(area),
		   (unsigned long long)iopt_area_last_iova(area),
		   why ? " why=" : "", why ? why : "");
}

/*
 * Give @half the IOVA range [iova, last] of @orig, starting at @start_byte
 * of the same pages, and put it in the area tree.  The checks the map path
 * makes cannot fail here: prot, pages and the alignment of the byte offset
 * were all checked for the original or by the caller.
 */
static void area_half_insert(struct io_pagetable *iopt, struct iopt_area *half,
			     const struct iopt_area *orig, uint64_t iova,
			     uint64_t last, uint64_t start_byte)
{
	uint64_t ps = compat_page_size(iopt);

	half->iopt = iopt;
	half->iommu_prot = orig->iommu_prot;
	half->page_offset = start_byte % ps;
	half->node.start = iova;
	half->node.last = last;
	half->pages_node.start = start_byte / ps;
	half->pages_node.last = (start_byte + (last - iova)) / ps;
	ISIM_WARN_ON(iopt->m,
		     half->pages_node.last >= orig->pages->npages ||
			     half->page_offset % iopt->iova_alignment);
	isim_itree_insert(&iopt->area_itree, &half->node);
	trace_area(iopt, "iopt.area_insert", half, NULL);
}

/*
 * Split @area so that @iova is the last IOVA of the left part (§4.13).  A
 * cut at the area's first or last IOVA needs no split.  Caller holds
 * iova_rwsem for write.
 */
static int iopt_area_split(struct iopt_area *area, uint64_t iova)
{
	struct io_pagetable *iopt = area->iopt;
	uint64_t align = iopt->iova_alignment;
	uint64_t first = iopt_area_iova(area);
	uint64_t last = iopt_area_last_iova(area);
	uint64_t new_start = iova + 1;
	uint64_t ps = compat_page_size(iopt);
	struct iopt_pages *pages = area->pages;
	struct iopt_area *lhs, *rhs;
	int rc = 0;

	if (iova == first || iova == last)
		return 0;
	if (!pages || area->prevent_access)
		return -EBUSY;
	if (new_start & (align - 1) ||
	    iopt_area_start_byte(area, new_start, ps) & (align - 1))
		return -EINVAL;

	lhs = isim_kzalloc(sizeof(*lhs));
	if (!lhs)
		return -ENOMEM;
	rhs = isim_kzalloc(sizeof(*rhs));
	if (!rhs) {
		free(lhs);
		return -ENOMEM;
	}

	pthread_mutex_lock(&pages->mutex);
	/* Pins are recorded per area; there is no splitting them. */
	if (area->num_accesses) {
		rc = -EINVAL;
		goto err_unlock;
	}
	/* A domain may hold large IOPTEs across the cut. */
	if (area->storage_domain && !iopt->disable_large_pages) {
		rc = -EINVAL;
		goto err_unlock;
	}

	isim_itree_remove(&iopt->area_itree, &area->node);
	trace_area(iopt, "iopt.area_remove", area, "split");
	area_half_insert(iopt, lhs, area, first, iova,
			 iopt_area_start_byte(area, first, ps));
	area_half_insert(iopt, rhs, area, new_start, last,
			 iopt_area_start_byte(area, new_start, ps));

	/* Both halves stay loaded exactly where the original was. */
	if (area->storage_domain) {
		isim_itree_remove(&pages->domains_itree, &area->pages_node);
		isim_itree_insert(&pages->domains_itree, &lhs->pages_node);
		isim_itree_insert(&pages->domains_itree, &rhs->pages_node);
	}
	lhs->storage_domain = area->storage_domain;
	rhs->storage_domain = area->storage_domain;
	lhs->pages = pages;
	rhs->pages = pages;
	/* The original's pages reference moves to lhs; rhs takes one more. */
	refcount_inc(&pages->kref);
	free(area);
	pthread_mutex_unlock(&pages->mutex);
	return 0;

err_unlock:
	pthread_mutex_unlock(&pages->mutex);
	free(rhs);
	free(lhs);
	return rc;
}

int iopt_cut_iova(struct io_pagetable *iopt, uint64_t *iovas, size_t num_iovas)
{
	int rc = 0;

	pthread_rwlock_wrlock(&iopt->iova_rwsem);
	for (size_t i = 0; i < num_iovas; i++) {
		struct iopt_area *area;

		area = iopt_area_iter_first(iopt, iovas[i], iovas[i]);
		if (!area)
			continue;
		rc = iopt_area_split(area, iovas[i]);
		if (rc)
			break;
	}
	pthread_rwlock_unlock(&iopt->iova_rwsem);
	return rc;
}

/* ------------------------------------------------------- MAP / UNMAP */

static int vfio_map_dma(struct iommufd_ctx *ictx, void *arg)
{
	const size_t minsz = offsetofend(struct vfio_iommu_type1_dma_map, size);
	const uint32_t supported = VFIO_DMA_MAP_FLAG_READ |
				   VFIO_DMA_MAP_FLAG_WRITE;
	struct vfio_iommu_type1_dma_map map;
	int prot = IOMMU_CACHE;
	struct iommufd_ioas *ioas;
	uint64_t iova;
	int rc;

	if (isim_copy_from_user(&map, arg, minsz))
		return -EFAULT;
	if (map.argsz < minsz || (map.flags & ~supported))
		return -EINVAL;
	if (map.flags & VFIO_DMA_MAP_FLAG_READ)
		prot |= IOMMU_READ;
	if (map.flags & VFIO_DMA_MAP_FLAG_WRITE)
		prot |= IOMMU_WRITE;

	ioas = get_compat_ioas(ictx);
	if (IS_ERR(ioas))
		return (int)PTR_ERR(ioas);
	/* Always at the given IOVA; the context's accounting mode applies. */
	iova = map.iova;
	rc = iopt_map_user_pages(&ioas->iopt, &iova, u64_to_user_ptr(map.vaddr),
				 map.size, prot, 0, ictx->account_mode);
	iommufd_put_object(ictx, &ioas->obj);
	return rc;
}

/*
 * The reply is {argsz, flags, iova, size} with size = bytes unmapped, also
 * after a failure of the unmap itself (not after the argument checks or a
 * failed cut).  An empty range succeeds with size 0: what the 6.12
 * selftest expects (the stable fix of Oct 2025; v6.18+ alike).
 */
static int vfio_unmap_dma(struct iommufd_ctx *ictx, void *arg)
{
	const size_t minsz = offsetofend(struct vfio_iommu_type1_dma_unmap,
					 size);
	struct vfio_iommu_type1_dma_unmap unmap;
	struct iommufd_ioas *ioas;
	uint64_t unmapped = 0;
	int rc;

	/* GET_DIRTY_BITMAP is not offered: dirty tracking is HWPT based. */
	if (isim_copy_from_user(&unmap, arg, minsz))
		return -EFAULT;
	if (unmap.argsz < minsz || (unmap.flags & ~VFIO_DMA_UNMAP_FLAG_ALL))
		return -EINVAL;

	ioas = get_compat_ioas(ictx);
	if (IS_ERR(ioas))
		return (int)PTR_ERR(ioas);

	if (unmap.flags & VFIO_DMA_UNMAP_FLAG_ALL) {
		if (unmap.iova || unmap.size) {
			rc = -EINVAL;
			goto out_put;
		}
		rc = iopt_unmap_all(&ioas->iopt, &unmapped);
	} else {
		if (__atomic_load_n(&ioas->iopt.disable_large_pages,
				    __ATOMIC_RELAXED)) {
			/*
			 * Type1 v1: cut at both edges of the range so that
			 * it covers whole areas.  Nothing below IOVA 0.
			 */
			uint64_t cuts[] = { unmap.iova + unmap.size - 1,
					    unmap.iova - 1 };

			rc = iopt_cut_iova(&ioas->iopt, cuts,
					   unmap.iova ? 2 : 1);
			if (rc)
				goto out_put;
		}
		rc = iopt_unmap_iova(&ioas->iopt, unmap.iova, unmap.size,
				     &unmapped);
	}
	unmap.size = unmapped;
	if (isim_copy_to_user(arg, &unmap, minsz))
		rc = -EFAULT;
out_put:
	iommufd_put_object(ictx, &ioas->obj);
	return rc;
}

/* ------------------------------------------ CHECK_EXTENSION / SET_IOMMU */

/* 1 when every paging HWPT of the compat IOAS enforces coherency. */
static int vfio_cc_iommu(struct iommufd_ctx *ictx)
{
	struct iommufd_ioas *ioas = get_compat_ioas(ictx);
	int rc;

	if (IS_ERR(ioas))
		return (int)PTR_ERR(ioas);
	/* No HWPT of ours enforces it (see the top of this file). */
	pthread_mutex_lock(&ioas->mutex);
	rc = ioas->hwpt_list ? 0 : 1;
	pthread_mutex_unlock(&ioas->mutex);
	iommufd_put_object(ictx, &ioas->obj);
	return rc;
}

static int vfio_check_extension(struct iommufd_ctx *ictx, unsigned long type)
{
	switch (type) {
	case VFIO_TYPE1_IOMMU:
	case VFIO_TYPE1v2_IOMMU:
	case VFIO_UNMAP_ALL:
		return 1;
	case VFIO_DMA_CC_IOMMU:
		return vfio_cc_iommu(ictx);
	case VFIO_NOIOMMU_IOMMU:	/* CONFIG_VFIO_NOIOMMU off */
	case VFIO_UPDATE_VADDR:		/* not implementable safely */
	default:			/* nesting type 6 included */
		return 0;
	}
}

static int vfio_set_iommu(struct iommufd_ctx *ictx, unsigned long type)
{
	struct iommufd_ioas *ioas;
	int rc = 0;

	if (type != VFIO_TYPE1_IOMMU && type != VFIO_TYPE1v2_IOMMU)
		return -EINVAL;
	/* VFIO refuses SET_IOMMU on a container without a group. */
	ioas = get_compat_ioas(ictx);
	if (IS_ERR(ioas))
		return (int)PTR_ERR(ioas);
	/* v1 may unmap inside a mapping: no IOPTE may span a cut. */
	if (type == VFIO_TYPE1_IOMMU)
		rc = iopt_disable_large_pages(&ioas->iopt);
	iommufd_put_object(ictx, &ioas->obj);
	return rc;
}

/* ------------------------------------------------------- IOMMU_GET_INFO */

/*
 * The page sizes every domain of the IOAS can map, never below PAGE_SIZE
 * or the IOAS alignment (vfio_update_pgsize_bitmap()'s rule).  A domain
 * contributes its granule only: domain.h exposes nothing larger.
 */
static uint64_t vfio_pagesizes(struct iommufd_ioas *ioas)
{
	struct io_pagetable *iopt = &ioas->iopt;
	uint64_t ps = compat_page_size(iopt);
	uint64_t bitmap = UINT64_MAX;

	pthread_rwlock_rdlock(&iopt->domains_rwsem);
	for (unsigned i = 0; i < iopt->next_domain_id; i++)
		bitmap &= iommufd_domain_min_pgsize(iopt->domains[i]);
	if (bitmap & (ps - 1)) {
		bitmap &= ~(ps - 1);
		bitmap |= ps;
	}
	if (bitmap < iopt->iova_alignment)
		bitmap = iopt->iova_alignment;
	pthread_rwlock_unlock(&iopt->domains_rwsem);
	return bitmap;
}

/*
 * A capability filler writes its capability at @cur when @avail bytes are
 * room enough (array entries one by one as they fit, the header last) and
 * returns its full size, or -EFAULT.
 */
typedef int (*fill_cap_fn)(struct iommufd_ioas *ioas, char *cur, size_t avail);

static int fill_cap_dma_avail(struct iommufd_ioas *ioas, char *cur,
			      size_t avail)
{
	struct vfio_iommu_type1_info_dma_avail cap = {
		.header = {
			.id = VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL,
			.version = 1,
		},
		/* Not VFIO's U16_MAX: s390 QEMU needs more; memcg limits us. */
		.avail = UINT32_MAX,
	};

	(void)ioas;
	if (avail >= sizeof(cap) && isim_copy_to_user(cur, &cap, sizeof(cap)))
		return -EFAULT;
	return (int)sizeof(cap);
}

/* The usable IOVA: the holes of the reserved tree, as IOVA_RANGES has it. */
static int fill_cap_iova(struct iommufd_ioas *ioas, char *cur, size_t avail)
{
	const size_t hdr = sizeof(struct vfio_iommu_type1_info_cap_iova_range);
	const size_t elm = sizeof(struct vfio_iova_range);
	struct vfio_iommu_type1_info_cap_iova_range cap = {
		.header = {
			.id = VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE,
			.version = 1,
		},
	};
	struct isim_itree_span_iter span;

	isim_itree_for_each_span(&span, &ioas->iopt.reserved_itree, 0,
				 UINT64_MAX) {
		struct vfio_iova_range range;

		if (!span.is_hole)
			continue;
		range.start = span.start_hole;
		range.end = span.last_hole;
		if (avail >= hdr + (cap.nr_iovas + 1) * elm &&
		    isim_copy_to_user(cur + hdr + cap.nr_iovas * elm, &range,
				      sizeof(range)))
			return -EFAULT;
		cap.nr_iovas++;
	}
	if (avail >= hdr + cap.nr_iovas * elm &&
	    isim_copy_to_user(cur, &cap, sizeof(cap)))
		return -EFAULT;
	return (int)(hdr + cap.nr_iovas * elm);
}

/*
 * The info struct, then the capabilities back to back, each padded to 8
 * bytes and linked by `next` (an offset from the start of the buffer).  A
 * too small argsz gets the capabilities that fit, cap_offset 0, and argsz
 * set to the size needed; only min(argsz, sizeof(info)) bytes of the info
 * are written back.
 */
static int vfio_iommu_get_info(struct iommufd_ctx *ictx, void *arg)
{
	static const fill_cap_fn fill_fns[] = {
		fill_cap_dma_avail,
		fill_cap_iova,
	};
	size_t minsz = offsetofend(struct vfio_iommu_type1_info, iova_pgsizes);
	struct vfio_iommu_type1_info info = { 0 };
	char *uarg = arg, *last_cap = NULL;
	struct iommufd_ioas *ioas;
	size_t total;
	int rc = 0;

	if (isim_copy_from_user(&info, arg, minsz))
		return -EFAULT;
	if (info.argsz < minsz)
		return -EINVAL;
	minsz = info.argsz < sizeof(info) ? info.argsz : sizeof(info);

	ioas = get_compat_ioas(ictx);
	if (IS_ERR(ioas))
		return (int)PTR_ERR(ioas);

	info.flags = VFIO_IOMMU_INFO_PGSIZES;
	info.iova_pgsizes = vfio_pagesizes(ioas);
	info.cap_offset = 0;

	pthread_rwlock_rdlock(&ioas->iopt.iova_rwsem);
	total = sizeof(info);
	for (size_t i = 0; i < sizeof(fill_fns) / sizeof(fill_fns[0]); i++) {
		int cap_size;

		if (info.argsz > total)
			cap_size = fill_fns[i](ioas, uarg + total,
					       info.argsz - total);
		else
			cap_size = fill_fns[i](ioas, NULL, 0);
		if (cap_size < 0) {
			rc = cap_size;
			goto out_unlock;
		}
		cap_size = (cap_size + 7) & ~7;

		if (last_cap && info.argsz >= total) {
			uint32_t next = (uint32_t)total;

			if (isim_copy_to_user(
				    last_cap + offsetof(struct vfio_info_cap_header,
							next),
				    &next, sizeof(next))) {
				rc = -EFAULT;
				goto out_unlock;
			}
		}
		last_cap = uarg + total;
		total += (size_t)cap_size;
	}

	if (info.argsz >= total)
		info.cap_offset = sizeof(info);
	info.argsz = (uint32_t)total;
	info.flags |= VFIO_IOMMU_INFO_CAPS;
	if (isim_copy_to_user(arg, &info, minsz))
		rc = -EFAULT;
out_unlock:
	pthread_rwlock_unlock(&ioas->iopt.iova_rwsem);
	iommufd_put_object(ictx, &ioas->obj);
	return rc;
}

/* ------------------------------------------------------------- dispatch */

/*
 * A container ioctl; -ENOTTY for any other number.  @cmd is what the
 * kernel sees (the syscall's unsigned int); @arg is the raw argument: an
 * integer for GET_API_VERSION, CHECK_EXTENSION and SET_IOMMU, a user
 * pointer for the others.  A non-negative return is the ioctl's result.
 */
int iommufd_vfio_ioctl(struct iommufd_ctx *ictx, unsigned int cmd,
		       unsigned long arg)
{
	void *uarg = (void *)(uintptr_t)arg;
	int rc;

	switch (cmd) {
	case VFIO_GET_API_VERSION:
		rc = VFIO_API_VERSION;
		break;
	case VFIO_CHECK_EXTENSION:
		rc = vfio_check_extension(ictx, arg);
		break;
	case VFIO_SET_IOMMU:
		rc = vfio_set_iommu(ictx, arg);
		break;
	case VFIO_IOMMU_GET_INFO:
		rc = vfio_iommu_get_info(ictx, uarg);
		break;
	case VFIO_IOMMU_MAP_DMA:
		rc = vfio_map_dma(ictx, uarg);
		break;
	case VFIO_IOMMU_UNMAP_DMA:
		rc = vfio_unmap_dma(ictx, uarg);
		break;
	case VFIO_IOMMU_DIRTY_PAGES:	/* superseded by HWPT dirty tracking */
	default:
		return -ENOTTY;
	}
	isim_trace(&ictx->m->trace, "vfio.ioctl", "nr=%u rc=%d",
		   (unsigned)_IOC_NR(cmd), rc);
	return rc;
}
