/*
 * IOMMU_TEST_CMD: the kernel selftest's back door into iommufd
 * (drivers/iommu/iommufd/selftest.c), so that the upstream selftest and our
 * own tests can drive the core through the same ops.  It creates mock
 * devices bound and attached in one step (the "stdev" selftest object that
 * owns them), checks what a mock domain maps and how often frames are pinned,
 * runs an emulated-device access behind an fd of its own, reads the mock's
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
#include "sim/lib/fault.h"
#include "sim/lib/uaccess.h"
#include "sim/mm/phys.h"
#include "sim/mm/vm.h"

extern const struct isim_iommu_ops isim_mock_iommu_ops;
extern const struct isim_iommu_ops isim_mock_iova_iommu_ops;

/* The kernel caps these so a fuzzer cannot ask for a huge bounce buffer. */
#define SELFTEST_MAX_XFER (16ull * 1024 * 1024)

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

/*
 * The frame behind the page at @va (page aligned), as GUP without a pin
 * would find it.  -EFAULT when nothing is mapped there; *have false when
 * the page is mapped but the simulator never gave it a frame, which is
 * then a page no domain can map and nobody has pinned.
 */
static int user_page_frame(struct isim_machine *m, uint64_t va,
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
	struct selftest_obj *next;	/* stdevs, under stdevs_lock */
};

/*
 * Every stdev MOCK_DOMAIN published.  The object-table tests allocate
 * bare IOMMUFD_OBJ_SELFTEST headers of their own; the destroy op must
 * tell those (nothing to undo, and nothing past the header to read) from
 * ours, and does so by pointer, never reading an object it did not make.
 */
static pthread_mutex_t stdevs_lock = PTHREAD_MUTEX_INITIALIZER;
static struct selftest_obj *stdevs;

static void stdev_link(struct selftest_obj *sobj)
{
	pthread_mutex_lock(&stdevs_lock);
	sobj->next = stdevs;
	stdevs = sobj;
	pthread_mutex_unlock(&stdevs_lock);
}

/* True, and unlinked, when @obj is a stdev of ours. */
static bool stdev_unlink(const struct iommufd_object *obj)
{
	struct selftest_obj **pp;
	bool found = false;

	pthread_mutex_lock(&stdevs_lock);
	for (pp = &stdevs; *pp; pp = &(*pp)->next)
		if (&(*pp)->obj == obj) {
			*pp = (*pp)->next;
			found = true;
			break;
		}
	pthread_mutex_unlock(&stdevs_lock);
	return found;
}

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
	stdev_link(sobj);
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
	struct isim_device *dev;

	if (!stdev_unlink(obj))
		return;
	dev = sobj->dev;
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
			rc = user_page_frame(m, looked_up, &pfn, &have);
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

		rc = user_page_frame(m, uptr, &pfn, &have);
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

/* ----------------------------------------------------- access fds */

/*
 * An emulated device's access, owned by an fd as the kernel's
 * "[iommufd_test_staccess]" file owns it: closing the fd unpins what the
 * fd pinned and destroys the access.
 *
 * The fd layer (eventq.h) wants an object to hold and still touches it
 * after the release callback returns.  The access object cannot be that
 * object (the release destroys it), so the fd holds @file, a header that
 * lives outside the table and stands for the kernel's struct file.  After
 * release the staccess is buried and freed once the fd layer has let go
 * of @file (its users count back to 0).
 */
struct selftest_access_item {
	struct selftest_access_item *next;
	uint64_t iova;
	uint64_t length;
	uint32_t id;
};

struct selftest_access {
	struct iommufd_object file;	/* held by the fd; never in a table */
	struct iommufd_access *access;	/* set once the fd is installed */
	/* Pins and unmap callbacks: all of an item's unpin happens under it. */
	pthread_mutex_t lock;
	struct selftest_access_item *items;
	uint32_t next_id;
	struct selftest_access *next_dead;
};

static pthread_mutex_t staccess_dead_lock = PTHREAD_MUTEX_INITIALIZER;
static struct selftest_access *staccess_dead;

/* Free the released staccesses the fd layer is done with. */
static void staccess_reap(void)
{
	struct selftest_access **pp, *s;

	pthread_mutex_lock(&staccess_dead_lock);
	for (pp = &staccess_dead; (s = *pp);) {
		if (refcount_read(&s->file.users)) {
			pp = &s->next_dead;
			continue;
		}
		*pp = s->next_dead;
		free(s);
	}
	pthread_mutex_unlock(&staccess_dead_lock);
}

static void staccess_bury(struct selftest_access *staccess)
{
	pthread_mutex_lock(&staccess_dead_lock);
	staccess->next_dead = staccess_dead;
	staccess_dead = staccess;
	pthread_mutex_unlock(&staccess_dead_lock);
}

