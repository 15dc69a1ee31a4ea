/*
 * AMD-Vi ring entries, field by field, and the guest driver's side of the
 * rings.  Encoders refuse values that do not fit their bits, so a test
 * cannot build an entry by accident that the decoder would read back
 * differently; decoders report reserved bits because the hardware treats
 * them as an illegal command (FreeBSD met this on real parts).  Layouts
 * follow spec §2.3, §3.2 and §4.1; PREFETCH_IOMMU_PAGES, which no
 * consulted driver builds, is placed as the AMD specification lays it out
 * (DeviceID, PFCount, PASID, S/GN/Inval, address).
 */
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <string.h>
#include <time.h>

#include "vendors/amd/amd_cmd.h"

#define GENMASK64(h, l)	((~0ull >> (63 - (h))) & (~0ull << (l)))
#define BIT64(n)	(1ull << (n))

static inline uint64_t get_bits(uint64_t w, unsigned int h, unsigned int l)
{
	return (w & GENMASK64(h, l)) >> l;
}

static inline uint64_t put_bits(uint64_t v, unsigned int h, unsigned int l)
{
	return (v << l) & GENMASK64(h, l);
}

static inline bool fits(uint64_t v, unsigned int bits)
{
	return bits >= 64 || v >> bits == 0;
}

/* ------------------------------------------------------------- commands */

/* The INVALIDATE_IOTLB_PAGES PASID split of each layout. */
static uint64_t iotlb_pasid_put(enum amd_iotlb_pasid_layout l, uint32_t pasid)
{
	if (l == AMD_IOTLB_PASID_VBOX)
		return put_bits(pasid & 0xff, 23, 16) |
		       put_bits(pasid >> 8, 59, 48);
	return put_bits(pasid >> 8, 23, 16) | put_bits(pasid & 0xff, 55, 48);
}

static uint32_t iotlb_pasid_get(enum amd_iotlb_pasid_layout l, uint64_t q0)
{
	if (l == AMD_IOTLB_PASID_VBOX)
		return (uint32_t)(get_bits(q0, 59, 48) << 8 | get_bits(q0, 23, 16));
	return (uint32_t)(get_bits(q0, 23, 16) << 8 | get_bits(q0, 55, 48));
}

_Static_assert(AMD_CMD_DEVID_RSVD0 == GENMASK64(59, 16),
	       "DeviceID-only commands reserve q0 bits 59:16");

static const struct amd_cmd_format default_format;

