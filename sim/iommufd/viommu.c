/*
 * vIOMMU, vDEVICE and HW queue objects, and the IOMMUFD_CMD_HW_QUEUE_ALLOC
 * state machine in both variants: the physically addressed one (pin the
 * guest queue through an internal access, require physical contiguity,
 * hand the driver base_pa) and AMD's IOVA-addressed one (no pin, the
 * driver's init only).  Check order, errno and unwinding follow
 * spec/hw_queue.md §2 and §5.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include <linux/iommufd.h>

#include "sim/iommufd/contig.h"
#include "sim/iommufd/domain.h"
#include "sim/iommufd/iommufd_private.h"
#include "sim/lib/fault.h"
#include "sim/lib/uaccess.h"

struct iommufd_viommu *iommufd_get_viommu(struct iommufd_ctx *ictx, uint32_t id)
{
	return (struct iommufd_viommu *)iommufd_get_object(ictx, id,
							    IOMMUFD_OBJ_VIOMMU);
}

void iommufd_viommu_destroy(struct iommufd_object *obj)
{
	struct iommufd_viommu *viommu = (struct iommufd_viommu *)obj;

	if (viommu->ops && viommu->ops->destroy)
		viommu->ops->destroy(viommu);
	if (viommu->hwpt)
		refcount_dec(&viommu->hwpt->common.obj.users);
	pthread_rwlock_destroy(&viommu->vdevs_lock);
	pthread_rwlock_destroy(&viommu->veventqs_rwsem);
}

void iommufd_viommu_for_each_ref(struct iommufd_object *obj, iommufd_ref_fn fn,
				 void *arg)
{
	struct iommufd_viommu *viommu = (struct iommufd_viommu *)obj;

	if (viommu->hwpt)
		fn(&viommu->hwpt->common.obj, false, arg);
}

int iommufd_viommu_alloc_ioctl(struct iommufd_ucmd *ucmd)
{
	struct iommu_viommu_alloc *cmd = ucmd->cmd;
	struct iommu_user_data data = {
		.type = cmd->type,
		.uptr = u64_to_user_ptr(cmd->data_uptr),
		.len = cmd->data_len,
	};
	const struct isim_iommu_ops *ops;
	struct iommufd_hwpt_paging *hwpt;
	struct iommufd_viommu *viommu;
	struct iommufd_device *idev;
	size_t size;
	int rc;

	if (cmd->flags || cmd->type == IOMMU_VIOMMU_TYPE_DEFAULT)
		return -EOPNOTSUPP;
	idev = iommufd_get_device(ucmd->ictx, cmd->dev_id);
	if (IS_ERR(idev))
		return (int)PTR_ERR(idev);
	ops = idev->dev->iommu->ops;
	if (!ops->get_viommu_size || !ops->viommu_init) {
		rc = -EOPNOTSUPP;
		goto out_put_idev;
	}
	size = ops->get_viommu_size(idev->dev, cmd->type);
	if (!size) {
		rc = -EOPNOTSUPP;
		goto out_put_idev;
	}
	if (ISIM_WARN_ON(ucmd->ictx->m, size < sizeof(*viommu))) {
		rc = -EOPNOTSUPP;
		goto out_put_idev;
	}
	hwpt = (struct iommufd_hwpt_paging *)iommufd_get_object(
		ucmd->ictx, cmd->hwpt_id, IOMMUFD_OBJ_HWPT_PAGING);
	if (IS_ERR(hwpt)) {
		rc = (int)PTR_ERR(hwpt);
		goto out_put_idev;
	}
	if (!hwpt->nest_parent) {
		rc = -EINVAL;
		goto out_put_hwpt;
	}
	viommu = (struct iommufd_viommu *)_iommufd_object_alloc_ucmd(
		ucmd, size, IOMMUFD_OBJ_VIOMMU);
	if (IS_ERR(viommu)) {
		rc = (int)PTR_ERR(viommu);
		goto out_put_hwpt;
	}
	pthread_rwlock_init(&viommu->veventqs_rwsem, NULL);
	pthread_rwlock_init(&viommu->vdevs_lock, NULL);
	viommu->type = cmd->type;
	viommu->ictx = ucmd->ictx;
	viommu->iommu = idev->dev->iommu;
	viommu->hwpt = hwpt;
	refcount_inc(&hwpt->common.obj.users);
	rc = ops->viommu_init(viommu, &data);
	if (rc)
		goto out_put_hwpt;
	/* A driver that did not install its ops has a bug. */
	if (ISIM_WARN_ON(ucmd->ictx->m, !viommu->ops)) {
		rc = -EOPNOTSUPP;
		goto out_put_hwpt;
	}
	cmd->out_viommu_id = viommu->obj.id;
	rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
