/*
 * amd: the AMD vIOMMU model's ring throughput through the real driver
 * ("amd-viommu", rings allocated with HW_QUEUE_ALLOC on guest RAM mapped
 * into the nesting parent, every access translated through its page
 * table): commands consumed from the command buffer, and events produced
 * into the event log.  Stepped runs everything on one thread in turns
 * (the guest fills the ring, isim_hw_run consumes it; the model posts
 * into the log, the guest drains it); threaded puts the engine thread (or
 * the event source) and the guest on two threads, as the baseline does.
 *
 * Events are IO_PAGE_FAULTs posted through the model's one log writer, and
 * every one lands in the guest's log, which the guest drains as Linux's
 * iommu_poll_events does (amd_guest_log_drain: the tail read once, every
 * entry up to it copied out and its slot zeroed, the head written once),
 * reading both words of each entry as the baseline's consumer does.  They
 * are posted two ways: one per call
 * (amd_hw_io_page_fault: a model lock hold and a walk of the log page per
 * event, rows "(1 per call)", informational, no target, since a call's
 * fixed cost alone is several of the baseline's entries), and 64 per call
 * (amd_hw_events: one hold and one walk per log page for the burst, rows
 * "(bursts of 64)", which carry the targets).  Threaded, the source posts
 * only into the room the log has, as a device that retries, so nothing
 * is dropped.
 *
 * Threaded, the guest (or the event source) is on the first CPU and the
 * engine thread (or the guest that drains) on the second, pinned, as the
 * baseline's two threads are (bench_pin_cpu).
 *
 * The baseline is Concurrency Kit's SPSC ring (ck_ring) carrying the same
 * 16-byte entries through the same capacity, producer and consumer on two
 * pinned CPUs: what moving an entry between two CPUs costs with nothing
 * else done.  The ratio is ns per entry over the baseline's; the targets
 * (as for the CMDQV model) are stepped throughput >= 1.0x and threaded
 * >= 0.7x the baseline's, i.e. ratio <= 1.0 and <= 1/0.7, for the command
 * rows and the event burst rows.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include <linux/iommufd.h>

#include "bench/bench.h"
#include "bench/ck_ring_baseline.h"
#include "iommufd-sim/sim.h"
#include "vendors/amd/amd_hw.h"
#include "vendors/amd/amd_viommu.h"


#define AMD_DEFAULT_N	1000000ul
#define LEN_CODE	12			/* 4096 entries, 64 KiB */
#define RING_BYTES	(16u << LEN_CODE)
#define RING_ENTRIES	(1u << LEN_CODE)
#define GPA_CMD		0x100000ull
#define GPA_EVT		(GPA_CMD + RING_BYTES)
#define GPA_SEM		(GPA_EVT + RING_BYTES)
#define RAM_BYTES	(2 * RING_BYTES + 4096)
#define CTL_ALL		(1ull << 2 | 1ull << 3 | 1ull << 12)

/* ------------------------------------------------------ the baseline */

/* The shared ck_ring baseline (bench/ck_ring_baseline.h), the command
 * buffer's size. */
static double ring_baseline(unsigned long n, enum bench_cpus cpus)
{
	return ck_ring_baseline_run(n, RING_ENTRIES, cpus);
}

/* ---------------------------------------------------- the AMD vIOMMU */

/* Events per amd_hw_events call in the burst rows. */
#define EVT_BURST	64

struct amd_env {
	struct isim_machine *m;
	struct isim_fd *fd;
	struct amd_hw *hw;
	uint8_t *ram;
	void *vf;
	uint32_t viommu;
	struct amd_guest_ring cq, el;
	/*
	 * The event source's burst: the same fault each time but for its
	 * address, so the fields all share are set once, at setup, and each
	 * burst writes only the addresses (threaded, where each call posts
	 * one burst, rewriting every field per call cost as much again).  On
	 * lines of its own, apart from the guest's ring handles, which the
	 * other thread writes.
	 */
	_Alignas(64) struct amd_event ev[EVT_BURST];
};

static void amd_env_free(struct amd_env *e)
{
	if (e->vf)
		isim_munmap(e->fd, e->vf, AMD_VF_PAGE_SIZE);
	if (e->fd)
		isim_close(e->fd);
	if (e->ram)
		isim_mem_free(e->m, e->ram);
	if (e->m)
		isim_machine_free(e->m);
	memset(e, 0, sizeof(*e));
}

