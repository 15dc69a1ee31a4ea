/*
 * IOMMU_TEST_CMD: the kernel selftest's back door into iommufd
 * (drivers/iommu/iommufd/selftest.c), so that the upstream selftest and our
 * own tests can drive the core through the same ops.  It creates mock
 * devices bound and attached in one step (the "stdev" selftest object that
 * owns them), checks what a mock domain maps and how often frames are pinned,
 * runs an emulated-device access behind an fd of its own (that half is
 * selftest_access.c; selftest.h is what they share), reads the mock's
 * IOTLB and device cache slots, and fires selftest vEVENTs.  The rules,
 * errno and check order are spec/kselftest.md §5 and spec/hw_queue.md §3.4.
 * Physical addresses are the simulator's frames: the PA behind a user page
 * is the frame isim_va_to_pfn() knows for it, and a pin count is the
 * frame's own, so "refs" means exactly what GUP_PIN_COUNTING_BIAS gives the
 * kernel.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <linux/iommufd.h>
#include <iommufd_test.h>

#include "sim/iommufd/domain.h"
#include "sim/iommufd/eventq.h"
#include "sim/iommufd/iommufd_private.h"
#include "sim/iommufd/selftest.h"
#include "sim/lib/fault.h"
#include "sim/lib/uaccess.h"
#include "sim/mm/phys.h"
#include "sim/mm/vm.h"

extern const struct isim_iommu_ops isim_mock_iommu_ops;
extern const struct isim_iommu_ops isim_mock_iova_iommu_ops;

/*
 * The kernel's temporary-memory limit for its pfn batches.  This core has
 * no batch allocator to starve, so the value is only kept (and validated)
 * for programs that set it; a batch allocator would read it here.
 */
static atomic_uint selftest_memory_limit = 65536;

static bool iommu_is_mock(const struct isim_iommu *iommu)
{
	return iommu->ops == &isim_mock_iommu_ops ||
	       iommu->ops == &isim_mock_iova_iommu_ops;
}

/*
 * A mock nested domain as vendors/mock/mock.c allocates it: the IOTLB
 * slots are all the selftest may look at.
 */
struct mock_nested_view {
	uint32_t iotlb[MOCK_NESTED_DOMAIN_IOTLB_NUM];
};

/* ------------------------------------------------------- user memory */

int iommufd_test_user_page_frame(struct isim_machine *m, uint64_t va,
				 uint64_t *pfn, bool *have)
{
	unsigned char probe;
	int rc;

	/* A one-byte read: the kernel's "is it mapped" without a signal. */
	rc = isim_copy_from_user(&probe, u64_to_user_ptr(va), 1);
	if (rc)
		return rc;
	*have = !isim_va_to_pfn(m->vm, va, pfn);
	return 0;
}

/* -------------------------------------------------- selftest objects */

/*
 * The stdev object of MOCK_DOMAIN: it owns a mock device it made, bound
 * and attached.  The binding's `users' reference on the device object is
 * reported by the device itself ("the binding driver"), so a stdev holds
 * no reference that the invariant check has to learn about.
 */
struct selftest_obj {
	struct iommufd_object obj;
	struct iommufd_ctx *ictx;
	struct isim_device *dev;
	uint32_t idev_id;
};

/* Keeps two MOCK_DOMAINs racing for the same free "mock<N>" name apart. */
static pthread_mutex_t mock_dev_names_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * A new device behind the machine's default mock IOMMU, named with the
 * lowest free "mock<N>" like the kernel's ida-numbered mock devices, with
 * the flags and the cache contents of a fresh mock device.
 */
static int mock_dev_create(struct isim_machine *m, uint32_t dev_flags,
			   struct isim_device **out)
{
	const uint32_t valid = MOCK_FLAGS_DEVICE_NO_DIRTY |
			       MOCK_FLAGS_DEVICE_HUGE_IOVA |
			       MOCK_FLAGS_DEVICE_PASID;
	struct isim_device *dev;
	char name[sizeof(dev->name)];
	unsigned n = 0;
	int rc;

