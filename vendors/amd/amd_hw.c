/*
 * The AMD vIOMMU hardware model: one guest's command-buffer consumer and
 * event/PPR-log producers over rings in guest RAM, driven through the VF
 * page (guest registers, plain memory) and VFCTRL (host control).  Guest
 * registers are untrusted input that the model samples with acquire
 * loads: an out-of-range value is ignored (VirtualBox does the same), a
 * register the model owns is only ever published by it.  Every ring
 * access goes through the provider by GPA, a 4 KiB page at a time where
 * the provider offers a direct view of the page (struct amd_hw_page_ops,
 * held across one page's worth of commands, or of a burst's log entries)
 * and one 16-byte entry at a time otherwise, so a ring need not be
 * contiguous and an unmapped page is a contained fault that stops only
 * the ring it hit.  Log entries, lone or in bursts, all go through one
 * writer, log_write().  Interrupts, PPR
 * responses and forwarding hooks are collected under the lock and
 * delivered after it is dropped, so a callback may call back into the
 * model.  Settings
 * (amd_cfg.c) and the modelled caches (amd_cache.c) live apart; the state
 * they share with this file is in amd_hw_private.h.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "sim/lib/fault.h"
#include "sim/lib/trace.h"
#include "vendors/amd/amd_hw.h"
#include "vendors/amd/amd_hw_private.h"

#define hw_trace(hw, point, ...)                                          \
	do {                                                               \
		if ((hw)->tr)                                              \
			isim_trace((hw)->tr, point, __VA_ARGS__);          \
	} while (0)

/* One test, once per run of commands, instead of one per trace point. */
static inline bool hw_tracing(const struct amd_hw *hw)
{
	return hw->tr && atomic_load_explicit(&hw->tr->enabled,
					      memory_order_relaxed);
}

/* Commands whose cmd_exec hook calls one locked section may collect. */
#define DEFER_EXEC_MAX	32

/*
 * Work a locked section leaves for after the unlock.  @exec is NULL where
 * no command can run (the log producers, the host-side calls); the engine
 * points it at room for DEFER_EXEC_MAX commands when there is a cmd_exec
 * hook to feed.
 */
struct defer {
	unsigned int irq[AMD_IRQ_NR];
	bool rsp;
	unsigned int nexec;
	struct amd_cmd *exec;
	struct amd_ppr_response ppr;
	unsigned int nfault;
	struct {
		uint64_t gpa;
		bool write;
	} fault[2];
};

/*
 * An empty deferral: the counts zeroed, and nothing else, since @ppr and
 * @fault are read only as far as @rsp and @nfault say.  For the hot
 * entry points, where zeroing the whole struct is a string store whose
 * start-up alone costs more than a log entry.
 */
static inline void defer_init(struct defer *d)
{
	for (unsigned int i = 0; i < AMD_IRQ_NR; i++)
		d->irq[i] = 0;
	d->rsp = false;
	d->nexec = 0;
	d->exec = NULL;
	d->nfault = 0;
}

static const struct ring_desc {
	unsigned int head_reg, tail_reg, vfctrl_off;
	uint64_t run_bit, ovf_bit, int_bit;
	enum amd_irq_src irq;
	uint32_t flag_mask;
	const char *name;
} ring_desc[AMD_RING_NR] = {
	[AMD_RING_CMD] = { AMD_VF_CMD_HEAD, AMD_VF_CMD_TAIL, AMD_VFCTRL_OFF_CMD,
			   AMD_STS_CMD_RUN, 0, AMD_STS_COMWAIT_INT,
			   AMD_IRQ_COMWAIT, 0x0300, "cmd" },
	[AMD_RING_EVT] = { AMD_VF_EVT_HEAD, AMD_VF_EVT_TAIL, AMD_VFCTRL_OFF_EVT,
			   AMD_STS_EVT_RUN, AMD_STS_EVT_OVERFLOW, AMD_STS_EVT_INT,
			   AMD_IRQ_EVT, 0x0f00, "evt" },
	[AMD_RING_PPR] = { AMD_VF_PPR_HEAD, AMD_VF_PPR_TAIL, AMD_VFCTRL_OFF_PPR,
			   AMD_STS_PPR_RUN, AMD_STS_PPR_OVERFLOW, AMD_STS_PPR_INT,
			   AMD_IRQ_PPR, 0xff00, "ppr" },
};

/* ------------------------------------------------ registers and status */

static inline _Atomic uint64_t *reg(struct amd_hw *hw, unsigned int off)
{
	return amd_vf_reg(hw->vf, off);
}

static inline uint64_t status(struct amd_hw *hw)
{
	return atomic_load_explicit(reg(hw, AMD_VF_STATUS), memory_order_acquire);
}

static inline void status_set(struct amd_hw *hw, uint64_t bits)
{
	atomic_fetch_or_explicit(reg(hw, AMD_VF_STATUS), bits,
				 memory_order_release);
}

static inline void status_clear(struct amd_hw *hw, uint64_t bits)
{
	atomic_fetch_and_explicit(reg(hw, AMD_VF_STATUS), ~bits,
				  memory_order_release);
}

/* A guest-written pointer register; out of range means "ignored". */
static bool sample_ptr(struct amd_hw *hw, unsigned int off, uint32_t size,
		       uint32_t *ptr)
{
	uint64_t v = atomic_load_explicit(reg(hw, off), memory_order_acquire);

	v &= AMD_PTR_MASK;
	if (v >= size)
		return false;
	*ptr = (uint32_t)v;
	return true;
}

static inline void publish_ptr(struct amd_hw *hw, unsigned int off, uint32_t v)
{
	atomic_store_explicit(reg(hw, off), v, memory_order_release);
}

static inline uint64_t *vfctrl_word(struct amd_hw *hw, enum amd_ring ring)
{
	return &hw->vfctrl[ring_desc[ring].vfctrl_off / 8];
}

static inline uint32_t ring_flags(struct amd_hw *hw, enum amd_ring ring)
{
	return (uint32_t)(*vfctrl_word(hw, ring) & ring_desc[ring].flag_mask);
}

static void set_run(struct amd_hw *hw, enum amd_ring ring, bool on)
{
	const struct ring_desc *rd = &ring_desc[ring];
	struct ring_state *r = &hw->ring[ring];

	/*
	 * On a stop the pointer the IOMMU owns (the command head, a log's
	 * tail) reads back as the IOMMU has it: a software write to it while
	 * the ring ran, which the hardware ignores, must not be taken up at
	 * the next enable.  (The VF page is plain memory, which cannot refuse
	 * a store; this undoes it at the point where it would matter.)
	 */
	if (r->run && !on)
		publish_ptr(hw, ring == AMD_RING_CMD ? rd->head_reg :
						       rd->tail_reg,
			    ring == AMD_RING_CMD ? r->head : r->tail);
	r->run = on;
	if (on)
		status_set(hw, ring_desc[ring].run_bit);
	else
		status_clear(hw, ring_desc[ring].run_bit);
}

static void raise_irq(struct amd_hw *hw, enum amd_ring ring, struct defer *d)
{
	enum amd_irq_src src = ring_desc[ring].irq;

	/* The status bit is set regardless; IntEn gates only the MSI. */
	if (ring_flags(hw, ring) & AMD_VFCTRL_INT_EN) {
		d->irq[src]++;
		hw->st.msi[src]++;
	}
}

static void host_fault(struct amd_hw *hw, uint64_t gpa, bool write,
		       struct defer *d)
{
	hw->st.host_faults++;
	hw->st.last_fault_gpa = gpa;
	if (d->nfault < 2) {
		d->fault[d->nfault].gpa = gpa;
		d->fault[d->nfault++].write = write;
	}
	hw_trace(hw, "amd.fault", "gid=%u gpa=%#llx write=%d", hw->cfg.gid,
		 (unsigned long long)gpa, write);
}

