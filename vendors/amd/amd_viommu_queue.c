/*
 * The HW queues of the "amd-viommu" driver: the guest's command buffer,
 * event log and PPR log, allocated on an AMD vIOMMU with HW_QUEUE_ALLOC
 * (the IOVA variant: nothing pinned) and programmed into the model's
 * VFCTRL slot for the ring, by guest physical address and size.  The
 * latest ALLOC of a ring owns it; DESTROY of the owner stops the ring and
 * clears the slot.  amd_viommu.c names these two ops in its vIOMMU ops.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/iommufd.h>

#include "sim/iommufd/iommufd_private.h"
#include "vendors/amd/amd_hw.h"
#include "vendors/amd/amd_viommu_private.h"

struct amd_hw_queue {
	struct iommufd_hw_queue core;
	enum amd_ring ring;
};

size_t amd_viommu_get_hw_queue_size(struct iommufd_viommu *viommu,
				    unsigned type)
{
	/* Event log B and PPR log B are not supported, as in the series. */
	switch (type) {
	case IOMMU_HW_QUEUE_TYPE_AMD_CMD:
	case IOMMU_HW_QUEUE_TYPE_AMD_EVT:
	case IOMMU_HW_QUEUE_TYPE_AMD_PPR:
		return sizeof(struct amd_hw_queue);
	default:
		return 0;
	}
}

/*
 * Model choice (§5.5): DESTROY stops the ring and clears its VFCTRL slot,
 * where the prototype leaves it programmed; but only if no later ALLOC of
 * the same ring replaced this queue's programming.
 */
static void amd_hw_queue_destroy(struct iommufd_hw_queue *hw_queue)
{
	struct amd_viommu *av = to_av(hw_queue->viommu);
	struct amd_hw_queue *q = (struct amd_hw_queue *)hw_queue;

	pthread_mutex_lock(&av->queue_lock);
	if (av->owner[q->ring] == q) {
		amd_hw_ring_disable(av->hw, q->ring);
		av->owner[q->ring] = NULL;
	}
	pthread_mutex_unlock(&av->queue_lock);
}

/*
 * The IOVA variant: nothing pinned, the ring's GPA and size go into the
 * VFCTRL slot.  Beyond the prototype (§5.5): index 0 only (EOPNOTSUPP),
 * and the model refuses a size or base its settings reject (EINVAL) and a
 * reprogramming while the ring runs (EBUSY).
 */
int amd_viommu_hw_queue_init(struct iommufd_hw_queue *hw_queue,
			     uint32_t index)
{
	struct amd_viommu *av = to_av(hw_queue->viommu);
	struct amd_hw_queue *q = (struct amd_hw_queue *)hw_queue;
	enum amd_ring ring;
	int rc;

	switch (hw_queue->type) {
	case IOMMU_HW_QUEUE_TYPE_AMD_CMD:
		ring = AMD_RING_CMD;
		break;
	case IOMMU_HW_QUEUE_TYPE_AMD_EVT:
		ring = AMD_RING_EVT;
		break;
	case IOMMU_HW_QUEUE_TYPE_AMD_PPR:
		ring = AMD_RING_PPR;
		break;
	default:
		return -EINVAL;	/* unreachable past the size check */
	}
	if (index)
		return -EOPNOTSUPP;
	pthread_mutex_lock(&av->queue_lock);
	rc = amd_hw_ring_program(av->hw, ring, hw_queue->base_addr,
				 hw_queue->length);
	if (!rc) {
		q->ring = ring;
		av->owner[ring] = q;
		hw_queue->destroy = amd_hw_queue_destroy;
	}
	pthread_mutex_unlock(&av->queue_lock);
	isim_trace(&hw_queue->viommu->ictx->m->trace, "amd.hw_queue",
		   "gid=%u ring=%d gpa=%#llx length=%#llx rc=%d", av->gid,
		   (int)ring, (unsigned long long)hw_queue->base_addr,
		   (unsigned long long)hw_queue->length, rc);
	return rc;
}
