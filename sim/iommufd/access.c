/*
 * In-kernel users of an IOAS: external accesses (mdev-style drivers, the
 * selftest's access objects) and internal ones (a HW queue's pin of its
 * guest memory).  Pins go through the areas of the attached IOAS; pins of
 * internal accesses also lock their areas against IOAS_UNMAP.  Rules:
 * spec/core.md §5.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include "sim/iommufd/iommufd_private.h"

static bool access_is_internal(const struct iommufd_access *access)
{
	return !access->ictx;
}

static struct iommufd_access *access_alloc(struct iommufd_ctx *ictx)
{
	struct iommufd_access *access;

	access = (struct iommufd_access *)_iommufd_object_alloc(
		ictx, sizeof(*access), IOMMUFD_OBJ_ACCESS);
	if (IS_ERR(access))
		return access;
	/* The creator's reference: DESTROY from userspace sees EBUSY. */
	refcount_inc(&access->obj.users);
	pthread_mutex_init(&access->ioas_lock, NULL);
	return access;
}

struct iommufd_access *iommufd_access_create(struct iommufd_ctx *ictx,
					     const struct iommufd_access_ops *ops,
					     void *data, uint32_t *id)
{
	struct iommufd_access *access = access_alloc(ictx);

	if (IS_ERR(access))
		return access;
	access->ictx = ictx;
	access->ops = ops;
	access->data = data;
	access->iova_alignment =
		ops->needs_pin_pages ? ictx->m->cfg.page_size : 1;
	iommufd_object_finalize(ictx, &access->obj);
	*id = access->obj.id;
	return access;
}

struct iommufd_access *iommufd_access_create_internal(struct iommufd_ctx *ictx)
{
	struct iommufd_access *access = access_alloc(ictx);

	if (IS_ERR(access))
		return access;
	access->iova_alignment = ictx->m->cfg.page_size;
	iommufd_object_finalize(ictx, &access->obj);
	return access;
}

/*
 * Move the access to @new_ioas (NULL: detach).  Existing pins belong to
 * ioas_unpin until the driver has released them through its unmap callback.
 */
static int iommufd_access_change_ioas(struct iommufd_access *access,
				      struct iommufd_ioas *new_ioas)
{
	struct iommufd_ioas *cur_ioas = access->ioas;
	uint32_t old_list_id = access->iopt_access_list_id;
	int rc;

	if (cur_ioas != access->ioas_unpin)
		return -EBUSY;	/* another change is in its unmap window */
	if (cur_ioas == new_ioas)
		return 0;
	access->ioas = NULL;
	if (new_ioas) {
		rc = iopt_add_access(&new_ioas->iopt, access);
		if (rc) {
			access->ioas = cur_ioas;
			return rc;
		}
		refcount_inc(&new_ioas->obj.users);
	}
	if (cur_ioas) {
		if (!access_is_internal(access) && access->ops->unmap) {
			pthread_mutex_unlock(&access->ioas_lock);
			access->ops->unmap(access->data, 0, UINT64_MAX);
			pthread_mutex_lock(&access->ioas_lock);
		}
		iopt_remove_access(&cur_ioas->iopt, access, old_list_id);
		refcount_dec(&cur_ioas->obj.users);
	}
	access->ioas = new_ioas;
	access->ioas_unpin = new_ioas;
	return 0;
}

static int access_change_locked(struct iommufd_access *access,
				struct iommufd_ioas *ioas)
{
	int rc;

	pthread_mutex_lock(&access->ioas_lock);
	rc = iommufd_access_change_ioas(access, ioas);
	pthread_mutex_unlock(&access->ioas_lock);
	return rc;
}

int iommufd_access_attach_internal(struct iommufd_access *access,
				   struct iommufd_ioas *ioas)
{
	int rc;

	pthread_mutex_lock(&access->ioas_lock);
	if (ISIM_WARN_ON(ioas->iopt.m, access->ioas)) {
		pthread_mutex_unlock(&access->ioas_lock);
		return -EINVAL;
	}
	rc = iommufd_access_change_ioas(access, ioas);
	pthread_mutex_unlock(&access->ioas_lock);
	return rc;
}

/*
 * attach and replace by IOAS ID: attach requires a detached access (a
 * driver bug otherwise: WARN, EINVAL), replace an attached one (ENOENT).
 */
static int access_set_ioas_id(struct iommufd_access *access, uint32_t ioas_id,
			      bool replace)
{
	struct iommufd_ioas *ioas;
	int rc;

	pthread_mutex_lock(&access->ioas_lock);
	if (replace && !access->ioas) {
		rc = -ENOENT;
		goto out_unlock;
	}
	if (!replace && ISIM_WARN_ON(access->ictx->m, access->ioas)) {
		rc = -EINVAL;
		goto out_unlock;
	}
	ioas = iommufd_get_ioas(access->ictx, ioas_id);
	if (IS_ERR(ioas)) {
		rc = (int)PTR_ERR(ioas);
		goto out_unlock;
	}
	rc = iommufd_access_change_ioas(access, ioas);
	iommufd_put_object(access->ictx, &ioas->obj);
out_unlock:
	pthread_mutex_unlock(&access->ioas_lock);
	return rc;
}