	if (dev_flags & ~valid)
		return -EINVAL;
	pthread_mutex_lock(&mock_dev_names_lock);
	do {
		snprintf(name, sizeof(name), "mock%u", n++);
		rc = isim_device_add(m, NULL, name, &dev);
	} while (rc == -EEXIST);
	pthread_mutex_unlock(&mock_dev_names_lock);
	if (rc)
		return rc;
	if (dev_flags & MOCK_FLAGS_DEVICE_NO_DIRTY)
		dev->flags |= ISIM_DEV_NO_DIRTY;
	if (dev_flags & MOCK_FLAGS_DEVICE_HUGE_IOVA)
		dev->flags |= ISIM_DEV_HUGE_IOVA;
	if (dev_flags & MOCK_FLAGS_DEVICE_PASID)
		dev->flags |= ISIM_DEV_PASID;
	for (unsigned i = 0; i < MOCK_DEV_CACHE_NUM; i++)
		dev->cache[i] = IOMMU_TEST_DEV_CACHE_DEFAULT;
	*out = dev;
	return 0;
}

static int test_mock_domain(struct iommufd_ucmd *ucmd,
			    struct iommu_test_cmd *cmd)
{
	struct iommufd_ctx *ictx = ucmd->ictx;
	struct iommufd_device *idev;
	struct selftest_obj *sobj;
	uint32_t pt_id = cmd->id, dev_flags = 0;
	int rc;

	/*
	 * Not the ucmd allocation: on failure the half-built stdev must be
	 * unwound here, not handed to our destroy op.  Reserved first so its
	 * ID comes before the device's, as in the kernel.
	 */
	sobj = (struct selftest_obj *)_iommufd_object_alloc(
		ictx, sizeof(*sobj), IOMMUFD_OBJ_SELFTEST);
	if (IS_ERR(sobj))
		return (int)PTR_ERR(sobj);
	sobj->ictx = ictx;
	if (cmd->op == IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS)
		dev_flags = cmd->mock_domain_flags.dev_flags;
	rc = mock_dev_create(ictx->m, dev_flags, &sobj->dev);
	if (rc)
		goto out_abort;
	rc = iommufd_device_bind(ictx, sobj->dev, &sobj->idev_id, &idev);
	if (rc)
		goto out_remove;
	rc = iommufd_device_attach(idev, &pt_id);
	if (rc)
		goto out_unbind;

	cmd->mock_domain.out_stdev_id = sobj->obj.id;
	cmd->mock_domain.out_hwpt_id = pt_id;
	cmd->mock_domain.out_idev_id = sobj->idev_id;
	rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
	if (rc)
		goto out_unbind;
	/* Before publishing: a DESTROY may free it right after. */
	isim_trace(&ictx->m->trace, "selftest.mock_domain",
		   "dev=%s stdev=%u idev=%u hwpt=%u flags=%#x",
		   sobj->dev->name, sobj->obj.id, sobj->idev_id, pt_id,
		   dev_flags);
	iommufd_object_finalize(ictx, &sobj->obj);
	return 0;

out_unbind:
	iommufd_device_unbind(idev);	/* detaches first */
out_remove:
	isim_device_remove(sobj->dev);
out_abort:
	iommufd_object_abort(ictx, &sobj->obj);
	return rc;
}

/*
 * DESTROY of a stdev: detach, unbind, and take the device off the machine.
 * Closing the context unbinds every device before it destroys objects
 * (that is the VFIO fds going away), so by then ours may be unbound
 * already; one that was bound again elsewhere is no longer ours to remove.
 */
void iommufd_selftest_destroy(struct iommufd_object *obj)
{
	struct selftest_obj *sobj = (struct selftest_obj *)obj;
	struct iommufd_device *idev;
	struct isim_device *dev = sobj->dev;

	pthread_mutex_lock(&dev->group_lock);
	idev = dev->idev;
	pthread_mutex_unlock(&dev->group_lock);
	if (idev) {
		if (idev->ictx != sobj->ictx)
			return;
		iommufd_device_unbind(idev);
	}
	isim_device_remove(dev);
}

