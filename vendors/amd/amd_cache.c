/*
 * The caches the AMD vIOMMU model keeps so that invalidation commands
 * have something to act on: an IOTLB keyed by domain (and PASID with GN),
 * a device IOTLB keyed by device, and one bit per device ID for the DTE
 * and interrupt-remapping-table caches.  Nothing ever walks a table to
 * fill them: tests and benchmarks fill them with the amd_hw_*_fill calls
 * and look at what invalidation left with amd_hw_*_cached; the command
 * consumer in amd_hw.c calls in here for the page invalidations.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vendors/amd/amd_hw.h"
#include "vendors/amd/amd_hw_private.h"

/* ------------------------------------------------------- modelled caches */

static bool overlaps(uint64_t iova, uint64_t pages, uint64_t first,
		     uint64_t last)
{
	uint64_t s = iova >> 12, e = s + (pages ? pages - 1 : 0);

	return s <= last && e >= first;
}

void amd_cache_inv_iommu_pages(struct amd_hw *hw, const struct amd_cmd *c)
{
	uint64_t first, last;

	/* An empty IOTLB is told by one load. */
	if (!hw->ntlb)
		return;
	amd_inv_range(c->inv_pages.addr, c->inv_pages.s, &first, &last);
	for (unsigned int i = 0; i < hw->ntlb;) {
		const struct amd_tlb_entry *t = &hw->tlb[i];

		if (t->domid == c->inv_pages.domid && t->gn == c->inv_pages.gn &&
		    (!t->gn || t->pasid == c->inv_pages.pasid) &&
		    (!t->pde || c->inv_pages.pde) &&
		    overlaps(t->iova, t->pages, first, last)) {
			hw->tlb[i] = hw->tlb[--hw->ntlb];
			hw->st.iotlb_inval++;
			continue;
		}
		i++;
	}
}

void amd_cache_inv_iotlb_pages(struct amd_hw *hw, const struct amd_cmd *c)
{
	uint64_t first, last;

	if (!hw->ndtlb)
		return;
	amd_inv_range(c->inv_iotlb.addr, c->inv_iotlb.s, &first, &last);
	for (unsigned int i = 0; i < hw->ndtlb;) {
		const struct amd_dev_tlb_entry *t = &hw->dtlb[i];

		if (t->devid == c->inv_iotlb.devid && t->gn == c->inv_iotlb.gn &&
		    (!t->gn || t->pasid == c->inv_iotlb.pasid) &&
		    overlaps(t->iova, t->pages, first, last)) {
			hw->dtlb[i] = hw->dtlb[--hw->ndtlb];
			hw->st.dev_iotlb_inval++;
			continue;
		}
		i++;
	}
}

int amd_hw_iotlb_fill(struct amd_hw *hw, const struct amd_tlb_entry *e)
{
	int rc = -ENOSPC;

	pthread_mutex_lock(&hw->lock);
	if (hw->ntlb < AMD_TLB_SLOTS) {
		hw->tlb[hw->ntlb++] = *e;
		rc = 0;
	}
	pthread_mutex_unlock(&hw->lock);
	return rc;
}

int amd_hw_dev_iotlb_fill(struct amd_hw *hw, const struct amd_dev_tlb_entry *e)
{
	int rc = -ENOSPC;

	pthread_mutex_lock(&hw->lock);
	if (hw->ndtlb < AMD_DEV_TLB_SLOTS) {
		hw->dtlb[hw->ndtlb++] = *e;
		rc = 0;
	}
	pthread_mutex_unlock(&hw->lock);
	return rc;
}

void amd_hw_dte_cache_fill(struct amd_hw *hw, uint16_t devid)
{
	pthread_mutex_lock(&hw->lock);
	devid_set(&hw->dte_cache, devid, true);
	pthread_mutex_unlock(&hw->lock);
}

void amd_hw_irt_cache_fill(struct amd_hw *hw, uint16_t devid)
{
	pthread_mutex_lock(&hw->lock);
	devid_set(&hw->irt_cache, devid, true);
	pthread_mutex_unlock(&hw->lock);
}

bool amd_hw_iotlb_cached(struct amd_hw *hw, uint16_t domid, uint32_t pasid,
			 bool gn, uint64_t iova)
{
	bool hit = false;

	pthread_mutex_lock(&hw->lock);
	for (unsigned int i = 0; i < hw->ntlb && !hit; i++) {
		const struct amd_tlb_entry *t = &hw->tlb[i];

		hit = t->domid == domid && t->gn == gn &&
		      (!gn || t->pasid == pasid) &&
		      overlaps(t->iova, t->pages, iova >> 12, iova >> 12);
	}
	pthread_mutex_unlock(&hw->lock);
	return hit;
}

bool amd_hw_dev_iotlb_cached(struct amd_hw *hw, uint16_t devid,
			     uint32_t pasid, bool gn, uint64_t iova)
{
	bool hit = false;

	pthread_mutex_lock(&hw->lock);
	for (unsigned int i = 0; i < hw->ndtlb && !hit; i++) {
		const struct amd_dev_tlb_entry *t = &hw->dtlb[i];

		hit = t->devid == devid && t->gn == gn &&
		      (!gn || t->pasid == pasid) &&
		      overlaps(t->iova, t->pages, iova >> 12, iova >> 12);
	}
	pthread_mutex_unlock(&hw->lock);
	return hit;
}

bool amd_hw_dte_cached(struct amd_hw *hw, uint16_t devid)
{
	bool hit;

	pthread_mutex_lock(&hw->lock);
	hit = devid_test(&hw->dte_cache, devid);
	pthread_mutex_unlock(&hw->lock);
	return hit;
}

bool amd_hw_irt_cached(struct amd_hw *hw, uint16_t devid)
{
	bool hit;

	pthread_mutex_lock(&hw->lock);
	hit = devid_test(&hw->irt_cache, devid);
	pthread_mutex_unlock(&hw->lock);
	return hit;
}