/*
 * The core's unmap callback, and our own "unpin everything": drop every
 * item that overlaps [iova, iova + length - 1].  Items are whole pins, so
 * one that straddles the range goes entirely, as in the kernel.
 */
static void staccess_unmap(void *data, uint64_t iova, uint64_t length)
{
	struct selftest_access *staccess = data;
	struct selftest_access_item **pp, *item;
	uint64_t last;

	if (!length)
		return;
	if (__builtin_add_overflow(iova, length - 1, &last))
		last = UINT64_MAX;
	pthread_mutex_lock(&staccess->lock);
	for (pp = &staccess->items; (item = *pp);) {
		if (iova > item->iova + item->length - 1 || last < item->iova) {
			pp = &item->next;
			continue;
		}
		*pp = item->next;
		iommufd_access_unpin_pages(staccess->access, item->iova,
					   item->length);
		free(item);
	}
	pthread_mutex_unlock(&staccess->lock);
}

static const struct iommufd_access_ops staccess_ops_pin = {
	.needs_pin_pages = true,
	.unmap = staccess_unmap,
};

static const struct iommufd_access_ops staccess_ops = {
	.unmap = staccess_unmap,
};

/* Last close of the fd: the kernel file's ->release. */
static void staccess_release(struct iommufd_object *file)
{
	struct selftest_access *staccess =
		isim_container_of(file, struct selftest_access, file);

	if (staccess->access) {
		staccess_unmap(staccess, 0, UINT64_MAX);
		iommufd_access_destroy(staccess->access);
		staccess->access = NULL;
	}
	pthread_mutex_destroy(&staccess->lock);
	staccess_reap();
	staccess_bury(staccess);
}

/* No read or write: the kernel's file has only ->release. */
static const struct iommufd_anon_fd_ops staccess_fops = {
	.release = staccess_release,
};

/*
 * The staccess behind fd @fd of this context, with a short-term reference
 * on its access object (the kernel's fget): a close meanwhile waits in
 * the access destroy until we put it.  -EBADFD for any other fd.
 */
static struct selftest_access *staccess_get(struct iommufd_ctx *ictx,
					    uint32_t fd)
{
	struct selftest_access *staccess = NULL;
	struct iommufd_anon_fd *afd;

	pthread_mutex_lock(&ictx->anon_fds_lock);
	for (afd = ictx->anon_fds; afd; afd = afd->next) {
		if ((uint32_t)afd->efd != fd || afd->ops != &staccess_fops)
			continue;
		staccess = isim_container_of(afd->obj, struct selftest_access,
					     file);
		if (!iommufd_lock_obj(&staccess->access->obj))
			staccess = NULL;
		break;
	}
	pthread_mutex_unlock(&ictx->anon_fds_lock);
	return staccess ? staccess : ERR_PTR(-EBADFD);
}

static void staccess_put(struct iommufd_ctx *ictx,
			 struct selftest_access *staccess)
{
	iommufd_put_object(ictx, &staccess->access->obj);
}

static int test_create_access(struct iommufd_ucmd *ucmd,
			      struct iommu_test_cmd *cmd)
{
	uint32_t flags = cmd->create_access.flags;
	struct iommufd_ctx *ictx = ucmd->ictx;
	struct selftest_access *staccess;
	struct iommufd_access *access;
	struct iommufd_anon_fd *afd;
	uint32_t access_id;
	int rc;

	if (flags & ~MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES)
		return -EOPNOTSUPP;
	staccess_reap();
	staccess = isim_kzalloc(sizeof(*staccess));
	if (!staccess)
		return -ENOMEM;
	pthread_mutex_init(&staccess->lock, NULL);
	staccess->file.type = IOMMUFD_OBJ_ACCESS;	/* names it in traces */

	access = iommufd_access_create(
		ictx,
		(flags & MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES) ?
			&staccess_ops_pin : &staccess_ops,
		staccess, &access_id);
	if (IS_ERR(access)) {
		rc = (int)PTR_ERR(access);
		goto out_free;
	}
	staccess->file.id = access_id;
	afd = iommufd_anon_fd_alloc(ictx, &staccess->file, &staccess_fops);
	if (IS_ERR(afd)) {
		rc = (int)PTR_ERR(afd);
		goto out_destroy;
	}
	rc = iommufd_access_attach(access, cmd->id);
	if (rc)
		goto out_discard;
	cmd->create_access.out_access_fd = (uint32_t)afd->efd;
	rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
	if (rc)
		goto out_discard;
	staccess->access = access;
	iommufd_anon_fd_install(afd);
	return 0;

out_discard:
	/* The access goes first: its unmap callback still uses staccess. */
	iommufd_access_destroy(access);
	iommufd_anon_fd_discard(afd);	/* releases and buries staccess */
	return rc;
out_destroy:
	iommufd_access_destroy(access);
out_free:
	pthread_mutex_destroy(&staccess->lock);
	free(staccess);
	return rc;
}

