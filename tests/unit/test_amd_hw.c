/*
 * The AMD vIOMMU hardware model on its own, against the acceptance
 * scenarios of spec/amd_viommu.md §10 that need no iommufd objects (the
 * numbers in comments are the scenario rows).  Guest RAM is a test-owned
 * byte array behind an isim_hw_mem that maps GPA pages to array pages and
 * can punch a hole (-EFAULT) into any page, so every fault path is
 * reachable without the memory layer.  The threaded tests run the model
 * on its own thread against guest threads and are meant for TSan.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim/lib/fault.h"
#include "sim/lib/trace.h"
#include "vendors/amd/amd_hw.h"

#define PAGE		4096u
#define GMEM_PAGES	256u		/* 1 MiB of guest RAM */
#define CMD_GPA		0x10000ull
#define EVT_GPA		0x20000ull
#define PPR_GPA		0x30000ull
#define SEM_GPA		0x40000ull
#define CTL_CMD		((1ull << 12) | (1ull << 4))
#define CTL_EVT		((1ull << 2) | (1ull << 3))
#define CTL_PPR		((1ull << 13) | (1ull << 14) | (1ull << 15))
#define CTL_ALL		(CTL_CMD | CTL_EVT | CTL_PPR)
#define SEC		1000000000ull

/* ------------------------------------------------------- guest memory */

/* How the fixture's provider offers the model direct page access. */
enum page_mode {
	PAGE_DIRECT,	/* struct amd_hw_page_ops on every page */
	PAGE_NONE,	/* no page ops: everything through isim_hw_mem */
	PAGE_NOSUPP,	/* page ops that always answer -EOPNOTSUPP */
	PAGE_MODES,
};

static struct {
	uint8_t *ram;
	uint32_t map[GMEM_PAGES];	/* GPA page -> page of ram */
	atomic_bool hole[GMEM_PAGES];
	atomic_ulong writes;
	atomic_ulong faults;
	_Atomic uint64_t last_write;
	enum page_mode page_mode;	/* for the next hw_up */
	atomic_ulong page_runs;		/* page ops that ran the model */
	atomic_ulong page_writes;	/* of them, writes (log pages) */
} gm;

static uint8_t *gva(uint64_t gpa)
{
	return gm.ram + (size_t)gm.map[gpa / PAGE] * PAGE + gpa % PAGE;
}

static int gm_access(uint64_t gpa, uint8_t *p, size_t len, bool write)
{
	uint64_t start = gpa;

	if (!len || gpa >= (uint64_t)GMEM_PAGES * PAGE ||
	    len > (uint64_t)GMEM_PAGES * PAGE - gpa)
		goto fault;
	/* Check first, so that a failing write touches nothing. */
	for (uint64_t pg = gpa / PAGE; pg <= (gpa + len - 1) / PAGE; pg++)
		if (atomic_load(&gm.hole[pg]))
			goto fault;
	while (len) {
		size_t off = gpa % PAGE, n = len < PAGE - off ? len : PAGE - off;
		uint8_t *h = gva(gpa);

		if (n == 8 && !(gpa & 7)) {
			/* What driver providers must do for polled words. */
			_Atomic uint64_t *a = (_Atomic uint64_t *)h;
			uint64_t v;

			if (write) {
				memcpy(&v, p, 8);
				atomic_store_explicit(a, v, memory_order_release);
			} else {
				v = atomic_load_explicit(a, memory_order_acquire);
				memcpy(p, &v, 8);
			}
		} else if (write) {
			memcpy(h, p, n);
		} else {
			memcpy(p, h, n);
		}
		gpa += n;
		p += n;
		len -= n;
	}
	if (write) {
		atomic_fetch_add(&gm.writes, 1);
		atomic_store(&gm.last_write, start);
	}
	return 0;
fault:
	atomic_fetch_add(&gm.faults, 1);
	return -EFAULT;
}

static int gm_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
	return gm_access(addr, buf, len, false);
}

static int gm_write(void *ctx, uint64_t addr, const void *buf, size_t len)
{
	return gm_access(addr, (uint8_t *)buf, len, true);
}

/*
 * The direct view: the page's bytes in ram, unless a hole is punched in
 * it.  The model reads command pages through it and writes log pages; a
 * write counts as one, at the page, like a write through gm_write.
 */
static int gm_page(void *ctx, uint64_t gpa, bool write,
		   int (*fn)(void *arg, uint8_t *host), void *arg)
{
	int rc;

	/*
	 * No ck_assert on the way of every call: check marks each one in
	 * its log file, which would make an event producer thread crawl.
	 */
	if (gpa % PAGE)
		ck_abort_msg("page access at %#llx", (unsigned long long)gpa);
	if (gm.page_mode == PAGE_NOSUPP)
		return -EOPNOTSUPP;
	if (gpa >= (uint64_t)GMEM_PAGES * PAGE ||
	    atomic_load(&gm.hole[gpa / PAGE])) {
		atomic_fetch_add(&gm.faults, 1);
		return -EFAULT;
	}
	atomic_fetch_add(&gm.page_runs, 1);
	rc = fn(arg, gva(gpa));
	if (write) {
		atomic_fetch_add(&gm.writes, 1);
		atomic_store(&gm.last_write, gpa);
		atomic_fetch_add(&gm.page_writes, 1);
	}
	return rc;
}

/* A guest store through the GPA map, for rings that are not contiguous. */
static void gpa_store_entry(uint64_t gpa, const struct amd_entry *e)
{
	amd_entry_to_bytes(e, gva(gpa));
}

static uint64_t load64(uint64_t gpa)
{
	return atomic_load_explicit((_Atomic uint64_t *)gva(gpa),
				    memory_order_acquire);
}

/* ---------------------------------------------------------- callbacks */

static atomic_uint irqs[AMD_IRQ_NR];
static atomic_uint nrsp;
static struct amd_ppr_response last_rsp;
static atomic_uint host_faults;
static atomic_uint nexec;
static uint16_t exec_devids[1024];
static uint8_t exec_ops[1024];

static void on_irq(void *arg, enum amd_irq_src src)
{
	atomic_fetch_add(&irqs[src], 1);
}

static void on_ppr_rsp(void *arg, const struct amd_ppr_response *rsp)
{
	last_rsp = *rsp;
	atomic_fetch_add(&nrsp, 1);
}

static void on_exec(void *arg, const struct amd_cmd *cmd)
{
	unsigned int n = atomic_fetch_add(&nexec, 1);

	if (n < 1024)
		exec_ops[n] = (uint8_t)cmd->op;
	if (cmd->op == AMD_CMD_INV_DEVTAB_ENTRY && n < 1024)
		exec_devids[n] = cmd->inv_dte.devid;
}

static void on_fault(void *arg, uint16_t trans_devid, uint64_t gpa,
		     bool write)
{
	atomic_fetch_add(&host_faults, 1);
}

/* ------------------------------------------------------------ fixture */

static struct amd_hw *hw;
static struct isim_tracer *fix_tr;	/* the next hw_up's tracer, or NULL */
static bool fix_no_exec_hook;		/* the next hw_up without cmd_exec */
static void *vf;
static struct amd_guest_ring gc, ge, gp;
static struct amd_cmd_format fmt;

static void guest_init_ring(enum amd_ring ring, unsigned int len)
{
	static const uint64_t gpa[] = { CMD_GPA, EVT_GPA, PPR_GPA };
	struct amd_guest_ring *g[] = { &gc, &ge, &gp };

	amd_guest_ring_init(g[ring], vf, ring, gva(gpa[ring]), len);
}

static void hw_up_cfg(const struct amd_hw_config *cfg)
{
	static const uint64_t gpa[] = { CMD_GPA, EVT_GPA, PPR_GPA };
	struct isim_hw_mem mem = { gm_read, gm_write, NULL };
	struct amd_hw_ops ops = { on_irq, on_ppr_rsp,
				  fix_no_exec_hook ? NULL : on_exec, on_fault };
	uint64_t size = cfg->alloc_length_units == AMD_LENGTH_BYTES ?
			amd_ring_bytes(8) : 8;

	memset(irqs, 0, sizeof(irqs));
	nrsp = host_faults = nexec = 0;
	gm.writes = gm.faults = 0;
	gm.ram = aligned_alloc(PAGE, (size_t)GMEM_PAGES * PAGE);
	ck_assert_ptr_nonnull(gm.ram);
	memset(gm.ram, 0, (size_t)GMEM_PAGES * PAGE);
	for (uint32_t i = 0; i < GMEM_PAGES; i++) {
		gm.map[i] = i;
		gm.hole[i] = false;
	}
	ck_assert_int_eq(amd_hw_create(cfg, &mem, &ops, NULL, fix_tr, &hw), 0);
	if (gm.page_mode != PAGE_NONE)
		amd_hw_set_page_ops(hw, &(struct amd_hw_page_ops){
			.access = gm_page });
	gm.page_runs = gm.page_writes = 0;
	vf = amd_hw_vf_page(hw);
	ck_assert_uint_eq((uintptr_t)vf % PAGE, 0);
	fmt.iotlb_pasid = cfg->iotlb_pasid_layout;
	fmt.iotlb_type = cfg->inv_iotlb_type_sup;
	for (int r = 0; r < AMD_RING_NR; r++) {
		ck_assert_int_eq(amd_hw_ring_program(hw, r, gpa[r], size), 0);
		guest_init_ring(r, 8);
	}
	amd_hw_control_write(hw, CTL_ALL);
}

static void hw_up(const char *opts)
{
	struct amd_hw_config cfg;

	amd_hw_config_init(&cfg);
	ck_assert_int_eq(amd_hw_config_parse(&cfg, opts), 0);
	hw_up_cfg(&cfg);
}

static void hw_down(void)
{
	amd_hw_destroy(hw);
	hw = NULL;
	free(gm.ram);
	gm.ram = NULL;
	gm.page_mode = PAGE_DIRECT;
	fix_tr = NULL;
	fix_no_exec_hook = false;
}

/* Re-program the command buffer with another length code. */
static void cmd_ring_len(unsigned int len)
{
	amd_hw_control_write(hw, CTL_ALL & ~CTL_CMD);
	ck_assert_int_eq(amd_hw_ring_program(hw, AMD_RING_CMD, CMD_GPA, len), 0);
	guest_init_ring(AMD_RING_CMD, len);
	amd_hw_control_write(hw, CTL_ALL);
}

static void q(struct amd_cmd c)
{
	ck_assert_int_eq(amd_guest_cmd_queue(&gc, &c, &fmt), 0);
}

static void qraw(uint64_t q0, uint64_t q1)
{
	struct amd_entry e = { q0, q1 };

	ck_assert_int_eq(amd_guest_cmd_push(&gc, &e), 0);
}

static unsigned int go(void)
{
	amd_guest_cmd_ring_tail(&gc);
	return amd_hw_step(hw, 1u << 20);
}

static struct amd_hw_stats st(void)
{
	struct amd_hw_stats s;

	amd_hw_stats(hw, &s);
	return s;
}

static struct amd_ring_info ri(enum amd_ring ring)
{
	struct amd_ring_info i;

	amd_hw_ring_info(hw, ring, &i);
	return i;
}

static uint64_t reg_get(unsigned int off)
{
	return atomic_load(amd_vf_reg(vf, off));
}

static void reg_set(unsigned int off, uint64_t v)
{
	atomic_store(amd_vf_reg(vf, off), v);
}

static int evt_pop(struct amd_event *ev)
{
	struct amd_entry e;
	int rc = amd_guest_log_pop(&ge, &e, 0);

	if (!rc)
		amd_event_decode(&e, ev);
	return rc;
}

static struct amd_cmd c_cw(bool s, bool i, uint64_t addr, uint64_t data)
{
	return (struct amd_cmd){ .op = AMD_CMD_COMPLETION_WAIT,
		.comp_wait = { .s = s, .i = i, .store_addr = addr,
			       .store_data = data } };
}

static struct amd_cmd c_dte(uint16_t devid)
{
	return (struct amd_cmd){ .op = AMD_CMD_INV_DEVTAB_ENTRY,
				 .inv_dte.devid = devid };
}

static struct amd_cmd c_all(void)
{
	return (struct amd_cmd){ .op = AMD_CMD_INV_IOMMU_ALL };
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * SEC + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------- wire formats */

static const struct amd_cmd sample_cmds[] = {
	{ .op = AMD_CMD_COMPLETION_WAIT, .comp_wait = { .s = 1, .i = 1,
	  .store_addr = 0x000ffffffffffff8ull, .store_data = 0x1122334455667788ull } },
	{ .op = AMD_CMD_INV_DEVTAB_ENTRY, .inv_dte.devid = 0xbeef },
	{ .op = AMD_CMD_INV_IOMMU_PAGES, .inv_pages = { .pasid = 0xfffff,
	  .domid = 0x1234, .s = 1, .pde = 1, .gn = 1,
	  .addr = 0x7ffffffffffff000ull } },
	{ .op = AMD_CMD_INV_IOTLB_PAGES, .inv_iotlb = { .devid = 0x0102,
	  .pasid = 0xabcd, .maxpend = 0x20, .queueid = 0x0102, .s = 1,
	  .gn = 1, .addr = 0x123456789000ull } },
	{ .op = AMD_CMD_INV_INTERRUPT_TABLE, .inv_irt.devid = 0x4242 },
	{ .op = AMD_CMD_PREFETCH_IOMMU_PAGES, .prefetch = { .devid = 7,
	  .count = 3, .pasid = 0x54321, .s = 1, .gn = 1, .inval = 1,
	  .addr = 0xabc000 } },
	{ .op = AMD_CMD_COMPLETE_PPR_REQUEST, .complete_ppr = { .devid = 0x200,
	  .pasid = 0x12345, .gn = 1, .tag = 0x1a3, .status = 2 } },
	{ .op = AMD_CMD_INV_IOMMU_ALL },
	{ .op = AMD_CMD_RESET_VMMIO, .reset_vmmio = { .gid = 9, .all = 1,
	  .vcmd = 1 } },
};

START_TEST(cmd_roundtrip)
{
	for (size_t i = 0; i < sizeof(sample_cmds) / sizeof(sample_cmds[0]); i++) {
		struct amd_entry e, e2;
		struct amd_cmd c;

		ck_assert_int_eq(amd_cmd_encode(&sample_cmds[i], NULL, &e), 0);
		ck_assert_uint_eq(amd_entry_code(&e), sample_cmds[i].op);
		ck_assert_int_eq(amd_cmd_decode(&e, NULL, &c), 0);
		ck_assert_int_eq(amd_cmd_encode(&c, NULL, &e2), 0);
		ck_assert_uint_eq(e.q0, e2.q0);
		ck_assert_uint_eq(e.q1, e2.q1);
	}
	/* Spot checks against the spec's bit numbers (§2.3). */
	{
		struct amd_entry e;
		struct amd_cmd c;

		amd_cmd_encode(&sample_cmds[6], NULL, &e);
		ck_assert_uint_eq(e.q1 >> 32 & 0x1ff, 0x1a3);	/* 104:96 */
		ck_assert_uint_eq(e.q1 >> 44 & 0xf, 2);		/* 111:108 */
		ck_assert_uint_eq(e.q0 >> 32 & 0xfffff, 0x12345);
		ck_assert_uint_eq(e.q1 >> 2 & 1, 1);
		amd_cmd_encode(&sample_cmds[3], NULL, &e);
		ck_assert_uint_eq(e.q0 >> 16 & 0xff, 0xab);	/* PASID[15:8] */
		ck_assert_uint_eq(e.q0 >> 48 & 0xff, 0xcd);	/* PASID[7:0] */
		ck_assert_uint_eq(e.q0 >> 32 & 0xffff, 0x0102);
		/* VirtualBox reads bits 23:16 low and 59:48 high. */
		fmt.iotlb_pasid = AMD_IOTLB_PASID_VBOX;
		c = sample_cmds[3];
		c.inv_iotlb.pasid = 0xabcde;
		ck_assert_int_eq(amd_cmd_encode(&c, &fmt, &e), 0);
		ck_assert_uint_eq(e.q0 >> 16 & 0xff, 0xde);
		ck_assert_uint_eq(e.q0 >> 48 & 0xfff, 0xabc);
		ck_assert_int_eq(amd_cmd_decode(&e, &fmt, &c), 0);
		ck_assert_uint_eq(c.inv_iotlb.pasid, 0xabcde);
		fmt.iotlb_pasid = AMD_IOTLB_PASID_LINUX;
		ck_assert_int_eq(amd_cmd_encode(&c, &fmt, &e), -EINVAL);
	}
	/* Values that do not fit are refused, not truncated. */
	{
		struct amd_cmd c = c_cw(true, false, 0x1004, 0);
		struct amd_entry e;

		ck_assert_int_eq(amd_cmd_encode(&c, NULL, &e), -EINVAL);
		c = sample_cmds[6];
		c.complete_ppr.tag = 0x200;
		ck_assert_int_eq(amd_cmd_encode(&c, NULL, &e), -EINVAL);
	}
}
END_TEST

/* Reserved-bit masks written from the spec's tables, checked bit by bit. */
START_TEST(cmd_reserved_bits)
{
	static const struct {
		enum amd_cmd_op op;
		uint64_t rsvd0, rsvd1;
	} t[] = {
		{ AMD_CMD_COMPLETION_WAIT, 0x0ff0000000000000ull, 0 },
		{ AMD_CMD_INV_DEVTAB_ENTRY, 0x0fffffffffff0000ull, ~0ull },
		{ AMD_CMD_INV_IOMMU_PAGES, 0x0fff0000fff00000ull, 0xff8 },
		{ AMD_CMD_INV_IOTLB_PAGES, 0x0f00000000000000ull, 0xffa },
		{ AMD_CMD_INV_INTERRUPT_TABLE, 0x0fffffffffff0000ull, ~0ull },
		{ AMD_CMD_PREFETCH_IOMMU_PAGES, 0x0ff0000000ff0000ull, 0xfea },
		{ AMD_CMD_COMPLETE_PPR_REQUEST, 0x0ff00000ffff0000ull,
		  0xffff0e00fffffffbull },
		{ AMD_CMD_INV_IOMMU_ALL, 0x0fffffffffffffffull, ~0ull },
	};
	struct amd_cmd c;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		for (unsigned int bit = 0; bit < 128; bit++) {
			struct amd_entry e = { (uint64_t)t[i].op << 60, 0 };
			uint64_t rsvd = bit < 64 ? t[i].rsvd0 : t[i].rsvd1;
			int want;

			if (bit >= 60 && bit < 64)
				continue;
			if (bit < 64)
				e.q0 |= 1ull << bit;
			else
				e.q1 |= 1ull << (bit - 64);
			want = rsvd >> (bit % 64) & 1 ? -EINVAL : 0;
			ck_assert_msg(amd_cmd_decode(&e, NULL, &c) == want,
				      "op %d bit %u", t[i].op, bit);
		}
	}
	/* With InvIotlbTypeSup, bits 69:68 become a field. */
	fmt.iotlb_type = true;
	{
		struct amd_entry e = { (uint64_t)AMD_CMD_INV_IOTLB_PAGES << 60,
				       3ull << 4 };

		ck_assert_int_eq(amd_cmd_decode(&e, &fmt, &c), 0);
		ck_assert_uint_eq(c.inv_iotlb.type, 3);
	}
	for (unsigned int op = 0; op < 16; op++) {
		struct amd_entry e = { (uint64_t)op << 60, 0 };
		int rc = amd_cmd_decode(&e, NULL, &c);

		if (op == 0 || op == 9 || op >= 0xb)
			ck_assert_int_eq(rc, -EOPNOTSUPP);
		else
			ck_assert_int_ne(rc, -EOPNOTSUPP);
	}
}
END_TEST

