/*
 * Hardware model of one AMD vIOMMU guest (one gid on one physical IOMMU):
 * the VF page the guest writes its head/tail/status registers into, the
 * host-only VFCTRL slot holding each guest ring's GPA base, length code
 * and enables, the command-buffer consumer, and the event-log and PPR-log
 * producers.  Rings live in guest RAM and are reached by GPA through a
 * struct isim_hw_mem whose provider translates through the nesting
 * parent; a failed access is a contained hardware fault (spec §6.6).  The
 * model runs stepped (amd_hw_step, deterministic, the default) or on its
 * own thread (amd_hw_start).  The iommufd driver glue sits on top of this
 * API; the model knows nothing of iommufd objects.
 *
 * Concurrency: one mutex per model serialises the engine (a batch of
 * commands at a time), the host-side calls and the fault/IRQ bookkeeping.  The guest
 * never takes it: guest registers are atomics in the VF page, read by the
 * model with acquire and published with release.  The memory provider is
 * called with the mutex held, so it must not call back into the model;
 * callbacks in struct amd_hw_ops run after the mutex is dropped.
 * A provider must perform an 8-byte write at an 8-byte-aligned address
 * as one atomic store (release): guests poll COMPLETION_WAIT semaphores,
 * and with late_entry_visibility they poll log entries being written.
 */
#ifndef ISIM_VENDORS_AMD_HW_H
#define ISIM_VENDORS_AMD_HW_H

#include <stdbool.h>
#include <stdint.h>

#include "iommufd-sim/driver.h"
#include "vendors/amd/amd_cmd.h"

struct isim_tracer;
struct amd_hw;

/* ------------------------------------------------------------- settings */

/*
 * Where the command head stays after an illegal command (§2.5), and after
 * a COMPLETION_WAIT whose store failed (same doubt).  A failed fetch
 * always leaves it on the command that could not be read.
 */
enum amd_illegal_cmd_head {
	AMD_HEAD_AT_FAULT,
	AMD_HEAD_PAST_FAULT,
};

/* COMPLETION_WAIT's F bit, whose meaning no source gives. */
enum amd_comwait_f {
	AMD_COMWAIT_F_IGNORE,
	AMD_COMWAIT_F_ILLEGAL,
};

/* Opcode 0xA (RESET_VMMIO) in a guest ring. */
enum amd_guest_op_0xa {
	AMD_GUEST_0XA_ILLEGAL,
	AMD_GUEST_0XA_NOP,	/* decoded and counted, no effect */
};

/* What amd_hw_ring_program()'s size means (§5.3). */
enum amd_length_units {
	AMD_LENGTH_CODE,	/* the 4-bit length code, as the prototype */
	AMD_LENGTH_BYTES,	/* bytes, as the uAPI text says */
};

struct amd_hw_config {
	uint16_t gid;
	uint16_t trans_devid;	/* host-side faults name this DeviceID */
	uint64_t efr;		/* AMD_EFR_* gating the rings */
	bool iotlb_sup;		/* PCI capability IotlbSup */
	bool inv_iotlb_type_sup;
	/* Spec §8, defaults in brackets. */
	enum amd_illegal_cmd_head illegal_cmd_head;	/* AT_FAULT */
	bool overflow_stops_run;			/* true */
	bool enable_edge_clears_overflow;		/* true */
	enum amd_comwait_f comwait_f_bit;		/* IGNORE */
	enum amd_guest_op_0xa guest_opcode_0xa;		/* ILLEGAL */
	enum amd_length_units alloc_length_units;	/* CODE */
	bool alloc_strict_len;				/* true: code 8..15 */
	bool late_entry_visibility;			/* false */
	enum amd_ppr_status_encoding ppr_status_encoding; /* LINUX */
	bool invalid_ppr_event_when_disabled;		/* true */
	enum amd_iotlb_pasid_layout iotlb_pasid_layout;	/* LINUX */
	unsigned int ppr_auto_rsp_aon_bit;		/* 42 (or 48) */
	/* Model choices of §5.5 and the unverified points after §8. */
	bool alloc_strict_base;		/* true: unaligned GPA is EINVAL */
	bool base_write_resets_ptrs;	/* true: programming zeroes head/tail */
	unsigned int ppr_pending_max;	/* 512 outstanding PRGs tracked */
};

