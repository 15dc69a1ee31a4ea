/*
 * Device objects: binding a simulated device to a context (VFIO cdev
 * style), attaching it to an IOAS (through an automatic paging HWPT) or to
 * a HWPT, replacing and detaching, unbinding (which tombstones its vDEVICE)
 * and IOMMU_GET_HW_INFO.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/iommufd.h>

#include "sim/iommufd/domain.h"
#include "sim/iommufd/iommufd_private.h"
#include "sim/lib/fault.h"
#include "sim/lib/uaccess.h"
#include "sim/mm/phys.h"

struct iommufd_device *iommufd_get_device(struct iommufd_ctx *ictx, uint32_t id)
{
	return (struct iommufd_device *)iommufd_get_object(ictx, id,
							    IOMMUFD_OBJ_DEVICE);
}

int iommufd_device_bind(struct iommufd_ctx *ictx, struct isim_device *dev,
			uint32_t *id, struct iommufd_device **out)
{
	struct iommufd_device *idev;
	int rc = 0;

	pthread_mutex_lock(&dev->group_lock);
	if (dev->idev) {
		rc = -EBUSY;	/* one owner at a time, as with VFIO */
		goto out_unlock;
	}
	idev = (struct iommufd_device *)_iommufd_object_alloc(
		ictx, sizeof(*idev), IOMMUFD_OBJ_DEVICE);
	if (IS_ERR(idev)) {
		rc = (int)PTR_ERR(idev);
		goto out_unlock;
	}
	idev->ictx = ictx;
	idev->dev = dev;
	/* The binding driver's reference. */
	refcount_inc(&idev->obj.users);
	dev->idev = idev;
	iommufd_object_finalize(ictx, &idev->obj);
	*id = idev->obj.id;
	if (out)
		*out = idev;
out_unlock:
	pthread_mutex_unlock(&dev->group_lock);
	return rc;
}

void iommufd_device_unbind(struct iommufd_device *idev)
{
	if (idev->hwpt)
		iommufd_device_detach(idev);
	iommufd_object_destroy_user(idev->ictx, &idev->obj);
}

/* A waiting destroy: make the vDEVICE let go of its device reference. */
void iommufd_device_pre_destroy(struct iommufd_object *obj)
{
	struct iommufd_device *idev = (struct iommufd_device *)obj;
	struct iommufd_vdevice *vdev;

	pthread_mutex_lock(&idev->dev->group_lock);
	idev->destroying = true;
	vdev = idev->vdev;
	if (vdev)
		refcount_inc(&vdev->obj.users);
	pthread_mutex_unlock(&idev->dev->group_lock);
	if (vdev)
		iommufd_object_tombstone_user(idev->ictx, &vdev->obj);
}

void iommufd_device_destroy(struct iommufd_object *obj)
{
	struct iommufd_device *idev = (struct iommufd_device *)obj;

	pthread_mutex_lock(&idev->dev->group_lock);
	if (idev->dev->idev == idev)
		idev->dev->idev = NULL;
	idev->dev->viommu = NULL;
	idev->dev->virt_id = 0;
	pthread_mutex_unlock(&idev->dev->group_lock);
}

void iommufd_device_for_each_ref(struct iommufd_object *obj, iommufd_ref_fn fn,
				 void *arg)
{
	struct iommufd_device *idev = (struct iommufd_device *)obj;

	fn(obj, false, arg);	/* the binding driver */
	if (idev->hwpt) {
		fn(&idev->hwpt->obj, false, arg);
		fn(obj, false, arg);
	}
}

static bool hwpt_is_paging(const struct iommufd_hw_pagetable *hwpt)
{
	return hwpt->obj.type == IOMMUFD_OBJ_HWPT_PAGING;
}

/* Can @idev use @hwpt?  Same IOMMU, and for nested-on-vIOMMU a vDEVICE. */
static int hwpt_check_device(struct iommufd_hw_pagetable *hwpt,
			     struct iommufd_device *idev)
{
	if (hwpt->iommu != idev->dev->iommu)
		return -EINVAL;
	if (hwpt->obj.type == IOMMUFD_OBJ_HWPT_NESTED) {
		struct iommufd_hwpt_nested *n =
			(struct iommufd_hwpt_nested *)hwpt;

		if (n->viommu && (!idev->vdev || idev->vdev->viommu != n->viommu))
			return -ENOENT;
	}
	if (hwpt_is_paging(hwpt) &&
	    ((struct iommufd_hwpt_paging *)hwpt)->dirty_tracking &&
	    (idev->dev->flags & ISIM_DEV_NO_DIRTY))
		return -EINVAL;
	return 0;
}