static struct selftest_obj *selftest_obj_get(struct iommufd_ctx *ictx,
					     uint32_t id)
{
	return (struct selftest_obj *)iommufd_get_object(ictx, id,
							  IOMMUFD_OBJ_SELFTEST);
}

static int test_mock_domain_replace(struct iommufd_ucmd *ucmd,
				    struct iommu_test_cmd *cmd)
{
	struct iommufd_ctx *ictx = ucmd->ictx;
	uint32_t pt_id = cmd->mock_domain_replace.pt_id;
	struct iommufd_device *idev;
	struct selftest_obj *sobj;
	int rc;

	sobj = selftest_obj_get(ictx, cmd->id);
	if (IS_ERR(sobj))
		return (int)PTR_ERR(sobj);
	idev = iommufd_get_device(ictx, sobj->idev_id);
	if (IS_ERR(idev)) {
		rc = (int)PTR_ERR(idev);
		goto out_put_sobj;
	}
	/* Unbound behind our back and the ID reused: not our device. */
	if (idev->dev != sobj->dev) {
		rc = -ENOENT;
		goto out_put_idev;
	}
	rc = iommufd_device_replace(idev, &pt_id);
	if (rc)
		goto out_put_idev;
	cmd->mock_domain_replace.pt_id = pt_id;
	rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
out_put_idev:
	iommufd_put_object(ictx, &idev->obj);
out_put_sobj:
	iommufd_put_object(ictx, &sobj->obj);
	return rc;
}

/*
 * The device an op names: a device object (the kernel's only form), or,
 * for convenience, the stdev that owns one.  *held is what to put.
 */
static struct isim_device *test_get_dev(struct iommufd_ctx *ictx, uint32_t id,
					struct iommufd_object **held)
{
	struct iommufd_object *obj;

	obj = iommufd_get_object(ictx, id, IOMMUFD_OBJ_ANY);
	if (IS_ERR(obj))
		return (void *)obj;
	*held = obj;
	if (obj->type == IOMMUFD_OBJ_DEVICE)
		return ((struct iommufd_device *)obj)->dev;
	if (obj->type == IOMMUFD_OBJ_SELFTEST)
		return ((struct selftest_obj *)obj)->dev;
	iommufd_put_object(ictx, obj);
	return ERR_PTR(-ENOENT);
}

static int test_dev_check_cache(struct iommufd_ucmd *ucmd,
				struct iommu_test_cmd *cmd)
{
	uint32_t slot = cmd->check_dev_cache.id;
	struct iommufd_object *held;
	struct isim_device *dev;
	int rc = 0;

	dev = test_get_dev(ucmd->ictx, cmd->id, &held);
	if (IS_ERR(dev))
		return (int)PTR_ERR(dev);
	if (slot > MOCK_DEV_CACHE_ID_MAX ||
	    dev->cache[slot] != cmd->check_dev_cache.cache)
		rc = -EINVAL;
	iommufd_put_object(ucmd->ictx, held);
	return rc;
}

/*
 * The vIOMMU and virt_id a device recorded when it was attached to a
 * nested HWPT on a vIOMMU.  The group lock keeps that attachment, and so
 * the vIOMMU, in place while the event is delivered.
 */
static int test_trigger_vevent(struct iommufd_ucmd *ucmd,
			       struct iommu_test_cmd *cmd)
{
	struct iommu_viommu_event_selftest event = { 0 };
	struct iommufd_object *held;
	struct isim_device *dev;
	int rc = -ENOENT;

	dev = test_get_dev(ucmd->ictx, cmd->trigger_vevent.dev_id, &held);
	if (IS_ERR(dev))
		return (int)PTR_ERR(dev);
	pthread_mutex_lock(&dev->group_lock);
	/* virt_id 0 doubles as "none" in the mock: it never reports. */
	if (dev->viommu && dev->virt_id) {
		event.virt_id = (uint32_t)dev->virt_id;
		rc = iommufd_viommu_report_event(dev->viommu,
						 IOMMU_VEVENTQ_TYPE_SELFTEST,
						 &event, sizeof(event));
	}
	pthread_mutex_unlock(&dev->group_lock);
	iommufd_put_object(ucmd->ictx, held);
	return rc;
}

/* ------------------------------------------------- domain inspection */