static int test_access_replace_ioas(struct iommufd_ucmd *ucmd,
				    struct iommu_test_cmd *cmd)
{
	struct selftest_access *staccess;
	int rc;

	staccess = staccess_get(ucmd->ictx, cmd->id);
	if (IS_ERR(staccess))
		return (int)PTR_ERR(staccess);
	rc = iommufd_access_replace(staccess->access,
				    cmd->access_replace_ioas.ioas_id);
	staccess_put(ucmd->ictx, staccess);
	return rc;
}

/* Every pinned frame must be the frame behind the matching user page. */
static int staccess_check_pages(struct isim_machine *m, uint64_t uptr,
				const uint64_t *pfns, uint64_t npages)
{
	uint64_t ps = m->cfg.page_size;

	for (uint64_t i = 0; i < npages; i++, uptr += ps) {
		uint64_t pfn;
		bool have;
		int rc;

		rc = user_page_frame(m, uptr, &pfn, &have);
		if (rc)
			return rc;
		if (!have || pfn != pfns[i])
			return -EBADE;
	}
	return 0;
}

/*
 * MOCK_FLAGS_ACCESS_SYZ marks a syzkaller-encoded IOVA (an area number and
 * an offset).  The flag is accepted, but the encoding is not modelled: the
 * IOVA is used as given.
 */
static int test_access_pages(struct iommufd_ucmd *ucmd,
			     struct iommu_test_cmd *cmd)
{
	uint32_t flags = cmd->access_pages.flags;
	uint64_t iova = cmd->access_pages.iova;
	uint64_t length = cmd->access_pages.length;
	uint64_t uptr = cmd->access_pages.uptr;
	struct iommufd_ctx *ictx = ucmd->ictx;
	uint64_t ps = ictx->m->cfg.page_size, npages, first, end;
	struct selftest_access_item *item;
	struct selftest_access *staccess;
	uint64_t *pfns;
	int rc;

	if (length > SELFTEST_MAX_XFER)
		return -ENOMEM;
	if (flags & ~(MOCK_FLAGS_ACCESS_WRITE | MOCK_FLAGS_ACCESS_SYZ))
		return -EOPNOTSUPP;
	staccess = staccess_get(ictx, cmd->id);
	if (IS_ERR(staccess))
		return (int)PTR_ERR(staccess);
	if (!staccess->access->ops->needs_pin_pages) {
		rc = -EOPNOTSUPP;
		goto out_put;
	}

	/* Pages touched by the range; a wrapping one fails in the pin. */
	first = iova & ~(ps - 1);
	if (__builtin_add_overflow(iova, length, &end))
		end = UINT64_MAX;
	npages = (end - first + ps - 1) / ps;
	/* One spare slot: the core counts pages of the backing, which may
	 * sit at another offset than the IOVA. */
	pfns = isim_kcalloc(npages + 1, sizeof(*pfns));
	if (!pfns) {
		rc = -ENOMEM;
		goto out_put;
	}

	/*
	 * The lock spans pin to item: an unmap callback for this range must
	 * not return before the item it is owed exists and is dropped.
	 */
	pthread_mutex_lock(&staccess->lock);
	rc = iommufd_access_pin_pages(staccess->access, iova, length, pfns,
				      (flags & MOCK_FLAGS_ACCESS_WRITE) ?
					      IOMMUFD_ACCESS_RW_WRITE : 0);
	if (rc)
		goto out_unlock;
	/* A NULL uptr skips the comparison (syzkaller's use). */
	if (uptr) {
		rc = staccess_check_pages(ictx->m, uptr - (iova - first), pfns,
					  npages);
		if (rc)
			goto out_unpin;
	}
	item = isim_kzalloc(sizeof(*item));
	if (!item) {
		rc = -ENOMEM;
		goto out_unpin;
	}
	item->iova = iova;
	item->length = length;
	item->id = staccess->next_id++;
	cmd->access_pages.out_access_pages_id = item->id;
	rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
	if (rc) {
		free(item);
		goto out_unpin;
	}
	item->next = staccess->items;
	staccess->items = item;
	goto out_unlock;

out_unpin:
	iommufd_access_unpin_pages(staccess->access, iova, length);
out_unlock:
	pthread_mutex_unlock(&staccess->lock);
	free(pfns);
out_put:
	staccess_put(ictx, staccess);
	return rc;
}

