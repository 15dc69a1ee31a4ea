/*
 * The kernel selftest's mock IOMMU (drivers/iommu/iommufd/selftest.c),
 * as a simulated driver: a mock paging domain (2 KiB pages inside the
 * mock aperture), a vIOMMU of type IOMMU_VIOMMU_TYPE_SELFTEST with an
 * optional two-page mmap region, nested domains with four IOTLB slots
 * (on a vIOMMU or straight on a nesting-parent HWPT, invalidated through
 * IOMMU_HWPT_INVALIDATE of the nested HWPT either way), cache
 * invalidation of the devices' four cache slots, and HW queues
 * (index 0 and 1, queue 1 depending on queue 0).  "mock-iova" is the same
 * IOMMU with HW queues initialised through the IOVA variant instead, so
 * both core paths run without vendor models.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/iommufd.h>
#include <iommufd_test.h>

#include "sim/iommufd/domain.h"
#include "sim/iommufd/iommufd_private.h"
#include "sim/lib/fault.h"
#include "sim/lib/uaccess.h"

struct mock_viommu {
	struct iommufd_viommu core;
	pthread_mutex_t queue_mutex;
	struct mock_hw_queue *hw_queue[IOMMU_TEST_HW_QUEUE_MAX];
	uint64_t mmap_offset;
	void *page;	/* the two-page mmap region, if any */
};

struct mock_hw_queue {
	struct iommufd_hw_queue core;
	struct mock_viommu *mock_viommu;
	struct mock_hw_queue *prev;
	uint16_t index;
};

struct mock_nested {
	uint32_t iotlb[MOCK_NESTED_DOMAIN_IOTLB_NUM];
};

static uint64_t mock_io_page_size(const struct isim_device *dev)
{
	return dev->m->cfg.page_size / 2;
}

static int mock_hw_info(struct isim_device *dev, unsigned in_type, void *data,
			size_t *len, unsigned *out_type, uint64_t *caps,
			uint8_t *max_pasid_log2)
{
	struct iommu_test_hw_info info = {
		.test_reg = IOMMU_HW_INFO_SELFTEST_REGVAL,
	};

	if (in_type != IOMMU_HW_INFO_TYPE_DEFAULT &&
	    in_type != IOMMU_HW_INFO_TYPE_SELFTEST)
		return -EOPNOTSUPP;
	memcpy(data, &info, sizeof(info));
	*len = sizeof(info);
	*out_type = IOMMU_HW_INFO_TYPE_SELFTEST;
	*caps = (dev->flags & ISIM_DEV_NO_DIRTY) ? 0 :
						   IOMMU_HW_CAP_DIRTY_TRACKING;
	*max_pasid_log2 = (dev->flags & ISIM_DEV_PASID) ? MOCK_PASID_WIDTH : 0;
	return 0;
}

static int mock_paging_geometry(struct isim_device *dev, uint32_t flags,
				uint64_t *pgsize_bitmap, uint64_t *start,
				uint64_t *last)
{

	*pgsize_bitmap = mock_io_page_size(dev);
	/* The huge format adds leaves of 512 I/O pages (1 MiB for 4K pages). */
	if (dev->flags & ISIM_DEV_HUGE_IOVA)
		*pgsize_bitmap |= mock_io_page_size(dev) << 9;
	*start = MOCK_APERTURE_START;
	*last = MOCK_APERTURE_LAST;
	return 0;
}

static size_t mock_get_viommu_size(struct isim_device *dev, unsigned type)
{
	return type == IOMMU_VIOMMU_TYPE_SELFTEST ? sizeof(struct mock_viommu) :
						    0;
}

static void mock_viommu_destroy(struct iommufd_viommu *viommu)
{
	struct mock_viommu *mv = (struct mock_viommu *)viommu;

	if (mv->page) {
		iommufd_viommu_destroy_mmap(viommu, mv->mmap_offset);
		free(mv->page);
	}
	pthread_mutex_destroy(&mv->queue_mutex);
}

