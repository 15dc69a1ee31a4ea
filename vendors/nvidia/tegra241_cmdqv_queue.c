/*
 * The HW queues of the "tegra241-cmdqv" driver: a guest VCMDQ allocated
 * with IOMMU_HW_QUEUE_ALLOC (the physically addressed variant: the core
 * pins the queue and checks contiguity) becomes an LVCMDQ of the vIOMMU's
 * VINTF.  Init applies the kernel driver's checks D1-D8 in its order, maps
 * the LVCMDQ and programs BASE with the host PA, and tells the model where
 * the pinned queue's bytes live so it can read them in place; destroy,
 * which the core calls in descending order, deinits and unmaps it (which
 * also takes that view away) before the core unpins.  tegra241_cmdqv.c
 * names these ops in its vIOMMU ops.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/iommufd.h>

#include "sim/iommufd/iommufd_private.h"
#include "sim/machine.h"
#include "sim/mm/phys.h"
#include "vendors/nvidia/cmdqv_hw.h"
#include "vendors/nvidia/tegra241_cmdqv_private.h"

#define CMDQ_ENT_SZ_SHIFT	4u	/* log2 of a 16-byte entry */

size_t tegra241_cmdqv_get_hw_queue_size(struct iommufd_viommu *viommu,
					unsigned type)
{
	return type == IOMMU_HW_QUEUE_TYPE_TEGRA241_CMDQV ?
		       sizeof(struct cmdqv_vcmdq) : 0;
}

/*
 * tegra241_vintf_destroy_lvcmdq_user(): the core calls it only once no
 * higher queue depends on this one, so the unmap is descending as the
 * hardware requires.  The deinit disables the queue at a command boundary
 * (the model's VINTF lock waits out a step in flight), flushes a pending
 * ATC timeout, zeroes PROD, CONS and BASE and acknowledges any error; only
 * then may the core unpin the memory the consumer was reading.
 */
static void cmdqv_hw_queue_destroy(struct iommufd_hw_queue *hw_queue)
{
	struct cmdqv_vcmdq *q = to_vcmdq(hw_queue);
	struct cmdqv_vintf *vi = q->vintf;

	pthread_mutex_lock(&vi->lvcmdq_mutex);
	isim_cmdqv_lvcmdq_deinit(vi->v, q->lidx);
	isim_cmdqv_lvcmdq_unmap(vi->v, q->lidx);
	vi->lvcmdqs[q->lidx] = NULL;
	if (q->prev)
		iommufd_hw_queue_undepend(hw_queue, &q->prev->core);
	pthread_mutex_unlock(&vi->lvcmdq_mutex);
	isim_trace(&vi->vsmmu.inst->m->trace, "cmdqv.hw_queue_destroy",
		   "viommu=%u lidx=%u vcmdq=%u", vi->vsmmu.core.obj.id, q->lidx,
		   q->idx);
}

/*
 * Where the queue's bytes live in the simulator, if the model may read
 * them directly: every frame of [pa, pa + len) allocated, backed by the
 * simulator's own memory (a plain load cannot fault) and laid out
 * contiguously there too.  The core pinned these frames for the queue's
 * whole life, and a pinned frame keeps its host bytes even if its owner
 * frees the region, so what is checked here stays true until destroy.
 * NULL when it does not hold: the model then fetches every entry through
 * the machine's physical-memory calls, as before.
 */
static const void *ring_host_view(struct isim_machine *m, uint64_t pa,
				  uint64_t len)
{
	struct isim_phys *phys = m->phys;
	unsigned shift = isim_phys_page_shift(phys);
	uint64_t first = pa >> shift, last = (pa + len - 1) >> shift;
	const char *host0 = NULL;

	for (uint64_t pfn = first; pfn <= last; pfn++) {
		struct isim_frame_info fi;

		if (isim_phys_frame(phys, pfn, &fi) ||
		    fi.state != ISIM_FRAME_ALLOCATED || !fi.host ||
		    !(fi.host_flags & ISIM_HOST_DIRECT))
			return NULL;
		if (pfn == first)
			host0 = fi.host;
		else if ((const char *)fi.host !=
			 host0 + ((pfn - first) << shift))
			return NULL;
	}
	return host0 + (pa & (((uint64_t)1 << shift) - 1));
}

static bool is_pow2_u64(uint64_t v)
{
	return v && !(v & (v - 1));
}