int iommufd_access_attach(struct iommufd_access *access, uint32_t ioas_id)
{
	return access_set_ioas_id(access, ioas_id, false);
}

int iommufd_access_replace(struct iommufd_access *access, uint32_t ioas_id)
{
	return access_set_ioas_id(access, ioas_id, true);
}

static void access_detach(struct iommufd_access *access)
{
	struct isim_machine *m;

	pthread_mutex_lock(&access->ioas_lock);
	if (access->ioas) {
		m = access->ioas->iopt.m;
		ISIM_WARN_ON(m, iommufd_access_change_ioas(access, NULL));
	}
	pthread_mutex_unlock(&access->ioas_lock);
}

/* Detaching an access that is not attached is a driver bug: a WARN. */
void iommufd_access_detach(struct iommufd_access *access)
{
	ISIM_WARN_ON(access->ictx->m, !access->ioas);
	access_detach(access);
}

void iommufd_access_detach_internal(struct iommufd_access *access)
{
	access_detach(access);
}

void iommufd_access_destroy_object(struct iommufd_object *obj)
{
	struct iommufd_access *access = (struct iommufd_access *)obj;

	if (access->ioas) {
		struct isim_machine *m = access->ioas->iopt.m;

		ISIM_WARN_ON(m, access_change_locked(access, NULL));
	}
	pthread_mutex_destroy(&access->ioas_lock);
}

void iommufd_access_for_each_ref(struct iommufd_object *obj,
				 iommufd_ref_fn fn, void *arg)
{
	struct iommufd_access *access = (struct iommufd_access *)obj;

	fn(obj, false, arg);	/* the driver's or the HW queue's hold */
	if (access->ioas)
		fn(&access->ioas->obj, false, arg);
}

void iommufd_access_destroy(struct iommufd_access *access)
{
	iommufd_object_destroy_user(access->ictx, &access->obj);
}

void iommufd_access_destroy_internal(struct iommufd_ctx *ictx,
				     struct iommufd_access *access)
{
	iommufd_object_destroy_user(ictx, &access->obj);
}

static bool area_prot_ok(const struct iopt_area *area, unsigned flags)
{
	if (flags & IOMMUFD_ACCESS_RW_WRITE)
		return area->iommu_prot & IOMMU_WRITE;
	return area->iommu_prot & IOMMU_READ;
}

/* The piece of @area under the iterator must start on a page boundary of
 * its backing, and end on one unless it is the last piece. */
static bool contig_piece_aligned(const struct iopt_area_contig_iter *iter,
				 uint64_t ps)
{
	const struct iopt_area *area = iter->area;

	if (iopt_area_start_byte(area, iter->cur_iova, ps) % ps)
		return false;
	if (!iopt_area_contig_done(iter) &&
	    (iopt_area_start_byte(area, iopt_area_last_iova(area), ps) % ps) !=
		    ps - 1)
		return false;
	return true;
}

static void access_unpin_range(struct io_pagetable *iopt, uint64_t iova,
			       uint64_t last_iova, bool internal)
{
	struct iopt_area_contig_iter iter;
	uint64_t ps = iopt->m->cfg.page_size;
	struct iopt_area *area;

	iopt_for_each_contig_area(&iter, area, iopt, iova, last_iova) {
		uint64_t last = iopt_area_contig_last(&iter);

		iopt_area_remove_access(
			area, iopt_area_start_byte(area, iter.cur_iova, ps) / ps,
			iopt_area_start_byte(area, last, ps) / ps, internal);
	}
	ISIM_WARN_ON(iopt->m, !iopt_area_contig_done(&iter));
}

/*
 * The common start of pin and rw: validate [iova, +length), then hold
 * ioas_lock and the IOAS's iova_rwsem (read) for the walk.  -ENOENT when
 * the access is not attached.
 */
static int access_lock_range(struct iommufd_access *access, uint64_t iova,
			     uint64_t length, uint64_t *last_iova,
			     struct io_pagetable **iopt)
{
	if (!length)
		return -EINVAL;
	if (iova + (length - 1) < iova)
		return -EOVERFLOW;
	*last_iova = iova + length - 1;
	pthread_mutex_lock(&access->ioas_lock);
	if (!access->ioas) {
		pthread_mutex_unlock(&access->ioas_lock);
		return -ENOENT;
	}
	*iopt = &access->ioas->iopt;
	pthread_rwlock_rdlock(&(*iopt)->iova_rwsem);
	return 0;
}