/* Fill @cfg with the defaults above (gid 0, every feature present). */
void amd_hw_config_init(struct amd_hw_config *cfg);
/* Set one setting by its name as above; -EINVAL for a bad key or value. */
int amd_hw_config_set(struct amd_hw_config *cfg, const char *key,
		      const char *val);
/* "key=value,key=value" over amd_hw_config_set; NULL or "" sets nothing. */
int amd_hw_config_parse(struct amd_hw_config *cfg, const char *opts);

/* ------------------------------------------------------------ callbacks */

enum amd_irq_src {
	AMD_IRQ_EVT,		/* EventLogInt / EventOverflow */
	AMD_IRQ_COMWAIT,	/* ComWaitInt */
	AMD_IRQ_PPR,		/* PPRInt / PPROverflow */
	AMD_IRQ_NR,
};

/* What COMPLETE_PPR_REQUEST sends back to the device. */
struct amd_ppr_response {
	uint16_t devid;
	uint32_t pasid;
	bool gn;
	uint16_t prgi;
	uint8_t raw_status;
	enum amd_ppr_rsp status;
	bool matched;		/* a logged request group was outstanding */
};

/* All optional; called from the thread that made the model act, unlocked. */
struct amd_hw_ops {
	/* An MSI: the status bit is set and the source's IntEn is on. */
	void (*irq)(void *arg, enum amd_irq_src src);
	void (*ppr_response)(void *arg, const struct amd_ppr_response *rsp);
	/* Every legal command after the model acted on it (for forwarding). */
	void (*cmd_exec)(void *arg, const struct amd_cmd *cmd);
	/* A ring access the provider could not translate (§6.6). */
	void (*host_fault)(void *arg, uint16_t trans_devid, uint64_t gpa,
			   bool write);
};

/* ------------------------------------------------- direct page access */

/*
 * An optional fast path to the rings' memory, beside struct isim_hw_mem.
 * @access runs @fn on the host bytes of the 4 KiB guest page at @gpa
 * (4 KiB aligned) and returns what @fn returns, while the provider keeps
 * the page's translation, and the frame behind it, from going away: an
 * unmap of the page waits until @fn has returned, so the model may use
 * the pointer for every entry of that page in one go and never touches a
 * frame that was freed.  -EFAULT when the page has no translation with
 * the permission @write needs; -EOPNOTSUPP when the bytes cannot be
 * reached directly (or anything else unusual), in which case the model
 * goes through struct isim_hw_mem entry by entry, which reports faults
 * the usual way.  Called with the model's mutex held, like isim_hw_mem;
 * @fn never calls the provider again.
 */
#define AMD_HW_PAGE_SIZE	4096u

struct amd_hw_page_ops {
	int (*access)(void *ctx, uint64_t gpa, bool write,
		      int (*fn)(void *arg, uint8_t *host), void *arg);
	void *ctx;
};

/* Install @ops (NULL: none) before the model runs, i.e. before start/step. */
void amd_hw_set_page_ops(struct amd_hw *hw, const struct amd_hw_page_ops *ops);

/* ------------------------------------------------------------ lifecycle */

/* @cfg NULL: defaults.  @tr may be NULL.  Stepped mode until started. */
int amd_hw_create(const struct amd_hw_config *cfg,
		  const struct isim_hw_mem *mem, const struct amd_hw_ops *ops,
		  void *ops_arg, struct isim_tracer *tr, struct amd_hw **out);
void amd_hw_destroy(struct amd_hw *hw);
const struct amd_hw_config *amd_hw_config(const struct amd_hw *hw);

/* The guest's VF page: AMD_VF_PAGE_SIZE bytes, page aligned, for mmap. */
void *amd_hw_vf_page(struct amd_hw *hw);

/* --------------------------------------------------- host-side control */