static int hw_queue(struct amd_env *e, uint32_t type, uint64_t gpa)
{
	struct iommu_hw_queue_alloc cmd = {
		.size = sizeof(cmd),
		.viommu_id = e->viommu,
		.type = type,
		.nesting_parent_iova = gpa,
		.length = LEN_CODE,
	};

	return isim_ioctl(e->fd, IOMMU_HW_QUEUE_ALLOC, &cmd);
}

/* A device on a nest parent, a vIOMMU, its VF page, two rings running. */
static int amd_env_build(struct amd_env *e, bool threaded)
{
	struct isim_machine_config cfg = { .threaded = threaded };
	struct iommu_viommu_amd data = { 0 };
	struct iommu_hwpt_alloc hwpt = {
		.size = sizeof(hwpt),
		.flags = IOMMU_HWPT_ALLOC_NEST_PARENT,
	};
	struct iommu_viommu_alloc va = {
		.size = sizeof(va),
		.type = IOMMU_VIOMMU_TYPE_AMD,
		.data_len = sizeof(data),
		.data_uptr = (uintptr_t)&data,
	};
	struct isim_iommu *iommu;
	struct isim_device *dev;
	uint32_t ioas, dev_id, pt;

	memset(e, 0, sizeof(*e));
	if (isim_machine_new(&cfg, &e->m) ||
	    isim_iommu_add(e->m, "amd-viommu", NULL, &iommu) ||
	    isim_device_add(e->m, iommu, "amd0", &dev) ||
	    isim_open(e->m, &e->fd) || bench_ioas_alloc(e->fd, &ioas) ||
	    isim_device_bind(e->fd, dev, &dev_id))
		return -1;
	hwpt.dev_id = dev_id;
	hwpt.pt_id = ioas;
	if (isim_ioctl(e->fd, IOMMU_HWPT_ALLOC, &hwpt))
		return -1;
	pt = hwpt.out_hwpt_id;
	if (isim_device_attach(e->fd, dev_id, &pt))
		return -1;
	va.dev_id = dev_id;
	va.hwpt_id = hwpt.out_hwpt_id;
	if (isim_ioctl(e->fd, IOMMU_VIOMMU_ALLOC, &va))
		return -1;
	e->viommu = va.out_viommu_id;
	if (isim_mmap(e->fd, data.out_vfmmio_mmap_offset, AMD_VF_PAGE_SIZE,
		      PROT_READ | PROT_WRITE, MAP_SHARED, &e->vf) ||
	    amd_viommu_model(e->fd, e->viommu, &e->hw) ||
	    isim_mem_alloc(e->m, RAM_BYTES, ISIM_BACKING_4K,
			   (void **)&e->ram))
		return -1;
	memset(e->ram, 0, RAM_BYTES);
	if (bench_ioas_map_fixed(e->fd, ioas, e->ram, RAM_BYTES, GPA_CMD) ||
	    hw_queue(e, IOMMU_HW_QUEUE_TYPE_AMD_CMD, GPA_CMD) ||
	    hw_queue(e, IOMMU_HW_QUEUE_TYPE_AMD_EVT, GPA_EVT) ||
	    amd_viommu_control_write(e->fd, e->viommu, CTL_ALL))
		return -1;
	amd_guest_ring_init(&e->cq, e->vf, AMD_RING_CMD, e->ram, LEN_CODE);
	amd_guest_ring_init(&e->el, e->vf, AMD_RING_EVT, e->ram + RING_BYTES,
			    LEN_CODE);
	for (unsigned int j = 0; j < EVT_BURST; j++)
		e->ev[j] = (struct amd_event){
			.code = AMD_EVT_IO_PAGE_FAULT, .devid = 0x100,
			.domid = 5, .flags = AMD_EVT_F_RW,
		};
	return 0;
}

static int amd_env_build_threaded(void *e)
{
	return amd_env_build(e, true);
}

/* amd_env_build; threaded, with the engine thread on the second CPU. */
static int amd_env_setup(struct amd_env *e, bool threaded)
{
	return threaded ? bench_start_on_cpu1(amd_env_build_threaded, e) :
			  amd_env_build(e, false);
}

