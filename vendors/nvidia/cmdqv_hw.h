/*
 * Hardware model of NVIDIA's Tegra241 CMDQV: the VINTF and VCMDQ registers
 * and the VCMDQ ring consumer, with a small IOTLB/ATC for the invalidations
 * to act on.  The host-facing registers (CMDQV CONFIG, CMDQ_ALLOC, VINTF
 * CONFIG, SID tables, BASE) are programmed through functions, the way a
 * driver writes its MMIO; each VINTF's two logical pages are real,
 * page-aligned 64 KiB memory so page0 can be handed to a guest exactly as
 * the kernel mmaps it.  The model reads guest-written words with acquire
 * loads and publishes its own with release stores, and fetches commands by
 * physical address through a struct isim_hw_mem.  It runs stepped
 * (deterministic, the default: the caller calls ..._step) or threaded (one
 * polling thread per VINTF).  Errors are reported through a callback that
 * the iommufd driver turns into IOMMU_VEVENTQ_TYPE_TEGRA241_CMDQV events.
 * The iommufd-side rules (HW_QUEUE_ALLOC checks, ascending map order) are
 * not enforced here: they belong to the driver.
 */
#ifndef ISIM_NVIDIA_CMDQV_HW_H
#define ISIM_NVIDIA_CMDQV_HW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iommufd-sim/driver.h"
#include "vendors/nvidia/smmuv3_cmd.h"

/* Physical layout of the CMDQV MMIO window (offsets from its base). */
#define ISIM_CMDQV_PAGE_SIZE 0x10000u
#define ISIM_CMDQV_VCMDQ_PAGE0 0x10000u			/* + 0x80 * q */
#define ISIM_CMDQV_VCMDQ_PAGE1 0x20000u
#define ISIM_CMDQV_VINTF_PAGE0(i) (0x30000u + 0x20000u * (i))	/* + 0x80 * lidx */
#define ISIM_CMDQV_VINTF_PAGE1(i) (0x40000u + 0x20000u * (i))

/* Register field layouts the driver needs for hw_info and CMDQ_ALLOC. */
#define ISIM_CMDQV_PARAM_VER(p) ((p) & 0xfu)
#define ISIM_CMDQV_PARAM_NUM_VCMDQ_LOG2(p) (((p) >> 4) & 0xfu)
#define ISIM_CMDQV_PARAM_NUM_VINTF_LOG2(p) (((p) >> 8) & 0xfu)
#define ISIM_CMDQV_PARAM_NUM_SID_LOG2(p) (((p) >> 12) & 0xfu)
#define ISIM_CMDQV_CMDQ_ALLOC_ALLOCATED 0x1u
#define ISIM_CMDQV_CMDQ_ALLOC_LVCMDQ(v) (((v) >> 1) & 0x7fu)
#define ISIM_CMDQV_CMDQ_ALLOC_VINTF(v) (((v) >> 15) & 0x3fu)
#define ISIM_CMDQV_VINTF_EN 0x1u			/* CONFIG and STATUS */
#define ISIM_CMDQV_VINTF_VMID(c) (((c) >> 1) & 0xffffu)
#define ISIM_CMDQV_VINTF_HYP_OWN (1u << 17)
#define ISIM_CMDQV_VINTF_STATUS_ERR (1u << 1)		/* STATUS[3:1] = 1 */
#define ISIM_CMDQV_VINTF_STATUS_NUM_LVCMDQ(s) (((s) >> 16) & 0xffu)

/*
 * Every setting the research notes leave open, with their defaults
 * (isim_cmdqv_config_default).  Field names are also the keys of the
 * "k=v,k=v" option string.
 */
struct isim_cmdqv_config {
	/* Shape, as PARAM reports it.  Real Grace hardware reads these from
	 * PARAM; num_vintfs * lvcmdqs_per_vintf <= 128, VINTF0 is the host's. */
	unsigned version;		/* PARAM.VER: 1 */
	unsigned num_vintfs;		/* power of 2, <= 64: 16 */
	unsigned lvcmdqs_per_vintf;	/* §8.8, power of 2: 2 (as QEMU) */
	unsigned sids_per_vintf;	/* SID_MATCH slots, power of 2 <= 16: 16 */
	unsigned cmdqs;			/* SMMU IDR1.CMDQS, max LOG2SIZE: 19 */