/*
 * Program a ring's GPA base and size into VFCTRL (HW_QUEUE_ALLOC).  @size
 * is a length code or bytes per alloc_length_units.  -EINVAL for a size
 * or base the settings refuse; -EBUSY while the ring runs.  Enables are
 * left as they are; base_write_resets_ptrs zeroes head and tail.
 */
int amd_hw_ring_program(struct amd_hw *hw, enum amd_ring ring, uint64_t gpa,
			uint64_t size);
/* Stop the ring and clear its base, length and enable (queue destroy). */
void amd_hw_ring_disable(struct amd_hw *hw, enum amd_ring ring);

/* A ring's VFCTRL flags, bits 15:8 of its slot (§5.1). */
#define AMD_VFCTRL_EN		(1u << 8)	/* CmdBufEn/EventLogEn/PPRLogEn */
#define AMD_VFCTRL_INT_EN	(1u << 9)	/* ComWaitIntEn/EventIntEn/PPRIntEn */
#define AMD_VFCTRL_PPR_EN	(1u << 10)	/* PPR slot only */
#define AMD_VFCTRL_OFF_CMD	0x20
#define AMD_VFCTRL_OFF_EVT	0x28
#define AMD_VFCTRL_OFF_PPR	0x30

/*
 * Replace a ring's flag bits 15:8 (the newest prototype passes them with
 * the queue).  Enable edges act as the Control register's do: 0->1 starts
 * the ring if it is programmed, 1->0 stops it after the command in
 * progress.  -EINVAL for bits the ring's slot does not have.
 */
int amd_hw_ring_set_flags(struct amd_hw *hw, enum amd_ring ring,
			  uint32_t flags);
/* The guest's Control register forwarded to VFCTRL, and read back. */
void amd_hw_control_write(struct amd_hw *hw, uint64_t control);
uint64_t amd_hw_control_read(struct amd_hw *hw);
/* One 64-bit VFCTRL word (@off 0x00..0x38, 8-aligned). */
uint64_t amd_hw_vfctrl_read(struct amd_hw *hw, unsigned int off);

/* ----------------------------------------------------------- the engine */

/*
 * Consume up to @budget commands; returns how many were taken, a command
 * that faulted included.  Also writes log entries held back by
 * late_entry_visibility.
 */
unsigned int amd_hw_step(struct amd_hw *hw, unsigned int budget);
/* Run the engine on a thread that polls the command tail; 0 or -errno. */
int amd_hw_start(struct amd_hw *hw);
void amd_hw_stop(struct amd_hw *hw);
/* Wake the engine thread now instead of at its next poll. */
void amd_hw_kick(struct amd_hw *hw);

/* -------------------------------------------------------- log producers */

/*
 * Log an event into the guest's event log.  0 logged; -EAGAIN dropped
 * because the log is stopped or in overflow; -ENOSPC dropped on a full
 * log (overflow raised); -EFAULT the log memory is not mapped (log
 * stopped, host fault); -EINVAL code 0 or a field that does not fit.
 * A burst of one of amd_hw_events(), as are the two helpers after it.
 */
int amd_hw_event(struct amd_hw *hw, const struct amd_event *ev);
/*
 * Log a burst of @n events, in order, under one hold of the model and
 * reaching each page of the log once (in place through the page ops where
 * the provider offers them): what a source whose events come together
 * costs the hardware.  Each entry meets the log exactly as amd_hw_event()
 * would at its turn: written at the tail while there is room; on a full
 * log dropped, EventOverflow set and (overflow_stops_run) EventLogRun
 * cleared; dropped while the log is stopped or in overflow, so once one
 * is dropped so is the rest of the burst, each counted as dropped; a log
 * page without a translation drops the entry and stops the log with a
 * host fault.  EventLogInt is set as entries land, as before; the event
 * MSI is raised once per burst (if IntEn), not once per entry, when any
 * entry was logged or overflowed.  An event with code 0 or a field that
 * does not fit ends the burst before it: it and the events after it are
 * neither logged nor counted, as a lone one would not be.  Returns 0 when
 * all were logged, else what the first one not logged met: -EAGAIN,
 * -ENOSPC or -EFAULT as above, -EINVAL when it is the one that does not
 * encode.  *@logged (may be NULL) is how many were logged: always the
 * first ones.
 */