/* __mock_domain_alloc_nested(): every IOTLB slot starts at the user's value. */
static int mock_nested_new(const struct iommu_user_data *data, void **out)
{
	struct iommu_hwpt_selftest arg;
	struct mock_nested *nested;
	int rc;

	if (data->type != IOMMU_HWPT_DATA_SELFTEST)
		return -EOPNOTSUPP;
	rc = iommu_copy_struct_from_user(data, &arg, IOMMU_HWPT_DATA_SELFTEST,
					 sizeof(arg), sizeof(arg.iotlb));
	if (rc)
		return rc;
	nested = isim_kzalloc(sizeof(*nested));
	if (!nested)
		return -ENOMEM;
	for (int i = 0; i < MOCK_NESTED_DOMAIN_IOTLB_NUM; i++)
		nested->iotlb[i] = arg.iotlb;
	*out = nested;
	return 0;
}

static int mock_alloc_domain_nested(struct iommufd_viommu *viommu,
				    uint32_t flags,
				    const struct iommu_user_data *data,
				    void **out)
{
	if (flags & ~IOMMU_HWPT_ALLOC_PASID)
		return -EOPNOTSUPP;
	return mock_nested_new(data, out);
}

static void mock_free_domain_nested(struct iommufd_viommu *viommu,
				    void *nested)
{
	free(nested);
}

/*
 * A nested domain straight on a nesting parent, with no vIOMMU (the
 * mock's domain_alloc_nested); the parent must be a mock paging domain,
 * which the core has made sure of.
 */
static int mock_dev_alloc_domain_nested(struct isim_device *dev,
					struct iommufd_domain *parent,
					uint32_t flags,
					const struct iommu_user_data *data,
					void **out)
{
	if (flags & ~IOMMU_HWPT_ALLOC_PASID)
		return -EOPNOTSUPP;
	if (!parent)
		return -EINVAL;
	return mock_nested_new(data, out);
}

static void mock_dev_free_domain_nested(void *nested)
{
	free(nested);
}

/*
 * IOMMU_HWPT_INVALIDATE of a mock nested domain: entries of struct
 * iommu_hwpt_invalidate_selftest, each one copied with the rules of
 * iommu_copy_struct_from_user_array() (an entry shorter than iotlb_id's
 * end or longer than the struct is EINVAL), then checked: unknown flags
 * EOPNOTSUPP, an IOTLB slot past 3 EINVAL.  Handled entries are counted
 * up to the first bad one.
 */
static int mock_cache_invalidate_user(void *nested,
				      struct iommu_user_data_array *array)
{
	struct mock_nested *mn = nested;
	struct iommu_hwpt_invalidate_selftest inv;
	uint32_t processed = 0;
	int rc = 0;

	if (array->type != IOMMU_HWPT_INVALIDATE_DATA_SELFTEST) {
		rc = -EINVAL;
		goto out;
	}
	for (uint32_t i = 0; i < array->entry_num; i++) {
		/* iotlb_id, the last member, ends the struct: exact size. */
		if (array->entry_len != sizeof(inv)) {
			rc = -EINVAL;
			break;
		}
		rc = isim_copy_struct_from_user(&inv, sizeof(inv),
						(char *)array->uptr +
							(size_t)i *
								array->entry_len,
						array->entry_len);
		if (rc)
			break;
		if (inv.flags & ~IOMMU_TEST_INVALIDATE_FLAG_ALL) {
			rc = -EOPNOTSUPP;
			break;
		}
		if (inv.iotlb_id > MOCK_NESTED_DOMAIN_IOTLB_ID_MAX) {
			rc = -EINVAL;
			break;
		}
		if (inv.flags & IOMMU_TEST_INVALIDATE_FLAG_ALL)
			memset(mn->iotlb, 0, sizeof(mn->iotlb));
		else
			mn->iotlb[inv.iotlb_id] = 0;
		processed++;
	}
out:
	array->entry_num = processed;
	return rc;
}

static int mock_cache_invalidate(struct iommufd_viommu *viommu,
				 struct iommu_user_data_array *array)
{
	struct iommu_viommu_invalidate_selftest inv;
	uint32_t i = 0;
	int rc = 0;

