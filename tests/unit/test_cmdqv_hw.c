/*
 * The Tegra241 CMDQV hardware model on its own, without iommufd: register
 * reset values, host programming, the enable handshake, ring consumption
 * with wrap and full/empty rules, every error path (ILL, ABT, ATC_INV_SYNC,
 * INIT_ERR) with its retry and report, each configuration knob, the SMMUv3
 * codec, and a threaded million-command stress that must stay clean under
 * ThreadSanitizer.  "Physical memory" is a test-owned 64 MiB array at PA
 * 0x8000_0000 with a movable hole that answers -EFAULT; the common setup is
 * the one of the research notes' §10: VINTF1, VMID 0x42, HYP_OWN=0.
 */
#include "config.h"

#include <check.h>
#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "vendors/nvidia/cmdqv_hw.h"
#include "vendors/nvidia/smmuv3_cmd.h"

#define MEM_BASE 0x80000000ull
#define MEM_SIZE (64ull << 20)
#define VMID 0x42

struct test_mem {
	uint8_t *bytes;
	uint64_t hole_lo, hole_hi;	/* atomics: the model thread reads them */
};

static struct test_mem tmem;
static struct isim_cmdqv *hw;
static struct isim_cmdqv_vintf *v1;
static struct isim_vcmdq_guest gq0, gq1;

struct exec_rec {
	unsigned vintf, lidx;
	struct isim_smmu_cmd cmd;
	uint32_t cons_seen;
};

static struct exec_rec execs[64];
static unsigned n_execs;
static unsigned disable_after;

struct report_rec {
	unsigned vintf;
	uint64_t map[2];
};

static struct report_rec reports[16];
static unsigned n_reports;

static int tmem_access(void *ctx, uint64_t addr, void *buf, size_t len,
		       bool write)
{
	struct test_mem *m = ctx;
	uint64_t lo = __atomic_load_n(&m->hole_lo, __ATOMIC_ACQUIRE);
	uint64_t hi = __atomic_load_n(&m->hole_hi, __ATOMIC_ACQUIRE);

	if (addr < MEM_BASE || addr - MEM_BASE + len > MEM_SIZE)
		return -EFAULT;
	if (addr < hi && addr + len > lo)
		return -EFAULT;
	if (write)
		memcpy(m->bytes + (addr - MEM_BASE), buf, len);
	else
		memcpy(buf, m->bytes + (addr - MEM_BASE), len);
	return 0;
}

static int tmem_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
	return tmem_access(ctx, addr, buf, len, false);
}

static int tmem_write(void *ctx, uint64_t addr, const void *buf, size_t len)
{
	return tmem_access(ctx, addr, (void *)buf, len, true);
}

static void set_hole(uint64_t lo, uint64_t hi)
{
	__atomic_store_n(&tmem.hole_lo, lo, __ATOMIC_RELEASE);
	__atomic_store_n(&tmem.hole_hi, hi, __ATOMIC_RELEASE);
}

static void *mem_at(uint64_t pa)
{
	return tmem.bytes + (pa - MEM_BASE);
}

/* ------------------------------------------------------------- fixture */

static uint32_t *reg_ptr(struct isim_cmdqv_vintf *v, unsigned lidx,
			 unsigned off)
{
	return isim_vcmdq_reg(isim_cmdqv_lvcmdq_page0(v, lidx), off);
}

static uint32_t reg(unsigned lidx, unsigned off)
{
	return __atomic_load_n(reg_ptr(v1, lidx, off), __ATOMIC_ACQUIRE);
}

static void reg_write(unsigned lidx, unsigned off, uint32_t val)
{
	__atomic_store_n(reg_ptr(v1, lidx, off), val, __ATOMIC_RELEASE);
}

static void exec_hook(void *arg, unsigned vintf, unsigned lidx,
		      const struct isim_smmu_cmd *cmd)
{
	struct isim_cmdqv_vintf *v = isim_cmdqv_vintf(hw, vintf);

	if (n_execs < 64) {
		execs[n_execs] = (struct exec_rec) {
			.vintf = vintf, .lidx = lidx, .cmd = *cmd,
			.cons_seen = __atomic_load_n(reg_ptr(v, lidx, ISIM_VCMDQ_CONS),
						     __ATOMIC_ACQUIRE),
		};
	}
	n_execs++;
	if (disable_after && n_execs == disable_after)
		__atomic_store_n(reg_ptr(v, lidx, ISIM_VCMDQ_CONFIG), 0,
				 __ATOMIC_RELEASE);
}

static void report_hook(void *arg, unsigned vintf, const uint64_t map[2])
{
	if (n_reports < 16)
		reports[n_reports] = (struct report_rec) {
			.vintf = vintf, .map = { map[0], map[1] },
		};
	n_reports++;
}

static void kick_step(void *arg)
{
	isim_cmdqv_vintf_step(arg, 1024);
}

static void setup_cfg(const char *opts)
{
	struct isim_hw_mem mem = {
		.read = tmem_read, .write = tmem_write, .ctx = &tmem,
	};
	struct isim_cmdqv_config cfg;

	tmem.bytes = calloc(1, MEM_SIZE);
	ck_assert_ptr_nonnull(tmem.bytes);
	set_hole(0, 0);
	isim_cmdqv_config_default(&cfg);
	ck_assert_int_eq(isim_cmdqv_config_parse(&cfg, opts), 0);
	ck_assert_int_eq(isim_cmdqv_new(&cfg, &mem, &hw), 0);
	isim_cmdqv_set_exec_hook(hw, exec_hook, NULL);
	isim_cmdqv_set_report(hw, report_hook, NULL);
	n_execs = n_reports = disable_after = 0;
	isim_cmdqv_enable(hw, true);
	v1 = isim_cmdqv_vintf(hw, 1);
	if (!v1)	/* a one-VINTF shape: the test sets VINTF0 up itself */
		return;
	ck_assert_int_eq(isim_cmdqv_vintf_configure(v1, VMID, false), 0);
	isim_cmdqv_vintf_enable(v1, true);
}

static void teardown(void)
{
	isim_cmdqv_free(hw);
	hw = NULL;
	free(tmem.bytes);
	tmem.bytes = NULL;
}

static unsigned step(void)
{
	return isim_cmdqv_vintf_step(v1, 1024);
}

/* What the driver's HW_QUEUE_ALLOC does to the hardware. */
static void alloc_q(unsigned lidx, uint64_t pa, unsigned log2size)
{
	ck_assert_int_eq(isim_cmdqv_lvcmdq_map(v1, lidx), 0);
	ck_assert_int_eq(isim_cmdqv_lvcmdq_set_base(v1, lidx, pa, log2size), 0);
}

static void guest_q(struct isim_vcmdq_guest *g, unsigned lidx, uint64_t pa,
		    unsigned log2size)
{
	isim_vcmdq_guest_init(g, isim_cmdqv_vintf_page0(v1), lidx, mem_at(pa),
			      log2size);
	g->kick = kick_step;
	g->kick_arg = v1;
	g->max_polls = 1000;
}

/* Allocated, attached and enabled by the guest, as §10's "Q0 enabled". */
static void q_enabled(struct isim_vcmdq_guest *g, unsigned lidx, uint64_t pa,
		      unsigned log2size)
{
	alloc_q(lidx, pa, log2size);
	guest_q(g, lidx, pa, log2size);
	ck_assert_int_eq(isim_vcmdq_guest_enable(g, true), 0);
}

static void q0_enabled(void)
{
	q_enabled(&gq0, 0, MEM_BASE, 8);
}

static void push(struct isim_vcmdq_guest *g, const uint64_t dw[2])
{
	ck_assert_int_eq(isim_vcmdq_guest_push(g, dw), 0);
}

static void push_asid(struct isim_vcmdq_guest *g, uint16_t asid)
{
	uint64_t dw[2];

	ck_assert_int_eq(isim_smmu_tlbi_nh_asid(dw, 0x99, asid), 0);
	push(g, dw);
}

static void push_raw(struct isim_vcmdq_guest *g, uint64_t d0, uint64_t d1)
{
	uint64_t dw[2] = { d0, d1 };

	push(g, dw);
}

static void push_sync(struct isim_vcmdq_guest *g, unsigned cs)
{
	uint64_t dw[2];

	ck_assert_int_eq(isim_smmu_cmd_sync(dw, cs), 0);
	push(g, dw);
}

static bool err_active(unsigned lidx)
{
	return (reg(lidx, ISIM_VCMDQ_GERROR) ^ reg(lidx, ISIM_VCMDQ_GERRORN)) &
	       ISIM_VCMDQ_GERROR_CMDQ_ERR;
}

static unsigned cons_err(unsigned lidx)
{
	return (reg(lidx, ISIM_VCMDQ_CONS) & ISIM_VCMDQ_CONS_ERR_MASK) >>
	       ISIM_VCMDQ_CONS_ERR_SHIFT;
}

static uint32_t cons_rd(unsigned lidx)
{
	return reg(lidx, ISIM_VCMDQ_CONS) & ISIM_VCMDQ_PTR_MASK;
}

static struct isim_cmdqv_stats stats(void)
{
	struct isim_cmdqv_stats s;

	isim_cmdqv_get_stats(hw, &s);
	return s;
}

/* Replace the entry at RD with a CMD_SYNC and acknowledge. */
static void fix_and_ack(struct isim_vcmdq_guest *g)
{
	ck_assert_uint_ne(isim_vcmdq_guest_skip_error(g), 0);
}

/* ---------------------------------------------------- registers, host */

START_TEST(fresh_registers)
{
	static const unsigned offs[] = {
		ISIM_VCMDQ_CONS, ISIM_VCMDQ_PROD, ISIM_VCMDQ_CONFIG,
		ISIM_VCMDQ_STATUS, ISIM_VCMDQ_GERROR, ISIM_VCMDQ_GERRORN,
	};
	uint32_t param;

	setup_cfg(NULL);
	ck_assert_uint_eq((uintptr_t)isim_cmdqv_vintf_page0(v1) % ISIM_CMDQV_PAGE_SIZE, 0);
	ck_assert_uint_eq((uintptr_t)isim_cmdqv_vintf_page1(v1) % ISIM_CMDQV_PAGE_SIZE, 0);
	for (unsigned l = 0; l < 2; l++) {
		unsigned q = isim_cmdqv_vcmdq_index(v1, l);

		for (unsigned i = 0; i < 6; i++)
			ck_assert_uint_eq(reg(l, offs[i]), 0);
		ck_assert_uint_eq(isim_cmdqv_lvcmdq_base(v1, l), 0);
		ck_assert_uint_eq(q, 2 + l);
		ck_assert_uint_eq(isim_cmdqv_cmdq_alloc(hw, q) &
				  ISIM_CMDQV_CMDQ_ALLOC_ALLOCATED, 0);
		ck_assert_uint_eq(ISIM_CMDQV_CMDQ_ALLOC_VINTF(isim_cmdqv_cmdq_alloc(hw, q)), 1);
		ck_assert_uint_eq(ISIM_CMDQV_CMDQ_ALLOC_LVCMDQ(isim_cmdqv_cmdq_alloc(hw, q)), l);
	}
	param = isim_cmdqv_param(hw);
	ck_assert_uint_eq(ISIM_CMDQV_PARAM_VER(param), 1);
	ck_assert_uint_eq(ISIM_CMDQV_PARAM_NUM_VINTF_LOG2(param), 4);
	ck_assert_uint_eq(ISIM_CMDQV_PARAM_NUM_VCMDQ_LOG2(param), 5);
	ck_assert_uint_eq(ISIM_CMDQV_PARAM_NUM_SID_LOG2(param), 4);
	ck_assert_uint_eq(isim_cmdqv_vintf_config_reg(v1), VMID << 1 | 1);
	ck_assert_uint_eq(ISIM_CMDQV_VINTF_STATUS_NUM_LVCMDQ(isim_cmdqv_vintf_status_reg(v1)), 2);
	ck_assert_int_eq(isim_cmdqv_vintf_configure(v1, 1, false), -EBUSY);
	ck_assert_uint_eq(step(), 0);
}
END_TEST

START_TEST(alloc_programs_base)
{
	setup_cfg(NULL);
	alloc_q(0, MEM_BASE, 8);
	ck_assert_uint_eq(isim_cmdqv_lvcmdq_base(v1, 0), 0x80000008ull);
	ck_assert(isim_cmdqv_cmdq_alloc(hw, 2) & ISIM_CMDQV_CMDQ_ALLOC_ALLOCATED);
	ck_assert(isim_cmdqv_lvcmdq_mapped(v1, 0));
	ck_assert(!isim_cmdqv_lvcmdq_mapped(v1, 1));
	ck_assert_uint_eq(reg(0, ISIM_VCMDQ_CONFIG), 0);
	ck_assert_uint_eq(reg(0, ISIM_VCMDQ_STATUS), 0);
	/* BASE field rules: ADDR is [47:5], LOG2SIZE five bits. */
	ck_assert_int_eq(isim_cmdqv_lvcmdq_set_base(v1, 1, 1ull << 48, 8), -EINVAL);
	ck_assert_int_eq(isim_cmdqv_lvcmdq_set_base(v1, 1, MEM_BASE | 0x10, 8), -EINVAL);
	ck_assert_int_eq(isim_cmdqv_lvcmdq_set_base(v1, 1, MEM_BASE, 32), -EINVAL);
	ck_assert_int_eq(isim_cmdqv_lvcmdq_set_base(v1, 2, MEM_BASE, 8), -EINVAL);
	ck_assert_int_eq(isim_cmdqv_lvcmdq_map(v1, 2), -EINVAL);
	/* Once the guest enabled it, the hardware ignores BASE writes. */
	guest_q(&gq0, 0, MEM_BASE, 8);
	ck_assert_int_eq(isim_vcmdq_guest_enable(&gq0, true), 0);
	ck_assert_int_eq(isim_cmdqv_lvcmdq_set_base(v1, 0, MEM_BASE + 0x1000, 8), -EBUSY);
	ck_assert_uint_eq(isim_cmdqv_lvcmdq_base(v1, 0), 0x80000008ull);
}
END_TEST