static int test_destroy_access_pages(struct iommufd_ucmd *ucmd,
				     struct iommu_test_cmd *cmd)
{
	uint32_t item_id = cmd->destroy_access_pages.access_pages_id;
	struct selftest_access_item **pp, *item;
	struct selftest_access *staccess;
	int rc = -ENOENT;

	staccess = staccess_get(ucmd->ictx, cmd->id);
	if (IS_ERR(staccess))
		return (int)PTR_ERR(staccess);
	pthread_mutex_lock(&staccess->lock);
	for (pp = &staccess->items; (item = *pp); pp = &item->next) {
		if (item->id != item_id)
			continue;
		*pp = item->next;
		iommufd_access_unpin_pages(staccess->access, item->iova,
					   item->length);
		free(item);
		rc = 0;
		break;
	}
	pthread_mutex_unlock(&staccess->lock);
	staccess_put(ucmd->ictx, staccess);
	return rc;
}

/*
 * Real bytes between the caller's buffer and the memory behind the IOVAs,
 * through a bounce buffer as in the kernel.  SLOW_PATH has no separate
 * path here (every copy goes through the program's memory), and SYZ is
 * accepted as for ACCESS_PAGES; neither reaches the core.
 */
static int test_access_rw(struct iommufd_ucmd *ucmd,
			  struct iommu_test_cmd *cmd)
{
	uint32_t flags = cmd->access_rw.flags;
	uint64_t length = cmd->access_rw.length;
	void *ubuf = u64_to_user_ptr(cmd->access_rw.uptr);
	bool write = flags & MOCK_ACCESS_RW_WRITE;
	struct selftest_access *staccess;
	void *tmp;
	int rc;

	if (length > SELFTEST_MAX_XFER)
		return -ENOMEM;
	if (flags & ~(MOCK_ACCESS_RW_WRITE | MOCK_ACCESS_RW_SLOW_PATH |
		      MOCK_FLAGS_ACCESS_SYZ))
		return -EOPNOTSUPP;
	staccess = staccess_get(ucmd->ictx, cmd->id);
	if (IS_ERR(staccess))
		return (int)PTR_ERR(staccess);
	tmp = isim_kzalloc(length ? length : 1);
	if (!tmp) {
		rc = -ENOMEM;
		goto out_put;
	}
	if (write) {
		rc = isim_copy_from_user(tmp, ubuf, length);
		if (rc)
			goto out_free;
	}
	rc = iommufd_access_rw(staccess->access, cmd->access_rw.iova, tmp,
			       length, write ? IOMMUFD_ACCESS_RW_WRITE : 0);
	if (!rc && !write)
		rc = isim_copy_to_user(ubuf, tmp, length);
out_free:
	free(tmp);
out_put:
	staccess_put(ucmd->ictx, staccess);
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
		return test_create_access(ucmd, cmd);
	case IOMMU_TEST_OP_ACCESS_REPLACE_IOAS:
		return test_access_replace_ioas(ucmd, cmd);
	case IOMMU_TEST_OP_ACCESS_PAGES:
		return test_access_pages(ucmd, cmd);
	case IOMMU_TEST_OP_DESTROY_ACCESS_PAGES:
		return test_destroy_access_pages(ucmd, cmd);
	case IOMMU_TEST_OP_ACCESS_RW:
		return test_access_rw(ucmd, cmd);
	case IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT:
		/* The smallest batch element: an unsigned long and a u32. */
		if (cmd->memory_limit.limit < sizeof(unsigned long) +
						      sizeof(uint32_t))
			return -EINVAL;
		atomic_store(&selftest_memory_limit, cmd->memory_limit.limit);
		return 0;
	case IOMMU_TEST_OP_TRIGGER_VEVENT:
		return test_trigger_vevent(ucmd, cmd);
	/*
	 * Not yet: DIRTY needs IOMMU_HWPT_SET_DIRTY_TRACKING in the core,
	 * TRIGGER_IOPF needs fault queues (IOMMU_FAULT_QUEUE_ALLOC), and the
	 * PASID ops need PASID attachments.  Until then they answer as an
	 * unknown op does.
	 */
	case IOMMU_TEST_OP_DIRTY:
	case IOMMU_TEST_OP_TRIGGER_IOPF:
	case IOMMU_TEST_OP_PASID_ATTACH:
	case IOMMU_TEST_OP_PASID_REPLACE:
	case IOMMU_TEST_OP_PASID_DETACH:
	case IOMMU_TEST_OP_PASID_CHECK_HWPT:
	default:
		return -EOPNOTSUPP;
	}
}