	if (array->type != IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST) {
		rc = -EINVAL;
		goto out;
	}
	for (; i < array->entry_num; i++) {
		struct isim_device *dev;

		if (array->entry_len != sizeof(inv)) {
			rc = -EINVAL;
			break;
		}
		rc = isim_copy_from_user(&inv,
					 (char *)array->uptr +
						 (size_t)i * array->entry_len,
					 sizeof(inv));
		if (rc)
			break;
		if (inv.flags & ~IOMMU_TEST_INVALIDATE_FLAG_ALL) {
			rc = -EOPNOTSUPP;
			break;
		}
		if (inv.cache_id > MOCK_DEV_CACHE_ID_MAX) {
			rc = -EINVAL;
			break;
		}
		dev = iommufd_viommu_find_dev(viommu, inv.vdev_id);
		if (!dev) {
			rc = -EINVAL;
			break;
		}
		if (inv.flags & IOMMU_TEST_INVALIDATE_FLAG_ALL)
			memset(dev->cache, 0, sizeof(dev->cache));
		else
			dev->cache[inv.cache_id] = 0;
	}
out:
	/* Entries handled before the first bad one. */
	array->entry_num = i;
	return rc;
}

static size_t mock_get_hw_queue_size(struct iommufd_viommu *viommu,
				     unsigned type)
{
	return type == IOMMU_HW_QUEUE_TYPE_SELFTEST ?
		       sizeof(struct mock_hw_queue) : 0;
}

static void mock_hw_queue_destroy(struct iommufd_hw_queue *hw_queue)
{
	struct mock_hw_queue *q = (struct mock_hw_queue *)hw_queue;
	struct mock_viommu *mv = q->mock_viommu;

	pthread_mutex_lock(&mv->queue_mutex);
	mv->hw_queue[q->index] = NULL;
	if (q->prev)
		iommufd_hw_queue_undepend(hw_queue, &q->prev->core);
	pthread_mutex_unlock(&mv->queue_mutex);
}

/*
 * Index rules of the mock, in its order: a bad index, a taken slot, a
 * missing predecessor.  @base_pa_check: the phys variant also compares
 * the PA the core computed with its own translation of the queue's IOVA.
 */
static int mock_hw_queue_setup(struct iommufd_hw_queue *hw_queue,
			       uint32_t index, bool base_pa_check,
			       uint64_t base_pa)
{
	struct mock_viommu *mv = (struct mock_viommu *)hw_queue->viommu;
	struct mock_hw_queue *q = (struct mock_hw_queue *)hw_queue;
	struct isim_machine *m = hw_queue->viommu->ictx->m;
	struct mock_hw_queue *prev = NULL;
	int rc = 0;

	if (index >= IOMMU_TEST_HW_QUEUE_MAX)
		return -EINVAL;
	pthread_mutex_lock(&mv->queue_mutex);
	if (mv->hw_queue[index]) {
		rc = -EEXIST;
		goto out_unlock;
	}
	if (index) {
		prev = mv->hw_queue[index - 1];
		if (!prev) {
			rc = -EIO;
			goto out_unlock;
		}
	}
	if (base_pa_check) {
		/* The mock domain resolves whole 2 KiB mock pages. */
		uint64_t io_page = m->cfg.page_size / 2, pa;

		rc = iommufd_viommu_translate(hw_queue->viommu,
					      hw_queue->base_addr &
						      ~(io_page - 1),
					      &pa);
		if (rc || pa != base_pa) {
			ISIM_WARN_ON(m, hw_queue->base_addr % io_page == 0);
			rc = -EFAULT;
			goto out_unlock;
		}
	}
	if (prev) {
		rc = iommufd_hw_queue_depend(hw_queue, &prev->core);
		if (rc)
			goto out_unlock;
	}
	q->prev = prev;
	q->mock_viommu = mv;
	/* Upstream never stores the index, so destroy always clears 0. */
	q->index = m->cfg.mock_index_quirk ? 0 : (uint16_t)index;
	mv->hw_queue[index] = q;
	hw_queue->destroy = mock_hw_queue_destroy;
out_unlock:
	pthread_mutex_unlock(&mv->queue_mutex);
	return rc;
}

static int mock_hw_queue_init_phys(struct iommufd_hw_queue *hw_queue,
				   uint32_t index, uint64_t base_pa)
{
	return mock_hw_queue_setup(hw_queue, index, true, base_pa);
}