static void defer_run(struct amd_hw *hw, const struct defer *d)
{
	for (unsigned int i = 0; i < d->nexec; i++)
		hw->ops.cmd_exec(hw->ops_arg, &d->exec[i]);
	if (d->rsp && hw->ops.ppr_response)
		hw->ops.ppr_response(hw->ops_arg, &d->ppr);
	for (unsigned int i = 0; i < d->nfault; i++)
		if (hw->ops.host_fault)
			hw->ops.host_fault(hw->ops_arg, hw->cfg.trans_devid,
					   d->fault[i].gpa, d->fault[i].write);
	for (int src = 0; src < AMD_IRQ_NR; src++)
		for (unsigned int n = d->irq[src]; n && hw->ops.irq; n--)
			hw->ops.irq(hw->ops_arg, (enum amd_irq_src)src);
}

/* ------------------------------------------------------ log producers */

static int entry_write(struct amd_hw *hw, uint64_t gpa,
		       const struct amd_entry *e, bool split)
{
	uint8_t b[AMD_ENTRY_SIZE];
	int rc;

	amd_entry_to_bytes(e, b);
	if (!split)
		return isim_hw_write(&hw->mem, gpa, b, sizeof(b));
	/* The code lives in q0: write it last so a poller sees whole entries. */
	rc = isim_hw_write(&hw->mem, gpa + 8, b + 8, 8);
	return rc ? rc : isim_hw_write(&hw->mem, gpa, b, 8);
}

static void log_fault(struct amd_hw *hw, enum amd_ring ring, uint64_t gpa,
		      struct defer *d)
{
	/* The log itself is broken: nothing guest-visible can report it. */
	set_run(hw, ring, false);
	hw->st.dropped[ring]++;
	host_fault(hw, gpa, true, d);
}

static void late_flush(struct amd_hw *hw, enum amd_ring ring, struct defer *d)
{
	struct ring_state *r = &hw->ring[ring];

	for (unsigned int i = 0; i < r->nlate; i++) {
		if (entry_write(hw, r->late[i].gpa, &r->late[i].e, true)) {
			log_fault(hw, ring, r->late[i].gpa, d);
			break;
		}
	}
	r->nlate = 0;
}

/*
 * Where a burst's entries come from: decoded events, encoded as they are
 * written, or entries encoded already (a PPR request).
 */
struct log_src {
	const struct amd_event *ev;
	const struct amd_entry *e;
};

/*
 * The events the inline encoder leaves, out of line (see log_src_get);
 * one that does not encode, code 0 included, comes back with code 0.
 */
static __attribute__((noinline)) struct amd_entry
event_encode_slow(const struct amd_event *ev)
{
	struct amd_entry e = { 0, 0 };

	if (!ev->code || amd_event_encode_full(ev, &e))
		return (struct amd_entry){ 0, 0 };
	return e;
}

/*
 * Entry @i of @s, code 0 when it is an event that does not encode (code 0
 * is what a consumer takes for "not written yet", so no event has it).
 * Returned by value: an entry whose address went to the out-of-line
 * encoder would live in memory for every entry, and writing it out would
 * reload it through a store-forwarding stall.
 */
static inline struct amd_entry log_src_get(const struct log_src *s,
					   unsigned int i)
{
	struct amd_entry e;

	if (!s->ev)
		return s->e[i];
	if (amd_event_encode_fast(&s->ev[i], &e))
		return e;
	return event_encode_slow(&s->ev[i]);
}

static bool log_src_valid(const struct log_src *s, unsigned int i)
{
	struct amd_entry e = log_src_get(s, i);

	return amd_entry_code(&e);
}

/* Slots free between the tail and the head last sampled; one stays empty. */
static inline unsigned int log_room(const struct ring_state *r)
{
	return ((r->head - r->tail - AMD_ENTRY_SIZE) & (r->size - 1)) /
	       AMD_ENTRY_SIZE;
}

/* What stopped log_fill() short of the count it was given. */
struct log_stop {
	bool invalid;		/* an event that does not encode */
	uint64_t fault;		/* else the GPA a write failed at, or */
	bool reported;		/* a fault already reported */
};

#define NO_FAULT	UINT64_MAX

/* One page's share of a burst, for log_run_page(). */
struct log_run {
	const struct log_src *src;
	unsigned int first;	/* index in @src of the entry at @off */
	uint32_t off;		/* byte offset of the tail in its page */
	unsigned int count;
	unsigned int done;
	bool ran;
};

/*
 * The provider holds the page's translation for us: write the entries
 * straight into it.  Their slots lie between the tail and a head sampled
 * with acquire, so the guest is done with them (it zeroed them before it
 * gave them back with that head) and reads none of them before the tail,
 * published with release after this run, passes it.
 */
static int log_run_page(void *arg, uint8_t *page)
{
	struct log_run *run = arg;
	/* Copies: the compiler cannot tell the ring stores leave them be. */
	const struct amd_event *ev = run->src->ev;
	const struct amd_entry *src = run->src->e;
	uint8_t *start = page + run->off, *p = start;
	uint8_t *end = start + run->count * AMD_ENTRY_SIZE;
	/* Where the entries taken two at a time end. */
	uint8_t *pairs = start + (run->count & ~1u) * AMD_ENTRY_SIZE;
	struct amd_entry e;

	/*
	 * Each entry is built in registers and goes into the ring in one
	 * store; the source kind is tested once, not per entry, and the
	 * slot pointer steps with the source, no index to scale.
	 */
	if (ev) {
		/*
		 * Two at a time while both take the inline encoder: half the
		 * loop overhead per entry.  The first that does not, or an
		 * odd last one, goes to the loop below, which takes it alone.
		 */
		uint64_t reject = AMD_EVT_FAST_REJECT;
		uint64_t domid = AMD_EVT_FAST_DOMID, code = AMD_EVT_FAST_CODE;

		/* Built once, kept in registers for the loop. */
		AMD_QWORD_IN_REG(reject);
		AMD_QWORD_IN_REG(domid);
		AMD_QWORD_IN_REG(code);
		for (ev += run->first; p != pairs;
		     p += 2 * AMD_ENTRY_SIZE, ev += 2) {
			struct amd_entry e1;

			if (!amd_event_encode_fast_k(ev, &e, reject, domid,
						     code) ||
			    !amd_event_encode_fast_k(ev + 1, &e1, reject,
						     domid, code))
				break;
			amd_entry_store(e.q0, e.q1, p);
			amd_entry_store(e1.q0, e1.q1, p + AMD_ENTRY_SIZE);
		}
		for (; p != end; p += AMD_ENTRY_SIZE, ev++) {
			if (!amd_event_encode_fast(ev, &e)) {
				e = event_encode_slow(ev);
				if (!amd_entry_code(&e))
					break;
			}
			amd_entry_store(e.q0, e.q1, p);
		}
	} else {
		for (src += run->first; p != end; p += AMD_ENTRY_SIZE, src++) {
			e = *src;
			if (!amd_entry_code(&e))
				break;
			amd_entry_store(e.q0, e.q1, p);
		}
	}
	run->done = (unsigned int)(p - start) / AMD_ENTRY_SIZE;
	run->ran = true;
	return 0;
}

/*
 * Write up to @k entries of @src, from @first, at the tail: all in the
 * tail's page, which the caller has room for.  In place under one
 * translation where the provider offers a direct view; else (no view, or
 * no translation) one by one through isim_hw_mem, whose failure is the
 * fault a lone entry meets, left in @stop for the caller to report once
 * the entries before it are published; with late_entry_visibility held
 * back (@k is 1 then), failing when making room for it found the log
 * broken.  Returns how many were written; fewer than @k says why in @stop.
 */