START_TEST(destroy_deinit)
{
	uint64_t map[2];

	setup_cfg(NULL);
	q0_enabled();
	q_enabled(&gq1, 1, MEM_BASE + 0x1000, 8);
	/* Q0 has an ATC timeout latched; Q1 is halted on an error. */
	ck_assert_int_eq(isim_cmdqv_vintf_set_sid(v1, 0, 0x10, 0x300), 0);
	ck_assert_int_eq(isim_cmdqv_atc_set_timeout(hw, 0x300, true), 0);
	{
		uint64_t dw[2];

		isim_smmu_atc_inv(dw, 0x10, 0, 0);
		push(&gq0, dw);
		isim_vcmdq_guest_publish(&gq0);
	}
	push_raw(&gq1, ISIM_SMMU_OP_CFGI_STE, 0);
	isim_vcmdq_guest_publish(&gq1);
	step();
	ck_assert(isim_cmdqv_lvcmdq_atc_timeout(v1, 0));
	ck_assert(err_active(1));
	ck_assert_uint_eq(reg(1, ISIM_VCMDQ_STATUS), 1);

	/* Destroy in descending order, as the driver must. */
	for (int l = 1; l >= 0; l--) {
		ck_assert_int_eq(isim_cmdqv_lvcmdq_deinit(v1, l), 0);
		ck_assert_int_eq(isim_cmdqv_lvcmdq_unmap(v1, l), 0);
		ck_assert_uint_eq(reg(l, ISIM_VCMDQ_CONFIG), 0);
		ck_assert_uint_eq(reg(l, ISIM_VCMDQ_STATUS), 0);
		ck_assert_uint_eq(reg(l, ISIM_VCMDQ_PROD), 0);
		ck_assert_uint_eq(reg(l, ISIM_VCMDQ_CONS), 0);
		ck_assert_uint_eq(isim_cmdqv_lvcmdq_base(v1, l), 0);
		ck_assert_uint_eq(reg(l, ISIM_VCMDQ_GERROR), reg(l, ISIM_VCMDQ_GERRORN));
		ck_assert(!isim_cmdqv_lvcmdq_mapped(v1, l));
		ck_assert(!isim_cmdqv_lvcmdq_atc_timeout(v1, l));
	}
	isim_cmdqv_vintf_lvcmdq_err_map(v1, map);
	ck_assert_uint_eq(map[0] | map[1], 0);
	ck_assert_uint_eq(isim_cmdqv_vintf_err_map(hw), 0);
	/* Stepping afterwards changes nothing. */
	step();
	ck_assert_uint_eq(reg(1, ISIM_VCMDQ_GERROR), reg(1, ISIM_VCMDQ_GERRORN));

	isim_cmdqv_vintf_deinit(v1);
	ck_assert_uint_eq(isim_cmdqv_vintf_config_reg(v1), 0);
	ck_assert_uint_eq(isim_cmdqv_vintf_status_reg(v1) & ISIM_CMDQV_VINTF_EN, 0);
	ck_assert_int_eq(isim_cmdqv_vintf_configure(v1, 7, false), 0);
}
END_TEST

/* ------------------------------------------------------------ handshake */

START_TEST(enable_handshake)
{
	setup_cfg("enable_delay=3");
	alloc_q(0, MEM_BASE, 8);
	guest_q(&gq0, 0, MEM_BASE, 8);
	reg_write(0, ISIM_VCMDQ_CONFIG, ISIM_VCMDQ_EN);
	for (int i = 0; i < 3; i++) {
		ck_assert_uint_ne(step(), 0);	/* waiting is progress */
		ck_assert_uint_eq(reg(0, ISIM_VCMDQ_STATUS), 0);
	}
	step();
	ck_assert_uint_eq(reg(0, ISIM_VCMDQ_STATUS), 1);
	/* The guest helper's poll loop gets there on its own too. */
	ck_assert_int_eq(isim_vcmdq_guest_enable(&gq0, false), 0);
	ck_assert_int_eq(isim_vcmdq_guest_enable(&gq0, true), 0);
	ck_assert(isim_vcmdq_guest_enabled(&gq0));
	/* Writes to the read-only STATUS do not stick. */
	reg_write(0, ISIM_VCMDQ_STATUS, 0);
	step();
	ck_assert_uint_eq(reg(0, ISIM_VCMDQ_STATUS), 1);
}
END_TEST

START_TEST(disable_keeps_pointers)
{
	setup_cfg(NULL);
	q0_enabled();
	push_asid(&gq0, 1);
	isim_vcmdq_guest_publish(&gq0);
	step();
	ck_assert_uint_eq(cons_rd(0), 1);
	ck_assert_int_eq(isim_vcmdq_guest_enable(&gq0, false), 0);
	ck_assert_uint_eq(reg(0, ISIM_VCMDQ_STATUS), 0);
	ck_assert_uint_eq(reg(0, ISIM_VCMDQ_PROD), 1);
	ck_assert_uint_eq(cons_rd(0), 1);
	push_asid(&gq0, 2);
	isim_vcmdq_guest_publish(&gq0);
	for (int i = 0; i < 10; i++)
		step();
	ck_assert_uint_eq(cons_rd(0), 1);
	ck_assert_uint_eq(n_execs, 1);
	/* Re-enabling resumes at CONS. */
	ck_assert_int_eq(isim_vcmdq_guest_enable(&gq0, true), 0);
	step();
	ck_assert_uint_eq(cons_rd(0), 2);
	ck_assert_uint_eq(n_execs, 2);
}
END_TEST

START_TEST(idle_reads_nothing)
{
	setup_cfg(NULL);
	q0_enabled();
	for (int i = 0; i < 100; i++)
		ck_assert_uint_eq(step(), 0);
	ck_assert_uint_eq(stats().fetches, 0);
	ck_assert_uint_eq(reg(0, ISIM_VCMDQ_CONS), 0);
	ck_assert_uint_eq(n_execs, 0);
	ck_assert_uint_eq(n_reports, 0);
}
END_TEST

/* ---------------------------------------------------------- consumption */

START_TEST(tlbi_asid_uses_vintf_vmid)
{
	setup_cfg(NULL);
	q0_enabled();
	isim_cmdqv_iotlb_insert(hw, VMID, 7, 0x1000);
	isim_cmdqv_iotlb_insert(hw, VMID, 7, 0x2000);
	isim_cmdqv_iotlb_insert(hw, VMID, 8, 0x1000);
	isim_cmdqv_iotlb_insert(hw, 0x99, 7, 0x1000);
	push_asid(&gq0, 7);	/* the guest names VMID 0x99 */
	isim_vcmdq_guest_publish(&gq0);
	ck_assert_uint_eq(step(), 1);
	ck_assert_uint_eq(reg(0, ISIM_VCMDQ_CONS), 1);
	ck_assert_uint_eq(n_execs, 1);
	ck_assert_uint_eq(execs[0].cmd.op, ISIM_SMMU_OP_TLBI_NH_ASID);
	ck_assert_uint_eq(execs[0].cmd.asid, 7);
	ck_assert_uint_eq(execs[0].cmd.vmid, VMID);
	ck_assert(!err_active(0));
	ck_assert(!isim_cmdqv_iotlb_has(hw, VMID, 7, 0x1000));
	ck_assert(!isim_cmdqv_iotlb_has(hw, VMID, 7, 0x2000));
	ck_assert(isim_cmdqv_iotlb_has(hw, VMID, 8, 0x1000));
	ck_assert(isim_cmdqv_iotlb_has(hw, 0x99, 7, 0x1000));
	ck_assert_uint_eq(isim_cmdqv_iotlb_count(hw), 2);
	ck_assert_uint_eq(stats().executed[ISIM_SMMU_OP_TLBI_NH_ASID], 1);
}
END_TEST

START_TEST(cons_moves_after_effect)
{
	uint32_t sync;
	uint64_t dw[2];

	setup_cfg(NULL);
	q0_enabled();
	for (unsigned i = 0; i < 6; i++)
		isim_cmdqv_iotlb_insert(hw, VMID, 3, 0x10000 + 0x1000 * i);
	for (unsigned i = 0; i < 5; i++) {
		ck_assert_int_eq(isim_smmu_tlbi_nh_va(dw, 0, 3, 0x10000 + 0x1000 * i, true), 0);
		push(&gq0, dw);
	}
	ck_assert_int_eq(isim_vcmdq_guest_sync(&gq0, &sync), 0);
	ck_assert_uint_eq(sync, 5);
	ck_assert(!isim_vcmdq_guest_consumed(&gq0, sync));
	ck_assert_int_eq(isim_vcmdq_guest_wait(&gq0, sync), 0);
	ck_assert_uint_eq(reg(0, ISIM_VCMDQ_CONS), 6);
	ck_assert_uint_eq(n_execs, 6);
	for (unsigned i = 0; i < 6; i++) {
		/* While a command runs, CONS still points at it. */
		ck_assert_uint_eq(execs[i].cons_seen, i);
		ck_assert_uint_eq(execs[i].cmd.op, i < 5 ? ISIM_SMMU_OP_TLBI_NH_VA :
						   ISIM_SMMU_OP_CMD_SYNC);
	}
	for (unsigned i = 0; i < 5; i++)
		ck_assert(!isim_cmdqv_iotlb_has(hw, VMID, 3, 0x10000 + 0x1000 * i));
	ck_assert(isim_cmdqv_iotlb_has(hw, VMID, 3, 0x15000));
}
END_TEST

START_TEST(tlbi_range)
{
	struct isim_smmu_cmd c = {
		.op = ISIM_SMMU_OP_TLBI_NH_VA, .asid = 1, .addr = 0x40000,
		.tg = 1, .num = 3, .scale = 1, .ttl = 3,	/* 8 x 4K pages */
	};
	uint64_t dw[2];

	setup_cfg(NULL);
	q0_enabled();
	for (unsigned i = 0; i < 10; i++)
		isim_cmdqv_iotlb_insert(hw, VMID, 1, 0x3f000 + 0x1000 * i);
	ck_assert_int_eq(isim_smmu_cmd_encode(&c, dw), 0);
	push(&gq0, dw);
	isim_vcmdq_guest_publish(&gq0);
	step();
	ck_assert(isim_cmdqv_iotlb_has(hw, VMID, 1, 0x3f000));
	for (unsigned i = 0; i < 8; i++)
		ck_assert(!isim_cmdqv_iotlb_has(hw, VMID, 1, 0x40000 + 0x1000 * i));
	ck_assert(isim_cmdqv_iotlb_has(hw, VMID, 1, 0x48000));
}
END_TEST

START_TEST(wrap)
{
	setup_cfg(NULL);
	alloc_q(0, MEM_BASE, 2);
	/* Software may set CONS and PROD while the queue is disabled. */
	reg_write(0, ISIM_VCMDQ_CONS, 3);
	reg_write(0, ISIM_VCMDQ_PROD, 3);
	guest_q(&gq0, 0, MEM_BASE, 2);
	ck_assert_uint_eq(gq0.prod, 3);
	ck_assert_int_eq(isim_vcmdq_guest_enable(&gq0, true), 0);
	push_asid(&gq0, 30);	/* slot 3 */
	push_asid(&gq0, 31);	/* slot 0, wrap set */
	ck_assert_uint_eq(gq0.prod, 0x5);
	isim_vcmdq_guest_publish(&gq0);
	step();
	ck_assert_uint_eq(reg(0, ISIM_VCMDQ_CONS), 0x5);
	ck_assert_uint_eq(n_execs, 2);
	ck_assert_uint_eq(execs[0].cmd.asid, 30);
	ck_assert_uint_eq(execs[1].cmd.asid, 31);
}
END_TEST

START_TEST(full_ring)
{
	uint64_t dw[2];

	setup_cfg(NULL);
	alloc_q(0, MEM_BASE, 2);
	guest_q(&gq0, 0, MEM_BASE, 2);
	ck_assert_int_eq(isim_vcmdq_guest_enable(&gq0, true), 0);
	for (unsigned i = 0; i < 4; i++)
		push_asid(&gq0, i);
	ck_assert_uint_eq(isim_vcmdq_guest_space(&gq0), 0);
	isim_smmu_tlbi_nh_asid(dw, 0, 9);
	ck_assert_int_eq(isim_vcmdq_guest_push(&gq0, dw), -ENOSPC);
	isim_vcmdq_guest_publish(&gq0);
	ck_assert_uint_eq(reg(0, ISIM_VCMDQ_PROD), 0x4);
	step();
	ck_assert_uint_eq(n_execs, 4);
	ck_assert_uint_eq(reg(0, ISIM_VCMDQ_CONS), 0x4);
	ck_assert_uint_eq(isim_vcmdq_guest_space(&gq0), 4);
}
END_TEST

START_TEST(bad_prod)
{
	uint64_t dw[2];

	setup_cfg(NULL);
	alloc_q(0, MEM_BASE, 2);
	guest_q(&gq0, 0, MEM_BASE, 2);
	ck_assert_int_eq(isim_vcmdq_guest_enable(&gq0, true), 0);
	isim_smmu_cmd_sync(dw, 0);
	for (unsigned i = 0; i < 4; i++)
		isim_vcmdq_guest_write_slot(&gq0, i, dw);
	reg_write(0, ISIM_VCMDQ_PROD, 0x6);	/* 6 pending in a ring of 4 */
	for (int i = 0; i < 3; i++)
		ck_assert_uint_eq(step(), 0);
	ck_assert_uint_eq(reg(0, ISIM_VCMDQ_CONS), 0);
	ck_assert_uint_eq(stats().bad_prod, 1);
	ck_assert_uint_eq(stats().fetches, 0);
	/* Bit 31 and bits above the wrap bit are not part of the pointer. */
	reg_write(0, ISIM_VCMDQ_PROD, 0x80000000u | 0xf0 | 0x2);
	step();
	ck_assert_uint_eq(reg(0, ISIM_VCMDQ_CONS), 2);
	ck_assert_uint_eq(n_execs, 2);
	ck_assert(!err_active(0));
}
END_TEST

/* --------------------------------------------------------------- errors */