/*
 * Resolve @pt_id to the HWPT the device should use: a HWPT as is, or for an
 * IOAS a compatible automatic HWPT already on it, else a new one.  Returns
 * the HWPT with a users reference for the attachment.
 */
static struct iommufd_hw_pagetable *
device_resolve_pt(struct iommufd_device *idev, uint32_t pt_id)
{
	struct iommufd_ctx *ictx = idev->ictx;
	struct iommufd_object *pt;
	struct iommufd_hw_pagetable *hwpt;
	struct iommufd_hwpt_paging *p;
	struct iommufd_ioas *ioas;
	int rc;

	pt = iommufd_get_object(ictx, pt_id, IOMMUFD_OBJ_ANY);
	if (IS_ERR(pt))
		return (void *)pt;
	if (pt->type == IOMMUFD_OBJ_HWPT_PAGING ||
	    pt->type == IOMMUFD_OBJ_HWPT_NESTED) {
		hwpt = (struct iommufd_hw_pagetable *)pt;
		rc = hwpt_check_device(hwpt, idev);
		if (!rc)
			refcount_inc(&hwpt->obj.users);
		iommufd_put_object(ictx, pt);
		return rc ? ERR_PTR(rc) : hwpt;
	}
	if (pt->type != IOMMUFD_OBJ_IOAS) {
		iommufd_put_object(ictx, pt);
		return ERR_PTR(-EINVAL);
	}
	ioas = (struct iommufd_ioas *)pt;
	pthread_mutex_lock(&ioas->mutex);
	for (p = ioas->hwpt_list; p; p = p->next_in_ioas) {
		if (!p->auto_domain || hwpt_check_device(&p->common, idev) ||
		    !iommufd_lock_obj(&p->common.obj))
			continue;
		/* Keep the users ref, drop the short-term wait_cnt one. */
		refcount_dec(&p->common.obj.wait_cnt);
		pthread_mutex_unlock(&ioas->mutex);
		iommufd_put_object(ictx, pt);
		return &p->common;
	}
	p = iommufd_hwpt_paging_alloc(ictx, ioas, idev, 0, true);
	if (IS_ERR(p)) {
		pthread_mutex_unlock(&ioas->mutex);
		iommufd_put_object(ictx, pt);
		return (void *)p;
	}
	refcount_inc(&p->common.obj.users);
	iommufd_object_finalize(ictx, &p->common.obj);
	pthread_mutex_unlock(&ioas->mutex);
	iommufd_put_object(ictx, pt);
	return &p->common;
}

/* Drop an attachment's reference; an automatic HWPT dies with its last. */
static void device_put_hwpt(struct iommufd_ctx *ictx,
			    struct iommufd_hw_pagetable *hwpt)
{
	if (hwpt_is_paging(hwpt) &&
	    ((struct iommufd_hwpt_paging *)hwpt)->auto_domain)
		iommufd_object_put_and_try_destroy(ictx, &hwpt->obj);
	else
		refcount_dec(&hwpt->obj.users);
}