	/* §8.1: TLBI_NH_ALL/NH_VAA legal on a HYP_OWN=0 queue: true */
	bool guest_allow_nh_all_vaa;
	/* §8.2: CERROR for a valid opcode a guest may not send, 1 or 4: 1 */
	unsigned privileged_cerror;
	/* §8.3: CMD_SYNC with CS != NONE is ILL (else completes silently):
	 * false */
	bool strict_cs;
	/* §8.4: guest ATC_INV whose vSID misses SID_MATCH: 1 or 4 raise that
	 * code, 0 consumes it without effect: 1 */
	unsigned sid_miss_cerror;
	/* §8.5: mirror CONS to page1 CONS_INDX_BASE (latched at enable):
	 * false */
	bool cons_dram;
	/* §8.6: CONS/BASE writes while enabled take effect (else ignored and
	 * counted): false */
	bool honour_enabled_writes;
	/* §7: RES0 bits and bad TLBI range/ATC SIZE fields are ILL: false */
	bool strict_fields;
	/* §3.3 [inferred]: a guest TLBI's VMID is the VINTF's: true */
	bool use_vintf_vmid;
	/* §1.4 [inferred]: guest ATC_INV vSID -> pSID via SID tables: true */
	bool sid_replace;
	/* §6.3 [unverified]: enabling an unmapped/unprogrammed queue raises
	 * GERROR.CMDQ_INIT_ERR (else STATUS just stays 0): true */
	bool init_err;
	/* §5 [inferred]: error-map bits latch until deinit instead of
	 * tracking GERROR != GERRORN: false */
	bool err_map_latched;
	/* §6.3: steps STATUS.ENABLED lags CONFIG.EN by: 0 */
	unsigned enable_delay;
	/* Capacities of the modelled caches: 256 and 64 entries. */
	unsigned iotlb_entries;
	unsigned atc_entries;
};

void isim_cmdqv_config_default(struct isim_cmdqv_config *cfg);
/* Apply "key=value,..." on top of @cfg: 0 or -EINVAL (unknown key, bad
 * number).  NULL or "" changes nothing. */
int isim_cmdqv_config_parse(struct isim_cmdqv_config *cfg, const char *opts);
/* 0 or -EINVAL when the values cannot describe a CMDQV. */
int isim_cmdqv_config_validate(const struct isim_cmdqv_config *cfg);

struct isim_cmdqv;
struct isim_cmdqv_vintf;

/*
 * Raised when a GERROR bit of an LVCMDQ becomes active (and the VINTF's
 * interrupt is not masked); @lvcmdq_err_map is that VINTF's
 * LVCMDQ_ERR_MAP as it stands, i.e. the vEVENT payload.  Errors raised in
 * one step are reported once.  Called from the thread running the model,
 * with no model lock held.
 */
typedef void (*isim_cmdqv_report_fn)(void *arg, unsigned vintf_id,
				     const uint64_t lvcmdq_err_map[2]);
/*
 * Called for every command that takes effect, with VMID and SID already
 * replaced the way the hardware would, before CONS moves past it.  Runs
 * under the VINTF's lock: it may touch guest memory and page0, not call
 * back into the model.  With a hook installed the model publishes CONS
 * after every command, so the hook sees CONS pointing at the command it
 * is told about; without one CONS is published once per batch (every
 * entry up to the PROD sampled, within the step's budget), which the
 * guest cannot tell apart from a consumer that happens to be fast: CONS
 * still passes only commands that have taken effect.
 */
typedef void (*isim_cmdqv_exec_fn)(void *arg, unsigned vintf_id,
				   unsigned lidx,
				   const struct isim_smmu_cmd *cmd);

/* ---------------------------------------------------------------- device */

/* NULL @cfg: defaults.  @mem reaches physical memory.  0, -EINVAL, -ENOMEM. */
int isim_cmdqv_new(const struct isim_cmdqv_config *cfg,
		   const struct isim_hw_mem *mem, struct isim_cmdqv **out);
/* Stops any model thread first. */
void isim_cmdqv_free(struct isim_cmdqv *hw);
const struct isim_cmdqv_config *isim_cmdqv_get_config(const struct isim_cmdqv *hw);

/* Install before starting threads; NULL uninstalls. */
void isim_cmdqv_set_report(struct isim_cmdqv *hw, isim_cmdqv_report_fn fn,
			   void *arg);
void isim_cmdqv_set_exec_hook(struct isim_cmdqv *hw, isim_cmdqv_exec_fn fn,
			      void *arg);

/* CMDQV CONFIG.CMDQV_EN; STATUS follows at once. */
void isim_cmdqv_enable(struct isim_cmdqv *hw, bool en);
bool isim_cmdqv_enabled(const struct isim_cmdqv *hw);
uint32_t isim_cmdqv_param(const struct isim_cmdqv *hw);
unsigned isim_cmdqv_num_vintfs(const struct isim_cmdqv *hw);
unsigned isim_cmdqv_lvcmdqs_per_vintf(const struct isim_cmdqv *hw);
/* CMDQ_ALLOC(q): at reset VINTF/LVCMDQ hold the static q = v*per + lidx
 * assignment with ALLOCATED clear.  0 for q out of range. */
