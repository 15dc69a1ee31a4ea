/*
 * The CMDQV model's IOTLB and ATC (see cmdqv_cache.h): small fully
 * associative arrays of 4 KiB translations, filled round-robin by the
 * tests' inserts and emptied by the invalidations the consumer executes.
 * An invalidation walks the whole array, so each array also keeps a count
 * of its valid entries and an invalidation of an empty one returns before
 * taking the lock: a guest streaming TLBIs at a cold cache (the benchmark,
 * the stress tests) then costs one load per command instead of a walk.
 * The count is written under the lock with release stores and read with
 * acquire, so an insert that happened before the guest published the TLBI
 * is always seen by the consumer that fetched it.  The counts sit at the
 * front of the cache (struct cmdqv_cache_occupancy, cmdqv_cache.h) so the
 * consumer's loop checks the IOTLB's with an inline load and calls in
 * here only when there is something to invalidate.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "sim/lib/fault.h"
#include "vendors/nvidia/cmdqv_cache.h"

#define MAX_TIMEOUT_SIDS 8

struct tlb_entry {
	uint64_t page;
	uint16_t vmid, asid;
	bool valid;
};

struct atc_entry {
	uint64_t page;
	uint32_t sid, ssid;
	bool valid;
};

struct cmdqv_cache {
	/* First, for cmdqv_cache_tlb_empty(); written under the lock, also
	 * read locklessly with acquire. */
	struct cmdqv_cache_occupancy occ;
	pthread_mutex_t lock;		/* everything below, and occ's writes */
	struct tlb_entry *tlb;
	struct atc_entry *atc;
	unsigned tlb_size, atc_size;
	unsigned tlb_next, atc_next;	/* round-robin victims */
	uint32_t timeout_sids[MAX_TIMEOUT_SIDS];
};

/* cmdqv_cache_tlb_empty() reads the occupancy through the cache pointer. */
_Static_assert(offsetof(struct cmdqv_cache, occ) == 0,
	       "the occupancy must lead struct cmdqv_cache");

static uint64_t page_of(uint64_t addr)
{
	return addr >> 12;
}

static unsigned peek(const unsigned *count)
{
	return __atomic_load_n(count, __ATOMIC_ACQUIRE);
}

static void set_count(unsigned *count, unsigned v)
{
	__atomic_store_n(count, v, __ATOMIC_RELEASE);
}