static unsigned int log_fill(struct amd_hw *hw, enum amd_ring ring,
			     const struct log_src *src, unsigned int first,
			     unsigned int k, struct log_stop *stop,
			     struct defer *d)
{
	struct ring_state *r = &hw->ring[ring];
	uint64_t gpa = r->base + r->tail;
	struct log_run run = {
		.src = src, .first = first, .count = k,
		.off = r->tail % AMD_HW_PAGE_SIZE,
	};
	struct amd_entry e;
	unsigned int i;

	if (hw->page.access && !hw->cfg.late_entry_visibility) {
		hw->page.access(hw->page.ctx, gpa - run.off, true, log_run_page,
				&run);
		if (run.ran) {
			stop->invalid = run.done < k;
			return run.done;
		}
	}
	for (i = 0; i < k; i++) {
		e = log_src_get(src, first + i);
		if (!amd_entry_code(&e)) {
			stop->invalid = true;
			break;
		}
		if (hw->cfg.late_entry_visibility) {
			if (r->nlate == AMD_LATE_MAX)
				late_flush(hw, ring, d);
			if (!r->run) {
				stop->reported = true;
				break;
			}
			r->late[r->nlate].gpa = gpa;
			r->late[r->nlate++].e = e;
		} else if (entry_write(hw, gpa + i * AMD_ENTRY_SIZE, &e,
				       false)) {
			stop->fault = gpa + i * AMD_ENTRY_SIZE;
			break;
		}
	}
	return i;
}

/*
 * The one log writer: @n entries of @src into @ring, in order, each meeting
 * the log exactly as a lone entry would at its turn (spec §6.3): dropped
 * while the log is stopped or in overflow; on a full log dropped with the
 * overflow raised (and the log stopped per overflow_stops_run); else
 * written at the tail, which wraps before it is published.  Once one is
 * dropped the log is stopped or in overflow, so the rest are dropped, and
 * counted.  The head is sampled when the room last seen runs out, as a
 * lone entry finding the log full would sample it; each page of the log
 * is reached once (log_fill), its entries published with one tail store
 * and EventLogInt (PPRInt) set after it.  The MSI is raised once, for the
 * whole burst, if any entry was logged or overflowed.  An event that does
 * not encode ends the burst before it: it and those after it are neither
 * logged nor counted, as a lone one would not be.  Returns 0 when all were
 * logged, else what the first one not logged met: -EAGAIN, -ENOSPC,
 * -EFAULT or -EINVAL; *@logged (may be NULL) counts the logged ones, which
 * are the first.
 */
static int log_write(struct amd_hw *hw, enum amd_ring ring,
		     const struct log_src *src, unsigned int n,
		     unsigned int *logged, struct defer *d)
{
	const struct ring_desc *rd = &ring_desc[ring];
	struct ring_state *r = &hw->ring[ring];
	unsigned int i = 0, room = 0, nlogged = 0, k, done;
	bool tracing = hw_tracing(hw), irq = false;
	struct log_stop stop;
	struct amd_entry e;
	int rc = 0;

	while (i < n) {
		if (!r->run || status(hw) & rd->ovf_bit) {
			rc = -EAGAIN;
			break;
		}
		if (!room) {
			sample_ptr(hw, rd->head_reg, r->size, &r->head);
			room = log_room(r);
		}
		if (!room) {
			if (!log_src_valid(src, i)) {
				rc = -EINVAL;
				break;
			}
			/* Full: drop, never overwrite an unconsumed entry. */
			status_set(hw, rd->ovf_bit);
			if (hw->cfg.overflow_stops_run)
				set_run(hw, ring, false);
			hw->st.overflows[ring]++;
			hw->st.dropped[ring]++;
			irq = true;
			rc = -ENOSPC;
			i++;
			break;
		}
		k = (AMD_HW_PAGE_SIZE - r->tail % AMD_HW_PAGE_SIZE) /
		    AMD_ENTRY_SIZE;
		if (k > room)
			k = room;
		if (k > n - i)
			k = n - i;
		if (hw->cfg.late_entry_visibility)
			k = 1;
		stop = (struct log_stop){ .fault = NO_FAULT };
		done = log_fill(hw, ring, src, i, k, &stop, d);
		if (done) {
			uint32_t tail = r->tail, mask = r->size - 1;

			/* Wrapped before it is published: never SIZE. */
			r->tail = (tail + done * AMD_ENTRY_SIZE) & mask;
			publish_ptr(hw, rd->tail_reg, r->tail);
			status_set(hw, rd->int_bit);
			hw->st.logged[ring] += done;
			nlogged += done;
			irq = true;
			for (unsigned int j = 0; tracing && j < done; j++) {
				e = log_src_get(src, i + j);
				tail = (tail + AMD_ENTRY_SIZE) & mask;
				isim_trace(hw->tr, "amd.log",
					   "gid=%u ring=%s code=%u tail=%#x",
					   hw->cfg.gid, rd->name,
					   amd_entry_code(&e), tail);
			}
			i += done;
			room -= done;
		}
		if (done == k)
			continue;
		if (stop.invalid) {
			rc = -EINVAL;
			break;
		}
		/* A fault, which stopped the log. */
		if (!stop.reported)
			log_fault(hw, ring, stop.fault, d);
		rc = -EFAULT;
		i++;
		break;
	}
	/*
	 * Each later entry would find the log stopped or in overflow, up to
	 * the first that does not encode; if that is the one at @i, it is
	 * what the burst ends on.
	 */
	if (rc == -EAGAIN && !log_src_valid(src, i))
		rc = -EINVAL;
	for (; rc && rc != -EINVAL && i < n && log_src_valid(src, i); i++)
		hw->st.dropped[ring]++;
	if (irq)
		raise_irq(hw, ring, d);
	if (logged)
		*logged = nlogged;
	return rc;
}

static int post_event(struct amd_hw *hw, const struct amd_event *ev,
		      struct defer *d)
{
	return log_write(hw, AMD_RING_EVT, &(struct log_src){ .ev = ev }, 1,
			 NULL, d);
}

int amd_hw_events(struct amd_hw *hw, const struct amd_event *ev,
		  unsigned int n, unsigned int *logged)
{
	struct defer d;
	int rc;

	defer_init(&d);
	if (logged)
		*logged = 0;
	if (!n)
		return 0;
	pthread_mutex_lock(&hw->lock);
	rc = log_write(hw, AMD_RING_EVT, &(struct log_src){ .ev = ev }, n,
		       logged, &d);
	pthread_mutex_unlock(&hw->lock);
	defer_run(hw, &d);
	return rc;
}

int amd_hw_event(struct amd_hw *hw, const struct amd_event *ev)
{
	return amd_hw_events(hw, ev, 1, NULL);
}

int amd_hw_io_page_fault(struct amd_hw *hw, uint16_t devid, uint16_t domid,
			 uint32_t pasid, uint64_t addr, uint16_t flags)
{
	struct amd_event ev = { .code = AMD_EVT_IO_PAGE_FAULT, .devid = devid,
				.domid = domid, .pasid = pasid,
				.flags = flags, .addr = addr };

	return amd_hw_events(hw, &ev, 1, NULL);
}

int amd_hw_illegal_dte(struct amd_hw *hw, uint16_t devid, uint32_t pasid,
		       uint64_t addr, uint16_t flags)
{
	struct amd_event ev = { .code = AMD_EVT_ILLEGAL_DEV_TABLE_ENTRY,
				.devid = devid, .pasid = pasid,
				.flags = flags, .addr = addr };

	return amd_hw_events(hw, &ev, 1, NULL);
}