/*
 * tegra241_vintf_alloc_lvcmdq_user(), checks D1-D8 of the notes' §4.2 in
 * the kernel's order: type, index, taken, ascending order, length,
 * PA bits, PA alignment, dependency.  Then CMDQ_ALLOC(q).ALLOCATED and
 * BASE = PA | LOG2SIZE; CONFIG stays 0, the guest enables the queue.
 */
int tegra241_cmdqv_hw_queue_init_phys(struct iommufd_hw_queue *hw_queue,
				      uint32_t lidx, uint64_t base_pa)
{
	struct cmdqv_vintf *vi = to_vintf(hw_queue->viommu);
	struct cmdqv_vcmdq *q = to_vcmdq(hw_queue);
	struct cmdqv_inst *inst = vi->vsmmu.inst;
	unsigned cmdqs = isim_cmdqv_get_config(inst->hw)->cmdqs;
	uint64_t len = hw_queue->length;
	struct cmdqv_vcmdq *prev = NULL;
	unsigned log2size;
	int rc;

	if (hw_queue->type != IOMMU_HW_QUEUE_TYPE_TEGRA241_CMDQV)
		return -EOPNOTSUPP;				/* D1 */
	if (lidx >= inst->per_vintf)
		return -EINVAL;					/* D2 */

	pthread_mutex_lock(&vi->lvcmdq_mutex);
	if (vi->lvcmdqs[lidx]) {
		rc = -EEXIST;					/* D3 */
		goto unlock;
	}
	/* The hardware maps LVCMDQs in ascending order only. */
	if (lidx) {
		prev = vi->lvcmdqs[lidx - 1];
		if (!prev) {
			rc = -EIO;				/* D4 */
			goto unlock;
		}
	}
	/* A power of two in [32, 2^(IDR1.CMDQS + 4)] bytes. */
	if (!is_pow2_u64(len) || len < 32 ||
	    len > 1ull << (cmdqs + CMDQ_ENT_SZ_SHIFT)) {
		rc = -EINVAL;					/* D5 */
		goto unlock;
	}
	log2size = ilog2u((unsigned)len) - CMDQ_ENT_SZ_SHIFT;
	/* BASE holds PA[47:5]; the queue must be naturally aligned in the
	 * host, whatever the guest address looked like. */
	if ((base_pa & ~ISIM_VCMDQ_BASE_ADDR_MASK) ||		/* D6 */
	    (base_pa & (len - 1))) {				/* D7 */
		rc = -EINVAL;
		goto unlock;
	}
	/* Unmapping must go descending: the core refuses to destroy a queue
	 * another one depends on. */
	if (prev) {
		rc = iommufd_hw_queue_depend(hw_queue, &prev->core);	/* D8 */
		if (rc)
			goto unlock;
	}
	q->prev = prev;
	q->vintf = vi;
	q->lidx = (uint16_t)lidx;
	q->idx = (uint16_t)isim_cmdqv_vcmdq_index(vi->v, lidx);
	vi->lvcmdqs[lidx] = q;

	rc = isim_cmdqv_lvcmdq_map(vi->v, lidx);
	if (!rc)
		rc = isim_cmdqv_lvcmdq_set_base(vi->v, lidx, base_pa, log2size);
	if (!rc) {
		const void *host = ring_host_view(inst->m, base_pa, len);

		/* Only a shortcut: without it the model reads by PA.  The
		 * deinit in destroy withdraws it before the core unpins. */
		if (host)
			(void)isim_cmdqv_lvcmdq_set_ring_view(vi->v, lidx, base_pa,
							      host, len);
	}
	if (rc) {
		/* A queue left enabled on an unmapped slot refuses BASE. */
		isim_cmdqv_lvcmdq_unmap(vi->v, lidx);
		vi->lvcmdqs[lidx] = NULL;
		if (prev)
			iommufd_hw_queue_undepend(hw_queue, &prev->core);
		goto unlock;
	}
	hw_queue->destroy = cmdqv_hw_queue_destroy;
	isim_trace(&inst->m->trace, "cmdqv.hw_queue",
		   "viommu=%u lidx=%u vcmdq=%u base_pa=%#llx log2size=%u",
		   vi->vsmmu.core.obj.id, lidx, q->idx, (unsigned long long)base_pa,
		   log2size);
unlock:
	pthread_mutex_unlock(&vi->lvcmdq_mutex);
	return rc;
}