int amd_cmd_encode_full(const struct amd_cmd *c,
			const struct amd_cmd_format *fmt, struct amd_entry *e)
{
	uint64_t q0 = (uint64_t)c->op << 60, q1 = 0;

	if (!fmt)
		fmt = &default_format;
	switch (c->op) {
	case AMD_CMD_COMPLETION_WAIT:
		if (c->comp_wait.store_addr & 7 ||
		    !fits(c->comp_wait.store_addr, 52))
			return -EINVAL;
		q0 |= (uint64_t)c->comp_wait.s | (uint64_t)c->comp_wait.i << 1 |
		      (uint64_t)c->comp_wait.f << 2 | c->comp_wait.store_addr;
		q1 = c->comp_wait.store_data;
		break;
	case AMD_CMD_INV_DEVTAB_ENTRY:
		q0 |= c->inv_dte.devid;
		break;
	case AMD_CMD_INV_INTERRUPT_TABLE:
		q0 |= c->inv_irt.devid;
		break;
	case AMD_CMD_INV_IOMMU_PAGES:
		if (!fits(c->inv_pages.pasid, 20) || c->inv_pages.addr & 0xfff)
			return -EINVAL;
		q0 |= c->inv_pages.pasid | (uint64_t)c->inv_pages.domid << 32;
		q1 = (uint64_t)c->inv_pages.s | (uint64_t)c->inv_pages.pde << 1 |
		     (uint64_t)c->inv_pages.gn << 2 | c->inv_pages.addr;
		break;
	case AMD_CMD_INV_IOTLB_PAGES:
		if (!fits(c->inv_iotlb.pasid,
			  fmt->iotlb_pasid == AMD_IOTLB_PASID_VBOX ? 20 : 16) ||
		    c->inv_iotlb.addr & 0xfff || !fits(c->inv_iotlb.type, 2) ||
		    (c->inv_iotlb.type && !fmt->iotlb_type))
			return -EINVAL;
		q0 |= c->inv_iotlb.devid | (uint64_t)c->inv_iotlb.maxpend << 24 |
		      (uint64_t)c->inv_iotlb.queueid << 32 |
		      iotlb_pasid_put(fmt->iotlb_pasid, c->inv_iotlb.pasid);
		q1 = (uint64_t)c->inv_iotlb.s | (uint64_t)c->inv_iotlb.gn << 2 |
		     (uint64_t)c->inv_iotlb.type << 4 | c->inv_iotlb.addr;
		break;
	case AMD_CMD_PREFETCH_IOMMU_PAGES:
		if (!fits(c->prefetch.pasid, 20) || c->prefetch.addr & 0xfff)
			return -EINVAL;
		q0 |= c->prefetch.devid | (uint64_t)c->prefetch.count << 24 |
		      (uint64_t)c->prefetch.pasid << 32;
		q1 = (uint64_t)c->prefetch.s | (uint64_t)c->prefetch.gn << 2 |
		     (uint64_t)c->prefetch.inval << 4 | c->prefetch.addr;
		break;
	case AMD_CMD_COMPLETE_PPR_REQUEST:
		if (!fits(c->complete_ppr.pasid, 20) ||
		    !fits(c->complete_ppr.tag, 9) ||
		    !fits(c->complete_ppr.status, 4))
			return -EINVAL;
		q0 |= c->complete_ppr.devid |
		      (uint64_t)c->complete_ppr.pasid << 32;
		q1 = (uint64_t)c->complete_ppr.gn << 2 |
		     (uint64_t)c->complete_ppr.tag << 32 |
		     (uint64_t)c->complete_ppr.status << 44;
		break;
	case AMD_CMD_INV_IOMMU_ALL:
		break;
	case AMD_CMD_RESET_VMMIO:
		q0 |= c->reset_vmmio.gid | (uint64_t)c->reset_vmmio.all << 28 |
		      (uint64_t)c->reset_vmmio.vcmd << 31;
		break;
	default:
		return -EINVAL;
	}
	e->q0 = q0;
	e->q1 = q1;
	return 0;
}

struct amd_entry amd_cmd_encode_value(const struct amd_cmd *cmd,
				      const struct amd_cmd_format *fmt)
{
	struct amd_entry e;

	if (amd_cmd_encode_full(cmd, fmt, &e))
		return (struct amd_entry){ 0, 0 };
	return e;
}

int amd_cmd_decode(const struct amd_entry *e, const struct amd_cmd_format *fmt,
		   struct amd_cmd *c)
{
	uint64_t q0 = e->q0, q1 = e->q1, rsvd0, rsvd1;