static void ppr_track(struct amd_hw *hw, const struct amd_ppr *req)
{
	for (unsigned int i = 0; i < hw->ngroups; i++) {
		const struct ppr_group *g = &hw->groups[i];

		/* Requests of one group share one response. */
		if (g->devid == req->devid && g->prgi == req->prgi &&
		    g->pasid == req->pasid)
			return;
	}
	if (hw->ngroups == hw->cfg.ppr_pending_max) {
		hw->st.ppr_untracked++;
		return;
	}
	hw->groups[hw->ngroups++] = (struct ppr_group){
		.devid = req->devid, .prgi = req->prgi, .pasid = req->pasid,
	};
}

int amd_hw_ppr_request(struct amd_hw *hw, const struct amd_ppr *req)
{
	struct defer d = { 0 };
	struct amd_entry e;
	struct amd_event ev;
	int rc = amd_ppr_encode(req, &e);

	if (rc)
		return rc;
	pthread_mutex_lock(&hw->lock);
	if (!(hw->cfg.efr & AMD_EFR_PPR_SUP) ||
	    !(ring_flags(hw, AMD_RING_PPR) & AMD_VFCTRL_PPR_EN) ||
	    !hw->ring[AMD_RING_PPR].run) {
		hw->st.ppr_rejected++;
		if (hw->cfg.invalid_ppr_event_when_disabled) {
			amd_ppr_to_event(req, &ev);
			post_event(hw, &ev, &d);
		}
		rc = -EAGAIN;
	} else {
		rc = log_write(hw, AMD_RING_PPR,
			       &(struct log_src){ .e = &e }, 1, NULL, &d);
		if (!rc)
			ppr_track(hw, req);
	}
	pthread_mutex_unlock(&hw->lock);
	defer_run(hw, &d);
	return rc;
}

/* -------------------------------------------------- command consumer */

static bool cmd_legal(struct amd_hw *hw, const struct amd_entry *e,
		      struct amd_cmd *c)
{
	uint64_t efr = hw->cfg.efr;

	if (amd_cmd_decode(e, &hw->fmt, c))
		return false;
	switch (c->op) {
	case AMD_CMD_COMPLETION_WAIT:
		return !(c->comp_wait.f &&
			 hw->cfg.comwait_f_bit == AMD_COMWAIT_F_ILLEGAL);
	case AMD_CMD_INV_IOMMU_PAGES:
		return !c->inv_pages.gn || efr & AMD_EFR_GT_SUP;
	case AMD_CMD_INV_IOTLB_PAGES:
		return hw->cfg.iotlb_sup &&
		       (!c->inv_iotlb.gn || efr & AMD_EFR_GT_SUP);
	case AMD_CMD_PREFETCH_IOMMU_PAGES:
		return efr & AMD_EFR_PREF_SUP;
	case AMD_CMD_COMPLETE_PPR_REQUEST:
		return efr & AMD_EFR_PPR_SUP;
	case AMD_CMD_INV_IOMMU_ALL:
		return efr & AMD_EFR_IA_SUP;
	case AMD_CMD_RESET_VMMIO:
		/* Host-only: it would reset any gid's state. */
		return hw->cfg.guest_opcode_0xa == AMD_GUEST_0XA_NOP;
	default:
		return true;
	}
}

static void ppr_complete(struct amd_hw *hw, const struct amd_cmd *c,
			 struct defer *d)
{
	struct amd_ppr_response *rsp = &d->ppr;

	*rsp = (struct amd_ppr_response){
		.devid = c->complete_ppr.devid, .pasid = c->complete_ppr.pasid,
		.gn = c->complete_ppr.gn, .prgi = c->complete_ppr.tag,
		.raw_status = c->complete_ppr.status,
		.status = amd_ppr_status_decode(hw->cfg.ppr_status_encoding,
						c->complete_ppr.status),
	};
	for (unsigned int i = 0; i < hw->ngroups; i++) {
		const struct ppr_group *g = &hw->groups[i];

		/* Without GN the response names no PASID to match on. */
		if (g->devid == rsp->devid && g->prgi == rsp->prgi &&
		    (!rsp->gn || g->pasid == rsp->pasid)) {
			hw->groups[i] = hw->groups[--hw->ngroups];
			rsp->matched = true;
			break;
		}
	}
	if (rsp->matched)
		hw->st.ppr_cpl_matched++;
	else
		hw->st.ppr_cpl_unmatched++;
	d->rsp = true;
}

/* Execute a legal command; -EFAULT when its completion store failed. */
static int cmd_exec(struct amd_hw *hw, const struct amd_cmd *c,
		    struct defer *d)
{
	uint8_t b[8];

	switch (c->op) {
	case AMD_CMD_COMPLETION_WAIT:
		/* Sequential execution already made earlier effects visible. */
		if (c->comp_wait.s) {
			for (int i = 0; i < 8; i++)
				b[i] = (uint8_t)(c->comp_wait.store_data >> (8 * i));
			if (isim_hw_write(&hw->mem, c->comp_wait.store_addr,
					  b, sizeof(b)))
				return -EFAULT;
			hw->st.comwait_stores++;
		}
		if (c->comp_wait.i) {
			status_set(hw, AMD_STS_COMWAIT_INT);
			raise_irq(hw, AMD_RING_CMD, d);
		}
		break;
	case AMD_CMD_INV_DEVTAB_ENTRY:
		devid_set(&hw->dte_cache, c->inv_dte.devid, false);
		break;
	case AMD_CMD_INV_INTERRUPT_TABLE:
		devid_set(&hw->irt_cache, c->inv_irt.devid, false);
		break;
	case AMD_CMD_INV_IOMMU_PAGES:
		amd_cache_inv_iommu_pages(hw, c);
		break;
	case AMD_CMD_INV_IOTLB_PAGES:
		amd_cache_inv_iotlb_pages(hw, c);
		break;
	case AMD_CMD_PREFETCH_IOMMU_PAGES:
		/* A hint: nothing to fetch into without a DTE walk. */
		hw->st.prefetch_pages += c->prefetch.count;
		break;
	case AMD_CMD_COMPLETE_PPR_REQUEST:
		ppr_complete(hw, c, d);
		break;
	case AMD_CMD_INV_IOMMU_ALL:
		hw->st.iotlb_inval += hw->ntlb;
		hw->ntlb = 0;
		devid_clear_all(&hw->dte_cache);
		devid_clear_all(&hw->irt_cache);
		break;
	default:
		break;
	}
	return 0;
}

/*
 * Move the command head the model owns and show it to the guest: release,
 * so the guest, which may reuse a slot once the head has passed it, sees
 * every effect of the commands before it.
 */
static void cmd_set_head(struct amd_hw *hw, uint32_t head)
{
	hw->ring[AMD_RING_CMD].head = head;
	atomic_store_explicit(&hw->cmd_head_seen, head, memory_order_relaxed);
	publish_ptr(hw, AMD_VF_CMD_HEAD, head);
}

static void cmd_advance(struct amd_hw *hw)
{
	struct ring_state *r = &hw->ring[AMD_RING_CMD];

	cmd_set_head(hw, (r->head + AMD_ENTRY_SIZE) & (r->size - 1));
}

/* Record a legal command for the cmd_exec hook, if there is one. */
static inline void defer_exec(struct defer *d, const struct amd_cmd *c)
{
	if (d->exec)
		d->exec[d->nexec++] = *c;
}

/*
 * Stop the buffer, then log @code against @addr: a guest that sees the
 * event already sees CmdBufRun=0 and the head where it stays.
 */