START_TEST(inv_range_encoding)
{
	uint64_t first, last, addr;
	bool s;

	amd_inv_range(0x5000, false, &first, &last);
	ck_assert_uint_eq(first, 5);
	ck_assert_uint_eq(last, 5);
	/* Linux's "everything" address. */
	amd_inv_range(0x7ffffffffffff000ull, true, &first, &last);
	ck_assert_uint_eq(first, 0);
	ck_assert_uint_eq(last, (1ull << 52) - 1);
	amd_inv_range(0x1000, true, &first, &last);	/* lowest clear bit 1 */
	ck_assert_uint_eq(first, 0);
	ck_assert_uint_eq(last, 3);
	/* Encoding covers the request with the smallest aligned range. */
	for (uint64_t start = 0; start < 0x40000; start += 0x3000) {
		for (uint64_t len = 1; len < 0x30000; len = len * 3 + 0x800) {
			amd_inv_range_encode(start, len, &addr, &s);
			amd_inv_range(addr, s, &first, &last);
			ck_assert_uint_le(first, start >> 12);
			ck_assert_uint_ge(last, (start + len - 1) >> 12);
			/* Smallest: half the block would not cover the end. */
			if (last - first + 1 > 2) {
				uint64_t half = (last - first + 1) / 2;

				ck_assert_uint_ne((start >> 12) / half,
						  ((start + len - 1) >> 12) / half);
			}
		}
	}
	amd_inv_range_encode(0, ~0ull, &addr, &s);
	ck_assert_uint_eq(addr, 0x7ffffffffffff000ull);
	ck_assert(s);
}
END_TEST

static void assert_event_eq(const struct amd_event *a,
			    const struct amd_event *b)
{
	ck_assert_uint_eq(a->code, b->code);
	ck_assert_uint_eq(a->devid, b->devid);
	ck_assert_uint_eq(a->domid, b->domid);
	ck_assert_uint_eq(a->pasid, b->pasid);
	ck_assert_uint_eq(a->flags, b->flags);
	ck_assert_uint_eq(a->tag, b->tag);
	ck_assert_uint_eq(a->addr, b->addr);
}

static void assert_ppr_eq(const struct amd_ppr *a, const struct amd_ppr *b)
{
	ck_assert_uint_eq(a->devid, b->devid);
	ck_assert_uint_eq(a->pasid, b->pasid);
	ck_assert_uint_eq(a->prgi, b->prgi);
	ck_assert_int_eq(a->last, b->last);
	ck_assert_uint_eq(a->flags, b->flags);
	ck_assert_uint_eq(a->addr, b->addr);
}

START_TEST(event_and_ppr_layouts)
{
	struct amd_event ev = { .code = AMD_EVT_IO_PAGE_FAULT, .devid = 0x0100,
				.domid = 5, .flags = AMD_EVT_F_RW,
				.addr = 0xdead000 }, back;
	struct amd_ppr req = { .devid = 0x0200, .pasid = 0x12345, .prgi = 0x1a3,
			       .last = true,
			       .flags = AMD_PPR_F_RD | AMD_PPR_F_WR | AMD_PPR_F_GN,
			       .addr = 0x7f0000001000ull }, req2;
	struct amd_entry e;

	ck_assert_int_eq(amd_event_encode(&ev, &e), 0);
	ck_assert_uint_eq(e.q0, 0x2020000500000100ull);
	ck_assert_uint_eq(e.q1, 0xdead000);
	amd_event_decode(&e, &back);
	assert_event_eq(&ev, &back);
	/* GN: bits 47:32 carry PASID[15:0] and 19:16 PASID[19:16]. */
	ev.flags |= AMD_EVT_F_GN;
	ev.domid = 0;
	ev.pasid = 0xabcde;
	ck_assert_int_eq(amd_event_encode(&ev, &e), 0);
	ck_assert_uint_eq(e.q0 >> 32 & 0xffff, 0xbcde);
	ck_assert_uint_eq(e.q0 >> 16 & 0xf, 0xa);
	amd_event_decode(&e, &back);
	assert_event_eq(&ev, &back);

	ck_assert_int_eq(amd_ppr_encode(&req, &e), 0);
	ck_assert_uint_eq(e.q0, 0x112407a323450200ull);	/* #28 */
	ck_assert_uint_eq(e.q1, 0x7f0000001000ull);
	amd_ppr_decode(&e, &req2);
	assert_ppr_eq(&req, &req2);
	/* INVALID_PPR_REQUEST shares the PPR entry layout. */
	amd_ppr_to_event(&req, &ev);
	ck_assert_int_eq(amd_event_encode(&ev, &e), 0);
	ck_assert_uint_eq(e.q0, (0x112407a323450200ull & ~(0xfull << 60)) |
				9ull << 60);
	amd_event_decode(&e, &back);
	ck_assert_uint_eq(back.pasid, 0x12345);
	ck_assert_uint_eq(back.tag, 0x3a3);
	ck_assert_uint_eq(amd_ppr_status_encode(AMD_PPR_STATUS_PCIE,
						AMD_PPR_RSP_FAILURE), 0xf);
	ck_assert_int_eq(amd_ppr_status_decode(AMD_PPR_STATUS_LINUX, 2),
			 AMD_PPR_RSP_FAILURE);
	ck_assert_int_eq(amd_ppr_status_decode(AMD_PPR_STATUS_PCIE, 2),
			 AMD_PPR_RSP_OTHER);
}
END_TEST

START_TEST(config_settings)
{
	struct amd_hw_config cfg, before;

	amd_hw_config_init(&cfg);
	ck_assert_int_eq(cfg.illegal_cmd_head, AMD_HEAD_AT_FAULT);
	ck_assert(cfg.overflow_stops_run && cfg.enable_edge_clears_overflow);
	ck_assert_int_eq(cfg.comwait_f_bit, AMD_COMWAIT_F_IGNORE);
	ck_assert_int_eq(cfg.guest_opcode_0xa, AMD_GUEST_0XA_ILLEGAL);
	ck_assert_int_eq(cfg.alloc_length_units, AMD_LENGTH_CODE);
	ck_assert(cfg.alloc_strict_len && !cfg.late_entry_visibility);
	ck_assert_int_eq(cfg.ppr_status_encoding, AMD_PPR_STATUS_LINUX);
	ck_assert(cfg.invalid_ppr_event_when_disabled);
	ck_assert_int_eq(cfg.iotlb_pasid_layout, AMD_IOTLB_PASID_LINUX);
	ck_assert_uint_eq(cfg.ppr_auto_rsp_aon_bit, 42);

	ck_assert_int_eq(amd_hw_config_parse(&cfg,
		"illegal_cmd_head=past_fault,overflow_stops_run=off,gid=0x12,"
		"alloc_length_units=bytes,ppr_auto_rsp_aon_bit=48,efr=0"), 0);
	ck_assert_int_eq(cfg.illegal_cmd_head, AMD_HEAD_PAST_FAULT);
	ck_assert(!cfg.overflow_stops_run);
	ck_assert_uint_eq(cfg.gid, 0x12);
	ck_assert_int_eq(cfg.alloc_length_units, AMD_LENGTH_BYTES);
	ck_assert_uint_eq(cfg.ppr_auto_rsp_aon_bit, 48);
	ck_assert_uint_eq(cfg.efr, 0);
	before = cfg;
	/* All or nothing. */
	ck_assert_int_eq(amd_hw_config_parse(&cfg, "gid=3,nosuch=1"), -EINVAL);
	ck_assert_int_eq(amd_hw_config_parse(&cfg, "gid=70000"), -EINVAL);
	ck_assert_int_eq(amd_hw_config_parse(&cfg, "ppr_auto_rsp_aon_bit=43"),
			 -EINVAL);
	ck_assert_int_eq(amd_hw_config_parse(&cfg, "comwait_f_bit=maybe"),
			 -EINVAL);
	ck_assert_int_eq(amd_hw_config_parse(&cfg, "gid"), -EINVAL);
	ck_assert_int_eq(memcmp(&cfg, &before, sizeof(cfg)), 0);
	ck_assert_int_eq(amd_hw_config_parse(&cfg, NULL), 0);
}
END_TEST

/* Every fallible point of create fails once; nothing leaks (ASan). */
START_TEST(create_failures)
{
	struct isim_hw_mem mem = { gm_read, gm_write, NULL };
	struct amd_hw *h;
	unsigned int n;
	int rc;

	for (n = 1;; n++) {
		isim_fail_nth_set(n);
		rc = amd_hw_create(NULL, &mem, NULL, NULL, NULL, &h);
		isim_fail_nth_set(0);
		if (!rc)
			break;
		ck_assert_int_eq(rc, -ENOMEM);
	}
	ck_assert_uint_gt(n, 1);
	amd_hw_destroy(h);
	mem.read = NULL;
	ck_assert_int_eq(amd_hw_create(NULL, &mem, NULL, NULL, NULL, &h),
			 -EINVAL);
}
END_TEST

/* ------------------------------------------------------ control slot */

START_TEST(ring_program_rules)
{
	struct amd_ring_info i;

	hw_up(NULL);
	/* #1: running, a base write is refused and changes nothing. */
	q(c_all());
	go();
	ck_assert_int_eq(amd_hw_ring_program(hw, AMD_RING_CMD, 0x50000, 9),
			 -EBUSY);
	i = ri(AMD_RING_CMD);
	ck_assert_uint_eq(i.base, CMD_GPA);
	ck_assert_uint_eq(i.len, 8);
	ck_assert_uint_eq(i.head, 0x10);
	/* #2: stopped, base and length taken, pointers zeroed. */
	amd_hw_control_write(hw, CTL_ALL & ~CTL_CMD);
	ck_assert_int_eq(amd_hw_ring_program(hw, AMD_RING_CMD, 0x50000, 9), 0);
	i = ri(AMD_RING_CMD);
	ck_assert_uint_eq(i.base, 0x50000);
	ck_assert_uint_eq(i.size, 0x2000);
	ck_assert_uint_eq(i.head, 0);
	ck_assert_uint_eq(i.tail, 0);
	ck_assert_uint_eq(reg_get(AMD_VF_CMD_HEAD), 0);
	/* #3: a reserved length code is refused; the old one stays. */
	ck_assert_int_eq(amd_hw_ring_program(hw, AMD_RING_CMD, CMD_GPA, 7),
			 -EINVAL);
	ck_assert_int_eq(amd_hw_ring_program(hw, AMD_RING_CMD, CMD_GPA, 16),
			 -EINVAL);
	ck_assert_uint_eq(ri(AMD_RING_CMD).len, 9);
	ck_assert_int_eq(amd_hw_ring_program(hw, AMD_RING_CMD, CMD_GPA + 8, 9),
			 -EINVAL);
	ck_assert_int_eq(amd_hw_ring_program(hw, AMD_RING_CMD, 1ull << 52, 9),
			 -EINVAL);
	/* #27: an event-log base write zeroes both pointers. */
	amd_hw_control_write(hw, CTL_ALL & ~(CTL_CMD | CTL_EVT));
	reg_set(AMD_VF_EVT_HEAD, 0x100);
	reg_set(AMD_VF_EVT_TAIL, 0x100);
	ck_assert_int_eq(amd_hw_ring_program(hw, AMD_RING_EVT, EVT_GPA, 8), 0);
	ck_assert_uint_eq(reg_get(AMD_VF_EVT_HEAD), 0);
	ck_assert_uint_eq(reg_get(AMD_VF_EVT_TAIL), 0);
	/* #39/#40: VFCTRL words; the flag bits 15:8 are left alone. */
	ck_assert_int_eq(amd_hw_ring_set_flags(hw, AMD_RING_PPR, 0xff00), 0);
	ck_assert_int_eq(amd_hw_ring_program(hw, AMD_RING_PPR, 0x123456000ull,
					     9), -EBUSY);
	ck_assert_int_eq(amd_hw_ring_set_flags(hw, AMD_RING_PPR, 0xfe00), 0);
	ck_assert(!ri(AMD_RING_PPR).run);
	ck_assert_int_eq(amd_hw_ring_program(hw, AMD_RING_PPR, 0x123456000ull,
					     9), 0);
	ck_assert_uint_eq(amd_hw_vfctrl_read(hw, 0x30) >> 16 & 0xffffffffffull,
			  0x123456);
	ck_assert_uint_eq(amd_hw_vfctrl_read(hw, 0x30) & 0xf, 9);
	ck_assert_uint_eq(amd_hw_vfctrl_read(hw, 0x30) & 0xff00, 0xfe00);
	ck_assert_int_eq(amd_hw_ring_program(hw, AMD_RING_CMD, 0x123456000ull,
					     9), 0);
	ck_assert_uint_eq(amd_hw_vfctrl_read(hw, 0x20) >> 12 & 0xffffffffffull,
			  0x123456);
	ck_assert_uint_eq(amd_hw_vfctrl_read(hw, 0x20) & 0xf, 9);
	ck_assert_int_eq(amd_hw_ring_set_flags(hw, AMD_RING_CMD, 1u << 10),
			 -EINVAL);
	/* Destroy-time disable: stopped, unprogrammed, enable won't start it. */
	amd_hw_ring_disable(hw, AMD_RING_CMD);
	ck_assert_uint_eq(amd_hw_vfctrl_read(hw, 0x20) & ~0x0200ull, 0);
	amd_hw_control_write(hw, CTL_ALL);
	ck_assert(!ri(AMD_RING_CMD).run);
	hw_down();
}
END_TEST

