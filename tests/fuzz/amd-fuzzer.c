/*
 * The AMD vIOMMU model with the guest as the adversary.  A VMM is set up
 * through the real ioctls (an "amd-viommu" device nested behind a vIOMMU
 * of type AMD, its VF page mmapped, the command buffer, event log and PPR
 * log allocated with HW_QUEUE_ALLOC on guest RAM mapped page by page into
 * the nesting parent), the machine stepped so that a run is a function of
 * its input.  The input then decodes into guest, VMM and device actions:
 * command entries written into the command buffer (random bits, or legal
 * opcodes with random fields and completion stores anywhere), any value
 * stored to any head or tail register, Control and Status writes, steps
 * with small budgets, DMA faults and page requests, drains of the two
 * logs, the restart and recovery protocols, IOAS_UNMAP and MAP of ring
 * pages (one of them memory that is freed while mapped), and HW queues
 * destroyed and allocated anew.  Nothing is predicted entry by entry;
 * after every action the harness aborts unless the rules of
 * spec/amd_viommu.md §1, §3, §6 hold between the model (amd_hw_ring_info,
 * amd_hw_stats), the VF page and what the harness knows it programmed.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>

#include "tests/fuzz/fuzz.h"
#include "vendors/amd/amd_hw.h"
#include "vendors/amd/amd_viommu.h"

#define PAGE		4096ull
#define RAM_PAGES	8
#define GPA_BASE	0x100000ull	/* RAM_PAGES pages, an IOAS area each */
#define GPA_SEM		(GPA_BASE + 4 * PAGE)
#define GPA_SCRATCH	0x400000ull	/* a page that is freed while mapped */
#define GPA_HOLE	0x800000ull	/* never mapped */
#define VIRT_ID		0x100
#define GDOM_ID		5
#define MAX_HWQ		4
#define MAX_OPS		256

/* Guest Control bits (native 0x18) the driver forwards into VFCTRL. */
#define CTL_EVT_EN	(1ull << 2)
#define CTL_EVT_INT	(1ull << 3)
#define CTL_CW_INT	(1ull << 4)
#define CTL_CMD_EN	(1ull << 12)
#define CTL_PPR_LOG_EN	(1ull << 13)
#define CTL_PPR_INT	(1ull << 14)
#define CTL_PPR_EN	(1ull << 15)
#define CTL_ALL		(CTL_EVT_EN | CTL_EVT_INT | CTL_CW_INT | CTL_CMD_EN | \
			 CTL_PPR_LOG_EN | CTL_PPR_INT | CTL_PPR_EN)
/* Every bit Control reads back: the above and the rarely used ones. */
#define CTL_KNOWN	(CTL_ALL | 3ull << 30 | 3ull << 32 | 1ull << 39 | \
			 1ull << 41 | 1ull << 42)

static const struct amd_cmd_format fmt = { AMD_IOTLB_PASID_LINUX, false };

static const struct {
	uint64_t en, intr, run, ovf;
	unsigned int own;	/* the pointer register the IOMMU writes */
	uint32_t type;
} rd[AMD_RING_NR] = {
	[AMD_RING_CMD] = { CTL_CMD_EN, CTL_CW_INT, AMD_STS_CMD_RUN, 0,
			   AMD_VF_CMD_HEAD, IOMMU_HW_QUEUE_TYPE_AMD_CMD },
	[AMD_RING_EVT] = { CTL_EVT_EN, CTL_EVT_INT, AMD_STS_EVT_RUN,
			   AMD_STS_EVT_OVERFLOW, AMD_VF_EVT_TAIL,
			   IOMMU_HW_QUEUE_TYPE_AMD_EVT },
	[AMD_RING_PPR] = { CTL_PPR_LOG_EN, CTL_PPR_INT, AMD_STS_PPR_RUN,
			   AMD_STS_PPR_OVERFLOW, AMD_VF_PPR_TAIL,
			   IOMMU_HW_QUEUE_TYPE_AMD_PPR },
};

/* What the harness knows of one ring. */
struct ring {
	uint32_t hwq[MAX_HWQ];	/* live HW queue objects of this type */
	unsigned int nhwq;
	uint32_t owner;		/* the one whose ALLOC programmed it; 0 none */
	uint64_t gpa;
	unsigned int len;
	/* Guest side: the command producer's tail, or the log's handle. */
	uint32_t next;
	struct amd_guest_ring g;
	/* The enable the model should hold: Control's, until a DESTROY. */
	bool en;
	/* The guest stored to the register the IOMMU owns, since published. */
	bool dirty;
	/*
	 * A log whose every slot between head and tail the model wrote:
	 * nobody else wrote its memory or moved its pointers since it was
	 * programmed, so a drain must never meet a slot with code 0.
	 */
	bool clean;
};