static int test_add_reserved(struct iommufd_ucmd *ucmd,
			     struct iommu_test_cmd *cmd)
{
	uint64_t start = cmd->add_reserved.start;
	uint64_t length = cmd->add_reserved.length;
	struct iommufd_ioas *ioas;
	uint64_t last;
	int rc;

	if (!length)
		return -EINVAL;
	if (__builtin_add_overflow(start, length - 1, &last))
		return -EOVERFLOW;
	ioas = iommufd_get_ioas(ucmd->ictx, cmd->id);
	if (IS_ERR(ioas))
		return (int)PTR_ERR(ioas);
	/* Owner NULL: like the kernel's, it lives as long as the IOAS. */
	rc = iopt_reserve_iova(&ioas->iopt, start, last, NULL);
	iommufd_put_object(ucmd->ictx, &ioas->obj);
	return rc;
}

static int test_md_check_map(struct iommufd_ucmd *ucmd,
			     struct iommu_test_cmd *cmd)
{
	struct isim_machine *m = ucmd->ictx->m;
	uint64_t iova = cmd->check_map.iova;
	uint64_t length = cmd->check_map.length;
	uint64_t uptr = cmd->check_map.uptr;
	uint64_t ps = m->cfg.page_size, gran, end, pfn = 0;
	uint64_t looked_up = UINT64_MAX;	/* the page pfn belongs to */
	struct iommufd_hwpt_paging *hwpt;
	struct iommufd_domain *domain;
	bool have = false;
	int rc = 0;

	hwpt = (struct iommufd_hwpt_paging *)iommufd_get_object(
		ucmd->ictx, cmd->id, IOMMUFD_OBJ_HWPT_PAGING);
	if (IS_ERR(hwpt))
		return (int)PTR_ERR(hwpt);
	domain = hwpt->common.domain;
	if (!iommu_is_mock(hwpt->common.iommu) || !domain) {
		rc = -EINVAL;
		goto out_put;
	}
	/* The domain's smallest page: 2 KiB mock pages, or PAGE_SIZE. */
	gran = iommufd_domain_min_pgsize(domain);
	if (iova % gran || length % gran || uptr % gran ||
	    __builtin_add_overflow(uptr, length, &end)) {
		rc = -EINVAL;
		goto out_put;
	}
	for (; length; length -= gran, iova += gran, uptr += gran) {
		uint64_t pa;
		int prot;

		/* One lookup per user page, however many granules it has. */
		if ((uptr & ~(ps - 1)) != looked_up) {
			looked_up = uptr & ~(ps - 1);
			rc = iommufd_test_user_page_frame(m, looked_up, &pfn,
							  &have);
			if (rc)
				break;
		}
		if (!have || iommufd_domain_iova_to_phys(domain, iova, &pa,
							 &prot) ||
		    pa != pfn * ps + uptr % ps) {
			rc = -EINVAL;
			break;
		}
	}
out_put:
	iommufd_put_object(ucmd->ictx, &hwpt->common.obj);
	return rc;
}

/*
 * Long-term pins of every page, the kernel's page_ref_count /
 * GUP_PIN_COUNTING_BIAS.  Pages of a folio (THP, hugetlb) are skipped as
 * the kernel skips compound pages, whose refcount is the folio's.
 */
static int test_md_check_refs(struct iommufd_ucmd *ucmd,
			      struct iommu_test_cmd *cmd)
{
	struct isim_machine *m = ucmd->ictx->m;
	uint64_t length = cmd->check_refs.length;
	uint64_t uptr = cmd->check_refs.uptr;
	uint64_t ps = m->cfg.page_size, end;

	if (length % ps || uptr % ps ||
	    __builtin_add_overflow(uptr, length, &end))
		return -EINVAL;
	for (; length; length -= ps, uptr += ps) {
		struct isim_frame_info info;
		uint64_t pfn;
		bool have;
		int rc;

		rc = iommufd_test_user_page_frame(m, uptr, &pfn, &have);
		if (rc)
			return rc;
		if (!have) {
			if (cmd->check_refs.refs)
				return -EIO;
			continue;
		}
		if (isim_phys_frame(m->phys, pfn, &info))
			return -EFAULT;
		if (info.order)
			continue;
		if (info.pincount != cmd->check_refs.refs)
			return -EIO;
	}
	return 0;
}