START_TEST(ring_program_units)
{
	struct amd_hw_config cfg;

	amd_hw_config_init(&cfg);
	cfg.alloc_length_units = AMD_LENGTH_BYTES;
	hw_up_cfg(&cfg);
	amd_hw_control_write(hw, 0);
	ck_assert_int_eq(amd_hw_ring_program(hw, AMD_RING_EVT, EVT_GPA, 0x2000), 0);
	ck_assert_uint_eq(ri(AMD_RING_EVT).len, 9);
	ck_assert_int_eq(amd_hw_ring_program(hw, AMD_RING_EVT, EVT_GPA, 0x80000), 0);
	ck_assert_uint_eq(ri(AMD_RING_EVT).len, 15);
	ck_assert_int_eq(amd_hw_ring_program(hw, AMD_RING_EVT, EVT_GPA, 0x1800),
			 -EINVAL);
	ck_assert_int_eq(amd_hw_ring_program(hw, AMD_RING_EVT, EVT_GPA, 0x800),
			 -EINVAL);
	ck_assert_int_eq(amd_hw_ring_program(hw, AMD_RING_EVT, EVT_GPA, 0x100000),
			 -EINVAL);
	hw_down();

	/*
	 * The prototype's leniency: any code accepted, base masked to
	 * 51:12; but a base write with a reserved code is one the hardware
	 * ignores (§6.2): the slot and the ring keep what they had.
	 */
	amd_hw_config_init(&cfg);
	cfg.alloc_strict_len = false;
	cfg.alloc_strict_base = false;
	hw_up_cfg(&cfg);
	amd_hw_control_write(hw, 0);
	ck_assert_int_eq(amd_hw_ring_program(hw, AMD_RING_EVT, EVT_GPA + 0x123,
					     0x1a), 0);
	ck_assert_uint_eq(ri(AMD_RING_EVT).len, 10);
	ck_assert_uint_eq(ri(AMD_RING_EVT).base, EVT_GPA);
	ck_assert_int_eq(amd_hw_ring_program(hw, AMD_RING_EVT, PPR_GPA, 7), 0);
	ck_assert_int_eq(amd_hw_ring_program(hw, AMD_RING_EVT, PPR_GPA, 16), 0);
	ck_assert_uint_eq(amd_hw_vfctrl_read(hw, 0x28), EVT_GPA | 10);
	ck_assert_uint_eq(ri(AMD_RING_EVT).base, EVT_GPA);
	ck_assert_uint_eq(ri(AMD_RING_EVT).size, 0x4000);
	/* A slot never programmed stays so: its ring cannot start. */
	amd_hw_ring_disable(hw, AMD_RING_EVT);
	ck_assert_int_eq(amd_hw_ring_program(hw, AMD_RING_EVT, EVT_GPA, 7), 0);
	ck_assert_uint_eq(amd_hw_vfctrl_read(hw, 0x28), 0);
	amd_hw_control_write(hw, CTL_ALL);
	ck_assert(!ri(AMD_RING_EVT).run);
	ck_assert_int_eq(amd_hw_io_page_fault(hw, 1, 1, 0, 0x1000, 0), -EAGAIN);
	ck_assert_uint_eq(load64(EVT_GPA), 0);
	hw_down();
}
END_TEST

/* #41, and the PprAutoRspAon bit setting. */
START_TEST(control_forwarding)
{
	uint64_t ctl = 1ull << 12 | 1ull << 4 | 1ull << 2 | 1ull << 15;
	uint64_t all = CTL_ALL | 3ull << 32 | 3ull << 30 | 1ull << 39 |
		       1ull << 41 | 1ull << 42;

	hw_up(NULL);
	amd_hw_control_write(hw, ctl);
	ck_assert_uint_eq(amd_hw_vfctrl_read(hw, 0x20) & 0xff00, 0x0300);
	ck_assert_uint_eq(amd_hw_vfctrl_read(hw, 0x28) & 0xff00, 0x0100);
	ck_assert_uint_eq(amd_hw_vfctrl_read(hw, 0x30) & 0xff00, 0x0400);
	ck_assert_uint_eq(amd_hw_control_read(hw), ctl);
	amd_hw_control_write(hw, all);
	ck_assert_uint_eq(amd_hw_vfctrl_read(hw, 0x28) & 0xff00, 0x0f00);
	ck_assert_uint_eq(amd_hw_vfctrl_read(hw, 0x30) & 0xff00, 0xff00);
	ck_assert_uint_eq(amd_hw_control_read(hw), all);
	/* IommuEn is the host's; it is not forwarded. */
	amd_hw_control_write(hw, 1);
	ck_assert_uint_eq(amd_hw_control_read(hw), 0);
	hw_down();

	hw_up("ppr_auto_rsp_aon_bit=48");
	amd_hw_control_write(hw, 1ull << 48);
	ck_assert_uint_eq(amd_hw_vfctrl_read(hw, 0x30) & 0xff00, 0x8000);
	ck_assert_uint_eq(amd_hw_control_read(hw), 1ull << 48);
	hw_down();
}
END_TEST

/* #40/#41 after a Control write: the flags move, the bases stay. */
START_TEST(control_keeps_base)
{
	hw_up(NULL);
	amd_hw_control_write(hw, 0);
	ck_assert_int_eq(amd_hw_ring_program(hw, AMD_RING_CMD, 0x123456000ull,
					     9), 0);
	ck_assert_int_eq(amd_hw_ring_program(hw, AMD_RING_EVT, 0xf000, 9), 0);
	ck_assert_int_eq(amd_hw_ring_program(hw, AMD_RING_PPR, 0x123456000ull,
					     9), 0);
	amd_hw_control_write(hw, CTL_ALL);
	amd_hw_control_write(hw, 0);
	amd_hw_control_write(hw, CTL_ALL);
	ck_assert_uint_eq(amd_hw_vfctrl_read(hw, 0x20),
			  0x123456000ull | 0x0300 | 9);
	ck_assert_uint_eq(amd_hw_vfctrl_read(hw, 0x28), 0xf000 | 0x0300 | 9);
	ck_assert_uint_eq(amd_hw_vfctrl_read(hw, 0x30) & ~0xffffull,
			  0x123456000ull << 4);
	hw_down();
}
END_TEST

/* ----------------------------------------------------- command buffer */

/* #4: a tail at SIZE is ignored; nothing runs. */
START_TEST(cmd_tail_out_of_range)
{
	hw_up(NULL);
	cmd_ring_len(9);
	q(c_all());
	reg_set(AMD_VF_CMD_TAIL, 0x2000);
	ck_assert_uint_eq(amd_hw_step(hw, 100), 0);
	ck_assert_uint_eq(ri(AMD_RING_CMD).tail, 0);
	ck_assert_uint_eq(ri(AMD_RING_CMD).head, 0);
	/* Reserved low bits are masked, not refused. */
	reg_set(AMD_VF_CMD_TAIL, 0x1f);
	ck_assert_uint_eq(amd_hw_step(hw, 100), 1);
	ck_assert_uint_eq(st().cmd_exec[AMD_CMD_INV_IOMMU_ALL], 1);
	hw_down();
}
END_TEST

/*
 * The enable edge takes the tail software left as well as the head: after
 * the reset (head = tail = 0 while stopped), a tail write out of range is
 * ignored against that 0, not against a tail sampled before the reset,
 * which would run the stale command in slot 0 again (found by
 * amd-fuzzer).
 */
START_TEST(cmd_enable_samples_tail)
{
	hw_up(NULL);
	q(c_all());
	ck_assert_uint_eq(go(), 1);
	amd_hw_control_write(hw, CTL_ALL & ~CTL_CMD);
	amd_guest_ring_reset(&gc);
	amd_hw_control_write(hw, CTL_ALL);
	ck_assert_uint_eq(ri(AMD_RING_CMD).tail, 0);
	reg_set(AMD_VF_CMD_TAIL, 0x2000);
	ck_assert_uint_eq(amd_hw_step(hw, 100), 0);
	ck_assert_uint_eq(reg_get(AMD_VF_CMD_HEAD), 0);
	ck_assert_uint_eq(st().cmd_exec[AMD_CMD_INV_IOMMU_ALL], 1);
	hw_down();
}
END_TEST

/* #5, #7: enabling fetches from the head software left; head wraps to 0. */
START_TEST(cmd_enable_and_wrap)
{
	hw_up(NULL);
	amd_hw_control_write(hw, CTL_ALL & ~CTL_CMD);
	reg_set(AMD_VF_CMD_HEAD, 0xff0);
	reg_set(AMD_VF_CMD_TAIL, 0xff0);
	amd_hw_control_write(hw, CTL_ALL);
	guest_init_ring(AMD_RING_CMD, 8);
	q(c_all());
	ck_assert_uint_eq(gc.next, 0);
	ck_assert_uint_eq(go(), 1);
	ck_assert_uint_eq(reg_get(AMD_VF_CMD_HEAD), 0);
	ck_assert_uint_eq(ri(AMD_RING_CMD).head, 0);

	/* #7: three queued while disabled run on the enable edge. */
	amd_hw_control_write(hw, CTL_ALL & ~CTL_CMD);
	ck_assert(!(amd_hw_status(hw) & AMD_STS_CMD_RUN));
	amd_guest_ring_reset(&gc);
	q(c_all());
	q(c_all());
	q(c_all());
	ck_assert_uint_eq(go(), 0);
	amd_hw_control_write(hw, CTL_ALL);
	ck_assert(amd_hw_status(hw) & AMD_STS_CMD_RUN);
	ck_assert_uint_eq(amd_hw_step(hw, 100), 3);
	ck_assert_uint_eq(reg_get(AMD_VF_CMD_HEAD), 0x30);
	hw_down();
}
END_TEST

/* #6: the producer sees 255 free slots and then a full ring. */
START_TEST(cmd_producer_full)
{
	hw_up(NULL);
	amd_hw_control_write(hw, CTL_ALL & ~CTL_CMD);
	ck_assert_uint_eq(amd_guest_cmd_space(&gc), 255);
	for (int i = 0; i < 255; i++)
		q(c_dte((uint16_t)i));
	ck_assert_uint_eq(gc.next, 0xff0);
	ck_assert_int_eq(amd_guest_cmd_queue(&gc, &(struct amd_cmd){ .op =
			 AMD_CMD_INV_IOMMU_ALL }, &fmt), -ENOSPC);
	amd_guest_cmd_ring_tail(&gc);
	amd_hw_control_write(hw, CTL_ALL);
	ck_assert_uint_eq(amd_hw_step(hw, 1000), 255);
	ck_assert_uint_eq(amd_guest_cmd_space(&gc), 255);
	hw_down();
}
END_TEST

/* #8-#11: the completion store, the interrupt, and the pure barrier. */
START_TEST(completion_wait)
{
	hw_up(NULL);
	q(c_cw(true, false, SEM_GPA, 0x1122334455667788ull));
	ck_assert_uint_eq(go(), 1);
	ck_assert_uint_eq(load64(SEM_GPA), 0x1122334455667788ull);
	ck_assert(amd_guest_sem_done(gva(SEM_GPA), 0x1122334455667788ull));
	ck_assert(!(amd_hw_status(hw) & AMD_STS_COMWAIT_INT));
	ck_assert_uint_eq(irqs[AMD_IRQ_COMWAIT], 0);
	ck_assert_uint_eq(st().comwait_stores, 1);

	q(c_cw(false, true, 0, 0));
	ck_assert_uint_eq(go(), 1);
	ck_assert(amd_hw_status(hw) & AMD_STS_COMWAIT_INT);
	ck_assert_uint_eq(irqs[AMD_IRQ_COMWAIT], 1);
	ck_assert_uint_eq(reg_get(AMD_VF_CMD_HEAD), 0x20);

	amd_guest_status_write(vf, AMD_STS_COMWAIT_INT);
	amd_hw_control_write(hw, CTL_ALL & ~(1ull << 4));
	q(c_cw(false, true, 0, 0));
	ck_assert_uint_eq(go(), 1);
	ck_assert(amd_hw_status(hw) & AMD_STS_COMWAIT_INT);
	ck_assert_uint_eq(irqs[AMD_IRQ_COMWAIT], 1);

	amd_guest_status_write(vf, AMD_STS_COMWAIT_INT);
	q(c_cw(false, false, 0, 0));
	ck_assert_uint_eq(go(), 1);
	ck_assert_uint_eq(reg_get(AMD_VF_CMD_HEAD), 0x40);
	ck_assert_uint_eq(amd_hw_status(hw) & AMD_STS_RW1C_MASK, 0);
	ck_assert_uint_eq(st().comwait_stores, 1);
	ck_assert_uint_eq(st().cmd_exec[AMD_CMD_COMPLETION_WAIT], 4);
	hw_down();
}
END_TEST

/* #12, #13. */
START_TEST(status_rw1c)
{
	uint64_t ro;

	hw_up(NULL);
	q(c_cw(false, true, 0, 0));
	go();
	ro = amd_hw_status(hw) & (AMD_STS_EVT_RUN | AMD_STS_CMD_RUN |
				  AMD_STS_PPR_RUN);
	ck_assert_uint_eq(ro, AMD_STS_EVT_RUN | AMD_STS_CMD_RUN |
			  AMD_STS_PPR_RUN);
	amd_guest_status_write(vf, 0);
	ck_assert(amd_hw_status(hw) & AMD_STS_COMWAIT_INT);
	amd_guest_status_write(vf, AMD_STS_COMWAIT_INT | ro);
	ck_assert_uint_eq(amd_hw_status(hw), ro);
	hw_down();
}
END_TEST

/* #14, #15 under both head settings. */
START_TEST(illegal_command_halts)
{
	static const char *const opts[] = { "illegal_cmd_head=at_fault",
					    "illegal_cmd_head=past_fault" };
	struct amd_event ev;
	struct amd_entry raw;

	hw_up(opts[_i]);
	q(c_dte(1));
	q(c_dte(2));
	qraw(9ull << 60, 0);
	q(c_dte(3));
	ck_assert_uint_eq(go(), 3);
	ck_assert_uint_eq(st().cmd_exec[AMD_CMD_INV_DEVTAB_ENTRY], 2);
	ck_assert_uint_eq(st().cmd_illegal, 1);
	ck_assert(!(amd_hw_status(hw) & AMD_STS_CMD_RUN));
	ck_assert_uint_eq(reg_get(AMD_VF_CMD_HEAD), _i ? 0x30 : 0x20);
	ck_assert_int_eq(amd_guest_log_pop(&ge, &raw, 0), 0);
	ck_assert_uint_eq(raw.q0, 5ull << 60);
	ck_assert_uint_eq(raw.q1, CMD_GPA + 0x20);
	ck_assert_int_eq(evt_pop(&ev), -EAGAIN);
	ck_assert_uint_eq(irqs[AMD_IRQ_EVT], 1);
	/* Stopped: bumping the tail executes nothing. */
	ck_assert_uint_eq(amd_hw_step(hw, 10), 0);

	/* #15: the recovery Linux used to do. */
	amd_hw_control_write(hw, CTL_ALL & ~CTL_CMD);
	amd_guest_ring_reset(&gc);
	amd_hw_control_write(hw, CTL_ALL);
	ck_assert(amd_hw_status(hw) & AMD_STS_CMD_RUN);
	q(c_dte(4));
	q(c_cw(true, false, SEM_GPA, 7));
	ck_assert_uint_eq(go(), 2);
	ck_assert_uint_eq(load64(SEM_GPA), 7);
	ck_assert_uint_eq(st().cmd_exec[AMD_CMD_INV_DEVTAB_ENTRY], 3);
	hw_down();
}
END_TEST

/* #16-#18 and every feature gate and setting that makes a command illegal. */
START_TEST(illegal_command_cases)
{
	static const struct {
		const char *opts;
		uint64_t q0, q1;
		bool legal;
	} t[] = {
		/* #16: reserved bit 55 of COMPLETION_WAIT; no store happens. */
		{ NULL, 1ull << 60 | 1ull << 55 | SEM_GPA | 1, 5, false },
		{ "efr=0x13", 8ull << 60, 0, false },			/* #17 */
		{ NULL, 0xaull << 60 | 1u << 28 | 1u << 31 | 3, 0, false }, /* #18 */
		{ "guest_opcode_0xa=nop", 0xaull << 60 | 3, 0, true },
		{ NULL, 0, 0, false },
		{ NULL, 0xbull << 60, 0, false },
		{ NULL, 0xfull << 60, 0, false },
		{ "efr=0x52", 6ull << 60 | 5, 0x1000, false },		/* PreFSup */
		{ NULL, 6ull << 60 | 5, 0x1000, true },
		{ "efr=0x51", 7ull << 60 | 5, 0, false },		/* PPRSup */
		{ "iotlb_sup=0", 4ull << 60 | 5, 0x1000, false },
		{ "efr=0x43", 3ull << 60 | 5ull << 32, 0x1004, false },	/* GTSup */
		{ "efr=0x43", 3ull << 60 | 5ull << 32, 0x1000, true },
		{ NULL, 1ull << 60 | 4, 0, true },			/* F ignored */
		{ "comwait_f_bit=illegal", 1ull << 60 | 4, 0, false },
		{ NULL, 2ull << 60 | 1ull << 16, 0, false },
		{ NULL, 8ull << 60, 1, false },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct amd_event ev;

		hw_up(t[i].opts);
		qraw(t[i].q0, t[i].q1);
		ck_assert_uint_eq(go(), 1);
		ck_assert_msg(st().cmd_illegal == !t[i].legal, "case %zu", i);
		ck_assert_msg(!!(amd_hw_status(hw) & AMD_STS_CMD_RUN) ==
			      t[i].legal, "case %zu", i);
		if (!t[i].legal) {
			ck_assert_int_eq(evt_pop(&ev), 0);
			ck_assert_uint_eq(ev.code, AMD_EVT_ILLEGAL_COMMAND_ERROR);
			ck_assert_uint_eq(ev.addr, CMD_GPA);
			ck_assert_uint_eq(load64(SEM_GPA), 0);
			ck_assert_uint_eq(nexec, 0);
		}
		hw_down();
	}
}
END_TEST