static void cmd_halt(struct amd_hw *hw, uint8_t code, uint64_t addr,
		     bool past, struct defer *d)
{
	struct amd_event ev = { .code = code, .addr = addr };

	if (code == AMD_EVT_COMMAND_HW_ERROR)
		ev.flags = AMD_EVT_F_TYPE(AMD_HWERR_TARGET_ABORT);
	if (past)
		cmd_advance(hw);
	set_run(hw, AMD_RING_CMD, false);
	post_event(hw, &ev, d);
	hw_trace(hw, "amd.cmd.halt", "gid=%u code=%u addr=%#llx head=%#x",
		 hw->cfg.gid, code, (unsigned long long)addr,
		 hw->ring[AMD_RING_CMD].head);
}

/*
 * Take the command at the head, which the caller knows is there (head !=
 * the tail it sampled, buffer running).  @fetched is that entry when a
 * page run already read it; else it is fetched through the provider.
 * This is the path of every command that touches guest memory, logs an
 * event or stops the buffer, and of every command whose page has no
 * direct view.
 */
static void cmd_one(struct amd_hw *hw, struct defer *d,
		    const struct amd_entry *fetched)
{
	struct ring_state *r = &hw->ring[AMD_RING_CMD];
	bool past = hw->cfg.illegal_cmd_head == AMD_HEAD_PAST_FAULT;
	uint8_t b[AMD_ENTRY_SIZE];
	struct amd_entry e;
	struct amd_cmd c;
	uint64_t gpa;

	gpa = r->base + r->head;
	if (fetched) {
		e = *fetched;
	} else if (isim_hw_read(&hw->mem, gpa, b, sizeof(b))) {
		hw->st.cmd_hw_error++;
		host_fault(hw, gpa, false, d);
		cmd_halt(hw, AMD_EVT_COMMAND_HW_ERROR, gpa, false, d);
		return;
	} else {
		amd_entry_from_bytes(&e, b);
	}
	if (!cmd_legal(hw, &e, &c)) {
		hw->st.cmd_illegal++;
		hw->st.last_illegal_gpa = gpa;
		cmd_halt(hw, AMD_EVT_ILLEGAL_COMMAND_ERROR, gpa, past, d);
		return;
	}
	if (cmd_exec(hw, &c, d)) {
		hw->st.cmd_hw_error++;
		host_fault(hw, c.comp_wait.store_addr, true, d);
		cmd_halt(hw, AMD_EVT_COMMAND_HW_ERROR, c.comp_wait.store_addr,
			 past, d);
		return;
	}
	hw->st.cmd_exec[c.op]++;
	defer_exec(d, &c);
	cmd_advance(hw);
	hw_trace(hw, "amd.cmd", "gid=%u op=%u head=%#x", hw->cfg.gid,
		 (unsigned int)c.op, r->head);
}

/*
 * Opcodes the page run executes in place.  Their whole effect stays in
 * the model (its caches and counters): no guest memory, no event, no
 * callback but cmd_exec, and they cannot fail once decoded as legal.
 * COMPLETION_WAIT, COMPLETE_PPR_REQUEST, RESET_VMMIO and opcodes without
 * a format end a run and go through cmd_one(), as does a command of these
 * opcodes that is illegal, so every error is raised by one piece of code.
 */
#define CMD_IN_PLACE	(1u << AMD_CMD_INV_DEVTAB_ENTRY |		\
			 1u << AMD_CMD_INV_IOMMU_PAGES |		\
			 1u << AMD_CMD_INV_IOTLB_PAGES |		\
			 1u << AMD_CMD_INV_INTERRUPT_TABLE |		\
			 1u << AMD_CMD_PREFETCH_IOMMU_PAGES |		\
			 1u << AMD_CMD_INV_IOMMU_ALL)

struct cmd_run {
	struct amd_hw *hw;
	struct defer *d;
	uint32_t head;		/* ring offset of the first entry */
	unsigned int limit;	/* entries up to the page's end, at most */
	unsigned int done;	/* entries executed */
	bool stopped;		/* at @stop, an entry for cmd_one() */
	struct amd_entry stop;
};

/* Entries of the run that lie before the tail the model sampled last. */
static unsigned int run_avail(const struct ring_state *r,
			      const struct cmd_run *run)
{
	uint32_t pos = run->head + run->done * AMD_ENTRY_SIZE;
	unsigned int n;

	if (r->tail == pos)
		return run->done;
	if (r->tail < pos)	/* the tail wrapped: up to the end */
		return run->limit;
	n = run->done + (r->tail - pos) / AMD_ENTRY_SIZE;
	return n < run->limit ? n : run->limit;
}

/*
 * The provider holds the page's translation for us: read the entries
 * straight from it.  They lie between the head and a tail sampled with
 * acquire, so the guest wrote them before that tail and does not touch
 * them again until the head, published after this run, passes them.  On
 * reaching that tail inside the page the tail is sampled once more: a
 * guest that rings its doorbell every few commands is then followed
 * under the same translation instead of one lock hold per doorbell.
 */
/* INVALIDATE_DEVTAB_ENTRY or _INTERRUPT_TABLE with no reserved bit set. */
static inline bool devid_only_legal(unsigned int op, const struct amd_entry *e)
{
	/*
	 * No feature gates either, so they are legal exactly when no
	 * reserved bit is set: checked on the spot, no decode.
	 */
	return (op == AMD_CMD_INV_DEVTAB_ENTRY ||
		op == AMD_CMD_INV_INTERRUPT_TABLE) &&
	       !(e->q0 & AMD_CMD_DEVID_RSVD0) && !e->q1;
}

static inline void devid_only_exec(struct amd_hw *hw, unsigned int op,
				   const struct amd_entry *e)
{
	devid_set(op == AMD_CMD_INV_DEVTAB_ENTRY ? &hw->dte_cache :
						    &hw->irt_cache,
		  (uint16_t)e->q0, false);
}

/*
 * One in-place command the general way: decoded in full where needed
 * (straight into the cmd_exec record when there is one), counted and
 * traced.  False when the run must stop at it.  Out of line, so that the
 * loop around it keeps its registers.
 */
static __attribute__((noinline)) bool
run_one(struct cmd_run *run, const struct amd_entry *e, unsigned int done,
	bool tracing)
{
	struct amd_hw *hw = run->hw;
	struct defer *d = run->d;
	unsigned int op = amd_entry_code(e);
	struct amd_cmd c, *cp = d->exec ? &d->exec[d->nexec] : &c;

	if (devid_only_legal(op, e)) {
		devid_only_exec(hw, op, e);
		if (d->exec)
			amd_cmd_decode(e, &hw->fmt, cp);
	} else if (!(CMD_IN_PLACE >> op & 1) || !cmd_legal(hw, e, cp)) {
		return false;
	} else {
		cmd_exec(hw, cp, d);
	}
	hw->st.cmd_exec[op]++;
	if (d->exec)
		d->nexec++;
	if (tracing)
		isim_trace(hw->tr, "amd.cmd", "gid=%u op=%u head=%#x",
			   hw->cfg.gid, op,
			   (run->head + (done + 1) * AMD_ENTRY_SIZE) &
			   (hw->ring[AMD_RING_CMD].size - 1));
	return true;
}

/*
 * The hot loop: DeviceID-only commands from @done up to @max, no call,
 * invalidating their cache bits when @exec, the IRT ones counted into
 * *@nirt.  Returns where it stopped.  The entries and counters stay in
 * registers: one counter bumped in memory per command would chain each
 * iteration to the last, so the caller adds them to the stats once.
 */