START_TEST(illegal_halts_and_retries)
{
	uint64_t map[2], dw[2];
	struct isim_cmdqv_stats s;

	setup_cfg(NULL);
	q0_enabled();
	push_asid(&gq0, 1);
	isim_smmu_cfgi_ste(dw, 5, true);
	push(&gq0, dw);
	push_asid(&gq0, 2);
	isim_vcmdq_guest_publish(&gq0);
	step();
	/* #20: slot 0 ran, slot 1 halted the queue. */
	ck_assert_uint_eq(n_execs, 1);
	ck_assert_uint_eq(cons_rd(0), 1);
	ck_assert_uint_eq(cons_err(0), ISIM_SMMU_CERROR_ILL);
	ck_assert(err_active(0));
	isim_cmdqv_vintf_lvcmdq_err_map(v1, map);
	ck_assert_uint_eq(map[0], 1);
	ck_assert_uint_eq(map[1], 0);
	ck_assert_uint_eq(isim_cmdqv_vintf_err_map(hw), 1u << 1);
	isim_cmdqv_cmdq_err_map(hw, map);
	ck_assert_uint_eq(map[0], 1u << isim_cmdqv_vcmdq_index(v1, 0));
	ck_assert(isim_cmdqv_vintf_status_reg(v1) & ISIM_CMDQV_VINTF_STATUS_ERR);
	ck_assert_uint_eq(n_reports, 1);
	ck_assert_uint_eq(reports[0].vintf, 1);
	ck_assert_uint_eq(reports[0].map[0], 1);
	ck_assert_uint_eq(reports[0].map[1], 0);

	/* #23: the producer keeps going, nothing is consumed. */
	for (unsigned i = 0; i < 10; i++)
		push_asid(&gq0, 100 + i);
	isim_vcmdq_guest_publish(&gq0);
	for (int i = 0; i < 5; i++)
		ck_assert_uint_eq(step(), 0);
	ck_assert_uint_eq(cons_rd(0), 1);
	ck_assert_uint_eq(n_execs, 1);
	ck_assert_uint_eq(n_reports, 1);

	/* #21: acknowledging without a fix raises the same error afresh. */
	{
		uint32_t before = reg(0, ISIM_VCMDQ_GERROR);

		isim_vcmdq_guest_ack(&gq0);
		step();
		ck_assert(err_active(0));
		ck_assert_uint_ne(reg(0, ISIM_VCMDQ_GERROR), before);
		ck_assert_uint_eq(cons_rd(0), 1);
		ck_assert_uint_eq(n_reports, 2);
	}

	/* #22: replace the entry with a CMD_SYNC, then acknowledge. */
	fix_and_ack(&gq0);
	step();
	ck_assert(!err_active(0));
	ck_assert_uint_eq(cons_rd(0), 13);
	ck_assert_uint_eq(n_execs, 13);
	ck_assert_uint_eq(execs[1].cmd.op, ISIM_SMMU_OP_CMD_SYNC);
	ck_assert_uint_eq(execs[2].cmd.asid, 2);
	/* ERR keeps the last code; it means nothing once acknowledged. */
	ck_assert_uint_eq(cons_err(0), ISIM_SMMU_CERROR_ILL);
	isim_cmdqv_vintf_lvcmdq_err_map(v1, map);
	ck_assert_uint_eq(map[0], 0);
	ck_assert_uint_eq(isim_cmdqv_vintf_err_map(hw), 0);
	ck_assert_uint_eq(isim_cmdqv_vintf_status_reg(v1) & ISIM_CMDQV_VINTF_STATUS_ERR, 0);
	ck_assert_uint_eq(n_reports, 2);
	s = stats();
	ck_assert_uint_eq(s.cerror[ISIM_SMMU_CERROR_ILL], 2);
	ck_assert_uint_eq(s.executed[ISIM_SMMU_OP_CFGI_STE], 0);
}
END_TEST

START_TEST(unknown_opcode)
{
	setup_cfg("privileged_cerror=4");
	q0_enabled();
	push_raw(&gq0, 0xff, 0);
	isim_vcmdq_guest_publish(&gq0);
	step();
	/* Unknown opcodes are ILL whatever the privileged-opcode code is. */
	ck_assert_uint_eq(cons_err(0), ISIM_SMMU_CERROR_ILL);
	ck_assert_uint_eq(cons_rd(0), 0);
	ck_assert(err_active(0));
	ck_assert_uint_eq(n_reports, 1);
}
END_TEST

START_TEST(fetch_abort)
{
	setup_cfg(NULL);
	q0_enabled();
	for (unsigned i = 0; i < 6; i++)
		push_asid(&gq0, i);
	set_hole(MEM_BASE + 4 * 16, MEM_BASE + 5 * 16);
	isim_vcmdq_guest_publish(&gq0);
	step();
	ck_assert_uint_eq(n_execs, 4);
	ck_assert_uint_eq(cons_rd(0), 4);
	ck_assert_uint_eq(cons_err(0), ISIM_SMMU_CERROR_ABT);
	ck_assert(err_active(0));
	ck_assert_uint_eq(n_reports, 1);
	/* The guest's handler leaves ABT entries alone: the fetch is retried. */
	set_hole(0, 0);
	ck_assert_uint_eq(isim_vcmdq_guest_skip_error(&gq0), ISIM_SMMU_CERROR_ABT);
	step();
	ck_assert_uint_eq(reg(0, ISIM_VCMDQ_CONS), (2u << 24) | 6);
	ck_assert_uint_eq(n_execs, 6);
	ck_assert_uint_eq(execs[4].cmd.asid, 4);
}
END_TEST

START_TEST(atc_inv_sid_and_timeout)
{
	uint64_t dw[2];

	setup_cfg(NULL);
	q0_enabled();
	ck_assert_int_eq(isim_cmdqv_vintf_set_sid(v1, 3, 0x10, 0x300), 0);
	isim_cmdqv_atc_insert(hw, 0x300, 0, 0x5000);
	isim_cmdqv_atc_insert(hw, 0x300, 0, 0x9000);
	ck_assert_int_eq(isim_cmdqv_atc_set_timeout(hw, 0x300, true), 0);
	isim_smmu_atc_inv(dw, 0x10, 0x5000, 0);
	push(&gq0, dw);
	push_sync(&gq0, 0);
	isim_vcmdq_guest_publish(&gq0);
	step();
	ck_assert_uint_eq(n_execs, 1);
	ck_assert_uint_eq(execs[0].cmd.op, ISIM_SMMU_OP_ATC_INV);
	ck_assert_uint_eq(execs[0].cmd.sid, 0x300);
	/* The ATC_INV was consumed; the CMD_SYNC carries the error. */
	ck_assert_uint_eq(cons_rd(0), 1);
	ck_assert_uint_eq(cons_err(0), ISIM_SMMU_CERROR_ATC_INV_SYNC);
	ck_assert(err_active(0));
	ck_assert(isim_cmdqv_atc_has(hw, 0x300, 0, 0x5000));
	ck_assert_uint_eq(stats().atc_timeouts, 1);
	/* Linux retries the CMD_SYNC as it is. */
	ck_assert_int_eq(isim_cmdqv_atc_set_timeout(hw, 0x300, false), 0);
	ck_assert_uint_eq(isim_vcmdq_guest_skip_error(&gq0),
			  ISIM_SMMU_CERROR_ATC_INV_SYNC);
	step();
	ck_assert(!err_active(0));
	ck_assert_uint_eq(cons_rd(0), 2);
	/* A device that answers loses the translation; SIZE spans 2^n pages. */
	isim_smmu_atc_inv(dw, 0x10, 0x4000, 1);
	push(&gq0, dw);
	push_sync(&gq0, 0);
	isim_vcmdq_guest_publish(&gq0);
	step();
	ck_assert_uint_eq(cons_rd(0), 4);
	ck_assert(!isim_cmdqv_atc_has(hw, 0x300, 0, 0x5000));
	ck_assert(isim_cmdqv_atc_has(hw, 0x300, 0, 0x9000));
	isim_smmu_atc_inv(dw, 0x10, 0, ISIM_SMMU_ATC_SIZE_ALL);
	push(&gq0, dw);
	isim_vcmdq_guest_publish(&gq0);
	step();
	ck_assert_uint_eq(isim_cmdqv_atc_count(hw), 0);
}
END_TEST

START_TEST(atc_timeout_flushed_by_disable)
{
	uint64_t dw[2];

	setup_cfg(NULL);
	q0_enabled();
	ck_assert_int_eq(isim_cmdqv_vintf_set_sid(v1, 0, 0x10, 0x300), 0);
	ck_assert_int_eq(isim_cmdqv_atc_set_timeout(hw, 0x300, true), 0);
	isim_smmu_atc_inv(dw, 0x10, 0, 0);
	push(&gq0, dw);
	isim_vcmdq_guest_publish(&gq0);
	step();
	ck_assert(isim_cmdqv_lvcmdq_atc_timeout(v1, 0));
	ck_assert_int_eq(isim_vcmdq_guest_enable(&gq0, false), 0);
	ck_assert_int_eq(isim_vcmdq_guest_enable(&gq0, true), 0);
	ck_assert(!isim_cmdqv_lvcmdq_atc_timeout(v1, 0));
	push_sync(&gq0, 0);
	isim_vcmdq_guest_publish(&gq0);
	step();
	ck_assert_uint_eq(cons_rd(0), 2);
	ck_assert(!err_active(0));
	ck_assert_uint_eq(cons_err(0), 0);
}
END_TEST

START_TEST(sync_cs)
{
	/* Default: a signalling CMD_SYNC completes without signalling. */
	setup_cfg(NULL);
	q0_enabled();
	push_sync(&gq0, ISIM_SMMU_SYNC_CS_IRQ);
	isim_vcmdq_guest_publish(&gq0);
	step();
	ck_assert_uint_eq(cons_rd(0), 1);
	ck_assert(!err_active(0));
	teardown();

	setup_cfg("strict_cs=true");
	q0_enabled();
	push_sync(&gq0, ISIM_SMMU_SYNC_CS_NONE);
	push_sync(&gq0, ISIM_SMMU_SYNC_CS_IRQ);
	isim_vcmdq_guest_publish(&gq0);
	step();
	ck_assert_uint_eq(cons_rd(0), 1);
	ck_assert_uint_eq(cons_err(0), ISIM_SMMU_CERROR_ILL);
	ck_assert(err_active(0));
}
END_TEST

START_TEST(privileged_opcodes)
{
	static const uint8_t ops[] = {
		ISIM_SMMU_OP_TLBI_EL2_ALL, ISIM_SMMU_OP_TLBI_S2_IPA,
		ISIM_SMMU_OP_TLBI_NSNH_ALL, ISIM_SMMU_OP_CFGI_CD,
		ISIM_SMMU_OP_CFGI_STE, ISIM_SMMU_OP_CFGI_CD_ALL,
		ISIM_SMMU_OP_PREFETCH_CFG, ISIM_SMMU_OP_TLBI_S12_VMALL,
		ISIM_SMMU_OP_TLBI_EL2_ASID, ISIM_SMMU_OP_PRI_RESP,
		ISIM_SMMU_OP_RESUME, ISIM_SMMU_OP_STALL_TERM,
	};
	static const char *const opts[] = { NULL, "privileged_cerror=4" };
	static const unsigned codes[] = { 1, 4 };

	for (unsigned k = 0; k < 2; k++) {
		setup_cfg(opts[k]);
		q0_enabled();
		isim_cmdqv_iotlb_insert(hw, VMID, 1, 0x1000);
		for (unsigned i = 0; i < sizeof(ops); i++) {
			push_raw(&gq0, ops[i], 0);
			isim_vcmdq_guest_publish(&gq0);
			step();
			ck_assert_msg(cons_err(0) == codes[k] && err_active(0),
				      "%s", isim_smmu_op_name(ops[i]));
			ck_assert_uint_eq(cons_rd(0), i);
			fix_and_ack(&gq0);
			step();
			ck_assert_uint_eq(cons_rd(0), i + 1);
		}
		/* None of them touched the IOTLB. */
		ck_assert(isim_cmdqv_iotlb_has(hw, VMID, 1, 0x1000));
		ck_assert_uint_eq(stats().cerror[codes[k]], sizeof(ops));
		teardown();
	}
	setup_cfg(NULL);	/* for the fixture's teardown */
}
END_TEST

START_TEST(nh_all_and_vaa)
{
	uint64_t dw[2];

	setup_cfg(NULL);
	q0_enabled();
	isim_cmdqv_iotlb_insert(hw, VMID, 1, 0x3000);
	isim_cmdqv_iotlb_insert(hw, VMID, 2, 0x3000);
	isim_cmdqv_iotlb_insert(hw, VMID, 2, 0x4000);
	isim_cmdqv_iotlb_insert(hw, 0x99, 1, 0x3000);
	isim_smmu_tlbi_nh_vaa(dw, 0x99, 0x3000, true);
	push(&gq0, dw);
	isim_vcmdq_guest_publish(&gq0);
	step();
	ck_assert_uint_eq(execs[0].cmd.vmid, VMID);
	ck_assert(!isim_cmdqv_iotlb_has(hw, VMID, 1, 0x3000));
	ck_assert(!isim_cmdqv_iotlb_has(hw, VMID, 2, 0x3000));
	ck_assert(isim_cmdqv_iotlb_has(hw, VMID, 2, 0x4000));
	ck_assert(isim_cmdqv_iotlb_has(hw, 0x99, 1, 0x3000));
	isim_smmu_tlbi_nh_all(dw, 0x99);
	push(&gq0, dw);
	isim_vcmdq_guest_publish(&gq0);
	step();
	ck_assert_uint_eq(execs[1].cmd.vmid, VMID);
	ck_assert_uint_eq(isim_cmdqv_iotlb_count(hw), 1);
	ck_assert(isim_cmdqv_iotlb_has(hw, 0x99, 1, 0x3000));
	teardown();

	setup_cfg("guest_allow_nh_all_vaa=false,privileged_cerror=4");
	q0_enabled();
	isim_smmu_tlbi_nh_all(dw, 0);
	push(&gq0, dw);
	isim_vcmdq_guest_publish(&gq0);
	step();
	ck_assert_uint_eq(cons_err(0), ISIM_SMMU_CERROR_ILL_ACCESS);
	ck_assert_uint_eq(cons_rd(0), 0);
	isim_smmu_tlbi_nh_vaa(dw, 0, 0x1000, false);
	isim_vcmdq_guest_write_slot(&gq0, 0, dw);
	isim_vcmdq_guest_ack(&gq0);
	step();
	ck_assert_uint_eq(cons_err(0), ISIM_SMMU_CERROR_ILL_ACCESS);
	ck_assert(err_active(0));
	ck_assert_uint_eq(n_execs, 0);
}
END_TEST

START_TEST(disable_mid_stream)
{
	setup_cfg(NULL);
	q0_enabled();
	for (unsigned i = 0; i < 10; i++)
		push_asid(&gq0, i);
	isim_vcmdq_guest_publish(&gq0);
	disable_after = 3;	/* the guest clears EN during the 3rd command */
	step();
	ck_assert_uint_eq(n_execs, 3);
	ck_assert_uint_eq(cons_rd(0), 3);
	ck_assert_uint_eq(reg(0, ISIM_VCMDQ_STATUS), 0);
	step();
	ck_assert_uint_eq(n_execs, 3);
	disable_after = 0;
	ck_assert_int_eq(isim_vcmdq_guest_enable(&gq0, true), 0);
	step();
	ck_assert_uint_eq(n_execs, 10);
	ck_assert_uint_eq(cons_rd(0), 10);
	for (unsigned i = 0; i < 10; i++)
		ck_assert_uint_eq(execs[i].cmd.asid, i);
}
END_TEST