static const struct amd_cmd_format fmt = { AMD_IOTLB_PASID_LINUX, false };

/* Fill up to @n commands (as many as fit) and ring the doorbell once. */
static unsigned long cmd_fill(struct amd_env *e, unsigned long n)
{
	unsigned long done = 0;
	struct amd_entry ent;
	struct amd_cmd c = { .op = AMD_CMD_INV_DEVTAB_ENTRY };

	while (done < n) {
		c.inv_dte.devid = (uint16_t)done;
		amd_cmd_encode(&c, &fmt, &ent);
		if (amd_guest_cmd_push(&e->cq, &ent))
			break;
		done++;
	}
	if (done)
		amd_guest_cmd_ring_tail(&e->cq);
	return done;
}

static uint32_t cmd_head(struct amd_env *e)
{
	return (uint32_t)atomic_load_explicit(amd_vf_reg(e->vf,
							 AMD_VF_CMD_HEAD),
					      memory_order_acquire);
}

/* Stepped: the guest fills the ring, isim_hw_run drains it, repeat. */
static double cmd_stepped(unsigned long n)
{
	struct amd_env e;
	unsigned long left = n;
	uint64_t t0, t1;

	if (amd_env_setup(&e, false))
		return -1;
	t0 = bench_now_ns();
	while (left) {
		unsigned long k = cmd_fill(&e, left);

		if (isim_hw_run(e.m, (unsigned)k) != k) {
			amd_env_free(&e);
			return -1;
		}
		left -= k;
	}
	t1 = bench_now_ns();
	amd_env_free(&e);
	return (double)(t1 - t0) / (double)n;
}

/* Threaded: the engine thread consumes while this thread produces. */
static double cmd_threaded(unsigned long n)
{
	struct amd_env e;
	unsigned long left = n;
	uint64_t t0, t1;
	uint32_t tail;

	if (amd_env_setup(&e, true))
		return -1;
	t0 = bench_now_ns();
	while (left) {
		/* Small batches, as a driver rings the doorbell often. */
		unsigned long k = cmd_fill(&e, left < 64 ? left : 64);

		if (!k)
			sched_yield();
		left -= k;
	}
	tail = e.cq.next;
	while (cmd_head(&e) != tail)
		sched_yield();
	t1 = bench_now_ns();
	amd_env_free(&e);
	return (double)(t1 - t0) / (double)n;
}

/*
 * Post @k of the same IO_PAGE_FAULTs, numbered from @i, @per at a time
 * (1: amd_hw_io_page_fault; more: amd_hw_events, from @e->ev).  The log
 * never overflows, because callers post only into room; -1 if any is
 * dropped.
 */
static int evt_post(struct amd_env *e, uint64_t i, unsigned long k,
		    unsigned int per)
{
	struct amd_event *ev = e->ev;
	unsigned int n, logged;

	if (per == 1) {
		for (unsigned long j = 0; j < k; j++)
			if (amd_hw_io_page_fault(e->hw, 0x100, 5, 0,
						 (i + j) << 12, AMD_EVT_F_RW))
				return -1;
		return 0;
	}
	/* The same fault each time but for its address, as in the row above. */
	for (; k; k -= n, i += n) {
		n = k < per ? (unsigned int)k : per;
		for (unsigned int j = 0; j < n; j++)
			ev[j].addr = (i + j) << 12;
		if (amd_hw_events(e->hw, ev, n, &logged) || logged != n)
			return -1;
	}
	return 0;
}

/* Entries the guest takes per amd_guest_log_drain call: one log page. */
#define EVT_DRAIN_MAX	256

/* The guest's handler: read the entry as the baseline's consumer does. */
static void evt_read(void *arg, const struct amd_entry *ent)
{
	*(uint64_t *)arg += ent->q0 ^ ent->q1;
}

/* Drain the log until it is empty; how many entries were read. */
static unsigned long evt_drain(struct amd_env *e)
{
	unsigned long k = 0;
	uint64_t sum = 0;
	int n;

	while ((n = amd_guest_log_drain(&e->el, EVT_DRAIN_MAX, 1000,
					evt_read, &sum)) > 0)
		k += (unsigned long)n;
	bench_keep(sum);
	return k;
}