static inline __attribute__((always_inline)) unsigned int
devid_run(struct amd_hw *hw, const uint8_t *base, unsigned int done,
	  unsigned int max, unsigned int *nirt, bool exec)
{
	unsigned int n = 0, op;
	struct amd_entry h;	/* never escapes: registers */

	for (; done < max; done++) {
		amd_entry_from_bytes(&h, base + done * AMD_ENTRY_SIZE);
		op = amd_entry_code(&h);
		if (!devid_only_legal(op, &h))
			break;
		if (exec)
			devid_only_exec(hw, op, &h);
		n += op == AMD_CMD_INV_INTERRUPT_TABLE;
	}
	*nirt += n;
	return done;
}

static int cmd_run_page(void *arg, uint8_t *page)
{
	struct cmd_run *run = arg;
	struct amd_hw *hw = run->hw;
	struct ring_state *r = &hw->ring[AMD_RING_CMD];
	const uint8_t *base = page + run->head % AMD_HW_PAGE_SIZE;
	unsigned int done = run->done, max = run_avail(r, run);
	bool tracing = hw_tracing(hw);
	/* Neither a cmd_exec record to fill nor a trace to emit. */
	bool plain = !run->d->exec && !tracing;
	struct amd_entry e;

	for (;;) {
		if (plain) {
			/* Neither a record nor a trace: the hot loop. */
			unsigned int start = done, nirt = 0;

			/*
			 * Nothing in the loop fills a cache, so caches empty
			 * at its start stay empty: then each command is only
			 * checked and counted, without a load of its
			 * DeviceID's word (the occupancy counts say so, one
			 * load each per run).
			 */
			if (!hw->dte_cache.nset && !hw->irt_cache.nset)
				done = devid_run(hw, base, done, max, &nirt,
						 false);
			done = devid_run(hw, base, done, max, &nirt, true);
			hw->st.cmd_exec[AMD_CMD_INV_DEVTAB_ENTRY] +=
				done - start - nirt;
			hw->st.cmd_exec[AMD_CMD_INV_INTERRUPT_TABLE] += nirt;
		}
		if (done == max) {
			if (max == run->limit)
				break;
			sample_ptr(hw, AMD_VF_CMD_TAIL, r->size, &r->tail);
			run->done = done;
			max = run_avail(r, run);
			if (done == max)
				break;
			continue;
		}
		amd_entry_from_bytes(&e, base + done * AMD_ENTRY_SIZE);
		if (!run_one(run, &e, done, tracing)) {
			run->stopped = true;
			run->stop = e;
			break;
		}
		done++;
	}
	run->done = done;
	return 0;
}

/*
 * Execute the in-place commands from the head to the end of its 4 KiB
 * page, the tail or @budget, whichever comes first, under one
 * translation of the page, and publish the head once after them.  An
 * entry never straddles a page (the base is 4 KiB aligned).  Returns how
 * many ran.  A run that stops at a command it does not execute in place
 * hands that entry back in @stop (true returned in @stopped), read under
 * the same translation, for cmd_one(); with none ran and nothing handed
 * back, the page has no direct view or no translation, and cmd_one()
 * fetches (or fails to fetch) the entry itself.
 */
static unsigned int cmd_page_run(struct amd_hw *hw, unsigned int budget,
				 struct defer *d, struct amd_entry *stop,
				 bool *stopped)
{
	struct ring_state *r = &hw->ring[AMD_RING_CMD];
	uint32_t end = (r->head | (AMD_HW_PAGE_SIZE - 1)) + 1;
	struct cmd_run run = { .hw = hw, .d = d, .head = r->head };

	if (!hw->page.access)
		return 0;
	if (end > r->size)
		end = r->size;
	run.limit = (end - r->head) / AMD_ENTRY_SIZE;
	if (run.limit > budget)
		run.limit = budget;
	if (d->exec && run.limit > DEFER_EXEC_MAX - d->nexec)
		run.limit = DEFER_EXEC_MAX - d->nexec;
	if (!run.limit)
		return 0;
	/* On an error the provider did not run us, and done stays 0. */
	hw->page.access(hw->page.ctx,
			(r->base + r->head) & ~(uint64_t)(AMD_HW_PAGE_SIZE - 1),
			false, cmd_run_page, &run);
	if (run.done)
		cmd_set_head(hw, (r->head + run.done * AMD_ENTRY_SIZE) &
				 (r->size - 1));
	*stopped = run.stopped;
	*stop = run.stop;
	return run.done;
}

/*
 * One locked section of the engine: sample the tail once (acquire) and
 * consume up to @budget commands towards it, page runs where possible and
 * cmd_one() for the rest.  The section ends early after a command that
 * left work for after the unlock (an interrupt, a PPR response, a host
 * fault) so callbacks reach their listeners in command order and before
 * later commands run, as they did one command per section; and when the
 * cmd_exec record is full.  Returns how many commands were taken.
 */
static unsigned int cmd_batch(struct amd_hw *hw, unsigned int budget,
			      struct defer *d)
{
	struct ring_state *r = &hw->ring[AMD_RING_CMD];
	unsigned int done = 0, n;
	struct amd_entry e;
	bool stopped;

	if (!r->run)
		return 0;
	sample_ptr(hw, AMD_VF_CMD_TAIL, r->size, &r->tail);
	while (done < budget && r->run && r->head != r->tail) {
		if (d->exec && d->nexec == DEFER_EXEC_MAX)
			break;
		stopped = false;
		n = cmd_page_run(hw, budget - done, d, &e, &stopped);
		done += n;
		/* Stopped by the page's end, the tail or a limit: go on. */
		if (n && !stopped)
			continue;
		if (done == budget || (d->exec && d->nexec == DEFER_EXEC_MAX))
			break;
		cmd_one(hw, d, stopped ? &e : NULL);
		done++;
		if (d->rsp || d->nfault || d->irq[AMD_IRQ_EVT] ||
		    d->irq[AMD_IRQ_COMWAIT] || d->irq[AMD_IRQ_PPR])
			break;
	}
	return done;
}

/*
 * Whether a step may have anything to do, without the lock: a tail equal
 * to the head the model last set leaves nothing to consume (the locked
 * path would sample that same tail), and held-back log entries exist only
 * with late_entry_visibility.  A guest that moves the tail just after this
 * look is served by the next step, as if it had moved it just after one.
 */
static bool step_pending(struct amd_hw *hw)
{
	uint64_t tail;

	if (hw->cfg.late_entry_visibility)
		return true;
	tail = atomic_load_explicit(reg(hw, AMD_VF_CMD_TAIL),
				    memory_order_relaxed) & AMD_PTR_MASK;
	return tail != atomic_load_explicit(&hw->cmd_head_seen,
					    memory_order_relaxed);
}

unsigned int amd_hw_step(struct amd_hw *hw, unsigned int budget)
{
	struct amd_cmd exec[DEFER_EXEC_MAX];
	unsigned int done = 0, n;

	if (!budget || !step_pending(hw))
		return 0;
	do {
		struct defer d = { .exec = hw->ops.cmd_exec ? exec : NULL };

		/*
		 * A batch per lock hold: a disable waits for the batch in
		 * progress, and no command runs after it returns.
		 */
		pthread_mutex_lock(&hw->lock);
		late_flush(hw, AMD_RING_EVT, &d);
		late_flush(hw, AMD_RING_PPR, &d);
		n = cmd_batch(hw, budget - done, &d);
		pthread_mutex_unlock(&hw->lock);
		defer_run(hw, &d);
		done += n;
	} while (n && done < budget);
	return done;
}

/* ----------------------------------------------------------- the thread */

/* Commands per step of the engine thread: a few pages' worth. */
#define ENGINE_BUDGET	1024
/*
 * Idle polls before the thread yields, a microsecond or so: enough to
 * catch a guest that is between two doorbells on another CPU, short
 * enough not to burn much of a CPU the guest shares with the engine
 * (then only a yield lets the guest run and fill the ring).
 */