static struct world {
	struct fuzz_nest n;
	uint32_t viommu;
	void *vf;
	struct amd_hw *hw;
	uint8_t *ram;
	bool mapped[RAM_PAGES];
	uint8_t *scratch;	/* the guest's view of GPA_SCRATCH, or NULL */
	bool scratch_mapped;
	uint64_t ctl;
	struct ring r[AMD_RING_NR];
	struct amd_hw_stats st;
} w;

/* ------------------------------------------------------------ helpers */

static _Atomic uint64_t *vreg(unsigned int off)
{
	return amd_vf_reg(w.vf, off);
}

static uint64_t vread(unsigned int off)
{
	return atomic_load_explicit(vreg(off), memory_order_acquire);
}

/* A guest store to a register of the VF page: plain memory, any value. */
static void vwrite(unsigned int off, uint64_t v)
{
	atomic_store_explicit(vreg(off), v, memory_order_release);
	for (int i = 0; i < AMD_RING_NR; i++)
		if (rd[i].own == off)
			w.r[i].dirty = true;
}

static uint32_t ring_size(const struct ring *r)
{
	return r->owner ? amd_ring_bytes(r->len) : 0;
}

/* The guest's own view of [@gpa, @gpa + @len): its RAM, or nothing. */
static uint8_t *guest_va(uint64_t gpa, uint64_t len)
{
	if (gpa >= GPA_BASE && len <= RAM_PAGES * PAGE &&
	    gpa - GPA_BASE <= RAM_PAGES * PAGE - len)
		return w.ram + (gpa - GPA_BASE);
	if (w.scratch && gpa >= GPA_SCRATCH && len <= PAGE &&
	    gpa - GPA_SCRATCH <= PAGE - len)
		return w.scratch + (gpa - GPA_SCRATCH);
	return NULL;
}

static bool overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return alen && blen && a < b + blen && b < a + alen;
}

/* Somebody other than the model wrote [@gpa, @gpa + @len): logs there lose
 * the guarantee that their slots are the model's. */
static void touch(uint64_t gpa, uint64_t len)
{
	for (int i = AMD_RING_EVT; i < AMD_RING_NR; i++)
		if (overlap(gpa, len, w.r[i].gpa, ring_size(&w.r[i])))
			w.r[i].clean = false;
}

static void control(uint64_t ctl)
{
	w.ctl = ctl;
	for (int i = 0; i < AMD_RING_NR; i++)
		w.r[i].en = ctl & rd[i].en;
	if (amd_viommu_control_write(w.n.fd, w.viommu, ctl))
		fuzz_die("the Control write failed");
}

/* ------------------------------------------------------ the invariants */

static void info(int ring, struct amd_ring_info *ri)
{
	amd_hw_ring_info(w.hw, (enum amd_ring)ring, ri);
}

