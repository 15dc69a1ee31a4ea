/*
 * cmdqv: how fast the Tegra241 CMDQV model consumes a guest's VCMDQ,
 * through the real driver ("tegra241-cmdqv": vIOMMU, VINTF page0 mapped
 * through the iommufd, the queue allocated with HW_QUEUE_ALLOC on guest
 * RAM pinned in the nesting parent, fetched by physical address).  The
 * guest does what Linux's arm_smmu_cmdq does for a VCMDQ: batches of
 * TLBI_NH_VA closed by a CMD_SYNC, entries written with plain stores, PROD
 * published with a release store, CONS re-read only when the ring looks
 * full.  Stepped runs the guest and isim_hw_run in turns on one thread
 * (fill the ring, drain it); threaded gives the model its own thread (the
 * machine's threaded mode) on the second CPU while the guest produces on
 * the first, both pinned (bench_pin_cpu).
 *
 * The baseline, measured in the same run, is Concurrency Kit's ck_ring
 * (bench/ck_ring_baseline.c) moving the same 16-byte entries through a
 * ring of the same 4096 slots between two threads pinned to two CPUs.
 * The ratio is ns per command over the baseline's ns per entry; the
 * targets are stepped throughput >= 1.0x and threaded >= 0.7x the
 * baseline's, i.e. ratio <= 1.0 and <= 1/0.7.
 */
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include <linux/iommufd.h>

#include "bench/bench.h"
#include "bench/ck_ring_baseline.h"
#include "iommufd-sim/sim.h"
#include "vendors/nvidia/cmdqv_hw.h"
#include "vendors/nvidia/smmuv3_cmd.h"

#define CMDQV_DEFAULT_N	1000000ul
#define LOG2SIZE	12u			/* 4096 entries, 64 KiB */
#define RING_ENTRIES	(1u << LOG2SIZE)
#define RING_BYTES	(16ul << LOG2SIZE)
#define PTR_MASK	(2u * RING_ENTRIES - 1)
#define BATCH		64u			/* TLBIs per CMD_SYNC */
#define GPA		0x80000000ull
#define RAM_BYTES	(2ul << 20)

struct cmdqv_env {
	struct isim_machine *m;
	struct isim_fd *fd;
	uint8_t *host, *ram;
	void *page0;
	struct isim_vcmdq_guest g;
	uint32_t cons;		/* the guest's cached CONS */
	uint64_t seq;
	uint64_t tlbi[2], sync[2];	/* encoded once */
};

static void cmdqv_env_free(struct cmdqv_env *e)
{
	if (e->page0)
		isim_munmap(e->fd, e->page0, ISIM_CMDQV_PAGE_SIZE);
	if (e->fd)
		isim_close(e->fd);
	if (e->ram)
		isim_mem_free(e->m, e->ram);
	if (e->host)
		isim_mem_free(e->m, e->host);
	if (e->m)
		isim_machine_free(e->m);
	memset(e, 0, sizeof(*e));
}

