/*
 * Tegra241 CMDQV hardware model (see cmdqv_hw.h).  Guest-visible words live
 * in the VINTF logical pages, where anybody may store to them at any time,
 * so the model keeps its own copy of every word it owns or has accepted
 * (CONS, STATUS, GERROR, the accepted GERRORN, the accepted BASE) and, on
 * each step, compares the page against that copy: a write the hardware
 * would refuse (CONS or BASE while enabled, toggles of inactive GERRORN
 * bits, stores to read-only words) is put back, a legal one is adopted.
 * All model-private queue state is guarded by the VINTF's mutex, which the
 * consumer holds for a whole step; that makes every host operation happen
 * at a command boundary, as the hardware guarantees after a STATUS
 * handshake.  Lock order: VINTF lock, then the cache lock.  This file
 * holds the registers, the control transitions (the enable handshake) and
 * device, VINTF and LVCMDQ setup; the ring consumer and the step and
 * thread drivers are in cmdqv_consumer.c, the shared state in
 * cmdqv_hw_private.h.  The settings are parsed and checked in cmdqv_cfg.c,
 * the IOTLB and ATC the commands act on live in cmdqv_cache.c.
 */
#include "config.h"

#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "sim/lib/fault.h"
#include "vendors/nvidia/cmdqv_cache.h"
#include "vendors/nvidia/cmdqv_hw.h"
#include "vendors/nvidia/cmdqv_hw_private.h"

/* Put @want back unless somebody already replaced @seen with another value. */
static void restore32(uint32_t *p, uint32_t seen, uint32_t want)
{
	__atomic_compare_exchange_n(p, &seen, want, false, __ATOMIC_RELEASE,
				    __ATOMIC_RELAXED);
}

static void restore64(uint64_t *p, uint64_t seen, uint64_t want)
{
	__atomic_compare_exchange_n(p, &seen, want, false, __ATOMIC_RELEASE,
				    __ATOMIC_RELAXED);
}

static unsigned ilog2u(unsigned v)
{
	unsigned l = 0;

	while (v >>= 1)
		l++;
	return l;
}

struct cmdqv_cache *cmdqv_cache_of(struct isim_cmdqv *hw)
{
	return hw->cache;
}