/* What each opcode does to the modelled caches, and its counter. */
START_TEST(opcode_effects)
{
	struct amd_hw_stats s;

	hw_up(NULL);
	amd_hw_dte_cache_fill(hw, 5);
	amd_hw_dte_cache_fill(hw, 6);
	amd_hw_irt_cache_fill(hw, 5);
	amd_hw_irt_cache_fill(hw, 6);
	/* domain 1: leaf at 0x1000, PDE at 0x2000, 16 pages at 0x100000 */
	amd_hw_iotlb_fill(hw, &(struct amd_tlb_entry){ .domid = 1, .iova = 0x1000, .pages = 1 });
	amd_hw_iotlb_fill(hw, &(struct amd_tlb_entry){ .domid = 1, .iova = 0x2000, .pages = 1, .pde = true });
	amd_hw_iotlb_fill(hw, &(struct amd_tlb_entry){ .domid = 1, .iova = 0x100000, .pages = 16 });
	amd_hw_iotlb_fill(hw, &(struct amd_tlb_entry){ .domid = 2, .iova = 0x1000, .pages = 1 });
	amd_hw_iotlb_fill(hw, &(struct amd_tlb_entry){ .domid = 1, .gn = true, .pasid = 7, .iova = 0x1000, .pages = 1 });
	amd_hw_dev_iotlb_fill(hw, &(struct amd_dev_tlb_entry){ .devid = 5, .iova = 0x1000, .pages = 1 });
	amd_hw_dev_iotlb_fill(hw, &(struct amd_dev_tlb_entry){ .devid = 5, .iova = 0x9000, .pages = 1 });
	amd_hw_dev_iotlb_fill(hw, &(struct amd_dev_tlb_entry){ .devid = 6, .iova = 0x1000, .pages = 1 });

	q(c_dte(5));
	q((struct amd_cmd){ .op = AMD_CMD_INV_INTERRUPT_TABLE, .inv_irt.devid = 6 });
	q((struct amd_cmd){ .op = AMD_CMD_INV_IOMMU_PAGES, .inv_pages = { .domid = 1, .addr = 0x1000 } });
	q((struct amd_cmd){ .op = AMD_CMD_INV_IOMMU_PAGES, .inv_pages = { .domid = 1, .addr = 0x2000 } });
	ck_assert_uint_eq(go(), 4);
	ck_assert(!amd_hw_dte_cached(hw, 5) && amd_hw_dte_cached(hw, 6));
	ck_assert(amd_hw_irt_cached(hw, 5) && !amd_hw_irt_cached(hw, 6));
	ck_assert(!amd_hw_iotlb_cached(hw, 1, 0, false, 0x1000));
	ck_assert(amd_hw_iotlb_cached(hw, 1, 0, false, 0x2000));	/* PDE=0 */
	ck_assert(amd_hw_iotlb_cached(hw, 2, 0, false, 0x1000));	/* domain */
	ck_assert(amd_hw_iotlb_cached(hw, 1, 7, true, 0x1000));	/* GN */

	q((struct amd_cmd){ .op = AMD_CMD_INV_IOMMU_PAGES, .inv_pages = { .domid = 1, .addr = 0x2000, .pde = true } });
	q((struct amd_cmd){ .op = AMD_CMD_INV_IOMMU_PAGES, .inv_pages = { .domid = 1, .gn = true, .pasid = 7, .addr = 0x1000 } });
	/* S=1: 0x10f000 has bits 15:12 set, bit 16 clear: 32 pages at 0x100000. */
	q((struct amd_cmd){ .op = AMD_CMD_INV_IOMMU_PAGES, .inv_pages = { .domid = 1, .s = true, .addr = 0x10f000 } });
	q((struct amd_cmd){ .op = AMD_CMD_INV_IOTLB_PAGES, .inv_iotlb = { .devid = 5, .queueid = 5, .addr = 0x9000 } });
	q((struct amd_cmd){ .op = AMD_CMD_PREFETCH_IOMMU_PAGES, .prefetch = { .devid = 5, .count = 4, .addr = 0x1000 } });
	ck_assert_uint_eq(go(), 5);
	ck_assert(!amd_hw_iotlb_cached(hw, 1, 0, false, 0x2000));
	ck_assert(!amd_hw_iotlb_cached(hw, 1, 7, true, 0x1000));
	ck_assert(!amd_hw_iotlb_cached(hw, 1, 0, false, 0x10f000));
	ck_assert(amd_hw_dev_iotlb_cached(hw, 5, 0, false, 0x1000));
	ck_assert(!amd_hw_dev_iotlb_cached(hw, 5, 0, false, 0x9000));
	ck_assert(amd_hw_dev_iotlb_cached(hw, 6, 0, false, 0x1000));

	/* INVALIDATE_IOMMU_ALL: every IOMMU cache, not the devices' IOTLBs. */
	q(c_all());
	ck_assert_uint_eq(go(), 1);
	ck_assert(!amd_hw_dte_cached(hw, 6) && !amd_hw_irt_cached(hw, 5));
	ck_assert(!amd_hw_iotlb_cached(hw, 2, 0, false, 0x1000));
	ck_assert(amd_hw_dev_iotlb_cached(hw, 6, 0, false, 0x1000));

	s = st();
	ck_assert_uint_eq(s.cmd_exec[AMD_CMD_INV_DEVTAB_ENTRY], 1);
	ck_assert_uint_eq(s.cmd_exec[AMD_CMD_INV_INTERRUPT_TABLE], 1);
	ck_assert_uint_eq(s.cmd_exec[AMD_CMD_INV_IOMMU_PAGES], 5);
	ck_assert_uint_eq(s.cmd_exec[AMD_CMD_INV_IOTLB_PAGES], 1);
	ck_assert_uint_eq(s.cmd_exec[AMD_CMD_PREFETCH_IOMMU_PAGES], 1);
	ck_assert_uint_eq(s.cmd_exec[AMD_CMD_INV_IOMMU_ALL], 1);
	ck_assert_uint_eq(s.iotlb_inval, 5);
	ck_assert_uint_eq(s.dev_iotlb_inval, 1);
	ck_assert_uint_eq(s.prefetch_pages, 4);
	ck_assert_uint_eq(nexec, 10);
	hw_down();
}
END_TEST

/* #19, #43: the ring page is unmapped; only the event entry is written. */
START_TEST(cmd_fetch_fault_contained)
{
	struct amd_event ev;

	hw_up(NULL);
	q(c_cw(true, false, SEM_GPA, 1));
	atomic_store(&gm.hole[CMD_GPA / PAGE], true);
	gm.writes = 0;
	ck_assert_uint_eq(go(), 1);
	ck_assert_uint_eq(gm.writes, 1);
	ck_assert_uint_eq(gm.last_write, EVT_GPA);
	ck_assert_uint_eq(load64(SEM_GPA), 0);
	ck_assert(!(amd_hw_status(hw) & AMD_STS_CMD_RUN));
	ck_assert_uint_eq(reg_get(AMD_VF_CMD_HEAD), 0);
	ck_assert_uint_eq(st().host_faults, 1);
	ck_assert_uint_eq(st().last_fault_gpa, CMD_GPA);
	ck_assert_uint_eq(host_faults, 1);
	ck_assert_int_eq(evt_pop(&ev), 0);
	ck_assert_uint_eq(ev.code, AMD_EVT_COMMAND_HW_ERROR);
	ck_assert_uint_eq(ev.addr, CMD_GPA);
	ck_assert_uint_eq(ev.flags >> AMD_EVT_F_TYPE_SHIFT, AMD_HWERR_TARGET_ABORT);
	/* Mapped again, the restart sequence resumes at the same command. */
	atomic_store(&gm.hole[CMD_GPA / PAGE], false);
	amd_hw_control_write(hw, CTL_ALL & ~CTL_CMD);
	amd_hw_control_write(hw, CTL_ALL);
	ck_assert_uint_eq(amd_hw_step(hw, 10), 1);
	ck_assert_uint_eq(load64(SEM_GPA), 1);
	hw_down();
}
END_TEST

/* #20 under both head settings. */
START_TEST(cmd_store_fault_contained)
{
	static const char *const opts[] = { NULL, "illegal_cmd_head=past_fault" };
	struct amd_event ev;

	hw_up(opts[_i]);
	q(c_dte(1));
	q(c_cw(true, true, SEM_GPA + 0x1000, 1));
	q(c_dte(2));
	atomic_store(&gm.hole[(SEM_GPA + 0x1000) / PAGE], true);
	gm.writes = 0;
	ck_assert_uint_eq(go(), 2);
	ck_assert_uint_eq(gm.writes, 1);
	ck_assert_uint_eq(st().cmd_exec[AMD_CMD_INV_DEVTAB_ENTRY], 1);
	ck_assert(!(amd_hw_status(hw) & (AMD_STS_CMD_RUN | AMD_STS_COMWAIT_INT)));
	ck_assert_uint_eq(reg_get(AMD_VF_CMD_HEAD), _i ? 0x20 : 0x10);
	ck_assert_int_eq(evt_pop(&ev), 0);
	ck_assert_uint_eq(ev.code, AMD_EVT_COMMAND_HW_ERROR);
	ck_assert_uint_eq(ev.addr, SEM_GPA + 0x1000);
	ck_assert_uint_eq(st().host_faults, 1);
	ck_assert_uint_eq(irqs[AMD_IRQ_COMWAIT], 0);
	hw_down();
}
END_TEST

/* ----------------------------------------------------------- event log */

/* #21, #22. */
START_TEST(event_io_page_fault)
{
	struct amd_entry raw;

	hw_up(NULL);
	ck_assert_int_eq(amd_hw_io_page_fault(hw, 0x0100, 5, 0, 0xdead000,
					      AMD_EVT_F_RW), 0);
	ck_assert_uint_eq(reg_get(AMD_VF_EVT_TAIL), 0x10);
	ck_assert(amd_hw_status(hw) & AMD_STS_EVT_INT);
	ck_assert_uint_eq(irqs[AMD_IRQ_EVT], 1);
	amd_entry_from_bytes(&raw, gva(EVT_GPA));
	ck_assert_uint_eq(raw.q0, 0x2020000500000100ull);
	ck_assert_uint_eq(raw.q1, 0xdead000);

	amd_guest_status_write(vf, AMD_STS_EVT_INT);
	amd_hw_control_write(hw, CTL_ALL & ~(1ull << 3));
	ck_assert_int_eq(amd_hw_illegal_dte(hw, 7, 0x12345, 0x1000,
					    AMD_EVT_F_GN), 0);
	ck_assert(amd_hw_status(hw) & AMD_STS_EVT_INT);
	ck_assert_uint_eq(irqs[AMD_IRQ_EVT], 1);
	ck_assert_uint_eq(st().logged[AMD_RING_EVT], 2);
	hw_down();
}
END_TEST

/* #23-#26. */
START_TEST(event_overflow_restart)
{
	struct amd_event ev;
	int i;

	hw_up(NULL);
	amd_hw_control_write(hw, CTL_ALL & ~(1ull << 2));
	reg_set(AMD_VF_EVT_TAIL, 0xfe0);
	amd_hw_control_write(hw, CTL_ALL);
	ge.next = 0;
	ck_assert_int_eq(amd_hw_io_page_fault(hw, 1, 1, 0, 0x1000, 0), 0);
	ck_assert_uint_eq(reg_get(AMD_VF_EVT_TAIL), 0xff0);
	ck_assert_int_eq(amd_hw_io_page_fault(hw, 2, 1, 0, 0x2000, 0), -ENOSPC);
	ck_assert(amd_hw_status(hw) & AMD_STS_EVT_OVERFLOW);
	ck_assert(!(amd_hw_status(hw) & AMD_STS_EVT_RUN));
	ck_assert_uint_eq(irqs[AMD_IRQ_EVT], 2);
	ck_assert_uint_eq(load64(EVT_GPA + 0xfe8), 0x1000);
	ck_assert_uint_eq(load64(EVT_GPA + 0xff0), 0);
	ck_assert_uint_eq(load64(EVT_GPA + 0xff8), 0);
	/* #24: stopped, the next one is dropped silently. */
	ck_assert_int_eq(amd_hw_io_page_fault(hw, 3, 1, 0, 0x3000, 0), -EAGAIN);
	ck_assert_uint_eq(reg_get(AMD_VF_EVT_TAIL), 0xff0);
	ck_assert_uint_eq(irqs[AMD_IRQ_EVT], 2);
	ck_assert_uint_eq(st().overflows[AMD_RING_EVT], 1);
	ck_assert_uint_eq(st().dropped[AMD_RING_EVT], 2);
	/* #26: a tail write while running is ignored (checked after restart). */
	/* #25: drain, clear, toggle the enable. */
	reg_set(AMD_VF_EVT_HEAD, 0xff0);
	ge.next = 0xff0;
	amd_guest_status_write(vf, AMD_STS_EVT_OVERFLOW);
	amd_hw_control_write(hw, CTL_ALL & ~CTL_EVT);
	amd_hw_control_write(hw, CTL_ALL);
	ck_assert_uint_eq(amd_hw_status(hw) & (AMD_STS_EVT_OVERFLOW |
					       AMD_STS_EVT_RUN), AMD_STS_EVT_RUN);
	reg_set(AMD_VF_EVT_TAIL, 0x500);
	ck_assert_int_eq(amd_hw_io_page_fault(hw, 4, 1, 0, 0x4000, 0), 0);
	ck_assert_uint_eq(load64(EVT_GPA + 0xff8), 0x4000);
	ck_assert_uint_eq(reg_get(AMD_VF_EVT_TAIL), 0);
	ck_assert_int_eq(evt_pop(&ev), 0);
	ck_assert_uint_eq(ev.devid, 4);
	ck_assert_int_eq(evt_pop(&ev), -EAGAIN);
	/* A second episode: one overflow, then silent drops until restart. */
	for (i = 0; i < 300; i++)
		amd_hw_io_page_fault(hw, 5, 1, 0, 0x5000, 0);
	ck_assert_uint_eq(st().overflows[AMD_RING_EVT], 2);
	hw_down();
}
END_TEST

/*
 * #26 and its command-buffer twin: software writes to the pointer the
 * IOMMU owns (a log's tail, the command head) while the ring runs are
 * ignored, and a later enable does not take them up; written while the
 * ring is stopped, they are.
 */
START_TEST(owned_pointer_writes)
{
	struct amd_event ev;

	hw_up(NULL);
	ck_assert_int_eq(amd_hw_io_page_fault(hw, 1, 1, 0, 0x1000, 0), 0);
	reg_set(AMD_VF_EVT_TAIL, 0x300);
	amd_hw_control_write(hw, CTL_ALL & ~CTL_EVT);
	ck_assert_uint_eq(reg_get(AMD_VF_EVT_TAIL), 0x10);
	amd_hw_control_write(hw, CTL_ALL);
	ck_assert_int_eq(amd_hw_io_page_fault(hw, 2, 1, 0, 0x2000, 0), 0);
	ck_assert_uint_eq(reg_get(AMD_VF_EVT_TAIL), 0x20);
	ck_assert_int_eq(evt_pop(&ev), 0);
	ck_assert_uint_eq(ev.devid, 1);
	ck_assert_int_eq(evt_pop(&ev), 0);
	ck_assert_uint_eq(ev.devid, 2);
	ck_assert_uint_eq(load64(EVT_GPA + 0x300), 0);

	q(c_dte(1));
	q(c_dte(2));
	ck_assert_uint_eq(go(), 2);
	reg_set(AMD_VF_CMD_HEAD, 0);
	amd_hw_control_write(hw, CTL_ALL & ~CTL_CMD);
	ck_assert_uint_eq(reg_get(AMD_VF_CMD_HEAD), 0x20);
	amd_hw_control_write(hw, CTL_ALL);
	ck_assert_uint_eq(amd_hw_step(hw, 100), 0);
	ck_assert_uint_eq(st().cmd_exec[AMD_CMD_INV_DEVTAB_ENTRY], 2);
	/* Stopped, the head is software's: the second command runs again. */
	amd_hw_control_write(hw, CTL_ALL & ~CTL_CMD);
	reg_set(AMD_VF_CMD_HEAD, 0x10);
	amd_hw_control_write(hw, CTL_ALL);
	ck_assert_uint_eq(amd_hw_step(hw, 100), 1);
	ck_assert_uint_eq(st().cmd_exec[AMD_CMD_INV_DEVTAB_ENTRY], 3);
	hw_down();
}
END_TEST