/* A device on a nest parent, a vIOMMU, its page0, queue 0 enabled. */
static int cmdqv_env_build(struct cmdqv_env *e, bool threaded)
{
	struct isim_machine_config cfg = { .threaded = threaded };
	struct iommu_viommu_tegra241_cmdqv data = { 0 };
	struct iommu_hwpt_alloc hwpt = {
		.size = sizeof(hwpt),
		.flags = IOMMU_HWPT_ALLOC_NEST_PARENT,
	};
	struct iommu_viommu_alloc va = {
		.size = sizeof(va),
		.type = IOMMU_VIOMMU_TYPE_TEGRA241_CMDQV,
		.data_len = sizeof(data),
		.data_uptr = (uintptr_t)&data,
	};
	struct iommu_hw_queue_alloc hq = {
		.size = sizeof(hq),
		.type = IOMMU_HW_QUEUE_TYPE_TEGRA241_CMDQV,
		.nesting_parent_iova = GPA,
		.length = RING_BYTES,
	};
	struct isim_iommu *iommu;
	struct isim_device *dev;
	uint32_t ioas, dev_id, pt;

	memset(e, 0, sizeof(*e));
	if (isim_machine_new(&cfg, &e->m) ||
	    isim_iommu_add(e->m, "tegra241-cmdqv", NULL, &iommu) ||
	    isim_device_add(e->m, iommu, "gpu0", &dev) ||
	    isim_open(e->m, &e->fd) || bench_ioas_alloc(e->fd, &ioas) ||
	    isim_device_bind(e->fd, dev, &dev_id))
		return -1;
	pt = ioas;
	if (isim_device_attach(e->fd, dev_id, &pt))
		return -1;
	hwpt.dev_id = dev_id;
	hwpt.pt_id = ioas;
	if (isim_ioctl(e->fd, IOMMU_HWPT_ALLOC, &hwpt))
		return -1;
	va.dev_id = dev_id;
	va.hwpt_id = hwpt.out_hwpt_id;
	if (isim_ioctl(e->fd, IOMMU_VIOMMU_ALLOC, &va))
		return -1;
	if (isim_mmap(e->fd, data.out_vintf_mmap_offset,
		      data.out_vintf_mmap_length, PROT_READ | PROT_WRITE,
		      MAP_SHARED, &e->page0))
		return -1;
	/*
	 * The host's memory first so the guest's is not at PA 0 (which the
	 * model reads as an unprogrammed BASE); the guest's is one THP, so
	 * the 64 KiB queue is contiguous and aligned to its size.
	 */
	if (isim_mem_alloc(e->m, RAM_BYTES, ISIM_BACKING_THP,
			   (void **)&e->host) ||
	    isim_mem_alloc(e->m, RAM_BYTES, ISIM_BACKING_THP, (void **)&e->ram))
		return -1;
	memset(e->ram, 0, RAM_BYTES);
	hq.viommu_id = va.out_viommu_id;
	if (bench_ioas_map_fixed(e->fd, ioas, e->ram, RAM_BYTES, GPA) ||
	    isim_ioctl(e->fd, IOMMU_HW_QUEUE_ALLOC, &hq))
		return -1;
	isim_vcmdq_guest_init(&e->g, e->page0, 0, e->ram, LOG2SIZE);
	if (isim_smmu_tlbi_nh_va(e->tlbi, 0, 0, 0, true) ||
	    isim_smmu_cmd_sync(e->sync, ISIM_SMMU_SYNC_CS_NONE))
		return -1;
	/* CONFIG.EN and the STATUS handshake; stepped, the model needs a
	 * step to see it. */
	__atomic_store_n(isim_vcmdq_reg(e->g.regs, ISIM_VCMDQ_CONFIG),
			 ISIM_VCMDQ_EN, __ATOMIC_RELEASE);
	for (unsigned i = 0; !isim_vcmdq_guest_enabled(&e->g); i++) {
		if (i > 1000000)
			return -1;
		if (!threaded)
			isim_hw_run(e->m, 1);
		else
			sched_yield();
	}
	return 0;
}

static int cmdqv_env_build_threaded(void *e)
{
	return cmdqv_env_build(e, true);
}

/* cmdqv_env_build; threaded, with the VINTF's thread on the second CPU. */
static int cmdqv_env_setup(struct cmdqv_env *e, bool threaded)
{
	return threaded ? bench_start_on_cpu1(cmdqv_env_build_threaded, e) :
			  cmdqv_env_build(e, false);
}

/*
 * Up to @n commands into the free slots, a CMD_SYNC after every BATCH
 * TLBIs; CONS is loaded again only when the cached value says full.
 * Publishes PROD once.  Returns the commands written.
 */
