/*
 * HW page tables: paging HWPTs (an I/O page table attached to an IOAS,
 * created automatically for a device or explicitly, possibly as a nesting
 * parent) and nested HWPTs (a driver's stage-1 table on a nesting parent or
 * a vIOMMU).  IOMMU_HWPT_ALLOC and IOMMU_HWPT_INVALIDATE follow
 * spec/core.md §8.12-§8.13.  Any HWPT may be given a FAULT queue for I/O
 * page faults (fault.c), on which it then holds a `users` reference.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include <linux/iommufd.h>

#include "sim/iommufd/domain.h"
#include "sim/iommufd/iommufd_private.h"
#include "sim/lib/fault.h"
#include "sim/lib/uaccess.h"

#define PAGING_FLAGS                                                       \
	(IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_ALLOC_DIRTY_TRACKING |  \
	 IOMMU_HWPT_FAULT_ID_VALID | IOMMU_HWPT_ALLOC_PASID)

struct iommufd_hw_pagetable *iommufd_get_hwpt(struct iommufd_ctx *ictx,
					      uint32_t id)
{
	struct iommufd_object *obj =
		iommufd_get_object(ictx, id, IOMMUFD_OBJ_ANY);

	if (IS_ERR(obj))
		return (void *)obj;
	if (obj->type != IOMMUFD_OBJ_HWPT_PAGING &&
	    obj->type != IOMMUFD_OBJ_HWPT_NESTED) {
		iommufd_put_object(ictx, obj);
		return ERR_PTR(-ENOENT);
	}
	return (struct iommufd_hw_pagetable *)obj;
}

/* The paging domain that translates for @hwpt (its parent if nested). */
struct iommufd_domain *iommufd_hwpt_s2_domain(struct iommufd_hw_pagetable *h)
{
	struct iommufd_hwpt_nested *n;

	if (h->obj.type == IOMMUFD_OBJ_HWPT_PAGING)
		return h->domain;
	n = (struct iommufd_hwpt_nested *)h;
	return n->parent ? n->parent->common.domain :
			   n->viommu->hwpt->common.domain;
}

/*
 * A new paging HWPT on @ioas, reserved but not published; the caller holds
 * ioas->mutex and finalizes (or aborts) it.
 */
struct iommufd_hwpt_paging *
iommufd_hwpt_paging_alloc(struct iommufd_ctx *ictx, struct iommufd_ioas *ioas,
			  struct iommufd_device *idev, uint32_t flags,
			  bool auto_domain)
{
	const struct isim_iommu_ops *ops = idev->dev->iommu->ops;
	struct iommufd_domain_geometry geo = { 0 };
	struct iommufd_hwpt_paging *p;
	int rc;

	if (flags & ~PAGING_FLAGS)
		return ERR_PTR(-EOPNOTSUPP);
	if ((flags & IOMMU_HWPT_FAULT_ID_VALID) &&
	    (flags & IOMMU_HWPT_ALLOC_NEST_PARENT))
		return ERR_PTR(-EOPNOTSUPP);
	if ((flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING) &&
	    (idev->dev->flags & ISIM_DEV_NO_DIRTY))
		return ERR_PTR(-EOPNOTSUPP);
	if (!ops->paging_geometry)
		return ERR_PTR(-EOPNOTSUPP);
	rc = ops->paging_geometry(idev->dev, flags, &geo.pgsize_bitmap,
				  &geo.aperture_start, &geo.aperture_last);
	if (rc)
		return ERR_PTR(rc);

	p = (struct iommufd_hwpt_paging *)_iommufd_object_alloc(
		ictx, sizeof(*p), IOMMUFD_OBJ_HWPT_PAGING);
	if (IS_ERR(p))
		return p;
	p->common.iommu = idev->dev->iommu;
	p->ioas = ioas;
	p->auto_domain = auto_domain;
	p->nest_parent = flags & IOMMU_HWPT_ALLOC_NEST_PARENT;
	p->dirty_tracking = flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING;
	refcount_inc(&ioas->obj.users);
	rc = iommufd_domain_new(&geo, &p->common.domain);
	if (rc)
		goto err_abort;
	rc = iopt_table_add_domain(&ioas->iopt, p->common.domain, &geo);
	if (rc)
		goto err_abort;
	p->on_ioas = true;
	p->next_in_ioas = ioas->hwpt_list;
	ioas->hwpt_list = p;
	return p;

err_abort:
	iommufd_object_abort_and_destroy(ictx, &p->common.obj);
	return ERR_PTR(rc);
}