int amd_hw_events(struct amd_hw *hw, const struct amd_event *ev,
		  unsigned int n, unsigned int *logged);
int amd_hw_io_page_fault(struct amd_hw *hw, uint16_t devid, uint16_t domid,
			 uint32_t pasid, uint64_t addr, uint16_t flags);
int amd_hw_illegal_dte(struct amd_hw *hw, uint16_t devid, uint32_t pasid,
		       uint64_t addr, uint16_t flags);
/*
 * A device's page request.  Logged into the PPR log (and tracked until a
 * COMPLETE_PPR_REQUEST answers its group) when PPREn and PPRLogRun; else
 * dropped with INVALID_PPR_REQUEST in the event log (per setting) and
 * -EAGAIN.  Other returns as amd_hw_event().
 */
int amd_hw_ppr_request(struct amd_hw *hw, const struct amd_ppr *req);

/* -------------------------------------------------- modelled caches */

struct amd_tlb_entry {
	uint16_t domid;
	uint32_t pasid;
	bool gn;
	bool pde;		/* a cached page-directory entry, not a leaf */
	uint64_t iova;		/* 4 KiB aligned */
	uint64_t pages;
};

struct amd_dev_tlb_entry {
	uint16_t devid;
	uint32_t pasid;
	bool gn;
	uint64_t iova;
	uint64_t pages;
};

#define AMD_TLB_SLOTS		64
#define AMD_DEV_TLB_SLOTS	64

/* What the hardware caches as translations happen; -ENOSPC when full. */
int amd_hw_iotlb_fill(struct amd_hw *hw, const struct amd_tlb_entry *e);
int amd_hw_dev_iotlb_fill(struct amd_hw *hw, const struct amd_dev_tlb_entry *e);
void amd_hw_dte_cache_fill(struct amd_hw *hw, uint16_t devid);
void amd_hw_irt_cache_fill(struct amd_hw *hw, uint16_t devid);
bool amd_hw_iotlb_cached(struct amd_hw *hw, uint16_t domid, uint32_t pasid,
			 bool gn, uint64_t iova);
bool amd_hw_dev_iotlb_cached(struct amd_hw *hw, uint16_t devid,
			     uint32_t pasid, bool gn, uint64_t iova);
bool amd_hw_dte_cached(struct amd_hw *hw, uint16_t devid);
bool amd_hw_irt_cached(struct amd_hw *hw, uint16_t devid);

/* ------------------------------------------------------------ inspection */

struct amd_ring_info {
	uint64_t base;		/* GPA */
	uint8_t len;		/* length code; 0 = not programmed */
	uint32_t size;		/* bytes */
	uint32_t head, tail;	/* the model's view */
	bool en, run;
};

struct amd_hw_stats {
	uint64_t cmd_exec[16];		/* executed, by opcode */
	uint64_t cmd_illegal;
	uint64_t cmd_hw_error;
	uint64_t comwait_stores;
	uint64_t iotlb_inval;		/* entries dropped by commands */
	uint64_t dev_iotlb_inval;
	uint64_t prefetch_pages;
	uint64_t logged[AMD_RING_NR];	/* EVT and PPR */
	uint64_t dropped[AMD_RING_NR];
	uint64_t overflows[AMD_RING_NR];
	uint64_t ppr_rejected;		/* PPREn or PPRLogRun off */
	uint64_t ppr_untracked;		/* logged, table full */
	uint64_t ppr_cpl_matched;
	uint64_t ppr_cpl_unmatched;
	uint32_t ppr_pending;		/* request groups awaiting completion */
	uint64_t msi[AMD_IRQ_NR];
	uint64_t host_faults;
	uint64_t last_fault_gpa;
	uint64_t last_illegal_gpa;
};

void amd_hw_ring_info(struct amd_hw *hw, enum amd_ring ring,
		      struct amd_ring_info *info);
void amd_hw_stats(struct amd_hw *hw, struct amd_hw_stats *st);
/* The status register as the guest reads it. */
uint64_t amd_hw_status(struct amd_hw *hw);

#endif