out_put_hwpt:
	iommufd_put_object(ucmd->ictx, &hwpt->common.obj);
out_put_idev:
	iommufd_put_object(ucmd->ictx, &idev->obj);
	return rc;
}

/* Undo of a vDEVICE; the caller holds the device's group lock. */
static void vdevice_teardown(struct iommufd_vdevice *vdev)
{
	struct iommufd_viommu *viommu = vdev->viommu;
	struct iommufd_vdevice *cur;

	if (vdev->destroy)
		vdev->destroy(vdev);
	pthread_rwlock_wrlock(&viommu->vdevs_lock);
	HASH_FIND(hh, viommu->vdevs, &vdev->virt_id, sizeof(vdev->virt_id),
		  cur);
	if (cur == vdev)
		HASH_DELETE(hh, viommu->vdevs, vdev);
	pthread_rwlock_unlock(&viommu->vdevs_lock);
	refcount_dec(&viommu->obj.users);
	if (vdev->idev->vdev == vdev)
		vdev->idev->vdev = NULL;
}

void iommufd_vdevice_abort(struct iommufd_object *obj)
{
	struct iommufd_vdevice *vdev = (struct iommufd_vdevice *)obj;

	vdevice_teardown(vdev);
	iommufd_put_object(vdev->viommu->ictx, &vdev->idev->obj);
}

void iommufd_vdevice_destroy(struct iommufd_object *obj)
{
	struct iommufd_vdevice *vdev = (struct iommufd_vdevice *)obj;
	struct iommufd_device *idev = vdev->idev;

	pthread_mutex_lock(&idev->dev->group_lock);
	vdevice_teardown(vdev);
	pthread_mutex_unlock(&idev->dev->group_lock);
	/* The device lookup reference the vDEVICE kept for its life. */
	iommufd_put_object(idev->ictx, &idev->obj);
}

void iommufd_vdevice_for_each_ref(struct iommufd_object *obj,
				  iommufd_ref_fn fn, void *arg)
{
	struct iommufd_vdevice *vdev = (struct iommufd_vdevice *)obj;

	fn(&vdev->viommu->obj, false, arg);
	fn(&vdev->idev->obj, true, arg);
}

int iommufd_vdevice_alloc_ioctl(struct iommufd_ucmd *ucmd)
{
	struct iommu_vdevice_alloc *cmd = ucmd->cmd;
	struct iommufd_vdevice *vdev, *cur;
	struct iommufd_viommu *viommu;
	struct iommufd_device *idev;
	size_t size;
	int rc;

	viommu = iommufd_get_viommu(ucmd->ictx, cmd->viommu_id);
	if (IS_ERR(viommu))
		return (int)PTR_ERR(viommu);
	idev = iommufd_get_device(ucmd->ictx, cmd->dev_id);
	if (IS_ERR(idev)) {
		rc = (int)PTR_ERR(idev);
		goto out_put_viommu;
	}
	if (viommu->iommu != idev->dev->iommu) {
		rc = -EINVAL;
		goto out_put_idev;
	}
	pthread_mutex_lock(&idev->dev->group_lock);
	if (idev->destroying) {
		rc = -ENOENT;
		goto out_unlock;
	}
	if (idev->vdev) {
		rc = -EEXIST;
		goto out_unlock;
	}
	size = viommu->ops->vdevice_size;
	if (size && (ISIM_WARN_ON(ucmd->ictx->m, size < sizeof(*vdev)) ||
		     !viommu->ops->vdevice_init)) {
		rc = -EOPNOTSUPP;
		goto out_unlock;
	}
	vdev = (struct iommufd_vdevice *)_iommufd_object_alloc(
		ucmd->ictx, size ? size : sizeof(*vdev), IOMMUFD_OBJ_VDEVICE);
	if (IS_ERR(vdev)) {
		rc = (int)PTR_ERR(vdev);
		goto out_unlock;
	}
	vdev->virt_id = cmd->virt_id;
	vdev->viommu = viommu;
	refcount_inc(&viommu->obj.users);
	/* The vDEVICE keeps the device lookup (users + wait_cnt) for life. */
	vdev->idev = idev;
	idev->vdev = vdev;

	pthread_rwlock_wrlock(&viommu->vdevs_lock);
	HASH_FIND(hh, viommu->vdevs, &vdev->virt_id, sizeof(vdev->virt_id),
		  cur);
	if (cur) {
		rc = -EEXIST;
	} else if (isim_should_fail()) {
		rc = -ENOMEM;
	} else {
		HASH_ADD(hh, viommu->vdevs, virt_id, sizeof(vdev->virt_id),
			 vdev);
		rc = 0;
	}
	pthread_rwlock_unlock(&viommu->vdevs_lock);
	if (!rc && viommu->ops->vdevice_init)
		rc = viommu->ops->vdevice_init(vdev);
	if (!rc) {
		cmd->out_vdevice_id = vdev->obj.id;
		rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
	}
	if (rc) {
		iommufd_object_abort_and_destroy(ucmd->ictx, &vdev->obj);
		pthread_mutex_unlock(&idev->dev->group_lock);
		goto out_put_viommu;
	}
	iommufd_object_finalize(ucmd->ictx, &vdev->obj);
	pthread_mutex_unlock(&idev->dev->group_lock);
	goto out_put_viommu;

out_unlock:
	pthread_mutex_unlock(&idev->dev->group_lock);
out_put_idev:
	iommufd_put_object(ucmd->ictx, &idev->obj);
out_put_viommu:
	iommufd_put_object(ucmd->ictx, &viommu->obj);
	return rc;
}