static int mock_hw_queue_init_iova(struct iommufd_hw_queue *hw_queue,
				   uint32_t index)
{
	return mock_hw_queue_setup(hw_queue, index, false, 0);
}

static const struct iommufd_viommu_ops mock_viommu_ops = {
	.destroy = mock_viommu_destroy,
	.alloc_domain_nested = mock_alloc_domain_nested,
	.free_domain_nested = mock_free_domain_nested,
	.cache_invalidate = mock_cache_invalidate,
	.get_hw_queue_size = mock_get_hw_queue_size,
	.hw_queue_init_phys = mock_hw_queue_init_phys,
};

static const struct iommufd_viommu_ops mock_iova_viommu_ops = {
	.destroy = mock_viommu_destroy,
	.alloc_domain_nested = mock_alloc_domain_nested,
	.free_domain_nested = mock_free_domain_nested,
	.cache_invalidate = mock_cache_invalidate,
	.get_hw_queue_size = mock_get_hw_queue_size,
	.hw_queue_init = mock_hw_queue_init_iova,
};

static int mock_viommu_init_common(struct iommufd_viommu *viommu,
				   const struct iommu_user_data *data,
				   const struct iommufd_viommu_ops *ops)
{
	struct mock_viommu *mv = (struct mock_viommu *)viommu;
	uint64_t ps = viommu->ictx->m->cfg.page_size;
	struct iommu_viommu_selftest arg;
	int rc;

	if (data && data->len) {
		rc = iommu_copy_struct_from_user(data, &arg,
						 IOMMU_VIOMMU_TYPE_SELFTEST,
						 sizeof(arg),
						 offsetof(struct iommu_viommu_selftest,
							  out_data) +
							 sizeof(arg.out_data));
		if (rc)
			return rc;
		mv->page = isim_should_fail() ? NULL :
			   aligned_alloc(ps, 2 * ps);
		if (!mv->page)
			return -ENOMEM;
		memset(mv->page, 0, 2 * ps);
		rc = iommufd_viommu_alloc_mmap(viommu, mv->page, 2 * ps,
					       &mv->mmap_offset);
		if (rc)
			goto err_free;
		*(uint32_t *)mv->page = arg.in_data;
		arg.out_data = arg.in_data;
		arg.out_mmap_offset = mv->mmap_offset;
		arg.out_mmap_length = 2 * ps;
		rc = iommu_copy_struct_to_user(data, &arg,
					       IOMMU_VIOMMU_TYPE_SELFTEST,
					       sizeof(arg));
		if (rc)
			goto err_mmap;
	}
	pthread_mutex_init(&mv->queue_mutex, NULL);
	viommu->ops = ops;
	return 0;

err_mmap:
	iommufd_viommu_destroy_mmap(viommu, mv->mmap_offset);
err_free:
	free(mv->page);
	mv->page = NULL;
	return rc;
}

static int mock_viommu_init(struct iommufd_viommu *viommu,
			    const struct iommu_user_data *data)
{
	return mock_viommu_init_common(viommu, data, &mock_viommu_ops);
}

static int mock_iova_viommu_init(struct iommufd_viommu *viommu,
				 const struct iommu_user_data *data)
{
	return mock_viommu_init_common(viommu, data, &mock_iova_viommu_ops);
}

const struct isim_iommu_ops isim_mock_iommu_ops = {
	.name = "mock",
	.hw_info = mock_hw_info,
	.paging_geometry = mock_paging_geometry,
	.get_viommu_size = mock_get_viommu_size,
	.viommu_init = mock_viommu_init,
	.alloc_domain_nested = mock_dev_alloc_domain_nested,
	.free_domain_nested = mock_dev_free_domain_nested,
	.cache_invalidate_user = mock_cache_invalidate_user,
};

const struct isim_iommu_ops isim_mock_iova_iommu_ops = {
	.name = "mock-iova",
	.hw_info = mock_hw_info,
	.paging_geometry = mock_paging_geometry,
	.get_viommu_size = mock_get_viommu_size,
	.viommu_init = mock_iova_viommu_init,
	.alloc_domain_nested = mock_dev_alloc_domain_nested,
	.free_domain_nested = mock_dev_free_domain_nested,
	.cache_invalidate_user = mock_cache_invalidate_user,
};