	if (!fmt)
		fmt = &default_format;
	memset(c, 0, sizeof(*c));
	c->op = (enum amd_cmd_op)(q0 >> 60);
	switch (c->op) {
	case AMD_CMD_COMPLETION_WAIT:
		c->comp_wait.s = q0 & 1;
		c->comp_wait.i = q0 >> 1 & 1;
		c->comp_wait.f = q0 >> 2 & 1;
		c->comp_wait.store_addr = q0 & GENMASK64(51, 3);
		c->comp_wait.store_data = q1;
		rsvd0 = GENMASK64(59, 52);
		rsvd1 = 0;
		break;
	case AMD_CMD_INV_DEVTAB_ENTRY:
		c->inv_dte.devid = (uint16_t)q0;
		rsvd0 = AMD_CMD_DEVID_RSVD0;
		rsvd1 = ~0ull;
		break;
	case AMD_CMD_INV_INTERRUPT_TABLE:
		c->inv_irt.devid = (uint16_t)q0;
		rsvd0 = AMD_CMD_DEVID_RSVD0;
		rsvd1 = ~0ull;
		break;
	case AMD_CMD_INV_IOMMU_PAGES:
		c->inv_pages.pasid = (uint32_t)get_bits(q0, 19, 0);
		c->inv_pages.domid = (uint16_t)get_bits(q0, 47, 32);
		c->inv_pages.s = q1 & 1;
		c->inv_pages.pde = q1 >> 1 & 1;
		c->inv_pages.gn = q1 >> 2 & 1;
		c->inv_pages.addr = q1 & GENMASK64(63, 12);
		rsvd0 = GENMASK64(31, 20) | GENMASK64(59, 48);
		rsvd1 = GENMASK64(11, 3);
		break;
	case AMD_CMD_INV_IOTLB_PAGES:
		c->inv_iotlb.devid = (uint16_t)q0;
		c->inv_iotlb.maxpend = (uint8_t)get_bits(q0, 31, 24);
		c->inv_iotlb.queueid = (uint16_t)get_bits(q0, 47, 32);
		c->inv_iotlb.pasid = iotlb_pasid_get(fmt->iotlb_pasid, q0);
		c->inv_iotlb.s = q1 & 1;
		c->inv_iotlb.gn = q1 >> 2 & 1;
		c->inv_iotlb.type = (uint8_t)get_bits(q1, 5, 4);
		c->inv_iotlb.addr = q1 & GENMASK64(63, 12);
		rsvd0 = fmt->iotlb_pasid == AMD_IOTLB_PASID_VBOX ?
			0 : GENMASK64(59, 56);
		rsvd1 = BIT64(1) | BIT64(3) | GENMASK64(11, 6) |
			(fmt->iotlb_type ? 0 : GENMASK64(5, 4));
		break;
	case AMD_CMD_PREFETCH_IOMMU_PAGES:
		c->prefetch.devid = (uint16_t)q0;
		c->prefetch.count = (uint8_t)get_bits(q0, 31, 24);
		c->prefetch.pasid = (uint32_t)get_bits(q0, 51, 32);
		c->prefetch.s = q1 & 1;
		c->prefetch.gn = q1 >> 2 & 1;
		c->prefetch.inval = q1 >> 4 & 1;
		c->prefetch.addr = q1 & GENMASK64(63, 12);
		rsvd0 = GENMASK64(23, 16) | GENMASK64(59, 52);
		rsvd1 = BIT64(1) | BIT64(3) | GENMASK64(11, 5);
		break;
	case AMD_CMD_COMPLETE_PPR_REQUEST:
		c->complete_ppr.devid = (uint16_t)q0;
		c->complete_ppr.pasid = (uint32_t)get_bits(q0, 51, 32);
		c->complete_ppr.gn = q1 >> 2 & 1;
		c->complete_ppr.tag = (uint16_t)get_bits(q1, 40, 32);
		c->complete_ppr.status = (uint8_t)get_bits(q1, 47, 44);
		rsvd0 = GENMASK64(31, 16) | GENMASK64(59, 52);
		rsvd1 = GENMASK64(1, 0) | GENMASK64(31, 3) |
			GENMASK64(43, 41) | GENMASK64(63, 48);
		break;
	case AMD_CMD_INV_IOMMU_ALL:
		rsvd0 = GENMASK64(59, 0);
		rsvd1 = ~0ull;
		break;
	case AMD_CMD_RESET_VMMIO:
		c->reset_vmmio.gid = (uint16_t)q0;
		c->reset_vmmio.all = q0 >> 28 & 1;
		c->reset_vmmio.vcmd = q0 >> 31 & 1;
		rsvd0 = GENMASK64(27, 16) | GENMASK64(30, 29) |
			GENMASK64(59, 32);
		rsvd1 = ~0ull;
		break;
	default:
		return -EOPNOTSUPP;
	}
	if (q0 & rsvd0 || q1 & rsvd1)
		return -EINVAL;
	return 0;
}

#define PFN_BITS	52

void amd_inv_range(uint64_t addr, bool s, uint64_t *first_pfn,
		   uint64_t *last_pfn)
{
	uint64_t pfn = addr >> 12, clear = ~pfn & GENMASK64(PFN_BITS - 1, 0);
	uint64_t span;

	if (!s) {
		*first_pfn = *last_pfn = pfn;
		return;
	}
	if (!clear) {
		*first_pfn = 0;
		*last_pfn = GENMASK64(PFN_BITS - 1, 0);
		return;
	}
	/* Lowest clear bit k: the range is 2^(k+1) pages, aligned. */
	span = GENMASK64(__builtin_ctzll(clear), 0);
	*first_pfn = pfn & ~span;
	*last_pfn = pfn | span;
}