#define IDLE_POLLS	32
#define IDLE_SPINS	16
#define IDLE_WAIT_NS	200000

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

static void *engine_main(void *arg)
{
	struct amd_hw *hw = arg;
	unsigned int idle = 0;
	struct timespec ts;

	while (!atomic_load_explicit(&hw->stop, memory_order_acquire)) {
		if (amd_hw_step(hw, ENGINE_BUDGET)) {
			idle = 0;
			continue;
		}
		/*
		 * An idle step costs two relaxed loads, no lock: poll a while
		 * (the guest is likely mid-batch on another CPU), then yield,
		 * then sleep.
		 */
		if (++idle < IDLE_POLLS) {
			cpu_relax();
			continue;
		}
		if (idle < IDLE_POLLS + IDLE_SPINS) {
			sched_yield();
			continue;
		}
		/* The guest's tail store rings no bell: poll, or take a kick. */
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += IDLE_WAIT_NS;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_mutex_lock(&hw->lock);
		if (!hw->kicked && !atomic_load(&hw->stop))
			pthread_cond_timedwait(&hw->wake, &hw->lock, &ts);
		hw->kicked = false;
		pthread_mutex_unlock(&hw->lock);
	}
	return NULL;
}

static void kick_locked(struct amd_hw *hw)
{
	hw->kicked = true;
	pthread_cond_signal(&hw->wake);
}

void amd_hw_kick(struct amd_hw *hw)
{
	pthread_mutex_lock(&hw->lock);
	kick_locked(hw);
	pthread_mutex_unlock(&hw->lock);
}

int amd_hw_start(struct amd_hw *hw)
{
	int rc;

	if (hw->threaded)
		return -EBUSY;
	atomic_store(&hw->stop, false);
	rc = pthread_create(&hw->thread, NULL, engine_main, hw);
	if (rc)
		return -rc;
	hw->threaded = true;
	return 0;
}

void amd_hw_stop(struct amd_hw *hw)
{
	if (!hw->threaded)
		return;
	pthread_mutex_lock(&hw->lock);
	atomic_store(&hw->stop, true);
	kick_locked(hw);
	pthread_mutex_unlock(&hw->lock);
	pthread_join(hw->thread, NULL);
	hw->threaded = false;
}

/* --------------------------------------------------- host-side control */

static int size_to_len(const struct amd_hw_config *cfg, uint64_t size,
		       uint8_t *len)
{
	unsigned int min = cfg->alloc_strict_len ? AMD_LEN_MIN : 0;

	if (cfg->alloc_length_units == AMD_LENGTH_CODE) {
		/* The prototype keeps length & 0xf without looking. */
		if (!cfg->alloc_strict_len) {
			*len = size & 0xf;
			return 0;
		}
		if (size < min || size > AMD_LEN_MAX)
			return -EINVAL;
		*len = (uint8_t)size;
		return 0;
	}
	if (size & (size - 1) || size < amd_ring_bytes(min) ||
	    size > amd_ring_bytes(AMD_LEN_MAX))
		return -EINVAL;
	*len = (uint8_t)(__builtin_ctzll(size) - 4);
	return 0;
}

/* The PPR slot keeps Base[51:12] in bits 55:16, the others in 51:12. */
static uint64_t vfctrl_base_mask(enum amd_ring ring)
{
	return ring == AMD_RING_PPR ? AMD_BASE_MASK << 4 : AMD_BASE_MASK;
}

int amd_hw_ring_program(struct amd_hw *hw, enum amd_ring ring, uint64_t gpa,
			uint64_t size)
{
	const struct ring_desc *rd;
	struct ring_state *r;
	struct defer d = { 0 };
	uint64_t *w;
	uint8_t len;
	int rc;

	if ((unsigned int)ring >= AMD_RING_NR)
		return -EINVAL;
	rd = &ring_desc[ring];
	rc = size_to_len(&hw->cfg, size, &len);
	if (rc)
		return rc;
	if (gpa & ~AMD_BASE_MASK) {
		if (hw->cfg.alloc_strict_base)
			return -EINVAL;
		gpa &= AMD_BASE_MASK;
	}
	r = &hw->ring[ring];
	pthread_mutex_lock(&hw->lock);
	if (r->run) {
		rc = -EBUSY;
		goto out_unlock;
	}
	late_flush(hw, ring, &d);
	/*
	 * A reserved length code (only the prototype's settings let one
	 * through) is a base write the hardware ignores (§6.2): the slot and
	 * the ring keep what they had.
	 */
	if (len < AMD_LEN_MIN || len > AMD_LEN_MAX) {
		hw_trace(hw, "amd.ring.program", "gid=%u ring=%s len=%u ignored",
			 hw->cfg.gid, rd->name, len);
		goto out_unlock;
	}
	w = vfctrl_word(hw, ring);
	*w &= ~(vfctrl_base_mask(ring) | 0xf);
	*w |= len | (ring == AMD_RING_PPR ? gpa << 4 : gpa);
	r->base = gpa;
	r->len = len;
	r->size = amd_ring_bytes(len);
	if (hw->cfg.base_write_resets_ptrs) {
		r->head = r->tail = 0;
		publish_ptr(hw, rd->head_reg, 0);
		publish_ptr(hw, rd->tail_reg, 0);
	} else {
		r->head &= r->size - 1;
		r->tail &= r->size - 1;
	}
	if (ring == AMD_RING_CMD)
		atomic_store_explicit(&hw->cmd_head_seen, r->head,
				      memory_order_relaxed);
	hw_trace(hw, "amd.ring.program", "gid=%u ring=%s gpa=%#llx len=%u",
		 hw->cfg.gid, rd->name, (unsigned long long)gpa, len);
out_unlock:
	pthread_mutex_unlock(&hw->lock);
	defer_run(hw, &d);
	return rc;
}

/* An enable edge, with the lock held (§6.8). */
static void ring_flags_locked(struct amd_hw *hw, enum amd_ring ring,
			      uint32_t flags)
{
	const struct ring_desc *rd = &ring_desc[ring];
	struct ring_state *r = &hw->ring[ring];
	uint64_t *w = vfctrl_word(hw, ring);
	bool was = *w & AMD_VFCTRL_EN, now = flags & AMD_VFCTRL_EN;

	*w = (*w & ~(uint64_t)rd->flag_mask) | flags;
	if (was && !now) {
		set_run(hw, ring, false);
	} else if (!was && now && r->size) {
		/*
		 * Software may have moved the pointer it owns while the ring
		 * was stopped: the command head, a log's tail.  The command
		 * tail is taken too (the edge rings the doorbell, §6.2): a
		 * later tail write out of range is then ignored against the
		 * tail software left, not one sampled before a reset.
		 */
		if (ring == AMD_RING_CMD) {
			sample_ptr(hw, rd->head_reg, r->size, &r->head);
			sample_ptr(hw, rd->tail_reg, r->size, &r->tail);
			cmd_set_head(hw, r->head);
		} else {
			sample_ptr(hw, rd->tail_reg, r->size, &r->tail);
			publish_ptr(hw, rd->tail_reg, r->tail);
			if (hw->cfg.enable_edge_clears_overflow)
				status_clear(hw, rd->ovf_bit);
		}
		set_run(hw, ring, true);
		kick_locked(hw);
	}
	hw_trace(hw, "amd.ring.flags", "gid=%u ring=%s flags=%#x run=%d",
		 hw->cfg.gid, rd->name, flags, r->run);
}

int amd_hw_ring_set_flags(struct amd_hw *hw, enum amd_ring ring,
			  uint32_t flags)
{
	if ((unsigned int)ring >= AMD_RING_NR ||
	    flags & ~ring_desc[ring].flag_mask)
		return -EINVAL;
	pthread_mutex_lock(&hw->lock);
	ring_flags_locked(hw, ring, flags);
	pthread_mutex_unlock(&hw->lock);
	return 0;
}