/* Undo of a paging HWPT; the caller holds ioas->mutex. */
static void hwpt_paging_teardown(struct iommufd_hwpt_paging *p)
{
	struct iommufd_hwpt_paging **pp;

	if (p->on_ioas) {
		for (pp = &p->ioas->hwpt_list; *pp; pp = &(*pp)->next_in_ioas)
			if (*pp == p) {
				*pp = p->next_in_ioas;
				break;
			}
		iopt_table_remove_domain(&p->ioas->iopt, p->common.domain);
		p->on_ioas = false;
	}
	if (p->common.domain)
		iommufd_domain_free(p->common.domain);
	iommufd_hwpt_put_fault(&p->common);
	refcount_dec(&p->ioas->obj.users);
}

void iommufd_hwpt_paging_destroy(struct iommufd_object *obj)
{
	struct iommufd_hwpt_paging *p = (struct iommufd_hwpt_paging *)obj;
	struct iommufd_ioas *ioas = p->ioas;

	pthread_mutex_lock(&ioas->mutex);
	hwpt_paging_teardown(p);
	pthread_mutex_unlock(&ioas->mutex);
}

void iommufd_hwpt_paging_abort(struct iommufd_object *obj)
{
	hwpt_paging_teardown((struct iommufd_hwpt_paging *)obj);
}

void iommufd_hwpt_paging_for_each_ref(struct iommufd_object *obj,
				      iommufd_ref_fn fn, void *arg)
{
	struct iommufd_hwpt_paging *p = (struct iommufd_hwpt_paging *)obj;
	struct iommufd_fault *fault = iommufd_hwpt_fault(&p->common);

	fn(&p->ioas->obj, false, arg);
	if (fault)
		fn((struct iommufd_object *)fault, false, arg);
}

void iommufd_hwpt_nested_destroy(struct iommufd_object *obj)
{
	struct iommufd_hwpt_nested *n = (struct iommufd_hwpt_nested *)obj;
	const struct isim_iommu_ops *ops = n->common.iommu->ops;

	if (n->nested && n->viommu && n->viommu->ops->free_domain_nested)
		n->viommu->ops->free_domain_nested(n->viommu, n->nested);
	else if (n->nested && !n->viommu && ops->free_domain_nested)
		ops->free_domain_nested(n->nested);
	else
		free(n->nested);
	iommufd_hwpt_put_fault(&n->common);
	if (n->viommu)
		refcount_dec(&n->viommu->obj.users);
	if (n->parent)
		refcount_dec(&n->parent->common.obj.users);
}

void iommufd_hwpt_nested_for_each_ref(struct iommufd_object *obj,
				      iommufd_ref_fn fn, void *arg)
{
	struct iommufd_hwpt_nested *n = (struct iommufd_hwpt_nested *)obj;
	struct iommufd_fault *fault = iommufd_hwpt_fault(&n->common);

	if (n->viommu)
		fn(&n->viommu->obj, false, arg);
	if (n->parent)
		fn(&n->parent->common.obj, false, arg);
	if (fault)
		fn((struct iommufd_object *)fault, false, arg);
}

/*
 * A nested HWPT straight on a nesting parent (iommufd_hwpt_nested_alloc):
 * the core's flag and data checks, then the parent's, then the driver's.
 * Reserved, not published; returns it or an ERR_PTR.
 */
static struct iommufd_hwpt_nested *
hwpt_nested_alloc(struct iommufd_ctx *ictx, struct iommufd_hwpt_paging *parent,
		  struct iommufd_device *idev, uint32_t flags,
		  const struct iommu_user_data *data)
{
	const struct isim_iommu_ops *ops = idev->dev->iommu->ops;
	struct iommufd_hwpt_nested *n;
	int rc;

	if ((flags & ~(IOMMU_HWPT_FAULT_ID_VALID | IOMMU_HWPT_ALLOC_PASID)) ||
	    !data->len || !ops->alloc_domain_nested)
		return ERR_PTR(-EOPNOTSUPP);
	/* The parent's domain must be this driver's (domain->owner). */
	if (parent->auto_domain || !parent->nest_parent ||
	    parent->common.iommu->ops != ops)
		return ERR_PTR(-EINVAL);

	n = (struct iommufd_hwpt_nested *)_iommufd_object_alloc(
		ictx, sizeof(*n), IOMMUFD_OBJ_HWPT_NESTED);
	if (IS_ERR(n))
		return n;
	n->common.iommu = idev->dev->iommu;
	n->parent = parent;
	refcount_inc(&parent->common.obj.users);
	rc = ops->alloc_domain_nested(idev->dev, parent->common.domain,
				      flags & ~IOMMU_HWPT_FAULT_ID_VALID, data,
				      &n->nested);
	if (rc) {
		n->nested = NULL;
		iommufd_object_abort_and_destroy(ictx, &n->common.obj);
		return ERR_PTR(rc);
	}
	return n;
}