void amd_inv_range_encode(uint64_t start, uint64_t len, uint64_t *addr,
			  bool *s)
{
	uint64_t first = start >> 12, last, diff;
	unsigned int msb;

	last = len ? (start + len - 1) >> 12 : first;
	if (last < first)
		last = GENMASK64(PFN_BITS - 1, 0);
	if (first == last) {
		*addr = first << 12;
		*s = false;
		return;
	}
	diff = first ^ last;
	msb = 63 - (unsigned int)__builtin_clzll(diff);
	/* Bits below msb set, msb itself clear: a 2^(msb+1)-page range. */
	first &= ~GENMASK64(msb, 0);
	*addr = (first | (msb ? GENMASK64(msb - 1, 0) : 0)) << 12;
	*s = true;
}

uint8_t amd_ppr_status_encode(enum amd_ppr_status_encoding enc,
			      enum amd_ppr_rsp rsp)
{
	switch (rsp) {
	case AMD_PPR_RSP_SUCCESS:
		return 0;
	case AMD_PPR_RSP_INVALID:
		return 1;
	case AMD_PPR_RSP_FAILURE:
		return enc == AMD_PPR_STATUS_PCIE ? 0xf : 2;
	default:
		return 0xe;
	}
}

enum amd_ppr_rsp amd_ppr_status_decode(enum amd_ppr_status_encoding enc,
				       uint8_t status)
{
	if (status == 0)
		return AMD_PPR_RSP_SUCCESS;
	if (status == 1)
		return AMD_PPR_RSP_INVALID;
	if (status == (enc == AMD_PPR_STATUS_PCIE ? 0xf : 2))
		return AMD_PPR_RSP_FAILURE;
	return AMD_PPR_RSP_OTHER;
}

/* --------------------------------------------------------------- events */

/* PASID[19:16] in bits 19:16, PASID[15:0] in bits 47:32. */
static uint64_t split_pasid_put(uint32_t pasid)
{
	return put_bits(pasid >> 16, 19, 16) | put_bits(pasid & 0xffff, 47, 32);
}

static uint32_t split_pasid_get(uint64_t q0)
{
	return (uint32_t)(get_bits(q0, 19, 16) << 16 | get_bits(q0, 47, 32));
}

/* The PPR-entry layout of q0 below the code, shared with event 9. */
static uint64_t ppr_q0(uint16_t devid, uint32_t pasid, uint16_t tag,
		       uint16_t flags)
{
	return devid | put_bits(pasid & 0xffff, 31, 16) | put_bits(tag, 41, 32) |
	       put_bits(pasid >> 16, 45, 42) | put_bits(flags, 59, 48);
}

int amd_event_encode_full(const struct amd_event *ev, struct amd_entry *e)
{
	bool gn = ev->flags & AMD_EVT_F_GN;
	uint64_t q0 = (uint64_t)ev->code << 60, q1 = ev->addr;

	if (!fits(ev->code, 4) || !fits(ev->flags, 12) || !fits(ev->pasid, 20))
		return -EINVAL;
	switch (ev->code) {
	case AMD_EVT_ILLEGAL_DEV_TABLE_ENTRY:
	case AMD_EVT_INVALID_DEVICE_REQUEST:
		q0 |= ev->devid | split_pasid_put(ev->pasid) |
		      put_bits(ev->flags, 59, 48);
		break;
	case AMD_EVT_IO_PAGE_FAULT:
		q0 |= ev->devid | put_bits(ev->flags, 59, 48) |
		      (gn ? split_pasid_put(ev->pasid) :
			    put_bits(ev->domid, 47, 32));
		break;
	case AMD_EVT_PAGE_TAB_HW_ERROR:
		if (gn && !fits(ev->pasid, 16))
			return -EINVAL;
		q0 |= ev->devid | put_bits(ev->flags, 59, 48) |
		      put_bits(gn ? ev->pasid : ev->domid, 47, 32);
		break;
	case AMD_EVT_ILLEGAL_COMMAND_ERROR:
		break;
	case AMD_EVT_COMMAND_HW_ERROR:
		q0 |= put_bits(ev->flags, 59, 48);
		break;
	case AMD_EVT_IOTLB_INV_TIMEOUT:
		/* Address[63:4] sits in bits 127:68. */
		q0 |= ev->devid;
		q1 &= ~0xfull;
		break;
	case AMD_EVT_INVALID_PPR_REQUEST:
		if (!fits(ev->tag, 10))
			return -EINVAL;
		q0 |= ppr_q0(ev->devid, ev->pasid, ev->tag, ev->flags);
		break;
	default:
		q0 |= ev->devid | put_bits(ev->flags, 59, 48);
		break;
	}
	e->q0 = q0;
	e->q1 = q1;
	return 0;
}

