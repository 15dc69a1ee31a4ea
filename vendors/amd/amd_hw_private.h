/*
 * The state of one AMD vIOMMU model, shared by vendors/amd/amd_hw.c (the
 * engine, registers and rings), amd_cache.c (the modelled IOTLB, device
 * IOTLB, DTE and IRT caches) and amd_cfg.c (settings) and by nothing
 * else; users of the model see only struct amd_hw's name, in amd_hw.h.
 * Unless a declaration says otherwise, callers hold hw->lock.
 */
#ifndef ISIM_VENDORS_AMD_HW_PRIVATE_H
#define ISIM_VENDORS_AMD_HW_PRIVATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "vendors/amd/amd_hw.h"

/* Entries the late_entry_visibility errata holds back per log. */
#define AMD_LATE_MAX	8
#define DEVID_WORDS	(65536 / 64)

/* A page request group the device awaits a response for. */
struct ppr_group {
	uint16_t devid;
	uint16_t prgi;
	uint32_t pasid;
};

/* One bit per device ID, and how many are set (so: whether any is). */
struct devid_map {
	unsigned int nset;
	uint64_t w[DEVID_WORDS];
};

struct late_entry {
	uint64_t gpa;
	struct amd_entry e;
};

struct ring_state {
	uint64_t base;
	uint32_t size;		/* 0: not programmed */
	uint8_t len;
	uint32_t head, tail;
	bool run;
	unsigned int nlate;
	struct late_entry late[AMD_LATE_MAX];
};

struct amd_hw {
	struct amd_hw_config cfg;
	struct amd_cmd_format fmt;
	struct isim_hw_mem mem;
	struct amd_hw_page_ops page;	/* .access NULL: none */
	struct amd_hw_ops ops;
	void *ops_arg;
	struct isim_tracer *tr;
	void *vf;

	pthread_mutex_t lock;	/* everything below */
	pthread_cond_t wake;
	bool kicked;
	bool threaded;
	atomic_bool stop;
	pthread_t thread;
	/*
	 * The command head as the model last set it, written under the lock
	 * and read without it: a step that finds the guest's tail equal to
	 * it has nothing to consume and need not take the lock at all.
	 */
	_Atomic uint32_t cmd_head_seen;

	uint64_t vfctrl[8];
	struct ring_state ring[AMD_RING_NR];
	struct amd_tlb_entry tlb[AMD_TLB_SLOTS];
	unsigned int ntlb;
	struct amd_dev_tlb_entry dtlb[AMD_DEV_TLB_SLOTS];
	unsigned int ndtlb;
	struct devid_map dte_cache, irt_cache;
	struct ppr_group *groups;
	unsigned int ngroups;
	struct amd_hw_stats st;
};

/* ------------------------------------------------------- amd_cfg.c */

/* No lock: whether the enum and range settings of @c hold legal values. */
bool amd_hw_config_valid(const struct amd_hw_config *c);

/* ----------------------------------------------------- amd_cache.c */

/* The DTE and IRT caches: one bit per device ID. */
static inline void devid_set(struct devid_map *map, uint16_t devid, bool on)
{
	uint64_t *w = &map->w[devid / 64], bit = 1ull << (devid % 64);

	if (on) {
		map->nset += !(*w & bit);
		*w |= bit;
	} else if (map->nset && *w & bit) {
		/*
		 * No store for a device that is not cached, and not even a
		 * load of its word while nothing is: a run of invalidations
		 * then costs a load of the count each, not a chain of
		 * read-modify-writes of one word.
		 */
		*w &= ~bit;
		map->nset--;
	}
}

static inline bool devid_test(const struct devid_map *map, uint16_t devid)
{
	return map->w[devid / 64] >> (devid % 64) & 1;
}

/* Every device's bit cleared, for INVALIDATE_IOMMU_ALL. */
static inline void devid_clear_all(struct devid_map *map)
{
	if (map->nset)
		memset(map->w, 0, sizeof(map->w));
	map->nset = 0;
}

/* INVALIDATE_IOMMU_PAGES: drop what @c covers from the IOTLB. */
void amd_cache_inv_iommu_pages(struct amd_hw *hw, const struct amd_cmd *c);
/* INVALIDATE_IOTLB_PAGES: drop what @c covers from the device IOTLB. */
void amd_cache_inv_iotlb_pages(struct amd_hw *hw, const struct amd_cmd *c);

#endif