START_TEST(queues_independent)
{
	uint64_t map[2];

	setup_cfg(NULL);
	q0_enabled();
	q_enabled(&gq1, 1, MEM_BASE + 0x1000, 8);
	push_raw(&gq1, ISIM_SMMU_OP_CFGI_STE, 0);
	isim_vcmdq_guest_publish(&gq1);
	for (unsigned i = 0; i < 3; i++)
		push_asid(&gq0, i);
	isim_vcmdq_guest_publish(&gq0);
	step();
	ck_assert_uint_eq(cons_rd(0), 3);
	ck_assert(!err_active(0));
	ck_assert(err_active(1));
	ck_assert_uint_eq(cons_rd(1), 0);
	isim_cmdqv_vintf_lvcmdq_err_map(v1, map);
	ck_assert_uint_eq(map[0], 0x2);
	ck_assert_uint_eq(n_reports, 1);
	ck_assert_uint_eq(reports[0].map[0], 0x2);
	isim_cmdqv_cmdq_err_map(hw, map);
	ck_assert_uint_eq(map[0], 1u << 3);
	/* Q0 keeps consuming while Q1 stays halted. */
	push_asid(&gq0, 9);
	isim_vcmdq_guest_publish(&gq0);
	step();
	ck_assert_uint_eq(cons_rd(0), 4);
}
END_TEST

START_TEST(parent_disabled)
{
	setup_cfg(NULL);
	isim_cmdqv_vintf_enable(v1, false);
	alloc_q(0, MEM_BASE, 8);
	guest_q(&gq0, 0, MEM_BASE, 8);
	reg_write(0, ISIM_VCMDQ_CONFIG, ISIM_VCMDQ_EN);
	push_asid(&gq0, 1);
	isim_vcmdq_guest_publish(&gq0);
	for (int i = 0; i < 5; i++)
		step();
	ck_assert_uint_eq(reg(0, ISIM_VCMDQ_STATUS), 0);
	ck_assert_uint_eq(cons_rd(0), 0);
	ck_assert(!(reg(0, ISIM_VCMDQ_GERROR) ^ reg(0, ISIM_VCMDQ_GERRORN)));
	isim_cmdqv_vintf_enable(v1, true);
	step();
	ck_assert_uint_eq(reg(0, ISIM_VCMDQ_STATUS), 1);
	ck_assert_uint_eq(cons_rd(0), 1);
	/* Turning the whole CMDQV off drops STATUS at once. */
	isim_cmdqv_enable(hw, false);
	ck_assert_uint_eq(reg(0, ISIM_VCMDQ_STATUS), 0);
	push_asid(&gq0, 2);
	isim_vcmdq_guest_publish(&gq0);
	step();
	ck_assert_uint_eq(cons_rd(0), 1);
	isim_cmdqv_enable(hw, true);
	step();
	ck_assert_uint_eq(cons_rd(0), 2);
}
END_TEST

START_TEST(init_err)
{
	uint64_t map[2];

	setup_cfg(NULL);
	/* BASE programmed, but CMDQ_ALLOC.ALLOCATED clear. */
	ck_assert_int_eq(isim_cmdqv_lvcmdq_set_base(v1, 0, MEM_BASE, 8), 0);
	guest_q(&gq0, 0, MEM_BASE, 8);
	gq0.max_polls = 10;
	ck_assert_int_eq(isim_vcmdq_guest_enable(&gq0, true), -ETIMEDOUT);
	ck_assert_uint_eq(reg(0, ISIM_VCMDQ_STATUS), 0);
	ck_assert_uint_eq(isim_vcmdq_guest_gerror_active(&gq0),
			  ISIM_VCMDQ_GERROR_INIT_ERR);
	ck_assert_uint_eq(stats().init_err, 1);	/* not re-raised while active */
	ck_assert_uint_eq(n_reports, 1);
	isim_cmdqv_vintf_lvcmdq_err_map(v1, map);
	ck_assert_uint_eq(map[0], 1);
	/* Acknowledged but not fixed: the enable fails afresh. */
	isim_vcmdq_guest_ack(&gq0);
	step();
	ck_assert_uint_eq(isim_vcmdq_guest_gerror_active(&gq0),
			  ISIM_VCMDQ_GERROR_INIT_ERR);
	ck_assert_uint_eq(stats().init_err, 2);
	/* Fixed, then acknowledged: the pending enable goes through. */
	ck_assert_int_eq(isim_cmdqv_lvcmdq_map(v1, 0), 0);
	isim_vcmdq_guest_ack(&gq0);
	ck_assert_int_eq(isim_vcmdq_guest_enable(&gq0, true), 0);
	ck_assert_uint_eq(isim_vcmdq_guest_gerror_active(&gq0), 0);
	teardown();

	/* LOG2SIZE above IDR1.CMDQS, and a zero BASE, are refused too. */
	setup_cfg("cmdqs=7");
	alloc_q(0, MEM_BASE, 8);
	alloc_q(1, 0, 4);
	reg_write(0, ISIM_VCMDQ_CONFIG, ISIM_VCMDQ_EN);
	reg_write(1, ISIM_VCMDQ_CONFIG, ISIM_VCMDQ_EN);
	step();
	ck_assert_uint_eq(reg(0, ISIM_VCMDQ_STATUS), 0);
	ck_assert_uint_eq(reg(1, ISIM_VCMDQ_STATUS), 0);
	ck_assert_uint_eq(stats().init_err, 2);
	teardown();

	setup_cfg("init_err=false");
	ck_assert_int_eq(isim_cmdqv_lvcmdq_set_base(v1, 0, MEM_BASE, 8), 0);
	reg_write(0, ISIM_VCMDQ_CONFIG, ISIM_VCMDQ_EN);
	step();
	ck_assert_uint_eq(reg(0, ISIM_VCMDQ_STATUS), 0);
	ck_assert_uint_eq(reg(0, ISIM_VCMDQ_GERROR), 0);
	ck_assert_uint_eq(n_reports, 0);
}
END_TEST

START_TEST(writes_while_enabled)
{
	uint64_t *base;

	setup_cfg(NULL);
	q0_enabled();
	base = isim_vcmdq_reg64(isim_cmdqv_lvcmdq_page1(v1, 0), ISIM_VCMDQ_BASE);
	for (unsigned i = 0; i < 5; i++)
		push_asid(&gq0, i);
	isim_vcmdq_guest_publish(&gq0);
	step();
	ck_assert_uint_eq(reg(0, ISIM_VCMDQ_CONS), 5);
	reg_write(0, ISIM_VCMDQ_CONS, 0);
	__atomic_store_n(base, MEM_BASE + 0x10000 + 8, __ATOMIC_RELEASE);
	step();
	ck_assert_uint_eq(reg(0, ISIM_VCMDQ_CONS), 5);
	ck_assert_uint_eq(isim_cmdqv_lvcmdq_base(v1, 0), MEM_BASE + 8);
	ck_assert_uint_eq(stats().ignored_cons_writes, 1);
	ck_assert_uint_eq(stats().ignored_base_writes, 1);
	ck_assert_uint_eq(n_execs, 5);
	/* While disabled the same write takes effect. */
	ck_assert_int_eq(isim_vcmdq_guest_enable(&gq0, false), 0);
	reg_write(0, ISIM_VCMDQ_CONS, 0);
	step();
	ck_assert_uint_eq(reg(0, ISIM_VCMDQ_CONS), 0);
	ck_assert_uint_eq(stats().ignored_cons_writes, 1);
	teardown();

	setup_cfg("honour_enabled_writes=true");
	q0_enabled();
	for (unsigned i = 0; i < 5; i++)
		push_asid(&gq0, i);
	isim_vcmdq_guest_publish(&gq0);
	step();
	reg_write(0, ISIM_VCMDQ_CONS, 3);
	step();
	/* CONS went back to 3, so slots 3 and 4 run a second time. */
	ck_assert_uint_eq(reg(0, ISIM_VCMDQ_CONS), 5);
	ck_assert_uint_eq(n_execs, 7);
	ck_assert_uint_eq(execs[5].cmd.asid, 3);
}
END_TEST

START_TEST(gerrorn_inactive_toggle_ignored)
{
	setup_cfg(NULL);
	q0_enabled();
	reg_write(0, ISIM_VCMDQ_GERRORN, ISIM_VCMDQ_GERROR_CMDQ_ERR);
	push_asid(&gq0, 1);
	isim_vcmdq_guest_publish(&gq0);
	step();
	ck_assert_uint_eq(reg(0, ISIM_VCMDQ_GERRORN), 0);
	ck_assert_uint_eq(stats().ignored_gerrorn_toggles, 1);
	ck_assert_uint_eq(cons_rd(0), 1);
	ck_assert_uint_eq(n_reports, 0);
	/* Writes to the read-only GERROR do not stick either. */
	reg_write(0, ISIM_VCMDQ_GERROR, ISIM_VCMDQ_GERROR_ALL);
	step();
	ck_assert_uint_eq(reg(0, ISIM_VCMDQ_GERROR), 0);
}
END_TEST

START_TEST(report_suppressed)
{
	struct isim_cmdqv_stats s;

	setup_cfg(NULL);
	q0_enabled();
	isim_cmdqv_vintf_mask_irq(v1, true);
	push_raw(&gq0, ISIM_SMMU_OP_CFGI_STE, 0);
	isim_vcmdq_guest_publish(&gq0);
	step();
	ck_assert(err_active(0));
	ck_assert_uint_eq(n_reports, 0);
	ck_assert_uint_eq(isim_cmdqv_vintf_err_map(hw), 1u << 1);
	/* No vEVENTQ: the registers still show the error to the guest. */
	isim_cmdqv_vintf_mask_irq(v1, false);
	isim_cmdqv_set_report(hw, NULL, NULL);
	isim_vcmdq_guest_ack(&gq0);
	step();
	ck_assert(err_active(0));
	ck_assert_uint_eq(n_reports, 0);
	s = stats();
	ck_assert_uint_eq(s.reports_suppressed, 2);
	ck_assert_uint_eq(s.reports, 0);
}
END_TEST

START_TEST(sid_miss)
{
	static const char *const opts[] = {
		NULL, "sid_miss_cerror=4", "sid_miss_cerror=0", "sid_replace=false",
	};
	uint64_t dw[2];

	for (unsigned k = 0; k < 4; k++) {
		setup_cfg(opts[k]);
		q0_enabled();
		isim_cmdqv_atc_insert(hw, 0x77, 0, 0);
		isim_smmu_atc_inv(dw, 0x77, 0, 0);
		push(&gq0, dw);
		isim_vcmdq_guest_publish(&gq0);
		step();
		switch (k) {
		case 0:
		case 1:
			ck_assert(err_active(0));
			ck_assert_uint_eq(cons_err(0), k ? 4 : 1);
			ck_assert_uint_eq(cons_rd(0), 0);
			break;
		case 2:
			ck_assert(!err_active(0));
			ck_assert_uint_eq(cons_rd(0), 1);
			ck_assert_uint_eq(n_execs, 0);
			ck_assert_uint_eq(stats().sid_misses, 1);
			ck_assert(isim_cmdqv_atc_has(hw, 0x77, 0, 0));
			break;
		case 3:
			ck_assert_uint_eq(cons_rd(0), 1);
			ck_assert_uint_eq(execs[0].cmd.sid, 0x77);
			ck_assert(!isim_cmdqv_atc_has(hw, 0x77, 0, 0));
			break;
		}
		teardown();
	}
	setup_cfg(NULL);
}
END_TEST

START_TEST(strict_fields)
{
	uint64_t dw[2];
	struct isim_smmu_cmd c = {
		.op = ISIM_SMMU_OP_TLBI_NH_VA, .num = 1, .addr = 0x1000,
	};

	for (unsigned k = 0; k < 2; k++) {
		setup_cfg(k ? "strict_fields=true" : NULL);
		q0_enabled();
		isim_smmu_tlbi_nh_asid(dw, 0, 1);
		dw[0] |= 1ull << 8;	/* RES0 */
		push(&gq0, dw);
		isim_vcmdq_guest_publish(&gq0);
		step();
		ck_assert_uint_eq(err_active(0), k);
		if (k) {
			ck_assert_uint_eq(cons_err(0), ISIM_SMMU_CERROR_ILL);
			fix_and_ack(&gq0);
		}
		/* A range field without TG. */
		ck_assert_int_eq(isim_smmu_cmd_encode(&c, dw), 0);
		push(&gq0, dw);
		isim_vcmdq_guest_publish(&gq0);
		step();
		ck_assert_uint_eq(err_active(0), k);
		ck_assert_uint_eq(cons_rd(0), k ? 1 : 2);
		teardown();
	}
	setup_cfg(NULL);
}
END_TEST

START_TEST(cons_dram_mirror)
{
	const uint64_t mirror = MEM_BASE + 0x20000;
	uint32_t val;

	setup_cfg("cons_dram=true");
	alloc_q(0, MEM_BASE, 8);
	__atomic_store_n(isim_vcmdq_reg64(isim_cmdqv_lvcmdq_page1(v1, 0),
					  ISIM_VCMDQ_CONS_INDX_BASE),
			 mirror, __ATOMIC_RELEASE);
	guest_q(&gq0, 0, MEM_BASE, 8);
	ck_assert_int_eq(isim_vcmdq_guest_enable(&gq0, true), 0);
	push_asid(&gq0, 1);
	push_asid(&gq0, 2);
	isim_vcmdq_guest_publish(&gq0);
	step();
	memcpy(&val, mem_at(mirror), sizeof(val));
	ck_assert_uint_eq(le32toh(val), 2);
	/* A failed mirror write flags CONS_DRAM_WR_ABT_ERR; the queue goes on. */
	set_hole(mirror, mirror + 4);
	push_asid(&gq0, 3);
	push_asid(&gq0, 4);
	isim_vcmdq_guest_publish(&gq0);
	step();
	ck_assert_uint_eq(cons_rd(0), 4);
	ck_assert_uint_eq(isim_vcmdq_guest_gerror_active(&gq0),
			  ISIM_VCMDQ_GERROR_CONS_DRAM_ABT);
	ck_assert_uint_eq(stats().cons_dram_abt, 1);
	ck_assert_uint_eq(n_reports, 1);
}
END_TEST