/* The other settings of the overflow path. */
START_TEST(event_overflow_settings)
{
	hw_up("overflow_stops_run=0,enable_edge_clears_overflow=0");
	for (int i = 0; i < 255; i++)
		ck_assert_int_eq(amd_hw_io_page_fault(hw, 1, 1, 0, 0, 0), 0);
	ck_assert_int_eq(amd_hw_io_page_fault(hw, 1, 1, 0, 0, 0), -ENOSPC);
	ck_assert(amd_hw_status(hw) & AMD_STS_EVT_RUN);
	/* VirtualBox: running, but nothing is written while Overflow=1. */
	reg_set(AMD_VF_EVT_HEAD, reg_get(AMD_VF_EVT_TAIL));
	ck_assert_int_eq(amd_hw_io_page_fault(hw, 1, 1, 0, 0, 0), -EAGAIN);
	amd_hw_control_write(hw, CTL_ALL & ~CTL_EVT);
	amd_hw_control_write(hw, CTL_ALL);
	ck_assert(amd_hw_status(hw) & AMD_STS_EVT_OVERFLOW);
	amd_guest_status_write(vf, AMD_STS_EVT_OVERFLOW);
	ck_assert_int_eq(amd_hw_io_page_fault(hw, 1, 1, 0, 0, 0), 0);
	hw_down();
}
END_TEST

START_TEST(event_log_fault)
{
	hw_up(NULL);
	atomic_store(&gm.hole[EVT_GPA / PAGE], true);
	ck_assert_int_eq(amd_hw_io_page_fault(hw, 1, 1, 0, 0, 0), -EFAULT);
	ck_assert(!(amd_hw_status(hw) & (AMD_STS_EVT_RUN | AMD_STS_EVT_INT)));
	ck_assert_uint_eq(reg_get(AMD_VF_EVT_TAIL), 0);
	ck_assert_uint_eq(st().host_faults, 1);
	ck_assert_uint_eq(st().last_fault_gpa, EVT_GPA);
	ck_assert_uint_eq(irqs[AMD_IRQ_EVT], 0);
	/* An illegal command now loses its event but still stops the buffer. */
	qraw(0, 0);
	ck_assert_uint_eq(go(), 1);
	ck_assert(!(amd_hw_status(hw) & AMD_STS_CMD_RUN));
	ck_assert_uint_eq(st().dropped[AMD_RING_EVT], 2);
	hw_down();
}
END_TEST

/* The errata setting: tail and MSI before the entry bytes. */
START_TEST(late_entry_visibility)
{
	struct amd_event ev;

	hw_up("late_entry_visibility=1");
	ck_assert_int_eq(amd_hw_io_page_fault(hw, 9, 1, 0, 0x9000, 0), 0);
	ck_assert_uint_eq(reg_get(AMD_VF_EVT_TAIL), 0x10);
	ck_assert_uint_eq(irqs[AMD_IRQ_EVT], 1);
	ck_assert_int_eq(evt_pop(&ev), -EBUSY);
	amd_hw_step(hw, 1);
	ck_assert_int_eq(evt_pop(&ev), 0);
	ck_assert_uint_eq(ev.devid, 9);
	/* More than the held-back window: the oldest are flushed in order. */
	for (int i = 0; i < 20; i++)
		ck_assert_int_eq(amd_hw_io_page_fault(hw, (uint16_t)i, 1, 0, 0, 0), 0);
	amd_hw_step(hw, 1);
	for (int i = 0; i < 20; i++) {
		ck_assert_int_eq(evt_pop(&ev), 0);
		ck_assert_uint_eq(ev.devid, i);
	}
	hw_down();
}
END_TEST

/* ------------------------------------------------------- event bursts */

/* IO_PAGE_FAULTs numbered from @first in their address, for a burst. */
static void faults(struct amd_event *ev, unsigned int n, unsigned int first)
{
	for (unsigned int i = 0; i < n; i++)
		ev[i] = (struct amd_event){
			.code = AMD_EVT_IO_PAGE_FAULT, .devid = 0x100,
			.domid = 5, .flags = AMD_EVT_F_RW,
			.addr = (uint64_t)(first + i) << 12,
		};
}

/* Pop @n entries, which must be the faults numbered from @first. */
static void expect_faults(unsigned int n, unsigned int first)
{
	struct amd_event ev;

	for (unsigned int i = 0; i < n; i++) {
		ck_assert_int_eq(evt_pop(&ev), 0);
		ck_assert_uint_eq(ev.code, AMD_EVT_IO_PAGE_FAULT);
		ck_assert_uint_eq(ev.devid, 0x100);
		ck_assert_uint_eq(ev.domid, 5);
		ck_assert_uint_eq(ev.addr, (uint64_t)(first + i) << 12);
	}
}

/* The event log with another length code, stopped and started again. */
static void evt_ring_len(unsigned int len)
{
	amd_hw_control_write(hw, CTL_ALL & ~CTL_EVT);
	ck_assert_int_eq(amd_hw_ring_program(hw, AMD_RING_EVT, EVT_GPA, len),
			 0);
	guest_init_ring(AMD_RING_EVT, len);
	amd_hw_control_write(hw, CTL_ALL);
}

/* Move the stopped log's tail (the guest's init step) and start it. */
static void evt_tail_at(uint32_t tail)
{
	amd_hw_control_write(hw, CTL_ALL & ~CTL_EVT);
	reg_set(AMD_VF_EVT_HEAD, tail);
	reg_set(AMD_VF_EVT_TAIL, tail);
	ge.next = tail;
	amd_hw_control_write(hw, CTL_ALL);
}

/* A burst that fills the log exactly: every slot but one, one MSI. */
START_TEST(burst_fills_exactly)
{
	struct amd_event ev[256];
	unsigned int logged = 0;

	gm.page_mode = (enum page_mode)_i;
	hw_up(NULL);
	faults(ev, 255, 0);
	ck_assert_int_eq(amd_hw_events(hw, ev, 255, &logged), 0);
	ck_assert_uint_eq(logged, 255);
	ck_assert_uint_eq(reg_get(AMD_VF_EVT_TAIL), 0xff0);
	ck_assert_uint_eq(amd_hw_status(hw) & (AMD_STS_EVT_INT |
					       AMD_STS_EVT_OVERFLOW |
					       AMD_STS_EVT_RUN),
			  AMD_STS_EVT_INT | AMD_STS_EVT_RUN);
	ck_assert_uint_eq(irqs[AMD_IRQ_EVT], 1);
	ck_assert_uint_eq(st().msi[AMD_IRQ_EVT], 1);
	ck_assert_uint_eq(st().logged[AMD_RING_EVT], 255);
	ck_assert_uint_eq(st().dropped[AMD_RING_EVT], 0);
	/* One page: reached once when the provider offers it. */
	ck_assert_uint_eq(gm.page_writes, _i == PAGE_DIRECT ? 1 : 0);
	/* Full now: the next one overflows. */
	faults(ev, 1, 255);
	ck_assert_int_eq(amd_hw_events(hw, ev, 1, &logged), -ENOSPC);
	ck_assert_uint_eq(logged, 0);
	ck_assert(amd_hw_status(hw) & AMD_STS_EVT_OVERFLOW);
	expect_faults(255, 0);
	ck_assert_int_eq(evt_pop(&ev[0]), -EAGAIN);
	hw_down();
}
END_TEST

/*
 * A burst that overflows mid-way: the entries before are logged, the
 * rest dropped, Overflow set, Run cleared, one MSI; the restart protocol
 * (drain, clear Overflow, toggle the enable) works after it.
 */
START_TEST(burst_overflow_mid)
{
	struct amd_event ev[100];
	unsigned int logged = 0;

	gm.page_mode = (enum page_mode)_i;
	hw_up(NULL);
	faults(ev, 100, 0);
	ck_assert_int_eq(amd_hw_events(hw, ev, 100, &logged), 0);
	ck_assert_uint_eq(logged, 100);
	/* The guest consumes 10; 165 slots are left. */
	expect_faults(10, 0);
	faults(ev, 100, 100);
	ck_assert_int_eq(amd_hw_events(hw, ev, 100, &logged), 0);
	faults(ev, 100, 200);
	ck_assert_int_eq(amd_hw_events(hw, ev, 100, &logged), -ENOSPC);
	ck_assert_uint_eq(logged, 65);
	ck_assert_uint_eq(reg_get(AMD_VF_EVT_TAIL), 0xa0 - 0x10);
	ck_assert_uint_eq(amd_hw_status(hw) & (AMD_STS_EVT_OVERFLOW |
					       AMD_STS_EVT_RUN),
			  AMD_STS_EVT_OVERFLOW);
	ck_assert_uint_eq(irqs[AMD_IRQ_EVT], 3);
	ck_assert_uint_eq(st().logged[AMD_RING_EVT], 265);
	ck_assert_uint_eq(st().overflows[AMD_RING_EVT], 1);
	ck_assert_uint_eq(st().dropped[AMD_RING_EVT], 35);
	/* Stopped: a whole burst is dropped silently, and counted. */
	faults(ev, 5, 300);
	ck_assert_int_eq(amd_hw_events(hw, ev, 5, &logged), -EAGAIN);
	ck_assert_uint_eq(logged, 0);
	ck_assert_uint_eq(st().dropped[AMD_RING_EVT], 40);
	ck_assert_uint_eq(irqs[AMD_IRQ_EVT], 3);
	/* Nothing overwritten: the 255 in the log are 10..264, in order. */
	expect_faults(255, 10);
	ck_assert_int_eq(evt_pop(&ev[0]), -EAGAIN);
	/* #25's restart. */
	amd_guest_status_write(vf, AMD_STS_EVT_OVERFLOW);
	amd_hw_control_write(hw, CTL_ALL & ~CTL_EVT);
	amd_hw_control_write(hw, CTL_ALL);
	ck_assert_uint_eq(amd_hw_status(hw) & (AMD_STS_EVT_OVERFLOW |
					       AMD_STS_EVT_RUN),
			  AMD_STS_EVT_RUN);
	faults(ev, 100, 400);
	ck_assert_int_eq(amd_hw_events(hw, ev, 100, &logged), 0);
	ck_assert_uint_eq(logged, 100);
	expect_faults(100, 400);
	hw_down();
}
END_TEST

/* Without overflow_stops_run: Run stays, the burst's rest is dropped. */
START_TEST(burst_overflow_keeps_run)
{
	struct amd_event ev[300];
	unsigned int logged = 0;

	hw_up("overflow_stops_run=0");
	faults(ev, 300, 0);
	ck_assert_int_eq(amd_hw_events(hw, ev, 300, &logged), -ENOSPC);
	ck_assert_uint_eq(logged, 255);
	ck_assert_uint_eq(amd_hw_status(hw) & (AMD_STS_EVT_OVERFLOW |
					       AMD_STS_EVT_RUN),
			  AMD_STS_EVT_OVERFLOW | AMD_STS_EVT_RUN);
	ck_assert_uint_eq(st().dropped[AMD_RING_EVT], 45);
	ck_assert_uint_eq(st().overflows[AMD_RING_EVT], 1);
	/* Room again, but Overflow still set: dropped until cleared. */
	expect_faults(255, 0);
	ck_assert_int_eq(amd_hw_events(hw, ev, 3, &logged), -EAGAIN);
	amd_guest_status_write(vf, AMD_STS_EVT_OVERFLOW);
	ck_assert_int_eq(amd_hw_events(hw, ev, 3, &logged), 0);
	ck_assert_uint_eq(logged, 3);
	hw_down();
}
END_TEST

/*
 * A burst across the log's two pages whose second page has no
 * translation: the first page's entries land, the one at the hole is
 * dropped with the log stopped and a host fault at its GPA, exactly as
 * lone entries meet it; the rest is dropped too.  With the page mapped
 * again and the log restarted, a burst crosses the boundary whole.
 */
START_TEST(burst_second_page_unmapped)
{
	struct amd_event ev[40];
	unsigned int logged = 0;

	gm.page_mode = (enum page_mode)_i;
	hw_up(NULL);
	evt_ring_len(9);
	evt_tail_at(0xf00);
	atomic_store(&gm.hole[EVT_GPA / PAGE + 1], true);
	faults(ev, 40, 0);
	ck_assert_int_eq(amd_hw_events(hw, ev, 40, &logged), -EFAULT);
	ck_assert_uint_eq(logged, 16);
	ck_assert_uint_eq(reg_get(AMD_VF_EVT_TAIL), 0x1000);
	ck_assert_uint_eq(amd_hw_status(hw) & (AMD_STS_EVT_RUN |
					       AMD_STS_EVT_OVERFLOW |
					       AMD_STS_EVT_INT),
			  AMD_STS_EVT_INT);
	ck_assert_uint_eq(st().host_faults, 1);
	ck_assert_uint_eq(host_faults, 1);
	ck_assert_uint_eq(st().last_fault_gpa, EVT_GPA + 0x1000);
	ck_assert_uint_eq(st().logged[AMD_RING_EVT], 16);
	ck_assert_uint_eq(st().dropped[AMD_RING_EVT], 24);
	ck_assert_uint_eq(st().overflows[AMD_RING_EVT], 0);
	ck_assert_uint_eq(irqs[AMD_IRQ_EVT], 1);
	expect_faults(16, 0);
	ck_assert_int_eq(evt_pop(&ev[0]), -EAGAIN);
	/* Stopped: later bursts are dropped, touching nothing. */
	ck_assert_int_eq(amd_hw_events(hw, ev, 4, &logged), -EAGAIN);
	ck_assert_uint_eq(st().host_faults, 1);

	atomic_store(&gm.hole[EVT_GPA / PAGE + 1], false);
	evt_tail_at(0xf80);
	gm.page_writes = 0;
	faults(ev, 20, 100);
	ck_assert_int_eq(amd_hw_events(hw, ev, 20, &logged), 0);
	ck_assert_uint_eq(logged, 20);
	ck_assert_uint_eq(reg_get(AMD_VF_EVT_TAIL), 0x10c0);
	ck_assert_uint_eq(gm.page_writes, _i == PAGE_DIRECT ? 2 : 0);
	expect_faults(20, 100);
	hw_down();
}
END_TEST

/* The first page unmapped: nothing lands, as for a lone entry (#43). */
START_TEST(burst_first_page_unmapped)
{
	struct amd_event ev[8];
	unsigned int logged = 1;

	gm.page_mode = (enum page_mode)_i;
	hw_up(NULL);
	atomic_store(&gm.hole[EVT_GPA / PAGE], true);
	faults(ev, 8, 0);
	ck_assert_int_eq(amd_hw_events(hw, ev, 8, &logged), -EFAULT);
	ck_assert_uint_eq(logged, 0);
	ck_assert(!(amd_hw_status(hw) & (AMD_STS_EVT_RUN | AMD_STS_EVT_INT)));
	ck_assert_uint_eq(reg_get(AMD_VF_EVT_TAIL), 0);
	ck_assert_uint_eq(st().host_faults, 1);
	ck_assert_uint_eq(st().last_fault_gpa, EVT_GPA);
	ck_assert_uint_eq(st().dropped[AMD_RING_EVT], 8);
	ck_assert_uint_eq(irqs[AMD_IRQ_EVT], 0);
	hw_down();
}
END_TEST

/*
 * An event that does not encode ends the burst before it: those before
 * land, it and those after are neither logged nor counted (a lone one is
 * refused the same way), also when the log drops the burst.
 */
START_TEST(burst_invalid_event)
{
	struct amd_event ev[4];
	unsigned int logged = 0;

	hw_up(NULL);
	faults(ev, 4, 0);
	ev[2].code = 0;
	ck_assert_int_eq(amd_hw_events(hw, ev, 4, &logged), -EINVAL);
	ck_assert_uint_eq(logged, 2);
	ck_assert_uint_eq(st().logged[AMD_RING_EVT], 2);
	ck_assert_uint_eq(st().dropped[AMD_RING_EVT], 0);
	ev[2].code = AMD_EVT_IO_PAGE_FAULT;
	ev[2].flags = 0x1000;	/* 13 bits */
	ck_assert_int_eq(amd_hw_events(hw, ev + 2, 2, &logged), -EINVAL);
	ck_assert_uint_eq(logged, 0);
	ck_assert_int_eq(amd_hw_event(hw, &ev[2]), -EINVAL);
	ck_assert_uint_eq(st().logged[AMD_RING_EVT], 2);
	expect_faults(2, 0);
	/* Stopped: the valid ones before it count as dropped, no more. */
	amd_hw_control_write(hw, CTL_ALL & ~CTL_EVT);
	ck_assert_int_eq(amd_hw_events(hw, ev, 4, &logged), -EAGAIN);
	ck_assert_uint_eq(st().dropped[AMD_RING_EVT], 2);
	ck_assert_int_eq(amd_hw_events(hw, ev + 2, 2, &logged), -EINVAL);
	ck_assert_uint_eq(st().dropped[AMD_RING_EVT], 2);
	ck_assert_int_eq(amd_hw_events(hw, ev, 0, &logged), 0);
	hw_down();

	/* The second of a pair, and the last of an odd count. */
	hw_up(NULL);
	faults(ev, 4, 0);
	ev[3].flags = AMD_EVT_F_GN;	/* names a PASID: not the fast path */
	ev[3].pasid = 1u << 20;		/* 21 bits */
	ck_assert_int_eq(amd_hw_events(hw, ev, 4, &logged), -EINVAL);
	ck_assert_uint_eq(logged, 3);
	expect_faults(3, 0);
	ck_assert_int_eq(amd_hw_events(hw, ev + 1, 3, &logged), -EINVAL);
	ck_assert_uint_eq(logged, 2);
	expect_faults(2, 1);
	ck_assert_uint_eq(st().logged[AMD_RING_EVT], 5);
	ck_assert_uint_eq(st().dropped[AMD_RING_EVT], 0);
	hw_down();
}
END_TEST