static int device_change_hwpt(struct iommufd_device *idev, uint32_t *pt_id,
			      bool replace)
{
	struct iommufd_hw_pagetable *hwpt, *old;

	pthread_mutex_lock(&idev->dev->group_lock);
	if (replace ? !idev->hwpt : !!idev->hwpt) {
		pthread_mutex_unlock(&idev->dev->group_lock);
		return -EINVAL;
	}
	hwpt = device_resolve_pt(idev, *pt_id);
	if (IS_ERR(hwpt)) {
		pthread_mutex_unlock(&idev->dev->group_lock);
		return (int)PTR_ERR(hwpt);
	}
	old = idev->hwpt;
	/* Faults that came in through the old attachment get answered. */
	if (old)
		iommufd_fault_auto_response(old, idev);
	idev->hwpt = hwpt;
	if (!old)
		refcount_inc(&idev->obj.users);
	if (hwpt->obj.type == IOMMUFD_OBJ_HWPT_NESTED &&
	    ((struct iommufd_hwpt_nested *)hwpt)->viommu) {
		idev->dev->viommu = ((struct iommufd_hwpt_nested *)hwpt)->viommu;
		idev->dev->virt_id = idev->vdev->virt_id;
	} else {
		idev->dev->viommu = NULL;
		idev->dev->virt_id = 0;
	}
	pthread_mutex_unlock(&idev->dev->group_lock);
	if (old)
		device_put_hwpt(idev->ictx, old);
	*pt_id = hwpt->obj.id;
	isim_trace(&idev->ictx->m->trace, "device.attach",
		   "dev=%s dev_id=%u hwpt=%u", idev->dev->name, idev->obj.id,
		   hwpt->obj.id);
	return 0;
}

int iommufd_device_attach(struct iommufd_device *idev, uint32_t *pt_id)
{
	return device_change_hwpt(idev, pt_id, false);
}

int iommufd_device_replace(struct iommufd_device *idev, uint32_t *pt_id)
{
	return device_change_hwpt(idev, pt_id, true);
}

void iommufd_device_detach(struct iommufd_device *idev)
{
	struct iommufd_hw_pagetable *old;

	pthread_mutex_lock(&idev->dev->group_lock);
	old = idev->hwpt;
	if (old)
		iommufd_fault_auto_response(old, idev);
	idev->hwpt = NULL;
	idev->dev->viommu = NULL;
	idev->dev->virt_id = 0;
	pthread_mutex_unlock(&idev->dev->group_lock);
	if (ISIM_WARN_ON(idev->ictx->m, !old))
		return;
	device_put_hwpt(idev->ictx, old);
	refcount_dec(&idev->obj.users);
}

/* Public wrappers, by device object ID. */
int isim_device_bind(struct isim_fd *fd, struct isim_device *dev,
		     uint32_t *out_dev_id)
{
	return iommufd_device_bind(&fd->ictx, dev, out_dev_id, NULL);
}

static struct iommufd_device *device_by_id(struct isim_fd *fd, uint32_t id)
{
	struct iommufd_device *idev = iommufd_get_device(&fd->ictx, id);

	if (!IS_ERR(idev))
		iommufd_put_object(&fd->ictx, &idev->obj);
	return idev;
}

int isim_device_unbind(struct isim_fd *fd, uint32_t dev_id)
{
	struct iommufd_device *idev = device_by_id(fd, dev_id);

	if (IS_ERR(idev))
		return (int)PTR_ERR(idev);
	iommufd_device_unbind(idev);
	return 0;
}

int isim_device_attach(struct isim_fd *fd, uint32_t dev_id, uint32_t *pt_id)
{
	struct iommufd_device *idev = device_by_id(fd, dev_id);

	return IS_ERR(idev) ? (int)PTR_ERR(idev) :
			      iommufd_device_attach(idev, pt_id);
}

int isim_device_replace(struct isim_fd *fd, uint32_t dev_id, uint32_t *pt_id)
{
	struct iommufd_device *idev = device_by_id(fd, dev_id);

	return IS_ERR(idev) ? (int)PTR_ERR(idev) :
			      iommufd_device_replace(idev, pt_id);
}

int isim_device_detach(struct isim_fd *fd, uint32_t dev_id)
{
	struct iommufd_device *idev = device_by_id(fd, dev_id);

	if (IS_ERR(idev))
		return (int)PTR_ERR(idev);
	if (!idev->hwpt)
		return -EINVAL;
	iommufd_device_detach(idev);
	return 0;
}