void amd_event_decode(const struct amd_entry *e, struct amd_event *ev)
{
	uint64_t q0 = e->q0;

	memset(ev, 0, sizeof(*ev));
	ev->code = (uint8_t)(q0 >> 60);
	ev->addr = e->q1;
	switch (ev->code) {
	case AMD_EVT_ILLEGAL_DEV_TABLE_ENTRY:
	case AMD_EVT_INVALID_DEVICE_REQUEST:
		ev->pasid = split_pasid_get(q0);
		break;
	case AMD_EVT_IO_PAGE_FAULT:
		if (get_bits(q0, 59, 48) & AMD_EVT_F_GN)
			ev->pasid = split_pasid_get(q0);
		else
			ev->domid = (uint16_t)get_bits(q0, 47, 32);
		break;
	case AMD_EVT_PAGE_TAB_HW_ERROR:
		if (get_bits(q0, 59, 48) & AMD_EVT_F_GN)
			ev->pasid = (uint32_t)get_bits(q0, 47, 32);
		else
			ev->domid = (uint16_t)get_bits(q0, 47, 32);
		break;
	case AMD_EVT_ILLEGAL_COMMAND_ERROR:
		return;
	case AMD_EVT_COMMAND_HW_ERROR:
		ev->flags = (uint16_t)get_bits(q0, 59, 48);
		return;
	case AMD_EVT_IOTLB_INV_TIMEOUT:
		ev->devid = (uint16_t)q0;
		ev->addr &= ~0xfull;
		return;
	case AMD_EVT_INVALID_PPR_REQUEST:
		ev->pasid = (uint32_t)(get_bits(q0, 45, 42) << 16 |
				       get_bits(q0, 31, 16));
		ev->tag = (uint16_t)get_bits(q0, 41, 32);
		break;
	default:
		break;
	}
	ev->devid = (uint16_t)q0;
	ev->flags = (uint16_t)get_bits(q0, 59, 48);
}

/* ------------------------------------------------------------ PPR log */

int amd_ppr_encode(const struct amd_ppr *req, struct amd_entry *e)
{
	if (!fits(req->pasid, 20) || !fits(req->prgi, 9) ||
	    !fits(req->flags, 12))
		return -EINVAL;
	e->q0 = (uint64_t)AMD_PPR_TYPE_REQUEST << 60 |
		ppr_q0(req->devid, req->pasid,
		       (uint16_t)(req->prgi | (unsigned int)req->last << 9),
		       req->flags);
	e->q1 = req->addr;
	return 0;
}

void amd_ppr_decode(const struct amd_entry *e, struct amd_ppr *req)
{
	req->devid = (uint16_t)e->q0;
	req->pasid = (uint32_t)(get_bits(e->q0, 45, 42) << 16 |
				get_bits(e->q0, 31, 16));
	req->prgi = (uint16_t)get_bits(e->q0, 40, 32);
	req->last = e->q0 >> 41 & 1;
	req->flags = (uint16_t)get_bits(e->q0, 59, 48);
	req->addr = e->q1;
}

void amd_ppr_to_event(const struct amd_ppr *req, struct amd_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->code = AMD_EVT_INVALID_PPR_REQUEST;
	ev->devid = req->devid;
	ev->pasid = req->pasid;
	ev->tag = (uint16_t)(req->prgi | (unsigned int)req->last << 9);
	ev->flags = req->flags;
	ev->addr = req->addr;
}