/* What a sequence of posts left behind, to compare two ways of posting. */
struct post_trace {
	int rc[40];
	uint64_t status;
	uint32_t tail;
	struct amd_hw_stats st;
	unsigned int irqs;
	uint8_t log[2 * PAGE];
};

/*
 * The same posts, each a lone call (@burst false) or a burst of one: room,
 * a full log, a stopped one, the restart, a hole in the log, a bad event,
 * late entries.
 */
static void post_sequence(bool burst, struct post_trace *t)
{
	unsigned int n = 0, logged;
	struct amd_event ev;

#define POST(e) (t->rc[n++] = burst ? amd_hw_events(hw, &(e), 1, &logged) : \
		 amd_hw_event(hw, &(e)))
	memset(t, 0, sizeof(*t));
	hw_up(NULL);
	/* Room for seven, across the wrap. */
	evt_tail_at(0xfb0);
	reg_set(AMD_VF_EVT_HEAD, 0x30);
	for (unsigned int i = 0; i < 6; i++) {
		faults(&ev, 1, i);
		POST(ev);
	}
	ev.flags = AMD_EVT_F_GN;
	ev.pasid = 0x12345;
	POST(ev);
	ev.code = 0;
	POST(ev);
	faults(&ev, 1, 8);
	POST(ev);
	POST(ev);
	/* Drain, restart, and a hole under the next slot. */
	reg_set(AMD_VF_EVT_HEAD, reg_get(AMD_VF_EVT_TAIL));
	amd_guest_status_write(vf, AMD_STS_EVT_OVERFLOW | AMD_STS_EVT_INT);
	amd_hw_control_write(hw, CTL_ALL & ~CTL_EVT);
	amd_hw_control_write(hw, CTL_ALL);
	faults(&ev, 1, 50);
	POST(ev);
	atomic_store(&gm.hole[EVT_GPA / PAGE], true);
	POST(ev);
	POST(ev);
	t->status = amd_hw_status(hw);
	t->tail = (uint32_t)reg_get(AMD_VF_EVT_TAIL);
	t->st = st();
	t->irqs = irqs[AMD_IRQ_EVT];
	memcpy(t->log, gva(EVT_GPA), PAGE);
	hw_down();
	/* Late entries: held back, then written by a step. */
	hw_up("late_entry_visibility=1");
	for (unsigned int i = 0; i < 12; i++) {
		ev = (struct amd_event){
			.code = AMD_EVT_ILLEGAL_DEV_TABLE_ENTRY,
			.devid = (uint16_t)i, .addr = i,
		};
		POST(ev);
	}
	amd_hw_step(hw, 1);
	t->st.logged[AMD_RING_PPR] = st().logged[AMD_RING_EVT];
	memcpy(t->log + PAGE, gva(EVT_GPA), PAGE);
	hw_down();
#undef POST
}

/* What amd_guest_log_drain handed out, in order. */
struct drained {
	unsigned int n;
	struct amd_entry e[512];
};

static void drain_take(void *arg, const struct amd_entry *e)
{
	struct drained *d = arg;

	ck_assert_uint_lt(d->n, 512);
	d->e[d->n++] = *e;
}

/*
 * The guest's drain takes exactly the entries between head and tail, in
 * ring order across the wrap, at most @max a call, zeroes their slots and
 * writes the head once; an entry the tail passed but whose code is still
 * zero stops it there (-EBUSY when it is the first).
 */
START_TEST(guest_log_drain_wraps)
{
	const uint32_t size = amd_ring_bytes(8);
	struct amd_event ev[256];
	static struct drained d;
	unsigned int logged;
	uint64_t next = 0;

	hw_up(NULL);
	for (unsigned int i = 0; i < 256; i++)
		ev[i] = (struct amd_event){
			.code = AMD_EVT_IO_PAGE_FAULT, .devid = 0x10,
			.domid = 3, .flags = AMD_EVT_F_RW,
		};
	memset(&d, 0, sizeof(d));
	ck_assert_int_eq(amd_guest_log_drain(&ge, 16, 0, drain_take, &d), 0);

	/* 200 in, then 100 more: the second lot wraps at entry 256. */
	for (unsigned int lot = 0; lot < 2; lot++) {
		unsigned int k = lot ? 100 : 200;

		for (unsigned int i = 0; i < k; i++)
			ev[i].addr = (next + i) << 12;
		ck_assert_int_eq(amd_hw_events(hw, ev, k, &logged), 0);
		ck_assert_uint_eq(logged, k);
		memset(&d, 0, sizeof(d));
		/* A bounded call first: 30 taken, the head written once. */
		ck_assert_int_eq(amd_guest_log_drain(&ge, 30, 0, drain_take,
						     &d), 30);
		ck_assert_uint_eq(reg_get(AMD_VF_EVT_HEAD),
				  (next + 30) * 16 % size);
		ck_assert_int_eq(amd_guest_log_drain(&ge, 1000, 0, drain_take,
						     &d), (int)k - 30);
		ck_assert_uint_eq(d.n, k);
		for (unsigned int i = 0; i < k; i++) {
			ck_assert_uint_eq(d.e[i].q1, (next + i) << 12);
			ck_assert_uint_eq(d.e[i].q0,
					  0x10 | 3ull << 32 |
					  (uint64_t)AMD_EVT_F_RW << 48 |
					  (uint64_t)AMD_EVT_IO_PAGE_FAULT << 60);
		}
		next += k;
		ck_assert_uint_eq(reg_get(AMD_VF_EVT_HEAD), next * 16 % size);
		ck_assert_uint_eq(reg_get(AMD_VF_EVT_HEAD),
				  reg_get(AMD_VF_EVT_TAIL));
		ck_assert_int_eq(amd_guest_log_drain(&ge, 16, 0, drain_take,
						     &d), 0);
		ck_assert_uint_eq(d.n, k);
	}
	/* Every slot given back zeroed. */
	for (uint32_t off = 0; off < size; off += 8)
		ck_assert_uint_eq(load64(EVT_GPA + off), 0);

	/* The tail passed two entries, the second not written yet. */
	ev[0].addr = 0x77000;
	ck_assert_int_eq(amd_hw_events(hw, ev, 1, &logged), 0);
	reg_set(AMD_VF_EVT_TAIL, (next + 2) * 16 % size);
	memset(&d, 0, sizeof(d));
	ck_assert_int_eq(amd_guest_log_drain(&ge, 16, 0, drain_take, &d), 1);
	ck_assert_uint_eq(d.e[0].q1, 0x77000);
	ck_assert_uint_eq(reg_get(AMD_VF_EVT_HEAD), (next + 1) * 16 % size);
	ck_assert_int_eq(amd_guest_log_drain(&ge, 16, 0, drain_take, &d),
			 -EBUSY);
	ck_assert_uint_eq(d.n, 1);
	ck_assert_uint_eq(reg_get(AMD_VF_EVT_HEAD), (next + 1) * 16 % size);
	/* Two passed, neither written: the first of the pair stops it. */
	reg_set(AMD_VF_EVT_TAIL, (next + 3) * 16 % size);
	ck_assert_int_eq(amd_guest_log_drain(&ge, 16, 0, drain_take, &d),
			 -EBUSY);
	ck_assert_uint_eq(d.n, 1);
	ck_assert_uint_eq(reg_get(AMD_VF_EVT_HEAD), (next + 1) * 16 % size);
	hw_down();
}
END_TEST

START_TEST(burst_of_one_is_single)
{
	static struct post_trace a, b;

	post_sequence(false, &a);
	post_sequence(true, &b);
	for (unsigned int i = 0; i < 7; i++)
		ck_assert_int_eq(a.rc[i], 0);
	ck_assert_int_eq(a.rc[7], -EINVAL);
	ck_assert_int_eq(a.rc[8], -ENOSPC);
	ck_assert_int_eq(a.rc[9], -EAGAIN);
	ck_assert_int_eq(a.rc[10], 0);
	ck_assert_int_eq(a.rc[11], -EFAULT);
	ck_assert_int_eq(a.rc[12], -EAGAIN);
	ck_assert_uint_eq(a.irqs, 9);
	for (unsigned int i = 0; i < 40; i++)
		ck_assert_int_eq(a.rc[i], b.rc[i]);
	ck_assert_uint_eq(a.status, b.status);
	ck_assert_uint_eq(a.tail, b.tail);
	ck_assert_uint_eq(a.irqs, b.irqs);
	ck_assert(!memcmp(&a.st, &b.st, sizeof(a.st)));
	ck_assert(!memcmp(a.log, b.log, sizeof(a.log)));
}
END_TEST

/* A burst with late_entry_visibility: tail first, entries at the step. */
START_TEST(burst_late_entries)
{
	struct amd_event ev[20];
	unsigned int logged = 0;

	hw_up("late_entry_visibility=1");
	faults(ev, 20, 0);
	ck_assert_int_eq(amd_hw_events(hw, ev, 20, &logged), 0);
	ck_assert_uint_eq(logged, 20);
	ck_assert_uint_eq(reg_get(AMD_VF_EVT_TAIL), 20 * 16);
	ck_assert_uint_eq(irqs[AMD_IRQ_EVT], 1);
	amd_hw_step(hw, 1);
	expect_faults(20, 0);
	hw_down();
}
END_TEST

/* ------------------------------------------------------------- PPR log */

/* #28, #29, and the pending-group table. */
START_TEST(ppr_request_complete)
{
	struct amd_ppr req = { .devid = 0x0200, .pasid = 0x12345, .prgi = 0x1a3,
			       .last = true,
			       .flags = AMD_PPR_F_RD | AMD_PPR_F_WR | AMD_PPR_F_GN,
			       .addr = 0x7f0000001000ull }, got;
	struct amd_entry e;

	hw_up(NULL);
	ck_assert_int_eq(amd_hw_ppr_request(hw, &req), 0);
	amd_entry_from_bytes(&e, gva(PPR_GPA));
	ck_assert_uint_eq(e.q0, 0x112407a323450200ull);
	ck_assert_uint_eq(e.q1, 0x7f0000001000ull);
	ck_assert(amd_hw_status(hw) & AMD_STS_PPR_INT);
	ck_assert_uint_eq(irqs[AMD_IRQ_PPR], 1);
	ck_assert_uint_eq(st().ppr_pending, 1);
	ck_assert_int_eq(amd_guest_log_pop(&gp, &e, 0), 0);
	amd_ppr_decode(&e, &got);
	assert_ppr_eq(&req, &got);

	q((struct amd_cmd){ .op = AMD_CMD_COMPLETE_PPR_REQUEST, .complete_ppr = {
	  .devid = got.devid, .pasid = got.pasid, .gn = true, .tag = got.prgi,
	  .status = 0 } });
	ck_assert_uint_eq(go(), 1);
	ck_assert_uint_eq(nrsp, 1);
	ck_assert_uint_eq(last_rsp.devid, 0x0200);
	ck_assert_uint_eq(last_rsp.pasid, 0x12345);
	ck_assert(last_rsp.gn && last_rsp.matched);
	ck_assert_uint_eq(last_rsp.prgi, 0x1a3);
	ck_assert_int_eq(last_rsp.status, AMD_PPR_RSP_SUCCESS);
	ck_assert_uint_eq(st().ppr_pending, 0);
	ck_assert_uint_eq(st().ppr_cpl_matched, 1);

	/* A group of two requests is one pending entry; a stray answer is legal. */
	req.last = false;
	ck_assert_int_eq(amd_hw_ppr_request(hw, &req), 0);
	req.last = true;
	ck_assert_int_eq(amd_hw_ppr_request(hw, &req), 0);
	ck_assert_uint_eq(st().ppr_pending, 1);
	q((struct amd_cmd){ .op = AMD_CMD_COMPLETE_PPR_REQUEST, .complete_ppr = {
	  .devid = 0x0300, .tag = 0x1a3, .status = 2 } });
	q((struct amd_cmd){ .op = AMD_CMD_COMPLETE_PPR_REQUEST, .complete_ppr = {
	  .devid = 0x0200, .tag = 0x1a3, .status = 1 } });
	ck_assert_uint_eq(go(), 2);
	ck_assert_uint_eq(nrsp, 3);
	ck_assert(last_rsp.matched);
	ck_assert_int_eq(last_rsp.status, AMD_PPR_RSP_INVALID);
	ck_assert_uint_eq(st().ppr_cpl_unmatched, 1);
	ck_assert_uint_eq(st().ppr_pending, 0);
	hw_down();
}
END_TEST

/* #30 and its setting. */
START_TEST(ppr_disabled)
{
	struct amd_ppr req = { .devid = 0x0200, .pasid = 0x12345, .prgi = 0x1a3,
			       .last = true, .flags = AMD_PPR_F_GN,
			       .addr = 0x5000 };
	struct amd_event ev;

	hw_up(NULL);
	amd_hw_control_write(hw, CTL_ALL & ~(1ull << 15));
	ck_assert_int_eq(amd_hw_ppr_request(hw, &req), -EAGAIN);
	ck_assert_uint_eq(reg_get(AMD_VF_PPR_TAIL), 0);
	ck_assert_int_eq(evt_pop(&ev), 0);
	ck_assert_uint_eq(ev.code, AMD_EVT_INVALID_PPR_REQUEST);
	ck_assert_uint_eq(ev.devid, 0x0200);
	ck_assert_uint_eq(ev.pasid, 0x12345);
	ck_assert_uint_eq(ev.tag, 0x3a3);
	ck_assert_uint_eq(ev.addr, 0x5000);
	ck_assert_uint_eq(st().ppr_rejected, 1);
	ck_assert_uint_eq(st().ppr_pending, 0);
	hw_down();

	hw_up("invalid_ppr_event_when_disabled=false");
	amd_hw_control_write(hw, CTL_ALL & ~(1ull << 15));
	ck_assert_int_eq(amd_hw_ppr_request(hw, &req), -EAGAIN);
	ck_assert_int_eq(evt_pop(&ev), -EAGAIN);
	hw_down();
}
END_TEST

/* #31. */
START_TEST(ppr_overflow)
{
	struct amd_ppr req = { .devid = 1, .flags = AMD_PPR_F_GN, .last = true };
	struct amd_event ev;

	hw_up(NULL);
	for (int i = 0; i < 255; i++) {
		req.prgi = (uint16_t)i;
		ck_assert_int_eq(amd_hw_ppr_request(hw, &req), 0);
	}
	ck_assert_uint_eq(irqs[AMD_IRQ_PPR], 255);
	ck_assert_int_eq(amd_hw_ppr_request(hw, &req), -ENOSPC);
	ck_assert(amd_hw_status(hw) & AMD_STS_PPR_OVERFLOW);
	ck_assert(!(amd_hw_status(hw) & AMD_STS_PPR_RUN));
	ck_assert_uint_eq(irqs[AMD_IRQ_PPR], 256);
	ck_assert_uint_eq(st().overflows[AMD_RING_PPR], 1);
	ck_assert_uint_eq(st().ppr_pending, 255);
	ck_assert_int_eq(evt_pop(&ev), -EAGAIN);
	/* Stopped now: the next request is rejected like a disabled log. */
	ck_assert_int_eq(amd_hw_ppr_request(hw, &req), -EAGAIN);
	ck_assert_int_eq(evt_pop(&ev), 0);
	ck_assert_uint_eq(ev.code, AMD_EVT_INVALID_PPR_REQUEST);
	hw_down();
}
END_TEST

/* ----------------------------------------------------------- wrapping */