START_TEST(host_owned_vintf)
{
	struct isim_cmdqv_vintf *v0;
	struct isim_vcmdq_guest g;
	uint64_t dw[2];

	setup_cfg(NULL);
	v0 = isim_cmdqv_vintf(hw, 0);
	ck_assert_int_eq(isim_cmdqv_vintf_configure(v0, 0, true), 0);
	isim_cmdqv_vintf_enable(v0, true);
	ck_assert_int_eq(isim_cmdqv_lvcmdq_map(v0, 0), 0);
	ck_assert_int_eq(isim_cmdqv_lvcmdq_set_base(v0, 0, MEM_BASE, 4), 0);
	isim_vcmdq_guest_init(&g, isim_cmdqv_vintf_page0(v0), 0, mem_at(MEM_BASE), 4);
	g.kick = kick_step;
	g.kick_arg = v0;
	g.max_polls = 100;
	ck_assert_int_eq(isim_vcmdq_guest_enable(&g, true), 0);
	isim_cmdqv_iotlb_insert(hw, 0x99, 1, 0);
	isim_cmdqv_iotlb_insert(hw, 0x98, 1, 0);
	isim_cmdqv_iotlb_insert(hw, 0x97, 1, 0);
	isim_smmu_cfgi_ste(dw, 3, true);
	ck_assert_int_eq(isim_vcmdq_guest_push(&g, dw), 0);
	isim_smmu_tlbi_nh_asid(dw, 0x99, 1);
	ck_assert_int_eq(isim_vcmdq_guest_push(&g, dw), 0);
	isim_smmu_atc_inv(dw, 0x300, 0, 0);
	ck_assert_int_eq(isim_vcmdq_guest_push(&g, dw), 0);
	dw[0] = ISIM_SMMU_OP_TLBI_S12_VMALL | (uint64_t)0x98 << 32;
	dw[1] = 0;
	ck_assert_int_eq(isim_vcmdq_guest_push(&g, dw), 0);
	isim_vcmdq_guest_publish(&g);
	isim_cmdqv_vintf_step(v0, 100);
	ck_assert_uint_eq(isim_vcmdq_guest_cons(&g), 4);
	ck_assert_uint_eq(n_execs, 4);
	ck_assert_uint_eq(execs[1].cmd.vmid, 0x99);	/* not replaced */
	ck_assert_uint_eq(execs[2].cmd.sid, 0x300);	/* no SID table */
	ck_assert_uint_eq(isim_cmdqv_iotlb_count(hw), 1);
	ck_assert(isim_cmdqv_iotlb_has(hw, 0x97, 1, 0));
	push_raw(&g, ISIM_SMMU_OP_TLBI_NSNH_ALL, 0);
	isim_vcmdq_guest_publish(&g);
	isim_cmdqv_vintf_step(v0, 100);
	ck_assert_uint_eq(isim_cmdqv_iotlb_count(hw), 0);
	/* Even the host may not send Secure-only commands on a VCMDQ. */
	push_raw(&g, ISIM_SMMU_OP_TLBI_EL3_ALL, 0);
	isim_vcmdq_guest_publish(&g);
	isim_cmdqv_vintf_step(v0, 100);
	ck_assert_uint_eq(isim_vcmdq_guest_cons(&g),
			  (ISIM_SMMU_CERROR_ILL << ISIM_VCMDQ_CONS_ERR_SHIFT) | 5);
	ck_assert_uint_eq(isim_vcmdq_guest_skip_error(&g), ISIM_SMMU_CERROR_ILL);
	isim_cmdqv_vintf_step(v0, 100);
	ck_assert_uint_eq(isim_vcmdq_guest_cons(&g) & ISIM_VCMDQ_PTR_MASK, 6);
	/* VINTF0's errors are reported like any other; the host acks them. */
	ck_assert_uint_eq(n_reports, 1);
	ck_assert_uint_eq(reports[0].vintf, 0);
}
END_TEST

START_TEST(err_map_latched)
{
	uint64_t map[2];

	setup_cfg("err_map_latched=true");
	q0_enabled();
	push_raw(&gq0, ISIM_SMMU_OP_CFGI_STE, 0);
	isim_vcmdq_guest_publish(&gq0);
	step();
	fix_and_ack(&gq0);
	step();
	ck_assert(!err_active(0));
	isim_cmdqv_vintf_lvcmdq_err_map(v1, map);
	ck_assert_uint_eq(map[0], 1);
	ck_assert_int_eq(isim_cmdqv_lvcmdq_deinit(v1, 0), 0);
	isim_cmdqv_vintf_lvcmdq_err_map(v1, map);
	ck_assert_uint_eq(map[0], 0);
}
END_TEST

/* One VINTF with 128 queues: the error maps' upper words are used. */
START_TEST(wide_error_map)
{
	struct isim_cmdqv_vintf *v0;
	struct isim_vcmdq_guest g;
	uint64_t map[2];

	setup_cfg("num_vintfs=1,lvcmdqs_per_vintf=128");
	ck_assert_ptr_null(isim_cmdqv_vintf(hw, 1));
	v0 = isim_cmdqv_vintf(hw, 0);
	ck_assert_int_eq(isim_cmdqv_vintf_configure(v0, VMID, false), 0);
	isim_cmdqv_vintf_enable(v0, true);
	ck_assert_int_eq(isim_cmdqv_lvcmdq_map(v0, 100), 0);
	ck_assert_int_eq(isim_cmdqv_lvcmdq_set_base(v0, 100, MEM_BASE, 4), 0);
	isim_vcmdq_guest_init(&g, isim_cmdqv_vintf_page0(v0), 100,
			      mem_at(MEM_BASE), 4);
	g.kick = kick_step;
	g.kick_arg = v0;
	g.max_polls = 10;
	ck_assert_int_eq(isim_vcmdq_guest_enable(&g, true), 0);
	push_raw(&g, ISIM_SMMU_OP_CFGI_STE, 0);
	isim_vcmdq_guest_publish(&g);
	isim_cmdqv_vintf_step(v0, 10);
	isim_cmdqv_vintf_lvcmdq_err_map(v0, map);
	ck_assert_uint_eq(map[0], 0);
	ck_assert_uint_eq(map[1], 1ull << 36);
	isim_cmdqv_cmdq_err_map(hw, map);
	ck_assert_uint_eq(map[1], 1ull << 36);
	ck_assert_uint_eq(isim_cmdqv_vintf_err_map(hw), 1);
	ck_assert_uint_eq(n_reports, 1);
	ck_assert_uint_eq(reports[0].map[1], 1ull << 36);
}
END_TEST

/* ---------------------------------------------------------------- config */

START_TEST(config_knobs)
{
	struct isim_hw_mem mem = { .read = tmem_read, .write = tmem_write, .ctx = &tmem };
	struct isim_cmdqv_config cfg;
	struct isim_cmdqv *h;
	uint32_t param;

	isim_cmdqv_config_default(&cfg);
	ck_assert_uint_eq(cfg.lvcmdqs_per_vintf, 2);
	ck_assert_uint_eq(cfg.cmdqs, 19);
	ck_assert(cfg.guest_allow_nh_all_vaa);
	ck_assert_uint_eq(cfg.privileged_cerror, 1);
	ck_assert(!cfg.strict_cs);
	ck_assert_uint_eq(cfg.sid_miss_cerror, 1);
	ck_assert(!cfg.cons_dram);
	ck_assert(!cfg.honour_enabled_writes);
	ck_assert(!cfg.strict_fields);
	ck_assert(cfg.use_vintf_vmid && cfg.sid_replace && cfg.init_err);
	ck_assert(!cfg.err_map_latched);
	ck_assert_uint_eq(cfg.enable_delay, 0);
	ck_assert_int_eq(isim_cmdqv_config_validate(&cfg), 0);

	ck_assert_int_eq(isim_cmdqv_config_parse(&cfg,
		"num_vintfs=4,lvcmdqs_per_vintf=8,sids_per_vintf=8,strict_cs=yes,"
		"privileged_cerror=4,cmdqs=0x11,use_vintf_vmid=0"), 0);
	ck_assert_uint_eq(cfg.num_vintfs, 4);
	ck_assert_uint_eq(cfg.lvcmdqs_per_vintf, 8);
	ck_assert(cfg.strict_cs);
	ck_assert_uint_eq(cfg.privileged_cerror, 4);
	ck_assert_uint_eq(cfg.cmdqs, 17);
	ck_assert(!cfg.use_vintf_vmid);
	ck_assert_int_eq(isim_cmdqv_new(&cfg, &mem, &h), 0);
	param = isim_cmdqv_param(h);
	ck_assert_uint_eq(ISIM_CMDQV_PARAM_NUM_VINTF_LOG2(param), 2);
	ck_assert_uint_eq(ISIM_CMDQV_PARAM_NUM_VCMDQ_LOG2(param), 5);
	ck_assert_uint_eq(ISIM_CMDQV_PARAM_NUM_SID_LOG2(param), 3);
	ck_assert_ptr_null(isim_cmdqv_vintf(h, 4));
	ck_assert_ptr_nonnull(isim_cmdqv_lvcmdq_page0(isim_cmdqv_vintf(h, 3), 7));
	ck_assert_ptr_null(isim_cmdqv_lvcmdq_page0(isim_cmdqv_vintf(h, 3), 8));
	ck_assert_int_eq(isim_cmdqv_vintf_set_sid(isim_cmdqv_vintf(h, 1), 8, 1, 1), -EINVAL);
	ck_assert_int_eq(isim_cmdqv_vintf_set_sid(isim_cmdqv_vintf(h, 1), 7, 1u << 20, 1), -EINVAL);
	isim_cmdqv_free(h);

	ck_assert_int_eq(isim_cmdqv_config_parse(&cfg, "bogus=1"), -EINVAL);
	ck_assert_int_eq(isim_cmdqv_config_parse(&cfg, "strict_cs=2"), -EINVAL);
	ck_assert_int_eq(isim_cmdqv_config_parse(&cfg, "cmdqs="), -EINVAL);
	ck_assert_int_eq(isim_cmdqv_config_parse(&cfg, "cmdqs"), -EINVAL);
	ck_assert_int_eq(isim_cmdqv_config_parse(&cfg, "cmdqs=-1"), -EINVAL);
	ck_assert_int_eq(isim_cmdqv_config_parse(&cfg, ""), 0);

	{
		static const char *const bad[] = {
			"privileged_cerror=2", "sid_miss_cerror=3", "num_vintfs=3",
			"num_vintfs=64,lvcmdqs_per_vintf=4", "cmdqs=20", "cmdqs=0",
			"sids_per_vintf=32", "iotlb_entries=0", "num_vintfs=128",
		};

		for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			isim_cmdqv_config_default(&cfg);
			ck_assert_int_eq(isim_cmdqv_config_parse(&cfg, bad[i]), 0);
			ck_assert_msg(isim_cmdqv_new(&cfg, &mem, &h) == -EINVAL, "%s", bad[i]);
		}
	}
	/* The largest legal shape. */
	isim_cmdqv_config_default(&cfg);
	ck_assert_int_eq(isim_cmdqv_config_parse(&cfg, "num_vintfs=64"), 0);
	ck_assert_int_eq(isim_cmdqv_new(&cfg, &mem, &h), 0);
	ck_assert_uint_eq(ISIM_CMDQV_PARAM_NUM_VCMDQ_LOG2(isim_cmdqv_param(h)), 7);
	ck_assert_uint_eq(isim_cmdqv_cmdq_alloc(h, 127), (63u << 15) | (1u << 1));
	isim_cmdqv_free(h);
}
END_TEST

/* ----------------------------------------------------------------- codec */

START_TEST(codec_layouts)
{
	struct isim_smmu_cmd c;
	uint64_t dw[2];
	uint8_t slot[16];

	ck_assert_int_eq(isim_smmu_tlbi_nh_va(dw, 0x42, 7, 0x1234000, true), 0);
	ck_assert_uint_eq(dw[0], 0x12 | 0x42ull << 32 | 7ull << 48);
	ck_assert_uint_eq(dw[1], 0x1234000 | 1);
	ck_assert_int_eq(isim_smmu_atc_inv(dw, 0x10, 0x5000, 3), 0);
	ck_assert_uint_eq(dw[0], 0x40 | 0x10ull << 32);
	ck_assert_uint_eq(dw[1], 0x5000 | 3);
	ck_assert_int_eq(isim_smmu_cmd_sync(dw, 1), 0);
	ck_assert_uint_eq(dw[0], 0x46 | 1u << 12);
	ck_assert_int_eq(isim_smmu_cfgi_ste(dw, 0xabc, true), 0);
	ck_assert_uint_eq(dw[0], 0x03 | 0xabcull << 32);
	ck_assert_uint_eq(dw[1], 1);
	ck_assert_int_eq(isim_smmu_tlbi_nh_asid(dw, 1, 2), 0);
	isim_smmu_cmd_to_le(dw, slot);
	ck_assert_uint_eq(slot[0], 0x11);
	ck_assert_uint_eq(slot[4], 1);
	ck_assert_uint_eq(slot[6], 2);

	c = (struct isim_smmu_cmd) { .op = 0x47 };
	ck_assert_int_eq(isim_smmu_cmd_encode(&c, dw), -EINVAL);
	c = (struct isim_smmu_cmd) { .op = ISIM_SMMU_OP_TLBI_NH_VA, .addr = 0x1001 };
	ck_assert_int_eq(isim_smmu_cmd_encode(&c, dw), -EINVAL);
	c = (struct isim_smmu_cmd) { .op = ISIM_SMMU_OP_CFGI_CD, .ssid = 1u << 20 };
	ck_assert_int_eq(isim_smmu_cmd_encode(&c, dw), -EINVAL);
	c = (struct isim_smmu_cmd) { .op = ISIM_SMMU_OP_TLBI_NH_VA, .num = 32 };
	ck_assert_int_eq(isim_smmu_cmd_encode(&c, dw), -EINVAL);
	dw[0] = 0x47;
	ck_assert_int_eq(isim_smmu_cmd_decode(dw, &c), -EINVAL);
	ck_assert_uint_eq(c.op, 0x47);
	ck_assert_str_eq(isim_smmu_op_name(ISIM_SMMU_OP_TLBI_NH_VA), "TLBI_NH_VA");
	ck_assert_str_eq(isim_smmu_op_name(0x47), "UNKNOWN");

	/* Field rules of the strict check. */
	isim_smmu_tlbi_nh_asid(dw, 1, 2);
	ck_assert_int_eq(isim_smmu_cmd_check_fields(dw), 0);
	dw[1] = 1;
	ck_assert_int_eq(isim_smmu_cmd_check_fields(dw), -EINVAL);
	c = (struct isim_smmu_cmd) { .op = ISIM_SMMU_OP_TLBI_NH_VA, .tg = 1 };
	isim_smmu_cmd_encode(&c, dw);
	ck_assert_int_eq(isim_smmu_cmd_check_fields(dw), -EINVAL);
	c.ttl = 3;
	isim_smmu_cmd_encode(&c, dw);
	ck_assert_int_eq(isim_smmu_cmd_check_fields(dw), 0);
	isim_smmu_atc_inv(dw, 1, 0, 53);
	ck_assert_int_eq(isim_smmu_cmd_check_fields(dw), -EINVAL);
}
END_TEST