uint32_t isim_cmdqv_cmdq_alloc(const struct isim_cmdqv *hw, unsigned q);
/* Derived error maps: VINTF_ERR_MAP (64 bits) and CMDQ_ERR_MAP (128). */
uint64_t isim_cmdqv_vintf_err_map(const struct isim_cmdqv *hw);
void isim_cmdqv_cmdq_err_map(const struct isim_cmdqv *hw, uint64_t map[2]);

/* Step every VINTF once; returns the work done. */
unsigned isim_cmdqv_step(struct isim_cmdqv *hw, unsigned budget);

/* ------------------------------------------------------------------ VINTF */

struct isim_cmdqv_vintf *isim_cmdqv_vintf(struct isim_cmdqv *hw, unsigned idx);
unsigned isim_cmdqv_vintf_id(const struct isim_cmdqv_vintf *v);
/* The logical pages: 64 KiB, 64 KiB-aligned; page0 is what user space maps. */
void *isim_cmdqv_vintf_page0(struct isim_cmdqv_vintf *v);
void *isim_cmdqv_vintf_page1(struct isim_cmdqv_vintf *v);

/* CONFIG = VMID << 1 | HYP_OWN << 17, EN unchanged: -EBUSY while enabled. */
int isim_cmdqv_vintf_configure(struct isim_cmdqv_vintf *v, uint16_t vmid,
			       bool hyp_own);
/* CONFIG.EN; STATUS.ENABLED follows at once, at a command boundary. */
void isim_cmdqv_vintf_enable(struct isim_cmdqv_vintf *v, bool en);
uint32_t isim_cmdqv_vintf_config_reg(const struct isim_cmdqv_vintf *v);
uint32_t isim_cmdqv_vintf_status_reg(const struct isim_cmdqv_vintf *v);
/* SID_MATCH(slot) = vsid << 1 | 1, SID_REPLACE(slot) = psid: 0 or -EINVAL. */
int isim_cmdqv_vintf_set_sid(struct isim_cmdqv_vintf *v, unsigned slot,
			     uint32_t vsid, uint32_t psid);
int isim_cmdqv_vintf_clear_sid(struct isim_cmdqv_vintf *v, unsigned slot);
/* LVCMDQ_ERR_MAP_64(0..1). */
void isim_cmdqv_vintf_lvcmdq_err_map(const struct isim_cmdqv_vintf *v,
				     uint64_t map[2]);
/* VINTF_INT_MASK bit: a masked VINTF's errors are not reported. */
void isim_cmdqv_vintf_mask_irq(struct isim_cmdqv_vintf *v, bool masked);
/*
 * Whole-VINTF teardown as the kernel does it: every LVCMDQ deinit and unmap
 * in descending order, CONFIG := 0, SID tables cleared.
 */
void isim_cmdqv_vintf_deinit(struct isim_cmdqv_vintf *v);

/*
 * Run the VINTF's consumers once: enable/disable transitions of each
 * LVCMDQ, then round-robin consumption of at most @budget commands.
 * Returns the work done (commands taken, transitions, errors raised); 0
 * means nothing will change until someone writes a register.
 */
unsigned isim_cmdqv_vintf_step(struct isim_cmdqv_vintf *v, unsigned budget);
/* Threaded mode: a thread that steps this VINTF, polling PROD with
 * acquire.  0, -EBUSY if running, -EAGAIN if the thread cannot start. */
int isim_cmdqv_vintf_start(struct isim_cmdqv_vintf *v);
void isim_cmdqv_vintf_stop(struct isim_cmdqv_vintf *v);

/* ----------------------------------------------------------------- LVCMDQ */

/* Global VCMDQ index of logical queue @lidx: v * per_vintf + lidx. */
unsigned isim_cmdqv_vcmdq_index(const struct isim_cmdqv_vintf *v,
				unsigned lidx);
/* Slot @lidx of page0 / page1 (NULL when out of range). */
void *isim_cmdqv_lvcmdq_page0(struct isim_cmdqv_vintf *v, unsigned lidx);
void *isim_cmdqv_lvcmdq_page1(struct isim_cmdqv_vintf *v, unsigned lidx);
/* CMDQ_ALLOC(q).ALLOCATED := 1 / 0: 0 or -EINVAL. */
int isim_cmdqv_lvcmdq_map(struct isim_cmdqv_vintf *v, unsigned lidx);
int isim_cmdqv_lvcmdq_unmap(struct isim_cmdqv_vintf *v, unsigned lidx);
bool isim_cmdqv_lvcmdq_mapped(const struct isim_cmdqv_vintf *v, unsigned lidx);
/*
 * BASE := (pa & ADDR[47:5]) | log2size.  -EINVAL when @pa has bits outside
 * [47:5] or @log2size does not fit LOG2SIZE; -EBUSY while the queue is
 * enabled (the hardware would ignore the write).
 */