/*
 * The IOVA span a phys HW queue pins: the merged code rounds the start
 * down and adds the in-page offset to base_pa; the v8 posting rounded the
 * wrong way, which makes the offset wrap for any unaligned IOVA.
 */
struct hw_queue_span {
	uint64_t start;		/* first pinned IOVA */
	uint64_t length;	/* bytes pinned, page multiple */
	uint64_t offset;	/* of the queue inside the first page */
};

static int hw_queue_span(const struct isim_machine *m, uint64_t iova,
			 uint64_t length, struct hw_queue_span *span)
{
	uint64_t ps = m->cfg.page_size;
	uint64_t end;

	if (m->cfg.hw_queue_pin_v8) {
		uint64_t up = (iova + ps - 1) & ~(ps - 1);

		span->offset = iova - up;	/* wraps unless aligned */
		span->start = iova;
	} else {
		span->start = iova & ~(ps - 1);
		span->offset = iova - span->start;
	}
	if (__builtin_add_overflow(span->offset, length, &end) ||
	    __builtin_add_overflow(end, ps - 1, &end))
		return -ERANGE;
	span->length = end / ps * ps;
	return 0;
}

/* Unpin exactly what the alloc pinned (v8: the raw user range). */
static void hw_queue_unpin(struct iommufd_hw_queue *hw_queue)
{
	struct isim_machine *m = hw_queue->viommu->ictx->m;
	struct hw_queue_span span;

	if (m->cfg.hw_queue_pin_v8) {
		iommufd_access_unpin_pages(hw_queue->access,
					   hw_queue->base_addr,
					   hw_queue->length);
		return;
	}
	hw_queue_span(m, hw_queue->base_addr, hw_queue->length, &span);
	iommufd_access_unpin_pages(hw_queue->access, span.start, span.length);
}

void iommufd_hw_queue_destroy(struct iommufd_object *obj)
{
	struct iommufd_hw_queue *hw_queue = (struct iommufd_hw_queue *)obj;

	if (hw_queue->destroy)
		hw_queue->destroy(hw_queue);
	if (hw_queue->access) {
		struct iommufd_ctx *ictx = hw_queue->viommu->ictx;

		hw_queue_unpin(hw_queue);
		iommufd_access_detach_internal(hw_queue->access);
		iommufd_access_destroy_internal(ictx, hw_queue->access);
	}
	if (hw_queue->viommu)
		refcount_dec(&hw_queue->viommu->obj.users);
}

void iommufd_hw_queue_for_each_ref(struct iommufd_object *obj,
				   iommufd_ref_fn fn, void *arg)
{
	struct iommufd_hw_queue *hw_queue = (struct iommufd_hw_queue *)obj;

	if (hw_queue->viommu)
		fn(&hw_queue->viommu->obj, false, arg);
	if (hw_queue->depend)
		fn(&hw_queue->depend->obj, false, arg);
}