static int test_md_check_iotlb(struct iommufd_ucmd *ucmd,
			       struct iommu_test_cmd *cmd)
{
	uint32_t slot = cmd->check_iotlb.id;
	struct iommufd_hwpt_nested *hwpt;
	const struct mock_nested_view *nested;
	int rc = 0;

	hwpt = (struct iommufd_hwpt_nested *)iommufd_get_object(
		ucmd->ictx, cmd->id, IOMMUFD_OBJ_HWPT_NESTED);
	if (IS_ERR(hwpt))
		return (int)PTR_ERR(hwpt);
	nested = hwpt->nested;
	if (!iommu_is_mock(hwpt->common.iommu) || !nested ||
	    slot > MOCK_NESTED_DOMAIN_IOTLB_ID_MAX ||
	    nested->iotlb[slot] != cmd->check_iotlb.iotlb)
		rc = -EINVAL;
	iommufd_put_object(ucmd->ictx, &hwpt->common.obj);
	return rc;
}

/* ------------------------------------------------------- the ioctl */

int iommufd_test(struct iommufd_ucmd *ucmd)
{
	struct iommu_test_cmd *cmd = ucmd->cmd;

	switch (cmd->op) {
	case IOMMU_TEST_OP_ADD_RESERVED:
		return test_add_reserved(ucmd, cmd);
	case IOMMU_TEST_OP_MOCK_DOMAIN:
	case IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS:
		return test_mock_domain(ucmd, cmd);
	case IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE:
		return test_mock_domain_replace(ucmd, cmd);
	case IOMMU_TEST_OP_MD_CHECK_MAP:
		return test_md_check_map(ucmd, cmd);
	case IOMMU_TEST_OP_MD_CHECK_REFS:
		return test_md_check_refs(ucmd, cmd);
	case IOMMU_TEST_OP_MD_CHECK_IOTLB:
		return test_md_check_iotlb(ucmd, cmd);
	case IOMMU_TEST_OP_DEV_CHECK_CACHE:
		return test_dev_check_cache(ucmd, cmd);
	case IOMMU_TEST_OP_CREATE_ACCESS:
		return iommufd_test_create_access(ucmd, cmd);
	case IOMMU_TEST_OP_ACCESS_REPLACE_IOAS:
		return iommufd_test_access_replace_ioas(ucmd, cmd);
	case IOMMU_TEST_OP_ACCESS_PAGES:
		return iommufd_test_access_pages(ucmd, cmd);
	case IOMMU_TEST_OP_DESTROY_ACCESS_PAGES:
		return iommufd_test_destroy_access_pages(ucmd, cmd);
	case IOMMU_TEST_OP_ACCESS_RW:
		return iommufd_test_access_rw(ucmd, cmd);
	case IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT:
		/* The smallest batch element: an unsigned long and a u32. */
		if (cmd->memory_limit.limit < sizeof(unsigned long) +
						      sizeof(uint32_t))
			return -EINVAL;
		atomic_store(&selftest_memory_limit, cmd->memory_limit.limit);
		return 0;
	case IOMMU_TEST_OP_TRIGGER_VEVENT:
		return test_trigger_vevent(ucmd, cmd);
	case IOMMU_TEST_OP_DIRTY:
		return iommufd_test_dirty(ucmd, cmd);	/* dirty.c */
	case IOMMU_TEST_OP_TRIGGER_IOPF:
		return iommufd_test_trigger_iopf(ucmd);	/* fault.c */
	/*
	 * Not yet: the PASID ops need PASID attachments.  Until then they
	 * answer as an unknown op does.
	 */
	case IOMMU_TEST_OP_PASID_ATTACH:
	case IOMMU_TEST_OP_PASID_REPLACE:
	case IOMMU_TEST_OP_PASID_DETACH:
	case IOMMU_TEST_OP_PASID_CHECK_HWPT:
	default:
		return -EOPNOTSUPP;
	}
}
