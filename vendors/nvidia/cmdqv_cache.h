/*
 * The IOTLB and ATC that a Tegra241 CMDQV model's invalidations act on,
 * private to vendors/nvidia.  The model (cmdqv_hw.c) owns one cache and
 * hands it the commands that take effect, VMID and SID already replaced;
 * the public isim_cmdqv_iotlb_* and isim_cmdqv_atc_* calls of cmdqv_hw.h,
 * with which tests fill the cache and look at what is left, are
 * implemented in cmdqv_cache.c on the cache cmdqv_cache_of() returns.
 */
#ifndef ISIM_NVIDIA_CMDQV_CACHE_H
#define ISIM_NVIDIA_CMDQV_CACHE_H

#include <stdbool.h>

#include "vendors/nvidia/cmdqv_hw.h"
#include "vendors/nvidia/smmuv3_cmd.h"

struct cmdqv_cache;

/*
 * How many valid entries each array holds, and how many SIDs are set to
 * time out: the first member of struct cmdqv_cache, so the consumer can
 * tell "this invalidation cannot find anything" with one load and no
 * call.  Written under the cache lock with release stores, read anywhere
 * with acquire: an insert made before the guest published a TLBI (PROD,
 * release) is seen by the consumer that fetched it (PROD, acquire).
 */
struct cmdqv_cache_occupancy {
	unsigned tlb_valid, atc_valid;
	unsigned nr_timeout_sids;
};

static inline bool cmdqv_cache_tlb_empty(const struct cmdqv_cache *c)
{
	const struct cmdqv_cache_occupancy *o = (const void *)c;

	return !__atomic_load_n(&o->tlb_valid, __ATOMIC_ACQUIRE);
}

/* Capacities in entries (validated by isim_cmdqv_config_validate). */
int cmdqv_cache_new(unsigned iotlb_entries, unsigned atc_entries,
		    struct cmdqv_cache **out);
void cmdqv_cache_free(struct cmdqv_cache *c);
/* Drop what TLBI @cmd covers; other opcodes touch nothing. */
void cmdqv_cache_tlbi(struct cmdqv_cache *c, const struct isim_smmu_cmd *cmd);
/* Drop what ATC_INV @cmd covers: false, or true when the device did not
 * answer (an ATC_INV timeout; its translations stay). */
bool cmdqv_cache_atc_inv(struct cmdqv_cache *c,
			 const struct isim_smmu_cmd *cmd);

/* The cache of model @hw (defined in cmdqv_hw.c). */
struct cmdqv_cache *cmdqv_cache_of(struct isim_cmdqv *hw);

#endif