static bool pfns_contiguous(const struct isim_machine *m, const uint64_t *pfns,
			    size_t n)
{
	return isim_contig_pfns((enum isim_contig_algo)m->cfg.contig_algo,
				pfns, n);
}

/*
 * Step 10 of spec/hw_queue.md §2.2: an internal access on the nesting
 * parent's IOAS pins the guest queue; the pages must be physically
 * contiguous.  On success the access is the queue's and *base_pa is set.
 */
static int hw_queue_alloc_phys(struct iommufd_ctx *ictx,
			       struct iommufd_viommu *viommu,
			       struct iommufd_hw_queue *hw_queue,
			       const struct iommu_hw_queue_alloc *cmd,
			       uint64_t *base_pa)
{
	struct isim_machine *m = ictx->m;
	struct iommufd_access *access;
	struct hw_queue_span span;
	uint64_t ps = m->cfg.page_size, npages, *pfns;
	int rc;

	rc = hw_queue_span(m, cmd->nesting_parent_iova, cmd->length, &span);
	isim_trace(&m->trace, "hw_queue.span",
		   "iova=%#llx offset=%#llx pin_length=%#llx rounding=%s rc=%d",
		   (unsigned long long)cmd->nesting_parent_iova,
		   (unsigned long long)span.offset,
		   (unsigned long long)(rc ? 0 : span.length),
		   m->cfg.hw_queue_pin_v8 ? "v8" : "merged", rc);
	if (rc)
		return rc;
	npages = span.length / ps;
	pfns = isim_kvcalloc(npages, sizeof(*pfns));
	if (!pfns)
		return -ENOMEM;
	access = iommufd_access_create_internal(ictx);
	if (IS_ERR(access)) {
		rc = (int)PTR_ERR(access);
		goto out_free;
	}
	isim_trace(&m->trace, "hw_queue.access", "access_id=%u",
		   access->obj.id);
	rc = iommufd_access_attach_internal(access, viommu->hwpt->ioas);
	if (rc)
		goto out_destroy;
	rc = iommufd_access_pin_pages(access, span.start, span.length, pfns, 0);
	isim_trace(&m->trace, "hw_queue.pin",
		   "iova=%#llx length=%#llx npages=%llu rc=%d",
		   (unsigned long long)span.start,
		   (unsigned long long)span.length,
		   (unsigned long long)npages, rc);
	if (rc)
		goto out_detach;
	if (!pfns_contiguous(m, pfns, npages)) {
		isim_trace(&m->trace, "hw_queue.contig",
			   "contiguous=0 algo=%s",
			   isim_contig_algo_name(m->cfg.contig_algo));
		rc = -EFAULT;
		goto out_unpin;
	}
	*base_pa = pfns[0] * ps + (m->cfg.hw_queue_pin_v8 ? 0 : span.offset);
	isim_trace(&m->trace, "hw_queue.contig",
		   "contiguous=1 algo=%s base_pa=%#llx",
		   isim_contig_algo_name(m->cfg.contig_algo),
		   (unsigned long long)*base_pa);
	hw_queue->access = access;
	free(pfns);
	return 0;

out_unpin:
	iommufd_access_unpin_pages(access, span.start, span.length);
out_detach:
	iommufd_access_detach_internal(access);
out_destroy:
	iommufd_access_destroy_internal(ictx, access);
out_free:
	free(pfns);
	return rc;
}