int cmdqv_cache_new(unsigned iotlb_entries, unsigned atc_entries,
		    struct cmdqv_cache **out)
{
	struct cmdqv_cache *c = isim_kzalloc(sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->tlb = isim_kcalloc(iotlb_entries, sizeof(*c->tlb));
	c->atc = isim_kcalloc(atc_entries, sizeof(*c->atc));
	if (!c->tlb || !c->atc) {
		free(c->atc);
		free(c->tlb);
		free(c);
		return -ENOMEM;
	}
	c->tlb_size = iotlb_entries;
	c->atc_size = atc_entries;
	pthread_mutex_init(&c->lock, NULL);
	*out = c;
	return 0;
}

void cmdqv_cache_free(struct cmdqv_cache *c)
{
	if (!c)
		return;
	pthread_mutex_destroy(&c->lock);
	free(c->atc);
	free(c->tlb);
	free(c);
}

/* The 4 KiB pages [lo, hi) a TLBI by address covers. */
static void tlbi_span(const struct isim_smmu_cmd *cmd, uint64_t *lo,
		      uint64_t *hi)
{
	unsigned gshift;

	if (!cmd->tg) {
		*lo = page_of(cmd->addr);
		*hi = *lo + 1;
		return;
	}
	gshift = 12 + 2 * (cmd->tg - 1);	/* TG 1/2/3: 4K/16K/64K */
	*lo = page_of(cmd->addr >> gshift << gshift);
	*hi = *lo + (((uint64_t)cmd->num + 1) << cmd->scale << (gshift - 12));
}

void cmdqv_cache_tlbi(struct cmdqv_cache *c, const struct isim_smmu_cmd *cmd)
{
	bool by_vmid = true, by_asid = false, by_va = false;
	uint64_t lo = 0, hi = 0;
	unsigned left;

	switch (cmd->op) {
	case ISIM_SMMU_OP_TLBI_NH_ALL:
	case ISIM_SMMU_OP_TLBI_S12_VMALL:
		break;
	case ISIM_SMMU_OP_TLBI_NH_ASID:
		by_asid = true;
		break;
	case ISIM_SMMU_OP_TLBI_NH_VA:
		by_asid = by_va = true;
		break;
	case ISIM_SMMU_OP_TLBI_NH_VAA:
		by_va = true;
		break;
	case ISIM_SMMU_OP_TLBI_NSNH_ALL:
		by_vmid = false;
		break;
	default:
		/* EL2/EL3/S2 and configuration caches are not modelled. */
		return;
	}
	if (!peek(&c->occ.tlb_valid))
		return;
	if (by_va)
		tlbi_span(cmd, &lo, &hi);
	pthread_mutex_lock(&c->lock);
	left = c->occ.tlb_valid;
	for (unsigned i = 0; i < c->tlb_size && left; i++) {
		struct tlb_entry *e = &c->tlb[i];

		if (!e->valid)
			continue;
		left--;
		if ((by_vmid && e->vmid != cmd->vmid) ||
		    (by_asid && e->asid != cmd->asid) ||
		    (by_va && (e->page < lo || e->page >= hi)))
			continue;
		e->valid = false;
		set_count(&c->occ.tlb_valid, c->occ.tlb_valid - 1);
	}
	pthread_mutex_unlock(&c->lock);
}

bool cmdqv_cache_atc_inv(struct cmdqv_cache *c, const struct isim_smmu_cmd *cmd)
{
	uint64_t lo = 0, hi = UINT64_MAX;
	bool timeout = false;
	unsigned left;

	if (!peek(&c->occ.atc_valid) && !peek(&c->occ.nr_timeout_sids))
		return false;
	if (cmd->size < ISIM_SMMU_ATC_SIZE_ALL) {
		uint64_t span = (uint64_t)1 << cmd->size;

		lo = page_of(cmd->addr) & ~(span - 1);
		hi = lo + span;
	}
	pthread_mutex_lock(&c->lock);
	for (unsigned i = 0; i < c->occ.nr_timeout_sids; i++)
		timeout |= c->timeout_sids[i] == cmd->sid;
	/* A device that does not answer keeps its translations. */
	left = timeout ? 0 : c->occ.atc_valid;
	for (unsigned i = 0; i < c->atc_size && left; i++) {
		struct atc_entry *e = &c->atc[i];

		if (!e->valid)
			continue;
		left--;
		if (e->sid != cmd->sid || (cmd->ssv && e->ssid != cmd->ssid) ||
		    e->page < lo || e->page >= hi)
			continue;
		e->valid = false;
		set_count(&c->occ.atc_valid, c->occ.atc_valid - 1);
	}
	pthread_mutex_unlock(&c->lock);
	return timeout;
}

/* ------------------------------------------------ the public calls */

void isim_cmdqv_iotlb_insert(struct isim_cmdqv *hw, uint16_t vmid,
			     uint16_t asid, uint64_t va)
{
	struct cmdqv_cache *c = cmdqv_cache_of(hw);
	struct tlb_entry *e;

	pthread_mutex_lock(&c->lock);
	e = &c->tlb[c->tlb_next];
	if (!e->valid)
		set_count(&c->occ.tlb_valid, c->occ.tlb_valid + 1);
	*e = (struct tlb_entry) {
		.page = page_of(va), .vmid = vmid, .asid = asid, .valid = true,
	};
	c->tlb_next = (c->tlb_next + 1) % c->tlb_size;
	pthread_mutex_unlock(&c->lock);
}

bool isim_cmdqv_iotlb_has(struct isim_cmdqv *hw, uint16_t vmid, uint16_t asid,
			  uint64_t va)
{
	struct cmdqv_cache *c = cmdqv_cache_of(hw);
	bool found = false;

	pthread_mutex_lock(&c->lock);
	for (unsigned i = 0; i < c->tlb_size && !found; i++)
		found = c->tlb[i].valid && c->tlb[i].vmid == vmid &&
			c->tlb[i].asid == asid &&
			c->tlb[i].page == page_of(va);
	pthread_mutex_unlock(&c->lock);
	return found;
}

unsigned isim_cmdqv_iotlb_count(struct isim_cmdqv *hw)
{
	return peek(&cmdqv_cache_of(hw)->occ.tlb_valid);
}

void isim_cmdqv_atc_insert(struct isim_cmdqv *hw, uint32_t sid, uint32_t ssid,
			   uint64_t addr)
{
	struct cmdqv_cache *c = cmdqv_cache_of(hw);
	struct atc_entry *e;

	pthread_mutex_lock(&c->lock);
	e = &c->atc[c->atc_next];
	if (!e->valid)
		set_count(&c->occ.atc_valid, c->occ.atc_valid + 1);
	*e = (struct atc_entry) {
		.page = page_of(addr), .sid = sid, .ssid = ssid, .valid = true,
	};
	c->atc_next = (c->atc_next + 1) % c->atc_size;
	pthread_mutex_unlock(&c->lock);
}

bool isim_cmdqv_atc_has(struct isim_cmdqv *hw, uint32_t sid, uint32_t ssid,
			uint64_t addr)
{
	struct cmdqv_cache *c = cmdqv_cache_of(hw);
	bool found = false;

	pthread_mutex_lock(&c->lock);
	for (unsigned i = 0; i < c->atc_size && !found; i++)
		found = c->atc[i].valid && c->atc[i].sid == sid &&
			c->atc[i].ssid == ssid &&
			c->atc[i].page == page_of(addr);
	pthread_mutex_unlock(&c->lock);
	return found;
}

unsigned isim_cmdqv_atc_count(struct isim_cmdqv *hw)
{
	return peek(&cmdqv_cache_of(hw)->occ.atc_valid);
}

int isim_cmdqv_atc_set_timeout(struct isim_cmdqv *hw, uint32_t sid, bool on)
{
	struct cmdqv_cache *c = cmdqv_cache_of(hw);
	unsigned i, n;
	int rc = 0;

	pthread_mutex_lock(&c->lock);
	n = c->occ.nr_timeout_sids;
	for (i = 0; i < n; i++)
		if (c->timeout_sids[i] == sid)
			break;
	if (on && i == n) {
		if (n == MAX_TIMEOUT_SIDS)
			rc = -ENOSPC;
		else {
			c->timeout_sids[n] = sid;
			set_count(&c->occ.nr_timeout_sids, n + 1);
		}
	} else if (!on && i < n) {
		c->timeout_sids[i] = c->timeout_sids[n - 1];
		set_count(&c->occ.nr_timeout_sids, n - 1);
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}
