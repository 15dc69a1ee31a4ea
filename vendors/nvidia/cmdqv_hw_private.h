/*
 * The state of one Tegra241 CMDQV model, shared by vendors/nvidia/cmdqv_hw.c
 * (registers, control transitions, device and VINTF/LVCMDQ setup) and
 * cmdqv_consumer.c (the ring consumer: fetch, execute, step and polling
 * threads) and by nothing else; users of the model see only the struct
 * names, in cmdqv_hw.h.  It holds the structures, the acquire/release
 * accessors for guest-visible words and the register-access hooks the
 * consumer calls back into cmdqv_hw.c with.  Unless a declaration says
 * otherwise, callers hold the VINTF's lock.
 */
#ifndef ISIM_NVIDIA_CMDQV_HW_PRIVATE_H
#define ISIM_NVIDIA_CMDQV_HW_PRIVATE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vendors/nvidia/cmdqv_hw.h"

struct cmdqv_cache;

#define ADDR48_MASK 0x0000ffffffffffffull
#define SID20_MASK 0xfffffu

/* Model-private state of one logical queue; guarded by the VINTF lock. */
struct lvcmdq {
	bool status_en;		/* what STATUS.ENABLED says */
	bool atc_timeout;	/* ATC_INV timed out since the last CMD_SYNC */
	unsigned enable_wait;	/* steps spent waiting to enable */
	uint32_t cons;		/* CONS as the hardware holds it (RD | ERR) */
	uint32_t gerror;
	uint32_t gerrorn;	/* GERRORN with only the accepted toggles */
	uint32_t bad_prod;	/* last PROD counted as invalid, plus one */
	uint64_t base_raw;	/* accepted BASE register value */
	uint64_t base_pa;	/* BASE latched at enable */
	unsigned log2size;
	uint64_t cons_dram_pa;	/* CONS mirror latched at enable; 0 = off */
	/*
	 * The host's promise that [view_pa, view_pa + view_len) is pinned,
	 * contiguous memory readable at view_host until deinit
	 * (isim_cmdqv_lvcmdq_set_ring_view), and the ring's place in it,
	 * latched with BASE: NULL when BASE does not lie inside the view, and
	 * entries are then fetched through struct isim_hw_mem one by one.
	 */
	uint64_t view_pa;
	size_t view_len;
	const uint8_t *view_host;
	const uint8_t *ring;
};

struct isim_cmdqv_vintf {
	struct isim_cmdqv *hw;
	unsigned id;
	pthread_mutex_t lock;
	char *page0, *page1;
	/* Host registers; atomics so getters may read them from anywhere. */
	uint32_t config, status;
	uint32_t sid_match[16], sid_replace[16];
	uint64_t err_map[2];	/* published LVCMDQ_ERR_MAP */
	uint64_t latched[2];	/* guarded by lock */
	bool report_pending;	/* guarded by lock */
	struct lvcmdq *q;
	pthread_t thread;
	bool running;		/* touched only by start/stop callers */
	int stop;
};

struct isim_cmdqv {
	struct isim_cmdqv_config cfg;
	struct isim_hw_mem mem;
	unsigned per_vintf;
	uint32_t enabled;
	uint64_t int_mask;
	uint32_t *cmdq_alloc;
	void *map;
	size_t map_len;
	struct isim_cmdqv_vintf *vintfs;
	isim_cmdqv_report_fn report;
	void *report_arg;
	isim_cmdqv_exec_fn exec;
	void *exec_arg;

	struct cmdqv_cache *cache;	/* IOTLB and ATC (cmdqv_cache.c) */

	/*
	 * What the consumer does with each opcode, [guest][op] with guest =
	 * HYP_OWN clear: a CERROR code (0: legal) and the OPC_* class it is
	 * dispatched by; built from cfg once (cmdqv_consumer_setup).
	 */
	uint8_t optab[2][256];

	struct isim_cmdqv_stats stats;	/* updated with relaxed atomics */
};

#define STAT_INC(hw, field) \
	__atomic_fetch_add(&(hw)->stats.field, 1, __ATOMIC_RELAXED)

static inline uint32_t ld32(const uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline void st32(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static inline uint64_t ld64(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline void st64(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

/* ------------------------------------------------------- register access */

static inline uint32_t *q_reg(struct isim_cmdqv_vintf *v, unsigned lidx,
			      unsigned off)
{
	return isim_vcmdq_reg(v->page0 + ISIM_VCMDQ_SLOT_STRIDE * lidx, off);
}

static inline uint64_t *q_reg1(struct isim_cmdqv_vintf *v, unsigned lidx,
			       unsigned off)
{
	return isim_vcmdq_reg64(v->page1 + ISIM_VCMDQ_SLOT_STRIDE * lidx, off);
}

static inline bool q_mapped(const struct isim_cmdqv_vintf *v, unsigned lidx)
{
	unsigned q = v->id * v->hw->per_vintf + lidx;

	return ld32(&v->hw->cmdq_alloc[q]) & ISIM_CMDQV_CMDQ_ALLOC_ALLOCATED;
}

/* -------------------------------------------- cmdqv_hw.c, for the consumer */

/* CONS is the hardware's to publish; the optional DRAM mirror follows it. */
void cmdqv_hw_publish_cons(struct isim_cmdqv_vintf *v, unsigned lidx);
/* Halt queue @lidx with CERROR @code: ERR in CONS, then GERROR.CMDQ_ERR. */
void cmdqv_hw_raise_cmdq_err(struct isim_cmdqv_vintf *v, unsigned lidx,
			     unsigned code);
/* Publish the VINTF's LVCMDQ_ERR_MAP. */
void cmdqv_hw_publish_maps(struct isim_cmdqv_vintf *v);
/*
 * Reconcile the page with the model's copy, then move STATUS toward what
 * CONFIG.EN and the parent enables ask for.  Returns the work done.
 */
unsigned cmdqv_hw_lvcmdq_control(struct isim_cmdqv_vintf *v, unsigned lidx);

/* ----------------------------------------- cmdqv_consumer.c, for cmdqv_hw.c */

/* Fill hw->optab from hw->cfg; no lock (the model is not shared yet). */
void cmdqv_consumer_setup(struct isim_cmdqv *hw);

#endif