/* Random words through decode/encode: a fixed point after one round. */
START_TEST(codec_roundtrip)
{
	unsigned seed = 1, known = 0;

	for (unsigned op = 0; op < 256; op++) {
		if (!isim_smmu_op_known(op))
			continue;
		known++;
		for (int i = 0; i < 200; i++) {
			uint64_t dw[2], dw2[2], dw3[2];
			struct isim_smmu_cmd c, c2;

			dw[0] = ((uint64_t)rand_r(&seed) << 40) ^
				((uint64_t)rand_r(&seed) << 16) ^ rand_r(&seed);
			dw[1] = ((uint64_t)rand_r(&seed) << 40) ^
				((uint64_t)rand_r(&seed) << 16) ^ rand_r(&seed);
			dw[0] = (dw[0] & ~0xffull) | op;
			ck_assert_int_eq(isim_smmu_cmd_decode(dw, &c), 0);
			ck_assert_int_eq(isim_smmu_cmd_encode(&c, dw2), 0);
			ck_assert_uint_eq(dw2[0] & ~dw[0], 0);
			ck_assert_uint_eq(dw2[1] & ~dw[1], 0);
			ck_assert_int_eq(isim_smmu_cmd_decode(dw2, &c2), 0);
			ck_assert_int_eq(memcmp(&c, &c2, sizeof(c)), 0);
			ck_assert_int_eq(isim_smmu_cmd_encode(&c2, dw3), 0);
			ck_assert_uint_eq(dw3[0], dw2[0]);
			ck_assert_uint_eq(dw3[1], dw2[1]);
		}
	}
	ck_assert_uint_eq(known, 24);
}
END_TEST

START_TEST(guest_consumed_wraps)
{
	setup_cfg(NULL);
	guest_q(&gq0, 0, MEM_BASE, 2);
	/* Ring of 4: pointers are 3 bits, the sync sits at 3 (wrap 0). */
	reg_write(0, ISIM_VCMDQ_CONS, 3);
	ck_assert(!isim_vcmdq_guest_consumed(&gq0, 3));
	reg_write(0, ISIM_VCMDQ_CONS, 4);
	ck_assert(isim_vcmdq_guest_consumed(&gq0, 3));
	reg_write(0, ISIM_VCMDQ_CONS, 7);
	ck_assert(isim_vcmdq_guest_consumed(&gq0, 3));
	reg_write(0, ISIM_VCMDQ_CONS, 0);	/* a lap behind */
	ck_assert(!isim_vcmdq_guest_consumed(&gq0, 3));
	reg_write(0, ISIM_VCMDQ_CONS, (1u << 24) | 4);	/* ERR bits ignored */
	ck_assert(isim_vcmdq_guest_consumed(&gq0, 3));
	/* Nothing consumes while disabled, so waiting times out. */
	gq0.max_polls = 5;
	reg_write(0, ISIM_VCMDQ_CONS, 0);
	gq0.prod = 0;
	ck_assert_int_eq(isim_vcmdq_guest_wait(&gq0, 0), -ETIMEDOUT);
}
END_TEST

/* ------------------------------------------------------------- threaded */

START_TEST(threaded_basic)
{
	uint32_t sync;

	setup_cfg(NULL);
	alloc_q(0, MEM_BASE, 8);
	guest_q(&gq0, 0, MEM_BASE, 8);
	gq0.kick = NULL;	/* the model thread does the work */
	gq0.max_polls = 0;
	isim_cmdqv_set_exec_hook(hw, NULL, NULL);
	isim_cmdqv_set_report(hw, NULL, NULL);
	ck_assert_int_eq(isim_cmdqv_vintf_start(v1), 0);
	ck_assert_int_eq(isim_cmdqv_vintf_start(v1), -EBUSY);
	ck_assert_int_eq(isim_vcmdq_guest_enable(&gq0, true), 0);
	isim_cmdqv_iotlb_insert(hw, VMID, 5, 0x1000);
	push_asid(&gq0, 5);
	ck_assert_int_eq(isim_vcmdq_guest_sync(&gq0, &sync), 0);
	ck_assert_int_eq(isim_vcmdq_guest_wait(&gq0, sync), 0);
	ck_assert(!isim_cmdqv_iotlb_has(hw, VMID, 5, 0x1000));
	/* An error shows up through the page while the thread runs. */
	push_raw(&gq0, ISIM_SMMU_OP_CFGI_STE, 0);
	ck_assert_int_eq(isim_vcmdq_guest_sync(&gq0, &sync), 0);
	ck_assert_int_eq(isim_vcmdq_guest_wait(&gq0, sync), -EIO);
	ck_assert_uint_eq(isim_vcmdq_guest_skip_error(&gq0), ISIM_SMMU_CERROR_ILL);
	ck_assert_int_eq(isim_vcmdq_guest_wait(&gq0, sync), 0);
	ck_assert_int_eq(isim_vcmdq_guest_enable(&gq0, false), 0);
	isim_cmdqv_vintf_stop(v1);
	isim_cmdqv_vintf_stop(v1);
	ck_assert_uint_eq(stats().executed[ISIM_SMMU_OP_CMD_SYNC], 3);
}
END_TEST

#define STRESS_CMDS 1000000u
#define STRESS_ILL_EVERY 997u

/*
 * Two producers share one VCMDQ behind a lock, as Linux's CPUs share a
 * queue, and recover from the illegal commands they plant themselves.
 */
struct stress {
	pthread_mutex_t lock;
	struct isim_vcmdq_guest g;	/* under lock */
	uint64_t next_seq;		/* under lock */
	unsigned rng, since_ill;	/* under lock */
	unsigned planted, fixed, bad_errors;	/* under lock */
	uint64_t expect, bad_execs;	/* model thread only */
	unsigned reports;		/* atomic */
};

static void stress_exec(void *arg, unsigned vintf, unsigned lidx,
			const struct isim_smmu_cmd *cmd)
{
	struct stress *s = arg;
	uint64_t seq = cmd->addr >> 12;

	if (cmd->op != ISIM_SMMU_OP_TLBI_NH_VA)
		return;
	/* In order, exactly once, and not torn between the two dwords. */
	if (seq != s->expect || cmd->asid != (seq & 0xffff) || cmd->vmid != VMID)
		s->bad_execs++;
	s->expect = seq + 1;
}

static void stress_report(void *arg, unsigned vintf, const uint64_t map[2])
{
	struct stress *s = arg;

	__atomic_fetch_add(&s->reports, 1, __ATOMIC_RELAXED);
}

static void stress_handle_error(struct stress *s)
{
	unsigned code;
	uint32_t rd;
	uint64_t dw[2];

	if (!isim_vcmdq_guest_error(&s->g, &code, &rd))
		return;
	isim_smmu_cmd_from_le(s->g.ring + ((rd & 15) << 4), dw);
	if (code != ISIM_SMMU_CERROR_ILL || (dw[0] & 0xff) != ISIM_SMMU_OP_CFGI_STE)
		s->bad_errors++;
	s->fixed++;
	isim_vcmdq_guest_skip_error(&s->g);
}

static void stress_push(struct stress *s, const uint64_t dw[2])
{
	while (isim_vcmdq_guest_push(&s->g, dw) == -ENOSPC) {
		isim_vcmdq_guest_publish(&s->g);
		stress_handle_error(s);
		sched_yield();
	}
}

static void *stress_producer(void *arg)
{
	struct stress *s = arg;
	uint64_t dw[2];

	for (;;) {
		unsigned batch;

		pthread_mutex_lock(&s->lock);
		if (s->next_seq >= STRESS_CMDS) {
			pthread_mutex_unlock(&s->lock);
			return NULL;
		}
		batch = 1 + rand_r(&s->rng) % 64;
		for (unsigned i = 0; i < batch && s->next_seq < STRESS_CMDS; i++) {
			if (++s->since_ill == STRESS_ILL_EVERY) {
				s->since_ill = 0;
				isim_smmu_cfgi_ste(dw, 1, false);
				stress_push(s, dw);
				s->planted++;
			}
			isim_smmu_tlbi_nh_va(dw, 0, s->next_seq & 0xffff,
					     s->next_seq << 12, true);
			stress_push(s, dw);
			s->next_seq++;
		}
		isim_smmu_cmd_sync(dw, ISIM_SMMU_SYNC_CS_NONE);
		stress_push(s, dw);
		isim_vcmdq_guest_publish(&s->g);
		pthread_mutex_unlock(&s->lock);
	}
}

START_TEST(threaded_stress)
{
	static struct stress s;
	struct isim_cmdqv_stats st;
	pthread_t other;

	setup_cfg(NULL);
	memset(&s, 0, sizeof(s));
	pthread_mutex_init(&s.lock, NULL);
	s.rng = 12345;
	alloc_q(0, MEM_BASE, 4);
	isim_vcmdq_guest_init(&s.g, isim_cmdqv_vintf_page0(v1), 0, mem_at(MEM_BASE), 4);
	isim_cmdqv_set_exec_hook(hw, stress_exec, &s);
	isim_cmdqv_set_report(hw, stress_report, &s);
	ck_assert_int_eq(isim_cmdqv_vintf_start(v1), 0);
	ck_assert_int_eq(isim_vcmdq_guest_enable(&s.g, true), 0);

	ck_assert_int_eq(pthread_create(&other, NULL, stress_producer, &s), 0);
	stress_producer(&s);
	pthread_join(other, NULL);
	/* Drain, still fixing what the last planted commands break. */
	for (;;) {
		uint32_t cons = isim_vcmdq_guest_cons(&s.g) & 31;

		if (cons == s.g.prod)
			break;
		stress_handle_error(&s);
		sched_yield();
	}
	isim_cmdqv_vintf_stop(v1);

	ck_assert_uint_eq(s.expect, STRESS_CMDS);
	ck_assert_uint_eq(s.bad_execs, 0);
	ck_assert_uint_eq(s.bad_errors, 0);
	ck_assert_uint_eq(s.planted, STRESS_CMDS / STRESS_ILL_EVERY);
	ck_assert_uint_eq(s.fixed, s.planted);
	st = stats();
	ck_assert_uint_eq(st.executed[ISIM_SMMU_OP_TLBI_NH_VA], STRESS_CMDS);
	ck_assert_uint_eq(st.cerror[ISIM_SMMU_CERROR_ILL], s.planted);
	ck_assert_uint_eq(s.reports, s.planted);
	ck_assert_uint_eq(st.bad_prod, 0);
	ck_assert(!err_active(0));
	pthread_mutex_destroy(&s.lock);
}
END_TEST

/* ------------------------------------------------- the pinned-view path */

/*
 * Queue @lidx of @log2size allocated, the whole test memory declared a
 * pinned view (no hole may be opened while it is), no exec hook (so the
 * consumer publishes CONS per batch and takes its call-free path), and
 * the guest's enable done.
 */
static void q_direct(struct isim_vcmdq_guest *g, unsigned lidx, uint64_t pa,
		     unsigned log2size)
{
	isim_cmdqv_set_exec_hook(hw, NULL, NULL);
	alloc_q(lidx, pa, log2size);
	ck_assert_int_eq(isim_cmdqv_lvcmdq_set_ring_view(v1, lidx, MEM_BASE,
							 tmem.bytes, MEM_SIZE), 0);
	guest_q(g, lidx, pa, log2size);
	ck_assert_int_eq(isim_vcmdq_guest_enable(g, true), 0);
	ck_assert(isim_cmdqv_lvcmdq_direct(v1, lidx));
}

static void push_va(struct isim_vcmdq_guest *g, uint16_t asid, uint64_t va)
{
	uint64_t dw[2];

	ck_assert_int_eq(isim_smmu_tlbi_nh_va(dw, 0, asid, va, true), 0);
	push(g, dw);
}

START_TEST(direct_batch_stops_at_culprit)
{
	struct isim_cmdqv_stats s;
	uint64_t dw[2];

	setup_cfg(NULL);
	q_direct(&gq0, 0, MEM_BASE, 8);
	/* Slots 0-29 TLBIs, 30 CFGI_STE, 31-35 TLBIs, 36 a CMD_SYNC: one
	 * batch; the IOTLB is empty, so the run is the call-free one. */
	for (unsigned i = 0; i < 30; i++)
		push_va(&gq0, 1, 0x1000ull * i);
	isim_smmu_cfgi_ste(dw, 5, true);
	push(&gq0, dw);
	for (unsigned i = 0; i < 5; i++)
		push_va(&gq0, 1, 0x40000 + 0x1000ull * i);
	push_sync(&gq0, 0);
	isim_vcmdq_guest_publish(&gq0);
	ck_assert_uint_eq(step(), 31);
	ck_assert_uint_eq(cons_rd(0), 30);
	ck_assert_uint_eq(cons_err(0), ISIM_SMMU_CERROR_ILL);
	ck_assert(err_active(0));
	ck_assert_uint_eq(n_reports, 1);
	s = stats();
	ck_assert_uint_eq(s.executed[ISIM_SMMU_OP_TLBI_NH_VA], 30);
	ck_assert_uint_eq(s.executed[ISIM_SMMU_OP_CFGI_STE], 0);
	ck_assert_uint_eq(s.executed[ISIM_SMMU_OP_CMD_SYNC], 0);
	ck_assert_uint_eq(s.fetches, 31);
	ck_assert_uint_eq(s.cerror[ISIM_SMMU_CERROR_ILL], 1);
	/* Halted: nothing moves until the guest acknowledges. */
	ck_assert_uint_eq(step(), 0);
	ck_assert_uint_eq(cons_rd(0), 30);

	/* Now with translations cached on both sides of a new culprit:
	 * the TLBIs before it take effect, the ones after it do not. */
	fix_and_ack(&gq0);
	isim_cmdqv_iotlb_insert(hw, VMID, 1, 0x41000);
	isim_cmdqv_iotlb_insert(hw, VMID, 1, 0x50000);
	isim_cmdqv_iotlb_insert(hw, VMID, 1, 0x60000);
	for (unsigned i = 0; i < 3; i++)
		push_va(&gq0, 1, 0x4f000 + 0x1000ull * i);	/* 37-39 */
	step();
	ck_assert(!err_active(0));
	ck_assert_uint_eq(cons_rd(0), 37);
	ck_assert(!isim_cmdqv_iotlb_has(hw, VMID, 1, 0x41000));
	ck_assert(isim_cmdqv_iotlb_has(hw, VMID, 1, 0x50000));
	push_raw(&gq0, 0xff, 0);				/* 40 */
	push_va(&gq0, 1, 0x60000);				/* 41 */
	isim_vcmdq_guest_publish(&gq0);
	step();
	ck_assert_uint_eq(cons_rd(0), 40);
	ck_assert_uint_eq(cons_err(0), ISIM_SMMU_CERROR_ILL);
	ck_assert(!isim_cmdqv_iotlb_has(hw, VMID, 1, 0x50000));
	ck_assert(isim_cmdqv_iotlb_has(hw, VMID, 1, 0x60000));
	fix_and_ack(&gq0);
	step();
	ck_assert(!isim_cmdqv_iotlb_has(hw, VMID, 1, 0x60000));
	ck_assert_uint_eq(reg(0, ISIM_VCMDQ_CONS) & ISIM_VCMDQ_PTR_MASK, 42);
	s = stats();
	ck_assert_uint_eq(s.executed[ISIM_SMMU_OP_TLBI_NH_VA], 30 + 5 + 3 + 1);
	ck_assert_uint_eq(s.executed[ISIM_SMMU_OP_CMD_SYNC], 3);
	ck_assert_uint_eq(s.cerror[ISIM_SMMU_CERROR_ILL], 2);
}
END_TEST