void isim_cmdqv_get_stats(struct isim_cmdqv *hw, struct isim_cmdqv_stats *out)
{
	const uint64_t *src = (const uint64_t *)&hw->stats;
	uint64_t *dst = (uint64_t *)out;

	for (size_t i = 0; i < sizeof(*out) / sizeof(uint64_t); i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

/* ------------------------------------------------------- register access */

static bool vintf_on(const struct isim_cmdqv_vintf *v)
{
	return (ld32(&v->status) & ISIM_CMDQV_VINTF_EN) && ld32(&v->hw->enabled);
}

/* Toggle @bit of GERROR unless it is already active.  True if raised. */
static bool raise_gerror(struct isim_cmdqv_vintf *v, unsigned lidx,
			 uint32_t bit)
{
	struct lvcmdq *q = &v->q[lidx];

	if ((q->gerror ^ q->gerrorn) & bit)
		return false;
	q->gerror ^= bit;
	st32(q_reg(v, lidx, ISIM_VCMDQ_GERROR), q->gerror);
	v->latched[lidx / 64] |= 1ull << (lidx % 64);
	v->report_pending = true;
	return true;
}

/* CONS is the hardware's to publish; the optional DRAM mirror follows it. */
void cmdqv_hw_publish_cons(struct isim_cmdqv_vintf *v, unsigned lidx)
{
	struct lvcmdq *q = &v->q[lidx];
	uint32_t le;

	st32(q_reg(v, lidx, ISIM_VCMDQ_CONS), q->cons);
	if (!q->cons_dram_pa)
		return;
	le = htole32(q->cons);
	if (isim_hw_write(&v->hw->mem, q->cons_dram_pa, &le, sizeof(le)) &&
	    raise_gerror(v, lidx, ISIM_VCMDQ_GERROR_CONS_DRAM_ABT))
		STAT_INC(v->hw, cons_dram_abt);
}

/* RD keeps pointing at the culprit; ERR is written before GERROR toggles
 * so a handler that sees the toggle also sees the code. */
void cmdqv_hw_raise_cmdq_err(struct isim_cmdqv_vintf *v, unsigned lidx,
			     unsigned code)
{
	struct lvcmdq *q = &v->q[lidx];

	q->cons = (q->cons & ~ISIM_VCMDQ_CONS_ERR_MASK) |
		  (code << ISIM_VCMDQ_CONS_ERR_SHIFT);
	cmdqv_hw_publish_cons(v, lidx);
	raise_gerror(v, lidx, ISIM_VCMDQ_GERROR_CMDQ_ERR);
	STAT_INC(v->hw, cerror[code & 7]);
}

void cmdqv_hw_publish_maps(struct isim_cmdqv_vintf *v)
{
	uint64_t map[2] = { 0, 0 };

	if (v->hw->cfg.err_map_latched) {
		map[0] = v->latched[0];
		map[1] = v->latched[1];
	} else {
		for (unsigned i = 0; i < v->hw->per_vintf; i++)
			if (v->q[i].gerror ^ v->q[i].gerrorn)
				map[i / 64] |= 1ull << (i % 64);
	}
	st64(&v->err_map[0], map[0]);
	st64(&v->err_map[1], map[1]);
}

/* ---------------------------------------------------- control transitions */

/*
 * Accept GERRORN toggles only for active bits, as newer QEMU does: the
 * SMMUv3 architecture leaves the others CONSTRAINED UNPREDICTABLE.
 */
static void sanitize_gerrorn(struct isim_cmdqv_vintf *v, unsigned lidx)
{
	struct lvcmdq *q = &v->q[lidx];
	uint32_t *reg = q_reg(v, lidx, ISIM_VCMDQ_GERRORN);
	uint32_t seen = ld32(reg);

	if (seen == q->gerrorn)
		return;
	q->gerrorn ^= (seen ^ q->gerrorn) & (q->gerror ^ q->gerrorn);
	if (seen != q->gerrorn) {
		STAT_INC(v->hw, ignored_gerrorn_toggles);
		restore32(reg, seen, q->gerrorn);
	}
}

static bool can_enable(struct isim_cmdqv_vintf *v, unsigned lidx)
{
	const struct lvcmdq *q = &v->q[lidx];
	unsigned log2size = q->base_raw & ISIM_VCMDQ_BASE_LOG2SIZE_MASK;

	return q_mapped(v, lidx) && (q->base_raw & ISIM_VCMDQ_BASE_ADDR_MASK) &&
	       log2size >= 1 && log2size <= v->hw->cfg.cmdqs;
}

/*
 * Where the latched ring can be read directly: inside the host's pinned
 * view, or nowhere (NULL), in which case every entry goes through the
 * memory callbacks and a BASE over memory that is not there still aborts
 * entry by entry, as it always did.  Decided once per latch: the view
 * cannot change under an enabled queue without the VINTF lock.
 */
static void latch_ring(struct lvcmdq *q)
{
	uint64_t bytes = (uint64_t)ISIM_SMMU_CMD_SIZE << q->log2size;

	q->ring = NULL;
	if (!q->view_host || q->base_pa < q->view_pa ||
	    q->base_pa - q->view_pa > q->view_len ||
	    bytes > q->view_len - (q->base_pa - q->view_pa))
		return;
	q->ring = q->view_host + (q->base_pa - q->view_pa);
}

static void latch_base(struct isim_cmdqv_vintf *v, unsigned lidx)
{
	struct lvcmdq *q = &v->q[lidx];

	q->base_pa = q->base_raw & ISIM_VCMDQ_BASE_ADDR_MASK;
	q->log2size = q->base_raw & ISIM_VCMDQ_BASE_LOG2SIZE_MASK;
	latch_ring(q);
	q->cons_dram_pa = 0;
	if (v->hw->cfg.cons_dram)
		q->cons_dram_pa = ld64(q_reg1(v, lidx, ISIM_VCMDQ_CONS_INDX_BASE)) &
				  ADDR48_MASK;
}

static void set_status(struct isim_cmdqv_vintf *v, unsigned lidx, bool en)
{
	v->q[lidx].status_en = en;
	st32(q_reg(v, lidx, ISIM_VCMDQ_STATUS), en ? ISIM_VCMDQ_EN : 0);
}

/*
 * Reconcile the page with the model's copy, then move STATUS toward what
 * CONFIG.EN and the parent enables ask for.  Returns the work done.
 */
unsigned cmdqv_hw_lvcmdq_control(struct isim_cmdqv_vintf *v, unsigned lidx)
{
	const struct isim_cmdqv_config *cfg = &v->hw->cfg;
	struct lvcmdq *q = &v->q[lidx];
	uint32_t *cons = q_reg(v, lidx, ISIM_VCMDQ_CONS);
	uint64_t *base = q_reg1(v, lidx, ISIM_VCMDQ_BASE);
	bool frozen = q->status_en && !cfg->honour_enabled_writes;
	uint32_t seen;
	uint64_t seen64;

	sanitize_gerrorn(v, lidx);
	if (ld32(q_reg(v, lidx, ISIM_VCMDQ_STATUS)) != (q->status_en ? 1u : 0u))
		set_status(v, lidx, q->status_en);
	if (ld32(q_reg(v, lidx, ISIM_VCMDQ_GERROR)) != q->gerror)
		st32(q_reg(v, lidx, ISIM_VCMDQ_GERROR), q->gerror);

	seen = ld32(cons);
	if (seen != q->cons) {
		if (frozen) {
			STAT_INC(v->hw, ignored_cons_writes);
			restore32(cons, seen, q->cons);
		} else {
			q->cons = seen;
		}
	}
	seen64 = ld64(base);
	if (seen64 != q->base_raw) {
		if (frozen) {
			STAT_INC(v->hw, ignored_base_writes);
			restore64(base, seen64, q->base_raw);
		} else {
			q->base_raw = seen64;
			if (q->status_en)
				latch_base(v, lidx);
		}
	}

	if (!(ld32(q_reg(v, lidx, ISIM_VCMDQ_CONFIG)) & ISIM_VCMDQ_EN) ||
	    !vintf_on(v)) {
		q->enable_wait = 0;
		if (!q->status_en)
			return 0;
		/* The host's flush CMD_SYNC would drop a pending timeout. */
		q->atc_timeout = false;
		set_status(v, lidx, false);
		return 1;
	}
	if (q->status_en)
		return 0;
	if (!can_enable(v, lidx)) {
		/*
		 * Like CMDQ_ERR: raised once, and tried again only after the
		 * guest acknowledged it, so an unfixed queue fails afresh.
		 */
		if (!cfg->init_err ||
		    ((q->gerror ^ q->gerrorn) & ISIM_VCMDQ_GERROR_INIT_ERR))
			return 0;
		raise_gerror(v, lidx, ISIM_VCMDQ_GERROR_INIT_ERR);
		STAT_INC(v->hw, init_err);
		return 1;
	}
	if (q->enable_wait++ < cfg->enable_delay)
		return 1;
	q->enable_wait = 0;
	q->bad_prod = 0;
	latch_base(v, lidx);
	set_status(v, lidx, true);
	return 1;
}

/* --------------------------------------------------------- device setup */

int isim_cmdqv_new(const struct isim_cmdqv_config *cfg,
		   const struct isim_hw_mem *mem, struct isim_cmdqv **out)
{
	struct isim_cmdqv *hw;
	uintptr_t pages;
	unsigned nr_q;
	int rc;

	hw = isim_kzalloc(sizeof(*hw));
	if (!hw)
		return -ENOMEM;
	if (cfg)
		hw->cfg = *cfg;
	else
		isim_cmdqv_config_default(&hw->cfg);
	rc = isim_cmdqv_config_validate(&hw->cfg);
	if (rc)
		goto err_free;
	hw->mem = *mem;
	hw->per_vintf = hw->cfg.lvcmdqs_per_vintf;
	nr_q = hw->cfg.num_vintfs * hw->per_vintf;

	rc = -ENOMEM;
	hw->cmdq_alloc = isim_kcalloc(nr_q, sizeof(*hw->cmdq_alloc));
	if (!hw->cmdq_alloc)
		goto err_free;
	rc = cmdqv_cache_new(hw->cfg.iotlb_entries, hw->cfg.atc_entries,
			     &hw->cache);
	if (rc)
		goto err_alloc;
	rc = -ENOMEM;
	hw->vintfs = isim_kcalloc(hw->cfg.num_vintfs, sizeof(*hw->vintfs));
	if (!hw->vintfs)
		goto err_cache;
	/* All logical pages in one anonymous mapping, laid out as in the MMIO
	 * window; one spare page lets us align to 64 KiB.  Untouched pages
	 * cost nothing. */
	hw->map_len = (2 * (size_t)hw->cfg.num_vintfs + 1) * ISIM_CMDQV_PAGE_SIZE;
	hw->map = isim_should_fail() ? MAP_FAILED :
		  mmap(NULL, hw->map_len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (hw->map == MAP_FAILED)
		goto err_vintfs;
	pages = ((uintptr_t)hw->map + ISIM_CMDQV_PAGE_SIZE - 1) &
		~(uintptr_t)(ISIM_CMDQV_PAGE_SIZE - 1);

	for (unsigned i = 0; i < hw->cfg.num_vintfs; i++) {
		struct isim_cmdqv_vintf *v = &hw->vintfs[i];

		v->hw = hw;
		v->id = i;
		v->page0 = (char *)pages + 2 * (size_t)i * ISIM_CMDQV_PAGE_SIZE;
		v->page1 = v->page0 + ISIM_CMDQV_PAGE_SIZE;
		v->q = isim_kcalloc(hw->per_vintf, sizeof(*v->q));
		if (!v->q)
			goto err_queues;
		for (unsigned l = 0; l < hw->per_vintf; l++)
			hw->cmdq_alloc[i * hw->per_vintf + l] = (i << 15) | (l << 1);
	}
	for (unsigned i = 0; i < hw->cfg.num_vintfs; i++)
		pthread_mutex_init(&hw->vintfs[i].lock, NULL);
	cmdqv_consumer_setup(hw);
	*out = hw;
	return 0;

err_queues:
	for (unsigned i = 0; i < hw->cfg.num_vintfs; i++)
		free(hw->vintfs[i].q);
	munmap(hw->map, hw->map_len);
err_vintfs:
	free(hw->vintfs);
err_cache:
	cmdqv_cache_free(hw->cache);
err_alloc:
	free(hw->cmdq_alloc);
err_free:
	free(hw);
	return rc;
}

void isim_cmdqv_free(struct isim_cmdqv *hw)
{
	if (!hw)
		return;
	for (unsigned i = 0; i < hw->cfg.num_vintfs; i++)
		isim_cmdqv_vintf_stop(&hw->vintfs[i]);
	for (unsigned i = 0; i < hw->cfg.num_vintfs; i++) {
		pthread_mutex_destroy(&hw->vintfs[i].lock);
		free(hw->vintfs[i].q);
	}
	munmap(hw->map, hw->map_len);
	free(hw->vintfs);
	cmdqv_cache_free(hw->cache);
	free(hw->cmdq_alloc);
	free(hw);
}

const struct isim_cmdqv_config *isim_cmdqv_get_config(const struct isim_cmdqv *hw)
{
	return &hw->cfg;
}

void isim_cmdqv_set_report(struct isim_cmdqv *hw, isim_cmdqv_report_fn fn,
			   void *arg)
{
	hw->report = fn;
	hw->report_arg = arg;
}

void isim_cmdqv_set_exec_hook(struct isim_cmdqv *hw, isim_cmdqv_exec_fn fn,
			      void *arg)
{
	hw->exec = fn;
	hw->exec_arg = arg;
}

/* Take every queue of @v to the state its enables now ask for. */
static void vintf_settle(struct isim_cmdqv_vintf *v)
{
	for (unsigned i = 0; i < v->hw->per_vintf; i++)
		cmdqv_hw_lvcmdq_control(v, i);
	cmdqv_hw_publish_maps(v);
}

void isim_cmdqv_enable(struct isim_cmdqv *hw, bool en)
{
	st32(&hw->enabled, en);
	if (en)
		return;
	for (unsigned i = 0; i < hw->cfg.num_vintfs; i++) {
		pthread_mutex_lock(&hw->vintfs[i].lock);
		vintf_settle(&hw->vintfs[i]);
		pthread_mutex_unlock(&hw->vintfs[i].lock);
	}
}

bool isim_cmdqv_enabled(const struct isim_cmdqv *hw)
{
	return ld32(&hw->enabled);
}

uint32_t isim_cmdqv_param(const struct isim_cmdqv *hw)
{
	return hw->cfg.version |
	       ilog2u(hw->cfg.num_vintfs * hw->per_vintf) << 4 |
	       ilog2u(hw->cfg.num_vintfs) << 8 |
	       ilog2u(hw->cfg.sids_per_vintf) << 12;
}

unsigned isim_cmdqv_num_vintfs(const struct isim_cmdqv *hw)
{
	return hw->cfg.num_vintfs;
}

unsigned isim_cmdqv_lvcmdqs_per_vintf(const struct isim_cmdqv *hw)
{
	return hw->per_vintf;
}

uint32_t isim_cmdqv_cmdq_alloc(const struct isim_cmdqv *hw, unsigned q)
{
	if (q >= hw->cfg.num_vintfs * hw->per_vintf)
		return 0;
	return ld32(&hw->cmdq_alloc[q]);
}

uint64_t isim_cmdqv_vintf_err_map(const struct isim_cmdqv *hw)
{
	uint64_t map = 0;

	for (unsigned i = 0; i < hw->cfg.num_vintfs; i++)
		if (ld64(&hw->vintfs[i].err_map[0]) |
		    ld64(&hw->vintfs[i].err_map[1]))
			map |= 1ull << i;
	return map;
}

void isim_cmdqv_cmdq_err_map(const struct isim_cmdqv *hw, uint64_t map[2])
{
	map[0] = map[1] = 0;
	for (unsigned i = 0; i < hw->cfg.num_vintfs; i++) {
		const struct isim_cmdqv_vintf *v = &hw->vintfs[i];

		for (unsigned l = 0; l < hw->per_vintf; l++) {
			unsigned q = i * hw->per_vintf + l;

			if (ld64(&v->err_map[l / 64]) & (1ull << (l % 64)))
				map[q / 64] |= 1ull << (q % 64);
		}
	}
}

/* ------------------------------------------------------------------ VINTF */

struct isim_cmdqv_vintf *isim_cmdqv_vintf(struct isim_cmdqv *hw, unsigned idx)
{
	return idx < hw->cfg.num_vintfs ? &hw->vintfs[idx] : NULL;
}

unsigned isim_cmdqv_vintf_id(const struct isim_cmdqv_vintf *v)
{
	return v->id;
}

void *isim_cmdqv_vintf_page0(struct isim_cmdqv_vintf *v)
{
	return v->page0;
}

void *isim_cmdqv_vintf_page1(struct isim_cmdqv_vintf *v)
{
	return v->page1;
}

int isim_cmdqv_vintf_configure(struct isim_cmdqv_vintf *v, uint16_t vmid,
			       bool hyp_own)
{
	int rc = 0;

	pthread_mutex_lock(&v->lock);
	if (ld32(&v->config) & ISIM_CMDQV_VINTF_EN)
		rc = -EBUSY;
	else
		st32(&v->config, (uint32_t)vmid << 1 |
				 (hyp_own ? ISIM_CMDQV_VINTF_HYP_OWN : 0));
	pthread_mutex_unlock(&v->lock);
	return rc;
}

void isim_cmdqv_vintf_enable(struct isim_cmdqv_vintf *v, bool en)
{
	uint32_t config;

	pthread_mutex_lock(&v->lock);
	config = ld32(&v->config) & ~ISIM_CMDQV_VINTF_EN;
	st32(&v->config, config | (en ? ISIM_CMDQV_VINTF_EN : 0));
	st32(&v->status, en ? ISIM_CMDQV_VINTF_EN : 0);
	if (!en)
		vintf_settle(v);
	pthread_mutex_unlock(&v->lock);
}

uint32_t isim_cmdqv_vintf_config_reg(const struct isim_cmdqv_vintf *v)
{
	return ld32(&v->config);
}

uint32_t isim_cmdqv_vintf_status_reg(const struct isim_cmdqv_vintf *v)
{
	uint32_t s = ld32(&v->status) | v->hw->per_vintf << 16;

	if (ld64(&v->err_map[0]) | ld64(&v->err_map[1]))
		s |= ISIM_CMDQV_VINTF_STATUS_ERR;
	return s;
}

int isim_cmdqv_vintf_set_sid(struct isim_cmdqv_vintf *v, unsigned slot,
			     uint32_t vsid, uint32_t psid)
{
	if (slot >= v->hw->cfg.sids_per_vintf || vsid > SID20_MASK ||
	    psid > SID20_MASK)
		return -EINVAL;
	pthread_mutex_lock(&v->lock);
	st32(&v->sid_replace[slot], psid);
	st32(&v->sid_match[slot], vsid << 1 | 1);
	pthread_mutex_unlock(&v->lock);
	return 0;
}

int isim_cmdqv_vintf_clear_sid(struct isim_cmdqv_vintf *v, unsigned slot)
{
	if (slot >= v->hw->cfg.sids_per_vintf)
		return -EINVAL;
	pthread_mutex_lock(&v->lock);
	st32(&v->sid_match[slot], 0);
	st32(&v->sid_replace[slot], 0);
	pthread_mutex_unlock(&v->lock);
	return 0;
}

void isim_cmdqv_vintf_lvcmdq_err_map(const struct isim_cmdqv_vintf *v,
				     uint64_t map[2])
{
	map[0] = ld64(&v->err_map[0]);
	map[1] = ld64(&v->err_map[1]);
}

void isim_cmdqv_vintf_mask_irq(struct isim_cmdqv_vintf *v, bool masked)
{
	uint64_t bit = 1ull << v->id;

	if (masked)
		__atomic_fetch_or(&v->hw->int_mask, bit, __ATOMIC_RELEASE);
	else
		__atomic_fetch_and(&v->hw->int_mask, ~bit, __ATOMIC_RELEASE);
}

static void lvcmdq_deinit_locked(struct isim_cmdqv_vintf *v, unsigned lidx)
{
	struct lvcmdq *q = &v->q[lidx];

	st32(q_reg(v, lidx, ISIM_VCMDQ_CONFIG), 0);
	set_status(v, lidx, false);
	q->atc_timeout = false;
	q->enable_wait = 0;
	q->bad_prod = 0;
	st32(q_reg(v, lidx, ISIM_VCMDQ_PROD), 0);
	q->cons = 0;
	st32(q_reg(v, lidx, ISIM_VCMDQ_CONS), 0);
	q->base_raw = q->base_pa = q->cons_dram_pa = 0;
	q->log2size = 0;
	/* The host unpins the ring once this returns. */
	q->view_host = q->ring = NULL;
	q->view_pa = 0;
	q->view_len = 0;
	st64(q_reg1(v, lidx, ISIM_VCMDQ_BASE), 0);
	st64(q_reg1(v, lidx, ISIM_VCMDQ_CONS_INDX_BASE), 0);
	q->gerrorn = q->gerror;
	st32(q_reg(v, lidx, ISIM_VCMDQ_GERRORN), q->gerrorn);
	v->latched[lidx / 64] &= ~(1ull << (lidx % 64));
}

void isim_cmdqv_vintf_deinit(struct isim_cmdqv_vintf *v)
{
	pthread_mutex_lock(&v->lock);
	for (unsigned i = v->hw->per_vintf; i-- > 0;) {
		lvcmdq_deinit_locked(v, i);
		__atomic_fetch_and(&v->hw->cmdq_alloc[v->id * v->hw->per_vintf + i],
				   ~ISIM_CMDQV_CMDQ_ALLOC_ALLOCATED,
				   __ATOMIC_RELEASE);
	}
	st32(&v->config, 0);
	st32(&v->status, 0);
	for (unsigned s = 0; s < v->hw->cfg.sids_per_vintf; s++) {
		st32(&v->sid_match[s], 0);
		st32(&v->sid_replace[s], 0);
	}
	cmdqv_hw_publish_maps(v);
	pthread_mutex_unlock(&v->lock);
}

/* ----------------------------------------------------------------- LVCMDQ */

unsigned isim_cmdqv_vcmdq_index(const struct isim_cmdqv_vintf *v,
				unsigned lidx)
{
	return v->id * v->hw->per_vintf + lidx;
}

void *isim_cmdqv_lvcmdq_page0(struct isim_cmdqv_vintf *v, unsigned lidx)
{
	if (lidx >= v->hw->per_vintf)
		return NULL;
	return v->page0 + ISIM_VCMDQ_SLOT_STRIDE * lidx;
}

void *isim_cmdqv_lvcmdq_page1(struct isim_cmdqv_vintf *v, unsigned lidx)
{
	if (lidx >= v->hw->per_vintf)
		return NULL;
	return v->page1 + ISIM_VCMDQ_SLOT_STRIDE * lidx;
}

static int lvcmdq_set_mapped(struct isim_cmdqv_vintf *v, unsigned lidx,
			     bool mapped)
{
	uint32_t *reg;

	if (lidx >= v->hw->per_vintf)
		return -EINVAL;
	reg = &v->hw->cmdq_alloc[isim_cmdqv_vcmdq_index(v, lidx)];
	pthread_mutex_lock(&v->lock);
	if (mapped)
		__atomic_fetch_or(reg, ISIM_CMDQV_CMDQ_ALLOC_ALLOCATED,
				  __ATOMIC_RELEASE);
	else
		__atomic_fetch_and(reg, ~ISIM_CMDQV_CMDQ_ALLOC_ALLOCATED,
				   __ATOMIC_RELEASE);
	pthread_mutex_unlock(&v->lock);
	return 0;
}

int isim_cmdqv_lvcmdq_map(struct isim_cmdqv_vintf *v, unsigned lidx)
{
	return lvcmdq_set_mapped(v, lidx, true);
}

int isim_cmdqv_lvcmdq_unmap(struct isim_cmdqv_vintf *v, unsigned lidx)
{
	return lvcmdq_set_mapped(v, lidx, false);
}

bool isim_cmdqv_lvcmdq_mapped(const struct isim_cmdqv_vintf *v, unsigned lidx)
{
	return lidx < v->hw->per_vintf && q_mapped(v, lidx);
}

int isim_cmdqv_lvcmdq_set_base(struct isim_cmdqv_vintf *v, unsigned lidx,
			       uint64_t pa, unsigned log2size)
{
	uint64_t val = pa | log2size;
	int rc = 0;

	if (lidx >= v->hw->per_vintf || (pa & ~ISIM_VCMDQ_BASE_ADDR_MASK) ||
	    log2size > ISIM_VCMDQ_BASE_LOG2SIZE_MASK)
		return -EINVAL;
	pthread_mutex_lock(&v->lock);
	if (v->q[lidx].status_en) {
		rc = -EBUSY;
	} else {
		st64(q_reg1(v, lidx, ISIM_VCMDQ_BASE), val);
		v->q[lidx].base_raw = val;
	}
	pthread_mutex_unlock(&v->lock);
	return rc;
}

uint64_t isim_cmdqv_lvcmdq_base(const struct isim_cmdqv_vintf *v,
				unsigned lidx)
{
	if (lidx >= v->hw->per_vintf)
		return 0;
	return ld64((const uint64_t *)(v->page1 + ISIM_VCMDQ_SLOT_STRIDE * lidx +
				       ISIM_VCMDQ_BASE));
}

int isim_cmdqv_lvcmdq_set_ring_view(struct isim_cmdqv_vintf *v, unsigned lidx,
				    uint64_t pa, const void *host, size_t len)
{
	struct lvcmdq *q;

	if (lidx >= v->hw->per_vintf || (host && (!len || pa + len < pa)))
		return -EINVAL;
	q = &v->q[lidx];
	pthread_mutex_lock(&v->lock);
	q->view_host = host;
	q->view_pa = host ? pa : 0;
	q->view_len = host ? len : 0;
	/* An enabled queue switches at this command boundary. */
	if (q->status_en)
		latch_ring(q);
	pthread_mutex_unlock(&v->lock);
	return 0;
}

bool isim_cmdqv_lvcmdq_direct(struct isim_cmdqv_vintf *v, unsigned lidx)
{
	bool direct;

	if (lidx >= v->hw->per_vintf)
		return false;
	pthread_mutex_lock(&v->lock);
	direct = v->q[lidx].ring != NULL;
	pthread_mutex_unlock(&v->lock);
	return direct;
}

int isim_cmdqv_lvcmdq_deinit(struct isim_cmdqv_vintf *v, unsigned lidx)
{
	if (lidx >= v->hw->per_vintf)
		return -EINVAL;
	pthread_mutex_lock(&v->lock);
	lvcmdq_deinit_locked(v, lidx);
	cmdqv_hw_publish_maps(v);
	pthread_mutex_unlock(&v->lock);
	return 0;
}

bool isim_cmdqv_lvcmdq_atc_timeout(struct isim_cmdqv_vintf *v, unsigned lidx)
{
	bool latched;

	if (lidx >= v->hw->per_vintf)
		return false;
	pthread_mutex_lock(&v->lock);
	latched = v->q[lidx].atc_timeout;
	pthread_mutex_unlock(&v->lock);
	return latched;
}