int iommufd_hw_queue_alloc_ioctl(struct iommufd_ucmd *ucmd)
{
	struct iommu_hw_queue_alloc *cmd = ucmd->cmd;
	struct isim_tracer *tr = &ucmd->ictx->m->trace;
	const struct iommufd_viommu_ops *ops;
	struct iommufd_hw_queue *hw_queue;
	struct iommufd_viommu *viommu;
	uint64_t base_pa = 0, last;
	size_t size;
	int rc;

	if (cmd->flags || cmd->type == IOMMU_HW_QUEUE_TYPE_DEFAULT)
		return -EOPNOTSUPP;
	if (!cmd->length)
		return -EINVAL;
	if (__builtin_add_overflow(cmd->nesting_parent_iova, cmd->length - 1,
				   &last))
		return -EOVERFLOW;
	viommu = iommufd_get_viommu(ucmd->ictx, cmd->viommu_id);
	if (IS_ERR(viommu))
		return (int)PTR_ERR(viommu);
	ops = viommu->ops;
	if (!ops || !ops->get_hw_queue_size ||
	    (!ops->hw_queue_init_phys && !ops->hw_queue_init)) {
		rc = -EOPNOTSUPP;
		goto out_put;
	}
	size = ops->get_hw_queue_size(viommu, cmd->type);
	if (!size) {
		rc = -EOPNOTSUPP;
		goto out_put;
	}
	if (ISIM_WARN_ON(ucmd->ictx->m, size < sizeof(*hw_queue))) {
		rc = -EOPNOTSUPP;
		goto out_put;
	}
	isim_trace(tr, "hw_queue.checks",
		   "viommu=%u type=%#x index=%u iova=%#llx length=%#llx variant=%s",
		   viommu->obj.id, cmd->type, cmd->index,
		   (unsigned long long)cmd->nesting_parent_iova,
		   (unsigned long long)cmd->length,
		   ops->hw_queue_init_phys ? "phys" : "iova");
	hw_queue = (struct iommufd_hw_queue *)_iommufd_object_alloc_ucmd(
		ucmd, size, IOMMUFD_OBJ_HW_QUEUE);
	if (IS_ERR(hw_queue)) {
		rc = (int)PTR_ERR(hw_queue);
		goto out_put;
	}
	if (ops->hw_queue_init_phys) {
		rc = hw_queue_alloc_phys(ucmd->ictx, viommu, hw_queue, cmd,
					 &base_pa);
		if (rc)
			goto out_put;
	}
	hw_queue->viommu = viommu;
	refcount_inc(&viommu->obj.users);
	hw_queue->type = cmd->type;
	hw_queue->length = cmd->length;
	hw_queue->base_addr = cmd->nesting_parent_iova;
	if (ops->hw_queue_init_phys)
		rc = ops->hw_queue_init_phys(hw_queue, cmd->index, base_pa);
	else
		rc = ops->hw_queue_init(hw_queue, cmd->index);
	isim_trace(tr, "hw_queue.driver_init", "index=%u base_pa=%#llx rc=%d",
		   cmd->index, (unsigned long long)base_pa, rc);
	if (rc)
		goto out_put;
	cmd->out_hw_queue_id = hw_queue->obj.id;
	rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
out_put:
	iommufd_put_object(ucmd->ictx, &viommu->obj);
	return rc;
}

/* Driver helpers (include/iommufd-sim/driver.h). */

int iommufd_viommu_translate(struct iommufd_viommu *viommu, uint64_t iova,
			     uint64_t *pa)
{
	int prot;

	return iommufd_domain_iova_to_phys(viommu->hwpt->common.domain, iova,
					   pa, &prot);
}

struct isim_device *iommufd_viommu_find_dev(struct iommufd_viommu *viommu,
					    uint64_t virt_id)
{
	struct iommufd_vdevice *vdev;

	pthread_rwlock_rdlock(&viommu->vdevs_lock);
	HASH_FIND(hh, viommu->vdevs, &virt_id, sizeof(virt_id), vdev);
	pthread_rwlock_unlock(&viommu->vdevs_lock);
	return vdev ? vdev->idev->dev : NULL;
}

int iommufd_viommu_get_vdev_id(struct iommufd_viommu *viommu,
			       struct isim_device *dev, uint64_t *virt_id)
{
	struct iommufd_vdevice *vdev, *tmp;
	int rc = -ENOENT;

	pthread_rwlock_rdlock(&viommu->vdevs_lock);
	HASH_ITER(hh, viommu->vdevs, vdev, tmp) {
		if (vdev->idev->dev == dev) {
			*virt_id = vdev->virt_id;
			rc = 0;
			break;
		}
	}
	pthread_rwlock_unlock(&viommu->vdevs_lock);
	return rc;
}

int iommufd_hw_queue_depend(struct iommufd_hw_queue *hw_queue,
			    struct iommufd_hw_queue *prev)
{
	if (hw_queue == prev || hw_queue->type != prev->type ||
	    hw_queue->viommu != prev->viommu)
		return -EINVAL;
	refcount_inc(&prev->obj.users);
	hw_queue->depend = prev;
	return 0;
}

void iommufd_hw_queue_undepend(struct iommufd_hw_queue *hw_queue,
			       struct iommufd_hw_queue *prev)
{
	if (ISIM_WARN_ON(hw_queue->viommu->ictx->m, hw_queue->depend != prev))
		return;
	hw_queue->depend = NULL;
	refcount_dec(&prev->obj.users);
}