/* Every ring goes round several times; no register ever reads SIZE. */
START_TEST(wrap_every_ring)
{
	struct amd_ppr req = { .devid = 3, .flags = AMD_PPR_F_GN, .last = true };
	struct amd_entry e;
	struct amd_event ev;
	uint64_t seq = 0;

	hw_up(NULL);
	for (int round = 0; round < 10; round++) {
		for (int i = 0; i < 99; i++)
			q(c_dte((uint16_t)i));
		q(c_cw(true, false, SEM_GPA, ++seq));
		ck_assert_uint_eq(go(), 100);
		ck_assert_uint_eq(load64(SEM_GPA), seq);
		ck_assert_uint_lt(reg_get(AMD_VF_CMD_HEAD), 0x1000);

		for (int i = 0; i < 100; i++) {
			ck_assert_int_eq(amd_hw_io_page_fault(hw, (uint16_t)i, 1, 0,
							      seq << 12, 0), 0);
			req.prgi = (uint16_t)i;
			req.addr = seq << 12;
			ck_assert_int_eq(amd_hw_ppr_request(hw, &req), 0);
		}
		ck_assert_uint_lt(reg_get(AMD_VF_EVT_TAIL), 0x1000);
		ck_assert_uint_lt(reg_get(AMD_VF_PPR_TAIL), 0x1000);
		for (int i = 0; i < 100; i++) {
			ck_assert_int_eq(evt_pop(&ev), 0);
			ck_assert_uint_eq(ev.devid, i);
			ck_assert_uint_eq(ev.addr, seq << 12);
			ck_assert_int_eq(amd_guest_log_pop(&gp, &e, 0), 0);
			ck_assert_uint_eq(e.q1, seq << 12);
			q((struct amd_cmd){ .op = AMD_CMD_COMPLETE_PPR_REQUEST,
			  .complete_ppr = { .devid = 3, .tag = (uint16_t)i } });
		}
		ck_assert_uint_eq(go(), 100);
	}
	ck_assert_uint_eq(st().cmd_exec[AMD_CMD_INV_DEVTAB_ENTRY], 990);
	ck_assert_uint_eq(st().ppr_cpl_matched, 1000);
	ck_assert_uint_eq(st().logged[AMD_RING_EVT], 1000);
	ck_assert_uint_eq(st().dropped[AMD_RING_EVT], 0);
	hw_down();
}
END_TEST

/* #42: two ring pages on non-adjacent host pages, 300 commands in order. */
START_TEST(scattered_ring)
{
	uint32_t tail = 0, done = 0;

	hw_up(NULL);
	gm.map[CMD_GPA / PAGE] = 200;
	gm.map[CMD_GPA / PAGE + 1] = 100;
	cmd_ring_len(9);
	while (done < 300) {
		for (int i = 0; i < 100; i++) {
			struct amd_cmd c = c_dte((uint16_t)(done + i));
			struct amd_entry e;

			amd_cmd_encode(&c, NULL, &e);
			gpa_store_entry(CMD_GPA + tail, &e);
			tail = (tail + 16) % 0x2000;
		}
		reg_set(AMD_VF_CMD_TAIL, tail);
		ck_assert_uint_eq(amd_hw_step(hw, 1000), 100);
		done += 100;
	}
	ck_assert_uint_eq(nexec, 300);
	for (uint16_t i = 0; i < 300; i++)
		ck_assert_uint_eq(exec_devids[i], i);
	ck_assert_uint_eq(st().cmd_hw_error, 0);
	hw_down();
}
END_TEST

/* ------------------------------------------------- batched consumption */

/* Queue through the GPA map, for a ring whose pages are far apart. */
static void qmap(struct amd_cmd c)
{
	struct amd_entry e;

	ck_assert_uint_gt(amd_guest_cmd_space(&gc), 0);
	ck_assert_int_eq(amd_cmd_encode(&c, &fmt, &e), 0);
	gpa_store_entry(CMD_GPA + gc.next, &e);
	gc.next = (gc.next + AMD_ENTRY_SIZE) & (gc.size - 1);
}

static struct amd_cmd c_irt(uint16_t devid)
{
	return (struct amd_cmd){ .op = AMD_CMD_INV_INTERRUPT_TABLE,
				 .inv_irt.devid = devid };
}

/*
 * An illegal command in the middle of a batch: the commands before it
 * run (under every page mode and both head settings), the head stops on
 * it or just past it, nothing after it runs, and a small budget is kept
 * exactly on the way there.
 */
START_TEST(batch_illegal_mid)
{
	static const char *const opts[] = { "illegal_cmd_head=at_fault",
					    "illegal_cmd_head=past_fault" };
	enum page_mode mode = (enum page_mode)(_i % PAGE_MODES);
	bool past = _i / PAGE_MODES;
	struct amd_entry raw;

	gm.page_mode = mode;
	hw_up(opts[past]);
	for (uint16_t i = 0; i < 40; i++)
		q(c_dte(i));
	/* INVALIDATE_DEVTAB_ENTRY with reserved bit 16 set. */
	qraw(2ull << 60 | 1ull << 16 | 40, 0);
	for (uint16_t i = 41; i < 51; i++)
		q(c_dte(i));
	amd_guest_cmd_ring_tail(&gc);
	ck_assert_uint_eq(amd_hw_step(hw, 7), 7);
	ck_assert_uint_eq(reg_get(AMD_VF_CMD_HEAD), 7 * 16);
	ck_assert_uint_eq(nexec, 7);
	ck_assert_uint_eq(go(), 34);
	ck_assert_uint_eq(st().cmd_exec[AMD_CMD_INV_DEVTAB_ENTRY], 40);
	ck_assert_uint_eq(st().cmd_illegal, 1);
	ck_assert_uint_eq(nexec, 40);
	for (uint16_t i = 0; i < 40; i++)
		ck_assert_uint_eq(exec_devids[i], i);
	ck_assert(!(amd_hw_status(hw) & AMD_STS_CMD_RUN));
	ck_assert_uint_eq(reg_get(AMD_VF_CMD_HEAD), (past ? 41 : 40) * 16);
	ck_assert_uint_eq(ri(AMD_RING_CMD).head, (past ? 41 : 40) * 16);
	ck_assert_int_eq(amd_guest_log_pop(&ge, &raw, 0), 0);
	ck_assert_uint_eq(raw.q0, 5ull << 60);
	ck_assert_uint_eq(raw.q1, CMD_GPA + 40 * 16);
	ck_assert_uint_eq(st().last_illegal_gpa, CMD_GPA + 40 * 16);
	ck_assert_uint_eq(amd_hw_step(hw, 100), 0);
	ck_assert_uint_eq(st().cmd_exec[AMD_CMD_INV_DEVTAB_ENTRY], 40);
	ck_assert(mode == PAGE_DIRECT ? gm.page_runs > 0 : gm.page_runs == 0);
	hw_down();
}
END_TEST

/*
 * A ring of two pages far apart: a batch runs across the page boundary
 * in order; then the page under the head loses its translation between
 * two batches, and the next batch stops on COMMAND_HARDWARE_ERROR at that
 * very entry without running anything; mapped again and restarted, the
 * rest runs.
 */
START_TEST(batch_unmap_between)
{
	struct amd_event ev;

	gm.page_mode = (enum page_mode)_i;
	hw_up(NULL);
	gm.map[CMD_GPA / PAGE] = 200;
	gm.map[CMD_GPA / PAGE + 1] = 100;
	cmd_ring_len(9);
	for (uint16_t i = 0; i < 300; i++)
		qmap(c_dte(i));
	ck_assert_uint_eq(go(), 300);
	ck_assert_uint_eq(reg_get(AMD_VF_CMD_HEAD), 300 * 16);
	ck_assert_uint_eq(nexec, 300);
	for (uint16_t i = 0; i < 300; i++)
		ck_assert_uint_eq(exec_devids[i], i);

	atomic_store(&gm.hole[CMD_GPA / PAGE + 1], true);
	for (uint16_t i = 300; i < 310; i++)
		qmap(c_dte(i));
	qmap(c_cw(true, false, SEM_GPA, 9));
	ck_assert_uint_eq(go(), 1);
	ck_assert_uint_eq(nexec, 300);
	ck_assert_uint_eq(st().cmd_exec[AMD_CMD_INV_DEVTAB_ENTRY], 300);
	ck_assert_uint_eq(st().cmd_hw_error, 1);
	ck_assert_uint_eq(host_faults, 1);
	ck_assert_uint_eq(st().last_fault_gpa, CMD_GPA + 300 * 16);
	ck_assert(!(amd_hw_status(hw) & AMD_STS_CMD_RUN));
	ck_assert_uint_eq(reg_get(AMD_VF_CMD_HEAD), 300 * 16);
	ck_assert_int_eq(evt_pop(&ev), 0);
	ck_assert_uint_eq(ev.code, AMD_EVT_COMMAND_HW_ERROR);
	ck_assert_uint_eq(ev.addr, CMD_GPA + 300 * 16);
	ck_assert_uint_eq(load64(SEM_GPA), 0);

	atomic_store(&gm.hole[CMD_GPA / PAGE + 1], false);
	amd_hw_control_write(hw, CTL_ALL & ~CTL_CMD);
	amd_hw_control_write(hw, CTL_ALL);
	ck_assert_uint_eq(amd_hw_step(hw, 100), 11);
	ck_assert_uint_eq(load64(SEM_GPA), 9);
	ck_assert_uint_eq(nexec, 311);
	for (uint16_t i = 300; i < 310; i++)
		ck_assert_uint_eq(exec_devids[i], i);
	hw_down();
}
END_TEST

/*
 * Commands run in place mixed with ones that are not, more of them than
 * one locked section records for the cmd_exec hook: every one runs once,
 * in ring order, and the hook hears them in that order; a completion
 * store lands after the commands before it, its interrupt is delivered.
 */
START_TEST(batch_mixed_order)
{
	struct amd_cmd cmds[200];
	unsigned int n = 0;

	gm.page_mode = (enum page_mode)_i;
	hw_up(NULL);
	cmd_ring_len(9);
	for (unsigned int i = 0; i < 60; i++)
		cmds[n++] = c_dte((uint16_t)i);
	cmds[n++] = c_cw(true, false, SEM_GPA, 1);
	for (unsigned int i = 0; i < 3; i++)
		cmds[n++] = c_irt((uint16_t)i);
	cmds[n++] = c_cw(false, true, 0, 0);
	cmds[n++] = c_all();
	cmds[n++] = (struct amd_cmd){ .op = AMD_CMD_PREFETCH_IOMMU_PAGES,
				      .prefetch = { .devid = 3, .count = 2,
						    .addr = 0x5000 } };
	cmds[n++] = (struct amd_cmd){ .op = AMD_CMD_INV_IOMMU_PAGES,
				      .inv_pages = { .domid = 4,
						     .addr = 0x7000 } };
	for (unsigned int i = 0; i < 100; i++)
		cmds[n++] = i % 2 ? c_irt((uint16_t)i) : c_dte((uint16_t)i);
	cmds[n++] = c_cw(true, false, SEM_GPA + 8, 2);
	for (unsigned int i = 0; i < n; i++)
		q(cmds[i]);
	ck_assert_uint_eq(go(), n);
	ck_assert_uint_eq(nexec, n);
	for (unsigned int i = 0; i < n; i++)
		ck_assert_uint_eq(exec_ops[i], cmds[i].op);
	ck_assert_uint_eq(st().cmd_exec[AMD_CMD_INV_DEVTAB_ENTRY], 110);
	ck_assert_uint_eq(st().cmd_exec[AMD_CMD_INV_INTERRUPT_TABLE], 53);
	ck_assert_uint_eq(st().cmd_exec[AMD_CMD_COMPLETION_WAIT], 3);
	ck_assert_uint_eq(st().cmd_exec[AMD_CMD_INV_IOMMU_ALL], 1);
	ck_assert_uint_eq(st().cmd_exec[AMD_CMD_PREFETCH_IOMMU_PAGES], 1);
	ck_assert_uint_eq(st().cmd_exec[AMD_CMD_INV_IOMMU_PAGES], 1);
	ck_assert_uint_eq(load64(SEM_GPA), 1);
	ck_assert_uint_eq(load64(SEM_GPA + 8), 2);
	ck_assert_uint_eq(irqs[AMD_IRQ_COMWAIT], 1);
	ck_assert_uint_eq(reg_get(AMD_VF_CMD_HEAD), n * 16);
	hw_down();
}
END_TEST

/* The same without a cmd_exec hook: whole pages in one run each. */
START_TEST(batch_no_hook)
{
	gm.page_mode = (enum page_mode)_i;
	fix_no_exec_hook = true;
	hw_up(NULL);
	cmd_ring_len(10);
	amd_hw_dte_cache_fill(hw, 5);
	amd_hw_dte_cache_fill(hw, 700);
	amd_hw_irt_cache_fill(hw, 6);
	for (unsigned int lap = 0; lap < 3; lap++) {
		for (unsigned int i = 0; i < 1000; i++)
			q(i % 3 ? c_dte((uint16_t)i) : c_irt((uint16_t)i));
		ck_assert_uint_eq(go(), 1000);
		ck_assert_uint_eq(reg_get(AMD_VF_CMD_HEAD),
				  (lap + 1) * 1000 * 16 % 0x4000);
	}
	ck_assert_uint_eq(st().cmd_exec[AMD_CMD_INV_DEVTAB_ENTRY], 3 * 666);
	ck_assert_uint_eq(st().cmd_exec[AMD_CMD_INV_INTERRUPT_TABLE], 3 * 334);
	ck_assert(!amd_hw_dte_cached(hw, 5));
	ck_assert(!amd_hw_dte_cached(hw, 700));
	ck_assert(!amd_hw_irt_cached(hw, 6));
	/* One translation per page, not per command. */
	if (gm.page_mode == PAGE_DIRECT)
		ck_assert_uint_le(gm.page_runs, 3 * (1000 / 256 + 2));
	ck_assert_uint_eq(nexec, 0);
	hw_down();
}
END_TEST

struct trace_log {
	unsigned int n;
	unsigned int head[64];
};

static void trace_sink(void *arg, const struct isim_trace_event *ev)
{
	struct trace_log *t = arg;
	const char *h = strstr(ev->args, "head=");

	if (strcmp(ev->point, "amd.cmd") || !h || t->n == 64)
		return;
	t->head[t->n++] = (unsigned int)strtoul(h + 5, NULL, 16);
}

/* Tracing on: one "amd.cmd" per command, with the head after it. */
START_TEST(batch_traced)
{
	struct isim_tracer tr;
	struct trace_log log = { 0 };

	isim_tracer_init(&tr);
	isim_tracer_set_sink(&tr, trace_sink, &log);
	gm.page_mode = (enum page_mode)_i;
	fix_tr = &tr;
	fix_no_exec_hook = true;
	hw_up(NULL);
	/* Across the wrap of the one-page ring: 250 .. 255, 0 .. 13. */
	for (unsigned int i = 0; i < 250; i++)
		q(c_dte((uint16_t)i));
	isim_tracer_set_sink(&tr, NULL, NULL);
	ck_assert_uint_eq(go(), 250);
	isim_tracer_set_sink(&tr, trace_sink, &log);
	for (unsigned int i = 0; i < 20; i++)
		q(i == 10 ? c_cw(true, false, SEM_GPA, 3) : c_dte((uint16_t)i));
	ck_assert_uint_eq(go(), 20);
	ck_assert_uint_eq(log.n, 20);
	for (unsigned int i = 0; i < 20; i++)
		ck_assert_uint_eq(log.head[i], (250 + i + 1) * 16 % 0x1000);
	hw_down();
	isim_tracer_fini(&tr);
}
END_TEST

/* The inline encoder of DeviceID-only commands is the full one. */
/*
 * The DTE and IRT caches count their bits, so a run of invalidations
 * over empty caches skips their words: the count must follow every fill
 * and invalidation, through emptying and filling again and
 * INVALIDATE_IOMMU_ALL, in the hot loop (no hook) as elsewhere.
 */
START_TEST(cache_occupancy)
{
	gm.page_mode = (enum page_mode)(_i % PAGE_MODES);
	fix_no_exec_hook = _i >= PAGE_MODES;
	hw_up(NULL);
	/* Empty caches: invalidations change nothing, and fill nothing. */
	for (uint16_t i = 0; i < 100; i++)
		q(c_dte(i));
	ck_assert_uint_eq(go(), 100);
	ck_assert(!amd_hw_dte_cached(hw, 3));
	/* Two cached, one invalidated among others: the other stays. */
	amd_hw_dte_cache_fill(hw, 3);
	amd_hw_dte_cache_fill(hw, 3);
	amd_hw_dte_cache_fill(hw, 900);
	for (uint16_t i = 0; i < 100; i++)
		q(c_dte(i));
	ck_assert_uint_eq(go(), 100);
	ck_assert(!amd_hw_dte_cached(hw, 3) && amd_hw_dte_cached(hw, 900));
	/* An IRT bit alone: DTE invalidations leave it, IRT ones take it. */
	amd_hw_irt_cache_fill(hw, 7);
	q(c_dte(900));
	q(c_dte(7));
	ck_assert_uint_eq(go(), 2);
	ck_assert(!amd_hw_dte_cached(hw, 900) && amd_hw_irt_cached(hw, 7));
	q(c_irt(7));
	ck_assert_uint_eq(go(), 1);
	ck_assert(!amd_hw_irt_cached(hw, 7));
	/* Emptied, then filled again: counted from zero. */
	amd_hw_dte_cache_fill(hw, 3);
	q(c_dte(3));
	ck_assert_uint_eq(go(), 1);
	ck_assert(!amd_hw_dte_cached(hw, 3));
	/* INVALIDATE_IOMMU_ALL, then a fill that must be seen. */
	amd_hw_dte_cache_fill(hw, 11);
	amd_hw_irt_cache_fill(hw, 12);
	q(c_all());
	ck_assert_uint_eq(go(), 1);
	ck_assert(!amd_hw_dte_cached(hw, 11) && !amd_hw_irt_cached(hw, 12));
	amd_hw_dte_cache_fill(hw, 13);
	for (uint16_t i = 10; i < 20; i++)
		q(c_dte(i));
	ck_assert_uint_eq(go(), 10);
	ck_assert(!amd_hw_dte_cached(hw, 13));
	ck_assert_uint_eq(st().cmd_exec[AMD_CMD_INV_DEVTAB_ENTRY], 213);
	ck_assert_uint_eq(st().cmd_exec[AMD_CMD_INV_INTERRUPT_TABLE], 1);
	hw_down();
}
END_TEST