void amd_hw_ring_disable(struct amd_hw *hw, enum amd_ring ring)
{
	struct defer d = { 0 };
	struct ring_state *r;

	if ((unsigned int)ring >= AMD_RING_NR)
		return;
	r = &hw->ring[ring];
	pthread_mutex_lock(&hw->lock);
	late_flush(hw, ring, &d);
	ring_flags_locked(hw, ring, ring_flags(hw, ring) & ~AMD_VFCTRL_EN);
	*vfctrl_word(hw, ring) &= ~(vfctrl_base_mask(ring) | 0xf);
	r->base = 0;
	r->len = 0;
	r->size = 0;
	pthread_mutex_unlock(&hw->lock);
	defer_run(hw, &d);
}

/* Guest Control bit -> bit in the ring's VFCTRL slot (§5.1 table). */
struct ctl_map {
	enum amd_ring ring;
	unsigned int ctl_bit, vf_bit;
};

static const struct ctl_map ctl_map[] = {
	{ AMD_RING_CMD, 12, 8 },  { AMD_RING_CMD, 4, 9 },
	{ AMD_RING_EVT, 2, 8 },   { AMD_RING_EVT, 3, 9 },
	{ AMD_RING_EVT, 32, 10 }, { AMD_RING_EVT, 33, 11 },
	{ AMD_RING_PPR, 13, 8 },  { AMD_RING_PPR, 14, 9 },
	{ AMD_RING_PPR, 15, 10 }, { AMD_RING_PPR, 30, 11 },
	{ AMD_RING_PPR, 31, 12 }, { AMD_RING_PPR, 39, 13 },
	{ AMD_RING_PPR, 41, 14 },
};

void amd_hw_control_write(struct amd_hw *hw, uint64_t control)
{
	uint32_t flags[AMD_RING_NR] = { 0 };

	for (size_t i = 0; i < sizeof(ctl_map) / sizeof(ctl_map[0]); i++)
		if (control >> ctl_map[i].ctl_bit & 1)
			flags[ctl_map[i].ring] |= 1u << ctl_map[i].vf_bit;
	if (control >> hw->cfg.ppr_auto_rsp_aon_bit & 1)
		flags[AMD_RING_PPR] |= 1u << 15;
	pthread_mutex_lock(&hw->lock);
	for (int ring = 0; ring < AMD_RING_NR; ring++)
		ring_flags_locked(hw, (enum amd_ring)ring, flags[ring]);
	pthread_mutex_unlock(&hw->lock);
}

uint64_t amd_hw_control_read(struct amd_hw *hw)
{
	uint64_t control = 0;
	uint32_t flags[AMD_RING_NR];

	pthread_mutex_lock(&hw->lock);
	for (int ring = 0; ring < AMD_RING_NR; ring++)
		flags[ring] = ring_flags(hw, (enum amd_ring)ring);
	pthread_mutex_unlock(&hw->lock);
	for (size_t i = 0; i < sizeof(ctl_map) / sizeof(ctl_map[0]); i++)
		if (flags[ctl_map[i].ring] >> ctl_map[i].vf_bit & 1)
			control |= 1ull << ctl_map[i].ctl_bit;
	if (flags[AMD_RING_PPR] >> 15 & 1)
		control |= 1ull << hw->cfg.ppr_auto_rsp_aon_bit;
	return control;
}

uint64_t amd_hw_vfctrl_read(struct amd_hw *hw, unsigned int off)
{
	uint64_t v;

	if (off >= sizeof(hw->vfctrl) || off % 8)
		return 0;
	pthread_mutex_lock(&hw->lock);
	v = hw->vfctrl[off / 8];
	pthread_mutex_unlock(&hw->lock);
	return v;
}

/* ------------------------------------------------------------ lifecycle */

int amd_hw_create(const struct amd_hw_config *cfg,
		  const struct isim_hw_mem *mem, const struct amd_hw_ops *ops,
		  void *ops_arg, struct isim_tracer *tr, struct amd_hw **out)
{
	pthread_condattr_t ca;
	struct amd_hw *hw;
	int rc = -ENOMEM;

	if (!mem || !mem->read || !mem->write ||
	    (cfg && !amd_hw_config_valid(cfg)))
		return -EINVAL;
	hw = isim_kzalloc(sizeof(*hw));
	if (!hw)
		return -ENOMEM;
	if (cfg)
		hw->cfg = *cfg;
	else
		amd_hw_config_init(&hw->cfg);
	hw->fmt.iotlb_pasid = hw->cfg.iotlb_pasid_layout;
	hw->fmt.iotlb_type = hw->cfg.inv_iotlb_type_sup;
	hw->mem = *mem;
	if (ops)
		hw->ops = *ops;
	hw->ops_arg = ops_arg;
	hw->tr = tr;

	hw->vf = isim_should_fail() ? NULL :
		 aligned_alloc(AMD_VF_PAGE_SIZE, AMD_VF_PAGE_SIZE);
	if (!hw->vf)
		goto err_free_hw;
	memset(hw->vf, 0, AMD_VF_PAGE_SIZE);
	hw->groups = isim_kcalloc(hw->cfg.ppr_pending_max + 1,
				  sizeof(*hw->groups));
	if (!hw->groups)
		goto err_free_vf;
	rc = -pthread_mutex_init(&hw->lock, NULL);
	if (rc)
		goto err_free_groups;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	rc = -pthread_cond_init(&hw->wake, &ca);
	pthread_condattr_destroy(&ca);
	if (rc)
		goto err_destroy_lock;
	*out = hw;
	return 0;

err_destroy_lock:
	pthread_mutex_destroy(&hw->lock);
err_free_groups:
	free(hw->groups);
err_free_vf:
	free(hw->vf);
err_free_hw:
	free(hw);
	return rc;
}

void amd_hw_destroy(struct amd_hw *hw)
{
	if (!hw)
		return;
	amd_hw_stop(hw);
	pthread_cond_destroy(&hw->wake);
	pthread_mutex_destroy(&hw->lock);
	free(hw->groups);
	free(hw->vf);
	free(hw);
}

void amd_hw_set_page_ops(struct amd_hw *hw, const struct amd_hw_page_ops *ops)
{
	pthread_mutex_lock(&hw->lock);
	if (ops)
		hw->page = *ops;
	else
		memset(&hw->page, 0, sizeof(hw->page));
	pthread_mutex_unlock(&hw->lock);
}

const struct amd_hw_config *amd_hw_config(const struct amd_hw *hw)
{
	return &hw->cfg;
}

void *amd_hw_vf_page(struct amd_hw *hw)
{
	return hw->vf;
}

/* ------------------------------------------------------------ inspection */

void amd_hw_ring_info(struct amd_hw *hw, enum amd_ring ring,
		      struct amd_ring_info *info)
{
	const struct ring_state *r = &hw->ring[ring];

	pthread_mutex_lock(&hw->lock);
	*info = (struct amd_ring_info){
		.base = r->base, .len = r->len, .size = r->size,
		.head = r->head, .tail = r->tail,
		.en = ring_flags(hw, ring) & AMD_VFCTRL_EN, .run = r->run,
	};
	pthread_mutex_unlock(&hw->lock);
}

void amd_hw_stats(struct amd_hw *hw, struct amd_hw_stats *st)
{
	pthread_mutex_lock(&hw->lock);
	*st = hw->st;
	st->ppr_pending = hw->ngroups;
	pthread_mutex_unlock(&hw->lock);
}

uint64_t amd_hw_status(struct amd_hw *hw)
{
	return status(hw);
}