/* Stepped: the model fills the log, @per events a call; the guest drains. */
static double evt_stepped(unsigned long n, unsigned int per)
{
	struct amd_env e;
	unsigned long posted = 0, k;
	uint64_t t0, t1;

	if (amd_env_setup(&e, false))
		return -1;
	t0 = bench_now_ns();
	while (posted < n) {
		k = n - posted < RING_ENTRIES - 1 ? n - posted :
						    RING_ENTRIES - 1;
		if (evt_post(&e, posted, k, per) || evt_drain(&e) != k) {
			amd_env_free(&e);
			return -1;
		}
		posted += k;
	}
	t1 = bench_now_ns();
	amd_env_free(&e);
	return (double)(t1 - t0) / (double)n;
}

static double evt_stepped_1(unsigned long n)
{
	return evt_stepped(n, 1);
}

static double evt_stepped_burst(unsigned long n)
{
	return evt_stepped(n, EVT_BURST);
}

struct evt_consumer {
	struct amd_env *e;
	unsigned long n;
};

static void *evt_consume(void *arg)
{
	struct evt_consumer *c = arg;
	unsigned long got = 0;

	while (got < c->n) {
		unsigned long k = evt_drain(c->e);

		if (!k)
			sched_yield();
		got += k;
	}
	return NULL;
}

/*
 * Threaded: this thread is the event source, a guest thread drains.  The
 * source posts only into the room the log has (up to @per events a call)
 * instead of overflowing (a device that retries), so every event is
 * logged and the rate is the log's.
 */
static double evt_threaded(unsigned long n, unsigned int per)
{
	struct amd_env e;
	struct evt_consumer c = { &e, n };
	_Atomic uint64_t *head, *tail;
	unsigned long i = 0, room;
	uint64_t t0, t1;
	pthread_t t;

	if (amd_env_setup(&e, true))
		return -1;
	head = amd_vf_reg(e.vf, AMD_VF_EVT_HEAD);
	tail = amd_vf_reg(e.vf, AMD_VF_EVT_TAIL);
	/* The guest drains on the second CPU, the source posts on the first. */
	if (bench_thread_on_cpu1(&t, evt_consume, &c)) {
		amd_env_free(&e);
		return -1;
	}
	t0 = bench_now_ns();
	while (i < n) {
		room = ((atomic_load_explicit(head, memory_order_acquire) -
			 atomic_load_explicit(tail, memory_order_relaxed) -
			 16) & (RING_BYTES - 1)) / 16;
		if (!room) {
			sched_yield();
			continue;
		}
		if (room > per)
			room = per;
		if (room > n - i)
			room = n - i;
		if (evt_post(&e, i, room, per)) {
			/* Cannot happen: nobody else posts. */
			fprintf(stderr, "amd: event dropped\n");
			break;
		}
		i += room;
	}
	pthread_join(t, NULL);
	t1 = bench_now_ns();
	amd_env_free(&e);
	return (double)(t1 - t0) / (double)n;
}

static double evt_threaded_1(unsigned long n)
{
	return evt_threaded(n, 1);
}

static double evt_threaded_burst(unsigned long n)
{
	return evt_threaded(n, EVT_BURST);
}

int bench_amd(const struct bench_opts *o)
{
	/* min_throughput 0: informational, printed without a target. */
	static const struct bench_rows_spec rows[] = {
		{ "cmd consume stepped", cmd_stepped, 1.0 },
		{ "cmd consume threaded", cmd_threaded, 0.7 },
		{ "evt produce stepped (1 per call)", evt_stepped_1, 0 },
		{ "evt produce threaded (1 per call)", evt_threaded_1, 0 },
		{ "evt produce stepped (bursts of 64)", evt_stepped_burst,
		  1.0 },
		{ "evt produce threaded (bursts of 64)", evt_threaded_burst,
		  0.7 },
	};
	static const struct bench_baseline base = { "ck_ring spsc",
						    ring_baseline };
	unsigned long n = bench_n(o, AMD_DEFAULT_N);

	return bench_rows_against("amd", rows, sizeof(rows) / sizeof(rows[0]),
				  n, o->reps, &base);
}