/* A nested HWPT on a vIOMMU (iommufd_viommu_alloc_hwpt_nested). */
static struct iommufd_hwpt_nested *
hwpt_nested_alloc_viommu(struct iommufd_ctx *ictx,
			 struct iommufd_viommu *viommu, uint32_t flags,
			 const struct iommu_user_data *data)
{
	struct iommufd_hwpt_nested *n;
	int rc;

	if (flags & ~(IOMMU_HWPT_FAULT_ID_VALID | IOMMU_HWPT_ALLOC_PASID))
		return ERR_PTR(-EOPNOTSUPP);
	if (!data->len || !viommu->ops->alloc_domain_nested)
		return ERR_PTR(-EOPNOTSUPP);
	n = (struct iommufd_hwpt_nested *)_iommufd_object_alloc(
		ictx, sizeof(*n), IOMMUFD_OBJ_HWPT_NESTED);
	if (IS_ERR(n))
		return n;
	n->common.iommu = viommu->iommu;
	n->viommu = viommu;
	refcount_inc(&viommu->obj.users);
	rc = viommu->ops->alloc_domain_nested(viommu,
					      flags & ~IOMMU_HWPT_FAULT_ID_VALID,
					      data, &n->nested);
	if (rc) {
		n->nested = NULL;
		iommufd_object_abort_and_destroy(ictx, &n->common.obj);
		return ERR_PTR(rc);
	}
	return n;
}

/*
 * IOMMU_HWPT_ALLOC (spec/core.md §8.12).  The HWPT is built by kind of
 * pt_id, then given its FAULT (FAULT_ID_VALID), replied to and published;
 * a paging HWPT keeps ioas->mutex held until it is published or undone.
 */