static unsigned long fill(struct cmdqv_env *e, unsigned long n)
{
	unsigned long done = 0;
	uint64_t dw[2];

	while (done < n) {
		uint32_t used = (e->g.prod - e->cons) & PTR_MASK;

		if (used == RING_ENTRIES) {
			e->cons = __atomic_load_n(isim_vcmdq_reg(e->g.regs,
								 ISIM_VCMDQ_CONS),
						  __ATOMIC_ACQUIRE) & PTR_MASK;
			if (((e->g.prod - e->cons) & PTR_MASK) == RING_ENTRIES)
				break;
		}
		if (++e->seq % (BATCH + 1)) {
			/* FIELD_PREP into the template, as a driver builds
			 * its commands: ASID d0[63:48], ADDR d1[63:12]. */
			dw[0] = (e->tlbi[0] & ~(0xffffull << 48)) |
				(e->seq & 0xffff) << 48;
			dw[1] = (e->tlbi[1] & 0xfff) | e->seq << 12;
		} else {
			dw[0] = e->sync[0];
			dw[1] = e->sync[1];
		}
		isim_vcmdq_guest_write_slot(&e->g, e->g.prod, dw);
		e->g.prod = (e->g.prod + 1) & PTR_MASK;
		done++;
	}
	if (done)
		isim_vcmdq_guest_publish(&e->g);
	return done;
}

static bool drained(struct cmdqv_env *e)
{
	uint32_t cons = __atomic_load_n(isim_vcmdq_reg(e->g.regs,
						       ISIM_VCMDQ_CONS),
					__ATOMIC_ACQUIRE);

	/* An error would stop the queue for good: report it as a failure. */
	return (cons & PTR_MASK) == e->g.prod ||
	       (cons & ISIM_VCMDQ_CONS_ERR_MASK);
}

static bool clean(struct cmdqv_env *e)
{
	return !isim_vcmdq_guest_gerror_active(&e->g);
}

/* Stepped: the guest fills the ring, isim_hw_run drains it, repeat. */
static double consume_stepped(unsigned long n)
{
	struct cmdqv_env e;
	unsigned long left = n;
	uint64_t t0, t1;
	bool ok;

	if (cmdqv_env_setup(&e, false)) {
		cmdqv_env_free(&e);
		return -1;
	}
	t0 = bench_now_ns();
	while (left) {
		left -= fill(&e, left);
		isim_hw_run(e.m, RING_ENTRIES);
		e.cons = e.g.prod;	/* all consumed, unless in error */
		if (!clean(&e))
			break;
	}
	t1 = bench_now_ns();
	ok = !left && drained(&e) && clean(&e);
	cmdqv_env_free(&e);
	return ok ? (double)(t1 - t0) / (double)n : -1;
}

/* Threaded: the VINTF's thread consumes while this thread produces. */
static double consume_threaded(unsigned long n)
{
	struct cmdqv_env e;
	unsigned long left = n;
	uint64_t t0, t1;
	bool ok;

	if (cmdqv_env_setup(&e, true)) {
		cmdqv_env_free(&e);
		return -1;
	}
	t0 = bench_now_ns();
	while (left) {
		/* Doorbell every batch, as a driver issuing its cmdlists. */
		unsigned long k = fill(&e, left < BATCH + 1 ? left : BATCH + 1);

		if (!k) {
			if (!clean(&e))
				break;
			sched_yield();
		}
		left -= k;
	}
	while (!drained(&e))
		sched_yield();
	t1 = bench_now_ns();
	ok = !left && clean(&e);
	cmdqv_env_free(&e);
	return ok ? (double)(t1 - t0) / (double)n : -1;
}

static double ring_baseline(unsigned long n, enum bench_cpus cpus)
{
	return ck_ring_baseline_run(n, RING_ENTRIES, cpus);
}

int bench_cmdqv(const struct bench_opts *o)
{
	static const struct bench_rows_spec rows[] = {
		{ "vcmdq consume stepped", consume_stepped, 1.0 },
		{ "vcmdq consume threaded", consume_threaded, 0.7 },
	};
	static const struct bench_baseline base = { "ck_ring spsc",
						    ring_baseline };
	unsigned long n = bench_n(o, CMDQV_DEFAULT_N);

	return bench_rows_against("cmdqv", rows, sizeof(rows) / sizeof(rows[0]),
				  n, o->reps, &base);
}