int isim_cmdqv_lvcmdq_set_base(struct isim_cmdqv_vintf *v, unsigned lidx,
			       uint64_t pa, unsigned log2size);
uint64_t isim_cmdqv_lvcmdq_base(const struct isim_cmdqv_vintf *v,
				unsigned lidx);
/*
 * The host's promise that [@pa, @pa + @len) is pinned, physically
 * contiguous memory that reads at @host, and stays so until this queue is
 * deinitialised: the kernel's HW_QUEUE_ALLOC pins the guest's queue for
 * the queue's whole life.  While BASE lies inside that view the consumer
 * fetches entries with plain loads (after the acquire of PROD, which
 * orders them after the guest's stores) instead of one memory callback
 * per entry; a BASE anywhere else keeps the callbacks, with their aborts.
 * The choice is made when BASE is latched at enable.  NULL @host
 * withdraws the view.  0 or -EINVAL.
 */
int isim_cmdqv_lvcmdq_set_ring_view(struct isim_cmdqv_vintf *v, unsigned lidx,
				    uint64_t pa, const void *host, size_t len);
/* Does the enabled queue @lidx fetch through such a view? */
bool isim_cmdqv_lvcmdq_direct(struct isim_cmdqv_vintf *v, unsigned lidx);
/*
 * The kernel's VCMDQ deinit: CONFIG := 0 and STATUS drops (at a command
 * boundary), the ATC timeout latch is flushed (standing in for the host's
 * CMD_SYNC on the main queue), PROD, CONS, BASE, CONS_INDX_BASE := 0 and
 * GERRORN := GERROR.  The mapping is left alone.
 */
int isim_cmdqv_lvcmdq_deinit(struct isim_cmdqv_vintf *v, unsigned lidx);
/* Is an ATC_INV timeout latched, waiting for a CMD_SYNC to report it? */
bool isim_cmdqv_lvcmdq_atc_timeout(struct isim_cmdqv_vintf *v, unsigned lidx);

/* ------------------------------------------------------- caches and stats */

/*
 * The modelled IOTLB holds 4 KiB translations keyed by (VMID, ASID, VA);
 * the ATC holds device translations keyed by (pSID, SSID, address).  Tests
 * pre-fill them and look at what the invalidations left.  When full, an
 * insert evicts round-robin.
 */
void isim_cmdqv_iotlb_insert(struct isim_cmdqv *hw, uint16_t vmid,
			     uint16_t asid, uint64_t va);
bool isim_cmdqv_iotlb_has(struct isim_cmdqv *hw, uint16_t vmid, uint16_t asid,
			  uint64_t va);
unsigned isim_cmdqv_iotlb_count(struct isim_cmdqv *hw);
void isim_cmdqv_atc_insert(struct isim_cmdqv *hw, uint32_t sid, uint32_t ssid,
			   uint64_t addr);
bool isim_cmdqv_atc_has(struct isim_cmdqv *hw, uint32_t sid, uint32_t ssid,
			uint64_t addr);
unsigned isim_cmdqv_atc_count(struct isim_cmdqv *hw);
/* Make ATC_INVs to physical @sid time out (the fake device stops
 * answering): 0, or -ENOSPC when too many SIDs are set. */
int isim_cmdqv_atc_set_timeout(struct isim_cmdqv *hw, uint32_t sid, bool on);

struct isim_cmdqv_stats {
	uint64_t executed[256];		/* commands that took effect, by opcode */
	uint64_t cerror[8];		/* CMDQ_ERR raised, by CONS.ERR code */
	uint64_t init_err;		/* CMDQ_INIT_ERR raised */
	uint64_t cons_dram_abt;		/* CONS mirror writes that failed */
	uint64_t fetches;		/* entry reads attempted */
	uint64_t bad_prod;		/* distinct PROD values more than N ahead */
	uint64_t ignored_cons_writes;
	uint64_t ignored_base_writes;
	uint64_t ignored_gerrorn_toggles;	/* toggles of inactive bits */
	uint64_t atc_timeouts;
	uint64_t sid_misses;		/* guest ATC_INV vSIDs not in SID_MATCH */
	uint64_t reports;		/* report callbacks made */
	uint64_t reports_suppressed;	/* masked, or no callback installed */
};

void isim_cmdqv_get_stats(struct isim_cmdqv *hw, struct isim_cmdqv_stats *out);

#endif