int iommufd_hwpt_alloc(struct iommufd_ucmd *ucmd)
{
	struct iommu_hwpt_alloc *cmd = ucmd->cmd;
	const struct iommu_user_data data = {
		.type = cmd->data_type,
		.uptr = u64_to_user_ptr(cmd->data_uptr),
		.len = cmd->data_len,
	};
	struct iommufd_hw_pagetable *hwpt;
	struct iommufd_ioas *ioas = NULL;
	struct iommufd_device *idev;
	struct iommufd_object *pt;
	int rc;

	/* __reserved2 (after fault_id) is not looked at, as upstream. */
	if (cmd->__reserved)
		return -EOPNOTSUPP;
	if ((cmd->data_type == IOMMU_HWPT_DATA_NONE && cmd->data_len) ||
	    (cmd->data_type != IOMMU_HWPT_DATA_NONE && !cmd->data_len))
		return -EINVAL;
	idev = iommufd_get_device(ucmd->ictx, cmd->dev_id);
	if (IS_ERR(idev))
		return (int)PTR_ERR(idev);
	pt = iommufd_get_object(ucmd->ictx, cmd->pt_id, IOMMUFD_OBJ_ANY);
	if (IS_ERR(pt)) {
		rc = -EINVAL;
		goto out_put_idev;
	}

	switch (pt->type) {
	case IOMMUFD_OBJ_IOAS: {
		struct iommufd_hwpt_paging *p;

		/* The simulated drivers take no driver data for paging. */
		if (cmd->data_type != IOMMU_HWPT_DATA_NONE) {
			rc = -EOPNOTSUPP;
			goto out_put_pt;
		}
		ioas = (struct iommufd_ioas *)pt;
		pthread_mutex_lock(&ioas->mutex);
		p = iommufd_hwpt_paging_alloc(ucmd->ictx, ioas, idev,
					      cmd->flags, false);
		if (IS_ERR(p)) {
			rc = (int)PTR_ERR(p);
			goto out_unlock;
		}
		hwpt = &p->common;
		break;
	}
	case IOMMUFD_OBJ_HWPT_PAGING: {
		struct iommufd_hwpt_nested *n;

		n = hwpt_nested_alloc(ucmd->ictx,
				      (struct iommufd_hwpt_paging *)pt, idev,
				      cmd->flags, &data);
		if (IS_ERR(n)) {
			rc = (int)PTR_ERR(n);
			goto out_put_pt;
		}
		hwpt = &n->common;
		break;
	}
	case IOMMUFD_OBJ_VIOMMU: {
		struct iommufd_viommu *viommu = (struct iommufd_viommu *)pt;
		struct iommufd_hwpt_nested *n;

		if (viommu->iommu != idev->dev->iommu) {
			rc = -EINVAL;
			goto out_put_pt;
		}
		n = hwpt_nested_alloc_viommu(ucmd->ictx, viommu, cmd->flags,
					     &data);
		if (IS_ERR(n)) {
			rc = (int)PTR_ERR(n);
			goto out_put_pt;
		}
		hwpt = &n->common;
		break;
	}
	default:
		rc = -EINVAL;
		goto out_put_pt;
	}

	if (cmd->flags & IOMMU_HWPT_FAULT_ID_VALID) {
		struct iommufd_fault *fault;

		fault = iommufd_get_fault(ucmd->ictx, cmd->fault_id);
		if (IS_ERR(fault)) {
			rc = (int)PTR_ERR(fault);
			goto out_abort;
		}
		rc = iommufd_hwpt_set_fault(hwpt, fault);
		iommufd_put_object(ucmd->ictx, (struct iommufd_object *)fault);
		if (rc)
			goto out_abort;
	}

	cmd->out_hwpt_id = hwpt->obj.id;
	rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
	if (rc)
		goto out_abort;
	iommufd_object_finalize(ucmd->ictx, &hwpt->obj);
	goto out_unlock;

out_abort:
	iommufd_object_abort_and_destroy(ucmd->ictx, &hwpt->obj);
out_unlock:
	if (ioas)
		pthread_mutex_unlock(&ioas->mutex);
out_put_pt:
	iommufd_put_object(ucmd->ictx, pt);
out_put_idev:
	iommufd_put_object(ucmd->ictx, &idev->obj);
	return rc;
}

int iommufd_hwpt_invalidate(struct iommufd_ucmd *ucmd)
{
	struct iommu_hwpt_invalidate *cmd = ucmd->cmd;
	struct iommu_user_data_array array = {
		.type = cmd->data_type,
		.uptr = u64_to_user_ptr(cmd->data_uptr),
		.entry_len = cmd->entry_len,
		.entry_num = cmd->entry_num,
	};
	struct iommufd_object *obj;
	uint32_t done_num = 0;
	int rc;

	if (cmd->__reserved) {
		rc = -EOPNOTSUPP;
		goto out;
	}
	if (cmd->entry_num && (!cmd->data_uptr || !cmd->entry_len)) {
		rc = -EINVAL;
		goto out;
	}
	obj = iommufd_get_object(ucmd->ictx, cmd->hwpt_id, IOMMUFD_OBJ_ANY);
	if (IS_ERR(obj)) {
		rc = (int)PTR_ERR(obj);
		goto out;
	}
	if (obj->type == IOMMUFD_OBJ_VIOMMU) {
		struct iommufd_viommu *viommu = (struct iommufd_viommu *)obj;

		if (!viommu->ops->cache_invalidate) {
			rc = -EOPNOTSUPP;
		} else {
			rc = viommu->ops->cache_invalidate(viommu, &array);
			done_num = array.entry_num;
		}
	} else if (obj->type == IOMMUFD_OBJ_HWPT_NESTED) {
		struct iommufd_hwpt_nested *n = (struct iommufd_hwpt_nested *)obj;
		const struct isim_iommu_ops *ops = n->common.iommu->ops;

		/* The nested domain's own cache_invalidate_user, if any. */
		if (!n->nested || !ops->cache_invalidate_user) {
			rc = -EOPNOTSUPP;
		} else {
			rc = ops->cache_invalidate_user(n->nested, &array);
			done_num = array.entry_num;
		}
	} else {
		rc = -EINVAL;
	}
	iommufd_put_object(ucmd->ictx, obj);
out:
	cmd->entry_num = done_num;
	if (isim_copy_to_user(&((struct iommu_hwpt_invalidate *)ucmd->ubuffer)
				       ->entry_num,
			      &done_num, sizeof(done_num)))
		return -EFAULT;
	return rc;
}