/* ---------------------------------------------------------- guest side */

static const unsigned int ring_regs[AMD_RING_NR][2] = {
	[AMD_RING_CMD] = { AMD_VF_CMD_HEAD, AMD_VF_CMD_TAIL },
	[AMD_RING_EVT] = { AMD_VF_EVT_HEAD, AMD_VF_EVT_TAIL },
	[AMD_RING_PPR] = { AMD_VF_PPR_HEAD, AMD_VF_PPR_TAIL },
};

void amd_guest_ring_init(struct amd_guest_ring *g, void *vf_page,
			 enum amd_ring ring, void *base, unsigned int len_code)
{
	g->base = base;
	g->size = amd_ring_bytes(len_code);
	g->head_reg = amd_vf_reg(vf_page, ring_regs[ring][0]);
	g->tail_reg = amd_vf_reg(vf_page, ring_regs[ring][1]);
	g->cached_head = (uint32_t)(atomic_load_explicit(g->head_reg,
				    memory_order_acquire) & AMD_PTR_MASK);
	/* A producer continues from the tail, a consumer from the head. */
	g->next = ring == AMD_RING_CMD ?
		  (uint32_t)(atomic_load_explicit(g->tail_reg,
			     memory_order_acquire) & AMD_PTR_MASK) :
		  g->cached_head;
}

void amd_guest_ring_reset(struct amd_guest_ring *g)
{
	atomic_store_explicit(g->head_reg, 0, memory_order_release);
	atomic_store_explicit(g->tail_reg, 0, memory_order_release);
	g->next = 0;
	g->cached_head = 0;
}

uint32_t amd_guest_cmd_space(struct amd_guest_ring *g)
{
	g->cached_head = (uint32_t)(atomic_load_explicit(g->head_reg,
				    memory_order_acquire) & AMD_PTR_MASK);
	return amd_guest_cmd_free(g);
}

int amd_guest_cmd_queue(struct amd_guest_ring *g, const struct amd_cmd *cmd,
			const struct amd_cmd_format *fmt)
{
	struct amd_entry e;
	int rc = amd_cmd_encode(cmd, fmt, &e);

	if (rc)
		return rc;
	return amd_guest_cmd_push(g, &e);
}

void amd_guest_cmd_ring_tail(struct amd_guest_ring *g)
{
	/* Release: the entries must be visible before the new tail is. */
	atomic_store_explicit(g->tail_reg, g->next, memory_order_release);
}

bool amd_guest_sem_done(const void *sem, uint64_t seq)
{
	uint64_t v = amd_le64(atomic_load_explicit((_Atomic uint64_t *)sem,
					       memory_order_acquire));

	return (int64_t)(v - seq) >= 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int amd_guest_sem_wait(const void *sem, uint64_t seq, uint64_t timeout_ns)
{
	uint64_t deadline = now_ns() + timeout_ns;

	while (!amd_guest_sem_done(sem, seq)) {
		if (now_ns() > deadline)
			return -ETIMEDOUT;
		sched_yield();
	}
	return 0;
}

int amd_guest_log_wait(_Atomic uint64_t *slot, unsigned int spins,
		       uint64_t *q0)
{
	for (unsigned int i = 0; i < spins; i++) {
		sched_yield();
		*q0 = amd_le64(atomic_load_explicit(&slot[0],
						    memory_order_acquire));
		if (*q0 >> 60)
			return 0;
	}
	return -EBUSY;
}

uint64_t amd_guest_status_read(void *vf_page)
{
	return atomic_load_explicit(amd_vf_reg(vf_page, AMD_VF_STATUS),
				    memory_order_acquire);
}

void amd_guest_status_write(void *vf_page, uint64_t val)
{
	/*
	 * An MMIO write-1-to-clear becomes an atomic AND on the plain page,
	 * so a bit the model sets meanwhile is never lost (ERBT1312 cannot
	 * happen here).
	 */
	atomic_fetch_and_explicit(amd_vf_reg(vf_page, AMD_VF_STATUS),
				  ~(val & AMD_STS_RW1C_MASK),
				  memory_order_acq_rel);
}