START_TEST(direct_sync_after_atc_timeout)
{
	uint64_t dw[2];

	setup_cfg(NULL);
	q_direct(&gq0, 0, MEM_BASE, 8);
	ck_assert_int_eq(isim_cmdqv_vintf_set_sid(v1, 3, 0x10, 0x300), 0);
	isim_cmdqv_atc_insert(hw, 0x300, 0, 0x5000);
	ck_assert_int_eq(isim_cmdqv_atc_set_timeout(hw, 0x300, true), 0);
	/* A CMD_SYNC with nothing to report completes inside the run... */
	for (unsigned i = 0; i < 3; i++)
		push_va(&gq0, 1, 0x1000ull * i);
	push_sync(&gq0, 0);
	/* ...but the one after a timed-out ATC_INV carries the error. */
	isim_smmu_atc_inv(dw, 0x10, 0x5000, 0);
	push(&gq0, dw);						/* 4 */
	for (unsigned i = 0; i < 3; i++)
		push_va(&gq0, 1, 0x1000ull * i);
	push_sync(&gq0, 0);					/* 8 */
	push_va(&gq0, 1, 0);
	isim_vcmdq_guest_publish(&gq0);
	step();
	ck_assert_uint_eq(cons_rd(0), 8);
	ck_assert_uint_eq(cons_err(0), ISIM_SMMU_CERROR_ATC_INV_SYNC);
	ck_assert_uint_eq(stats().executed[ISIM_SMMU_OP_ATC_INV], 1);
	ck_assert_uint_eq(stats().executed[ISIM_SMMU_OP_CMD_SYNC], 1);
	ck_assert_uint_eq(stats().executed[ISIM_SMMU_OP_TLBI_NH_VA], 6);
	ck_assert(isim_cmdqv_atc_has(hw, 0x300, 0, 0x5000));
	/* The latch went with the report: the retried SYNC completes. */
	ck_assert_uint_eq(isim_vcmdq_guest_skip_error(&gq0),
			  ISIM_SMMU_CERROR_ATC_INV_SYNC);
	step();
	ck_assert(!err_active(0));
	ck_assert_uint_eq(cons_rd(0), 10);
	teardown();

	/* strict_cs: the run leaves a signalling CMD_SYNC to the general
	 * path, which refuses it. */
	setup_cfg("strict_cs=true");
	q_direct(&gq0, 0, MEM_BASE, 8);
	push_va(&gq0, 1, 0);
	push_sync(&gq0, ISIM_SMMU_SYNC_CS_NONE);
	push_va(&gq0, 1, 0);
	push_sync(&gq0, ISIM_SMMU_SYNC_CS_SEV);
	isim_vcmdq_guest_publish(&gq0);
	step();
	ck_assert_uint_eq(cons_rd(0), 3);
	ck_assert_uint_eq(cons_err(0), ISIM_SMMU_CERROR_ILL);
}
END_TEST

START_TEST(direct_wrap)
{
	setup_cfg(NULL);
	alloc_q(0, MEM_BASE, 2);
	/* While disabled, software may move CONS and PROD. */
	reg_write(0, ISIM_VCMDQ_CONS, 3);
	reg_write(0, ISIM_VCMDQ_PROD, 3);
	isim_cmdqv_set_exec_hook(hw, NULL, NULL);
	ck_assert_int_eq(isim_cmdqv_lvcmdq_set_ring_view(v1, 0, MEM_BASE,
							 mem_at(MEM_BASE), 64), 0);
	guest_q(&gq0, 0, MEM_BASE, 2);
	ck_assert_int_eq(isim_vcmdq_guest_enable(&gq0, true), 0);
	ck_assert(isim_cmdqv_lvcmdq_direct(v1, 0));
	/* Slots 3, 0, 1, 2: a full ring that wraps in the middle. */
	push_asid(&gq0, 30);
	push_asid(&gq0, 31);
	push_asid(&gq0, 32);
	push_sync(&gq0, 0);
	ck_assert_uint_eq(isim_vcmdq_guest_space(&gq0), 0);
	isim_vcmdq_guest_publish(&gq0);
	ck_assert_uint_eq(step(), 4);
	ck_assert_uint_eq(reg(0, ISIM_VCMDQ_CONS), 0x7);
	ck_assert_uint_eq(stats().executed[ISIM_SMMU_OP_TLBI_NH_ASID], 3);
	/* A small budget splits the batch; each part publishes CONS. */
	for (unsigned i = 0; i < 4; i++)
		push_asid(&gq0, i);
	isim_vcmdq_guest_publish(&gq0);
	ck_assert_uint_eq(isim_cmdqv_vintf_step(v1, 3), 3);
	ck_assert_uint_eq(reg(0, ISIM_VCMDQ_CONS), 0x2);
	ck_assert_uint_eq(isim_cmdqv_vintf_step(v1, 3), 1);
	ck_assert_uint_eq(reg(0, ISIM_VCMDQ_CONS), 0x3);
	ck_assert_uint_eq(stats().fetches, 8);
}
END_TEST

START_TEST(direct_view_rules)
{
	const uint64_t q1_pa = MEM_BASE + 0x10000;

	setup_cfg(NULL);
	isim_cmdqv_set_exec_hook(hw, NULL, NULL);
	/* A view that does not hold the whole ring is not used... */
	alloc_q(0, MEM_BASE, 8);
	ck_assert_int_eq(isim_cmdqv_lvcmdq_set_ring_view(v1, 0, MEM_BASE,
							 mem_at(MEM_BASE), 4095), 0);
	guest_q(&gq0, 0, MEM_BASE, 8);
	ck_assert_int_eq(isim_vcmdq_guest_enable(&gq0, true), 0);
	ck_assert(!isim_cmdqv_lvcmdq_direct(v1, 0));
	/* ...and one elsewhere neither: Q1's memory is not there, and
	 * every fetch still goes to memory and aborts. */
	alloc_q(1, q1_pa, 8);
	ck_assert_int_eq(isim_cmdqv_lvcmdq_set_ring_view(v1, 1, MEM_BASE,
							 mem_at(MEM_BASE), 0x10000), 0);
	set_hole(q1_pa, q1_pa + 4096);
	guest_q(&gq1, 1, q1_pa, 8);
	ck_assert_int_eq(isim_vcmdq_guest_enable(&gq1, true), 0);
	ck_assert(!isim_cmdqv_lvcmdq_direct(v1, 1));
	push_asid(&gq1, 1);
	isim_vcmdq_guest_publish(&gq1);
	step();
	ck_assert(err_active(1));
	ck_assert_uint_eq(cons_rd(1), 0);
	ck_assert_uint_eq(cons_err(1), ISIM_SMMU_CERROR_ABT);
	/* Memory back, the fetch is retried and succeeds. */
	set_hole(0, 0);
	ck_assert_uint_eq(isim_vcmdq_guest_skip_error(&gq1), ISIM_SMMU_CERROR_ABT);
	step();
	ck_assert_uint_eq(cons_rd(1), 1);
	ck_assert(!err_active(1));

	/* A view given to an enabled queue applies at once; withdrawn, the
	 * queue goes back to the memory callbacks. */
	ck_assert_int_eq(isim_cmdqv_lvcmdq_set_ring_view(v1, 0, MEM_BASE,
							 mem_at(MEM_BASE), 4096), 0);
	ck_assert(isim_cmdqv_lvcmdq_direct(v1, 0));
	push_asid(&gq0, 1);
	isim_vcmdq_guest_publish(&gq0);
	step();
	ck_assert_uint_eq(cons_rd(0), 1);
	ck_assert_int_eq(isim_cmdqv_lvcmdq_set_ring_view(v1, 0, 0, NULL, 0), 0);
	ck_assert(!isim_cmdqv_lvcmdq_direct(v1, 0));
	set_hole(MEM_BASE + 16, MEM_BASE + 32);
	push_asid(&gq0, 2);
	isim_vcmdq_guest_publish(&gq0);
	step();
	ck_assert_uint_eq(cons_rd(0), 1);
	ck_assert_uint_eq(cons_err(0), ISIM_SMMU_CERROR_ABT);
	set_hole(0, 0);
	/* Deinit forgets the view: the host unpins right after. */
	ck_assert_int_eq(isim_cmdqv_lvcmdq_set_ring_view(v1, 1, q1_pa,
							 mem_at(q1_pa), 4096), 0);
	ck_assert(isim_cmdqv_lvcmdq_direct(v1, 1));
	ck_assert_int_eq(isim_cmdqv_lvcmdq_deinit(v1, 1), 0);
	ck_assert_int_eq(isim_cmdqv_lvcmdq_set_base(v1, 1, q1_pa, 8), 0);
	guest_q(&gq1, 1, q1_pa, 8);
	ck_assert_int_eq(isim_vcmdq_guest_enable(&gq1, true), 0);
	ck_assert(!isim_cmdqv_lvcmdq_direct(v1, 1));
	/* Bad arguments. */
	ck_assert_int_eq(isim_cmdqv_lvcmdq_set_ring_view(v1, 2, MEM_BASE,
							 tmem.bytes, 64), -EINVAL);
	ck_assert_int_eq(isim_cmdqv_lvcmdq_set_ring_view(v1, 0, MEM_BASE,
							 tmem.bytes, 0), -EINVAL);
	ck_assert_int_eq(isim_cmdqv_lvcmdq_set_ring_view(v1, 0, UINT64_MAX,
							 tmem.bytes, 64), -EINVAL);
}
END_TEST

/*
 * Differential check of the two ways the consumer can run: a twin with an
 * exec hook, fetching through the memory callbacks (every command goes
 * the general way and CONS moves per command), against one without a
 * hook reading a pinned view (runs of TLBIs and CMD_SYNCs taken without a
 * call, CONS published per batch).  The same random guest drives both:
 * legal and illegal opcodes, TLBI ranges, ATC_INVs that hit, miss and
 * time out, signalling CMD_SYNCs, translations cached in between,
 * budgets that cut batches anywhere, a small ring that wraps all the
 * time, disables.  After every step their registers, statistics and
 * caches must be the same.
 */
struct twin {
	struct test_mem mem;
	struct isim_cmdqv *hw;
	struct isim_cmdqv_vintf *v;
	struct isim_vcmdq_guest g;
	uint64_t execs;
};

#define TWIN_LOG2 4u

static void twin_exec(void *arg, unsigned vintf, unsigned lidx,
		      const struct isim_smmu_cmd *cmd)
{
	((struct twin *)arg)->execs++;
}

static void twin_kick(void *arg)
{
	isim_cmdqv_vintf_step(arg, 1024);
}

static void twin_up(struct twin *t, const char *opts, bool hyp_own,
		    bool watched)
{
	struct isim_hw_mem mem = {
		.read = tmem_read, .write = tmem_write, .ctx = &t->mem,
	};
	struct isim_cmdqv_config cfg;

	memset(t, 0, sizeof(*t));
	t->mem.bytes = calloc(1, MEM_SIZE);
	ck_assert_ptr_nonnull(t->mem.bytes);
	isim_cmdqv_config_default(&cfg);
	ck_assert_int_eq(isim_cmdqv_config_parse(&cfg, opts), 0);
	ck_assert_int_eq(isim_cmdqv_new(&cfg, &mem, &t->hw), 0);
	if (watched)
		isim_cmdqv_set_exec_hook(t->hw, twin_exec, t);
	isim_cmdqv_enable(t->hw, true);
	t->v = isim_cmdqv_vintf(t->hw, 1);
	ck_assert_int_eq(isim_cmdqv_vintf_configure(t->v, VMID, hyp_own), 0);
	isim_cmdqv_vintf_enable(t->v, true);
	ck_assert_int_eq(isim_cmdqv_vintf_set_sid(t->v, 0, 0x10, 0x300), 0);
	ck_assert_int_eq(isim_cmdqv_lvcmdq_map(t->v, 0), 0);
	ck_assert_int_eq(isim_cmdqv_lvcmdq_set_base(t->v, 0, MEM_BASE,
						    TWIN_LOG2), 0);
	if (!watched)
		ck_assert_int_eq(isim_cmdqv_lvcmdq_set_ring_view(t->v, 0,
				 MEM_BASE, t->mem.bytes, MEM_SIZE), 0);
	isim_vcmdq_guest_init(&t->g, isim_cmdqv_vintf_page0(t->v), 0,
			      t->mem.bytes, TWIN_LOG2);
	t->g.kick = twin_kick;
	t->g.kick_arg = t->v;
	t->g.max_polls = 10;
	ck_assert_int_eq(isim_vcmdq_guest_enable(&t->g, true), 0);
	ck_assert(isim_cmdqv_lvcmdq_direct(t->v, 0) == !watched);
}

static void twin_down(struct twin *t)
{
	isim_cmdqv_free(t->hw);
	free(t->mem.bytes);
}

static uint32_t twin_reg(struct twin *t, unsigned off)
{
	return __atomic_load_n(isim_vcmdq_reg(t->g.regs, off), __ATOMIC_ACQUIRE);
}

/*
 * Registers and counters; with @deep, every cached translation too.
 * Compared in plain code and asserted once, since every check assertion
 * costs a write to check's log.  Returns what differs, or NULL.
 */