int iommufd_access_pin_pages(struct iommufd_access *access, uint64_t iova,
			     uint64_t length, uint64_t *out_pfns,
			     unsigned flags)
{
	struct iopt_area_contig_iter iter;
	struct io_pagetable *iopt;
	struct iopt_area *area;
	uint64_t last_iova, ps;
	int rc;

	rc = access_lock_range(access, iova, length, &last_iova, &iopt);
	if (rc)
		return rc;
	ps = iopt->m->cfg.page_size;
	iopt_for_each_contig_area(&iter, area, iopt, iova, last_iova) {
		uint64_t last = iopt_area_contig_last(&iter);
		uint64_t index = iopt_area_start_byte(area, iter.cur_iova, ps) / ps;
		uint64_t last_index = iopt_area_start_byte(area, last, ps) / ps;

		if (area->prevent_access || !contig_piece_aligned(&iter, ps)) {
			rc = -EINVAL;
			goto err_remove;
		}
		if (!area_prot_ok(area, flags)) {
			rc = -EPERM;
			goto err_remove;
		}
		rc = iopt_area_add_access(area, index, last_index, out_pfns,
					  flags, access_is_internal(access));
		if (rc)
			goto err_remove;
		if (out_pfns)
			out_pfns += last_index - index + 1;
	}
	if (!iopt_area_contig_done(&iter)) {
		rc = -ENOENT;
		goto err_remove;
	}
	pthread_rwlock_unlock(&iopt->iova_rwsem);
	pthread_mutex_unlock(&access->ioas_lock);
	return 0;

err_remove:
	if (iter.cur_iova > iova)
		access_unpin_range(iopt, iova, iter.cur_iova - 1,
				   access_is_internal(access));
	pthread_rwlock_unlock(&iopt->iova_rwsem);
	pthread_mutex_unlock(&access->ioas_lock);
	return rc;
}

void iommufd_access_unpin_pages(struct iommufd_access *access, uint64_t iova,
				uint64_t length)
{
	struct io_pagetable *iopt;

	pthread_mutex_lock(&access->ioas_lock);
	if (!access->ioas_unpin || !length || iova + (length - 1) < iova) {
		/* Nothing to unpin: a driver bug the kernel only warns about. */
		if (access->ioas_unpin)
			ISIM_WARN_ON(access->ioas_unpin->iopt.m, true);
		pthread_mutex_unlock(&access->ioas_lock);
		return;
	}
	iopt = &access->ioas_unpin->iopt;
	pthread_rwlock_rdlock(&iopt->iova_rwsem);
	access_unpin_range(iopt, iova, iova + length - 1,
			   access_is_internal(access));
	pthread_rwlock_unlock(&iopt->iova_rwsem);
	pthread_mutex_unlock(&access->ioas_lock);
}

int iommufd_access_rw(struct iommufd_access *access, uint64_t iova,
		      void *data, uint64_t length, unsigned flags)
{
	struct iopt_area_contig_iter iter;
	struct io_pagetable *iopt;
	struct iopt_area *area;
	uint64_t last_iova, ps;
	char *p = data;
	int rc;

	rc = access_lock_range(access, iova, length, &last_iova, &iopt);
	if (rc)
		return rc;
	ps = iopt->m->cfg.page_size;
	iopt_for_each_contig_area(&iter, area, iopt, iova, last_iova) {
		uint64_t last = iopt_area_contig_last(&iter);
		uint64_t bytes = last - iter.cur_iova + 1;

		if (area->prevent_access) {
			rc = -EINVAL;
			break;
		}
		if (!area_prot_ok(area, flags)) {
			rc = -EPERM;
			break;
		}
		rc = iopt_pages_rw_access(area->pages,
					  iopt_area_start_byte(area,
							       iter.cur_iova, ps),
					  p, bytes, flags);
		if (rc)
			break;
		p += bytes;
	}
	if (!rc && !iopt_area_contig_done(&iter))
		rc = -ENOENT;
	pthread_rwlock_unlock(&iopt->iova_rwsem);
	pthread_mutex_unlock(&access->ioas_lock);
	return rc;
}

/*
 * Ask every external access on the IOAS to drop its pins in the range.
 * Internal accesses are skipped before a reference is taken on them (the
 * kernel takes it first and leaks it: spec/core.md §5.9).
 */
void iommufd_access_notify_unmap(struct io_pagetable *iopt, uint64_t iova,
				 uint64_t length)
{
	struct iommufd_access *access;
	uint32_t index = 0;

	pthread_mutex_lock(&iopt->access_list_lock);
	while ((access = isim_idr_find_next(&iopt->access_list, &index))) {
		index++;
		if (access_is_internal(access) || !access->ops->unmap ||
		    !iommufd_lock_obj(&access->obj))
			continue;
		pthread_mutex_unlock(&iopt->access_list_lock);
		access->ops->unmap(access->data, iova, length);
		iommufd_put_object(access->ictx, &access->obj);
		pthread_mutex_lock(&iopt->access_list_lock);
	}
	pthread_mutex_unlock(&iopt->access_list_lock);
}