int iommufd_get_hw_info(struct iommufd_ucmd *ucmd)
{
	struct iommu_hw_info *cmd = ucmd->cmd;
	const struct isim_iommu_ops *ops;
	struct iommufd_device *idev;
	unsigned in_type = IOMMU_HW_INFO_TYPE_DEFAULT, out_type = 0;
	uint8_t max_pasid = 0;
	uint64_t caps = 0;
	size_t len = 0;
	void *data = NULL;
	int rc;

	if (cmd->flags & ~IOMMU_HW_INFO_FLAG_INPUT_TYPE)
		return -EOPNOTSUPP;
	if (cmd->__reserved[0] || cmd->__reserved[1] || cmd->__reserved[2])
		return -EOPNOTSUPP;
	if (cmd->flags & IOMMU_HW_INFO_FLAG_INPUT_TYPE)
		in_type = cmd->in_data_type;
	idev = iommufd_get_device(ucmd->ictx, cmd->dev_id);
	if (IS_ERR(idev))
		return (int)PTR_ERR(idev);
	ops = idev->dev->iommu->ops;
	if (ops->hw_info) {
		len = 4096;
		data = isim_kzalloc(len);
		if (!data) {
			rc = -ENOMEM;
			goto out_put;
		}
		rc = ops->hw_info(idev->dev, in_type, data, &len, &out_type,
				  &caps, &max_pasid);
		if (rc)
			goto out_free;
	} else if (in_type != IOMMU_HW_INFO_TYPE_DEFAULT) {
		rc = -EOPNOTSUPP;
		goto out_put;
	}
	/* Copy what fits; zero the rest of a larger user buffer. */
	if (cmd->data_len && cmd->data_uptr) {
		size_t n = cmd->data_len < len ? cmd->data_len : len;

		rc = isim_copy_to_user(u64_to_user_ptr(cmd->data_uptr), data, n);
		for (size_t off = n; !rc && off < cmd->data_len;) {
			static const char zeros[256];
			size_t k = cmd->data_len - off;

			if (k > sizeof(zeros))
				k = sizeof(zeros);
			rc = isim_copy_to_user(
				user_ptr_add(u64_to_user_ptr(cmd->data_uptr),
					     off),
				zeros, k);
			off += k;
		}
		if (rc)
			goto out_free;
	}
	cmd->data_len = (uint32_t)len;
	cmd->out_data_type = out_type;
	cmd->out_capabilities = caps;
	cmd->out_max_pasid_log2 = max_pasid;
	rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
out_free:
	free(data);
out_put:
	iommufd_put_object(ucmd->ictx, &idev->obj);
	return rc;
}

/*
 * Device DMA through the attached page table, page by page; writes mark
 * the IOVA dirty for dirty tracking.  The group lock keeps the attachment
 * stable for the duration.
 */
int isim_dma(struct isim_device *dev, uint64_t iova, void *buf, size_t len,
	     unsigned flags)
{
	struct isim_machine *m = dev->m;
	uint64_t ps = m->cfg.page_size;
	struct iommufd_domain *domain;
	char *p = buf;
	int rc = 0;

	pthread_mutex_lock(&dev->group_lock);
	if (!dev->idev || !dev->idev->hwpt) {
		pthread_mutex_unlock(&dev->group_lock);
		return -ENODEV;
	}
	domain = iommufd_hwpt_s2_domain(dev->idev->hwpt);
	while (len && !rc) {
		uint64_t n = ps - iova % ps, pa;
		int prot;

		if (n > len)
			n = len;
		rc = iommufd_domain_iova_to_phys(domain, iova, &pa, &prot);
		if (!rc && !(prot & ((flags & ISIM_DMA_WRITE) ? IOMMU_WRITE :
								IOMMU_READ)))
			rc = -EFAULT;
		if (rc) {
			rc = -EFAULT;
			if (dev->iommu->ops->dma_fault)
				dev->iommu->ops->dma_fault(dev, iova, flags);
			break;
		}
		if (flags & ISIM_DMA_WRITE) {
			rc = isim_pa_write(m->phys, pa, p, n);
			if (!rc)
				iommufd_domain_mark_dirty(domain, iova, n);
		} else {
			rc = isim_pa_read(m->phys, pa, p, n);
		}
		iova += n;
		p += n;
		len -= n;
	}
	isim_trace(&m->trace, "device.dma", "dev=%s iova=%#llx write=%u rc=%d",
		   dev->name, (unsigned long long)iova,
		   !!(flags & ISIM_DMA_WRITE), rc);
	pthread_mutex_unlock(&dev->group_lock);
	return rc;
}