static const char *twins_diff(struct twin *a, struct twin *b, bool deep)
{
	static const unsigned offs[] = {
		ISIM_VCMDQ_CONS, ISIM_VCMDQ_STATUS, ISIM_VCMDQ_GERROR,
		ISIM_VCMDQ_GERRORN,
	};
	struct isim_cmdqv_stats sa, sb;
	uint64_t ma[2], mb[2];

	for (unsigned i = 0; i < sizeof(offs) / sizeof(offs[0]); i++)
		if (twin_reg(a, offs[i]) != twin_reg(b, offs[i]))
			return "a register";
	isim_cmdqv_get_stats(a->hw, &sa);
	isim_cmdqv_get_stats(b->hw, &sb);
	for (unsigned op = 0; op < 256; op++)
		if (sa.executed[op] != sb.executed[op])
			return "executed[]";
	for (unsigned c = 0; c < 8; c++)
		if (sa.cerror[c] != sb.cerror[c])
			return "cerror[]";
	if (sa.fetches != sb.fetches || sa.atc_timeouts != sb.atc_timeouts ||
	    sa.sid_misses != sb.sid_misses || sa.bad_prod != sb.bad_prod)
		return "a counter";
	isim_cmdqv_vintf_lvcmdq_err_map(a->v, ma);
	isim_cmdqv_vintf_lvcmdq_err_map(b->v, mb);
	if (ma[0] != mb[0])
		return "LVCMDQ_ERR_MAP";
	if (isim_cmdqv_iotlb_count(a->hw) != isim_cmdqv_iotlb_count(b->hw) ||
	    isim_cmdqv_atc_count(a->hw) != isim_cmdqv_atc_count(b->hw))
		return "a cache's occupancy";
	if (!deep)
		return NULL;
	for (unsigned asid = 0; asid < 4; asid++)
		for (uint64_t pg = 0; pg < 32; pg++)
			if (isim_cmdqv_iotlb_has(a->hw, VMID, asid, pg << 12) !=
			    isim_cmdqv_iotlb_has(b->hw, VMID, asid, pg << 12))
				return "the IOTLB";
	for (uint64_t pg = 0; pg < 32; pg++)
		if (isim_cmdqv_atc_has(a->hw, 0x300, 0, pg << 12) !=
		    isim_cmdqv_atc_has(b->hw, 0x300, 0, pg << 12))
			return "the ATC";
	return NULL;
}

/* One random command, as a guest (sometimes a broken one) writes it. */
static void twin_cmd(unsigned *rng, uint64_t dw[2])
{
	unsigned r = rand_r(rng) % 100;
	uint16_t asid = rand_r(rng) % 4;
	uint64_t va = (uint64_t)(rand_r(rng) % 32) << 12;

	if (r < 45) {
		struct isim_smmu_cmd c = {
			.op = ISIM_SMMU_OP_TLBI_NH_VA, .vmid = VMID,
			.asid = asid, .addr = va, .leaf = true,
		};

		if (rand_r(rng) % 4 == 0) {
			c.tg = 1;
			c.num = rand_r(rng) % 4;
			c.scale = rand_r(rng) % 2;
			c.ttl = 3;
		}
		ck_assert_int_eq(isim_smmu_cmd_encode(&c, dw), 0);
	} else if (r < 55) {
		isim_smmu_tlbi_nh_asid(dw, VMID, asid);
	} else if (r < 58) {
		isim_smmu_tlbi_nh_all(dw, VMID);
	} else if (r < 61) {
		isim_smmu_tlbi_nh_vaa(dw, VMID, va, false);
	} else if (r < 80) {
		isim_smmu_cmd_sync(dw, rand_r(rng) % 8 ? ISIM_SMMU_SYNC_CS_NONE :
						       ISIM_SMMU_SYNC_CS_IRQ);
	} else if (r < 90) {
		isim_smmu_atc_inv(dw, rand_r(rng) % 3 ? 0x10 : 0x11, va,
				  rand_r(rng) % 3);
	} else {
		static const uint8_t bad[] = {
			ISIM_SMMU_OP_CFGI_STE, ISIM_SMMU_OP_TLBI_EL2_ALL,
			ISIM_SMMU_OP_TLBI_EL3_ALL, ISIM_SMMU_OP_TLBI_NSNH_ALL,
			ISIM_SMMU_OP_TLBI_S12_VMALL, 0xff, 0x07,
		};

		dw[0] = bad[rand_r(rng) % sizeof(bad)];
		dw[1] = 0;
	}
}

static void twins_run(const char *opts, bool hyp_own, unsigned seed)
{
	struct twin a, b;
	struct twin *t[2] = { &a, &b };
	unsigned rng = seed, round, work[2];
	const char *diff = NULL;

	twin_up(&a, opts, hyp_own, true);
	twin_up(&b, opts, hyp_own, false);
	for (round = 0; round < 2000; round++) {
		unsigned r = rand_r(&rng) % 100, n = rand_r(&rng) % 12;
		unsigned budget = 1 + rand_r(&rng) % 20;

		if (r < 10) {
			uint16_t asid = rand_r(&rng) % 4;
			uint64_t va = (uint64_t)(rand_r(&rng) % 32) << 12;

			for (int i = 0; i < 2; i++)
				isim_cmdqv_iotlb_insert(t[i]->hw, VMID, asid, va);
		} else if (r < 14) {
			uint64_t va = (uint64_t)(rand_r(&rng) % 32) << 12;

			for (int i = 0; i < 2; i++)
				isim_cmdqv_atc_insert(t[i]->hw, 0x300, 0, va);
		} else if (r < 16) {
			bool on = rand_r(&rng) % 2;

			for (int i = 0; i < 2; i++)
				isim_cmdqv_atc_set_timeout(t[i]->hw, 0x300, on);
		} else if (r < 17) {
			for (int i = 0; i < 2; i++) {
				isim_vcmdq_guest_enable(&t[i]->g, false);
				isim_vcmdq_guest_enable(&t[i]->g, true);
			}
		}
		for (unsigned k = 0; k < n; k++) {
			uint64_t dw[2];

			if (!isim_vcmdq_guest_space(&a.g))
				break;
			twin_cmd(&rng, dw);
			for (int i = 0; i < 2; i++)
				isim_vcmdq_guest_push(&t[i]->g, dw);
		}
		for (int i = 0; i < 2; i++)
			isim_vcmdq_guest_publish(&t[i]->g);
		work[0] = isim_cmdqv_vintf_step(a.v, budget);
		work[1] = isim_cmdqv_vintf_step(b.v, budget);
		diff = work[0] != work[1] ? "the work done" :
		       twins_diff(&a, &b, round % 8 == 0);
		if (diff)
			break;
		/* The guest's handler: fix ILLs with a CMD_SYNC, retry the
		 * rest, acknowledge. */
		if (rand_r(&rng) % 2 &&
		    isim_vcmdq_guest_skip_error(&a.g) !=
		    isim_vcmdq_guest_skip_error(&b.g)) {
			diff = "the error handled";
			break;
		}
	}
	ck_assert_msg(!diff, "%s: %s differs in round %u (seed %u)",
		      opts ? opts : "defaults", diff, round, seed);
	ck_assert_uint_gt(a.execs, 1000);
	twin_down(&a);
	twin_down(&b);
}

START_TEST(direct_matches_general_path)
{
	/* Small caches: a few translations fill them, lookups stay cheap. */
	twins_run("iotlb_entries=32,atc_entries=16", false, 1);
	twins_run("iotlb_entries=32,atc_entries=16,strict_cs=true,"
		  "sid_miss_cerror=0", false, 2);
	twins_run("iotlb_entries=32,atc_entries=16,privileged_cerror=4,"
		  "guest_allow_nh_all_vaa=false,sid_miss_cerror=4,"
		  "use_vintf_vmid=false", false, 3);
	twins_run("iotlb_entries=32,atc_entries=16,sid_replace=false", false, 4);
	twins_run("iotlb_entries=32,atc_entries=16", true, 5);
}
END_TEST

/*
 * The threaded consumer on its call-free path, for ThreadSanitizer: one
 * producer streams TLBIs with CMD_SYNCs into a 16-entry ring the model
 * thread reads through the pinned view, now and then caching a
 * translation just before the TLBI that must drop it (seen dropped once
 * the CMD_SYNC after it completes) or planting an illegal command it then
 * fixes.
 */
#define DSTRESS_CMDS 300000u

/* Push, publishing and recovering while the ring is full. */
static void dstress_push(struct isim_vcmdq_guest *g, const uint64_t dw[2])
{
	while (isim_vcmdq_guest_push(g, dw) == -ENOSPC) {
		isim_vcmdq_guest_publish(g);
		if (isim_vcmdq_guest_error(g, NULL, NULL))
			ck_assert_uint_eq(isim_vcmdq_guest_skip_error(g),
					  ISIM_SMMU_CERROR_ILL);
		sched_yield();
	}
}

START_TEST(threaded_direct_stress)
{
	struct isim_vcmdq_guest g;
	struct isim_cmdqv_stats st;
	unsigned rng = 777, planted = 0, syncs = 0;
	uint64_t seq = 0, dw[2];

	setup_cfg(NULL);
	isim_cmdqv_set_exec_hook(hw, NULL, NULL);
	isim_cmdqv_set_report(hw, NULL, NULL);
	alloc_q(0, MEM_BASE, 4);
	ck_assert_int_eq(isim_cmdqv_lvcmdq_set_ring_view(v1, 0, MEM_BASE,
							 mem_at(MEM_BASE), 256), 0);
	isim_vcmdq_guest_init(&g, isim_cmdqv_vintf_page0(v1), 0,
			      mem_at(MEM_BASE), 4);
	ck_assert_int_eq(isim_cmdqv_vintf_start(v1), 0);
	ck_assert_int_eq(isim_vcmdq_guest_enable(&g, true), 0);
	ck_assert(isim_cmdqv_lvcmdq_direct(v1, 0));
	while (seq < DSTRESS_CMDS) {
		unsigned batch = 1 + rand_r(&rng) % 12;
		bool check = rand_r(&rng) % 16 == 0;
		uint64_t watched = seq;
		uint32_t sync;
		int rc;

		if (check)
			isim_cmdqv_iotlb_insert(hw, VMID, 1, watched << 12);
		for (unsigned i = 0; i < batch && seq < DSTRESS_CMDS; i++) {
			if (rand_r(&rng) % 200 == 0) {
				isim_smmu_cfgi_ste(dw, 1, false);
				dstress_push(&g, dw);
				planted++;
			}
			isim_smmu_tlbi_nh_va(dw, 0, 1, seq++ << 12, true);
			dstress_push(&g, dw);
		}
		sync = g.prod;
		isim_smmu_cmd_sync(dw, ISIM_SMMU_SYNC_CS_NONE);
		dstress_push(&g, dw);
		isim_vcmdq_guest_publish(&g);
		syncs++;
		if (!check)
			continue;
		while ((rc = isim_vcmdq_guest_wait(&g, sync)) == -EIO)
			ck_assert_uint_eq(isim_vcmdq_guest_skip_error(&g),
					  ISIM_SMMU_CERROR_ILL);
		ck_assert_int_eq(rc, 0);
		ck_assert(!isim_cmdqv_iotlb_has(hw, VMID, 1, watched << 12));
	}
	for (;;) {
		uint32_t sync = (g.prod - 1) & 31;
		int rc = isim_vcmdq_guest_wait(&g, sync);

		if (!rc)
			break;
		ck_assert_int_eq(rc, -EIO);
		ck_assert_uint_eq(isim_vcmdq_guest_skip_error(&g),
				  ISIM_SMMU_CERROR_ILL);
	}
	isim_cmdqv_vintf_stop(v1);
	st = stats();
	ck_assert_uint_eq(st.executed[ISIM_SMMU_OP_TLBI_NH_VA], DSTRESS_CMDS);
	ck_assert_uint_eq(st.cerror[ISIM_SMMU_CERROR_ILL], planted);
	/* Each fixed culprit became a CMD_SYNC. */
	ck_assert_uint_eq(st.executed[ISIM_SMMU_OP_CMD_SYNC], syncs + planted);
	ck_assert_uint_eq(isim_cmdqv_iotlb_count(hw), 0);
	ck_assert(!err_active(0));
}
END_TEST

static Suite *cmdqv_suite(void)
{
	Suite *s = suite_create("cmdqv_hw");
	TCase *tc = tcase_create("model");
	TCase *tt = tcase_create("threaded");
	TCase *td = tcase_create("differential");

	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, fresh_registers);
	tcase_add_test(tc, alloc_programs_base);
	tcase_add_test(tc, destroy_deinit);
	tcase_add_test(tc, enable_handshake);
	tcase_add_test(tc, disable_keeps_pointers);
	tcase_add_test(tc, idle_reads_nothing);
	tcase_add_test(tc, tlbi_asid_uses_vintf_vmid);
	tcase_add_test(tc, cons_moves_after_effect);
	tcase_add_test(tc, tlbi_range);
	tcase_add_test(tc, wrap);
	tcase_add_test(tc, full_ring);
	tcase_add_test(tc, bad_prod);
	tcase_add_test(tc, illegal_halts_and_retries);
	tcase_add_test(tc, unknown_opcode);
	tcase_add_test(tc, fetch_abort);
	tcase_add_test(tc, atc_inv_sid_and_timeout);
	tcase_add_test(tc, atc_timeout_flushed_by_disable);
	tcase_add_test(tc, sync_cs);
	tcase_add_test(tc, privileged_opcodes);
	tcase_add_test(tc, nh_all_and_vaa);
	tcase_add_test(tc, disable_mid_stream);
	tcase_add_test(tc, queues_independent);
	tcase_add_test(tc, parent_disabled);
	tcase_add_test(tc, init_err);
	tcase_add_test(tc, writes_while_enabled);
	tcase_add_test(tc, gerrorn_inactive_toggle_ignored);
	tcase_add_test(tc, report_suppressed);
	tcase_add_test(tc, sid_miss);
	tcase_add_test(tc, strict_fields);
	tcase_add_test(tc, cons_dram_mirror);
	tcase_add_test(tc, host_owned_vintf);
	tcase_add_test(tc, err_map_latched);
	tcase_add_test(tc, wide_error_map);
	tcase_add_test(tc, guest_consumed_wraps);
	tcase_add_test(tc, config_knobs);
	tcase_add_test(tc, codec_layouts);
	tcase_add_test(tc, codec_roundtrip);
	tcase_add_test(tc, direct_batch_stops_at_culprit);
	tcase_add_test(tc, direct_sync_after_atc_timeout);
	tcase_add_test(tc, direct_wrap);
	tcase_add_test(tc, direct_view_rules);
	suite_add_tcase(s, tc);

	/* Many thousands of steps on two models: slow under sanitizers. */
	tcase_set_timeout(td, 60);
	tcase_add_test(td, direct_matches_general_path);
	suite_add_tcase(s, td);

	tcase_add_checked_fixture(tt, NULL, teardown);
	tcase_set_timeout(tt, 60);
	tcase_add_test(tt, threaded_basic);
	tcase_add_test(tt, threaded_stress);
	tcase_add_test(tt, threaded_direct_stress);
	suite_add_tcase(s, tt);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(cmdqv_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