START_TEST(encode_inline_matches)
{
	for (unsigned int d = 0; d < 65536; d += 257) {
		struct amd_cmd c[2] = { c_dte((uint16_t)d), c_irt((uint16_t)d) };

		for (int k = 0; k < 2; k++) {
			struct amd_entry a, b;

			ck_assert_int_eq(amd_cmd_encode(&c[k], &fmt, &a), 0);
			ck_assert_int_eq(amd_cmd_encode_full(&c[k], &fmt, &b), 0);
			ck_assert_uint_eq(a.q0, b.q0);
			ck_assert_uint_eq(a.q1, b.q1);
		}
	}
	/* The inline IO_PAGE_FAULT, and what it leaves to the full one. */
	for (unsigned int f = 0; f < 0x2000; f += 0x1f) {
		struct amd_event ev = { .code = AMD_EVT_IO_PAGE_FAULT,
					.devid = (uint16_t)(f * 7),
					.domid = (uint16_t)(f * 13),
					.pasid = f & 0x20 ? 0x100000 : f,
					.flags = (uint16_t)f,
					.addr = (uint64_t)f << 12 | 0xabc };
		struct amd_entry a = { 1, 1 }, b = { 1, 1 };
		int ra = amd_event_encode(&ev, &a);
		int rb = amd_event_encode_full(&ev, &b);

		ck_assert_int_eq(ra, rb);
		ck_assert_uint_eq(a.q0, b.q0);
		ck_assert_uint_eq(a.q1, b.q1);
	}
	/* A failing encode leaves the entry alone. */
	{
		struct amd_cmd bad = { .op = (enum amd_cmd_op)9 };
		struct amd_entry a = { 1, 2 };

		ck_assert_int_eq(amd_cmd_encode(&bad, &fmt, &a), -EINVAL);
		ck_assert_uint_eq(a.q0, 1);
		ck_assert_uint_eq(a.q1, 2);
	}
}
END_TEST

/* ---------------------------------------------------------- threaded */

struct producer {
	pthread_mutex_t *lock;
	uint64_t sem_gpa;
	unsigned int pairs;
	atomic_bool *bad_head;
};

/* #44: producers share the ring under a lock, as Linux's iommu->lock. */
static void *pair_producer(void *arg)
{
	struct producer *p = arg;

	for (uint64_t seq = 1; seq <= p->pairs; seq++) {
		for (;;) {
			pthread_mutex_lock(p->lock);
			if (amd_guest_cmd_space(&gc) >= 2)
				break;
			if (atomic_load(gc.head_reg) >= gc.size)
				atomic_store(p->bad_head, true);
			pthread_mutex_unlock(p->lock);
			sched_yield();
		}
		q(c_dte((uint16_t)seq));
		q(c_cw(true, false, p->sem_gpa, seq));
		amd_guest_cmd_ring_tail(&gc);
		pthread_mutex_unlock(p->lock);
	}
	return NULL;
}

START_TEST(threaded_two_producers)
{
	pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	atomic_bool bad = false;
	struct producer p[2] = {
		{ &lock, SEM_GPA, 10000, &bad },
		{ &lock, SEM_GPA + 8, 10000, &bad },
	};
	pthread_t t[2];

	hw_up(NULL);
	ck_assert_int_eq(amd_hw_start(hw), 0);
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, pair_producer, &p[i]);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	ck_assert_int_eq(amd_guest_sem_wait(gva(SEM_GPA), 10000, 10 * SEC), 0);
	ck_assert_int_eq(amd_guest_sem_wait(gva(SEM_GPA + 8), 10000, 10 * SEC), 0);
	amd_hw_stop(hw);
	ck_assert(!bad);
	ck_assert_uint_eq(st().cmd_exec[AMD_CMD_INV_DEVTAB_ENTRY], 20000);
	ck_assert_uint_eq(st().cmd_exec[AMD_CMD_COMPLETION_WAIT], 20000);
	hw_down();
}
END_TEST

#define STRESS_CMDS	1000000u

static void *stress_guest(void *arg)
{
	unsigned int *pushed = arg;
	unsigned int batch = 0;

	for (unsigned int n = 0; n < STRESS_CMDS; n++) {
		struct amd_cmd c;

		switch (n % 8) {
		case 0: c = c_dte((uint16_t)n); break;
		case 1: c = (struct amd_cmd){ .op = AMD_CMD_INV_IOMMU_PAGES,
			  .inv_pages = { .domid = (uint16_t)n, .addr = 0x1000 } };
			break;
		case 2: c = (struct amd_cmd){ .op = AMD_CMD_INV_INTERRUPT_TABLE,
			  .inv_irt.devid = (uint16_t)n };
			break;
		case 3: c = (struct amd_cmd){ .op = AMD_CMD_INV_IOTLB_PAGES,
			  .inv_iotlb = { .devid = 1, .addr = 0x2000 } };
			break;
		case 7: c = c_cw(true, false, SEM_GPA, n); break;
		default: c = c_all(); break;
		}
		while (amd_guest_cmd_queue(&gc, &c, &fmt) == -ENOSPC) {
			amd_guest_cmd_ring_tail(&gc);
			batch = 0;
			sched_yield();
		}
		pushed[c.op]++;
		if (++batch == 32) {
			amd_guest_cmd_ring_tail(&gc);
			batch = 0;
		}
	}
	amd_guest_cmd_ring_tail(&gc);
	return NULL;
}

/* About a million commands, four thousand laps of a 256-entry ring. */
START_TEST(threaded_stress)
{
	unsigned int pushed[16] = { 0 };
	struct amd_hw_stats s;
	pthread_t t;

	hw_up(NULL);
	ck_assert_int_eq(amd_hw_start(hw), 0);
	pthread_create(&t, NULL, stress_guest, pushed);
	pthread_join(t, NULL);
	ck_assert_int_eq(amd_guest_sem_wait(gva(SEM_GPA), STRESS_CMDS - 1,
					    15 * SEC), 0);
	amd_hw_stop(hw);
	s = st();
	for (int op = 0; op < 16; op++)
		ck_assert_uint_eq(s.cmd_exec[op], pushed[op]);
	ck_assert_uint_eq(s.cmd_illegal + s.cmd_hw_error, 0);
	ck_assert_uint_eq(ri(AMD_RING_CMD).head, gc.next);
	ck_assert_uint_eq(nexec, STRESS_CMDS);
	hw_down();
}
END_TEST

#define EVT_STRESS	100000u

static struct {
	atomic_bool done;
	uint8_t ok[EVT_STRESS];
	uint32_t got[EVT_STRESS];
	unsigned int ngot, restarts;
	bool zero_code;
} es;

static void *evt_producer(void *arg)
{
	for (uint32_t i = 0; i < EVT_STRESS; i++) {
		es.ok[i] = amd_hw_io_page_fault(hw, 1, 1, 0, (uint64_t)i << 12,
						0) == 0;
		/* Let the consumer in now and then, so episodes repeat. */
		if (i % 64 == 63)
			sched_yield();
	}
	atomic_store(&es.done, true);
	return NULL;
}

static void drain(void)
{
	struct amd_event ev;

	while (evt_pop(&ev) == 0) {
		es.zero_code |= !ev.code;
		es.got[es.ngot++] = (uint32_t)(ev.addr >> 12);
	}
}

static void *evt_consumer(void *arg)
{
	unsigned int n = 0;

	/*
	 * Row 45 at least once, whatever the threads' timing: the first
	 * drain waits until the log has filled and overflowed (the producer
	 * posts far more events than the log holds).
	 */
	while (!(amd_guest_status_read(vf) & AMD_STS_EVT_OVERFLOW) &&
	       !atomic_load(&es.done))
		sched_yield();
	for (;;) {
		bool done = atomic_load(&es.done);
		uint64_t sts = amd_guest_status_read(vf);
		struct amd_event ev;

		/* #25's procedure, as Linux's restart helper does it. */
		if (sts & AMD_STS_EVT_OVERFLOW && !(sts & AMD_STS_EVT_RUN)) {
			drain();
			amd_hw_control_write(hw, CTL_ALL & ~CTL_EVT);
			amd_guest_status_write(vf, AMD_STS_EVT_OVERFLOW);
			amd_hw_control_write(hw, CTL_ALL);
			es.restarts++;
		}
		if (evt_pop(&ev) == 0) {
			es.zero_code |= !ev.code;
			es.got[es.ngot++] = (uint32_t)(ev.addr >> 12);
		} else if (done) {
			break;
		}
		/*
		 * Slower than the producer: a yield alone returns at once
		 * when the producer runs on another CPU at the consumer's
		 * pace (seen under TSan), and then the log never fills; a
		 * short sleep now and then lets it fill for sure.
		 */
		if (++n % 4 == 0)
			sched_yield();
		if (n % 256 == 0)
			nanosleep(&(struct timespec){ .tv_nsec = 100000 }, NULL);
	}
	drain();
	return NULL;
}

/* #45. */
START_TEST(threaded_event_overflow)
{
	unsigned int nok = 0, j = 0;
	pthread_t p, c;

	memset(&es, 0, sizeof(es));
	hw_up(NULL);
	pthread_create(&c, NULL, evt_consumer, NULL);
	pthread_create(&p, NULL, evt_producer, NULL);
	pthread_join(p, NULL);
	pthread_join(c, NULL);
	for (uint32_t i = 0; i < EVT_STRESS; i++) {
		if (!es.ok[i])
			continue;
		nok++;
		/* Consumed in order, each logged one exactly once. */
		ck_assert_uint_lt(j, es.ngot);
		ck_assert_uint_eq(es.got[j++], i);
	}
	ck_assert_uint_eq(es.ngot, nok);
	ck_assert(!es.zero_code);
	ck_assert_uint_gt(es.restarts, 0);
	ck_assert_uint_eq(st().logged[AMD_RING_EVT], nok);
	ck_assert_uint_ge(st().overflows[AMD_RING_EVT], es.restarts);
	hw_down();
}
END_TEST

/* #46: a disable while the engine thread is mid-ring. */
START_TEST(threaded_disable_race)
{
	struct amd_hw_stats before;
	uint64_t head, sts, deadline;

	hw_up(NULL);
	cmd_ring_len(9);
	ck_assert_int_eq(amd_hw_start(hw), 0);
	for (int i = 0; i < 511; i++)
		q(c_dte((uint16_t)i));
	amd_guest_cmd_ring_tail(&gc);
	amd_hw_kick(hw);
	deadline = now_ns() + 5 * SEC;
	while (!atomic_load(amd_vf_reg(vf, AMD_VF_CMD_HEAD)) &&
	       now_ns() < deadline)
		sched_yield();
	amd_hw_control_write(hw, CTL_ALL & ~CTL_CMD);
	before = st();
	head = reg_get(AMD_VF_CMD_HEAD);
	sts = amd_hw_status(hw);
	ck_assert(!(sts & AMD_STS_CMD_RUN));
	ck_assert_uint_eq(head, ri(AMD_RING_CMD).head);
	ck_assert_uint_eq(head / 16, before.cmd_exec[AMD_CMD_INV_DEVTAB_ENTRY]);
	/* Give the engine time to misbehave. */
	for (int i = 0; i < 50; i++) {
		amd_hw_kick(hw);
		sched_yield();
	}
	{
		struct timespec ts = { 0, 5000000 };

		nanosleep(&ts, NULL);
	}
	ck_assert_uint_eq(reg_get(AMD_VF_CMD_HEAD), head);
	ck_assert_uint_eq(st().cmd_exec[AMD_CMD_INV_DEVTAB_ENTRY],
			  before.cmd_exec[AMD_CMD_INV_DEVTAB_ENTRY]);
	/* Enabling again finishes the ring. */
	amd_hw_control_write(hw, CTL_ALL);
	deadline = now_ns() + 5 * SEC;
	while (st().cmd_exec[AMD_CMD_INV_DEVTAB_ENTRY] < 511 &&
	       now_ns() < deadline)
		sched_yield();
	ck_assert_uint_eq(st().cmd_exec[AMD_CMD_INV_DEVTAB_ENTRY], 511);
	amd_hw_stop(hw);
	hw_down();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("amd_hw");
	TCase *fmt_tc = tcase_create("format");
	TCase *ctl = tcase_create("control");
	TCase *cmd = tcase_create("command");
	TCase *log = tcase_create("logs");
	TCase *thr = tcase_create("threaded");
	SRunner *sr;
	int failed;

	tcase_add_test(fmt_tc, cmd_roundtrip);
	tcase_add_test(fmt_tc, cmd_reserved_bits);
	tcase_add_test(fmt_tc, inv_range_encoding);
	tcase_add_test(fmt_tc, event_and_ppr_layouts);
	tcase_add_test(fmt_tc, config_settings);
	tcase_add_test(fmt_tc, create_failures);
	suite_add_tcase(s, fmt_tc);

	tcase_add_test(ctl, ring_program_rules);
	tcase_add_test(ctl, ring_program_units);
	tcase_add_test(ctl, control_forwarding);
	tcase_add_test(ctl, control_keeps_base);
	suite_add_tcase(s, ctl);

	tcase_add_test(cmd, cmd_tail_out_of_range);
	tcase_add_test(cmd, cmd_enable_samples_tail);
	tcase_add_test(cmd, cmd_enable_and_wrap);
	tcase_add_test(cmd, cmd_producer_full);
	tcase_add_test(cmd, completion_wait);
	tcase_add_test(cmd, status_rw1c);
	tcase_add_loop_test(cmd, illegal_command_halts, 0, 2);
	tcase_add_test(cmd, illegal_command_cases);
	tcase_add_test(cmd, opcode_effects);
	tcase_add_test(cmd, cmd_fetch_fault_contained);
	tcase_add_loop_test(cmd, cmd_store_fault_contained, 0, 2);
	tcase_add_test(cmd, wrap_every_ring);
	tcase_add_test(cmd, scattered_ring);
	tcase_add_loop_test(cmd, batch_illegal_mid, 0, 2 * PAGE_MODES);
	tcase_add_loop_test(cmd, batch_unmap_between, 0, PAGE_MODES);
	tcase_add_loop_test(cmd, batch_mixed_order, 0, PAGE_MODES);
	tcase_add_loop_test(cmd, batch_no_hook, 0, PAGE_MODES);
	tcase_add_loop_test(cmd, batch_traced, 0, PAGE_MODES);
	tcase_add_loop_test(cmd, cache_occupancy, 0, 2 * PAGE_MODES);
	tcase_add_test(fmt_tc, encode_inline_matches);
	suite_add_tcase(s, cmd);

	tcase_add_test(log, event_io_page_fault);
	tcase_add_test(log, event_overflow_restart);
	tcase_add_test(log, event_overflow_settings);
	tcase_add_test(log, owned_pointer_writes);
	tcase_add_test(log, event_log_fault);
	tcase_add_test(log, late_entry_visibility);
	tcase_add_loop_test(log, burst_fills_exactly, 0, PAGE_MODES);
	tcase_add_loop_test(log, burst_overflow_mid, 0, PAGE_MODES);
	tcase_add_test(log, burst_overflow_keeps_run);
	tcase_add_loop_test(log, burst_second_page_unmapped, 0, PAGE_MODES);
	tcase_add_loop_test(log, burst_first_page_unmapped, 0, PAGE_MODES);
	tcase_add_test(log, burst_invalid_event);
	tcase_add_test(log, burst_of_one_is_single);
	tcase_add_test(log, guest_log_drain_wraps);
	tcase_add_test(log, burst_late_entries);
	tcase_add_test(log, ppr_request_complete);
	tcase_add_test(log, ppr_disabled);
	tcase_add_test(log, ppr_overflow);
	suite_add_tcase(s, log);

	tcase_set_timeout(thr, 60);
	tcase_add_test(thr, threaded_two_producers);
	tcase_add_test(thr, threaded_stress);
	tcase_add_test(thr, threaded_event_overflow);
	tcase_add_test(thr, threaded_disable_race);
	suite_add_tcase(s, thr);

	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