/* Counters only grow; the last-address fields and the gauge may not. */
static void check_stats(void)
{
	struct amd_hw_stats st, *o = &w.st;

	amd_hw_stats(w.hw, &st);
#define GROW(f)								\
	do {								\
		if (st.f < o->f)					\
			fuzz_die("stats." #f " went back");		\
	} while (0)
	for (int i = 0; i < 16; i++)
		GROW(cmd_exec[i]);
	for (int i = 0; i < AMD_RING_NR; i++) {
		GROW(logged[i]);
		GROW(dropped[i]);
		GROW(overflows[i]);
	}
	for (int i = 0; i < AMD_IRQ_NR; i++)
		GROW(msi[i]);
	GROW(cmd_illegal);
	GROW(cmd_hw_error);
	GROW(comwait_stores);
	GROW(iotlb_inval);
	GROW(dev_iotlb_inval);
	GROW(prefetch_pages);
	GROW(ppr_rejected);
	GROW(ppr_untracked);
	GROW(ppr_cpl_matched);
	GROW(ppr_cpl_unmatched);
	GROW(host_faults);
#undef GROW
	*o = st;
}

static void check_ring(int i, uint64_t status)
{
	struct ring *r = &w.r[i];
	struct amd_ring_info ri;
	uint32_t size = ring_size(r);
	uint64_t own;

	info(i, &ri);
	if (ri.size != size ||
	    (size && (ri.base != r->gpa || ri.len != r->len)))
		fuzz_die("ring %d is %#llx/%u, programmed %#llx/%u", i,
			 (unsigned long long)ri.base, ri.size,
			 (unsigned long long)r->gpa, size);
	if (!!(status & rd[i].run) != ri.run)
		fuzz_die("ring %d: Status Run %d, ring run %d", i,
			 !!(status & rd[i].run), ri.run);
	if (ri.run && (!ri.en || !size))
		fuzz_die("ring %d runs disabled or unprogrammed", i);
	if (ri.en != r->en)
		fuzz_die("ring %d enable %d, should be %d", i, ri.en, r->en);
	if (rd[i].ovf && (status & rd[i].ovf) && ri.run)
		fuzz_die("ring %d runs in overflow", i);
	if (!size)
		return;
	if (ri.head >= size || ri.tail >= size || (ri.head | ri.tail) % 16)
		fuzz_die("ring %d head %#x tail %#x, size %#x", i, ri.head,
			 ri.tail, size);
	/*
	 * The pointer the IOMMU owns reads back as the model has it (never
	 * SIZE, never a reserved bit), unless the guest stored to it since
	 * the model last published it.
	 */
	own = vread(rd[i].own);
	if (r->dirty && own == (i == AMD_RING_CMD ? ri.head : ri.tail))
		r->dirty = false;
	if (!r->dirty && own != (i == AMD_RING_CMD ? ri.head : ri.tail))
		fuzz_die("ring %d register %#llx, model %#x", i,
			 (unsigned long long)own,
			 i == AMD_RING_CMD ? ri.head : ri.tail);
}

static void check_all(const char *after)
{
	uint64_t status = amd_guest_status_read(w.vf);

	fuzz_check(w.n.m, after);
	if (isim_phys_bad_dma(w.n.m->phys))
		fuzz_die("after %s: an access hit a freed frame", after);
	if (status & ~0x7ffffull)
		fuzz_die("after %s: Status %#llx has reserved bits", after,
			 (unsigned long long)status);
	for (int i = 0; i < AMD_RING_NR; i++)
		check_ring(i, status);
	check_stats();
}

/* ------------------------------------------------------------- commands */

/*
 * One command entry: raw bits now and then; else random bits under a
 * legal opcode, whose fields the decoder takes and the encoder packs
 * again without the reserved bits (a stale one flipped back in now and
 * then), completion stores and PPR completions mostly aimed where they
 * mean something.
 */
static struct amd_entry cmd_entry(struct fuzz_in *in)
{
	static const uint8_t ops[] = {
		AMD_CMD_COMPLETION_WAIT, AMD_CMD_INV_DEVTAB_ENTRY,
		AMD_CMD_INV_IOMMU_PAGES, AMD_CMD_INV_IOTLB_PAGES,
		AMD_CMD_INV_INTERRUPT_TABLE, AMD_CMD_PREFETCH_IOMMU_PAGES,
		AMD_CMD_COMPLETE_PPR_REQUEST, AMD_CMD_INV_IOMMU_ALL,
		AMD_CMD_RESET_VMMIO,
	};
	static const uint64_t store[] = {
		GPA_SEM, GPA_SEM + 8, GPA_BASE, GPA_SCRATCH, GPA_HOLE,
		GPA_BASE + (RAM_PAGES - 1) * PAGE,
	};
	uint8_t k = fuzz_u8(in), aim = fuzz_u8(in);
	struct amd_entry e, raw;
	struct amd_cmd c;

	raw.q0 = fuzz_u64(in);
	raw.q1 = fuzz_u64(in);
	if (k >= 0xe0)
		return raw;
	raw.q0 = (raw.q0 & ~(0xfull << 60)) | (uint64_t)ops[k % 9] << 60;
	amd_cmd_decode(&raw, &fmt, &c);
	if (c.op == AMD_CMD_COMPLETION_WAIT && aim < 0xc0)
		c.comp_wait.store_addr = store[aim % 6] + (raw.q1 & 0xff8);
	if (c.op == AMD_CMD_COMPLETE_PPR_REQUEST && aim < 0xc0) {
		/* The device's own groups, so that some responses match. */
		c.complete_ppr.devid = VIRT_ID;
		c.complete_ppr.tag &= 7;
	}
	if (amd_cmd_encode_full(&c, &fmt, &e))
		return raw;
	/* A stale bit in a reused slot (FreeBSD's illegal commands). */
	if (k >= 0xd0)
		e.q0 ^= 1ull << (aim % 60);
	return e;
}

/* Write @n entries at the guest's private tail and maybe ring the bell. */
static void act_push(struct fuzz_in *in)
{
	struct ring *r = &w.r[AMD_RING_CMD];
	unsigned int n = 1 + fuzz_u8(in) % 8;
	uint32_t size = ring_size(r);

	for (unsigned int i = 0; i < n; i++) {
		struct amd_entry e = cmd_entry(in);
		uint8_t *slot;
		struct amd_cmd c;

		if (!size)
			continue;
		slot = guest_va(r->gpa + r->next, 16);
		if (!slot)
			continue;
		touch(r->gpa + r->next, 16);
		if (!amd_cmd_decode(&e, &fmt, &c) &&
		    c.op == AMD_CMD_COMPLETION_WAIT && c.comp_wait.s)
			touch(c.comp_wait.store_addr, 8);
		amd_entry_to_bytes(&e, slot);
		r->next = (r->next + 16) & (size - 1);
	}
	if (fuzz_u8(in) < 0xc0)
		vwrite(AMD_VF_CMD_TAIL, r->next);
}

/* ------------------------------------------------------ register writes */

/* A pointer value: the guest's own, or any of the ones that are wrong. */
static uint64_t ptr_arg(struct fuzz_in *in, uint32_t good, uint32_t size)
{
	uint8_t k = fuzz_u8(in);

	switch (k % 8) {
	case 0:
		return size;				/* == SIZE */
	case 1:
		return (uint64_t)size + 16;		/* beyond */
	case 2:
		return good | (k & 0xf);		/* reserved bits 3:0 */
	case 3:
		return good | 1ull << (19 + k % 45);	/* reserved 63:19 */
	case 4:
		return fuzz_u64(in);
	case 5:
		return fuzz_u16(in) & AMD_PTR_MASK;	/* in range or not */
	default:
		return good;
	}
}

static void act_pointer(struct fuzz_in *in)
{
	static const unsigned int regs[] = {
		AMD_VF_CMD_HEAD, AMD_VF_CMD_TAIL, AMD_VF_EVT_HEAD,
		AMD_VF_EVT_TAIL, AMD_VF_PPR_HEAD, AMD_VF_PPR_TAIL,
	};
	uint8_t k = fuzz_u8(in);
	unsigned int off = regs[k % 6];
	int ring = (k % 6) / 2;
	struct ring *r = &w.r[ring];
	uint32_t size = ring_size(r);
	uint64_t v = ptr_arg(in, off == AMD_VF_CMD_TAIL ? r->next : 0, size);

	vwrite(off, v);
	if (off == AMD_VF_CMD_TAIL && size && (v & AMD_PTR_MASK) < size)
		r->next = (uint32_t)(v & AMD_PTR_MASK);
	if (ring == AMD_RING_CMD)
		return;
	/* A log head the guest did not take from its handle, or a tail. */
	if (off == rd[ring].own || v != r->g.next)
		r->clean = false;
	if (off != rd[ring].own && size && (v & AMD_PTR_MASK) < size)
		r->g.next = (uint32_t)(v & AMD_PTR_MASK);
}

/*
 * The enable edges of Control (§6.8): 0->1 starts a programmed ring,
 * 1->0 stops it, no edge leaves it be; Control reads back what was
 * written.
 */
static void act_control(struct fuzz_in *in)
{
	static const unsigned int bits[] = {
		2, 3, 4, 12, 13, 14, 15, 0, 30, 31, 32, 33, 39, 41, 42,
	};
	struct amd_ring_info before[AMD_RING_NR], after;
	uint8_t k = fuzz_u8(in);
	uint64_t ctl = k >= 0xf0 ? fuzz_u64(in) :
				   w.ctl ^ 1ull << bits[k % 15];
	uint64_t back;

	for (int i = 0; i < AMD_RING_NR; i++)
		info(i, &before[i]);
	control(ctl);
	if (amd_viommu_control_read(w.n.fd, w.viommu, &back) ||
	    back != (ctl & CTL_KNOWN))
		fuzz_die("Control %#llx reads back %#llx",
			 (unsigned long long)ctl, (unsigned long long)back);
	for (int i = 0; i < AMD_RING_NR; i++) {
		bool on = ctl & rd[i].en;

		info(i, &after);
		if (!on && after.run)
			fuzz_die("ring %d runs with its enable off", i);
		if (on && !before[i].en && after.size && !after.run)
			fuzz_die("ring %d did not start on its enable", i);
		if (on && before[i].en && after.run != before[i].run)
			fuzz_die("ring %d changed run without an edge", i);
	}
}

/* RW1C (§1.5): 1 clears a flag, 0 and the RO bits change nothing. */
static void act_status(struct fuzz_in *in)
{
	uint64_t v = fuzz_u8(in) < 0xf0 ? fuzz_u8(in) : fuzz_u64(in);
	uint64_t old = amd_guest_status_read(w.vf), now;

	amd_guest_status_write(w.vf, v);
	now = amd_guest_status_read(w.vf);
	if (now != (old & ~(v & AMD_STS_RW1C_MASK)))
		fuzz_die("Status %#llx, wrote %#llx, reads %#llx",
			 (unsigned long long)old, (unsigned long long)v,
			 (unsigned long long)now);
}

/* ---------------------------------------------------------- the engine */

/*
 * A step with a small budget; a big one drains the command buffer, after
 * which a buffer still running has consumed up to the tail (§6.2).
 */
static void act_run(struct fuzz_in *in)
{
	uint8_t k = fuzz_u8(in);
	bool big = k >= 0xe0;
	struct amd_ring_info ri;
	uint64_t tail;

	isim_hw_run(w.n.m, big ? 1u << 16 : 1u + k % 16);
	if (!big)
		return;
	info(AMD_RING_CMD, &ri);
	tail = vread(AMD_VF_CMD_TAIL) & AMD_PTR_MASK;
	/* A tail out of range is ignored: the last one taken stands. */
	if (ri.run && ri.head != (tail < ri.size ? tail : ri.tail))
		fuzz_die("idle command buffer with head %#x, tail %#x (%#llx)",
			 ri.head, ri.tail, (unsigned long long)tail);
}

/* A device access: reads anywhere, writes where they fault or land on
 * the semaphore page (which may hold a log: touch). */
static void act_dma(struct fuzz_in *in)
{
	static const uint64_t iovas[] = { GPA_HOLE, GPA_SEM, GPA_SCRATCH,
					  GPA_BASE + 2 * PAGE };
	uint8_t buf[64], k = fuzz_u8(in);
	uint64_t iova = k >= 0xf0 ? fuzz_u64(in) :
				    iovas[k % 4] + fuzz_u16(in) % PAGE;
	size_t len = 1 + fuzz_u8(in) % sizeof(buf);
	unsigned int flags = k & 0x10 ? ISIM_DMA_WRITE : 0;

	fuzz_fill(in, buf, len);
	if (flags)
		touch(iova, len);
	isim_dma(w.n.dev, iova, buf, len, flags);
}

static void act_page_request(struct fuzz_in *in)
{
	uint32_t pasid = fuzz_u32(in) & 0x1fffff;
	uint64_t addr = fuzz_u64(in);
	uint8_t flags = fuzz_u8(in);
	uint16_t group = fuzz_u8(in) & 0x80 ? fuzz_u16(in) % 520 :
					      fuzz_u8(in) % 8;

	isim_device_page_request(w.n.dev, pasid, addr,
				 flags >= 0xf0 ? flags : flags & 0x3f, group);
}

/* --------------------------------------------------------- the logs */

/* Every entry a guest takes off a log must be one the spec defines. */
static void evt_check(void *arg, const struct amd_entry *e)
{
	unsigned int code = amd_entry_code(e);
	uint64_t flags = e->q0 & ~(0xfull << 60);

	(void)arg;
	switch (code) {
	case AMD_EVT_ILLEGAL_COMMAND_ERROR:
		/* §3.2: nothing but the code, and a command's address. */
		if (flags || e->q1 % 16)
			fuzz_die("ILLEGAL_COMMAND_ERROR %#llx %#llx",
				 (unsigned long long)e->q0,
				 (unsigned long long)e->q1);
		break;
	case AMD_EVT_COMMAND_HW_ERROR:
		/* Only Type, bits 58:57, and it names an abort. */
		if (flags & ~(3ull << 57) || !(flags >> 57))
			fuzz_die("COMMAND_HARDWARE_ERROR %#llx",
				 (unsigned long long)e->q0);
		break;
	case AMD_EVT_IO_PAGE_FAULT:
	case AMD_EVT_INVALID_PPR_REQUEST:
		if ((e->q0 & 0xffff) != VIRT_ID)
			fuzz_die("event %u for DeviceID %#llx", code,
				 (unsigned long long)(e->q0 & 0xffff));
		break;
	default:
		fuzz_die("event code %u drained", code);
	}
}

static void ppr_check(void *arg, const struct amd_entry *e)
{
	(void)arg;
	if (amd_entry_code(e) != AMD_PPR_TYPE_REQUEST ||
	    (e->q0 & 0xffff) != VIRT_ID || e->q1 & 0xfff)
		fuzz_die("PPR entry %#llx %#llx", (unsigned long long)e->q0,
			 (unsigned long long)e->q1);
}

/* The guest's handle onto a log as it is programmed now, or NULL. */
static struct amd_guest_ring *log_handle(int ring)
{
	struct ring *r = &w.r[ring];

	if (!r->owner)
		return NULL;
	r->g.base = guest_va(r->gpa, ring_size(r));
	return r->g.base ? &r->g : NULL;
}

static void act_drain(struct fuzz_in *in)
{
	int ring = fuzz_u8(in) & 1 ? AMD_RING_PPR : AMD_RING_EVT;
	unsigned int max = 1 + fuzz_u8(in) % 64;
	struct amd_guest_ring *g = log_handle(ring);
	int n;

	if (!g)
		return;
	n = amd_guest_log_drain(g, max, 0,
				ring == AMD_RING_EVT ? evt_check : ppr_check,
				NULL);
	if (n < 0 && w.r[ring].clean)
		fuzz_die("log %d published a slot it never wrote", ring);
}

/*
 * Linux's amd_iommu_restart_log (§3.4) for a log, or the command buffer's
 * reset (§2.5 recovery): stopped rings come back running, with the
 * overflow gone.
 */
static void act_restart(struct fuzz_in *in)
{
	int ring = fuzz_u8(in) % AMD_RING_NR;
	struct ring *r = &w.r[ring];
	struct amd_ring_info ri;

	if (amd_guest_status_read(w.vf) & rd[ring].run)
		return;
	control(w.ctl & ~(rd[ring].en | rd[ring].intr));
	if (ring == AMD_RING_CMD) {
		vwrite(AMD_VF_CMD_HEAD, 0);
		vwrite(AMD_VF_CMD_TAIL, 0);
		r->next = 0;
	} else {
		amd_guest_status_write(w.vf, rd[ring].ovf);
	}
	control(w.ctl | rd[ring].en | rd[ring].intr);
	info(ring, &ri);
	if (ri.size && (!ri.run || amd_guest_status_read(w.vf) & rd[ring].ovf))
		fuzz_die("ring %d did not restart", ring);
	if (ring == AMD_RING_CMD && ri.size && ri.head)
		fuzz_die("the command buffer restarted at %#x", ri.head);
}

/* ------------------------------------------------------ the VMM's side */

/* Unmap or map back one page of guest RAM, or play with the scratch page. */
static void act_mapping(struct fuzz_in *in)
{
	uint8_t k = fuzz_u8(in);
	unsigned int p = k % (RAM_PAGES + 1);
	uint64_t gpa = GPA_BASE + p * PAGE;
	int rc;

	if (p < RAM_PAGES) {
		rc = w.mapped[p] ? fuzz_unmap(&w.n, gpa, PAGE) :
				   fuzz_map(&w.n, w.ram + p * PAGE, PAGE, gpa);
		if (rc)
			fuzz_die("IOAS %s of RAM page %u: %d",
				 w.mapped[p] ? "UNMAP" : "MAP", p, rc);
		w.mapped[p] = !w.mapped[p];
		return;
	}
	/* Scratch: allocated and mapped, unmapped, freed (in either order). */
	if (w.scratch_mapped && (!w.scratch || k & 0x80)) {
		if (fuzz_unmap(&w.n, GPA_SCRATCH, PAGE))
			fuzz_die("cannot unmap the scratch page");
		w.scratch_mapped = false;
	} else if (w.scratch) {
		isim_mem_free(w.n.m, w.scratch);
		w.scratch = NULL;
		touch(GPA_SCRATCH, PAGE);
	} else if (!w.scratch_mapped) {
		if (isim_mem_alloc(w.n.m, PAGE, ISIM_BACKING_4K,
				   (void **)&w.scratch))
			fuzz_die("cannot allocate the scratch page");
		memset(w.scratch, 0, PAGE);
		touch(GPA_SCRATCH, PAGE);
		if (fuzz_map(&w.n, w.scratch, PAGE, GPA_SCRATCH))
			fuzz_die("cannot map the scratch page");
		w.scratch_mapped = true;
	}
}

/* A new programming of @ring: pointers at 0, the guest's handle with it. */
static void ring_programmed(int ring, uint32_t id, uint64_t gpa,
			    unsigned int len)
{
	struct ring *r = &w.r[ring];
	struct amd_ring_info ri;

	r->owner = id;
	r->gpa = gpa;
	r->len = len;
	r->next = 0;
	r->dirty = false;
	r->clean = true;
	if (ring != AMD_RING_CMD)
		amd_guest_ring_init(&r->g, w.vf, (enum amd_ring)ring, NULL,
				    len);
	for (int i = 0; i < AMD_RING_NR; i++) {
		if (i != ring && overlap(gpa, ring_size(r), w.r[i].gpa,
					 ring_size(&w.r[i]))) {
			w.r[i].clean = false;
			r->clean = false;
		}
	}
	info(ring, &ri);
	if (ri.run || ri.head || ri.tail)
		fuzz_die("ring %d programmed: run %d head %#x tail %#x", ring,
			 ri.run, ri.head, ri.tail);
}

/* The ring a HW queue type programs, or -1. */
static int type_ring(uint32_t type)
{
	for (int i = 0; i < AMD_RING_NR; i++)
		if (rd[i].type == type)
			return i;
	return -1;
}

/* Destroy one of a ring's queues: the owner unprograms the ring. */
static void hw_queue_destroy(struct fuzz_in *in, struct ring *r)
{
	uint32_t id;

	if (!r->nhwq)
		return;
	id = r->hwq[fuzz_u8(in) % r->nhwq];
	if (fuzz_destroy(&w.n, id))
		fuzz_die("cannot destroy HW queue %u", id);
	for (unsigned int i = 0; i < r->nhwq; i++)
		if (r->hwq[i] == id)
			r->hwq[i] = r->hwq[--r->nhwq];
	if (id == r->owner) {
		r->owner = 0;
		r->en = false;
		r->dirty = false;
	}
}

/*
 * HW_QUEUE_ALLOC anywhere: RAM pages (whole or partly past the end), the
 * scratch page, never-mapped GPA, unaligned; the rules of §5.3 (type,
 * index 0, a length code of 8..15, a 4 KiB-aligned base, not while the
 * ring runs) decide, and a queue that is taken reprograms its ring.
 */
static void act_hw_queue(struct fuzz_in *in)
{
	static const uint32_t lens[] = { 8, 9, 8, 9, 7, 16, 15, 0 };
	uint8_t k = fuzz_u8(in);
	uint32_t type = k & 0x20 ? fuzz_u8(in) : rd[k % AMD_RING_NR].type;
	uint32_t index = k & 0x10 ? 1 : 0, id, len;
	int ring = type_ring(type);
	struct amd_ring_info ri = { 0 };
	uint64_t gpa;

	if (k & 0x80) {
		hw_queue_destroy(in, &w.r[k % AMD_RING_NR]);
		return;
	}
	switch (fuzz_u8(in) % 4) {
	case 0:
		gpa = GPA_SCRATCH;
		break;
	case 1:
		gpa = k & 0x40 ? GPA_HOLE : fuzz_u64(in);
		break;
	default:
		gpa = GPA_BASE + fuzz_u8(in) % RAM_PAGES * PAGE;
	}
	if (k & 0x40 && k & 0x08)
		gpa += 16;
	len = lens[fuzz_u8(in) % 8];
	if (ring >= 0) {
		if (w.r[ring].nhwq == MAX_HWQ)
			return;
		info(ring, &ri);
	}
	if (fuzz_hw_queue(&w.n, w.viommu, type, index, gpa, len, &id))
		return;
	if (ring < 0 || index || ri.run || len < AMD_LEN_MIN ||
	    len > AMD_LEN_MAX || gpa & ~AMD_BASE_MASK)
		fuzz_die("HW_QUEUE_ALLOC type %u index %u gpa %#llx len %u "
			 "taken (run %d)", type, index,
			 (unsigned long long)gpa, len, ri.run);
	w.r[ring].hwq[w.r[ring].nhwq++] = id;
	ring_programmed(ring, id, gpa, len);
}

/* ---------------------------------------------------------- the world */

static void world_new(void)
{
	struct iommu_viommu_amd data = { .viommu_devid = 2 };
	struct iommu_hwpt_amd_guest g = {
		/* V, GV, a GCR3 root, and page requests on (the PPR bit). */
		.dte = { 1ull | 1ull << 52 | 1ull << 55 | 1ull << 58, GDOM_ID },
	};
	struct iommu_hwpt_alloc nested = {
		.size = sizeof(nested), .data_type = IOMMU_HWPT_DATA_AMD_GUEST,
		.data_len = sizeof(g), .data_uptr = (uintptr_t)&g,
	};
	static const uint64_t gpa[AMD_RING_NR] = {
		GPA_BASE, GPA_BASE + 2 * PAGE, GPA_BASE + 3 * PAGE,
	};
	uint32_t vdev, id;

	memset(&w, 0, sizeof(w));
	fuzz_nest_new(&w.n, "amd-viommu", NULL);
	w.viommu = fuzz_viommu(&w.n, IOMMU_VIOMMU_TYPE_AMD, &data,
			       sizeof(data));
	nested.dev_id = w.n.dev_id;
	nested.pt_id = w.viommu;
	if (isim_mmap(w.n.fd, data.out_vfmmio_mmap_offset, AMD_VF_PAGE_SIZE,
		      PROT_READ | PROT_WRITE, MAP_SHARED, &w.vf) ||
	    amd_viommu_model(w.n.fd, w.viommu, &w.hw) ||
	    fuzz_vdevice(&w.n, w.viommu, VIRT_ID, &vdev) ||
	    isim_ioctl(w.n.fd, IOMMU_HWPT_ALLOC, &nested) ||
	    isim_device_replace(w.n.fd, w.n.dev_id, &nested.out_hwpt_id))
		fuzz_die("cannot nest the device behind the vIOMMU");
	if (isim_mem_alloc(w.n.m, RAM_PAGES * PAGE, ISIM_BACKING_4K,
			   (void **)&w.ram))
		fuzz_die("cannot allocate guest RAM");
	memset(w.ram, 0, RAM_PAGES * PAGE);
	for (unsigned int p = 0; p < RAM_PAGES; p++) {
		if (fuzz_map(&w.n, w.ram + p * PAGE, PAGE, GPA_BASE + p * PAGE))
			fuzz_die("cannot map guest RAM");
		w.mapped[p] = true;
	}
	for (int i = 0; i < AMD_RING_NR; i++) {
		if (fuzz_hw_queue(&w.n, w.viommu, rd[i].type, 0, gpa[i], 8,
				  &id))
			fuzz_die("cannot allocate ring %d", i);
		w.r[i].hwq[w.r[i].nhwq++] = id;
		ring_programmed(i, id, gpa[i], 8);
	}
	control(CTL_ALL);
	amd_hw_stats(w.hw, &w.st);
	check_all("setup");
}

static void world_free(void)
{
	if (isim_munmap(w.n.fd, w.vf, AMD_VF_PAGE_SIZE))
		fuzz_die("cannot unmap the VF page");
	fuzz_nest_close(&w.n);
	isim_mem_free(w.n.m, w.ram);
	if (w.scratch)
		isim_mem_free(w.n.m, w.scratch);
	isim_machine_free(w.n.m);
}

static const struct fuzz_act acts[] = {
	{ "push", act_push },		{ "push", act_push },
	{ "pointer", act_pointer },	{ "control", act_control },
	{ "status", act_status },	{ "run", act_run },
	{ "run", act_run },		{ "dma", act_dma },
	{ "page_request", act_page_request },
	{ "drain", act_drain },		{ "drain", act_drain },
	{ "restart", act_restart },	{ "mapping", act_mapping },
	{ "hw_queue", act_hw_queue },
};

static const struct fuzz_harness harness = {
	world_new, check_all, world_free, acts,
	sizeof(acts) / sizeof(acts[0]), MAX_OPS,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_harness_run(&harness, data, size);
}
